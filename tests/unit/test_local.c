/* SPDX-License-Identifier: MIT */
/*
 * test_local.c - backend conformance over the vtable, on a temp directory:
 * put/get/range/head/list/del, create-only, limits, names, temp files,
 * concurrent puts; plus drfs_backend_open's URL dispatch.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/backend.h"
#include "drfs/limits.h"
#include "test.h"

static char root[256]; /* the temp dir */
static char repo[300]; /* root/repo, the backend under test */

static int rm_cb(const char *path, const struct stat *st, int flag,
		 struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Read a whole object into a fresh string (NUL-terminated), or NULL. */
static char *get_str(struct drfs_backend *b, const char *name, int *ret)
{
	struct drfs_buf buf;
	char *s = NULL;

	drfs_buf_init(&buf, 1 << 20);
	*ret = drfs_backend_get(b, name, 0, UINT64_MAX, &buf);
	if (*ret >= 0 && drfs_buf_u8(&buf, 0) >= 0)
		s = (char *)drfs_buf_steal(&buf, NULL);
	drfs_buf_release(&buf);
	return s;
}

static bool has(struct drfs_backend *b, const char *name, const char *want)
{
	int r;
	char *s = get_str(b, name, &r);
	bool ok = s && strcmp(s, want) == 0;
	if (!ok)
		fprintf(stderr, "  %s: r=%d got '%s' want '%s'\n", name, r,
			s ? s : "(null)", want);
	free(s);
	return ok;
}

struct names {
	char all[64][128];
	size_t n;
	uint64_t sizes;
	int stop_after;
};

static int collect(const char *name, uint64_t size, void *userdata)
{
	struct names *ns = userdata;

	if (ns->n < ARRAY_SIZE(ns->all))
		snprintf(ns->all[ns->n], sizeof(ns->all[0]), "%s", name);
	ns->n++;
	ns->sizes += size;
	if (ns->stop_after && (int)ns->n >= ns->stop_after)
		return -ECANCELED;
	return 0;
}

static bool listed(const struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n && i < ARRAY_SIZE(ns->all); i++)
		if (!strcmp(ns->all[i], name))
			return true;
	return false;
}

static size_t count(struct drfs_backend *b, const char *prefix)
{
	struct names ns = { .n = 0 };
	int r = drfs_backend_list(b, prefix, collect, &ns);
	CHECK_EQ(r, 0);
	return ns.n;
}

static void put_ok(struct drfs_backend *b, const char *name, const char *s)
{
	int r = drfs_backend_put(b, name, s, strlen(s), 0);
	if (r != 0)
		fprintf(stderr, "  put %s: %d\n", name, r);
	CHECK_EQ(r, 0);
}

static void test_open(void)
{
	struct drfs_backend *b = NULL;
	char path[300];

	snprintf(path, sizeof(path), "%s/missing", root);
	CHECK_EQ(drfs_backend_local_open(path, false, &b), -ENOENT);
	CHECK(b == NULL);
	snprintf(path, sizeof(path), "%s/a/b/c", root);
	CHECK_EQ(drfs_backend_local_open(path, true, &b), 0);
	CHECK(b && !strcmp(b->display, path));
	drfs_backend_free(b);
	b = NULL;
	CHECK_EQ(drfs_backend_local_open(path, false, &b), 0);
	drfs_backend_free(b);
	drfs_backend_free(NULL);

	/* A file where the directory should be. */
	snprintf(path, sizeof(path), "%s/file", root);
	FILE *f = fopen(path, "w");
	fclose(f);
	b = NULL;
	CHECK_EQ(drfs_backend_local_open(path, false, &b), -ENOTDIR);
	CHECK_EQ(drfs_backend_local_open(path, true, &b), -ENOTDIR);
	CHECK(b == NULL);
	CHECK_EQ(drfs_backend_local_open("", true, &b), -EINVAL);

	/* URL dispatch (s3:// is the S3 backend's to test). */
	struct drfs_backend_opts o = { .path_style = -1, .retries = -1 };
	char url[320];
	snprintf(url, sizeof(url), "file://%s/a/b/c", root);
	CHECK_EQ(drfs_backend_open(url, &o, &b), 0);
	CHECK(b && !strcmp(b->display, url + strlen("file://")));
	drfs_backend_free(b);
	snprintf(path, sizeof(path), "%s/a/b", root);
	CHECK_EQ(drfs_backend_open(path, NULL, &b), 0);
	drfs_backend_free(b);
	snprintf(url, sizeof(url), "file://%s/new", root);
	CHECK_EQ(drfs_backend_open(url, &o, &b), -ENOENT);
	o.create = true;
	CHECK_EQ(drfs_backend_open(url, &o, &b), 0);
	drfs_backend_free(b);
	b = NULL;
	CHECK_EQ(drfs_backend_open("ftp://host/x", &o, &b), -EINVAL);
	CHECK_EQ(drfs_backend_open("gs://bucket", &o, &b), -EINVAL);
	CHECK_EQ(drfs_backend_open("file://host/x", &o, &b), -EINVAL);
	CHECK_EQ(drfs_backend_open("", &o, &b), -EINVAL);
	CHECK_EQ(drfs_backend_open(NULL, &o, &b), -EINVAL);
	CHECK(b == NULL);
}

static void test_basic(struct drfs_backend *b)
{
	struct drfs_buf buf;
	uint64_t size = 7;
	int r;

	/* Missing objects. */
	drfs_buf_init(&buf, 1 << 20);
	CHECK_EQ(drfs_backend_get(b, "config", 0, UINT64_MAX, &buf), -ENOENT);
	CHECK_EQ(drfs_backend_get(b, "data/zz/nothing", 0, 10, &buf), -ENOENT);
	CHECK_EQ(drfs_backend_head(b, "config", &size), -ENOENT);
	CHECK_EQ(size, 7);
	CHECK_EQ(buf.len, 0);

	/* put, get, head. */
	put_ok(b, "config", "hello world");
	CHECK(has(b, "config", "hello world"));
	CHECK_EQ(drfs_backend_head(b, "config", &size), 0);
	CHECK_EQ(size, 11);
	/* Overwrite. */
	put_ok(b, "config", "second");
	CHECK(has(b, "config", "second"));
	/* Nested, directories created on demand. */
	put_ok(b, "data/ab/0123", "pack");
	CHECK(has(b, "data/ab/0123", "pack"));
	/* A directory is not an object. */
	CHECK_EQ(drfs_backend_head(b, "data/ab", &size), -ENOENT);
	CHECK_EQ(drfs_backend_get(b, "data", 0, 1, &buf), -ENOENT);
	/* Through an object as if it were a directory. */
	CHECK_EQ(drfs_backend_get(b, "config/x", 0, 1, &buf), -ENOENT);
	/* Empty object. */
	CHECK_EQ(drfs_backend_put(b, "locks/empty", "", 0, 0), 0);
	CHECK_EQ(drfs_backend_head(b, "locks/empty", &size), 0);
	CHECK_EQ(size, 0);
	CHECK_EQ(drfs_backend_get(b, "locks/empty", 0, UINT64_MAX, &buf), 0);
	CHECK_EQ(buf.len, 0);

	/* Ranges. */
	put_ok(b, "data/cd/range", "0123456789");
	drfs_buf_reset(&buf);
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 2, 3, &buf), 0);
	CHECK(buf.len == 3 && !memcmp(buf.p, "234", 3));
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 8, 100, &buf), 0);
	CHECK(buf.len == 5 && !memcmp(buf.p, "23489", 5)); /* appended */
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 10, 5, &buf), 0);
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 1000, UINT64_MAX, &buf),
		 0);
	CHECK_EQ(buf.len, 5);
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 0, 0, &buf), 0);
	CHECK_EQ(buf.len, 5);
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 9, UINT64_MAX, &buf), 0);
	CHECK(buf.len == 6 && buf.p[5] == '9');
	drfs_buf_release(&buf);

	/* Output limit: -E2BIG, buffer untouched; a fitting range works. */
	drfs_buf_init(&buf, 9);
	CHECK_EQ(drfs_buf_append(&buf, "x", 1), 0);
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 0, UINT64_MAX, &buf),
		 -E2BIG);
	CHECK_EQ(buf.len, 1);
	CHECK_EQ(drfs_backend_get(b, "data/cd/range", 2, UINT64_MAX, &buf), 0);
	CHECK(buf.len == 9 && !memcmp(buf.p, "x23456789", 9));
	drfs_buf_release(&buf);

	/* Create-only. */
	CHECK_EQ(drfs_backend_put(b, "keys/k1", "old", 3, DRFS_PUT_CREATE_ONLY),
		 0);
	CHECK_EQ(drfs_backend_put(b, "keys/k1", "new", 3, DRFS_PUT_CREATE_ONLY),
		 -EEXIST);
	CHECK(has(b, "keys/k1", "old"));
	/* the same bytes again: an earlier attempt's, success */
	CHECK_EQ(drfs_backend_put(b, "keys/k1", "old", 3, DRFS_PUT_CREATE_ONLY),
		 0);
	CHECK_EQ(drfs_backend_put(b, "keys/k1", "ol", 2, DRFS_PUT_CREATE_ONLY),
		 -EEXIST);
	CHECK_EQ(drfs_backend_put(b, "keys/k1", "oldx", 4,
				  DRFS_PUT_CREATE_ONLY), -EEXIST);
	CHECK(has(b, "keys/k1", "old"));
	CHECK_EQ(drfs_backend_same_bytes(b, "keys/k1", "old", 3), 1);
	CHECK_EQ(drfs_backend_same_bytes(b, "keys/k1", "new", 3), 0);
	CHECK_EQ(drfs_backend_same_bytes(b, "keys/none", "old", 3), -ENOENT);
	CHECK_EQ(drfs_backend_put(b, "keys/k1", "new", 3, 0), 0);
	CHECK(has(b, "keys/k1", "new"));

	/* Bad names. */
	static const char *const bad[] = {
		"",	   "/abs",   "a/../b", "..",   "a//b", "a/",
		"./a",	   "a/./b",  ".tmp-x", "d/.tmp-1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (drfs_backend_put(b, bad[i], "x", 1, 0) != -EINVAL ||
		    drfs_backend_head(b, bad[i], &size) != -EINVAL ||
		    drfs_backend_del(b, bad[i]) != -EINVAL) {
			fprintf(stderr, "  bad name '%s' accepted\n", bad[i]);
			CHECK(false);
		}
	}
	char longname[DRFS_OBJECT_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_EQ(drfs_backend_put(b, longname, "x", 1, 0), -EINVAL);

	/* Delete. */
	CHECK_EQ(drfs_backend_del(b, "keys/k1"), 0);
	CHECK_EQ(drfs_backend_head(b, "keys/k1", &size), -ENOENT);
	CHECK_EQ(drfs_backend_del(b, "keys/k1"), 0);
	CHECK_EQ(drfs_backend_del(b, "nodir/at/all"), 0);
	CHECK_EQ(drfs_backend_del(b, "config/under-a-file"), 0);
	/* A directory is no object: deleting it is deleting nothing. */
	r = drfs_backend_del(b, "data/ab");
	CHECK_EQ(r, 0);
	CHECK(has(b, "data/ab/0123", "pack"));
}

/* Delete every object, through list + del_many. */
static void wipe(struct drfs_backend *b)
{
	struct names ns;
	const char *p[ARRAY_SIZE(ns.all)];

	memset(&ns, 0, sizeof(ns));
	CHECK_EQ(drfs_backend_list(b, "", collect, &ns), 0);
	CHECK(ns.n <= ARRAY_SIZE(ns.all));
	for (size_t i = 0; i < ns.n && i < ARRAY_SIZE(ns.all); i++)
		p[i] = ns.all[i];
	CHECK_EQ(drfs_backend_del_many(b, p, MIN(ns.n, ARRAY_SIZE(p))), 0);
	CHECK_EQ(count(b, ""), 0);
}

static void test_list(struct drfs_backend *b)
{
	static const char *const names[] = {
		"config",	"keys/k1",	"data/ab/x1", "data/ab/x2",
		"data/cd/y1",	"snapshots/s1", "index/i1",  "datax",
		"data/abc/z1",	"data/a",
	};
	struct names ns;
	char path[600];

	wipe(b);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		put_ok(b, names[i], names[i]);
	/* A stray temp file (crash leftover) and a stray symlink. */
	snprintf(path, sizeof(path), "%s/data/ab/.tmp-deadbeef", repo);
	FILE *f = fopen(path, "w");
	fputs("junk", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.tmp-0011", repo);
	f = fopen(path, "w");
	fclose(f);

	memset(&ns, 0, sizeof(ns));
	CHECK_EQ(drfs_backend_list(b, "", collect, &ns), 0);
	CHECK_EQ(ns.n, ARRAY_SIZE(names));
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		CHECK(listed(&ns, names[i]));
	uint64_t total = 0;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		total += strlen(names[i]);
	CHECK_EQ(ns.sizes, total);

	static const struct {
		const char *prefix;
		size_t n;
	} v[] = {
		{ "data/", 5 },	   { "data/ab/", 2 }, { "data/ab", 3 },
		{ "data/a", 4 },   { "data", 6 },     { "d", 6 },
		{ "data/ab/x1", 1 }, { "data/ab/x", 2 }, { "data/ab/x3", 0 },
		{ "keys/", 1 },	   { "keys/k", 1 },   { "nothing/", 0 },
		{ "nothing/deeper/", 0 }, { "config", 1 }, { "config/", 0 },
		{ "c", 1 },	   { "snapshots/", 1 }, { "../", 0 },
		{ "data//", 0 },   { "data/.tmp-", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		size_t n = count(b, v[i].prefix);
		if (n != v[i].n) {
			fprintf(stderr, "  list '%s': %zu, want %zu\n",
				v[i].prefix, n, v[i].n);
			CHECK(false);
		}
	}
	memset(&ns, 0, sizeof(ns));
	CHECK_EQ(drfs_backend_list(b, "data/a", collect, &ns), 0);
	CHECK(listed(&ns, "data/a") && listed(&ns, "data/abc/z1") &&
	      listed(&ns, "data/ab/x1"));

	/* The callback's error stops the walk and comes back unchanged. */
	memset(&ns, 0, sizeof(ns));
	ns.stop_after = 2;
	CHECK_EQ(drfs_backend_list(b, "", collect, &ns), -ECANCELED);
	CHECK_EQ(ns.n, 2);

	/* del_many falls back to del. */
	const char *dm[] = { "data/ab/x1", "data/ab/x2", "missing/x" };
	CHECK_EQ(drfs_backend_del_many(b, dm, ARRAY_SIZE(dm)), 0);
	CHECK_EQ(count(b, "data/ab/"), 0);
	CHECK_EQ(drfs_backend_del_many(b, dm, 0), 0);
}

struct worker {
	struct drfs_backend *b;
	int id;
	int wins;
	int errors;
};

#define PER_THREAD 60

static void *put_worker(void *arg)
{
	struct worker *w = arg;
	char name[64], body[64];

	for (int i = 0; i < PER_THREAD; i++) {
		/* Few directories, so threads race to create them. */
		snprintf(name, sizeof(name), "data/%02x/t%d-%d", i % 8, w->id,
			 i);
		snprintf(body, sizeof(body), "body %d %d", w->id, i);
		if (drfs_backend_put(w->b, name, body, strlen(body), 0) != 0)
			w->errors++;
		/* Everyone races for the same create-only names. */
		snprintf(name, sizeof(name), "locks/race-%d", i);
		int r = drfs_backend_put(w->b, name, body, strlen(body),
					 DRFS_PUT_CREATE_ONLY);
		if (r == 0)
			w->wins++;
		else if (r != -EEXIST)
			w->errors++;
		/* And overwrite one shared name. */
		if (drfs_backend_put(w->b, "snapshots/shared", body,
				     strlen(body), 0) != 0)
			w->errors++;
	}
	return NULL;
}

static void test_concurrent(struct drfs_backend *b)
{
	struct worker w[4];
	pthread_t t[4];
	int wins = 0;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .b = b, .id = i };
		CHECK_EQ(pthread_create(&t[i], NULL, put_worker, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(w[i].errors, 0);
		wins += w[i].wins;
	}
	CHECK_EQ(wins, PER_THREAD);
	for (int id = 0; id < 4; id++) {
		for (int i = 0; i < PER_THREAD; i++) {
			char name[64], body[64];
			snprintf(name, sizeof(name), "data/%02x/t%d-%d", i % 8,
				 id, i);
			snprintf(body, sizeof(body), "body %d %d", id, i);
			CHECK(has(b, name, body));
		}
	}
	CHECK_EQ(count(b, "locks/race-"), PER_THREAD);
	int r;
	char *s = get_str(b, "snapshots/shared", &r);
	CHECK(s && !strncmp(s, "body ", 5));
	free(s);
}

/* No ".tmp-" file anywhere but the two planted by test_list. */
static int tmp_files;
static int tmp_cb(const char *path, const struct stat *st, int flag,
		  struct FTW *f)
{
	(void)st;
	(void)flag;
	if (!strncmp(path + f->base, ".tmp-", 5))
		tmp_files++;
	return 0;
}

int main(void)
{
	struct drfs_backend *b = NULL;

	test_init("test_local");
	snprintf(root, sizeof(root), "%s/drfs-test-local-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_open();

	snprintf(repo, sizeof(repo), "%s/repo", root);
	CHECK_EQ(drfs_backend_local_open(repo, true, &b), 0);
	if (b) {
		test_basic(b);
		test_list(b);
		test_concurrent(b);
		nftw(repo, tmp_cb, 16, FTW_PHYS);
		CHECK_EQ(tmp_files, 2);
		drfs_backend_free(b);
	}
	rm_rf(root);
	return test_done("test_local");
}
