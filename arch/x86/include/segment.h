/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Segment selectors of the purgatory's own GDT (setup-x86_64.S), used by
 * purgatory_start to load the data segments and by entry64 to reload CS
 * before handing over to the new kernel.
 */
#ifndef PURGATORY_X86_SEGMENT_H
#define PURGATORY_X86_SEGMENT_H

#define PURGATORY_CS	0x10	/* 64-bit code */
#define PURGATORY_DS	0x18	/* flat data */

#ifdef __ASSEMBLY__
/* Load every data segment register with the flat data selector. */
.macro LOAD_DATA_SEGMENTS scratch=%eax
	movl	$PURGATORY_DS, \scratch
	movl	\scratch, %ds
	movl	\scratch, %es
	movl	\scratch, %ss
	movl	\scratch, %fs
	movl	\scratch, %gs
.endm
#endif

#endif /* PURGATORY_X86_SEGMENT_H */
