/* SPDX-License-Identifier: MIT */
/*
 * s3json.c - the one JSON document drfs reads: temporary credentials from
 * the EC2 instance metadata service or a container credentials endpoint
 * (drfs_s3_parse_creds_json in drfs/s3.h).
 *
 * A pure function over (buf, len), written for hostile input: bounded
 * size and nesting, every string checked against the field it goes into,
 * no allocation. Members other than the credentials are parsed and
 * skipped (objects and arrays too, to a bounded depth).
 */
#include "drfs/s3.h"

#include <openssl/crypto.h>

#define JSON_MAX (64u << 10)
#define JSON_DEPTH_MAX 16

struct js {
	const char *p, *end;
	int err;
};

static void ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool eat(struct js *j, char c)
{
	ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

/* The escape after a backslash: its code point, or -1 (refused: unknown,
 * truncated, NUL, a surrogate - credentials never hold those). */
static int escape(struct js *j)
{
	uint8_t u[2];
	int cp;

	if (j->p >= j->end)
		return -1;
	switch (*j->p++) {
	case '"':
		return '"';
	case '\\':
		return '\\';
	case '/':
		return '/';
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'u':
		if (j->end - j->p < 4 || drfs_unhex(j->p, 2, u) < 0)
			return -1;
		cp = u[0] << 8 | u[1];
		j->p += 4;
		if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		return cp;
	default:
		return -1;
	}
}

/*
 * A string at j->p into out[0..size) (NUL-terminated; out NULL: skipped).
 * \u escapes are decoded to UTF-8; a NUL, a raw control character or a
 * string that does not fit is an error.
 */
static bool string(struct js *j, char *out, size_t size)
{
	size_t n = 0;

	if (!eat(j, '"'))
		return false;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		char u[3];
		size_t ul = 1;
		if (c < 0x20)
			return false;
		u[0] = (char)c; /* a raw byte (UTF-8 or not) is kept */
		if (c == '\\') {
			int cp = escape(j);
			if (cp <= 0)
				return false;
			if (cp < 0x80) {
				u[0] = (char)cp;
			} else if (cp < 0x800) {
				u[0] = (char)(0xc0 | cp >> 6);
				u[1] = (char)(0x80 | (cp & 0x3f));
				ul = 2;
			} else {
				u[0] = (char)(0xe0 | cp >> 12);
				u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[2] = (char)(0x80 | (cp & 0x3f));
				ul = 3;
			}
		}
		if (out) {
			if (n + ul >= size)
				return false;
			memcpy(out + n, u, ul);
		}
		n += ul;
	}
	if (j->p >= j->end)
		return false;
	j->p++; /* the closing quote */
	if (out)
		out[n] = '\0';
	return true;
}

static bool literal(struct js *j, const char *w)
{
	size_t l = strlen(w);
	if ((size_t)(j->end - j->p) < l || memcmp(j->p, w, l))
		return false;
	j->p += l;
	return true;
}

static bool number(struct js *j)
{
	const char *s = j->p;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	while (j->p < j->end &&
	       ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' ||
		*j->p == 'e' || *j->p == 'E' || *j->p == '+' || *j->p == '-'))
		j->p++;
	return j->p > s && !(j->p - s == 1 && *s == '-');
}

static bool value(struct js *j, int depth);

/* The members of an object or the elements of an array, skipped. */
static bool skip_container(struct js *j, char close, int depth)
{
	if (depth > JSON_DEPTH_MAX)
		return false;
	if (eat(j, close))
		return true;
	do {
		if (close == '}' && !(string(j, NULL, 0) && eat(j, ':')))
			return false;
		if (!value(j, depth + 1))
			return false;
	} while (eat(j, ','));
	return eat(j, close);
}

static bool value(struct js *j, int depth)
{
	ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '"':
		return string(j, NULL, 0);
	case '{':
		j->p++;
		return skip_container(j, '}', depth);
	case '[':
		j->p++;
		return skip_container(j, ']', depth);
	case 't':
		return literal(j, "true");
	case 'f':
		return literal(j, "false");
	case 'n':
		return literal(j, "null");
	default:
		return number(j);
	}
}

/* The member named key of the object at j->p; its value into the field. */
static bool member(struct js *j, struct drfs_s3_creds *c, char *code,
		   size_t code_size, bool *have_exp)
{
	char key[64], t[64];

	if (!string(j, key, sizeof(key)) || !eat(j, ':'))
		return false;
	ws(j);
	if (!strcmp(key, "AccessKeyId"))
		return string(j, c->access_key, sizeof(c->access_key));
	if (!strcmp(key, "SecretAccessKey"))
		return string(j, c->secret_key, sizeof(c->secret_key));
	if (!strcmp(key, "Token"))
		return string(j, c->token, sizeof(c->token));
	if (!strcmp(key, "Code"))
		return string(j, code, code_size);
	if (!strcmp(key, "Expiration")) {
		*have_exp = true;
		return string(j, t, sizeof(t)) &&
		       drfs_s3_parse_time(t, &c->expires) == 0;
	}
	return value(j, 1);
}

int drfs_s3_parse_creds_json(const void *p, size_t len,
			     struct drfs_s3_creds *ret)
{
	struct js j = { .p = p, .end = (const char *)p + len };
	char code[64] = "Success";
	bool have_exp = false, ok;

	memset(ret, 0, sizeof(*ret));
	if (!p || len > JSON_MAX)
		return -EBADMSG;
	ok = eat(&j, '{');
	if (ok && !eat(&j, '}')) {
		do
			ok = member(&j, ret, code, sizeof(code), &have_exp);
		while (ok && eat(&j, ','));
		ok = ok && eat(&j, '}');
	}
	ws(&j);
	ok = ok && j.p == j.end && !strcmp(code, "Success") &&
	     ret->access_key[0] && ret->secret_key[0];
	if (!ok) {
		OPENSSL_cleanse(ret, sizeof(*ret));
		memset(ret, 0, sizeof(*ret));
		return -EBADMSG;
	}
	if (!have_exp)
		ret->expires = 0;
	return 0;
}
