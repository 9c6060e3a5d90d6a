/* SPDX-License-Identifier: MIT */
/*
 * pack.c - blob records, pack trailers and pack entries.
 */
#include "drfs/compress.h"
#include "drfs/format.h"
#include "drfs/limits.h"

void drfs_pack_entry_put(uint8_t out[DRFS_PACK_ENTRY_LEN],
			 const struct drfs_pack_entry *e)
{
	out[0] = e->type;
	out[1] = e->flags;
	memcpy(out + 2, e->id.b, DRFS_ID_LEN);
	drfs_put_le32(out + 34, e->offset);
	drfs_put_le32(out + 38, e->stored_len);
	drfs_put_le32(out + 42, e->raw_len);
}

void drfs_pack_entry_get(const uint8_t in[DRFS_PACK_ENTRY_LEN],
			 struct drfs_pack_entry *e)
{
	e->type = in[0];
	e->flags = in[1];
	memcpy(e->id.b, in + 2, DRFS_ID_LEN);
	e->offset = drfs_get_le32(in + 34);
	e->stored_len = drfs_get_le32(in + 38);
	e->raw_len = drfs_get_le32(in + 42);
}

int drfs_pack_entry_check(const struct drfs_pack_entry *e, uint64_t pack_len)
{
	if (e->type > DRFS_BLOB_TREE || (e->flags & ~DRFS_BLOB_F_ZSTD))
		return -EBADMSG;
	if (e->raw_len > DRFS_BLOB_MAX || e->stored_len > DRFS_BLOB_STORED_MAX)
		return -EBADMSG;
	if ((uint64_t)e->offset + e->stored_len > pack_len)
		return -EBADMSG;
	return 0;
}

static void blob_aad(const struct drfs_pack_entry *e, uint8_t aad[34])
{
	memcpy(aad, e->id.b, DRFS_ID_LEN);
	aad[32] = e->type;
	aad[33] = e->flags;
}

int drfs_blob_seal(const struct drfs_keys *k, struct drfs_zctx *z,
		   enum drfs_blob_type type, const struct drfs_id *id,
		   const void *p, size_t len, struct drfs_buf *out,
		   struct drfs_pack_entry *e)
{
	struct drfs_buf cbuf;
	const void *payload = p;
	size_t plen = len;
	uint8_t aad[34];
	size_t old = out->len;
	int r;

	if (len > DRFS_BLOB_MAX)
		return -E2BIG;
	drfs_buf_init(&cbuf, DRFS_BLOB_STORED_MAX);
	e->id = *id;
	e->type = (uint8_t)type;
	e->flags = 0;
	e->raw_len = (uint32_t)len;
	e->offset = (uint32_t)out->len;
	if (z && len >= 64) {
		r = drfs_compress(z, p, len, &cbuf);
		if (r < 0)
			goto out;
		if (r == 1) {
			payload = cbuf.p;
			plen = cbuf.len;
			e->flags |= DRFS_BLOB_F_ZSTD;
		}
	}
	if (k->encrypted) {
		blob_aad(e, aad);
		r = drfs_aead_seal(k->data, aad, sizeof(aad), payload, plen,
				   out);
	} else {
		r = drfs_buf_append(out, payload, plen);
	}
	if (r >= 0)
		e->stored_len = (uint32_t)(out->len - old);
out:
	drfs_buf_release(&cbuf);
	return r;
}

int drfs_blob_open(const struct drfs_keys *k, struct drfs_zctx *z,
		   const struct drfs_pack_entry *e, const void *stored,
		   size_t len, struct drfs_buf *out)
{
	struct drfs_buf pbuf;
	const void *payload = stored;
	size_t plen = len;
	uint8_t aad[34];
	size_t old = out->len;
	struct drfs_id id;
	int r;

	if (len != e->stored_len || e->raw_len > DRFS_BLOB_MAX)
		return -EBADMSG;
	drfs_buf_init(&pbuf, DRFS_BLOB_STORED_MAX);
	if (k->encrypted) {
		blob_aad(e, aad);
		r = drfs_aead_open(k->data, aad, sizeof(aad), stored, len,
				   &pbuf);
		if (r < 0)
			goto out;
		payload = pbuf.p;
		plen = pbuf.len;
	}
	if (e->flags & DRFS_BLOB_F_ZSTD) {
		r = drfs_decompress(z, payload, plen, e->raw_len, out);
	} else if (plen != e->raw_len) {
		r = -EBADMSG;
	} else {
		r = drfs_buf_append(out, payload, plen);
	}
	if (r < 0)
		goto out;
	/* an empty blob may leave out->p NULL: no arithmetic on it */
	static const uint8_t empty[1];
	drfs_blob_id(k, e->raw_len ? out->p + old : empty, e->raw_len, &id);
	if (!drfs_id_eq(&id, &e->id))
		r = -EBADMSG;
out:
	drfs_buf_release(&pbuf);
	if (r < 0)
		out->len = old;
	return r;
}

int drfs_pack_finish(const struct drfs_keys *k,
		     const struct drfs_pack_entry *entries, size_t n,
		     struct drfs_buf *pack)
{
	struct drfs_buf t;
	size_t old = pack->len;
	int r;

	if (n > DRFS_PACK_MAX_BLOBS)
		return -E2BIG;
	drfs_buf_init(&t, 5 + n * DRFS_PACK_ENTRY_LEN);
	r = drfs_buf_u8(&t, 1);
	r = r ?: drfs_buf_le32(&t, (uint32_t)n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		uint8_t raw[DRFS_PACK_ENTRY_LEN];
		drfs_pack_entry_put(raw, &entries[i]);
		r = drfs_buf_append(&t, raw, sizeof(raw));
	}
	r = r ?: drfs_seal(k, DRFS_OBJ_PACK_TRAILER, t.p, t.len, pack);
	size_t tlen = pack->len - old;
	r = r ?: drfs_buf_le32(pack, (uint32_t)tlen);
	r = r ?: drfs_buf_append(pack, DRFS_PACK_MAGIC, 8);
	drfs_buf_release(&t);
	if (r < 0)
		pack->len = old;
	return r;
}

int drfs_pack_tail_parse(const void *tail, size_t len, uint64_t pack_len,
			 uint64_t *ret_off, uint32_t *ret_len)
{
	const uint8_t *b = tail;
	if (len != DRFS_PACK_TAIL_LEN || pack_len < DRFS_PACK_TAIL_LEN ||
	    pack_len > DRFS_PACK_MAX)
		return -EBADMSG;
	if (memcmp(b + 4, DRFS_PACK_MAGIC, 8) != 0)
		return -EBADMSG;
	uint32_t tlen = drfs_get_le32(b);
	if (tlen < DRFS_SEAL_HEADER_LEN || tlen > pack_len - DRFS_PACK_TAIL_LEN)
		return -EBADMSG;
	*ret_off = pack_len - DRFS_PACK_TAIL_LEN - tlen;
	*ret_len = tlen;
	return 0;
}

static int entry_cmp_off(const void *a, const void *b)
{
	const struct drfs_pack_entry *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int drfs_pack_trailer_decode(const struct drfs_keys *k, const void *p,
			     size_t len, uint64_t trailer_off,
			     struct drfs_pack_entry **ret, size_t *ret_n)
{
	struct drfs_buf t;
	struct drfs_rd rd;
	struct drfs_pack_entry *es = NULL, *sorted = NULL;
	int r;

	if (len > 5 + DRFS_PACK_MAX_BLOBS * DRFS_PACK_ENTRY_LEN + 64)
		return -EBADMSG;
	drfs_buf_init(&t, len);
	r = drfs_unseal(k, DRFS_OBJ_PACK_TRAILER, p, len, &t);
	if (r < 0)
		goto out;
	drfs_rd_init(&rd, t.p, t.len);
	uint8_t ver = drfs_rd_u8(&rd);
	uint32_t n = drfs_rd_le32(&rd);
	r = -EBADMSG;
	if (drfs_rd_err(&rd) || ver != 1 || n > DRFS_PACK_MAX_BLOBS ||
	    drfs_rd_left(&rd) != (size_t)n * DRFS_PACK_ENTRY_LEN)
		goto out;
	es = calloc(n ? n : 1, sizeof(*es));
	sorted = calloc(n ? n : 1, sizeof(*es));
	r = -ENOMEM;
	if (!es || !sorted)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		drfs_pack_entry_get(drfs_rd_raw(&rd, DRFS_PACK_ENTRY_LEN),
				    &es[i]);
		r = drfs_pack_entry_check(&es[i], trailer_off);
		if (r < 0)
			goto out;
	}
	memcpy(sorted, es, n * sizeof(*es));
	qsort(sorted, n, sizeof(*sorted), entry_cmp_off);
	r = -EBADMSG;
	for (uint32_t i = 1; i < n; i++)
		if ((uint64_t)sorted[i - 1].offset + sorted[i - 1].stored_len >
		    sorted[i].offset)
			goto out;
	*ret = TAKE_PTR(es);
	*ret_n = n;
	r = 0;
out:
	free(es);
	free(sorted);
	drfs_buf_release(&t);
	return r;
}
