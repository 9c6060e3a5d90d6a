/* SPDX-License-Identifier: MIT */
/*
 * recovery.c - the state of now/: start from a snapshot, reset, and recovery
 * after a crash. nowint.h has the layout and the locks.
 */
#include "nowint.h"

/* ---- state: start, reset, recovery ------------------------------------ */

static int db_clear_cb(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ud)
{
	struct drfs_buf *keys = ud;
	(void)val;
	(void)vlen;
	uint8_t l[2];
	drfs_put_le16(l, (uint16_t)klen);
	int e = drfs_buf_append(keys, l, 2);
	return e ?: drfs_buf_append(keys, key, klen);
}

static int db_clear(struct drfs_txn *t, enum drfs_db db)
{
	struct drfs_buf keys;
	drfs_buf_init(&keys, SIZE_MAX / 2);
	int e = drfs_kv_scan(t, db, NULL, 0, db_clear_cb, &keys);
	for (size_t i = 0; e >= 0 && i + 2 <= keys.len;) {
		size_t l = drfs_get_le16(keys.p + i);
		e = drfs_kv_del(t, db, keys.p + i + 2, l);
		i += 2 + l;
	}
	drfs_buf_release(&keys);
	return e;
}

static void staging_clean(struct drfs_now *n, struct drfs_txn *t)
{
	DIR *d = opendir(n->staging);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *end;
		uint64_t ino = strtoull(de->d_name, &end, 16);
		struct rec r;
		bool keep = t && *end == 0 && strlen(de->d_name) == 16 &&
			    now_rec_get(t, ino, &r) == 0 &&
			    (r.flags & I_STAGED);
		if (!keep)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Start now/ over from snapshot si (NULL: an empty directory). */
int now_reset_state(struct drfs_now *n, const struct drfs_snap_info *si)
{
	struct drfs_txn *t;
	struct rec root = { .ino = DRFS_NOW_ROOT };
	struct state s = { .next_ino = 2 };
	struct drfs_buf meta;
	int e;

	uint8_t rnd[3];
	e = drfs_random(rnd, sizeof(rnd));
	if (e < 0)
		return e;
	s.ino_salt = ((uint64_t)(rnd[0] | rnd[1] << 8 | rnd[2] << 16) |
		      1ull << 23) << 40;
	root.mode = S_IFDIR | 0755;
	root.uid = getuid();
	root.gid = getgid();
	root.nlink = 2;
	now_ts(&root.mtime);
	root.atime = root.ctime = root.mtime;
	root.flags = I_MAT | I_AGG;
	root.agg_dirs = 1;
	drfs_buf_init(&meta, DRFS_BLOB_MAX);
	struct drfs_node nd;
	bool have_meta = false;
	if (si) {
		s.base = s.last = si->id;
		s.last_time = si->snap.time;
		memcpy(s.last_folder, si->folder, sizeof(s.last_folder));
		root.tree = si->snap.root;
		root.flags = I_AGG;
		root.agg_files = si->snap.files;
		root.agg_dirs = si->snap.dirs;
		root.agg_bytes = si->snap.bytes;
		if (!drfs_id_is_zero(&si->snap.meta) &&
		    now_read_blob(n, &si->snap.meta, &meta) == 0 &&
		    drfs_tree_find(meta.p, meta.len, (const uint8_t *)"root", 4,
				   &nd) == 0 &&
		    S_ISDIR(nd.mode)) {
			now_rec_from_node(&root, &nd);
			root.tree = si->snap.root;
			have_meta = true;
		}
	}
	e = now_txn(n, true, &t);
	if (e < 0)
		goto out;
	static const enum drfs_db dbs[] = {
		DRFS_DB_NOW_INODES, DRFS_DB_NOW_DIRENTS, DRFS_DB_NOW_XATTRS,
		DRFS_DB_NOW_EXTENTS, DRFS_DB_NOW_META
	};
	for (size_t i = 0; e >= 0 && i < ARRAY_SIZE(dbs); i++)
		e = db_clear(t, dbs[i]);
	e = e < 0 ? e : now_rec_put(t, &root);
	struct drfs_xattr xa;
	while (e >= 0 && have_meta && (e = drfs_node_next_xattr(&nd, &xa)) > 0)
		e = now_xattr_put(t, root.ino, xa.name, xa.name_len, xa.value,
				  xa.value_len);
	e = e < 0 ? e : now_state_put(t, &s);
	if (e < 0) {
		drfs_txn_abort(t);
		goto out;
	}
	e = now_commit(n, t);
	if (e >= 0) {
		n->st = s;
		staging_clean(n, NULL);
		now_mem_clear(n);
	}
out:
	drfs_buf_release(&meta);
	return e;
}


/* A staged file whose staging content is gone becomes an empty file. */
static int lose_content(struct drfs_now *n, struct drfs_txn *t,
			struct rec *r)
{
	int e = now_ext_clear(t, r->ino);
	r->size = r->blocks = 0;
	r->flags &= ~(I_STAGED | I_STALE | I_PENDING);
	r->gen++;
	now_ts(&r->mtime);
	r->ctime = r->mtime;
	e = e < 0 ? e : now_rec_put(t, r);
	e = e < 0 ? e : now_set_del(t, 'S', r->ino);
	return e < 0 ? e : now_mark_dirty(n, t, r->ino);
}

/*
 * Whether the extents of staged file r hold its content durably: they
 * describe it (not I_STALE) and every blob they name is in the repository
 * (not I_PENDING; or, after a crash, each one is in the blob index, which
 * a writer flush fills only once the packs and their index/ object are
 * uploaded: the daemon may have stopped between that and clearing the
 * flag). 1 yes, 0 no, or a negative errno.
 */
static int extents_durable(struct drfs_txn *t, const struct rec *r)
{
	struct ext_scan s = { 0 };
	struct drfs_blob_loc loc;
	if (r->flags & I_STALE)
		return 0;
	if (!(r->flags & I_PENDING))
		return 1;
	int e = now_ext_range(t, r->ino, 0, UINT64_MAX, &s);
	for (size_t i = 0; e >= 0 && i < s.n; i++)
		e = drfs_index_blob_get(t, &s.v[i].id, &loc);
	free(s.v);
	if (e == -ENOENT)
		return 0;
	return e < 0 ? e : 1;
}

/*
 * r's extents hold its content durably: it is no longer staged. The
 * caller puts r, commits, then drops the staging file (now_unlink_staging).
 */
int now_unstage(struct drfs_txn *t, struct rec *r)
{
	r->flags &= ~(I_STAGED | I_PENDING);
	return now_set_del(t, 'S', r->ino);
}

/*
 * After a crash: orphans, staging files, chunks that never became durable.
 * A staged file whose extents are durable (a flush or a snapshot recorded
 * them; the daemon stopped before the staging was dropped) keeps them and
 * is no longer staged, whatever happened to its staging content. Otherwise
 * its staging file is the content; without one (staged in memory, or a
 * machine crash lost it) the file is empty now.
 */
int now_recover(struct drfs_now *n)
{
	struct drfs_txn *t;
	struct ino_list orph = { 0 }, staged = { 0 };
	size_t lost = 0;
	int e = now_txn(n, true, &t);
	if (e < 0)
		return e;
	e = now_set_list(t, 'O', &orph);
	for (size_t i = 0; e >= 0 && i < orph.n; i++) {
		struct rec r;
		bool unl;
		if (now_rec_get(t, orph.v[i], &r) == 0)
			e = now_delete_inode(n, t, &r, &unl);
		e = e < 0 ? e : now_set_del(t, 'O', orph.v[i]);
	}
	e = e < 0 ? e : now_set_list(t, 'S', &staged);
	for (size_t i = 0; e >= 0 && i < staged.n; i++) {
		struct rec r;
		char p[PATH_MAX];
		if (now_rec_get(t, staged.v[i], &r) < 0 ||
		    !(r.flags & I_STAGED)) {
			e = now_set_del(t, 'S', staged.v[i]);
			continue;
		}
		e = extents_durable(t, &r);
		if (e > 0) {
			e = now_unstage(t, &r);
			e = e < 0 ? e : now_rec_put(t, &r);
			continue;
		}
		if (e < 0)
			break;
		now_staging_path(n, r.ino, p, sizeof(p));
		int fd = open(p, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT) {
			e = -errno;
			break;
		}
		struct stat fs;
		bool have = fd >= 0 && fstat(fd, &fs) == 0;
		/*
		 * Staged in memory (no file), or a staging file whose data a
		 * machine crash lost (empty): the content is gone. Empty,
		 * with a new mtime, so that rsync's quick check copies it
		 * again (zeros of the old size would pass it).
		 */
		if (fd < 0 || (have && fs.st_size == 0 && r.size)) {
			if (fd >= 0)
				close(fd);
			e = lose_content(n, t, &r);
			lost++;
			continue;
		}
		if (have) {
			r.size = (uint64_t)fs.st_size;
			n->staged_bytes += (uint64_t)fs.st_blocks * 512;
		}
		close(fd);
		if (r.flags & I_PENDING) {
			/* extents whose blobs were never flushed */
			r.flags &= ~I_PENDING;
			r.flags |= I_STALE;
		}
		e = now_rec_put(t, &r);
	}
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	/* staging files LMDB no longer needs go once that is on disk */
	if (e >= 0 && now_index_sync(n) >= 0 &&
	    now_txn(n, false, &t) >= 0) {
		staging_clean(n, t);
		drfs_txn_abort(t);
	}
	if (e >= 0 && lost)
		log_warn("now/: %zu file%s written since the last flush and "
			 "never fsync'd lost their content when the daemon "
			 "stopped (in memory, or a crash lost the staging "
			 "file); they are empty now: run the backup again",
			 lost, lost == 1 ? "" : "s");
	free(orph.v);
	free(staged.v);
	return e;
}
