/* SPDX-License-Identifier: MIT */
/*
 * fsint.h - internals of the fs layer (src/fs/): the inode model kept in
 * LMDB (inode.c), the chunk cache of the read path (fscache.c) and the FUSE
 * glue (mount.c). Nothing outside src/fs/ includes this header.
 *
 * Inode numbers (docs/mount.md):
 *   bits 63..56  view namespace: 0 virtual, 1 snapshots/, 2 now/
 *   bits 55..0   virtual: fixed numbers, day folders and info files;
 *                views: a counter
 *                allocated in LMDB the first time a directory is read
 * Virtual inodes are computed, never stored. View inodes live in LMDB only
 * (nothing per inode in RAM), so FUSE forget has nothing to free.
 *
 * LMDB layout (keys big-endian so ranges scan in order):
 *   FS_RECS    ino           -> struct fs_inode (rec_encode, varints)
 *   FS_EXTENTS ino end       -> le64 off | le32 len | id[32]  (by end)
 *   FS_ORDER   dir be32 idx  -> be64 ino | u8 dtype | name (readdir order)
 *   INODES  'x' ino name      -> xattr value
 *           'h' root srcino   -> be64 ino  (hard-link groups of one view)
 *           "next"            -> be64 next inode counter
 *   DIRENTS 'n' dir name      -> be64 ino | u8 dtype
 *   TREES   's' snapshot id   -> be64 root inode of snapshots/<folder>
 *           'w' snapshot id   -> be64 root inode of now/ (while it is latest)
 *   INODES, DIRENTS, TREES: "fsgen" -> 16 bytes; all three equal or all
 *   six databases cleared. FS_* and DIRENTS 'n' are written in key order
 *   when they can be (drfs_kv_append: full pages).
 *
 * Thread rule: every function here may be called from any FUSE thread.
 */
#ifndef DRFS_FSINT_H
#define DRFS_FSINT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "drfs/base.h"
#include "drfs/buf.h"
#include "drfs/fs.h"
#include "drfs/now.h"
#include "drfs/repo.h"

#define FS_NS_SHIFT 56
#define FS_NS_VIRT 0ull
#define FS_NS_SNAP 1ull
#define FS_NS_NOW 2ull
#define FS_NS(ino) ((uint64_t)(ino) >> FS_NS_SHIFT)

#define FS_INO_ROOT 1ull
#define FS_INO_SNAPSHOTS 2ull
#define FS_INO_LATEST 3ull
/* snapshots/YYYY-MM-DD: FS_INO_DAY_BASE + days since 1970-01-01 */
#define FS_INO_DAY_BASE (1ull << 32)
/* info/ (info.c): info/YYYY-MM-DD is FS_INO_INFO_DAY_BASE + days, and
 * info/DAY/TIME.json FS_INO_INFO_FILE | 55 low bits of the snapshot id */
#define FS_INO_INFO 4ull
#define FS_INO_INFO_DAY_BASE (FS_INO_DAY_BASE + (1ull << 31))
#define FS_INO_INFO_FILE (1ull << 55)

/* struct fs_inode.flags */
#define FS_I_LOADED 1u /* directory entries are in DIRENTS */
#define FS_I_ROOT 2u   /* root of a view (snapshot folder or now/) */

struct fs_inode {
	uint64_t ino;
	uint64_t parent; /* directory it was first found in (for paths) */
	uint64_t root;   /* root inode of its view */
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	uint64_t blocks; /* 512-byte units: data extents, rounded up */
	uint64_t rdev;
	struct timespec atime, mtime, ctime;
	uint32_t flags;
	uint32_t n_xattrs;
	uint32_t n_extents;
	struct drfs_id subtree; /* directories: tree blob */
	uint8_t name_len;
	char name[DRFS_NAME_MAX + 1]; /* NUL-terminated (may contain bytes) */
	uint16_t target_len;
	char target[DRFS_PATH_MAX + 1]; /* symlinks */
};

/* One snapshot as the mount shows it (a compact copy of drfs_snap_info). */
struct fs_snap {
	struct drfs_id id;
	struct drfs_id root;
	struct drfs_id meta; /* the root's own attributes; zero: none */
	struct timespec time;
	char folder[DRFS_FOLDER_BUF];
};

struct fs_chunk_cache;

struct fs {
	struct drfs_repo *repo;
	/* its folder in a several-repository mount (drfs_log): its threads'
	 * and request handlers' lines start with it; NULL: none */
	const char *log_prefix;
	struct fs_chunk_cache *cache;
	uint64_t cache_size;

	pthread_mutex_t snap_lock; /* protects snaps, n_snaps, snaps_loaded,
				      latest */
	struct fs_snap *snaps;     /* oldest first */
	size_t n_snaps;
	size_t latest;             /* snaps[] index of latest; SIZE_MAX none */
	char host[DRFS_HOST_MAX_BUF]; /* latest is the newest of this host */
	double snaps_loaded; /* drfs_now_mono() of the last refresh */
	/*
	 * While reads come from a replica (replica.h), only snapshots
	 * complete there are shown. Verdicts, by snapshot id: complete ones
	 * for good (snapshots are immutable), incomplete ones until
	 * trust_retry (replication may catch up).
	 */
	struct fs_trust { struct drfs_id id; bool complete; } *trust;
	size_t n_trust;
	double trust_retry;  /* drfs_now_mono() when to check again */
	uint64_t mount_time;

	pthread_mutex_t log_lock; /* protects logged[] */
	uint64_t logged[64];      /* inodes whose bad data was logged */

	/* read-ahead across the files of a directory (ahead.c) */
	pthread_mutex_t ahead_lock; /* protects ahead[], ahead_clock */
	struct fs_ahead_dir {
		uint64_t dir;
		uint32_t next;   /* readdir index after the last file opened */
		uint32_t queued; /* entries below this index were queued */
		uint64_t used;   /* LRU clock; 0: free slot */
	} ahead[8];
	uint64_t ahead_clock;

	struct drfs_now *now;     /* the writable now/ (now.h), NULL: none */
	const char *mountpoint;
	const struct drfs_mount_opts *opts; /* as given to drfs_fs_mount (also
					      the stats hook, textfile) */
	void *se;                 /* struct fuse_session, for invalidations */

	/* retention (fs.h hooks; NULL: none) and its background gc */
	const struct drfs_mount_retention *ret;
	pthread_mutex_t gc_lock;  /* protects the gc_* fields below */
	pthread_cond_t gc_cond;
	pthread_t gc_thread;
	bool gc_started;
	bool gc_quit;
	bool gc_wanted;           /* a forget happened since gc last started */
	bool gc_running;
	double gc_not_before;     /* drfs_now_mono(): retry after -EBUSY */
	uint64_t gc_runs;         /* finished runs */
	char gc_state[600];       /* "done: ...", "failed: ..." (status) */

	/*
	 * The mount's shared lock (NULL: none could be written) and the
	 * deletion records it has acknowledged (docs/retention.md): the gc
	 * thread checks for new ones every minute and after each snapshot,
	 * rescues now/'s blobs out of their packs, then acknowledges.
	 */
	struct drfs_lock *lock;
	struct drfs_id *acked;    /* gc thread only */
	size_t n_acked;
	double del_last;          /* (gc_lock) drfs_now_mono() of the check */
	bool del_check;           /* (gc_lock) a snapshot asks for a check */
	char del_state[400];      /* (gc_lock) "deletions: ..." (status) */

	/* `drfs prune` handed over by the CLI (ctl), run by the gc thread */
	struct fs_prune_req *prune_q; /* (gc_lock) waiting requests */
	struct fs_prune_res {
		pid_t pid;    /* the requester; 0: free slot */
		char *text;
		size_t len;
	} prune_res[4];               /* (gc_lock) results not yet fetched */

	/* control requests set with FS_CTL_DEFER, not yet run */
	pthread_mutex_t ctl_lock;
	struct fs_ctl_defer {
		pid_t pid; /* the requester; 0: free slot */
		uid_t uid; /* its user: a reused pid runs nothing of another */
		char name[32];
		char *args;
		size_t len;
	} ctl_defer[4]; /* (ctl_lock) */

	/* monitoring (src/fs/facts.c, docs/monitoring.md) */
	pthread_mutex_t facts_lock; /* protects the facts_* fields below */
	pthread_cond_t facts_cond;
	pthread_t facts_thread;
	bool facts_started, facts_quit;
	double facts_empty;    /* drfs_now_mono() the backlog was last empty */
	double facts_shrunk;   /* ... last smaller than before, or empty */
	uint64_t facts_backlog; /* bytes at the last sample */
	_Atomic int64_t last_check; /* --snapshot-every found nothing: time */
	bool have_stats;
	double stats_at;       /* drfs_now_mono() of stats */
	struct drfs_facts *stats; /* the stats figures (have_stats) */
	int http_fd;           /* --metrics-listen socket; -1 none */
	pthread_t http_thread;
	bool http_started;
	atomic_bool http_quit;

	/* the held snapshots the info files show (info.c) */
	pthread_mutex_t info_lock; /* protects the holds* fields below */
	struct drfs_id *holds;
	size_t n_holds;
	double holds_at;           /* drfs_now_mono() of the listing; 0 none */
};

struct fs_prune_req {
	struct fs_prune_req *next;
	const char *args;
	size_t len;
	pid_t pid;
	bool done;
	int rc;
	struct drfs_buf out;
};

/* now/ inodes: FS_NS_NOW in the top byte, the now.h number below. */
#define FS_NOW_INO(n) ((FS_NS_NOW << FS_NS_SHIFT) | (uint64_t)(n))
#define FS_NOW_NUM(ino) ((uint64_t)(ino) & ((1ull << FS_NS_SHIFT) - 1))

/* ---- ahead.c: read-ahead across files ------------------------------------ */

/*
 * File ino of directory dir is being read for the first time since it was
 * opened: queue the first chunks of the files after it (readdir order) for
 * the prefetch threads. Cheap.
 */
void fs_ahead_first_read(struct fs *fs, uint64_t dir, uint64_t ino);

/* ---- ctl.c: the control channel (xattrs of the mount root) -------------- */

/*
 * A path of /proc/self/mountinfo, in place: the kernel escapes ' ', '\t',
 * '\n' and '\\' there as \ooo.
 */
void fs_mountinfo_unescape(char *s);
/* Whether name is a control attribute ("user.drfs."). */
bool fs_ctl_is(const char *name);
/* handled by mount.c: the repository, prune requests and their results */
#define FS_CTL_REPO "user.drfs.repo"
#define FS_CTL_PRUNE "user.drfs.prune"
#define FS_CTL_PRUNE_RESULT "user.drfs.prune-result"
#define FS_CTL_PRUNE_MAX 8192 /* bytes of a request */
/*
 * A request set with "defer\n" before its arguments is only kept; the
 * same process's getxattr of FS_CTL_RUN runs it (the kernel holds the
 * root's inode lock through a setxattr, not through a getxattr: `ls` of
 * the mount waited for a whole snapshot or prune). See ctl.c.
 */
#define FS_CTL_DEFER "defer\n"
#define FS_CTL_RUN "user.drfs.run"
/*
 * The value of user.drfs.repo: lines "ID", "CACHE-DIR", then "key=value"
 * lines naming how the repository was opened (url, endpoint, region,
 * profile, path-style, no-encryption; never a secret; a value holding a
 * newline is left out). Its length, or -ERANGE when longer than len.
 */
int fs_ctl_repo_text(const struct fs *fs, char *out, size_t len);
/* user.drfs.snapshot: take a snapshot (blocks until durable). */
int fs_ctl_setxattr(struct drfs_now *n, const char *name, const char *value,
		    size_t len);
/*
 * user.drfs.last-snapshot, user.drfs.status, user.drfs.unmount-report of
 * fs: value length (max 0: size). extra (may be NULL): lines appended to
 * the status (retention, gc).
 */
int fs_ctl_getxattr(struct fs *fs, const char *name, const char *extra,
		    char *out, size_t max);
/*
 * Daemon, at unmount: write the unmount report (ok, and the lines
 * drfs umount shows) in cache_dir, fsync'd.
 */
int fs_ctl_report_write(const char *cache_dir, bool ok, const char *text);
/*
 * Client: the path of the unmount report of the daemon serving
 * mountpoint; -ENODATA (and others) when it writes none.
 */
int fs_ctl_report_path(const char *mountpoint, char *out, size_t len);
/*
 * Client, once the daemon has exited: show the report at path (each line
 * as an error) and remove it. 0 if the unmount went well, else -EIO (also
 * when there is no report: the daemon was killed).
 */
int fs_ctl_report_read(const char *path);

/* ---- inode.c ---------------------------------------------------------- */

/* Check the fsgen markers; clear the fs databases if they disagree. */
int fs_index_prepare(struct fs *fs);
/* Root inode of the view of snapshot sn (ns FS_NS_SNAP or FS_NS_NOW). */
int fs_view_root(struct fs *fs, const struct fs_snap *sn, uint64_t ns,
		 const char *name, uint64_t *ret_ino);
int fs_inode_get(struct fs *fs, uint64_t ino, struct fs_inode *ret);
/* Make sure directory dir has its entries in DIRENTS. */
int fs_dir_load(struct fs *fs, const struct fs_inode *dir);
/* Look name up in a loaded view directory: child inode. -ENOENT. */
int fs_dir_lookup(struct fs *fs, uint64_t dir, const char *name,
		  uint64_t *ret_ino);

typedef int (*fs_dirent_cb)(uint32_t idx, uint64_t ino, uint8_t dtype,
			    const char *name, void *userdata);
/* Entries of a loaded directory from index idx on while cb returns 0. */
int fs_dir_list(struct fs *fs, uint64_t dir, uint32_t idx, fs_dirent_cb cb,
		void *userdata);

/* Extent containing or after off: 1 and filled, 0 if none. */
struct fs_extent {
	uint64_t off;
	uint32_t len;
	struct drfs_id id;
};
/* Up to max extents ending after off, in order; returns the count. */
int fs_extents_from(struct fs *fs, uint64_t ino, uint64_t off,
		    struct fs_extent *out, int max);

/* getxattr: value length; copies at most max bytes when out != NULL. */
int fs_xattr_get(struct fs *fs, uint64_t ino, const char *name, void *out,
		 size_t max);
/* listxattr: names NUL-separated into out (max bytes); total length. */
int fs_xattr_list(struct fs *fs, uint64_t ino, char *out, size_t max);

/* Path of a view inode relative to the mount root, into out (best effort). */
void fs_inode_path(struct fs *fs, uint64_t ino, char *out, size_t max);

/* ---- fscache.c -------------------------------------------------------- */

struct fs_chunk; /* a decoded data blob, reference counted */

/*
 * The in-memory bound of every chunk cache of the process is divided by n
 * (the repositories of a several-repository mount; default 1).
 */
void fs_cache_share(unsigned n);
int fs_cache_new(struct drfs_repo *repo, uint64_t disk_bytes,
		 struct fs_chunk_cache **ret);
void fs_cache_free(struct fs_chunk_cache *c);
/* Get a decoded chunk (from memory, disk or the repository). */
int fs_cache_get(struct fs_chunk_cache *c, const struct drfs_id *id,
		 struct fs_chunk **ret);
/*
 * How many chunks the request threads asked fs_cache_get for, and how many
 * of those were not in memory ready (loaded or waited for a load).
 */
void fs_cache_stats(struct fs_chunk_cache *c, uint64_t *ret_reads,
		    uint64_t *ret_waited);
const uint8_t *fs_chunk_data(const struct fs_chunk *ch, size_t *ret_len);
void fs_chunk_put(struct fs_chunk *ch); /* accepts NULL */
/* Start fetching a chunk in the background (best effort, never blocks). */
void fs_cache_prefetch(struct fs_chunk_cache *c, const struct drfs_id *id);

#endif
