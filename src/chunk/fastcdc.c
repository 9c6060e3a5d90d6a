/* SPDX-License-Identifier: MIT */
/*
 * fastcdc.c - FastCDC content-defined chunking with normalized chunking.
 *
 * Wen Xia et al., "FastCDC: a Fast and Efficient Content-Defined Chunking
 * Approach for Data Deduplication", USENIX ATC 2016, and the 2020 IEEE TPDS
 * version ("The Design of Fast Content-Defined Chunking for Data
 * Deduplication Based Storage Systems"):
 *
 *   - gear hash, h = (h << 1) + gear[byte]; a cut where (h & mask) == 0;
 *   - hashing starts only at min ("cut-point skipping"): the first min bytes
 *     of a chunk are never looked at, and h starts from 0 there;
 *   - normalized chunking: with b = log2(avg) and level n, the mask before
 *     avg has b + n one bits (cuts harder), after avg b - n (easier), which
 *     pulls chunk sizes towards avg;
 *   - the masks' one bits are spread over the upper 48 bits of h ("zero
 *     padding" in the paper) so that each tested bit depends on a long
 *     window of input (bit k of h depends on the last k + 1 bytes).
 *
 * Everything that decides a boundary (mask layout, gear derivation, where
 * hashing starts) is part of the repository format: changing it does not
 * break old repositories but ends deduplication against them.
 */
#include "drfs/chunker.h"
#include "drfs/crypto.h"
#include "drfs/limits.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* One bits of a mask live in bits [64 - MASK_SPAN, 63]. */
#define MASK_SPAN 48

/* A mask with n one bits spread evenly from bit 63 downwards. */
static uint64_t spread_mask(unsigned n)
{
	uint64_t m = 0;

	/* n <= log2(DRFS_CHUNK_MAX_LIMIT) + 3 = 27 < MASK_SPAN */
	for (unsigned i = 0; i < n; i++)
		m |= 1ull << (63 - i * MASK_SPAN / n);
	return m;
}

static bool params_ok(const struct drfs_chunker_params *p)
{
	if (p->min < DRFS_CHUNK_MIN_LIMIT || p->max > DRFS_CHUNK_MAX_LIMIT)
		return false;
	if (!(p->min < p->avg && p->avg < p->max))
		return false;
	if (p->avg & (p->avg - 1))
		return false;
	return p->norm <= 3;
}

int drfs_chunker_init(struct drfs_chunker *c,
		      const struct drfs_chunker_params *p,
		      const uint8_t seed[32])
{
	static const char label[] = "drfs-gear";
	uint8_t msg[sizeof(label) - 1 + 4], mac[32];
	unsigned bits;

	if (!params_ok(p))
		return -EINVAL;
	bits = (unsigned)__builtin_ctz(p->avg);

	c->p = *p;
	c->mask_s = spread_mask(bits + p->norm);
	c->mask_l = spread_mask(bits - p->norm);
	memcpy(msg, label, sizeof(label) - 1);
	for (uint32_t i = 0; i < 256; i++) {
		drfs_put_le32(msg + sizeof(label) - 1, i);
		drfs_hmac_sha256(seed, 32, msg, sizeof(msg), mac);
		c->gear[i] = drfs_get_le64(mac);
	}
	return 0;
}

/*
 * Hash p[i..end) into *hp; return the chunk length (index + 1) at the first
 * position where (h & mask) == 0, or 0 if there is none. Unrolled by eight:
 * the loop-carried chain is one lea per byte, so the loop overhead matters.
 */
static inline size_t scan(const uint64_t *restrict gear,
			  const uint8_t *restrict p, size_t i, size_t end,
			  uint64_t mask, uint64_t *hp)
{
	uint64_t h = *hp;

#define STEP(k)                                                                \
	do {                                                                   \
		h = (h << 1) + gear[p[i + (k)]];                               \
		if (unlikely(!(h & mask)))                                     \
			return i + (k) + 1;                                    \
	} while (0)

	for (; i + 8 <= end; i += 8) {
		STEP(0);
		STEP(1);
		STEP(2);
		STEP(3);
		STEP(4);
		STEP(5);
		STEP(6);
		STEP(7);
	}
	for (; i < end; i++)
		STEP(0);
#undef STEP
	*hp = h;
	return 0;
}

size_t drfs_chunker_cut(const struct drfs_chunker *c, const uint8_t *p,
			size_t len)
{
	size_t end, normal, n;
	uint64_t h = 0;

	if (len <= c->p.min)
		return len;
	end = MIN(len, (size_t)c->p.max);
	normal = MIN(end, (size_t)c->p.avg);

	n = scan(c->gear, p, c->p.min, normal, c->mask_s, &h);
	if (n)
		return n;
	n = scan(c->gear, p, normal, end, c->mask_l, &h);
	if (n)
		return n;
	return end;
}
