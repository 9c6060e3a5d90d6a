/* SPDX-License-Identifier: MIT */
/*
 * s3.c - the S3 backend: whole objects over HTTP(S) with libcurl.
 *
 * Shape:
 *   - configuration (URL, credentials, region, endpoint) resolved once at
 *     open, from opts, the environment and ~/.aws/{credentials,config};
 *   - a pool of curl easy handles (a handle belongs to one thread at a time,
 *     connections are kept alive inside it) behind a counting gate that
 *     allows opts->connections transfers at once;
 *   - s3_perform() signs (sigv4.c) and runs one request, retrying with
 *     exponential backoff and full jitter, re-signed on every attempt;
 *   - the vtable operations on top, each translating HTTP and curl errors
 *     into negative errno in exactly one place (classify()).
 *
 * Create-only puts send "If-None-Match: *" (412 -> -EEXIST unless a HEAD
 * shows our own bytes there, 409 ConditionalRequestConflict -> retry). Whether the server honours it is
 * probed once per process, on the first create-only put, with a fixed
 * probe object (".drfs-inm-probe" under the prefix, never deleted, so
 * append-only credentials can probe).
 * A server that ignores it gets HEAD, then PUT, then a HEAD that checks the
 * ETag is ours (-EEXIST if another writer won); that fallback has a race
 * window between the first HEAD and the PUT (two writers can both
 * succeed there; the later one wins). Multipart uploads (objects above
 * S3_MULTIPART_THRESHOLD) always use that fallback for create-only.
 *
 * Thread rule: every operation may run concurrently from any thread.
 * last_error() is per thread (the detail of the calling thread's last
 * failure), falling back to the backend's most recent failure.
 */
#include "drfs/backend.h"
#include "drfs/limits.h"
#include "drfs/s3.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

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

static _Thread_local char tls_err[S3_ERR_MAX];
static _Thread_local uint64_t tls_rng;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ret;

static void global_init(void)
{
	struct sigaction sa;

	/* A peer closing a connection must not kill the process. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	global_ret = curl_global_init(CURL_GLOBAL_DEFAULT) ? -EIO : 0;
}

static void _printf_(2, 3) set_err(struct s3 *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tls_err, sizeof(tls_err), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->lock);
	memcpy(s->last_err, tls_err, sizeof(tls_err));
	pthread_mutex_unlock(&s->lock);
}

static uint64_t rng_next(void)
{
	if (!tls_rng) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		tls_rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
			  (uint64_t)pthread_self() ^ 0x9e3779b97f4a7c15ull;
	}
	tls_rng ^= tls_rng << 13;
	tls_rng ^= tls_rng >> 7;
	tls_rng ^= tls_rng << 17;
	return tls_rng;
}

/* ---- configuration ----------------------------------------------------- */

static bool bucket_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

int drfs_s3_parse_url(const char *url, char **ret_bucket, char **ret_prefix)
{
	const char *b, *slash;
	size_t blen;
	char *bucket, *prefix;

	if (strncmp(url, "s3://", 5))
		return -EINVAL;
	b = url + 5;
	slash = strchr(b, '/');
	blen = slash ? (size_t)(slash - b) : strlen(b);
	if (blen < 3 || blen > 63)
		return -EINVAL;
	for (size_t i = 0; i < blen; i++)
		if (!bucket_char(b[i]))
			return -EINVAL;

	const char *p = slash ? slash + 1 : "";
	size_t plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	if (plen > DRFS_S3_KEY_MAX - DRFS_OBJECT_NAME_MAX - 1)
		return -EINVAL;
	/* every segment non-empty, not "." or "..", printable */
	for (size_t i = 0, seg = 0; i <= plen; i++) {
		if (i == plen || p[i] == '/') {
			size_t sl = i - seg;
			if (plen && (sl == 0 || (sl == 1 && p[seg] == '.') ||
				     (sl == 2 && !strncmp(p + seg, "..", 2))))
				return -EINVAL;
			seg = i + 1;
		} else if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
			return -EINVAL;
		}
	}
	bucket = strndup(b, blen);
	prefix = strndup(p, plen);
	if (!bucket || !prefix) {
		free(bucket);
		free(prefix);
		return -ENOMEM;
	}
	*ret_bucket = bucket;
	*ret_prefix = prefix;
	return 0;
}

int drfs_s3_parse_endpoint(const char *endpoint, char **ret_base,
			   char **ret_host)
{
	const char *scheme = "https", *h = endpoint, *colon;
	size_t hlen;
	char *base = NULL, *host = NULL;

	if (!strncmp(endpoint, "https://", 8)) {
		h = endpoint + 8;
	} else if (!strncmp(endpoint, "http://", 7)) {
		scheme = "http";
		h = endpoint + 7;
	} else if (strstr(endpoint, "://")) {
		return -EINVAL;
	}
	hlen = strcspn(h, "/");
	if (h[hlen] && strcmp(h + hlen, "/"))
		return -EINVAL; /* a path after the host */
	if (hlen == 0 || hlen > 255)
		return -EINVAL;
	for (size_t i = 0; i < hlen; i++)
		if (!isalnum((unsigned char)h[i]) && !strchr(".-:[]_", h[i]))
			return -EINVAL;
	/* the Host header drops a default port, as curl would */
	size_t host_len = hlen;
	colon = memrchr(h, ':', hlen);
	if (colon && !memchr(colon, ']', hlen - (size_t)(colon - h))) {
		const char *port = colon + 1;
		size_t pl = hlen - (size_t)(port - h);
		if (pl == 0)
			return -EINVAL;
		if ((!strcmp(scheme, "https") && pl == 3 &&
		     !strncmp(port, "443", 3)) ||
		    (!strcmp(scheme, "http") && pl == 2 &&
		     !strncmp(port, "80", 2)))
			host_len = (size_t)(colon - h);
	}
	if (asprintf(&base, "%s://%.*s", scheme, (int)hlen, h) < 0)
		return -ENOMEM;
	host = strndup(h, host_len);
	if (!host) {
		free(base);
		return -ENOMEM;
	}
	*ret_base = base;
	*ret_host = host;
	return 0;
}

static size_t trim_len(const char *s, size_t n)
{
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return n;
}

int drfs_s3_ini_get(const char *text, size_t len, const char *section,
		    const char *key, char **ret)
{
	const char *p = text, *end = text + len;
	bool in = false;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		while (p < le && isspace((unsigned char)*p))
			p++;
		size_t l = trim_len(p, (size_t)(le - p));
		if (l == 0 || *p == '#' || *p == ';') {
			/* blank or comment */
		} else if (*p == '[') {
			const char *close = memchr(p, ']', l);
			in = false;
			if (close) {
				const char *n = p + 1;
				size_t nl2 = (size_t)(close - n);
				while (nl2 && isspace((unsigned char)*n))
					n++, nl2--;
				nl2 = trim_len(n, nl2);
				in = nl2 == strlen(section) &&
				     !strncmp(n, section, nl2);
			}
		} else if (in) {
			const char *eq = memchr(p, '=', l);
			if (eq) {
				size_t kl = trim_len(p, (size_t)(eq - p));
				const char *v = eq + 1;
				while (v < p + l && isspace((unsigned char)*v))
					v++;
				if (kl == strlen(key) && !strncmp(p, key, kl)) {
					char *r =
					    strndup(v, (size_t)(p + l - v));
					if (!r)
						return -ENOMEM;
					*ret = r;
					return 0;
				}
			}
		}
		p = nl ? nl + 1 : end;
	}
	return -ENOENT;
}

/* Read a small text file whole (at most 1 MiB). NULL if unreadable. */
static char *read_small_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *p;
	size_t n;

	if (!f)
		return NULL;
	p = malloc(1u << 20);
	if (!p) {
		fclose(f);
		return NULL;
	}
	n = fread(p, 1, (1u << 20) - 1, f);
	fclose(f);
	p[n] = '\0';
	*ret_len = n;
	return p;
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* aws file path: the env override, else ~/.aws/<name>. */
static char *aws_file(const char *env, const char *name)
{
	const char *e = env_nonempty(env), *home = env_nonempty("HOME");
	char *p = NULL;

	if (e)
		return strdup(e);
	if (!home || asprintf(&p, "%s/.aws/%s", home, name) < 0)
		return NULL;
	return p;
}

static int profile_get(const char *file_env, const char *file_name,
		       const char *section, const char *key, char **ret)
{
	_cleanup_free_ char *path = aws_file(file_env, file_name);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (!path || !(text = read_small_file(path, &len)))
		return -ENOENT;
	int r = drfs_s3_ini_get(text, len, section, key, ret);
	if (text)
		OPENSSL_cleanse(text, len);
	return r;
}

static int resolve_config(struct s3 *s, const struct drfs_backend_opts *o,
			  bool *ret_custom)
{
	const char *profile = env_nonempty("AWS_PROFILE");
	const char *v;
	char *cfg_section = NULL;
	int r;

	if (!profile)
		profile = "default";
	if (strcmp(profile, "default") &&
	    asprintf(&cfg_section, "profile %s", profile) < 0)
		return -ENOMEM;
	const char *cfgsec = cfg_section ? cfg_section : "default";

	/* credentials */
	if (env_nonempty("AWS_ACCESS_KEY_ID") &&
	    env_nonempty("AWS_SECRET_ACCESS_KEY")) {
		s->access_key = strdup(getenv("AWS_ACCESS_KEY_ID"));
		s->secret_key = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
		if ((v = env_nonempty("AWS_SESSION_TOKEN")))
			s->session_token = strdup(v);
	} else {
		const char *fe = "AWS_SHARED_CREDENTIALS_FILE";
		profile_get(fe, "credentials", profile, "aws_access_key_id",
			    &s->access_key);
		profile_get(fe, "credentials", profile, "aws_secret_access_key",
			    &s->secret_key);
		profile_get(fe, "credentials", profile, "aws_session_token",
			    &s->session_token);
		if (!s->access_key || !s->secret_key) {
			free(s->access_key);
			free(s->secret_key);
			free(s->session_token);
			s->access_key = s->secret_key = s->session_token = NULL;
			fe = "AWS_CONFIG_FILE";
			profile_get(fe, "config", cfgsec, "aws_access_key_id",
				    &s->access_key);
			profile_get(fe, "config", cfgsec,
				    "aws_secret_access_key", &s->secret_key);
			profile_get(fe, "config", cfgsec, "aws_session_token",
				    &s->session_token);
		}
	}
	if (!s->access_key || !s->secret_key) {
		set_err(s,
			"s3: no credentials: set AWS_ACCESS_KEY_ID and "
			"AWS_SECRET_ACCESS_KEY, or profile \"%s\" in "
			"~/.aws/credentials",
			profile);
		free(cfg_section);
		return -EACCES;
	}

	/* region */
	if (o && o->region && *o->region)
		s->region = strdup(o->region);
	else if ((v = env_nonempty("AWS_REGION")) ||
		 (v = env_nonempty("AWS_DEFAULT_REGION")))
		s->region = strdup(v);
	else if (profile_get("AWS_CONFIG_FILE", "config", cfgsec, "region",
			     &s->region) < 0)
		s->region = strdup("us-east-1");
	free(cfg_section);
	if (!s->region)
		return -ENOMEM;
	for (const char *c = s->region; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-') {
			set_err(s, "s3: invalid region \"%s\"", s->region);
			return -EINVAL;
		}

	/* endpoint */
	*ret_custom = true;
	if (o && o->endpoint && *o->endpoint)
		s->endpoint = strdup(o->endpoint);
	else if ((v = env_nonempty("AWS_ENDPOINT_URL_S3")) ||
		 (v = env_nonempty("AWS_ENDPOINT_URL")))
		s->endpoint = strdup(v);
	else {
		*ret_custom = false;
		r = asprintf(&s->endpoint, "https://s3.%s.amazonaws.com",
			     s->region);
		if (r < 0)
			s->endpoint = NULL;
	}
	if (!s->endpoint)
		return -ENOMEM;
	return 0;
}

/* ---- the handle pool --------------------------------------------------- */

static CURL *handle_get(struct s3 *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->lock);
	while (s->active >= s->connections)
		pthread_cond_wait(&s->cond, &s->lock);
	s->active++;
	if (s->n_free)
		h = s->free_h[--s->n_free];
	pthread_mutex_unlock(&s->lock);
	if (h)
		curl_easy_reset(h);
	else
		h = curl_easy_init();
	if (!h) {
		pthread_mutex_lock(&s->lock);
		s->active--;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
	return h;
}

/* Return h to the pool; broken handles (keep=false) are closed. */
static void handle_put(struct s3 *s, CURL *h, bool keep)
{
	pthread_mutex_lock(&s->lock);
	if (keep && s->n_free < s->connections) {
		s->free_h[s->n_free++] = h;
		h = NULL;
	}
	s->active--;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- one request ------------------------------------------------------- */

struct req {
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

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct req *q = ud;
	size_t len = size * n;

	if (q->status == 0)
		curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &q->status);
	if (q->status >= 200 && q->status < 300 && q->out) {
		int r = drfs_buf_append(q->out, p, len);
		if (r < 0) {
			q->sink_err = r;
			return 0; /* abort the transfer */
		}
		return len;
	}
	size_t room = q->errbody.max - q->errbody.len;
	if (drfs_buf_append(&q->errbody, p, MIN(len, room)) < 0) {
		q->sink_err = -ENOMEM;
		return 0;
	}
	return len;
}

static void header_value(const char *p, size_t len, const char *name, char *out,
			 size_t out_size)
{
	size_t nl = strlen(name);

	if (len <= nl || strncasecmp(p, name, nl) || p[nl] != ':')
		return;
	p += nl + 1;
	len -= nl + 1;
	while (len && isspace((unsigned char)*p))
		p++, len--;
	len = trim_len(p, len);
	if (len >= out_size)
		len = out_size - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct req *q = ud;
	size_t len = size * n;
	char v[32] = "";

	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		/* a new response (after 100 Continue, say) */
		q->etag[0] = '\0';
		q->have_length = false;
		q->status = 0;
		return len;
	}
	header_value(p, len, "ETag", q->etag, sizeof(q->etag));
	header_value(p, len, "x-amz-bucket-region", q->bucket_region,
		     sizeof(q->bucket_region));
	header_value(p, len, "Content-Length", v, sizeof(v));
	if (v[0]) {
		char *end;
		errno = 0;
		unsigned long long l = strtoull(v, &end, 10);
		if (!errno && !*end && isdigit((unsigned char)v[0])) {
			q->length = l;
			q->have_length = true;
		}
	}
	return len;
}

/* Path of a request: encoded, with the bucket when path-style. */
static int req_path(struct s3 *s, const struct req *q, struct drfs_buf *out)
{
	int r = 0;

	if (s->path_style)
		r = drfs_buf_printf(out, "/%s", s->bucket);
	if (r >= 0 && (q->key || !s->path_style))
		r = drfs_buf_u8(out, '/');
	if (r >= 0 && q->key)
		r = drfs_s3_uri_encode(out, q->key, strlen(q->key), true);
	if (r >= 0)
		r = drfs_buf_u8(out, 0);
	if (r >= 0)
		out->len--;
	return r;
}

/* Run one attempt. Returns 0 when an HTTP response arrived (any status). */
static int attempt(struct s3 *s, struct req *q, const char *path,
		   const char *query, const char *sha)
{
	char date[17], hdr[DRFS_SIGV4_MAX_PAIRS][1100];
	struct drfs_s3_kv hv[DRFS_SIGV4_MAX_PAIRS];
	struct drfs_buf auth, url;
	struct curl_slist *list = NULL;
	size_t nh = 0;
	int r;

	drfs_sigv4_amz_date(time(NULL), date);
	hv[nh++] = (struct drfs_s3_kv){"host", s->host};
	hv[nh++] = (struct drfs_s3_kv){"x-amz-date", date};
	hv[nh++] = (struct drfs_s3_kv){"x-amz-content-sha256", sha};
	if (s->session_token)
		hv[nh++] = (struct drfs_s3_kv){"x-amz-security-token",
					       s->session_token};
	if (q->md5)
		hv[nh++] = (struct drfs_s3_kv){"content-md5", q->md5};
	if (q->range[0])
		hv[nh++] = (struct drfs_s3_kv){"range", q->range};
	if (q->if_none_match)
		hv[nh++] = (struct drfs_s3_kv){"if-none-match", "*"};

	struct drfs_sigv4_req sr = {
	    .method = q->method,
	    .path = path,
	    .query = q->query,
	    .n_query = q->nq,
	    .headers = hv,
	    .n_headers = nh,
	    .payload_sha256_hex = sha,
	    .amz_date = date,
	    .region = s->region,
	    .service = "s3",
	    .access_key = s->access_key,
	    .secret_key = s->secret_key,
	};
	drfs_buf_init(&auth, 8192);
	r = drfs_sigv4_authorization(&sr, &auth);
	drfs_buf_init(&url, 16384);
	if (r >= 0)
		r = drfs_buf_printf(&url, "%s%s%s%s", s->url_base, path,
				    query[0] ? "?" : "", query);
	for (size_t i = 0; i < nh && r >= 0; i++) {
		int n = snprintf(hdr[i], sizeof(hdr[i]), "%s: %s", hv[i].name,
				 hv[i].value);
		if (n < 0 || (size_t)n >= sizeof(hdr[i]))
			r = -E2BIG;
		else if (!(list = curl_slist_append(list, hdr[i])))
			r = -ENOMEM;
	}
	if (r >= 0) {
		struct drfs_buf a;
		drfs_buf_init(&a, 8300);
		r = drfs_buf_printf(&a, "Authorization: %s", (char *)auth.p);
		if (r >= 0) {
			struct curl_slist *l2 =
			    curl_slist_append(list, (char *)a.p);
			if (l2)
				list = l2;
			else
				r = -ENOMEM;
		}
		if (a.p)
			OPENSSL_cleanse(a.p, a.len);
		drfs_buf_release(&a);
	}
	if (r >= 0 && (list = curl_slist_append(list, "Expect:")) && q->body)
		list = curl_slist_append(
		    list, "Content-Type: application/octet-stream");
	if (auth.p)
		OPENSSL_cleanse(auth.p, auth.len);
	drfs_buf_release(&auth);
	if (r < 0 || !list) {
		curl_slist_free_all(list);
		drfs_buf_release(&url);
		return r < 0 ? r : -ENOMEM;
	}

	CURL *h = handle_get(s);
	if (!h) {
		curl_slist_free_all(list);
		drfs_buf_release(&url);
		return -ENOMEM;
	}
	q->h = h;
	q->status = 0;
	q->etag[0] = '\0';
	q->have_length = false;
	q->sink_err = 0;
	q->os_errno = 0;
	drfs_buf_reset(&q->errbody);
	if (q->out)
		q->out->len = q->out_base;

	curl_easy_setopt(h, CURLOPT_URL, (char *)url.p);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->low_speed_time);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, s->insecure_tls ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, s->insecure_tls ? 0L : 2L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
		if (q->body || strcmp(q->method, "DELETE")) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)q->body_len);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
					 q->body ? q->body : "");
		}
	}
	if (q->out && q->out->len == q->out_base && !q->range[0] &&
	    !strcmp(q->method, "GET"))
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L << 10);

	q->cc = curl_easy_perform(h);
	if (q->cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
	} else {
		long e = 0;
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &e);
		q->os_errno = (int)e;
	}
	q->h = NULL;
	handle_put(s, h, q->cc == CURLE_OK || q->cc == CURLE_WRITE_ERROR);
	curl_slist_free_all(list);
	drfs_buf_release(&url);
	memset(&q->err, 0, sizeof(q->err));
	if (q->cc == CURLE_OK && q->status >= 300 && q->errbody.len)
		drfs_s3xml_parse_error(q->errbody.p, q->errbody.len, &q->err);
	return 0;
}

static const char *qname(const struct req *q)
{
	return q->name ? q->name : q->key ? q->key : "";
}

/*
 * Translate the outcome of an attempt: 0 success (2xx, or a status the
 * caller handles: 404, 412, 416), > 0 retryable, < 0 final error. *ret_err
 * is the errno to report if this is the last attempt.
 */
static int classify(struct s3 *s, struct req *q, int *ret_err)
{
	const char *code = q->err.code;
	long st = q->status;

	if (q->cc != CURLE_OK) {
		switch (q->cc) {
		case CURLE_WRITE_ERROR:
			if (q->sink_err) {
				*ret_err = q->sink_err;
				return -1;
			}
			*ret_err = -EIO;
			return -1;
		case CURLE_COULDNT_CONNECT:
			*ret_err = q->os_errno == EHOSTUNREACH ||
					   q->os_errno == ENETUNREACH
				       ? -EHOSTUNREACH
				       : -ECONNREFUSED;
			return 1;
		case CURLE_COULDNT_RESOLVE_HOST:
			*ret_err = -EHOSTUNREACH;
			return 1;
		case CURLE_OPERATION_TIMEDOUT:
			*ret_err = -ETIMEDOUT;
			return 1;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			*ret_err = -EIO;
			return -1;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP3:
			*ret_err = -EIO;
			return 1;
		case CURLE_OUT_OF_MEMORY:
			*ret_err = -ENOMEM;
			return -1;
		default:
			*ret_err = -EIO;
			return -1;
		}
	}
	if (st >= 200 && st < 300)
		return 0;
	switch (st) {
	case 404:
		*ret_err = -ENOENT;
		return 0;
	case 412:
		*ret_err = -EEXIST;
		return 0;
	case 416:
		return 0;
	case 403:
		*ret_err = !strcmp(code, "AccessDenied") &&
				   !strcmp(q->method, "DELETE")
			       ? -EPERM
			       : -EACCES;
		/* RequestTimeTooSkewed is a clock problem, reported as is */
		return -1;
	case 409:
		*ret_err = -EIO;
		if (q->conflict_retry &&
		    (!code[0] || !strcmp(code, "ConditionalRequestConflict")))
			return 1;
		return -1;
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		*ret_err = -EIO;
		return 1;
	case 400:
		*ret_err = -EIO;
		if (!strcmp(code, "RequestTimeout") ||
		    !strcmp(code, "BadDigest") ||
		    !strcmp(code, "XAmzContentSHA256Mismatch") ||
		    !strcmp(code, "SlowDown"))
			return 1;
		return -1;
	default:
		(void)s;
		*ret_err = -EIO;
		return -1;
	}
}

static void report(struct s3 *s, struct req *q, int err)
{
	const char *what;
	char detail[256];

	if (q->cc != CURLE_OK) {
		switch (err) {
		case -ECONNREFUSED:
			what = "connection refused";
			break;
		case -EHOSTUNREACH:
			what = q->cc == CURLE_COULDNT_RESOLVE_HOST
				   ? "host not found"
				   : "host unreachable";
			break;
		case -ETIMEDOUT:
			what = "timed out";
			break;
		case -E2BIG:
			what = "object larger than allowed";
			break;
		default:
			what = q->cc == CURLE_PEER_FAILED_VERIFICATION ||
				       q->cc == CURLE_SSL_CACERT_BADFILE ||
				       q->cc == CURLE_SSL_CONNECT_ERROR ||
				       q->cc == CURLE_SSL_CERTPROBLEM ||
				       q->cc == CURLE_SSL_ISSUER_ERROR
				   ? "TLS verification failed"
				   : "transfer failed";
		}
		snprintf(detail, sizeof(detail), "%s (%s)", what,
			 curl_easy_strerror(q->cc));
	} else if (q->status == 301 || q->status == 307) {
		snprintf(detail, sizeof(detail),
			 "%ld %s: bucket is in region \"%s\", not \"%s\"",
			 q->status, q->err.code[0] ? q->err.code : "redirect",
			 q->bucket_region[0] ? q->bucket_region : "?",
			 s->region);
	} else {
		snprintf(detail, sizeof(detail), "%ld %s", q->status,
			 q->err.code[0] ? q->err.code : "");
	}
	set_err(s, "s3 %s \"%s\" at %s bucket \"%s\": %s", q->method, qname(q),
		s->endpoint, s->bucket, detail);
}

static void backoff(int attempt)
{
	uint64_t cap = S3_BACKOFF_BASE_MS;

	for (int i = 0; i < attempt && cap < S3_BACKOFF_CAP_MS; i++)
		cap *= 2;
	if (cap > S3_BACKOFF_CAP_MS)
		cap = S3_BACKOFF_CAP_MS;
	uint64_t ms = rng_next() % (cap + 1);
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Perform q with retries. Returns 0 when the final response is 2xx, or one
 * of 404/412/416 (q->status tells; the caller decides), else negative errno
 * with the detail recorded.
 */
static int s3_perform(struct s3 *s, struct req *q)
{
	struct drfs_buf path, query;
	char sha[65];
	int r, err = -EIO,
	       max = q->max_attempts ? q->max_attempts : 1 + s->retries;

	if (q->sha256)
		memcpy(sha, q->sha256, 65);
	else
		drfs_s3_sha256_hex(q->body ? q->body : "", q->body_len, sha);
	drfs_buf_init(&path, 4 * DRFS_S3_KEY_MAX + 128);
	drfs_buf_init(&query, 8 * DRFS_S3_KEY_MAX);
	drfs_buf_init(&q->errbody, S3_ERRBODY_MAX);
	q->out_base = q->out ? q->out->len : 0;
	r = req_path(s, q, &path);
	if (r >= 0)
		r = drfs_sigv4_canonical_query(q->query, q->nq, &query);
	if (r < 0)
		goto out;

	for (int i = 0; i < max; i++) {
		if (i > 0)
			backoff(i - 1);
		q->attempts = i + 1;
		r = attempt(s, q, (char *)path.p,
			    query.p ? (char *)query.p : "", sha);
		if (r < 0)
			break;
		int c = classify(s, q, &err);
		if (c == 0) {
			r = 0;
			goto out;
		}
		r = err;
		if (c < 0)
			break;
	}
	if (q->out)
		q->out->len = q->out_base;
	report(s, q, r);
out:
	drfs_buf_release(&q->errbody);
	drfs_buf_release(&path);
	drfs_buf_release(&query);
	return r;
}

/* ---- operations -------------------------------------------------------- */

static struct s3 *S3(struct drfs_backend *b)
{
	return (struct s3 *)b;
}

static bool name_ok(const char *name)
{
	size_t l = strlen(name);

	if (l == 0 || l > DRFS_OBJECT_NAME_MAX || name[0] == '/')
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20)
			return false;
	if (!strcmp(name, "..") || !strncmp(name, "../", 3) ||
	    strstr(name, "/../") || (l >= 3 && !strcmp(name + l - 3, "/..")))
		return false;
	return true;
}

/* The full key of name; caller frees. */
/* s3_perform, where anything but a 2xx is a failure (404: -ENOENT). */
static int perform_2xx(struct s3 *s, struct req *q)
{
	int r = s3_perform(s, q);
	if (r >= 0 && (q->status < 200 || q->status >= 300)) {
		report(s, q, -EIO);
		r = q->status == 404 ? -ENOENT : -EIO;
	}
	return r;
}

static char *full_key(struct s3 *s, const char *name)
{
	char *k = NULL;
	if (asprintf(&k, "%s%s", s->prefix, name) < 0)
		return NULL;
	return k;
}

static int s3_head_key(struct s3 *s, const char *key, const char *name,
		       uint64_t *ret_size, char *ret_etag, size_t etag_size)
{
	struct req q = {.method = "HEAD", .key = key, .name = name};
	int r = s3_perform(s, &q);

	if (r < 0)
		return r;
	if (q.status == 404) {
		set_err(s, "s3 HEAD \"%s\" at %s bucket \"%s\": 404 not found",
			key, s->endpoint, s->bucket);
		return -ENOENT;
	}
	if (q.status < 200 || q.status >= 300 || !q.have_length) {
		set_err(s, "s3 HEAD \"%s\" at %s bucket \"%s\": %ld", key,
			s->endpoint, s->bucket, q.status);
		return -EIO;
	}
	if (ret_etag)
		snprintf(ret_etag, etag_size, "%s", q.etag);
	if (ret_size)
		*ret_size = q.length;
	return 0;
}

static int s3_head(struct drfs_backend *b, const char *name, uint64_t *ret_size)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;

	if (!name_ok(name))
		return -EINVAL;
	if (!(key = full_key(s, name)))
		return -ENOMEM;
	return s3_head_key(s, key, key, ret_size, NULL, 0);
}

static int s3_get(struct drfs_backend *b, const char *name, uint64_t off,
		  uint64_t len, struct drfs_buf *out)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	struct req q = {.method = "GET", .out = out};
	int r;

	if (!name_ok(name))
		return -EINVAL;
	if (!(key = full_key(s, name)))
		return -ENOMEM;
	q.key = key;
	if (len == 0)
		return s3_head_key(s, key, key, NULL, NULL, 0);
	if (len != UINT64_MAX && off > UINT64_MAX - len)
		return -EINVAL;
	if (len == UINT64_MAX && off > 0)
		snprintf(q.range, sizeof(q.range), "bytes=%llu-",
			 (unsigned long long)off);
	else if (len != UINT64_MAX)
		snprintf(q.range, sizeof(q.range), "bytes=%llu-%llu",
			 (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
	r = s3_perform(s, &q);
	if (r < 0)
		return r;
	if (q.status == 404) {
		set_err(s, "s3 GET \"%s\" at %s bucket \"%s\": 404 %s", key,
			s->endpoint, s->bucket,
			q.err.code[0] ? q.err.code : "NoSuchKey");
		return -ENOENT;
	}
	if (q.status == 416) /* range past the end: nothing there */
		return 0;
	if (q.status < 200 || q.status >= 300)
		return -EIO;
	/* a server that ignored Range must not hand back the wrong bytes */
	if (q.range[0] && q.status != 206) {
		size_t got = out->len - q.out_base;
		if (off >= got) {
			out->len = q.out_base;
		} else {
			size_t n = (size_t)MIN((uint64_t)(got - off), len);
			memmove(out->p + q.out_base, out->p + q.out_base + off,
				n);
			out->len = q.out_base + n;
		}
	}
	return 0;
}

static bool etag_is(const char *etag, const char *md5hex)
{
	size_t l = strlen(md5hex);

	if (etag[0] == '"')
		return !strncmp(etag + 1, md5hex, l) &&
		       !strcmp(etag + 1 + l, "\"");
	return !strcmp(etag, md5hex);
}

static int put_plain(struct s3 *s, const char *key, const char *name,
		     const void *p, size_t len, bool inm, const char *sha,
		     const char *md5, const char *md5hex)
{
	struct req q = {.method = "PUT",
			.key = key,
			.name = name,
			.body = p ? p : "",
			.body_len = len,
			.sha256 = sha,
			.md5 = md5,
			.if_none_match = inm,
			.conflict_retry = inm};
	int r = s3_perform(s, &q);

	if (r < 0)
		return r;
	if (q.status == 412 && md5hex) {
		/*
		 * An earlier attempt may have stored the object and lost
		 * only the response: if what is there is ours, it worked.
		 * Not only after our own retries (q.attempts > 1): libcurl
		 * itself sends a request again, once, when a reused
		 * connection dies before any response byte, and a fault
		 * proxy cutting a PUT's reply made s3_faults see a 412 on
		 * "attempt 1". Identical bytes are never a conflict.
		 */
		char etag[96] = "";
		if (s3_head_key(s, key, name, NULL, etag, sizeof(etag)) == 0 &&
		    etag_is(etag, md5hex))
			return 0;
	}
	if (q.status == 412) {
		set_err(s,
			"s3 PUT \"%s\" at %s bucket \"%s\": 412 object "
			"exists",
			name, s->endpoint, s->bucket);
		return -EEXIST;
	}
	if (q.status < 200 || q.status >= 300) {
		report(s, &q, -EIO);
		return -EIO;
	}
	return 0;
}

/*
 * Probe once whether the server honours If-None-Match: * on PUT, with one
 * fixed object per repository (".drfs-inm-probe" under the prefix) that is
 * never deleted: append-only credentials must be able to run this, and a
 * second process finds the probe present and learns the answer from its
 * first request (412).
 */
static enum inm_state probe_inm(struct s3 *s)
{
	enum inm_state st;
	char *key = NULL, sha[65], md5[25];
	int r;

	pthread_mutex_lock(&s->lock);
	st = s->inm;
	pthread_mutex_unlock(&s->lock);
	if (st != INM_UNKNOWN)
		return st;
	if (asprintf(&key, "%s.drfs-inm-probe", s->prefix) < 0)
		return INM_UNKNOWN;
	drfs_s3_sha256_hex("probe", 5, sha);
	drfs_s3_md5("probe", 5, md5, NULL);
	r = put_plain(s, key, key, "probe", 5, true, sha, md5, NULL);
	if (r == 0)
		r = put_plain(s, key, key, "probe", 5, true, sha, md5, NULL);
	st = r == -EEXIST ? INM_HONOURED : r == 0 ? INM_IGNORED : INM_UNKNOWN;
	free(key);
	pthread_mutex_lock(&s->lock);
	if (s->inm == INM_UNKNOWN)
		s->inm = st;
	st = s->inm;
	pthread_mutex_unlock(&s->lock);
	return st;
}

/* Create-only on a server without If-None-Match: HEAD, PUT, verify. */
static int put_checked(struct s3 *s, const char *key, const void *p, size_t len,
		       const char *sha, const char *md5, const char *md5hex,
		       bool multipart);
static int put_multipart(struct s3 *s, const char *key, const void *p,
			 size_t len);

static int put_checked(struct s3 *s, const char *key, const void *p, size_t len,
		       const char *sha, const char *md5, const char *md5hex,
		       bool multipart)
{
	char etag[96];
	int r = s3_head_key(s, key, key, NULL, NULL, 0);

	if (r == 0) {
		set_err(s, "s3 PUT \"%s\" at %s bucket \"%s\": object exists",
			key, s->endpoint, s->bucket);
		return -EEXIST;
	}
	if (r != -ENOENT)
		return r;
	r = multipart ? put_multipart(s, key, p, len)
		      : put_plain(s, key, key, p, len, false, sha, md5, NULL);
	if (r < 0 || multipart)
		return r;
	r = s3_head_key(s, key, key, NULL, etag, sizeof(etag));
	if (r < 0)
		return r;
	if (!etag_is(etag, md5hex)) {
		set_err(s,
			"s3 PUT \"%s\" at %s bucket \"%s\": another writer "
			"created it concurrently",
			key, s->endpoint, s->bucket);
		return -EEXIST;
	}
	return 0;
}

static void abort_multipart(struct s3 *s, const char *key, const char *id)
{
	struct req q = {.method = "DELETE",
			.key = key,
			.query = {{"uploadId", id}},
			.nq = 1,
			.max_attempts = 3};
	char saved[S3_ERR_MAX];

	memcpy(saved, tls_err, sizeof(saved));
	s3_perform(s, &q);
	set_err(s, "%s", saved); /* keep the error that made us abort */
}

static int put_multipart(struct s3 *s, const char *key, const void *p,
			 size_t len)
{
	struct drfs_buf resp, body;
	char *id = NULL;
	size_t nparts = (len + S3_PART_SIZE - 1) / S3_PART_SIZE;
	char(*etags)[96] = NULL;
	int r;

	if (nparts > 10000)
		return -E2BIG;
	drfs_buf_init(&resp, S3_ERRBODY_MAX);
	drfs_buf_init(&body, nparts * 160 + 128);
	struct req q = {.method = "POST",
			.key = key,
			.query = {{"uploads", NULL}},
			.nq = 1,
			.out = &resp};
	r = perform_2xx(s, &q);
	if (r >= 0 && drfs_s3xml_parse_upload_id(resp.p, resp.len, &id) < 0) {
		set_err(s,
			"s3 POST \"%s\" at %s bucket \"%s\": bad "
			"InitiateMultipartUploadResult",
			key, s->endpoint, s->bucket);
		r = -EIO;
	}
	if (r < 0)
		goto out;
	etags = calloc(nparts, sizeof(*etags));
	if (!etags) {
		r = -ENOMEM;
		goto abort;
	}
	for (size_t i = 0; i < nparts; i++) {
		const uint8_t *pp = (const uint8_t *)p + i * S3_PART_SIZE;
		size_t pl = MIN((size_t)S3_PART_SIZE, len - i * S3_PART_SIZE);
		char num[16], md5[25];
		snprintf(num, sizeof(num), "%zu", i + 1);
		drfs_s3_md5(pp, pl, md5, NULL);
		struct req pq = {
		    .method = "PUT",
		    .key = key,
		    .query = {{"partNumber", num}, {"uploadId", id}},
		    .nq = 2,
		    .body = pp,
		    .body_len = pl,
		    .md5 = md5};
		r = s3_perform(s, &pq);
		if (r >= 0 &&
		    (pq.status < 200 || pq.status >= 300 || !pq.etag[0])) {
			report(s, &pq, -EIO);
			r = -EIO;
		}
		if (r < 0)
			goto abort;
		memcpy(etags[i], pq.etag, sizeof(etags[i]));
	}
	r = drfs_buf_printf(&body, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < nparts && r >= 0; i++) {
		r = drfs_buf_printf(&body,
				    "<Part><PartNumber>%zu</PartNumber>"
				    "<ETag>",
				    i + 1);
		if (r >= 0)
			r = drfs_s3xml_escape(&body, etags[i]);
		if (r >= 0)
			r = drfs_buf_printf(&body, "</ETag></Part>");
	}
	if (r >= 0)
		r = drfs_buf_printf(&body, "</CompleteMultipartUpload>");
	if (r < 0)
		goto abort;
	for (int tries = 0; tries < 3; tries++) {
		char root[64] = "";
		drfs_buf_reset(&resp);
		struct req cq = {.method = "POST",
				 .key = key,
				 .query = {{"uploadId", id}},
				 .nq = 1,
				 .body = body.p,
				 .body_len = body.len,
				 .out = &resp};
		r = s3_perform(s, &cq);
		if (r >= 0 && (cq.status < 200 || cq.status >= 300)) {
			report(s, &cq, -EIO);
			r = -EIO;
		}
		if (r < 0)
			goto abort;
		/* a 200 may still carry an <Error> */
		if (drfs_s3xml_root(resp.p, resp.len, root, sizeof(root)) >=
			0 &&
		    strcmp(root, "Error")) {
			r = 0;
			goto out;
		}
		struct drfs_s3_error e;
		memset(&e, 0, sizeof(e));
		drfs_s3xml_parse_error(resp.p, resp.len, &e);
		set_err(s, "s3 POST \"%s\" at %s bucket \"%s\": 200 %s", key,
			s->endpoint, s->bucket, e.code[0] ? e.code : "?");
		r = -EIO;
	}
abort:
	abort_multipart(s, key, id);
out:
	free(etags);
	free(id);
	drfs_buf_release(&resp);
	drfs_buf_release(&body);
	return r;
}

static int s3_put(struct drfs_backend *b, const char *name, const void *p,
		  size_t len, unsigned flags)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	char sha[65], md5[25], md5hex[33];
	bool create_only = flags & DRFS_PUT_CREATE_ONLY;

	if (!name_ok(name) || (flags & ~DRFS_PUT_CREATE_ONLY))
		return -EINVAL;
	if (!(key = full_key(s, name)))
		return -ENOMEM;
	if (len > S3_MULTIPART_THRESHOLD) {
		if (create_only)
			return put_checked(s, key, p, len, NULL, NULL, NULL,
					   true);
		return put_multipart(s, key, p, len);
	}
	drfs_s3_sha256_hex(p ? p : "", len, sha);
	drfs_s3_md5(p ? p : "", len, md5, md5hex);
	if (create_only && probe_inm(s) != INM_HONOURED)
		return put_checked(s, key, p, len, sha, md5, md5hex, false);
	return put_plain(s, key, key, p, len, create_only, sha, md5, md5hex);
}

static int s3_del(struct drfs_backend *b, const char *name)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	int r;

	if (!name_ok(name))
		return -EINVAL;
	if (!(key = full_key(s, name)))
		return -ENOMEM;
	struct req q = {.method = "DELETE", .key = key};
	r = s3_perform(s, &q);
	if (r < 0)
		return r;
	if (q.status == 404 && !strcmp(q.err.code, "NoSuchBucket")) {
		report(s, &q, -ENOENT);
		return -ENOENT;
	}
	if (q.status == 412 || q.status == 416)
		return -EIO;
	return 0; /* 204, 200, or 404: a missing object is deleted */
}

/*
 * S3 Object Lock: name's retention (GET ?retention). 1 set (cur filled), 0
 * none, -EOPNOTSUPP the bucket has no Object Lock (400 InvalidRequest),
 * -ENOENT no such object.
 */
static int get_retention(struct s3 *s, const char *name, const char *key,
			 struct drfs_s3_retention *cur)
{
	struct drfs_buf resp;
	int r;

	drfs_buf_init(&resp, DRFS_XML_PAGE_MAX);
	struct req g = {.method = "GET",
			.key = key,
			.query = {{"retention", NULL}},
			.nq = 1,
			.out = &resp};
	r = s3_perform(s, &g);
	if (r < 0 && g.status == 400) {
		/* AWS: InvalidRequest "Bucket is missing Object Lock
		 * Configuration"; RadosGW: "bucket object lock not
		 * configured" */
		set_err(s, "s3 GET \"%s\" (retention) at %s bucket \"%s\": "
			   "400 %s%s%s (is Object Lock enabled on the bucket?)",
			name, s->endpoint, s->bucket, g.err.code,
			g.err.message[0] ? ": " : "", g.err.message);
		r = -EOPNOTSUPP;
	} else if (r >= 0 && g.status == 404 &&
		   (!strcmp(g.err.code, "NoSuchKey") ||
		    !strcmp(g.err.code, "NoSuchBucket"))) {
		report(s, &g, -ENOENT);
		r = -ENOENT;
	} else if (r >= 0 && g.status == 404) {
		r = 0; /* NoSuchObjectLockConfiguration: none set */
	} else if (r >= 0 && g.status != 200) {
		report(s, &g, -EIO); /* 412/416: not an answer to this */
		r = -EIO;
	} else if (r >= 0 &&
		   drfs_s3xml_parse_retention(resp.p, resp.len, cur) < 0) {
		set_err(s, "s3 GET \"%s\" (retention) at %s bucket \"%s\": "
			   "malformed Retention",
			name, s->endpoint, s->bucket);
		r = -EIO;
	} else if (r >= 0) {
		r = 1;
	}
	drfs_buf_release(&resp);
	return r;
}

static int s3_get_retention(struct drfs_backend *b, const char *name,
			    int64_t *until, bool *compliance)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	struct drfs_s3_retention cur;

	if (!name_ok(name))
		return -EINVAL;
	if (!(key = full_key(s, name)))
		return -ENOMEM;
	int r = get_retention(s, name, key, &cur);
	if (r == 1) {
		*until = cur.until;
		*compliance = cur.compliance;
	}
	return r;
}

/*
 * Extend name's retention (PUT ?retention, with the Content-MD5 the call
 * requires) only when it ends before until. A compliance retention stays
 * compliance.
 */
static int s3_set_retention(struct drfs_backend *b, const char *name,
			    int64_t until, bool compliance)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	struct drfs_s3_retention cur;
	struct drfs_buf body;
	char md5[25], date[32];
	int r;

	if (!name_ok(name) || until < 0)
		return -EINVAL;
	if (!(key = full_key(s, name)))
		return -ENOMEM;
	r = get_retention(s, name, key, &cur);
	if (r < 0)
		return r;
	if (r == 1) {
		compliance |= cur.compliance;
		if (cur.until >= until && cur.compliance == compliance)
			return 1;
		until = MAX(until, cur.until);
	}
	drfs_buf_init(&body, 1024);
	struct tm tm;
	time_t t = (time_t)until;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		r = -EINVAL;
		goto out;
	}
	r = drfs_buf_printf(&body,
			    "<Retention xmlns=\"http://s3.amazonaws.com/doc/"
			    "2006-03-01/\"><Mode>%s</Mode><RetainUntilDate>%s"
			    "</RetainUntilDate></Retention>",
			    compliance ? "COMPLIANCE" : "GOVERNANCE", date);
	if (r < 0)
		goto out;
	drfs_s3_md5(body.p, body.len, md5, NULL);
	struct req q = {.method = "PUT",
			.key = key,
			.query = {{"retention", NULL}},
			.nq = 1,
			.body = body.p,
			.body_len = body.len,
			.md5 = md5};
	r = perform_2xx(s, &q);
	r = r < 0 ? r : 0;
out:
	drfs_buf_release(&body);
	return r;
}

static int del_batch(struct s3 *s, const char *const *names, size_t n)
{
	struct drfs_buf body, resp;
	char md5[25];
	int r;

	drfs_buf_init(&body, n * (6 * DRFS_S3_KEY_MAX + 64) + 256);
	drfs_buf_init(&resp, DRFS_XML_PAGE_MAX);
	r = drfs_buf_printf(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				   "<Delete><Quiet>true</Quiet>");
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!name_ok(names[i])) {
			r = -EINVAL;
			break;
		}
		r = drfs_buf_printf(&body, "<Object><Key>");
		if (r >= 0)
			r = drfs_s3xml_escape(&body, s->prefix);
		if (r >= 0)
			r = drfs_s3xml_escape(&body, names[i]);
		if (r >= 0)
			r = drfs_buf_printf(&body, "</Key></Object>");
	}
	if (r >= 0)
		r = drfs_buf_printf(&body, "</Delete>");
	if (r < 0)
		goto out;
	drfs_s3_md5(body.p, body.len, md5, NULL);
	struct req q = {.method = "POST",
			.name = "(DeleteObjects)",
			.query = {{"delete", NULL}},
			.nq = 1,
			.body = body.p,
			.body_len = body.len,
			.md5 = md5,
			.out = &resp};
	r = perform_2xx(s, &q);
	if (r < 0)
		goto out;
	struct drfs_s3_delete_result *d = malloc(sizeof(*d));
	if (!d) {
		r = -ENOMEM;
		goto out;
	}
	r = drfs_s3xml_parse_delete(resp.p, resp.len, d);
	if (r < 0) {
		set_err(s,
			"s3 POST \"(DeleteObjects)\" at %s bucket \"%s\": "
			"malformed DeleteResult",
			s->endpoint, s->bucket);
		r = -EIO;
	} else if (d->n_errors_not_missing) {
		set_err(s,
			"s3 DELETE \"%s\" at %s bucket \"%s\": %s "
			"(%zu of %zu keys failed)",
			d->first_key, s->endpoint, s->bucket, d->first_code,
			d->n_errors_not_missing, n);
		r = !strcmp(d->first_code, "AccessDenied") ? -EPERM : -EIO;
	}
	free(d);
out:
	drfs_buf_release(&body);
	drfs_buf_release(&resp);
	return r;
}

static int s3_del_many(struct drfs_backend *b, const char *const *names,
		       size_t n)
{
	for (size_t i = 0; i < n; i += S3_DELETE_BATCH) {
		int r = del_batch(S3(b), names + i,
				  MIN((size_t)S3_DELETE_BATCH, n - i));
		if (r < 0)
			return r;
	}
	return 0;
}

static int list_page(struct s3 *s, const char *full_prefix, const char *token,
		     int max_keys, struct drfs_buf *resp,
		     struct drfs_s3_list *ret)
{
	char mk[16];
	struct req q = {.method = "GET", .name = full_prefix, .out = resp};
	int r;

	snprintf(mk, sizeof(mk), "%d", max_keys);
	q.query[q.nq++] = (struct drfs_s3_kv){"list-type", "2"};
	q.query[q.nq++] = (struct drfs_s3_kv){"max-keys", mk};
	if (full_prefix[0])
		q.query[q.nq++] = (struct drfs_s3_kv){"prefix", full_prefix};
	if (token)
		q.query[q.nq++] =
		    (struct drfs_s3_kv){"continuation-token", token};
	drfs_buf_reset(resp);
	r = s3_perform(s, &q);
	if (r < 0)
		return r;
	if (q.status == 404) {
		set_err(s,
			"s3 LIST \"%s\" at %s bucket \"%s\": 404 %s (bucket "
			"does not exist)",
			full_prefix, s->endpoint, s->bucket,
			q.err.code[0] ? q.err.code : "NoSuchBucket");
		return -ENOENT;
	}
	if (q.status < 200 || q.status >= 300) {
		report(s, &q, -EIO);
		return -EIO;
	}
	r = drfs_s3xml_parse_list(resp->p, resp->len, ret);
	if (r < 0)
		set_err(s,
			"s3 LIST \"%s\" at %s bucket \"%s\": malformed "
			"ListBucketResult",
			full_prefix, s->endpoint, s->bucket);
	return r;
}

/* List with one of the two callbacks. */
static int s3_list_any(struct drfs_backend *b, const char *prefix,
		       drfs_list_cb cb, drfs_list_mtime_cb cb_mtime,
		       void *userdata)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *full = NULL;
	char *token = NULL;
	struct drfs_buf resp;
	size_t plen = strlen(s->prefix);
	int r = 0;

	if (strlen(prefix) > DRFS_OBJECT_NAME_MAX)
		return -EINVAL;
	if (!(full = full_key(s, prefix)))
		return -ENOMEM;
	drfs_buf_init(&resp, DRFS_XML_PAGE_MAX);
	for (;;) {
		struct drfs_s3_list l;
		r = list_page(s, full, token, 1000, &resp, &l);
		if (r < 0)
			break;
		for (size_t i = 0; i < l.n && r >= 0; i++) {
			const char *k = l.entries[i].key;
			if (strncmp(k, full, strlen(full)) ||
			    strlen(k) - plen > DRFS_OBJECT_NAME_MAX)
				continue; /* not ours */
			r = cb_mtime ? cb_mtime(k + plen, l.entries[i].size,
						l.entries[i].mtime, userdata)
				     : cb(k + plen, l.entries[i].size, userdata);
		}
		if (r >= 0 && l.truncated && token &&
		    !strcmp(token, l.next_token)) {
			set_err(s,
				"s3 LIST at %s bucket \"%s\": continuation "
				"token repeats",
				s->endpoint, s->bucket);
			r = -EIO;
		}
		free(token);
		token = l.truncated ? TAKE_PTR(l.next_token) : NULL;
		drfs_s3_list_release(&l);
		if (r < 0 || !token)
			break;
	}
	free(token);
	drfs_buf_release(&resp);
	return r < 0 ? r : 0;
}

static int s3_list(struct drfs_backend *b, const char *prefix, drfs_list_cb cb,
		   void *userdata)
{
	return s3_list_any(b, prefix, cb, NULL, userdata);
}

static int s3_list_mtime(struct drfs_backend *b, const char *prefix,
			 drfs_list_mtime_cb cb, void *userdata)
{
	return s3_list_any(b, prefix, NULL, cb, userdata);
}

const char *drfs_s3_open_error(void)
{
	return tls_err[0] ? tls_err : NULL;
}

static const char *s3_last_error(struct drfs_backend *b)
{
	struct s3 *s = S3(b);

	if (!tls_err[0]) {
		pthread_mutex_lock(&s->lock);
		memcpy(tls_err, s->last_err, sizeof(tls_err));
		pthread_mutex_unlock(&s->lock);
	}
	return tls_err[0] ? tls_err : NULL;
}

static void s3_free(struct drfs_backend *b)
{
	struct s3 *s = S3(b);

	if (!s)
		return;
	for (int i = 0; i < s->n_free; i++)
		curl_easy_cleanup(s->free_h[i]);
	free(s->free_h);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	if (s->secret_key)
		OPENSSL_cleanse(s->secret_key, strlen(s->secret_key));
	if (s->session_token)
		OPENSSL_cleanse(s->session_token, strlen(s->session_token));
	free(s->secret_key);
	free(s->session_token);
	free(s->access_key);
	free(s->bucket);
	free(s->prefix);
	free(s->endpoint);
	free(s->url_base);
	free(s->host);
	free(s->region);
	free(s->base.display);
	free(s);
}

static const struct drfs_backend_ops s3_ops = {
    .put = s3_put,
    .get = s3_get,
    .head = s3_head,
    .list = s3_list,
    .list_mtime = s3_list_mtime,
    .del = s3_del,
    .del_many = s3_del_many,
    .set_retention = s3_set_retention,
    .get_retention = s3_get_retention,
    .last_error = s3_last_error,
    .free = s3_free,
};

/* ---- open -------------------------------------------------------------- */

static int create_bucket(struct s3 *s)
{
	struct drfs_buf body;
	struct req q = {.method = "PUT", .name = "(CreateBucket)"};
	int r = 0;

	drfs_buf_init(&body, 512);
	if (strcmp(s->region, "us-east-1")) {
		r = drfs_buf_printf(&body,
				    "<CreateBucketConfiguration xmlns=\""
				    "http://s3.amazonaws.com/doc/"
				    "2006-03-01/\"><LocationConstraint>"
				    "%s</LocationConstraint>"
				    "</CreateBucketConfiguration>",
				    s->region);
		q.body = body.p;
		q.body_len = body.len;
	}
	if (r >= 0)
		r = s3_perform(s, &q);
	drfs_buf_release(&body);
	if (r < 0)
		return r;
	if (q.status == 409 && !strcmp(q.err.code, "BucketAlreadyOwnedByYou"))
		return 0;
	if (q.status < 200 || q.status >= 300) {
		report(s, &q, -EIO);
		return q.status == 403 ? -EACCES : -EIO;
	}
	return 0;
}

/* A signed ListObjectsV2 with max-keys=1: bucket exists, creds work. */
static int check_bucket(struct s3 *s, bool create)
{
	struct drfs_buf resp;
	struct drfs_s3_list l;
	int r;
	char saved_msg[S3_ERR_MAX];

	drfs_buf_init(&resp, DRFS_XML_PAGE_MAX);
	r = list_page(s, s->prefix, NULL, 1, &resp, &l);
	if (r == -ENOENT && create) {
		r = create_bucket(s);
		if (r >= 0)
			r = list_page(s, s->prefix, NULL, 1, &resp, &l);
	}
	drfs_buf_release(&resp);
	if (r >= 0) {
		drfs_s3_list_release(&l);
		return 0;
	}
	memcpy(saved_msg, tls_err, sizeof(saved_msg));
	if (r == -ENOENT)
		set_err(s, "bucket does not exist: \"%s\" at %s", s->bucket,
			s->endpoint);
	else if (r == -EACCES)
		set_err(s, "credentials refused for bucket \"%s\" at %s: %s",
			s->bucket, s->endpoint, saved_msg);
	return r;
}

int drfs_backend_s3_open(const char *url, const struct drfs_backend_opts *o,
			 struct drfs_backend **ret)
{
	struct s3 *s;
	char *base = NULL, *host = NULL, *prefix = NULL;
	bool custom = false;
	int r;

	pthread_once(&global_once, global_init);
	if (global_ret < 0)
		return global_ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &s3_ops;
	s->base.remote = true;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	tls_err[0] = '\0';

	r = drfs_s3_parse_url(url, &s->bucket, &prefix);
	if (r < 0) {
		set_err(s,
			"s3: invalid repository URL \"%s\" (want "
			"s3://bucket[/prefix])",
			url);
		goto fail;
	}
	r = asprintf(&s->prefix, "%s%s", prefix, prefix[0] ? "/" : "");
	if (r < 0) {
		s->prefix = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = resolve_config(s, o, &custom);
	if (r < 0)
		goto fail;
	r = drfs_s3_parse_endpoint(s->endpoint, &base, &host);
	if (r < 0) {
		set_err(s, "s3: invalid endpoint \"%s\"", s->endpoint);
		goto fail;
	}
	s->path_style = o && o->path_style >= 0 ? o->path_style == 1 : custom;
	if (s->path_style) {
		s->url_base = TAKE_PTR(base);
		s->host = TAKE_PTR(host);
	} else {
		const char *rest = strstr(base, "://") + 3;
		if (asprintf(&s->url_base, "%.*s%s.%s", (int)(rest - base),
			     base, s->bucket, rest) < 0 ||
		    asprintf(&s->host, "%s.%s", s->bucket, host) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	}
	s->connections =
	    o && o->connections > 0 ? o->connections : S3_DEFAULT_CONNECTIONS;
	if (s->connections > S3_MAX_CONNECTIONS)
		s->connections = S3_MAX_CONNECTIONS;
	s->retries = o && o->retries >= 0 ? o->retries : S3_DEFAULT_RETRIES;
	s->insecure_tls = o && o->insecure_tls;
	s->low_speed_time = S3_LOW_SPEED_TIME_S;
	const char *lst = getenv("DRFS_S3_LOW_SPEED_TIME");
	if (lst && atol(lst) > 0)
		s->low_speed_time = atol(lst);
	s->free_h = calloc((size_t)s->connections, sizeof(*s->free_h));
	if (!s->free_h ||
	    asprintf(&s->base.display, "s3://%s%s%s at %s", s->bucket,
		     prefix[0] ? "/" : "", prefix, s->endpoint) < 0) {
		s->base.display = NULL;
		r = -ENOMEM;
		goto fail;
	}

	/* fail fast on a wrong endpoint: at most 3 attempts at open */
	int retries = s->retries;
	s->retries = MIN(retries, 2);
	r = check_bucket(s, o && o->create);
	s->retries = retries;
	if (r < 0)
		goto fail;
	free(base);
	free(host);
	free(prefix);
	*ret = &s->base;
	return 0;
fail:
	free(base);
	free(host);
	free(prefix);
	s3_free(&s->base);
	return r;
}
