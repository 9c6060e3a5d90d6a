/* SPDX-License-Identifier: MIT */
/*
 * lock.c - shared/exclusive repository locks as sealed objects in locks/,
 * refreshed by a background thread (include/drfs/lock.h has the protocol).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/lock.h"

struct drfs_lock {
	struct drfs_repo *r;
	bool exclusive;
	char name[DRFS_OBJECT_NAME_MAX]; /* (L) current object */
	pthread_t thread;
	bool have_thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool quit; /* (L) */
};

static int lock_write(struct drfs_repo *r, bool exclusive, char *ret_name)
{
	struct drfs_lock_info li = { .exclusive = exclusive,
				     .time = (int64_t)time(NULL),
				     .pid = (uint32_t)getpid() };
	struct drfs_id id;
	char hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_buf plain, sealed;

	if (gethostname(li.host, DRFS_HOST_MAX) < 0)
		strcpy(li.host, "localhost");
	li.host[DRFS_HOST_MAX] = 0;
	int e = drfs_random(id.b, sizeof(id.b));
	if (e < 0)
		return e;
	snprintf(ret_name, DRFS_OBJECT_NAME_MAX, "locks/%s",
		 drfs_id_hex(&id, hex));
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&sealed, DRFS_SMALL_OBJECT_MAX);
	e = drfs_lock_encode(&li, &plain);
	e = e ?: drfs_seal(&r->keys, DRFS_OBJ_LOCK, plain.p, plain.len,
			   &sealed);
	e = e ?: drfs_backend_put(r->be, ret_name, sealed.p, sealed.len,
				  DRFS_PUT_CREATE_ONLY);
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	return e;
}

struct lock_scan {
	struct drfs_repo *r;
	const char *own;
	bool exclusive;
	char myhost[DRFS_HOST_MAX_BUF];
	bool conflict;
	char *why;
	size_t why_len;
};

static int lock_visit(const char *name, uint64_t size, void *userdata)
{
	struct lock_scan *s = userdata;
	struct drfs_lock_info li = { .exclusive = true };
	struct drfs_buf obj, plain;
	int e = 0;

	if (strcmp(name, s->own) == 0 || s->conflict)
		return 0;
	drfs_buf_init(&obj, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	if (size > DRFS_SMALL_OBJECT_MAX)
		e = -EBADMSG;
	e = e ?: drfs_backend_get(s->r->be, name, 0, UINT64_MAX, &obj);
	if (e == -ENOENT) /* released meanwhile */
		goto out;
	e = e ?: drfs_unseal(&s->r->keys, DRFS_OBJ_LOCK, obj.p, obj.len,
			     &plain);
	e = e ?: drfs_lock_decode(plain.p, plain.len, &li);
	if (e < 0 && e != -EBADMSG)
		goto out; /* a backend error: reported to the caller */
	if (e == 0) {
		int64_t now = (int64_t)time(NULL);
		if (li.time + DRFS_LOCK_STALE_SECS < now)
			goto out; /* stale */
		if (strcmp(li.host, s->myhost) == 0) {
			if (li.pid == (uint32_t)getpid())
				goto out; /* this process */
			/* a process of this host that no longer exists */
			if (li.pid > 0 && li.pid <= INT32_MAX &&
			    kill((pid_t)li.pid, 0) < 0 && errno == ESRCH)
				goto out;
		}
		if (!s->exclusive && !li.exclusive)
			goto out; /* shared with shared */
	}
	s->conflict = true;
	if (s->why && e == 0) {
		struct tm tm;
		time_t t = (time_t)li.time;
		char ts[64] = "?";
		if (gmtime_r(&t, &tm))
			strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(s->why, s->why_len,
			 "%s lock held by pid %u on host \"%s\" since %s (%s)",
			 li.exclusive ? "an exclusive" : "a shared", li.pid,
			 li.host, ts, name);
	} else if (s->why) {
		snprintf(s->why, s->why_len,
			 "unreadable lock object \"%s\" (remove it if no drfs "
			 "process uses the repository)", name);
	}
	e = 0;
out:
	drfs_buf_release(&obj);
	drfs_buf_release(&plain);
	return e < 0 ? e : 0;
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
		char old[DRFS_OBJECT_NAME_MAX], fresh[DRFS_OBJECT_NAME_MAX];
		memcpy(old, l->name, sizeof(old));
		pthread_mutex_unlock(&l->lock);
		/* new object first: there is never a moment without a lock */
		int e = lock_write(l->r, l->exclusive, fresh);
		if (e >= 0)
			drfs_backend_del(l->r->be, old);
		pthread_mutex_lock(&l->lock);
		if (e >= 0)
			memcpy(l->name, fresh, sizeof(fresh));
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

int drfs_lock_acquire(struct drfs_repo *r, bool exclusive,
		      struct drfs_lock **ret, char *why, size_t why_len)
{
	struct drfs_lock *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->r = r;
	l->exclusive = exclusive;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	int e = lock_write(r, exclusive, l->name);
	if (e < 0) {
		if (why)
			snprintf(why, why_len, "cannot write a lock: %s",
				 drfs_backend_last_error(r->be) ?: "");
		goto fail;
	}
	struct lock_scan s = { .r = r, .own = l->name, .exclusive = exclusive,
			       .why = why, .why_len = why_len };
	if (gethostname(s.myhost, sizeof(s.myhost) - 1) < 0)
		strcpy(s.myhost, "localhost");
	s.myhost[DRFS_HOST_MAX] = 0;
	e = drfs_backend_list(r->be, "locks/", lock_visit, &s);
	if (e >= 0 && s.conflict)
		e = -EBUSY;
	if (e < 0) {
		drfs_backend_del(r->be, l->name);
		goto fail;
	}
	if (pthread_create(&l->thread, NULL, refresh_main, l) == 0)
		l->have_thread = true;
	/* tests: hold the lock a while so another process can meet it */
	const char *hold = getenv("DRFS_TEST_LOCK_SLEEP");
	if (hold)
		sleep((unsigned)atoi(hold));
	*ret = l;
	return 0;
fail:
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
	return e;
}

void drfs_lock_release(struct drfs_lock *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->quit = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (l->have_thread)
		pthread_join(l->thread, NULL);
	drfs_backend_del(l->r->be, l->name);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
}
