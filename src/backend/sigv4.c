/* SPDX-License-Identifier: MIT */
/*
 * sigv4.c - AWS Signature Version 4 (header form) on OpenSSL, plus the small
 * hashing helpers the S3 backend needs. Pure functions; no curl here.
 */
#include "drfs/s3.h"

#include <ctype.h>
#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void drfs_s3_sha256_hex(const void *p, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL);
	to_hex(md, 32, out);
}

void drfs_s3_md5(const void *p, size_t len, char b64[25], char *hex)
{
	uint8_t md[16];
	unsigned int mdlen = 0;

	EVP_Digest(p, len, md, &mdlen, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)b64, md, 16);
	if (hex)
		to_hex(md, 16, hex);
}

static void hmac(const void *key, size_t key_len, const void *p, size_t len,
		 uint8_t out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)key_len, p, len, out, &n);
}

void drfs_sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int drfs_s3_uri_encode(struct drfs_buf *out, const char *s, size_t len,
		       bool keep_slash)
{
	int r;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			r = drfs_buf_u8(out, c);
		} else {
			char t[3] = {'%', "0123456789ABCDEF"[c >> 4],
				     "0123456789ABCDEF"[c & 15]};
			r = drfs_buf_append(out, t, 3);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int nul_terminate(struct drfs_buf *b)
{
	int r = drfs_buf_u8(b, 0);
	if (r < 0)
		return r;
	b->len--;
	return 0;
}

/* An encoded query pair, for sorting. */
struct qpair {
	char *name;
	char *value;
};

static int qpair_cmp(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s)
{
	struct drfs_buf b;

	drfs_buf_init(&b, 3 * strlen(s) + 1);
	if (drfs_s3_uri_encode(&b, s, strlen(s), false) < 0 ||
	    drfs_buf_u8(&b, 0) < 0) {
		drfs_buf_release(&b);
		return NULL;
	}
	if (!b.p) /* empty string: the buffer holds only the NUL */
		return strdup("");
	return (char *)drfs_buf_steal(&b, NULL);
}

int drfs_sigv4_canonical_query(const struct drfs_s3_kv *q, size_t n,
			       struct drfs_buf *out)
{
	struct qpair pairs[DRFS_SIGV4_MAX_PAIRS];
	size_t done = 0;
	int r = 0;

	if (n > DRFS_SIGV4_MAX_PAIRS)
		return -EINVAL;
	for (; done < n; done++) {
		pairs[done].name = encode_dup(q[done].name);
		pairs[done].value =
		    encode_dup(q[done].value ? q[done].value : "");
		if (!pairs[done].name || !pairs[done].value) {
			free(pairs[done].name);
			free(pairs[done].value);
			r = -ENOMEM;
			goto out;
		}
	}
	qsort(pairs, n, sizeof(pairs[0]), qpair_cmp);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = drfs_buf_printf(out, "%s%s=%s", i ? "&" : "", pairs[i].name,
				    pairs[i].value);
	if (r >= 0)
		r = nul_terminate(out);
out:
	for (size_t i = 0; i < done; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	return r < 0 ? r : 0;
}

/* A header prepared for signing: lowercase name, trimmed value. */
struct hpair {
	char name[64];
	const char *value; /* original */
};

static int hpair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hpair *)a)->name,
		      ((const struct hpair *)b)->name);
}

/* Append v trimmed, inner runs of spaces collapsed to one. */
static int append_trimmed(struct drfs_buf *out, const char *v)
{
	int r = 0;
	bool space = false, started = false;

	for (; *v && r >= 0; v++) {
		if (*v == ' ' || *v == '\t') {
			space = started;
			continue;
		}
		if (space)
			r = drfs_buf_u8(out, ' ');
		if (r >= 0)
			r = drfs_buf_u8(out, (uint8_t)*v);
		space = false;
		started = true;
	}
	return r;
}

static int sorted_headers(const struct drfs_sigv4_req *rq, struct hpair *h)
{
	if (rq->n_headers > DRFS_SIGV4_MAX_PAIRS || rq->n_headers == 0)
		return -EINVAL;
	for (size_t i = 0; i < rq->n_headers; i++) {
		size_t l = strlen(rq->headers[i].name);
		if (l == 0 || l >= sizeof(h[i].name))
			return -EINVAL;
		for (size_t j = 0; j <= l; j++)
			h[i].name[j] = (char)tolower(
			    (unsigned char)rq->headers[i].name[j]);
		h[i].value = rq->headers[i].value ? rq->headers[i].value : "";
		if (strchr(h[i].value, '\n') || strchr(h[i].value, '\r'))
			return -EINVAL;
	}
	qsort(h, rq->n_headers, sizeof(h[0]), hpair_cmp);
	for (size_t i = 1; i < rq->n_headers; i++)
		if (!strcmp(h[i - 1].name, h[i].name))
			return -EINVAL; /* never sign a header twice */
	return 0;
}

static int append_signed_names(struct drfs_buf *out, const struct hpair *h,
			       size_t n)
{
	int r = 0;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = drfs_buf_printf(out, "%s%s", i ? ";" : "", h[i].name);
	return r;
}

int drfs_sigv4_canonical_request(const struct drfs_sigv4_req *rq,
				 struct drfs_buf *out)
{
	struct hpair h[DRFS_SIGV4_MAX_PAIRS];
	int r;

	if (!rq->method || !rq->payload_sha256_hex ||
	    strlen(rq->payload_sha256_hex) > 64)
		return -EINVAL;
	r = sorted_headers(rq, h);
	if (r < 0)
		return r;
	r = drfs_buf_printf(out, "%s\n%s\n", rq->method,
			    rq->path && *rq->path ? rq->path : "/");
	if (r >= 0)
		r = drfs_sigv4_canonical_query(rq->query, rq->n_query, out);
	if (r >= 0)
		r = drfs_buf_u8(out, '\n');
	for (size_t i = 0; i < rq->n_headers && r >= 0; i++) {
		r = drfs_buf_printf(out, "%s:", h[i].name);
		if (r >= 0)
			r = append_trimmed(out, h[i].value);
		if (r >= 0)
			r = drfs_buf_u8(out, '\n');
	}
	if (r >= 0)
		r = drfs_buf_u8(out, '\n');
	if (r >= 0)
		r = append_signed_names(out, h, rq->n_headers);
	if (r >= 0)
		r = drfs_buf_printf(out, "\n%s", rq->payload_sha256_hex);
	return r < 0 ? r : 0;
}

int drfs_sigv4_authorization(const struct drfs_sigv4_req *rq,
			     struct drfs_buf *out)
{
	struct hpair h[DRFS_SIGV4_MAX_PAIRS];
	struct drfs_buf creq, sts, key;
	char creq_hex[65], date[9], sig_hex[65];
	uint8_t k[32], sig[32];
	int r;

	if (!rq->amz_date || strlen(rq->amz_date) != 16 ||
	    rq->amz_date[8] != 'T' || !rq->region || !rq->service ||
	    !rq->access_key || !rq->secret_key)
		return -EINVAL;
	memcpy(date, rq->amz_date, 8);
	date[8] = '\0';

	drfs_buf_init(&creq, 1u << 20);
	r = drfs_sigv4_canonical_request(rq, &creq);
	if (r < 0) {
		drfs_buf_release(&creq);
		return r;
	}
	drfs_s3_sha256_hex(creq.p, creq.len, creq_hex);
	drfs_buf_release(&creq);

	drfs_buf_init(&sts, 4096);
	r = drfs_buf_printf(
	    &sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
	    rq->amz_date, date, rq->region, rq->service, creq_hex);
	drfs_buf_init(&key, 4096);
	if (r >= 0)
		r = drfs_buf_printf(&key, "AWS4%s", rq->secret_key);
	if (r < 0)
		goto out;
	hmac(key.p, key.len, date, strlen(date), k);
	hmac(k, 32, rq->region, strlen(rq->region), k);
	hmac(k, 32, rq->service, strlen(rq->service), k);
	hmac(k, 32, "aws4_request", 12, k);
	hmac(k, 32, sts.p, sts.len, sig);
	to_hex(sig, 32, sig_hex);

	r = sorted_headers(rq, h);
	if (r >= 0)
		r = drfs_buf_printf(out,
				    "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/"
				    "aws4_request, SignedHeaders=",
				    rq->access_key, date, rq->region,
				    rq->service);
	if (r >= 0)
		r = append_signed_names(out, h, rq->n_headers);
	if (r >= 0)
		r = drfs_buf_printf(out, ", Signature=%s", sig_hex);
out:
	if (key.p)
		OPENSSL_cleanse(key.p, key.len);
	OPENSSL_cleanse(k, sizeof(k));
	drfs_buf_release(&key);
	drfs_buf_release(&sts);
	return r < 0 ? r : 0;
}
