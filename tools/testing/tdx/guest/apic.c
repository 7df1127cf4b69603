// SPDX-License-Identifier: GPL-2.0-only
/*
 * x2APIC setup, IPIs and counted interrupt handlers for test guests (apic.h).
 */
#include <stdint.h>

#include "apic.h"
#include "boot.h"
#include "exceptions.h"
#include "io.h"
#include "tdx.h"

struct irq_record {
	uint16_t count[IDT_NR_VECTORS];
	uint32_t total;
	uint8_t log[IRQ_LOG_LEN];
};

static volatile struct irq_record irq_records[IRQ_MAX_VCPUS];

static volatile struct irq_record *irq_record(void)
{
	uint32_t index = guest_vcpu_index();

	return index < IRQ_MAX_VCPUS ? &irq_records[index] : 0;
}

uint64_t x2apic_enable(void)
{
	return tdg_vp_vmcall_wrmsr(X2APIC_MSR_SPIV, APIC_SPIV_APIC_ENABLED | APIC_SPURIOUS_VECTOR);
}

uint64_t x2apic_send_ipi(uint32_t dest, uint32_t icr_low)
{
	return tdg_vp_vmcall_wrmsr(X2APIC_MSR_ICR, (uint64_t)dest << 32 | icr_low);
}

static void irq_counter(struct ex_regs *regs)
{
	volatile struct irq_record *rec = irq_record();
	uint32_t vector = regs->vector & (IDT_NR_VECTORS - 1);

	if (rec) {
		rec->count[vector]++;
		if (rec->total < IRQ_LOG_LEN)
			rec->log[rec->total] = vector;
		rec->total++;
	}
	if (vector >= 32)
		x2apic_eoi();
}

void irq_count_vector(int vector)
{
	guest_install_handler(vector, irq_counter);
}

uint32_t irq_count(int vector)
{
	volatile struct irq_record *rec = irq_record();

	return rec ? rec->count[vector & (IDT_NR_VECTORS - 1)] : 0;
}

uint32_t irq_total(void)
{
	volatile struct irq_record *rec = irq_record();

	return rec ? rec->total : 0;
}

uint32_t irq_nth(uint32_t n)
{
	volatile struct irq_record *rec = irq_record();

	return rec && n < IRQ_LOG_LEN ? rec->log[n] : 0;
}

uint32_t irq_wait(uint32_t total, uint32_t spins)
{
	uint32_t i;

	local_irq_enable();
	for (i = 0; i < spins && irq_total() < total; i++)
		cpu_relax();
	local_irq_disable();
	return irq_total();
}
