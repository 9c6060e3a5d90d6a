/* SPDX-License-Identifier: MIT */
/*
 * facts.c - monitoring in the mount (docs/monitoring.md): the facts of
 * its repository (facts.h) with its upload backlog, memory and scheduled
 * checks, served as user.drfs.facts and written as a node_exporter
 * textfile by a thread that also samples the backlog every few seconds;
 * and --metrics-listen: GET /metrics over HTTP/1.0 from one more thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

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

/* ---- --metrics-listen: GET /metrics ------------------------------------ */

#define HTTP_CLIENTS 16     /* connections served at once; more: closed */
#define HTTP_DEADLINE 5.0   /* seconds a connection may take to ask */
#define HTTP_SEND_TIMEOUT 5 /* seconds an answer may take to go out */

int drfs_fs_listen_addr(const char *s, struct sockaddr_storage *ret,
			unsigned *ret_len)
{
	char host[64] = "127.0.0.1";
	const char *port = s, *c;
	char *end;

	memset(ret, 0, sizeof(*ret));
	if (s[0] == '[') {
		c = strstr(s, "]:");
		if (!c || (size_t)(c - s - 1) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(c - s - 1), s + 1);
		port = c + 2;
	} else if ((c = strrchr(s, ':'))) {
		if ((size_t)(c - s) >= sizeof(host) || c == s)
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(c - s), s);
		port = c + 1;
	}
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p == 0 || p > 65535 || *port == '-' ||
	    *port == '+')
		return -EINVAL;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ret;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		*ret_len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)p);
		*ret_len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

int mnt_http_bind(struct fs *fs, const char *listen_at)
{
	struct sockaddr_storage sa;
	unsigned sl;
	int one = 1;
	fs->http_fd = -1;
	if (!listen_at)
		return 0;
	if (drfs_fs_listen_addr(listen_at, &sa, &sl) < 0) {
		log_err("invalid --metrics-listen \"%s\" (want PORT, "
			"ADDR:PORT or [ADDR6]:PORT)", listen_at);
		return -EINVAL;
	}
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sl) < 0 || listen(fd, 16) < 0) {
		int e = -errno;
		log_err("--metrics-listen \"%s\": %s", listen_at,
			drfs_strerror(e));
		if (fd >= 0)
			close(fd);
		return e;
	}
	fs->http_fd = fd;
	return 0;
}

struct http_client {
	int fd;             /* -1: free */
	double deadline;    /* drfs_now_mono() when it is dropped */
	size_t len;
	char buf[DRFS_HTTP_REQUEST_MAX];
};

/* Answer the request of c (blocking, bounded by HTTP_SEND_TIMEOUT). */
static void http_answer(struct fs *fs, struct http_client *c, int parsed,
			const char *path)
{
	struct drfs_facts *f = NULL;
	struct drfs_buf body;
	const char *status = "200 OK";
	char head[256];
	int e = 0;

	drfs_buf_init(&body, 4 * DRFS_FACTS_TEXT_MAX);
	if (parsed == -EOPNOTSUPP) {
		status = "405 Method Not Allowed";
	} else if (parsed < 0) {
		status = "400 Bad Request";
	} else if (strcmp(path, "/metrics") != 0) {
		status = "404 Not Found";
	} else {
		f = malloc(sizeof(*f));
		e = f ? mnt_facts_get(fs, f) : -ENOMEM;
		e = e < 0 ? e : drfs_facts_prometheus(f, &body);
		if (e < 0) {
			status = "500 Internal Server Error";
			drfs_buf_reset(&body);
		}
	}
	if (strncmp(status, "200", 3) != 0 &&
	    drfs_buf_printf(&body, "%s\n", status) < 0)
		drfs_buf_reset(&body);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.0 %s\r\nContent-Type: text/plain; "
			 "version=0.0.4; charset=utf-8\r\nContent-Length: "
			 "%zu\r\nConnection: close\r\n\r\n",
			 status, body.len);
	struct timeval tv = { .tv_sec = HTTP_SEND_TIMEOUT };
	int fl = fcntl(c->fd, F_GETFL);
	if (fl >= 0)
		fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (drfs_write_all(c->fd, head, (size_t)n) >= 0 && body.len)
		(void)drfs_write_all(c->fd, body.p, body.len);
	drfs_buf_release(&body);
	free(f);
}

static void http_drop(struct http_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static void *http_main(void *arg)
{
	struct fs *fs = arg;
	struct http_client *cl = calloc(HTTP_CLIENTS, sizeof(*cl));
	struct pollfd pf[HTTP_CLIENTS + 1];
	if (!cl)
		return NULL;
	for (size_t i = 0; i < HTTP_CLIENTS; i++)
		cl[i].fd = -1;
	while (!atomic_load(&fs->http_quit)) {
		size_t n = 0;
		size_t who[HTTP_CLIENTS];
		pf[n++] = (struct pollfd){ .fd = fs->http_fd, .events = POLLIN };
		for (size_t i = 0; i < HTTP_CLIENTS; i++) {
			if (cl[i].fd < 0)
				continue;
			who[n - 1] = i;
			pf[n++] = (struct pollfd){ .fd = cl[i].fd,
						   .events = POLLIN };
		}
		/* a short timeout: unmount and deadlines are noticed */
		if (poll(pf, n, 250) < 0 && errno != EINTR)
			break;
		double now = drfs_now_mono();
		for (size_t k = 1; k < n; k++) {
			struct http_client *c = &cl[who[k - 1]];
			if (pf[k].revents) {
				ssize_t got = read(c->fd, c->buf + c->len,
						   sizeof(c->buf) - c->len);
				if (got <= 0 && !(got < 0 && (errno == EAGAIN ||
							      errno == EINTR))) {
					http_drop(c);
					continue;
				}
				if (got > 0)
					c->len += (size_t)got;
				char path[DRFS_HTTP_PATH_MAX];
				int r = drfs_http_request_parse(
					c->buf, c->len, path, sizeof(path));
				if (r != 0) {
					http_answer(fs, c, r, path);
					http_drop(c);
					continue;
				}
			}
			if (now >= c->deadline) /* slow or silent: dropped */
				http_drop(c);
		}
		if (pf[0].revents & POLLIN) {
			int fd = accept4(fs->http_fd, NULL, NULL,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);
			struct http_client *c = NULL;
			for (size_t i = 0; fd >= 0 && i < HTTP_CLIENTS && !c;
			     i++)
				if (cl[i].fd < 0)
					c = &cl[i];
			if (fd >= 0 && !c) {
				close(fd); /* all busy: the client retries */
			} else if (c) {
				c->fd = fd;
				c->len = 0;
				c->deadline = now + HTTP_DEADLINE;
			}
		}
	}
	for (size_t i = 0; i < HTTP_CLIENTS; i++)
		http_drop(&cl[i]);
	free(cl);
	return NULL;
}

void mnt_facts_start(struct fs *fs, const struct drfs_mount_opts *o)
{
	fs->opts = o;
	fs->stats = calloc(1, sizeof(*fs->stats));
	fs->facts_started = drfs_log_thread_create(&fs->facts_thread,
						   facts_main, fs) == 0;
	if (fs->http_fd >= 0)
		fs->http_started = drfs_log_thread_create(&fs->http_thread,
							  http_main, fs) == 0;
}

void mnt_facts_stop(struct fs *fs)
{
	if (fs->http_started) {
		atomic_store(&fs->http_quit, true);
		pthread_join(fs->http_thread, NULL);
		fs->http_started = false;
	}
	if (fs->http_fd >= 0)
		close(fs->http_fd);
	fs->http_fd = -1;
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
