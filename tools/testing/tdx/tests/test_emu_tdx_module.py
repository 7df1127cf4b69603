# SPDX-License-Identifier: GPL-2.0-only
"""emu/tdx_module.py (and regs.py, measurement.py) against the TDX module source.

TDCALL dispatch and statuses (tdx_td_dispatcher.c), the TDG.VP.VMCALL register
mask - rejection, leakage of unexposed registers to the VMM, preservation for
the guest, copy-back of exposed ones (tdg_vp_vmcall.c, tdh_vp_enter.c;
docs/kvm-tdx-uapi.md §4.1) - TDG.VP.INFO (§6), TDG.VP.VEINFO.GET, TDG.MEM.PAGE.ACCEPT,
the TD vCPU's initial GPRs (tdh_vp_init.c) and MRTD.
"""

import errno
import hashlib
import itertools
import unittest
from unittest import mock

from tdx.lib import abi, ghci
from tdx.lib.abi import ffi
from tdx.emu import measurement
from tdx.emu.errors import EmuMemoryFault, EmuRunError
from tdx.emu.measurement import Measurement
from tdx.emu.regs import GPR_NAMES, Regs
from tdx.emu.state import VeInfo
from tdx.emu.tdx_module import TdxModule
from tdx.tests.emu_helpers import SHARED_BIT, Run, guest_regs, make_td, tdvmcall

OPERAND_INVALID_RAX = 0xC000010000000000
OPERAND_INVALID_RCX = 0xC000010000000001
NO_VALID_VE_INFO = 0xC000070400000000


class Base(unittest.TestCase):

    def setUp(self):
        self.vm, self.vcpu = make_td()
        self.run = Run()
        self.module = TdxModule()

    def tdcall(self, rax, **values):
        regs = guest_regs(**values)
        regs.rax = rax
        before = regs.copy()
        exited = self.module.tdcall(self.vm, self.vcpu, regs, self.run.run)
        return exited, regs, before


class RegsTests(unittest.TestCase):

    def test_x86_index_order(self):
        self.assertEqual(GPR_NAMES[:8], ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"))
        r = Regs()
        r.set_gpr(3, 7)
        self.assertEqual(r.rbx, 7)
        r.r15 = -1
        self.assertEqual(r.gpr(15), 2 ** 64 - 1)

    def test_kvm_regs_round_trip(self):
        k = ffi.new("struct kvm_regs *")
        for i, name in enumerate(("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
                                  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")):
            setattr(k, name, 0x100 + i)
        k.rip, k.rflags = 0xFFF0, 0x202
        r = Regs.from_kvm_regs(k)
        self.assertEqual((r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi),
                         (0x100, 0x102, 0x103, 0x101, 0x106, 0x107, 0x104, 0x105))
        self.assertEqual((r.rip, r.rflags), (0xFFF0, 0x202))
        out = ffi.new("struct kvm_regs *")
        r.to_kvm_regs(out)
        self.assertEqual(bytes(ffi.buffer(out)), bytes(ffi.buffer(k)))


class Dispatch(Base):

    def test_unknown_leaf(self):
        for leaf in (13, 0x40, 0xFFFF):
            with self.subTest(leaf=leaf):
                exited, regs, before = self.tdcall(leaf)
                self.assertFalse(exited)
                self.assertEqual(regs.rax, OPERAND_INVALID_RAX)

    def test_unimplemented_leaf_answers_like_unknown(self):
        exited, regs, before = self.tdcall(ghci.TDG_MR_REPORT)
        self.assertEqual(regs.rax, OPERAND_INVALID_RAX)

    def test_version_only_for_vm_rd_and_veinfo_get(self):
        exited, regs, before = self.tdcall(1 << 16 | ghci.TDG_VP_INFO)
        self.assertEqual(regs.rax, OPERAND_INVALID_RAX)
        exited, regs, before = self.tdcall(1 << 16 | ghci.TDG_VP_VMCALL, r11=ghci.TDVMCALL_GET_TD_VM_CALL_INFO)
        self.assertEqual(regs.rax, OPERAND_INVALID_RAX)
        self.assertEqual(self.run.run.exit_reason, 0)

    def test_reserved_rax_bits(self):
        for bit in (24, 31, 32, 63):
            with self.subTest(bit=bit):
                exited, regs, before = self.tdcall(1 << bit | ghci.TDG_VP_INFO)
                self.assertEqual(regs.rax, OPERAND_INVALID_RAX)


class VmcallMask(Base):
    """§4.1: the RCX exposure mask."""

    def test_rejected_mask_bits(self):
        for bit in (0, 1, 4, 5, 32, 63):
            with self.subTest(bit=bit):
                exited, regs, before = self.tdcall(0, rcx=ghci.TDVMCALL_EXPOSE_REGS_MASK | 1 << bit,
                                                   r11=ghci.TDVMCALL_REPORT_FATAL_ERROR)
                self.assertFalse(exited)
                self.assertEqual(self.run.run.exit_reason, 0)           # no TD exit
                self.assertEqual(regs.rax, OPERAND_INVALID_RCX)
                after = regs.copy()
                after.rax = 0
                self.assertEqual(after, before)

    def test_xmm_select_is_accepted(self):
        exited, regs = tdvmcall(self.vm, self.vcpu, self.run, ghci.TDVMCALL_GET_TD_VM_CALL_INFO,
                                mask=0xFFFF0000 | ghci.TDVMCALL_EXPOSE_REGS_MASK, r12=0)
        self.assertEqual((regs.rax, regs.r10), (0, 0))

    def test_minimal_mask(self):
        # Only R10-R12 exposed: a GHCI call with nothing else.
        exited, regs = tdvmcall(self.vm, self.vcpu, self.run, ghci.TDVMCALL_GET_TD_VM_CALL_INFO,
                                mask=0x1C00, r12=0)
        self.assertFalse(exited)
        self.assertEqual((regs.r10, regs.r11, regs.r12), (0, 0, 0))

    def test_unexposed_registers_reach_the_vmm_as_zero(self):
        mask = 1 << 10 | 1 << 11 | 1 << 12 | 1 << 3            # R10-R12, RBX
        regs = guest_regs(ghci.TDVMCALL_REPORT_FATAL_ERROR, mask=mask)
        self.assertTrue(self.module.tdcall(self.vm, self.vcpu, regs, self.run.run))
        vmm = self.vcpu.vp_enter_args
        for i, name in enumerate(GPR_NAMES):
            if i == 1:
                self.assertEqual(vmm.rcx, mask, "RCX = TD exit qualification")
            elif i in (0, 5):
                continue                                       # RAX = exit reason; RBP untouched
            elif mask >> i & 1:
                self.assertEqual(vmm.gpr(i), regs.gpr(i), name)
            else:
                self.assertEqual(vmm.gpr(i), 0, "%s leaked to the VMM" % name)
        self.assertEqual(vmm.rax, ghci.EXIT_REASON_TDCALL)
        self.assertNotEqual(vmm.rbp, regs.rbp)

    def test_exposed_outputs_copied_back_unexposed_preserved(self):
        # GetTdVmCallInfo leaf 0 zeroes R11-R14 in KVM's view; R13/R14 are not exposed.
        mask = 1 << 10 | 1 << 11 | 1 << 12
        exited, regs = tdvmcall(self.vm, self.vcpu, self.run, ghci.TDVMCALL_GET_TD_VM_CALL_INFO,
                                mask=mask, r12=0, r13=0x1313, r14=0x1414)
        self.assertFalse(exited)
        self.assertEqual((regs.r11, regs.r12), (0, 0))
        self.assertEqual((regs.r13, regs.r14), (0x1313, 0x1414))
        for i in (2, 3, 6, 7, 8, 9, 15):
            self.assertEqual(regs.gpr(i), 0x1111111111110000 + i, GPR_NAMES[i])

    def test_kvm_output_in_unexposed_register_is_lost(self):
        # CPUID answers in R12-R15; R14/R15 not exposed -> the guest keeps its values.
        mask = 1 << 10 | 1 << 11 | 1 << 12 | 1 << 13
        exited, regs = tdvmcall(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_CPUID, mask=mask, r12=0, r13=0)
        self.assertEqual(regs.r12, 0xD)
        self.assertEqual((regs.r14, regs.r15), (0x111111111111000E, 0x111111111111000F))

    def test_rax_and_rcx_after_vmcall(self):
        exited, regs = tdvmcall(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_CPUID, mask=0xFC0C, r12=1)
        self.assertEqual((regs.rax, regs.rcx), (ghci.TDX_SUCCESS, 0xFC0C))

    def test_exit_leaves_guest_registers_until_completion(self):
        regs = guest_regs(ghci.TDVMCALL_GET_TD_VM_CALL_INFO, r12=1)
        before = regs.copy()
        self.assertTrue(self.module.tdcall(self.vm, self.vcpu, regs, self.run.run))
        self.assertEqual(regs, before)
        self.run.run.tdx.get_tdvmcall_info.r11 = 2
        self.assertFalse(self.module.complete(self.vm, self.vcpu, regs, self.run.run))
        self.assertEqual((regs.rax, regs.r10, regs.r11), (0, 0, 2))

    def test_complete_without_outstanding_vmcall_is_a_noop(self):
        regs = guest_regs(0)
        before = regs.copy()
        self.assertFalse(self.module.complete(self.vm, self.vcpu, regs, self.run.run))
        self.assertEqual(regs, before)

    def test_complete_after_run_error_resumes_next_time(self):
        regs = guest_regs(ghci.TDVMCALL_MAP_GPA, r12=SHARED_BIT, r13=0x1000)
        self.assertTrue(self.module.tdcall(self.vm, self.vcpu, regs, self.run.run))
        self.run.run.hypercall.ret = 5
        with self.assertRaises(EmuRunError):
            self.module.complete(self.vm, self.vcpu, regs, self.run.run)
        self.assertFalse(self.module.complete(self.vm, self.vcpu, regs, self.run.run))
        self.assertIsNone(self.vcpu.vmcall_ctl)
        self.assertEqual(regs.r10, 0)


class VpInfo(Base):
    """§6"""

    def test_outputs(self):
        self.vm.num_vcpus, self.vm.max_vcpus, self.vcpu.index = 2, 8, 1
        exited, regs, before = self.tdcall(ghci.TDG_VP_INFO)
        self.assertFalse(exited)
        self.assertEqual((regs.rax, regs.rcx, regs.rdx, regs.r8, regs.r9, regs.r10, regs.r11),
                         (0, 48, ghci.TDX_ATTR_SEPT_VE_DISABLE, 8 << 32 | 2, 1, 1, 0))
        self.assertEqual((regs.rbx, regs.rsi, regs.r12), (before.rbx, before.rsi, before.r12))

    def test_gpaw_52(self):
        self.vm, self.vcpu = make_td(gpaw=52)
        exited, regs, before = self.tdcall(ghci.TDG_VP_INFO)
        self.assertEqual(regs.rcx, 52)


class VeInfoGet(Base):

    def test_no_valid_info(self):
        exited, regs, before = self.tdcall(ghci.TDG_VP_VEINFO_GET)
        self.assertEqual(regs.rax, NO_VALID_VE_INFO)
        self.assertEqual((regs.rcx, regs.rdx, regs.r8, regs.r9, regs.r10), (0, 0, 0, 0, 0))

    def test_info_is_returned_once(self):
        self.vcpu.ve_info = (48, 0x2, 0x7000, 0xFEC00000, 0x0000000300000000, )
        exited, regs, before = self.tdcall(ghci.TDG_VP_VEINFO_GET)
        self.assertEqual((regs.rax, regs.rcx, regs.rdx, regs.r8, regs.r9, regs.r10),
                         (0, 48, 0x2, 0x7000, 0xFEC00000, 0x0000000300000000))
        self.assertIsNone(self.vcpu.ve_info)
        exited, regs, before = self.tdcall(ghci.TDG_VP_VEINFO_GET)
        self.assertEqual(regs.rax, NO_VALID_VE_INFO)

    def test_version1_reports_category(self):
        self.vcpu.ve_info = VeInfo(30, 0, 0, 0, 0, category=1)
        exited, regs, before = self.tdcall(1 << 16 | ghci.TDG_VP_VEINFO_GET)
        self.assertEqual((regs.rax, regs.rcx), (0, 1 << 32 | 30))

    def test_version0_hides_category(self):
        self.vcpu.ve_info = VeInfo(30, 0, 0, 0, 0, category=1)
        exited, regs, before = self.tdcall(ghci.TDG_VP_VEINFO_GET)
        self.assertEqual(regs.rcx, 30)

    def test_version2_is_operand_invalid(self):
        self.vcpu.ve_info = VeInfo(30, 0, 0, 0, 0)
        exited, regs, before = self.tdcall(2 << 16 | ghci.TDG_VP_VEINFO_GET)
        self.assertEqual(regs.rax, OPERAND_INVALID_RAX)
        self.assertIsNotNone(self.vcpu.ve_info)


class PageAccept(Base):

    def accept(self, rcx):
        exited, regs, before = self.tdcall(ghci.TDG_MEM_PAGE_ACCEPT, rcx=rcx)
        self.assertFalse(exited)
        return regs.rax

    def test_success(self):
        self.assertEqual(self.accept(0x200000), 0)
        self.assertEqual(self.vm.memory.accepted, [(0x200000, 0)])
        self.assertEqual(self.accept(0x400000 | 1), 0)
        self.assertEqual(self.vm.memory.accepted[-1], (0x400000, 1))

    def test_already_accepted_carries_level(self):
        self.vm.memory.accept_result = "already-accepted"
        self.assertEqual(self.accept(0x200000), 0x00000B0A00000000)

    def test_size_mismatch_carries_level(self):
        self.vm.memory.accept_result = "size-mismatch"
        self.assertEqual(self.accept(0x200000 | 1), 0xC0000B0B00000001)

    def test_status_from_memory_passes_through(self):
        self.vm.memory.accept_result = 0x8000020000000000
        self.assertEqual(self.accept(0x200000), 0x8000020000000000)

    def test_invalid_operands(self):
        cases = {
            "reserved 11:3": 0x200000 | 1 << 3,
            "reserved 63:52": 1 << 52 | 0x200000,
            "level 2": 0x40000000 | 2,
            "2M unaligned": 0x201000 | 1,
            "shared bit": SHARED_BIT | 0x200000,
            "above GPAW": 1 << 48 | 0x200000,
        }
        for what, rcx in cases.items():
            with self.subTest(what):
                self.assertEqual(self.accept(rcx), OPERAND_INVALID_RCX)
        self.assertEqual(self.vm.memory.accepted, [])

    def test_not_private_is_a_memory_fault(self):
        self.vm.memory.accept_result = "invalid"
        regs = guest_regs()
        regs.rax, regs.rcx = ghci.TDG_MEM_PAGE_ACCEPT, 0x203000
        with self.assertRaises(EmuRunError) as ctx:
            self.module.tdcall(self.vm, self.vcpu, regs, self.run.run)
        self.assertEqual(ctx.exception.errno, errno.EFAULT)
        mf = self.run.run.memory_fault
        self.assertEqual((self.run.run.exit_reason, mf.flags, mf.gpa, mf.size),
                         (abi.KVM_EXIT_MEMORY_FAULT, abi.KVM_MEMORY_EXIT_FLAG_PRIVATE, 0x203000, 4096))

    def test_fault_path_before_accept(self):
        """KVM's fault path (kvm->srcu, the local retry) runs for the GPA
        first; a signal there fails KVM_RUN with EINTR and KVM_EXIT_INTR, the
        accept not done."""
        self.accept(0x200000)
        self.assertEqual(self.vm.memory.faulted, [0x200000])
        self.vm.memory.fault_error = EmuRunError(errno.EINTR)
        regs = guest_regs()
        regs.rax, regs.rcx = ghci.TDG_MEM_PAGE_ACCEPT, 0x203000
        with self.assertRaises(EmuRunError) as ctx:
            self.module.tdcall(self.vm, self.vcpu, regs, self.run.run)
        self.assertEqual(ctx.exception.errno, errno.EINTR)
        self.assertEqual(self.run.run.exit_reason, abi.KVM_EXIT_INTR)
        self.assertEqual(self.vm.memory.accepted, [(0x200000, 0)])

    def test_fault_path_signal_is_immediate_exit(self):
        """The fault path's signal_pending() (what ends the local retry with
        EINTR on releases before 6.18) is true exactly while kvm_run's
        immediate_exit is set, which the library's watchdog and the platform's
        kicks set with their signal."""
        self.accept(0x200000)
        pending = self.vm.memory.signal_pending
        for immediate_exit in (0, 1, 0):
            self.run.run.immediate_exit = immediate_exit
            self.assertIs(pending(), bool(immediate_exit))

    def test_memory_fault_raised_by_memory(self):
        self.vm.memory.accept_result = EmuMemoryFault(0x205000, 4096, private=True)
        regs = guest_regs()
        regs.rax, regs.rcx = ghci.TDG_MEM_PAGE_ACCEPT, 0x205000
        with self.assertRaises(EmuMemoryFault):
            self.module.tdcall(self.vm, self.vcpu, regs, self.run.run)
        self.assertEqual(self.run.run.memory_fault.gpa, 0x205000)


class InitialState(unittest.TestCase):
    """tdh_vp_init.c init_vcpu_gprs_and_registers()"""

    def test_initial_gprs(self):
        vm, vcpu = make_td(gpaw=52)
        vcpu.index, vcpu.init_rcx = 3, 0xABCDEF
        k = ffi.new("struct kvm_regs *", {"rip": 0xFFFFFFF0, "rflags": 2, "rsp": 5, "rdi": 6})
        TdxModule().initial_regs(vm, vcpu, k)
        self.assertEqual((k.rbx, k.rcx, k.r8, k.rdx, k.rsi), (52, 0xABCDEF, 0xABCDEF, 0x806F8, 3))
        self.assertEqual((k.rax, k.rsp, k.rbp, k.rdi, k.r9, k.r15), (0, 0, 0, 0, 0, 0))
        self.assertEqual((k.rip, k.rflags), (0xFFFFFFF0, 2))

    def test_gpaw_48(self):
        vm, vcpu = make_td(gpaw=48)
        self.assertEqual(TdxModule.initial_gprs(vm, vcpu).rbx, 48)


class Mrtd(unittest.TestCase):

    def block(self, name, gpa):
        return name + bytes(16 - len(name)) + gpa.to_bytes(8, "little") + bytes(104)

    def test_page_add_and_extend_chain(self):
        page = bytes(range(256)) * 16
        m = Measurement()
        m.add_page(0x100000, page, measure=True)
        m.add_page(0x101000, page, measure=False)
        h = hashlib.sha384()
        h.update(self.block(b"MEM.PAGE.ADD", 0x100000))
        for off in range(0, 4096, 256):
            h.update(self.block(b"MR.EXTEND", 0x100000 + off))
            h.update(page[off:off + 256])
        h.update(self.block(b"MEM.PAGE.ADD", 0x101000))
        self.assertEqual(m.finalize(), h.digest())
        self.assertEqual(len(m.mrtd), 48)

    def mrtd(self, pages):
        """SHA-384 over TDH.MEM.PAGE.ADD and TDH.MR.EXTEND of `pages`, computed here."""
        h = hashlib.sha384()
        for gpa, page in pages:
            h.update(self.block(b"MEM.PAGE.ADD", gpa))
            for off in range(0, 4096, 256):
                h.update(self.block(b"MR.EXTEND", gpa + off))
                h.update(page[off:off + 256])
        return h.digest()

    def test_fresh_td_shares_nothing_with_an_earlier_one(self):
        """The hash states are cached across TDs (emu/measurement.py): a TD
        whose first page is the second page of the first TD measured in the
        process (same GPA, same bytes) still starts from TDH.MNG.INIT's empty
        state, not from the first TD's state after that page."""
        first = [(0x100000, b"\x11" * 4096), (0x101000, b"\x22" * 4096)]
        second = [(0x101000, b"\x22" * 4096), (0x102000, b"\x33" * 4096)]
        with mock.patch.object(measurement, "_CHAIN", {}), \
                mock.patch.object(measurement, "_NEXT_KEY", itertools.count(1)):
            for pages in (first, second, first):
                m = Measurement()
                for gpa, page in pages:
                    m.add_page(gpa, page, measure=True)
                self.assertEqual(m.finalize(), self.mrtd(pages))


if __name__ == "__main__":
    unittest.main()
