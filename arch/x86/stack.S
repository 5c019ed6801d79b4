/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The purgatory's 4 KiB stack. purgatory_start switches to it because the
 * old kernel's stack may lie in memory the new kernel's segments were just
 * copied over. The bzImage loader also points the new kernel's initial rsp
 * at stack_end.
 *
 * It lives in .data, not .bss: the kernel's loader refuses to look up
 * symbols in a NOBITS section. stack_end is the address just past the
 * stack; it has size 0 because it names a position, not an object (the
 * kernel only takes its address).
 */

	.data
	.balign	16
	.globl	stack
	.type	stack, @object
stack:
	.fill	4096, 1, 0
	.size	stack, . - stack

	.globl	stack_end
	.type	stack_end, @object
stack_end:
	.size	stack_end, 0

	/* No executable stack wanted (ld warns about objects without this). */
	.section .note.GNU-stack, "", @progbits
