// SPDX-License-Identifier: GPL-2.0-only
/*
 * The C half of a minimal purgatory for the checker's tests: the kernel ABI
 * data symbols and a loop over the regions, built with the project's flags.
 * It passes every rule; each negative test changes one flag or one line.
 */
#pragma GCC visibility push(hidden)

struct sha_region {
	unsigned long start;
	unsigned long len;
};

struct sha_region purgatory_sha_regions[16] = { { 0, 0 } };
unsigned char purgatory_sha256_digest[32] = { 0 };
extern unsigned long entry64_regs[17];
static unsigned char fold[32];

static void fold_region(const unsigned char *p, unsigned long len)
{
	unsigned long i;
	int j;

	for (i = 0; i + 32 <= len; i += 32)
		for (j = 0; j < 32; j++)
			fold[j] ^= p[i + j];
}

int verify_digest(void)
{
	int r, j, diff = 0;

	for (r = 0; r < 16; r++)
		fold_region((const unsigned char *)purgatory_sha_regions[r].start,
			    purgatory_sha_regions[r].len);
	for (j = 0; j < 32; j++)
		diff |= fold[j] ^ purgatory_sha256_digest[j];
	return diff || !entry64_regs[16];
}
