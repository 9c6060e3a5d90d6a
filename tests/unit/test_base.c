/* SPDX-License-Identifier: MIT */
/*
 * test_base.c - drfs_open_beneath and its fallback drfs_open_beneath_walk:
 * plain paths open; an absolute path, "..", and a symlink in any component
 * (to a directory inside or outside, as the last component, with O_PATH or
 * O_CREAT) are refused, and nothing is created outside the root. The id
 * set (struct drfs_idset) against a plain array. And drfs_str_show /
 * drfs_utf8_decode: repository text shown without a byte that drives a
 * terminal, printable UTF-8 kept, a table of cases. drfs_parse_time:
 * RFC 3339 offsets give the same instant as UTC; malformed ones refused.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/base.h"

#include "test.h"

typedef int (*open_fn)(int root, const char *path, int flags, mode_t mode);

static char top[64];

static int opened(int fd)
{
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : fd;
}

static void test_open(open_fn op, const char *what)
{
	char p[256];
	struct stat st;
	fprintf(stderr, "  %s\n", what);
	snprintf(p, sizeof(p), "%s/root", top);
	int root = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);

	CHECK_EQ(opened(op(root, "d/f", O_RDONLY, 0)), 0);
	CHECK_EQ(opened(op(root, "d//f", O_RDONLY, 0)), 0);
	CHECK_EQ(opened(op(root, "./d/./f", O_RDONLY, 0)), 0);
	CHECK_EQ(opened(op(root, "d", O_PATH | O_DIRECTORY, 0)), 0);
	int fd = op(root, "", O_RDONLY | O_DIRECTORY, 0);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
	if (fd >= 0)
		close(fd);
	CHECK_EQ(opened(op(root, "d/missing", O_RDONLY, 0)), -ENOENT);
	CHECK_EQ(opened(op(root, "d/f/x", O_RDONLY, 0)), -ENOTDIR);

	/* leaving root */
	CHECK_EQ(opened(op(root, "/etc/passwd", O_RDONLY, 0)), -EXDEV);
	CHECK_EQ(opened(op(root, "..", O_RDONLY | O_DIRECTORY, 0)), -EXDEV);
	CHECK_EQ(opened(op(root, "d/../d/f", O_RDONLY, 0)), -EXDEV);
	CHECK_EQ(opened(op(root, "d/..", O_PATH, 0)), -EXDEV);

	/* symlinks: never followed, wherever they are or point */
	int e = opened(op(root, "in/f", O_RDONLY, 0));
	CHECK(e == -ELOOP || e == -ENOTDIR);
	e = opened(op(root, "out/x", O_WRONLY | O_CREAT, 0600));
	CHECK(e == -ELOOP || e == -ENOTDIR);
	e = opened(op(root, "out", O_RDONLY | O_DIRECTORY, 0));
	CHECK(e == -ELOOP || e == -ENOTDIR);
	CHECK_EQ(opened(op(root, "out", O_PATH, 0)), -ELOOP);
	CHECK_EQ(opened(op(root, "d/lf", O_WRONLY | O_TRUNC, 0)), -ELOOP);
	CHECK_EQ(opened(op(root, "d/lf", O_WRONLY | O_CREAT, 0600)), -ELOOP);
	snprintf(p, sizeof(p), "%s/outside/x", top);
	CHECK(lstat(p, &st) < 0 && errno == ENOENT);
	snprintf(p, sizeof(p), "%s/outside/f", top);
	CHECK(stat(p, &st) == 0 && st.st_size == 3);

	/* creating beneath */
	fd = op(root, "d/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
	if (fd >= 0)
		close(fd);
	CHECK_EQ(opened(op(root, "d/new", O_WRONLY | O_CREAT | O_EXCL, 0600)),
		 -EEXIST);
	CHECK(unlinkat(root, "d/new", 0) == 0);
	close(root);
}

/* The id set against a plain array: repeats, the zero id, after free. */
static void test_idset(void)
{
	enum { N = 5000 };
	struct drfs_idset s = { 0 };
	struct drfs_id *v = calloc(N, sizeof(*v));
	CHECK(v != NULL);
	if (!v)
		return;
	for (size_t i = 0; i < N; i++) {
		test_fill(v[i].b, DRFS_ID_LEN);
		if (i % 7 == 0 && i)
			v[i] = v[i / 2]; /* repeats */
		if (i == 100)
			memset(v[i].b, 0, DRFS_ID_LEN); /* the zero id too */
	}
	size_t members = 0;
	for (size_t i = 0; i < N; i++) {
		bool had = false;
		for (size_t j = 0; j < i && !had; j++)
			had = drfs_id_eq(&v[i], &v[j]);
		CHECK_EQ(drfs_idset_has(&s, &v[i]), had);
		CHECK_EQ(drfs_idset_add(&s, &v[i]), had ? 1 : 0);
		CHECK(drfs_idset_has(&s, &v[i]));
		members += !had;
	}
	/* n counts the non-zero members */
	CHECK_EQ(s.n + (s.has_zero ? 1 : 0), members);
	struct drfs_id other;
	test_fill(other.b, DRFS_ID_LEN);
	CHECK(!drfs_idset_has(&s, &other));
	drfs_idset_free(&s);
	CHECK(!drfs_idset_has(&s, &v[1]));
	free(v);
}

static void test_show(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "web1", "web1" },
		{ "/srv/caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "/srv/caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "a\x1b[2Jb\nc\rd\te\x7f", "a\\x1b[2Jb\\x0ac\\x0dd\\x09e\\x7f" },
		{ "q\"\\", "q\\\"\\\\" },
		/* Latin-1, a stray continuation, a truncated sequence */
		{ "caf\xe9", "caf\\xe9" },
		{ "\x80x", "\\x80x" },
		{ "\xe2\x82", "\\xe2\\x82" },
		/* overlong "/", a surrogate, beyond U+10FFFF */
		{ "\xc0\xaf", "\\xc0\\xaf" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
		/* C1 CSI, right-to-left override, first strong isolate */
		{ "\xc2\x9b", "\\xc2\\x9b" },
		{ "\xe2\x80\xae", "\\xe2\\x80\\xae" },
		{ "\xe2\x81\xa8", "\\xe2\\x81\\xa8" },
		/* U+00A0 and U+2029 are not controls of that kind */
		{ "\xc2\xa0", "\xc2\xa0" },
	};
	char out[DRFS_SHOW_BUF(16)];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		drfs_str_show(cases[i].in, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fprintf(stderr, "case %zu: got \"%s\"\n", i, out);
		CHECK(strcmp(out, cases[i].want) == 0);
	}
	/* 16 bytes that all need \xHH fit DRFS_SHOW_BUF(16) uncut */
	drfs_str_show("\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10"
		      "\x11\x12\x13", out, sizeof(out));
	CHECK_EQ(strlen(out), 64u);
	/* cut with "..." to fit, never in the middle of an escape */
	char small[16];
	drfs_str_show("\x1b\x1b\x1b\x1b\x1b", small, sizeof(small));
	CHECK(strcmp(small, "\\x1b\\x1b\\x1b...") == 0);
	uint32_t cp = 0;
	CHECK_EQ(drfs_utf8_decode((const uint8_t *)"\xe2\x82\xac", 3, &cp), 3u);
	CHECK_EQ(cp, 0x20acu);
	CHECK_EQ(drfs_utf8_decode((const uint8_t *)"\xe2\x82\xac", 2, &cp), 0u);
}

static void test_time(void)
{
	static const struct {
		const char *s;
		int64_t sec; /* -1: refused */
		long nsec;
	} cases[] = {
		{ "2026-11-21T12:30:05Z", 1795264205, 0 },
		{ "2026-11-21T14:30:05+02:00", 1795264205, 0 },
		{ "2026-11-21T07:00:05-05:30", 1795264205, 0 },
		{ "2026-11-21T12:30:05+00:00", 1795264205, 0 },
		{ "2026-11-21T12:30:05-00:00", 1795264205, 0 },
		{ "2026-11-22T00:30:05.25+12:00", 1795264205, 250000000 },
		{ "2026-11-21 12:30:05", 1795264205, 0 },
		{ "2026-11-21", 1795219200, 0 },
		{ "2026-11-21T12:30:05+2:00", -1, 0 },
		{ "2026-11-21T12:30:05+02", -1, 0 },
		{ "2026-11-21T12:30:05+0200", -1, 0 },
		{ "2026-11-21T12:30:05+24:00", -1, 0 },
		{ "2026-11-21T12:30:05+02:60", -1, 0 },
		{ "2026-11-21T12:30:05Z+02:00", -1, 0 },
		{ "2026-11-21T12:30:05+02:00x", -1, 0 },
		{ "2026-11-21T12:30:05+-2:00", -1, 0 },
		{ "2026-11-21T12:30:05+ 2:00", -1, 0 },
		{ "2026-11-21+02:00", -1, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct timespec t = { 0 };
		int e = drfs_parse_time(cases[i].s, &t);
		if (cases[i].sec < 0) {
			CHECK_EQ(e, -EINVAL);
			continue;
		}
		CHECK_EQ(e, 0);
		CHECK_EQ((int64_t)t.tv_sec, cases[i].sec);
		CHECK_EQ(t.tv_nsec, cases[i].nsec);
	}
}

/* drfs_parse_rate: restic's KiB/s for a bare number, else a size per second */
static void test_rate(void)
{
	static const struct {
		const char *s;
		uint64_t bps; /* 0: refused */
	} cases[] = {
		{ "1", 1024 },
		{ "512", 512 << 10 },
		{ "1/s", 1024 },
		{ "300K", 300 << 10 },
		{ "300k/s", 300 << 10 },
		{ "2M", 2 << 20 },
		{ "2MiB/s", 2 << 20 },
		{ "2mib/s", 2 << 20 },
		{ "2MB", 2 << 20 },
		{ "1G", 1ull << 30 },
		{ "1T", 1ull << 40 },
		{ "1K", 1024 },
		{ "0001", 1024 },
		/* the largest: 2^54 - 1 KiB/s and 2^24 - 1 TiB/s */
		{ "18014398509481983", 18014398509481983ull << 10 },
		{ "16777215T", 16777215ull << 40 },
		/* overflow: one more, or beyond what strtoull takes */
		{ "18014398509481984", 0 },
		{ "16777216T", 0 },
		{ "17179869184G", 0 },
		{ "18446744073709551616", 0 },
		{ "99999999999999999999999999999", 0 },
		/* below 1 KiB/s */
		{ "0", 0 },
		{ "0K", 0 },
		{ "0/s", 0 },
		/* garbage */
		{ "", 0 },
		{ "/s", 0 },
		{ "K", 0 },
		{ "K/s", 0 },
		{ "-1", 0 },
		{ "+1", 0 },
		{ " 1", 0 },
		{ "1 ", 0 },
		{ "1 K", 0 },
		{ "1.5M", 0 },
		{ "0x10", 0 },
		{ "1KiB/", 0 },
		{ "1K/s/s", 0 },
		{ "1K/S", 0 },
		{ "1/m", 0 },
		{ "1E", 0 },
		{ "1KK", 0 },
		{ "1Kib/s", 1024 },
		{ "1KiBs", 0 },
		{ "00000000000000000000000000000001", 0 }, /* 32 characters */
		{ "0000000000000000000000000000001", 1024 }, /* 31 */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 7;
		int e = drfs_parse_rate(cases[i].s, &v);
		if (!cases[i].bps) {
			if (e != -EINVAL || v != 7)
				fprintf(stderr, "rate \"%s\": %d, %" PRIu64
					"\n", cases[i].s, e, v);
			CHECK_EQ(e, -EINVAL);
			CHECK(v == 7);
			continue;
		}
		if (e || v != cases[i].bps)
			fprintf(stderr, "rate \"%s\": %d, %" PRIu64 "\n",
				cases[i].s, e, v);
		CHECK_EQ(e, 0);
		CHECK(v == cases[i].bps);
	}
	CHECK_EQ(drfs_parse_rate(NULL, &(uint64_t){ 0 }), -EINVAL);
}

int main(void)
{
	char p[256];
	test_init("test_base");
	test_idset();
	test_time();
	test_rate();
	snprintf(top, sizeof(top), "%s/drfs-test-base.XXXXXX",
		 getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	/* root/{d/{f,lf->../../outside/f},in->d,out->../outside}, outside/f */
	snprintf(p, sizeof(p), "%s/root", top);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/outside", top);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/outside/f", top);
	FILE *f = fopen(p, "w");
	CHECK(f && fputs("abc", f) >= 0 && fclose(f) == 0);
	snprintf(p, sizeof(p), "%s/root/d", top);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/root/d/f", top);
	f = fopen(p, "w");
	CHECK(f && fclose(f) == 0);
	snprintf(p, sizeof(p), "%s/root/d/lf", top);
	CHECK(symlink("../../outside/f", p) == 0);
	snprintf(p, sizeof(p), "%s/root/in", top);
	CHECK(symlink("d", p) == 0);
	snprintf(p, sizeof(p), "%s/root/out", top);
	CHECK(symlink("../outside", p) == 0);

	test_show();
	test_open(drfs_open_beneath, "drfs_open_beneath");
	test_open(drfs_open_beneath_walk, "drfs_open_beneath_walk");

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", top);
	return test_done("test_base");
}
