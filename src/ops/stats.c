/* SPDX-License-Identifier: MIT */
/*
 * stats.c - sizes, deduplication and compression figures of a repository.
 */
#include "drfs/ops.h"

struct acc {
	struct drfs_stats *s;
};

static int count_blob(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct drfs_stats *s = userdata;
	const uint8_t *p = val;
	(void)key;
	if (klen != DRFS_ID_LEN || vlen != 18)
		return 0;
	s->blobs++;
	if (p[16] == DRFS_BLOB_TREE)
		s->tree_blobs++;
	else
		s->data_blobs++;
	s->stored_blob_bytes += drfs_get_le32(p + 8);
	s->raw_bytes += drfs_get_le32(p + 12);
	return 0;
}

static int count_pack(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct drfs_stats *s = userdata;
	(void)key;
	if (klen != DRFS_ID_LEN || vlen != 12)
		return 0;
	s->packs++;
	s->pack_bytes += drfs_get_le32((const uint8_t *)val + 4);
	return 0;
}

static int sum_object(const char *name, uint64_t size, void *userdata)
{
	struct drfs_stats *s = userdata;
	(void)name;
	s->repo_bytes += size;
	return 0;
}

int drfs_stats(struct drfs_repo *r, struct drfs_stats *ret)
{
	struct drfs_stats s = { 0 };
	struct drfs_snap_info *snaps;
	size_t n;
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_kv_scan(t, DRFS_DB_BLOBS, NULL, 0, count_blob, &s);
	e = e ?: drfs_kv_scan(t, DRFS_DB_PACKS, NULL, 0, count_pack, &s);
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	e = drfs_backend_list(r->be, "", sum_object, &s);
	if (e < 0)
		return e;
	e = drfs_repo_snapshots(r, &snaps, &n);
	if (e < 0)
		return e;
	s.snapshots = n;
	for (size_t i = 0; i < n; i++)
		s.logical_bytes += snaps[i].snap.bytes;
	free(snaps);
	*ret = s;
	return 0;
}
