/* SPDX-License-Identifier: MIT */
/*
 * fuzz_deletion.c - drfs_deletion_decode() over the whole input (it checks
 * every pack record of the index part; fuzz_indexobj covers their
 * re-encoding). Where it decodes, the index part is the tail of the input
 * and the header re-encodes byte for byte.
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "drfs/limits.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_deletion d;
	struct drfs_buf b;

	if (size > DRFS_INDEX_OBJECT_MAX)
		return 0;
	if (drfs_deletion_decode(data, size, &d) < 0)
		return 0;
	assert(d.n_holders <= DRFS_DELETION_HOLDERS_MAX);
	assert(d.index > data && d.index_len &&
	       d.index + d.index_len == data + size);
	drfs_buf_init(&b, DRFS_INDEX_OBJECT_MAX);
	int r = drfs_deletion_begin(&d, &b);
	assert(r == 0);
	/* begin wrote the header and the index part's version byte */
	if (b.len != (size_t)(d.index - data) + 1 || memcmp(b.p, data, b.len)) {
		fprintf(stderr, "deletion: the header re-encodes differently\n");
		abort();
	}
	drfs_buf_release(&b);
	return 0;
}
