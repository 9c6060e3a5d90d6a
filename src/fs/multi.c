/* SPDX-License-Identifier: MIT */
/*
 * multi.c - several repositories in one mount (docs/mount.md): one daemon
 * serving a small read-only root session at MOUNTPOINT, whose folders are
 * the repositories' names, and for each repository an ordinary drfs
 * session (mnt_serve: its own struct fs, loop threads, lock, cache and
 * schedule) mounted on MOUNTPOINT/NAME. A repository that cannot be opened
 * is an empty folder whose error the root answers (MULTI_XATTR, drfs
 * status); its thread tries again every retry seconds.
 *
 * Shutdown order: the repositories before the root. Unmounting
 * MOUNTPOINT/NAME looks NAME up in the root session, so the root serves
 * until every repository's session has ended: on SIGTERM, SIGINT or
 * SIGHUP the daemon detaches each repository's mount, waits for its final
 * snapshot, then detaches the root; drfs umount unmounts the folders one
 * by one, then the root (mnt_multi_umount).
 *
 * The root session is multiroot.c's, drfs status and umount of the whole
 * multiclient.c's; multiint.h holds what the three share.
 */
#include <pthread.h>
#include <time.h>

#include "multiint.h"

#define RETRY_DEFAULT 60.0
#define TRIM_EVERY 5 /* seconds */

bool drfs_fs_multi_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* ---- one repository ----------------------------------------------------- */

static void repo_mounted(void *ud, struct fuse_session *se)
{
	struct mrepo *r = ud;
	struct multi *m = r->m;
	(void)se;
	pthread_mutex_lock(&m->lock);
	r->state = MR_SERVING;
	r->error[0] = 0;
	bool quit = m->quit;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	/* open: the passphrase is not needed any more */
	drfs_secret_free(r->password);
	r->password = NULL;
	if (quit) /* shutting down meanwhile: end this session too */
		mnt_detach(r->path);
}

static void *repo_main(void *arg)
{
	struct mrepo *r = arg;
	struct multi *m = r->m;
	struct mnt_served h = { .mounted = repo_mounted, .ud = r };

	drfs_log_set_thread_prefix(r->name);
	pthread_mutex_lock(&m->lock);
	while (!m->quit) {
		double now = drfs_now_mono();
		if (now < r->next_try) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			double w = r->next_try - now;
			ts.tv_sec += (time_t)w;
			ts.tv_nsec += (long)((w - (double)(time_t)w) * 1e9);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&m->cond, &m->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&m->lock);
		struct drfs_mount_opts o = r->o;
		o.password = r->password ? drfs_secret_strdup(r->password)
					 : NULL;
		drfs_log_clear_last_error();
		int e = mnt_serve(&o, !r->synced, -1, &h);
		drfs_secret_free(o.password);
		r->synced = false;
		pthread_mutex_lock(&m->lock);
		if (r->state == MR_SERVING) {
			r->state = MR_ENDED;
			pthread_cond_broadcast(&m->cond);
			break;
		}
		const char *why = drfs_log_last_error();
		snprintf(r->error, sizeof(r->error), "%s",
			 *why ? why : drfs_strerror(e < 0 ? e : -EIO));
		r->state = MR_UNAVAILABLE;
		r->next_try = drfs_now_mono() + m->retry;
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- the daemon --------------------------------------------------------- */

struct root_loop {
	struct multi *m;
	struct fuse_session *se;
};

static void *root_main(void *arg)
{
	struct root_loop *rl = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, 4);
		fuse_loop_cfg_set_idle_threads(cfg, 1);
		fuse_session_loop_mt(rl->se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	pthread_mutex_lock(&rl->m->lock);
	rl->m->root_done = true;
	pthread_cond_broadcast(&rl->m->cond);
	pthread_mutex_unlock(&rl->m->lock);
	return NULL;
}

static sigset_t stop_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return set;
}

static void *signal_main(void *arg)
{
	struct multi *m = arg;
	sigset_t set = stop_signals();
	int sig = 0;
	sigwait(&set, &sig);
	pthread_mutex_lock(&m->lock);
	m->signalled = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* The root session, mounted on m->mountpoint into rl->se. Logged. */
static int root_mount(struct multi *m, const struct drfs_mount_multi *mm,
		      struct root_loop *rl)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct drfs_mount_opts ao = { .fuse_opts = mm->fuse_opts,
				      .debug = mm->debug };
	int r = mnt_build_args(&ao, &args);

	if (r < 0)
		return r;
	rl->se = fuse_session_new(&args, &multi_root_ops,
				  sizeof(multi_root_ops), m);
	fuse_opt_free_args(&args);
	if (!rl->se) {
		log_err("mount options \"%s\" not understood",
			mm->fuse_opts ? mm->fuse_opts : "");
		return -EINVAL;
	}
	if (fuse_session_mount(rl->se, m->mountpoint) < 0) {
		log_err("mounting on \"%s\" failed", m->mountpoint);
		fuse_session_destroy(rl->se);
		return -EIO;
	}
	return 0;
}

/* Until every repository started was tried (the log names each). */
static void wait_tried(struct multi *m)
{
	pthread_mutex_lock(&m->lock);
	for (;;) {
		bool starting = false;
		for (size_t i = 0; i < m->n; i++)
			starting |= m->r[i].started &&
				    m->r[i].state == MR_STARTING;
		if (!starting || m->root_done || m->signalled)
			break;
		pthread_cond_wait(&m->cond, &m->lock);
	}
	pthread_mutex_unlock(&m->lock);
}

/*
 * Until the root session ends or a stop signal comes; then m->quit.
 * Returns whether the root session had ended.
 */
static bool serve_until_stop(struct multi *m)
{
	pthread_mutex_lock(&m->lock);
	while (!m->root_done && !m->signalled) {
		/*
		 * Give the arenas' free pages back every few seconds: the
		 * sessions' threads free MiB-sized chunks in the middle of
		 * the arenas, which glibc keeps resident otherwise.
		 */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += TRIM_EVERY;
		if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) ==
		    ETIMEDOUT) {
			pthread_mutex_unlock(&m->lock);
			malloc_trim(0);
			pthread_mutex_lock(&m->lock);
		}
	}
	m->quit = true;
	pthread_cond_broadcast(&m->cond);
	bool root_done = m->root_done;
	pthread_mutex_unlock(&m->lock);
	return root_done;
}

/* The repositories end first, while the root still serves their names. */
static void repos_stop(struct multi *m, bool root_done)
{
	if (!root_done) {
		for (size_t i = 0; i < m->n; i++) {
			pthread_mutex_lock(&m->lock);
			bool serving = m->r[i].state == MR_SERVING;
			pthread_mutex_unlock(&m->lock);
			if (serving)
				mnt_detach(m->r[i].path);
		}
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->r[i].started)
			pthread_join(m->r[i].thread, NULL);
}

static int multi_serve(struct multi *m, const struct drfs_mount_multi *mm,
		       int ready_fd)
{
	struct root_loop rl = { .m = m };
	pthread_t root_thread, sig_thread;
	sigset_t set = stop_signals();
	int r;

	/* the signal thread takes them; every other thread inherits this */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	mnt_tune_process(); /* as mnt_serve: docs/mount.md, Memory */
	r = root_mount(m, mm, &rl);
	if (r < 0) {
		mnt_report(ready_fd, r);
		return r;
	}
	if (pthread_create(&root_thread, NULL, root_main, &rl) != 0) {
		fuse_session_unmount(rl.se);
		fuse_session_destroy(rl.se);
		mnt_report(ready_fd, -EAGAIN);
		return -EAGAIN;
	}
	/* detached: what the repositories' threads say goes to the log */
	if (ready_fd >= 0)
		mnt_log_to_file(mm->log_file, mm->mountpoint);
	bool sig_started =
		pthread_create(&sig_thread, NULL, signal_main, m) == 0;
	fs_cache_share((unsigned)m->n);
	for (size_t i = 0; i < m->n; i++)
		m->r[i].started = pthread_create(&m->r[i].thread, NULL,
						 repo_main, &m->r[i]) == 0;
	wait_tried(m);
	mnt_report(ready_fd, 0);
	log_info("mounted %zu repositories on \"%s\"", m->n, m->mountpoint);

	bool root_done = serve_until_stop(m);
	repos_stop(m, root_done);
	if (!root_done)
		mnt_detach(m->mountpoint);
	pthread_join(root_thread, NULL);
	fuse_session_unmount(rl.se);
	fuse_session_destroy(rl.se);
	if (sig_started) {
		pthread_mutex_lock(&m->lock);
		if (!m->signalled)
			pthread_kill(sig_thread, SIGTERM);
		pthread_mutex_unlock(&m->lock);
		pthread_join(sig_thread, NULL);
	}
	log_info("unmounted \"%s\"", m->mountpoint);
	return 0;
}

static void multi_free(struct multi *m)
{
	for (size_t i = 0; m->r && i < m->n; i++) {
		free(m->r[i].path);
		free(m->r[i].url);
		free(m->r[i].cache_dir);
		drfs_secret_free(m->r[i].password);
	}
	free(m->r);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
}

/* The checks of the parent: names, duplicates; the repositories opened. */
static int multi_prepare(struct multi *m, const struct drfs_mount_multi *mm)
{
	for (size_t i = 0; i < mm->n; i++) {
		if (!drfs_fs_multi_name_ok(mm->names[i])) {
			log_err("\"%s\" is not a valid folder name for a "
				"repository (1 to 64 of A-Z a-z 0-9 . _ -, "
				"not starting with \".\")", mm->names[i]);
			return -EINVAL;
		}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(mm->names[k], mm->names[i])) {
				log_err("two repositories are named \"%s\": "
					"each needs a folder of its own",
					mm->names[i]);
				return -EINVAL;
			}
	}
	m->r = calloc(mm->n, sizeof(*m->r));
	if (!m->r)
		return -ENOMEM;
	m->n = mm->n;
	for (size_t i = 0; i < mm->n; i++) {
		struct mrepo *r = &m->r[i];
		const struct drfs_mount_opts *in = &mm->repos[i];
		r->m = m;
		r->name = mm->names[i];
		r->o = *in;
		r->url = in->repo.url ? mnt_absolute(in->repo.url) : NULL;
		r->cache_dir = in->repo.cache_dir
				       ? mnt_absolute(in->repo.cache_dir)
				       : NULL;
		if (asprintf(&r->path, "%s/%s", m->mountpoint, r->name) < 0)
			r->path = NULL;
		r->password = in->password ? drfs_secret_strdup(in->password)
					   : NULL;
		if (!r->url || !r->path ||
		    (in->repo.cache_dir && !r->cache_dir) ||
		    (in->password && !r->password))
			return -ENOMEM;
		r->o.repo.url = r->url;
		r->o.repo.cache_dir = r->cache_dir;
		r->o.mountpoint = r->path;
		r->o.password = NULL;
		r->o.foreground = true;
		r->o.debug = false;
		r->o.fuse_opts = mm->fuse_opts;
		r->o.nonempty = true; /* an empty folder of the root */
		r->o.log_file = NULL;
	}
	return 0;
}

/* Open each repository once, on the terminal: what fails is a warning. */
static int multi_validate(struct multi *m, char **ret_log)
{
	char (*dirs)[PATH_MAX] = calloc(m->n, sizeof(*dirs));
	int r = 0;
	if (!dirs)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		struct mrepo *r1 = &m->r[i];
		struct drfs_repo *repo = NULL;
		struct drfs_mount_opts o = r1->o;
		o.password = r1->password ? drfs_secret_strdup(r1->password)
					  : NULL;
		drfs_log_set_thread_prefix(r1->name);
		drfs_log_clear_last_error();
		int e = mnt_open_repo(&o, true, &repo);
		drfs_secret_free(o.password);
		if (e < 0) {
			const char *why = drfs_log_last_error();
			snprintf(r1->error, sizeof(r1->error), "%s",
				 *why ? why : drfs_strerror(e));
			r1->state = MR_UNAVAILABLE;
			r1->next_try = drfs_now_mono() + m->retry;
			log_warn("not available: \"%s\" stays an empty folder "
				 "and is tried again every %.0f s",
				 r1->path, m->retry);
			drfs_log_set_thread_prefix(NULL);
			continue;
		}
		drfs_log_set_thread_prefix(NULL);
		r1->synced = true;
		if (!realpath(repo->cache_dir, dirs[i]))
			snprintf(dirs[i], sizeof(dirs[i]), "%s",
				 repo->cache_dir);
		if (!*ret_log)
			*ret_log = mnt_log_path(repo->cache_dir,
						m->mountpoint);
		drfs_repo_free(repo);
		for (size_t k = 0; k < i && r >= 0; k++)
			if (dirs[k][0] && !strcmp(dirs[k], dirs[i])) {
				log_err("\"%s\" and \"%s\" would share the "
					"cache directory \"%s\" (the same "
					"repository twice, or the same "
					"--cache-dir): give each its own",
					m->r[k].name, r1->name, dirs[i]);
				r = -EINVAL;
			}
	}
	free(dirs);
	return r;
}

/* The log file when none was given and no repository opened. */
static char *default_log(const char *mountpoint)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *dir = NULL, *p = NULL;
	if (xdg && *xdg)
		(void)!asprintf(&dir, "%s/drfs", xdg);
	else if (home && *home)
		(void)!asprintf(&dir, "%s/.cache/drfs", home);
	else
		dir = strdup("/var/cache/drfs");
	if (dir && drfs_mkdir_p(dir, 0700) >= 0)
		p = mnt_log_path(dir, mountpoint);
	free(dir);
	return p;
}

struct multi_fork {
	struct multi *m;
	const struct drfs_mount_multi *mm;
};

static int multi_child(void *arg, int ready_fd)
{
	struct multi_fork *f = arg;
	int r = multi_serve(f->m, f->mm, ready_fd);
	multi_free(f->m);
	return r;
}

/* the daemon has its copies */
static void multi_forked(void *arg)
{
	struct multi *m = ((struct multi_fork *)arg)->m;
	for (size_t i = 0; i < m->n; i++) {
		drfs_secret_free(m->r[i].password);
		m->r[i].password = NULL;
	}
}

int drfs_fs_mount_multi(const struct drfs_mount_multi *mm)
{
	struct multi m = { .retry = mm->retry > 0 ? mm->retry : RETRY_DEFAULT };
	_cleanup_free_ char *mp = NULL, *log = NULL;
	struct drfs_mount_multi mb = *mm;
	int r;

	if (!mm->mountpoint || mm->n == 0)
		return -EINVAL;
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	m.uid = getuid();
	m.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &m.start);
	mp = mnt_absolute(mm->mountpoint);
	log = mm->log_file ? mnt_absolute(mm->log_file) : NULL;
	if (!mp || (mm->log_file && !log)) {
		r = -ENOMEM;
		goto out;
	}
	m.mountpoint = mp;
	r = multi_prepare(&m, mm);
	if (r < 0)
		goto out;
	r = mnt_check_mountpoint(mp, mm->nonempty);
	if (r < 0)
		goto out;
	r = multi_validate(&m, &log);
	if (r < 0)
		goto out;
	if (!log)
		log = default_log(mp);
	mb.log_file = log;
	if (mm->foreground || mm->debug) {
		r = multi_serve(&m, &mb, -1);
		goto out;
	}
	struct multi_fork mf = { .m = &m, .mm = &mb };
	r = mnt_daemonize(mp, multi_child, multi_forked, &mf);
out:
	multi_free(&m);
	return r;
}
