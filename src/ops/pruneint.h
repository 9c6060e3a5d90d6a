/* SPDX-License-Identifier: MIT */
/*
 * pruneint.h - private to forgetting snapshots and garbage collection
 * (src/ops/prune.c, forget.c, gcmark.c, repack.c, gc.c): what they share,
 * named gc_*. prune.h is the API.
 *
 * gc, in an order that keeps the repository valid after a crash at any
 * point (docs/retention.md has the argument):
 *   1. sync the cache with the repository, listing data/ (packs in no
 *      index object are adopted from their trailers); only packs known now
 *      are ever deleted;
 *   2. mark every blob reachable from the snapshots in DRFS_DB_AUX1;
 *      a marked blob with several copies is read until the copy read
 *      first is a good one (the others are then unused; when none is
 *      good, every copy stays);
 *   3. per pack: live bytes; packs without live blobs are doomed; the
 *      emptiest others are repacked until unused <= max_unused * live;
 *   4. repack: live blobs' stored records (verified) are copied verbatim
 *      into new packs (uploaded, then recorded in the cache);
 *   5. the doomed packs (their blobs' copies) leave the cache, a
 *      complete new index (every copy not known corrupted) is written
 *      and the old index objects deleted (drfs_repo_write_full_index);
 *   6. only then the doomed packs are deleted.
 */
#ifndef DRFS_PRUNEINT_H
#define DRFS_PRUNEINT_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/prune.h"
#include "drfs/testhook.h"

#define MARK_DB DRFS_DB_AUX1
#define RESCUE_DB DRFS_DB_AUX2 /* never the same as gc's: a mount's rescue
				  may run while a prune marks in its cache */
#define DEL_BATCH 1000
#define SCAN_BATCH 8192

struct gc {
	struct drfs_repo *r;
	const struct drfs_gc_opts *o;
	enum drfs_db mark; /* MARK_DB, or RESCUE_DB for drfs_gc_rescue */
	uint64_t marked_trees;
};

/*
 * P_PENDING: doomed by a deletion record some live holder has not
 * acknowledged yet; this run leaves it alone.
 */
enum { P_KEEP, P_DELETE, P_REPACK, P_PENDING };

struct gpack {
	struct drfs_id id;
	uint32_t seq, length;
	uint32_t live, blobs;
	uint64_t live_bytes;
	int action;
	bool in_record; /* doomed by a deletion record */
	bool pending;   /* ... one not every live holder acknowledged */
	bool gone_now;  /* deleted by this run (not only doomed) */
	bool recent;    /* uploaded after a live writer's watermark */
};

struct gpacks {
	struct gpack *v;
	size_t n, cap;
};

/* marked blobs of which no copy verified: every copy stays */
struct gc_keepall {
	struct drfs_id *v;
	size_t n, cap;
};

struct account {
	struct gpacks *packs;
	const struct gc_keepall *keep;
	struct drfs_txn *t;
	uint64_t live_blobs, live_bytes;
};

struct outpack {
	struct drfs_buf buf;
	struct drfs_pack_entry *e;
	size_t n;
	uint64_t written, bytes;
};

/* ---- prune.c ------------------------------------------------------------- */
void gc_say(drfs_report_fn fn, void *ud, const char *fmt, ...) _printf_(3, 4);
/* ---- forget.c ------------------------------------------------------------ */
int gc_delete_names(struct drfs_backend *be,
		    char (*names)[DRFS_OBJECT_NAME_MAX], size_t n);
int gc_forget_objects(struct drfs_repo *r, const struct drfs_id *ids, size_t n);
/* ---- gcmark.c ------------------------------------------------------------ */
int gc_delete_where(struct drfs_repo *r, enum drfs_db db,
		    int (*want)(void *, const struct drfs_id *, const void *,
				size_t),
		    void *ud);
int gc_is_marked(struct drfs_txn *t, enum drfs_db db, const struct drfs_id *id);
int gc_mark_tree(struct gc *g, const struct drfs_id *root);
int gc_settle_copies(struct gc *g, struct gc_keepall *ka);
int gc_account_alt(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		   void *userdata);
int gc_drop_gone_alts(struct drfs_repo *r, struct gpacks *packs);
void gc_report_retained(struct drfs_repo *r, const struct gpacks *packs,
			const struct drfs_gc_opts *o);
int gc_gpack_collect(const struct drfs_id *pack,
		     const struct drfs_pack_rec *rec, void *userdata);
int gc_gpack_cmp_seq(const void *a, const void *b);
struct gpack *gc_gpack_find(struct gpacks *l, uint32_t seq);
int gc_account_blob(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		    void *userdata);
uint64_t gc_pack_unused(const struct gpack *g);
int gc_cmp_unused_desc(const void *a, const void *b);
/* ---- repack.c ------------------------------------------------------------ */
int gc_outpack_flush(struct gc *g, struct outpack *op);
int gc_repack_one(struct gc *g, struct gpack *p, struct outpack *op,
		  struct drfs_buf *scratch);
/* ---- gc.c ---------------------------------------------------------------- */
int gc_want_all(void *ud, const struct drfs_id *key, const void *val,
		size_t vlen);
int gc_run(struct drfs_repo *r, const struct drfs_gc_opts *o,
	   const struct drfs_snap_info *only, size_t n_only,
	   struct drfs_gc_result *ret);

#endif
