/* SPDX-License-Identifier: MIT */
/*
 * buf.h - the one growable buffer of drfs, and the one reader of untrusted
 * bytes.
 *
 * struct drfs_buf invariants:
 *   - len <= cap <= max; p is NULL iff cap == 0;
 *   - every append that would take len past max fails with -E2BIG and leaves
 *     the buffer unchanged; allocation failure is -ENOMEM, same guarantee;
 *   - max is fixed at init; there is no unbounded buffer.
 *
 * struct drfs_rd is a cursor over (p, len) that never reads past the end. A
 * failed read sets rd->err (sticky) and returns zeroes, so a parser can read
 * a whole record and test drfs_rd_err() once; its error is -EBADMSG.
 */
#ifndef DRFS_BUF_H
#define DRFS_BUF_H

#include "drfs/base.h"

struct drfs_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
};

void drfs_buf_init(struct drfs_buf *b, size_t max);
void drfs_buf_release(struct drfs_buf *b);
/* Make room for n more bytes without changing len. */
int drfs_buf_reserve(struct drfs_buf *b, size_t n) _warn_unused_;
int drfs_buf_append(struct drfs_buf *b, const void *p, size_t n) _warn_unused_;
int drfs_buf_u8(struct drfs_buf *b, uint8_t v) _warn_unused_;
int drfs_buf_le32(struct drfs_buf *b, uint32_t v) _warn_unused_;
int drfs_buf_le64(struct drfs_buf *b, uint64_t v) _warn_unused_;
/* LEB128 unsigned varint, at most 10 bytes, at p: the bytes written. */
size_t drfs_put_uvarint(uint8_t *p, uint64_t v);
/* Zig-zag signed varint at p: the bytes written (at most 10). */
size_t drfs_put_svarint(uint8_t *p, int64_t v);
/* LEB128 unsigned varint, at most 10 bytes. */
int drfs_buf_uvarint(struct drfs_buf *b, uint64_t v) _warn_unused_;
/* Zig-zag signed varint. */
int drfs_buf_svarint(struct drfs_buf *b, int64_t v) _warn_unused_;
/* uvarint length followed by the bytes. */
int drfs_buf_bytes(struct drfs_buf *b, const void *p, size_t n) _warn_unused_;
/* Append a NUL-terminated string formatted printf-style (NUL not counted). */
int drfs_buf_printf(struct drfs_buf *b, const char *fmt, ...) _printf_(2, 3)
	_warn_unused_;
static inline void drfs_buf_reset(struct drfs_buf *b)
{
	b->len = 0;
}
/*
 * Append s as a JSON string: quoted, '"' and '\\' escaped, characters that
 * are not printable (drfs_cp_printable) as \\uXXXX, bytes that are not
 * UTF-8 as \\ufffd.
 */
int drfs_buf_json_str(struct drfs_buf *b, const char *s) _warn_unused_;
/* Take the memory out; the buffer is empty afterwards. */
uint8_t *drfs_buf_steal(struct drfs_buf *b, size_t *ret_len);

struct drfs_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;
};

static inline void drfs_rd_init(struct drfs_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}
static inline size_t drfs_rd_left(const struct drfs_rd *r)
{
	return r->err ? 0 : r->len - r->off;
}
static inline int drfs_rd_err(const struct drfs_rd *r)
{
	return r->err;
}
uint8_t drfs_rd_u8(struct drfs_rd *r);
uint32_t drfs_rd_le32(struct drfs_rd *r);
uint64_t drfs_rd_le64(struct drfs_rd *r);
uint64_t drfs_rd_uvarint(struct drfs_rd *r);
int64_t drfs_rd_svarint(struct drfs_rd *r);
/* Copy n bytes out (zeroes and error if short). */
void drfs_rd_copy(struct drfs_rd *r, void *out, size_t n);
/*
 * A uvarint length followed by that many bytes; returns a pointer into the
 * input (valid as long as the input) and the length, or NULL + error if the
 * length exceeds max or the input.
 */
const uint8_t *drfs_rd_bytes(struct drfs_rd *r, size_t max, size_t *ret_len);
/*
 * drfs_rd_bytes() of at most max bytes without a NUL (else the error is
 * set), copied into out[max + 1] and terminated; "" on any error.
 */
void drfs_rd_str(struct drfs_rd *r, char *out, size_t max);
/* Skip n raw bytes, returning a pointer to them. */
const uint8_t *drfs_rd_raw(struct drfs_rd *r, size_t n);

#endif
