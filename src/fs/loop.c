/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the FUSE loop of a mount: worker threads that wait for the next
 * request in poll(2) instead of read(2).
 *
 * libfuse's fuse_session_loop_mt has its idle workers block in read() on
 * /dev/fuse. The kernel then wakes exactly one of them per request, the one
 * that has waited longest, on whichever CPU it last ran: the requester
 * (rsync, say, which waits for the reply) sleeps until that CPU has woken
 * and scheduled it. Here the idle workers wait in poll(), which wakes all
 * of them; the first to run takes the request (usually one on the CPU the
 * requester just left) and the others find the queue empty (EAGAIN: the
 * descriptor is non-blocking) and go back to poll. That costs a few
 * wake-ups of idle threads per request and saves the wait for a remote
 * CPU, which dominates a chain of small synchronous requests: on the
 * 2-vCPU benchmark machine an rsync into now/ took 2-23 % less time,
 * depending on the run, for 10-26 % more daemon CPU over small files
 * (docs/benchmarks.md, "The FUSE loop, and this machine").
 *
 * At most pollers_max workers poll. When the last of them takes a
 * request, a parked worker polls instead, or a new one is started (up to
 * max), so that requests that block in the daemon (an fsync waiting for
 * an upload) never leave the mount without a reader. A worker done with
 * its request polls again unless pollers_max already do; then it parks
 * on a condition variable (its buffer freed) instead of ending, as
 * libfuse's surplus workers do: with them, libfuse started ~3000 threads
 * during one rsync of the 1.4 GB tree. The loop ends when the session
 * does: unmounted (ENODEV), or exited by libfuse's signal handlers, which
 * only set a flag; a polling worker looks at it at least every POLL_MS
 * and, leaving, wakes the parked ones.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>

#include "mountint.h"

#define POLL_MS 1000

struct loop {
	struct fuse_session *se;
	int fd;
	int max, pollers_max;
	pthread_mutex_t m;
	pthread_cond_t park; /* parked workers wait here */
	pthread_cond_t done; /* the last worker ended */
	int workers;         /* running */
	int pollers;         /* waiting for a request in poll() or read() */
	int parked;          /* waiting in park */
	int unpark;          /* parked ones asked to poll, not yet gone */
	int err;             /* the first error that ended the session */
	bool spawn_failed;
};

static void *worker_main(void *arg);

/* One more polling worker. l->m held. */
static int spawn_locked(struct loop *l)
{
	pthread_attr_t a;
	pthread_t t;
	int e = pthread_attr_init(&a);

	if (e == 0) {
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		e = pthread_create(&t, &a, worker_main, l);
		pthread_attr_destroy(&a);
	}
	if (e != 0)
		return -e;
	l->workers++;
	l->pollers++;
	return 0;
}

/*
 * A poller took a request. If none is left polling, a parked worker
 * polls instead, or a new one (up to max). l->m held.
 */
static void took_request_locked(struct loop *l)
{
	if (--l->pollers > 0)
		return;
	if (l->parked > l->unpark) {
		l->unpark++;
		l->pollers++; /* counted as polling from now */
		pthread_cond_signal(&l->park);
	} else if (l->workers < l->max && spawn_locked(l) < 0 &&
		   !l->spawn_failed) {
		l->spawn_failed = true;
		log_warn("cannot start another FUSE thread (%d running): "
			 "requests wait for one to finish", l->workers);
	}
}

/*
 * After a request: poll again unless pollers_max already do; else wait
 * parked (the buffer freed: it is allocated again when needed) until
 * took_request_locked needs this worker. Whether to go on polling: not
 * once the session has ended.
 */
static bool after_request(struct loop *l, struct fuse_buf *buf)
{
	pthread_mutex_lock(&l->m);
	if (l->pollers < l->pollers_max) {
		l->pollers++;
		pthread_mutex_unlock(&l->m);
		return true;
	}
	free(buf->mem);
	buf->mem = NULL;
	l->parked++;
	while (!l->unpark && !fuse_session_exited(l->se))
		pthread_cond_wait(&l->park, &l->m);
	bool go_on = l->unpark > 0;
	l->parked--;
	if (go_on)
		l->unpark--; /* took_request_locked counted it polling */
	else
		l->workers--; /* the session ended */
	if (!go_on && l->workers == 0)
		pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->m);
	return go_on;
}

/* A polling worker leaves: the session ended; parked ones leave too. */
static void worker_end(struct loop *l)
{
	pthread_mutex_lock(&l->m);
	l->pollers--;
	pthread_cond_broadcast(&l->park);
	if (--l->workers == 0)
		pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->m);
}

static void *worker_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-fuse");
	struct loop *l = arg;
	struct fuse_buf buf = { 0 };

	while (!fuse_session_exited(l->se)) {
		int r = fuse_session_receive_buf(l->se, &buf);
		if (r == -EAGAIN) {
			struct pollfd p = { .fd = l->fd, .events = POLLIN };
			poll(&p, 1, POLL_MS);
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r <= 0) {
			/* 0: unmounted; else an error, the session's end */
			pthread_mutex_lock(&l->m);
			if (r < 0 && !l->err)
				l->err = r;
			pthread_mutex_unlock(&l->m);
			fuse_session_exit(l->se);
			break;
		}
		pthread_mutex_lock(&l->m);
		took_request_locked(l);
		pthread_mutex_unlock(&l->m);
		fuse_session_process_buf(l->se, &buf);
		if (!after_request(l, &buf)) {
			free(buf.mem);
			return NULL;
		}
	}
	free(buf.mem);
	worker_end(l);
	return NULL;
}

int mnt_loop(struct fuse_session *se, int max, int pollers_max)
{
	struct loop l = { .se = se, .fd = fuse_session_fd(se), .max = max,
			  .pollers_max = pollers_max };
	int fl = fcntl(l.fd, F_GETFL);
	int e = 0;

	if (fl < 0 || fcntl(l.fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	pthread_mutex_init(&l.m, NULL);
	pthread_cond_init(&l.park, NULL);
	pthread_cond_init(&l.done, NULL);
	pthread_mutex_lock(&l.m);
	for (int i = 0; i < pollers_max && i < max && e == 0; i++)
		e = spawn_locked(&l);
	if (l.workers == 0) {
		pthread_mutex_unlock(&l.m);
		log_err("cannot start the FUSE threads: %s", drfs_strerror(e));
		e = e ? e : -EAGAIN;
		goto out;
	}
	while (l.workers > 0)
		pthread_cond_wait(&l.done, &l.m);
	e = l.err;
	pthread_mutex_unlock(&l.m);
out:
	pthread_cond_destroy(&l.done);
	pthread_cond_destroy(&l.park);
	pthread_mutex_destroy(&l.m);
	fcntl(l.fd, F_SETFL, fl);
	return e;
}
