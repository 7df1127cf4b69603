// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of private_mem_conversions.py: conversions between private and
 * shared that leave the pages around them alone, ranges with holes, 2 MiB
 * ranges, and the same cycle run by several vCPUs at once.
 *
 * Every page holds a value that names what wrote it and where: kind | vCPU
 * << 8 | page index, so that a page that ends up in the wrong place, or
 * seen through the wrong view, shows.  private_mem_conversions.py has the
 * same kinds.
 *
 * The neighbour layout (`area`, 12 pages): A = page 0, F = pages 1..10, B =
 * page 11.  A and B are private with guest data throughout; F is what the
 * conversions work on.
 */
#include <stdint.h>

#include "boot.h"
#include "private_mem.h"
#include "tdx.h"
#include "test.h"

#define GUEST_KIND	0x6E57000000000000ULL	/* written by the guest through the private alias */
#define SHARED_KIND	0x5A00000000000000ULL	/* written by the guest through the shared alias */
#define HOST_KIND	0x4805000000000000ULL	/* written by the host into its own memory */
#define NEW_KIND	0x4E00000000000000ULL	/* written by the host after looking */
#define INIT_KIND	0x1A00000000000000ULL	/* written by the guest, shared, before any conversion */

#define NR_F		10
#define AREA_PAGES	(NR_F + 2)

static uint64_t page_value(uint64_t kind, uint64_t page)
{
	return kind | (uint64_t)guest_vcpu_index() << 8 | page;
}

static uint64_t page_gpa(uint64_t base, uint64_t page)
{
	return base + page * PAGE_SIZE;
}

static void fill_private(uint64_t area, uint64_t first, uint64_t end, uint64_t kind)
{
	for (uint64_t i = first; i < end; i++)
		fill_page(private_va(page_gpa(area, i)), page_value(kind, i));
}

#define assert_private(area, first, end, kind)					\
	do {									\
		for (uint64_t __pg = (first); __pg < (end); __pg++)		\
			assert_page(private_va(page_gpa((area), __pg)), page_value((kind), __pg)); \
	} while (0)

/* A and B still hold the guest's private data. */
#define assert_neighbours(area)							\
	do {									\
		assert_private((area), 0, 1, GUEST_KIND);			\
		assert_private((area), AREA_PAGES - 1, AREA_PAGES, GUEST_KIND); \
	} while (0)

/* MapGPA(F, shared): one exit; F then shows the host's memory, the guest writes there. */
void guest_explicit_to_shared(uint64_t area)
{
	fill_private(area, 0, AREA_PAGES, GUEST_KIND);
	map_gpa_ok(shared_gpa(page_gpa(area, 1)), NR_F * PAGE_SIZE);
	assert_neighbours(area);
	for (uint64_t i = 1; i <= NR_F; i++) {
		assert_page(shared_va(page_gpa(area, i)), page_value(HOST_KIND, i));
		fill_page(shared_va(page_gpa(area, i)), page_value(SHARED_KIND, i));
	}
	GUEST_SYNC(1);
	assert_neighbours(area);
	GUEST_DONE();
}

/*
 * F to shared and back to private: every F page must be accepted again and
 * reads 0; the neighbours keep their data; then the whole area is written
 * and read back through the private alias.
 */
void guest_explicit_round_trip(uint64_t area)
{
	fill_private(area, 0, AREA_PAGES, GUEST_KIND);
	map_gpa_ok(shared_gpa(page_gpa(area, 1)), NR_F * PAGE_SIZE);
	map_gpa_ok(page_gpa(area, 1), NR_F * PAGE_SIZE);
	assert_neighbours(area);
	for (uint64_t i = 1; i <= NR_F; i++) {
		GUEST_ASSERT_EQ(tdg_mem_page_accept(page_gpa(area, i), TDX_PS_4K), TDX_SUCCESS);
		assert_page(private_va(page_gpa(area, i)), 0);
	}
	fill_private(area, 0, AREA_PAGES, SHARED_KIND);
	assert_private(area, 0, AREA_PAGES, SHARED_KIND);
	GUEST_DONE();
}

/* A store through the shared alias of each F page: one KVM_EXIT_MEMORY_FAULT each. */
void guest_implicit_to_shared(uint64_t area)
{
	fill_private(area, 0, AREA_PAGES, GUEST_KIND);
	for (uint64_t i = 1; i <= NR_F; i++)
		shared_va(page_gpa(area, i))[1] = page_value(SHARED_KIND, i);
	assert_neighbours(area);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/*
 * F is shared: a store through the private alias of each F page faults, the
 * host converts, the page is pending: #VE, accepted, the store lands in a
 * page that is otherwise 0.
 */
void guest_implicit_to_private(uint64_t area)
{
	fill_private(area, 0, 1, GUEST_KIND);
	fill_private(area, AREA_PAGES - 1, AREA_PAGES, GUEST_KIND);
	guest_install_handler(VE_VECTOR, ve_accept_handler);
	for (uint64_t i = 1; i <= NR_F; i++) {
		volatile uint64_t *p = private_va(page_gpa(area, i));

		p[1] = page_value(GUEST_KIND, i);
		GUEST_ASSERT_EQ(ve.count, i);
		GUEST_ASSERT_EQ(ve.gpa, page_gpa(area, i) + 8);
		GUEST_ASSERT_EQ(ve.accept, TDX_SUCCESS);
		GUEST_ASSERT_EQ(p[0], 0);
		GUEST_ASSERT_EQ(p[1], page_value(GUEST_KIND, i));
		GUEST_ASSERT_EQ(p[QWORDS - 1], 0);
	}
	assert_neighbours(area);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/*
 * Holes: F private with guest data, its odd pages (F index 1, 3, ...) made
 * shared one by one.  The host looks at them and writes NEW_KIND; the guest
 * reads that on the odd pages and its own data on the even ones.
 */
void guest_holes(uint64_t area)
{
	fill_private(area, 0, AREA_PAGES, GUEST_KIND);
	for (uint64_t i = 2; i <= NR_F; i += 2)
		map_gpa_ok(shared_gpa(page_gpa(area, i)), PAGE_SIZE);
	GUEST_SYNC(1);
	for (uint64_t i = 1; i <= NR_F; i++) {
		if (i % 2 == 0)
			assert_page(shared_va(page_gpa(area, i)), page_value(NEW_KIND, i));
		else
			assert_private(area, i, i + 1, GUEST_KIND);
	}
	assert_neighbours(area);
	GUEST_DONE();
}

/* A shared page with the host's data made private: accepted, written; the host never sees it. */
void guest_shared_to_private_write(uint64_t gpa)
{
	map_gpa_ok(gpa, PAGE_SIZE);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_SUCCESS);
	assert_page(private_va(gpa), 0);
	fill_page(private_va(gpa), page_value(GUEST_KIND, 0));
	GUEST_SYNC(1);
	assert_page(private_va(gpa), page_value(GUEST_KIND, 0));
	GUEST_DONE();
}

/*
 * 2 MiB (512 pages) from `range`, both directions.  To private: pages 0,
 * 255 and 511 are accepted (each ACCEPT is an exit on the emulated platform)
 * and read 0; the host checks all 512 in its view.  To shared: the guest
 * reads every page's first qword (the host's) and writes its own.
 */
#define PAGES_2M	512

void guest_map_gpa_2m(uint64_t range)
{
	static const uint64_t sample[] = { 0, PAGES_2M / 2 - 1, PAGES_2M - 1 };

	map_gpa_ok(range, SIZE_2M);
	for (uint64_t k = 0; k < 3; k++) {
		volatile uint64_t *p = private_va(page_gpa(range, sample[k]));

		GUEST_ASSERT_EQ(tdg_mem_page_accept(page_gpa(range, sample[k]), TDX_PS_4K), TDX_SUCCESS);
		GUEST_ASSERT_EQ(p[0], 0);
		GUEST_ASSERT_EQ(p[QWORDS - 1], 0);
		p[0] = page_value(GUEST_KIND, sample[k]);
	}
	GUEST_SYNC(1);
	map_gpa_ok(shared_gpa(range), SIZE_2M);
	for (uint64_t i = 0; i < PAGES_2M; i++) {
		volatile uint64_t *s = shared_va(page_gpa(range, i));

		GUEST_ASSERT_EQ(s[0], page_value(HOST_KIND, i));
		s[0] = page_value(SHARED_KIND, i);
	}
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * One vCPU's conversion cycle over its own `pages` pages from `base` (shared
 * at first): write INIT_KIND shared, the host checks and writes NEW_KIND; to
 * private (accept, 0, write GUEST_KIND), the host checks its view is still
 * NEW_KIND; back to shared: the host's NEW_KIND is there.  Values carry the
 * vCPU index, so vCPUs that mix up their ranges show.
 */
#define CYCLE_PAGES	4

void guest_conversion_cycle(uint64_t base)
{
	for (uint64_t i = 0; i < CYCLE_PAGES; i++)
		fill_page(shared_va(page_gpa(base, i)), page_value(INIT_KIND, i));
	GUEST_SYNC(1);
	for (uint64_t i = 0; i < CYCLE_PAGES; i++)
		assert_page(shared_va(page_gpa(base, i)), page_value(NEW_KIND, i));
	map_gpa_ok(base, CYCLE_PAGES * PAGE_SIZE);
	for (uint64_t i = 0; i < CYCLE_PAGES; i++) {
		GUEST_ASSERT_EQ(tdg_mem_page_accept(page_gpa(base, i), TDX_PS_4K), TDX_SUCCESS);
		assert_page(private_va(page_gpa(base, i)), 0);
	}
	fill_private(base, 0, CYCLE_PAGES, GUEST_KIND);
	GUEST_SYNC(2);
	assert_private(base, 0, CYCLE_PAGES, GUEST_KIND);
	map_gpa_ok(shared_gpa(base), CYCLE_PAGES * PAGE_SIZE);
	for (uint64_t i = 0; i < CYCLE_PAGES; i++)
		assert_page(shared_va(page_gpa(base, i)), page_value(NEW_KIND, i));
	GUEST_DONE();
}

/*
 * MapGPA to the state a page is already in: A (private, with guest data) to
 * private and page 1 of F (shared) to shared.  Each still exits; nothing
 * changes: A keeps its data without a new ACCEPT (it says ALREADY_ACCEPTED),
 * the shared page keeps the host's.
 */
#define TDX_PAGE_ALREADY_ACCEPTED	0x00000B0A00000000ULL

void guest_map_gpa_same_state(uint64_t area)
{
	fill_private(area, 0, 1, GUEST_KIND);
	map_gpa_ok(area, PAGE_SIZE);
	assert_private(area, 0, 1, GUEST_KIND);
	GUEST_ASSERT_EQ(tdg_mem_page_accept(area, TDX_PS_4K), TDX_PAGE_ALREADY_ACCEPTED | TDX_PS_4K);
	map_gpa_ok(shared_gpa(page_gpa(area, 1)), PAGE_SIZE);
	assert_page(shared_va(page_gpa(area, 1)), page_value(HOST_KIND, 1));
	GUEST_DONE();
}

/*
 * One stage of private_mem_conversions_test's test_ranges over a 2 MiB + 4 KiB
 * area (513 pages from `area`), stage = offset page << 32 | pages: the stage
 * to private and back to shared while the pages around it stay shared.  The
 * host put INIT_KIND | page in every page's first qword.  Accepting every
 * page of a 2 MiB stage would be 512 exits on the emulated platform: the
 * first and last are accepted and used; the host checks every page.
 */
#define STAGE_AREA_PAGES	513

void guest_stage(uint64_t area)
{
	uint64_t stage = *(volatile uint64_t *)(td_boot_params.shared_gva + 0x1000);
	uint64_t first = stage >> 32, n = stage & 0xFFFFFFFF, end = first + n;
	uint64_t edge[2] = { first, end - 1 };

	for (uint64_t i = first; i < end; i++)
		shared_va(page_gpa(area, i))[0] = page_value(SHARED_KIND, i);
	map_gpa_ok(page_gpa(area, first), n * PAGE_SIZE);
	for (int k = 0; k < 2; k++) {
		volatile uint64_t *p = private_va(page_gpa(area, edge[k]));

		if (k && edge[1] == edge[0])
			break;
		GUEST_ASSERT_EQ(tdg_mem_page_accept(page_gpa(area, edge[k]), TDX_PS_4K), TDX_SUCCESS);
		GUEST_ASSERT_EQ(p[0], 0);
		p[0] = page_value(GUEST_KIND, edge[k]);
		GUEST_ASSERT_EQ(p[0], page_value(GUEST_KIND, edge[k]));
	}
	if (first)
		GUEST_ASSERT_EQ(shared_va(page_gpa(area, first - 1))[0], page_value(INIT_KIND, first - 1));
	if (end < STAGE_AREA_PAGES)
		GUEST_ASSERT_EQ(shared_va(page_gpa(area, end))[0], page_value(INIT_KIND, end));
	GUEST_SYNC(1);
	map_gpa_ok(shared_gpa(page_gpa(area, first)), n * PAGE_SIZE);
	for (uint64_t i = first; i < end; i++) {
		volatile uint64_t *s = shared_va(page_gpa(area, i));

		GUEST_ASSERT_EQ(s[0], page_value(SHARED_KIND, i));
		s[0] = page_value(NEW_KIND, i);
	}
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * Implicit conversions both ways over this vCPU's CYCLE_PAGES pages (shared
 * at first): a store through the private alias of each page (fault, #VE,
 * accept, the store lands), then through the shared alias (fault; the store
 * lands in the host's memory).
 */
void guest_implicit_cycle(uint64_t base)
{
	guest_install_handler(VE_VECTOR, ve_accept_handler);
	for (uint64_t i = 0; i < CYCLE_PAGES; i++) {
		private_va(page_gpa(base, i))[1] = page_value(GUEST_KIND, i);
		GUEST_ASSERT_EQ(ve.count, i + 1);
		GUEST_ASSERT_EQ(private_va(page_gpa(base, i))[0], 0);
	}
	for (uint64_t i = 0; i < CYCLE_PAGES; i++)
		GUEST_ASSERT_EQ(private_va(page_gpa(base, i))[1], page_value(GUEST_KIND, i));
	for (uint64_t i = 0; i < CYCLE_PAGES; i++)
		shared_va(page_gpa(base, i))[2] = page_value(SHARED_KIND, i);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/*
 * Three round trips over one page (shared at first, the host's data in it):
 * each time private it must be accepted and reads 0 whatever was written
 * the round before; each time shared it shows the host's data.
 */
void guest_round_trips(uint64_t gpa)
{
	for (uint64_t round = 0; round < 3; round++) {
		map_gpa_ok(gpa, PAGE_SIZE);
		GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_SUCCESS);
		assert_page(private_va(gpa), 0);
		fill_page(private_va(gpa), page_value(GUEST_KIND, round));
		map_gpa_ok(shared_gpa(gpa), PAGE_SIZE);
		assert_page(shared_va(gpa), page_value(HOST_KIND, 0));
	}
	GUEST_DONE();
}
