// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest -> host reports through the vCPU's slot in the shared ucall page
 * (ucall.h).  The exit to the host is a 4-byte write of the command to
 * UCALL_PORT: OUT on a plain VM, TDG.VP.VMCALL<Instruction.IO> in a TD,
 * where OUT would raise #VE.
 */
#include <stdarg.h>
#include <stdint.h>

#include "boot.h"
#include "io.h"
#include "string.h"
#include "tdx.h"
#include "ucall.h"

static struct ucall *ucall_slot(void)
{
	return (struct ucall *)(td_boot_params.ucall_gva + (uint64_t)guest_vcpu_index() * UCALL_SLOT_SIZE);
}

/*
 * test.h passes __FILE_NAME__ (a basename) and the host strips directories
 * anyway, so only an over-long name needs care: keep its end.
 */
static void copy_file_name(char *dst, const char *file)
{
	size_t n = file ? strlen(file) : 0;

	if (n >= UCALL_FILE_LEN)
		file += n - (UCALL_FILE_LEN - 1);
	strscpy(dst, file ? file : "", UCALL_FILE_LEN);
}

/*
 * Without a shared area (ucall_gva 0) the report is the port write alone,
 * and the slot is filled in `scratch` (on the caller's stack) instead.
 */
static struct ucall *ucall_begin(struct ucall *scratch, uint64_t cmd, const char *file, uint32_t line)
{
	struct ucall *uc = td_boot_params.ucall_gva ? ucall_slot() : scratch;

	uc->cmd = cmd;
	/* Explicit stores: a call to memset() costs more in KVM's emulator. */
	uc->args[0] = uc->args[1] = uc->args[2] = uc->args[3] = uc->args[4] = uc->args[5] = 0;
	uc->line = line;
	uc->vcpu = guest_vcpu_index();
	copy_file_name(uc->file, file);
	uc->expr[0] = '\0';
	return uc;
}

static void ucall_exit(uint64_t cmd)
{
	if (td_boot_params.flavour == TD_BOOT_FLAVOUR_TD)
		tdg_vp_vmcall_io(UCALL_PORT, 4, IO_WRITE, cmd, NULL);
	else
		outl(UCALL_PORT, (uint32_t)cmd);	/* "memory" clobber: the slot is written first */
}

/* A final report is repeated if the host resumes the vCPU anyway. */
static void __attribute__((noreturn)) ucall_exit_forever(uint64_t cmd)
{
	for (;;)
		ucall_exit(cmd);
}

void ucall_sync(const char *file, uint32_t line, uint64_t n)
{
	struct ucall scratch, *uc = ucall_begin(&scratch, UCALL_SYNC, file, line);

	uc->args[0] = n;
	ucall_exit(UCALL_SYNC);
}

void ucall_done(const char *file, uint32_t line, uint64_t value, uint64_t flags)
{
	struct ucall scratch, *uc = ucall_begin(&scratch, UCALL_DONE, file, line);

	uc->args[0] = value;
	uc->args[1] = flags;
	ucall_exit_forever(UCALL_DONE);
}

/* Called by boot.S when the entry function returns. */
void __attribute__((noreturn)) guest_returned(uint64_t value)
{
	ucall_done(NULL, 0, value, UCALL_DONE_RETURNED);
}

void ucall_assert(const char *file, uint32_t line, const char *expr, uint64_t kind, uint64_t a, uint64_t b)
{
	struct ucall scratch, *uc = ucall_begin(&scratch, UCALL_ASSERT, file, line);

	uc->args[0] = a;
	uc->args[1] = b;
	uc->args[2] = kind;
	strscpy(uc->expr, expr, sizeof(uc->expr));
	ucall_exit_forever(UCALL_ASSERT);
}

void ucall_exception(uint64_t vector, uint64_t error_code, uint64_t rip, uint64_t cr2, uint64_t cs)
{
	struct ucall scratch, *uc = ucall_begin(&scratch, UCALL_EXCEPTION, NULL, 0);

	uc->args[0] = vector;
	uc->args[1] = error_code;
	uc->args[2] = rip;
	uc->args[3] = cr2;
	uc->args[4] = cs;
	ucall_exit_forever(UCALL_EXCEPTION);
}

void ucall_printf(const char *file, uint32_t line, const char *fmt, ...)
{
	struct ucall scratch, *uc = ucall_begin(&scratch, UCALL_PRINTF, file, line);
	va_list ap;

	va_start(ap, fmt);
	uc->args[0] = guest_vsnprintf(uc->expr, sizeof(uc->expr), fmt, ap);
	va_end(ap);
	ucall_exit(UCALL_PRINTF);
}
