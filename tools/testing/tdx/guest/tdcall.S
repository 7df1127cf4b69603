/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * uint64_t tdcall(struct tdx_regs *regs)
 *
 * Loads every GPR except RSP from *regs (RAX = leaf, RCX = exposure mask for
 * TDG.VP.VMCALL), executes TDCALL and stores every GPR except RSP back, so
 * tests can check what the TDX module and the VMM preserve or leak.
 * Returns RAX.  TDCALL is emitted as bytes for assemblers without it.
 */
#define REG(i)	(8 * (i))

	.text
	.code64
	.globl	tdcall
	.type	tdcall, @function
tdcall:
	/* callee-saved registers are about to be overwritten */
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushq	%rdi			/* regs */

	movq	REG(0)(%rdi), %rax
	movq	REG(1)(%rdi), %rcx
	movq	REG(2)(%rdi), %rdx
	movq	REG(3)(%rdi), %rbx
	movq	REG(5)(%rdi), %rbp
	movq	REG(6)(%rdi), %rsi
	movq	REG(8)(%rdi), %r8
	movq	REG(9)(%rdi), %r9
	movq	REG(10)(%rdi), %r10
	movq	REG(11)(%rdi), %r11
	movq	REG(12)(%rdi), %r12
	movq	REG(13)(%rdi), %r13
	movq	REG(14)(%rdi), %r14
	movq	REG(15)(%rdi), %r15
	movq	REG(7)(%rdi), %rdi

	.byte	0x66, 0x0f, 0x01, 0xcc	/* tdcall */

	xchgq	%rdi, (%rsp)		/* rdi = regs; the output RDI waits on the stack */
	movq	%rax, REG(0)(%rdi)
	movq	%rcx, REG(1)(%rdi)
	movq	%rdx, REG(2)(%rdi)
	movq	%rbx, REG(3)(%rdi)
	movq	%rbp, REG(5)(%rdi)
	movq	%rsi, REG(6)(%rdi)
	movq	%r8, REG(8)(%rdi)
	movq	%r9, REG(9)(%rdi)
	movq	%r10, REG(10)(%rdi)
	movq	%r11, REG(11)(%rdi)
	movq	%r12, REG(12)(%rdi)
	movq	%r13, REG(13)(%rdi)
	movq	%r14, REG(14)(%rdi)
	movq	%r15, REG(15)(%rdi)
	popq	%rcx
	movq	%rcx, REG(7)(%rdi)

	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret
	.size	tdcall, . - tdcall
