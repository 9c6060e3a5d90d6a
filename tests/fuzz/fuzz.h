/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry point and the
 * strictness of the re-encoding property.
 */
#ifndef DRFS_FUZZ_H
#define DRFS_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Whether a decoded input that re-encodes SHORTER (a non-canonical varint)
 * is fatal: yes unless DRFS_FUZZ_STRICT=0 (see fuzz_tree.c).
 */
static inline bool fuzz_strict(void)
{
	static int s = -1;
	if (s < 0) {
		const char *e = getenv("DRFS_FUZZ_STRICT");
		s = !e || *e != '0';
	}
	return s;
}

#endif
