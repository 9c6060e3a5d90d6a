/* SPDX-License-Identifier: MIT */
/*
 * now.c - opening and freeing now/. nowint.h has the layout and the locks.
 */
#include "nowint.h"

/* ---- open and free ------------------------------------------------------- */

/* Chunk every memfd-staged file whose extents are stale. Under n->lock. */
static void mem_drain(struct drfs_now *n)
{
	struct ino_list l = { 0 };
	for (size_t i = 0; n->mem && i < MEM_SLOTS; i++)
		if (n->mem[i].ino && now_ino_list_push(&l, n->mem[i].ino) < 0)
			break;
	for (size_t i = 0; n->w && i < l.n; i++) {
		struct drfs_txn *t;
		struct rec r;
		if (now_txn(n, false, &t) < 0)
			break;
		int g = now_rec_get(t, l.v[i], &r);
		drfs_txn_abort(t);
		if (g >= 0 && (r.flags & I_STAGED) && (r.flags & I_STALE) &&
		    !(r.flags & I_ORPHAN))
			now_chunk_now(n, &r);
	}
	free(l.v);
}

/*
 * What is still in memory after the last flush (it failed, or the file is
 * still open) goes to staging files, fsync'd, for the next mount. Returns
 * how many files could not be written there (they are lost). Under
 * n->lock.
 */
static size_t mem_spill_all(struct drfs_now *n)
{
	size_t failed = 0;
	for (size_t i = 0; n->mem && i < MEM_SLOTS;) {
		uint64_t ino = n->mem[i].ino;
		if (ino &&
		    now_spill(n, ino, now_ofile_find(n, ino), true) < 0) {
			failed++;
			now_mem_remove(n, ino);
		}
		/* a removal may have shifted another entry into slot i */
		if (!n->mem[i].ino || n->mem[i].ino == ino)
			i++;
	}
	return failed;
}

static bool in_lineage(const struct drfs_now *n, const struct drfs_snapshot *s)
{
	return strcmp(s->host, n->host) == 0 && strcmp(s->path, n->path) == 0;
}

/*
 * Whether NOW_META has the key tag | id: 'K' snapshot id was seen by now/
 * already, 'F' now/ was started from it by --from (it counts as now/'s
 * lineage until a snapshot of its own is taken).
 */
static bool meta_has(struct drfs_now *n, char tag, const struct drfs_id *id)
{
	struct drfs_txn *t;
	uint8_t k[1 + DRFS_ID_LEN] = { (uint8_t)tag };
	memcpy(k + 1, id->b, DRFS_ID_LEN);
	int e = now_txn(n, false, &t);
	if (e >= 0) {
		e = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, k, sizeof(k), NULL,
				      0);
		drfs_txn_abort(t);
	}
	return e != -ENOENT;
}

/* Whether snapshot id is gone without a forget record (docs/rollback.md). */
static bool vanished(struct drfs_now *n, const struct drfs_id *id)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_id v;
	return drfs_repo_vanished_find(n->r, drfs_id_hex(id, hex), &v) == 0;
}

/* Whether now/'s last snapshot si is of its lineage, or its --from one. */
static bool ours(struct drfs_now *n, const struct drfs_snap_info *si)
{
	return in_lineage(n, &si->snap) || meta_has(n, 'F', &si->id);
}

static int load_or_reset(struct drfs_now *n)
{
	struct drfs_txn *t;
	struct drfs_snap_info *all = NULL;
	size_t n_all = 0;
	struct rec root;
	int e = now_txn(n, false, &t);
	if (e < 0)
		return e;
	e = now_state_get(t, &n->st);
	if (e >= 0)
		e = now_rec_get(t, DRFS_NOW_ROOT, &root);
	drfs_txn_abort(t);
	if (e < 0 && e != -ENOENT)
		return e;
	bool fresh = e == -ENOENT;
	int se = drfs_repo_snapshots(n->r, &all, &n_all);
	if (se < 0)
		return se;
	/* the head of now/'s lineage, the --from snapshot, now/'s last one */
	const struct drfs_snap_info *head = NULL, *from = NULL, *last = NULL;
	for (size_t i = n_all; i-- > 0;) {
		if (!head && in_lineage(n, &all[i].snap))
			head = &all[i];
		if (n->o.from && drfs_id_eq(&all[i].id, n->o.from))
			from = &all[i];
		if (!fresh && drfs_id_eq(&all[i].id, &n->st.last))
			last = &all[i];
	}
	if (n->o.from && !from) {
		e = -ENOENT;
	} else if (fresh) {
		e = now_reset_state(n, from ? from : head);
	} else if (from && (root.flags & I_DIRTY)) {
		if (!drfs_id_eq(&from->id, &n->st.last)) {
			log_err("now/ has changes that no snapshot holds yet: "
				"mount without --from (or snapshot them "
				"first) rather than drop them");
			e = -EBUSY;
		}
	} else if (from) {
		if (!drfs_id_eq(&from->id, &n->st.last))
			e = now_reset_state(n, from);
	} else if (root.flags & I_DIRTY) {
		/* changes no snapshot holds: they stay */
	} else if (!last && !drfs_id_is_zero(&n->st.last) &&
		   !vanished(n, &n->st.last)) {
		/*
		 * clean, and its last snapshot was forgotten since: a prune
		 * may have deleted the data of its tree, which a snapshot of
		 * now/ would then name. Start over from the lineage's newest,
		 * or empty. (One gone without a forget record, a rollback,
		 * leaves now/ as it is: it may be the only copy of that tree.)
		 */
		e = now_reset_state(n, head);
	} else if (head && !drfs_id_eq(&head->id, &n->st.last) &&
		   ((last && !ours(n, last)) || !meta_has(n, 'K', &head->id))) {
		/* clean: follow a newer snapshot of the lineage (made
		 * through another cache), or leave another lineage's */
		e = now_reset_state(n, head);
	} else if (!head && last && !ours(n, last)) {
		e = now_reset_state(n, NULL);
	}
	/* remember every snapshot seen, so only new ones are followed, and
	 * the one --from started now/ from ('F' after the 'K's) */
	if (e >= 0 && n_all)
		e = now_txn(n, true, &t);
	for (size_t i = 0; e >= 0 && n_all && i <= n_all + 1; i++) {
		if (i == n_all + 1) {
			e = now_commit(n, t);
			break;
		}
		if (i == n_all && !from)
			continue;
		const struct drfs_snap_info *si = i < n_all ? &all[i] : from;
		uint8_t k[1 + DRFS_ID_LEN] = { i < n_all ? 'K' : 'F' };
		memcpy(k + 1, si->id.b, DRFS_ID_LEN);
		e = drfs_kv_put(t, DRFS_DB_NOW_META, k, sizeof(k), "", 0);
		if (e < 0)
			drfs_txn_abort(t);
	}
	free(all);
	return e;
}

/*
 * The memfd table. Each memfd-staged file holds a descriptor, so its size
 * follows RLIMIT_NOFILE (raised to the hard limit): at most a quarter of
 * it. Without the table every file is staged on disk.
 */
static void mem_init(struct drfs_now *n)
{
	struct rlimit rl;
	if (n->o.no_mem_staging || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	n->mem_max = MIN((size_t)MEM_FILES_MAX, (size_t)(rl.rlim_cur / 4));
	if (n->mem_max < 64)
		return;
	n->mem = calloc(MEM_SLOTS, sizeof(*n->mem));
}

/*
 * Group commit of metadata (docs/now.md, "Group commit"): replay what the
 * log holds of a group the last daemon did not commit, then start the
 * index's group, unless DRFS_GROUP_COMMIT=0. Then the log is still
 * replayed (and its group counted as committed), so that a later session
 * with group commit never applies those records over newer changes.
 */
static int group_start(struct drfs_now *n)
{
	const char *env = getenv("DRFS_GROUP_COMMIT");
	char p[PATH_MAX];
	uint64_t replayed = 0;
	bool off = env && !strcmp(env, "0");
	snprintf(p, sizeof(p), "%s/now.log", n->r->cache_dir);
	if (off && access(p, F_OK) < 0)
		return 0;
	int e = drfs_index_group_start(n->r->index, p, &replayed);
	if (e == -EPROTO) {
		drfs_repo_set_last_error(
			"\"%s\" is of another format (written by another "
			"version of drfs): mount with that version once, "
			"which commits it; removing it loses the now/ "
			"operations of the session it logged", p);
		return e;
	}
	if (e < 0) {
		drfs_repo_set_last_error("cannot replay \"%s\": %s", p,
					 strerror(-e));
		return e;
	}
	n->replayed = replayed;
	if (off)
		drfs_index_group_stop(n->r->index);
	else
		n->group = true;
	return 0;
}

uint64_t drfs_now_replayed(const struct drfs_now *n)
{
	return n->replayed;
}

int drfs_now_open(struct drfs_repo *r, const struct drfs_now_opts *o,
		  struct drfs_now **ret)
{
	struct drfs_now *n = calloc(1, sizeof(*n));
	int e;
	if (!n)
		return -ENOMEM;
	n->r = r;
	if (o)
		n->o = *o;
	if (n->o.host)
		snprintf(n->host, sizeof(n->host), "%s", n->o.host);
	else
		drfs_hostname(n->host, sizeof(n->host));
	snprintf(n->path, sizeof(n->path), "%s",
		 n->o.path ? n->o.path : "now");
	if (asprintf(&n->staging, "%s/staging", r->cache_dir) < 0) {
		free(n);
		return -ENOMEM;
	}
	if (mkdir(n->staging, 0700) < 0 && errno != EEXIST) {
		e = -errno;
		free(n->staging);
		free(n);
		return e;
	}
	mem_init(n);
	pthread_mutex_init(&n->commit_mx, NULL);
	pthread_rwlock_init(&n->freeze, NULL);
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->flush_cond, NULL);
	pthread_mutex_init(&n->wlock, NULL);
	pthread_mutex_init(&n->glock, NULL);
	pthread_cond_init(&n->bg_cond, NULL);
	pthread_mutex_init(&n->synclock, NULL);
	pthread_cond_init(&n->syncer_cond, NULL);
	e = drfs_index_set_nosync(r->index, true);
	e = e < 0 ? e : group_start(n);
	atomic_store(&n->direct, true);
	e = e < 0 ? e : load_or_reset(n);
	n->o.from = NULL; /* the caller's, valid during open only */
	e = e < 0 ? e : now_recover(n);
	atomic_store(&n->direct, false);
	e = e < 0 ? e : drfs_writer_new(r, &n->w);
	if (e >= 0) {
		n->last_snap_mono = drfs_now_mono();
		e = -pthread_create(&n->bg, NULL, now_bg_main, n);
		n->bg_started = e == 0;
	}
	if (e >= 0) {
		e = -pthread_create(&n->syncer, NULL, now_syncer_main, n);
		n->syncer_started = e == 0;
	}
	if (e < 0) {
		drfs_now_free(n);
		return e;
	}
	*ret = n;
	return 0;
}

int drfs_now_stop(struct drfs_now *n)
{
	if (n->stopped)
		return n->stop_result;
	if (n->bg_started) {
		pthread_mutex_lock(&n->lock);
		n->bg_quit = true;
		n->chunk_abort = true;
		pthread_cond_broadcast(&n->bg_cond);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->bg, NULL);
		n->bg_started = false;
	}
	if (n->syncer_started) {
		pthread_mutex_lock(&n->lock);
		n->syncer_quit = true;
		pthread_cond_broadcast(&n->syncer_cond);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->syncer, NULL);
		n->syncer_started = false;
	}
	pthread_mutex_lock(&n->lock);
	/* a failed commit of the group: the sync below says so */
	drfs_index_group_flush(n->r->index);
	atomic_store(&n->direct, true);
	mem_drain(n);
	int e = n->w ? now_make_durable(n, false) : -EIO;
	size_t lost = mem_spill_all(n);
	int e2 = now_unlinks_flush(n);
	pthread_mutex_unlock(&n->lock);
	if (lost) {
		drfs_repo_set_last_error(
			"%zu file%s staged in memory could not be written to "
			"\"%s\" and %s lost", lost, lost == 1 ? "" : "s",
			n->staging, lost == 1 ? "is" : "are");
		e = -EIO;
	}
	n->stopped = true;
	n->stop_result = e < 0 ? e : e2 < 0 ? e2 : 0;
	return n->stop_result;
}

void drfs_now_free(struct drfs_now *n)
{
	if (!n)
		return;
	drfs_now_stop(n);
	if (n->group)
		drfs_index_group_stop(n->r->index);
	drfs_index_set_nosync(n->r->index, false);
	drfs_writer_free(n->w);
	while (n->ofiles) {
		struct ofile *of = n->ofiles;
		n->ofiles = of->next;
		if (of->fd >= 0)
			close(of->fd);
		free(of);
	}
	pthread_mutex_destroy(&n->commit_mx);
	pthread_rwlock_destroy(&n->freeze);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->flush_cond);
	pthread_mutex_destroy(&n->wlock);
	pthread_mutex_destroy(&n->glock);
	pthread_cond_destroy(&n->bg_cond);
	pthread_mutex_destroy(&n->synclock);
	pthread_cond_destroy(&n->syncer_cond);
	now_mem_clear(n);
	free(n->mem);
	free(n->unl.v);
	free(n->redirty.v);
	free(n->stale_q.v);
	free(n->staging);
	free(n);
}
