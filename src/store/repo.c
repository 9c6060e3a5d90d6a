/* SPDX-License-Identifier: MIT */
/*
 * repo.c - opening a repository, the local cache and its synchronisation,
 * verified blob reads and the snapshot catalogue.
 */
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
#include "drfs/storeint.h"

static _Thread_local char last_error[512];

static struct drfs_segcache *segcache_new(void);
static void segcache_free(struct drfs_segcache *c);

const char *drfs_repo_last_error(void)
{
	return last_error[0] ? last_error : NULL;
}

void drfs_repo_set_last_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

static int fail(int r, const char *fmt, ...) _printf_(2, 3);
static int fail(int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return r;
}

static int open_one(const char *url, const struct drfs_backend_opts *bo,
		    struct drfs_backend **ret)
{
	int r = drfs_backend_open(url, bo, ret);
	if (r < 0) {
		const char *why = drfs_backend_open_error();
		if (why)
			return fail(r, "cannot open repository \"%s\": %s",
				    url, why);
		if (r == -ENOENT)
			why = "no such directory or bucket";
		else if (r == -EACCES)
			why = "credentials refused";
		return fail(r, "cannot open repository \"%s\": %s", url,
			    why ? why : drfs_strerror(r));
	}
	return 0;
}

/*
 * Where the repository is, as the known-repositories file names it: the S3
 * backend's "s3://bucket/prefix at ENDPOINT", "file://" and the real path
 * of a local one. NULL when that cannot be told (no memory).
 */
static char *location_of(const char *url, struct drfs_backend *be)
{
	char *loc = NULL;
	if (be->remote)
		return strdup(be->display);
	if (strncmp(url, "file://", 7) == 0)
		url += 7;
	_cleanup_free_ char *real = realpath(url, NULL);
	if (!real || asprintf(&loc, "file://%s", real) < 0)
		return NULL;
	return loc;
}

/*
 * With o->replica: both backends behind a replica wrapper
 * (backend/replica.c). A primary that cannot be opened is replaced by a
 * stand-in that fails every request, so reads come from the replica; so is
 * an unreachable replica (not one that is missing or refuses us). Not on
 * init. Both sides are given the same config and keys.
 *
 * *ret_location: the primary's location_of(), NULL when the primary could
 * not be opened (the known-repositories file is then not consulted).
 */
static int open_backend(const struct drfs_repo_opts *o, bool create,
			struct drfs_backend **ret, char **ret_location)
{
	struct drfs_backend_opts bo = o->backend;
	struct drfs_backend *p = NULL, *rep = NULL, *w;
	bo.create = create;
	*ret_location = NULL;
	int r = open_one(o->url, &bo, &p);
	if (r >= 0)
		*ret_location = location_of(o->url, p);
	if (!o->replica)
		return r < 0 ? r : (*ret = p, 0);
	if (r < 0 && (create || r == -EINVAL || r == -ENOMEM))
		return r;
	if (r < 0) {
		int e = drfs_backend_unavailable_new(o->url, r, &p);
		if (e < 0)
			return e;
	}
	struct drfs_backend_opts ro = bo;
	if (o->replica_backend.endpoint)
		ro.endpoint = o->replica_backend.endpoint;
	if (o->replica_backend.region)
		ro.region = o->replica_backend.region;
	if (o->replica_backend.profile)
		ro.profile = o->replica_backend.profile;
	r = open_one(o->replica, &ro, &rep);
	if (r < 0 && !create && r != -ENOENT && r != -EINVAL && r != -ENOMEM &&
	    r != -EACCES) {
		/* unreachable: reads use the primary; writes fail (sync) or
		 * wait for a catch-up (async); the detail explains a failed
		 * write later */
		int why = r;
		r = drfs_backend_unavailable_new(o->replica, r, &rep);
		fail(why, "replica \"%s\" is unreachable: %s", o->replica,
		     drfs_strerror(why));
	}
	if (r < 0) {
		drfs_backend_free(p);
		return r;
	}
	r = drfs_backend_replica_open(p, rep, o->replica_async
						      ? DRFS_REPLICA_ASYNC
						      : 0, &w);
	if (r < 0)
		return r;
	if (!create) {
		r = drfs_backend_replica_seed(w);
		if (r < 0 && r != -ENOENT) {
			const char *d = drfs_backend_last_error(w);
			fail(r, "cannot set up replica \"%s\": %s", o->replica,
			     r == -EINVAL && d ? d : drfs_strerror(r));
			drfs_backend_free(w);
			return r;
		}
	}
	*ret = w;
	return 0;
}

/*
 * Record what was found at location in the known-repositories file. Best
 * effort: where that file cannot be written, drfs works without the pin.
 */
static void known_note(const char *location, const uint8_t id[16],
		       bool encrypted, bool replace)
{
	char *path = NULL;
	struct drfs_known k = { .encrypted = encrypted };
	if (!location || drfs_known_path(&path) < 0)
		return;
	memcpy(k.repo_id, id, sizeof(k.repo_id));
	(void)drfs_known_record(path, location, &k, replace);
	free(path);
}

int drfs_repo_init(const struct drfs_repo_opts *o,
		   const struct drfs_init_opts *io, struct drfs_id *ret_repo_id)
{
	struct drfs_backend *be = NULL;
	char *location = NULL;
	struct drfs_keys *keys = NULL;
	struct drfs_chunker ch;
	struct drfs_config c = { .version = DRFS_FORMAT_VERSION };
	struct drfs_buf kf, plain, sealed;
	char name[DRFS_OBJECT_NAME_MAX], hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_id kid;
	uint64_t size;
	int r;

	last_error[0] = 0;
	drfs_buf_init(&kf, 4096);
	drfs_buf_init(&plain, 4096);
	drfs_buf_init(&sealed, 4096);
	r = drfs_crypto_init();
	if (r < 0)
		return fail(r, "cannot initialise cryptography");
	if (!io->no_encryption && (!o->password || !*o->password))
		return fail(-ENOKEY, "a passphrase is needed to create an "
				     "encrypted repository");
	r = open_backend(o, true, &be, &location);
	if (r < 0)
		goto out;
	keys = drfs_secret_alloc(sizeof(*keys));
	if (!keys) {
		r = -ENOMEM;
		goto out;
	}
	r = drfs_backend_head(be, "config", &size);
	if (r == 0) {
		r = fail(-EEXIST, "a repository already exists at \"%s\"",
			 be->display);
		goto out;
	}
	if (r != -ENOENT) {
		r = fail(r, "cannot read \"%s\": %s", be->display,
			 drfs_strerror(r));
		goto out;
	}
	r = drfs_keys_generate(keys, !io->no_encryption);
	if (r < 0)
		goto out;
	r = drfs_random(c.repo_id, sizeof(c.repo_id));
	if (r < 0)
		goto out;
	c.chunker = io->chunker;
	if (!c.chunker.avg)
		c.chunker = (struct drfs_chunker_params){
			DRFS_CHUNK_MIN_DEFAULT, DRFS_CHUNK_AVG_DEFAULT,
			DRFS_CHUNK_MAX_DEFAULT, DRFS_CHUNK_NORM_DEFAULT
		};
	c.zstd_level = io->zstd_level ? io->zstd_level : 3;
	c.pack_target = DRFS_PACK_TARGET_DEFAULT;
	r = drfs_chunker_init(&ch, &c.chunker, keys->id);
	if (r < 0) {
		r = fail(r, "invalid chunker parameters");
		goto out;
	}
	struct drfs_scrypt_params sp = io->scrypt;
	if (!sp.log2n)
		sp = DRFS_SCRYPT_DEFAULT;
	r = drfs_keyfile_create(keys, o->password, &sp, &kf);
	if (r < 0)
		goto out;
	drfs_sha256(kf.p, kf.len, &kid);
	snprintf(name, sizeof(name), "keys/%s", drfs_id_hex(&kid, hex));
	r = drfs_backend_put(be, name, kf.p, kf.len, DRFS_PUT_CREATE_ONLY);
	if (r < 0)
		goto put_failed;
	/* a new repository has forget records from the start (an empty
	 * baseline): nothing was forgotten before them */
	r = drfs_forget_record_put(be, keys, DRFS_FORGET_F_BASELINE, NULL, 0,
				   name);
	if (r < 0)
		goto put_failed;
	r = drfs_config_encode(&c, &plain);
	r = r ?: drfs_seal(keys, DRFS_OBJ_CONFIG, plain.p, plain.len, &sealed);
	if (r < 0)
		goto out;
	r = drfs_backend_put(be, "config", sealed.p, sealed.len,
			     DRFS_PUT_CREATE_ONLY);
	if (r < 0)
		goto put_failed;
	if (ret_repo_id) {
		memset(ret_repo_id, 0, sizeof(*ret_repo_id));
		memcpy(ret_repo_id->b, c.repo_id, sizeof(c.repo_id));
	}
	/* a new repository here: whatever was recorded for the place goes */
	known_note(location, c.repo_id, keys->encrypted, true);
	r = 0;
	goto out;
put_failed:
	r = fail(r, "cannot write to \"%s\": %s%s%s", be->display,
		 drfs_strerror(r), drfs_backend_last_error(be) ? ": " : "",
		 drfs_backend_last_error(be) ?: "");
out:
	free(location);
	drfs_secret_free(keys);
	drfs_wipe(&ch, sizeof(ch));
	drfs_buf_release(&kf);
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	drfs_backend_free(be);
	return r;
}

struct key_search {
	struct drfs_backend *be;
	const char *pass;
	bool want_encrypted; /* key files of the other mode are skipped */
	struct drfs_keys *keys;
	int found;   /* 1 once a key opened */
	int result;  /* best error so far */
	int seen;
	int other_mode; /* key files skipped for their mode */
};

static int try_key(const char *name, uint64_t size, void *userdata)
{
	struct key_search *ks = userdata;
	struct drfs_buf b;
	int r;

	if (ks->found)
		return 0;
	ks->seen++;
	if (size > 4096)
		return 0;
	drfs_buf_init(&b, 4096);
	r = drfs_backend_get(ks->be, name, 0, UINT64_MAX, &b);
	if (r >= 0) {
		/* the mode is the caller's, never the key file's: a key in
		 * the clear must not stand in for a passphrase-wrapped one */
		int enc = drfs_keyfile_encrypted(b.p, b.len);
		if (enc >= 0 && (enc == 1) != ks->want_encrypted) {
			ks->other_mode++;
			drfs_buf_release(&b);
			return 0;
		}
		r = drfs_keyfile_open(b.p, b.len, ks->pass, ks->keys);
	}
	drfs_wipe(b.p, b.len);
	drfs_buf_release(&b);
	if (r >= 0) {
		ks->found = 1;
		return 0;
	}
	/* prefer telling "wrong passphrase" over "garbage key file" */
	if (ks->result == 0 || r == -EACCES || r == -ENOKEY)
		ks->result = r;
	return 0;
}

/* Why no key file opened, in last_error. */
static int no_key(const struct key_search *ks, const char *where)
{
	if (ks->seen == 0)
		return fail(-ENOENT, "repository \"%s\" has no key file", where);
	if (ks->other_mode == ks->seen && ks->want_encrypted && ks->pass)
		return fail(-EKEYREJECTED,
			    "refusing repository \"%s\": it is not encrypted "
			    "(its key file holds the keys in the clear), yet a "
			    "passphrase was given. An encrypted repository "
			    "replaced by someone with write access to it looks "
			    "like this. If it was created with --no-encryption, "
			    "open it with --no-encryption", where);
	if (ks->other_mode == ks->seen && ks->want_encrypted)
		return fail(-EKEYREJECTED,
			    "repository \"%s\" is not encrypted: open it with "
			    "--no-encryption", where);
	if (ks->other_mode == ks->seen)
		return fail(-EKEYREJECTED,
			    "repository \"%s\" is encrypted: open it with its "
			    "passphrase, without --no-encryption", where);
	if (ks->result == -EACCES)
		return fail(-EACCES, "wrong passphrase for repository \"%s\"",
			    where);
	if (ks->result == -ENOKEY)
		return fail(-ENOKEY, "repository \"%s\" is encrypted: a "
				     "passphrase is needed (set DRFS_PASSWORD "
				     "or --password-file)", where);
	return fail(ks->result ?: -EBADMSG,
		    "key files of \"%s\" are unreadable: %s", where,
		    drfs_strerror(ks->result));
}

static const char *mode_name(bool encrypted)
{
	return encrypted ? "encrypted" : "unencrypted";
}

/*
 * The repository just opened must be the one expected: the id given with
 * --expect-id, and the id and mode the known-repositories file recorded
 * for its location. *ret_unknown: there is no record yet (write one once
 * the open succeeded).
 */
static int check_identity(struct drfs_repo *r, const struct drfs_repo_opts *o,
			  const char *location, bool *ret_unknown)
{
	char want[33], *path = NULL;
	struct drfs_known k;
	unsigned line = 0;
	int e;

	*ret_unknown = false;
	if (o->have_expect_id &&
	    memcmp(o->expect_id, r->config.repo_id, 16) != 0) {
		drfs_hex(o->expect_id, 16, want);
		return fail(-EKEYREJECTED,
			    "refusing repository \"%s\": its id is %s, not %s "
			    "as --expect-id requires", r->be->display,
			    r->repo_id_hex, want);
	}
	if (!location || drfs_known_path(&path) < 0)
		return 0;
	e = drfs_known_lookup(path, location, &k, &line);
	if (e == -EBADMSG)
		e = fail(-EBADMSG, "\"%s\" line %u: not a record (<id> "
				   "<encrypted|unencrypted> <location>); fix "
				   "or delete that line", path, line);
	else if (e < 0)
		e = fail(e, "cannot read \"%s\": %s", path, drfs_strerror(e));
	else if (e == 0)
		*ret_unknown = true;
	else if (memcmp(k.repo_id, r->config.repo_id, 16) != 0 ||
		 k.encrypted != r->keys.encrypted) {
		drfs_hex(k.repo_id, 16, want);
		e = fail(-EKEYREJECTED,
			 "refusing repository \"%s\": \"%s\" line %u "
			 "records the %s repository %s there, but it is now "
			 "the %s repository %s. Someone with write access may "
			 "have replaced it; if you replaced it yourself, "
			 "delete that line", r->be->display, path, line,
			 mode_name(k.encrypted), want,
			 mode_name(r->keys.encrypted), r->repo_id_hex);
	} else {
		e = 0;
	}
	free(path);
	return e < 0 ? e : 0;
}

/*
 * The cache belongs to one repository: its id and mode are recorded in it
 * at first use, and a cache of another repository (or of this one in
 * another mode) is refused, not rebuilt: the default cache directory is
 * named by the id, so a different id in it means the repository at this
 * place changed. *ret_fresh: the cache is new.
 */
static int bind_cache(struct drfs_repo *r, bool *ret_fresh)
{
	struct drfs_txn *t;
	uint8_t owner[16], mode;
	int e, em;

	*ret_fresh = false;
	e = drfs_txn_begin(r->index, true, &t);
	if (e < 0)
		goto failed;
	e = drfs_kv_get_fixed(t, DRFS_DB_META, "repo_id", 7, owner, 16);
	em = drfs_kv_get_fixed(t, DRFS_DB_META, "encrypted", 9, &mode, 1);
	*ret_fresh = e != 16;
	if (e == 16 && memcmp(owner, r->config.repo_id, 16) != 0) {
		char hex[33];
		drfs_txn_abort(t);
		drfs_hex(owner, 16, hex);
		return fail(-EKEYREJECTED,
			    "cache directory \"%s\" belongs to repository %s, "
			    "but \"%s\" is repository %s. If that repository "
			    "was replaced on purpose, delete \"%s\"; to use "
			    "both, give each its own --cache-dir",
			    r->cache_dir, hex, r->be->display, r->repo_id_hex,
			    r->cache_dir);
	}
	if (em == 1 && !*ret_fresh && (mode != 0) != r->keys.encrypted) {
		drfs_txn_abort(t);
		return fail(-EKEYREJECTED,
			    "refusing repository \"%s\": cache directory "
			    "\"%s\" knew it as %s, it is now %s. Someone with "
			    "write access may have replaced its keys",
			    r->be->display, r->cache_dir, mode_name(mode != 0),
			    mode_name(r->keys.encrypted));
	}
	if (*ret_fresh) {
		/* a directory without a record (new, or its first open was
		 * interrupted): start from nothing */
		drfs_txn_abort(t);
		e = drfs_index_clear(r->index);
		if (e < 0)
			goto failed;
		e = drfs_txn_begin(r->index, true, &t);
		if (e < 0)
			goto failed;
		e = drfs_kv_put(t, DRFS_DB_META, "repo_id", 7,
				r->config.repo_id, 16);
	} else {
		e = 0;
	}
	mode = r->keys.encrypted;
	if (e >= 0 && (*ret_fresh || em != 1))
		e = drfs_kv_put(t, DRFS_DB_META, "encrypted", 9, &mode, 1);
	if (e < 0) {
		drfs_txn_abort(t);
		goto failed;
	}
	e = drfs_txn_commit(t);
	if (e >= 0)
		return 0;
failed:
	return fail(e, "cannot initialise cache in \"%s\": %s", r->cache_dir,
		    drfs_strerror(e));
}

static int cache_dir_default(const char *id_hex, char **ret)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *p = NULL;
	int n;
	if (xdg && *xdg)
		n = asprintf(&p, "%s/drfs/%s", xdg, id_hex);
	else if (home && *home)
		n = asprintf(&p, "%s/.cache/drfs/%s", home, id_hex);
	else
		n = asprintf(&p, "/var/cache/drfs/%s", id_hex);
	if (n < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}

int drfs_repo_open(const struct drfs_repo_opts *o, struct drfs_repo **ret)
{
	struct drfs_repo *r;
	struct drfs_buf obj, plain;
	char *location = NULL;
	bool fresh = false, unknown = false;
	uint64_t size;
	int e;

	last_error[0] = 0;
	if (o->no_encryption && o->password)
		return fail(-EINVAL, "a passphrase was given for an "
				     "unencrypted repository");
	e = drfs_crypto_init();
	if (e < 0)
		return fail(e, "cannot initialise cryptography");
	/* the keys live in struct drfs_repo: secret memory */
	r = drfs_secret_alloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->report = o->report;
	r->report_data = o->report_data;
	drfs_buf_init(&obj, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	e = open_backend(o, false, &r->be, &location);
	if (e < 0)
		goto fail;
	e = drfs_backend_head(r->be, "config", &size);
	if (e == -ENOENT) {
		e = fail(-ENOENT, "no drfs repository at \"%s\" (run \"drfs "
				  "init\" first)", r->be->display);
		goto fail;
	}
	if (e < 0) {
		e = fail(e, "cannot read config of \"%s\": %s", r->be->display,
			 drfs_strerror(e));
		goto fail;
	}
	struct key_search ks = { .be = r->be, .pass = o->password,
				 .want_encrypted = !o->no_encryption,
				 .keys = &r->keys };
	e = drfs_backend_list(r->be, "keys/", try_key, &ks);
	if (e < 0) {
		e = fail(e, "cannot list keys of \"%s\": %s", r->be->display,
			 drfs_strerror(e));
		goto fail;
	}
	if (!ks.found) {
		e = no_key(&ks, r->be->display);
		goto fail;
	}
	e = drfs_backend_get(r->be, "config", 0, UINT64_MAX, &obj);
	if (e >= 0)
		e = drfs_unseal(&r->keys, DRFS_OBJ_CONFIG, obj.p, obj.len,
				&plain);
	if (e >= 0)
		e = drfs_config_decode(plain.p, plain.len, &r->config);
	if (e < 0) {
		e = fail(e, "config of \"%s\": %s", r->be->display,
			 e == -EPROTONOSUPPORT ? "unsupported format version"
					       : drfs_strerror(e));
		goto fail;
	}
	e = drfs_chunker_init(&r->chunker, &r->config.chunker, r->keys.id);
	if (e < 0) {
		e = fail(-EBADMSG, "config of \"%s\": bad chunker parameters",
			 r->be->display);
		goto fail;
	}
	drfs_hex(r->config.repo_id, sizeof(r->config.repo_id), r->repo_id_hex);
	e = check_identity(r, o, location, &unknown);
	if (e < 0)
		goto fail;
	if (o->cache_dir)
		r->cache_dir = strdup(o->cache_dir);
	else if (cache_dir_default(r->repo_id_hex, &r->cache_dir) < 0)
		r->cache_dir = NULL;
	if (!r->cache_dir) {
		e = -ENOMEM;
		goto fail;
	}
	e = drfs_mkdir_p(r->cache_dir, 0700);
	if (e < 0) {
		e = fail(e, "cannot create cache directory \"%s\": %s",
			 r->cache_dir, drfs_strerror(e));
		goto fail;
	}
	e = drfs_index_open(r->cache_dir, &r->index);
	if (e < 0) {
		e = fail(e, "cannot open cache in \"%s\": %s", r->cache_dir,
			 drfs_strerror(e));
		goto fail;
	}
	e = bind_cache(r, &fresh);
	if (e < 0)
		goto fail;
	if (r->be->remote && !(r->segs = segcache_new())) {
		e = -ENOMEM;
		goto fail;
	}
	r->threads = o->threads > 0 ? o->threads
				    : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (r->threads < 1)
		r->threads = 1;
	if (!o->no_sync) {
		/* a new cache is cross-checked against the pack listing, so an
		 * incomplete index/ listing cannot silently lose blobs */
		e = drfs_repo_sync(r, fresh);
		if (e < 0)
			goto fail;
	}
	if (unknown)
		known_note(location, r->config.repo_id, r->keys.encrypted,
			   false);
	free(location);
	drfs_buf_release(&obj);
	drfs_buf_release(&plain);
	*ret = r;
	return 0;
fail:
	free(location);
	drfs_buf_release(&obj);
	drfs_buf_release(&plain);
	drfs_repo_free(r);
	return e;
}

void drfs_repo_free(struct drfs_repo *r)
{
	if (!r)
		return;
	drfs_index_free(r->index);
	drfs_backend_free(r->be);
	segcache_free(r->segs);
	free(r->cache_dir);
	drfs_secret_free(r); /* wipes the keys */
}

/* ---- parallel fetch ----------------------------------------------------- */

struct fetch_job {
	char name[DRFS_OBJECT_NAME_MAX];
	uint64_t size;
	struct drfs_buf data; /* unsealed payload */
	int err;
};

struct fetch_ctx {
	struct drfs_repo *repo;
	struct fetch_job *jobs;
	size_t n;
	size_t next;
	enum drfs_obj_kind kind;
	size_t max;
	pthread_mutex_t lock;
};

/*
 * Whether an unsealed index or snapshot payload decodes completely:
 * -EBADMSG. (Forget records are judged by drfs_history_record_load.)
 */
static int payload_check(enum drfs_obj_kind kind, const struct drfs_buf *p)
{
	if (kind != DRFS_OBJ_INDEX && kind != DRFS_OBJ_SNAPSHOT)
		return 0;
	if (kind == DRFS_OBJ_SNAPSHOT) {
		struct drfs_snapshot s;
		return drfs_snapshot_decode(p->p, p->len, &s);
	}
	return drfs_indexobj_check(p->p, p->len);
}

static void fetch_one(struct fetch_ctx *c, struct fetch_job *j)
{
	struct drfs_buf raw;
	struct drfs_id sum, want;
	drfs_buf_init(&raw, c->max);
	drfs_buf_init(&j->data, c->max);
	bool retried = false;
	j->err = drfs_backend_get(c->repo->be, j->name, 0, UINT64_MAX, &raw);
verify:
	if (j->err >= 0) {
		/* objects are named by the SHA-256 of their bytes */
		const char *slash = strrchr(j->name, '/');
		drfs_sha256(raw.p, raw.len, &sum);
		if (!slash || drfs_id_parse(slash + 1, &want) < 0 ||
		    !drfs_id_eq(&sum, &want))
			j->err = -EBADMSG;
	}
	if (j->err >= 0)
		j->err = drfs_unseal(&c->repo->keys, c->kind, raw.p, raw.len,
				     &j->data);
	if (j->err >= 0)
		j->err = payload_check(c->kind, &j->data);
	/* a corrupted object: the replica's copy, if there is one */
	if (j->err == -EBADMSG && !retried) {
		drfs_buf_reset(&raw);
		drfs_buf_reset(&j->data);
		if (drfs_backend_get_alternate(c->repo->be, j->name, 0,
					       UINT64_MAX, &raw) >= 0) {
			retried = true;
			j->err = 0;
			goto verify;
		}
	}
	drfs_buf_release(&raw);
}

static void *fetch_thread(void *arg)
{
	struct fetch_ctx *c = arg;
	for (;;) {
		pthread_mutex_lock(&c->lock);
		size_t i = c->next++;
		pthread_mutex_unlock(&c->lock);
		if (i >= c->n)
			return NULL;
		fetch_one(c, &c->jobs[i]);
	}
}

/* Fetch, verify and unseal jobs[0..n) on up to 8 threads. */
static void fetch_all(struct drfs_repo *repo, struct fetch_job *jobs,
		      size_t n, enum drfs_obj_kind kind)
{
	struct fetch_ctx c = { .repo = repo, .jobs = jobs, .n = n,
			       .kind = kind };
	pthread_t th[8];
	size_t nt = MIN(n, ARRAY_SIZE(th)), started = 0;
	c.max = kind == DRFS_OBJ_INDEX || kind == DRFS_OBJ_DELETION
			? DRFS_INDEX_OBJECT_MAX
			: DRFS_SMALL_OBJECT_MAX;
	pthread_mutex_init(&c.lock, NULL);
	for (size_t i = 1; i < nt; i++)
		if (pthread_create(&th[started], NULL, fetch_thread, &c) == 0)
			started++;
	fetch_thread(&c);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&c.lock);
}

/* ---- sync --------------------------------------------------------------- */

struct name_list {
	char (*names)[DRFS_OBJECT_NAME_MAX];
	uint64_t *sizes;
	size_t n, cap;
};

static int collect_name(const char *name, uint64_t size, void *userdata)
{
	struct name_list *l = userdata;
	if (strlen(name) >= DRFS_OBJECT_NAME_MAX)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		void *p = realloc(l->names, cap * sizeof(*l->names));
		if (!p)
			return -ENOMEM;
		l->names = p;
		p = realloc(l->sizes, cap * sizeof(*l->sizes));
		if (!p)
			return -ENOMEM;
		l->sizes = p;
		l->cap = cap;
	}
	strcpy(l->names[l->n], name);
	l->sizes[l->n++] = size;
	return 0;
}

static void name_list_free(struct name_list *l)
{
	free(l->names);
	free(l->sizes);
	memset(l, 0, sizeof(*l));
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int sort_names(struct name_list *l)
{
	/* sort names and sizes together */
	struct pair {
		char name[DRFS_OBJECT_NAME_MAX];
		uint64_t size;
	};
	if (l->n < 2)
		return 0;
	struct pair *p = malloc(l->n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		memcpy(p[i].name, l->names[i], DRFS_OBJECT_NAME_MAX);
		p[i].size = l->sizes[i];
	}
	qsort(p, l->n, sizeof(*p), cmp_name);
	for (size_t i = 0; i < l->n; i++) {
		memcpy(l->names[i], p[i].name, DRFS_OBJECT_NAME_MAX);
		l->sizes[i] = p[i].size;
	}
	free(p);
	return 0;
}

/* The objects under prefix, sorted by name. */
static int list_names(struct drfs_repo *r, const char *prefix,
		      struct name_list *l)
{
	memset(l, 0, sizeof(*l));
	int e = drfs_backend_list(r->be, prefix, collect_name, l);
	e = e ?: sort_names(l);
	if (e < 0) {
		name_list_free(l);
		return fail(e, "cannot list \"%s\" in \"%s\": %s", prefix,
			    r->be->display, drfs_strerror(e));
	}
	return 0;
}

/* Index of name in the sorted l, or -1. */
static ssize_t name_find(const struct name_list *l, const char *name)
{
	const char(*hit)[DRFS_OBJECT_NAME_MAX] =
		l->n ? bsearch(name, l->names, l->n, sizeof(*l->names),
			       cmp_name)
		     : NULL;
	return hit ? (ssize_t)(hit - l->names) : -1;
}

static bool name_in(const struct name_list *l, const char *name)
{
	return name_find(l, name) >= 0;
}

/* Tell r->report, if any. */
static void vreport(struct drfs_repo *r, const char *fmt, va_list ap)
{
	char msg[1024];
	if (!r->report)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	r->report(r->report_data, "%s", msg);
}

/* Report one damaged object: counted in r->damaged, told to r->report. */
static void damage(struct drfs_repo *r, const char *fmt, ...) _printf_(2, 3);
static void damage(struct drfs_repo *r, const char *fmt, ...)
{
	va_list ap;
	r->damaged++;
	va_start(ap, fmt);
	vreport(r, fmt, ap);
	va_end(ap);
}

/* Report something that may be damage, or not (not counted). */
static void warn(struct drfs_repo *r, const char *fmt, ...) _printf_(2, 3);
static void warn(struct drfs_repo *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(r, fmt, ap);
	va_end(ap);
}

/* Forget everything the cache learnt from the repository. */
static int reset_cache(struct drfs_repo *r)
{
	struct drfs_txn *t;
	int e = drfs_index_clear(r->index);
	e = e ?: drfs_txn_begin(r->index, true, &t);
	if (e < 0)
		return e;
	e = drfs_kv_put(t, DRFS_DB_META, "repo_id", 7, r->config.repo_id, 16);
	if (e >= 0)
		return drfs_txn_commit(t);
	drfs_txn_abort(t);
	return e;
}

/* One read transaction: every key of db to cb. */
static int scan_db(struct drfs_repo *r, enum drfs_db db, drfs_kv_cb cb,
		   void *userdata)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_kv_scan(t, db, NULL, 0, cb, userdata);
	drfs_txn_abort(t);
	return e;
}

/* ---- packs doomed by deletion records ------------------------------------ */

struct doomed_find {
	const struct drfs_id *pack;
	bool found;
};

static int doomed_cb(const void *key, size_t klen, const void *val,
		     size_t vlen, void *userdata)
{
	struct doomed_find *f = userdata;
	(void)val;
	(void)vlen;
	f->found = klen == 2 * DRFS_ID_LEN &&
		   !memcmp(key, f->pack->b, DRFS_ID_LEN);
	return 1; /* the first key at or after the pack decides */
}

int drfs_repo_pack_doomed(struct drfs_txn *t, const struct drfs_id *pack)
{
	struct doomed_find f = { .pack = pack };
	int e = drfs_kv_scan(t, DRFS_DB_DOOMED, pack->b, DRFS_ID_LEN,
			     doomed_cb, &f);
	return e < 0 ? e : f.found;
}

/* 1 if the pack of local number seq is known and not doomed, else 0. */
static int seq_stays(struct drfs_txn *t, uint32_t seq)
{
	struct drfs_id pack;
	int e = drfs_index_pack_by_seq(t, seq, &pack, NULL);
	if (e == -ENOENT)
		return 0;
	e = e < 0 ? e : drfs_repo_pack_doomed(t, &pack);
	return e < 0 ? e : !e;
}

int drfs_repo_blob_doomed(struct drfs_txn *t, const struct drfs_id *blob)
{
	struct drfs_blob_loc loc;
	struct drfs_id pack;
	int e = drfs_index_blob_get(t, blob, &loc);
	e = e ?: drfs_index_pack_by_seq(t, loc.pack_seq, &pack, NULL);
	return e ?: drfs_repo_pack_doomed(t, &pack);
}

/*
 * Record the blobs of one pack in the cache. A doomed pack (named by a
 * deletion record) only fills gaps: a blob the cache has in a pack that
 * stays keeps that location.
 */
static int index_pack(struct drfs_txn *t, const struct drfs_id *pack,
		      uint32_t pack_len, const struct drfs_pack_entry *es,
		      const uint8_t *raw, size_t n)
{
	uint32_t seq;
	int doomed = drfs_repo_pack_doomed(t, pack);
	if (doomed < 0)
		return doomed;
	int e = drfs_index_pack_add(t, pack, pack_len, (uint32_t)n, &seq);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		struct drfs_pack_entry pe;
		struct drfs_blob_loc old;
		if (es)
			pe = es[i];
		else
			drfs_pack_entry_get(raw + i * DRFS_PACK_ENTRY_LEN, &pe);
		if (doomed && drfs_index_blob_get(t, &pe.id, &old) == 0 &&
		    old.pack_seq != seq) {
			e = seq_stays(t, old.pack_seq);
			if (e < 0)
				break;
			if (e)
				continue; /* kept in a pack that stays */
		}
		struct drfs_blob_loc loc = {
			.pack_seq = seq, .offset = pe.offset,
			.stored_len = pe.stored_len, .raw_len = pe.raw_len,
			.type = pe.type, .flags = pe.flags,
		};
		e = drfs_index_blob_put(t, &pe.id, &loc);
	}
	return e;
}

/* A set of ids (sorted once filled). */
struct idset {
	struct drfs_id *v;
	size_t n, cap;
	bool sorted;
};

static int idset_add(struct idset *s, const struct drfs_id *id)
{
	if (drfs_grow(&s->v, &s->cap, s->n, sizeof(*s->v), 256) < 0)
		return -ENOMEM;
	s->v[s->n++] = *id;
	s->sorted = false;
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, DRFS_ID_LEN);
}

static bool idset_has(struct idset *s, const struct drfs_id *id)
{
	if (!s->sorted && s->n)
		qsort(s->v, s->n, sizeof(*s->v), id_cmp);
	s->sorted = true;
	return s->n && bsearch(id, s->v, s->n, sizeof(*s->v), id_cmp);
}

/*
 * The records of one (verified) index payload into the cache; the packs
 * it names into named (or NULL). With listed (repair): only records of
 * packs listed there with the same size; the others are added to skipped,
 * to be read from their trailers.
 */
static int apply_index_object(struct drfs_txn *t, const void *p, size_t len,
			      const struct name_list *listed,
			      struct drfs_idset *skipped, struct idset *named)
{
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen;
	size_t n;
	const uint8_t *raw;
	int e = drfs_indexobj_iter_init(&it, p, len);
	while (e >= 0 &&
	       (e = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0) {
		if (listed) {
			char name[DRFS_OBJECT_NAME_MAX];
			drfs_name_pack(&pack, name);
			ssize_t k = name_find(listed, name);
			if (k < 0 || listed->sizes[k] != plen) {
				e = drfs_idset_add(skipped, &pack);
				continue;
			}
		}
		e = index_pack(t, &pack, plen, NULL, raw, n);
		if (e >= 0 && named)
			e = idset_add(named, &pack);
	}
	return e;
}

struct seen_scan {
	struct name_list *present;
	bool vanished;
};

static int seen_check(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct seen_scan *s = userdata;
	char name[DRFS_OBJECT_NAME_MAX];
	(void)val;
	(void)vlen;
	if (klen >= sizeof(name))
		return 0;
	memcpy(name, key, klen);
	name[klen] = 0;
	if (!name_in(s->present, name)) {
		s->vanished = true;
		return 1;
	}
	return 0;
}

/*
 * Load the objects of l (index/ or snapshots/, sorted) not loaded yet
 * (SEEN for index/, SNAPS for snapshots/). A corrupted one is reported
 * and skipped; one deleted since the listing is skipped. Returns how many
 * index objects were skipped (their packs must be found from the packs
 * themselves), or a negative errno. listed, skipped: see
 * apply_index_object. With named (index/ only): every index object is
 * loaded again, collecting the packs they name.
 */
static int sync_kind(struct drfs_repo *r, struct name_list *l,
		     enum drfs_obj_kind kind, const struct name_list *listed,
		     struct drfs_idset *skipped, struct idset *named)
{
	const size_t batch = 64;
	struct fetch_job *jobs = calloc(batch, sizeof(*jobs));
	int e = 0, n_skipped = 0;
	if (!jobs)
		return -ENOMEM;
	for (size_t i = 0; e >= 0 && i < l->n;) {
		struct drfs_txn *t;
		size_t nj = 0;
		e = drfs_txn_begin(r->index, false, &t);
		if (e < 0)
			break;
		for (; i < l->n && nj < batch; i++) {
			const char *name = l->names[i];
			struct drfs_id id;
			int have;
			if (kind == DRFS_OBJ_SNAPSHOT) {
				if (drfs_name_parse(name, "snapshots", &id) < 0)
					continue;
				have = drfs_kv_get_fixed(t, DRFS_DB_SNAPS, id.b,
							 DRFS_ID_LEN, NULL, 0);
			} else if (kind == DRFS_OBJ_FORGET) {
				if (drfs_name_parse(name, "forgotten", &id) < 0)
					continue;
				have = drfs_history_record_wanted(t, name);
				have = have > 0 ? -ENOENT : have;
			} else {
				if (drfs_name_parse(name, "index", &id) < 0)
					continue;
				have = named ? -ENOENT
					     : drfs_kv_get_fixed(t, DRFS_DB_SEEN,
								 name,
								 strlen(name),
								 NULL, 0);
			}
			if (have != -ENOENT)
				continue;
			strcpy(jobs[nj].name, name);
			jobs[nj].size = l->sizes[i];
			nj++;
		}
		drfs_txn_abort(t);
		if (nj == 0)
			continue;
		fetch_all(r, jobs, nj, kind);
		t = NULL;
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t j = 0; e >= 0 && j < nj; j++) {
			struct fetch_job *fj = &jobs[j];
			if (kind == DRFS_OBJ_FORGET &&
			    (fj->err >= 0 || fj->err == -EBADMSG)) {
				/* a bad record is refused, not fatal */
				e = drfs_history_record_load(t, fj->name,
							     fj->err,
							     fj->data.p,
							     fj->data.len);
				continue;
			}
			if (fj->err == -EBADMSG || fj->err == -ENOENT) {
				if (kind == DRFS_OBJ_INDEX)
					n_skipped++;
				if (fj->err == -ENOENT)
					continue; /* deleted meanwhile */
				if (kind == DRFS_OBJ_INDEX)
					damage(r, "index object \"%s\" is "
						  "corrupted: skipped; the "
						  "packs it lists are read "
						  "from their own trailers "
						  "(\"drfs repair index\" "
						  "rewrites the index)",
					       fj->name);
				else
					damage(r, "snapshot object \"%s\" is "
						  "corrupted: skipped",
					       fj->name);
				continue;
			}
			if (fj->err < 0) {
				e = fail(fj->err, "cannot read \"%s\": %s",
					 fj->name, drfs_strerror(fj->err));
				break;
			}
			if (kind == DRFS_OBJ_SNAPSHOT) {
				struct drfs_id id;
				drfs_name_parse(fj->name, "snapshots", &id);
				e = drfs_kv_put(t, DRFS_DB_SNAPS, id.b,
						DRFS_ID_LEN, fj->data.p,
						fj->data.len);
				e = e ?: drfs_history_note(t, &id, fj->data.p,
							   fj->data.len);
			} else {
				e = apply_index_object(t, fj->data.p,
						       fj->data.len, listed,
						       skipped, named);
				e = e ?: drfs_kv_put(t, DRFS_DB_SEEN, fj->name,
						     strlen(fj->name), "", 0);
			}
		}
		for (size_t j = 0; j < nj; j++)
			drfs_buf_release(&jobs[j].data);
		if (e >= 0)
			e = drfs_txn_commit(t);
		else
			drfs_txn_abort(t);
	}
	free(jobs);
	return e < 0 ? e : n_skipped;
}

int drfs_repo_verify_objects(struct drfs_repo *r, enum drfs_obj_kind kind,
			     drfs_object_fn cb, void *userdata)
{
	const size_t batch = 16;
	struct name_list l;
	struct fetch_job *jobs;
	const char *dir = kind == DRFS_OBJ_INDEX ? "index" : "snapshots";
	char prefix[16];
	int e;

	if (kind != DRFS_OBJ_INDEX && kind != DRFS_OBJ_SNAPSHOT)
		return -EINVAL;
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	e = list_names(r, prefix, &l);
	if (e < 0)
		return e;
	jobs = calloc(batch, sizeof(*jobs));
	if (!jobs)
		e = -ENOMEM;
	for (size_t i = 0; e >= 0 && i < l.n;) {
		size_t nj = 0;
		for (; i < l.n && nj < batch; i++) {
			struct drfs_id id;
			if (drfs_name_parse(l.names[i], dir, &id) < 0)
				continue;
			strcpy(jobs[nj].name, l.names[i]);
			jobs[nj++].size = l.sizes[i];
		}
		fetch_all(r, jobs, nj, kind);
		for (size_t j = 0; j < nj; j++) {
			struct fetch_job *fj = &jobs[j];
			if (e >= 0)
				e = cb(userdata, fj->name, MIN(fj->err, 0),
				       fj->err < 0 ? NULL : fj->data.p,
				       fj->err < 0 ? 0 : fj->data.len);
			drfs_buf_release(&fj->data);
		}
	}
	free(jobs);
	name_list_free(&l);
	return e;
}

struct snap_scan {
	struct name_list *present;
	struct drfs_id *gone;
	size_t n, cap;
};

static int snap_gone(const void *key, size_t klen, const void *val,
		     size_t vlen, void *userdata)
{
	struct snap_scan *s = userdata;
	char name[DRFS_OBJECT_NAME_MAX];
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	drfs_name_snapshot((const struct drfs_id *)key, name);
	if (name_in(s->present, name))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		void *p = realloc(s->gone, cap * sizeof(*s->gone));
		if (!p)
			return -ENOMEM;
		s->gone = p;
		s->cap = cap;
	}
	memcpy(s->gone[s->n++].b, key, DRFS_ID_LEN);
	return 0;
}

static bool snap_listed(void *ud, const struct drfs_id *id)
{
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_name_snapshot(id, name);
	return name_in(ud, name);
}

static bool record_listed(void *ud, const char *name)
{
	return name_in(ud, name);
}

/*
 * Forget records, listed after snapshots/: a snapshot deleted before our
 * listing of snapshots/ had its record written before that, so the record
 * is in our listing of forgotten/.
 */
static int sync_records(struct drfs_repo *r)
{
	struct name_list recs;
	int e = list_names(r, "forgotten/", &recs);
	if (e < 0)
		return e;
	e = sync_kind(r, &recs, DRFS_OBJ_FORGET, NULL, NULL, NULL);
	e = e ?: drfs_history_drop_refused(r, record_listed, &recs);
	name_list_free(&recs);
	return e;
}

/* Bytes [off, off+len) of a pack, from the other side when corrupted. */
static int get_exact(struct drfs_repo *r, const char *name, uint64_t off,
		     uint32_t len, bool alternate, struct drfs_buf *out)
{
	drfs_buf_reset(out);
	int e = alternate ? drfs_backend_get_alternate(r->be, name, off, len,
						       out)
			  : drfs_backend_get(r->be, name, off, len, out);
	if (e >= 0 && out->len != len)
		e = -EBADMSG;
	return e;
}

/* A pack's trailer entries (*ret malloc'd), from its last bytes. */
static int read_trailer(struct drfs_repo *r, const char *name, uint64_t size,
			bool alternate, struct drfs_pack_entry **ret,
			size_t *ret_n)
{
	struct drfs_buf b;
	uint64_t toff;
	uint32_t tlen;
	drfs_buf_init(&b, DRFS_PACK_MAX);
	int e = get_exact(r, name, size - DRFS_PACK_TAIL_LEN,
			  DRFS_PACK_TAIL_LEN, alternate, &b);
	e = e ?: drfs_pack_tail_parse(b.p, b.len, size, &toff, &tlen);
	e = e ?: get_exact(r, name, toff, tlen, alternate, &b);
	e = e ?: drfs_pack_trailer_decode(&r->keys, b.p, b.len, toff, ret,
					  ret_n);
	drfs_buf_release(&b);
	return e;
}

/*
 * Index a pack of size bytes from its own trailer (the replica's copy
 * when this one is corrupted). A pack whose trailer cannot be read is
 * reported, not fatal; one deleted meanwhile is skipped.
 */
static int adopt_pack(struct drfs_repo *r, const char *name, uint64_t size)
{
	struct drfs_id pack;
	struct drfs_pack_entry *es = NULL;
	size_t n = 0;
	int e;

	if (drfs_name_parse(name, "data", &pack) < 0)
		return 0;
	if (size < DRFS_PACK_TAIL_LEN || size > DRFS_PACK_MAX) {
		e = -EBADMSG;
	} else {
		e = read_trailer(r, name, size, false, &es, &n);
		if (e == -EBADMSG &&
		    read_trailer(r, name, size, true, &es, &n) >= 0)
			e = 0;
	}
	if (e == -ENOENT)
		return 0;
	if (e == -EBADMSG) {
		damage(r, "pack \"%s\" is damaged (its trailer does not "
			  "read): its blobs are not indexed", name);
		return 0;
	}
	if (e < 0)
		return fail(e, "pack \"%s\": cannot read its trailer: %s", name,
			    drfs_strerror(e));
	struct drfs_txn *t;
	e = drfs_txn_begin(r->index, true, &t);
	e = e ?: index_pack(t, &pack, (uint32_t)size, es, NULL, n);
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	free(es);
	return e;
}

static int collect_pack(const struct drfs_id *pack,
			const struct drfs_pack_rec *rec, void *userdata)
{
	(void)rec;
	int e = drfs_idset_add(userdata, pack);
	return e < 0 ? e : 0;
}

/* Every pack the cache knows, into *ret. */
static int known_packs(struct drfs_repo *r, struct drfs_idset *ret)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_index_packs_scan(t, collect_pack, ret);
	drfs_txn_abort(t);
	return e;
}

/* Whether a deletion record names the pack: 1, 0 or -errno. */
static int pack_doomed(struct drfs_repo *r, const struct drfs_id *pack)
{
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_repo_pack_doomed(t, pack);
	drfs_txn_abort(t);
	return e;
}

/* Whether a pack not in the listing exists after all (a replica's). */
static int pack_exists(struct drfs_repo *r, const struct drfs_id *pack,
		       uint64_t *ret_size)
{
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_name_pack(pack, name);
	int e = drfs_backend_head(r->be, name, ret_size);
	if (e == -ENOENT)
		return 0;
	if (e < 0)
		return fail(e, "cannot look for \"%s\": %s", name,
			    drfs_strerror(e));
	return 1;
}

/*
 * Packs the listing of data/ (sorted) lacks, of the cache (extra NULL) or
 * of extra, that a HEAD does not find either (a replica may have them):
 * into missing. Those that exist after all: with adopt, indexed from
 * their trailers.
 */
static int unlisted_packs(struct drfs_repo *r, const struct name_list *packs,
			  const struct drfs_idset *extra, bool adopt,
			  struct drfs_idset *missing)
{
	struct drfs_idset known = { 0 };
	int e = extra ? 0 : known_packs(r, &known);
	const struct drfs_idset *s = extra ? extra : &known;
	for (size_t i = 0; e >= 0 && i < s->cap; i++) {
		char name[DRFS_OBJECT_NAME_MAX];
		uint64_t size;
		if (drfs_id_is_zero(&s->v[i]))
			continue;
		drfs_name_pack(&s->v[i], name);
		if (name_in(packs, name))
			continue;
		/* a doomed pack may be deleted before its record */
		e = pack_doomed(r, &s->v[i]);
		if (e)
			continue;
		e = pack_exists(r, &s->v[i], &size);
		if (e > 0 && adopt)
			e = adopt_pack(r, name, size);
		else if (e == 0)
			e = drfs_idset_add(missing, &s->v[i]);
	}
	drfs_idset_free(&known);
	return e < 0 ? e : 0;
}

/*
 * Reconcile the cache with a listing of data/ (packs, sorted): read from
 * its trailer every listed pack the cache lacks (with only: just those in
 * only), then look for the packs of extra (skipped by a repair) and of the
 * cache that the listing lacks: one that exists after all (a replica has
 * it) is indexed from its trailer, one that does not is reported.
 */
static int cross_check(struct drfs_repo *r, const struct name_list *packs,
		       const struct drfs_idset *only,
		       const struct drfs_idset *extra)
{
	struct drfs_idset dropped = { 0 }, missing = { 0 };
	struct drfs_txn *t;
	char name[DRFS_OBJECT_NAME_MAX];
	int e = 0;

	for (size_t i = 0; e >= 0 && i < packs->n; i++) {
		struct drfs_id pid;
		if (drfs_name_parse(packs->names[i], "data", &pid) < 0 ||
		    (only && !drfs_idset_has(only, &pid)))
			continue;
		e = drfs_txn_begin(r->index, false, &t);
		if (e < 0)
			break;
		int have = drfs_index_pack_lookup(t, &pid, NULL, NULL);
		drfs_txn_abort(t);
		if (have != -ENOENT)
			continue;
		/* a pack an index object listed before, that none lists
		 * now: that object is lost, or a prune stopped halfway
		 * (its next run deletes the pack), which is no damage */
		if (only)
			warn(r, "pack \"%s\" is in no index object any "
				"more (an index object was lost, or a prune "
				"stopped before deleting the pack): read from "
				"its trailer; \"drfs check\" tells which",
			     packs->names[i]);
		e = adopt_pack(r, packs->names[i], packs->sizes[i]);
	}
	if (e >= 0 && extra)
		e = unlisted_packs(r, packs, extra, true, &dropped);
	e = e ?: unlisted_packs(r, packs, NULL, false, &missing);
	for (size_t i = 0; e >= 0 && i < dropped.cap; i++) {
		if (drfs_id_is_zero(&dropped.v[i]))
			continue;
		drfs_name_pack(&dropped.v[i], name);
		damage(r, "pack \"%s\" is listed in the index but missing: "
			  "dropped from the index", name);
	}
	for (size_t i = 0; e >= 0 && i < missing.cap; i++) {
		if (drfs_id_is_zero(&missing.v[i]))
			continue;
		drfs_name_pack(&missing.v[i], name);
		damage(r, "pack \"%s\" is listed in the index but missing: "
			  "the files that use it cannot be read (\"drfs "
			  "check\" names them; \"drfs repair snapshots\" "
			  "drops them)", name);
	}
	drfs_idset_free(&dropped);
	drfs_idset_free(&missing);
	return e;
}

int drfs_repo_missing_packs(struct drfs_repo *r, struct drfs_idset *ret)
{
	struct name_list packs;
	int e = list_names(r, "data/", &packs);
	if (e < 0)
		return e;
	e = unlisted_packs(r, &packs, NULL, false, ret);
	name_list_free(&packs);
	return e;
}

/* ---- forgetting packs in the cache ------------------------------------- */

struct seq_set {
	uint32_t *v;
	size_t n, cap;
};

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct blob_sweep {
	struct seq_set *seqs;
	struct idset *ids;
};

static int sweep_cb(const struct drfs_id *id, const struct drfs_blob_loc *loc,
		    void *userdata)
{
	struct blob_sweep *b = userdata;
	uint32_t seq = loc->pack_seq;
	if (!bsearch(&seq, b->seqs->v, b->seqs->n, sizeof(seq), u32_cmp))
		return 0;
	return idset_add(b->ids, id);
}

/*
 * Drop packs[0..n) from the cache: the packs, their numbers and every blob
 * entry pointing into them (those blobs are then unknown here).
 */
static int forget_packs(struct drfs_repo *r, const struct drfs_id *packs,
			size_t n)
{
	struct seq_set seqs = { 0 };
	struct idset ids = { 0 };
	struct drfs_txn *t;
	int e;

	if (!n)
		return 0;
	seqs.v = calloc(n, sizeof(*seqs.v));
	if (!seqs.v)
		return -ENOMEM;
	e = drfs_txn_begin(r->index, false, &t);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		uint32_t seq;
		int le = drfs_index_pack_lookup(t, &packs[i], &seq, NULL);
		if (le == 0)
			seqs.v[seqs.n++] = seq;
		else if (le != -ENOENT)
			e = le;
	}
	if (e >= 0) {
		qsort(seqs.v, seqs.n, sizeof(*seqs.v), u32_cmp);
		struct blob_sweep b = { &seqs, &ids };
		e = drfs_index_blobs_scan(t, sweep_cb, &b);
	}
	drfs_txn_abort(t);
	if (e < 0)
		goto out;
	e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < ids.n; i++)
		e = drfs_kv_del(t, DRFS_DB_BLOBS, ids.v[i].b, DRFS_ID_LEN);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		uint32_t seq;
		if (drfs_index_pack_lookup(t, &packs[i], &seq, NULL) < 0)
			continue;
		uint8_t k[4] = { seq >> 24, seq >> 16, seq >> 8, seq };
		e = drfs_kv_del(t, DRFS_DB_PACKS, packs[i].b, DRFS_ID_LEN);
		if (e >= 0 || e == -ENOENT)
			e = drfs_kv_del(t, DRFS_DB_PACKSEQ, k, 4);
		if (e == -ENOENT)
			e = 0;
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
out:
	free(seqs.v);
	free(ids.v);
	return e;
}

struct pack_scan {
	struct idset *keep;            /* named by an index object */
	const struct name_list *packs; /* the listing of data/ */
	struct drfs_txn *t;
	struct idset gone;
	struct idset kept; /* named by none, but still there */
};

static int unnamed_cb(const struct drfs_id *pack,
		      const struct drfs_pack_rec *rec, void *userdata)
{
	struct pack_scan *ps = userdata;
	(void)rec;
	if (idset_has(ps->keep, pack))
		return 0;
	int d = drfs_repo_pack_doomed(ps->t, pack);
	if (d != 0)
		return d < 0 ? d : 0; /* a deletion record keeps it known */
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_name_pack(pack, name);
	/* the cache's records of it were verified when they were loaded */
	if (name_in(ps->packs, name))
		return idset_add(&ps->kept, pack);
	return idset_add(&ps->gone, pack);
}

struct seen_drop {
	struct name_list *present;
	struct name_list gone;
};

static int seen_drop_cb(const void *key, size_t klen, const void *val,
			size_t vlen, void *userdata)
{
	struct seen_drop *sd = userdata;
	char name[DRFS_OBJECT_NAME_MAX];
	(void)val;
	(void)vlen;
	if (klen >= sizeof(name))
		return 0;
	memcpy(name, key, klen);
	name[klen] = 0;
	/* collected: deleting while scanning is not allowed */
	return name_in(sd->present, name) ? 0
					  : collect_name(name, 0, &sd->gone);
}

/*
 * After every index object (present) was loaded again into named: forget
 * the index objects that vanished and the packs no index object and no
 * deletion record names any more and the listing of data/ (packs) lacks.
 * One still listed is kept and named: an index object was lost, or a
 * prune stopped before deleting the pack (its next run deletes it).
 */
static int drop_unnamed(struct drfs_repo *r, struct name_list *present,
			struct idset *named, const struct name_list *packs)
{
	struct pack_scan ps = { .keep = named, .packs = packs };
	struct seen_drop sd = { .present = present };
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	ps.t = t;
	e = drfs_index_packs_scan(t, unnamed_cb, &ps);
	e = e ?: drfs_kv_scan(t, DRFS_DB_SEEN, NULL, 0, seen_drop_cb, &sd);
	drfs_txn_abort(t);
	for (size_t i = 0; e >= 0 && i < ps.kept.n; i++) {
		char name[DRFS_OBJECT_NAME_MAX];
		drfs_name_pack(&ps.kept.v[i], name);
		warn(r, "pack \"%s\" is in no index object any more (an "
			"index object was lost, or a prune stopped before "
			"deleting the pack): kept; \"drfs check\" tells which",
		     name);
	}
	if (e >= 0)
		e = forget_packs(r, ps.gone.v, ps.gone.n);
	if (e >= 0 && sd.gone.n) {
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < sd.gone.n; i++) {
			e = drfs_kv_del(t, DRFS_DB_SEEN, sd.gone.names[i],
					strlen(sd.gone.names[i]));
			if (e == -ENOENT)
				e = 0;
		}
		if (e >= 0)
			e = drfs_txn_commit(t);
		else
			drfs_txn_abort(t);
	}
	free(ps.gone.v);
	free(ps.kept.v);
	name_list_free(&sd.gone);
	return e;
}

/* ---- deletion records in the cache --------------------------------------- */

/* Record id -> le64 time | le32 packs; each pack | record -> "". */
static int apply_deletion(struct drfs_txn *t, const struct drfs_id *id,
			  const struct drfs_buf *payload)
{
	struct drfs_deletion d;
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen, count = 0;
	size_t n;
	const uint8_t *raw;
	uint8_t k[2 * DRFS_ID_LEN], v[12];

	int e = drfs_deletion_decode(payload->p, payload->len, &d);
	e = e ?: drfs_indexobj_iter_init(&it, d.index, d.index_len);
	/* every pack is doomed before any of them is indexed */
	while (e >= 0 &&
	       (e = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0) {
		memcpy(k, pack.b, DRFS_ID_LEN);
		memcpy(k + DRFS_ID_LEN, id->b, DRFS_ID_LEN);
		e = drfs_kv_put(t, DRFS_DB_DOOMED, k, sizeof(k), "", 0);
		count++;
	}
	e = e ?: apply_index_object(t, d.index, d.index_len, NULL, NULL,
				   NULL);
	drfs_put_le64(v, (uint64_t)d.time);
	drfs_put_le32(v + 8, count);
	return e ?: drfs_kv_put(t, DRFS_DB_DELETIONS, id->b, DRFS_ID_LEN, v,
				sizeof(v));
}

struct rec_scan {
	struct name_list *present;
	struct idset gone;
};

static int rec_gone_cb(const void *key, size_t klen, const void *val,
		       size_t vlen, void *userdata)
{
	struct rec_scan *rs = userdata;
	char name[DRFS_OBJECT_NAME_MAX];
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	drfs_name_deletion(key, name);
	return name_in(rs->present, name) ? 0 : idset_add(&rs->gone, key);
}

struct doomed_scan {
	struct idset *gone_recs;
	struct idset keys_a, keys_b; /* entries to delete: pack, record */
	struct idset others;         /* packs still doomed by another */
};

static int doomed_gone_cb(const void *key, size_t klen, const void *val,
			  size_t vlen, void *userdata)
{
	struct doomed_scan *ds = userdata;
	const struct drfs_id *pack = key, *rec = pack + 1;
	(void)val;
	(void)vlen;
	if (klen != 2 * DRFS_ID_LEN)
		return 0;
	if (!idset_has(ds->gone_recs, rec))
		return idset_add(&ds->others, pack);
	int e = idset_add(&ds->keys_a, pack);
	return e ?: idset_add(&ds->keys_b, rec);
}

/*
 * A record that vanished was completed: its packs are deleted (or about
 * to be). Forget it, and the packs no other record names.
 */
static int forget_deletions(struct drfs_repo *r, struct idset *gone)
{
	struct doomed_scan ds = { .gone_recs = gone };
	struct idset packs = { 0 };
	struct drfs_txn *t;
	int e = scan_db(r, DRFS_DB_DOOMED, doomed_gone_cb, &ds);
	for (size_t i = 0; e >= 0 && i < ds.keys_a.n; i++)
		if (!idset_has(&ds.others, &ds.keys_a.v[i]) &&
		    !idset_has(&packs, &ds.keys_a.v[i]))
			e = idset_add(&packs, &ds.keys_a.v[i]);
	e = e ?: forget_packs(r, packs.v, packs.n);
	t = NULL;
	if (e >= 0)
		e = drfs_txn_begin(r->index, true, &t);
	for (size_t i = 0; e >= 0 && i < ds.keys_a.n; i++) {
		uint8_t k[2 * DRFS_ID_LEN];
		memcpy(k, ds.keys_a.v[i].b, DRFS_ID_LEN);
		memcpy(k + DRFS_ID_LEN, ds.keys_b.v[i].b, DRFS_ID_LEN);
		e = drfs_kv_del(t, DRFS_DB_DOOMED, k, sizeof(k));
		if (e == -ENOENT)
			e = 0;
	}
	for (size_t i = 0; e >= 0 && i < gone->n; i++) {
		e = drfs_kv_del(t, DRFS_DB_DELETIONS, gone->v[i].b,
				DRFS_ID_LEN);
		if (e == -ENOENT)
			e = 0;
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	free(ds.keys_a.v);
	free(ds.keys_b.v);
	free(ds.others.v);
	free(packs.v);
	return e;
}

/* Load new deletion records, forget vanished ones. */
static int sync_deletions(struct drfs_repo *r)
{
	struct name_list l;
	struct rec_scan rs = { .present = &l };
	struct drfs_txn *t;
	struct fetch_job *jobs = NULL;
	size_t nj = 0;
	int e;

	e = list_names(r, "deletions/", &l);
	if (e < 0)
		return e;
	e = sort_names(&l);
	e = e ?: drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = drfs_kv_scan(t, DRFS_DB_DELETIONS, NULL, 0, rec_gone_cb, &rs);
	if (e >= 0 && l.n && !(jobs = calloc(l.n, sizeof(*jobs))))
		e = -ENOMEM;
	for (size_t i = 0; e >= 0 && i < l.n; i++) {
		struct drfs_id id;
		if (drfs_name_parse(l.names[i], "deletions", &id) < 0 ||
		    drfs_kv_get_fixed(t, DRFS_DB_DELETIONS, id.b, DRFS_ID_LEN,
				      NULL, 0) != -ENOENT)
			continue;
		strcpy(jobs[nj].name, l.names[i]);
		jobs[nj++].size = l.sizes[i];
	}
	drfs_txn_abort(t);
	if (e >= 0 && rs.gone.n)
		e = forget_deletions(r, &rs.gone);
	if (e < 0 || !nj)
		goto out;
	fetch_all(r, jobs, nj, DRFS_OBJ_DELETION);
	e = drfs_txn_begin(r->index, true, &t);
	for (size_t j = 0; e >= 0 && j < nj; j++) {
		struct drfs_id id;
		drfs_name_parse(jobs[j].name, "deletions", &id);
		int ae = jobs[j].err;
		if (ae == -ENOENT)
			continue; /* completed meanwhile */
		ae = ae ?: apply_deletion(t, &id, &jobs[j].data);
		if (ae == -EBADMSG) {
			/* its packs stay known from the index objects, or
			 * are looked for: nothing is deleted on its word */
			damage(r, "deletion record \"%s\" is corrupted: "
				  "skipped", jobs[j].name);
		} else {
			e = ae < 0 ? fail(ae, "cannot read \"%s\": %s",
					  jobs[j].name, drfs_strerror(ae))
				   : 0;
		}
	}
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
out:
	for (size_t j = 0; j < nj; j++)
		drfs_buf_release(&jobs[j].data);
	free(jobs);
	free(rs.gone.v);
	name_list_free(&l);
	return e < 0 ? e : 0;
}

/*
 * drfs_repo_sync, and with repair drfs_repo_repair_index: the cache is
 * rebuilt from scratch, and the index objects' records count only for
 * packs the data/ listing shows with the same size.
 *
 * Damage never stops it: a corrupted index object is skipped (its packs
 * are read from their own trailers), a corrupted snapshot or deletion
 * record is skipped, a pack the index names that is gone is named; each
 * is told to r->report and counted in r->damaged.
 */
static int sync_repo(struct drfs_repo *r, bool full, bool repair)
{
	struct name_list snaps = { 0 }, idx = { 0 }, packs = { 0 };
	struct drfs_idset skipped = { 0 }, none = { 0 };
	struct idset named = { 0 };
	struct drfs_txn *t;
	int e, n_skipped;

	r->damaged = 0;
	if (repair) {
		e = reset_cache(r);
		e = e ?: list_names(r, "data/", &packs);
		if (e < 0)
			return e;
	}
	e = list_names(r, "index/", &idx);
	if (e < 0)
		goto out;
	/*
	 * An index object vanished (prune rewrote the index, or one was
	 * lost): load every index object again on top of what the cache
	 * has, then drop the packs none of them names (below). Never an
	 * empty cache in between: a mount reads from it all the while.
	 */
	struct seen_scan ss = { .present = &idx };
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = drfs_kv_scan(t, DRFS_DB_SEEN, NULL, 0, seen_check, &ss);
	drfs_txn_abort(t);
	/* deletion records first: their packs never displace others */
	e = e ?: sync_deletions(r);
	if (e < 0)
		goto out;
	n_skipped = sync_kind(r, &idx, DRFS_OBJ_INDEX, repair ? &packs : NULL,
			      &skipped, ss.vanished ? &named : NULL);
	if (n_skipped < 0) {
		e = n_skipped;
		goto out;
	}

	e = drfs_history_bind(r);
	if (e < 0)
		goto out;
	e = list_names(r, "snapshots/", &snaps);
	e = e ?: sync_kind(r, &snaps, DRFS_OBJ_SNAPSHOT, NULL, NULL, NULL);
	if (e < 0)
		goto out;
	e = sync_records(r);
	if (e < 0)
		goto out;
	struct snap_scan sc = { .present = &snaps };
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = drfs_kv_scan(t, DRFS_DB_SNAPS, NULL, 0, snap_gone, &sc);
	drfs_txn_abort(t);
	if (e >= 0 && sc.n) {
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < sc.n; i++)
			drfs_kv_del(t, DRFS_DB_SNAPS, sc.gone[i].b,
				    DRFS_ID_LEN);
		if (e >= 0)
			e = drfs_txn_commit(t);
	}
	free(sc.gone);
	e = e ?: drfs_history_settle(r, snap_listed, &snaps);
	if (e < 0)
		goto out;

	/* the packs themselves: only where the index objects fall short */
	bool all = full || repair || n_skipped;
	if (all || ss.vanished) {
		if (!repair)
			e = list_names(r, "data/", &packs);
		if (e >= 0 && ss.vanished)
			e = drop_unnamed(r, &idx, &named, &packs);
		e = e ?: cross_check(r, &packs, all ? NULL : &none, &skipped);
	}
out:
	drfs_idset_free(&skipped);
	free(named.v);
	name_list_free(&packs);
	name_list_free(&snaps);
	name_list_free(&idx);
	return e < 0 ? e : 0;
}

int drfs_repo_sync(struct drfs_repo *r, bool full)
{
	return sync_repo(r, full, false);
}

int drfs_repo_repair_index(struct drfs_repo *r)
{
	return sync_repo(r, true, true);
}

/* ---- blobs -------------------------------------------------------------- */

int drfs_repo_blob_find(struct drfs_repo *r, const struct drfs_id *id,
			struct drfs_blob_loc *ret_loc,
			struct drfs_id *ret_pack)
{
	struct drfs_txn *t;
	struct drfs_blob_loc loc;
	struct drfs_id pack;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_index_blob_get(t, id, &loc);
	if (e >= 0 && ret_pack)
		e = drfs_index_pack_by_seq(t, loc.pack_seq, &pack, NULL);
	drfs_txn_abort(t);
	if (e < 0)
		return e;
	if (ret_loc)
		*ret_loc = loc;
	if (ret_pack)
		*ret_pack = pack;
	return 0;
}

/*
 * Pack ranges recently read from a remote backend. A blob read that misses
 * fetches SEG_LEN bytes from the blob on (its neighbours were written next
 * to it, and restores, drills and sequential reads of the mount want them
 * next), so a restore costs about one request per SEG_LEN of pack instead
 * of one per blob. Bounded: SEG_COUNT segments.
 */
#define SEG_LEN (4u << 20)
#define SEG_COUNT 6

struct seg {
	struct drfs_id pack;
	uint64_t off;
	struct drfs_buf data;
	uint64_t used; /* LRU clock */
};

struct drfs_segcache {
	pthread_mutex_t lock;
	struct seg s[SEG_COUNT];
	uint64_t clock;
};

static struct drfs_segcache *segcache_new(void)
{
	struct drfs_segcache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < SEG_COUNT; i++)
		drfs_buf_init(&c->s[i].data, SEG_LEN);
	return c;
}

static void segcache_free(struct drfs_segcache *c)
{
	if (!c)
		return;
	for (int i = 0; i < SEG_COUNT; i++)
		drfs_buf_release(&c->s[i].data);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Copy [off, off+len) of pack out of the cache: true on a hit. */
static bool segcache_get(struct drfs_segcache *c, const struct drfs_id *pack,
			 uint64_t off, uint32_t len, struct drfs_buf *out)
{
	bool hit = false;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < SEG_COUNT; i++) {
		struct seg *g = &c->s[i];
		if (!g->data.len || !drfs_id_eq(&g->pack, pack) ||
		    off < g->off || off + len > g->off + g->data.len)
			continue;
		hit = drfs_buf_append(out, g->data.p + (off - g->off), len) >= 0;
		g->used = ++c->clock;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

/* Forget the segments of pack (they held corrupted bytes). */
static void segcache_drop(struct drfs_segcache *c, const struct drfs_id *pack)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < SEG_COUNT; i++)
		if (drfs_id_eq(&c->s[i].pack, pack))
			drfs_buf_reset(&c->s[i].data);
	pthread_mutex_unlock(&c->lock);
}

static void segcache_put(struct drfs_segcache *c, const struct drfs_id *pack,
			 uint64_t off, const struct drfs_buf *data)
{
	pthread_mutex_lock(&c->lock);
	struct seg *victim = &c->s[0];
	for (int i = 1; i < SEG_COUNT; i++)
		if (c->s[i].used < victim->used)
			victim = &c->s[i];
	victim->pack = *pack;
	victim->off = off;
	drfs_buf_reset(&victim->data);
	if (drfs_buf_append(&victim->data, data->p, data->len) < 0)
		drfs_buf_reset(&victim->data);
	victim->used = ++c->clock;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The stored bytes of a blob, through the segment cache when remote;
 * *ret_cached: they came from the cache, not from a get.
 */
static int read_stored(struct drfs_repo *r, const struct drfs_id *pack,
		       const char *name, const struct drfs_blob_loc *loc,
		       struct drfs_buf *stored, bool *ret_cached)
{
	*ret_cached = false;
	if (!r->segs || loc->stored_len >= SEG_LEN)
		return drfs_backend_get(r->be, name, loc->offset,
					loc->stored_len, stored);
	if (segcache_get(r->segs, pack, loc->offset, loc->stored_len,
			 stored)) {
		*ret_cached = true;
		return 0;
	}
	struct drfs_buf seg;
	drfs_buf_init(&seg, SEG_LEN);
	int e = drfs_backend_get(r->be, name, loc->offset, SEG_LEN, &seg);
	if (e >= 0 && seg.len >= loc->stored_len) {
		e = drfs_buf_append(stored, seg.p, loc->stored_len);
		segcache_put(r->segs, pack, loc->offset, &seg);
	} else if (e >= 0) {
		e = drfs_buf_append(stored, seg.p, seg.len); /* short: caller */
	}
	drfs_buf_release(&seg);
	return e;
}

int drfs_repo_blob_read(struct drfs_repo *r, const struct drfs_id *id,
			struct drfs_buf *out)
{
	struct drfs_blob_loc loc;
	struct drfs_id pack;
	struct drfs_buf stored;
	char name[DRFS_OBJECT_NAME_MAX];
	int e = drfs_repo_blob_find(r, id, &loc, &pack);
	if (e < 0)
		return e;
	if (loc.type == DRFS_BLOB_TREE) {
		/* trees this machine wrote are in the local tree cache */
		struct drfs_txn *t;
		if (drfs_txn_begin(r->index, false, &t) >= 0) {
			size_t l0 = out->len;
			int ce = drfs_kv_get(t, DRFS_DB_TREEBLOBS, id->b,
					     DRFS_ID_LEN, out);
			drfs_txn_abort(t);
			if (ce >= 0 && out->len - l0 == loc.raw_len)
				return 0;
			out->len = l0;
		}
	}
	drfs_name_pack(&pack, name);
	drfs_buf_init(&stored, DRFS_BLOB_STORED_MAX);
	bool cached, retried = false;
	e = read_stored(r, &pack, name, &loc, &stored, &cached);
again:
	if (e >= 0 && stored.len != loc.stored_len)
		e = -EBADMSG;
	if (e >= 0) {
		struct drfs_pack_entry pe = {
			.id = *id, .type = loc.type, .flags = loc.flags,
			.offset = loc.offset, .stored_len = loc.stored_len,
			.raw_len = loc.raw_len,
		};
		size_t l0 = out->len;
		e = drfs_blob_open(&r->keys, NULL, &pe, stored.p, stored.len,
				   out);
		if (e < 0)
			out->len = l0;
	}
	/* corrupted bytes from the segment cache: read them again, so that
	 * the replica's copy is asked for if they are corrupted there */
	if (e == -EBADMSG && cached) {
		segcache_drop(r->segs, &pack);
		drfs_buf_reset(&stored);
		e = read_stored(r, &pack, name, &loc, &stored, &cached);
		cached = false;
		goto again;
	}
	/* corrupted here: the replica's copy, if there is one */
	if (e == -EBADMSG && !retried) {
		retried = true;
		drfs_buf_reset(&stored);
		int ae = drfs_backend_get_alternate(r->be, name, loc.offset,
						    loc.stored_len, &stored);
		if (ae >= 0) {
			e = ae;
			goto again;
		}
	}
	drfs_buf_release(&stored);
	return e;
}

int drfs_repo_blob_reader(void *repo, const struct drfs_id *id,
			  struct drfs_buf *out)
{
	return drfs_repo_blob_read(repo, id, out);
}

/* ---- snapshots ---------------------------------------------------------- */

struct snap_collect {
	struct drfs_snap_info *v;
	size_t n, cap;
};

static int snap_add(const void *key, size_t klen, const void *val,
		    size_t vlen, void *userdata)
{
	struct snap_collect *c = userdata;
	if (klen != DRFS_ID_LEN)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		void *p = realloc(c->v, cap * sizeof(*c->v));
		if (!p)
			return -ENOMEM;
		c->v = p;
		c->cap = cap;
	}
	struct drfs_snap_info *si = &c->v[c->n];
	memcpy(si->id.b, key, DRFS_ID_LEN);
	if (drfs_snapshot_decode(val, vlen, &si->snap) < 0)
		return 0;
	c->n++;
	return 0;
}

int drfs_snap_order(const struct timespec *ta, const struct drfs_id *a,
		    const struct timespec *tb, const struct drfs_id *b)
{
	if (ta->tv_sec != tb->tv_sec)
		return ta->tv_sec < tb->tv_sec ? -1 : 1;
	if (ta->tv_nsec != tb->tv_nsec)
		return ta->tv_nsec < tb->tv_nsec ? -1 : 1;
	return memcmp(a->b, b->b, DRFS_ID_LEN);
}

static int snap_cmp(const void *a, const void *b)
{
	const struct drfs_snap_info *x = a, *y = b;
	return drfs_snap_order(&x->snap.time, &x->id, &y->snap.time, &y->id);
}

/* The suffix N of a valid recorded name "DAY/TIME.N"; 0 without one. */
static unsigned name_suffix(const char *name)
{
	return name[17] == '.' ? (unsigned)atoi(name + 18) : 0;
}

#define SUFFIX_SET_BYTES ((DRFS_FOLDER_SUFFIX_MAX + 8) / 8)

static bool suffix_has(const uint8_t *set, unsigned n)
{
	return n <= DRFS_FOLDER_SUFFIX_MAX && (set[n / 8] & (1u << (n % 8)));
}

static void suffix_add(uint8_t *set, unsigned n)
{
	if (n <= DRFS_FOLDER_SUFFIX_MAX)
		set[n / 8] |= (uint8_t)(1u << (n % 8));
}

/*
 * The folder each snapshot of v[a..b) (one second, sorted) is shown as
 * (docs/format.md §8): recorded names first, the oldest keeping a name
 * recorded twice (the others show it with "~" and 8 hex digits of their
 * id); then those without one, in order, the lowest suffix from the
 * previous one's on that no snapshot shows. Without recorded names that
 * is the first one bare, then ".1", ".2", ... as before names were
 * recorded.
 */
static void name_second(struct drfs_snap_info *v, size_t a, size_t b)
{
	uint8_t taken[SUFFIX_SET_BYTES];
	unsigned next = 0;

	if (b - a == 1) { /* the common case */
		if (v[a].snap.name[0])
			snprintf(v[a].folder, sizeof(v[a].folder), "%s",
				 v[a].snap.name);
		else
			drfs_snapshot_folder(&v[a].snap.time, v[a].folder);
		return;
	}
	memset(taken, 0, sizeof(taken));
	for (size_t i = a; i < b; i++) {
		struct drfs_snap_info *si = &v[i];
		if (!si->snap.name[0])
			continue;
		unsigned n = name_suffix(si->snap.name);
		if (!suffix_has(taken, n)) {
			suffix_add(taken, n);
			snprintf(si->folder, sizeof(si->folder), "%s",
				 si->snap.name);
		} else {
			char hex[DRFS_ID_HEX_LEN + 1];
			snprintf(si->folder, sizeof(si->folder), "%s~%.8s",
				 si->snap.name, drfs_id_hex(&si->id, hex));
		}
	}
	for (size_t i = a; i < b; i++) {
		struct drfs_snap_info *si = &v[i];
		if (si->snap.name[0])
			continue;
		while (suffix_has(taken, next))
			next++;
		drfs_snapshot_folder(&si->snap.time, si->folder);
		size_t l = strlen(si->folder);
		if (next)
			snprintf(si->folder + l, sizeof(si->folder) - l, ".%u",
				 next);
		next++;
	}
}

int drfs_repo_snapshots(struct drfs_repo *r, struct drfs_snap_info **ret,
			size_t *ret_n)
{
	struct snap_collect c = { 0 };
	struct drfs_txn *t;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_kv_scan(t, DRFS_DB_SNAPS, NULL, 0, snap_add, &c);
	drfs_txn_abort(t);
	if (e < 0) {
		free(c.v);
		return e;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), snap_cmp);
	for (size_t a = 0, b; a < c.n; a = b) {
		for (b = a + 1; b < c.n && c.v[b].snap.time.tv_sec ==
						   c.v[a].snap.time.tv_sec;
		     b++)
			;
		name_second(c.v, a, b);
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

bool drfs_snap_filter_match(const struct drfs_snap_filter *f,
			    const struct drfs_snapshot *s)
{
	if (!f)
		return true;
	if (f->host && strcmp(f->host, s->host) != 0)
		return false;
	if (f->path && strcmp(f->path, s->path) != 0)
		return false;
	for (size_t i = 0; i < f->n_tags; i++)
		if (drfs_snapshot_has_tag(s, f->tags[i]))
			return true;
	return f->n_tags == 0;
}

/* "host \"h\", path \"p\", tag \"t\"" of a filter, for messages. */
static void filter_text(const struct drfs_snap_filter *f, char *out,
			size_t len)
{
	size_t l = 0;
	out[0] = 0;
	if (f && f->host)
		l += (size_t)snprintf(out + l, len - l, " of host \"%s\"",
				      f->host);
	if (f && f->path && l < len)
		l += (size_t)snprintf(out + l, len - l, "%s path \"%s\"",
				      l ? "," : " with", f->path);
	for (size_t i = 0; f && i < f->n_tags && l < len; i++)
		l += (size_t)snprintf(out + l, len - l, "%s tag \"%s\"",
				      i ? " or" : l ? ", with" : " with",
				      f->tags[i]);
}

int drfs_repo_snapshot_find_in(struct drfs_repo *r, const char *spec,
			       const struct drfs_snap_filter *f,
			       struct drfs_snap_info *ret)
{
	struct drfs_snap_info *v;
	size_t n, hit = SIZE_MAX;
	int matches = 0;
	int e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		return e;
	if (strcmp(spec, "latest") == 0) {
		for (size_t i = n; i-- > 0;) {
			if (drfs_snap_filter_match(f, &v[i].snap)) {
				hit = i;
				matches = 1;
				break;
			}
		}
	} else {
		size_t sl = strlen(spec);
		for (size_t i = 0; i < n; i++) {
			char hex[DRFS_ID_HEX_LEN + 1];
			drfs_id_hex(&v[i].id, hex);
			if (strcmp(v[i].folder, spec) == 0 ||
			    (sl >= 8 && sl <= DRFS_ID_HEX_LEN &&
			     strncmp(hex, spec, sl) == 0)) {
				hit = i;
				matches++;
			}
		}
	}
	if (matches == 1)
		*ret = v[hit];
	free(v);
	if (matches == 0 && strcmp(spec, "latest") == 0) {
		char what[1024];
		filter_text(f, what, sizeof(what));
		return fail(-ENOENT, "no snapshot%s", what);
	}
	if (matches == 0)
		return fail(-ENOENT, "no snapshot \"%s\"", spec);
	if (matches > 1)
		return fail(-EINVAL, "snapshot \"%s\" is ambiguous", spec);
	return 0;
}

int drfs_repo_snapshot_find(struct drfs_repo *r, const char *spec,
			    struct drfs_snap_info *ret)
{
	return drfs_repo_snapshot_find_in(r, spec, NULL, ret);
}

/*
 * Claim folder name: a create-only put of names/<hmac>. 0 claimed,
 * -EEXIST taken (by a snapshot, or by a writer that crashed before
 * writing its snapshot: the name is not given again either way).
 */
static int claim_name(struct drfs_repo *r, const char *folder)
{
	struct drfs_buf plain, sealed;
	char name[DRFS_OBJECT_NAME_MAX];
	uint8_t token[16];

	int e = drfs_random(token, sizeof(token));
	if (e < 0)
		return e;
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&sealed, DRFS_SMALL_OBJECT_MAX);
	drfs_name_claim(&r->keys, folder, name);
	e = drfs_claim_encode(folder, token, &plain);
	e = e ?: drfs_seal(&r->keys, DRFS_OBJ_NAME, plain.p, plain.len,
			   &sealed);
	e = e ?: drfs_backend_put(r->be, name, sealed.p, sealed.len,
				  DRFS_PUT_CREATE_ONLY);
	if (e < 0 && e != -EEXIST) {
		const char *d = drfs_backend_last_error(r->be);
		e = fail(e, "cannot claim the folder name %s (\"%s\"): %s%s%s",
			 folder, name, drfs_strerror(e), d ? ": " : "",
			 d ? d : "");
	}
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	return e;
}

/* The suffixes the catalogue shows in the second of t (into set). */
static int shown_suffixes(struct drfs_repo *r, const struct timespec *t,
			  uint8_t *set)
{
	struct drfs_snap_info *v;
	size_t n;
	char base[DRFS_FOLDER_BUF];
	int e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		return e;
	drfs_snapshot_folder(t, base);
	for (size_t i = 0; i < n; i++) {
		const char *f = v[i].folder;
		if (v[i].snap.time.tv_sec != t->tv_sec || strchr(f, '~') ||
		    strncmp(f, base, 17) != 0)
			continue;
		suffix_add(set, f[17] == '.' ? (unsigned)atoi(f + 18) : 0);
	}
	free(v);
	return 0;
}

/* Claim the name s->name, else the lowest free one of its second. */
static int claim_for(struct drfs_repo *r, struct drfs_snapshot *s)
{
	uint8_t shown[SUFFIX_SET_BYTES] = { 0 };
	char base[DRFS_FOLDER_BUF], cand[DRFS_FOLDER_BUF];
	int e;

	drfs_snapshot_folder(&s->time, base);
	if (!drfs_snapshot_name_valid(base, &s->time))
		return fail(-ERANGE, "snapshot time %s is outside the years "
			    "0000..9999", base);
	e = shown_suffixes(r, &s->time, shown);
	if (e < 0)
		return e;
	/* the name asked for (a copy keeps its source's), if still free */
	if (s->name[0] && drfs_snapshot_name_valid(s->name, &s->time) &&
	    !suffix_has(shown, name_suffix(s->name))) {
		snprintf(cand, sizeof(cand), "%s", s->name);
		e = claim_name(r, cand);
		if (e != -EEXIST)
			return e;
	}
	for (unsigned n = 0; n <= DRFS_FOLDER_SUFFIX_MAX; n++) {
		if (suffix_has(shown, n))
			continue;
		if (n)
			snprintf(cand, sizeof(cand), "%.17s.%u", base, n);
		else
			snprintf(cand, sizeof(cand), "%s", base);
		e = claim_name(r, cand);
		if (e == 0) {
			snprintf(s->name, sizeof(s->name), "%s", cand);
			return 0;
		}
		if (e != -EEXIST)
			return e;
	}
	return fail(-EEXIST, "no free folder name in the second %s", base);
}

/*
 * The name of s, which replaces over: over's recorded name (claimed by
 * over's writer), or the name shown for over if it recorded none, claimed
 * now; if that one is claimed already, as claim_for.
 */
static int claim_over(struct drfs_repo *r, struct drfs_snapshot *s,
		      const struct drfs_snap_info *over)
{
	const char *keep = over->snap.name[0] ? over->snap.name : over->folder;
	int e = -EEXIST;
	if (drfs_snapshot_name_valid(keep, &s->time)) {
		if (over->snap.name[0])
			e = 0;
		else
			e = claim_name(r, keep);
		if (e == 0)
			snprintf(s->name, sizeof(s->name), "%s", keep);
	}
	if (e != -EEXIST)
		return e;
	s->name[0] = 0;
	return claim_for(r, s);
}

/* drfs_repo_snapshot_write, with over: drfs_repo_snapshot_replace. */
static int snapshot_write(struct drfs_repo *r, struct drfs_snapshot *s,
			  const struct drfs_snap_info *over,
			  struct drfs_id *ret_id)
{
	struct drfs_buf plain, sealed;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_txn *t = NULL;
	int e;

	/* the first write to a repository made by an older drfs upgrades it
	 * (a failure leaves it as it was: the next write tries again) */
	(void)drfs_repo_forget_baseline(r);
	e = over ? claim_over(r, s, over) : claim_for(r, s);
	if (e < 0)
		return e;
	/* tests: die like kill -9 between the claim and the snapshot */
	const char *crash = getenv("DRFS_TEST_CRASH_AT");
	if (crash && strcmp(crash, "claimed") == 0)
		_exit(137);
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&sealed, DRFS_SMALL_OBJECT_MAX);
	e = drfs_snapshot_encode(s, &plain);
	e = e ?: drfs_seal(&r->keys, DRFS_OBJ_SNAPSHOT, plain.p, plain.len,
			   &sealed);
	if (e < 0)
		goto out;
	drfs_sha256(sealed.p, sealed.len, &id);
	drfs_name_snapshot(&id, name);
	e = drfs_backend_put(r->be, name, sealed.p, sealed.len,
			     DRFS_PUT_CREATE_ONLY);
	if (e < 0) {
		const char *d = drfs_backend_last_error(r->be);
		e = fail(e, "cannot write snapshot \"%s\": %s%s%s", name,
			 drfs_strerror(e), d ? ": " : "", d ? d : "");
		goto out;
	}
	e = drfs_txn_begin(r->index, true, &t);
	e = e ?: drfs_kv_put(t, DRFS_DB_SNAPS, id.b, DRFS_ID_LEN, plain.p,
			     plain.len);
	e = e ?: drfs_history_note(t, &id, plain.p, plain.len);
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	if (e >= 0 && ret_id)
		*ret_id = id;
out:
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	return e;
}

int drfs_repo_snapshot_write(struct drfs_repo *r, struct drfs_snapshot *s,
			     struct drfs_id *ret_id)
{
	return snapshot_write(r, s, NULL, ret_id);
}

int drfs_repo_snapshot_replace(struct drfs_repo *r, struct drfs_snapshot *s,
			       const struct drfs_snap_info *over,
			       struct drfs_id *ret_id)
{
	return snapshot_write(r, s, over, ret_id);
}

int drfs_repo_snapshot_names_keep(struct drfs_repo *r,
				  const struct drfs_id *ids, size_t n)
{
	struct drfs_snap_info *v;
	size_t nv;
	int e = drfs_repo_snapshots(r, &v, &nv);
	if (e < 0)
		return e;
	/*
	 * The names of the others without one in the same second shift
	 * when one of them goes (they are derived): claim theirs too.
	 */
	for (size_t a = 0, b; e >= 0 && a < nv; a = b) {
		bool hit = false;
		for (b = a; b < nv && v[b].snap.time.tv_sec ==
					      v[a].snap.time.tv_sec;
		     b++)
			for (size_t k = 0; !v[b].snap.name[0] && k < n; k++)
				hit = hit || drfs_id_eq(&v[b].id, &ids[k]);
		for (size_t i = a; hit && e >= 0 && i < b; i++) {
			if (v[i].snap.name[0])
				continue;
			e = claim_name(r, v[i].folder);
			e = e == -EEXIST ? 0 : e;
		}
	}
	free(v);
	return e;
}

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

static int full_blob(const struct drfs_id *id,
		     const struct drfs_blob_loc *loc, void *userdata)
{
	struct full_collect *fc = userdata;
	uint32_t seq = loc->pack_seq;
	if (fc->only &&
	    !bsearch(&seq, fc->only, fc->n_only, sizeof(seq), u32_cmp))
		return 0;
	if (drfs_grow(&fc->v, &fc->cap, fc->n, sizeof(*fc->v), 1024) < 0)
		return -ENOMEM;
	struct full_entry *f = &fc->v[fc->n++];
	f->seq = seq;
	f->e.id = *id;
	f->e.offset = loc->offset;
	f->e.stored_len = loc->stored_len;
	f->e.raw_len = loc->raw_len;
	f->e.type = loc->type;
	f->e.flags = loc->flags;
	return 0;
}

static int full_cmp(const void *a, const void *b)
{
	const struct full_entry *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->e.offset < y->e.offset ? -1 : x->e.offset > y->e.offset;
}

static int put_index_object(struct drfs_repo *r, struct drfs_buf *plain,
			    struct name_list *keep)
{
	struct drfs_buf sealed;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_buf_init(&sealed, DRFS_INDEX_OBJECT_MAX + 64);
	int e = drfs_seal(&r->keys, DRFS_OBJ_INDEX, plain->p, plain->len,
			  &sealed);
	if (e >= 0) {
		drfs_sha256(sealed.p, sealed.len, &id);
		drfs_name_index(&id, name);
		e = drfs_backend_put(r->be, name, sealed.p, sealed.len,
				     DRFS_PUT_CREATE_ONLY);
		if (e >= 0)
			e = collect_name(name, sealed.len, keep);
	}
	drfs_buf_release(&sealed);
	return e;
}

int drfs_repo_write_full_index(struct drfs_repo *r)
{
	struct full_collect fc = { 0 };
	struct name_list old, keep = { 0 };
	struct drfs_buf plain;
	struct drfs_txn *t;
	int e;

	e = list_names(r, "index/", &old);
	if (e < 0)
		return e;
	e = drfs_txn_begin(r->index, false, &t);
	if (e >= 0) {
		e = drfs_index_blobs_scan(t, full_blob, &fc);
		drfs_txn_abort(t);
	}
	if (e < 0)
		goto out;
	if (fc.n)
		qsort(fc.v, fc.n, sizeof(*fc.v), full_cmp);
	drfs_buf_init(&plain, DRFS_INDEX_OBJECT_MAX);
	e = drfs_indexobj_begin(&plain);
	struct drfs_pack_entry *es = malloc(DRFS_PACK_MAX_BLOBS * sizeof(*es));
	if (!es)
		e = -ENOMEM;
	for (size_t i = 0; e >= 0 && i < fc.n;) {
		size_t j = i, n = 0;
		while (j < fc.n && fc.v[j].seq == fc.v[i].seq &&
		       n < DRFS_PACK_MAX_BLOBS)
			es[n++] = fc.v[j++].e;
		struct drfs_id pack;
		uint32_t plen;
		e = drfs_txn_begin(r->index, false, &t);
		if (e < 0)
			break;
		e = drfs_index_pack_by_seq(t, fc.v[i].seq, &pack, &plen);
		int doomed = e < 0 ? 0 : drfs_repo_pack_doomed(t, &pack);
		drfs_txn_abort(t);
		if (e >= 0 && doomed < 0)
			e = doomed;
		if (e < 0)
			break;
		if (doomed) { /* a deletion record names it instead */
			i = j;
			continue;
		}
		if (plain.len + 64 + n * DRFS_PACK_ENTRY_LEN >
		    DRFS_INDEX_OBJECT_MAX / 2) {
			e = put_index_object(r, &plain, &keep);
			drfs_buf_reset(&plain);
			e = e ?: drfs_indexobj_begin(&plain);
		}
		e = e ?: drfs_indexobj_add(&plain, &pack, plen, es, n);
		i = j;
	}
	free(es);
	if (e >= 0 && plain.len > 1)
		e = put_index_object(r, &plain, &keep);
	drfs_buf_release(&plain);
	/*
	 * Only now that the new index is durable, drop the old objects. One
	 * that cannot be deleted still lists what it listed: the error goes
	 * to the caller (prune must then keep the packs it meant to delete;
	 * the next run retries), and it stays "seen".
	 */
	int del_err = 0;
	if (e >= 0) {
		sort_names(&keep);
		for (size_t i = 0; i < old.n; i++) {
			if (name_in(&keep, old.names[i]))
				continue;
			int de = drfs_backend_del(r->be, old.names[i]);
			if (de < 0 && de != -ENOENT) {
				if (!del_err)
					del_err = de;
				old.names[i][0] = 0; /* not gone */
			}
		}
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < old.n; i++)
			if (old.names[i][0])
				drfs_kv_del(t, DRFS_DB_SEEN, old.names[i],
					    strlen(old.names[i]));
		for (size_t i = 0; e >= 0 && i < keep.n; i++)
			e = drfs_kv_put(t, DRFS_DB_SEEN, keep.names[i],
					strlen(keep.names[i]), "", 0);
		if (e >= 0)
			e = drfs_txn_commit(t);
	}
	if (e >= 0 && del_err)
		e = del_err;
out:
	free(fc.v);
	name_list_free(&old);
	name_list_free(&keep);
	return e;
}

/* ---- deletion records ----------------------------------------------------- */

struct rec_collect {
	struct drfs_deletion_info *v;
	size_t n, cap;
};

static int rec_collect_cb(const void *key, size_t klen, const void *val,
			  size_t vlen, void *userdata)
{
	struct rec_collect *c = userdata;
	if (klen != DRFS_ID_LEN || vlen != 12)
		return 0;
	if (drfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v), 8) < 0)
		return -ENOMEM;
	struct drfs_deletion_info *d = &c->v[c->n++];
	memcpy(d->id.b, key, DRFS_ID_LEN);
	d->time = (int64_t)drfs_get_le64(val);
	d->n_packs = drfs_get_le32((const uint8_t *)val + 8);
	return 0;
}

static int rec_time_cmp(const void *a, const void *b)
{
	const struct drfs_deletion_info *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return memcmp(x->id.b, y->id.b, DRFS_ID_LEN);
}

int drfs_repo_deletions(struct drfs_repo *r, struct drfs_deletion_info **ret,
			size_t *ret_n)
{
	struct rec_collect c = { 0 };
	int e = scan_db(r, DRFS_DB_DELETIONS, rec_collect_cb, &c);
	if (e < 0) {
		free(c.v);
		return e;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), rec_time_cmp);
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

struct pair_collect {
	struct drfs_doomed *v;
	size_t n, cap;
};

static int pair_cb(const void *key, size_t klen, const void *val, size_t vlen,
		   void *userdata)
{
	struct pair_collect *c = userdata;
	(void)val;
	(void)vlen;
	if (klen != 2 * DRFS_ID_LEN)
		return 0;
	if (drfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v), 64) < 0)
		return -ENOMEM;
	memcpy(c->v[c->n].pack.b, key, DRFS_ID_LEN);
	memcpy(c->v[c->n].record.b, (const uint8_t *)key + DRFS_ID_LEN,
	       DRFS_ID_LEN);
	c->n++;
	return 0;
}

int drfs_repo_doomed_packs(struct drfs_repo *r, struct drfs_doomed **ret,
			   size_t *ret_n)
{
	struct pair_collect c = { 0 };
	int e = scan_db(r, DRFS_DB_DOOMED, pair_cb, &c);
	if (e < 0) {
		free(c.v);
		return e;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

/* Seal payload as a deletion record, store it create-only, learn it. */
static int put_deletion(struct drfs_repo *r, struct drfs_buf *payload,
			struct drfs_id *ret_id)
{
	struct drfs_buf sealed;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_txn *t;
	drfs_buf_init(&sealed, DRFS_INDEX_OBJECT_MAX + 64);
	int e = drfs_seal(&r->keys, DRFS_OBJ_DELETION, payload->p,
			  payload->len, &sealed);
	if (e >= 0) {
		drfs_sha256(sealed.p, sealed.len, &id);
		drfs_name_deletion(&id, name);
		e = drfs_backend_put(r->be, name, sealed.p, sealed.len,
				     DRFS_PUT_CREATE_ONLY);
		if (e == -EEXIST)
			e = 0;
		if (e < 0)
			fail(e, "cannot write \"%s\": %s", name,
			     drfs_backend_last_error(r->be)
				     ?: drfs_strerror(e));
	}
	drfs_buf_release(&sealed);
	if (e < 0)
		return e;
	e = drfs_txn_begin(r->index, true, &t);
	e = e ?: apply_deletion(t, &id, payload);
	if (e >= 0)
		e = drfs_txn_commit(t);
	else
		drfs_txn_abort(t);
	if (e >= 0)
		*ret_id = id;
	return e;
}

int drfs_repo_deletion_write(struct drfs_repo *r,
			     const struct drfs_deletion *hdr,
			     const struct drfs_id *packs, size_t n,
			     struct drfs_id **ret_ids, size_t *ret_n)
{
	struct full_collect fc = { 0 };
	struct drfs_pack_entry *es = NULL;
	struct drfs_buf plain;
	struct drfs_txn *t;
	uint32_t *seqs, *lens;
	struct idset ids = { 0 };
	int e;

	seqs = calloc(n + 1, sizeof(*seqs));
	lens = calloc(n + 1, sizeof(*lens));
	if (!seqs || !lens) {
		free(seqs);
		free(lens);
		return -ENOMEM;
	}
	drfs_buf_init(&plain, DRFS_INDEX_OBJECT_MAX);
	/* each pack with the blobs whose indexed copy is in it */
	e = drfs_txn_begin(r->index, false, &t);
	for (size_t i = 0; e >= 0 && i < n; i++)
		e = drfs_index_pack_lookup(t, &packs[i], &seqs[i], &lens[i]);
	if (e >= 0) {
		uint32_t *sorted = malloc((n + 1) * sizeof(*sorted));
		if (!sorted) {
			e = -ENOMEM;
		} else {
			memcpy(sorted, seqs, n * sizeof(*seqs));
			qsort(sorted, n, sizeof(*sorted), u32_cmp);
			fc.only = sorted;
			fc.n_only = n;
			e = drfs_index_blobs_scan(t, full_blob, &fc);
			free(sorted);
			fc.only = NULL;
		}
	}
	drfs_txn_abort(t);
	if (e >= 0 && fc.n)
		qsort(fc.v, fc.n, sizeof(*fc.v), full_cmp);
	es = malloc(DRFS_PACK_MAX_BLOBS * sizeof(*es));
	if (e >= 0 && !es)
		e = -ENOMEM;
	e = e ?: drfs_deletion_begin(hdr, &plain);
	size_t empty = plain.len, k = 0;
	for (size_t i = 0; e >= 0 && i < n; i++) {
		/* fc is sorted by pack number: find this pack's entries */
		size_t lo = 0, hi = fc.n, m = 0;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (fc.v[mid].seq < seqs[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		for (k = lo; k < fc.n && fc.v[k].seq == seqs[i] &&
			     m < DRFS_PACK_MAX_BLOBS; k++)
			es[m++] = fc.v[k].e;
		if (plain.len + 64 + m * DRFS_PACK_ENTRY_LEN >
			    DRFS_INDEX_OBJECT_MAX / 2 &&
		    plain.len > empty) {
			struct drfs_id id;
			e = put_deletion(r, &plain, &id);
			e = e ?: idset_add(&ids, &id);
			drfs_buf_reset(&plain);
			e = e ?: drfs_deletion_begin(hdr, &plain);
		}
		e = e ?: drfs_indexobj_add(&plain, &packs[i], lens[i], es, m);
	}
	if (e >= 0 && plain.len > empty) {
		struct drfs_id id;
		e = put_deletion(r, &plain, &id);
		e = e ?: idset_add(&ids, &id);
	}
	drfs_buf_release(&plain);
	free(es);
	free(fc.v);
	free(seqs);
	free(lens);
	if (e < 0) {
		free(ids.v);
		return e;
	}
	*ret_ids = ids.v;
	*ret_n = ids.n;
	return 0;
}

int drfs_repo_deletion_remove(struct drfs_repo *r, const struct drfs_id *id)
{
	char name[DRFS_OBJECT_NAME_MAX];
	struct idset gone = { 0 };
	drfs_name_deletion(id, name);
	int e = drfs_backend_del(r->be, name);
	if (e < 0 && e != -ENOENT)
		return fail(e, "cannot delete \"%s\": %s", name,
			    drfs_backend_last_error(r->be)
				    ?: drfs_strerror(e));
	e = idset_add(&gone, id);
	e = e ?: forget_deletions(r, &gone);
	free(gone.v);
	return e;
}

struct id_collect {
	const char *dir;
	struct drfs_id *v;
	size_t n, cap;
};

static int id_collect_cb(const char *name, uint64_t size, void *userdata)
{
	struct id_collect *c = userdata;
	struct drfs_id id;
	(void)size;
	if (drfs_name_parse(name, c->dir, &id) < 0)
		return 0;
	if (drfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v), 16) < 0)
		return -ENOMEM;
	c->v[c->n++] = id;
	return 0;
}

int drfs_repo_list_ids(struct drfs_repo *r, const char *dir,
		       struct drfs_id **ret, size_t *ret_n)
{
	char prefix[64];
	struct id_collect c = { .dir = dir };
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	int e = drfs_backend_list(r->be, prefix, id_collect_cb, &c);
	if (e < 0) {
		free(c.v);
		return e;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}
