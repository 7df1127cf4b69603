# SPDX-License-Identifier: GPL-2.0-only
"""The emulated platform end to end: EmuSystem on this host's /dev/kvm.

The model's leaves are tested one by one in test_emu_*.py; here TDs built by
the library run on the real KVM through both ways a TDCALL can reach the
model (docs/internals.md §5): the INTERNAL_ERROR trap of hosts that emulate
CPL0 code, and the #UD doorbell of VMX hosts, which this host takes when
EmuSystem injects #UD.
"""

import errno
import os
import types
import unittest

from tdx.emu import EmuSystem
from tdx.lib import abi, td
from tdx.lib.guest import GuestImage, find_image
from tdx.lib.kvm import Kvm, KvmUnavailable, VcpuTimeout, try_call


def _kvm_or_skip(system):
    try:
        return Kvm(system)
    except KvmUnavailable as e:
        raise unittest.SkipTest("no usable /dev/kvm") from e


class EmuPlatformTest(unittest.TestCase):
    trap = "exit"
    host_mode = "auto"

    def setUp(self):
        self.system = EmuSystem(tdcall_trap=self.trap, host_mode=self.host_mode)
        self.kvm = _kvm_or_skip(self.system)
        self.addCleanup(self.kvm.close)
        self.lifecycle = GuestImage.load(find_image("td_lifecycle"))

    def td(self, entry, image=None, **options):
        gvm = td.create_guest(self.kvm, image or self.lifecycle, entry, **options)
        self.addCleanup(gvm.close)
        return gvm

    def test_done(self):
        gvm = self.td("guest_done")
        gvm.vcpus[0].run_until_done()
        self._check_path()

    def test_vp_info_two_vcpus(self):
        gvm = self.td("guest_vp_info", nr_vcpus=2)
        for vcpu in gvm.vcpus:
            vcpu.run_until_done()
        for index in range(2):
            raw = gvm.read(gvm.layout.shared_gpa + 0x1000 + 64 * index, 40)
            r9 = int.from_bytes(raw[32:40], "little")
            self.assertEqual(r9, index)
        self._check_path()

    def test_fatal_error_then_resume(self):
        gvm = self.td("guest_report_fatal_error", args=0)
        run = gvm.vcpus[0].run_expect(abi.KVM_EXIT_SYSTEM_EVENT)
        self.assertEqual(run.system_event.type, abi.KVM_SYSTEM_EVENT_TDX_FATAL)
        self.assertEqual(run.system_event.data[12], 0x0BAAAAAD00000000)
        gvm.vcpus[0].run_until_done()
        self._check_path()

    def _check_path(self):
        stats = self.system.stats
        if self.trap == "exit":
            self.assertGreater(stats["tdcall-exit"], 0)
            self.assertEqual(stats["tdcall-doorbell"], 0)
            if self.host_mode == "baseline":
                # Not from the exit's instruction bytes: fetched from guest memory (emu/insn.py).
                self.assertEqual(stats["insn-fetched"], stats["tdcall-exit"])
            elif self.system.features.borrow_insn_bytes:
                # From the exit's instruction bytes: guest memory never read for them.
                self.assertEqual(stats["insn-fetched"], 0)
        else:
            self.assertGreater(stats["ud-injected"], 0)
            self.assertEqual(stats["tdcall-doorbell"], stats["ud-injected"])
            self.assertEqual(stats["tdcall-exit"], 0)


class EmuPlatformUdDoorbellTest(EmuPlatformTest):
    """The same TDs with every TDCALL delivered as #UD and forwarded by the guest."""
    trap = "ud"


class EmuPlatformBaselineTest(EmuPlatformTest):
    """The same TDs on the baseline host path (TDX_EMU_HOST=baseline)."""
    host_mode = "baseline"


class EmuPlatformBaselineUdDoorbellTest(EmuPlatformTest):
    """The #UD doorbell path of VMX hosts on the baseline host path."""
    trap = "ud"
    host_mode = "baseline"


class EmuPlatformMiscTest(unittest.TestCase):
    def setUp(self):
        self.system = EmuSystem()
        self.kvm = _kvm_or_skip(self.system)
        self.addCleanup(self.kvm.close)

    def test_bad_trap_name(self):
        with self.assertRaises(ValueError):
            EmuSystem(tdcall_trap="nope")

    def test_vm_types_reports_tdx(self):
        types = self.kvm.check_extension(abi.KVM_CAP_VM_TYPES)
        self.assertTrue(types & (1 << abi.KVM_X86_TDX_VM))
        self.assertTrue(types & (1 << abi.KVM_X86_DEFAULT_VM))

    def test_default_vm_passes_through(self):
        """A default VM on the emulated platform is this host's own VM: no TD rules."""
        vm = self.kvm.create_vm(abi.KVM_X86_DEFAULT_VM)
        self.addCleanup(vm.close)
        vcpu = vm.create_vcpu(0)
        vcpu.get_regs()
        # KVM_MEMORY_ENCRYPT_OP on a VM that is not a TD: ENOTTY (docs/kvm-tdx-uapi.md §1, dispatch)
        from tdx.lib import tdx_cmd
        self.assertEqual(try_call(tdx_cmd.tdx_ioctl, vm, tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES)),
                         errno.ENOTTY)

    def test_hung_td_stopped_by_watchdog(self):
        image = GuestImage.load(find_image("guest_basic", subdir="tests"))
        gvm = td.create_guest(self.kvm, image, "guest_spin")
        self.addCleanup(gvm.close)
        with self.assertRaises(VcpuTimeout):
            gvm.vcpus[0].run_exit(timeout=0.3)

    def test_td_lifecycles_do_not_leak(self):
        """1000 TD lifecycles in one process: no growth in fds or mappings (fixtures release all)."""
        image = GuestImage.load(find_image("td_lifecycle"))

        def one():
            gvm = td.create_guest(self.kvm, image, "guest_done")
            gvm.vcpus[0].run_until_done()
            gvm.close()

        one()
        fds = len(os.listdir("/proc/self/fd"))
        with open("/proc/self/maps") as f:
            maps = len(f.readlines())
        for _ in range(1000):
            one()
        self.assertEqual(len(os.listdir("/proc/self/fd")), fds)
        with open("/proc/self/maps") as f:
            self.assertLessEqual(len(f.readlines()), maps + 2)


class EmuPlatformPassThroughTest(unittest.TestCase):
    """What the platform hands to the host unchanged, and how it reads an
    emulation-failure exit, each field its own value."""

    def test_file_syscalls_on_other_fds_reach_the_host(self):
        """read/pread/write/pwrite/fstat/ftruncate/fallocate of an fd that is no
        TD's guest_memfd (a memfd here) are the host's: offsets and lengths that
        differ show a swap."""
        system = EmuSystem()
        fd = os.memfd_create("tdx-emu-pass-through", os.MFD_CLOEXEC)
        self.addCleanup(os.close, fd)
        self.assertEqual(system.pwrite(fd, b"abcdefgh", 3), 8)
        self.assertEqual(system.pread(fd, 4, 5), b"cdef")
        self.assertEqual(system.write(fd, b"XY"), 2)          # at the file offset, still 0
        self.assertEqual(system.read(fd, 5), b"\0abcd")        # after "XY"
        self.assertEqual(system.fstat(fd).st_size, 11)
        system.ftruncate(fd, 2)
        self.assertEqual(system.fstat(fd).st_size, 2)
        system.fallocate(fd, 0, 0, 8192)
        self.assertEqual(system.fstat(fd).st_size, 8192)

    def test_exit_insn_bytes(self):
        """_exit_insn_bytes() of an emulation failure (struct kvm_run's
        emulation_failure: flags, insn_size, insn_bytes): the bytes when
        KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES (bit 0) is set and
        ndata covers them; None without the flag, with another flag only, or
        with ndata < 3; False for another suberror."""
        from tdx.emu.system import _exit_insn_bytes
        tdcall, run = TDCALL, _internal_error_exit
        emulation = abi.KVM_INTERNAL_ERROR_EMULATION
        self.assertEqual(_exit_insn_bytes(run(emulation, 3, 1)), tdcall)
        self.assertEqual(_exit_insn_bytes(run(emulation, 3, 1, size=2)), tdcall[:2])
        self.assertIsNone(_exit_insn_bytes(run(emulation, 3, 0)))
        self.assertIsNone(_exit_insn_bytes(run(emulation, 3, 2)))
        self.assertIsNone(_exit_insn_bytes(run(emulation, 2, 1)))
        self.assertIs(_exit_insn_bytes(run(abi.KVM_INTERNAL_ERROR_DELIVERY_EV, 3, 1)), False)

    def test_is_tdcall_only_at_an_emulation_failure(self):
        """An INTERNAL_ERROR exit of another suberror (here DELIVERY_EV) is no
        TDCALL, whatever its data holds: EmuSystem._is_tdcall() says so
        without reading the vCPU's registers or guest memory; an emulation
        failure carrying the TDCALL bytes is one when the host path borrows
        the exit's bytes."""
        system = EmuSystem()
        Kvm(system).close()                 # the host's features are probed on /dev/kvm

        class NoRegs:
            def ioctl(self, *args):
                raise AssertionError("registers read for an exit that is no emulation failure")
            get = ioctl

        other = types.SimpleNamespace(run=_internal_error_exit(abi.KVM_INTERNAL_ERROR_DELIVERY_EV, 3, 1),
                                      regs=NoRegs())
        self.assertFalse(system._is_tdcall(other, None))
        if system.features.borrow_insn_bytes:
            emulation = types.SimpleNamespace(run=_internal_error_exit(abi.KVM_INTERNAL_ERROR_EMULATION, 3, 1),
                                              regs=NoRegs())
            self.assertTrue(system._is_tdcall(emulation, None))


TDCALL = b"\x66\x0f\x01\xcc"


def _internal_error_exit(suberror, ndata, flags, size=len(TDCALL), insn=TDCALL):
    """A kvm_run of KVM_EXIT_INTERNAL_ERROR laid out as an emulation failure
    (flags, insn_size, insn_bytes in data[])."""
    from tdx.lib.abi import ffi
    r = ffi.new("struct kvm_run *")
    r.exit_reason = abi.KVM_EXIT_INTERNAL_ERROR
    r.internal.suberror, r.internal.ndata = suberror, ndata
    raw = flags.to_bytes(8, "little") + bytes([size]) + insn.ljust(15, b"\x90")
    ffi.memmove(ffi.addressof(r.internal, "data"), raw, len(raw))
    return r


if __name__ == "__main__":
    unittest.main()
