/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * entry64: the hand-over to the new kernel. The kernel's loader reads
 * entry64_regs, sets what the new kernel expects (rsi = boot_params,
 * rbx = 0, rsp = stack_end, rip = its 64-bit entry point) and writes it
 * back; the other registers keep the values built in here (zero).
 * entry64 reloads CS with the purgatory's own code selector, loads all 16
 * general registers and jumps to rip.
 *
 * Each register is loaded RIP-relative straight from entry64_regs and the
 * final jump takes its target from memory, so no base register has to
 * survive the loads and the new kernel's stack is never written.
 */
#include "segment.h"

/* Offsets in entry64_regs: the order the kernel's loader relies on. */
#define REG_RAX	0x00
#define REG_RCX	0x08
#define REG_RDX	0x10
#define REG_RBX	0x18
#define REG_RSP	0x20
#define REG_RBP	0x28
#define REG_RSI	0x30
#define REG_RDI	0x38
#define REG_R8	0x40
#define REG_R9	0x48
#define REG_R10	0x50
#define REG_R11	0x58
#define REG_R12	0x60
#define REG_R13	0x68
#define REG_R14	0x70
#define REG_R15	0x78
#define REG_RIP	0x80
#define ENTRY64_REGS_SIZE	0x88

	.text
	.globl	entry64
	.type	entry64, @function
entry64:
	/* Far return to the next instruction with the new CS. */
	leaq	.Lnew_cs(%rip), %rax
	pushq	$PURGATORY_CS
	pushq	%rax
	lretq
.Lnew_cs:
	LOAD_DATA_SEGMENTS

	movq	entry64_regs + REG_RAX(%rip), %rax
	movq	entry64_regs + REG_RCX(%rip), %rcx
	movq	entry64_regs + REG_RDX(%rip), %rdx
	movq	entry64_regs + REG_RBX(%rip), %rbx
	movq	entry64_regs + REG_RSP(%rip), %rsp
	movq	entry64_regs + REG_RBP(%rip), %rbp
	movq	entry64_regs + REG_RSI(%rip), %rsi
	movq	entry64_regs + REG_RDI(%rip), %rdi
	movq	entry64_regs + REG_R8(%rip), %r8
	movq	entry64_regs + REG_R9(%rip), %r9
	movq	entry64_regs + REG_R10(%rip), %r10
	movq	entry64_regs + REG_R11(%rip), %r11
	movq	entry64_regs + REG_R12(%rip), %r12
	movq	entry64_regs + REG_R13(%rip), %r13
	movq	entry64_regs + REG_R14(%rip), %r14
	movq	entry64_regs + REG_R15(%rip), %r15
	jmpq	*entry64_regs + REG_RIP(%rip)
	.size	entry64, . - entry64

	/* Written by the kernel's loader; zero until then. */
	.data
	.balign	8
	.globl	entry64_regs
	.type	entry64_regs, @object
entry64_regs:
	.fill	ENTRY64_REGS_SIZE / 8, 8, 0
	.size	entry64_regs, ENTRY64_REGS_SIZE

	/* No executable stack wanted (ld warns about objects without this). */
	.section .note.GNU-stack, "", @progbits
