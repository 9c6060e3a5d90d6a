/* SPDX-License-Identifier: MIT */
/*
 * lock.c - shared/exclusive/prune repository locks as sealed objects in
 * locks/, refreshed by a background thread (include/drfs/lock.h has the
 * protocol, docs/format.md §9.1 the payload).
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/testhook.h"

/* the kernel's inode number of the initial pid namespace */
#define PROC_PID_INIT_INO 0xEFFFFFFCull

struct drfs_lock {
	struct drfs_lock *next; /* (held_lock) the locks this process holds */
	struct drfs_repo *r;
	enum drfs_lock_mode mode;
	enum drfs_lock_role role;
	uint8_t id[DRFS_HOLDER_ID_LEN];
	int64_t start;
	pthread_mutex_t wlock; /* one object write at a time; before lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char name[DRFS_OBJECT_NAME_MAX]; /* (L) current object */
	int64_t watermark;               /* (L) */
	struct drfs_id acks[DRFS_LOCK_ACKS_MAX]; /* (L) */
	size_t n_acks;                   /* (L) */
	bool quit;                       /* (L) */
	pthread_t thread;
	bool have_thread;
};

/* The locks this process holds (drfs_lock_before_upload). */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct drfs_lock *held;

/* ---- this process -------------------------------------------------------- */

struct self {
	char host[DRFS_HOST_MAX_BUF];
	bool have_boot;
	uint8_t boot[16];
	uint64_t pidns, pstart;
};

static struct self self;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

/* Field 22 (starttime, clock ticks after boot) of /proc/PID/stat. */
static int proc_starttime(long pid, uint64_t *ret)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	/* after ") ": state is field 3, starttime field 22 */
	for (int field = 2; p && field < 21; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -EINVAL;
	*ret = strtoull(p + 1, NULL, 10);
	return 0;
}

static uint64_t ns_inode(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void self_init(void)
{
	char b[64];
	drfs_hostname(self.host, sizeof(self.host));
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f) {
		size_t n = fread(b, 1, sizeof(b) - 1, f), k = 0;
		b[n] = 0;
		char hex[33];
		for (size_t i = 0; i < n && k < 32; i++)
			if (b[i] && strchr("0123456789abcdef", b[i]))
				hex[k++] = b[i];
		hex[k] = 0;
		self.have_boot = k == 32;
		for (size_t i = 0; self.have_boot && i < 16; i++) {
			unsigned v;
			sscanf(hex + 2 * i, "%2x", &v);
			self.boot[i] = (uint8_t)v;
		}
		fclose(f);
	}
	self.pidns = ns_inode("/proc/self/ns/pid");
	if (proc_starttime((long)getpid(), &self.pstart) < 0)
		self.pstart = 0;
}

static const struct self *get_self(void)
{
	pthread_once(&self_once, self_init);
	return &self;
}

/*
 * Whether process pid (started at pstart ticks) of our pid namespace still
 * runs: 0 no, 1 yes (or cannot tell).
 */
static int process_alive(uint32_t pid, uint64_t pstart)
{
	uint64_t st;
	if (pid == 0 || pid > INT32_MAX)
		return 1;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 0;
	if (pstart && proc_starttime((long)pid, &st) == 0 && st != pstart)
		return 0; /* the pid was reused */
	return 1;
}

/*
 * Process p's pid in its own (innermost) pid namespace, from the NSpid
 * line of /proc/p/status (world-readable); *ret_nested: it is not in the
 * initial namespace. -errno.
 */
static int ns_pid(long p, uint32_t *ret, bool *ret_nested)
{
	char path[64], line[256];
	int e = -ENOENT;
	snprintf(path, sizeof(path), "/proc/%ld/status", p);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		char *first = strchr(line, '\t'), *last = strrchr(line, '\t');
		if (!first)
			break;
		*ret = (uint32_t)strtoul(last + 1, NULL, 10);
		*ret_nested = first != last;
		e = 0;
		break;
	}
	fclose(f);
	return e;
}

/*
 * The same for a process of another pid namespace of this machine: only
 * the initial namespace sees every process; elsewhere we cannot tell (1).
 * Nor can we when a process of a nested namespace hides which one (1).
 */
static int foreign_alive(uint64_t pidns, uint32_t pid, uint64_t pstart)
{
	DIR *d;
	struct dirent *de;
	bool unsure = false;
	int alive = 0;

	if (get_self()->pidns != PROC_PID_INIT_INO || !(d = opendir("/proc")))
		return 1;
	while (!alive && (de = readdir(d))) {
		char path[300], *end;
		long p = strtol(de->d_name, &end, 10);
		uint32_t inner = 0;
		bool nested = false;
		uint64_t s;
		if (*end || p <= 0 || ns_pid(p, &inner, &nested) < 0)
			continue;
		if (!nested)
			continue; /* in the initial namespace: not in pidns */
		snprintf(path, sizeof(path), "/proc/%ld/ns/pid", p);
		struct stat sb;
		if (stat(path, &sb) < 0) {
			unsure |= errno == EACCES || errno == EPERM;
			continue;
		}
		if ((uint64_t)sb.st_ino == pidns && inner == pid &&
		    (!pstart || (proc_starttime(p, &s) == 0 && s == pstart)))
			alive = 1;
	}
	closedir(d);
	return alive || unsure;
}

/* ---- liveness ------------------------------------------------------------ */

enum { L_STALE, L_LIVE, L_OWN };

static int lock_liveness(const struct drfs_lock_info *li)
{
	const struct self *me = get_self();
	int64_t now = (int64_t)time(NULL);
	if (li->time + DRFS_LOCK_STALE_SECS < now)
		return L_STALE;
	if (li->version == 1) {
		if (strcmp(li->host, me->host))
			return L_LIVE;
		if (li->pid == (uint32_t)getpid())
			return L_OWN;
		return process_alive(li->pid, 0) ? L_LIVE : L_STALE;
	}
	/* another boot (or another machine): only time tells */
	if (!me->have_boot || memcmp(li->boot, me->boot, 16))
		return L_LIVE;
	if (li->pidns != me->pidns)
		return foreign_alive(li->pidns, li->pid, li->pstart) ? L_LIVE
								   : L_STALE;
	if (li->pid == (uint32_t)getpid() && li->pstart == me->pstart)
		return L_OWN;
	return process_alive(li->pid, li->pstart) ? L_LIVE : L_STALE;
}

/* ---- writing ------------------------------------------------------------- */

/* Write the lock's current state as a new object; its name to ret_name. */
static int lock_write(struct drfs_lock *l, char *ret_name)
{
	const struct self *me = get_self();
	struct drfs_lock_info li = { .version = 2 };
	struct drfs_id id;
	char hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_buf plain, sealed;

	li.exclusive = l->mode == DRFS_LOCK_EXCLUSIVE;
	li.prune = l->mode == DRFS_LOCK_PRUNE;
	li.time = (int64_t)time(NULL);
	li.pid = (uint32_t)getpid();
	memcpy(li.host, me->host, sizeof(li.host));
	memcpy(li.holder, l->id, sizeof(li.holder));
	li.start = l->start;
	memcpy(li.boot, me->boot, 16);
	li.pidns = me->pidns;
	li.pstart = me->pstart;
	li.role = (uint8_t)l->role;
	pthread_mutex_lock(&l->lock);
	li.watermark = l->watermark;
	li.n_acks = l->n_acks;
	memcpy(li.acks, l->acks, l->n_acks * sizeof(*l->acks));
	pthread_mutex_unlock(&l->lock);

	int e = drfs_random(id.b, sizeof(id.b));
	if (e < 0)
		return e;
	snprintf(ret_name, DRFS_OBJECT_NAME_MAX, "locks/%s",
		 drfs_id_hex(&id, hex));
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&sealed, DRFS_SMALL_OBJECT_MAX);
	e = drfs_lock_encode(&li, &plain);
	e = e ?: drfs_seal(&l->r->keys, DRFS_OBJ_LOCK, plain.p, plain.len,
			   &sealed);
	e = e ?: drfs_backend_put(l->r->be, ret_name, sealed.p, sealed.len,
				  DRFS_PUT_CREATE_ONLY);
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	return e;
}

/* Publish the current state: a new object first, then the old one goes. */
static int lock_publish(struct drfs_lock *l)
{
	char fresh[DRFS_OBJECT_NAME_MAX], old[DRFS_OBJECT_NAME_MAX];
	pthread_mutex_lock(&l->wlock);
	int e = lock_write(l, fresh);
	if (e >= 0) {
		pthread_mutex_lock(&l->lock);
		memcpy(old, l->name, sizeof(old));
		memcpy(l->name, fresh, sizeof(fresh));
		pthread_mutex_unlock(&l->lock);
		drfs_backend_del(l->r->be, old);
	}
	pthread_mutex_unlock(&l->wlock);
	return e;
}

static void *refresh_main(void *arg)
{
	struct drfs_lock *l = arg;
	pthread_mutex_lock(&l->lock);
	while (!l->quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += DRFS_LOCK_REFRESH_SECS;
		int rc = 0;
		while (!l->quit && rc == 0)
			rc = pthread_cond_timedwait(&l->cond, &l->lock, &ts);
		if (l->quit)
			break;
		pthread_mutex_unlock(&l->lock);
		lock_publish(l);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* ---- reading ------------------------------------------------------------- */

/* Fetch and decode one lock object: 0, -EBADMSG (garbage), -ENOENT. */
static int lock_read(struct drfs_repo *r, const char *name, uint64_t size,
		     struct drfs_lock_info *li)
{
	struct drfs_buf obj, plain;
	int e = 0;
	drfs_buf_init(&obj, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	if (size > DRFS_SMALL_OBJECT_MAX)
		e = -EBADMSG;
	e = e ?: drfs_backend_get(r->be, name, 0, UINT64_MAX, &obj);
	e = e ?: drfs_unseal(&r->keys, DRFS_OBJ_LOCK, obj.p, obj.len, &plain);
	e = e ?: drfs_lock_decode(plain.p, plain.len, li);
	drfs_buf_release(&obj);
	drfs_buf_release(&plain);
	return e;
}

/* A holder's id: version 2 says it; a version 1 object is its own holder. */
static void holder_id(const struct drfs_lock_info *li, const char *name,
		      uint8_t *out)
{
	struct drfs_id oid;
	memset(out, 0, DRFS_HOLDER_ID_LEN);
	if (li->version == 2)
		memcpy(out, li->holder, DRFS_HOLDER_ID_LEN);
	else if (drfs_name_parse(name, "locks", &oid) == 0)
		memcpy(out, oid.b, DRFS_HOLDER_ID_LEN);
}

static void holder_fill(struct drfs_lock_holder *h,
			const struct drfs_lock_info *li, const char *name,
			bool own)
{
	memset(h, 0, sizeof(*h));
	holder_id(li, name, h->id);
	h->mode = li->exclusive ? DRFS_LOCK_EXCLUSIVE
		  : li->prune   ? DRFS_LOCK_PRUNE
				: DRFS_LOCK_SHARED;
	h->role = li->version == 2 ? (enum drfs_lock_role)li->role
					      : DRFS_ROLE_UNKNOWN;
	h->time = li->time;
	/* version 1: unknown start, assume it writes since the lock */
	h->start = li->version == 2 ? li->start : li->time -
				DRFS_LOCK_STALE_SECS;
	h->watermark = li->version == 2 ? li->watermark : h->start;
	h->pid = li->pid;
	memcpy(h->host, li->host, sizeof(h->host));
	h->own = own;
	h->n_acks = li->n_acks;
	memcpy(h->acks, li->acks, li->n_acks * sizeof(*h->acks));
	snprintf(h->object, sizeof(h->object), "%s", name);
}

struct holder_scan {
	struct drfs_repo *r;
	struct drfs_lock_holder *v;
	size_t n, cap;
	struct drfs_lock_info li; /* scratch */
	bool reap;           /* delete stale objects */
	size_t reaped;
};

static void holder_merge(struct drfs_lock_holder *h,
			 const struct drfs_lock_holder *o)
{
	for (size_t i = 0; i < o->n_acks; i++)
		if (!drfs_lock_holder_acked(h, &o->acks[i]) &&
		    h->n_acks < DRFS_LOCK_ACKS_MAX)
			h->acks[h->n_acks++] = o->acks[i];
	h->watermark = MIN(h->watermark, o->watermark);
	h->start = MIN(h->start, o->start);
	if (o->time > h->time) {
		h->time = o->time;
		h->offset = o->offset;
		memcpy(h->object, o->object, sizeof(h->object));
	}
}

static int holder_visit_mtime(const char *name, uint64_t size, int64_t mtime,
			      void *userdata)
{
	struct holder_scan *s = userdata;
	struct drfs_lock_holder h;
	int e = lock_read(s->r, name, size, &s->li);
	if (e == -ENOENT)
		return 0; /* released meanwhile */
	if (e < 0 && e != -EBADMSG)
		return e;
	if (e == -EBADMSG) {
		memset(&h, 0, sizeof(h));
		struct drfs_id oid;
		if (drfs_name_parse(name, "locks", &oid) == 0)
			memcpy(h.id, oid.b, DRFS_HOLDER_ID_LEN);
		h.mode = DRFS_LOCK_EXCLUSIVE;
		h.unreadable = true;
		h.time = h.start = (int64_t)time(NULL);
		h.watermark = 0;
		h.offset = INT64_MIN;
		snprintf(h.object, sizeof(h.object), "%s", name);
	} else {
		int lv = lock_liveness(&s->li);
		if (lv == L_STALE && s->reap &&
		    drfs_backend_del(s->r->be, name) == 0)
			s->reaped++;
		if (lv == L_STALE)
			return 0;
		holder_fill(&h, &s->li, name, lv == L_OWN);
		h.offset = mtime ? mtime - s->li.time : INT64_MIN;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (!memcmp(s->v[i].id, h.id, DRFS_HOLDER_ID_LEN) &&
		    !h.unreadable && !s->v[i].unreadable) {
			holder_merge(&s->v[i], &h);
			return 0;
		}
	}
	if (drfs_grow(&s->v, &s->cap, s->n, sizeof(*s->v), 8) < 0)
		return -ENOMEM;
	s->v[s->n++] = h;
	return 0;
}

static int holder_visit(const char *name, uint64_t size, void *userdata)
{
	return holder_visit_mtime(name, size, 0, userdata);
}

static int holders_scan(struct drfs_repo *r, bool reap,
			struct drfs_lock_holder **ret, size_t *ret_n,
			size_t *ret_reaped)
{
	struct holder_scan *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->r = r;
	s->reap = reap;
	int e = drfs_backend_list_mtime(r->be, "locks/", holder_visit_mtime,
					s);
	if (e == -EOPNOTSUPP)
		e = drfs_backend_list(r->be, "locks/", holder_visit, s);
	if (e >= 0 && ret) {
		*ret = TAKE_PTR(s->v);
		*ret_n = s->n;
	}
	if (e >= 0 && ret_reaped)
		*ret_reaped = s->reaped;
	free(s->v);
	free(s);
	return e < 0 ? e : 0;
}

int drfs_lock_holders(struct drfs_repo *r, struct drfs_lock_holder **ret,
		      size_t *ret_n)
{
	return holders_scan(r, false, ret, ret_n, NULL);
}

int drfs_lock_reap(struct drfs_repo *r, size_t *ret_n)
{
	return holders_scan(r, true, NULL, NULL, ret_n);
}

bool drfs_lock_holder_acked(const struct drfs_lock_holder *h,
			    const struct drfs_id *id)
{
	for (size_t i = 0; i < h->n_acks; i++)
		if (drfs_id_eq(&h->acks[i], id))
			return true;
	return false;
}

static const char *role_name(enum drfs_lock_role role)
{
	switch (role) {
	case DRFS_ROLE_READER:
		return "a reader";
	case DRFS_ROLE_WRITER:
		return "a writer";
	case DRFS_ROLE_MOUNT:
		return "a mount";
	case DRFS_ROLE_PRUNE:
		return "a prune";
	default:
		return "an older drfs";
	}
}

static void fmt_time(int64_t t, char *out, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	snprintf(out, len, "?");
	if (gmtime_r(&tt, &tm))
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void drfs_lock_holder_describe(const struct drfs_lock_holder *h, char *out,
			       size_t len)
{
	char ts[64], host[DRFS_SHOW_BUF(DRFS_HOST_MAX)];
	if (h->unreadable) {
		snprintf(out, len, "unreadable lock object \"%s\" (remove it "
			 "if no drfs process uses the repository)", h->object);
		return;
	}
	fmt_time(h->start, ts, sizeof(ts));
	snprintf(out, len, "%s, pid %u on host \"%s\", since %s (%s)",
		 role_name(h->role), h->pid,
		 drfs_str_show(h->host, host, sizeof(host)), ts, h->object);
}

/* ---- acquire / release ---------------------------------------------------- */

static bool conflicts(enum drfs_lock_mode mine, enum drfs_lock_mode theirs)
{
	if (mine == DRFS_LOCK_EXCLUSIVE || theirs == DRFS_LOCK_EXCLUSIVE)
		return true;
	return mine == DRFS_LOCK_PRUNE && theirs == DRFS_LOCK_PRUNE;
}

static const char *mode_name(enum drfs_lock_mode m)
{
	return m == DRFS_LOCK_EXCLUSIVE ? "an exclusive"
	       : m == DRFS_LOCK_PRUNE   ? "a prune"
					: "a shared";
}

int drfs_lock_take(struct drfs_repo *r, enum drfs_lock_mode mode,
		   enum drfs_lock_role role, struct drfs_lock **ret, char *why,
		   size_t why_len)
{
	struct drfs_lock_holder *hs = NULL;
	size_t n = 0;
	struct drfs_lock *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->r = r;
	l->mode = mode;
	l->role = role;
	l->start = (int64_t)time(NULL);
	l->watermark = role == DRFS_ROLE_READER ? INT64_MAX : l->start;
	pthread_mutex_init(&l->wlock, NULL);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	int e = drfs_random(l->id, sizeof(l->id));
	e = e ?: lock_write(l, l->name);
	if (e < 0) {
		if (why)
			snprintf(why, why_len, "cannot write a lock: %s",
				 drfs_backend_last_error(r->be)
					 ?: drfs_strerror(e));
		goto fail;
	}
	e = drfs_lock_holders(r, &hs, &n);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		if (hs[i].own || !conflicts(mode, hs[i].mode))
			continue;
		if (why) {
			char d[600];
			drfs_lock_holder_describe(&hs[i], d, sizeof(d));
			if (hs[i].unreadable)
				snprintf(why, why_len, "%s", d);
			else
				snprintf(why, why_len, "%s lock held by %s",
					 mode_name(hs[i].mode), d);
		}
		e = -EBUSY;
	}
	free(hs);
	if (e < 0) {
		drfs_backend_del(r->be, l->name);
		goto fail;
	}
	if (pthread_create(&l->thread, NULL, refresh_main, l) == 0)
		l->have_thread = true;
	pthread_mutex_lock(&held_lock);
	l->next = held;
	held = l;
	pthread_mutex_unlock(&held_lock);
	/* tests: hold the lock a while so another process can meet it */
	drfs_test_sleep("DRFS_TEST_LOCK_SLEEP");
	*ret = l;
	return 0;
fail:
	pthread_mutex_destroy(&l->wlock);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
	return e;
}

int drfs_lock_acquire(struct drfs_repo *r, bool exclusive,
		      struct drfs_lock **ret, char *why, size_t why_len)
{
	return drfs_lock_take(r, exclusive ? DRFS_LOCK_EXCLUSIVE
					   : DRFS_LOCK_SHARED,
			      exclusive ? DRFS_ROLE_PRUNE : DRFS_ROLE_WRITER,
			      ret, why, why_len);
}

const uint8_t *drfs_lock_id(const struct drfs_lock *l)
{
	return l->id;
}

int drfs_lock_set_acks(struct drfs_lock *l, const struct drfs_id *acks,
		       size_t n)
{
	if (n > DRFS_LOCK_ACKS_MAX)
		n = DRFS_LOCK_ACKS_MAX;
	pthread_mutex_lock(&l->lock);
	memcpy(l->acks, acks, n * sizeof(*acks));
	l->n_acks = n;
	pthread_mutex_unlock(&l->lock);
	return lock_publish(l);
}

int64_t drfs_lock_watermark(struct drfs_lock *l)
{
	pthread_mutex_lock(&l->lock);
	int64_t w = l->watermark;
	pthread_mutex_unlock(&l->lock);
	return w;
}

int drfs_lock_set_watermark(struct drfs_lock *l, int64_t watermark)
{
	pthread_mutex_lock(&l->lock);
	l->watermark = watermark;
	pthread_mutex_unlock(&l->lock);
	return lock_publish(l);
}

void drfs_lock_before_upload(struct drfs_repo *r)
{
	struct drfs_lock *todo[8];
	size_t n = 0;
	pthread_mutex_lock(&held_lock);
	for (struct drfs_lock *l = held; l && n < ARRAY_SIZE(todo);
	     l = l->next) {
		if (l->r != r || l->role == DRFS_ROLE_READER)
			continue;
		pthread_mutex_lock(&l->lock);
		if (l->watermark == INT64_MAX) {
			l->watermark = (int64_t)time(NULL);
			todo[n++] = l;
		}
		pthread_mutex_unlock(&l->lock);
	}
	/* published before the upload; the locks stay held meanwhile (a
	 * lock is released by the thread that uploads through it) */
	for (size_t i = 0; i < n; i++)
		lock_publish(todo[i]);
	pthread_mutex_unlock(&held_lock);
}

void drfs_lock_release(struct drfs_lock *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&held_lock);
	for (struct drfs_lock **p = &held; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	pthread_mutex_unlock(&held_lock);
	pthread_mutex_lock(&l->lock);
	l->quit = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (l->have_thread)
		pthread_join(l->thread, NULL);
	pthread_mutex_lock(&l->wlock);
	drfs_backend_del(l->r->be, l->name);
	pthread_mutex_unlock(&l->wlock);
	pthread_mutex_destroy(&l->wlock);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
}
