/* SPDX-License-Identifier: MIT */
/*
 * lockobj.c - payload of a lock object locks/<id> (kind 5; the protocol is
 * store/lock.c's):
 *
 *   version u8 = 1 | flags u8 (bit 0: exclusive) | le64 time | le32 pid |
 *   host (the rest, 0..DRFS_HOST_MAX bytes, no NUL)
 */
#include "drfs/format.h"

#define LOCK_VERSION 1
#define LOCK_F_EXCLUSIVE 1u
#define LOCK_HEADER_LEN 14

int drfs_lock_encode(const struct drfs_lock_info *li, struct drfs_buf *out)
{
	uint8_t h[LOCK_HEADER_LEN];
	size_t hl = strnlen(li->host, sizeof(li->host));
	if (hl > DRFS_HOST_MAX)
		return -EINVAL;
	h[0] = LOCK_VERSION;
	h[1] = li->exclusive ? LOCK_F_EXCLUSIVE : 0;
	drfs_put_le64(h + 2, (uint64_t)li->time);
	drfs_put_le32(h + 10, li->pid);
	size_t old = out->len;
	int e = drfs_buf_append(out, h, sizeof(h));
	e = e ?: drfs_buf_append(out, li->host, hl);
	if (e < 0)
		out->len = old;
	return e;
}

int drfs_lock_decode(const void *buf, size_t len, struct drfs_lock_info *ret)
{
	const uint8_t *p = buf;
	struct drfs_lock_info li;
	size_t hl = len - LOCK_HEADER_LEN;

	if (len < LOCK_HEADER_LEN || hl > DRFS_HOST_MAX ||
	    p[0] != LOCK_VERSION || (p[1] & ~LOCK_F_EXCLUSIVE))
		return -EBADMSG;
	if (memchr(p + LOCK_HEADER_LEN, 0, hl))
		return -EBADMSG;
	li.exclusive = p[1] & LOCK_F_EXCLUSIVE;
	li.time = (int64_t)drfs_get_le64(p + 2);
	li.pid = drfs_get_le32(p + 10);
	memcpy(li.host, p + LOCK_HEADER_LEN, hl);
	li.host[hl] = 0;
	*ret = li;
	return 0;
}
