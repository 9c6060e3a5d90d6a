/* SPDX-License-Identifier: MIT */
/*
 * drilllog.c - the drill log of a cache directory (<cache-dir>/drills, one
 * line per drill, its newest DRFS_DRILL_LOG_MAX kept): read through
 * drfs_drill_log_parse (facts.c), rewritten whole and renamed into place
 * on each drill.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "drfs/facts.h"
#include "drfs/limits.h"

#define DRILL_LOG_NAME "drills"

static int log_path(struct drfs_repo *r, const char *suffix, char *out,
		    size_t len)
{
	if (!r->cache_dir)
		return -ENOENT;
	int l = snprintf(out, len, "%s/" DRILL_LOG_NAME "%s", r->cache_dir,
			 suffix);
	return l < 0 || (size_t)l >= len ? -ENAMETOOLONG : 0;
}

/* The log's bytes into b (at most its max); 0 and nothing when absent. */
static int log_load(struct drfs_repo *r, struct drfs_buf *b)
{
	char path[PATH_MAX];
	int e = log_path(r, "", path, sizeof(path));
	if (e < 0)
		return e;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	e = drfs_buf_reserve(b, b->max);
	while (e >= 0 && b->len < b->max) {
		ssize_t k = read(fd, b->p + b->len, b->max - b->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			e = k < 0 ? -errno : 0;
			break;
		}
		b->len += (size_t)k;
	}
	close(fd);
	return e;
}

#define LOG_BYTES (DRFS_DRILL_LOG_MAX * (DRFS_DRILL_LOG_LINE_MAX + 1))

int drfs_drill_log_read(struct drfs_repo *r, struct drfs_drill_rec **ret,
			size_t *ret_n)
{
	struct drfs_buf b;
	drfs_buf_init(&b, LOG_BYTES);
	int e = log_load(r, &b);
	struct drfs_drill_rec *v =
		e < 0 ? NULL : calloc(DRFS_DRILL_LOG_MAX, sizeof(*v));
	if (e >= 0 && !v)
		e = -ENOMEM;
	if (e >= 0) {
		*ret_n = drfs_drill_log_parse(b.p, b.len, v,
					      DRFS_DRILL_LOG_MAX);
		*ret = v;
	}
	drfs_buf_release(&b);
	return e < 0 ? e : 0;
}

int drfs_drill_log_add(struct drfs_repo *r, const struct drfs_drill_rec *d)
{
	struct drfs_drill_rec *v = NULL;
	size_t n = 0;
	char path[PATH_MAX], tmp[PATH_MAX], hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_buf b;
	int e = log_path(r, "", path, sizeof(path));
	e = e ?: log_path(r, ".tmp", tmp, sizeof(tmp));
	e = e ?: drfs_drill_log_read(r, &v, &n);
	if (e < 0)
		return e;
	drfs_buf_init(&b, LOG_BYTES);
	size_t from = n + 1 > DRFS_DRILL_LOG_MAX ? n + 1 - DRFS_DRILL_LOG_MAX
						 : 0;
	for (size_t i = from; e >= 0 && i <= n; i++) {
		const struct drfs_drill_rec *x = i < n ? &v[i] : d;
		e = drfs_buf_printf(&b, "%" PRId64 " %s %s %" PRIu64 " %" PRIu64
				    " %" PRIu64 "\n",
				    x->time, drfs_id_hex(&x->snapshot, hex),
				    x->ok ? "ok" : "failed", x->restore_ms,
				    x->files, x->bytes);
	}
	free(v);
	int fd = e < 0 ? -1
		       : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
					   O_NOFOLLOW,
			      0600);
	if (e >= 0 && fd < 0)
		e = -errno;
	if (e >= 0)
		e = drfs_pwrite_all(fd, b.p, b.len, 0);
	if (e >= 0 && fsync(fd) < 0)
		e = -errno;
	if (fd >= 0)
		close(fd);
	if (e >= 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0 && fd >= 0)
		unlink(tmp);
	drfs_buf_release(&b);
	return e < 0 ? e : 0;
}
