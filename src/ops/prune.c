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
#define DEL_BATCH 1000
#define SCAN_BATCH 8192
#define TREE_DEPTH_MAX 1024

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
 * Record the removal (forgotten/, before anything is deleted: a snapshot
 * that disappears without a record is reported as vanished), then delete
 * the snapshot objects; the first one alone (a crash point between).
 */
static int forget_objects(struct drfs_repo *r, const struct drfs_id *ids,
			  size_t n)
{
	if (!n)
		return 0;
	int e = drfs_repo_forget_record(r, ids, n);
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
	uint64_t marked_trees;
};

static int is_marked(struct drfs_txn *t, const struct drfs_id *id)
{
	uint8_t d[1];
	int e = drfs_kv_get_fixed(t, MARK_DB, id->b, DRFS_ID_LEN, d, 1);
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
 * Mark tree id, its data blobs and (recursively) its subtrees. A tree is
 * marked only together with its data blobs; subtrees follow. Anything
 * missing or corrupt fails with -EBADMSG: gc never runs on a guess.
 */
static int mark_tree(struct gc *g, const struct drfs_id *id, int depth)
{
	struct drfs_buf b;
	struct drfs_tree_iter it;
	struct drfs_node n;
	struct drfs_txn *t;
	struct idvec data = { 0 }, subs = { 0 };
	char hex[DRFS_ID_HEX_LEN + 1];
	int e;

	if (depth > TREE_DEPTH_MAX)
		return -ELOOP;
	e = drfs_txn_begin(g->r->index, false, &t);
	if (e < 0)
		return e;
	e = is_marked(t, id);
	drfs_txn_abort(t);
	if (e != 0)
		return e < 0 ? e : 0;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	e = drfs_repo_blob_read(g->r, id, &b);
	e = e ?: drfs_tree_iter_init(&it, b.p, b.len);
	while (e >= 0 && (e = drfs_tree_iter_next(&it, &n)) > 0) {
		if (S_ISDIR(n.mode)) {
			e = idvec_add(&subs, &n.subtree);
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
		e = e ?: drfs_kv_put(t, MARK_DB, data.v[i].b, DRFS_ID_LEN, "",
				     0);
	}
	e = e ?: drfs_kv_put(t, MARK_DB, id->b, DRFS_ID_LEN, "", 0);
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	g->marked_trees++;
	for (size_t i = 0; e >= 0 && i < subs.n; i++)
		e = mark_tree(g, &subs.v[i], depth + 1);
out:
	free(data.v);
	free(subs.v);
	return e;
}

/* ---- per-pack accounting ------------------------------------------------- */

enum { P_KEEP, P_DELETE, P_REPACK };

struct gpack {
	struct drfs_id id;
	uint32_t seq, length;
	uint32_t live, blobs;
	uint64_t live_bytes;
	int action;
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

static int gpack_collect(const void *key, size_t klen, const void *val,
			 size_t vlen, void *userdata)
{
	struct gpacks *l = userdata;
	if (klen != DRFS_ID_LEN || vlen != 12)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		void *p = realloc(l->v, cap * sizeof(*l->v));
		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	struct gpack *g = &l->v[l->n++];
	memset(g, 0, sizeof(*g));
	memcpy(g->id.b, key, DRFS_ID_LEN);
	g->seq = drfs_get_le32(val);
	g->length = drfs_get_le32((const uint8_t *)val + 4);
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
	return bsearch(&key, l->v, l->n, sizeof(*l->v), gpack_cmp_seq);
}

static void loc_decode(const uint8_t *p, struct drfs_blob_loc *loc)
{
	loc->pack_seq = drfs_get_le32(p);
	loc->offset = drfs_get_le32(p + 4);
	loc->stored_len = drfs_get_le32(p + 8);
	loc->raw_len = drfs_get_le32(p + 12);
	loc->type = p[16];
	loc->flags = p[17];
}

struct account {
	struct gpacks *packs;
	struct drfs_txn *t;
	uint64_t live_blobs, live_bytes;
};

static int account_blob(const void *key, size_t klen, const void *val,
			size_t vlen, void *userdata)
{
	struct account *a = userdata;
	struct drfs_blob_loc loc;
	if (klen != DRFS_ID_LEN || vlen != 18)
		return 0;
	loc_decode(val, &loc);
	struct gpack *g = gpack_find(a->packs, loc.pack_seq);
	if (!g)
		return 0;
	g->blobs++;
	int m = is_marked(a->t, (const struct drfs_id *)key);
	if (m < 0)
		return m;
	if (m) {
		g->live++;
		g->live_bytes += loc.stored_len;
		a->live_blobs++;
		a->live_bytes += loc.stored_len;
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
		int m = ge == 0 ? is_marked(t, &es[i].id) : 0;
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
	struct drfs_blob_loc loc;
	struct drfs_id pack;
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	int e = drfs_index_blob_get(v->t, (const struct drfs_id *)key, &loc);
	e = e ?: drfs_index_pack_by_seq(v->t, loc.pack_seq, &pack, NULL);
	if (e == -ENOENT)
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

static int want_doomed_blob(void *ud, const struct drfs_id *key,
			    const void *val, size_t vlen)
{
	struct doomed_ctx *d = ud;
	struct drfs_blob_loc loc;
	(void)key;
	if (vlen != 18)
		return 0;
	loc_decode(val, &loc);
	struct gpack *g = gpack_find(d->packs, loc.pack_seq);
	return g && g->action != P_KEEP;
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

static int gc_run(struct drfs_repo *r, const struct drfs_gc_opts *o,
		  const struct drfs_snap_info *only, size_t n_only,
		  struct drfs_gc_result *ret)
{
	struct gc g = { .r = r, .o = o };
	struct gpacks packs = { 0 };
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
		e = mark_tree(&g, &only[i].snap.root, 0);
		if (e >= 0 && !drfs_id_is_zero(&only[i].snap.meta))
			e = mark_tree(&g, &only[i].snap.meta, 0);
	}
	for (size_t i = 0; e >= 0 && i < o->n_roots; i++)
		e = mark_tree(&g, &o->roots[i], 0);
	if (e < 0)
		goto out;

	/* 3. account */
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = drfs_kv_scan(t, DRFS_DB_PACKS, NULL, 0, gpack_collect, &packs);
	if (e >= 0)
		qsort(packs.v, packs.n, sizeof(*packs.v), gpack_cmp_seq);
	struct account acc = { .packs = &packs, .t = t };
	e = e ?: drfs_kv_scan(t, DRFS_DB_BLOBS, NULL, 0, account_blob, &acc);
	drfs_txn_abort(t);
	if (e < 0)
		goto out;
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
		if (p->live == 0) {
			p->action = P_DELETE;
			res.packs_deleted++;
			continue;
		}
		unused += pack_unused(p);
		if (pack_unused(p))
			cand[n_cand++] = p;
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
		if (packs.v[i].action == P_KEEP)
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
	if (!res.packs_deleted && !res.packs_repacked) {
		res.pack_bytes_after = res.pack_bytes_before;
		goto done;
	}

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

	/* 5. doomed packs leave the cache; no live blob may go with them */
	struct doomed_ctx dc = { .packs = &packs };
	e = delete_where(r, DRFS_DB_BLOBS, want_doomed_blob, &dc);
	if (e < 0)
		goto out;
	/* the marked blobs must all still be indexed (a cheap self-check) */
	e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < packs.n; i++) {
		struct gpack *p = &packs.v[i];
		uint8_t k[4] = { p->seq >> 24, p->seq >> 16, p->seq >> 8,
				 p->seq };
		if (p->action == P_KEEP)
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
	/* 7. only now: the old packs */
	size_t nd = 0;
	names = calloc(packs.n + 1, sizeof(*names));
	if (!names) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < packs.n; i++)
		if (packs.v[i].action != P_KEEP)
			drfs_name_pack(&packs.v[i].id, names[nd++]);
	e = delete_names(r->be, names, nd / 2);
	crash_point("delete");
	e = e ?: delete_names(r->be, names + nd / 2, nd - nd / 2);
	if (e < 0) {
		say(o->report, o->report_data, "cannot delete old packs: %s "
		    "(the next prune removes them)",
		    drfs_backend_last_error(r->be) ?: drfs_strerror(e));
		goto out;
	}
	res.pack_bytes_after = keep_bytes + op.bytes;
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
	return e;
}

int drfs_gc(struct drfs_repo *r, const struct drfs_gc_opts *o,
	    struct drfs_gc_result *ret)
{
	return gc_run(r, o, NULL, 0, ret);
}

/* ---- prune ------------------------------------------------------------- */

struct held {
	struct drfs_id *v;
	size_t n, cap;
};

static int held_visit(const char *name, uint64_t size, void *userdata)
{
	struct held *h = userdata;
	struct drfs_id id;
	(void)size;
	if (strncmp(name, "holds/", 6) != 0 || drfs_id_parse(name + 6, &id) < 0)
		return 0;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		void *p = realloc(h->v, cap * sizeof(*h->v));
		if (!p)
			return -ENOMEM;
		h->v = p;
		h->cap = cap;
	}
	h->v[h->n++] = id;
	return 0;
}

int drfs_holds_list(struct drfs_repo *r, struct drfs_id **ret, size_t *ret_n)
{
	struct held h = { 0 };
	int e = drfs_backend_list(r->be, "holds/", held_visit, &h);
	if (e < 0) {
		free(h.v);
		return e;
	}
	*ret = h.v;
	*ret_n = h.n;
	return 0;
}

bool drfs_holds_has(const struct drfs_id *v, size_t n, const struct drfs_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (drfs_id_eq(&v[i], id))
			return true;
	return false;
}

int drfs_prune(struct drfs_repo *r, const struct drfs_prune_opts *o,
	       struct drfs_prune_result *ret)
{
	struct drfs_lock *lock = NULL;
	struct drfs_policy pol;
	struct drfs_snap_info *snaps = NULL, *kept = NULL;
	struct drfs_policy_verdict *v = NULL;
	struct drfs_id *gone = NULL;
	struct drfs_id *held = NULL;
	size_t n_held = 0;
	size_t n = 0, n_kept = 0, n_gone = 0;
	int e;

	memset(ret, 0, sizeof(*ret));
	if (!o->no_lock && !o->gc.dry_run) {
		e = drfs_lock_acquire(r, true, &lock, ret->why,
				      sizeof(ret->why));
		if (e < 0)
			return e;
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
	if (!v || !kept || !gone) {
		e = -ENOMEM;
		goto out;
	}
	e = drfs_policy_apply(&pol, snaps, n, time(NULL), v);
	if (e < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
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
	ret->kept = n_kept;
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
		e = gc_run(r, &o->gc, NULL, 0, &ret->gc);
	} else {
		e = gc_run(r, &o->gc, kept, n_kept, &ret->gc);
	}
out:
	drfs_lock_release(lock);
	free(snaps);
	free(kept);
	free(gone);
	free(v);
	free(held);
	return e;
}
