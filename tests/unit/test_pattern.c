/* SPDX-License-Identifier: MIT */
/*
 * test_pattern.c - exclude patterns of drfs backup (pattern.h): names at
 * any depth, anchored paths, directories only, '*' '?' '[..]' and "**",
 * against a table of (pattern, path, is_dir, expected).
 */
#include "drfs/pattern.h"

#include "test.h"

struct tcase {
	const char *pattern, *path;
	bool dir, want;
};

static const struct tcase cases[] = {
	/* no '/': the name, at any depth */
	{ "*.o", "a.o", false, true },
	{ "*.o", "src/deep/x.o", false, true },
	{ "*.o", "src/x.oo", false, false },
	{ "*.o", "x.o/y", false, false },
	{ "cache", "home/u/cache", true, true },
	{ "cache", "home/u/cachex", true, false },
	{ "*", ".hidden", false, true },
	{ "?.c", "ab.c", false, false },
	{ "?.c", "d/a.c", false, true },
	{ "[ab]*", "d/beta", false, true },
	{ "[!ab]*", "d/beta", false, false },
	{ "\\*", "*", false, true },
	{ "\\*", "x", false, false },
	/* with '/': the path from the backed-up directory */
	{ "/build", "build", true, true },
	{ "build/", "build", true, true },
	{ "build/", "build", false, false },
	{ "build/", "a/build", true, true },
	{ "/build", "a/build", true, false },
	{ "src/*.tmp", "src/x.tmp", false, true },
	{ "src/*.tmp", "src/d/x.tmp", false, false },
	{ "src/*.tmp", "a/src/x.tmp", false, false },
	{ "*/x", "a/x", false, true },
	{ "*/x", "a/b/x", false, false },
	/* "**" */
	{ "**/tmp", "tmp", true, true },
	{ "**/tmp", "a/b/c/tmp", true, true },
	{ "**/tmp", "a/b/c/tmpx", true, false },
	{ "a/**/b", "a/b", false, true },
	{ "a/**/b", "a/x/y/b", false, true },
	{ "a/**/b", "x/a/b", false, false },
	{ "a/**", "a/q", false, true },
	{ "a/**", "a", true, true },
	{ "**/a/**/b/c", "x/a/y/b/b/c", false, true },
	{ "**/a/**/b/c", "x/a/y/b/c/d", false, false },
	{ "**", "anything/at/all", false, true },
	{ "a//b", "a/b", false, true },
};

int main(void)
{
	test_init("test_pattern");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		struct drfs_excludes x = { 0 };
		const char *name = strrchr(c->path, '/');
		name = name ? name + 1 : c->path;
		CHECK_EQ(drfs_excludes_add(&x, c->pattern), 0);
		bool got = drfs_excludes_match(&x, c->path, name, c->dir);
		if (got != c->want)
			fprintf(stderr, "pattern \"%s\" path \"%s\"%s: %d\n",
				c->pattern, c->path, c->dir ? " (dir)" : "",
				got);
		CHECK_EQ(got, c->want);
		drfs_excludes_release(&x);
	}
	/* refused */
	struct drfs_excludes x = { 0 };
	CHECK_EQ(drfs_excludes_add(&x, ""), -EINVAL);
	CHECK_EQ(drfs_excludes_add(&x, "/"), -EINVAL);
	CHECK_EQ(drfs_excludes_add(&x, "//"), -EINVAL);
	CHECK_EQ(x.n, 0);
	/* several: any of them */
	CHECK_EQ(drfs_excludes_add(&x, "*.o"), 0);
	CHECK_EQ(drfs_excludes_add(&x, "/top"), 0);
	CHECK(x.anchored);
	CHECK(drfs_excludes_match(&x, "top", "top", true));
	CHECK(drfs_excludes_match(&x, "a/b.o", "b.o", false));
	CHECK(!drfs_excludes_match(&x, "a/top", "top", true));
	drfs_excludes_release(&x);
	/* many "**": bounded work, right answers */
	char pat[4096] = "", path[4096] = "";
	for (int i = 0; i < 200; i++)
		strcat(pat, "**/a/");
	strcat(pat, "b");
	for (int i = 0; i < 300; i++)
		strcat(path, "a/");
	strcat(path, "c");
	CHECK_EQ(drfs_excludes_add(&x, pat), 0);
	CHECK(!drfs_excludes_match(&x, path, "c", false));
	path[strlen(path) - 1] = 'b';
	CHECK(drfs_excludes_match(&x, path, "b", false));
	drfs_excludes_release(&x);
	return test_done("test_pattern");
}
