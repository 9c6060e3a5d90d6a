/* SPDX-License-Identifier: MIT */
/* test_policy.c - keep-policies: which snapshots are kept, and why. */
#include "test.h"

#include "drfs/prune.h"

#define L DRFS_KEEP_LAST
#define H DRFS_KEEP_HOURLY
#define D DRFS_KEEP_DAILY
#define W DRFS_KEEP_WEEKLY
#define M DRFS_KEEP_MONTHLY
#define Y DRFS_KEEP_YEARLY
#define IN DRFS_KEEP_WITHIN
#define TG DRFS_KEEP_TAG

#define MAXS 64

struct snap_def {
	const char *time; /* ISO, UTC */
	unsigned expect;  /* reasons; 0 = removed */
	uint8_t id;       /* 0: index + 1 */
	const char *tag;
};

struct tcase {
	const char *name;
	struct drfs_policy p;
	const char *now; /* NULL: no cap */
	struct snap_def s[MAXS];
};

static const struct tcase cases[] = {
	{ "last 3 of 5", { .last = 3 }, NULL, {
		{ "2026-01-01T00:00:00Z", 0 },
		{ "2026-01-02T00:00:00Z", 0 },
		{ "2026-01-03T00:00:00Z", L },
		{ "2026-01-05T00:00:00Z", L }, /* input order is free */
		{ "2026-01-04T00:00:00Z", L },
	} },
	{ "daily 3, several per day: newest of each day", { .daily = 3 },
	  NULL, {
		{ "2026-01-01T23:00:00Z", 0 },
		{ "2026-01-02T09:00:00Z", 0 },
		{ "2026-01-02T18:00:00Z", D },
		{ "2026-01-03T00:00:00Z", 0 },
		{ "2026-01-03T23:59:59Z", D },
		{ "2026-01-04T00:00:00Z", D },
	} },
	{ "daily 3 with gaps: buckets are days that have snapshots",
	  { .daily = 3 }, NULL, {
		{ "2026-01-01T12:00:00Z", 0 },
		{ "2026-01-05T12:00:00Z", D },
		{ "2026-01-10T12:00:00Z", D },
		{ "2026-01-11T12:00:00Z", D },
	} },
	{ "hourly 2", { .hourly = 2 }, NULL, {
		{ "2026-01-01T10:59:59Z", 0 },
		{ "2026-01-01T11:00:00Z", 0 },
		{ "2026-01-01T11:30:00Z", H },
		{ "2026-01-01T12:10:00Z", H },
	} },
	{ "ISO week: 2025-12-29..2026-01-04 is 2026-W01", { .weekly = 2 },
	  NULL, {
		{ "2025-12-21T12:00:00Z", 0 }, /* 2025-W51 */
		{ "2025-12-28T12:00:00Z", W }, /* Sunday, 2025-W52 */
		{ "2025-12-29T00:00:00Z", 0 }, /* Monday, 2026-W01 */
		{ "2026-01-01T12:00:00Z", 0 },
		{ "2026-01-04T23:59:59Z", W }, /* Sunday, 2026-W01 */
	} },
	{ "ISO week 53: 2026-12-28..2027-01-03 is 2026-W53", { .weekly = 2 },
	  NULL, {
		{ "2026-12-27T12:00:00Z", W }, /* 2026-W52 */
		{ "2026-12-28T12:00:00Z", 0 },
		{ "2027-01-03T12:00:00Z", W }, /* 2026-W53 */
	} },
	{ "monthly across a year boundary", { .monthly = 2 }, NULL, {
		{ "2025-12-01T00:00:00Z", 0 },
		{ "2025-12-31T23:59:59Z", M },
		{ "2026-01-01T00:00:00Z", M },
	} },
	{ "yearly 2", { .yearly = 2 }, NULL, {
		{ "2024-06-01T00:00:00Z", 0 },
		{ "2024-12-31T23:59:59Z", Y },
		{ "2025-01-01T00:00:00Z", 0 },
		{ "2025-12-31T23:59:59Z", Y },
	} },
	{ "week 1 of 2026 and January 2026 are separate buckets",
	  { .weekly = 1, .monthly = 1 }, NULL, {
		{ "2025-12-30T12:00:00Z", 0 },
		{ "2026-01-02T12:00:00Z", W | M },
	} },
	{ "ties: same time, the larger id wins", { .daily = 1, .last = 1 },
	  NULL, {
		{ "2026-01-01T12:00:00Z", 0, 0x10 },
		{ "2026-01-01T12:00:00Z", D | L, 0x30 },
		{ "2026-01-01T12:00:00Z", 0, 0x20 },
	} },
	{ "within 2d of the newest snapshot (strictly newer)",
	  { .within = 2 * 86400 }, NULL, {
		{ "2026-01-01T12:00:00Z", 0 },
		{ "2026-01-08T12:00:00Z", 0 },  /* exactly 2 days */
		{ "2026-01-08T12:00:01Z", IN },
		{ "2026-01-10T12:00:00Z", IN },
	} },
	{ "within: a snapshot from the future is capped at now",
	  { .within = 86400 }, "2026-01-10T00:00:00Z", {
		{ "2026-01-08T00:00:00Z", 0 },
		{ "2026-01-09T12:00:00Z", IN },
		{ "2026-03-01T00:00:00Z", IN },
	} },
	{ "keep-tag", { .last = 1, .n_tags = 1, .tags = "important" }, NULL, {
		{ "2026-01-01T12:00:00Z", TG, 0, "important" },
		{ "2026-01-02T12:00:00Z", 0, 0, "other" },
		{ "2026-01-03T12:00:00Z", L },
	} },
};

/*
 * --keep-daily 7 --keep-weekly 4 --keep-monthly 12 over 60 daily
 * snapshots at noon, 2026-01-01 (Thursday) .. 2026-03-01 (Sunday):
 * daily Feb 23..Mar 1; weekly (ISO weeks end on Sundays) Mar 1, Feb 22,
 * Feb 15, Feb 8; monthly Mar 1, Feb 28, Jan 31.
 */
static void test_combination(void)
{
	struct drfs_snap_info s[60];
	struct drfs_policy_verdict v[60];
	struct drfs_policy p = { .daily = 7, .weekly = 4, .monthly = 12 };
	struct timespec t0;
	CHECK_EQ(drfs_parse_time("2026-01-01T12:00:00Z", &t0), 0);
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 60; i++) {
		s[i].id.b[0] = (uint8_t)(i + 1);
		s[i].snap.time.tv_sec = t0.tv_sec + (time_t)i * 86400;
	}
	CHECK_EQ(drfs_policy_apply(&p, s, 60, 0, v), 0);
	unsigned want[60] = { 0 };
	/* day index: Jan d -> d-1, Feb d -> 30+d, Mar 1 -> 59 */
	want[59] = D | W | M;
	want[30 + 28] = D | M;
	for (int d = 23; d <= 27; d++)
		want[30 + d] = D;
	want[30 + 22] = W;
	want[30 + 15] = W;
	want[30 + 8] = W;
	want[30] = M; /* Jan 31 */
	int kept = 0;
	for (int i = 0; i < 60; i++) {
		if (v[i].reasons != want[i] || v[i].keep != (want[i] != 0))
			fprintf(stderr, "combination: day %d: reasons %#x, "
					"want %#x\n", i, v[i].reasons, want[i]);
		CHECK_EQ(v[i].reasons, want[i]);
		CHECK_EQ(v[i].keep, want[i] != 0);
		kept += v[i].keep;
	}
	CHECK_EQ(kept, 11);
}

static void run_case(const struct tcase *c)
{
	struct drfs_snap_info s[MAXS];
	struct drfs_policy_verdict v[MAXS];
	size_t n = 0;
	time_t now = 0;
	memset(s, 0, sizeof(s));
	for (; n < MAXS && c->s[n].time; n++) {
		struct timespec t;
		CHECK_EQ(drfs_parse_time(c->s[n].time, &t), 0);
		s[n].snap.time = t;
		s[n].id.b[0] = c->s[n].id ? c->s[n].id : (uint8_t)(n + 1);
		if (c->s[n].tag) {
			strcpy(s[n].snap.tags, c->s[n].tag);
			s[n].snap.n_tags = 1;
		}
	}
	if (c->now) {
		struct timespec t;
		CHECK_EQ(drfs_parse_time(c->now, &t), 0);
		now = t.tv_sec;
	}
	CHECK_EQ(drfs_policy_apply(&c->p, s, n, now, v), 0);
	for (size_t i = 0; i < n; i++) {
		if (v[i].reasons != c->s[i].expect)
			fprintf(stderr, "%s: %s: reasons %#x, want %#x\n",
				c->name, c->s[i].time, v[i].reasons,
				c->s[i].expect);
		CHECK_EQ(v[i].reasons, c->s[i].expect);
		CHECK_EQ(v[i].keep, c->s[i].expect != 0);
	}
}

static void test_misc(void)
{
	struct drfs_policy empty = { 0 }, p = { .daily = 7, .weekly = 4,
						.within = 36 * 3600,
						.n_tags = 2,
						.tags = "a\0bc" };
	struct drfs_snap_info s = { 0 };
	struct drfs_policy_verdict v;
	char txt[256 + DRFS_TAGS_BUF], why[128];

	CHECK(drfs_policy_empty(&empty));
	CHECK_EQ(drfs_policy_apply(&empty, &s, 1, 0, &v), -EINVAL);
	CHECK_EQ(drfs_policy_apply(&p, &s, 0, 0, &v), 0);

	/* stored form round trip, and garbage rejected */
	struct drfs_buf b;
	struct drfs_policy q;
	drfs_buf_init(&b, 1 << 16);
	CHECK_EQ(drfs_policy_encode(&p, &b), 0);
	CHECK_EQ(drfs_policy_decode(b.p, b.len, &q), 0);
	CHECK(memcmp(&p, &q, sizeof(p)) == 0);
	CHECK_EQ(drfs_policy_decode(b.p, b.len - 1, &q), -EBADMSG);
	for (size_t cut = 0; cut < b.len; cut++)
		CHECK(drfs_policy_decode(b.p, cut, &q) == -EBADMSG);
	b.p[0] = 9;
	CHECK_EQ(drfs_policy_decode(b.p, b.len, &q), -EBADMSG);
	for (int i = 0; i < 2000; i++) {
		uint8_t junk[64];
		test_fill(junk, sizeof(junk));
		junk[0] = 1;
		size_t len = (size_t)(test_rand() % sizeof(junk));
		int e = drfs_policy_decode(junk, len, &q);
		CHECK(e == 0 || e == -EBADMSG);
	}
	drfs_buf_release(&b);

	drfs_policy_format(&p, txt, sizeof(txt));
	CHECK(strcmp(txt, "--keep-daily 7 --keep-weekly 4 --keep-within 36h "
			  "--keep-tag a --keep-tag bc") == 0);
	drfs_policy_reasons(D | W | DRFS_KEEP_HOLD, why);
	CHECK(strcmp(why, "daily, weekly, hold") == 0);
}

/*
 * Groups (restic's --group-by): snapshots of two hosts, two paths and two
 * tag sets; --keep-last 1 keeps the newest of each group, and within's
 * reference is each group's own newest snapshot.
 */
static void test_groups(void)
{
	/* the reasons each is kept for under each grouping of by[] */
	static const struct {
		const char *host, *path, *tags; /* one tag or none */
		int day;
		unsigned want[5];
	} g[] = {
		{ "A", "/srv", "x", 1, { 0, 0, 0, 0, 0 } },
		{ "A", "/srv", "x", 2, { 0, 0, 0, 0, L } },
		{ "A", "/etc", "", 3, { L, 0, 0, L, L } },
		{ "B", "/srv", "y", 4, { 0, 0, 0, 0, L } },
		{ "B", "/srv", "x", 5, { L, 0, L, L, L } },
		{ "A", "/srv", "y", 6, { L, L, L, L, L } },
	};
	enum { N = ARRAY_SIZE(g) };
	struct drfs_snap_info s[N];
	struct drfs_policy_verdict v[N];
	struct drfs_policy p = { .last = 1 };
	unsigned by[] = { DRFS_GROUP_DEFAULT, 0, DRFS_GROUP_HOST,
			  DRFS_GROUP_TAGS,
			  DRFS_GROUP_HOST | DRFS_GROUP_PATH | DRFS_GROUP_TAGS };
	int want_groups[] = { 3, 1, 2, 3, 5 };

	memset(s, 0, sizeof(s));
	for (size_t i = 0; i < N; i++) {
		s[i].id.b[0] = (uint8_t)(i + 1);
		s[i].snap.time.tv_sec = 1767225600 + g[i].day * 86400;
		strcpy(s[i].snap.host, g[i].host);
		strcpy(s[i].snap.path, g[i].path);
		s[i].snap.n_tags = g[i].tags[0] ? 1 : 0;
		strcpy(s[i].snap.tags, g[i].tags);
	}
	for (size_t k = 0; k < ARRAY_SIZE(by); k++) {
		CHECK_EQ(drfs_policy_apply_groups(&p, by[k], s, N, 0, v),
			 want_groups[k]);
		for (size_t i = 0; i < N; i++) {
			unsigned want = g[i].want[k];
			if (v[i].reasons != want)
				fprintf(stderr, "groups %#x: snapshot %zu: "
					"reasons %#x, want %#x\n", by[k], i,
					v[i].reasons, want);
			CHECK_EQ(v[i].reasons, want);
			/* same group number exactly when the keys match */
			for (size_t j = 0; j < N; j++)
				CHECK_EQ(v[i].group == v[j].group,
					 drfs_group_cmp(by[k], &s[i].snap,
							&s[j].snap) == 0);
		}
	}
	/* tag sets compare as sets */
	struct drfs_snapshot a = { .n_tags = 2 }, b = { .n_tags = 2 };
	memcpy(a.tags, "p\0q", 4);
	memcpy(b.tags, "q\0p", 4);
	CHECK_EQ(drfs_group_cmp(DRFS_GROUP_TAGS, &a, &b), 0);
	b.n_tags = 1;
	CHECK(drfs_group_cmp(DRFS_GROUP_TAGS, &a, &b) != 0);
	/* within: each group's own newest is the reference */
	struct drfs_policy w = { .within = 86400 + 1 };
	CHECK_EQ(drfs_policy_apply_groups(&w, DRFS_GROUP_HOST, s, N, 0, v), 2);
	CHECK_EQ(v[4].reasons, IN); /* B's newest (day 5) */
	CHECK_EQ(v[3].reasons, IN); /* B, day 4: within a day of B's newest */
	CHECK_EQ(v[2].reasons, 0);  /* A, day 3: 3 days before A's newest */
	/* parsing and naming */
	unsigned gb = 99;
	CHECK_EQ(drfs_group_by_parse("host,paths", &gb), 0);
	CHECK_EQ(gb, DRFS_GROUP_DEFAULT);
	CHECK_EQ(drfs_group_by_parse("tags,host", &gb), 0);
	CHECK_EQ(gb, DRFS_GROUP_TAGS | DRFS_GROUP_HOST);
	CHECK_EQ(drfs_group_by_parse("", &gb), 0);
	CHECK_EQ(gb, 0u);
	CHECK_EQ(drfs_group_by_parse("host,colour", &gb), -EINVAL);
	char txt[256];
	drfs_group_format(DRFS_GROUP_DEFAULT | DRFS_GROUP_TAGS, &a, txt,
			  sizeof(txt));
	CHECK(strcmp(txt, "host \"\", path \"\", tags [p,q]") == 0);
}

int main(void)
{
	test_init("test_policy");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
	test_combination();
	test_misc();
	test_groups();
	return test_done("test_policy");
}
