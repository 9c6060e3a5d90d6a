/* SPDX-License-Identifier: MIT */
/*
 * now.c - the writable now/ tree: LMDB records, staging files, background
 * chunking and the commit into snapshots. See now.h and docs/now.md.
 *
 * LMDB layout (integers in keys big-endian so ranges scan in order):
 *   NOW_INODES   ino                 -> inode record (rec_encode)
 *   NOW_DIRENTS  'n' dir name        -> ino | seq
 *                'o' dir seq         -> ino | name     (readdir order)
 *                'p' child parent    -> le32 links     (dirty propagation)
 *   NOW_XATTRS   ino name            -> value
 *   NOW_EXTENTS  ino end             -> le64 off | le32 len | id[32]
 *   NOW_META     "state"             -> struct state (state_encode)
 *                'S' ino             -> ""  files with a staging file
 *                'O' ino             -> ""  unlinked while open
 *                'L' source ino      -> be64 ino (hard links of the base)
 *                'K' snapshot id     -> ""  snapshots now/ has seen
 *                'F' snapshot id     -> ""  the one --from started it from
 *
 * Inode flags and their invariants:
 *   I_DIRTY    changed since the last snapshot; every parent is I_DIRTY
 *   I_MAT      directory: entries are in NOW_DIRENTS (else: in tree)
 *   I_STAGED   file: <staging>/<ino>, or its memfd (mem_*), holds the
 *              content (truth for reads)
 *   I_STALE    file: NOW_EXTENTS does not describe the staging file
 *   I_PENDING  file: NOW_EXTENTS references blobs not yet flushed
 *   I_AGG      directory: agg_* statistics are valid
 *   I_ORPHAN   unlinked while open; deleted at release or recovery
 *   I_PENDING and I_STALE imply I_STAGED. For a directory, tree is valid
 *   unless I_MAT and I_DIRTY.
 *
 * Locks (in this order): freeze (rw: data writes shared, commit
 * exclusive), lock (every metadata operation, the ofile list and the
 * cached state), wlock (a sequence of writer puts vs writer flush).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/now.h"

#define I_DIRTY 1u
#define I_MAT 2u
#define I_STAGED 4u
#define I_STALE 8u
#define I_PENDING 16u
#define I_AGG 32u
#define I_ORPHAN 64u

#define REC_VERSION 1
#define REC_FIXED (1 + 4 + 16 + 32 + 36 + 32 + 8 + 8 + 24 + 2)
#define STATE_VERSION 1
#define INO_MAX ((1ull << 56) - 1)
#define SYNC_PENDING_BYTES (256ull << 20)
#define MEM_SLOTS 8192               /* memfd table (power of two) */
#define MEM_FILES_MAX (MEM_SLOTS / 2) /* memfd-staged files at once */
#define MEM_BYTES_MAX (64ull << 20)  /* their bytes */
#define MEM_FILE_MAX (1ull << 20)    /* a larger file spills to disk */
/*
 * The background thread chunks closed files in batches: a close wakes it
 * once WAKE_BATCH files wait (else its 0.5 s timer does), and it records
 * up to APPLY_BATCH chunked files in one transaction. One wake-up and one
 * commit per file cost ~10 % of the daemon's CPU over small files.
 */
#define WAKE_BATCH 64
#define APPLY_BATCH 64

struct rec {
	uint64_t ino;
	uint32_t flags, mode, uid, gid, nlink;
	uint64_t size, rdev, src_ino, blocks; /* blocks: bytes of extents */
	struct timespec atime, mtime, ctime;
	struct drfs_id tree;
	uint64_t next_seq; /* directories: next readdir cookie */
	uint64_t gen;
	uint64_t agg_files, agg_dirs, agg_bytes;
	uint16_t target_len;
	char target[DRFS_PATH_MAX + 1];
};

struct state {
	uint64_t next_ino;
	uint64_t ino_salt; /* high bits of inode numbers written to trees */
	struct drfs_id base;      /* snapshot now/ started from (or zero) */
	struct drfs_id last;      /* last snapshot committed (or base) */
	struct timespec last_time;
	char last_folder[32];
};

struct ofile {
	struct ofile *next;
	uint64_t ino;
	int refs;
	int writers;
	int fd;          /* staging file, -1 while the file is clean */
	bool mem;        /* fd is a dup of the file's memfd (mem_*) */
	int spilled_fd;  /* the memfd dup before a spill, or -1: reads in
			    flight may still use it */
	bool marked;     /* I_DIRTY|I_STALE recorded since the last commit */
	bool meta_dirty; /* mtime/ctime to persist */
	struct timespec mtime, ctime;
};

struct drfs_now_file {
	struct drfs_now *n;
	struct ofile *of;
	int flags;
	pthread_mutex_t clock; /* the one-blob cache below */
	struct drfs_id cid;
	bool cvalid;
	struct drfs_buf cbuf;
};

struct ino_list {
	uint64_t *v;
	size_t n, cap;
};

struct drfs_now {
	struct drfs_repo *r;
	struct drfs_now_opts o;
	char *staging;
	char host[DRFS_HOST_MAX_BUF]; /* the lineage: o.host, o.path */
	char path[DRFS_PATH_MAX_BUF];

	pthread_rwlock_t freeze;
	pthread_mutex_t lock;
	pthread_mutex_t wlock;
	struct drfs_writer *w; /* (wlock) */
	uint64_t pend_blobs, pend_bytes; /* (wlock) put since the last flush */
	uint64_t flush_epoch;            /* (wlock) successful flushes */
	struct drfs_writer_stats snap_stats; /* (wlock) at the last snapshot */

	struct ofile *ofiles; /* (lock) */
	struct state st;      /* (lock) */
	uint64_t chunking;    /* (lock) inode the background chunker reads */
	struct ino_list stale_q; /* (lock) files closed since the chunker
				    looked: a hint, checked against LMDB */
	double full_scan;     /* (lock) drfs_now_mono() of the last full
				 scan of the staged set; 0: due now */
	bool chunk_abort;     /* (lock) it was opened for writing meanwhile */
	struct chunked *batch; /* (lock) chunked by bg_main, not yet recorded */
	size_t nbatch;	       /* (lock) entries of batch */
	uint64_t staged_bytes; /* (lock) approximate */
	bool space_stuck;      /* (lock) over cache_size, nothing to free */
	double last_snap_mono; /* (lock) */

	pthread_t bg;
	bool bg_started;
	bool bg_quit;          /* (lock) */
	pthread_cond_t bg_cond; /* (lock) work may be there; space freed */

	/*
	 * Index durability (docs/now.md): commits run with MDB_NOSYNC;
	 * drfs_index_sync() happens at fsync, fsyncdir, after a snapshot,
	 * before staging files are unlinked, and about once a second from
	 * the syncer thread while anything was committed.
	 */
	_Atomic uint64_t commits;  /* write transactions committed */
	pthread_mutex_t synclock;  /* synced; one index sync at a time */
	uint64_t synced;           /* (synclock) commits covered by a sync */
	struct ino_list unl;       /* (lock) staging files to unlink once the
				      commits that dropped them are synced */
	/*
	 * Small files are staged in memory (memfd) instead of a file each:
	 * on ext4 without a journal, creating and deleting one staging file
	 * per file was a quarter of the daemon's time over small files. A
	 * memfd-staged file spills to a staging file when it passes
	 * MEM_FILE_MAX, is fsync'd or fallocate'd, or at unmount if its
	 * chunks could not be made durable. (lock)
	 */
	struct mem_slot {
		uint64_t ino; /* 0: free */
		int fd;
	} *mem;
	size_t mem_n, mem_max;
	uint64_t mem_bytes; /* approximate; exact after make_durable */

	pthread_t syncer;
	bool syncer_started;
	bool syncer_quit;          /* (lock) */
	pthread_cond_t syncer_cond; /* (lock) */

	bool stopped;    /* drfs_now_stop ran: no background threads */
	int stop_result; /* its result */
};

/* ---- encoding ---------------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_ts(uint8_t *p, const struct timespec *t)
{
	drfs_put_le64(p, (uint64_t)t->tv_sec);
	drfs_put_le32(p + 8, (uint32_t)t->tv_nsec);
}

static void get_ts(const uint8_t *p, struct timespec *t)
{
	t->tv_sec = (time_t)drfs_get_le64(p);
	t->tv_nsec = (long)drfs_get_le32(p + 8);
	if (t->tv_nsec < 0 || t->tv_nsec >= 1000000000)
		t->tv_nsec = 0;
}

static size_t rec_encode(const struct rec *r, uint8_t *p)
{
	uint8_t *q = p;
	*q++ = REC_VERSION;
	drfs_put_le32(q, r->flags), q += 4;
	drfs_put_le32(q, r->mode), q += 4;
	drfs_put_le32(q, r->uid), q += 4;
	drfs_put_le32(q, r->gid), q += 4;
	drfs_put_le32(q, r->nlink), q += 4;
	drfs_put_le64(q, r->size), q += 8;
	drfs_put_le64(q, r->rdev), q += 8;
	drfs_put_le64(q, r->src_ino), q += 8;
	drfs_put_le64(q, r->blocks), q += 8;
	put_ts(q, &r->atime), q += 12;
	put_ts(q, &r->mtime), q += 12;
	put_ts(q, &r->ctime), q += 12;
	memcpy(q, r->tree.b, DRFS_ID_LEN), q += DRFS_ID_LEN;
	drfs_put_le64(q, r->next_seq), q += 8;
	drfs_put_le64(q, r->gen), q += 8;
	drfs_put_le64(q, r->agg_files), q += 8;
	drfs_put_le64(q, r->agg_dirs), q += 8;
	drfs_put_le64(q, r->agg_bytes), q += 8;
	drfs_put_le16(q, r->target_len), q += 2;
	memcpy(q, r->target, r->target_len), q += r->target_len;
	return (size_t)(q - p);
}

static int rec_decode(const uint8_t *p, size_t len, uint64_t ino,
		      struct rec *r)
{
	if (len < REC_FIXED || p[0] != REC_VERSION)
		return -EBADMSG;
	const uint8_t *q = p + 1;
	r->ino = ino;
	r->flags = drfs_get_le32(q), q += 4;
	r->mode = drfs_get_le32(q), q += 4;
	r->uid = drfs_get_le32(q), q += 4;
	r->gid = drfs_get_le32(q), q += 4;
	r->nlink = drfs_get_le32(q), q += 4;
	r->size = drfs_get_le64(q), q += 8;
	r->rdev = drfs_get_le64(q), q += 8;
	r->src_ino = drfs_get_le64(q), q += 8;
	r->blocks = drfs_get_le64(q), q += 8;
	get_ts(q, &r->atime), q += 12;
	get_ts(q, &r->mtime), q += 12;
	get_ts(q, &r->ctime), q += 12;
	memcpy(r->tree.b, q, DRFS_ID_LEN), q += DRFS_ID_LEN;
	r->next_seq = drfs_get_le64(q), q += 8;
	r->gen = drfs_get_le64(q), q += 8;
	r->agg_files = drfs_get_le64(q), q += 8;
	r->agg_dirs = drfs_get_le64(q), q += 8;
	r->agg_bytes = drfs_get_le64(q), q += 8;
	r->target_len = drfs_get_le16(q), q += 2;
	if (r->target_len > DRFS_PATH_MAX ||
	    len != (size_t)REC_FIXED + r->target_len)
		return -EBADMSG;
	memcpy(r->target, q, r->target_len);
	r->target[r->target_len] = 0;
	return 0;
}

static int rec_get(struct drfs_txn *t, uint64_t ino, struct rec *r)
{
	uint8_t k[8], v[REC_FIXED + DRFS_PATH_MAX];
	put_be64(k, ino);
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_INODES, k, 8, v, sizeof(v));
	if (l == -E2BIG)
		return -EBADMSG;
	if (l < 0)
		return l;
	return rec_decode(v, (size_t)l, ino, r);
}

static int rec_put(struct drfs_txn *t, const struct rec *r)
{
	uint8_t k[8], v[REC_FIXED + DRFS_PATH_MAX];
	put_be64(k, r->ino);
	size_t l = rec_encode(r, v);
	return drfs_kv_put(t, DRFS_DB_NOW_INODES, k, 8, v, l);
}

#define STATE_LEN (1 + 8 + 8 + 32 + 32 + 12 + 32)

static int state_get(struct drfs_txn *t, struct state *s)
{
	uint8_t v[STATE_LEN];
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, "state", 5, v,
				  sizeof(v));
	if (l < 0)
		return l == -E2BIG ? -EBADMSG : l;
	if (l != STATE_LEN || v[0] != STATE_VERSION)
		return -EBADMSG;
	const uint8_t *q = v + 1;
	s->next_ino = drfs_get_le64(q), q += 8;
	s->ino_salt = drfs_get_le64(q), q += 8;
	memcpy(s->base.b, q, 32), q += 32;
	memcpy(s->last.b, q, 32), q += 32;
	get_ts(q, &s->last_time), q += 12;
	memcpy(s->last_folder, q, 32);
	s->last_folder[31] = 0;
	return 0;
}

static int state_put(struct drfs_txn *t, const struct state *s)
{
	uint8_t v[STATE_LEN], *q = v;
	*q++ = STATE_VERSION;
	drfs_put_le64(q, s->next_ino), q += 8;
	drfs_put_le64(q, s->ino_salt), q += 8;
	memcpy(q, s->base.b, 32), q += 32;
	memcpy(q, s->last.b, 32), q += 32;
	put_ts(q, &s->last_time), q += 12;
	memcpy(q, s->last_folder, 32);
	return drfs_kv_put(t, DRFS_DB_NOW_META, "state", 5, v, sizeof(v));
}

/* A set in NOW_META: tag byte + be64 ino. */
static int set_put(struct drfs_txn *t, char tag, uint64_t ino)
{
	uint8_t k[9] = { (uint8_t)tag };
	put_be64(k + 1, ino);
	return drfs_kv_put(t, DRFS_DB_NOW_META, k, 9, "", 0);
}

static int set_del(struct drfs_txn *t, char tag, uint64_t ino)
{
	uint8_t k[9] = { (uint8_t)tag };
	put_be64(k + 1, ino);
	int e = drfs_kv_del(t, DRFS_DB_NOW_META, k, 9);
	return e == -ENOENT ? 0 : e;
}

/* Commit a write transaction of now/ (not yet synced to disk). */
static int now_commit(struct drfs_now *n, struct drfs_txn *t)
{
	int e = drfs_txn_commit(t);
	if (e >= 0)
		atomic_fetch_add(&n->commits, 1);
	return e;
}

/* A file chunked by the background thread, not yet recorded. */
struct chunked {
	uint64_t ino; /* 0: cancelled */
	uint64_t gen, size, epoch;
	struct drfs_extent_vec x;
};

/*
 * ino is about to change: what the background thread is chunking or has
 * chunked of it and not yet recorded must not be recorded. Under n->lock.
 */
static void chunk_cancel(struct drfs_now *n, uint64_t ino)
{
	if (n->chunking == ino)
		n->chunk_abort = true;
	for (size_t i = 0; i < n->nbatch; i++)
		if (n->batch[i].ino == ino)
			n->batch[i].ino = 0;
}

static int ino_list_push(struct ino_list *l, uint64_t ino)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *p = realloc(l->v, cap * sizeof(*l->v));
		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = ino;
	return 0;
}

struct set_scan {
	uint8_t tag;
	struct ino_list *out;
};

static int set_scan_cb(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ud)
{
	struct set_scan *s = ud;
	(void)val;
	(void)vlen;
	if (klen != 9 || ((const uint8_t *)key)[0] != s->tag)
		return 1;
	return ino_list_push(s->out, get_be64((const uint8_t *)key + 1));
}

/* Every member of set tag. */
static int set_list(struct drfs_txn *t, char tag, struct ino_list *out)
{
	uint8_t k[1] = { (uint8_t)tag };
	struct set_scan s = { .tag = (uint8_t)tag, .out = out };
	return drfs_kv_scan(t, DRFS_DB_NOW_META, k, 1, set_scan_cb, &s);
}

/* ---- directory entries -------------------------------------------------- */

static size_t dkey_name(uint8_t *k, uint64_t dir, const char *name,
			size_t len)
{
	k[0] = 'n';
	put_be64(k + 1, dir);
	memcpy(k + 9, name, len);
	return 9 + len;
}

static void dkey_seq(uint8_t *k, uint64_t dir, uint64_t seq)
{
	k[0] = 'o';
	put_be64(k + 1, dir);
	put_be64(k + 9, seq);
}

static void dkey_parent(uint8_t *k, uint64_t child, uint64_t parent)
{
	k[0] = 'p';
	put_be64(k + 1, child);
	put_be64(k + 9, parent);
}

static int check_name(const char *name, size_t *ret_len)
{
	size_t l = strlen(name);
	if (l == 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (l > DRFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', l))
		return -EINVAL;
	*ret_len = l;
	return 0;
}

/* Child of dir: 0 with ino (and seq), -ENOENT. */
static int dent_get(struct drfs_txn *t, uint64_t dir, const char *name,
		    uint64_t *ret_ino, uint64_t *ret_seq)
{
	uint8_t k[9 + DRFS_NAME_MAX], v[16];
	size_t len = strlen(name);
	if (len > DRFS_NAME_MAX)
		return -ENAMETOOLONG;
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_DIRENTS, k,
				  dkey_name(k, dir, name, len), v, sizeof(v));
	if (l < 0)
		return l == -E2BIG ? -EBADMSG : l;
	if (l != 16)
		return -EBADMSG;
	*ret_ino = get_be64(v);
	if (ret_seq)
		*ret_seq = get_be64(v + 8);
	return 0;
}

static int plink_adjust(struct drfs_txn *t, uint64_t child, uint64_t parent,
			int delta)
{
	uint8_t k[17], v[4] = { 0 };
	dkey_parent(k, child, parent);
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 4);
	if (l < 0 && l != -ENOENT)
		return l;
	int64_t c = (l == 4 ? (int64_t)drfs_get_le32(v) : 0) + delta;
	if (c <= 0) {
		int e = drfs_kv_del(t, DRFS_DB_NOW_DIRENTS, k, 17);
		return e == -ENOENT ? 0 : e;
	}
	drfs_put_le32(v, (uint32_t)c);
	return drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 4);
}

/* Add name -> ino to directory d (d->next_seq advances; caller saves d). */
static int dent_add(struct drfs_txn *t, struct rec *d, const char *name,
		    size_t len, uint64_t ino)
{
	uint8_t k[9 + DRFS_NAME_MAX], v[8 + DRFS_NAME_MAX];
	uint64_t seq = d->next_seq ? d->next_seq : 1;
	d->next_seq = seq + 1;
	put_be64(v, ino);
	put_be64(v + 8, seq);
	int e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k,
			    dkey_name(k, d->ino, name, len), v, 16);
	if (e < 0)
		return e;
	dkey_seq(k, d->ino, seq);
	memcpy(v + 8, name, len);
	e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 8 + len);
	return e < 0 ? e : plink_adjust(t, ino, d->ino, 1);
}

static int dent_del(struct drfs_txn *t, uint64_t dir, const char *name)
{
	uint8_t k[9 + DRFS_NAME_MAX];
	uint64_t ino, seq;
	int e = dent_get(t, dir, name, &ino, &seq);
	if (e < 0)
		return e;
	e = drfs_kv_del(t, DRFS_DB_NOW_DIRENTS, k,
			dkey_name(k, dir, name, strlen(name)));
	if (e < 0)
		return e;
	dkey_seq(k, dir, seq);
	e = drfs_kv_del(t, DRFS_DB_NOW_DIRENTS, k, 17);
	if (e < 0 && e != -ENOENT)
		return e;
	return plink_adjust(t, ino, dir, -1);
}

/* Point an existing entry at another inode (rename exchange). */
static int dent_repoint(struct drfs_txn *t, uint64_t dir, const char *name,
			uint64_t ino)
{
	uint8_t k[9 + DRFS_NAME_MAX], v[8 + DRFS_NAME_MAX];
	uint64_t old, seq;
	size_t len = strlen(name);
	int e = dent_get(t, dir, name, &old, &seq);
	if (e < 0)
		return e;
	put_be64(v, ino);
	put_be64(v + 8, seq);
	e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k,
			dkey_name(k, dir, name, len), v, 16);
	if (e < 0)
		return e;
	dkey_seq(k, dir, seq);
	memcpy(v + 8, name, len);
	e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 8 + len);
	e = e ?: plink_adjust(t, old, dir, -1);
	return e ?: plink_adjust(t, ino, dir, 1);
}

struct parents {
	uint64_t child;
	struct ino_list *out;
};

static int parents_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ud)
{
	struct parents *p = ud;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	if (klen != 17 || k[0] != 'p' || get_be64(k + 1) != p->child)
		return 1;
	return ino_list_push(p->out, get_be64(k + 9));
}

static int parents_of(struct drfs_txn *t, uint64_t ino, struct ino_list *out)
{
	uint8_t k[9] = { 'p' };
	struct parents p = { .child = ino, .out = out };
	put_be64(k + 1, ino);
	return drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, parents_cb, &p);
}

struct first_child {
	uint64_t dir;
	bool found;
};

static int first_child_cb(const void *key, size_t klen, const void *val,
			  size_t vlen, void *ud)
{
	struct first_child *f = ud;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	f->found = klen > 9 && k[0] == 'n' && get_be64(k + 1) == f->dir;
	return 1;
}

static int dir_is_empty(struct drfs_txn *t, uint64_t dir)
{
	uint8_t k[9] = { 'n' };
	struct first_child f = { .dir = dir };
	put_be64(k + 1, dir);
	int e = drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, first_child_cb, &f);
	return e < 0 ? e : !f.found;
}

/*
 * Mark ino and (transitively) its parents dirty, up to the first dirty
 * one on each path: the parents still to mark wait on the heap (any depth).
 */
static int mark_dirty(struct drfs_txn *t, uint64_t ino)
{
	struct rec r;
	struct ino_list todo = { 0 };
	int e;
	for (;;) {
		e = rec_get(t, ino, &r);
		if (e < 0)
			break;
		if (!(r.flags & I_DIRTY)) {
			r.flags |= I_DIRTY;
			e = rec_put(t, &r);
			e = e ?: parents_of(t, ino, &todo);
			if (e < 0)
				break;
		}
		if (!todo.n)
			break;
		ino = todo.v[--todo.n];
	}
	free(todo.v);
	return e;
}

/* ---- extents and xattrs ---------------------------------------------- */

static void ekey(uint8_t *k, uint64_t ino, uint64_t end)
{
	put_be64(k, ino);
	put_be64(k + 8, end);
}

static int ext_put(struct drfs_txn *t, uint64_t ino,
		   const struct drfs_extent *x)
{
	uint8_t k[16], v[12 + DRFS_ID_LEN];
	ekey(k, ino, x->off + x->len);
	drfs_put_le64(v, x->off);
	drfs_put_le32(v + 8, x->len);
	memcpy(v + 12, x->id.b, DRFS_ID_LEN);
	return drfs_kv_put(t, DRFS_DB_NOW_EXTENTS, k, 16, v, sizeof(v));
}

struct ext_scan {
	uint64_t ino;
	uint64_t until; /* stop after an extent starting at or past this */
	struct drfs_extent *v;
	size_t n, cap, max;
	bool keys_only;
	uint8_t (*keys)[16];
};

static int ext_scan_cb(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ud)
{
	struct ext_scan *s = ud;
	const uint8_t *k = key, *v = val;
	if (klen != 16 || get_be64(k) != s->ino)
		return 1;
	if (vlen != 12 + DRFS_ID_LEN)
		return -EBADMSG;
	struct drfs_extent x = { .off = drfs_get_le64(v),
				 .len = drfs_get_le32(v + 8) };
	if (x.off >= s->until || (s->max && s->n >= s->max))
		return 1;
	memcpy(x.id.b, v + 12, DRFS_ID_LEN);
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		void *p = realloc(s->v, cap * sizeof(*s->v));
		if (!p)
			return -ENOMEM;
		s->v = p;
		if (s->keys_only) {
			p = realloc(s->keys, cap * sizeof(*s->keys));
			if (!p)
				return -ENOMEM;
			s->keys = p;
		}
		s->cap = cap;
	}
	if (s->keys_only)
		memcpy(s->keys[s->n], k, 16);
	s->v[s->n++] = x;
	return 0;
}

/* Extents of ino ending after off and starting before until. */
static int ext_range(struct drfs_txn *t, uint64_t ino, uint64_t off,
		     uint64_t until, struct ext_scan *s)
{
	uint8_t k[16];
	s->ino = ino;
	s->until = until;
	ekey(k, ino, off + 1);
	return drfs_kv_scan(t, DRFS_DB_NOW_EXTENTS, k, 16, ext_scan_cb, s);
}

static int ext_clear(struct drfs_txn *t, uint64_t ino)
{
	struct ext_scan s = { .keys_only = true };
	int e = ext_range(t, ino, 0, UINT64_MAX, &s);
	for (size_t i = 0; e >= 0 && i < s.n; i++)
		e = drfs_kv_del(t, DRFS_DB_NOW_EXTENTS, s.keys[i], 16);
	free(s.v);
	free(s.keys);
	return e;
}

struct xkeys {
	uint64_t ino;
	struct drfs_buf *names; /* NUL-separated */
	size_t max;             /* 0: no bound */
	bool over;
};

static int xkeys_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *ud)
{
	struct xkeys *x = ud;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	if (klen <= 8 || get_be64(k) != x->ino)
		return 1;
	int e = drfs_buf_append(x->names, k + 8, klen - 8);
	return e ?: drfs_buf_u8(x->names, 0);
}

static int xattr_names(struct drfs_txn *t, uint64_t ino, struct drfs_buf *out)
{
	uint8_t k[8];
	struct xkeys x = { .ino = ino, .names = out };
	put_be64(k, ino);
	return drfs_kv_scan(t, DRFS_DB_NOW_XATTRS, k, 8, xkeys_cb, &x);
}

static int xattr_clear(struct drfs_txn *t, uint64_t ino)
{
	struct drfs_buf names;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	drfs_buf_init(&names, 1u << 30);
	int e = xattr_names(t, ino, &names);
	for (size_t i = 0; e >= 0 && i < names.len;) {
		size_t l = strlen((char *)names.p + i);
		put_be64(k, ino);
		memcpy(k + 8, names.p + i, l);
		e = drfs_kv_del(t, DRFS_DB_NOW_XATTRS, k, 8 + l);
		i += l + 1;
	}
	drfs_buf_release(&names);
	return e;
}

/* ---- small helpers ------------------------------------------------------ */

static void now_ts(struct timespec *t)
{
	clock_gettime(CLOCK_REALTIME, t);
}

static int read_blob(struct drfs_now *n, const struct drfs_id *id,
		     struct drfs_buf *out)
{
	if (n->o.read_blob)
		return n->o.read_blob(n->o.read_blob_data, id, out);
	return drfs_repo_blob_read(n->r, id, out);
}

static void staging_path(struct drfs_now *n, uint64_t ino, char *out,
			 size_t max)
{
	snprintf(out, max, "%s/%016" PRIx64, n->staging, ino);
}

/* ---- memory staging (memfd) -------------------------------------------- */

static size_t mem_hash(uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 40) & (MEM_SLOTS - 1);
}

/* The slot of ino, or NULL. Under n->lock. */
static struct mem_slot *mem_find(struct drfs_now *n, uint64_t ino)
{
	if (!n->mem || !n->mem_n)
		return NULL;
	for (size_t i = mem_hash(ino);; i = (i + 1) & (MEM_SLOTS - 1)) {
		if (n->mem[i].ino == ino)
			return &n->mem[i];
		if (!n->mem[i].ino)
			return NULL;
	}
}

/* Close ino's memfd and free its slot (backward-shift). Under n->lock. */
static void mem_remove(struct drfs_now *n, uint64_t ino)
{
	struct mem_slot *sl = mem_find(n, ino);
	if (!sl)
		return;
	struct stat st;
	if (fstat(sl->fd, &st) == 0) {
		uint64_t b = (uint64_t)st.st_blocks * 512;
		n->mem_bytes -= MIN(n->mem_bytes, b);
		n->staged_bytes -= MIN(n->staged_bytes, b);
	}
	close(sl->fd);
	size_t i = (size_t)(sl - n->mem);
	n->mem[i].ino = 0;
	n->mem_n--;
	for (size_t j = (i + 1) & (MEM_SLOTS - 1); n->mem[j].ino;
	     j = (j + 1) & (MEM_SLOTS - 1)) {
		size_t h = mem_hash(n->mem[j].ino);
		/* may entry j move to the hole at i? */
		if (((j - h) & (MEM_SLOTS - 1)) >= ((j - i) & (MEM_SLOTS - 1))) {
			n->mem[i] = n->mem[j];
			n->mem[j].ino = 0;
			i = j;
		}
	}
}

/*
 * A new, empty memfd as ino's staging content, kept by the table (open it
 * with staging_open). False when memory staging is full: stage on disk.
 * Under n->lock.
 */
static bool mem_new(struct drfs_now *n, uint64_t ino)
{
	if (!n->mem || n->mem_n >= n->mem_max ||
	    n->mem_bytes >= MEM_BYTES_MAX)
		return false;
	mem_remove(n, ino);
	int fd = memfd_create("drfs-staging", MFD_CLOEXEC);
	if (fd < 0)
		return false;
	size_t i = mem_hash(ino);
	while (n->mem[i].ino)
		i = (i + 1) & (MEM_SLOTS - 1);
	n->mem[i].ino = ino;
	n->mem[i].fd = fd;
	n->mem_n++;
	return true;
}

static void mem_clear(struct drfs_now *n)
{
	for (size_t i = 0; n->mem && i < MEM_SLOTS; i++)
		if (n->mem[i].ino) {
			close(n->mem[i].fd);
			n->mem[i].ino = 0;
		}
	n->mem_n = 0;
	n->mem_bytes = 0;
}

/*
 * Open ino's staging content: a dup of its memfd, or its staging file.
 * *ret_mem (may be NULL) tells which. Under n->lock.
 */
static int staging_open(struct drfs_now *n, uint64_t ino, int flags,
			bool *ret_mem)
{
	struct mem_slot *sl = mem_find(n, ino);
	if (ret_mem)
		*ret_mem = sl != NULL;
	if (sl)
		return fcntl(sl->fd, F_DUPFD_CLOEXEC, 0);
	char p[PATH_MAX];
	staging_path(n, ino, p, sizeof(p));
	return open(p, flags | O_CLOEXEC);
}

static int staging_stat(struct drfs_now *n, uint64_t ino, struct stat *st)
{
	struct mem_slot *sl = mem_find(n, ino);
	if (sl)
		return fstat(sl->fd, st);
	char p[PATH_MAX];
	staging_path(n, ino, p, sizeof(p));
	return stat(p, st);
}

/*
 * Finish staging file fd, written as tmp (e: the writing's result): size,
 * fsync if sync, rename to p. On error fd is closed and tmp removed.
 */
static int staging_install(int e, int fd, const char *tmp, const char *p,
			   uint64_t size, bool sync)
{
	if (e >= 0 && ftruncate(fd, (off_t)size) < 0)
		e = -errno;
	if (e >= 0 && sync && fsync(fd) < 0)
		e = -errno;
	if (e >= 0 && rename(tmp, p) < 0)
		e = -errno;
	if (e < 0) {
		close(fd);
		unlink(tmp);
	}
	return e;
}

/*
 * Copy the data of fd (holes stay holes) to the start of out. The buffer
 * is on the stack: a 1 MiB malloc here, freed, raised glibc's mmap
 * threshold and the daemon's peak anonymous memory with it.
 */
static int copy_data(int fd, int out, uint64_t size)
{
	uint8_t buf[64 << 10];
	int e = 0;
	for (off_t pos = 0; e >= 0 && (uint64_t)pos < size;) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0) {
			e = errno == ENXIO ? 0 : -errno;
			break;
		}
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			h = (off_t)size;
		for (pos = d; e >= 0 && pos < h;) {
			size_t l = (size_t)MIN((uint64_t)(h - pos), sizeof(buf));
			ssize_t got = drfs_pread_all(fd, buf, l, (uint64_t)pos);
			if (got <= 0) {
				e = got < 0 ? (int)got : -EIO;
				break;
			}
			e = drfs_pwrite_all(out, buf, (size_t)got,
					    (uint64_t)pos);
			pos += got;
		}
	}
	return e < 0 ? e : 0;
}

/*
 * Move ino's memfd content to its staging file (fsync'd if sync), so it
 * survives the daemon. of (may be NULL) switches to the file; its memfd
 * dup stays open for reads in flight. Writes to the file cannot race
 * this: the kernel holds the inode lock over WRITE, SETATTR, FSYNC and
 * FALLOCATE. Under n->lock.
 */
static int spill(struct drfs_now *n, uint64_t ino, struct ofile *of,
		 bool sync)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	struct mem_slot *sl = mem_find(n, ino);
	struct stat st;
	if (!sl)
		return 0;
	if (fstat(sl->fd, &st) < 0)
		return -errno;
	staging_path(n, ino, p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int e = copy_data(sl->fd, fd, (uint64_t)st.st_size);
	e = staging_install(e, fd, tmp, p, (uint64_t)st.st_size, sync);
	if (e < 0)
		return e;
	chunk_cancel(n, ino);
	mem_remove(n, ino);
	if (fstat(fd, &st) == 0)
		n->staged_bytes += (uint64_t)st.st_blocks * 512;
	if (of && of->fd >= 0 && of->mem) {
		if (of->spilled_fd >= 0)
			close(of->spilled_fd);
		of->spilled_fd = of->fd;
		of->fd = fd;
		of->mem = false;
	} else {
		close(fd);
	}
	return 0;
}

static struct ofile *ofile_find(struct drfs_now *n, uint64_t ino)
{
	for (struct ofile *o = n->ofiles; o; o = o->next)
		if (o->ino == ino)
			return o;
	return NULL;
}

/* The inode number a tree records (hard-link groups). */
static uint64_t tree_ino(struct drfs_now *n, const struct rec *r)
{
	return r->src_ino ? r->src_ino : n->st.ino_salt | r->ino;
}

static void rec_stat(struct drfs_now *n, const struct rec *r, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = r->ino;
	st->st_mode = r->mode;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	st->st_nlink = r->nlink;
	st->st_size = (off_t)r->size;
	st->st_rdev = (dev_t)r->rdev;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((r->blocks + 511) / 512);
	st->st_atim = r->atime;
	st->st_mtim = r->mtime;
	st->st_ctim = r->ctime;
	struct ofile *of = ofile_find(n, r->ino);
	if (!of)
		return;
	struct stat fs;
	if (of->fd >= 0 && fstat(of->fd, &fs) == 0) {
		st->st_size = fs.st_size;
		st->st_blocks = fs.st_blocks;
	}
	if (of->meta_dirty) {
		st->st_mtim = of->mtime;
		st->st_ctim = of->ctime;
	}
}

static uint64_t alloc_ino(struct state *s)
{
	return s->next_ino++;
}

/* ---- copy-on-write of directories -------------------------------------- */

static int get_link(struct drfs_txn *t, uint64_t src, uint64_t *ret)
{
	uint8_t k[9] = { 'L' }, v[8];
	put_be64(k + 1, src);
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, k, 9, v, 8);
	if (l < 0)
		return l == -E2BIG ? -EBADMSG : l;
	if (l != 8)
		return -EBADMSG;
	*ret = get_be64(v);
	return 0;
}

static int put_link(struct drfs_txn *t, uint64_t src, uint64_t ino)
{
	uint8_t k[9] = { 'L' }, v[8];
	put_be64(k + 1, src);
	put_be64(v, ino);
	return drfs_kv_put(t, DRFS_DB_NOW_META, k, 9, v, 8);
}

static int xattr_put(struct drfs_txn *t, uint64_t ino, const void *name,
		     size_t nlen, const void *val, size_t vlen)
{
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	if (nlen == 0 || nlen > DRFS_XATTR_NAME_MAX)
		return -ERANGE;
	put_be64(k, ino);
	memcpy(k + 8, name, nlen);
	return drfs_kv_put(t, DRFS_DB_NOW_XATTRS, k, 8 + nlen, val, vlen);
}

/* Fill a record from a tree node (not its name, extents or xattrs). */
static void rec_from_node(struct rec *r, const struct drfs_node *nd)
{
	r->mode = nd->mode;
	r->uid = nd->uid;
	r->gid = nd->gid;
	r->nlink = nd->nlink ? nd->nlink : 1;
	r->size = nd->size;
	r->rdev = nd->rdev;
	r->atime = nd->atime;
	r->mtime = nd->mtime;
	r->ctime = nd->ctime;
	if (S_ISDIR(nd->mode))
		r->tree = nd->subtree;
	if (S_ISLNK(nd->mode)) {
		r->target_len = (uint16_t)MIN(nd->target_len, DRFS_PATH_MAX);
		memcpy(r->target, nd->target, r->target_len);
		r->target[r->target_len] = 0;
	}
}

/* Copy one node of a tree into LMDB as a new inode (or a known hard link). */
static int mat_node(struct drfs_now *n, struct drfs_txn *t, struct state *s,
		    struct rec *dir, struct drfs_node *nd, bool *ret_dirty)
{
	char name[DRFS_NAME_MAX + 1];
	uint64_t ino;
	int e;

	(void)n;
	if (nd->name_len > DRFS_NAME_MAX || memchr(nd->name, 0, nd->name_len) ||
	    memchr(nd->name, '/', nd->name_len))
		return -EBADMSG;
	memcpy(name, nd->name, nd->name_len);
	name[nd->name_len] = 0;
	bool linked = !S_ISDIR(nd->mode) && nd->nlink > 1;
	if (linked && get_link(t, nd->ino, &ino) == 0) {
		/* a hard link to an inode changed since: this tree is stale */
		struct rec lr;
		if (rec_get(t, ino, &lr) == 0 && (lr.flags & I_DIRTY))
			*ret_dirty = true;
		return dent_add(t, dir, name, nd->name_len, ino);
	}
	if (s->next_ino >= INO_MAX)
		return -ENOSPC;
	struct rec *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ino = alloc_ino(s);
	r->src_ino = nd->ino;
	rec_from_node(r, nd);
	struct drfs_extent x;
	e = 0;
	if (S_ISREG(nd->mode))
		while ((e = drfs_node_next_extent(nd, &x)) > 0) {
			r->blocks += x.len;
			e = ext_put(t, r->ino, &x);
			if (e < 0)
				break;
		}
	struct drfs_xattr xa;
	while (e >= 0 && (e = drfs_node_next_xattr(nd, &xa)) > 0)
		e = xattr_put(t, r->ino, xa.name, xa.name_len, xa.value,
			      xa.value_len);
	e = e < 0 ? e : rec_put(t, r);
	if (e >= 0 && linked)
		e = put_link(t, nd->ino, r->ino);
	e = e < 0 ? e : dent_add(t, dir, name, nd->name_len, r->ino);
	free(r);
	return e;
}

/* Make sure the entries of directory ino are in LMDB. Under n->lock. */
static int ensure_mat(struct drfs_now *n, uint64_t ino)
{
	struct drfs_txn *t;
	struct rec d;
	struct drfs_buf tree;
	int e;

	e = drfs_txn_begin(n->r->index, false, &t);
	if (e < 0)
		return e;
	e = rec_get(t, ino, &d);
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	if (!S_ISDIR(d.mode))
		return -ENOTDIR;
	if (d.flags & I_MAT)
		return 0;
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	e = read_blob(n, &d.tree, &tree);
	if (e < 0) {
		drfs_buf_release(&tree);
		return e == -EBADMSG || e == -ENOENT ? -EIO : e;
	}
	struct drfs_tree_iter it;
	struct drfs_node nd;
	struct state s = n->st;
	e = drfs_tree_iter_init(&it, tree.p, tree.len);
	e = e ?: drfs_txn_begin(n->r->index, true, &t);
	if (e < 0) {
		drfs_buf_release(&tree);
		return e == -EBADMSG ? -EIO : e;
	}
	bool dirty = false;
	while ((e = drfs_tree_iter_next(&it, &nd)) > 0) {
		e = mat_node(n, t, &s, &d, &nd, &dirty);
		if (e < 0)
			break;
	}
	d.flags |= I_MAT;
	e = e < 0 ? e : rec_put(t, &d);
	if (e >= 0 && dirty)
		e = mark_dirty(t, d.ino);
	e = e < 0 ? e : state_put(t, &s);
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	drfs_buf_release(&tree);
	if (e >= 0)
		n->st = s;
	return e == -EBADMSG ? -EIO : e;
}

/* ---- state: start, reset, recovery ------------------------------------ */

static int db_clear_cb(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ud)
{
	struct drfs_buf *keys = ud;
	(void)val;
	(void)vlen;
	uint8_t l[2];
	drfs_put_le16(l, (uint16_t)klen);
	int e = drfs_buf_append(keys, l, 2);
	return e ?: drfs_buf_append(keys, key, klen);
}

static int db_clear(struct drfs_txn *t, enum drfs_db db)
{
	struct drfs_buf keys;
	drfs_buf_init(&keys, SIZE_MAX / 2);
	int e = drfs_kv_scan(t, db, NULL, 0, db_clear_cb, &keys);
	for (size_t i = 0; e >= 0 && i + 2 <= keys.len;) {
		size_t l = drfs_get_le16(keys.p + i);
		e = drfs_kv_del(t, db, keys.p + i + 2, l);
		i += 2 + l;
	}
	drfs_buf_release(&keys);
	return e;
}

static void staging_clean(struct drfs_now *n, struct drfs_txn *t)
{
	DIR *d = opendir(n->staging);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *end;
		uint64_t ino = strtoull(de->d_name, &end, 16);
		struct rec r;
		bool keep = t && *end == 0 && strlen(de->d_name) == 16 &&
			    rec_get(t, ino, &r) == 0 && (r.flags & I_STAGED);
		if (!keep)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Start now/ over from snapshot si (NULL: an empty directory). */
static int reset_state(struct drfs_now *n, const struct drfs_snap_info *si)
{
	struct drfs_txn *t;
	struct rec root = { .ino = DRFS_NOW_ROOT };
	struct state s = { .next_ino = 2 };
	struct drfs_buf meta;
	int e;

	uint8_t rnd[3];
	e = drfs_random(rnd, sizeof(rnd));
	if (e < 0)
		return e;
	s.ino_salt = ((uint64_t)(rnd[0] | rnd[1] << 8 | rnd[2] << 16) |
		      1ull << 23) << 40;
	root.mode = S_IFDIR | 0755;
	root.uid = getuid();
	root.gid = getgid();
	root.nlink = 2;
	now_ts(&root.mtime);
	root.atime = root.ctime = root.mtime;
	root.flags = I_MAT | I_AGG;
	root.agg_dirs = 1;
	drfs_buf_init(&meta, DRFS_BLOB_MAX);
	struct drfs_node nd;
	bool have_meta = false;
	if (si) {
		s.base = s.last = si->id;
		s.last_time = si->snap.time;
		memcpy(s.last_folder, si->folder, sizeof(s.last_folder));
		root.tree = si->snap.root;
		root.flags = I_AGG;
		root.agg_files = si->snap.files;
		root.agg_dirs = si->snap.dirs;
		root.agg_bytes = si->snap.bytes;
		if (!drfs_id_is_zero(&si->snap.meta) &&
		    read_blob(n, &si->snap.meta, &meta) == 0 &&
		    drfs_tree_find(meta.p, meta.len, (const uint8_t *)"root", 4,
				   &nd) == 0 &&
		    S_ISDIR(nd.mode)) {
			rec_from_node(&root, &nd);
			root.tree = si->snap.root;
			have_meta = true;
		}
	}
	e = drfs_txn_begin(n->r->index, true, &t);
	if (e < 0)
		goto out;
	static const enum drfs_db dbs[] = {
		DRFS_DB_NOW_INODES, DRFS_DB_NOW_DIRENTS, DRFS_DB_NOW_XATTRS,
		DRFS_DB_NOW_EXTENTS, DRFS_DB_NOW_META
	};
	for (size_t i = 0; e >= 0 && i < ARRAY_SIZE(dbs); i++)
		e = db_clear(t, dbs[i]);
	e = e < 0 ? e : rec_put(t, &root);
	struct drfs_xattr xa;
	while (e >= 0 && have_meta && (e = drfs_node_next_xattr(&nd, &xa)) > 0)
		e = xattr_put(t, root.ino, xa.name, xa.name_len, xa.value,
			      xa.value_len);
	e = e < 0 ? e : state_put(t, &s);
	if (e < 0) {
		drfs_txn_abort(t);
		goto out;
	}
	e = now_commit(n, t);
	if (e >= 0) {
		n->st = s;
		staging_clean(n, NULL);
		mem_clear(n);
	}
out:
	drfs_buf_release(&meta);
	return e;
}

static int delete_inode(struct drfs_now *n, struct drfs_txn *t,
			const struct rec *r, bool *ret_unlink_staging);
static int index_sync(struct drfs_now *n);

/* A staged file whose staging content is gone becomes an empty file. */
static int lose_content(struct drfs_txn *t, struct rec *r)
{
	int e = ext_clear(t, r->ino);
	r->size = r->blocks = 0;
	r->flags &= ~(I_STAGED | I_STALE | I_PENDING);
	r->gen++;
	now_ts(&r->mtime);
	r->ctime = r->mtime;
	e = e < 0 ? e : rec_put(t, r);
	e = e < 0 ? e : set_del(t, 'S', r->ino);
	return e < 0 ? e : mark_dirty(t, r->ino);
}

/*
 * Whether the extents of staged file r hold its content durably: they
 * describe it (not I_STALE) and every blob they name is in the repository
 * (not I_PENDING; or, after a crash, each one is in the blob index, which
 * a writer flush fills only once the packs and their index/ object are
 * uploaded: the daemon may have stopped between that and clearing the
 * flag). 1 yes, 0 no, or a negative errno.
 */
static int extents_durable(struct drfs_txn *t, const struct rec *r)
{
	struct ext_scan s = { 0 };
	struct drfs_blob_loc loc;
	if (r->flags & I_STALE)
		return 0;
	if (!(r->flags & I_PENDING))
		return 1;
	int e = ext_range(t, r->ino, 0, UINT64_MAX, &s);
	for (size_t i = 0; e >= 0 && i < s.n; i++)
		e = drfs_index_blob_get(t, &s.v[i].id, &loc);
	free(s.v);
	if (e == -ENOENT)
		return 0;
	return e < 0 ? e : 1;
}

/*
 * r's extents hold its content durably: it is no longer staged. The
 * caller puts r, commits, then drops the staging file (unlink_staging).
 */
static int unstage(struct drfs_txn *t, struct rec *r)
{
	r->flags &= ~(I_STAGED | I_PENDING);
	return set_del(t, 'S', r->ino);
}

/*
 * After a crash: orphans, staging files, chunks that never became durable.
 * A staged file whose extents are durable (a flush or a snapshot recorded
 * them; the daemon stopped before the staging was dropped) keeps them and
 * is no longer staged, whatever happened to its staging content. Otherwise
 * its staging file is the content; without one (staged in memory, or a
 * machine crash lost it) the file is empty now.
 */
static int recover(struct drfs_now *n)
{
	struct drfs_txn *t;
	struct ino_list orph = { 0 }, staged = { 0 };
	size_t lost = 0;
	int e = drfs_txn_begin(n->r->index, true, &t);
	if (e < 0)
		return e;
	e = set_list(t, 'O', &orph);
	for (size_t i = 0; e >= 0 && i < orph.n; i++) {
		struct rec r;
		bool unl;
		if (rec_get(t, orph.v[i], &r) == 0)
			e = delete_inode(n, t, &r, &unl);
		e = e < 0 ? e : set_del(t, 'O', orph.v[i]);
	}
	e = e < 0 ? e : set_list(t, 'S', &staged);
	for (size_t i = 0; e >= 0 && i < staged.n; i++) {
		struct rec r;
		char p[PATH_MAX];
		if (rec_get(t, staged.v[i], &r) < 0 ||
		    !(r.flags & I_STAGED)) {
			e = set_del(t, 'S', staged.v[i]);
			continue;
		}
		e = extents_durable(t, &r);
		if (e > 0) {
			e = unstage(t, &r);
			e = e < 0 ? e : rec_put(t, &r);
			continue;
		}
		if (e < 0)
			break;
		staging_path(n, r.ino, p, sizeof(p));
		int fd = open(p, O_RDWR | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT) {
			e = -errno;
			break;
		}
		struct stat fs;
		bool have = fd >= 0 && fstat(fd, &fs) == 0;
		/*
		 * Staged in memory (no file), or a staging file whose data a
		 * machine crash lost (empty): the content is gone. Empty,
		 * with a new mtime, so that rsync's quick check copies it
		 * again (zeros of the old size would pass it).
		 */
		if (fd < 0 || (have && fs.st_size == 0 && r.size)) {
			if (fd >= 0)
				close(fd);
			e = lose_content(t, &r);
			lost++;
			continue;
		}
		if (have) {
			r.size = (uint64_t)fs.st_size;
			n->staged_bytes += (uint64_t)fs.st_blocks * 512;
		}
		close(fd);
		if (r.flags & I_PENDING) {
			/* extents whose blobs were never flushed */
			r.flags &= ~I_PENDING;
			r.flags |= I_STALE;
		}
		e = rec_put(t, &r);
	}
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	/* staging files LMDB no longer needs go once that is on disk */
	if (e >= 0 && index_sync(n) >= 0 &&
	    drfs_txn_begin(n->r->index, false, &t) >= 0) {
		staging_clean(n, t);
		drfs_txn_abort(t);
	}
	if (e >= 0 && lost)
		log_warn("now/: %zu file%s written since the last flush and "
			 "never fsync'd lost their content when the daemon "
			 "stopped (in memory, or a crash lost the staging "
			 "file); they are empty now: run the backup again",
			 lost, lost == 1 ? "" : "s");
	free(orph.v);
	free(staged.v);
	return e;
}

/* ---- metadata operations ------------------------------------------------ */

static int delete_inode(struct drfs_now *n, struct drfs_txn *t,
			const struct rec *r, bool *ret_unlink_staging)
{
	uint8_t k[8];
	(void)n;
	put_be64(k, r->ino);
	int e = drfs_kv_del(t, DRFS_DB_NOW_INODES, k, 8);
	e = e < 0 && e != -ENOENT ? e : ext_clear(t, r->ino);
	e = e < 0 ? e : xattr_clear(t, r->ino);
	e = e < 0 ? e : set_del(t, 'S', r->ino);
	e = e < 0 ? e : set_del(t, 'O', r->ino);
	if (e >= 0 && r->src_ino && !S_ISDIR(r->mode) && r->nlink <= 1) {
		uint8_t lk[9] = { 'L' };
		put_be64(lk + 1, r->src_ino);
		int d = drfs_kv_del(t, DRFS_DB_NOW_META, lk, 9);
		e = d == -ENOENT ? 0 : d;
	}
	*ret_unlink_staging = r->flags & I_STAGED;
	return e;
}

/* One link of r is gone (entry already removed). */
static int drop_link(struct drfs_now *n, struct drfs_txn *t, struct rec *r,
		     const struct timespec *now, bool *ret_unlink)
{
	*ret_unlink = false;
	if (r->nlink > 0)
		r->nlink--;
	r->ctime = *now;
	if (r->nlink > 0 && !S_ISDIR(r->mode)) {
		int e = rec_put(t, r);
		return e ?: mark_dirty(t, r->ino);
	}
	if (ofile_find(n, r->ino)) {
		r->flags |= I_ORPHAN;
		r->nlink = 0;
		int e = rec_put(t, r);
		return e ?: set_put(t, 'O', r->ino);
	}
	r->nlink = 1; /* delete_inode drops the 'L' entry */
	return delete_inode(n, t, r, ret_unlink);
}

static void unlink_staging_now(struct drfs_now *n, uint64_t ino)
{
	char p[PATH_MAX];
	struct stat st;
	struct drfs_txn *t;
	struct rec r;

	/*
	 * A file whose clean staging file was dropped can be opened for
	 * writing and staged again (ensure_staged, same path) before a
	 * deferred unlink runs (the syncer's, or one left over after a failed
	 * index sync): that file is the content now. Both happen under
	 * n->lock, so the record says which one this is.
	 */
	if (drfs_txn_begin(n->r->index, false, &t) == 0) {
		bool staged = rec_get(t, ino, &r) == 0 && (r.flags & I_STAGED);
		drfs_txn_abort(t);
		if (staged)
			return;
	}
	if (mem_find(n, ino)) {
		mem_remove(n, ino);
		return;
	}
	staging_path(n, ino, p, sizeof(p));
	if (stat(p, &st) == 0) {
		uint64_t b = (uint64_t)st.st_blocks * 512;
		n->staged_bytes -= MIN(n->staged_bytes, b);
	}
	unlink(p);
}

/*
 * Make every commit so far durable: drfs_index_sync() unless nothing was
 * committed since the last sync. Any thread, any locks.
 */
static int index_sync(struct drfs_now *n)
{
	pthread_mutex_lock(&n->synclock);
	uint64_t c = atomic_load(&n->commits);
	int e = 0;
	if (c != n->synced) {
		e = drfs_index_sync(n->r->index);
		if (e >= 0)
			n->synced = c;
	}
	pthread_mutex_unlock(&n->synclock);
	return e;
}

/*
 * The staging file of a deleted inode goes only after the deletion is on
 * disk: a machine crash that undid the deletion would otherwise bring the
 * file back as zeros. Under n->lock; unlinked by unlinks_flush().
 */
static void unlink_staging(struct drfs_now *n, uint64_t ino)
{
	if (ino_list_push(&n->unl, ino) < 0) {
		/* no memory: sync now rather than risk the content */
		if (index_sync(n) >= 0)
			unlink_staging_now(n, ino);
	}
}

/* Sync the index, then unlink the deferred staging files. Under n->lock. */
static int unlinks_flush(struct drfs_now *n)
{
	int e = index_sync(n);
	if (e < 0)
		return e;
	for (size_t i = 0; i < n->unl.n; i++)
		unlink_staging_now(n, n->unl.v[i]);
	n->unl.n = 0;
	return 0;
}

/*
 * The syncer thread: about once a second, if anything was committed,
 * sync the index (without n->lock) and unlink the staging files whose
 * deletion that sync covered.
 */
static void *syncer_main(void *arg)
{
	struct drfs_now *n = arg;
	pthread_mutex_lock(&n->lock);
	while (!n->syncer_quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec++;
		pthread_cond_timedwait(&n->syncer_cond, &n->lock, &ts);
		if (n->syncer_quit)
			break;
		struct ino_list l = n->unl;
		n->unl = (struct ino_list){ 0 };
		pthread_mutex_unlock(&n->lock);
		int e = index_sync(n);
		pthread_mutex_lock(&n->lock);
		for (size_t i = 0; i < l.n; i++) {
			if (e >= 0)
				unlink_staging_now(n, l.v[i]);
			else
				ino_list_push(&n->unl, l.v[i]);
		}
		free(l.v);
		if (e >= 0 && l.n) {
			n->space_stuck = false;
			pthread_cond_broadcast(&n->bg_cond);
		}
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int drfs_now_sync_meta(struct drfs_now *n)
{
	return index_sync(n);
}

int drfs_now_getattr(struct drfs_now *n, uint64_t ino, struct stat *ret)
{
	struct drfs_txn *t;
	struct rec r;
	pthread_mutex_lock(&n->lock);
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = rec_get(t, ino, &r);
		drfs_txn_abort(t);
	}
	if (e >= 0)
		rec_stat(n, &r, ret);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int drfs_now_lookup(struct drfs_now *n, uint64_t dir, const char *name,
		    struct stat *ret)
{
	struct drfs_txn *t;
	struct rec r;
	uint64_t ino;
	if (strlen(name) > DRFS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&n->lock);
	int e = ensure_mat(n, dir);
	e = e < 0 ? e : drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = dent_get(t, dir, name, &ino, NULL);
		e = e < 0 ? e : rec_get(t, ino, &r);
		drfs_txn_abort(t);
	}
	if (e >= 0)
		rec_stat(n, &r, ret);
	pthread_mutex_unlock(&n->lock);
	return e;
}

struct rd_scan {
	struct drfs_now *n;
	struct drfs_txn *t;
	uint64_t dir;
	drfs_now_dirent_cb cb;
	void *ud;
};

static int readdir_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ud)
{
	struct rd_scan *s = ud;
	const uint8_t *k = key, *v = val;
	char name[DRFS_NAME_MAX + 1];
	struct rec r;
	struct stat st;
	if (klen != 17 || k[0] != 'o' || get_be64(k + 1) != s->dir)
		return 1;
	if (vlen <= 8 || vlen > 8 + DRFS_NAME_MAX)
		return -EBADMSG;
	memcpy(name, v + 8, vlen - 8);
	name[vlen - 8] = 0;
	int e = rec_get(s->t, get_be64(v), &r);
	if (e < 0)
		return e;
	rec_stat(s->n, &r, &st);
	return s->cb(s->ud, get_be64(k + 9), name, &st);
}

int drfs_now_readdir(struct drfs_now *n, uint64_t dir, uint64_t after,
		     drfs_now_dirent_cb cb, void *userdata)
{
	struct rd_scan s = { .n = n, .dir = dir, .cb = cb, .ud = userdata };
	uint8_t k[17];
	pthread_mutex_lock(&n->lock);
	int e = ensure_mat(n, dir);
	e = e < 0 ? e : drfs_txn_begin(n->r->index, false, &s.t);
	if (e >= 0) {
		dkey_seq(k, dir, after + 1);
		e = drfs_kv_scan(s.t, DRFS_DB_NOW_DIRENTS, k, 17, readdir_cb,
				 &s);
		drfs_txn_abort(s.t);
	}
	pthread_mutex_unlock(&n->lock);
	return e;
}

static int do_create(struct drfs_now *n, uint64_t dir, const char *name,
		     mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
		     const char *target, struct stat *ret)
{
	struct drfs_txn *t = NULL;
	struct rec d, *c;
	struct state s;
	size_t len;
	uint64_t ino;
	int e = check_name(name, &len);
	if (e < 0)
		return e;
	if (target && (strlen(target) == 0 || strlen(target) > DRFS_PATH_MAX))
		return strlen(target) ? -ENAMETOOLONG : -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	e = ensure_mat(n, dir);
	s = n->st; /* after ensure_mat, which allocates inodes */
	e = e < 0 ? e : drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, dir, &d);
	if (e < 0)
		goto out;
	if (d.flags & I_ORPHAN) {
		e = -ENOENT;
		goto out;
	}
	e = dent_get(t, dir, name, &ino, NULL);
	if (e == 0)
		e = -EEXIST;
	if (e != -ENOENT)
		goto out;
	if (s.next_ino >= INO_MAX) {
		e = -ENOSPC;
		goto out;
	}
	c->ino = alloc_ino(&s);
	c->mode = mode;
	c->uid = uid;
	c->gid = gid;
	c->nlink = 1;
	c->rdev = S_ISCHR(mode) || S_ISBLK(mode) ? rdev : 0;
	now_ts(&c->ctime);
	c->atime = c->mtime = c->ctime;
	c->flags = I_DIRTY;
	if (S_ISDIR(mode)) {
		c->nlink = 2;
		c->flags |= I_MAT | I_AGG;
		c->agg_dirs = 1;
		d.nlink++;
	}
	if (target) {
		c->target_len = (uint16_t)strlen(target);
		memcpy(c->target, target, c->target_len + 1);
		c->size = c->target_len;
	}
	d.mtime = d.ctime = c->ctime;
	if (S_ISREG(mode)) {
		/* staged from the start: its first write needs no txn */
		if (!mem_new(n, c->ino)) {
			char p[PATH_MAX];
			staging_path(n, c->ino, p, sizeof(p));
			int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
				      0600);
			if (fd < 0) {
				e = -errno;
				goto out;
			}
			close(fd);
		}
		c->flags |= I_STAGED | I_STALE;
		e = set_put(t, 'S', c->ino);
		if (e < 0)
			goto out;
	}
	e = rec_put(t, c);
	e = e < 0 ? e : dent_add(t, &d, name, len, c->ino);
	e = e < 0 ? e : rec_put(t, &d);
	e = e < 0 ? e : mark_dirty(t, dir);
	e = e < 0 ? e : state_put(t, &s);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0) {
		n->st = s;
		rec_stat(n, c, ret);
	}
out:
	drfs_txn_abort(t);
	if (e < 0 && c->ino)
		mem_remove(n, c->ino);
	pthread_mutex_unlock(&n->lock);
	free(c);
	return e;
}

int drfs_now_mknod(struct drfs_now *n, uint64_t dir, const char *name,
		   mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
		   struct stat *ret)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFSOCK:
		break;
	case 0:
		mode |= S_IFREG;
		break;
	default:
		return -EINVAL;
	}
	return do_create(n, dir, name, mode, rdev, uid, gid, NULL, ret);
}

int drfs_now_mkdir(struct drfs_now *n, uint64_t dir, const char *name,
		   mode_t mode, uid_t uid, gid_t gid, struct stat *ret)
{
	return do_create(n, dir, name, S_IFDIR | (mode & 07777), 0, uid, gid,
			 NULL, ret);
}

int drfs_now_symlink(struct drfs_now *n, uint64_t dir, const char *name,
		     const char *target, uid_t uid, gid_t gid,
		     struct stat *ret)
{
	return do_create(n, dir, name, S_IFLNK | 0777, 0, uid, gid, target,
			 ret);
}

int drfs_now_readlink(struct drfs_now *n, uint64_t ino, char *out,
		      size_t max)
{
	struct drfs_txn *t;
	struct rec r;
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e < 0)
		return e;
	e = rec_get(t, ino, &r);
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	if (!S_ISLNK(r.mode))
		return -EINVAL;
	if (max <= r.target_len)
		return -ENAMETOOLONG;
	memcpy(out, r.target, r.target_len + 1);
	return r.target_len;
}

int drfs_now_link(struct drfs_now *n, uint64_t ino, uint64_t dir,
		  const char *name, struct stat *ret)
{
	struct drfs_txn *t = NULL;
	struct rec d, c;
	size_t len;
	uint64_t other;
	int e = check_name(name, &len);
	if (e < 0)
		return e;
	pthread_mutex_lock(&n->lock);
	e = ensure_mat(n, dir);
	e = e < 0 ? e : drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, dir, &d);
	e = e < 0 ? e : rec_get(t, ino, &c);
	if (e < 0)
		goto out;
	if (S_ISDIR(c.mode)) {
		e = -EPERM;
		goto out;
	}
	if (c.flags & I_ORPHAN) {
		e = -ENOENT;
		goto out;
	}
	e = dent_get(t, dir, name, &other, NULL);
	if (e == 0)
		e = -EEXIST;
	if (e != -ENOENT)
		goto out;
	c.nlink++;
	now_ts(&c.ctime);
	d.mtime = d.ctime = c.ctime;
	e = dent_add(t, &d, name, len, ino);
	e = e < 0 ? e : rec_put(t, &d);
	e = e < 0 ? e : rec_put(t, &c);
	e = e < 0 ? e : mark_dirty(t, ino);
	e = e < 0 ? e : mark_dirty(t, dir);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0)
		rec_stat(n, &c, ret);
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int drfs_now_unlink(struct drfs_now *n, uint64_t dir, const char *name)
{
	struct drfs_txn *t = NULL;
	struct rec d, c;
	uint64_t ino;
	bool unl = false;
	struct timespec now;
	pthread_mutex_lock(&n->lock);
	int e = ensure_mat(n, dir);
	e = e < 0 ? e : drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : dent_get(t, dir, name, &ino, NULL);
	e = e < 0 ? e : rec_get(t, ino, &c);
	e = e < 0 ? e : rec_get(t, dir, &d);
	if (e < 0)
		goto out;
	if (S_ISDIR(c.mode)) {
		e = -EISDIR;
		goto out;
	}
	now_ts(&now);
	d.mtime = d.ctime = now;
	e = dent_del(t, dir, name);
	e = e < 0 ? e : rec_put(t, &d);
	e = e < 0 ? e : mark_dirty(t, dir);
	e = e < 0 ? e : drop_link(n, t, &c, &now, &unl);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0 && unl)
		unlink_staging(n, ino);
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

static int child_of(struct drfs_now *n, uint64_t dir, const char *name,
		    uint64_t *ret)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e < 0)
		return e;
	e = dent_get(t, dir, name, ret, NULL);
	drfs_txn_abort(t);
	return e;
}

int drfs_now_rmdir(struct drfs_now *n, uint64_t dir, const char *name)
{
	struct drfs_txn *t = NULL;
	struct rec d, c;
	uint64_t ino;
	bool unl;
	pthread_mutex_lock(&n->lock);
	int e = ensure_mat(n, dir);
	e = e < 0 ? e : child_of(n, dir, name, &ino);
	e = e < 0 ? e : ensure_mat(n, ino);
	e = e < 0 ? e : drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, ino, &c);
	e = e < 0 ? e : rec_get(t, dir, &d);
	if (e < 0)
		goto out;
	e = dir_is_empty(t, ino);
	if (e == 0)
		e = -ENOTEMPTY;
	if (e < 0)
		goto out;
	now_ts(&d.mtime);
	d.ctime = d.mtime;
	if (d.nlink > 2)
		d.nlink--;
	e = dent_del(t, dir, name);
	e = e < 0 ? e : rec_put(t, &d);
	e = e < 0 ? e : mark_dirty(t, dir);
	e = e < 0 ? e : delete_inode(n, t, &c, &unl);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
out:
	if (e == -ENOTDIR)
		e = -ENOTDIR;
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

/* Whether a is dir or one of its ancestors. */
static int is_ancestor(struct drfs_txn *t, uint64_t a, uint64_t dir)
{
	for (int depth = 0; depth < 4096; depth++) {
		if (dir == a)
			return 1;
		if (dir == DRFS_NOW_ROOT)
			return 0;
		struct ino_list ps = { 0 };
		int e = parents_of(t, dir, &ps);
		if (e >= 0 && ps.n == 0)
			e = 0;
		uint64_t p = ps.n ? ps.v[0] : 0;
		free(ps.v);
		if (e < 0)
			return e;
		if (!p)
			return 0;
		dir = p;
	}
	return -ELOOP;
}

int drfs_now_rename(struct drfs_now *n, uint64_t dir, const char *name,
		    uint64_t newdir, const char *newname, unsigned int flags)
{
	struct drfs_txn *t = NULL;
	struct rec d, nd_, *nd, s, x;
	uint64_t src, dst = 0;
	size_t len;
	bool have_dst, unl = false;
	struct timespec now;
	int e;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	e = check_name(newname, &len);
	if (e < 0)
		return e;
	pthread_mutex_lock(&n->lock);
	e = ensure_mat(n, dir);
	e = e < 0 ? e : ensure_mat(n, newdir);
	e = e < 0 ? e : child_of(n, dir, name, &src);
	if (e < 0)
		goto out;
	have_dst = child_of(n, newdir, newname, &dst) == 0;
	if (have_dst && !(flags & RENAME_EXCHANGE)) {
		e = ensure_mat(n, dst);
		if (e == -ENOTDIR)
			e = 0;
		if (e < 0)
			goto out;
	}
	e = drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, dir, &d);
	if (e < 0)
		goto out;
	if (newdir == dir) {
		nd = &d;
	} else {
		nd = &nd_;
		e = rec_get(t, newdir, nd);
		if (e < 0)
			goto out;
	}
	e = rec_get(t, src, &s);
	if (e < 0)
		goto out;
	if (have_dst) {
		e = rec_get(t, dst, &x);
		if (e < 0)
			goto out;
	}
	now_ts(&now);
	if (flags & RENAME_EXCHANGE) {
		if (!have_dst) {
			e = -ENOENT;
			goto out;
		}
		if (src == dst)
			goto commit;
		if ((S_ISDIR(s.mode) && (e = is_ancestor(t, src, newdir))) ||
		    (S_ISDIR(x.mode) && (e = is_ancestor(t, dst, dir)))) {
			if (e > 0)
				e = -EINVAL;
			goto out;
		}
		e = dent_repoint(t, dir, name, dst);
		e = e < 0 ? e : dent_repoint(t, newdir, newname, src);
		if (e < 0)
			goto out;
		if (dir != newdir && S_ISDIR(s.mode) != S_ISDIR(x.mode)) {
			if (S_ISDIR(s.mode)) {
				d.nlink--;
				nd->nlink++;
			} else {
				d.nlink++;
				nd->nlink--;
			}
		}
		s.ctime = x.ctime = now;
		e = rec_put(t, &s);
		e = e < 0 ? e : rec_put(t, &x);
	} else {
		if (have_dst && (flags & RENAME_NOREPLACE)) {
			e = -EEXIST;
			goto out;
		}
		if (have_dst && src == dst)
			goto commit;
		if (S_ISDIR(s.mode)) {
			e = is_ancestor(t, src, newdir);
			if (e != 0) {
				if (e > 0)
					e = -EINVAL;
				goto out;
			}
		}
		if (have_dst) {
			if (S_ISDIR(s.mode) && !S_ISDIR(x.mode)) {
				e = -ENOTDIR;
				goto out;
			}
			if (!S_ISDIR(s.mode) && S_ISDIR(x.mode)) {
				e = -EISDIR;
				goto out;
			}
			if (S_ISDIR(x.mode)) {
				e = dir_is_empty(t, dst);
				if (e == 0)
					e = -ENOTEMPTY;
				if (e < 0)
					goto out;
				if (nd->nlink > 2)
					nd->nlink--;
			}
			e = dent_del(t, newdir, newname);
			e = e < 0 ? e : drop_link(n, t, &x, &now, &unl);
			if (e < 0)
				goto out;
		}
		e = dent_del(t, dir, name);
		e = e < 0 ? e : dent_add(t, nd, newname, len, src);
		if (e < 0)
			goto out;
		if (S_ISDIR(s.mode) && dir != newdir) {
			if (d.nlink > 2)
				d.nlink--;
			nd->nlink++;
		}
		s.ctime = now;
		e = rec_put(t, &s);
	}
	d.mtime = d.ctime = now;
	nd->mtime = nd->ctime = now;
	e = e < 0 ? e : rec_put(t, &d);
	if (e >= 0 && nd != &d)
		e = rec_put(t, nd);
	e = e < 0 ? e : mark_dirty(t, src);
	if (e >= 0 && have_dst && (flags & RENAME_EXCHANGE))
		e = mark_dirty(t, dst);
	e = e < 0 ? e : mark_dirty(t, dir);
	e = e < 0 ? e : mark_dirty(t, newdir);
commit:
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0 && unl)
		unlink_staging(n, dst);
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

/* ---- open files and staging ------------------------------------------- */

/* Under n->lock. */
static int ofile_get(struct drfs_now *n, const struct rec *r,
		     struct ofile **ret)
{
	struct ofile *of = ofile_find(n, r->ino);
	if (!of) {
		of = calloc(1, sizeof(*of));
		if (!of)
			return -ENOMEM;
		of->ino = r->ino;
		of->fd = -1;
		of->spilled_fd = -1;
		if (r->flags & I_STAGED) {
			of->fd = staging_open(n, r->ino, O_RDWR, &of->mem);
			if (of->fd < 0) {
				int e = -errno;
				free(of);
				return e == -ENOENT ? -EIO : e;
			}
		}
		of->next = n->ofiles;
		n->ofiles = of;
	}
	of->refs++;
	*ret = of;
	return 0;
}

static void ofile_unlink(struct drfs_now *n, struct ofile *of)
{
	for (struct ofile **p = &n->ofiles; *p; p = &(*p)->next)
		if (*p == of) {
			*p = of->next;
			break;
		}
	if (of->fd >= 0)
		close(of->fd);
	if (of->spilled_fd >= 0)
		close(of->spilled_fd);
	free(of);
}

/* Persist size and times of an open file. Under n->lock. */
static int persist_meta(struct drfs_now *n, struct ofile *of)
{
	struct drfs_txn *t = NULL; /* begin leaves it alone on failure */
	struct rec r;
	struct stat fs;
	if (!of->meta_dirty)
		return 0;
	int e = drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, of->ino, &r);
	if (e < 0) {
		drfs_txn_abort(t);
		return e;
	}
	if (of->fd >= 0 && fstat(of->fd, &fs) == 0) {
		r.size = (uint64_t)fs.st_size;
		r.blocks = (uint64_t)fs.st_blocks * 512;
	}
	r.mtime = of->mtime;
	r.ctime = of->ctime;
	e = rec_put(t, &r);
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	if (e >= 0)
		of->meta_dirty = false;
	return e;
}

/* Record that the file's data changes. Under n->lock. */
static int mark_written(struct drfs_now *n, struct ofile *of)
{
	struct drfs_txn *t;
	struct rec r;
	chunk_cancel(n, of->ino);
	if (of->marked)
		return 0;
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = rec_get(t, of->ino, &r);
		drfs_txn_abort(t);
		if (e >= 0 && (r.flags & (I_STALE | I_DIRTY)) ==
				      (I_STALE | I_DIRTY)) {
			of->marked = true;
			return 0;
		}
	}
	e = drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, of->ino, &r);
	if (e >= 0) {
		r.flags |= I_STALE;
		r.gen++;
		e = rec_put(t, &r);
		e = e < 0 ? e : mark_dirty(t, of->ino);
	}
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	if (e >= 0)
		of->marked = true;
	return e;
}

/*
 * Copy the file's content (bytes below upto) into a new staging file, or a
 * memfd when there is nothing to copy, and switch the inode to it. Under
 * n->lock.
 */
static int ensure_staged(struct drfs_now *n, struct ofile *of, uint64_t upto)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	struct drfs_txn *t;
	struct rec r;
	struct ext_scan s = { 0 };
	struct drfs_buf blob;
	bool mem = false;
	int fd, e;

	if (of->fd >= 0)
		return 0;
	e = drfs_txn_begin(n->r->index, false, &t);
	if (e < 0)
		return e;
	e = rec_get(t, of->ino, &r);
	if (e >= 0 && !S_ISREG(r.mode))
		e = -EINVAL;
	if (e >= 0 && upto)
		e = ext_range(t, of->ino, 0, upto, &s);
	drfs_txn_abort(t);
	if (e < 0)
		goto out_s;
	staging_path(n, of->ino, p, sizeof(p));
	/*
	 * Nothing to copy in and small: in memory (a staging file left
	 * for a deferred unlink keeps the disk path, see unlink_staging_now).
	 */
	uint64_t size = MIN(r.size, upto);
	if (s.n == 0 && size <= MEM_FILE_MAX && access(p, F_OK) != 0 &&
	    mem_new(n, of->ino)) {
		mem = true;
		fd = staging_open(n, of->ino, O_RDWR, NULL);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
			e = -errno;
			if (fd >= 0)
				close(fd);
			mem_remove(n, of->ino);
			goto out_s;
		}
		goto record;
	}
	mem_remove(n, of->ino);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = -errno;
		goto out_s;
	}
	drfs_buf_init(&blob, DRFS_BLOB_MAX);
	for (size_t i = 0; e >= 0 && i < s.n; i++) {
		drfs_buf_reset(&blob);
		e = read_blob(n, &s.v[i].id, &blob);
		if (e < 0) {
			e = -EIO;
			break;
		}
		if (blob.len != s.v[i].len) {
			e = -EIO;
			break;
		}
		uint64_t l = MIN((uint64_t)blob.len, upto - s.v[i].off);
		e = drfs_pwrite_all(fd, blob.p, (size_t)l, s.v[i].off);
	}
	drfs_buf_release(&blob);
	/* content that was durable must stay durable across the switch */
	e = staging_install(e, fd, tmp, p, size, s.n != 0);
	if (e < 0)
		goto out_s;
record:
	e = drfs_txn_begin(n->r->index, true, &t);
	if (e >= 0) {
		r.flags |= I_STAGED | I_STALE;
		r.gen++;
		e = rec_put(t, &r);
		e = e < 0 ? e : set_put(t, 'S', r.ino);
		e = e < 0 ? e : mark_dirty(t, r.ino);
		if (e >= 0)
			e = now_commit(n, t);
		else
			drfs_txn_abort(t);
	}
	if (e < 0) {
		close(fd);
		if (mem)
			mem_remove(n, of->ino);
		else
			unlink(p);
		goto out_s;
	}
	struct stat fs;
	if (fstat(fd, &fs) == 0)
		n->staged_bytes += (uint64_t)fs.st_blocks * 512;
	of->fd = fd;
	of->mem = mem;
	of->marked = true;
	chunk_cancel(n, of->ino);
out_s:
	free(s.v);
	return e;
}

/* Truncate an open file. Under n->lock. */
static int truncate_locked(struct drfs_now *n, struct ofile *of, uint64_t size)
{
	int e = ensure_staged(n, of, size);
	e = e < 0 ? e : mark_written(n, of);
	if (e >= 0 && of->mem && size > MEM_FILE_MAX)
		e = spill(n, of->ino, of, false);
	if (e < 0)
		return e;
	if (ftruncate(of->fd, (off_t)size) < 0)
		return -errno;
	now_ts(&of->mtime);
	of->ctime = of->mtime;
	of->meta_dirty = true;
	return persist_meta(n, of);
}

int drfs_now_open_file(struct drfs_now *n, uint64_t ino, int flags,
		       struct drfs_now_file **ret)
{
	struct drfs_txn *t;
	struct rec r;
	struct drfs_now_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = rec_get(t, ino, &r);
		drfs_txn_abort(t);
	}
	if (e >= 0 && S_ISDIR(r.mode))
		e = -EISDIR;
	else if (e >= 0 && !S_ISREG(r.mode))
		e = -EINVAL;
	e = e < 0 ? e : ofile_get(n, &r, &f->of);
	if (e >= 0 && (flags & O_ACCMODE) != O_RDONLY) {
		f->of->writers++;
		chunk_cancel(n, ino);
	}
	if (e >= 0 && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		e = truncate_locked(n, f->of, 0);
		if (e < 0) {
			f->of->writers--;
			if (--f->of->refs == 0)
				ofile_unlink(n, f->of);
		}
	}
	pthread_mutex_unlock(&n->lock);
	if (e < 0) {
		free(f);
		return e;
	}
	f->n = n;
	f->flags = flags;
	pthread_mutex_init(&f->clock, NULL);
	drfs_buf_init(&f->cbuf, DRFS_BLOB_MAX);
	*ret = f;
	return 0;
}

ssize_t drfs_now_read(struct drfs_now_file *f, void *buf, size_t len,
		      uint64_t off)
{
	struct drfs_now *n = f->n;
	struct drfs_txn *t;
	struct rec r;
	struct ext_scan s = { 0 };
	int fd, e;

	pthread_mutex_lock(&n->lock);
	fd = f->of->fd;
	e = 0;
	if (fd < 0) {
		e = drfs_txn_begin(n->r->index, false, &t);
		if (e >= 0) {
			e = rec_get(t, f->of->ino, &r);
			if (e >= 0 && off < r.size) {
				len = (size_t)MIN((uint64_t)len, r.size - off);
				e = ext_range(t, f->of->ino, off, off + len,
					      &s);
			}
			drfs_txn_abort(t);
		}
	}
	pthread_mutex_unlock(&n->lock);
	if (e < 0)
		goto out;
	if (fd >= 0) {
		ssize_t got = drfs_pread_all(fd, buf, len, off);
		free(s.v);
		return got;
	}
	if (off >= r.size) {
		free(s.v);
		return 0;
	}
	memset(buf, 0, len);
	pthread_mutex_lock(&f->clock);
	for (size_t i = 0; i < s.n; i++) {
		const struct drfs_extent *x = &s.v[i];
		if (!f->cvalid || !drfs_id_eq(&f->cid, &x->id)) {
			drfs_buf_reset(&f->cbuf);
			f->cvalid = false;
			e = read_blob(n, &x->id, &f->cbuf);
			if (e < 0 || f->cbuf.len != x->len) {
				e = -EIO;
				break;
			}
			f->cid = x->id;
			f->cvalid = true;
		}
		uint64_t a = MAX(off, x->off);
		uint64_t b = MIN(off + len, x->off + x->len);
		if (a < b)
			memcpy((uint8_t *)buf + (a - off),
			       f->cbuf.p + (a - x->off), (size_t)(b - a));
	}
	pthread_mutex_unlock(&f->clock);
out:
	free(s.v);
	return e < 0 ? e : (ssize_t)len;
}

/* Writers wait while staging is over its bound (best effort). */
static void wait_for_space(struct drfs_now *n)
{
	if (!n->o.cache_size)
		return;
	pthread_mutex_lock(&n->lock);
	for (int i = 0; i < 600 && n->staged_bytes > n->o.cache_size &&
			!n->space_stuck && !n->bg_quit;
	     i++) {
		struct timespec ts;
		pthread_cond_broadcast(&n->bg_cond);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&n->bg_cond, &n->lock, &ts);
	}
	pthread_mutex_unlock(&n->lock);
}

ssize_t drfs_now_write(struct drfs_now_file *f, const void *buf, size_t len,
		       uint64_t off)
{
	struct drfs_now *n = f->n;
	int e, fd;
	if (off + len < off || off + len > (uint64_t)INT64_MAX)
		return -EFBIG;
	wait_for_space(n);
	pthread_rwlock_rdlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	e = ensure_staged(n, f->of, UINT64_MAX);
	e = e < 0 ? e : mark_written(n, f->of);
	if (e >= 0 && f->of->mem && off + len > MEM_FILE_MAX)
		e = spill(n, f->of->ino, f->of, false);
	fd = f->of->fd;
	pthread_mutex_unlock(&n->lock);
	if (e >= 0)
		e = drfs_pwrite_all(fd, buf, len, off);
	pthread_mutex_lock(&n->lock);
	if (e >= 0) {
		now_ts(&f->of->mtime);
		f->of->ctime = f->of->mtime;
		f->of->meta_dirty = true;
		n->staged_bytes += len;
		if (f->of->mem)
			n->mem_bytes += len;
	}
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	return e < 0 ? e : (ssize_t)len;
}

int drfs_now_fallocate(struct drfs_now_file *f, int mode, uint64_t off,
		       uint64_t len)
{
	struct drfs_now *n = f->n;
	int e;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
		     FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	pthread_rwlock_rdlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	e = ensure_staged(n, f->of, UINT64_MAX);
	e = e < 0 ? e : mark_written(n, f->of);
	if (e >= 0 && f->of->mem) /* tmpfs lacks FALLOC_FL_ZERO_RANGE */
		e = spill(n, f->of->ino, f->of, false);
	if (e >= 0 && fallocate(f->of->fd, mode, (off_t)off, (off_t)len) < 0)
		e = -errno;
	if (e >= 0) {
		now_ts(&f->of->mtime);
		f->of->ctime = f->of->mtime;
		f->of->meta_dirty = true;
	}
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	return e;
}

int64_t drfs_now_lseek(struct drfs_now_file *f, int64_t off, int whence)
{
	struct drfs_now *n = f->n;
	struct drfs_txn *t;
	struct rec r;
	struct ext_scan s = { 0 };
	int64_t res;
	int e;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	pthread_mutex_lock(&n->lock);
	if (f->of->fd >= 0) {
		res = lseek(f->of->fd, off, whence);
		pthread_mutex_unlock(&n->lock);
		return res < 0 ? -errno : res;
	}
	e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = rec_get(t, f->of->ino, &r);
		e = e < 0 ? e : ext_range(t, f->of->ino, (uint64_t)off,
					  UINT64_MAX, &s);
		drfs_txn_abort(t);
	}
	pthread_mutex_unlock(&n->lock);
	if (e < 0) {
		free(s.v);
		return e;
	}
	if ((uint64_t)off >= r.size) {
		free(s.v);
		return -ENXIO;
	}
	uint64_t pos = (uint64_t)off;
	if (whence == SEEK_DATA) {
		res = s.n ? (int64_t)MAX(pos, s.v[0].off) : -ENXIO;
		if (res >= 0 && (uint64_t)res >= r.size)
			res = -ENXIO;
	} else {
		for (size_t i = 0; i < s.n && s.v[i].off <= pos; i++)
			pos = MAX(pos, s.v[i].off + s.v[i].len);
		res = (int64_t)MIN(pos, r.size);
	}
	free(s.v);
	return res;
}

int drfs_now_fsync(struct drfs_now_file *f, bool datasync)
{
	struct drfs_now *n = f->n;
	int e = 0, fd;
	pthread_mutex_lock(&n->lock);
	if (f->of->mem) /* memory does not survive the daemon */
		e = spill(n, f->of->ino, f->of, false);
	fd = f->of->fd >= 0 ? dup(f->of->fd) : -1;
	pthread_mutex_unlock(&n->lock);
	if (fd >= 0) {
		if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
			e = -errno;
		close(fd);
	}
	pthread_mutex_lock(&n->lock);
	e = e < 0 ? e : persist_meta(n, f->of);
	pthread_mutex_unlock(&n->lock);
	return e < 0 ? e : index_sync(n);
}

/*
 * What the last close of file r does: I_ORPHAN delete it (unlinked while
 * open); I_STAGED drop its staging, because its extents are durable (a
 * flush or a snapshot covered it while it was open, and a close's RELEASE
 * can arrive after that snapshot: nothing else would drop it); 0 nothing.
 */
static uint32_t closed_action(const struct rec *r)
{
	if (r->flags & I_ORPHAN)
		return I_ORPHAN;
	if ((r->flags & (I_STAGED | I_STALE | I_PENDING)) == I_STAGED)
		return I_STAGED;
	return 0;
}

void drfs_now_release(struct drfs_now_file *f)
{
	if (!f)
		return;
	struct drfs_now *n = f->n;
	struct ofile *of = f->of;
	pthread_mutex_lock(&n->lock);
	persist_meta(n, of);
	if ((f->flags & O_ACCMODE) != O_RDONLY)
		of->writers--;
	if (--of->refs == 0) {
		uint64_t ino = of->ino;
		ofile_unlink(n, of);
		struct drfs_txn *t;
		struct rec r;
		uint32_t act = 0;
		if (drfs_txn_begin(n->r->index, false, &t) == 0) {
			if (rec_get(t, ino, &r) == 0)
				act = closed_action(&r);
			drfs_txn_abort(t);
		}
		if (!act)
			ino_list_push(&n->stale_q, ino); /* a hint */
		if (act && drfs_txn_begin(n->r->index, true, &t) == 0) {
			bool unl = false;
			int e = rec_get(t, ino, &r);
			if (e >= 0 && closed_action(&r) != act)
				e = -EAGAIN; /* nothing to do */
			if (e >= 0 && act == I_ORPHAN) {
				e = delete_inode(n, t, &r, &unl);
			} else if (e >= 0) {
				e = unstage(t, &r);
				e = e < 0 ? e : rec_put(t, &r);
				unl = true;
			}
			if (e >= 0)
				e = now_commit(n, t);
			else
				drfs_txn_abort(t);
			if (e >= 0 && unl)
				unlink_staging(n, ino);
		}
		if (n->space_stuck || n->stale_q.n >= WAKE_BATCH) {
			n->space_stuck = false;
			pthread_cond_broadcast(&n->bg_cond);
		}
	}
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_destroy(&f->clock);
	drfs_buf_release(&f->cbuf);
	free(f);
}

/* ---- attributes and xattrs --------------------------------------------- */

/*
 * POSIX ACLs as the kernel passes them (system.posix_acl_access): le32
 * version 2, then entries le16 tag | le16 perm | le32 id. Like a local file
 * system, now/ keeps the mode's permission bits and the access ACL in step.
 */
#define ACL_XATTR "system.posix_acl_access"
#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP 0x08
#define ACL_MASK 0x10
#define ACL_OTHER 0x20

/* Mode bits an access ACL implies: 0 and *minimal; -EINVAL if malformed. */
static int acl_mode(const uint8_t *p, size_t len, uint32_t *mode,
		    bool *minimal)
{
	int u = -1, g = -1, m = -1, o = -1;
	*minimal = true;
	if (len < 4 || (len - 4) % 8 || drfs_get_le32(p) != 2)
		return -EINVAL;
	for (size_t i = 4; i < len; i += 8) {
		int tag = drfs_get_le16(p + i), perm = drfs_get_le16(p + i + 2);
		if (perm & ~7)
			return -EINVAL;
		switch (tag) {
		case ACL_USER_OBJ: u = perm; break;
		case ACL_GROUP_OBJ: g = perm; break;
		case ACL_MASK: m = perm; *minimal = false; break;
		case ACL_OTHER: o = perm; break;
		case ACL_USER:
		case ACL_GROUP: *minimal = false; break;
		default: return -EINVAL;
		}
	}
	if (u < 0 || g < 0 || o < 0)
		return -EINVAL;
	*mode = (*mode & ~0777u) | (uint32_t)u << 6 |
		(uint32_t)(m >= 0 ? m : g) << 3 | (uint32_t)o;
	return 0;
}

/* After a chmod: the access ACL's owner, mask (or group) and other. */
static int acl_chmod(struct drfs_txn *t, uint64_t ino, uint32_t mode)
{
	uint8_t k[8 + sizeof(ACL_XATTR)];
	struct drfs_buf v;
	put_be64(k, ino);
	memcpy(k + 8, ACL_XATTR, sizeof(ACL_XATTR) - 1);
	drfs_buf_init(&v, DRFS_XATTR_VALUE_MAX);
	int e = drfs_kv_get(t, DRFS_DB_NOW_XATTRS, k, sizeof(k) - 1, &v);
	if (e == -ENOENT) {
		drfs_buf_release(&v);
		return 0;
	}
	bool has_mask = false;
	for (size_t i = 4; e >= 0 && i + 8 <= v.len; i += 8)
		has_mask |= drfs_get_le16(v.p + i) == ACL_MASK;
	for (size_t i = 4; e >= 0 && i + 8 <= v.len; i += 8) {
		int tag = drfs_get_le16(v.p + i);
		if (tag == ACL_USER_OBJ)
			drfs_put_le16(v.p + i + 2, (mode >> 6) & 7);
		else if (tag == ACL_MASK ||
			 (tag == ACL_GROUP_OBJ && !has_mask))
			drfs_put_le16(v.p + i + 2, (mode >> 3) & 7);
		else if (tag == ACL_OTHER)
			drfs_put_le16(v.p + i + 2, mode & 7);
	}
	if (e >= 0)
		e = drfs_kv_put(t, DRFS_DB_NOW_XATTRS, k, sizeof(k) - 1, v.p,
				v.len);
	drfs_buf_release(&v);
	return e;
}

int drfs_now_setattr(struct drfs_now *n, uint64_t ino, const struct stat *st,
		     unsigned int which, struct stat *ret)
{
	struct drfs_txn *t = NULL;
	struct rec r;
	struct timespec now;
	int e;

	pthread_rwlock_rdlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = rec_get(t, ino, &r);
		drfs_txn_abort(t);
		t = NULL;
	}
	if (e < 0)
		goto out;
	if (which & DRFS_NOW_SET_SIZE) {
		struct ofile *of;
		if (S_ISDIR(r.mode)) {
			e = -EISDIR;
			goto out;
		}
		if (!S_ISREG(r.mode)) {
			e = -EINVAL;
			goto out;
		}
		if (st->st_size < 0) {
			e = -EINVAL;
			goto out;
		}
		e = ofile_get(n, &r, &of);
		if (e < 0)
			goto out;
		e = truncate_locked(n, of, (uint64_t)st->st_size);
		if (--of->refs == 0)
			ofile_unlink(n, of);
		if (e < 0)
			goto out;
	}
	struct ofile *of = ofile_find(n, ino);
	if (of) {
		e = persist_meta(n, of);
		if (e < 0)
			goto out;
	}
	e = drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, ino, &r);
	if (e < 0)
		goto out;
	now_ts(&now);
	if (which & DRFS_NOW_SET_MODE) {
		r.mode = (r.mode & S_IFMT) | (st->st_mode & 07777);
		e = acl_chmod(t, ino, r.mode);
		if (e < 0)
			goto out;
	}
	if (which & DRFS_NOW_SET_UID)
		r.uid = st->st_uid;
	if (which & DRFS_NOW_SET_GID)
		r.gid = st->st_gid;
	if (which & DRFS_NOW_SET_ATIME)
		r.atime = st->st_atim;
	if (which & DRFS_NOW_SET_MTIME)
		r.mtime = st->st_mtim;
	r.ctime = (which & DRFS_NOW_SET_CTIME) ? st->st_ctim : now;
	e = rec_put(t, &r);
	e = e < 0 ? e : mark_dirty(t, ino);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0 && ret)
		rec_stat(n, &r, ret);
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	return e;
}

int drfs_now_setxattr(struct drfs_now *n, uint64_t ino, const char *name,
		      const void *value, size_t len, int flags)
{
	struct drfs_txn *t = NULL;
	struct rec r;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	size_t nl = strlen(name);
	uint64_t count;
	int e;

	if (nl == 0 || nl > DRFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (len > DRFS_XATTR_VALUE_MAX)
		return -E2BIG;
	put_be64(k, ino);
	memcpy(k + 8, name, nl);
	pthread_mutex_lock(&n->lock);
	e = drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, ino, &r);
	if (e < 0)
		goto out;
	struct drfs_buf old;
	drfs_buf_init(&old, DRFS_XATTR_VALUE_MAX);
	e = drfs_kv_get(t, DRFS_DB_NOW_XATTRS, k, 8 + nl, &old);
	drfs_buf_release(&old);
	if (e == 0 && (flags & XATTR_CREATE)) {
		e = -EEXIST;
		goto out;
	}
	if (e == -ENOENT && (flags & XATTR_REPLACE)) {
		e = -ENODATA;
		goto out;
	}
	if (e == -ENOENT) {
		struct drfs_buf names;
		drfs_buf_init(&names, 1u << 30);
		e = xattr_names(t, ino, &names);
		count = 0;
		for (size_t i = 0; i < names.len; i++)
			count += names.p[i] == 0;
		drfs_buf_release(&names);
		if (e >= 0 && count >= DRFS_XATTRS_MAX)
			e = -ENOSPC;
	}
	if (e < 0)
		goto out;
	bool minimal = false;
	if (!strcmp(name, ACL_XATTR)) {
		e = acl_mode(value, len, &r.mode, &minimal);
		if (e < 0)
			goto out;
	}
	if (minimal) {
		/* equivalent to the mode: not stored, as on a local disk */
		e = drfs_kv_del(t, DRFS_DB_NOW_XATTRS, k, 8 + nl);
		if (e == -ENOENT)
			e = 0;
	} else {
		e = drfs_kv_put(t, DRFS_DB_NOW_XATTRS, k, 8 + nl, value, len);
	}
	now_ts(&r.ctime);
	e = e < 0 ? e : rec_put(t, &r);
	e = e < 0 ? e : mark_dirty(t, ino);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int drfs_now_getxattr(struct drfs_now *n, uint64_t ino, const char *name,
		      void *out, size_t max)
{
	struct drfs_txn *t;
	struct drfs_buf v;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	size_t nl = strlen(name);
	if (nl == 0 || nl > DRFS_XATTR_NAME_MAX)
		return -ENODATA;
	put_be64(k, ino);
	memcpy(k + 8, name, nl);
	drfs_buf_init(&v, DRFS_XATTR_VALUE_MAX);
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		struct rec r;
		e = rec_get(t, ino, &r);
		e = e < 0 ? e : drfs_kv_get(t, DRFS_DB_NOW_XATTRS, k, 8 + nl,
					    &v);
		drfs_txn_abort(t);
	}
	if (e == -ENOENT)
		e = -ENODATA;
	if (e >= 0) {
		e = (int)v.len;
		if (out && max < v.len)
			e = -ERANGE;
		else if (out && v.len)
			memcpy(out, v.p, v.len);
	}
	drfs_buf_release(&v);
	return e;
}

int drfs_now_listxattr(struct drfs_now *n, uint64_t ino, char *out,
		       size_t max)
{
	struct drfs_txn *t;
	struct drfs_buf names;
	drfs_buf_init(&names, 1u << 30);
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = xattr_names(t, ino, &names);
		drfs_txn_abort(t);
	}
	if (e >= 0) {
		e = (int)names.len;
		if (out && max < names.len)
			e = -ERANGE;
		else if (out && names.len)
			memcpy(out, names.p, names.len);
	}
	drfs_buf_release(&names);
	return e;
}

int drfs_now_removexattr(struct drfs_now *n, uint64_t ino, const char *name)
{
	struct drfs_txn *t = NULL;
	struct rec r;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	size_t nl = strlen(name);
	if (nl == 0 || nl > DRFS_XATTR_NAME_MAX)
		return -ENODATA;
	put_be64(k, ino);
	memcpy(k + 8, name, nl);
	pthread_mutex_lock(&n->lock);
	int e = drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : rec_get(t, ino, &r);
	e = e < 0 ? e : drfs_kv_del(t, DRFS_DB_NOW_XATTRS, k, 8 + nl);
	if (e == -ENOENT)
		e = -ENODATA;
	now_ts(&r.ctime);
	e = e < 0 ? e : rec_put(t, &r);
	e = e < 0 ? e : mark_dirty(t, ino);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

/* ---- chunking ------------------------------------------------------------ */

struct put_ctx {
	struct drfs_now *n;
	struct drfs_extent_vec *x;
};

static int put_chunk(void *ud, const uint8_t *p, size_t len, uint64_t off)
{
	struct put_ctx *c = ud;
	struct drfs_now *n = c->n;
	struct drfs_id id;
	pthread_mutex_lock(&n->wlock);
	int e = n->w ? drfs_writer_put_blob(n->w, DRFS_BLOB_DATA, p, len, &id)
		     : -EIO;
	if (e > 0) {
		n->pend_blobs++;
		n->pend_bytes += len;
	}
	pthread_mutex_unlock(&n->wlock);
	return e < 0 ? e : drfs_extent_vec_push(c->x, off, (uint32_t)len, &id);
}

/*
 * Chunk fd exactly as a backup would (drfs_chunk_fd). abort (may be NULL)
 * is polled between reads.
 */
static int chunk_fd(struct drfs_now *n, int fd, struct drfs_extent_vec *x,
		    uint64_t *ret_size, volatile bool *abort)
{
	struct put_ctx pc = { n, x };
	struct drfs_chunk_fd c = {
		.chunker = &n->r->chunker,
		.win_cap = 2 * (size_t)n->r->config.chunker.max,
		.emit = put_chunk,
		.ud = &pc,
		.abort = abort,
	};
	struct stat st;
	uint64_t last;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!(c.win = malloc(c.win_cap)))
		return -ENOMEM;
	int e = drfs_chunk_fd(&c, fd, (uint64_t)st.st_size, &last);
	free(c.win);
	*ret_size = (uint64_t)st.st_size;
	return e;
}

/* Record extents of a chunked staging file. Under n->lock. */
static int apply_chunked_in(struct drfs_txn *t, uint64_t ino, uint64_t gen,
			    const struct drfs_extent_vec *x, uint64_t size,
			    uint64_t epoch)
{
	struct rec r;
	int e = rec_get(t, ino, &r);
	if (e == -ENOENT || (e >= 0 && (r.gen != gen || !(r.flags & I_STAGED))))
		return -ESTALE; /* gone or changed, nothing written: go on */
	e = e < 0 ? e : ext_clear(t, ino);
	r.blocks = 0;
	for (size_t i = 0; e >= 0 && i < x->n; i++) {
		e = ext_put(t, ino, &x->v[i]);
		r.blocks += x->v[i].len;
	}
	if (e >= 0) {
		uint8_t k[9] = { 'S' }, v[8];
		put_be64(k + 1, ino);
		drfs_put_le64(v, epoch);
		r.size = size;
		r.flags = (r.flags & ~I_STALE) | I_PENDING;
		e = rec_put(t, &r);
		e = e < 0 ? e : drfs_kv_put(t, DRFS_DB_NOW_META, k, 9, v, 8);
	}
	return e;
}

static int apply_chunked(struct drfs_now *n, uint64_t ino, uint64_t gen,
			 const struct drfs_extent_vec *x, uint64_t size,
			 uint64_t epoch)
{
	struct drfs_txn *t = NULL; /* begin leaves it alone on failure */
	int e = drfs_txn_begin(n->r->index, true, &t);
	e = e < 0 ? e : apply_chunked_in(t, ino, gen, x, size, epoch);
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	return e;
}

/*
 * Record n->batch in one transaction (a file changed since it was chunked
 * is left stale, as apply_chunked would); if that transaction fails, one
 * each. Empties the batch. Under n->lock.
 */
static void apply_batch(struct drfs_now *n)
{
	struct chunked *b = n->batch;
	struct drfs_txn *t = NULL;
	if (!n->nbatch)
		return;
	int e = drfs_txn_begin(n->r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < n->nbatch; i++) {
		if (!b[i].ino)
			continue; /* cancelled */
		e = apply_chunked_in(t, b[i].ino, b[i].gen, &b[i].x, b[i].size,
				     b[i].epoch);
		e = e == -ESTALE ? 0 : e;
	}
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	for (size_t i = 0; i < n->nbatch; i++) {
		if (e < 0 && b[i].ino)
			apply_chunked(n, b[i].ino, b[i].gen, &b[i].x,
				      b[i].size, b[i].epoch);
		free(b[i].x.v);
	}
	n->nbatch = 0;
}

static bool in_batch(const struct drfs_now *n, uint64_t ino)
{
	for (size_t i = 0; i < n->nbatch; i++)
		if (n->batch[i].ino == ino)
			return true;
	return false;
}

/* Chunk one staged file now (commit path; freeze held). Under n->lock. */
static int chunk_now(struct drfs_now *n, struct rec *r)
{
	struct drfs_extent_vec x = { 0 };
	uint64_t size;
	struct ofile *of = ofile_find(n, r->ino);
	int fd;
	if (of && of->fd >= 0)
		fd = dup(of->fd);
	else
		fd = staging_open(n, r->ino, O_RDONLY, NULL);
	if (fd < 0)
		return -errno;
	int e = chunk_fd(n, fd, &x, &size, NULL);
	close(fd);
	pthread_mutex_lock(&n->wlock);
	uint64_t epoch = n->flush_epoch;
	pthread_mutex_unlock(&n->wlock);
	e = e < 0 ? e : apply_chunked(n, r->ino, r->gen, &x, size, epoch);
	free(x.v);
	return e;
}

/*
 * Flush the writer; then staged files whose chunks that flush covered, and
 * any other whose extents are durable, stop being staged unless open
 * (their staging is dropped). If the flush fails, the blobs handed to the
 * writer may be lost: files whose extents reference them become stale
 * again, and what the background thread is chunking is not recorded.
 * Under n->lock.
 */
static int make_durable(struct drfs_now *n)
{
	struct drfs_txn *t;
	struct ino_list staged = { 0 }, drop = { 0 };
	uint64_t done;
	int e;

	apply_batch(n); /* its blobs are in the writer: the flush covers them */
	pthread_mutex_lock(&n->wlock);
	e = n->w ? drfs_writer_flush(n->w) : -EIO;
	if (e < 0) {
		/* the writer is dead: blobs handed to it may be lost */
		const char *why = n->w ? drfs_writer_error(n->w) : NULL;
		drfs_repo_set_last_error("%s", why ? why : drfs_strerror(e));
		drfs_writer_free(n->w);
		n->w = NULL;
		drfs_writer_new(n->r, &n->w);
	} else {
		n->flush_epoch++;
		n->pend_blobs = n->pend_bytes = 0;
	}
	done = n->flush_epoch;
	pthread_mutex_unlock(&n->wlock);
	if (e < 0 && n->chunking)
		n->chunk_abort = true;

	int e2 = drfs_txn_begin(n->r->index, true, &t);
	if (e2 < 0)
		return e < 0 ? e : e2;
	e2 = set_list(t, 'S', &staged);
	for (size_t i = 0; e2 >= 0 && i < staged.n; i++) {
		struct rec r;
		uint8_t k[9] = { 'S' }, v[8];
		if (rec_get(t, staged.v[i], &r) < 0)
			continue;
		uint32_t flags = r.flags;
		if (r.flags & I_PENDING) {
			put_be64(k + 1, staged.v[i]);
			int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, k, 9, v,
						  8);
			uint64_t ep = l == 8 ? drfs_get_le64(v) : UINT64_MAX;
			if (e < 0) {
				r.flags = (r.flags & ~I_PENDING) | I_STALE;
				n->full_scan = 0;
			} else if (ep < done) {
				r.flags &= ~I_PENDING;
			}
		}
		/* durable and closed (perhaps since an earlier flush) */
		if (!(r.flags & (I_STALE | I_PENDING | I_ORPHAN)) &&
		    (r.flags & I_STAGED) && !ofile_find(n, r.ino)) {
			e2 = unstage(t, &r);
			e2 = e2 < 0 ? e2 : ino_list_push(&drop, r.ino);
		}
		if (e2 >= 0 && r.flags != flags)
			e2 = rec_put(t, &r);
	}
	if (e2 >= 0)
		e2 = now_commit(n, t);
	else
		drfs_txn_abort(t);
	if (e2 >= 0) {
		for (size_t i = 0; i < drop.n; i++)
			unlink_staging(n, drop.v[i]);
		if (n->unl.n)
			unlinks_flush(n); /* frees space now, after a sync */
	}
	/* the exact size of what stays staged, and of what can be freed */
	uint64_t total = 0, freeable = 0, in_mem = 0;
	for (size_t i = 0; i < staged.n; i++) {
		struct stat fs;
		if (staging_stat(n, staged.v[i], &fs) < 0)
			continue;
		total += (uint64_t)fs.st_blocks * 512;
		if (mem_find(n, staged.v[i]))
			in_mem += (uint64_t)fs.st_blocks * 512;
		if (!ofile_find(n, staged.v[i]))
			freeable += (uint64_t)fs.st_blocks * 512;
	}
	n->staged_bytes = total;
	n->mem_bytes = in_mem;
	/* writers wait for space only while closed files can be freed */
	n->space_stuck = n->o.cache_size && total > n->o.cache_size &&
			 freeable == 0;
	free(staged.v);
	free(drop.v);
	pthread_cond_broadcast(&n->bg_cond);
	return e < 0 ? e : e2;
}

/* ---- commit ------------------------------------------------------------ */

struct agg {
	uint64_t files, dirs, bytes;
};

struct dir_upd {
	uint64_t ino;
	struct drfs_id tree;
	struct agg agg;
};

struct commit {
	struct drfs_now *n;
	struct drfs_txn *t; /* read */
	struct dir_upd *upd;
	size_t n_upd, cap_upd;
	struct ino_list clean; /* non-directories to clear I_DIRTY */
	struct ino_list unreached; /* changed hard links with links in
				      directories not yet copied */
};

static int put_tree(struct drfs_now *n, const void *p, size_t len,
		    struct drfs_id *ret)
{
	pthread_mutex_lock(&n->wlock);
	int e = n->w ? drfs_writer_put_blob(n->w, DRFS_BLOB_TREE, p, len, ret)
		     : -EIO;
	pthread_mutex_unlock(&n->wlock);
	return e < 0 ? e : 0;
}

static int upd_push(struct commit *c, uint64_t ino, const struct drfs_id *tree,
		    const struct agg *a)
{
	if (c->n_upd == c->cap_upd) {
		size_t cap = c->cap_upd ? 2 * c->cap_upd : 64;
		void *p = realloc(c->upd, cap * sizeof(*c->upd));
		if (!p)
			return -ENOMEM;
		c->upd = p;
		c->cap_upd = cap;
	}
	c->upd[c->n_upd++] = (struct dir_upd){ ino, *tree, *a };
	return 0;
}

static int read_blob_fn(void *n, const struct drfs_id *id,
			struct drfs_buf *out)
{
	return read_blob(n, id, out);
}

/*
 * Statistics of a stored tree (directories not yet copied into LMDB),
 * depth-first on the heap: any depth.
 */
static int tree_agg(struct drfs_now *n, const struct drfs_id *tree,
		    struct agg *a)
{
	struct drfs_tree_walk w;
	struct drfs_node *nd;
	drfs_tree_walk_init(&w, read_blob_fn, n);
	int e = drfs_tree_walk_push(&w, tree);
	while (e >= 0 && drfs_tree_walk_depth(&w)) {
		e = drfs_tree_walk_next(&w, &nd);
		if (e == 0) {
			a->dirs++;
			drfs_tree_walk_pop(&w);
		} else if (e > 0 && S_ISREG(nd->mode)) {
			a->files++;
			a->bytes += nd->size;
		} else if (e > 0 && S_ISDIR(nd->mode)) {
			e = drfs_tree_walk_push(&w, &nd->subtree);
		}
	}
	drfs_tree_walk_release(&w);
	return e;
}

struct names_scan {
	uint64_t dir;
	struct drfs_buf *out; /* le16 len | name | be64 ino, repeated */
};

static int names_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *ud)
{
	struct names_scan *s = ud;
	const uint8_t *k = key;
	uint8_t l[2];
	if (klen <= 9 || k[0] != 'n' || get_be64(k + 1) != s->dir)
		return 1;
	if (vlen != 16)
		return -EBADMSG;
	drfs_put_le16(l, (uint16_t)(klen - 9));
	int e = drfs_buf_append(s->out, l, 2);
	e = e ?: drfs_buf_append(s->out, k + 9, klen - 9);
	return e ?: drfs_buf_append(s->out, val, 8);
}

struct xa_scan {
	uint64_t ino;
	struct drfs_buf *out; /* le16 nlen | name | le32 vlen | value */
	size_t n;
};

static int xa_cb(const void *key, size_t klen, const void *val, size_t vlen,
		 void *ud)
{
	struct xa_scan *s = ud;
	const uint8_t *k = key;
	uint8_t l[4];
	if (klen <= 8 || get_be64(k) != s->ino)
		return 1;
	drfs_put_le16(l, (uint16_t)(klen - 8));
	int e = drfs_buf_append(s->out, l, 2);
	e = e ?: drfs_buf_append(s->out, k + 8, klen - 8);
	drfs_put_le32(l, (uint32_t)vlen);
	e = e ?: drfs_buf_append(s->out, l, 4);
	e = e ?: drfs_buf_append(s->out, val, vlen);
	s->n++;
	return e;
}

/* Xattrs of ino as an array pointing into buf. */
static int load_xattrs(struct drfs_txn *t, uint64_t ino, struct drfs_buf *buf,
		       struct drfs_xattr **ret, size_t *ret_n)
{
	uint8_t k[8];
	struct xa_scan s = { .ino = ino, .out = buf };
	put_be64(k, ino);
	int e = drfs_kv_scan(t, DRFS_DB_NOW_XATTRS, k, 8, xa_cb, &s);
	if (e < 0)
		return e;
	struct drfs_xattr *v = calloc(s.n ? s.n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t off = 0;
	for (size_t i = 0; i < s.n; i++) {
		v[i].name_len = drfs_get_le16(buf->p + off);
		v[i].name = buf->p + off + 2;
		off += 2 + v[i].name_len;
		v[i].value_len = drfs_get_le32(buf->p + off);
		v[i].value = buf->p + off + 4;
		off += 4 + v[i].value_len;
	}
	*ret = v;
	*ret_n = s.n;
	return 0;
}

static void node_from_rec(struct drfs_now *n, struct drfs_node *nd,
			  const struct rec *r)
{
	memset(nd, 0, sizeof(*nd));
	nd->mode = r->mode;
	nd->uid = r->uid;
	nd->gid = r->gid;
	nd->mtime = r->mtime;
	nd->atime = r->atime;
	nd->ctime = r->ctime;
	nd->size = S_ISREG(r->mode) || S_ISLNK(r->mode) || S_ISDIR(r->mode)
			   ? r->size
			   : 0;
	nd->nlink = r->nlink;
	nd->ino = tree_ino(n, r);
	nd->rdev = r->rdev;
	if (S_ISLNK(r->mode)) {
		nd->target = (const uint8_t *)r->target;
		nd->target_len = r->target_len;
	}
}

struct lcount {
	uint64_t child, sum;
};

static int lcount_cb(const void *key, size_t klen, const void *val,
		     size_t vlen, void *ud)
{
	struct lcount *l = ud;
	const uint8_t *k = key;
	if (klen != 17 || k[0] != 'p' || get_be64(k + 1) != l->child)
		return 1;
	if (vlen == 4)
		l->sum += drfs_get_le32(val);
	return 0;
}

/* Links of ino in directories copied into LMDB. */
static int link_count(struct drfs_txn *t, uint64_t ino, uint64_t *ret)
{
	uint8_t k[9] = { 'p' };
	struct lcount l = { .child = ino };
	put_be64(k + 1, ino);
	int e = drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, lcount_cb, &l);
	*ret = l.sum;
	return e;
}

struct subdirs {
	struct drfs_txn *t;
	uint64_t dir;
	struct ino_list *out;
};

static int subdirs_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ud)
{
	struct subdirs *s = ud;
	const uint8_t *k = key;
	struct rec r;
	if (klen <= 9 || k[0] != 'n' || get_be64(k + 1) != s->dir)
		return 1;
	if (vlen != 16)
		return -EBADMSG;
	if (rec_get(s->t, get_be64(val), &r) == 0 && S_ISDIR(r.mode))
		return ino_list_push(s->out, r.ino);
	return 0;
}

/*
 * Copy every directory into LMDB, then mark dirty every directory holding
 * a link to one of the inodes in changed: a hard-link group changed through
 * one name must be written with its new content under all of its names.
 */
static int materialize_all(struct drfs_now *n, const struct ino_list *changed)
{
	struct ino_list todo = { 0 };
	struct drfs_txn *t;
	int e = ino_list_push(&todo, DRFS_NOW_ROOT);
	while (e >= 0 && todo.n) {
		uint64_t dir = todo.v[--todo.n];
		uint8_t k[9] = { 'n' };
		e = ensure_mat(n, dir);
		if (e < 0)
			break;
		e = drfs_txn_begin(n->r->index, false, &t);
		if (e < 0)
			break;
		struct subdirs s = { .t = t, .dir = dir, .out = &todo };
		put_be64(k + 1, dir);
		e = drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, subdirs_cb, &s);
		drfs_txn_abort(t);
	}
	free(todo.v);
	if (e < 0)
		return e;
	e = drfs_txn_begin(n->r->index, true, &t);
	if (e < 0)
		return e;
	for (size_t i = 0; e >= 0 && i < changed->n; i++) {
		struct ino_list ps = { 0 };
		e = parents_of(t, changed->v[i], &ps);
		for (size_t j = 0; e >= 0 && j < ps.n; j++)
			e = mark_dirty(t, ps.v[j]);
		free(ps.v);
	}
	if (e >= 0)
		return now_commit(n, t);
	drfs_txn_abort(t);
	return e;
}

/*
 * A directory being encoded by commit_dir: one level of its walk, kept for
 * reuse at its depth.
 */
struct commit_level {
	struct rec *d;         /* the directory (a rec is 4 KiB: heap) */
	const uint8_t *name;   /* its name, in the names of the level above */
	size_t name_len;
	struct drfs_buf names; /* its entries: le16 len | name | be64 ino */
	size_t off;            /* the next of them */
	struct drfs_buf tree;
	struct drfs_tree_enc enc;
	struct agg a;
};

static void level_release(void *frame)
{
	struct commit_level *l = frame;
	drfs_tree_enc_release(&l->enc);
	drfs_buf_release(&l->names);
	drfs_buf_release(&l->tree);
	free(l->d);
}

/*
 * The level below the deepest of w (struct commit_level), allocated if need
 * be, not yet entered; NULL if out of memory.
 */
static struct commit_level *level_next(struct drfs_stack *w)
{
	struct commit_level *l = drfs_stack_next(w);
	if (l && !l->d) {
		l->d = malloc(sizeof(*l->d));
		drfs_buf_init(&l->names, SIZE_MAX / 2);
		drfs_buf_init(&l->tree, DRFS_BLOB_MAX);
	}
	return l && l->d ? l : NULL;
}

/*
 * Start directory l->d (l from level_next): 0 with its tree and statistics
 * if they are stored already, 1 once it is the deepest level, to encode.
 */
static int commit_dir_begin(struct commit *c, struct drfs_stack *w,
			    struct commit_level *l, struct drfs_id *ret_tree,
			    struct agg *ret_agg)
{
	struct drfs_now *n = c->n;
	const struct rec *d = l->d;
	struct agg a = { .dirs = 1 };
	int e;

	bool encode = (d->flags & I_MAT) &&
		      ((d->flags & I_DIRTY) || drfs_id_is_zero(&d->tree));
	if (!encode) {
		*ret_tree = d->tree;
		if (d->flags & I_AGG) {
			*ret_agg = (struct agg){ d->agg_files, d->agg_dirs,
						 d->agg_bytes };
			return 0;
		}
		e = tree_agg(n, &d->tree, &a);
		if (e < 0)
			return e;
		a.dirs--; /* counted by tree_agg and the initializer */
		*ret_agg = a;
		e = upd_push(c, d->ino, ret_tree, &a);
		return e < 0 ? e : 0;
	}
	/* a directory met again on its own path: LMDB is corrupted */
	for (size_t i = 0; i < w->depth; i++)
		if (((struct commit_level *)drfs_stack_at(w, i))->d->ino ==
		    d->ino)
			return -ELOOP;
	struct names_scan ns = { .dir = d->ino, .out = &l->names };
	uint8_t k[9] = { 'n' };
	put_be64(k + 1, d->ino);
	drfs_buf_reset(&l->names);
	e = drfs_kv_scan(c->t, DRFS_DB_NOW_DIRENTS, k, 9, names_cb, &ns);
	if (e < 0)
		return e;
	l->off = 0;
	l->a = a;
	drfs_buf_reset(&l->tree);
	drfs_tree_enc_init(&l->enc, &l->tree);
	w->depth++;
	return 1;
}

/* The deepest directory is encoded: store its tree, leave it. */
static int commit_dir_end(struct commit *c, struct drfs_stack *w,
			  struct drfs_id *ret_tree, struct agg *ret_agg)
{
	struct commit_level *l = drfs_stack_top(w);
	int e = 0;
	if (l->tree.len == 0)
		e = drfs_buf_u8(&l->tree, 1);
	e = e < 0 ? e : put_tree(c->n, l->tree.p, l->tree.len, ret_tree);
	e = e < 0 ? e : upd_push(c, l->d->ino, ret_tree, &l->a);
	if (e >= 0)
		*ret_agg = l->a;
	drfs_tree_enc_release(&l->enc);
	w->depth--;
	/* a level keeps at most 1 MiB for the next directory at its depth */
	if (l->names.cap > (1u << 20))
		drfs_buf_release(&l->names);
	if (l->tree.cap > (1u << 20))
		drfs_buf_release(&l->tree);
	return e;
}

/*
 * Entry l->d (named l->name) of directory p being encoded; for a
 * directory, with its tree and statistics sub.
 */
static int commit_entry(struct commit *c, struct commit_level *p,
			const struct commit_level *l,
			const struct drfs_id *subtree, const struct agg *sub)
{
	struct drfs_now *n = c->n;
	const struct rec *r = l->d;
	uint64_t ino = r->ino;
	struct agg *a = &p->a;
	struct drfs_node nd;
	struct drfs_buf xbuf;
	struct drfs_xattr *xv = NULL;
	size_t nx = 0;
	struct ext_scan s = { 0 };
	int e = 0;

	drfs_buf_init(&xbuf, 1u << 30);
	node_from_rec(n, &nd, r);
	nd.name = l->name;
	nd.name_len = l->name_len;
	if (S_ISDIR(r->mode)) {
		nd.subtree = *subtree;
		a->files += sub->files;
		a->dirs += sub->dirs;
		a->bytes += sub->bytes;
	} else {
		if (S_ISREG(r->mode)) {
			a->files++;
			a->bytes += r->size;
			e = ext_range(c->t, ino, 0, UINT64_MAX, &s);
		}
	}
	if (e >= 0 && (r->flags & I_DIRTY))
		e = ino_list_push(&c->clean, ino);
	if (e >= 0 && !S_ISDIR(r->mode) && (r->flags & I_DIRTY) &&
	    r->src_ino && r->nlink > 1) {
		uint64_t links = 0;
		e = link_count(c->t, ino, &links);
		if (e >= 0 && links < r->nlink)
			e = ino_list_push(&c->unreached, ino);
	}
	e = e < 0 ? e : load_xattrs(c->t, ino, &xbuf, &xv, &nx);
	e = e < 0 ? e : drfs_tree_enc_add(&p->enc, &nd, xv, nx, s.v, s.n);
	free(xv);
	free(s.v);
	drfs_buf_release(&xbuf);
	return e;
}

/*
 * The tree and statistics of directory root, encoding every directory
 * changed since its tree was stored: depth-first, the path from root to
 * the directory being encoded on the heap, not the C stack (any depth).
 */
static int commit_dir(struct commit *c, const struct rec *root,
		      struct drfs_id *ret_tree, struct agg *ret_agg)
{
	struct drfs_stack w; /* struct commit_level: root .. deepest */
	struct commit_level *l;
	struct drfs_id tree = { 0 };
	struct agg sub = { 0 };
	int e = -ENOMEM;

	drfs_stack_init(&w, sizeof(struct commit_level));
	if ((l = level_next(&w))) {
		*l->d = *root;
		e = commit_dir_begin(c, &w, l, &tree, &sub);
	}
	while (e >= 0 && w.depth) {
		struct commit_level *p = drfs_stack_top(&w);
		if (p->off < p->names.len) {
			size_t len = drfs_get_le16(p->names.p + p->off);
			const uint8_t *nm = p->names.p + p->off + 2;
			uint64_t ino = get_be64(nm + len);
			p->off += 2 + len + 8;
			l = level_next(&w);
			e = l ? rec_get(c->t, ino, l->d) : -ENOMEM;
			if (e < 0)
				break;
			l->name = nm;
			l->name_len = len;
			if (S_ISDIR(l->d->mode)) {
				e = commit_dir_begin(c, &w, l, &tree, &sub);
				if (e != 0)
					continue; /* 1: added once encoded */
			}
		} else {
			e = commit_dir_end(c, &w, &tree, &sub);
			if (e < 0 || !w.depth)
				break;
			l = drfs_stack_at(&w, w.depth); /* just encoded */
			p = drfs_stack_top(&w);
		}
		e = commit_entry(c, p, l, &tree, &sub);
	}
	if (e >= 0) {
		*ret_tree = tree;
		*ret_agg = sub;
	}
	drfs_stack_release(&w, level_release);
	return e < 0 ? e : 0;
}

static int root_meta(struct commit *c, const struct rec *root,
		     const struct drfs_id *tree, struct drfs_id *ret)
{
	struct drfs_node nd;
	struct drfs_buf xbuf, b;
	struct drfs_xattr *xv = NULL;
	size_t nx = 0;
	struct drfs_tree_enc enc;
	node_from_rec(c->n, &nd, root);
	nd.name = (const uint8_t *)"root";
	nd.name_len = 4;
	nd.subtree = *tree;
	drfs_buf_init(&xbuf, 1u << 30);
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &b);
	int e = load_xattrs(c->t, root->ino, &xbuf, &xv, &nx);
	e = e < 0 ? e : drfs_tree_enc_add(&enc, &nd, xv, nx, NULL, 0);
	e = e < 0 ? e : put_tree(c->n, b.p, b.len, ret);
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&b);
	drfs_buf_release(&xbuf);
	free(xv);
	return e;
}

static int snap_tags(struct drfs_snapshot *s,
		     const struct drfs_now_snapshot_opts *o)
{
	size_t used = 0;
	for (size_t i = 0; i < o->n_tags; i++) {
		size_t l = strlen(o->tags[i]);
		if (i >= DRFS_TAGS_MAX || l == 0 || l > DRFS_TAG_MAX ||
		    used + l + 1 > DRFS_TAGS_BUF)
			return -EINVAL;
		memcpy(s->tags + used, o->tags[i], l + 1);
		used += l + 1;
		s->n_tags++;
	}
	return 0;
}

/* Everything under freeze + lock. */
/*
 * Commit now/ into a snapshot; with ret_live, stop once the trees are
 * durable and return the root tree there instead (no snapshot, nothing
 * marked clean). Under freeze (exclusive) and lock.
 */
static int commit_locked(struct drfs_now *n,
			 const struct drfs_now_snapshot_opts *o,
			 char ret_folder[32], struct drfs_id *ret_live)
{
	struct commit c = { .n = n };
	struct drfs_snapshot *snap = calloc(1, sizeof(*snap));
	struct drfs_txn *t = NULL;
	struct ino_list staged = { 0 };
	struct rec root;
	struct drfs_id id;
	struct agg agg = { 0 };
	int e;

	if (!snap)
		return -ENOMEM;
	e = snap_tags(snap, o);
	if (e < 0)
		goto out;
	for (struct ofile *of = n->ofiles; of && e >= 0; of = of->next)
		e = persist_meta(n, of);
	apply_batch(n); /* what the background thread chunked already */
	e = e < 0 ? e : drfs_txn_begin(n->r->index, false, &t);
	e = e < 0 ? e : rec_get(t, DRFS_NOW_ROOT, &root);
	if (e < 0)
		goto out;
	if (o->if_changed && !(root.flags & I_DIRTY)) {
		ret_folder[0] = 0;
		e = 0;
		goto out;
	}
	/* every staged file whose extents are stale gets chunked now */
	e = set_list(t, 'S', &staged);
	drfs_txn_abort(t);
	t = NULL;
	for (size_t i = 0; e >= 0 && i < staged.n; i++) {
		struct drfs_txn *rt;
		struct rec r;
		e = drfs_txn_begin(n->r->index, false, &rt);
		if (e < 0)
			break;
		int g = rec_get(rt, staged.v[i], &r);
		drfs_txn_abort(rt);
		if (g < 0 || !(r.flags & I_STALE) || (r.flags & I_ORPHAN))
			continue;
		e = chunk_now(n, &r);
	}
	if (e < 0)
		goto out;
	for (int pass = 0;; pass++) {
		e = drfs_txn_begin(n->r->index, false, &c.t);
		e = e < 0 ? e : rec_get(c.t, DRFS_NOW_ROOT, &root);
		e = e < 0 ? e : commit_dir(&c, &root, &snap->root, &agg);
		e = e < 0 ? e : root_meta(&c, &root, &snap->root, &snap->meta);
		drfs_txn_abort(c.t);
		c.t = NULL;
		if (e < 0 || !c.unreached.n || pass > 0)
			break;
		/* once more after copying the directories with other links */
		e = materialize_all(n, &c.unreached);
		c.n_upd = c.clean.n = c.unreached.n = 0;
		agg = (struct agg){ 0 };
		if (e < 0)
			break;
	}
	if (e < 0)
		goto out;
	e = make_durable(n);
	if (e < 0)
		goto out;
	if (ret_live) {
		*ret_live = snap->root;
		e = 1;
		goto out;
	}
	struct drfs_writer_stats ws = { 0 };
	pthread_mutex_lock(&n->wlock);
	if (n->w)
		drfs_writer_get_stats(n->w, &ws);
	if (ws.blobs_new >= n->snap_stats.blobs_new &&
	    ws.bytes_stored >= n->snap_stats.bytes_stored) {
		snap->added_blobs = ws.blobs_new - n->snap_stats.blobs_new;
		snap->added_bytes = ws.bytes_stored -
				    n->snap_stats.bytes_stored;
	}
	n->snap_stats = ws;
	pthread_mutex_unlock(&n->wlock);
	if (o->time.tv_sec || o->time.tv_nsec)
		snap->time = o->time;
	else
		now_ts(&snap->time);
	memcpy(snap->host, n->host, sizeof(snap->host));
	memcpy(snap->path, n->path, sizeof(snap->path));
	snap->parent = n->st.last;
	snap->files = agg.files;
	snap->dirs = agg.dirs;
	snap->bytes = agg.bytes;
	e = drfs_repo_snapshot_write(n->r, snap, &id);
	if (e < 0)
		goto out;
	struct state s = n->st;
	memcpy(s.last_folder, snap->name, sizeof(s.last_folder));
	s.last = id;
	s.last_time = snap->time;

	/* the new trees and clean flags, in one transaction */
	e = drfs_txn_begin(n->r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < c.n_upd; i++) {
		struct rec r;
		e = rec_get(t, c.upd[i].ino, &r);
		if (e < 0)
			break;
		r.tree = c.upd[i].tree;
		r.agg_files = c.upd[i].agg.files;
		r.agg_dirs = c.upd[i].agg.dirs;
		r.agg_bytes = c.upd[i].agg.bytes;
		r.flags = (r.flags & ~I_DIRTY) | I_AGG;
		e = rec_put(t, &r);
	}
	for (size_t i = 0; e >= 0 && i < c.clean.n; i++) {
		struct rec r;
		if (rec_get(t, c.clean.v[i], &r) < 0)
			continue;
		r.flags &= ~I_DIRTY;
		e = rec_put(t, &r);
	}
	if (e >= 0) {
		/* the root's own attributes may have changed alone */
		struct rec r;
		e = rec_get(t, DRFS_NOW_ROOT, &r);
		r.flags &= ~I_DIRTY;
		e = e < 0 ? e : rec_put(t, &r);
	}
	e = e < 0 ? e : state_put(t, &s);
	if (e >= 0) {
		uint8_t k[1 + DRFS_ID_LEN] = { 'K' };
		memcpy(k + 1, id.b, DRFS_ID_LEN);
		e = drfs_kv_put(t, DRFS_DB_NOW_META, k, sizeof(k), "", 0);
	}
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e < 0)
		goto out;
	n->st = s;
	unlinks_flush(n); /* the new state on disk (best effort) */
	for (struct ofile *of = n->ofiles; of; of = of->next)
		of->marked = false;
	memcpy(ret_folder, s.last_folder, 32);
	n->last_snap_mono = drfs_now_mono();
	e = 1;
out:
	drfs_txn_abort(t);
	drfs_txn_abort(c.t);
	free(c.upd);
	free(c.clean.v);
	free(c.unreached.v);
	free(staged.v);
	free(snap);
	return e;
}

int drfs_now_snapshot(struct drfs_now *n,
		      const struct drfs_now_snapshot_opts *o,
		      char ret_folder[32])
{
	pthread_rwlock_wrlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	if (n->chunking)
		n->chunk_abort = true;
	int e = commit_locked(n, o, ret_folder, NULL);
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	return e;
}

int drfs_now_with_live_tree(struct drfs_now *n,
			    int (*fn)(void *ud, const struct drfs_id *root),
			    void *ud)
{
	struct drfs_now_snapshot_opts so = { 0 };
	struct drfs_id root;
	char folder[32];

	pthread_rwlock_wrlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	if (n->chunking)
		n->chunk_abort = true;
	int e = commit_locked(n, &so, folder, &root);
	/* lock order: freeze, lock, wlock; wlock alone is kept for fn */
	if (e >= 0)
		pthread_mutex_lock(&n->wlock);
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	if (e < 0)
		return e;
	e = fn(ud, &root);
	pthread_mutex_unlock(&n->wlock);
	return e;
}

int drfs_now_sync(struct drfs_now *n)
{
	pthread_mutex_lock(&n->lock);
	int e = make_durable(n);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int drfs_now_status(struct drfs_now *n, struct drfs_now_status *ret)
{
	struct drfs_txn *t;
	struct ino_list staged = { 0 };
	struct rec r;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&n->lock);
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = rec_get(t, DRFS_NOW_ROOT, &r);
		ret->changed = e >= 0 && (r.flags & I_DIRTY);
		e = e < 0 ? e : set_list(t, 'S', &staged);
		for (size_t i = 0; e >= 0 && i < staged.n; i++) {
			if (rec_get(t, staged.v[i], &r) < 0)
				continue;
			ret->staged_files++;
			ret->staged_bytes += r.size;
			if (mem_find(n, staged.v[i])) {
				ret->mem_files++;
				ret->mem_bytes += r.size;
			}
		}
		drfs_kv_count(t, DRFS_DB_NOW_INODES, &ret->inodes);
		drfs_txn_abort(t);
	}
	ret->last_snapshot = drfs_id_is_zero(&n->st.last)
				     ? (struct timespec){ 0 }
				     : n->st.last_time;
	memcpy(ret->last_folder, n->st.last_folder, 32);
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_lock(&n->wlock);
	ret->pending_blobs = n->pend_blobs;
	ret->pending_bytes = n->pend_bytes;
	pthread_mutex_unlock(&n->wlock);
	free(staged.v);
	return e < 0 ? e : 0;
}

/* ---- background work --------------------------------------------------- */

#define FULL_SCAN_EVERY 5.0 /* seconds between scans of every staged file */

/* Whether ino is an idle staged file whose extents are stale. */
static bool stale_idle(struct drfs_now *n, struct drfs_txn *t, uint64_t ino,
		       struct rec *r)
{
	return !ofile_find(n, ino) && rec_get(t, ino, r) >= 0 &&
	       (r->flags & I_STALE) && !(r->flags & I_ORPHAN);
}

/*
 * An idle staged file whose extents are stale. Files closed since the last
 * call come first (stale_q); the whole staged set is scanned only every
 * FULL_SCAN_EVERY seconds (it may hold thousands of files while a copy
 * runs: scanning it for every file would be quadratic, under n->lock).
 * Under n->lock.
 */
static int pick_stale(struct drfs_now *n, uint64_t *ret_ino, uint64_t *ret_gen)
{
	struct drfs_txn *t;
	struct ino_list staged = { 0 };
	struct rec r;
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e < 0)
		return e;
	int found = 0;
	while (n->stale_q.n && !found) {
		uint64_t ino = n->stale_q.v[--n->stale_q.n];
		found = stale_idle(n, t, ino, &r);
	}
	if (!found && drfs_now_mono() - n->full_scan >= FULL_SCAN_EVERY) {
		e = set_list(t, 'S', &staged);
		for (size_t i = 0; e >= 0 && i < staged.n; i++) {
			if (stale_idle(n, t, staged.v[i], &r) &&
			    ino_list_push(&n->stale_q, staged.v[i]) < 0)
				break;
		}
		if (e >= 0)
			n->full_scan = drfs_now_mono();
		while (n->stale_q.n && !found) {
			uint64_t ino = n->stale_q.v[--n->stale_q.n];
			found = stale_idle(n, t, ino, &r);
		}
	}
	if (found) {
		*ret_ino = r.ino;
		*ret_gen = r.gen;
	}
	drfs_txn_abort(t);
	free(staged.v);
	return e < 0 ? e : found;
}

static void *bg_main(void *arg)
{
	struct drfs_now *n = arg;
	struct chunked batch[APPLY_BATCH];
	double idle_since = drfs_now_mono();
	pthread_mutex_lock(&n->lock);
	n->batch = batch;
	while (!n->bg_quit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&n->bg_cond, &n->lock, &ts);
		if (n->bg_quit)
			break;
		if (n->o.snapshot_every > 0 &&
		    drfs_now_mono() - n->last_snap_mono >=
			    n->o.snapshot_every) {
			struct drfs_now_snapshot_opts so = { 0 };
			so.if_changed = true;
			char folder[32];
			n->last_snap_mono = drfs_now_mono();
			pthread_mutex_unlock(&n->lock);
			int e = drfs_now_snapshot(n, &so, folder);
			if (n->o.on_snapshot)
				n->o.on_snapshot(n->o.on_snapshot_data, e,
						 e > 0 ? folder : "");
			pthread_mutex_lock(&n->lock);
			continue;
		}
		uint64_t ino = 0, gen = 0;
		while (!n->bg_quit && pick_stale(n, &ino, &gen) > 0) {
			struct drfs_extent_vec x = { 0 };
			uint64_t size;
			if (in_batch(n, ino))
				continue; /* chunked, waiting to be recorded */
			n->chunking = ino;
			n->chunk_abort = false;
			int fd = staging_open(n, ino, O_RDONLY, NULL);
			pthread_mutex_unlock(&n->lock);
			int e = fd < 0 ? -errno
				       : chunk_fd(n, fd, &x, &size,
						  &n->chunk_abort);
			if (fd >= 0)
				close(fd);
			pthread_mutex_lock(&n->wlock);
			uint64_t epoch = n->flush_epoch;
			pthread_mutex_unlock(&n->wlock);
			pthread_mutex_lock(&n->lock);
			bool aborted = n->chunk_abort || e < 0;
			if (!aborted) {
				n->batch[n->nbatch++] = (struct chunked){
					ino, gen, size, epoch, x };
				x = (struct drfs_extent_vec){ 0 };
			}
			n->chunking = 0;
			free(x.v);
			idle_since = drfs_now_mono();
			if (n->nbatch == APPLY_BATCH)
				apply_batch(n);
			if (aborted)
				break; /* let the writer or commit go first */
		}
		apply_batch(n);
		pthread_mutex_lock(&n->wlock);
		uint64_t pend = n->pend_bytes;
		pthread_mutex_unlock(&n->wlock);
		bool full = n->o.cache_size &&
			    n->staged_bytes > n->o.cache_size / 2;
		/* memory staging half full: flush, so that it can be freed */
		full = full || (n->mem && (n->mem_n >= n->mem_max / 2 ||
					   n->mem_bytes >= MEM_BYTES_MAX / 2));
		if ((pend && (pend >= SYNC_PENDING_BYTES ||
			      drfs_now_mono() - idle_since >= 5)) ||
		    (full && !n->space_stuck)) {
			make_durable(n);
			idle_since = drfs_now_mono();
		}
	}
	n->batch = NULL; /* empty: every pass ends with apply_batch */
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

/* ---- open and free ------------------------------------------------------- */

/* Chunk every memfd-staged file whose extents are stale. Under n->lock. */
static void mem_drain(struct drfs_now *n)
{
	struct ino_list l = { 0 };
	for (size_t i = 0; n->mem && i < MEM_SLOTS; i++)
		if (n->mem[i].ino && ino_list_push(&l, n->mem[i].ino) < 0)
			break;
	for (size_t i = 0; n->w && i < l.n; i++) {
		struct drfs_txn *t;
		struct rec r;
		if (drfs_txn_begin(n->r->index, false, &t) < 0)
			break;
		int g = rec_get(t, l.v[i], &r);
		drfs_txn_abort(t);
		if (g >= 0 && (r.flags & I_STAGED) && (r.flags & I_STALE) &&
		    !(r.flags & I_ORPHAN))
			chunk_now(n, &r);
	}
	free(l.v);
}

/*
 * What is still in memory after the last flush (it failed, or the file is
 * still open) goes to staging files, fsync'd, for the next mount. Returns
 * how many files could not be written there (they are lost). Under
 * n->lock.
 */
static size_t mem_spill_all(struct drfs_now *n)
{
	size_t failed = 0;
	for (size_t i = 0; n->mem && i < MEM_SLOTS;) {
		uint64_t ino = n->mem[i].ino;
		if (ino && spill(n, ino, ofile_find(n, ino), true) < 0) {
			failed++;
			mem_remove(n, ino);
		}
		/* a removal may have shifted another entry into slot i */
		if (!n->mem[i].ino || n->mem[i].ino == ino)
			i++;
	}
	return failed;
}

static bool in_lineage(const struct drfs_now *n, const struct drfs_snapshot *s)
{
	return strcmp(s->host, n->host) == 0 && strcmp(s->path, n->path) == 0;
}

/*
 * Whether NOW_META has the key tag | id: 'K' snapshot id was seen by now/
 * already, 'F' now/ was started from it by --from (it counts as now/'s
 * lineage until a snapshot of its own is taken).
 */
static bool meta_has(struct drfs_now *n, char tag, const struct drfs_id *id)
{
	struct drfs_txn *t;
	uint8_t k[1 + DRFS_ID_LEN] = { (uint8_t)tag };
	memcpy(k + 1, id->b, DRFS_ID_LEN);
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e >= 0) {
		e = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, k, sizeof(k), NULL,
				      0);
		drfs_txn_abort(t);
	}
	return e != -ENOENT;
}

/* Whether snapshot id is gone without a forget record (docs/rollback.md). */
static bool vanished(struct drfs_now *n, const struct drfs_id *id)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_id v;
	return drfs_repo_vanished_find(n->r, drfs_id_hex(id, hex), &v) == 0;
}

/* Whether now/'s last snapshot si is of its lineage, or its --from one. */
static bool ours(struct drfs_now *n, const struct drfs_snap_info *si)
{
	return in_lineage(n, &si->snap) || meta_has(n, 'F', &si->id);
}

static int load_or_reset(struct drfs_now *n)
{
	struct drfs_txn *t;
	struct drfs_snap_info *all = NULL;
	size_t n_all = 0;
	struct rec root;
	int e = drfs_txn_begin(n->r->index, false, &t);
	if (e < 0)
		return e;
	e = state_get(t, &n->st);
	if (e >= 0)
		e = rec_get(t, DRFS_NOW_ROOT, &root);
	drfs_txn_abort(t);
	if (e < 0 && e != -ENOENT)
		return e;
	bool fresh = e == -ENOENT;
	int se = drfs_repo_snapshots(n->r, &all, &n_all);
	if (se < 0)
		return se;
	/* the head of now/'s lineage, the --from snapshot, now/'s last one */
	const struct drfs_snap_info *head = NULL, *from = NULL, *last = NULL;
	for (size_t i = n_all; i-- > 0;) {
		if (!head && in_lineage(n, &all[i].snap))
			head = &all[i];
		if (n->o.from && drfs_id_eq(&all[i].id, n->o.from))
			from = &all[i];
		if (!fresh && drfs_id_eq(&all[i].id, &n->st.last))
			last = &all[i];
	}
	if (n->o.from && !from) {
		e = -ENOENT;
	} else if (fresh) {
		e = reset_state(n, from ? from : head);
	} else if (from && (root.flags & I_DIRTY)) {
		if (!drfs_id_eq(&from->id, &n->st.last)) {
			log_err("now/ has changes that no snapshot holds yet: "
				"mount without --from (or snapshot them "
				"first) rather than drop them");
			e = -EBUSY;
		}
	} else if (from) {
		if (!drfs_id_eq(&from->id, &n->st.last))
			e = reset_state(n, from);
	} else if (root.flags & I_DIRTY) {
		/* changes no snapshot holds: they stay */
	} else if (!last && !drfs_id_is_zero(&n->st.last) &&
		   !vanished(n, &n->st.last)) {
		/*
		 * clean, and its last snapshot was forgotten since: a prune
		 * may have deleted the data of its tree, which a snapshot of
		 * now/ would then name. Start over from the lineage's newest,
		 * or empty. (One gone without a forget record, a rollback,
		 * leaves now/ as it is: it may be the only copy of that tree.)
		 */
		e = reset_state(n, head);
	} else if (head && !drfs_id_eq(&head->id, &n->st.last) &&
		   ((last && !ours(n, last)) || !meta_has(n, 'K', &head->id))) {
		/* clean: follow a newer snapshot of the lineage (made
		 * through another cache), or leave another lineage's */
		e = reset_state(n, head);
	} else if (!head && last && !ours(n, last)) {
		e = reset_state(n, NULL);
	}
	/* remember every snapshot seen, so only new ones are followed, and
	 * the one --from started now/ from ('F' after the 'K's) */
	if (e >= 0 && n_all)
		e = drfs_txn_begin(n->r->index, true, &t);
	for (size_t i = 0; e >= 0 && n_all && i <= n_all + 1; i++) {
		if (i == n_all + 1) {
			e = now_commit(n, t);
			break;
		}
		if (i == n_all && !from)
			continue;
		const struct drfs_snap_info *si = i < n_all ? &all[i] : from;
		uint8_t k[1 + DRFS_ID_LEN] = { i < n_all ? 'K' : 'F' };
		memcpy(k + 1, si->id.b, DRFS_ID_LEN);
		e = drfs_kv_put(t, DRFS_DB_NOW_META, k, sizeof(k), "", 0);
		if (e < 0)
			drfs_txn_abort(t);
	}
	free(all);
	return e;
}

/*
 * The memfd table. Each memfd-staged file holds a descriptor, so its size
 * follows RLIMIT_NOFILE (raised to the hard limit): at most a quarter of
 * it. Without the table every file is staged on disk.
 */
static void mem_init(struct drfs_now *n)
{
	struct rlimit rl;
	if (n->o.no_mem_staging || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	n->mem_max = MIN((size_t)MEM_FILES_MAX, (size_t)(rl.rlim_cur / 4));
	if (n->mem_max < 64)
		return;
	n->mem = calloc(MEM_SLOTS, sizeof(*n->mem));
}

int drfs_now_open(struct drfs_repo *r, const struct drfs_now_opts *o,
		  struct drfs_now **ret)
{
	struct drfs_now *n = calloc(1, sizeof(*n));
	int e;
	if (!n)
		return -ENOMEM;
	n->r = r;
	if (o)
		n->o = *o;
	if (n->o.host)
		snprintf(n->host, sizeof(n->host), "%s", n->o.host);
	else
		drfs_hostname(n->host, sizeof(n->host));
	snprintf(n->path, sizeof(n->path), "%s",
		 n->o.path ? n->o.path : "now");
	if (asprintf(&n->staging, "%s/staging", r->cache_dir) < 0) {
		free(n);
		return -ENOMEM;
	}
	if (mkdir(n->staging, 0700) < 0 && errno != EEXIST) {
		e = -errno;
		free(n->staging);
		free(n);
		return e;
	}
	mem_init(n);
	pthread_rwlock_init(&n->freeze, NULL);
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->wlock, NULL);
	pthread_cond_init(&n->bg_cond, NULL);
	pthread_mutex_init(&n->synclock, NULL);
	pthread_cond_init(&n->syncer_cond, NULL);
	e = drfs_index_set_nosync(r->index, true);
	e = e < 0 ? e : load_or_reset(n);
	n->o.from = NULL; /* the caller's, valid during open only */
	e = e < 0 ? e : recover(n);
	e = e < 0 ? e : drfs_writer_new(r, &n->w);
	if (e >= 0) {
		n->last_snap_mono = drfs_now_mono();
		e = -pthread_create(&n->bg, NULL, bg_main, n);
		n->bg_started = e == 0;
	}
	if (e >= 0) {
		e = -pthread_create(&n->syncer, NULL, syncer_main, n);
		n->syncer_started = e == 0;
	}
	if (e < 0) {
		drfs_now_free(n);
		return e;
	}
	*ret = n;
	return 0;
}

int drfs_now_stop(struct drfs_now *n)
{
	if (n->stopped)
		return n->stop_result;
	if (n->bg_started) {
		pthread_mutex_lock(&n->lock);
		n->bg_quit = true;
		n->chunk_abort = true;
		pthread_cond_broadcast(&n->bg_cond);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->bg, NULL);
		n->bg_started = false;
	}
	if (n->syncer_started) {
		pthread_mutex_lock(&n->lock);
		n->syncer_quit = true;
		pthread_cond_broadcast(&n->syncer_cond);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->syncer, NULL);
		n->syncer_started = false;
	}
	pthread_mutex_lock(&n->lock);
	mem_drain(n);
	int e = n->w ? make_durable(n) : -EIO;
	size_t lost = mem_spill_all(n);
	int e2 = unlinks_flush(n);
	pthread_mutex_unlock(&n->lock);
	if (lost) {
		drfs_repo_set_last_error(
			"%zu file%s staged in memory could not be written to "
			"\"%s\" and %s lost", lost, lost == 1 ? "" : "s",
			n->staging, lost == 1 ? "is" : "are");
		e = -EIO;
	}
	n->stopped = true;
	n->stop_result = e < 0 ? e : e2 < 0 ? e2 : 0;
	return n->stop_result;
}

void drfs_now_free(struct drfs_now *n)
{
	if (!n)
		return;
	drfs_now_stop(n);
	drfs_index_set_nosync(n->r->index, false);
	drfs_writer_free(n->w);
	while (n->ofiles) {
		struct ofile *of = n->ofiles;
		n->ofiles = of->next;
		if (of->fd >= 0)
			close(of->fd);
		free(of);
	}
	pthread_rwlock_destroy(&n->freeze);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->wlock);
	pthread_cond_destroy(&n->bg_cond);
	pthread_mutex_destroy(&n->synclock);
	pthread_cond_destroy(&n->syncer_cond);
	mem_clear(n);
	free(n->mem);
	free(n->unl.v);
	free(n->stale_q.v);
	free(n->staging);
	free(n);
}
