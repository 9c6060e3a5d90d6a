/* SPDX-License-Identifier: MIT */
/*
 * s3put.c - the S3 backend's put (see s3int.h for the rooms).
 *
 * Create-only puts send "If-None-Match: *" (412 -> -EEXIST unless a HEAD
 * shows our own bytes there, 409 ConditionalRequestConflict -> retry).
 * Whether the server honours it is probed once per process, on the first
 * create-only put, with a fixed probe object (".drfs-inm-probe" under the
 * prefix, never deleted, so append-only credentials can probe).
 * A server that ignores it gets HEAD, then PUT (with If-None-Match: * all the
 * same: a bucket policy that requires it is met), then a HEAD that checks the
 * ETag is ours (-EEXIST if another writer won); that fallback has a race
 * window between the first HEAD and the PUT (two writers can both
 * succeed there; the later one wins). Multipart uploads (objects above
 * S3_MULTIPART_THRESHOLD) always use that fallback for create-only.
 *
 * Thread rule: every function may run concurrently from any thread.
 */
#include "s3int.h"

#include <stdio.h>

#include "drfs/limits.h"

static bool etag_is(const char *etag, const char *md5hex)
{
	size_t l = strlen(md5hex);

	if (etag[0] == '"')
		return !strncmp(etag + 1, md5hex, l) &&
		       !strcmp(etag + 1 + l, "\"");
	return !strcmp(etag, md5hex);
}

/*
 * A create-only put met key (412, or found by the fallback's HEAD): 0 when
 * it holds exactly p[0..len) - an earlier attempt stored it and only the
 * answer was lost - else -EEXIST with the detail recorded; nothing is
 * replaced. md5hex, the ETag a single-part upload of these bytes gets, lets
 * one HEAD answer the common case; otherwise (NULL, a multipart or
 * encrypted object's ETag) the bytes are read back and compared.
 */
static int exists_ours(struct s3 *s, const char *key, const void *p, size_t len,
		       const char *md5hex, const char *why)
{
	char etag[96] = "";
	uint64_t size = 0;
	int r = s3_head_key(s, key, key, &size, etag, sizeof(etag));

	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && md5hex && etag_is(etag, md5hex))
		return 0;
	if (r == 0 && size == len) {
		r = drfs_backend_same_bytes(&s->base, key + strlen(s->prefix),
					    p, len);
		if (r == 1)
			return 0;
		if (r < 0 && r != -ENOENT)
			return r;
	}
	s3_set_err(s, "s3 PUT \"%s\" at %s bucket \"%s\": %s", key, s->endpoint,
		   s->bucket, why);
	return -EEXIST;
}

static int put_plain(struct s3 *s, const char *key, const char *name,
		     const void *p, size_t len, bool inm, const char *sha,
		     const char *md5, const char *md5hex)
{
	struct s3_req q = {.method = "PUT",
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
		return exists_ours(s, key, p, len, md5hex,
				   "412 the object exists with other content "
				   "(left as it is)");
	}
	if (q.status == 412) {
		s3_set_err(s,
			   "s3 PUT \"%s\" at %s bucket \"%s\": 412 object "
			   "exists",
			   name, s->endpoint, s->bucket);
		return -EEXIST;
	}
	if (q.status < 200 || q.status >= 300) {
		s3_report(s, &q, -EIO);
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

static int put_multipart(struct s3 *s, const char *key, const void *p,
			 size_t len, bool inm);

/*
 * Create-only on a server that ignores If-None-Match on PUT (and for
 * multipart uploads, whose CompleteMultipartUpload carries it - AWS honours
 * it there, RadosGW does not): HEAD, PUT (still with If-None-Match: *, which
 * a create-only bucket policy requires), then check that what is there is
 * ours (single part). An existing object is compared with our bytes, never
 * replaced; the window between the HEAD and the PUT is the fallback's race.
 */
static int put_checked(struct s3 *s, const char *key, const void *p, size_t len,
		       const char *sha, const char *md5, const char *md5hex,
		       bool multipart)
{
	int r = s3_head_key(s, key, key, NULL, NULL, 0);

	if (r == 0)
		return exists_ours(s, key, p, len, md5hex,
				   "the object exists with other content "
				   "(left as it is)");
	if (r != -ENOENT)
		return r;
	r = multipart ? put_multipart(s, key, p, len, true)
		      : put_plain(s, key, key, p, len, true, sha, md5, md5hex);
	if (r == -EEXIST && multipart) /* 412 on the completion */
		return exists_ours(s, key, p, len, NULL,
				   "412 the object exists with other content "
				   "(left as it is)");
	if (r < 0 || multipart)
		return r;
	return exists_ours(s, key, p, len, md5hex,
			   "another writer created it concurrently");
}

static void abort_multipart(struct s3 *s, const char *key, const char *id)
{
	struct s3_req q = {.method = "DELETE",
			   .key = key,
			   .query = {{"uploadId", id}},
			   .nq = 1,
			   .max_attempts = 3};
	char saved[S3_ERR_MAX];

	snprintf(saved, sizeof(saved), "%s", s3_thread_err());
	s3_perform(s, &q);
	s3_set_err(s, "%s", saved); /* keep the error that made us abort */
}

/* A multipart upload begun: its id into *ret_id (to free). resp: scratch. */
static int mp_initiate(struct s3 *s, const char *key, struct drfs_buf *resp,
		       char **ret_id)
{
	struct s3_req q = {.method = "POST",
			   .key = key,
			   .query = {{"uploads", NULL}},
			   .nq = 1,
			   .out = resp};
	int r = s3_perform_2xx(s, &q);

	if (r >= 0 && drfs_s3xml_parse_upload_id(resp->p, resp->len,
						 ret_id) < 0) {
		s3_set_err(s,
			   "s3 POST \"%s\" at %s bucket \"%s\": bad "
			   "InitiateMultipartUploadResult",
			   key, s->endpoint, s->bucket);
		r = -EIO;
	}
	return r;
}

/* The nparts parts of p[0..len) uploaded, their ETags into etags[]. */
static int mp_put_parts(struct s3 *s, const char *key, const char *id,
			const void *p, size_t len, size_t nparts,
			char (*etags)[96])
{
	int r;

	for (size_t i = 0; i < nparts; i++) {
		const uint8_t *pp = (const uint8_t *)p + i * S3_PART_SIZE;
		size_t pl = MIN((size_t)S3_PART_SIZE, len - i * S3_PART_SIZE);
		char num[16], md5[25];
		snprintf(num, sizeof(num), "%zu", i + 1);
		drfs_s3_md5(pp, pl, md5, NULL);
		struct s3_req pq = {
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
			s3_report(s, &pq, -EIO);
			r = -EIO;
		}
		if (r < 0)
			return r;
		memcpy(etags[i], pq.etag, sizeof(etags[i]));
	}
	return 0;
}

/* The CompleteMultipartUpload document of nparts ETags into body. */
static int mp_complete_body(struct drfs_buf *body, size_t nparts,
			    char (*etags)[96])
{
	int r = drfs_buf_printf(body, "<CompleteMultipartUpload>");

	for (size_t i = 0; i < nparts && r >= 0; i++) {
		r = drfs_buf_printf(body,
				    "<Part><PartNumber>%zu</PartNumber>"
				    "<ETag>",
				    i + 1);
		if (r >= 0)
			r = drfs_s3xml_escape(body, etags[i]);
		if (r >= 0)
			r = drfs_buf_printf(body, "</ETag></Part>");
	}
	if (r >= 0)
		r = drfs_buf_printf(body, "</CompleteMultipartUpload>");
	return r < 0 ? r : 0;
}

/*
 * The upload completed with body (inm: If-None-Match: *, a 412 is
 * -EEXIST); a 200 that carries an <Error> is tried again, three times in
 * all. resp: scratch.
 */
static int mp_complete(struct s3 *s, const char *key, const char *id,
		       const struct drfs_buf *body, bool inm,
		       struct drfs_buf *resp)
{
	int r = -EIO;

	for (int tries = 0; tries < 3; tries++) {
		char root[64] = "";
		drfs_buf_reset(resp);
		struct s3_req cq = {.method = "POST",
				    .key = key,
				    .query = {{"uploadId", id}},
				    .nq = 1,
				    .body = body->p,
				    .body_len = body->len,
				    .if_none_match = inm,
				    .conflict_retry = inm,
				    .out = resp};
		r = s3_perform(s, &cq);
		if (r >= 0 && cq.status == 412)
			r = -EEXIST;
		else if (r >= 0 && (cq.status < 200 || cq.status >= 300)) {
			s3_report(s, &cq, -EIO);
			r = -EIO;
		}
		if (r < 0)
			return r;
		/* a 200 may still carry an <Error> */
		if (drfs_s3xml_root(resp->p, resp->len, root, sizeof(root)) >=
			0 &&
		    strcmp(root, "Error"))
			return 0;
		struct drfs_s3_error e;
		memset(&e, 0, sizeof(e));
		drfs_s3xml_parse_error(resp->p, resp->len, &e);
		s3_set_err(s, "s3 POST \"%s\" at %s bucket \"%s\": 200 %s", key,
			   s->endpoint, s->bucket, e.code[0] ? e.code : "?");
		r = -EIO;
	}
	return r;
}

/* A multipart upload; inm: the completion carries If-None-Match: * (a 412
 * there is -EEXIST, the upload aborted). */
static int put_multipart(struct s3 *s, const char *key, const void *p,
			 size_t len, bool inm)
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
	r = mp_initiate(s, key, &resp, &id);
	if (r < 0)
		goto out;
	etags = calloc(nparts, sizeof(*etags));
	r = etags ? 0 : -ENOMEM;
	r = r ?: mp_put_parts(s, key, id, p, len, nparts, etags);
	r = r ?: mp_complete_body(&body, nparts, etags);
	r = r ?: mp_complete(s, key, id, &body, inm, &resp);
	if (r < 0)
		abort_multipart(s, key, id);
out:
	free(etags);
	free(id);
	drfs_buf_release(&resp);
	drfs_buf_release(&body);
	return r;
}

int s3_put(struct drfs_backend *b, const char *name, const void *p, size_t len,
	   unsigned flags)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	char sha[65], md5[25], md5hex[33];
	bool create_only = flags & DRFS_PUT_CREATE_ONLY;

	if (!s3_name_ok(name) || (flags & ~DRFS_PUT_CREATE_ONLY))
		return -EINVAL;
	if (!(key = s3_full_key(s, name)))
		return -ENOMEM;
	drfs_backend_limit_up(len);
	if (len > S3_MULTIPART_THRESHOLD) {
		if (create_only)
			return put_checked(s, key, p, len, NULL, NULL, NULL,
					   true);
		return put_multipart(s, key, p, len, false);
	}
	drfs_s3_sha256_hex(p ? p : "", len, sha);
	drfs_s3_md5(p ? p : "", len, md5, md5hex);
	if (create_only && probe_inm(s) != INM_HONOURED)
		return put_checked(s, key, p, len, sha, md5, md5hex, false);
	return put_plain(s, key, key, p, len, create_only, sha, md5, md5hex);
}

int s3_probe_overwrite(struct drfs_backend *b)
{
	struct s3 *s = S3(b);
	_cleanup_free_ char *key = NULL;
	char sha[65], md5[25];
	int r;

	if (asprintf(&key, "%s.drfs-inm-probe", s->prefix) < 0)
		return -ENOMEM;
	probe_inm(s); /* creates the probe object if it is not there */
	drfs_s3_sha256_hex("probe", 5, sha);
	drfs_s3_md5("probe", 5, md5, NULL);
	r = put_plain(s, key, key, "probe", 5, false, sha, md5, NULL);
	if (r == 0)
		return 0;
	if (r == -EACCES || r == -EPERM)
		return 1;
	return r;
}
