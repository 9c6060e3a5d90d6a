/* SPDX-License-Identifier: MIT */
/*
 * fuzz_s3xml.c - every S3 XML parser on the same untrusted bytes: a
 * ListObjectsV2 page, an <Error>, a DeleteResult, an
 * InitiateMultipartUploadResult, a <Retention>, STS's
 * AssumeRoleWithWebIdentityResponse and the root sniffer. Each must return
 * 0 or a negative errno, never crash, and uphold its documented bounds.
 */
#include "drfs/limits.h"
#include "drfs/s3.h"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_s3_list l;
	struct drfs_s3_error e;
	struct drfs_s3_delete_result *d;
	char root[64], *id = NULL;

	if (size > DRFS_XML_PAGE_MAX)
		return 0;
	if (drfs_s3xml_parse_list(data, size, &l) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			assert(l.entries[i].key);
			assert(strlen(l.entries[i].key) <= DRFS_S3_KEY_MAX);
		}
		assert(!l.truncated || l.next_token);
		drfs_s3_list_release(&l);
	} else {
		assert(l.n == 0 && !l.entries && !l.next_token);
	}
	if (drfs_s3xml_parse_error(data, size, &e) == 0)
		assert(strlen(e.code) < sizeof(e.code) &&
		       strlen(e.message) < sizeof(e.message));
	d = malloc(sizeof(*d));
	if (d && drfs_s3xml_parse_delete(data, size, d) == 0)
		assert(d->n_errors_not_missing <= d->n_errors);
	free(d);
	if (drfs_s3xml_parse_upload_id(data, size, &id) == 0) {
		assert(id && *id);
		free(id);
	}
	struct drfs_s3_retention rt;
	if (drfs_s3xml_parse_retention(data, size, &rt) == 0)
		assert(rt.have_mode && rt.have_until && rt.until >= 0 &&
		       rt.until <= 253402300800); /* by 9999-12-31T23:59:60 */
	if (drfs_s3xml_root(data, size, root, sizeof(root)) == 0)
		assert(strlen(root) < sizeof(root));
	struct drfs_s3_creds *c = malloc(sizeof(*c));
	if (c && drfs_s3xml_parse_sts(data, size, c, &e) == 0)
		assert(c->access_key[0] && c->secret_key[0] &&
		       strlen(c->token) < sizeof(c->token));
	free(c);
	return 0;
}
