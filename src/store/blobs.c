/* SPDX-License-Identifier: MIT */
/*
 * blobs.c - verified blob reads, with a cache of recently read pack
 * segments. repoint.h has what the rooms of the repository share.
 */
#include "repoint.h"

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

struct drfs_segcache *repo_segcache_new(void)
{
	struct drfs_segcache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < SEG_COUNT; i++)
		drfs_buf_init(&c->s[i].data, SEG_LEN);
	return c;
}

void repo_segcache_free(struct drfs_segcache *c)
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

/* Read, decrypt, decompress and verify the copy of blob id at loc. */
int repo_blob_read_at(struct drfs_repo *r, const struct drfs_id *id,
		      const struct drfs_blob_loc *lp,
		      const struct drfs_id *pp, struct drfs_buf *out)
{
	const struct drfs_blob_loc loc = *lp;
	const struct drfs_id pack = *pp;
	struct drfs_buf stored;
	char name[DRFS_OBJECT_NAME_MAX];
	int e;
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


int drfs_repo_blob_read(struct drfs_repo *r, const struct drfs_id *id,
			struct drfs_buf *out)
{
	struct drfs_blob_loc loc;
	struct drfs_id pack;
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
	e = repo_blob_read_at(r, id, &loc, &pack, out);
	/* corrupted everywhere this copy is: another copy (docs/
	 * verification.md), which is then read first */
	if (e == -EBADMSG || e == -ENOENT) {
		int ae = repo_blob_read_alt(r, id, &loc, out);
		if (ae >= 0)
			return ae;
	}
	return e;
}

int drfs_repo_blob_reader(void *repo, const struct drfs_id *id,
			  struct drfs_buf *out)
{
	return drfs_repo_blob_read(repo, id, out);
}
