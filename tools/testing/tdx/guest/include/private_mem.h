/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private and shared memory from the guest's side: the two aliases of a
 * shared-area page, page-sized fills and checks, and a #VE handler that
 * accepts the page of an EPT violation the way a TD's handler for a pending
 * page does (docs/c-selftests.md §5, implicit test).
 *
 * Pages of the shared area are mapped identity (GVA = GPA, shared bit clear:
 * the private alias) and at td_boot_params.shared_gva with the shared bit (the
 * shared alias), so a guest reaches either view without changing its page
 * tables (docs/c-selftests.md §5, "dual mapping").  Header-only: each image
 * that includes it gets its own #VE record.
 */
#ifndef TDX_GUEST_PRIVATE_MEM_H
#define TDX_GUEST_PRIVATE_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "exceptions.h"
#include "tdx.h"
#include "test.h"

#define PAGE_SIZE	4096ULL
#define QWORDS		(PAGE_SIZE / 8)
#define SIZE_2M		(2ULL << 20)

/* The MMIO window, where the host adds memslots of its own: both aliases are mapped. */
static inline int in_window(uint64_t gpa)
{
	return gpa >= TD_MMIO_GPA && gpa < TD_MMIO_GPA + TD_MMIO_SIZE;
}

/* The private alias of a page of low memory or of the window. */
static inline volatile uint64_t *private_va(uint64_t gpa)
{
	if (in_window(gpa))
		return (volatile uint64_t *)(TD_MMIO_PRIVATE_GVA + gpa - TD_MMIO_GPA);
	return (volatile uint64_t *)gpa;
}

/* The shared alias of a page of the shared area or of the window. */
static inline volatile uint64_t *shared_va(uint64_t gpa)
{
	if (in_window(gpa))
		return (volatile uint64_t *)(TD_MMIO_GVA + gpa - TD_MMIO_GPA);
	return (volatile uint64_t *)(td_boot_params.shared_gva + gpa - td_boot_params.shared_gpa);
}

static inline uint64_t shared_gpa(uint64_t gpa)
{
	return gpa | td_boot_params.shared_bit;
}

/* Macros rather than functions, so that a failed assertion names the caller's line. */
#define assert_page(p, value)							\
	do {									\
		volatile uint64_t *__p = (p);					\
		for (uint64_t __i = 0; __i < QWORDS; __i++)			\
			GUEST_ASSERT_EQ(__p[__i], (value));			\
	} while (0)

static inline void fill_page(volatile uint64_t *p, uint64_t value)
{
	for (uint64_t i = 0; i < QWORDS; i++)
		p[i] = value;
}

/* KVM writes R11 only on errors: on success the guest gets its own R11 (the leaf) back. */
#define map_gpa_ok(gpa, size)							\
	do {									\
		uint64_t __r11 = 0;						\
		GUEST_ASSERT_EQ(tdg_vp_vmcall_map_gpa((gpa), (size), &__r11),	\
				TDVMCALL_STATUS_SUCCESS);			\
		GUEST_ASSERT_EQ(__r11, TDVMCALL_MAP_GPA);			\
	} while (0)

/* An error leaves no exit; R11 = the GPA the guest passed (R12) or where KVM stopped. */
#define map_gpa_fails(gpa, size, status, r11_want)				\
	do {									\
		uint64_t __r11 = 0;						\
		GUEST_ASSERT_EQ(tdg_vp_vmcall_map_gpa((gpa), (size), &__r11), (status)); \
		GUEST_ASSERT_EQ(__r11, (r11_want));				\
	} while (0)

/*
 * What the last #VEs of this vCPU were (TDG.VP.VEINFO.GET), written by the
 * handler behind the compiler's back; the test code asserts on it afterwards.
 * One record per vCPU: vCPUs take #VEs at the same time.
 */
static volatile struct ve_record {
	uint64_t count, status, exit_reason, qualification, gpa, accept;
} ve_records[TD_MAX_VCPUS] __attribute__((unused));

#define ve	(ve_records[guest_vcpu_index()])

/* Count this #VE and record its VEINFO in this vCPU's record. */
static inline void record_veinfo(void)
{
	uint64_t reason, qual, gla, gpa;

	ve.count++;
	ve.status = tdg_vp_veinfo_get(&reason, &qual, &gla, &gpa, NULL, NULL);
	ve.exit_reason = reason;
	ve.qualification = qual;
	ve.gpa = gpa;
}

static inline void ve_accept_handler(struct ex_regs *regs)
{
	record_veinfo();
	if (ve.status == TDX_SUCCESS && (uint32_t)ve.exit_reason == EXIT_REASON_EPT_VIOLATION)
		ve.accept = tdg_mem_page_accept(ve.gpa & ~(PAGE_SIZE - 1), TDX_PS_4K);
}

/* One EPT-violation #VE for `gpa`, a read (qualification bit 0) or write (bit 1), accepted. */
#define assert_one_ve(want_gpa, write)						\
	do {									\
		GUEST_ASSERT_EQ(ve.count, 1);					\
		GUEST_ASSERT_EQ(ve.status, TDX_SUCCESS);			\
		GUEST_ASSERT_EQ((uint32_t)ve.exit_reason, EXIT_REASON_EPT_VIOLATION); \
		GUEST_ASSERT_EQ(ve.gpa, (want_gpa));				\
		GUEST_ASSERT_EQ(ve.qualification & 3, (write) ? 2 : 1);	\
		GUEST_ASSERT_EQ(ve.accept, TDX_SUCCESS);			\
	} while (0)

#endif /* TDX_GUEST_PRIVATE_MEM_H */
