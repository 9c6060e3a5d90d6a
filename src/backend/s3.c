/* SPDX-License-Identifier: MIT */
/*
 * s3.c - the S3 backend: whole objects over HTTP(S) (see s3int.h for the
 * rooms). This file holds the operations behind the backend vtable - get
 * (whole and ranged), head, list (ListObjectsV2 pages), delete (one, and
 * DeleteObjects batches), Object Lock retention - and opening, which checks
 * the bucket and the credentials with one signed request. put is in
 * s3put.c, the HTTP engine in s3http.c, configuration in s3conf.c.
 *
 * Every operation turns the outcome of s3_perform() into the errors of
 * backend.h; the HTTP/curl translation itself is in s3http.c only.
 *
 * Thread rule: every operation may run concurrently from any thread.
 * last_error() is per thread (the detail of the calling thread's last
 * failure), falling back to the backend's most recent failure.
 */
#include "s3int.h"

#include <stdio.h>
#include <openssl/crypto.h>

#include "drfs/limits.h"

/* ---- operations -------------------------------------------------------- */

bool s3_name_ok(const char *name)
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

char *s3_full_key(struct s3 *s, const char *name)
{
	char *k = NULL;
	if (asprintf(&k, "%s%s", s->prefix, name) < 0)
		return NULL;
	return k;
}

int s3_head_key(struct s3 *s, const char *key, const char *name,
		uint64_t *ret_size, char *ret_etag, size_t etag_size)
{
	struct s3_req q = {.method = "HEAD", .key = key, .name = name};
	int r = s3_perform(s, &q);

	if (r < 0)
		return r;
	if (q.status == 404) {
		s3_set_err(s,
			   "s3 HEAD \"%s\" at %s bucket \"%s\": 404 not found",
			   key, s->endpoint, s->bucket);
		return -ENOENT;
	}
	if (q.status < 200 || q.status >= 300 || !q.have_length) {
		s3_set_err(s, "s3 HEAD \"%s\" at %s bucket \"%s\": %ld", key,
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

	if (!s3_name_ok(name))
		return -EINVAL;
	if (!(key = s3_full_key(s, name)))
		return -ENOMEM;
	return s3_head_key(s, key, key, ret_size, NULL, 0);
}

static int s3_get(struct drfs_backend *b, const char *name, uint64_t off,
		  uint64_t len, struct drfs_buf *out)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	struct s3_req q = {.method = "GET", .out = out};
	size_t before = out->len;
	int r;

	if (!s3_name_ok(name))
		return -EINVAL;
	if (!(key = s3_full_key(s, name)))
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
		s3_set_err(s, "s3 GET \"%s\" at %s bucket \"%s\": 404 %s", key,
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
	drfs_backend_limit_down(out->len - before);
	return 0;
}

static int s3_del(struct drfs_backend *b, const char *name)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	int r;

	if (!s3_name_ok(name))
		return -EINVAL;
	if (!(key = s3_full_key(s, name)))
		return -ENOMEM;
	struct s3_req q = {.method = "DELETE", .key = key};
	r = s3_perform(s, &q);
	if (r < 0)
		return r;
	if (q.status == 404 && !strcmp(q.err.code, "NoSuchBucket")) {
		s3_report(s, &q, -ENOENT);
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
	struct s3_req g = {.method = "GET",
			   .key = key,
			   .query = {{"retention", NULL}},
			   .nq = 1,
			   .out = &resp};
	r = s3_perform(s, &g);
	if (r < 0 && g.status == 400) {
		/* AWS: InvalidRequest "Bucket is missing Object Lock
		 * Configuration"; RadosGW: "bucket object lock not
		 * configured" */
		s3_set_err(s,
			   "s3 GET \"%s\" (retention) at %s bucket \"%s\": "
			   "400 %s%s%s (is Object Lock enabled on the bucket?)",
			   name, s->endpoint, s->bucket, g.err.code,
			   g.err.message[0] ? ": " : "", g.err.message);
		r = -EOPNOTSUPP;
	} else if (r >= 0 && g.status == 404 &&
		   (!strcmp(g.err.code, "NoSuchKey") ||
		    !strcmp(g.err.code, "NoSuchBucket"))) {
		s3_report(s, &g, -ENOENT);
		r = -ENOENT;
	} else if (r >= 0 && g.status == 404) {
		r = 0; /* NoSuchObjectLockConfiguration: none set */
	} else if (r >= 0 && g.status != 200) {
		s3_report(s, &g, -EIO); /* 412/416: not an answer to this */
		r = -EIO;
	} else if (r >= 0 &&
		   drfs_s3xml_parse_retention(resp.p, resp.len, cur) < 0) {
		s3_set_err(s,
			   "s3 GET \"%s\" (retention) at %s bucket \"%s\": "
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

	if (!s3_name_ok(name))
		return -EINVAL;
	if (!(key = s3_full_key(s, name)))
		return -ENOMEM;
	int r = get_retention(s, name, key, &cur);
	if (r == 1) {
		*until = cur.until;
		*compliance = cur.compliance;
	}
	return r;
}

/* PUT ?retention (with the Content-MD5 the call requires); bypass sends
 * x-amz-bypass-governance-retention, needed to change a governance
 * retention's mode. */
static int put_retention(struct s3 *s, const char *key, int64_t until,
			 bool compliance, bool bypass)
{
	struct drfs_buf body;
	char md5[25], date[32];
	struct tm tm;
	time_t t = (time_t)until;
	int r;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -EINVAL;
	drfs_buf_init(&body, 1024);
	r = drfs_buf_printf(&body,
			    "<Retention xmlns=\"http://s3.amazonaws.com/doc/"
			    "2006-03-01/\"><Mode>%s</Mode><RetainUntilDate>%s"
			    "</RetainUntilDate></Retention>",
			    compliance ? "COMPLIANCE" : "GOVERNANCE", date);
	if (r >= 0) {
		drfs_s3_md5(body.p, body.len, md5, NULL);
		struct s3_req q = {.method = "PUT",
				   .key = key,
				   .query = {{"retention", NULL}},
				   .nq = 1,
				   .body = body.p,
				   .body_len = body.len,
				   .md5 = md5,
				   .bypass_governance = bypass};
		r = s3_perform_2xx(s, &q);
	}
	drfs_buf_release(&body);
	return r < 0 ? r : 0;
}

/*
 * Extend name's retention only when it ends before until; a compliance
 * retention stays compliance. Asked for compliance over a governance
 * retention, convert it (with the governance bypass, which the credentials
 * need: s3:BypassGovernanceRetention); when that is refused, keep it
 * governance, extended if it ended earlier (backend.h's results).
 */
static int s3_set_retention(struct drfs_backend *b, const char *name,
			    int64_t until, bool compliance)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	struct drfs_s3_retention cur;
	bool convert = false;
	int r;

	if (!s3_name_ok(name) || until < 0)
		return -EINVAL;
	if (!(key = s3_full_key(s, name)))
		return -ENOMEM;
	r = get_retention(s, name, key, &cur);
	if (r < 0)
		return r;
	if (r == 1) {
		convert = compliance && !cur.compliance;
		compliance |= cur.compliance;
		if (cur.until >= until && cur.compliance == compliance)
			return DRFS_RETAIN_KEPT;
		until = MAX(until, cur.until);
	}
	r = put_retention(s, key, until, compliance, convert);
	if (r >= 0)
		return convert ? DRFS_RETAIN_CONVERTED : DRFS_RETAIN_EXTENDED;
	if (!convert || (r != -EACCES && r != -EPERM))
		return r;
	/* not allowed to convert: keep governance, extended if need be */
	char why[S3_ERR_MAX];
	snprintf(why, sizeof(why), "%s", s3_thread_err());
	if (cur.until < until) {
		r = put_retention(s, key, until, false, false);
		if (r < 0)
			return r;
	}
	s3_set_err(s, "%s", why);
	return DRFS_RETAIN_NOT_CONVERTED;
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
		if (!s3_name_ok(names[i])) {
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
	struct s3_req q = {.method = "POST",
			   .name = "(DeleteObjects)",
			   .query = {{"delete", NULL}},
			   .nq = 1,
			   .body = body.p,
			   .body_len = body.len,
			   .md5 = md5,
			   .out = &resp};
	r = s3_perform_2xx(s, &q);
	if (r < 0)
		goto out;
	struct drfs_s3_delete_result *d = malloc(sizeof(*d));
	if (!d) {
		r = -ENOMEM;
		goto out;
	}
	r = drfs_s3xml_parse_delete(resp.p, resp.len, d);
	if (r < 0) {
		s3_set_err(s,
			   "s3 POST \"(DeleteObjects)\" at %s bucket \"%s\": "
			   "malformed DeleteResult",
			   s->endpoint, s->bucket);
		r = -EIO;
	} else if (d->n_errors_not_missing) {
		s3_set_err(s,
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
	struct s3_req q = {.method = "GET", .name = full_prefix, .out = resp};
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
		s3_set_err(s,
			   "s3 LIST \"%s\" at %s bucket \"%s\": 404 %s (bucket "
			   "does not exist)",
			   full_prefix, s->endpoint, s->bucket,
			   q.err.code[0] ? q.err.code : "NoSuchBucket");
		return -ENOENT;
	}
	if (q.status < 200 || q.status >= 300) {
		s3_report(s, &q, -EIO);
		return -EIO;
	}
	r = drfs_s3xml_parse_list(resp->p, resp->len, ret);
	if (r < 0)
		s3_set_err(s,
			   "s3 LIST \"%s\" at %s bucket \"%s\": malformed "
			   "ListBucketResult",
			   full_prefix, s->endpoint, s->bucket);
	return r;
}

static int s3_list_info(struct drfs_backend *b, const char *prefix,
			drfs_list_info_cb cb, void *userdata)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *full = NULL;
	char *token = NULL;
	struct drfs_buf resp;
	size_t plen = strlen(s->prefix);
	int r = 0;

	if (strlen(prefix) > DRFS_OBJECT_NAME_MAX)
		return -EINVAL;
	if (!(full = s3_full_key(s, prefix)))
		return -ENOMEM;
	drfs_buf_init(&resp, DRFS_XML_PAGE_MAX);
	for (;;) {
		struct drfs_s3_list l;
		r = list_page(s, full, token, 1000, &resp, &l);
		if (r < 0)
			break;
		for (size_t i = 0; i < l.n && r >= 0; i++) {
			const char *k = l.entries[i].key;
			struct drfs_obj_info info = {.size = l.entries[i].size};
			if (strncmp(k, full, strlen(full)) ||
			    strlen(k) - plen > DRFS_OBJECT_NAME_MAX)
				continue; /* not ours */
			info.mtime = l.entries[i].mtime;
			memcpy(info.etag, l.entries[i].etag, sizeof(info.etag));
			r = cb(k + plen, &info, userdata);
		}
		if (r >= 0 && l.truncated && token &&
		    !strcmp(token, l.next_token)) {
			s3_set_err(s,
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

struct list_sizes {
	drfs_list_cb cb;
	void *userdata;
};

static int list_sizes_cb(const char *name, const struct drfs_obj_info *info,
			 void *userdata)
{
	struct list_sizes *ls = userdata;
	return ls->cb(name, info->size, ls->userdata);
}

static int s3_list(struct drfs_backend *b, const char *prefix, drfs_list_cb cb,
		   void *userdata)
{
	struct list_sizes ls = {cb, userdata};
	return s3_list_info(b, prefix, list_sizes_cb, &ls);
}

struct list_mtimes {
	drfs_list_mtime_cb cb;
	void *userdata;
};

static int list_mtimes_cb(const char *name, const struct drfs_obj_info *info,
			  void *userdata)
{
	struct list_mtimes *lm = userdata;
	return lm->cb(name, info->size, info->mtime, lm->userdata);
}

static int s3_list_mtime(struct drfs_backend *b, const char *prefix,
			 drfs_list_mtime_cb cb, void *userdata)
{
	struct list_mtimes lm = {cb, userdata};
	return s3_list_info(b, prefix, list_mtimes_cb, &lm);
}

static int s3_stat(struct drfs_backend *b, const char *name,
		   struct drfs_obj_info *ret)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	struct drfs_obj_info info = {0};
	char etag[96] = "";

	if (!s3_name_ok(name))
		return -EINVAL;
	if (!(key = s3_full_key(s, name)))
		return -ENOMEM;
	int r = s3_head_key(s, key, key, &info.size, etag, sizeof(etag));
	if (r < 0)
		return r;
	size_t n = strlen(etag);
	const char *e = etag;
	if (n >= 2 && e[0] == '"' && e[n - 1] == '"')
		e++, n -= 2;
	if (n <= DRFS_OBJECT_ETAG_MAX)
		memcpy(info.etag, e, n);
	*ret = info;
	return 0;
}

static const char *s3_last_error(struct drfs_backend *b)
{
	return s3_last_error_of(S3(b));
}

static void s3_free(struct drfs_backend *b)
{
	struct s3 *s = S3(b);

	if (!s)
		return;
	s3_pool_release(s);
	free(s->free_h);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	s3_creds_release(s);
	free(s->ca_bundle);
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
    .list_info = s3_list_info,
    .stat = s3_stat,
    .del = s3_del,
    .del_many = s3_del_many,
    .set_retention = s3_set_retention,
    .get_retention = s3_get_retention,
    .probe_overwrite = s3_probe_overwrite,
    .last_error = s3_last_error,
    .free = s3_free,
};

/* ---- open -------------------------------------------------------------- */

static int create_bucket(struct s3 *s)
{
	struct drfs_buf body;
	struct s3_req q = {.method = "PUT", .name = "(CreateBucket)"};
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
		s3_report(s, &q, -EIO);
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
	snprintf(saved_msg, sizeof(saved_msg), "%s", s3_thread_err());
	if (r == -ENOENT)
		s3_set_err(s, "bucket does not exist: \"%s\" at %s", s->bucket,
			   s->endpoint);
	else if (r == -EACCES)
		s3_set_err(s, "credentials refused for bucket \"%s\" at %s: %s",
			   s->bucket, s->endpoint, saved_msg);
	return r;
}

int drfs_backend_s3_open(const char *url, const struct drfs_backend_opts *o,
			 struct drfs_backend **ret)
{
	struct s3 *s;
	int r;

	r = s3_http_global_init();
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &s3_ops;
	s->base.remote = true;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_mutex_init(&s->creds_lock, NULL);
	s3_thread_err_clear();

	r = s3_configure(s, url, o);
	if (r < 0)
		goto fail;
	s->free_h = calloc((size_t)s->connections, sizeof(*s->free_h));
	if (!s->free_h) {
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
	*ret = &s->base;
	return 0;
fail:
	s3_free(&s->base);
	return r;
}
