/* SPDX-License-Identifier: MIT */
/*
 * repo.h - an open repository (store layer): backend + keys + config + the
 * local LMDB cache, reading verified blobs, writing deduplicated blobs into
 * packs on worker threads, and the snapshot catalogue.
 *
 * The cache directory ($XDG_CACHE_HOME/drfs/<repo-id>/ unless overridden)
 * holds only derived state: drfs_repo_open() brings it up to date from the
 * repository's index/ and snapshots/ objects (in parallel), and a missing or
 * deleted cache is rebuilt.
 *
 * Thread rule: after open, drfs_repo_blob_read(), drfs_repo_snapshots() and
 * the writer's put may be called from any thread.
 */
#ifndef DRFS_REPO_H
#define DRFS_REPO_H

#include "drfs/backend.h"
#include "drfs/chunker.h"
#include "drfs/crypto.h"
#include "drfs/format.h"
#include "drfs/index.h"

/*
 * Where per-item messages go (file names, blob ids, damaged objects): one
 * line each, without a trailing newline; NULL: silent.
 */
typedef void (*drfs_report_fn)(void *userdata, const char *fmt, ...)
	_printf_(2, 3);

struct drfs_repo_opts {
	const char *url;
	const char *cache_dir;   /* NULL: $XDG_CACHE_HOME/drfs/<repo-id> */
	const char *password;    /* NULL: none given */
	/*
	 * The security mode is the caller's, never the repository's say:
	 * false (the default) accepts only passphrase-wrapped key files,
	 * true (--no-encryption) only key files in the clear, and then
	 * password must be NULL.
	 */
	bool no_encryption;
	/* --expect-id: refuse a repository whose id is not expect_id */
	bool have_expect_id;
	uint8_t expect_id[16];
	struct drfs_backend_opts backend;
	int threads;             /* worker threads; 0 = number of CPUs */
	bool no_sync;            /* don't refresh the cache at open */
	bool index_writemap;     /* DRFS_INDEX_WRITEMAP (a mount's daemon) */
	/* second repository mirrored by every write, read when the primary
	 * fails (include/drfs/replica.h); NULL: none */
	const char *replica;
	/* the replica's endpoint and region (NULL: those of backend); its
	 * other backend options are those of backend */
	struct drfs_backend_opts replica_backend;
	bool replica_async;      /* catch the replica up in the background */
	/* damage a sync skipped (see drfs_repo_sync); NULL: silent */
	drfs_report_fn report;
	void *report_data;
	/* the dedup-loss guard's bytes per commit for this repository's
	 * writers (drfs_writer_guard); 0: no guard */
	uint64_t verify_budget;
};

struct drfs_init_opts {
	bool no_encryption;
	int zstd_level;                     /* 0 = default (3) */
	struct drfs_chunker_params chunker; /* zero = defaults */
	struct drfs_scrypt_params scrypt;   /* zero = defaults */
};

struct drfs_segcache;

struct drfs_repo {
	struct drfs_backend *be;
	struct drfs_keys keys;
	struct drfs_config config;
	struct drfs_chunker chunker;
	struct drfs_index *index;
	char *cache_dir;
	char repo_id_hex[33];
	int threads;
	/* recently read pack ranges, for remote backends (repo.c) */
	struct drfs_segcache *segs;
	drfs_report_fn report;    /* from the opts; NULL: silent */
	void *report_data;
	/*
	 * Damaged or missing objects the last drfs_repo_sync() found,
	 * reported and skipped: corrupted index/ and snapshots/ objects,
	 * packs whose trailer cannot be read, packs the index lists that do
	 * not exist. 0: none seen (a sync without a data/ listing does not
	 * look for missing packs).
	 */
	unsigned damaged;
	/* bytes the dedup-loss guard reads per commit (drfs_writer_guard);
	 * 0: off. Read by drfs_writer_new. */
	uint64_t verify_budget;
	/* the key file the repository was opened with ("keys/<hex>") */
	char key_name[DRFS_OBJECT_NAME_MAX];
};

/* ---- key files (keys.c) -------------------------------------------------- */

struct drfs_key_info {
	struct drfs_id id;  /* keys/<hex of id> */
	uint64_t size;
	bool current;       /* the one this repository was opened with */
};
/* The key files, in listing order; *ret malloc'd (free()). */
int drfs_repo_keys_list(struct drfs_repo *r, struct drfs_key_info **ret,
			size_t *ret_n);
/*
 * Add a key file for passphrase pass (the same master keys), then read it
 * back and open it: 0 (its id in *ret_id) only once it works.
 * -EOPNOTSUPP for an unencrypted repository, -EINVAL for an empty
 * passphrase, backend errors.
 */
int drfs_repo_key_add(struct drfs_repo *r, const char *pass,
		      struct drfs_id *ret_id);
/*
 * Delete key file id. -EBUSY when it is the one this repository was
 * opened with or the last one (never leaves none that works), -ENOENT.
 */
int drfs_repo_key_remove(struct drfs_repo *r, const struct drfs_id *id);

/*
 * Create a new repository at o->url (creating a local directory or bucket)
 * and record it in the known-repositories file, replacing what was
 * recorded for that location.
 */
int drfs_repo_init(const struct drfs_repo_opts *o,
		   const struct drfs_init_opts *io, struct drfs_id *ret_repo_id);
/*
 * Open: backend, key (-EACCES wrong passphrase, -ENOKEY no key file /
 * passphrase needed), config, cache, sync. Details of a failure are in
 * drfs_repo_last_error().
 *
 * The repository must be the one expected (-EKEYREJECTED otherwise,
 * before anything is written): of the mode o->no_encryption says; with
 * the id o->expect_id names; with the id and mode the known-repositories
 * file (include/drfs/known.h) recorded for its location; with the id and
 * mode its cache directory recorded. A cache directory of another
 * repository is refused, never emptied. The first successful open of a
 * location records it in the known-repositories file.
 *
 * struct drfs_repo (with the keys) lives in secret memory
 * (drfs_secret_alloc); o->password is not kept.
 */
int drfs_repo_open(const struct drfs_repo_opts *o, struct drfs_repo **ret);
/*
 * Close the cache and the backend, wipe the keys and free r (accepts
 * NULL). No writer of r may be left, nor any call on r running in another
 * thread.
 */
void drfs_repo_free(struct drfs_repo *r);
/* Text for the last open/init failure of this thread (never secrets). */
const char *drfs_repo_last_error(void);
/* Set this thread's last error text (for operations built on the store). */
void drfs_repo_set_last_error(const char *fmt, ...) _printf_(1, 2);

/*
 * Bring the cache up to date: load index/ and snapshots/ objects not seen
 * yet, forget snapshots that vanished.
 *
 * Damage costs only what it must: a corrupted (or truncated) index/ or
 * snapshots/ object is reported through r->report, counted in r->damaged
 * and skipped; nothing fails because of it. The packs a skipped index
 * object described are then found by listing data/ and reading the
 * trailer of every pack no index object covers. When index objects this
 * cache had loaded vanished (prune rewrote the index, or one was lost),
 * the cache is rebuilt from those that remain, and of the packs it knew
 * before, those no remaining object lists are read from their trailers
 * (one data/ listing, only when there are such packs).
 *
 * With full (a new cache), data/ is always listed: every pack in no index
 * object is read from its trailer, and a pack the index lists that does
 * not exist (a HEAD, which a replica answers too, confirms it) is
 * reported and counted, not fatal: its blobs stay in the cache, reads of
 * them fail and name their files.
 *
 * Without damage and without vanished index objects, no pack is listed or
 * read unless full. Returns 0, or a negative errno when the repository
 * cannot be read at all (detail in drfs_repo_last_error()).
 */
int drfs_repo_sync(struct drfs_repo *r, bool full);
/*
 * Rebuild the cache's blob index from what the repository holds: the
 * index objects that read (damaged ones are reported and skipped), but
 * only their records of packs a data/ listing shows with the same size;
 * every other listed pack is read from its trailer. A pack the index
 * objects list that does not exist is reported and dropped. Works as long
 * as the packs are readable; the caller then writes a full index
 * (drfs_repo_write_full_index). r->damaged counts what was reported.
 */
int drfs_repo_repair_index(struct drfs_repo *r);
/*
 * The packs the cache knows that do not exist: not in a listing of data/,
 * and a HEAD (which a replica answers too) does not find them. Added to
 * *ret (a zero-initialised or existing set).
 */
int drfs_repo_missing_packs(struct drfs_repo *r, struct drfs_idset *ret);
/*
 * Fetch and verify every object of kind (DRFS_OBJ_INDEX: index/,
 * DRFS_OBJ_SNAPSHOT: snapshots/) from the repository itself, not the
 * cache, in parallel: its name must be the SHA-256 of its bytes, it must
 * unseal and decode. cb gets each object's name in name order, with 0 and
 * the unsealed payload, or a negative errno (-EBADMSG corrupted, -ENOENT
 * gone since the listing) and NULL. cb returning < 0 stops with that.
 */
typedef int (*drfs_object_fn)(void *userdata, const char *name, int err,
			      const uint8_t *payload, size_t len);
int drfs_repo_verify_objects(struct drfs_repo *r, enum drfs_obj_kind kind,
			     drfs_object_fn cb, void *userdata);
/*
 * Write index objects covering every pack the cache knows (every copy of a
 * blob but those known corrupted), then delete the index objects that
 * existed before (used after repair_index and by prune). An old index object that cannot be deleted is an error: it still
 * lists its packs, so none of them may be deleted.
 */
int drfs_repo_write_full_index(struct drfs_repo *r);

/* ---- deletion records (docs/retention.md, "Deferred deletion") ---------- */

/*
 * A prune that runs while other processes use the repository does not
 * delete the packs it frees: a sealed record deletions/<id> names them
 * (with the blobs still readable from them) and a later prune deletes
 * them once every holder of a lock has acknowledged the record or ended.
 * drfs_repo_sync() loads the records before the index objects: a doomed
 * pack stays readable, never displaces a blob's location in a pack that
 * stays, is never deduplicated against (the writer), never written into
 * a new full index, and may be missing without an error. A record that
 * vanished was completed: its packs leave the cache.
 */
struct drfs_deletion_info {
	struct drfs_id id;
	int64_t time;
	uint32_t n_packs;
};

struct drfs_doomed {
	struct drfs_id pack, record;
};

/* 1 if a deletion record the cache knows dooms pack, 0 if not. */
int drfs_repo_pack_doomed(struct drfs_txn *t, const struct drfs_id *pack);
/* 1 if blob's location in the cache is in a doomed pack, 0 if it stays,
 * -ENOENT if the cache has no location for it. */
int drfs_repo_blob_doomed(struct drfs_txn *t, const struct drfs_id *blob);
/* The records the cache knows, oldest first. *ret malloc'd (free()). */
int drfs_repo_deletions(struct drfs_repo *r, struct drfs_deletion_info **ret,
			size_t *ret_n);
/* Every (doomed pack, record) pair the cache knows. *ret malloc'd. */
int drfs_repo_doomed_packs(struct drfs_repo *r, struct drfs_doomed **ret,
			   size_t *ret_n);
/*
 * Write deletion records (create-only, as many as the size limit needs)
 * with hdr's header, dooming packs[0..n): each with the blobs whose
 * location in the cache is in it. The cache learns them at once. Their
 * ids in *ret_ids (malloc'd). Nothing is deleted.
 */
int drfs_repo_deletion_write(struct drfs_repo *r,
			     const struct drfs_deletion *hdr,
			     const struct drfs_id *packs, size_t n,
			     struct drfs_id **ret_ids, size_t *ret_n);
/* Delete record id (after its packs) and forget it and its packs here. */
int drfs_repo_deletion_remove(struct drfs_repo *r, const struct drfs_id *id);

/*
 * The ids of the objects "dir/<64 hex>" (holds, deletions...) in one
 * listing; *ret malloc'd (free()). Backend errors.
 */
int drfs_repo_list_ids(struct drfs_repo *r, const char *dir,
		       struct drfs_id **ret, size_t *ret_n);

/* Location of a blob; -ENOENT if the repository has no such blob. */
int drfs_repo_blob_find(struct drfs_repo *r, const struct drfs_id *id,
			struct drfs_blob_loc *ret_loc,
			struct drfs_id *ret_pack);
/*
 * What the reads of a remote repository's pack segments did since it was
 * opened (blobs.c; docs/mount.md, "Reading from S3"): all zero for a local
 * repository. Any thread.
 */
struct drfs_repo_read_stats {
	uint64_t gets;         /* segment GETs, the read-ahead's included */
	uint64_t bytes;        /* bytes they returned */
	uint64_t ahead;        /* GETs of the read-ahead thread */
	uint64_t ahead_used;   /* ... whose segment was read afterwards */
	uint64_t ahead_failed; /* ... that failed (the reader retries) */
	uint64_t waits;        /* reads that waited for a GET in flight */
	uint64_t direct;       /* reads past the segments: all in flight */
};
void drfs_repo_read_stats(struct drfs_repo *r,
			  struct drfs_repo_read_stats *ret);
/* Read, decrypt, decompress and verify one blob; appends to out. */
int drfs_repo_blob_read(struct drfs_repo *r, const struct drfs_id *id,
			struct drfs_buf *out);
/* drfs_repo_blob_read as a drfs_blob_read_fn (userdata: the repository). */
int drfs_repo_blob_reader(void *repo, const struct drfs_id *id,
			  struct drfs_buf *out);

/* ---- snapshot catalogue ------------------------------------------------ */

struct drfs_snap_info {
	struct drfs_id id;
	/*
	 * The folder it is shown as, "YYYY-MM-DD/HHMMSS[.N]": the name the
	 * snapshot recorded when it was committed, or for one written before
	 * names were recorded a name derived from the catalogue
	 * (docs/format.md §8); "NAME~<8 hex of the id>" for a second
	 * snapshot recording a name already shown.
	 */
	char folder[DRFS_FOLDER_BUF];
	struct drfs_snapshot snap;
};

/*
 * Every snapshot, oldest first (by time, then id), with folder names
 * assigned. *ret is malloc'd (free()).
 */
int drfs_repo_snapshots(struct drfs_repo *r, struct drfs_snap_info **ret,
			size_t *ret_n);

/* Which snapshots a command means; a NULL member matches anything. */
struct drfs_snap_filter {
	const char *host;
	const char *path;
	const char *const *tags; /* any of them; n_tags 0: any snapshot */
	size_t n_tags;
};
/* Whether f (NULL: match all) matches s. */
bool drfs_snap_filter_match(const struct drfs_snap_filter *f,
			    const struct drfs_snapshot *s);

/*
 * By "latest" (the newest snapshot f matches; f NULL: of all), a folder
 * "YYYY-MM-DD/HHMMSS[.N]", a full id or a hex prefix of >= 8 digits
 * (folders and ids are found whatever f says). -ENOENT, -EINVAL when
 * ambiguous; the message is in drfs_repo_last_error().
 */
int drfs_repo_snapshot_find_in(struct drfs_repo *r, const char *spec,
			       const struct drfs_snap_filter *f,
			       struct drfs_snap_info *ret);
/* drfs_repo_snapshot_find_in() without a filter. */
int drfs_repo_snapshot_find(struct drfs_repo *r, const char *spec,
			    struct drfs_snap_info *ret);
/*
 * Commit a snapshot: claim its folder name, then write the snapshot
 * object recording it (create-only) and add it to the catalogue. The name
 * is s->name if that is set, valid for s->time and free (drfs copy keeps
 * a source's name), else the folder of s->time, else that with the lowest
 * free suffix ".1", ".2", ...; a name the catalogue shows or that was ever
 * claimed (names/, include/drfs/format.h) is never taken. s->name is set
 * to the name taken. A crash between the claim and the snapshot leaves
 * the name unused for good. -EEXIST: no suffix up to 9999 free; -ERANGE:
 * a time outside the years 0000..9999.
 */
int drfs_repo_snapshot_write(struct drfs_repo *r, struct drfs_snapshot *s,
			     struct drfs_id *ret_id);
/*
 * drfs_repo_snapshot_write() of s as the replacement of over (s->time is
 * over's; drfs repair snapshots, which then forgets over): s takes over's
 * folder name, so that the name stays with the backup. That is the name
 * over recorded (claimed when over was written), or for one that recorded
 * none the name shown for it, claimed now; if that is claimed already, s
 * is named as drfs_repo_snapshot_write() names it. Until over is
 * forgotten both record the name (one is shown as "NAME~<8 hex of its
 * id>", docs/format.md §8.1).
 */
int drfs_repo_snapshot_replace(struct drfs_repo *r, struct drfs_snapshot *s,
			       const struct drfs_snap_info *over,
			       struct drfs_id *ret_id);
/*
 * Before the snapshots ids[0..n) are forgotten: for each that recorded no
 * name (written before names were recorded), claim the names shown for it
 * and for the others without one in its second (theirs are derived, and
 * shift when it goes), so no later snapshot is given a name one of them
 * was shown as.
 */
int drfs_repo_snapshot_names_keep(struct drfs_repo *r,
				  const struct drfs_id *ids, size_t n);

/* ---- forget records, vanished snapshots (forgotten.c, docs/rollback.md) -- */

/*
 * Every removal of snapshots writes a sealed forget record (forgotten/<id>,
 * create-only) naming them before their objects are deleted. The cache
 * remembers every snapshot it saw (drfs_repo_sync); one that disappears
 * without a record naming it is kept as "vanished" until a record names it
 * (drfs_forget of it writes one: the owner's acknowledgement).
 */

/*
 * Write the forget record(s) of ids[0..n) (their times from the cache),
 * create-only, and record them in the cache. Before the first record of a
 * repository made by an older drfs, its baseline (below). Call it before
 * deleting anything: a crash in between leaves a record of snapshots that
 * still exist, which is harmless.
 */
int drfs_repo_forget_record(struct drfs_repo *r, const struct drfs_id *ids,
			    size_t n);
/*
 * Upgrade a repository that has no forget record yet (made by a drfs
 * without them; the cache knows from its last sync): write a baseline
 * record naming the parents already missing, i.e. the snapshots forgotten
 * before records existed. No-op once the repository has records.
 */
int drfs_repo_forget_baseline(struct drfs_repo *r);

enum drfs_snap_problem_kind {
	/* gone without a forget record */
	DRFS_SNAP_VANISHED,
	/* gone without a forget record while nothing newer of its host and
	 * path was left: the repository was rolled back */
	DRFS_SNAP_ROLLED_BACK,
	/* a snapshot's parent is neither there, nor named by a forget
	 * record, nor known to this cache (found with an empty cache too) */
	DRFS_SNAP_HOLE,
	/* a forget record that is corrupted or forged: refused */
	DRFS_SNAP_BAD_RECORD,
};

struct drfs_snap_problem {
	enum drfs_snap_problem_kind kind;
	struct drfs_id id;  /* the snapshot that is gone (HOLE: the parent) */
	char folder[DRFS_FOLDER_BUF]; /* its folder by its time (HOLE: "") */
	char host[DRFS_HOST_MAX_BUF]; /* its host (HOLE: the child's) */
	struct drfs_id child;         /* HOLE: the snapshot naming it */
	char child_folder[DRFS_FOLDER_BUF];
	char name[DRFS_OBJECT_NAME_MAX]; /* BAD_RECORD: the object */
};

/* What to say when holes are found and the repository has no records. */
#define DRFS_NO_RECORDS_NOTE                                                   \
	"note: this repository has no forget records yet (it was made by an "  \
	"older drfs): the next backup, snapshot or forget records the "        \
	"parents already missing as a baseline"

struct drfs_snap_audit {
	struct drfs_snap_problem *v; /* malloc'd */
	size_t n;
	bool no_records; /* no forget record known: made by an older drfs */
};

/* One line about p (no newline) into out. Returns out. */
#define DRFS_SNAP_PROBLEM_TEXT_MAX 1024
char *drfs_snap_problem_text(const struct drfs_snap_problem *p,
			     char out[DRFS_SNAP_PROBLEM_TEXT_MAX]);

/* What the cache knows is wrong with the snapshots (no request is made). */
int drfs_repo_snapshot_audit(struct drfs_repo *r, struct drfs_snap_audit *ret);
void drfs_snap_audit_release(struct drfs_snap_audit *a);
/*
 * A vanished snapshot by full id, hex prefix >= 8 or folder (of its time):
 * -ENOENT, -EINVAL ambiguous (detail in drfs_repo_last_error()).
 */
int drfs_repo_vanished_find(struct drfs_repo *r, const char *spec,
			    struct drfs_id *ret);

/* ---- writing blobs -------------------------------------------------- */

/*
 * A writer gathers new blobs into packs. put is thread-safe; blobs the
 * repository (or this writer) already has are skipped. Compression and
 * encryption run on the repository's worker threads; full packs are
 * uploaded in the background. flush waits for everything, uploads the
 * index/ object describing the new packs and records them in the cache;
 * only after flush may anything reference the new blobs durably.
 */
struct drfs_writer;

struct drfs_writer_stats {
	uint64_t blobs_new, blobs_dup;
	uint64_t bytes_new_raw, bytes_dup_raw;
	uint64_t bytes_stored; /* bytes of pack objects uploaded */
	uint64_t packs;
};

/*
 * A writer into r (which must outlive it), with its worker and uploader
 * threads started. *ret the caller's to drfs_writer_free, set only on
 * success. -ENOMEM, or -EAGAIN when no thread could be started.
 */
int drfs_writer_new(struct drfs_repo *r, struct drfs_writer **ret);
/*
 * Add a blob whose id the caller computed with drfs_blob_id (so the caller
 * can reference it immediately). Copies p. May block while the pipeline is
 * full. Returns 1 if new, 0 if already present, or a negative errno (also
 * a deferred upload failure).
 */
int drfs_writer_put(struct drfs_writer *w, enum drfs_blob_type type,
		    const struct drfs_id *id, const void *p, size_t len);
/* Compute the id and put. */
int drfs_writer_put_blob(struct drfs_writer *w, enum drfs_blob_type type,
			 const void *p, size_t len, struct drfs_id *ret_id);
/*
 * Ids computed by the writer's workers (drfs_writer_put_deferred): the
 * caller's, zeroed before the first put; v[i] is the id of its i-th put
 * once drfs_writer_ids_wait returned. Release with drfs_writer_ids_free.
 */
struct drfs_writer_ids {
	struct drfs_id *v;
	size_t n, cap;
	size_t pending;              /* (writer's lock) */
	uint64_t fresh, fresh_bytes; /* (writer's lock) new blobs among them */
};
/*
 * Add a blob whose id a worker computes (hashing off the caller's thread:
 * a chunker then only cuts). Copies p; the id goes to ids->v[ids->n++];
 * the dedup check is done by the worker. Not for tree blobs (-EINVAL:
 * drfs_writer_put keeps those for the tree cache). May block while the
 * pipeline is full. 0 or a negative errno (also a deferred failure).
 */
int drfs_writer_put_deferred(struct drfs_writer *w, enum drfs_blob_type type,
			     const void *p, size_t len,
			     struct drfs_writer_ids *ids);
/*
 * Wait until every id of ids is computed (and every put of it stored or
 * found present). 0, or the pipeline's failure: the ids are then valid
 * but their blobs may be lost. Always waits for the workers to be done
 * with ids, so ids may be freed afterwards.
 */
int drfs_writer_ids_wait(struct drfs_writer *w, struct drfs_writer_ids *ids);
void drfs_writer_ids_free(struct drfs_writer_ids *ids);
/*
 * Wait until every blob put so far is in an uploaded pack, write the
 * index/ object of the new packs and record them in the cache. 0, or the
 * pipeline's first failure (a negative errno): it stays the writer's, and
 * every later put and flush returns it (drfs_writer_error in words).
 */
int drfs_writer_flush(struct drfs_writer *w);
/*
 * The first failure of the pipeline in words ("cannot upload
 * \"data/ab/...\": s3 PUT ... 503 SlowDown"), or NULL.
 */
const char *drfs_writer_error(struct drfs_writer *w);
/* A copy of the counters so far (any thread, any time). */
void drfs_writer_get_stats(struct drfs_writer *w,
			   struct drfs_writer_stats *ret);
/* Frees; pending unflushed blobs are dropped (their packs stay orphaned). */
void drfs_writer_free(struct drfs_writer *w);

/* ---- the dedup-loss guard and verification times (guard.c) ------------- */

/*
 * docs/verification.md. With r->verify_budget set, a writer keeps the
 * deduplicated blobs (with their data) of the packs verified longest ago,
 * up to the budget (in max(stored, raw) bytes). drfs_writer_guard reads
 * those copies back from the repository and verifies them; a corrupted or
 * missing one is marked bad in the cache and put again (a new pack at the
 * next flush, read first from then on). Call it before the flush that
 * precedes the snapshot object. Packs whose every kept blob verified get
 * their verification time. Adds to *ret. 0, or a negative errno when a
 * bad blob could not be stored again (or the cache cannot be written).
 */
struct drfs_guard_result {
	uint64_t bytes_read;     /* stored bytes read back */
	uint64_t blobs_verified; /* read and found good */
	uint64_t packs_read, packs_verified; /* touched; recorded good */
	uint64_t bad;            /* corrupted or missing copies found */
	uint64_t healed;         /* of those, stored again */
	uint64_t unread;         /* could not be read (backend errors) */
};
int drfs_writer_guard(struct drfs_writer *w, drfs_report_fn report,
		      void *report_data, struct drfs_guard_result *ret);

/* A pack in the order of verification: the one verified longest ago
 * (never: 0) first, then by local number (older packs first). */
struct drfs_verify_pack {
	struct drfs_id id;
	uint32_t seq, length;
	int64_t verified; /* time of the last verification, 0: never */
};
/* Every pack that stays (not doomed), in that order. *ret malloc'd. */
int drfs_repo_verify_order(struct drfs_repo *r, struct drfs_verify_pack **ret,
			   size_t *ret_n);
/* When pack was last verified here (0: never). */
int drfs_repo_pack_verified(struct drfs_txn *t, const struct drfs_id *pack,
			    int64_t *ret);
/* Record packs[0..n) as verified at when. */
int drfs_repo_verified_set(struct drfs_repo *r, const struct drfs_id *packs,
			   size_t n, int64_t when);

/* What this cache knows of the repository's verification (stats, metrics). */
struct drfs_verify_coverage {
	uint64_t packs, packs_verified; /* packs that stay; verified ever */
	uint64_t bytes, bytes_verified; /* their pack bytes */
	int64_t oldest; /* oldest verification of a verified pack; 0: none */
};
int drfs_repo_verify_coverage(struct drfs_repo *r,
			      struct drfs_verify_coverage *ret);

/*
 * Copies found corrupted: 1 if the copy of blob in the pack of local
 * number seq is known bad, 0 if not; mark one bad. A blob whose copy read
 * first is bad is stored again by the next writer that has its data; of
 * two copies the good one is read first.
 */
int drfs_repo_copy_bad(struct drfs_txn *t, const struct drfs_id *blob,
		       uint32_t seq);
int drfs_repo_mark_bad(struct drfs_repo *r, const struct drfs_id *blob,
		       const struct drfs_id *pack);
/*
 * For a blob with other copies (prune, before it decides which packs stay):
 * read its stored copies from the repository (never the local tree cache),
 * the one read first first; a corrupted one is marked bad and the first
 * good one becomes the one read first. 1: the copy read first is now
 * verified good (the others are redundant); 0: no copy verified (every
 * copy must stay); a negative errno when the first copy cannot be read
 * (a backend error: nothing is decided). scratch: a buffer to read into.
 */
int drfs_repo_blob_settle(struct drfs_repo *r, const struct drfs_id *id,
			  struct drfs_buf *scratch);

/* ---- completeness on a backend (complete.c) ------------------------------ */

/*
 * Whether every object snapshot s references (its trees' and files'
 * packs) exists on backend be (e.g. one side of a replica), using r's
 * cache to map blobs to packs. 1 complete, 0 incomplete (the first missing
 * object reported), negative errno.
 */
int drfs_snapshot_complete_on(struct drfs_repo *r, struct drfs_backend *be,
			      const struct drfs_snap_info *s,
			      drfs_report_fn report, void *report_data);

/*
 * The newest snapshot f matches (NULL: any) complete on be (by
 * drfs_snapshot_complete_on): 0 and *ret, -ENOENT if none is.
 */
int drfs_snapshot_newest_complete(struct drfs_repo *r, struct drfs_backend *be,
				  const struct drfs_snap_filter *f,
				  struct drfs_snap_info *ret);

/*
 * Whether reads of r may come from its replica now: r is a replica pair
 * whose primary is down or has failed a read. Replication may lag, so
 * then only snapshots complete on the replica (*ret_rep, may be NULL) are
 * to be served: the one rule of the mount, restore and drill.
 */
bool drfs_repo_replica_serving(struct drfs_repo *r,
			       struct drfs_backend **ret_rep);

#endif
