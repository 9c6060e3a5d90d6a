/* SPDX-License-Identifier: MIT */
/*
 * mount.c - drfs mount: the libfuse3 low-level operations table, init, and
 * serving (daemonising, the session, the start-up handshake). mountint.h has
 * what the rooms of the mount share.
 */
#include "mountint.h"

/* ---- init ---------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* max_write also sets max_pages, which bounds reads: 1 MiB */
	conn->max_write = READ_MAX;
	conn->max_readahead = READ_MAX;
	/*
	 * Symlinks cached by the kernel: a symlink's target never changes
	 * under its inode number (snapshots are immutable, now/ replaces a
	 * symlink by a new inode), except latest's, which is dropped when it
	 * changes (mnt_snaps_refresh). Without this, every path through latest/
	 * costs a READLINK: three per file of a cp -a out of MNT/latest/.
	 */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
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
	.lookup = mnt_op_lookup,
	.forget = mnt_op_forget,
	.forget_multi = mnt_op_forget_multi,
	.getattr = mnt_op_getattr,
	.setattr = mnt_op_setattr,
	.readlink = mnt_op_readlink,
	.mknod = mnt_op_mknod,
	.mkdir = mnt_op_mkdir,
	.unlink = mnt_op_unlink,
	.rmdir = mnt_op_rmdir,
	.symlink = mnt_op_symlink,
	.rename = mnt_op_rename,
	.link = mnt_op_link,
	.open = mnt_op_open,
	.read = mnt_op_read,
	.write = mnt_op_write,
	.release = mnt_op_release,
	/*
	 * No .flush: close() has nothing to do here (now/ persists size and
	 * times at release and fsync; snapshots are immutable), and without a
	 * handler libfuse answers ENOSYS once, after which the kernel stops
	 * sending FLUSH: one round trip less per close (docs/mount.md).
	 */
	.fsync = mnt_op_fsync,
	.fsyncdir = mnt_op_fsyncdir,
	.opendir = mnt_op_opendir,
	.readdir = mnt_op_readdir,
	.readdirplus = mnt_op_readdirplus,
	.statfs = mnt_op_statfs,
	.setxattr = mnt_op_setxattr,
	.getxattr = mnt_op_getxattr,
	.listxattr = mnt_op_listxattr,
	.removexattr = mnt_op_removexattr,
	.create = mnt_op_create,
	.fallocate = mnt_op_fallocate,
	.lseek = mnt_op_lseek,
};

/* ---- serving ------------------------------------------------------------- */

void mnt_report(int fd, int status)
{
	if (fd >= 0) {
		(void)!write(fd, &status, sizeof(status));
		close(fd);
	}
}

void mnt_log_to_file(const char *file, const char *stamp)
{
	int lfd = file ? open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			      0600)
		       : -1;
	int nfd = open("/dev/null", O_RDWR);
	if (nfd >= 0) {
		dup2(nfd, 0);
		dup2(nfd, 1);
		dup2(lfd >= 0 ? lfd : nfd, 2);
		if (nfd > 2)
			close(nfd);
	}
	if (lfd >= 0) {
		drfs_log_set_fd(lfd);
		/* lines say which mount, wherever the file is */
		drfs_log_set_stamp(stamp);
	}
}

/* now/ reads data and tree blobs through the mount's chunk cache. */
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


static void now_on_snapshot(void *userdata, int result, const char *folder)
{
	if (result > 0)
		mnt_now_snapshot_taken(userdata);
	if (result == 0)
		mnt_facts_checked(userdata);
	if (result > 0)
		log_info("scheduled snapshot of now/: snapshots/%s", folder);
	else if (result < 0)
		log_err("scheduled snapshot of now/ failed: %s",
			drfs_strerror(result));
}

/* The dedup-loss guard's findings at a commit of now/ go to the log. */
static void now_on_guard(void *userdata, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	(void)userdata;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warn("%s", buf);
}

int mnt_open_repo(const struct drfs_mount_opts *o, bool sync,
		  struct drfs_repo **ret)
{
	struct drfs_repo_opts ro = o->repo;
	if (o->password)
		ro.password = o->password;
	if (!sync)
		ro.no_sync = true;
	ro.index_writemap = true; /* commits of now/: docs/now.md */
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

int mnt_build_args(const struct drfs_mount_opts *o, struct fuse_args *a)
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
		char folder[DRFS_FOLDER_BUF];
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

/* The state of one mount before anything is opened. */
static void fs_state_init(struct fs *fs, const struct drfs_mount_opts *o)
{
	memset(fs, 0, sizeof(*fs));
	pthread_mutex_init(&fs->snap_lock, NULL);
	pthread_mutex_init(&fs->log_lock, NULL);
	pthread_mutex_init(&fs->ahead_lock, NULL);
	pthread_mutex_init(&fs->gc_lock, NULL);
	pthread_cond_init(&fs->gc_cond, NULL);
	pthread_mutex_init(&fs->ctl_lock, NULL);
	pthread_mutex_init(&fs->facts_lock, NULL);
	pthread_cond_init(&fs->facts_cond, NULL);
	pthread_mutex_init(&fs->info_lock, NULL);
	fs->ret = o->retention;
	fs->http_fd = -1;
	fs->mount_time = (uint64_t)time(NULL);
	fs->latest = SIZE_MAX;
	fs->log_prefix = drfs_log_thread_prefix();
	if (o->host)
		snprintf(fs->host, sizeof(fs->host), "%s", o->host);
	else
		drfs_hostname(fs->host, sizeof(fs->host));
}

/* What fs_state_init and serving built, in reverse (the session is gone). */
static void fs_state_release(struct fs *fs)
{
	drfs_now_free(fs->now);
	drfs_lock_release(fs->lock);
	free(fs->acked);
	for (size_t i = 0; i < ARRAY_SIZE(fs->prune_res); i++)
		free(fs->prune_res[i].text);
	for (size_t i = 0; i < ARRAY_SIZE(fs->ctl_defer); i++)
		free(fs->ctl_defer[i].args);
	fs_cache_free(fs->cache);
	drfs_repo_free(fs->repo);
	free(fs->snaps);
	free(fs->trust);
	pthread_mutex_destroy(&fs->snap_lock);
	pthread_mutex_destroy(&fs->log_lock);
	pthread_mutex_destroy(&fs->ahead_lock);
	pthread_mutex_destroy(&fs->gc_lock);
	pthread_cond_destroy(&fs->gc_cond);
	pthread_mutex_destroy(&fs->ctl_lock);
	pthread_mutex_destroy(&fs->facts_lock);
	pthread_cond_destroy(&fs->facts_cond);
	mnt_info_free(fs);
	pthread_mutex_destroy(&fs->info_lock);
	if (fs->http_fd >= 0)
		close(fs->http_fd);
}

/* The process as a mount daemon wants it: its allocator, no core dumps. */
void mnt_tune_process(void)
{
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
}

/*
 * The repository, the mount's cache tables, the snapshot catalogue, the
 * snapshot --from names (*ret_from, when o->from) and the decoded-chunk
 * cache; the passphrase is wiped once the keys are unwrapped. Failures are
 * logged.
 */
static int open_repo_state(struct fs *fs, const struct drfs_mount_opts *o,
			   bool sync, struct drfs_id *ret_from)
{
	int r = mnt_open_repo(o, sync, &fs->repo);

	/* the keys are unwrapped (or never will be): the passphrase goes */
	if (o->password)
		drfs_wipe(o->password, strlen(o->password));
	if (r < 0)
		return r;
	r = fs_index_prepare(fs);
	if (r < 0) {
		log_err("preparing the mount's cache in \"%s\": %s",
			fs->repo->cache_dir ? fs->repo->cache_dir : "?",
			drfs_strerror(r));
		return r;
	}
	r = mnt_snaps_refresh(fs);
	if (r < 0) {
		log_err("reading the snapshot catalogue: %s",
			drfs_strerror(r));
		return r;
	}
	if (o->from) {
		r = resolve_from(fs->repo, o, fs->host, ret_from);
		if (r < 0)
			return r;
	}
	uint64_t disk = 0;
	if (o->repo.url && strncmp(o->repo.url, "s3://", 5) == 0)
		disk = o->cache_size ? o->cache_size : (1ull << 30);
	r = fs_cache_new(fs->repo, disk, &fs->cache);
	if (r < 0)
		return r;
	fs->cache_size = disk;
	fs->mountpoint = o->mountpoint;
	fs->opts = o;
	return 0;
}

/* now/ over the open repository, started from *from if given. Logged. */
static int open_now(struct fs *fs, const struct drfs_mount_opts *o,
		    const struct drfs_id *from)
{
	int r;
	struct drfs_now_opts no = {
		.cache_size = o->cache_size,
		.snapshot_every = (double)o->snapshot_every,
		.read_blob = now_read_blob,
		.read_blob_data = fs,
		.on_snapshot = now_on_snapshot,
		.on_snapshot_data = fs,
		.report = now_on_guard,
		.host = fs->host,
		.path = o->name,
		.from = from,
	};
	/*
	 * A setting of the mount's environment, not a test hook (testhook.h):
	 * DRFS_MEM_STAGING=0 stages every file on disk (docs/now.md; tests
	 * and benchmarks compare with it).
	 */
	const char *ms = getenv("DRFS_MEM_STAGING");
	no.no_mem_staging = ms && !strcmp(ms, "0");
	drfs_repo_set_last_error("%s", "");
	r = drfs_now_open(fs->repo, &no, &fs->now);
	if (r < 0)
		log_err("opening now/ in \"%s\": %s", fs->repo->cache_dir,
			drfs_repo_last_error() ?: drfs_strerror(r));
	return r;
}

/*
 * A shared lock for the mount's lifetime: a prune in another process then
 * defers deleting packs until this mount has acknowledged them (after
 * rescuing what now/ uses from them), and never deletes packs it uploaded
 * since its last snapshot. Read-only credentials cannot write one;
 * browsing still works. Then a sync: a prune may have finished between the
 * open and the lock. Logged.
 */
static int lock_and_sync(struct fs *fs)
{
	char why[512] = "";
	int r = drfs_lock_take(fs->repo, DRFS_LOCK_SHARED, DRFS_ROLE_MOUNT,
			       &fs->lock, why, sizeof(why));

	if (r == -EBUSY) {
		log_err("repository is locked: %s", why);
		return r;
	}
	if (r < 0)
		log_warn("%s: a prune elsewhere could free data this mount "
			 "uses", why);
	r = drfs_repo_sync(fs->repo, false);
	if (r < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(r));
		return r;
	}
	return 0;
}

/*
 * The FUSE session, mounted on o->mountpoint (*ret_se is set even when the
 * mount fails, for the caller to destroy). h: see mnt_serve. Logged.
 */
static int session_mount(struct fs *fs, const struct drfs_mount_opts *o,
			 const struct mnt_served *h, struct fuse_args *args,
			 struct fuse_session **ret_se)
{
	struct fuse_session *se;
	int r;

	/* before the mount is ready: a port in use fails the mount */
	r = mnt_http_bind(fs, o->metrics_listen);
	if (r < 0)
		return r;
	r = mnt_build_args(o, args);
	if (r < 0)
		return r;
	se = fuse_session_new(args, &ops, sizeof(ops), fs);
	fs->se = se;
	*ret_se = se;
	if (!se) {
		log_err("mount options \"%s\" not understood",
			o->fuse_opts ? o->fuse_opts : "");
		return -EINVAL;
	}
	if (!h && fuse_set_signal_handlers(se) < 0)
		return -EIO;
	/* canonical while it is still a plain directory (mountpoint.c) */
	char *canon = h ? NULL : realpath(o->mountpoint, NULL);
	if (fuse_session_mount(se, o->mountpoint) < 0) {
		log_err("mounting on \"%s\" failed", o->mountpoint);
		free(canon);
		if (!h)
			fuse_remove_signal_handlers(se);
		return -EIO;
	}
	if (canon && mnt_raise_readahead(canon, READ_MAX >> 10) < 0)
		log_debug("read-ahead of \"%s\" stays at the kernel's default",
			  o->mountpoint);
	free(canon);
	if (h)
		h->mounted(h->ud, se);
	return 0;
}

/*
 * Mounted: the parent hears of it through ready_fd (and logging moves to
 * the log file), systemd through $NOTIFY_SOCKET.
 */
static void announce_mounted(struct fs *fs, const struct drfs_mount_opts *o,
			     int ready_fd)
{
	if (ready_fd >= 0) {
		char *path = NULL;
		if (!o->log_file)
			path = mnt_log_path(fs->repo->cache_dir, o->mountpoint);
		mnt_log_to_file(o->log_file ? o->log_file : path, o->mountpoint);
		free(path);
		mnt_report(ready_fd, 0);
	}
	log_info("mounted \"%s\" on \"%s\"", o->repo.url, o->mountpoint);
	/* Type=notify: ready only now that the mount is there */
	if (drfs_sd_notify("READY=1\nSTATUS=mounted") < 0)
		log_warn("cannot notify systemd ($NOTIFY_SOCKET)");
}

/* The FUSE loop until unmounted or signalled. h: see mnt_serve. */
static int session_loop(struct fuse_session *se, const struct mnt_served *h)
{
	/* several repositories: one daemon's budget (multi.c) */
	int max = h ? MULTI_MAX_THREADS : 16;
	/*
	 * A setting of the mount's environment, not a test hook:
	 * DRFS_FUSE_LOOP=libfuse serves with libfuse's loop instead of
	 * loop.c's (docs/benchmarks.md compares them).
	 */
	const char *v = getenv("DRFS_FUSE_LOOP");
	if (!v || strcmp(v, "libfuse"))
		return mnt_loop(se, max, 4);

	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r;

	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_max_threads(cfg, max);
	fuse_loop_cfg_set_idle_threads(cfg, 4);
	r = fuse_session_loop_mt(se, cfg);
	r = r > 0 ? 0 : r; /* > 0: ended by a signal */
	fuse_loop_cfg_destroy(cfg);
	return r;
}

/* The gc thread ends: a running gc finishes; a pending one waits. */
static void gc_thread_stop(struct fs *fs)
{
	if (!fs->gc_started)
		return;
	pthread_mutex_lock(&fs->gc_lock);
	fs->gc_quit = true;
	pthread_cond_broadcast(&fs->gc_cond);
	pthread_mutex_unlock(&fs->gc_lock);
	pthread_join(fs->gc_thread, NULL);
	fs->gc_started = false;
}

/*
 * Open, mount and serve. ready_fd >= 0: write the status there once
 * mounted (or failed) and switch logging to the log file. h: a repository
 * of a several-repository mount (multi.c): the process's signals are not
 * the session's, and h->mounted is called once it is mounted.
 */
int mnt_serve(const struct drfs_mount_opts *o, bool sync, int ready_fd,
	      const struct mnt_served *h)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct drfs_id from;
	struct fs fs;
	int r;

	fs_state_init(&fs, o);
	mnt_tune_process();
	r = open_repo_state(&fs, o, sync, &from);
	if (r < 0)
		goto out;
	r = open_now(&fs, o, o->from ? &from : NULL);
	if (r < 0)
		goto out;
	r = lock_and_sync(&fs);
	if (r < 0)
		goto out;
	r = session_mount(&fs, o, h, &args, &se);
	if (r < 0)
		goto out;
	announce_mounted(&fs, o, ready_fd);
	ready_fd = -1;
	if (drfs_now_replayed(fs.now))
		log_info("now/: replayed %" PRIu64 " logged operation(s) of "
			 "an interrupted session", drfs_now_replayed(fs.now));
	if (fs.ret)
		fs.gc_started = drfs_log_thread_create(&fs.gc_thread,
						       mnt_gc_main, &fs) == 0;
	mnt_facts_start(&fs, o);
	int marker = mount_marker(fs.repo->cache_dir, o->mountpoint);

	r = session_loop(se, h);
	mount_marker_drop(marker, fs.repo->cache_dir);
	drfs_sd_notify("STOPPING=1");
	fuse_session_unmount(se);
	if (!h)
		fuse_remove_signal_handlers(se);
	fs.se = NULL;
	mnt_facts_stop(&fs);
	gc_thread_stop(&fs);
	if (fs.now)
		finish_now(&fs, o);
	log_info("unmounted \"%s\"", o->mountpoint);
out:
	mnt_report(ready_fd, r);
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	fs_state_release(&fs);
	return r;
}

/* An absolute form of a relative local path or URL (the daemon runs in /). */
char *mnt_absolute(const char *p)
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

int mnt_daemonize(const char *mountpoint, int (*child)(void *arg, int fd),
		  void (*forked)(void *arg), void *arg)
{
	int fds[2], r;

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
		r = child(arg, fds[1]);
		_exit(r < 0 ? 1 : 0);
	}
	if (forked)
		forked(arg);
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
			mountpoint);
		waitpid(pid, NULL, WNOHANG);
		return -EIO;
	}
	if (status < 0)
		waitpid(pid, NULL, 0); /* it already said why */
	return status;
}

static int serve_child(void *arg, int ready_fd)
{
	return mnt_serve(arg, false, ready_fd, NULL);
}

/* the daemon has its copy */
static void wipe_password(void *arg)
{
	const struct drfs_mount_opts *o = arg;
	if (o->password)
		drfs_wipe(o->password, strlen(o->password));
}

int drfs_fs_mount(const struct drfs_mount_opts *in)
{
	struct drfs_mount_opts ob = *in, *o = &ob;
	_cleanup_free_ char *url = NULL, *mp = NULL, *cd = NULL, *lf = NULL;
	struct drfs_repo *repo = NULL;
	int r;

	if (!in->mountpoint || !in->repo.url)
		return -EINVAL;
	url = mnt_absolute(in->repo.url);
	mp = mnt_absolute(in->mountpoint);
	cd = in->repo.cache_dir ? mnt_absolute(in->repo.cache_dir) : NULL;
	lf = in->log_file ? mnt_absolute(in->log_file) : NULL;
	if (!url || !mp || (in->repo.cache_dir && !cd) ||
	    (in->log_file && !lf))
		return -ENOMEM;
	ob.repo.url = url;
	ob.mountpoint = mp;
	ob.repo.cache_dir = cd;
	ob.log_file = lf;
	r = mnt_check_mountpoint(o->mountpoint, o->nonempty);
	if (r < 0)
		return r;
	if (o->foreground || o->debug)
		return mnt_serve(o, true, -1, NULL);

	/* validate in the parent, where the terminal still shows errors */
	r = mnt_open_repo(o, true, &repo);
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

	return mnt_daemonize(o->mountpoint, serve_child, wipe_password, o);
}
