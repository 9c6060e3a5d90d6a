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
#include <sched.h>

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

/*
 * FUSE over io_uring (Linux >= 6.14, CONFIG_FUSE_IO_URING, the fuse
 * module's enable_uring parameter set by the administrator, and
 * DRFS_FUSE_URING=1 in the mount's environment: on the 2-vCPU benchmark
 * machine copies into now/ and a no-change rsync -aHAX take 0.65-0.8x the
 * time they take over /dev/fuse, the latter thanks to ent_linger;
 * docs/mount.md).
 *
 * The kernel then queues each request on the queue of the CPU its caller
 * runs on and hands it to one of the entries registered on that queue: a
 * header buffer and a payload buffer of ours, with an io_uring command
 * that completes when a request is in them. The reply goes back in the
 * same buffers with the next command (COMMIT_AND_FETCH), which also waits
 * for the next request: one io_uring_enter per round trip instead of a
 * read and a writev, and no wake-up of other threads (libfuse 3.14 does
 * not speak this protocol; the kernel's is include/uapi/linux/fuse.h).
 *
 * How it fits libfuse 3.14: the session gets a custom I/O (plain read; a
 * writev that routes each reply by its unique: into the entry that holds
 * that request, or to /dev/fuse for the rest: INIT, notifications). The
 * INIT reply is patched to offer FUSE_OVER_IO_URING; once the kernel has
 * it, uring_starter registers u->per[q] entries on every CPU's queue q,
 * each with its own thread and ring, all at once (a request may block in
 * the daemon, an fsync waiting for an upload say, and the kernel hands a
 * waiting request only to an entry that commits, never to a new one, so
 * a queue cannot grow on demand). A request handed
 * over is rebuilt as /dev/fuse would have delivered it (in header, the
 * op's header, the payload, contiguous) and given to
 * fuse_session_process_buf. Forgets and interrupts still come through
 * /dev/fuse, so loop.c's pollers stay.
 *
 * If registering fails, the kernel goes back to /dev/fuse by itself; if a
 * thread cannot even be started, a deliberately malformed REGISTER
 * (uring_refuse) makes it do so, since the kernel holds every request
 * until each queue has an entry.
 */
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define FUSE_INIT_OP 26
#define FUSE_INIT_EXT_FLAG (1u << 30)
#define FUSE_OVER_IO_URING_FLAG2 (1u << 9) /* bit 41 of the 64 flags */
#define URING_CMD_REGISTER 1
#define URING_CMD_COMMIT_AND_FETCH 2
#define URING_HDR_SZ 128 /* in_out and op_in of the request header */
#define IN_HDR 40	 /* struct fuse_in_header */
#define OUT_HDR 16	 /* struct fuse_out_header */

struct in_hdr {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct out_hdr {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct ring_ent_io { /* struct fuse_uring_ent_in_out */
	uint64_t flags, commit_id;
	uint32_t payload_sz, padding;
	uint64_t reserved;
};

struct ring_hdr { /* struct fuse_uring_req_header */
	char in_out[URING_HDR_SZ];
	char op_in[URING_HDR_SZ];
	struct ring_ent_io ent;
};

struct ring_cmd { /* struct fuse_uring_cmd_req, in the SQE's cmd area */
	uint64_t flags, commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

struct uring;

/* A notification to the kernel, held back until the reply is committed */
struct note {
	struct note *next;
	size_t len;
	char data[];
};

/* One entry: its thread, ring and buffers. */
struct uent {
	struct uring *u;
	int qid;
	int rfd; /* its io_uring */
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes; /* 128 bytes each (SQE128) */
	struct io_uring_cqe *cqes;
	void *sq_map, *cq_map;
	size_t sq_len, cq_len, sqe_len;
	struct ring_hdr hdr;
	struct iovec iov[2];
	char *area; /* room for the rebuilt headers, then the payload */
	char *payload;
	uint64_t unique; /* the request being served, 0: none */
	bool replied;	 /* under u->m unless from the serving thread */
	struct note *notes, **notes_tail; /* for after the reply's commit */
	struct uent *next;
};

struct uring {
	struct fuse_session *se;
	int fd;		       /* -1 once retired: the lookup key */
	int devfd;	       /* a dup of /dev/fuse: commits, notifications */
	struct uent probe;     /* a ring of its own, to refuse with */
	struct note *notes, **notes_tail; /* for the notifier thread */
	pthread_cond_t ncond;  /* notes queued, or stop */
	pthread_mutex_t m;
	pthread_cond_t cond;   /* a reply from another thread; busy falls */
	struct uent *ents;     /* every entry, for replies from other threads */
	int nq;
	int *per;	       /* entries to register on each queue */
	int busy;	       /* entries inside fuse_session_process_buf */
	int live;	       /* threads not yet ended */
	bool stop;	       /* the loop ended: serve nothing more */
	bool started, offered;
	uint64_t init_unique;
	size_t payload_sz;
	long spin_us;	       /* ent_linger's time, µs (0: none) */
	struct uring *next_u;
};

static pthread_mutex_t urings_m = PTHREAD_MUTEX_INITIALIZER;
static struct uring *urings;
static __thread struct uent *tl_ent; /* the entry this thread serves */

static struct uring *uring_of_fd(int fd)
{
	pthread_mutex_lock(&urings_m);
	struct uring *u = urings;
	while (u && u->fd != fd)
		u = u->next_u;
	pthread_mutex_unlock(&urings_m);
	return u;
}

static int sys_setup(unsigned n, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, n, p);
}

static int sys_enter(int rfd, unsigned submit, unsigned wait, unsigned fl)
{
	return (int)syscall(__NR_io_uring_enter, rfd, submit, wait, fl, NULL,
			    0);
}

static void ent_unmap(struct uent *e)
{
	if (e->sqes && e->sqes != MAP_FAILED)
		munmap(e->sqes, e->sqe_len);
	if (e->cq_map && e->cq_map != MAP_FAILED && e->cq_map != e->sq_map)
		munmap(e->cq_map, e->cq_len);
	if (e->sq_map && e->sq_map != MAP_FAILED)
		munmap(e->sq_map, e->sq_len);
	if (e->rfd >= 0)
		close(e->rfd);
	e->rfd = -1;
	e->sqes = NULL;
	e->sq_map = e->cq_map = NULL;
}

/* A ring of 128-byte SQEs for e, mapped. */
static int ent_ring(struct uent *e, bool shared)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 |
					      IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN };
	if (shared) /* submitted to by whichever thread refuses */
		p.flags = IORING_SETUP_SQE128;
	e->rfd = sys_setup(2, &p);
	if (e->rfd < 0) {
		p = (struct io_uring_params){ .flags = IORING_SETUP_SQE128 };
		e->rfd = sys_setup(2, &p);
	}
	if (e->rfd < 0)
		return -errno;
	e->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	e->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if ((p.features & IORING_FEAT_SINGLE_MMAP) && e->cq_len > e->sq_len)
		e->sq_len = e->cq_len;
	e->sq_map = mmap(NULL, e->sq_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, e->rfd, IORING_OFF_SQ_RING);
	if (e->sq_map == MAP_FAILED)
		goto fail;
	e->cq_map = e->sq_map;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		e->cq_map = mmap(NULL, e->cq_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, e->rfd,
				 IORING_OFF_CQ_RING);
		if (e->cq_map == MAP_FAILED)
			goto fail;
	}
	e->sqe_len = p.sq_entries * 2 * sizeof(struct io_uring_sqe);
	e->sqes = mmap(NULL, e->sqe_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, e->rfd, IORING_OFF_SQES);
	if (e->sqes == MAP_FAILED)
		goto fail;
	char *sq = e->sq_map, *cq = e->cq_map;
	e->sq_head = (unsigned *)(sq + p.sq_off.head);
	e->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	e->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	e->sq_array = (unsigned *)(sq + p.sq_off.array);
	e->cq_head = (unsigned *)(cq + p.cq_off.head);
	e->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	e->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	e->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
fail:;
	int err = -errno;
	ent_unmap(e);
	return err;
}

/* Queue one fuse command on e's ring (not yet submitted). */
static void ent_queue(struct uent *e, int op, uint64_t commit_id,
		      unsigned iovs)
{
	unsigned tail = *e->sq_tail, i = tail & *e->sq_mask;
	/* SQE128: entry i takes two 64-byte slots */
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)((char *)e->sqes +
							   i * 128);
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = e->u->devfd;
	sqe->cmd_op = op;
	sqe->addr = (uint64_t)(uintptr_t)e->iov;
	sqe->len = iovs;
	struct ring_cmd c = { .commit_id = commit_id, .qid = e->qid };
	memcpy(sqe->cmd, &c, sizeof(c));
	e->sq_array[i] = i;
	__atomic_store_n(e->sq_tail, tail + 1, __ATOMIC_RELEASE);
}

/* SQEs queued and not yet taken by the kernel */
static unsigned ent_pending(const struct uent *e)
{
	return *e->sq_tail - __atomic_load_n(e->sq_head, __ATOMIC_ACQUIRE);
}

/* a completion waits in e's ring */
static bool ent_has_cqe(const struct uent *e)
{
	return *e->cq_head != __atomic_load_n(e->cq_tail, __ATOMIC_ACQUIRE);
}

/* Submit what is queued and wait for one completion: its result. */
static int ent_wait(struct uent *e)
{
	for (;;) {
		unsigned head = *e->cq_head;
		if (ent_has_cqe(e)) {
			int res = e->cqes[head & *e->cq_mask].res;
			__atomic_store_n(e->cq_head, head + 1,
					 __ATOMIC_RELEASE);
			return res;
		}
		if (sys_enter(e->rfd, ent_pending(e), 1,
			      IORING_ENTER_GETEVENTS) < 0 &&
		    errno != EINTR && errno != EAGAIN && errno != EBUSY)
			return -errno;
	}
}

/*
 * After a reply: submit it, and look for the next request for up to
 * u->spin_us, giving the CPU to whoever wants it between looks, before
 * sleeping in ent_wait.
 *
 * Why: the reply wakes its caller while this thread still runs on the
 * caller's CPU. Were this thread to sleep at once, the scheduler would see
 * that CPU busy and, the other idle, move the caller there (it prefers a
 * recently used idle CPU); the caller's next request then lands on that
 * CPU's queue, whose pinned thread replies, and the caller moves back:
 * a migration and a wake-up of an idle CPU per request, self-sustaining
 * (a no-change rsync -aHAX of 100 000 files: 236 000 migrations of rsync
 * for 401 000 requests, 1.2-1.6x the time over /dev/fuse). Yielding
 * instead lets the caller run here at once; its next request usually
 * comes to this very entry while it still looks (so the traces show),
 * and nobody sleeps or crosses CPUs (40 000 migrations; 0.7-0.8x
 * /dev/fuse's time; docs/benchmarks.md, "FUSE over io_uring: the caller
 * that changed CPU at every request").
 * The cost: up to spin_us of CPU after a request that no other follows.
 */
static void ent_linger(struct uent *e)
{
	if (e->u->spin_us <= 0)
		return;
	if (ent_pending(e) &&
	    sys_enter(e->rfd, ent_pending(e), 0, 0) < 0 && errno != EINTR)
		return; /* ent_wait submits it, or says why not */
	double end = drfs_now_mono() + (double)e->u->spin_us / 1e6;
	for (;;) {
		/* runs the ring's deferred work: a request's completion */
		sys_enter(e->rfd, 0, 0, IORING_ENTER_GETEVENTS);
		if (ent_has_cqe(e) || drfs_now_mono() >= end)
			return;
		sched_yield();
	}
}

/*
 * The kernel holds every request until each CPU's queue has an entry:
 * when that cannot happen, a REGISTER it must refuse (one buffer, not
 * two) makes it serve through /dev/fuse again.
 */
static void uring_refuse(struct uring *u)
{
	struct uent *e = &u->probe;

	pthread_mutex_lock(&u->m);
	if (e->rfd >= 0) {
		e->iov[0] = (struct iovec){ &e->hdr, sizeof(e->hdr) };
		ent_queue(e, URING_CMD_REGISTER, 0, 1);
		ent_wait(e);
	}
	pthread_mutex_unlock(&u->m);
}

static void *uent_main(void *arg);

/* One more entry with its thread on queue qid. u->m held. */
static int spawn_ent_locked(struct uring *u, int qid)
{
	struct uent *e = calloc(1, sizeof(*e));
	pthread_attr_t a;
	pthread_t t;
	int err;

	if (!e)
		return -ENOMEM;
	e->u = u;
	e->qid = qid;
	e->rfd = -1;
	e->notes_tail = &e->notes;
	err = pthread_attr_init(&a);
	if (err == 0) {
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&t, &a, uent_main, e);
		pthread_attr_destroy(&a);
	}
	if (err) {
		free(e);
		return -err;
	}
	e->next = u->ents;
	u->ents = e;
	u->live++;
	return 0;
}

/* What u's threads share: the probe ring, the /dev/fuse dup. u->m held. */
static void uring_close_shared_locked(struct uring *u)
{
	ent_unmap(&u->probe);
	if (u->devfd >= 0)
		close(u->devfd);
	u->devfd = -1;
}

/* A thread of u has ended. u->m held. The last one after the stop
 * closes what they shared. */
static void uring_left_locked(struct uring *u)
{
	if (--u->live == 0 && u->stop)
		uring_close_shared_locked(u);
}

/* An entry's thread leaves. u->m held. */
static void ent_leave_locked(struct uring *u, struct uent *e)
{
	struct uent **pp = &u->ents;
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	uring_left_locked(u);
}

/*
 * The loop has ended and no entry serves any more: the fd may be another
 * session's from now on. u itself stays on the list (a notification
 * from another thread may still be looking it up), reachable, never freed.
 */
static void uring_retire(struct uring *u)
{
	pthread_mutex_lock(&urings_m);
	__atomic_store_n(&u->fd, -1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&urings_m);
}

static void ent_drop_notes(struct uent *e)
{
	while (e->notes) {
		struct note *n = e->notes;
		e->notes = n->next;
		free(n);
	}
	e->notes_tail = &e->notes;
}

/*
 * Submit the queued commit (the kernel takes the reply as it is
 * submitted), then pass the notifications its handler made after
 * replying to the notifier thread: they reach the kernel after the
 * reply, as over /dev/fuse. Not from this thread: an invalidation waits
 * for the directory's lock, and whoever took that lock once the reply
 * came (a lookup in the same directory, from this CPU) may be the next
 * request of this very entry.
 */
static void ent_pass_notes(struct uent *e)
{
	struct uring *u = e->u;
	for (int i = 0; i < 1000 && ent_pending(e); i++)
		if (sys_enter(e->rfd, ent_pending(e), 0, 0) < 0 &&
		    errno != EINTR)
			usleep(1000); /* EAGAIN, EBUSY: completions first */
	pthread_mutex_lock(&u->m);
	*u->notes_tail = e->notes;
	u->notes_tail = e->notes_tail;
	e->notes = NULL;
	e->notes_tail = &e->notes;
	pthread_cond_signal(&u->ncond);
	pthread_mutex_unlock(&u->m);
}

/* The notifier thread: held notifications, in order, to /dev/fuse. */
static void *uring_notifier(void *arg)
{
	struct uring *u = arg;

	pthread_setname_np(pthread_self(), "drfs-fuse-note");
	pthread_mutex_lock(&u->m);
	for (;;) {
		while (!u->notes && !u->stop)
			pthread_cond_wait(&u->ncond, &u->m);
		struct note *list = u->notes;
		if (!list)
			break; /* stopped, nothing left */
		u->notes = NULL;
		u->notes_tail = &u->notes;
		pthread_mutex_unlock(&u->m);
		while (list) {
			struct note *n = list;
			list = n->next;
			if (write(u->devfd, n->data, n->len) < 0 &&
			    errno != ENOENT)
				log_debug("FUSE over io_uring: a notification: "
					  "%s", drfs_strerror(-errno));
			free(n);
		}
		pthread_mutex_lock(&u->m);
	}
	uring_left_locked(u);
	pthread_mutex_unlock(&u->m);
	return NULL;
}

/*
 * A notification from the thread of e after its reply: with /dev/fuse it
 * would reach the kernel after the reply, and a handler counts on that
 * (an invalidation of the directory whose lock the kernel holds until
 * the reply: rmdir of a snapshot folder). Here the reply is committed
 * only after the handler returns, so the notification waits for it.
 */
static ssize_t ent_hold_note(struct uent *e, const struct iovec *iov, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	struct note *nt = malloc(sizeof(*nt) + total);
	if (!nt)
		return -1; /* errno ENOMEM */
	nt->next = NULL;
	nt->len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(nt->data + nt->len, iov[i].iov_base, iov[i].iov_len);
		nt->len += iov[i].iov_len;
	}
	*e->notes_tail = nt;
	e->notes_tail = &nt->next;
	return (ssize_t)total;
}

/*
 * The request in e's buffers, rebuilt as /dev/fuse delivers it: the op's
 * own header (the size the in header's len leaves after the payload)
 * and the in header go just before the payload. NULL if the kernel's
 * figures do not add up.
 */
static char *ent_request(struct uent *e, const struct in_hdr *h)
{
	size_t pay = e->hdr.ent.payload_sz;
	if (h->len < IN_HDR + pay || pay > e->u->payload_sz)
		return NULL;
	size_t op = h->len - IN_HDR - pay;
	if (op > URING_HDR_SZ)
		return NULL;
	char *start = e->payload - op - IN_HDR;
	memcpy(start + IN_HDR, e->hdr.op_in, op);
	memcpy(start, h, IN_HDR);
	return start;
}

/* An error for the request in e, without its handler. */
static void ent_answer_err(struct uent *e, uint64_t unique, int negerr)
{
	struct out_hdr o = { OUT_HDR, negerr, unique };
	memcpy(e->hdr.in_out, &o, sizeof(o));
	e->hdr.ent.payload_sz = 0;
}

static void *uent_main(void *arg)
{
	struct uent *e = arg;
	struct uring *u = e->u;
	bool served = false; /* a request came: the ring was ready */
	int r, retries = 0;

	pthread_setname_np(pthread_self(), "drfs-fuse-ring");
	tl_ent = e;
	/*
	 * On its queue's CPU, where the callers of its requests run: a
	 * caller waiting for the reply leaves the CPU to the thread that
	 * serves it (the relay copied 10 000 small files in 0.75x the time
	 * pinned, 1.1x unpinned, against /dev/fuse). Where this process may
	 * not run there (taskset), it runs where it may.
	 */
	cpu_set_t cs;
	CPU_ZERO(&cs);
	CPU_SET(e->qid, &cs);
	pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs);
	r = ent_ring(e, false);
	if (r == 0) {
		/* page-aligned payload; the headers are rebuilt before it */
		size_t lead = 4096;
		if (posix_memalign((void **)&e->area, 4096,
				   lead + u->payload_sz))
			r = -ENOMEM;
		else
			e->payload = e->area + lead;
	}
	/* a test hook: the rings cannot be made once offered (mount_uring) */
	if (r == 0 && getenv("DRFS_TEST_URING_FAIL"))
		r = -EMFILE;
	if (r < 0) {
		log_warn("FUSE over io_uring: queue %d: %s; serving through "
			 "/dev/fuse", e->qid, drfs_strerror(r));
		uring_refuse(u);
		goto failed;
	}
	e->iov[0] = (struct iovec){ &e->hdr, sizeof(e->hdr) };
	e->iov[1] = (struct iovec){ e->payload, u->payload_sz };
	ent_queue(e, URING_CMD_REGISTER, 0, 2);
	for (;;) {
		if (served)
			ent_linger(e);
		r = ent_wait(e);
		if (r == -EAGAIN) { /* INIT not yet processed: register again */
			usleep(1000);
			ent_queue(e, URING_CMD_REGISTER, 0, 2);
			continue;
		}
		if (r == -ENOTCONN || r == -ECANCELED || r == -ENODEV ||
		    r == -ECONNABORTED)
			break; /* the connection ended */
		if (r < 0 && !served) { /* never registered: go back */
			log_warn("FUSE over io_uring: queue %d: %s; serving "
				 "through /dev/fuse", e->qid, drfs_strerror(r));
			uring_refuse(u);
			break;
		}
		if (r < 0) {
			/*
			 * Its entry is lost to the kernel; a queue left
			 * without one would hold its CPU's requests for good:
			 * register the buffers again, as a new entry.
			 */
			log_warn("FUSE over io_uring: queue %d: %s", e->qid,
				 drfs_strerror(r));
			if (++retries > 100)
				break;
			usleep(10000);
			ent_queue(e, URING_CMD_REGISTER, 0, 2);
			continue;
		}
		struct in_hdr h;
		memcpy(&h, e->hdr.in_out, sizeof(h));
		char *req = ent_request(e, &h);
		pthread_mutex_lock(&u->m);
		if (u->stop) {
			/*
			 * The loop ended: ENOTCONN, as the connection's abort
			 * at unmount would answer (our rings keep /dev/fuse
			 * open, so closing it no longer aborts; a lazy unmount
			 * of a busy mount would leave its users waiting).
			 */
			pthread_mutex_unlock(&u->m);
			ent_answer_err(e, h.unique, -ENOTCONN);
			ent_queue(e, URING_CMD_COMMIT_AND_FETCH, h.unique, 2);
			continue;
		}
		u->busy++;
		served = true;
		e->unique = h.unique;
		e->replied = false;
		pthread_mutex_unlock(&u->m);
		if (req) {
			struct fuse_buf b = { .mem = req, .size = h.len };
			fuse_session_process_buf(u->se, &b);
		} else {
			log_warn("FUSE over io_uring: a malformed request "
				 "(opcode %u)", h.opcode);
			ent_answer_err(e, h.unique, -EIO);
			e->replied = true;
		}
		pthread_mutex_lock(&u->m);
		u->busy--;
		if (u->stop)
			pthread_cond_broadcast(&u->cond);
		/* replied by another thread later: wait, but not past the end */
		while (!e->replied && !u->stop)
			pthread_cond_wait(&u->cond, &u->m);
		bool replied = e->replied;
		e->unique = 0;
		pthread_mutex_unlock(&u->m);
		if (!replied) /* the loop ended first */
			ent_answer_err(e, h.unique, -ENOTCONN);
		ent_queue(e, URING_CMD_COMMIT_AND_FETCH, h.unique, 2);
		if (e->notes) /* the reply reaches the kernel, then these */
			ent_pass_notes(e);
	}
failed:
	ent_drop_notes(e);
	ent_unmap(e);
	free(e->area);
	pthread_mutex_lock(&u->m);
	ent_leave_locked(u, e);
	pthread_mutex_unlock(&u->m);
	free(e);
	return NULL;
}

/*
 * A reply's bytes into e's buffers. They overwrite the request's payload:
 * a handler must not read its request (a name, a write's data) after
 * replying, which none does.
 */
static ssize_t ent_reply(struct uent *e, const struct iovec *iov, int n)
{
	size_t total = 0, off = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total < OUT_HDR || iov[0].iov_len < OUT_HDR) {
		errno = EINVAL;
		return -1;
	}
	struct out_hdr o;
	memcpy(&o, iov[0].iov_base, OUT_HDR);
	if (total - OUT_HDR > e->u->payload_sz) {
		o.error = -EIO;
		total = OUT_HDR;
	}
	o.len = total;
	memcpy(e->hdr.in_out, &o, OUT_HDR);
	for (int i = 0; i < n && off < total - OUT_HDR; i++) {
		const char *p = iov[i].iov_base;
		size_t l = iov[i].iov_len;
		if (i == 0) {
			p += OUT_HDR;
			l -= OUT_HDR;
		}
		memcpy(e->payload + off, p, l);
		off += l;
	}
	e->hdr.ent.payload_sz = total - OUT_HDR;
	return (ssize_t)total;
}

static void *uring_starter(void *arg);

/*
 * The INIT reply: offer FUSE_OVER_IO_URING when the kernel asked with
 * FUSE_INIT_EXT, and size the payload buffers from what it will send.
 */
static void patch_init(struct uring *u, struct iovec *iov, int n)
{
	if (n != 2 || iov[1].iov_len < 36)
		return;
	char *o = iov[1].iov_base;
	uint32_t flags, max_write, flags2;
	uint16_t max_pages;
	memcpy(&flags, o + 12, 4);
	memcpy(&max_write, o + 20, 4);
	memcpy(&max_pages, o + 28, 2);
	memcpy(&flags2, o + 32, 4);
	if (!(flags & FUSE_INIT_EXT_FLAG))
		return;
	flags2 |= FUSE_OVER_IO_URING_FLAG2;
	memcpy(o + 32, &flags2, 4);
	/* as the kernel sizes it: max_pages only with FUSE_MAX_PAGES */
	size_t page = (size_t)getpagesize();
	size_t pages = (flags & (1u << 22)) ? max_pages : 32;
	size_t pay = max_write > 8192 ? max_write : 8192;
	if (pages * page > pay)
		pay = pages * page;
	u->payload_sz = pay;
	u->offered = true;
}

static ssize_t uring_writev(int fd, struct iovec *iov, int n, void *ud)
{
	(void)ud;
	struct uent *e = tl_ent;
	/* a ring thread's own session needs no lookup */
	struct uring *u = e && __atomic_load_n(&e->u->fd, __ATOMIC_RELAXED) == fd
				  ? e->u : uring_of_fd(fd);
	struct out_hdr o;

	if (!u || n < 1 || iov[0].iov_len < OUT_HDR)
		return writev(fd, iov, n);
	memcpy(&o, iov[0].iov_base, OUT_HDR);
	if (e && e->u == u && !o.unique && e->unique && e->replied)
		return ent_hold_note(e, iov, n);
	if (e && e->u == u && e->unique == o.unique && o.unique) {
		ssize_t r = ent_reply(e, iov, n);
		e->replied = true; /* read by this thread only */
		return r;
	}
	if (o.unique) {
		pthread_mutex_lock(&u->m);
		for (e = u->ents; e && e->unique != o.unique; e = e->next)
			;
		if (e && !e->replied) {
			ssize_t r = ent_reply(e, iov, n);
			e->replied = true;
			pthread_cond_broadcast(&u->cond);
			pthread_mutex_unlock(&u->m);
			return r;
		}
		pthread_mutex_unlock(&u->m);
	}
	bool init = o.unique && o.unique == u->init_unique && !o.error &&
		    !u->started;
	if (init)
		patch_init(u, iov, n);
	ssize_t r = writev(fd, iov, n);
	if (init && r >= 0 && u->offered) {
		/* the kernel took the offer: the queues may register now */
		pthread_t t;
		u->started = true;
		if (pthread_create(&t, NULL, uring_starter, u) == 0)
			pthread_detach(t);
		else
			uring_refuse(u);
	}
	return r;
}

static ssize_t uring_read(int fd, void *buf, size_t len, void *ud)
{
	(void)ud;
	ssize_t r = read(fd, buf, len);
	if (r >= (ssize_t)IN_HDR) {
		struct in_hdr h;
		memcpy(&h, buf, IN_HDR);
		if (h.opcode == FUSE_INIT_OP) {
			struct uring *u = uring_of_fd(fd);
			if (u)
				u->init_unique = h.unique;
		}
	}
	return r;
}

static void *uring_notifier(void *arg);

/*
 * Every entry at once: the kernel hands a request waiting on a queue
 * only to an entry that commits, never to one that registers later, so
 * a queue cannot grow when its threads are all busy.
 */
static void *uring_starter(void *arg)
{
	struct uring *u = arg;
	pthread_t t;
	int r = 0, n = 0;

	pthread_mutex_lock(&u->m);
	r = -pthread_create(&t, NULL, uring_notifier, u);
	if (r == 0) {
		pthread_detach(t);
		u->live++;
	}
	for (int q = 0; q < u->nq && r == 0 && !u->stop; q++)
		for (int i = 0; i < u->per[q] && r == 0; i++, n++)
			r = spawn_ent_locked(u, q);
	pthread_mutex_unlock(&u->m);
	if (r < 0) {
		log_warn("FUSE over io_uring: cannot start its threads: %s; "
			 "serving through /dev/fuse", drfs_strerror(r));
		uring_refuse(u);
	} else {
		log_info("FUSE over io_uring: %d queues, %d threads", u->nq,
			 n);
	}
	return NULL;
}

/*
 * A CPU list of /sys/devices/system/cpu ("0-3,8-11"): into in[] (up to
 * max CPUs) when in is not NULL; how many CPUs it names.
 */
static int cpu_list(const char *path, bool *in, int max)
{
	FILE *f = fopen(path, "re");
	char s[512];
	int n = 0;

	if (!f)
		return -1;
	if (!fgets(s, sizeof(s), f))
		s[0] = 0;
	fclose(f);
	for (char *p = s; *p && *p != '\n';) {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;
		if (end == p || lo < 0)
			return -1;
		if (*end == '-') {
			p = end + 1;
			hi = strtol(p, &end, 10);
			if (end == p || hi < lo)
				return -1;
		}
		for (long c = lo; c <= hi && c < 4096; c++) {
			if (in && c < max)
				in[c] = true;
			n++;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Whether the administrator enabled it (/sys/module/fuse/parameters). */
static bool uring_enabled(void)
{
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");
	int c = f ? fgetc(f) : 0;
	if (f)
		fclose(f);
	return c == 'Y' || c == '1';
}

/*
 * ent_linger's time: DRFS_FUSE_URING_SPIN=MICROSECONDS (0 to 1000; 0
 * sleeps at once), 50 unless set. 20-100 gave the same times here.
 */
static long uring_spin_setting(void)
{
	const char *v = getenv("DRFS_FUSE_URING_SPIN");
	char *end;

	if (!v)
		return 50;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 0 || n > 1000) {
		log_warn("DRFS_FUSE_URING_SPIN=\"%s\": not a number of "
			 "microseconds from 0 to 1000; using 50", v);
		return 50;
	}
	return n;
}

/*
 * Before the session's first request: the custom I/O that offers FUSE
 * over io_uring at INIT. NULL (and /dev/fuse as before) unless asked for,
 * or when the kernel or the machine cannot.
 */
static struct uring *uring_setup(struct fuse_session *se, int fd, int max)
{
	const char *v = getenv("DRFS_FUSE_URING");
	if (!v || strcmp(v, "1"))
		return NULL;
	if (!uring_enabled()) {
		log_warn("DRFS_FUSE_URING=1, but the kernel does not allow "
			 "FUSE over io_uring (/sys/module/fuse/parameters/"
			 "enable_uring): serving through /dev/fuse");
		return NULL;
	}
	/*
	 * The kernel makes a queue per possible CPU, numbered 0..n-1, and
	 * every one needs an entry; the online ones get max / online
	 * threads each (2 at least), the others 1.
	 */
	int nq = cpu_list("/sys/devices/system/cpu/possible", NULL, 0);
	if (nq <= 0)
		return NULL;
	bool *on = calloc(nq, sizeof(bool));
	struct uring *u = calloc(1, sizeof(*u));
	if (!u || !on)
		goto fail;
	int online = cpu_list("/sys/devices/system/cpu/online", on, nq);
	int each = online > 0 && max / online > 2 ? max / online : 2;
	u->se = se;
	u->fd = fd;
	u->devfd = -1;
	u->probe.rfd = -1;
	u->probe.u = u;
	u->nq = nq;
	u->notes_tail = &u->notes;
	u->spin_us = uring_spin_setting();
	u->per = calloc(nq, sizeof(int));
	if (!u->per)
		goto fail;
	for (int q = 0; q < nq; q++)
		u->per[q] = online > 0 && !on[q] ? 1 : each;
	/*
	 * Its own descriptor of /dev/fuse for commits and notifications: a
	 * thread late at the end must not reach a number reused meanwhile.
	 * And a ring made now (can this process make them at all?), kept to
	 * refuse with when the others cannot be made.
	 */
	u->devfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (u->devfd < 0 || ent_ring(&u->probe, true) < 0)
		goto fail;
	pthread_mutex_init(&u->m, NULL);
	pthread_cond_init(&u->cond, NULL);
	pthread_cond_init(&u->ncond, NULL);
	static const struct fuse_custom_io io = { .read = uring_read,
						  .writev = uring_writev };
	if (fuse_session_custom_io(se, &io, fd) < 0) {
		pthread_cond_destroy(&u->ncond);
		pthread_cond_destroy(&u->cond);
		pthread_mutex_destroy(&u->m);
		goto fail;
	}
	free(on);
	pthread_mutex_lock(&urings_m);
	u->next_u = urings;
	urings = u;
	pthread_mutex_unlock(&urings_m);
	return u;
fail:
	if (u) {
		ent_unmap(&u->probe);
		if (u->devfd >= 0)
			close(u->devfd);
		free(u->per);
		free(u);
	}
	free(on);
	return NULL;
}

/*
 * The loop ended: entries serve nothing more, and the ones inside a
 * request finish it first. Their threads end when the kernel ends their
 * commands (at unmount).
 */
static void uring_stop(struct uring *u)
{
	pthread_mutex_lock(&u->m);
	u->stop = true;
	pthread_cond_broadcast(&u->cond);
	pthread_cond_broadcast(&u->ncond);
	while (u->busy > 0)
		pthread_cond_wait(&u->cond, &u->m);
	if (u->live == 0) /* the rings were never started */
		uring_close_shared_locked(u);
	pthread_mutex_unlock(&u->m);
	uring_retire(u);
}

int mnt_loop(struct fuse_session *se, int max, int pollers_max)
{
	struct loop l = { .se = se, .fd = fuse_session_fd(se), .max = max,
			  .pollers_max = pollers_max };
	int fl = fcntl(l.fd, F_GETFL);
	int e = 0;

	if (fl < 0 || fcntl(l.fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	struct uring *u = uring_setup(se, l.fd, max);
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
	if (u)
		uring_stop(u);
	pthread_cond_destroy(&l.done);
	pthread_cond_destroy(&l.park);
	pthread_mutex_destroy(&l.m);
	fcntl(l.fd, F_SETFL, fl);
	return e;
}
