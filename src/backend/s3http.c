/* SPDX-License-Identifier: MIT */
/*
 * s3http.c - the S3 backend's HTTP engine (see s3int.h for the rooms).
 *
 *   - a pool of curl easy handles (a handle belongs to one thread at a time,
 *     connections are kept alive inside it) behind a counting gate that
 *     allows s->connections transfers at once;
 *   - attempt() signs (sigv4.c) and runs one request; s3_perform() retries
 *     it with exponential backoff and full jitter, re-signed on every
 *     attempt;
 *   - classify() is the one translation of HTTP statuses, S3 error codes
 *     and curl errors into negative errno (and retryable or not);
 *   - the error detail: per thread (tls_err), and the backend's most recent
 *     failure of any thread (s->last_err, under s->lock).
 *
 * Thread rule: every function may run concurrently from any thread.
 */
#include "s3int.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <openssl/crypto.h>

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

int s3_http_global_init(void)
{
	pthread_once(&global_once, global_init);
	return global_ret;
}

void s3_set_err(struct s3 *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tls_err, sizeof(tls_err), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->lock);
	memcpy(s->last_err, tls_err, sizeof(tls_err));
	pthread_mutex_unlock(&s->lock);
}

const char *s3_thread_err(void)
{
	return tls_err;
}

void s3_thread_err_clear(void)
{
	tls_err[0] = '\0';
}

const char *drfs_s3_open_error(void)
{
	return tls_err[0] ? tls_err : NULL;
}

const char *s3_last_error_of(struct s3 *s)
{
	if (!tls_err[0]) {
		pthread_mutex_lock(&s->lock);
		memcpy(tls_err, s->last_err, sizeof(tls_err));
		pthread_mutex_unlock(&s->lock);
	}
	return tls_err[0] ? tls_err : NULL;
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

void s3_pool_release(struct s3 *s)
{
	for (int i = 0; i < s->n_free; i++)
		curl_easy_cleanup(s->free_h[i]);
	s->n_free = 0;
}

/* ---- one request ------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct s3_req *q = ud;
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
	len = s3_trim_len(p, len);
	if (len >= out_size)
		len = out_size - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct s3_req *q = ud;
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
static int req_path(struct s3 *s, const struct s3_req *q, struct drfs_buf *out)
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

/*
 * The signed request for one attempt: its URL into url and its header list
 * (Authorization included) into *ret_list. The secrets are wiped from the
 * scratch buffers; the list holds the signature, never a key.
 */
static int build_request(struct s3 *s, struct s3_req *q, const char *path,
			 const char *query, const char *sha,
			 const struct s3_signing *sg, struct drfs_buf *url,
			 struct curl_slist **ret_list)
{
	char date[17];
	struct drfs_s3_kv hv[DRFS_SIGV4_MAX_PAIRS];
	struct drfs_buf auth;
	struct curl_slist *list = NULL;
	size_t nh = 0;
	int r;

	drfs_sigv4_amz_date(time(NULL), date);
	hv[nh++] = (struct drfs_s3_kv){"host", s->host};
	hv[nh++] = (struct drfs_s3_kv){"x-amz-date", date};
	hv[nh++] = (struct drfs_s3_kv){"x-amz-content-sha256", sha};
	if (sg->session_token)
		hv[nh++] = (struct drfs_s3_kv){"x-amz-security-token",
					       sg->session_token};
	if (q->md5)
		hv[nh++] = (struct drfs_s3_kv){"content-md5", q->md5};
	if (q->range[0])
		hv[nh++] = (struct drfs_s3_kv){"range", q->range};
	if (q->if_none_match)
		hv[nh++] = (struct drfs_s3_kv){"if-none-match", "*"};
	if (q->bypass_governance)
		hv[nh++] = (struct drfs_s3_kv){
		    "x-amz-bypass-governance-retention", "true"};

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
	    .access_key = sg->access_key,
	    .secret_key = sg->secret_key,
	};
	drfs_buf_init(&auth, 8192);
	r = drfs_sigv4_authorization(&sr, &auth);
	if (r >= 0)
		r = drfs_buf_printf(url, "%s%s%s%s", s->url_base, path,
				    query[0] ? "?" : "", query);
	for (size_t i = 0; i < nh && r >= 0; i++) {
		char *h = NULL;
		struct curl_slist *l2;
		if (asprintf(&h, "%s: %s", hv[i].name, hv[i].value) < 0) {
			r = -ENOMEM;
			break;
		}
		if (!(l2 = curl_slist_append(list, h)))
			r = -ENOMEM;
		else
			list = l2;
		OPENSSL_cleanse(h, strlen(h)); /* a session token */
		free(h);
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
		return r < 0 ? r : -ENOMEM;
	}
	*ret_list = list;
	return 0;
}

/* Every option of h for one attempt of q. */
static void setup_handle(struct s3 *s, struct s3_req *q, CURL *h,
			 const char *url, struct curl_slist *list)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->low_speed_time);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, s->insecure_tls ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, s->insecure_tls ? 0L : 2L);
	if (s->ca_bundle)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_bundle);
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
}

/* Run one attempt. Returns 0 when an HTTP response arrived (any status). */
static int attempt(struct s3 *s, struct s3_req *q, const char *path,
		   const char *query, const char *sha)
{
	struct drfs_buf url;
	struct curl_slist *list = NULL;
	struct s3_signing sg;
	int r;

	r = s3_creds_get(s, &sg);
	if (r < 0)
		return r;
	drfs_buf_init(&url, 16384);
	r = build_request(s, q, path, query, sha, &sg, &url, &list);
	s3_signing_release(&sg);
	if (r < 0) {
		drfs_buf_release(&url);
		return r;
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

	setup_handle(s, q, h, (char *)url.p, list);
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

static const char *qname(const struct s3_req *q)
{
	return q->name ? q->name : q->key ? q->key : "";
}

/*
 * Translate the outcome of an attempt: 0 success (2xx, or a status the
 * caller handles: 404, 412, 416), > 0 retryable, < 0 final error. *ret_err
 * is the errno to report if this is the last attempt.
 */
static int classify(struct s3 *s, struct s3_req *q, int *ret_err)
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

/* The kind of a failed attempt, for the counters of backend.h. */
static enum drfs_backend_kind failure_kind(const struct s3_req *q, int err)
{
	if (q->cc != CURLE_OK)
		return err == -ETIMEDOUT ? DRFS_BE_TIMEOUT
		       : err == -ECONNREFUSED || err == -EHOSTUNREACH
			       ? DRFS_BE_CONNECT
			       : DRFS_BE_TRANSFER;
	if (q->status == 429 || !strcmp(q->err.code, "SlowDown"))
		return DRFS_BE_THROTTLE;
	if (q->status >= 500)
		return DRFS_BE_SERVER;
	if (q->status == 403)
		return DRFS_BE_DENIED;
	return DRFS_BE_OTHER;
}

void s3_report(struct s3 *s, struct s3_req *q, int err)
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
	s3_set_err(s, "s3 %s \"%s\" at %s bucket \"%s\": %s", q->method,
		   qname(q), s->endpoint, s->bucket, detail);
}

/* A 400/403 saying the session token has expired. */
static bool token_expired(const struct s3_req *q)
{
	const char *c = q->err.code;
	return q->cc == CURLE_OK && (q->status == 400 || q->status == 403) &&
	       (!strcmp(c, "ExpiredToken") ||
		!strcmp(c, "ExpiredTokenException") ||
		!strcmp(c, "TokenRefreshRequired"));
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
int s3_perform(struct s3 *s, struct s3_req *q)
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

	bool renewed = false;
	for (int i = 0; i < max; i++) {
		if (i > 0)
			backoff(i - 1);
		q->attempts = i + 1;
		r = attempt(s, q, (char *)path.p,
			    query.p ? (char *)query.p : "", sha);
		if (r < 0) {
			if (q->out)
				q->out->len = q->out_base;
			goto out; /* before any transfer: detail recorded */
		}
		int c = classify(s, q, &err);
		if (c == 0) {
			r = 0;
			goto out;
		}
		r = err;
		/* temporary credentials the server calls expired: once,
		 * fetch new ones and send again */
		if (!renewed && token_expired(q) && s3_creds_invalidate(s)) {
			renewed = true;
			i--;
			continue;
		}
		if (c < 0)
			break;
		if (i + 1 < max)
			atomic_fetch_add(&s->base.retries[failure_kind(q, r)],
					 1);
	}
	atomic_fetch_add(&s->base.errors[failure_kind(q, r)], 1);
	if (q->out)
		q->out->len = q->out_base;
	s3_report(s, q, r);
out:
	drfs_buf_release(&q->errbody);
	drfs_buf_release(&path);
	drfs_buf_release(&query);
	return r;
}

int s3_perform_2xx(struct s3 *s, struct s3_req *q)
{
	int r = s3_perform(s, q);
	if (r >= 0 && (q->status < 200 || q->status >= 300)) {
		s3_report(s, q, -EIO);
		r = q->status == 404 ? -ENOENT : -EIO;
	}
	return r;
}

/* ---- unsigned requests to credentials providers -------------------------- */

static size_t fetch_write(char *p, size_t size, size_t n, void *ud)
{
	struct drfs_buf *out = ud;
	return drfs_buf_append(out, p, size * n) < 0 ? 0 : size * n;
}

static int fetch_errno(CURLcode cc, long os_errno, const char **why)
{
	*why = curl_easy_strerror(cc);
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return os_errno == EHOSTUNREACH || os_errno == ENETUNREACH
			       ? -EHOSTUNREACH
			       : -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_WRITE_ERROR:
		*why = "answer too large";
		return -E2BIG;
	default:
		return -EIO;
	}
}

int s3_http_fetch(struct s3 *s, const struct s3_fetch *f, struct drfs_buf *out,
		  long *ret_status, const char **why)
{
	struct curl_slist *list = NULL;
	CURLcode cc = CURLE_OK;
	long os_errno = 0;
	CURL *h = curl_easy_init();
	int r = 0;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < f->nh && r >= 0; i++) {
		struct curl_slist *l2 = curl_slist_append(list, f->headers[i]);
		if (!l2)
			r = -ENOMEM;
		else
			list = l2;
	}
	for (int a = 0; r >= 0 && a < MAX(f->attempts, 1); a++) {
		if (a)
			backoff(0);
		drfs_buf_reset(out);
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, f->url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, f->timeout_s);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER,
				 s->insecure_tls ? 0L : 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
				 s->insecure_tls ? 0L : 2L);
		if (s->ca_bundle)
			curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_bundle);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fetch_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
		if (strcmp(f->method, "GET")) {
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, f->method);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
					 f->body ? f->body : "");
		}
		cc = curl_easy_perform(h);
		if (cc == CURLE_OK) {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE,
					  ret_status);
			if (*ret_status < 500)
				break; /* an answer; 5xx: again */
			continue;
		}
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		if (cc == CURLE_WRITE_ERROR)
			break;
	}
	if (r >= 0 && cc != CURLE_OK)
		r = fetch_errno(cc, os_errno, why);
	for (struct curl_slist *l = list; l; l = l->next)
		OPENSSL_cleanse(l->data, strlen(l->data)); /* a token */
	curl_slist_free_all(list); /* may hold an Authorization token */
	curl_easy_cleanup(h);
	return r;
}
