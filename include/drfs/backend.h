/* SPDX-License-Identifier: MIT */
/*
 * backend.h - whole-object storage: put/get/get-range/head/list/delete.
 * Implementations: local directory (backend/local.c), S3 (backend/s3*.c).
 *
 * Object names are relative to the repository root and use '/' as separator
 * ("config", "keys/<hex>", "data/ab/<hex>", "index/<hex>", "snapshots/<hex>",
 * "locks/<hex>"). At most DRFS_OBJECT_NAME_MAX bytes, no "..", no leading '/'.
 *
 * Thread rule: every operation may run concurrently from any thread.
 * Errors (negative errno, the only translation of HTTP/curl/filesystem
 * errors): -ENOENT no such object (or bucket/directory missing at open),
 * -EEXIST create-only put found the object, -EACCES credentials refused,
 * -EPERM operation forbidden (e.g. delete on an append-only key),
 * -EHOSTUNREACH/-ECONNREFUSED/-ETIMEDOUT network, -EIO anything else after
 * retries, -E2BIG object larger than the caller's max, -ENOSPC local disk full.
 * A backend may keep a human-readable detail of its last error
 * (drfs_backend_last_error) for the caller to print; it never holds secrets.
 */
#ifndef DRFS_BACKEND_H
#define DRFS_BACKEND_H

#include <stdatomic.h>

#include "drfs/base.h"
#include "drfs/buf.h"
#include "drfs/limits.h"

struct drfs_backend;

/*
 * put flags. DRFS_PUT_CREATE_ONLY: never replace an object (S3: the request
 * carries If-None-Match: *). When name exists with exactly the bytes given,
 * the put succeeds (an earlier attempt stored it and only the answer was
 * lost); with other bytes it fails with -EEXIST and the object is left as
 * it is.
 */
#define DRFS_PUT_CREATE_ONLY 1u

/* Results of set_retention. */
enum {
	DRFS_RETAIN_EXTENDED = 0, /* set, or extended */
	DRFS_RETAIN_KEPT = 1,     /* already retained at least that long */
	/* compliance asked over a governance retention and converted (and
	 * extended if need be) */
	DRFS_RETAIN_CONVERTED = 2,
	/* compliance asked, the conversion refused (the credentials lack
	 * the governance bypass): still governance, extended if need be;
	 * the refusal is the backend's last error */
	DRFS_RETAIN_NOT_CONVERTED = 3,
};

/* Called once per object; return < 0 to stop the listing with that error. */
typedef int (*drfs_list_cb)(const char *name, uint64_t size, void *userdata);
/* The same with the object's modification time (Unix seconds; the clock of
 * the storage: the S3 server's LastModified, the file's mtime). */
typedef int (*drfs_list_mtime_cb)(const char *name, uint64_t size,
				  int64_t mtime, void *userdata);

/* What a listing or a stat says about one object. */
struct drfs_obj_info {
	uint64_t size;
	/* The server's ETag, unquoted; "" when the backend has none (a
	 * local directory). A single-part S3 upload's is the hex MD5 of its
	 * bytes (unless the server encrypts with KMS). */
	char etag[DRFS_OBJECT_ETAG_MAX + 1];
	/* Modification time in the storage's clock (Unix seconds), as
	 * list_mtime gives it; 0: unknown (stat does not fill it). */
	int64_t mtime;
};
typedef int (*drfs_list_info_cb)(const char *name,
				 const struct drfs_obj_info *info,
				 void *userdata);

struct drfs_backend_ops {
	/* Store p[0..len) as name, atomically (never a partial object). */
	int (*put)(struct drfs_backend *b, const char *name, const void *p,
		   size_t len, unsigned flags);
	/*
	 * Append bytes [off, off+len) of name to out (len UINT64_MAX: to the
	 * end). Appending more than out->max fails with -E2BIG. A range past
	 * the end returns what exists (possibly nothing).
	 */
	int (*get)(struct drfs_backend *b, const char *name, uint64_t off,
		   uint64_t len, struct drfs_buf *out);
	/* Size of name; -ENOENT if absent. */
	int (*head)(struct drfs_backend *b, const char *name, uint64_t *ret_size);
	/* Every object whose name starts with prefix, in no particular order. */
	int (*list)(struct drfs_backend *b, const char *prefix, drfs_list_cb cb,
		    void *userdata);
	/* Optional (NULL: -EOPNOTSUPP): list with modification times. */
	int (*list_mtime)(struct drfs_backend *b, const char *prefix,
			  drfs_list_mtime_cb cb, void *userdata);
	/* Optional: list with each object's ETag (NULL: list, ETags ""). */
	int (*list_info)(struct drfs_backend *b, const char *prefix,
			 drfs_list_info_cb cb, void *userdata);
	/* Optional: head with the ETag (NULL: head, ETag ""). -ENOENT. */
	int (*stat)(struct drfs_backend *b, const char *name,
		    struct drfs_obj_info *ret);
	/* Delete name; deleting a missing object succeeds. */
	int (*del)(struct drfs_backend *b, const char *name);
	/* Optional batch delete (S3 DeleteObjects); NULL -> loop over del. */
	int (*del_many)(struct drfs_backend *b, const char *const *names,
			size_t n);
	/*
	 * Optional (NULL: -EOPNOTSUPP): keep name under S3 Object Lock
	 * retention until `until` (seconds since 1970, UTC), in compliance or
	 * governance mode; a retention already set is never shortened and a
	 * compliance one stays compliance. Returns a DRFS_RETAIN_* result;
	 * -EOPNOTSUPP when the bucket has no Object Lock.
	 */
	int (*set_retention)(struct drfs_backend *b, const char *name,
			     int64_t until, bool compliance);
	/*
	 * Optional (NULL: -EOPNOTSUPP): name's Object Lock retention: 1 and
	 * *until (seconds since 1970), 0 none; -EOPNOTSUPP when the bucket
	 * has no Object Lock.
	 */
	int (*get_retention)(struct drfs_backend *b, const char *name,
			     int64_t *until, bool *compliance);
	/*
	 * Optional (NULL: -EOPNOTSUPP): whether these credentials can replace
	 * an existing object - tried on a fixed probe object (S3:
	 * ".drfs-inm-probe", created create-only if absent, then PUT again
	 * with the same bytes and no If-None-Match). 1 the overwrite was
	 * refused (create-only is enforced), 0 it succeeded.
	 */
	int (*probe_overwrite)(struct drfs_backend *b);
	/* Last error detail, or NULL. */
	const char *(*last_error)(struct drfs_backend *b);
	void (*free)(struct drfs_backend *b);
};

/*
 * What went wrong with a request (the metrics' "kind" label,
 * docs/monitoring.md): connect (connection refused, host unreachable or
 * not found), timeout, transfer (reset, short answer, TLS), throttle (429,
 * SlowDown), server (other 5xx), denied (403), other.
 */
enum drfs_backend_kind {
	DRFS_BE_CONNECT,
	DRFS_BE_TIMEOUT,
	DRFS_BE_TRANSFER,
	DRFS_BE_THROTTLE,
	DRFS_BE_SERVER,
	DRFS_BE_DENIED,
	DRFS_BE_OTHER,
	DRFS_BE_KINDS
};
/* "connect", "timeout", ... */
const char *drfs_backend_kind_name(enum drfs_backend_kind k);

struct drfs_backend {
	const struct drfs_backend_ops *ops;
	/* Printable location ("/srv/repo", "s3://bucket/prefix at https://..."). */
	char *display;
	/*
	 * Requests cost a round trip (S3): readers should fetch larger
	 * ranges and cache them rather than issue one request per blob.
	 */
	bool remote;
	/*
	 * Counters since open (C11 atomics, any thread): requests that
	 * failed after their retries, and retries, by kind. Only the S3
	 * backend counts (a local directory has no requests to retry).
	 */
	_Atomic uint64_t errors[DRFS_BE_KINDS];
	_Atomic uint64_t retries[DRFS_BE_KINDS];
};

struct drfs_backend_opts {
	const char *endpoint;   /* S3: overrides AWS_ENDPOINT_URL_S3 etc. */
	const char *region;     /* S3: overrides AWS_REGION */
	/* S3: the profile of ~/.aws/{credentials,config} (overrides
	 * AWS_PROFILE; its keys win over AWS_ACCESS_KEY_ID) */
	const char *profile;
	int path_style;         /* S3: -1 auto, 0 virtual-hosted, 1 path */
	int connections;        /* S3: parallel transfers; 0 = default */
	int retries;            /* S3: attempts after the first; -1 default */
	bool insecure_tls;      /* S3: --s3-insecure-no-tls-verify */
	bool create;            /* local: create the directory (init) */
};

/*
 * Open the backend named by url: "/path", "file:///path", "s3://bucket[/p]".
 * Local: -ENOENT if the directory is missing (unless opts->create).
 * S3: checks the bucket exists and the credentials work (a cheap signed
 * request) and fails with a clear error before any work starts.
 * @param opts  NULL: the defaults; read during the call only (the strings
 *              it names are copied).
 * @param[out] ret  the backend, the caller's to drfs_backend_free; set
 *                  only on success.
 * Returns 0, or a negative errno of the list above (-EINVAL for a URL of
 * no known shape; drfs_backend_open_error() says why).
 */
int drfs_backend_open(const char *url, const struct drfs_backend_opts *opts,
		      struct drfs_backend **ret);
/*
 * drfs_backend_open's two halves, for a URL already told apart: a local
 * directory (path non-empty; create: make it and its parents, mode 0700)
 * and an S3 bucket. Same contract for ret and the errors.
 */
int drfs_backend_local_open(const char *path, bool create,
			    struct drfs_backend **ret);
/*
 * The directory a local backend works in (owned by the backend: do not
 * close it), for "drfs check" to look at its modes; -EOPNOTSUPP for any
 * other backend.
 */
int drfs_backend_local_dirfd(struct drfs_backend *b);
int drfs_backend_s3_open(const char *url, const struct drfs_backend_opts *opts,
			 struct drfs_backend **ret);
/*
 * Close b and free it (accepts NULL). No operation on b may still be
 * running in another thread.
 */
void drfs_backend_free(struct drfs_backend *b);
/* Detail of the calling thread's last failed drfs_backend_open, or NULL. */
const char *drfs_backend_open_error(void);

/*
 * Bandwidth limits of this process (--limit-upload, --limit-download),
 * bytes per second, 0 for none: one token bucket each, shared by every
 * backend and every thread of the process (a copy's two repositories, a
 * replica's two sides, a mount's FUSE and upload threads). A put waits
 * until its bytes fit before it is sent, a get after its bytes arrived,
 * so a transfer of n bytes takes at least about n / rate seconds beyond
 * a burst of a quarter of a second's worth. Each backend implementation
 * calls drfs_backend_limit_up/down with the bytes of an object's put or
 * get (not of its retries, listings or other requests). Set before any
 * backend transfers; thread-safe.
 */
void drfs_backend_set_limits(uint64_t up_bps, uint64_t down_bps);
/* Wait until n more bytes may go up (down). */
void drfs_backend_limit_up(uint64_t n);
void drfs_backend_limit_down(uint64_t n);

/*
 * The operations. Each wrapper's contract is its op's in struct
 * drfs_backend_ops above (arguments, what it returns), with the errors and
 * the thread rule at the top of this file; the optional ops answer
 * -EOPNOTSUPP where the backend has none. Every pointer argument is read
 * during the call only; name is an object name as described at the top.
 */
static inline int drfs_backend_put(struct drfs_backend *b, const char *name,
				   const void *p, size_t len, unsigned flags)
{
	return b->ops->put(b, name, p, len, flags);
}
static inline int drfs_backend_get(struct drfs_backend *b, const char *name,
				   uint64_t off, uint64_t len,
				   struct drfs_buf *out)
{
	return b->ops->get(b, name, off, len, out);
}
static inline int drfs_backend_head(struct drfs_backend *b, const char *name,
				    uint64_t *ret_size)
{
	return b->ops->head(b, name, ret_size);
}
static inline int drfs_backend_list(struct drfs_backend *b, const char *prefix,
				    drfs_list_cb cb, void *userdata)
{
	return b->ops->list(b, prefix, cb, userdata);
}
static inline int drfs_backend_list_mtime(struct drfs_backend *b,
					  const char *prefix,
					  drfs_list_mtime_cb cb,
					  void *userdata)
{
	if (!b->ops->list_mtime)
		return -EOPNOTSUPP;
	return b->ops->list_mtime(b, prefix, cb, userdata);
}
static inline int drfs_backend_del(struct drfs_backend *b, const char *name)
{
	return b->ops->del(b, name);
}
/*
 * Delete names[0..n) (n 0: nothing): in batches where the backend can (S3
 * DeleteObjects), else one by one. Stops at the first failure: the names
 * before it are gone, the rest may not be.
 */
int drfs_backend_del_many(struct drfs_backend *b, const char *const *names,
			  size_t n);
/*
 * Whether etag is the MD5 of p[0..len) (a single-part S3 upload's ETag):
 * 1 yes, 0 no, -1 etag is not an MD5 (none, multipart, or not hex).
 */
int drfs_backend_etag_md5(const char *etag, const void *p, size_t len);
/* list with ETags where the backend has them (list_info), else "". */
int drfs_backend_list_info(struct drfs_backend *b, const char *prefix,
			   drfs_list_info_cb cb, void *userdata);
/* head with the ETag where the backend has one (stat), else "". */
int drfs_backend_stat(struct drfs_backend *b, const char *name,
		      struct drfs_obj_info *ret);
/*
 * Whether object name holds exactly p[0..len): 1 yes, 0 other bytes (or
 * absent: -ENOENT), < 0 the read failed. Reads the object whole (at most
 * len + 1 bytes). For implementations of DRFS_PUT_CREATE_ONLY.
 */
int drfs_backend_same_bytes(struct drfs_backend *b, const char *name,
			    const void *p, size_t len);
static inline int drfs_backend_set_retention(struct drfs_backend *b,
					     const char *name, int64_t until,
					     bool compliance)
{
	if (!b->ops->set_retention)
		return -EOPNOTSUPP;
	return b->ops->set_retention(b, name, until, compliance);
}
static inline int drfs_backend_get_retention(struct drfs_backend *b,
					     const char *name, int64_t *until,
					     bool *compliance)
{
	if (!b->ops->get_retention)
		return -EOPNOTSUPP;
	return b->ops->get_retention(b, name, until, compliance);
}
static inline int drfs_backend_probe_overwrite(struct drfs_backend *b)
{
	if (!b->ops->probe_overwrite)
		return -EOPNOTSUPP;
	return b->ops->probe_overwrite(b);
}
/*
 * The detail of a failure, or NULL: S3, the calling thread's last one,
 * else b's most recent; a local directory, b's most recent. The text is
 * in a buffer of the calling thread, valid until that thread's next call
 * on a backend; it never holds secrets.
 */
static inline const char *drfs_backend_last_error(struct drfs_backend *b)
{
	return b->ops->last_error ? b->ops->last_error(b) : NULL;
}

#endif
