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
	double restore_seconds;   /* time-to-restore (the measured RTO) */
	double verify_seconds;
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

#endif
