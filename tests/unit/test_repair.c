/* SPDX-License-Identifier: MIT */
/*
 * test_repair.c - restic's rule for files that lost data (extents cut out,
 * the rest moved down) and the damage tags of a repaired snapshot.
 */
#include "test.h"

#include "drfs/repair.h"

/* Byte i of a file modelled as: extent k covers it -> k + 1, hole -> 0. */
static uint8_t model_at(const struct drfs_extent *v, size_t n, uint64_t i)
{
	for (size_t k = 0; k < n; k++)
		if (i >= v[k].off && i < v[k].off + v[k].len)
			return (uint8_t)v[k].id.b[0];
	return 0;
}

static void table(void)
{
	/* holes at 0-10 and 30-40; extents a 10-20, b 20-30, c 40-50 */
	struct drfs_extent v[3] = {
		{ .off = 10, .len = 10, .id.b = { 1 } },
		{ .off = 20, .len = 10, .id.b = { 2 } },
		{ .off = 40, .len = 10, .id.b = { 3 } },
	};
	bool lost[3] = { false, true, false };
	uint64_t size = 60;
	size_t n = drfs_extents_cut(v, 3, lost, &size);
	CHECK_EQ(n, 2);
	CHECK_EQ(size, 50);
	CHECK_EQ(v[0].off, 10);
	CHECK_EQ(v[1].off, 30); /* moved down by b's 10 bytes */
	CHECK_EQ(v[1].id.b[0], 3);

	/* all lost: an empty file of only its holes */
	struct drfs_extent w[2] = { { .off = 0, .len = 5 },
				    { .off = 5, .len = 5 } };
	bool all[2] = { true, true };
	size = 12;
	CHECK_EQ(drfs_extents_cut(w, 2, all, &size), 0);
	CHECK_EQ(size, 2);
}

/* Random files: the result reads as the original with the lost bytes cut. */
static void property(void)
{
	for (int round = 0; round < 2000; round++) {
		struct drfs_extent v[16], orig[16];
		bool lost[16];
		size_t n = test_rand() % 16;
		uint64_t off = 0, size;
		for (size_t k = 0; k < n; k++) {
			off += test_rand() % 4; /* a hole, or none */
			v[k] = (struct drfs_extent){
				.off = off, .len = 1 + test_rand() % 7
			};
			memset(v[k].id.b, 0, DRFS_ID_LEN);
			v[k].id.b[0] = (uint8_t)(k + 1);
			lost[k] = test_rand() % 3 == 0;
			off += v[k].len;
		}
		size = off + test_rand() % 4;
		memcpy(orig, v, sizeof(v));
		uint64_t osize = size, cut = 0;
		size_t m = drfs_extents_cut(v, n, lost, &size);
		uint8_t want[256];
		size_t wl = 0;
		for (uint64_t i = 0; i < osize; i++) {
			bool gone = false;
			for (size_t k = 0; k < n; k++)
				if (lost[k] && i >= orig[k].off &&
				    i < orig[k].off + orig[k].len)
					gone = true;
			if (gone)
				cut++;
			else
				want[wl++] = model_at(orig, n, i);
		}
		CHECK_EQ(size, osize - cut);
		CHECK_EQ(size, wl);
		for (size_t k = 0; k + 1 < m; k++)
			CHECK(v[k].off + v[k].len <= v[k + 1].off);
		if (m)
			CHECK(v[m - 1].off + v[m - 1].len <= size);
		for (uint64_t i = 0; i < size && i < wl; i++)
			if (model_at(v, m, i) != want[i]) {
				CHECK(model_at(v, m, i) == want[i]);
				break;
			}
	}
}

/* Damage tags fit, keep room for copy's tag, and count what did not fit. */
static void tags(void)
{
	struct drfs_snapshot s = { .time = { 1700000000, 0 } };
	struct drfs_buf b;
	char long_path[400];
	const char *paths[100];
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = 0;
	for (size_t i = 0; i < 100; i++)
		paths[i] = i % 10 ? "dir/file" : long_path;
	strcpy(s.tags, "daily");
	s.n_tags = 1;
	drfs_damage_tags(&s, paths, 100);
	size_t used = 0, n_damaged = 0;
	const char *more = NULL, *t = s.tags;
	for (uint32_t i = 0; i < s.n_tags; i++, t += strlen(t) + 1) {
		CHECK(strlen(t) >= 1 && strlen(t) <= DRFS_TAG_MAX);
		used += strlen(t) + 1;
		if (!strncmp(t, DRFS_DAMAGED_TAG, strlen(DRFS_DAMAGED_TAG)))
			n_damaged++;
		if (!strncmp(t, DRFS_DAMAGED_MORE_TAG,
			     strlen(DRFS_DAMAGED_MORE_TAG)))
			more = t + strlen(DRFS_DAMAGED_MORE_TAG);
	}
	CHECK(!strcmp(s.tags, "daily"));
	CHECK(n_damaged >= 1);
	CHECK(more != NULL);
	CHECK_EQ(more ? strtoull(more, NULL, 10) : 0, 100 - n_damaged);
	CHECK(used + DRFS_TAG_RESERVE <= DRFS_TAGS_BUF);
	CHECK(s.n_tags < DRFS_TAGS_MAX);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	CHECK(drfs_snapshot_encode(&s, &b) >= 0);
	drfs_buf_release(&b);

	/* few paths: all named, no count */
	struct drfs_snapshot s2 = { .time = { 1700000000, 0 } };
	const char *two[2] = { "a", "b/c" };
	drfs_damage_tags(&s2, two, 2);
	CHECK_EQ(s2.n_tags, 2);
	CHECK(!strcmp(s2.tags, "damaged:a"));
	CHECK(!strcmp(s2.tags + strlen("damaged:a") + 1, "damaged:b/c"));
}

int main(void)
{
	test_init("test_repair");
	table();
	property();
	tags();
	return test_done("test_repair");
}
