// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of ghci_quote.py: TDG.VP.VMCALL<GetQuote> and
 * <SetupEventNotifyInterrupt> (docs/kvm-tdx-uapi.md §4.9, §4.11).
 *
 * The calls go through tdcall() with every GPR loaded and checked
 * (vmcall_check.h): KVM writes only R10 for both leaves, so the guest
 * must get back its own R11 (the leaf) and every other register.
 * guest_get_quote() and guest_setup_event_notify() run a list of operands
 * the host wrote into the shared area and report each R10 with GUEST_SYNC,
 * so that "no exit" is proven by the report being the next exit.
 */
#include <stdint.h>

#include "apic.h"
#include "boot.h"
#include "tdx.h"
#include "test.h"
#include "vmcall_check.h"

/* Shared area: page 0 ucall, OPS_OFFSET the host's operands, QUOTE_OFFSET the quote buffer. */
#define OPS_OFFSET		0x1000
#define QUOTE_OFFSET		0x2000
#define QUOTE_SIZE		0x2000	/* 8 KiB, as the Linux guest (GET_QUOTE_BUF_SIZE) */
#define READY_OFFSET		0x1800

#define vmcall(r)		tdg_vp_vmcall_checked(TDVMCALL_EXPOSE_R10_R15_MASK, TDVMCALL_PRESERVED_IO, r)

static volatile uint64_t *host_ops(uint64_t *n)
{
	volatile uint64_t *ops = (volatile uint64_t *)(td_boot_params.shared_gva + OPS_OFFSET);

	*n = ops[0];
	return ops + 1;
}

static volatile struct tdx_quote_hdr *quote_buffer(void)
{
	return (volatile struct tdx_quote_hdr *)(td_boot_params.shared_gva + QUOTE_OFFSET);
}

static uint64_t quote_gpa(void)
{
	return (td_boot_params.shared_gpa + QUOTE_OFFSET) | td_boot_params.shared_bit;
}

/* GetQuote(R12, R13): returns R10; R11 must still be the leaf. */
static uint64_t get_quote(uint64_t gpa, uint64_t size)
{
	struct tdx_regs r;
	uint64_t ret;

	tdx_regs_ghci(&r, TDVMCALL_GET_QUOTE, gpa, size, TDX_POISON(14), TDX_POISON(15));
	ret = vmcall(&r);
	GUEST_ASSERT_EQ(r.r11, TDVMCALL_GET_QUOTE);
	return ret;
}

static uint64_t setup_event_notify(uint64_t vector)
{
	struct tdx_regs r;
	uint64_t ret;

	tdx_regs_ghci(&r, TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT, vector, TDX_POISON(13), TDX_POISON(14),
		      TDX_POISON(15));
	ret = vmcall(&r);
	GUEST_ASSERT_EQ(r.r11, TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT);
	return ret;
}

/* ops: count, then (R12, R13) pairs. */
void guest_get_quote(void)
{
	uint64_t i, n;
	volatile uint64_t *ops = host_ops(&n);

	for (i = 0; i < n; i++)
		GUEST_SYNC(get_quote(ops[2 * i], ops[2 * i + 1]));
	GUEST_DONE();
}

/* ops: count, then vectors (R12). */
void guest_setup_event_notify(void)
{
	uint64_t i, n;
	volatile uint64_t *ops = host_ops(&n);

	for (i = 0; i < n; i++)
		GUEST_SYNC(setup_event_notify(ops[i]));
	GUEST_DONE();
}

/* A stand-in for the TDREPORT (TDG.MR.REPORT is not called: the VMM only moves bytes). */
static uint8_t report_byte(uint32_t i)
{
	return (uint8_t)(i * 13 + 7);
}

static void write_request(void)
{
	volatile struct tdx_quote_hdr *q = quote_buffer();
	uint32_t i;

	q->version = TDX_QUOTE_VERSION;
	q->status = TDX_QUOTE_STATUS_SUCCESS;
	q->in_len = TDX_REPORT_LEN;
	q->out_len = 0;
	for (i = 0; i < TDX_REPORT_LEN; i++)
		q->data[i] = report_byte(i);
}

/* The quote's bytes summed: the host checks them (it chose them). */
static uint64_t quote_sum(void)
{
	volatile struct tdx_quote_hdr *q = quote_buffer();
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < q->out_len && i < QUOTE_SIZE - sizeof(*q); i++)
		sum += (uint64_t)q->data[i] << (i % 8 * 8);
	return sum;
}

/*
 * The buffer protocol of the Linux guest and QEMU: request, IN_FLIGHT
 * while the VMM works, then the quote and SUCCESS, found by polling.
 */
void guest_quote_protocol(void)
{
	volatile struct tdx_quote_hdr *q = quote_buffer();

	write_request();
	GUEST_ASSERT_EQ(get_quote(quote_gpa(), QUOTE_SIZE), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(q->status, TDX_QUOTE_STATUS_IN_FLIGHT);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(q->status, TDX_QUOTE_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(q->version, TDX_QUOTE_VERSION);
	GUEST_SYNC(q->out_len);
	GUEST_SYNC(quote_sum());
	GUEST_DONE();
}

/*
 * SetupEventNotifyInterrupt(vector), then a quote request; the guest waits
 * with interrupts on (never exiting) until the VMM raises the vector, then
 * finds the quote done.
 */
void guest_quote_notify(uint64_t vector)
{
	volatile struct tdx_quote_hdr *q = quote_buffer();

	local_irq_disable();
	GUEST_ASSERT_EQ(x2apic_enable(), TDVMCALL_STATUS_SUCCESS);
	irq_count_vector(vector);
	GUEST_ASSERT_EQ(setup_event_notify(vector), TDVMCALL_STATUS_SUCCESS);
	write_request();
	GUEST_ASSERT_EQ(get_quote(quote_gpa(), QUOTE_SIZE), TDVMCALL_STATUS_SUCCESS);
	*(volatile uint64_t *)(td_boot_params.shared_gva + READY_OFFSET) = 1;
	GUEST_ASSERT_EQ(irq_wait(1, IRQ_WAIT_FOREVER), 1);
	GUEST_ASSERT_EQ(irq_nth(0), vector);
	GUEST_ASSERT_EQ(q->status, TDX_QUOTE_STATUS_SUCCESS);
	GUEST_SYNC(quote_sum());
	GUEST_DONE();
}
