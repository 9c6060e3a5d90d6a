/* SPDX-License-Identifier: MIT */
/*
 * policyobj.c - payload of the sealed "policy" object (kind 6):
 *
 *   version u8 = 1 | le32 last, hourly, daily, weekly, monthly, yearly |
 *   le64 within | le32 n_tags | n_tags NUL-terminated strings
 */
#include "drfs/format.h"

#define POLICY_VERSION 1

int drfs_policy_encode(const struct drfs_policy *p, struct drfs_buf *out)
{
	uint8_t h[1 + 6 * 4 + 8 + 4];
	const uint32_t c[] = { p->last,  p->hourly,  p->daily,
			       p->weekly, p->monthly, p->yearly };
	h[0] = POLICY_VERSION;
	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		drfs_put_le32(h + 1 + 4 * i, c[i]);
	drfs_put_le64(h + 25, (uint64_t)p->within);
	drfs_put_le32(h + 33, p->n_tags);
	size_t off = 0;
	for (uint32_t i = 0; i < p->n_tags; i++) {
		size_t l = strnlen(p->tags + off, sizeof(p->tags) - off);
		if (off + l >= sizeof(p->tags))
			return -EINVAL;
		off += l + 1;
	}
	int e = drfs_buf_append(out, h, sizeof(h));
	return e ?: drfs_buf_append(out, p->tags, off);
}

int drfs_policy_decode(const void *buf, size_t len, struct drfs_policy *ret)
{
	const uint8_t *b = buf;
	struct drfs_policy p = { 0 };
	if (len < 37 || b[0] != POLICY_VERSION)
		return -EBADMSG;
	uint32_t *c[] = { &p.last,   &p.hourly,  &p.daily,
			  &p.weekly, &p.monthly, &p.yearly };
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		*c[i] = drfs_get_le32(b + 1 + 4 * i);
		if (*c[i] > 1000000)
			return -EBADMSG;
	}
	p.within = (int64_t)drfs_get_le64(b + 25);
	p.n_tags = drfs_get_le32(b + 33);
	if (p.within < 0 || p.n_tags > DRFS_TAGS_MAX)
		return -EBADMSG;
	size_t rest = len - 37, off = 0;
	if (rest > sizeof(p.tags))
		return -EBADMSG;
	for (uint32_t i = 0; i < p.n_tags; i++) {
		const uint8_t *z = memchr(b + 37 + off, 0, rest - off);
		size_t l = z ? (size_t)(z - (b + 37 + off)) : 0;
		if (!z || l == 0 || l > DRFS_TAG_MAX)
			return -EBADMSG;
		off += l + 1;
	}
	if (off != rest)
		return -EBADMSG;
	memcpy(p.tags, b + 37, rest);
	*ret = p;
	return 0;
}
