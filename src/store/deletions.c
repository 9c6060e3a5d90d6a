/* SPDX-License-Identifier: MIT */
/*
 * deletions.c - deletion records as objects: listing, writing, removing.
 * repoint.h has what the rooms of the repository share.
 */
#include "repoint.h"

/* ---- deletion records ----------------------------------------------------- */

struct rec_collect {
	struct drfs_deletion_info *v;
	size_t n, cap;
};

static int rec_collect_cb(const struct drfs_id *record,
			  const struct drfs_deletion_rec *rec, void *userdata)
{
	struct rec_collect *c = userdata;
	if (drfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v), 8) < 0)
		return -ENOMEM;
	struct drfs_deletion_info *d = &c->v[c->n++];
	d->id = *record;
	d->time = rec->time;
	d->n_packs = rec->n_packs;
	return 0;
}

static int rec_time_cmp(const void *a, const void *b)
{
	const struct drfs_deletion_info *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return memcmp(x->id.b, y->id.b, DRFS_ID_LEN);
}

int drfs_repo_deletions(struct drfs_repo *r, struct drfs_deletion_info **ret,
			size_t *ret_n)
{
	struct rec_collect c = { 0 };
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_index_deletions_scan(t, rec_collect_cb, &c);
	drfs_txn_abort(t);
	if (e < 0) {
		free(c.v);
		return e;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), rec_time_cmp);
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

struct pair_collect {
	struct drfs_doomed *v;
	size_t n, cap;
};

static int pair_cb(const void *key, size_t klen, const void *val, size_t vlen,
		   void *userdata)
{
	struct pair_collect *c = userdata;
	(void)val;
	(void)vlen;
	if (klen != 2 * DRFS_ID_LEN)
		return 0;
	if (drfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v), 64) < 0)
		return -ENOMEM;
	memcpy(c->v[c->n].pack.b, key, DRFS_ID_LEN);
	memcpy(c->v[c->n].record.b, (const uint8_t *)key + DRFS_ID_LEN,
	       DRFS_ID_LEN);
	c->n++;
	return 0;
}

int drfs_repo_doomed_packs(struct drfs_repo *r, struct drfs_doomed **ret,
			   size_t *ret_n)
{
	struct pair_collect c = { 0 };
	int e = repo_scan_db(r, DRFS_DB_DOOMED, pair_cb, &c);
	if (e < 0) {
		free(c.v);
		return e;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

/* Seal payload as a deletion record, store it create-only, learn it. */
static int put_deletion(struct drfs_repo *r, struct drfs_buf *payload,
			struct drfs_id *ret_id)
{
	struct drfs_buf sealed;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_txn *t;
	drfs_buf_init(&sealed, DRFS_INDEX_OBJECT_MAX + 64);
	int e = drfs_seal(&r->keys, DRFS_OBJ_DELETION, payload->p,
			  payload->len, &sealed);
	if (e >= 0) {
		drfs_sha256(sealed.p, sealed.len, &id);
		drfs_name_deletion(&id, name);
		e = drfs_backend_put(r->be, name, sealed.p, sealed.len,
				     DRFS_PUT_CREATE_ONLY);
		if (e == -EEXIST)
			e = 0;
		if (e < 0)
			repo_fail(e, "cannot write \"%s\": %s", name,
				  drfs_backend_last_error(r->be)
					  ?: drfs_strerror(e));
	}
	drfs_buf_release(&sealed);
	if (e < 0)
		return e;
	e = drfs_txn_begin(r->index, true, &t);
	e = e ?: repo_apply_deletion(t, &id, payload);
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	if (e >= 0)
		*ret_id = id;
	return e;
}

int drfs_repo_deletion_write(struct drfs_repo *r,
			     const struct drfs_deletion *hdr,
			     const struct drfs_id *packs, size_t n,
			     struct drfs_id **ret_ids, size_t *ret_n)
{
	struct full_collect fc = { 0 };
	struct drfs_pack_entry *es = NULL;
	struct drfs_buf plain;
	struct drfs_txn *t;
	uint32_t *seqs, *lens;
	struct id_list ids = { 0 };
	int e;

	seqs = calloc(n + 1, sizeof(*seqs));
	lens = calloc(n + 1, sizeof(*lens));
	if (!seqs || !lens) {
		free(seqs);
		free(lens);
		return -ENOMEM;
	}
	drfs_buf_init(&plain, DRFS_INDEX_OBJECT_MAX);
	/* each pack with the blobs whose indexed copy is in it */
	e = drfs_txn_begin(r->index, false, &t);
	for (size_t i = 0; e >= 0 && i < n; i++)
		e = drfs_index_pack_lookup(t, &packs[i], &seqs[i], &lens[i]);
	if (e >= 0) {
		uint32_t *sorted = malloc((n + 1) * sizeof(*sorted));
		if (!sorted) {
			e = -ENOMEM;
		} else {
			memcpy(sorted, seqs, n * sizeof(*seqs));
			qsort(sorted, n, sizeof(*sorted), repo_u32_cmp);
			fc.only = sorted;
			fc.n_only = n;
			e = drfs_index_blobs_scan(t, repo_full_blob, &fc);
			free(sorted);
			fc.only = NULL;
		}
	}
	drfs_txn_abort(t);
	if (e >= 0 && fc.n)
		qsort(fc.v, fc.n, sizeof(*fc.v), repo_full_cmp);
	es = malloc(DRFS_PACK_MAX_BLOBS * sizeof(*es));
	if (e >= 0 && !es)
		e = -ENOMEM;
	e = e ?: drfs_deletion_begin(hdr, &plain);
	size_t empty = plain.len, k = 0;
	for (size_t i = 0; e >= 0 && i < n; i++) {
		/* fc is sorted by pack number: find this pack's entries */
		size_t lo = 0, hi = fc.n, m = 0;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (fc.v[mid].seq < seqs[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		for (k = lo; k < fc.n && fc.v[k].seq == seqs[i] &&
			     m < DRFS_PACK_MAX_BLOBS; k++)
			es[m++] = fc.v[k].e;
		if (plain.len + 64 + m * DRFS_PACK_ENTRY_LEN >
			    DRFS_INDEX_OBJECT_MAX / 2 &&
		    plain.len > empty) {
			struct drfs_id id;
			e = put_deletion(r, &plain, &id);
			e = e ?: repo_id_list_add(&ids, &id);
			drfs_buf_reset(&plain);
			e = e ?: drfs_deletion_begin(hdr, &plain);
		}
		e = e ?: drfs_indexobj_add(&plain, &packs[i], lens[i], es, m);
	}
	if (e >= 0 && plain.len > empty) {
		struct drfs_id id;
		e = put_deletion(r, &plain, &id);
		e = e ?: repo_id_list_add(&ids, &id);
	}
	drfs_buf_release(&plain);
	free(es);
	free(fc.v);
	free(seqs);
	free(lens);
	if (e < 0) {
		free(ids.v);
		return e;
	}
	*ret_ids = ids.v;
	*ret_n = ids.n;
	return 0;
}

int drfs_repo_deletion_remove(struct drfs_repo *r, const struct drfs_id *id)
{
	char name[DRFS_OBJECT_NAME_MAX];
	struct id_list gone = { 0 };
	drfs_name_deletion(id, name);
	int e = drfs_backend_del(r->be, name);
	if (e < 0 && e != -ENOENT)
		return repo_fail(e, "cannot delete \"%s\": %s", name,
				 drfs_backend_last_error(r->be)
					 ?: drfs_strerror(e));
	e = repo_id_list_add(&gone, id);
	e = e ?: repo_forget_deletions(r, &gone);
	free(gone.v);
	return e;
}

struct id_collect {
	const char *dir;
	struct drfs_id *v;
	size_t n, cap;
};

static int id_collect_cb(const char *name, uint64_t size, void *userdata)
{
	struct id_collect *c = userdata;
	struct drfs_id id;
	(void)size;
	if (drfs_name_parse(name, c->dir, &id) < 0)
		return 0;
	if (drfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v), 16) < 0)
		return -ENOMEM;
	c->v[c->n++] = id;
	return 0;
}

int drfs_repo_list_ids(struct drfs_repo *r, const char *dir,
		       struct drfs_id **ret, size_t *ret_n)
{
	char prefix[64];
	struct id_collect c = { .dir = dir };
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	int e = drfs_backend_list(r->be, prefix, id_collect_cb, &c);
	if (e < 0) {
		free(c.v);
		return e;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}
