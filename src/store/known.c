/* SPDX-License-Identifier: MIT */
/*
 * known.c - the known-repositories file (include/drfs/known.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/buf.h"
#include "drfs/known.h"

#define FILE_NAME "known-repositories"
#define HEADER                                                                 \
	"# drfs known repositories: the repository found at each location,\n" \
	"# recorded the first time drfs used it (like ssh's known_hosts).\n"  \
	"# drfs refuses a repository whose id or encryption differs from its\n" \
	"# line here. Delete the line of a repository you replaced on\n"      \
	"# purpose. Format: <repository id> <encrypted|unencrypted> <location>\n"

int drfs_known_path(char **ret)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;

	if (xdg && *xdg)
		n = asprintf(ret, "%s/drfs/" FILE_NAME, xdg);
	else if (home && *home)
		n = asprintf(ret, "%s/.config/drfs/" FILE_NAME, home);
	else
		return -ENOENT;
	return n < 0 ? -ENOMEM : 0;
}

static bool must_escape(uint8_t c)
{
	return c <= 0x20 || c >= 0x7f || c == '%';
}

/*
 * Compare the encoded location e[0..len) with the plain string want:
 * 1 equal, 0 different, -EBADMSG if e is not a valid encoding.
 */
static int location_eq(const uint8_t *e, size_t len, const char *want)
{
	const uint8_t *w = (const uint8_t *)want;
	bool same = true;

	if (len == 0)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = e[i];
		if (c == '%') {
			if (i + 2 >= len ||
			    drfs_unhex((const char *)e + i + 1, 1, &c) < 0)
				return -EBADMSG;
			i += 2;
		} else if (must_escape(c)) {
			return -EBADMSG;
		}
		if (same && *w == c)
			w++;
		else
			same = false;
	}
	return same && !*w;
}

/* One record line (without its '\n'); 1 if it is location's. */
static int parse_line(const uint8_t *p, size_t len, const char *location,
		      struct drfs_known *ret)
{
	static const char enc[] = "encrypted ", plain[] = "unencrypted ";
	struct drfs_known k;
	size_t i = 33;

	if (len < 33 || p[32] != ' ' ||
	    drfs_unhex((const char *)p, sizeof(k.repo_id), k.repo_id) < 0)
		return -EBADMSG;
	if (len - i > strlen(enc) && !memcmp(p + i, enc, strlen(enc))) {
		k.encrypted = true;
		i += strlen(enc);
	} else if (len - i > strlen(plain) &&
		   !memcmp(p + i, plain, strlen(plain))) {
		k.encrypted = false;
		i += strlen(plain);
	} else {
		return -EBADMSG;
	}
	int eq = location_eq(p + i, len - i, location);
	if (eq > 0)
		*ret = k;
	return eq;
}

int drfs_known_find(const void *buf, size_t len, const char *location,
		    struct drfs_known *ret, unsigned *ret_line)
{
	const uint8_t *p = buf, *end = p + len;
	unsigned line = 0;
	int found = 0;

	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		if (n && p[0] != '#') {
			struct drfs_known k;
			int r = parse_line(p, n, location, &k);
			if (r < 0) {
				*ret_line = line;
				return r;
			}
			if (r > 0 && !found) {
				*ret = k;
				*ret_line = line;
				found = 1;
			}
		}
		p += n + (nl ? 1 : 0);
	}
	return found;
}

/* The whole file into b; -ENOENT when there is none. */
static int read_file(const char *path, struct drfs_buf *b)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[4096];

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		int r = drfs_buf_append(b, chunk, (size_t)n);
		if (r < 0)
			return r == -E2BIG ? -EFBIG : r;
	}
}

int drfs_known_lookup(const char *path, const char *location,
		      struct drfs_known *ret, unsigned *ret_line)
{
	struct drfs_buf b;
	drfs_buf_init(&b, DRFS_KNOWN_FILE_MAX);
	int r = read_file(path, &b);
	if (r == -ENOENT)
		r = 0;
	else if (r >= 0)
		r = drfs_known_find(b.p, b.len, location, ret, ret_line);
	drfs_buf_release(&b);
	return r;
}

static int append_record(struct drfs_buf *b, const char *location,
			 const struct drfs_known *k)
{
	char hex[33], esc[4];
	int r;

	drfs_hex(k->repo_id, sizeof(k->repo_id), hex);
	r = drfs_buf_append(b, hex, 32);
	r = r ?: drfs_buf_append(b, k->encrypted ? " encrypted " :
						   " unencrypted ",
				 k->encrypted ? 11 : 13);
	for (const uint8_t *c = (const uint8_t *)location; r >= 0 && *c;
	     c++) {
		if (!must_escape(*c)) {
			r = drfs_buf_append(b, c, 1);
			continue;
		}
		snprintf(esc, sizeof(esc), "%%%02X", *c);
		r = drfs_buf_append(b, esc, 3);
	}
	return r ?: drfs_buf_append(b, "\n", 1);
}

/* Keep the lines of old that are not location's record. */
static int copy_other_lines(const struct drfs_buf *old, const char *location,
			    struct drfs_buf *out)
{
	const uint8_t *p = old->p, *end = p + old->len;
	int r = 0;

	while (r >= 0 && p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct drfs_known k;
		if (!n || p[0] == '#' || parse_line(p, n, location, &k) <= 0) {
			r = drfs_buf_append(out, p, n);
			r = r ?: drfs_buf_append(out, "\n", 1);
		}
		p += n + (nl ? 1 : 0);
	}
	return r;
}

static int write_file(const char *path, const struct drfs_buf *b)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = drfs_write_all(fd, b->p, b->len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int drfs_known_record(const char *path, const char *location,
		      const struct drfs_known *k, bool replace)
{
	_cleanup_free_ char *dir = strdup(path), *lock = NULL;
	_cleanup_close_ int lfd = -1;
	struct drfs_buf old, out;
	struct drfs_known have;
	unsigned line;
	int r;

	if (!dir || asprintf(&lock, "%s.lock", path) < 0)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		r = drfs_mkdir_p(dir, 0700);
		if (r < 0)
			return r;
	}
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return -errno;
	while (flock(lfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	drfs_buf_init(&old, DRFS_KNOWN_FILE_MAX);
	drfs_buf_init(&out, DRFS_KNOWN_FILE_MAX);
	r = read_file(path, &old);
	if (r == -ENOENT) {
		r = drfs_buf_append(&old, HEADER, strlen(HEADER));
	} else if (r >= 0 && !replace) {
		r = drfs_known_find(old.p, old.len, location, &have, &line);
		if (r > 0) {
			r = 1; /* another process recorded it meanwhile */
			goto out;
		}
	}
	if (r >= 0)
		r = copy_other_lines(&old, location, &out);
	r = r ?: append_record(&out, location, k);
	r = r ?: write_file(path, &out);
out:
	drfs_buf_release(&old);
	drfs_buf_release(&out);
	return r;
}
