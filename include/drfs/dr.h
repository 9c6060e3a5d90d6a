/* SPDX-License-Identifier: MIT */
/*
 * dr.h - disaster recovery operations (ops layer): the restore drill, copying
 * snapshots between repositories, and checking that a snapshot is complete
 * on a backend (a replica) before trusting it.
 *
 * Like ops.h: per-item problems (file names, blob ids) go to the report
 * callback; the return value is a negative errno when the operation as a
 * whole failed.
 */
#ifndef DRFS_DR_H
#define DRFS_DR_H

#include <limits.h>

#include "drfs/ops.h"

/* ---- drill -------------------------------------------------------------- */

struct drfs_drill_opts {
	const char *snapshot; /* spec for drfs_repo_snapshot_find; NULL: latest */
	const char *scratch;  /* parent of the scratch directory; NULL:
				 $TMPDIR, else /tmp */
	/*
	 * Percentage (0 < sample <= 100) of regular files whose content is
	 * restored and verified, chosen by a seeded hash of the path. Below
	 * 100 the drill does not run drfs_restore but restores the sampled
	 * files itself; every tree is still read and every entry's metadata
	 * decoded and checked, and every extent's blob must be indexed.
	 */
	double sample;
	uint64_t seed;
	bool keep;            /* leave the restored tree (path in result) */
	drfs_report_fn report;
	void *report_data;
	/* NULL, or: phases restoring (as drfs_restore; a sample without a
	 * total), verifying (total: the bytes restored) */
	struct drfs_progress *progress;
};

struct drfs_drill_result {
	struct drfs_snap_info snap;
	char dir[PATH_MAX];       /* the restored tree: tree/ in a new 0700
				     scratch directory */
	uint64_t entries;         /* entries walked (all of the snapshot) */
	uint64_t files;           /* regular files restored and verified */
	uint64_t bytes;           /* their bytes */
	uint64_t files_total;     /* regular files in the snapshot */
	uint64_t bytes_total;
	uint64_t restore_errors;  /* entries the restore could not write */
	uint64_t mismatches;      /* entries that differ from the snapshot */
	/* the restore alone: the time-to-restore (the measured RTO); of the
	 * sample only when sampled */
	double restore_seconds;
	double verify_seconds;    /* the verification alone, after it */
};

/*
 * Restore a snapshot into a new scratch directory, verify every restored
 * entry against the snapshot (type, size, mode, owner when root, mtime,
 * xattrs, symlink targets, hard links, and the content: the blob id of
 * every extent recomputed from the restored bytes, holes all zero), then
 * remove the directory unless keep. Returns 0 when everything matched, the
 * number of problems (> 0), or a negative errno.
 */
int drfs_drill(struct drfs_repo *r, const struct drfs_drill_opts *o,
	       struct drfs_drill_result *ret);

/* ---- copy --------------------------------------------------------------- */

/* Tag put on a copied snapshot: "copied-from:" + the source snapshot id. */
#define DRFS_COPY_TAG "copied-from:"

struct drfs_copy_opts {
	const char *const *snapshots; /* specs; n_snapshots 0: all */
	size_t n_snapshots;
	/* the snapshots "latest" chooses from (this host's); NULL: all */
	const struct drfs_snap_filter *latest;
	drfs_report_fn report;
	void *report_data;
	/* NULL, or: files the snapshots copied, bytes the plaintext read
	 * from src, bytes_new the pack bytes written to dst */
	struct drfs_progress *progress;
};

struct drfs_copy_result {
	uint64_t copied, skipped;        /* snapshots */
	uint64_t blobs_new, blobs_dup;
	uint64_t bytes_read;             /* plaintext read from src */
	uint64_t bytes_stored;           /* pack bytes written to dst */
};

/*
 * Copy snapshots from src to dst, re-encrypting with dst's keys: every
 * blob is read and verified from src and put through a writer on dst,
 * which stores only what dst lacks (by dst's own blob ids); trees are
 * rebuilt bottom-up with dst's ids; the snapshot object is written last
 * with the tag DRFS_COPY_TAG<src id>. A src snapshot is skipped when dst
 * already has a snapshot with the same id or one tagged as its copy (or
 * when it is itself a copy of a dst snapshot).
 */
int drfs_copy(struct drfs_repo *src, struct drfs_repo *dst,
	      const struct drfs_copy_opts *o, struct drfs_copy_result *ret);

/* ---- mirror (no keys) ---------------------------------------------------- */

struct drfs_mirror_opts {
	/* seconds an object must have been missing from the source before
	 * the mirror loses it too */
	int64_t delete_after;
	/* the file remembering since when (NULL: nothing is ever deleted) */
	const char *state_path;
	int threads;      /* parallel copies; 0: 4 */
	bool verify_etag; /* compare ETags where both are MD5s, not only
			     sizes (off for SSE-KMS buckets) */
	bool dry_run;     /* list what would be done, change nothing */
	drfs_report_fn report; /* each problem, named */
	void *report_data;
};

struct drfs_mirror_result {
	uint64_t copied, copied_bytes; /* (dry run: would be copied) */
	uint64_t present;        /* already on the mirror, the same */
	uint64_t replaced;       /* "policy", replaced */
	uint64_t differ;         /* on both sides, not the same: left */
	uint64_t failed;         /* copies and deletes that failed */
	uint64_t deleted;        /* gone from the source long enough */
	uint64_t pending_delete; /* gone from the source, not long enough */
	bool snapshots_held;     /* snapshots not copied (earlier failures) */
};

/*
 * Make dst object-identical to src, a repository, without its keys: copy
 * what dst lacks (create-only; keys/, config, the rest, snapshots last),
 * verify each copy by size and ETag, delete from dst what src no longer
 * has once it has been missing for delete_after (docs/disaster-recovery.md).
 * Objects under locks/ are not mirrored. Returns the number of problems
 * (failed + differ; each reported), or a negative errno (-EEXIST: dst holds
 * another repository; -ENOENT: src holds none).
 */
int drfs_mirror(struct drfs_backend *src, struct drfs_backend *dst,
		const struct drfs_mirror_opts *o,
		struct drfs_mirror_result *ret);

/* ---- Object Lock retention ------------------------------------------------ */

/* Called once per object with the time its retention must last until. */
typedef int (*drfs_retain_fn)(void *userdata, const char *name,
			      time_t until);

/*
 * The objects reachable from the snapshots inside the retention window
 * (snapshot time >= now - window seconds), each with the time it must be
 * retained until: the latest (time + window) of the snapshots that reach
 * it. Reachable: the snapshot objects, the packs holding their trees and
 * file blobs, config and keys/ (until the latest of all). index/ objects
 * are not included: they can be rebuilt from the packs (repair index).
 * Returns the number of objects, or a negative errno (also cb's).
 */
int drfs_retention_plan(struct drfs_repo *r, int64_t window, time_t now,
			drfs_retain_fn cb, void *userdata);

/* What drfs_lock_audit found. */
struct drfs_lock_audit {
	size_t snapshots;
	/* protected: every object the snapshot needs (its snapshot object,
	 * the packs of its trees and file blobs, config, keys/) is retained
	 * beyond now */
	size_t protected, unprotected;
	int64_t protected_until; /* earliest end among the protected ones */
	struct drfs_snap_info oldest_unprotected, newest_unprotected;
	bool latest_unprotected; /* the newest snapshot is not protected */
	/* an object the oldest unprotected snapshot needs that is not
	 * retained beyond now */
	char oldest_why[DRFS_OBJECT_NAME_MAX];
};

/*
 * Which snapshots S3 Object Lock protects at time now: the retention of
 * every object each one needs (GET ?retention once per object). 0 and *ret;
 * -EOPNOTSUPP when the backend or the bucket has no Object Lock.
 */
int drfs_lock_audit(struct drfs_repo *r, time_t now,
		    struct drfs_lock_audit *ret);

#endif
