/* SPDX-License-Identifier: MIT */
/*
 * fuzz_httpreq.c - drfs_http_request_parse() (a request to the mount's
 * --metrics-listen endpoint: bytes from anyone who can connect); where it
 * succeeds, the path is a NUL-terminated absolute path that fits, and a
 * request that is complete stays so with more bytes after it.
 */
#include <assert.h>
#include <string.h>

#include "drfs/facts.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[DRFS_HTTP_PATH_MAX], again[DRFS_HTTP_PATH_MAX];
	int r = drfs_http_request_parse(data, size, path, sizeof(path));
	assert(r == 1 || r == 0 || r == -EBADMSG || r == -EOPNOTSUPP);
	if (r != 1)
		return 0;
	assert(path[0] == '/' && strlen(path) < sizeof(path));
	assert(!strchr(path, '?'));
	uint8_t *more = malloc(size + 1);
	assert(more);
	memcpy(more, data, size);
	more[size] = 'x';
	assert(drfs_http_request_parse(more, size + 1, again, sizeof(again)) ==
	       1);
	assert(strcmp(path, again) == 0);
	free(more);
	return 0;
}
