/* SPDX-License-Identifier: MIT */
/*
 * fuzz_lock.c - drfs_lock_decode() (the payload of locks/<id>); where it
 * succeeds, encoding the decoded lock must reproduce the input exactly
 * (the format has no varints: there is no other encoding of a lock).
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_lock_info li;
	struct drfs_buf b;

	if (drfs_lock_decode(data, size, &li) < 0)
		return 0;
	assert(strlen(li.host) <= DRFS_HOST_MAX);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	int r = drfs_lock_encode(&li, &b);
	assert(r == 0);
	if (b.len != size || memcmp(b.p, data, size) != 0) {
		fprintf(stderr, "lock: re-encoding differs\n");
		abort();
	}
	drfs_buf_release(&b);
	return 0;
}
