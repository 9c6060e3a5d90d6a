/* SPDX-License-Identifier: MIT */
/*
 * s3int.h - private to the S3 backend, shared by its rooms:
 *
 *   s3conf.c  configuration: the repository URL, endpoint, region,
 *             addressing, CA bundle, from the options, the environment
 *             and ~/.aws/{credentials,config};
 *   s3cred.c  credentials: the provider chain (environment, web identity,
 *             the profile, container endpoint, instance metadata) and
 *             their refresh before they expire;
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

/* Where the credentials come from (s3cred.c). */
enum s3_provider {
	S3_CREDS_STATIC,       /* environment or profile keys: never change */
	S3_CREDS_WEB_IDENTITY, /* STS AssumeRoleWithWebIdentity */
	S3_CREDS_CONTAINER,    /* ECS/EKS container credentials endpoint */
	S3_CREDS_IMDS,         /* EC2 instance metadata service, IMDSv2 */
};

struct s3 {
	struct drfs_backend base;
	/* Immutable after open. */
	char *bucket;
	char *prefix;   /* "" or "a/b/" */
	char *endpoint; /* base URL as given ("https://host:port") */
	char *url_base; /* base URL requests go to (virtual host applied) */
	char *host;     /* Host header, signed */
	char *region;
	char *ca_bundle; /* CURLOPT_CAINFO (AWS_CA_BUNDLE, ca_bundle), or NULL */
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

	/*
	 * Credentials (s3cred.c). The provider and its settings are
	 * immutable after open; creds_lock protects the keys and times.
	 * Static keys never change; a provider's are refreshed before they
	 * expire.
	 */
	pthread_mutex_t creds_lock;
	enum s3_provider provider;
	char *prov_url;        /* IMDS base, container URI, or STS endpoint */
	char *prov_auth;       /* container: Authorization value, or NULL */
	char *prov_auth_file;  /* container: the file holding it, or NULL */
	char *role_arn;        /* web identity */
	char *token_file;      /* web identity: the OIDC token's file */
	char *session_name;    /* web identity */
	char *access_key;      /* (creds_lock) */
	char *secret_key;      /* (creds_lock) */
	char *session_token;   /* (creds_lock) or NULL */
	int64_t creds_expire;  /* (creds_lock) seconds since 1970; 0 never */
	int64_t creds_margin;  /* (creds_lock) refresh this long before */
	double creds_tried;    /* (creds_lock) last failed refresh (mono) */
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

/* ~/.aws/credentials and ~/.aws/config, read once at open. */
struct s3_aws_files {
	const char *profile; /* --profile, AWS_PROFILE, or "default" */
	bool profile_given;  /* by the option: environment keys are skipped */
	char cfgsec[300];    /* its section in config ("profile NAME") */
	char *creds, *config; /* the files' text, or NULL */
	size_t creds_len, config_len;
};
/* key for the profile in config (config) or credentials; -ENOENT. */
int s3_files_get(const struct s3_aws_files *f, bool config, const char *key,
		 char **ret);
/* key of sub-section service ("s3", "sts") of the profile's services
 * section ("services = NAME", "[services NAME]"); -ENOENT. */
int s3_files_service(const struct s3_aws_files *f, const char *service,
		     const char *key, char **ret);
void s3_files_release(struct s3_aws_files *f);

/* ---- credentials (s3cred.c) ---------------------------------------------- */

/* The keys one request is signed with: copies, wiped on release. */
struct s3_signing {
	char *access_key, *secret_key, *session_token;
};

/*
 * Find the credentials (docs/s3.md has the order): the environment (not
 * with --profile), web identity, the profile's keys, a container endpoint,
 * the instance metadata service; a provider's are fetched now, so a
 * failure is reported at open. -EACCES with the detail recorded.
 */
int s3_creds_init(struct s3 *s, const struct s3_aws_files *f);
/* The keys for one request, refreshed first when they are about to
 * expire. -EACCES (detail recorded) when they expired and could not be. */
int s3_creds_get(struct s3 *s, struct s3_signing *ret);
void s3_signing_release(struct s3_signing *sg);
/* The server said the token expired: refresh before the next request.
 * false for static keys (nothing to refresh). */
bool s3_creds_invalidate(struct s3 *s);
/* Free and wipe everything s3_creds_init set (at free). */
void s3_creds_release(struct s3 *s);

/* The environment variable name, or NULL when unset or empty. */
static inline const char *s3_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* A small text file whole (at most 1 MiB, NUL-terminated), or NULL. */
char *s3_read_file(const char *path, size_t *ret_len);

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

/* An unsigned request to a credentials provider (not through the pool). */
struct s3_fetch {
	const char *method;
	const char *url;
	const char *headers[4]; /* "Name: value" */
	size_t nh;
	const char *body; /* or NULL */
	long timeout_s;   /* the whole transfer; connecting: at most 1 s */
	int attempts;
};
/*
 * Run f; the response body into out (bounded by out->max), its status into
 * *ret_status. 0 when a response arrived (any status), else a negative
 * errno (-ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT, -EIO) with *why set.
 */
int s3_http_fetch(struct s3 *s, const struct s3_fetch *f, struct drfs_buf *out,
		  long *ret_status, const char **why);

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
