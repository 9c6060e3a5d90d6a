/* SPDX-License-Identifier: MIT */
/*
 * check.c - verify a repository, not the cache: every index/ and
 * snapshots/ object reads and authenticates; every pack an index object
 * lists exists, with its size; no snapshot vanished without a forget
 * record; every snapshot's trees decode and every blob they reference is
 * indexed, by an index object, in a pack that exists (the files that lose
 * data are named); with read_data, every pack is downloaded, its name
 * (SHA-256) recomputed and every blob decrypted, decompressed and its id
 * verified. Files and directories of a local repository and of the cache
 * that other users may read are warned about (not counted as problems).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/ops.h"

/* A snapshot's blob in a pack no index object lists (yet to be cleared). */
struct unlisted {
	struct drfs_id blob, pack;
	bool listed; /* an index object lists the blob after all */
};

struct ck {
	struct drfs_repo *r;
	const struct drfs_check_opts *o;
	pthread_mutex_t lock;
	int problems;
	struct drfs_idset trees;   /* visited tree ids */
	struct drfs_idset indexed; /* packs listed by a readable index object */
	struct drfs_idset lost;    /* packs listed but missing */
	struct drfs_idset seen;    /* blobs already put in unl */
	struct unlisted *unl;
	size_t n_unl, cap_unl;
	bool second; /* index_object's second pass */
	int err; /* -ENOMEM while walking */
};

static void problem(struct ck *c, const char *fmt, ...) _printf_(2, 3);
static void problem(struct ck *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->lock);
	c->problems++;
	if (c->o->report)
		c->o->report(c->o->report_data, "%s", msg);
	pthread_mutex_unlock(&c->lock);
}

/* ---- index and snapshot objects ----------------------------------------- */

static int cmp_unlisted(const void *a, const void *b)
{
	return memcmp(a, b, DRFS_ID_LEN);
}

/* The blobs of c->unl (sorted) that a record lists: they are indexed. */
static void mark_listed(struct ck *c, const uint8_t *raw, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct drfs_pack_entry pe;
		drfs_pack_entry_get(raw + i * DRFS_PACK_ENTRY_LEN, &pe);
		struct unlisted *u = bsearch(&pe.id, c->unl, c->n_unl,
					     sizeof(*c->unl), cmp_unlisted);
		if (u)
			u->listed = true;
	}
}

/*
 * Each index object (drfs_object_fn). First pass: a damaged one is a
 * problem, the packs of the others go to c->indexed. Second pass
 * (c->second, c->unl sorted): the blobs of c->unl they list in a pack
 * that exists are marked as listed.
 */
static int index_object(void *ud, const char *name, int err,
			const uint8_t *p, size_t len)
{
	struct ck *c = ud;
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen;
	size_t n;
	const uint8_t *raw;
	if (err == -ENOENT || (err < 0 && c->second))
		return 0; /* deleted since the listing (a prune); told */
	if (err < 0) {
		problem(c, "index object \"%s\": %s (the packs it lists are "
			   "found from their trailers; \"drfs repair index\" "
			   "rewrites the index)", name, drfs_strerror(err));
		return 0;
	}
	int e = drfs_indexobj_iter_init(&it, p, len);
	while (e >= 0 &&
	       (e = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0) {
		if (!c->second)
			e = drfs_idset_add(&c->indexed, &pack);
		else if (!drfs_idset_has(&c->lost, &pack))
			mark_listed(c, raw, n);
	}
	return e < 0 ? e : 0;
}

static int snapshot_object(void *ud, const char *name, int err,
			   const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	if (err < 0 && err != -ENOENT)
		problem(ud, "snapshot object \"%s\": %s (the snapshot cannot "
			    "be read)", name, drfs_strerror(err));
	return 0;
}

/* ---- trees -------------------------------------------------------------- */

/*
 * Where blob id of the walk lives: a lost pack costs the entry at path
 * (named); a pack no readable index object lists is noted in c->unl. 0,
 * or 1 after a problem was reported.
 */
static int check_blob(struct ck *c, const char *snap, const char *path,
		      const struct drfs_id *id, uint32_t want_len)
{
	struct drfs_blob_loc loc;
	struct drfs_id pack;
	char hex[DRFS_ID_HEX_LEN + 1], phex[DRFS_ID_HEX_LEN + 1];
	int e = drfs_repo_blob_find(c->r, id, &loc, &pack);
	if (e < 0) {
		problem(c, "snapshot %.8s: \"%s\": blob %s is missing", snap,
			path, drfs_id_hex(id, hex));
		return 1;
	}
	if (want_len && loc.raw_len != want_len) {
		problem(c, "snapshot %.8s: \"%s\": blob %s has the wrong size",
			snap, path, drfs_id_hex(id, hex));
		return 1;
	}
	if (drfs_idset_has(&c->lost, &pack)) {
		problem(c, "snapshot %.8s: \"%s\": blob %s is in pack %s, "
			   "which is missing", snap, path, drfs_id_hex(id, hex),
			drfs_id_hex(&pack, phex));
		return 1;
	}
	if (drfs_idset_has(&c->indexed, &pack))
		return 0;
	e = drfs_idset_add(&c->seen, id);
	if (e == 0)
		e = drfs_grow(&c->unl, &c->cap_unl, c->n_unl, sizeof(*c->unl),
			      256);
	if (e < 0)
		c->err = e;
	else if (e == 0)
		c->unl[c->n_unl++] = (struct unlisted){ *id, pack, false };
	return 0;
}

/* Messages name paths of up to CHECK_PATH_BUF bytes, then "/..." */
#define CHECK_PATH_BUF 4096

/*
 * Tree id, the directory at path (length at), unless already checked: its
 * blob is located like a file's (a lost pack costs the directory, named
 * once), then read and made the walk's deepest level.
 */
static void check_enter(struct ck *c, struct drfs_tree_walk *w,
			const char *snap, const struct drfs_id *id,
			const char *path, size_t at)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	const char *dir = path[0] ? path + 1 : ".";
	int e = drfs_idset_add(&c->trees, id);
	if (e != 0) {
		if (e < 0)
			c->err = e;
		return;
	}
	if (check_blob(c, snap, dir, id, 0))
		return;
	e = drfs_tree_walk_push(w, id);
	if (e < 0) {
		problem(c, "snapshot %.8s: \"%s/\": tree %s: %s", snap, dir,
			drfs_id_hex(id, hex),
			e == -ENOENT ? "missing" : drfs_strerror(e));
		return;
	}
	drfs_tree_walk_top(w)->user = at;
}

/* Every tree under root, depth-first on the heap (any depth). */
static void check_tree(struct ck *c, const char *snap,
		       const struct drfs_id *root, char *path)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_tree_walk w;

	drfs_tree_walk_init(&w, drfs_repo_blob_reader, c->r);
	path[0] = 0;
	check_enter(c, &w, snap, root, path, 0);
	while (drfs_tree_walk_depth(&w)) {
		struct drfs_tree_level *l = drfs_tree_walk_top(&w);
		struct drfs_node *n;
		int e = drfs_tree_walk_next(&w, &n);
		if (e <= 0) {
			path[l->user & ~DRFS_WALK_PATH_CUT] = 0;
			if (e < 0)
				problem(c, "snapshot %.8s: \"%s/\": tree %s is "
					"corrupted", snap,
					path[0] ? path + 1 : ".",
					drfs_id_hex(&l->id, hex));
			drfs_tree_walk_pop(&w);
			continue;
		}
		size_t at = drfs_walk_path_add(path, CHECK_PATH_BUF, l->user,
					       n->name, n->name_len);
		if (S_ISDIR(n->mode)) {
			check_enter(c, &w, snap, &n->subtree, path, at);
		} else if (S_ISREG(n->mode)) {
			struct drfs_extent x;
			while (drfs_node_next_extent(n, &x) > 0)
				if (check_blob(c, snap, path + 1, &x.id, x.len))
					break; /* one line per file */
		}
	}
	drfs_tree_walk_release(&w);
}

/*
 * Blobs the snapshots use whose pack is in no readable index object:
 * fine if some index object lists them in another pack (a prune that
 * stopped after repacking), else the index is damaged: one problem per
 * pack. Returns the number of such packs.
 */
static int report_unlisted(struct ck *c)
{
	struct drfs_idset told = { 0 };
	char hex[DRFS_ID_HEX_LEN + 1];
	if (!c->n_unl)
		return 0;
	qsort(c->unl, c->n_unl, sizeof(*c->unl), cmp_unlisted);
	c->second = true;
	int e = drfs_repo_verify_objects(c->r, DRFS_OBJ_INDEX, index_object, c);
	for (size_t i = 0; e >= 0 && i < c->n_unl; i++) {
		if (c->unl[i].listed)
			continue;
		e = drfs_idset_add(&told, &c->unl[i].pack);
		if (e == 0)
			problem(c, "pack \"data/%.2s/%s\" holds blobs the "
				   "snapshots use, but no index object lists "
				   "them (an index object is missing or "
				   "damaged: \"drfs repair index\" rewrites "
				   "the index)",
				drfs_id_hex(&c->unl[i].pack, hex), hex);
	}
	size_t n = told.n;
	drfs_idset_free(&told);
	return e < 0 ? e : (int)MIN(n, (size_t)INT32_MAX);
}

/* ---- packs -------------------------------------------------------------- */

struct pack_item {
	struct drfs_id id;
	uint32_t seq, length;
};

struct pack_list {
	struct pack_item *v;
	size_t n, cap;
};

static int pack_collect(const struct drfs_id *pack,
			const struct drfs_pack_rec *rec, void *userdata)
{
	struct pack_list *l = userdata;
	if (drfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 256) < 0)
		return -ENOMEM;
	l->v[l->n].id = *pack;
	l->v[l->n].seq = rec->seq;
	l->v[l->n].length = rec->length;
	l->n++;
	return 0;
}

struct listed {
	struct drfs_repo *r;
	struct ck *c;
	struct drfs_idset names;
	uint64_t count, orphans;
};

static int listed_pack(const char *name, uint64_t size, void *userdata)
{
	struct listed *ls = userdata;
	struct drfs_id id;
	struct drfs_txn *t;
	uint32_t len;
	if (drfs_name_parse(name, "data", &id) < 0)
		return 0;
	ls->count++;
	int e = drfs_idset_add(&ls->names, &id);
	if (e < 0)
		return e;
	if (!drfs_idset_has(&ls->c->indexed, &id))
		ls->orphans++;
	if (drfs_txn_begin(ls->r->index, false, &t) < 0)
		return 0;
	e = drfs_index_pack_lookup(t, &id, NULL, &len);
	drfs_txn_abort(t);
	if (e == 0 && len != size)
		problem(ls->c, "pack \"%s\": size %llu, index says %u", name,
			(unsigned long long)size, len);
	return 0;
}

/*
 * A pack the listing lacks: missing unless a HEAD finds it (a replica
 * serves it). Missing ones go to c->lost.
 */
static int look_for_pack(struct ck *c, const struct drfs_id *pack)
{
	char name[DRFS_OBJECT_NAME_MAX];
	uint64_t size;
	drfs_name_pack(pack, name);
	int he = drfs_backend_head(c->r->be, name, &size);
	if (he >= 0)
		return 0;
	if (he == -ENOENT) {
		problem(c, "pack \"%s\": missing (listed in the index)", name);
		return drfs_idset_add(&c->lost, pack);
	}
	problem(c, "pack \"%s\": %s", name, drfs_strerror(he));
	return 0;
}

struct rd_ctx {
	struct ck *c;
	struct pack_list *packs;
	size_t next;
	uint64_t bytes;
	struct drfs_id *ok; /* (c->lock) packs read whole without a problem */
	size_t n_ok, cap_ok;
};

struct by_seq {
	uint32_t seq;
	struct drfs_pack_entry *v;
	size_t n, cap;
};

static int blob_of_seq(const struct drfs_id *id,
		       const struct drfs_blob_loc *loc, void *userdata)
{
	struct by_seq *b = userdata;
	if (loc->pack_seq != b->seq)
		return 0;
	if (drfs_grow(&b->v, &b->cap, b->n, sizeof(*b->v), 64) < 0)
		return -ENOMEM;
	struct drfs_pack_entry *e = &b->v[b->n++];
	e->id = *id;
	e->offset = loc->offset;
	e->stored_len = loc->stored_len;
	e->raw_len = loc->raw_len;
	e->type = loc->type;
	e->flags = loc->flags;
	return 0;
}

static bool o_report(struct ck *c)
{
	return c->o->report != NULL;
}

/*
 * Whether blob id, corrupted in pack bad, has a copy elsewhere that reads
 * (drfs_repo_blob_read tries the other copies and reads a good one first
 * from then on).
 */
static bool good_elsewhere(struct ck *c, const struct drfs_id *id,
			   const struct drfs_id *bad, struct drfs_buf *out)
{
	struct drfs_id pack;
	drfs_buf_reset(out);
	if (drfs_repo_blob_read(c->r, id, out) < 0)
		return false;
	return drfs_repo_blob_find(c->r, id, NULL, &pack) == 0 &&
	       !drfs_id_eq(&pack, bad);
}

/* Read and verify one pack whole: true if it had no problem. */
static bool read_pack(struct rd_ctx *x, struct pack_item *pi,
		      struct drfs_buf *pack, struct drfs_buf *out)
{
	struct ck *c = x->c;
	char name[DRFS_OBJECT_NAME_MAX], hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_id sum;
	struct drfs_pack_entry *es = NULL;
	size_t n = 0;
	uint64_t toff;
	uint32_t tlen;
	int e;

	drfs_name_pack(&pi->id, name);
	drfs_buf_reset(pack);
	e = drfs_backend_get(c->r->be, name, 0, UINT64_MAX, pack);
	if (e < 0) {
		problem(c, "pack \"%s\": cannot read: %s", name,
			drfs_strerror(e));
		return false;
	}
	pthread_mutex_lock(&c->lock);
	x->bytes += pack->len;
	pthread_mutex_unlock(&c->lock);
	if (c->o->progress)
		c->o->progress->bytes += pack->len;
	drfs_sha256(pack->p, pack->len, &sum);
	bool hash_ok = drfs_id_eq(&sum, &pi->id), trailer_ok = true;
	e = -EBADMSG;
	if (pack->len >= DRFS_PACK_TAIL_LEN)
		e = drfs_pack_tail_parse(pack->p + pack->len -
						 DRFS_PACK_TAIL_LEN,
					 DRFS_PACK_TAIL_LEN, pack->len, &toff,
					 &tlen);
	if (e >= 0)
		e = drfs_pack_trailer_decode(&c->r->keys, pack->p + toff, tlen,
					     toff, &es, &n);
	if (e < 0) {
		trailer_ok = false;
		problem(c, "pack \"%s\": trailer is corrupted", name);
		/* fall back to what the index says is in this pack */
		struct by_seq bs = { .seq = pi->seq };
		struct drfs_txn *t;
		if (drfs_txn_begin(c->r->index, false, &t) == 0) {
			drfs_index_blobs_scan(t, blob_of_seq, &bs);
			drfs_txn_abort(t);
		}
		es = bs.v;
		n = bs.n;
	}
	size_t bad = 0, elsewhere = 0;
	for (size_t i = 0; i < n; i++) {
		struct drfs_pack_entry *pe = &es[i];
		drfs_buf_reset(out);
		if ((uint64_t)pe->offset + pe->stored_len > pack->len)
			e = -EBADMSG;
		else
			e = drfs_blob_open(&c->r->keys, NULL, pe,
					   pack->p + pe->offset,
					   pe->stored_len, out);
		if (e >= 0)
			continue;
		bad++;
		/* the next writer with its data stores it again */
		drfs_repo_mark_bad(c->r, &pe->id, &pi->id);
		if (good_elsewhere(c, &pe->id, &pi->id, out)) {
			elsewhere++;
			if (o_report(c))
				c->o->report(c->o->report_data,
					     "note: pack \"%s\": blob %s is "
					     "corrupted; a good copy in another "
					     "pack is read instead", name,
					     drfs_id_hex(&pe->id, hex));
			continue;
		}
		problem(c, "pack \"%s\": blob %s is corrupted", name,
			drfs_id_hex(&pe->id, hex));
	}
	free(es);
	if (!hash_ok && trailer_ok && bad && bad == elsewhere)
		hash_ok = true; /* every corrupted blob has a good copy */
	if (!hash_ok)
		problem(c, "pack \"%s\": content does not match its name "
			   "(corrupted)", name);
	return hash_ok && trailer_ok && bad == elsewhere;
}

static void *read_thread(void *arg)
{
	struct rd_ctx *x = arg;
	struct drfs_buf pack, out;
	drfs_buf_init(&pack, DRFS_PACK_MAX);
	drfs_buf_init(&out, DRFS_BLOB_MAX);
	for (;;) {
		pthread_mutex_lock(&x->c->lock);
		size_t i = x->next++;
		pthread_mutex_unlock(&x->c->lock);
		if (i >= x->packs->n)
			break;
		struct pack_item *pi = &x->packs->v[i];
			if (drfs_idset_has(&x->c->lost, &pi->id))
			continue; /* named already */
		bool ok = read_pack(x, pi, &pack, &out);
		if (x->c->o->progress)
			x->c->o->progress->files++;
		if (!ok)
			continue;
		pthread_mutex_lock(&x->c->lock);
		if (drfs_grow(&x->ok, &x->cap_ok, x->n_ok, sizeof(*x->ok),
			      64) >= 0)
			x->ok[x->n_ok++] = pi->id;
		pthread_mutex_unlock(&x->c->lock);
	}
	drfs_buf_release(&pack);
	drfs_buf_release(&out);
	return NULL;
}

/*
 * --read-data-subset N/M: the 1/M of the packs (rounded up) verified
 * longest ago, so that M runs in a row with one cache read every pack
 * (docs/verification.md). The packs this cache never verified come first,
 * in pack id order (the same in every cache) from the N-th M-th of them
 * on, cyclically: with a new cache each time (nothing recorded), the runs
 * N = 1..M still read every pack between them. Then the oldest
 * verifications (drfs_repo_verify_order, the guard's order).
 */
static int id_cmp(const void *a, const void *b)
{
	const struct drfs_verify_pack *x = a, *y = b;
	return memcmp(x->id.b, y->id.b, DRFS_ID_LEN);
}

static int rotation_share(struct drfs_repo *r, unsigned nth, unsigned m,
			  struct pack_list *ret)
{
	struct drfs_verify_pack *v;
	size_t n, never = 0;
	int e = drfs_repo_verify_order(r, &v, &n);
	if (e < 0)
		return e;
	while (never < n && !v[never].verified)
		never++;
	if (never)
		qsort(v, never, sizeof(*v), id_cmp);
	size_t take = (n + m - 1) / m;
	size_t start = never ? (size_t)((uint64_t)(nth - 1) * never / m) : 0;
	for (size_t i = 0; e >= 0 && i < take; i++) {
		const struct drfs_verify_pack *p =
			i < never ? &v[(start + i) % never] : &v[i];
		e = drfs_grow(&ret->v, &ret->cap, ret->n, sizeof(*ret->v), 64);
		if (e >= 0)
			ret->v[ret->n++] = (struct pack_item){
				.id = p->id, .seq = p->seq,
				.length = p->length,
			};
	}
	free(v);
	return e < 0 ? -ENOMEM : 0;
}

/* ---- modes ---------------------------------------------------------- */

#define LOOSE_SHOWN 10 /* lines per tree; then a count */

struct loose {
	const struct drfs_check_opts *o;
	const char *root;
	unsigned n;
};

static int loose_one(const char *path, unsigned mode, void *ud)
{
	struct loose *l = ud;
	if (l->n++ < LOOSE_SHOWN)
		l->o->report(l->o->report_data,
			     "warning: \"%s%s%s\" is open to other users "
			     "(mode %04o; drfs creates 0600 files and 0700 "
			     "directories): chmod -R go-rwx \"%s\"",
			     l->root, *path ? "/" : "", path, mode, l->root);
	return 0;
}

/* Warn about a tree other users may read (dirfd is not closed). */
static void check_tree_modes(const struct drfs_check_opts *o, int dirfd,
			     const char *root)
{
	struct loose l = { .o = o, .root = root };
	drfs_scan_loose_modes(dirfd, loose_one, &l);
	if (l.n > LOOSE_SHOWN)
		o->report(o->report_data,
			  "warning: %u more entries under \"%s\" are open to "
			  "other users", l.n - LOOSE_SHOWN, root);
}

static void check_modes(struct drfs_repo *r, const struct drfs_check_opts *o)
{
	if (!o->report)
		return;
	int fd = drfs_backend_local_dirfd(r->be);
	if (fd >= 0)
		check_tree_modes(o, fd, r->be->display);
	fd = open(r->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		check_tree_modes(o, fd, r->cache_dir);
		close(fd);
	}
}

/*
 * What the cache knows about snapshots that disappeared: a rollback (the
 * newest of a host and path gone) and a refused forget record are
 * problems; an older snapshot gone, or a hole in a parent chain, is a
 * warning (docs/rollback.md).
 */
static int check_vanished(struct ck *c)
{
	struct drfs_snap_audit a;
	char msg[DRFS_SNAP_PROBLEM_TEXT_MAX];
	bool hole = false;
	int e = drfs_repo_snapshot_audit(c->r, &a);
	if (e < 0)
		return e;
	for (size_t i = 0; i < a.n; i++) {
		const struct drfs_snap_problem *p = &a.v[i];
		drfs_snap_problem_text(p, msg);
		hole |= p->kind == DRFS_SNAP_HOLE;
		if (p->kind == DRFS_SNAP_ROLLED_BACK ||
		    p->kind == DRFS_SNAP_BAD_RECORD)
			problem(c, "%s", msg);
		else if (c->o->report)
			c->o->report(c->o->report_data, "warning: %s", msg);
	}
	if (hole && a.no_records && c->o->report)
		c->o->report(c->o->report_data, "%s", DRFS_NO_RECORDS_NOTE);
	drfs_snap_audit_release(&a);
	return 0;
}

int drfs_check(struct drfs_repo *r, const struct drfs_check_opts *o)
{
	struct ck c = { .r = r, .o = o };
	struct pack_list packs = { 0 };
	struct listed ls = { .r = r, .c = &c };
	struct drfs_snap_info *snaps = NULL;
	size_t n_snaps = 0;
	struct drfs_txn *t;
	int e;

	pthread_mutex_init(&c.lock, NULL);
	/* 0. key material and caches are private */
	check_modes(r, o);
	/* 1. the index objects themselves, and the packs they list */
	drfs_progress_phase(o->progress, "index and snapshot objects", NULL, 0);
	e = drfs_repo_verify_objects(r, DRFS_OBJ_INDEX, index_object, &c);
	e = e ?: drfs_repo_verify_objects(r, DRFS_OBJ_SNAPSHOT,
					  snapshot_object, &c);
	if (e < 0)
		goto out;

	/* 2. every pack the index objects or the cache name exists, with
	 * its size */
	e = drfs_txn_begin(r->index, false, &t);
	if (e >= 0) {
		e = drfs_index_packs_scan(t, pack_collect, &packs);
		drfs_txn_abort(t);
	}
	e = e ?: drfs_backend_list(r->be, "data/", listed_pack, &ls);
	if (e < 0)
		goto out;
	for (size_t i = 0; e >= 0 && i < c.indexed.cap; i++)
		if (!drfs_id_is_zero(&c.indexed.v[i]) &&
		    !drfs_idset_has(&ls.names, &c.indexed.v[i]))
			e = look_for_pack(&c, &c.indexed.v[i]);
	for (size_t i = 0; e >= 0 && i < packs.n; i++)
		if (!drfs_idset_has(&ls.names, &packs.v[i].id) &&
		    !drfs_idset_has(&c.indexed, &packs.v[i].id))
			e = look_for_pack(&c, &packs.v[i].id);
	if (e < 0)
		goto out;

	/* 3. snapshots gone without a forget record, refused records */
	e = check_vanished(&c);
	if (e < 0)
		goto out;

	/* 4. every snapshot's trees and blobs */
	drfs_progress_phase(o->progress, "snapshots' trees", NULL, 0);
	e = drfs_repo_snapshots(r, &snaps, &n_snaps);
	if (e < 0)
		goto out;
	char *path = malloc(CHECK_PATH_BUF);
	if (!path) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; !c.err && i < n_snaps; i++) {
		char hex[DRFS_ID_HEX_LEN + 1];
		drfs_id_hex(&snaps[i].id, hex);
		check_tree(&c, hex, &snaps[i].snap.root, path);
		if (!drfs_id_is_zero(&snaps[i].snap.meta))
			check_tree(&c, hex, &snaps[i].snap.meta, path);
	}
	free(path);
	e = c.err ?: report_unlisted(&c);
	if (e < 0)
		goto out;
	/* the others are what an interrupted backup leaves */
	if (ls.orphans > (uint64_t)e && o->report)
		o->report(o->report_data,
			  "note: %llu pack(s) are not in any index object "
			  "and hold nothing the snapshots use (an "
			  "interrupted backup; \"drfs repair index\" adopts "
			  "them, prune removes them)",
			  (unsigned long long)(ls.orphans - (uint64_t)e));

	/* 5. read every pack, or the share of the rotation */
	if (o->read_data) {
		struct rd_ctx x = { .c = &c, .packs = &packs };
		struct pack_list sub = { 0 };
		if (o->subset_m) {
			e = rotation_share(r, o->subset_n, o->subset_m,
					   &sub);
			if (e < 0)
				goto out;
			x.packs = &sub;
		}
		uint64_t total = 0;
		for (size_t i = 0; i < x.packs->n; i++)
			total += x.packs->v[i].length;
		drfs_progress_phase(o->progress, "reading packs", "packs", total);
		pthread_t th[8];
		int nth = 0;
		int want = MIN(MAX(r->threads, 2), (int)ARRAY_SIZE(th));
		for (int i = 1; i < want; i++)
			if (pthread_create(&th[nth], NULL, read_thread, &x) == 0)
				nth++;
		read_thread(&x);
		for (int i = 0; i < nth; i++)
			pthread_join(th[i], NULL);
		free(sub.v);
		e = drfs_repo_verified_set(r, x.ok, x.n_ok,
					   (int64_t)time(NULL));
		free(x.ok);
		if (e < 0)
			goto out;
	}
	e = c.problems;
out:
	free(packs.v);
	free(snaps);
	free(c.unl);
	drfs_idset_free(&c.trees);
	drfs_idset_free(&c.indexed);
	drfs_idset_free(&c.lost);
	drfs_idset_free(&c.seen);
	drfs_idset_free(&ls.names);
	pthread_mutex_destroy(&c.lock);
	return e;
}
