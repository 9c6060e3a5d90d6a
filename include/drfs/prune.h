/* SPDX-License-Identifier: MIT */
/*
 * prune.h - retention (ops layer): keep-policies, holds, forgetting
 * snapshots and garbage collection of the packs no snapshot needs.
 * docs/retention.md explains the rules, the gc algorithm, the lock
 * protocol and why a crash at any point leaves a valid repository.
 *
 * Locking: drfs_gc() does NOT lock: the caller holds an exclusive lock
 * (include/drfs/lock.h) for its whole duration (drfs_prune() takes it
 * itself unless told not to). drfs_forget() needs no lock (removing
 * snapshots only makes a running gc keep more than needed; the CLI takes a
 * shared lock so it never interleaves with a prune). No writer of the calling
 * process may be active during drfs_gc(): packs uploaded but not yet
 * referenced by a snapshot (or by opts->roots) are garbage to it.
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
};

struct drfs_gc_result {
	uint64_t packs_before, packs_deleted, packs_repacked, packs_written;
	uint64_t pack_bytes_before, pack_bytes_after;
	uint64_t live_blobs, live_bytes;   /* stored bytes of live blobs */
	uint64_t unused_bytes_after;
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

/* ---- the whole prune ----------------------------------------------------- */

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
 * Take an exclusive lock (unless no_lock), apply the policy (-ENOENT: no
 * policy given and none stored; -EINVAL: empty policy), forget the removed
 * snapshots (held ones are kept), run gc, release the lock. -EBUSY: locked.
 * The mount calls this after a snapshot with no_lock if it holds the lock.
 */
int drfs_prune(struct drfs_repo *r, const struct drfs_prune_opts *o,
	       struct drfs_prune_result *ret);

#endif
