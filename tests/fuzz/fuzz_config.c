/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - drfs_config_decode(); where it succeeds, encoding the
 * decoded config must reproduce the input byte for byte (see the note on
 * non-canonical varints in fuzz_tree.c: DRFS_FUZZ_STRICT=1 makes a shorter
 * re-encoding fatal too).
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_config c;
	struct drfs_buf b;

	if (drfs_config_decode(data, size, &c) < 0)
		return 0;
	assert(c.version == DRFS_FORMAT_VERSION);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	int r = drfs_config_encode(&c, &b);
	assert(r == 0);
	if (b.len != size || memcmp(b.p, data, size) != 0) {
		if (b.len >= size || fuzz_strict()) {
			fprintf(stderr, "config: re-encoding differs\n");
			abort();
		}
	}
	drfs_buf_release(&b);
	return 0;
}
