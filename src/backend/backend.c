/* SPDX-License-Identifier: MIT */
/*
 * backend.c - opening a backend by URL, and the generic helpers.
 *
 * Ownership: an implementation's ops->free releases everything it
 * allocated, the struct and its display string included.
 */
#include "drfs/backend.h"
#include "drfs/s3.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#define FILE_SCHEME "file://"
#define S3_SCHEME "s3://"

static _Thread_local bool last_open_s3;
static _Thread_local char url_err[512];

const char *drfs_backend_open_error(void)
{
	if (url_err[0])
		return url_err;
	return last_open_s3 ? drfs_s3_open_error() : NULL;
}

static int _printf_(2, 3) bad_url(const char *url, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(url_err, sizeof(url_err),
		 "invalid repository URL \"%.60s\": %s (want /path, "
		 "file:///path or s3://bucket[/prefix])",
		 url, what);
	return -EINVAL;
}

int drfs_backend_open(const char *url, const struct drfs_backend_opts *opts,
		      struct drfs_backend **ret)
{
	static const struct drfs_backend_opts none = { .path_style = -1,
						       .retries = -1 };

	url_err[0] = '\0';
	if (!url || !*url)
		return bad_url("", "it is empty");
	if (!opts)
		opts = &none;
	last_open_s3 = strncmp(url, S3_SCHEME, strlen(S3_SCHEME)) == 0;
	if (last_open_s3)
		return drfs_backend_s3_open(url, opts, ret);
	if (strncmp(url, FILE_SCHEME, strlen(FILE_SCHEME)) == 0) {
		const char *path = url + strlen(FILE_SCHEME);

		/* Only file:///path: no host part. */
		if (path[0] != '/')
			return bad_url(url, "a file:// URL has an absolute "
					    "path and no host (file:///path)");
		return drfs_backend_local_open(path, opts->create, ret);
	}
	/* Any other "scheme://" is unknown, not a relative path. */
	const char *sep = strstr(url, "://");
	if (sep) {
		const char *c = url;
		while (c < sep && ((*c >= 'a' && *c <= 'z') ||
				   (*c >= 'A' && *c <= 'Z') ||
				   (*c >= '0' && *c <= '9') || *c == '+' ||
				   *c == '-' || *c == '.'))
			c++;
		if (c == sep && sep != url) {
			int n = (int)(sep - url);
			if (!strncasecmp(url, "s3", 2) && n == 2)
				return bad_url(url, "the scheme is lower case: "
						    "s3://");
			if (!strncasecmp(url, "file", 4) && n == 4)
				return bad_url(url, "the scheme is lower case: "
						    "file://");
			return bad_url(url, "unknown scheme \"%.*s\"", n, url);
		}
	}
	/* "s3:/b", "s3:b": a mistyped URL more likely than a directory */
	if (!strncasecmp(url, "s3:", 3))
		return bad_url(url, "an S3 URL has two slashes (s3://bucket); "
				    "a directory named so is ./%s", url);
	return drfs_backend_local_open(url, opts->create, ret);
}

/*
 * A token bucket that may go into debt: a transfer takes its bytes at once
 * and its caller sleeps until the debt is paid, so concurrent transfers
 * queue behind each other and together keep to the rate.
 */
struct limiter {
	pthread_mutex_t lock;
	_Atomic uint64_t rate; /* bytes per second; 0: no limit */
	double tokens;         /* bytes that may go now (< 0: owed) */
	double last;           /* drfs_now_mono() of the last refill */
};

static struct limiter limit_up = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct limiter limit_down = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The burst allowed after an idle time: a quarter of a second's worth. */
#define LIMIT_BURST_S 0.25

static void limiter_set(struct limiter *l, uint64_t rate)
{
	pthread_mutex_lock(&l->lock);
	l->rate = rate;
	l->tokens = (double)rate * LIMIT_BURST_S;
	l->last = drfs_now_mono();
	pthread_mutex_unlock(&l->lock);
}

static void limiter_take(struct limiter *l, uint64_t n)
{
	double wait = 0, now, rate, cap;
	struct timespec ts;

	if (!n || !atomic_load(&l->rate))
		return;
	pthread_mutex_lock(&l->lock);
	rate = (double)l->rate;
	cap = rate * LIMIT_BURST_S;
	now = drfs_now_mono();
	l->tokens += rate * (now - l->last);
	if (l->tokens > cap)
		l->tokens = cap;
	l->last = now;
	l->tokens -= (double)n;
	if (l->tokens < 0)
		wait = -l->tokens / rate;
	pthread_mutex_unlock(&l->lock);
	if (wait <= 0)
		return;
	ts.tv_sec = (time_t)wait;
	ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void drfs_backend_set_limits(uint64_t up_bps, uint64_t down_bps)
{
	limiter_set(&limit_up, up_bps);
	limiter_set(&limit_down, down_bps);
}

void drfs_backend_limit_up(uint64_t n)
{
	limiter_take(&limit_up, n);
}

void drfs_backend_limit_down(uint64_t n)
{
	limiter_take(&limit_down, n);
}

const char *drfs_backend_kind_name(enum drfs_backend_kind k)
{
	static const char *const names[DRFS_BE_KINDS] = {
		"connect", "timeout", "transfer", "throttle",
		"server",  "denied",  "other"
	};
	return (unsigned)k < DRFS_BE_KINDS ? names[k] : "other";
}

void drfs_backend_free(struct drfs_backend *b)
{
	if (b)
		b->ops->free(b);
}

int drfs_backend_del_many(struct drfs_backend *b, const char *const *names,
			  size_t n)
{
	if (n == 0)
		return 0;
	if (b->ops->del_many)
		return b->ops->del_many(b, names, n);
	/* Stops at the first error; the names before it are gone. */
	for (size_t i = 0; i < n; i++) {
		int r = b->ops->del(b, names[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int drfs_backend_same_bytes(struct drfs_backend *b, const char *name,
			    const void *p, size_t len)
{
	struct drfs_buf got;
	int r;

	if (len == SIZE_MAX)
		return -E2BIG;
	drfs_buf_init(&got, len + 1);
	r = drfs_backend_get(b, name, 0, UINT64_MAX, &got);
	if (r == -E2BIG)
		r = 0; /* longer than ours */
	else if (r >= 0)
		r = got.len == len && (len == 0 || !memcmp(got.p, p, len));
	drfs_buf_release(&got);
	return r;
}

struct list_plain {
	drfs_list_info_cb cb;
	void *userdata;
};

static int list_plain_cb(const char *name, uint64_t size, void *userdata)
{
	struct list_plain *lp = userdata;
	struct drfs_obj_info info = { .size = size };
	return lp->cb(name, &info, lp->userdata);
}

int drfs_backend_list_info(struct drfs_backend *b, const char *prefix,
			   drfs_list_info_cb cb, void *userdata)
{
	struct list_plain lp = { cb, userdata };
	if (b->ops->list_info)
		return b->ops->list_info(b, prefix, cb, userdata);
	return b->ops->list(b, prefix, list_plain_cb, &lp);
}

int drfs_backend_stat(struct drfs_backend *b, const char *name,
		      struct drfs_obj_info *ret)
{
	struct drfs_obj_info info = { 0 };
	int r;
	if (b->ops->stat)
		return b->ops->stat(b, name, ret);
	r = b->ops->head(b, name, &info.size);
	if (r >= 0)
		*ret = info;
	return r;
}

int drfs_backend_etag_md5(const char *etag, const void *p, size_t len)
{
	char b64[25], hex[33];

	if (strlen(etag) != 32 || strspn(etag, "0123456789abcdef") != 32)
		return -1;
	drfs_s3_md5(p ? p : "", len, b64, hex);
	return strcmp(etag, hex) == 0;
}
