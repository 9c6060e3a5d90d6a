/* SPDX-License-Identifier: MIT */
/*
 * repoint.h - private to the rooms of the repository (src/store/repo.c and
 * the files beside it: sync, trailers, doomed packs, blobs, the catalogue,
 * index writing, deletion records): the types and functions they share,
 * named repo_*. repo.h is the API; storeint.h is shared with forgotten.c.
 */
#ifndef DRFS_REPOINT_H
#define DRFS_REPOINT_H

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/compress.h"
#include "drfs/known.h"
#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/replica.h"
#include "drfs/repo.h"
#include "storeint.h"
#include "drfs/testhook.h"

struct fetch_job {
	char name[DRFS_OBJECT_NAME_MAX];
	uint64_t size;
	struct drfs_buf data; /* unsealed payload */
	int err;
};

struct name_list {
	char (*names)[DRFS_OBJECT_NAME_MAX];
	uint64_t *sizes;
	size_t n, cap;
};

/*
 * Ids in the order added, duplicates kept (records to delete, packs to
 * forget); a set to test membership in is a struct drfs_idset (base.h).
 */
struct id_list {
	struct drfs_id *v;
	size_t n, cap;
};

struct full_entry {
	uint32_t seq;
	struct drfs_pack_entry e;
};

struct full_collect {
	struct full_entry *v;
	size_t n, cap;
	const uint32_t *only; /* sorted pack numbers; NULL: every pack */
	size_t n_only;
};

/* ---- repo.c -------------------------------------------------------------- */
int repo_fail(int r, const char *fmt, ...) _printf_(2, 3);
/* ---- sync.c -------------------------------------------------------------- */
void repo_fetch_all(struct drfs_repo *repo, struct fetch_job *jobs, size_t n,
		    enum drfs_obj_kind kind);
int repo_collect_name(const char *name, uint64_t size, void *userdata);
void repo_name_list_free(struct name_list *l);
int repo_sort_names(struct name_list *l);
int repo_list_names(struct drfs_repo *r, const char *prefix,
		    struct name_list *l);
bool repo_name_in(const struct name_list *l, const char *name);
void repo_damage(struct drfs_repo *r, const char *fmt, ...) _printf_(2, 3);
void repo_warn(struct drfs_repo *r, const char *fmt, ...) _printf_(2, 3);
int repo_scan_db(struct drfs_repo *r, enum drfs_db db, drfs_kv_cb cb,
		 void *userdata);
int repo_apply_index_object(struct drfs_txn *t, const void *p, size_t len,
			    const struct name_list *listed,
			    struct drfs_idset *skipped,
			    struct drfs_idset *named);
int repo_seen_vanished(struct drfs_txn *t, const struct name_list *present,
		       struct name_list *gone);
int repo_ids_vanished(struct drfs_txn *t, enum drfs_db db,
		      void (*name)(const struct drfs_id *id, char *out),
		      const struct name_list *present, struct id_list *gone);
int drfs_repo_sync(struct drfs_repo *r, bool full);
/* ---- doomed.c ------------------------------------------------------------ */
int drfs_repo_pack_doomed(struct drfs_txn *t, const struct drfs_id *pack);
int repo_index_pack(struct drfs_txn *t, const struct drfs_id *pack,
		    uint32_t pack_len, const struct drfs_pack_entry *es,
		    const uint8_t *raw, size_t n);
int repo_id_list_add(struct id_list *l, const struct drfs_id *id);
int repo_u32_cmp(const void *a, const void *b);
int repo_drop_unnamed(struct drfs_repo *r, struct name_list *present,
		      const struct drfs_idset *named,
		      const struct name_list *packs);
int repo_apply_deletion(struct drfs_txn *t, const struct drfs_id *id,
			const struct drfs_buf *payload);
int repo_forget_deletions(struct drfs_repo *r, const struct id_list *gone);
int repo_sync_deletions(struct drfs_repo *r);
/* ---- trailers.c ---------------------------------------------------------- */
int repo_cross_check(struct drfs_repo *r, const struct name_list *packs,
		     const struct drfs_idset *only,
		     const struct drfs_idset *extra);
/* ---- blobs.c ------------------------------------------------------------- */
struct drfs_segcache *repo_segcache_new(struct drfs_backend *be);
void repo_segcache_free(struct drfs_segcache *c);
int repo_blob_read_at(struct drfs_repo *r, const struct drfs_id *id,
		      const struct drfs_blob_loc *loc,
		      const struct drfs_id *pack, struct drfs_buf *out);
/* ---- guard.c ------------------------------------------------------------- */
int repo_blob_place(struct drfs_txn *t, const struct drfs_id *id,
		    const struct drfs_blob_loc *loc);
int repo_mark_bad(struct drfs_txn *t, const struct drfs_id *blob,
		  const struct drfs_id *pack);
int repo_blob_read_alt(struct drfs_repo *r, const struct drfs_id *id,
		       const struct drfs_blob_loc *first, struct drfs_buf *out);
struct repo_guard;
typedef int (*repo_guard_put_fn)(void *userdata, enum drfs_blob_type type,
				 const struct drfs_id *id, const void *p,
				 size_t len);
/* NULL when budget is 0 (or out of memory: no guard) */
struct repo_guard *repo_guard_new(uint64_t budget);
void repo_guard_free(struct repo_guard *g);
/* A deduplicated blob (p: its data): kept if its pack is due. */
void repo_guard_offer(struct repo_guard *g, struct drfs_repo *r,
		      enum drfs_blob_type type, const struct drfs_id *id,
		      const void *p, size_t len);
/* Verify what was kept, put a corrupted one again; adds to *res. */
int repo_guard_run(struct repo_guard *g, struct drfs_repo *r,
		   repo_guard_put_fn put, void *put_data, drfs_report_fn report,
		   void *report_data, struct drfs_guard_result *res);
/* ---- indexwrite.c -------------------------------------------------------- */
int repo_full_blob(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		   void *userdata);
int repo_full_cmp(const void *a, const void *b);

#endif
