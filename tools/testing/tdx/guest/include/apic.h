/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The TD's local x2APIC and external interrupts, for the guest runtime.
 *
 * A TD vCPU starts in x2APIC mode (KVM_TDX_INIT_VCPU) with its APIC
 * software-disabled: KVM drops every fixed interrupt aimed at it until the
 * guest sets SPIV bit 8 (lapic.c __apic_accept_irq(), apic_enabled()).
 * SPIV, ICR, the LVTs and the timer are emulated by KVM and must be written
 * with TDG.VP.VMCALL<Instruction.WRMSR> (tdx.c tdx_has_emulated_msr()); TPR,
 * PPR, EOI, ISR/TMR/IRR and SELF_IPI are virtualized by the CPU for a TD
 * and are plain RDMSR/WRMSR, with no exit (the TDX module passes them
 * through).
 *
 * irq_count_vector() installs a handler that counts each vector per vCPU,
 * remembers the order, and EOIs; a case checks the counts (irq_count(),
 * irq_nth()).  NMIs (vector 2) are counted the same way, without an EOI.
 */
#ifndef TDX_GUEST_APIC_H
#define TDX_GUEST_APIC_H

#include <stdint.h>

/* x2APIC MSRs (0x800 + APIC register offset / 16) */
#define X2APIC_MSR_ID		0x802
#define X2APIC_MSR_TPR		0x808
#define X2APIC_MSR_PPR		0x80A
#define X2APIC_MSR_EOI		0x80B
#define X2APIC_MSR_LDR		0x80D
#define X2APIC_MSR_SPIV		0x80F
#define X2APIC_MSR_ISR0		0x810
#define X2APIC_MSR_IRR0		0x820
#define X2APIC_MSR_ICR		0x830
#define X2APIC_MSR_SELF_IPI	0x83F

#define APIC_SPIV_APIC_ENABLED	(1U << 8)
#define APIC_SPURIOUS_VECTOR	0xFF

/* ICR (x2APIC: destination in bits 63:32) and MSI data fields */
#define APIC_DM_FIXED		0x000
#define APIC_DM_LOWEST		0x100
#define APIC_DM_SMI		0x200
#define APIC_DM_NMI		0x400
#define APIC_DM_INIT		0x500
#define APIC_DM_STARTUP		0x600
#define APIC_DEST_LOGICAL	0x800
#define APIC_INT_ASSERT		0x4000
#define APIC_DEST_SELF		0x40000
#define APIC_DEST_ALLINC	0x80000
#define APIC_DEST_ALLBUT	0xC0000

#define NMI_VECTOR		2

/* The counters keep this many vCPUs apart (vCPU index < IRQ_MAX_VCPUS). */
#define IRQ_MAX_VCPUS		4
#define IRQ_LOG_LEN		8

/* Bounded wait for an interrupt once IF is set: a clean failure, not a hang. */
#define IRQ_WAIT_SPINS		200000

#ifndef __ASSEMBLER__
/* SPIV = enabled | spurious vector 0xFF, through TDG.VP.VMCALL<WRMSR>; returns R10. */
uint64_t x2apic_enable(void);

/* An IPI: ICR = dest << 32 | icr_low, through TDG.VP.VMCALL<WRMSR>; returns R10. */
uint64_t x2apic_send_ipi(uint32_t dest, uint32_t icr_low);

/* EOI: the CPU virtualizes it for a TD (no exit). */
static inline void x2apic_eoi(void)
{
	__asm__ volatile("wrmsr" : : "c"(X2APIC_MSR_EOI), "a"(0), "d"(0) : "memory");
}

static inline void local_irq_enable(void)
{
	__asm__ volatile("sti" : : : "memory");
}

static inline void local_irq_disable(void)
{
	__asm__ volatile("cli" : : : "memory");
}

/* Count `vector` (>= 32: and EOI it; NMI_VECTOR: an NMI) on every vCPU. */
void irq_count_vector(int vector);

/* For the calling vCPU: how often `vector` was handled, how many in all, the n-th (from 0). */
uint32_t irq_count(int vector);
uint32_t irq_total(void);
uint32_t irq_nth(uint32_t n);

/*
 * Let interrupts in (STI) until the calling vCPU has handled `total`
 * interrupts in all, or `spins` spins passed; then CLI.  Returns the total.
 * On TDX an interrupt already pending is taken right after STI's shadow;
 * one the host has yet to send needs a bound the host cannot outrun
 * (IRQ_WAIT_FOREVER: the host's watchdog ends a guest that waits in vain).
 */
#define IRQ_WAIT_FOREVER	0xFFFFFFFFU
uint32_t irq_wait(uint32_t total, uint32_t spins);

static inline uint32_t irq_enable_until(uint32_t total)
{
	return irq_wait(total, IRQ_WAIT_SPINS);
}
#endif /* __ASSEMBLER__ */

#endif /* TDX_GUEST_APIC_H */
