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

/*
 * A set of ids (trees walked, packs seen): open addressing over the ids'
 * own bytes (keyed hashes, uniform). Zero-initialise; drfs_idset_free.
 */
struct drfs_idset {
	struct drfs_id *v; /* cap slots, the zero id marks a free one */
	size_t cap, n;
	bool has_zero;     /* the zero id itself is a member */
};

/* 1 if id was already a member, 0 if added, -ENOMEM (set unchanged). */
int drfs_idset_add(struct drfs_idset *s, const struct drfs_id *id);
bool drfs_idset_has(const struct drfs_idset *s, const struct drfs_id *id);
void drfs_idset_free(struct drfs_idset *s);

/* Hex of an id; out must hold DRFS_ID_HEX_LEN + 1 bytes. Returns out. */
char *drfs_id_hex(const struct drfs_id *id, char *out);
/* Parse exactly 64 hex digits. -EINVAL on anything else. */
int drfs_id_parse(const char *hex, struct drfs_id *ret);
/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void drfs_hex(const void *p, size_t len, char *out);
/*
 * Exactly 2*len hex digits (either case) from hex into out[0..len); what
 * follows them is not looked at. -EINVAL on a non-digit (out may then be
 * partly written).
 */
int drfs_unhex(const char *hex, size_t len, void *out);

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
/*
 * CLOCK_REALTIME sec seconds from now (negative: now), the absolute
 * deadline pthread_cond_timedwait wants.
 */
void drfs_realtime_after(double sec, struct timespec *ret);
/* Milliseconds since t0 (a drfs_now_mono() value), at least 1. */
uint64_t drfs_duration_ms(double t0);

/*
 * This machine's name (gethostname(), "localhost" if it has none), cut to
 * len - 1 bytes: the host a snapshot records unless told otherwise.
 */
void drfs_hostname(char *out, size_t len);

/*
 * The valid UTF-8 sequence at p[0..len): its length (1..4) and code point
 * (*ret_cp), or 0 if p starts none (a stray or missing continuation byte,
 * an overlong form, a surrogate, beyond U+10FFFF).
 */
size_t drfs_utf8_decode(const uint8_t *p, size_t len, uint32_t *ret_cp);
/*
 * Whether code point cp shows as itself on a terminal: not a C0 or C1
 * control, DEL, nor a bidirectional override or isolate (U+202A..U+202E,
 * U+2066..U+2069), which would reorder what follows.
 */
bool drfs_cp_printable(uint32_t cp);

/* Bytes drfs_str_show() needs for a string of n bytes. */
#define DRFS_SHOW_BUF(n) (4 * (size_t)(n) + 4)
/*
 * s as text for a terminal or a log line, when s comes from a repository
 * (a host, a path, a tag): printable characters (drfs_cp_printable) as
 * they are, '"' and '\' as \" and \\, every other byte as \xHH, so no
 * byte of s can move the cursor, start an escape sequence, end a line or
 * a quoted string. Cut with "..." to fit out (out_len >= 16). Returns out.
 */
char *drfs_str_show(const char *s, char *out, size_t out_len);

/* Fill with cryptographically secure random bytes. */
int drfs_random(void *p, size_t len);

/*
 * Room for one more element in a growing array: *(void **)v holds n
 * elements of elem bytes and room for *cap; when full, the room doubles
 * (first elements at the start). 0, or -ENOMEM with the array untouched.
 */
int drfs_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first);

/*
 * Parse a size like "512M", "2G", "100k", "4096" (binary units) into bytes.
 * -EINVAL on garbage or overflow.
 */
int drfs_parse_size(const char *s, uint64_t *ret);
/*
 * Parse a transfer rate into bytes per second: a whole number is KiB/s
 * (restic's unit: "512" is 512 KiB/s); with a unit it is a size as
 * drfs_parse_size takes it, per second, "/s" optional ("300K", "2M",
 * "2MiB/s"). At least 1 KiB/s. -EINVAL on garbage, 0 or overflow.
 */
int drfs_parse_rate(const char *s, uint64_t *ret);
/* Parse a duration like "30s", "15m", "1h", "7d", "2w", "1h30m" into seconds. */
int drfs_parse_duration(const char *s, int64_t *ret);
/*
 * Parse an RFC 3339 time: "2026-11-21T14:30:05Z" or with an offset
 * ("2026-11-21T14:30:05+02:00", "...-05:30"), with optional fractional
 * seconds; also "2026-11-21 14:30:05" and "2026-11-21" (both UTC).
 */
int drfs_parse_time(const char *s, struct timespec *ret);
/* RFC 3339 in UTC to the nanosecond: "2026-11-21T14:30:05.000000000Z". */
char *drfs_fmt_time_iso(const struct timespec *t, char out[48]);
/* "1.5 GiB" style; out must hold 32 bytes. Returns out. */
char *drfs_fmt_bytes(uint64_t n, char *out);

/*
 * Memory for secrets (passphrases, master keys): pages of their own,
 * zero-filled, locked in RAM where RLIMIT_MEMLOCK allows (never swapped)
 * and left out of core dumps (MADV_DONTDUMP). NULL if out of memory.
 * drfs_secret_free overwrites the whole allocation with zeros before
 * unmapping it; it accepts NULL. (src/base/secret.c)
 */
void *drfs_secret_alloc(size_t len);
void drfs_secret_free(void *p);
/* A copy of s in secret memory; NULL if out of memory. */
char *drfs_secret_strdup(const char *s);
/* Overwrite p[0..len) with zeros; never optimised away. */
void drfs_wipe(void *p, size_t len);

/*
 * Visit the directory dirfd (left open) and everything below it without
 * following symlinks: cb(path relative to dirfd, "" for dirfd itself,
 * permission bits, ud) for each directory and regular file whose mode
 * grants group or other users any access. Unreadable directories are
 * skipped. A callback's negative return ends the walk with it.
 */
typedef int (*drfs_mode_cb)(const char *path, unsigned mode, void *ud);
int drfs_scan_loose_modes(int dirfd, drfs_mode_cb cb, void *ud);

/*
 * mkdir -p: every missing directory of path (absolute or relative) is
 * created with mode (less the umask); existing ones are left as they are.
 */
int drfs_mkdir_p(const char *path, unsigned mode);

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

/*
 * Tell systemd (sd_notify(3): the datagram to $NOTIFY_SOCKET, no
 * libsystemd), e.g. "READY=1". 0 also when $NOTIFY_SOCKET is not set;
 * -errno when it cannot be sent. (src/base/sdnotify.c)
 */
int drfs_sd_notify(const char *state);

#endif
