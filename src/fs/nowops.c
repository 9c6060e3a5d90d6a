/* SPDX-License-Identifier: MIT */
/*
 * nowops.c - the FUSE operations on now/, each handed to the drfs_now_* call
 * of the same name. mountint.h has what the rooms of the mount share.
 */
#include "mountint.h"

/* ---- now/ ----------------------------------------------------------------- */

/* Reply an entry for a now/ inode whose attributes are st. */
static void now_reply_entry(fuse_req_t req, struct stat *st)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.attr = *st;
	e.ino = FS_NOW_INO(st->st_ino);
	e.attr.st_ino = e.ino;
	e.attr.st_blksize = BLKSIZE;
	e.generation = 1;
	e.attr_timeout = NOW_TIMEOUT;
	e.entry_timeout = NOW_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void now_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	int r = drfs_now_lookup(fs->now, FS_NOW_NUM(parent), name, &st);
	if (r == -ENOENT) {
		struct fuse_entry_param e = { 0 };
		e.entry_timeout = NOW_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	now_reply_entry(req, &st);
}

bool mnt_is_now(struct fs *fs, uint64_t ino)
{
	return fs->now && FS_NS(ino) == FS_NS_NOW;
}

void mnt_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_inode dir;
	uint64_t ino;
	int r;

	if (FS_NS(parent) == FS_NS_VIRT) {
		mnt_snaps_refresh(fs);
		if (parent == FS_INO_ROOT) {
			if (strcmp(name, "snapshots") == 0) {
				ino = FS_INO_SNAPSHOTS;
				r = 0;
			} else if (strcmp(name, "latest") == 0) {
				ino = FS_INO_LATEST;
				r = mnt_virt_stat(fs, ino, &(struct stat){ 0 });
			} else if (strcmp(name, "now") == 0) {
				r = mnt_now_root(fs, &ino);
			} else if (strcmp(name, "info") == 0) {
				ino = FS_INO_INFO;
				r = 0;
			} else {
				r = -ENOENT;
			}
		} else if (parent == FS_INO_SNAPSHOTS ||
			   parent == FS_INO_INFO) {
			int64_t day = mnt_folder_day(name);
			r = -ENOENT;
			if (strlen(name) == 10 && day >= 0 &&
			    mnt_day_exists(fs, day, NULL)) {
				ino = (parent == FS_INO_INFO
					       ? FS_INO_INFO_DAY_BASE
					       : FS_INO_DAY_BASE) +
				      (uint64_t)day;
				r = 0;
			}
		} else if (mnt_is_day_ino(parent)) {
			r = mnt_folder_root(fs, parent, name, &ino);
		} else if (mnt_is_info_day_ino(parent)) {
			r = mnt_info_lookup(fs, parent, name, &ino);
		} else {
			r = -ENOTDIR;
		}
		if (r < 0)
			reply_err(req, r);
		else
			mnt_reply_entry(req, ino, VIRT_TIMEOUT);
		return;
	}

	if (FS_NS(parent) == FS_NS_NOW && fs->now) {
		now_lookup(req, parent, name);
		return;
	}
	r = fs_inode_get(fs, parent, &dir);
	if (r == 0)
		r = fs_dir_load(fs, &dir);
	if (r == 0)
		r = fs_dir_lookup(fs, parent, name, &ino);
	if (r < 0) {
		if (r == -EBADMSG) {
			char path[512];
			fs_inode_path(fs, parent, path, sizeof(path));
			log_err("reading directory \"%s\": %s", path,
				drfs_strerror(r));
		}
		if (r == -ENOENT) {
			/* negative entry, cached as long as the snapshot */
			struct fuse_entry_param e = { 0 };
			e.entry_timeout = VIEW_TIMEOUT;
			fuse_reply_entry(req, &e);
			return;
		}
		reply_err(req, r);
		return;
	}
	mnt_reply_entry(req, ino, VIEW_TIMEOUT);
}

/* Nothing per inode lives in memory (fsint.h), so forget frees nothing. */

void mnt_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

void mnt_op_forget_multi(fuse_req_t req, size_t count,
			 struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

void mnt_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	(void)fi;
	int r = mnt_ino_stat(req_fs(req), ino, &st, &timeout);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_attr(req, &st, timeout);
}

void mnt_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	struct fs_inode in;
	struct fs_snap sn;
	char t[64];
	int r;

	if (ino == FS_INO_LATEST) {
		mnt_snaps_refresh_readlink(fs);
		if (mnt_snap_get(fs, SIZE_MAX, &sn) < 0) {
			reply_err(req, -ENOENT);
			return;
		}
		snprintf(t, sizeof(t), "snapshots/%s", sn.folder);
		fuse_reply_readlink(req, t);
		return;
	}
	if (FS_NS(ino) == FS_NS_VIRT) {
		reply_err(req, -EINVAL);
		return;
	}
	if (mnt_is_now(fs, ino)) {
		char target[DRFS_PATH_MAX + 1];
		r = drfs_now_readlink(fs->now, FS_NOW_NUM(ino), target,
				      sizeof(target));
		if (r < 0)
			reply_err(req, r);
		else
			fuse_reply_readlink(req, target);
		return;
	}
	r = fs_inode_get(fs, ino, &in);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (!S_ISLNK(in.mode)) {
		reply_err(req, -EINVAL);
		return;
	}
	fuse_reply_readlink(req, in.target);
}

/* ---- modifying operations: now/ only ------------------------------------ */

/*
 * A snapshot of now/ was just committed: enforce the retention policy,
 * reload the catalogue now (not within a second) and drop what the kernel
 * cached about the dated folders, so the printed folder exists at once and
 * forgotten ones are gone. Never invalidates an entry of the root: a
 * setxattr on the root holds its lock.
 */
void mnt_now_snapshot_taken(struct fs *fs)
{
	struct drfs_now_status st;
	char (*old)[DRFS_FOLDER_BUF] = NULL;
	size_t n_old = 0;
	if (fs->ret && mnt_folders_copy(fs, &old, &n_old) == 0) {
		int f = fs->ret->enforce(fs->ret->ud, fs->repo);
		if (f < 0)
			log_err("retention policy after a snapshot: %s",
				drfs_strerror(f));
		else if (f > 0)
			log_info("retention policy: forgot %d snapshot%s", f,
				 f == 1 ? "" : "s");
		if (f > 0)
			mnt_gc_request(fs);
	}
	if (fs->ret) { /* new deletion records are checked at each commit */
		pthread_mutex_lock(&fs->gc_lock);
		fs->del_check = true;
		pthread_cond_broadcast(&fs->gc_cond);
		pthread_mutex_unlock(&fs->gc_lock);
	}
	mnt_watermark_update(fs);
	mnt_snaps_reload(fs);
	if (old)
		mnt_inval_gone(fs, old, n_old);
	free(old);
	if (!fs->se || drfs_now_status(fs->now, &st) < 0 || !st.last_folder[0])
		return;
	int64_t day = mnt_folder_day(st.last_folder);
	char dayname[16];
	snprintf(dayname, sizeof(dayname), "%.10s", st.last_folder);
	fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_SNAPSHOTS, 0, 0);
	fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_LATEST, 0, 0);
	fuse_lowlevel_notify_inval_entry(fs->se, FS_INO_SNAPSHOTS, dayname,
					 strlen(dayname));
	if (day >= 0 && strlen(st.last_folder) > 11) {
		uint64_t dino = FS_INO_DAY_BASE + (uint64_t)day;
		fuse_lowlevel_notify_inval_inode(fs->se, dino, 0, 0);
		fuse_lowlevel_notify_inval_entry(fs->se, dino,
						 st.last_folder + 11,
						 strlen(st.last_folder + 11));
	}
}

/* now/ number of a directory inode, or the error to reply (EROFS). */
static int now_dir(struct fs *fs, fuse_ino_t ino, uint64_t *ret)
{
	if (!mnt_is_now(fs, ino))
		return -EROFS;
	*ret = FS_NOW_NUM(ino);
	return 0;
}

/* Owner of a new inode: the caller, or the directory's group if setgid. */
static void new_owner(fuse_req_t req, uint64_t dir, uid_t *uid, gid_t *gid,
		      mode_t *mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;
	*uid = ctx->uid;
	*gid = ctx->gid;
	if (drfs_now_getattr(req_fs(req)->now, dir, &st) == 0 &&
	    (st.st_mode & S_ISGID)) {
		*gid = st.st_gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
}

void mnt_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		    int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct stat st = *attr, out;
	unsigned int which = 0;
	struct timespec now;
	(void)fi;

	if (!mnt_is_now(fs, ino)) {
		reply_err(req, -EROFS);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_MODE)
		which |= DRFS_NOW_SET_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		which |= DRFS_NOW_SET_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		which |= DRFS_NOW_SET_GID;
	if (to_set & FUSE_SET_ATTR_SIZE)
		which |= DRFS_NOW_SET_SIZE;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		which |= DRFS_NOW_SET_ATIME;
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			st.st_atim = now;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		which |= DRFS_NOW_SET_MTIME;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			st.st_mtim = now;
	}
	if (to_set & FUSE_SET_ATTR_CTIME)
		which |= DRFS_NOW_SET_CTIME;
	int r = drfs_now_setattr(fs->now, FS_NOW_NUM(ino), &st, which, &out);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	out.st_ino = ino;
	out.st_blksize = BLKSIZE;
	fuse_reply_attr(req, &out, NOW_TIMEOUT);
}

void mnt_op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
		  dev_t d)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	uint64_t dir;
	uid_t uid;
	gid_t gid;
	int r = now_dir(fs, p, &dir);
	if (r == 0) {
		new_owner(req, dir, &uid, &gid, &m);
		r = drfs_now_mknod(fs->now, dir, n, m, d, uid, gid, &st);
	}
	if (r < 0)
		reply_err(req, r);
	else
		now_reply_entry(req, &st);
}

void mnt_op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	uint64_t dir;
	uid_t uid;
	gid_t gid;
	int r = now_dir(fs, p, &dir);
	m |= S_IFDIR;
	if (r == 0) {
		new_owner(req, dir, &uid, &gid, &m);
		r = drfs_now_mkdir(fs->now, dir, n, m, uid, gid, &st);
	}
	if (r < 0)
		reply_err(req, r);
	else
		now_reply_entry(req, &st);
}

void mnt_op_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
	struct fs *fs = req_fs(req);
	uint64_t dir;
	int r = now_dir(fs, p, &dir);
	if (r == 0)
		r = drfs_now_unlink(fs->now, dir, n);
	reply_err(req, r);
}

void mnt_op_rmdir(fuse_req_t req, fuse_ino_t p, const char *n)
{
	struct fs *fs = req_fs(req);
	uint64_t dir;
	if (FS_NS(p) == FS_NS_VIRT) {
		char (*old)[DRFS_FOLDER_BUF] = NULL;
		size_t n_old = 0;
		int r = mnt_snap_rmdir(fs, p, n, &old, &n_old);
		reply_err(req, r);
		if (r == 0) /* the kernel dropped n itself; the rest now */
			mnt_inval_gone(fs, old, n_old);
		free(old);
		return;
	}
	int r = now_dir(fs, p, &dir);
	if (r == 0)
		r = drfs_now_rmdir(fs->now, dir, n);
	reply_err(req, r);
}

void mnt_op_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	uint64_t dir;
	uid_t uid;
	gid_t gid;
	mode_t m = S_IFLNK;
	int r = now_dir(fs, p, &dir);
	if (r == 0) {
		new_owner(req, dir, &uid, &gid, &m);
		r = drfs_now_symlink(fs->now, dir, n, l, uid, gid, &st);
	}
	if (r < 0)
		reply_err(req, r);
	else
		now_reply_entry(req, &st);
}

void mnt_op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np,
		   const char *nn, unsigned int f)
{
	struct fs *fs = req_fs(req);
	uint64_t dir, newdir;
	int r = now_dir(fs, p, &dir);
	if (r == 0)
		r = now_dir(fs, np, &newdir);
	if (r == 0)
		r = drfs_now_rename(fs->now, dir, n, newdir, nn, f);
	reply_err(req, r);
}

void mnt_op_link(fuse_req_t req, fuse_ino_t i, fuse_ino_t np, const char *nn)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	uint64_t dir;
	int r = now_dir(fs, np, &dir);
	if (r == 0 && !mnt_is_now(fs, i))
		r = -EXDEV;
	if (r == 0)
		r = drfs_now_link(fs->now, FS_NOW_NUM(i), dir, nn, &st);
	if (r < 0)
		reply_err(req, r);
	else
		now_reply_entry(req, &st);
}

void mnt_op_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
		   struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct drfs_now_file *f;
	struct stat st;
	uint64_t dir;
	uid_t uid;
	gid_t gid;
	int r = now_dir(fs, p, &dir);
	if (r == 0) {
		new_owner(req, dir, &uid, &gid, &m);
		r = drfs_now_mknod(fs->now, dir, n, (m & 07777) | S_IFREG, 0,
				   uid, gid, &st);
	}
	if (r == 0)
		r = drfs_now_open_file(fs->now, st.st_ino,
				       fi->flags & ~O_TRUNC, &f);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.attr = st;
	e.ino = FS_NOW_INO(st.st_ino);
	e.attr.st_ino = e.ino;
	e.attr.st_blksize = BLKSIZE;
	e.generation = 1;
	e.attr_timeout = NOW_TIMEOUT;
	e.entry_timeout = NOW_TIMEOUT;
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		drfs_now_release(f);
}

void mnt_op_write(fuse_req_t req, fuse_ino_t i, const char *b, size_t s,
		  off_t o, struct fuse_file_info *fi)
{
	if (!mnt_is_now(req_fs(req), i)) {
		reply_err(req, -EROFS);
		return;
	}
	if (o < 0) {
		reply_err(req, -EINVAL);
		return;
	}
	ssize_t n = drfs_now_write((struct drfs_now_file *)(uintptr_t)fi->fh,
				   b, s, (uint64_t)o);
	if (n < 0) {
		int e = (int)-n;
		fuse_reply_err(req, e == EBADMSG ? EIO : e);
	} else {
		fuse_reply_write(req, (size_t)n);
	}
}

void mnt_op_fsync(fuse_req_t req, fuse_ino_t i, int datasync,
		  struct fuse_file_info *fi)
{
	int r = 0;
	if (mnt_is_now(req_fs(req), i))
		r = drfs_now_fsync((struct drfs_now_file *)(uintptr_t)fi->fh,
				   datasync != 0);
	reply_err(req, r);
}

/*
 * Directory operations are LMDB transactions committed without a disk
 * sync: fsyncdir makes them (all of now/'s, cheaply) durable.
 */
void mnt_op_fsyncdir(fuse_req_t req, fuse_ino_t i, int datasync,
		     struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	(void)datasync, (void)fi;
	reply_err(req, mnt_is_now(fs, i) ? drfs_now_sync_meta(fs->now) : 0);
}

/* A control request (setxattr n of the mount root, value v) run now. */
static int ctl_run(struct fs *fs, pid_t pid, const char *n, const char *v,
		   size_t s)
{
	if (strcmp(n, FS_CTL_PRUNE) == 0)
		return mnt_prune_request(fs, pid, v, s);
	int r = fs_ctl_setxattr(fs->now, n, v, s);
	if (r == 0)
		mnt_now_snapshot_taken(fs);
	return r;
}

/* Keep a control request for the requester's getxattr of FS_CTL_RUN. */
static int ctl_defer(struct fs *fs, const struct fuse_ctx *cx, const char *n,
		     const char *v, size_t s)
{
	pid_t pid = cx->pid;
	if (pid == 0) /* outside our pid namespace: not told apart */
		return -EINVAL; /* the CLI sends the plain setxattr then */
	if (strlen(n) >= sizeof(fs->ctl_defer[0].name))
		return -EPERM;
	if (s > FS_CTL_PRUNE_MAX)
		return -E2BIG;
	char *args = malloc(s + 1);
	if (!args)
		return -ENOMEM;
	memcpy(args, v, s);
	pthread_mutex_lock(&fs->ctl_lock);
	/* the requester's earlier one, a free slot, or the first gives way */
	struct fs_ctl_defer *d = &fs->ctl_defer[0];
	for (size_t i = 0; i < ARRAY_SIZE(fs->ctl_defer); i++)
		if (fs->ctl_defer[i].pid == pid || !fs->ctl_defer[i].pid) {
			d = &fs->ctl_defer[i];
			break;
		}
	free(d->args);
	d->pid = pid;
	d->uid = cx->uid;
	snprintf(d->name, sizeof(d->name), "%s", n);
	d->args = args;
	d->len = s;
	pthread_mutex_unlock(&fs->ctl_lock);
	return 0;
}

/*
 * getxattr FS_CTL_RUN: run the caller's deferred request; "ok" or its
 * error. A size query runs nothing.
 */
void mnt_ctl_run(fuse_req_t req, struct fs *fs, size_t size)
{
	const struct fuse_ctx *cx = fuse_req_ctx(req);
	pid_t pid = cx->pid;
	struct fs_ctl_defer d = { 0 };
	pthread_mutex_lock(&fs->ctl_lock);
	for (size_t i = 0; i < ARRAY_SIZE(fs->ctl_defer); i++) {
		struct fs_ctl_defer *c = &fs->ctl_defer[i];
		if (c->pid != pid || c->uid != cx->uid)
			continue;
		d = *c;
		if (size >= 2)
			memset(c, 0, sizeof(*c));
		break;
	}
	pthread_mutex_unlock(&fs->ctl_lock);
	if (!d.pid) {
		reply_err(req, -ENODATA);
	} else if (size == 0) {
		fuse_reply_xattr(req, 2);
	} else if (size < 2) {
		reply_err(req, -ERANGE);
	} else {
		int r = ctl_run(fs, pid, d.name, d.args, d.len);
		free(d.args);
		/* ENOSYS to a GETXATTR: the kernel sends no getxattr again */
		if (r == -ENOSYS)
			r = -EIO;
		if (r < 0)
			reply_err(req, r);
		else
			fuse_reply_buf(req, "ok", 2);
	}
}

void mnt_op_setxattr(fuse_req_t req, fuse_ino_t i, const char *n, const char *v,
		     size_t s, int f)
{
	struct fs *fs = req_fs(req);
	size_t dl = strlen(FS_CTL_DEFER);
	int r;
	if (i == FS_INO_ROOT && fs_ctl_is(n) && s >= dl &&
	    !memcmp(v, FS_CTL_DEFER, dl)) {
		r = ctl_defer(fs, fuse_req_ctx(req), n, v + dl, s - dl);
	} else if (i == FS_INO_ROOT && fs_ctl_is(n)) {
		r = ctl_run(fs, fuse_req_ctx(req)->pid, n, v, s);
	} else if (mnt_is_now(fs, i))
		r = drfs_now_setxattr(fs->now, FS_NOW_NUM(i), n, v, s, f);
	else
		r = -EROFS;
	if (r == -E2BIG) {
		fuse_reply_err(req, E2BIG); /* meaningful for xattrs */
		return;
	}
	reply_err(req, r);
}

void mnt_op_removexattr(fuse_req_t req, fuse_ino_t i, const char *n)
{
	struct fs *fs = req_fs(req);
	int r = mnt_is_now(fs, i)
			? drfs_now_removexattr(fs->now, FS_NOW_NUM(i), n)
			: -EROFS;
	reply_err(req, r);
}

void mnt_op_fallocate(fuse_req_t req, fuse_ino_t i, int m, off_t o, off_t l,
		      struct fuse_file_info *fi)
{
	int r = -EROFS;
	if (mnt_is_now(req_fs(req), i)) {
		if (o < 0 || l <= 0)
			r = -EINVAL;
		else
			r = drfs_now_fallocate(
				(struct drfs_now_file *)(uintptr_t)fi->fh, m,
				(uint64_t)o, (uint64_t)l);
	}
	reply_err(req, r);
}
