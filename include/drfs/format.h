/* SPDX-License-Identifier: MIT */
/*
 * format.h - encoders and decoders of every repository object (format
 * layer). docs/format.md is the byte-level specification; this header is
 * the C view of it.
 *
 * Every decoder is a pure function over (buf, len) of untrusted bytes: it
 * checks each length against include/drfs/limits.h, returns -EBADMSG on
 * anything malformed, never reads out of bounds and allocates nothing
 * proportional to a declared (rather than present) size. Decoded pointers
 * point into the input and live as long as it does.
 */
#ifndef DRFS_FORMAT_H
#define DRFS_FORMAT_H

#include <sys/stat.h>

#include "drfs/base.h"
#include "drfs/buf.h"
#include "drfs/chunker.h"
#include "drfs/crypto.h"
#include "drfs/limits.h"
#include "drfs/stack.h"

#define DRFS_FORMAT_VERSION 1

/* ---- sealed objects ------------------------------------------------- */

/*
 * Every object except packs and key files is sealed:
 *   "DRFS" | kind u8 | version u8 | enc u8 | 0 u8 | body
 *   enc 1: nonce(12) | AES-256-GCM(payload) | tag(16), aad = the 8 header bytes
 *   enc 0: payload | SHA-256(header | payload)
 */
enum drfs_obj_kind {
	DRFS_OBJ_CONFIG = 1,
	DRFS_OBJ_PACK_TRAILER = 2,
	DRFS_OBJ_INDEX = 3,
	DRFS_OBJ_SNAPSHOT = 4,
	DRFS_OBJ_LOCK = 5,
	DRFS_OBJ_POLICY = 6,
	DRFS_OBJ_HOLD = 7,
	DRFS_OBJ_FORGET = 8,
	DRFS_OBJ_NAME = 9,
	DRFS_OBJ_DELETION = 10,
};

#define DRFS_SEAL_HEADER_LEN 8

/*
 * Seal payload p[0..len) as an object of kind, encrypted with k's data key
 * when k is (a fresh random nonce), and append it to out. 0, or -E2BIG
 * (past out->max), -ENOMEM, -EIO (the cipher failed); out as it was on
 * failure. Pure but for the nonce: any thread.
 */
int drfs_seal(const struct drfs_keys *k, enum drfs_obj_kind kind,
	      const void *p, size_t len, struct drfs_buf *out) _warn_unused_;
/*
 * The inverse: check obj[0..len) is a sealed object of kind in k's mode
 * and append its payload to out.
 * -EBADMSG: bad magic/kind/version/enc, or failed authentication.
 */
int drfs_unseal(const struct drfs_keys *k, enum drfs_obj_kind kind,
		const void *obj, size_t len, struct drfs_buf *out) _warn_unused_;

/* ---- key files: keys/<id> ------------------------------------------- */

/*
 * "DRFSKEY1" | enc u8 | log2n u8 | r le32 | p le32 | salt[32] |
 *   enc 1: nonce(12) | AES-256-GCM(data key | id key) | tag(16), aad = the
 *          first 50 bytes, key = scrypt(passphrase, salt, params)
 *   enc 0: data key | id key
 */
#define DRFS_KEYFILE_LEN_ENC (8 + 1 + 1 + 4 + 4 + 32 + 12 + 64 + 16)
#define DRFS_KEYFILE_LEN_PLAIN (8 + 1 + 1 + 4 + 4 + 32 + 64)

/*
 * Append a key file holding k's keys to out: wrapped with a key scrypt
 * derives from pass (sp, a fresh random salt) when k->encrypted, else in
 * the clear (pass unused). 0, or -EBADMSG (sp out of range), -E2BIG,
 * -ENOMEM, -EIO, the error of the random source; out as it was on
 * failure. The plaintext keys and the
 * wrapping key are wiped from the stack before it returns.
 */
int drfs_keyfile_create(const struct drfs_keys *k, const char *pass,
			const struct drfs_scrypt_params *sp,
			struct drfs_buf *out) _warn_unused_;
/* -EACCES: wrong passphrase. -EBADMSG: not a key file. */
int drfs_keyfile_open(const void *p, size_t len, const char *pass,
		      struct drfs_keys *ret) _warn_unused_;
/* Whether the key file needs a passphrase (enc 1); -EBADMSG if garbage. */
int drfs_keyfile_encrypted(const void *p, size_t len);

/* ---- config --------------------------------------------------------- */

struct drfs_config {
	uint32_t version;
	uint8_t repo_id[16];
	struct drfs_chunker_params chunker;
	int32_t zstd_level;
	uint32_t pack_target;
};

/*
 * Append c's encoding (the config object's payload) to out: 0, or -E2BIG,
 * -ENOMEM (out may then hold part of it).
 */
int drfs_config_encode(const struct drfs_config *c, struct drfs_buf *out);
/*
 * Decode a config payload into *ret (set only on success): -EBADMSG
 * malformed or out of range (chunker parameters, zstd level, pack
 * target), -EPROTONOSUPPORT another format version.
 */
int drfs_config_decode(const void *p, size_t len, struct drfs_config *ret);

/* ---- packs: data/<xx>/<pack-id> --------------------------------------- */

enum drfs_blob_type {
	DRFS_BLOB_DATA = 0,
	DRFS_BLOB_TREE = 1,
};
#define DRFS_BLOB_F_ZSTD 1u

/* One blob in a pack (trailer entry, index entry). */
struct drfs_pack_entry {
	struct drfs_id id;
	uint8_t type;
	uint8_t flags;
	uint32_t offset;     /* in the pack */
	uint32_t stored_len; /* bytes in the pack */
	uint32_t raw_len;    /* plaintext length */
};
#define DRFS_PACK_ENTRY_LEN 46

/*
 * A pack is blob records back to back, then the sealed trailer, then
 * le32(trailer length) and the 8-byte magic "DRFSPAK1". The pack's name is
 * the hex SHA-256 of all its bytes. Trailer payload: version u8 = 1,
 * le32 count, count entries.
 */
#define DRFS_PACK_MAGIC "DRFSPAK1"
#define DRFS_PACK_TAIL_LEN 12

void drfs_pack_entry_put(uint8_t out[DRFS_PACK_ENTRY_LEN],
			 const struct drfs_pack_entry *e);
void drfs_pack_entry_get(const uint8_t in[DRFS_PACK_ENTRY_LEN],
			 struct drfs_pack_entry *e);
/* Check type/flags/lengths of one entry against limits and a pack size. */
int drfs_pack_entry_check(const struct drfs_pack_entry *e, uint64_t pack_len);

/*
 * Seal one blob record: the plaintext is zstd-compressed when that pays
 * (zctx may be NULL: never compress), then encrypted with aad = id. Appends
 * to out, fills *e (offset = out->len before the append).
 */
struct drfs_zctx;
int drfs_blob_seal(const struct drfs_keys *k, struct drfs_zctx *z,
		   enum drfs_blob_type type, const struct drfs_id *id,
		   const void *p, size_t len, struct drfs_buf *out,
		   struct drfs_pack_entry *e) _warn_unused_;
/*
 * Open one blob record (stored bytes of e): decrypt, decompress and verify
 * that the blob id recomputes to e->id. Appends raw_len bytes to out.
 * -EBADMSG on any mismatch.
 */
int drfs_blob_open(const struct drfs_keys *k, struct drfs_zctx *z,
		   const struct drfs_pack_entry *e, const void *stored,
		   size_t len, struct drfs_buf *out) _warn_unused_;

/* Append the sealed trailer and tail for entries[0..n) to pack. */
int drfs_pack_finish(const struct drfs_keys *k,
		     const struct drfs_pack_entry *entries, size_t n,
		     struct drfs_buf *pack) _warn_unused_;
/*
 * From the last DRFS_PACK_TAIL_LEN bytes of a pack of pack_len bytes, the
 * offset and length of its sealed trailer.
 */
int drfs_pack_tail_parse(const void *tail, size_t len, uint64_t pack_len,
			 uint64_t *ret_off, uint32_t *ret_len);
/*
 * Decode a sealed trailer into entries (malloc'd array in *ret, count in
 * *ret_n; caller frees). Every entry is checked against pack_len and the
 * trailer offset (blobs must lie before the trailer and not overlap).
 */
int drfs_pack_trailer_decode(const struct drfs_keys *k, const void *p,
			     size_t len, uint64_t trailer_off,
			     struct drfs_pack_entry **ret, size_t *ret_n);

/* ---- trees ------------------------------------------------------------ */

/*
 * A tree blob lists one directory: version u8 = 1, then entries sorted by
 * name (memcmp, shorter first on a common prefix), no duplicates. See
 * docs/format.md for the entry layout.
 */
struct drfs_xattr {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

struct drfs_extent {
	uint64_t off; /* file offset */
	uint32_t len;
	struct drfs_id id; /* data blob */
};

/* A growing array of extents (a file being chunked); free v when done. */
struct drfs_extent_vec {
	struct drfs_extent *v;
	size_t n, cap;
};
int drfs_extent_vec_push(struct drfs_extent_vec *x, uint64_t off,
			 uint32_t len, const struct drfs_id *id);

struct drfs_node {
	const uint8_t *name;
	size_t name_len;
	uint32_t mode; /* st_mode incl. S_IFMT */
	uint32_t uid, gid;
	struct timespec mtime, atime, ctime;
	uint64_t size;
	uint32_t nlink;
	uint64_t ino;  /* source inode: hard-link group when nlink > 1 */
	uint64_t rdev; /* devices */
	const uint8_t *target; /* symlinks */
	size_t target_len;
	struct drfs_id subtree; /* directories */
	uint32_t n_xattrs;
	uint32_t n_extents;
	/* positioned at the xattrs / extents of this entry (decoded nodes) */
	struct drfs_rd xattr_rd;
	struct drfs_rd extent_rd;
	uint64_t extent_end; /* iteration state of drfs_node_next_extent */
};

struct drfs_tree_enc {
	struct drfs_buf *out;
	struct drfs_buf last_name;
	size_t count;
};

void drfs_tree_enc_init(struct drfs_tree_enc *e, struct drfs_buf *out);
void drfs_tree_enc_release(struct drfs_tree_enc *e);
/* -EINVAL if names are not strictly increasing or the node is invalid. */
int drfs_tree_enc_add(struct drfs_tree_enc *e, const struct drfs_node *n,
		      const struct drfs_xattr *xattrs, size_t n_xattrs,
		      const struct drfs_extent *extents, size_t n_extents);

struct drfs_tree_iter {
	struct drfs_rd rd;
	const uint8_t *last_name;
	size_t last_name_len;
	bool first;
};

int drfs_tree_iter_init(struct drfs_tree_iter *it, const void *p, size_t len);
/*
 * 1 and *ret filled, 0 at the end, -EBADMSG. The entry is fully validated,
 * its name too (drfs_name_ok): a bad name makes the listing -EBADMSG.
 */
int drfs_tree_iter_next(struct drfs_tree_iter *it, struct drfs_node *ret);
/*
 * The same for writers of trees to disk (restore, drill), which refuse an
 * entry with a bad name and go on with the rest: such an entry (its name
 * empty, "." or "..", holding '/' or NUL, or longer than DRFS_NAME_MAX but
 * at most DRFS_PATH_MAX bytes) is otherwise validated like any other and
 * returned as DRFS_TREE_BAD_NAME; its name must never be used as a path.
 */
#define DRFS_TREE_BAD_NAME 2
int drfs_tree_iter_next_any(struct drfs_tree_iter *it, struct drfs_node *ret);
/* Whether a tree entry name is a valid file name (see above). */
bool drfs_name_ok(const uint8_t *name, size_t len);
/* Iterate a decoded node's xattrs/extents: 1, 0 at end (already validated). */
int drfs_node_next_xattr(struct drfs_node *n, struct drfs_xattr *ret);
int drfs_node_next_extent(struct drfs_node *n, struct drfs_extent *ret);
/* Find name in a tree blob (binary search is impossible with varints; a scan). */
int drfs_tree_find(const void *p, size_t len, const uint8_t *name,
		   size_t name_len, struct drfs_node *ret);

/*
 * A depth-first walk over trees that keeps its path on the heap (stack.h),
 * never on the C stack, so its depth is limited by memory only (the format
 * sets no limit on depth). Level 0 is the first tree pushed, the deepest
 * level the one being iterated. A level keeps its address while it is on
 * the walk: its blob, and the node last returned from it (with pointers
 * into the blob), stay valid while deeper levels come and go.
 *
 *	drfs_tree_walk_init(&w, drfs_repo_blob_reader, repo);
 *	e = drfs_tree_walk_push(&w, root);
 *	while (e >= 0 && drfs_tree_walk_depth(&w)) {
 *		e = drfs_tree_walk_next(&w, &n);
 *		if (e == 0)                      (the end of the deepest tree)
 *			drfs_tree_walk_pop(&w);
 *		else if (e > 0 && S_ISDIR(n->mode))
 *			e = drfs_tree_walk_push(&w, &n->subtree);
 *	}
 *	drfs_tree_walk_release(&w);
 *
 * Not thread-safe: one walk per thread.
 */
typedef int (*drfs_blob_read_fn)(void *userdata, const struct drfs_id *id,
				 struct drfs_buf *out);

struct drfs_tree_level {
	struct drfs_id id;     /* the tree */
	struct drfs_buf blob;  /* its bytes */
	struct drfs_tree_iter it;
	struct drfs_node node; /* the entry drfs_tree_walk_next returned last */
	size_t user;           /* the caller's (e.g. its path's length here) */
};

struct drfs_tree_walk {
	struct drfs_stack levels;   /* struct drfs_tree_level */
	drfs_blob_read_fn read;     /* appends the blob of id to out */
	void *read_data;
};

void drfs_tree_walk_init(struct drfs_tree_walk *w, drfs_blob_read_fn read,
			 void *read_data);
void drfs_tree_walk_release(struct drfs_tree_walk *w);
/*
 * Read tree id and make it the deepest level: 0; the read's error, -EBADMSG
 * if it is no tree, -ENOMEM: then nothing was pushed.
 */
int drfs_tree_walk_push(struct drfs_tree_walk *w, const struct drfs_id *id);
/*
 * The next entry of the deepest level, in its node (*ret points there): 1;
 * 0 at the end of that tree; -EBADMSG. The depth must be > 0.
 */
int drfs_tree_walk_next(struct drfs_tree_walk *w, struct drfs_node **ret);
/* Leave the deepest level (the depth must be > 0). */
void drfs_tree_walk_pop(struct drfs_tree_walk *w);
static inline size_t drfs_tree_walk_depth(const struct drfs_tree_walk *w)
{
	return w->levels.depth;
}
/* The deepest level; NULL at depth 0. */
static inline struct drfs_tree_level *
drfs_tree_walk_top(const struct drfs_tree_walk *w)
{
	return drfs_stack_top(&w->levels);
}

/*
 * A walk's path, for messages: path (size bytes, at least 5) holds "/a/b"
 * of length at; drfs_walk_path_add appends "/" and name there and returns
 * the new length. A path that would not fit ends in "/..." and grows no
 * further: its length then carries DRFS_WALK_PATH_CUT, and
 * at & ~DRFS_WALK_PATH_CUT is where to end it again (an uncut path always
 * leaves room for "/..."). The walk itself goes on at any depth.
 */
#define DRFS_WALK_PATH_CUT ((size_t)1 << (sizeof(size_t) * 8 - 1))
size_t drfs_walk_path_add(char *path, size_t size, size_t at,
			  const uint8_t *name, size_t name_len);

/* ---- snapshots: snapshots/<id> ---------------------------------------- */

struct drfs_snapshot {
	struct timespec time;
	struct drfs_id root;   /* tree of the backed-up directory's contents */
	struct drfs_id parent; /* zero: none */
	/* tree with one entry "root": the directory itself (mode, owner,
	 * times, xattrs), subtree = root; zero: none */
	struct drfs_id meta;
	char host[DRFS_HOST_MAX_BUF];
	char path[DRFS_PATH_MAX_BUF]; /* source directory, or "now" */
	uint32_t n_tags;
	char tags[DRFS_TAGS_BUF]; /* n_tags NUL-terminated strings */
	uint64_t files, dirs, bytes;       /* logical contents */
	uint64_t added_bytes, added_blobs; /* stored bytes this snapshot added */
	/*
	 * The folder name claimed when the snapshot was committed (payload
	 * version 2): drfs_snapshot_name_valid() for time. "": none (version
	 * 1, written before names were recorded; such a snapshot is shown
	 * under a name derived from the catalogue, docs/format.md §8).
	 */
	char name[DRFS_FOLDER_BUF];
	/*
	 * How long the backup (drfs backup: the walk to the snapshot
	 * object) or the commit of now/ took, in milliseconds; 0: not
	 * recorded (payload version 1 or 2, written before durations were).
	 */
	uint64_t duration_ms;
};

/*
 * Payload version 3 when s->duration_ms is set, else 2 when s->name is set
 * (valid for s->time), else 1.
 */
int drfs_snapshot_encode(const struct drfs_snapshot *s, struct drfs_buf *out);
int drfs_snapshot_decode(const void *p, size_t len, struct drfs_snapshot *ret);

/*
 * Folder name of a snapshot time: "YYYY-MM-DD/HHMMSS" (UTC), 17 bytes for
 * the years 0..9999 ("0000-00-00/000000" if gmtime fails).
 */
void drfs_snapshot_folder(const struct timespec *t, char out[DRFS_FOLDER_BUF]);
/*
 * Whether name may be recorded for a snapshot of time t: the 17-byte
 * folder of t, alone or followed by ".N", N in 1..DRFS_FOLDER_SUFFIX_MAX
 * in decimal without leading zeros.
 */
bool drfs_snapshot_name_valid(const char *name, const struct timespec *t);
/* Whether one of s's tags is tag exactly (within s->tags, NUL-separated). */
bool drfs_snapshot_has_tag(const struct drfs_snapshot *s, const char *tag);

/* ---- folder-name claims: names/<hex> --------------------------------- */

/*
 * A writer claims a folder name with a create-only put of this object
 * before it writes the snapshot that records the name; the claim is never
 * deleted, so a name is never given twice. The object's name hides the
 * folder (and so the time) from the storage provider:
 * names/<hex of HMAC-SHA-256(id key, "drfs-name" | folder)>. Payload of
 * the sealed object (kind DRFS_OBJ_NAME), never read back by drfs:
 * u8 version = 1 | token[16] (random: two claimants never write the same
 * bytes) | bytes folder.
 */
void drfs_name_claim(const struct drfs_keys *k, const char *folder,
		     char *out);
int drfs_claim_encode(const char *folder, const uint8_t token[16],
		      struct drfs_buf *out);
/* ---- forget records: forgotten/<id> ------------------------------------ */

/*
 * Written (create-only) before snapshot objects are deleted, so a snapshot
 * that disappears without one is noticed (docs/rollback.md):
 *   u8 version = 1 | u8 flags | svarint time.sec | uvarint time.nsec |
 *   bytes host | uvarint n | n x (id[32] | svarint sec | uvarint nsec)
 * ids strictly increasing (memcmp); each with the snapshot's time (zero:
 * unknown). A baseline (flag) lists the parents already missing when a
 * repository without records was upgraded; other records list >= 1 id.
 */
#define DRFS_FORGET_F_BASELINE 1u

struct drfs_forget_entry {
	struct drfs_id id;
	struct timespec time; /* the snapshot's; zero: unknown */
};

struct drfs_forget_rec {
	uint8_t flags;
	struct timespec time; /* when the forget ran */
	char host[DRFS_HOST_MAX_BUF];
	uint32_t n;
	struct drfs_rd entries; /* decoded: at the first entry */
};

/* e[0..n) must be sorted by id without duplicates (-EINVAL). */
int drfs_forget_rec_encode(const struct drfs_forget_rec *h,
			   const struct drfs_forget_entry *e, size_t n,
			   struct drfs_buf *out);
/* Validates everything, entries included; -EBADMSG. */
int drfs_forget_rec_decode(const void *p, size_t len,
			   struct drfs_forget_rec *ret);
/* The next entry of a decoded record: 1, or 0 at the end. */
int drfs_forget_rec_next(struct drfs_forget_rec *rec,
			 struct drfs_forget_entry *ret);

/* ---- index objects: index/<id> ---------------------------------------- */

/*
 * version u8 = 1, then records: pack id[32] | le32 pack length |
 * uvarint count | count entries (46 bytes each).
 */
struct drfs_indexobj_iter {
	struct drfs_rd rd;
};

int drfs_indexobj_begin(struct drfs_buf *out);
int drfs_indexobj_add(struct drfs_buf *out, const struct drfs_id *pack,
		      uint32_t pack_len, const struct drfs_pack_entry *e,
		      size_t n);
int drfs_indexobj_iter_init(struct drfs_indexobj_iter *it, const void *p,
			    size_t len);
/*
 * 1 with the next pack: its id, length, count, and raw entry bytes
 * (count * DRFS_PACK_ENTRY_LEN, each checked) to read with
 * drfs_pack_entry_get; 0 at end; -EBADMSG.
 */
int drfs_indexobj_iter_next(struct drfs_indexobj_iter *it,
			    struct drfs_id *ret_pack, uint32_t *ret_len,
			    size_t *ret_n, const uint8_t **ret_entries);
/* 0 if the whole object decodes (every record and entry), else -EBADMSG. */
int drfs_indexobj_check(const void *p, size_t len);

/* ---- locks: locks/<64 random hex> (kind 5) ----------------------------- */

/*
 * Version 2 (docs/format.md §9.1): u8 2 | u8 flags (bit 0 exclusive, bit 1
 * prune) | le64 time | le32 pid | holder[16] | le64 start | le64 watermark |
 * boot[16] | le64 pidns | le64 pstart | u8 role | u8 host_len | host |
 * le16 n | n x acknowledged deletion record id[32].
 * Version 1 (older drfs): u8 1 | u8 flags (bit 0: exclusive) | le64 time |
 * le32 pid | host (the rest: 0..DRFS_HOST_MAX bytes, no NUL).
 * The protocol is in include/drfs/lock.h.
 */
#define DRFS_LOCK_ACKS_MAX 64
#define DRFS_HOLDER_ID_LEN 16

struct drfs_lock_info {
	int version;            /* 2 (encode: anything else writes 1) */
	bool exclusive, prune;  /* prune: version 2 only, not with exclusive */
	int64_t time;
	uint32_t pid;
	char host[DRFS_HOST_MAX_BUF]; /* NUL-terminated */
	/* version 2 */
	uint8_t holder[DRFS_HOLDER_ID_LEN];
	int64_t start, watermark;
	uint8_t boot[16];
	uint64_t pidns, pstart;
	uint8_t role;           /* enum drfs_lock_role (lock.h), <= 4 */
	size_t n_acks;
	struct drfs_id acks[DRFS_LOCK_ACKS_MAX];
};

/* -EINVAL if host is longer than DRFS_HOST_MAX or the fields do not fit. */
int drfs_lock_encode(const struct drfs_lock_info *li, struct drfs_buf *out);
/* Pure; either version; -EBADMSG. */
int drfs_lock_decode(const void *p, size_t len, struct drfs_lock_info *ret);

/* ---- the repository's keep-policy: policy (kind 6) ----------------------- */

/* Counts: 0 = rule not used (prune.h applies it). */
struct drfs_policy {
	uint32_t last, hourly, daily, weekly, monthly, yearly;
	int64_t within;          /* seconds; 0 = not used */
	uint32_t n_tags;
	char tags[DRFS_TAGS_BUF]; /* n_tags NUL-terminated strings */
};

/*
 * version u8 = 1 | le32 last, hourly, daily, weekly, monthly, yearly |
 * le64 within | le32 n_tags | n_tags NUL-terminated strings
 */
int drfs_policy_encode(const struct drfs_policy *p, struct drfs_buf *out);
int drfs_policy_decode(const void *buf, size_t len, struct drfs_policy *ret);
/* ---- deletion records: deletions/<id> --------------------------------- */

/*
 * A prune that deferred deleting packs because other processes were using
 * the repository (docs/retention.md, docs/format.md §9.5). Payload:
 *   u8 version = 1 | le64 time | prune holder id[16] | u8 n (<= 64) |
 *   n x holder id[16] (the holders live when it was written) |
 *   an index object payload (u8 1, then per pack as in index objects):
 *   the doomed packs, each with the blobs caches may still read from it.
 */
#define DRFS_DELETION_HOLDERS_MAX 64

struct drfs_deletion {
	int64_t time;
	uint8_t prune[16];
	size_t n_holders;
	uint8_t holders[DRFS_DELETION_HOLDERS_MAX][16];
	/* decode: the index part, pointing into the decoded bytes */
	const uint8_t *index;
	size_t index_len;
};

/* Append the header and the index part's version byte (then add packs
 * with drfs_indexobj_add). -EINVAL: too many holders. */
int drfs_deletion_begin(const struct drfs_deletion *d, struct drfs_buf *out);
/* Pure: header and every pack record checked; -EBADMSG. */
int drfs_deletion_decode(const void *p, size_t len, struct drfs_deletion *ret);

/* Object names. out must hold DRFS_OBJECT_NAME_MAX bytes. */
void drfs_name_pack(const struct drfs_id *id, char *out);
void drfs_name_deletion(const struct drfs_id *id, char *out);
void drfs_name_index(const struct drfs_id *id, char *out);
void drfs_name_snapshot(const struct drfs_id *id, char *out);
void drfs_name_forget(const struct drfs_id *id, char *out);
/* Parse "<dir>/<64 hex>" (or "data/xx/<hex>"): 0 and id, -EINVAL. */
int drfs_name_parse(const char *name, const char *dir, struct drfs_id *ret);

#endif
