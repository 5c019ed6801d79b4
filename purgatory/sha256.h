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

void sha256_init(struct sha256_state *state);
void sha256_update(struct sha256_state *state, const void *data, size_t len);
void sha256_final(struct sha256_state *state,
		  u8 digest[SHA256_DIGEST_SIZE]);

#endif /* PURGATORY_SHA256_H */
