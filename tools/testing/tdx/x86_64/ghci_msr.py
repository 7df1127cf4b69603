# SPDX-License-Identifier: GPL-2.0-only
"""ghci_msr: TDG.VP.VMCALL<Instruction.RDMSR/WRMSR> against KVM-TDX.

Covers docs/kvm-tdx-uapi.md §4.13 (RDMSR/WRMSR: the MSRs KVM emulates
for a TD, the MSR filter, user-space MSR exits and their completion, R10/R11),
§4.3 (dispatch of R11 = 31/32), §2.8 (KVM_GET_MSRS/KVM_SET_MSRS on a TD vCPU;
APICBASE, EFER and FEAT_CTL are read-only) and §5 (the kvm_run.msr layout), in
the shapes of docs/c-selftests.md §1 rows 8 and 9.

This module is the regression test for the MSR filter bug (§4.13, history):
the pre-merge TDVMCALL MSR path called kvm_get_msr()/kvm_set_msr() directly,
so early copies ignored KVM_X86_SET_MSR_FILTER altogether and later ones
honoured it but turned a denial into INVALID_OPERAND without ever exiting to
userspace with KVM_EXIT_X86_RDMSR/WRMSR.  No developer, reviewer or running VM
noticed.  Merged KVM (6.16) routes the TDVMCALL through kvm_emulate_rdmsr()/
kvm_emulate_wrmsr(): the filter is checked first, a denial exits with reason
FILTER when userspace enabled KVM_CAP_X86_USER_SPACE_MSR for it, and the
completion (msr.data or msr.error) reaches the guest through
tdx_complete_emulated_msr().  The cases named test_msr_filter_bug_* are the
ones that catch either form of the bug (emu fault switches msr-filter-ignored
and msr-no-user-exit).

Kernel versus issue text: issue 4 says an unknown MSR exits with reason
UNKNOWN when that reason is enabled.  For a TD it does not: tdx_get_msr()/
tdx_set_msr() return 1 for every MSR outside tdx_has_emulated_msr(), which
kvm_msr_reason() maps to KVM_MSR_EXIT_REASON_INVAL; only
KVM_MSR_RET_UNSUPPORTED maps to UNKNOWN, and the TDX hooks never return it
(arch/x86/kvm/vmx/tdx.c and x86.c, torvalds/linux 3829d81b; emu/msrs.py).
The cases assert the kernel's behaviour: reason INVAL, and no exit at all
when only UNKNOWN is enabled.

x2APIC MSRs (0x800-0x8ff) are never filtered (kvm_msr_allowed(), x86.c).  The
x2APIC registers the CPU virtualises for a TD (TPR, PPR, EOI, ISR, TMR, IRR)
are not emulated by KVM (tdx_has_emulated_msr()).
"""

import errno
import struct

from tdx.lib import abi, apic, ghci
from tdx.lib.exits import describe, poison_exit
from tdx.lib.kvm import KvmError
from tdx.lib.testcase import TdxTestCase, main

# guest: ghci_msr.c
MSR_OPS_OFFSET = 0x1000
MSR_OPS_STRIDE = 0x1000                      # one page of ops per vCPU
RDMSR, WRMSR, SYNC = 0, 1, 2
OP = struct.Struct("<5Q")                    # op, index, value, r10, r11
POISON = 0x5A5A5A5A5A5A5A5A                  # r10/r11 before the guest stores them
ANCHOR_ICR, ANCHOR_MISC_ENABLE, ANCHOR_POWER_CTL = 4, 5, 6

RUN_TIMEOUT = 2.0                            # every exit here comes at once, or never
MSI_VECTOR, SELF_IPI_VECTOR = 0x5C, 0x9D     # ghci_msr.c

SUCCESS = ghci.TDVMCALL_STATUS_SUCCESS
INVALID_OPERAND = ghci.TDVMCALL_STATUS_INVALID_OPERAND

# MSR indices (arch/x86/include/asm/msr-index.h)
MSR_IA32_FEAT_CTL = 0x3A
MSR_IA32_APICBASE = 0x1B
MSR_IA32_UCODE_REV = 0x8B
MSR_PLATFORM_INFO = 0xCE
MSR_MTRRcap = 0xFE
MSR_IA32_MCG_CAP = 0x179
MSR_IA32_MCG_STATUS = 0x17A
MSR_IA32_MCG_CTL = 0x17B
MSR_IA32_MISC_ENABLE = 0x1A0
MSR_MISC_FEATURES_ENABLES = 0x140
MSR_IA32_POWER_CTL = 0x1FC
MSR_MTRRphysBase0 = 0x200
MSR_MTRRphysMask0 = 0x201
MSR_MTRRfix64K_00000 = 0x250
MSR_MTRRfix16K_80000 = 0x258
MSR_MTRRfix16K_A0000 = 0x259
MSR_MTRRfix4K_C0000 = 0x268
MSR_MTRRfix4K_F8000 = 0x26F
MSR_IA32_ARCH_CAPABILITIES = 0x10A
MSR_IA32_MCG_EXT_CTL = 0x4D0
MSR_IA32_CR_PAT = 0x277
MSR_MTRRdefType = 0x2FF
MSR_IA32_MC0_CTL = 0x400                     # MCi_CTL, STATUS, ADDR, MISC: 4 per bank
MSR_IA32_MC0_CTL2 = 0x280                    # MCi_CTL2: 1 per bank
MSR_IA32_TSC_DEADLINE = 0x6E0
MSR_EFER = 0xC0000080
MSR_KVM_POLL_CONTROL = 0x4B564D05
UNKNOWN_MSR = 0x12345678                     # in no emulated range


def x2apic_msr(reg):
    return 0x800 + (reg >> 4)


X2APIC_ID = x2apic_msr(0x20)
X2APIC_LVR = x2apic_msr(0x30)
X2APIC_TPR = x2apic_msr(0x80)
X2APIC_PPR = x2apic_msr(0xA0)
X2APIC_EOI = x2apic_msr(0xB0)
X2APIC_LDR = x2apic_msr(0xD0)
X2APIC_SPIV = x2apic_msr(0xF0)
X2APIC_ISR0 = x2apic_msr(0x100)
X2APIC_TMR0 = x2apic_msr(0x180)
X2APIC_IRR0 = x2apic_msr(0x200)
X2APIC_ESR = x2apic_msr(0x280)
X2APIC_LVTCMCI = x2apic_msr(0x2F0)
X2APIC_ICR = x2apic_msr(0x300)
X2APIC_LVTT = x2apic_msr(0x320)
X2APIC_LVTTHMR = x2apic_msr(0x330)
X2APIC_LVTPC = x2apic_msr(0x340)
X2APIC_LVT0 = x2apic_msr(0x350)
X2APIC_LVT1 = x2apic_msr(0x360)
X2APIC_LVTERR = x2apic_msr(0x370)
X2APIC_TMICT = x2apic_msr(0x380)
X2APIC_TMCCT = x2apic_msr(0x390)
X2APIC_TDCR = x2apic_msr(0x3E0)

APICBASE_BSP, X2APIC_ENABLE, APICBASE_ENABLE = 1 << 8, 1 << 10, 1 << 11
APIC_DEFAULT_PHYS_BASE = 0xFEE00000
EFER_LME, EFER_LMA = 1 << 8, 1 << 10
FEAT_CTL_LOCKED = 1 << 0
MISC_ENABLE_FAST_STRING = 1 << 0
MISC_ENABLE_BTS_UNAVAIL = 1 << 11             # read-only for the guest (PMU RO mask)
MISC_ENABLE_PEBS_UNAVAIL = 1 << 12
PLATFORM_INFO_CPUID_FAULT = 1 << 31
MISC_FEATURES_CPUID_FAULT = 1 << 0
CPUID_7_EDX_ARCH_CAPABILITIES = 1 << 29       # X86_FEATURE_ARCH_CAPABILITIES
APIC_VERSION_6_LVT = 0x14 | (6 - 1) << 16     # lapic.c APIC_VERSION, 6 LVT entries (no CMCI)
APIC_LVR_DIRECTED_EOI = 1 << 24
EFER_SCE, EFER_NX = 1 << 0, 1 << 11
CR_PAT_DEFAULT = 0x0007040600070406
KVM_MAX_MCE_BANKS = 32
APIC_LVT_MASKED = 1 << 16
APIC_LVT0_EXTINT = 0x7 << 8                   # SET_APIC_DELIVERY_MODE(0, APIC_MODE_EXTINT)
APIC_SPIV_DIRECTED_EOI = 1 << 12
MTRR_TYPE_WC, MTRR_TYPE_WB = 1, 6
MTRR_PHYSMASK_VALID = 1 << 11

READ, WRITE = abi.KVM_MSR_FILTER_READ, abi.KVM_MSR_FILTER_WRITE
REASON_INVAL = abi.KVM_MSR_EXIT_REASON_INVAL
REASON_UNKNOWN = abi.KVM_MSR_EXIT_REASON_UNKNOWN
REASON_FILTER = abi.KVM_MSR_EXIT_REASON_FILTER


def rdmsr(index):
    return (RDMSR, index, 0)


def wrmsr(index, value):
    return (WRMSR, index, value)


def sync():
    """GUEST_SYNC(index of this op): the host changes the filter or the capability there."""
    return (SYNC, 0, 0)


def deny(index, flags):
    """A filter range of 8 MSRs from `index` where only `index` is denied."""
    return (flags, index, b"\xfe")


def allow(index, flags):
    """A filter range of 8 MSRs from `index` where only `index` is allowed."""
    return (flags, index, b"\x01")


def msi_result(vm, address_lo, address_hi, data):
    """KVM_SIGNAL_MSI's answer: the count it returns, or -errno."""
    try:
        return vm.signal_msi(address_lo, address_hi, data)
    except KvmError as e:
        return -e.errno


class GhciMsr(TdxTestCase):
    guest = "ghci_msr"

    # -- helpers --

    def msr_td(self, ops=(), exits=None, msr_filter=None, default_deny=False):
        """A TD that runs `ops` (rdmsr()/wrmsr() tuples; set_ops() may replace
        them before the first run) in order, then GUEST_DONE.

        exits: KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR) reason mask, None = not enabled;
        msr_filter: KVM_X86_SET_MSR_FILTER ranges (deny()/allow()), None = no filter."""
        gvm, vcpu = self.create_td("guest_msr_ops")
        self.set_ops(gvm, ops)
        if exits is not None:
            gvm.vm.enable_cap(abi.KVM_CAP_X86_USER_SPACE_MSR, exits)
        if msr_filter is not None:
            gvm.vm.set_msr_filter(msr_filter, default_deny=default_deny)
        return gvm, vcpu

    def set_ops(self, gvm, ops, vcpu=0):
        self.nr_ops = len(ops)
        gvm.write(gvm.layout.shared_gpa + MSR_OPS_OFFSET + vcpu * MSR_OPS_STRIDE, struct.pack("<Q", len(ops)) +
                  b"".join(OP.pack(op, index, value, POISON, POISON) for op, index, value in ops))

    def results(self, gvm, vcpu=0):
        """[(R10, R11)] the guest got back, one per op."""
        raw = gvm.read(gvm.layout.shared_gpa + MSR_OPS_OFFSET + vcpu * MSR_OPS_STRIDE + 8, OP.size * self.nr_ops)
        out = []
        for i in range(self.nr_ops):
            _, _, _, r10, r11 = OP.unpack_from(raw, i * OP.size)
            self.assertNotEqual(r10, POISON, "op %d never ran" % i)
            out.append((r10, r11))
        return out

    def assertStatuses(self, gvm, expected):
        got = [r10 for r10, _ in self.results(gvm)]
        self.assertEqual([ghci.status_name(s) for s in got], [ghci.status_name(s) for s in expected])

    def run_msr_exit(self, vcpu, exit_reason, reason, index, data):
        """Run to a KVM_EXIT_X86_RDMSR/WRMSR and check every field of kvm_run.msr."""
        run = vcpu.run_expect(exit_reason, timeout=RUN_TIMEOUT)
        m = run.msr
        self.assertEqual(m.reason, reason, "msr.reason")
        self.assertEqual(m.index, index, "msr.index")
        self.assertEqual(m.data, data, "msr.data (0 for RDMSR, the value for WRMSR)")
        self.assertEqual(m.error, 0, "msr.error: KVM clears it, userspace sets it")
        self.assertEqual(bytes(m.pad), bytes(7), "msr.pad")
        return m

    def msr(self, vcpu, index):
        """KVM_GET_MSRS of one MSR (host-initiated)."""
        values = vcpu.get_msrs([index])
        self.assertIn(index, values, "KVM_GET_MSRS(0x%x) failed" % index)
        return values[index]

    # -- MSRs KVM emulates for a TD --

    def test_rdmsr_emulated_msrs_match_kvm_get_msrs(self):
        """Guest RDMSR of KVM-emulated MSRs: SUCCESS and the value KVM_GET_MSRS reports."""
        indices = (MSR_IA32_FEAT_CTL, MSR_IA32_APICBASE, MSR_IA32_UCODE_REV, MSR_PLATFORM_INFO,
                   MSR_MTRRcap, MSR_IA32_MCG_CAP, MSR_IA32_MCG_STATUS, MSR_IA32_MISC_ENABLE,
                   MSR_IA32_POWER_CTL, MSR_MTRRphysBase0, MSR_MTRRphysMask0, MSR_MTRRfix64K_00000,
                   MSR_IA32_CR_PAT, MSR_MTRRdefType, MSR_IA32_TSC_DEADLINE, MSR_EFER,
                   MSR_KVM_POLL_CONTROL, X2APIC_ID, X2APIC_LVR, X2APIC_LDR, X2APIC_SPIV,
                   X2APIC_LVTT, X2APIC_LVT0, X2APIC_LVTERR, X2APIC_TMICT, X2APIC_TDCR)
        gvm, vcpu = self.msr_td([rdmsr(i) for i in indices])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        host = vcpu.get_msrs(list(indices))
        self.assertEqual(sorted(host), sorted(indices), "KVM_GET_MSRS stopped early")
        for index, (r10, r11) in zip(indices, self.results(gvm)):
            with self.subTest(msr=hex(index)):
                self.assertEqual(r10, SUCCESS, ghci.status_name(r10))
                self.assertEqual(r11, host[index], "guest RDMSR vs KVM_GET_MSRS")
        # What KVM set up for every TD vCPU (§2.4, tdx_vcpu_create()/tdx_get_msr()).
        self.assertEqual(host[MSR_IA32_APICBASE],
                         APIC_DEFAULT_PHYS_BASE | X2APIC_ENABLE | APICBASE_ENABLE | APICBASE_BSP)
        self.assertEqual(host[MSR_EFER] & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA)
        # Locked, and no LMCE_ENABLED: a TD vCPU's MCG_CAP has no MCG_LMCE_P (tdx_get_msr()).
        self.assertEqual(host[MSR_IA32_FEAT_CTL], FEAT_CTL_LOCKED, "FEAT_CTL")
        self.assertEqual(host[X2APIC_ID], 0, "x2APIC ID of vCPU 0")

    def test_wrmsr_emulated_msrs_round_trip(self):
        """Guest WRMSR then RDMSR of KVM-emulated MSRs; KVM_GET_MSRS sees the writes."""
        gvm, vcpu = self.msr_td()
        misc = self.msr(vcpu, MSR_IA32_MISC_ENABLE) ^ MISC_ENABLE_FAST_STRING
        values = {
            MSR_IA32_CR_PAT: 0x0006040100050407,        # every entry a valid memory type
            MSR_MTRRdefType: 0xC06,                     # E | FE | WB
            MSR_MTRRfix64K_00000: 0x0606060606060606,
            MSR_IA32_POWER_CTL: 0x123456789ABCDEF0,
            MSR_IA32_MISC_ENABLE: misc,                 # read-only PMU bits kept
            X2APIC_SPIV: 0x1FF,
            X2APIC_TDCR: 0xB,
        }
        ops = []
        for index, value in values.items():
            ops += [wrmsr(index, value), rdmsr(index)]
        self.set_ops(gvm, ops)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        host = vcpu.get_msrs(list(values))
        for n, (index, value) in enumerate(values.items()):
            with self.subTest(msr=hex(index)):
                self.assertEqual(results[2 * n][0], SUCCESS, "WRMSR: " + ghci.status_name(results[2 * n][0]))
                self.assertEqual(results[2 * n + 1], (SUCCESS, value), "RDMSR after WRMSR")
                self.assertEqual(host.get(index), value, "KVM_GET_MSRS after the guest's WRMSR")

    def test_host_set_msrs_seen_by_guest(self):
        """KVM_SET_MSRS from the host, then guest RDMSR (the host half of anchor rows 8/9)."""
        values = {MSR_IA32_POWER_CTL: 0xFEDCBA9876543210, MSR_IA32_CR_PAT: 0x0007010600070106,
                  MSR_MTRRdefType: 0x806, X2APIC_ICR: ANCHOR_ICR}
        gvm, vcpu = self.msr_td([rdmsr(i) for i in values])
        self.assertEqual(vcpu.set_msrs(values), len(values), "KVM_SET_MSRS count")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(self.results(gvm), [(SUCCESS, v) for v in values.values()])

    def test_rdmsr_wrmsr_index_upper_bits_ignored(self):
        """KVM takes the MSR index from ECX: R12 bits 63:32 do not matter (§4.13)."""
        gvm, vcpu = self.msr_td([rdmsr(0xDEADBEEF << 32 | MSR_IA32_CR_PAT),
                                 wrmsr(1 << 32 | MSR_IA32_POWER_CTL, 0x1111222233334444),
                                 rdmsr(MSR_IA32_POWER_CTL)])
        pat = self.msr(vcpu, MSR_IA32_CR_PAT)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(self.results(gvm)[0], (SUCCESS, pat))
        self.assertEqual(self.results(gvm)[1][0], SUCCESS)
        self.assertEqual(self.results(gvm)[2], (SUCCESS, 0x1111222233334444))
        self.assertEqual(self.msr(vcpu, MSR_IA32_POWER_CTL), 0x1111222233334444)

    def test_wrmsr_read_only_msrs_invalid_operand(self):
        """APICBASE, EFER and FEAT_CTL are read-only for a TD: guest and host writes fail (§2.8)."""
        read_only = (MSR_IA32_APICBASE, MSR_EFER, MSR_IA32_FEAT_CTL)
        gvm, vcpu = self.msr_td()
        before = vcpu.get_msrs(list(read_only))
        # The same values: it is the MSR, not the value, that is refused.
        self.set_ops(gvm, [wrmsr(i, before[i]) for i in read_only])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND] * 3)
        for index in read_only:
            with self.subTest(msr=hex(index)):
                self.assertEqual(vcpu.set_msrs({index: before[index]}), 0, "host KVM_SET_MSRS wrote it")
        self.assertEqual(vcpu.get_msrs(list(read_only)), before)

    def test_wrmsr_read_only_msr_exits_inval_when_enabled(self):
        """A refused write of a read-only MSR exits with reason INVAL when userspace asked for it."""
        gvm, vcpu = self.msr_td(exits=REASON_INVAL)
        efer = self.msr(vcpu, MSR_EFER)
        self.set_ops(gvm, [wrmsr(MSR_EFER, efer)])
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_INVAL, MSR_EFER, efer)
        m.error = 1
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND])

    def test_wrmsr_tsc_deadline_ignored(self):
        """IA32_TSC_DEADLINE while LVTT is not in TSC-deadline mode (its reset
        state, one-shot and masked): the guest's WRMSR succeeds and changes
        nothing, RDMSR reads 0 (kvm_set_lapic_tscdeadline_msr() returns early,
        kvm_get_lapic_tscdeadline_msr() answers 0)."""
        gvm, vcpu = self.msr_td([wrmsr(MSR_IA32_TSC_DEADLINE, 0x123456789), rdmsr(MSR_IA32_TSC_DEADLINE)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual([ghci.status_name(r10) for r10, _ in results], [ghci.status_name(SUCCESS)] * 2)
        self.assertEqual(results[1][1], 0, "RDMSR of TSC_DEADLINE")
        self.assertEqual(self.msr(vcpu, MSR_IA32_TSC_DEADLINE), 0)

    def test_wrmsr_invalid_values_invalid_operand(self):
        """KVM's own value checks: INVALID_OPERAND (never a #GP for a TD), the MSR
        unchanged; PAT's memory types are checked in every byte (kvm_pat_valid())."""
        gvm, vcpu = self.msr_td()
        checked = (MSR_IA32_CR_PAT, MSR_MTRRdefType, MSR_IA32_MISC_ENABLE, MSR_PLATFORM_INFO, X2APIC_SPIV,
                   X2APIC_LDR)
        before = vcpu.get_msrs(list(checked))
        self.set_ops(gvm, [
            wrmsr(MSR_IA32_CR_PAT, 0x0202020202020202),                 # memory type 2 is reserved
            wrmsr(MSR_IA32_CR_PAT, 0x0207040600070406),                 # ... in the top byte alone
            wrmsr(MSR_MTRRdefType, 0x1006),                             # reserved bit 12
            wrmsr(MSR_IA32_MISC_ENABLE, before[MSR_IA32_MISC_ENABLE] ^ MISC_ENABLE_BTS_UNAVAIL),
            wrmsr(MSR_PLATFORM_INFO, before[MSR_PLATFORM_INFO]),        # host-initiated writes only
            wrmsr(X2APIC_SPIV, 1 << 32 | 0xFF),                         # bits 63:32 reserved (not ICR)
            wrmsr(X2APIC_ID, 5),                                        # read-only in x2APIC mode
            wrmsr(X2APIC_LDR, 0x10002),                                 # read-only too (derived from the ID)
        ])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND] * 8)
        self.assertEqual(vcpu.get_msrs(list(checked)), before)
        self.assertEqual(self.msr(vcpu, X2APIC_ID), 0)

    def test_x2apic_cpu_virtualized_registers_not_emulated(self):
        """TPR, PPR, EOI, ISR, TMR and IRR live in the TD's virtual APIC page: KVM cannot emulate them."""
        # Register 0 of ISR/TMR/IRR only: 6.16's tdx_has_emulated_msr() excluded
        # X2APIC_MSR(APIC_ISR) ... X2APIC_MSR(APIC_ISR + APIC_ISR_NR), which is
        # that register alone; newer kernels list the emulated registers instead.
        gvm, vcpu = self.msr_td([rdmsr(X2APIC_TPR), rdmsr(X2APIC_PPR), wrmsr(X2APIC_EOI, 0),
                                 rdmsr(X2APIC_ISR0), rdmsr(X2APIC_TMR0), rdmsr(X2APIC_IRR0)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND] * 6)
        self.assertEqual(vcpu.get_msrs([X2APIC_TPR]), {}, "host KVM_GET_MSRS of the TPR")

    def test_x2apic_isr_tmr_irr_above_0(self):
        """ISR1-7, TMR1-7 and IRR1-7 (generation row x2apic-msrs): since 7.2 not
        emulated, like register 0: the guest gets INVALID_OPERAND and
        KVM_GET_MSRS processes none.  Before, tdx_has_emulated_msr()'s ranges
        covered register 0 alone, so KVM's in-kernel LAPIC answered: SUCCESS
        with 0 (KVM's copy, which posted interrupts never fill)."""
        regs = (X2APIC_ISR0 + 1, X2APIC_ISR0 + 7, X2APIC_TMR0 + 1, X2APIC_TMR0 + 7,
                X2APIC_IRR0 + 1, X2APIC_IRR0 + 7)
        gvm, vcpu = self.msr_td([rdmsr(i) for i in regs])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        if self.kernel_has("x2apic-msrs"):
            self.assertStatuses(gvm, [INVALID_OPERAND] * len(regs))
            self.assertEqual(vcpu.get_msrs(list(regs)), {}, "host KVM_GET_MSRS")
        else:
            self.assertEqual(self.results(gvm), [(SUCCESS, 0)] * len(regs))
            self.assertEqual(vcpu.get_msrs(list(regs)), dict.fromkeys(regs, 0), "host KVM_GET_MSRS")

    def test_fixed_4k_mtrrs_each_its_own(self):
        """The eight fixed 4K MTRRs 0x268-0x26F (find_mtrr()): each takes its own
        value (every value different, so a shifted index shows) and reads it back;
        the MSRs just outside them are no MTRRs KVM knows: 0x267 and 0x270
        INVALID_OPERAND; the last variable MTRR (0x20F) is one, 0x210 is not."""
        last_var, first_after_var = MSR_MTRRphysBase0 + 2 * 8 - 1, MSR_MTRRphysBase0 + 2 * 8
        # Memory types 0, 1, 4, 5, 6 (the valid ones) rotated per MSR.
        types = (6, 5, 4, 1, 0, 6, 5, 4)
        values = {MSR_MTRRfix4K_C0000 + i: int.from_bytes(bytes(types[(i + j) % 8] for j in range(8)), "little")
                  for i in range(8)}
        ops = [wrmsr(index, value) for index, value in values.items()]
        ops += [rdmsr(index) for index in values]
        ops += [rdmsr(MSR_MTRRfix4K_C0000 - 1), rdmsr(MSR_MTRRfix4K_F8000 + 1), rdmsr(last_var),
                rdmsr(first_after_var)]
        gvm, vcpu = self.msr_td(ops)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual([r10 for r10, _ in results[:8]], [SUCCESS] * 8, "WRMSR of each fixed 4K MTRR")
        self.assertEqual(results[8:16], [(SUCCESS, v) for v in values.values()], "RDMSR after WRMSR")
        self.assertEqual(vcpu.get_msrs(list(values)), values, "KVM_GET_MSRS")
        self.assertEqual([r10 for r10, _ in results[16:]], [INVALID_OPERAND, INVALID_OPERAND, SUCCESS,
                                                           INVALID_OPERAND])

    def test_fixed_mtrr_bad_type_in_each_byte(self):
        """A fixed MTRR holds 8 memory types, one per byte, each checked
        (kvm_mtrr_valid(), mtrr_valid()): a reserved type (2) in byte i, every
        other byte valid, is refused for each i; the all-valid value is taken."""
        good = 0x0606060606060606
        ops = [wrmsr(MSR_MTRRfix4K_C0000, good & ~(0xFF << 8 * i) | 2 << 8 * i) for i in range(8)]
        ops += [wrmsr(MSR_MTRRfix4K_C0000, good), rdmsr(MSR_MTRRfix4K_C0000)]
        gvm, vcpu = self.msr_td(ops)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual([ghci.status_name(r10) for r10, _ in results[:8]],
                         [ghci.status_name(INVALID_OPERAND)] * 8, "a reserved type in byte 0..7")
        self.assertEqual(results[8][0], SUCCESS)
        self.assertEqual(results[9], (SUCCESS, good))

    def test_misc_features_enables_reserved_bits(self):
        """MISC_FEATURES_ENABLES with PLATFORM_INFO.CPUID_FAULT set (KVM's reset
        value, so that precondition is met): CPUID_FAULT (bit 0) is taken and
        cleared again; bit 1 and bit 63 alone, and bit 0 with bit 1, are
        refused (kvm_set_msr_common()), the MSR keeps the last taken value."""
        ops = [wrmsr(MSR_MISC_FEATURES_ENABLES, MISC_FEATURES_CPUID_FAULT), rdmsr(MSR_MISC_FEATURES_ENABLES),
               wrmsr(MSR_MISC_FEATURES_ENABLES, 1 << 1), wrmsr(MSR_MISC_FEATURES_ENABLES, 1 << 63),
               wrmsr(MSR_MISC_FEATURES_ENABLES, MISC_FEATURES_CPUID_FAULT | 1 << 1),
               rdmsr(MSR_MISC_FEATURES_ENABLES), wrmsr(MSR_MISC_FEATURES_ENABLES, 0),
               rdmsr(MSR_MISC_FEATURES_ENABLES)]
        gvm, vcpu = self.msr_td(ops)
        self.assertEqual(self.msr(vcpu, MSR_PLATFORM_INFO) & PLATFORM_INFO_CPUID_FAULT, PLATFORM_INFO_CPUID_FAULT)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0][0], SUCCESS)
        self.assertEqual(results[1], (SUCCESS, MISC_FEATURES_CPUID_FAULT))
        self.assertEqual([r10 for r10, _ in results[2:5]], [INVALID_OPERAND] * 3)
        self.assertEqual(results[5], (SUCCESS, MISC_FEATURES_CPUID_FAULT))
        self.assertEqual(results[6][0], SUCCESS)
        self.assertEqual(results[7], (SUCCESS, 0))

    def test_mcg_ext_ctl_needs_lmce(self):
        """MCG_EXT_CTL without MCG_LMCE_P in MCG_CAP (a TD vCPU's MCG_CAP is
        KVM_MAX_MCE_BANKS alone): the guest's RDMSR and WRMSR are refused
        (tdx_get_msr()/tdx_set_msr()), the host's KVM_GET_MSRS/KVM_SET_MSRS of it
        succeed."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_MCG_EXT_CTL), wrmsr(MSR_IA32_MCG_EXT_CTL, 1)])
        self.assertEqual(self.msr(vcpu, MSR_IA32_MCG_CAP), KVM_MAX_MCE_BANKS)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])
        self.assertEqual(vcpu.get_msrs([MSR_IA32_MCG_EXT_CTL]), {MSR_IA32_MCG_EXT_CTL: 0})
        self.assertEqual(vcpu.set_msrs({MSR_IA32_MCG_EXT_CTL: 1}), 1, "host KVM_SET_MSRS")
        self.assertEqual(vcpu.get_msrs([MSR_IA32_MCG_EXT_CTL]), {MSR_IA32_MCG_EXT_CTL: 1})

    def arch_capabilities_td(self, bit, exits=None):
        """A TD whose vCPU's CPUID.7.0:EDX[29] is `bit` (KVM_SET_CPUID2 before
        the first KVM_RUN, which KVM allows), reading ARCH_CAPABILITIES."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_ARCH_CAPABILITIES), wrmsr(MSR_IA32_ARCH_CAPABILITIES, 0)],
                                exits=exits)
        table = [(f, i, fl, a, b, c, (d | CPUID_7_EDX_ARCH_CAPABILITIES) if bit else
                  (d & ~CPUID_7_EDX_ARCH_CAPABILITIES)) if (f, i) == (7, 0) else (f, i, fl, a, b, c, d)
                 for f, i, fl, a, b, c, d in vcpu.get_cpuid2()]
        self.assertTrue(any((f, i) == (7, 0) for f, i, *_ in table), "no CPUID leaf 7 in the vCPU's table")
        vcpu.set_cpuid2(table)
        return gvm, vcpu

    def test_arch_capabilities_with_cpuid_bit(self):
        """CPUID.7.0:EDX[29] set: the host's KVM_SET_MSRS of ARCH_CAPABILITIES
        before the first KVM_RUN takes a value of its own, which the guest's
        RDMSR then gets with SUCCESS; the guest's WRMSR is refused
        (host-initiated only)."""
        gvm, vcpu = self.arch_capabilities_td(True)
        value = 0x29                                # RDCL_NO | SKIP_VMENTRY_L1DFLUSH | MDS_NO
        self.assertEqual(vcpu.set_msrs({MSR_IA32_ARCH_CAPABILITIES: value}), 1, "host KVM_SET_MSRS")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0], (SUCCESS, value))
        self.assertEqual(results[1][0], INVALID_OPERAND)

    def test_arch_capabilities_without_cpuid_bit(self):
        """CPUID.7.0:EDX[29] clear: the guest's RDMSR of ARCH_CAPABILITIES is
        refused (kvm_get_msr_common(): !host_initiated and no
        X86_FEATURE_ARCH_CAPABILITIES); the host's KVM_GET_MSRS still reads it."""
        gvm, vcpu = self.arch_capabilities_td(False)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])
        self.assertIn(MSR_IA32_ARCH_CAPABILITIES, vcpu.get_msrs([MSR_IA32_ARCH_CAPABILITIES]))

    def test_arch_capabilities_without_cpuid_bit_exit_reason_inval(self):
        """The same refusals are KVM_MSR_RET_INVALID, not UNSUPPORTED: with only
        reason INVAL enabled the guest's RDMSR and WRMSR of ARCH_CAPABILITIES
        each exit to userspace with reason INVAL (kvm_msr_reason()); with
        msr.error set the guest gets INVALID_OPERAND for both."""
        gvm, vcpu = self.arch_capabilities_td(False, exits=REASON_INVAL)
        poison_exit(vcpu)
        self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_INVAL, MSR_IA32_ARCH_CAPABILITIES, 0).error = 1
        self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_INVAL, MSR_IA32_ARCH_CAPABILITIES, 0).error = 1
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])

    def test_x2apic_lvr_value(self):
        """The x2APIC version register KVM emulates (kvm_apic_set_version()):
        version 0x14, 6 LVT entries (MCG_CAP has no CMCI_P), and Directed EOI
        (bit 24), which KVM advertises when the vCPU's CPUID has x2APIC and the
        IOAPIC is not in the kernel (a TD's IRQ chip is split): 0x01050014 to
        the guest and to KVM_GET_MSRS."""
        gvm, vcpu = self.msr_td([rdmsr(X2APIC_LVR)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        want = APIC_VERSION_6_LVT | APIC_LVR_DIRECTED_EOI
        self.assertEqual(self.results(gvm), [(SUCCESS, want)])
        self.assertEqual(self.msr(vcpu, X2APIC_LVR), want)

    # -- reset values (kvm_arch_vcpu_create(), kvm_vcpu_reset(), tdx_vcpu_create()) --

    def test_msr_reset_values_each_vcpu(self):
        """A fresh TD vCPU, before its first KVM_RUN, has KVM's reset values:
        MISC_ENABLE = PEBS_UNAVAIL | BTS_UNAVAIL (0x1800) and PAT, MISC_FEATURES_ENABLES
        from kvm_vcpu_reset(), PLATFORM_INFO = CPUID_FAULT and MCG_CAP = KVM_MAX_MCE_BANKS
        from kvm_arch_vcpu_create(), POLL_CONTROL 1 (kvm_arch_vcpu_postcreate()),
        EFER = SCE|LME|LMA|NX (tdx_vcpu_create()).  Per vCPU (2 vCPUs): APICBASE has
        BSP on vCPU 0 only, the x2APIC ID and LDR follow the vCPU id."""
        gvm, _ = self.create_td("guest_msr_ops", nr_vcpus=2)
        common = {MSR_IA32_MISC_ENABLE: MISC_ENABLE_PEBS_UNAVAIL | MISC_ENABLE_BTS_UNAVAIL,
                  MSR_IA32_CR_PAT: CR_PAT_DEFAULT, MSR_MISC_FEATURES_ENABLES: 0,
                  MSR_PLATFORM_INFO: PLATFORM_INFO_CPUID_FAULT, MSR_IA32_MCG_CAP: KVM_MAX_MCE_BANKS,
                  MSR_IA32_MCG_STATUS: 0, MSR_IA32_POWER_CTL: 0, MSR_MTRRdefType: 0,
                  MSR_KVM_POLL_CONTROL: 1, MSR_EFER: EFER_SCE | EFER_LME | EFER_LMA | EFER_NX}
        for i, vcpu in enumerate(gvm.vcpus):
            want = dict(common)
            want[MSR_IA32_APICBASE] = (APIC_DEFAULT_PHYS_BASE | X2APIC_ENABLE | APICBASE_ENABLE |
                                       (APICBASE_BSP if i == 0 else 0))
            want[X2APIC_ID] = i
            want[X2APIC_LDR] = 1 << i
            with self.subTest(vcpu=i):
                got = vcpu.get_msrs(list(want))
                self.assertEqual({k: "%#x" % v for k, v in got.items()}, {k: "%#x" % v for k, v in want.items()})

    def test_misc_enable_after_refused_writes(self):
        """MISC_ENABLE stays 0x1800 after a write the filter refuses and one KVM
        refuses (a read-only PMU bit flipped): the guest reads it twice, KVM_GET_MSRS
        twice, all 0x1800."""
        reset = MISC_ENABLE_PEBS_UNAVAIL | MISC_ENABLE_BTS_UNAVAIL
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_MISC_ENABLE),
                                 wrmsr(MSR_IA32_MISC_ENABLE, reset ^ MISC_ENABLE_FAST_STRING),
                                 wrmsr(MSR_IA32_MISC_ENABLE, reset ^ MISC_ENABLE_BTS_UNAVAIL),
                                 rdmsr(MSR_IA32_MISC_ENABLE), rdmsr(MSR_IA32_MISC_ENABLE)],
                                msr_filter=[allow(MSR_IA32_MISC_ENABLE, READ), deny(MSR_IA32_MISC_ENABLE, WRITE)])
        self.assertEqual(self.msr(vcpu, MSR_IA32_MISC_ENABLE), reset, "before the first KVM_RUN")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0], (SUCCESS, reset))
        self.assertEqual([r[0] for r in results[1:3]], [INVALID_OPERAND, INVALID_OPERAND])
        self.assertEqual(results[3:], [(SUCCESS, reset), (SUCCESS, reset)])
        for _ in range(2):
            self.assertEqual(self.msr(vcpu, MSR_IA32_MISC_ENABLE), reset)

    # -- edges of KVM's MSR rules for a TD, each value its own --

    def test_x2apic_lapic_reset_values_each_vcpu(self):
        """kvm_lapic_reset() on each of 2 vCPUs, read with KVM_GET_MSRS before the
        first KVM_RUN: the six LVTs a vCPU without CMCI has masked (0x10000),
        except LVT0 of the BSP, which KVM_X86_QUIRK_LINT0_REENABLED makes ExtINT
        (0x700); SPIV 0xFF; ESR, ICR, TMICT, TMCCT and TDCR 0.  LVTCMCI is no
        register of such a vCPU (kvm_lapic_readable_reg_mask(): MCG_CAP has no
        CMCI_P): KVM_GET_MSRS stops at it."""
        gvm, _ = self.create_td("guest_msr_ops", nr_vcpus=2)
        for i, vcpu in enumerate(gvm.vcpus):
            want = {X2APIC_LVTT: APIC_LVT_MASKED, X2APIC_LVTTHMR: APIC_LVT_MASKED,
                    X2APIC_LVTPC: APIC_LVT_MASKED, X2APIC_LVT0: APIC_LVT0_EXTINT if i == 0 else APIC_LVT_MASKED,
                    X2APIC_LVT1: APIC_LVT_MASKED, X2APIC_LVTERR: APIC_LVT_MASKED, X2APIC_SPIV: 0xFF,
                    X2APIC_ESR: 0, X2APIC_ICR: 0, X2APIC_TMICT: 0, X2APIC_TMCCT: 0, X2APIC_TDCR: 0,
                    MSR_IA32_MCG_CTL: 0}
            with self.subTest(vcpu=i):
                got = vcpu.get_msrs(list(want))
                self.assertEqual({k: "%#x" % v for k, v in got.items()}, {k: "%#x" % v for k, v in want.items()})
                self.assertEqual(vcpu.get_msrs([X2APIC_LVTCMCI]), {}, "KVM_GET_MSRS of LVTCMCI")

    def test_x2apic_write_masks_and_cmci(self):
        """x2APIC writes KVM masks (kvm_lapic_reg_write()): SPIV keeps bits 0-9
        and, as the LVR advertises Directed EOI, bit 12 (0x31FF -> 0x11FF); TDCR
        keeps 0xB (0xF -> 0xB); TMICT keeps all 32 bits.  LVTCMCI is refused
        both ways (no CMCI_P), and nothing else changed."""
        gvm, vcpu = self.msr_td([wrmsr(X2APIC_SPIV, 0x31FF), rdmsr(X2APIC_SPIV),
                                 wrmsr(X2APIC_TDCR, 0xF), rdmsr(X2APIC_TDCR),
                                 wrmsr(X2APIC_TMICT, 0x89ABCDEF), rdmsr(X2APIC_TMICT),
                                 wrmsr(X2APIC_LVTCMCI, APIC_LVT_MASKED), rdmsr(X2APIC_LVTCMCI)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual([r10 for r10, _ in results[0:6:2]], [SUCCESS] * 3, "WRMSR of SPIV, TDCR, TMICT")
        self.assertEqual([results[1], results[3], results[5]],
                         [(SUCCESS, 0x11FF), (SUCCESS, 0xB), (SUCCESS, 0x89ABCDEF)])
        self.assertEqual([r10 for r10, _ in results[6:]], [INVALID_OPERAND] * 2, "LVTCMCI")
        self.assertEqual(vcpu.get_msrs([X2APIC_SPIV, X2APIC_TDCR, X2APIC_TMICT]),
                         {X2APIC_SPIV: 0x11FF, X2APIC_TDCR: 0xB, X2APIC_TMICT: 0x89ABCDEF})

    def test_x2apic_range_ends_refused(self):
        """0x800 and 0x8FF are x2APIC MSRs (kvm_msr_allowed() never filters them)
        but no register (offsets 0x000 and 0xFF0): on every release, whether
        tdx_has_emulated_msr() takes them or not, the guest's RDMSR and WRMSR get
        INVALID_OPERAND and KVM_GET_MSRS/KVM_SET_MSRS process none."""
        ends = (0x800, 0x8FF)
        gvm, vcpu = self.msr_td([op for i in ends for op in (rdmsr(i), wrmsr(i, 0x10))])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND] * 4)
        for index in ends:
            with self.subTest(msr=hex(index)):
                self.assertEqual(vcpu.get_msrs([index]), {})
                self.assertEqual(vcpu.set_msrs({index: 0}), 0)

    def test_msrs_before_init_vcpu(self):
        """Before KVM_TDX_INIT_VCPU a vCPU has kvm_lapic_reset()'s APIC base: xAPIC
        mode, enabled, BSP on vCPU 0 only (0xFEE00900, 0xFEE00800), so its x2APIC
        registers are not accessible: KVM_GET_MSRS and KVM_SET_MSRS of the x2APIC
        ID and SPIV process none (kvm_x2apic_msr_read()/write())."""
        b = self.td_builder("guest_msr_ops")
        vm = b.create_vm()
        b.init_vm()
        for i in range(2):
            vcpu = vm.create_vcpu(i)
            with self.subTest(vcpu=i):
                self.assertEqual(vcpu.get_msrs([MSR_IA32_APICBASE]),
                                 {MSR_IA32_APICBASE: APIC_DEFAULT_PHYS_BASE | APICBASE_ENABLE |
                                  (APICBASE_BSP if i == 0 else 0)})
                self.assertEqual(vcpu.get_msrs([X2APIC_ID]), {}, "x2APIC ID in xAPIC mode")
                self.assertEqual(vcpu.get_msrs([X2APIC_SPIV]), {}, "x2APIC SPIV in xAPIC mode")
                self.assertEqual(vcpu.set_msrs({X2APIC_SPIV: 0x1FF}), 0, "KVM_SET_MSRS of SPIV in xAPIC mode")

    def test_fixed_64k_16k_mtrrs_each_its_own(self):
        """The fixed 64K MTRR (0x250) and both 16K MTRRs (0x258, 0x259), each
        with its own value (find_mtrr()); the neighbours 0x251, 0x257 and 0x25A
        are no MTRRs KVM knows: INVALID_OPERAND."""
        values = {MSR_MTRRfix64K_00000: 0x0001040506000104, MSR_MTRRfix16K_80000: 0x0605040100060504,
                  MSR_MTRRfix16K_A0000: 0x0406050001040605}
        ops = [wrmsr(i, v) for i, v in values.items()] + [rdmsr(i) for i in values]
        ops += [rdmsr(MSR_MTRRfix64K_00000 + 1), rdmsr(MSR_MTRRfix16K_80000 - 1), rdmsr(MSR_MTRRfix16K_A0000 + 1)]
        gvm, vcpu = self.msr_td(ops)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual([r10 for r10, _ in results[:3]], [SUCCESS] * 3, "WRMSR")
        self.assertEqual(results[3:6], [(SUCCESS, v) for v in values.values()], "RDMSR after WRMSR")
        self.assertEqual(vcpu.get_msrs(list(values)), values, "KVM_GET_MSRS")
        self.assertEqual([r10 for r10, _ in results[6:]], [INVALID_OPERAND] * 3, "0x251, 0x257, 0x25A")

    def vcpu_maxphyaddr(self, vcpu):
        """cpuid_query_maxphyaddr() of the vCPU's CPUID: 0x80000008 EAX[7:0], 36 without that leaf."""
        leaves = {(f, i): (a, b, c, d) for f, i, _, a, b, c, d in vcpu.get_cpuid2()}
        if leaves.get((0x80000000, 0), (0,))[0] < 0x80000008 or (0x80000008, 0) not in leaves:
            return 36
        return leaves[(0x80000008, 0)][0] & 0xFF

    def test_variable_mtrr_edges(self):
        """Variable MTRRs (kvm_mtrr_valid()): PhysBase0 (0x200) takes a valid type
        (WC, bit 0 set) with the top address bit below MAXPHYADDR; refused: the
        reserved type 2, bit MAXPHYADDR, reserved bit 8.  PhysMask0 (0x201) takes
        VALID (bit 11) with the mask; refused: bit 10, bit MAXPHYADDR.  The last,
        PhysMask7 (0x20F), takes a value too.  Every refused write leaves the MSR
        as it was; PhysBase1 and PhysMask1, never written, read 0 (mtrr_state is
        zeroed when the vCPU is created)."""
        gvm, vcpu = self.msr_td()
        top = self.vcpu_maxphyaddr(vcpu)
        base = (1 << (top - 1)) | MTRR_TYPE_WC
        mask = ((1 << top) - 1) & ~0xFFF | MTRR_PHYSMASK_VALID
        last = MSR_MTRRphysBase0 + 2 * 8 - 1
        self.set_ops(gvm, [
            wrmsr(MSR_MTRRphysBase0, base), wrmsr(MSR_MTRRphysMask0, mask), wrmsr(last, mask),
            wrmsr(MSR_MTRRphysBase0, 0x2), wrmsr(MSR_MTRRphysBase0, 1 << top | MTRR_TYPE_WB),
            wrmsr(MSR_MTRRphysBase0, 1 << 8 | MTRR_TYPE_WB),
            wrmsr(MSR_MTRRphysMask0, mask | 1 << 10), wrmsr(MSR_MTRRphysMask0, mask | 1 << top),
            rdmsr(MSR_MTRRphysBase0), rdmsr(MSR_MTRRphysMask0), rdmsr(last),
            rdmsr(MSR_MTRRphysBase0 + 2), rdmsr(MSR_MTRRphysMask0 + 2)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual([ghci.status_name(r10) for r10, _ in results[:8]],
                         [ghci.status_name(s) for s in [SUCCESS] * 3 + [INVALID_OPERAND] * 5])
        self.assertEqual(results[8:], [(SUCCESS, base), (SUCCESS, mask), (SUCCESS, mask), (SUCCESS, 0), (SUCCESS, 0)])

    def test_mce_bank_ranges(self):
        """The machine-check banks (tdx_has_emulated_msr(), get_msr_mce()): MCi_CTL,
        STATUS, ADDR, MISC from 0x400 to 0x47F (32 banks) and MCi_CTL2 from 0x280
        to 0x29F.  KVM_GET_MSRS reads each end as 0 and neither 0x480 nor 0x2A0.
        The guest reads 0x400 and 0x47F; 0x480 and MC0_CTL2 (no CMCI_P in
        MCG_CAP) get INVALID_OPERAND."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_MC0_CTL), rdmsr(MSR_IA32_MC0_CTL + 4 * KVM_MAX_MCE_BANKS - 1),
                                 rdmsr(MSR_IA32_MC0_CTL + 4 * KVM_MAX_MCE_BANKS), rdmsr(MSR_IA32_MC0_CTL2)])
        for index in (MSR_IA32_MC0_CTL, MSR_IA32_MC0_CTL + 4 * KVM_MAX_MCE_BANKS - 1, MSR_IA32_MC0_CTL2,
                      MSR_IA32_MC0_CTL2 + KVM_MAX_MCE_BANKS - 1):
            with self.subTest(msr=hex(index)):
                self.assertEqual(vcpu.get_msrs([index]), {index: 0})
        for index in (MSR_IA32_MC0_CTL + 4 * KVM_MAX_MCE_BANKS, MSR_IA32_MC0_CTL2 + KVM_MAX_MCE_BANKS):
            with self.subTest(msr=hex(index)):
                self.assertEqual(vcpu.get_msrs([index]), {})
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[:2], [(SUCCESS, 0), (SUCCESS, 0)], "RDMSR of 0x400 and 0x47F")
        self.assertEqual([r10 for r10, _ in results[2:]], [INVALID_OPERAND] * 2, "RDMSR of 0x480 and MC0_CTL2")

    def test_mce_bank_writes(self):
        """set_msr_mce(): MCi_CTL takes 0 or all ones, bits 10 and 0 may be clear
        (bank 31's CTL at 0x47C); other values refused, from the host too (bank
        0's CTL, 0x400, the first index of the banks).  MCi_STATUS takes only 0
        from the guest, anything from the host.  MCi_CTL2 without CMCI_P: the host
        may write 0 only, the guest nothing."""
        ones = (1 << 64) - 1
        ctl31, status0 = MSR_IA32_MC0_CTL + 4 * 31, MSR_IA32_MC0_CTL + 1
        gvm, vcpu = self.msr_td([wrmsr(ctl31, ones & ~(1 << 10 | 1)), rdmsr(ctl31), wrmsr(ctl31, 0x5),
                                 wrmsr(ctl31, ones & ~2), wrmsr(status0, 0), wrmsr(status0, 0x8000000000000001),
                                 wrmsr(MSR_IA32_MC0_CTL2, 0)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[1], (SUCCESS, ones & ~(1 << 10 | 1)))
        self.assertEqual([ghci.status_name(r10) for r10, _ in results[:1] + results[2:]],
                         [ghci.status_name(s) for s in (SUCCESS, INVALID_OPERAND, INVALID_OPERAND, SUCCESS,
                                                        INVALID_OPERAND, INVALID_OPERAND)])
        self.assertEqual(vcpu.set_msrs({status0: 0x8000000000000001}), 1, "host MCi_STATUS")
        self.assertEqual(vcpu.set_msrs({MSR_IA32_MC0_CTL: 0x5}), 0, "host MC0_CTL = 5")
        self.assertEqual(vcpu.set_msrs({MSR_IA32_MC0_CTL: ones & ~(1 << 10)}), 1, "host MC0_CTL = all ones but bit 10")
        self.assertEqual(vcpu.set_msrs({MSR_IA32_MC0_CTL2: 0}), 1, "host MCi_CTL2 = 0")
        self.assertEqual(vcpu.set_msrs({MSR_IA32_MC0_CTL2: 1}), 0, "host MCi_CTL2 = 1 without CMCI_P")
        self.assertEqual(vcpu.get_msrs([ctl31, status0]), {ctl31: ones & ~(1 << 10 | 1), status0: 0x8000000000000001})

    def test_mcg_ctl_without_ctl_p(self):
        """MCG_CTL when MCG_CAP has no MCG_CTL_P (a TD vCPU's MCG_CAP): the guest
        can neither read it nor write it, not even 0; the host reads 0, writes 0,
        and cannot write all ones (set_msr_mce(), get_msr_mce())."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_MCG_CTL), wrmsr(MSR_IA32_MCG_CTL, 0)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])
        self.assertEqual(vcpu.get_msrs([MSR_IA32_MCG_CTL]), {MSR_IA32_MCG_CTL: 0})
        self.assertEqual(vcpu.set_msrs({MSR_IA32_MCG_CTL: 0}), 1, "host write of 0")
        self.assertEqual(vcpu.set_msrs({MSR_IA32_MCG_CTL: (1 << 64) - 1}), 0, "host write of all ones")

    def test_mcg_cap_and_mtrrcap_not_writable(self):
        """MCG_CAP and MTRRcap are emulated for a TD but kvm_set_msr_common() has
        no case for them: a write returns KVM_MSR_RET_UNSUPPORTED, so the guest's
        WRMSR exits with reason UNKNOWN (and, with the error userspace sets,
        completes with INVALID_OPERAND), and the host's KVM_SET_MSRS of either,
        even of its own value, processes none.  Both read as before."""
        gvm, vcpu = self.msr_td([wrmsr(MSR_IA32_MCG_CAP, KVM_MAX_MCE_BANKS), wrmsr(MSR_MTRRcap, 0x508)],
                                exits=REASON_UNKNOWN)
        before = vcpu.get_msrs([MSR_IA32_MCG_CAP, MSR_MTRRcap])
        for index in (MSR_IA32_MCG_CAP, MSR_MTRRcap):
            with self.subTest(msr=hex(index)):
                self.assertEqual(vcpu.set_msrs({index: before[index]}), 0, "host KVM_SET_MSRS")
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_UNKNOWN, MSR_IA32_MCG_CAP, KVM_MAX_MCE_BANKS)
        m.error = 1
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_UNKNOWN, MSR_MTRRcap, 0x508)
        m.error = 1
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])
        self.assertEqual(vcpu.get_msrs([MSR_IA32_MCG_CAP, MSR_MTRRcap]), before)

    def refused_msr_ops(self, vcpu):
        """One refused guest access per check that KVM answers with 1
        (KVM_MSR_RET_INVALID): tdx_set_msr()/tdx_get_msr() (MCG_EXT_CTL without
        MCG_LMCE_P), kvm_set_msr_common() (ARCH_CAPABILITIES and PLATFORM_INFO
        from the guest, PAT, MISC_FEATURES_ENABLES, POLL_CONTROL),
        kvm_mtrr_set_msr()/kvm_mtrr_get_msr() (defType, fixed, variable MTRRs,
        the one after the 8th pair), set_msr_mce()/get_msr_mce() (MCG_CTL
        without MCG_CTL_P, MCi_CTL2 without MCG_CMCI_P, MCi_CTL, MCi_STATUS) and
        kvm_x2apic_msr_write() (read-only ID, reserved bits 63:32, ESR not 0)
        and kvm_x2apic_msr_read() (LVTCMCI, no register without CMCI).
        Each value differs, so an exit's msr.data names its op.  The host clears
        PLATFORM_INFO.CPUID_FAULT first, so that MISC_FEATURES_ENABLES = 1 is
        refused for that alone."""
        platform_info = self.msr(vcpu, MSR_PLATFORM_INFO)
        self.assertEqual(vcpu.set_msrs({MSR_PLATFORM_INFO: platform_info & ~PLATFORM_INFO_CPUID_FAULT}), 1)
        return [
            wrmsr(MSR_IA32_MCG_EXT_CTL, 1), rdmsr(MSR_IA32_MCG_EXT_CTL),
            wrmsr(MSR_IA32_ARCH_CAPABILITIES, 0x1A),
            wrmsr(MSR_IA32_CR_PAT, 0x0007040600070402),             # type 2 in byte 0
            wrmsr(MSR_MTRRdefType, 0x1C06),                         # reserved bit 12
            wrmsr(MSR_MTRRfix64K_00000, 0x0306060606060606),        # type 3 in byte 7
            wrmsr(MSR_MTRRphysBase0 + 16, 0x6), rdmsr(MSR_MTRRphysBase0 + 16),
            wrmsr(MSR_MTRRphysMask0, 1 << 10 | 1 << 11),            # reserved bit 10
            wrmsr(MSR_PLATFORM_INFO, platform_info),
            wrmsr(MSR_MISC_FEATURES_ENABLES, 1 << 1),
            wrmsr(MSR_MISC_FEATURES_ENABLES, MISC_FEATURES_CPUID_FAULT),
            wrmsr(MSR_IA32_MCG_CTL, 0), rdmsr(MSR_IA32_MCG_CTL),
            wrmsr(MSR_IA32_MC0_CTL2, 1 << 30 | 0x7FFF), rdmsr(MSR_IA32_MC0_CTL2),
            wrmsr(MSR_IA32_MC0_CTL + 4 * 31, 0x5),
            wrmsr(MSR_IA32_MC0_CTL + 1, 0x8000000000000009),
            wrmsr(MSR_KVM_POLL_CONTROL, 0x2),
            wrmsr(X2APIC_ID, 0x7),
            wrmsr(X2APIC_SPIV, 1 << 32 | 0x1FF),
            wrmsr(X2APIC_ESR, 0xB),
            rdmsr(X2APIC_LVTCMCI),
        ]

    def test_refused_msrs_exit_reason_inval(self):
        """Every refused access above exits with reason INVAL when userspace
        enabled only INVAL (kvm_msr_reason(): any failure but
        KVM_MSR_RET_UNSUPPORTED and FILTERED, arch/x86/kvm/x86.c), msr.index and
        msr.data those of the access (0 for RDMSR); with msr.error set the guest
        gets INVALID_OPERAND each time."""
        gvm, vcpu = self.msr_td(exits=REASON_INVAL)
        ops = self.refused_msr_ops(vcpu)
        self.set_ops(gvm, ops)
        poison_exit(vcpu)
        for op, index, value in ops:
            exit_reason = abi.KVM_EXIT_X86_WRMSR if op == WRMSR else abi.KVM_EXIT_X86_RDMSR
            m = self.run_msr_exit(vcpu, exit_reason, REASON_INVAL, index, value if op == WRMSR else 0)
            m.error = 1
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND] * len(ops))

    def test_refused_msrs_no_exit_for_reason_unknown(self):
        """The same refused accesses with only reason UNKNOWN enabled: none of
        them is KVM_MSR_RET_UNSUPPORTED, so no exit; INVALID_OPERAND each."""
        gvm, vcpu = self.msr_td(exits=REASON_UNKNOWN)
        self.set_ops(gvm, self.refused_msr_ops(vcpu))
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND] * self.nr_ops)

    def test_misc_enable_fast_string_set_and_cleared(self):
        """The guest sets MISC_ENABLE.FAST_STRING and clears it again: both writes
        keep the read-only PMU bits (only bits that change are checked,
        kvm_set_msr_common()), so both succeed."""
        reset = MISC_ENABLE_PEBS_UNAVAIL | MISC_ENABLE_BTS_UNAVAIL
        gvm, vcpu = self.msr_td([wrmsr(MSR_IA32_MISC_ENABLE, reset | MISC_ENABLE_FAST_STRING),
                                 rdmsr(MSR_IA32_MISC_ENABLE), wrmsr(MSR_IA32_MISC_ENABLE, reset),
                                 rdmsr(MSR_IA32_MISC_ENABLE)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual([r10 for r10, _ in results[0::2]], [SUCCESS, SUCCESS], "WRMSR")
        self.assertEqual(results[1::2], [(SUCCESS, reset | MISC_ENABLE_FAST_STRING), (SUCCESS, reset)])

    def test_poll_control_only_bit_0(self):
        """MSR_KVM_POLL_CONTROL takes bit 0 alone: 0 and 1 accepted, 2 and bit 63
        refused, the last accepted value (1) stays."""
        gvm, vcpu = self.msr_td([wrmsr(MSR_KVM_POLL_CONTROL, 0), wrmsr(MSR_KVM_POLL_CONTROL, 1),
                                 wrmsr(MSR_KVM_POLL_CONTROL, 2), wrmsr(MSR_KVM_POLL_CONTROL, 1 << 63),
                                 rdmsr(MSR_KVM_POLL_CONTROL)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual([r10 for r10, _ in self.results(gvm)[:4]],
                         [SUCCESS, SUCCESS, INVALID_OPERAND, INVALID_OPERAND])
        self.assertEqual(self.results(gvm)[4], (SUCCESS, 1))

    # -- the filter and the exits changed while the TD runs --

    def run_to_sync(self, vcpu):
        uc = vcpu.run_exit(timeout=RUN_TIMEOUT)
        if uc is None or uc.name != "SYNC":
            self.fail("expected GUEST_SYNC, got %s" % (uc.name if uc else describe(vcpu.kvm_run)))

    def test_msr_filter_removed_at_run_time(self):
        """A read denied by the filter exits; after the host sets a default-allow
        filter with no ranges, the same RDMSR is KVM's: no exit, SUCCESS, R11 =
        what KVM_GET_MSRS reports."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_POWER_CTL), sync(), rdmsr(MSR_IA32_POWER_CTL)],
                                exits=REASON_FILTER, msr_filter=[deny(MSR_IA32_POWER_CTL, READ)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
        m.data = 0x5555AAAA5555AAAA
        self.run_to_sync(vcpu)
        gvm.vm.set_msr_filter([])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0], (SUCCESS, 0x5555AAAA5555AAAA), "answered by userspace")
        self.assertEqual(results[2], (SUCCESS, self.msr(vcpu, MSR_IA32_POWER_CTL)), "answered by KVM")

    def test_msr_filter_replaced_at_run_time(self):
        """Filter A denies reads of POWER_CTL, filter B of CR_PAT, then default-allow:
        each RDMSR exits exactly while the filter in force denies it (3 phases, 6
        reads, 2 exits)."""
        ops = [rdmsr(MSR_IA32_POWER_CTL), rdmsr(MSR_IA32_CR_PAT), sync(),
               rdmsr(MSR_IA32_POWER_CTL), rdmsr(MSR_IA32_CR_PAT), sync(),
               rdmsr(MSR_IA32_POWER_CTL), rdmsr(MSR_IA32_CR_PAT)]
        gvm, vcpu = self.msr_td(ops, exits=REASON_FILTER, msr_filter=[deny(MSR_IA32_POWER_CTL, READ)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})
        kvm = vcpu.get_msrs([MSR_IA32_POWER_CTL, MSR_IA32_CR_PAT])
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
        m.data = 0xA1
        self.run_to_sync(vcpu)
        gvm.vm.set_msr_filter([deny(MSR_IA32_CR_PAT, READ)])
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_CR_PAT, 0)
        m.data = 0xB2
        self.run_to_sync(vcpu)
        gvm.vm.set_msr_filter([])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        got = [r for i, r in enumerate(self.results(gvm)) if ops[i][0] == RDMSR]
        self.assertEqual(got, [(SUCCESS, 0xA1), (SUCCESS, kvm[MSR_IA32_CR_PAT]),
                               (SUCCESS, kvm[MSR_IA32_POWER_CTL]), (SUCCESS, 0xB2),
                               (SUCCESS, kvm[MSR_IA32_POWER_CTL]), (SUCCESS, kvm[MSR_IA32_CR_PAT])])

    def test_msr_filter_change_seen_by_every_vcpu(self):
        """The filter is the VM's: with two vCPUs, a denied read exits on each, and
        after the host replaces the filter (while both wait at GUEST_SYNC) neither
        exits; each gets its own answers."""
        gvm, _ = self.create_td("guest_msr_ops", nr_vcpus=2)
        ops = [rdmsr(MSR_IA32_POWER_CTL), sync(), rdmsr(MSR_IA32_POWER_CTL)]
        for i in range(2):
            self.set_ops(gvm, ops, vcpu=i)
        gvm.vm.enable_cap(abi.KVM_CAP_X86_USER_SPACE_MSR, REASON_FILTER)
        gvm.vm.set_msr_filter([deny(MSR_IA32_POWER_CTL, READ)])
        for i, vcpu in enumerate(gvm.vcpus):
            vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D00 + i})
            m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
            m.data = 0xF0 + i
            self.run_to_sync(vcpu)
        gvm.vm.set_msr_filter([])
        for vcpu in gvm.vcpus:
            vcpu.run_until_done(timeout=RUN_TIMEOUT)
        for i in range(2):
            with self.subTest(vcpu=i):
                got = self.results(gvm, vcpu=i)
                self.assertEqual((got[0], got[2]), ((SUCCESS, 0xF0 + i), (SUCCESS, 0x6B766D00 + i)))

    def test_msr_filter_allow_form_userspace_emulates(self):
        """userspace_msr_exit_test's allow form on a TD: a default-allow filter with
        three one-MSR ranges denying IA32_XSS (not emulated for a TD), FLUSH_CMD
        and a fabricated MSR; userspace emulates them: XSS reads 0 and takes
        only 0, FLUSH_CMD cannot be read and takes only 1, the fabricated MSR
        keeps what was written.  Each access exits with FILTER; userspace's
        error reaches the guest as INVALID_OPERAND."""
        xss, flush, fake = 0xDA0, 0x10B, 0x474F4F00
        ops = [rdmsr(xss), wrmsr(xss, 0), wrmsr(xss, 1), rdmsr(flush), wrmsr(flush, 0), wrmsr(flush, 1),
               wrmsr(fake, 2), rdmsr(fake)]
        gvm, vcpu = self.msr_td(ops, exits=REASON_FILTER,
                                msr_filter=[(READ | WRITE, m, bytes(1), 1) for m in (xss, flush, fake)])
        stored = {}
        for op, index, data in ops:
            if op == RDMSR:
                m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, index, 0)
                if index == flush:
                    m.error = 1
                else:
                    m.data = stored.get(index, 0)
            else:
                m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_FILTER, index, data)
                if (index, data) in ((xss, 1), (flush, 0)):
                    m.error = 1
                else:
                    stored[index] = data
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        got = self.results(gvm)
        self.assertStatuses(gvm, [SUCCESS, SUCCESS, INVALID_OPERAND, INVALID_OPERAND, INVALID_OPERAND,
                                  SUCCESS, SUCCESS, SUCCESS])
        self.assertEqual((got[0][1], got[7][1]), (0, 2), "the reads userspace answered")

    def test_user_space_msr_exits_changed_at_run_time(self):
        """KVM_CAP_X86_USER_SPACE_MSR may change while the TD runs: a denied read
        exits with FILTER enabled, gets INVALID_OPERAND without an exit once the
        host enables no reason (0), and exits again when FILTER is back."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_POWER_CTL), sync(), rdmsr(MSR_IA32_POWER_CTL), sync(),
                                 rdmsr(MSR_IA32_POWER_CTL)],
                                exits=REASON_FILTER, msr_filter=[deny(MSR_IA32_POWER_CTL, READ)])
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
        m.data = 0xC3
        self.run_to_sync(vcpu)
        gvm.vm.enable_cap(abi.KVM_CAP_X86_USER_SPACE_MSR, 0)
        self.run_to_sync(vcpu)
        gvm.vm.enable_cap(abi.KVM_CAP_X86_USER_SPACE_MSR, REASON_FILTER)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
        m.data = 0xD4
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0], (SUCCESS, 0xC3))
        self.assertEqual(results[2][0], INVALID_OPERAND, "no exit while no reason is enabled")
        self.assertEqual(results[4], (SUCCESS, 0xD4))

    def test_msr_filter_range_edges(self):
        """A range [base, base + nmsrs) that denies every read (variable MTRRs
        0x201..0x20E): the first and last MSR of it exit, the MSR before and the
        one after it are KVM's under the default-allow filter."""
        base, nmsrs = MSR_MTRRphysMask0, 14
        ops = [rdmsr(base - 1), rdmsr(base), rdmsr(base + nmsrs - 1), rdmsr(base + nmsrs)]
        gvm, vcpu = self.msr_td(ops, exits=REASON_FILTER, msr_filter=[(READ, base, bytes(2), nmsrs)])
        kvm = vcpu.get_msrs([base - 1, base + nmsrs])
        self.assertEqual(len(kvm), 2, "KVM emulates the MSRs around the range")
        for index, data in ((base, 0xE1), (base + nmsrs - 1, 0xE2)):
            m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, index, 0)
            m.data = data
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(self.results(gvm), [(SUCCESS, kvm[base - 1]), (SUCCESS, 0xE1), (SUCCESS, 0xE2),
                                             (SUCCESS, kvm[base + nmsrs])])

    def test_msr_filter_exit_counts(self):
        """userspace_msr_exit_test's deny form on a TD: default-deny, reads of
        0..0x2FFF allowed but POWER_CTL and MTRRdefType, writes allowed but POWER_CTL,
        plus an unknown MSR: 3 reads and 2 writes reach userspace (FILTER for the
        denied ones and for the unknown MSR the filter covers by default); with the
        filter gone only the unknown MSR exits, with reason INVAL (a TD's
        unknown MSRs are never UNKNOWN)."""
        read_bits = bytearray(b"\xff" * 0x600)
        write_bits = bytearray(b"\xff" * 0x600)
        for bits, index in ((read_bits, MSR_IA32_POWER_CTL), (read_bits, MSR_MTRRdefType),
                            (write_bits, MSR_IA32_POWER_CTL)):
            bits[index >> 3] &= ~(1 << (index & 7))
        phase = [wrmsr(MSR_IA32_CR_PAT, CR_PAT_DEFAULT), rdmsr(MSR_IA32_POWER_CTL), rdmsr(MSR_MTRRdefType),
                 wrmsr(MSR_IA32_POWER_CTL, 0x1234), rdmsr(UNKNOWN_MSR), wrmsr(UNKNOWN_MSR, 0x1234)]
        gvm, vcpu = self.msr_td(phase + [sync()] + phase, exits=REASON_FILTER | REASON_INVAL | REASON_UNKNOWN,
                                msr_filter=[(READ, 0, bytes(read_bits)), (WRITE, 0, bytes(write_bits))],
                                default_deny=True)
        exits = {"before": [], "after": []}
        when = "before"
        while True:
            uc = vcpu.run_exit(timeout=RUN_TIMEOUT)
            if uc is not None and uc.name == "SYNC":
                gvm.vm.set_msr_filter([])
                when = "after"
                continue
            if uc is not None:
                break
            run = vcpu.kvm_run
            self.assertIn(run.exit_reason, (abi.KVM_EXIT_X86_RDMSR, abi.KVM_EXIT_X86_WRMSR), describe(run))
            exits[when].append((run.exit_reason == abi.KVM_EXIT_X86_WRMSR, run.msr.index, run.msr.reason))
            run.msr.data = run.msr.index if run.exit_reason == abi.KVM_EXIT_X86_RDMSR else run.msr.data
        self.assertEqual(uc.name, "DONE")
        self.assertEqual(exits["before"], [(False, MSR_IA32_POWER_CTL, REASON_FILTER),
                                           (False, MSR_MTRRdefType, REASON_FILTER),
                                           (True, MSR_IA32_POWER_CTL, REASON_FILTER),
                                           (False, UNKNOWN_MSR, REASON_FILTER),
                                           (True, UNKNOWN_MSR, REASON_FILTER)])
        self.assertEqual(exits["after"], [(False, UNKNOWN_MSR, REASON_INVAL), (True, UNKNOWN_MSR, REASON_INVAL)])
        self.assertEqual(sum(not w for w, _, _ in exits["before"]), 3)
        self.assertEqual(sum(w for w, _, _ in exits["before"]), 2)

    # -- flag validation, every bit (userspace_msr_exit_test's user_exit_msr_flags) --

    def test_user_space_msr_cap_every_bit(self):
        """KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR, 1 << i) on a TD VM, i = 0..63
        (args[0] is a u64): accepted iff the bit is INVAL, UNKNOWN or FILTER, else EINVAL."""
        vm = self.td_builder("guest_done").create_vm()
        for i in range(64):
            with self.subTest(bit=i):
                want = 0 if 1 << i & abi.KVM_MSR_EXIT_REASON_VALID_MASK else errno.EINVAL
                self.assertErrno(want, vm.enable_cap, abi.KVM_CAP_X86_USER_SPACE_MSR, 1 << i)

    def test_msr_filter_flags_every_bit(self):
        """KVM_X86_SET_MSR_FILTER with .flags = 1 << i, i = 0..31 (the field is a
        u32), one valid range: accepted iff the bit is DEFAULT_DENY, else EINVAL."""
        vm = self.td_builder("guest_done").create_vm()
        for i in range(32):
            with self.subTest(bit=i):
                want = 0 if 1 << i == abi.KVM_MSR_FILTER_DEFAULT_DENY else errno.EINVAL
                self.assertErrno(want, vm.set_msr_filter, [(READ, 0, bytes(1), 1)], flags=1 << i)

    def test_msr_filter_range_flags_every_bit(self):
        """A range's .flags = 1 << i, i = 0..31, the filter's flags valid: accepted
        iff the bit is READ or WRITE, else EINVAL; a range with no access type is
        EINVAL too, and an empty range (nmsrs 0) is ignored whatever its flags."""
        vm = self.td_builder("guest_done").create_vm()
        for i in range(32):
            with self.subTest(bit=i):
                want = 0 if 1 << i & (READ | WRITE) else errno.EINVAL
                self.assertErrno(want, vm.set_msr_filter, [(1 << i, 0, bytes(1), 1)])
        self.assertErrno(errno.EINVAL, vm.set_msr_filter, [(0, 0, bytes(1), 1)])
        vm.set_msr_filter([(1 << 31, 0, bytes(1), 0)])

    def test_msr_filter_bitmap_size_edges(self):
        """A range's bitmap may hold KVM_MSR_FILTER_MAX_BITMAP_SIZE bytes: nmsrs =
        0x3000 is accepted, 0x3001 (one more long) EINVAL; default-deny needs a
        non-empty range (EINVAL without one, accepted with one of 1 MSR)."""
        vm = self.td_builder("guest_done").create_vm()
        bits = abi.KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8
        vm.set_msr_filter([(READ, 0, bytes(abi.KVM_MSR_FILTER_MAX_BITMAP_SIZE), bits)])
        self.assertErrno(errno.EINVAL, vm.set_msr_filter,
                         [(READ, 0, bytes(abi.KVM_MSR_FILTER_MAX_BITMAP_SIZE + 8), bits + 1)])
        self.assertErrno(errno.EINVAL, vm.set_msr_filter, [], default_deny=True)
        self.assertErrno(errno.EINVAL, vm.set_msr_filter, [(READ, 0, bytes(1), 0)], default_deny=True)
        vm.set_msr_filter([(READ, 0, bytes(1), 1)], default_deny=True)

    # -- MSRs KVM does not know --

    def test_unknown_msr_exits_with_reason_inval(self):
        """Unknown MSR, INVAL|UNKNOWN enabled: the exit says reason INVAL, not UNKNOWN (module docstring)."""
        gvm, vcpu = self.msr_td([rdmsr(UNKNOWN_MSR), wrmsr(UNKNOWN_MSR, 0x0123456789ABCDEF)],
                                exits=REASON_INVAL | REASON_UNKNOWN)
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_INVAL, UNKNOWN_MSR, 0)
        m.data = 0xFEEDFACECAFEBEEF
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_INVAL, UNKNOWN_MSR, 0x0123456789ABCDEF)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0], (SUCCESS, 0xFEEDFACECAFEBEEF), "RDMSR completion: R10, R11 = msr.data")
        self.assertEqual(results[1][0], SUCCESS, "WRMSR completion with msr.error 0")

    def test_unknown_msr_reason_unknown_alone_no_exit(self):
        """Only UNKNOWN enabled: a TD's unknown MSR is reason INVAL, so no exit and INVALID_OPERAND."""
        gvm, vcpu = self.msr_td([rdmsr(UNKNOWN_MSR), wrmsr(UNKNOWN_MSR, 1)], exits=REASON_UNKNOWN)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])

    def test_unknown_msr_no_cap_invalid_operand(self):
        """Without KVM_CAP_X86_USER_SPACE_MSR: INVALID_OPERAND, no exit, never a #GP."""
        gvm, vcpu = self.msr_td([rdmsr(UNKNOWN_MSR), wrmsr(UNKNOWN_MSR, 1)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])

    # -- the MSR filter (the MSR filter bug, §4.13 history) --

    def test_msr_filter_bug_rdmsr_denied_exits_to_user(self):
        """Read denied, FILTER exits on: KVM_EXIT_X86_RDMSR; msr.data reaches R11 with SUCCESS."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_POWER_CTL)], exits=REASON_FILTER,
                                msr_filter=[deny(MSR_IA32_POWER_CTL, READ)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})  # what KVM would have answered
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
        m.data = 0x1122334455667788
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(self.results(gvm), [(SUCCESS, 0x1122334455667788)])

    def test_msr_filter_bug_rdmsr_denied_user_error_invalid_operand(self):
        """Read denied, userspace completes with msr.error = 1: INVALID_OPERAND (not a #GP)."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_POWER_CTL)], exits=REASON_FILTER,
                                msr_filter=[deny(MSR_IA32_POWER_CTL, READ)])
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
        m.data = 0x1122334455667788                 # ignored when error is set
        m.error = 1
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND])
        self.assertNotEqual(self.results(gvm)[0][1], 0x1122334455667788, "msr.data reached R11 despite error")

    def test_msr_filter_bug_wrmsr_denied_exits_to_user(self):
        """Write denied, FILTER exits on: KVM_EXIT_X86_WRMSR with the value; KVM's MSR untouched."""
        gvm, vcpu = self.msr_td([wrmsr(MSR_IA32_POWER_CTL, 0x8877665544332211)], exits=REASON_FILTER,
                                msr_filter=[deny(MSR_IA32_POWER_CTL, WRITE)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})
        poison_exit(vcpu)
        self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_FILTER, MSR_IA32_POWER_CTL,
                          0x8877665544332211)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [SUCCESS])
        self.assertEqual(self.msr(vcpu, MSR_IA32_POWER_CTL), 0x6B766D, "the write reached KVM")

    def test_msr_filter_bug_wrmsr_denied_user_error_invalid_operand(self):
        """Write denied, userspace completes with msr.error = 1: INVALID_OPERAND."""
        gvm, vcpu = self.msr_td([wrmsr(MSR_IA32_POWER_CTL, 7)], exits=REASON_FILTER,
                                msr_filter=[deny(MSR_IA32_POWER_CTL, WRITE)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 7)
        m.error = 1
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND])
        self.assertEqual(self.msr(vcpu, MSR_IA32_POWER_CTL), 0x6B766D)

    def test_msr_filter_bug_read_denied_write_allowed(self):
        """A READ-only deny range: the write goes to KVM without an exit, the read exits."""
        gvm, vcpu = self.msr_td([wrmsr(MSR_IA32_POWER_CTL, 0xABCD), rdmsr(MSR_IA32_POWER_CTL)],
                                exits=REASON_FILTER, msr_filter=[deny(MSR_IA32_POWER_CTL, READ)])
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0)
        self.assertEqual(self.msr(vcpu, MSR_IA32_POWER_CTL), 0xABCD, "the allowed write reached KVM")
        m.data = 0x5555
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0][0], SUCCESS)
        self.assertEqual(results[1], (SUCCESS, 0x5555), "the read was answered by userspace")

    def test_msr_filter_bug_write_denied_read_allowed(self):
        """A WRITE-only deny range: the read is answered by KVM, the write exits."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_POWER_CTL), wrmsr(MSR_IA32_POWER_CTL, 0xABCD)],
                                exits=REASON_FILTER, msr_filter=[deny(MSR_IA32_POWER_CTL, WRITE)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})
        poison_exit(vcpu)
        self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_WRMSR, REASON_FILTER, MSR_IA32_POWER_CTL, 0xABCD)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0], (SUCCESS, 0x6B766D), "the allowed read came from KVM")
        self.assertEqual(results[1][0], SUCCESS)
        self.assertEqual(self.msr(vcpu, MSR_IA32_POWER_CTL), 0x6B766D)

    def test_msr_filter_bug_denied_without_cap_invalid_operand(self):
        """Denied without KVM_CAP_X86_USER_SPACE_MSR: INVALID_OPERAND and no exit."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_POWER_CTL), wrmsr(MSR_IA32_POWER_CTL, 0xABCD)],
                                msr_filter=[deny(MSR_IA32_POWER_CTL, READ | WRITE)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])
        self.assertEqual(self.msr(vcpu, MSR_IA32_POWER_CTL), 0x6B766D)

    def test_msr_filter_bug_denied_other_reasons_enabled_no_exit(self):
        """Denied with only INVAL|UNKNOWN exits enabled: no exit (reason FILTER is off), INVALID_OPERAND."""
        gvm, vcpu = self.msr_td([rdmsr(MSR_IA32_POWER_CTL), wrmsr(MSR_IA32_POWER_CTL, 0xABCD)],
                                exits=REASON_INVAL | REASON_UNKNOWN,
                                msr_filter=[deny(MSR_IA32_POWER_CTL, READ | WRITE)])
        vcpu.set_msrs({MSR_IA32_POWER_CTL: 0x6B766D})
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertStatuses(gvm, [INVALID_OPERAND, INVALID_OPERAND])
        self.assertEqual(self.msr(vcpu, MSR_IA32_POWER_CTL), 0x6B766D)

    def test_msr_filter_bug_checked_before_emulation(self):
        """The filter comes first: an unknown MSR under default-deny exits with reason FILTER, not INVAL."""
        gvm, vcpu = self.msr_td([rdmsr(UNKNOWN_MSR), rdmsr(MSR_IA32_CR_PAT)],
                                exits=REASON_FILTER | REASON_INVAL | REASON_UNKNOWN,
                                msr_filter=[allow(MSR_IA32_CR_PAT, READ)], default_deny=True)
        pat = self.msr(vcpu, MSR_IA32_CR_PAT)
        poison_exit(vcpu)
        m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, UNKNOWN_MSR, 0)
        m.data = 0x600D
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(self.results(gvm), [(SUCCESS, 0x600D), (SUCCESS, pat)])

    def test_msr_filter_bug_anchor_reads(self):
        """Anchor row 8: a default-deny filter allowing the MISC_ENABLE read; values from KVM_SET_MSRS."""
        gvm, vcpu = self.create_td("guest_msr_reads_filtered")
        gvm.vm.set_msr_filter([allow(MSR_IA32_MISC_ENABLE, READ), allow(MSR_IA32_POWER_CTL, WRITE)],
                              default_deny=True)
        preset = {X2APIC_ICR: ANCHOR_ICR, MSR_IA32_MISC_ENABLE: ANCHOR_MISC_ENABLE,
                  MSR_IA32_POWER_CTL: ANCHOR_POWER_CTL}
        # KVM_SET_MSRS is host-initiated: the filter does not apply to it.
        self.assertEqual(vcpu.set_msrs(preset), 3, "KVM_SET_MSRS count")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_msr_filter_bug_anchor_writes(self):
        """Anchor row 9: the ICR and POWER_CTL writes land in KVM, the MISC_ENABLE write is refused."""
        gvm, vcpu = self.create_td("guest_msr_writes_filtered")
        gvm.vm.set_msr_filter([allow(MSR_IA32_MISC_ENABLE, READ), allow(MSR_IA32_POWER_CTL, WRITE)],
                              default_deny=True)
        misc = self.msr(vcpu, MSR_IA32_MISC_ENABLE)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(vcpu.get_msrs([X2APIC_ICR, MSR_IA32_POWER_CTL, MSR_IA32_MISC_ENABLE]),
                         {X2APIC_ICR: ANCHOR_ICR, MSR_IA32_POWER_CTL: ANCHOR_POWER_CTL,
                          MSR_IA32_MISC_ENABLE: misc})

    def test_msr_filter_x2apic_never_filtered(self):
        """A filter range over 0x800-0x8ff denying everything has no effect on x2APIC MSRs."""
        gvm, vcpu = self.msr_td([rdmsr(X2APIC_ID), wrmsr(X2APIC_ICR, 0xFD), rdmsr(X2APIC_ICR)],
                                exits=REASON_FILTER | REASON_INVAL | REASON_UNKNOWN,
                                msr_filter=[(READ | WRITE, 0x800, bytes(32))], default_deny=True)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(self.results(gvm)[0], (SUCCESS, 0))
        self.assertEqual(self.results(gvm)[1][0], SUCCESS)
        self.assertEqual(self.results(gvm)[2], (SUCCESS, 0xFD))
        self.assertEqual(self.msr(vcpu, X2APIC_ICR), 0xFD)

    def test_msr_filter_x2apic_range_edges(self):
        """kvm_msr_allowed() skips the filter for 0x800-0x8ff exactly: with a
        range denying reads of 0x7f8-0x907 and only FILTER exits enabled, 0x7ff
        and 0x900 exit with reason FILTER, 0x800 (not emulated) and 0x8ff
        (not emulated) get INVALID_OPERAND from KVM without an exit, and the
        x2APIC ID (0x802) is read from KVM."""
        base, nmsrs = 0x7F8, 0x110
        ops = [rdmsr(0x7FF), rdmsr(0x800), rdmsr(X2APIC_ID), rdmsr(0x8FF), rdmsr(0x900)]
        gvm, vcpu = self.msr_td(ops, exits=REASON_FILTER, msr_filter=[(READ, base, bytes(nmsrs // 8), nmsrs)])
        for index, data in ((0x7FF, 0xA7), (0x900, 0xA9)):
            m = self.run_msr_exit(vcpu, abi.KVM_EXIT_X86_RDMSR, REASON_FILTER, index, 0)
            m.data = data
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        results = self.results(gvm)
        self.assertEqual(results[0], (SUCCESS, 0xA7))
        self.assertEqual(results[1][0], INVALID_OPERAND)
        self.assertEqual(results[2], (SUCCESS, 0))
        self.assertEqual(results[3][0], INVALID_OPERAND)
        self.assertEqual(results[4], (SUCCESS, 0xA9))


    # -- interrupts: SPIV, ICR (emulated by KVM), EOI and IRR (virtualized) --

    def test_signal_msi_reaches_handler(self):
        """KVM_SIGNAL_MSI to the TD vCPU: 0 (dropped) while KVM's SPIV copy
        leaves the APIC software-disabled (0xFF at reset), 1 once the guest
        set SPIV bit 8 with TDG.VP.VMCALL<WRMSR>, and its handler runs (the
        MSI, sent between two KVM_RUNs, leaves kvm_run.immediate_exit 0); the
        same vector again after the handler's EOI.  An MSI to APIC ID 5, which no
        vCPU has, reaches nobody: 0 (kvm_irq_delivery_to_apic_fast(): the map
        lookup succeeds with an empty bitmap)."""
        gvm, vcpu = self.create_td("guest_msi")
        msi = apic.msi(vcpu.id, MSI_VECTOR)
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 1)
        self.assertEqual(vcpu.get_msrs([X2APIC_SPIV]), {X2APIC_SPIV: 0xFF})
        self.assertEqual(gvm.vm.signal_msi(*msi), 0, "APIC software-disabled: not accepted")
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 2)
        self.assertEqual(vcpu.get_msrs([X2APIC_SPIV]), {X2APIC_SPIV: apic.APIC_SPIV_APIC_ENABLED | 0xFF})
        self.assertEqual(gvm.vm.signal_msi(*apic.msi(5, MSI_VECTOR)), 0, "APIC ID 5: no vCPU")
        self.assertEqual(gvm.vm.signal_msi(*msi), 1)
        # kvm_vcpu_kick() of a vCPU outside KVM_RUN: nothing for userspace to see
        self.assertEqual(vcpu.kvm_run.immediate_exit, 0, "kvm_run.immediate_exit after an MSI between runs")
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 3)
        self.assertEqual(gvm.vm.signal_msi(*msi), 1)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def msi_waiting_td(self, x2apic_api_flags):
        """The VM of a guest_msi TD with KVM_CAP_X2APIC_API enabled with
        `x2apic_api_flags` before its vCPUs, run to its second GUEST_SYNC:
        vCPU 0 in x2APIC mode, its APIC software-enabled, interrupts off."""
        b = self.td_builder("guest_msi")
        vm = b.create_vm()
        vm.enable_cap(abi.KVM_CAP_X2APIC_API, x2apic_api_flags)
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 1)
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 2)
        return vm

    def test_x2apic_api_flags_decide_msi_destination(self):
        """KVM_ENABLE_CAP(KVM_CAP_X2APIC_API) before the vCPUs, with no flag, with
        USE_32BIT_IDS and with DISABLE_BROADCAST_QUIRK, each in its own TD whose
        vCPU 0 (x2APIC, APIC software-enabled) waits with interrupts off.  An MSI
        to ID 0 with address_hi 0x100 reaches vCPU 0 (1) unless 32-bit IDs make
        that ID 256, which no vCPU has (0); with 32-bit IDs address_hi[7:0] must
        be 0 (EINVAL, kvm_msi_route_invalid()).  An MSI to 0xFF reaches the
        x2APIC vCPU as a broadcast (1) unless the quirk is disabled: then, with
        every APIC in x2APIC mode, kvm_apic_is_broadcast_dest() says no and the
        fast path finds no APIC with ID 255 (0; kvm_apic_map_get_dest_lapic())."""
        for flags in (0, abi.KVM_X2APIC_API_USE_32BIT_IDS, abi.KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK):
            with self.subTest(flags=flags):
                vm = self.msi_waiting_td(flags)
                lo, _, data = apic.msi(0, MSI_VECTOR)
                wide = flags & abi.KVM_X2APIC_API_USE_32BIT_IDS
                quirk = not flags & abi.KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK
                self.assertEqual(msi_result(vm, lo, 0x100, data), 0 if wide else 1, "ID 0, address_hi 0x100")
                self.assertEqual(msi_result(vm, lo, 1, data), -errno.EINVAL if wide else 1, "address_hi 1")
                self.assertEqual(msi_result(vm, *apic.msi(0xFF, MSI_VECTOR)), 1 if quirk else 0,
                                 "ID 0xFF: a broadcast, or an ID no vCPU has")

    def test_logical_msi_x2apic_cluster_and_bit(self):
        """Logical-destination MSIs with KVM_CAP_X2APIC_API's 32-bit IDs: in
        x2APIC mode vCPU 0's logical ID is cluster 0, bit 0
        (kvm_apic_calc_x2apic_ldr()), so destination 0x1 reaches it (1) where
        the same number as a physical destination, APIC ID 1, reaches nobody
        (0); bit 1 of cluster 0 and bit 0 of cluster 1 (0x10001, the cluster
        in address_hi) have no vCPU: 0 (kvm_apic_map_get_logical_dest(): the
        cluster is past the map, or the bit outside it, an empty mask)."""
        vm = self.msi_waiting_td(abi.KVM_X2APIC_API_USE_32BIT_IDS)
        self.assertEqual(msi_result(vm, *apic.msi(0x01, MSI_VECTOR)), 0, "physical APIC ID 1")
        self.assertEqual(msi_result(vm, *apic.msi(0x01, MSI_VECTOR, logical=True)), 1, "logical 0x1")
        self.assertEqual(msi_result(vm, *apic.msi(0x02, MSI_VECTOR, logical=True)), 0, "logical 0x2")
        lo, _, data = apic.msi(0x01, MSI_VECTOR, logical=True)
        self.assertEqual(msi_result(vm, lo, 1 << 16, data), 0, "logical 0x10001")

    def test_signal_msi_destination_and_x2apic_api(self):
        """KVM_SIGNAL_MSI before the guest runs (its APIC software-disabled, so
        vCPU 0 accepts nothing: 0).  address_hi[7:0] set is ignored without
        KVM_CAP_X2APIC_API (0).  With the capability's
        32-bit IDs (KVM_ENABLE_CAP on the TD VM) the same message is invalid,
        EINVAL (kvm_msi_route_invalid()), and one without those bits is still
        taken (0).  INIT, SIPI and remote read are accepted whatever SPIV says
        (__apic_accept_irq(): 1 each; a TD never processes INIT/SIPI)."""
        gvm, vcpu = self.create_td("guest_msi")
        lo, hi, data = apic.msi(vcpu.id, MSI_VECTOR)
        self.assertEqual(gvm.vm.signal_msi(lo, hi, data), 0)
        self.assertEqual(gvm.vm.signal_msi(lo, 0x01, data), 0, "address_hi[7:0] without 32-bit IDs")
        for mode, name in ((apic.APIC_DM_INIT, "INIT"), (apic.APIC_DM_STARTUP, "SIPI"),
                           (apic.APIC_DM_REMRD, "remote read")):
            self.assertEqual(gvm.vm.signal_msi(*apic.msi(vcpu.id, 0, mode=mode)), 1, name)
        gvm.vm.enable_cap(abi.KVM_CAP_X2APIC_API, abi.KVM_X2APIC_API_USE_32BIT_IDS)
        self.assertErrno(errno.EINVAL, gvm.vm.signal_msi, lo, 0x01, data)
        self.assertEqual(gvm.vm.signal_msi(lo, hi, data), 0)

    def test_icr_self_ipi(self):
        """An ICR write with the self shorthand sends the vector to the writer
        (the destination field is ignored); one with a reserved bit (13) is
        refused with INVALID_OPERAND and sends nothing; KVM keeps the last
        accepted ICR value."""
        gvm, vcpu = self.create_td("guest_icr_self_ipi")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual(vcpu.get_msrs([X2APIC_ICR]),
                         {X2APIC_ICR: apic.icr(0x55, SELF_IPI_VECTOR, shorthand=apic.APIC_DEST_SELF)})

if __name__ == "__main__":
    main()
