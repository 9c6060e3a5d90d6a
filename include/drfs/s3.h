/* SPDX-License-Identifier: MIT */
/*
 * s3.h - the pure parts of the S3 backend (backend/s3conf.c, sigv4.c,
 * s3xml.c), exposed so unit tests and fuzzers can call them directly.
 * Nothing above the backend layer includes this header; use backend.h.
 *
 * Everything here is a pure function of its arguments (no network, no
 * globals) and thread-safe. Strings returned through ret_* are malloc'ed and
 * owned by the caller; on failure ret_* are untouched.
 */
#ifndef DRFS_S3_H
#define DRFS_S3_H

#include "drfs/base.h"
#include "drfs/buf.h"
#include "drfs/limits.h"

/* ---- SigV4 (sigv4.c) --------------------------------------------------- */

/* A name/value pair: a query parameter (raw, unencoded) or a header. */
struct drfs_s3_kv {
	const char *name;
	const char *value; /* NULL is the same as "" */
};

/* Most headers / query parameters one request may carry. */
#define DRFS_SIGV4_MAX_PAIRS 16

struct drfs_sigv4_req {
	const char *method; /* "GET", "PUT", ... */
	/* Canonical URI: the path exactly as sent, already percent-encoded
	 * (drfs_s3_uri_encode with keep_slash). "/" when empty. */
	const char *path;
	const struct drfs_s3_kv
	    *query; /* raw values; encoded and sorted here */
	size_t n_query;
	/* Every header to sign, host included (any case; values are trimmed
	 * and inner runs of spaces collapsed). x-amz-date must be among them
	 * and equal amz_date. */
	const struct drfs_s3_kv *headers;
	size_t n_headers;
	const char *payload_sha256_hex; /* 64 lowercase hex digits */
	const char *amz_date;           /* "YYYYMMDDTHHMMSSZ" */
	const char *region;
	const char *service; /* "s3" */
	const char *access_key;
	const char *secret_key;
};

/*
 * Append the value of the Authorization header for r to out, NUL-terminated
 * (the NUL not counted in out->len). -EINVAL for a malformed request (too
 * many pairs, bad date), -E2BIG/-ENOMEM from the buffer.
 */
int drfs_sigv4_authorization(const struct drfs_sigv4_req *r,
			     struct drfs_buf *out) _warn_unused_;
/* Append the canonical request (for debugging and tests), NUL-terminated. */
int drfs_sigv4_canonical_request(const struct drfs_sigv4_req *r,
				 struct drfs_buf *out) _warn_unused_;
/*
 * Append q[0..n) as a canonical query string: each name and value
 * RFC 3986-encoded ('/' too), sorted by name then value, "a=1&b=" - the same
 * string is both signed and sent. NUL-terminated.
 */
int drfs_sigv4_canonical_query(const struct drfs_s3_kv *q, size_t n,
			       struct drfs_buf *out) _warn_unused_;
/*
 * Append s[0..len) percent-encoded per RFC 3986 (unreserved A-Z a-z 0-9
 * - . _ ~ kept), '/' kept when keep_slash. Not NUL-terminated.
 */
int drfs_s3_uri_encode(struct drfs_buf *out, const char *s, size_t len,
		       bool keep_slash) _warn_unused_;
/* "YYYYMMDDTHHMMSSZ" for t (UTC); out holds 17 bytes. */
void drfs_sigv4_amz_date(time_t t, char out[17]);
/* Lowercase hex SHA-256 of p[0..len); out holds 65 bytes. */
void drfs_s3_sha256_hex(const void *p, size_t len, char out[65]);
/* Base64 MD5 of p[0..len) (Content-MD5); out holds 25 bytes. hex (33
 * bytes) receives the hex form (the ETag of a single-part upload); may be
 * NULL. */
void drfs_s3_md5(const void *p, size_t len, char b64[25], char *hex);

/* ---- XML responses (s3xml.c) ------------------------------------------- */

/* Longest key or token accepted from a listing (S3 allows 1024). */
#define DRFS_S3_KEY_MAX 1024u

/* Longest ETag kept (a multipart one is "<32 hex>-<parts>", quoted). */
#define DRFS_S3_ETAG_MAX DRFS_OBJECT_ETAG_MAX

struct drfs_s3_entry {
	char *key;
	uint64_t size;
	int64_t mtime; /* LastModified (Unix seconds); 0: absent or unread */
	char etag[DRFS_S3_ETAG_MAX + 1]; /* as sent, quotes removed; "" none */
};

/* One ListObjectsV2 page. */
struct drfs_s3_list {
	struct drfs_s3_entry *entries;
	size_t n;
	bool truncated;
	char *next_token; /* NextContinuationToken, or NULL */
};

/*
 * Parse a ListBucketResult document (at most DRFS_XML_PAGE_MAX bytes).
 * -EBADMSG on malformed XML, a wrong root, a key or token too long, a bad
 * size, an ETag longer than DRFS_S3_ETAG_MAX, a DOCTYPE, or IsTruncated
 * true without a token. On success *ret is
 * filled (release with drfs_s3_list_release); on failure it is zeroed.
 */
int drfs_s3xml_parse_list(const void *p, size_t len, struct drfs_s3_list *ret);
void drfs_s3_list_release(struct drfs_s3_list *l);

/* An <Error> document: Code and Message, truncated to fit, NUL-terminated. */
struct drfs_s3_error {
	char code[64];
	char message[256];
};
/* -EBADMSG unless p is well-formed XML with root <Error>. */
int drfs_s3xml_parse_error(const void *p, size_t len,
			   struct drfs_s3_error *ret);

/* A DeleteResult document (quiet mode lists only the failures). */
struct drfs_s3_delete_result {
	size_t n_deleted;
	size_t n_errors;             /* <Error> entries, NoSuchKey included */
	size_t n_errors_not_missing; /* the ones that are not NoSuchKey */
	char first_key[DRFS_S3_KEY_MAX + 1]; /* of the first such error */
	char first_code[64];
};
int drfs_s3xml_parse_delete(const void *p, size_t len,
			    struct drfs_s3_delete_result *ret);

/* InitiateMultipartUploadResult: the UploadId, malloc'ed. */
int drfs_s3xml_parse_upload_id(const void *p, size_t len, char **ret);

/* GetObjectRetention's <Retention>: both fields are required. */
struct drfs_s3_retention {
	bool compliance;  /* COMPLIANCE, else GOVERNANCE */
	int64_t until;    /* RetainUntilDate, seconds since 1970 UTC */
	bool have_mode, have_until;
};
int drfs_s3xml_parse_retention(const void *p, size_t len,
			       struct drfs_s3_retention *ret);

/*
 * The root element name of a document, into out (NUL-terminated, truncated).
 * Used to tell a CompleteMultipartUploadResult from an <Error> sent with a
 * 200 status. -EBADMSG if not well-formed.
 */
int drfs_s3xml_root(const void *p, size_t len, char *out, size_t out_size);

/* Append s with & < > " ' escaped (for DeleteObjects bodies). */
int drfs_s3xml_escape(struct drfs_buf *out, const char *s) _warn_unused_;

/* ---- credentials from providers (s3json.c, s3xml.c) --------------------- */

/*
 * Temporary credentials as the instance metadata service (IMDS), a
 * container credentials endpoint or STS hand them out. Secrets: wipe with
 * OPENSSL_cleanse before the memory is reused.
 */
struct drfs_s3_creds {
	char access_key[129];
	char secret_key[129];
	char token[8193]; /* session token; "" none */
	int64_t expires;  /* seconds since 1970 UTC; 0 never */
};

/*
 * Parse the JSON credentials document of IMDS ("Code", "AccessKeyId",
 * "SecretAccessKey", "Token", "Expiration", ...) or of a container endpoint
 * (the same without "Code"): one flat object of at most 64 KiB, other
 * members skipped. -EBADMSG when it is not such JSON, a field does not fit,
 * "Code" is not "Success", or the key id or secret is missing; on failure
 * *ret is zeroed.
 */
int drfs_s3_parse_creds_json(const void *p, size_t len,
			     struct drfs_s3_creds *ret);

/*
 * Parse an AssumeRoleWithWebIdentityResponse (STS): its <Credentials>
 * (AccessKeyId, SecretAccessKey, SessionToken, Expiration). -EBADMSG as
 * above; an <ErrorResponse> is -EACCES with its code in err (may be NULL).
 */
int drfs_s3xml_parse_sts(const void *p, size_t len, struct drfs_s3_creds *ret,
			 struct drfs_s3_error *err);

/*
 * "2026-12-21T20:41:43Z" (a fraction of a second allowed and dropped):
 * seconds since 1970 UTC. -EBADMSG for anything else.
 */
int drfs_s3_parse_time(const char *s, int64_t *ret);

/* ---- configuration parsing (s3conf.c) ---------------------------------- */

/*
 * Split "s3://bucket[/prefix]". The bucket must be 3..63 characters of
 * [a-z0-9.-] (upper case and '_' tolerated for old buckets), begin and end
 * with a letter or digit, have no "..", and not be an IP address. The
 * prefix is returned without leading or trailing '/', "" when absent;
 * empty segments, "." and ".." are rejected. -EINVAL otherwise.
 */
int drfs_s3_parse_url(const char *url, char **ret_bucket, char **ret_prefix);
/* What drfs_s3_parse_url refuses in url, in words ("a bucket name has at
 * least 3 characters"), or NULL when it is a valid S3 URL. */
const char *drfs_s3_url_problem(const char *url);

/*
 * Split an endpoint "http[s]://host[:port][/]" (no scheme: https) into a
 * normalized base URL without trailing '/' and the Host header value (the
 * port omitted when it is the scheme's default). -EINVAL otherwise.
 */
int drfs_s3_parse_endpoint(const char *endpoint, char **ret_base,
			   char **ret_host);

/*
 * Look key up in section of an INI text as written by the AWS CLI
 * (~/.aws/credentials: "[name]"; ~/.aws/config: "[profile name]", with
 * "[default]" for the default profile, "[services name]" for a services
 * section). Comments start with '#' or ';'. Indented lines after a key
 * with an empty value are that key's sub-section ("s3 =\n  endpoint_url =
 * ..."), not keys of the section. -ENOENT when absent.
 */
int drfs_s3_ini_get(const char *text, size_t len, const char *section,
		    const char *key, char **ret);
/* Look key up in sub-section sub of section (see drfs_s3_ini_get). */
int drfs_s3_ini_get_sub(const char *text, size_t len, const char *section,
			const char *sub, const char *key, char **ret);

/*
 * The detail of the calling thread's last S3 failure, including a failed
 * drfs_backend_s3_open (whose backend no longer exists to ask), or NULL.
 * Valid until the thread's next S3 call.
 */
const char *drfs_s3_open_error(void);

#endif
