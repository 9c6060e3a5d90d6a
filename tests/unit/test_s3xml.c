/* SPDX-License-Identifier: MIT */
/*
 * test_s3xml.c - the S3 XML parsers on real-shaped documents, on hostile
 * ones (DOCTYPE/entities, oversized keys, bad sizes, wrong roots, missing
 * continuation token), and on every truncation of a valid page.
 */
#include "drfs/limits.h"
#include "drfs/s3.h"
#include "test.h"

static const char page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>r/</Prefix><KeyCount>2</KeyCount>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>tok/+=</NextContinuationToken>"
    "<Contents><Key>r/data/ab/1</Key><LastModified>2026-11-21T14:30:05Z"
    "</LastModified><ETag>&quot;x&quot;</ETag><Size>123</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>\n"
    "<Contents>\n  <Key>r/a &amp; b</Key>\n  "
    "<Size>18446744073709551615</Size>\n</Contents>"
    "</ListBucketResult>";

static int parse_list(const char *s, struct drfs_s3_list *l)
{
	return drfs_s3xml_parse_list(s, strlen(s), l);
}

static void test_list(void)
{
	struct drfs_s3_list l;

	CHECK_EQ(parse_list(page, &l), 0);
	CHECK_EQ(l.n, 2);
	CHECK(l.truncated);
	CHECK(l.next_token && !strcmp(l.next_token, "tok/+="));
	if (l.n == 2) {
		CHECK(!strcmp(l.entries[0].key, "r/data/ab/1"));
		CHECK_EQ(l.entries[0].size, 123);
		CHECK(!strcmp(l.entries[0].etag, "x"));
		CHECK(!strcmp(l.entries[1].key, "r/a & b"));
		CHECK(l.entries[1].size == UINT64_MAX);
		CHECK(!strcmp(l.entries[1].etag, ""));
	}
	drfs_s3_list_release(&l);

	CHECK_EQ(parse_list("<ListBucketResult><IsTruncated>false"
			    "</IsTruncated></ListBucketResult>",
			    &l),
		 0);
	CHECK(l.n == 0 && !l.truncated && !l.next_token);
	drfs_s3_list_release(&l);

	/* every prefix of a valid page is refused, never crashes */
	for (size_t n = 0; n < sizeof(page) - 1; n++) {
		int r = drfs_s3xml_parse_list(page, n, &l);
		CHECK(r == -EBADMSG);
		CHECK(l.n == 0 && !l.entries);
	}

	const char *bad[] = {
	    "",
	    "not xml",
	    "<Error><Code>x</Code></Error>",
	    /* truncated without a token */
	    "<ListBucketResult><IsTruncated>true</IsTruncated>"
	    "</ListBucketResult>",
	    "<ListBucketResult><IsTruncated>maybe</IsTruncated>"
	    "</ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size>"
	    "</Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key>"
	    "<Size>18446744073709551616</Size></Contents>"
	    "</ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size></Size>"
	    "</Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Size>1</Size></Contents>"
	    "</ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key></Contents>"
	    "</ListBucketResult>",
	    /* an ETag longer than any S3 sends */
	    "<ListBucketResult><Contents><Key>a</Key><Size>1</Size><ETag>"
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "12345</ETag></Contents></ListBucketResult>",
	    "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY e \"x\">]>"
	    "<ListBucketResult><Contents><Key>&e;</Key><Size>1</Size>"
	    "</Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a&#0;b</Key><Size>1</Size>"
	    "</Contents></ListBucketResult>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = parse_list(bad[i], &l);
		if (r != -EBADMSG)
			fprintf(stderr, "accepted bad[%zu]\n", i);
		CHECK_EQ(r, -EBADMSG);
	}

	/* a key longer than DRFS_S3_KEY_MAX */
	struct drfs_buf b;
	drfs_buf_init(&b, 1u << 20);
	CHECK_EQ(drfs_buf_printf(&b, "<ListBucketResult><Contents><Key>"), 0);
	for (unsigned i = 0; i <= DRFS_S3_KEY_MAX; i++)
		CHECK_EQ(drfs_buf_u8(&b, 'k'), 0);
	CHECK_EQ(drfs_buf_printf(&b, "</Key><Size>1</Size></Contents>"
				     "</ListBucketResult>"),
		 0);
	CHECK_EQ(drfs_s3xml_parse_list(b.p, b.len, &l), -EBADMSG);
	drfs_buf_release(&b);

	/* many entries */
	drfs_buf_init(&b, DRFS_XML_PAGE_MAX);
	CHECK_EQ(drfs_buf_printf(&b, "<ListBucketResult>"), 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(drfs_buf_printf(&b,
					 "<Contents><Key>k%04d</Key>"
					 "<Size>%d</Size></Contents>",
					 i, i),
			 0);
	CHECK_EQ(drfs_buf_printf(&b, "</ListBucketResult>"), 0);
	CHECK_EQ(drfs_s3xml_parse_list(b.p, b.len, &l), 0);
	CHECK_EQ(l.n, 1000);
	if (l.n == 1000)
		CHECK(!strcmp(l.entries[999].key, "k0999") &&
		      l.entries[999].size == 999);
	drfs_s3_list_release(&l);
	drfs_buf_release(&b);
	/* over the page limit */
	CHECK_EQ(drfs_s3xml_parse_list(page, DRFS_XML_PAGE_MAX + 1ull, &l),
		 -EBADMSG);
}

static void test_error(void)
{
	struct drfs_s3_error e;
	const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			  "<Error><Code>SignatureDoesNotMatch</Code>"
			  "<Message>The request signature we calculated does "
			  "not match</Message><RequestId>1</RequestId>"
			  "</Error>";

	CHECK_EQ(drfs_s3xml_parse_error(doc, strlen(doc), &e), 0);
	CHECK(!strcmp(e.code, "SignatureDoesNotMatch"));
	CHECK(!strncmp(e.message, "The request signature", 21));
	CHECK_EQ(drfs_s3xml_parse_error(page, strlen(page), &e), -EBADMSG);
	CHECK_EQ(drfs_s3xml_parse_error("<Error>", 7, &e), -EBADMSG);

	char root[8];
	CHECK_EQ(drfs_s3xml_root(doc, strlen(doc), root, sizeof(root)), 0);
	CHECK(!strcmp(root, "Error"));
	CHECK_EQ(drfs_s3xml_root(page, strlen(page), root, sizeof(root)), 0);
	CHECK(!strcmp(root, "ListBuc"));
}

static void test_delete(void)
{
	struct drfs_s3_delete_result d;
	const char *doc =
	    "<DeleteResult><Deleted><Key>a</Key></Deleted>"
	    "<Error><Key>b</Key><Code>NoSuchKey</Code></Error>"
	    "<Error><Key>locks/c</Key><Code>AccessDenied</Code></Error>"
	    "<Error><Key>d</Key><Code>InternalError</Code></Error>"
	    "</DeleteResult>";

	CHECK_EQ(drfs_s3xml_parse_delete(doc, strlen(doc), &d), 0);
	CHECK_EQ(d.n_deleted, 1);
	CHECK_EQ(d.n_errors, 3);
	CHECK_EQ(d.n_errors_not_missing, 2);
	CHECK(!strcmp(d.first_key, "locks/c"));
	CHECK(!strcmp(d.first_code, "AccessDenied"));
	CHECK_EQ(drfs_s3xml_parse_delete("<DeleteResult/>", 15, &d), 0);
	CHECK_EQ(d.n_errors, 0);
}

static void test_upload_id(void)
{
	const char *doc = "<InitiateMultipartUploadResult><Bucket>b</Bucket>"
			  "<Key>k</Key><UploadId>2~xyz</UploadId>"
			  "</InitiateMultipartUploadResult>";
	char *id = NULL;

	CHECK_EQ(drfs_s3xml_parse_upload_id(doc, strlen(doc), &id), 0);
	CHECK(id && !strcmp(id, "2~xyz"));
	free(id);
	id = NULL;
	const char *none = "<InitiateMultipartUploadResult>"
			   "</InitiateMultipartUploadResult>";
	CHECK_EQ(drfs_s3xml_parse_upload_id(none, strlen(none), &id), -EBADMSG);
	CHECK(!id);
}

static int retention(const char *doc, struct drfs_s3_retention *r)
{
	return drfs_s3xml_parse_retention(doc, strlen(doc), r);
}

static void test_retention(void)
{
	struct drfs_s3_retention r;
	const char *ns = "<Retention xmlns=\"http://s3.amazonaws.com/doc/"
			 "2006-03-01/\"><Mode>GOVERNANCE</Mode>"
			 "<RetainUntilDate>2026-12-21T20:41:43.000Z"
			 "</RetainUntilDate></Retention>";
	CHECK_EQ(retention(ns, &r), 0);
	CHECK(!r.compliance && r.until == 1797885703); /* date -d ... +%s */
	CHECK_EQ(retention("<Retention><RetainUntilDate>2000-02-29T00:00:00Z"
			   "</RetainUntilDate><Mode>COMPLIANCE</Mode>"
			   "</Retention>", &r), 0);
	CHECK(r.compliance && r.until == 951782400);
	CHECK_EQ(retention("<Retention><Mode>COMPLIANCE</Mode>"
			   "<RetainUntilDate>1970-01-01T00:00:00Z"
			   "</RetainUntilDate></Retention>", &r), 0);
	CHECK(r.until == 0);
	static const char *const bad[] = {
		"<Retention><Mode>GOVERNANCE</Mode></Retention>",
		"<Retention><RetainUntilDate>2026-12-21T20:41:43Z"
		"</RetainUntilDate></Retention>",
		"<Retention><Mode>LEGAL</Mode><RetainUntilDate>"
		"2026-12-21T20:41:43Z</RetainUntilDate></Retention>",
		"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>"
		"2026-12-21 20:41:43Z</RetainUntilDate></Retention>",
		"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>"
		"2026-12-21T20:41:43+01:00</RetainUntilDate></Retention>",
		"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>"
		"2026-02-29T00:00:00Z</RetainUntilDate></Retention>",
		"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>"
		"2026-1 -21T20:41:43Z</RetainUntilDate></Retention>",
		"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>"
		"1969-12-31T23:59:59Z</RetainUntilDate></Retention>",
		"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>"
		"2026-12-21T20:41:43.Z</RetainUntilDate></Retention>",
		"<Error><Code>NoSuchObjectLockConfiguration</Code></Error>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(retention(bad[i], &r), -EBADMSG);
}

static void test_escape(void)
{
	struct drfs_buf b;

	drfs_buf_init(&b, 256);
	CHECK_EQ(drfs_s3xml_escape(&b, "a&b<c>d\"e'f"), 0);
	CHECK(b.len == 31 &&
	      !memcmp(b.p, "a&amp;b&lt;c&gt;d&quot;e&apos;f", 31));
	drfs_buf_release(&b);
}

int main(void)
{
	test_init("test_s3xml");
	test_list();
	test_error();
	test_delete();
	test_upload_id();
	test_retention();
	test_escape();
	return test_done("test_s3xml");
}
