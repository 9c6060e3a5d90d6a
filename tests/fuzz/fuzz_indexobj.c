/* SPDX-License-Identifier: MIT */
/*
 * fuzz_indexobj.c - drfs_indexobj_iter_*() over the whole input; every
 * entry returned must pass drfs_pack_entry_check. Where the whole object
 * decodes, re-encoding it must reproduce the input (a shorter re-encoding
 * is a non-canonical varint count: fatal with DRFS_FUZZ_STRICT=1).
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_indexobj_iter it;
	struct drfs_buf b;
	struct drfs_pack_entry *es = NULL;
	struct drfs_id pack;
	uint32_t plen;
	size_t n;
	const uint8_t *raw;
	int r;

	if (size > DRFS_INDEX_OBJECT_MAX)
		return 0;
	if (drfs_indexobj_iter_init(&it, data, size) < 0)
		return 0;
	drfs_buf_init(&b, DRFS_INDEX_OBJECT_MAX);
	r = drfs_indexobj_begin(&b);
	assert(r == 0);
	while ((r = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0) {
		assert(n <= DRFS_PACK_MAX_BLOBS && plen <= DRFS_PACK_MAX);
		assert(raw >= data &&
		       raw + n * DRFS_PACK_ENTRY_LEN <= data + size);
		es = realloc(es, (n ? n : 1) * sizeof(*es));
		assert(es);
		for (size_t i = 0; i < n; i++) {
			drfs_pack_entry_get(raw + i * DRFS_PACK_ENTRY_LEN,
					    &es[i]);
			assert(drfs_pack_entry_check(&es[i], plen) == 0);
		}
		r = drfs_indexobj_add(&b, &pack, plen, es, n);
		assert(r == 0);
	}
	assert(r == 0 || r == -EBADMSG);
	if (r == 0 && (b.len != size || memcmp(b.p, data, size) != 0)) {
		if (b.len >= size || fuzz_strict()) {
			fprintf(stderr, "indexobj: re-encoding differs\n");
			abort();
		}
	}
	free(es);
	drfs_buf_release(&b);
	return 0;
}
