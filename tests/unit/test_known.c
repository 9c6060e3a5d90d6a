/* SPDX-License-Identifier: MIT */
/*
 * test_known.c - the known-repositories file: the parser on a table of
 * lines, locations with bytes that must be escaped (a record must find
 * exactly its own location again), replace versus keep, the file's modes,
 * and the secret memory helpers of base/private.c.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/known.h"
#include "test.h"

#define ID_A "00112233445566778899aabbccddeeff"
#define ID_B "ffeeddccbbaa99887766554433221100"

static void test_parse(void)
{
	static const struct {
		const char *file, *location;
		int want;   /* 1 found, 0 not, < 0 error */
		unsigned line;
		bool encrypted;
	} cases[] = {
		{ "", "file:///r", 0, 0, false },
		{ "# comment only\n\n", "file:///r", 0, 0, false },
		{ ID_A " encrypted file:///r\n", "file:///r", 1, 1, true },
		{ ID_A " unencrypted file:///r", "file:///r", 1, 1, false },
		{ ID_A " encrypted file:///r\n", "file:///r2", 0, 0, false },
		{ ID_A " encrypted file:///r2\n", "file:///r", 0, 0, false },
		{ "#\n" ID_A " encrypted file:///a%20b\n", "file:///a b", 1, 2,
		  true },
		{ ID_A " encrypted file:///a%2", "file:///a", -EBADMSG, 1 },
		{ ID_A " encrypted file:///a b\n", "file:///a b", -EBADMSG, 1 },
		{ ID_A " encrypted \n", "x", -EBADMSG, 1 },
		{ ID_A " sealed file:///r\n", "file:///r", -EBADMSG, 1 },
		{ "0011 encrypted file:///r\n", "file:///r", -EBADMSG, 1 },
		{ ID_A "  encrypted file:///r\n", "file:///r", -EBADMSG, 1 },
		/* the first record of a location counts */
		{ ID_A " encrypted file:///r\n" ID_B " unencrypted file:///r\n",
		  "file:///r", 1, 1, true },
		/* a bad line anywhere makes the file unusable */
		{ ID_A " encrypted file:///r\ngarbage\n", "file:///r", -EBADMSG,
		  2 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct drfs_known k = { 0 };
		unsigned line = 0;
		int r = drfs_known_find(cases[i].file, strlen(cases[i].file),
					cases[i].location, &k, &line);
		if (r != cases[i].want)
			fprintf(stderr, "case %zu\n", i);
		CHECK_EQ(r, cases[i].want);
		if (r != 0)
			CHECK_EQ(line, cases[i].line);
		if (r > 0)
			CHECK_EQ(k.encrypted, cases[i].encrypted);
	}
}

static void test_file(const char *dir)
{
	char path[512], loc[64];
	struct drfs_known a = { .encrypted = true }, b = { 0 }, got;
	unsigned line;
	struct stat st;

	snprintf(path, sizeof(path), "%s/cfg/drfs/known-repositories", dir);
	CHECK_EQ(drfs_unhex(ID_A, 16, a.repo_id), 0);
	CHECK_EQ(drfs_unhex(ID_B, 16, b.repo_id), 0);
	CHECK_EQ(drfs_known_lookup(path, "file:///r", &got, &line), 0);

	/* a location of every byte that needs escaping, and then some */
	for (int c = 1; c < 256; c++) {
		snprintf(loc, sizeof(loc), "file:///x%c%%y", c);
		CHECK_EQ(drfs_known_record(path, loc, &a, false), 0);
	}
	for (int c = 1; c < 256; c++) {
		snprintf(loc, sizeof(loc), "file:///x%c%%y", c);
		CHECK_EQ(drfs_known_lookup(path, loc, &got, &line), 1);
		CHECK(line >= 6); /* after the comment header */
	}
	CHECK_EQ(drfs_known_lookup(path, "file:///x", &got, &line), 0);

	/* kept unless replaced */
	CHECK_EQ(drfs_known_record(path, "s3://b at http://h", &a, false), 0);
	CHECK_EQ(drfs_known_record(path, "s3://b at http://h", &b, false), 1);
	CHECK_EQ(drfs_known_lookup(path, "s3://b at http://h", &got, &line),
		 1);
	CHECK(memcmp(got.repo_id, a.repo_id, 16) == 0 && got.encrypted);
	CHECK_EQ(drfs_known_record(path, "s3://b at http://h", &b, true), 0);
	CHECK_EQ(drfs_known_lookup(path, "s3://b at http://h", &got, &line),
		 1);
	CHECK(memcmp(got.repo_id, b.repo_id, 16) == 0 && !got.encrypted);
	/* replacing one record leaves the others */
	CHECK_EQ(drfs_known_lookup(path, "file:///x\n%y", &got, &line), 1);

	/* private whatever the umask */
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/cfg/drfs", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0700);
}

static void test_secret(void)
{
	char *s = drfs_secret_strdup("a passphrase");
	CHECK(s && strcmp(s, "a passphrase") == 0);
	drfs_secret_free(s);
	drfs_secret_free(NULL);
	/* larger than a page, zero-filled */
	uint8_t *p = drfs_secret_alloc(10000);
	CHECK(p != NULL);
	size_t nz = 0;
	for (size_t i = 0; p && i < 10000; i++)
		nz += p[i] != 0;
	CHECK_EQ(nz, 0);
	if (p)
		memset(p, 0xa5, 10000);
	drfs_secret_free(p);
}

int main(void)
{
	char dir[] = "/tmp/test_known.XXXXXX", cmd[64];
	test_init("test_known");
	umask(022);
	if (!mkdtemp(dir))
		return 1;
	test_parse();
	test_file(dir);
	test_secret();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return test_done("test_known");
}
