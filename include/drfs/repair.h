/* SPDX-License-Identifier: MIT */
/*
 * repair.h - damaged snapshots rewritten to reference only what exists
 * (ops layer), restic's `repair snapshots`. docs/damage.md describes the
 * rules and the report.
 *
 * What is damaged: a data blob the index does not know, or whose pack is
 * missing (or, with read_data, that does not read and verify); a tree
 * blob likewise, or that does not decode. What a new snapshot keeps:
 *   - a file that lost data keeps its name and metadata; the bytes of each
 *     lost extent are cut out (what follows moves down, the size shrinks
 *     by the lost bytes; holes stay holes): drfs_extents_cut;
 *   - a directory whose tree is lost becomes empty (its entry, name and
 *     metadata stay), the snapshot's root directory too;
 *   - a snapshot whose "meta" tree (the root's own metadata) is lost gets
 *     none.
 * Nothing is ever rewritten: new tree blobs and a new snapshot object
 * (same time, host, path and tags, plus "repaired-from:<old id>" and one
 * "damaged:<path>" tag per damaged entry while they fit) are written, then
 * the damaged snapshot is forgotten with drfs_forget(); a held one is kept
 * (reported). Before that, the cache is rebuilt from the repository
 * (drfs_repo_repair_index) so that no new blob is deduplicated against a
 * lost one, and afterwards a full index without the lost packs is written
 * (drfs_repo_write_full_index).
 *
 * A dry run changes nothing, not even the cache: the packs the cache
 * knows are checked against a listing of data/ (drfs_repo_missing_packs).
 * A real run starts with drfs_repo_repair_index (r->report tells what it
 * finds), so r need not be synced.
 *
 * Locking: the caller holds an exclusive lock (not needed for dry_run).
 */
#ifndef DRFS_REPAIR_H
#define DRFS_REPAIR_H

#include "drfs/ops.h"

/* Tag of a repaired snapshot: the id (hex) of the one it replaces. */
#define DRFS_REPAIRED_TAG "repaired-from:"
/* One tag per damaged entry, its path in the snapshot (cut to fit). */
#define DRFS_DAMAGED_TAG "damaged:"
/* The number of damaged entries whose tags did not fit. */
#define DRFS_DAMAGED_MORE_TAG "damaged-more:"

/*
 * Whether a read's error means the object is lost (missing, corrupted
 * everywhere), not a passing failure (network, memory) that must stop a
 * repair or copy instead of costing data.
 */
static inline bool drfs_read_lost(int e)
{
	return e == -ENOENT || e == -EBADMSG;
}

struct drfs_repair_opts {
	bool dry_run;   /* report what would change; write and delete nothing */
	bool read_data; /* read and verify every data blob, not just find it */
	/* one line per damaged entry and per snapshot; NULL: silent */
	drfs_report_fn report;
	void *report_data;
};

struct drfs_repair_result {
	uint64_t snapshots;   /* examined */
	uint64_t repaired;    /* damaged snapshots rewritten (would be) */
	uint64_t kept_held;   /* damaged snapshots not forgotten: held */
	uint64_t files;       /* files that lost data (cut) */
	uint64_t dirs;        /* directories emptied */
	uint64_t bytes_lost;  /* bytes cut out of files */
};

/*
 * Rewrite every damaged snapshot of r as described above. Returns 0, or
 * a negative errno (the repository is left valid: a crash or failure
 * leaves at worst a damaged snapshot next to its repaired one, and a
 * second run forgets it without writing another).
 */
int drfs_repair_snapshots(struct drfs_repo *r, const struct drfs_repair_opts *o,
			  struct drfs_repair_result *ret);

/*
 * restic's rule for a file that lost data (pure): v[0..n) are a file's
 * extents in offset order, lost[i] marks those that are gone. Their bytes
 * are cut out: the kept extents are compacted to the front of v, each
 * moved down by the lost bytes before it, and *size shrinks by all lost
 * bytes. Returns the number kept. Holes stay holes.
 */
size_t drfs_extents_cut(struct drfs_extent *v, size_t n, const bool *lost,
			uint64_t *size);

/*
 * The extents of regular file n, each given to fn, which may change it
 * (copy maps its id) and returns 1 when its blob is lost, 0 when not, or
 * a negative errno; the lost ones are cut out (drfs_extents_cut) and
 * n->size shrinks by their bytes (*ret_lost_bytes). *ret_v (malloc'd,
 * free it) and *ret_n hold what stays. Returns the number of lost
 * extents, or a negative errno (nothing allocated).
 */
typedef int (*drfs_extent_fn)(void *userdata, struct drfs_extent *x);
int drfs_extents_rewrite(struct drfs_node *n, drfs_extent_fn fn,
			 void *userdata, struct drfs_extent **ret_v,
			 size_t *ret_n, uint64_t *ret_lost_bytes);

/*
 * Add the damaged-entry tags to s: "damaged:<path>" for paths[0..n) while
 * they fit (always leaving room for one more tag of up to
 * DRFS_TAG_RESERVE bytes, e.g. copy's "copied-from:<id>"), then
 * "damaged-more:<count>" for the rest. Paths are cut to DRFS_TAG_MAX.
 */
#define DRFS_TAG_RESERVE 80
void drfs_damage_tags(struct drfs_snapshot *s, const char *const *paths,
		      size_t n);

#endif
