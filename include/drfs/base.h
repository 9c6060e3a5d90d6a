/* SPDX-License-Identifier: MIT */
/*
 * base.h - the smallest common vocabulary of drfs.
 *
 * Error convention (all of drfs): a function that acts returns int, >= 0 on
 * success and a negative errno on failure. Corruption of anything read from a
 * repository is always -EBADMSG. Predicates return bool.
 *
 * Cleanup idiom: _cleanup_(fn) on locals, TAKE_PTR() to hand ownership out.
 */
#ifndef DRFS_BASE_H
#define DRFS_BASE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hand a pointer out of a _cleanup_ scope. */
#define TAKE_PTR(p)                                                            \
	({                                                                     \
		__typeof__(p) _tp = (p);                                       \
		(p) = NULL;                                                    \
		_tp;                                                           \
	})

static inline void drfs_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(drfs_freep)

void drfs_closep(int *fd);
#define _cleanup_close_ _cleanup_(drfs_closep)

/* Length of every id in drfs: blob ids, pack ids, tree ids, snapshot ids. */
#define DRFS_ID_LEN 32
#define DRFS_ID_HEX_LEN (2 * DRFS_ID_LEN)

struct drfs_id {
	uint8_t b[DRFS_ID_LEN];
};

static inline bool drfs_id_eq(const struct drfs_id *a, const struct drfs_id *b)
{
	return memcmp(a->b, b->b, DRFS_ID_LEN) == 0;
}

static inline bool drfs_id_is_zero(const struct drfs_id *a)
{
	for (size_t i = 0; i < DRFS_ID_LEN; i++)
		if (a->b[i])
			return false;
	return true;
}

/* Hex of an id; out must hold DRFS_ID_HEX_LEN + 1 bytes. Returns out. */
char *drfs_id_hex(const struct drfs_id *id, char *out);
/* Parse exactly 64 hex digits. -EINVAL on anything else. */
int drfs_id_parse(const char *hex, struct drfs_id *ret);
/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void drfs_hex(const void *p, size_t len, char *out);

/* Little-endian load/store. */
static inline void drfs_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}
static inline void drfs_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}
static inline void drfs_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}
static inline uint16_t drfs_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t drfs_get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
static inline uint64_t drfs_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Monotonic clock in seconds, for progress and measurements. */
double drfs_now_mono(void);

/* Fill with cryptographically secure random bytes. */
int drfs_random(void *p, size_t len);

/*
 * Parse a size like "512M", "2G", "100k", "4096" (binary units) into bytes.
 * -EINVAL on garbage or overflow.
 */
int drfs_parse_size(const char *s, uint64_t *ret);
/* Parse a duration like "30s", "15m", "1h", "7d", "2w", "1h30m" into seconds. */
int drfs_parse_duration(const char *s, int64_t *ret);
/*
 * Parse an ISO 8601 UTC time: "2026-11-21T14:30:05Z", with optional
 * fractional seconds, or "2026-11-21 14:30:05", or "2026-11-21".
 */
int drfs_parse_time(const char *s, struct timespec *ret);
/* "1.5 GiB" style; out must hold 32 bytes. Returns out. */
char *drfs_fmt_bytes(uint64_t n, char *out);

/* mkdir -p with mode 0700 for each directory created; 0 or -errno. */
int drfs_mkdir_p(const char *path);

/* Write/read a whole file descriptor, retrying on EINTR and short counts. */
int drfs_write_all(int fd, const void *p, size_t len);
int drfs_pwrite_all(int fd, const void *p, size_t len, uint64_t off);
/* Returns bytes read (< len only at EOF) or -errno. */
ssize_t drfs_pread_all(int fd, void *p, size_t len, uint64_t off);

/*
 * Open path (relative, '/'-separated; "" is root itself) beneath the
 * directory fd root, never leaving it: an absolute path or a ".."
 * component is -EXDEV, a symlink in any component, the last one included,
 * is -ELOOP (or -ENOTDIR: a symlink in the middle, or last with
 * O_DIRECTORY), with O_PATH too; O_NOFOLLOW and O_CLOEXEC are always
 * added. A concurrent rename or symlink swap inside root cannot lead it
 * outside. Uses
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or where the kernel lacks
 * it (ENOSYS, remembered) drfs_open_beneath_walk. Returns the fd or a
 * negative errno. Thread-safe.
 */
int drfs_open_beneath(int root, const char *path, int flags, mode_t mode);
/* The fallback: one openat(O_NOFOLLOW) per component, same contract. */
int drfs_open_beneath_walk(int root, const char *path, int flags, mode_t mode);

#endif
