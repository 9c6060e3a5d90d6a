/* SPDX-License-Identifier: MIT */
/*
 * commit.c - the commit of now/ into a snapshot. nowint.h has the layout and
 * the locks.
 */
#include <malloc.h>

#include "nowint.h"

/* ---- commit ------------------------------------------------------------ */

struct agg {
	uint64_t files, dirs, bytes;
};

struct dir_upd {
	uint64_t ino;
	struct drfs_id tree;
	struct agg agg;
};


static int put_tree(struct drfs_now *n, const void *p, size_t len,
		    struct drfs_id *ret)
{
	pthread_mutex_lock(&n->wlock);
	int e = n->w ? drfs_writer_put_blob(n->w, DRFS_BLOB_TREE, p, len, ret)
		     : -EIO;
	pthread_mutex_unlock(&n->wlock);
	return e < 0 ? e : 0;
}

static int upd_push(struct commit *c, uint64_t ino, const struct drfs_id *tree,
		    const struct agg *a)
{
	if (c->n_upd == c->cap_upd) {
		size_t cap = c->cap_upd ? 2 * c->cap_upd : 64;
		void *p = realloc(c->upd, cap * sizeof(*c->upd));
		if (!p)
			return -ENOMEM;
		c->upd = p;
		c->cap_upd = cap;
	}
	c->upd[c->n_upd++] = (struct dir_upd){ ino, *tree, *a };
	return 0;
}

static int read_blob_fn(void *n, const struct drfs_id *id,
			struct drfs_buf *out)
{
	return now_read_blob(n, id, out);
}

/*
 * Statistics of a stored tree (directories not yet copied into LMDB),
 * depth-first on the heap: any depth.
 */
static int tree_agg(struct drfs_now *n, const struct drfs_id *tree,
		    struct agg *a)
{
	struct drfs_tree_walk w;
	struct drfs_node *nd;
	drfs_tree_walk_init(&w, read_blob_fn, n);
	int e = drfs_tree_walk_push(&w, tree);
	while (e >= 0 && drfs_tree_walk_depth(&w)) {
		e = drfs_tree_walk_next(&w, &nd);
		if (e == 0) {
			a->dirs++;
			drfs_tree_walk_pop(&w);
		} else if (e > 0 && S_ISREG(nd->mode)) {
			a->files++;
			a->bytes += nd->size;
		} else if (e > 0 && S_ISDIR(nd->mode)) {
			e = drfs_tree_walk_push(&w, &nd->subtree);
		}
	}
	drfs_tree_walk_release(&w);
	return e;
}

struct names_scan {
	uint64_t dir;
	struct drfs_buf *out; /* le16 len | name | be64 ino, repeated */
};

static int names_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *ud)
{
	struct names_scan *s = ud;
	const uint8_t *k = key;
	uint8_t l[2];
	if (klen <= 9 || k[0] != 'n' || now_get_be64(k + 1) != s->dir)
		return 1;
	if (vlen != 16)
		return -EBADMSG;
	drfs_put_le16(l, (uint16_t)(klen - 9));
	int e = drfs_buf_append(s->out, l, 2);
	e = e ?: drfs_buf_append(s->out, k + 9, klen - 9);
	return e ?: drfs_buf_append(s->out, val, 8);
}

struct xa_scan {
	uint64_t ino;
	struct drfs_buf *out; /* le16 nlen | name | le32 vlen | value */
	size_t n;
};

static int xa_cb(const void *key, size_t klen, const void *val, size_t vlen,
		 void *ud)
{
	struct xa_scan *s = ud;
	const uint8_t *k = key;
	uint8_t l[4];
	if (klen <= 8 || now_get_be64(k) != s->ino)
		return 1;
	drfs_put_le16(l, (uint16_t)(klen - 8));
	int e = drfs_buf_append(s->out, l, 2);
	e = e ?: drfs_buf_append(s->out, k + 8, klen - 8);
	drfs_put_le32(l, (uint32_t)vlen);
	e = e ?: drfs_buf_append(s->out, l, 4);
	e = e ?: drfs_buf_append(s->out, val, vlen);
	s->n++;
	return e;
}

/* Xattrs of ino as an array pointing into buf. */
static int load_xattrs(struct drfs_txn *t, uint64_t ino, struct drfs_buf *buf,
		       struct drfs_xattr **ret, size_t *ret_n)
{
	uint8_t k[8];
	struct xa_scan s = { .ino = ino, .out = buf };
	now_put_be64(k, ino);
	int e = drfs_kv_scan(t, DRFS_DB_NOW_XATTRS, k, 8, xa_cb, &s);
	if (e < 0)
		return e;
	struct drfs_xattr *v = calloc(s.n ? s.n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t off = 0;
	for (size_t i = 0; i < s.n; i++) {
		v[i].name_len = drfs_get_le16(buf->p + off);
		v[i].name = buf->p + off + 2;
		off += 2 + v[i].name_len;
		v[i].value_len = drfs_get_le32(buf->p + off);
		v[i].value = buf->p + off + 4;
		off += 4 + v[i].value_len;
	}
	*ret = v;
	*ret_n = s.n;
	return 0;
}

static void node_from_rec(struct drfs_now *n, struct drfs_node *nd,
			  const struct rec *r)
{
	memset(nd, 0, sizeof(*nd));
	nd->mode = r->mode;
	nd->uid = r->uid;
	nd->gid = r->gid;
	nd->mtime = r->mtime;
	nd->atime = r->atime;
	nd->ctime = r->ctime;
	nd->size = S_ISREG(r->mode) || S_ISLNK(r->mode) || S_ISDIR(r->mode)
			   ? r->size
			   : 0;
	nd->nlink = r->nlink;
	nd->ino = now_tree_ino(n, r);
	nd->rdev = r->rdev;
	if (S_ISLNK(r->mode)) {
		nd->target = (const uint8_t *)r->target;
		nd->target_len = r->target_len;
	}
}

struct lcount {
	uint64_t child, sum;
};

static int lcount_cb(const void *key, size_t klen, const void *val,
		     size_t vlen, void *ud)
{
	struct lcount *l = ud;
	const uint8_t *k = key;
	if (klen != 17 || k[0] != 'p' || now_get_be64(k + 1) != l->child)
		return 1;
	if (vlen == 4)
		l->sum += drfs_get_le32(val);
	return 0;
}

/* Links of ino in directories copied into LMDB. */
static int link_count(struct drfs_txn *t, uint64_t ino, uint64_t *ret)
{
	uint8_t k[9] = { 'p' };
	struct lcount l = { .child = ino };
	now_put_be64(k + 1, ino);
	int e = drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, lcount_cb, &l);
	*ret = l.sum;
	return e;
}

struct subdirs {
	struct drfs_txn *t;
	uint64_t dir;
	struct ino_list *out;
};

static int subdirs_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ud)
{
	struct subdirs *s = ud;
	const uint8_t *k = key;
	struct rec r;
	if (klen <= 9 || k[0] != 'n' || now_get_be64(k + 1) != s->dir)
		return 1;
	if (vlen != 16)
		return -EBADMSG;
	if (now_rec_get(s->t, now_get_be64(val), &r) == 0 && S_ISDIR(r.mode))
		return now_ino_list_push(s->out, r.ino);
	return 0;
}

/*
 * Copy every directory into LMDB, then mark dirty every directory holding
 * a link to one of the inodes in changed: a hard-link group changed through
 * one name must be written with its new content under all of its names.
 */
static int materialize_all(struct drfs_now *n, const struct ino_list *changed)
{
	struct ino_list todo = { 0 };
	struct drfs_txn *t;
	int e = now_ino_list_push(&todo, DRFS_NOW_ROOT);
	while (e >= 0 && todo.n) {
		uint64_t dir = todo.v[--todo.n];
		uint8_t k[9] = { 'n' };
		e = now_ensure_mat(n, dir);
		if (e < 0)
			break;
		e = now_txn(n, false, &t);
		if (e < 0)
			break;
		struct subdirs s = { .t = t, .dir = dir, .out = &todo };
		now_put_be64(k + 1, dir);
		e = drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, subdirs_cb, &s);
		drfs_txn_abort(t);
	}
	free(todo.v);
	if (e < 0)
		return e;
	e = now_txn(n, true, &t);
	if (e < 0)
		return e;
	for (size_t i = 0; e >= 0 && i < changed->n; i++) {
		struct ino_list ps = { 0 };
		e = now_parents_of(t, changed->v[i], &ps);
		for (size_t j = 0; e >= 0 && j < ps.n; j++)
			e = now_mark_dirty(n, t, ps.v[j]);
		free(ps.v);
	}
	if (e >= 0)
		return now_commit(n, t);
	drfs_txn_abort(t);
	return e;
}

/*
 * A directory being encoded by commit_dir: one level of its walk, kept for
 * reuse at its depth.
 */
struct commit_level {
	struct rec *d;         /* the directory (a rec is 4 KiB: heap) */
	const uint8_t *name;   /* its name, in the names of the level above */
	size_t name_len;
	struct drfs_buf names; /* its entries: le16 len | name | be64 ino */
	size_t off;            /* the next of them */
	struct drfs_buf tree;
	struct drfs_tree_enc enc;
	struct agg a;
};

static void level_release(void *frame)
{
	struct commit_level *l = frame;
	drfs_tree_enc_release(&l->enc);
	drfs_buf_release(&l->names);
	drfs_buf_release(&l->tree);
	free(l->d);
}

/*
 * The level below the deepest of w (struct commit_level), allocated if need
 * be, not yet entered; NULL if out of memory.
 */
static struct commit_level *level_next(struct drfs_stack *w)
{
	struct commit_level *l = drfs_stack_next(w);
	if (l && !l->d) {
		l->d = malloc(sizeof(*l->d));
		drfs_buf_init(&l->names, SIZE_MAX / 2);
		drfs_buf_init(&l->tree, DRFS_BLOB_MAX);
	}
	return l && l->d ? l : NULL;
}

/*
 * Start directory l->d (l from level_next): 0 with its tree and statistics
 * if they are stored already, 1 once it is the deepest level, to encode.
 */
static int commit_dir_begin(struct commit *c, struct drfs_stack *w,
			    struct commit_level *l, struct drfs_id *ret_tree,
			    struct agg *ret_agg)
{
	struct drfs_now *n = c->n;
	const struct rec *d = l->d;
	struct agg a = { .dirs = 1 };
	int e;

	bool encode = (d->flags & I_MAT) &&
		      ((d->flags & I_DIRTY) || drfs_id_is_zero(&d->tree));
	if (!encode) {
		*ret_tree = d->tree;
		if (d->flags & I_AGG) {
			*ret_agg = (struct agg){ d->agg_files, d->agg_dirs,
						 d->agg_bytes };
			return 0;
		}
		e = tree_agg(n, &d->tree, &a);
		if (e < 0)
			return e;
		a.dirs--; /* counted by tree_agg and the initializer */
		*ret_agg = a;
		e = upd_push(c, d->ino, ret_tree, &a);
		return e < 0 ? e : 0;
	}
	/* a directory met again on its own path: LMDB is corrupted */
	for (size_t i = 0; i < w->depth; i++)
		if (((struct commit_level *)drfs_stack_at(w, i))->d->ino ==
		    d->ino)
			return -ELOOP;
	struct names_scan ns = { .dir = d->ino, .out = &l->names };
	uint8_t k[9] = { 'n' };
	now_put_be64(k + 1, d->ino);
	drfs_buf_reset(&l->names);
	e = drfs_kv_scan(c->t, DRFS_DB_NOW_DIRENTS, k, 9, names_cb, &ns);
	if (e < 0)
		return e;
	l->off = 0;
	l->a = a;
	drfs_buf_reset(&l->tree);
	drfs_tree_enc_init(&l->enc, &l->tree);
	w->depth++;
	return 1;
}

/* The deepest directory is encoded: store its tree, leave it. */
static int commit_dir_end(struct commit *c, struct drfs_stack *w,
			  struct drfs_id *ret_tree, struct agg *ret_agg)
{
	struct commit_level *l = drfs_stack_top(w);
	int e = 0;
	if (l->tree.len == 0)
		e = drfs_buf_u8(&l->tree, 1);
	e = e < 0 ? e : put_tree(c->n, l->tree.p, l->tree.len, ret_tree);
	e = e < 0 ? e : upd_push(c, l->d->ino, ret_tree, &l->a);
	if (e >= 0)
		*ret_agg = l->a;
	drfs_tree_enc_release(&l->enc);
	w->depth--;
	/* a level keeps at most 1 MiB for the next directory at its depth */
	if (l->names.cap > (1u << 20))
		drfs_buf_release(&l->names);
	if (l->tree.cap > (1u << 20))
		drfs_buf_release(&l->tree);
	return e;
}

/*
 * Entry l->d (named l->name) of directory p being encoded; for a
 * directory, with its tree and statistics sub.
 */
static int commit_entry(struct commit *c, struct commit_level *p,
			const struct commit_level *l,
			const struct drfs_id *subtree, const struct agg *sub)
{
	struct drfs_now *n = c->n;
	const struct rec *r = l->d;
	uint64_t ino = r->ino;
	struct agg *a = &p->a;
	struct drfs_node nd;
	struct drfs_buf xbuf;
	struct drfs_xattr *xv = NULL;
	size_t nx = 0;
	struct ext_scan s = { 0 };
	int e = 0;

	drfs_buf_init(&xbuf, 1u << 30);
	node_from_rec(n, &nd, r);
	nd.name = l->name;
	nd.name_len = l->name_len;
	if (S_ISDIR(r->mode)) {
		nd.subtree = *subtree;
		a->files += sub->files;
		a->dirs += sub->dirs;
		a->bytes += sub->bytes;
	} else {
		if (S_ISREG(r->mode)) {
			a->files++;
			a->bytes += r->size;
			e = now_ext_range(c->t, ino, 0, UINT64_MAX, &s);
		}
	}
	if (e >= 0 && (r->flags & I_DIRTY))
		e = now_ino_list_push(&c->clean, ino);
	if (e >= 0 && !S_ISDIR(r->mode) && (r->flags & I_DIRTY) &&
	    r->src_ino && r->nlink > 1) {
		uint64_t links = 0;
		e = link_count(c->t, ino, &links);
		if (e >= 0 && links < r->nlink)
			e = now_ino_list_push(&c->unreached, ino);
	}
	e = e < 0 ? e : load_xattrs(c->t, ino, &xbuf, &xv, &nx);
	e = e < 0 ? e : drfs_tree_enc_add(&p->enc, &nd, xv, nx, s.v, s.n);
	free(xv);
	free(s.v);
	drfs_buf_release(&xbuf);
	return e;
}

/*
 * The tree and statistics of directory root, encoding every directory
 * changed since its tree was stored: depth-first, the path from root to
 * the directory being encoded on the heap, not the C stack (any depth).
 */
static int commit_dir(struct commit *c, const struct rec *root,
		      struct drfs_id *ret_tree, struct agg *ret_agg)
{
	struct drfs_stack w; /* struct commit_level: root .. deepest */
	struct commit_level *l;
	struct drfs_id tree = { 0 };
	struct agg sub = { 0 };
	int e = -ENOMEM;

	drfs_stack_init(&w, sizeof(struct commit_level));
	if ((l = level_next(&w))) {
		*l->d = *root;
		e = commit_dir_begin(c, &w, l, &tree, &sub);
	}
	while (e >= 0 && w.depth) {
		struct commit_level *p = drfs_stack_top(&w);
		if (p->off < p->names.len) {
			size_t len = drfs_get_le16(p->names.p + p->off);
			const uint8_t *nm = p->names.p + p->off + 2;
			uint64_t ino = now_get_be64(nm + len);
			p->off += 2 + len + 8;
			l = level_next(&w);
			e = l ? now_rec_get(c->t, ino, l->d) : -ENOMEM;
			if (e < 0)
				break;
			l->name = nm;
			l->name_len = len;
			if (S_ISDIR(l->d->mode)) {
				e = commit_dir_begin(c, &w, l, &tree, &sub);
				if (e != 0)
					continue; /* 1: added once encoded */
			}
		} else {
			e = commit_dir_end(c, &w, &tree, &sub);
			if (e < 0 || !w.depth)
				break;
			l = drfs_stack_at(&w, w.depth); /* just encoded */
			p = drfs_stack_top(&w);
		}
		e = commit_entry(c, p, l, &tree, &sub);
	}
	if (e >= 0) {
		*ret_tree = tree;
		*ret_agg = sub;
	}
	drfs_stack_release(&w, level_release);
	return e < 0 ? e : 0;
}

static int root_meta(struct commit *c, const struct rec *root,
		     const struct drfs_id *tree, struct drfs_id *ret)
{
	struct drfs_node nd;
	struct drfs_buf xbuf, b;
	struct drfs_xattr *xv = NULL;
	size_t nx = 0;
	struct drfs_tree_enc enc;
	node_from_rec(c->n, &nd, root);
	nd.name = (const uint8_t *)"root";
	nd.name_len = 4;
	nd.subtree = *tree;
	drfs_buf_init(&xbuf, 1u << 30);
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &b);
	int e = load_xattrs(c->t, root->ino, &xbuf, &xv, &nx);
	e = e < 0 ? e : drfs_tree_enc_add(&enc, &nd, xv, nx, NULL, 0);
	e = e < 0 ? e : put_tree(c->n, b.p, b.len, ret);
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&b);
	drfs_buf_release(&xbuf);
	free(xv);
	return e;
}

static int snap_tags(struct drfs_snapshot *s,
		     const struct drfs_now_snapshot_opts *o)
{
	size_t used = 0;
	for (size_t i = 0; i < o->n_tags; i++) {
		size_t l = strlen(o->tags[i]);
		if (i >= DRFS_TAGS_MAX || l == 0 || l > DRFS_TAG_MAX ||
		    used + l + 1 > DRFS_TAGS_BUF)
			return -EINVAL;
		memcpy(s->tags + used, o->tags[i], l + 1);
		used += l + 1;
		s->n_tags++;
	}
	return 0;
}

/* Chunk now every staged file (list: the 'S' set) whose extents are stale. */
static int chunk_stale(struct drfs_now *n, const struct ino_list *staged)
{
	int e = 0;
	for (size_t i = 0; e >= 0 && i < staged->n; i++) {
		struct drfs_txn *rt;
		struct rec r;
		e = now_txn(n, false, &rt);
		if (e < 0)
			break;
		int g = now_rec_get(rt, staged->v[i], &r);
		drfs_txn_abort(rt);
		if (g < 0 || !(r.flags & I_STALE) || (r.flags & I_ORPHAN))
			continue;
		e = now_chunk_now(n, &r);
	}
	return e;
}

/*
 * The trees of now/ into snap->root and snap->meta (their totals in agg),
 * a second pass after copying the directories that other links reach.
 */
static int build_trees(struct drfs_now *n, struct commit *c,
		       struct drfs_snapshot *snap, struct agg *agg)
{
	struct rec root;
	int e;
	for (int pass = 0;; pass++) {
		e = now_txn(n, false, &c->t);
		e = e < 0 ? e : now_rec_get(c->t, DRFS_NOW_ROOT, &root);
		e = e < 0 ? e : commit_dir(c, &root, &snap->root, agg);
		e = e < 0 ? e : root_meta(c, &root, &snap->root, &snap->meta);
		drfs_txn_abort(c->t);
		c->t = NULL;
		if (e < 0 || !c->unreached.n || pass > 0)
			return e;
		/* once more after copying the directories with other links */
		e = materialize_all(n, &c->unreached);
		c->n_upd = c->clean.n = c->unreached.n = 0;
		*agg = (struct agg){ 0 };
		if (e < 0)
			return e;
	}
}

/* What the snapshot object says besides its trees: sizes added, time... */
static void snap_describe_now(struct drfs_now *n,
			      const struct drfs_now_snapshot_opts *o,
			      struct drfs_snapshot *snap,
			      const struct agg *agg, double t0)
{
	struct drfs_writer_stats ws = { 0 };
	pthread_mutex_lock(&n->wlock);
	if (n->w)
		drfs_writer_get_stats(n->w, &ws);
	if (ws.blobs_new >= n->snap_stats.blobs_new &&
	    ws.bytes_stored >= n->snap_stats.bytes_stored) {
		snap->added_blobs = ws.blobs_new - n->snap_stats.blobs_new;
		snap->added_bytes = ws.bytes_stored -
				    n->snap_stats.bytes_stored;
	}
	n->snap_stats = ws;
	pthread_mutex_unlock(&n->wlock);
	if (o->time.tv_sec || o->time.tv_nsec)
		snap->time = o->time;
	else
		now_ts(&snap->time);
	memcpy(snap->host, n->host, sizeof(snap->host));
	memcpy(snap->path, n->path, sizeof(snap->path));
	snap->parent = n->st.last;
	snap->files = agg->files;
	snap->dirs = agg->dirs;
	snap->bytes = agg->bytes;
	snap->duration_ms = drfs_duration_ms(t0);
}

/* ino's I_DIRTY cleared: 1, or 0 if it is gone. */
static int clear_dirty(struct drfs_txn *t, uint64_t ino)
{
	struct rec r;
	if (now_rec_get(t, ino, &r) < 0)
		return 0;
	r.flags &= ~I_DIRTY;
	int e = now_rec_put(t, &r);
	return e < 0 ? e : 1;
}

/*
 * Snapshot id written: the new trees, the clean flags, the state s and the
 * snapshot's 'K' mark, in one transaction. Under lock, redirty_on off.
 */
static int mark_committed(struct drfs_now *n, const struct commit *c,
			  const struct state *s, const struct drfs_id *id)
{
	struct drfs_txn *t;
	int e = now_txn(n, true, &t);
	if (e < 0)
		return e;
	for (size_t i = 0; e >= 0 && i < c->n_upd; i++) {
		struct rec r;
		/* removed while the snapshot waited for its uploads */
		if (now_rec_get(t, c->upd[i].ino, &r) < 0)
			continue;
		r.tree = c->upd[i].tree;
		r.agg_files = c->upd[i].agg.files;
		r.agg_dirs = c->upd[i].agg.dirs;
		r.agg_bytes = c->upd[i].agg.bytes;
		r.flags = (r.flags & ~I_DIRTY) | I_AGG;
		e = now_rec_put(t, &r);
	}
	for (size_t i = 0; e >= 0 && i < c->clean.n; i++)
		e = clear_dirty(t, c->clean.v[i]);
	/* the root's own attributes may have changed alone */
	e = e < 0 ? e : clear_dirty(t, DRFS_NOW_ROOT);
	/*
	 * What changed while the snapshot waited for its uploads is dirty
	 * again, with its parents: cleared first, so that marking it walks
	 * up through the parents cleared above.
	 */
	for (size_t i = 0; e >= 0 && i < n->redirty.n; i++) {
		e = clear_dirty(t, n->redirty.v[i]);
		if (e > 0)
			e = now_mark_dirty(n, t, n->redirty.v[i]);
	}
	e = e < 0 ? e : now_state_put(t, s);
	if (e >= 0) {
		uint8_t k[1 + DRFS_ID_LEN] = { 'K' };
		memcpy(k + 1, id->b, DRFS_ID_LEN);
		e = drfs_kv_put(t, DRFS_DB_NOW_META, k, sizeof(k), "", 0);
	}
	if (e < 0) {
		drfs_txn_abort(t);
		return e;
	}
	return now_commit(n, t);
}

/*
 * The first half of a commit: the trees of now/ built and handed to the
 * writer (snap->root, snap->meta; c the directories and files to mark
 * clean), after chunking every staged file whose extents are stale.
 * 0: nothing changed and o->if_changed; 1: built. Under commit_mx, freeze
 * (exclusive) and lock, with direct transactions.
 */
static int commit_build(struct drfs_now *n,
			const struct drfs_now_snapshot_opts *o,
			struct commit *c, struct drfs_snapshot *snap,
			struct agg *agg)
{
	struct drfs_txn *t = NULL;
	struct ino_list staged = { 0 };
	struct rec root;
	int e = snap_tags(snap, o);
	if (e < 0)
		return e;
	for (struct ofile *of = n->ofiles; of && e >= 0; of = of->next)
		e = now_persist_meta(n, of);
	now_apply_batch(n); /* what the background thread chunked already */
	e = e < 0 ? e : now_txn(n, false, &t);
	e = e < 0 ? e : now_rec_get(t, DRFS_NOW_ROOT, &root);
	if (e >= 0 && o->if_changed && !(root.flags & I_DIRTY)) {
		drfs_txn_abort(t);
		return 0;
	}
	/* every staged file whose extents are stale gets chunked now */
	e = e < 0 ? e : now_set_list(t, 'S', &staged);
	drfs_txn_abort(t);
	e = e < 0 ? e : chunk_stale(n, &staged);
	free(staged.v);
	e = e < 0 ? e : build_trees(n, c, snap, agg);
	return e < 0 ? e : 1;
}

static void commit_free(struct commit *c)
{
	drfs_txn_abort(c->t);
	free(c->upd);
	free(c->clean.v);
	free(c->unreached.v);
}

/*
 * Take lock and freeze for a commit's build: after commit_mx, and once no
 * now_make_durable runs (which may hold neither while it waits for the
 * writer, but needs lock to finish). That wait is made before freeze is
 * taken: with freeze held, every write and setattr in now/ waited for a
 * background flush's uploads.
 */
static void commit_enter(struct drfs_now *n)
{
	pthread_mutex_lock(&n->commit_mx);
	for (;;) {
		pthread_mutex_lock(&n->lock);
		now_flush_wait(n);
		pthread_mutex_unlock(&n->lock);
		pthread_rwlock_wrlock(&n->freeze);
		pthread_mutex_lock(&n->lock);
		if (!n->flushing)
			break;
		pthread_mutex_unlock(&n->lock);
		pthread_rwlock_unlock(&n->freeze);
	}
	if (n->chunking)
		n->chunk_abort = true;
}

/*
 * A commit's first half, shared by a snapshot and the live tree: lock and
 * freeze taken (commit_enter), the group flushed, commit_build with direct
 * transactions (left on). Returns as commit_build.
 */
static int commit_begin(struct drfs_now *n,
			const struct drfs_now_snapshot_opts *o,
			struct commit *c, struct drfs_snapshot *snap,
			struct agg *agg)
{
	commit_enter(n);
	int e = drfs_index_group_flush(n->r->index);
	atomic_store(&n->direct, true);
	e = e < 0 ? e : commit_build(n, o, c, snap, agg);
	drfs_txn_abort(c->t);
	c->t = NULL;
	return e;
}

/*
 * The second half of a snapshot, its trees built (commit_build): wait for
 * the uploads, write the snapshot object, mark clean what it holds. Only
 * the last step holds lock throughout; the rest of now/ goes on while the
 * uploads take their time (a slow S3 made every stat and write in now/
 * wait for them): what changes meanwhile is noted (now_mark_dirty) and
 * stays dirty for the next snapshot. Entered under freeze and lock; lets
 * go of freeze at once, returns with lock held.
 */
static int commit_finish(struct drfs_now *n,
			 const struct drfs_now_snapshot_opts *o,
			 struct commit *c, struct drfs_snapshot *snap,
			 const struct agg *agg, double t0,
			 char ret_folder[DRFS_FOLDER_BUF])
{
	struct drfs_id id;
	/* the writer holding the trees; one failing meanwhile lost them */
	uint64_t wgen = atomic_load(&n->wgen);
	/* (an open file's next write marks it again: now_chunk_now) */
	n->redirty_on = true;
	atomic_store(&n->direct, false);
	pthread_rwlock_unlock(&n->freeze);
	pthread_mutex_unlock(&n->lock);
	int e = now_guard(n);
	pthread_mutex_lock(&n->lock);
	e = e < 0 ? e : now_make_durable(n, true);
	if (e >= 0 && atomic_load(&n->wgen) != wgen) {
		/* a flush in between failed (the background's): what the
		   trees reference went with its writer */
		drfs_repo_set_last_error("an upload failed while the snapshot "
					 "waited for its own (the mount log "
					 "says why); nothing was written");
		e = -EIO;
	}
	if (e >= 0) {
		snap_describe_now(n, o, snap, agg, t0);
		pthread_mutex_unlock(&n->lock);
		e = drfs_repo_snapshot_write(n->r, snap, &id);
		pthread_mutex_lock(&n->lock);
	}
	n->redirty_on = false;
	if (e >= 0)
		e = drfs_index_group_flush(n->r->index);
	if (e >= 0) {
		struct state s = n->st;
		memcpy(s.last_folder, snap->name, sizeof(s.last_folder));
		s.last = id;
		s.last_time = snap->time;
		atomic_store(&n->direct, true);
		e = mark_committed(n, c, &s, &id);
		atomic_store(&n->direct, false);
		if (e >= 0)
			n->st = s;
	}
	n->redirty.n = 0;
	if (e < 0)
		return e;
	now_unlinks_flush(n); /* the new state on disk (best effort) */
	memcpy(ret_folder, n->st.last_folder, DRFS_FOLDER_BUF);
	n->last_snap_mono = drfs_now_mono();
	return 1;
}

int drfs_now_snapshot(struct drfs_now *n,
		      const struct drfs_now_snapshot_opts *o,
		      char ret_folder[DRFS_FOLDER_BUF])
{
	struct commit c = { .n = n };
	struct agg agg = { 0 };
	struct drfs_snapshot *snap = calloc(1, sizeof(*snap));
	double t0 = drfs_now_mono();
	bool frozen = true;
	int e;

	if (!snap)
		return -ENOMEM;
	e = commit_begin(n, o, &c, snap, &agg);
	if (e == 0)
		ret_folder[0] = 0;
	if (e > 0) {
		frozen = false;
		e = commit_finish(n, o, &c, snap, &agg, t0, ret_folder);
	}
	atomic_store(&n->direct, false);
	pthread_mutex_unlock(&n->lock);
	if (frozen)
		pthread_rwlock_unlock(&n->freeze);
	pthread_mutex_unlock(&n->commit_mx);
	commit_free(&c);
	free(snap);
	/*
	 * What the commit allocated (its lists, the writer's packs) is free
	 * now but stays in the threads' malloc arenas: give it back, or the
	 * daemon's RssAnon keeps the largest commit's size (docs/now.md).
	 */
	malloc_trim(0);
	return e;
}

/*
 * The live tree of now/, durable, passed to fn while now/'s writer stays
 * idle (wlock held): no snapshot, nothing marked clean. lock and freeze
 * are held until the trees are durable.
 */
int drfs_now_with_live_tree(struct drfs_now *n,
			    int (*fn)(void *ud, const struct drfs_id *root),
			    void *ud)
{
	struct drfs_now_snapshot_opts so = { 0 };
	struct commit c = { .n = n };
	struct agg agg = { 0 };
	struct drfs_snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap)
		return -ENOMEM;
	int e = commit_begin(n, &so, &c, snap, &agg);
	e = e < 0 ? e : now_make_durable(n, false);
	atomic_store(&n->direct, false);
	/* lock order: freeze, lock, wlock; wlock alone is kept for fn */
	if (e >= 0)
		pthread_mutex_lock(&n->wlock);
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	if (e >= 0) {
		e = fn(ud, &snap->root);
		pthread_mutex_unlock(&n->wlock);
	}
	pthread_mutex_unlock(&n->commit_mx);
	commit_free(&c);
	free(snap);
	malloc_trim(0); /* as after a snapshot */
	return e;
}

int drfs_now_status(struct drfs_now *n, struct drfs_now_status *ret)
{
	struct drfs_txn *t;
	struct ino_list staged = { 0 };
	struct rec r;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&n->lock);
	int e = now_txn(n, false, &t);
	if (e >= 0) {
		e = now_rec_get(t, DRFS_NOW_ROOT, &r);
		ret->changed = e >= 0 && (r.flags & I_DIRTY);
		e = e < 0 ? e : now_set_list(t, 'S', &staged);
		for (size_t i = 0; e >= 0 && i < staged.n; i++) {
			if (now_rec_get(t, staged.v[i], &r) < 0)
				continue;
			ret->staged_files++;
			ret->staged_bytes += r.size;
			if (now_mem_find(n, staged.v[i])) {
				ret->mem_files++;
				ret->mem_bytes += r.size;
			}
		}
		drfs_kv_count(t, DRFS_DB_NOW_INODES, &ret->inodes);
		drfs_txn_abort(t);
	}
	ret->last_snapshot = drfs_id_is_zero(&n->st.last)
				     ? (struct timespec){ 0 }
				     : n->st.last_time;
	memcpy(ret->last_folder, n->st.last_folder, DRFS_FOLDER_BUF);
	pthread_mutex_unlock(&n->lock);
	ret->pending_blobs = atomic_load(&n->pend_blobs);
	ret->pending_bytes = atomic_load(&n->pend_bytes);
	pthread_mutex_lock(&n->glock);
	ret->guard = n->guard;
	memcpy(ret->guard_last, n->guard_last, sizeof(ret->guard_last));
	pthread_mutex_unlock(&n->glock);
	free(staged.v);
	return e < 0 ? e : 0;
}
