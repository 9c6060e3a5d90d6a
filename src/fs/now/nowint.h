/* SPDX-License-Identifier: MIT */
/*
 * nowint.h - private to src/fs/now/: the writable now/ tree's state, its
 * LMDB layout and the functions its rooms share (named now_*). See now.h
 * (the API) and docs/now.md (the behaviour); docs/architecture.md lists
 * the rooms.
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
 * Locks (in this order): commit_mx (one commit at a time), freeze (rw:
 * data writes shared, a commit's build exclusive), lock (every metadata
 * operation, the ofile list and the cached state), wlock (a sequence of
 * writer puts vs writer flush). A snapshot holds freeze and lock while it
 * builds its trees, and neither while it waits for its uploads (see
 * commit.c): the flags it clears afterwards are set again for what
 * changed meanwhile (redirty).
 */
#ifndef DRFS_NOWINT_H
#define DRFS_NOWINT_H

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
	char last_folder[DRFS_FOLDER_BUF];
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

	pthread_mutex_t commit_mx;
	pthread_rwlock_t freeze;
	pthread_mutex_t lock;
	pthread_mutex_t wlock;
	struct drfs_writer *w; /* (wlock) */
	/* put since the last flush: changed under wlock, read without it
	   (a flush holds wlock while it waits for the uploads) */
	_Atomic uint64_t pend_blobs, pend_bytes;
	uint64_t flush_epoch;            /* (wlock) successful flushes */
	_Atomic uint64_t wgen; /* writers replaced (changed under wlock) */
	struct drfs_writer_stats snap_stats; /* (wlock) at the last snapshot */
	pthread_mutex_t glock;          /* the two below (after wlock) */
	struct drfs_guard_result guard; /* (glock) the guard, all commits */
	char guard_last[320];           /* (glock) its last finding */

	struct ofile *ofiles; /* (lock) */
	struct state st;      /* (lock) */
	uint64_t chunking;    /* (lock) inode the background chunker reads */
	struct ino_list stale_q; /* (lock) files closed since the chunker
				    looked: a hint, checked against LMDB */
	double full_scan;     /* (lock) drfs_now_mono() of the last full
				 scan of the staged set; 0: due now */
	atomic_bool chunk_abort; /* (lock to set) opened for writing meanwhile;
				    read by the chunker without it */
	struct chunked
		*batch; /* (lock) chunked by now_bg_main, not yet recorded */
	size_t nbatch;	       /* (lock) entries of batch */
	uint64_t staged_bytes; /* (lock) approximate */
	bool space_stuck;      /* (lock) over cache_size, nothing to free */
	double last_snap_mono; /* (lock) */
	/*
	 * now_make_durable runs one at a time (flushing), from its writer
	 * flush to the flags it records after it, even where it lets go of
	 * n->lock while the flush waits for uploads.
	 */
	bool flushing;           /* (lock) */
	pthread_cond_t flush_cond; /* (lock) flushing ended */
	/* inodes marked dirty while a snapshot waits for its uploads */
	bool redirty_on;            /* (lock) */
	struct ino_list redirty;    /* (lock) */

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
	uint64_t mem_bytes; /* approximate; exact after now_make_durable */

	pthread_t syncer;
	bool syncer_started;
	bool syncer_quit;          /* (lock) */
	pthread_cond_t syncer_cond; /* (lock) */

	/*
	 * Group commit (docs/now.md): metadata operations share one LMDB
	 * transaction that the index commits every few milliseconds; each
	 * writes its changes to <cache>/now.log first. direct: now_txn
	 * begins ordinary transactions (set under n->lock by the long
	 * operations that hold it throughout).
	 */
	bool group;
	atomic_bool direct;
	uint64_t replayed; /* records of now.log replayed at open */

	bool stopped;    /* drfs_now_stop ran: no background threads */
	int stop_result; /* its result */
};

/* A file chunked by the background thread, not yet recorded. */
struct chunked {
	uint64_t ino; /* 0: cancelled */
	uint64_t gen, size, epoch;
	uint64_t wgen; /* the writer its chunks went to (n->wgen) */
	struct drfs_extent_vec x;
};

struct ext_scan {
	uint64_t ino;
	uint64_t until; /* stop after an extent starting at or past this */
	struct drfs_extent *v;
	size_t n, cap, max;
	bool keys_only;
	uint8_t (*keys)[16];
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

/* ---- records.c ----------------------------------------------------------- */
void now_put_be64(uint8_t *p, uint64_t v);
uint64_t now_get_be64(const uint8_t *p);
int now_rec_get(struct drfs_txn *t, uint64_t ino, struct rec *r);
int now_rec_put(struct drfs_txn *t, const struct rec *r);
int now_state_get(struct drfs_txn *t, struct state *s);
int now_state_put(struct drfs_txn *t, const struct state *s);
int now_set_put(struct drfs_txn *t, char tag, uint64_t ino);
int now_set_del(struct drfs_txn *t, char tag, uint64_t ino);
int now_txn(struct drfs_now *n, bool write, struct drfs_txn **ret);
int now_commit(struct drfs_now *n, struct drfs_txn *t);
void now_chunk_cancel(struct drfs_now *n, uint64_t ino);
int now_ino_list_push(struct ino_list *l, uint64_t ino);
int now_set_list(struct drfs_txn *t, char tag, struct ino_list *out);
void now_dkey_seq(uint8_t *k, uint64_t dir, uint64_t seq);
int now_check_name(const char *name, size_t *ret_len);
int now_dent_get(struct drfs_txn *t, uint64_t dir, const char *name,
		 uint64_t *ret_ino, uint64_t *ret_seq);
int now_dent_add(struct drfs_txn *t, struct rec *d, const char *name,
		 size_t len, uint64_t ino);
int now_dent_del(struct drfs_txn *t, uint64_t dir, const char *name);
int now_dent_repoint(struct drfs_txn *t, uint64_t dir, const char *name,
		     uint64_t ino);
int now_parents_of(struct drfs_txn *t, uint64_t ino, struct ino_list *out);
int now_dir_is_empty(struct drfs_txn *t, uint64_t dir);
int now_mark_dirty(struct drfs_now *n, struct drfs_txn *t, uint64_t ino);
int now_ext_put(struct drfs_txn *t, uint64_t ino, const struct drfs_extent *x);
int now_ext_range(struct drfs_txn *t, uint64_t ino, uint64_t off,
		  uint64_t until, struct ext_scan *s);
int now_ext_clear(struct drfs_txn *t, uint64_t ino);
int now_xattr_names(struct drfs_txn *t, uint64_t ino, struct drfs_buf *out);
int now_xattr_clear(struct drfs_txn *t, uint64_t ino);
void now_ts(struct timespec *t);
int now_read_blob(struct drfs_now *n, const struct drfs_id *id,
		  struct drfs_buf *out);
void now_staging_path(struct drfs_now *n, uint64_t ino, char *out, size_t max);
/* ---- memstage.c ---------------------------------------------------------- */
struct mem_slot *now_mem_find(struct drfs_now *n, uint64_t ino);
void now_mem_remove(struct drfs_now *n, uint64_t ino);
bool now_mem_new(struct drfs_now *n, uint64_t ino);
void now_mem_clear(struct drfs_now *n);
int now_staging_open(struct drfs_now *n, uint64_t ino, int flags,
		     bool *ret_mem);
int now_staging_stat(struct drfs_now *n, uint64_t ino, struct stat *st);
int now_staging_install(int e, int fd, const char *tmp, const char *p,
			uint64_t size, bool sync);
int now_spill(struct drfs_now *n, uint64_t ino, struct ofile *of, bool sync);
struct ofile *now_ofile_find(struct drfs_now *n, uint64_t ino);
uint64_t now_tree_ino(struct drfs_now *n, const struct rec *r);
void now_rec_stat(struct drfs_now *n, const struct rec *r, struct stat *st);
uint64_t now_alloc_ino(struct state *s);
/* ---- cow.c --------------------------------------------------------------- */
int now_xattr_put(struct drfs_txn *t, uint64_t ino, const void *name,
		  size_t nlen, const void *val, size_t vlen);
void now_rec_from_node(struct rec *r, const struct drfs_node *nd);
int now_ensure_mat(struct drfs_now *n, uint64_t ino);
/* ---- recovery.c ---------------------------------------------------------- */
int now_reset_state(struct drfs_now *n, const struct drfs_snap_info *si);
int now_unstage(struct drfs_txn *t, struct rec *r);
int now_recover(struct drfs_now *n);
/* ---- names.c ------------------------------------------------------------- */
int now_delete_inode(struct drfs_now *n, struct drfs_txn *t,
		     const struct rec *r, bool *ret_unlink_staging);
int now_index_sync(struct drfs_now *n);
void now_unlink_staging(struct drfs_now *n, uint64_t ino);
int now_unlinks_flush(struct drfs_now *n);
void *now_syncer_main(void *arg);
/* ---- files.c ------------------------------------------------------------- */
int now_ofile_get(struct drfs_now *n, const struct rec *r, struct ofile **ret);
void now_ofile_unlink(struct drfs_now *n, struct ofile *of);
int now_persist_meta(struct drfs_now *n, struct ofile *of);
int now_truncate_locked(struct drfs_now *n, struct ofile *of, uint64_t size);
/* ---- chunking.c ---------------------------------------------------------- */
int now_chunk_fd(struct drfs_now *n, int fd, struct drfs_extent_vec *x,
		 uint64_t *ret_size, uint64_t *ret_wgen, atomic_bool *abort);
void now_apply_batch(struct drfs_now *n);
bool now_in_batch(const struct drfs_now *n, uint64_t ino);
int now_chunk_now(struct drfs_now *n, struct rec *r);
int now_make_durable(struct drfs_now *n, bool unlock);
void now_flush_wait(struct drfs_now *n);
/* ---- guard.c ----------------------------------------------------------- */
int now_guard(struct drfs_now *n);
/* ---- commit.c ------------------------------------------------------------ */
int drfs_now_snapshot(struct drfs_now *n,
		      const struct drfs_now_snapshot_opts *o,
		      char ret_folder[DRFS_FOLDER_BUF]);
/* ---- background.c -------------------------------------------------------- */
void *now_bg_main(void *arg);

#endif
