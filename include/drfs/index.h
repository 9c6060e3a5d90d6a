/* SPDX-License-Identifier: MIT */
/*
 * index.h - the local LMDB environment (index layer; the only place LMDB
 * codes are translated and the only code that sees pointers into the map).
 *
 * One environment per process, opened with MDB_NOTLS, a large sparse map,
 * maxreaders for FUSE threads + workers + CLI processes, and a stale-reader
 * check at open. Read transactions are short: look up, copy out, end.
 *
 * Named databases (all opened at drfs_index_open):
 *   blobs      blob id(32)            -> struct drfs_blob_loc (18 bytes)
 *   packs      pack id(32)            -> le32 seq | le32 length | le32 blobs
 *   packseq    le32 seq (big-endian)  -> pack id(32)
 *   snaps      snapshot id(32)        -> encoded struct drfs_snapshot
 *   seen       object name            -> "" (index/ objects already loaded)
 *   meta       string                 -> bytes
 *   snap_history  snapshot id(32)     -> u8 state | encoded snapshot: every
 *              snapshot this cache saw, until a forget record covers it
 *   forgotten  snapshot id(32)        -> u8 (ids named by forget records)
 *   records    object name            -> u8 (forgotten/ objects loaded)
 *   (these three survive drfs_index_clear: they are the cache's memory of
 *   the repository's past, src/store/forgotten.c)
 *   deletions  record id(32)          -> le64 time | le32 packs
 *   doomed     pack id(32) | record(32) -> "" (packs deletion records
 *              doom: readable, never deduplicated against; repo.h)
 *   altlocs    blob id(32) | be32 seq -> struct drfs_blob_loc: other
 *              copies of a blob (a blob stored again after its copy was
 *              found corrupted; the entry in blobs is the one read first)
 *   verified   pack id(32)            -> le64 time: when the pack (or
 *              every blob a snapshot referenced in it) was last read and
 *              verified (src/store/guard.c; survives drfs_index_clear)
 *   badblobs   blob id(32) | pack id(32) -> le64 time: copies found
 *              corrupted (never read first again; survives the clear)
 *   and the databases of higher layers (enum drfs_db says why they are
 *   listed here), e.g. the decoded-tree cache and the now/ tree.
 *
 * Thread rule: a struct drfs_txn belongs to one thread. Many read
 * transactions run concurrently; one write transaction at a time (others
 * block in drfs_txn_begin).
 * Errors: -ENOENT not found, -ENOSPC map full, -EIO anything else.
 */
#ifndef DRFS_INDEX_H
#define DRFS_INDEX_H

#include "drfs/base.h"
#include "drfs/buf.h"

struct drfs_index;
struct drfs_txn;

/*
 * The named databases of the environment. Why the index lists tables whose
 * contents belong to higher layers (the store's catalogue, the mount's
 * snapshot inodes, now/'s tree): LMDB wants every named database opened
 * once, in one transaction, before the environment is shared between
 * threads (a handle opened later is not safe to use concurrently), and
 * the names are part of the cache's on-disk layout. So the list is fixed
 * here; the index knows nothing of what the others hold. It decodes only
 * blobs, packs, packseq and altlocs (drfs_index_blob_*, drfs_index_pack_*,
 * drfs_index_alt_*) and, for the store, the deletion records' entries
 * (drfs_index_deletion_*); every other database is opaque bytes to it, its
 * layout documented by the room that owns it (named below only so a
 * reader finds that room), and
 * drfs_index_clear() drops those derived from the repository's objects.
 */
enum drfs_db {
	/* decoded here: the blob and pack maps */
	DRFS_DB_BLOBS,
	DRFS_DB_PACKS,
	DRFS_DB_PACKSEQ,
	/* opaque to the index; owner in brackets */
	DRFS_DB_SNAPS,        /* [store] snapshot catalogue */
	DRFS_DB_SEEN,         /* [store] index/ objects loaded */
	DRFS_DB_META,         /* [index: next_pack_seq; store: the rest] */
	DRFS_DB_TREES,        /* [fs] decoded tree cache */
	DRFS_DB_INODES,       /* [fs] inode table */
	DRFS_DB_DIRENTS,      /* [fs] directory entries */
	DRFS_DB_AUX1,         /* spare, for higher layers (gc's mark) */
	DRFS_DB_AUX2,         /* spare (prune's rescue) */
	DRFS_DB_NOW_INODES,   /* [fs/now] inode -> attributes */
	DRFS_DB_NOW_DIRENTS,  /* [fs/now] (dir inode, name) -> inode */
	DRFS_DB_NOW_XATTRS,   /* [fs/now] (inode, name) -> value */
	DRFS_DB_NOW_EXTENTS,  /* [fs/now] (inode, offset) -> extent */
	DRFS_DB_NOW_META,     /* [fs/now] counters, state */
	DRFS_DB_TREEBLOBS,    /* [store] tree id -> plaintext tree blob */
	DRFS_DB_FS_RECS,      /* [fs] snapshot inode records */
	DRFS_DB_FS_EXTENTS,   /* [fs] snapshot file extents */
	DRFS_DB_FS_ORDER,     /* [fs] snapshot directories in readdir order */
	DRFS_DB_SNAP_HISTORY, /* [store] every snapshot seen (forgotten.c) */
	DRFS_DB_FORGOTTEN,    /* [store] snapshot ids named by forget records */
	DRFS_DB_RECORDS,      /* [store] forget records loaded or refused */
	DRFS_DB_DELETIONS,    /* [store] record -> drfs_deletion_rec */
	DRFS_DB_DOOMED,       /* [store] pack id | record id -> "" */
	DRFS_DB_ALTLOCS,      /* [store] blob id | be32 seq -> blob loc */
	DRFS_DB_VERIFIED,     /* [store] pack id -> le64 time verified */
	DRFS_DB_BADBLOBS,     /* [store] blob id | pack id -> le64 time */
	DRFS__DB_COUNT
};

/* Where a blob lives. */
struct drfs_blob_loc {
	uint32_t pack_seq; /* local number of the pack (packseq db) */
	uint32_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
	uint8_t type;
	uint8_t flags;
};

/*
 * Open the environment in the existing directory dir, creating its files
 * and every named database when missing; readers a dead process left are
 * cleared. Once per process per directory (the environment is shared by
 * all threads).
 * @param[out] ret  the environment, the caller's to drfs_index_free; set
 *                  only on success.
 * Returns 0, or -ENOMEM, -ENOSPC (no room for the lock file), -EBADMSG
 * (not an environment of this LMDB, or corrupted), another negative errno.
 */
int drfs_index_open(const char *dir, struct drfs_index **ret);
/*
 * DRFS_INDEX_WRITEMAP: MDB_WRITEMAP. A commit stores its pages through the
 * shared map instead of a pwrite each (they are in the page cache at once,
 * as with pwrite: a kill -9 keeps what was committed; drfs_index_sync is
 * an msync). data.mdb's apparent size becomes the map size (sparse); the
 * space past the last page is kept allocated (fallocate), so that a
 * commit on a full disk still has its pages.
 */
#define DRFS_INDEX_WRITEMAP 1u
int drfs_index_open_flags(const char *dir, unsigned flags,
			  struct drfs_index **ret);
/* Close idx and free it (accepts NULL); no transaction may be open. */
void drfs_index_free(struct drfs_index *idx);
/* Drop every entry of the repository-derived databases (rebuild). */
int drfs_index_clear(struct drfs_index *idx);
/* Drop every entry of db inside a write transaction. */
int drfs_kv_drop(struct drfs_txn *t, enum drfs_db db);

/*
 * With nosync on, commits are not flushed to disk (MDB_NOSYNC): a crash of
 * the process loses nothing committed (the pages are in the page cache),
 * a crash of the machine may lose commits since the last drfs_index_sync().
 * Callers that promise durability (fsync in now/) call drfs_index_sync().
 */
int drfs_index_set_nosync(struct drfs_index *idx, bool on);
/* Flush every committed transaction to disk. */
int drfs_index_sync(struct drfs_index *idx);

/*
 * Group commit (docs/now.md, "Group commit"). Once started, write
 * transactions begun with drfs_txn_begin_group() are not committed one by
 * one: they share one LMDB write transaction (the group), which a writer
 * thread commits every few milliseconds. Each one's commit instead writes
 * one record (the after-image of every key it put or deleted) to the log
 * at log_path (one pwrite, no fsync): a kill -9 after that keeps it, and
 * drfs_index_group_start() replays the log's records of the uncommitted
 * group into LMDB before anything else. drfs_txn_begin_group(write false)
 * reads the group's state. Every other write transaction (drfs_txn_begin)
 * first waits for the group to be committed; drfs_index_sync() commits
 * the group first. A thread holding a group transaction may begin more
 * (they share it) but no other write transaction (-EDEADLK).
 * The log starts with a header naming its format (the record layout and
 * the numbering of enum drfs_db); a log of another format is refused,
 * left as it is, and nothing is changed.
 * @param[out] ret_replayed  records replayed (may be NULL)
 * Returns 0, -EPROTO (the log is of another format), or another negative
 * errno (the log cannot be opened or replayed).
 */
int drfs_index_group_start(struct drfs_index *idx, const char *log_path,
			   uint64_t *ret_replayed);
/*
 * Commit the group, stop the writer thread, close the log: emptied once
 * everything is committed and synced, else kept for the next open.
 */
void drfs_index_group_stop(struct drfs_index *idx);
/* Commit the group now (not synced): 0 or the commit's negative errno. */
int drfs_index_group_flush(struct drfs_index *idx);
/* Like drfs_txn_begin, inside the group when one was started. */
int drfs_txn_begin_group(struct drfs_index *idx, bool write,
			 struct drfs_txn **ret);
/*
 * The log's parser, pure over (buf, len), the log from its start: checks
 * its header (a buf shorter than that is a log never begun: no records),
 * then calls cb for each operation of each complete, intact record of
 * group gen, in order, and stops at the first record that is torn,
 * corrupted, of another group or malformed (nothing of that record is
 * passed to cb). op: 'P' put, 'D' delete, 'X' drop db (klen, vlen 0). cb
 * returning < 0 stops with that.
 * @param[out] ret_end  bytes of buf that are the header and valid records
 *                      (0 if the header is missing or wrong)
 * @param[out] ret_records  records passed to cb
 * Returns 0, -EPROTO (a header of another format: cb is not called), or
 * cb's negative result.
 */
typedef int (*drfs_glog_fn)(void *ud, char op, unsigned db, const void *key,
			    size_t klen, const void *val, size_t vlen);
int drfs_index_glog_parse(const void *buf, size_t len, uint64_t gen,
			  drfs_glog_fn cb, void *ud, size_t *ret_end,
			  uint64_t *ret_records);

/*
 * Begin a transaction on idx: a read transaction (write false; many run
 * at once) or the write transaction (write true; a second one blocks here
 * until the first ends).
 * @param[out] ret  the transaction, for this thread only; end it with
 *                  drfs_txn_commit or drfs_txn_abort. Untouched on failure.
 * Returns 0, or -ENOMEM, -EAGAIN (no reader slot left), -EBADMSG (the
 * environment is corrupted), -ENOSPC, another negative errno of LMDB's.
 */
int drfs_txn_begin(struct drfs_index *idx, bool write, struct drfs_txn **ret);
/*
 * Commit t and free it, whatever the outcome (t is not usable after).
 * Returns 0, or -ENOSPC (the map or the transaction is full: nothing of t
 * is committed), another negative errno.
 */
int drfs_txn_commit(struct drfs_txn *t);
/* Abort t and free it; accepts NULL. */
void drfs_txn_abort(struct drfs_txn *t);

/*
 * Generic key/value access, inside t (a write transaction for put, append,
 * del). Keys and values are copied (in, or out): no pointer into the map
 * reaches the caller. LMDB bounds a key to 511 bytes (a longer one fails).
 *
 * get appends key's value to out: 0, -ENOENT absent, -E2BIG past
 * out->max, -ENOMEM (out untouched on failure).
 */
int drfs_kv_get(struct drfs_txn *t, enum drfs_db db, const void *key,
		size_t klen, struct drfs_buf *out);
/*
 * Like get but into out[0..max): returns the value length, -ENOENT
 * absent, -E2BIG longer than max (out untouched). out may be NULL with
 * max 0 to ask only whether key is there (any answer but -ENOENT: yes).
 */
int drfs_kv_get_fixed(struct drfs_txn *t, enum drfs_db db, const void *key,
		      size_t klen, void *out, size_t max);
/* Store (or replace) key's value: 0, -ENOSPC (map or transaction full). */
int drfs_kv_put(struct drfs_txn *t, enum drfs_db db, const void *key,
		size_t klen, const void *val, size_t vlen);
/*
 * Like put, for keys that usually come in increasing order: a key greater
 * than every key of db is appended (MDB_APPEND: the page it fills stays
 * full instead of being split in half); any other key is an ordinary put.
 */
int drfs_kv_append(struct drfs_txn *t, enum drfs_db db, const void *key,
		   size_t klen, const void *val, size_t vlen);
/* 0 deleted, -ENOENT absent. */
int drfs_kv_del(struct drfs_txn *t, enum drfs_db db, const void *key,
		size_t klen);
/*
 * Visit keys >= start (start NULL: from the first) in order while cb
 * returns 0; cb returning > 0 stops with success, < 0 stops with that
 * error. Key and value pointers are valid only during the callback.
 */
typedef int (*drfs_kv_cb)(const void *key, size_t klen, const void *val,
			  size_t vlen, void *userdata);
int drfs_kv_scan(struct drfs_txn *t, enum drfs_db db, const void *start,
		 size_t slen, drfs_kv_cb cb, void *userdata);
/* Number of entries in db, as t sees it, in *ret (set only on success). */
int drfs_kv_count(struct drfs_txn *t, enum drfs_db db, uint64_t *ret);

/*
 * Blob index: get id's location into *ret (0, -ENOENT absent, -EBADMSG an
 * entry of another shape); put (write transaction) stores or replaces it.
 */
int drfs_index_blob_get(struct drfs_txn *t, const struct drfs_id *id,
			struct drfs_blob_loc *ret);
int drfs_index_blob_put(struct drfs_txn *t, const struct drfs_id *id,
			const struct drfs_blob_loc *loc);
/* A blob entry's value (as drfs_kv_scan of DRFS_DB_BLOBS hands it): 0 or
 * -EBADMSG for one of another shape. */
int drfs_index_blob_decode(const void *val, size_t vlen,
			   struct drfs_blob_loc *ret);

/*
 * Other copies of a blob (DRFS_DB_ALTLOCS): put one (by loc->pack_seq),
 * visit those of id (cb as drfs_blob_visit_fn, called with id), delete
 * one (0, or -ENOENT).
 */
int drfs_index_alt_put(struct drfs_txn *t, const struct drfs_id *id,
		       const struct drfs_blob_loc *loc);
int drfs_index_alt_del(struct drfs_txn *t, const struct drfs_id *id,
		       uint32_t seq);

/* A pack's entry. */
struct drfs_pack_rec {
	uint32_t seq;     /* its local number (drfs_index_pack_by_seq) */
	uint32_t length;  /* bytes of the pack object */
	uint32_t n_blobs; /* blobs its trailer lists */
};

/*
 * Visit every blob (id order) or every pack (id order) with its decoded
 * entry, inside t. cb's return as drfs_kv_scan's (0 goes on, > 0 stops
 * with success, < 0 stops with that error); the pointers are valid only
 * during the call. These are the only readers of those entries' bytes.
 */
typedef int (*drfs_blob_visit_fn)(const struct drfs_id *id,
				  const struct drfs_blob_loc *loc,
				  void *userdata);
typedef int (*drfs_pack_visit_fn)(const struct drfs_id *pack,
				  const struct drfs_pack_rec *rec,
				  void *userdata);
int drfs_index_blobs_scan(struct drfs_txn *t, drfs_blob_visit_fn cb,
			  void *userdata);
int drfs_index_alt_scan(struct drfs_txn *t, const struct drfs_id *id,
			drfs_blob_visit_fn cb, void *userdata);
/* Every other copy of every blob (DRFS_DB_ALTLOCS), in blob id order. */
int drfs_index_alts_scan(struct drfs_txn *t, drfs_blob_visit_fn cb,
			 void *userdata);
int drfs_index_packs_scan(struct drfs_txn *t, drfs_pack_visit_fn cb,
			  void *userdata);

/*
 * A deletion record's entry (DRFS_DB_DELETIONS, keyed by the record's id;
 * the store owns what it means, src/store/deletions.c): the time in the
 * record's header and how many packs it dooms.
 */
struct drfs_deletion_rec {
	int64_t time;
	uint32_t n_packs;
};

typedef int (*drfs_deletion_visit_fn)(const struct drfs_id *record,
				      const struct drfs_deletion_rec *rec,
				      void *userdata);
/* Store rec as record's entry, inside write transaction t. */
int drfs_index_deletion_put(struct drfs_txn *t, const struct drfs_id *record,
			    const struct drfs_deletion_rec *rec);
/*
 * Visit every deletion record's entry (id order) inside t; cb as
 * drfs_blob_visit_fn's. Entries of another shape are skipped. These two
 * are the only users of the entry's bytes.
 */
int drfs_index_deletions_scan(struct drfs_txn *t, drfs_deletion_visit_fn cb,
			      void *userdata);

/*
 * Register a pack (idempotent; write transaction): *ret_seq its local
 * sequence number, the one it had when already known.
 */
int drfs_index_pack_add(struct drfs_txn *t, const struct drfs_id *pack,
			uint32_t length, uint32_t n_blobs, uint32_t *ret_seq);
/*
 * The pack of local number seq (*ret_pack) and its length (ret_length may
 * be NULL). 0, -ENOENT no such number, -EBADMSG an entry of another shape.
 */
int drfs_index_pack_by_seq(struct drfs_txn *t, uint32_t seq,
			   struct drfs_id *ret_pack, uint32_t *ret_length);
/*
 * A pack's local number and length (either pointer may be NULL: only
 * whether it is known). 0, -ENOENT unknown, -EBADMSG another shape.
 */
int drfs_index_pack_lookup(struct drfs_txn *t, const struct drfs_id *pack,
			   uint32_t *ret_seq, uint32_t *ret_length);

#endif
