// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dispatch of guest exceptions and interrupts (exceptions.h).  The IDT
 * itself is built by the host (tdx.lib.paging) and points at idt.S.
 */
#include <stdint.h>

#include "exceptions.h"
#include "io.h"
#include "ucall.h"

static guest_handler_t handlers[IDT_NR_VECTORS];

void guest_install_handler(int vector, guest_handler_t handler)
{
	if (vector < 0 || vector >= IDT_NR_VECTORS)
		ucall_assert(__FILE__, __LINE__, "guest_install_handler(vector out of range)",
			     UCALL_ASSERT_BOOL, vector, 0);
	handlers[vector] = handler;
}

void guest_exception_common(struct ex_regs *regs)
{
	guest_handler_t handler = handlers[regs->vector & (IDT_NR_VECTORS - 1)];

	if (handler) {
		handler(regs);
		return;
	}
	ucall_exception(regs->vector, regs->error_code, regs->rip,
			regs->vector == PF_VECTOR ? read_cr2() : 0, regs->cs);
}
