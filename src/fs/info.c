/* SPDX-License-Identifier: MIT */
/*
 * info.c - the facts of each snapshot as a file beside the snapshots,
 * never inside a snapshot's tree (docs/mount.md, "info/"):
 *
 *   MOUNTPOINT/info/DAY/TIME.json   for snapshots/DAY/TIME
 *
 * One JSON object (drfs_facts_snapshot_json: what `drfs snapshots --json`
 * shows, with parent, hold state and the last drill of the snapshot in the
 * mount's cache directory). info/ follows the catalogue: a forgotten
 * snapshot's file goes with it; nothing under info/ can be changed or
 * removed (EROFS). The text is rendered at open and served from memory
 * with direct_io (it may change: a hold, a drill), its size at getattr is
 * the text as it is then. mountint.h has what the rooms of the mount share.
 */
#include "mountint.h"

#define INFO_MAX 65536 /* the text of one snapshot: paths and tags fit */

bool mnt_is_info_day_ino(uint64_t ino)
{
	return FS_NS(ino) == FS_NS_VIRT && ino >= FS_INO_INFO_DAY_BASE &&
	       ino < FS_INO_INFO_DAY_BASE + (1ull << 31);
}

bool mnt_is_info_file_ino(uint64_t ino)
{
	return FS_NS(ino) == FS_NS_VIRT && (ino & FS_INO_INFO_FILE);
}

uint64_t mnt_info_file_ino(const struct drfs_id *snapshot)
{
	uint64_t v = drfs_get_le64(snapshot->b);
	return FS_INO_INFO_FILE | (v & (FS_INO_INFO_FILE - 1));
}

/* The snapshot whose info file ino is; -ENOENT. */
static int info_snap(struct fs *fs, uint64_t ino, struct fs_snap *ret)
{
	int r = -ENOENT;
	mnt_snaps_refresh(fs);
	pthread_mutex_lock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_snaps; i++) {
		if (mnt_info_file_ino(&fs->snaps[i].id) == ino &&
		    strlen(fs->snaps[i].folder) > 11) {
			*ret = fs->snaps[i];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&fs->snap_lock);
	return r;
}

/*
 * Whether snapshot id is held: one listing of holds/ at most every
 * SNAPS_REFRESH seconds (fresh: now). A listing that fails keeps the
 * last one (the catalogue is local; the bucket may be unreachable).
 */
static bool info_held(struct fs *fs, const struct drfs_id *id, bool fresh)
{
	struct drfs_id *v = NULL;
	size_t n = 0;
	bool held = false;

	pthread_mutex_lock(&fs->info_lock);
	double now = drfs_now_mono();
	if ((fresh || !fs->holds_at || now - fs->holds_at >= SNAPS_REFRESH) &&
	    drfs_repo_list_ids(fs->repo, "holds", &v, &n) >= 0) {
		free(fs->holds);
		fs->holds = v;
		fs->n_holds = n;
		fs->holds_at = now;
	}
	for (size_t i = 0; i < fs->n_holds && !held; i++)
		held = drfs_id_eq(&fs->holds[i], id);
	pthread_mutex_unlock(&fs->info_lock);
	return held;
}

/* The text of the info file ino into out; its snapshot into ret_sn. */
static int info_render(struct fs *fs, uint64_t ino, bool fresh,
		       struct drfs_buf *out, struct fs_snap *ret_sn)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_drill_rec *d = NULL, *drill = NULL;
	size_t n_d = 0;
	int r = info_snap(fs, ino, ret_sn);
	if (r < 0)
		return r;
	struct drfs_snap_info *si = malloc(sizeof(*si));
	if (!si)
		return -ENOMEM;
	r = drfs_repo_snapshot_find(fs->repo, drfs_id_hex(&ret_sn->id, hex),
				    si);
	if (r < 0) {
		free(si);
		return r == -EINVAL ? -ENOENT : r;
	}
	/* the newest drill of this snapshot; a log that cannot be read: none */
	if (drfs_drill_log_read(fs->repo, &d, &n_d) >= 0)
		for (size_t i = n_d; i-- > 0 && !drill;)
			if (drfs_id_eq(&d[i].snapshot, &si->id))
				drill = &d[i];
	r = drfs_facts_snapshot_json(si, NULL, info_held(fs, &si->id, fresh),
				     true, drill, out);
	r = r ?: drfs_buf_u8(out, '\n');
	free(d);
	free(si);
	return r;
}

int mnt_info_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct fs_snap sn;
	struct drfs_buf b;
	drfs_buf_init(&b, INFO_MAX);
	int r = info_render(fs, ino, false, &b, &sn);
	size_t len = b.len;
	drfs_buf_release(&b);
	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = (off_t)len;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
	st->st_blksize = 4096;
	st->st_mtim = st->st_atim = st->st_ctim = sn.time;
	return 0;
}

int mnt_info_lookup(struct fs *fs, uint64_t day_ino, const char *name,
		    uint64_t *ret)
{
	char folder[64];
	struct fs_snap sn;
	size_t len = strlen(name);
	int64_t day = (int64_t)(day_ino - FS_INO_INFO_DAY_BASE);
	struct tm tm;
	time_t t = (time_t)(day * 86400);

	if (len <= 5 || len > 25 || strcmp(name + len - 5, ".json") != 0)
		return -ENOENT;
	gmtime_r(&t, &tm);
	snprintf(folder, sizeof(folder), "%04d-%02d-%02d/%.*s",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, (int)(len - 5),
		 name);
	mnt_snaps_refresh(fs);
	if (mnt_snap_by_folder(fs, folder, &sn) < 0)
		return -ENOENT;
	*ret = mnt_info_file_ino(&sn.id);
	return 0;
}

/* An open info file: its text as rendered at open. */
struct info_fh {
	size_t len;
	uint8_t text[];
};

void mnt_info_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_snap sn;
	struct drfs_buf b;
	drfs_buf_init(&b, INFO_MAX);
	int r = info_render(fs, ino, true, &b, &sn);
	struct info_fh *fh = r < 0 ? NULL : malloc(sizeof(*fh) + b.len);
	if (r >= 0 && !fh)
		r = -ENOMEM;
	if (r < 0) {
		drfs_buf_release(&b);
		reply_err(req, r);
		return;
	}
	fh->len = b.len;
	memcpy(fh->text, b.p, b.len);
	drfs_buf_release(&b);
	fi->fh = (uintptr_t)fh; /* mnt_op_release frees it */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		free(fh);
}

void mnt_info_read(fuse_req_t req, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	const struct info_fh *fh = (const struct info_fh *)(uintptr_t)fi->fh;
	if (off < 0) {
		reply_err(req, -EINVAL);
		return;
	}
	if ((uint64_t)off >= fh->len || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/*
	 * A copy: once the kernel has the reply, the reader may close and
	 * the release free fh while this thread is still in writev.
	 */
	size_t n = MIN(size, fh->len - (size_t)off);
	char *buf = malloc(n);
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	memcpy(buf, fh->text + off, n);
	fuse_reply_buf(req, buf, n);
	free(buf);
}

void mnt_info_lseek(fuse_req_t req, off_t off, int whence,
		    struct fuse_file_info *fi)
{
	const struct info_fh *fh = (const struct info_fh *)(uintptr_t)fi->fh;
	if (off < 0 || (uint64_t)off >= fh->len)
		reply_err(req, -ENXIO);
	else
		fuse_reply_lseek(req, whence == SEEK_DATA ? off
							: (off_t)fh->len);
}

void mnt_info_inval_gone(struct fs *fs, char (*old)[DRFS_FOLDER_BUF],
			 size_t n_old)
{
	struct fs_snap sn;
	if (!fs->se)
		return;
	fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_INFO, 0, 0);
	for (size_t i = 0; i < n_old; i++) {
		int64_t day = mnt_folder_day(old[i]);
		char name[40];
		if (day < 0 || strlen(old[i]) <= 11 ||
		    mnt_snap_by_folder(fs, old[i], &sn) == 0)
			continue;
		uint64_t dino = FS_INO_INFO_DAY_BASE + (uint64_t)day;
		int n = snprintf(name, sizeof(name), "%s.json", old[i] + 11);
		fuse_lowlevel_notify_inval_entry(fs->se, dino, name,
						 (size_t)n);
		if (!mnt_day_exists(fs, day, NULL))
			fuse_lowlevel_notify_inval_entry(fs->se, FS_INO_INFO,
							 old[i], 10);
		else
			fuse_lowlevel_notify_inval_inode(fs->se, dino, 0, 0);
	}
}

void mnt_info_free(struct fs *fs)
{
	free(fs->holds);
	fs->holds = NULL;
	fs->n_holds = 0;
}
