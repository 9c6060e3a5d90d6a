/* SPDX-License-Identifier: MIT */
/*
 * lockobj.c - payload of a lock object locks/<id> (kind 5; the protocol is
 * store/lock.c's, the layout docs/format.md §9.1):
 *
 *   version 2: u8 2 | u8 flags (bit 0 exclusive, bit 1 prune) | le64 time |
 *   le32 pid | holder[16] | le64 start | le64 watermark | boot[16] |
 *   le64 pidns | le64 pstart | u8 role | u8 host_len | host | le16 n |
 *   n x id[32] (acknowledged deletion records)
 *
 *   version 1: u8 1 | flags u8 (bit 0: exclusive) | le64 time | le32 pid |
 *   host (the rest, 0..DRFS_HOST_MAX bytes, no NUL)
 */
#include "drfs/format.h"

#define LOCK_F_EXCLUSIVE 1u
#define LOCK_F_PRUNE 2u
#define LOCK_HEADER_LEN 14 /* version 1 up to the host */
#define LOCK_FIXED 80      /* version 2 up to the host */
#define LOCK_ROLE_MAX 4

int drfs_lock_encode(const struct drfs_lock_info *li, struct drfs_buf *out)
{
	uint8_t h[LOCK_FIXED];
	size_t hl = strnlen(li->host, sizeof(li->host)), n;
	bool v2 = li->version == 2;
	if (hl > DRFS_HOST_MAX || li->n_acks > DRFS_LOCK_ACKS_MAX ||
	    (li->prune && (!v2 || li->exclusive)) || li->role > LOCK_ROLE_MAX)
		return -EINVAL;
	h[0] = v2 ? 2 : 1;
	h[1] = (li->exclusive ? LOCK_F_EXCLUSIVE : 0) |
	       (li->prune ? LOCK_F_PRUNE : 0);
	drfs_put_le64(h + 2, (uint64_t)li->time);
	drfs_put_le32(h + 10, li->pid);
	n = LOCK_HEADER_LEN;
	if (v2) {
		memcpy(h + 14, li->holder, DRFS_HOLDER_ID_LEN);
		drfs_put_le64(h + 30, (uint64_t)li->start);
		drfs_put_le64(h + 38, (uint64_t)li->watermark);
		memcpy(h + 46, li->boot, 16);
		drfs_put_le64(h + 62, li->pidns);
		drfs_put_le64(h + 70, li->pstart);
		h[78] = li->role;
		h[79] = (uint8_t)hl;
		n = LOCK_FIXED;
	}
	size_t old = out->len;
	int e = drfs_buf_append(out, h, n);
	e = e ?: drfs_buf_append(out, li->host, hl);
	if (v2) {
		uint8_t c[2];
		drfs_put_le16(c, (uint16_t)li->n_acks);
		e = e ?: drfs_buf_append(out, c, sizeof(c));
		for (size_t i = 0; e >= 0 && i < li->n_acks; i++)
			e = drfs_buf_append(out, li->acks[i].b, DRFS_ID_LEN);
	}
	if (e < 0)
		out->len = old;
	return e;
}

/* A host name: NUL-free, at most DRFS_HOST_MAX bytes. */
static int host_copy(char *out, const uint8_t *p, size_t len)
{
	if (len > DRFS_HOST_MAX || memchr(p, 0, len))
		return -EBADMSG;
	memcpy(out, p, len);
	out[len] = 0;
	return 0;
}

static int decode_v2(const uint8_t *p, size_t len, struct drfs_lock_info *li)
{
	if (len < LOCK_FIXED || (p[1] & ~(LOCK_F_EXCLUSIVE | LOCK_F_PRUNE)) ||
	    p[1] == (LOCK_F_EXCLUSIVE | LOCK_F_PRUNE) || p[78] > LOCK_ROLE_MAX)
		return -EBADMSG;
	li->prune = p[1] & LOCK_F_PRUNE;
	memcpy(li->holder, p + 14, DRFS_HOLDER_ID_LEN);
	li->start = (int64_t)drfs_get_le64(p + 30);
	li->watermark = (int64_t)drfs_get_le64(p + 38);
	memcpy(li->boot, p + 46, 16);
	li->pidns = drfs_get_le64(p + 62);
	li->pstart = drfs_get_le64(p + 70);
	li->role = p[78];
	size_t hl = p[79], o = LOCK_FIXED + hl;
	if (len < o + 2 || host_copy(li->host, p + LOCK_FIXED, hl) < 0)
		return -EBADMSG;
	li->n_acks = drfs_get_le16(p + o);
	o += 2;
	if (li->n_acks > DRFS_LOCK_ACKS_MAX ||
	    len != o + li->n_acks * DRFS_ID_LEN)
		return -EBADMSG;
	for (size_t i = 0; i < li->n_acks; i++, o += DRFS_ID_LEN)
		memcpy(li->acks[i].b, p + o, DRFS_ID_LEN);
	return 0;
}

int drfs_lock_decode(const void *buf, size_t len, struct drfs_lock_info *ret)
{
	const uint8_t *p = buf;
	struct drfs_lock_info li;
	int e;

	memset(&li, 0, sizeof(li));
	if (len < LOCK_HEADER_LEN)
		return -EBADMSG;
	li.version = p[0];
	li.exclusive = p[1] & LOCK_F_EXCLUSIVE;
	li.time = (int64_t)drfs_get_le64(p + 2);
	li.pid = drfs_get_le32(p + 10);
	if (p[0] == 1)
		e = (p[1] & ~LOCK_F_EXCLUSIVE)
			    ? -EBADMSG
			    : host_copy(li.host, p + LOCK_HEADER_LEN,
					len - LOCK_HEADER_LEN);
	else if (p[0] == 2)
		e = decode_v2(p, len, &li);
	else
		e = -EBADMSG;
	if (e < 0)
		return e;
	*ret = li;
	return 0;
}
