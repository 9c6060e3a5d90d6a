/* SPDX-License-Identifier: MIT */
/*
 * s3conf.c - the S3 backend's configuration (see s3int.h for the rooms):
 * the repository URL, and the region, endpoint, addressing and credentials
 * the way AWS tools find them - the options, the environment, then
 * ~/.aws/credentials and ~/.aws/config (docs/s3.md has the order).
 *
 * Resolved once, at open; nothing here talks to the network. Secrets read
 * from files are wiped from the scratch copies and never logged.
 */
#include "s3int.h"

#include <stdio.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "drfs/limits.h"

static bool bucket_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool alnum(char c)
{
	return isalnum((unsigned char)c);
}

/* Whether b[0..n) is a dotted quad ("192.168.1.1"). */
static bool ip_like(const char *b, size_t n)
{
	int dots = 0, digits = 0;
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '.') {
			if (!digits)
				return false;
			dots++;
			digits = 0;
		} else if (isdigit((unsigned char)b[i]) && digits < 3) {
			digits++;
		} else {
			return false;
		}
	}
	return dots == 3 && digits;
}

/* What is wrong with bucket name b[0..n), or NULL. */
static const char *bucket_problem(const char *b, size_t n)
{
	if (n == 0)
		return "no bucket name";
	if (n < 3)
		return "a bucket name has at least 3 characters";
	if (n > 63)
		return "a bucket name has at most 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!bucket_char(b[i]))
			return "a bucket name has only lower-case letters, "
			       "digits, '.' and '-'";
	if (!alnum(b[0]) || !alnum(b[n - 1]))
		return "a bucket name begins and ends with a letter or a "
		       "digit";
	if (memmem(b, n, "..", 2))
		return "a bucket name has no two dots in a row";
	if (ip_like(b, n))
		return "a bucket name is not an IP address";
	return NULL;
}

/* What is wrong with prefix p[0..plen), or NULL. */
static const char *prefix_problem(const char *p, size_t plen)
{
	if (plen > DRFS_S3_KEY_MAX - DRFS_OBJECT_NAME_MAX - 1)
		return "the prefix is too long";
	/* every segment non-empty, not "." or "..", printable */
	for (size_t i = 0, seg = 0; i <= plen; i++) {
		if (i == plen || p[i] == '/') {
			size_t sl = i - seg;
			if (plen && sl == 0)
				return "the prefix has an empty segment (\"//\")";
			if (plen && ((sl == 1 && p[seg] == '.') ||
				     (sl == 2 && !strncmp(p + seg, "..", 2))))
				return "the prefix has a \".\" or \"..\" "
				       "segment";
			seg = i + 1;
		} else if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
			return "the prefix has a control character";
		}
	}
	return NULL;
}

const char *drfs_s3_url_problem(const char *url)
{
	const char *b, *slash, *p, *why;
	size_t blen, plen;

	if (strncmp(url, "s3://", 5))
		return "an S3 URL begins with s3://";
	b = url + 5;
	slash = strchr(b, '/');
	blen = slash ? (size_t)(slash - b) : strlen(b);
	if ((why = bucket_problem(b, blen)))
		return why;
	p = slash ? slash + 1 : "";
	plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	return prefix_problem(p, plen);
}

int drfs_s3_parse_url(const char *url, char **ret_bucket, char **ret_prefix)
{
	const char *b, *slash;
	size_t blen;
	char *bucket, *prefix;

	if (drfs_s3_url_problem(url))
		return -EINVAL;
	b = url + 5;
	slash = strchr(b, '/');
	blen = slash ? (size_t)(slash - b) : strlen(b);
	const char *p = slash ? slash + 1 : "";
	size_t plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
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

/* Whether the section header at p[0..l) (p at '[') names section. */
static bool ini_header_is(const char *p, size_t l, const char *section)
{
	const char *close = memchr(p, ']', l);
	if (!close)
		return false;
	const char *n = p + 1;
	size_t nl = (size_t)(close - n);
	while (nl && isspace((unsigned char)*n))
		n++, nl--;
	nl = s3_trim_len(n, nl);
	return nl == strlen(section) && !strncmp(n, section, nl);
}

/*
 * The value of key in section (sub NULL) or in sub-section sub of section.
 * A key with an empty value opens a sub-section: the indented lines after
 * it belong to it. Indented lines with no sub-section open are keys of the
 * section (as before sub-sections were read).
 */
static int ini_find(const char *text, size_t len, const char *section,
		    const char *sub, const char *key, char **ret)
{
	const char *p = text, *end = text + len;
	char cur_sub[64] = "";
	bool in = false;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		bool indented = p < le && isspace((unsigned char)*p);
		while (p < le && isspace((unsigned char)*p))
			p++;
		size_t l = s3_trim_len(p, (size_t)(le - p));
		const char *eq = l ? memchr(p, '=', l) : NULL;
		if (l == 0 || *p == '#' || *p == ';') {
			/* blank or comment */
		} else if (*p == '[') {
			in = ini_header_is(p, l, section);
			cur_sub[0] = '\0';
		} else if (in && eq) {
			size_t kl = s3_trim_len(p, (size_t)(eq - p));
			const char *v = eq + 1;
			while (v < p + l && isspace((unsigned char)*v))
				v++;
			size_t vl = (size_t)(p + l - v);
			bool nested = indented && cur_sub[0];
			if (!nested) {
				cur_sub[0] = '\0';
				if (vl == 0 && kl < sizeof(cur_sub)) {
					memcpy(cur_sub, p, kl);
					cur_sub[kl] = '\0';
				}
			}
			bool here = sub ? nested && !strcmp(cur_sub, sub)
					: !nested;
			if (here && kl == strlen(key) && !strncmp(p, key, kl)) {
				char *r = strndup(v, vl);
				if (!r)
					return -ENOMEM;
				*ret = r;
				return 0;
			}
		}
		p = nl ? nl + 1 : end;
	}
	return -ENOENT;
}

int drfs_s3_ini_get(const char *text, size_t len, const char *section,
		    const char *key, char **ret)
{
	return ini_find(text, len, section, NULL, key, ret);
}

int drfs_s3_ini_get_sub(const char *text, size_t len, const char *section,
			const char *sub, const char *key, char **ret)
{
	return ini_find(text, len, section, sub, key, ret);
}

/* Read a small text file whole (at most 1 MiB). NULL if unreadable. */
char *s3_read_file(const char *path, size_t *ret_len)
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

/* aws file path: the env override, else ~/.aws/<name>. */
static char *aws_file(const char *env, const char *name)
{
	const char *e = s3_env(env), *home = s3_env("HOME");
	char *p = NULL;

	if (e)
		return strdup(e);
	if (!home || asprintf(&p, "%s/.aws/%s", home, name) < 0)
		return NULL;
	return p;
}

/* Read ~/.aws/credentials and ~/.aws/config (or their overrides) once. */
static int files_load(struct s3_aws_files *f, const struct drfs_backend_opts *o)
{
	_cleanup_free_ char *cp = aws_file("AWS_SHARED_CREDENTIALS_FILE",
					   "credentials");
	_cleanup_free_ char *fp = aws_file("AWS_CONFIG_FILE", "config");

	memset(f, 0, sizeof(*f));
	f->profile_given = o && o->profile && *o->profile;
	f->profile = f->profile_given ? o->profile
				      : s3_env("AWS_PROFILE");
	if (!f->profile)
		f->profile = "default";
	if ((size_t)snprintf(f->cfgsec, sizeof(f->cfgsec), "%s%s",
			     strcmp(f->profile, "default") ? "profile " : "",
			     f->profile) >= sizeof(f->cfgsec))
		return -EINVAL;
	if (cp)
		f->creds = s3_read_file(cp, &f->creds_len);
	if (fp)
		f->config = s3_read_file(fp, &f->config_len);
	return 0;
}

void s3_files_release(struct s3_aws_files *f)
{
	if (f->creds)
		OPENSSL_cleanse(f->creds, f->creds_len);
	if (f->config)
		OPENSSL_cleanse(f->config, f->config_len);
	free(f->creds);
	free(f->config);
	f->creds = f->config = NULL;
}

int s3_files_get(const struct s3_aws_files *f, bool config, const char *key,
		 char **ret)
{
	if (config)
		return f->config ? drfs_s3_ini_get(f->config, f->config_len,
						   f->cfgsec, key, ret)
				 : -ENOENT;
	return f->creds ? drfs_s3_ini_get(f->creds, f->creds_len, f->profile,
					  key, ret)
			: -ENOENT;
}

int s3_files_service(const struct s3_aws_files *f, const char *service,
		     const char *key, char **ret)
{
	_cleanup_free_ char *name = NULL;
	char sec[300];

	if (s3_files_get(f, true, "services", &name) < 0 || !*name)
		return -ENOENT;
	if ((size_t)snprintf(sec, sizeof(sec), "services %s", name) >=
	    sizeof(sec))
		return -ENOENT;
	return drfs_s3_ini_get_sub(f->config, f->config_len, sec, service, key,
				   ret);
}

/* Region: the option, AWS_REGION, AWS_DEFAULT_REGION, the profile. */
static int resolve_region(struct s3 *s, const struct drfs_backend_opts *o,
			  const struct s3_aws_files *f)
{
	const char *v;

	if (o && o->region && *o->region)
		s->region = strdup(o->region);
	else if ((v = s3_env("AWS_REGION")) ||
		 (v = s3_env("AWS_DEFAULT_REGION")))
		s->region = strdup(v);
	else if (s3_files_get(f, true, "region", &s->region) < 0 ||
		 !*s->region) {
		free(s->region);
		s->region = strdup("us-east-1");
	}
	if (!s->region)
		return -ENOMEM;
	for (const char *c = s->region; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-') {
			s3_set_err(s, "s3: invalid region \"%s\"", s->region);
			return -EINVAL;
		}
	return 0;
}

/*
 * Endpoint, as the AWS SDKs find it: the option, AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL, the s3 block of the profile's services section, the
 * profile's endpoint_url (the last three unless
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else AWS in the region.
 * *ret_custom: not AWS's own (path-style addressing by default).
 */
static char *file_endpoint(const struct s3_aws_files *f)
{
	char *c = NULL;

	if (s3_files_service(f, "s3", "endpoint_url", &c) >= 0 && *c)
		return c;
	free(c);
	c = NULL;
	if (s3_files_get(f, true, "endpoint_url", &c) >= 0 && *c)
		return c;
	free(c);
	return NULL;
}

static int resolve_endpoint(struct s3 *s, const struct drfs_backend_opts *o,
			    const struct s3_aws_files *f, bool *ret_custom)
{
	const char *ign = s3_env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	bool configured = !(ign && !strcasecmp(ign, "true"));
	_cleanup_free_ char *c = NULL;
	const char *v = NULL;

	if (o && o->endpoint && *o->endpoint)
		v = o->endpoint;
	else if (configured)
		v = s3_env("AWS_ENDPOINT_URL_S3")
			?: s3_env("AWS_ENDPOINT_URL")
			?: (c = file_endpoint(f));
	if (v)
		s->endpoint = strdup(v);
	else if (asprintf(&s->endpoint, "https://s3.%s.amazonaws.com",
			  s->region) < 0)
		s->endpoint = NULL;
	*ret_custom = v != NULL;
	return s->endpoint ? 0 : -ENOMEM;
}

/* CA bundle: AWS_CA_BUNDLE, else the profile's ca_bundle; must exist. */
static int resolve_ca_bundle(struct s3 *s, const struct s3_aws_files *f)
{
	const char *v = s3_env("AWS_CA_BUNDLE");

	if (v)
		s->ca_bundle = strdup(v);
	else if (s3_files_get(f, true, "ca_bundle", &s->ca_bundle) < 0 ||
		 !*s->ca_bundle) {
		free(s->ca_bundle);
		s->ca_bundle = NULL;
		return 0;
	}
	if (!s->ca_bundle)
		return -ENOMEM;
	if (access(s->ca_bundle, R_OK) < 0) {
		s3_set_err(s, "s3: cannot read the CA bundle \"%s\" "
			      "(AWS_CA_BUNDLE or ca_bundle): %s",
			   s->ca_bundle, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

static int resolve_config(struct s3 *s, const struct drfs_backend_opts *o,
			  bool *ret_custom)
{
	struct s3_aws_files f;
	int r = files_load(&f, o);

	if (r < 0) {
		s3_set_err(s, "s3: profile name too long");
		return r;
	}
	r = resolve_region(s, o, &f);
	if (r >= 0)
		r = resolve_endpoint(s, o, &f, ret_custom);
	if (r >= 0)
		r = resolve_ca_bundle(s, &f);
	if (r >= 0)
		r = s3_creds_init(s, &f);
	s3_files_release(&f);
	return r;
}

int s3_configure(struct s3 *s, const char *url,
		 const struct drfs_backend_opts *o)
{
	char *base = NULL, *host = NULL, *prefix = NULL;
	bool custom = false;
	int r;

	r = drfs_s3_parse_url(url, &s->bucket, &prefix);
	if (r < 0) {
		s3_set_err(s,
			   "s3: invalid repository URL \"%s\": %s (want "
			   "s3://bucket[/prefix])",
			   url, drfs_s3_url_problem(url) ?: "out of memory");
		goto out;
	}
	r = asprintf(&s->prefix, "%s%s", prefix, prefix[0] ? "/" : "");
	if (r < 0) {
		s->prefix = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = resolve_config(s, o, &custom);
	if (r < 0)
		goto out;
	r = drfs_s3_parse_endpoint(s->endpoint, &base, &host);
	if (r < 0) {
		s3_set_err(s, "s3: invalid endpoint \"%s\" (want http://HOST"
			      "[:PORT] or https://HOST[:PORT], without a "
			      "path)", s->endpoint);
		goto out;
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
			goto out;
		}
	}
	s->connections =
	    o && o->connections > 0 ? o->connections : S3_DEFAULT_CONNECTIONS;
	if (s->connections > S3_MAX_CONNECTIONS)
		s->connections = S3_MAX_CONNECTIONS;
	s->retries = o && o->retries >= 0 ? o->retries : S3_DEFAULT_RETRIES;
	s->insecure_tls = o && o->insecure_tls;
	/*
	 * A setting of the environment, not a test hook (testhook.h): the
	 * seconds below 1 KiB/s before a transfer is cut and retried
	 * (docs/s3.md); anything but a number > 0 keeps the default.
	 */
	s->low_speed_time = S3_LOW_SPEED_TIME_S;
	const char *lst = getenv("DRFS_S3_LOW_SPEED_TIME");
	if (lst && atol(lst) > 0)
		s->low_speed_time = atol(lst);
	if (asprintf(&s->base.display, "s3://%s%s%s at %s", s->bucket,
		     prefix[0] ? "/" : "", prefix, s->endpoint) < 0) {
		s->base.display = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	free(base);
	free(host);
	free(prefix);
	return r;
}
