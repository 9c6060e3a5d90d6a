/* SPDX-License-Identifier: MIT */
/*
 * guard.c - the dedup-loss guard (docs/verification.md): when a blob is
 * deduplicated against a copy stored long ago, a bounded budget of such
 * copies, those of the packs verified longest ago first, is read back and
 * verified before the snapshot that now depends on them is committed. A
 * copy found corrupted is stored again from the data being written (the
 * writer still has it), and from then on the good copy is read first.
 *
 * Also here: when each pack was last verified (the guard, check's
 * rotation), the corrupted copies the cache knows, and where a blob with
 * two copies is read from. repoint.h has what the rooms share.
 */
#include <time.h>

#include "repoint.h"

/* ---- verification times --------------------------------------------------- */

int drfs_repo_pack_verified(struct drfs_txn *t, const struct drfs_id *pack,
			    int64_t *ret)
{
	uint8_t v[8];
	int e = drfs_kv_get_fixed(t, DRFS_DB_VERIFIED, pack->b, DRFS_ID_LEN, v,
				  sizeof(v));
	if (e == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (e < 0)
		return e;
	*ret = e == 8 ? (int64_t)drfs_get_le64(v) : 0;
	return 0;
}

int drfs_repo_verified_set(struct drfs_repo *r, const struct drfs_id *packs,
			   size_t n, int64_t when)
{
	struct drfs_txn *t;
	uint8_t v[8];
	if (!n)
		return 0;
	drfs_put_le64(v, (uint64_t)when);
	int e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < n; i++)
		e = drfs_kv_put(t, DRFS_DB_VERIFIED, packs[i].b, DRFS_ID_LEN, v,
				sizeof(v));
	if (e >= 0)
		return drfs_txn_commit(t);
	drfs_txn_abort(t);
	return e;
}

struct order_ctx {
	struct drfs_txn *t;
	struct drfs_verify_pack *v;
	size_t n, cap;
};

static int order_one(const struct drfs_id *pack,
		     const struct drfs_pack_rec *rec, void *userdata)
{
	struct order_ctx *o = userdata;
	int doomed = drfs_repo_pack_doomed(o->t, pack);
	if (doomed)
		return doomed < 0 ? doomed : 0; /* going away: not verified */
	if (drfs_grow(&o->v, &o->cap, o->n, sizeof(*o->v), 256) < 0)
		return -ENOMEM;
	struct drfs_verify_pack *p = &o->v[o->n];
	p->id = *pack;
	p->seq = rec->seq;
	p->length = rec->length;
	int e = drfs_repo_pack_verified(o->t, pack, &p->verified);
	if (e >= 0)
		o->n++;
	return e;
}

static int order_cmp(const void *a, const void *b)
{
	const struct drfs_verify_pack *x = a, *y = b;
	if (x->verified != y->verified)
		return x->verified < y->verified ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int drfs_repo_verify_order(struct drfs_repo *r, struct drfs_verify_pack **ret,
			   size_t *ret_n)
{
	struct order_ctx o = { 0 };
	int e = drfs_txn_begin(r->index, false, &o.t);
	if (e >= 0) {
		e = drfs_index_packs_scan(o.t, order_one, &o);
		drfs_txn_abort(o.t);
	}
	if (e < 0) {
		free(o.v);
		return e;
	}
	if (o.n)
		qsort(o.v, o.n, sizeof(*o.v), order_cmp);
	*ret = o.v;
	*ret_n = o.n;
	return 0;
}

int drfs_repo_verify_coverage(struct drfs_repo *r,
			      struct drfs_verify_coverage *ret)
{
	struct drfs_verify_pack *v;
	size_t n;
	int e = drfs_repo_verify_order(r, &v, &n);
	if (e < 0)
		return e;
	struct drfs_verify_coverage c = { .packs = n };
	for (size_t i = 0; i < n; i++) {
		c.bytes += v[i].length;
		if (!v[i].verified)
			continue;
		c.packs_verified++;
		c.bytes_verified += v[i].length;
		if (!c.oldest || v[i].verified < c.oldest)
			c.oldest = v[i].verified;
	}
	free(v);
	*ret = c;
	return 0;
}

/* ---- corrupted copies and where a blob is read from ----------------------- */

static void bad_key(const struct drfs_id *blob, const struct drfs_id *pack,
		    uint8_t k[2 * DRFS_ID_LEN])
{
	memcpy(k, blob->b, DRFS_ID_LEN);
	memcpy(k + DRFS_ID_LEN, pack->b, DRFS_ID_LEN);
}

int drfs_repo_copy_bad(struct drfs_txn *t, const struct drfs_id *blob,
		       uint32_t seq)
{
	struct drfs_id pack;
	uint8_t k[2 * DRFS_ID_LEN];
	int e = drfs_index_pack_by_seq(t, seq, &pack, NULL);
	if (e == -ENOENT)
		return 0;
	if (e < 0)
		return e;
	bad_key(blob, &pack, k);
	e = drfs_kv_get_fixed(t, DRFS_DB_BADBLOBS, k, sizeof(k), NULL, 0);
	if (e == -ENOENT)
		return 0;
	return e < 0 && e != -E2BIG ? e : 1;
}

int repo_mark_bad(struct drfs_txn *t, const struct drfs_id *blob,
		  const struct drfs_id *pack)
{
	uint8_t k[2 * DRFS_ID_LEN], v[8];
	bad_key(blob, pack, k);
	drfs_put_le64(v, (uint64_t)time(NULL));
	return drfs_kv_put(t, DRFS_DB_BADBLOBS, k, sizeof(k), v, sizeof(v));
}

int drfs_repo_mark_bad(struct drfs_repo *r, const struct drfs_id *blob,
		       const struct drfs_id *pack)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, true, &t);
	e = e ?: repo_mark_bad(t, blob, pack);
	if (e >= 0)
		return drfs_txn_commit(t);
	drfs_txn_abort(t);
	return e;
}

/*
 * Record loc as a copy of blob id. The copy read first (blobs) is the
 * newest one recorded, unless it is known corrupted and the one it would
 * displace is not; the other goes to the other copies (altlocs).
 */
int repo_blob_place(struct drfs_txn *t, const struct drfs_id *id,
		    const struct drfs_blob_loc *loc)
{
	struct drfs_blob_loc old;
	int e = drfs_index_blob_get(t, id, &old);
	if (e == -ENOENT || (e >= 0 && old.pack_seq == loc->pack_seq))
		return drfs_index_blob_put(t, id, loc);
	if (e < 0)
		return e;
	int nb = drfs_repo_copy_bad(t, id, loc->pack_seq);
	int ob = nb > 0 ? drfs_repo_copy_bad(t, id, old.pack_seq) : 0;
	if (nb < 0 || ob < 0)
		return nb < 0 ? nb : ob;
	if (nb && !ob)
		return drfs_index_alt_put(t, id, loc);
	e = drfs_index_alt_put(t, id, &old);
	if (e >= 0) {
		e = drfs_index_alt_del(t, id, loc->pack_seq);
		e = e == -ENOENT ? 0 : e;
	}
	return e ?: drfs_index_blob_put(t, id, loc);
}

#define ALT_TRIES 8

struct alts {
	struct drfs_blob_loc v[ALT_TRIES];
	size_t n;
};

static int alt_collect(const struct drfs_id *id,
		       const struct drfs_blob_loc *loc, void *userdata)
{
	struct alts *a = userdata;
	(void)id;
	a->v[a->n++] = *loc;
	return a->n == ALT_TRIES;
}

/* The first copy read is bad, good is the one read instead: swap them. */
static void prefer(struct drfs_repo *r, const struct drfs_id *id,
		   const struct drfs_blob_loc *bad,
		   const struct drfs_blob_loc *good)
{
	struct drfs_txn *t;
	struct drfs_id pack;
	if (drfs_txn_begin(r->index, true, &t) < 0)
		return;
	int e = drfs_index_pack_by_seq(t, bad->pack_seq, &pack, NULL);
	e = e ?: repo_mark_bad(t, id, &pack);
	e = e ?: drfs_index_alt_put(t, id, bad);
	e = e ?: drfs_index_alt_del(t, id, good->pack_seq);
	e = e ?: drfs_index_blob_put(t, id, good);
	if (e >= 0)
		drfs_txn_commit(t); /* only the cache: next time first */
	else
		drfs_txn_abort(t);
}

int repo_blob_read_alt(struct drfs_repo *r, const struct drfs_id *id,
		       const struct drfs_blob_loc *first, struct drfs_buf *out)
{
	struct alts a = { .n = 0 };
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_index_alt_scan(t, id, alt_collect, &a);
	struct drfs_id packs[ALT_TRIES];
	size_t n = 0;
	for (size_t i = 0; e >= 0 && i < a.n; i++)
		if (drfs_index_pack_by_seq(t, a.v[i].pack_seq, &packs[i],
					   NULL) == 0)
			a.v[n] = a.v[i], packs[n++] = packs[i];
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	e = -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		e = repo_blob_read_at(r, id, &a.v[i], &packs[i], out);
		if (e >= 0) {
			prefer(r, id, first, &a.v[i]);
			return e;
		}
	}
	return -EBADMSG;
}

int drfs_repo_blob_settle(struct drfs_repo *r, const struct drfs_id *id,
			  struct drfs_buf *scratch)
{
	struct drfs_blob_loc loc;
	struct drfs_id pack;
	int e = drfs_repo_blob_find(r, id, &loc, &pack);
	if (e < 0)
		return e;
	drfs_buf_reset(scratch);
	e = repo_blob_read_at(r, id, &loc, &pack, scratch);
	if (e >= 0)
		return 1;
	if (e != -EBADMSG && e != -ENOENT)
		return e;
	drfs_buf_reset(scratch);
	/* the first good other copy is read first from now on: only if the
	 * cache says so (the swap is committed) are the others redundant */
	struct drfs_blob_loc now;
	if (repo_blob_read_alt(r, id, &loc, scratch) < 0 ||
	    drfs_repo_blob_find(r, id, &now, NULL) < 0)
		return 0;
	return now.pack_seq != loc.pack_seq;
}

/* ---- the guard of a writer ------------------------------------------------ */

/* A deduplicated blob whose stored copy may be read back. */
struct cand {
	int64_t verified; /* its pack's last verification (0: never) */
	struct drfs_id id, pack;
	struct drfs_blob_loc loc;
	enum drfs_blob_type type;
	size_t len;
	uint8_t *data;
};

struct repo_guard {
	pthread_mutex_t lock;
	uint64_t budget; /* bytes to read (and to keep) per commit */
	uint64_t used;   /* (lock) cost of v */
	struct cand *v;  /* (lock) */
	size_t n, cap;   /* (lock) */
	/* (lock) the smallest (verified, seq) of a blob left out: packs from
	 * there on may have been read only in part */
	bool cut;
	int64_t cut_verified;
	uint32_t cut_seq;
};

struct repo_guard *repo_guard_new(uint64_t budget)
{
	if (!budget)
		return NULL;
	struct repo_guard *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	g->budget = budget;
	return g;
}

static void guard_clear(struct repo_guard *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].data);
	g->n = 0;
	g->used = 0;
	g->cut = false;
}

void repo_guard_free(struct repo_guard *g)
{
	if (!g)
		return;
	guard_clear(g);
	free(g->v);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static uint64_t cand_cost(const struct drfs_blob_loc *loc, size_t len)
{
	return MAX((uint64_t)loc->stored_len, (uint64_t)len);
}

/* (verified, seq) order: the pack verified longest ago first */
static int key_cmp(int64_t va, uint32_t sa, int64_t vb, uint32_t sb)
{
	if (va != vb)
		return va < vb ? -1 : 1;
	return sa < sb ? -1 : sa > sb;
}

static void note_cut(struct repo_guard *g, int64_t verified, uint32_t seq)
{
	if (!g->cut ||
	    key_cmp(verified, seq, g->cut_verified, g->cut_seq) < 0) {
		g->cut = true;
		g->cut_verified = verified;
		g->cut_seq = seq;
	}
}

/* The candidate of the pack verified most recently (the first to go). */
static size_t guard_worst(struct repo_guard *g)
{
	size_t w = 0;
	for (size_t i = 1; i < g->n; i++)
		if (key_cmp(g->v[i].verified, g->v[i].loc.pack_seq,
			    g->v[w].verified, g->v[w].loc.pack_seq) > 0)
			w = i;
	return w;
}

void repo_guard_offer(struct repo_guard *g, struct drfs_repo *r,
		      enum drfs_blob_type type, const struct drfs_id *id,
		      const void *p, size_t len)
{
	struct drfs_txn *t;
	struct cand c = { .type = type, .id = *id, .len = len };
	if (drfs_txn_begin(r->index, false, &t) < 0)
		return;
	int e = drfs_index_blob_get(t, id, &c.loc);
	e = e ?: drfs_index_pack_by_seq(t, c.loc.pack_seq, &c.pack, NULL);
	e = e ?: drfs_repo_pack_verified(t, &c.pack, &c.verified);
	drfs_txn_abort(t);
	if (e < 0)
		return;
	uint64_t cost = cand_cost(&c.loc, len);
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->n; i++)
		if (drfs_id_eq(&g->v[i].id, id))
			goto out; /* offered already */
	if (cost > g->budget) {
		note_cut(g, c.verified, c.loc.pack_seq);
		goto out;
	}
	while (g->used + cost > g->budget) {
		size_t w = guard_worst(g);
		struct cand *x = &g->v[w];
		if (key_cmp(x->verified, x->loc.pack_seq, c.verified,
			    c.loc.pack_seq) <= 0) {
			note_cut(g, c.verified, c.loc.pack_seq);
			goto out; /* every one kept is due before it */
		}
		note_cut(g, x->verified, x->loc.pack_seq);
		g->used -= cand_cost(&x->loc, x->len);
		free(x->data);
		*x = g->v[--g->n];
	}
	if (drfs_grow(&g->v, &g->cap, g->n, sizeof(*g->v), 64) < 0 ||
	    !(c.data = malloc(len ? len : 1))) {
		note_cut(g, c.verified, c.loc.pack_seq);
		goto out;
	}
	memcpy(c.data, p, len);
	g->v[g->n++] = c;
	g->used += cost;
out:
	pthread_mutex_unlock(&g->lock);
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = key_cmp(0, x->loc.pack_seq, 0, y->loc.pack_seq);
	if (c)
		return c;
	return x->loc.offset < y->loc.offset ? -1
					     : x->loc.offset > y->loc.offset;
}

/* The copy of c read first now, if it has one (else c stays as offered). */
static void cand_relocate(struct drfs_repo *r, struct cand *c)
{
	struct drfs_txn *t;
	struct cand x = *c;
	if (drfs_txn_begin(r->index, false, &t) < 0)
		return;
	int e = drfs_index_blob_get(t, &c->id, &x.loc);
	e = e ?: drfs_index_pack_by_seq(t, x.loc.pack_seq, &x.pack, NULL);
	e = e ?: drfs_repo_pack_verified(t, &x.pack, &x.verified);
	drfs_txn_abort(t);
	if (e >= 0)
		*c = x;
}

/* Read the copy of c from the repository itself and verify it. */
static int cand_verify(struct drfs_repo *r, const struct cand *c,
		       struct drfs_buf *stored, struct drfs_buf *out,
		       uint64_t *bytes)
{
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_name_pack(&c->pack, name);
	drfs_buf_reset(stored);
	drfs_buf_reset(out);
	int e = drfs_backend_get(r->be, name, c->loc.offset,
				 c->loc.stored_len, stored);
	*bytes += stored->len;
	if (e < 0)
		return e;
	if (stored->len != c->loc.stored_len)
		return -EBADMSG;
	struct drfs_pack_entry pe = {
		.id = c->id, .type = c->loc.type, .flags = c->loc.flags,
		.offset = c->loc.offset, .stored_len = c->loc.stored_len,
		.raw_len = c->loc.raw_len,
	};
	return drfs_blob_open(&r->keys, NULL, &pe, stored->p, stored->len, out);
}

int repo_guard_run(struct repo_guard *g, struct drfs_repo *r,
		   repo_guard_put_fn put, void *put_data, drfs_report_fn report,
		   void *report_data, struct drfs_guard_result *res)
{
	struct drfs_buf stored, out;
	struct drfs_id *ok = NULL;
	size_t n_ok = 0, cap_ok = 0;
	char phex[DRFS_ID_HEX_LEN + 1], bhex[DRFS_ID_HEX_LEN + 1];
	int err = 0;

	pthread_mutex_lock(&g->lock);
	struct cand *v = g->v;
	size_t n = g->n;
	bool cut = g->cut;
	int64_t cut_v = g->cut_verified;
	uint32_t cut_s = g->cut_seq;
	g->v = NULL;
	g->n = g->cap = 0;
	g->used = 0;
	g->cut = false;
	pthread_mutex_unlock(&g->lock);

	/* where each blob is now: a prune in the mount (or its rescue) may
	 * have moved it since it was offered */
	for (size_t i = 0; i < n; i++)
		cand_relocate(r, &v[i]);
	if (n)
		qsort(v, n, sizeof(*v), cand_cmp);
	drfs_buf_init(&stored, DRFS_BLOB_STORED_MAX);
	drfs_buf_init(&out, DRFS_BLOB_MAX);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		bool pack_ok = true;
		drfs_id_hex(&v[i].pack, phex);
		for (; j < n && v[j].loc.pack_seq == v[i].loc.pack_seq; j++) {
			struct cand *c = &v[j];
			int e = cand_verify(r, c, &stored, &out,
					    &res->bytes_read);
			if (e >= 0) {
				res->blobs_verified++;
				continue;
			}
			pack_ok = false;
			drfs_id_hex(&c->id, bhex);
			if (e != -EBADMSG && e != -ENOENT) {
				/* not read: neither good nor bad */
				if (report)
					report(report_data,
					       "guard: pack \"data/%.2s/%s\": "
					       "cannot read blob %s: %s",
					       phex, phex, bhex,
					       drfs_strerror(e));
				res->unread++;
				continue;
			}
			res->bad++;
			/* marked first: the put below stores it again, and a
			 * crash before the index is written does the same on
			 * the next run */
			int me = drfs_repo_mark_bad(r, &c->id, &c->pack);
			int pe = me < 0 ? me
					: put(put_data, c->type, &c->id,
					      c->data, c->len);
			/* 0: a copy not known bad was stored meanwhile (a
			 * rescue, another writer): that one is read first */
			if (pe >= 0)
				res->healed++;
			else
				err = err ?: pe;
			if (report)
				report(report_data,
				       "guard: pack \"data/%.2s/%s\": blob %s "
				       "is %s: %s",
				       phex, phex, bhex,
				       e == -ENOENT ? "missing" : "corrupted",
				       pe > 0 ? "stored again from the data "
						"being written (healed)"
				       : pe == 0 ? "another copy stored since "
						   "is read instead (healed)"
						 : "NOT stored again");
		}
		bool partial = cut && key_cmp(v[i].verified, v[i].loc.pack_seq,
					      cut_v, cut_s) >= 0;
		if (pack_ok && !partial &&
		    drfs_grow(&ok, &cap_ok, n_ok, sizeof(*ok), 16) >= 0)
			ok[n_ok++] = v[i].pack;
		res->packs_read++;
		i = j;
	}
	res->packs_verified += n_ok;
	int e = drfs_repo_verified_set(r, ok, n_ok, (int64_t)time(NULL));
	for (size_t i = 0; i < n; i++)
		free(v[i].data);
	free(v);
	free(ok);
	drfs_buf_release(&stored);
	drfs_buf_release(&out);
	return err ?: e;
}
