/* SPDX-License-Identifier: MIT */
/*
 * complete.c - whether a snapshot is whole on one backend (a side of a
 * replica, a mirror), and the one rule for serving snapshots while reads
 * come from a replica (repo.h: drfs_repo_replica_serving). The mount, the
 * restore and the drill all decide by it.
 */
#include <sys/stat.h>

#include "drfs/replica.h"
#include "drfs/repo.h"

bool drfs_repo_replica_serving(struct drfs_repo *r,
			       struct drfs_backend **ret_rep)
{
	struct drfs_replica_stats st;
	struct drfs_backend *rep;
	if (drfs_backend_replica_sides(r->be, NULL, &rep) < 0)
		return false;
	drfs_backend_replica_get_stats(r->be, &st);
	if (!st.primary_down && !st.failovers)
		return false;
	if (ret_rep)
		*ret_rep = rep;
	return true;
}

struct cmpl {
	struct drfs_repo *r;
	struct drfs_backend *be;
	drfs_report_fn report;
	void *report_data;
	struct drfs_idset packs; /* packs already checked */
	int missing;
};

/* 0 present (or already checked), 1 missing, negative errno. */
static int blob_present(struct cmpl *m, const struct drfs_id *id)
{
	struct drfs_id pack;
	char name[DRFS_OBJECT_NAME_MAX], hex[DRFS_ID_HEX_LEN + 1];
	uint64_t size;
	int e = drfs_repo_blob_find(m->r, id, NULL, &pack);
	if (e == -ENOENT) {
		if (m->report)
			m->report(m->report_data, "blob %s is in no pack",
				  drfs_id_hex(id, hex));
		return 1;
	}
	if (e < 0)
		return e;
	e = drfs_idset_add(&m->packs, &pack);
	if (e != 0)
		return e < 0 ? e : 0;
	drfs_name_pack(&pack, name);
	e = drfs_backend_head(m->be, name, &size);
	if (e == -ENOENT) {
		if (m->report)
			m->report(m->report_data, "\"%s\" is missing on \"%s\"",
				  name, m->be->display);
		return 1;
	}
	return e < 0 ? e : 0;
}

/*
 * 0 if every object tree root needs is on m->be, 1 if one is missing (and
 * reported), a negative errno: depth-first on the heap (any depth).
 */
static int cmpl_tree(struct cmpl *m, const struct drfs_id *root)
{
	struct drfs_tree_walk w;
	struct drfs_node *n;
	int e = blob_present(m, root);
	drfs_tree_walk_init(&w, drfs_repo_blob_reader, m->r);
	e = e ?: drfs_tree_walk_push(&w, root);
	while (e == 0 && drfs_tree_walk_depth(&w)) {
		struct drfs_extent x;
		e = drfs_tree_walk_next(&w, &n);
		if (e <= 0) {
			drfs_tree_walk_pop(&w);
			continue; /* e < 0 ends the walk */
		}
		e = 0;
		while (e == 0 && drfs_node_next_extent(n, &x) > 0)
			e = blob_present(m, &x.id);
		if (e == 0 && S_ISDIR(n->mode)) {
			e = blob_present(m, &n->subtree);
			e = e ?: drfs_tree_walk_push(&w, &n->subtree);
		}
	}
	drfs_tree_walk_release(&w);
	return e;
}

int drfs_snapshot_complete_on(struct drfs_repo *r, struct drfs_backend *be,
			      const struct drfs_snap_info *s,
			      drfs_report_fn report, void *report_data)
{
	struct cmpl m = { .r = r, .be = be, .report = report,
			  .report_data = report_data };
	char name[DRFS_OBJECT_NAME_MAX];
	uint64_t size;
	drfs_name_snapshot(&s->id, name);
	int e = drfs_backend_head(be, name, &size);
	if (e == -ENOENT) {
		if (report)
			report(report_data, "\"%s\" is missing on \"%s\"", name,
			       be->display);
		return 0;
	}
	if (e >= 0)
		e = cmpl_tree(&m, &s->snap.root);
	if (e == 0 && !drfs_id_is_zero(&s->snap.meta))
		e = cmpl_tree(&m, &s->snap.meta);
	drfs_idset_free(&m.packs);
	if (e < 0)
		return e;
	return e == 0 ? 1 : 0;
}

int drfs_snapshot_newest_complete(struct drfs_repo *r, struct drfs_backend *be,
				  const struct drfs_snap_filter *f,
				  struct drfs_snap_info *ret)
{
	struct drfs_snap_info *v;
	size_t n;
	int e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		return e;
	e = -ENOENT;
	for (size_t i = n; i-- > 0;) {
		if (!drfs_snap_filter_match(f, &v[i].snap))
			continue;
		int c = drfs_snapshot_complete_on(r, be, &v[i], NULL, NULL);
		if (c < 0) {
			e = c;
			break;
		}
		if (c == 1) {
			*ret = v[i];
			e = 0;
			break;
		}
	}
	free(v);
	return e;
}

