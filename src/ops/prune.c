/* SPDX-License-Identifier: MIT */
/*
 * prune.c - forgetting snapshots and garbage collection.
 *
 * gc, in an order that keeps the repository valid after a crash at any
 * point (docs/retention.md has the argument):
 *   1. sync the cache with the repository, listing data/ (packs in no
 *      index object are adopted from their trailers); only packs known now
 *      are ever deleted;
 *   2. mark every blob reachable from the snapshots in DRFS_DB_AUX1;
 *   3. per pack: live bytes; packs without live blobs are doomed; the
 *      emptiest others are repacked until unused <= max_unused * live;
 *   4. repack: live blobs' stored records (verified) are copied verbatim
 *      into new packs (uploaded, then recorded in the cache);
 *   5. the doomed packs leave the cache, a complete new index is written
 *      and the old index objects deleted (drfs_repo_write_full_index);
 *   6. only then the doomed packs are deleted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/prune.h"

#define MARK_DB DRFS_DB_AUX1
#define RESCUE_DB DRFS_DB_AUX2 /* never the same as gc's: a mount's rescue
				  may run while a prune marks in its cache */
#define DEL_BATCH 1000
#define SCAN_BATCH 8192

/* DRFS_TEST_CRASH_AT=<step>: die like kill -9 at a named step (tests). */
static void crash_point(const char *step)
{
	const char *c = getenv("DRFS_TEST_CRASH_AT");
	if (c && strcmp(c, step) == 0)
		_exit(137);
}

static void say(drfs_report_fn fn, void *ud, const char *fmt, ...)
	_printf_(3, 4);
static void say(drfs_report_fn fn, void *ud, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(ud, "%s", msg);
}

/* ---- forget ------------------------------------------------------------- */

static int delete_names(struct drfs_backend *be,
			char (*names)[DRFS_OBJECT_NAME_MAX], size_t n)
{
	const char *v[DEL_BATCH];
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		while (i < n && k < DEL_BATCH)
			v[k++] = names[i++];
		int e = drfs_backend_del_many(be, v, k);
		if (e < 0)
			return e;
	}
	return 0;
}

static int uncache_snapshots(struct drfs_repo *r, const struct drfs_id *ids,
			     size_t n)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		e = drfs_kv_del(t, DRFS_DB_SNAPS, ids[i].b, DRFS_ID_LEN);
		if (e == -ENOENT)
			e = 0;
	}
	if (e >= 0)
		return drfs_txn_commit(t);
	drfs_txn_abort(t);
	return e;
}

/*
 * Keep the folder names of snapshots written before names were recorded
 * (names/), record the removal (forgotten/, before anything is deleted: a
 * snapshot that disappears without a record is reported as vanished),
 * then delete the snapshot objects; the first one alone (a crash point
 * between).
 */
static int forget_objects(struct drfs_repo *r, const struct drfs_id *ids,
			  size_t n)
{
	if (!n)
		return 0;
	/* no later snapshot may be given a name one of these was shown as */
	int e = drfs_repo_snapshot_names_keep(r, ids, n);
	e = e ?: drfs_repo_forget_record(r, ids, n);
	if (e < 0)
		return e;
	crash_point("record");
	char(*names)[DRFS_OBJECT_NAME_MAX] = calloc(n, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		drfs_name_snapshot(&ids[i], names[i]);
	e = delete_names(r->be, names, 1);
	crash_point("forget");
	e = e ?: delete_names(r->be, names + 1, n - 1);
	free(names);
	int u = uncache_snapshots(r, ids, n);
	return e ?: u;
}

int drfs_forget(struct drfs_repo *r, const struct drfs_id *ids, size_t n)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	for (size_t i = 0; e >= 0 && i < n; i++) {
		uint8_t d[1];
		e = drfs_kv_get_fixed(t, DRFS_DB_SNAPS, ids[i].b, DRFS_ID_LEN,
				      d, 1);
		/* a snapshot that vanished: its record acknowledges that */
		if (e == -ENOENT)
			e = drfs_kv_get_fixed(t, DRFS_DB_SNAP_HISTORY, ids[i].b,
					      DRFS_ID_LEN, d, 1);
		if (e == -E2BIG)
			e = 0; /* present, or vanished */
	}
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++) {
		e = drfs_hold_check(r, &ids[i]);
		if (e < 0)
			return e;
		if (e > 0)
			return -EBUSY;
	}
	return forget_objects(r, ids, n);
}

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
static int delete_where(struct drfs_repo *r, enum drfs_db db,
			int (*want)(void *, const struct drfs_id *,
				    const void *, size_t),
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

struct gc {
	struct drfs_repo *r;
	const struct drfs_gc_opts *o;
	enum drfs_db mark; /* MARK_DB, or RESCUE_DB for drfs_gc_rescue */
	uint64_t marked_trees;
};

static int is_marked(struct drfs_txn *t, enum drfs_db db,
		     const struct drfs_id *id)
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
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? 2 * iv->cap : 64;
		void *p = realloc(iv->v, cap * sizeof(*iv->v));
		if (!p)
			return -ENOMEM;
		iv->v = p;
		iv->cap = cap;
	}
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
	e = is_marked(t, g->mark, id);
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
		say(g->o->report, g->o->report_data,
		    "tree %s is %s: refusing to collect garbage (run \"drfs "
		    "check\")", drfs_id_hex(id, hex),
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
			say(g->o->report, g->o->report_data,
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
static int mark_tree(struct gc *g, const struct drfs_id *root)
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

/* ---- per-pack accounting ------------------------------------------------- */

/*
 * P_PENDING: doomed by a deletion record some live holder has not
 * acknowledged yet; this run leaves it alone.
 */
enum { P_KEEP, P_DELETE, P_REPACK, P_PENDING };

struct gpack {
	struct drfs_id id;
	uint32_t seq, length;
	uint32_t live, blobs;
	uint64_t live_bytes;
	int action;
	bool in_record; /* doomed by a deletion record */
	bool pending;   /* ... one not every live holder acknowledged */
	bool gone_now;  /* deleted by this run (not only doomed) */
	bool recent;    /* uploaded after a live writer's watermark */
};

struct gpacks {
	struct gpack *v;
	size_t n, cap;
};

/*
 * S3 Object Lock: the packs this run removes that are still retained stay
 * stored (as noncurrent versions) until their retention ends. Say how many
 * and until when. Nothing on backends without retention.
 */
static void report_retained(struct drfs_repo *r, const struct gpacks *packs,
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
	say(o->report, o->report_data,
	    "Object Lock: %zu of the %zu pack(s) removed are retained until "
	    "%s at the latest; the bucket keeps them (as noncurrent versions) "
	    "and their space returns only then", held, n, date);
}

static int gpack_collect(const struct drfs_id *pack,
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

static int gpack_cmp_seq(const void *a, const void *b)
{
	const struct gpack *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct gpack *gpack_find(struct gpacks *l, uint32_t seq)
{
	struct gpack key = { .seq = seq };
	if (!l->n)
		return NULL;
	return bsearch(&key, l->v, l->n, sizeof(*l->v), gpack_cmp_seq);
}

struct account {
	struct gpacks *packs;
	struct drfs_txn *t;
	uint64_t live_blobs, live_bytes;
};

static int account_blob(const struct drfs_id *id,
			const struct drfs_blob_loc *loc, void *userdata)
{
	struct account *a = userdata;
	struct gpack *g = gpack_find(a->packs, loc->pack_seq);
	if (!g)
		return 0;
	g->blobs++;
	int m = is_marked(a->t, MARK_DB, id);
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
static uint64_t pack_unused(const struct gpack *g)
{
	uint64_t need = g->live_bytes +
			(uint64_t)g->live * DRFS_PACK_ENTRY_LEN + 128;
	return g->length > need ? g->length - need : 0;
}

static int cmp_unused_desc(const void *a, const void *b)
{
	const struct gpack *x = *(const struct gpack *const *)a;
	const struct gpack *y = *(const struct gpack *const *)b;
	uint64_t ux = pack_unused(x), uy = pack_unused(y);
	if (ux != uy)
		return ux > uy ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- repacking ----------------------------------------------------------- */

struct outpack {
	struct drfs_buf buf;
	struct drfs_pack_entry *e;
	size_t n;
	uint64_t written, bytes;
};

static int outpack_flush(struct gc *g, struct outpack *op)
{
	struct drfs_repo *r = g->r;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_txn *t;
	if (!op->n)
		return 0;
	int e = drfs_pack_finish(&r->keys, op->e, op->n, &op->buf);
	if (e < 0)
		return e;
	drfs_sha256(op->buf.p, op->buf.len, &id);
	drfs_name_pack(&id, name);
	e = drfs_backend_put(r->be, name, op->buf.p, op->buf.len,
			     DRFS_PUT_CREATE_ONLY);
	if (e < 0) {
		say(g->o->report, g->o->report_data, "cannot write \"%s\": %s",
		    name, drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		return e;
	}
	/* uploaded: now the cache may point the blobs at it */
	e = drfs_txn_begin(r->index, true, &t);
	uint32_t seq;
	e = e ?: drfs_index_pack_add(t, &id, (uint32_t)op->buf.len,
				     (uint32_t)op->n, &seq);
	for (size_t i = 0; e >= 0 && i < op->n; i++) {
		struct drfs_blob_loc loc = {
			.pack_seq = seq, .offset = op->e[i].offset,
			.stored_len = op->e[i].stored_len,
			.raw_len = op->e[i].raw_len, .type = op->e[i].type,
			.flags = op->e[i].flags,
		};
		e = drfs_index_blob_put(t, &op->e[i].id, &loc);
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	if (e < 0)
		return e;
	op->written++;
	op->bytes += op->buf.len;
	drfs_buf_reset(&op->buf);
	op->n = 0;
	crash_point("repack");
	return 0;
}

static int repack_one(struct gc *g, struct gpack *p, struct outpack *op,
		      struct drfs_buf *scratch)
{
	struct drfs_repo *r = g->r;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_buf in;
	struct drfs_pack_entry *es = NULL;
	size_t n = 0;
	uint64_t toff;
	uint32_t tlen;
	struct drfs_id sum;
	int e;

	drfs_name_pack(&p->id, name);
	drfs_buf_init(&in, DRFS_PACK_MAX);
	e = drfs_backend_get(r->be, name, 0, UINT64_MAX, &in);
	if (e >= 0) {
		drfs_sha256(in.p, in.len, &sum);
		if (in.len != p->length || !drfs_id_eq(&sum, &p->id) ||
		    in.len < DRFS_PACK_TAIL_LEN)
			e = -EBADMSG;
	}
	e = e ?: drfs_pack_tail_parse(in.p + in.len - DRFS_PACK_TAIL_LEN,
				      DRFS_PACK_TAIL_LEN, in.len, &toff, &tlen);
	e = e ?: drfs_pack_trailer_decode(&r->keys, in.p + toff, tlen, toff,
					  &es, &n);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		struct drfs_txn *t;
		struct drfs_blob_loc loc;
		e = drfs_txn_begin(r->index, false, &t);
		if (e < 0)
			break;
		int ge = drfs_index_blob_get(t, &es[i].id, &loc);
		int m = ge == 0 ? is_marked(t, MARK_DB, &es[i].id) : 0;
		drfs_txn_abort(t);
		if (ge < 0 && ge != -ENOENT) {
			e = ge;
			break;
		}
		if (m < 0) {
			e = m;
			break;
		}
		/* only the copy the index uses, only live blobs */
		if (ge || !m || loc.pack_seq != p->seq ||
		    loc.offset != es[i].offset)
			continue;
		/* never copy a damaged blob into a new pack */
		drfs_buf_reset(scratch);
		e = drfs_blob_open(&r->keys, NULL, &es[i], in.p + es[i].offset,
				   es[i].stored_len, scratch);
		if (e < 0)
			break;
		if (op->buf.len + es[i].stored_len + 4096 +
			    (op->n + 1) * DRFS_PACK_ENTRY_LEN > DRFS_PACK_MAX ||
		    op->n >= DRFS_PACK_MAX_BLOBS) {
			e = outpack_flush(g, op);
			if (e < 0)
				break;
		}
		struct drfs_pack_entry ne = es[i];
		ne.offset = (uint32_t)op->buf.len;
		e = drfs_buf_append(&op->buf, in.p + es[i].offset,
				    es[i].stored_len);
		if (e < 0)
			break;
		op->e[op->n++] = ne;
		if (op->buf.len >= r->config.pack_target)
			e = outpack_flush(g, op);
	}
	if (e == -EBADMSG)
		say(g->o->report, g->o->report_data,
		    "pack \"%s\" is damaged: not repacking (run \"drfs check "
		    "--read-data\")", name);
	free(es);
	drfs_buf_release(&in);
	return e;
}

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
	struct gpack *g = gpack_find(d->packs, loc.pack_seq);
	return g && g->gone_now;
}

static int want_all(void *ud, const struct drfs_id *key, const void *val,
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
	struct gpack *g = gpack_find(rs->packs, seq);
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
		say(g->o->report, g->o->report_data,
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

static int gc_run(struct drfs_repo *r, const struct drfs_gc_opts *o,
		  const struct drfs_snap_info *only, size_t n_only,
		  struct drfs_gc_result *ret)
{
	struct gc g = { .r = r, .o = o, .mark = MARK_DB };
	struct gpacks packs = { 0 };
	struct records rs = { 0 };
	struct drfs_snap_info *snaps = NULL;
	size_t n_snaps = 0;
	struct drfs_gc_result res = { 0 };
	struct outpack op = { 0 };
	struct drfs_buf scratch;
	struct drfs_txn *t;
	char (*names)[DRFS_OBJECT_NAME_MAX] = NULL;
	double max_unused = o->max_unused < 0 ? 0.05 : o->max_unused;
	int e;

	drfs_buf_init(&scratch, DRFS_BLOB_MAX);
	drfs_buf_init(&op.buf, DRFS_PACK_MAX);
	/* 1. the repository as it is now; the packs listed here are the
	 * only ones this run may delete */
	e = drfs_repo_sync(r, true);
	if (e < 0) {
		say(o->report, o->report_data, "%s: refusing to collect "
		    "garbage (run \"drfs check\")",
		    drfs_repo_last_error() ?: drfs_strerror(e));
		goto out;
	}
	if (r->damaged) {
		say(o->report, o->report_data, "%u damaged or missing "
		    "object(s): refusing to collect garbage (run \"drfs "
		    "check\")", r->damaged);
		e = -EBADMSG;
		goto out;
	}
	/* 2. mark */
	e = delete_where(r, MARK_DB, want_all, NULL);
	if (e < 0)
		goto out;
	if (!only) {
		e = drfs_repo_snapshots(r, &snaps, &n_snaps);
		if (e < 0)
			goto out;
		only = snaps;
		n_only = n_snaps;
	}
	for (size_t i = 0; e >= 0 && i < n_only; i++) {
		e = mark_tree(&g, &only[i].snap.root);
		if (e >= 0 && !drfs_id_is_zero(&only[i].snap.meta))
			e = mark_tree(&g, &only[i].snap.meta);
	}
	for (size_t i = 0; e >= 0 && i < o->n_roots; i++)
		e = mark_tree(&g, &o->roots[i]);
	if (e < 0)
		goto out;
	/* the records, and who is live now */
	e = records_load(r, o, &rs, &res);
	if (e < 0) {
		say(o->report, o->report_data, "cannot read the locks: %s",
		    drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		goto out;
	}

	/* 3. account */
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = drfs_index_packs_scan(t, gpack_collect, &packs);
	if (e >= 0 && packs.n)
		qsort(packs.v, packs.n, sizeof(*packs.v), gpack_cmp_seq);
	struct account acc = { .packs = &packs, .t = t };
	e = e ?: drfs_index_blobs_scan(t, account_blob, &acc);
	drfs_txn_abort(t);
	if (e < 0)
		goto out;
	records_classify(&rs, &packs);
	if (o->deferred && (e = mark_recent(r, &rs, &packs, &res)) < 0) {
		say(o->report, o->report_data, "cannot list \"data/\": %s",
		    drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		goto out;
	}
	res.packs_before = packs.n;
	res.live_blobs = acc.live_blobs;
	res.live_bytes = acc.live_bytes;
	uint64_t unused = 0;
	struct gpack **cand = calloc(packs.n + 1, sizeof(*cand));
	size_t n_cand = 0;
	if (!cand) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < packs.n; i++) {
		struct gpack *p = &packs.v[i];
		res.pack_bytes_before += p->length;
		if (p->pending) {
			/* a holder may still read it: untouched */
			p->action = P_PENDING;
			res.packs_pending++;
			res.pack_bytes_deferred += p->length;
		} else if (p->in_record) {
			/* its record is done with; a live blob in it (a
			 * snapshot written meanwhile uses it) moves first */
			p->action = p->live ? P_REPACK : P_DELETE;
		} else if (p->recent) {
			continue; /* a live writer's, perhaps: kept as it is */
		} else if (p->live == 0) {
			p->action = P_DELETE;
		} else {
			unused += pack_unused(p);
			if (pack_unused(p))
				cand[n_cand++] = p;
			continue;
		}
		if (p->action == P_DELETE)
			res.packs_deleted++;
		else if (p->action == P_REPACK)
			res.packs_repacked++;
	}
	qsort(cand, n_cand, sizeof(*cand), cmp_unused_desc);
	uint64_t limit = (uint64_t)(max_unused * (double)acc.live_bytes);
	for (size_t i = 0; i < n_cand && unused > limit; i++) {
		cand[i]->action = P_REPACK;
		unused -= pack_unused(cand[i]);
		res.packs_repacked++;
	}
	free(cand);
	res.unused_bytes_after = unused;
	uint64_t keep_bytes = 0;
	for (size_t i = 0; i < packs.n; i++)
		if (packs.v[i].action == P_KEEP ||
		    packs.v[i].action == P_PENDING)
			keep_bytes += packs.v[i].length;
	say(o->report, o->report_data,
	    "%llu pack(s): %llu to delete, %llu to repack; live %llu blob(s), "
	    "%llu bytes", (unsigned long long)res.packs_before,
	    (unsigned long long)res.packs_deleted,
	    (unsigned long long)res.packs_repacked,
	    (unsigned long long)res.live_blobs,
	    (unsigned long long)res.live_bytes);
	report_retained(r, &packs, o);
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
	if (res.packs_repacked) {
		op.e = malloc(DRFS_PACK_MAX_BLOBS * sizeof(*op.e));
		if (!op.e) {
			e = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; e >= 0 && i < packs.n; i++)
		if (packs.v[i].action == P_REPACK)
			e = repack_one(&g, &packs.v[i], &op, &scratch);
	e = e ?: outpack_flush(&g, &op);
	if (e < 0)
		goto out;
	res.packs_written = op.written;

	/*
	 * 5. what goes now: with an exclusive lock every doomed pack; under
	 * a prune lock only the packs of finished records that hold no live
	 * blob. The rest is doomed by a new deletion record, written before
	 * the index stops naming those packs.
	 */
	for (size_t i = 0; i < packs.n; i++) {
		struct gpack *p = &packs.v[i];
		p->gone_now = p->action == P_DELETE || p->action == P_REPACK;
		if (o->deferred && !(p->action == P_DELETE && p->in_record))
			p->gone_now = false;
	}
	if (o->deferred) {
		e = write_records(&g, &packs, &rs, &res);
		if (e < 0)
			goto out;
		crash_point("deletion");
	}
	/* the packs that go leave the cache; no live blob may go with them */
	struct doomed_ctx dc = { .packs = &packs };
	e = delete_where(r, DRFS_DB_BLOBS, want_gone_blob, &dc);
	if (e < 0)
		goto out;
	e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < packs.n; i++) {
		struct gpack *p = &packs.v[i];
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
		goto out;
	/* the marked blobs must all be in packs that stay (a self-check) */
	e = verify_marked_indexed(r);
	if (e < 0) {
		say(o->report, o->report_data, "internal error: a live blob "
		    "lost its location; nothing deleted (rerun prune)");
		/* the cache no longer matches the index objects: rebuild */
		drfs_index_clear(r->index);
		goto out;
	}
	crash_point("index");
	/* 6. a complete index of what stays; old index objects go */
	e = drfs_repo_write_full_index(r);
	if (e < 0) {
		say(o->report, o->report_data, "cannot write the new index: %s",
		    drfs_repo_last_error() ?: drfs_strerror(e));
		goto out;
	}
	/* 7. only now: the packs that go, then the finished records */
	size_t nd = 0;
	uint64_t gone_bytes = 0;
	names = calloc(packs.n + 1, sizeof(*names));
	if (!names) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < packs.n; i++) {
		if (!packs.v[i].gone_now)
			continue;
		drfs_name_pack(&packs.v[i].id, names[nd++]);
		gone_bytes += packs.v[i].length;
	}
	e = delete_names(r->be, names, nd / 2);
	crash_point("delete");
	e = e ?: delete_names(r->be, names + nd / 2, nd - nd / 2);
	if (e < 0) {
		say(o->report, o->report_data, "cannot delete old packs: %s "
		    "(the next prune removes them)",
		    drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		goto out;
	}
	res.packs_gone = nd;
	res.pack_bytes_after = res.pack_bytes_before - gone_bytes + op.bytes;
records:
	for (size_t i = 0; e >= 0 && i < rs.n; i++)
		if (rs.eligible[i])
			e = drfs_repo_deletion_remove(r, &rs.v[i].id);
	if (e < 0) {
		say(o->report, o->report_data, "%s (the next prune removes "
		    "it)", drfs_repo_last_error() ?: drfs_strerror(e));
		goto out;
	}
done:
	e = 0;
	*ret = res;
out:
	delete_where(r, MARK_DB, want_all, NULL);
	free(names);
	free(op.e);
	drfs_buf_release(&op.buf);
	drfs_buf_release(&scratch);
	free(packs.v);
	free(snaps);
	records_free(&rs);
	return e;
}

int drfs_gc(struct drfs_repo *r, const struct drfs_gc_opts *o,
	    struct drfs_gc_result *ret)
{
	return gc_run(r, o, NULL, 0, ret);
}

/* ---- rescue: a live writer's references out of doomed packs ------------ */

struct rescue {
	struct drfs_repo *r;
	struct drfs_id *v; /* marked blobs whose location is doomed */
	size_t n, cap;
	struct drfs_txn *t;
};

static int rescue_want(const void *key, size_t klen, const void *val,
		       size_t vlen, void *userdata)
{
	struct rescue *rc = userdata;
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	int e = drfs_repo_blob_doomed(rc->t, key);
	if (e <= 0)
		return e == -ENOENT ? -EBADMSG : e;
	if (drfs_grow(&rc->v, &rc->cap, rc->n, sizeof(*rc->v), 256) < 0)
		return -ENOMEM;
	memcpy(rc->v[rc->n++].b, key, DRFS_ID_LEN);
	return 0;
}

int drfs_gc_rescue(struct drfs_repo *r, const struct drfs_id *roots,
		   size_t n_roots, drfs_report_fn report, void *report_data,
		   uint64_t *ret_blobs)
{
	struct drfs_gc_opts go = { .report = report,
				   .report_data = report_data };
	struct gc g = { .r = r, .o = &go, .mark = RESCUE_DB };
	struct rescue rc = { .r = r };
	struct drfs_writer *w = NULL;
	struct drfs_buf b;
	int e;

	*ret_blobs = 0;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	e = delete_where(r, RESCUE_DB, want_all, NULL);
	for (size_t i = 0; e >= 0 && i < n_roots; i++)
		e = mark_tree(&g, &roots[i]);
	e = e ?: drfs_txn_begin(r->index, false, &rc.t);
	if (e >= 0) {
		e = drfs_kv_scan(rc.t, RESCUE_DB, NULL, 0, rescue_want, &rc);
		drfs_txn_abort(rc.t);
	}
	if (e >= 0 && rc.n)
		e = drfs_writer_new(r, &w);
	for (size_t i = 0; e >= 0 && i < rc.n; i++) {
		struct drfs_blob_loc loc;
		drfs_buf_reset(&b);
		e = drfs_repo_blob_find(r, &rc.v[i], &loc, NULL);
		e = e ?: drfs_repo_blob_read(r, &rc.v[i], &b);
		/* the writer does not deduplicate against doomed packs */
		e = e ?: drfs_writer_put(w, (enum drfs_blob_type)loc.type,
					 &rc.v[i], b.p, b.len);
	}
	if (e >= 0 && w)
		e = drfs_writer_flush(w);
	if (e >= 0)
		*ret_blobs = rc.n;
	else if (w && drfs_writer_error(w))
		say(report, report_data, "%s", drfs_writer_error(w));
	drfs_writer_free(w);
	delete_where(r, RESCUE_DB, want_all, NULL);
	drfs_buf_release(&b);
	free(rc.v);
	return e;
}

/* ---- prune ------------------------------------------------------------- */

int drfs_holds_list(struct drfs_repo *r, struct drfs_id **ret, size_t *ret_n)
{
	return drfs_repo_list_ids(r, "holds", ret, ret_n);
}

bool drfs_holds_has(const struct drfs_id *v, size_t n, const struct drfs_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (drfs_id_eq(&v[i], id))
			return true;
	return false;
}

int drfs_prune_lock(struct drfs_repo *r, struct drfs_lock **ret,
		    bool *ret_deferred, char *why, size_t why_len)
{
	int e = drfs_lock_take(r, DRFS_LOCK_EXCLUSIVE, DRFS_ROLE_PRUNE, ret,
			       why, why_len);
	*ret_deferred = false;
	if (e != -EBUSY)
		return e;
	/* others use the repository: defer deleting what they may need */
	e = drfs_lock_take(r, DRFS_LOCK_PRUNE, DRFS_ROLE_PRUNE, ret, why,
			   why_len);
	*ret_deferred = e >= 0;
	return e;
}

int drfs_prune(struct drfs_repo *r, const struct drfs_prune_opts *o,
	       struct drfs_prune_result *ret)
{
	struct drfs_lock *lock = NULL;
	struct drfs_gc_opts go = o->gc;
	struct drfs_policy pol;
	struct drfs_snap_info *snaps = NULL, *kept = NULL;
	struct drfs_policy_verdict *v = NULL;
	struct drfs_id *gone = NULL;
	struct drfs_id *held = NULL;
	size_t *ord = NULL;
	size_t n_held = 0;
	size_t n = 0, n_kept = 0, n_gone = 0;
	int e;

	memset(ret, 0, sizeof(*ret));
	if (!o->no_lock && !o->gc.dry_run) {
		/* forgetting alone (no gc) races with no backup */
		e = o->no_gc ? drfs_lock_acquire(r, false, &lock, ret->why,
						  sizeof(ret->why))
			     : drfs_prune_lock(r, &lock, &go.deferred,
					       ret->why, sizeof(ret->why));
		if (e < 0)
			return e;
		go.holder = drfs_lock_id(lock);
		/* the locks of dead processes go (best effort) */
		size_t reaped;
		if (drfs_lock_reap(r, &reaped) == 0 && reaped)
			say(go.report, go.report_data,
			    "removed %zu stale lock(s)", reaped);
	}
	if (o->policy) {
		pol = *o->policy;
	} else {
		e = drfs_policy_load(r, &pol);
		if (e == -ENOENT)
			snprintf(ret->why, sizeof(ret->why),
				 "no policy given and none stored (see \"drfs "
				 "policy\"); refusing to remove everything");
		else if (e < 0)
			snprintf(ret->why, sizeof(ret->why),
				 "cannot read the stored policy: %s",
				 drfs_strerror(e));
		if (e < 0)
			goto out;
	}
	if (drfs_policy_empty(&pol)) {
		snprintf(ret->why, sizeof(ret->why),
			 "the policy keeps nothing; refusing to remove "
			 "everything");
		e = -EINVAL;
		goto out;
	}
	/* the snapshots as they are now, under the lock */
	e = drfs_repo_sync(r, false);
	e = e ?: drfs_repo_snapshots(r, &snaps, &n);
	e = e ?: drfs_holds_list(r, &held, &n_held);
	if (e < 0)
		goto out;
	v = calloc(n + 1, sizeof(*v));
	kept = calloc(n + 1, sizeof(*kept));
	gone = calloc(n + 1, sizeof(*gone));
	ord = calloc(n + 1, sizeof(*ord));
	if (!v || !kept || !gone || !ord) {
		e = -ENOMEM;
		goto out;
	}
	/* only the snapshots o->filter matches; the others stay */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (!drfs_snap_filter_match(o->filter, &snaps[i].snap))
			kept[n_kept++] = snaps[i];
		else if (m++ != i)
			snaps[m - 1] = snaps[i];
	}
	unsigned group_by = o->group_given ? o->group_by : DRFS_GROUP_DEFAULT;
	e = drfs_policy_apply_groups(&pol, group_by, snaps, m, time(NULL), v);
	if (e < 0)
		goto out;
	/* group by group, each oldest first */
	size_t n_groups = (size_t)e, k = 0;
	for (size_t g = 0; g < n_groups; g++)
		for (size_t i = 0; i < m; i++)
			if (v[i].group == g)
				ord[k++] = i;
	for (size_t j = 0; j < m; j++) {
		size_t i = ord[j];
		if (drfs_holds_has(held, n_held, &snaps[i].id)) {
			v[i].reasons |= DRFS_KEEP_HOLD;
			v[i].keep = true;
		}
		if (o->verdict)
			o->verdict(o->verdict_data, &snaps[i], &v[i]);
		if (v[i].keep)
			kept[n_kept++] = snaps[i];
		else
			gone[n_gone++] = snaps[i].id;
	}
	e = 0;
	ret->kept = n_kept - (n - m);
	ret->removed = n_gone;
	if (!o->gc.dry_run) {
		e = forget_objects(r, gone, n_gone);
		if (e < 0) {
			snprintf(ret->why, sizeof(ret->why),
				 "cannot delete snapshots: %s",
				 drfs_backend_last_error(r->be) ?:
					 drfs_strerror(e));
			goto out;
		}
		if (!o->no_gc)
			e = gc_run(r, &go, NULL, 0, &ret->gc);
	} else if (!o->no_gc) {
		e = gc_run(r, &go, kept, n_kept, &ret->gc);
	}
out:
	drfs_lock_release(lock);
	free(ord);
	free(snaps);
	free(kept);
	free(gone);
	free(v);
	free(held);
	return e;
}
