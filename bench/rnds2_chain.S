/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench_rnds2_chain(size_t n): n sha256rnds2 instructions, each needing
 * the result of the one before, as in any one SHA-256 stream (the state
 * passes from each two rounds to the next). bench/run.py times 32 of them
 * per 64-byte block against the SHA-NI path: the floor no single-stream
 * SHA-NI code can go below on this CPU. Host only (user mode, SSE on).
 */
	.text
	.globl	bench_rnds2_chain
	.type	bench_rnds2_chain, @function
bench_rnds2_chain:
	pxor	%xmm0, %xmm0
	pxor	%xmm1, %xmm1
	pxor	%xmm2, %xmm2
	shrq	$1, %rdi
	jz	2f
1:	sha256rnds2	%xmm1, %xmm2
	sha256rnds2	%xmm2, %xmm1
	decq	%rdi
	jnz	1b
2:	ret
	.size	bench_rnds2_chain, . - bench_rnds2_chain

	.section .note.GNU-stack, "", @progbits
