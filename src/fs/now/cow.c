/* SPDX-License-Identifier: MIT */
/*
 * cow.c - copy-on-write of directories: a directory of the base snapshot
 * materialised into NOW_DIRENTS on first change. nowint.h has the layout and
 * the locks.
 */
#include "nowint.h"

/* ---- copy-on-write of directories -------------------------------------- */

static int get_link(struct drfs_txn *t, uint64_t src, uint64_t *ret)
{
	uint8_t k[9] = { 'L' }, v[8];
	now_put_be64(k + 1, src);
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, k, 9, v, 8);
	if (l < 0)
		return l == -E2BIG ? -EBADMSG : l;
	if (l != 8)
		return -EBADMSG;
	*ret = now_get_be64(v);
	return 0;
}

static int put_link(struct drfs_txn *t, uint64_t src, uint64_t ino)
{
	uint8_t k[9] = { 'L' }, v[8];
	now_put_be64(k + 1, src);
	now_put_be64(v, ino);
	return drfs_kv_put(t, DRFS_DB_NOW_META, k, 9, v, 8);
}

int now_xattr_put(struct drfs_txn *t, uint64_t ino, const void *name,
		  size_t nlen, const void *val, size_t vlen)
{
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	if (nlen == 0 || nlen > DRFS_XATTR_NAME_MAX)
		return -ERANGE;
	now_put_be64(k, ino);
	memcpy(k + 8, name, nlen);
	return drfs_kv_put(t, DRFS_DB_NOW_XATTRS, k, 8 + nlen, val, vlen);
}

/* Fill a record from a tree node (not its name, extents or xattrs). */
void now_rec_from_node(struct rec *r, const struct drfs_node *nd)
{
	r->mode = nd->mode;
	r->uid = nd->uid;
	r->gid = nd->gid;
	r->nlink = nd->nlink ? nd->nlink : 1;
	r->size = nd->size;
	r->rdev = nd->rdev;
	r->atime = nd->atime;
	r->mtime = nd->mtime;
	r->ctime = nd->ctime;
	if (S_ISDIR(nd->mode))
		r->tree = nd->subtree;
	if (S_ISLNK(nd->mode)) {
		r->target_len = (uint16_t)MIN(nd->target_len, DRFS_PATH_MAX);
		memcpy(r->target, nd->target, r->target_len);
		r->target[r->target_len] = 0;
	}
}

/* Copy one node of a tree into LMDB as a new inode (or a known hard link). */
static int mat_node(struct drfs_now *n, struct drfs_txn *t, struct state *s,
		    struct rec *dir, struct drfs_node *nd, bool *ret_dirty)
{
	char name[DRFS_NAME_MAX + 1];
	uint64_t ino;
	int e;

	(void)n;
	if (nd->name_len > DRFS_NAME_MAX || memchr(nd->name, 0, nd->name_len) ||
	    memchr(nd->name, '/', nd->name_len))
		return -EBADMSG;
	memcpy(name, nd->name, nd->name_len);
	name[nd->name_len] = 0;
	bool linked = !S_ISDIR(nd->mode) && nd->nlink > 1;
	if (linked && get_link(t, nd->ino, &ino) == 0) {
		/* a hard link to an inode changed since: this tree is stale */
		struct rec lr;
		if (now_rec_get(t, ino, &lr) == 0 && (lr.flags & I_DIRTY))
			*ret_dirty = true;
		return now_dent_add(t, dir, name, nd->name_len, ino);
	}
	if (s->next_ino >= INO_MAX)
		return -ENOSPC;
	struct rec *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ino = now_alloc_ino(s);
	r->src_ino = nd->ino;
	now_rec_from_node(r, nd);
	struct drfs_extent x;
	e = 0;
	if (S_ISREG(nd->mode))
		while ((e = drfs_node_next_extent(nd, &x)) > 0) {
			r->blocks += x.len;
			e = now_ext_put(t, r->ino, &x);
			if (e < 0)
				break;
		}
	struct drfs_xattr xa;
	while (e >= 0 && (e = drfs_node_next_xattr(nd, &xa)) > 0)
		e = now_xattr_put(t, r->ino, xa.name, xa.name_len, xa.value,
				  xa.value_len);
	e = e < 0 ? e : now_rec_put(t, r);
	if (e >= 0 && linked)
		e = put_link(t, nd->ino, r->ino);
	e = e < 0 ? e : now_dent_add(t, dir, name, nd->name_len, r->ino);
	free(r);
	return e;
}

/* Make sure the entries of directory ino are in LMDB. Under n->lock. */
int now_ensure_mat(struct drfs_now *n, uint64_t ino)
{
	struct drfs_txn *t;
	struct rec d;
	struct drfs_buf tree;
	int e;

	e = now_txn(n, false, &t);
	if (e < 0)
		return e;
	e = now_rec_get(t, ino, &d);
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	if (!S_ISDIR(d.mode))
		return -ENOTDIR;
	if (d.flags & I_MAT)
		return 0;
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	e = now_read_blob(n, &d.tree, &tree);
	if (e < 0) {
		drfs_buf_release(&tree);
		return e == -EBADMSG || e == -ENOENT ? -EIO : e;
	}
	struct drfs_tree_iter it;
	struct drfs_node nd;
	struct state s = n->st;
	e = drfs_tree_iter_init(&it, tree.p, tree.len);
	e = e ?: now_txn(n, true, &t);
	if (e < 0) {
		drfs_buf_release(&tree);
		return e == -EBADMSG ? -EIO : e;
	}
	bool dirty = false;
	while ((e = drfs_tree_iter_next(&it, &nd)) > 0) {
		e = mat_node(n, t, &s, &d, &nd, &dirty);
		if (e < 0)
			break;
	}
	d.flags |= I_MAT;
	e = e < 0 ? e : now_rec_put(t, &d);
	if (e >= 0 && dirty)
		e = now_mark_dirty(n, t, d.ino);
	e = e < 0 ? e : now_state_put(t, &s);
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	drfs_buf_release(&tree);
	if (e >= 0)
		n->st = s;
	return e == -EBADMSG ? -EIO : e;
}
