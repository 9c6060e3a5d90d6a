/* SPDX-License-Identifier: MIT */
/*
 * compress.c - zstd for blobs. The only place zstd errors are translated.
 *
 * A stored blob is one zstd frame that declares its content size (zstd
 * writes it for one-shot compression). Decompression trusts nothing: the
 * declared size must equal the raw length the caller knows from the
 * authenticated index, the frame must span the input exactly, and exactly
 * raw_len bytes must come out. Frames carry zstd's 4-byte content checksum
 * so a corrupt frame is caught here even in a repository without
 * encryption (at about 10 GB/s, a negligible cost).
 */
#include <pthread.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "drfs/compress.h"
#include "drfs/limits.h"

struct drfs_zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d; /* created on first decompression */
	int level;
};

/*
 * A decompression context per thread for callers without a drfs_zctx
 * (blob reads from any thread): created on first use, freed at thread exit.
 */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static _Thread_local ZSTD_DCtx *thread_dctx;

static void dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void dctx_key_init(void)
{
	pthread_key_create(&dctx_key, dctx_free);
}

static ZSTD_DCtx *dctx_thread(void)
{
	if (thread_dctx)
		return thread_dctx;
	pthread_once(&dctx_once, dctx_key_init);
	thread_dctx = ZSTD_createDCtx();
	if (thread_dctx)
		pthread_setspecific(dctx_key, thread_dctx);
	return thread_dctx;
}

struct drfs_zctx *drfs_zctx_new(int level)
{
	struct drfs_zctx *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	if (level < ZSTD_minCLevel())
		level = ZSTD_minCLevel();
	if (level > ZSTD_maxCLevel())
		level = ZSTD_maxCLevel();
	z->level = level;
	z->c = ZSTD_createCCtx();
	if (!z->c ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel,
						level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_contentSizeFlag,
						1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_checksumFlag,
						1))) {
		drfs_zctx_free(z);
		return NULL;
	}
	return z;
}

void drfs_zctx_free(struct drfs_zctx *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

int drfs_compress(struct drfs_zctx *z, const void *p, size_t len,
		  struct drfs_buf *out)
{
	size_t limit, room, n;
	bool capped = false;
	int r;

	/* Worth keeping only at or below this size. */
	limit = len - len / 32;
	if (len == 0 || limit == 0)
		return 0;
	room = out->max - out->len;
	if (room < limit) {
		limit = room;
		capped = true;
	}
	if (limit == 0)
		return -E2BIG;
	r = drfs_buf_reserve(out, limit);
	if (r < 0)
		return r;
	/* A fresh frame even if a previous call failed half-way. */
	ZSTD_CCtx_reset(z->c, ZSTD_reset_session_only);
	n = ZSTD_compress2(z->c, out->p + out->len, limit, p, len);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return capped ? -E2BIG : 0;
		if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		return -EIO;
	}
	out->len += n;
	return 1;
}

int drfs_decompress(struct drfs_zctx *z, const void *p, size_t len,
		    size_t raw_len, struct drfs_buf *out)
{
	ZSTD_DCtx *tmp = NULL, *d;
	unsigned long long declared;
	size_t n;
	int r;

	if (raw_len > DRFS_BLOB_MAX || !p)
		return -EBADMSG;
	declared = ZSTD_getFrameContentSize(p, len);
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN ||
	    declared == ZSTD_CONTENTSIZE_ERROR || declared != raw_len)
		return -EBADMSG;
	/* Exactly one frame, nothing before or after it. */
	n = ZSTD_findFrameCompressedSize(p, len);
	if (ZSTD_isError(n) || n != len)
		return -EBADMSG;

	r = drfs_buf_reserve(out, raw_len);
	if (r < 0)
		return r;
	if (z) {
		if (!z->d) {
			z->d = ZSTD_createDCtx();
			if (!z->d)
				return -ENOMEM;
		}
		d = z->d;
	} else {
		d = dctx_thread();
		if (!d)
			d = tmp = ZSTD_createDCtx();
		if (!d)
			return -ENOMEM;
	}
	/*
	 * raw_len may be 0 and out->p still NULL; zstd accepts a NULL dst
	 * with capacity 0.
	 */
	n = ZSTD_decompressDCtx(d, raw_len ? out->p + out->len : NULL, raw_len,
				p, len);
	ZSTD_freeDCtx(tmp);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		return -EBADMSG;
	}
	if (n != raw_len)
		return -EBADMSG;
	out->len += n;
	return 0;
}
