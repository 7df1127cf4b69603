# SPDX-License-Identifier: GPL-2.0-only
"""KVM's interrupt paths for a TD: who gets what, and when a vCPU wakes up.

Sources (kvm-x86/linux @09c6f74ecb86 unless noted; the same in 6.16):
- KVM_SIGNAL_MSI: kvm_send_userspace_msi() (virt/kvm/irqchip.c), kvm_set_msi()
  and kvm_msi_to_lapic_irq() (arch/x86/kvm/irq.c): EINVAL without an
  in-kernel (here: split) irqchip or with flags other than
  KVM_MSI_VALID_DEVID, EINVAL for address_hi[7:0] != 0 under
  KVM_CAP_X2APIC_API's 32-bit IDs; the result is kvm_irq_delivery_to_apic()'s
  (lapic.c): the number of vCPUs that accepted, 0, or -1 (the ioctl then
  fails with EPERM) when the slow path found no destination.
- IPIs: a TDVMCALL<WRMSR> (or host KVM_SET_MSRS) of x2APIC ICR, 0x830:
  __kvm_x2apic_icr_write() refuses X2APIC_ICR_RESERVED_BITS, then
  kvm_apic_send_ipi() decodes the ICR (kvm_icr_to_lapic_irq()) and delivers.
- __apic_accept_irq() per delivery mode, for a TD: Fixed and LowestPrio go
  to tdx_deliver_interrupt() (posted, emu/apic.py) only when the target's
  APIC is enabled in hardware and software (SPIV bit 8), and a
  level-triggered deassert is dropped; NMI is queued (kvm_inject_nmi());
  INIT is latched and SIPI dropped, both counted, never processed (INIT/SIPI
  are blocked for a TD, vt_apic_init_signal_blocked()); SMI fails
  (kvm_inject_smi(), no SMM for a TD) and ExtINT is ignored, both 0.
- Wake-up: kvm_vcpu_has_events() (x86.c) for a TD is a pending NMI, or
  kvm_arch_interrupt_allowed() && kvm_cpu_has_interrupt(), which for a
  protected APIC are tdx_interrupt_allowed() and
  tdx_protected_apic_has_interrupt() (tdx.c).

The per-VM lock (vm.irq_lock) serialises vCPU threads and the test thread;
vcpu.kick() is kvm_vcpu_kick(): the platform makes a running vCPU leave the
real KVM_RUN and wakes a halted one (emu/system.py).
"""

import errno

from tdx.emu import msrs as _msrs

from tdx.lib.apic import (APIC_DEST_ALLBUT, APIC_DEST_ALLINC, APIC_DEST_LOGICAL, APIC_DEST_SELF,  # noqa: F401
                          APIC_DM_EXTINT, APIC_DM_FIXED, APIC_DM_INIT, APIC_DM_LOWEST, APIC_DM_NMI,
                          APIC_DM_SMI, APIC_DM_STARTUP, APIC_INT_ASSERT, APIC_INT_LEVELTRIG,
                          APIC_SPIV_APIC_ENABLED, MSI_ADDR_DEST_MODE_LOGICAL, MSI_DATA_LEVEL_TRIGGER)

# lapic.c / apicdef.h fields KVM decodes beyond the message formats.
APIC_VECTOR_MASK = 0xFF
APIC_MODE_MASK = 0x700
APIC_DM_REMRD = 0x300
APIC_ICR_BUSY = 0x1000
APIC_SHORT_MASK = 0xC0000
APIC_DEST_NOSHORT = 0x0
APIC_BROADCAST = 0xFF
X2APIC_BROADCAST = 0xFFFFFFFF

# __kvm_x2apic_icr_write(): bits 31:20, 17:16 and 13 of an x2APIC ICR write must be 0.
X2APIC_ICR_RESERVED_BITS = (0xFFF << 20) | (0x3 << 16) | (1 << 13)


class Irq:
    """struct kvm_lapic_irq."""

    __slots__ = ("vector", "delivery_mode", "logical", "level", "trig_mode", "shorthand", "dest_id")

    def __init__(self, vector, delivery_mode=APIC_DM_FIXED, logical=False, level=True, trig_mode=False,
                 shorthand=APIC_DEST_NOSHORT, dest_id=0):
        self.vector = vector & APIC_VECTOR_MASK
        self.delivery_mode = delivery_mode & APIC_MODE_MASK
        self.logical = bool(logical)
        self.level = bool(level)
        self.trig_mode = bool(trig_mode)
        self.shorthand = shorthand & APIC_SHORT_MASK
        self.dest_id = dest_id & 0xFFFFFFFF

    @classmethod
    def from_icr(cls, icr):
        """kvm_icr_to_lapic_irq() for an x2APIC ICR (the destination is the high half)."""
        low = icr & 0xFFFFFFFF
        return cls(low, low & APIC_MODE_MASK, low & APIC_DEST_LOGICAL, low & APIC_INT_ASSERT,
                   low & APIC_INT_LEVELTRIG, low & APIC_SHORT_MASK, icr >> 32)

    @classmethod
    def from_msi(cls, vm, address_lo, address_hi, data):
        """kvm_msi_to_lapic_irq(): an MSI always asserts; the destination's
        bits 31:8 come from address_hi only with KVM_CAP_X2APIC_API's
        32-bit IDs (x86_msi_msg_get_destid())."""
        dest = address_lo >> 12 & 0xFF
        if vm.x2apic_format:
            dest |= address_hi & 0xFFFFFF00
        return cls(data, data & APIC_MODE_MASK, address_lo & MSI_ADDR_DEST_MODE_LOGICAL, True,
                   data & MSI_DATA_LEVEL_TRIGGER, APIC_DEST_NOSHORT, dest)


# -- the target's APIC ---------------------------------------------------------

def apic_enabled(vcpu):
    """apic_enabled(): enabled in APIC_BASE and by SPIV bit 8 (KVM's copy of
    SPIV, written with TDVMCALL<WRMSR>(0x80F); 0xFF, disabled, at reset)."""
    v = vcpu.msrs.values
    return bool(v[_msrs.MSR_IA32_APICBASE] & _msrs.MSR_IA32_APICBASE_ENABLE and
                v[_msrs.X2APIC_MSR(_msrs.APIC_SPIV)] & APIC_SPIV_APIC_ENABLED)


def _x2apic_id(vcpu):
    return vcpu.vcpu_id                 # kvm_apic_set_x2apic_id(apic, vcpu->vcpu_id)


def _ldr(vcpu):
    vid = _x2apic_id(vcpu)
    return (vid >> 4) << 16 | 1 << (vid & 0xF)      # kvm_apic_calc_x2apic_ldr()


def _broadcast(vcpu, mda):
    return mda == (X2APIC_BROADCAST if vcpu.msrs.x2apic_mode else APIC_BROADCAST)


def _mda(vm, vcpu, irq, ipi):
    """kvm_apic_mda(): an MSI to 0xFF reaches x2APIC targets as a broadcast
    unless KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK."""
    if not vm.x2apic_broadcast_quirk_disabled and not ipi and irq.dest_id == APIC_BROADCAST and \
            vcpu.msrs.x2apic_mode:
        return X2APIC_BROADCAST
    return irq.dest_id


def match_dest(vm, src, vcpu, irq):
    """kvm_apic_match_dest() (x2APIC mode: every TD vCPU is, from KVM_TDX_INIT_VCPU)."""
    if irq.shorthand == APIC_DEST_SELF:
        return vcpu is src
    if irq.shorthand == APIC_DEST_ALLINC:
        return True
    if irq.shorthand == APIC_DEST_ALLBUT:
        return vcpu is not src
    mda = _mda(vm, vcpu, irq, src is not None)
    if _broadcast(vcpu, mda):
        return True
    if not irq.logical:
        return mda == _x2apic_id(vcpu)
    ldr = _ldr(vcpu)
    return ldr >> 16 == mda >> 16 and ldr & mda & 0xFFFF != 0


# -- delivery ------------------------------------------------------------------

def accept_irq(vm, vcpu, irq):
    """__apic_accept_irq() for a TD vCPU; returns its result (0 or 1)."""
    mode = irq.delivery_mode
    if mode in (APIC_DM_FIXED, APIC_DM_LOWEST):
        if irq.trig_mode and not irq.level:
            return 0
        # FAULT "msi-spiv-ignored": delivered to a software-disabled APIC.
        if not apic_enabled(vcpu) and "msi-spiv-ignored" not in vm.faults:
            return 0
        if vcpu.apic.post(irq.vector):          # tdx_deliver_interrupt()
            vcpu.kick()
        return 1
    if mode == APIC_DM_NMI:
        vcpu.apic.nmi_pending = True            # kvm_inject_nmi()
        vcpu.kick()
        return 1
    if mode == APIC_DM_INIT:
        # Latched in pending_events, never processed: INIT is blocked for a TD.
        return 1 if not irq.trig_mode or irq.level else 0
    if mode in (APIC_DM_STARTUP, APIC_DM_REMRD):
        # SIPI: dropped by kvm_apic_accept_events() (blocked for a TD).
        # Remote read (KVM's PV kick) would set pv_unhalted: not modelled (emu/README).
        return 1
    return 0                                    # SMI (no SMM for a TD), ExtINT


def _present(vcpu):
    """kvm_apic_present(): every TD vCPU has an in-kernel LAPIC; enabled in APIC_BASE."""
    return bool(vcpu.msrs.values[_msrs.MSR_IA32_APICBASE] & _msrs.MSR_IA32_APICBASE_ENABLE)


def deliver(vm, src, irq):
    """kvm_irq_delivery_to_apic(): the number of vCPUs that accepted `irq`.

    The fast path (a physical or logical unicast, no shorthand other than
    SELF) counts from 0; the slow path (broadcasts and shorthands) from -1,
    which stays when no vCPU matched.  LowestPrio goes to one matching
    vCPU with a software-enabled APIC: the first in vCPU order (KVM picks by
    arbitration priority or vector hashing, emu/README)."""
    if irq.shorthand == APIC_DEST_SELF:
        return accept_irq(vm, src, irq) if src is not None else -1
    slow = irq.shorthand != APIC_DEST_NOSHORT or any(
        _broadcast(v, _mda(vm, v, irq, src is not None)) for v in vm.vcpus[:1])
    r = -1 if slow else 0
    targets = [v for v in vm.vcpus if _present(v) and match_dest(vm, src, v, irq)]
    if irq.delivery_mode == APIC_DM_LOWEST:
        targets = [v for v in targets if apic_enabled(v)][:1]
    for v in targets:
        r = max(r, 0) + accept_irq(vm, v, irq)
    return r


def signal_msi(vm, address_lo, address_hi, data, flags):
    """KVM_SIGNAL_MSI on a TD: the ioctl's result, or OSError."""
    from tdx.lib import abi
    if not (vm.split_irqchip or vm.irqchip_in_kernel) or flags & ~abi.KVM_MSI_VALID_DEVID:
        raise OSError(errno.EINVAL, "KVM_SIGNAL_MSI: no irqchip, or unknown flags %#x" % flags)
    if vm.x2apic_format and address_hi & 0xFF:
        raise OSError(errno.EINVAL, "KVM_SIGNAL_MSI: address_hi[7:0] with 32-bit x2APIC IDs")
    with vm.irq_lock:
        r = deliver(vm, None, Irq.from_msi(vm, address_lo, address_hi, data))
    if r < 0:
        raise OSError(errno.EPERM, "KVM_SIGNAL_MSI: no destination")
    return r


def icr_write(vcpu, data):
    """The ICR half of kvm_x2apic_msr_write(): 1 (refused) for reserved
    bits, else the IPI is sent and the value stored (busy bit cleared)."""
    if data & X2APIC_ICR_RESERVED_BITS:
        return 1
    data &= ~APIC_ICR_BUSY
    vm = vcpu.vm
    # FAULT "icr-no-ipi": the ICR is stored, no IPI is sent (the model before
    # interrupts were modelled).
    if vm is not None and "icr-no-ipi" not in vm.faults:
        with vm.irq_lock:
            deliver(vm, vcpu, Irq.from_icr(data))
    vcpu.msrs.values[_msrs.X2APIC_MSR(_msrs.APIC_ICR)] = data
    return 0


def self_ipi_write(vcpu, vector):
    """kvm_lapic_reg_write(APIC_SELF_IPI): an IPI to self with `vector`."""
    vm = vcpu.vm
    if vm is not None:
        with vm.irq_lock:
            deliver(vm, vcpu, Irq(vector, shorthand=APIC_DEST_SELF))


def inject_nmi(vm, vcpu):
    """KVM_NMI on a TD vCPU (kvm_vcpu_ioctl_nmi() -> kvm_inject_nmi())."""
    with vm.irq_lock:
        vcpu.apic.nmi_pending = True
    vcpu.kick()
    return 0


def latch_extint(vcpu, irq):
    """KVM_INTERRUPT on a TD vCPU (kvm_vcpu_ioctl_interrupt(), split
    irqchip): the vector is latched as an ExtINT, which a TD never receives
    (vt_inject_irq() does nothing for a TD)."""
    if irq >= 256:
        raise OSError(errno.EINVAL, "KVM_INTERRUPT: irq %d" % irq)
    if vcpu.apic.extint is not None:
        raise OSError(errno.EEXIST, "KVM_INTERRUPT: an ExtINT is already pending")
    vcpu.apic.extint = irq
    return 0


# -- when a vCPU has something to do -------------------------------------------

def interrupt_allowed(vm, vcpu):
    """tdx_interrupt_allowed(): KVM cannot see RFLAGS.IF; it assumes
    interrupts are allowed unless the last exit was TDVMCALL<HLT> with R12
    (interrupts blocked) set."""
    # FAULT "hlt-ignores-blocked-flag": R12 is not looked at (here and in
    # protected_apic_has_interrupt()).
    if "hlt-ignores-blocked-flag" in vm.faults:
        return True
    return not (vcpu.exit_hlt and vcpu.vp_enter_args.r12)


def protected_apic_has_interrupt(vm, vcpu):
    """tdx_protected_apic_has_interrupt(): a posted interrupt not yet
    notified (PID.ON); or, only after TDVMCALL<HLT> with R12 = 0, a
    deliverable vector already in the vIRR (TD_VCPU_STATE_DETAILS), e.g.
    one that arrived in an STI shadow or while IF was 0."""
    if vcpu.apic.on:
        return True
    blocked = vcpu.vp_enter_args.r12 and "hlt-ignores-blocked-flag" not in vm.faults
    if not vcpu.exit_hlt or blocked:
        return False
    # FAULT "hlt-ignores-rvi": the vIRR is not consulted (the pre-merge
    # "buggy_hlt_workaround" era: a vCPU could block with a deliverable vector).
    if "hlt-ignores-rvi" in vm.faults:
        return False
    return vcpu.apic.pending() is not None


def has_events(vm, vcpu):
    """kvm_vcpu_has_events() for a TD vCPU (NMIs are always allowed for a TD,
    vt_nmi_allowed())."""
    with vm.irq_lock:
        if vcpu.apic.nmi_pending:
            return True
        return interrupt_allowed(vm, vcpu) and protected_apic_has_interrupt(vm, vcpu)
