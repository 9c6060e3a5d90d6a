/* SPDX-License-Identifier: MIT */
/*
 * ops.h - whole operations on an open repository (ops layer): backup of a
 * directory, restore, check, statistics. They report problems through a
 * callback so the CLI decides how to print; they return a negative errno
 * when the operation as a whole failed, and a count of per-item problems.
 */
#ifndef DRFS_OPS_H
#define DRFS_OPS_H

#include "drfs/repo.h"

/* Per-item messages go to a drfs_report_fn (repo.h); NULL: silent. */

struct drfs_progress {
	uint64_t files, dirs, bytes;     /* walked */
	uint64_t bytes_new;              /* raw bytes of new blobs */
	uint64_t errors;
};

struct drfs_backup_opts {
	const char *dir;
	struct timespec time;            /* zero: now */
	const char *const *tags;
	size_t n_tags;
	bool no_parent;                  /* re-read every file */
	drfs_report_fn report;
	void *report_data;
	volatile struct drfs_progress *progress; /* updated as it goes */
};

struct drfs_backup_result {
	struct drfs_id id;
	char folder[32];
	struct drfs_snapshot snap;
	uint64_t errors; /* files that could not be read (skipped) */
};

int drfs_backup(struct drfs_repo *r, const struct drfs_backup_opts *o,
		struct drfs_backup_result *ret);

struct drfs_restore_opts {
	const char *snapshot; /* spec for drfs_repo_snapshot_find */
	const char *target;
	drfs_report_fn report;
	void *report_data;
	volatile struct drfs_progress *progress;
};

/* Returns the number of entries that could not be restored (>= 0). */
int drfs_restore(struct drfs_repo *r, const struct drfs_restore_opts *o);

struct drfs_check_opts {
	bool read_data;
	uint32_t subset_n, subset_m; /* read-data of packs in subset n/m */
	drfs_report_fn report;
	void *report_data;
};

/* Returns the number of problems found (>= 0). */
int drfs_check(struct drfs_repo *r, const struct drfs_check_opts *o);

struct drfs_stats {
	uint64_t snapshots, packs, blobs, data_blobs, tree_blobs;
	uint64_t repo_bytes;   /* stored bytes of all objects */
	uint64_t pack_bytes;
	uint64_t raw_bytes;    /* unique plaintext */
	uint64_t stored_blob_bytes;
	uint64_t logical_bytes; /* sum of snapshot sizes */
};

int drfs_stats(struct drfs_repo *r, struct drfs_stats *ret);

#endif
