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
 */
#include <pthread.h>
#include <time.h>

#include "mountint.h"

/*
 * The folders never change: their names are cached for good (unmounting
 * MOUNTPOINT/NAME then needs no lookup); attributes for a second, so that
 * a stat of a mount whose daemon was killed says so soon (ENOTCONN).
 */
#define ROOT_TIMEOUT (86400.0 * 365)
#define ROOT_ATTR_TIMEOUT 1.0
#define RETRY_DEFAULT 60.0
#define LIST_MAX 65536
#define TRIM_EVERY 5 /* seconds */

enum mr_state { MR_STARTING, MR_SERVING, MR_UNAVAILABLE, MR_ENDED };
static const char *const state_name[] = { "starting", "serving",
					  "unavailable", "ended" };

struct multi;

struct mrepo {
	struct multi *m;
	const char *name;
	struct drfs_mount_opts o; /* o.mountpoint: MOUNTPOINT/NAME */
	char *path, *url, *cache_dir;
	char *password;           /* secret memory, until it is open */
	pthread_t thread;
	bool started;
	bool synced;              /* the parent opened it: no sync again */
	/* under m->lock */
	enum mr_state state;
	char error[512];
	double next_try;          /* drfs_now_mono() */
};

struct multi {
	pthread_mutex_t lock;     /* protects the fields marked so */
	pthread_cond_t cond;
	bool quit;                /* (lock) shutting down */
	bool root_done;           /* (lock) the root session ended */
	bool signalled;           /* (lock) the signal thread got one */
	struct mrepo *r;
	size_t n;
	const char *mountpoint;
	double retry;
	uid_t uid;
	gid_t gid;
	struct timespec start;
};

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

/* ---- the root session --------------------------------------------------- */

static bool root_ino(const struct multi *m, fuse_ino_t ino)
{
	return ino >= FUSE_ROOT_ID && ino < FUSE_ROOT_ID + 1 + m->n;
}

static void root_stat(const struct multi *m, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = ino == FUSE_ROOT_ID ? 2 + m->n : 2;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_atim = st->st_mtim = st->st_ctim = m->start;
	st->st_blksize = 4096;
}

static void root_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct multi *m = fuse_req_userdata(req);
	struct fuse_entry_param e;

	if (parent == FUSE_ROOT_ID) {
		for (size_t i = 0; i < m->n; i++) {
			if (strcmp(name, m->r[i].name))
				continue;
			memset(&e, 0, sizeof(e));
			e.ino = FUSE_ROOT_ID + 1 + i;
			e.entry_timeout = ROOT_TIMEOUT;
			e.attr_timeout = ROOT_ATTR_TIMEOUT;
			root_stat(m, e.ino, &e.attr);
			fuse_reply_entry(req, &e);
			return;
		}
	}
	fuse_reply_err(req, ENOENT);
}

static void root_getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct multi *m = fuse_req_userdata(req);
	struct stat st;
	(void)fi;
	if (!root_ino(m, ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	root_stat(m, ino, &st);
	fuse_reply_attr(req, &st, ROOT_ATTR_TIMEOUT);
}

static void root_opendir(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct multi *m = fuse_req_userdata(req);
	if (!root_ino(m, ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void root_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	struct multi *m = fuse_req_userdata(req);
	size_t n = ino == FUSE_ROOT_ID ? m->n : 0, used = 0;
	char *buf = malloc(size);
	struct stat st;
	(void)fi;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < n + 2; i++) {
		const char *name = i == 0   ? "."
				   : i == 1 ? ".."
					    : m->r[i - 2].name;
		fuse_ino_t e = i == 0 ? ino : i == 1 ? FUSE_ROOT_ID
						     : FUSE_ROOT_ID + i - 1;
		root_stat(m, e, &st);
		size_t l = fuse_add_direntry(req, buf + used, size - used, name,
					     &st, (off_t)i + 1);
		if (l > size - used)
			break;
		used += l;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* "NAME\tSTATE\tMESSAGE\n" per repository */
static size_t root_list(struct multi *m, char *out, size_t max)
{
	size_t l = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n && l < max; i++) {
		struct mrepo *r = &m->r[i];
		char msg[sizeof(r->error) + 64] = "";
		if (r->state == MR_UNAVAILABLE)
			snprintf(msg, sizeof(msg), "%s (tried again every "
				 "%.0f s)", r->error, m->retry);
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		int k = snprintf(out + l, max - l, "%s\t%s\t%s\n", r->name,
				 state_name[r->state], msg);
		l = k < 0 ? max : MIN(max, l + (size_t)k);
	}
	pthread_mutex_unlock(&m->lock);
	return l;
}

static void root_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  size_t size)
{
	struct multi *m = fuse_req_userdata(req);
	char *text = NULL;
	size_t l = 0;

	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	text = malloc(LIST_MAX);
	if (!text) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!strcmp(name, PID_XATTR)) {
		l = (size_t)snprintf(text, LIST_MAX, "%ld", (long)getpid());
	} else if (!strcmp(name, MULTI_XATTR)) {
		l = root_list(m, text, LIST_MAX);
	} else {
		free(text);
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (size == 0)
		fuse_reply_xattr(req, l);
	else if (l > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, text, l);
	free(text);
}

static void root_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static const struct fuse_lowlevel_ops root_ops = {
	.lookup = root_lookup,
	.getattr = root_getattr,
	.opendir = root_opendir,
	.readdir = root_readdir,
	.getxattr = root_getxattr,
	.listxattr = root_listxattr,
};

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

static int multi_serve(struct multi *m, const struct drfs_mount_multi *mm,
		       int ready_fd)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct drfs_mount_opts ao = { .fuse_opts = mm->fuse_opts,
				      .debug = mm->debug };
	struct root_loop rl = { .m = m };
	pthread_t root_thread, sig_thread;
	sigset_t set = stop_signals();
	int r;

	/* the signal thread takes them; every other thread inherits this */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	mallopt(M_ARENA_MAX, 4); /* as mnt_serve: docs/mount.md, Memory */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	r = mnt_build_args(&ao, &args);
	if (r < 0) {
		mnt_report(ready_fd, r);
		return r;
	}
	rl.se = fuse_session_new(&args, &root_ops, sizeof(root_ops), m);
	fuse_opt_free_args(&args);
	if (!rl.se) {
		log_err("mount options \"%s\" not understood",
			mm->fuse_opts ? mm->fuse_opts : "");
		mnt_report(ready_fd, -EINVAL);
		return -EINVAL;
	}
	if (fuse_session_mount(rl.se, m->mountpoint) < 0) {
		log_err("mounting on \"%s\" failed", m->mountpoint);
		fuse_session_destroy(rl.se);
		mnt_report(ready_fd, -EIO);
		return -EIO;
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

	/* ready once every repository was tried (the log names each) */
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
	mnt_report(ready_fd, 0);
	log_info("mounted %zu repositories on \"%s\"", m->n, m->mountpoint);

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

	/* the repositories first, while the root still serves their names */
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

/* ---- the client: status and umount ------------------------------------- */

int drfs_fs_multi_list(const char *mountpoint, char *out, size_t len)
{
	ssize_t l = getxattr(mountpoint, MULTI_XATTR, out, len - 1);
	if (l < 0)
		return errno == ENODATA || errno == ENOTSUP || errno == ENOSYS
			       ? -ENOTCONN
			       : -errno;
	out[l] = 0;
	return 0;
}

bool mnt_multi_serving(const char *path)
{
	char parent[PATH_MAX], *slash, *list, *p;
	bool found = false;

	if (!realpath(path, parent) &&
	    snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent))
		return false;
	while ((slash = strrchr(parent, '/')) && !slash[1] && slash > parent)
		*slash = 0;
	slash = strrchr(parent, '/');
	if (!slash || !drfs_fs_multi_name_ok(slash + 1))
		return false;
	*slash = 0;
	const char *name = slash + 1;
	size_t nl = strlen(name);
	list = malloc(LIST_MAX);
	if (!list || drfs_fs_multi_list(*parent ? parent : "/", list,
					LIST_MAX) < 0) {
		free(list);
		return false;
	}
	for (p = list; p && *p && !found; p = strchr(p, '\n'), p = p ? p + 1
								    : NULL)
		found = !strncmp(p, name, nl) && p[nl] == '\t' &&
			!strncmp(p + nl + 1, "serving\t", 8);
	free(list);
	return found;
}

int mnt_multi_umount(const char *mountpoint)
{
	char *list = malloc(LIST_MAX);
	char (*reports)[PATH_MAX + 1] = NULL;
	char **names = NULL;
	size_t n = 0;
	pid_t pid = 0;
	int r = -ENOMEM;

	if (!list)
		return -ENOMEM;
	r = drfs_fs_multi_list(mountpoint, list, LIST_MAX);
	if (r < 0)
		goto out;
	for (char *p = list; *p; p++)
		n += *p == '\n';
	reports = calloc(n + 1, sizeof(*reports));
	names = calloc(n + 1, sizeof(*names));
	r = -ENOMEM;
	if (!reports || !names)
		goto out;
	pid = mnt_daemon_pid(mountpoint);
	size_t i = 0;
	r = 0;
	for (char *line = list, *next; line && *line && i < n; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *st = strchr(line, '\t');
		if (!st)
			continue;
		*st++ = 0;
		if (strncmp(st, "serving\t", 8) || !drfs_fs_multi_name_ok(line))
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", mountpoint, line);
		names[i] = line;
		if (fs_ctl_report_path(path, reports[i], sizeof(reports[i])))
			reports[i][0] = 0;
		else
			unlink(reports[i]); /* an older one */
		drfs_log_set_thread_prefix(line);
		r = mnt_unmount(path);
		drfs_log_set_thread_prefix(NULL);
		i++;
		if (r < 0)
			goto out;
	}
	r = mnt_unmount(mountpoint);
	if (r < 0)
		goto out;
	r = mnt_wait_daemon(pid, NULL);
	for (size_t k = 0; r >= 0 && k < i; k++) {
		if (!reports[k][0])
			continue;
		drfs_log_set_thread_prefix(names[k]);
		if (fs_ctl_report_read(reports[k]) < 0)
			r = -EIO;
		else
			log_info("unmounted (its final snapshot and uploads "
				 "done)");
		drfs_log_set_thread_prefix(NULL);
	}
out:
	free(list);
	free(reports);
	free(names);
	return r;
}
