/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fixed-width types from the compiler's own predefined macros, so the
 * purgatory (built with -nostdinc) and the host test build share one
 * definition without any system header.
 */
#ifndef PURGATORY_TYPES_H
#define PURGATORY_TYPES_H

#include "compiler.h"

typedef __UINT8_TYPE__ u8;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;
typedef __SIZE_TYPE__ size_t;
typedef __UINTPTR_TYPE__ uintptr_t;

#endif /* PURGATORY_TYPES_H */
