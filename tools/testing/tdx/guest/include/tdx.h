/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * TD guest-host communication interface (GHCI): TDCALL and TDG.VP.VMCALL.
 *
 * Constants carry the kernel's names (tdx.lib.ghci uses the same names and
 * values; tests/test_boot.py checks); values from docs/kvm-tdx-uapi.md
 * §4 and §6.  Every tdg_vp_vmcall_*() wrapper exposes
 * TDVMCALL_EXPOSE_R10_R15_MASK, the registers the GHCI defines for the call;
 * tdg_vp_vmcall() takes any mask.  Each returns R10 (the GHCI status) and
 * its outputs through pointers, which may be NULL.
 */
#ifndef TDX_GUEST_TDX_H
#define TDX_GUEST_TDX_H

/*
 * On a VMX host TDCALL in a plain VM raises #UD; the runtime's #UD handler
 * forwards a TDCALL to the emulated platform by an OUT (AL) to this port
 * with every GPR as at the TDCALL, then resumes after it (idt.S).
 */
#define TDCALL_DOORBELL_PORT			0xE4

/* TDCALL leaves (RAX) */
#define TDG_VP_VMCALL				0
#define TDG_VP_INFO				1
#define TDG_VP_VEINFO_GET			3
#define TDG_MEM_PAGE_ACCEPT			6

/* TDX module completion status (RAX after TDCALL) */
#define TDX_SUCCESS				0x0000000000000000ULL
#define TDX_OPERAND_INVALID			0xC000010000000000ULL

/* TDG.VP.VMCALL: R10 = 0 selects the GHCI standard; R11 = sub-function */
#define TDX_HYPERCALL_STANDARD			0

#define EXIT_REASON_CPUID			10
#define EXIT_REASON_HLT				12
#define EXIT_REASON_IO_INSTRUCTION		30
#define EXIT_REASON_MSR_READ			31
#define EXIT_REASON_MSR_WRITE			32
#define EXIT_REASON_EPT_VIOLATION		48	/* #VE.RequestMMIO */

#define TDVMCALL_GET_TD_VM_CALL_INFO		0x10000
#define TDVMCALL_MAP_GPA			0x10001
#define TDVMCALL_GET_QUOTE			0x10002
#define TDVMCALL_REPORT_FATAL_ERROR		0x10003
#define TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT	0x10004

/* TDG.VP.VMCALL status codes (R10) */
#define TDVMCALL_STATUS_SUCCESS			0x0000000000000000ULL
#define TDVMCALL_STATUS_RETRY			0x0000000000000001ULL
#define TDVMCALL_STATUS_INVALID_OPERAND		0x8000000000000000ULL
#define TDVMCALL_STATUS_GPA_INUSE		0x8000000000000001ULL
#define TDVMCALL_STATUS_ALIGN_ERROR		0x8000000000000002ULL
#define TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED	0x8000000000000003ULL
#define TDVMCALL_SUCCESS			TDVMCALL_STATUS_SUCCESS	/* short form used by the guest sources */

/*
 * GetQuote buffer (shared memory; the Linux guest's struct tdx_quote_buf,
 * drivers/virt/coco/tdx-guest/tdx-guest.c): a 24-byte header, then the
 * TDREPORT going in and the quote coming back.  The TD writes version,
 * in_len and the report with status 0; the VMM sets IN_FLIGHT while it
 * works, then out_len, the quote, and the final status.
 */
#define TDX_QUOTE_VERSION			1
#define TDX_REPORT_LEN				1024
#define TDX_QUOTE_STATUS_SUCCESS		0x0000000000000000ULL
#define TDX_QUOTE_STATUS_IN_FLIGHT		0xFFFFFFFFFFFFFFFFULL
#define TDX_QUOTE_STATUS_ERROR			0x8000000000000000ULL

/* ReportFatalError: bit 63 of the error code says R13 holds a GPA */
#define TDX_REPORT_FATAL_ERROR_GPA_VALID	(1ULL << 63)

/* RCX for TDG.VP.VMCALL: bit i exposes GPR i (x86 encoding order) to the VMM */
#define TDX_RCX_BIT(reg)			(1ULL << (reg))
#define TDX_REG_RAX	0
#define TDX_REG_RCX	1
#define TDX_REG_RDX	2
#define TDX_REG_RBX	3
#define TDX_REG_RSP	4
#define TDX_REG_RBP	5
#define TDX_REG_RSI	6
#define TDX_REG_RDI	7
#define TDX_REG_R8	8
#define TDX_REG_R9	9
#define TDX_REG_R10	10
#define TDX_REG_R11	11
#define TDX_REG_R12	12
#define TDX_REG_R13	13
#define TDX_REG_R14	14
#define TDX_REG_R15	15
/* What the Linux guest exposes: RDX, RBX, RSI, RDI, R8-R15 (kernel name and value) */
#define TDVMCALL_EXPOSE_REGS_MASK		0xFFCC
/* R10-R15 only, as the C selftests' wrappers: nothing else reaches the VMM */
#define TDVMCALL_EXPOSE_R10_R15_MASK		0xFC00

/* Directions for Instruction.IO and #VE.RequestMMIO (R13) */
#define TDX_IO_READ	0
#define TDX_IO_WRITE	1
#define TDX_MMIO_READ	0
#define TDX_MMIO_WRITE	1
#define IO_READ		TDX_IO_READ	/* short forms */
#define IO_WRITE	TDX_IO_WRITE
#define MMIO_READ	TDX_MMIO_READ
#define MMIO_WRITE	TDX_MMIO_WRITE

/* TDG.MEM.PAGE.ACCEPT page levels */
#define TDX_PS_4K	0
#define TDX_PS_2M	1

#ifndef __ASSEMBLER__
#include <stdint.h>

struct tdx_quote_hdr {
	uint64_t version;
	uint64_t status;
	uint32_t in_len;
	uint32_t out_len;
	uint8_t data[];
};

/* Every GPR in x86 encoding order, so that index i is RCX mask bit i; rsp is ignored. */
struct tdx_regs {
	uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};

/*
 * Load every GPR but RSP from *regs, execute TDCALL, store every GPR but RSP
 * back.  Returns RAX (the TDX module status).
 */
uint64_t tdcall(struct tdx_regs *regs);

/* TDG.VP.VMCALL with an explicit RCX mask: sets RAX and RCX, returns R10. */
uint64_t tdg_vp_vmcall(uint64_t mask, struct tdx_regs *regs);

uint64_t tdg_vp_vmcall_instruction_cpuid(uint32_t eax, uint32_t ecx, uint32_t *ret_eax,
					 uint32_t *ret_ebx, uint32_t *ret_ecx, uint32_t *ret_edx);
uint64_t tdg_vp_vmcall_hlt(uint64_t interrupt_blocked_flag);
uint64_t tdg_vp_vmcall_io(uint64_t port, uint64_t size, uint64_t direction, uint64_t data,
			  uint64_t *data_out);
uint64_t tdg_vp_vmcall_rdmsr(uint64_t index, uint64_t *value);
uint64_t tdg_vp_vmcall_wrmsr(uint64_t index, uint64_t value);
uint64_t tdg_vp_vmcall_ve_request_mmio_read(uint64_t gpa, uint64_t size, uint64_t *data);
uint64_t tdg_vp_vmcall_ve_request_mmio_write(uint64_t gpa, uint64_t size, uint64_t data);
uint64_t tdg_vp_vmcall_get_td_vm_call_info(uint64_t leaf, uint64_t *r11, uint64_t *r12,
					   uint64_t *r13, uint64_t *r14);
uint64_t tdg_vp_vmcall_map_gpa(uint64_t gpa, uint64_t size, uint64_t *failed_gpa);
uint64_t tdg_vp_vmcall_get_quote(uint64_t gpa, uint64_t size);
uint64_t tdg_vp_vmcall_report_fatal_error(uint64_t error_code, uint64_t data_gpa);
uint64_t tdg_vp_vmcall_setup_event_notify_interrupt(uint64_t vector);

/* TDCALL leaves other than TDG.VP.VMCALL; each returns RAX. */
uint64_t tdg_vp_info(uint64_t *rcx, uint64_t *rdx, uint64_t *r8, uint64_t *r9,
		     uint64_t *r10, uint64_t *r11);
uint64_t tdg_vp_veinfo_get(uint64_t *exit_reason, uint64_t *exit_qualification, uint64_t *gla,
			   uint64_t *gpa, uint32_t *instr_len, uint32_t *instr_info);
uint64_t tdg_mem_page_accept(uint64_t gpa, int level);
#endif /* __ASSEMBLER__ */

#endif /* TDX_GUEST_TDX_H */
