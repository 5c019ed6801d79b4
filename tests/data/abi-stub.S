/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The smallest object with the purgatory's ABI: it hands over to the kernel
 * without checking anything. Tests build it with -D knobs to get the faults
 * the emulator and the loader must catch:
 *   WRITE_OUTSIDE    store a byte into the first hashed region
 *   USE_SSE          execute an SSE instruction (CR4.OSFXSR is off)
 *   BUSY_LOOP        count down from 100000 in a two-instruction loop first
 *   HALT             hlt (interrupts are off: the CPU stops for good)
 *   FORGET_R15       hand over without loading r15
 *   REGS_SIZE=N      declare entry64_regs with st_size N
 *   REGIONS_IN_BSS   put purgatory_sha_regions in .bss
 */
	.text
	.globl	purgatory_start
	.type	purgatory_start, @function
purgatory_start:
#ifdef WRITE_OUTSIDE
	movq	purgatory_sha_regions(%rip), %rax
	movb	$0, (%rax)
#endif
#ifdef USE_SSE
	pxor	%xmm0, %xmm0
#endif
#ifdef HALT
	hlt
#endif
#ifdef BUSY_LOOP
	movl	$100000, %ecx
1:	decl	%ecx
	jnz	1b
#endif
	leaq	entry64_regs(%rip), %rax
	movq	8(%rax), %rcx
	movq	16(%rax), %rdx
	movq	24(%rax), %rbx
	movq	32(%rax), %rsp
	movq	40(%rax), %rbp
	movq	48(%rax), %rsi
	movq	56(%rax), %rdi
	movq	64(%rax), %r8
	movq	72(%rax), %r9
	movq	80(%rax), %r10
	movq	88(%rax), %r11
	movq	96(%rax), %r12
	movq	104(%rax), %r13
	movq	112(%rax), %r14
#ifndef FORGET_R15
	movq	120(%rax), %r15
#endif
	pushq	128(%rax)
	movq	0(%rax), %rax
	ret
	.size	purgatory_start, . - purgatory_start

#ifndef REGS_SIZE
#define REGS_SIZE 136
#endif

	.data
	.balign	8
	.globl	entry64_regs, purgatory_sha256_digest, stack_end
entry64_regs:
	.skip	REGS_SIZE
	.size	entry64_regs, REGS_SIZE
purgatory_sha256_digest:
	.skip	32
	.size	purgatory_sha256_digest, 32
	.balign	16
stack:
	.skip	4096
stack_end:

#ifdef REGIONS_IN_BSS
	.bss
#endif
	.balign	8
	.globl	purgatory_sha_regions
purgatory_sha_regions:
	.skip	256
	.size	purgatory_sha_regions, 256

	.section .note.GNU-stack, "", @progbits
