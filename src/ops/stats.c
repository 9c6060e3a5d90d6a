/* SPDX-License-Identifier: MIT */
/*
 * stats.c - sizes, deduplication and compression figures of a repository.
 */
#include "drfs/ops.h"

struct acc {
	struct drfs_stats *s;
};

static int count_blob(const struct drfs_id *id,
		      const struct drfs_blob_loc *loc, void *userdata)
{
	struct drfs_stats *s = userdata;
	(void)id;
	s->blobs++;
	if (loc->type == DRFS_BLOB_TREE)
		s->tree_blobs++;
	else
		s->data_blobs++;
	s->stored_blob_bytes += loc->stored_len;
	s->raw_bytes += loc->raw_len;
	return 0;
}

static int count_pack(const struct drfs_id *pack,
		      const struct drfs_pack_rec *rec, void *userdata)
{
	struct drfs_stats *s = userdata;
	(void)pack;
	s->packs++;
	s->pack_bytes += rec->length;
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
	e = drfs_index_blobs_scan(t, count_blob, &s);
	e = e ?: drfs_index_packs_scan(t, count_pack, &s);
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

void drfs_progress_phase(struct drfs_progress *p, const char *phase,
			 const char *unit, uint64_t bytes_total)
{
	if (!p)
		return;
	atomic_store(&p->bytes, 0);
	atomic_store(&p->files, 0);
	atomic_store(&p->bytes_total, bytes_total);
	atomic_store(&p->unit, unit);
	atomic_store(&p->phase_start, drfs_now_mono());
	atomic_store(&p->phase, phase);
}
