/* SPDX-License-Identifier: MIT */
/*
 * compress.h - zstd for blobs (codec layer; the only place zstd errors are
 * translated). One struct drfs_zctx per thread, reused.
 */
#ifndef DRFS_COMPRESS_H
#define DRFS_COMPRESS_H

#include "drfs/base.h"
#include "drfs/buf.h"

struct drfs_zctx;

/*
 * A context compressing at zstd level (clamped to zstd's range), the
 * caller's to drfs_zctx_free; NULL when out of memory. Used by one thread
 * at a time (any thread).
 */
struct drfs_zctx *drfs_zctx_new(int level);
/* Free z (accepts NULL). */
void drfs_zctx_free(struct drfs_zctx *z);

/*
 * Compress p[0..len) and append to out. Returns 1 if the compressed form was
 * appended, 0 if compression did not save at least 1/32 of the size (then
 * nothing is appended and the caller stores the blob raw), or a negative
 * errno (-ENOMEM, -E2BIG, -EIO).
 */
int drfs_compress(struct drfs_zctx *z, const void *p, size_t len,
		  struct drfs_buf *out);
/*
 * Decompress one zstd frame that must expand to exactly raw_len bytes
 * (raw_len <= DRFS_BLOB_MAX); appends to out. -EBADMSG on any mismatch or
 * a corrupt frame. z may be NULL (a temporary context is used).
 */
int drfs_decompress(struct drfs_zctx *z, const void *p, size_t len,
		    size_t raw_len, struct drfs_buf *out);

#endif
