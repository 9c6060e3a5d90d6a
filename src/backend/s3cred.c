/* SPDX-License-Identifier: MIT */
/*
 * s3cred.c - the S3 backend's credentials (see s3int.h for the rooms): the
 * provider chain the AWS SDKs use, and refreshing temporary credentials
 * before they expire.
 *
 * The chain, first found wins (docs/s3.md):
 *   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
 *      unless a profile was named with --profile;
 *   2. web identity: web_identity_token_file + role_arn of the profile, or
 *      AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: STS
 *      AssumeRoleWithWebIdentity (AWS_ENDPOINT_URL_STS overrides STS);
 *   3. the profile's keys in ~/.aws/credentials, then ~/.aws/config;
 *   4. a container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 *      169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or
 *      http to a loopback or the ECS/EKS link-local addresses), with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN;
 *   5. the EC2 instance metadata service, IMDSv2 only (a session token
 *      first), at AWS_EC2_METADATA_SERVICE_ENDPOINT or 169.254.169.254;
 *      skipped with AWS_EC2_METADATA_DISABLED=true.
 *
 * Temporary credentials are fetched at open and again when less than
 * min(5 min, half their lifetime) is left, by the request that notices
 * (the others wait for it); a failed refresh keeps the current ones while
 * they last and is tried again after 10 s. A 400/403 ExpiredToken also
 * forces one refresh (s3http.c).
 *
 * Secrets - keys, session tokens, the web identity token, a container's
 * authorization token - never appear in a message and are wiped from
 * every scratch copy.
 */
#include "s3int.h"

#include <stdio.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "drfs/log.h"

#define CREDS_MARGIN_MAX 300     /* refresh 5 min before the end */
#define CREDS_RETRY_S 10.0       /* after a failed refresh */
#define PROVIDER_ANSWER_MAX (64u << 10)
#define TOKEN_FILE_MAX (64u << 10)
#define IMDS_DEFAULT "http://169.254.169.254"
#define ECS_DEFAULT "http://169.254.170.2"

static void wipe_free(char *p)
{
	if (p)
		OPENSSL_cleanse(p, strlen(p));
	free(p);
}

static bool env_true(const char *name)
{
	const char *v = s3_env(name);
	return v && !strcasecmp(v, "true");
}

/* Replace the keys (under creds_lock). */
static int install(struct s3 *s, const char *ak, const char *sk,
		   const char *tok, int64_t expires)
{
	char *a = strdup(ak), *k = strdup(sk);
	char *t = tok && *tok ? strdup(tok) : NULL;
	int64_t now = (int64_t)time(NULL);

	if (!a || !k || (tok && *tok && !t)) {
		wipe_free(a);
		wipe_free(k);
		wipe_free(t);
		return -ENOMEM;
	}
	wipe_free(s->access_key);
	wipe_free(s->secret_key);
	wipe_free(s->session_token);
	s->access_key = a;
	s->secret_key = k;
	s->session_token = t;
	s->creds_expire = expires;
	s->creds_margin = expires > now ? MIN(CREDS_MARGIN_MAX,
					      (expires - now) / 2)
					: 0;
	return 0;
}

/* A file's text without trailing white space (a token), or NULL. */
static char *read_token(const char *path, char *why, size_t why_len)
{
	size_t len = 0;
	char *t = s3_read_file(path, &len);

	if (!t) {
		snprintf(why, why_len, "cannot read \"%.200s\": %s", path,
			 strerror(errno));
		return NULL;
	}
	len = s3_trim_len(t, len);
	t[len] = '\0';
	if (!len || len > TOKEN_FILE_MAX || strpbrk(t, "\r\n")) {
		snprintf(why, why_len, "\"%.200s\" holds no token on one line",
			 path);
		wipe_free(t);
		return NULL;
	}
	return t;
}

/* ---- the providers ------------------------------------------------------ */

/* GET/PUT for a provider: 0 and out (NUL-terminated, the NUL not
 * counted) when the status is 200. */
static int provider_get(struct s3 *s, struct s3_fetch *f,
			struct drfs_buf *out, char *why, size_t why_len)
{
	const char *w = NULL;
	long st = 0;
	int r = s3_http_fetch(s, f, out, &st, &w);

	if (r >= 0 && (r = drfs_buf_u8(out, 0)) >= 0)
		out->len--;
	else if (r >= 0)
		w = "answer too large";
	if (r < 0) {
		snprintf(why, why_len, "%s", w ? w : drfs_strerror(r));
		return r;
	}
	if (st != 200) {
		snprintf(why, why_len, "HTTP %ld from %s %.200s", st, f->method,
			 f->url);
		return st == 404 ? -ENOENT : -EACCES;
	}
	return 0;
}

static int parse_json(struct drfs_buf *b, struct drfs_s3_creds *c, char *why,
		      size_t why_len)
{
	int r = drfs_s3_parse_creds_json(b->p, b->len, c);
	if (r < 0)
		snprintf(why, why_len, "the answer is not credentials");
	return r;
}

/* IMDSv2: a session token, the role's name, the role's credentials. */
static int imds_fetch(struct s3 *s, struct drfs_s3_creds *c, char *why,
		      size_t why_len)
{
	struct drfs_buf b;
	char url[512], hdr[128 + 160], role[129];
	int r;

	drfs_buf_init(&b, PROVIDER_ANSWER_MAX);
	snprintf(url, sizeof(url), "%s/latest/api/token", s->prov_url);
	struct s3_fetch f = {
	    .method = "PUT", .url = url, .timeout_s = 2, .attempts = 2,
	    .headers = {"X-aws-ec2-metadata-token-ttl-seconds: 21600"},
	    .nh = 1};
	r = provider_get(s, &f, &b, why, why_len);
	if (r >= 0 && (b.len == 0 || b.len > 128 ||
		       memchr(b.p, '\n', b.len) || memchr(b.p, '\r', b.len))) {
		snprintf(why, why_len, "a malformed IMDSv2 session token");
		r = -EBADMSG;
	}
	if (r < 0)
		goto out;
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %.*s",
		 (int)b.len, (char *)b.p);
	f = (struct s3_fetch){.method = "GET", .url = url, .timeout_s = 2,
			      .attempts = 2, .headers = {hdr}, .nh = 1};
	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/"
		 "security-credentials/", s->prov_url);
	r = provider_get(s, &f, &b, why, why_len);
	if (r == -ENOENT)
		snprintf(why, why_len, "no instance role (HTTP 404 from %.200s)",
			 url);
	size_t rl = r >= 0 ? strcspn((char *)b.p, "\r\n") : 0;
	if (r >= 0 && (!rl || rl >= sizeof(role) || rl > b.len ||
		       strspn((char *)b.p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk"
				      "lmnopqrstuvwxyz0123456789+=,.@_-") <
			   rl)) {
		snprintf(why, why_len, "a malformed role name from %.200s", url);
		r = -EBADMSG;
	}
	if (r < 0)
		goto out;
	memcpy(role, b.p, rl);
	role[rl] = '\0';
	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/"
		 "security-credentials/%s", s->prov_url, role);
	r = provider_get(s, &f, &b, why, why_len);
	if (r >= 0)
		r = parse_json(&b, c, why, why_len);
out:
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (b.p)
		OPENSSL_cleanse(b.p, b.len);
	drfs_buf_release(&b);
	return r;
}

static int container_fetch(struct s3 *s, struct drfs_s3_creds *c, char *why,
			   size_t why_len)
{
	struct drfs_buf b;
	char *tok = NULL, *hdr = NULL;
	int r = 0;

	if (s->prov_auth_file &&
	    !(tok = read_token(s->prov_auth_file, why, why_len)))
		return -EACCES;
	if (!tok && s->prov_auth && !(tok = strdup(s->prov_auth)))
		return -ENOMEM;
	if (tok && (strpbrk(tok, "\r\n") ||
		    asprintf(&hdr, "Authorization: %s", tok) < 0)) {
		snprintf(why, why_len, "unusable authorization token");
		hdr = NULL;
		r = -EINVAL;
	}
	wipe_free(tok);
	if (r < 0)
		return r;
	drfs_buf_init(&b, PROVIDER_ANSWER_MAX);
	struct s3_fetch f = {.method = "GET", .url = s->prov_url,
			     .timeout_s = 5, .attempts = 2,
			     .headers = {hdr}, .nh = hdr ? 1 : 0};
	r = provider_get(s, &f, &b, why, why_len);
	if (r >= 0)
		r = parse_json(&b, c, why, why_len);
	wipe_free(hdr);
	if (b.p)
		OPENSSL_cleanse(b.p, b.len);
	drfs_buf_release(&b);
	return r;
}

/* One form field "&name=value" (value percent-encoded). */
static int form_add(struct drfs_buf *b, const char *name, const char *v)
{
	int r = drfs_buf_printf(b, "&%s=", name);
	return r < 0 ? r : drfs_s3_uri_encode(b, v, strlen(v), false);
}

static int web_identity_fetch(struct s3 *s, struct drfs_s3_creds *c,
			      char *why, size_t why_len)
{
	struct drfs_buf body, b;
	struct drfs_s3_error err;
	char *tok = read_token(s->token_file, why, why_len);
	int r;

	if (!tok)
		return -EACCES;
	drfs_buf_init(&body, 4 * TOKEN_FILE_MAX);
	drfs_buf_init(&b, PROVIDER_ANSWER_MAX);
	r = drfs_buf_printf(&body, "Action=AssumeRoleWithWebIdentity"
				   "&Version=2011-06-15");
	r = r < 0 ? r : form_add(&body, "RoleArn", s->role_arn);
	r = r < 0 ? r : form_add(&body, "RoleSessionName", s->session_name);
	r = r < 0 ? r : form_add(&body, "WebIdentityToken", tok);
	r = r < 0 ? r : drfs_buf_u8(&body, 0);
	wipe_free(tok);
	if (r >= 0) {
		struct s3_fetch f = {
		    .method = "POST", .url = s->prov_url, .timeout_s = 10,
		    .attempts = 3, .body = (char *)body.p, .nh = 1,
		    .headers = {"Content-Type: application/"
				"x-www-form-urlencoded"}};
		r = provider_get(s, &f, &b, why, why_len);
		if (r == -EACCES && b.len &&
		    drfs_s3xml_parse_sts(b.p, b.len, c, &err) == -EACCES)
			snprintf(why, why_len, "STS at %.200s refused: %.64s",
				 s->prov_url, err.code);
	}
	if (r >= 0) {
		r = drfs_s3xml_parse_sts(b.p, b.len, c, &err);
		if (r == -EACCES)
			snprintf(why, why_len, "STS at %.200s refused: %.64s",
				 s->prov_url, err.code);
		else if (r < 0)
			snprintf(why, why_len, "the answer of STS at %.200s is "
				 "not credentials", s->prov_url);
	}
	if (body.p)
		OPENSSL_cleanse(body.p, body.len);
	if (b.p)
		OPENSSL_cleanse(b.p, b.len);
	drfs_buf_release(&body);
	drfs_buf_release(&b);
	return r;
}

static const char *provider_name(const struct s3 *s)
{
	switch (s->provider) {
	case S3_CREDS_WEB_IDENTITY:
		return "web identity (STS)";
	case S3_CREDS_CONTAINER:
		return "the container credentials endpoint";
	case S3_CREDS_IMDS:
		return "the instance metadata service";
	default:
		return "the environment";
	}
}

/* Fetch from s's provider and install (under creds_lock). */
static int refresh(struct s3 *s, char *why, size_t why_len)
{
	struct drfs_s3_creds *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	switch (s->provider) {
	case S3_CREDS_WEB_IDENTITY:
		r = web_identity_fetch(s, c, why, why_len);
		break;
	case S3_CREDS_CONTAINER:
		r = container_fetch(s, c, why, why_len);
		break;
	case S3_CREDS_IMDS:
		r = imds_fetch(s, c, why, why_len);
		break;
	default:
		r = -EINVAL;
	}
	if (r >= 0)
		r = install(s, c->access_key, c->secret_key, c->token,
			    c->expires);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	return r;
}

/* ---- the chain ---------------------------------------------------------- */

/* Static keys from one source; 1 found, 0 not there. */
static int from_profile(struct s3 *s, const struct s3_aws_files *f,
			bool config)
{
	char *ak = NULL, *sk = NULL, *tok = NULL;
	int r = 0;

	s3_files_get(f, config, "aws_access_key_id", &ak);
	s3_files_get(f, config, "aws_secret_access_key", &sk);
	s3_files_get(f, config, "aws_session_token", &tok);
	if (ak && sk && *ak && *sk)
		r = install(s, ak, sk, tok, 0) < 0 ? -ENOMEM : 1;
	wipe_free(ak);
	wipe_free(sk);
	wipe_free(tok);
	return r;
}

/* http is allowed to a loopback address or ECS/EKS's link-local ones. */
static bool container_url_ok(const char *u)
{
	static const char *const ok[] = {
	    "http://127.", "http://localhost:", "http://localhost/",
	    "http://[::1]", "http://169.254.170.2:", "http://169.254.170.2/",
	    "http://169.254.170.23:", "http://169.254.170.23/",
	    "http://[fd00:ec2::23]"};
	if (!strncmp(u, "https://", 8))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (!strncmp(u, ok[i], strlen(ok[i])))
			return true;
	return false;
}

/* Which provider applies (2, 4, 5 of the chain), and its settings. */
static int choose_provider(struct s3 *s, const struct s3_aws_files *f)
{
	const char *v;
	char *p = NULL;

	/* web identity: the profile's settings, else the environment's */
	s3_files_get(f, true, "web_identity_token_file", &s->token_file);
	s3_files_get(f, true, "role_arn", &s->role_arn);
	if (!s->token_file || !s->role_arn || !*s->token_file ||
	    !*s->role_arn) {
		free(s->token_file);
		free(s->role_arn);
		s->token_file = (v = s3_env("AWS_WEB_IDENTITY_TOKEN_FILE"))
					? strdup(v)
					: NULL;
		s->role_arn = (v = s3_env("AWS_ROLE_ARN")) ? strdup(v) : NULL;
	} else {
		s3_files_get(f, true, "role_session_name", &s->session_name);
	}
	if (s->token_file && s->role_arn) {
		s->provider = S3_CREDS_WEB_IDENTITY;
		if (!s->session_name && (v = s3_env("AWS_ROLE_SESSION_NAME")))
			s->session_name = strdup(v);
		if (!s->session_name &&
		    asprintf(&s->session_name, "drfs-%ld", (long)getpid()) < 0)
			return -ENOMEM;
		if ((v = s3_env("AWS_ENDPOINT_URL_STS")))
			s->prov_url = strdup(v);
		else if (s3_files_service(f, "sts", "endpoint_url", &p) >= 0 &&
			 *p)
			s->prov_url = TAKE_PTR(p);
		else if ((v = s3_env("AWS_ENDPOINT_URL")))
			s->prov_url = strdup(v);
		else if (asprintf(&s->prov_url, "https://sts.%s.amazonaws.com",
				  s->region) < 0)
			s->prov_url = NULL;
		free(p);
		return s->prov_url ? 1 : -ENOMEM;
	}
	free(s->token_file);
	free(s->role_arn);
	s->token_file = s->role_arn = NULL;
	return 0;
}

static int container_provider(struct s3 *s)
{
	const char *rel = s3_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = s3_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *v;

	if (!rel && !full)
		return 0;
	s->provider = S3_CREDS_CONTAINER;
	if (rel ? asprintf(&s->prov_url, "%s%s", ECS_DEFAULT, rel) < 0
		: !(s->prov_url = strdup(full)))
		return -ENOMEM;
	if (!rel && !container_url_ok(full)) {
		s3_set_err(s, "s3: AWS_CONTAINER_CREDENTIALS_FULL_URI \"%s\" "
			      "refused: http only to a loopback address or "
			      "169.254.170.2/.23, else https", full);
		return -EACCES;
	}
	if ((v = s3_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")))
		s->prov_auth_file = strdup(v);
	else if ((v = s3_env("AWS_CONTAINER_AUTHORIZATION_TOKEN")))
		s->prov_auth = strdup(v);
	return 1;
}

int s3_creds_init(struct s3 *s, const struct s3_aws_files *f)
{
	const char *ak = s3_env("AWS_ACCESS_KEY_ID");
	const char *sk = s3_env("AWS_SECRET_ACCESS_KEY");
	char why[S3_ERR_MAX] = "";
	int r;

	s->provider = S3_CREDS_STATIC;
	if (!f->profile_given && ak && sk)
		return install(s, ak, sk, s3_env("AWS_SESSION_TOKEN"), 0);
	r = choose_provider(s, f);
	if (r == 0 && (r = from_profile(s, f, false)) == 0)
		r = from_profile(s, f, true);
	if (r == 0)
		r = container_provider(s);
	if (r == 0 && !env_true("AWS_EC2_METADATA_DISABLED")) {
		const char *ep = s3_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
		s->provider = S3_CREDS_IMDS;
		s->prov_url = strdup(ep ? ep : IMDS_DEFAULT);
		if (!s->prov_url)
			return -ENOMEM;
		size_t l = strlen(s->prov_url);
		while (l && s->prov_url[l - 1] == '/')
			s->prov_url[--l] = '\0';
		r = refresh(s, why, sizeof(why));
		if (r >= 0)
			return 0;
		s3_set_err(s, "s3: no credentials: set AWS_ACCESS_KEY_ID and "
			      "AWS_SECRET_ACCESS_KEY, or profile \"%s\" in "
			      "~/.aws/credentials, or run with a container or "
			      "instance role (the instance metadata service at "
			      "%s: %s)", f->profile, s->prov_url, why);
		return -EACCES;
	}
	if (r == 0) {
		s3_set_err(s, "s3: no credentials: set AWS_ACCESS_KEY_ID and "
			      "AWS_SECRET_ACCESS_KEY, or profile \"%s\" in "
			      "~/.aws/credentials",
			   f->profile);
		return -EACCES;
	}
	if (r < 0)
		return r;
	if (s->provider == S3_CREDS_STATIC)
		return 0;
	r = refresh(s, why, sizeof(why));
	if (r < 0) {
		s3_set_err(s, "s3: no credentials from %s (%s): %s",
			   provider_name(s), s->prov_url, why);
		return -EACCES;
	}
	return 0;
}

/* ---- using them ----------------------------------------------------------- */

int s3_creds_get(struct s3 *s, struct s3_signing *ret)
{
	char why[S3_ERR_MAX] = "";
	int64_t now = (int64_t)time(NULL);
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&s->creds_lock);
	if (s->provider != S3_CREDS_STATIC && s->creds_expire &&
	    now >= s->creds_expire - s->creds_margin &&
	    (now >= s->creds_expire ||
	     drfs_now_mono() - s->creds_tried >= CREDS_RETRY_S)) {
		r = refresh(s, why, sizeof(why));
		if (r < 0)
			s->creds_tried = drfs_now_mono();
		if (r < 0 && now < s->creds_expire)
			r = 0; /* the current ones still work: go on */
	}
	if (r >= 0) {
		ret->access_key = strdup(s->access_key);
		ret->secret_key = strdup(s->secret_key);
		ret->session_token =
		    s->session_token ? strdup(s->session_token) : NULL;
		if (!ret->access_key || !ret->secret_key ||
		    (s->session_token && !ret->session_token))
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&s->creds_lock);
	if (r == -ENOMEM)
		s3_signing_release(ret);
	else if (r < 0) {
		s3_set_err(s, "s3: the credentials from %s (%s) expired and "
			      "could not be refreshed: %s",
			   provider_name(s), s->prov_url, why);
		r = -EACCES;
	}
	return r;
}

void s3_signing_release(struct s3_signing *sg)
{
	wipe_free(sg->access_key);
	wipe_free(sg->secret_key);
	wipe_free(sg->session_token);
	memset(sg, 0, sizeof(*sg));
}

bool s3_creds_invalidate(struct s3 *s)
{
	if (s->provider == S3_CREDS_STATIC)
		return false;
	pthread_mutex_lock(&s->creds_lock);
	s->creds_expire = 1; /* long past: the next get refreshes */
	s->creds_margin = 0;
	s->creds_tried = 0;
	pthread_mutex_unlock(&s->creds_lock);
	return true;
}

void s3_creds_release(struct s3 *s)
{
	wipe_free(s->access_key);
	wipe_free(s->secret_key);
	wipe_free(s->session_token);
	wipe_free(s->prov_auth);
	free(s->prov_url);
	free(s->prov_auth_file);
	free(s->role_arn);
	free(s->token_file);
	free(s->session_name);
	s->access_key = s->secret_key = s->session_token = NULL;
	pthread_mutex_destroy(&s->creds_lock);
}
