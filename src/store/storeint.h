/* SPDX-License-Identifier: MIT */
/*
 * storeint.h - between the store's own modules: how drfs_repo_sync()
 * (repo.c) feeds the cache's snapshot history and forget records
 * (forgotten.c). Not for other layers.
 *
 * Thread rule: those of the sync (one at a time per repository).
 */
#ifndef DRFS_STOREINT_H
#define DRFS_STOREINT_H

#include "drfs/repo.h"

/*
 * Tie the history to this repository: a cache that kept another
 * repository's history forgets it; one that has none yet (new, or made by
 * a drfs without records) starts from the snapshots its catalogue holds.
 */
int drfs_history_bind(struct drfs_repo *r);
/* A snapshot (encoded payload) entered the catalogue: it is present. */
int drfs_history_note(struct drfs_txn *t, const struct drfs_id *id,
		      const void *payload, size_t len);
/* 1 if the forget record name must be fetched (new or refused before). */
int drfs_history_record_wanted(struct drfs_txn *t, const char *name);
/*
 * A fetched forget record: err is the fetch's result (-EBADMSG: corrupted
 * or forged, as is a payload that does not decode: refused and kept to be
 * reported, not an error). Its ids count as forgotten from now on.
 */
int drfs_history_record_load(struct drfs_txn *t, const char *name, int err,
			     const void *payload, size_t len);
/*
 * A refused record that is no longer listed (listed(ud, name)) is no
 * longer reported. Loaded ones stay: deleting a record un-forgets nothing.
 */
int drfs_history_drop_refused(struct drfs_repo *r,
			      bool (*listed)(void *ud, const char *name),
			      void *ud);
/*
 * After snapshots/ was listed (listed(ud, id): in the listing) and every
 * record listed after it was loaded: snapshots gone with a record leave
 * the history, those gone without one become vanished, and any that came
 * back are present again.
 */
int drfs_history_settle(struct drfs_repo *r,
			bool (*listed)(void *ud, const struct drfs_id *id),
			void *ud);
/* Catalogue order: by time, then id bytes (<0, 0, >0 as for qsort). */
int drfs_snap_order(const struct timespec *ta, const struct drfs_id *a,
		    const struct timespec *tb, const struct drfs_id *b);
/*
 * Seal and put (create-only) one forget record; its name into name. The
 * caller records it in the cache.
 */
int drfs_forget_record_put(struct drfs_backend *be,
			   const struct drfs_keys *k, uint8_t flags,
			   const struct drfs_forget_entry *e, size_t n,
			   char name[DRFS_OBJECT_NAME_MAX]);

#endif
