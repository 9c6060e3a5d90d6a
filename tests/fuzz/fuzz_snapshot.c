/* SPDX-License-Identifier: MIT */
/*
 * fuzz_snapshot.c - drfs_snapshot_decode(); where it succeeds, encoding the
 * decoded snapshot must reproduce the input byte for byte (a shorter
 * re-encoding is a non-canonical varint: fatal with DRFS_FUZZ_STRICT=1,
 * see fuzz_tree.c).
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_snapshot *s;
	struct drfs_buf b;

	if (size > DRFS_SMALL_OBJECT_MAX)
		return 0;
	s = malloc(sizeof(*s));
	if (!s)
		return 0;
	if (drfs_snapshot_decode(data, size, s) < 0) {
		free(s);
		return 0;
	}
	assert(strlen(s->host) <= DRFS_HOST_MAX);
	assert(strlen(s->path) <= DRFS_PATH_MAX);
	assert(s->n_tags <= DRFS_TAGS_MAX);
	assert(s->time.tv_nsec >= 0 && s->time.tv_nsec < 1000000000);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	int r = drfs_snapshot_encode(s, &b);
	assert(r == 0);
	if (b.len != size || memcmp(b.p, data, size) != 0) {
		if (b.len >= size || fuzz_strict()) {
			fprintf(stderr, "snapshot: re-encoding differs\n");
			abort();
		}
	}
	drfs_buf_release(&b);
	free(s);
	return 0;
}
