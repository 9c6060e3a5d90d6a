/* SPDX-License-Identifier: MIT */
/*
 * s3xml.c - the XML documents S3 sends back (ListBucketResult, Error,
 * DeleteResult, InitiateMultipartUploadResult, Retention) and STS's
 * AssumeRoleWithWebIdentityResponse, parsed with expat as untrusted input:
 * bounded document size, bounded text per element, no DOCTYPE (so no
 * entity expansion), and every number checked.
 */
#include "drfs/s3.h"
#include "drfs/limits.h"

#include <expat.h>
#include <openssl/crypto.h>

/* Longest text kept for one element (an STS session token); longer text
 * is an error. Each element is checked against its own limit too. */
#define TEXT_MAX 8192
#define DEPTH_MAX 16

enum doc_kind {
	DOC_LIST,
	DOC_ERROR,
	DOC_DELETE,
	DOC_UPLOAD,
	DOC_RETENTION,
	DOC_STS,
	DOC_ROOT
};

struct ctx {
	XML_Parser xp;
	enum doc_kind kind;
	int err;
	int depth;
	/* names of the open elements down to DEPTH_MAX (longer are "") */
	char path[DEPTH_MAX][32];
	char text[TEXT_MAX + 1];
	size_t text_len;
	bool text_overflow;
	char root[64];

	/* DOC_LIST */
	struct drfs_s3_list *list;
	size_t cap;
	char *cur_key;
	uint64_t cur_size;
	bool have_size;
	int64_t cur_mtime; /* 0: not given */
	char cur_etag[DRFS_S3_ETAG_MAX + 1];
	/* DOC_ERROR */
	struct drfs_s3_error *error;
	/* DOC_DELETE */
	struct drfs_s3_delete_result *del;
	char del_key[DRFS_S3_KEY_MAX + 1];
	char del_code[64];
	/* DOC_UPLOAD */
	char *upload_id;
	/* DOC_RETENTION */
	struct drfs_s3_retention *ret;
	/* DOC_STS (an ErrorResponse fills error) */
	struct drfs_s3_creds *creds;
	bool have_exp;
};

static void fail(struct ctx *c, int err)
{
	if (!c->err)
		c->err = err;
	XML_StopParser(c->xp, XML_FALSE);
}

static bool at(const struct ctx *c, int depth, const char *name)
{
	return c->depth == depth && depth <= DEPTH_MAX &&
	       !strcmp(c->path[depth - 1], name);
}

static bool parent_is(const struct ctx *c, const char *name)
{
	return c->depth >= 2 && c->depth - 1 <= DEPTH_MAX &&
	       !strcmp(c->path[c->depth - 2], name);
}

static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EBADMSG;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EBADMSG;
		uint64_t d = (uint64_t)(*s - '0');
		if (v > UINT64_MAX / 10 ||
		    (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -EBADMSG;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* The n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * "2026-12-21T20:41:43Z" or "2026-12-21T20:41:43.000Z" (any fraction of a
 * second, dropped): seconds since 1970, UTC. Anything else is -EBADMSG.
 */
int drfs_s3_parse_time(const char *s, int64_t *ret)
{
	/* YYYY-MM-DDTHH:MM:SS, every digit where it must be */
	if (strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return -EBADMSG;
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2);
	int se = digits(s + 17, 2), n = 19;
	if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0)
		return -EBADMSG;
	const char *p = s + n;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EBADMSG;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	static const int mdays[] = { 31, 29, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };
	if (strcmp(p, "Z") || y < 1970 || y > 9999 || mo < 1 || mo > 12 ||
	    d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
		return -EBADMSG;
	if (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400)))
		return -EBADMSG;
	/* days from civil (proleptic Gregorian), no time zone involved */
	int64_t yy = y - (mo <= 2);
	int64_t era = yy / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = era * 146097 + doe - 719468;
	*ret = days * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
			     const XML_Char **attrs)
{
	struct ctx *c = ud;
	(void)attrs;

	if (c->err)
		return;
	if (c->depth == 0)
		copy_trunc(c->root, sizeof(c->root), name);
	c->depth++;
	if (c->depth > 64) {
		fail(c, -EBADMSG);
		return;
	}
	if (c->depth <= DEPTH_MAX)
		copy_trunc(c->path[c->depth - 1], sizeof(c->path[0]), name);
	c->text_len = 0;
	c->text_overflow = false;

	if (c->depth == 1) {
		static const char *const roots[] = {
		    [DOC_LIST] = "ListBucketResult",
		    [DOC_ERROR] = "Error",
		    [DOC_DELETE] = "DeleteResult",
		    [DOC_UPLOAD] = "InitiateMultipartUploadResult",
		    [DOC_RETENTION] = "Retention",
		    [DOC_STS] = "AssumeRoleWithWebIdentityResponse",
		};
		if (c->kind == DOC_STS && !strcmp(name, "ErrorResponse"))
			return;
		if (c->kind != DOC_ROOT && strcmp(name, roots[c->kind]))
			fail(c, -EBADMSG);
		return;
	}
	if (c->kind == DOC_LIST && at(c, 2, "Contents")) {
		free(c->cur_key);
		c->cur_key = NULL;
		c->have_size = false;
		c->cur_mtime = 0;
		c->cur_etag[0] = '\0';
	}
	if (c->kind == DOC_DELETE && at(c, 2, "Error")) {
		c->del_key[0] = '\0';
		c->del_code[0] = '\0';
	}
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct ctx *c = ud;

	if (c->err || len <= 0)
		return;
	if ((size_t)len > TEXT_MAX - c->text_len) {
		c->text_overflow = true;
		return;
	}
	memcpy(c->text + c->text_len, s, (size_t)len);
	c->text_len += (size_t)len;
}

/* The text of the element being closed; NULL (and an error) if too long. */
static const char *text(struct ctx *c, size_t max)
{
	c->text[c->text_len] = '\0';
	if (c->text_overflow || c->text_len > max ||
	    strlen(c->text) != c->text_len) {
		fail(c, -EBADMSG);
		return NULL;
	}
	return c->text;
}

static int list_push(struct ctx *c)
{
	struct drfs_s3_list *l = c->list;

	if (!c->cur_key || !c->have_size)
		return -EBADMSG;
	if (drfs_grow(&l->entries, &c->cap, l->n, sizeof(*l->entries), 64) < 0)
		return -ENOMEM;
	l->entries[l->n].key = TAKE_PTR(c->cur_key);
	l->entries[l->n].size = c->cur_size;
	l->entries[l->n].mtime = c->cur_mtime;
	memcpy(l->entries[l->n].etag, c->cur_etag, sizeof(c->cur_etag));
	l->n++;
	return 0;
}

static void end_list(struct ctx *c)
{
	const char *t;

	if (at(c, 3, "Key") && parent_is(c, "Contents")) {
		if (!(t = text(c, DRFS_S3_KEY_MAX)))
			return;
		free(c->cur_key);
		c->cur_key = strdup(t);
		if (!c->cur_key)
			fail(c, -ENOMEM);
	} else if (at(c, 3, "LastModified") && parent_is(c, "Contents")) {
		struct timespec ts;
		if (!(t = text(c, 64)))
			return;
		/* a time we cannot read is no error: the entry is "new" */
		if (drfs_parse_time(t, &ts) == 0)
			c->cur_mtime = (int64_t)ts.tv_sec;
	} else if (at(c, 3, "ETag") && parent_is(c, "Contents")) {
		/* "&quot;<hex>&quot;" arrives as "\"<hex>\"": kept unquoted */
		if (!(t = text(c, DRFS_S3_ETAG_MAX + 2)))
			return;
		size_t n = strlen(t);
		if (n >= 2 && t[0] == '"' && t[n - 1] == '"')
			t++, n -= 2;
		if (n > DRFS_S3_ETAG_MAX) {
			fail(c, -EBADMSG);
			return;
		}
		memcpy(c->cur_etag, t, n);
		c->cur_etag[n] = '\0';
	} else if (at(c, 3, "Size") && parent_is(c, "Contents")) {
		if (!(t = text(c, 32)))
			return;
		if (parse_u64(t, &c->cur_size) < 0)
			fail(c, -EBADMSG);
		c->have_size = true;
	} else if (at(c, 2, "Contents")) {
		int r = list_push(c);
		if (r < 0)
			fail(c, r);
	} else if (at(c, 2, "IsTruncated")) {
		if (!(t = text(c, 16)))
			return;
		if (!strcmp(t, "true"))
			c->list->truncated = true;
		else if (!strcmp(t, "false"))
			c->list->truncated = false;
		else
			fail(c, -EBADMSG);
	} else if (at(c, 2, "NextContinuationToken")) {
		if (!(t = text(c, DRFS_S3_KEY_MAX)))
			return;
		free(c->list->next_token);
		c->list->next_token = strdup(t);
		if (!c->list->next_token)
			fail(c, -ENOMEM);
	}
}

static void end_delete(struct ctx *c)
{
	const char *t;

	if (at(c, 2, "Deleted")) {
		c->del->n_deleted++;
	} else if (at(c, 3, "Key") && parent_is(c, "Error")) {
		if ((t = text(c, DRFS_S3_KEY_MAX)))
			copy_trunc(c->del_key, sizeof(c->del_key), t);
	} else if (at(c, 3, "Code") && parent_is(c, "Error")) {
		if ((t = text(c, TEXT_MAX)))
			copy_trunc(c->del_code, sizeof(c->del_code), t);
	} else if (at(c, 2, "Error")) {
		c->del->n_errors++;
		if (strcmp(c->del_code, "NoSuchKey") &&
		    c->del->n_errors_not_missing++ == 0) {
			copy_trunc(c->del->first_key, sizeof(c->del->first_key),
				   c->del_key);
			copy_trunc(c->del->first_code,
				   sizeof(c->del->first_code), c->del_code);
		}
	}
}

/* A field of <Credentials> into out[0..size) (too long: an error). */
static void sts_field(struct ctx *c, char *out, size_t size)
{
	const char *t = text(c, size - 1);
	if (t)
		memcpy(out, t, strlen(t) + 1);
}

static void end_sts(struct ctx *c)
{
	const char *t;
	struct drfs_s3_creds *k = c->creds;

	if (!strcmp(c->root, "ErrorResponse")) {
		if (at(c, 3, "Code") && (t = text(c, TEXT_MAX)))
			copy_trunc(c->error->code, sizeof(c->error->code), t);
		else if (at(c, 3, "Message") && (t = text(c, TEXT_MAX)))
			copy_trunc(c->error->message, sizeof(c->error->message),
				   t);
		return;
	}
	if (c->depth != 4 || !parent_is(c, "Credentials"))
		return;
	if (at(c, 4, "AccessKeyId")) {
		sts_field(c, k->access_key, sizeof(k->access_key));
	} else if (at(c, 4, "SecretAccessKey")) {
		sts_field(c, k->secret_key, sizeof(k->secret_key));
	} else if (at(c, 4, "SessionToken")) {
		sts_field(c, k->token, sizeof(k->token));
	} else if (at(c, 4, "Expiration") && (t = text(c, 40))) {
		if (drfs_s3_parse_time(t, &k->expires) < 0)
			fail(c, -EBADMSG);
		c->have_exp = true;
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct ctx *c = ud;
	const char *t;
	(void)name;

	if (c->err)
		return;
	switch (c->kind) {
	case DOC_LIST:
		end_list(c);
		break;
	case DOC_ERROR:
		if (at(c, 2, "Code") && (t = text(c, TEXT_MAX)))
			copy_trunc(c->error->code, sizeof(c->error->code), t);
		else if (at(c, 2, "Message") && (t = text(c, TEXT_MAX)))
			copy_trunc(c->error->message, sizeof(c->error->message),
				   t);
		break;
	case DOC_DELETE:
		end_delete(c);
		break;
	case DOC_UPLOAD:
		if (at(c, 2, "UploadId") && (t = text(c, DRFS_S3_KEY_MAX))) {
			free(c->upload_id);
			if (!*t)
				fail(c, -EBADMSG);
			else if (!(c->upload_id = strdup(t)))
				fail(c, -ENOMEM);
		}
		break;
	case DOC_RETENTION:
		if (at(c, 2, "Mode") && (t = text(c, 32))) {
			if (!strcmp(t, "GOVERNANCE"))
				c->ret->compliance = false;
			else if (!strcmp(t, "COMPLIANCE"))
				c->ret->compliance = true;
			else
				fail(c, -EBADMSG);
			c->ret->have_mode = true;
		} else if (at(c, 2, "RetainUntilDate") && (t = text(c, 40))) {
			if (drfs_s3_parse_time(t, &c->ret->until) < 0)
				fail(c, -EBADMSG);
			c->ret->have_until = true;
		}
		break;
	case DOC_STS:
		end_sts(c);
		break;
	case DOC_ROOT:
		break;
	}
	c->depth--;
	c->text_len = 0;
	c->text_overflow = false;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
			       const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	fail(ud, -EBADMSG);
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_len,
			      const XML_Char *base, const XML_Char *sysid,
			      const XML_Char *pubid, const XML_Char *notation)
{
	(void)name, (void)is_param, (void)value, (void)value_len, (void)base;
	(void)sysid, (void)pubid, (void)notation;
	fail(ud, -EBADMSG);
}

static int parse(struct ctx *c, const void *p, size_t len)
{
	if (len > DRFS_XML_PAGE_MAX)
		return -EBADMSG;
	c->xp = XML_ParserCreate("UTF-8");
	if (!c->xp)
		return -ENOMEM;
	XML_SetUserData(c->xp, c);
	XML_SetElementHandler(c->xp, on_start, on_end);
	XML_SetCharacterDataHandler(c->xp, on_text);
	XML_SetStartDoctypeDeclHandler(c->xp, on_doctype);
	XML_SetEntityDeclHandler(c->xp, on_entity);
	enum XML_Status st = XML_Parse(c->xp, p, (int)len, XML_TRUE);
	XML_ParserFree(c->xp);
	c->xp = NULL;
	if (c->err)
		return c->err;
	if (st != XML_STATUS_OK || !c->root[0])
		return -EBADMSG;
	return 0;
}

void drfs_s3_list_release(struct drfs_s3_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->entries[i].key);
	free(l->entries);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int drfs_s3xml_parse_list(const void *p, size_t len, struct drfs_s3_list *ret)
{
	struct ctx c = {.kind = DOC_LIST, .list = ret};
	int r;

	memset(ret, 0, sizeof(*ret));
	r = parse(&c, p, len);
	free(c.cur_key);
	if (r >= 0 && ret->truncated && !ret->next_token)
		r = -EBADMSG;
	if (r < 0)
		drfs_s3_list_release(ret);
	return r;
}

int drfs_s3xml_parse_error(const void *p, size_t len, struct drfs_s3_error *ret)
{
	struct drfs_s3_error e;
	memset(&e, 0, sizeof(e));
	struct ctx c = {.kind = DOC_ERROR, .error = &e};
	int r = parse(&c, p, len);

	if (r < 0)
		return r;
	*ret = e;
	return 0;
}

int drfs_s3xml_parse_delete(const void *p, size_t len,
			    struct drfs_s3_delete_result *ret)
{
	struct drfs_s3_delete_result *d = calloc(1, sizeof(*d));
	struct ctx *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;

	if (d && c) {
		c->kind = DOC_DELETE;
		c->del = d;
		r = parse(c, p, len);
		if (r >= 0)
			*ret = *d;
	}
	free(d);
	free(c);
	return r;
}

int drfs_s3xml_parse_upload_id(const void *p, size_t len, char **ret)
{
	struct ctx c = {.kind = DOC_UPLOAD};
	int r = parse(&c, p, len);

	if (r >= 0 && !c.upload_id)
		r = -EBADMSG;
	if (r < 0) {
		free(c.upload_id);
		return r;
	}
	*ret = c.upload_id;
	return 0;
}

int drfs_s3xml_parse_retention(const void *p, size_t len,
			       struct drfs_s3_retention *ret)
{
	struct drfs_s3_retention r = { 0 };
	struct ctx c = {.kind = DOC_RETENTION, .ret = &r};
	int e = parse(&c, p, len);

	if (e >= 0 && (!r.have_mode || !r.have_until))
		e = -EBADMSG;
	if (e < 0)
		return e;
	*ret = r;
	return 0;
}

int drfs_s3xml_parse_sts(const void *p, size_t len, struct drfs_s3_creds *ret,
			 struct drfs_s3_error *err)
{
	struct drfs_s3_error e;
	struct ctx *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;

	memset(&e, 0, sizeof(e));
	memset(ret, 0, sizeof(*ret));
	if (c) {
		c->kind = DOC_STS;
		c->creds = ret;
		c->error = &e;
		r = parse(c, p, len);
		if (r >= 0 && !strcmp(c->root, "ErrorResponse"))
			r = -EACCES;
		else if (r >= 0 && (!ret->access_key[0] ||
				    !ret->secret_key[0] || !c->have_exp))
			r = -EBADMSG;
		OPENSSL_cleanse(c->text, sizeof(c->text));
		free(c);
	}
	if (r == -EACCES && err)
		*err = e;
	if (r < 0 && r != -EACCES) {
		OPENSSL_cleanse(ret, sizeof(*ret));
		memset(ret, 0, sizeof(*ret));
	}
	if (r == -EACCES)
		memset(ret, 0, sizeof(*ret));
	return r;
}

int drfs_s3xml_root(const void *p, size_t len, char *out, size_t out_size)
{
	struct ctx c = {.kind = DOC_ROOT};
	int r = parse(&c, p, len);

	if (r < 0)
		return r;
	if (out_size)
		copy_trunc(out, out_size, c.root);
	return 0;
}

int drfs_s3xml_escape(struct drfs_buf *out, const char *s)
{
	int r = 0;

	for (; *s && r >= 0; s++) {
		switch (*s) {
		case '&':
			r = drfs_buf_append(out, "&amp;", 5);
			break;
		case '<':
			r = drfs_buf_append(out, "&lt;", 4);
			break;
		case '>':
			r = drfs_buf_append(out, "&gt;", 4);
			break;
		case '"':
			r = drfs_buf_append(out, "&quot;", 6);
			break;
		case '\'':
			r = drfs_buf_append(out, "&apos;", 6);
			break;
		default:
			r = drfs_buf_u8(out, (uint8_t)*s);
		}
	}
	return r;
}
