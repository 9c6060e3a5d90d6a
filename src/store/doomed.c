/* SPDX-License-Identifier: MIT */
/*
 * doomed.c - packs in the cache: recorded from an index object or a trailer,
 * doomed by deletion records, forgotten when gone; deletion records loaded
 * into the cache. repoint.h has what the rooms of the repository share.
 */
#include "repoint.h"

/* ---- packs doomed by deletion records ------------------------------------ */

struct doomed_find {
	const struct drfs_id *pack;
	bool found;
};

static int doomed_cb(const void *key, size_t klen, const void *val,
		     size_t vlen, void *userdata)
{
	struct doomed_find *f = userdata;
	(void)val;
	(void)vlen;
	f->found = klen == 2 * DRFS_ID_LEN &&
		   !memcmp(key, f->pack->b, DRFS_ID_LEN);
	return 1; /* the first key at or after the pack decides */
}

int drfs_repo_pack_doomed(struct drfs_txn *t, const struct drfs_id *pack)
{
	struct doomed_find f = { .pack = pack };
	int e = drfs_kv_scan(t, DRFS_DB_DOOMED, pack->b, DRFS_ID_LEN,
			     doomed_cb, &f);
	return e < 0 ? e : f.found;
}

/* 1 if the pack of local number seq is known and not doomed, else 0. */
static int seq_stays(struct drfs_txn *t, uint32_t seq)
{
	struct drfs_id pack;
	int e = drfs_index_pack_by_seq(t, seq, &pack, NULL);
	if (e == -ENOENT)
		return 0;
	e = e < 0 ? e : drfs_repo_pack_doomed(t, &pack);
	return e < 0 ? e : !e;
}

int drfs_repo_blob_doomed(struct drfs_txn *t, const struct drfs_id *blob)
{
	struct drfs_blob_loc loc;
	struct drfs_id pack;
	int e = drfs_index_blob_get(t, blob, &loc);
	e = e ?: drfs_index_pack_by_seq(t, loc.pack_seq, &pack, NULL);
	return e ?: drfs_repo_pack_doomed(t, &pack);
}

/*
 * Record the blobs of one pack in the cache. A doomed pack (named by a
 * deletion record) only fills gaps: a blob the cache has in a pack that
 * stays keeps that location.
 */
int repo_index_pack(struct drfs_txn *t, const struct drfs_id *pack,
		    uint32_t pack_len, const struct drfs_pack_entry *es,
		    const uint8_t *raw, size_t n)
{
	uint32_t seq;
	int doomed = drfs_repo_pack_doomed(t, pack);
	if (doomed < 0)
		return doomed;
	int e = drfs_index_pack_add(t, pack, pack_len, (uint32_t)n, &seq);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		struct drfs_pack_entry pe;
		struct drfs_blob_loc old;
		if (es)
			pe = es[i];
		else
			drfs_pack_entry_get(raw + i * DRFS_PACK_ENTRY_LEN, &pe);
		if (doomed && drfs_index_blob_get(t, &pe.id, &old) == 0 &&
		    old.pack_seq != seq) {
			e = seq_stays(t, old.pack_seq);
			if (e < 0)
				break;
			if (e)
				continue; /* kept in a pack that stays */
		}
		struct drfs_blob_loc loc = {
			.pack_seq = seq, .offset = pe.offset,
			.stored_len = pe.stored_len, .raw_len = pe.raw_len,
			.type = pe.type, .flags = pe.flags,
		};
		e = doomed ? drfs_index_blob_put(t, &pe.id, &loc)
			   : repo_blob_place(t, &pe.id, &loc);
	}
	return e;
}


int repo_id_list_add(struct id_list *l, const struct drfs_id *id)
{
	if (drfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 256) < 0)
		return -ENOMEM;
	l->v[l->n++] = *id;
	return 0;
}

/* drfs_idset_add without its "already a member" */
static int set_add(struct drfs_idset *s, const struct drfs_id *id)
{
	int e = drfs_idset_add(s, id);
	return e < 0 ? e : 0;
}

/* ---- forgetting packs in the cache ------------------------------------- */

struct seq_set {
	uint32_t *v;
	size_t n, cap;
};

int repo_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct blob_sweep {
	struct seq_set *seqs;
	struct id_list *ids;
};

static int sweep_cb(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		    void *userdata)
{
	struct blob_sweep *b = userdata;
	uint32_t seq = loc->pack_seq;
	if (!bsearch(&seq, b->seqs->v, b->seqs->n, sizeof(seq), repo_u32_cmp))
		return 0;
	return repo_id_list_add(b->ids, id);
}

/*
 * Drop packs[0..n) from the cache: the packs, their numbers and every blob
 * entry pointing into them (those blobs are then unknown here).
 */
static int forget_packs(struct drfs_repo *r, const struct drfs_id *packs,
			size_t n)
{
	struct seq_set seqs = { 0 };
	struct id_list ids = { 0 };
	struct drfs_txn *t;
	int e;

	if (!n)
		return 0;
	seqs.v = calloc(n, sizeof(*seqs.v));
	if (!seqs.v)
		return -ENOMEM;
	e = drfs_txn_begin(r->index, false, &t);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		uint32_t seq;
		int le = drfs_index_pack_lookup(t, &packs[i], &seq, NULL);
		if (le == 0)
			seqs.v[seqs.n++] = seq;
		else if (le != -ENOENT)
			e = le;
	}
	if (e >= 0) {
		qsort(seqs.v, seqs.n, sizeof(*seqs.v), repo_u32_cmp);
		struct blob_sweep b = { &seqs, &ids };
		e = drfs_index_blobs_scan(t, sweep_cb, &b);
	}
	drfs_txn_abort(t);
	if (e < 0)
		goto out;
	e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < ids.n; i++)
		e = drfs_kv_del(t, DRFS_DB_BLOBS, ids.v[i].b, DRFS_ID_LEN);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		uint32_t seq;
		if (drfs_index_pack_lookup(t, &packs[i], &seq, NULL) < 0)
			continue;
		uint8_t k[4] = { seq >> 24, seq >> 16, seq >> 8, seq };
		e = drfs_kv_del(t, DRFS_DB_PACKS, packs[i].b, DRFS_ID_LEN);
		if (e >= 0 || e == -ENOENT)
			e = drfs_kv_del(t, DRFS_DB_PACKSEQ, k, 4);
		if (e == -ENOENT)
			e = 0;
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
out:
	free(seqs.v);
	free(ids.v);
	return e;
}

struct pack_scan {
	const struct drfs_idset *keep; /* named by an index object */
	const struct name_list *packs; /* the listing of data/ */
	struct drfs_txn *t;
	struct id_list gone;
	struct id_list kept; /* named by none, but still there */
};

static int unnamed_cb(const struct drfs_id *pack,
		      const struct drfs_pack_rec *rec, void *userdata)
{
	struct pack_scan *ps = userdata;
	(void)rec;
	if (drfs_idset_has(ps->keep, pack))
		return 0;
	int d = drfs_repo_pack_doomed(ps->t, pack);
	if (d != 0)
		return d < 0 ? d : 0; /* a deletion record keeps it known */
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_name_pack(pack, name);
	/* the cache's records of it were verified when they were loaded */
	if (repo_name_in(ps->packs, name))
		return repo_id_list_add(&ps->kept, pack);
	return repo_id_list_add(&ps->gone, pack);
}

/*
 * After every index object (present) was loaded again into named: forget
 * the index objects that vanished and the packs no index object and no
 * deletion record names any more and the listing of data/ (packs) lacks.
 * One still listed is kept and named: an index object was lost, or a
 * prune stopped before deleting the pack (its next run deletes it).
 */
int repo_drop_unnamed(struct drfs_repo *r, struct name_list *present,
		      const struct drfs_idset *named,
		      const struct name_list *packs)
{
	struct pack_scan ps = { .keep = named, .packs = packs };
	struct name_list gone = { 0 };
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	ps.t = t;
	e = drfs_index_packs_scan(t, unnamed_cb, &ps);
	if (e >= 0)
		e = repo_seen_vanished(t, present, &gone);
	drfs_txn_abort(t);
	for (size_t i = 0; e >= 0 && i < ps.kept.n; i++) {
		char name[DRFS_OBJECT_NAME_MAX];
		drfs_name_pack(&ps.kept.v[i], name);
		repo_warn(
			r,
			"pack \"%s\" is in no index object any more (an "
			"index object was lost, or a prune stopped before "
			"deleting the pack): kept; \"drfs check\" tells which",
			name);
	}
	if (e >= 0)
		e = forget_packs(r, ps.gone.v, ps.gone.n);
	if (e >= 0 && gone.n) {
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < gone.n; i++) {
			e = drfs_kv_del(t, DRFS_DB_SEEN, gone.names[i],
					strlen(gone.names[i]));
			if (e == -ENOENT)
				e = 0;
		}
		if (e >= 0)
			e = drfs_txn_commit(t);
		else
			drfs_txn_abort(t);
	}
	free(ps.gone.v);
	free(ps.kept.v);
	repo_name_list_free(&gone);
	return e;
}

/* ---- deletion records in the cache --------------------------------------- */

/* Record id -> le64 time | le32 packs; each pack | record -> "". */
int repo_apply_deletion(struct drfs_txn *t, const struct drfs_id *id,
			const struct drfs_buf *payload)
{
	struct drfs_deletion d;
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen, count = 0;
	size_t n;
	const uint8_t *raw;
	uint8_t k[2 * DRFS_ID_LEN];

	int e = drfs_deletion_decode(payload->p, payload->len, &d);
	e = e ?: drfs_indexobj_iter_init(&it, d.index, d.index_len);
	/* every pack is doomed before any of them is indexed */
	while (e >= 0 &&
	       (e = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0) {
		memcpy(k, pack.b, DRFS_ID_LEN);
		memcpy(k + DRFS_ID_LEN, id->b, DRFS_ID_LEN);
		e = drfs_kv_put(t, DRFS_DB_DOOMED, k, sizeof(k), "", 0);
		count++;
	}
	e = e
		    ?: repo_apply_index_object(t, d.index, d.index_len, NULL,
					       NULL, NULL);
	struct drfs_deletion_rec rec = { .time = d.time, .n_packs = count };
	return e ?: drfs_index_deletion_put(t, id, &rec);
}

struct doomed_scan {
	struct drfs_idset gone_recs;
	struct id_list keys_a, keys_b; /* entries to delete: pack, record */
	struct drfs_idset others;      /* packs still doomed by another */
};

static int doomed_gone_cb(const void *key, size_t klen, const void *val,
			  size_t vlen, void *userdata)
{
	struct doomed_scan *ds = userdata;
	const struct drfs_id *pack = key, *rec = pack + 1;
	(void)val;
	(void)vlen;
	if (klen != 2 * DRFS_ID_LEN)
		return 0;
	if (!drfs_idset_has(&ds->gone_recs, rec))
		return set_add(&ds->others, pack);
	int e = repo_id_list_add(&ds->keys_a, pack);
	return e ?: repo_id_list_add(&ds->keys_b, rec);
}

/*
 * A record that vanished was completed: its packs are deleted (or about
 * to be). Forget it, and the packs no other record names.
 */
int repo_forget_deletions(struct drfs_repo *r, const struct id_list *gone)
{
	struct doomed_scan ds = { 0 };
	struct id_list packs = { 0 };
	struct drfs_idset picked = { 0 };
	struct drfs_txn *t;
	int e = 0;
	for (size_t i = 0; e >= 0 && i < gone->n; i++)
		e = set_add(&ds.gone_recs, &gone->v[i]);
	e = e ?: repo_scan_db(r, DRFS_DB_DOOMED, doomed_gone_cb, &ds);
	for (size_t i = 0; e >= 0 && i < ds.keys_a.n; i++) {
		const struct drfs_id *p = &ds.keys_a.v[i];
		if (drfs_idset_has(&ds.others, p))
			continue;
		int added = drfs_idset_add(&picked, p);
		e = added < 0 ? added
			      : added ? 0 : repo_id_list_add(&packs, p);
	}
	e = e ?: forget_packs(r, packs.v, packs.n);
	t = NULL;
	if (e >= 0)
		e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < ds.keys_a.n; i++) {
		uint8_t k[2 * DRFS_ID_LEN];
		memcpy(k, ds.keys_a.v[i].b, DRFS_ID_LEN);
		memcpy(k + DRFS_ID_LEN, ds.keys_b.v[i].b, DRFS_ID_LEN);
		e = drfs_kv_del(t, DRFS_DB_DOOMED, k, sizeof(k));
		if (e == -ENOENT)
			e = 0;
	}
	for (size_t i = 0; e >= 0 && i < gone->n; i++) {
		e = drfs_kv_del(t, DRFS_DB_DELETIONS, gone->v[i].b,
				DRFS_ID_LEN);
		if (e == -ENOENT)
			e = 0;
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	free(ds.keys_a.v);
	free(ds.keys_b.v);
	drfs_idset_free(&ds.gone_recs);
	drfs_idset_free(&ds.others);
	drfs_idset_free(&picked);
	free(packs.v);
	return e;
}

/* Load new deletion records, forget vanished ones. */
int repo_sync_deletions(struct drfs_repo *r)
{
	struct name_list l;
	struct id_list gone = { 0 };
	struct drfs_txn *t;
	struct fetch_job *jobs = NULL;
	size_t nj = 0;
	int e;

	e = repo_list_names(r, "deletions/", &l);
	if (e < 0)
		return e;
	e = repo_sort_names(&l);
	e = e ?: drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = repo_ids_vanished(t, DRFS_DB_DELETIONS, drfs_name_deletion, &l,
			      &gone);
	if (e >= 0 && l.n && !(jobs = calloc(l.n, sizeof(*jobs))))
		e = -ENOMEM;
	for (size_t i = 0; e >= 0 && i < l.n; i++) {
		struct drfs_id id;
		if (drfs_name_parse(l.names[i], "deletions", &id) < 0 ||
		    drfs_kv_get_fixed(t, DRFS_DB_DELETIONS, id.b, DRFS_ID_LEN,
				      NULL, 0) != -ENOENT)
			continue;
		strcpy(jobs[nj].name, l.names[i]);
		jobs[nj++].size = l.sizes[i];
	}
	drfs_txn_abort(t);
	if (e >= 0 && gone.n)
		e = repo_forget_deletions(r, &gone);
	if (e < 0 || !nj)
		goto out;
	repo_fetch_all(r, jobs, nj, DRFS_OBJ_DELETION);
	e = drfs_txn_begin(r->index, true, &t);
	for (size_t j = 0; e >= 0 && j < nj; j++) {
		struct drfs_id id;
		drfs_name_parse(jobs[j].name, "deletions", &id);
		int ae = jobs[j].err;
		if (ae == -ENOENT)
			continue; /* completed meanwhile */
		ae = ae ?: repo_apply_deletion(t, &id, &jobs[j].data);
		if (ae == -EBADMSG) {
			/* its packs stay known from the index objects, or
			 * are looked for: nothing is deleted on its word */
			repo_damage(r,
				    "deletion record \"%s\" is corrupted: "
				    "skipped",
				    jobs[j].name);
		} else {
			e = ae < 0 ? repo_fail(ae, "cannot read \"%s\": %s",
					       jobs[j].name, drfs_strerror(ae))
				   : 0;
		}
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
out:
	for (size_t j = 0; j < nj; j++)
		drfs_buf_release(&jobs[j].data);
	free(jobs);
	free(gone.v);
	repo_name_list_free(&l);
	return e < 0 ? e : 0;
}
