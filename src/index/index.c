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

struct drfs_index {
	MDB_env *env;
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
	for (int i = 0; i < idx->npool; i++) {
		mdb_txn_abort(idx->pool[i]->txn);
		free(idx->pool[i]);
	}
	pthread_mutex_destroy(&idx->pool_lock);
	mdb_env_close(idx->env);
	free(idx);
}

int drfs_index_clear(struct drfs_index *idx)
{
	static const enum drfs_db derived[] = { DRFS_DB_BLOBS, DRFS_DB_PACKS,
						DRFS_DB_PACKSEQ, DRFS_DB_SNAPS,
						DRFS_DB_SEEN, DRFS_DB_TREES,
						DRFS_DB_TREEBLOBS,
						DRFS_DB_DELETIONS,
						DRFS_DB_DOOMED,
						DRFS_DB_ALTLOCS };
	MDB_txn *txn;
	int rc = mdb_txn_begin(idx->env, NULL, 0, &txn);
	if (rc)
		return lmdb_err(rc);
	for (size_t i = 0; i < ARRAY_SIZE(derived); i++) {
		rc = mdb_drop(txn, idx->dbi[derived[i]], 0);
		if (rc) {
			mdb_txn_abort(txn);
			return lmdb_err(rc);
		}
	}
	MDB_val k = { .mv_size = 13, .mv_data = "next_pack_seq" };
	mdb_del(txn, idx->dbi[DRFS_DB_META], &k, NULL);
	return lmdb_err(mdb_txn_commit(txn));
}

int drfs_kv_drop(struct drfs_txn *t, enum drfs_db db)
{
	return lmdb_err(mdb_drop(t->txn, t->idx->dbi[db], 0));
}

int drfs_index_set_nosync(struct drfs_index *idx, bool on)
{
	return lmdb_err(mdb_env_set_flags(idx->env, MDB_NOSYNC, on ? 1 : 0));
}

int drfs_index_sync(struct drfs_index *idx)
{
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

int drfs_txn_begin(struct drfs_index *idx, bool write, struct drfs_txn **ret)
{
	struct drfs_txn *t = write ? NULL : read_renew(idx);
	if (t) {
		*ret = t;
		return 0;
	}
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->idx = idx;
	t->rdonly = !write;
	int rc = mdb_txn_begin(idx->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc) {
		free(t);
		return lmdb_err(rc);
	}
	*ret = t;
	return 0;
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

int drfs_txn_commit(struct drfs_txn *t)
{
	if (t->rdonly) {
		read_end(t);
		return 0;
	}
	int rc = mdb_txn_commit(t->txn);
	if (!rc)
		reserve(t->idx);
	else if (rc == EIO && disk_full(t->idx))
		rc = ENOSPC; /* LMDB's word for a short pwrite */
	free(t);
	return lmdb_err(rc);
}

void drfs_txn_abort(struct drfs_txn *t)
{
	if (!t)
		return;
	if (t->rdonly) {
		read_end(t);
		return;
	}
	mdb_txn_abort(t->txn);
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
	return lmdb_err(mdb_put(t->txn, t->idx->dbi[db], &k, &v, 0));
}

int drfs_kv_append(struct drfs_txn *t, enum drfs_db db, const void *key,
		   size_t klen, const void *val, size_t vlen)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	int rc = mdb_put(t->txn, t->idx->dbi[db], &k, &v, MDB_APPEND);
	if (rc == MDB_KEYEXIST) /* not past the last key */
		rc = mdb_put(t->txn, t->idx->dbi[db], &k, &v, 0);
	return lmdb_err(rc);
}

int drfs_kv_del(struct drfs_txn *t, enum drfs_db db, const void *key,
		size_t klen)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	return lmdb_err(mdb_del(t->txn, t->idx->dbi[db], &k, NULL));
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
