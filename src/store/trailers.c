/* SPDX-License-Identifier: MIT */
/*
 * trailers.c - packs the index objects fall short of: read from their own
 * trailers, looked for on the replica, reported missing. repoint.h has what
 * the rooms of the repository share.
 */
#include "repoint.h"

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
		repo_damage(r,
			    "pack \"%s\" is damaged (its trailer does not "
			    "read): its blobs are not indexed",
			    name);
		return 0;
	}
	if (e < 0)
		return repo_fail(e, "pack \"%s\": cannot read its trailer: %s",
				 name, drfs_strerror(e));
	struct drfs_txn *t;
	e = drfs_txn_begin(r->index, true, &t);
	e = e ?: repo_index_pack(t, &pack, (uint32_t)size, es, NULL, n);
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
		return repo_fail(e, "cannot look for \"%s\": %s", name,
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
		if (repo_name_in(packs, name))
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
int repo_cross_check(struct drfs_repo *r, const struct name_list *packs,
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
			repo_warn(
				r,
				"pack \"%s\" is in no index object any "
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
		repo_damage(r,
			    "pack \"%s\" is listed in the index but missing: "
			    "dropped from the index",
			    name);
	}
	for (size_t i = 0; e >= 0 && i < missing.cap; i++) {
		if (drfs_id_is_zero(&missing.v[i]))
			continue;
		drfs_name_pack(&missing.v[i], name);
		repo_damage(r,
			    "pack \"%s\" is listed in the index but missing: "
			    "the files that use it cannot be read (\"drfs "
			    "check\" names them; \"drfs repair snapshots\" "
			    "drops them)",
			    name);
	}
	drfs_idset_free(&dropped);
	drfs_idset_free(&missing);
	return e;
}

int drfs_repo_missing_packs(struct drfs_repo *r, struct drfs_idset *ret)
{
	struct name_list packs;
	int e = repo_list_names(r, "data/", &packs);
	if (e < 0)
		return e;
	e = unlisted_packs(r, &packs, NULL, false, ret);
	repo_name_list_free(&packs);
	return e;
}
