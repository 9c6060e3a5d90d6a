/* SPDX-License-Identifier: MIT */
/*
 * objlock.c - S3 Object Lock (see include/drfs/dr.h): the retention plan
 * lock-extend applies (which objects the snapshots of a window need, and
 * until when), and the audit check runs (which snapshots every object they
 * need is retained for, and which are not protected).
 *
 * Both walk the snapshots' trees to the packs that hold their trees and
 * file blobs; a tree met again is not walked again (an id set, or a memo of
 * what the walk found below it).
 */
#include <stdio.h>
#include <sys/stat.h>

#include "drfs/dr.h"
#include "drfs/limits.h"
#include "drfs/stack.h"

/*
 * An open-addressing map from ids to a value (a pack's retention, a
 * tree's weakest retention); as a set, the values are unused.
 */
struct idmap_ent {
	struct drfs_id id;
	int64_t until;          /* the value: a time, 0 none */
	struct drfs_id weakest; /* the audit: the pack with that time */
};

struct idmap {
	struct idmap_ent *v;
	size_t cap, n;
};

static struct idmap_ent *idmap_slot(struct idmap *m, const struct drfs_id *id)
{
	size_t i = (size_t)drfs_get_le64(id->b) & (m->cap - 1);
	for (; !drfs_id_is_zero(&m->v[i].id); i = (i + 1) & (m->cap - 1))
		if (drfs_id_eq(&m->v[i].id, id))
			break;
	return &m->v[i];
}

/* The entry of id, or NULL. */
static struct idmap_ent *idmap_get(struct idmap *m, const struct drfs_id *id)
{
	if (!m->cap)
		return NULL;
	struct idmap_ent *e = idmap_slot(m, id);
	return drfs_id_is_zero(&e->id) ? NULL : e;
}

/* 1 if id was already in the map (*ret: its entry), 0 if added, -ENOMEM. */
static int idmap_add(struct idmap *m, const struct drfs_id *id,
		     struct idmap_ent **ret)
{
	if (2 * (m->n + 1) > m->cap) {
		struct idmap old = *m;
		size_t cap = m->cap ? 2 * m->cap : 1024;
		m->v = calloc(cap, sizeof(*m->v));
		if (!m->v) {
			*m = old;
			return -ENOMEM;
		}
		m->cap = cap;
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (!drfs_id_is_zero(&old.v[i].id)) {
				*idmap_slot(m, &old.v[i].id) = old.v[i];
				m->n++;
			}
		free(old.v);
	}
	struct idmap_ent *e = idmap_slot(m, id);
	if (ret)
		*ret = e;
	if (!drfs_id_is_zero(&e->id))
		return 1;
	memset(e, 0, sizeof(*e));
	e->id = *id;
	m->n++;
	return 0;
}

/* ---- the retention plan ----------------------------------------------- */

struct plan {
	struct drfs_repo *r;
	drfs_retain_fn cb;
	void *ud;
	struct drfs_idset trees, packs;
	time_t until;
	int count;
};

static int plan_blob(struct plan *p, const struct drfs_id *id)
{
	struct drfs_id pack;
	char name[DRFS_OBJECT_NAME_MAX];
	int e = drfs_repo_blob_find(p->r, id, NULL, &pack);
	if (e < 0)
		return e;
	e = drfs_idset_add(&p->packs, &pack);
	if (e != 0)
		return e < 0 ? e : 0;
	drfs_name_pack(&pack, name);
	p->count++;
	return p->cb(p->ud, name, p->until);
}

/* Plan tree id and enter it, unless it was planned already. */
static int plan_enter(struct plan *p, struct drfs_tree_walk *w,
		      const struct drfs_id *id)
{
	int e = drfs_idset_add(&p->trees, id);
	if (e != 0)
		return e < 0 ? e : 0;
	e = plan_blob(p, id);
	return e < 0 ? e : drfs_tree_walk_push(w, id);
}

/*
 * Snapshots are planned newest first, so a tree met again belongs to an
 * older snapshot whose until is earlier: its objects are already planned
 * with a later time, and it is not walked again. Depth-first on the heap
 * (any depth).
 */
static int plan_tree(struct plan *p, const struct drfs_id *root)
{
	struct drfs_tree_walk w;
	struct drfs_node *n;
	drfs_tree_walk_init(&w, drfs_repo_blob_reader, p->r);
	int e = plan_enter(p, &w, root);
	while (e >= 0 && drfs_tree_walk_depth(&w)) {
		struct drfs_extent x;
		e = drfs_tree_walk_next(&w, &n);
		if (e == 0) {
			drfs_tree_walk_pop(&w);
			continue;
		}
		while (e >= 0 && drfs_node_next_extent(n, &x) > 0)
			e = plan_blob(p, &x.id);
		if (e >= 0 && S_ISDIR(n->mode))
			e = plan_enter(p, &w, &n->subtree);
	}
	drfs_tree_walk_release(&w);
	return e;
}

struct key_names {
	drfs_retain_fn cb;
	void *ud;
	time_t until;
	int count;
};

static int plan_key(const char *name, uint64_t size, void *userdata)
{
	struct key_names *k = userdata;
	(void)size;
	k->count++;
	return k->cb(k->ud, name, k->until);
}

int drfs_retention_plan(struct drfs_repo *r, int64_t window, time_t now,
			drfs_retain_fn cb, void *userdata)
{
	struct plan p = { .r = r, .cb = cb, .ud = userdata };
	struct drfs_snap_info *v;
	size_t n;
	time_t latest = 0;
	int e;

	if (window <= 0)
		return -EINVAL;
	e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		return e;
	for (size_t i = n; e >= 0 && i-- > 0;) {
		char name[DRFS_OBJECT_NAME_MAX];
		if ((int64_t)v[i].snap.time.tv_sec < (int64_t)now - window)
			break; /* oldest first: the rest is older still */
		p.until = v[i].snap.time.tv_sec + (time_t)window;
		if (!latest)
			latest = p.until;
		drfs_name_snapshot(&v[i].id, name);
		p.count++;
		e = cb(userdata, name, p.until);
		e = e ?: plan_tree(&p, &v[i].snap.root);
		if (e >= 0 && !drfs_id_is_zero(&v[i].snap.meta))
			e = plan_tree(&p, &v[i].snap.meta);
	}
	free(v);
	if (e >= 0 && latest) {
		struct key_names k = { cb, userdata, latest, 0 };
		e = drfs_backend_list(r->be, "keys/", plan_key, &k);
		p.count += k.count;
		if (e >= 0) {
			p.count++;
			e = cb(userdata, "config", latest);
		}
	}
	drfs_idset_free(&p.trees);
	drfs_idset_free(&p.packs);
	return e < 0 ? e : p.count;
}

/* ---- the audit ---------------------------------------------------------- */

struct audit {
	struct drfs_repo *r;
	struct idmap packs; /* pack -> retained until (0 none) */
	struct idmap trees; /* tree -> the earliest end below it, and where */
};

/* The retention end of object name (0 none or missing). */
static int object_until(struct audit *a, const char *name, int64_t *ret)
{
	int64_t until = 0;
	bool compliance;
	int e = drfs_backend_get_retention(a->r->be, name, &until,
					   &compliance);
	if (e == -ENOENT || e == 0)
		until = 0;
	else if (e < 0)
		return e;
	*ret = until;
	return 0;
}

/* Fold blob id's pack into *min (the earliest end, *weak its pack). */
static int audit_blob(struct audit *a, const struct drfs_id *id, int64_t *min,
		      struct drfs_id *weak)
{
	struct drfs_id pack;
	struct idmap_ent *pe;
	int e = drfs_repo_blob_find(a->r, id, NULL, &pack);
	if (e < 0)
		return e;
	e = idmap_add(&a->packs, &pack, &pe);
	if (e < 0)
		return e;
	if (e == 0) {
		char name[DRFS_OBJECT_NAME_MAX];
		int64_t until;
		drfs_name_pack(&pack, name);
		e = object_until(a, name, &until);
		if (e < 0)
			return e;
		pe = idmap_get(&a->packs, &pack);
		pe->until = until;
	}
	if (pe->until < *min) {
		*min = pe->until;
		*weak = pack;
	}
	return 0;
}

/* What a tree of the audit's walk found below it so far. */
struct audit_frame {
	int64_t min;
	struct drfs_id weak;
};

/* Fold a memoized tree (or a finished frame) into *min and *weak. */
static void fold(int64_t until, const struct drfs_id *w, int64_t *min,
		 struct drfs_id *weak)
{
	if (until < *min) {
		*min = until;
		*weak = *w;
	}
}

/*
 * Enter tree id: memoized already, fold it into the top frame f (or *min
 * with no frame yet); else in the memo (a tree that met itself again,
 * impossible with content-addressed ids, adds nothing), a new frame with
 * its own pack, and a level of the walk.
 */
static int audit_enter(struct audit *a, struct drfs_tree_walk *w,
		       struct drfs_stack *frames, const struct drfs_id *id,
		       int64_t *min, struct drfs_id *weak)
{
	struct audit_frame *f = drfs_stack_top(frames);
	struct idmap_ent *te = idmap_get(&a->trees, id);
	if (te) {
		if (f)
			fold(te->until, &te->weakest, &f->min, &f->weak);
		else
			fold(te->until, &te->weakest, min, weak);
		return 0;
	}
	int e = idmap_add(&a->trees, id, &te);
	if (e < 0)
		return e;
	te->until = INT64_MAX;
	if (!(f = drfs_stack_next(frames)))
		return -ENOMEM;
	f->min = INT64_MAX;
	memset(&f->weak, 0, sizeof(f->weak));
	e = audit_blob(a, id, &f->min, &f->weak);
	e = e ?: drfs_tree_walk_push(w, id);
	if (e >= 0)
		frames->depth++;
	return e;
}

/*
 * The earliest retention end of what tree root needs, folded into *min
 * (*weak: the pack with it); each tree's is memoized. Depth-first on the
 * heap (any depth).
 */
static int audit_tree(struct audit *a, const struct drfs_id *root,
		      int64_t *min, struct drfs_id *weak)
{
	struct drfs_tree_walk w;
	struct drfs_stack frames;
	struct drfs_node *n;
	drfs_tree_walk_init(&w, drfs_repo_blob_reader, a->r);
	drfs_stack_init(&frames, sizeof(struct audit_frame));
	int e = audit_enter(a, &w, &frames, root, min, weak);
	while (e >= 0 && drfs_tree_walk_depth(&w)) {
		struct audit_frame *f = drfs_stack_top(&frames);
		struct drfs_extent x;
		e = drfs_tree_walk_next(&w, &n);
		if (e > 0) {
			while (e >= 0 && drfs_node_next_extent(n, &x) > 0)
				e = audit_blob(a, &x.id, &f->min, &f->weak);
			if (e >= 0 && S_ISDIR(n->mode))
				e = audit_enter(a, &w, &frames, &n->subtree,
						min, weak);
			continue;
		}
		if (e < 0)
			break;
		/* the end of the deepest tree: memoized, folded upwards */
		struct idmap_ent *te =
			idmap_get(&a->trees, &drfs_tree_walk_top(&w)->id);
		te->until = f->min;
		te->weakest = f->weak;
		drfs_tree_walk_pop(&w);
		frames.depth--;
		struct audit_frame *up = drfs_stack_top(&frames);
		if (up)
			fold(f->min, &f->weak, &up->min, &up->weak);
		else
			fold(f->min, &f->weak, min, weak);
	}
	drfs_tree_walk_release(&w);
	drfs_stack_release(&frames, NULL);
	return e;
}

/* The earliest end among config and keys/ (what every restore needs). */
struct keys_until {
	struct audit *a;
	int64_t min;
	char weak[DRFS_OBJECT_NAME_MAX];
};

static int audit_key(const char *name, uint64_t size, void *userdata)
{
	struct keys_until *k = userdata;
	int64_t until;
	(void)size;
	int e = object_until(k->a, name, &until);
	if (e >= 0 && until < k->min) {
		k->min = until;
		snprintf(k->weak, sizeof(k->weak), "%s", name);
	}
	return e;
}

/* One snapshot: the earliest end of everything it needs, and one object
 * with that end (into weak). */
static int audit_snapshot(struct audit *a, const struct drfs_snap_info *s,
			  const struct keys_until *k, int64_t *ret_min,
			  char weak[DRFS_OBJECT_NAME_MAX])
{
	char name[DRFS_OBJECT_NAME_MAX];
	int64_t min = INT64_MAX, own;
	struct drfs_id wp = { { 0 } };
	int e;

	drfs_name_snapshot(&s->id, name);
	e = object_until(a, name, &own);
	e = e ?: audit_tree(a, &s->snap.root, &min, &wp);
	if (e >= 0 && !drfs_id_is_zero(&s->snap.meta))
		e = audit_tree(a, &s->snap.meta, &min, &wp);
	if (e < 0)
		return e;
	if (min < INT64_MAX)
		drfs_name_pack(&wp, weak);
	if (own <= min) {
		min = own;
		snprintf(weak, DRFS_OBJECT_NAME_MAX, "%s", name);
	}
	if (k->min < min) {
		min = k->min;
		snprintf(weak, DRFS_OBJECT_NAME_MAX, "%s", k->weak);
	}
	*ret_min = min;
	return 0;
}

int drfs_lock_audit(struct drfs_repo *r, time_t now,
		    struct drfs_lock_audit *ret)
{
	struct audit a = { .r = r };
	struct keys_until k = { .a = &a, .min = INT64_MAX };
	struct drfs_lock_audit res = { .protected_until = INT64_MAX };
	struct drfs_snap_info *v = NULL;
	size_t n = 0;
	int64_t until;
	int e;

	if (!r->be->ops->get_retention)
		return -EOPNOTSUPP;
	/* config first: -EOPNOTSUPP when the bucket has no Object Lock */
	e = object_until(&a, "config", &until);
	if (e >= 0) {
		k.min = until;
		snprintf(k.weak, sizeof(k.weak), "config");
		e = drfs_backend_list(r->be, "keys/", audit_key, &k);
	}
	e = e ?: drfs_repo_snapshots(r, &v, &n);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		char weak[DRFS_OBJECT_NAME_MAX];
		e = audit_snapshot(&a, &v[i], &k, &until, weak);
		if (e < 0)
			break;
		res.snapshots++;
		res.latest_unprotected = until <= (int64_t)now;
		if (until > (int64_t)now) {
			res.protected++;
			res.protected_until = MIN(res.protected_until, until);
			continue;
		}
		if (!res.unprotected++) {
			res.oldest_unprotected = v[i];
			snprintf(res.oldest_why, sizeof(res.oldest_why), "%s",
				 weak);
		}
		res.newest_unprotected = v[i];
	}
	free(v);
	free(a.packs.v);
	free(a.trees.v);
	if (e >= 0)
		*ret = res;
	return e;
}
