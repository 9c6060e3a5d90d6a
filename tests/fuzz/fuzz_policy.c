/* SPDX-License-Identifier: MIT */
/*
 * fuzz_policy.c - drfs_policy_decode() (the payload of the "policy"
 * object); where it succeeds, the policy must be within its limits and
 * encoding it must reproduce the input exactly (no varints in the format).
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_policy *p;
	struct drfs_buf b;

	p = malloc(sizeof(*p));
	if (!p)
		return 0;
	if (drfs_policy_decode(data, size, p) < 0) {
		free(p);
		return 0;
	}
	assert(p->within >= 0 && p->n_tags <= DRFS_TAGS_MAX);
	size_t off = 0;
	for (uint32_t i = 0; i < p->n_tags; i++) {
		size_t l = strnlen(p->tags + off, sizeof(p->tags) - off);
		assert(l > 0 && l <= DRFS_TAG_MAX && off + l < sizeof(p->tags));
		off += l + 1;
	}
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	int r = drfs_policy_encode(p, &b);
	assert(r == 0);
	if (b.len != size || memcmp(b.p, data, size) != 0) {
		fprintf(stderr, "policy: re-encoding differs\n");
		abort();
	}
	drfs_buf_release(&b);
	free(p);
	return 0;
}
