/* SPDX-License-Identifier: MIT */
/*
 * replica.h - a backend that mirrors a repository onto a second backend
 * (another bucket, region, endpoint or a local directory) and fails over to
 * it when the primary fails (backend layer).
 *
 * Both sides hold the same repository: the same config and key files (same
 * repository id), objects under the same names and with the same bytes.
 *
 * Writes. Synchronous mode (flags 0): put returns only after the object is
 * stored on both sides, so an object the store writes last (a snapshot) is
 * durable in both once its put returned. A put that fails on either side
 * fails. Asynchronous mode (DRFS_REPLICA_ASYNC): put writes the primary
 * only; a background thread catches the replica up (drfs_backend_replica_
 * catchup, objects of snapshots/ last, so the replica never holds a
 * snapshot before everything it references); free runs a last catch-up.
 *
 * Reads. get/head/list try the primary and, when it fails with a network
 * error, -EIO (5xx after the backend's retries), -ETIMEDOUT or -ENOENT, are
 * served by the replica. The first failover is logged once (a warning
 * naming both sides, no secrets). After a network failure the primary is
 * skipped for DRFS_REPLICA_RETRY_S seconds. A caller that detects
 * corruption above the backend (a blob that does not authenticate) asks
 * drfs_backend_get_alternate for the replica's copy.
 *
 * Deletes go to both sides; a refusal by either is returned.
 *
 * Thread rule: as for every backend, any operation from any thread.
 */
#ifndef DRFS_REPLICA_H
#define DRFS_REPLICA_H

#include "drfs/backend.h"

#define DRFS_REPLICA_ASYNC 1u
#define DRFS_REPLICA_RETRY_S 30

/*
 * Wrap primary and replica (both owned by the wrapper from now on, also on
 * failure). primary may be a backend that is down: see
 * drfs_backend_unavailable_new.
 */
int drfs_backend_replica_open(struct drfs_backend *primary,
			      struct drfs_backend *replica, unsigned flags,
			      struct drfs_backend **ret);

/*
 * A stand-in for a backend that could not be opened: every operation
 * fails with err if it is a network error (e.g. -ECONNREFUSED), else with
 * -EIO; the detail names err. display is copied. Used for "the primary is down, serve from the replica".
 */
int drfs_backend_unavailable_new(const char *display, int err,
				 struct drfs_backend **ret);

/* Whether b is a replica wrapper. */
bool drfs_backend_is_replica(struct drfs_backend *b);

/* The two sides of a wrapper (borrowed); -EINVAL if b is not one. */
int drfs_backend_replica_sides(struct drfs_backend *b,
			       struct drfs_backend **ret_primary,
			       struct drfs_backend **ret_replica);

/*
 * Read name from the side that did not serve the calling thread's last
 * get: the replica, or the primary when the replica served it (the
 * primary had failed). -EOPNOTSUPP if b is not a replica wrapper: the
 * caller keeps its original error.
 */
int drfs_backend_get_alternate(struct drfs_backend *b, const char *name,
			       uint64_t off, uint64_t len,
			       struct drfs_buf *out);

/*
 * Make both sides hold the repository's config and key files: when one
 * side has no "config", config and keys/ are copied from the other.
 * -EINVAL if both have a config and they differ (two different
 * repositories), -ENOENT if neither has one.
 */
int drfs_backend_replica_seed(struct drfs_backend *b);

struct drfs_replica_stats {
	uint64_t failovers;   /* reads served by the replica */
	uint64_t copied;      /* objects copied by catch-up */
	uint64_t copied_bytes;
	uint64_t pending;     /* objects missing from the replica at the
				 last catch-up's end (async lag) */
	uint64_t put_errors;  /* async: catch-up copies that failed */
	bool primary_down;    /* currently skipping the primary */
};

void drfs_backend_replica_get_stats(struct drfs_backend *b,
				    struct drfs_replica_stats *ret);

/*
 * Copy every object the primary has and the replica lacks (snapshots/ and
 * locks/ excluded from the first pass; snapshots copied last, only those
 * listed before the data pass, so a snapshot never precedes its data).
 * Returns the number of objects copied, or a negative errno; objects that
 * failed are counted in stats.pending.
 */
int drfs_backend_replica_catchup(struct drfs_backend *b);

#endif
