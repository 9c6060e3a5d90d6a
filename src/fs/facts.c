/* SPDX-License-Identifier: MIT */
/*
 * facts.c - monitoring in the mount (docs/monitoring.md): the facts of
 * its repository (facts.h) with its upload backlog, memory and scheduled
 * checks, served as user.drfs.facts and written as a node_exporter
 * textfile by a thread that also samples the backlog every few seconds.
 */
#include "mountint.h"

#define SAMPLE_EVERY 5.0 /* seconds between samples of the backlog */

/* The daemon's resident memory, bytes; 0 unknown. */
static uint64_t rss_bytes(void)
{
	unsigned long long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* One sample of the backlog: when it was last empty, last shrank. */
static void sample(struct fs *fs, const struct drfs_now_status *st)
{
	double now = drfs_now_mono();
	uint64_t bytes = st->staged_bytes + st->pending_bytes;
	bool empty = !st->staged_files && !st->pending_blobs;
	pthread_mutex_lock(&fs->facts_lock);
	if (empty || !fs->facts_empty)
		fs->facts_empty = now;
	if (empty || bytes < fs->facts_backlog || !fs->facts_shrunk)
		fs->facts_shrunk = now;
	fs->facts_backlog = bytes;
	pthread_mutex_unlock(&fs->facts_lock);
}

void mnt_facts_checked(struct fs *fs)
{
	atomic_store(&fs->last_check, (int64_t)time(NULL));
}

int mnt_facts_get(struct fs *fs, struct drfs_facts *f)
{
	struct drfs_now_status st;
	memset(f, 0, sizeof(*f));
	int e = drfs_facts_collect(fs->repo, true, f);
	if (e < 0)
		return e;
	snprintf(f->host, sizeof(f->host), "%s", fs->host);
	f->mounted = true;
	f->rss_bytes = rss_bytes();
	f->last_check = atomic_load(&fs->last_check);
	if (fs->now && drfs_now_status(fs->now, &st) >= 0) {
		sample(fs, &st);
		f->backlog_objects = st.staged_files;
		f->backlog_bytes = st.staged_bytes;
		f->pending_blobs = st.pending_blobs;
		f->pending_bytes = st.pending_bytes;
		f->last_snapshot = st.last_snapshot;
		f->changed = st.changed;
		bool empty = !st.staged_files && !st.pending_blobs;
		pthread_mutex_lock(&fs->facts_lock);
		double now = drfs_now_mono();
		f->backlog_age = empty ? 0 : now - fs->facts_empty;
		f->stalled = empty ? 0 : now - fs->facts_shrunk;
		pthread_mutex_unlock(&fs->facts_lock);
	} else {
		for (size_t i = 0; i < f->n_hosts; i++)
			if (!strcmp(f->hosts[i].host, fs->host))
				f->last_snapshot = f->hosts[i].time;
	}
	/* the stats figures: a walk of the index and a listing, cached */
	if (fs->opts && fs->opts->stats) {
		pthread_mutex_lock(&fs->facts_lock);
		bool stale = !fs->have_stats ||
			     drfs_now_mono() - fs->stats_at >=
				     DRFS_FACTS_STATS_EVERY;
		pthread_mutex_unlock(&fs->facts_lock);
		if (stale && fs->stats) {
			struct drfs_facts *s = calloc(1, sizeof(*s));
			if (s && fs->opts->stats(fs->repo, s) >= 0) {
				pthread_mutex_lock(&fs->facts_lock);
				*fs->stats = *s;
				fs->have_stats = true;
				fs->stats_at = drfs_now_mono();
				pthread_mutex_unlock(&fs->facts_lock);
			}
			free(s);
		}
		pthread_mutex_lock(&fs->facts_lock);
		if (fs->have_stats) {
			f->have_stats = true;
			f->repo_bytes = fs->stats->repo_bytes;
			f->raw_bytes = fs->stats->raw_bytes;
			f->stored_bytes = fs->stats->stored_bytes;
			f->logical_bytes = fs->stats->logical_bytes;
		}
		pthread_mutex_unlock(&fs->facts_lock);
	}
	return 0;
}

void mnt_facts_reply(fuse_req_t req, struct fs *fs, size_t size)
{
	struct drfs_facts *f = malloc(sizeof(*f));
	struct drfs_buf b;
	int e = f ? mnt_facts_get(fs, f) : -ENOMEM;
	drfs_buf_init(&b, DRFS_FACTS_TEXT_MAX);
	if (e >= 0)
		e = drfs_facts_encode(f, &b);
	if (e < 0)
		reply_err(req, e == -E2BIG ? -EIO : e);
	else if (size == 0)
		fuse_reply_xattr(req, b.len);
	else if (size < b.len)
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, (const char *)b.p, b.len);
	drfs_buf_release(&b);
	free(f);
}

/* Write the textfile: PATH.tmp, then renamed over PATH. */
static int textfile_write(struct fs *fs, const char *path)
{
	struct drfs_facts *f = malloc(sizeof(*f));
	struct drfs_buf b, tmp;
	int e = f ? mnt_facts_get(fs, f) : -ENOMEM, fd = -1;
	drfs_buf_init(&b, 4 * DRFS_FACTS_TEXT_MAX);
	drfs_buf_init(&tmp, PATH_MAX);
	e = e < 0 ? e : drfs_facts_prometheus(f, &b);
	e = e < 0 ? e : drfs_buf_printf(&tmp, "%s.tmp%c", path, 0);
	if (e >= 0) {
		fd = open((char *)tmp.p,
			  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			  0644);
		e = fd < 0 ? -errno : drfs_pwrite_all(fd, b.p, b.len, 0);
	}
	if (fd >= 0)
		close(fd);
	if (e >= 0 && rename((char *)tmp.p, path) < 0)
		e = -errno;
	if (e < 0 && fd >= 0)
		unlink((char *)tmp.p);
	drfs_buf_release(&tmp);
	drfs_buf_release(&b);
	free(f);
	return e;
}

static void *facts_main(void *arg)
{
	struct fs *fs = arg;
	const char *path = fs->opts->metrics_textfile;
	double every = fs->opts->metrics_every > 0
			       ? (double)fs->opts->metrics_every
			       : 60.0;
	double next = 0;
	int last_err = 0;

	pthread_mutex_lock(&fs->facts_lock);
	while (!fs->facts_quit) {
		pthread_mutex_unlock(&fs->facts_lock);
		struct drfs_now_status st;
		if (fs->now && drfs_now_status(fs->now, &st) >= 0)
			sample(fs, &st);
		if (path && drfs_now_mono() >= next) {
			int e = textfile_write(fs, path);
			if (e < 0 && e != last_err)
				log_err("writing metrics to \"%s\": %s", path,
					drfs_strerror(e));
			last_err = e < 0 ? e : 0;
			next = drfs_now_mono() + every;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)SAMPLE_EVERY;
		pthread_mutex_lock(&fs->facts_lock);
		if (!fs->facts_quit)
			pthread_cond_timedwait(&fs->facts_cond,
					       &fs->facts_lock, &ts);
	}
	pthread_mutex_unlock(&fs->facts_lock);
	return NULL;
}

void mnt_facts_start(struct fs *fs, const struct drfs_mount_opts *o)
{
	fs->opts = o;
	fs->stats = calloc(1, sizeof(*fs->stats));
	fs->facts_started = pthread_create(&fs->facts_thread, NULL,
					   facts_main, fs) == 0;
}

void mnt_facts_stop(struct fs *fs)
{
	if (fs->facts_started) {
		pthread_mutex_lock(&fs->facts_lock);
		fs->facts_quit = true;
		pthread_cond_broadcast(&fs->facts_cond);
		pthread_mutex_unlock(&fs->facts_lock);
		pthread_join(fs->facts_thread, NULL);
		fs->facts_started = false;
	}
	free(fs->stats);
	fs->stats = NULL;
}
