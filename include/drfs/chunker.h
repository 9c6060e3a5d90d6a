/* SPDX-License-Identifier: MIT */
/*
 * chunker.h - content-defined chunking: FastCDC with normalized chunking
 * (Xia et al., USENIX ATC 2016), gear table keyed by the repository.
 *
 * The chunker is stateless: drfs_chunker_cut() looks at the start of a
 * buffer and returns the length of the first chunk. A caller keeps a window
 * of at least params.max bytes (or the rest of the file), cuts, consumes the
 * chunk and cuts again; so the chunking of a stream never depends on how it
 * was read.
 */
#ifndef DRFS_CHUNKER_H
#define DRFS_CHUNKER_H

#include "drfs/base.h"

struct drfs_chunker_params {
	uint32_t min;
	uint32_t avg; /* power of two */
	uint32_t max;
	uint8_t norm; /* normalization level, 0..3 */
};

#define DRFS_CHUNK_MIN_DEFAULT (256u << 10)
#define DRFS_CHUNK_AVG_DEFAULT (1u << 20)
#define DRFS_CHUNK_MAX_DEFAULT (4u << 20)
#define DRFS_CHUNK_NORM_DEFAULT 2

struct drfs_chunker {
	struct drfs_chunker_params p;
	uint64_t mask_s; /* harder mask, before avg */
	uint64_t mask_l; /* easier mask, after avg */
	uint64_t gear[256];
};

/*
 * Validate params (min < avg < max within DRFS_CHUNK_*_LIMIT, avg a power of
 * two, norm <= 3) and derive the gear table from seed (32 bytes; the
 * repository's id key through HMAC, so chunk boundaries do not leak content
 * across repositories). -EINVAL on bad params.
 */
int drfs_chunker_init(struct drfs_chunker *c,
		      const struct drfs_chunker_params *p,
		      const uint8_t seed[32]);

/*
 * Length of the first chunk of p[0..len). If len <= min, returns len. If no
 * cut point is found before max, returns min(len, max). Callers pass the
 * whole rest of the input or at least max bytes; with fewer bytes and more
 * input to come the result would differ, so don't.
 */
size_t drfs_chunker_cut(const struct drfs_chunker *c, const uint8_t *p,
			size_t len);

#endif
