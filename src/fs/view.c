/* SPDX-License-Identifier: MIT */
/*
 * view.c - the read-only view: attributes, lookup and directories of the
 * virtual top (snapshots/, day folders, latest, info/: info.c) and of
 * snapshots. mountint.h
 * has what the rooms of the mount share.
 */
#include "mountint.h"

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
	if (mnt_snap_get(fs, SIZE_MAX, &sn) == 0)
		st->st_mtim = sn.time;
	else
		st->st_mtim.tv_sec = (time_t)fs->mount_time;
	st->st_atim = st->st_ctim = st->st_mtim;
}

/* Attributes of a virtual inode; -ENOENT if it does not exist (now). */
int mnt_virt_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct fs_snap sn;

	mnt_snaps_refresh(fs);
	if (ino == FS_INO_ROOT || ino == FS_INO_SNAPSHOTS ||
	    ino == FS_INO_INFO) {
		virt_dir_stat(fs, ino, st);
		return 0;
	}
	if (ino == FS_INO_LATEST) {
		if (mnt_snap_get(fs, SIZE_MAX, &sn) < 0)
			return -ENOENT;
		virt_dir_stat(fs, ino, st);
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)(strlen("snapshots/") + strlen(sn.folder));
		return 0;
	}
	if (mnt_is_day_ino(ino) &&
	    mnt_day_exists(fs, (int64_t)(ino - FS_INO_DAY_BASE), NULL)) {
		virt_dir_stat(fs, ino, st);
		return 0;
	}
	if (mnt_is_info_day_ino(ino) &&
	    mnt_day_exists(fs, (int64_t)(ino - FS_INO_INFO_DAY_BASE), NULL)) {
		virt_dir_stat(fs, ino, st);
		return 0;
	}
	if (mnt_is_info_file_ino(ino))
		return mnt_info_stat(fs, ino, st);
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

int mnt_ino_stat(struct fs *fs, uint64_t ino, struct stat *st,
		 double *ret_timeout)
{
	struct fs_inode in;
	int r;

	if (FS_NS(ino) == FS_NS_VIRT) {
		*ret_timeout = VIRT_TIMEOUT;
		return mnt_virt_stat(fs, ino, st);
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

void mnt_reply_entry(fuse_req_t req, uint64_t ino, double entry_timeout)
{
	struct fuse_entry_param e;
	double attr_timeout;
	int r;

	memset(&e, 0, sizeof(e));
	r = mnt_ino_stat(req_fs(req), ino, &e.attr, &attr_timeout);
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
int mnt_folder_root(struct fs *fs, uint64_t day_ino, const char *name,
		    uint64_t *ret)
{
	char day[16], folder[64], label[80];
	struct fs_snap sn;

	if (!mnt_day_exists(fs, (int64_t)(day_ino - FS_INO_DAY_BASE), day))
		return -ENOENT;
	if (strlen(name) > 20)
		return -ENOENT;
	snprintf(folder, sizeof(folder), "%s/%s", day, name);
	if (mnt_snap_by_folder(fs, folder, &sn) < 0)
		return -ENOENT;
	snprintf(label, sizeof(label), "snapshots/%s", folder);
	return fs_view_root(fs, &sn, FS_NS_SNAP, label, ret);
}

int mnt_now_root(struct fs *fs, uint64_t *ret)
{
	struct fs_snap sn;
	if (fs->now) {
		*ret = FS_NOW_INO(DRFS_NOW_ROOT);
		return 0;
	}
	int r = mnt_snap_get(fs, SIZE_MAX, &sn);
	if (r < 0)
		return r;
	return fs_view_root(fs, &sn, FS_NS_NOW, "now", ret);
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

	mnt_snaps_refresh(fs);
	if (dir == FS_INO_ROOT) {
		bool any = mnt_snap_get(fs, SIZE_MAX, &sn) == 0;
		if (++k > off && dlist_add(l, FS_INO_SNAPSHOTS, DT_DIR, k,
					   "snapshots"))
			return 0;
		if (any && ++k > off &&
		    dlist_add(l, FS_INO_LATEST, DT_LNK, k, "latest"))
			return 0;
		if (any || fs->now) {
			uint64_t ino;
			int r = mnt_now_root(fs, &ino);
			if (r < 0)
				return r;
			if (++k > off && dlist_add(l, ino, DT_DIR, k, "now"))
				return 0;
		}
		if (++k > off && dlist_add(l, FS_INO_INFO, DT_DIR, k, "info"))
			return 0;
		return 0;
	}
	/* snapshots/ and its days; info/ and its days, the same shape */
	bool info = dir == FS_INO_INFO || mnt_is_info_day_ino(dir);
	uint64_t base = info ? FS_INO_INFO_DAY_BASE : FS_INO_DAY_BASE;
	if (dir == FS_INO_SNAPSHOTS || mnt_is_day_ino(dir) || info) {
		char prev[16] = "";
		int64_t want = dir == FS_INO_SNAPSHOTS || dir == FS_INO_INFO ?
				       -1 :
				       (int64_t)(dir - base);
		/* offsets: 3 + index in the catalogue (stable while it is) */
		for (size_t i = 0;; i++) {
			char folder[DRFS_FOLDER_BUF];
			if (mnt_snap_get(fs, i, &sn) < 0)
				break;
			memcpy(folder, sn.folder, sizeof(folder));
			int64_t day = mnt_folder_day(folder);
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
				if (dlist_add(l, base + (uint64_t)day, DT_DIR, i + 3,
					      folder))
					return 0;
			} else if (info && day == want && strlen(folder) > 11 &&
				   i + 3 > off) {
				char name[40];
				snprintf(name, sizeof(name), "%s.json",
					 folder + 11);
				if (dlist_add(l, mnt_info_file_ino(&sn.id),
					      DT_REG, i + 3, name))
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
		if (mnt_is_day_ino(ino))
			parent = FS_INO_SNAPSHOTS;
		else if (mnt_is_info_day_ino(ino))
			parent = FS_INO_INFO;
		r = virt_list(fs, ino, (uint64_t)off, &l);
	} else if (mnt_is_now(fs, ino)) {
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
			r = mnt_ino_stat(fs, d->ino, &e.attr, &at);
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

void mnt_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void mnt_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void mnt_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	double t;
	int r = mnt_ino_stat(req_fs(req), ino, &st, &t);
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
