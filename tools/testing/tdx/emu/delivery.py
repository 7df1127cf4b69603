# SPDX-License-Identifier: GPL-2.0-only
"""How the model's interrupts and NMIs reach the real vCPU, and what the
guest's own x2APIC accesses do.

A TD vCPU runs in an ordinary vCPU of the host without an in-kernel APIC,
so only baseline features are used (emu/host.py REQUIRED):

- Interrupts: virtual-interrupt delivery takes a vIRR vector when its class
  is above the PPR and the guest can take an interrupt (RFLAGS.IF, no
  STI/MOV SS shadow).  Only the host's KVM knows the latter, so the model
  asks it: kvm_run.request_interrupt_window makes KVM_RUN return
  KVM_EXIT_IRQ_WINDOW_OPEN as soon as the guest can take an interrupt
  (x86.c vcpu_run(), dm_request_for_irq_injection()), and KVM_INTERRUPT then
  queues the vector for the next entry (kvm_vcpu_ioctl_interrupt() without
  an in-kernel irqchip).  Injecting only at that exit keeps the vector from
  sharing an entry with a #VE/#UD the model injects, which KVM would drop.
- NMIs: KVM_NMI on the real vCPU; the host's KVM keeps the NMI window.
- The x2APIC registers the CPU virtualizes for a TD (no exit on TDX; the
  TDX module's MSR bitmap passes them through): TPR 0x808 read/write, PPR
  0x80A, EOI 0x80B, ISR 0x810-0x817, TMR 0x818-0x81F, IRR 0x820-0x827 and
  SELF_IPI 0x83F.  The real vCPU has no APIC, so such an access fails in the
  host's KVM and, with KVM_CAP_X86_USER_SPACE_MSR enabled on the real VM
  (INVAL and UNKNOWN), exits to the model (KVM_EXIT_X86_RDMSR/WRMSR), which
  answers from the virtual APIC page.  Every other MSR access the host's
  KVM refuses is completed with error = 1: the #GP the guest got before
  (on TDX most would be a #VE; emu/README).
"""

from tdx.lib import abi
from tdx.lib.abi import ffi

# User-space MSR exits the model takes on the real VM (KVM_CAP_X86_USER_SPACE_MSR).
REAL_VM_MSR_EXITS = abi.KVM_MSR_EXIT_REASON_INVAL | abi.KVM_MSR_EXIT_REASON_UNKNOWN

X2APIC_TPR = 0x808
X2APIC_PPR = 0x80A
X2APIC_EOI = 0x80B
X2APIC_ISR0 = 0x810
X2APIC_TMR0 = 0x818
X2APIC_IRR0 = 0x820
X2APIC_SELF_IPI = 0x83F


def _bank(vectors, index):
    """32 bits of a 256-bit ISR/TMR/IRR image: register `index` (0-7)."""
    return sum(1 << (v & 31) for v in vectors if v >> 5 == index)


def before_entry(host, vfd):
    """Everything a TD entry does with events (tdx_vcpu_run(),
    kvm_check_and_inject_events()): the PIR goes to the vIRR, a pending NMI
    is injected unless a #VE is pending, and the real vCPU is asked to stop
    at its next interrupt window if a vIRR vector is deliverable."""
    vm, vcpu, run = vfd.vmfd.vm, vfd.vcpu, vfd.run
    with vm.irq_lock:
        vcpu.apic.enter()
        nmi = vcpu.apic.take_nmi(ve_pending=vcpu.ve_info is not None)
        want = vcpu.apic.pending() is not None
    if nmi:
        host.ioctl(vfd.fd, abi.KVM_NMI, 0)
    run.request_interrupt_window = 1 if want else 0


def window_open(host, vfd):
    """KVM_EXIT_IRQ_WINDOW_OPEN: the guest can take an interrupt now; the
    highest deliverable vector goes in (vIRR -> vISR)."""
    vm, vcpu, run = vfd.vmfd.vm, vfd.vcpu, vfd.run
    run.request_interrupt_window = 0
    with vm.irq_lock:
        vector = vcpu.apic.pending()
        if vector is not None:
            vcpu.apic.ack(vector)
    if vector is not None:
        irq = ffi.new("struct kvm_interrupt *")
        irq.irq = vector
        host.ioctl(vfd.fd, abi.KVM_INTERRUPT, irq)


def native_msr(vfd):
    """KVM_EXIT_X86_RDMSR/WRMSR of the real vCPU: the guest's own RDMSR or
    WRMSR that the host's KVM could not complete.  Sets msr.data/error; the
    next KVM_RUN completes the instruction (error = 1: #GP)."""
    vm, vcpu, run = vfd.vmfd.vm, vfd.vcpu, vfd.run
    m = run.msr
    index, write = m.index, run.exit_reason == abi.KVM_EXIT_X86_WRMSR
    apic = vcpu.apic
    ok = vcpu.msrs.x2apic_mode
    if ok:
        with vm.irq_lock:
            if write:
                ok = _write(vm, apic, index, m.data)
            else:
                value = _read(apic, index)
                ok = value is not None
                if ok:
                    m.data = value
    m.error = 0 if ok else 1


def _write(vm, apic, index, data):
    if index == X2APIC_EOI:
        if data:
            return False
        # FAULT "eoi-lost": the guest's EOI does not retire the in-service vector.
        if "eoi-lost" not in vm.faults:
            apic.eoi()
        return True
    if index == X2APIC_TPR:
        if data >> 8:
            return False
        apic.tpr = data
        return True
    if index == X2APIC_SELF_IPI:
        if data >> 8:
            return False
        apic.self_ipi(data)
        return True
    return False


def _read(apic, index):
    if index == X2APIC_TPR:
        return apic.tpr
    if index == X2APIC_PPR:
        return apic.ppr()
    for base, vectors in ((X2APIC_ISR0, apic.isr), (X2APIC_TMR0, ()), (X2APIC_IRR0, apic.irr)):
        if base <= index < base + 8:
            return _bank(vectors, index - base)
    return None

