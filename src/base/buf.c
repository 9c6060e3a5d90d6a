/* SPDX-License-Identifier: MIT */
#include "drfs/buf.h"

#include <stdarg.h>
#include <stdio.h>

void drfs_buf_init(struct drfs_buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void drfs_buf_release(struct drfs_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

int drfs_buf_reserve(struct drfs_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -E2BIG;
	size_t need = b->len + n;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max)
		cap = b->max;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int drfs_buf_append(struct drfs_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int r = drfs_buf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int drfs_buf_u8(struct drfs_buf *b, uint8_t v)
{
	return drfs_buf_append(b, &v, 1);
}

int drfs_buf_le32(struct drfs_buf *b, uint32_t v)
{
	uint8_t t[4];
	drfs_put_le32(t, v);
	return drfs_buf_append(b, t, 4);
}

int drfs_buf_le64(struct drfs_buf *b, uint64_t v)
{
	uint8_t t[8];
	drfs_put_le64(t, v);
	return drfs_buf_append(b, t, 8);
}

size_t drfs_put_uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		p[n] = v & 0x7f;
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

size_t drfs_put_svarint(uint8_t *p, int64_t v)
{
	return drfs_put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

int drfs_buf_uvarint(struct drfs_buf *b, uint64_t v)
{
	uint8_t t[10];
	return drfs_buf_append(b, t, drfs_put_uvarint(t, v));
}

int drfs_buf_svarint(struct drfs_buf *b, int64_t v)
{
	uint8_t t[10];
	return drfs_buf_append(b, t, drfs_put_svarint(t, v));
}

int drfs_buf_bytes(struct drfs_buf *b, const void *p, size_t n)
{
	size_t old = b->len;
	int r = drfs_buf_uvarint(b, n);
	if (r >= 0)
		r = drfs_buf_append(b, p, n);
	if (r < 0)
		b->len = old;
	return r;
}

int drfs_buf_printf(struct drfs_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	int r = drfs_buf_reserve(b, (size_t)n + 1);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int drfs_buf_json_str(struct drfs_buf *b, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	int r = drfs_buf_u8(b, '"');
	for (size_t i = 0, k; r >= 0 && i < n; i += k ? k : 1) {
		uint32_t cp;
		k = drfs_utf8_decode(p + i, n - i, &cp);
		if (!k)
			r = drfs_buf_printf(b, "\\ufffd");
		else if (cp == '"' || cp == '\\')
			r = drfs_buf_printf(b, "\\%c", (char)cp);
		else if (!drfs_cp_printable(cp))
			r = drfs_buf_printf(b, "\\u%04x", (unsigned)cp);
		else
			r = drfs_buf_append(b, p + i, k);
	}
	return r < 0 ? r : drfs_buf_u8(b, '"');
}

uint8_t *drfs_buf_steal(struct drfs_buf *b, size_t *ret_len)
{
	uint8_t *p = b->p;
	if (ret_len)
		*ret_len = b->len;
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

static bool rd_need(struct drfs_rd *r, size_t n)
{
	if (r->err)
		return false;
	if (n > r->len - r->off) {
		r->err = -EBADMSG;
		return false;
	}
	return true;
}

uint8_t drfs_rd_u8(struct drfs_rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return r->p[r->off++];
}

uint32_t drfs_rd_le32(struct drfs_rd *r)
{
	if (!rd_need(r, 4))
		return 0;
	uint32_t v = drfs_get_le32(r->p + r->off);
	r->off += 4;
	return v;
}

uint64_t drfs_rd_le64(struct drfs_rd *r)
{
	if (!rd_need(r, 8))
		return 0;
	uint64_t v = drfs_get_le64(r->p + r->off);
	r->off += 8;
	return v;
}

uint64_t drfs_rd_uvarint(struct drfs_rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (!rd_need(r, 1))
			return 0;
		uint8_t c = r->p[r->off++];
		if (shift == 63 && (c & 0x7e)) {
			r->err = -EBADMSG;
			return 0;
		}
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			/* canonical only: no over-long encodings */
			if (c == 0 && shift > 0) {
				r->err = -EBADMSG;
				return 0;
			}
			return v;
		}
	}
	r->err = -EBADMSG;
	return 0;
}

int64_t drfs_rd_svarint(struct drfs_rd *r)
{
	uint64_t z = drfs_rd_uvarint(r);
	return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

void drfs_rd_copy(struct drfs_rd *r, void *out, size_t n)
{
	if (!rd_need(r, n)) {
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p + r->off, n);
	r->off += n;
}

const uint8_t *drfs_rd_raw(struct drfs_rd *r, size_t n)
{
	if (!rd_need(r, n))
		return NULL;
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

const uint8_t *drfs_rd_bytes(struct drfs_rd *r, size_t max, size_t *ret_len)
{
	uint64_t n = drfs_rd_uvarint(r);
	if (r->err)
		return NULL;
	if (n > max) {
		r->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = drfs_rd_raw(r, (size_t)n);
	if (p)
		*ret_len = (size_t)n;
	return p;
}

void drfs_rd_str(struct drfs_rd *r, char *out, size_t max)
{
	size_t l = 0;
	const uint8_t *p = drfs_rd_bytes(r, max, &l);
	out[0] = 0;
	if (!p)
		return;
	if (memchr(p, 0, l)) {
		r->err = -EBADMSG;
		return;
	}
	memcpy(out, p, l);
	out[l] = 0;
}
