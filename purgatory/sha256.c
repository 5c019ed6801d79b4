// SPDX-License-Identifier: GPL-2.0-only
/*
 * SHA-256 as specified in FIPS 180-4, written for the purgatory: no libc,
 * no system header, general-purpose registers only (SSE state is off when
 * the purgatory runs), and fast, because every kexec hashes the whole new
 * kernel and initrd with it before starting them.
 *
 * Speed comes from the compression function: 64 fully unrolled rounds
 * whose working variables are renamed instead of shifted, so they stay in
 * registers and K[i] folds into an immediate; a 16-word circular message
 * schedule; rotates gcc turns into single ror instructions, nested so that
 * each Sigma costs three of them; big-endian loads via __builtin_bswap32;
 * whole 64-byte blocks hashed straight from the input, without a copy.
 *
 * The same rounds are built twice: for baseline x86-64 and, with
 * target("bmi2,movbe"), for CPUs with rorx (a rotate that does not overwrite
 * its source, so fewer register copies) and movbe. Unless SHA256_GENERIC_ONLY
 * is defined (SHA256=generic), sha256_blocks() asks CPUID once which the CPU
 * can run; with SHA256_SHA_NI defined (SHA256=auto, which also links
 * arch/x86/sha256-ni.S and tells the checker) it uses the SHA extensions
 * where the CPU has them.
 */
#include "sha256.h"
#include "string.h"

static const u32 K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const u32 H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* Words read and written at any alignment. */
struct unaligned_u32 {
	u32 v;
} __packed;

struct unaligned_u64 {
	u64 v;
} __packed;

static inline u32 load_be32(const u8 *p)
{
	u32 v = ((const struct unaligned_u32 *)p)->v;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline void store_be32(u8 *p, u32 v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	((struct unaligned_u32 *)p)->v = v;
}

static inline void store_be64(u8 *p, u64 v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	((struct unaligned_u64 *)p)->v = v;
}

static inline u32 ror32(u32 x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

/* Sigma0 = ROTR^2 ^ ROTR^13 ^ ROTR^22, with three rotates in a chain. */
static inline u32 big_sigma0(u32 x)
{
	return ror32(x ^ ror32(x ^ ror32(x, 9), 11), 2);
}

/* Sigma1 = ROTR^6 ^ ROTR^11 ^ ROTR^25 */
static inline u32 big_sigma1(u32 x)
{
	return ror32(x ^ ror32(x ^ ror32(x, 14), 5), 6);
}

/* sigma0 = ROTR^7 ^ ROTR^18 ^ SHR^3 */
static inline u32 small_sigma0(u32 x)
{
	return ror32(x ^ ror32(x, 11), 7) ^ (x >> 3);
}

/* sigma1 = ROTR^17 ^ ROTR^19 ^ SHR^10 */
static inline u32 small_sigma1(u32 x)
{
	return ror32(x ^ ror32(x, 2), 17) ^ (x >> 10);
}

/* W[t] for t < 16: the block's words, big-endian. */
#define MSG_LOAD(t)	(w[t] = load_be32(p + 4 * (t)))

/*
 * W[t] for t >= 16, kept in a circular buffer of the last 16 words. The
 * barrier makes gcc load the words it needs here, mostly as memory
 * operands, instead of keeping words in registers for rounds to come and
 * spilling the working variables (about 2 instructions per byte less).
 * The sum is built in this order, pinned by OPTIMIZER_HIDE_VAR(): left to
 * itself gcc adds the two memory words together first, which costs a load
 * more per word (0.7 instructions per byte).
 */
#define MSG_SCHEDULE(t)							\
	({								\
		u32 w_;							\
									\
		barrier();						\
		w_ = small_sigma1(w[((t) - 2) & 15]);			\
		OPTIMIZER_HIDE_VAR(w_);					\
		w_ += w[((t) - 7) & 15];				\
		w_ += small_sigma0(w[((t) - 15) & 15]);			\
		OPTIMIZER_HIDE_VAR(w_);					\
		w[(t) & 15] += w_;					\
	})

/*
 * One round, with Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c)): this round's
 * a ^ b is the next round's b ^ c, carried over in bc.
 */
#define ROUND(a, b, c, d, e, f, g, h, t, msg)				\
	do {								\
		u32 t1 = (h) + big_sigma1(e) + ((((f) ^ (g)) & (e)) ^ (g)) + \
			 K[t] + msg(t);					\
		u32 ab = (a) ^ (b);					\
									\
		(d) += t1;						\
		(h) = t1 + big_sigma0(a) + ((ab & bc) ^ (b));		\
		bc = ab;						\
	} while (0)

/* Eight rounds, renaming the working variables instead of moving them. */
#define ROUNDS8(t, msg)							\
	do {								\
		ROUND(a, b, c, d, e, f, g, h, (t) + 0, msg);		\
		ROUND(h, a, b, c, d, e, f, g, (t) + 1, msg);		\
		ROUND(g, h, a, b, c, d, e, f, (t) + 2, msg);		\
		ROUND(f, g, h, a, b, c, d, e, (t) + 3, msg);		\
		ROUND(e, f, g, h, a, b, c, d, (t) + 4, msg);		\
		ROUND(d, e, f, g, h, a, b, c, (t) + 5, msg);		\
		ROUND(c, d, e, f, g, h, a, b, (t) + 6, msg);		\
		ROUND(b, c, d, e, f, g, h, a, (t) + 7, msg);		\
	} while (0)

/*
 * Compress nblocks (at least one) whole 64-byte blocks into hash[]: the
 * rounds of both general-register paths, inlined into each.
 */
static __always_inline void sha256_rounds(u32 hash[8], const u8 *p,
					  size_t nblocks)
{
	u32 a = hash[0], b = hash[1], c = hash[2], d = hash[3];
	u32 e = hash[4], f = hash[5], g = hash[6], h = hash[7];
	u32 w[16];
	u32 bc;

	KEEP_IN_MEMORY(w);
	do {
		bc = b ^ c;
		ROUNDS8(0, MSG_LOAD);
		ROUNDS8(8, MSG_LOAD);
		ROUNDS8(16, MSG_SCHEDULE);
		ROUNDS8(24, MSG_SCHEDULE);
		ROUNDS8(32, MSG_SCHEDULE);
		ROUNDS8(40, MSG_SCHEDULE);
		ROUNDS8(48, MSG_SCHEDULE);
		ROUNDS8(56, MSG_SCHEDULE);

		a = hash[0] += a;
		b = hash[1] += b;
		c = hash[2] += c;
		d = hash[3] += d;
		e = hash[4] += e;
		f = hash[5] += f;
		g = hash[6] += g;
		h = hash[7] += h;
		p += SHA256_BLOCK_SIZE;
	} while (--nblocks);
}

/* The baseline path: what every x86-64 CPU runs. */
static __noinline void sha256_blocks_generic(u32 hash[8], const u8 *p,
					     size_t nblocks)
{
	sha256_rounds(hash, p, nblocks);
}

__section(".data")
u8 purgatory_sha256_path = SHA256_PATH_UNCHOSEN;

#ifdef SHA256_GENERIC_ONLY

static void sha256_blocks(u32 hash[8], const u8 *p, size_t nblocks)
{
	purgatory_sha256_path = SHA256_PATH_GENERIC;
	sha256_blocks_generic(hash, p, nblocks);
}

#else /* !SHA256_GENERIC_ONLY */

/*
 * The BMI2 path: the same C, compiled for a CPU with rorx (and movbe, a
 * load and byte swap in one, which every CPU with BMI2 so far also has:
 * both are checked). It touches general registers only, so there is no
 * state to enable.
 */
static __noinline __target("bmi2,movbe") void sha256_blocks_bmi2(u32 hash[8],
							     const u8 *p,
							     size_t nblocks)
{
	sha256_rounds(hash, p, nblocks);
}

#ifdef SHA256_SHA_NI
#define IS_ENABLED_SHA_NI	1
#else
#define IS_ENABLED_SHA_NI	0
#endif

/* CPUID bits, from the Intel SDM vol. 2A, "CPUID". */
#define CPUID_1_EDX_SSE2	(1u << 26)
#define CPUID_1_ECX_SSSE3	(1u << 9)	/* pshufb, palignr */
#define CPUID_1_ECX_SSE4_1	(1u << 19)	/* pblendw */
#define CPUID_1_ECX_MOVBE	(1u << 22)
#define CPUID_7_EBX_BMI2	(1u << 8)
#define CPUID_7_EBX_SHA		(1u << 29)

struct cpuid_regs {
	u32 eax, ebx, ecx, edx;
};

static __always_inline void cpuid(u32 leaf, u32 subleaf,
				  struct cpuid_regs *r)
{
	__asm__ __volatile__ ("cpuid"
			      : "=a" (r->eax), "=b" (r->ebx), "=c" (r->ecx),
				"=d" (r->edx)
			      : "0" (leaf), "2" (subleaf));
}

/*
 * The best path this CPU runs. Every x86-64 CPU has leaf 1; leaf 7 exists
 * when leaf 0 says so. The SHA-NI code also needs SSE2, SSSE3 and SSE4.1.
 */
static __always_inline u8 sha256_cpu_path(void)
{
	const u32 sse = CPUID_1_ECX_SSSE3 | CPUID_1_ECX_SSE4_1;
	struct cpuid_regs id0, id1, id7;

	cpuid(0, 0, &id0);
	if (id0.eax < 7)
		return SHA256_PATH_GENERIC;
	cpuid(1, 0, &id1);
	cpuid(7, 0, &id7);
	if (IS_ENABLED_SHA_NI && (id7.ebx & CPUID_7_EBX_SHA) &&
	    (id1.edx & CPUID_1_EDX_SSE2) && (id1.ecx & sse) == sse)
		return SHA256_PATH_SHA_NI;
	if ((id7.ebx & CPUID_7_EBX_BMI2) && (id1.ecx & CPUID_1_ECX_MOVBE))
		return SHA256_PATH_BMI2;
	return SHA256_PATH_GENERIC;
}

/*
 * The dispatch: the one function that may reference sha256_blocks_sha_ni
 * (the checker proves it, see abi/x86_64.py), and only after CPUID said
 * the CPU has the SHA extensions. The choice is made once and kept in
 * purgatory_sha256_path; a host test may set that byte first to force a
 * path.
 */
static __noinline void sha256_blocks(u32 hash[8], const u8 *p,
				     size_t nblocks)
{
	if (purgatory_sha256_path == SHA256_PATH_UNCHOSEN)
		purgatory_sha256_path = sha256_cpu_path();

	switch (purgatory_sha256_path) {
#ifdef SHA256_SHA_NI
	case SHA256_PATH_SHA_NI:
		sha256_blocks_sha_ni(hash, p, nblocks);
		break;
#endif
	case SHA256_PATH_BMI2:
		sha256_blocks_bmi2(hash, p, nblocks);
		break;
	default:
		sha256_blocks_generic(hash, p, nblocks);
		break;
	}
}

#endif /* SHA256_GENERIC_ONLY */

void sha256_init(struct sha256_state *state)
{
	int i;

	for (i = 0; i < 8; i++)
		state->h[i] = H0[i];
	state->count = 0;
}

void sha256_update(struct sha256_state *state, const void *data, size_t len)
{
	const u8 *p = data;
	size_t fill = state->count % SHA256_BLOCK_SIZE;

	state->count += len;

	if (fill) {
		size_t room = SHA256_BLOCK_SIZE - fill;

		if (len < room) {
			memcpy(state->buf + fill, p, len);
			return;
		}
		memcpy(state->buf + fill, p, room);
		sha256_blocks(state->h, state->buf, 1);
		p += room;
		len -= room;
	}

	if (len >= SHA256_BLOCK_SIZE) {
		sha256_blocks(state->h, p, len / SHA256_BLOCK_SIZE);
		p += len & ~(size_t)(SHA256_BLOCK_SIZE - 1);
		len %= SHA256_BLOCK_SIZE;
	}

	if (len)
		memcpy(state->buf, p, len);
}

void sha256_final(struct sha256_state *state, u8 digest[SHA256_DIGEST_SIZE])
{
	size_t fill = state->count % SHA256_BLOCK_SIZE;
	const size_t length_at = SHA256_BLOCK_SIZE - 8;
	int i;

	/* Padding: one 1 bit, zeros, then the length in bits, big-endian. */
	state->buf[fill++] = 0x80;
	if (fill > length_at) {
		memset(state->buf + fill, 0, SHA256_BLOCK_SIZE - fill);
		sha256_blocks(state->h, state->buf, 1);
		fill = 0;
	}
	memset(state->buf + fill, 0, length_at - fill);
	store_be64(state->buf + length_at, state->count << 3);
	sha256_blocks(state->h, state->buf, 1);

	for (i = 0; i < 8; i++)
		store_be32(digest + 4 * i, state->h[i]);
}
