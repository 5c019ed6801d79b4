/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * purgatory_start: where the old kernel jumps after it has stopped. It runs
 * in 64-bit long mode on an identity map with interrupts off, but with the
 * old kernel's GDT and stack, neither of which may survive: so it loads its
 * own GDT and stack, lets the C code verify the SHA-256 digest of the
 * loaded segments (which never returns on a mismatch) and goes on to
 * entry64, which starts the new kernel.
 *
 * Position independent: the loader puts the purgatory anywhere, above
 * 4 GiB too, so every address is RIP-relative except the GDT base, an
 * R_X86_64_64 the loader fills in.
 */
#include "segment.h"

	.text
	.globl	purgatory_start
	.type	purgatory_start, @function
purgatory_start:
	lgdt	gdt_descriptor(%rip)

	/* CS is reloaded by entry64; the data segments are reloaded here. */
	LOAD_DATA_SEGMENTS

	/* stack_end is 16-byte aligned, as the call below expects. */
	leaq	stack_end(%rip), %rsp
	cld				/* the C ABI's direction flag */
	call	purgatory_verify_digest
	jmp	entry64
	.size	purgatory_start, . - purgatory_start

	/*
	 * The GDT. The accessed bits are preset so that loading a selector
	 * never makes the CPU write to it.
	 */
	.data
	.balign	16
	.type	gdt, @object
gdt:
	.quad	0			/* 0x00: null descriptor */
	.quad	0			/* 0x08: unused */
	.quad	0x00af9b000000ffff	/* 0x10: 64-bit code, ring 0 */
	.quad	0x00cf93000000ffff	/* 0x18: flat data, ring 0 */
gdt_end:
	.size	gdt, gdt_end - gdt

	/* The lgdt operand: 16-bit limit, 64-bit linear base. */
	.balign	16
	.type	gdt_descriptor, @object
gdt_descriptor:
	.word	gdt_end - gdt - 1
	.quad	gdt
	.size	gdt_descriptor, . - gdt_descriptor

	/* No executable stack wanted (ld warns about objects without this). */
	.section .note.GNU-stack, "", @progbits
