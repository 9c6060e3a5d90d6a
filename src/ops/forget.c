/* SPDX-License-Identifier: MIT */
/*
 * forget.c - forgetting snapshots: the forget record first, then the
 * snapshot objects. pruneint.h has what the rooms of prune share.
 */
#include "pruneint.h"

/* ---- forget ------------------------------------------------------------- */

int gc_delete_names(struct drfs_backend *be,
		    char (*names)[DRFS_OBJECT_NAME_MAX], size_t n)
{
	const char *v[DEL_BATCH];
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		while (i < n && k < DEL_BATCH)
			v[k++] = names[i++];
		int e = drfs_backend_del_many(be, v, k);
		if (e < 0)
			return e;
	}
	return 0;
}

static int uncache_snapshots(struct drfs_repo *r, const struct drfs_id *ids,
			     size_t n)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		e = drfs_kv_del(t, DRFS_DB_SNAPS, ids[i].b, DRFS_ID_LEN);
		if (e == -ENOENT)
			e = 0;
	}
	if (e >= 0)
		return drfs_txn_commit(t);
	drfs_txn_abort(t);
	return e;
}

/*
 * Keep the folder names of snapshots written before names were recorded
 * (names/), record the removal (forgotten/, before anything is deleted: a
 * snapshot that disappears without a record is reported as vanished),
 * then delete the snapshot objects; the first one alone (a crash point
 * between).
 */
int gc_forget_objects(struct drfs_repo *r, const struct drfs_id *ids, size_t n)
{
	if (!n)
		return 0;
	/* no later snapshot may be given a name one of these was shown as */
	int e = drfs_repo_snapshot_names_keep(r, ids, n);
	e = e ?: drfs_repo_forget_record(r, ids, n);
	if (e < 0)
		return e;
	drfs_test_crash_point("record");
	char(*names)[DRFS_OBJECT_NAME_MAX] = calloc(n, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		drfs_name_snapshot(&ids[i], names[i]);
	e = gc_delete_names(r->be, names, 1);
	drfs_test_crash_point("forget");
	e = e ?: gc_delete_names(r->be, names + 1, n - 1);
	free(names);
	int u = uncache_snapshots(r, ids, n);
	return e ?: u;
}

int drfs_forget(struct drfs_repo *r, const struct drfs_id *ids, size_t n)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	for (size_t i = 0; e >= 0 && i < n; i++) {
		uint8_t d[1];
		e = drfs_kv_get_fixed(t, DRFS_DB_SNAPS, ids[i].b, DRFS_ID_LEN,
				      d, 1);
		/* a snapshot that vanished: its record acknowledges that */
		if (e == -ENOENT)
			e = drfs_kv_get_fixed(t, DRFS_DB_SNAP_HISTORY, ids[i].b,
					      DRFS_ID_LEN, d, 1);
		if (e == -E2BIG)
			e = 0; /* present, or vanished */
	}
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++) {
		e = drfs_hold_check(r, &ids[i]);
		if (e < 0)
			return e;
		if (e > 0)
			return -EBUSY;
	}
	return gc_forget_objects(r, ids, n);
}
