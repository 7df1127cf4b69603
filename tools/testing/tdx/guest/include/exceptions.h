/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest exception handling.  idt.S saves every GPR into struct ex_regs and
 * calls guest_exception_common(); a handler installed for the vector runs
 * and may change the frame (e.g. rip) before returning, which resumes the
 * guest with iretq.  Without a handler the exception is reported to the
 * host with UCALL_EXCEPTION.
 */
#ifndef TDX_GUEST_EXCEPTIONS_H
#define TDX_GUEST_EXCEPTIONS_H

#define IDT_NR_VECTORS		256
#define IDT_STUB_SIZE		16	/* vector v's stub is at idt_stubs + v * IDT_STUB_SIZE */

#define DE_VECTOR		0
#define DB_VECTOR		1
#define BP_VECTOR		3
#define UD_VECTOR		6
#define DF_VECTOR		8
#define GP_VECTOR		13
#define PF_VECTOR		14
#define VE_VECTOR		20

/* struct ex_regs offsets, for idt.S */
#define EX_REGS_VECTOR		120
#define EX_REGS_NR_GPRS		15

#ifndef __ASSEMBLER__
#include <stdint.h>

struct ex_regs {
	uint64_t rax, rcx, rdx, rbx, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t vector;
	uint64_t error_code;
	/* pushed by the CPU */
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};

_Static_assert(__builtin_offsetof(struct ex_regs, vector) == EX_REGS_VECTOR, "ex_regs layout");

typedef void (*guest_handler_t)(struct ex_regs *regs);

void guest_install_handler(int vector, guest_handler_t handler);
void guest_exception_common(struct ex_regs *regs);
#endif /* __ASSEMBLER__ */

#endif /* TDX_GUEST_EXCEPTIONS_H */
