/* SPDX-License-Identifier: MIT */
/*
 * catalogue.c - the snapshot catalogue: listing, folder names and their
 * create-only claims, finding by folder, id or latest, writing snapshot
 * objects. repoint.h has what the rooms of the repository share.
 */
#include "repoint.h"

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
	if (drfs_grow(&c->v, &c->cap, c->n, sizeof(*c->v), 16) < 0)
		return -ENOMEM;
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
			snprintf(si->folder, sizeof(si->folder), "%.*s~%.8s",
				 (int)DRFS_FOLDER_NAME_MAX, si->snap.name,
				 drfs_id_hex(&si->id, hex));
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
		return repo_fail(-ENOENT, "no snapshot%s", what);
	}
	if (matches == 0)
		return repo_fail(-ENOENT, "no snapshot \"%s\"", spec);
	if (matches > 1)
		return repo_fail(-EINVAL, "snapshot \"%s\" is ambiguous", spec);
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
		e = repo_fail(
			e, "cannot claim the folder name %s (\"%s\"): %s%s%s",
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
		return repo_fail(-ERANGE,
				 "snapshot time %s is outside the years "
				 "0000..9999",
				 base);
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
	return repo_fail(-EEXIST, "no free folder name in the second %s", base);
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
	drfs_test_crash_point("claimed");
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
		e = repo_fail(e, "cannot write snapshot \"%s\": %s%s%s", name,
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
