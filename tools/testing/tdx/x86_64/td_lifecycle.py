# SPDX-License-Identifier: GPL-2.0-only
"""td_lifecycle: can this platform create, run and destroy a TD?

Covers docs/kvm-tdx-uapi.md §2 (KVM_TDX_* commands: ordering, reserved
fields, errnos), §2.8 (the setup sequence, split irqchip, protected vCPU
state; KVM_CREATE_IRQCHIP per docs/c-selftests.md §6.6), docs/kvm-tdx-uapi.md
§4.8 (ReportFatalError -> KVM_EXIT_SYSTEM_EVENT) and §6 (TDG.VP.INFO), in the
shapes of docs/c-selftests.md §1 rows 1, 2 and 15: a TD with only its
boot image, with private memory only, and with private and shared memory.

Where KVM's answer changed between releases (KVM_CREATE_IRQCHIP, KVM_SET_MP_STATE,
KVM_SET_TSC_KHZ, the order of a vCPU command's checks) a case asserts the answer
of the kernel under test's generation (tdx.lib.generations, docs/generations.md)
and says in a diagnostic which one applied.

The race cases run two TDX commands from two host threads at once
(tdx.lib.races): KVM must serialise them (the VM state locks and mmu_lock
around TDH.VP.INIT, 6.19), so both succeed and the TD lives; the kernels
before 6.19 could KVM_BUG_ON() the TD there, so on them the cases run the
two commands one after the other and check the same answers.
"""

import errno
import os

from tdx.lib import abi, boot, kmsg, races, td, tdx_cmd
from tdx.lib.abi import ffi, libc
from tdx.lib.kvm import KvmError, VcpuTimeout, cpuid_entries, ioctl, new_cpuid2, try_call
from tdx.lib.system import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE,
                            MAP_SHARED, PROT_READ, PROT_WRITE)
from tdx.lib.testcase import TdxTestCase, main

PORT_BOOT_ONLY = 0x30
BOOT_ONLY_MAGIC = 0x600DB007
FATAL_ERROR_CODE = 0x0BAAAAAD00000000
GPA_VALID = 1 << 63
VP_INFO_OFFSET = 0x1000
EXPOSE_REGS_MASK = 0xFFCC           # RDX, RBX, RSI, RDI, R8-R15 (guest/include/tdx.h)
EXPOSE_R10_R15_MASK = 0xFC00
EXIT_REASON_TDCALL = 77             # data[0] of the fatal-error exit: TDH.VP.ENTER's exit reason
TDX_NO_VCPUS = 0xC000060900000000   # TDH.MR.FINALIZE of a TD without vCPUs (arch/x86/kvm/vmx/tdx_errno.h)
MP_STATE_SUSPENDED = 10             # a state of another architecture: x86 refuses it
AP_BLOCK_TIMEOUT = 0.3              # how long the blocked AP is given before the watchdog's signal
POISON_EXIT_REASON = 0xA5A5A5A5     # no KVM_EXIT_*: left in kvm_run.exit_reason to see whether KVM writes it
PAGE_SIZE = 4096
RACE_SLOT = 11                      # a one-page guest_memfd memslot of the race cases
UNMAPPED_ADDR = 0x1000              # below vm.mmap_min_addr: copy_from_user() faults
CAPS_FILL = 0xFF                    # what the caller leaves in struct kvm_tdx_capabilities
CAPS_NENT = 64
CAPS_CPUID_HEADER_END = 2048 + 8     # struct kvm_tdx_capabilities: 256 u64 before cpuid, then nent and padding
TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT = 1 << 1   # user_tdvmcallinfo_1_r11 (GHCI GetTdVmCallInfo leaf 1)
BOOT_RCX = 0x8123456789ABCDEF       # KVM_TDX_INIT_VCPU data: bit 0 and bit 63 set, no two bytes alike
MAP_FIXED_NOREPLACE = 0x100000
USER_TOP = 0x7FFFFFFFF000           # TASK_SIZE_MAX with 4-level paging: access_ok() stops here
DEFAULT_MMAP_MIN_ADDR = 0x10000     # CONFIG_DEFAULT_MMAP_MIN_ADDR on x86 distributions
# The vCPU-state ioctls of include/uapi/linux/kvm.h not in tdx.lib.abi, by (name, direction, nr, struct size):
# struct kvm_fpu 416, kvm_debugregs 128, kvm_xsave 4096, kvm_xcrs 392, kvm_sregs2 320 bytes
# (arch/x86/include/uapi/asm/kvm.h).
VCPU_STATE_IOCTLS = (("KVM_GET_FPU", "r", 0x8C, 416), ("KVM_SET_FPU", "w", 0x8D, 416),
                     ("KVM_GET_DEBUGREGS", "r", 0xA1, 128), ("KVM_SET_DEBUGREGS", "w", 0xA2, 128),
                     ("KVM_GET_XSAVE", "r", 0xA4, 4096), ("KVM_SET_XSAVE", "w", 0xA5, 4096),
                     ("KVM_GET_XCRS", "r", 0xA6, 392), ("KVM_SET_XCRS", "w", 0xA7, 392),
                     ("KVM_GET_SREGS2", "r", 0xCC, 320), ("KVM_SET_SREGS2", "w", 0xCD, 320),
                     ("KVM_GET_XSAVE2", "r", 0xCF, 4096))


class TdLifecycle(TdxTestCase):
    guest = "td_lifecycle"

    # -- running TDs --

    def test_lifecycle(self):
        """create -> init -> finalize -> run -> destroy, then the same again."""
        for _ in range(2):
            gvm, vcpu = self.create_td("guest_done")
            vcpu.run_until_done()
            gvm.close()

    def test_report_fatal_error(self):
        """ReportFatalError reaches the host as SYSTEM_EVENT TDX_FATAL, GPRs in KVM order (§4.8)."""
        gpa = boot.SHARED_GPA | (1 << (td.GPAW - 1))
        gvm, vcpu = self.create_td("guest_report_fatal_error", args=gpa)
        run = vcpu.run_expect(abi.KVM_EXIT_SYSTEM_EVENT)
        ev = run.system_event
        self.assertEqual(ev.type, abi.KVM_SYSTEM_EVENT_TDX_FATAL)
        self.assertEqual(ev.ndata, 16)
        self.assertEqual(ev.data[0], EXIT_REASON_TDCALL)
        self.assertEqual(ev.data[10], 0, "R10 (TDX_HYPERCALL_STANDARD)")
        self.assertEqual(ev.data[11], 0x10003, "R11 (the sub-function)")
        self.assertEqual(ev.data[12], FATAL_ERROR_CODE | GPA_VALID, "R12 (error code)")
        self.assertEqual(ev.data[13], gpa, "R13 (data GPA)")
        self.assertEqual((ev.data[4], ev.data[5]), (0, 0), "RSP and RBP are never exposed")
        # No completion: re-entering resumes the guest.
        vcpu.run_until_done()

    def test_report_fatal_error_without_gpa(self):
        """ReportFatalError with R13 = 0 and bit 63 of the code clear (no data
        GPA, docs/c-selftests.md §1 row 2): the same exit, data[12] the code as
        passed, data[13] 0; KVM does not look at the GPA at all
        (docs/kvm-tdx-uapi.md §4.8)."""
        gvm, vcpu = self.create_td("guest_report_fatal_error", args=0)
        run = vcpu.run_expect(abi.KVM_EXIT_SYSTEM_EVENT)
        ev = run.system_event
        self.assertEqual(ev.type, abi.KVM_SYSTEM_EVENT_TDX_FATAL)
        self.assertEqual(ev.ndata, 16)
        self.assertEqual(ev.data[0], EXIT_REASON_TDCALL)
        self.assertEqual(ev.data[11], 0x10003, "R11 (the sub-function)")
        self.assertEqual(ev.data[12], FATAL_ERROR_CODE, "R12: bit 63 clear, as passed")
        self.assertEqual(ev.data[13], 0, "R13: no data GPA")
        vcpu.run_until_done()

    def test_report_fatal_error_every_register(self):
        """system_event.data holds the 16 GPRs in KVM's order (tdx_report_fatal_error()):
        RAX = the TD exit reason, RCX = the exposure mask the guest passed, every
        exposed register its own value, RSP and RBP 0; registers the guest did not
        expose reach KVM as 0 although the guest loaded values into them."""
        gvm, vcpu = self.create_td("guest_report_fatal_error_regs")
        loaded = {2: 0x0202020202020202, 3: 0x0303030303030303, 6: 0x0606060606060606,
                  7: 0x0707070707070707, 8: 0x0808080808080808, 9: 0x0909090909090909,
                  10: 0, 11: 0x10003, 12: FATAL_ERROR_CODE, 13: 0x0D0D0D0D0D0D0D0D,
                  14: 0x0E0E0E0E0E0E0E0E, 15: 0x0F0F0F0F0F0F0F0F}
        for mask in (EXPOSE_REGS_MASK, EXPOSE_R10_R15_MASK):
            with self.subTest(mask=hex(mask)):
                run = vcpu.run_expect(abi.KVM_EXIT_SYSTEM_EVENT)
                ev = run.system_event
                self.assertEqual((ev.type, ev.ndata), (abi.KVM_SYSTEM_EVENT_TDX_FATAL, 16))
                want = [EXIT_REASON_TDCALL, mask] + [loaded[i] if mask >> i & 1 else 0 for i in range(2, 16)]
                got = [ev.data[i] for i in range(16)]
                self.assertEqual(["%#x" % v for v in got], ["%#x" % v for v in want])
        vcpu.run_until_done()

    def test_report_fatal_error_from_second_vcpu(self):
        """In a 2-vCPU TD, vCPU 1's ReportFatalError is an exit of vCPU 1 alone,
        with its code; vCPU 0 runs to its end, then vCPU 1 resumes."""
        gvm, _ = self.create_td(["guest_done", "guest_report_fatal_error"], nr_vcpus=2, args=[0, 0])
        run = gvm.vcpus[1].run_expect(abi.KVM_EXIT_SYSTEM_EVENT)
        self.assertEqual((run.system_event.type, run.system_event.data[12]),
                         (abi.KVM_SYSTEM_EVENT_TDX_FATAL, FATAL_ERROR_CODE))
        gvm.vcpus[0].run_until_done()
        gvm.vcpus[1].run_until_done()

    def vp_info(self, gvm, index):
        """(status, RCX, RDX, R8, R9, R10, R11) vCPU `index` stored (guest_vp_info)."""
        raw = gvm.read(gvm.layout.shared_gpa + VP_INFO_OFFSET + 64 * index, 56)
        return tuple(int.from_bytes(raw[i:i + 8], "little") for i in range(0, 56, 8))

    def check_vp_info(self, gvm, attrs, gpaw=td.GPAW):
        """Every vCPU's TDG.VP.INFO: GPAW, attributes, NUM_VCPUS / MAX_VCPUS, its index (§6)."""
        nr = len(gvm.vcpus)
        max_vcpus = gvm.vm.check_extension(abi.KVM_CAP_MAX_VCPUS)
        for index in range(nr):
            ret, rcx, rdx, r8, r9, r10, r11 = self.vp_info(gvm, index)
            with self.subTest(vcpu=index):
                self.assertEqual(ret, 0, "TDG.VP.INFO status")
                self.assertEqual(rcx & 0x3F, gpaw, "RCX[5:0]: GPAW")
                self.assertEqual(rcx >> 6, 0, "RCX bits 63:6 are reserved")
                self.assertEqual(rdx, attrs, "RDX: the TD's attributes")
                self.assertEqual(r8 & 0xFFFFFFFF, nr, "R8[31:0]: NUM_VCPUS")
                self.assertEqual(r8 >> 32, max_vcpus, "R8[63:32]: MAX_VCPUS = per-VM KVM_CAP_MAX_VCPUS")
                self.assertEqual(r9, index, "R9: VCPU_INDEX")
                self.assertEqual(r10 & ~1, 0)
                self.assertEqual(r11, 0)

    def test_vp_info_two_vcpus(self):
        """TDG.VP.INFO on a 2-vCPU TD with every attribute KVM offers
        (KVM_TDX_CAPABILITIES.supported_attrs: SEPT_VE_DISABLE, and PKS where
        offered): GPAW, attributes, num/max vCPUs, index (§6, anchor row 15)."""
        attrs = td.capabilities(self.kvm).supported_attrs
        gvm, _ = self.create_td("guest_vp_info", nr_vcpus=2, attributes=attrs)
        for vcpu in gvm.vcpus:
            vcpu.run_until_done()
        self.check_vp_info(gvm, attrs)

    def test_vp_info_one_vcpu(self):
        """The 1-vCPU form, attributes 0: NUM_VCPUS 1 (not a constant 2), RDX 0."""
        gvm, vcpu = self.create_td("guest_vp_info")
        vcpu.run_until_done()
        self.check_vp_info(gvm, 0)

    def test_vp_info_gpaw_from_tdx_get_cpuid(self):
        """The GPAW, as KVM_TDX_GET_CPUID reports it (CPUID.0x80000008:EAX[23:16],
        §2.7) for each vCPU, is what TDG.VP.INFO's RCX[5:0] says, and its shared
        bit 1 << (GPAW - 1) is the one the guest's page tables use (§3.2)."""
        b = self.td_builder("guest_vp_info", nr_vcpus=2)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        widths = []
        for vcpu in b.gvm.vcpus:
            leaf = [e for e in tdx_cmd.get_cpuid(vcpu) if e[0] == 0x80000008]
            self.assertEqual(len(leaf), 1, "KVM_TDX_GET_CPUID: one 0x80000008 entry")
            widths.append(leaf[0][3] >> 16 & 0xFF)
        self.assertEqual(widths[0], widths[1], "both vCPUs report the same GPAW")
        self.assertEqual(1 << (widths[0] - 1), b.gvm.shared_bit, "shared bit = 1 << (GPAW - 1)")
        b.add_memory()
        b.finalize()
        for vcpu in b.gvm.vcpus:
            vcpu.run_until_done()
        self.check_vp_info(b.gvm, 0, gpaw=widths[0])

    def test_max_vcpus_cannot_be_enabled(self):
        """KVM_ENABLE_CAP(KVM_CAP_MAX_VCPUS): EINVAL for any count on a TD, below,
        at and above the per-VM maximum (kvm_vm_ioctl_enable_cap() has no such
        capability on x86; the C series' 512 went through a pre-merge API).  The
        maximum is the per-VM KVM_CHECK_EXTENSION value, unchanged by the attempts."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        max_vcpus = vm.check_extension(abi.KVM_CAP_MAX_VCPUS)
        self.assertGreaterEqual(max_vcpus, 1)
        for n in (1, max_vcpus, max_vcpus + 1, 512):
            with self.subTest(n=n):
                self.assertErrno(errno.EINVAL, vm.enable_cap, abi.KVM_CAP_MAX_VCPUS, n)
        self.assertEqual(vm.check_extension(abi.KVM_CAP_MAX_VCPUS), max_vcpus)
        b.init_vm()
        self.assertErrno(errno.EINVAL, vm.enable_cap, abi.KVM_CAP_MAX_VCPUS, max_vcpus)
        self.assertEqual(vm.check_extension(abi.KVM_CAP_MAX_VCPUS), max_vcpus)

    def test_vcpu_count_limit(self):
        """KVM_CREATE_VCPU counts vCPUs against the per-VM KVM_CAP_MAX_VCPUS
        (min(KVM_MAX_VCPUS, present CPUs) for a TD, tdx_vm_init()): the last one
        is accepted, the next fails EINVAL with everything else in order (TD
        initialised, split irqchip).  It is a count, not an id: ids at or above
        the maximum are accepted while the count is below it."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        max_vcpus = vm.check_extension(abi.KVM_CAP_MAX_VCPUS)
        for i in range(max_vcpus):
            vm.create_vcpu(max_vcpus + i)
        self.assertErrno(errno.EINVAL, vm.create_vcpu, 2 * max_vcpus)
        self.assertErrno(errno.EINVAL, vm.create_vcpu, 0)

    def test_boot_image_only(self):
        """A TD whose memory is exactly its boot image reaches the host through port I/O."""
        gvm, vcpu = self.create_td("guest_boot_only", memory="boot")
        io = vcpu.run_expect_io(PORT_BOOT_ONLY, 4, write=True)
        self.assertEqual(io.value, BOOT_ONLY_MAGIC)

    def test_private_memory_only(self):
        """Private memory beyond the image is accepted, starts zeroed, and holds guest data."""
        page = 0x200000
        gvm, vcpu = self.create_td("guest_private_memory", memory="private", args=page)
        io = vcpu.run_expect_io(PORT_BOOT_ONLY, 4, write=True)
        self.assertEqual(io.value, 0x5EC2E7)
        self.assertNotIn(b"\xe7\xc2\x5e", gvm.read(page, 4096), "private data in the host's memory")

    def test_private_and_shared_memory(self):
        gvm, vcpu = self.create_td("guest_shared_memory")
        self.assertEqual(vcpu.run_expect_sync(), 1)
        area = gvm.layout.shared_gpa + 0x2000
        self.assertEqual(int.from_bytes(gvm.read(area, 8), "little"), 0xC0FFEE)
        gvm.write(area + 8, (0xBEEF).to_bytes(8, "little"))
        vcpu.run_until_done()

    # -- the setup sequence's rules (§2) --

    def td_before_finalize(self):
        """A guest_done TD built up to KVM_TDX_FINALIZE_VM (td.TdBuilder's steps)."""
        b = self.td_builder("guest_done")
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        return b

    def test_init_vm_twice(self):
        b = self.td_builder("guest_done")
        b.create_vm()
        b.init_vm()
        self.assertErrno(errno.EINVAL, b.init_vm)

    def test_vcpu_before_init_vm(self):
        """KVM_CREATE_VCPU before KVM_TDX_INIT_VM fails with EIO (§2.8 step 6)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        self.assertErrno(errno.EIO, vm.create_vcpu, 0)

    def test_duplicate_vcpu_id_then_vcpus_on_its_cpu(self):
        """After KVM_TDX_INIT_VM, KVM_CREATE_VCPU of id 0 twice: the second fails
        EEXIST.  Then, on the same CPU (the thread pinned to it), vCPU 1 is
        created, both get KVM_TDX_INIT_VCPU, the TD is finalised and both run
        to the end, with no EIO on the way and no new BUG, WARNING, Oops or
        list_debug record in the kernel log.  kvm_arch_vcpu_create() loads
        the refused vCPU on this CPU before kvm_vm_ioctl_create_vcpu() finds
        the id in use, so tdx_vcpu_free() must take it off the CPU's
        associated_tdvcpus list: since 1e3a825c9ec9 (6.19, generation row
        vcpu-free-disassociate); before, the next vcpu_load() on this CPU
        oopsed in list_add() (the case does not run there).  A kernel that
        checks the id before kvm_arch_vcpu_create() (97d65b544f48, since
        reverted; c5866d42f711) never loads the refused vCPU: there the case
        passes without reaching tdx_vcpu_free()."""
        self.require_kernel_offers(
            self.kernel_has("vcpu-free-disassociate"),
            "1e3a825c9ec9 \"KVM: TDX: Fix list_add corruption during vcpu_load()\" (6.19): without it a "
            "refused KVM_CREATE_VCPU oopses the host at the next vcpu_load on that CPU; with the fix "
            "backported, run with TDX_KVM_GENERATION=6.19")
        log = self.kernel_log()
        cpu = min(os.sched_getaffinity(0))
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
        self.addCleanup(os.sched_setaffinity, 0, allowed)
        b = self.td_builder("guest_done", nr_vcpus=2)
        b.create_vm()
        b.init_vm()
        vcpus = [b.vm.create_vcpu(0, cls=td.GuestVcpu)]
        self.assertErrno(errno.EEXIST, b.vm.create_vcpu, 0)
        vcpus.append(b.vm.create_vcpu(1, cls=td.GuestVcpu))
        for i, vcpu in enumerate(vcpus):
            vcpu.guest = b.gvm
            vcpu.index = i
            vcpu.set_cpuid2(td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu)))
            b.gvm.vcpus.append(vcpu)
            tdx_cmd.init_vcpu(vcpu, b.rcx)
        b.add_memory()
        b.finalize()
        for vcpu in vcpus:
            vcpu.run_until_done()
        self.assertEqual(kmsg.problems(log.read()), [], "kernel log (CPU %d)" % cpu)

    def test_irqchip_must_be_split(self):
        """A TD needs the split irqchip: KVM_CREATE_VCPU without it fails EINVAL
        (§2.8 step 3).  KVM_CREATE_IRQCHIP (generation row irqchip-enotty): since
        6.18 ENOTTY, a TD has protected EOIs, and EEXIST once the split irqchip
        exists (x86.c kvm_arch_vm_ioctl); before 6.18 it creates the in-kernel
        irqchip, after which the split one cannot be enabled (EEXIST) and no vCPU
        can be created (EINVAL)."""
        self.require(td.tdx_supported(self.kvm), "KVM_CAP_VM_TYPES: no KVM_X86_TDX_VM")
        b = self.td_builder("guest_done")
        b.vm = self.kvm.create_vm(abi.KVM_X86_TDX_VM)
        if self.kernel_has("irqchip-enotty"):
            self.assertErrno(errno.ENOTTY, b.vm.create_irqchip)
            b.init_vm()
            self.assertErrno(errno.EINVAL, b.vm.create_vcpu, 0)
            b.vm.enable_cap(abi.KVM_CAP_SPLIT_IRQCHIP, td.IOAPIC_PINS)
            self.assertErrno(errno.EEXIST, b.vm.create_irqchip)
            b.vm.create_vcpu(0)
            return
        b.vm.create_irqchip()
        b.init_vm()
        self.assertErrno(errno.EINVAL, b.vm.create_vcpu, 0)
        self.assertErrno(errno.EEXIST, b.vm.enable_cap, abi.KVM_CAP_SPLIT_IRQCHIP, td.IOAPIC_PINS)
        self.assertErrno(errno.EEXIST, b.vm.create_irqchip)
        self.assertErrno(errno.EINVAL, b.vm.create_vcpu, 0)

    def test_init_vcpu_without_x2apic(self):
        """KVM_TDX_INIT_VCPU needs x2APIC in the vCPU's CPUID (§2.4)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        vcpu = vm.create_vcpu(0)
        cpuid = [(f, i, fl, a, bx, c & ~td.CPUID_X2APIC if f == 1 else c, d)
                 for f, i, fl, a, bx, c, d in td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu))]
        vcpu.set_cpuid2(cpuid)
        self.assertErrno(errno.EINVAL, tdx_cmd.init_vcpu, vcpu)

    def test_init_vm_each_rule_alone(self):
        """KVM_TDX_INIT_VM's rules, each broken alone with everything else as in the
        accepted form, on the same VM (a refusal leaves the TD uninitialised):
        flags 1; an attribute or an XFAM bit outside what CAPABILITIES offers
        (the highest, bit 63); GPAW (CPUID.0x80000008:EAX[23:16]) 0, 47, 49, 51
        or 53; no 0x80000008 entry; HLE, RTM or WAITPKG in 7.0; a leaf the TDX
        module does not let KVM configure - all EINVAL (tdx_td_init(),
        setup_tdparams*(); §2.3); cpuid.nent past KVM_MAX_CPUID_ENTRIES E2BIG,
        at it EINVAL (entries that are not configurable).  Then the accepted
        form, and the TD runs."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = tdx_cmd.capabilities(vm)
        base = td.filter_cpuid(self.kvm.supported_cpuid(), tdx_cmd.caps_cpuid(caps))
        xfam = caps.supported_xfam & 0x7
        configurable = {(f, i) for f, i, *_ in tdx_cmd.caps_cpuid(caps)}
        stranger = next(e for e in self.kvm.supported_cpuid() if (e[0], e[1]) not in configurable)

        def changed(leaf, reg, clear, value):
            out = []
            for e in base:
                if e[0] == leaf and e[1] == 0:
                    e = list(e)
                    e[3 + reg] = (e[3 + reg] & ~clear) | value
                    e = tuple(e)
                out.append(e)
            return out
        EAX, EBX, ECX = 0, 1, 2
        cases = [("flags 1", 0, xfam, base, 1),
                 ("attribute bit 63", 1 << 63, xfam, base, 0),
                 ("XFAM bit 63", 0, xfam | 1 << 63, base, 0),
                 ("no 0x80000008", 0, xfam, [e for e in base if e[0] != 0x80000008], 0),
                 ("HLE", 0, xfam, changed(7, EBX, 0, 1 << 4), 0),
                 ("RTM", 0, xfam, changed(7, EBX, 0, 1 << 11), 0),
                 ("WAITPKG", 0, xfam, changed(7, ECX, 0, 1 << 5), 0),
                 ("leaf %#x.%d not configurable" % stranger[:2], 0, xfam, base + [stranger], 0)]
        for gpaw in (0, 47, 49, 51, 53):
            cases.append(("GPAW %d" % gpaw, 0, xfam, changed(0x80000008, EAX, 0xFF0000, gpaw << 16), 0))
        for what, attrs, x, entries, flags in cases:
            with self.subTest(rule=what):
                self.assertErrno(errno.EINVAL, tdx_cmd.init_vm, vm, tdx_cmd.new_init_vm(attrs, x, entries), flags)
        for nent, want in ((abi.KVM_MAX_CPUID_ENTRIES, errno.EINVAL), (abi.KVM_MAX_CPUID_ENTRIES + 1, errno.E2BIG)):
            with self.subTest(nent=nent):
                entries = (base * (nent // len(base) + 1))[:nent]
                self.assertErrno(want, tdx_cmd.init_vm, vm, tdx_cmd.new_init_vm(0, xfam, entries))
        tdx_cmd.init_vm(vm, tdx_cmd.new_init_vm(0, xfam, base))
        b.add_vcpus()
        b.add_memory()
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_init_vcpu_each_rule_alone(self):
        """KVM_TDX_INIT_VCPU: flags 1 EINVAL, then the same vCPU with flags 0
        initialised, then again EINVAL (already initialised; tdx_vcpu_init()).
        The refusals change nothing: the TD is finalised and runs."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        vcpu = vm.create_vcpu(0, cls=td.GuestVcpu)
        vcpu.guest, vcpu.index = b.gvm, 0
        vcpu.set_cpuid2(td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu)))
        self.assertErrno(errno.EINVAL, tdx_cmd.init_vcpu, vcpu, 0, 1)
        tdx_cmd.init_vcpu(vcpu)
        self.assertErrno(errno.EINVAL, tdx_cmd.init_vcpu, vcpu)
        b.gvm.vcpus.append(vcpu)
        b.add_memory()
        b.finalize()
        vcpu.run_until_done()

    def test_init_mem_region_each_rule_alone(self):
        """KVM_TDX_INIT_MEM_REGION's rules, each broken alone on a private page that
        is not part of the image (tdx_vcpu_init_mem_region(); §2.5): flags with
        the bit after MEASURE or bit 31, nr_pages 0, a GPA or a source 2 KiB into
        a page, a region whose end wraps past 2^64 - all EINVAL with the struct
        as it went in; then the page with MEASURE and the next without it are
        added, progress written back (source and gpa one page on, nr_pages 0)."""
        b = self.td_before_finalize()
        vcpu = b.gvm.vcpus[0]
        gpa = boot.SHARED_GPA - 2 * PAGE_SIZE          # private, past the image
        self.assertNotIn(gpa, dict(b.gvm.layout.ranges()), "the image reaches the shared area")
        source = b.vm.alloc(2 * PAGE_SIZE).addr
        half = PAGE_SIZE // 2
        cases = (("flags bit 1", source, gpa, 1, 2), ("flags bit 31", source, gpa, 1, 1 << 31),
                 ("nr_pages 0", source, gpa, 0, 1), ("gpa + 2 KiB", source, gpa + half, 1, 1),
                 ("source + 2 KiB", source + half, gpa, 1, 1), ("end wraps", source, gpa, 1 << 52, 1))
        for what, src, g, n, flags in cases:
            with self.subTest(rule=what):
                region = ffi.new("struct kvm_tdx_init_mem_region *", {"source_addr": src, "gpa": g, "nr_pages": n})
                cmd = tdx_cmd.new_cmd(abi.KVM_TDX_INIT_MEM_REGION, int(ffi.cast("uintptr_t", region)), flags)
                self.assertErrno(errno.EINVAL, tdx_cmd.tdx_ioctl, vcpu, cmd)
                self.assertEqual((region.source_addr, region.gpa, region.nr_pages), (src, g, n), "struct unchanged")
        for i, measure in enumerate((True, False)):
            r = tdx_cmd.init_mem_region(vcpu, gpa + i * PAGE_SIZE, source + i * PAGE_SIZE, 1, measure=measure)
            self.assertEqual((r.source_addr, r.gpa, r.nr_pages),
                             (source + (i + 1) * PAGE_SIZE, gpa + (i + 1) * PAGE_SIZE, 0))
        b.finalize()
        vcpu.run_until_done()

    def test_finalize_flags_and_data_not_checked(self):
        """KVM_TDX_FINALIZE_VM does not look at flags or data (tdx_td_finalize()
        reads neither): nonzero values in both are accepted, and the TD runs."""
        b = self.td_before_finalize()
        self.assertEqual(tdx_cmd.finalize_vm(b.vm, flags=1 << 31 | 1, data=0xDA7A), 0)
        b.gvm.vcpus[0].run_until_done()

    def test_tdx_get_cpuid_exact_count(self):
        """KVM_TDX_GET_CPUID with cpuid.nent one short of the TD's table: E2BIG, and
        KVM writes back the count it needs; with exactly that count the table,
        the same when read twice (tdx_vcpu_get_cpuid(); §2.7)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        vcpu = vm.create_vcpu(0)
        need = len(tdx_cmd.get_cpuid(vcpu))

        def get(nent):
            cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": nent, "entries": nent})
            cpuid.nent = nent
            err = try_call(tdx_cmd.tdx_ioctl, vcpu, tdx_cmd.new_cmd(abi.KVM_TDX_GET_CPUID,
                                                                    int(ffi.cast("uintptr_t", cpuid))))
            return err, cpuid.nent, cpuid_entries(cpuid) if not err else None
        self.assertEqual(get(need - 1)[:2], (errno.E2BIG, need))
        err, nent, table = get(need)
        self.assertEqual((err, nent), (0, need))
        self.assertEqual(get(need)[2], table, "read twice")
        self.assertEqual(table, tdx_cmd.get_cpuid(vcpu))

    def test_init_mem_region_after_finalize(self):
        gvm, vcpu = self.create_td("guest_done")
        source = gvm.vm.alloc(4096)
        self.assertErrno(errno.EINVAL, tdx_cmd.init_mem_region, vcpu, 0x200000, source.addr, 1)

    def test_init_mem_region_shared_gpa(self):
        """KVM_TDX_INIT_MEM_REGION refuses a GPA with the shared bit (§2.5)."""
        b = self.td_before_finalize()
        source = b.vm.alloc(4096)
        gpa = 0x200000 | b.gvm.shared_bit
        self.assertErrno(errno.EINVAL, tdx_cmd.init_mem_region, b.gvm.vcpus[0], gpa, source.addr, 1)

    def test_init_vm_reserved_fields(self):
        """Nonzero reserved bytes or cpuid.padding in kvm_tdx_init_vm: EINVAL (§2.3
        rule 3), at both ends of reserved[] (its first byte, offset 160, and its
        last, offset 255), each alone with everything else valid."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = tdx_cmd.capabilities(vm)
        cpuid = td.filter_cpuid(self.kvm.supported_cpuid(), tdx_cmd.caps_cpuid(caps))
        for field in ("reserved[0] byte 0", "reserved[11] byte 7", "padding"):
            with self.subTest(field=field):
                init = tdx_cmd.new_init_vm(0, caps.supported_xfam & 0x7, cpuid)
                if field == "reserved[0] byte 0":
                    init.reserved[0] = 1
                elif field == "reserved[11] byte 7":
                    init.reserved[11] = 1 << 63
                else:
                    init.cpuid.padding = 1
                self.assertErrno(errno.EINVAL, tdx_cmd.init_vm, vm, init)
        # and the very same struct with them clear is accepted
        tdx_cmd.init_vm(vm, tdx_cmd.new_init_vm(0, caps.supported_xfam & 0x7, cpuid))

    def test_init_vm_struct_ends_at_unmapped_page(self):
        """KVM_TDX_INIT_VM copies exactly struct kvm_tdx_init_vm with cpuid.nent
        entries (tdx_td_init(): memdup_user() of struct_size()): the struct
        placed so that its last byte is the last of a mapping, with nothing
        mapped after it, is accepted."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = tdx_cmd.capabilities(vm)
        cpuid = td.filter_cpuid(self.kvm.supported_cpuid(), tdx_cmd.caps_cpuid(caps))
        init = tdx_cmd.new_init_vm(0, caps.supported_xfam & 0x7, cpuid)
        size = ffi.sizeof("struct kvm_tdx_init_vm") + len(cpuid) * ffi.sizeof("struct kvm_cpuid_entry2")
        self.assertLessEqual(size, PAGE_SIZE)
        addr = self.page_before_hole() + PAGE_SIZE - size
        ffi.memmove(ffi.cast("void *", addr), ffi.buffer(init, size), size)
        cmd = tdx_cmd.new_cmd(abi.KVM_TDX_INIT_VM, addr)
        self.assertErrno(0, tdx_cmd.tdx_ioctl, vm, cmd)
        b.add_vcpus()
        b.add_memory()
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_structs_in_unmapped_memory(self):
        """User memory KVM cannot read is EFAULT (copy_from_user()), wherever in the
        user range it lies: struct kvm_tdx_cmd in a page that was mapped and
        unmapped again, or crossing into it from a mapped page; KVM_TDX_INIT_VM's
        struct kvm_tdx_init_vm there.  An answer KVM cannot write there is EFAULT
        too (copy_to_user()): KVM_TDX_CAPABILITIES whose cpuid header ends where
        the hole begins.  The TD is then initialised normally."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        hole = self.page_before_hole() + PAGE_SIZE
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": CAPS_NENT, "entries": CAPS_NENT}})
        caps.cpuid.nent = CAPS_NENT
        raw = bytes(ffi.buffer(tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, int(ffi.cast("uintptr_t", caps)))))
        ffi.memmove(ffi.cast("void *", hole - 8), raw[:8], 8)
        for what, addr in (("in the hole", hole), ("crossing into it", hole - 8)):
            with self.subTest(cmd=what):
                self.assertErrno(errno.EFAULT, vm.memory_encrypt_op, ffi.cast("struct kvm_tdx_cmd *", addr))
        self.assertErrno(errno.EFAULT, tdx_cmd.tdx_ioctl, vm, tdx_cmd.new_cmd(abi.KVM_TDX_INIT_VM, hole))
        ffi.cast("uint32_t *", hole - 8)[0] = CAPS_NENT                    # cpuid.nent, readable
        self.assertErrno(errno.EFAULT, tdx_cmd.tdx_ioctl, vm,
                         tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, hole - CAPS_CPUID_HEADER_END))
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def page_before_hole(self):
        """A writable page with no mapping right after it (two pages mapped, the
        second unmapped again); unmapped at cleanup."""
        system = self.kvm.system
        addr = system.mmap(2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        system.munmap(addr + PAGE_SIZE, PAGE_SIZE)
        self.addCleanup(system.munmap, addr, PAGE_SIZE)
        return addr

    def fixed_page(self, addr):
        """An anonymous page mapped at exactly `addr`, or None where the address
        space does not allow it; unmapped at cleanup."""
        got = libc.mmap(ffi.cast("void *", addr), PAGE_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
        if got == MAP_FAILED:
            return None
        self.addCleanup(libc.munmap, got, PAGE_SIZE)
        return addr if int(ffi.cast("uintptr_t", got)) == addr else None

    def test_cmd_at_user_space_edges(self):
        """struct kvm_tdx_cmd at the edges of the user address space: ending
        exactly at the top of the user half (TASK_SIZE_MAX, 4-level paging) it
        is read (access_ok() takes addr + size == TASK_SIZE_MAX); crossing it
        EFAULT; at 64 KiB, the default vm.mmap_min_addr (the lowest address a
        process maps by default), it is read.
        KVM_TDX_CAPABILITIES, whose answer goes to ordinary memory.  A
        struct kvm_tdx_capabilities whose cpuid header ends exactly at the top:
        nent is read, the answer cannot be written there, EFAULT
        (tdx_get_capabilities(): copy_to_user()).  A part the host's address
        space cannot host is reported and left out."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": CAPS_NENT, "entries": CAPS_NENT}})
        caps.cpuid.nent = CAPS_NENT
        raw = bytes(ffi.buffer(tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, int(ffi.cast("uintptr_t", caps)))))

        def issue(addr, nbytes):
            ffi.memmove(ffi.cast("void *", addr), raw[:nbytes], nbytes)
            # Not tdx_cmd.tdx_ioctl(): it reads the command's fields itself.
            return vm.memory_encrypt_op(ffi.cast("struct kvm_tdx_cmd *", addr))
        if self.fixed_page(USER_TOP - PAGE_SIZE) is None:
            print("# the last user page %#x cannot be mapped here" % (USER_TOP - PAGE_SIZE))
        else:
            self.assertErrno(0, issue, USER_TOP - len(raw), len(raw))
            self.assertErrno(errno.EFAULT, issue, USER_TOP - 8, 8)
            top_caps = USER_TOP - CAPS_CPUID_HEADER_END
            ffi.cast("uint32_t *", USER_TOP - 8)[0] = CAPS_NENT      # cpuid.nent
            self.assertErrno(errno.EFAULT, tdx_cmd.tdx_ioctl, vm, tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, top_caps))
        if self.fixed_page(DEFAULT_MMAP_MIN_ADDR) is None:
            print("# %#x cannot be mapped here (vm.mmap_min_addr)" % DEFAULT_MMAP_MIN_ADDR)
        else:
            self.assertErrno(0, issue, DEFAULT_MMAP_MIN_ADDR, len(raw))
        self.assertNotEqual(caps.supported_xfam, 0, "capabilities not written")

    def test_cmd_reserved_hw_error_and_flags(self):
        """hw_error != 0 or unknown flags on input: EINVAL (§2.1, §2.2)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": 64, "entries": 64}})
        caps.cpuid.nent = 64
        data = int(ffi.cast("uintptr_t", caps))
        for hw_error, flags in ((1, 0), (0, 1)):
            with self.subTest(hw_error=hw_error, flags=flags):
                cmd = tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, data, flags=flags, hw_error=hw_error)
                self.assertErrno(errno.EINVAL, tdx_cmd.tdx_ioctl, vm, cmd)

    def caps_over(self, vm, fill):
        """KVM_TDX_CAPABILITIES into a struct the caller filled with `fill` bytes
        (cpuid.nent = CAPS_NENT)."""
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": CAPS_NENT, "entries": CAPS_NENT}})
        size = ffi.sizeof("struct kvm_tdx_capabilities") + CAPS_NENT * ffi.sizeof("struct kvm_cpuid_entry2")
        ffi.memmove(caps, bytes([fill]) * size, size)
        caps.cpuid.nent = CAPS_NENT
        tdx_cmd.tdx_ioctl(vm, tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, int(ffi.cast("uintptr_t", caps))))
        return caps

    def test_capabilities_unused_fields_zeroed(self):
        """KVM_TDX_CAPABILITIES over a struct full of 0xFF: every field KVM does not
        set comes back 0 - kernel_tdvmcallinfo_1_r11, kernel_tdvmcallinfo_1_r12,
        user_tdvmcallinfo_1_r12 and all 250 reserved words (tdx_get_capabilities()
        fills a zeroed kernel buffer; b8be70ec2b47, 6.16)."""
        b = self.td_builder("guest_done")
        caps = self.caps_over(b.create_vm(), CAPS_FILL)
        for field in ("kernel_tdvmcallinfo_1_r11", "kernel_tdvmcallinfo_1_r12", "user_tdvmcallinfo_1_r12"):
            self.assertEqual(getattr(caps, field), 0, field)
        nonzero = [i for i in range(250) if caps.reserved[i]]
        self.assertEqual(nonzero, [], "reserved words not zeroed")

    def test_capabilities_user_tdvmcallinfo(self):
        """user_tdvmcallinfo_1_r11 is exactly SetupEventNotifyInterrupt (bit 1): the
        base TDVMCALLs, GetQuote (bit 0) among them, are not reported, and the
        kernel_* words are 0 (init_kvm_tdx_caps(); ed302854d015, 6.16).  The
        struct starts zeroed, so only what KVM writes can differ."""
        b = self.td_builder("guest_done")
        caps = self.caps_over(b.create_vm(), 0)
        self.assertEqual(caps.user_tdvmcallinfo_1_r11, TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT,
                         "user_tdvmcallinfo_1_r11: %#x" % caps.user_tdvmcallinfo_1_r11)
        self.assertEqual((caps.kernel_tdvmcallinfo_1_r11, caps.kernel_tdvmcallinfo_1_r12,
                          caps.user_tdvmcallinfo_1_r12), (0, 0, 0))

    def test_capabilities_cmd_read_only(self):
        """KVM_TDX_CAPABILITIES with struct kvm_tdx_cmd in a read-only page and the
        capabilities in writable memory (generation row caps-no-copyback): since
        6.19 KVM never writes the command back, so the call succeeds and fills the
        capabilities; before, the copy-back fails EFAULT after the capabilities
        were written."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": CAPS_NENT, "entries": CAPS_NENT}})
        caps.cpuid.nent = CAPS_NENT
        cmd = tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, int(ffi.cast("uintptr_t", caps)))
        page = self.read_only_page(bytes(ffi.buffer(cmd)))
        want = 0 if self.kernel_has("caps-no-copyback") else errno.EFAULT
        self.assertErrno(want, vm.memory_encrypt_op, ffi.cast("struct kvm_tdx_cmd *", page))
        self.assertNotEqual(caps.supported_xfam, 0, "capabilities not written")
        self.assertEqual(caps.user_tdvmcallinfo_1_r11, TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT)

    def read_only_page(self, data):
        """A PROT_READ page holding `data` (a shared mapping of a memfd); unmapped at cleanup."""
        system = self.kvm.system
        fd = os.memfd_create("td_lifecycle-ro", os.MFD_CLOEXEC)
        self.addCleanup(os.close, fd)
        os.write(fd, data.ljust(PAGE_SIZE, b"\0"))
        addr = system.mmap(PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0)
        self.addCleanup(system.munmap, addr, PAGE_SIZE)
        return addr

    def test_capabilities_e2big(self):
        """A CPUID array smaller than the module's configurable leaves: E2BIG, nent untouched (§2.2)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": 1, "entries": 1}})
        caps.cpuid.nent = 1
        cmd = tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES, int(ffi.cast("uintptr_t", caps)))
        self.assertErrno(errno.E2BIG, tdx_cmd.tdx_ioctl, vm, cmd)
        self.assertEqual(caps.cpuid.nent, 1)
        self.assertGreater(len(tdx_cmd.caps_cpuid(tdx_cmd.capabilities(vm))), 1)

    def test_unsupported_attributes(self):
        """ATTR DEBUG is never offered by KVM (§2.2): INIT_VM with it is refused."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = tdx_cmd.capabilities(vm)
        self.assertFalse(caps.supported_attrs & abi.TDX_TD_ATTR_DEBUG)
        cpuid = td.filter_cpuid(self.kvm.supported_cpuid(), tdx_cmd.caps_cpuid(caps))
        init = tdx_cmd.new_init_vm(abi.TDX_TD_ATTR_DEBUG, caps.supported_xfam & 0x7, cpuid)
        self.assertErrno(errno.EINVAL, tdx_cmd.init_vm, vm, init)

    def test_get_regs_protected(self):
        """A TD vCPU's registers are protected: KVM_GET_REGS/SET_REGS/SET_SREGS fail (§2.8)."""
        gvm, vcpu = self.create_td("guest_done")
        self.assertErrno(errno.EINVAL, vcpu.get_regs)
        regs = ffi.new("struct kvm_regs *")
        self.assertErrno(errno.EINVAL, vcpu.set_regs, regs)
        sregs = ffi.new("struct kvm_sregs *")
        self.assertErrno(errno.EINVAL, vcpu.set_sregs, sregs)
        vcpu.run_until_done()

    def test_vcpu_state_ioctls_protected(self):
        """Every ioctl on a vCPU's register, FPU, debug-register, XSAVE and XCR
        state fails EINVAL on a TD vCPU, before and after it runs: KVM_GET/SET_REGS,
        SREGS, SREGS2, FPU, DEBUGREGS, XSAVE, XCRS and KVM_GET_XSAVE2
        (kvm_arch_vcpu_ioctl() and its helpers in x86.c: has_protected_state with
        guest_state_protected, or a confidential guest_fpu; §2.8).  Each request
        number is built from the uAPI struct size, so a wrong number is not
        refused but reaches KVM as another ioctl."""
        gvm, vcpu = self.create_td("guest_done")
        buf = ffi.new("char[]", 4 * PAGE_SIZE)         # past KVM_CAP_XSAVE2's size with AMX state
        requests = [("KVM_GET_REGS", abi.KVM_GET_REGS), ("KVM_SET_REGS", abi.KVM_SET_REGS),
                    ("KVM_GET_SREGS", abi.KVM_GET_SREGS), ("KVM_SET_SREGS", abi.KVM_SET_SREGS)]
        for name, direction, nr, size in VCPU_STATE_IOCTLS:
            requests.append((name, abi._IOC(abi._IOC_READ if direction == "r" else abi._IOC_WRITE,
                                            abi.KVMIO, nr, size)))
        for when in ("before KVM_RUN", "after KVM_RUN"):
            for name, request in requests:
                with self.subTest(ioctl=name, when=when):
                    self.assertErrno(errno.EINVAL, ioctl, self.kvm.system, vcpu.fd, name, request, buf)
            if when == "before KVM_RUN":
                vcpu.run_until_done()

    def test_init_vcpu_data_is_boot_rcx_and_r8(self):
        """The KVM_TDX_INIT_VCPU data becomes the vCPU's RCX and R8 at its first
        instruction (tdx_td_vcpu_init() passes it to TDH.VP.INIT; the module's
        init_vcpu_gprs_and_registers() loads both): the guest reports the
        registers it started with.  A value with bit 0, bit 63 and every byte
        different, so a lost bit or a shifted byte shows."""
        gvm, vcpu = self.create_td("guest_boot_regs", rcx=BOOT_RCX)
        vcpu.run_until_done()
        raw = gvm.read(gvm.layout.shared_gpa + VP_INFO_OFFSET, 16)
        rcx, r8 = int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")
        # The boot stub runs in 32-bit mode, where the upper half of RCX is not
        # architecturally kept; R8 cannot be touched there at all.
        self.assertEqual("%#x" % (rcx & 0xFFFFFFFF), "%#x" % (BOOT_RCX & 0xFFFFFFFF), "ECX at boot")
        self.assertEqual("%#x" % r8, "%#x" % BOOT_RCX, "R8 at boot")

    def test_tdx_commands_return_0(self):
        """Each KVM_TDX_* command that succeeds returns 0 from the ioctl (not a
        count or a flag): CAPABILITIES, INIT_VM, GET_CPUID, INIT_VCPU,
        INIT_MEM_REGION, FINALIZE_VM (tdx_vm_ioctl()/tdx_vcpu_ioctl(), §2.1)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": CAPS_NENT, "entries": CAPS_NENT}})
        caps.cpuid.nent = CAPS_NENT
        self.assertEqual(tdx_cmd.tdx_ioctl(vm, tdx_cmd.new_cmd(abi.KVM_TDX_CAPABILITIES,
                                                                int(ffi.cast("uintptr_t", caps)))), 0)
        cpuid = td.filter_cpuid(self.kvm.supported_cpuid(), tdx_cmd.caps_cpuid(caps))
        self.assertEqual(tdx_cmd.init_vm(vm, tdx_cmd.new_init_vm(0, caps.supported_xfam & 0x7, cpuid)), 0)
        vcpu = vm.create_vcpu(0)
        out = ffi.new("struct kvm_cpuid2 *", {"nent": CAPS_NENT, "entries": CAPS_NENT})
        out.nent = CAPS_NENT
        self.assertEqual(tdx_cmd.tdx_ioctl(vcpu, tdx_cmd.new_cmd(abi.KVM_TDX_GET_CPUID,
                                                                  int(ffi.cast("uintptr_t", out)))), 0)
        vcpu.set_cpuid2(td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu)))
        self.assertEqual(tdx_cmd.init_vcpu(vcpu), 0)
        gpa = boot.SHARED_GPA - PAGE_SIZE
        gmem = vm.create_guest_memfd(PAGE_SIZE)
        vm.set_user_memory_region2(RACE_SLOT, abi.KVM_MEM_GUEST_MEMFD, gpa, PAGE_SIZE, vm.alloc(PAGE_SIZE).addr,
                                   gmem, 0)
        vm.set_memory_attributes(gpa, PAGE_SIZE, abi.KVM_MEMORY_ATTRIBUTE_PRIVATE)
        region = ffi.new("struct kvm_tdx_init_mem_region *", {
            "source_addr": vm.alloc(PAGE_SIZE).addr, "gpa": gpa, "nr_pages": 1})
        self.assertEqual(tdx_cmd.tdx_ioctl(vcpu, tdx_cmd.new_cmd(abi.KVM_TDX_INIT_MEM_REGION,
                                                                  int(ffi.cast("uintptr_t", region)))), 0)
        self.assertEqual(tdx_cmd.finalize_vm(vm), 0)

    def test_vm_and_vcpu_ioctls_return_0(self):
        """The ordinary ioctls the TD setup uses return 0 when they succeed:
        KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP), KVM_SET_CPUID2, KVM_GET_CPUID2,
        KVM_GET_MP_STATE (kvm_vm_ioctl_enable_cap(), kvm_arch_vcpu_ioctl())."""
        self.require(td.tdx_supported(self.kvm), "KVM_CAP_VM_TYPES: no KVM_X86_TDX_VM")
        b = self.td_builder("guest_done")
        b.vm = vm = self.kvm.create_vm(abi.KVM_X86_TDX_VM)
        system = self.kvm.system
        cap = ffi.new("struct kvm_enable_cap *", {"cap": abi.KVM_CAP_SPLIT_IRQCHIP, "args": [td.IOAPIC_PINS]})
        self.assertEqual(ioctl(system, vm.fd, "KVM_ENABLE_CAP", abi.KVM_ENABLE_CAP, cap), 0)
        b.init_vm()
        vcpu = vm.create_vcpu(0)
        table = td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu))
        self.assertEqual(ioctl(system, vcpu.fd, "KVM_SET_CPUID2", abi.KVM_SET_CPUID2, new_cpuid2(table)), 0)
        out = ffi.new("struct kvm_cpuid2 *", {"nent": len(table), "entries": len(table)})
        out.nent = len(table)
        self.assertEqual(ioctl(system, vcpu.fd, "KVM_GET_CPUID2", abi.KVM_GET_CPUID2, out), 0)
        mp = ffi.new("struct kvm_mp_state *")
        self.assertEqual(ioctl(system, vcpu.fd, "KVM_GET_MP_STATE", abi.KVM_GET_MP_STATE, mp), 0)
        self.assertEqual(mp.mp_state, abi.KVM_MP_STATE_RUNNABLE, "vCPU 0 is the BSP (kvm_arch_vcpu_create())")

    def test_check_extension_values(self):
        """The capabilities a TD's setup relies on answer exactly 1 on /dev/kvm and
        on the TD's VM fd, not just nonzero: KVM_CAP_SPLIT_IRQCHIP,
        KVM_CAP_X86_USER_SPACE_MSR, KVM_CAP_X86_MSR_FILTER
        (kvm_vm_ioctl_check_extension(), x86.c: r = 1)."""
        self.require(td.tdx_supported(self.kvm), "KVM_CAP_VM_TYPES: no KVM_X86_TDX_VM")
        vm = self.kvm.create_vm(abi.KVM_X86_TDX_VM)
        self.addCleanup(vm.close)
        for cap in (abi.KVM_CAP_SPLIT_IRQCHIP, abi.KVM_CAP_X86_USER_SPACE_MSR, abi.KVM_CAP_X86_MSR_FILTER):
            with self.subTest(cap=cap):
                self.assertEqual(self.kvm.check_extension(cap), 1, "/dev/kvm")
                self.assertEqual(vm.check_extension(cap), 1, "TD VM fd")

    def test_unknown_command_ids(self):
        """A command id the fd does not take is EINVAL, with the TD in the state
        every vCPU command needs (initialised, vCPU initialised, not
        finalised): on the VM fd INIT_VCPU, INIT_MEM_REGION, GET_CPUID and the
        first unused id; on a vCPU fd CAPABILITIES, INIT_VM, FINALIZE_VM and
        the first unused id (tdx_vm_ioctl(), tdx_vcpu_ioctl(): default -EINVAL)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        b.add_vcpus()
        vcpu = b.gvm.vcpus[0]
        unused = abi.KVM_TDX_GET_CPUID + 1
        for target, ids in ((vm, (abi.KVM_TDX_INIT_VCPU, abi.KVM_TDX_INIT_MEM_REGION, abi.KVM_TDX_GET_CPUID, unused)),
                            (vcpu, (abi.KVM_TDX_CAPABILITIES, abi.KVM_TDX_INIT_VM, abi.KVM_TDX_FINALIZE_VM, unused))):
            for cmd_id in ids:
                with self.subTest(fd="VM" if target is vm else "vCPU", id=cmd_id):
                    self.assertErrno(errno.EINVAL, tdx_cmd.tdx_ioctl, target, tdx_cmd.new_cmd(cmd_id))
        # Nothing of that changed the TD: it is built and runs.
        b.add_memory()
        b.finalize()
        vcpu.run_until_done()

    def test_vcpu_id_limit(self):
        """KVM_CREATE_VCPU's id must be below the per-VM KVM_CAP_MAX_VCPU_ID
        (kvm_vm_ioctl_create_vcpu(): kvm->max_vcpu_ids), checked before the TD's
        state: before KVM_TDX_INIT_VM the last id below the limit gets the TD's
        EIO (tdx_vcpu_create()), the limit itself EINVAL; after it the last id
        is created."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        limit = vm.check_extension(abi.KVM_CAP_MAX_VCPU_ID)
        self.assertGreater(limit, 0)
        self.assertErrno(errno.EIO, vm.create_vcpu, limit - 1)
        self.assertErrno(errno.EINVAL, vm.create_vcpu, limit)
        b.init_vm()
        self.assertErrno(errno.EINVAL, vm.create_vcpu, limit)
        vm.create_vcpu(limit - 1)

    def test_init_vcpu_apic_base_maxphyaddr(self):
        """KVM_TDX_INIT_VCPU sets APIC_BASE to 0xFEE00000 | x2APIC | enable | BSP
        through kvm_apic_set_base(), whose reserved bits are those at and above
        the vCPU's MAXPHYADDR (CPUID.0x80000008:EAX[7:0], KVM_SET_CPUID2) and
        0x2FF: with MAXPHYADDR 31 bit 31 of the base is reserved (EINVAL); with
        32 the same vCPU is initialised (tdx_vcpu_init(); §2.4)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        vcpu = vm.create_vcpu(0)
        td_cpuid = tdx_cmd.get_cpuid(vcpu)
        vcpu.set_cpuid2(td.vcpu_cpuid(td_cpuid, gpaw=31))
        self.assertErrno(errno.EINVAL, tdx_cmd.init_vcpu, vcpu)
        vcpu.set_cpuid2(td.vcpu_cpuid(td_cpuid, gpaw=32))
        tdx_cmd.init_vcpu(vcpu)

    def test_set_cpuid2_virtual_address_bits(self):
        """KVM_SET_CPUID2 on a TD vCPU takes CPUID.0x80000008:EAX[15:8] (linear
        address bits) of 0, 48 or 57 only: 1, 47, 49, 56 and 58 are EINVAL
        (kvm_check_cpuid(), cpuid.c), each with an otherwise valid table."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        vcpu = vm.create_vcpu(0)
        base = td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu))

        def with_vaddr_bits(bits):
            return [(f, i, fl, (a & ~0xFF00) | bits << 8 if f == 0x80000008 else a, bx, c, d)
                    for f, i, fl, a, bx, c, d in base]
        for bits in (0, 48, 57, 1, 47, 49, 56, 58):
            with self.subTest(bits=bits):
                want = 0 if bits in (0, 48, 57) else errno.EINVAL
                self.assertErrno(want, vcpu.set_cpuid2, with_vaddr_bits(bits))
        vcpu.set_cpuid2(base)
        tdx_cmd.init_vcpu(vcpu)

    def test_get_cpuid2_exact_count(self):
        """KVM_GET_CPUID2 on a TD vCPU with nent exactly the table's size returns
        the table; one fewer is E2BIG (kvm_vcpu_ioctl_get_cpuid2())."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        vcpu = vm.create_vcpu(0)
        table = td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu))
        vcpu.set_cpuid2(table)
        self.assertEqual(vcpu.get_cpuid2(len(table)), table)
        self.assertErrno(errno.E2BIG, vcpu.get_cpuid2, len(table) - 1)
        self.assertEqual(vcpu.get_cpuid2(len(table)), table, "read twice")

    def test_run_before_finalize(self):
        """KVM_RUN on a TD that is not finalized: EINVAL (§2.8 step 10)."""
        b = self.td_before_finalize()
        self.assertErrno(errno.EINVAL, b.gvm.vcpus[0].run)
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_finalize_twice(self):
        gvm, vcpu = self.create_td("guest_done")
        self.assertErrno(errno.EINVAL, tdx_cmd.finalize_vm, gvm.vm)
        vcpu.run_until_done()

    def test_finalize_without_initialized_vcpu(self):
        """KVM_TDX_FINALIZE_VM when no vCPU passed KVM_TDX_INIT_VCPU (none created,
        or one created only): the TDX module answers TDX_NO_VCPUS, which KVM takes
        for a bug: EIO, the status in hw_error, and the VM is dead, every later
        ioctl on it and its vCPUs EIO (tdx_td_finalize(), TDX_BUG_ON; all releases)."""
        for create in (False, True):
            with self.subTest(vcpu_created=create):
                b = self.td_builder("guest_done")
                vm = b.create_vm()
                b.init_vm()
                vcpu = vm.create_vcpu(0) if create else None
                cmd = tdx_cmd.new_cmd(abi.KVM_TDX_FINALIZE_VM)
                self.assertErrno(errno.EIO, tdx_cmd.tdx_ioctl, vm, cmd)
                self.assertEqual(cmd.hw_error, TDX_NO_VCPUS, "hw_error: %#x" % cmd.hw_error)
                self.assertErrno(errno.EIO, vm.check_extension, abi.KVM_CAP_MAX_VCPUS)
                self.assertErrno(errno.EIO, tdx_cmd.finalize_vm, vm)
                if vcpu is not None:
                    self.assertErrno(errno.EIO, vcpu.get_mp_state)
                vm.close()

    # -- ordinary ioctls on a TD vCPU --

    def run_immediate_exit(self, vcpu):
        """One KVM_RUN with kvm_run.immediate_exit set (cleared again): its errno."""
        vcpu.kvm_run.immediate_exit = 1
        try:
            with self.assertRaises(OSError) as ctx:
                self.kvm.system.ioctl(vcpu.fd, abi.KVM_RUN, 0)
        finally:
            vcpu.kvm_run.immediate_exit = 0
        return ctx.exception.errno

    def test_run_ap_before_init_vcpu(self):
        """KVM_RUN on an AP that KVM_TDX_INIT_VCPU never made RUNNABLE: it starts
        UNINITIALIZED (in-kernel LAPIC), so KVM blocks it until a signal, and
        nothing a TD can send (INIT/SIPI are blocked) wakes it: EINTR with
        KVM_EXIT_INTR when the watchdog's signal comes; with immediate_exit set,
        EINTR at once, exit_reason left as it was (x86.c
        kvm_arch_vcpu_ioctl_run(): KVM_EXIT_INTR only for a pending signal after
        the block).  The BSP, RUNNABLE,
        also returns EINTR at once with immediate_exit set (and nothing ran:
        its guest still completes), then runs on."""
        b = self.td_before_finalize()
        ap = b.vm.create_vcpu(1)
        b.finalize()
        self.assertEqual(ap.get_mp_state(), abi.KVM_MP_STATE_UNINITIALIZED)
        ap.kvm_run.exit_reason = POISON_EXIT_REASON
        self.assertEqual(self.run_immediate_exit(ap), errno.EINTR, "KVM_RUN with immediate_exit set")
        self.assertEqual(ap.kvm_run.exit_reason, POISON_EXIT_REASON, "exit_reason after the immediate exit")
        with self.assertRaises(VcpuTimeout):
            ap.run(timeout=AP_BLOCK_TIMEOUT)
        self.assertEqual(ap.kvm_run.exit_reason, abi.KVM_EXIT_INTR)
        bsp = b.gvm.vcpus[0]
        self.assertEqual(self.run_immediate_exit(bsp), errno.EINTR, "the BSP's KVM_RUN with immediate_exit set")
        bsp.run_until_done()

    def test_set_mp_state_init_received(self):
        """KVM_SET_MP_STATE(INIT_RECEIVED) on a TD vCPU (generation row
        mp-state-init-at-run): INIT/SIPI are blocked for a TD, so before 6.17 the
        ioctl fails EINVAL (and so does SIPI_RECEIVED); since 6.17 it is taken and
        the next KVM_RUN fails EINVAL, until userspace makes the vCPU RUNNABLE.
        An x86 state KVM does not know is EINVAL in every release."""
        gvm, vcpu = self.create_td("guest_done")
        self.assertErrno(errno.EINVAL, vcpu.set_mp_state, MP_STATE_SUSPENDED)
        if not self.kernel_has("mp-state-init-at-run"):
            for state in (abi.KVM_MP_STATE_INIT_RECEIVED, abi.KVM_MP_STATE_SIPI_RECEIVED):
                with self.subTest(state=state):
                    self.assertErrno(errno.EINVAL, vcpu.set_mp_state, state)
                    self.assertEqual(vcpu.get_mp_state(), abi.KVM_MP_STATE_RUNNABLE)
        else:
            # SIPI_RECEIVED is left out: KVM pends a SIPI that a TD can never
            # take, and newer kernels WARN about it when they look.
            vcpu.set_mp_state(abi.KVM_MP_STATE_INIT_RECEIVED)
            self.assertEqual(vcpu.get_mp_state(), abi.KVM_MP_STATE_INIT_RECEIVED)
            self.assertErrno(errno.EINVAL, vcpu.run)
            vcpu.set_mp_state(abi.KVM_MP_STATE_RUNNABLE)
        vcpu.run_until_done()

    def test_set_tsc_khz(self):
        """KVM_SET_TSC_KHZ: the TDX module owns a TD's TSC, so on a vCPU fd it
        fails EINVAL (row tsc-khz-vcpu, every release).  On the VM fd it sets the
        frequency KVM_TDX_INIT_VM gives the module while no vCPU exists; once one
        does it fails EINVAL since 6.17 (row tsc-khz-vm-after-vcpu) and succeeds
        before, without effect on existing vCPUs."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        khz = vm.get_tsc_khz()
        self.assertGreater(khz, 0)
        vm.set_tsc_khz(khz)
        b.init_vm()
        b.add_vcpus()
        vcpu = b.gvm.vcpus[0]
        want = errno.EINVAL if self.kernel_has("tsc-khz-vcpu") else 0
        self.assertErrno(want, vcpu.set_tsc_khz, khz)
        want = errno.EINVAL if self.kernel_has("tsc-khz-vm-after-vcpu") else 0
        self.assertErrno(want, vm.set_tsc_khz, khz)
        self.assertEqual(vm.get_tsc_khz(), khz)
        b.add_memory()
        b.finalize()
        vcpu.run_until_done()

    def test_guest_debug_and_lapic_protected(self):
        """KVM_SET_GUEST_DEBUG (guest_state_protected) and KVM_GET_LAPIC /
        KVM_SET_LAPIC (apic->guest_apic_protected): EINVAL on a TD vCPU, before
        and after the TD runs (x86.c; all releases)."""
        gvm, vcpu = self.create_td("guest_done")
        for when in ("before KVM_RUN", "after KVM_RUN"):
            with self.subTest(when=when):
                self.assertErrno(errno.EINVAL, vcpu.set_guest_debug, abi.KVM_GUESTDBG_ENABLE)
                self.assertErrno(errno.EINVAL, vcpu.set_guest_debug, 0)
                self.assertErrno(errno.EINVAL, vcpu.get_lapic)
                self.assertErrno(errno.EINVAL, vcpu.set_lapic, bytes(1024))
            if when == "before KVM_RUN":
                vcpu.run_until_done()

    def test_vcpu_cmd_copied_first(self):
        """A vCPU-fd KVM_MEMORY_ENCRYPT_OP whose struct kvm_tdx_cmd cannot be read
        (generation row vcpu-cmd-first): before KVM_TDX_FINALIZE_VM EFAULT; after
        it, EFAULT since 6.19 (the command is copied first) and EINVAL before
        (the finalized TD was refused first)."""
        b = self.td_before_finalize()
        vcpu = b.gvm.vcpus[0]
        unreadable = ffi.cast("struct kvm_tdx_cmd *", UNMAPPED_ADDR)
        self.assertErrno(errno.EFAULT, vcpu.memory_encrypt_op, unreadable)
        b.finalize()
        want = errno.EFAULT if self.kernel_has("vcpu-cmd-first") else errno.EINVAL
        self.assertErrno(want, vcpu.memory_encrypt_op, unreadable)
        vcpu.run_until_done()


    # -- TDX commands racing from host threads (tdx.lib.races) --

    def td_one_vcpu_initialized(self):
        """A TD of two vCPUs whose image is added through vCPU 0; vCPU 1 is
        created and has its CPUID, but no KVM_TDX_INIT_VCPU yet."""
        b = self.td_builder("guest_done", nr_vcpus=2)
        b.create_vm()
        b.init_vm()
        for i in range(2):
            vcpu = b.vm.create_vcpu(i, cls=td.GuestVcpu)
            vcpu.guest = b.gvm
            vcpu.index = i
            vcpu.set_cpuid2(td.vcpu_cpuid(tdx_cmd.get_cpuid(vcpu)))
            b.gvm.vcpus.append(vcpu)
        tdx_cmd.init_vcpu(b.gvm.vcpus[0], b.rcx)
        b.add_memory()
        return b

    def outcomes(self, results):
        """0, an errno, or races.TIMEOUT per raced call (anything else fails)."""
        out = []
        for r in results:
            if isinstance(r, KvmError):
                out.append(r.errno)
            elif isinstance(r, BaseException):
                raise r
            else:
                out.append(r if r == races.TIMEOUT else 0)
        return out

    def race(self, fixed, *calls):
        """The calls from threads at once (tdx.lib.races) where the kernel has
        the fix (`fixed`, its generation row's answer); on older kernels, which
        can KVM_BUG_ON() the TD in that race, one after the other in the same
        order (the answers the race must give too)."""
        if fixed:
            return races.run(self.kvm.system, *calls)
        print("# older kernel: the calls run one after the other")
        results = []
        for call in calls:
            try:
                results.append(call())
            except KvmError as e:
                results.append(e)
        return results

    def run_all(self, b):
        """The TD is alive: every initialised vCPU runs its guest to the end."""
        for vcpu in b.gvm.vcpus:
            vcpu.run_until_done()

    def test_init_mem_region_races_init_vcpu(self):
        """KVM_TDX_INIT_MEM_REGION with MEASURE on vCPU 0 and KVM_TDX_INIT_VCPU of
        vCPU 1 from two threads at once: both 0, then FINALIZE and both vCPUs
        run.  KVM holds kvm->lock, every vcpu->mutex and slots_lock for both
        (tdx_acquire_vm_state_locks(), generation row vm-state-ebusy), so
        TDH.MR.EXTEND and TDH.VP.CREATE never meet in the TDX module; before,
        INIT_VCPU held only its own vcpu->mutex and the TD could die (EIO)."""
        system = self.kvm.system
        for _ in range(races.rounds(system)):
            b = self.td_one_vcpu_initialized()
            gpa = boot.SHARED_GPA - PAGE_SIZE          # private, and not a page of the image
            self.assertNotIn(gpa, dict(b.gvm.layout.ranges()), "the image reaches the shared area")
            source = b.vm.alloc(PAGE_SIZE)
            vcpu0, vcpu1 = b.gvm.vcpus
            results = self.race(self.kernel_has("vm-state-ebusy"),
                                lambda: tdx_cmd.init_mem_region(vcpu0, gpa, source.addr, 1, measure=True),
                                lambda: tdx_cmd.init_vcpu(vcpu1, b.rcx))
            self.assertEqual(self.outcomes(results), [0, 0], "INIT_MEM_REGION, INIT_VCPU")
            b.finalize()
            self.run_all(b)
            b.gvm.close()

    def test_finalize_races_init_vcpu(self):
        """KVM_TDX_FINALIZE_VM and KVM_TDX_INIT_VCPU of vCPU 1 from two threads at
        once: serialised under the VM state locks (generation row
        vm-state-ebusy), FINALIZE succeeds and INIT_VCPU either came first (0)
        or finds the TD finalised (EINVAL); the TD runs.  Before 6.19
        TDH.VP.CREATE could meet TDH.MR.FINALIZE: FINALIZE EBUSY, or a dead TD."""
        system = self.kvm.system
        for _ in range(races.rounds(system)):
            b = self.td_one_vcpu_initialized()
            vcpu0, vcpu1 = b.gvm.vcpus
            finalize, init_vcpu = self.outcomes(self.race(self.kernel_has("vm-state-ebusy"), b.finalize,
                                                          lambda: tdx_cmd.init_vcpu(vcpu1, b.rcx)))
            self.assertEqual(finalize, 0, "FINALIZE_VM")
            self.assertIn(init_vcpu, (0, errno.EINVAL), "INIT_VCPU")
            vcpu0.run_until_done()
            if init_vcpu == 0:
                vcpu1.run_until_done()
            b.gvm.close()

    def test_punch_hole_races_init_vcpu(self):
        """KVM_TDX_INIT_VCPU of vCPU 1 and fallocate(PUNCH_HOLE) of a guest_memfd
        whose page was added to the TD, from two threads at once: both succeed
        and the TD runs.  The S-EPT removal holds mmu_lock for write, and so
        does TDH.VP.INIT from 6.19 (generation row vp-init-mmu-lock); before,
        the two met on the TDX module's TDR resource and the TD could die."""
        system = self.kvm.system
        for _ in range(races.rounds(system)):
            b = self.td_one_vcpu_initialized()
            vcpu0, vcpu1 = b.gvm.vcpus
            gmem = b.vm.create_guest_memfd(PAGE_SIZE)
            mem = b.vm.alloc(PAGE_SIZE)
            b.vm.set_user_memory_region2(RACE_SLOT, abi.KVM_MEM_GUEST_MEMFD, boot.MMIO_GPA, PAGE_SIZE, mem.addr,
                                         gmem, 0)
            b.vm.set_memory_attributes(boot.MMIO_GPA, PAGE_SIZE, abi.KVM_MEMORY_ATTRIBUTE_PRIVATE)
            source = b.vm.alloc(PAGE_SIZE)
            tdx_cmd.init_mem_region(vcpu0, boot.MMIO_GPA, source.addr, 1, measure=False)
            hole = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
            # INIT_VCPU first: the hole is punched between its TDH.VP.CREATE and TDH.VP.INIT.
            results = self.race(self.kernel_has("vp-init-mmu-lock"), lambda: tdx_cmd.init_vcpu(vcpu1, b.rcx),
                                lambda: system.fallocate(gmem, hole, 0, PAGE_SIZE))
            self.assertEqual(self.outcomes(results), [0, 0], "INIT_VCPU, PUNCH_HOLE")
            b.finalize()
            self.run_all(b)
            b.gvm.close()


if __name__ == "__main__":
    main()
