// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of ghci_cpuid.py: TDG.VP.VMCALL<Instruction.CPUID>, native
 * CPUID, GetTdVmCallInfo, Instruction.HLT, sub-functions KVM does not handle
 * and KVM hypercalls over TDG.VP.VMCALL (R10 != 0);
 * docs/kvm-tdx-uapi.md §4.3, §4.4, §4.5, §4.10, §4.12 and §7.
 *
 * guest_vmcall_ops() and guest_cpuid_native_ops() run a list the host wrote
 * into the shared area and store what came back there, so that the host
 * chooses the leaves and checks the answers against its own tables.
 */
#include <stddef.h>
#include <stdint.h>

#include "apic.h"
#include "boot.h"
#include "io.h"
#include "tdx.h"
#include "test.h"

/*
 * In the shared area (page 0 is the ucall page): per vCPU a page with a u64
 * count, then the ops, so that vCPUs running at once do not share results.
 */
#define OPS_OFFSET		0x1000
#define OPS_STRIDE		0x1000

/* What the host answers GetTdVmCallInfo leaf 1 with (ghci_cpuid.py). */
#define INFO1_R11		(1ULL << 1)	/* SetupEventNotifyInterrupt */
#define INFO1_R12		0x1212121212121212ULL
#define INFO1_R13		0x1313131313131313ULL
#define INFO1_R14		0x1414141414141414ULL

#define UNTOUCHED		0x5A5A5A5A5A5A5A5AULL

/* One TDG.VP.VMCALL: R10..R15 in, R10..R15 out (96 bytes). */
struct vmcall_op {
	uint64_t in[6];
	uint64_t out[6];
};

static volatile struct vmcall_op *shared_ops(uint64_t *n)
{
	volatile uint64_t *count = (volatile uint64_t *)(td_boot_params.shared_gva + OPS_OFFSET +
							  guest_vcpu_index() * OPS_STRIDE);

	*n = *count;
	return (volatile struct vmcall_op *)(count + 1);
}

/* Every op exposes R10-R15 only; whatever KVM left there comes back. */
void guest_vmcall_ops(void)
{
	uint64_t i, n;
	volatile struct vmcall_op *ops = shared_ops(&n);

	for (i = 0; i < n; i++) {
		struct tdx_regs regs = {
			.r10 = ops[i].in[0], .r11 = ops[i].in[1], .r12 = ops[i].in[2],
			.r13 = ops[i].in[3], .r14 = ops[i].in[4], .r15 = ops[i].in[5],
		};

		tdg_vp_vmcall(TDVMCALL_EXPOSE_R10_R15_MASK, &regs);
		ops[i].out[0] = regs.r10;
		ops[i].out[1] = regs.r11;
		ops[i].out[2] = regs.r12;
		ops[i].out[3] = regs.r13;
		ops[i].out[4] = regs.r14;
		ops[i].out[5] = regs.r15;
	}
	GUEST_DONE();
}

/* The CPUID instruction: in[0] = leaf, in[1] = subleaf; out[0..3] = EAX..EDX. */
void guest_cpuid_native_ops(void)
{
	uint64_t i, n;
	volatile struct vmcall_op *ops = shared_ops(&n);

	for (i = 0; i < n; i++) {
		uint32_t eax, ebx, ecx, edx;

		cpuid((uint32_t)ops[i].in[0], (uint32_t)ops[i].in[1], &eax, &ebx, &ecx, &edx);
		ops[i].out[0] = eax;
		ops[i].out[1] = ebx;
		ops[i].out[2] = ecx;
		ops[i].out[3] = edx;
	}
	GUEST_DONE();
}

/* Leaf 0 is answered by KVM: SUCCESS, R11..R14 zero, R15 left alone. */
void guest_get_td_vm_call_info_leaf0(void)
{
	struct tdx_regs regs = {
		.r10 = TDX_HYPERCALL_STANDARD, .r11 = TDVMCALL_GET_TD_VM_CALL_INFO, .r12 = 0,
		.r13 = UNTOUCHED, .r14 = UNTOUCHED, .r15 = UNTOUCHED,
	};

	GUEST_ASSERT_EQ(tdg_vp_vmcall(TDVMCALL_EXPOSE_R10_R15_MASK, &regs), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(regs.r11, 0);
	GUEST_ASSERT_EQ(regs.r12, 0);
	GUEST_ASSERT_EQ(regs.r13, 0);
	GUEST_ASSERT_EQ(regs.r14, 0);
	GUEST_ASSERT_EQ(regs.r15, UNTOUCHED);
	GUEST_DONE();
}

/* Leaf 1 goes to userspace twice: it answers first with INFO1_*, then fails it. */
void guest_get_td_vm_call_info_leaf1(void)
{
	uint64_t r11 = UNTOUCHED, r12 = UNTOUCHED, r13 = UNTOUCHED, r14 = UNTOUCHED;

	GUEST_ASSERT_EQ(tdg_vp_vmcall_get_td_vm_call_info(1, &r11, &r12, &r13, &r14),
			TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(r11, INFO1_R11);
	GUEST_ASSERT_EQ(r12, INFO1_R12);
	GUEST_ASSERT_EQ(r13, INFO1_R13);
	GUEST_ASSERT_EQ(r14, INFO1_R14);

	GUEST_ASSERT_EQ(tdg_vp_vmcall_get_td_vm_call_info(1, &r11, &r12, &r13, &r14),
			TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(r11, 0);
	GUEST_ASSERT_EQ(r12, 0);
	GUEST_ASSERT_EQ(r13, 0);
	GUEST_ASSERT_EQ(r14, 0);
	GUEST_DONE();
}

/* Any other leaf: INVALID_OPERAND; all 64 bits of R12 count. */
void guest_get_td_vm_call_info_other_leaves(void)
{
	GUEST_ASSERT_EQ(tdg_vp_vmcall_get_td_vm_call_info(2, NULL, NULL, NULL, NULL),
			TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_get_td_vm_call_info(1ULL << 32 | 1, NULL, NULL, NULL, NULL),
			TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_get_td_vm_call_info(~0ULL, NULL, NULL, NULL, NULL),
			TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_DONE();
}

/* Instruction.HLT: the vCPU blocks in KVM; once woken, R10 is as passed. */
void guest_hlt(uint64_t interrupt_blocked_flag)
{
	GUEST_ASSERT_EQ(tdg_vp_vmcall_hlt(interrupt_blocked_flag), TDVMCALL_STATUS_SUCCESS);
	GUEST_DONE();
}

/*
 * Instruction.HLT and interrupts (tdx.c tdx_interrupt_allowed(),
 * tdx_protected_apic_has_interrupt()).  Each HLT is made with IF = 0, as
 * the Linux guest's tdx_safe_halt() does (R12 = 0: "interrupts will be
 * enabled right after"), and the interrupt is taken after STI.
 */
#define HLT_VECTOR		0x72
#define READY_OFFSET		0x3000	/* per-vCPU u64 flags in the shared area */

static void hlt_setup(int vector)
{
	local_irq_disable();
	GUEST_ASSERT_EQ(x2apic_enable(), TDVMCALL_STATUS_SUCCESS);
	irq_count_vector(vector);
	irq_count_vector(NMI_VECTOR);
}

/* Tell the host (which cannot ask a vCPU inside KVM_RUN) that HLT comes next. */
static void ready(void)
{
	*(volatile uint64_t *)(td_boot_params.shared_gva + READY_OFFSET + 8 * guest_vcpu_index()) = 1;
}

/* The IPI's target: HLT with R12 = 0 until vCPU 0's IPI wakes it. */
void guest_hlt_ipi_target(void)
{
	hlt_setup(HLT_VECTOR);
	ready();
	GUEST_ASSERT_EQ(tdg_vp_vmcall_hlt(0), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(irq_total(), 0);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_ASSERT_EQ(irq_nth(0), HLT_VECTOR);
	GUEST_DONE();
}

/* The sender: TDG.VP.VMCALL<WRMSR> of the x2APIC ICR, fixed, to `dest`. */
void guest_hlt_ipi_sender(uint64_t dest)
{
	GUEST_ASSERT_EQ(x2apic_send_ipi(dest, APIC_DM_FIXED | HLT_VECTOR), TDVMCALL_STATUS_SUCCESS);
	GUEST_DONE();
}

/*
 * HLT with R12 = 1 (interrupts blocked): only the NMI wakes it; the
 * maskable interrupt the host sent meanwhile comes after STI.  Reports
 * NMIs << 8 | maskable interrupts handled when HLT returned.
 */
void guest_hlt_blocked(void)
{
	hlt_setup(HLT_VECTOR);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_hlt(1), TDVMCALL_STATUS_SUCCESS);
	GUEST_SYNC(irq_count(NMI_VECTOR) << 8 | irq_count(HLT_VECTOR));
	GUEST_ASSERT_EQ(irq_enable_until(2), 2);
	GUEST_ASSERT_EQ(irq_nth(1), HLT_VECTOR);
	GUEST_DONE();
}

/*
 * The vector the host sends during SYNC(1) reaches the vIRR when this vCPU
 * resumes with IF = 0; HLT with R12 = 0 must then return at once (KVM reads
 * TD_VCPU_STATE_DETAILS), as for an interrupt that arrived in an STI shadow.
 */
void guest_hlt_pending_virr(void)
{
	hlt_setup(HLT_VECTOR);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_hlt(0), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(irq_total(), 0);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_ASSERT_EQ(irq_nth(0), HLT_VECTOR);
	GUEST_DONE();
}
