/* SPDX-License-Identifier: MIT */
/*
 * lock.h - repository locks (store layer): who reads, who writes, who
 * prunes. docs/retention.md has the protocol and why it is safe.
 *
 * A lock is a sealed object locks/<64 random hex> (kind DRFS_OBJ_LOCK),
 * created with DRFS_PUT_CREATE_ONLY; docs/format.md §9.1 has the payload
 * (version 2; version 1 objects of older drfs are still understood), coded
 * by drfs_lock_encode/decode (format.h).
 *
 *   - every reader (restore, check, drill, copy's source, mount) and every
 *     writer (backup, mount, copy's destination) holds a SHARED lock while
 *     it works; prune holds an EXCLUSIVE lock when nobody else is live
 *     (and deletes at once), else a PRUNE lock (compatible with shared
 *     locks, exclusive against other prunes) and defers its deletions
 *     (deletion records, repo.h).
 *   - conflicts: shared vs exclusive; exclusive vs anything; prune vs
 *     exclusive and prune. acquire = write our lock object, then list
 *     locks/; on a conflict our object is deleted again and -EBUSY
 *     returned (two racing processes may both back off, neither proceeds
 *     unsafely).
 *   - a holder keeps one id for its whole life: a refresh (every
 *     DRFS_LOCK_REFRESH_SECS) or an update (acknowledged deletion records,
 *     watermark) writes a new object with the same id, then deletes the
 *     old one, so there is never a moment without one.
 *   - live = not stale: a lock whose time is older than
 *     DRFS_LOCK_STALE_SECS is stale; so is one of a process that no longer
 *     exists on this machine (same boot id; the pid and its start time,
 *     also in other pid namespaces when we can see them).
 *   - locks of this very process never conflict (a mount holding a shared
 *     lock takes an exclusive or prune lock for its own gc).
 *   - a lock object that does not decode (tampering) counts as a live
 *     exclusive lock: prune refuses rather than guesses.
 *
 * Thread rule: acquire/release from any thread; a lock is used by one
 * thread at a time (the refresh thread is internal).
 */
#ifndef DRFS_LOCK_H
#define DRFS_LOCK_H

#include "drfs/repo.h"

#define DRFS_LOCK_STALE_SECS (30 * 60)
/* how far apart the clocks of hosts (and the storage) may be */
#define DRFS_CLOCK_SKEW_SECS (10 * 60)
#define DRFS_LOCK_REFRESH_SECS (5 * 60)
/* DRFS_LOCK_ACKS_MAX deletion records one holder can acknowledge at a
 * time and DRFS_HOLDER_ID_LEN are in format.h */

enum drfs_lock_mode {
	DRFS_LOCK_SHARED,
	DRFS_LOCK_EXCLUSIVE,
	DRFS_LOCK_PRUNE,
};

/* What the holder does: for messages and for prune's decisions. */
enum drfs_lock_role {
	DRFS_ROLE_UNKNOWN = 0, /* version 1 lock: treated as a writer */
	DRFS_ROLE_READER = 1,  /* reads packs; uploads nothing */
	DRFS_ROLE_WRITER = 2,  /* backup, copy's destination, forget, hold */
	DRFS_ROLE_MOUNT = 3,   /* reads and writes; acknowledges deletions */
	DRFS_ROLE_PRUNE = 4,
};

struct drfs_lock;

/* A live holder as seen in locks/ (drfs_lock_holders). */
struct drfs_lock_holder {
	uint8_t id[DRFS_HOLDER_ID_LEN];
	enum drfs_lock_mode mode;
	enum drfs_lock_role role;
	int64_t time;      /* newest refresh (seconds, UTC) */
	int64_t start;     /* when it took the lock */
	/* packs it uploaded before this time are referenced by one of its
	 * snapshots or garbage; INT64_MAX: uploads nothing */
	int64_t watermark;
	/* the storage's clock minus the holder's (from its newest lock
	 * object's modification time); INT64_MIN: unknown */
	int64_t offset;
	uint32_t pid;
	char host[DRFS_HOST_MAX_BUF];
	bool own;          /* this process */
	bool unreadable;   /* the object did not decode (object names it) */
	size_t n_acks;     /* deletion records acknowledged */
	struct drfs_id acks[DRFS_LOCK_ACKS_MAX];
	char object[DRFS_OBJECT_NAME_MAX];
};

/*
 * Take a lock in mode for role. -EBUSY when another live lock conflicts;
 * why (may be NULL) then names it ("an exclusive lock held by pid 123 on
 * host \"h\" (prune) since 2026-11-21T14:30:05Z (locks/ab..)"). Other
 * errors are backend errors (why says which; -EACCES/-EPERM: the
 * credentials may not write, e.g. a read-only role).
 */
int drfs_lock_take(struct drfs_repo *r, enum drfs_lock_mode mode,
		   enum drfs_lock_role role, struct drfs_lock **ret, char *why,
		   size_t why_len);
/* drfs_lock_take(exclusive ? EXCLUSIVE : SHARED, PRUNE or WRITER). */
int drfs_lock_acquire(struct drfs_repo *r, bool exclusive,
		      struct drfs_lock **ret, char *why, size_t why_len);
/* Stop refreshing and delete the lock object. Accepts NULL. */
void drfs_lock_release(struct drfs_lock *l);
/* This holder's id (DRFS_HOLDER_ID_LEN bytes). */
const uint8_t *drfs_lock_id(const struct drfs_lock *l);

/*
 * Replace the set of acknowledged deletion records / the watermark and
 * publish it at once (a new lock object). Backend errors; the old state
 * stays published then.
 */
int drfs_lock_set_acks(struct drfs_lock *l, const struct drfs_id *acks,
		       size_t n);
int drfs_lock_set_watermark(struct drfs_lock *l, int64_t watermark);
/* The watermark this lock publishes. */
int64_t drfs_lock_watermark(struct drfs_lock *l);

/*
 * Called by the writer before it uploads a pack for r: a lock of this
 * process on r that published "uploads nothing unreferenced" (watermark
 * INT64_MAX, the clean mount) publishes the time now first, so a prune
 * that lists the pack also reads the new watermark (it reads the locks
 * after listing data/). Best effort: failing to publish costs a prune's
 * restraint, never data.
 */
void drfs_lock_before_upload(struct drfs_repo *r);

/*
 * Every live holder (stale and dead ones left out), one entry per holder
 * id (its newest refresh, the union of the acknowledgements of its
 * objects, the lowest watermark). *ret is malloc'd (free()). Backend
 * errors.
 */
int drfs_lock_holders(struct drfs_repo *r, struct drfs_lock_holder **ret,
		      size_t *ret_n);
/*
 * Delete the lock objects that are stale (of dead processes, or not
 * refreshed for DRFS_LOCK_STALE_SECS); their number in *ret_n. One that
 * cannot be deleted (a role without delete) stays and is ignored. Backend
 * errors of the listing.
 */
int drfs_lock_reap(struct drfs_repo *r, size_t *ret_n);
/*
 * "a mount, pid 123 on host \"h\", since 2026-11-21T14:30:05Z
 * (locks/ab..)", or what an unreadable lock object is.
 */
void drfs_lock_holder_describe(const struct drfs_lock_holder *h, char *out,
			       size_t len);
/* Whether h has acknowledged deletion record id. */
bool drfs_lock_holder_acked(const struct drfs_lock_holder *h,
			    const struct drfs_id *id);

#endif
