/* SPDX-License-Identifier: MIT */
/*
 * repair.c - rewrite damaged snapshots so that they reference only what
 * exists (see include/drfs/repair.h for the rules).
 *
 * Each snapshot's trees are walked depth first, on the heap (any depth;
 * paths in messages and tags end in "/..." past PATH_MAX). A tree is
 * "clean" when it reads and nothing below it is damaged: clean trees are
 * remembered (across snapshots) and keep their ids. A damaged tree is
 * re-encoded with the repaired entries and written as a new tree blob; its
 * parents up to the root therefore change too, and a new snapshot object
 * points at the new root. Damaged trees are walked again in every snapshot that
 * holds them, so each snapshot's report and tags name its own entries.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/prune.h"
#include "drfs/repair.h"

struct rp {
	struct drfs_repo *r;
	const struct drfs_repair_opts *o;
	struct drfs_repair_result *res;
	struct drfs_writer *w;       /* NULL for a dry run */
	struct drfs_idset lost;      /* packs that do not exist */
	struct drfs_idset clean;     /* trees with nothing damaged below */
	struct drfs_idset good, bad; /* read_data: data blobs verified */
	struct drfs_buf blob;        /* read_data scratch */
	struct drfs_xattr *xv;       /* DRFS_XATTRS_MAX */
	/* the snapshot being walked */
	const char *folder;
	char **paths;                /* its damaged entries */
	size_t n_paths, cap_paths;
	uint64_t files, dirs, bytes_lost;
	char first[160]; /* why the file being repaired lost its first blob */
	char path[PATH_MAX];
};

static void say(struct rp *p, const char *fmt, ...) _printf_(2, 3);
static void say(struct rp *p, const char *fmt, ...)
{
	char msg[PATH_MAX + 512];
	va_list ap;
	if (!p->o->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->o->report(p->o->report_data, "%s", msg);
}

size_t drfs_extents_cut(struct drfs_extent *v, size_t n, const bool *lost,
			uint64_t *size)
{
	uint64_t shift = 0;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (lost[i]) {
			shift += v[i].len;
			continue;
		}
		v[k] = v[i];
		v[k++].off -= shift;
	}
	*size -= shift;
	return k;
}

int drfs_extents_rewrite(struct drfs_node *n, drfs_extent_fn fn,
			 void *userdata, struct drfs_extent **ret_v,
			 size_t *ret_n, uint64_t *ret_lost_bytes)
{
	size_t cap = n->n_extents ? n->n_extents : 1, k = 0, n_lost = 0;
	struct drfs_extent *v = calloc(cap, sizeof(*v));
	bool *lost = calloc(cap, sizeof(*lost));
	uint64_t size = n->size;
	int e = v && lost ? 0 : -ENOMEM;
	while (e >= 0 && k < n->n_extents &&
	       drfs_node_next_extent(n, &v[k]) > 0) {
		e = fn(userdata, &v[k]);
		if (e > 0) {
			lost[k] = true;
			n_lost++;
		}
		k++;
	}
	if (e >= 0 && n_lost)
		k = drfs_extents_cut(v, k, lost, &size);
	free(lost);
	if (e < 0) {
		free(v);
		return e;
	}
	*ret_lost_bytes = n->size - size;
	n->size = size;
	*ret_v = v;
	*ret_n = k;
	return (int)MIN(n_lost, (size_t)INT_MAX);
}

void drfs_damage_tags(struct drfs_snapshot *s, const char *const *paths,
		      size_t n)
{
	size_t used = 0;
	const char *t = s->tags;
	for (uint32_t i = 0; i < s->n_tags; i++) {
		used += strlen(t) + 1;
		t += strlen(t) + 1;
	}
	/* room kept: "damaged-more:<20 digits>" and one more tag */
	const size_t more_len = strlen(DRFS_DAMAGED_MORE_TAG) + 21;
	size_t i = 0;
	for (; i < n; i++) {
		char tag[DRFS_TAG_MAX + 1];
		snprintf(tag, sizeof(tag), "%s%s", DRFS_DAMAGED_TAG, paths[i]);
		size_t l = strlen(tag);
		if (s->n_tags + 3 > DRFS_TAGS_MAX ||
		    used + l + 1 + more_len + DRFS_TAG_RESERVE > DRFS_TAGS_BUF)
			break;
		memcpy(s->tags + used, tag, l + 1);
		used += l + 1;
		s->n_tags++;
	}
	if (i < n) {
		snprintf(s->tags + used, DRFS_TAGS_BUF - used, "%s%zu",
			 DRFS_DAMAGED_MORE_TAG, n - i);
		s->n_tags++;
	}
}

/* Remember the path of a damaged entry of this snapshot (for its tags). */
static int damaged_path(struct rp *p, const char *path)
{
	if (drfs_grow(&p->paths, &p->cap_paths, p->n_paths, sizeof(*p->paths),
		      16) < 0)
		return -ENOMEM;
	if (!(p->paths[p->n_paths] = strdup(path[0] ? path : ".")))
		return -ENOMEM;
	p->n_paths++;
	return 0;
}

static void paths_clear(struct rp *p)
{
	for (size_t i = 0; i < p->n_paths; i++)
		free(p->paths[i]);
	p->n_paths = 0;
}

/*
 * Why blob id (of type) cannot be used, into why (empty: it can). A blob
 * must be indexed in a pack that exists; a data blob with read_data, and
 * every tree, must also read and verify.
 */
static int blob_state(struct rp *p, const struct drfs_id *id, bool tree,
		      char *why, size_t len)
{
	char hex[DRFS_ID_HEX_LEN + 1], phex[DRFS_ID_HEX_LEN + 1];
	struct drfs_id pack;
	why[0] = 0;
	int e = drfs_repo_blob_find(p->r, id, NULL, &pack);
	if (e == -ENOENT) {
		snprintf(why, len, "%s %.16s is missing",
			 tree ? "tree" : "blob", drfs_id_hex(id, hex));
		return 0;
	}
	if (e < 0)
		return e;
	if (drfs_idset_has(&p->lost, &pack)) {
		snprintf(why, len, "%s %.16s is in missing pack %.16s",
			 tree ? "tree" : "blob", drfs_id_hex(id, hex),
			 drfs_id_hex(&pack, phex));
		return 0;
	}
	if (tree || !p->o->read_data || drfs_idset_has(&p->good, id))
		return 0;
	if (!drfs_idset_has(&p->bad, id)) {
		drfs_buf_reset(&p->blob);
		e = drfs_repo_blob_read(p->r, id, &p->blob);
		if (e < 0 && !drfs_read_lost(e))
			return e;
		e = drfs_idset_add(e >= 0 ? &p->good : &p->bad, id);
		if (e < 0)
			return e;
		if (drfs_idset_has(&p->good, id))
			return 0;
	}
	snprintf(why, len, "blob %.16s does not read", drfs_id_hex(id, hex));
	return 0;
}

/* Store a (new) tree blob; for a dry run only its id. */
static int put_tree(struct rp *p, const struct drfs_buf *t,
		    struct drfs_id *ret)
{
	if (!p->w) {
		drfs_blob_id(&p->r->keys, t->p, t->len, ret);
		return 0;
	}
	int e = drfs_writer_put_blob(p->w, DRFS_BLOB_TREE, t->p, t->len, ret);
	return e < 0 ? e : 0;
}

/* drfs_extent_fn of repair_file: 1 if x's blob cannot be used. */
static int extent_state(void *userdata, struct drfs_extent *x)
{
	struct rp *p = userdata;
	char why[sizeof(p->first)];
	int e = blob_state(p, &x->id, false, why, sizeof(why));
	if (e < 0 || !why[0])
		return e;
	if (!p->first[0])
		memcpy(p->first, why, sizeof(why));
	return 1;
}

/*
 * The extents of a regular file n, with the lost ones cut out (restic's
 * rule). *ret_v (malloc'd) and *ret_n; 1 when something was cut.
 */
static int repair_file(struct rp *p, struct drfs_node *n,
		       struct drfs_extent **ret_v, size_t *ret_n)
{
	uint64_t gone;
	p->first[0] = 0;
	int e = drfs_extents_rewrite(n, extent_state, p, ret_v, ret_n, &gone);
	if (e <= 0)
		return e;
	p->files++;
	p->bytes_lost += gone;
	say(p, "snapshot %s: \"%s\": %llu of %llu bytes lost (%s): cut out",
	    p->folder, p->path + 1, (unsigned long long)gone,
	    (unsigned long long)(n->size + gone), p->first);
	e = damaged_path(p, p->path + 1);
	if (e < 0) {
		free(*ret_v);
		*ret_v = NULL;
		return e;
	}
	return 1;
}

/*
 * rewrite_tree's state per level of its walk: the tree re-encoded with the
 * repaired entries, the length of p->path at it, and whether anything
 * below it changed. Kept for reuse at its depth.
 */
struct rp_level {
	struct drfs_buf out;
	struct drfs_tree_enc enc;
	size_t plen;
	bool changed;
};

static void rp_level_release(void *frame)
{
	struct rp_level *l = frame;
	drfs_tree_enc_release(&l->enc);
	drfs_buf_release(&l->out);
}

/* Entry n, with the extents ev[0..ne), into the tree being rewritten. */
static int rewrite_add(struct rp *p, struct rp_level *l, struct drfs_node *n,
		       const struct drfs_extent *ev, size_t ne)
{
	struct drfs_xattr x;
	size_t nx = 0;
	while (nx < DRFS_XATTRS_MAX && drfs_node_next_xattr(n, &x) > 0)
		p->xv[nx++] = x;
	return drfs_tree_enc_add(&l->enc, n, p->xv, nx, ev, ne);
}

/* Whether all of a tree blob decodes: 0, or -EBADMSG. */
static int tree_decodes(const struct drfs_buf *b)
{
	struct drfs_tree_iter it;
	struct drfs_node n;
	int e = drfs_tree_iter_init(&it, b->p, b->len);
	while (e >= 0 && (e = drfs_tree_iter_next(&it, &n)) > 0)
		;
	return e;
}

enum { RW_ENTERED, RW_CLEAN, RW_LOST };

/*
 * Tree idp, the directory at p->path (plen bytes). RW_CLEAN: nothing
 * below it is damaged (known from an earlier snapshot), *ret = its id.
 * RW_ENTERED: it reads and decodes whole, and is the walk's next level.
 * RW_LOST: it does not, and an empty directory is stored instead (*ret).
 * Or a negative errno.
 */
static int rewrite_enter(struct rp *p, struct drfs_tree_walk *w,
			 struct drfs_stack *lv, const struct drfs_id *idp,
			 size_t plen, struct drfs_id *ret)
{
	const struct drfs_id id = *idp; /* ret may alias */
	char why[160], hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_buf empty;

	if (drfs_idset_has(&p->clean, &id)) {
		*ret = id;
		return RW_CLEAN;
	}
	int e = blob_state(p, &id, true, why, sizeof(why));
	if (e < 0)
		return e;
	if (!why[0]) {
		/* all of it must decode before anything is kept */
		e = drfs_tree_walk_push(w, &id);
		if (e >= 0) {
			e = tree_decodes(&drfs_tree_walk_top(w)->blob);
			if (e < 0)
				drfs_tree_walk_pop(w);
		}
		if (e < 0 && !drfs_read_lost(e))
			return e;
		if (e < 0)
			snprintf(why, sizeof(why), "tree %.16s: %s",
				 drfs_id_hex(&id, hex), drfs_strerror(e));
	}
	if (!why[0]) {
		struct rp_level *l = drfs_stack_next(lv);
		if (!l) {
			drfs_tree_walk_pop(w);
			return -ENOMEM;
		}
		if (!l->out.max)
			drfs_buf_init(&l->out, DRFS_BLOB_MAX);
		drfs_buf_reset(&l->out);
		drfs_tree_enc_init(&l->enc, &l->out);
		l->plen = plen;
		l->changed = false;
		lv->depth++;
		return RW_ENTERED;
	}
	/* lost: an empty directory (version byte only) */
	p->dirs++;
	say(p, "snapshot %s: \"%s/\": directory lost (%s): now empty",
	    p->folder, plen ? p->path + 1 : ".", why);
	drfs_buf_init(&empty, 1);
	e = damaged_path(p, plen ? p->path + 1 : "");
	e = e ?: drfs_buf_u8(&empty, 1);
	e = e ?: put_tree(p, &empty, ret);
	drfs_buf_release(&empty);
	return e < 0 ? e : RW_LOST;
}

/*
 * The deepest tree is done: unchanged, it keeps its id and is remembered
 * as clean; changed, its re-encoding is stored. *ret: its id. 1 changed,
 * 0 not, negative errno.
 */
static int rewrite_leave(struct rp *p, struct drfs_tree_walk *w,
			 struct drfs_stack *lv, struct drfs_id *ret)
{
	struct rp_level *l = drfs_stack_top(lv);
	const struct drfs_id id = drfs_tree_walk_top(w)->id;
	bool changed = l->changed;
	int e;
	if (!changed) {
		*ret = id;
		e = drfs_idset_add(&p->clean, &id);
	} else {
		e = l->out.len ? 0 : drfs_buf_u8(&l->out, 1);
		e = e ?: put_tree(p, &l->out, ret);
	}
	if (e < 0)
		return e;
	drfs_tree_enc_release(&l->enc);
	drfs_tree_walk_pop(w);
	lv->depth--;
	if (changed && lv->depth)
		((struct rp_level *)drfs_stack_top(lv))->changed = true;
	return changed;
}

/*
 * A snapshot's root tree idp, with its damage repaired: *ret is its new
 * id. Depth-first on the heap (any depth): a tree's entry is added to the
 * tree above once the tree is done. 1 changed, 0 clean (*ret = idp's id),
 * negative errno.
 */
static int rewrite_tree(struct rp *p, const struct drfs_id *idp,
			struct drfs_id *ret)
{
	struct drfs_tree_walk w;
	struct drfs_stack lv; /* struct rp_level, one per level of w */
	struct drfs_node *n;
	struct drfs_id to = *idp;
	int e, changed = 0;

	drfs_tree_walk_init(&w, drfs_repo_blob_reader, p->r);
	drfs_stack_init(&lv, sizeof(struct rp_level));
	p->path[0] = 0;
	e = rewrite_enter(p, &w, &lv, idp, 0, &to);
	changed = e == RW_LOST;
	while (e >= 0 && lv.depth) {
		struct rp_level *l = drfs_stack_top(&lv);
		e = drfs_tree_walk_next(&w, &n);
		if (e < 0)
			break; /* it decoded whole when entered */
		if (e == 0) {
			p->path[l->plen & ~DRFS_WALK_PATH_CUT] = 0;
			e = rewrite_leave(p, &w, &lv, &to);
			if (e < 0 || !lv.depth) {
				changed = e > 0;
				break;
			}
			/* the entry above, waiting for this tree */
			l = drfs_stack_top(&lv);
			n = &drfs_tree_walk_top(&w)->node;
			n->subtree = to;
			e = rewrite_add(p, l, n, NULL, 0);
			continue;
		}
		size_t at = drfs_walk_path_add(p->path, sizeof(p->path),
					       l->plen, n->name, n->name_len);
		if (S_ISDIR(n->mode)) {
			e = rewrite_enter(p, &w, &lv, &n->subtree, at,
					  &n->subtree);
			if (e == RW_ENTERED)
				continue;
			if (e < 0)
				break;
			l->changed |= e == RW_LOST;
			e = rewrite_add(p, l, n, NULL, 0);
		} else if (S_ISREG(n->mode)) {
			struct drfs_extent *ev = NULL;
			size_t ne = 0;
			e = repair_file(p, n, &ev, &ne);
			if (e >= 0) {
				l->changed |= e > 0;
				e = rewrite_add(p, l, n, ev, ne);
			}
			free(ev);
		} else {
			e = rewrite_add(p, l, n, NULL, 0);
		}
	}
	if (e >= 0)
		*ret = to; /* the last tree done: the first one entered */
	drfs_stack_release(&lv, rp_level_release);
	drfs_tree_walk_release(&w);
	return e < 0 ? e : changed;
}

/*
 * The snapshot's "meta" tree (one entry, "root", the directory itself,
 * whose subtree is the root) pointing at new_root. Lost: zero (none).
 */
static int rewrite_meta(struct rp *p, const struct drfs_snapshot *s,
			const struct drfs_id *new_root, struct drfs_id *ret)
{
	struct drfs_buf in, out;
	struct drfs_tree_iter it;
	struct drfs_tree_enc enc;
	struct drfs_node n;
	char why[160];
	int e;

	*ret = s->meta;
	if (drfs_id_is_zero(&s->meta))
		return 0;
	drfs_buf_init(&in, DRFS_BLOB_MAX);
	drfs_buf_init(&out, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &out);
	e = blob_state(p, &s->meta, true, why, sizeof(why));
	if (e >= 0 && !why[0]) {
		e = drfs_repo_blob_read(p->r, &s->meta, &in);
		e = e ?: drfs_tree_iter_init(&it, in.p, in.len);
		while (e >= 0 && (e = drfs_tree_iter_next(&it, &n)) > 0) {
			size_t nx = 0;
			struct drfs_xattr x;
			while (nx < DRFS_XATTRS_MAX &&
			       drfs_node_next_xattr(&n, &x) > 0)
				p->xv[nx++] = x;
			if (S_ISDIR(n.mode) && drfs_id_eq(&n.subtree, &s->root))
				n.subtree = *new_root;
			e = drfs_tree_enc_add(&enc, &n, p->xv, nx, NULL, 0);
		}
		if (drfs_read_lost(e))
			snprintf(why, sizeof(why), "tree %.16s: %s",
				 drfs_id_hex(&s->meta,
					     (char[DRFS_ID_HEX_LEN + 1]){ 0 }),
				 drfs_strerror(e));
		else if (e >= 0 && !drfs_id_eq(new_root, &s->root))
			e = put_tree(p, &out, ret);
	}
	if (e >= 0 && why[0]) {
		memset(ret, 0, sizeof(*ret));
		say(p, "snapshot %s: the root directory's own metadata is lost "
		       "(%s)", p->folder, why);
		e = damaged_path(p, ".");
	}
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&in);
	drfs_buf_release(&out);
	return e < 0 ? e : 0;
}

/* Tags of a repaired snapshot: s's, an earlier repair's marks replaced. */
static void repaired_tags(struct drfs_snapshot *ns,
			  const struct drfs_snap_info *s,
			  const char *const *paths, size_t n)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	const char *t = s->snap.tags;
	size_t used = 0;
	ns->n_tags = 0;
	for (uint32_t i = 0; i < s->snap.n_tags; i++, t += strlen(t) + 1) {
		if (!strncmp(t, DRFS_REPAIRED_TAG, strlen(DRFS_REPAIRED_TAG)) ||
		    !strncmp(t, DRFS_DAMAGED_MORE_TAG,
			     strlen(DRFS_DAMAGED_MORE_TAG)))
			continue;
		memmove(ns->tags + used, t, strlen(t) + 1);
		used += strlen(t) + 1;
		ns->n_tags++;
	}
	/* the original's tags fit in DRFS_TAGS_BUF; this one needs room */
	size_t l = strlen(DRFS_REPAIRED_TAG) + DRFS_ID_HEX_LEN + 1;
	if (used + l <= DRFS_TAGS_BUF && ns->n_tags < DRFS_TAGS_MAX) {
		snprintf(ns->tags + used, l, "%s%s", DRFS_REPAIRED_TAG,
			 drfs_id_hex(&s->id, hex));
		ns->n_tags++;
	}
	drfs_damage_tags(ns, paths, n);
}

/* The snapshot (of v[0..n)) that already replaces s, from a former run. */
static const struct drfs_snap_info *
replacement_of(const struct drfs_snap_info *v, size_t n,
	       const struct drfs_snap_info *s)
{
	char tag[sizeof(DRFS_REPAIRED_TAG) + DRFS_ID_HEX_LEN];
	char hex[DRFS_ID_HEX_LEN + 1];
	snprintf(tag, sizeof(tag), "%s%s", DRFS_REPAIRED_TAG,
		 drfs_id_hex(&s->id, hex));
	for (size_t i = 0; i < n; i++)
		if (drfs_snapshot_has_tag(&v[i].snap, tag))
			return &v[i];
	return NULL;
}

/*
 * Walk snapshot s; when damaged, write its replacement (unless a dry run)
 * into *ret_new. 1 damaged, 0 intact, negative errno.
 */
static int repair_one(struct rp *p, const struct drfs_snap_info *s,
		      const struct drfs_snap_info *v, size_t nv,
		      struct drfs_id *new_ids, struct drfs_id *ret_new)
{
	struct drfs_snapshot *ns;
	struct drfs_id root, meta;
	char hex[DRFS_ID_HEX_LEN + 1], nhex[DRFS_ID_HEX_LEN + 1];
	int e;

	struct drfs_writer_stats st0 = { 0 }, st1;
	if (p->w)
		drfs_writer_get_stats(p->w, &st0);
	p->folder = s->folder;
	p->files = p->dirs = p->bytes_lost = 0;
	paths_clear(p);
	e = rewrite_tree(p, &s->snap.root, &root);
	if (e >= 0)
		e = rewrite_meta(p, &s->snap, &root, &meta);
	if (e < 0 || (!p->n_paths && drfs_id_eq(&root, &s->snap.root)))
		return e;
	drfs_id_hex(&s->id, hex);
	p->res->files += p->files;
	p->res->dirs += p->dirs;
	p->res->bytes_lost += p->bytes_lost;
	const struct drfs_snap_info *done = replacement_of(v, nv, s);
	if (done) {
		say(p, "snapshot %s (%.8s): already repaired as %.8s",
		    s->folder, hex, drfs_id_hex(&done->id, nhex));
		*ret_new = done->id;
		return 1;
	}
	if (!p->w) {
		say(p, "snapshot %s (%.8s): would be repaired: %llu file(s) "
		       "cut, %llu director%s emptied", s->folder, hex,
		    (unsigned long long)p->files, (unsigned long long)p->dirs,
		    p->dirs == 1 ? "y" : "ies");
		memset(ret_new, 0, sizeof(*ret_new));
		return 1;
	}
	ns = malloc(sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	*ns = s->snap;
	ns->root = root;
	ns->meta = meta;
	ns->bytes = ns->bytes > p->bytes_lost ? ns->bytes - p->bytes_lost : 0;
	repaired_tags(ns, s, (const char *const *)p->paths, p->n_paths);
	/* a parent repaired in this run: its replacement */
	for (const struct drfs_snap_info *q = v; q < s; q++)
		if (drfs_id_eq(&q->id, &ns->parent) &&
		    !drfs_id_is_zero(&new_ids[q - v]))
			ns->parent = new_ids[q - v];
	e = drfs_writer_flush(p->w);
	drfs_writer_get_stats(p->w, &st1);
	ns->added_bytes = st1.bytes_stored - st0.bytes_stored;
	ns->added_blobs = st1.blobs_new - st0.blobs_new;
	/* the backup keeps its folder name, unless the damaged snapshot is
	 * held: it stays, with its name, next to a newly named copy */
	int held = e < 0 ? e : drfs_hold_check(p->r, &s->id);
	if (held > 0)
		e = drfs_repo_snapshot_write(p->r, ns, ret_new);
	else if (held == 0)
		e = drfs_repo_snapshot_replace(p->r, ns, s, ret_new);
	else
		e = held;
	free(ns);
	if (e < 0)
		return e;
	say(p, "snapshot %s (%.8s): repaired as %.8s: %llu file(s) cut, "
	       "%llu director%s emptied", s->folder, hex,
	    drfs_id_hex(ret_new, nhex), (unsigned long long)p->files,
	    (unsigned long long)p->dirs, p->dirs == 1 ? "y" : "ies");
	return 1;
}

int drfs_repair_snapshots(struct drfs_repo *r, const struct drfs_repair_opts *o,
			  struct drfs_repair_result *ret)
{
	struct drfs_repair_result res = { 0 };
	struct rp p = { .r = r, .o = o, .res = &res };
	struct drfs_snap_info *v = NULL;
	struct drfs_id *new_ids = NULL;
	size_t n = 0;
	bool index_damaged = false;
	int e;

	drfs_buf_init(&p.blob, DRFS_BLOB_MAX);
	p.xv = malloc(DRFS_XATTRS_MAX * sizeof(*p.xv));
	if (!p.xv) {
		e = -ENOMEM;
		goto out;
	}
	if (o->dry_run) {
		/* the cache stays as it is: its packs that are gone */
		e = drfs_repo_missing_packs(r, &p.lost);
	} else {
		/* the cache as the repository is: lost packs out (reported),
		 * so that no new blob is deduplicated against one of theirs */
		e = drfs_repo_repair_index(r);
		index_damaged = r->damaged > 0;
		e = e ?: drfs_writer_new(r, &p.w);
	}
	if (e < 0)
		goto out;
	e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		goto out;
	new_ids = calloc(n ? n : 1, sizeof(*new_ids));
	if (!new_ids) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; e >= 0 && i < n; i++) {
		res.snapshots++;
		e = repair_one(&p, &v[i], v, n, new_ids, &new_ids[i]);
		if (e > 0)
			res.repaired++;
	}
	if (e < 0 || o->dry_run)
		goto out;
	/* only now that their replacements are durable: forget them */
	for (size_t i = 0; e >= 0 && i < n; i++) {
		char hex[DRFS_ID_HEX_LEN + 1];
		if (drfs_id_is_zero(&new_ids[i]))
			continue;
		e = drfs_forget(r, &v[i].id, 1);
		if (e == -EBUSY) {
			res.kept_held++;
			say(&p, "snapshot %s (%.8s) is held: kept next to its "
				"repaired copy (release and forget it)",
			    v[i].folder, drfs_id_hex(&v[i].id, hex));
			e = 0;
		}
	}
	/* an index without the lost packs and the damaged index objects */
	if (e >= 0 && index_damaged)
		e = drfs_repo_write_full_index(r);
out:
	drfs_writer_free(p.w);
	paths_clear(&p);
	free(p.paths);
	free(p.xv);
	free(v);
	free(new_ids);
	drfs_buf_release(&p.blob);
	drfs_idset_free(&p.lost);
	drfs_idset_free(&p.clean);
	drfs_idset_free(&p.good);
	drfs_idset_free(&p.bad);
	if (e >= 0) {
		*ret = res;
		e = 0;
	}
	return e;
}
