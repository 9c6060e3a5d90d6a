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
#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/replica.h"
#include "drfs/repo.h"
#include "drfs/storeint.h"

static __thread char last_error[512];

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
 * With o->replica: both backends behind a replica wrapper
 * (backend/replica.c). A primary that cannot be opened is replaced by a
 * stand-in that fails every request, so reads come from the replica; so is
 * an unreachable replica (not one that is missing or refuses us). Not on
 * init. Both sides are given the same config and keys.
 */
static int open_backend(const struct drfs_repo_opts *o, bool create,
			struct drfs_backend **ret)
{
	struct drfs_backend_opts bo = o->backend;
	struct drfs_backend *p = NULL, *rep = NULL, *w;
	bo.create = create;
	int r = open_one(o->url, &bo, &p);
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

int drfs_repo_init(const struct drfs_repo_opts *o,
		   const struct drfs_init_opts *io, struct drfs_id *ret_repo_id)
{
	struct drfs_backend *be = NULL;
	struct drfs_keys keys;
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
	r = open_backend(o, true, &be);
	if (r < 0)
		return r;
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
	r = drfs_keys_generate(&keys, !io->no_encryption);
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
	struct drfs_chunker ch;
	r = drfs_chunker_init(&ch, &c.chunker, keys.id);
	if (r < 0) {
		r = fail(r, "invalid chunker parameters");
		goto out;
	}
	struct drfs_scrypt_params sp = io->scrypt;
	if (!sp.log2n)
		sp = DRFS_SCRYPT_DEFAULT;
	r = drfs_keyfile_create(&keys, o->password, &sp, &kf);
	if (r < 0)
		goto out;
	drfs_sha256(kf.p, kf.len, &kid);
	snprintf(name, sizeof(name), "keys/%s", drfs_id_hex(&kid, hex));
	r = drfs_backend_put(be, name, kf.p, kf.len, DRFS_PUT_CREATE_ONLY);
	if (r < 0)
		goto put_failed;
	/* a new repository has forget records from the start (an empty
	 * baseline): nothing was forgotten before them */
	r = drfs_forget_record_put(be, &keys, DRFS_FORGET_F_BASELINE, NULL, 0,
				   name);
	if (r < 0)
		goto put_failed;
	r = drfs_config_encode(&c, &plain);
	r = r ?: drfs_seal(&keys, DRFS_OBJ_CONFIG, plain.p, plain.len, &sealed);
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
	r = 0;
	goto out;
put_failed:
	r = fail(r, "cannot write to \"%s\": %s%s%s", be->display,
		 drfs_strerror(r), drfs_backend_last_error(be) ? ": " : "",
		 drfs_backend_last_error(be) ?: "");
out:
	drfs_keys_wipe(&keys);
	drfs_buf_release(&kf);
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	drfs_backend_free(be);
	return r;
}

struct key_search {
	struct drfs_backend *be;
	const char *pass;
	struct drfs_keys *keys;
	int found;   /* 1 once a key opened */
	int result;  /* best error so far */
	int seen;
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
	if (r >= 0)
		r = drfs_keyfile_open(b.p, b.len, ks->pass, ks->keys);
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
	uint64_t size;
	int e;

	last_error[0] = 0;
	e = drfs_crypto_init();
	if (e < 0)
		return fail(e, "cannot initialise cryptography");
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	drfs_buf_init(&obj, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	e = open_backend(o, false, &r->be);
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
				 .keys = &r->keys };
	e = drfs_backend_list(r->be, "keys/", try_key, &ks);
	if (e < 0) {
		e = fail(e, "cannot list keys of \"%s\": %s", r->be->display,
			 drfs_strerror(e));
		goto fail;
	}
	if (!ks.found) {
		if (ks.seen == 0)
			e = fail(-ENOENT, "repository \"%s\" has no key file",
				 r->be->display);
		else if (ks.result == -EACCES)
			e = fail(-EACCES, "wrong passphrase for repository "
					  "\"%s\"", r->be->display);
		else if (ks.result == -ENOKEY)
			e = fail(-ENOKEY, "repository \"%s\" is encrypted: "
					  "a passphrase is needed (set "
					  "DRFS_PASSWORD or --password-file)",
				 r->be->display);
		else
			e = fail(ks.result ?: -EBADMSG,
				 "key files of \"%s\" are unreadable: %s",
				 r->be->display, drfs_strerror(ks.result));
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
	if (o->cache_dir)
		r->cache_dir = strdup(o->cache_dir);
	else if (cache_dir_default(r->repo_id_hex, &r->cache_dir) < 0)
		r->cache_dir = NULL;
	if (!r->cache_dir) {
		e = -ENOMEM;
		goto fail;
	}
	e = drfs_mkdir_p(r->cache_dir);
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
	/* a cache directory used for another repository is rebuilt */
	struct drfs_txn *t;
	uint8_t owner[16];
	e = drfs_txn_begin(r->index, true, &t);
	if (e < 0)
		goto fail;
	e = drfs_kv_get_fixed(t, DRFS_DB_META, "repo_id", 7, owner, 16);
	bool fresh = e != 16 || memcmp(owner, r->config.repo_id, 16) != 0;
	if (fresh) {
		drfs_txn_abort(t);
		e = drfs_index_clear(r->index);
		if (e >= 0)
			e = drfs_txn_begin(r->index, true, &t);
		if (e >= 0) {
			e = drfs_kv_put(t, DRFS_DB_META, "repo_id", 7,
					r->config.repo_id, 16);
			e = e ?: drfs_txn_commit(t);
		}
	} else {
		e = drfs_txn_commit(t);
	}
	if (e < 0) {
		e = fail(e, "cannot initialise cache in \"%s\": %s",
			 r->cache_dir, drfs_strerror(e));
		goto fail;
	}
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
	drfs_buf_release(&obj);
	drfs_buf_release(&plain);
	*ret = r;
	return 0;
fail:
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
	drfs_keys_wipe(&r->keys);
	free(r->cache_dir);
	free(r);
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
		      size_t n, enum drfs_obj_kind kind, size_t max)
{
	struct fetch_ctx c = { .repo = repo, .jobs = jobs, .n = n,
			       .kind = kind, .max = max };
	pthread_t th[8];
	size_t nt = MIN(n, ARRAY_SIZE(th)), started = 0;
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
}

static int list_names(struct drfs_repo *r, const char *prefix,
		      struct name_list *l)
{
	memset(l, 0, sizeof(*l));
	int e = drfs_backend_list(r->be, prefix, collect_name, l);
	if (e < 0) {
		name_list_free(l);
		return fail(e, "cannot list \"%s\" in \"%s\": %s", prefix,
			    r->be->display, drfs_strerror(e));
	}
	return 0;
}

/* Record the blobs of one pack in the cache. */
static int index_pack(struct drfs_txn *t, const struct drfs_id *pack,
		      uint32_t pack_len, const struct drfs_pack_entry *es,
		      const uint8_t *raw, size_t n)
{
	uint32_t seq;
	int e = drfs_index_pack_add(t, pack, pack_len, (uint32_t)n, &seq);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		struct drfs_pack_entry pe;
		if (es)
			pe = es[i];
		else
			drfs_pack_entry_get(raw + i * DRFS_PACK_ENTRY_LEN, &pe);
		struct drfs_blob_loc loc = {
			.pack_seq = seq, .offset = pe.offset,
			.stored_len = pe.stored_len, .raw_len = pe.raw_len,
			.type = pe.type, .flags = pe.flags,
		};
		e = drfs_index_blob_put(t, &pe.id, &loc);
	}
	return e;
}

static int apply_index_object(struct drfs_txn *t, const struct fetch_job *j)
{
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen;
	size_t n;
	const uint8_t *raw;
	int e = drfs_indexobj_iter_init(&it, j->data.p, j->data.len);
	while (e >= 0 &&
	       (e = drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw)) > 0)
		e = index_pack(t, &pack, plen, NULL, raw, n);
	return e;
}

struct seen_scan {
	struct name_list *present;
	bool vanished;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool name_in(struct name_list *l, const char *name)
{
	return bsearch(name, l->names, l->n, sizeof(*l->names), cmp_name) !=
	       NULL;
}

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

/* Load objects of names not yet in db (SEEN for index/, SNAPS for snaps). */
static int sync_kind(struct drfs_repo *r, struct name_list *l,
		     enum drfs_obj_kind kind)
{
	const size_t batch = 64;
	struct fetch_job *jobs = calloc(batch, sizeof(*jobs));
	size_t max = kind == DRFS_OBJ_INDEX ? DRFS_INDEX_OBJECT_MAX
					    : DRFS_SMALL_OBJECT_MAX;
	int e = 0, bad = 0;
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
				have = drfs_kv_get_fixed(t, DRFS_DB_SEEN, name,
							 strlen(name), NULL, 0);
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
		fetch_all(r, jobs, nj, kind, max);
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
			if (fj->err < 0) {
				if (fj->err != -EBADMSG) {
					e = fail(fj->err, "cannot read \"%s\": "
						 "%s", fj->name,
						 drfs_strerror(fj->err));
					break;
				}
				bad++;
				fail(-EBADMSG, "object \"%s\" is corrupted",
				     fj->name);
				continue;
			}
			if (kind == DRFS_OBJ_SNAPSHOT) {
				struct drfs_snapshot s;
				struct drfs_id id;
				drfs_name_parse(fj->name, "snapshots", &id);
				if (drfs_snapshot_decode(fj->data.p,
							 fj->data.len, &s) < 0) {
					bad++;
					fail(-EBADMSG, "object \"%s\" is "
						 "corrupted", fj->name);
					continue;
				}
				e = drfs_kv_put(t, DRFS_DB_SNAPS, id.b,
						DRFS_ID_LEN, fj->data.p,
						fj->data.len);
				e = e ?: drfs_history_note(t, &id, fj->data.p,
							   fj->data.len);
			} else {
				int ae = apply_index_object(t, fj);
				if (ae == -EBADMSG) {
					bad++;
					fail(-EBADMSG, "object \"%s\" is "
						 "corrupted", fj->name);
					continue;
				}
				e = ae;
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
	if (e >= 0 && bad)
		e = -EBADMSG; /* last_error names the last bad object */
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
	e = sort_names(&recs);
	e = e ?: sync_kind(r, &recs, DRFS_OBJ_FORGET);
	e = e ?: drfs_history_drop_refused(r, record_listed, &recs);
	name_list_free(&recs);
	return e;
}

/* Index packs present in data/ but unknown to the cache from their trailers. */
static int adopt_pack(struct drfs_repo *r, const char *name, uint64_t size,
		      int *ret_missing_index)
{
	struct drfs_id pack;
	struct drfs_buf b;
	uint64_t toff;
	uint32_t tlen;
	struct drfs_pack_entry *es = NULL;
	size_t n = 0;
	int e;

	if (drfs_name_parse(name, "data", &pack) < 0)
		return 0;
	if (size < DRFS_PACK_TAIL_LEN || size > DRFS_PACK_MAX)
		return fail(-EBADMSG, "pack \"%s\" has an impossible size",
			    name);
	drfs_buf_init(&b, DRFS_PACK_MAX);
	e = drfs_backend_get(r->be, name, size - DRFS_PACK_TAIL_LEN,
			     DRFS_PACK_TAIL_LEN, &b);
	if (e >= 0 && b.len != DRFS_PACK_TAIL_LEN)
		e = -EBADMSG;
	e = e ?: drfs_pack_tail_parse(b.p, b.len, size, &toff, &tlen);
	if (e >= 0) {
		drfs_buf_reset(&b);
		e = drfs_backend_get(r->be, name, toff, tlen, &b);
		if (e >= 0 && b.len != tlen)
			e = -EBADMSG;
	}
	e = e ?: drfs_pack_trailer_decode(&r->keys, b.p, b.len, toff, &es, &n);
	drfs_buf_release(&b);
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
	(*ret_missing_index)++;
	return e;
}

struct pack_missing {
	struct name_list *present;
	int missing;
};

static int check_pack(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct pack_missing *m = userdata;
	char name[DRFS_OBJECT_NAME_MAX];
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	drfs_name_pack((const struct drfs_id *)key, name);
	if (!name_in(m->present, name)) {
		m->missing++;
		fail(-EBADMSG, "pack \"%s\" is listed in the index but missing",
		     name);
	}
	return 0;
}

int drfs_repo_sync(struct drfs_repo *r, bool full)
{
	struct name_list snaps, idx;
	struct drfs_txn *t;
	int e, bad = 0;

	e = list_names(r, "index/", &idx);
	if (e < 0)
		return e;
	e = sort_names(&idx);
	if (e < 0)
		goto out_idx;
	/* an index object vanished (prune rewrote the index): rebuild */
	struct seen_scan ss = { .present = &idx };
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out_idx;
	e = drfs_kv_scan(t, DRFS_DB_SEEN, NULL, 0, seen_check, &ss);
	drfs_txn_abort(t);
	if (e < 0)
		goto out_idx;
	if (ss.vanished) {
		e = drfs_index_clear(r->index);
		if (e >= 0) {
			e = drfs_txn_begin(r->index, true, &t);
			e = e ?: drfs_kv_put(t, DRFS_DB_META, "repo_id", 7,
					     r->config.repo_id, 16);
			if (e >= 0)
				e = drfs_txn_commit(t);
		}
		if (e < 0)
			goto out_idx;
	}
	e = sync_kind(r, &idx, DRFS_OBJ_INDEX);
	if (e == -EBADMSG)
		bad++;
	else if (e < 0)
		goto out_idx;

	e = drfs_history_bind(r);
	if (e < 0)
		goto out_idx;
	e = list_names(r, "snapshots/", &snaps);
	if (e < 0)
		goto out_idx;
	e = sort_names(&snaps);
	if (e < 0)
		goto out_snaps;
	e = sync_kind(r, &snaps, DRFS_OBJ_SNAPSHOT);
	if (e == -EBADMSG)
		bad++;
	else if (e < 0)
		goto out_snaps;
	e = sync_records(r);
	if (e < 0)
		goto out_snaps;
	struct snap_scan sc = { .present = &snaps };
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out_snaps;
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
		goto out_snaps;

	if (full) {
		struct name_list packs;
		int adopted = 0;
		e = list_names(r, "data/", &packs);
		if (e < 0)
			goto out_snaps;
		e = sort_names(&packs);
		for (size_t i = 0; e >= 0 && i < packs.n; i++) {
			struct drfs_id pid;
			if (drfs_name_parse(packs.names[i], "data", &pid) < 0)
				continue;
			e = drfs_txn_begin(r->index, false, &t);
			if (e < 0)
				break;
			int have = drfs_index_pack_lookup(t, &pid, NULL, NULL);
			drfs_txn_abort(t);
			if (have == -ENOENT) {
				int ae = adopt_pack(r, packs.names[i],
						    packs.sizes[i], &adopted);
				if (ae == -EBADMSG)
					bad++;
				else
					e = ae;
			}
		}
		/* every pack the index names must exist */
		struct pack_missing pm = { &packs, 0 };
		if (e >= 0) {
			e = drfs_txn_begin(r->index, false, &t);
			if (e >= 0) {
				e = drfs_kv_scan(t, DRFS_DB_PACKS, NULL, 0,
						 check_pack, &pm);
				drfs_txn_abort(t);
			}
		}
		name_list_free(&packs);
		if (e < 0)
			goto out_snaps;
		if (pm.missing)
			bad++;
	}
	e = bad ? -EBADMSG : 0;
out_snaps:
	name_list_free(&snaps);
out_idx:
	name_list_free(&idx);
	return e;
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

/* The stored bytes of a blob, through the segment cache when remote. */
static int read_stored(struct drfs_repo *r, const struct drfs_id *pack,
		       const char *name, const struct drfs_blob_loc *loc,
		       struct drfs_buf *stored)
{
	if (!r->segs || loc->stored_len >= SEG_LEN)
		return drfs_backend_get(r->be, name, loc->offset,
					loc->stored_len, stored);
	if (segcache_get(r->segs, pack, loc->offset, loc->stored_len, stored))
		return 0;
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
	e = read_stored(r, &pack, name, &loc, &stored);
	bool retried = false;
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

/* ---- snapshots ---------------------------------------------------------- */

void drfs_snapshot_folder(const struct timespec *t, char out[32])
{
	struct tm tm;
	time_t s = t->tv_sec;
	if (!gmtime_r(&s, &tm)) {
		strcpy(out, "0000-00-00/000000");
		return;
	}
	char tmp[80];
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d/%02d%02d%02d",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
	size_t l = strnlen(tmp, 31);
	memcpy(out, tmp, l);
	out[l] = 0;
}

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
	int dup = 0;
	for (size_t i = 0; i < c.n; i++) {
		drfs_snapshot_folder(&c.v[i].snap.time, c.v[i].folder);
		if (i > 0 && c.v[i].snap.time.tv_sec ==
				     c.v[i - 1].snap.time.tv_sec) {
			dup++;
			size_t l = strlen(c.v[i].folder);
			snprintf(c.v[i].folder + l, 32 - l, ".%d", dup);
		} else {
			dup = 0;
		}
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int drfs_repo_snapshot_find(struct drfs_repo *r, const char *spec,
			    struct drfs_snap_info *ret)
{
	struct drfs_snap_info *v;
	size_t n, hit = SIZE_MAX;
	int matches = 0;
	int e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		return e;
	if (strcmp(spec, "latest") == 0) {
		if (n) {
			hit = n - 1;
			matches = 1;
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
	if (matches == 0)
		return fail(-ENOENT, "no snapshot \"%s\"", spec);
	if (matches > 1)
		return fail(-EINVAL, "snapshot \"%s\" is ambiguous", spec);
	return 0;
}

int drfs_repo_snapshot_write(struct drfs_repo *r,
			     const struct drfs_snapshot *s,
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

int drfs_repo_repair_index(struct drfs_repo *r)
{
	/* Forget everything the index objects said and re-read every pack's
	 * trailer (sync with full=true adopts every pack the cache lacks);
	 * the writer of the caller then records them in a new index object. */
	int e = drfs_index_clear(r->index);
	if (e < 0)
		return e;
	struct drfs_txn *t;
	e = drfs_txn_begin(r->index, true, &t);
	e = e ?: drfs_kv_put(t, DRFS_DB_META, "repo_id", 7, r->config.repo_id,
			     16);
	if (e >= 0)
		e = drfs_txn_commit(t);
	if (e < 0)
		return e;
	return drfs_repo_sync(r, true);
}

struct full_entry {
	uint32_t seq;
	struct drfs_pack_entry e;
};

struct full_collect {
	struct full_entry *v;
	size_t n, cap;
};

static int full_blob(const void *key, size_t klen, const void *val,
		     size_t vlen, void *userdata)
{
	struct full_collect *fc = userdata;
	const uint8_t *p = val;
	if (klen != DRFS_ID_LEN || vlen != 18)
		return 0;
	if (fc->n == fc->cap) {
		size_t cap = fc->cap ? 2 * fc->cap : 1024;
		void *n = realloc(fc->v, cap * sizeof(*fc->v));
		if (!n)
			return -ENOMEM;
		fc->v = n;
		fc->cap = cap;
	}
	struct full_entry *f = &fc->v[fc->n++];
	f->seq = drfs_get_le32(p);
	memcpy(f->e.id.b, key, DRFS_ID_LEN);
	f->e.offset = drfs_get_le32(p + 4);
	f->e.stored_len = drfs_get_le32(p + 8);
	f->e.raw_len = drfs_get_le32(p + 12);
	f->e.type = p[16];
	f->e.flags = p[17];
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
		e = drfs_kv_scan(t, DRFS_DB_BLOBS, NULL, 0, full_blob, &fc);
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
		drfs_txn_abort(t);
		if (e < 0)
			break;
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
