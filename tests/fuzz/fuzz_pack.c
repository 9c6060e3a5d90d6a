/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pack.c - pack parsing with fixed keys: drfs_pack_tail_parse,
 * drfs_pack_trailer_decode and drfs_blob_open on every entry.
 *
 * Byte 0 chooses: bit 7 the keys (set: encrypted), bits 0..1 the mode:
 *   0: the rest is a whole pack (tail -> trailer -> every blob);
 *   1: the rest is a sealed trailer alone (trailer_off = DRFS_PACK_MAX);
 *   2: the rest is a 46-byte pack entry then that blob's stored bytes;
 *   3: as 0, and blobs are opened with a zstd context instead of NULL.
 */
#include <assert.h>

#include "drfs/compress.h"
#include "drfs/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_keys(struct drfs_keys *k, bool enc)
{
	memset(k->data, 0x11, sizeof(k->data));
	memset(k->id, 0x22, sizeof(k->id));
	k->encrypted = enc;
}

static void open_blob(const struct drfs_keys *k, struct drfs_zctx *z,
		      const struct drfs_pack_entry *e, const uint8_t *p,
		      size_t len)
{
	struct drfs_buf out;

	drfs_buf_init(&out, DRFS_BLOB_MAX);
	int r = drfs_blob_open(k, z, e, p, len, &out);
	assert(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r == 0)
		assert(out.len == e->raw_len);
	else
		assert(out.len == 0);
	drfs_buf_release(&out);
}

static void whole_pack(const struct drfs_keys *k, struct drfs_zctx *z,
		       const uint8_t *p, size_t len)
{
	uint64_t off;
	uint32_t tlen;
	struct drfs_pack_entry *es;
	size_t n;

	if (len < DRFS_PACK_TAIL_LEN)
		return;
	if (drfs_pack_tail_parse(p + len - DRFS_PACK_TAIL_LEN,
				 DRFS_PACK_TAIL_LEN, len, &off, &tlen) < 0)
		return;
	assert(off + tlen + DRFS_PACK_TAIL_LEN == len);
	if (drfs_pack_trailer_decode(k, p + off, tlen, off, &es, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		assert((uint64_t)es[i].offset + es[i].stored_len <= off);
		open_blob(k, z, &es[i], p + es[i].offset, es[i].stored_len);
	}
	free(es);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct drfs_zctx *z;
	struct drfs_keys k;
	struct drfs_pack_entry *es, e;
	size_t n;

	if (size < 1 || size > DRFS_PACK_MAX || drfs_crypto_init() < 0)
		return 0;
	if (!z)
		z = drfs_zctx_new(3);
	fuzz_keys(&k, data[0] & 0x80);
	const uint8_t *p = data + 1;
	size_t len = size - 1;
	switch (data[0] & 3) {
	case 0:
		whole_pack(&k, NULL, p, len);
		break;
	case 3:
		whole_pack(&k, z, p, len);
		break;
	case 1:
		if (drfs_pack_trailer_decode(&k, p, len, DRFS_PACK_MAX, &es,
					     &n) == 0) {
			assert(n <= DRFS_PACK_MAX_BLOBS);
			free(es);
		}
		break;
	case 2:
		if (len < DRFS_PACK_ENTRY_LEN)
			break;
		drfs_pack_entry_get(p, &e);
		if (drfs_pack_entry_check(&e, DRFS_PACK_MAX) < 0)
			break;
		open_blob(&k, z, &e, p + DRFS_PACK_ENTRY_LEN,
			  len - DRFS_PACK_ENTRY_LEN);
		break;
	}
	return 0;
}
