/* SPDX-License-Identifier: MIT */
/*
 * writer.c - new blobs into packs: dedup, then compression + encryption on
 * worker threads, packs uploaded by uploader threads, index objects and the
 * cache updated at flush.
 *
 * Pipeline (all bounded):
 *   put() -> job queue (<= JOB_BYTES_MAX bytes) -> workers seal blobs and
 *   append them to the open pack -> full packs -> upload queue (<=
 *   UPLOADS_MAX packs) -> uploaders put data/xx/<id> -> done list.
 *   flush() closes the open pack, drains both queues, writes index/<id>
 *   listing the done packs and records them in LMDB.
 *
 * Locking: w->lock protects every field below marked (L); the pending set
 * is (L) too. Workers hold no lock while compressing or encrypting.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "drfs/compress.h"
#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/repo.h"
#include "drfs/testhook.h"
#include "repoint.h"

#define JOB_BYTES_MAX (8u << 20)
#define UPLOADS_MAX 2
#define UPLOADERS 4
/*
 * Copies of new tree blobs kept for the local tree cache until the next
 * flush: past this many bytes they go into LMDB at once (a snapshot of
 * now/ with 400 000 files made ~40 MB of them, all held until its flush).
 */
#define TREES_BYTES_MAX (4u << 20)

struct job {
	struct job *next;
	enum drfs_blob_type type;
	struct drfs_id id;
	struct drfs_writer_ids *ids; /* deferred: the id goes to ids->v[slot] */
	size_t slot;
	size_t len;
	uint8_t data[];
};

struct pack {
	struct pack *next;
	struct drfs_buf buf;
	struct drfs_pack_entry *entries;
	size_t n, cap;
	struct drfs_id id;
};

struct drfs_writer {
	struct drfs_repo *repo;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* any state change; waiters re-check */

	struct job *jobs_head, *jobs_tail; /* (L) */
	size_t jobs_bytes;                 /* (L) */
	int jobs_busy;                     /* (L) workers sealing a job */

	struct pack *open;                 /* (L) pack being filled */
	struct pack *up_head, *up_tail;    /* (L) packs waiting for upload */
	size_t up_queued;                  /* (L) */
	int up_busy;                       /* (L) */
	struct pack *done;                 /* (L) uploaded, not yet indexed */

	/* (L) ids queued or packed but not yet in LMDB: open addressing */
	struct drfs_id *set;
	size_t set_cap, set_n;

	/* (L) tree blobs to put into the local tree cache: at flush, or
	 * before once trees_bytes (headers included) reach trees_max */
	struct job *trees;
	size_t trees_bytes; /* (L) */
	size_t trees_max;   /* TREES_BYTES_MAX (or a test's) */

	/* deduplicated blobs to verify at the next commit (guard.c; its own
	 * lock); NULL: no guard */
	struct repo_guard *guard;

	int err;     /* (L) first failure, sticky */
	char errmsg[512]; /* (L) it in words, when known */
	bool quit;   /* (L) */
	struct drfs_writer_stats stats; /* (L) */

	pthread_t *workers;
	int n_workers;
	pthread_t uploaders[UPLOADERS];
	int n_uploaders;
};

/* ---- the pending set ---------------------------------------------------- */

static size_t set_slot(const struct drfs_id *id, size_t cap)
{
	uint64_t h;
	memcpy(&h, id->b, sizeof(h));
	return (size_t)(h & (cap - 1));
}

static bool set_has(struct drfs_writer *w, const struct drfs_id *id)
{
	if (!w->set_cap)
		return false;
	for (size_t i = set_slot(id, w->set_cap);; i = (i + 1) & (w->set_cap - 1)) {
		if (drfs_id_is_zero(&w->set[i]))
			return false;
		if (drfs_id_eq(&w->set[i], id))
			return true;
	}
}

static int set_add(struct drfs_writer *w, const struct drfs_id *id)
{
	if ((w->set_n + 1) * 2 > w->set_cap) {
		size_t cap = w->set_cap ? 2 * w->set_cap : 1024;
		struct drfs_id *n = calloc(cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < w->set_cap; i++) {
			if (drfs_id_is_zero(&w->set[i]))
				continue;
			size_t j = set_slot(&w->set[i], cap);
			while (!drfs_id_is_zero(&n[j]))
				j = (j + 1) & (cap - 1);
			n[j] = w->set[i];
		}
		free(w->set);
		w->set = n;
		w->set_cap = cap;
	}
	size_t j = set_slot(id, w->set_cap);
	while (!drfs_id_is_zero(&w->set[j]))
		j = (j + 1) & (w->set_cap - 1);
	w->set[j] = *id;
	w->set_n++;
	return 0;
}

static void set_clear(struct drfs_writer *w)
{
	free(w->set);
	w->set = NULL;
	w->set_cap = w->set_n = 0;
}

/* ---- packs -------------------------------------------------------------- */

static void pack_free(struct pack *p)
{
	if (!p)
		return;
	drfs_buf_release(&p->buf);
	free(p->entries);
	free(p);
}

static struct pack *pack_new(void)
{
	struct pack *p = calloc(1, sizeof(*p));
	if (p)
		drfs_buf_init(&p->buf, DRFS_PACK_MAX);
	return p;
}

static int pack_add_entry(struct pack *p, const struct drfs_pack_entry *e)
{
	if (drfs_grow(&p->entries, &p->cap, p->n, sizeof(*p->entries), 64) < 0)
		return -ENOMEM;
	p->entries[p->n++] = *e;
	return 0;
}

static void set_err(struct drfs_writer *w, int e)
{
	if (!w->err)
		w->err = e;
	pthread_cond_broadcast(&w->cond);
}

/* Close the open pack and queue it for upload. Called with the lock. */
static void seal_open_pack(struct drfs_writer *w)
{
	struct pack *p = w->open;
	if (!p || p->n == 0)
		return;
	w->open = NULL;
	int e = drfs_pack_finish(&w->repo->keys, p->entries, p->n, &p->buf);
	if (e < 0) {
		set_err(w, e);
		pack_free(p);
		return;
	}
	drfs_sha256(p->buf.p, p->buf.len, &p->id);
	p->next = NULL;
	if (w->up_tail)
		w->up_tail->next = p;
	else
		w->up_head = p;
	w->up_tail = p;
	w->up_queued++;
	pthread_cond_broadcast(&w->cond);
}

static bool in_cache(struct drfs_writer *w, const struct drfs_id *id);

/*
 * A deferred job: compute its id; whether the blob is present already
 * (counted as put would, offered to the guard), else claim it in the
 * pending set. Without the lock.
 */
static bool deferred_dedup(struct drfs_writer *w, struct job *j)
{
	drfs_blob_id(&w->repo->keys, j->data, j->len, &j->id);
	bool cached = in_cache(w, &j->id);
	pthread_mutex_lock(&w->lock);
	bool dup = cached || set_has(w, &j->id);
	if (dup) {
		w->stats.blobs_dup++;
		w->stats.bytes_dup_raw += j->len;
	} else if (set_add(w, &j->id) < 0) {
		set_err(w, -ENOMEM);
		dup = true;
	}
	pthread_mutex_unlock(&w->lock);
	if (cached && w->guard)
		repo_guard_offer(w->guard, w->repo, j->type, &j->id, j->data,
				 j->len);
	return dup;
}

static void *worker_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-seal");
	drfs_thread_unpin();
	struct drfs_writer *w = arg;
	struct drfs_zctx *z = drfs_zctx_new(w->repo->config.zstd_level);
	struct drfs_buf sealed;
	drfs_buf_init(&sealed, DRFS_BLOB_STORED_MAX);

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->jobs_head && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->jobs_head)
			break;
		struct job *j = w->jobs_head;
		w->jobs_head = j->next;
		if (!w->jobs_head)
			w->jobs_tail = NULL;
		w->jobs_busy++;
		pthread_mutex_unlock(&w->lock);

		struct drfs_pack_entry e;
		int r = 0;
		if (j->ids && deferred_dedup(w, j)) {
			pthread_mutex_lock(&w->lock);
			goto done; /* present: nothing to store */
		}
		drfs_buf_reset(&sealed);
		r = z ? drfs_blob_seal(&w->repo->keys, z, j->type, &j->id,
				       j->data, j->len, &sealed, &e)
		      : -ENOMEM;

		pthread_mutex_lock(&w->lock);
		/* wait while the upload queue is full: bounded memory */
		while (r >= 0 && w->up_queued >= UPLOADS_MAX && !w->err)
			pthread_cond_wait(&w->cond, &w->lock);
		if (r >= 0 && !w->open && !(w->open = pack_new()))
			r = -ENOMEM;
		if (r >= 0) {
			e.offset = (uint32_t)w->open->buf.len;
			r = drfs_buf_append(&w->open->buf, sealed.p, sealed.len);
			r = r ?: pack_add_entry(w->open, &e);
		}
		if (r >= 0) {
			w->stats.blobs_new++;
			w->stats.bytes_new_raw += j->len;
			if (w->open->buf.len >= w->repo->config.pack_target ||
			    w->open->n >= DRFS_PACK_MAX_BLOBS)
				seal_open_pack(w);
			if (j->ids) {
				j->ids->fresh++;
				j->ids->fresh_bytes += j->len;
			}
		} else {
			set_err(w, r);
		}
done:
		if (j->ids) {
			j->ids->v[j->slot] = j->id;
			j->ids->pending--;
		}
		w->jobs_bytes -= j->len;
		w->jobs_busy--;
		free(j);
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	drfs_buf_release(&sealed);
	drfs_zctx_free(z);
	return NULL;
}

static void *uploader_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-upload");
	drfs_thread_unpin();
	struct drfs_writer *w = arg;
	char name[DRFS_OBJECT_NAME_MAX];

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->up_head && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->up_head)
			break;
		struct pack *p = w->up_head;
		w->up_head = p->next;
		if (!w->up_head)
			w->up_tail = NULL;
		w->up_busy++;
		pthread_mutex_unlock(&w->lock);

		drfs_name_pack(&p->id, name);
		drfs_lock_before_upload(w->repo);
		int r = drfs_backend_put(w->repo->be, name, p->buf.p,
					 p->buf.len, DRFS_PUT_CREATE_ONLY);
		/* tests: a slow network after each pack (a stop in between) */
		if (r >= 0)
			drfs_test_sleep("DRFS_TEST_UPLOAD_SLEEP");
		size_t len = p->buf.len;
		/* keep only what the index needs */
		drfs_buf_release(&p->buf);
		p->buf.len = len;

		const char *detail = r < 0 ? drfs_backend_last_error(w->repo->be)
					   : NULL;
		pthread_mutex_lock(&w->lock);
		w->up_busy--;
		w->up_queued--;
		if (r < 0) {
			if (!w->err)
				snprintf(w->errmsg, sizeof(w->errmsg),
					 "cannot upload \"%.100s\": %.380s", name,
					 detail ? detail : drfs_strerror(r));
			set_err(w, r);
			pack_free(p);
		} else {
			p->next = w->done;
			w->done = p;
			w->stats.packs++;
			w->stats.bytes_stored += len;
		}
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int drfs_writer_new(struct drfs_repo *r, struct drfs_writer **ret)
{
	struct drfs_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->repo = r;
	w->trees_max = drfs_test_tree_spill(TREES_BYTES_MAX);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->workers = calloc((size_t)r->threads, sizeof(*w->workers));
	if (!w->workers) {
		free(w);
		return -ENOMEM;
	}
	w->guard = repo_guard_new(r->verify_budget);
	for (int i = 0; i < r->threads; i++)
		if (pthread_create(&w->workers[w->n_workers], NULL, worker_main,
				   w) == 0)
			w->n_workers++;
	for (int i = 0; i < UPLOADERS; i++)
		if (pthread_create(&w->uploaders[w->n_uploaders], NULL,
				   uploader_main, w) == 0)
			w->n_uploaders++;
	if (!w->n_workers || !w->n_uploaders) {
		drfs_writer_free(w);
		return -EAGAIN;
	}
	*ret = w;
	return 0;
}

/*
 * Whether the repository has the blob in a pack that stays: a blob whose
 * only known copy is in a pack a deletion record dooms is written again
 * (docs/retention.md, "Deferred deletion"), and so is one whose copy read
 * first is known corrupted (docs/verification.md).
 */
static bool in_cache(struct drfs_writer *w, const struct drfs_id *id)
{
	struct drfs_txn *t;
	struct drfs_blob_loc loc;
	if (drfs_txn_begin(w->repo->index, false, &t) < 0)
		return false;
	int e = drfs_repo_blob_doomed(t, id);
	if (e == 0 && drfs_index_blob_get(t, id, &loc) == 0)
		e = drfs_repo_copy_bad(t, id, loc.pack_seq);
	drfs_txn_abort(t);
	return e == 0;
}

/* Whether a tree blob is already in the local tree cache. */
static bool tree_cached(struct drfs_writer *w, const struct drfs_id *id)
{
	struct drfs_txn *t;
	if (drfs_txn_begin(w->repo->index, false, &t) < 0)
		return true;
	int e = drfs_kv_get_fixed(t, DRFS_DB_TREEBLOBS, id->b, DRFS_ID_LEN,
				  NULL, 0);
	drfs_txn_abort(t);
	return e != -ENOENT;
}

/* A job holding a copy of p (id and ids left for the caller), or NULL. */
static struct job *job_new(enum drfs_blob_type type, const void *p,
			   size_t len)
{
	struct job *j = malloc(sizeof(*j) + len);
	if (!j)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->type = type;
	j->len = len;
	memcpy(j->data, p, len);
	return j;
}

/* Keep a copy of a tree blob for the local tree cache. Lock held. */
static void remember_tree(struct drfs_writer *w, const struct drfs_id *id,
			  const void *p, size_t len)
{
	struct job *j = job_new(DRFS_BLOB_TREE, p, len);
	if (!j)
		return; /* only a cache */
	j->id = *id;
	j->next = w->trees;
	w->trees = j;
	w->trees_bytes += sizeof(*j) + len;
}

/* Tree blobs into the local tree cache in transaction t. */
static int trees_put(struct drfs_txn *t, const struct job *trees)
{
	int e = 0;
	for (const struct job *j = trees; e >= 0 && j; j = j->next)
		e = drfs_kv_put(t, DRFS_DB_TREEBLOBS, j->id.b, DRFS_ID_LEN,
				j->data, j->len);
	return e;
}

static void jobs_free(struct job *j)
{
	while (j) {
		struct job *n = j->next;
		free(j);
		j = n;
	}
}

/*
 * The remembered trees taken from w (lock held) once they reach
 * TREES_BYTES_MAX; NULL before.
 */
static struct job *trees_take(struct drfs_writer *w)
{
	if (w->trees_bytes < w->trees_max)
		return NULL;
	struct job *t = w->trees;
	w->trees = NULL;
	w->trees_bytes = 0;
	return t;
}

/*
 * Store trees (from trees_take) in the tree cache now, in a transaction
 * of their own, and free them. Without the lock. A tree cached before its
 * pack is uploaded is harmless: the cache is read only for blobs the blob
 * index holds (blobs.c), and whether a blob is stored is the index's to
 * say (in_cache). On failure they are only left out of the cache: their
 * reads go to the repository.
 */
static void trees_store(struct drfs_writer *w, struct job *trees)
{
	struct drfs_txn *t;
	if (trees && drfs_txn_begin(w->repo->index, true, &t) >= 0) {
		if (trees_put(t, trees) < 0)
			drfs_txn_abort(t);
		else
			drfs_txn_commit(t);
		/* tests: cached, their pack not yet uploaded */
		drfs_test_crash_point("trees-cached");
	}
	jobs_free(trees);
}

/* Wait for room for len more bytes of jobs. w->err after. Lock held. */
static int job_room(struct drfs_writer *w, size_t len)
{
	while (w->jobs_bytes + len > JOB_BYTES_MAX && w->jobs_bytes && !w->err)
		pthread_cond_wait(&w->cond, &w->lock);
	return w->err;
}

/* Queue j for the workers. Lock held. */
static void job_queue(struct drfs_writer *w, struct job *j)
{
	if (w->jobs_tail)
		w->jobs_tail->next = j;
	else
		w->jobs_head = j;
	w->jobs_tail = j;
	w->jobs_bytes += j->len;
	pthread_cond_broadcast(&w->cond);
}

int drfs_writer_put(struct drfs_writer *w, enum drfs_blob_type type,
		    const struct drfs_id *id, const void *p, size_t len)
{
	if (len > DRFS_BLOB_MAX)
		return -E2BIG;
	bool cached = in_cache(w, id);
	bool want_tree = type == DRFS_BLOB_TREE && !tree_cached(w, id);
	struct job *spill = NULL;
	pthread_mutex_lock(&w->lock);
	if (want_tree && !w->err) {
		remember_tree(w, id, p, len);
		spill = trees_take(w);
	}
	int e = w->err;
	if (e < 0)
		goto out;
	if (cached || set_has(w, id)) {
		w->stats.blobs_dup++;
		w->stats.bytes_dup_raw += len;
		pthread_mutex_unlock(&w->lock);
		trees_store(w, spill);
		if (cached && w->guard)
			repo_guard_offer(w->guard, w->repo, type, id, p, len);
		return 0;
	}
	if ((e = job_room(w, len)) < 0)
		goto out;
	struct job *j = job_new(type, p, len);
	if (!j) {
		e = -ENOMEM;
		goto out;
	}
	e = set_add(w, id);
	if (e < 0) {
		free(j);
		goto out;
	}
	j->id = *id;
	job_queue(w, j);
	e = 1;
out:
	pthread_mutex_unlock(&w->lock);
	trees_store(w, spill);
	return e;
}

int drfs_writer_put_blob(struct drfs_writer *w, enum drfs_blob_type type,
			 const void *p, size_t len, struct drfs_id *ret_id)
{
	struct drfs_id id;
	drfs_blob_id(&w->repo->keys, p, len, &id);
	int e = drfs_writer_put(w, type, &id, p, len);
	if (e >= 0)
		*ret_id = id;
	return e;
}

int drfs_writer_put_deferred(struct drfs_writer *w, enum drfs_blob_type type,
			     const void *p, size_t len,
			     struct drfs_writer_ids *ids)
{
	if (type == DRFS_BLOB_TREE) /* the tree cache wants its id now */
		return -EINVAL;
	if (len > DRFS_BLOB_MAX)
		return -E2BIG;
	struct job *j = job_new(type, p, len);
	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&w->lock);
	int e = job_room(w, len);
	/* the slots are grown under the lock: workers write them under it */
	if (e >= 0 && drfs_grow(&ids->v, &ids->cap, ids->n, sizeof(*ids->v),
				64) < 0)
		e = -ENOMEM;
	if (e < 0) {
		pthread_mutex_unlock(&w->lock);
		free(j);
		return e;
	}
	j->ids = ids;
	j->slot = ids->n++;
	ids->pending++;
	job_queue(w, j);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int drfs_writer_ids_wait(struct drfs_writer *w, struct drfs_writer_ids *ids)
{
	pthread_mutex_lock(&w->lock);
	while (ids->pending)
		pthread_cond_wait(&w->cond, &w->lock);
	int e = w->err;
	pthread_mutex_unlock(&w->lock);
	return e;
}

void drfs_writer_ids_free(struct drfs_writer_ids *ids)
{
	free(ids->v);
	memset(ids, 0, sizeof(*ids));
}

/* Write index/<id> for the done packs and record them in LMDB. */
static int index_done(struct drfs_writer *w, struct pack *done,
		      struct job *trees)
{
	struct drfs_buf plain, sealed;
	struct drfs_txn *t = NULL;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_id iid;
	int e;

	if (!done && !trees)
		return 0;
	drfs_buf_init(&plain, DRFS_INDEX_OBJECT_MAX);
	drfs_buf_init(&sealed, DRFS_INDEX_OBJECT_MAX + 64);
	if (!done)
		goto cache_only;
	e = drfs_indexobj_begin(&plain);
	for (struct pack *p = done; e >= 0 && p; p = p->next)
		e = drfs_indexobj_add(&plain, &p->id, (uint32_t)p->buf.len,
				      p->entries, p->n);
	e = e ?: drfs_seal(&w->repo->keys, DRFS_OBJ_INDEX, plain.p, plain.len,
			   &sealed);
	if (e < 0)
		goto out;
	drfs_sha256(sealed.p, sealed.len, &iid);
	drfs_name_index(&iid, name);
	/* our bytes already there are success; other bytes -EEXIST */
	e = drfs_backend_put(w->repo->be, name, sealed.p, sealed.len,
			     DRFS_PUT_CREATE_ONLY);
	if (e < 0)
		goto out;
	e = drfs_txn_begin(w->repo->index, true, &t);
	for (struct pack *p = done; e >= 0 && p; p = p->next) {
		uint32_t seq;
		e = drfs_index_pack_add(t, &p->id, (uint32_t)p->buf.len,
					(uint32_t)p->n, &seq);
		for (size_t i = 0; e >= 0 && i < p->n; i++) {
			const struct drfs_pack_entry *pe = &p->entries[i];
			struct drfs_blob_loc loc = {
				.pack_seq = seq, .offset = pe->offset,
				.stored_len = pe->stored_len,
				.raw_len = pe->raw_len, .type = pe->type,
				.flags = pe->flags,
			};
			e = repo_blob_place(t, &pe->id, &loc);
		}
	}
	e = e ?: drfs_kv_put(t, DRFS_DB_SEEN, name, strlen(name), "", 0);
	goto commit;
cache_only:
	e = drfs_txn_begin(w->repo->index, true, &t);
commit:
	e = e ?: trees_put(t, trees);
	if (e >= 0) {
		e = drfs_txn_commit(t);
		t = NULL;
	}
out:
	drfs_txn_abort(t);
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	return e;
}

int drfs_writer_flush(struct drfs_writer *w)
{
	pthread_mutex_lock(&w->lock);
	while ((w->jobs_head || w->jobs_busy) && !w->err)
		pthread_cond_wait(&w->cond, &w->lock);
	if (!w->err)
		seal_open_pack(w);
	while ((w->up_head || w->up_busy) && !w->err)
		pthread_cond_wait(&w->cond, &w->lock);
	int e = w->err;
	struct pack *done = w->done;
	struct job *trees = w->trees;
	w->done = NULL;
	w->trees = NULL;
	w->trees_bytes = 0;
	pthread_mutex_unlock(&w->lock);
	if (e >= 0)
		e = index_done(w, done, trees);
	jobs_free(trees);
	while (done) {
		struct pack *n = done->next;
		pack_free(done);
		done = n;
	}
	pthread_mutex_lock(&w->lock);
	if (e >= 0)
		set_clear(w);
	else
		set_err(w, e);
	pthread_mutex_unlock(&w->lock);
	return e;
}

static int guard_put(void *w, enum drfs_blob_type type,
		     const struct drfs_id *id, const void *p, size_t len)
{
	return drfs_writer_put(w, type, id, p, len);
}

int drfs_writer_guard(struct drfs_writer *w, drfs_report_fn report,
		      void *report_data, struct drfs_guard_result *ret)
{
	if (!w->guard)
		return 0;
	return repo_guard_run(w->guard, w->repo, guard_put, w, report,
			      report_data, ret);
}

const char *drfs_writer_error(struct drfs_writer *w)
{
	const char *m;
	pthread_mutex_lock(&w->lock);
	m = w->errmsg[0] ? w->errmsg : NULL;
	pthread_mutex_unlock(&w->lock);
	return m;
}

void drfs_writer_get_stats(struct drfs_writer *w,
			   struct drfs_writer_stats *ret)
{
	pthread_mutex_lock(&w->lock);
	*ret = w->stats;
	pthread_mutex_unlock(&w->lock);
}

void drfs_writer_free(struct drfs_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	/* drop queued jobs; workers finish the one they hold */
	while (w->jobs_head) {
		struct job *j = w->jobs_head;
		w->jobs_head = j->next;
		if (j->ids)
			j->ids->pending--;
		free(j);
	}
	w->jobs_tail = NULL;
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->n_workers; i++)
		pthread_join(w->workers[i], NULL);
	for (int i = 0; i < w->n_uploaders; i++)
		pthread_join(w->uploaders[i], NULL);
	pack_free(w->open);
	for (struct pack *p = w->up_head, *n; p; p = n) {
		n = p->next;
		pack_free(p);
	}
	for (struct pack *p = w->done, *n; p; p = n) {
		n = p->next;
		pack_free(p);
	}
	set_clear(w);
	jobs_free(w->trees);
	free(w->workers);
	repo_guard_free(w->guard);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
