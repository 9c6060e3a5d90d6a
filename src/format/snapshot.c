/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - snapshot objects (payload of a sealed object), their folder
 * names, and the claims that reserve a folder name (names/).
 *
 *   u8 version (1, 2 or 3) | svarint time.sec | uvarint time.nsec |
 *   root[32] | parent[32] | meta[32] | bytes host | bytes path |
 *   uvarint n_tags | n x bytes tag | uvarint files | dirs | bytes |
 *   added_bytes | added_blobs | version 2 and 3: bytes name (the folder
 *   claimed at commit; version 3: may be empty) | version 3 only: uvarint
 *   duration_ms (how long the backup or commit took; never 0: a snapshot
 *   without a duration is version 1 or 2)
 */
#include <stdio.h>

#include "drfs/format.h"
#include "drfs/limits.h"

void drfs_snapshot_folder(const struct timespec *t, char out[DRFS_FOLDER_BUF])
{
	struct tm tm;
	time_t s = t->tv_sec;
	if (!gmtime_r(&s, &tm)) {
		strcpy(out, "0000-00-00/000000");
		return;
	}
	char tmp[80];
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d/%02d%02d%02d",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
	size_t l = strnlen(tmp, DRFS_FOLDER_BUF - 1);
	memcpy(out, tmp, l);
	out[l] = 0;
}

bool drfs_snapshot_name_valid(const char *name, const struct timespec *t)
{
	char base[DRFS_FOLDER_BUF];
	drfs_snapshot_folder(t, base);
	if (strlen(base) != 17 || base[0] == '-' ||
	    strncmp(name, base, 17) != 0)
		return false;
	const char *p = name + 17;
	if (!*p)
		return true;
	if (*p++ != '.' || *p < '1' || *p > '9')
		return false;
	unsigned n = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || n > DRFS_FOLDER_SUFFIX_MAX)
			return false;
		n = n * 10 + (unsigned)(*p - '0');
	}
	return n <= DRFS_FOLDER_SUFFIX_MAX;
}

bool drfs_snapshot_has_tag(const struct drfs_snapshot *s, const char *tag)
{
	size_t off = 0;
	for (uint32_t i = 0; i < s->n_tags && off < sizeof(s->tags); i++) {
		const char *t = s->tags + off;
		size_t l = strnlen(t, sizeof(s->tags) - off);
		if (off + l >= sizeof(s->tags))
			return false;
		if (strcmp(t, tag) == 0)
			return true;
		off += l + 1;
	}
	return false;
}

int drfs_snapshot_encode(const struct drfs_snapshot *s, struct drfs_buf *out)
{
	int r = 0;
	const char *tag = s->tags;
	bool named = s->name[0] != 0;
	uint8_t version = s->duration_ms ? 3 : named ? 2 : 1;

	if (s->n_tags > DRFS_TAGS_MAX ||
	    (named && !drfs_snapshot_name_valid(s->name, &s->time)))
		return -EINVAL;
	r = r ?: drfs_buf_u8(out, version);
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
	if (version >= 2)
		r = r ?: drfs_buf_bytes(out, s->name, strlen(s->name));
	if (version == 3)
		r = r ?: drfs_buf_uvarint(out, s->duration_ms);
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
	uint8_t version = drfs_rd_u8(&rd);
	if (version < 1 || version > 3)
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
	if (version >= 2) {
		drfs_rd_str(&rd, s->name, DRFS_FOLDER_NAME_MAX);
		bool none = !s->name[0] && version == 3;
		if (drfs_rd_err(&rd) ||
		    (!none && !drfs_snapshot_name_valid(s->name, &s->time)))
			goto out;
	}
	if (version == 3) {
		s->duration_ms = drfs_rd_uvarint(&rd);
		if (drfs_rd_err(&rd) || s->duration_ms == 0)
			goto out;
	}
	if (drfs_rd_err(&rd) || drfs_rd_left(&rd) != 0)
		goto out;
	*ret = *s;
	r = 0;
out:
	free(s);
	return r;
}

/* ---- folder-name claims ------------------------------------------------ */

void drfs_name_claim(const struct drfs_keys *k, const char *folder,
		     char *out)
{
	static const char domain[] = "drfs-name";
	uint8_t msg[sizeof(domain) - 1 + DRFS_FOLDER_BUF];
	size_t l = strnlen(folder, DRFS_FOLDER_BUF - 1);
	struct drfs_id h;
	char hex[DRFS_ID_HEX_LEN + 1];

	memcpy(msg, domain, sizeof(domain) - 1);
	memcpy(msg + sizeof(domain) - 1, folder, l);
	drfs_hmac_sha256(k->id, DRFS_KEY_LEN, msg, sizeof(domain) - 1 + l,
			 h.b);
	snprintf(out, DRFS_OBJECT_NAME_MAX, "names/%s", drfs_id_hex(&h, hex));
}

int drfs_claim_encode(const char *folder, const uint8_t token[16],
		      struct drfs_buf *out)
{
	int r = drfs_buf_u8(out, 1);
	r = r ?: drfs_buf_append(out, token, 16);
	return r ?: drfs_buf_bytes(out, folder,
				   strnlen(folder, DRFS_FOLDER_NAME_MAX));
}
