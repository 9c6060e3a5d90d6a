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

/* ---- policies ----------------------------------------------------------- */

/* Counts: 0 = rule not used. */
struct drfs_policy {
	uint32_t last, hourly, daily, weekly, monthly, yearly;
	int64_t within;          /* seconds; 0 = not used */
	uint32_t n_tags;
	char tags[DRFS_TAGS_BUF]; /* n_tags NUL-terminated strings */
};

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
};

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
/* "daily, weekly" for reasons; out must hold 128 bytes. Returns out. */
char *drfs_policy_reasons(unsigned reasons, char *out);
/* "--keep-daily 7 --keep-weekly 4"; out must hold 256 + DRFS_TAGS_BUF. */
char *drfs_policy_format(const struct drfs_policy *p, char *out, size_t len);

/* Payload of the sealed "policy" object (pure; -EBADMSG on garbage). */
int drfs_policy_encode(const struct drfs_policy *p, struct drfs_buf *out);
int drfs_policy_decode(const void *buf, size_t len, struct drfs_policy *ret);
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
	/*
	 * The caller holds a prune lock, not an exclusive one: other
	 * processes may be using the repository. Doomed packs are then named
	 * by a deletion record and left in place; the packs of records every
	 * live holder has acknowledged are deleted (docs/retention.md).
	 */
	bool deferred;
	const uint8_t *holder; /* the caller's lock id, for the record */
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
	struct drfs_gc_opts gc;           /* dry_run applies to all of it */
	bool no_lock;      /* the caller already holds an exclusive lock */
	/* one call per snapshot: folder, id, verdict (after holds) */
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
 * Take a lock (unless no_lock): exclusive when nobody else uses the
 * repository, else a prune lock and gc defers its deletions (ret->gc
 * says what waits for whom); apply the policy (-ENOENT: no policy given
 * and none stored; -EINVAL: empty policy), forget the removed snapshots
 * (held ones are kept), run gc, release the lock. -EBUSY: another prune
 * (or an exclusive lock) is running. With no_lock the caller holds a lock
 * and sets gc.deferred as it applies.
 */
int drfs_prune(struct drfs_repo *r, const struct drfs_prune_opts *o,
	       struct drfs_prune_result *ret);

#endif
