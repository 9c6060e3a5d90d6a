/* SPDX-License-Identifier: MIT */
/*
 * ops.h - whole operations on an open repository (ops layer): backup of a
 * directory, restore, check, statistics. They report problems through a
 * callback so the CLI decides how to print; they return a negative errno
 * when the operation as a whole failed, and a count of per-item problems.
 */
#ifndef DRFS_OPS_H
#define DRFS_OPS_H

#include <stdatomic.h>

#include "drfs/pattern.h"
#include "drfs/repo.h"

#include <stdatomic.h>

/* Per-item messages go to a drfs_report_fn (repo.h); NULL: silent. */

/*
 * Counters an operation updates as it goes, from several threads (restore's
 * workers); another thread may read them at any time (a progress line).
 */
struct drfs_progress {
	_Atomic uint64_t files, dirs, bytes; /* walked */
	_Atomic uint64_t bytes_new;          /* raw bytes of new blobs */
	_Atomic uint64_t errors;
	_Atomic uint64_t kept;               /* restore: existing entries kept */
	_Atomic uint64_t bytes_total;        /* restore: the snapshot's size;
						0: not known */
	/*
	 * What it is doing now, a static string ("reading packs"), and what
	 * files counts in it ("packs"); NULL: its only phase, files. Set as
	 * a phase starts, with the counters it uses (bytes, bytes_total,
	 * files) reset by the operation.
	 */
	_Atomic(const char *) phase;
	_Atomic(const char *) unit;
	_Atomic double phase_start; /* drfs_now_mono() as it began; 0: none */
};

/* Enter a phase (see phase above); a no-op without p. */
void drfs_progress_phase(struct drfs_progress *p, const char *phase,
			 const char *unit, uint64_t bytes_total);

struct drfs_backup_opts {
	const char *dir;
	struct timespec time;            /* zero: now */
	const char *host;                /* recorded host; NULL: this one */
	const char *const *tags;
	size_t n_tags;
	bool no_parent;                  /* re-read every file */
	/*
	 * Write no snapshot when the directory's trees equal those of the
	 * newest snapshot of the same host and path (ret->unchanged).
	 */
	bool skip_if_unchanged;
	/* entries left out (docs/backup.md, "What is backed up") */
	const struct drfs_excludes *excludes; /* NULL: none */
	bool exclude_caches;  /* a CACHEDIR.TAG directory: only the tag */
	bool one_file_system; /* not into other file systems */
	/*
	 * Write nothing (no lock, pack, index object or snapshot): ret->snap
	 * says what the snapshot would hold, its added_bytes and added_blobs
	 * the raw bytes and blobs not yet in the repository; no id, no
	 * folder (ret->unchanged as in a real run).
	 */
	bool dry_run;
	drfs_report_fn report;
	void *report_data;
	struct drfs_progress *progress; /* NULL, or updated as it goes */
};

struct drfs_backup_result {
	struct drfs_id id;
	char folder[DRFS_FOLDER_BUF];    /* the name it got, for good */
	struct drfs_snapshot snap;
	uint64_t errors; /* files that could not be read (skipped) */
	/*
	 * skip_if_unchanged and nothing changed: no snapshot was written;
	 * id, folder and snap are those of the existing snapshot.
	 */
	bool unchanged;
	/* the dedup-loss guard's work (r->verify_budget; verification.md) */
	struct drfs_guard_result guard;
};

int drfs_backup(struct drfs_repo *r, const struct drfs_backup_opts *o,
		struct drfs_backup_result *ret);

/*
 * What restore does with an entry already in the target where the snapshot
 * has one of the same kind (docs/restore.md). An entry of another kind in
 * the way is a conflict in every mode but REPLACE: named, left as it is,
 * its subtree not restored, counted as a failure.
 */
enum drfs_overwrite {
	DRFS_OVERWRITE_ALWAYS = 0, /* rewrite files, replace symlinks etc. */
	DRFS_OVERWRITE_IF_CHANGED, /* keep a file whose content matches */
	DRFS_OVERWRITE_IF_NEWER,   /* only if the snapshot's mtime is newer */
	DRFS_OVERWRITE_NEVER,      /* keep every existing entry */
	DRFS_OVERWRITE_REPLACE,    /* ALWAYS, and a non-directory of another
				      kind in the way is removed */
};
/* "always", "if-changed", "if-newer", "never", "replace"; -EINVAL. */
int drfs_overwrite_parse(const char *s, enum drfs_overwrite *ret);

/* What restore would do with one entry (drfs_restore_opts.dry_run). */
enum drfs_restore_action {
	DRFS_RESTORE_CREATE,    /* nothing there: created */
	DRFS_RESTORE_OVERWRITE, /* one of the same kind there: rewritten */
	DRFS_RESTORE_REPLACE,   /* one of another kind there: removed first
				   (--overwrite replace) */
	DRFS_RESTORE_KEEP,      /* the one there is left (the overwrite mode,
				   or a file whose content matches) */
	DRFS_RESTORE_LINK,      /* a hard link to a name restored before */
};
/* "create", "overwrite", "replace", "keep", "link". */
const char *drfs_restore_action_name(enum drfs_restore_action a);

struct drfs_restore_opts {
	const char *snapshot; /* spec for drfs_repo_snapshot_find */
	const char *target;
	/*
	 * NULL or "": the whole snapshot, its root's contents into target.
	 * Else a path inside the snapshot ("home/alice", '/'-separated,
	 * empty components ignored): a directory's contents go into target
	 * (which gets the directory's metadata, as the root's otherwise),
	 * any other entry becomes target/NAME. -ENOENT (message in
	 * drfs_repo_last_error()) when the path is not in the snapshot,
	 * -ENOTDIR when a component before the last is not a directory.
	 */
	const char *subpath;
	enum drfs_overwrite overwrite;
	/*
	 * NULL: everything. Else only the regular files for which it returns
	 * true (path relative to the target) are restored, devices, FIFOs
	 * and sockets are not, and hard links are not made (the drill's
	 * sample).
	 */
	bool (*want_file)(void *data, const char *path);
	void *want_data;
	/*
	 * Paths (relative to the snapshot's root, as backup's excludes):
	 * an entry exclude matches is not restored, nor anything below it;
	 * with include (n > 0) only the entries it matches, everything below
	 * a directory it matches, and the directories on the way to them (a
	 * directory made on the way that stays empty is removed again).
	 * NULL: no filter.
	 */
	const struct drfs_excludes *include, *exclude;
	/*
	 * Change nothing in target (which need not exist; nothing is
	 * created): call plan for each entry with what a restore would do,
	 * its path relative to target, its mode and size; a directory
	 * already there is entered without a call. Conflicts are reported
	 * (and counted) as in a real run; progress counts the files and
	 * bytes that would be written and the entries kept.
	 */
	bool dry_run;
	void (*plan)(void *data, enum drfs_restore_action a, const char *path,
		     uint32_t mode, uint64_t size);
	void *plan_data;
	drfs_report_fn report;
	void *report_data;
	struct drfs_progress *progress; /* NULL, or updated as it goes */
};

/*
 * Restore a snapshot, or the part subpath selects, into target (created if
 * missing). Nothing outside
 * target is created, written, changed or linked to, whatever target
 * already holds and whatever the snapshot says: every path is resolved
 * beneath target's fd without following a symlink, names that are not
 * file names are refused, a hard link is made only to a file this restore
 * wrote. Returns the number of entries that could not be restored (>= 0;
 * each reported), or a negative errno when it could not run at all (also
 * -ENOSPC, -ENOMEM part way).
 */
int drfs_restore(struct drfs_repo *r, const struct drfs_restore_opts *o);

struct drfs_check_opts {
	bool read_data;
	/* read-data of the 1/m of the packs verified longest ago (1 <=
	 * subset_n <= subset_m; n only places the packs this cache never
	 * verified: docs/verification.md); subset_m 0: every pack */
	uint32_t subset_n, subset_m;
	drfs_report_fn report;
	void *report_data;
	/* NULL, or: phases; reading packs with bytes_total the packs' size,
	 * bytes read so far, files the packs read */
	struct drfs_progress *progress;
};

/*
 * Returns the number of problems found (>= 0). Also reports, as
 * "warning: ..." lines that are not problems, files and directories of a
 * local repository and of the cache directory that grant group or other
 * users any access.
 */
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
