// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of ghci_msr.py: TDG.VP.VMCALL<Instruction.RDMSR> (R11 = 31) and
 * <Instruction.WRMSR> (R11 = 32), docs/kvm-tdx-uapi.md §4.13.
 *
 * guest_msr_ops() runs a list of accesses the host wrote into the shared
 * area (any time before the first KVM_RUN) and stores R10 and R11 of each
 * back there: the host decides what to
 * access and checks both what it saw and what the guest got.  The two
 * anchor functions repeat docs/c-selftests.md §1 rows 8 and 9 with the
 * checks on the guest side.
 */
#include <stdint.h>

#include "apic.h"
#include "boot.h"
#include "io.h"
#include "tdx.h"
#include "test.h"

/*
 * In the shared area (page 0 is the ucall page): per vCPU a page with a u64
 * count, then the ops.
 */
#define MSR_OPS_OFFSET		0x1000
#define MSR_OPS_STRIDE		0x1000

#define MSR_OP_RDMSR		0
#define MSR_OP_WRMSR		1
#define MSR_OP_SYNC		2	/* GUEST_SYNC(index of the op): the host changes something */

#define MSR_IA32_MISC_ENABLE	0x1A0
#define MSR_IA32_POWER_CTL	0x1FC
#define X2APIC_MSR_ICR		0x830
#define MISC_ENABLE_FAST_STRING	(1ULL << 0)

/* The values of anchor rows 8 and 9. */
#define ANCHOR_ICR		4
#define ANCHOR_MISC_ENABLE	5
#define ANCHOR_POWER_CTL	6

/* One access; the host fills op/index/value, the guest r10/r11 (40 bytes). */
struct msr_op {
	uint64_t op;
	uint64_t index;		/* R12 as passed: KVM uses bits 31:0 (ECX) */
	uint64_t value;		/* R13 for WRMSR: EDX:EAX */
	uint64_t r10;
	uint64_t r11;
};

void guest_msr_ops(void)
{
	volatile uint64_t *count = (volatile uint64_t *)(td_boot_params.shared_gva + MSR_OPS_OFFSET +
							  guest_vcpu_index() * MSR_OPS_STRIDE);
	volatile struct msr_op *ops = (volatile struct msr_op *)(count + 1);
	uint64_t i, n = *count;

	for (i = 0; i < n; i++) {
		int write = ops[i].op == MSR_OP_WRMSR;

		if (ops[i].op == MSR_OP_SYNC) {
			GUEST_SYNC(i);
			ops[i].r10 = ops[i].r11 = 0;
			continue;
		}

		struct tdx_regs regs = {
			.r10 = TDX_HYPERCALL_STANDARD,
			.r11 = write ? EXIT_REASON_MSR_WRITE : EXIT_REASON_MSR_READ,
			.r12 = ops[i].index,
			.r13 = write ? ops[i].value : 0,
		};

		ops[i].r10 = tdg_vp_vmcall(TDVMCALL_EXPOSE_R10_R15_MASK, &regs);
		ops[i].r11 = regs.r11;
	}
	GUEST_DONE();
}

/*
 * Anchor row 8.  The host preset the three MSRs with KVM_SET_MSRS and set a
 * default-deny filter that allows reading MISC_ENABLE only: the x2APIC ICR
 * is never filtered, POWER_CTL's read is refused.
 */
void guest_msr_reads_filtered(void)
{
	uint64_t value = 0;

	GUEST_ASSERT_EQ(tdg_vp_vmcall_rdmsr(X2APIC_MSR_ICR, &value), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(value, ANCHOR_ICR);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_rdmsr(MSR_IA32_MISC_ENABLE, &value), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(value, ANCHOR_MISC_ENABLE);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_rdmsr(MSR_IA32_POWER_CTL, &value),
			TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_DONE();
}

/*
 * Anchor row 9.  Same filter plus a write-allow for POWER_CTL: the ICR and
 * POWER_CTL writes land in KVM, the MISC_ENABLE write is refused.  It writes
 * a value KVM itself would take (the read-only PMU bits kept), so that only
 * the filter can refuse it.
 */
void guest_msr_writes_filtered(void)
{
	uint64_t misc = 0;

	GUEST_ASSERT_EQ(tdg_vp_vmcall_wrmsr(X2APIC_MSR_ICR, ANCHOR_ICR), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_rdmsr(MSR_IA32_MISC_ENABLE, &misc), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_wrmsr(MSR_IA32_MISC_ENABLE, misc ^ MISC_ENABLE_FAST_STRING),
			TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(tdg_vp_vmcall_wrmsr(MSR_IA32_POWER_CTL, ANCHOR_POWER_CTL),
			TDVMCALL_STATUS_SUCCESS);
	GUEST_DONE();
}

/*
 * Interrupts through the x2APIC registers KVM emulates (SPIV, ICR) and the
 * ones the CPU virtualizes for a TD (EOI, IRR: native RDMSR/WRMSR).
 */
#define MSI_VECTOR		0x5C
#define SELF_IPI_VECTOR		0x9D

/*
 * KVM_SIGNAL_MSI while SPIV leaves the APIC software-disabled (dropped),
 * after enabling it (delivered), and once more after the handler's EOI.
 */
void guest_msi(void)
{
	local_irq_disable();
	irq_count_vector(MSI_VECTOR);
	GUEST_SYNC(1);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_IRR0 + MSI_VECTOR / 32), 0);
	GUEST_ASSERT_EQ(x2apic_enable(), TDVMCALL_STATUS_SUCCESS);
	GUEST_SYNC(2);
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_SYNC(3);
	GUEST_ASSERT_EQ(irq_enable_until(2), 2);
	GUEST_ASSERT_EQ(irq_count(MSI_VECTOR), 2);
	GUEST_DONE();
}

/* ICR with the self shorthand; then with reserved bit 13, refused and no IPI. */
void guest_icr_self_ipi(void)
{
	local_irq_disable();
	GUEST_ASSERT_EQ(x2apic_enable(), TDVMCALL_STATUS_SUCCESS);
	irq_count_vector(SELF_IPI_VECTOR);
	GUEST_ASSERT_EQ(x2apic_send_ipi(0x55, APIC_DEST_SELF | SELF_IPI_VECTOR), TDVMCALL_STATUS_SUCCESS);
	GUEST_ASSERT_EQ(irq_total(), 0);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_IRR0 + SELF_IPI_VECTOR / 32), 1ULL << (SELF_IPI_VECTOR % 32));
	GUEST_ASSERT_EQ(irq_enable_until(1), 1);
	GUEST_ASSERT_EQ(irq_nth(0), SELF_IPI_VECTOR);
	GUEST_ASSERT_EQ(x2apic_send_ipi(0, 1U << 13 | APIC_DEST_SELF | SELF_IPI_VECTOR),
			TDVMCALL_STATUS_INVALID_OPERAND);
	GUEST_ASSERT_EQ(rdmsr(X2APIC_MSR_IRR0 + SELF_IPI_VECTOR / 32), 0);
	GUEST_DONE();
}
