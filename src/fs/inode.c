/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode model of the mount, kept in LMDB (see fsint.h for the
 * key layout and docs/mount.md for the why).
 *
 * A view directory materialises on first use: its tree blob is read once
 * (verified), and every entry becomes an inode record, its xattrs and
 * extents, and two directory keys (by name for lookup, by index for
 * readdir). Nothing per inode stays in RAM. Read transactions are short and
 * never span a FUSE reply; a directory is written in write transactions of
 * at most FILL_BATCH entries, then marked loaded. Reading what is
 * materialised (lookup, listing, extents, xattrs) is inoderead.c's;
 * inodeint.h has the helpers both use.
 */
#include <dirent.h>
#include <stdio.h>

#include "inodeint.h"

#define REC_VERSION 2
#define REC_MAX (1 + 18 * 10 + DRFS_ID_LEN + 1 + DRFS_NAME_MAX + 10 + \
		 DRFS_PATH_MAX)

/*
 * "fsgen3": inode records (compact, varints) and extents in databases of
 * their own, written in key order with MDB_APPEND; "fsgen2": view roots
 * carry the snapshot root's own attributes. A cache with another marker is
 * cleared and materialised again.
 */
static const char GEN_KEY[] = "fsgen3";
static const char NEXT_KEY[] = "next";

/* ---- inode records ----------------------------------------------------- */

/*
 * Inode record, version 2 (the inode number is the key):
 *   u8 2 | uvarint parent, root, mode, uid, gid, nlink, size, blocks, rdev |
 *   (svarint sec | uvarint nsec) for atime, mtime, ctime |
 *   uvarint flags, n_xattrs, n_extents | directories: subtree id[32] |
 *   u8 name_len | name | uvarint target_len | target
 * About 80 bytes for a file with a short name (version 1 was 160, fixed).
 */
static size_t rec_encode(const struct fs_inode *in, uint8_t *p)
{
	size_t o = 0;
	p[o++] = REC_VERSION;
	o += drfs_put_uvarint(p + o, in->parent);
	o += drfs_put_uvarint(p + o, in->root);
	o += drfs_put_uvarint(p + o, in->mode);
	o += drfs_put_uvarint(p + o, in->uid);
	o += drfs_put_uvarint(p + o, in->gid);
	o += drfs_put_uvarint(p + o, in->nlink);
	o += drfs_put_uvarint(p + o, in->size);
	o += drfs_put_uvarint(p + o, in->blocks);
	o += drfs_put_uvarint(p + o, in->rdev);
	const struct timespec *ts[3] = { &in->atime, &in->mtime, &in->ctime };
	for (int i = 0; i < 3; i++) {
		o += drfs_put_svarint(p + o, (int64_t)ts[i]->tv_sec);
		o += drfs_put_uvarint(p + o, (uint64_t)ts[i]->tv_nsec);
	}
	o += drfs_put_uvarint(p + o, in->flags);
	o += drfs_put_uvarint(p + o, in->n_xattrs);
	o += drfs_put_uvarint(p + o, in->n_extents);
	if (S_ISDIR(in->mode)) {
		memcpy(p + o, in->subtree.b, DRFS_ID_LEN);
		o += DRFS_ID_LEN;
	}
	p[o++] = in->name_len;
	memcpy(p + o, in->name, in->name_len);
	o += in->name_len;
	o += drfs_put_uvarint(p + o, in->target_len);
	memcpy(p + o, in->target, in->target_len);
	return o + in->target_len;
}

static uint32_t rd_u32v(struct drfs_rd *r)
{
	uint64_t v = drfs_rd_uvarint(r);
	if (v > UINT32_MAX && !r->err)
		r->err = -EBADMSG;
	return (uint32_t)v;
}

static int rec_decode(const uint8_t *p, size_t len, uint64_t ino,
		      struct fs_inode *in)
{
	struct drfs_rd r;
	drfs_rd_init(&r, p, len);
	if (drfs_rd_u8(&r) != REC_VERSION)
		return -EBADMSG;
	memset(in, 0, offsetof(struct fs_inode, name));
	in->ino = ino;
	in->parent = drfs_rd_uvarint(&r);
	in->root = drfs_rd_uvarint(&r);
	in->mode = rd_u32v(&r);
	in->uid = rd_u32v(&r);
	in->gid = rd_u32v(&r);
	in->nlink = rd_u32v(&r);
	in->size = drfs_rd_uvarint(&r);
	in->blocks = drfs_rd_uvarint(&r);
	in->rdev = drfs_rd_uvarint(&r);
	struct timespec *ts[3] = { &in->atime, &in->mtime, &in->ctime };
	for (int i = 0; i < 3; i++) {
		ts[i]->tv_sec = (time_t)drfs_rd_svarint(&r);
		uint64_t ns = drfs_rd_uvarint(&r);
		ts[i]->tv_nsec = ns < 1000000000 ? (long)ns : 0;
	}
	in->flags = rd_u32v(&r);
	in->n_xattrs = rd_u32v(&r);
	in->n_extents = rd_u32v(&r);
	if (S_ISDIR(in->mode))
		drfs_rd_copy(&r, in->subtree.b, DRFS_ID_LEN);
	in->name_len = drfs_rd_u8(&r);
	const uint8_t *name = drfs_rd_raw(&r, in->name_len);
	uint64_t tl = drfs_rd_uvarint(&r);
	if (drfs_rd_err(&r) || !name || tl > DRFS_PATH_MAX)
		return -EBADMSG;
	const uint8_t *target = drfs_rd_raw(&r, (size_t)tl);
	if (drfs_rd_err(&r) || !target || drfs_rd_left(&r) != 0)
		return -EBADMSG;
	memcpy(in->name, name, in->name_len);
	in->name[in->name_len] = 0;
	in->target_len = (uint16_t)tl;
	memcpy(in->target, target, (size_t)tl);
	in->target[tl] = 0;
	return 0;
}

/*
 * Records are keyed by the bare be64 inode number in FS_RECS. Inode numbers
 * are allocated in increasing order, so a directory's new records are
 * appended (full pages; interleaved with other keys in one database, LMDB
 * split every page in half and the records took twice the space).
 */
static int rec_get(struct drfs_txn *t, uint64_t ino, struct fs_inode *ret)
{
	uint8_t k[8], v[REC_MAX];
	put_be64(k, ino);
	int r = drfs_kv_get_fixed(t, DRFS_DB_FS_RECS, k, sizeof(k), v,
				  sizeof(v));
	if (r < 0)
		return r == -E2BIG ? -EBADMSG : r;
	return rec_decode(v, (size_t)r, ino, ret);
}

static int rec_put(struct drfs_txn *t, const struct fs_inode *in)
{
	uint8_t k[8], v[REC_MAX];
	size_t n = rec_encode(in, v);
	put_be64(k, in->ino);
	return drfs_kv_append(t, DRFS_DB_FS_RECS, k, sizeof(k), v, n);
}

int fs_inode_get(struct fs *fs, uint64_t ino, struct fs_inode *ret)
{
	_cleanup_txn_ struct drfs_txn *t = NULL;
	int r = drfs_txn_begin(fs->repo->index, false, &t);
	if (r < 0)
		return r;
	return rec_get(t, ino, ret);
}

/* ---- generation marker, counter ------------------------------------------ */

struct collect {
	uint8_t keys[64][512];
	size_t lens[64];
	size_t n;
};

static int collect_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct collect *c = userdata;
	(void)val;
	(void)vlen;
	if (klen > sizeof(c->keys[0]))
		return -EBADMSG; /* LMDB keys are at most 511 bytes */
	memcpy(c->keys[c->n], key, klen);
	c->lens[c->n++] = klen;
	return c->n == ARRAY_SIZE(c->keys) ? 1 : 0;
}

/* Delete every key of db, in batches, within write transaction t. */
static int db_clear(struct drfs_txn *t, enum drfs_db db)
{
	_cleanup_free_ struct collect *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (;;) {
		c->n = 0;
		int r = drfs_kv_scan(t, db, NULL, 0, collect_cb, c);
		if (r < 0)
			return r;
		if (c->n == 0)
			return 0;
		for (size_t i = 0; i < c->n; i++) {
			r = drfs_kv_del(t, db, c->keys[i], c->lens[i]);
			if (r < 0 && r != -ENOENT)
				return r;
		}
	}
}

int fs_index_prepare(struct fs *fs)
{
	/*
	 * All six are cleared together; the first MARKED carry the marker
	 * (not the FS_* ones: it would sort after every appended key).
	 */
	static const enum drfs_db dbs[] = { DRFS_DB_INODES,   DRFS_DB_DIRENTS,
					    DRFS_DB_TREES,    DRFS_DB_FS_RECS,
					    DRFS_DB_FS_EXTENTS,
					    DRFS_DB_FS_ORDER };
	enum { MARKED = 3 };
	uint8_t gen[MARKED][16];
	bool ok = true;
	_cleanup_txn_ struct drfs_txn *t = NULL;

	int r = drfs_txn_begin(fs->repo->index, true, &t);
	if (r < 0)
		return r;
	for (size_t i = 0; i < MARKED; i++) {
		r = drfs_kv_get_fixed(t, dbs[i], GEN_KEY, strlen(GEN_KEY),
				      gen[i], sizeof(gen[i]));
		if (r != 16 || (i > 0 && memcmp(gen[i], gen[0], 16) != 0))
			ok = false;
	}
	if (ok)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(dbs); i++) {
		r = db_clear(t, dbs[i]);
		if (r < 0)
			return r;
	}
	r = drfs_random(gen[0], 16);
	if (r < 0)
		return r;
	for (size_t i = 0; i < MARKED; i++) {
		r = drfs_kv_put(t, dbs[i], GEN_KEY, strlen(GEN_KEY), gen[0],
				16);
		if (r < 0)
			return r;
	}
	r = drfs_txn_commit(t);
	t = NULL;
	return r;
}

/* A fresh inode number of namespace ns (write transaction). */
static int ino_alloc(struct drfs_txn *t, uint64_t ns, uint64_t *ret)
{
	uint8_t v[8];
	uint64_t next = 1;
	int r = drfs_kv_get_fixed(t, DRFS_DB_INODES, NEXT_KEY,
				  strlen(NEXT_KEY), v, sizeof(v));
	if (r == 8)
		next = get_be64(v);
	else if (r >= 0 || r != -ENOENT)
		return r < 0 ? r : -EBADMSG;
	if (next >= (1ull << FS_NS_SHIFT))
		return -ENOSPC;
	put_be64(v, next + 1);
	r = drfs_kv_put(t, DRFS_DB_INODES, NEXT_KEY, strlen(NEXT_KEY), v, 8);
	if (r < 0)
		return r;
	*ret = ns << FS_NS_SHIFT | next;
	return 0;
}

/* ---- view roots ---------------------------------------------------------- */

int fs_view_root(struct fs *fs, const struct fs_snap *sn, uint64_t ns,
		 const char *name, uint64_t *ret_ino)
{
	uint8_t k[1 + DRFS_ID_LEN], v[8];
	struct fs_inode in;
	int r;

	k[0] = ns == FS_NS_NOW ? 'w' : 's';
	memcpy(k + 1, sn->id.b, DRFS_ID_LEN);
	{
		_cleanup_txn_ struct drfs_txn *t = NULL;
		r = drfs_txn_begin(fs->repo->index, false, &t);
		if (r < 0)
			return r;
		r = drfs_kv_get_fixed(t, DRFS_DB_TREES, k, sizeof(k), v,
				      sizeof(v));
		if (r == 8) {
			*ret_ino = get_be64(v);
			return 0;
		}
		if (r != -ENOENT)
			return r < 0 ? r : -EBADMSG;
	}

	/* the backed-up directory's own attributes (snapshot meta tree) */
	_cleanup_(buf_releasep) struct drfs_buf meta = { 0 };
	struct drfs_node mn;
	bool have_meta = false;
	if (!drfs_id_is_zero(&sn->meta)) {
		drfs_buf_init(&meta, DRFS_BLOB_MAX);
		r = drfs_repo_blob_read(fs->repo, &sn->meta, &meta);
		if (r < 0 && r != -EBADMSG && r != -ENOENT)
			return r; /* transient: no view root cached yet */
		have_meta = r >= 0 &&
			    drfs_tree_find(meta.p, meta.len,
					   (const uint8_t *)"root", 4, &mn) >= 0 &&
			    S_ISDIR(mn.mode);
	}

	_cleanup_txn_ struct drfs_txn *t = NULL;
	r = drfs_txn_begin(fs->repo->index, true, &t);
	if (r < 0)
		return r;
	r = drfs_kv_get_fixed(t, DRFS_DB_TREES, k, sizeof(k), v, sizeof(v));
	if (r == 8) { /* another thread was first */
		*ret_ino = get_be64(v);
		return 0;
	}
	memset(&in, 0, sizeof(in));
	r = ino_alloc(t, ns, &in.ino);
	if (r < 0)
		return r;
	in.parent = FS_INO_ROOT;
	in.root = in.ino;
	in.mode = S_IFDIR | 0755;
	in.uid = 0;
	in.gid = 0;
	in.nlink = 2;
	in.atime = in.mtime = in.ctime = sn->time;
	if (have_meta) {
		in.mode = S_IFDIR | (mn.mode & 07777);
		in.uid = mn.uid;
		in.gid = mn.gid;
		in.atime = mn.atime;
		in.mtime = mn.mtime;
		in.ctime = mn.ctime;
		struct drfs_xattr x;
		uint8_t xk[9 + DRFS_XATTR_NAME_MAX];
		while ((r = drfs_node_next_xattr(&mn, &x)) > 0) {
			if (x.name_len == 0 || x.name_len > DRFS_XATTR_NAME_MAX ||
			    memchr(x.name, 0, x.name_len))
				continue;
			size_t kl = key_ino(xk, 'x', in.ino);
			memcpy(xk + kl, x.name, x.name_len);
			r = drfs_kv_put(t, DRFS_DB_INODES, xk,
					kl + x.name_len, x.value, x.value_len);
			if (r < 0)
				return r;
			in.n_xattrs++;
		}
		if (r < 0)
			return r;
	}
	in.flags = FS_I_ROOT;
	in.subtree = sn->root;
	in.name_len = (uint8_t)MIN(strlen(name), DRFS_NAME_MAX);
	memcpy(in.name, name, in.name_len);
	r = rec_put(t, &in);
	if (r < 0)
		return r;
	put_be64(v, in.ino);
	r = drfs_kv_put(t, DRFS_DB_TREES, k, sizeof(k), v, 8);
	if (r < 0)
		return r;
	r = drfs_txn_commit(t);
	t = NULL;
	if (r < 0)
		return r;
	*ret_ino = in.ino;
	return 0;
}

/* ---- materialising a directory ------------------------------------------- */

static uint8_t mode_dtype(uint32_t mode)
{
	return (uint8_t)((mode & S_IFMT) >> 12);
}

static bool name_ok(const uint8_t *p, size_t len)
{
	if (len == 0 || len > DRFS_NAME_MAX)
		return false;
	if (memchr(p, '/', len) || memchr(p, 0, len))
		return false;
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	return true;
}

/* Write the inode of one tree entry (not a hard link seen before). */
static int node_put(struct drfs_txn *t, const struct fs_inode *dir,
		    struct drfs_node *n, uint64_t ino)
{
	struct fs_inode in;
	uint8_t k[9 + 1024];
	uint64_t data = 0;
	int r;

	memset(&in, 0, sizeof(in));
	in.ino = ino;
	in.parent = dir->ino;
	in.root = dir->root;
	in.mode = n->mode;
	in.uid = n->uid;
	in.gid = n->gid;
	in.nlink = n->nlink ? n->nlink : 1;
	in.size = n->size;
	in.rdev = n->rdev;
	in.atime = n->atime;
	in.mtime = n->mtime;
	in.ctime = n->ctime;
	in.name_len = (uint8_t)n->name_len;
	memcpy(in.name, n->name, n->name_len);
	if (S_ISDIR(n->mode)) {
		in.subtree = n->subtree;
		if (in.nlink < 2)
			in.nlink = 2;
	}
	if (S_ISLNK(n->mode)) {
		if (n->target_len > DRFS_PATH_MAX)
			return -EBADMSG;
		in.target_len = (uint16_t)n->target_len;
		memcpy(in.target, n->target, n->target_len);
		in.size = n->target_len;
	}

	struct drfs_xattr x;
	while ((r = drfs_node_next_xattr(n, &x)) > 0) {
		if (x.name_len == 0 || x.name_len > DRFS_XATTR_NAME_MAX ||
		    memchr(x.name, 0, x.name_len))
			continue;
		size_t kl = key_ino(k, 'x', ino);
		memcpy(k + kl, x.name, x.name_len);
		r = drfs_kv_put(t, DRFS_DB_INODES, k, kl + x.name_len,
				x.value, x.value_len);
		if (r < 0)
			return r;
		in.n_xattrs++;
	}
	if (r < 0)
		return r;

	struct drfs_extent e;
	while ((r = drfs_node_next_extent(n, &e)) > 0) {
		uint8_t v[EXT_VAL_LEN];
		if (e.len == 0)
			continue;
		/* be64 ino | be64 end: in key order, appended */
		put_be64(k, ino);
		put_be64(k + 8, e.off + e.len);
		drfs_put_le64(v, e.off);
		drfs_put_le32(v + 8, e.len);
		memcpy(v + 12, e.id.b, DRFS_ID_LEN);
		r = drfs_kv_append(t, DRFS_DB_FS_EXTENTS, k, 16, v, sizeof(v));
		if (r < 0)
			return r;
		data += e.len;
		in.n_extents++;
	}
	if (r < 0)
		return r;
	in.blocks = (data + 511) / 512;
	return rec_put(t, &in);
}

/*
 * Entries per write transaction when a directory materialises. LMDB holds a
 * transaction's dirty pages in malloc'ed memory until the commit and keeps
 * freed single pages for reuse for the life of the environment, so one
 * transaction for a 100 000-entry directory left ~65 MiB of anonymous
 * memory behind in the daemon; 2048 entries are a few hundred KiB.
 */
#define FILL_BATCH 2048

/*
 * Materialise the entries of one directory, FILL_BATCH per transaction,
 * then mark it loaded. Idempotent: an entry whose name key exists was
 * written by an earlier batch (of this call, of a concurrent one, or of a
 * daemon killed half-way) and is skipped, so partial work is resumed and
 * two threads loading the same directory agree on every inode number.
 */
static int dir_fill(struct fs *fs, struct drfs_txn **tp, uint64_t dir_ino,
		    const struct drfs_buf *tree)
{
	struct drfs_tree_iter it;
	struct drfs_node n;
	struct fs_inode dir;
	uint32_t idx = 0, batch = 0;
	int r;

	r = rec_get(*tp, dir_ino, &dir);
	if (r < 0)
		return r;
	if (dir.flags & FS_I_LOADED)
		return 0; /* another thread was first */
	r = drfs_tree_iter_init(&it, tree->p, tree->len);
	if (r < 0)
		return r;
	while ((r = drfs_tree_iter_next(&it, &n)) > 0) {
		uint8_t k[9 + 4 + DRFS_NAME_MAX], v[9 + DRFS_NAME_MAX];
		uint8_t hk[17], hv[8];
		uint64_t ino = 0;
		bool have = false;

		if (!name_ok(n.name, n.name_len))
			continue;
		if (++batch == FILL_BATCH) {
			batch = 0;
			r = drfs_txn_commit(*tp);
			*tp = NULL;
			r = r < 0 ? r : drfs_txn_begin(fs->repo->index, true, tp);
			if (r < 0)
				return r;
		}
		/* by name: written in the same transaction as the inode */
		size_t kl = key_ino(k, 'n', dir.ino);
		memcpy(k + kl, n.name, n.name_len);
		r = drfs_kv_get_fixed(*tp, DRFS_DB_DIRENTS, k, kl + n.name_len,
				      v, 9);
		if (r == 9) {
			idx++;
			continue;
		}
		if (r != -ENOENT)
			return r < 0 ? r : -EBADMSG;
		if (!S_ISDIR(n.mode) && n.nlink > 1) {
			key_ino(hk, 'h', dir.root);
			put_be64(hk + 9, n.ino);
			r = drfs_kv_get_fixed(*tp, DRFS_DB_INODES, hk,
					      sizeof(hk), hv, sizeof(hv));
			if (r == 8) {
				ino = get_be64(hv);
				have = true;
			} else if (r != -ENOENT) {
				return r < 0 ? r : -EBADMSG;
			}
		}
		if (!have) {
			r = ino_alloc(*tp, FS_NS(dir.ino), &ino);
			if (r < 0)
				return r;
			r = node_put(*tp, &dir, &n, ino);
			if (r < 0)
				return r;
			if (!S_ISDIR(n.mode) && n.nlink > 1) {
				put_be64(hv, ino);
				r = drfs_kv_put(*tp, DRFS_DB_INODES, hk,
						sizeof(hk), hv, 8);
				if (r < 0)
					return r;
			}
		}

		/* names come sorted: appended while directories load in
		   inode order (ls -R, cp -a of a directory's subdirectories) */
		put_be64(v, ino);
		v[8] = mode_dtype(n.mode);
		r = drfs_kv_append(*tp, DRFS_DB_DIRENTS, k, kl + n.name_len, v,
				   9);
		if (r < 0)
			return r;
		/* by index: be64 dir | be32 index */
		uint8_t ok[12];
		put_be64(ok, dir.ino);
		put_be32(ok + 8, idx++);
		memcpy(v + 9, n.name, n.name_len);
		r = drfs_kv_append(*tp, DRFS_DB_FS_ORDER, ok, sizeof(ok), v,
				   9 + n.name_len);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	/* re-read: batches may have been committed since */
	r = rec_get(*tp, dir_ino, &dir);
	if (r < 0)
		return r;
	dir.flags |= FS_I_LOADED;
	return rec_put(*tp, &dir);
}

int fs_dir_load(struct fs *fs, const struct fs_inode *dir)
{
	_cleanup_(buf_releasep) struct drfs_buf tree = { 0 };
	int r;

	if (dir->flags & FS_I_LOADED)
		return 0;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	r = drfs_repo_blob_read(fs->repo, &dir->subtree, &tree);
	if (r < 0)
		return r;

	_cleanup_txn_ struct drfs_txn *t = NULL;
	r = drfs_txn_begin(fs->repo->index, true, &t);
	if (r < 0)
		return r;
	r = dir_fill(fs, &t, dir->ino, &tree);
	if (r < 0)
		return r;
	r = drfs_txn_commit(t);
	t = NULL;
	return r;
}
