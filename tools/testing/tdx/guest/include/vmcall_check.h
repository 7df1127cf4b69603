/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * TDG.VP.VMCALL with every GPR accounted for, for the GHCI conformance tests.
 *
 * After a TDG.VP.VMCALL the TDX module resumes the TD with RAX = TDX_SUCCESS,
 * RCX = the guest's mask, exposed GPRs as the VMM left them and unexposed GPRs
 * as they were (docs/kvm-tdx-uapi.md §4.1).  The GHCI leaves write no
 * GPR but R10 and R11 (and R12-R15 for CPUID and GetTdVmCallInfo), so a test
 * loads a distinct poison value into every other GPR and checks that it comes
 * back: a register KVM or the module must leave alone did not change.
 */
#ifndef TDX_GUEST_VMCALL_CHECK_H
#define TDX_GUEST_VMCALL_CHECK_H

#include <stdint.h>

#include "tdx.h"

/* A distinct value per GPR that no KVM or module path would produce. */
#define TDX_POISON(reg)	(0xBAD0000000000000ULL | ((uint64_t)(reg) << 40) | 0xC0FFEE00ULL | (reg))

/* Every GPR poisoned (RSP is not loaded by tdcall()), then R10..R15 for a GHCI leaf. */
void tdx_regs_ghci(struct tdx_regs *r, uint64_t subfunction, uint64_t r12, uint64_t r13,
		   uint64_t r14, uint64_t r15);

/* The low `size` bytes of a register (size >= 8: all of it). */
static inline uint64_t tdx_size_mask(uint64_t size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/*
 * TDG.VP.VMCALL with RCX = mask; returns R10.  A failure of the resume-state
 * checks is reported at the caller's file:line.  `preserved` is the mask of
 * GPRs that must come back unchanged (TDVMCALL_PRESERVED_IO for leaves that
 * write only R10/R11).
 */
#define TDVMCALL_PRESERVED_IO	0xF3ECULL	/* RDX RBX RBP RSI RDI R8 R9 R12-R15: all but R10/R11 */
uint64_t __tdg_vp_vmcall_checked(const char *file, uint32_t line, uint64_t mask, uint64_t preserved,
				 struct tdx_regs *r);
#define tdg_vp_vmcall_checked(mask, preserved, r) \
	__tdg_vp_vmcall_checked(__FILE__, __LINE__, mask, preserved, r)

#endif /* TDX_GUEST_VMCALL_CHECK_H */
