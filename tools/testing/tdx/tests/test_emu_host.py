# SPDX-License-Identifier: GPL-2.0-only
"""The emulated platform on any host: what it takes from the host's KVM.

emu/host.py probes the host once; the model borrows guest_memfd and the
instruction bytes of emulation-failure exits when the host has them, and
models them otherwise.  Linux510Host (tests/legacy_host.py) hides, through
the System seam, what a 5.10 LTS kernel lacks, so that the model's own
paths run -- and are checked to be the ones taken -- on hosts that have
more.  A host without what the model needs makes every case skip with one
reason naming the capability.
"""

import errno
import os
import unittest

from tdx.emu import EmuSystem, host as emu_host
from tdx.lib import abi, platform, td
from tdx.lib.guest import GuestImage, find_image
from tdx.lib.kvm import Kvm
from tdx.lib.system import HostSystem
from tdx.tests.legacy_host import NEWER_CAPS, Linux510Host
from tdx.tests.support import requires_kvm


def _host_kvm_fd(host):
    fd = host.open("/dev/kvm", os.O_RDWR)
    return fd


@requires_kvm
class Probe(unittest.TestCase):
    def features(self, host, mode="auto"):
        fd = _host_kvm_fd(host)
        self.addCleanup(host.close, fd)
        return emu_host.HostFeatures(host, fd, mode)

    def test_legacy_host_borrows_nothing(self):
        f = self.features(Linux510Host())
        self.assertFalse(f.gmem)
        self.assertFalse(f.borrow_gmem(0))
        self.assertIn("host guest_memfd: no (modelled)", f.report())

    def test_baseline_mode_borrows_nothing(self):
        f = self.features(HostSystem(), "baseline")
        for flags in (0, abi.GUEST_MEMFD_FLAG_MMAP):
            self.assertFalse(f.borrow_gmem(flags))
        self.assertFalse(f.borrow_insn_bytes)
        self.assertIn("host path: baseline (TDX_EMU_HOST=baseline)", f.report())

    def test_gmem_borrowed_only_for_flags_the_host_takes(self):
        f = self.features(HostSystem())
        f.gmem, f.gmem_flags = True, 0                  # a 6.8-6.17 host: flags 0 only
        self.assertTrue(f.borrow_gmem(0))
        self.assertFalse(f.borrow_gmem(abi.GUEST_MEMFD_FLAG_MMAP))
        f.gmem_flags = abi.GUEST_MEMFD_FLAG_MMAP | abi.GUEST_MEMFD_FLAG_INIT_SHARED   # 6.18
        self.assertTrue(f.borrow_gmem(abi.GUEST_MEMFD_FLAG_MMAP))
        f.gmem = False
        self.assertFalse(f.borrow_gmem(0))

    def test_report_prints_masks_in_hex_and_counts_as_yes_no(self):
        """The "modelled whatever the host has" line: a capability whose answer
        is a bit mask (KVM_CAP_MEMORY_ATTRIBUTES: KVM_MEMORY_ATTRIBUTE_PRIVATE,
        0x8) in hex, one whose answer is a yes/no (KVM_CAP_MEMORY_FAULT_INFO: 1)
        as yes; values that tell the two forms apart."""
        answers = {abi.KVM_CAP_MEMORY_ATTRIBUTES: abi.KVM_MEMORY_ATTRIBUTE_PRIVATE,
                   abi.KVM_CAP_MEMORY_FAULT_INFO: 1}

        class Answering(HostSystem):
            def ioctl(self, fd, request, arg=0):
                if request == abi.KVM_CHECK_EXTENSION and arg in answers:
                    return answers[arg]
                return super().ioctl(fd, request, arg)

        line = [x for x in self.features(Answering()).report() if x.startswith("modelled whatever")][0]
        self.assertIn("KVM_CAP_MEMORY_ATTRIBUTES (host 0x8)", line)
        self.assertIn("KVM_CAP_MEMORY_FAULT_INFO (host yes)", line)

    def test_sync_regs_borrowed_with_the_regs_field_on_the_default_path(self):
        """KVM_CAP_SYNC_REGS answers the kvm_run fields KVM keeps in sync:
        borrowed when KVM_SYNC_X86_REGS is one of them, never on the
        baseline path."""
        for answer, borrowed, text in ((0, False, "no (KVM_GET_REGS/KVM_SET_REGS)"),
                                       (abi.KVM_SYNC_X86_REGS, True, "yes, fields 0x1 "),
                                       (abi.KVM_SYNC_X86_SREGS | abi.KVM_SYNC_X86_EVENTS, False, "no "),
                                       (0x7, True, "yes, fields 0x7 ")):
            class Answering(HostSystem):
                def ioctl(self, fd, request, arg=0):
                    if request == abi.KVM_CHECK_EXTENSION and arg == abi.KVM_CAP_SYNC_REGS:
                        return answer
                    return super().ioctl(fd, request, arg)

            with self.subTest(answer=answer):
                f = self.features(Answering())
                self.assertEqual(f.borrow_sync_regs, borrowed)
                self.assertIn("host sync_regs: " + text, "\n".join(f.report()))
                f = self.features(Answering(), "baseline")
                self.assertFalse(f.borrow_sync_regs)
                self.assertIn("host sync_regs: not used (baseline)", "\n".join(f.report()))

    def test_mode_values(self):
        self.assertEqual(emu_host.requested_mode(""), "auto")
        self.assertEqual(emu_host.requested_mode(" Baseline "), "baseline")
        for bad in ("base", "legacy", "1"):
            with self.subTest(value=bad), self.assertRaises(emu_host.HostModeError) as ctx:
                emu_host.requested_mode(bad)
            self.assertEqual(str(ctx.exception), "TDX_EMU_HOST=%s: expected auto or baseline" % bad)

    def test_each_requirement_named_when_missing(self):
        for name, cap, release, _ in emu_host.REQUIRED:
            with self.subTest(cap=name):
                host = Linux510Host(missing={cap})
                fd = _host_kvm_fd(host)
                self.addCleanup(host.close, fd)
                missing = emu_host.missing_requirements(host, fd)
                self.assertEqual([m[0] for m in missing], [name])
                self.assertEqual(emu_host.missing_reason(missing),
                                 "emulated platform: this host's KVM lacks %s (Linux %s)" % (name, release))

    def test_legacy_host_meets_the_baseline(self):
        host = Linux510Host()
        fd = _host_kvm_fd(host)
        self.addCleanup(host.close, fd)
        self.assertEqual(emu_host.missing_requirements(host, fd), [])


class _CheckOnly:
    """A host whose KVM answers KVM_CHECK_EXTENSION on one fd only, from a
    table (0 for the rest), and refuses the capabilities in `refused`."""

    def __init__(self, fd, answers, refused=()):
        self.fd, self.answers, self.refused = fd, answers, refused

    def ioctl(self, fd, request, arg=0):
        if fd != self.fd or request != abi.KVM_CHECK_EXTENSION:
            raise OSError(errno.EBADF, "not the /dev/kvm fd, or not KVM_CHECK_EXTENSION")
        if arg in self.refused:
            raise OSError(errno.EINVAL, "capability %d refused" % arg)
        return self.answers.get(arg, 0)


class ProbeTable(unittest.TestCase):
    """emu/host.py's capability table against kvm.h's numbers and what
    kvm_vm_ioctl_check_extension() answers (a mask or a yes/no), and the probe
    reading each answer from the /dev/kvm fd it is given."""

    def test_capability_numbers_and_answer_kinds(self):
        self.assertEqual([(name, cap) for name, cap, _, _ in emu_host.REQUIRED],
                         [("KVM_CAP_USER_MEMORY", 3), ("KVM_CAP_EXT_CPUID", 7), ("KVM_CAP_USER_NMI", 22),
                          ("KVM_CAP_VCPU_EVENTS", 41), ("KVM_CAP_IMMEDIATE_EXIT", 136),
                          ("KVM_CAP_X86_USER_SPACE_MSR", 188)])
        self.assertEqual(list(emu_host.MODELLED),
                         [("KVM_CAP_VM_TYPES", 235, True), ("KVM_SET_USER_MEMORY_REGION2", 231, False),
                          ("KVM_CAP_MEMORY_ATTRIBUTES", 233, True), ("KVM_CAP_MEMORY_FAULT_INFO", 232, False),
                          ("KVM_CAP_EXIT_HYPERCALL", 201, True), ("KVM_CAP_X86_USER_SPACE_MSR", 188, False),
                          ("KVM_CAP_X86_MSR_FILTER", 189, False), ("KVM_CAP_SPLIT_IRQCHIP", 121, False)])
        self.assertEqual(emu_host.KVM_CAP_EXIT_ON_EMULATION_FAILURE, 204)

    def test_probe_asks_the_kvm_fd(self):
        """guest_memfd (1), its flags (0x3) only with guest_memfd,
        KVM_CAP_EXIT_ON_EMULATION_FAILURE (1); a refused check counts as 0; a
        host without guest_memfd has flags 0 whatever it would answer."""
        answers = {abi.KVM_CAP_GUEST_MEMFD: 1, abi.KVM_CAP_GUEST_MEMFD_FLAGS: 0x3,
                   emu_host.KVM_CAP_EXIT_ON_EMULATION_FAILURE: 1, abi.KVM_CAP_X86_MSR_FILTER: 1}
        f = emu_host.HostFeatures(_CheckOnly(9, answers, refused={abi.KVM_CAP_X86_MSR_FILTER}), 9)
        self.assertEqual((f.gmem, f.gmem_flags, f.emulation_failure_cap), (True, 0x3, 1))
        self.assertIn(("KVM_CAP_X86_MSR_FILTER", 0, False), f.modelled, "a refused check")
        del answers[abi.KVM_CAP_GUEST_MEMFD]
        f = emu_host.HostFeatures(_CheckOnly(9, answers), 9)
        self.assertEqual((f.gmem, f.gmem_flags), (False, 0))


@requires_kvm
class MissingRequirement(unittest.TestCase):
    """A host without KVM_CAP_IMMEDIATE_EXIT: platform none, every case skips with one reason."""

    REASON = "emulated platform: this host's KVM lacks KVM_CAP_IMMEDIATE_EXIT (Linux 4.11)"

    def setUp(self):
        self.host = Linux510Host(missing={abi.KVM_CAP_IMMEDIATE_EXIT})

    def test_platform_none(self):
        plat = platform.select("emulated", host=self.host)
        self.assertEqual((plat.name, plat.reason), ("none", self.REASON))
        plat = platform.select("auto", host=self.host)
        self.assertEqual((plat.name, plat.reason), ("none", self.REASON))

    def test_every_case_skips_with_the_reason(self):
        from tdx.x86_64 import td_lifecycle
        saved = platform._current
        platform._current = platform.select("auto", host=self.host)
        self.addCleanup(setattr, platform, "_current", saved)
        suite = unittest.defaultTestLoader.loadTestsFromModule(td_lifecycle)
        result = unittest.TestResult()
        suite.run(result)
        self.assertGreater(result.testsRun, 10)
        self.assertEqual(len(result.skipped), result.testsRun)
        self.assertEqual({reason for _, reason in result.skipped}, {self.REASON})


@requires_kvm
class LegacyHostTd(unittest.TestCase):
    """TDs on a host that looks like Linux 5.10: the model's paths, end to end."""
    trap = "exit"

    def setUp(self):
        self.host = Linux510Host()
        self.system = EmuSystem(host=self.host, tdcall_trap=self.trap)
        self.kvm = Kvm(self.system)
        self.addCleanup(self.kvm.close)
        self.image = GuestImage.load(find_image("td_lifecycle"))

    def test_td_runs_on_model_paths(self):
        gvm = td.create_guest(self.kvm, self.image, "guest_vp_info", nr_vcpus=2)
        self.addCleanup(gvm.close)
        for vcpu in gvm.vcpus:
            vcpu.run_until_done()
        borrowed, gmem = self.system.gmem_info(gvm.gmem)
        self.assertFalse(borrowed)
        self.assertEqual(self.host.calls, [], "the model asked the host for a newer feature")
        stats = self.system.stats
        if self.trap == "exit":
            self.assertGreater(stats["tdcall-exit"], 0)
            self.assertEqual(stats["insn-fetched"], stats["tdcall-exit"],
                             "every TDCALL recognised from guest memory")
        else:
            self.assertEqual(stats["tdcall-doorbell"], stats["ud-injected"])
            self.assertGreater(stats["ud-injected"], 0)

    def test_capabilities_of_a_tdx_kvm(self):
        """The TD's view does not depend on the host: a TDX KVM's answers."""
        vm = self.kvm.create_vm(abi.KVM_X86_TDX_VM)
        self.addCleanup(vm.close)
        expect = {
            abi.KVM_CAP_VM_TYPES: (1 << abi.KVM_X86_DEFAULT_VM) | (1 << abi.KVM_X86_TDX_VM),
            abi.KVM_CAP_GUEST_MEMFD: 1, abi.KVM_CAP_USER_MEMORY2: 1, abi.KVM_CAP_MEMORY_FAULT_INFO: 1,
            abi.KVM_CAP_MEMORY_ATTRIBUTES: abi.KVM_MEMORY_ATTRIBUTE_PRIVATE,
            abi.KVM_CAP_EXIT_HYPERCALL: 1 << abi.KVM_HC_MAP_GPA_RANGE,
            abi.KVM_CAP_GUEST_MEMFD_FLAGS: abi.GUEST_MEMFD_FLAG_MMAP,
        }
        for cap, value in expect.items():
            with self.subTest(cap=cap):
                self.assertIn(cap, NEWER_CAPS.keys() | {abi.KVM_CAP_EXIT_HYPERCALL})
                self.assertEqual(vm.check_extension(cap), value)


class LegacyHostTdUd(LegacyHostTd):
    """The same, with TDCALL delivered as #UD and forwarded through the doorbell (VMX hosts)."""
    trap = "ud"


class _Counting:
    """Counts the register ioctls the model makes on the host."""

    def ioctl(self, fd, request, arg=0):
        if request in (abi.KVM_GET_REGS, abi.KVM_SET_REGS):
            self.register_ioctls.append(request)
        return super().ioctl(fd, request, arg)


class CountingHost(_Counting, HostSystem):
    def __init__(self):
        self.register_ioctls = []


class CountingLegacyHost(_Counting, Linux510Host):
    def __init__(self, missing=()):
        super().__init__(missing)
        self.register_ioctls = []


@requires_kvm
class RegisterIoctls(unittest.TestCase):
    """A TD's TDCALLs cost no register ioctl with sync_regs (default path);
    without (baseline path, a host without KVM_CAP_SYNC_REGS) at least one
    KVM_GET_REGS and one KVM_SET_REGS each.  The guest checks its results
    either way (guest_vp_info on two vCPUs)."""

    def run_td(self, host, mode):
        system = EmuSystem(host=host, host_mode=mode, tdcall_trap="exit")
        kvm = Kvm(system)
        self.addCleanup(kvm.close)
        gvm = td.create_guest(kvm, GuestImage.load(find_image("td_lifecycle")), "guest_vp_info", nr_vcpus=2)
        self.addCleanup(gvm.close)
        for vcpu in gvm.vcpus:
            vcpu.run_until_done()
        tdcalls = system.stats["tdcall-exit"]
        self.assertGreater(tdcalls, 0)
        return tdcalls, host.register_ioctls.count(abi.KVM_GET_REGS), host.register_ioctls.count(abi.KVM_SET_REGS)

    def test_default_path_uses_kvm_run(self):
        host = CountingHost()
        kvm_fd = _host_kvm_fd(host)
        has = host.ioctl(kvm_fd, abi.KVM_CHECK_EXTENSION, abi.KVM_CAP_SYNC_REGS) & abi.KVM_SYNC_X86_REGS
        host.close(kvm_fd)
        if not has:
            self.skipTest("this host's KVM has no KVM_CAP_SYNC_REGS")
        self.assertEqual(self.run_td(host, "auto")[1:], (0, 0))

    def test_fallback_uses_ioctls(self):
        for host, mode in ((CountingHost(), "baseline"), (CountingLegacyHost(), "baseline"),
                           (CountingLegacyHost(missing={abi.KVM_CAP_SYNC_REGS}), "auto")):
            with self.subTest(host=type(host).__name__, mode=mode):
                tdcalls, gets, sets = self.run_td(host, mode)
                self.assertGreaterEqual(gets, tdcalls)
                self.assertGreaterEqual(sets, tdcalls + 2)      # and each vCPU's initial state


@requires_kvm
class BorrowedGmem(unittest.TestCase):
    """On a host with guest_memfd the TD's is borrowed (auto) or modelled (baseline)."""

    def gmem(self, mode):
        system = EmuSystem(host_mode=mode)
        kvm = Kvm(system)
        self.addCleanup(kvm.close)
        vm = kvm.create_vm(abi.KVM_X86_TDX_VM)
        self.addCleanup(vm.close)
        return system, kvm, vm.create_guest_memfd(4 * 4096)

    def test_baseline_models(self):
        system, _, fd = self.gmem("baseline")
        self.assertFalse(system.gmem_info(fd)[0])

    def test_auto_borrows_when_the_host_has_it(self):
        system, kvm, fd = self.gmem("auto")
        host_has = system.host.ioctl(kvm.fd, abi.KVM_CHECK_EXTENSION, abi.KVM_CAP_GUEST_MEMFD) > 0
        self.assertEqual(system.gmem_info(fd)[0], host_has)


if __name__ == "__main__":
    unittest.main()
