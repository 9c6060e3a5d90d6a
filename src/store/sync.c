/* SPDX-License-Identifier: MIT */
/*
 * sync.c - the sync of the cache from the repository: the parallel fetch of
 * objects, index/, snapshots/ and forgotten/ loaded, damage skipped and
 * reported (docs/damage.md). repoint.h has what the rooms of the repository
 * share.
 */
#include "repoint.h"

/* ---- parallel fetch ----------------------------------------------------- */


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
void repo_fetch_all(struct drfs_repo *repo, struct fetch_job *jobs, size_t n,
		    enum drfs_obj_kind kind)
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


int repo_collect_name(const char *name, uint64_t size, void *userdata)
{
	struct name_list *l = userdata;
	if (strlen(name) >= DRFS_OBJECT_NAME_MAX)
		return 0;
	/* two arrays, one room: sizes follows names */
	size_t cap = l->cap, scap = l->cap;
	if (drfs_grow(&l->names, &cap, l->n, sizeof(*l->names), 256) < 0 ||
	    drfs_grow(&l->sizes, &scap, l->n, sizeof(*l->sizes), 256) < 0)
		return -ENOMEM;
	l->cap = cap;
	strcpy(l->names[l->n], name);
	l->sizes[l->n++] = size;
	return 0;
}

void repo_name_list_free(struct name_list *l)
{
	free(l->names);
	free(l->sizes);
	memset(l, 0, sizeof(*l));
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

int repo_sort_names(struct name_list *l)
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
int repo_list_names(struct drfs_repo *r, const char *prefix,
		    struct name_list *l)
{
	memset(l, 0, sizeof(*l));
	int e = drfs_backend_list(r->be, prefix, repo_collect_name, l);
	e = e ?: repo_sort_names(l);
	if (e < 0) {
		repo_name_list_free(l);
		return repo_fail(e, "cannot list \"%s\" in \"%s\": %s", prefix,
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

bool repo_name_in(const struct name_list *l, const char *name)
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
void repo_damage(struct drfs_repo *r, const char *fmt, ...)
{
	va_list ap;
	r->damaged++;
	va_start(ap, fmt);
	vreport(r, fmt, ap);
	va_end(ap);
}

/* Report something that may be damage, or not (not counted). */
void repo_warn(struct drfs_repo *r, const char *fmt, ...)
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
int repo_scan_db(struct drfs_repo *r, enum drfs_db db, drfs_kv_cb cb,
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

/*
 * The records of one (verified) index payload into the cache; the packs
 * it names into named (or NULL). With listed (repair): only records of
 * packs listed there with the same size; the others are added to skipped,
 * to be read from their trailers.
 */
int repo_apply_index_object(struct drfs_txn *t, const void *p, size_t len,
			    const struct name_list *listed,
			    struct drfs_idset *skipped,
			    struct drfs_idset *named)
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
		e = repo_index_pack(t, &pack, plen, NULL, raw, n);
		if (e >= 0 && named && drfs_idset_add(named, &pack) < 0)
			e = -ENOMEM;
	}
	return e;
}

struct seen_scan {
	const struct name_list *present;
	struct name_list *gone; /* NULL: stop at the first */
	bool any;
};

static int seen_gone_cb(const void *key, size_t klen, const void *val,
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
	if (repo_name_in(s->present, name))
		return 0;
	s->any = true;
	/* collected: deleting while scanning is not allowed */
	return s->gone ? repo_collect_name(name, 0, s->gone) : 1;
}

/*
 * The index objects the cache loaded (SEEN) that present (sorted) lacks:
 * each collected into gone, or with gone NULL only whether there is one.
 * Returns 1 if one vanished, 0 if none, or a negative errno.
 */
int repo_seen_vanished(struct drfs_txn *t, const struct name_list *present,
		       struct name_list *gone)
{
	struct seen_scan s = { .present = present, .gone = gone };
	int e = drfs_kv_scan(t, DRFS_DB_SEEN, NULL, 0, seen_gone_cb, &s);
	return e < 0 ? e : s.any;
}

/*
 * Load the objects of l (index/ or snapshots/, sorted) not loaded yet
 * (SEEN for index/, SNAPS for snapshots/). A corrupted one is reported
 * and skipped; one deleted since the listing is skipped. Returns how many
 * index objects were skipped (their packs must be found from the packs
 * themselves), or a negative errno. listed, skipped: see
 * repo_apply_index_object. With named (index/ only): every index object is
 * loaded again, collecting the packs they name.
 */
static int sync_kind(struct drfs_repo *r, struct name_list *l,
		     enum drfs_obj_kind kind, const struct name_list *listed,
		     struct drfs_idset *skipped, struct drfs_idset *named)
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
		repo_fetch_all(r, jobs, nj, kind);
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
					repo_damage(r,
						    "index object \"%s\" is "
						    "corrupted: skipped; the "
						    "packs it lists are read "
						    "from their own trailers "
						    "(\"drfs repair index\" "
						    "rewrites the index)",
						    fj->name);
				else
					repo_damage(r,
						    "snapshot object \"%s\" is "
						    "corrupted: skipped",
						    fj->name);
				continue;
			}
			if (fj->err < 0) {
				e = repo_fail(fj->err, "cannot read \"%s\": %s",
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
				e = repo_apply_index_object(
					t, fj->data.p, fj->data.len, listed,
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
	e = repo_list_names(r, prefix, &l);
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
		repo_fetch_all(r, jobs, nj, kind);
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
	repo_name_list_free(&l);
	return e;
}

struct ids_scan {
	const struct name_list *present;
	void (*name)(const struct drfs_id *id, char *out);
	struct id_list *gone;
};

static int id_gone_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct ids_scan *s = userdata;
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_id id;
	(void)val;
	(void)vlen;
	if (klen != DRFS_ID_LEN)
		return 0;
	memcpy(id.b, key, DRFS_ID_LEN);
	s->name(&id, name);
	if (repo_name_in(s->present, name))
		return 0;
	return repo_id_list_add(s->gone, &id);
}

/*
 * The ids that key db whose objects (named by name) present (sorted)
 * lacks: added to gone, in key order.
 */
int repo_ids_vanished(struct drfs_txn *t, enum drfs_db db,
		      void (*name)(const struct drfs_id *id, char *out),
		      const struct name_list *present, struct id_list *gone)
{
	struct ids_scan s = { .present = present, .name = name, .gone = gone };
	return drfs_kv_scan(t, db, NULL, 0, id_gone_cb, &s);
}

static bool snap_listed(void *ud, const struct drfs_id *id)
{
	char name[DRFS_OBJECT_NAME_MAX];
	drfs_name_snapshot(id, name);
	return repo_name_in(ud, name);
}

static bool record_listed(void *ud, const char *name)
{
	return repo_name_in(ud, name);
}

/*
 * Forget records, listed after snapshots/: a snapshot deleted before our
 * listing of snapshots/ had its record written before that, so the record
 * is in our listing of forgotten/.
 */
static int sync_records(struct drfs_repo *r)
{
	struct name_list recs;
	int e = repo_list_names(r, "forgotten/", &recs);
	if (e < 0)
		return e;
	e = sync_kind(r, &recs, DRFS_OBJ_FORGET, NULL, NULL, NULL);
	e = e ?: drfs_history_drop_refused(r, record_listed, &recs);
	repo_name_list_free(&recs);
	return e;
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
	struct drfs_idset skipped = { 0 }, none = { 0 }, named = { 0 };
	struct drfs_txn *t;
	int e, n_skipped;
	bool vanished = false;

	r->damaged = 0;
	if (repair) {
		e = reset_cache(r);
		e = e ?: repo_list_names(r, "data/", &packs);
		if (e < 0)
			return e;
	}
	e = repo_list_names(r, "index/", &idx);
	if (e < 0)
		goto out;
	/*
	 * An index object vanished (prune rewrote the index, or one was
	 * lost): load every index object again on top of what the cache
	 * has, then drop the packs none of them names (below). Never an
	 * empty cache in between: a mount reads from it all the while.
	 */
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = repo_seen_vanished(t, &idx, NULL);
	drfs_txn_abort(t);
	if (e > 0) {
		vanished = true;
		e = 0;
	}
	/* deletion records first: their packs never displace others */
	e = e ?: repo_sync_deletions(r);
	if (e < 0)
		goto out;
	n_skipped = sync_kind(r, &idx, DRFS_OBJ_INDEX, repair ? &packs : NULL,
			      &skipped, vanished ? &named : NULL);
	if (n_skipped < 0) {
		e = n_skipped;
		goto out;
	}

	e = drfs_history_bind(r);
	if (e < 0)
		goto out;
	e = repo_list_names(r, "snapshots/", &snaps);
	e = e ?: sync_kind(r, &snaps, DRFS_OBJ_SNAPSHOT, NULL, NULL, NULL);
	if (e < 0)
		goto out;
	e = sync_records(r);
	if (e < 0)
		goto out;
	struct id_list gone = { 0 };
	e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		goto out;
	e = repo_ids_vanished(t, DRFS_DB_SNAPS, drfs_name_snapshot, &snaps,
			      &gone);
	drfs_txn_abort(t);
	if (e >= 0 && gone.n) {
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < gone.n; i++)
			drfs_kv_del(t, DRFS_DB_SNAPS, gone.v[i].b,
				    DRFS_ID_LEN);
		if (e >= 0)
			e = drfs_txn_commit(t);
	}
	free(gone.v);
	e = e ?: drfs_history_settle(r, snap_listed, &snaps);
	if (e < 0)
		goto out;

	/* the packs themselves: only where the index objects fall short */
	bool all = full || repair || n_skipped;
	if (all || vanished) {
		if (!repair)
			e = repo_list_names(r, "data/", &packs);
		if (e >= 0 && vanished)
			e = repo_drop_unnamed(r, &idx, &named, &packs);
		e = e
			    ?: repo_cross_check(r, &packs, all ? NULL : &none,
						&skipped);
	}
out:
	drfs_idset_free(&skipped);
	drfs_idset_free(&named);
	repo_name_list_free(&packs);
	repo_name_list_free(&snaps);
	repo_name_list_free(&idx);
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
