/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sha256_blocks_sha_ni(u32 hash[8], const u8 *p, size_t nblocks): the
 * SHA-256 compression function (FIPS 180-4) on the SHA extensions, for
 * CPUs that have them. Called only by sha256_blocks() in purgatory/sha256.c,
 * after CPUID reported SHA, SSE2, SSSE3 and SSE4.1; the checker refuses
 * SIMD anywhere else and any other caller (abi/x86_64.py, SIMD_FUNCTIONS).
 *
 * The purgatory starts with SSE off: the old kernel's identity_mapped
 * (arch/x86/kernel/relocate_kernel_64.S in Linux 6.1) sets CR4 to PAE
 * (plus LA57) and clears CR0.TS and CR0.EM. So this function turns SSE on
 * for itself and leaves the machine as it found it:
 *
 * 1. It saves CR0 and CR4, sets CR4.OSFXSR (legacy SSE instructions stop
 *    being #UD) and CR4.OSXMMEXCPT, clears CR0.EM and CR0.TS (no #UD, no
 *    #NM on SSE) and sets CR0.MP. Nothing can run in between: machine_kexec()
 *    (arch/x86/kernel/machine_kexec_64.c) disabled interrupts and made the
 *    IDT invalid (native_idt_invalidate()), so no handler exists that could
 *    see or save the XMM registers; an NMI or exception would end in a
 *    triple fault with or without SSE on. XCR0 and CR4.OSXSAVE are left
 *    alone: they gate XSAVE and VEX-encoded (AVX) instructions, which are
 *    not used, not legacy SSE.
 * 2. It hashes. Integer SSE and SHA instructions raise no SIMD
 *    floating-point exception, so MXCSR, whatever the old kernel left in
 *    it, plays no part.
 * 3. It clears every XMM register it used, so no hash state and nothing
 *    of the old kernel's reaches the next kernel, and restores CR4 and CR0
 *    exactly as saved, before it returns: the purgatory jumps to the new
 *    kernel with the CPU state the old kernel set up.
 *
 * Built for the host (PURGATORY_HOST, the tests and the benchmarks), the
 * function runs in user mode, where the operating system has SSE on and
 * control registers cannot be touched: steps 1 and 3's CR writes are left
 * out there, nothing else.
 *
 * Registers (System V ABI; all caller-saved): rdi hash, rsi p, rdx nblocks;
 * r8/r9 the saved CR0/CR4. The stack: 256 bytes for W + K of a block, one
 * 16-byte slot for each four rounds (16-byte aligned: rsp is 8 past a
 * multiple of 16 on entry). xmm0 the message words plus constants of two
 * rounds (sha256rnds2's implicit operand), xmm1 the state words A, B, E, F,
 * xmm2 C, D, G, H, xmm3-xmm6 the last 16 message words, xmm7 scratch,
 * xmm8 the byte-swap mask, xmm9/xmm10 the state at the start of the block.
 */

#define CR0_MP		(1 << 1)
#define CR0_EM		(1 << 2)
#define CR0_TS		(1 << 3)
#define CR4_OSFXSR	(1 << 9)
#define CR4_OSXMMEXCPT	(1 << 10)

#define FRAME	(16 * 16 + 8)	/* W + K slots, then 16-byte alignment */

#define HASH	%rdi
#define DATA	%rsi
#define BLOCKS	%rdx
#define WK	%xmm0
#define ABEF	%xmm1
#define CDGH	%xmm2
#define TMP	%xmm7
#define BSWAP	%xmm8
#define ABEF_IN	%xmm9
#define CDGH_IN	%xmm10

/*
 * Four rounds with message words W[4i..4i+3] in \msg. sha256rnds2 does two
 * rounds: it reads C, D, G, H from its destination and A, B, E, F from its
 * source, and writes the new A, B, E, F to its destination. Two rounds on,
 * the old A, B, E, F are the new C, D, G, H, so the second instruction runs
 * with the operands swapped and the registers end where they started.
 *
 * The chain of sha256rnds2 sets the pace; the shuffle port it runs on is
 * best left to it. So the upper two W + K words reach xmm0 through the
 * stack (a store and a movq load) rather than a pshufd: 12 % faster here
 * (45.5 against 51 ns a block).
 */
.macro ROUNDS4 msg, i
	movdqa		\msg, WK
	paddd		16 * \i + sha256_k(%rip), WK
	movdqa		WK, 16 * \i(%rsp)
	sha256rnds2	ABEF, CDGH		/* rounds 4i, 4i + 1 */
	movq		16 * \i + 8(%rsp), WK	/* words 2 and 3 */
	sha256rnds2	CDGH, ABEF		/* rounds 4i + 2, 4i + 3 */
.endm

/*
 * W[t..t+3] for t >= 16 into \w0, which holds W[t-16..t-13]; \w1, \w2, \w3
 * hold the next twelve words. W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) +
 * W[t-16]: sha256msg1 adds the s0 terms, palignr picks W[t-7..t-4] out of
 * \w2:\w3, sha256msg2 adds the s1 terms (of words it computes itself for
 * the upper two).
 */
.macro SCHEDULE w0, w1, w2, w3
	sha256msg1	\w1, \w0
	movdqa		\w3, TMP
	palignr		$4, \w2, TMP
	paddd		TMP, \w0
	sha256msg2	\w3, \w0
.endm

/* W[4i..4i+3], big-endian in the input, into \msg. */
.macro LOAD msg, i
	movdqu		16 * \i(DATA), \msg
	pshufb		BSWAP, \msg
.endm

	.text
	.globl	sha256_blocks_sha_ni
	.type	sha256_blocks_sha_ni, @function
sha256_blocks_sha_ni:
#ifndef PURGATORY_HOST
	/* 1. SSE on, for this function only (see the top of the file). */
	movq	%cr0, %r8
	movq	%cr4, %r9
	movq	%r8, %rax
	andq	$~(CR0_EM | CR0_TS), %rax
	orq	$CR0_MP, %rax
	movq	%rax, %cr0
	movq	%r9, %rax
	orq	$(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
	movq	%rax, %cr4
#endif
	subq	$FRAME, %rsp

	/*
	 * hash[] holds a, b, c, d, e, f, g, h from the lowest address; the
	 * instructions want A, B, E, F and C, D, G, H, A and C in the top
	 * word.
	 */
	movdqu	0(HASH), TMP		/* d c b a (top word first) */
	movdqu	16(HASH), CDGH		/* h g f e */
	pshufd	$0xb1, TMP, TMP		/* c d a b */
	pshufd	$0x1b, CDGH, CDGH	/* e f g h */
	movdqa	TMP, ABEF
	palignr	$8, CDGH, ABEF		/* a b e f */
	pblendw	$0xf0, TMP, CDGH	/* c d g h */
	movdqa	sha256_bswap32(%rip), BSWAP

.Lblock:
	movdqa	ABEF, ABEF_IN
	movdqa	CDGH, CDGH_IN

	LOAD	%xmm3, 0
	ROUNDS4	%xmm3, 0
	LOAD	%xmm4, 1
	ROUNDS4	%xmm4, 1
	LOAD	%xmm5, 2
	ROUNDS4	%xmm5, 2
	LOAD	%xmm6, 3
	ROUNDS4	%xmm6, 3

	/* Rounds 16-63: the oldest four words make way for the next four. */
	.irp	i, 4, 8, 12
	SCHEDULE %xmm3, %xmm4, %xmm5, %xmm6
	ROUNDS4	%xmm3, \i
	SCHEDULE %xmm4, %xmm5, %xmm6, %xmm3
	ROUNDS4	%xmm4, (\i + 1)
	SCHEDULE %xmm5, %xmm6, %xmm3, %xmm4
	ROUNDS4	%xmm5, (\i + 2)
	SCHEDULE %xmm6, %xmm3, %xmm4, %xmm5
	ROUNDS4	%xmm6, (\i + 3)
	.endr

	paddd	ABEF_IN, ABEF
	paddd	CDGH_IN, CDGH
	addq	$64, DATA
	decq	BLOCKS
	jnz	.Lblock

	/* Back to a, b, c, d, e, f, g, h. */
	pshufd	$0x1b, ABEF, ABEF	/* f e b a */
	pshufd	$0xb1, CDGH, CDGH	/* d c h g */
	movdqa	ABEF, TMP
	pblendw	$0xf0, CDGH, TMP	/* d c b a */
	palignr	$8, ABEF, CDGH		/* h g f e */
	movdqu	TMP, 0(HASH)
	movdqu	CDGH, 16(HASH)

	/* 3. Nothing left in the XMM registers used, then SSE off again. */
	pxor	%xmm0, %xmm0
	pxor	%xmm1, %xmm1
	pxor	%xmm2, %xmm2
	pxor	%xmm3, %xmm3
	pxor	%xmm4, %xmm4
	pxor	%xmm5, %xmm5
	pxor	%xmm6, %xmm6
	pxor	%xmm7, %xmm7
	pxor	%xmm8, %xmm8
	pxor	%xmm9, %xmm9
	pxor	%xmm10, %xmm10
	addq	$FRAME, %rsp
#ifndef PURGATORY_HOST
	movq	%r9, %cr4
	movq	%r8, %cr0
#endif
	ret
	.size	sha256_blocks_sha_ni, . - sha256_blocks_sha_ni

	.section .rodata
	.balign	16
	/* pshufb mask: reverse the bytes of each 32-bit word. */
	.type	sha256_bswap32, @object
sha256_bswap32:
	.byte	3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12
	.size	sha256_bswap32, . - sha256_bswap32

	/* FIPS 180-4, 4.2.2: the 64 round constants. */
	.balign	16
	.type	sha256_k, @object
sha256_k:
	.long	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5
	.long	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
	.long	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3
	.long	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
	.long	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc
	.long	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
	.long	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7
	.long	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
	.long	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13
	.long	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
	.long	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3
	.long	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
	.long	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5
	.long	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
	.long	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208
	.long	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
	.size	sha256_k, . - sha256_k

	/* No executable stack wanted (ld warns about objects without this). */
	.section .note.GNU-stack, "", @progbits
