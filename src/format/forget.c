/* SPDX-License-Identifier: MIT */
/*
 * forget.c - forget records (payload of a sealed object, forgotten/<id>):
 * which snapshots a forget removed, written before it removes them.
 *
 *   u8 version = 1 | u8 flags | svarint time.sec | uvarint time.nsec |
 *   bytes host | uvarint n | n x (id[32] | svarint sec | uvarint nsec)
 */
#include "drfs/format.h"
#include "drfs/limits.h"

static int put_time(struct drfs_buf *out, const struct timespec *t)
{
	if (t->tv_nsec < 0 || t->tv_nsec >= 1000000000)
		return -EINVAL;
	int r = drfs_buf_svarint(out, t->tv_sec);
	return r ?: drfs_buf_uvarint(out, (uint64_t)t->tv_nsec);
}

int drfs_forget_rec_encode(const struct drfs_forget_rec *h,
			   const struct drfs_forget_entry *e, size_t n,
			   struct drfs_buf *out)
{
	size_t old = out->len;
	int r = 0;

	if (n > DRFS_FORGET_IDS_MAX || (h->flags & ~DRFS_FORGET_F_BASELINE) ||
	    (n == 0 && !(h->flags & DRFS_FORGET_F_BASELINE)))
		return -EINVAL;
	for (size_t i = 1; i < n; i++)
		if (memcmp(e[i - 1].id.b, e[i].id.b, DRFS_ID_LEN) >= 0)
			return -EINVAL;
	r = r ?: drfs_buf_u8(out, 1);
	r = r ?: drfs_buf_u8(out, h->flags);
	r = r ?: put_time(out, &h->time);
	r = r ?: drfs_buf_bytes(out, h->host, strnlen(h->host, DRFS_HOST_MAX));
	r = r ?: drfs_buf_uvarint(out, n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = drfs_buf_append(out, e[i].id.b, DRFS_ID_LEN);
		r = r ?: put_time(out, &e[i].time);
	}
	if (r < 0)
		out->len = old;
	return r;
}

/* One entry; -EBADMSG (also for ids out of order after prev). */
static int get_entry(struct drfs_rd *rd, const struct drfs_id *prev,
		     struct drfs_forget_entry *ret)
{
	drfs_rd_copy(rd, ret->id.b, DRFS_ID_LEN);
	ret->time.tv_sec = drfs_rd_svarint(rd);
	uint64_t ns = drfs_rd_uvarint(rd);
	if (drfs_rd_err(rd) || ns >= 1000000000 ||
	    (prev && memcmp(prev->b, ret->id.b, DRFS_ID_LEN) >= 0))
		return -EBADMSG;
	ret->time.tv_nsec = (long)ns;
	return 0;
}

int drfs_forget_rec_decode(const void *p, size_t len,
			   struct drfs_forget_rec *ret)
{
	struct drfs_rd rd;
	struct drfs_forget_rec h;
	struct drfs_forget_entry e;
	struct drfs_id prev;

	drfs_rd_init(&rd, p, len);
	if (drfs_rd_u8(&rd) != 1)
		return -EBADMSG;
	h.flags = drfs_rd_u8(&rd);
	h.time.tv_sec = drfs_rd_svarint(&rd);
	uint64_t ns = drfs_rd_uvarint(&rd);
	drfs_rd_str(&rd, h.host, DRFS_HOST_MAX);
	uint64_t n = drfs_rd_uvarint(&rd);
	/* an entry takes at least 34 bytes: n is bounded by the input too */
	if (drfs_rd_err(&rd) || (h.flags & ~DRFS_FORGET_F_BASELINE) ||
	    ns >= 1000000000 || n > DRFS_FORGET_IDS_MAX ||
	    n > drfs_rd_left(&rd) / (DRFS_ID_LEN + 2) ||
	    (n == 0 && !(h.flags & DRFS_FORGET_F_BASELINE)))
		return -EBADMSG;
	h.time.tv_nsec = (long)ns;
	h.n = (uint32_t)n;
	h.entries = rd;
	for (uint64_t i = 0; i < n; i++) {
		if (get_entry(&rd, i ? &prev : NULL, &e) < 0)
			return -EBADMSG;
		prev = e.id;
	}
	if (drfs_rd_left(&rd) != 0)
		return -EBADMSG;
	*ret = h;
	return 0;
}

int drfs_forget_rec_next(struct drfs_forget_rec *rec,
			 struct drfs_forget_entry *ret)
{
	if (drfs_rd_left(&rec->entries) == 0)
		return 0;
	/* validated by decode: order needs no second check */
	return get_entry(&rec->entries, NULL, ret) < 0 ? 0 : 1;
}
