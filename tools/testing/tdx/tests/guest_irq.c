// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest functions for tests/test_emu_delivery.py: interrupts and NMIs of the
 * emulated platform end to end (the real vCPU's interrupt window, the
 * guest's own EOI/TPR/SELF_IPI, kicks and the wake-up of TDVMCALL<HLT>).
 * Each reports what it handled; the host decides what should have come.
 */
#include <stdint.h>

#include "apic.h"
#include "boot.h"
#include "io.h"
#include "tdx.h"
#include "test.h"

#define V_LOW		0x41	/* class 4 */
#define V_MID		0x65	/* class 6 */
#define V_HIGH		0x81	/* class 8 */

/* In the shared area after the ucall page: the host polls it. */
#define READY_OFFSET	0x1000

static void setup(void)
{
	local_irq_disable();
	GUEST_ASSERT_EQ(x2apic_enable(), TDVMCALL_STATUS_SUCCESS);
	irq_count_vector(V_LOW);
	irq_count_vector(V_MID);
	irq_count_vector(V_HIGH);
	irq_count_vector(NMI_VECTOR);
}

static void ready(uint64_t value)
{
	*(volatile uint64_t *)(td_boot_params.shared_gva + READY_OFFSET + 8 * guest_vcpu_index()) = value;
}

/* SYNC(1); the host sends what it likes; then interrupts on until `total` arrived. */
void guest_take(uint64_t total)
{
	setup();
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(irq_total(), 0);		/* IF was 0 */
	GUEST_ASSERT_EQ(irq_enable_until(total), total);
	GUEST_SYNC(irq_nth(0) | irq_nth(1) << 8 | irq_nth(2) << 16);
	GUEST_DONE();
}

/* The same vector twice: the second comes only after the first one's EOI. */
void guest_twice(void)
{
	setup();
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_SYNC(2);
	GUEST_ASSERT_EQ(irq_enable_until(2), 2);
	GUEST_ASSERT_EQ(irq_count(V_MID), 2);
	GUEST_DONE();
}

/* vTPR (native) holds V_LOW back; PPR and IRR (native reads) show it. */
void guest_tpr(void)
{
	setup();
	wrmsr(X2APIC_MSR_TPR, 0x50);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_ASSERT_EQ(irq_nth(0), V_MID);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_TPR), 0x50);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_PPR), 0x50);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_IRR0 + V_LOW / 32), 1ULL << (V_LOW % 32));
	wrmsr(X2APIC_MSR_TPR, 0);
	GUEST_ASSERT_EQ(irq_enable_until(2), 2);
	GUEST_ASSERT_EQ(irq_nth(1), V_LOW);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_IRR0 + V_LOW / 32), 0);
	GUEST_DONE();
}

/* SELF_IPI (native): no exit on TDX. */
void guest_self_ipi(void)
{
	setup();
	wrmsr(X2APIC_MSR_SELF_IPI, V_HIGH);
	GUEST_ASSERT_EQ(irq_total(), 0);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_ASSERT_EQ(irq_nth(0), V_HIGH);
	GUEST_DONE();
}

/* Interrupts on, spinning: an interrupt must reach a vCPU that never exits. */
void guest_spin_for_one(void)
{
	setup();
	ready(1);
	GUEST_ASSERT_EQ(irq_wait(1, IRQ_WAIT_FOREVER), 1);
	GUEST_DONE();
}

/*
 * TDVMCALL<HLT> with IF = 0 and R12 = `blocked`; once it returns, report
 * what arrived meanwhile (before STI), then what arrives with interrupts on.
 */
void guest_halt(uint64_t blocked)
{
	setup();
	GUEST_SYNC(1);
	ready(1);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_hlt(blocked), TDVMCALL_STATUS_SUCCESS);
	GUEST_SYNC(irq_total() | (uint64_t)irq_count(NMI_VECTOR) << 8);
	irq_enable_until(irq_total() + 1);
	GUEST_SYNC(irq_total());
	GUEST_DONE();
}

/* Until SPIV enables the APIC, KVM drops fixed interrupts (V_LOW); after, V_MID arrives. */
void guest_spiv(void)
{
	local_irq_disable();
	irq_count_vector(V_LOW);
	irq_count_vector(V_MID);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(x2apic_enable(), TDVMCALL_STATUS_SUCCESS);
	GUEST_SYNC(2);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_ASSERT_EQ(irq_nth(0), V_MID);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_IRR0 + V_LOW / 32), 0);
	GUEST_DONE();
}
