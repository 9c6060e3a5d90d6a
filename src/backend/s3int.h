/* SPDX-License-Identifier: MIT */
/*
 * s3int.h - private to the S3 backend, shared by its rooms:
 *
 *   s3conf.c  configuration: the repository URL, endpoint, region,
 *             addressing and credentials, from the options, the
 *             environment and ~/.aws/{credentials,config};
 *   s3http.c  the HTTP engine: a pool of curl handles, one signed attempt,
 *             retries with exponential backoff and the one classification
 *             of HTTP and curl errors into negative errno, the error detail;
 *   s3.c      the operations behind the backend vtable (get, head, list,
 *             delete, Object Lock retention) and opening;
 *   s3put.c   put: create-only (If-None-Match and its fallback), multipart.
 *
 * Nothing outside src/backend/s3*.c includes this header (the pure parsers
 * unit tests and fuzzers call are in drfs/s3.h).
 *
 * Thread rule: struct s3 is immutable after open except the fields under
 * s3->lock; every function here may run concurrently from any thread.
 */
#ifndef DRFS_S3INT_H
#define DRFS_S3INT_H

#include <ctype.h>
#include <pthread.h>
#include <curl/curl.h>

#include "drfs/backend.h"
#include "drfs/s3.h"

#define S3_DEFAULT_CONNECTIONS 8
#define S3_MAX_CONNECTIONS 256
#define S3_DEFAULT_RETRIES 8
#define S3_BACKOFF_BASE_MS 100
#define S3_BACKOFF_CAP_MS 10000
#define S3_MULTIPART_THRESHOLD (64u << 20)
#define S3_PART_SIZE (16u << 20)
#define S3_DELETE_BATCH 1000
#define S3_ERRBODY_MAX (64u << 10)
#define S3_CONNECT_TIMEOUT_S 10L
/* A transfer slower than 1 KiB/s for this long is cut and retried. */
#define S3_LOW_SPEED_TIME_S 30L
#define S3_ERR_MAX 512

enum inm_state { INM_UNKNOWN, INM_HONOURED, INM_IGNORED };

struct s3 {
	struct drfs_backend base;
	/* Immutable after open. */
	char *bucket;
	char *prefix;   /* "" or "a/b/" */
	char *endpoint; /* base URL as given ("https://host:port") */
	char *url_base; /* base URL requests go to (virtual host applied) */
	char *host;     /* Host header, signed */
	char *region;
	char *access_key;
	char *secret_key;
	char *session_token; /* or NULL */
	bool path_style;
	bool insecure_tls;
	int retries;
	int connections;
	long low_speed_time;

	/* lock protects everything below. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int active;    /* transfers running */
	CURL **free_h; /* idle handles, at most connections */
	int n_free;
	enum inm_state inm;
	char last_err[S3_ERR_MAX]; /* most recent failure of any thread */
};

/* ---- configuration (s3conf.c) ------------------------------------------- */

/*
 * Fill the immutable part of s from url, o (may be NULL) and the
 * environment: bucket, prefix, region, credentials, endpoint, url_base,
 * host, addressing, connections, retries, timeouts, base.display. On
 * failure the detail is recorded (s3_set_err) and the fields filled so far
 * are left for s3_free to release.
 */
int s3_configure(struct s3 *s, const char *url,
		 const struct drfs_backend_opts *o);

/* Length of s[0..n) without trailing white space. */
static inline size_t s3_trim_len(const char *s, size_t n)
{
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return n;
}

/* ---- the HTTP engine (s3http.c) ----------------------------------------- */

/* One request: filled by the caller (in), then by s3_perform (out). */
struct s3_req {
	/* in */
	const char *method;
	const char *key;  /* full key (prefix included); NULL: the bucket */
	const char *name; /* for messages; NULL: key */
	struct drfs_s3_kv query[6];
	size_t nq;
	const void *body;
	size_t body_len;
	const char *sha256; /* hex of body; computed when NULL */
	const char *md5;    /* Content-MD5 (base64) or NULL */
	char range[64];     /* "bytes=a-b" or "" */
	bool if_none_match;
	bool bypass_governance; /* x-amz-bypass-governance-retention: true */
	bool conflict_retry;  /* 409 ConditionalRequestConflict is retried */
	struct drfs_buf *out; /* 2xx body sink, or NULL */
	int max_attempts;     /* 0: 1 + s->retries */

	/* out */
	int attempts; /* how many were made */
	long status;
	CURLcode cc;
	int os_errno;
	struct drfs_s3_error err; /* parsed from a non-2xx body */
	char etag[96];
	char bucket_region[64];
	uint64_t length;
	bool have_length;
	int sink_err;
	size_t out_base;
	struct drfs_buf errbody;
	CURL *h;
};

/* curl_global_init and SIGPIPE, once per process; 0 or -EIO. */
int s3_http_global_init(void);

/*
 * Perform q with retries. Returns 0 when the final response is 2xx, or one
 * of 404/412/416 (q->status tells; the caller decides), else negative errno
 * with the detail recorded.
 */
int s3_perform(struct s3 *s, struct s3_req *q);
/* s3_perform, where anything but a 2xx is a failure (404: -ENOENT). */
int s3_perform_2xx(struct s3 *s, struct s3_req *q);

/* Record the detail of q's failure (err: its errno) as the last error. */
void s3_report(struct s3 *s, struct s3_req *q, int err);
/* Record a detail (for the calling thread and as s's most recent). */
void s3_set_err(struct s3 *s, const char *fmt, ...) _printf_(2, 3);
/* The calling thread's last detail ("" when none); valid until its next
 * S3 call. */
const char *s3_thread_err(void);
/* Forget the calling thread's last detail (at open). */
void s3_thread_err_clear(void);
/* The calling thread's last detail, else s's most recent, or NULL. */
const char *s3_last_error_of(struct s3 *s);

/* Close the idle handles of s's pool (at free; no transfer may run). */
void s3_pool_release(struct s3 *s);

/* ---- operations shared by s3.c and s3put.c ------------------------------ */

static inline struct s3 *S3(struct drfs_backend *b)
{
	return (struct s3 *)b;
}

/* An acceptable object name (backend.h's rules). */
bool s3_name_ok(const char *name);
/* The full key of name (prefix applied), malloc'ed; NULL on ENOMEM. */
char *s3_full_key(struct s3 *s, const char *name);
/* HEAD key: its size and ETag (either may be NULL); -ENOENT if absent. */
int s3_head_key(struct s3 *s, const char *key, const char *name,
		uint64_t *ret_size, char *ret_etag, size_t etag_size);

/* The backend's put and probe_overwrite (s3put.c). */
int s3_put(struct drfs_backend *b, const char *name, const void *p, size_t len,
	   unsigned flags);
int s3_probe_overwrite(struct drfs_backend *b);

#endif
