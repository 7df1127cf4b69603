// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of private_mem_access.py: private and shared memory, MapGPA,
 * implicit conversions, TDG.MEM.PAGE.ACCEPT and the #VE of a pending page.
 *
 * Every page used here lies in low memory, which the page tables map
 * identity (GVA = GPA, shared bit clear: the private alias).  Pages of the
 * shared area are also mapped at td_boot_params.shared_gva with the shared
 * bit (the shared alias), so the guest reaches either view of them without
 * changing its page tables (docs/c-selftests.md §5, "dual mapping").
 */
#include <stddef.h>
#include <stdint.h>

#include "apic.h"
#include "boot.h"
#include "exceptions.h"
#include "private_mem.h"
#include "tdx.h"
#include "test.h"

/* Patterns; private_mem_access.py has the same values. */
#define SECRET		0x5EC2E75EC2E75EC2ULL	/* private data the host must never see */
#define INIT_QWORD	0x1111111111111111ULL	/* what the host added with KVM_TDX_INIT_MEM_REGION */
#define HOST_QWORD	0x2222222222222222ULL	/* what the host put in its (shared-view) memory */
#define GUEST_VALUE	0xCAFECAFEULL
#define HOST_VALUE	0xABCDABCDULL

/* TDX module statuses of TDG.MEM.PAGE.ACCEPT (operand id = S-EPT level in bits 31:0). */
#define TDX_PAGE_ALREADY_ACCEPTED	0x00000B0A00000000ULL
#define TDX_PAGE_SIZE_MISMATCH		0xC0000B0B00000000ULL
#define TDX_OPERAND_ID_RCX		1

void guest_done(void)
{
	GUEST_DONE();
}

/* -- the host cannot observe private data -- */

void guest_private_secret(uint64_t gpa)
{
	volatile uint64_t *p = private_va(gpa);

	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_SUCCESS);
	fill_page(p, SECRET);
	GUEST_SYNC(1);			/* the host looks for the secret, then writes its memory */
	assert_page(p, SECRET);		/* host writes never reach the private page */
	GUEST_DONE();
}

/*
 * A page the host added with INIT_QWORD: the guest sees it, then writes two
 * values in turn; the host looks at its own memory after each (it must never
 * see them), and the guest reads back the last.
 */
void guest_host_view_of_added_page(uint64_t gpa)
{
	volatile uint64_t *p = private_va(gpa);

	assert_page(p, INIT_QWORD);
	fill_page(p, SECRET);
	GUEST_SYNC(1);
	fill_page(p, ~SECRET);
	GUEST_SYNC(2);
	assert_page(p, ~SECRET);
	GUEST_DONE();
}

/* -- MapGPA -- */

/*
 * `gpa`: a page of the shared area the host made private and added with
 * INIT_QWORD; the host's own memory there holds HOST_QWORD.
 */
void guest_shared_coherence(uint64_t gpa)
{
	volatile uint64_t *priv = private_va(gpa), *shared = shared_va(gpa);

	assert_page(priv, INIT_QWORD);
	fill_page(priv, SECRET);
	map_gpa_ok(shared_gpa(gpa), PAGE_SIZE);
	/* The shared view is the host's memory: no trace of the private data. */
	assert_page(shared, HOST_QWORD);
	shared[0] = GUEST_VALUE;
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(shared[1], HOST_VALUE);
	GUEST_DONE();
}

void guest_map_gpa_align_error(uint64_t gpa)
{
	uint64_t s = shared_gpa(gpa);

	map_gpa_fails(s + 0x800, PAGE_SIZE, TDVMCALL_STATUS_ALIGN_ERROR, s + 0x800);
	map_gpa_fails(s + 1, PAGE_SIZE, TDVMCALL_STATUS_ALIGN_ERROR, s + 1);
	map_gpa_fails(s, 0x800, TDVMCALL_STATUS_ALIGN_ERROR, s);
	map_gpa_fails(gpa, PAGE_SIZE + 8, TDVMCALL_STATUS_ALIGN_ERROR, gpa);
	map_gpa_fails(gpa, PAGE_SIZE + 1, TDVMCALL_STATUS_ALIGN_ERROR, gpa);
	GUEST_DONE();
}

void guest_map_gpa_invalid_operand(uint64_t gpa)
{
	uint64_t sbit = td_boot_params.shared_bit, s = shared_gpa(gpa);

	map_gpa_fails(s, 0, TDVMCALL_STATUS_INVALID_OPERAND, s);
	/* Operand checks come before the alignment check. */
	map_gpa_fails(s + 0x800, 0, TDVMCALL_STATUS_INVALID_OPERAND, s + 0x800);
	map_gpa_fails(~0xFFFULL, 2 * PAGE_SIZE, TDVMCALL_STATUS_INVALID_OPERAND, ~0xFFFULL);
	map_gpa_fails(sbit - PAGE_SIZE, 2 * PAGE_SIZE, TDVMCALL_STATUS_INVALID_OPERAND, sbit - PAGE_SIZE);
	/* Across the shared bit by one byte only: still the operand check (gpa + size - 1). */
	map_gpa_fails(sbit - PAGE_SIZE, PAGE_SIZE + 1, TDVMCALL_STATUS_INVALID_OPERAND, sbit - PAGE_SIZE);
	/* Beyond the vCPU's MAXPHYADDR (GPAW 48: shared bit 47 is the top bit). */
	map_gpa_fails(sbit << 1, PAGE_SIZE, TDVMCALL_STATUS_INVALID_OPERAND, sbit << 1);
	GUEST_DONE();
}

/*
 * The last legal ranges, one page short of each refusal above: the two last
 * private pages end exactly at the shared bit, the two last shared pages
 * exactly at MAXPHYADDR.  tdx_map_gpa() checks the range's last byte, not
 * the byte after it, so both exit to userspace.
 */
void guest_map_gpa_last_pages(uint64_t unused)
{
	uint64_t sbit = td_boot_params.shared_bit;

	map_gpa_ok(sbit - 2 * PAGE_SIZE, 2 * PAGE_SIZE);
	map_gpa_ok((sbit << 1) - 2 * PAGE_SIZE, 2 * PAGE_SIZE);
	GUEST_DONE();
}

/* 4 MiB + 8 KiB both ways: the host sees 2 MiB chunks from the guest's (unaligned) GPA. */
void guest_map_gpa_chunks(uint64_t gpa)
{
	map_gpa_ok(shared_gpa(gpa), 2 * SIZE_2M + 2 * PAGE_SIZE);
	map_gpa_ok(gpa, 2 * SIZE_2M + 2 * PAGE_SIZE);
	GUEST_DONE();
}

/*
 * What the guest got back from a MapGPA whose answer depends on the kernel
 * release (R10, R11): the host reads it at RESULT_OFFSET of the shared area
 * after GUEST_SYNC(1) and judges it against the generation it detected.
 */
#define RESULT_OFFSET	0x1000

static void report_map_gpa(uint64_t status, uint64_t r11)
{
	volatile uint64_t *out = (volatile uint64_t *)(td_boot_params.shared_gva + RESULT_OFFSET);

	out[0] = status;
	out[1] = r11;
	GUEST_SYNC(1);
}

/* The host fails the second chunk with EAGAIN; the guest resumes from R11 either way. */
void guest_map_gpa_retry(uint64_t gpa)
{
	uint64_t start = shared_gpa(gpa), end = start + 2 * SIZE_2M, next = 0;
	uint64_t status = tdg_vp_vmcall_map_gpa(start, end - start, &next);

	report_map_gpa(status, next);
	map_gpa_ok(next, end - next);
	GUEST_DONE();
}

/*
 * An interrupt arrives while the host handles the first chunk: KVM stops
 * with RETRY and R11 = the next chunk (tdx_complete_vmcall_map_gpa(),
 * kvm_vcpu_has_events()); the guest takes the interrupt, then resumes.
 */
#define MAP_GPA_VECTOR	0x63

void guest_map_gpa_interrupted(uint64_t gpa)
{
	uint64_t start = shared_gpa(gpa), end = start + 2 * SIZE_2M, next = 0;
	uint64_t status;

	local_irq_disable();
	GUEST_ASSERT_EQ(x2apic_enable(), TDVMCALL_STATUS_SUCCESS);
	irq_count_vector(MAP_GPA_VECTOR);
	status = tdg_vp_vmcall_map_gpa(start, end - start, &next);
	GUEST_ASSERT_EQ(irq_total(), 0);
	report_map_gpa(status, next);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_ASSERT_EQ(irq_nth(0), MAP_GPA_VECTOR);
	map_gpa_ok(next, end - next);
	GUEST_DONE();
}

/* The host fails the second chunk with EINVAL. */
void guest_map_gpa_einval(uint64_t gpa)
{
	uint64_t start = shared_gpa(gpa);

	map_gpa_fails(start, 2 * SIZE_2M, TDVMCALL_STATUS_INVALID_OPERAND, start + SIZE_2M);
	GUEST_DONE();
}

/* One page; the host completes it with a hypercall.ret KVM does not define. */
void guest_map_gpa_bad_ret(uint64_t gpa)
{
	uint64_t r11 = 0;
	uint64_t status = tdg_vp_vmcall_map_gpa(shared_gpa(gpa), PAGE_SIZE, &r11);

	report_map_gpa(status, r11);
	GUEST_DONE();
}

/* Without KVM_CAP_EXIT_HYPERCALL: SUBFUNC_UNSUPPORTED both ways, no exit. */
void guest_map_gpa_no_cap(uint64_t gpa)
{
	map_gpa_fails(shared_gpa(gpa), PAGE_SIZE, TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, shared_gpa(gpa));
	map_gpa_fails(gpa, PAGE_SIZE, TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, gpa);
	GUEST_DONE();
}

/* private -> shared -> private: the page must be accepted again and reads as zero. */
void guest_round_trip(uint64_t gpa)
{
	volatile uint64_t *priv = private_va(gpa);

	fill_page(priv, SECRET);
	map_gpa_ok(shared_gpa(gpa), PAGE_SIZE);
	GUEST_SYNC(1);
	map_gpa_ok(gpa, PAGE_SIZE);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_SUCCESS);
	assert_page(priv, 0);
	GUEST_DONE();
}

/* -- implicit conversions: KVM_EXIT_MEMORY_FAULT -- */

/* `gpa` is private: a store through the shared alias (not at the page's start). */
void guest_implicit_shared_store(uint64_t gpa)
{
	volatile uint64_t *shared = shared_va(gpa);

	shared[1] = GUEST_VALUE;
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(shared[1], GUEST_VALUE);
	GUEST_ASSERT_EQ(shared[2], HOST_VALUE);
	GUEST_DONE();
}

/* `gpa` is private: a load through the shared alias sees the host's memory. */
void guest_implicit_shared_load(uint64_t gpa)
{
	volatile uint64_t *shared = shared_va(gpa);

	GUEST_ASSERT_EQ(shared[1], HOST_QWORD);
	GUEST_DONE();
}

/*
 * A store to a private page that is not accepted yet: one #VE (a write at the
 * GPA), the handler accepts, and the store lands in a page that is otherwise zero.
 */
static void store_through_ve(uint64_t gpa)
{
	volatile uint64_t *p = private_va(gpa);

	guest_install_handler(VE_VECTOR, ve_accept_handler);
	p[1] = GUEST_VALUE;
	assert_one_ve(gpa + 8, 1);
	GUEST_ASSERT_EQ(p[0], 0);
	GUEST_ASSERT_EQ(p[1], GUEST_VALUE);
	GUEST_ASSERT_EQ(p[QWORDS - 1], 0);
}

/*
 * `gpa` is shared: a store through the private alias.  After the host's
 * conversion the page is private but not accepted: #VE, accept, the store lands.
 */
void guest_implicit_private_store(uint64_t gpa)
{
	store_through_ve(gpa);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/* `gpa` is shared: a load through the private alias reads the accepted (zeroed) page. */
void guest_implicit_private_load(uint64_t gpa)
{
	volatile uint64_t *priv = private_va(gpa);
	uint64_t value;

	guest_install_handler(VE_VECTOR, ve_accept_handler);
	value = priv[1];
	assert_one_ve(gpa + 8, 0);
	GUEST_ASSERT_EQ(value, 0);
	assert_page(priv, 0);
	GUEST_DONE();
}

/* -- acceptance -- */

/* `gpa`: private, never added (pending once KVM maps it). */
void guest_accept_statuses(uint64_t gpa)
{
	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_SUCCESS);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_PAGE_ALREADY_ACCEPTED | TDX_PS_4K);
	/* KVM maps private memory with 4K pages: the 2M walk ends at a page table. */
	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa & ~(SIZE_2M - 1), TDX_PS_2M), TDX_PAGE_SIZE_MISMATCH | TDX_PS_2M);
	/* Private GPAs only, levels 4K and 2M only. */
	GUEST_ASSERT_EQ(tdg_mem_page_accept(shared_gpa(gpa), TDX_PS_4K), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, 2), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX);
	GUEST_ASSERT_EQ(*private_va(gpa), 0);
	GUEST_DONE();
}

/* `gpa` is shared: ACCEPT needs it private (KVM_EXIT_MEMORY_FAULT), then succeeds. */
void guest_accept_shared_page(uint64_t gpa)
{
	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_SUCCESS);
	assert_page(private_va(gpa), 0);
	GUEST_SYNC(1);			/* the next KVM_RUN resumes here, the ACCEPT done once */
	GUEST_DONE();
}

/* `gpa`: private, not accepted; SEPT_VE_DISABLE clear: #VE, the handler accepts. */
void guest_load_before_accept(uint64_t gpa)
{
	uint64_t value;

	guest_install_handler(VE_VECTOR, ve_accept_handler);
	value = private_va(gpa)[1];
	assert_one_ve(gpa + 8, 0);
	GUEST_ASSERT_EQ(value, 0);
	GUEST_DONE();
}

void guest_store_before_accept(uint64_t gpa)
{
	store_through_ve(gpa);
	GUEST_DONE();
}

/* With SEPT_VE_DISABLE KVM kills the TD at the first touch: nothing after it runs. */
void guest_load_pending(uint64_t gpa)
{
	guest_install_handler(VE_VECTOR, ve_accept_handler);
	(void)private_va(gpa)[0];
	GUEST_FAIL("the TD survived a load from a pending page");
}

void guest_store_pending(uint64_t gpa)
{
	guest_install_handler(VE_VECTOR, ve_accept_handler);
	private_va(gpa)[0] = GUEST_VALUE;
	GUEST_FAIL("the TD survived a store to a pending page");
}

/* -- memslot problems: KVM_EXIT_MEMORY_FAULT (private_mem_kvm_exits_test's cases) -- */

/*
 * A private load at TD_MMIO_GPA + 8 (the window's private alias).  The host
 * first lets it fault (no guest_memfd behind the page), then puts a
 * guest_memfd memslot there: the page is pending, #VE, accepted, zero.
 */
#define READY_OFFSET	0x2000	/* in the shared area: the host's "guest_memfd memslot added" */

static volatile uint64_t ready_at_ve;

/* The #VE must come after the host's change, never for the page without guest_memfd. */
static void ve_after_ready_handler(struct ex_regs *regs)
{
	ready_at_ve = *(volatile uint64_t *)(td_boot_params.shared_gva + READY_OFFSET);
	ve_accept_handler(regs);
}

void guest_load_private_window(void)
{
	volatile uint64_t *p = (volatile uint64_t *)TD_MMIO_PRIVATE_GVA;
	uint64_t value;

	guest_install_handler(VE_VECTOR, ve_after_ready_handler);
	value = p[1];
	assert_one_ve(TD_MMIO_GPA + 8, 0);
	GUEST_ASSERT_EQ(ready_at_ve, 1);
	GUEST_ASSERT_EQ(value, 0);
	GUEST_DONE();
}

/*
 * TD_MMIO_GPA is a private page of a guest_memfd memslot: accept it, write
 * GUEST_VALUE, GUEST_SYNC, then load it until something changes.  The host
 * deletes the memslot (KVM_RUN fails EFAULT, KVM_EXIT_MEMORY_FAULT) and may
 * add it again: the page is then pending (#VE, accepted, zero), not the old data.
 * Each iteration is two loads and a compare.
 */
void guest_private_window_loop(void)
{
	volatile uint64_t *p = (volatile uint64_t *)TD_MMIO_PRIVATE_GVA;
	uint64_t value;

	guest_install_handler(VE_VECTOR, ve_accept_handler);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(TD_MMIO_GPA, TDX_PS_4K), TDX_SUCCESS);
	p[1] = GUEST_VALUE;
	GUEST_SYNC(1);
	do {
		value = p[1];
	} while (value == GUEST_VALUE && !ve.count);
	assert_one_ve(TD_MMIO_GPA + 8, 0);
	GUEST_ASSERT_EQ(value, 0);
	GUEST_DONE();
}

/* -- a non-guest_memfd memslot with dirty logging, reached through the MMIO window's shared mapping -- */

/* A load through the MMIO window (TD_MMIO_GPA | shared bit): no memslot until the host adds one. */
void guest_load_mmio_window(void)
{
	volatile uint64_t *q = (volatile uint64_t *)TD_MMIO_GVA;

	GUEST_ASSERT_EQ(q[1], HOST_VALUE);
	GUEST_DONE();
}

void guest_log_dirty(void)
{
	volatile uint8_t *b = (volatile uint8_t *)TD_MMIO_GVA;
	volatile uint64_t *q = (volatile uint64_t *)TD_MMIO_GVA;

	for (int i = 0; i < 8; i++)
		b[i] = 0xA5;
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(q[1], HOST_VALUE);
	GUEST_DONE();
}

/*
 * A load through the shared alias of the window's page, whose memslot the
 * host deletes at GUEST_SYNC: a shared GPA without a memslot is emulated MMIO,
 * so the next load takes a #VE (EPT violation at the GPA with the shared bit).
 * The load is `mov (%rdi), %rax` (3 bytes): the handler records VEINFO and
 * skips it with RAX = LOAD_SKIPPED.
 */
#define LOAD_SKIPPED	0x5EE5EE

static uint64_t load_rdi(volatile uint64_t *p)
{
	uint64_t value;

	asm volatile("mov (%%rdi), %%rax" : "=a"(value) : "D"(p) : "memory");
	return value;
}

static void ve_skip_load_handler(struct ex_regs *regs)
{
	record_veinfo();
	regs->rip += 3;
	regs->rax = LOAD_SKIPPED;
}

void guest_shared_window_gone(void)
{
	volatile uint64_t *q = (volatile uint64_t *)TD_MMIO_GVA;

	guest_install_handler(VE_VECTOR, ve_skip_load_handler);
	GUEST_ASSERT_EQ(load_rdi(&q[1]), HOST_VALUE);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(load_rdi(&q[1]), LOAD_SKIPPED);
	GUEST_ASSERT_EQ(ve.count, 1);
	GUEST_ASSERT_EQ(ve.status, TDX_SUCCESS);
	GUEST_ASSERT_EQ((uint32_t)ve.exit_reason, EXIT_REASON_EPT_VIOLATION);
	GUEST_ASSERT_EQ(ve.gpa, shared_gpa(TD_MMIO_GPA + 8));
	GUEST_DONE();
}
