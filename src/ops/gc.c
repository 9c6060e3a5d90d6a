/* SPDX-License-Identifier: MIT */
/*
 * gc.c - garbage collection: sync, mark, account, repack, rewrite the index,
 * delete or defer (steps 1-6 of pruneint.h). pruneint.h has what the rooms
 * of prune share.
 */
#include "pruneint.h"

/* ---- gc ------------------------------------------------------------------ */

struct doomed_ctx {
	struct gpacks *packs;
};

struct verify_ctx {
	struct drfs_txn *t;
	uint64_t lost;
};

static int verify_one(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct verify_ctx *v = userdata;
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	int e = drfs_repo_blob_doomed(v->t, key);
	if (e == -ENOENT || e == 1)
		v->lost++;
	else if (e < 0)
		return e;
	return 0;
}

/* Every marked blob still has a location in a pack that stays. */
static int verify_marked_indexed(struct drfs_repo *r)
{
	struct verify_ctx v = { 0 };
	int e = drfs_txn_begin(r->index, false, &v.t);
	if (e < 0)
		return e;
	e = drfs_kv_scan(v.t, MARK_DB, NULL, 0, verify_one, &v);
	drfs_txn_abort(v.t);
	if (e >= 0 && v.lost)
		e = -EIO;
	return e;
}

static int want_gone_blob(void *ud, const struct drfs_id *key,
			  const void *val, size_t vlen)
{
	struct doomed_ctx *d = ud;
	struct drfs_blob_loc loc;
	(void)key;
	if (drfs_index_blob_decode(val, vlen, &loc) < 0)
		return 0;
	struct gpack *g = gc_gpack_find(d->packs, loc.pack_seq);
	return g && g->gone_now;
}

int gc_want_all(void *ud, const struct drfs_id *key, const void *val,
		size_t vlen)
{
	(void)ud;
	(void)key;
	(void)val;
	(void)vlen;
	return 1;
}

/* The deletion records of the cache and whether this run may finish them. */
struct records {
	struct drfs_deletion_info *v;
	bool *eligible;
	size_t n;
	struct drfs_doomed *pairs; /* sorted by pack, then record */
	size_t n_pairs;
	struct drfs_lock_holder *holders; /* live, other processes */
	size_t n_holders;
};

static void records_free(struct records *rs)
{
	free(rs->v);
	free(rs->eligible);
	free(rs->pairs);
	free(rs->holders);
}

static size_t record_index(const struct records *rs, const struct drfs_id *id)
{
	for (size_t i = 0; i < rs->n; i++)
		if (drfs_id_eq(&rs->v[i].id, id))
			return i;
	return SIZE_MAX;
}

/* Name a holder deletions wait for in res->waiting (once; "a; b"). */
static void waiting_add(struct drfs_gc_result *res,
			const struct drfs_lock_holder *h)
{
	char d[700];
	size_t l = strlen(res->waiting);
	if (strstr(res->waiting, h->object))
		return;
	drfs_lock_holder_describe(h, d, sizeof(d));
	snprintf(res->waiting + l, sizeof(res->waiting) - l, "%s%s",
		 l ? "; " : "", d);
}

/*
 * Load the records and the live holders. A record may be finished when
 * every live holder of another process has acknowledged it (all of them,
 * not only those live when it was written: a mount that started since
 * may still hold now/ data in its packs until it has rescued it); with an
 * exclusive lock nobody else is live. The holders it waits for go to res.
 */
static int records_load(struct drfs_repo *r, const struct drfs_gc_opts *o,
			struct records *rs, struct drfs_gc_result *res)
{
	struct drfs_lock_holder *all = NULL;
	size_t n_all = 0;
	int e = drfs_repo_deletions(r, &rs->v, &rs->n);
	e = e ?: drfs_repo_doomed_packs(r, &rs->pairs, &rs->n_pairs);
	if (e >= 0 && o->deferred)
		e = drfs_lock_holders(r, &all, &n_all);
	if (e < 0)
		return e;
	rs->eligible = calloc(rs->n + 1, sizeof(*rs->eligible));
	rs->holders = calloc(n_all + 1, sizeof(*rs->holders));
	if (!rs->eligible || !rs->holders) {
		free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_all; i++)
		if (!all[i].own)
			rs->holders[rs->n_holders++] = all[i];
	free(all);
	for (size_t i = 0; i < rs->n; i++) {
		rs->eligible[i] = true;
		for (size_t h = 0; h < rs->n_holders; h++) {
			if (drfs_lock_holder_acked(&rs->holders[h],
						   &rs->v[i].id))
				continue;
			rs->eligible[i] = false;
			waiting_add(res, &rs->holders[h]);
		}
		if (rs->eligible[i])
			res->records_completed++;
		else
			res->records_pending++;
	}
	return 0;
}

/* Mark the packs the records doom: in_record, pending. */
static void records_classify(const struct records *rs, struct gpacks *packs)
{
	for (size_t i = 0; i < packs->n; i++) {
		struct gpack *p = &packs->v[i];
		size_t lo = 0, hi = rs->n_pairs;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (memcmp(rs->pairs[mid].pack.b, p->id.b,
				   DRFS_ID_LEN) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < rs->n_pairs &&
		       drfs_id_eq(&rs->pairs[lo].pack, &p->id); lo++) {
			size_t ri = record_index(rs, &rs->pairs[lo].record);
			p->in_record = true;
			if (ri == SIZE_MAX || !rs->eligible[ri])
				p->pending = true;
		}
	}
}

/* seconds for the upload of a lock object and the clocks' rounding */
#define RECENT_SLACK 5

struct recent_scan {
	int64_t since;
	struct gpacks *packs;
	struct drfs_txn *t;
};

static int recent_cb(const char *name, uint64_t size, int64_t mtime,
		     void *userdata)
{
	struct recent_scan *rs = userdata;
	struct drfs_id id;
	uint32_t seq;
	(void)size;
	if ((mtime && mtime < rs->since) || drfs_name_parse(name, "data", &id))
		return 0;
	if (drfs_index_pack_lookup(rs->t, &id, &seq, NULL) < 0)
		return 0; /* not known to this run: never touched anyway */
	struct gpack *g = gc_gpack_find(rs->packs, seq);
	if (g)
		g->recent = true;
	return 0;
}

/*
 * Packs a live writer may have uploaded and not referenced yet: those
 * stored since the lowest watermark of the live holders that upload
 * (a backup's start, a mount's last snapshot), in the storage's clock.
 * They are not candidates now: this only keeps more (the deferral keeps
 * everything safe anyway), so clocks never cost data. A backend that
 * cannot list times protects nothing.
 */
static int mark_recent(struct drfs_repo *r, const struct records *rs,
		       struct gpacks *packs, struct drfs_gc_result *res)
{
	struct recent_scan sc = { .since = INT64_MAX, .packs = packs };
	for (size_t i = 0; i < rs->n_holders; i++) {
		const struct drfs_lock_holder *h = &rs->holders[i];
		if (h->role == DRFS_ROLE_READER || h->watermark == INT64_MAX)
			continue;
		/* in the storage's clock when its lock object says how far
		 * the holder's is off, else allowing for any skew */
		int64_t w = h->offset != INT64_MIN
				    ? h->watermark + h->offset - RECENT_SLACK
				    : h->watermark - DRFS_CLOCK_SKEW_SECS;
		sc.since = MIN(sc.since, w);
	}
	if (sc.since == INT64_MAX)
		return 0;
	int e = drfs_txn_begin(r->index, false, &sc.t);
	if (e < 0)
		return e;
	e = drfs_backend_list_mtime(r->be, "data/", recent_cb, &sc);
	drfs_txn_abort(sc.t);
	if (e == -EOPNOTSUPP)
		return 0;
	for (size_t i = 0; e >= 0 && i < packs->n; i++)
		res->packs_recent += packs->v[i].recent;
	return e;
}

/*
 * Doom packs[i] where pick() says so: a deletion record (or several)
 * naming them, with the holders live now. Their ids go to res.
 */
static int write_records(struct gc *g, struct gpacks *packs,
			 const struct records *rs, struct drfs_gc_result *res)
{
	struct drfs_deletion hdr = { .time = (int64_t)time(NULL) };
	struct drfs_id *carry, *ids = NULL;
	size_t n = 0, n_ids = 0;
	carry = calloc(packs->n + 1, sizeof(*carry));
	if (!carry)
		return -ENOMEM;
	for (size_t i = 0; i < packs->n; i++) {
		struct gpack *p = &packs->v[i];
		if (p->action == P_REPACK ||
		    (p->action == P_DELETE && !p->in_record)) {
			carry[n++] = p->id;
			res->packs_deferred++;
			res->pack_bytes_deferred += p->length;
		}
	}
	if (g->o->holder)
		memcpy(hdr.prune, g->o->holder, sizeof(hdr.prune));
	for (size_t h = 0; h < rs->n_holders &&
			   hdr.n_holders < DRFS_DELETION_HOLDERS_MAX; h++)
		memcpy(hdr.holders[hdr.n_holders++], rs->holders[h].id,
		       DRFS_HOLDER_ID_LEN);
	int e = n ? drfs_repo_deletion_write(g->r, &hdr, carry, n, &ids,
					     &n_ids)
		  : 0;
	if (e < 0)
		gc_say(g->o->report, g->o->report_data,
		       "cannot write a deletion record: %s",
		       drfs_repo_last_error() ?: drfs_strerror(e));
	if (n_ids)
		res->record = ids[0];
	res->records_written = n_ids;
	/* it waits for every holder live now */
	for (size_t h = 0; n_ids && h < rs->n_holders; h++)
		waiting_add(res, &rs->holders[h]);
	free(ids);
	free(carry);
	return e;
}

/* 1. the repository as it is now: whole, or gc refuses to run */
static int sync_whole(struct drfs_repo *r, const struct drfs_gc_opts *o)
{
	int e = drfs_repo_sync(r, true);
	if (e < 0) {
		gc_say(o->report, o->report_data,
		       "%s: refusing to collect "
		       "garbage (run \"drfs check\")",
		       drfs_repo_last_error() ?: drfs_strerror(e));
		return e;
	}
	if (r->damaged) {
		gc_say(o->report, o->report_data,
		       "%u damaged or missing "
		       "object(s): refusing to collect garbage (run \"drfs "
		       "check\")",
		       r->damaged);
		return -EBADMSG;
	}
	return 0;
}

/*
 * 2. mark what the snapshots only[0..n_only) (NULL: every snapshot, read
 * into *snaps for the caller to free) and o->roots reach.
 */
static int mark_live(struct gc *g, const struct drfs_snap_info *only,
		     size_t n_only, struct drfs_snap_info **snaps,
		     struct gc_keepall *keep)
{
	size_t n_snaps = 0;
	int e = gc_delete_where(g->r, MARK_DB, gc_want_all, NULL);
	if (e < 0)
		return e;
	if (!only) {
		e = drfs_repo_snapshots(g->r, snaps, &n_snaps);
		if (e < 0)
			return e;
		only = *snaps;
		n_only = n_snaps;
	}
	for (size_t i = 0; e >= 0 && i < n_only; i++) {
		e = gc_mark_tree(g, &only[i].snap.root);
		if (e >= 0 && !drfs_id_is_zero(&only[i].snap.meta))
			e = gc_mark_tree(g, &only[i].snap.meta);
		if (g->o->progress)
			g->o->progress->files++;
	}
	for (size_t i = 0; e >= 0 && i < g->o->n_roots; i++)
		e = gc_mark_tree(g, &g->o->roots[i]);
	/* a marked blob with several copies: the one read first is good */
	return e ?: gc_settle_copies(g, keep);
}

/* 3. every pack with its live blobs and bytes (the marked ones) */
static int account(struct drfs_repo *r, struct gpacks *packs,
		   struct account *acc)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_index_packs_scan(t, gc_gpack_collect, packs);
	if (e >= 0 && packs->n)
		qsort(packs->v, packs->n, sizeof(*packs->v), gc_gpack_cmp_seq);
	acc->packs = packs;
	acc->t = t;
	e = e ?: drfs_index_blobs_scan(t, gc_account_blob, acc);
	e = e ?: drfs_index_alts_scan(t, gc_account_alt, acc);
	drfs_txn_abort(t);
	return e;
}

/*
 * 3. what becomes of each pack (P_*): deleted, repacked (the emptiest
 * until the unused bytes are at most max_unused of the live ones), kept,
 * or left to a holder. Counted in res; *ret_keep: the bytes of the packs
 * kept as they are.
 */
static int choose(struct gpacks *packs, double max_unused,
		  struct drfs_gc_result *res, uint64_t *ret_keep)
{
	uint64_t unused = 0;
	struct gpack **cand = calloc(packs->n + 1, sizeof(*cand));
	size_t n_cand = 0;
	if (!cand)
		return -ENOMEM;
	for (size_t i = 0; i < packs->n; i++) {
		struct gpack *p = &packs->v[i];
		res->pack_bytes_before += p->length;
		if (p->pending) {
			/* a holder may still read it: untouched */
			p->action = P_PENDING;
			res->packs_pending++;
			res->pack_bytes_deferred += p->length;
		} else if (p->in_record) {
			/* its record is done with; a live blob in it (a
			 * snapshot written meanwhile uses it) moves first */
			p->action = p->live ? P_REPACK : P_DELETE;
		} else if (p->recent) {
			continue; /* a live writer's, perhaps: kept as it is */
		} else if (p->live == 0) {
			p->action = P_DELETE;
		} else {
			unused += gc_pack_unused(p);
			if (gc_pack_unused(p))
				cand[n_cand++] = p;
			continue;
		}
		if (p->action == P_DELETE)
			res->packs_deleted++;
		else if (p->action == P_REPACK)
			res->packs_repacked++;
	}
	qsort(cand, n_cand, sizeof(*cand), gc_cmp_unused_desc);
	uint64_t limit = (uint64_t)(max_unused * (double)res->live_bytes);
	for (size_t i = 0; i < n_cand && unused > limit; i++) {
		cand[i]->action = P_REPACK;
		unused -= gc_pack_unused(cand[i]);
		res->packs_repacked++;
	}
	free(cand);
	res->unused_bytes_after = unused;
	uint64_t keep_bytes = 0;
	for (size_t i = 0; i < packs->n; i++)
		if (packs->v[i].action == P_KEEP ||
		    packs->v[i].action == P_PENDING)
			keep_bytes += packs->v[i].length;
	*ret_keep = keep_bytes;
	return 0;
}

/*
 * 5. what goes now: with an exclusive lock every doomed pack; under
 * a prune lock only the packs of finished records that hold no live
 * blob. The rest is doomed by a new deletion record, written before
 * the index stops naming those packs. The packs that go leave the cache.
 */
static int drop_gone(struct gc *g, struct gpacks *packs, struct records *rs,
		     struct drfs_gc_result *res)
{
	const struct drfs_gc_opts *o = g->o;
	struct drfs_repo *r = g->r;
	struct drfs_txn *t;
	int e;
	for (size_t i = 0; i < packs->n; i++) {
		struct gpack *p = &packs->v[i];
		p->gone_now = p->action == P_DELETE || p->action == P_REPACK;
		if (o->deferred && !(p->action == P_DELETE && p->in_record))
			p->gone_now = false;
	}
	if (o->deferred) {
		e = write_records(g, packs, rs, res);
		if (e < 0)
			return e;
		drfs_test_crash_point("deletion");
	}
	/* the packs that go leave the cache; no live blob may go with them */
	struct doomed_ctx dc = { .packs = packs };
	e = gc_delete_where(r, DRFS_DB_BLOBS, want_gone_blob, &dc);
	e = e ?: gc_drop_gone_alts(r, packs);
	if (e < 0)
		return e;
	e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < packs->n; i++) {
		struct gpack *p = &packs->v[i];
		uint8_t k[4] = { p->seq >> 24, p->seq >> 16, p->seq >> 8,
				 p->seq };
		if (!p->gone_now)
			continue;
		e = drfs_kv_del(t, DRFS_DB_PACKS, p->id.b, DRFS_ID_LEN);
		if (e == -ENOENT)
			e = 0;
		e = e ?: drfs_kv_del(t, DRFS_DB_PACKSEQ, k, 4);
		if (e == -ENOENT)
			e = 0;
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	if (e < 0)
		return e;
	/* the marked blobs must all be in packs that stay (a self-check) */
	e = verify_marked_indexed(r);
	if (e < 0) {
		gc_say(o->report, o->report_data,
		       "internal error: a live blob "
		       "lost its location; nothing deleted (rerun prune)");
		/* the cache no longer matches the index objects: rebuild */
		drfs_index_clear(r->index);
	}
	return e;
}

/* 7. only now: the packs that go; *ret_bytes: their size */
static int delete_gone(struct drfs_repo *r, const struct drfs_gc_opts *o,
		       const struct gpacks *packs, uint64_t *ret_n,
		       uint64_t *ret_bytes)
{
	char (*names)[DRFS_OBJECT_NAME_MAX];
	size_t nd = 0;
	uint64_t gone_bytes = 0, half_bytes = 0;
	struct drfs_progress *pr = o->progress;
	names = calloc(packs->n + 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < packs->n; i++) {
		if (!packs->v[i].gone_now)
			continue;
		drfs_name_pack(&packs->v[i].id, names[nd++]);
		gone_bytes += packs->v[i].length;
	}
	/* the first batch's bytes (names[0 .. nd / 2) are in packs' order) */
	for (size_t i = 0, k = 0; k < nd / 2; i++) {
		if (packs->v[i].gone_now) {
			half_bytes += packs->v[i].length;
			k++;
		}
	}
	drfs_progress_phase(pr, "deleting packs", "packs", gone_bytes);
	int e = gc_delete_names(r->be, names, nd / 2);
	if (pr && e >= 0) {
		pr->files = nd / 2;
		pr->bytes = half_bytes;
	}
	drfs_test_crash_point("delete");
	e = e ?: gc_delete_names(r->be, names + nd / 2, nd - nd / 2);
	if (pr && e >= 0) {
		pr->files = nd;
		pr->bytes = gone_bytes;
	}
	free(names);
	if (e < 0) {
		gc_say(o->report, o->report_data,
		       "cannot delete old packs: %s "
		       "(the next prune removes them)",
		       drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		return e;
	}
	*ret_n = nd;
	*ret_bytes = gone_bytes;
	return 0;
}

/* 4. the live blobs of the packs to repack (any) into new packs */
static int repack_all(struct gc *g, struct gpacks *packs, struct outpack *op,
		      struct drfs_buf *scratch, bool any)
{
	int e = 0;
	if (any) {
		op->e = malloc(DRFS_PACK_MAX_BLOBS * sizeof(*op->e));
		if (!op->e)
			return -ENOMEM;
	}
	struct drfs_progress *pr = g->o->progress;
	uint64_t total = 0;
	for (size_t i = 0; i < packs->n; i++)
		if (packs->v[i].action == P_REPACK)
			total += packs->v[i].length;
	drfs_progress_phase(pr, "repacking", "packs", total);
	for (size_t i = 0; e >= 0 && i < packs->n; i++) {
		if (packs->v[i].action != P_REPACK)
			continue;
		e = gc_repack_one(g, &packs->v[i], op, scratch);
		if (pr) {
			pr->bytes += packs->v[i].length;
			pr->files++;
		}
	}
	return e ?: gc_outpack_flush(g, op);
}

/* 7. the deletion records this run finished */
static int remove_records(struct drfs_repo *r, const struct drfs_gc_opts *o,
			  const struct records *rs)
{
	int e = 0;
	for (size_t i = 0; e >= 0 && i < rs->n; i++)
		if (rs->eligible[i])
			e = drfs_repo_deletion_remove(r, &rs->v[i].id);
	if (e < 0)
		gc_say(o->report, o->report_data,
		       "%s (the next prune removes "
		       "it)",
		       drfs_repo_last_error() ?: drfs_strerror(e));
	return e;
}

int gc_run(struct drfs_repo *r, const struct drfs_gc_opts *o,
	   const struct drfs_snap_info *only, size_t n_only,
	   struct drfs_gc_result *ret)
{
	struct gc g = { .r = r, .o = o, .mark = MARK_DB };
	struct gpacks packs = { 0 };
	struct records rs = { 0 };
	struct drfs_snap_info *snaps = NULL;
	struct drfs_gc_result res = { 0 };
	struct outpack op = { 0 };
	struct gc_keepall keep = { 0 };
	struct account acc = { .keep = &keep };
	struct drfs_buf scratch;
	double max_unused = o->max_unused < 0 ? 0.05 : o->max_unused;
	uint64_t keep_bytes;
	int e;

	drfs_buf_init(&scratch, DRFS_BLOB_MAX);
	drfs_buf_init(&op.buf, DRFS_PACK_MAX);
	/* 1. sync; the packs listed here are the only ones this run may
	 * delete */
	drfs_progress_phase(o->progress, "syncing", NULL, 0);
	e = sync_whole(r, o);
	/* 2. mark */
	drfs_progress_phase(o->progress, "marking", "snapshots", 0);
	e = e ?: mark_live(&g, only, n_only, &snaps, &keep);
	if (e < 0)
		goto out;
	/* the records, and who is live now */
	e = records_load(r, o, &rs, &res);
	if (e < 0) {
		gc_say(o->report, o->report_data, "cannot read the locks: %s",
		       drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		goto out;
	}

	/* 3. account */
	drfs_progress_phase(o->progress, "counting", NULL, 0);
	e = account(r, &packs, &acc);
	if (e < 0)
		goto out;
	records_classify(&rs, &packs);
	if (o->deferred && (e = mark_recent(r, &rs, &packs, &res)) < 0) {
		gc_say(o->report, o->report_data, "cannot list \"data/\": %s",
		       drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		goto out;
	}
	res.packs_before = packs.n;
	res.live_blobs = acc.live_blobs;
	res.live_bytes = acc.live_bytes;
	e = choose(&packs, max_unused, &res, &keep_bytes);
	if (e < 0)
		goto out;
	char live[32];
	if (o->exact_bytes)
		snprintf(live, sizeof(live), "%llu B",
			 (unsigned long long)res.live_bytes);
	else
		drfs_fmt_bytes(res.live_bytes, live);
	gc_say(o->report, o->report_data,
	       "%llu pack(s): %llu to delete, %llu to repack; live %llu blob(s), "
	       "%s",
	       (unsigned long long)res.packs_before,
	       (unsigned long long)res.packs_deleted,
	       (unsigned long long)res.packs_repacked,
	       (unsigned long long)res.live_blobs, live);
	gc_report_retained(r, &packs, o);
	if (o->dry_run) {
		/* about: the kept packs plus the live part of repacked ones */
		res.pack_bytes_after = keep_bytes;
		for (size_t i = 0; i < packs.n; i++)
			if (packs.v[i].action == P_REPACK)
				res.pack_bytes_after += packs.v[i].live_bytes;
		goto done;
	}
	res.pack_bytes_after = res.pack_bytes_before;
	if (!res.packs_deleted && !res.packs_repacked)
		goto records; /* nothing to move; maybe records to finish */

	/* 4. repack */
	e = repack_all(&g, &packs, &op, &scratch, res.packs_repacked);
	if (e < 0)
		goto out;
	res.packs_written = op.written;

	/* 5. what goes now leaves the cache */
	e = drop_gone(&g, &packs, &rs, &res);
	if (e < 0)
		goto out;
	drfs_test_crash_point("index");
	/* 6. a complete index of what stays; old index objects go */
	drfs_progress_phase(o->progress, "writing the index", NULL, 0);
	e = drfs_repo_write_full_index(r);
	if (e < 0) {
		gc_say(o->report, o->report_data,
		       "cannot write the new index: %s",
		       drfs_repo_last_error() ?: drfs_strerror(e));
		goto out;
	}
	/* 7. only now: the packs that go, then the finished records */
	uint64_t gone_bytes;
	e = delete_gone(r, o, &packs, &res.packs_gone, &gone_bytes);
	if (e < 0)
		goto out;
	res.pack_bytes_after = res.pack_bytes_before - gone_bytes + op.bytes;
records:
	e = remove_records(r, o, &rs);
	if (e < 0)
		goto out;
done:
	e = 0;
	*ret = res;
out:
	gc_delete_where(r, MARK_DB, gc_want_all, NULL);
	free(op.e);
	drfs_buf_release(&op.buf);
	drfs_buf_release(&scratch);
	free(packs.v);
	free(keep.v);
	free(snaps);
	records_free(&rs);
	return e;
}

int drfs_gc(struct drfs_repo *r, const struct drfs_gc_opts *o,
	    struct drfs_gc_result *ret)
{
	return gc_run(r, o, NULL, 0, ret);
}
