/* SPDX-License-Identifier: MIT */
/*
 * check.c - verify a repository: every pack the index names exists with
 * its size, no snapshot vanished without a forget record, every snapshot's
 * trees decode and every blob they reference is indexed; with read_data,
 * every pack is downloaded, its name (SHA-256) recomputed and every blob
 * decrypted, decompressed and its id verified. Files and directories of a
 * local repository and of the cache that other users may read are warned
 * about (not counted as problems).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/ops.h"

struct ck {
	struct drfs_repo *r;
	const struct drfs_check_opts *o;
	pthread_mutex_t lock;
	int problems;
	/* visited tree ids: open addressing */
	struct drfs_id *seen;
	size_t seen_cap, seen_n;
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

static bool seen_add(struct ck *c, const struct drfs_id *id)
{
	if ((c->seen_n + 1) * 2 > c->seen_cap) {
		size_t cap = c->seen_cap ? c->seen_cap * 2 : 1024;
		struct drfs_id *n = calloc(cap, sizeof(*n));
		if (!n)
			return true;
		for (size_t i = 0; i < c->seen_cap; i++) {
			if (drfs_id_is_zero(&c->seen[i]))
				continue;
			size_t j = drfs_get_le32(c->seen[i].b) & (cap - 1);
			while (!drfs_id_is_zero(&n[j]))
				j = (j + 1) & (cap - 1);
			n[j] = c->seen[i];
		}
		free(c->seen);
		c->seen = n;
		c->seen_cap = cap;
	}
	size_t j = drfs_get_le32(id->b) & (c->seen_cap - 1);
	while (!drfs_id_is_zero(&c->seen[j])) {
		if (drfs_id_eq(&c->seen[j], id))
			return false;
		j = (j + 1) & (c->seen_cap - 1);
	}
	c->seen[j] = *id;
	c->seen_n++;
	return true;
}

/*
 * The path of an entry, for messages: path + "/" + name at at. A path that
 * would not fit in CHECK_PATH_BUF ends in "/..." and grows no further; its
 * length then carries PATH_CUT (an uncut path always leaves room for it).
 */
#define CHECK_PATH_BUF 4096
#define PATH_CUT ((size_t)1 << (sizeof(size_t) * 8 - 1))

static size_t path_add(char *path, size_t at, const uint8_t *name, size_t nl)
{
	if (at & PATH_CUT)
		return at;
	if (at + 1 + nl + 4 < CHECK_PATH_BUF) {
		path[at] = '/';
		memcpy(path + at + 1, name, nl);
		path[at + 1 + nl] = 0;
		return at + 1 + nl;
	}
	memcpy(path + at, "/...", 5);
	return (at + 4) | PATH_CUT;
}

static void check_extents(struct ck *c, const char *snap, struct drfs_node *n,
			  const char *path)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_extent x;
	struct drfs_blob_loc loc;
	while (drfs_node_next_extent(n, &x) > 0) {
		int fe = drfs_repo_blob_find(c->r, &x.id, &loc, NULL);
		if (fe < 0)
			problem(c, "snapshot %.8s: \"%s\": blob %s is missing",
				snap, path + 1, drfs_id_hex(&x.id, hex));
		else if (loc.raw_len != x.len)
			problem(c, "snapshot %.8s: \"%s\": blob %s has the "
				"wrong size", snap, path + 1,
				drfs_id_hex(&x.id, hex));
	}
}

/* Tree id, the directory at path (length at), unless already checked. */
static void check_enter(struct ck *c, struct drfs_tree_walk *w,
			const char *snap, const struct drfs_id *id,
			const char *path, size_t at)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	if (!seen_add(c, id))
		return;
	int e = drfs_tree_walk_push(w, id);
	if (e < 0) {
		problem(c, "snapshot %.8s: \"%s/\": tree %s: %s", snap,
			path[0] ? path : ".", drfs_id_hex(id, hex),
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
			path[l->user & ~PATH_CUT] = 0;
			if (e < 0)
				problem(c, "snapshot %.8s: \"%s/\": tree %s is "
					"corrupted", snap,
					path[0] ? path + 1 : ".",
					drfs_id_hex(&l->id, hex));
			drfs_tree_walk_pop(&w);
			continue;
		}
		size_t at = path_add(path, l->user, n->name, n->name_len);
		if (S_ISDIR(n->mode))
			check_enter(c, &w, snap, &n->subtree, path, at);
		else if (S_ISREG(n->mode))
			check_extents(c, snap, n, path);
	}
	drfs_tree_walk_release(&w);
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

static int pack_collect(const void *key, size_t klen, const void *val,
			size_t vlen, void *userdata)
{
	struct pack_list *l = userdata;
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
	memcpy(l->v[l->n].id.b, key, DRFS_ID_LEN);
	l->v[l->n].seq = drfs_get_le32(val);
	l->v[l->n].length = drfs_get_le32((const uint8_t *)val + 4);
	l->n++;
	return 0;
}

struct listed {
	struct drfs_repo *r;
	struct ck *c;
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
	if (drfs_txn_begin(ls->r->index, false, &t) < 0)
		return 0;
	int e = drfs_index_pack_lookup(t, &id, NULL, &len);
	drfs_txn_abort(t);
	if (e == -ENOENT)
		ls->orphans++;
	else if (e == 0 && len != size)
		problem(ls->c, "pack \"%s\": size %llu, index says %u", name,
			(unsigned long long)size, len);
	return 0;
}

struct rd_ctx {
	struct ck *c;
	struct pack_list *packs;
	size_t next;
	uint64_t bytes;
};

struct by_seq {
	uint32_t seq;
	struct drfs_pack_entry *v;
	size_t n, cap;
};

static int blob_of_seq(const void *key, size_t klen, const void *val,
		       size_t vlen, void *userdata)
{
	struct by_seq *b = userdata;
	const uint8_t *p = val;
	if (klen != DRFS_ID_LEN || vlen != 18 || drfs_get_le32(p) != b->seq)
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		void *n = realloc(b->v, cap * sizeof(*b->v));
		if (!n)
			return -ENOMEM;
		b->v = n;
		b->cap = cap;
	}
	struct drfs_pack_entry *e = &b->v[b->n++];
	memcpy(e->id.b, key, DRFS_ID_LEN);
	e->offset = drfs_get_le32(p + 4);
	e->stored_len = drfs_get_le32(p + 8);
	e->raw_len = drfs_get_le32(p + 12);
	e->type = p[16];
	e->flags = p[17];
	return 0;
}

static void read_pack(struct rd_ctx *x, struct pack_item *pi,
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
		return;
	}
	pthread_mutex_lock(&c->lock);
	x->bytes += pack->len;
	pthread_mutex_unlock(&c->lock);
	drfs_sha256(pack->p, pack->len, &sum);
	bool hash_ok = drfs_id_eq(&sum, &pi->id);
	if (!hash_ok)
		problem(c, "pack \"%s\": content does not match its name "
			   "(corrupted)", name);
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
		problem(c, "pack \"%s\": trailer is corrupted", name);
		/* fall back to what the index says is in this pack */
		struct by_seq bs = { .seq = pi->seq };
		struct drfs_txn *t;
		if (drfs_txn_begin(c->r->index, false, &t) == 0) {
			drfs_kv_scan(t, DRFS_DB_BLOBS, NULL, 0, blob_of_seq,
				     &bs);
			drfs_txn_abort(t);
		}
		es = bs.v;
		n = bs.n;
	}
	for (size_t i = 0; i < n; i++) {
		struct drfs_pack_entry *pe = &es[i];
		drfs_buf_reset(out);
		if ((uint64_t)pe->offset + pe->stored_len > pack->len)
			e = -EBADMSG;
		else
			e = drfs_blob_open(&c->r->keys, NULL, pe,
					   pack->p + pe->offset,
					   pe->stored_len, out);
		if (e < 0)
			problem(c, "pack \"%s\": blob %s is corrupted",
				name, drfs_id_hex(&pe->id, hex));
	}
	free(es);
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
		const struct drfs_check_opts *o = x->c->o;
		if (o->subset_m &&
		    (pi->id.b[0] % o->subset_m) != (o->subset_n - 1) % o->subset_m)
			continue;
		read_pack(x, pi, &pack, &out);
	}
	drfs_buf_release(&pack);
	drfs_buf_release(&out);
	return NULL;
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
	struct drfs_snap_info *snaps = NULL;
	size_t n_snaps = 0;
	struct drfs_txn *t;
	int e;

	pthread_mutex_init(&c.lock, NULL);
	/* 0. key material and caches are private */
	check_modes(r, o);
	/* 1. every indexed pack exists, with its size */
	e = drfs_txn_begin(r->index, false, &t);
	if (e >= 0) {
		e = drfs_kv_scan(t, DRFS_DB_PACKS, NULL, 0, pack_collect,
				 &packs);
		drfs_txn_abort(t);
	}
	if (e < 0)
		goto out;
	struct listed ls = { .r = r, .c = &c };
	e = drfs_backend_list(r->be, "data/", listed_pack, &ls);
	if (e < 0)
		goto out;
	for (size_t i = 0; i < packs.n; i++) {
		char name[DRFS_OBJECT_NAME_MAX];
		uint64_t size;
		drfs_name_pack(&packs.v[i].id, name);
		int he = drfs_backend_head(r->be, name, &size);
		if (he == -ENOENT)
			problem(&c, "pack \"%s\": missing (listed in the "
				    "index)", name);
		else if (he < 0)
			problem(&c, "pack \"%s\": %s", name, drfs_strerror(he));
	}
	if (ls.orphans && o->report)
		o->report(o->report_data,
			  "note: %llu pack(s) are not in any index object "
			  "(an interrupted backup; \"drfs repair index\" "
			  "adopts them, prune removes them)",
			  (unsigned long long)ls.orphans);

	/* 2. snapshots gone without a forget record, refused records */
	e = check_vanished(&c);
	if (e < 0)
		goto out;

	/* 3. every snapshot's trees and blobs */
	e = drfs_repo_snapshots(r, &snaps, &n_snaps);
	if (e < 0)
		goto out;
	char *path = malloc(CHECK_PATH_BUF);
	if (!path) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_snaps; i++) {
		char hex[DRFS_ID_HEX_LEN + 1];
		drfs_id_hex(&snaps[i].id, hex);
		check_tree(&c, hex, &snaps[i].snap.root, path);
	}
	free(path);

	/* 4. read every pack */
	if (o->read_data) {
		struct rd_ctx x = { .c = &c, .packs = &packs };
		pthread_t th[8];
		int nth = 0;
		int want = MIN(MAX(r->threads, 2), (int)ARRAY_SIZE(th));
		for (int i = 1; i < want; i++)
			if (pthread_create(&th[nth], NULL, read_thread, &x) == 0)
				nth++;
		read_thread(&x);
		for (int i = 0; i < nth; i++)
			pthread_join(th[i], NULL);
	}
	e = c.problems;
out:
	free(packs.v);
	free(snaps);
	free(c.seen);
	pthread_mutex_destroy(&c.lock);
	return e;
}
