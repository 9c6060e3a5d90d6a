/* SPDX-License-Identifier: MIT */
/*
 * replica.c - mirror a repository onto a second backend and fail over to it
 * (see include/drfs/replica.h for the contract).
 *
 * Locking: struct replica's mutable fields are under lock, except
 * catchup_lock which serialises catch-up runs (never held with lock).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/replica.h"

#define ERR_MAX 512

struct replica {
	struct drfs_backend b;
	struct drfs_backend *p; /* primary */
	struct drfs_backend *r; /* replica */
	unsigned flags;
	pthread_mutex_t lock;
	double down_until;             /* (lock) skip the primary until */
	struct drfs_replica_stats st;  /* (lock) */
	atomic_bool logged;            /* the one failover message */
	pthread_mutex_t catchup_lock;  /* one catch-up at a time */
	/* async catch-up thread */
	pthread_t th;
	bool th_on;
	pthread_cond_t cond;
	bool dirty; /* (lock) primary got new objects */
	bool stop;  /* (lock) */
};

/* Which side the calling thread's last failure came from (last_error). */
static _Thread_local int err_side; /* 0 primary, 1 replica, 2 own */
/* Which side served the calling thread's last get (get_alternate). */
static _Thread_local int served_side; /* 0 primary, 1 replica */
static _Thread_local char err_buf[ERR_MAX];

static const struct drfs_backend_ops replica_ops;
static const struct drfs_backend_ops unavailable_ops;

static struct replica *to_rep(struct drfs_backend *b)
{
	return (struct replica *)b;
}

bool drfs_backend_is_replica(struct drfs_backend *b)
{
	return b && b->ops == &replica_ops;
}

/* Errors after which the replica may serve a read. */
static bool network_err(int e)
{
	return e == -EIO || e == -ETIMEDOUT || e == -ECONNREFUSED ||
	       e == -EHOSTUNREACH || e == -ENETUNREACH || e == -ECONNRESET ||
	       e == -ENETDOWN;
}

static bool failover_err(int e)
{
	return network_err(e) || e == -ENOENT;
}

static bool primary_skipped(struct replica *rp)
{
	pthread_mutex_lock(&rp->lock);
	bool skip = rp->down_until > drfs_now_mono();
	rp->st.primary_down = skip;
	pthread_mutex_unlock(&rp->lock);
	return skip;
}

static void primary_failed(struct replica *rp, int e)
{
	if (!network_err(e))
		return;
	pthread_mutex_lock(&rp->lock);
	rp->down_until = drfs_now_mono() + DRFS_REPLICA_RETRY_S;
	rp->st.primary_down = true;
	pthread_mutex_unlock(&rp->lock);
}

/* A read was served by the replica after the primary failed with e. */
static void served_by_replica(struct replica *rp, const char *name, int e)
{
	pthread_mutex_lock(&rp->lock);
	rp->st.failovers++;
	pthread_mutex_unlock(&rp->lock);
	if (atomic_exchange(&rp->logged, true))
		return;
	if (rp->p->ops == &unavailable_ops) {
		log_warn("%s: reading from replica \"%s\"",
			 drfs_backend_last_error(rp->p), rp->r->display);
		return;
	}
	log_warn("primary \"%s\" failed (%s on \"%s\"): reading from replica "
		 "\"%s\"", rp->p->display, drfs_strerror(e), name,
		 rp->r->display);
}

static int rep_get(struct drfs_backend *b, const char *name, uint64_t off,
		   uint64_t len, struct drfs_buf *out)
{
	struct replica *rp = to_rep(b);
	size_t l0 = out->len;
	int e = -ECONNREFUSED, e2;

	err_side = 0;
	served_side = 0;
	if (!primary_skipped(rp)) {
		e = drfs_backend_get(rp->p, name, off, len, out);
		if (e >= 0 || !failover_err(e))
			return e;
		out->len = l0;
		primary_failed(rp, e);
	}
	e2 = drfs_backend_get(rp->r, name, off, len, out);
	if (e2 >= 0) {
		served_side = 1;
		served_by_replica(rp, name, e);
		return e2;
	}
	out->len = l0;
	if (e == -ENOENT)
		return e;
	err_side = 1;
	return e2;
}

static int rep_head(struct drfs_backend *b, const char *name,
		    uint64_t *ret_size)
{
	struct replica *rp = to_rep(b);
	int e = -ECONNREFUSED, e2;

	err_side = 0;
	if (!primary_skipped(rp)) {
		e = drfs_backend_head(rp->p, name, ret_size);
		if (e >= 0 || !failover_err(e))
			return e;
		primary_failed(rp, e);
	}
	e2 = drfs_backend_head(rp->r, name, ret_size);
	if (e2 >= 0) {
		served_by_replica(rp, name, e);
		return e2;
	}
	if (e == -ENOENT)
		return e;
	err_side = 1;
	return e2;
}

/* One side's listing, with the callback given (cbm: with times). */
static int side_list(struct drfs_backend *be, const char *prefix,
		     drfs_list_cb cb, drfs_list_mtime_cb cbm, void *userdata)
{
	return cbm ? drfs_backend_list_mtime(be, prefix, cbm, userdata)
		   : drfs_backend_list(be, prefix, cb, userdata);
}

static int rep_list_any(struct drfs_backend *b, const char *prefix,
			drfs_list_cb cb, drfs_list_mtime_cb cbm,
			void *userdata)
{
	struct replica *rp = to_rep(b);
	int e = -ECONNREFUSED, e2;

	err_side = 0;
	if (!primary_skipped(rp)) {
		e = side_list(rp->p, prefix, cb, cbm, userdata);
		if (e >= 0 || !network_err(e))
			return e;
		primary_failed(rp, e);
	}
	/* a listing that broke off may have delivered some names twice */
	e2 = side_list(rp->r, prefix, cb, cbm, userdata);
	if (e2 >= 0) {
		served_by_replica(rp, prefix, e);
		return e2;
	}
	err_side = 1;
	return e2;
}

static int rep_list(struct drfs_backend *b, const char *prefix,
		    drfs_list_cb cb, void *userdata)
{
	return rep_list_any(b, prefix, cb, NULL, userdata);
}

static int rep_list_mtime(struct drfs_backend *b, const char *prefix,
			  drfs_list_mtime_cb cb, void *userdata)
{
	return rep_list_any(b, prefix, NULL, cb, userdata);
}

static void wake_catchup(struct replica *rp)
{
	pthread_mutex_lock(&rp->lock);
	rp->dirty = true;
	pthread_cond_signal(&rp->cond);
	pthread_mutex_unlock(&rp->lock);
}

static int rep_put(struct drfs_backend *b, const char *name, const void *p,
		   size_t len, unsigned flags)
{
	struct replica *rp = to_rep(b);
	int e, e2;

	err_side = 0;
	e = drfs_backend_put(rp->p, name, p, len, flags);
	if (e < 0 && e != -EEXIST) {
		primary_failed(rp, e);
		return e;
	}
	if (rp->flags & DRFS_REPLICA_ASYNC) {
		if (e >= 0 && rp->th_on)
			wake_catchup(rp);
		return e;
	}
	/* synchronous: durable only once the replica has it too (a
	 * create-only put that finds our bytes there succeeds; other bytes
	 * on the replica are damage: -EEXIST, reported) */
	e2 = drfs_backend_put(rp->r, name, p, len, flags);
	if (e2 < 0 && !(e2 == -EEXIST && e == -EEXIST)) {
		err_side = 1;
		return e2;
	}
	return e;
}

static int rep_del(struct drfs_backend *b, const char *name)
{
	struct replica *rp = to_rep(b);
	err_side = 0;
	int e = drfs_backend_del(rp->p, name);
	if (e < 0)
		return e;
	e = drfs_backend_del(rp->r, name);
	if (e < 0)
		err_side = 1;
	return e;
}

static int rep_del_many(struct drfs_backend *b, const char *const *names,
			size_t n)
{
	struct replica *rp = to_rep(b);
	err_side = 0;
	int e = drfs_backend_del_many(rp->p, names, n);
	if (e < 0)
		return e;
	e = drfs_backend_del_many(rp->r, names, n);
	if (e < 0)
		err_side = 1;
	return e;
}

/* Both sides: the replica must outlive a lost primary just as long. */
static int rep_set_retention(struct drfs_backend *b, const char *name,
			     int64_t until, bool compliance)
{
	struct replica *rp = to_rep(b);
	err_side = 0;
	int e = drfs_backend_set_retention(rp->p, name, until, compliance);
	if (e < 0)
		return e;
	int e2 = drfs_backend_set_retention(rp->r, name, until, compliance);
	if (e2 < 0)
		err_side = 1;
	if (e2 < 0 || e2 == DRFS_RETAIN_NOT_CONVERTED)
		return e2;
	return e == DRFS_RETAIN_KEPT ? e2 : e;
}

static int rep_get_retention(struct drfs_backend *b, const char *name,
			     int64_t *until, bool *compliance)
{
	err_side = 0;
	return drfs_backend_get_retention(to_rep(b)->p, name, until,
					  compliance);
}

static const char *rep_last_error(struct drfs_backend *b)
{
	struct replica *rp = to_rep(b);
	if (err_side == 2)
		return err_buf;
	if (err_side == 1) {
		const char *d = drfs_backend_last_error(rp->r);
		snprintf(err_buf, sizeof(err_buf), "replica \"%s\"%s%s",
			 rp->r->display, d ? ": " : "", d ? d : "");
		return err_buf;
	}
	return drfs_backend_last_error(rp->p);
}

static void *catchup_main(void *arg)
{
	struct replica *rp = arg;
	pthread_mutex_lock(&rp->lock);
	for (;;) {
		while (!rp->dirty && !rp->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 60;
			pthread_cond_timedwait(&rp->cond, &rp->lock, &ts);
			if (rp->st.pending)
				break; /* retry what failed */
		}
		if (rp->stop)
			break;
		rp->dirty = false;
		pthread_mutex_unlock(&rp->lock);
		(void)drfs_backend_replica_catchup(&rp->b);
		pthread_mutex_lock(&rp->lock);
	}
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

static void rep_free(struct drfs_backend *b)
{
	struct replica *rp = to_rep(b);
	if (rp->th_on) {
		pthread_mutex_lock(&rp->lock);
		rp->stop = true;
		pthread_cond_signal(&rp->cond);
		pthread_mutex_unlock(&rp->lock);
		pthread_join(rp->th, NULL);
		/* the last writes of this process reach the replica now */
		(void)drfs_backend_replica_catchup(b);
	}
	drfs_backend_free(rp->p);
	drfs_backend_free(rp->r);
	pthread_mutex_destroy(&rp->lock);
	pthread_mutex_destroy(&rp->catchup_lock);
	pthread_cond_destroy(&rp->cond);
	free(rp->b.display);
	free(rp);
}

static const struct drfs_backend_ops replica_ops = {
	.put = rep_put,
	.get = rep_get,
	.head = rep_head,
	.list = rep_list,
	.list_mtime = rep_list_mtime,
	.del = rep_del,
	.del_many = rep_del_many,
	.set_retention = rep_set_retention,
	.get_retention = rep_get_retention,
	.last_error = rep_last_error,
	.free = rep_free,
};

int drfs_backend_replica_open(struct drfs_backend *primary,
			      struct drfs_backend *replica, unsigned flags,
			      struct drfs_backend **ret)
{
	struct replica *rp = calloc(1, sizeof(*rp));
	if (!rp || asprintf(&rp->b.display, "%s (replica %s)",
			    primary->display, replica->display) < 0) {
		free(rp);
		drfs_backend_free(primary);
		drfs_backend_free(replica);
		return -ENOMEM;
	}
	rp->b.ops = &replica_ops;
	rp->b.remote = primary->remote || replica->remote;
	rp->p = primary;
	rp->r = replica;
	rp->flags = flags;
	pthread_mutex_init(&rp->lock, NULL);
	pthread_mutex_init(&rp->catchup_lock, NULL);
	pthread_cond_init(&rp->cond, NULL);
	atomic_init(&rp->logged, false);
	if (flags & DRFS_REPLICA_ASYNC)
		rp->th_on = drfs_log_thread_create(&rp->th, catchup_main,
						   rp) == 0;
	*ret = &rp->b;
	return 0;
}

int drfs_backend_replica_sides(struct drfs_backend *b,
			       struct drfs_backend **ret_primary,
			       struct drfs_backend **ret_replica)
{
	if (!drfs_backend_is_replica(b))
		return -EINVAL;
	if (ret_primary)
		*ret_primary = to_rep(b)->p;
	if (ret_replica)
		*ret_replica = to_rep(b)->r;
	return 0;
}

int drfs_backend_get_alternate(struct drfs_backend *b, const char *name,
			       uint64_t off, uint64_t len,
			       struct drfs_buf *out)
{
	if (!drfs_backend_is_replica(b))
		return -EOPNOTSUPP;
	struct replica *rp = to_rep(b);
	size_t l0 = out->len;
	/* the replica, unless it served what turned out corrupted */
	bool from_replica = served_side == 0;
	int e = drfs_backend_get(from_replica ? rp->r : rp->p, name, off, len,
				 out);
	if (e < 0) {
		out->len = l0;
		return e;
	}
	served_side = from_replica;
	if (from_replica)
		served_by_replica(rp, name, -EBADMSG);
	return e;
}

void drfs_backend_replica_get_stats(struct drfs_backend *b,
				    struct drfs_replica_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!drfs_backend_is_replica(b))
		return;
	struct replica *rp = to_rep(b);
	pthread_mutex_lock(&rp->lock);
	*ret = rp->st;
	pthread_mutex_unlock(&rp->lock);
}

/* ---- copying objects between the sides ---------------------------------- */

static int copy_object(struct drfs_backend *from, struct drfs_backend *to,
		       const char *name, uint64_t *ret_bytes)
{
	struct drfs_buf b;
	drfs_buf_init(&b, DRFS_PACK_MAX + DRFS_SMALL_OBJECT_MAX);
	int e = drfs_backend_get(from, name, 0, UINT64_MAX, &b);
	if (e >= 0)
		e = drfs_backend_put(to, name, b.p, b.len,
				     DRFS_PUT_CREATE_ONLY);
	if (e >= 0)
		*ret_bytes += b.len;
	drfs_buf_release(&b);
	return e;
}

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(const char *name, uint64_t size, void *userdata)
{
	struct names *l = userdata;
	(void)size;
	if (strlen(name) >= DRFS_OBJECT_NAME_MAX)
		return 0;
	if (drfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 256) < 0)
		return -ENOMEM;
	if (!(l->v[l->n] = strdup(name)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool names_has(const struct names *l, const char *name)
{
	return l->n && bsearch(&name, l->v, l->n, sizeof(*l->v), cmp_strp) != NULL;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Copy config and keys/ from one side to the other. */
static int seed_side(struct drfs_backend *from, struct drfs_backend *to)
{
	struct names keys = { 0 };
	uint64_t bytes = 0;
	int e = drfs_backend_list(from, "keys/", names_add, &keys);
	for (size_t i = 0; e >= 0 && i < keys.n; i++)
		e = copy_object(from, to, keys.v[i], &bytes);
	/* config last: a side with a config has its keys */
	if (e >= 0)
		e = copy_object(from, to, "config", &bytes);
	names_free(&keys);
	return e;
}

int drfs_backend_replica_seed(struct drfs_backend *b)
{
	if (!drfs_backend_is_replica(b))
		return -EINVAL;
	struct replica *rp = to_rep(b);
	struct drfs_buf c1, c2;
	int e1, e2, e;

	drfs_buf_init(&c1, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&c2, DRFS_SMALL_OBJECT_MAX);
	err_side = 0;
	e1 = primary_skipped(rp) ? -ECONNREFUSED
				 : drfs_backend_get(rp->p, "config", 0,
						    UINT64_MAX, &c1);
	e2 = drfs_backend_get(rp->r, "config", 0, UINT64_MAX, &c2);
	if (e1 >= 0 && e2 >= 0)
		e = c1.len == c2.len && memcmp(c1.p, c2.p, c1.len) == 0
			    ? 0
			    : -EINVAL;
	else if (e1 >= 0 && e2 == -ENOENT)
		e = seed_side(rp->p, rp->r);
	else if (e1 == -ENOENT && e2 >= 0)
		e = seed_side(rp->r, rp->p);
	else if (e1 == -ENOENT && e2 == -ENOENT)
		e = -ENOENT;
	else if (e1 >= 0 || e2 >= 0)
		e = 0; /* one side is down: nothing to compare */
	else
		e = e1 == -ENOENT ? e2 : e1;
	if (e == -EINVAL) {
		err_side = 2;
		snprintf(err_buf, sizeof(err_buf),
			 "\"%s\" and replica \"%s\" hold different "
			 "repositories", rp->p->display, rp->r->display);
	}
	drfs_buf_release(&c1);
	drfs_buf_release(&c2);
	return e;
}

int drfs_backend_replica_catchup(struct drfs_backend *b)
{
	if (!drfs_backend_is_replica(b))
		return -EINVAL;
	struct replica *rp = to_rep(b);
	struct names snaps = { 0 }, have = { 0 }, all = { 0 };
	uint64_t copied = 0, bytes = 0, pending = 0, errors = 0;
	int e, first_err = 0;

	pthread_mutex_lock(&rp->catchup_lock);
	/* snapshots first: those listed now have all their data on the
	 * primary, so copying them after the data pass is safe */
	e = drfs_backend_list(rp->p, "snapshots/", names_add, &snaps);
	e = e ?: drfs_backend_list(rp->r, "", names_add, &have);
	e = e ?: drfs_backend_list(rp->p, "", names_add, &all);
	if (e < 0)
		goto out;
	if (have.n)
		qsort(have.v, have.n, sizeof(*have.v), cmp_strp);
	for (int pass = 0; pass < 2; pass++) {
		struct names *l = pass == 0 ? &all : &snaps;
		for (size_t i = 0; i < l->n; i++) {
			const char *name = l->v[i];
			if (starts(name, "locks/") ||
			    (pass == 0 && starts(name, "snapshots/")) ||
			    names_has(&have, name))
				continue;
			int ce = copy_object(rp->p, rp->r, name, &bytes);
			if (ce < 0) {
				if (!first_err)
					first_err = ce;
				pending++;
				errors++;
				continue;
			}
			copied++;
		}
	}
	e = first_err ? first_err : (int)MIN(copied, (uint64_t)INT32_MAX);
out:
	pthread_mutex_lock(&rp->lock);
	rp->st.copied += copied;
	rp->st.copied_bytes += bytes;
	rp->st.put_errors += errors;
	rp->st.pending = e < 0 && !pending ? rp->st.pending : pending;
	pthread_mutex_unlock(&rp->lock);
	pthread_mutex_unlock(&rp->catchup_lock);
	names_free(&snaps);
	names_free(&have);
	names_free(&all);
	return e;
}

/* ---- a backend that is down --------------------------------------------- */

struct unavailable {
	struct drfs_backend b;
	int err;
	char detail[ERR_MAX];
};

static int un_err(struct drfs_backend *b)
{
	return ((struct unavailable *)b)->err;
}

static int un_put(struct drfs_backend *b, const char *name, const void *p,
		  size_t len, unsigned flags)
{
	(void)name, (void)p, (void)len, (void)flags;
	return un_err(b);
}

static int un_get(struct drfs_backend *b, const char *name, uint64_t off,
		  uint64_t len, struct drfs_buf *out)
{
	(void)name, (void)off, (void)len, (void)out;
	return un_err(b);
}

static int un_head(struct drfs_backend *b, const char *name, uint64_t *ret)
{
	(void)name, (void)ret;
	return un_err(b);
}

static int un_list(struct drfs_backend *b, const char *prefix,
		   drfs_list_cb cb, void *userdata)
{
	(void)prefix, (void)cb, (void)userdata;
	return un_err(b);
}

static int un_del(struct drfs_backend *b, const char *name)
{
	(void)name;
	return un_err(b);
}

static const char *un_last_error(struct drfs_backend *b)
{
	return ((struct unavailable *)b)->detail;
}

static void un_free(struct drfs_backend *b)
{
	free(b->display);
	free(b);
}

static const struct drfs_backend_ops unavailable_ops = {
	.put = un_put,
	.get = un_get,
	.head = un_head,
	.list = un_list,
	.del = un_del,
	.last_error = un_last_error,
	.free = un_free,
};

int drfs_backend_unavailable_new(const char *display, int err,
				 struct drfs_backend **ret)
{
	struct unavailable *u = calloc(1, sizeof(*u));
	if (!u || !(u->b.display = strdup(display))) {
		free(u);
		return -ENOMEM;
	}
	u->b.ops = &unavailable_ops;
	/* every failure of a backend that is down is one to fail over on */
	u->err = network_err(err) ? err : -EIO;
	snprintf(u->detail, sizeof(u->detail), "\"%s\" is unavailable: %s",
		 display, drfs_strerror(err < 0 ? err : -EIO));
	*ret = &u->b;
	return 0;
}
