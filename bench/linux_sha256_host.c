// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host entry point for bench/run.py's reference: Linux 6.1's purgatory
 * hash (lib/crypto/sha256.c, compiled with the command Kbuild recorded for
 * arch/x86/purgatory/sha256.o) hashing two buffers as the purgatory hashes
 * two segments. Linux's sha256_init() is an inline in include/crypto/sha2.h;
 * the state and its initial values (FIPS 180-4, 5.3.3) are restated here so
 * that this file needs no kernel header.
 */
#include <stddef.h>
#include <stdint.h>

struct linux_sha256_state {		/* include/crypto/sha2.h, 6.1 */
	uint32_t state[8];
	uint64_t count;
	uint8_t buf[64];
};

void sha256_update(struct linux_sha256_state *sctx, const uint8_t *data,
		   unsigned int len);
void sha256_final(struct linux_sha256_state *sctx, uint8_t *out);

__attribute__((visibility("default")))
void bench_linux_sha256(const void *a, size_t a_len, const void *b,
			size_t b_len, uint8_t *digest);

void bench_linux_sha256(const void *a, size_t a_len, const void *b,
			size_t b_len, uint8_t *digest)
{
	struct linux_sha256_state s = {
		.state = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 },
	};

	sha256_update(&s, a, a_len);
	sha256_update(&s, b, b_len);
	sha256_final(&s, digest);
}
