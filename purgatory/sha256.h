/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SHA-256 (FIPS 180-4) with an init/update/final interface. The purgatory
 * hashes every loaded segment with it; the host tests build the same file
 * and compare it with Python's hashlib.
 */
#ifndef PURGATORY_SHA256_H
#define PURGATORY_SHA256_H

#include "types.h"

#define SHA256_BLOCK_SIZE	64
#define SHA256_DIGEST_SIZE	32

struct sha256_state {
	u32 h[8];
	u64 count;			/* bytes hashed so far */
	u8 buf[SHA256_BLOCK_SIZE];	/* the unfinished block */
};

/*
 * The compression function the purgatory hashed with, left in its data
 * (purgatory_sha256_path, one byte) so that a test can read from the
 * machine which path a kexec took. Zero until the first block is hashed.
 */
#define SHA256_PATH_UNCHOSEN	0
#define SHA256_PATH_GENERIC	1	/* general registers, baseline x86-64 */
#define SHA256_PATH_BMI2	2	/* general registers, rorx */
#define SHA256_PATH_SHA_NI	3	/* SHA extensions, SSE enabled briefly */

extern u8 purgatory_sha256_path;

/*
 * The SHA-NI compression function (arch/x86/sha256-ni.S): SSE code, called
 * only by sha256.c's dispatch after CPUID said the CPU has it.
 */
void sha256_blocks_sha_ni(u32 hash[8], const u8 *p, size_t nblocks);

void sha256_init(struct sha256_state *state);
void sha256_update(struct sha256_state *state, const void *data, size_t len);
void sha256_final(struct sha256_state *state,
		  u8 digest[SHA256_DIGEST_SIZE]);

#endif /* PURGATORY_SHA256_H */
