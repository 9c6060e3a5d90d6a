/* SPDX-License-Identifier: MIT */
/*
 * deletion.c - deletion records (payload of a sealed object, kind 10): the
 * packs a prune doomed but left in place while other processes used the
 * repository, with the blobs still readable from them (docs/format.md
 * §9.4, docs/retention.md).
 *
 *   u8 version = 1 | le64 time | prune holder id[16] | u8 n (<= 64) |
 *   n x holder id[16] | index object payload (indexobj.c)
 */
#include "drfs/format.h"
#include "drfs/limits.h"

#define DELETION_VERSION 1

int drfs_deletion_begin(const struct drfs_deletion *d, struct drfs_buf *out)
{
	if (d->n_holders > DRFS_DELETION_HOLDERS_MAX)
		return -EINVAL;
	size_t old = out->len;
	int r = drfs_buf_u8(out, DELETION_VERSION);
	r = r ?: drfs_buf_le64(out, (uint64_t)d->time);
	r = r ?: drfs_buf_append(out, d->prune, sizeof(d->prune));
	r = r ?: drfs_buf_u8(out, (uint8_t)d->n_holders);
	for (size_t i = 0; r >= 0 && i < d->n_holders; i++)
		r = drfs_buf_append(out, d->holders[i], sizeof(d->holders[i]));
	r = r ?: drfs_indexobj_begin(out);
	if (r < 0)
		out->len = old;
	return r;
}

int drfs_deletion_decode(const void *p, size_t len, struct drfs_deletion *ret)
{
	struct drfs_rd rd;
	struct drfs_deletion d;
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen;
	size_t n;
	const uint8_t *entries;
	int e;

	memset(&d, 0, sizeof(d));
	drfs_rd_init(&rd, p, len);
	if (drfs_rd_u8(&rd) != DELETION_VERSION)
		return -EBADMSG;
	d.time = (int64_t)drfs_rd_le64(&rd);
	drfs_rd_copy(&rd, d.prune, sizeof(d.prune));
	d.n_holders = drfs_rd_u8(&rd);
	if (drfs_rd_err(&rd) || d.n_holders > DRFS_DELETION_HOLDERS_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < d.n_holders; i++)
		drfs_rd_copy(&rd, d.holders[i], sizeof(d.holders[i]));
	if (drfs_rd_err(&rd) || drfs_rd_left(&rd) == 0)
		return -EBADMSG;
	d.index = rd.p + rd.off;
	d.index_len = drfs_rd_left(&rd);
	e = drfs_indexobj_iter_init(&it, d.index, d.index_len);
	while (e >= 0 &&
	       (e = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &entries)) >
		       0)
		;
	if (e < 0)
		return -EBADMSG;
	*ret = d;
	return 0;
}
