/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The boot-parameter block and the fixed guest layout (docs/internals.md §4).
 *
 * tdx.lib.boot writes struct td_boot_params at TD_BOOT_PARAMS_GPA; the 32-bit
 * stub in boot.S reads it with paging off, so every address the stub uses
 * must fit in 32 bits.  The TD_BOOT_* offsets are used by the assembly and
 * mirrored by tdx.lib.boot; tests/test_boot.py compares both with this file.
 */
#ifndef TDX_GUEST_BOOT_H
#define TDX_GUEST_BOOT_H

#define TD_BOOT_PARAMS_GPA	0xFF000		/* right below the ELF; GDT, IDT, TSS below it */
#define TD_STACKS_TOP		0xFC000		/* vCPU i's stack ends at TD_STACKS_TOP - i * TD_STACK_SIZE */
#define TD_STACK_SIZE		0x4000		/* per vCPU; stack tops are TD_STACK_SIZE aligned */
#define TD_MAX_VCPUS		48		/* stacks down to 0x3C000, page tables below them */
#define TD_ELF_GPA		0x100000
#define TD_SHARED_GVA		0x40000000
#define TD_MMIO_GVA		0xC0000000	/* 2 MiB mapped to the unbacked GPA TD_MMIO_GPA | shared bit */
#define TD_MMIO_GPA		0xC0000000
#define TD_MMIO_SIZE		0x200000
#define TD_MMIO_PRIVATE_GVA	0xC0200000	/* the same 2 MiB of GPAs, private alias (no shared bit) */
#define TD_RESETVEC_GPA		0xFFFFF000

#define TD_BOOT_FLAVOUR_VM	0		/* plain VM: port I/O with IN/OUT */
#define TD_BOOT_FLAVOUR_TD	1		/* TD: port I/O with TDG.VP.VMCALL */

/* GDT selectors (tdx.lib.paging builds the GDT). */
#define GDT_CODE64		0x08
#define GDT_DATA		0x10
#define GDT_TSS			0x18		/* 16-byte system descriptor */
#define GDT_USER_CODE64		0x2b
#define GDT_USER_DATA		0x33

/* struct td_boot_params offsets */
#define TD_BOOT_CR0		0
#define TD_BOOT_CR3		4
#define TD_BOOT_CR4		8
#define TD_BOOT_GDTR		12
#define TD_BOOT_IDTR		18
#define TD_BOOT_FLAVOUR		24
#define TD_BOOT_NR_VCPUS	28
#define TD_BOOT_SHARED_BIT	32
#define TD_BOOT_UCALL_GVA	40
#define TD_BOOT_SHARED_GVA	48
#define TD_BOOT_SHARED_GPA	56
#define TD_BOOT_SHARED_SIZE	64
#define TD_BOOT_PER_VCPU	80
/* struct td_boot_vcpu offsets */
#define TD_BOOT_VCPU_STACK_TOP	0
#define TD_BOOT_VCPU_ENTRY	8
#define TD_BOOT_VCPU_ARG	16
#define TD_BOOT_VCPU_SIZE	24

/* The vCPU index is kept in the top 8 bytes of the vCPU's stack. */
#define TD_STACK_VCPU_INDEX	8

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Loaded by lgdt/lidt in 32-bit mode: a 16-bit limit and a 32-bit base. */
struct td_boot_dtr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

struct td_boot_vcpu {
	uint64_t stack_top;
	uint64_t entry;		/* uint64_t entry(uint64_t arg, uint64_t rcx, uint64_t r8): boot.S */
	uint64_t arg;
};

struct td_boot_params {
	uint32_t cr0;
	uint32_t cr3;
	uint32_t cr4;
	struct td_boot_dtr gdtr;
	struct td_boot_dtr idtr;
	uint32_t flavour;
	uint32_t nr_vcpus;
	uint64_t shared_bit;	/* GPA bit that marks shared memory; 0 on a plain VM */
	uint64_t ucall_gva;	/* ucall slots, one per vCPU (ucall.h) */
	uint64_t shared_gva;	/* shared test area, ucall page first */
	uint64_t shared_gpa;	/* without the shared bit */
	uint64_t shared_size;
	uint64_t reserved;
	struct td_boot_vcpu per_vcpu[];
};

/* Defined by guest.ld at TD_BOOT_PARAMS_GPA (a symbol avoids -Warray-bounds on a cast constant). */
extern const struct td_boot_params td_boot_params;

/* Index of the running vCPU (ESI at reset), stored at the top of its stack by boot.S. */
static inline uint32_t guest_vcpu_index(void)
{
	uint64_t rsp;

	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	return *(volatile uint32_t *)((rsp | (TD_STACK_SIZE - 1)) + 1 - TD_STACK_VCPU_INDEX);
}
#endif /* __ASSEMBLER__ */

#endif /* TDX_GUEST_BOOT_H */
