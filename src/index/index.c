/* SPDX-License-Identifier: MIT */
/*
 * index.c - the local LMDB environment. See index.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "drfs/index.h"
#include "drfs/testhook.h"

#define MAP_SIZE (256ull << 30) /* sparse; grows only as used */
#define MAX_READERS 1022
/*
 * Disk space kept allocated past the end of data.mdb (fallocate
 * KEEP_SIZE): when staging files fill the cache directory's disk, commits
 * (unlink, rename, a snapshot) still find room, so the space can be freed.
 */
#define RESERVE (16ull << 20)
/*
 * With MDB_WRITEMAP a transaction writes its new pages through the map,
 * and a page the file system cannot allocate is a SIGBUS, not ENOSPC: the
 * reserve is larger (a transaction may add up to half of it), and falls
 * back to RESERVE when that much is not free.
 */
#define WRITEMAP_RESERVE (64ull << 20)
/*
 * The size LMDB gives lock.mdb for MAX_READERS (1021 more 64-byte reader
 * slots after a 192-byte header; checked: 65536 on x86-64 glibc). LMDB
 * derives the reader count of an existing lock file from its size, so it
 * must be exactly this: every process then sees the same table.
 */
#define LOCK_FILE_BYTES ((MAX_READERS - 1) * 64u + 192u)
/*
 * Ended read transactions kept reset (mdb_txn_reset: the reader slot
 * stays ours, no snapshot is pinned) for the next drfs_txn_begin to renew:
 * with MDB_NOTLS, mdb_txn_begin takes the lock file's reader mutex to find
 * a slot and mdb_txn_abort gives it back, on every read. At most this
 * many, i.e. about the FUSE loop's threads and the daemon's own.
 */
#define READ_POOL 32

static const char *const db_names[DRFS__DB_COUNT] = {
	[DRFS_DB_BLOBS] = "blobs",     [DRFS_DB_PACKS] = "packs",
	[DRFS_DB_PACKSEQ] = "packseq", [DRFS_DB_SNAPS] = "snaps",
	[DRFS_DB_SEEN] = "seen",       [DRFS_DB_META] = "meta",
	[DRFS_DB_TREES] = "trees",     [DRFS_DB_INODES] = "inodes",
	[DRFS_DB_DIRENTS] = "dirents", [DRFS_DB_AUX1] = "aux1",
	[DRFS_DB_AUX2] = "aux2",       [DRFS_DB_NOW_INODES] = "now_inodes",
	[DRFS_DB_NOW_DIRENTS] = "now_dirents",
	[DRFS_DB_NOW_XATTRS] = "now_xattrs",
	[DRFS_DB_NOW_EXTENTS] = "now_extents",
	[DRFS_DB_NOW_META] = "now_meta",
	[DRFS_DB_TREEBLOBS] = "treeblobs",
	[DRFS_DB_FS_RECS] = "fs_recs",
	[DRFS_DB_FS_EXTENTS] = "fs_extents",
	[DRFS_DB_FS_ORDER] = "fs_order",
	[DRFS_DB_SNAP_HISTORY] = "snap_history",
	[DRFS_DB_FORGOTTEN] = "forgotten",
	[DRFS_DB_RECORDS] = "records",
	[DRFS_DB_DELETIONS] = "deletions",
	[DRFS_DB_DOOMED] = "doomed",
	[DRFS_DB_ALTLOCS] = "altlocs",
	[DRFS_DB_VERIFIED] = "verified",
	[DRFS_DB_BADBLOBS] = "badblobs",
};

/*
 * Group commit (index.h): the group is one LMDB write transaction, begun
 * and committed by the writer thread (LMDB's write lock belongs to the
 * thread that took it) and used meanwhile by one thread at a time (owner)
 * for the group transactions of drfs_txn_begin_group. Each of them writes
 * one record to the log before it returns; the records of the open group
 * carry its number gen, which its commit stores in the meta database
 * (GROUP_KEY) in the same transaction, so a replay applies only the
 * records of the group after the last one committed.
 */
#define GROUP_SEC 0.01                  /* a group lives at most this */
#define GROUP_LOG_SIZE (8ull << 20)     /* the log, allocated at start */
#define GROUP_LOG_COMMIT (4ull << 20)   /* commit once the log holds this */
#define GROUP_LOG_MAX (1ull << 30)      /* a longer log is not replayed */
#define GROUP_KEY "group_gen"
/*
 * The log starts with a header naming its format: GLOG_FILE_MAGIC, le32
 * GLOG_VERSION, le32 DRFS__DB_COUNT and le64 the hash of the database
 * names in the order of enum drfs_db (records name databases by number,
 * so a log of another numbering must not be replayed). A log of another
 * header is refused (-EPROTO), never replayed nor overwritten: the
 * replies to its operations were sent. Bump GLOG_VERSION when the record
 * layout changes; a change of enum drfs_db changes the hash by itself.
 */
#define GLOG_FILE_MAGIC "DRFSNLOG"
#define GLOG_VERSION 1
#define GLOG_FILE_HDR 24
#define GLOG_MAGIC 0x4c475244u /* "DRGL" */
#define GLOG_HDR 24            /* magic, payload length, gen, hash */
#define GLOG_OP 8              /* op, db, le16 key length, le32 value length */

struct group {
	bool on;
	pthread_mutex_t m;
	pthread_cond_t cond;  /* waiters: begun, committed, released */
	pthread_cond_t wcond; /* the writer thread */
	pthread_t thr;
	bool quit;
	MDB_txn *txn;    /* the open group (or NULL) */
	bool owned;      /* a thread uses txn (the writer thread to commit) */
	pthread_t owner;
	int depth;       /* the owner's group transactions */
	int direct;      /* other write transactions running or waiting */
	bool wwait;      /* the writer thread waits for the owner */
	struct drfs_txn *spare; /* an ended group transaction, for the next */
	bool want_begin, want_commit, want_rollback;
	int begin_err;   /* the last failed begin (for its waiters) */
	int commit_err;  /* the last commit's result */
	uint64_t commits; /* commit attempts (flush waits for one) */
	double first;    /* drfs_now_mono() of the group's first record */
	double sec;      /* a group lives at most this (GROUP_SEC) */
	double retry;    /* after a failed commit: not before this */
	uint64_t gen;    /* the open group's number */
	int fd;          /* the log */
	uint64_t pos;    /* bytes of records of group gen in the log */
};

struct drfs_index {
	MDB_env *env;
	struct group g;
	MDB_dbi dbi[DRFS__DB_COUNT];
	_Atomic uint64_t reserved_end; /* data.mdb bytes known allocated */
	bool writemap;                 /* DRFS_INDEX_WRITEMAP */
	pthread_mutex_t pool_lock;
	struct drfs_txn *pool[READ_POOL]; /* (pool_lock) reset read txns */
	int npool;                        /* (pool_lock) */
};

struct drfs_txn {
	struct drfs_index *idx;
	MDB_txn *txn;
	bool rdonly;
	bool grouped;   /* txn is the group's */
	bool direct;    /* a write transaction counted in g.direct */
	bool broken;    /* grouped: a write failed half way */
	struct drfs_buf j; /* grouped writes: the record (header first) */
};

/* The one translation of LMDB result codes. */
static int lmdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EBADMSG;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/*
 * LMDB sizes lock.mdb with ftruncate and then writes it through a shared
 * mapping: on a full disk the first store into a hole is a SIGBUS, not an
 * error. Allocate the file's blocks first, so a full disk is -ENOSPC.
 */
static int prealloc_lock_file(const char *dir)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s/lock.mdb", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int e = posix_fallocate(fd, 0, LOCK_FILE_BYTES);
	close(fd);
	/* file systems without fallocate keep LMDB's own behaviour */
	return e == ENOSPC || e == EDQUOT ? -ENOSPC : 0;
}

/*
 * Keep RESERVE bytes allocated past the last page LMDB uses. Cheap when
 * nothing is due (mdb_env_info reads the meta page, no system call).
 */
static void reserve(struct drfs_index *idx)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_filehandle_t fd;
	if (mdb_env_info(idx->env, &info) || mdb_env_stat(idx->env, &st) ||
	    mdb_env_get_fd(idx->env, &fd))
		return;
	uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	uint64_t want = idx->writemap ? WRITEMAP_RESERVE : RESERVE;
	if (used + want / 2 <= atomic_load(&idx->reserved_end))
		return;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)used, (off_t)want) != 0) {
		want = RESERVE;
		if (!idx->writemap || used + want / 2 <=
					      atomic_load(&idx->reserved_end) ||
		    fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)used,
			      (off_t)want) != 0)
			return;
	}
	atomic_store(&idx->reserved_end, used + want);
}

int drfs_index_open(const char *dir, struct drfs_index **ret)
{
	return drfs_index_open_flags(dir, 0, ret);
}

/* Create and open idx->env in dir (MDB_WRITEMAP if idx->writemap). */
static int env_open(struct drfs_index *idx, const char *dir)
{
	int rc = mdb_env_create(&idx->env);
	if (rc) {
		idx->env = NULL;
		return lmdb_err(rc);
	}
	mdb_env_set_mapsize(idx->env, MAP_SIZE);
	mdb_env_set_maxdbs(idx->env, DRFS__DB_COUNT + 4);
	mdb_env_set_maxreaders(idx->env, MAX_READERS);
	int e = prealloc_lock_file(dir);
	if (e >= 0)
		e = lmdb_err(mdb_env_open(idx->env, dir,
					  MDB_NOTLS | MDB_NORDAHEAD |
						  (idx->writemap ? MDB_WRITEMAP
								 : 0),
					  0600));
	if (e < 0) {
		mdb_env_close(idx->env);
		idx->env = NULL;
	}
	return e;
}

int drfs_index_open_flags(const char *dir, unsigned flags,
			  struct drfs_index **ret)
{
	struct drfs_index *idx;
	MDB_txn *txn = NULL;
	int rc, dead;

	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	pthread_mutex_init(&idx->pool_lock, NULL);
	idx->writemap = flags & DRFS_INDEX_WRITEMAP;
	int e = env_open(idx, dir);
	if (e < 0 && idx->writemap) {
		/* e.g. a file system that cannot hold data.mdb's sparse
		 * MAP_SIZE (MDB_WRITEMAP ftruncates it to that): pwrite */
		idx->writemap = false;
		e = env_open(idx, dir);
	}
	if (e >= 0)
		reserve(idx); /* before the first write, for MDB_WRITEMAP */
	if (e >= 0 && idx->writemap && !atomic_load(&idx->reserved_end)) {
		/* no reserve (disk full, no fallocate): pwrite's ENOSPC */
		mdb_env_close(idx->env);
		idx->writemap = false;
		e = env_open(idx, dir);
	}
	if (e < 0) {
		pthread_mutex_destroy(&idx->pool_lock);
		free(idx);
		return e;
	}
	mdb_reader_check(idx->env, &dead);
	rc = mdb_txn_begin(idx->env, NULL, 0, &txn);
	if (rc)
		goto fail;
	for (int i = 0; i < DRFS__DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &idx->dbi[i]);
		if (rc)
			goto fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto fail;
	reserve(idx);
	*ret = idx;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(idx->env);
	pthread_mutex_destroy(&idx->pool_lock);
	free(idx);
	return lmdb_err(rc);
}

void drfs_index_free(struct drfs_index *idx)
{
	if (!idx)
		return;
	drfs_index_group_stop(idx);
	for (int i = 0; i < idx->npool; i++) {
		mdb_txn_abort(idx->pool[i]->txn);
		free(idx->pool[i]);
	}
	pthread_mutex_destroy(&idx->pool_lock);
	mdb_env_close(idx->env);
	free(idx);
}

/*
 * An ordinary write transaction (drfs_txn_begin), not a bare
 * mdb_txn_begin: with group commit started it first waits until the open
 * group is committed and keeps a new one from beginning until it ends
 * (group_direct_begin), so no record of an uncommitted group is older
 * than the clear, and a thread holding a group transaction gets -EDEADLK
 * instead of blocking on LMDB's write lock.
 */
int drfs_index_clear(struct drfs_index *idx)
{
	static const enum drfs_db derived[] = { DRFS_DB_BLOBS, DRFS_DB_PACKS,
						DRFS_DB_PACKSEQ, DRFS_DB_SNAPS,
						DRFS_DB_SEEN, DRFS_DB_TREES,
						DRFS_DB_TREEBLOBS,
						DRFS_DB_DELETIONS,
						DRFS_DB_DOOMED,
						DRFS_DB_ALTLOCS };
	struct drfs_txn *t;
	int e = drfs_txn_begin(idx, true, &t);
	if (e < 0)
		return e;
	for (size_t i = 0; i < ARRAY_SIZE(derived); i++) {
		e = drfs_kv_drop(t, derived[i]);
		if (e < 0) {
			drfs_txn_abort(t);
			return e;
		}
	}
	MDB_val k = { .mv_size = 13, .mv_data = "next_pack_seq" };
	mdb_del(t->txn, idx->dbi[DRFS_DB_META], &k, NULL);
	return drfs_txn_commit(t);
}

static int glog_add(struct drfs_txn *t, char op, enum drfs_db db,
		    const MDB_val *k, const MDB_val *v);

/* A write of t failed: a group transaction must not be kept. */
static int wfail(struct drfs_txn *t, int rc)
{
	if (rc && rc != MDB_NOTFOUND)
		t->broken = true;
	return lmdb_err(rc);
}

int drfs_kv_drop(struct drfs_txn *t, enum drfs_db db)
{
	int rc = mdb_drop(t->txn, t->idx->dbi[db], 0);
	return rc ? wfail(t, rc) : glog_add(t, 'X', db, NULL, NULL);
}

int drfs_index_set_nosync(struct drfs_index *idx, bool on)
{
	return lmdb_err(mdb_env_set_flags(idx->env, MDB_NOSYNC, on ? 1 : 0));
}

int drfs_index_sync(struct drfs_index *idx)
{
	int e = drfs_index_group_flush(idx);
	if (e < 0)
		return e;
	return lmdb_err(mdb_env_sync(idx->env, 1));
}

/* A pooled read transaction renewed, or NULL. */
static struct drfs_txn *read_renew(struct drfs_index *idx)
{
	struct drfs_txn *t = NULL;
	pthread_mutex_lock(&idx->pool_lock);
	if (idx->npool > 0)
		t = idx->pool[--idx->npool];
	pthread_mutex_unlock(&idx->pool_lock);
	if (t && mdb_txn_renew(t->txn) != 0) {
		mdb_txn_abort(t->txn);
		free(t);
		t = NULL;
	}
	return t;
}

/* End read transaction t: reset into the pool, or aborted if it is full. */
static void read_end(struct drfs_txn *t)
{
	struct drfs_index *idx = t->idx;
	mdb_txn_reset(t->txn);
	pthread_mutex_lock(&idx->pool_lock);
	if (idx->npool < READ_POOL) {
		idx->pool[idx->npool++] = t;
		t = NULL;
	}
	pthread_mutex_unlock(&idx->pool_lock);
	if (t) {
		mdb_txn_abort(t->txn);
		free(t);
	}
}

/*
 * The file system of idx has no room left (below 1 MiB for us). LMDB
 * turns a pwrite that wrote less than asked, which is what a full disk
 * does to a commit's run of pages, into EIO: that EIO is ENOSPC.
 */
static bool disk_full(struct drfs_index *idx)
{
	struct statvfs sv;
	int fd;
	if (mdb_env_get_fd(idx->env, &fd) || fstatvfs(fd, &sv) < 0)
		return false;
	return (uint64_t)sv.f_bavail * sv.f_frsize < (1u << 20);
}

/* ---- group commit --------------------------------------------------- */

static uint64_t glog_hash(uint64_t h, const uint8_t *p, size_t n)
{
	/* FNV-1a 64: catches torn and stale bytes, not an adversary */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t glog_frame_hash(const uint8_t *hdr, const uint8_t *payload,
				size_t plen)
{
	uint64_t h = glog_hash(0xcbf29ce484222325ull, hdr, 16);
	return glog_hash(h, payload, plen);
}

/* The header a log of this format starts with. */
static void glog_file_hdr(uint8_t h[GLOG_FILE_HDR])
{
	uint64_t names = 0xcbf29ce484222325ull;
	for (int i = 0; i < DRFS__DB_COUNT; i++)
		names = glog_hash(names, (const uint8_t *)db_names[i],
				  strlen(db_names[i]) + 1);
	memcpy(h, GLOG_FILE_MAGIC, 8);
	drfs_put_le32(h + 8, GLOG_VERSION);
	drfs_put_le32(h + 12, DRFS__DB_COUNT);
	drfs_put_le64(h + 16, names);
}

/* Check the operations of one record's payload; call cb if it is given. */
static int glog_ops(const uint8_t *p, size_t n, drfs_glog_fn cb, void *ud)
{
	size_t o = 0;
	while (o < n) {
		if (n - o < GLOG_OP)
			return -EBADMSG;
		char op = (char)p[o];
		unsigned db = p[o + 1];
		size_t kl = drfs_get_le16(p + o + 2);
		size_t vl = drfs_get_le32(p + o + 4);
		o += GLOG_OP;
		if (db >= DRFS__DB_COUNT || kl > n - o || vl > n - o - kl)
			return -EBADMSG;
		if (op == 'X' ? kl || vl
			      : (op != 'P' && op != 'D') || !kl || kl > 511 ||
					(op == 'D' && vl))
			return -EBADMSG;
		if (cb) {
			int e = cb(ud, op, db, p + o, kl, p + o + kl, vl);
			if (e < 0)
				return e;
		}
		o += kl + vl;
	}
	return 0;
}

int drfs_index_glog_parse(const void *buf, size_t len, uint64_t gen,
			  drfs_glog_fn cb, void *ud, size_t *ret_end,
			  uint64_t *ret_records)
{
	const uint8_t *p = buf;
	uint8_t want[GLOG_FILE_HDR];
	size_t off = 0;
	uint64_t recs = 0;
	int e = 0;
	/* shorter than the header: a log never begun (records follow it) */
	if (len >= GLOG_FILE_HDR) {
		glog_file_hdr(want);
		if (memcmp(p, want, GLOG_FILE_HDR))
			e = -EPROTO;
		else
			off = GLOG_FILE_HDR;
	}
	while (off && len - off >= GLOG_HDR) {
		const uint8_t *h = p + off;
		size_t plen = drfs_get_le32(h + 4);
		if (drfs_get_le32(h) != GLOG_MAGIC ||
		    drfs_get_le64(h + 8) != gen || plen > len - off - GLOG_HDR ||
		    drfs_get_le64(h + 16) !=
			    glog_frame_hash(h, h + GLOG_HDR, plen) ||
		    glog_ops(h + GLOG_HDR, plen, NULL, NULL) < 0)
			break;
		e = glog_ops(h + GLOG_HDR, plen, cb, ud);
		if (e < 0)
			break;
		off += GLOG_HDR + plen;
		recs++;
	}
	if (ret_end)
		*ret_end = off;
	if (ret_records)
		*ret_records = recs;
	return e;
}

/* Append one operation to t's record (a group write transaction). */
static int glog_add(struct drfs_txn *t, char op, enum drfs_db db,
		    const MDB_val *k, const MDB_val *v)
{
	uint8_t h[GLOG_OP] = { (uint8_t)op, (uint8_t)db };
	size_t vl = v ? v->mv_size : 0;
	if (!t->grouped || t->rdonly)
		return 0;
	drfs_put_le16(h + 2, (uint16_t)(k ? k->mv_size : 0));
	drfs_put_le32(h + 4, (uint32_t)vl);
	int e = t->j.len ? 0 : drfs_buf_append(&t->j, (uint8_t[GLOG_HDR]){ 0 },
					       GLOG_HDR);
	e = e < 0 ? e : drfs_buf_append(&t->j, h, sizeof(h));
	if (e >= 0 && k)
		e = drfs_buf_append(&t->j, k->mv_data, k->mv_size);
	if (e >= 0 && vl)
		e = drfs_buf_append(&t->j, v->mv_data, vl);
	if (e < 0)
		t->broken = true; /* in the group, not in the log */
	return e;
}

static int glog_apply(void *ud, char op, unsigned db, const void *key,
		      size_t klen, const void *val, size_t vlen)
{
	struct drfs_txn *t = ud;
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	int rc;
	if (op == 'P')
		rc = mdb_put(t->txn, t->idx->dbi[db], &k, &v, 0);
	else if (op == 'D')
		rc = mdb_del(t->txn, t->idx->dbi[db], &k, NULL);
	else
		rc = mdb_drop(t->txn, t->idx->dbi[db], 0);
	return rc == MDB_NOTFOUND ? 0 : lmdb_err(rc);
}

/*
 * Apply the log's records of group gen (in its first bytes) inside txn:
 * -EPROTO if the log is of another format.
 */
static int glog_replay(struct drfs_index *idx, MDB_txn *txn, uint64_t bytes,
		       uint64_t gen, uint64_t *ret_records, size_t *ret_end)
{
	struct drfs_txn t = { .idx = idx, .txn = txn };
	if (bytes > GROUP_LOG_MAX)
		return -EFBIG;
	uint8_t *buf = malloc(bytes ? bytes : 1);
	if (!buf)
		return -ENOMEM;
	ssize_t got = drfs_pread_all(idx->g.fd, buf, bytes, 0);
	int e = got < 0 ? (int)got
			: drfs_index_glog_parse(buf, (size_t)got, gen,
						glog_apply, &t, ret_end,
						ret_records);
	free(buf);
	return e;
}

static int gen_put(struct drfs_index *idx, MDB_txn *txn, uint64_t gen)
{
	uint8_t b[8];
	drfs_put_le64(b, gen);
	MDB_val k = { .mv_size = sizeof(GROUP_KEY) - 1, .mv_data = GROUP_KEY };
	MDB_val v = { .mv_size = 8, .mv_data = b };
	return lmdb_err(mdb_put(txn, idx->dbi[DRFS_DB_META], &k, &v, 0));
}

/*
 * Writer thread, g->m held: begin the group and apply the records it
 * already has in the log (after a rollback or a failed commit).
 */
static int group_open(struct drfs_index *idx)
{
	struct group *g = &idx->g;
	MDB_txn *txn;
	g->owned = true;
	g->owner = pthread_self();
	pthread_mutex_unlock(&g->m);
	int e = lmdb_err(mdb_txn_begin(idx->env, NULL, 0, &txn));
	if (e >= 0 && g->pos) {
		e = glog_replay(idx, txn, GLOG_FILE_HDR + g->pos, g->gen,
				NULL, NULL);
		if (e < 0)
			mdb_txn_abort(txn);
	}
	pthread_mutex_lock(&g->m);
	g->owned = false;
	g->txn = e < 0 ? NULL : txn;
	if (e >= 0)
		g->first = drfs_now_mono(); /* committed g->sec from now */
	return e;
}

/* Writer thread, g->m held, g->txn open and not owned: commit it. */
static void group_commit(struct drfs_index *idx)
{
	struct group *g = &idx->g;
	MDB_txn *txn = g->txn;
	g->owned = true;
	g->owner = pthread_self();
	pthread_mutex_unlock(&g->m);
	int e = gen_put(idx, txn, g->gen);
	int rc = e < 0 ? 0 : mdb_txn_commit(txn);
	if (e < 0)
		mdb_txn_abort(txn);
	else if (rc == EIO && disk_full(idx))
		rc = ENOSPC;
	if (e >= 0 && !rc)
		reserve(idx);
	pthread_mutex_lock(&g->m);
	g->owned = false;
	g->txn = NULL;
	g->commit_err = e < 0 ? e : lmdb_err(rc);
	g->commits++;
	g->want_commit = false;
	if (g->commit_err >= 0) {
		g->gen++;
		g->pos = 0;
		g->first = 0;
	} else {
		/* the records stay in the log; the group comes back from it */
		g->retry = drfs_now_mono() + 0.1;
		group_open(idx);
	}
	pthread_cond_broadcast(&g->cond);
}

static bool group_due(struct group *g, double now)
{
	if (!g->txn && !g->pos)
		return false;
	if (g->quit || g->want_commit)
		return true;
	if (now < g->retry)
		return false;
	return g->direct || g->pos >= GROUP_LOG_COMMIT ||
	       (g->first && now - g->first >= g->sec) ||
	       (!g->txn && g->pos); /* a commit failed and so did the begin */
}

static void *group_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-group");
	struct drfs_index *idx = arg;
	struct group *g = &idx->g;
	pthread_mutex_lock(&g->m);
	for (;;) {
		double now = drfs_now_mono();
		if (g->owned) {
			g->wwait = true;
			pthread_cond_wait(&g->wcond, &g->m);
			g->wwait = false;
			continue;
		}
		if (!g->txn)
			g->want_rollback = false;
		if (g->txn && g->want_rollback) {
			g->want_rollback = false;
			MDB_txn *txn = g->txn;
			g->txn = NULL;
			mdb_txn_abort(txn); /* no owner: nobody uses it */
			g->begin_err = group_open(idx);
			pthread_cond_broadcast(&g->cond);
			continue;
		}
		if (group_due(g, now)) {
			if (!g->txn && group_open(idx) < 0) {
				g->commits++;
				g->want_commit = false;
				g->retry = now + 0.1;
				pthread_cond_broadcast(&g->cond);
			} else if (g->txn) {
				group_commit(idx);
			}
			if (g->quit && (g->commit_err < 0 || !g->txn)) {
				/* the log keeps what could not be committed:
				 * the next open replays it */
				if (g->txn)
					mdb_txn_abort(g->txn);
				g->txn = NULL;
				break;
			}
			continue;
		}
		if (g->quit && !g->txn)
			break;
		if (!g->txn && g->want_begin && !g->direct) {
			g->want_begin = false;
			g->begin_err = group_open(idx);
			pthread_cond_broadcast(&g->cond);
			continue;
		}
		if (g->txn || g->retry > now) {
			double at = g->retry > now ? g->retry
						   : g->first + g->sec;
			struct timespec ts;
			drfs_realtime_after(at - now, &ts);
			pthread_cond_timedwait(&g->wcond, &g->m, &ts);
		} else {
			pthread_cond_wait(&g->wcond, &g->m);
		}
	}
	pthread_mutex_unlock(&g->m);
	return NULL;
}

int drfs_index_group_start(struct drfs_index *idx, const char *log_path,
			   uint64_t *ret_replayed)
{
	struct group *g = &idx->g;
	uint64_t committed = 0, recs = 0;
	struct stat st;
	MDB_txn *txn;
	if (g->on)
		return -EBUSY;
	g->fd = open(log_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (g->fd < 0)
		return -errno;
	int e = fstat(g->fd, &st) < 0 ? -errno : 0;
	if (e >= 0 && st.st_size < GLOG_FILE_HDR) {
		/* new (or never begun: records follow the header) */
		uint8_t h[GLOG_FILE_HDR];
		glog_file_hdr(h);
		e = drfs_pwrite_all(g->fd, h, sizeof(h), 0);
	}
	e = e < 0 ? e : lmdb_err(mdb_txn_begin(idx->env, NULL, 0, &txn));
	if (e < 0) {
		close(g->fd);
		return e;
	}
	MDB_val k = { .mv_size = sizeof(GROUP_KEY) - 1, .mv_data = GROUP_KEY };
	MDB_val v;
	if (mdb_get(txn, idx->dbi[DRFS_DB_META], &k, &v) == 0 &&
	    v.mv_size == 8)
		committed = drfs_get_le64(v.mv_data);
	/*
	 * The records of the group after the last committed one; then that
	 * group counts as committed, so no record now in the log (all of
	 * groups <= committed + 1) is ever taken for one of a later group.
	 */
	e = glog_replay(idx, txn, (uint64_t)st.st_size, committed + 1, &recs,
			NULL);
	e = e < 0 ? e : gen_put(idx, txn, committed + 1);
	if (e >= 0)
		e = lmdb_err(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	if (e >= 0 && st.st_size < (off_t)GROUP_LOG_SIZE)
		posix_fallocate(g->fd, 0, GROUP_LOG_SIZE); /* else: grows */
	if (e < 0) {
		close(g->fd);
		return e;
	}
	pthread_mutex_init(&g->m, NULL);
	pthread_cond_init(&g->cond, NULL);
	pthread_cond_init(&g->wcond, NULL);
	g->gen = committed + 2;
	g->pos = 0;
	g->sec = drfs_test_group_sec(GROUP_SEC);
	g->quit = false;
	e = -pthread_create(&g->thr, NULL, group_main, idx);
	if (e < 0) {
		pthread_mutex_destroy(&g->m);
		pthread_cond_destroy(&g->cond);
		pthread_cond_destroy(&g->wcond);
		close(g->fd);
		return e;
	}
	g->on = true;
	if (ret_replayed)
		*ret_replayed = recs;
	return 0;
}

void drfs_index_group_stop(struct drfs_index *idx)
{
	struct group *g = &idx->g;
	if (!g->on)
		return;
	pthread_mutex_lock(&g->m);
	g->quit = true;
	pthread_cond_signal(&g->wcond);
	pthread_mutex_unlock(&g->m);
	pthread_join(g->thr, NULL);
	g->on = false;
	/*
	 * All committed (nothing of group gen in the log): made durable,
	 * the log is emptied, so only an interrupted session leaves records
	 * (and only those make another version of drfs refuse the log).
	 */
	if (!g->pos && mdb_env_sync(idx->env, 1) == 0)
		(void)!ftruncate(g->fd, 0);
	if (g->spare) {
		drfs_buf_release(&g->spare->j);
		free(g->spare);
		g->spare = NULL;
	}
	close(g->fd);
	pthread_mutex_destroy(&g->m);
	pthread_cond_destroy(&g->cond);
	pthread_cond_destroy(&g->wcond);
}

static bool group_mine(const struct group *g)
{
	return g->owned && pthread_equal(g->owner, pthread_self());
}

int drfs_index_group_flush(struct drfs_index *idx)
{
	struct group *g = &idx->g;
	if (!g->on)
		return 0;
	pthread_mutex_lock(&g->m);
	int e = 0;
	if (group_mine(g)) {
		e = -EDEADLK;
	} else if (g->txn || g->pos) {
		uint64_t c = g->commits;
		g->want_commit = true;
		g->retry = 0;
		pthread_cond_signal(&g->wcond);
		while (g->commits == c)
			pthread_cond_wait(&g->cond, &g->m);
		e = g->commit_err;
	}
	pthread_mutex_unlock(&g->m);
	return e;
}

/* Wait until no group is open, for a write transaction of its own. */
static int group_direct_begin(struct group *g)
{
	pthread_mutex_lock(&g->m);
	if (group_mine(g)) {
		pthread_mutex_unlock(&g->m);
		return -EDEADLK;
	}
	g->direct++;
	/*
	 * The writer thread needs to know only when there is a group to
	 * commit first (group_due). With none, waking it for each
	 * transaction was two context switches each, and browsing the
	 * snapshots writes one per directory met (fs/inode.c).
	 */
	if (g->txn || g->owned || g->pos)
		pthread_cond_signal(&g->wcond);
	int e = 0;
	while (g->txn || g->owned || g->pos) {
		uint64_t c = g->commits;
		pthread_cond_wait(&g->cond, &g->m);
		if (c != g->commits && g->commit_err < 0 &&
		    (g->txn || g->pos)) {
			e = g->commit_err;
			break;
		}
	}
	if (e < 0) {
		/* as group_direct_end: the last one ends the others' wait */
		if (--g->direct == 0)
			pthread_cond_broadcast(&g->cond);
		pthread_cond_signal(&g->wcond);
	}
	pthread_mutex_unlock(&g->m);
	return e;
}

static void group_direct_end(struct group *g)
{
	pthread_mutex_lock(&g->m);
	/* only the last one ends a wait: group operations wait for none
	 * (drfs_txn_begin_group), the writer to open a group (group_main) */
	if (--g->direct == 0 && (g->want_begin || g->txn)) {
		pthread_cond_broadcast(&g->cond);
		pthread_cond_signal(&g->wcond);
	}
	pthread_mutex_unlock(&g->m);
}

int drfs_txn_begin_group(struct drfs_index *idx, bool write,
			 struct drfs_txn **ret)
{
	struct group *g = &idx->g;
	if (!g->on)
		return drfs_txn_begin(idx, write, ret);
	pthread_mutex_lock(&g->m);
	int e = 0;
	if (group_mine(g)) {
		g->depth++;
	} else {
		for (;;) {
			if (!g->owned && !g->direct && !g->want_rollback &&
			    g->txn) {
				g->owned = true;
				g->owner = pthread_self();
				g->depth = 1;
				break;
			}
			if (!write && !g->txn && !g->pos) {
				/* nothing uncommitted: a read of LMDB */
				pthread_mutex_unlock(&g->m);
				return drfs_txn_begin(idx, false, ret);
			}
			if (!g->txn && !g->want_begin) {
				g->want_begin = true;
				g->begin_err = 0;
				pthread_cond_signal(&g->wcond);
			}
			pthread_cond_wait(&g->cond, &g->m);
			if (!g->txn && g->begin_err < 0 && !g->want_begin) {
				e = g->begin_err;
				break;
			}
		}
	}
	struct drfs_txn *t = NULL;
	if (e >= 0 && g->spare) {
		t = g->spare; /* its record buffer keeps its memory */
		g->spare = NULL;
	} else if (e >= 0) {
		t = calloc(1, sizeof(*t));
		if (t)
			drfs_buf_init(&t->j, GROUP_LOG_MAX);
		else
			e = -ENOMEM;
	}
	if (e >= 0) {
		/*
		 * The group's MDB_txn is handed to this thread here, without
		 * LMDB knowing. Why that is sound:
		 * - LMDB's write lock (a process-shared robust mutex in
		 *   lock.mdb) is taken by mdb_txn_begin and released by
		 *   mdb_txn_commit/abort, and only its locker may release it
		 *   (from another thread the unlock fails, EPERM for a robust
		 *   mutex, and the lock stays taken). So begin, commit and
		 *   abort of the group happen on the writer thread only:
		 *   group_open (begin, abort of a failed replay),
		 *   group_commit (commit, abort) and group_main (abort at
		 *   a rollback and at quit); group_end never ends it.
		 * - Between those, LMDB keeps no per-thread state for a
		 *   write transaction, so any one thread at a time may use
		 *   it: the owner, which took g->owned under g->m (just
		 *   above) and gives it back under g->m (group_end). The
		 *   writer thread touches g->txn only with g->m held and
		 *   !g->owned, setting owned itself before it unlocks to
		 *   commit (group_commit), or while no one can have it
		 *   (group_open publishes g->txn only after the begin;
		 *   group_main aborts with g->m held and !g->owned).
		 * - pthread_mutex_lock/unlock synchronize memory (POSIX XBD
		 *   4.12): whatever a thread wrote into the transaction (its
		 *   dirty pages, page lists, cursors' db state) before the
		 *   unlock that gave up ownership happens before whatever
		 *   the next owner does after the lock that took it. No
		 *   other ordering is relied on: g->txn, owned and owner are
		 *   read and written with g->m held only.
		 */
		t->idx = idx;
		t->txn = g->txn;
		t->rdonly = !write;
		t->grouped = true;
		t->broken = false;
		*ret = t;
	} else if (group_mine(g) && --g->depth == 0) {
		g->owned = false;
		pthread_cond_broadcast(&g->cond);
		pthread_cond_signal(&g->wcond);
	}
	pthread_mutex_unlock(&g->m);
	return e;
}

/* Write t's record to the log: 0, or a negative errno (not logged). */
static int group_log(struct drfs_txn *t)
{
	struct group *g = &t->idx->g;
	uint8_t *h = t->j.p;
	size_t plen = t->j.len - GLOG_HDR;
	if (plen > UINT32_MAX)
		return -EFBIG;
	drfs_put_le32(h, GLOG_MAGIC);
	drfs_put_le32(h + 4, (uint32_t)plen);
	drfs_put_le64(h + 8, g->gen); /* ours: the owner's to change */
	drfs_put_le64(h + 16, glog_frame_hash(h, h + GLOG_HDR, plen));
	return drfs_pwrite_all(g->fd, h, t->j.len, GLOG_FILE_HDR + g->pos);
}

/* End group transaction t: logged (commit) or given up. */
static int group_end(struct drfs_txn *t, bool commit)
{
	struct group *g = &t->idx->g;
	int e = 0;
	bool wrote = t->j.len > 0;
	if (commit && wrote && !t->broken)
		e = group_log(t);
	if (t->broken || (wrote && (!commit || e < 0)))
		e = e < 0 ? e : commit ? -EIO : 0;
	pthread_mutex_lock(&g->m);
	if (wrote && commit && e >= 0)
		g->pos += t->j.len;
	else if (wrote || t->broken) {
		g->want_rollback = true; /* in the group, not in the log */
	}
	if (--g->depth == 0) {
		g->owned = false;
		pthread_cond_broadcast(&g->cond);
		/* a wake-up per operation was a context switch each */
		if (g->wwait || g->want_rollback || g->direct ||
		    g->want_commit || g->pos >= GROUP_LOG_COMMIT)
			pthread_cond_signal(&g->wcond);
	}
	if (!g->spare && t->j.cap <= (64u << 10)) {
		drfs_buf_reset(&t->j);
		g->spare = t;
		t = NULL;
	}
	pthread_mutex_unlock(&g->m);
	if (t) {
		drfs_buf_release(&t->j);
		free(t);
	}
	return e;
}

int drfs_txn_begin(struct drfs_index *idx, bool write, struct drfs_txn **ret)
{
	struct drfs_txn *t = write ? NULL : read_renew(idx);
	if (t) {
		*ret = t;
		return 0;
	}
	if (write && idx->g.on) {
		int e = group_direct_begin(&idx->g);
		if (e < 0)
			return e;
	}
	t = calloc(1, sizeof(*t));
	int rc = t ? mdb_txn_begin(idx->env, NULL, write ? 0 : MDB_RDONLY,
				   &t->txn)
		   : ENOMEM;
	if (rc) {
		if (write && idx->g.on)
			group_direct_end(&idx->g);
		free(t);
		return lmdb_err(rc);
	}
	t->idx = idx;
	t->rdonly = !write;
	t->direct = write && idx->g.on;
	*ret = t;
	return 0;
}

int drfs_txn_commit(struct drfs_txn *t)
{
	if (t->grouped)
		return group_end(t, true);
	if (t->rdonly) {
		read_end(t);
		return 0;
	}
	int rc = mdb_txn_commit(t->txn);
	if (!rc)
		reserve(t->idx);
	else if (rc == EIO && disk_full(t->idx))
		rc = ENOSPC; /* LMDB's word for a short pwrite */
	if (t->direct)
		group_direct_end(&t->idx->g);
	free(t);
	return lmdb_err(rc);
}

void drfs_txn_abort(struct drfs_txn *t)
{
	if (!t)
		return;
	if (t->grouped) {
		group_end(t, false);
		return;
	}
	if (t->rdonly) {
		read_end(t);
		return;
	}
	mdb_txn_abort(t->txn);
	if (t->direct)
		group_direct_end(&t->idx->g);
	free(t);
}

static int kv_get_raw(struct drfs_txn *t, enum drfs_db db, const void *key,
		      size_t klen, MDB_val *v)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	return lmdb_err(mdb_get(t->txn, t->idx->dbi[db], &k, v));
}

int drfs_kv_get(struct drfs_txn *t, enum drfs_db db, const void *key,
		size_t klen, struct drfs_buf *out)
{
	MDB_val v;
	int r = kv_get_raw(t, db, key, klen, &v);
	if (r < 0)
		return r;
	return drfs_buf_append(out, v.mv_data, v.mv_size);
}

int drfs_kv_get_fixed(struct drfs_txn *t, enum drfs_db db, const void *key,
		      size_t klen, void *out, size_t max)
{
	MDB_val v;
	int r = kv_get_raw(t, db, key, klen, &v);
	if (r < 0)
		return r;
	if (v.mv_size > max)
		return -E2BIG;
	if (v.mv_size)
		memcpy(out, v.mv_data, v.mv_size);
	return (int)v.mv_size;
}

int drfs_kv_put(struct drfs_txn *t, enum drfs_db db, const void *key,
		size_t klen, const void *val, size_t vlen)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	int rc = mdb_put(t->txn, t->idx->dbi[db], &k, &v, 0);
	return rc ? wfail(t, rc) : glog_add(t, 'P', db, &k, &v);
}

int drfs_kv_append(struct drfs_txn *t, enum drfs_db db, const void *key,
		   size_t klen, const void *val, size_t vlen)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	int rc = mdb_put(t->txn, t->idx->dbi[db], &k, &v, MDB_APPEND);
	if (rc == MDB_KEYEXIST) /* not past the last key */
		rc = mdb_put(t->txn, t->idx->dbi[db], &k, &v, 0);
	return rc ? wfail(t, rc) : glog_add(t, 'P', db, &k, &v);
}

int drfs_kv_del(struct drfs_txn *t, enum drfs_db db, const void *key,
		size_t klen)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	int rc = mdb_del(t->txn, t->idx->dbi[db], &k, NULL);
	return rc ? wfail(t, rc) : glog_add(t, 'D', db, &k, NULL);
}

int drfs_kv_scan(struct drfs_txn *t, enum drfs_db db, const void *start,
		 size_t slen, drfs_kv_cb cb, void *userdata)
{
	MDB_cursor *c;
	MDB_val k = { .mv_size = slen, .mv_data = (void *)start }, v;
	int rc = mdb_cursor_open(t->txn, t->idx->dbi[db], &c);
	if (rc)
		return lmdb_err(rc);
	rc = mdb_cursor_get(c, &k, &v, start ? MDB_SET_RANGE : MDB_FIRST);
	int r = 0;
	while (rc == 0) {
		r = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, userdata);
		if (r != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (r != 0)
		return r < 0 ? r : 0;
	return rc == MDB_NOTFOUND ? 0 : lmdb_err(rc);
}

int drfs_kv_count(struct drfs_txn *t, enum drfs_db db, uint64_t *ret)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, t->idx->dbi[db], &st);
	if (rc)
		return lmdb_err(rc);
	*ret = st.ms_entries;
	return 0;
}

#define LOC_LEN 18

int drfs_index_blob_decode(const void *val, size_t vlen,
			   struct drfs_blob_loc *ret)
{
	const uint8_t *p = val;
	if (vlen != LOC_LEN)
		return -EBADMSG;
	ret->pack_seq = drfs_get_le32(p);
	ret->offset = drfs_get_le32(p + 4);
	ret->stored_len = drfs_get_le32(p + 8);
	ret->raw_len = drfs_get_le32(p + 12);
	ret->type = p[16];
	ret->flags = p[17];
	return 0;
}

int drfs_index_blob_get(struct drfs_txn *t, const struct drfs_id *id,
			struct drfs_blob_loc *ret)
{
	MDB_val v;
	int r = kv_get_raw(t, DRFS_DB_BLOBS, id->b, DRFS_ID_LEN, &v);
	return r < 0 ? r : drfs_index_blob_decode(v.mv_data, v.mv_size, ret);
}

struct typed_scan {
	drfs_blob_visit_fn blob;
	drfs_pack_visit_fn pack;
	drfs_deletion_visit_fn deletion;
	void *userdata;
};

/* Entries of another shape are skipped: they are never written. */
static int blob_entry(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct typed_scan *ts = userdata;
	struct drfs_blob_loc loc;
	if (klen != DRFS_ID_LEN || drfs_index_blob_decode(val, vlen, &loc) < 0)
		return 0;
	return ts->blob(key, &loc, ts->userdata);
}

int drfs_index_blobs_scan(struct drfs_txn *t, drfs_blob_visit_fn cb,
			  void *userdata)
{
	struct typed_scan ts = { .blob = cb, .userdata = userdata };
	return drfs_kv_scan(t, DRFS_DB_BLOBS, NULL, 0, blob_entry, &ts);
}

#define PACK_REC_LEN 12

static int pack_entry(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct typed_scan *ts = userdata;
	const uint8_t *p = val;
	if (klen != DRFS_ID_LEN || vlen != PACK_REC_LEN)
		return 0;
	struct drfs_pack_rec rec = { .seq = drfs_get_le32(p),
				     .length = drfs_get_le32(p + 4),
				     .n_blobs = drfs_get_le32(p + 8) };
	return ts->pack(key, &rec, ts->userdata);
}

int drfs_index_packs_scan(struct drfs_txn *t, drfs_pack_visit_fn cb,
			  void *userdata)
{
	struct typed_scan ts = { .pack = cb, .userdata = userdata };
	return drfs_kv_scan(t, DRFS_DB_PACKS, NULL, 0, pack_entry, &ts);
}

#define DELETION_REC_LEN 12 /* le64 time | le32 packs */

int drfs_index_deletion_put(struct drfs_txn *t, const struct drfs_id *record,
			    const struct drfs_deletion_rec *rec)
{
	uint8_t v[DELETION_REC_LEN];
	drfs_put_le64(v, (uint64_t)rec->time);
	drfs_put_le32(v + 8, rec->n_packs);
	return drfs_kv_put(t, DRFS_DB_DELETIONS, record->b, DRFS_ID_LEN, v,
			   sizeof(v));
}

static int deletion_entry(const void *key, size_t klen, const void *val,
			  size_t vlen, void *userdata)
{
	struct typed_scan *ts = userdata;
	const uint8_t *p = val;
	if (klen != DRFS_ID_LEN || vlen != DELETION_REC_LEN)
		return 0;
	struct drfs_deletion_rec rec = { .time = (int64_t)drfs_get_le64(p),
					 .n_packs = drfs_get_le32(p + 8) };
	return ts->deletion(key, &rec, ts->userdata);
}

int drfs_index_deletions_scan(struct drfs_txn *t, drfs_deletion_visit_fn cb,
			      void *userdata)
{
	struct typed_scan ts = { .deletion = cb, .userdata = userdata };
	return drfs_kv_scan(t, DRFS_DB_DELETIONS, NULL, 0, deletion_entry,
			    &ts);
}

static void loc_encode(const struct drfs_blob_loc *loc, uint8_t p[LOC_LEN])
{
	drfs_put_le32(p, loc->pack_seq);
	drfs_put_le32(p + 4, loc->offset);
	drfs_put_le32(p + 8, loc->stored_len);
	drfs_put_le32(p + 12, loc->raw_len);
	p[16] = loc->type;
	p[17] = loc->flags;
}

int drfs_index_blob_put(struct drfs_txn *t, const struct drfs_id *id,
			const struct drfs_blob_loc *loc)
{
	uint8_t p[LOC_LEN];
	loc_encode(loc, p);
	return drfs_kv_put(t, DRFS_DB_BLOBS, id->b, DRFS_ID_LEN, p, LOC_LEN);
}

#define ALT_KEY_LEN (DRFS_ID_LEN + 4)

static void alt_key(const struct drfs_id *id, uint32_t seq,
		    uint8_t k[ALT_KEY_LEN])
{
	memcpy(k, id->b, DRFS_ID_LEN);
	k[DRFS_ID_LEN] = seq >> 24;
	k[DRFS_ID_LEN + 1] = seq >> 16;
	k[DRFS_ID_LEN + 2] = seq >> 8;
	k[DRFS_ID_LEN + 3] = seq;
}

int drfs_index_alt_put(struct drfs_txn *t, const struct drfs_id *id,
		       const struct drfs_blob_loc *loc)
{
	uint8_t k[ALT_KEY_LEN], p[LOC_LEN];
	alt_key(id, loc->pack_seq, k);
	loc_encode(loc, p);
	return drfs_kv_put(t, DRFS_DB_ALTLOCS, k, sizeof(k), p, LOC_LEN);
}

int drfs_index_alt_del(struct drfs_txn *t, const struct drfs_id *id,
		       uint32_t seq)
{
	uint8_t k[ALT_KEY_LEN];
	alt_key(id, seq, k);
	return drfs_kv_del(t, DRFS_DB_ALTLOCS, k, sizeof(k));
}

struct alt_scan {
	const struct drfs_id *id;
	drfs_blob_visit_fn cb;
	void *userdata;
};

static int alt_entry(const void *key, size_t klen, const void *val,
		     size_t vlen, void *userdata)
{
	struct alt_scan *a = userdata;
	struct drfs_blob_loc loc;
	if (klen != ALT_KEY_LEN || memcmp(key, a->id->b, DRFS_ID_LEN))
		return 1; /* past this blob's copies */
	if (drfs_index_blob_decode(val, vlen, &loc) < 0)
		return 0;
	return a->cb(a->id, &loc, a->userdata);
}

int drfs_index_alt_scan(struct drfs_txn *t, const struct drfs_id *id,
			drfs_blob_visit_fn cb, void *userdata)
{
	struct alt_scan a = { .id = id, .cb = cb, .userdata = userdata };
	return drfs_kv_scan(t, DRFS_DB_ALTLOCS, id->b, DRFS_ID_LEN, alt_entry,
			    &a);
}

struct alts_all {
	drfs_blob_visit_fn cb;
	void *userdata;
};

static int alts_all_entry(const void *key, size_t klen, const void *val,
			  size_t vlen, void *userdata)
{
	struct alts_all *a = userdata;
	struct drfs_blob_loc loc;
	struct drfs_id id;
	if (klen != ALT_KEY_LEN || drfs_index_blob_decode(val, vlen, &loc) < 0)
		return 0;
	memcpy(id.b, key, DRFS_ID_LEN);
	return a->cb(&id, &loc, a->userdata);
}

int drfs_index_alts_scan(struct drfs_txn *t, drfs_blob_visit_fn cb,
			 void *userdata)
{
	struct alts_all a = { .cb = cb, .userdata = userdata };
	return drfs_kv_scan(t, DRFS_DB_ALTLOCS, NULL, 0, alts_all_entry, &a);
}

static void seq_key(uint32_t seq, uint8_t k[4])
{
	k[0] = seq >> 24;
	k[1] = seq >> 16;
	k[2] = seq >> 8;
	k[3] = seq;
}

int drfs_index_pack_lookup(struct drfs_txn *t, const struct drfs_id *pack,
			   uint32_t *ret_seq, uint32_t *ret_length)
{
	MDB_val v;
	int r = kv_get_raw(t, DRFS_DB_PACKS, pack->b, DRFS_ID_LEN, &v);
	if (r < 0)
		return r;
	if (v.mv_size != 12)
		return -EBADMSG;
	if (ret_seq)
		*ret_seq = drfs_get_le32(v.mv_data);
	if (ret_length)
		*ret_length = drfs_get_le32((const uint8_t *)v.mv_data + 4);
	return 0;
}

int drfs_index_pack_add(struct drfs_txn *t, const struct drfs_id *pack,
			uint32_t length, uint32_t n_blobs, uint32_t *ret_seq)
{
	uint32_t seq;
	int r = drfs_index_pack_lookup(t, pack, &seq, NULL);
	if (r == 0) {
		*ret_seq = seq;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	uint8_t cur[4] = { 0 };
	r = drfs_kv_get_fixed(t, DRFS_DB_META, "next_pack_seq", 13, cur, 4);
	if (r < 0 && r != -ENOENT)
		return r;
	seq = r == 4 ? drfs_get_le32(cur) : 1;
	uint8_t v[PACK_REC_LEN], k[4];
	drfs_put_le32(v, seq);
	drfs_put_le32(v + 4, length);
	drfs_put_le32(v + 8, n_blobs);
	r = drfs_kv_put(t, DRFS_DB_PACKS, pack->b, DRFS_ID_LEN, v, 12);
	if (r < 0)
		return r;
	seq_key(seq, k);
	r = drfs_kv_put(t, DRFS_DB_PACKSEQ, k, 4, pack->b, DRFS_ID_LEN);
	if (r < 0)
		return r;
	drfs_put_le32(cur, seq + 1);
	r = drfs_kv_put(t, DRFS_DB_META, "next_pack_seq", 13, cur, 4);
	if (r < 0)
		return r;
	*ret_seq = seq;
	return 0;
}

int drfs_index_pack_by_seq(struct drfs_txn *t, uint32_t seq,
			   struct drfs_id *ret_pack, uint32_t *ret_length)
{
	uint8_t k[4];
	struct drfs_id pack;
	seq_key(seq, k);
	int r = drfs_kv_get_fixed(t, DRFS_DB_PACKSEQ, k, 4, pack.b, DRFS_ID_LEN);
	if (r < 0)
		return r;
	if (r != DRFS_ID_LEN)
		return -EBADMSG;
	if (ret_length) {
		r = drfs_index_pack_lookup(t, &pack, NULL, ret_length);
		if (r < 0)
			return r;
	}
	*ret_pack = pack;
	return 0;
}
