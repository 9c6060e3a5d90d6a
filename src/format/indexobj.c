/* SPDX-License-Identifier: MIT */
/*
 * indexobj.c - index objects (payload of a sealed object): which blobs live
 * in which packs, so a new machine rebuilds its cache without reading packs.
 *
 *   u8 version = 1, then per pack: pack id[32] | le32 pack length |
 *   uvarint count | count x 46-byte entries (as in the pack trailer)
 */
#include "drfs/format.h"
#include "drfs/limits.h"

int drfs_indexobj_begin(struct drfs_buf *out)
{
	return drfs_buf_u8(out, 1);
}

int drfs_indexobj_add(struct drfs_buf *out, const struct drfs_id *pack,
		      uint32_t pack_len, const struct drfs_pack_entry *e,
		      size_t n)
{
	size_t old = out->len;
	int r = drfs_buf_append(out, pack->b, DRFS_ID_LEN);
	r = r ?: drfs_buf_le32(out, pack_len);
	r = r ?: drfs_buf_uvarint(out, n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		uint8_t raw[DRFS_PACK_ENTRY_LEN];
		drfs_pack_entry_put(raw, &e[i]);
		r = drfs_buf_append(out, raw, sizeof(raw));
	}
	if (r < 0)
		out->len = old;
	return r;
}

int drfs_indexobj_iter_init(struct drfs_indexobj_iter *it, const void *p,
			    size_t len)
{
	drfs_rd_init(&it->rd, p, len);
	if (drfs_rd_u8(&it->rd) != 1)
		return -EBADMSG;
	return 0;
}

int drfs_indexobj_iter_next(struct drfs_indexobj_iter *it,
			    struct drfs_id *ret_pack, uint32_t *ret_len,
			    size_t *ret_n, const uint8_t **ret_entries)
{
	struct drfs_rd *rd = &it->rd;
	struct drfs_id pack;

	if (rd->err)
		return rd->err;
	if (drfs_rd_left(rd) == 0)
		return 0;
	drfs_rd_copy(rd, pack.b, DRFS_ID_LEN);
	uint32_t plen = drfs_rd_le32(rd);
	uint64_t n = drfs_rd_uvarint(rd);
	if (drfs_rd_err(rd) || n > DRFS_PACK_MAX_BLOBS ||
	    plen > DRFS_PACK_MAX || n > drfs_rd_left(rd) / DRFS_PACK_ENTRY_LEN)
		goto bad;
	const uint8_t *e = drfs_rd_raw(rd, (size_t)n * DRFS_PACK_ENTRY_LEN);
	if (!e)
		goto bad;
	for (uint64_t i = 0; i < n; i++) {
		struct drfs_pack_entry pe;
		drfs_pack_entry_get(e + i * DRFS_PACK_ENTRY_LEN, &pe);
		if (drfs_pack_entry_check(&pe, plen) < 0)
			goto bad;
	}
	*ret_pack = pack;
	*ret_len = plen;
	*ret_n = (size_t)n;
	*ret_entries = e;
	return 1;
bad:
	rd->err = -EBADMSG;
	return -EBADMSG;
}

int drfs_indexobj_check(const void *p, size_t len)
{
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen;
	size_t n;
	const uint8_t *raw;
	int e = drfs_indexobj_iter_init(&it, p, len);
	while (e >= 0 &&
	       (e = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0)
		;
	return e;
}
