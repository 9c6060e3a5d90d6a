/* SPDX-License-Identifier: MIT */
/*
 * test_backend.c - conformance of the backend vtable against a real S3
 * server. Needs DRFS_TEST_S3_ENDPOINT (e.g. http://127.0.0.1:17480),
 * DRFS_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; exits 77
 * (skipped) without them. tests/s3/start-rgw.sh starts a RadosGW to run it.
 *
 * Optional: DRFS_TEST_S3_BENCH=N times N x 16 MiB puts and gets on 8
 * threads; DRFS_TEST_S3_QUICK=1 skips the multipart round trip.
 */
#include "drfs/backend.h"
#include "drfs/s3.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>

static const char *endpoint, *bucket;
static char url[256];

static int open_s3(const char *u, bool create, struct drfs_backend **ret)
{
	struct drfs_backend_opts o = {
	    .endpoint = endpoint,
	    .path_style = -1,
	    .connections = 8,
	    .retries = -1,
	    .create = create,
	};
	return drfs_backend_s3_open(u, &o, ret);
}

/* ---- a tiny parallel-for ------------------------------------------------ */

struct par {
	struct drfs_backend *b;
	size_t n;
	atomic_size_t next;
	atomic_int fails;
	int (*fn)(struct par *p, size_t i);
	void *arg;
};

static void *par_worker(void *ud)
{
	struct par *p = ud;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		if (p->fn(p, i) < 0)
			atomic_fetch_add(&p->fails, 1);
	return NULL;
}

static int par_run(struct par *p, int threads)
{
	pthread_t t[16];

	atomic_store(&p->next, 0);
	atomic_store(&p->fails, 0);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, par_worker, p);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return atomic_load(&p->fails);
}

/* ---- cases --------------------------------------------------------------- */

static void test_basic(struct drfs_backend *b)
{
	uint8_t data[5000];
	struct drfs_buf out;
	uint64_t size = 0;

	test_fill(data, sizeof(data));
	drfs_buf_init(&out, 1u << 20);
	CHECK_EQ(drfs_backend_put(b, "data/ab/obj1", data, sizeof(data), 0), 0);
	CHECK_EQ(drfs_backend_get(b, "data/ab/obj1", 0, UINT64_MAX, &out), 0);
	CHECK(out.len == sizeof(data) && !memcmp(out.p, data, sizeof(data)));
	/* ranges append, clip at the end, and past the end give nothing */
	drfs_buf_reset(&out);
	CHECK_EQ(drfs_backend_get(b, "data/ab/obj1", 100, 50, &out), 0);
	CHECK(out.len == 50 && !memcmp(out.p, data + 100, 50));
	CHECK_EQ(drfs_backend_get(b, "data/ab/obj1", 4990, 100, &out), 0);
	CHECK(out.len == 60 && !memcmp(out.p + 50, data + 4990, 10));
	CHECK_EQ(drfs_backend_get(b, "data/ab/obj1", 4000, UINT64_MAX, &out),
		 0);
	CHECK(out.len == 1060 && !memcmp(out.p + 60, data + 4000, 1000));
	drfs_buf_reset(&out);
	CHECK_EQ(drfs_backend_get(b, "data/ab/obj1", 5000, 10, &out), 0);
	CHECK_EQ(out.len, 0);
	CHECK_EQ(drfs_backend_get(b, "data/ab/obj1", 1u << 30, 10, &out), 0);
	CHECK_EQ(out.len, 0);
	/* -E2BIG when the caller's max is too small, out unchanged */
	struct drfs_buf small;
	drfs_buf_init(&small, 100);
	CHECK_EQ(drfs_backend_get(b, "data/ab/obj1", 0, UINT64_MAX, &small),
		 -E2BIG);
	CHECK_EQ(small.len, 0);
	drfs_buf_release(&small);

	CHECK_EQ(drfs_backend_head(b, "data/ab/obj1", &size), 0);
	CHECK_EQ(size, sizeof(data));
	CHECK_EQ(drfs_backend_head(b, "data/ab/missing", &size), -ENOENT);
	CHECK_EQ(drfs_backend_get(b, "data/ab/missing", 0, UINT64_MAX, &out),
		 -ENOENT);
	const char *e = drfs_backend_last_error(b);
	CHECK(e && strstr(e, "data/ab/missing"));
	/* empty objects */
	CHECK_EQ(drfs_backend_put(b, "empty", "", 0, 0), 0);
	CHECK_EQ(drfs_backend_head(b, "empty", &size), 0);
	CHECK_EQ(size, 0);
	drfs_buf_reset(&out);
	CHECK_EQ(drfs_backend_get(b, "empty", 0, UINT64_MAX, &out), 0);
	CHECK_EQ(out.len, 0);
	/* overwrite */
	CHECK_EQ(drfs_backend_put(b, "data/ab/obj1", "x", 1, 0), 0);
	CHECK_EQ(drfs_backend_head(b, "data/ab/obj1", &size), 0);
	CHECK_EQ(size, 1);
	/* delete, delete again */
	CHECK_EQ(drfs_backend_del(b, "data/ab/obj1"), 0);
	CHECK_EQ(drfs_backend_del(b, "data/ab/obj1"), 0);
	CHECK_EQ(drfs_backend_head(b, "data/ab/obj1", &size), -ENOENT);
	CHECK_EQ(drfs_backend_del(b, "empty"), 0);
	/* names that need encoding */
	const char *odd = "keys/a b+c=d&e%f~g$h(i)é";
	CHECK_EQ(drfs_backend_put(b, odd, "odd", 3, 0), 0);
	drfs_buf_reset(&out);
	CHECK_EQ(drfs_backend_get(b, odd, 0, UINT64_MAX, &out), 0);
	CHECK(out.len == 3 && !memcmp(out.p, "odd", 3));
	CHECK_EQ(drfs_backend_del(b, odd), 0);
	/* bad names */
	CHECK_EQ(drfs_backend_put(b, "/abs", "x", 1, 0), -EINVAL);
	CHECK_EQ(drfs_backend_put(b, "a/../b", "x", 1, 0), -EINVAL);
	drfs_buf_release(&out);
}

static void test_create_only(struct drfs_backend *b)
{
	CHECK_EQ(
	    drfs_backend_put(b, "locks/l1", "one", 3, DRFS_PUT_CREATE_ONLY), 0);
	CHECK_EQ(
	    drfs_backend_put(b, "locks/l1", "two", 3, DRFS_PUT_CREATE_ONLY),
	    -EEXIST);
	/* our own bytes there (a lost answer): success, nothing replaced */
	CHECK_EQ(
	    drfs_backend_put(b, "locks/l1", "one", 3, DRFS_PUT_CREATE_ONLY), 0);
	CHECK_EQ(
	    drfs_backend_put(b, "locks/l1", "onf", 3, DRFS_PUT_CREATE_ONLY),
	    -EEXIST);
	struct drfs_buf out;
	drfs_buf_init(&out, 100);
	CHECK_EQ(drfs_backend_get(b, "locks/l1", 0, UINT64_MAX, &out), 0);
	CHECK(out.len == 3 && !memcmp(out.p, "one", 3));
	drfs_buf_release(&out);
	CHECK_EQ(drfs_backend_del(b, "locks/l1"), 0);
	CHECK_EQ(
	    drfs_backend_put(b, "locks/l1", "three", 5, DRFS_PUT_CREATE_ONLY),
	    0);
	CHECK_EQ(drfs_backend_del(b, "locks/l1"), 0);
}

static int put_one(struct par *p, size_t i)
{
	char name[64], body[64];
	int n = snprintf(body, sizeof(body), "object %zu", i);
	snprintf(name, sizeof(name), "list/%c/%05zu", 'a' + (int)(i % 3), i);
	int r = drfs_backend_put(p->b, name, body, (size_t)n, 0);
	if (r < 0)
		fprintf(stderr, "put %s: %d %s\n", name, r,
			drfs_backend_last_error(p->b));
	return r;
}

struct seen {
	pthread_mutex_t lock;
	uint8_t *hit;
	size_t n, bad;
};

static int on_list(const char *name, uint64_t size, void *ud)
{
	struct seen *s = ud;
	unsigned long i;
	char c;

	if (sscanf(name, "list/%c/%05lu", &c, &i) != 2 || i >= s->n ||
	    c != 'a' + (int)(i % 3)) {
		s->bad++;
		return 0;
	}
	char body[64];
	if ((uint64_t)snprintf(body, sizeof(body), "object %lu", i) != size)
		s->bad++;
	s->hit[i]++;
	return 0;
}

static void test_list(struct drfs_backend *b, size_t n)
{
	struct par p = {.b = b, .n = n, .fn = put_one};
	struct seen s = {.n = n};
	double t0 = drfs_now_mono();

	CHECK_EQ(par_run(&p, 8), 0);
	fprintf(stderr, "  %zu puts on 8 threads: %.2f s\n", n,
		drfs_now_mono() - t0);
	s.hit = calloc(n, 1);
	CHECK_EQ(drfs_backend_list(b, "list/", on_list, &s), 0);
	size_t once = 0;
	for (size_t i = 0; i < n; i++)
		once += s.hit[i] == 1;
	CHECK_EQ(once, n);
	CHECK_EQ(s.bad, 0);
	/* a narrower prefix */
	memset(s.hit, 0, n);
	CHECK_EQ(drfs_backend_list(b, "list/b/", on_list, &s), 0);
	once = 0;
	for (size_t i = 0; i < n; i++)
		once += s.hit[i] == (i % 3 == 1);
	CHECK_EQ(once, n);
	/* del_many in batches of 1000, with a missing name among them */
	char **names = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		names[i] = malloc(32);
		snprintf(names[i], 32, "list/%c/%05zu", 'a' + (int)(i % 3), i);
	}
	names[n] = strdup("list/never-there");
	t0 = drfs_now_mono();
	CHECK_EQ(drfs_backend_del_many(b, (const char *const *)names, n + 1),
		 0);
	fprintf(stderr, "  del_many of %zu: %.2f s\n", n + 1,
		drfs_now_mono() - t0);
	memset(s.hit, 0, n);
	s.bad = 0;
	CHECK_EQ(drfs_backend_list(b, "list/", on_list, &s), 0);
	once = 0;
	for (size_t i = 0; i < n; i++)
		once += s.hit[i];
	CHECK_EQ(once, 0);
	for (size_t i = 0; i <= n; i++)
		free(names[i]);
	free(names);
	free(s.hit);
}

static int stop_cb(const char *name, uint64_t size, void *ud)
{
	(void)name;
	(void)size;
	(*(int *)ud)++;
	return -ECANCELED;
}

static void test_list_stop(struct drfs_backend *b)
{
	int calls = 0;

	CHECK_EQ(drfs_backend_put(b, "stop/1", "a", 1, 0), 0);
	CHECK_EQ(drfs_backend_put(b, "stop/2", "b", 1, 0), 0);
	CHECK_EQ(drfs_backend_list(b, "stop/", stop_cb, &calls), -ECANCELED);
	CHECK_EQ(calls, 1);
	const char *names[] = {"stop/1", "stop/2"};
	CHECK_EQ(drfs_backend_del_many(b, names, 2), 0);
}

static void test_multipart(struct drfs_backend *b)
{
	size_t len = (80u << 20) + 12345;
	uint8_t *data = malloc(len);
	struct drfs_buf out;
	uint64_t size = 0;

	test_fill(data, len);
	drfs_buf_init(&out, 256u << 20);
	double t0 = drfs_now_mono();
	int r = drfs_backend_put(b, "data/mp/big", data, len, 0);
	CHECK_EQ(r, 0);
	if (r < 0)
		fprintf(stderr, "multipart: %s\n", drfs_backend_last_error(b));
	CHECK_EQ(drfs_backend_head(b, "data/mp/big", &size), 0);
	CHECK_EQ(size, len);
	CHECK_EQ(drfs_backend_get(b, "data/mp/big", 0, UINT64_MAX, &out), 0);
	CHECK(out.len == len && !memcmp(out.p, data, len));
	drfs_buf_reset(&out);
	CHECK_EQ(drfs_backend_get(b, "data/mp/big", (16u << 20) - 10, 20, &out),
		 0);
	CHECK(out.len == 20 && !memcmp(out.p, data + (16u << 20) - 10, 20));
	fprintf(stderr, "  multipart %zu bytes round trip: %.2f s\n", len,
		drfs_now_mono() - t0);
	/* create-only on a multipart-sized object that exists: the same
	 * bytes succeed, one byte changed is refused and nothing replaced */
	CHECK_EQ(
	    drfs_backend_put(b, "data/mp/big", data, len, DRFS_PUT_CREATE_ONLY),
	    0);
	data[len / 2] ^= 1;
	CHECK_EQ(
	    drfs_backend_put(b, "data/mp/big", data, len, DRFS_PUT_CREATE_ONLY),
	    -EEXIST);
	drfs_buf_reset(&out);
	CHECK_EQ(drfs_backend_get(b, "data/mp/big", len / 2, 1, &out), 0);
	CHECK(out.len == 1 && out.p[0] == (data[len / 2] ^ 1));
	CHECK_EQ(drfs_backend_del(b, "data/mp/big"), 0);
	drfs_buf_release(&out);
	free(data);
}

static uint8_t *bench_data;
#define BENCH_SIZE (16u << 20)

static int bench_put(struct par *p, size_t i)
{
	char name[64];
	snprintf(name, sizeof(name), "bench/%03zu", i);
	int r = drfs_backend_put(p->b, name, bench_data, BENCH_SIZE, 0);
	if (r < 0)
		fprintf(stderr, "put %s: %s\n", name,
			drfs_backend_last_error(p->b));
	return r;
}

static int bench_get(struct par *p, size_t i)
{
	char name[64];
	struct drfs_buf out;
	snprintf(name, sizeof(name), "bench/%03zu", i);
	drfs_buf_init(&out, BENCH_SIZE);
	int r = drfs_backend_get(p->b, name, 0, UINT64_MAX, &out);
	if (r >= 0 &&
	    (out.len != BENCH_SIZE || memcmp(out.p, bench_data, BENCH_SIZE)))
		r = -EBADMSG;
	if (r < 0)
		fprintf(stderr, "get %s: %d %s\n", name, r,
			drfs_backend_last_error(p->b));
	drfs_buf_release(&out);
	return r;
}

static void bench(struct drfs_backend *b, size_t n)
{
	struct par p = {.b = b, .n = n, .fn = bench_put};

	bench_data = malloc(BENCH_SIZE);
	test_fill(bench_data, BENCH_SIZE);
	double t0 = drfs_now_mono();
	CHECK_EQ(par_run(&p, 8), 0);
	double t1 = drfs_now_mono();
	p.fn = bench_get;
	CHECK_EQ(par_run(&p, 8), 0);
	double t2 = drfs_now_mono();
	fprintf(stderr,
		"bench: %zu x 16 MiB on 8 threads: put %.1f MiB/s, get %.1f "
		"MiB/s\n",
		n, n * 16.0 / (t1 - t0), n * 16.0 / (t2 - t1));
	char **names = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		names[i] = malloc(32);
		snprintf(names[i], 32, "bench/%03zu", i);
	}
	CHECK_EQ(drfs_backend_del_many(b, (const char *const *)names, n), 0);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(bench_data);
}

static void test_open_errors(void)
{
	struct drfs_backend *b = NULL;
	char u[300], *saved = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
	const char *e;

	/* a missing bucket */
	snprintf(u, sizeof(u), "s3://drfs-no-such-bucket-%llx",
		 (unsigned long long)(test_rand() & 0xffffffff));
	CHECK_EQ(open_s3(u, false, &b), -ENOENT);
	CHECK(!b);
	e = drfs_s3_open_error();
	CHECK(e && strstr(e, "bucket does not exist"));
	if (e)
		fprintf(stderr, "  missing bucket: %s\n", e);

	/* a wrong secret */
	setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789", 1);
	CHECK_EQ(open_s3(url, false, &b), -EACCES);
	e = drfs_s3_open_error();
	CHECK(e && strstr(e, "credentials refused"));
	CHECK(e && !strstr(e, "wrong-secret"));
	if (e)
		fprintf(stderr, "  wrong secret: %s\n", e);
	setenv("AWS_SECRET_ACCESS_KEY", saved, 1);

	/* nothing listening */
	struct drfs_backend_opts o = {
	    .endpoint = "http://127.0.0.1:1", .path_style = -1, .retries = 0};
	CHECK_EQ(drfs_backend_s3_open(url, &o, &b), -ECONNREFUSED);
	e = drfs_s3_open_error();
	CHECK(e && strstr(e, "connection refused"));
	/* not an s3 URL */
	CHECK_EQ(drfs_backend_s3_open("s3://x", &o, &b), -EINVAL);
	free(saved);
}

int main(void)
{
	struct drfs_backend *b = NULL;
	int r;

	endpoint = getenv("DRFS_TEST_S3_ENDPOINT");
	bucket = getenv("DRFS_TEST_S3_BUCKET");
	if (!bucket)
		bucket = "drfs-unit-backend"; /* created by the open below */
	if (!endpoint || !*endpoint || !bucket || !*bucket ||
	    !getenv("AWS_ACCESS_KEY_ID") || !getenv("AWS_SECRET_ACCESS_KEY")) {
		fprintf(stderr, "test_backend: DRFS_TEST_S3_ENDPOINT, "
				"DRFS_TEST_S3_BUCKET and AWS credentials not "
				"set; skipped\n");
		return 77;
	}
	test_init("test_backend");
	snprintf(url, sizeof(url), "s3://%s/t%llx", bucket,
		 (unsigned long long)(test_rand() & 0xffffffffff));

	r = open_s3(url, true, &b);
	CHECK_EQ(r, 0);
	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", url, drfs_s3_open_error());
		return test_done("test_backend");
	}
	fprintf(stderr, "  %s\n", b->display);
	CHECK(strstr(b->display, url) == b->display);

	test_basic(b);
	test_create_only(b);
	test_list_stop(b);
	test_list(b, getenv("DRFS_TEST_S3_QUICK") ? 300 : 1100);
	if (!getenv("DRFS_TEST_S3_QUICK"))
		test_multipart(b);
	const char *bn = getenv("DRFS_TEST_S3_BENCH");
	if (bn && atoi(bn) > 0)
		bench(b, (size_t)atoi(bn));
	test_open_errors();
	drfs_backend_free(b);
	return test_done("test_backend");
}
