/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Assertions and reports for guest test code.  Each carries the source
 * file's basename and line, so the host can raise
 * GuestAssertionError("ghci_io.c:42: GUEST_ASSERT_EQ(a, b) failed: 0x1 != 0x2").
 */
#ifndef TDX_GUEST_TEST_H
#define TDX_GUEST_TEST_H

#include <stdint.h>

#include "boot.h"
#include "exceptions.h"
#include "io.h"
#include "ucall.h"

#ifdef __FILE_NAME__
#define __GUEST_FILE	__FILE_NAME__
#else
#define __GUEST_FILE	__FILE__	/* the host strips the directory */
#endif

#define GUEST_ASSERT(expr)							\
	do {									\
		if (!(expr))							\
			ucall_assert(__GUEST_FILE, __LINE__,			\
				     "GUEST_ASSERT(" #expr ")",			\
				     UCALL_ASSERT_BOOL, 0, 0);			\
	} while (0)

#define __GUEST_ASSERT_CMP(name, kind, a, b, failed)				\
	do {									\
		uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);		\
		if (failed)							\
			ucall_assert(__GUEST_FILE, __LINE__,			\
				     name "(" #a ", " #b ")", kind, __a, __b);	\
	} while (0)

#define GUEST_ASSERT_EQ(a, b)	__GUEST_ASSERT_CMP("GUEST_ASSERT_EQ", UCALL_ASSERT_EQ, a, b, __a != __b)
#define GUEST_ASSERT_NE(a, b)	__GUEST_ASSERT_CMP("GUEST_ASSERT_NE", UCALL_ASSERT_NE, a, b, __a == __b)

/* Unconditional failure with a message. */
#define GUEST_FAIL(msg)								\
	ucall_assert(__GUEST_FILE, __LINE__, "GUEST_FAIL(" msg ")", UCALL_ASSERT_BOOL, 0, 0)

#define GUEST_SYNC(n)		ucall_sync(__GUEST_FILE, __LINE__, (uint64_t)(n))
#define GUEST_DONE()		ucall_done(__GUEST_FILE, __LINE__, 0, 0)
#define GUEST_PRINTF(...)	ucall_printf(__GUEST_FILE, __LINE__, __VA_ARGS__)

#endif /* TDX_GUEST_TEST_H */
