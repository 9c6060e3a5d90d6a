/* SPDX-License-Identifier: MIT */
/*
 * fuzz_deletion.c - drfs_deletion_decode() over the whole input. Where it
 * decodes, the index part points into the input, every pack record
 * iterates, and re-encoding (drfs_deletion_begin + drfs_indexobj_add)
 * reproduces the input unless a varint count was non-canonical (fatal
 * with DRFS_FUZZ_STRICT=1, as fuzz_indexobj).
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "drfs/limits.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_deletion d;
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
	if (drfs_deletion_decode(data, size, &d) < 0)
		return 0;
	assert(d.n_holders <= DRFS_DELETION_HOLDERS_MAX);
	assert(d.index > data && d.index + d.index_len == data + size);
	drfs_buf_init(&b, DRFS_INDEX_OBJECT_MAX);
	r = drfs_deletion_begin(&d, &b);
	assert(r == 0);
	r = drfs_indexobj_iter_init(&it, d.index, d.index_len);
	assert(r == 0);
	while ((r = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0) {
		es = realloc(es, (n ? n : 1) * sizeof(*es));
		assert(es);
		for (size_t i = 0; i < n; i++)
			drfs_pack_entry_get(raw + i * DRFS_PACK_ENTRY_LEN,
					    &es[i]);
		r = drfs_indexobj_add(&b, &pack, plen, es, n);
		assert(r == 0);
	}
	assert(r == 0); /* decode checked every record */
	if (b.len != size || memcmp(b.p, data, size) != 0) {
		if (b.len >= size || fuzz_strict()) {
			fprintf(stderr, "deletion: re-encoding differs\n");
			abort();
		}
	}
	free(es);
	drfs_buf_release(&b);
	return 0;
}
