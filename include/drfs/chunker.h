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

#include <stdatomic.h>

#include "drfs/base.h"

#include <stdatomic.h>

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
 * After init c is only read: one chunker serves any number of threads at
 * once, and needs no release.
 *
 * Length of the first chunk of p[0..len). If len <= min, returns len. If no
 * cut point is found before max, returns min(len, max). Callers pass the
 * whole rest of the input or at least max bytes; with fewer bytes and more
 * input to come the result would differ, so don't.
 */
size_t drfs_chunker_cut(const struct drfs_chunker *c, const uint8_t *p,
			size_t len);

/* How drfs_chunk_fd reads a file and where its chunks go. */
struct drfs_chunk_fd {
	const struct drfs_chunker *chunker;
	uint8_t *win;      /* the caller's buffer, win_cap >= 2 * max bytes,
			      or >= end when that is less */
	size_t win_cap;
	/* each chunk with its file offset; a negative return stops */
	int (*emit)(void *ud, const uint8_t *p, size_t len, uint64_t off);
	void *ud;
	_Atomic uint64_t *bytes_read; /* NULL, or a counter of bytes read */
	atomic_bool *abort;  /* NULL, or polled before each read */
};

/*
 * Chunk the data regions of fd below end the way every writer of a
 * repository does, so that equal data deduplicates wherever it was written:
 * holes (SEEK_DATA/SEEK_HOLE) stay holes and each data region is cut on its
 * own. *ret_last: the offset after the last byte read (past end when the
 * file grew meanwhile is not read). Returns 0, a read or lseek error,
 * -ECANCELED when *abort was set, or emit's error.
 */
int drfs_chunk_fd(const struct drfs_chunk_fd *c, int fd, uint64_t end,
		  uint64_t *ret_last);

#endif
