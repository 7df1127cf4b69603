// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest functions for the project's own tests of the runtime on a plain VM
 * (tests/test_plain_vm.py).  Each is an entry point called by name.
 */
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "exceptions.h"
#include "io.h"
#include "tdx.h"
#include "test.h"
#include "ucall.h"

#define PORT_IO_OUT	0x50
#define PORT_IO_IN	0x51
#define PORT_IO_REPORT	0x52
#define MSR_FILTERED	0x1a0		/* IA32_MISC_ENABLE: filtered by the host */
#define UNMAPPED_GVA	0x80001000UL	/* no page-table entry */

uint64_t data_value = 0x1000;		/* .data (global: gcc would fold a static constant) */
static uint64_t bss_counter;		/* .bss, zero at start */

/* .data and .bss are loaded and writable: returns 0x1000 + 2 * arg + 1. */
uint64_t guest_return_value(uint64_t arg)
{
	bss_counter += arg;
	bss_counter += arg + 1;
	return data_value + bss_counter;
}

void guest_done(void)
{
	GUEST_DONE();
}

void guest_sync(uint64_t arg)
{
	GUEST_SYNC(arg);
	GUEST_SYNC(arg + 1);
	GUEST_DONE();
}

void guest_io_out(void)
{
	outb(PORT_IO_OUT, 0xab);
	outw(PORT_IO_OUT, 0xabcd);
	outl(PORT_IO_OUT, 0xffabcdef);
	GUEST_DONE();
}

/* Reads each size from PORT_IO_IN and echoes the value + 1 to PORT_IO_OUT. */
void guest_io_in(void)
{
	outb(PORT_IO_OUT, inb(PORT_IO_IN) + 1);
	outw(PORT_IO_OUT, inw(PORT_IO_IN) + 1);
	outl(PORT_IO_OUT, inl(PORT_IO_IN) + 1);
	GUEST_DONE();
}

/* MMIO at an unbacked GPA: 8- and 4-byte reads, then writes of what was read, inverted. */
void guest_mmio(void)
{
	volatile uint64_t *q = (volatile uint64_t *)TD_MMIO_GVA;
	volatile uint32_t *l = (volatile uint32_t *)(TD_MMIO_GVA + 0x10);
	uint64_t a = *q;
	uint32_t b = *l;

	q[1] = ~a;
	l[1] = ~b;
	GUEST_DONE();
}

/* A filtered MSR: the read value comes from the host, the write goes to it. */
uint64_t guest_msr(uint64_t add)
{
	uint64_t v = rdmsr(MSR_FILTERED);

	wrmsr(MSR_FILTERED, v + add);
	return v;
}

/* CPUID of the leaf given by the host, reported as four 4-byte OUTs. */
void guest_cpuid(uint64_t leaf)
{
	uint32_t eax, ebx, ecx, edx;

	cpuid((uint32_t)leaf, 0, &eax, &ebx, &ecx, &edx);
	outl(PORT_IO_REPORT, eax);
	outl(PORT_IO_REPORT, ebx);
	outl(PORT_IO_REPORT, ecx);
	outl(PORT_IO_REPORT, edx);
	GUEST_DONE();
}

void guest_ud(void)
{
	__asm__ volatile("ud2");
	GUEST_DONE();
}

void guest_pf_write(void)
{
	*(volatile uint64_t *)UNMAPPED_GVA = 1;
	GUEST_DONE();
}

/* A write to a read-only (text) page: #PF with P|W set. */
void guest_write_text(void)
{
	*(volatile uint8_t *)(uint64_t)guest_write_text = 0xc3;
	GUEST_DONE();
}

static uint64_t one(void)
{
	return *(volatile uint64_t *)&data_value >> 12;
}

void guest_assert_eq_fail(void)
{
	GUEST_ASSERT_EQ(one(), 2);
	GUEST_DONE();
}

void guest_assert_fail(void)
{
	GUEST_ASSERT(one() == 2);
	GUEST_DONE();
}

void guest_spin(void)
{
	for (;;)
		__asm__ volatile("" : : : "memory");
}

static volatile uint64_t ud_count;

static void skip_ud2(struct ex_regs *regs)
{
	ud_count++;
	regs->rip += 2;
}

/* An installed #UD handler resumes the guest after each ud2. */
uint64_t guest_handler(void)
{
	guest_install_handler(UD_VECTOR, skip_ud2);
	__asm__ volatile("ud2");
	__asm__ volatile("ud2");
	guest_install_handler(UD_VECTOR, 0);
	return ud_count;
}

void guest_printf(uint64_t v)
{
	GUEST_PRINTF("v=%lu hex=0x%lx %s %c %d%%", v, v, "str", 'c', -5);
	GUEST_DONE();
}

/*
 * Output a KTAP consumer must never take for structure (forged results, a plan,
 * a version line, a subtest header), bytes that are not text, and `lines` more
 * lines in blocks of 64: guest output may be anything, and any amount.
 */
void guest_print_noise(uint64_t lines)
{
	static const char block[] =
		"x\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\n"
		"x\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\n"
		"x\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\n"
		"x\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\n";
	uint64_t i;

	GUEST_PRINTF("hello\nok 1 fake\nnot ok 2 evil\n1..9\nKTAP version 1\n# Subtest: x\nBail out!\n");
	GUEST_PRINTF("raw \xff\xfe bytes \x1b[31mred\r\x7f\x01 end");
	for (i = 0; i < lines; i += 64)
		GUEST_PRINTF("%s", block);
	GUEST_DONE();
}

/* TDG.VP.VMCALL<Instruction.IO> read: returns R10 << 32 | the value read. */
uint64_t guest_tdcall_io(uint64_t port)
{
	uint64_t value = 0, ret;

	ret = tdg_vp_vmcall_io(port, 4, IO_READ, 0, &value);
	return ret << 32 | (value & 0xffffffff);
}

/* Every GPR as loaded by tdcall(), and their values afterwards in the shared page. */
uint64_t guest_tdcall_regs(void)
{
	struct tdx_regs *out = (struct tdx_regs *)(td_boot_params.shared_gva + 0x1000);
	struct tdx_regs regs;
	uint64_t i, *r = (uint64_t *)&regs;

	for (i = 0; i < 16; i++)
		r[i] = 0x1111111111111111ULL * i;
	regs.rax = TDG_VP_VMCALL;
	regs.rcx = TDVMCALL_EXPOSE_R10_R15_MASK;
	tdcall(&regs);
	*out = regs;
	return regs.r10;
}

/*
 * A report the host must refuse: `cmd` written to UCALL_PORT with the slot
 * left as it is (tests/test_user_paths.py, garbage from a guest).
 */
void guest_bad_ucall(uint64_t cmd)
{
	if (td_boot_params.flavour == TD_BOOT_FLAVOUR_TD)
		tdg_vp_vmcall_io(UCALL_PORT, 4, IO_WRITE, cmd, NULL);
	else
		outl(UCALL_PORT, (uint32_t)cmd);
	GUEST_DONE();
}
