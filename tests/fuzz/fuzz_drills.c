/* SPDX-License-Identifier: MIT */
/*
 * fuzz_drills.c - drfs_drill_log_parse() (a cache directory's drill log):
 * never more records than asked for, each a drill that parsed whole.
 */
#include <assert.h>

#include "drfs/facts.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_drill_rec v[8];
	size_t n = drfs_drill_log_parse(data, size, v, 8);
	assert(n <= 8);
	for (size_t i = 0; i < n; i++)
		assert(v[i].ok == 0 || v[i].ok == 1);
	return 0;
}
