/* SPDX-License-Identifier: MIT */
/*
 * fuzz_forget.c - drfs_forget_rec_decode(); where it succeeds, the entries
 * must iterate to exactly n, each id greater than the one before, and
 * encoding the decoded record must reproduce the input byte for byte (a
 * shorter re-encoding is a non-canonical varint: fatal with
 * DRFS_FUZZ_STRICT=1, see fuzz_tree.c).
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_forget_rec *h;
	struct drfs_forget_entry *e = NULL;
	struct drfs_buf b;
	size_t n = 0;

	if (size > DRFS_SMALL_OBJECT_MAX)
		return 0;
	h = malloc(sizeof(*h));
	if (!h)
		return 0;
	if (drfs_forget_rec_decode(data, size, h) < 0) {
		free(h);
		return 0;
	}
	assert(strlen(h->host) <= DRFS_HOST_MAX);
	assert(h->n <= DRFS_FORGET_IDS_MAX);
	assert(!(h->flags & ~DRFS_FORGET_F_BASELINE));
	assert(h->n > 0 || (h->flags & DRFS_FORGET_F_BASELINE));
	assert(h->time.tv_nsec >= 0 && h->time.tv_nsec < 1000000000);
	e = calloc(h->n + 1, sizeof(*e));
	assert(e);
	while (drfs_forget_rec_next(h, &e[n]) > 0) {
		assert(n < h->n);
		assert(e[n].time.tv_nsec >= 0 &&
		       e[n].time.tv_nsec < 1000000000);
		assert(!n || memcmp(e[n - 1].id.b, e[n].id.b, DRFS_ID_LEN) < 0);
		n++;
	}
	assert(n == h->n);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	int r = drfs_forget_rec_encode(h, e, n, &b);
	assert(r == 0);
	if (b.len != size || memcmp(b.p, data, size) != 0) {
		if (b.len >= size || fuzz_strict()) {
			fprintf(stderr, "forget: re-encoding differs\n");
			abort();
		}
	}
	drfs_buf_release(&b);
	free(e);
	free(h);
	return 0;
}
