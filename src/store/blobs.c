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
 * Pack segments read from a remote backend (docs/mount.md, "Reading from
 * S3"). A pack is read in aligned segments, [k * SEG_LEN, (k + 1) *
 * SEG_LEN) clamped to the pack's length: a blob read that misses fetches
 * the one or two segments its stored bytes lie in (its neighbours were
 * written next to it, and restores, drills and the copies out of the mount
 * want them next), so that a copy costs about one request per SEG_LEN of
 * pack instead of one per blob. Aligned, so that readers of neighbouring
 * blobs ask for the same segment, and fetched once: a reader of a segment
 * in flight waits for that GET instead of sending its own (the unaligned
 * 4 MiB reads this replaced fetched 3.2x the pack bytes of a cp -a out of
 * the mount, docs/benchmarks.md). A read in the second half of a segment
 * queues the pack's next segment for the read-ahead thread, so that a
 * sequential reader finds it fetched, or in flight, when it gets there.
 *
 * Bounded: SEG_COUNT segments, ready or in flight (SEG_COUNT * SEG_LEN
 * bytes), one read-ahead thread (started at the first request) with at
 * most SEG_AHEAD_QUEUE requests waiting; when every slot is in flight a
 * read goes straight to the backend. A segment only saves requests: the
 * caller verifies the bytes it takes exactly as those of a direct read.
 */
#define SEG_LEN (4u << 20)
#define SEG_COUNT 6
#define SEG_AHEAD_QUEUE 4

enum seg_state { SEG_FREE, SEG_LOADING, SEG_READY };

struct seg {
	struct drfs_id pack;
	uint64_t off;         /* a multiple of SEG_LEN */
	uint32_t pack_len;    /* the pack's length, 0 unknown */
	enum seg_state state;
	bool ahead;           /* fetched by the read-ahead, not read yet */
	struct drfs_buf data; /* SEG_READY: [off, off + data.len) of pack */
	uint64_t used;        /* LRU clock */
};

struct seg_req {
	struct drfs_id pack;
	uint64_t off;
	uint32_t pack_len;
};

struct drfs_segcache {
	struct drfs_backend *be;
	pthread_mutex_t lock;   /* protects everything below */
	pthread_cond_t done;    /* a segment left SEG_LOADING */
	pthread_cond_t work;    /* a read-ahead request, or stop */
	struct seg s[SEG_COUNT];
	uint64_t clock;
	struct seg_req q[SEG_AHEAD_QUEUE];
	size_t q_n;
	bool stop;
	bool started;           /* thread runs */
	pthread_t thread;
	struct drfs_repo_read_stats st;
};

struct drfs_segcache *repo_segcache_new(struct drfs_backend *be)
{
	struct drfs_segcache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->be = be;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->done, NULL);
	pthread_cond_init(&c->work, NULL);
	for (int i = 0; i < SEG_COUNT; i++)
		drfs_buf_init(&c->s[i].data, SEG_LEN);
	return c;
}

void repo_segcache_free(struct drfs_segcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	if (c->started)
		pthread_join(c->thread, NULL);
	for (int i = 0; i < SEG_COUNT; i++)
		drfs_buf_release(&c->s[i].data);
	pthread_cond_destroy(&c->done);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void drfs_repo_read_stats(struct drfs_repo *r,
			  struct drfs_repo_read_stats *ret)
{
	*ret = (struct drfs_repo_read_stats){ 0 };
	if (!r->segs)
		return;
	pthread_mutex_lock(&r->segs->lock);
	*ret = r->segs->st;
	pthread_mutex_unlock(&r->segs->lock);
}

/* The segment off of pack, ready or in flight; NULL: none. Lock held. */
static struct seg *seg_find(struct drfs_segcache *c, const struct drfs_id *pack,
			    uint64_t off)
{
	for (int i = 0; i < SEG_COUNT; i++) {
		struct seg *g = &c->s[i];
		if (g->state != SEG_FREE && g->off == off &&
		    drfs_id_eq(&g->pack, pack))
			return g;
	}
	return NULL;
}

/*
 * Claim a slot for segment off of pack, SEG_LOADING: a free one, else the
 * least recently used ready one; NULL when every slot is in flight. Lock
 * held.
 */
static struct seg *seg_claim(struct drfs_segcache *c,
			     const struct drfs_id *pack, uint64_t off,
			     uint32_t pack_len)
{
	struct seg *victim = NULL;
	for (int i = 0; i < SEG_COUNT; i++) {
		struct seg *g = &c->s[i];
		if (g->state == SEG_LOADING)
			continue;
		if (!victim || g->state == SEG_FREE ||
		    (victim->state == SEG_READY && g->used < victim->used))
			victim = g;
		if (g->state == SEG_FREE)
			break;
	}
	if (!victim)
		return NULL;
	drfs_buf_release(&victim->data);
	victim->pack = *pack;
	victim->off = off;
	victim->pack_len = pack_len;
	victim->state = SEG_LOADING;
	victim->ahead = false;
	return victim;
}

/*
 * GET the segment of claimed slot g, lock not held; then, lock held again,
 * make it ready (or free it on an error) and wake its waiters.
 */
static int seg_fetch(struct drfs_segcache *c, struct seg *g)
{
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_buf b;
	uint64_t len = SEG_LEN;
	int e;

	drfs_name_pack(&g->pack, name);
	if (g->pack_len)
		len = MIN(len, (uint64_t)g->pack_len - g->off);
	pthread_mutex_unlock(&c->lock);
	drfs_buf_init(&b, SEG_LEN);
	e = drfs_backend_get(c->be, name, g->off, len, &b);
	pthread_mutex_lock(&c->lock);
	c->st.gets++;
	if (e < 0) {
		drfs_buf_release(&b);
		g->state = SEG_FREE;
	} else {
		c->st.bytes += b.len;
		g->data = b;
		g->state = SEG_READY;
		g->used = ++c->clock;
	}
	pthread_cond_broadcast(&c->done);
	return e;
}

static void *ahead_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-ahead");
	drfs_thread_unpin();
	struct drfs_segcache *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stop && c->q_n == 0)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->stop)
			break;
		struct seg_req q = c->q[0];
		memmove(&c->q[0], &c->q[1], --c->q_n * sizeof(c->q[0]));
		if (seg_find(c, &q.pack, q.off))
			continue;
		struct seg *g = seg_claim(c, &q.pack, q.off, q.pack_len);
		if (!g)
			continue;
		g->ahead = true;
		c->st.ahead++;
		/* errors are met again by the reader that wants the bytes */
		if (seg_fetch(c, g) < 0)
			c->st.ahead_failed++;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Queue segment off of pack for the read-ahead thread. Lock held. */
static void seg_ahead(struct drfs_segcache *c, const struct drfs_id *pack,
		      uint64_t off, uint32_t pack_len)
{
	if (c->stop || c->q_n == SEG_AHEAD_QUEUE || seg_find(c, pack, off))
		return;
	for (size_t i = 0; i < c->q_n; i++)
		if (c->q[i].off == off && drfs_id_eq(&c->q[i].pack, pack))
			return;
	if (!c->started) {
		if (pthread_create(&c->thread, NULL, ahead_main, c))
			return; /* no read-ahead; reads still work */
		c->started = true;
	}
	c->q[c->q_n++] = (struct seg_req){ *pack, off, pack_len };
	pthread_cond_signal(&c->work);
}

/*
 * Append [from, from + n) of pack, which lies in segment off, to out.
 * 1 done; 0 not through the cache (every slot in flight, or the segment
 * ends before from + n: a pack shorter than the index says); < 0 the
 * segment's GET failed.
 */
static int seg_read(struct drfs_repo *r, const struct drfs_id *pack,
		    uint32_t pack_seq, uint64_t off, uint64_t from,
		    uint64_t n, struct drfs_buf *out)
{
	struct drfs_segcache *c = r->segs;
	uint32_t pack_len = 0;
	bool looked = false, waited = false;
	int e = 1;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct seg *g = seg_find(c, pack, off);
		if (g && g->state == SEG_LOADING) {
			if (!waited)
				c->st.waits++;
			waited = true;
			pthread_cond_wait(&c->done, &c->lock);
			continue;
		}
		if (g) {
			g->used = ++c->clock;
			if (g->ahead) {
				g->ahead = false;
				c->st.ahead_used++;
			}
			if (from + n > g->off + g->data.len)
				e = 0;
			else if (drfs_buf_append(out, g->data.p + (from - off),
						 (size_t)n) < 0)
				e = -ENOMEM;
			/* past its middle: the next one, before it is asked */
			if (e > 0 && g->pack_len &&
			    from + n > off + SEG_LEN / 2 &&
			    off + SEG_LEN < g->pack_len)
				seg_ahead(c, pack, off + SEG_LEN, g->pack_len);
			break;
		}
		if (!looked) {
			/* the index's word for where the pack ends (a wrong
			 * one makes a segment short: read directly then) */
			looked = true;
			pthread_mutex_unlock(&c->lock);
			struct drfs_txn *t;
			struct drfs_id seq_pack;
			if (drfs_txn_begin(r->index, false, &t) >= 0) {
				if (drfs_index_pack_by_seq(t, pack_seq,
							   &seq_pack,
							   &pack_len) < 0 ||
				    !drfs_id_eq(&seq_pack, pack))
					pack_len = 0;
				drfs_txn_abort(t);
			}
			if (pack_len && off >= pack_len)
				pack_len = 0;
			pthread_mutex_lock(&c->lock);
			continue;
		}
		g = seg_claim(c, pack, off, pack_len);
		if (!g) {
			c->st.direct++;
			e = 0;
			break;
		}
		e = seg_fetch(c, g);
		if (e < 0)
			break;
		e = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

/* Forget the segments of pack (they held corrupted bytes). */
static void segcache_drop(struct drfs_segcache *c, const struct drfs_id *pack)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < SEG_COUNT; i++) {
		struct seg *g = &c->s[i];
		if (g->state == SEG_READY && drfs_id_eq(&g->pack, pack)) {
			drfs_buf_release(&g->data);
			g->state = SEG_FREE;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * The stored bytes of a blob, through the segments when remote;
 * *ret_cached: they came through the segments, not from a get of their
 * own.
 */
static int read_stored(struct drfs_repo *r, const struct drfs_id *pack,
		       const char *name, const struct drfs_blob_loc *loc,
		       struct drfs_buf *stored, bool *ret_cached)
{
	uint64_t at = loc->offset, end = at + loc->stored_len;
	size_t l0 = stored->len;
	int e = 1;

	*ret_cached = false;
	if (r->segs && loc->stored_len < SEG_LEN) {
		while (at < end && e > 0) {
			uint64_t off = at / SEG_LEN * SEG_LEN;
			uint64_t n = MIN(end, off + SEG_LEN) - at;
			e = seg_read(r, pack, loc->pack_seq, off, at, n,
				     stored);
			at += n;
		}
		if (e < 0)
			return e;
		if (e > 0) {
			*ret_cached = true;
			return 0;
		}
		stored->len = l0;
	}
	return drfs_backend_get(r->be, name, loc->offset, loc->stored_len,
				stored);
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
