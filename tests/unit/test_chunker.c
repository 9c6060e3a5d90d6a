/* SPDX-License-Identifier: MIT */
/*
 * test_chunker.c - FastCDC: parameter validation, chunk bounds, coverage,
 * determinism, restart equivalence, resynchronisation after an insert,
 * average sizes, drfs_chunk_fd with a window of the file's size, a size
 * histogram and a throughput figure (stderr).
 */
#include <unistd.h>

#include "drfs/buf.h"
#include "drfs/chunker.h"
#include "drfs/crypto.h"
#include "drfs/limits.h"
#include "test.h"

#define BIG (64u << 20)

static uint8_t seed[32];

static void fill_fast(uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		drfs_put_le64(p + i, test_rand());
	for (; i < n; i++)
		p[i] = (uint8_t)test_rand();
}

/* Chunk ends of p[0..len), the way a stream reader with a max-sized window
 * would see them when window is true, else with the whole rest every time. */
static size_t *chunk_all(const struct drfs_chunker *c, const uint8_t *p,
			 size_t len, bool window, size_t *ret_n)
{
	size_t cap = len / c->p.min + 2, n = 0, off = 0;
	size_t *ends = malloc(cap * sizeof(*ends));

	while (off < len) {
		size_t rest = len - off;
		size_t win = window ? MIN(rest, c->p.max) : rest;
		size_t l = drfs_chunker_cut(c, p + off, win);
		if (l == 0 || l > rest || n == cap)
			break; /* reported by the caller's coverage check */
		off += l;
		ends[n++] = off;
	}
	*ret_n = n;
	return ends;
}

static void init_ok(struct drfs_chunker *c, uint32_t min, uint32_t avg,
		    uint32_t max, uint8_t norm)
{
	struct drfs_chunker_params p = { min, avg, max, norm };
	CHECK_EQ(drfs_chunker_init(c, &p, seed), 0);
}

static void test_params(void)
{
	static const struct {
		struct drfs_chunker_params p;
		int want;
	} v[] = {
		{ { DRFS_CHUNK_MIN_DEFAULT, DRFS_CHUNK_AVG_DEFAULT,
		    DRFS_CHUNK_MAX_DEFAULT, DRFS_CHUNK_NORM_DEFAULT },
		  0 },
		{ { 4096, 8192, 16384, 0 }, 0 },
		{ { 4096, 8192, 16u << 20, 3 }, 0 },
		{ { 1u << 20, 8u << 20, 16u << 20, 3 }, 0 },
		{ { 4095, 8192, 16384, 2 }, -EINVAL },	   /* min too small */
		{ { 4096, 8192, (16u << 20) + 1, 2 }, -EINVAL }, /* max big */
		{ { 8192, 8192, 16384, 2 }, -EINVAL },	   /* min == avg */
		{ { 4096, 16384, 16384, 2 }, -EINVAL },	   /* avg == max */
		{ { 65536, 32768, 1u << 20, 2 }, -EINVAL },   /* min > avg */
		{ { 4096, 12288, 65536, 2 }, -EINVAL },	   /* avg not 2^n */
		{ { 4096, 8192, 16384, 4 }, -EINVAL },	   /* norm */
		{ { 0, 0, 0, 0 }, -EINVAL },
		{ { 4096, 1u << 31, 0xffffffffu, 0 }, -EINVAL },
	};
	struct drfs_chunker c;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		memset(&c, 0xa5, sizeof(c));
		int r = drfs_chunker_init(&c, &v[i].p, seed);
		if (r != v[i].want) {
			fprintf(stderr, "params case %zu: %d\n", i, r);
			CHECK(false);
		}
		if (r < 0)
			/* untouched */
			CHECK(c.mask_s == 0xa5a5a5a5a5a5a5a5ull);
	}

	/* Masks: b +- norm bits, the easy one a subset-sized sibling. */
	init_ok(&c, 256 << 10, 1 << 20, 4 << 20, 2);
	CHECK_EQ(__builtin_popcountll(c.mask_s), 22);
	CHECK_EQ(__builtin_popcountll(c.mask_l), 18);
	CHECK(!(c.mask_s & 0xffff) && !(c.mask_l & 0xffff));
	/* The gear table is HMAC(seed, "drfs-gear" || le32(i)). */
	uint8_t msg[13] = "drfs-gear", mac[32];
	drfs_put_le32(msg + 9, 200);
	drfs_hmac_sha256(seed, 32, msg, sizeof(msg), mac);
	CHECK(c.gear[200] == drfs_get_le64(mac));
}

static void test_small(void)
{
	struct drfs_chunker c;
	uint8_t *p = calloc(1, 1 << 20);

	init_ok(&c, 4096, 8192, 65536, 2);
	CHECK_EQ(drfs_chunker_cut(&c, p, 0), 0);
	CHECK_EQ(drfs_chunker_cut(&c, p, 1), 1);
	CHECK_EQ(drfs_chunker_cut(&c, p, 4096), 4096);
	size_t l = drfs_chunker_cut(&c, p, 4097);
	CHECK(l >= 4096 && l <= 4097);
	/* Zeros: whatever the table, never beyond max, never before min. */
	l = drfs_chunker_cut(&c, p, 1 << 20);
	CHECK(l > 4096 && l <= 65536);
	free(p);
}

/* Bounds, exact coverage, determinism, and the window/whole equivalence. */
static void test_bounds(const uint8_t *p, size_t len)
{
	struct drfs_chunker c;
	size_t n, n2, n3, bad = 0;

	init_ok(&c, DRFS_CHUNK_MIN_DEFAULT, DRFS_CHUNK_AVG_DEFAULT,
		DRFS_CHUNK_MAX_DEFAULT, DRFS_CHUNK_NORM_DEFAULT);
	size_t *e = chunk_all(&c, p, len, false, &n);
	CHECK(n > 0 && e[n - 1] == len);
	for (size_t i = 0; i < n; i++) {
		size_t sz = e[i] - (i ? e[i - 1] : 0);
		if (sz > c.p.max || (i + 1 < n && sz < c.p.min))
			bad++;
		if (sz == 0)
			bad++;
	}
	CHECK_EQ(bad, 0);

	size_t *e2 = chunk_all(&c, p, len, false, &n2);
	CHECK(n2 == n && !memcmp(e, e2, n * sizeof(*e)));
	size_t *e3 = chunk_all(&c, p, len, true, &n3);
	CHECK(n3 == n && !memcmp(e, e3, n * sizeof(*e)));

	/* Rolled forward equals restarted, from several boundaries. */
	for (size_t k = 0; k + 1 < n; k += 1 + n / 7) {
		size_t off = e[k], m;
		size_t *r = chunk_all(&c, p + off, len - off, false, &m);
		CHECK_EQ(m, n - k - 1);
		for (size_t i = 0; i < m && i + k + 1 < n; i++)
			if (r[i] + off != e[i + k + 1])
				bad++;
		free(r);
	}
	CHECK_EQ(bad, 0);

	/* Another seed gives other boundaries. */
	struct drfs_chunker c2 = c;
	uint8_t seed2[32];
	memcpy(seed2, seed, 32);
	seed2[0] ^= 1;
	CHECK_EQ(drfs_chunker_init(&c2, &c.p, seed2), 0);
	free(e2);
	e2 = chunk_all(&c2, p, len, false, &n2);
	CHECK(n2 != n || memcmp(e, e2, n * sizeof(*e)) != 0);

	free(e);
	free(e2);
	free(e3);
}

/* drfs_chunk_fd's chunks as "offset length" lines */
static int note_chunk(void *ud, const uint8_t *p, size_t len, uint64_t off)
{
	(void)p;
	char line[64];
	snprintf(line, sizeof(line), "%llu %zu\n", (unsigned long long)off,
		 len);
	return drfs_buf_append(ud, line, strlen(line));
}

/*
 * A window of the file's size (what now/ gives a file smaller than 2 * max)
 * cuts the same chunks as the full 2 * max window, holes included.
 */
static void test_fd_window(const uint8_t *p)
{
	struct drfs_chunker c;
	init_ok(&c, 4096, 8192, 65536, 2);
	const size_t sizes[] = { 1, 4095, 5000, 40000, 100000, 131071 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int hole = 0; hole < 2; hole++) {
			size_t size = sizes[i];
			FILE *f = tmpfile();
			CHECK(f != NULL);
			if (!f)
				return;
			int fd = fileno(f);
			if (hole && size > 3 * 4096) /* data, hole, data */
				CHECK(pwrite(fd, p, 4096, 0) == 4096 &&
				      pwrite(fd, p + 8192, size - 8192, 8192) ==
					      (ssize_t)(size - 8192));
			else
				CHECK(pwrite(fd, p, size, 0) == (ssize_t)size);
			struct drfs_buf got[2];
			for (int k = 0; k < 2; k++) {
				struct drfs_chunk_fd cf = {
					.chunker = &c,
					.win_cap = k ? size : 2 * 65536,
					.emit = note_chunk,
					.ud = &got[k],
				};
				uint64_t last = 0;
				drfs_buf_init(&got[k], 1 << 20);
				cf.win = malloc(cf.win_cap);
				CHECK_EQ(drfs_chunk_fd(&cf, fd, size, &last), 0);
				CHECK_EQ(last, size);
				free(cf.win);
			}
			CHECK(got[0].len > 0 && got[0].len == got[1].len &&
			      !memcmp(got[0].p, got[1].p, got[0].len));
			drfs_buf_release(&got[0]);
			drfs_buf_release(&got[1]);
			fclose(f);
		}
	}
}

static void test_insert(const uint8_t *p, size_t len)
{
	struct drfs_chunker c;
	uint8_t *q = malloc(len + 8);
	size_t at = 1000 + test_rand() % 100000, n, m;

	init_ok(&c, DRFS_CHUNK_MIN_DEFAULT, DRFS_CHUNK_AVG_DEFAULT,
		DRFS_CHUNK_MAX_DEFAULT, DRFS_CHUNK_NORM_DEFAULT);
	memcpy(q, p, at);
	fill_fast(q + at, 8);
	memcpy(q + at + 8, p + at, len - at);

	size_t *a = chunk_all(&c, p, len, false, &n);
	size_t *b = chunk_all(&c, q, len + 8, false, &m);
	/* Count chunks of q that are not chunks of p (shifted by 8). */
	size_t i = 0, changed = 0;
	for (size_t j = 0; j < m; j++) {
		size_t start = j ? b[j - 1] : 0;
		bool same = false;
		while (i < n && a[i] + 8 < b[j])
			i++;
		if (start >= at + 8 && i < n && a[i] + 8 == b[j] &&
		    (i ? a[i - 1] : 0) + 8 == start)
			same = true;
		if (!same)
			changed++;
	}
	fprintf(stderr, "insert 8 bytes at %zu: %zu of %zu chunks changed\n",
		at, changed, m);
	CHECK(changed >= 1 && changed <= 2);
	free(a);
	free(b);
	free(q);
}

/*
 * Mean chunk size over enough chunks (several gear seeds when the buffer
 * holds few) that the check is not flaky: with ~500 chunks the mean's
 * standard deviation is ~2% of avg; FastCDC with min = avg/4 and level 2
 * lands near 1.15 x avg.
 */
static void test_average(const uint8_t *p, size_t len, uint32_t min,
			 uint32_t avg, uint32_t max, bool histogram)
{
	size_t seeds = 1 + 512ull * avg / len, total = 0, chunks = 0;
	size_t nb = 4 * max / avg, *h = calloc(nb + 1, sizeof(*h));
	struct drfs_chunker c;
	uint8_t s[32];

	memcpy(s, seed, sizeof(s));
	for (size_t k = 0; k < seeds; k++) {
		struct drfs_chunker_params cp = { min, avg, max,
						  DRFS_CHUNK_NORM_DEFAULT };
		size_t n;

		s[0] = (uint8_t)k;
		CHECK_EQ(drfs_chunker_init(&c, &cp, s), 0);
		size_t *e = chunk_all(&c, p, len, false, &n);
		/* Leave out the final (short) chunk. */
		total += e[n - 2];
		chunks += n - 1;
		for (size_t i = 0; i + 1 < n; i++) {
			size_t sz = e[i] - (i ? e[i - 1] : 0);
			h[MIN(sz / (avg / 4), nb)]++;
		}
		free(e);
	}
	double mean = (double)total / (double)chunks;
	fprintf(stderr,
		"avg %7u (min %u max %u): %zu chunks (%zu seeds), "
		"mean %.0f (%.2fx)\n",
		avg, min, max, chunks, seeds, mean, mean / avg);
	CHECK(mean >= 0.75 * avg && mean <= 1.25 * avg);

	if (histogram) {
		/* Buckets of avg/4 from 0 to max. */
		fprintf(stderr, "chunk sizes (%zu chunks):\n", chunks);
		for (size_t k = 0; k <= nb; k++) {
			if (!h[k])
				continue;
			fprintf(stderr, "  %5zu-%5zu KiB %5zu ",
				k * avg / 4 >> 10,
				((k + 1) * avg / 4 >> 10) - 1, h[k]);
			for (size_t j = 0; j < h[k] * 100 / chunks; j++)
				fputc('#', stderr);
			fputc('\n', stderr);
		}
	}
	free(h);
}

static void bench(const uint8_t *p, size_t len)
{
	struct drfs_chunker c;
	double best = 0;

	init_ok(&c, DRFS_CHUNK_MIN_DEFAULT, DRFS_CHUNK_AVG_DEFAULT,
		DRFS_CHUNK_MAX_DEFAULT, DRFS_CHUNK_NORM_DEFAULT);
	for (int round = 0; round < 3; round++) {
		double t = drfs_now_mono();
		size_t off = 0;
		while (off < len)
			off += drfs_chunker_cut(&c, p + off, len - off);
		t = drfs_now_mono() - t;
		best = MAX(best, len / t / 1e6);
	}
	/*
	 * Min-skipping means ~1/4 of each chunk is never hashed; this is the
	 * rate over the input, as the writer sees it.
	 */
	fprintf(stderr, "chunker throughput (defaults): %.0f MB/s\n", best);
}

int main(void)
{
	test_init("test_chunker");
	CHECK_EQ(drfs_crypto_init(), 0);
	fill_fast(seed, sizeof(seed));

	uint8_t *p = malloc(BIG);
	fill_fast(p, BIG);

	test_params();
	test_small();
	test_bounds(p, BIG);
	test_bounds(p, 3 * DRFS_CHUNK_MAX_DEFAULT + 12345);
	test_insert(p, BIG);
	test_fd_window(p);
	test_average(p, BIG, DRFS_CHUNK_MIN_DEFAULT, DRFS_CHUNK_AVG_DEFAULT,
		     DRFS_CHUNK_MAX_DEFAULT, true);
	test_average(p, BIG, 16 << 10, 64 << 10, 256 << 10, false);
	test_average(p, BIG, 64 << 10, 256 << 10, 1 << 20, false);
	test_average(p, BIG, 256 << 10, 1 << 20, 4 << 20, false);
	bench(p, BIG);
	free(p);
	return test_done("test_chunker");
}
