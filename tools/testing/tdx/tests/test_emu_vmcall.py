# SPDX-License-Identifier: GPL-2.0-only
"""emu/vmcall.py against docs/kvm-tdx-uapi.md §4 and §7, leaf by leaf.

For each TDG.VP.VMCALL leaf: the accepted input (exit fields exactly as KVM
fills them), each rejected input (one test per rule), the completion, and the
R10/R11 semantics - including the success paths that never write R10, checked
with a register file that records writes (SpyRegs).  Fault-switch tests show
that each switch changes exactly the behaviour it names.
"""

import errno
import unittest

from tdx.lib import abi, ghci
from tdx.emu.kernel import Kernel
from tdx.emu import faults, msrs as msrs_mod, vmcall
from tdx.emu.errors import EmuRunError
from tdx.emu.state import MsrFilter
from tdx.tests.emu_helpers import (SHARED_BIT, SIG, Run, SpyRegs, default_cpuid, make_td,
                                   resume, tdvmcall)

IO_SIZE_CASES = (0, 3, 5, 8)
KVM_ENOSYS_U64 = 0xFFFFFFFFFFFFFC18


def kvm_view(vm, vcpu, run, leaf, r10=0, **values):
    """Call KVM's handler on a spy register file (KVM's view of the TDVMCALL)."""
    spy = SpyRegs()
    spy.r10, spy.r11 = r10, leaf
    for name, value in values.items():
        setattr(spy, name, value)
    spy.written.clear()
    vcpu.vp_enter_args = spy
    return vmcall.handle_tdvmcall(vm, vcpu, run.run), spy


class Base(unittest.TestCase):
    faults = ()
    user_space_msr = 0

    def setUp(self):
        self.vm, self.vcpu = make_td(faults=self.faults, user_space_msr=self.user_space_msr)
        self.run = Run()

    def call(self, leaf, **values):
        return tdvmcall(self.vm, self.vcpu, self.run, leaf, **values)

    def resume(self, regs):
        return resume(self.vm, self.vcpu, self.run, regs)

    def assertNoExit(self, exited):
        self.assertFalse(exited)
        self.assertEqual(self.run.run.exit_reason, 0)

    def assertStatus(self, regs, status):
        self.assertEqual(regs.r10, status, "R10 %s, expected %s" % (
            ghci.status_name(regs.r10), ghci.status_name(status)))


# --------------------------------------------------------------------------

class Dispatch(Base):
    """§4.3"""

    def test_unknown_leaves_are_subfunc_unsupported_without_exit(self):
        for leaf in (ghci.EXIT_REASON_WBINVD, 49, ghci.TDVMCALL_SERVICE, 0x10006, 0xFFFFFFFF):
            with self.subTest(leaf=hex(leaf)):
                exited, regs = self.call(leaf)
                self.assertNoExit(exited)
                self.assertStatus(regs, ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED)
                self.assertEqual(regs.r11, leaf)


class KvmHypercall(Base):
    """§4.12: R10 != 0"""

    def test_unknown_hypercall_is_enosys(self):
        exited, regs = self.call(0, r10=0x1234)
        self.assertNoExit(exited)
        self.assertEqual(regs.r10, KVM_ENOSYS_U64)

    def test_in_kernel_hypercall_returns_zero_and_writes_run_ret(self):
        self.run.run.hypercall.ret = 0x55
        exited, regs = self.call(0, r10=1)                   # KVM_HC_VAPIC_POLL_IRQ
        self.assertNoExit(exited)
        self.assertEqual(regs.r10, 0)
        self.assertEqual(self.run.run.hypercall.ret, 0)       # ____kvm_emulate_hypercall stores it

    def test_map_gpa_range_exits_with_raw_args(self):
        gpa = SHARED_BIT | 0x200000
        exited, regs = self.call(0x77, r10=abi.KVM_HC_MAP_GPA_RANGE, r11=gpa, r12=3, r13=0x11)
        self.assertTrue(exited)
        hc = self.run.run.hypercall
        self.assertEqual(self.run.run.exit_reason, abi.KVM_EXIT_HYPERCALL)
        self.assertEqual((hc.nr, hc.args[0], hc.args[1], hc.args[2], hc.ret, hc.flags),
                         (abi.KVM_HC_MAP_GPA_RANGE, gpa, 3, 0x11, 0, abi.KVM_EXIT_HYPERCALL_LONG_MODE))
        hc.ret = 0xABC
        self.assertFalse(self.resume(regs))
        self.assertEqual(regs.r10, 0xABC)                     # complete_hypercall_exit

    def test_map_gpa_range_without_cap_is_enosys(self):
        self.vm.hypercall_exit_enabled = 0
        exited, regs = self.call(0, r10=abi.KVM_HC_MAP_GPA_RANGE, r11=0x1000, r12=1)
        self.assertNoExit(exited)
        self.assertEqual(regs.r10, KVM_ENOSYS_U64)

    def test_map_gpa_range_unaligned_is_einval(self):
        exited, regs = self.call(0, r10=abi.KVM_HC_MAP_GPA_RANGE, r11=0x1001, r12=1)
        self.assertNoExit(exited)
        self.assertEqual(regs.r10, (-abi.KVM_EINVAL) & (2 ** 64 - 1))

    def test_map_gpa_range_zero_pages_is_einval(self):
        exited, regs = self.call(0, r10=abi.KVM_HC_MAP_GPA_RANGE, r11=0x1000, r12=0)
        self.assertNoExit(exited)
        self.assertEqual(regs.r10, (-abi.KVM_EINVAL) & (2 ** 64 - 1))


# --------------------------------------------------------------------------

class Cpuid(Base):
    """§4.4 and §7"""

    def cpuid(self, leaf, subleaf=0, **kw):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_CPUID,
                               r12=leaf, r13=subleaf, **kw)
        self.assertNoExit(exited)
        self.assertNotIn("r10", spy.written)                  # R10 untouched
        return spy.r12, spy.r13, spy.r14, spy.r15

    def test_answers_from_the_kvm_set_cpuid2_table(self):
        self.assertEqual(self.cpuid(7, 0), (1, 0x11111111, 0x22222222, 0x33333333))
        exited, regs = self.call(ghci.EXIT_REASON_CPUID, r12=7, r13=0)
        self.assertEqual((regs.r12, regs.r13, regs.r14, regs.r15), (1, 0x11111111, 0x22222222, 0x33333333))
        self.assertEqual(regs.r10, 0)

    def test_significant_index_selects_the_subleaf(self):
        self.assertEqual(self.cpuid(7, 1)[0], 0x44444444)

    def test_index_ignored_without_significant_flag(self):
        self.assertEqual(self.cpuid(1, 5)[0], 0x806F8)

    def test_leaf_and_subleaf_use_32_bits(self):
        self.assertEqual(self.cpuid(0xFFFFFFFF00000007, 0xFFFFFFFF00000001)[0], 0x44444444)

    def test_basic_leaf_above_max_returns_max_basic_leaf(self):
        self.vcpu.cpuid.append((0xD, 1, SIG, 0xD1, 0, 0, 0))
        self.assertEqual(self.cpuid(0x20, 0), (0x2E7, 0xA88, 0xA88, 0))     # leaf 0xD index 0
        self.assertEqual(self.cpuid(0x20, 1)[0], 0xD1)                      # original index kept

    def test_extended_leaf_above_max_returns_max_basic_leaf(self):
        self.assertEqual(self.cpuid(0x80000009), (0x2E7, 0xA88, 0xA88, 0))

    def test_hypervisor_subclass_ranges(self):
        self.vcpu.cpuid += [(0x40000000, 0, 0, 0x40000001, 1, 2, 3), (0x40000001, 0, 0, 9, 0, 0, 0)]
        self.assertEqual(self.cpuid(0x40000001)[0], 9)
        self.assertEqual(self.cpuid(0x40000005)[0], 0x2E7)          # above the sub-class max
        self.assertEqual(self.cpuid(0x40000100)[0], 0x2E7)          # sub-class absent
        # each 0x400000xx..0x4FFFFFxx sub-class has its own maximum (function & 0xffffff00)
        self.vcpu.cpuid += [(0x40000100, 0, 0, 0x40000105, 0, 0, 0)]
        self.assertEqual(self.cpuid(0x40000103), (0, 0, 0, 0))     # in range of 0x400001xx: a plain miss
        self.assertEqual(self.cpuid(0x40000106)[0], 0x2E7)

    def test_centaur_class_absent(self):
        self.assertEqual(self.cpuid(0xC0000001)[0], 0x2E7)

    def test_in_range_miss_is_zero(self):
        self.assertEqual(self.cpuid(5), (0, 0, 0, 0))
        self.assertEqual(self.cpuid(0x80000004), (0, 0, 0, 0))

    def test_amd_vendor_gets_zeros_out_of_range(self):
        self.vcpu.cpuid[0] = (0, 0, 0, 0xD, 0x68747541, 0x444D4163, 0x69746E65)   # AuthenticAMD
        self.assertEqual(self.cpuid(0x20), (0, 0, 0, 0))

    def test_no_leaf0_gives_zeros(self):
        self.vcpu.cpuid = self.vcpu.cpuid[1:]
        self.assertEqual(self.cpuid(0x20), (0, 0, 0, 0))

    def test_topology_leaf_undefined_subleaf(self):
        self.vcpu.cpuid.append((0xB, 1, SIG, 1, 2, 0x201, 0x77))
        self.assertEqual(self.cpuid(0xB, 0x105), (0, 0, 0x05, 0x77))


class Hlt(Base):
    """§4.5"""

    def test_hlt_blocks_in_kernel_without_exit(self):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_HLT, r12=0)
        self.assertNoExit(exited)
        self.assertTrue(self.vcpu.halted)
        self.assertEqual(self.vcpu.mp_state, abi.KVM_MP_STATE_HALTED)
        self.assertEqual(spy.written, set())
        self.assertNotEqual(self.run.run.exit_reason, abi.KVM_EXIT_HLT)


# --------------------------------------------------------------------------

class Io(Base):
    """§4.6"""

    def test_out_sizes(self):
        for size, value in ((1, 0xAB), (2, 0xABCD), (4, 0xFFABCDEF)):
            with self.subTest(size=size):
                exited, regs = self.call(ghci.EXIT_REASON_IO_INSTRUCTION, r12=size, r13=1,
                                         r14=0xE0, r15=0x1122334455667700 | value)
                self.assertTrue(exited)
                io = self.run.run.io
                self.assertEqual(self.run.run.exit_reason, abi.KVM_EXIT_IO)
                self.assertEqual((io.direction, io.size, io.port, io.count, io.data_offset),
                                 (abi.KVM_EXIT_IO_OUT, size, 0xE0, 1, 4096))
                self.assertEqual(bytes(self.run.page(4096, size)), (0x1122334455667700 | value).to_bytes(8, "little")[:size])
                r11 = regs.r11
                self.assertFalse(self.resume(regs))
                self.assertEqual(regs.r10, 0)
                self.assertEqual(regs.r11, r11)

    def test_out_leaves_r10_and_r11_untouched(self):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_IO_INSTRUCTION,
                               r12=1, r13=1, r14=0x80, r15=1)
        self.assertTrue(exited)
        self.assertFalse(self.vcpu.pending(self.vm, self.vcpu, self.run.run))
        self.assertEqual(spy.written, set())

    def test_in_zero_extends_into_r11(self):
        for size in (1, 2, 4):
            with self.subTest(size=size):
                exited, regs = self.call(ghci.EXIT_REASON_IO_INSTRUCTION, r12=size, r13=0, r14=0x3F8)
                self.assertTrue(exited)
                io = self.run.run.io
                self.assertEqual((io.direction, io.size, io.port, io.count, io.data_offset),
                                 (abi.KVM_EXIT_IO_IN, size, 0x3F8, 1, 4096))
                self.run.page(4096, 8)[:] = b"\xff" * 8
                self.assertFalse(self.resume(regs))
                self.assertEqual(regs.r11, (1 << 8 * size) - 1)
                self.assertEqual(regs.r10, 0)

    def test_in_completion_does_not_write_r10(self):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_IO_INSTRUCTION,
                               r12=2, r13=0, r14=0x60)
        self.run.page(4096, 2)[:] = b"\x34\x12"
        self.vcpu.pending(self.vm, self.vcpu, self.run.run)
        self.assertEqual(spy.written, {"r11"})
        self.assertEqual(spy.r11, 0x1234)

    def test_ports_0_and_ffff_and_16_bit_truncation(self):
        for port, expect in ((0, 0), (0xFFFF, 0xFFFF), (0x1_0000_00E0, 0xE0)):
            with self.subTest(port=hex(port)):
                exited, regs = self.call(ghci.EXIT_REASON_IO_INSTRUCTION, r12=1, r13=1, r14=port)
                self.assertTrue(exited)
                self.assertEqual(self.run.run.io.port, expect)

    def test_invalid_sizes_are_invalid_operand_without_exit(self):
        for size in IO_SIZE_CASES:
            with self.subTest(size=size):
                exited, regs = self.call(ghci.EXIT_REASON_IO_INSTRUCTION, r12=size, r13=1, r14=0xE0)
                self.assertNoExit(exited)
                self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_invalid_direction_is_invalid_operand_without_exit(self):
        exited, regs = self.call(ghci.EXIT_REASON_IO_INSTRUCTION, r12=1, r13=2, r14=0xE0)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)


# --------------------------------------------------------------------------

MISC_ENABLE = 0x1A0
PAT = 0x277
APICBASE = 0x1B
UNKNOWN_MSR = 0x12345678


def deny(index, read=True, write=True):
    """A filter that denies `index` for the given access types, allows the rest."""
    ranges = []
    if read:
        ranges.append((abi.KVM_MSR_FILTER_READ, index, 1, b"\x00"))
    if write:
        ranges.append((abi.KVM_MSR_FILTER_WRITE, index, 1, b"\x00"))
    return MsrFilter(default_allow=True, ranges=ranges)


class Msr(Base):
    """§4.13"""

    def rdmsr(self, index):
        return self.call(ghci.EXIT_REASON_MSR_READ, r12=index)

    def wrmsr(self, index, value):
        return self.call(ghci.EXIT_REASON_MSR_WRITE, r12=index, r13=value)

    def test_rdmsr_emulated_msr_in_kernel(self):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_MSR_READ, r12=MISC_ENABLE)
        self.assertNoExit(exited)
        self.assertEqual(spy.r11, 0x1800)
        self.assertEqual(spy.written, {"r11"})                 # R10 untouched

    def test_wrmsr_then_rdmsr(self):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_MSR_WRITE,
                               r12=PAT, r13=0x0606060606060606)
        self.assertNoExit(exited)
        self.assertEqual(spy.written, set())
        exited, regs = self.rdmsr(PAT)
        self.assertEqual(regs.r11, 0x0606060606060606)
        self.assertStatus(regs, 0)

    def test_rdmsr_index_uses_low_32_bits(self):
        exited, regs = self.rdmsr(0xFFFFFFFF00000000 | MISC_ENABLE)
        self.assertEqual(regs.r11, 0x1800)

    def test_x2apic_id(self):
        exited, regs = self.rdmsr(0x802)
        self.assertEqual((regs.r10, regs.r11), (0, 0))

    def test_x2apic_id_and_ldr_follow_the_vcpu_id(self):
        """x2APIC ID = vcpu_id; LDR = cluster (id >> 4) << 16 | 1 << (id & 0xf)."""
        from tdx.emu.state import TdVcpu
        other = TdVcpu(0x13)
        other.cpuid, other.state, other.index = self.vcpu.cpuid, self.vcpu.state, 1
        other.msrs.set_apic_base(0xFEE00000 | 1 << 10 | 1 << 11)
        self.vcpu = other
        self.assertEqual(self.rdmsr(0x802)[1].r11, 0x13)
        self.assertEqual(self.rdmsr(0x80D)[1].r11, 1 << 16 | 1 << 3)

    def test_guest_write_to_ucode_rev_is_ignored(self):
        """MSR_IA32_UCODE_REV: a guest write succeeds and changes nothing."""
        before = self.rdmsr(0x8B)[1].r11
        exited, regs = self.wrmsr(0x8B, 0x5500000000)
        self.assertStatus(regs, 0)
        self.assertEqual(self.rdmsr(0x8B)[1].r11, before)

    def test_mtrrcap(self):
        """MTRRcap: WC and fixed ranges supported, KVM_NR_VAR_MTRR (8) variable ranges."""
        self.assertEqual(self.rdmsr(0xFE)[1].r11, 0x508)

    def test_x2apic_writes(self):
        """ICR is 64 bits wide in x2APIC mode (destination in 63:32); ESR only takes 0."""
        exited, regs = self.wrmsr(0x830, 0x0000000300000040)
        self.assertStatus(regs, 0)
        exited, regs = self.wrmsr(0x828, 0)
        self.assertStatus(regs, 0)
        exited, regs = self.wrmsr(0x828, 1)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_mcg_ctl_all_or_nothing(self):
        """With MCG_CTL_P in MCG_CAP, MCG_CTL takes only 0 or all ones."""
        self.vcpu.msrs.values[0x179] |= 1 << 8
        for value, status in ((0, 0), ((1 << 64) - 1, 0), (5, ghci.TDVMCALL_STATUS_INVALID_OPERAND)):
            with self.subTest(value=value):
                exited, regs = self.wrmsr(0x17B, value)
                self.assertStatus(regs, status)

    def test_write_read_only_msr_is_invalid_operand(self):
        for index in (APICBASE, 0xC0000080, 0x3A):
            with self.subTest(msr=hex(index)):
                exited, regs = self.wrmsr(index, 0)
                self.assertNoExit(exited)
                self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_invalid_pat_is_invalid_operand(self):
        exited, regs = self.wrmsr(PAT, 0x02)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_unknown_msr_without_user_exit(self):
        exited, regs = self.rdmsr(UNKNOWN_MSR)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_unknown_msr_is_reason_inval_for_a_td(self):
        # tdx_get_msr() returns 1 (not KVM_MSR_RET_UNSUPPORTED) outside tdx_has_emulated_msr()
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_UNKNOWN
        exited, regs = self.rdmsr(UNKNOWN_MSR)
        self.assertNoExit(exited)
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_INVAL
        exited, regs = self.rdmsr(UNKNOWN_MSR)
        self.assertTrue(exited)
        m = self.run.run.msr
        self.assertEqual((self.run.run.exit_reason, m.reason, m.index, m.data, m.error),
                         (abi.KVM_EXIT_X86_RDMSR, abi.KVM_MSR_EXIT_REASON_INVAL, UNKNOWN_MSR, 0, 0))

    def test_exit_reason_per_failure_kind(self):
        """kvm_msr_reason(): KVM_MSR_RET_UNSUPPORTED -> UNKNOWN, FILTERED -> FILTER,
        any other failure -> INVAL (no TD MSR returns UNSUPPORTED today)."""
        self.assertEqual([vmcall._msr_reason(r) for r in (msrs_mod.MSR_RET_UNSUPPORTED, msrs_mod.MSR_RET_FILTERED,
                                                          msrs_mod.MSR_RET_INVALID)],
                         [abi.KVM_MSR_EXIT_REASON_UNKNOWN, abi.KVM_MSR_EXIT_REASON_FILTER,
                          abi.KVM_MSR_EXIT_REASON_INVAL])

    def test_write_read_only_msr_reaches_userspace_with_inval(self):
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_INVAL
        exited, regs = self.wrmsr(APICBASE, 0x1234)
        self.assertTrue(exited)
        m = self.run.run.msr
        self.assertEqual((self.run.run.exit_reason, m.reason, m.index, m.data),
                         (abi.KVM_EXIT_X86_WRMSR, abi.KVM_MSR_EXIT_REASON_INVAL, APICBASE, 0x1234))


class MsrFilterCases(Base):
    """§4.13: the MSR filter on the TDVMCALL path (regression cases for the
    "TDVMCALL MSR path ignored the MSR filter" bug)."""

    def setUp(self):
        super().setUp()
        self.vm.msr_filter = deny(MISC_ENABLE)

    def rdmsr(self, index):
        return self.call(ghci.EXIT_REASON_MSR_READ, r12=index)

    def wrmsr(self, index, value):
        return self.call(ghci.EXIT_REASON_MSR_WRITE, r12=index, r13=value)

    def test_msr_filter_denied_read_exits_with_reason_filter(self):
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_FILTER
        self.run.run.msr.data = 0x99
        exited, regs = self.rdmsr(MISC_ENABLE)
        self.assertTrue(exited)
        m = self.run.run.msr
        self.assertEqual((self.run.run.exit_reason, m.error, m.reason, m.index, m.data),
                         (abi.KVM_EXIT_X86_RDMSR, 0, abi.KVM_MSR_EXIT_REASON_FILTER, MISC_ENABLE, 0))
        m.data = 0x1122334455667788
        self.assertFalse(self.resume(regs))
        self.assertEqual(regs.r11, 0x1122334455667788)
        self.assertStatus(regs, 0)

    def test_msr_filter_denied_read_completion_error(self):
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_FILTER
        exited, regs = self.rdmsr(MISC_ENABLE)
        self.run.run.msr.error = 1
        self.run.run.msr.data = 0x77
        r11 = regs.r11
        self.resume(regs)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        self.assertEqual(regs.r11, r11)

    def test_msr_filter_denied_read_without_user_exit(self):
        exited, regs = self.rdmsr(MISC_ENABLE)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_msr_filter_reason_not_enabled(self):
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_INVAL | abi.KVM_MSR_EXIT_REASON_UNKNOWN
        exited, regs = self.rdmsr(MISC_ENABLE)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_msr_filter_denied_write_exits_with_value(self):
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_FILTER
        exited, regs = self.wrmsr(MISC_ENABLE, 0xFEDCBA9876543210)
        self.assertTrue(exited)
        m = self.run.run.msr
        self.assertEqual((self.run.run.exit_reason, m.reason, m.index, m.data),
                         (abi.KVM_EXIT_X86_WRMSR, abi.KVM_MSR_EXIT_REASON_FILTER, MISC_ENABLE, 0xFEDCBA9876543210))
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, 0)
        self.assertEqual(self.vcpu.msrs.values[MISC_ENABLE], 0x1800)   # KVM did not write it

    def test_msr_filter_denied_write_completion_error(self):
        self.vm.user_space_msr_mask = abi.KVM_MSR_EXIT_REASON_FILTER
        exited, regs = self.wrmsr(MISC_ENABLE, 1)
        self.run.run.msr.error = 1
        self.resume(regs)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_msr_filter_denied_write_without_user_exit(self):
        exited, regs = self.wrmsr(MISC_ENABLE, 0x1800)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_msr_filter_read_and_write_separately(self):
        self.vm.msr_filter = deny(MISC_ENABLE, read=False, write=True)
        exited, regs = self.rdmsr(MISC_ENABLE)
        self.assertEqual((regs.r10, regs.r11), (0, 0x1800))
        self.vm.msr_filter = deny(MISC_ENABLE, read=True, write=False)
        exited, regs = self.wrmsr(MISC_ENABLE, 0x1800 | 1)
        self.assertStatus(regs, 0)
        self.assertEqual(self.vcpu.msrs.values[MISC_ENABLE], 0x1801)

    def test_msr_filter_default_deny(self):
        self.vm.msr_filter = MsrFilter(default_allow=False, ranges=[(abi.KVM_MSR_FILTER_READ, PAT, 1, b"\x01")])
        self.assertEqual(self.rdmsr(PAT)[1].r10, 0)
        self.assertStatus(self.rdmsr(MISC_ENABLE)[1], ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_msr_filter_never_applies_to_x2apic(self):
        self.vm.msr_filter = MsrFilter(default_allow=False, ranges=[(abi.KVM_MSR_FILTER_READ, 0x802, 1, b"\x00")])
        exited, regs = self.rdmsr(0x802)
        self.assertStatus(regs, 0)


# --------------------------------------------------------------------------

class Mmio(Base):
    """§4.14"""

    def test_write_sizes(self):
        for size in (1, 2, 4, 8):
            with self.subTest(size=size):
                exited, regs = self.call(ghci.EXIT_REASON_EPT_VIOLATION, r12=size, r13=1,
                                         r14=SHARED_BIT | 0xFEC00010, r15=0x8877665544332211)
                self.assertTrue(exited)
                m = self.run.run.mmio
                self.assertEqual((self.run.run.exit_reason, m.phys_addr, m.len, m.is_write),
                                 (abi.KVM_EXIT_MMIO, 0xFEC00010, size, 1))
                self.assertEqual(bytes(m.data[0:size]), (0x8877665544332211).to_bytes(8, "little")[:size])
                r11 = regs.r11
                self.assertFalse(self.resume(regs))
                self.assertEqual((regs.r10, regs.r11), (0, r11))

    def test_read_zero_extends_into_r11(self):
        for size in (1, 2, 4, 8):
            with self.subTest(size=size):
                exited, regs = self.call(ghci.EXIT_REASON_EPT_VIOLATION, r12=size, r13=0,
                                         r14=SHARED_BIT | 0x1000)
                self.assertTrue(exited)
                m = self.run.run.mmio
                self.assertEqual((m.phys_addr, m.len, m.is_write), (0x1000, size, 0))
                for i in range(8):
                    m.data[i] = 0xEE
                self.assertFalse(self.resume(regs))
                self.assertEqual(regs.r11, (1 << 8 * size) - 1 & 0xEEEEEEEEEEEEEEEE)
                self.assertEqual(regs.r10, 0)

    def test_read_completion_writes_only_r11(self):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.EXIT_REASON_EPT_VIOLATION,
                               r12=4, r13=0, r14=SHARED_BIT | 0x1000)
        self.assertTrue(exited)
        self.vcpu.pending(self.vm, self.vcpu, self.run.run)
        self.assertEqual(spy.written, {"r11"})

    def test_bad_size_is_invalid_operand(self):
        for size in (0, 3, 16):
            with self.subTest(size=size):
                exited, regs = self.call(ghci.EXIT_REASON_EPT_VIOLATION, r12=size, r13=0, r14=SHARED_BIT)
                self.assertNoExit(exited)
                self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_size_uses_low_32_bits(self):
        # `int size` in tdx_emulate_mmio()
        exited, regs = self.call(ghci.EXIT_REASON_EPT_VIOLATION, r12=(1 << 32) | 4, r13=0, r14=SHARED_BIT)
        self.assertTrue(exited)
        self.assertEqual(self.run.run.mmio.len, 4)

    def test_bad_direction_is_invalid_operand(self):
        exited, regs = self.call(ghci.EXIT_REASON_EPT_VIOLATION, r12=4, r13=2, r14=SHARED_BIT)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_private_gpa_is_invalid_operand(self):
        exited, regs = self.call(ghci.EXIT_REASON_EPT_VIOLATION, r12=4, r13=0, r14=0xFEC00000)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_shared_to_private_crossing_is_invalid_operand(self):
        gpa = (1 << 48) - 4                           # shared; gpa + 7 has bit 47 clear
        exited, regs = self.call(ghci.EXIT_REASON_EPT_VIOLATION, r12=8, r13=0, r14=gpa)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)


# --------------------------------------------------------------------------

class GetTdVmCallInfo(Base):
    """§4.10"""

    def test_leaf0_in_kernel(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_TD_VM_CALL_INFO, r12=0, r13=5, r14=6)
        self.assertNoExit(exited)
        self.assertEqual((regs.r10, regs.r11, regs.r12, regs.r13, regs.r14), (0, 0, 0, 0, 0))

    def test_leaf1_exits_to_userspace(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_TD_VM_CALL_INFO, r12=1)
        self.assertTrue(exited)
        run = self.run.run
        info = run.tdx.get_tdvmcall_info
        self.assertEqual((run.exit_reason, run.tdx.flags, run.tdx.nr, info.leaf, info.ret,
                          info.r11, info.r12, info.r13, info.r14),
                         (abi.KVM_EXIT_TDX, 0, ghci.TDVMCALL_GET_TD_VM_CALL_INFO, 1,
                          ghci.TDVMCALL_STATUS_SUCCESS, 0, 0, 0, 0))
        info.r11, info.r12, info.r13, info.r14 = 2, 3, 4, 5
        info.ret = ghci.TDVMCALL_STATUS_RETRY
        self.assertFalse(self.resume(regs))
        self.assertEqual((regs.r10, regs.r11, regs.r12, regs.r13, regs.r14),
                         (ghci.TDVMCALL_STATUS_RETRY, 2, 3, 4, 5))

    def test_other_leaf_is_invalid_operand(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_TD_VM_CALL_INFO, r12=2)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)


class MapGpa(Base):
    """§4.7"""

    def map_gpa(self, gpa, size):
        return self.call(ghci.TDVMCALL_MAP_GPA, r12=gpa, r13=size)

    def assertError(self, gpa, size, status):
        exited, regs = self.map_gpa(gpa, size)
        self.assertNoExit(exited)
        self.assertStatus(regs, status)
        self.assertEqual(regs.r11, gpa)

    def assertChunk(self, gpa, npages, attrs):
        run = self.run.run
        hc = run.hypercall
        self.assertEqual(run.exit_reason, abi.KVM_EXIT_HYPERCALL)
        self.assertEqual((hc.nr, hc.args[0], hc.args[1], hc.args[2], hc.ret, hc.flags),
                         (abi.KVM_HC_MAP_GPA_RANGE, gpa, npages, attrs, 0, abi.KVM_EXIT_HYPERCALL_LONG_MODE))

    def test_without_exit_hypercall_cap(self):
        self.vm.hypercall_exit_enabled = 0
        self.assertError(SHARED_BIT | 0x1000, 0x1000, ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED)

    def test_zero_size(self):
        self.assertError(SHARED_BIT | 0x1000, 0, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_wrapping_range(self):
        self.assertError(0xFFFFFFFFFFFFF000, 0x2000, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_gpa_beyond_maxphyaddr(self):
        self.assertError(1 << 48, 0x1000, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_end_beyond_maxphyaddr(self):
        self.assertError((1 << 48) - 0x1000, 0x2000, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_end_beyond_maxphyaddr_same_shared_bit(self):
        """Start legal and shared, end beyond MAXPHYADDR but with the shared bit
        too: only the legal-GPA check of gpa + size - 1 refuses it."""
        self.assertError(SHARED_BIT, (1 << 48) + 0x1000, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_maxphyaddr_defaults_to_36_without_leaf(self):
        self.vcpu.cpuid = [e for e in default_cpuid() if e[0] != 0x80000008]
        self.assertError(1 << 36, 0x1000, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_maxphyaddr_36_when_extended_max_below_0x80000008(self):
        """cpuid_query_maxphyaddr(): 0x80000008 counts only if CPUID.0x80000000:EAX
        reaches it; otherwise 36 bits, even with a 0x80000008 entry."""
        for ext in ([], [(0x80000000, 0, 0, 0x80000007, 0, 0, 0)]):
            with self.subTest(ext=ext):
                self.vcpu.cpuid = [e for e in default_cpuid() if e[0] != 0x80000000] + ext
                self.assertError(1 << 36, 0x1000, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_range_crossing_shared_bit(self):
        self.assertError(SHARED_BIT - 0x1000, 0x2000, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_unaligned_gpa(self):
        self.assertError(SHARED_BIT | 0x1800, 0x1000, ghci.TDVMCALL_STATUS_ALIGN_ERROR)

    def test_unaligned_size(self):
        self.assertError(SHARED_BIT | 0x1000, 0x800, ghci.TDVMCALL_STATUS_ALIGN_ERROR)

    def test_to_shared_in_2m_chunks(self):
        gpa = SHARED_BIT | 0x101000
        size = 4 * 1024 * 1024 + 0x1000
        exited, regs = self.map_gpa(gpa, size)
        self.assertTrue(exited)
        self.assertChunk(0x101000, 512, abi.KVM_MAP_GPA_RANGE_DECRYPTED)
        self.assertTrue(self.resume(regs))
        self.assertChunk(0x301000, 512, abi.KVM_MAP_GPA_RANGE_DECRYPTED)
        self.assertTrue(self.resume(regs))
        self.assertChunk(0x501000, 1, abi.KVM_MAP_GPA_RANGE_DECRYPTED)
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_SUCCESS)
        self.assertEqual((regs.r11, regs.r12, regs.r13), (ghci.TDVMCALL_MAP_GPA, gpa, size))

    def test_success_leaves_r10_untouched(self):
        exited, spy = kvm_view(self.vm, self.vcpu, self.run, ghci.TDVMCALL_MAP_GPA, r12=0x1000, r13=0x1000)
        self.assertTrue(exited)
        self.assertFalse(self.vcpu.pending(self.vm, self.vcpu, self.run.run))
        self.assertEqual(spy.written, set())

    def test_to_private(self):
        exited, regs = self.map_gpa(0x200000, 0x3000)
        self.assertTrue(exited)
        self.assertChunk(0x200000, 3, abi.KVM_MAP_GPA_RANGE_ENCRYPTED)

    def test_completion_eagain_is_retry_at_current_chunk(self):
        exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x400000)
        self.assertTrue(self.resume(regs))                   # first chunk done
        self.run.run.hypercall.ret = errno.EAGAIN
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_RETRY)
        self.assertEqual(regs.r11, SHARED_BIT | 0x400000)    # keeps the guest's shared bit

    def test_completion_einval_is_invalid_operand(self):
        exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x1000)
        self.run.run.hypercall.ret = errno.EINVAL
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        self.assertEqual(regs.r11, SHARED_BIT | 0x200000)

    def test_completion_other_ret_fails_kvm_run(self):
        exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x1000)
        self.run.run.hypercall.ret = 1
        with self.assertRaises(EmuRunError) as ctx:
            self.resume(regs)
        self.assertEqual(ctx.exception.errno, errno.EINVAL)
        # The next KVM_RUN enters the guest with R10 untouched.
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, 0)

    def test_completion_before_7_2_any_ret_is_invalid_operand(self):
        """6.16-7.1 (before 3e2dec1ede0a): every non-zero hypercall.ret, EAGAIN
        and values KVM does not define included, is INVALID_OPERAND with R11 =
        the chunk's GPA; KVM_RUN itself never fails."""
        self.vm.kernel = Kernel("7.1")
        for ret in (errno.EAGAIN, errno.EINVAL, 1, 0xFFFFFFFFFFFFFFFF):
            with self.subTest(ret=ret):
                exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x400000)
                self.assertTrue(self.resume(regs))               # first chunk done
                self.run.run.hypercall.ret = ret
                self.assertFalse(self.resume(regs))
                self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
                self.assertEqual(regs.r11, SHARED_BIT | 0x400000)

    def test_pending_event_between_chunks_is_retry(self):
        """kvm_vcpu_has_events() after a chunk: a posted interrupt not yet
        notified (PID.ON), or a pending NMI, stops the call with RETRY and
        R11 = the next chunk's GPA, shared bit kept."""
        for name, make_pending in (("posted", lambda: self.vcpu.apic.post(0x40)),
                                   ("nmi", lambda: setattr(self.vcpu.apic, "nmi_pending", True))):
            with self.subTest(event=name):
                self.vcpu.apic = type(self.vcpu.apic)()
                exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x400000)
                make_pending()
                self.assertFalse(self.resume(regs))
                self.assertStatus(regs, ghci.TDVMCALL_STATUS_RETRY)
                self.assertEqual(regs.r11, SHARED_BIT | 0x400000)

    def test_interrupt_in_virr_between_chunks_is_not_retry(self):
        """A vector already in the vIRR (the guest has interrupts off) is not
        an event here: KVM skips the RVI check for MapGPA."""
        self.vcpu.apic.post(0x40)
        self.vcpu.apic.enter()
        exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x400000)
        self.assertTrue(self.resume(regs))
        self.assertEqual(self.run.run.hypercall.args[0], 0x400000)

    def test_fault_no_interrupt_check_keeps_going(self):
        """mapgpa-no-interrupt-check: a posted interrupt does not stop the call."""
        self.vm.faults = frozenset({"mapgpa-no-interrupt-check"})
        exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x400000)
        self.vcpu.apic.post(0x40)
        self.assertTrue(self.resume(regs))
        self.assertEqual(self.run.run.hypercall.args[0], 0x400000)

    def test_pending_event_after_the_last_chunk_is_success(self):
        """The event check comes after the end check: the last chunk completes the call."""
        exited, regs = self.map_gpa(SHARED_BIT | 0x200000, 0x200000)
        self.vcpu.apic.post(0x40)
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_SUCCESS)


class ReportFatalError(Base):
    """§4.8"""

    def test_system_event_with_gprs_in_x86_order(self):
        # RDX, RBX, R10-R15 exposed; RSI, RDI, R8, R9 not: they reach KVM as 0.
        exited, regs = self.call(ghci.TDVMCALL_REPORT_FATAL_ERROR, mask=0xFC0C, r12=0xDEAD, r13=0x1000)
        self.assertTrue(exited)
        run = self.run.run
        ev = run.system_event
        self.assertEqual((run.exit_reason, ev.type, ev.ndata),
                         (abi.KVM_EXIT_SYSTEM_EVENT, abi.KVM_SYSTEM_EVENT_TDX_FATAL, 16))
        data = [ev.data[i] for i in range(16)]
        g = regs.gprs
        expect = [77, 0xFC0C, g[2], g[3], 0, 0, 0, 0, 0, 0, 0, ghci.TDVMCALL_REPORT_FATAL_ERROR,
                  0xDEAD, 0x1000, g[14], g[15]]
        self.assertEqual(data, expect)

    def test_system_event_with_the_linux_guest_mask(self):
        """TDVMCALL_EXPOSE_REGS_MASK (RDX RBX RSI RDI R8-R15) plus an XMM-select
        bit: data[1] is the whole TD exit qualification (GPR and XMM select),
        RSI/RDI/R8/R9 land in data[6..9] (message bytes of tdx_panic())."""
        mask = ghci.TDVMCALL_EXPOSE_REGS_MASK | 1 << 16
        exited, regs = self.call(ghci.TDVMCALL_REPORT_FATAL_ERROR, mask=mask, r12=0xDEAD, r13=0x1000)
        self.assertTrue(exited)
        ev = self.run.run.system_event
        g = regs.gprs
        expect = [77, mask, g[2], g[3], 0, 0, g[6], g[7], g[8], g[9], 0, ghci.TDVMCALL_REPORT_FATAL_ERROR,
                  0xDEAD, 0x1000, g[14], g[15]]
        self.assertEqual([ev.data[i] for i in range(16)], expect)

    def test_no_completion_resumes_with_r10_unchanged(self):
        exited, regs = self.call(ghci.TDVMCALL_REPORT_FATAL_ERROR, r12=1)
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, 0)


class GetQuote(Base):
    """§4.9"""

    def test_shared_buffer_exits_with_stripped_gpa(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_QUOTE, r12=SHARED_BIT | 0x301000, r13=0x4000)
        self.assertTrue(exited)
        run = self.run.run
        q = run.tdx.get_quote
        self.assertEqual((run.exit_reason, run.tdx.flags, run.tdx.nr, q.ret, q.gpa, q.size),
                         (abi.KVM_EXIT_TDX, 0, ghci.TDVMCALL_GET_QUOTE,
                          ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, 0x301000, 0x4000))
        q.ret = 0
        self.assertFalse(self.resume(regs))
        self.assertStatus(regs, 0)

    def test_unaligned_size_is_not_checked(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_QUOTE, r12=SHARED_BIT | 0x301001, r13=3)
        self.assertTrue(exited)
        q = self.run.run.tdx.get_quote
        self.assertEqual((q.gpa, q.size), (0x301001, 3), "gpa and size passed as given")

    def test_completion_copies_ret_to_r10(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_QUOTE, r12=SHARED_BIT, r13=0x1000)
        self.run.run.tdx.unknown.ret = ghci.TDVMCALL_STATUS_INVALID_OPERAND
        self.resume(regs)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_private_buffer_is_invalid_operand(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_QUOTE, r12=0x301000, r13=0x1000)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)


class GetQuoteFaults(Base):
    """The pre-merge GetQuote of 2025-04, switched on: only what it names changes."""

    faults = ("getquote-size-checks", "getquote-gpa-unstripped")

    def test_size_and_alignment_refused(self):
        for r12, r13, status in ((SHARED_BIT | 0x301000, 0, ghci.TDVMCALL_STATUS_INVALID_OPERAND),
                                 (SHARED_BIT | 0x301001, 0x1000, ghci.TDVMCALL_STATUS_ALIGN_ERROR),
                                 (SHARED_BIT | 0x301000, 0x1001, ghci.TDVMCALL_STATUS_ALIGN_ERROR)):
            with self.subTest(r12=hex(r12), r13=hex(r13)):
                exited, regs = self.call(ghci.TDVMCALL_GET_QUOTE, r12=r12, r13=r13)
                self.assertNoExit(exited)
                self.assertStatus(regs, status)

    def test_gpa_keeps_the_shared_bit(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_QUOTE, r12=SHARED_BIT | 0x301000, r13=0x1000)
        self.assertTrue(exited)
        self.assertEqual(self.run.run.tdx.get_quote.gpa, SHARED_BIT | 0x301000)

    def test_private_buffer_still_invalid_operand(self):
        exited, regs = self.call(ghci.TDVMCALL_GET_QUOTE, r12=0x301000, r13=0x1000)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)


class SetupEventNotifyInterruptAbsent(Base):
    """6.16-rc3..rc5 (fault setup-event-notify-absent): every vector is SUBFUNC_UNSUPPORTED, no exit."""

    faults = ("setup-event-notify-absent",)

    def test_no_exit_for_any_vector(self):
        for vector in (31, 32, 255, 256):
            with self.subTest(vector=vector):
                exited, regs = self.call(ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT, r12=vector)
                self.assertNoExit(exited)
                self.assertStatus(regs, ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED)


class SetupEventNotifyInterrupt(Base):
    """§4.11"""

    def test_valid_vectors_exit(self):
        for vector in (32, 255):
            with self.subTest(vector=vector):
                exited, regs = self.call(ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT, r12=vector)
                self.assertTrue(exited)
                run = self.run.run
                s = run.tdx.setup_event_notify
                self.assertEqual((run.exit_reason, run.tdx.flags, run.tdx.nr, s.ret, s.vector),
                                 (abi.KVM_EXIT_TDX, 0, ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT,
                                  ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, vector))
                s.ret = 0
                self.resume(regs)
                self.assertStatus(regs, 0)

    def test_vector_below_32(self):
        exited, regs = self.call(ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT, r12=31)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_vector_above_255(self):
        exited, regs = self.call(ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT, r12=256)
        self.assertNoExit(exited)
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_completion_unsupported_by_userspace(self):
        exited, regs = self.call(ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT, r12=40)
        self.resume(regs)                                      # userspace left ret preset
        self.assertStatus(regs, ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED)


# --------------------------------------------------------------------------
# Fault switches: each changes exactly the behaviour it names.

class FaultSwitches(unittest.TestCase):

    def td(self, *names, **kw):
        vm, vcpu = make_td(faults=names, **kw)
        return vm, vcpu, Run()

    def test_parse(self):
        self.assertEqual(faults.parse(""), frozenset())
        self.assertEqual(faults.parse("io-size-unchecked, msr-no-user-exit"),
                         {"io-size-unchecked", "msr-no-user-exit"})
        with self.assertRaises(faults.UnknownFault) as ctx:
            faults.parse("io-size-unchecked,bogus")
        msg = str(ctx.exception)
        self.assertIn("bogus", msg)
        self.assertNotIn("\n", msg)
        for name in faults.FAULTS:
            self.assertIn(name, msg)

    def test_parse_environment(self):
        import os
        old = os.environ.get(faults.ENV)
        os.environ[faults.ENV] = "mapgpa-no-align-check"
        try:
            self.assertEqual(faults.parse(), {"mapgpa-no-align-check"})
        finally:
            if old is None:
                del os.environ[faults.ENV]
            else:
                os.environ[faults.ENV] = old

    def test_msr_filter_ignored(self):
        for names, expect_exit in (((), True), (("msr-filter-ignored",), False)):
            vm, vcpu, run = self.td(*names, user_space_msr=abi.KVM_MSR_EXIT_REASON_FILTER)
            vm.msr_filter = deny(MISC_ENABLE)
            exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_MSR_READ, r12=MISC_ENABLE)
            self.assertEqual(exited, expect_exit, names)
            if not expect_exit:
                self.assertEqual((regs.r10, regs.r11), (0, 0x1800))   # read in the kernel despite the filter

    def test_msr_filter_ignored_leaves_other_failures(self):
        vm, vcpu, run = self.td("msr-filter-ignored", user_space_msr=abi.KVM_MSR_EXIT_REASON_INVAL)
        exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_MSR_READ, r12=UNKNOWN_MSR)
        self.assertTrue(exited)

    def test_msr_no_user_exit(self):
        for names, expect_exit in (((), True), (("msr-no-user-exit",), False)):
            vm, vcpu, run = self.td(*names, user_space_msr=abi.KVM_MSR_EXIT_REASON_FILTER)
            vm.msr_filter = deny(MISC_ENABLE)
            exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_MSR_WRITE, r12=MISC_ENABLE, r13=0x1800)
            self.assertEqual(exited, expect_exit, names)
            if not expect_exit:
                self.assertEqual(regs.r10, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
                self.assertEqual(run.run.exit_reason, 0)

    def test_msr_no_user_exit_still_honours_filter(self):
        vm, vcpu, run = self.td("msr-no-user-exit")
        vm.msr_filter = deny(MISC_ENABLE)
        exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_MSR_READ, r12=MISC_ENABLE)
        self.assertEqual(regs.r10, ghci.TDVMCALL_STATUS_INVALID_OPERAND)

    def test_io_size_unchecked(self):
        for size in IO_SIZE_CASES:
            for names, expect_exit in (((), False), (("io-size-unchecked",), True)):
                vm, vcpu, run = self.td(*names)
                exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_IO_INSTRUCTION, r12=size, r13=1, r14=0xE0)
                self.assertEqual(exited, expect_exit, (size, names))
                if expect_exit:
                    self.assertEqual(run.run.io.size, size)

    def test_io_size_unchecked_keeps_direction_check(self):
        vm, vcpu, run = self.td("io-size-unchecked")
        exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_IO_INSTRUCTION, r12=1, r13=2, r14=0xE0)
        self.assertFalse(exited)

    def test_mmio_shared_bit_unchecked(self):
        for names, expect_exit in (((), False), (("mmio-shared-bit-unchecked",), True)):
            vm, vcpu, run = self.td(*names)
            exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_EPT_VIOLATION, r12=4, r13=0, r14=0xFEC00000)
            self.assertEqual(exited, expect_exit, names)
            if expect_exit:
                self.assertEqual(run.run.mmio.phys_addr, 0xFEC00000)

    def test_mmio_shared_bit_unchecked_keeps_size_check(self):
        vm, vcpu, run = self.td("mmio-shared-bit-unchecked")
        exited, regs = tdvmcall(vm, vcpu, run, ghci.EXIT_REASON_EPT_VIOLATION, r12=3, r13=0, r14=SHARED_BIT)
        self.assertFalse(exited)

    def test_mapgpa_no_align_check(self):
        for names, expect_exit in (((), False), (("mapgpa-no-align-check",), True)):
            vm, vcpu, run = self.td(*names)
            exited, regs = tdvmcall(vm, vcpu, run, ghci.TDVMCALL_MAP_GPA, r12=SHARED_BIT | 0x1800, r13=0x1000)
            self.assertEqual(exited, expect_exit, names)
            if not expect_exit:
                self.assertEqual(regs.r10, ghci.TDVMCALL_STATUS_ALIGN_ERROR)


if __name__ == "__main__":
    unittest.main()
