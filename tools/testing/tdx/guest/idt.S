/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Interrupt/exception entry stubs, one IDT_STUB_SIZE slot per vector so
 * that tdx.lib.paging can point gate v at idt_stubs + v * IDT_STUB_SIZE.
 * Each stub pushes a dummy error code when the CPU pushes none, then the
 * vector, and joins idt_common, which saves the GPRs as struct ex_regs
 * (exceptions.h) and calls guest_exception_common().
 *
 * #UD is special: a VMX host raises #UD for TDCALL in a plain VM, and the
 * emulated TDX platform needs to execute that TDCALL.  The #UD stub checks
 * for the TDCALL bytes 66 0f 01 cc at the faulting RIP and, if found, rings
 * the doorbell (OUT to TDCALL_DOORBELL_PORT) with every GPR exactly as at the
 * TDCALL, so the host reads and writes them as the TDCALL's registers, and
 * resumes after the TDCALL.
 */
#include "boot.h"
#include "exceptions.h"
#include "tdx.h"

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || \
			   (v) == 29 || (v) == 30)

	.text
	.code64
	.balign	IDT_STUB_SIZE
	.globl	idt_stubs
idt_stubs:
	vector = 0
	.rept	IDT_NR_VECTORS
	.balign	IDT_STUB_SIZE
	.if vector == UD_VECTOR
	jmp	ud_stub
	.else
	.if HAS_ERROR_CODE(vector) == 0
	pushq	$0
	.endif
	pushq	$vector
	jmp	idt_common
	.endif
	vector = vector + 1
	.endr
	.balign	IDT_STUB_SIZE
	.globl	idt_stubs_end
idt_stubs_end:

ud_stub:
	pushq	%rax
	movq	8(%rsp), %rax		/* faulting RIP */
	/* Byte by byte: a 4-byte read could cross into an unmapped page. */
	cmpb	$0x66, (%rax)
	jne	1f
	cmpb	$0x0f, 1(%rax)
	jne	1f
	cmpb	$0x01, 2(%rax)
	jne	1f
	cmpb	$0xcc, 3(%rax)
	jne	1f
	popq	%rax
	outb	%al, $TDCALL_DOORBELL_PORT
	addq	$4, (%rsp)		/* the TDCALL is 4 bytes long */
	iretq
1:	popq	%rax
	pushq	$0
	pushq	$UD_VECTOR
	jmp	idt_common

idt_common:
	pushq	%r15
	pushq	%r14
	pushq	%r13
	pushq	%r12
	pushq	%r11
	pushq	%r10
	pushq	%r9
	pushq	%r8
	pushq	%rdi
	pushq	%rsi
	pushq	%rbp
	pushq	%rbx
	pushq	%rdx
	pushq	%rcx
	pushq	%rax
	cld
	/* The CPU aligned RSP to 16 before its 5-word frame; + 2 + 15 words keeps it aligned. */
	movq	%rsp, %rdi
	call	guest_exception_common
	popq	%rax
	popq	%rcx
	popq	%rdx
	popq	%rbx
	popq	%rbp
	popq	%rsi
	popq	%rdi
	popq	%r8
	popq	%r9
	popq	%r10
	popq	%r11
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
	addq	$16, %rsp		/* vector and error code */
	iretq
