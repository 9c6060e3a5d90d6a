/* SPDX-License-Identifier: MIT */
/*
 * indexwrite.c - writing index objects that cover every known pack (repair
 * index, prune). repoint.h has what the rooms of the repository share.
 */
#include "repoint.h"

int repo_full_blob(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		   void *userdata)
{
	struct full_collect *fc = userdata;
	uint32_t seq = loc->pack_seq;
	if (fc->only &&
	    !bsearch(&seq, fc->only, fc->n_only, sizeof(seq), repo_u32_cmp))
		return 0;
	if (drfs_grow(&fc->v, &fc->cap, fc->n, sizeof(*fc->v), 1024) < 0)
		return -ENOMEM;
	struct full_entry *f = &fc->v[fc->n++];
	f->seq = seq;
	f->e.id = *id;
	f->e.offset = loc->offset;
	f->e.stored_len = loc->stored_len;
	f->e.raw_len = loc->raw_len;
	f->e.type = loc->type;
	f->e.flags = loc->flags;
	return 0;
}

struct full_alt {
	struct drfs_txn *t;
	struct full_collect *fc;
};

/* Another copy of a blob is listed too, unless it is known corrupted. */
static int full_alt(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		    void *userdata)
{
	struct full_alt *fa = userdata;
	struct drfs_id pack;
	/* a copy whose pack this cache no longer knows is no copy */
	int known = drfs_index_pack_by_seq(fa->t, loc->pack_seq, &pack, NULL);
	if (known == -ENOENT)
		return 0;
	if (known < 0)
		return known;
	int bad = drfs_repo_copy_bad(fa->t, id, loc->pack_seq);
	if (bad)
		return bad < 0 ? bad : 0;
	return repo_full_blob(id, loc, fa->fc);
}

int repo_full_cmp(const void *a, const void *b)
{
	const struct full_entry *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->e.offset < y->e.offset ? -1 : x->e.offset > y->e.offset;
}

static int put_index_object(struct drfs_repo *r, struct drfs_buf *plain,
			    struct name_list *keep)
{
	struct drfs_buf sealed;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_buf_init(&sealed, DRFS_INDEX_OBJECT_MAX + 64);
	int e = drfs_seal(&r->keys, DRFS_OBJ_INDEX, plain->p, plain->len,
			  &sealed);
	if (e >= 0) {
		drfs_sha256(sealed.p, sealed.len, &id);
		drfs_name_index(&id, name);
		e = drfs_backend_put(r->be, name, sealed.p, sealed.len,
				     DRFS_PUT_CREATE_ONLY);
		if (e >= 0)
			e = repo_collect_name(name, sealed.len, keep);
	}
	drfs_buf_release(&sealed);
	return e;
}

int drfs_repo_write_full_index(struct drfs_repo *r)
{
	struct full_collect fc = { 0 };
	struct name_list old, keep = { 0 };
	struct drfs_buf plain;
	struct drfs_txn *t;
	int e;

	e = repo_list_names(r, "index/", &old);
	if (e < 0)
		return e;
	e = drfs_txn_begin(r->index, false, &t);
	if (e >= 0) {
		struct full_alt fa = { .t = t, .fc = &fc };
		e = drfs_index_blobs_scan(t, repo_full_blob, &fc);
		/* every copy: a cache that reads the corrupted one first
		 * (docs/verification.md) must still find the good one */
		e = e ?: drfs_index_alts_scan(t, full_alt, &fa);
		drfs_txn_abort(t);
	}
	if (e < 0)
		goto out;
	if (fc.n)
		qsort(fc.v, fc.n, sizeof(*fc.v), repo_full_cmp);
	drfs_buf_init(&plain, DRFS_INDEX_OBJECT_MAX);
	e = drfs_indexobj_begin(&plain);
	struct drfs_pack_entry *es = malloc(DRFS_PACK_MAX_BLOBS * sizeof(*es));
	if (!es)
		e = -ENOMEM;
	for (size_t i = 0; e >= 0 && i < fc.n;) {
		size_t j = i, n = 0;
		while (j < fc.n && fc.v[j].seq == fc.v[i].seq &&
		       n < DRFS_PACK_MAX_BLOBS)
			es[n++] = fc.v[j++].e;
		struct drfs_id pack;
		uint32_t plen;
		e = drfs_txn_begin(r->index, false, &t);
		if (e < 0)
			break;
		e = drfs_index_pack_by_seq(t, fc.v[i].seq, &pack, &plen);
		int doomed = e < 0 ? 0 : drfs_repo_pack_doomed(t, &pack);
		drfs_txn_abort(t);
		if (e >= 0 && doomed < 0)
			e = doomed;
		if (e < 0)
			break;
		if (doomed) { /* a deletion record names it instead */
			i = j;
			continue;
		}
		if (plain.len + 64 + n * DRFS_PACK_ENTRY_LEN >
		    DRFS_INDEX_OBJECT_MAX / 2) {
			e = put_index_object(r, &plain, &keep);
			drfs_buf_reset(&plain);
			e = e ?: drfs_indexobj_begin(&plain);
		}
		e = e ?: drfs_indexobj_add(&plain, &pack, plen, es, n);
		i = j;
	}
	free(es);
	if (e >= 0 && plain.len > 1)
		e = put_index_object(r, &plain, &keep);
	drfs_buf_release(&plain);
	/*
	 * Only now that the new index is durable, drop the old objects. One
	 * that cannot be deleted still lists what it listed: the error goes
	 * to the caller (prune must then keep the packs it meant to delete;
	 * the next run retries), and it stays "seen".
	 */
	int del_err = 0;
	if (e >= 0) {
		repo_sort_names(&keep);
		for (size_t i = 0; i < old.n; i++) {
			if (repo_name_in(&keep, old.names[i]))
				continue;
			int de = drfs_backend_del(r->be, old.names[i]);
			if (de < 0 && de != -ENOENT) {
				if (!del_err)
					del_err = de;
				old.names[i][0] = 0; /* not gone */
			}
		}
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < old.n; i++)
			if (old.names[i][0])
				drfs_kv_del(t, DRFS_DB_SEEN, old.names[i],
					    strlen(old.names[i]));
		for (size_t i = 0; e >= 0 && i < keep.n; i++)
			e = drfs_kv_put(t, DRFS_DB_SEEN, keep.names[i],
					strlen(keep.names[i]), "", 0);
		if (e >= 0)
			e = drfs_txn_commit(t);
	}
	if (e >= 0 && del_err)
		e = del_err;
out:
	free(fc.v);
	repo_name_list_free(&old);
	repo_name_list_free(&keep);
	return e;
}
