/* SPDX-License-Identifier: MIT */
/*
 * gcmark.c - gc's marking of every blob reachable from the snapshots, in
 * batched key scans, and the live bytes of each pack. pruneint.h has what
 * the rooms of prune share.
 */
#include "pruneint.h"

/* ---- batched key scans --------------------------------------------------- */

/*
 * Collect up to SCAN_BATCH 32-byte keys of db, from *start on, for which
 * want() is true (want NULL: all). Returns the number collected; *start is
 * advanced past the scanned range. 0: nothing left.
 */
struct batch {
	struct drfs_id *v;
	size_t n;
	int (*want)(void *ud, const struct drfs_id *key, const void *val,
		    size_t vlen);
	void *ud;
	struct drfs_id last;
	bool full;
};

static int batch_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *userdata)
{
	struct batch *b = userdata;
	struct drfs_id id;
	if (klen != DRFS_ID_LEN)
		return 0;
	memcpy(id.b, key, DRFS_ID_LEN);
	if (b->want) {
		int w = b->want(b->ud, &id, val, vlen);
		if (w < 0)
			return w;
		if (!w)
			return 0;
	}
	b->v[b->n++] = id;
	if (b->n == SCAN_BATCH) {
		b->last = id;
		b->full = true;
		return 1;
	}
	return 0;
}

/* Delete every key of db for which want() is true, in batches. */
int gc_delete_where(struct drfs_repo *r, enum drfs_db db,
		    int (*want)(void *, const struct drfs_id *, const void *,
				size_t),
		    void *ud)
{
	struct batch b = { .want = want, .ud = ud };
	struct drfs_id start;
	bool have_start = false;
	int e = 0;
	b.v = malloc(SCAN_BATCH * sizeof(*b.v));
	if (!b.v)
		return -ENOMEM;
	for (;;) {
		struct drfs_txn *t;
		b.n = 0;
		b.full = false;
		e = drfs_txn_begin(r->index, true, &t);
		if (e < 0)
			break;
		e = drfs_kv_scan(t, db, have_start ? start.b : NULL,
				 have_start ? DRFS_ID_LEN : 0, batch_cb, &b);
		for (size_t i = 0; e >= 0 && i < b.n; i++)
			e = drfs_kv_del(t, db, b.v[i].b, DRFS_ID_LEN);
		if (e >= 0)
			e = drfs_txn_commit(t);
		else
			drfs_txn_abort(t);
		if (e < 0 || !b.full)
			break;
		start = b.last;
		have_start = true;
	}
	free(b.v);
	return e;
}

/* ---- marking ------------------------------------------------------------- */

int gc_is_marked(struct drfs_txn *t, enum drfs_db db, const struct drfs_id *id)
{
	uint8_t d[1];
	int e = drfs_kv_get_fixed(t, db, id->b, DRFS_ID_LEN, d, 1);
	if (e == -ENOENT)
		return 0;
	return e < 0 ? e : 1;
}

struct idvec {
	struct drfs_id *v;
	size_t n, cap;
};

static int idvec_add(struct idvec *iv, const struct drfs_id *id)
{
	if (drfs_grow(&iv->v, &iv->cap, iv->n, sizeof(*iv->v), 64) < 0)
		return -ENOMEM;
	iv->v[iv->n++] = *id;
	return 0;
}

/*
 * Mark tree id and its data blobs, unless it is marked already; its
 * subtrees are added to todo, to be marked next. A tree is marked only
 * together with its data blobs; subtrees follow. Anything missing or
 * corrupt fails with -EBADMSG: gc never runs on a guess.
 */
static int mark_one(struct gc *g, const struct drfs_id *id, struct idvec *todo)
{
	struct drfs_buf b;
	struct drfs_tree_iter it;
	struct drfs_node n;
	struct drfs_txn *t;
	struct idvec data = { 0 };
	char hex[DRFS_ID_HEX_LEN + 1];
	int e;

	e = drfs_txn_begin(g->r->index, false, &t);
	if (e < 0)
		return e;
	e = gc_is_marked(t, g->mark, id);
	drfs_txn_abort(t);
	if (e != 0)
		return e < 0 ? e : 0;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	e = drfs_repo_blob_read(g->r, id, &b);
	e = e ?: drfs_tree_iter_init(&it, b.p, b.len);
	while (e >= 0 && (e = drfs_tree_iter_next(&it, &n)) > 0) {
		if (S_ISDIR(n.mode)) {
			e = idvec_add(todo, &n.subtree);
		} else if (S_ISREG(n.mode)) {
			struct drfs_extent x;
			while (e >= 0 && drfs_node_next_extent(&n, &x) > 0)
				e = idvec_add(&data, &x.id);
		}
	}
	drfs_buf_release(&b);
	if (e < 0) {
		gc_say(g->o->report, g->o->report_data,
		       "tree %s is %s: refusing to collect garbage (run \"drfs "
		       "check\")",
		       drfs_id_hex(id, hex),
		       e == -ENOENT ? "missing" : "unreadable");
		e = -EBADMSG;
		goto out;
	}
	e = drfs_txn_begin(g->r->index, true, &t);
	if (e < 0)
		goto out;
	for (size_t i = 0; e >= 0 && i < data.n; i++) {
		struct drfs_blob_loc loc;
		e = drfs_index_blob_get(t, &data.v[i], &loc);
		if (e == -ENOENT) {
			gc_say(g->o->report, g->o->report_data,
			       "blob %s is missing: refusing to collect garbage "
			       "(run \"drfs check\")",
			       drfs_id_hex(&data.v[i], hex));
			e = -EBADMSG;
		}
		e = e ?: drfs_kv_put(t, g->mark, data.v[i].b, DRFS_ID_LEN, "",
				     0);
	}
	e = e ?: drfs_kv_put(t, g->mark, id->b, DRFS_ID_LEN, "", 0);
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	g->marked_trees++;
out:
	free(data.v);
	return e;
}

/*
 * Mark tree root and every tree below it, depth-first from a stack of ids
 * on the heap, not the C stack: any depth. A marked tree is not read again.
 */
int gc_mark_tree(struct gc *g, const struct drfs_id *root)
{
	struct idvec todo = { 0 };
	int e = idvec_add(&todo, root);
	while (e >= 0 && todo.n) {
		const struct drfs_id id = todo.v[--todo.n];
		e = mark_one(g, &id, &todo);
	}
	free(todo.v);
	return e;
}

/* ---- blobs with several copies ------------------------------------------- */

struct alt_marked {
	struct drfs_txn *t;
	struct idvec ids;
};

static int alt_marked_one(const struct drfs_id *id,
			  const struct drfs_blob_loc *loc, void *userdata)
{
	struct alt_marked *a = userdata;
	(void)loc;
	if (a->ids.n && drfs_id_eq(&a->ids.v[a->ids.n - 1], id))
		return 0; /* its other copies come one after the other */
	int m = gc_is_marked(a->t, MARK_DB, id);
	return m <= 0 ? m : idvec_add(&a->ids, id);
}

/*
 * A marked blob with other copies (docs/verification.md: one stored again
 * after a copy was found corrupted, or two writers that stored it at once)
 * is read: the copy read first must be a good one before the other copies
 * may count as unused. Those of which no copy verifies keep every copy
 * (ka, sorted). A copy that cannot be read (a backend error) stops gc.
 */
int gc_settle_copies(struct gc *g, struct gc_keepall *ka)
{
	struct alt_marked a = { 0 };
	struct drfs_buf b;
	char hex[DRFS_ID_HEX_LEN + 1];
	int e = drfs_txn_begin(g->r->index, false, &a.t);
	if (e < 0)
		return e;
	e = drfs_index_alts_scan(a.t, alt_marked_one, &a);
	drfs_txn_abort(a.t);
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	for (size_t i = 0; e >= 0 && i < a.ids.n; i++) {
		e = drfs_repo_blob_settle(g->r, &a.ids.v[i], &b);
		if (e < 0) {
			gc_say(g->o->report, g->o->report_data,
			       "blob %s has several copies and cannot be read "
			       "(%s): refusing to collect garbage",
			       drfs_id_hex(&a.ids.v[i], hex),
			       drfs_backend_last_error(g->r->be)
				       ?: drfs_strerror(e));
			break;
		}
		if (e == 0) {
			gc_say(g->o->report, g->o->report_data,
			       "blob %s: no copy of it verifies; every copy "
			       "is kept (run \"drfs check --read-data\")",
			       drfs_id_hex(&a.ids.v[i], hex));
			e = drfs_grow(&ka->v, &ka->cap, ka->n, sizeof(*ka->v),
				      16);
			if (e >= 0)
				ka->v[ka->n++] = a.ids.v[i];
		}
	}
	drfs_buf_release(&b);
	free(a.ids.v);
	return e < 0 ? e : 0;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, DRFS_ID_LEN);
}

/* Another copy of a blob is live only when no copy of it verified. */
int gc_account_alt(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		   void *userdata)
{
	struct account *a = userdata;
	if (!a->keep->n ||
	    !bsearch(id, a->keep->v, a->keep->n, sizeof(*id), id_cmp))
		return 0;
	return gc_account_blob(id, loc, userdata);
}

struct gone_alts {
	struct gpacks *packs;
	struct {
		struct drfs_id id;
		uint32_t seq;
	} *v;
	size_t n, cap;
};

static int gone_alt_one(const struct drfs_id *id,
			const struct drfs_blob_loc *loc, void *userdata)
{
	struct gone_alts *ga = userdata;
	struct gpack *p = gc_gpack_find(ga->packs, loc->pack_seq);
	if (!p || !p->gone_now)
		return 0;
	if (drfs_grow(&ga->v, &ga->cap, ga->n, sizeof(*ga->v), 16) < 0)
		return -ENOMEM;
	ga->v[ga->n].id = *id;
	ga->v[ga->n++].seq = loc->pack_seq;
	return 0;
}

/* The other copies in the packs that go leave the cache with them. */
int gc_drop_gone_alts(struct drfs_repo *r, struct gpacks *packs)
{
	struct gone_alts ga = { .packs = packs };
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, true, &t);
	if (e < 0)
		return e;
	e = drfs_index_alts_scan(t, gone_alt_one, &ga);
	for (size_t i = 0; e >= 0 && i < ga.n; i++)
		e = drfs_index_alt_del(t, &ga.v[i].id, ga.v[i].seq);
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	free(ga.v);
	return e;
}

/* ---- per-pack accounting ------------------------------------------------- */



/*
 * S3 Object Lock: the packs this run removes that are still retained stay
 * stored (as noncurrent versions) until their retention ends. Say how many
 * and until when. Nothing on backends without retention.
 */
void gc_report_retained(struct drfs_repo *r, const struct gpacks *packs,
			const struct drfs_gc_opts *o)
{
	size_t n = 0, held = 0;
	int64_t last = 0, now = (int64_t)time(NULL);
	char name[DRFS_OBJECT_NAME_MAX];
	for (size_t i = 0; i < packs->n; i++) {
		if (packs->v[i].action == P_KEEP)
			continue;
		int64_t until;
		bool compliance;
		drfs_name_pack(&packs->v[i].id, name);
		int e = drfs_backend_get_retention(r->be, name, &until,
						   &compliance);
		if (e == -EOPNOTSUPP)
			return; /* no Object Lock: nothing is held */
		n++;
		if (e == 1 && until > now) {
			held++;
			last = MAX(last, until);
		}
	}
	if (!held)
		return;
	struct tm tm;
	char date[32] = "?";
	time_t t = (time_t)last;
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	gc_say(o->report, o->report_data,
	       "Object Lock: %zu of the %zu pack(s) removed are retained until "
	       "%s at the latest; the bucket keeps them (as noncurrent versions) "
	       "and their space returns only then",
	       held, n, date);
}

int gc_gpack_collect(const struct drfs_id *pack,
		     const struct drfs_pack_rec *rec, void *userdata)
{
	struct gpacks *l = userdata;
	if (drfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 256) < 0)
		return -ENOMEM;
	struct gpack *g = &l->v[l->n++];
	memset(g, 0, sizeof(*g));
	g->id = *pack;
	g->seq = rec->seq;
	g->length = rec->length;
	return 0;
}

int gc_gpack_cmp_seq(const void *a, const void *b)
{
	const struct gpack *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct gpack *gc_gpack_find(struct gpacks *l, uint32_t seq)
{
	struct gpack key = { .seq = seq };
	if (!l->n)
		return NULL;
	return bsearch(&key, l->v, l->n, sizeof(*l->v), gc_gpack_cmp_seq);
}

int gc_account_blob(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		    void *userdata)
{
	struct account *a = userdata;
	struct gpack *g = gc_gpack_find(a->packs, loc->pack_seq);
	if (!g)
		return 0;
	g->blobs++;
	int m = gc_is_marked(a->t, MARK_DB, id);
	if (m < 0)
		return m;
	if (m) {
		g->live++;
		g->live_bytes += loc->stored_len;
		a->live_blobs++;
		a->live_bytes += loc->stored_len;
	}
	return 0;
}

/* Bytes of a pack nothing needs (the trailer of its live blobs is needed). */
uint64_t gc_pack_unused(const struct gpack *g)
{
	uint64_t need = g->live_bytes +
			(uint64_t)g->live * DRFS_PACK_ENTRY_LEN + 128;
	return g->length > need ? g->length - need : 0;
}

int gc_cmp_unused_desc(const void *a, const void *b)
{
	const struct gpack *x = *(const struct gpack *const *)a;
	const struct gpack *y = *(const struct gpack *const *)b;
	uint64_t ux = gc_pack_unused(x), uy = gc_pack_unused(y);
	if (ux != uy)
		return ux > uy ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}
