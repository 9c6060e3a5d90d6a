/* SPDX-License-Identifier: MIT */
/*
 * mount.c - drfs mount / drfs umount: the libfuse3 low-level operations,
 * the virtual top of the tree (snapshots/, day folders, latest, now/) and
 * the daemon's life cycle.
 *
 * Start-up order (STYLE.md): the parent checks the mountpoint and opens the
 * repository once to report errors on the terminal, frees it, forks; the
 * child (setsid, chdir /) reopens the repository, mounts, and tells the
 * parent through a pipe that the mount is ready or why it failed. No
 * thread, LMDB environment or curl state exists across the fork.
 *
 * Everything below snapshots/ is read-only (EROFS). now/ is the writable
 * tree of now.c: its inodes are FS_NOW_INO(number) and every operation on
 * one goes to the drfs_now_* call of the same name (docs/now.md).
 */
#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/lock.h"
#include "drfs/fs.h"
#include "drfs/fsint.h"
#include "drfs/log.h"
#include "drfs/replica.h"

#define VIEW_TIMEOUT 86400.0 /* snapshots are immutable */
#define VIRT_TIMEOUT 1.0     /* the dated folders change with backups */
#define SNAPS_REFRESH 1.0    /* seconds between catalogue reloads */
#define READ_MAX (1u << 20)
#define PREFETCH_AHEAD 3
#define SEQ_WINDOW (8u << 20)
#define BLKSIZE (1u << 20)
#define PID_XATTR "user.drfs.pid"
/* seconds between two looks for new deletion records (docs/retention.md) */
#define DELETIONS_CHECK 60.0
/*
 * now/ changes only through this mount (one writer, and the daemon itself
 * never changes what a lookup or getattr shows behind the kernel's back),
 * so the kernel may keep its entries and attributes as long as snapshots'.
 * A shorter timeout made a no-change rsync over 100 000 files a FUSE round
 * trip per file once the first rsync had taken longer than the timeout.
 */
#define NOW_TIMEOUT 86400.0

static inline struct fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The one place a negative errno (or 0: success) becomes a FUSE reply. */
static void reply_err(fuse_req_t req, int negerr)
{
	int e = negerr < 0 ? -negerr : negerr;
	if (e == EBADMSG || e == E2BIG)
		e = EIO;
	fuse_reply_err(req, e);
}

/* ---- snapshot catalogue -------------------------------------------------- */

#define TRUST_RETRY 60.0 /* seconds before rechecking a lagging snapshot */

/*
 * Whether snapshot si may be served. Always, unless reads come from a
 * replica (the primary is down or failed a read): replication may lag, so
 * only snapshots complete on the replica are shown, and latest is the
 * newest of those. Verdicts are remembered (fs->trust). Under snap_lock.
 */
static bool snap_trusted(struct fs *fs, const struct drfs_snap_info *si,
			 double now)
{
	struct drfs_backend *rep;
	if (!drfs_repo_replica_serving(fs->repo, &rep))
		return true;
	struct fs_trust *t = NULL;
	for (size_t i = 0; i < fs->n_trust && !t; i++)
		if (drfs_id_eq(&fs->trust[i].id, &si->id))
			t = &fs->trust[i];
	if (t && (t->complete || now < fs->trust_retry))
		return t->complete;
	int c = drfs_snapshot_complete_on(fs->repo, rep, si, NULL, NULL);
	if (c < 0) /* cannot tell (the replica fails too): reads will say */
		return true;
	if (c == 1 && t)
		log_info("snapshot %s is complete on replica \"%s\" now",
			 si->folder, rep->display);
	if (c != 1 && !t)
		log_warn("snapshot %s is not complete on replica \"%s\" "
			 "(replication lags): not shown", si->folder,
			 rep->display);
	if (!t) {
		struct fs_trust *v = realloc(fs->trust,
					     (fs->n_trust + 1) * sizeof(*v));
		if (!v)
			return c == 1;
		fs->trust = v;
		t = &v[fs->n_trust++];
		t->id = si->id;
	}
	t->complete = c == 1;
	return t->complete;
}

static int snaps_refresh(struct fs *fs)
{
	struct drfs_snap_info *v = NULL;
	size_t n = 0;
	double now = drfs_now_mono();
	int r = 0;

	pthread_mutex_lock(&fs->snap_lock);
	if (fs->snaps && now - fs->snaps_loaded < SNAPS_REFRESH)
		goto out;
	r = drfs_repo_snapshots(fs->repo, &v, &n);
	if (r < 0)
		goto out;
	struct fs_snap *s = calloc(n ? n : 1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	size_t k = 0;
	fs->latest = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!snap_trusted(fs, &v[i], now))
			continue;
		if (strcmp(v[i].snap.host, fs->host) == 0)
			fs->latest = k;
		s[k].id = v[i].id;
		s[k].root = v[i].snap.root;
		s[k].meta = v[i].snap.meta;
		s[k].time = v[i].snap.time;
		memcpy(s[k].folder, v[i].folder, sizeof(s[k].folder));
		s[k].folder[sizeof(s[k].folder) - 1] = 0;
		k++;
	}
	if (now >= fs->trust_retry)
		fs->trust_retry = now + TRUST_RETRY;
	free(fs->snaps);
	fs->snaps = s;
	fs->n_snaps = k;
	fs->snaps_loaded = now;
out:
	pthread_mutex_unlock(&fs->snap_lock);
	free(v);
	return r;
}

/* Days since 1970-01-01 of "YYYY-MM-DD...", or -1. */
static int64_t folder_day(const char *f)
{
	int y, m, d;
	char tail;
	if (strlen(f) < 10 || sscanf(f, "%4d-%2d-%2d%c", &y, &m, &d, &tail) < 3)
		return -1;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
	time_t t = timegm(&tm);
	return t < 0 ? -1 : (int64_t)(t / 86400);
}

/*
 * Copy snapshot i (or latest, the newest of this mount's host, when
 * i == SIZE_MAX); -ENOENT.
 */
static int snap_get(struct fs *fs, size_t i, struct fs_snap *ret)
{
	int r = -ENOENT;
	pthread_mutex_lock(&fs->snap_lock);
	if (i == SIZE_MAX)
		i = fs->latest;
	if (i < fs->n_snaps) {
		*ret = fs->snaps[i];
		r = 0;
	}
	pthread_mutex_unlock(&fs->snap_lock);
	return r;
}

/* Find the snapshot whose folder is "day/name". */
static int snap_by_folder(struct fs *fs, const char *folder,
			  struct fs_snap *ret)
{
	int r = -ENOENT;
	pthread_mutex_lock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_snaps; i++) {
		if (strcmp(fs->snaps[i].folder, folder) == 0) {
			*ret = fs->snaps[i];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&fs->snap_lock);
	return r;
}

static bool day_exists(struct fs *fs, int64_t day, char *ret_name)
{
	bool found = false;
	pthread_mutex_lock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_snaps && !found; i++) {
		if (folder_day(fs->snaps[i].folder) == day) {
			found = true;
			if (ret_name) {
				memcpy(ret_name, fs->snaps[i].folder, 10);
				ret_name[10] = 0;
			}
		}
	}
	pthread_mutex_unlock(&fs->snap_lock);
	return found;
}

static bool is_day_ino(uint64_t ino)
{
	return FS_NS(ino) == FS_NS_VIRT && ino >= FS_INO_DAY_BASE &&
	       ino < FS_INO_DAY_BASE + (1ull << 31);
}

/* ---- attributes ---------------------------------------------------------- */

static void virt_dir_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct fs_snap sn;
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 4096;
	if (snap_get(fs, SIZE_MAX, &sn) == 0)
		st->st_mtim = sn.time;
	else
		st->st_mtim.tv_sec = (time_t)fs->mount_time;
	st->st_atim = st->st_ctim = st->st_mtim;
}

/* Attributes of a virtual inode; -ENOENT if it does not exist (now). */
static int virt_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct fs_snap sn;

	snaps_refresh(fs);
	if (ino == FS_INO_ROOT || ino == FS_INO_SNAPSHOTS) {
		virt_dir_stat(fs, ino, st);
		return 0;
	}
	if (ino == FS_INO_LATEST) {
		if (snap_get(fs, SIZE_MAX, &sn) < 0)
			return -ENOENT;
		virt_dir_stat(fs, ino, st);
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)(strlen("snapshots/") + strlen(sn.folder));
		return 0;
	}
	if (is_day_ino(ino) && day_exists(fs, (int64_t)(ino - FS_INO_DAY_BASE),
					  NULL)) {
		virt_dir_stat(fs, ino, st);
		return 0;
	}
	return -ENOENT;
}

static void inode_stat(const struct fs_inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_size = (off_t)in->size;
	st->st_blocks = (blkcnt_t)in->blocks;
	st->st_rdev = (dev_t)in->rdev;
	st->st_blksize = BLKSIZE;
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
}

static int ino_stat(struct fs *fs, uint64_t ino, struct stat *st,
		    double *ret_timeout)
{
	struct fs_inode in;
	int r;

	if (FS_NS(ino) == FS_NS_VIRT) {
		*ret_timeout = VIRT_TIMEOUT;
		return virt_stat(fs, ino, st);
	}
	if (FS_NS(ino) == FS_NS_NOW && fs->now) {
		*ret_timeout = NOW_TIMEOUT;
		r = drfs_now_getattr(fs->now, FS_NOW_NUM(ino), st);
		if (r < 0)
			return r == -ENOENT ? -ESTALE : r;
		st->st_ino = ino;
		st->st_blksize = BLKSIZE;
		return 0;
	}
	r = fs_inode_get(fs, ino, &in);
	if (r < 0)
		return r == -ENOENT ? -ESTALE : r;
	inode_stat(&in, st);
	*ret_timeout = VIEW_TIMEOUT;
	return 0;
}

static void reply_entry(fuse_req_t req, uint64_t ino, double entry_timeout)
{
	struct fuse_entry_param e;
	double attr_timeout;
	int r;

	memset(&e, 0, sizeof(e));
	r = ino_stat(req_fs(req), ino, &e.attr, &attr_timeout);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	e.ino = ino;
	e.generation = 1;
	e.attr_timeout = attr_timeout;
	e.entry_timeout = entry_timeout;
	fuse_reply_entry(req, &e);
}

/* ---- lookup -------------------------------------------------------------- */

/* Root inode of the snapshot in day folder day, named name; -ENOENT. */
static int folder_root(struct fs *fs, uint64_t day_ino, const char *name,
		       uint64_t *ret)
{
	char day[16], folder[64], label[80];
	struct fs_snap sn;

	if (!day_exists(fs, (int64_t)(day_ino - FS_INO_DAY_BASE), day))
		return -ENOENT;
	if (strlen(name) > 20)
		return -ENOENT;
	snprintf(folder, sizeof(folder), "%s/%s", day, name);
	if (snap_by_folder(fs, folder, &sn) < 0)
		return -ENOENT;
	snprintf(label, sizeof(label), "snapshots/%s", folder);
	return fs_view_root(fs, &sn, FS_NS_SNAP, label, ret);
}

static int now_root(struct fs *fs, uint64_t *ret)
{
	struct fs_snap sn;
	if (fs->now) {
		*ret = FS_NOW_INO(DRFS_NOW_ROOT);
		return 0;
	}
	int r = snap_get(fs, SIZE_MAX, &sn);
	if (r < 0)
		return r;
	return fs_view_root(fs, &sn, FS_NS_NOW, "now", ret);
}

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

static bool is_now(struct fs *fs, uint64_t ino)
{
	return fs->now && FS_NS(ino) == FS_NS_NOW;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_inode dir;
	uint64_t ino;
	int r;

	if (FS_NS(parent) == FS_NS_VIRT) {
		snaps_refresh(fs);
		if (parent == FS_INO_ROOT) {
			if (strcmp(name, "snapshots") == 0) {
				ino = FS_INO_SNAPSHOTS;
				r = 0;
			} else if (strcmp(name, "latest") == 0) {
				ino = FS_INO_LATEST;
				r = virt_stat(fs, ino, &(struct stat){ 0 });
			} else if (strcmp(name, "now") == 0) {
				r = now_root(fs, &ino);
			} else {
				r = -ENOENT;
			}
		} else if (parent == FS_INO_SNAPSHOTS) {
			int64_t day = folder_day(name);
			r = -ENOENT;
			if (strlen(name) == 10 && day >= 0 &&
			    day_exists(fs, day, NULL)) {
				ino = FS_INO_DAY_BASE + (uint64_t)day;
				r = 0;
			}
		} else if (is_day_ino(parent)) {
			r = folder_root(fs, parent, name, &ino);
		} else {
			r = -ENOTDIR;
		}
		if (r < 0)
			reply_err(req, r);
		else
			reply_entry(req, ino, VIRT_TIMEOUT);
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
	reply_entry(req, ino, VIEW_TIMEOUT);
}

/* Nothing per inode lives in memory (fsint.h), so forget frees nothing. */

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	(void)fi;
	int r = ino_stat(req_fs(req), ino, &st, &timeout);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_attr(req, &st, timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	struct fs_inode in;
	struct fs_snap sn;
	char t[64];
	int r;

	if (ino == FS_INO_LATEST) {
		snaps_refresh(fs);
		if (snap_get(fs, SIZE_MAX, &sn) < 0) {
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
	if (is_now(fs, ino)) {
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

/* ---- directories --------------------------------------------------------- */

struct dent {
	uint64_t ino;
	uint64_t off; /* offset of the entry after this one */
	uint8_t dtype;
	char name[DRFS_NAME_MAX + 1];
};

struct dlist {
	struct dent *v;
	size_t n, max;
};

static int dlist_add(struct dlist *l, uint64_t ino, uint8_t dtype,
		     uint64_t off, const char *name)
{
	if (l->n == l->max)
		return 1;
	struct dent *d = &l->v[l->n++];
	d->ino = ino;
	d->dtype = dtype;
	d->off = off;
	snprintf(d->name, sizeof(d->name), "%s", name);
	return 0;
}

static int list_cb(uint32_t idx, uint64_t ino, uint8_t dtype,
		   const char *name, void *userdata)
{
	return dlist_add(userdata, ino, dtype, (uint64_t)idx + 3, name);
}

static int now_list_cb(void *userdata, uint64_t cookie, const char *name,
		       const struct stat *st)
{
	return dlist_add(userdata, FS_NOW_INO(st->st_ino),
			 (uint8_t)((st->st_mode & S_IFMT) >> 12), cookie + 2,
			 name);
}

/* Entries of a virtual directory with offset > off. */
static int virt_list(struct fs *fs, uint64_t dir, uint64_t off,
		     struct dlist *l)
{
	uint64_t k = 2; /* offsets 1 and 2 are "." and ".." */
	struct fs_snap sn;

	snaps_refresh(fs);
	if (dir == FS_INO_ROOT) {
		bool any = snap_get(fs, SIZE_MAX, &sn) == 0;
		if (++k > off && dlist_add(l, FS_INO_SNAPSHOTS, DT_DIR, k,
					   "snapshots"))
			return 0;
		if (any && ++k > off &&
		    dlist_add(l, FS_INO_LATEST, DT_LNK, k, "latest"))
			return 0;
		if (any || fs->now) {
			uint64_t ino;
			int r = now_root(fs, &ino);
			if (r < 0)
				return r;
			if (++k > off && dlist_add(l, ino, DT_DIR, k, "now"))
				return 0;
		}
		return 0;
	}
	if (dir == FS_INO_SNAPSHOTS || is_day_ino(dir)) {
		char prev[16] = "";
		int64_t want = dir == FS_INO_SNAPSHOTS ?
				       -1 :
				       (int64_t)(dir - FS_INO_DAY_BASE);
		/* offsets: 3 + index in the catalogue (stable while it is) */
		for (size_t i = 0;; i++) {
			char folder[32];
			if (snap_get(fs, i, &sn) < 0)
				break;
			memcpy(folder, sn.folder, sizeof(folder));
			int64_t day = folder_day(folder);
			if (day < 0)
				continue;
			if (want < 0) {
				/* one entry per day, at its first snapshot */
				folder[10] = 0;
				if (strcmp(prev, folder) == 0)
					continue;
				memcpy(prev, folder, 11);
				if (i + 3 <= off)
					continue;
				if (dlist_add(l, FS_INO_DAY_BASE + (uint64_t)day,
					      DT_DIR, i + 3, folder))
					return 0;
			} else if (day == want && strlen(folder) > 11 &&
				   i + 3 > off) {
				uint64_t ino;
				char label[48];
				snprintf(label, sizeof(label), "snapshots/%s",
					 folder);
				int r = fs_view_root(fs, &sn, FS_NS_SNAP, label,
						     &ino);
				if (r < 0)
					return r;
				if (dlist_add(l, ino, DT_DIR, i + 3,
					      folder + 11))
					return 0;
			}
		}
		return 0;
	}
	return -ENOTDIR;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, bool plus)
{
	struct fs *fs = req_fs(req);
	struct dlist l = { 0 };
	uint64_t parent = FS_INO_ROOT;
	int r;

	if (size > 128 * 1024)
		size = 128 * 1024;
	l.max = size / 24 + 2;
	l.v = malloc(l.max * sizeof(*l.v));
	char *buf = malloc(size);
	if (!l.v || !buf) {
		r = -ENOMEM;
		goto fail;
	}
	if (FS_NS(ino) == FS_NS_VIRT) {
		if (ino != FS_INO_ROOT)
			parent = is_day_ino(ino) ? FS_INO_SNAPSHOTS :
						   FS_INO_ROOT;
		r = virt_list(fs, ino, (uint64_t)off, &l);
	} else if (is_now(fs, ino)) {
		parent = ino;
		r = drfs_now_readdir(fs->now, FS_NOW_NUM(ino),
				     off > 2 ? (uint64_t)off - 2 : 0,
				     now_list_cb, &l);
	} else {
		struct fs_inode dir;
		r = fs_inode_get(fs, ino, &dir);
		if (r == 0)
			r = fs_dir_load(fs, &dir);
		if (r == 0) {
			parent = dir.parent;
			uint32_t from = off > 2 ? (uint32_t)(off - 2) : 0;
			r = fs_dir_list(fs, ino, from, list_cb, &l);
		}
		if (r == -EBADMSG) {
			char path[512];
			fs_inode_path(fs, ino, path, sizeof(path));
			log_err("reading directory \"%s\": %s", path,
				drfs_strerror(r));
		}
	}
	if (r < 0)
		goto fail;

	size_t pos = 0;
	struct stat st;
	for (int k = (int)off; k < 2; k++) {
		memset(&st, 0, sizeof(st));
		st.st_ino = k == 0 ? ino : parent;
		st.st_mode = S_IFDIR;
		const char *nm = k == 0 ? "." : "..";
		size_t n;
		if (plus) {
			/* . and .. do not count a lookup: no attributes */
			struct fuse_entry_param e = { 0 };
			e.attr = st;
			n = fuse_add_direntry_plus(req, buf + pos, size - pos,
						   nm, &e, k + 1);
		} else {
			n = fuse_add_direntry(req, buf + pos, size - pos, nm,
					      &st, k + 1);
		}
		if (n > size - pos)
			goto done;
		pos += n;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct dent *d = &l.v[i];
		size_t n;
		if (plus) {
			struct fuse_entry_param e = { 0 };
			double at;
			r = ino_stat(fs, d->ino, &e.attr, &at);
			if (r < 0)
				goto fail_partial;
			e.ino = d->ino;
			e.generation = 1;
			e.attr_timeout = at;
			e.entry_timeout = FS_NS(ino) == FS_NS_VIRT ?
						  VIRT_TIMEOUT :
						  FS_NS(ino) == FS_NS_NOW ?
						  NOW_TIMEOUT :
						  VIEW_TIMEOUT;
			n = fuse_add_direntry_plus(req, buf + pos, size - pos,
						   d->name, &e, (off_t)d->off);
		} else {
			memset(&st, 0, sizeof(st));
			st.st_ino = d->ino;
			st.st_mode = (mode_t)d->dtype << 12;
			n = fuse_add_direntry(req, buf + pos, size - pos,
					      d->name, &st, (off_t)d->off);
		}
		if (n > size - pos)
			break;
		pos += n;
	}
done:
	fuse_reply_buf(req, buf, pos);
	free(buf);
	free(l.v);
	return;
fail_partial:
	if (pos > 0)
		goto done;
fail:
	reply_err(req, r);
	free(buf);
	free(l.v);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;
	double t;
	int r = ino_stat(req_fs(req), ino, &st, &t);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		reply_err(req, -ENOTDIR);
		return;
	}
	if (FS_NS(ino) == FS_NS_SNAP) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

/* ---- files --------------------------------------------------------------- */

struct fs_fh {
	uint64_t ino;
	uint64_t size;
	uint64_t parent;   /* directory it was opened in (ahead.c) */
	uint64_t next_off; /* where a sequential reader reads next (racy: a hint) */
	atomic_bool ahead; /* first read still to come: read ahead across files */
};

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_inode in;
	int r;

	if (is_now(fs, ino)) {
		struct drfs_now_file *f;
		r = drfs_now_open_file(fs->now, FS_NOW_NUM(ino), fi->flags, &f);
		if (r < 0) {
			reply_err(req, r);
			return;
		}
		fi->fh = (uintptr_t)f;
		fi->keep_cache = 1;
		if (fuse_reply_open(req, fi) == -ENOENT)
			drfs_now_release(f);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		reply_err(req, -EROFS);
		return;
	}
	if (FS_NS(ino) == FS_NS_VIRT) {
		reply_err(req, -EISDIR);
		return;
	}
	r = fs_inode_get(fs, ino, &in);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (S_ISDIR(in.mode)) {
		reply_err(req, -EISDIR);
		return;
	}
	struct fs_fh *fh = calloc(1, sizeof(*fh));
	if (!fh) {
		reply_err(req, -ENOMEM);
		return;
	}
	fh->ino = ino;
	fh->size = in.size;
	fh->parent = in.parent;
	fh->ahead = S_ISREG(in.mode);
	fi->fh = (uintptr_t)fh;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		free(fh); /* interrupted: release will not come */
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	if (is_now(req_fs(req), ino)) {
		drfs_now_release((struct drfs_now_file *)(uintptr_t)fi->fh);
		fuse_reply_err(req, 0);
		return;
	}
	free((struct fs_fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Log a file's bad data once per inode (a bounded, lossy memory). */
static void log_bad(struct fs *fs, uint64_t ino, const struct drfs_id *id,
		    int err)
{
	bool seen;
	char path[1024], hex[DRFS_ID_HEX_LEN + 1];

	pthread_mutex_lock(&fs->log_lock);
	uint64_t *slot = &fs->logged[ino % ARRAY_SIZE(fs->logged)];
	seen = *slot == ino;
	*slot = ino;
	pthread_mutex_unlock(&fs->log_lock);
	if (seen)
		return;
	fs_inode_path(fs, ino, path, sizeof(path));
	log_err("reading \"%s\" (inode %llu): data blob %s: %s", path,
		(unsigned long long)ino, drfs_id_hex(id, hex),
		drfs_strerror(err));
}

static void now_read(fuse_req_t req, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct drfs_now_file *f = (struct drfs_now_file *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	ssize_t n = drfs_now_read(f, buf, size, (uint64_t)off);
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	struct fs_extent ext[16];
	uint64_t pos, end;
	char *buf = NULL;
	int r = 0;

	if (off < 0) {
		reply_err(req, -EINVAL);
		return;
	}
	if (is_now(fs, ino)) {
		now_read(req, size, off, fi);
		return;
	}
	if ((uint64_t)off >= fh->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size = (size_t)MIN((uint64_t)size, fh->size - (uint64_t)off);
	buf = malloc(size);
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	pos = (uint64_t)off;
	end = pos + size;
	while (pos < end) {
		bool past = false; /* met an extent starting at or after end */
		int n = fs_extents_from(fs, ino, pos, ext, ARRAY_SIZE(ext));
		if (n < 0) {
			r = n;
			break;
		}
		for (int i = 0; i < n && pos < end; i++) {
			struct fs_extent *e = &ext[i];
			struct fs_chunk *ch;
			size_t clen;

			if (e->off >= end) {
				past = true;
				break;
			}
			if (e->off > pos) { /* a hole */
				memset(buf + (pos - (uint64_t)off), 0,
				       e->off - pos);
				pos = e->off;
			}
			r = fs_cache_get(fs->cache, &e->id, &ch);
			if (r < 0) {
				log_bad(fs, ino, &e->id, r);
				if (r == -ENOENT)
					r = -EIO; /* lost data, not file */
				break;
			}
			const uint8_t *p = fs_chunk_data(ch, &clen);
			if (clen < e->len) {
				fs_chunk_put(ch);
				r = -EBADMSG;
				log_bad(fs, ino, &e->id, r);
				break;
			}
			uint64_t from = pos - e->off;
			uint64_t take = MIN((uint64_t)e->len - from, end - pos);
			memcpy(buf + (pos - (uint64_t)off), p + from, take);
			fs_chunk_put(ch);
			pos += take;
		}
		if (r < 0)
			break;
		if (pos < end && (past || n < (int)ARRAY_SIZE(ext))) {
			/* no extent before end: the rest is a hole */
			memset(buf + (pos - (uint64_t)off), 0, end - pos);
			pos = end;
		}
	}
	if (r < 0) {
		free(buf);
		reply_err(req, r);
		return;
	}
	/* fh may be released as soon as the reply is sent: use it before */
	/* kernel readahead sends reads out of order: sequential is "near" */
	uint64_t last = fh->next_off;
	bool seq = off == 0 || ((uint64_t)off + SEQ_WINDOW >= last &&
				(uint64_t)off <= last + SEQ_WINDOW);
	uint64_t fsize = fh->size, parent = fh->parent;
	if (end > last || !seq)
		fh->next_off = end;
	/*
	 * Read ahead across files on a file's first read, not on its open: a
	 * second copy of a tree the kernel still caches opens every file but
	 * reads none, and must not decode their neighbours for nothing.
	 */
	bool ahead = atomic_exchange_explicit(&fh->ahead, false,
					      memory_order_relaxed);
	fuse_reply_buf(req, buf, size);
	free(buf);
	if (ahead)
		fs_ahead_first_read(fs, parent, ino);

	/* sequential reader: fetch the next chunks in the background */
	if (seq && end < fsize) {
		int n = fs_extents_from(fs, ino, end, ext, PREFETCH_AHEAD + 1);
		for (int i = 0; i < n; i++)
			fs_cache_prefetch(fs->cache, &ext[i].id);
	}
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	struct fs_extent ext[16];
	uint64_t pos = (uint64_t)off;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		reply_err(req, -EINVAL);
		return;
	}
	if (is_now(fs, ino)) {
		int64_t r = drfs_now_lseek(
			(struct drfs_now_file *)(uintptr_t)fi->fh, off, whence);
		if (r < 0)
			reply_err(req, (int)r);
		else
			fuse_reply_lseek(req, (off_t)r);
		return;
	}
	if (off < 0 || pos >= fh->size) {
		reply_err(req, -ENXIO);
		return;
	}
	for (;;) {
		int n = fs_extents_from(fs, ino, pos, ext, ARRAY_SIZE(ext));
		if (n < 0) {
			reply_err(req, n);
			return;
		}
		if (whence == SEEK_DATA) {
			if (n == 0 || ext[0].off >= fh->size) {
				reply_err(req, -ENXIO);
				return;
			}
			fuse_reply_lseek(req, (off_t)MAX(pos, ext[0].off));
			return;
		}
		/* SEEK_HOLE: walk contiguous extents from pos */
		for (int i = 0; i < n; i++) {
			if (ext[i].off > pos) {
				fuse_reply_lseek(req, (off_t)pos);
				return;
			}
			pos = ext[i].off + ext[i].len;
		}
		if (n < (int)ARRAY_SIZE(ext) || pos >= fh->size) {
			fuse_reply_lseek(req, (off_t)MIN(pos, fh->size));
			return;
		}
	}
}

/* ---- xattrs -------------------------------------------------------------- */

static void gc_status(struct fs *fs, char *out, size_t len);
static void prune_result(fuse_req_t req, struct fs *fs, size_t size);

/*
 * The kernel does not cache xattrs, and ls -l asks every file for its
 * SELinux label (lgetxattr "security.selinux"): one FUSE round trip per
 * file, most of a warm `ls -lR`. ls stops asking on a device once the
 * answer is "not supported", so a read-only snapshot entry without a label
 * answers EOPNOTSUPP (as file systems without SELinux support do) instead
 * of ENODATA. Entries that have a label still return it; now/ is writable
 * and answers ENODATA. Cost: in a snapshot where some entries are labelled
 * and the first one ls looks at is not, `ls -Z` shows "?" (docs/mount.md).
 */
static bool unlabelled(const char *name)
{
	return strcmp(name, "security.selinux") == 0;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct fs *fs = req_fs(req);
	char *v = NULL;
	int r;

	if (ino == FS_INO_ROOT && strcmp(name, PID_XATTR) == 0) {
		char pid[24];
		int n = snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		if (size == 0)
			fuse_reply_xattr(req, (size_t)n);
		else if (size < (size_t)n)
			reply_err(req, -ERANGE);
		else
			fuse_reply_buf(req, pid, (size_t)n);
		return;
	}
	if (ino == FS_INO_ROOT && strcmp(name, FS_CTL_PRUNE_RESULT) == 0) {
		prune_result(req, fs, size);
		return;
	}
	if (ino == FS_INO_ROOT && strcmp(name, FS_CTL_REPO) == 0) {
		char text[PATH_MAX + 64];
		int n = snprintf(text, sizeof(text), "%s\n%s\n",
				 fs->repo->repo_id_hex,
				 fs->repo->cache_dir ? fs->repo->cache_dir : "");
		if (n < 0 || (size_t)n >= sizeof(text))
			reply_err(req, -EIO);
		else if (size == 0)
			fuse_reply_xattr(req, (size_t)n);
		else if (size < (size_t)n)
			reply_err(req, -ERANGE);
		else
			fuse_reply_buf(req, text, (size_t)n);
		return;
	}
	if (ino == FS_INO_ROOT && fs_ctl_is(name)) {
		char text[8192], extra[1024];
		gc_status(fs, extra, sizeof(extra));
		r = fs_ctl_getxattr(fs, name, extra, text,
				    MIN(size, sizeof(text)));
		if (r < 0)
			reply_err(req, r == -ERANGE ? -ERANGE : r);
		else if (size == 0)
			fuse_reply_xattr(req, (size_t)r);
		else
			fuse_reply_buf(req, text, (size_t)r);
		return;
	}
	if (FS_NS(ino) == FS_NS_VIRT) {
		reply_err(req, unlabelled(name) ? -EOPNOTSUPP : -ENODATA);
		return;
	}
	if (size) {
		v = malloc(MIN(size, (size_t)DRFS_XATTR_VALUE_MAX) + 1);
		if (!v) {
			reply_err(req, -ENOMEM);
			return;
		}
	}
	if (is_now(fs, ino))
		r = drfs_now_getxattr(fs->now, FS_NOW_NUM(ino), name,
				      size ? v : NULL,
				      MIN(size, (size_t)DRFS_XATTR_VALUE_MAX));
	else
		r = fs_xattr_get(fs, ino, name, v,
				 MIN(size, (size_t)DRFS_XATTR_VALUE_MAX));
	if (r == -ENODATA && !is_now(fs, ino) && unlabelled(name))
		r = -EOPNOTSUPP;
	if (r < 0)
		reply_err(req, r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, v, (size_t)r);
	free(v);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = req_fs(req);
	char *v = NULL;
	int r;

	if (FS_NS(ino) == FS_NS_VIRT) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size) {
		v = malloc(size);
		if (!v) {
			reply_err(req, -ENOMEM);
			return;
		}
	}
	if (is_now(fs, ino))
		r = drfs_now_listxattr(fs->now, FS_NOW_NUM(ino),
				       size ? v : NULL, size);
	else
		r = fs_xattr_list(fs, ino, v, size);
	if (r < 0)
		reply_err(req, r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, v, (size_t)r);
	free(v);
}

/* ---- statfs -------------------------------------------------------------- */

static int packs_cb(const struct drfs_id *pack,
		    const struct drfs_pack_rec *rec, void *userdata)
{
	(void)pack;
	*(uint64_t *)userdata += rec->length;
	return 0;
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t stored;
	static double when = -1e9;
	struct fs *fs = req_fs(req);
	struct statvfs sv, local;
	(void)ino;

	pthread_mutex_lock(&lock);
	if (drfs_now_mono() - when > 30) {
		struct drfs_txn *t;
		uint64_t sum = 0;
		if (drfs_txn_begin(fs->repo->index, false, &t) == 0) {
			if (drfs_index_packs_scan(t, packs_cb, &sum) == 0)
				stored = sum;
			drfs_txn_abort(t);
		}
		when = drfs_now_mono();
	}
	uint64_t used = stored;
	pthread_mutex_unlock(&lock);

	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = DRFS_NAME_MAX;
	if (fs->repo->cache_dir && statvfs(fs->repo->cache_dir, &local) == 0) {
		/* free space: what now/ can stage locally */
		uint64_t avail = (uint64_t)local.f_bavail * local.f_frsize;
		uint64_t fre = (uint64_t)local.f_bfree * local.f_frsize;
		sv.f_bavail = avail / 4096;
		sv.f_bfree = fre / 4096;
	}
	sv.f_blocks = (used + 4095) / 4096 + sv.f_bfree;
	struct fs_snap sn;
	pthread_mutex_lock(&fs->snap_lock);
	sv.f_files = fs->n_snaps;
	pthread_mutex_unlock(&fs->snap_lock);
	(void)sn;
	sv.f_ffree = 0;
	fuse_reply_statfs(req, &sv);
}

/* ---- modifying operations: now/ only ------------------------------------ */

/* ---- retention: forgetting snapshots, background gc --------------------- */

/* The catalogue's folder names (a copy), for finding what disappeared. */
static int folders_copy(struct fs *fs, char (**ret)[32], size_t *ret_n)
{
	pthread_mutex_lock(&fs->snap_lock);
	size_t n = fs->n_snaps;
	char (*v)[32] = calloc(n ? n : 1, 32);
	for (size_t i = 0; v && i < n; i++)
		memcpy(v[i], fs->snaps[i].folder, 32);
	pthread_mutex_unlock(&fs->snap_lock);
	if (!v)
		return -ENOMEM;
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Reload the catalogue now, not within a second. */
static void snaps_reload(struct fs *fs)
{
	pthread_mutex_lock(&fs->snap_lock);
	fs->snaps_loaded = -1e9;
	pthread_mutex_unlock(&fs->snap_lock);
	snaps_refresh(fs);
}

/*
 * Drop what the kernel caches about folders of old[] that are gone from
 * the (reloaded) catalogue, and about snapshots/ and latest. Never called
 * on the path of an operation on snapshots/ or a day folder (the kernel
 * holds their locks): after the reply, or from another thread.
 */
static void inval_gone(struct fs *fs, char (*old)[32], size_t n_old)
{
	struct fs_snap sn;
	if (!fs->se)
		return;
	fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_SNAPSHOTS, 0, 0);
	fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_LATEST, 0, 0);
	for (size_t i = 0; i < n_old; i++) {
		int64_t day = folder_day(old[i]);
		if (day < 0 || strlen(old[i]) <= 11 ||
		    snap_by_folder(fs, old[i], &sn) == 0)
			continue;
		uint64_t dino = FS_INO_DAY_BASE + (uint64_t)day;
		fuse_lowlevel_notify_inval_entry(fs->se, dino, old[i] + 11,
						 strlen(old[i] + 11));
		if (!day_exists(fs, day, NULL)) {
			fuse_lowlevel_notify_inval_entry(fs->se,
							 FS_INO_SNAPSHOTS,
							 old[i], 10);
		} else {
			fuse_lowlevel_notify_inval_inode(fs->se, dino, 0, 0);
		}
	}
}

/* Ask the gc thread for a run (after snapshots were forgotten). */
static void gc_request(struct fs *fs)
{
	pthread_mutex_lock(&fs->gc_lock);
	fs->gc_wanted = true;
	pthread_cond_broadcast(&fs->gc_cond);
	pthread_mutex_unlock(&fs->gc_lock);
}

struct gc_ctx {
	struct fs *fs;
	char msg[512];
};

static int gc_with_root(void *ud, const struct drfs_id *root)
{
	struct gc_ctx *g = ud;
	return g->fs->ret->gc(g->fs->ret->ud, g->fs->repo, root, 1, g->msg,
			      sizeof(g->msg));
}

/* ---- the watermark in the mount's lock ---------------------------------- */

/*
 * Publish "nothing of mine is unreferenced" (watermark INT64_MAX) while
 * now/ equals its last snapshot and nothing waits for upload: a prune
 * elsewhere then needs to spare no recent pack for this mount. The
 * writer's next upload publishes its time first (drfs_lock_before_upload),
 * and from then on the packs uploaded since are spared, until now/ is
 * clean again (docs/retention.md). A stale value only makes a prune doom
 * (and this mount rescue) or keep a little more, never lose anything.
 */
static void watermark_update(struct fs *fs)
{
	struct drfs_now_status st;
	if (!fs->lock || !fs->now || drfs_now_status(fs->now, &st) < 0 ||
	    st.changed || st.pending_blobs || st.staged_files)
		return;
	if (drfs_lock_watermark(fs->lock) != INT64_MAX &&
	    drfs_lock_set_watermark(fs->lock, INT64_MAX) < 0)
		log_warn("cannot update the mount's lock: %s",
			 drfs_backend_last_error(fs->repo->be) ?: "?");
}

/* ---- `drfs prune` handed to the mount ------------------------------------ */

struct prune_ctx {
	struct fs *fs;
	struct fs_prune_req *req;
};

static int prune_with_root(void *ud, const struct drfs_id *root)
{
	struct prune_ctx *pc = ud;
	return pc->fs->ret->prune(pc->fs->ret->ud, pc->fs->repo,
				  pc->req->args, pc->req->len, root,
				  root ? 1 : 0, &pc->req->out);
}

/*
 * Run a prune the CLI handed over (ctl), on the gc thread: with now/'s
 * current tree alive and its writer idle, as the mount's own gc. The
 * folders it forgot leave the kernel's caches.
 */
static int prune_run(struct fs *fs, struct fs_prune_req *req)
{
	struct prune_ctx pc = { fs, req };
	char (*old)[32] = NULL;
	size_t n_old = 0;
	int e;
	if (!fs->ret || !fs->ret->prune)
		return -EOPNOTSUPP;
	e = folders_copy(fs, &old, &n_old);
	if (e < 0)
		return e;
	if (fs->now)
		e = drfs_now_with_live_tree(fs->now, prune_with_root, &pc);
	else
		e = prune_with_root(&pc, NULL);
	log_info("prune handed over by pid %ld: %s", (long)req->pid,
		 e < 0 ? drfs_strerror(e) : "done");
	snaps_reload(fs);
	inval_gone(fs, old, n_old);
	free(old);
	return e;
}

/*
 * setxattr user.drfs.prune: queue the request for the gc thread and wait;
 * the output waits for the requester's getxattr of user.drfs.prune-result.
 */
static int prune_request(struct fs *fs, pid_t pid, const char *args,
			 size_t len)
{
	struct fs_prune_req req = { .args = args, .len = len, .pid = pid };
	if (!fs->gc_started)
		return -EOPNOTSUPP;
	if (len > FS_CTL_PRUNE_MAX)
		return -E2BIG;
	drfs_buf_init(&req.out, 1u << 20);
	pthread_mutex_lock(&fs->gc_lock);
	struct fs_prune_req **tail = &fs->prune_q;
	while (*tail)
		tail = &(*tail)->next;
	*tail = &req;
	pthread_cond_broadcast(&fs->gc_cond);
	while (!req.done && !fs->gc_quit)
		pthread_cond_wait(&fs->gc_cond, &fs->gc_lock);
	if (!req.done) { /* unmounting: take it out of the queue */
		for (tail = &fs->prune_q; *tail; tail = &(*tail)->next)
			if (*tail == &req) {
				*tail = req.next;
				break;
			}
		req.rc = -ESHUTDOWN;
	}
	/* the result, for this pid (the oldest slot gives way) */
	struct fs_prune_res *slot = &fs->prune_res[0];
	for (size_t i = 0; i < ARRAY_SIZE(fs->prune_res); i++) {
		if (fs->prune_res[i].pid == pid || !fs->prune_res[i].pid) {
			slot = &fs->prune_res[i];
			break;
		}
	}
	free(slot->text);
	slot->pid = pid;
	slot->text = (char *)drfs_buf_steal(&req.out, &slot->len);
	pthread_mutex_unlock(&fs->gc_lock);
	drfs_buf_release(&req.out);
	return req.rc;
}

/* getxattr user.drfs.prune-result: the caller's result (gone after). */
static void prune_result(fuse_req_t req, struct fs *fs, size_t size)
{
	pid_t pid = fuse_req_ctx(req)->pid;
	pthread_mutex_lock(&fs->gc_lock);
	struct fs_prune_res *slot = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(fs->prune_res); i++)
		if (fs->prune_res[i].pid == pid)
			slot = &fs->prune_res[i];
	if (!slot)
		reply_err(req, -ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, slot->len);
	else if (size < slot->len)
		reply_err(req, -ERANGE);
	if (slot && size >= slot->len && size) {
		fuse_reply_buf(req, slot->text, slot->len);
		free(slot->text);
		memset(slot, 0, sizeof(*slot));
	}
	pthread_mutex_unlock(&fs->gc_lock);
}

/* ---- deletion records: rescue now/'s blobs, then acknowledge ------------- */

static bool acked(const struct fs *fs, const struct drfs_id *id)
{
	for (size_t i = 0; i < fs->n_acked; i++)
		if (drfs_id_eq(&fs->acked[i], id))
			return true;
	return false;
}

struct rescue_ctx {
	struct fs *fs;
	char msg[256];
};

static int rescue_with_root(void *ud, const struct drfs_id *root)
{
	struct rescue_ctx *rc = ud;
	return rc->fs->ret->rescue(rc->fs->ret->ud, rc->fs->repo, root, 1,
				   rc->msg, sizeof(rc->msg));
}

static void deletions_state(struct fs *fs, const char *fmt, ...)
	_printf_(2, 3);
static void deletions_state(struct fs *fs, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&fs->gc_lock);
	va_start(ap, fmt);
	vsnprintf(fs->del_state, sizeof(fs->del_state), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&fs->gc_lock);
}

/*
 * New deletion records (another process pruned while we run): sync them,
 * write now/'s blobs that only their packs hold again (with now/'s writer
 * idle, as for gc), then acknowledge them in our lock, so a later prune
 * may delete their packs. Records that vanished were completed. Runs on
 * the gc thread.
 */
static void deletions_tick(struct fs *fs)
{
	struct drfs_id *listed = NULL;
	size_t n_listed = 0;
	struct drfs_deletion_info *known = NULL;
	struct drfs_id *ids = NULL;
	size_t n_known = 0, fresh = 0;
	uint64_t packs = 0;
	struct rescue_ctx rc = { .fs = fs };
	int e = drfs_repo_list_ids(fs->repo, "deletions", &listed, &n_listed);
	if (e < 0) {
		deletions_state(fs, "deletions: cannot list: %s",
				drfs_backend_last_error(fs->repo->be)
					?: drfs_strerror(e));
		goto out;
	}
	bool same = n_listed == fs->n_acked;
	for (size_t i = 0; same && i < n_listed; i++)
		same = acked(fs, &listed[i]);
	if (same && !n_listed)
		deletions_state(fs, "deletions: none pending");
	if (same)
		goto out;
	e = drfs_repo_sync(fs->repo, false);
	e = e ?: drfs_repo_deletions(fs->repo, &known, &n_known);
	if (e < 0) {
		log_err("deletion records: %s",
			drfs_repo_last_error() ?: drfs_strerror(e));
		deletions_state(fs, "deletions: sync failed: %s",
				drfs_repo_last_error() ?: drfs_strerror(e));
		goto out;
	}
	snaps_reload(fs);
	ids = calloc(n_known + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (size_t i = 0; i < n_known; i++) {
		ids[i] = known[i].id;
		packs += known[i].n_packs;
		fresh += !acked(fs, &known[i].id);
	}
	if (fresh && fs->now && fs->ret && fs->ret->rescue) {
		e = drfs_now_with_live_tree(fs->now, rescue_with_root, &rc);
		if (e < 0) {
			log_err("deletion records: cannot keep now/'s data out "
				"of the doomed packs: %s (retried in a minute)",
				rc.msg[0] ? rc.msg : drfs_strerror(e));
			deletions_state(fs, "deletions: %zu record(s), not "
					"acknowledged: %s", n_known,
					rc.msg[0] ? rc.msg : drfs_strerror(e));
			goto out;
		}
	}
	if (fs->lock) {
		e = drfs_lock_set_acks(fs->lock, ids, n_known);
		if (e < 0) {
			log_warn("cannot acknowledge deletion records: %s",
				 drfs_backend_last_error(fs->repo->be)
					 ?: drfs_strerror(e));
			goto out;
		}
	}
	if (fresh)
		log_info("acknowledged %zu deletion record(s) (%s)", fresh,
			 rc.msg[0] ? rc.msg : "nothing of now/ in them");
	free(fs->acked);
	fs->acked = TAKE_PTR(ids);
	fs->n_acked = n_known;
	deletions_state(fs, n_known ? "deletions: %zu record(s) pending, "
				      "%" PRIu64 " pack(s), acknowledged%s"
				    : "deletions: none pending",
			n_known, packs, fs->lock ? "" : " (no lock)");
out:
	free(listed);
	free(known);
	free(ids);
}

/*
 * The gc thread: one drfs_gc at a time, with now/'s current tree as a live
 * root and now/'s writer idle (drfs_now_with_live_tree). A lock held by
 * another process (-EBUSY) is retried a minute later. Between runs it
 * looks for deletion records (deletions_tick).
 */
static void *gc_main(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->gc_lock);
	while (!fs->gc_quit) {
		double now = drfs_now_mono();
		struct fs_prune_req *pr = fs->prune_q;
		if (pr) {
			fs->prune_q = pr->next;
			fs->gc_running = true;
			pthread_mutex_unlock(&fs->gc_lock);
			int rc = prune_run(fs, pr);
			pthread_mutex_lock(&fs->gc_lock);
			fs->gc_running = false;
			fs->del_check = true; /* a record of its own: ours */
			pr->rc = rc;
			pr->done = true;
			pthread_cond_broadcast(&fs->gc_cond);
			continue;
		}
		if (fs->del_check || now - fs->del_last >= DELETIONS_CHECK) {
			fs->del_check = false;
			fs->del_last = now;
			pthread_mutex_unlock(&fs->gc_lock);
			watermark_update(fs);
			deletions_tick(fs);
			pthread_mutex_lock(&fs->gc_lock);
			continue;
		}
		double wait = fs->gc_not_before - now;
		if (!fs->gc_wanted || wait > 0) {
			double next = fs->del_last + DELETIONS_CHECK - now;
			if (fs->gc_wanted && wait < next)
				next = wait;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)next + 1;
			pthread_cond_timedwait(&fs->gc_cond, &fs->gc_lock, &ts);
			continue;
		}
		fs->gc_wanted = false;
		fs->gc_running = true;
		pthread_mutex_unlock(&fs->gc_lock);

		struct gc_ctx g = { .fs = fs };
		int e;
		if (fs->now)
			e = drfs_now_with_live_tree(fs->now, gc_with_root, &g);
		else
			e = fs->ret->gc(fs->ret->ud, fs->repo, NULL, 0, g.msg,
					sizeof(g.msg));
		if (e < 0 && !g.msg[0])
			snprintf(g.msg, sizeof(g.msg), "%s", drfs_strerror(e));
		if (e >= 0)
			log_info("gc after forgetting snapshots: %s", g.msg);
		else
			log_err("gc after forgetting snapshots: %s", g.msg);

		pthread_mutex_lock(&fs->gc_lock);
		fs->gc_running = false;
		fs->gc_runs++;
		/* a record it wrote: acknowledged at once, as ours */
		fs->del_check = true;
		if (e == -EBUSY) {
			fs->gc_wanted = true;
			fs->gc_not_before = drfs_now_mono() + 60;
			snprintf(fs->gc_state, sizeof(fs->gc_state),
				 "waiting (retry in a minute): %s", g.msg);
		} else {
			snprintf(fs->gc_state, sizeof(fs->gc_state), "%s: %s",
				 e < 0 ? "failed" : "done", g.msg);
		}
		pthread_cond_broadcast(&fs->gc_cond);
	}
	pthread_mutex_unlock(&fs->gc_lock);
	return NULL;
}

/*
 * The lines about retention that drfs status shows: "gc: " idle, pending,
 * running, "waiting (...)", "done: ..." or "failed: ...", and the count of
 * finished runs.
 */
static void gc_status(struct fs *fs, char *out, size_t len)
{
	if (!fs->ret) {
		out[0] = 0;
		return;
	}
	pthread_mutex_lock(&fs->gc_lock);
	const char *st = fs->gc_state;
	if (fs->gc_running)
		st = "running";
	else if (fs->gc_wanted && strncmp(fs->gc_state, "waiting", 7))
		st = "pending";
	else if (!fs->gc_runs)
		st = "idle";
	snprintf(out, len, "gc: %s\ngc runs: %" PRIu64 "\n%s%s", st,
		 fs->gc_runs, fs->del_state, fs->del_state[0] ? "\n" : "");
	pthread_mutex_unlock(&fs->gc_lock);
}

/*
 * rmdir in snapshots/ (a day: all of its snapshots) or in a day folder
 * (one snapshot): forget them. -EBUSY, nothing forgotten, if one is held.
 */
static int snap_rmdir(struct fs *fs, uint64_t parent, const char *name,
		      char (**ret_old)[32], size_t *ret_n_old)
{
	struct drfs_id *ids = NULL;
	size_t n = 0;
	int r;

	if (!fs->ret)
		return -EROFS;
	if (parent != FS_INO_SNAPSHOTS && !is_day_ino(parent))
		return -EROFS;
	snaps_reload(fs);
	r = folders_copy(fs, ret_old, ret_n_old);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->snap_lock);
	ids = calloc(fs->n_snaps ? fs->n_snaps : 1, sizeof(*ids));
	int64_t pday = is_day_ino(parent)
			       ? (int64_t)(parent - FS_INO_DAY_BASE)
			       : -1;
	for (size_t i = 0; ids && i < fs->n_snaps; i++) {
		const char *f = fs->snaps[i].folder;
		if (parent == FS_INO_SNAPSHOTS) {
			if (strlen(name) == 10 && !strncmp(f, name, 10) &&
			    f[10] == '/')
				ids[n++] = fs->snaps[i].id;
		} else if (folder_day(f) == pday && strlen(f) > 11 &&
			   !strcmp(f + 11, name)) {
			ids[n++] = fs->snaps[i].id;
		}
	}
	pthread_mutex_unlock(&fs->snap_lock);
	if (!ids) {
		r = -ENOMEM;
	} else if (n == 0) {
		r = -ENOENT;
	} else {
		r = fs->ret->forget(fs->ret->ud, fs->repo, ids, n);
		if (r >= 0) {
			log_info("rmdir: forgot %zu snapshot%s", n,
				 n == 1 ? "" : "s");
			snaps_reload(fs);
			gc_request(fs);
		}
	}
	free(ids);
	if (r < 0) {
		free(*ret_old);
		*ret_old = NULL;
	}
	return r < 0 ? r : 0;
}

/*
 * A snapshot of now/ was just committed: enforce the retention policy,
 * reload the catalogue now (not within a second) and drop what the kernel
 * cached about the dated folders, so the printed folder exists at once and
 * forgotten ones are gone. Never invalidates an entry of the root: a
 * setxattr on the root holds its lock.
 */
static void now_snapshot_taken(struct fs *fs)
{
	struct drfs_now_status st;
	char (*old)[32] = NULL;
	size_t n_old = 0;
	if (fs->ret && folders_copy(fs, &old, &n_old) == 0) {
		int f = fs->ret->enforce(fs->ret->ud, fs->repo);
		if (f < 0)
			log_err("retention policy after a snapshot: %s",
				drfs_strerror(f));
		else if (f > 0)
			log_info("retention policy: forgot %d snapshot%s", f,
				 f == 1 ? "" : "s");
		if (f > 0)
			gc_request(fs);
	}
	if (fs->ret) { /* new deletion records are checked at each commit */
		pthread_mutex_lock(&fs->gc_lock);
		fs->del_check = true;
		pthread_cond_broadcast(&fs->gc_cond);
		pthread_mutex_unlock(&fs->gc_lock);
	}
	watermark_update(fs);
	snaps_reload(fs);
	if (old)
		inval_gone(fs, old, n_old);
	free(old);
	if (!fs->se || drfs_now_status(fs->now, &st) < 0 || !st.last_folder[0])
		return;
	int64_t day = folder_day(st.last_folder);
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
	if (!is_now(fs, ino))
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

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct stat st = *attr, out;
	unsigned int which = 0;
	struct timespec now;
	(void)fi;

	if (!is_now(fs, ino)) {
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

static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
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

static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m)
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

static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
	struct fs *fs = req_fs(req);
	uint64_t dir;
	int r = now_dir(fs, p, &dir);
	if (r == 0)
		r = drfs_now_unlink(fs->now, dir, n);
	reply_err(req, r);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t p, const char *n)
{
	struct fs *fs = req_fs(req);
	uint64_t dir;
	if (FS_NS(p) == FS_NS_VIRT) {
		char (*old)[32] = NULL;
		size_t n_old = 0;
		int r = snap_rmdir(fs, p, n, &old, &n_old);
		reply_err(req, r);
		if (r == 0) /* the kernel dropped n itself; the rest now */
			inval_gone(fs, old, n_old);
		free(old);
		return;
	}
	int r = now_dir(fs, p, &dir);
	if (r == 0)
		r = drfs_now_rmdir(fs->now, dir, n);
	reply_err(req, r);
}

static void op_symlink(fuse_req_t req, const char *l, fuse_ino_t p,
		       const char *n)
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

static void op_rename(fuse_req_t req, fuse_ino_t p, const char *n,
		      fuse_ino_t np, const char *nn, unsigned int f)
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

static void op_link(fuse_req_t req, fuse_ino_t i, fuse_ino_t np,
		    const char *nn)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	uint64_t dir;
	int r = now_dir(fs, np, &dir);
	if (r == 0 && !is_now(fs, i))
		r = -EXDEV;
	if (r == 0)
		r = drfs_now_link(fs->now, FS_NOW_NUM(i), dir, nn, &st);
	if (r < 0)
		reply_err(req, r);
	else
		now_reply_entry(req, &st);
}

static void op_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
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

static void op_write(fuse_req_t req, fuse_ino_t i, const char *b, size_t s,
		     off_t o, struct fuse_file_info *fi)
{
	if (!is_now(req_fs(req), i)) {
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

static void op_fsync(fuse_req_t req, fuse_ino_t i, int datasync,
		     struct fuse_file_info *fi)
{
	int r = 0;
	if (is_now(req_fs(req), i))
		r = drfs_now_fsync((struct drfs_now_file *)(uintptr_t)fi->fh,
				   datasync != 0);
	reply_err(req, r);
}

/*
 * Directory operations are LMDB transactions committed without a disk
 * sync: fsyncdir makes them (all of now/'s, cheaply) durable.
 */
static void op_fsyncdir(fuse_req_t req, fuse_ino_t i, int datasync,
			struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	(void)datasync, (void)fi;
	reply_err(req, is_now(fs, i) ? drfs_now_sync_meta(fs->now) : 0);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t i, const char *n,
			const char *v, size_t s, int f)
{
	struct fs *fs = req_fs(req);
	int r;
	if (i == FS_INO_ROOT && strcmp(n, FS_CTL_PRUNE) == 0) {
		r = prune_request(fs, fuse_req_ctx(req)->pid, v, s);
	} else if (i == FS_INO_ROOT && fs_ctl_is(n)) {
		r = fs_ctl_setxattr(fs->now, n, v, s);
		if (r == 0)
			now_snapshot_taken(fs);
	}
	else if (is_now(fs, i))
		r = drfs_now_setxattr(fs->now, FS_NOW_NUM(i), n, v, s, f);
	else
		r = -EROFS;
	if (r == -E2BIG) {
		fuse_reply_err(req, E2BIG); /* meaningful for xattrs */
		return;
	}
	reply_err(req, r);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t i, const char *n)
{
	struct fs *fs = req_fs(req);
	int r = is_now(fs, i) ? drfs_now_removexattr(fs->now, FS_NOW_NUM(i), n)
			      : -EROFS;
	reply_err(req, r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t i, int m, off_t o,
			 off_t l, struct fuse_file_info *fi)
{
	int r = -EROFS;
	if (is_now(req_fs(req), i)) {
		if (o < 0 || l <= 0)
			r = -EINVAL;
		else
			r = drfs_now_fallocate(
				(struct drfs_now_file *)(uintptr_t)fi->fh, m,
				(uint64_t)o, (uint64_t)l);
	}
	reply_err(req, r);
}

/* ---- init ---------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* max_write also sets max_pages, which bounds reads: 1 MiB */
	conn->max_write = READ_MAX;
	conn->max_readahead = READ_MAX;
	/* no FUSE_CAP_CACHE_SYMLINKS: latest changes with every backup */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/*
	 * POSIX ACLs: the kernel reads an inode's ACLs once, caches them and
	 * checks them in default_permissions (mode bits alone would let a
	 * user whom an ACL denies read a file through the mount). It also
	 * saves a getxattr round trip per file and per ls -l/cp -a. The
	 * umask is still applied by the kernel (no FUSE_CAP_DONT_MASK), so
	 * files created in now/ get the modes they get without this.
	 */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA; /* content never changes */
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	/*
	 * No .flush: close() has nothing to do here (now/ persists size and
	 * times at release and fsync; snapshots are immutable), and without a
	 * handler libfuse answers ENOSYS once, after which the kernel stops
	 * sending FLUSH: one round trip less per close (docs/mount.md).
	 */
	.fsync = op_fsync,
	.fsyncdir = op_fsyncdir,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
};

/* ---- mountpoint checks --------------------------------------------------- */

/* Is path (canonical) a mount point in /proc/self/mountinfo? */
static bool is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		/* unescape \040 style octal escapes */
		char *w = mp;
		for (char *p = mp; *p; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
			    p[3] <= '7') {
				*w++ = (char)((p[1] - '0') << 6 |
					      (p[2] - '0') << 3 | (p[3] - '0'));
				p += 3;
			} else {
				*w++ = *p;
			}
		}
		*w = 0;
		found = strcmp(mp, path) == 0;
	}
	fclose(f);
	return found;
}

static int detach(const char *mp)
{
	if (umount2(mp, MNT_DETACH) == 0)
		return 0;
	int e = errno;
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("fusermount3", "fusermount3", "-u", "-z", mp,
		       (char *)NULL);
		_exit(127);
	}
	int st;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0)
		return 0;
	return -e;
}

/* A usable, empty-of-mounts directory; stale FUSE mounts are detached. */
static int check_mountpoint(const char *mp)
{
	struct stat st;
	char real[4096];

	if (stat(mp, &st) < 0) {
		int e = errno;
		if (e == ENOTCONN) {
			log_warn("mountpoint \"%s\" was left by a drfs daemon "
				 "that is gone (transport endpoint is not "
				 "connected): unmounting it",
				 mp);
			int r = detach(mp);
			if (r < 0) {
				log_err("unmounting stale \"%s\": %s", mp,
					drfs_strerror(r));
				return r;
			}
			if (stat(mp, &st) < 0) {
				e = errno;
				log_err("mountpoint \"%s\": %s", mp,
					strerror(e));
				return -e;
			}
		} else {
			log_err("mountpoint \"%s\": %s", mp, strerror(e));
			return -e;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("mountpoint \"%s\": not a directory", mp);
		return -ENOTDIR;
	}
	if (access(mp, R_OK | W_OK | X_OK) < 0 && geteuid() != 0) {
		int e = errno;
		log_err("mountpoint \"%s\": %s", mp, strerror(e));
		return -e;
	}
	if (realpath(mp, real) && is_mounted(real)) {
		log_err("mountpoint \"%s\": something is already mounted "
			"there",
			mp);
		return -EBUSY;
	}
	return 0;
}

/* ---- serving ------------------------------------------------------------- */

static void report(int fd, int status)
{
	if (fd >= 0) {
		(void)!write(fd, &status, sizeof(status));
		close(fd);
	}
}

/* now.c reads data and tree blobs through the mount's chunk cache. */
static int now_read_blob(void *userdata, const struct drfs_id *id,
			 struct drfs_buf *out)
{
	struct fs *fs = userdata;
	struct fs_chunk *ch;
	size_t len;
	int r = fs_cache_get(fs->cache, id, &ch);
	if (r < 0)
		return r;
	const uint8_t *p = fs_chunk_data(ch, &len);
	r = drfs_buf_append(out, p, len);
	fs_chunk_put(ch);
	return r;
}

static void now_snapshot_taken(struct fs *fs);

static void now_on_snapshot(void *userdata, int result, const char *folder)
{
	if (result > 0)
		now_snapshot_taken(userdata);
	if (result > 0)
		log_info("scheduled snapshot of now/: snapshots/%s", folder);
	else if (result < 0)
		log_err("scheduled snapshot of now/ failed: %s",
			drfs_strerror(result));
}

static int open_repo(const struct drfs_mount_opts *o, bool sync,
		     struct drfs_repo **ret)
{
	struct drfs_repo_opts ro = o->repo;
	if (o->password)
		ro.password = o->password;
	if (!sync)
		ro.no_sync = true;
	int r = drfs_repo_open(&ro, ret);
	if (r < 0) {
		const char *why = drfs_repo_last_error();
		if (r == -EACCES)
			log_err("opening repository \"%s\": wrong passphrase",
				o->repo.url);
		else if (why && *why)
			log_err("%s", why);
		else
			log_err("opening repository \"%s\": %s", o->repo.url,
				drfs_strerror(r));
	}
	return r;
}

/*
 * The snapshot --from names (o->from): a snapshot (folder, id, "latest"
 * of this mount's host), else a host whose newest snapshot with this
 * mount's name it is. -ENOENT after a message.
 */
static int resolve_from(struct drfs_repo *repo, const struct drfs_mount_opts *o,
			const char *host, struct drfs_id *ret)
{
	struct drfs_snap_filter f = { .host = host };
	struct drfs_snap_info si, *v = NULL;
	size_t n = 0;
	const char *name = o->name ? o->name : "now";

	if (drfs_repo_snapshot_find_in(repo, o->from, &f, &si) == 0) {
		*ret = si.id;
		return 0;
	}
	int r = drfs_repo_snapshots(repo, &v, &n);
	bool known = false;
	for (size_t i = n; r >= 0 && i-- > 0;) {
		if (strcmp(v[i].snap.host, o->from) != 0)
			continue;
		known = true;
		if (strcmp(v[i].snap.path, name) == 0) {
			*ret = v[i].id;
			free(v);
			return 0;
		}
	}
	free(v);
	if (r < 0)
		log_err("--from \"%s\": %s", o->from, drfs_strerror(r));
	else if (known)
		log_err("--from \"%s\": that host has no snapshot of a mount "
			"named \"%s\" (name a snapshot instead)", o->from,
			name);
	else
		log_err("--from \"%s\": no such snapshot or host (see drfs "
			"snapshots)", o->from);
	return r < 0 ? r : -ENOENT;
}

static int build_args(const struct drfs_mount_opts *o, struct fuse_args *a)
{
	char opts[4096];
	int r = 0;

	snprintf(opts, sizeof(opts),
		 "default_permissions,fsname=drfs,subtype=drfs%s%s",
		 o->fuse_opts && *o->fuse_opts ? "," : "",
		 o->fuse_opts ? o->fuse_opts : "");
	r |= fuse_opt_add_arg(a, "drfs");
	r |= fuse_opt_add_arg(a, "-o");
	r |= fuse_opt_add_arg(a, opts);
	if (o->debug)
		r |= fuse_opt_add_arg(a, "-d");
	return r ? -ENOMEM : 0;
}

/* Log one line of the unmount report and append it to buf (len bytes). */
static void _printf_(3, 4) report_line(char *buf, size_t len,
				       const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
	log_err("%s", buf + used);
	used = strlen(buf);
	if (used + 1 < len) {
		buf[used] = '\n';
		buf[used + 1] = 0;
	}
}

/*
 * At unmount: the final snapshot of now/ (when it changed), the retention
 * policy, the drain of the uploads; then now/ is freed. What failed is
 * logged and written to the unmount report, which drfs umount shows
 * (ctl.c), with where the changes that could not be stored are kept.
 */
static void finish_now(struct fs *fs, const struct drfs_mount_opts *o)
{
	char why[3072] = "";
	struct drfs_now_status st;
	bool failed = false, kept = false;
	const char *d;
	int e;

	if (!o->no_snapshot_on_unmount) {
		struct drfs_now_snapshot_opts so = { .if_changed = true };
		char folder[32];
		drfs_repo_set_last_error("%s", "");
		e = drfs_now_snapshot(fs->now, &so, folder);
		if (e > 0)
			log_info("snapshot of now/ at unmount: snapshots/%s",
				 folder);
		if (e > 0 && fs->ret) {
			int f = fs->ret->enforce(fs->ret->ud, fs->repo);
			if (f > 0)
				log_info("retention policy: forgot %d "
					 "snapshot%s (space is freed by the "
					 "next gc)", f, f == 1 ? "" : "s");
			else if (f < 0)
				report_line(why, sizeof(why),
					    "the retention policy at unmount "
					    "failed: %s (the snapshot is "
					    "stored)", drfs_strerror(f));
			failed = f < 0;
		} else if (e < 0) {
			d = drfs_repo_last_error();
			report_line(why, sizeof(why),
				    "the snapshot of now/ at unmount failed: "
				    "%s", d ? d : drfs_strerror(e));
			failed = kept = true;
		}
	}
	drfs_repo_set_last_error("%s", "");
	e = drfs_now_stop(fs->now);
	if (e < 0) {
		d = drfs_repo_last_error();
		report_line(why, sizeof(why),
			    "uploading the data staged in now/ failed: %s",
			    d ? d : drfs_strerror(e));
		failed = kept = true;
	}
	if (kept && drfs_now_status(fs->now, &st) == 0)
		report_line(why, sizeof(why),
			    "the changes to now/ since %s%s are kept in the "
			    "cache directory \"%s\" (%" PRIu64 " files "
			    "staged in its staging/, the rest in its index): "
			    "the next drfs mount with this cache directory "
			    "picks them up",
			    st.last_folder[0] ? "snapshot " : "",
			    st.last_folder[0] ? st.last_folder : "the start",
			    fs->repo->cache_dir, st.staged_files);
	e = fs_ctl_report_write(fs->repo->cache_dir, !failed, why);
	if (e < 0)
		log_err("writing the unmount report in \"%s\": %s",
			fs->repo->cache_dir, drfs_strerror(e));
	drfs_now_free(fs->now);
	fs->now = NULL;
}

/*
 * <cache>/mount: this mount point, under an exclusive flock for as long as
 * the daemon serves (drfs_fs_find_mount: a `drfs prune` with this cache
 * runs in the mount). The descriptor, or -1 (only an optimisation).
 */
static int mount_marker(const char *cache_dir, const char *mountpoint)
{
	char *path = NULL;
	if (!cache_dir || asprintf(&path, "%s/mount", cache_dir) < 0)
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(path);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || ftruncate(fd, 0) < 0 ||
	    drfs_write_all(fd, mountpoint, strlen(mountpoint)) < 0) {
		close(fd); /* another mount of this cache has it */
		return -1;
	}
	return fd;
}

static void mount_marker_drop(int fd, const char *cache_dir)
{
	char *path = NULL;
	if (fd < 0)
		return;
	if (asprintf(&path, "%s/mount", cache_dir) >= 0) {
		unlink(path);
		free(path);
	}
	close(fd);
}

/*
 * Open, mount and serve. ready_fd >= 0: write the status there once
 * mounted (or failed) and switch logging to the log file.
 */
static int serve(const struct drfs_mount_opts *o, bool sync, int ready_fd)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	struct fs fs;
	int r;

	memset(&fs, 0, sizeof(fs));
	pthread_mutex_init(&fs.snap_lock, NULL);
	pthread_mutex_init(&fs.log_lock, NULL);
	pthread_mutex_init(&fs.ahead_lock, NULL);
	pthread_mutex_init(&fs.gc_lock, NULL);
	pthread_cond_init(&fs.gc_cond, NULL);
	fs.ret = o->retention;
	fs.mount_time = (uint64_t)time(NULL);
	fs.latest = SIZE_MAX;
	if (o->host)
		snprintf(fs.host, sizeof(fs.host), "%s", o->host);
	else
		drfs_hostname(fs.host, sizeof(fs.host));
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Few malloc arenas: FUSE and prefetch threads allocate and free
	 * MiB-sized chunks, and an arena per thread keeps each one's freed
	 * memory (RSS). And a fixed mmap threshold of 4 MiB: glibc's dynamic
	 * one rises to the size of the largest block freed (chunking windows
	 * of 8 MiB, 16 MiB packs), after which those come from the arenas
	 * and stay there. Chunks (at most 4 MiB) still come from the arenas,
	 * so reads do not pay a page fault per chunk (an earlier fixed
	 * threshold that mapped every chunk halved read throughput).
	 * Measured in docs/benchmarks.md.
	 */
	mallopt(M_ARENA_MAX, 4);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	/* no core dump with the keys in it, no ptrace by the user's other
	 * processes (docs/security.md) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	r = open_repo(o, sync, &fs.repo);
	/* the keys are unwrapped (or never will be): the passphrase goes */
	if (o->password)
		drfs_wipe(o->password, strlen(o->password));
	if (r < 0)
		goto out;
	r = fs_index_prepare(&fs);
	if (r < 0) {
		log_err("preparing the mount's cache in \"%s\": %s",
			fs.repo->cache_dir ? fs.repo->cache_dir : "?",
			drfs_strerror(r));
		goto out;
	}
	r = snaps_refresh(&fs);
	if (r < 0) {
		log_err("reading the snapshot catalogue: %s",
			drfs_strerror(r));
		goto out;
	}
	struct drfs_id from;
	if (o->from) {
		r = resolve_from(fs.repo, o, fs.host, &from);
		if (r < 0)
			goto out;
	}
	uint64_t disk = 0;
	if (o->repo.url && strncmp(o->repo.url, "s3://", 5) == 0)
		disk = o->cache_size ? o->cache_size : (1ull << 30);
	r = fs_cache_new(fs.repo, disk, &fs.cache);
	if (r < 0)
		goto out;
	fs.cache_size = disk;
	fs.mountpoint = o->mountpoint;
	struct drfs_now_opts no = {
		.cache_size = o->cache_size,
		.snapshot_every = (double)o->snapshot_every,
		.read_blob = now_read_blob,
		.read_blob_data = &fs,
		.on_snapshot = now_on_snapshot,
		.on_snapshot_data = &fs,
		.host = fs.host,
		.path = o->name,
		.from = o->from ? &from : NULL,
	};
	/* tests and benchmarks compare with staging on disk only */
	const char *ms = getenv("DRFS_MEM_STAGING");
	no.no_mem_staging = ms && !strcmp(ms, "0");
	r = drfs_now_open(fs.repo, &no, &fs.now);
	if (r < 0) {
		log_err("opening now/ in \"%s\": %s", fs.repo->cache_dir,
			drfs_strerror(r));
		goto out;
	}
	/*
	 * A shared lock for the mount's lifetime: a prune in another process
	 * then defers deleting packs until this mount has acknowledged them
	 * (after rescuing what now/ uses from them), and never deletes packs
	 * it uploaded since its last snapshot. Read-only credentials cannot
	 * write one; browsing still works.
	 */
	char why[512] = "";
	r = drfs_lock_take(fs.repo, DRFS_LOCK_SHARED, DRFS_ROLE_MOUNT,
			   &fs.lock, why, sizeof(why));
	if (r == -EBUSY) {
		log_err("repository is locked: %s", why);
		goto out;
	}
	if (r < 0) {
		log_warn("%s: a prune elsewhere could free data this mount "
			 "uses", why);
		r = 0;
	}
	/* a prune may have finished between the open and the lock */
	r = drfs_repo_sync(fs.repo, false);
	if (r < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(r));
		goto out;
	}

	r = build_args(o, &args);
	if (r < 0)
		goto out;
	se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	fs.se = se;
	if (!se) {
		log_err("mount options \"%s\" not understood",
			o->fuse_opts ? o->fuse_opts : "");
		r = -EINVAL;
		goto out;
	}
	if (fuse_set_signal_handlers(se) < 0) {
		r = -EIO;
		goto out;
	}
	if (fuse_session_mount(se, o->mountpoint) < 0) {
		log_err("mounting on \"%s\" failed", o->mountpoint);
		r = -EIO;
		fuse_remove_signal_handlers(se);
		goto out;
	}

	if (ready_fd >= 0) {
		char *path = NULL;
		int lfd = -1;
		if (o->log_file)
			lfd = open(o->log_file,
				   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				   0600);
		else if (asprintf(&path, "%s/mount.log",
				  fs.repo->cache_dir) >= 0)
			lfd = open(path,
				   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				   0600);
		free(path);
		int nfd = open("/dev/null", O_RDWR);
		if (nfd >= 0) {
			dup2(nfd, 0);
			dup2(nfd, 1);
			dup2(lfd >= 0 ? lfd : nfd, 2);
			if (nfd > 2)
				close(nfd);
		}
		if (lfd >= 0)
			drfs_log_set_fd(lfd);
		report(ready_fd, 0);
		ready_fd = -1;
	}
	log_info("mounted \"%s\" on \"%s\"", o->repo.url, o->mountpoint);
	if (fs.ret)
		fs.gc_started = pthread_create(&fs.gc_thread, NULL, gc_main,
					       &fs) == 0;
	int marker = mount_marker(fs.repo->cache_dir, o->mountpoint);

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		r = -ENOMEM;
	} else {
		fuse_loop_cfg_set_max_threads(cfg, 16);
		fuse_loop_cfg_set_idle_threads(cfg, 4);
		r = fuse_session_loop_mt(se, cfg);
		r = r > 0 ? 0 : r; /* > 0: ended by a signal */
		fuse_loop_cfg_destroy(cfg);
	}
	mount_marker_drop(marker, fs.repo->cache_dir);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fs.se = NULL;
	if (fs.gc_started) { /* a running gc finishes; a pending one waits */
		pthread_mutex_lock(&fs.gc_lock);
		fs.gc_quit = true;
		pthread_cond_broadcast(&fs.gc_cond);
		pthread_mutex_unlock(&fs.gc_lock);
		pthread_join(fs.gc_thread, NULL);
		fs.gc_started = false;
	}
	if (fs.now)
		finish_now(&fs, o);
	log_info("unmounted \"%s\"", o->mountpoint);
out:
	report(ready_fd, r);
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	drfs_now_free(fs.now);
	drfs_lock_release(fs.lock);
	free(fs.acked);
	for (size_t i = 0; i < ARRAY_SIZE(fs.prune_res); i++)
		free(fs.prune_res[i].text);
	fs_cache_free(fs.cache);
	drfs_repo_free(fs.repo);
	free(fs.snaps);
	free(fs.trust);
	pthread_mutex_destroy(&fs.snap_lock);
	pthread_mutex_destroy(&fs.log_lock);
	pthread_mutex_destroy(&fs.ahead_lock);
	pthread_mutex_destroy(&fs.gc_lock);
	pthread_cond_destroy(&fs.gc_cond);
	return r;
}

/* An absolute form of a relative local path or URL (the daemon runs in /). */
static char *absolute(const char *p)
{
	char cwd[4096];
	char *out = NULL;
	size_t pl = strncmp(p, "file://", 7) == 0 ? 7 : 0;

	if (p[pl] == '/' || (!pl && strstr(p, "://")) ||
	    !getcwd(cwd, sizeof(cwd)))
		return strdup(p);
	if (asprintf(&out, "%.*s%s/%s", (int)pl, p, cwd, p + pl) < 0)
		return NULL;
	return out;
}

int drfs_fs_mount(const struct drfs_mount_opts *in)
{
	struct drfs_mount_opts ob = *in, *o = &ob;
	_cleanup_free_ char *url = NULL, *mp = NULL, *cd = NULL, *lf = NULL;
	struct drfs_repo *repo = NULL;
	int fds[2];
	int r;

	if (!in->mountpoint || !in->repo.url)
		return -EINVAL;
	url = absolute(in->repo.url);
	mp = absolute(in->mountpoint);
	cd = in->repo.cache_dir ? absolute(in->repo.cache_dir) : NULL;
	lf = in->log_file ? absolute(in->log_file) : NULL;
	if (!url || !mp || (in->repo.cache_dir && !cd) ||
	    (in->log_file && !lf))
		return -ENOMEM;
	ob.repo.url = url;
	ob.mountpoint = mp;
	ob.repo.cache_dir = cd;
	ob.log_file = lf;
	r = check_mountpoint(o->mountpoint);
	if (r < 0)
		return r;
	if (o->foreground || o->debug)
		return serve(o, true, -1);

	/* validate in the parent, where the terminal still shows errors */
	r = open_repo(o, true, &repo);
	if (r < 0)
		return r;
	/* --from: the child starts from what the parent found */
	char host[DRFS_HOST_MAX_BUF], from_hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_id from;
	if (o->host)
		snprintf(host, sizeof(host), "%s", o->host);
	else
		drfs_hostname(host, sizeof(host));
	if (o->from) {
		r = resolve_from(repo, o, host, &from);
		if (r >= 0)
			ob.from = drfs_id_hex(&from, from_hex);
	}
	drfs_repo_free(repo);
	if (r < 0)
		return r;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		r = serve(o, false, fds[1]);
		_exit(r < 0 ? 1 : 0);
	}
	/* the daemon has its copy */
	if (o->password)
		drfs_wipe(o->password, strlen(o->password));
	close(fds[1]);
	int status;
	ssize_t n;
	do {
		n = read(fds[0], &status, sizeof(status));
	} while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n != sizeof(status)) {
		log_err("the mount daemon for \"%s\" exited before the mount "
			"was ready",
			o->mountpoint);
		waitpid(pid, NULL, WNOHANG);
		return -EIO;
	}
	if (status < 0)
		waitpid(pid, NULL, 0); /* it already said why */
	return status;
}

/* ---- umount -------------------------------------------------------------- */

/* drfs umount's wait for the daemon, in 10 ms steps (the systemd unit
 * gives its stop 30 minutes too) */
#define UMOUNT_NOTE_AFTER 1000
#define UMOUNT_WAIT_MAX (30 * 6000)

static bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	if (kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

int drfs_fs_umount(const char *mountpoint)
{
	struct stat st;
	char pidbuf[24];
	pid_t pid = 0;

	if (stat(mountpoint, &st) < 0 && errno == ENOTCONN) {
		log_warn("\"%s\": the drfs daemon is gone (transport endpoint "
			 "is not connected): detaching the stale mount",
			 mountpoint);
		int r = detach(mountpoint);
		if (r < 0)
			log_err("unmounting \"%s\": %s", mountpoint,
				drfs_strerror(r));
		return r;
	}
	ssize_t n = getxattr(mountpoint, PID_XATTR, pidbuf,
			     sizeof(pidbuf) - 1);
	if (n > 0) {
		pidbuf[n] = 0;
		pid = (pid_t)atol(pidbuf);
	}
	/* a daemon with now/ reports how its final snapshot went */
	char report[4096];
	bool reports = pid > 0 &&
		       fs_ctl_report_path(mountpoint, report,
					  sizeof(report)) == 0;
	if (reports)
		unlink(report); /* an older one */
	if (umount2(mountpoint, 0) < 0) {
		int e = errno;
		if (e == EPERM || e == EACCES) {
			pid_t c = fork();
			if (c == 0) {
				execlp("fusermount3", "fusermount3", "-u",
				       mountpoint, (char *)NULL);
				_exit(127);
			}
			int ws;
			if (c < 0 || waitpid(c, &ws, 0) != c ||
			    !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
				log_err("unmounting \"%s\" failed", mountpoint);
				return -e;
			}
		} else {
			if (e == EINVAL)
				log_err("\"%s\" is not mounted", mountpoint);
			else if (e == EBUSY)
				log_err("unmounting \"%s\": it is busy (a "
					"process uses it)",
					mountpoint);
			else
				log_err("unmounting \"%s\": %s", mountpoint,
					strerror(e));
			return -e;
		}
	}
	/*
	 * Wait for the daemon to finish: the final snapshot and the uploads
	 * may take a while (and retries, when the repository is unreachable).
	 */
	for (int i = 0; pid > 0 && pid_alive(pid); i++) {
		if (i == UMOUNT_NOTE_AFTER)
			log_info("waiting for the drfs daemon (pid %ld) to "
				 "finish uploading and snapshotting now/",
				 (long)pid);
		if (i == UMOUNT_WAIT_MAX) {
			log_err("the drfs daemon (pid %ld) is still running "
				"after %d minutes: whether its final snapshot "
				"succeeds will be in its log",
				(long)pid, UMOUNT_WAIT_MAX / 6000);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	return reports ? fs_ctl_report_read(report) : 0;
}
