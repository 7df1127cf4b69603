/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest -> host reports ("ucalls", docs/internals.md §4).
 *
 * The guest fills its vCPU's struct ucall in the shared ucall page (the host
 * cannot read private memory, so strings are copied in), then writes the
 * command to UCALL_PORT with a 4-byte OUT: IN/OUT on a plain VM,
 * TDG.VP.VMCALL<Instruction.IO> in a TD.  tdx.lib.ucall decodes the slot.
 */
#ifndef TDX_GUEST_UCALL_H
#define TDX_GUEST_UCALL_H

#define UCALL_PORT		0xE0

#define UCALL_NONE		0
#define UCALL_SYNC		1	/* args[0] = n; the guest continues when resumed */
#define UCALL_DONE		2	/* args[0] = value, args[1] = UCALL_DONE_* flags */
#define UCALL_ASSERT		3	/* args[0], args[1] = values, args[2] = UCALL_ASSERT_* kind */
#define UCALL_EXCEPTION		4	/* args[] = vector, error code, RIP, CR2, CS */
#define UCALL_PRINTF		5	/* text in expr[]; the guest continues when resumed */

#define UCALL_DONE_RETURNED	1	/* the entry function returned args[0] */

#define UCALL_ASSERT_BOOL	0
#define UCALL_ASSERT_EQ		1
#define UCALL_ASSERT_NE		2

#define UCALL_MAX_ARGS		6
#define UCALL_FILE_LEN		64
#define UCALL_EXPR_LEN		384
#define UCALL_SLOT_SIZE		512	/* slot i at ucall_gva + i * UCALL_SLOT_SIZE */

/* struct ucall offsets (mirrored by tdx.lib.ucall) */
#define UCALL_OFF_CMD		0
#define UCALL_OFF_ARGS		8
#define UCALL_OFF_LINE		56
#define UCALL_OFF_VCPU		60
#define UCALL_OFF_FILE		64
#define UCALL_OFF_EXPR		128

#ifndef __ASSEMBLER__
#include <stdarg.h>
#include <stdint.h>

struct ucall {
	uint64_t cmd;
	uint64_t args[UCALL_MAX_ARGS];
	uint32_t line;
	uint32_t vcpu;
	char file[UCALL_FILE_LEN];	/* NUL-terminated */
	char expr[UCALL_EXPR_LEN];	/* NUL-terminated */
};

_Static_assert(sizeof(struct ucall) == UCALL_SLOT_SIZE, "struct ucall is one slot");

void ucall_sync(const char *file, uint32_t line, uint64_t n);
void __attribute__((noreturn)) ucall_done(const char *file, uint32_t line, uint64_t value, uint64_t flags);
void __attribute__((noreturn)) ucall_assert(const char *file, uint32_t line, const char *expr,
					    uint64_t kind, uint64_t a, uint64_t b);
void __attribute__((noreturn)) ucall_exception(uint64_t vector, uint64_t error_code, uint64_t rip,
					       uint64_t cr2, uint64_t cs);
void __attribute__((format(printf, 3, 4))) ucall_printf(const char *file, uint32_t line,
							 const char *fmt, ...);

/* printf.c: %d %i %u %x %X %p %s %c %% with l/ll/z and width/zero-pad; returns the full length. */
int guest_vsnprintf(char *buf, unsigned long size, const char *fmt, va_list ap);
int __attribute__((format(printf, 3, 4))) guest_snprintf(char *buf, unsigned long size,
							  const char *fmt, ...);
#endif /* __ASSEMBLER__ */

#endif /* TDX_GUEST_UCALL_H */
