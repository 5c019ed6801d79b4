/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The C side of the ABI between the kernel's kexec_file loader and the
 * purgatory. The kernel finds these symbols by name, requires their sizes
 * to match exactly and refuses symbols in a NOBITS (.bss) section.
 *
 * The assembly side (arch/x86) defines purgatory_start (the entry point),
 * entry64_regs (17 x u64: rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi,
 * r8-r15, rip) and stack_end (the top of the purgatory's 4 KiB stack).
 */
#ifndef PURGATORY_PURGATORY_H
#define PURGATORY_PURGATORY_H

#include "compiler.h"

#ifndef __ASSEMBLY__

#include "types.h"
#include "sha256.h"

#define PURGATORY_SHA_REGIONS	16

/* One loaded segment; entries the kernel leaves unused are all zero. */
struct purgatory_sha_region {
	u64 start;
	u64 len;
};

extern struct purgatory_sha_region
	purgatory_sha_regions[PURGATORY_SHA_REGIONS];
extern u8 purgatory_sha256_digest[SHA256_DIGEST_SIZE];

/*
 * Called by purgatory_start: returns if the segments match the digest,
 * never returns otherwise.
 */
void purgatory_verify_digest(void);

#endif /* __ASSEMBLY__ */

#endif /* PURGATORY_PURGATORY_H */
