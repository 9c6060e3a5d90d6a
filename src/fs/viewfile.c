/* SPDX-License-Identifier: MIT */
/*
 * viewfile.c - files of snapshots: open, read (sequential prefetch, read-
 * ahead across files), xattrs, and statfs. mountint.h has what the rooms of
 * the mount share.
 */
#include "mountint.h"

/* ---- files --------------------------------------------------------------- */

struct fs_fh {
	uint64_t ino;
	uint64_t size;
	uint64_t parent;   /* directory it was opened in (ahead.c) */
	uint64_t next_off; /* where a sequential reader reads next (racy: a hint) */
	atomic_bool ahead; /* first read still to come: read ahead across
			      files */
};

void mnt_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_inode in;
	int r;

	if (mnt_is_now(fs, ino)) {
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
	if (mnt_is_info_file_ino(ino)) {
		mnt_info_open(req, ino, fi);
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

void mnt_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (mnt_is_now(req_fs(req), ino)) {
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

void mnt_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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
	if (mnt_is_now(fs, ino)) {
		now_read(req, size, off, fi);
		return;
	}
	if (mnt_is_info_file_ino(ino)) {
		mnt_info_read(req, size, off, fi);
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

void mnt_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
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
	if (mnt_is_now(fs, ino)) {
		int64_t r = drfs_now_lseek(
			(struct drfs_now_file *)(uintptr_t)fi->fh, off, whence);
		if (r < 0)
			reply_err(req, (int)r);
		else
			fuse_reply_lseek(req, (off_t)r);
		return;
	}
	if (mnt_is_info_file_ino(ino)) {
		mnt_info_lseek(req, off, whence, fi);
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

void mnt_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
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
	if (ino == FS_INO_ROOT && strcmp(name, FS_CTL_FACTS) == 0) {
		mnt_facts_reply(req, fs, size);
		return;
	}
	if (ino == FS_INO_ROOT && strcmp(name, FS_CTL_PRUNE_RESULT) == 0) {
		mnt_prune_result(req, fs, size);
		return;
	}
	if (ino == FS_INO_ROOT && strcmp(name, FS_CTL_RUN) == 0) {
		mnt_ctl_run(req, fs, size);
		return;
	}
	if (ino == FS_INO_ROOT && strcmp(name, FS_CTL_REPO) == 0) {
		char text[3 * PATH_MAX];
		int n = fs_ctl_repo_text(fs, text, sizeof(text));
		if (n < 0)
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
		mnt_gc_status(fs, extra, sizeof(extra));
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
	if (mnt_is_now(fs, ino))
		r = drfs_now_getxattr(fs->now, FS_NOW_NUM(ino), name,
				      size ? v : NULL,
				      MIN(size, (size_t)DRFS_XATTR_VALUE_MAX));
	else
		r = fs_xattr_get(fs, ino, name, v,
				 MIN(size, (size_t)DRFS_XATTR_VALUE_MAX));
	if (r == -ENODATA && !mnt_is_now(fs, ino) && unlabelled(name))
		r = -EOPNOTSUPP;
	if (r < 0)
		reply_err(req, r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, v, (size_t)r);
	free(v);
}

void mnt_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
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
	if (mnt_is_now(fs, ino))
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

void mnt_op_statfs(fuse_req_t req, fuse_ino_t ino)
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
