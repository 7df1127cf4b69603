// SPDX-License-Identifier: GPL-2.0-only
/*
 * TDG.VP.VMCALL with the TDX module's resume state checked (vmcall_check.h).
 */
#include <stdint.h>

#include "tdx.h"
#include "ucall.h"
#include "vmcall_check.h"

void tdx_regs_ghci(struct tdx_regs *r, uint64_t subfunction, uint64_t r12, uint64_t r13,
		   uint64_t r14, uint64_t r15)
{
	uint64_t *gpr = &r->rax;
	int i;

	for (i = 0; i < 16; i++)
		gpr[i] = TDX_POISON(i);
	r->rsp = 0;
	r->r10 = TDX_HYPERCALL_STANDARD;
	r->r11 = subfunction;
	r->r12 = r12;
	r->r13 = r13;
	r->r14 = r14;
	r->r15 = r15;
}

static void check_eq(const char *file, uint32_t line, const char *what, uint64_t a, uint64_t b)
{
	if (a != b)
		ucall_assert(file, line, what, UCALL_ASSERT_EQ, a, b);
}

uint64_t __tdg_vp_vmcall_checked(const char *file, uint32_t line, uint64_t mask, uint64_t preserved,
				 struct tdx_regs *r)
{
	static const char *const names[16] = {
		"", "", "TDG.VP.VMCALL preserves RDX", "TDG.VP.VMCALL preserves RBX", "",
		"TDG.VP.VMCALL preserves RBP", "TDG.VP.VMCALL preserves RSI", "TDG.VP.VMCALL preserves RDI",
		"TDG.VP.VMCALL preserves R8", "TDG.VP.VMCALL preserves R9", "TDG.VP.VMCALL preserves R10",
		"TDG.VP.VMCALL preserves R11", "TDG.VP.VMCALL preserves R12", "TDG.VP.VMCALL preserves R13",
		"TDG.VP.VMCALL preserves R14", "TDG.VP.VMCALL preserves R15",
	};
	struct tdx_regs in = *r;
	const uint64_t *before = &in.rax, *after = &r->rax;
	int i;

	tdg_vp_vmcall(mask, r);
	check_eq(file, line, "TDG.VP.VMCALL: RAX == TDX_SUCCESS", r->rax, TDX_SUCCESS);
	check_eq(file, line, "TDG.VP.VMCALL: RCX == the guest's mask", r->rcx, mask);
	for (i = 2; i < 16; i++)
		if (preserved & (1ULL << i))
			check_eq(file, line, names[i], after[i], before[i]);
	return r->r10;
}
