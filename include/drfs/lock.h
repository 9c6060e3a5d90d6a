/* SPDX-License-Identifier: MIT */
/*
 * lock.h - repository locks (store layer): who is writing, who is pruning.
 *
 * A lock is a sealed object locks/<64 random hex> (kind DRFS_OBJ_LOCK),
 * created with DRFS_PUT_CREATE_ONLY. Payload: version u8 = 1 | flags u8
 * (bit 0: exclusive) | le64 time (seconds, UTC) | le32 pid | host string
 * (NUL-free, <= DRFS_HOST_MAX bytes), coded by drfs_lock_encode/decode
 * (format.h). docs/retention.md has the protocol.
 *
 *   - backup (and any writer) holds a shared lock; prune/gc an exclusive.
 *   - acquire = write our lock object, then list locks/: a shared lock
 *     conflicts with any live exclusive lock of another holder, an
 *     exclusive lock with any live lock of another holder. On conflict our
 *     object is deleted again and -EBUSY returned (both sides may back off;
 *     neither proceeds unsafely).
 *   - a lock whose time is older than DRFS_LOCK_STALE_SECS is stale and
 *     ignored; a held lock is refreshed (a new object written, then the
 *     old one deleted) every DRFS_LOCK_REFRESH_SECS by a background thread.
 *   - locks of the same host and pid (this process) never conflict, so a
 *     mount holding a shared lock may take an exclusive one for its gc.
 *   - a lock object that does not decode (tampering) counts as a live
 *     exclusive lock: prune refuses rather than guesses.
 *
 * Thread rule: acquire/release from any thread; a lock is used by one.
 */
#ifndef DRFS_LOCK_H
#define DRFS_LOCK_H

#include "drfs/repo.h"

#define DRFS_LOCK_STALE_SECS (30 * 60)
#define DRFS_LOCK_REFRESH_SECS (5 * 60)

struct drfs_lock;

/*
 * Take a shared (exclusive false) or exclusive lock. -EBUSY when another
 * live lock conflicts; why (may be NULL) then names it ("exclusive lock
 * held by pid 123 on host \"h\" since 2026-11-21T14:30:05Z (locks/ab..)").
 * Other errors are backend errors.
 */
int drfs_lock_acquire(struct drfs_repo *r, bool exclusive,
		      struct drfs_lock **ret, char *why, size_t why_len);
/* Stop refreshing and delete the lock object. Accepts NULL. */
void drfs_lock_release(struct drfs_lock *l);

#endif
