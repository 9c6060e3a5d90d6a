/* SPDX-License-Identifier: MIT */
/*
 * chunking.c - chunking staged files into blobs and recording their extents.
 * nowint.h has the layout and the locks.
 */
#include "nowint.h"

/* ---- chunking ------------------------------------------------------------ */

struct put_ctx {
	struct drfs_now *n;
	struct drfs_extent_vec *x;
	bool defer;                 /* ids computed by the writer's workers */
	struct drfs_writer_ids ids; /* then x->v[i]'s id: ids.v[i] */
	uint64_t wgen;              /* n->wgen at the first put */
	bool put;
};

/*
 * Hand a chunk to the writer. A file staged on disk (past MEM_FILE_MAX)
 * has its chunks hashed by the writer's workers (this thread only cuts:
 * the chunker is the pipeline's one serial stage, docs/now.md) and its
 * extents get their ids in put_wait; a small file's chunk is hashed here
 * (waiting for a worker per file cost ~100 µs of CPU per small file).
 */
static int put_chunk(void *ud, const uint8_t *p, size_t len, uint64_t off)
{
	struct put_ctx *c = ud;
	struct drfs_now *n = c->n;
	struct drfs_id id = { 0 };
	int e;
	if (!c->defer)
		drfs_blob_id(&n->r->keys, p, len, &id);
	pthread_mutex_lock(&n->wlock);
	if (!c->put) {
		c->put = true;
		c->wgen = n->wgen;
	}
	if (!n->w || c->wgen != n->wgen) {
		e = -EIO; /* the writer failed: what it had is lost */
	} else if (c->defer) {
		e = drfs_writer_put_deferred(n->w, DRFS_BLOB_DATA, p, len,
					     &c->ids);
	} else {
		e = drfs_writer_put(n->w, DRFS_BLOB_DATA, &id, p, len);
		if (e > 0) {
			n->pend_blobs++;
			n->pend_bytes += len;
		}
	}
	pthread_mutex_unlock(&n->wlock);
	return e < 0 ? e : drfs_extent_vec_push(c->x, off, (uint32_t)len, &id);
}

/* Wait for the ids of c's chunks and fill them in. */
static int put_wait(struct put_ctx *c, int e)
{
	struct drfs_now *n = c->n;
	if (!c->put || !c->defer)
		return e;
	pthread_mutex_lock(&n->wlock);
	/* a writer replaced meanwhile joined its workers: nothing pending */
	int e2 = c->wgen == n->wgen && n->w
			 ? drfs_writer_ids_wait(n->w, &c->ids)
			 : -EIO;
	n->pend_blobs += c->ids.fresh;
	n->pend_bytes += c->ids.fresh_bytes;
	pthread_mutex_unlock(&n->wlock);
	e = e < 0 ? e : e2;
	for (size_t i = 0; e >= 0 && i < c->x->n; i++)
		c->x->v[i].id = c->ids.v[i];
	drfs_writer_ids_free(&c->ids);
	return e;
}

/*
 * Chunk fd exactly as a backup would (drfs_chunk_fd). abort (may be NULL)
 * is polled between reads. ret_wgen (may be NULL): the n->wgen of the
 * writer its chunks went to (n->wgen now if there were none).
 */
int now_chunk_fd(struct drfs_now *n, int fd, struct drfs_extent_vec *x,
		 uint64_t *ret_size, uint64_t *ret_wgen, atomic_bool *abort)
{
	struct put_ctx pc = { .n = n, .x = x };
	struct drfs_chunk_fd c = {
		.chunker = &n->r->chunker,
		.win_cap = 2 * (size_t)n->r->config.chunker.max,
		.emit = put_chunk,
		.ud = &pc,
		.abort = abort,
	};
	struct stat st;
	uint64_t last;

	if (fstat(fd, &st) < 0)
		return -errno;
	/*
	 * A file smaller than the window fits whole: a window of its size
	 * cuts the same chunks and, unlike 2 * max (8 MiB, past the mmap
	 * threshold), comes from the heap instead of an mmap and munmap per
	 * small file.
	 */
	if ((uint64_t)st.st_size < c.win_cap)
		c.win_cap = MAX((size_t)st.st_size, 1);
	if (!(c.win = malloc(c.win_cap)))
		return -ENOMEM;
	pc.defer = (uint64_t)st.st_size > MEM_FILE_MAX;
	int e = drfs_chunk_fd(&c, fd, (uint64_t)st.st_size, &last);
	free(c.win);
	e = put_wait(&pc, e);
	*ret_size = (uint64_t)st.st_size;
	if (ret_wgen)
		*ret_wgen = pc.put ? pc.wgen : atomic_load(&n->wgen);
	return e;
}

/* Record extents of a chunked staging file. Under n->lock. */
static int apply_chunked_in(struct drfs_txn *t, uint64_t ino, uint64_t gen,
			    const struct drfs_extent_vec *x, uint64_t size,
			    uint64_t epoch)
{
	struct rec r;
	int e = now_rec_get(t, ino, &r);
	if (e == -ENOENT || (e >= 0 && (r.gen != gen || !(r.flags & I_STAGED))))
		return -ESTALE; /* gone or changed, nothing written: go on */
	e = e < 0 ? e : now_ext_clear(t, ino);
	r.blocks = 0;
	for (size_t i = 0; e >= 0 && i < x->n; i++) {
		e = now_ext_put(t, ino, &x->v[i]);
		r.blocks += x->v[i].len;
	}
	if (e >= 0) {
		uint8_t k[9] = { 'S' }, v[8];
		now_put_be64(k + 1, ino);
		drfs_put_le64(v, epoch);
		r.size = size;
		r.flags = (r.flags & ~I_STALE) | I_PENDING;
		e = now_rec_put(t, &r);
		e = e < 0 ? e : drfs_kv_put(t, DRFS_DB_NOW_META, k, 9, v, 8);
	}
	return e;
}

static int apply_chunked(struct drfs_now *n, uint64_t ino, uint64_t gen,
			 const struct drfs_extent_vec *x, uint64_t size,
			 uint64_t epoch)
{
	struct drfs_txn *t = NULL; /* begin leaves it alone on failure */
	int e = now_txn(n, true, &t);
	e = e < 0 ? e : apply_chunked_in(t, ino, gen, x, size, epoch);
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	return e;
}

/*
 * Record n->batch in one transaction (a file changed since it was chunked
 * is left stale, as apply_chunked would); if that transaction fails, one
 * each. Empties the batch. Under n->lock.
 */
void now_apply_batch(struct drfs_now *n)
{
	struct chunked *b = n->batch;
	struct drfs_txn *t = NULL;
	if (!n->nbatch)
		return;
	int e = now_txn(n, true, &t);
	/*
	 * A writer that failed since an entry's chunks went to it lost them:
	 * the file stays stale (its flush's record phase cannot see entries
	 * not yet applied, and it no longer holds n->lock while it flushes)
	 */
	for (size_t i = 0; i < n->nbatch; i++)
		if (b[i].wgen != atomic_load(&n->wgen))
			b[i].ino = 0;
	for (size_t i = 0; e >= 0 && i < n->nbatch; i++) {
		if (!b[i].ino)
			continue; /* cancelled */
		e = apply_chunked_in(t, b[i].ino, b[i].gen, &b[i].x, b[i].size,
				     b[i].epoch);
		e = e == -ESTALE ? 0 : e;
	}
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	for (size_t i = 0; i < n->nbatch; i++) {
		if (e < 0 && b[i].ino)
			apply_chunked(n, b[i].ino, b[i].gen, &b[i].x,
				      b[i].size, b[i].epoch);
		free(b[i].x.v);
	}
	n->nbatch = 0;
}

bool now_in_batch(const struct drfs_now *n, uint64_t ino)
{
	for (size_t i = 0; i < n->nbatch; i++)
		if (n->batch[i].ino == ino)
			return true;
	return false;
}

/* Chunk one staged file now (commit path; freeze held). Under n->lock. */
int now_chunk_now(struct drfs_now *n, struct rec *r)
{
	struct drfs_extent_vec x = { 0 };
	uint64_t size;
	struct ofile *of = now_ofile_find(n, r->ino);
	int fd;
	if (of && of->fd >= 0)
		fd = dup(of->fd);
	else
		fd = now_staging_open(n, r->ino, O_RDONLY, NULL);
	if (fd < 0)
		return -errno;
	int e = now_chunk_fd(n, fd, &x, &size, NULL, NULL);
	close(fd);
	pthread_mutex_lock(&n->wlock);
	uint64_t epoch = n->flush_epoch;
	pthread_mutex_unlock(&n->wlock);
	e = e < 0 ? e : apply_chunked(n, r->ino, r->gen, &x, size, epoch);
	/*
	 * No longer stale: an open file's next write must mark it again (a
	 * gc's live tree, or a build that failed later, left it "marked" and
	 * that write's bytes never reached a snapshot, then were unstaged)
	 */
	if (e >= 0 && of)
		of->marked = false;
	free(x.v);
	return e;
}

/* Until no now_make_durable runs. Under n->lock (let go while waiting). */
void now_flush_wait(struct drfs_now *n)
{
	while (n->flushing)
		pthread_cond_wait(&n->flush_cond, &n->lock);
}

static int make_durable(struct drfs_now *n, bool unlock);

/*
 * Flush the writer; then staged files whose chunks that flush covered, and
 * any other whose extents are durable, stop being staged unless open
 * (their staging is dropped). If the flush fails, the blobs handed to the
 * writer may be lost: files whose extents reference them become stale
 * again, and what the background thread is chunking is not recorded.
 * Under n->lock; with unlock, n->lock is let go while the flush waits for
 * the uploads (the rest of now/ goes on meanwhile). One at a time: a
 * second call waits for the first to record its flags, or a successful
 * flush could clear I_PENDING of files whose blobs a failed one lost.
 */
int now_make_durable(struct drfs_now *n, bool unlock)
{
	now_flush_wait(n);
	n->flushing = true;
	int e = make_durable(n, unlock);
	n->flushing = false;
	pthread_cond_broadcast(&n->flush_cond);
	return e;
}

static int make_durable(struct drfs_now *n, bool unlock)
{
	struct drfs_txn *t;
	struct ino_list staged = { 0 }, drop = { 0 };
	uint64_t done;
	int e;

	now_apply_batch(
		n); /* its blobs are in the writer: the flush covers them */
	if (unlock)
		pthread_mutex_unlock(&n->lock);
	pthread_mutex_lock(&n->wlock);
	e = n->w ? drfs_writer_flush(n->w) : -EIO;
	if (e < 0) {
		/* the writer is dead: blobs handed to it may be lost */
		const char *why = n->w ? drfs_writer_error(n->w) : NULL;
		drfs_repo_set_last_error("%s", why ? why : drfs_strerror(e));
		drfs_writer_free(n->w);
		n->w = NULL;
		drfs_writer_new(n->r, &n->w);
		n->wgen++; /* chunks put into it are lost: put_wait */
	} else {
		n->flush_epoch++;
		n->pend_blobs = n->pend_bytes = 0;
	}
	done = n->flush_epoch;
	pthread_mutex_unlock(&n->wlock);
	if (unlock)
		pthread_mutex_lock(&n->lock);
	if (e < 0 && n->chunking)
		n->chunk_abort = true;

	int e2 = now_txn(n, true, &t);
	if (e2 < 0)
		return e < 0 ? e : e2;
	e2 = now_set_list(t, 'S', &staged);
	for (size_t i = 0; e2 >= 0 && i < staged.n; i++) {
		struct rec r;
		uint8_t k[9] = { 'S' }, v[8];
		if (now_rec_get(t, staged.v[i], &r) < 0)
			continue;
		uint32_t flags = r.flags;
		if (r.flags & I_PENDING) {
			now_put_be64(k + 1, staged.v[i]);
			int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, k, 9, v,
						  8);
			uint64_t ep = l == 8 ? drfs_get_le64(v) : UINT64_MAX;
			if (e < 0) {
				r.flags = (r.flags & ~I_PENDING) | I_STALE;
				n->full_scan = 0;
			} else if (ep < done) {
				r.flags &= ~I_PENDING;
			}
		}
		/* durable and closed (perhaps since an earlier flush) */
		if (!(r.flags & (I_STALE | I_PENDING | I_ORPHAN)) &&
		    (r.flags & I_STAGED) && !now_ofile_find(n, r.ino)) {
			e2 = now_unstage(t, &r);
			e2 = e2 < 0 ? e2 : now_ino_list_push(&drop, r.ino);
		}
		if (e2 >= 0 && r.flags != flags)
			e2 = now_rec_put(t, &r);
	}
	if (e2 >= 0)
		e2 = now_commit(n, t);
	else
		drfs_txn_abort(t);
	if (e2 >= 0) {
		for (size_t i = 0; i < drop.n; i++)
			now_unlink_staging(n, drop.v[i]);
		if (n->unl.n)
			now_unlinks_flush(
				n); /* frees space now, after a sync */
	}
	/* the exact size of what stays staged, and of what can be freed */
	uint64_t total = 0, freeable = 0, in_mem = 0;
	for (size_t i = 0; i < staged.n; i++) {
		struct stat fs;
		if (now_staging_stat(n, staged.v[i], &fs) < 0)
			continue;
		total += (uint64_t)fs.st_blocks * 512;
		if (now_mem_find(n, staged.v[i]))
			in_mem += (uint64_t)fs.st_blocks * 512;
		if (!now_ofile_find(n, staged.v[i]))
			freeable += (uint64_t)fs.st_blocks * 512;
	}
	n->staged_bytes = total;
	n->mem_bytes = in_mem;
	/* writers wait for space only while closed files can be freed */
	n->space_stuck = n->o.cache_size && total > n->o.cache_size &&
			 freeable == 0;
	free(staged.v);
	free(drop.v);
	pthread_cond_broadcast(&n->bg_cond);
	return e < 0 ? e : e2;
}
