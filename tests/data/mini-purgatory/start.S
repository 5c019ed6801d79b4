/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The assembly half of the checker's minimal purgatory: entry, a jump to
 * the next kernel through entry64_regs, and the stack.
 */
	.text
	.type	entry64, @function
entry64:
	leaq	entry64_regs(%rip), %rax
	movq	0x20(%rax), %rsp
	jmpq	*0x80(%rax)
	.size	entry64, . - entry64

	.globl	purgatory_start
	.type	purgatory_start, @function
purgatory_start:
	leaq	stack_end(%rip), %rsp
	/* EXTRA INSTRUCTIONS */
	call	verify_digest
	testl	%eax, %eax
	jz	entry64
1:	hlt
	jmp	1b
	.size	purgatory_start, . - purgatory_start

	.data
	.balign	8
	.globl	entry64_regs
	.type	entry64_regs, @object
entry64_regs:
	.skip	136
	.size	entry64_regs, 136

	.balign	4096
stack:
	.skip	4096
	.globl	stack_end
stack_end:

	.section .note.GNU-stack, "", @progbits

#ifdef __CET__
	/* As <cet.h> does under -fcf-protection: mark the object IBT/SHSTK. */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4, 16, 5		/* namesz, descsz, NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000002, 4, 3	/* X86_FEATURE_1_AND: IBT | SHSTK */
	.p2align 3
#endif
