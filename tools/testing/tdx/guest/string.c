// SPDX-License-Identifier: GPL-2.0-only
/*
 * String functions for the runtime (gcc may also emit calls to mem*()).
 *
 * On the development machines guest CPL0 code runs in KVM's instruction
 * emulator, where one iteration of a REP string instruction costs a small
 * fraction of an emulated loop iteration (measured: storing 4 KiB takes
 * 15 ms as a byte loop, 1.3 ms with rep stosb, 0.2 ms with rep stosq), and
 * SSE is not available; so these use rep movs/stos/scas.
 */
#include <stddef.h>
#include <stdint.h>

#include "string.h"

void *memset(void *s, int c, size_t n)
{
	uint64_t v = 0x0101010101010101ULL * (unsigned char)c;
	size_t words = n / 8, bytes = n % 8;
	void *d = s;

	__asm__ volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(v) : "memory");
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(bytes) : "a"(v) : "memory");
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	size_t words = n / 8, bytes = n % 8;
	void *d = dst;

	__asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(bytes) : : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	const char *s = src;
	char *d = dst;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	/* Overlapping with dst above src: copy backwards. */
	d += n - 1;
	s += n - 1;
	__asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strnlen(const char *s, size_t max)
{
	const char *p = s;
	size_t left = max;

	if (!max)
		return 0;
	/* repne scasb stops after the NUL, or with RCX = 0 */
	__asm__ volatile("repne scasb" : "+D"(p), "+c"(left) : "a"(0) : "memory", "cc");
	return p[-1] ? max : (size_t)(p - s) - 1;
}

size_t strlen(const char *s)
{
	return strnlen(s, (size_t)-1);
}

size_t strscpy(char *dst, const char *src, size_t size)
{
	size_t n;

	if (!size)
		return 0;
	n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}
