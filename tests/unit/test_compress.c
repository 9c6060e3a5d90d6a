/* SPDX-License-Identifier: MIT */
/*
 * test_compress.c - zstd round trips, the "not worth it" rule, and hostile
 * frames (corrupt, truncated, wrong declared size).
 */
#include "drfs/compress.h"
#include "drfs/limits.h"
#include "test.h"

/* Text-like compressible data: words from a small vocabulary. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char *const w[] = { "alpha ", "beta ",  "gamma ",
					 "delta ", "drfs ",  "chunk ",
					 "pack\n", "index " };
	size_t i = 0;

	while (i < n) {
		const char *s = w[test_rand() % ARRAY_SIZE(w)];
		size_t l = MIN(strlen(s), n - i);
		memcpy(p + i, s, l);
		i += l;
	}
}

static void roundtrip(struct drfs_zctx *z, const uint8_t *p, size_t n,
		      int want)
{
	struct drfs_buf c, d;

	drfs_buf_init(&c, DRFS_BLOB_STORED_MAX);
	drfs_buf_init(&d, DRFS_BLOB_MAX);
	CHECK_EQ(drfs_buf_append(&c, "hdr", 3), 0);
	int r = drfs_compress(z, p, n, &c);
	/* want -1: either 0 or 1 is fine. */
	if (want < 0 && (r == 0 || r == 1))
		want = r;
	if (r != want)
		fprintf(stderr, "compress %zu bytes: %d\n", n, r);
	CHECK_EQ(r, want);
	if (r == 1) {
		CHECK(c.len - 3 <= n - n / 32);
		CHECK_EQ(drfs_decompress(z, c.p + 3, c.len - 3, n, &d), 0);
		CHECK(d.len == n && (n == 0 || memcmp(d.p, p, n) == 0));
		/* NULL context works too. */
		drfs_buf_reset(&d);
		CHECK_EQ(drfs_decompress(NULL, c.p + 3, c.len - 3, n, &d), 0);
		CHECK(d.len == n && (n == 0 || memcmp(d.p, p, n) == 0));
	} else {
		CHECK_EQ(c.len, 3);
	}
	drfs_buf_release(&c);
	drfs_buf_release(&d);
}

static void test_roundtrip(void)
{
	struct drfs_zctx *z = drfs_zctx_new(3);
	size_t n = 4 << 20;
	uint8_t *p = malloc(n);

	CHECK(z != NULL);
	fill_text(p, n);
	roundtrip(z, p, n, 1);
	roundtrip(z, p, 1000, 1);
	memset(p, 0, n);
	roundtrip(z, p, n, 1);
	roundtrip(z, p, 64, 1);
	/* Random data does not compress: 0, nothing appended. */
	test_fill(p, n);
	roundtrip(z, p, n, 0);
	roundtrip(z, p, 100, 0);
	/* Too small to save anything. */
	roundtrip(z, p, 0, 0);
	roundtrip(z, p, 1, 0);
	roundtrip(z, (const uint8_t *)"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 32,
		  1);
	/* Mixed: half random, half zero: compresses. */
	memset(p + n / 2, 0, n / 2);
	roundtrip(z, p, n, 1);
	/* Reuse after all of that; other levels. */
	drfs_zctx_free(z);
	int levels[] = { -5, 1, 19, 1000 };
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		z = drfs_zctx_new(levels[i]);
		CHECK(z != NULL);
		fill_text(p, 200000);
		roundtrip(z, p, 200000, 1);
		drfs_zctx_free(z);
	}
	/* Absurd levels are clamped, not refused (the fastest barely packs). */
	z = drfs_zctx_new(-1000000);
	CHECK(z != NULL);
	memset(p, 0, 100000);
	roundtrip(z, p, 100000, -1);
	drfs_zctx_free(z);
	drfs_zctx_free(NULL);
	free(p);
}

static void test_limits(void)
{
	struct drfs_zctx *z = drfs_zctx_new(3);
	uint8_t p[10000];
	struct drfs_buf c, d;

	memset(p, 'x', sizeof(p));
	/* Output buffer too small for the compressed form: -E2BIG. */
	drfs_buf_init(&c, 5);
	CHECK_EQ(drfs_compress(z, p, sizeof(p), &c), -E2BIG);
	CHECK_EQ(c.len, 0);
	drfs_buf_release(&c);

	drfs_buf_init(&c, 1 << 20);
	CHECK_EQ(drfs_compress(z, p, sizeof(p), &c), 1);
	drfs_buf_init(&d, sizeof(p) - 1);
	CHECK_EQ(drfs_decompress(z, c.p, c.len, sizeof(p), &d), -E2BIG);
	CHECK_EQ(d.len, 0);
	drfs_buf_release(&d);
	/* raw_len beyond the blob limit is refused before anything else. */
	drfs_buf_init(&d, (size_t)DRFS_BLOB_MAX * 2);
	CHECK_EQ(drfs_decompress(z, c.p, c.len, DRFS_BLOB_MAX + 1ull, &d),
		 -EBADMSG);
	CHECK_EQ(d.len, 0);
	drfs_buf_release(&d);
	drfs_buf_release(&c);
	drfs_zctx_free(z);
}

static void test_hostile(void)
{
	struct drfs_zctx *z = drfs_zctx_new(3);
	size_t n = 20000;
	uint8_t *p = malloc(n);
	struct drfs_buf c, d;
	int bad = 0;

	fill_text(p, n);
	drfs_buf_init(&c, 1 << 20);
	drfs_buf_init(&d, DRFS_BLOB_MAX);
	CHECK_EQ(drfs_compress(z, p, n, &c), 1);
	uint8_t *f = malloc(c.len);
	size_t flen = c.len;
	memcpy(f, c.p, flen);

	/* Wrong raw_len, either way. */
	CHECK_EQ(drfs_decompress(z, f, flen, n - 1, &d), -EBADMSG);
	CHECK_EQ(drfs_decompress(z, f, flen, n + 1, &d), -EBADMSG);
	CHECK_EQ(drfs_decompress(z, f, flen, 0, &d), -EBADMSG);
	CHECK_EQ(d.len, 0);

	/* Every truncation, and trailing garbage. */
	for (size_t l = 0; l < flen; l++) {
		drfs_buf_reset(&d);
		if (drfs_decompress(z, f, l, n, &d) != -EBADMSG || d.len)
			bad++;
	}
	CHECK_EQ(bad, 0);
	c.len = flen;
	CHECK_EQ(drfs_buf_append(&c, "\0", 1), 0);
	CHECK_EQ(drfs_decompress(z, c.p, c.len, n, &d), -EBADMSG);
	/* Two frames back to back are not one blob. */
	drfs_buf_reset(&c);
	CHECK_EQ(drfs_buf_append(&c, f, flen), 0);
	CHECK_EQ(drfs_buf_append(&c, f, flen), 0);
	CHECK_EQ(drfs_decompress(z, c.p, c.len, n, &d), -EBADMSG);
	CHECK_EQ(drfs_decompress(z, NULL, 0, 0, &d), -EBADMSG);

	/*
	 * Every single-bit flip is caught (frame structure, declared size or
	 * content checksum) or is harmless: some bits (the frame header's
	 * unused bit, slack in entropy tables) do not change the output. Never
	 * different bytes, never a crash.
	 */
	int harmless = 0;
	for (size_t bit = 0; bit < flen * 8; bit++) {
		f[bit / 8] ^= 1u << (bit % 8);
		drfs_buf_reset(&d);
		int r = drfs_decompress(z, f, flen, n, &d);
		if (r == 0 && d.len == n && !memcmp(d.p, p, n))
			harmless++;
		else if (r != -EBADMSG || d.len)
			bad++;
		f[bit / 8] ^= 1u << (bit % 8);
	}
	CHECK_EQ(bad, 0);
	fprintf(stderr, "bit flips: %zu caught, %d harmless\n",
		flen * 8 - harmless, harmless);
	/* Random garbage never crashes and never passes. */
	for (int i = 0; i < 2000; i++) {
		size_t l = test_rand() % 200;
		test_fill(f, l);
		drfs_buf_reset(&d);
		if (drfs_decompress(z, f, l, test_rand() % 1000, &d) !=
		    -EBADMSG)
			bad++;
	}
	CHECK_EQ(bad, 0);
	/* The context still works after all those errors. */
	drfs_buf_reset(&d);
	CHECK_EQ(drfs_decompress(z, c.p, flen, n, &d), 0);
	CHECK(d.len == n && !memcmp(d.p, p, n));

	free(f);
	free(p);
	drfs_buf_release(&c);
	drfs_buf_release(&d);
	drfs_zctx_free(z);
}

int main(void)
{
	test_init("test_compress");
	test_roundtrip();
	test_limits();
	test_hostile();
	return test_done("test_compress");
}
