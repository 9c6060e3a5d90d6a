/* SPDX-License-Identifier: MIT */
/*
 * test_sigv4.c - the SigV4 signer against AWS's published vectors: the
 * aws-sig-v4-test-suite (get-vanilla, get-vanilla-query-order-key-case,
 * post-vanilla, post-sts-header-before) and the S3 examples of "Signature
 * Calculations for the Authorization Header: Transferring Payload in a
 * Single Chunk" (bucket examplebucket); plus the encoders and the URL,
 * endpoint and INI parsers of the S3 backend.
 */
#include "drfs/s3.h"
#include "test.h"

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define STS_TOKEN                                                              \
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWs" \
	"KWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGd" \
	"eehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlR" \
	"d8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKml" \
	"zm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

struct vec {
	const char *name;
	const char *method;
	const char *path;
	struct drfs_s3_kv query[4];
	size_t nq;
	struct drfs_s3_kv headers[8];
	size_t nh;
	const char *payload; /* sha256 of it is signed */
	bool s3;             /* S3 example credentials, service s3 */
	const char *want;    /* whole Authorization value */
};

static const struct vec vecs[] = {
	{ "get-vanilla", "GET", "/", { { 0 } }, 0,
	  { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", SUITE_DATE } },
	  2, "", false,
	  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	  "aws4_request, SignedHeaders=host;x-amz-date, Signature="
	  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-vanilla-query-order-key-case", "GET", "/",
	  { { "Param2", "value2" }, { "Param1", "value1" } }, 2,
	  { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", SUITE_DATE } },
	  2, "", false,
	  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	  "aws4_request, SignedHeaders=host;x-amz-date, Signature="
	  "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
	{ "post-vanilla", "POST", "/", { { 0 } }, 0,
	  { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", SUITE_DATE } },
	  2, "", false,
	  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	  "aws4_request, SignedHeaders=host;x-amz-date, Signature="
	  "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
	{ "post-sts-header-before", "POST", "/", { { 0 } }, 0,
	  { { "Host", "example.amazonaws.com" },
	    { "X-Amz-Date", SUITE_DATE },
	    { "X-Amz-Security-Token", STS_TOKEN } },
	  3, "", false,
	  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	  "aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, "
	  "Signature="
	  "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
	{ "s3-get-object", "GET", "/test.txt", { { 0 } }, 0,
	  { { "Host", "examplebucket.s3.amazonaws.com" },
	    { "Range", "bytes=0-9" },
	    { "x-amz-content-sha256", EMPTY_SHA },
	    { "x-amz-date", S3_DATE } },
	  4, "", true,
	  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
	  "s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
	  "x-amz-date, Signature="
	  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41" },
	{ "s3-put-object", "PUT", "/test%24file.text", { { 0 } }, 0,
	  { { "Host", "examplebucket.s3.amazonaws.com" },
	    { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
	    { "x-amz-date", S3_DATE },
	    { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	    { "x-amz-content-sha256",
	      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" } },
	  5, "Welcome to Amazon S3.", true,
	  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
	  "s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;"
	  "x-amz-date;x-amz-storage-class, Signature="
	  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd" },
	{ "s3-get-bucket-lifecycle", "GET", "/", { { "lifecycle", NULL } }, 1,
	  { { "Host", "examplebucket.s3.amazonaws.com" },
	    { "x-amz-date", S3_DATE },
	    { "x-amz-content-sha256", EMPTY_SHA } },
	  3, "", true,
	  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
	  "s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	  "Signature="
	  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543" },
	{ "s3-list-objects", "GET", "/", { { "prefix", "J" }, { "max-keys", "2" } },
	  2,
	  { { "Host", "examplebucket.s3.amazonaws.com" },
	    { "x-amz-date", S3_DATE },
	    { "x-amz-content-sha256", EMPTY_SHA } },
	  3, "", true,
	  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
	  "s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	  "Signature="
	  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7" },
};

static void test_vectors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		const struct vec *v = &vecs[i];
		char sha[65];
		struct drfs_buf out;

		drfs_s3_sha256_hex(v->payload, strlen(v->payload), sha);
		struct drfs_sigv4_req rq = {
			.method = v->method,
			.path = v->path,
			.query = v->query,
			.n_query = v->nq,
			.headers = v->headers,
			.n_headers = v->nh,
			.payload_sha256_hex = sha,
			.amz_date = v->s3 ? S3_DATE : SUITE_DATE,
			.region = "us-east-1",
			.service = v->s3 ? "s3" : "service",
			.access_key = v->s3 ? S3_AK : SUITE_AK,
			.secret_key = v->s3 ? S3_SK : SUITE_SK,
		};
		drfs_buf_init(&out, 4096);
		CHECK_EQ(drfs_sigv4_authorization(&rq, &out), 0);
		if (!out.p || strcmp((char *)out.p, v->want)) {
			fprintf(stderr, "%s:\n got  %s\n want %s\n", v->name,
				out.p ? (char *)out.p : "(null)", v->want);
			CHECK(0);
		}
		drfs_buf_release(&out);
	}
}

static void test_errors(void)
{
	struct drfs_s3_kv h[2] = { { "Host", "x" }, { "host", "y" } };
	char sha[65];
	struct drfs_buf out;

	drfs_s3_sha256_hex("", 0, sha);
	CHECK(!strcmp(sha, EMPTY_SHA));
	struct drfs_sigv4_req rq = {
		.method = "GET", .path = "/", .headers = h, .n_headers = 2,
		.payload_sha256_hex = sha, .amz_date = SUITE_DATE,
		.region = "r", .service = "s3", .access_key = "a",
		.secret_key = "s",
	};
	drfs_buf_init(&out, 4096);
	/* a header given twice is refused, never signed as two lines */
	CHECK_EQ(drfs_sigv4_authorization(&rq, &out), -EINVAL);
	rq.n_headers = 1;
	rq.amz_date = "2015";
	CHECK_EQ(drfs_sigv4_authorization(&rq, &out), -EINVAL);
	/* a header value with a newline cannot be smuggled in */
	h[0].value = "a\nb";
	rq.amz_date = SUITE_DATE;
	CHECK_EQ(drfs_sigv4_authorization(&rq, &out), -EINVAL);
	drfs_buf_release(&out);
}

static void test_encode(void)
{
	struct drfs_buf b;
	struct drfs_s3_kv q[] = {
		{ "prefix", "data/ab c" }, { "list-type", "2" },
		{ "continuation-token", "a+b=/~" }, { "delete", NULL },
	};

	drfs_buf_init(&b, 1024);
	CHECK_EQ(drfs_s3_uri_encode(&b, "a b/c$~é", 9, true), 0);
	CHECK(b.len == 17 && !memcmp(b.p, "a%20b/c%24~%C3%A9", 17));
	drfs_buf_reset(&b);
	CHECK_EQ(drfs_s3_uri_encode(&b, "a/b", 3, false), 0);
	CHECK(b.len == 5 && !memcmp(b.p, "a%2Fb", 5));
	drfs_buf_reset(&b);
	CHECK_EQ(drfs_sigv4_canonical_query(q, ARRAY_SIZE(q), &b), 0);
	CHECK(!strcmp((char *)b.p, "continuation-token=a%2Bb%3D%2F~&delete=&"
				   "list-type=2&prefix=data%2Fab%20c"));
	drfs_buf_release(&b);

	char d[17], b64[25], hex[33];
	drfs_sigv4_amz_date(1440938160, d);
	CHECK(!strcmp(d, SUITE_DATE));
	drfs_s3_md5("", 0, b64, hex);
	CHECK(!strcmp(b64, "1B2M2Y8AsgTpgAmY7PhCfg=="));
	CHECK(!strcmp(hex, "d41d8cd98f00b204e9800998ecf8427e"));
}

static void test_url(void)
{
	char *b = NULL, *p = NULL;

	CHECK_EQ(drfs_s3_parse_url("s3://my-bucket", &b, &p), 0);
	CHECK(b && !strcmp(b, "my-bucket") && p && !strcmp(p, ""));
	free(b);
	free(p);
	CHECK_EQ(drfs_s3_parse_url("s3://my.bucket/a/b/", &b, &p), 0);
	CHECK(b && !strcmp(b, "my.bucket") && p && !strcmp(p, "a/b"));
	free(b);
	free(p);
	b = p = NULL;
	const char *bad[] = { "s3://", "s3://ab", "s3:/x/abc", "http://abc",
			      "s3://abc/a//b", "s3://abc/../x", "s3://a b c",
			      "s3://abc/./x", "s3://abc?x=1", "s3://-abc",
			      "s3://abc-", "s3://a..b", "s3://10.0.0.1",
			      "s3://abc/x\ty" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = drfs_s3_parse_url(bad[i], &b, &p);
		if (r != -EINVAL)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK_EQ(r, -EINVAL);
		CHECK(!b && !p);
		/* and the reason is given in words */
		CHECK(drfs_s3_url_problem(bad[i]) != NULL);
	}
	static const struct {
		const char *url, *why;
	} why[] = {
	    {"s3://ab", "at least 3 characters"},
	    {"s3://-abc", "begins and ends with a letter or a digit"},
	    {"s3://a..b", "no two dots"},
	    {"s3://10.0.0.1", "not an IP address"},
	    {"s3://abc/a//b", "empty segment"},
	    {"s3:/x/abc", "begins with s3://"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(why); i++) {
		const char *w = drfs_s3_url_problem(why[i].url);
		CHECK(w && strstr(w, why[i].why));
	}
	CHECK(!drfs_s3_url_problem("s3://Old_Bucket/p"));
	CHECK(!drfs_s3_url_problem("s3://1.2.3.4.5/p"));

	char *base = NULL, *host = NULL;
	CHECK_EQ(drfs_s3_parse_endpoint("http://127.0.0.1:7480/", &base, &host),
		 0);
	CHECK(base && !strcmp(base, "http://127.0.0.1:7480"));
	CHECK(host && !strcmp(host, "127.0.0.1:7480"));
	free(base);
	free(host);
	CHECK_EQ(drfs_s3_parse_endpoint("s3.example.com:443", &base, &host), 0);
	CHECK(base && !strcmp(base, "https://s3.example.com:443"));
	CHECK(host && !strcmp(host, "s3.example.com"));
	free(base);
	free(host);
	base = host = NULL;
	CHECK_EQ(drfs_s3_parse_endpoint("ftp://x", &base, &host), -EINVAL);
	CHECK_EQ(drfs_s3_parse_endpoint("http://x/path", &base, &host),
		 -EINVAL);
	CHECK_EQ(drfs_s3_parse_endpoint("http://", &base, &host), -EINVAL);
	CHECK_EQ(drfs_s3_parse_endpoint("http://a b", &base, &host), -EINVAL);
	CHECK(!base && !host);
}

static void test_ini(void)
{
	const char *t = "# comment\n[default]\naws_access_key_id = AK1\n"
			"aws_secret_access_key=SK1\n\n[profile work]\n"
			"region = eu-west-1 \r\n; c\n[work]\n"
			"aws_access_key_id=AK2\n";
	char *v = NULL;

	CHECK_EQ(drfs_s3_ini_get(t, strlen(t), "default", "aws_access_key_id",
				 &v),
		 0);
	CHECK(v && !strcmp(v, "AK1"));
	free(v);
	CHECK_EQ(drfs_s3_ini_get(t, strlen(t), "profile work", "region", &v),
		 0);
	CHECK(v && !strcmp(v, "eu-west-1"));
	free(v);
	CHECK_EQ(drfs_s3_ini_get(t, strlen(t), "work", "aws_access_key_id",
				 &v),
		 0);
	CHECK(v && !strcmp(v, "AK2"));
	free(v);
	v = NULL;
	CHECK_EQ(drfs_s3_ini_get(t, strlen(t), "work", "region", &v), -ENOENT);
	CHECK_EQ(drfs_s3_ini_get(t, strlen(t), "nope", "region", &v), -ENOENT);
	CHECK(!v);
}

/* ~/.aws/config with sub-sections: a profile's s3 block, a services
 * section (the AWS CLI's "services = NAME" and "[services NAME]"). */
static void test_ini_sub(void)
{
	const char *t = "[profile p]\nregion = us-west-2\nservices = loc\n"
			"s3 =\n  addressing_style = path\n"
			"  endpoint_url = http://wrong\n"
			"endpoint_url = http://profile:1\n"
			"[services loc]\ns3 =\n"
			"    endpoint_url = http://127.0.0.1:7480\n"
			"sts =\n    endpoint_url = http://sts:2\n";
	char *v = NULL;

	CHECK_EQ(drfs_s3_ini_get(t, strlen(t), "profile p", "endpoint_url", &v),
		 0);
	CHECK(v && !strcmp(v, "http://profile:1"));
	free(v);
	CHECK_EQ(drfs_s3_ini_get_sub(t, strlen(t), "profile p", "s3",
				     "addressing_style", &v),
		 0);
	CHECK(v && !strcmp(v, "path"));
	free(v);
	CHECK_EQ(drfs_s3_ini_get_sub(t, strlen(t), "services loc", "s3",
				     "endpoint_url", &v),
		 0);
	CHECK(v && !strcmp(v, "http://127.0.0.1:7480"));
	free(v);
	CHECK_EQ(drfs_s3_ini_get_sub(t, strlen(t), "services loc", "sts",
				     "endpoint_url", &v),
		 0);
	CHECK(v && !strcmp(v, "http://sts:2"));
	free(v);
	v = NULL;
	/* a nested key is not a key of the section, nor of another block */
	CHECK_EQ(drfs_s3_ini_get(t, strlen(t), "services loc", "endpoint_url",
				 &v),
		 -ENOENT);
	CHECK_EQ(drfs_s3_ini_get_sub(t, strlen(t), "profile p", "sts",
				     "endpoint_url", &v),
		 -ENOENT);
	CHECK(!v);
}

static void test_creds_json(void)
{
	struct drfs_s3_creds c;
	const char *imds =
	    "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : "
	    "\"2026-12-06T10:00:00Z\",\n  \"Type\" : \"AWS-HMAC\",\n"
	    "  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n  \"SecretAccessKey\" : "
	    "\"s\\/ecret\\u00e9\",\n  \"Token\" : \"tok==\",\n"
	    "  \"Expiration\" : \"2026-12-06T16:00:00Z\",\n"
	    "  \"Extra\" : {\"a\": [1, 2.5e3, true, null, {\"b\": \"c\"}]}\n}\n";
	CHECK_EQ(drfs_s3_parse_creds_json(imds, strlen(imds), &c), 0);
	CHECK(!strcmp(c.access_key, "ASIAEXAMPLE"));
	CHECK(!strcmp(c.secret_key, "s/ecret\xc3\xa9"));
	CHECK(!strcmp(c.token, "tok=="));
	CHECK_EQ(c.expires, 1796572800);

	const char *ecs = "{\"AccessKeyId\":\"A\",\"Expiration\":"
			  "\"2026-12-06T16:00:00.000Z\",\"RoleArn\":\"arn\","
			  "\"SecretAccessKey\":\"S\",\"Token\":\"T\"}";
	CHECK_EQ(drfs_s3_parse_creds_json(ecs, strlen(ecs), &c), 0);
	CHECK(!strcmp(c.access_key, "A") && !strcmp(c.token, "T"));

	const char *bad[] = {
	    "",
	    "{}",
	    "[]",
	    "{\"AccessKeyId\":\"A\"}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\"}",
	    "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\","
	    "\"SecretAccessKey\":\"S\"}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"} x",
	    "{\"AccessKeyId\":\"A\\u0000\",\"SecretAccessKey\":\"S\"}",
	    "{\"AccessKeyId\":\"A\\ud800\",\"SecretAccessKey\":\"S\"}",
	    "{\"AccessKeyId\":\"A\\q\",\"SecretAccessKey\":\"S\"}",
	    "{\"AccessKeyId\":\"A\n\",\"SecretAccessKey\":\"S\"}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
	    "\"Expiration\":\"tomorrow\"}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"x\":"
	    "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"x\":-}",
	    "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"x\":tru}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = drfs_s3_parse_creds_json(bad[i], strlen(bad[i]), &c);
		if (r != -EBADMSG)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK_EQ(r, -EBADMSG);
		CHECK(!c.access_key[0] && !c.secret_key[0]);
	}
	/* a key id longer than the field */
	char big[400];
	int n = snprintf(big, sizeof(big), "{\"AccessKeyId\":\"%0200d\","
			 "\"SecretAccessKey\":\"S\"}", 0);
	CHECK_EQ(drfs_s3_parse_creds_json(big, (size_t)n, &c), -EBADMSG);
	/* every prefix of a valid document is refused */
	for (size_t l = 0; l < strlen(ecs); l++)
		CHECK_EQ(drfs_s3_parse_creds_json(ecs, l, &c), -EBADMSG);
}

static void test_sts(void)
{
	struct drfs_s3_creds c;
	struct drfs_s3_error e;
	const char *ok =
	    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts."
	    "amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult>"
	    "<Credentials><SessionToken>tok</SessionToken><SecretAccessKey>"
	    "sec</SecretAccessKey><Expiration>2026-12-06T16:00:00Z"
	    "</Expiration><AccessKeyId>ASIA1</AccessKeyId></Credentials>"
	    "</AssumeRoleWithWebIdentityResult>"
	    "</AssumeRoleWithWebIdentityResponse>";
	CHECK_EQ(drfs_s3xml_parse_sts(ok, strlen(ok), &c, &e), 0);
	CHECK(!strcmp(c.access_key, "ASIA1") && !strcmp(c.secret_key, "sec") &&
	      !strcmp(c.token, "tok"));
	CHECK_EQ(c.expires, 1796572800);
	const char *err = "<ErrorResponse><Error><Type>Sender</Type><Code>"
			  "InvalidIdentityToken</Code><Message>bad</Message>"
			  "</Error></ErrorResponse>";
	CHECK_EQ(drfs_s3xml_parse_sts(err, strlen(err), &c, &e), -EACCES);
	CHECK(!strcmp(e.code, "InvalidIdentityToken"));
	CHECK(!c.access_key[0]);
	const char *noexp =
	    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentity"
	    "Result><Credentials><SecretAccessKey>s</SecretAccessKey>"
	    "<AccessKeyId>a</AccessKeyId></Credentials></AssumeRoleWith"
	    "WebIdentityResult></AssumeRoleWithWebIdentityResponse>";
	CHECK_EQ(drfs_s3xml_parse_sts(noexp, strlen(noexp), &c, &e), -EBADMSG);
	CHECK_EQ(drfs_s3xml_parse_sts("<Error/>", 8, &c, &e), -EBADMSG);
	for (size_t l = 0; l < strlen(ok); l++)
		CHECK(drfs_s3xml_parse_sts(ok, l, &c, &e) < 0);
}

int main(void)
{
	test_init("test_sigv4");
	test_vectors();
	test_errors();
	test_encode();
	test_url();
	test_ini();
	test_ini_sub();
	test_creds_json();
	test_sts();
	return test_done("test_sigv4");
}
