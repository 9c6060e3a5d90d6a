/* SPDX-License-Identifier: MIT */
/*
 * seal.c - the envelope of small objects, and object names.
 */
#include <stdio.h>

#include "drfs/format.h"

static void seal_header(uint8_t h[DRFS_SEAL_HEADER_LEN], uint8_t kind,
			bool enc)
{
	memcpy(h, "DRFS", 4);
	h[4] = kind;
	h[5] = DRFS_FORMAT_VERSION;
	h[6] = enc ? 1 : 0;
	h[7] = 0;
}

int drfs_seal(const struct drfs_keys *k, enum drfs_obj_kind kind,
	      const void *p, size_t len, struct drfs_buf *out)
{
	uint8_t h[DRFS_SEAL_HEADER_LEN];
	size_t old = out->len;
	int r;

	seal_header(h, (uint8_t)kind, k->encrypted);
	r = drfs_buf_append(out, h, sizeof(h));
	if (r < 0)
		return r;
	if (k->encrypted) {
		r = drfs_aead_seal(k->data, h, sizeof(h), p, len, out);
	} else {
		struct drfs_id sum;
		r = drfs_buf_append(out, p, len);
		if (r >= 0) {
			drfs_sha256(out->p + old, out->len - old, &sum);
			r = drfs_buf_append(out, sum.b, sizeof(sum.b));
		}
	}
	if (r < 0)
		out->len = old;
	return r;
}

int drfs_unseal(const struct drfs_keys *k, enum drfs_obj_kind kind,
		const void *obj, size_t len, struct drfs_buf *out)
{
	const uint8_t *b = obj;
	uint8_t h[DRFS_SEAL_HEADER_LEN];

	if (len < DRFS_SEAL_HEADER_LEN)
		return -EBADMSG;
	seal_header(h, (uint8_t)kind, k->encrypted);
	if (memcmp(b, h, sizeof(h)) != 0)
		return -EBADMSG;
	b += DRFS_SEAL_HEADER_LEN;
	len -= DRFS_SEAL_HEADER_LEN;
	if (k->encrypted)
		return drfs_aead_open(k->data, h, sizeof(h), b, len, out);
	if (len < DRFS_ID_LEN)
		return -EBADMSG;
	struct drfs_id sum;
	drfs_sha256(obj, DRFS_SEAL_HEADER_LEN + len - DRFS_ID_LEN, &sum);
	if (memcmp(sum.b, b + len - DRFS_ID_LEN, DRFS_ID_LEN) != 0)
		return -EBADMSG;
	return drfs_buf_append(out, b, len - DRFS_ID_LEN);
}

static void name_in(const char *dir, const struct drfs_id *id, char *out)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	snprintf(out, DRFS_OBJECT_NAME_MAX, "%s/%s", dir,
		 drfs_id_hex(id, hex));
}

void drfs_name_pack(const struct drfs_id *id, char *out)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	drfs_id_hex(id, hex);
	snprintf(out, DRFS_OBJECT_NAME_MAX, "data/%.2s/%s", hex, hex);
}

void drfs_name_index(const struct drfs_id *id, char *out)
{
	name_in("index", id, out);
}

void drfs_name_snapshot(const struct drfs_id *id, char *out)
{
	name_in("snapshots", id, out);
}

void drfs_name_forget(const struct drfs_id *id, char *out)
{
	name_in("forgotten", id, out);
}

void drfs_name_deletion(const struct drfs_id *id, char *out)
{
	name_in("deletions", id, out);
}

int drfs_name_parse(const char *name, const char *dir, struct drfs_id *ret)
{
	size_t dl = strlen(dir);
	if (strncmp(name, dir, dl) != 0 || name[dl] != '/')
		return -EINVAL;
	name += dl + 1;
	if (strcmp(dir, "data") == 0) {
		if (strlen(name) != 3 + DRFS_ID_HEX_LEN || name[2] != '/' ||
		    strncmp(name, name + 3, 2) != 0)
			return -EINVAL;
		name += 3;
	}
	return drfs_id_parse(name, ret);
}
