// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of ghci_mmio.py: TDG.VP.VMCALL<#VE.RequestMMIO>
 * (docs/kvm-tdx-uapi.md §4.14, §3.2, §3.3).
 *
 * The request carries a GPA, not an address the guest maps: any GPA with the
 * shared bit names emulated MMIO.  Every call goes through tdcall() with
 * every GPR loaded and checks that nothing but R10 (errors) and R11 (read
 * data) changed, exposed or not.
 */
#include <stdint.h>

#include "boot.h"
#include "tdx.h"
#include "test.h"
#include "vmcall_check.h"

#define MMIO_GPA		0x200000000ULL	/* docs/c-selftests.md §1 rows 11, 12: no memslot */
#define MMIO_MASK		TDVMCALL_EXPOSE_R10_R15_MASK
#define MASK_NO(reg)		(MMIO_MASK & ~TDX_RCX_BIT(reg))

#define GARBAGE			0x5A5A5A5A5A5A5A5AULL	/* R15 bits above the access size */

static const uint64_t sizes[] = { 1, 2, 4, 8 };
static const uint64_t values[] = { 0x12, 0x1234, 0x12345678, 0x1234567890ABCDEFULL };
/* The host's 8-byte pattern 0xF8..F1 read at each size. */
static const uint64_t zext[] = { 0xF1, 0xF2F1, 0xF4F3F2F1, 0xF8F7F6F5F4F3F2F1ULL };
/* Sizes KVM refuses: (1 << 32) is 0 once KVM has it in an int. */
static const uint64_t bad_sizes[] = { 0, 3, 5, 7, 9, 10, 16, 1ULL << 32 };

static uint64_t shared(uint64_t gpa)
{
	return gpa | td_boot_params.shared_bit;
}

static void mmio_regs(struct tdx_regs *r, uint64_t size, uint64_t direction, uint64_t gpa, uint64_t data)
{
	tdx_regs_ghci(r, EXIT_REASON_EPT_VIOLATION, size, direction, gpa, data);
}

/* TDG.VP.VMCALL with the module's resume state checked; only R10/R11 may change. */
#define vmcall(mask, r)		tdg_vp_vmcall_checked(mask, TDVMCALL_PRESERVED_IO, r)

static uint64_t mmio(uint64_t size, uint64_t direction, uint64_t gpa, uint64_t data, uint64_t *r11)
{
	struct tdx_regs r;
	uint64_t ret;

	mmio_regs(&r, size, direction, gpa, data);
	ret = vmcall(MMIO_MASK, &r);
	*r11 = r.r11;
	return ret;
}

/* A read: SUCCESS (R10 as passed, 0) and the data in R11. */
static uint64_t read_ok(uint64_t gpa, uint64_t size)
{
	uint64_t r11;

	GUEST_ASSERT_EQ(mmio(size, MMIO_READ, gpa, GARBAGE, &r11), TDVMCALL_STATUS_SUCCESS);
	return r11;
}

/* A write: SUCCESS and R11 as the guest passed it (KVM has no output for writes). */
static void write_ok(uint64_t gpa, uint64_t size, uint64_t data)
{
	uint64_t r11;

	GUEST_ASSERT_EQ(mmio(size, MMIO_WRITE, gpa, data, &r11), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r11, EXIT_REASON_EPT_VIOLATION);
}

/* Refused by KVM: INVALID_OPERAND, R11 untouched; the caller then proves no exit. */
static void mmio_invalid(uint64_t size, uint64_t direction, uint64_t gpa)
{
	uint64_t r11;

	GUEST_ASSERT_EQ(mmio(size, direction, gpa, GARBAGE, &r11), TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(r11, EXIT_REASON_EPT_VIOLATION);
}

void guest_read_sizes(void)
{
	for (int i = 0; i < 4; i++)
		GUEST_ASSERT_EQ(read_ok(shared(MMIO_GPA), sizes[i]), values[i]);
	GUEST_DONE();
}

void guest_write_sizes(void)
{
	for (int i = 0; i < 4; i++)
		write_ok(shared(MMIO_GPA), sizes[i], (GARBAGE & ~tdx_size_mask(sizes[i])) | values[i]);
	GUEST_DONE();
}

/* The host fills all 8 bytes of mmio.data: only `size` reach R11. */
void guest_read_zero_extended(void)
{
	for (int i = 0; i < 4; i++)
		GUEST_ASSERT_EQ(read_ok(shared(MMIO_GPA), sizes[i]), zext[i]);
	GUEST_DONE();
}

/* KVM checks neither alignment nor page boundaries, only the shared bit. */
void guest_unaligned_page_crossing(void)
{
	GUEST_ASSERT_EQ(read_ok(shared(MMIO_GPA + 0xFFC), 8), values[3]);
	write_ok(shared(MMIO_GPA + 0x1FFF), 2, values[1]);
	GUEST_DONE();
}

/*
 * A shared GPA inside a memslot (the shared test area): KVM does not look
 * for RAM, the request still goes to userspace and memory is not touched.
 */
void guest_ram_gpa(uint64_t gpa)
{
	write_ok(shared(gpa), 8, values[3]);
	GUEST_ASSERT_EQ(read_ok(shared(gpa), 8), ~values[3]);
	GUEST_DONE();
}

/* The last bytes below the shared bit's carry: GPA + size - 1 is still shared. */
void guest_last_shared_bytes(void)
{
	uint64_t top = td_boot_params.shared_bit << 1;

	for (int i = 0; i < 4; i++)
		GUEST_ASSERT_EQ(read_ok(top - sizes[i], sizes[i]), values[i]);
	GUEST_DONE();
}

void guest_bad_sizes(uint64_t direction)
{
	for (int i = 0; i < (int)(sizeof(bad_sizes) / sizeof(bad_sizes[0])); i++) {
		mmio_invalid(bad_sizes[i], direction, shared(MMIO_GPA));
		GUEST_SYNC(i + 1);
	}
	GUEST_DONE();
}

void guest_bad_direction(uint64_t direction)
{
	mmio_invalid(4, direction, shared(MMIO_GPA));
	GUEST_SYNC(1);
	mmio_invalid(8, direction, shared(MMIO_GPA));
	GUEST_SYNC(2);
	GUEST_DONE();
}

/* KVM reads R12 into an int: bits 63:32 of the size do not count. */
void guest_size_upper_bits(void)
{
	GUEST_ASSERT_EQ(read_ok(shared(MMIO_GPA), (1ULL << 32) | 4), values[2]);
	write_ok(shared(MMIO_GPA), 0xFFFFFFFF00000008ULL, values[3]);
	GUEST_DONE();
}

/* KVM reads R13 into an int: (1 << 32) | 1 writes, 1 << 32 reads. */
void guest_direction_upper_bits(void)
{
	uint64_t r11;

	GUEST_ASSERT_EQ(mmio(4, (1ULL << 32) | MMIO_WRITE, shared(MMIO_GPA), values[2], &r11),
			TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r11, EXIT_REASON_EPT_VIOLATION);
	GUEST_ASSERT_EQ(mmio(4, (1ULL << 32) | MMIO_READ, shared(MMIO_GPA), 0, &r11),
			TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r11, values[2]);
	GUEST_DONE();
}

/*
 * Private GPAs: the anchors' MMIO GPA without the shared bit, private RAM
 * (this image), a GPA with a bit above the shared bit but not the shared bit
 * itself, and one whose last byte (not its first) reaches the shared bit.
 */
void guest_private_gpa(uint64_t direction)
{
	uint64_t gpas[] = { MMIO_GPA, TD_ELF_GPA, (td_boot_params.shared_bit << 1) | MMIO_GPA,
			    td_boot_params.shared_bit - 4 };

	for (int i = 0; i < 4; i++) {
		mmio_invalid(8, direction, gpas[i]);
		GUEST_SYNC(i + 1);
	}
	GUEST_DONE();
}

/*
 * GPA has the shared bit, GPA + size - 1 does not: the shared bit is the top
 * GPA bit, so the only way across is the carry out of it.
 */
void guest_crossing_into_private(uint64_t direction)
{
	uint64_t top = td_boot_params.shared_bit << 1;

	for (int i = 1; i < 4; i++) {
		uint64_t gpa = top - sizes[i] + 1;

		GUEST_ASSERT(gpa & td_boot_params.shared_bit);			/* first byte shared */
		GUEST_ASSERT(!((gpa + sizes[i] - 1) & td_boot_params.shared_bit));	/* last one private */
		mmio_invalid(sizes[i], direction, gpa);
		GUEST_SYNC(i);
	}
	GUEST_DONE();
}

/* R14 (the shared GPA) not exposed: KVM sees GPA 0, a private GPA, no exit. */
void guest_unexposed_r14(void)
{
	struct tdx_regs r;

	mmio_regs(&r, 4, MMIO_READ, shared(MMIO_GPA), 0);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R14), &r), TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(r.r11, EXIT_REASON_EPT_VIOLATION);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/* R15 (the write data) not exposed: the VMM must see 0, the guest keeps its R15. */
void guest_unexposed_r15(void)
{
	struct tdx_regs r;

	mmio_regs(&r, 8, MMIO_WRITE, shared(MMIO_GPA), values[3]);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R15), &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r15, values[3]);
	GUEST_DONE();
}

/* The smallest masks (a read needs R10..R14), poison in every unexposed GPR. */
void guest_unexposed_registers_preserved(void)
{
	struct tdx_regs r;

	mmio_regs(&r, 8, MMIO_WRITE, shared(MMIO_GPA), values[3]);
	GUEST_ASSERT_EQ(vmcall(MMIO_MASK, &r), TDVMCALL_STATUS_SUCCESS);
	mmio_regs(&r, 8, MMIO_READ, shared(MMIO_GPA), TDX_POISON(TDX_REG_R15));
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R15), &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r11, values[3]);
	GUEST_DONE();
}
