/* SPDX-License-Identifier: MIT */
/*
 * prune.c - drfs prune: the policy applied per group, then gc; the lock that
 * decides between deleting now and deferring; rescue of a live writer's
 * references out of doomed packs. pruneint.h has what the rooms of prune
 * share.
 */
#include "pruneint.h"

void gc_say(drfs_report_fn fn, void *ud, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(ud, "%s", msg);
}

/* ---- rescue: a live writer's references out of doomed packs ------------ */

struct rescue {
	struct drfs_repo *r;
	struct drfs_id *v; /* marked blobs whose location is doomed */
	size_t n, cap;
	struct drfs_txn *t;
};

static int rescue_want(const void *key, size_t klen, const void *val,
		       size_t vlen, void *userdata)
{
	struct rescue *rc = userdata;
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	int e = drfs_repo_blob_doomed(rc->t, key);
	if (e <= 0)
		return e == -ENOENT ? -EBADMSG : e;
	if (drfs_grow(&rc->v, &rc->cap, rc->n, sizeof(*rc->v), 256) < 0)
		return -ENOMEM;
	memcpy(rc->v[rc->n++].b, key, DRFS_ID_LEN);
	return 0;
}

int drfs_gc_rescue(struct drfs_repo *r, const struct drfs_id *roots,
		   size_t n_roots, drfs_report_fn report, void *report_data,
		   uint64_t *ret_blobs)
{
	struct drfs_gc_opts go = { .report = report,
				   .report_data = report_data };
	struct gc g = { .r = r, .o = &go, .mark = RESCUE_DB };
	struct rescue rc = { .r = r };
	struct drfs_writer *w = NULL;
	struct drfs_buf b;
	int e;

	*ret_blobs = 0;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	e = gc_delete_where(r, RESCUE_DB, gc_want_all, NULL);
	for (size_t i = 0; e >= 0 && i < n_roots; i++)
		e = gc_mark_tree(&g, &roots[i]);
	e = e ?: drfs_txn_begin(r->index, false, &rc.t);
	if (e >= 0) {
		e = drfs_kv_scan(rc.t, RESCUE_DB, NULL, 0, rescue_want, &rc);
		drfs_txn_abort(rc.t);
	}
	if (e >= 0 && rc.n)
		e = drfs_writer_new(r, &w);
	for (size_t i = 0; e >= 0 && i < rc.n; i++) {
		struct drfs_blob_loc loc;
		drfs_buf_reset(&b);
		e = drfs_repo_blob_find(r, &rc.v[i], &loc, NULL);
		e = e ?: drfs_repo_blob_read(r, &rc.v[i], &b);
		/* the writer does not deduplicate against doomed packs */
		e = e ?: drfs_writer_put(w, (enum drfs_blob_type)loc.type,
					 &rc.v[i], b.p, b.len);
	}
	if (e >= 0 && w)
		e = drfs_writer_flush(w);
	if (e >= 0)
		*ret_blobs = rc.n;
	else if (w && drfs_writer_error(w))
		gc_say(report, report_data, "%s", drfs_writer_error(w));
	drfs_writer_free(w);
	gc_delete_where(r, RESCUE_DB, gc_want_all, NULL);
	drfs_buf_release(&b);
	free(rc.v);
	return e;
}

/* ---- prune ------------------------------------------------------------- */

int drfs_holds_list(struct drfs_repo *r, struct drfs_id **ret, size_t *ret_n)
{
	return drfs_repo_list_ids(r, "holds", ret, ret_n);
}

bool drfs_holds_has(const struct drfs_id *v, size_t n, const struct drfs_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (drfs_id_eq(&v[i], id))
			return true;
	return false;
}

int drfs_prune_lock(struct drfs_repo *r, struct drfs_lock **ret,
		    bool *ret_deferred, char *why, size_t why_len)
{
	int e = drfs_lock_take(r, DRFS_LOCK_EXCLUSIVE, DRFS_ROLE_PRUNE, ret,
			       why, why_len);
	*ret_deferred = false;
	if (e != -EBUSY)
		return e;
	/* others use the repository: defer deleting what they may need */
	e = drfs_lock_take(r, DRFS_LOCK_PRUNE, DRFS_ROLE_PRUNE, ret, why,
			   why_len);
	*ret_deferred = e >= 0;
	return e;
}

/* The policy given, else the stored one; never one that keeps nothing. */
static int policy_get(struct drfs_repo *r, const struct drfs_prune_opts *o,
		      struct drfs_policy *pol, char *why, size_t why_len)
{
	int e;
	if (o->policy) {
		*pol = *o->policy;
	} else {
		e = drfs_policy_load(r, pol);
		if (e == -ENOENT)
			snprintf(why, why_len,
				 "no policy given and none stored (see \"drfs "
				 "policy\"); refusing to remove everything");
		else if (e < 0)
			snprintf(why, why_len,
				 "cannot read the stored policy: %s",
				 drfs_strerror(e));
		if (e < 0)
			return e;
	}
	if (drfs_policy_empty(pol)) {
		snprintf(why, why_len,
			 "the policy keeps nothing; refusing to remove "
			 "everything");
		return -EINVAL;
	}
	return 0;
}

int drfs_prune(struct drfs_repo *r, const struct drfs_prune_opts *o,
	       struct drfs_prune_result *ret)
{
	struct drfs_lock *lock = NULL;
	struct drfs_gc_opts go = o->gc;
	struct drfs_policy pol;
	struct drfs_snap_info *snaps = NULL, *kept = NULL;
	struct drfs_policy_verdict *v = NULL;
	struct drfs_id *gone = NULL;
	struct drfs_id *held = NULL;
	size_t *ord = NULL;
	size_t n_held = 0;
	size_t n = 0, n_kept = 0, n_gone = 0;
	int e;

	memset(ret, 0, sizeof(*ret));
	if (!o->no_lock && !o->gc.dry_run) {
		/* forgetting alone (no gc) races with no backup */
		e = o->no_gc ? drfs_lock_acquire(r, false, &lock, ret->why,
						  sizeof(ret->why))
			     : drfs_prune_lock(r, &lock, &go.deferred,
					       ret->why, sizeof(ret->why));
		if (e < 0)
			return e;
		go.holder = drfs_lock_id(lock);
		/* the locks of dead processes go (best effort) */
		size_t reaped;
		if (drfs_lock_reap(r, &reaped) == 0 && reaped)
			gc_say(go.report, go.report_data,
			       "removed %zu stale lock(s)", reaped);
	}
	e = policy_get(r, o, &pol, ret->why, sizeof(ret->why));
	if (e < 0)
		goto out;
	/* the snapshots as they are now, under the lock */
	e = drfs_repo_sync(r, false);
	e = e ?: drfs_repo_snapshots(r, &snaps, &n);
	e = e ?: drfs_holds_list(r, &held, &n_held);
	if (e < 0)
		goto out;
	v = calloc(n + 1, sizeof(*v));
	kept = calloc(n + 1, sizeof(*kept));
	gone = calloc(n + 1, sizeof(*gone));
	ord = calloc(n + 1, sizeof(*ord));
	if (!v || !kept || !gone || !ord) {
		e = -ENOMEM;
		goto out;
	}
	/* only the snapshots o->filter matches; the others stay */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (!drfs_snap_filter_match(o->filter, &snaps[i].snap))
			kept[n_kept++] = snaps[i];
		else if (m++ != i)
			snaps[m - 1] = snaps[i];
	}
	unsigned group_by = o->group_given ? o->group_by : DRFS_GROUP_DEFAULT;
	e = drfs_policy_apply_groups(&pol, group_by, snaps, m, time(NULL), v);
	if (e < 0)
		goto out;
	/* group by group, each oldest first */
	size_t n_groups = (size_t)e, k = 0;
	for (size_t g = 0; g < n_groups; g++)
		for (size_t i = 0; i < m; i++)
			if (v[i].group == g)
				ord[k++] = i;
	for (size_t j = 0; j < m; j++) {
		size_t i = ord[j];
		if (drfs_holds_has(held, n_held, &snaps[i].id)) {
			v[i].reasons |= DRFS_KEEP_HOLD;
			v[i].keep = true;
		}
		if (o->verdict)
			o->verdict(o->verdict_data, &snaps[i], &v[i]);
		if (v[i].keep)
			kept[n_kept++] = snaps[i];
		else
			gone[n_gone++] = snaps[i].id;
	}
	e = 0;
	ret->kept = n_kept - (n - m);
	ret->removed = n_gone;
	if (!o->gc.dry_run) {
		e = gc_forget_objects(r, gone, n_gone);
		if (e < 0) {
			snprintf(ret->why, sizeof(ret->why),
				 "cannot delete snapshots: %s",
				 drfs_backend_last_error(r->be) ?:
					 drfs_strerror(e));
			goto out;
		}
		if (!o->no_gc)
			e = gc_run(r, &go, NULL, 0, &ret->gc);
	} else if (!o->no_gc) {
		e = gc_run(r, &go, kept, n_kept, &ret->gc);
	}
out:
	drfs_lock_release(lock);
	free(ord);
	free(snaps);
	free(kept);
	free(gone);
	free(v);
	free(held);
	return e;
}
