# SPDX-License-Identifier: GPL-2.0-only
"""A TD vCPU's interrupt state: what KVM holds and what the TDX module hides.

Interrupts reach a TD only as posted interrupts (arch/x86/kvm/vmx/tdx.c
tdx_deliver_interrupt(): "TDX supports only posted interrupt.  No lapic
emulation."), so the state splits in two:

- KVM's posted-interrupt descriptor (PID, vcpu_vt.pi_desc): the PIR bits
  and the ON (outstanding notification) bit.  __vt_deliver_posted_interrupt()
  (arch/x86/kvm/vmx/common.h) sets a PIR bit, then ON, and kicks the vCPU
  only if both were clear.  Before each TD entry with ON set,
  tdx_vcpu_run() sends the notification vector to itself, so the CPU moves
  the PIR into the TD's virtual IRR right after entry (modelled by sync()).
- The TDX module's virtual APIC page (vIRR, vISR, vTPR), which KVM can
  neither read nor write.  Virtual-interrupt delivery takes the highest
  vIRR vector when its priority class is above the PPR and the guest can
  take an interrupt (RFLAGS.IF, no STI/MOV SS shadow); the guest's EOI
  (x2APIC MSR 0x80B, virtualized: has_protected_eoi, tdx_vm_init()) retires
  the highest vISR vector.  KVM sees one bit of it: TD_VCPU_STATE_DETAILS
  bit 0, "an interrupt in vIRR is deliverable" (pending() below), read by
  tdx_protected_apic_has_interrupt() only after TDVMCALL<HLT> with R12 = 0.
- NMIs: KVM's pending NMI (KVM_NMI, NMI IPIs: nmi_pending / KVM_REQ_NMI)
  becomes the TDX module's PEND_NMI at the next entry (tdx_inject_nmi(),
  which collapses any further pending NMI into it); the module injects it
  when no #VE is pending (VE_INFO not valid).

Pure state; the rules for who may deliver what are emu/interrupts.py's, how
it reaches the real vCPU emu/delivery.py's.
"""

APIC_PRIORITY_CLASS = 0xF0


def _class(vector):
    return vector & APIC_PRIORITY_CLASS


class VirtualApic:
    """One TD vCPU's PID, virtual APIC page and NMI state."""

    def __init__(self):
        self.pir = set()                # PID.PIR: vectors posted since the last entry
        self.irr = set()                # TDX module: vIRR
        self.isr = set()                # TDX module: vISR
        self.tpr = 0                    # TDX module: vTPR (x2APIC MSR 0x808, virtualized)
        self.nmi_pending = False        # KVM: nmi_pending / KVM_REQ_NMI
        self.pend_nmi = False           # TDX module: TDVPS PEND_NMI
        self.extint = None              # KVM: pending_external_vector (KVM_INTERRUPT, split irqchip)

    # -- KVM side --

    @property
    def on(self):
        """PID.ON: a posted interrupt the TD has not been notified of."""
        return bool(self.pir)

    def post(self, vector):
        """__vt_deliver_posted_interrupt(): True when the vCPU must be kicked
        (neither the PIR bit nor ON was set)."""
        if vector in self.pir:
            return False
        was_on = self.on
        self.pir.add(vector)
        return not was_on

    def enter(self):
        """What happens at TD entry: the posted-interrupt notification moves
        the PIR into the vIRR (tdx_vcpu_run(): self-IPI when ON is set), and
        KVM's pending NMI becomes PEND_NMI (tdx_inject_nmi())."""
        if self.pir:
            self.irr |= self.pir
            self.pir.clear()
        if self.nmi_pending:
            self.pend_nmi = True
            self.nmi_pending = False

    # -- TDX module side (the virtual APIC page) --

    def ppr(self):
        """Processor priority: vTPR, or the class of the highest vISR vector
        if that is higher (SDM "Processor Priority Register")."""
        isrv = max(self.isr) if self.isr else 0
        return self.tpr & 0xFF if _class(self.tpr) >= _class(isrv) else _class(isrv)

    def rvi(self):
        """Requesting virtual interrupt: the highest vIRR vector (0 if none)."""
        return max(self.irr) if self.irr else 0

    def pending(self):
        """The vIRR vector virtual-interrupt delivery would take next, or None
        (TD_VCPU_STATE_DETAILS.VMXIP: RVI[7:4] > PPR[7:4])."""
        rvi = self.rvi()
        if rvi and _class(rvi) > _class(self.ppr()):
            return rvi
        return None

    def ack(self, vector):
        """Virtual-interrupt delivery of `vector`: vIRR -> vISR."""
        self.irr.discard(vector)
        self.isr.add(vector)

    def eoi(self):
        """Virtualized EOI: retire the highest in-service vector."""
        if self.isr:
            self.isr.discard(max(self.isr))

    def self_ipi(self, vector):
        """Virtualized SELF_IPI (x2APIC MSR 0x83F): straight into the vIRR."""
        self.irr.add(vector)

    def take_nmi(self, ve_pending):
        """The module injects PEND_NMI unless a #VE is pending (its
        information not yet read with TDG.VP.VEINFO.GET)."""
        if self.pend_nmi and not ve_pending:
            self.pend_nmi = False
            return True
        return False

    def __repr__(self):
        return "VirtualApic(pir=%s irr=%s isr=%s tpr=%#x nmi=%s/%s)" % (
            sorted(self.pir), sorted(self.irr), sorted(self.isr), self.tpr, self.nmi_pending, self.pend_nmi)
