/* SPDX-License-Identifier: MIT */
/*
 * prune.h - retention (ops layer): keep-policies, holds, forgetting
 * snapshots and garbage collection of the packs no snapshot needs.
 * docs/retention.md explains the rules, the gc algorithm, the lock
 * protocol and why a crash at any point leaves a valid repository.
 *
 * Locking: drfs_gc() does NOT lock: the caller holds an exclusive lock
 * (include/drfs/lock.h) for its whole duration and then deletes at once,
 * or a prune lock (opts.deferred) while other processes hold shared
 * locks, and then dooms packs by deletion records instead of deleting
 * them; drfs_prune() takes one itself unless told not to. drfs_forget()
 * needs no lock (removing snapshots only makes a running gc keep more than
 * needed). No writer of the calling process may be active during
 * drfs_gc(): packs uploaded but not yet referenced by a snapshot (or by
 * opts->roots) are garbage to it.
 */
#ifndef DRFS_PRUNE_H
#define DRFS_PRUNE_H

#include "drfs/ops.h"
#include "drfs/repo.h"

/* ---- policies (struct drfs_policy: format.h) ----------------------------- */

/* Why a snapshot was kept (bits of struct drfs_policy_verdict.reasons). */
enum {
	DRFS_KEEP_LAST = 1u << 0,
	DRFS_KEEP_HOURLY = 1u << 1,
	DRFS_KEEP_DAILY = 1u << 2,
	DRFS_KEEP_WEEKLY = 1u << 3,
	DRFS_KEEP_MONTHLY = 1u << 4,
	DRFS_KEEP_YEARLY = 1u << 5,
	DRFS_KEEP_WITHIN = 1u << 6,
	DRFS_KEEP_TAG = 1u << 7,
	DRFS_KEEP_HOLD = 1u << 8, /* set by the caller, never by apply */
};

struct drfs_policy_verdict {
	bool keep;
	unsigned reasons;
	size_t group; /* number of the snapshot's group, 0.. in key order */
};

/*
 * What splits snapshots into the groups a policy applies to separately
 * (restic's --group-by): the host, the path (a backup's directory, a
 * mount's name), the set of tags. 0: all snapshots are one group.
 */
enum {
	DRFS_GROUP_HOST = 1u << 0,
	DRFS_GROUP_PATH = 1u << 1,
	DRFS_GROUP_TAGS = 1u << 2,
};
#define DRFS_GROUP_DEFAULT (DRFS_GROUP_HOST | DRFS_GROUP_PATH)

/* "host,paths,tags", any subset in any order ("" none); -EINVAL. */
int drfs_group_by_parse(const char *s, unsigned *ret);
/* Order of a's and b's groups (0: same group). */
int drfs_group_cmp(unsigned group_by, const struct drfs_snapshot *a,
		   const struct drfs_snapshot *b);
/*
 * "host \"a\", path \"/srv\"": the group of s, for people, its host, path
 * and tags as drfs_str_show() shows them. Returns out.
 */
char *drfs_group_format(unsigned group_by, const struct drfs_snapshot *s,
			char *out, size_t len);

/* True if the policy has no rule (applying it would remove everything). */
bool drfs_policy_empty(const struct drfs_policy *p);
/*
 * Pure: decide for snaps[0..n) (any order) which are kept; out[i] is the
 * verdict of snaps[i]. restic "forget" semantics: snapshots are walked
 * newest first (ties: larger id first); each count rule keeps the newest
 * snapshot of each of its N most recent buckets (hour, day, ISO week,
 * month, year, all UTC; last: every snapshot is its own bucket); within
 * keeps every snapshot newer than (reference - within), reference being
 * the newest snapshot's time, capped at now (now <= 0: not capped); tag
 * keeps a snapshot carrying any of the tags. -EINVAL for an empty policy.
 */
int drfs_policy_apply(const struct drfs_policy *p,
		      const struct drfs_snap_info *snaps, size_t n, time_t now,
		      struct drfs_policy_verdict *out);
/*
 * drfs_policy_apply() within each group of snapshots separately (each
 * group has its own buckets and its own within reference); sets
 * out[i].group. Returns the number of groups, -EINVAL for an empty
 * policy. drfs_policy_apply() is this with group_by 0.
 */
int drfs_policy_apply_groups(const struct drfs_policy *p, unsigned group_by,
			     const struct drfs_snap_info *snaps, size_t n,
			     time_t now, struct drfs_policy_verdict *out);
/* "daily, weekly" for reasons; out must hold 128 bytes. Returns out. */
char *drfs_policy_reasons(unsigned reasons, char *out);
/* "--keep-daily 7 --keep-weekly 4"; out must hold 256 + DRFS_TAGS_BUF. */
char *drfs_policy_format(const struct drfs_policy *p, char *out, size_t len);

/* Store (replace) / load the repository's policy; load: -ENOENT if none. */
int drfs_policy_store(struct drfs_repo *r, const struct drfs_policy *p);
int drfs_policy_load(struct drfs_repo *r, struct drfs_policy *ret);

/* ---- holds: holds/<snapshot hex>, sealed DRFS_OBJ_HOLD ------------------- */

int drfs_hold_set(struct drfs_repo *r, const struct drfs_id *snap);
/* Removing a hold that does not exist succeeds. */
int drfs_hold_release(struct drfs_repo *r, const struct drfs_id *snap);
/* 1 held, 0 not held, < 0 backend error (a garbage hold object is held). */
int drfs_hold_check(struct drfs_repo *r, const struct drfs_id *snap);
/* Every held snapshot id, with one listing (*ret malloc'd, free()). */
int drfs_holds_list(struct drfs_repo *r, struct drfs_id **ret, size_t *ret_n);
bool drfs_holds_has(const struct drfs_id *v, size_t n, const struct drfs_id *id);

/* ---- forgetting snapshots ------------------------------------------------ */

/*
 * Write the forget record of ids[0..n) (drfs_repo_forget_record), then
 * delete their snapshot objects (and drop them from the cache). Nothing is
 * deleted if any of them is held (-EBUSY) or unknown (-ENOENT). An id the
 * cache knows as vanished (drfs_repo_snapshot_audit) is accepted: the
 * record acknowledges its removal. Data is freed only by a later drfs_gc().
 */
int drfs_forget(struct drfs_repo *r, const struct drfs_id *ids, size_t n);

/* ---- garbage collection -------------------------------------------------- */

struct drfs_gc_opts {
	double max_unused;  /* fraction of live bytes left unused; < 0: 0.05 */
	bool dry_run;       /* compute and report, change nothing */
	/* extra trees to keep alive (e.g. the mount's flushed now/ tree) */
	const struct drfs_id *roots;
	size_t n_roots;
	drfs_report_fn report; /* one line per decision; NULL: silent */
	void *report_data;
	bool exact_bytes;   /* report sizes as "N B", not "1.2 MiB" */
	/*
	 * The caller holds a prune lock, not an exclusive one: other
	 * processes may be using the repository. Doomed packs are then named
	 * by a deletion record and left in place; the packs of records every
	 * live holder has acknowledged are deleted (docs/retention.md).
	 */
	bool deferred;
	const uint8_t *holder; /* the caller's lock id, for the record */
	/*
	 * NULL, or its phases: syncing, marking (files: snapshots), counting
	 * (packs), repacking (total: the packs' size; files: packs read),
	 * writing the index, deleting packs.
	 */
	struct drfs_progress *progress;
};

struct drfs_gc_result {
	uint64_t packs_before, packs_deleted, packs_repacked, packs_written;
	uint64_t pack_bytes_before, pack_bytes_after;
	uint64_t live_blobs, live_bytes;   /* stored bytes of live blobs */
	uint64_t unused_bytes_after;
	uint64_t packs_gone;          /* deleted by this run */
	uint64_t packs_deferred;      /* doomed by this run's records */
	uint64_t packs_pending;       /* doomed earlier, still waiting */
	uint64_t packs_recent;        /* kept: a live writer's, perhaps */
	uint64_t pack_bytes_deferred; /* of the last two */
	uint64_t records_written, records_completed, records_pending;
	struct drfs_id record;        /* the first record written */
	char waiting[1024];           /* holders that have not acknowledged */
};

/*
 * Free the space no snapshot needs: mark every blob reachable from the
 * snapshots (and opts->roots) in LMDB, delete packs without live blobs,
 * repack the emptiest packs until the unused bytes are at most max_unused
 * of the live bytes, write a complete new index, then delete the old packs.
 * Refuses (-EBADMSG, nothing changed) when a snapshot's tree or blob is
 * missing or corrupt. The caller holds an exclusive lock.
 */
int drfs_gc(struct drfs_repo *r, const struct drfs_gc_opts *o,
	    struct drfs_gc_result *ret);

/*
 * For a live writer acknowledging deletion records (the mount): every
 * blob reachable from roots[0..n_roots) whose location in the cache is in
 * a doomed pack is read (the pack still exists) and written again into a
 * new pack, so the trees the writer will commit never need a doomed pack.
 * The caller has synced the records and keeps its own writer idle. The
 * number rewritten goes to *ret_blobs. -EBADMSG: something reachable is
 * missing (reported).
 */
int drfs_gc_rescue(struct drfs_repo *r, const struct drfs_id *roots,
		   size_t n_roots, drfs_report_fn report, void *report_data,
		   uint64_t *ret_blobs);

/* ---- the whole prune ----------------------------------------------------- */

struct drfs_lock;
/*
 * The lock gc needs: exclusive when no other process uses the repository,
 * else a prune lock and *ret_deferred (gc must then set opts.deferred).
 * -EBUSY (why names the holder) while another prune runs.
 */
int drfs_prune_lock(struct drfs_repo *r, struct drfs_lock **ret,
		    bool *ret_deferred, char *why, size_t why_len);

struct drfs_prune_opts {
	const struct drfs_policy *policy; /* NULL: the stored policy */
	/* the policy applies to each group separately; !group_given: by
	 * host and path (DRFS_GROUP_DEFAULT, restic's default) */
	bool group_given;
	unsigned group_by;
	/* only the snapshots it matches are considered; NULL: all */
	const struct drfs_snap_filter *filter;
	struct drfs_gc_opts gc;           /* dry_run applies to all of it */
	bool no_gc;        /* forget only (a shared lock), no gc */
	bool no_lock;      /* the caller already holds an exclusive lock */
	/*
	 * One call per snapshot the policy was applied to: folder, id,
	 * verdict (after holds, v->group its group), group after group,
	 * each oldest first.
	 */
	void (*verdict)(void *userdata, const struct drfs_snap_info *s,
			const struct drfs_policy_verdict *v);
	void *verdict_data;
};

struct drfs_prune_result {
	size_t kept, removed;
	struct drfs_gc_result gc;
	char why[256]; /* detail of a failure (lock holder, missing policy) */
};

/*
 * Take a lock (unless no_lock; shared with no_gc): exclusive when nobody
 * else uses the repository, else a prune lock and gc defers its deletions
 * (ret->gc says what waits for whom); apply the policy to each group of
 * the snapshots filter matches (-ENOENT: no policy given and none stored;
 * -EINVAL: empty policy), forget the removed snapshots (held ones are
 * kept), run gc (unless no_gc), release the lock. -EBUSY: another prune
 * (or an exclusive lock) is running. With no_lock the caller holds a lock
 * and sets gc.deferred as it applies.
 */
int drfs_prune(struct drfs_repo *r, const struct drfs_prune_opts *o,
	       struct drfs_prune_result *ret);

#endif
