// SPDX-License-Identifier: GPL-2.0-only
/*
 * The purgatory's one job in C: hash every segment the kernel loaded and
 * refuse to go on if the result differs from the digest the old kernel
 * computed before it stopped. A segment corrupted in between (a stray DMA,
 * a bug in the old kernel) must never be started.
 *
 * Both tables are written by the kernel's loader, which refuses symbols in
 * a NOBITS section: they are zero-initialised, and -fno-zero-initialized-in-bss
 * together with the explicit section keeps them in .data.
 */
#include "purgatory.h"
#include "sha256.h"
#include "string.h"

__section(".data")
struct purgatory_sha_region purgatory_sha_regions[PURGATORY_SHA_REGIONS] = {
	{ 0, 0 },
};

__section(".data")
u8 purgatory_sha256_digest[SHA256_DIGEST_SIZE] = { 0 };

void purgatory_verify_digest(void)
{
	struct sha256_state state;
	u8 digest[SHA256_DIGEST_SIZE];
	int i;

	sha256_init(&state);
	for (i = 0; i < PURGATORY_SHA_REGIONS; i++) {
		const struct purgatory_sha_region *region =
			&purgatory_sha_regions[i];

		if (region->len == 0)
			continue;
		sha256_update(&state, (const void *)(uintptr_t)region->start,
			      region->len);
	}
	sha256_final(&state, digest);

	if (memcmp(digest, purgatory_sha256_digest, sizeof(digest)) != 0) {
		/* Spin forever; the empty volatile asm keeps the loop. */
		for (;;)
			__asm__ __volatile__ ("" : : : "memory");
	}
}
