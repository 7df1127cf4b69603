/* SPDX-License-Identifier: GPL-2.0-only */
/* The few string functions the runtime needs; gcc may also emit calls to mem*(). */
#ifndef TDX_GUEST_STRING_H
#define TDX_GUEST_STRING_H

#include <stddef.h>

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
/* Copies at most size - 1 bytes and always terminates (for size > 0); returns the length copied. */
size_t strscpy(char *dst, const char *src, size_t size);

#endif /* TDX_GUEST_STRING_H */
