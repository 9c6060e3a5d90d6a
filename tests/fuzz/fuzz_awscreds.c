/* SPDX-License-Identifier: MIT */
/*
 * fuzz_awscreds.c - what drfs reads to find S3 credentials, on untrusted
 * bytes: the JSON of the instance metadata service and container endpoints
 * (drfs_s3_parse_creds_json) and ~/.aws/config text (drfs_s3_ini_get and
 * its sub-sections). Each must return 0 or a negative errno, never crash,
 * and uphold its bounds.
 */
#include "drfs/s3.h"

#include <assert.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_s3_creds *c = malloc(sizeof(*c));
	char *v = NULL;

	if (c && drfs_s3_parse_creds_json(data, size, c) == 0) {
		assert(c->access_key[0] && c->secret_key[0]);
		assert(strlen(c->access_key) < sizeof(c->access_key));
		assert(strlen(c->secret_key) < sizeof(c->secret_key));
		assert(strlen(c->token) < sizeof(c->token));
	} else if (c) {
		assert(!c->access_key[0] && !c->secret_key[0] && !c->token[0]);
	}
	free(c);
	if (size > (1u << 20))
		return 0;
	if (drfs_s3_ini_get((const char *)data, size, "default", "region",
			    &v) == 0) {
		assert(v && !strchr(v, '\n'));
		free(v);
	}
	v = NULL;
	if (drfs_s3_ini_get_sub((const char *)data, size, "services x", "s3",
				"endpoint_url", &v) == 0) {
		assert(v && !strchr(v, '\n'));
		free(v);
	}
	return 0;
}
