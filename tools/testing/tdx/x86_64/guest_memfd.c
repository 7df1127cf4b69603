// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of guest_memfd.py: what a TD sees when the host works on the
 * guest_memfd behind its private memory (fallocate(PUNCH_HOLE)), and the
 * in-place conversion cases where a kernel offers them.
 *
 * The pages used are at TD_MMIO_GPA, where the host adds a guest_memfd
 * memslot: private through TD_MMIO_PRIVATE_GVA, shared through TD_MMIO_GVA.
 */
#include <stdint.h>

#include "boot.h"
#include "private_mem.h"
#include "tdx.h"
#include "test.h"

/* Patterns; guest_memfd.py has the same values. */
#define VALUE_A		0xA1A1A1A1A1A1A1A1ULL
#define VALUE_B		0xB2B2B2B2B2B2B2B2ULL
#define VALUE_C		0xC3C3C3C3C3C3C3C3ULL
#define HOST_VALUE	0xABCDABCDABCDABCDULL

static volatile uint64_t *window_private(int page)
{
	return (volatile uint64_t *)(TD_MMIO_PRIVATE_GVA + page * PAGE_SIZE);
}

static volatile uint64_t *window_shared(int page)
{
	return (volatile uint64_t *)(TD_MMIO_GVA + page * PAGE_SIZE);
}

void guest_done(void)
{
	GUEST_DONE();
}

/* Accept the window's first two pages and write a value into each. */
static void accept_and_write_two(volatile uint64_t *p0, volatile uint64_t *p1)
{
	guest_install_handler(VE_VECTOR, ve_accept_handler);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(TD_MMIO_GPA, TDX_PS_4K), TDX_SUCCESS);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(TD_MMIO_GPA + PAGE_SIZE, TDX_PS_4K), TDX_SUCCESS);
	p0[1] = VALUE_A;
	p1[1] = VALUE_B;
}

/*
 * Two private pages of the window, accepted and written; the host punches a
 * hole over the first.  Loading it again finds a page KVM must fault in
 * afresh: pending, so #VE, the handler accepts, the load reads 0.  The second
 * page keeps its data.
 */
void guest_punched_page(void)
{
	volatile uint64_t *p0 = window_private(0), *p1 = window_private(1);
	uint64_t value;

	accept_and_write_two(p0, p1);
	GUEST_SYNC(1);
	value = p0[1];
	assert_one_ve(TD_MMIO_GPA + 8, 0);
	GUEST_ASSERT_EQ(value, 0);
	GUEST_ASSERT_EQ(p1[1], VALUE_B);
	p0[1] = VALUE_C;
	GUEST_ASSERT_EQ(p0[1], VALUE_C);
	GUEST_ASSERT_EQ(p0[0], 0);
	GUEST_DONE();
}

/*
 * Two private pages accepted and written; the host allocates (KEEP_SIZE, no
 * PUNCH_HOLE) over both.  Allocation adds pages only where the file has
 * none, so the TD keeps both pages and their data: no #VE.
 */
void guest_allocated_pages_kept(void)
{
	volatile uint64_t *p0 = window_private(0), *p1 = window_private(1);

	accept_and_write_two(p0, p1);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(p0[1], VALUE_A);
	GUEST_ASSERT_EQ(p1[1], VALUE_B);
	GUEST_ASSERT_EQ(ve.count, 0);
	GUEST_DONE();
}

/*
 * Four private pages accepted and written; the host punches the whole file:
 * every page is pending again (#VE each, 0); written again, then the host
 * punches page 2 only: that page alone is pending and 0.
 */
#define PUNCH_PAGES	4

void guest_punched_file(void)
{
	guest_install_handler(VE_VECTOR, ve_accept_handler);
	for (int i = 0; i < PUNCH_PAGES; i++) {
		GUEST_ASSERT_EQ(tdg_mem_page_accept(TD_MMIO_GPA + i * PAGE_SIZE, TDX_PS_4K), TDX_SUCCESS);
		window_private(i)[0] = VALUE_A + i;
	}
	GUEST_SYNC(1);
	for (int i = 0; i < PUNCH_PAGES; i++) {
		GUEST_ASSERT_EQ(window_private(i)[0], 0);
		GUEST_ASSERT_EQ(ve.count, i + 1);
		GUEST_ASSERT_EQ(ve.gpa, TD_MMIO_GPA + i * PAGE_SIZE);
		window_private(i)[0] = VALUE_B + i;
	}
	GUEST_SYNC(2);
	for (int i = 0; i < PUNCH_PAGES; i++)
		GUEST_ASSERT_EQ(window_private(i)[0], i == 2 ? 0 : VALUE_B + i);
	GUEST_ASSERT_EQ(ve.count, PUNCH_PAGES + 1);
	GUEST_DONE();
}

/* A shared page of the window: the host's data, before and after a hole is punched. */
void guest_shared_window_read(void)
{
	GUEST_ASSERT_EQ(window_shared(0)[1], HOST_VALUE);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(window_shared(0)[1], HOST_VALUE);
	GUEST_DONE();
}

/* Accept a private page of the window and use it. */
void guest_use_window(void)
{
	GUEST_ASSERT_EQ(tdg_mem_page_accept(TD_MMIO_GPA, TDX_PS_4K), TDX_SUCCESS);
	window_private(0)[0] = VALUE_A;
	GUEST_ASSERT_EQ(window_private(0)[0], VALUE_A);
	GUEST_DONE();
}

/* -- in-place conversion (a guest_memfd that also holds the shared pages) -- */

/* The shared page holds what the host wrote through its mapping of the guest_memfd. */
void guest_in_place_read_shared(void)
{
	GUEST_ASSERT_EQ(window_shared(0)[1], HOST_VALUE);
	window_shared(0)[2] = VALUE_B;
	GUEST_DONE();
}

/*
 * A private page with guest data, made shared with MapGPA: the host reads 0
 * through its mapping (GUEST_SYNC), and so does the guest through the shared alias.
 */
void guest_in_place_private_to_shared(void)
{
	GUEST_ASSERT_EQ(tdg_mem_page_accept(TD_MMIO_GPA, TDX_PS_4K), TDX_SUCCESS);
	window_private(0)[1] = VALUE_A;
	map_gpa_ok(shared_gpa(TD_MMIO_GPA), PAGE_SIZE);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(window_shared(0)[1], 0);
	GUEST_DONE();
}
