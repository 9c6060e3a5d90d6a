/* SPDX-License-Identifier: MIT */
/*
 * background.c - the background threads: the chunker and the index syncer.
 * nowint.h has the layout and the locks.
 */
#include "nowint.h"

/* ---- background work --------------------------------------------------- */

#define FULL_SCAN_EVERY 5.0 /* seconds between scans of every staged file */

/* Whether ino is an idle staged file whose extents are stale. */
static bool stale_idle(struct drfs_now *n, struct drfs_txn *t, uint64_t ino,
		       struct rec *r)
{
	return !now_ofile_find(n, ino) && now_rec_get(t, ino, r) >= 0 &&
	       (r->flags & I_STALE) && !(r->flags & I_ORPHAN);
}

/*
 * An idle staged file whose extents are stale. Files closed since the last
 * call come first (stale_q); the whole staged set is scanned only every
 * FULL_SCAN_EVERY seconds (it may hold thousands of files while a copy
 * runs: scanning it for every file would be quadratic, under n->lock).
 * Under n->lock.
 */
static int pick_stale(struct drfs_now *n, uint64_t *ret_ino, uint64_t *ret_gen)
{
	struct drfs_txn *t;
	struct ino_list staged = { 0 };
	struct rec r;
	int e = now_txn(n, false, &t);
	if (e < 0)
		return e;
	int found = 0;
	while (n->stale_q.n && !found) {
		uint64_t ino = n->stale_q.v[--n->stale_q.n];
		found = stale_idle(n, t, ino, &r);
	}
	if (!found && drfs_now_mono() - n->full_scan >= FULL_SCAN_EVERY) {
		e = now_set_list(t, 'S', &staged);
		for (size_t i = 0; e >= 0 && i < staged.n; i++) {
			if (stale_idle(n, t, staged.v[i], &r) &&
			    now_ino_list_push(&n->stale_q, staged.v[i]) < 0)
				break;
		}
		if (e >= 0)
			n->full_scan = drfs_now_mono();
		while (n->stale_q.n && !found) {
			uint64_t ino = n->stale_q.v[--n->stale_q.n];
			found = stale_idle(n, t, ino, &r);
		}
	}
	if (found) {
		*ret_ino = r.ino;
		*ret_gen = r.gen;
	}
	drfs_txn_abort(t);
	free(staged.v);
	return e < 0 ? e : found;
}

void *now_bg_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-chunk");
	struct drfs_now *n = arg;
	struct chunked batch[APPLY_BATCH];
	double idle_since = drfs_now_mono();
	pthread_mutex_lock(&n->lock);
	n->batch = batch;
	while (!n->bg_quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&n->bg_cond, &n->lock, &ts);
		if (n->bg_quit)
			break;
		if (n->o.snapshot_every > 0 &&
		    drfs_now_mono() - n->last_snap_mono >=
			    n->o.snapshot_every) {
			struct drfs_now_snapshot_opts so = { 0 };
			so.if_changed = true;
			char folder[DRFS_FOLDER_BUF];
			n->last_snap_mono = drfs_now_mono();
			pthread_mutex_unlock(&n->lock);
			int e = drfs_now_snapshot(n, &so, folder);
			if (n->o.on_snapshot)
				n->o.on_snapshot(n->o.on_snapshot_data, e,
						 e > 0 ? folder : "");
			pthread_mutex_lock(&n->lock);
			continue;
		}
		uint64_t ino = 0, gen = 0;
		while (!n->bg_quit && pick_stale(n, &ino, &gen) > 0) {
			struct drfs_extent_vec x = { 0 };
			uint64_t size;
			if (now_in_batch(n, ino))
				continue; /* chunked, waiting to be recorded */
			n->chunking = ino;
			n->chunk_abort = false;
			int fd = now_staging_open(n, ino, O_RDONLY, NULL);
			pthread_mutex_unlock(&n->lock);
			uint64_t wgen = 0;
			int e = fd < 0 ? -errno
				       : now_chunk_fd(n, fd, &x, &size, &wgen,
						      &n->chunk_abort);
			if (fd >= 0)
				close(fd);
			pthread_mutex_lock(&n->wlock);
			uint64_t epoch = n->flush_epoch;
			if (wgen != n->wgen)
				e = -EIO; /* its writer failed: chunks lost */
			pthread_mutex_unlock(&n->wlock);
			pthread_mutex_lock(&n->lock);
			bool aborted = n->chunk_abort || e < 0;
			if (!aborted) {
				n->batch[n->nbatch++] = (struct chunked){
					ino, gen, size, epoch, wgen, x };
				x = (struct drfs_extent_vec){ 0 };
			}
			n->chunking = 0;
			free(x.v);
			idle_since = drfs_now_mono();
			if (n->nbatch == APPLY_BATCH)
				now_apply_batch(n);
			if (aborted)
				break; /* let the writer or commit go first */
		}
		now_apply_batch(n);
		/* not under wlock: a flush holds it while it waits */
		uint64_t pend = atomic_load(&n->pend_bytes);
		bool full = n->o.cache_size &&
			    n->staged_bytes > n->o.cache_size / 2;
		/* memory staging half full: flush, so that it can be freed */
		full = full || (n->mem && (n->mem_n >= n->mem_max / 2 ||
					   n->mem_bytes >= MEM_BYTES_MAX / 2));
		if ((pend && (pend >= SYNC_PENDING_BYTES ||
			      drfs_now_mono() - idle_since >= 5)) ||
		    (full && !n->space_stuck)) {
			now_make_durable(n, true);
			idle_since = drfs_now_mono();
		}
	}
	n->batch = NULL; /* empty: every pass ends with now_apply_batch */
	pthread_mutex_unlock(&n->lock);
	return NULL;
}
