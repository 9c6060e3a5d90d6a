/* SPDX-License-Identifier: MIT */
/*
 * gc.c - retention and garbage collection in the mount: the policy after
 * each snapshot, rmdir of snapshot folders, prunes handed over by drfs
 * prune, deletion records (rescue now/'s blobs, acknowledge), the gc thread.
 * mountint.h has what the rooms of the mount share.
 */
#include "mountint.h"

/* ---- retention: forgetting snapshots, background gc --------------------- */

/* The catalogue's folder names (a copy), for finding what disappeared. */
int mnt_folders_copy(struct fs *fs, char (**ret)[DRFS_FOLDER_BUF],
		     size_t *ret_n)
{
	pthread_mutex_lock(&fs->snap_lock);
	size_t n = fs->n_snaps;
	char (*v)[DRFS_FOLDER_BUF] = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++)
		memcpy(v[i], fs->snaps[i].folder, sizeof(*v));
	pthread_mutex_unlock(&fs->snap_lock);
	if (!v)
		return -ENOMEM;
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Reload the catalogue now, not within a second. */
void mnt_snaps_reload(struct fs *fs)
{
	pthread_mutex_lock(&fs->snap_lock);
	fs->snaps_loaded = -1e9;
	pthread_mutex_unlock(&fs->snap_lock);
	mnt_snaps_refresh(fs);
}

/*
 * Drop what the kernel caches about folders of old[] that are gone from
 * the (reloaded) catalogue, and about snapshots/ and latest. Never called
 * on the path of an operation on snapshots/ or a day folder (the kernel
 * holds their locks): after the reply, or from another thread.
 */
void mnt_inval_gone(struct fs *fs, char (*old)[DRFS_FOLDER_BUF], size_t n_old)
{
	struct fs_snap sn;
	if (!fs->se)
		return;
	fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_SNAPSHOTS, 0, 0);
	fuse_lowlevel_notify_inval_inode(fs->se, FS_INO_LATEST, 0, 0);
	for (size_t i = 0; i < n_old; i++) {
		int64_t day = mnt_folder_day(old[i]);
		if (day < 0 || strlen(old[i]) <= 11 ||
		    mnt_snap_by_folder(fs, old[i], &sn) == 0)
			continue;
		uint64_t dino = FS_INO_DAY_BASE + (uint64_t)day;
		fuse_lowlevel_notify_inval_entry(fs->se, dino, old[i] + 11,
						 strlen(old[i] + 11));
		if (!mnt_day_exists(fs, day, NULL)) {
			fuse_lowlevel_notify_inval_entry(fs->se,
							 FS_INO_SNAPSHOTS,
							 old[i], 10);
		} else {
			fuse_lowlevel_notify_inval_inode(fs->se, dino, 0, 0);
		}
	}
	mnt_info_inval_gone(fs, old, n_old);
}

/* Ask the gc thread for a run (after snapshots were forgotten). */
void mnt_gc_request(struct fs *fs)
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
void mnt_watermark_update(struct fs *fs)
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
	char (*old)[DRFS_FOLDER_BUF] = NULL;
	size_t n_old = 0;
	int e;
	if (!fs->ret || !fs->ret->prune)
		return -EOPNOTSUPP;
	e = mnt_folders_copy(fs, &old, &n_old);
	if (e < 0)
		return e;
	if (fs->now)
		e = drfs_now_with_live_tree(fs->now, prune_with_root, &pc);
	else
		e = prune_with_root(&pc, NULL);
	log_info("prune handed over by pid %ld: %s", (long)req->pid,
		 e < 0 ? drfs_strerror(e) : "done");
	mnt_snaps_reload(fs);
	mnt_inval_gone(fs, old, n_old);
	free(old);
	return e;
}

/*
 * setxattr user.drfs.prune: queue the request for the gc thread and wait;
 * the output waits for the requester's getxattr of user.drfs.prune-result.
 */
int mnt_prune_request(struct fs *fs, pid_t pid, const char *args, size_t len)
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
void mnt_prune_result(fuse_req_t req, struct fs *fs, size_t size)
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

bool mnt_acked(const struct fs *fs, const struct drfs_id *id)
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
		same = mnt_acked(fs, &listed[i]);
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
	mnt_snaps_reload(fs);
	ids = calloc(n_known + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (size_t i = 0; i < n_known; i++) {
		ids[i] = known[i].id;
		packs += known[i].n_packs;
		fresh += !mnt_acked(fs, &known[i].id);
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
void *mnt_gc_main(void *arg)
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
			mnt_watermark_update(fs);
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
void mnt_gc_status(struct fs *fs, char *out, size_t len)
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
int mnt_snap_rmdir(struct fs *fs, uint64_t parent, const char *name,
		   char (**ret_old)[DRFS_FOLDER_BUF], size_t *ret_n_old)
{
	struct drfs_id *ids = NULL;
	size_t n = 0;
	int r;

	if (!fs->ret)
		return -EROFS;
	if (parent != FS_INO_SNAPSHOTS && !mnt_is_day_ino(parent))
		return -EROFS;
	mnt_snaps_reload(fs);
	r = mnt_folders_copy(fs, ret_old, ret_n_old);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->snap_lock);
	ids = calloc(fs->n_snaps ? fs->n_snaps : 1, sizeof(*ids));
	int64_t pday = mnt_is_day_ino(parent)
			       ? (int64_t)(parent - FS_INO_DAY_BASE)
			       : -1;
	for (size_t i = 0; ids && i < fs->n_snaps; i++) {
		const char *f = fs->snaps[i].folder;
		if (parent == FS_INO_SNAPSHOTS) {
			if (strlen(name) == 10 && !strncmp(f, name, 10) &&
			    f[10] == '/')
				ids[n++] = fs->snaps[i].id;
		} else if (mnt_folder_day(f) == pday && strlen(f) > 11 &&
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
			mnt_snaps_reload(fs);
			mnt_gc_request(fs);
		}
	}
	free(ids);
	if (r < 0) {
		free(*ret_old);
		*ret_old = NULL;
	}
	return r < 0 ? r : 0;
}
