// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of td_lifecycle.py: the smallest TDs that prove a platform can
 * create, run and tear down a TD, and report through the GHCI.
 */
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "tdx.h"
#include "test.h"

#define PORT_BOOT_ONLY		0x30	/* the anchors' "success" port */
#define BOOT_ONLY_MAGIC		0x600DB007
#define FATAL_ERROR_CODE	0x0BAAAAAD00000000ULL
#define VP_INFO_OFFSET		0x1000	/* in the shared area, 64 bytes per vCPU */

void guest_done(void)
{
	GUEST_DONE();
}

/* ReportFatalError with the anchors' code; resumed, the guest finishes. */
void guest_report_fatal_error(uint64_t gpa)
{
	uint64_t code = FATAL_ERROR_CODE | (gpa ? TDX_REPORT_FATAL_ERROR_GPA_VALID : 0);

	tdg_vp_vmcall_report_fatal_error(code, gpa);
	GUEST_DONE();
}

/*
 * ReportFatalError twice, with a value in every register that can reach KVM
 * (each register its own, so that a swap shows in system_event.data): first
 * exposing RDX, RBX, RSI, RDI and R8-R15 (what Linux exposes), then R10-R15
 * only, with the same values loaded, which KVM must see as 0.
 */
static void report_fatal_error_regs(uint64_t mask)
{
	struct tdx_regs regs = {
		.rdx = 0x0202020202020202ULL, .rbx = 0x0303030303030303ULL,
		.rsi = 0x0606060606060606ULL, .rdi = 0x0707070707070707ULL,
		.r8 = 0x0808080808080808ULL, .r9 = 0x0909090909090909ULL,
		.r10 = TDX_HYPERCALL_STANDARD, .r11 = TDVMCALL_REPORT_FATAL_ERROR,
		.r12 = FATAL_ERROR_CODE, .r13 = 0x0D0D0D0D0D0D0D0DULL,
		.r14 = 0x0E0E0E0E0E0E0E0EULL, .r15 = 0x0F0F0F0F0F0F0F0FULL,
	};

	tdg_vp_vmcall(mask, &regs);
}

void guest_report_fatal_error_regs(void)
{
	report_fatal_error_regs(TDVMCALL_EXPOSE_REGS_MASK);
	report_fatal_error_regs(TDVMCALL_EXPOSE_R10_R15_MASK);
	GUEST_DONE();
}

/*
 * TDG.VP.INFO's outputs, stored in the shared area for the host to check;
 * a second call must give the same answer (nothing in it is consumed).
 */
void guest_vp_info(void)
{
	volatile uint64_t *out = (volatile uint64_t *)(td_boot_params.shared_gva + VP_INFO_OFFSET +
							guest_vcpu_index() * 64);
	uint64_t rcx, rdx, r8, r9, r10, r11;
	uint64_t rcx2, rdx2, r82, r92, r102, r112;
	uint64_t ret = tdg_vp_info(&rcx, &rdx, &r8, &r9, &r10, &r11);

	GUEST_ASSERT_EQ(tdg_vp_info(&rcx2, &rdx2, &r82, &r92, &r102, &r112), ret);
	GUEST_ASSERT_EQ(rcx2, rcx);
	GUEST_ASSERT_EQ(rdx2, rdx);
	GUEST_ASSERT_EQ(r82, r8);
	GUEST_ASSERT_EQ(r92, r9);
	GUEST_ASSERT_EQ(r102, r10);
	GUEST_ASSERT_EQ(r112, r11);

	out[0] = ret;
	out[1] = rcx;
	out[2] = rdx;
	out[3] = r8;
	out[4] = r9;
	out[5] = r10;
	out[6] = r11;
	GUEST_DONE();
}

/*
 * The registers TDH.VP.INIT gave the vCPU from the KVM_TDX_INIT_VCPU data:
 * RCX and R8 (boot.S passes them on), stored in the shared area.
 */
void guest_boot_regs(uint64_t arg, uint64_t rcx, uint64_t r8)
{
	volatile uint64_t *out = (volatile uint64_t *)(td_boot_params.shared_gva + VP_INFO_OFFSET);

	out[0] = rcx;
	out[1] = r8;
	GUEST_DONE();
}

/* A TD with nothing but its boot image: no shared page, so only port I/O. */
void guest_boot_only(void)
{
	for (;;)
		tdg_vp_vmcall_io(PORT_BOOT_ONLY, 4, IO_WRITE, BOOT_ONLY_MAGIC, NULL);
}

/*
 * A TD with private memory beyond its image: the pages must be accepted
 * before use (they were never added), then hold what the guest writes.
 */
void guest_private_memory(uint64_t gpa)
{
	volatile uint64_t *p = (volatile uint64_t *)gpa;

	GUEST_ASSERT_EQ(tdg_mem_page_accept(gpa, TDX_PS_4K), TDX_SUCCESS);
	GUEST_ASSERT_EQ(p[0], 0);		/* an accepted page starts zeroed */
	p[0] = 0x5EC2E7;
	p[511] = ~0x5EC2E7ULL;
	GUEST_ASSERT_EQ(p[0], 0x5EC2E7);
	GUEST_ASSERT_EQ(p[511], ~0x5EC2E7ULL);
	for (;;)
		tdg_vp_vmcall_io(PORT_BOOT_ONLY, 4, IO_WRITE, (uint32_t)p[0], NULL);
}

/* Private and shared memory: the host sees the shared write and answers. */
void guest_shared_memory(void)
{
	volatile uint64_t *shared = (volatile uint64_t *)(td_boot_params.shared_gva + 0x2000);

	shared[0] = 0xC0FFEE;
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(shared[1], 0xBEEF);
	GUEST_DONE();
}
