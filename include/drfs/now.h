/* SPDX-License-Identifier: MIT */
/*
 * now.h - the writable now/ tree of a mount (fs layer, src/fs/now/),
 * independent of FUSE: a POSIX directory tree persisted in LMDB (the NOW_*
 * databases of index.h) plus staging files in <cache>/staging/, committed
 * into snapshots. docs/now.md describes the model and its crash rules.
 *
 * Inode numbers are 1.. (DRFS_NOW_ROOT is now/ itself), at most 56 bits,
 * stable across remounts of the same cache directory.
 *
 * Copy-on-write: now/ starts as the latest snapshot's tree. A directory of
 * that tree is copied into LMDB on first access; a file keeps referencing
 * its chunks until it is written, when its content is copied up into a
 * staging file. Staged files are chunked on a background thread once no
 * handle writes them, and their chunks are packed and uploaded by the
 * writer; the staging file is dropped once its chunks are durable.
 *
 * Every metadata operation is one LMDB write transaction, committed at
 * return but synced to disk lazily (MDB_NOSYNC while now/ is open): a
 * crash of the process loses nothing committed; a crash of the machine
 * loses at most about the last second of metadata changes. File data,
 * size and times are durable after drfs_now_fsync(); everything committed
 * is durable after drfs_now_sync_meta() and after a snapshot. Size and
 * times are persisted (without a sync) at drfs_now_release().
 *
 * Errors: negative errno as POSIX names them for the operation (-ENOENT,
 * -EEXIST, -ENOTEMPTY, -ENOTDIR, -EISDIR, -EINVAL, -ENODATA, -ERANGE,
 * -ENAMETOOLONG, -EXDEV never), -EIO for a repository read failure.
 *
 * Thread rule: every function may be called from any thread; metadata
 * operations are serialized internally, data reads and writes of open
 * files run in parallel.
 */
#ifndef DRFS_NOW_H
#define DRFS_NOW_H

#include <sys/stat.h>

#include "drfs/repo.h"

#define DRFS_NOW_ROOT 1ull

struct drfs_now;
struct drfs_now_file; /* an open file */

struct drfs_now_opts {
	uint64_t cache_size;     /* staging bound in bytes; 0: unbounded */
	double snapshot_every;   /* seconds; 0: never on a schedule */
	bool no_mem_staging;     /* stage every file on disk (no memfd) */
	/* read a data blob (NULL: drfs_repo_blob_read); appends to out */
	int (*read_blob)(void *userdata, const struct drfs_id *id,
			 struct drfs_buf *out);
	void *read_blob_data;
	/* called (from the scheduler thread) after a scheduled snapshot */
	void (*on_snapshot)(void *userdata, int result, const char *folder);
	void *on_snapshot_data;
	/*
	 * now/'s lineage (docs/hosts.md): its snapshots record this host
	 * and path, and now/ starts from and follows the newest snapshot of
	 * both, never another host's or path's.
	 */
	const char *host;        /* NULL: drfs_hostname() */
	const char *path;        /* NULL: "now" */
	/*
	 * Start from this snapshot instead (drfs mount --from), when now/
	 * is new or has no changes since its last snapshot; -EBUSY when it
	 * has. Read by drfs_now_open() only.
	 */
	const struct drfs_id *from;
	/* each finding of the dedup-loss guard at a commit (a corrupted or
	 * missing old copy, healed or not; docs/verification.md), from the
	 * thread that commits; NULL: only in drfs_now_status */
	drfs_report_fn report;
	void *report_data;
};

/*
 * Open the now/ state of r's cache directory, recovering after a crash
 * (staging files not covered by LMDB are removed, files whose chunks were
 * not durable are chunked again). A cache without now/ state starts from
 * the newest snapshot of now/'s lineage (o->host, o->path), or o->from;
 * one whose state is clean follows a newer snapshot of its lineage (made
 * through another cache) and leaves a snapshot of another lineage. -EBUSY
 * (with a message logged) when o->from is given but now/ has changes
 * since its last snapshot. Starts the background chunker.
 */
int drfs_now_open(struct drfs_repo *r, const struct drfs_now_opts *o,
		  struct drfs_now **ret);
/*
 * Stop background work and drain: chunk what is staged in memory, flush
 * the writer (uploads), unstage what became durable, and write what is
 * still in memory (an upload failed, a file is open) to staging files,
 * fsync'd. Returns 0, or a negative errno when something could not be
 * uploaded (it stays staged in the cache directory: the next
 * drfs_now_open picks it up) or was lost (a file staged in memory that
 * could not be written to the cache directory); drfs_repo_last_error()
 * then says why. Idempotent; afterwards only drfs_now_status and
 * drfs_now_free may be called.
 */
int drfs_now_stop(struct drfs_now *n);
/* drfs_now_stop (unless done) and free. NULL ok. */
void drfs_now_free(struct drfs_now *n);

/* ---- metadata ---------------------------------------------------------- */

int drfs_now_getattr(struct drfs_now *n, uint64_t ino, struct stat *ret);
/* Child of dir: its attributes (st_ino is the child's inode number). */
int drfs_now_lookup(struct drfs_now *n, uint64_t dir, const char *name,
		    struct stat *ret);

/*
 * Entries of dir whose cookie is > after (0: from the start); cb gets a
 * cookie >= 1 that is stable while the entry exists. cb returning non-zero
 * stops (a positive value is success). "." and ".." are not listed.
 */
typedef int (*drfs_now_dirent_cb)(void *userdata, uint64_t cookie,
				  const char *name, const struct stat *st);
int drfs_now_readdir(struct drfs_now *n, uint64_t dir, uint64_t after,
		     drfs_now_dirent_cb cb, void *userdata);

/* mode includes S_IFMT: S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK. */
int drfs_now_mknod(struct drfs_now *n, uint64_t dir, const char *name,
		   mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
		   struct stat *ret);
int drfs_now_mkdir(struct drfs_now *n, uint64_t dir, const char *name,
		   mode_t mode, uid_t uid, gid_t gid, struct stat *ret);
int drfs_now_symlink(struct drfs_now *n, uint64_t dir, const char *name,
		     const char *target, uid_t uid, gid_t gid,
		     struct stat *ret);
int drfs_now_readlink(struct drfs_now *n, uint64_t ino, char *out,
		      size_t max);
int drfs_now_link(struct drfs_now *n, uint64_t ino, uint64_t dir,
		  const char *name, struct stat *ret);
int drfs_now_unlink(struct drfs_now *n, uint64_t dir, const char *name);
int drfs_now_rmdir(struct drfs_now *n, uint64_t dir, const char *name);
/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE (linux/fs.h values). */
int drfs_now_rename(struct drfs_now *n, uint64_t dir, const char *name,
		    uint64_t newdir, const char *newname, unsigned int flags);

/* Which fields of drfs_now_setattr's st apply. */
#define DRFS_NOW_SET_MODE 1u
#define DRFS_NOW_SET_UID 2u
#define DRFS_NOW_SET_GID 4u
#define DRFS_NOW_SET_SIZE 8u
#define DRFS_NOW_SET_ATIME 16u  /* st_atim (UTIME_NOW resolved by caller) */
#define DRFS_NOW_SET_MTIME 32u
#define DRFS_NOW_SET_CTIME 64u
int drfs_now_setattr(struct drfs_now *n, uint64_t ino, const struct stat *st,
		     unsigned int which, struct stat *ret);

/* flags: XATTR_CREATE, XATTR_REPLACE. */
int drfs_now_setxattr(struct drfs_now *n, uint64_t ino, const char *name,
		      const void *value, size_t len, int flags);
/* Value length; copies it when out != NULL (-ERANGE if max is short). */
int drfs_now_getxattr(struct drfs_now *n, uint64_t ino, const char *name,
		      void *out, size_t max);
/* Names NUL-separated; total length; -ERANGE if max is short (out set). */
int drfs_now_listxattr(struct drfs_now *n, uint64_t ino, char *out,
		       size_t max);
int drfs_now_removexattr(struct drfs_now *n, uint64_t ino, const char *name);

/* ---- file data ------------------------------------------------------- */

/* flags: O_ACCMODE bits and O_TRUNC. -EISDIR etc. */
int drfs_now_open_file(struct drfs_now *n, uint64_t ino, int flags,
		       struct drfs_now_file **ret);
/* Bytes read (short only at end of file). */
ssize_t drfs_now_read(struct drfs_now_file *f, void *buf, size_t len,
		      uint64_t off);
/* Bytes written (all of len) or a negative errno. */
ssize_t drfs_now_write(struct drfs_now_file *f, const void *buf, size_t len,
		       uint64_t off);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE. */
int drfs_now_fallocate(struct drfs_now_file *f, int mode, uint64_t off,
		       uint64_t len);
/* SEEK_DATA / SEEK_HOLE: the offset, -ENXIO past the end. */
int64_t drfs_now_lseek(struct drfs_now_file *f, int64_t off, int whence);
/* Make the file's data and attributes durable (datasync: data only). */
int drfs_now_fsync(struct drfs_now_file *f, bool datasync);
/* Last reference gone. NULL ok. */
void drfs_now_release(struct drfs_now_file *f);

/* ---- snapshots and status ------------------------------------------- */

struct drfs_now_snapshot_opts {
	struct timespec time;         /* zero: now */
	const char *const *tags;
	size_t n_tags;
	bool if_changed;              /* skip (return 0, folder "") if clean */
};

/*
 * Freeze now/, chunk every staged file, write the trees of changed
 * directories, flush the writer and write the snapshot object. Returns 1
 * with the snapshot's folder in ret_folder (32 bytes) once it is durable,
 * 0 if if_changed and nothing changed.
 */
int drfs_now_snapshot(struct drfs_now *n,
		      const struct drfs_now_snapshot_opts *o,
		      char ret_folder[DRFS_FOLDER_BUF]);

struct drfs_now_status {
	bool changed;              /* now/ differs from the last snapshot */
	uint64_t staged_files, staged_bytes; /* data not yet durable */
	uint64_t mem_files, mem_bytes; /* of those, staged in memory */
	uint64_t pending_blobs;    /* blobs handed to the writer, unflushed */
	uint64_t pending_bytes;
	struct timespec last_snapshot; /* zero: none */
	char last_folder[DRFS_FOLDER_BUF];
	uint64_t inodes;
	/* the dedup-loss guard since the mount (docs/verification.md) */
	struct drfs_guard_result guard;
	char guard_last[320]; /* its last finding ("" none), as reported */
};
int drfs_now_status(struct drfs_now *n, struct drfs_now_status *ret);
/*
 * Records of now.log (group commit, docs/now.md) that the open replayed:
 * logged operations of a session that ended before committing them
 * (kill -9, crash). The caller logs them once the log is where it goes.
 */
uint64_t drfs_now_replayed(const struct drfs_now *n);

/*
 * Call fn with a tree describing now/ as it is (stale staged files chunked,
 * the trees of changed directories written, the writer flushed; no
 * snapshot is written, nothing is marked clean) while nothing of now/ can
 * reach the writer, so fn may run garbage collection with that tree as an
 * extra live root. Returns fn's result. Meanwhile metadata operations and
 * writes go on; background chunking and snapshots wait.
 */
int drfs_now_with_live_tree(struct drfs_now *n,
			    int (*fn)(void *ud, const struct drfs_id *root),
			    void *ud);

/*
 * Make every metadata change committed so far durable (fsyncdir; also
 * done by drfs_now_fsync and after a snapshot). Nothing to do, and no
 * disk flush, when nothing was committed since the last sync.
 */
int drfs_now_sync_meta(struct drfs_now *n);

#endif
