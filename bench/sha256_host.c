// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host entry point for bench/run.py: the purgatory's own SHA-256, built
 * with the purgatory's C flags into a shared object, hashes a whole buffer
 * in one call so Python (ctypes) times it against hashlib in one process.
 */
#include "sha256.h"

__attribute__((visibility("default")))
void bench_sha256(const void *data, size_t len, u8 *digest);

void bench_sha256(const void *data, size_t len, u8 *digest)
{
	struct sha256_state state;

	sha256_init(&state);
	sha256_update(&state, data, len);
	sha256_final(&state, digest);
}
