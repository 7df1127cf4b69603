/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reset vector, 32-bit boot stub and 64-bit entry (docs/internals.md §4).
 *
 * A vCPU starts as a TD vCPU does: 32-bit flat protected mode, paging off,
 * EFER.LME already set (a TD cannot write EFER), RIP = 0xFFFFFFF0,
 * ESI = vCPU index.  The stub loads GDTR/IDTR, CR4, CR3 and CR0 from the
 * boot-parameter block, which turns on paging and with it long mode, and
 * far-jumps to the 64-bit entry.  That picks the per-vCPU record by ESI,
 * switches to its stack and calls entry(arg, boot RCX, boot R8); if the
 * entry returns, the value is reported to the host with UCALL_DONE.
 *
 * Everything here runs in KVM's instruction emulator on the development
 * machines, so it is kept to a few dozen instructions.
 */
#include "boot.h"

	.section .resetvec.stub, "ax"
	.code32
td_boot_stub:
	cli
	/* ESI (the vCPU index) must survive until the 64-bit entry. */
	movl	$TD_BOOT_PARAMS_GPA, %ebx
	lgdt	TD_BOOT_GDTR(%ebx)
	lidt	TD_BOOT_IDTR(%ebx)
	/* CR4.PAE and CR3 must be in place before CR0.PG activates long mode. */
	movl	TD_BOOT_CR4(%ebx), %eax
	movl	%eax, %cr4
	movl	TD_BOOT_CR3(%ebx), %eax
	movl	%eax, %cr3
	movl	TD_BOOT_CR0(%ebx), %eax
	movl	%eax, %cr0
	/* Compatibility mode now; loading the 64-bit CS enters 64-bit mode. */
	ljmp	$GDT_CODE64, $td_boot_entry64

	/* 0xFFFFFFF0: where every vCPU starts; jumps back into the stub. */
	.section .resetvec.vector, "ax"
	.code32
	.globl	td_reset_vector
td_reset_vector:
	jmp	td_boot_stub
	ud2

	.text
	.code64
	.globl	td_boot_entry64
td_boot_entry64:
	movl	%esi, %esi		/* the upper half is not defined across the mode switch */
	movl	$GDT_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs

	/* A vCPU index without a record has no stack: stop with a triple fault. */
	cmpl	td_boot_params + TD_BOOT_NR_VCPUS, %esi
	jae	1f

	movl	%esi, %eax
	imull	$TD_BOOT_VCPU_SIZE, %eax, %eax
	leaq	td_boot_params + TD_BOOT_PER_VCPU(%rax), %rbx

	movq	TD_BOOT_VCPU_STACK_TOP(%rbx), %rsp
	/* guest_vcpu_index() finds the index at the top of the stack. */
	subq	$16, %rsp
	movq	%rsi, 16 - TD_STACK_VCPU_INDEX(%rsp)
	xorl	%ebp, %ebp
	movq	TD_BOOT_VCPU_ARG(%rbx), %rdi
	/*
	 * entry(arg, RCX, R8): the registers as the vCPU started, which nothing
	 * above writes.  For a TD both are the KVM_TDX_INIT_VCPU data
	 * (TDH.VP.INIT), so a guest can report what the host gave it.
	 */
	movq	%rcx, %rsi
	movq	%r8, %rdx
	call	*TD_BOOT_VCPU_ENTRY(%rbx)

	movq	%rax, %rdi
	call	guest_returned
1:	ud2
