/* SPDX-License-Identifier: MIT */
/*
 * test_index.c - the LMDB index: open in a temp dir, blob put/get, pack add
 * (idempotent) and lookup by sequence number, kv_scan order and early stop,
 * clear, persistence across reopen, and 4 reader threads that must always
 * see a consistent snapshot while one writer commits.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "drfs/index.h"

#include "test.h"

static char dir[256];

static void rm_dir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void mkid(struct drfs_id *id, uint32_t n)
{
	memset(id->b, 0, sizeof(id->b));
	drfs_put_le32(id->b, n);
	id->b[31] = 0xee;
}

static void test_blobs_packs(struct drfs_index *idx)
{
	struct drfs_txn *t;
	struct drfs_id id, pack, got;
	struct drfs_blob_loc loc, l2;
	uint32_t seq, seq2, len;

	CHECK_EQ(drfs_txn_begin(idx, true, &t), 0);
	mkid(&id, 1);
	CHECK_EQ(drfs_index_blob_get(t, &id, &loc), -ENOENT);
	loc = (struct drfs_blob_loc){ .pack_seq = 7, .offset = 0xfffffff0u,
				      .stored_len = 123, .raw_len = 99,
				      .type = 1, .flags = 1 };
	CHECK_EQ(drfs_index_blob_put(t, &id, &loc), 0);
	memset(&l2, 0, sizeof(l2));
	CHECK_EQ(drfs_index_blob_get(t, &id, &l2), 0);
	CHECK(l2.pack_seq == 7 && l2.offset == 0xfffffff0u &&
	      l2.stored_len == 123 && l2.raw_len == 99 && l2.type == 1 &&
	      l2.flags == 1);

	mkid(&pack, 100);
	CHECK_EQ(drfs_index_pack_lookup(t, &pack, &seq, &len), -ENOENT);
	CHECK_EQ(drfs_index_pack_add(t, &pack, 5000, 3, &seq), 0);
	CHECK_EQ(drfs_index_pack_add(t, &pack, 5000, 3, &seq2), 0);
	CHECK_EQ(seq, seq2); /* idempotent */
	mkid(&pack, 101);
	CHECK_EQ(drfs_index_pack_add(t, &pack, 6000, 1, &seq2), 0);
	CHECK_EQ(seq2, seq + 1);
	CHECK_EQ(drfs_index_pack_by_seq(t, seq2, &got, &len), 0);
	CHECK(drfs_id_eq(&got, &pack) && len == 6000);
	CHECK_EQ(drfs_index_pack_by_seq(t, seq, &got, &len), 0);
	mkid(&pack, 100);
	CHECK(drfs_id_eq(&got, &pack) && len == 5000);
	CHECK_EQ(drfs_index_pack_lookup(t, &pack, &seq2, &len), 0);
	CHECK(seq2 == seq && len == 5000);
	CHECK_EQ(drfs_index_pack_by_seq(t, 9999, &got, &len), -ENOENT);
	CHECK_EQ(drfs_txn_commit(t), 0);

	/* an aborted write leaves nothing */
	CHECK_EQ(drfs_txn_begin(idx, true, &t), 0);
	mkid(&id, 2);
	CHECK_EQ(drfs_index_blob_put(t, &id, &loc), 0);
	drfs_txn_abort(t);
	drfs_txn_abort(NULL);
	CHECK_EQ(drfs_txn_begin(idx, false, &t), 0);
	CHECK_EQ(drfs_index_blob_get(t, &id, &loc), -ENOENT);
	mkid(&id, 1);
	CHECK_EQ(drfs_index_blob_get(t, &id, &loc), 0);
	drfs_txn_abort(t);
}

struct scan_state {
	int n;
	int stop_at;
	char keys[16][8];
};

static int scan_cb(const void *key, size_t klen, const void *val,
		   size_t vlen, void *userdata)
{
	struct scan_state *s = userdata;
	if (s->n < 16 && klen < 8) {
		memcpy(s->keys[s->n], key, klen);
		s->keys[s->n][klen] = 0;
	}
	CHECK(vlen == klen && memcmp(key, val, klen) == 0);
	s->n++;
	if (s->stop_at && s->n == s->stop_at)
		return 1;
	return 0;
}

static int scan_fail(const void *key, size_t klen, const void *val,
		     size_t vlen, void *userdata)
{
	(void)key, (void)klen, (void)val, (void)vlen, (void)userdata;
	return -EINTR;
}

static void test_kv(struct drfs_index *idx)
{
	struct drfs_txn *t;
	static const char *const keys[] = { "b", "a", "ab", "c", "\x01",
					    "ba", "\xff" };
	struct drfs_buf b;
	uint64_t n;

	CHECK_EQ(drfs_txn_begin(idx, true, &t), 0);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		CHECK_EQ(drfs_kv_put(t, DRFS_DB_AUX1, keys[i], strlen(keys[i]),
				     keys[i], strlen(keys[i])), 0);
	CHECK_EQ(drfs_txn_commit(t), 0);

	CHECK_EQ(drfs_txn_begin(idx, false, &t), 0);
	CHECK_EQ(drfs_kv_count(t, DRFS_DB_AUX1, &n), 0);
	CHECK_EQ(n, 7);
	struct scan_state s = { 0 };
	CHECK_EQ(drfs_kv_scan(t, DRFS_DB_AUX1, NULL, 0, scan_cb, &s), 0);
	CHECK_EQ(s.n, 7);
	static const char *const sorted[] = { "\x01", "a", "ab", "b", "ba",
					      "c", "\xff" };
	for (int i = 0; i < 7; i++)
		CHECK(strcmp(s.keys[i], sorted[i]) == 0);
	/* from a start key (not present: the next one) */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(drfs_kv_scan(t, DRFS_DB_AUX1, "aa", 2, scan_cb, &s), 0);
	CHECK_EQ(s.n, 5);
	CHECK(strcmp(s.keys[0], "ab") == 0);
	/* early stop with success */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	CHECK_EQ(drfs_kv_scan(t, DRFS_DB_AUX1, "b", 1, scan_cb, &s), 0);
	CHECK_EQ(s.n, 2);
	CHECK(strcmp(s.keys[1], "ba") == 0);
	/* error from the callback */
	CHECK_EQ(drfs_kv_scan(t, DRFS_DB_AUX1, NULL, 0, scan_fail, NULL),
		 -EINTR);
	/* past the end, empty db */
	memset(&s, 0, sizeof(s));
	CHECK_EQ(drfs_kv_scan(t, DRFS_DB_AUX1, "\xff\xff", 2, scan_cb, &s),
		 0);
	CHECK_EQ(s.n, 0);
	CHECK_EQ(drfs_kv_scan(t, DRFS_DB_AUX2, NULL, 0, scan_cb, &s), 0);
	CHECK_EQ(s.n, 0);

	/* get / get_fixed */
	drfs_buf_init(&b, 16);
	CHECK_EQ(drfs_kv_get(t, DRFS_DB_AUX1, "ab", 2, &b), 0);
	CHECK(b.len == 2 && memcmp(b.p, "ab", 2) == 0);
	CHECK_EQ(drfs_kv_get(t, DRFS_DB_AUX1, "zz", 2, &b), -ENOENT);
	char small[1];
	CHECK_EQ(drfs_kv_get_fixed(t, DRFS_DB_AUX1, "ab", 2, small, 1),
		 -E2BIG);
	char big[8];
	CHECK_EQ(drfs_kv_get_fixed(t, DRFS_DB_AUX1, "ab", 2, big, 8), 2);
	drfs_buf_release(&b);
	drfs_txn_abort(t);

	CHECK_EQ(drfs_txn_begin(idx, true, &t), 0);
	CHECK_EQ(drfs_kv_del(t, DRFS_DB_AUX1, "ab", 2), 0);
	CHECK_EQ(drfs_kv_del(t, DRFS_DB_AUX1, "ab", 2), -ENOENT);
	CHECK_EQ(drfs_kv_count(t, DRFS_DB_AUX1, &n), 0);
	CHECK_EQ(n, 6);
	CHECK_EQ(drfs_kv_put(t, DRFS_DB_SNAPS, "s", 1, "v", 1), 0);
	CHECK_EQ(drfs_kv_put(t, DRFS_DB_META, "m", 1, "v", 1), 0);
	CHECK_EQ(drfs_txn_commit(t), 0);
}

/* drfs_kv_append: in-order keys appended, anything else an ordinary put */
static void test_append(struct drfs_index *idx)
{
	struct drfs_txn *t;
	uint8_t k[4], v[4];
	uint64_t n;

	CHECK_EQ(drfs_txn_begin(idx, true, &t), 0);
	for (uint32_t i = 0; i < 5000; i += 2) { /* even keys, in order */
		drfs_put_le32(v, i);
		k[0] = (uint8_t)(i >> 24), k[1] = (uint8_t)(i >> 16);
		k[2] = (uint8_t)(i >> 8), k[3] = (uint8_t)i;
		CHECK_EQ(drfs_kv_append(t, DRFS_DB_FS_ORDER, k, 4, v, 4), 0);
	}
	/* before the last key (odd, in the middle), then an overwrite */
	uint32_t mid[] = { 1, 2499, 4997, 2500 };
	for (size_t i = 0; i < ARRAY_SIZE(mid); i++) {
		drfs_put_le32(v, mid[i] + 1000000);
		k[0] = (uint8_t)(mid[i] >> 24), k[1] = (uint8_t)(mid[i] >> 16);
		k[2] = (uint8_t)(mid[i] >> 8), k[3] = (uint8_t)mid[i];
		CHECK_EQ(drfs_kv_append(t, DRFS_DB_FS_ORDER, k, 4, v, 4), 0);
	}
	CHECK_EQ(drfs_txn_commit(t), 0);

	CHECK_EQ(drfs_txn_begin(idx, false, &t), 0);
	CHECK_EQ(drfs_kv_count(t, DRFS_DB_FS_ORDER, &n), 0);
	CHECK_EQ(n, 2500 + 3);
	static const uint32_t want[][2] = {
		{ 0, 0 }, { 1, 1000001 }, { 2, 2 }, { 2499, 1002499 },
		{ 2500, 1002500 }, { 4997, 1004997 }, { 4998, 4998 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		uint32_t key = want[i][0];
		k[0] = (uint8_t)(key >> 24), k[1] = (uint8_t)(key >> 16);
		k[2] = (uint8_t)(key >> 8), k[3] = (uint8_t)key;
		CHECK_EQ(drfs_kv_get_fixed(t, DRFS_DB_FS_ORDER, k, 4, v, 4), 4);
		CHECK_EQ(drfs_get_le32(v), want[i][1]);
	}
	drfs_txn_abort(t);
}

static void test_clear_reopen(struct drfs_index **idxp)
{
	struct drfs_txn *t;
	struct drfs_id id, pack;
	struct drfs_blob_loc loc;
	uint64_t n;
	uint32_t seq;

	/* reopen: everything persisted */
	drfs_index_free(*idxp);
	CHECK_EQ(drfs_index_open(dir, idxp), 0);
	struct drfs_index *idx = *idxp;
	CHECK_EQ(drfs_txn_begin(idx, false, &t), 0);
	mkid(&id, 1);
	CHECK_EQ(drfs_index_blob_get(t, &id, &loc), 0);
	CHECK_EQ(loc.stored_len, 123);
	mkid(&pack, 101);
	CHECK_EQ(drfs_index_pack_lookup(t, &pack, &seq, NULL), 0);
	CHECK_EQ(drfs_kv_count(t, DRFS_DB_AUX1, &n), 0);
	CHECK_EQ(n, 6);
	drfs_txn_abort(t);

	/* clear drops repository-derived data only */
	CHECK_EQ(drfs_index_clear(idx), 0);
	CHECK_EQ(drfs_txn_begin(idx, true, &t), 0);
	CHECK_EQ(drfs_index_blob_get(t, &id, &loc), -ENOENT);
	CHECK_EQ(drfs_index_pack_lookup(t, &pack, &seq, NULL), -ENOENT);
	CHECK_EQ(drfs_kv_count(t, DRFS_DB_SNAPS, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(drfs_kv_count(t, DRFS_DB_BLOBS, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(drfs_kv_count(t, DRFS_DB_AUX1, &n), 0);
	CHECK_EQ(n, 6);
	char v[4];
	CHECK_EQ(drfs_kv_get_fixed(t, DRFS_DB_META, "m", 1, v, 4), 1);
	/* sequence numbers restart after a clear */
	CHECK_EQ(drfs_index_pack_add(t, &pack, 1, 1, &seq), 0);
	CHECK_EQ(seq, 1);
	CHECK_EQ(drfs_txn_commit(t), 0);
}

/* ---- concurrency ------------------------------------------------------- */

#define WRITES 300
static atomic_int writer_done;
static atomic_int reader_snapshots;

/*
 * The writer commits, per transaction i: AUX2["count"] = i and AUX2 key i
 * (4 bytes BE) = i. A reader must always see count == number of other keys.
 */
static void *reader(void *arg)
{
	struct drfs_index *idx = arg;
	int bad = 0;

	while (!atomic_load(&writer_done)) {
		struct drfs_txn *t;
		uint64_t n;
		uint8_t v[4];
		if (drfs_txn_begin(idx, false, &t) < 0) {
			bad++;
			break;
		}
		int r = drfs_kv_get_fixed(t, DRFS_DB_AUX2, "count", 5, v, 4);
		uint32_t c = r == 4 ? drfs_get_le32(v) : 0;
		if (r != 4 && r != -ENOENT)
			bad++;
		if (drfs_kv_count(t, DRFS_DB_AUX2, &n) < 0)
			bad++;
		if (n != (r == 4 ? c + 1 : 0))
			bad++;
		drfs_txn_abort(t);
		atomic_fetch_add(&reader_snapshots, 1);
	}
	return (void *)(intptr_t)bad;
}

static void test_concurrent(struct drfs_index *idx)
{
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, reader, idx), 0);
	for (uint32_t i = 1; i <= WRITES; i++) {
		struct drfs_txn *t;
		uint8_t k[4], v[4];
		if (drfs_txn_begin(idx, true, &t) < 0) {
			CHECK(!"write txn");
			break;
		}
		k[0] = i >> 24, k[1] = i >> 16, k[2] = i >> 8, k[3] = i;
		drfs_put_le32(v, i);
		CHECK_EQ(drfs_kv_put(t, DRFS_DB_AUX2, k, 4, v, 4), 0);
		CHECK_EQ(drfs_kv_put(t, DRFS_DB_AUX2, "count", 5, v, 4), 0);
		CHECK_EQ(drfs_txn_commit(t), 0);
	}
	atomic_store(&writer_done, 1);
	for (int i = 0; i < 4; i++) {
		void *bad;
		pthread_join(th[i], &bad);
		CHECK_EQ((intptr_t)bad, 0);
	}
	CHECK(atomic_load(&reader_snapshots) > 0);
	fprintf(stderr, "test_index: %d reader snapshots during %d commits\n",
		atomic_load(&reader_snapshots), WRITES);
}

/*
 * Read transactions are pooled (reset, renewed): a renewed one sees the
 * newest commit, more held at once than the pool keeps all work; the same
 * with DRFS_INDEX_WRITEMAP, whose commits a plain open then reads.
 */
static void test_pool_writemap(struct drfs_index **idxp)
{
	struct drfs_txn *held[40], *t;
	uint8_t v[4];

	drfs_index_free(*idxp);
	CHECK_EQ(drfs_index_open_flags(dir, DRFS_INDEX_WRITEMAP, idxp), 0);
	struct drfs_index *idx = *idxp;
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(held); i++)
			CHECK_EQ(drfs_txn_begin(idx, false, &held[i]), 0);
		for (size_t i = 0; i < ARRAY_SIZE(held); i++)
			drfs_txn_abort(held[i]);
	}
	for (uint32_t i = 1; i <= 100; i++) {
		drfs_put_le32(v, i);
		CHECK_EQ(drfs_txn_begin(idx, true, &t), 0);
		CHECK_EQ(drfs_kv_put(t, DRFS_DB_AUX1, "pool", 4, v, 4), 0);
		CHECK_EQ(drfs_txn_commit(t), 0);
		CHECK_EQ(drfs_txn_begin(idx, false, &t), 0);
		CHECK_EQ(drfs_kv_get_fixed(t, DRFS_DB_AUX1, "pool", 4, v, 4),
			 4);
		CHECK_EQ(drfs_get_le32(v), i);
		if (i % 2)
			drfs_txn_abort(t);
		else
			CHECK_EQ(drfs_txn_commit(t), 0); /* a read: pooled */
	}
	drfs_index_free(idx);
	CHECK_EQ(drfs_index_open(dir, idxp), 0);
	idx = *idxp;
	CHECK_EQ(drfs_txn_begin(idx, false, &t), 0);
	CHECK_EQ(drfs_kv_get_fixed(t, DRFS_DB_AUX1, "pool", 4, v, 4), 4);
	CHECK_EQ(drfs_get_le32(v), 100);
	drfs_txn_abort(t);
}

int main(void)
{
	struct drfs_index *idx = NULL;

	test_init("test_index");
	snprintf(dir, sizeof(dir), "%s/drfs-test-index.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	int r = drfs_index_open(dir, &idx);
	CHECK_EQ(r, 0);
	if (r == 0) {
		test_blobs_packs(idx);
		test_kv(idx);
		test_append(idx);
		test_clear_reopen(&idx);
		test_concurrent(idx);
		test_pool_writemap(&idx);
		drfs_index_free(idx);
	}
	drfs_index_free(NULL);
	rm_dir();
	return test_done("test_index");
}
