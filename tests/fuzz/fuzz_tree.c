/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tree.c - drfs_tree_iter_*() over the whole input, with
 * drfs_node_next_xattr/extent on every node, and drfs_tree_find.
 *
 * drfs_tree_iter_next_any (restore's lenient iteration) must agree with
 * drfs_tree_iter_next entry for entry up to the first bad name, which it
 * returns as DRFS_TREE_BAD_NAME where the strict one fails; past it, it
 * returns 1 exactly for the valid names.
 *
 * Property: where the whole tree decodes, encoding the decoded nodes again
 * (drfs_tree_enc_add) must reproduce the input byte for byte. The decoders
 * accept over-long varints (0x80 0x00 for 0), so a valid input can
 * re-encode SHORTER; that is tolerated by default (reported to the format
 * owner) and fatal with DRFS_FUZZ_STRICT=1. A re-encoding that is longer or
 * of equal length but different is always fatal.
 */
#include <assert.h>
#include <stdio.h>

#include "drfs/format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_tree_iter it;
	struct drfs_tree_enc enc;
	struct drfs_node n, f, last;
	struct drfs_buf b;
	struct drfs_xattr *xs;
	struct drfs_extent *ex;
	size_t count = 0;
	int r;

	if (size > DRFS_BLOB_MAX)
		return 0;
	if (drfs_tree_iter_init(&it, data, size) < 0)
		return 0;
	/* at most one extent per 34 input bytes, xattrs bounded */
	memset(&last, 0, sizeof(last));
	xs = calloc(DRFS_XATTRS_MAX, sizeof(*xs));
	ex = calloc(size / 34 + 1, sizeof(*ex));
	assert(xs && ex);
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &b);
	while ((r = drfs_tree_iter_next(&it, &n)) > 0) {
		size_t nx = 0, ne = 0;
		struct drfs_xattr x;
		struct drfs_extent e;
		int q;

		assert(n.name_len >= 1 && n.name_len <= DRFS_NAME_MAX);
		while ((q = drfs_node_next_xattr(&n, &x)) > 0) {
			assert(nx < n.n_xattrs);
			assert(x.name_len >= 1 && x.value);
			xs[nx++] = x;
		}
		assert(q == 0 && nx == n.n_xattrs);
		while ((q = drfs_node_next_extent(&n, &e)) > 0) {
			assert(ne < n.n_extents);
			assert(e.len > 0 && e.off + e.len <= n.size);
			ex[ne++] = e;
		}
		assert(q == 0 && ne == n.n_extents);
		r = drfs_tree_enc_add(&enc, &n, xs, nx, ex, ne);
		if (r < 0) {
			fprintf(stderr, "tree: node does not encode: %d\n", r);
			abort();
		}
		last = n;
		count++;
	}
	assert(r == 0 || r == -EBADMSG);
	if (r == 0) {
		if (count == 0) {
			r = drfs_buf_u8(&b, 1); /* an empty directory */
			assert(r == 0);
		}
		if (b.len != size || memcmp(b.p, data, size) != 0) {
			if (b.len >= size || fuzz_strict()) {
				fprintf(stderr, "tree: re-encoding differs\n");
				abort();
			}
		}
		if (count) {
			r = drfs_tree_find(data, size, last.name,
					   last.name_len, &f);
			assert(r == 0 && f.name == last.name);
		}
	}
	/* the lenient iteration agrees with the strict one */
	struct drfs_tree_iter ia, is;
	int ra, rs;
	drfs_tree_iter_init(&ia, data, size);
	drfs_tree_iter_init(&is, data, size);
	for (;;) {
		ra = drfs_tree_iter_next_any(&ia, &n);
		rs = drfs_tree_iter_next(&is, &f);
		if (ra == 1) {
			assert(rs == 1 && f.name == n.name &&
			       f.name_len == n.name_len);
			continue;
		}
		if (ra == DRFS_TREE_BAD_NAME) {
			assert(rs == -EBADMSG);
			do
				assert(drfs_name_ok(n.name, n.name_len) ==
				       (ra == 1));
			while ((ra = drfs_tree_iter_next_any(&ia, &n)) > 0);
			assert(ra == 0 || ra == -EBADMSG);
			break;
		}
		assert(ra == rs);
		break;
	}
	/* a lookup scans up to the first error */
	r = drfs_tree_find(data, size, (const uint8_t *)"m", 1, &f);
	assert(r == 0 || r == -ENOENT || r == -EBADMSG);
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&b);
	free(xs);
	free(ex);
	return 0;
}
