/* SPDX-License-Identifier: MIT */
/*
 * config.c - the repository's config object (payload of a sealed object).
 *
 *   le32 version | repo_id[16] | le32 chunk min | le32 chunk avg |
 *   le32 chunk max | u8 norm | svarint zstd level | le32 pack target
 */
#include "drfs/format.h"
#include "drfs/limits.h"

int drfs_config_encode(const struct drfs_config *c, struct drfs_buf *out)
{
	int r = 0;
	r = r ?: drfs_buf_le32(out, c->version);
	r = r ?: drfs_buf_append(out, c->repo_id, sizeof(c->repo_id));
	r = r ?: drfs_buf_le32(out, c->chunker.min);
	r = r ?: drfs_buf_le32(out, c->chunker.avg);
	r = r ?: drfs_buf_le32(out, c->chunker.max);
	r = r ?: drfs_buf_u8(out, c->chunker.norm);
	r = r ?: drfs_buf_svarint(out, c->zstd_level);
	r = r ?: drfs_buf_le32(out, c->pack_target);
	return r;
}

int drfs_config_decode(const void *p, size_t len, struct drfs_config *ret)
{
	struct drfs_rd rd;
	struct drfs_config c;

	drfs_rd_init(&rd, p, len);
	c.version = drfs_rd_le32(&rd);
	drfs_rd_copy(&rd, c.repo_id, sizeof(c.repo_id));
	c.chunker.min = drfs_rd_le32(&rd);
	c.chunker.avg = drfs_rd_le32(&rd);
	c.chunker.max = drfs_rd_le32(&rd);
	c.chunker.norm = drfs_rd_u8(&rd);
	int64_t level = drfs_rd_svarint(&rd);
	c.pack_target = drfs_rd_le32(&rd);
	if (drfs_rd_err(&rd) || drfs_rd_left(&rd) != 0)
		return -EBADMSG;
	if (c.version != DRFS_FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	if (level < -7 || level > 22)
		return -EBADMSG;
	c.zstd_level = (int32_t)level;
	if (c.chunker.min < DRFS_CHUNK_MIN_LIMIT ||
	    c.chunker.max > DRFS_CHUNK_MAX_LIMIT ||
	    c.chunker.min >= c.chunker.avg || c.chunker.avg >= c.chunker.max ||
	    (c.chunker.avg & (c.chunker.avg - 1)) || c.chunker.norm > 3)
		return -EBADMSG;
	if (c.pack_target < (1u << 20) || c.pack_target > DRFS_PACK_MAX / 2)
		return -EBADMSG;
	*ret = c;
	return 0;
}
