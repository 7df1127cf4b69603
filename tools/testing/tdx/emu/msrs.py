# SPDX-License-Identifier: GPL-2.0-only
"""The MSRs KVM emulates for a TD vCPU (arch/x86/kvm/vmx/tdx.c tdx_has_emulated_msr,
tdx_get_msr/tdx_set_msr; generic rules from arch/x86/kvm/x86.c, msrs.c, mtrr.c, lapic.c).

Used for TDG.VP.VMCALL<Instruction.RDMSR/WRMSR> (guest accesses, after the MSR
filter; docs/kvm-tdx-uapi.md §4.13) and for KVM_GET_MSRS/KVM_SET_MSRS on a TD vCPU
(host-initiated accesses; §2.8).  Return codes follow KVM: 0 = done, 1 = failed
(KVM_MSR_EXIT_REASON_INVAL), MSR_RET_UNSUPPORTED (KVM_MSR_EXIT_REASON_UNKNOWN),
MSR_RET_FILTERED (KVM_MSR_EXIT_REASON_FILTER).

Note: tdx_get_msr()/tdx_set_msr() return 1 for every MSR outside
tdx_has_emulated_msr(), so an unknown MSR is reason INVAL for a TD, never UNKNOWN.
Inside it, a write of an MSR kvm_set_msr_common() has no case for (MTRRcap,
MCG_CAP) returns KVM_MSR_RET_UNSUPPORTED: reason UNKNOWN for the guest, and a
failed KVM_SET_MSRS for the host (neither MSR is in KVM's emulated or to-save
lists, so kvm_do_msr_access() does not excuse a host write of 0).

Modelled precisely: the tdx_has_emulated_msr() set, the read-only APICBASE/EFER/
FEAT_CTL, MTRRs (mtrr.c), PAT, MISC_ENABLE, PLATFORM_INFO, MISC_FEATURES_ENABLES,
UCODE_REV, ARCH_CAPABILITIES, MCG_*, the machine-check banks (get_msr_mce()/
set_msr_mce(): 32 banks, no CMCI_P), POLL_CONTROL and the listed x2APIC registers
with kvm_lapic_reset()'s values.
x2APIC ICR writes send the IPI (emu/interrupts.py icr_write()), and before
7.2 so do SELF_IPI writes.  Approximations (emu/README): LVT writes are stored
unmasked and the LAPIC timer never fires, ARCH_CAPABILITIES reads 0 (the
real value depends on the host CPU).
"""

from tdx.emu import cpuid as _cpuid

MSR_RET_OK = 0
MSR_RET_INVALID = 1
MSR_RET_UNSUPPORTED = 2                 # KVM_MSR_RET_UNSUPPORTED (x86.h)
MSR_RET_FILTERED = 3                    # KVM_MSR_RET_FILTERED

MSR_IA32_FEAT_CTL = 0x3A
MSR_IA32_APICBASE = 0x1B
MSR_IA32_UCODE_REV = 0x8B
MSR_PLATFORM_INFO = 0xCE
MSR_MTRRcap = 0xFE
MSR_IA32_ARCH_CAPABILITIES = 0x10A
MSR_MISC_FEATURES_ENABLES = 0x140
MSR_IA32_MCG_CAP = 0x179
MSR_IA32_MCG_STATUS = 0x17A
MSR_IA32_MCG_CTL = 0x17B
MSR_IA32_MISC_ENABLE = 0x1A0
MSR_IA32_POWER_CTL = 0x1FC
MTRR_PHYS_BASE0 = 0x200
MSR_MTRRfix64K_00000 = 0x250
MSR_MTRRfix16K_80000 = 0x258
MSR_MTRRfix16K_A0000 = 0x259
MSR_MTRRfix4K_C0000 = 0x268
MSR_MTRRfix4K_F8000 = 0x26F
MSR_IA32_CR_PAT = 0x277
MSR_IA32_MC0_CTL2 = 0x280
MSR_MTRRdefType = 0x2FF
MSR_IA32_MC0_CTL = 0x400
MSR_IA32_MCG_EXT_CTL = 0x4D0
MSR_IA32_TSC_DEADLINE = 0x6E0
MSR_EFER = 0xC0000080
MSR_KVM_POLL_CONTROL = 0x4B564D05

KVM_MAX_MCE_BANKS = 32
KVM_NR_VAR_MTRR = 8
MCG_CTL_P = 1 << 8
MCG_CMCI_P = 1 << 10
MCI_CTL2_CMCI_EN, MCI_CTL2_CMCI_THRESHOLD_MASK = 1 << 30, 0x7FFF
MCG_LMCE_P = 1 << 27
FEAT_CTL_LOCKED = 1 << 0
FEAT_CTL_LMCE_ENABLED = 1 << 20

MSR_IA32_APICBASE_BSP = 1 << 8
X2APIC_ENABLE = 1 << 10
MSR_IA32_APICBASE_ENABLE = 1 << 11
APIC_DEFAULT_PHYS_BASE = 0xFEE00000

EFER_SCE, EFER_LME, EFER_LMA, EFER_NX = 1 << 0, 1 << 8, 1 << 10, 1 << 11
MSR_IA32_MISC_ENABLE_EMON = 1 << 7
MSR_IA32_MISC_ENABLE_BTS_UNAVAIL = 1 << 11
MSR_IA32_MISC_ENABLE_PEBS_UNAVAIL = 1 << 12
MSR_IA32_MISC_ENABLE_PMU_RO_MASK = MSR_IA32_MISC_ENABLE_BTS_UNAVAIL | MSR_IA32_MISC_ENABLE_PEBS_UNAVAIL
MSR_PLATFORM_INFO_CPUID_FAULT = 1 << 31
MSR_MISC_FEATURES_ENABLES_CPUID_FAULT = 1 << 0
X86_FEATURE_ARCH_CAPABILITIES = (7, "edx", 29)


def X2APIC_MSR(reg):
    return 0x800 + (reg >> 4)


APIC_ID, APIC_LVR, APIC_LDR, APIC_SPIV, APIC_ESR = 0x20, 0x30, 0xD0, 0xF0, 0x280
APIC_LVTCMCI, APIC_ICR, APIC_LVTT, APIC_LVTTHMR, APIC_LVTPC = 0x2F0, 0x300, 0x320, 0x330, 0x340
APIC_LVT0, APIC_LVT1, APIC_LVTERR, APIC_TMICT, APIC_TMCCT, APIC_TDCR = 0x350, 0x360, 0x370, 0x380, 0x390, 0x3E0
APIC_LVT_MASKED = 1 << 16
APIC_MODE_EXTINT = 0x7
APIC_LVR_DIRECTED_EOI = 1 << 24
APIC_SPIV_DIRECTED_EOI = 1 << 12

# "Except for x2APIC registers that are virtualized by the CPU ... KVM emulates
# the same set of x2APIC registers for TDX versus non-TDX guests" (tdx.c).
X2APIC_EMULATED = frozenset(X2APIC_MSR(r) for r in (
    APIC_ID, APIC_LVR, APIC_LDR, APIC_SPIV, APIC_ESR, APIC_LVTCMCI, APIC_ICR, APIC_LVTT,
    APIC_LVTTHMR, APIC_LVTPC, APIC_LVT0, APIC_LVT1, APIC_LVTERR, APIC_TMICT, APIC_TMCCT,
    APIC_TDCR))
# kvm_lapic_reset(): the vCPU's LVTs (apic->nr_lvt_entries: 6, as MCG_CAP has
# no CMCI_P, so not LVTCMCI) masked, SPIV 0xFF; LVT0 of the reset BSP is
# ExtINT instead (KVM_X86_QUIRK_LINT0_REENABLED, which no TD disables).
_X2APIC_RESET = {X2APIC_MSR(r): APIC_LVT_MASKED for r in (
    APIC_LVTT, APIC_LVTTHMR, APIC_LVTPC, APIC_LVT0, APIC_LVT1, APIC_LVTERR)}
_X2APIC_RESET[X2APIC_MSR(APIC_SPIV)] = 0xFF
# kvm_lapic_readable_reg_mask() and kvm_lapic_reg_write(): LVTCMCI only with
# LVT_CMCI supported (kvm_lapic_lvt_supported(): MCG_CAP.CMCI_P).
_X2APIC_NO_CMCI = X2APIC_MSR(APIC_LVTCMCI)
_X2APIC_READ_ONLY = frozenset(X2APIC_MSR(r) for r in (APIC_ID, APIC_LVR, APIC_LDR, APIC_TMCCT))

_FIXED_MTRRS = frozenset([MSR_MTRRfix64K_00000, MSR_MTRRfix16K_80000, MSR_MTRRfix16K_A0000] +
                         list(range(MSR_MTRRfix4K_C0000, MSR_MTRRfix4K_F8000 + 1)))


# Before 7.2 (1f3e69af5f93, emu/kernel.py x2apic-msrs) tdx_has_emulated_msr()
# took every x2APIC MSR but TPR, PPR, EOI and X2APIC_MSR(APIC_ISR) ...
# X2APIC_MSR(APIC_ISR + APIC_ISR_NR) (and so for TMR and IRR): the ranges
# collapse to register 0, so ISR1-7, TMR1-7, IRR1-7 and SELF_IPI counted as
# emulated, and kvm_x2apic_msr_read()/write() of the in-kernel LAPIC answered.
_X2APIC_NOT_EMULATED_OLD = frozenset(X2APIC_MSR(r) for r in (0x80, 0xA0, 0xB0, 0x100, 0x180, 0x200))
APIC_ISR, APIC_TMR, APIC_IRR, APIC_SELF_IPI = 0x100, 0x180, 0x200, 0x3F0
# kvm_lapic_readable_reg_mask() in x2APIC mode, beyond the registers the newer
# list emulates: ISR, TMR, IRR 0-7 (TPR and PPR are excluded above).
_X2APIC_READABLE_OLD = frozenset(X2APIC_MSR(base) + i for base in (APIC_ISR, APIC_TMR, APIC_IRR)
                                 for i in range(8))


def _x2apic_emulated(vcpu, index):
    # FAULT "x2apic-msr-ranges-collapsed": the 7.2 fix (1f3e69af5f93) undone.
    if vcpu is not None and (not vcpu.kernel.has("x2apic-msrs") or "x2apic-msr-ranges-collapsed" in vcpu.faults):
        return 0x800 <= index <= 0x8FF and index not in _X2APIC_NOT_EMULATED_OLD
    return index in X2APIC_EMULATED


def tdx_has_emulated_msr(index, vcpu=None):
    """tdx_has_emulated_msr() (kvm-x86/linux @09c6f74ecb86); `vcpu` picks the release's x2APIC rule."""
    if 0x800 <= index <= 0x8FF:
        return _x2apic_emulated(vcpu, index)
    return (index in (MSR_IA32_UCODE_REV, MSR_IA32_ARCH_CAPABILITIES, MSR_IA32_POWER_CTL,
                      MSR_IA32_CR_PAT, MSR_MTRRcap, MSR_MTRRdefType, MSR_IA32_TSC_DEADLINE,
                      MSR_IA32_MISC_ENABLE, MSR_PLATFORM_INFO, MSR_MISC_FEATURES_ENABLES,
                      MSR_IA32_APICBASE, MSR_EFER, MSR_IA32_FEAT_CTL, MSR_IA32_MCG_CAP,
                      MSR_IA32_MCG_STATUS, MSR_IA32_MCG_CTL, MSR_IA32_MCG_EXT_CTL,
                      MSR_KVM_POLL_CONTROL)
            or MTRR_PHYS_BASE0 <= index <= MSR_MTRRfix4K_F8000
            or MSR_IA32_MC0_CTL <= index < MSR_IA32_MC0_CTL + 4 * KVM_MAX_MCE_BANKS
            or MSR_IA32_MC0_CTL2 <= index < MSR_IA32_MC0_CTL2 + KVM_MAX_MCE_BANKS)


def _mc_ctl2(index):
    """MCi_CTL2 (an emulated index below MTRRdefType and above the MTRRs and
    PAT).  MCG_CAP always counts KVM_MAX_MCE_BANKS banks here: the model has
    no KVM_X86_SETUP_MCE (emu/README)."""
    return MSR_IA32_MC0_CTL2 <= index < MSR_MTRRdefType


def tdx_is_read_only_msr(index):
    return index in (MSR_IA32_APICBASE, MSR_EFER, MSR_IA32_FEAT_CTL)


def _valid_mtrr_type(t):
    return t < 8 and (1 << t) & 0x73 != 0


def _pat_valid(data):
    return all((data >> (8 * i) & 0xFF) in (0, 1, 4, 5, 6, 7) for i in range(8))


class MsrState:
    """Per-vCPU MSR values KVM keeps for a TD vCPU."""

    def __init__(self, vcpu_id, bsp=None):
        self.vcpu_id = vcpu_id
        bsp = vcpu_id == 0 if bsp is None else bsp
        self.values = {
            MSR_IA32_UCODE_REV: 0x100000000,            # vcpu->arch.microcode_version
            MSR_IA32_ARCH_CAPABILITIES: 0,
            MSR_IA32_POWER_CTL: 0,
            MSR_IA32_CR_PAT: 0x0007040600070406,        # MSR_IA32_CR_PAT_DEFAULT
            MSR_MTRRdefType: 0,
            MSR_IA32_MISC_ENABLE: MSR_IA32_MISC_ENABLE_PMU_RO_MASK,
            MSR_PLATFORM_INFO: MSR_PLATFORM_INFO_CPUID_FAULT,
            MSR_MISC_FEATURES_ENABLES: 0,
            # KVM_TDX_INIT_VCPU sets x2APIC mode; before that KVM's reset value.
            MSR_IA32_APICBASE: APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE |
            (MSR_IA32_APICBASE_BSP if bsp else 0),
            MSR_EFER: EFER_SCE | EFER_LME | EFER_LMA | EFER_NX,     # tdx_vcpu_create()
            MSR_IA32_MCG_CAP: KVM_MAX_MCE_BANKS,
            MSR_IA32_MCG_STATUS: 0,
            MSR_IA32_MCG_CTL: 0,
            MSR_IA32_MCG_EXT_CTL: 0,
            MSR_KVM_POLL_CONTROL: 1,
        }
        self.values.update(_X2APIC_RESET)
        if bsp:
            self.values[X2APIC_MSR(APIC_LVT0)] = APIC_MODE_EXTINT << 8     # SET_APIC_DELIVERY_MODE()
        self.bsp = bsp

    @property
    def x2apic_mode(self):
        return self.values[MSR_IA32_APICBASE] & (X2APIC_ENABLE | MSR_IA32_APICBASE_ENABLE) == \
            X2APIC_ENABLE | MSR_IA32_APICBASE_ENABLE

    def set_apic_base(self, value):
        self.values[MSR_IA32_APICBASE] = value


def _directed_eoi(table):
    """kvm_apic_set_version(): the LVR has Directed EOI when the vCPU's CPUID
    has x2APIC and the IOAPIC is not in the kernel (always so for a TD)."""
    return _cpuid.has_feature(table, _cpuid.X86_FEATURE_X2APIC)


def get_msr(vcpu, index, host_initiated=False):
    """tdx_get_msr() -> (ret, data); data is 0 on failure (kvm_do_msr_access)."""
    st, table = vcpu.msrs, vcpu.cpuid
    mcg_cap = st.values[MSR_IA32_MCG_CAP]
    if index == MSR_IA32_FEAT_CTL:
        return 0, FEAT_CTL_LOCKED | (FEAT_CTL_LMCE_ENABLED if mcg_cap & MCG_LMCE_P else 0)
    if index == MSR_IA32_MCG_EXT_CTL:
        if not host_initiated and not mcg_cap & MCG_LMCE_P:
            return MSR_RET_INVALID, 0
        return 0, st.values[index]
    if not tdx_has_emulated_msr(index, vcpu):
        return MSR_RET_INVALID, 0
    if index not in X2APIC_EMULATED and 0x800 <= index <= 0x8FF:
        # Before 7.2 only: kvm_x2apic_msr_read() of a register the in-kernel
        # LAPIC has but the TD's virtual APIC page really holds.  ISR/TMR/IRR
        # read as KVM's copy, which nothing sets (interrupts reach a TD
        # posted); the others are not readable (kvm_lapic_reg_read()).
        if st.x2apic_mode and index in _X2APIC_READABLE_OLD:
            return 0, 0
        return MSR_RET_INVALID, 0
    # kvm_get_msr_common() for the emulated set
    if index == MSR_IA32_ARCH_CAPABILITIES and not host_initiated and \
            not _cpuid.has_feature(table, X86_FEATURE_ARCH_CAPABILITIES):
        return MSR_RET_INVALID, 0
    if index == MSR_MTRRcap:
        return 0, 0x500 | KVM_NR_VAR_MTRR
    if MTRR_PHYS_BASE0 <= index <= MSR_MTRRfix4K_F8000:
        if index < MTRR_PHYS_BASE0 + 2 * KVM_NR_VAR_MTRR or index in _FIXED_MTRRS:
            return 0, st.values.get(index, 0)
        return MSR_RET_INVALID, 0               # find_mtrr() == NULL
    if index == MSR_IA32_TSC_DEADLINE:
        return 0, 0                             # LVTT not in TSC-deadline mode
    if index == MSR_IA32_MCG_CTL and not host_initiated and not mcg_cap & MCG_CTL_P:
        return MSR_RET_INVALID, 0
    if _mc_ctl2(index) and not host_initiated and not mcg_cap & MCG_CMCI_P:
        return MSR_RET_INVALID, 0               # get_msr_mce()
    if index in X2APIC_EMULATED:
        if not st.x2apic_mode or index == _X2APIC_NO_CMCI:
            return MSR_RET_INVALID, 0
        if index == X2APIC_MSR(APIC_ID):
            return 0, st.vcpu_id
        if index == X2APIC_MSR(APIC_LVR):
            # kvm_apic_set_version(): APIC_VERSION, 6 LVTs (no CMCI_P), and
            # Directed EOI when the vCPU's CPUID has x2APIC and the IOAPIC is
            # not in the kernel -- always so for a TD, whose IRQ chip is split
            # (tdx_vcpu_create()).  Userspace may clear it with
            # KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST (newer kernels; not
            # modelled, emu/README).
            return 0, 0x14 | (6 - 1) << 16 | (APIC_LVR_DIRECTED_EOI if _directed_eoi(table) else 0)
        if index == X2APIC_MSR(APIC_LDR):
            return 0, (st.vcpu_id >> 4) << 16 | 1 << (st.vcpu_id & 0xF)
        if index == X2APIC_MSR(APIC_TMCCT):
            return 0, 0
    return 0, st.values.get(index, 0)


def set_msr(vcpu, index, data, host_initiated=False):
    """tdx_set_msr() -> ret."""
    st = vcpu.msrs
    mcg_cap = st.values[MSR_IA32_MCG_CAP]
    if index == MSR_IA32_MCG_EXT_CTL:
        if (not host_initiated and not mcg_cap & MCG_LMCE_P) or data & ~1:
            return MSR_RET_INVALID
        st.values[index] = data
        return 0
    if tdx_is_read_only_msr(index) or not tdx_has_emulated_msr(index, vcpu):
        return MSR_RET_INVALID
    if index not in X2APIC_EMULATED and 0x800 <= index <= 0x8FF:
        # Before 7.2 only: kvm_x2apic_msr_write() -> kvm_lapic_reg_write():
        # SELF_IPI sends the vector to the vCPU itself; every other such
        # register is not writable.
        if st.x2apic_mode and index == X2APIC_MSR(APIC_SELF_IPI) and not data >> 32:
            from tdx.emu import interrupts
            interrupts.self_ipi_write(vcpu, data & 0xFF)
            return 0
        return MSR_RET_INVALID
    if index == MSR_IA32_UCODE_REV:
        if host_initiated:
            st.values[index] = data
        return 0                                # guest writes are ignored
    if index == MSR_IA32_ARCH_CAPABILITIES:
        if not host_initiated:
            return MSR_RET_INVALID
        st.values[index] = data
        return 0
    if index == MSR_IA32_CR_PAT:
        if not _pat_valid(data):
            return MSR_RET_INVALID
    elif index in (MSR_MTRRcap, MSR_IA32_MCG_CAP):
        return MSR_RET_UNSUPPORTED              # no case in kvm_set_msr_common()
    elif index == MSR_MTRRdefType:
        if data & ~0xCFF or not _valid_mtrr_type(data & 0xFF):
            return MSR_RET_INVALID
    elif index in _FIXED_MTRRS:
        if not all(_valid_mtrr_type(data >> (8 * i) & 0xFF) for i in range(8)):
            return MSR_RET_INVALID
    elif MTRR_PHYS_BASE0 <= index <= MSR_MTRRfix4K_F8000:
        if index >= MTRR_PHYS_BASE0 + 2 * KVM_NR_VAR_MTRR:
            return MSR_RET_INVALID
        mask = ((1 << 64) - 1) & ~((1 << _cpuid.maxphyaddr(vcpu.cpuid)) - 1)
        if index & 1 == 0:
            if not _valid_mtrr_type(data & 0xFF):
                return MSR_RET_INVALID
            mask |= 0xF00
        else:
            mask |= 0x7FF
        if data & mask:
            return MSR_RET_INVALID
    elif index == MSR_IA32_TSC_DEADLINE:
        return 0                                # ignored outside TSC-deadline mode
    elif index == MSR_IA32_MISC_ENABLE:
        old = st.values[index]
        if not host_initiated:
            if (old ^ data) & MSR_IA32_MISC_ENABLE_PMU_RO_MASK:
                return MSR_RET_INVALID
            data = (data & ~MSR_IA32_MISC_ENABLE_EMON) | (old & MSR_IA32_MISC_ENABLE_EMON)
    elif index == MSR_PLATFORM_INFO:
        if not host_initiated:
            return MSR_RET_INVALID
    elif index == MSR_MISC_FEATURES_ENABLES:
        if data & ~MSR_MISC_FEATURES_ENABLES_CPUID_FAULT:
            return MSR_RET_INVALID
        if data and not st.values[MSR_PLATFORM_INFO] & MSR_PLATFORM_INFO_CPUID_FAULT:
            return MSR_RET_INVALID
    elif index == MSR_IA32_MCG_CTL:
        if not mcg_cap & MCG_CTL_P and (data or not host_initiated):
            return MSR_RET_INVALID
        if data not in (0, (1 << 64) - 1):
            return MSR_RET_INVALID
    elif _mc_ctl2(index):
        # set_msr_mce()
        if not mcg_cap & MCG_CMCI_P and (data or not host_initiated):
            return MSR_RET_INVALID
        if data & ~(MCI_CTL2_CMCI_EN | MCI_CTL2_CMCI_THRESHOLD_MASK):
            return MSR_RET_INVALID
    elif MSR_IA32_MC0_CTL <= index < MSR_IA32_MCG_EXT_CTL:
        # MCi_CTL: 0 or all ones (bits 10 and 0 may be clear); MCi_STATUS:
        # only 0 from the guest (can_set_mci_status(): AMD's HWCR only).
        if index & 3 == 0 and data and (data | 1 << 10 | 1) != (1 << 64) - 1:
            return MSR_RET_INVALID
        if index & 3 == 1 and data and not host_initiated:
            return MSR_RET_INVALID
    elif index == MSR_KVM_POLL_CONTROL:
        if data & ~1:
            return MSR_RET_INVALID
    elif index in X2APIC_EMULATED:
        if not st.x2apic_mode or index in _X2APIC_READ_ONLY or index == _X2APIC_NO_CMCI:
            return MSR_RET_INVALID
        if index != X2APIC_MSR(APIC_ICR) and data >> 32:
            return MSR_RET_INVALID
        if index == X2APIC_MSR(APIC_ESR) and data:
            return MSR_RET_INVALID
        if index == X2APIC_MSR(APIC_ICR):
            from tdx.emu import interrupts
            return interrupts.icr_write(vcpu, data)
        if index == X2APIC_MSR(APIC_SPIV):
            # kvm_lapic_reg_write(): bit 12 (suppress EOI broadcast) too when the
            # LVR advertises Directed EOI
            data &= 0x3FF | (APIC_SPIV_DIRECTED_EOI if _directed_eoi(vcpu.cpuid) else 0)
        elif index == X2APIC_MSR(APIC_TDCR):
            data &= 0xB
    st.values[index] = data
    return 0
