/* SPDX-License-Identifier: MIT */
/*
 * catalogue.c - the snapshot catalogue the mount shows (snapshots/DAY/TIME,
 * latest), reloaded from the repository, and which snapshots may be served
 * while reads come from a replica. mountint.h has what the rooms of the
 * mount share.
 */
#include "mountint.h"

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

/*
 * Reload the catalogue if it is older than SNAPS_REFRESH. The kernel
 * caches symlinks (FUSE_CAP_CACHE_SYMLINKS), latest's too, so a reload
 * that changes latest's target drops that copy (inval: after the lock is
 * released). Not while serving the READLINK of latest itself: the kernel
 * holds the page it fills locked until the reply, which has the new
 * target anyway.
 */
static int snaps_refresh(struct fs *fs, bool inval)
{
	struct drfs_snap_info *v = NULL;
	size_t n = 0;
	double now = drfs_now_mono();
	bool changed = false;
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
	struct drfs_id was = fs->latest < fs->n_snaps ? fs->snaps[fs->latest].id
						       : (struct drfs_id){ 0 };
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
	struct drfs_id is = fs->latest < k ? s[fs->latest].id
					   : (struct drfs_id){ 0 };
	changed = !drfs_id_eq(&was, &is);
out:
	pthread_mutex_unlock(&fs->snap_lock);
	free(v);
	if (changed && inval && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_LATEST, 0, 0);
	return r;
}

int mnt_snaps_refresh(struct fs *fs)
{
	return snaps_refresh(fs, true);
}

int mnt_snaps_refresh_readlink(struct fs *fs)
{
	return snaps_refresh(fs, false);
}

/* Days since 1970-01-01 of "YYYY-MM-DD...", or -1. */
int64_t mnt_folder_day(const char *f)
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
int mnt_snap_get(struct fs *fs, size_t i, struct fs_snap *ret)
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
int mnt_snap_by_folder(struct fs *fs, const char *folder, struct fs_snap *ret)
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

bool mnt_day_exists(struct fs *fs, int64_t day, char *ret_name)
{
	bool found = false;
	pthread_mutex_lock(&fs->snap_lock);
	for (size_t i = 0; i < fs->n_snaps && !found; i++) {
		if (mnt_folder_day(fs->snaps[i].folder) == day) {
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

bool mnt_is_day_ino(uint64_t ino)
{
	return FS_NS(ino) == FS_NS_VIRT && ino >= FS_INO_DAY_BASE &&
	       ino < FS_INO_DAY_BASE + (1ull << 31);
}
