/* SPDX-License-Identifier: MIT */
/*
 * repo.c - opening and creating a repository: the backend (and replica), key
 * files, the security binding, the cache directory; the last error.
 * repoint.h has what the rooms of the repository share.
 */
#include "repoint.h"

static _Thread_local char last_error[512];


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

int repo_fail(int r, const char *fmt, ...)
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
			return repo_fail(r, "cannot open repository \"%s\": %s",
					 url, why);
		if (r == -ENOENT)
			why = "no such directory or bucket";
		else if (r == -EACCES)
			why = "credentials refused";
		return repo_fail(r, "cannot open repository \"%s\": %s", url,
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
		repo_fail(why, "replica \"%s\" is unreachable: %s", o->replica,
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
			repo_fail(r, "cannot set up replica \"%s\": %s",
				  o->replica,
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
		return repo_fail(r, "cannot initialise cryptography");
	if (!io->no_encryption && (!o->password || !*o->password))
		return repo_fail(-ENOKEY, "a passphrase is needed to create an "
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
		r = repo_fail(-EEXIST, "a repository already exists at \"%s\"",
			      be->display);
		goto out;
	}
	if (r != -ENOENT) {
		r = repo_fail(r, "cannot read \"%s\": %s", be->display,
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
		r = repo_fail(r, "invalid chunker parameters");
		goto out;
	}
	struct drfs_scrypt_params sp = io->scrypt;
	if (!sp.log2n)
		sp = DRFS_SCRYPT_DEFAULT;
	sp.log2n = drfs_test_scrypt_log2n(sp.log2n);
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
	r = repo_fail(r, "cannot write to \"%s\": %s%s%s", be->display,
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
	char *name;  /* the one that opened (DRFS_OBJECT_NAME_MAX bytes) */
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
		if (ks->name)
			snprintf(ks->name, DRFS_OBJECT_NAME_MAX, "%s", name);
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
		return repo_fail(-ENOENT, "repository \"%s\" has no key file",
				 where);
	if (ks->other_mode == ks->seen && ks->want_encrypted && ks->pass)
		return repo_fail(
			-EKEYREJECTED,
			"refusing repository \"%s\": it is not encrypted "
			"(its key file holds the keys in the clear), yet a "
			"passphrase was given. An encrypted repository "
			"replaced by someone with write access to it looks "
			"like this. If it was created with --no-encryption, "
			"open it with --no-encryption",
			where);
	if (ks->other_mode == ks->seen && ks->want_encrypted)
		return repo_fail(
			-EKEYREJECTED,
			"repository \"%s\" is not encrypted: open it with "
			"--no-encryption",
			where);
	if (ks->other_mode == ks->seen)
		return repo_fail(
			-EKEYREJECTED,
			"repository \"%s\" is encrypted: open it with its "
			"passphrase, without --no-encryption",
			where);
	if (ks->result == -EACCES)
		return repo_fail(-EACCES,
				 "wrong passphrase for repository \"%s\"",
				 where);
	if (ks->result == -ENOKEY)
		return repo_fail(-ENOKEY,
				 "repository \"%s\" is encrypted: a "
				 "passphrase is needed (--password-file, "
				 "DRFS_PASSWORD_FILE, DRFS_PASSWORD_COMMAND "
				 "or DRFS_PASSWORD)",
				 where);
	return repo_fail(ks->result ?: -EBADMSG,
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
		return repo_fail(
			-EKEYREJECTED,
			"refusing repository \"%s\": its id is %s, not %s "
			"as --expect-id requires",
			r->be->display, r->repo_id_hex, want);
	}
	if (!location || drfs_known_path(&path) < 0)
		return 0;
	e = drfs_known_lookup(path, location, &k, &line);
	if (e == -EBADMSG)
		e = repo_fail(-EBADMSG,
			      "\"%s\" line %u: not a record (<id> "
			      "<encrypted|unencrypted> <location>); fix "
			      "or delete that line",
			      path, line);
	else if (e < 0)
		e = repo_fail(e, "cannot read \"%s\": %s", path,
			      drfs_strerror(e));
	else if (e == 0)
		*ret_unknown = true;
	else if (memcmp(k.repo_id, r->config.repo_id, 16) != 0 ||
		 k.encrypted != r->keys.encrypted) {
		drfs_hex(k.repo_id, 16, want);
		e = repo_fail(
			-EKEYREJECTED,
			"refusing repository \"%s\": \"%s\" line %u "
			"records the %s repository %s there, but it is now "
			"the %s repository %s. Someone with write access may "
			"have replaced it; if you replaced it yourself, "
			"delete that line",
			r->be->display, path, line, mode_name(k.encrypted),
			want, mode_name(r->keys.encrypted), r->repo_id_hex);
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
		return repo_fail(
			-EKEYREJECTED,
			"cache directory \"%s\" belongs to repository %s, "
			"but \"%s\" is repository %s. If that repository "
			"was replaced on purpose, delete \"%s\"; to use "
			"both, give each its own --cache-dir",
			r->cache_dir, hex, r->be->display, r->repo_id_hex,
			r->cache_dir);
	}
	if (em == 1 && !*ret_fresh && (mode != 0) != r->keys.encrypted) {
		drfs_txn_abort(t);
		return repo_fail(
			-EKEYREJECTED,
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
	return repo_fail(e, "cannot initialise cache in \"%s\": %s",
			 r->cache_dir, drfs_strerror(e));
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

/*
 * The key the passphrase opens (or the unencrypted one), then the config
 * it unseals, and the chunker it sets up. Errors are told (repo_fail).
 */
static int open_config(struct drfs_repo *r, const struct drfs_repo_opts *o)
{
	struct drfs_buf obj, plain;
	uint64_t size;
	int e;

	drfs_buf_init(&obj, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	e = drfs_backend_head(r->be, "config", &size);
	if (e == -ENOENT) {
		e = repo_fail(-ENOENT,
			      "no drfs repository at \"%s\" (run \"drfs "
			      "init\" first)",
			      r->be->display);
		goto out;
	}
	if (e < 0) {
		e = repo_fail(e, "cannot read config of \"%s\": %s",
			      r->be->display, drfs_strerror(e));
		goto out;
	}
	struct key_search ks = { .be = r->be, .pass = o->password,
				 .want_encrypted = !o->no_encryption,
				 .keys = &r->keys, .name = r->key_name };
	e = drfs_backend_list(r->be, "keys/", try_key, &ks);
	if (e < 0) {
		e = repo_fail(e, "cannot list keys of \"%s\": %s",
			      r->be->display, drfs_strerror(e));
		goto out;
	}
	if (!ks.found) {
		e = no_key(&ks, r->be->display);
		goto out;
	}
	e = drfs_backend_get(r->be, "config", 0, UINT64_MAX, &obj);
	if (e >= 0)
		e = drfs_unseal(&r->keys, DRFS_OBJ_CONFIG, obj.p, obj.len,
				&plain);
	if (e >= 0)
		e = drfs_config_decode(plain.p, plain.len, &r->config);
	if (e < 0) {
		e = repo_fail(e, "config of \"%s\": %s", r->be->display,
			      e == -EPROTONOSUPPORT
				      ? "unsupported format version"
				      : drfs_strerror(e));
		goto out;
	}
	e = drfs_chunker_init(&r->chunker, &r->config.chunker, r->keys.id);
	if (e < 0) {
		e = repo_fail(-EBADMSG,
			      "config of \"%s\": bad chunker parameters",
			      r->be->display);
		goto out;
	}
out:
	drfs_buf_release(&obj);
	drfs_buf_release(&plain);
	return e < 0 ? e : 0;
}

/* The cache directory and its LMDB index, bound to r (*fresh: new). */
static int open_cache(struct drfs_repo *r, const struct drfs_repo_opts *o,
		      bool *fresh)
{
	int e;
	if (o->cache_dir)
		r->cache_dir = strdup(o->cache_dir);
	else if (cache_dir_default(r->repo_id_hex, &r->cache_dir) < 0)
		r->cache_dir = NULL;
	if (!r->cache_dir)
		return -ENOMEM;
	e = drfs_mkdir_p(r->cache_dir, 0700);
	if (e < 0)
		return repo_fail(e, "cannot create cache directory \"%s\": %s",
				 r->cache_dir, drfs_strerror(e));
	e = drfs_index_open_flags(r->cache_dir,
				  o->index_writemap ? DRFS_INDEX_WRITEMAP : 0,
				  &r->index);
	if (e < 0)
		return repo_fail(e, "cannot open cache in \"%s\": %s",
				 r->cache_dir, drfs_strerror(e));
	return bind_cache(r, fresh);
}

int drfs_repo_open(const struct drfs_repo_opts *o, struct drfs_repo **ret)
{
	struct drfs_repo *r;
	char *location = NULL;
	bool fresh = false, unknown = false;
	int e;

	last_error[0] = 0;
	if (o->no_encryption && o->password)
		return repo_fail(-EINVAL, "a passphrase was given for an "
					  "unencrypted repository");
	e = drfs_crypto_init();
	if (e < 0)
		return repo_fail(e, "cannot initialise cryptography");
	/* the keys live in struct drfs_repo: secret memory */
	r = drfs_secret_alloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->report = o->report;
	r->report_data = o->report_data;
	r->verify_budget = o->verify_budget;
	e = open_backend(o, false, &r->be, &location);
	if (e < 0)
		goto repo_fail;
	e = open_config(r, o);
	if (e < 0)
		goto repo_fail;
	drfs_hex(r->config.repo_id, sizeof(r->config.repo_id), r->repo_id_hex);
	e = check_identity(r, o, location, &unknown);
	if (e < 0)
		goto repo_fail;
	e = open_cache(r, o, &fresh);
	if (e < 0)
		goto repo_fail;
	if (r->be->remote && !(r->segs = repo_segcache_new(r->be))) {
		e = -ENOMEM;
		goto repo_fail;
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
			goto repo_fail;
	}
	if (unknown)
		known_note(location, r->config.repo_id, r->keys.encrypted,
			   false);
	free(location);
	*ret = r;
	return 0;
repo_fail:
	free(location);
	drfs_repo_free(r);
	return e;
}

void drfs_repo_free(struct drfs_repo *r)
{
	if (!r)
		return;
	repo_segcache_free(r->segs); /* its read-ahead thread uses be */
	drfs_index_free(r->index);
	drfs_backend_free(r->be);
	free(r->cache_dir);
	drfs_secret_free(r); /* wipes the keys */
}
