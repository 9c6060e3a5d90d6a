/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - snapshot objects (payload of a sealed object).
 *
 *   u8 version = 1 | svarint time.sec | uvarint time.nsec | root[32] |
 *   parent[32] | meta[32] | bytes host | bytes path | uvarint n_tags | n x bytes tag |
 *   uvarint files | dirs | bytes | added_bytes | added_blobs
 */
#include "drfs/format.h"
#include "drfs/limits.h"

int drfs_snapshot_encode(const struct drfs_snapshot *s, struct drfs_buf *out)
{
	int r = 0;
	const char *tag = s->tags;

	if (s->n_tags > DRFS_TAGS_MAX)
		return -EINVAL;
	r = r ?: drfs_buf_u8(out, 1);
	r = r ?: drfs_buf_svarint(out, s->time.tv_sec);
	r = r ?: drfs_buf_uvarint(out, (uint64_t)s->time.tv_nsec);
	r = r ?: drfs_buf_append(out, s->root.b, DRFS_ID_LEN);
	r = r ?: drfs_buf_append(out, s->parent.b, DRFS_ID_LEN);
	r = r ?: drfs_buf_append(out, s->meta.b, DRFS_ID_LEN);
	r = r ?: drfs_buf_bytes(out, s->host, strnlen(s->host, DRFS_HOST_MAX));
	r = r ?: drfs_buf_bytes(out, s->path, strnlen(s->path, DRFS_PATH_MAX));
	r = r ?: drfs_buf_uvarint(out, s->n_tags);
	for (uint32_t i = 0; r >= 0 && i < s->n_tags; i++) {
		size_t l = strlen(tag);
		r = drfs_buf_bytes(out, tag, l);
		tag += l + 1;
	}
	r = r ?: drfs_buf_uvarint(out, s->files);
	r = r ?: drfs_buf_uvarint(out, s->dirs);
	r = r ?: drfs_buf_uvarint(out, s->bytes);
	r = r ?: drfs_buf_uvarint(out, s->added_bytes);
	r = r ?: drfs_buf_uvarint(out, s->added_blobs);
	return r;
}

int drfs_snapshot_decode(const void *p, size_t len, struct drfs_snapshot *ret)
{
	struct drfs_rd rd;
	struct drfs_snapshot *s;
	int r = -EBADMSG;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	drfs_rd_init(&rd, p, len);
	if (drfs_rd_u8(&rd) != 1)
		goto out;
	s->time.tv_sec = drfs_rd_svarint(&rd);
	uint64_t ns = drfs_rd_uvarint(&rd);
	if (ns >= 1000000000)
		goto out;
	s->time.tv_nsec = (long)ns;
	drfs_rd_copy(&rd, s->root.b, DRFS_ID_LEN);
	drfs_rd_copy(&rd, s->parent.b, DRFS_ID_LEN);
	drfs_rd_copy(&rd, s->meta.b, DRFS_ID_LEN);
	drfs_rd_str(&rd, s->host, DRFS_HOST_MAX);
	drfs_rd_str(&rd, s->path, DRFS_PATH_MAX);
	uint64_t nt = drfs_rd_uvarint(&rd);
	if (drfs_rd_err(&rd) || nt > DRFS_TAGS_MAX)
		goto out;
	size_t used = 0;
	for (uint64_t i = 0; i < nt; i++) {
		char tag[DRFS_TAG_MAX + 1];
		drfs_rd_str(&rd, tag, DRFS_TAG_MAX);
		size_t l = strlen(tag);
		if (drfs_rd_err(&rd) || l == 0 || used + l + 1 > DRFS_TAGS_BUF)
			goto out;
		memcpy(s->tags + used, tag, l + 1);
		used += l + 1;
	}
	s->n_tags = (uint32_t)nt;
	s->files = drfs_rd_uvarint(&rd);
	s->dirs = drfs_rd_uvarint(&rd);
	s->bytes = drfs_rd_uvarint(&rd);
	s->added_bytes = drfs_rd_uvarint(&rd);
	s->added_blobs = drfs_rd_uvarint(&rd);
	if (drfs_rd_err(&rd) || drfs_rd_left(&rd) != 0)
		goto out;
	*ret = *s;
	r = 0;
out:
	free(s);
	return r;
}
