// SPDX-License-Identifier: GPL-2.0-only
/*
 * memcpy, memset and memcmp for a purgatory that has no libc. gcc calls
 * memcpy and memset on its own (struct copies, zeroing) even with
 * -fno-builtin, and at -O2 it recognises a byte-copy or byte-fill loop as
 * a memcpy/memset and replaces it with a call, which inside memcpy itself
 * is endless recursion: OPTIMIZER_HIDE_VAR hides the pointer from that
 * pattern matching. The purgatory copies only a few bytes with them (the
 * SHA-256 tail block), so plain byte loops are fast enough.
 */
#include "string.h"

void *memcpy(void *dest, const void *src, size_t n)
{
	u8 *d = dest;
	const u8 *s = src;

	while (n--) {
		OPTIMIZER_HIDE_VAR(d);
		*d++ = *s++;
	}
	return dest;
}

void *memset(void *s, int c, size_t n)
{
	u8 *p = s;

	while (n--) {
		OPTIMIZER_HIDE_VAR(p);
		*p++ = (u8)c;
	}
	return s;
}

int memcmp(const void *s1, const void *s2, size_t n)
{
	const u8 *a = s1, *b = s2;

	for (; n; n--, a++, b++) {
		if (*a != *b)
			return *a < *b ? -1 : 1;
	}
	return 0;
}
