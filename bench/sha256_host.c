// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host entry point for bench/run.py: the purgatory's own SHA-256
 * (purgatory/sha256.c and arch/x86/sha256-ni.S, built with the purgatory's
 * flags and PURGATORY_HOST) hashes two buffers as the purgatory hashes two
 * segments, one update each, so Python (ctypes) times it against Linux's
 * and OpenSSL's in one process. path forces a path (purgatory/sha256.h's
 * SHA256_PATH_*), 0 lets CPUID choose; the path taken is returned.
 */
#include "sha256.h"

__attribute__((visibility("default")))
int bench_sha256(const void *a, size_t a_len, const void *b, size_t b_len,
		 u8 *digest, int path);

int bench_sha256(const void *a, size_t a_len, const void *b, size_t b_len,
		 u8 *digest, int path)
{
	struct sha256_state state;

	purgatory_sha256_path = path;
	sha256_init(&state);
	sha256_update(&state, a, a_len);
	sha256_update(&state, b, b_len);
	sha256_final(&state, digest);
	return purgatory_sha256_path;
}
