// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of ghci_io.py: TDG.VP.VMCALL<Instruction.IO> and the register
 * ABI of TDG.VP.VMCALL (docs/kvm-tdx-uapi.md §4.1, §4.6).
 *
 * Every call goes through tdcall() with every GPR loaded, so that each call
 * also checks what the TDX module and KVM must leave alone: after a
 * TDG.VP.VMCALL the module resumes the TD with RAX = TDX_SUCCESS, RCX = the
 * guest's mask, exposed GPRs from the VMM and unexposed GPRs as they were;
 * KVM's Instruction.IO writes nothing but R10 (errors) and R11 (IN data).
 * So every GPR but R10/R11 must come back unchanged, exposed or not.
 */
#include <stdint.h>

#include "boot.h"
#include "tdx.h"
#include "test.h"
#include "vmcall_check.h"

#define PORT_ECHO		0x50	/* docs/c-selftests.md §1 row 3 */
#define PORT_OUT		0x51	/* row 6 */
#define PORT_IN			0x52	/* row 7 */

#define IO_MASK			TDVMCALL_EXPOSE_R10_R15_MASK
#define MASK_NO(reg)		(IO_MASK & ~TDX_RCX_BIT(reg))
#define TDX_OPERAND_ID_RCX	1

/* R15 bits above the access size: KVM must not deliver them. */
#define GARBAGE			0x5A5A5A5A5A5A5A5AULL

/* Anchor values (rows 6 and 7); ZEXT_* the host's 8-byte pattern 0xF8..F1 read at each size. */
static const uint64_t sizes[] = { 1, 2, 4 };
static const uint64_t values[] = { 0xAB, 0xABCD, 0xFFABCDEF };
static const uint64_t zext[] = { 0xF1, 0xF2F1, 0xF4F3F2F1 };

static void io_regs(struct tdx_regs *r, uint64_t size, uint64_t direction, uint64_t port, uint64_t data)
{
	tdx_regs_ghci(r, EXIT_REASON_IO_INSTRUCTION, size, direction, port, data);
}

/* TDG.VP.VMCALL with the module's resume state checked; only R10/R11 may change. */
#define vmcall(mask, r)		tdg_vp_vmcall_checked(mask, TDVMCALL_PRESERVED_IO, r)

/* Instruction.IO with IO_MASK; returns R10, R11 in *r11. */
static uint64_t io(uint64_t size, uint64_t direction, uint64_t port, uint64_t data, uint64_t *r11)
{
	struct tdx_regs r;
	uint64_t ret;

	io_regs(&r, size, direction, port, data);
	ret = vmcall(IO_MASK, &r);
	*r11 = r.r11;
	return ret;
}

/* OUT: SUCCESS, and R11 as the guest passed it (KVM has no output for OUT). */
static void out_ok(uint64_t port, uint64_t size, uint64_t data)
{
	uint64_t r11;

	GUEST_ASSERT_EQ(io(size, IO_WRITE, port, data, &r11), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r11, EXIT_REASON_IO_INSTRUCTION);
}

/* IN: SUCCESS (R10 as passed, 0) and the value in R11. */
static uint64_t in_ok(uint64_t port, uint64_t size)
{
	uint64_t r11;

	GUEST_ASSERT_EQ(io(size, IO_READ, port, 0, &r11), TDVMCALL_STATUS_SUCCESS);
	return r11;
}

/* Refused by KVM: INVALID_OPERAND, R11 untouched; the caller then proves no exit. */
static void io_invalid(uint64_t size, uint64_t direction, uint64_t port)
{
	uint64_t r11;

	GUEST_ASSERT_EQ(io(size, direction, port, GARBAGE, &r11), TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(r11, EXIT_REASON_IO_INSTRUCTION);
}

void guest_out_sizes(void)
{
	for (int i = 0; i < 3; i++)
		out_ok(PORT_OUT, sizes[i], (GARBAGE & ~tdx_size_mask(sizes[i])) | values[i]);
	GUEST_DONE();
}

void guest_in_sizes(void)
{
	for (int i = 0; i < 3; i++)
		GUEST_ASSERT_EQ(in_ok(PORT_IN, sizes[i]), values[i]);
	GUEST_DONE();
}

/* The host fills all 8 bytes of the PIO data page: only `size` reach R11. */
void guest_in_zero_extended(void)
{
	for (int i = 0; i < 3; i++)
		GUEST_ASSERT_EQ(in_ok(PORT_IN, sizes[i]), zext[i]);
	GUEST_DONE();
}

/* Anchor row 3 at every size: the host answers the IN with the OUT value + 1. */
void guest_out_in_round_trip(void)
{
	for (int i = 0; i < 3; i++) {
		out_ok(PORT_ECHO, sizes[i], values[i]);
		GUEST_ASSERT_EQ(in_ok(PORT_ECHO, sizes[i]), (values[i] + 1) & tdx_size_mask(sizes[i]));
	}
	GUEST_DONE();
}

/* OUT 1 byte 0x5A, then IN 2 bytes (the host answers 0xA55A) at `port`. */
void guest_port(uint64_t port)
{
	out_ok(port, 1, 0x5A);
	GUEST_ASSERT_EQ(in_ok(port, 2), 0xA55A);
	GUEST_DONE();
}

/* R14 bits above 15: KVM keeps an unsigned int, the PIO emulator an unsigned short. */
void guest_port_upper_bits(void)
{
	out_ok(0x10000ULL | PORT_OUT, 1, 0xAB);
	GUEST_ASSERT_EQ(in_ok(0xABCD000000010000ULL | PORT_IN, 1), 0xAB);
	GUEST_DONE();
}

/* A size KVM refuses, OUT then IN; each followed by a report, so no exit came between. */
void guest_bad_size(uint64_t size)
{
	io_invalid(size, IO_WRITE, PORT_OUT);
	GUEST_SYNC(1);
	io_invalid(size, IO_READ, PORT_IN);
	GUEST_SYNC(2);
	GUEST_DONE();
}

void guest_bad_direction(uint64_t direction)
{
	io_invalid(1, direction, PORT_OUT);
	GUEST_SYNC(1);
	io_invalid(4, direction, PORT_IN);
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * The smallest mask for each direction (IN: R10..R14), distinct poison in
 * every unexposed GPR; vmcall() checks they all survive, also R15 on IN.
 */
void guest_unexposed_registers_preserved(void)
{
	struct tdx_regs r;

	io_regs(&r, 4, IO_WRITE, PORT_OUT, 0xFFABCDEF);
	GUEST_ASSERT_EQ(vmcall(IO_MASK, &r), TDVMCALL_STATUS_SUCCESS);
	io_regs(&r, 4, IO_READ, PORT_IN, TDX_POISON(TDX_REG_R15));
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R15), &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r11, 0xFFABCDEF);
	GUEST_DONE();
}

/* The Linux guest's mask: RDX..R9 are exposed too, and KVM returns them unchanged. */
void guest_exposed_registers_returned(void)
{
	struct tdx_regs r;

	io_regs(&r, 2, IO_WRITE, PORT_OUT, 0xABCD);
	GUEST_ASSERT_EQ(vmcall(TDVMCALL_EXPOSE_REGS_MASK, &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r11, EXIT_REASON_IO_INSTRUCTION);
	io_regs(&r, 2, IO_READ, PORT_IN, 0);
	GUEST_ASSERT_EQ(vmcall(TDVMCALL_EXPOSE_REGS_MASK, &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r11, 0xABCD);
	GUEST_DONE();
}

/* R15 (the OUT data) not exposed: the VMM must see 0, the guest keeps its R15. */
void guest_unexposed_r15(void)
{
	struct tdx_regs r;

	io_regs(&r, 4, IO_WRITE, PORT_OUT, 0xFFABCDEF);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R15), &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r15, 0xFFABCDEF);
	GUEST_DONE();
}

/* R14 (the port) not exposed: KVM sees port 0. */
void guest_unexposed_r14(void)
{
	struct tdx_regs r;

	io_regs(&r, 2, IO_WRITE, PORT_OUT, 0xABCD);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R14), &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r14, PORT_OUT);
	GUEST_DONE();
}

/* R12 (the size, a valid 4) not exposed: KVM sees size 0 and refuses it, no exit. */
void guest_unexposed_r12(void)
{
	struct tdx_regs r;

	io_regs(&r, 4, IO_WRITE, PORT_OUT, 0xFFABCDEF);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R12), &r), TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(r.r11, EXIT_REASON_IO_INSTRUCTION);
	GUEST_ASSERT_EQ(r.r12, 4);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/* R13 (the direction, OUT) not exposed: KVM sees 0, an IN, and R11 gets its data. */
void guest_unexposed_r13(void)
{
	struct tdx_regs r;

	io_regs(&r, 1, IO_WRITE, PORT_OUT, 0xAB);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R13), &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r.r11, 0xCD);
	GUEST_ASSERT_EQ(r.r13, IO_WRITE);
	GUEST_DONE();
}

/*
 * R11 (the sub-function, Instruction.IO) not exposed: KVM sees sub-function
 * 0, which it does not implement: SUBFUNC_UNSUPPORTED, no exit, R11 kept.
 */
void guest_unexposed_r11(void)
{
	struct tdx_regs r;

	io_regs(&r, 1, IO_WRITE, PORT_OUT, 0xAB);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R11), &r), TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
	GUEST_ASSERT_EQ(r.r11, EXIT_REASON_IO_INSTRUCTION);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/*
 * R10 not exposed: KVM sees 0 (the GHCI standard) whatever the guest holds,
 * and its status never reaches the guest: R10 keeps the guest's value on
 * success (an exit) and on a refused size (no exit).
 */
void guest_unexposed_r10(void)
{
	struct tdx_regs r;

	io_regs(&r, 1, IO_WRITE, PORT_OUT, 0xAB);
	r.r10 = TDX_POISON(TDX_REG_R10);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R10), &r), TDX_POISON(TDX_REG_R10));
	io_regs(&r, 5, IO_WRITE, PORT_OUT, 0xAB);
	r.r10 = TDX_POISON(TDX_REG_R10);
	GUEST_ASSERT_EQ(vmcall(MASK_NO(TDX_REG_R10), &r), TDX_POISON(TDX_REG_R10));
	GUEST_SYNC(1);
	GUEST_DONE();
}

/*
 * An RCX the TDX module refuses: TDCALL fails with TDX_OPERAND_INVALID for
 * operand RCX, no TD exit, and nothing but RAX changes.
 */
static void rcx_mask_rejected(uint64_t mask, uint64_t r10)
{
	struct tdx_regs r, in;

	io_regs(&r, 1, IO_WRITE, PORT_OUT, 0xAB);
	r.rax = TDG_VP_VMCALL;
	r.rcx = mask;
	r.r10 = r10;
	in = r;
	GUEST_ASSERT_EQ(tdcall(&r), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX);
	GUEST_ASSERT_EQ(r.rcx, in.rcx);
	GUEST_ASSERT_EQ(r.rdx, in.rdx);
	GUEST_ASSERT_EQ(r.rbx, in.rbx);
	GUEST_ASSERT_EQ(r.rbp, in.rbp);
	GUEST_ASSERT_EQ(r.rsi, in.rsi);
	GUEST_ASSERT_EQ(r.rdi, in.rdi);
	GUEST_ASSERT_EQ(r.r8, in.r8);
	GUEST_ASSERT_EQ(r.r9, in.r9);
	GUEST_ASSERT_EQ(r.r10, in.r10);
	GUEST_ASSERT_EQ(r.r11, in.r11);
	GUEST_ASSERT_EQ(r.r12, in.r12);
	GUEST_ASSERT_EQ(r.r13, in.r13);
	GUEST_ASSERT_EQ(r.r14, in.r14);
	GUEST_ASSERT_EQ(r.r15, in.r15);
}

/*
 * First a valid OUT but for the mask (had it been accepted, the host would
 * see the OUT before the report), then with R10 poisoned, which no path
 * past the module would leave alone.
 */
void guest_rcx_mask_rejected(uint64_t mask)
{
	rcx_mask_rejected(mask, TDX_HYPERCALL_STANDARD);
	GUEST_SYNC(1);
	rcx_mask_rejected(mask, TDX_POISON(TDX_REG_R10));
	GUEST_SYNC(2);
	GUEST_DONE();
}

/* RCX bits 31:16 select XMM registers: allowed, the call goes through. */
void guest_rcx_mask_xmm_bits(void)
{
	struct tdx_regs r;

	io_regs(&r, 4, IO_WRITE, PORT_OUT, 0xFFABCDEF);
	GUEST_ASSERT_EQ(vmcall(IO_MASK | 0xFFFF0000ULL, &r), TDVMCALL_STATUS_SUCCESS);
	GUEST_DONE();
}
