// SPDX-License-Identifier: GPL-2.0-only
/*
 * TDCALL wrappers (tdx.h).  Register use per docs/kvm-tdx-uapi.md §4
 * (TDG.VP.VMCALL sub-functions) and §6 (TDCALL leaves).
 */
#include <stdint.h>

#include "tdx.h"

#define SET(p, v)	do { if (p) *(p) = (v); } while (0)

uint64_t tdg_vp_vmcall(uint64_t mask, struct tdx_regs *regs)
{
	regs->rax = TDG_VP_VMCALL;
	regs->rcx = mask;
	tdcall(regs);
	return regs->r10;
}

static uint64_t vmcall(struct tdx_regs *regs, uint64_t subfunction, uint64_t r12, uint64_t r13,
		       uint64_t r14, uint64_t r15)
{
	regs->r10 = TDX_HYPERCALL_STANDARD;
	regs->r11 = subfunction;
	regs->r12 = r12;
	regs->r13 = r13;
	regs->r14 = r14;
	regs->r15 = r15;
	return tdg_vp_vmcall(TDVMCALL_EXPOSE_R10_R15_MASK, regs);
}

uint64_t tdg_vp_vmcall_instruction_cpuid(uint32_t eax, uint32_t ecx, uint32_t *ret_eax,
					 uint32_t *ret_ebx, uint32_t *ret_ecx, uint32_t *ret_edx)
{
	struct tdx_regs regs = {};
	uint64_t ret = vmcall(&regs, EXIT_REASON_CPUID, eax, ecx, 0, 0);

	SET(ret_eax, (uint32_t)regs.r12);
	SET(ret_ebx, (uint32_t)regs.r13);
	SET(ret_ecx, (uint32_t)regs.r14);
	SET(ret_edx, (uint32_t)regs.r15);
	return ret;
}

uint64_t tdg_vp_vmcall_hlt(uint64_t interrupt_blocked_flag)
{
	struct tdx_regs regs = {};

	return vmcall(&regs, EXIT_REASON_HLT, interrupt_blocked_flag, 0, 0, 0);
}

uint64_t tdg_vp_vmcall_io(uint64_t port, uint64_t size, uint64_t direction, uint64_t data,
			  uint64_t *data_out)
{
	struct tdx_regs regs = {};
	uint64_t ret = vmcall(&regs, EXIT_REASON_IO_INSTRUCTION, size, direction, port, data);

	SET(data_out, regs.r11);
	return ret;
}

uint64_t tdg_vp_vmcall_rdmsr(uint64_t index, uint64_t *value)
{
	struct tdx_regs regs = {};
	uint64_t ret = vmcall(&regs, EXIT_REASON_MSR_READ, index, 0, 0, 0);

	SET(value, regs.r11);
	return ret;
}

uint64_t tdg_vp_vmcall_wrmsr(uint64_t index, uint64_t value)
{
	struct tdx_regs regs = {};

	return vmcall(&regs, EXIT_REASON_MSR_WRITE, index, value, 0, 0);
}

uint64_t tdg_vp_vmcall_ve_request_mmio_read(uint64_t gpa, uint64_t size, uint64_t *data)
{
	struct tdx_regs regs = {};
	uint64_t ret = vmcall(&regs, EXIT_REASON_EPT_VIOLATION, size, MMIO_READ, gpa, 0);

	SET(data, regs.r11);
	return ret;
}

uint64_t tdg_vp_vmcall_ve_request_mmio_write(uint64_t gpa, uint64_t size, uint64_t data)
{
	struct tdx_regs regs = {};

	return vmcall(&regs, EXIT_REASON_EPT_VIOLATION, size, MMIO_WRITE, gpa, data);
}

uint64_t tdg_vp_vmcall_get_td_vm_call_info(uint64_t leaf, uint64_t *r11, uint64_t *r12,
					   uint64_t *r13, uint64_t *r14)
{
	struct tdx_regs regs = {};
	uint64_t ret = vmcall(&regs, TDVMCALL_GET_TD_VM_CALL_INFO, leaf, 0, 0, 0);

	SET(r11, regs.r11);
	SET(r12, regs.r12);
	SET(r13, regs.r13);
	SET(r14, regs.r14);
	return ret;
}

uint64_t tdg_vp_vmcall_map_gpa(uint64_t gpa, uint64_t size, uint64_t *failed_gpa)
{
	struct tdx_regs regs = {};
	uint64_t ret = vmcall(&regs, TDVMCALL_MAP_GPA, gpa, size, 0, 0);

	SET(failed_gpa, regs.r11);
	return ret;
}

uint64_t tdg_vp_vmcall_get_quote(uint64_t gpa, uint64_t size)
{
	struct tdx_regs regs = {};

	return vmcall(&regs, TDVMCALL_GET_QUOTE, gpa, size, 0, 0);
}

uint64_t tdg_vp_vmcall_report_fatal_error(uint64_t error_code, uint64_t data_gpa)
{
	struct tdx_regs regs = {};

	return vmcall(&regs, TDVMCALL_REPORT_FATAL_ERROR, error_code, data_gpa, 0, 0);
}

uint64_t tdg_vp_vmcall_setup_event_notify_interrupt(uint64_t vector)
{
	struct tdx_regs regs = {};

	return vmcall(&regs, TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT, vector, 0, 0, 0);
}

uint64_t tdg_vp_info(uint64_t *rcx, uint64_t *rdx, uint64_t *r8, uint64_t *r9,
		     uint64_t *r10, uint64_t *r11)
{
	struct tdx_regs regs = { .rax = TDG_VP_INFO };
	uint64_t ret = tdcall(&regs);

	SET(rcx, regs.rcx);
	SET(rdx, regs.rdx);
	SET(r8, regs.r8);
	SET(r9, regs.r9);
	SET(r10, regs.r10);
	SET(r11, regs.r11);
	return ret;
}

uint64_t tdg_vp_veinfo_get(uint64_t *exit_reason, uint64_t *exit_qualification, uint64_t *gla,
			   uint64_t *gpa, uint32_t *instr_len, uint32_t *instr_info)
{
	struct tdx_regs regs = { .rax = TDG_VP_VEINFO_GET };
	uint64_t ret = tdcall(&regs);

	SET(exit_reason, regs.rcx);
	SET(exit_qualification, regs.rdx);
	SET(gla, regs.r8);
	SET(gpa, regs.r9);
	SET(instr_len, (uint32_t)regs.r10);
	SET(instr_info, (uint32_t)(regs.r10 >> 32));
	return ret;
}

uint64_t tdg_mem_page_accept(uint64_t gpa, int level)
{
	struct tdx_regs regs = {
		.rax = TDG_MEM_PAGE_ACCEPT,
		.rcx = (gpa & ~0xfffULL) | (uint64_t)level,
	};

	return tdcall(&regs);
}
