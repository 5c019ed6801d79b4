/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The purgatory's own memory functions (string.c). gcc emits calls to
 * memcpy and memset by itself (struct copies, zeroing loops), so they must
 * exist even where the sources never call them.
 */
#ifndef PURGATORY_STRING_H
#define PURGATORY_STRING_H

#include "types.h"

void *memcpy(void *dest, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
int memcmp(const void *s1, const void *s2, size_t n);

#endif /* PURGATORY_STRING_H */
