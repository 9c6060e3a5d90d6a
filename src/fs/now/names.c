/* SPDX-License-Identifier: MIT */
/*
 * names.c - the name operations: lookup, create, mkdir, link, unlink,
 * rename, readdir. nowint.h has the layout and the locks.
 */
#include "nowint.h"

/* ---- metadata operations ------------------------------------------------ */

int now_delete_inode(struct drfs_now *n, struct drfs_txn *t,
		     const struct rec *r, bool *ret_unlink_staging)
{
	uint8_t k[8];
	(void)n;
	now_put_be64(k, r->ino);
	int e = drfs_kv_del(t, DRFS_DB_NOW_INODES, k, 8);
	e = e < 0 && e != -ENOENT ? e : now_ext_clear(t, r->ino);
	e = e < 0 ? e : now_xattr_clear(t, r->ino);
	e = e < 0 ? e : now_set_del(t, 'S', r->ino);
	e = e < 0 ? e : now_set_del(t, 'O', r->ino);
	if (e >= 0 && r->src_ino && !S_ISDIR(r->mode) && r->nlink <= 1) {
		uint8_t lk[9] = { 'L' };
		now_put_be64(lk + 1, r->src_ino);
		int d = drfs_kv_del(t, DRFS_DB_NOW_META, lk, 9);
		e = d == -ENOENT ? 0 : d;
	}
	*ret_unlink_staging = r->flags & I_STAGED;
	return e;
}

/* One link of r is gone (entry already removed). */
static int drop_link(struct drfs_now *n, struct drfs_txn *t, struct rec *r,
		     const struct timespec *now, bool *ret_unlink)
{
	*ret_unlink = false;
	if (r->nlink > 0)
		r->nlink--;
	r->ctime = *now;
	if (r->nlink > 0 && !S_ISDIR(r->mode)) {
		int e = now_rec_put(t, r);
		return e ?: now_mark_dirty(n, t, r->ino);
	}
	if (now_ofile_find(n, r->ino)) {
		r->flags |= I_ORPHAN;
		r->nlink = 0;
		int e = now_rec_put(t, r);
		return e ?: now_set_put(t, 'O', r->ino);
	}
	r->nlink = 1; /* now_delete_inode drops the 'L' entry */
	return now_delete_inode(n, t, r, ret_unlink);
}

static void unlink_staging_now(struct drfs_now *n, uint64_t ino)
{
	char p[PATH_MAX];
	struct stat st;
	struct drfs_txn *t;
	struct rec r;

	/*
	 * A file whose clean staging file was dropped can be opened for
	 * writing and staged again (ensure_staged, same path) before a
	 * deferred unlink runs (the syncer's, or one left over after a failed
	 * index sync): that file is the content now. Both happen under
	 * n->lock, so the record says which one this is.
	 */
	if (now_txn(n, false, &t) == 0) {
		bool staged =
			now_rec_get(t, ino, &r) == 0 && (r.flags & I_STAGED);
		drfs_txn_abort(t);
		if (staged)
			return;
	}
	if (now_mem_find(n, ino)) {
		now_mem_remove(n, ino);
		return;
	}
	now_staging_path(n, ino, p, sizeof(p));
	if (stat(p, &st) == 0) {
		uint64_t b = (uint64_t)st.st_blocks * 512;
		n->staged_bytes -= MIN(n->staged_bytes, b);
	}
	unlink(p);
}

/*
 * Make every commit so far durable: drfs_index_sync() unless nothing was
 * committed since the last sync. Any thread, any locks.
 */
int now_index_sync(struct drfs_now *n)
{
	pthread_mutex_lock(&n->synclock);
	uint64_t c = atomic_load(&n->commits);
	int e = 0;
	if (c != n->synced) {
		e = drfs_index_sync(n->r->index);
		if (e >= 0)
			n->synced = c;
	}
	pthread_mutex_unlock(&n->synclock);
	return e;
}

/*
 * The staging file of a deleted inode goes only after the deletion is on
 * disk: a machine crash that undid the deletion would otherwise bring the
 * file back as zeros. Under n->lock; unlinked by now_unlinks_flush().
 */
void now_unlink_staging(struct drfs_now *n, uint64_t ino)
{
	if (now_ino_list_push(&n->unl, ino) < 0) {
		/* no memory: sync now rather than risk the content */
		if (now_index_sync(n) >= 0)
			unlink_staging_now(n, ino);
	}
}

/* Sync the index, then unlink the deferred staging files. Under n->lock. */
int now_unlinks_flush(struct drfs_now *n)
{
	int e = now_index_sync(n);
	if (e < 0)
		return e;
	for (size_t i = 0; i < n->unl.n; i++)
		unlink_staging_now(n, n->unl.v[i]);
	n->unl.n = 0;
	return 0;
}

/*
 * The syncer thread: about once a second, if anything was committed,
 * sync the index (without n->lock) and unlink the staging files whose
 * deletion that sync covered.
 */
void *now_syncer_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-sync");
	struct drfs_now *n = arg;
	pthread_mutex_lock(&n->lock);
	while (!n->syncer_quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec++;
		pthread_cond_timedwait(&n->syncer_cond, &n->lock, &ts);
		if (n->syncer_quit)
			break;
		struct ino_list l = n->unl;
		n->unl = (struct ino_list){ 0 };
		pthread_mutex_unlock(&n->lock);
		int e = now_index_sync(n);
		pthread_mutex_lock(&n->lock);
		for (size_t i = 0; i < l.n; i++) {
			if (e >= 0)
				unlink_staging_now(n, l.v[i]);
			else
				now_ino_list_push(&n->unl, l.v[i]);
		}
		free(l.v);
		if (e >= 0 && l.n) {
			n->space_stuck = false;
			pthread_cond_broadcast(&n->bg_cond);
		}
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int drfs_now_sync_meta(struct drfs_now *n)
{
	return now_index_sync(n);
}

int drfs_now_getattr(struct drfs_now *n, uint64_t ino, struct stat *ret)
{
	struct drfs_txn *t;
	struct rec r;
	pthread_mutex_lock(&n->lock);
	int e = now_txn(n, false, &t);
	if (e >= 0) {
		e = now_rec_get(t, ino, &r);
		drfs_txn_abort(t);
	}
	if (e >= 0)
		now_rec_stat(n, &r, ret);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int drfs_now_lookup(struct drfs_now *n, uint64_t dir, const char *name,
		    struct stat *ret)
{
	struct drfs_txn *t;
	struct rec r;
	uint64_t ino;
	if (strlen(name) > DRFS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&n->lock);
	int e = now_ensure_mat(n, dir);
	e = e < 0 ? e : now_txn(n, false, &t);
	if (e >= 0) {
		e = now_dent_get(t, dir, name, &ino, NULL);
		e = e < 0 ? e : now_rec_get(t, ino, &r);
		drfs_txn_abort(t);
	}
	if (e >= 0)
		now_rec_stat(n, &r, ret);
	pthread_mutex_unlock(&n->lock);
	return e;
}

struct rd_scan {
	struct drfs_now *n;
	struct drfs_txn *t;
	uint64_t dir;
	drfs_now_dirent_cb cb;
	void *ud;
};

static int readdir_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ud)
{
	struct rd_scan *s = ud;
	const uint8_t *k = key, *v = val;
	char name[DRFS_NAME_MAX + 1];
	struct rec r;
	struct stat st;
	if (klen != 17 || k[0] != 'o' || now_get_be64(k + 1) != s->dir)
		return 1;
	if (vlen <= 8 || vlen > 8 + DRFS_NAME_MAX)
		return -EBADMSG;
	memcpy(name, v + 8, vlen - 8);
	name[vlen - 8] = 0;
	int e = now_rec_get(s->t, now_get_be64(v), &r);
	if (e < 0)
		return e;
	now_rec_stat(s->n, &r, &st);
	return s->cb(s->ud, now_get_be64(k + 9), name, &st);
}

int drfs_now_readdir(struct drfs_now *n, uint64_t dir, uint64_t after,
		     drfs_now_dirent_cb cb, void *userdata)
{
	struct rd_scan s = { .n = n, .dir = dir, .cb = cb, .ud = userdata };
	uint8_t k[17];
	pthread_mutex_lock(&n->lock);
	int e = now_ensure_mat(n, dir);
	e = e < 0 ? e : now_txn(n, false, &s.t);
	if (e >= 0) {
		now_dkey_seq(k, dir, after + 1);
		e = drfs_kv_scan(s.t, DRFS_DB_NOW_DIRENTS, k, 17, readdir_cb,
				 &s);
		drfs_txn_abort(s.t);
	}
	pthread_mutex_unlock(&n->lock);
	return e;
}

static int do_create(struct drfs_now *n, uint64_t dir, const char *name,
		     mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
		     const char *target, struct stat *ret)
{
	struct drfs_txn *t = NULL;
	struct rec d, *c;
	struct state s;
	size_t len;
	uint64_t ino;
	int e = now_check_name(name, &len);
	if (e < 0)
		return e;
	if (target && (strlen(target) == 0 || strlen(target) > DRFS_PATH_MAX))
		return strlen(target) ? -ENAMETOOLONG : -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	e = now_ensure_mat(n, dir);
	s = n->st; /* after now_ensure_mat, which allocates inodes */
	e = e < 0 ? e : now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, dir, &d);
	if (e < 0)
		goto out;
	if (d.flags & I_ORPHAN) {
		e = -ENOENT;
		goto out;
	}
	e = now_dent_get(t, dir, name, &ino, NULL);
	if (e == 0)
		e = -EEXIST;
	if (e != -ENOENT)
		goto out;
	if (s.next_ino >= INO_MAX) {
		e = -ENOSPC;
		goto out;
	}
	c->ino = now_alloc_ino(&s);
	c->mode = mode;
	c->uid = uid;
	c->gid = gid;
	c->nlink = 1;
	c->rdev = S_ISCHR(mode) || S_ISBLK(mode) ? rdev : 0;
	now_ts(&c->ctime);
	c->atime = c->mtime = c->ctime;
	c->flags = I_DIRTY;
	if (S_ISDIR(mode)) {
		c->nlink = 2;
		c->flags |= I_MAT | I_AGG;
		c->agg_dirs = 1;
		d.nlink++;
	}
	if (target) {
		c->target_len = (uint16_t)strlen(target);
		memcpy(c->target, target, c->target_len + 1);
		c->size = c->target_len;
	}
	d.mtime = d.ctime = c->ctime;
	if (S_ISREG(mode)) {
		/* staged from the start: its first write needs no txn */
		if (!now_mem_new(n, c->ino)) {
			char p[PATH_MAX];
			now_staging_path(n, c->ino, p, sizeof(p));
			int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
				      0600);
			if (fd < 0) {
				e = -errno;
				goto out;
			}
			close(fd);
		}
		c->flags |= I_STAGED | I_STALE;
		e = now_set_put(t, 'S', c->ino);
		if (e < 0)
			goto out;
	}
	e = now_rec_put(t, c);
	e = e < 0 ? e : now_dent_add(t, &d, name, len, c->ino);
	e = e < 0 ? e : now_rec_put(t, &d);
	e = e < 0 ? e : now_mark_dirty(n, t, dir);
	e = e < 0 ? e : now_state_put(t, &s);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0) {
		n->st = s;
		now_rec_stat(n, c, ret);
	}
out:
	drfs_txn_abort(t);
	if (e < 0 && c->ino)
		now_mem_remove(n, c->ino);
	pthread_mutex_unlock(&n->lock);
	free(c);
	return e;
}

int drfs_now_mknod(struct drfs_now *n, uint64_t dir, const char *name,
		   mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
		   struct stat *ret)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFSOCK:
		break;
	case 0:
		mode |= S_IFREG;
		break;
	default:
		return -EINVAL;
	}
	return do_create(n, dir, name, mode, rdev, uid, gid, NULL, ret);
}

int drfs_now_mkdir(struct drfs_now *n, uint64_t dir, const char *name,
		   mode_t mode, uid_t uid, gid_t gid, struct stat *ret)
{
	return do_create(n, dir, name, S_IFDIR | (mode & 07777), 0, uid, gid,
			 NULL, ret);
}

int drfs_now_symlink(struct drfs_now *n, uint64_t dir, const char *name,
		     const char *target, uid_t uid, gid_t gid,
		     struct stat *ret)
{
	return do_create(n, dir, name, S_IFLNK | 0777, 0, uid, gid, target,
			 ret);
}

int drfs_now_readlink(struct drfs_now *n, uint64_t ino, char *out,
		      size_t max)
{
	struct drfs_txn *t;
	struct rec r;
	int e = now_txn(n, false, &t);
	if (e < 0)
		return e;
	e = now_rec_get(t, ino, &r);
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	if (!S_ISLNK(r.mode))
		return -EINVAL;
	if (max <= r.target_len)
		return -ENAMETOOLONG;
	memcpy(out, r.target, r.target_len + 1);
	return r.target_len;
}

int drfs_now_link(struct drfs_now *n, uint64_t ino, uint64_t dir,
		  const char *name, struct stat *ret)
{
	struct drfs_txn *t = NULL;
	struct rec d, c;
	size_t len;
	uint64_t other;
	int e = now_check_name(name, &len);
	if (e < 0)
		return e;
	pthread_mutex_lock(&n->lock);
	e = now_ensure_mat(n, dir);
	e = e < 0 ? e : now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, dir, &d);
	e = e < 0 ? e : now_rec_get(t, ino, &c);
	if (e < 0)
		goto out;
	if (S_ISDIR(c.mode)) {
		e = -EPERM;
		goto out;
	}
	if (c.flags & I_ORPHAN) {
		e = -ENOENT;
		goto out;
	}
	e = now_dent_get(t, dir, name, &other, NULL);
	if (e == 0)
		e = -EEXIST;
	if (e != -ENOENT)
		goto out;
	c.nlink++;
	now_ts(&c.ctime);
	d.mtime = d.ctime = c.ctime;
	e = now_dent_add(t, &d, name, len, ino);
	e = e < 0 ? e : now_rec_put(t, &d);
	e = e < 0 ? e : now_rec_put(t, &c);
	e = e < 0 ? e : now_mark_dirty(n, t, ino);
	e = e < 0 ? e : now_mark_dirty(n, t, dir);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0)
		now_rec_stat(n, &c, ret);
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int drfs_now_unlink(struct drfs_now *n, uint64_t dir, const char *name)
{
	struct drfs_txn *t = NULL;
	struct rec d, c;
	uint64_t ino;
	bool unl = false;
	struct timespec now;
	pthread_mutex_lock(&n->lock);
	int e = now_ensure_mat(n, dir);
	e = e < 0 ? e : now_txn(n, true, &t);
	e = e < 0 ? e : now_dent_get(t, dir, name, &ino, NULL);
	e = e < 0 ? e : now_rec_get(t, ino, &c);
	e = e < 0 ? e : now_rec_get(t, dir, &d);
	if (e < 0)
		goto out;
	if (S_ISDIR(c.mode)) {
		e = -EISDIR;
		goto out;
	}
	now_ts(&now);
	d.mtime = d.ctime = now;
	e = now_dent_del(t, dir, name);
	e = e < 0 ? e : now_rec_put(t, &d);
	e = e < 0 ? e : now_mark_dirty(n, t, dir);
	e = e < 0 ? e : drop_link(n, t, &c, &now, &unl);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0 && unl)
		now_unlink_staging(n, ino);
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

static int child_of(struct drfs_now *n, uint64_t dir, const char *name,
		    uint64_t *ret)
{
	struct drfs_txn *t;
	int e = now_txn(n, false, &t);
	if (e < 0)
		return e;
	e = now_dent_get(t, dir, name, ret, NULL);
	drfs_txn_abort(t);
	return e;
}

int drfs_now_rmdir(struct drfs_now *n, uint64_t dir, const char *name)
{
	struct drfs_txn *t = NULL;
	struct rec d, c;
	uint64_t ino;
	bool unl;
	pthread_mutex_lock(&n->lock);
	int e = now_ensure_mat(n, dir);
	e = e < 0 ? e : child_of(n, dir, name, &ino);
	e = e < 0 ? e : now_ensure_mat(n, ino);
	e = e < 0 ? e : now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, ino, &c);
	e = e < 0 ? e : now_rec_get(t, dir, &d);
	if (e < 0)
		goto out;
	e = now_dir_is_empty(t, ino);
	if (e == 0)
		e = -ENOTEMPTY;
	if (e < 0)
		goto out;
	now_ts(&d.mtime);
	d.ctime = d.mtime;
	if (d.nlink > 2)
		d.nlink--;
	e = now_dent_del(t, dir, name);
	e = e < 0 ? e : now_rec_put(t, &d);
	e = e < 0 ? e : now_mark_dirty(n, t, dir);
	e = e < 0 ? e : now_delete_inode(n, t, &c, &unl);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
out:
	if (e == -ENOTDIR)
		e = -ENOTDIR;
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

/* Whether a is dir or one of its ancestors. */
static int is_ancestor(struct drfs_txn *t, uint64_t a, uint64_t dir)
{
	for (int depth = 0; depth < 4096; depth++) {
		if (dir == a)
			return 1;
		if (dir == DRFS_NOW_ROOT)
			return 0;
		struct ino_list ps = { 0 };
		int e = now_parents_of(t, dir, &ps);
		if (e >= 0 && ps.n == 0)
			e = 0;
		uint64_t p = ps.n ? ps.v[0] : 0;
		free(ps.v);
		if (e < 0)
			return e;
		if (!p)
			return 0;
		dir = p;
	}
	return -ELOOP;
}

/* A rename under way: its two directories, source and (if any) target. */
struct ren {
	struct drfs_now *n;
	struct drfs_txn *t;
	uint64_t dir, newdir, src, dst;
	const char *name, *newname;
	size_t len;                /* of newname */
	struct rec *d, *nd, *s, *x; /* nd == d in one directory */
	bool have_dst, unl;        /* unl: x lost its last link */
	struct timespec now;
};

/*
 * RENAME_EXCHANGE: the two entries swap their inodes. 0, 1 when there is
 * nothing to change (one inode under both names), or -errno.
 */
static int ren_exchange(struct ren *r)
{
	struct rec *s = r->s, *x = r->x;
	int e;
	if (!r->have_dst)
		return -ENOENT;
	if (r->src == r->dst)
		return 1;
	if ((S_ISDIR(s->mode) && (e = is_ancestor(r->t, r->src, r->newdir))) ||
	    (S_ISDIR(x->mode) && (e = is_ancestor(r->t, r->dst, r->dir))))
		return e > 0 ? -EINVAL : e;
	e = now_dent_repoint(r->t, r->dir, r->name, r->dst);
	e = e < 0 ? e : now_dent_repoint(r->t, r->newdir, r->newname, r->src);
	if (e < 0)
		return e;
	if (r->dir != r->newdir && S_ISDIR(s->mode) != S_ISDIR(x->mode)) {
		if (S_ISDIR(s->mode)) {
			r->d->nlink--;
			r->nd->nlink++;
		} else {
			r->d->nlink++;
			r->nd->nlink--;
		}
	}
	s->ctime = x->ctime = r->now;
	e = now_rec_put(r->t, s);
	return e < 0 ? e : now_rec_put(r->t, x);
}

/*
 * A plain rename (RENAME_NOREPLACE or none): a target is replaced, if the
 * kinds agree (a directory only if empty). 0, 1 when there is nothing to
 * change (the target is the source), or -errno.
 */
static int ren_move(struct ren *r, unsigned int flags)
{
	struct rec *s = r->s, *x = r->x;
	int e;
	if (r->have_dst && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (r->have_dst && r->src == r->dst)
		return 1;
	if (S_ISDIR(s->mode)) {
		e = is_ancestor(r->t, r->src, r->newdir);
		if (e != 0)
			return e > 0 ? -EINVAL : e;
	}
	if (r->have_dst) {
		if (S_ISDIR(s->mode) && !S_ISDIR(x->mode))
			return -ENOTDIR;
		if (!S_ISDIR(s->mode) && S_ISDIR(x->mode))
			return -EISDIR;
		if (S_ISDIR(x->mode)) {
			e = now_dir_is_empty(r->t, r->dst);
			if (e <= 0)
				return e == 0 ? -ENOTEMPTY : e;
			if (r->nd->nlink > 2)
				r->nd->nlink--;
		}
		e = now_dent_del(r->t, r->newdir, r->newname);
		e = e < 0 ? e : drop_link(r->n, r->t, x, &r->now, &r->unl);
		if (e < 0)
			return e;
	}
	e = now_dent_del(r->t, r->dir, r->name);
	e = e < 0 ? e : now_dent_add(r->t, r->nd, r->newname, r->len, r->src);
	if (e < 0)
		return e;
	if (S_ISDIR(s->mode) && r->dir != r->newdir) {
		if (r->d->nlink > 2)
			r->d->nlink--;
		r->nd->nlink++;
	}
	s->ctime = r->now;
	return now_rec_put(r->t, s);
}

/* The records of a rename: both directories, the source, the target. */
static int ren_load(struct ren *r, struct rec *d, struct rec *nd_,
		    struct rec *s, struct rec *x)
{
	int e = now_rec_get(r->t, r->dir, d);
	if (e < 0)
		return e;
	r->d = d;
	r->nd = nd_;
	if (r->newdir == r->dir)
		r->nd = d;
	else if ((e = now_rec_get(r->t, r->newdir, nd_)) < 0)
		return e;
	r->s = s;
	r->x = x;
	e = now_rec_get(r->t, r->src, s);
	if (e >= 0 && r->have_dst)
		e = now_rec_get(r->t, r->dst, x);
	return e;
}

int drfs_now_rename(struct drfs_now *n, uint64_t dir, const char *name,
		    uint64_t newdir, const char *newname, unsigned int flags)
{
	struct ren r = { .n = n, .dir = dir, .newdir = newdir, .name = name,
			 .newname = newname };
	struct rec d, nd, s, x;
	int e;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	e = now_check_name(newname, &r.len);
	if (e < 0)
		return e;
	pthread_mutex_lock(&n->lock);
	e = now_ensure_mat(n, dir);
	e = e < 0 ? e : now_ensure_mat(n, newdir);
	e = e < 0 ? e : child_of(n, dir, name, &r.src);
	if (e < 0)
		goto out;
	r.have_dst = child_of(n, newdir, newname, &r.dst) == 0;
	if (r.have_dst && !(flags & RENAME_EXCHANGE)) {
		e = now_ensure_mat(n, r.dst);
		if (e == -ENOTDIR)
			e = 0;
		if (e < 0)
			goto out;
	}
	e = now_txn(n, true, &r.t);
	e = e < 0 ? e : ren_load(&r, &d, &nd, &s, &x);
	if (e < 0)
		goto out;
	now_ts(&r.now);
	e = flags & RENAME_EXCHANGE ? ren_exchange(&r) : ren_move(&r, flags);
	if (e < 0)
		goto out;
	if (e == 0) {
		d.mtime = d.ctime = r.now;
		r.nd->mtime = r.nd->ctime = r.now;
		e = now_rec_put(r.t, &d);
		if (e >= 0 && r.nd != &d)
			e = now_rec_put(r.t, r.nd);
		e = e < 0 ? e : now_mark_dirty(n, r.t, r.src);
		if (e >= 0 && r.have_dst && (flags & RENAME_EXCHANGE))
			e = now_mark_dirty(n, r.t, r.dst);
		e = e < 0 ? e : now_mark_dirty(n, r.t, dir);
		e = e < 0 ? e : now_mark_dirty(n, r.t, newdir);
		if (e < 0)
			goto out;
	}
	e = now_commit(n, r.t);
	r.t = NULL;
	if (e >= 0 && r.unl)
		now_unlink_staging(n, r.dst);
out:
	drfs_txn_abort(r.t);
	pthread_mutex_unlock(&n->lock);
	return e;
}
