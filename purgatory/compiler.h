/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Compiler settings every purgatory source needs before its first
 * declaration; every other header includes this one first.
 *
 * All declarations are hidden: with -fpic a reference to extern data with
 * default visibility goes through the GOT, and the kernel's loader refuses
 * GOT relocations. Hidden symbols are still STB_GLOBAL in the relocatable
 * purgatory.ro, which is all the kernel's symbol lookup needs.
 */
#ifndef PURGATORY_COMPILER_H
#define PURGATORY_COMPILER_H

#ifndef __ASSEMBLY__

#pragma GCC visibility push(hidden)

/*
 * Make the optimiser forget what it knows about a variable's value, so a
 * loop using it is not recognised as a memcpy/memset pattern.
 */
#define OPTIMIZER_HIDE_VAR(var) __asm__ ("" : "+r" (var))

/* Memory may have changed: values loaded before must be loaded again. */
#define barrier()	__asm__ __volatile__ ("" : : : "memory")

/*
 * Make the object behind ptr addressable to barrier(), so the compiler
 * keeps it in memory instead of splitting it into registers.
 */
#define KEEP_IN_MEMORY(ptr)	\
	__asm__ __volatile__ ("" : : "r" (ptr) : "memory")

#define __packed	__attribute__((__packed__))
#define __section(name)	__attribute__((__section__(name)))
#define __always_inline	inline __attribute__((__always_inline__))
#define __noinline	__attribute__((__noinline__))
#define __target(isa)	__attribute__((__target__(isa)))

#endif /* __ASSEMBLY__ */

#endif /* PURGATORY_COMPILER_H */
