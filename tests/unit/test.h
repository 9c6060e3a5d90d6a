/* SPDX-License-Identifier: MIT */
/*
 * test.h - the unit-test harness: CHECK macros that report file:line and
 * count failures, and a seeded PRNG (DRFS_TEST_SEED replays a run; the seed
 * is printed at start). Exit status: 0 all passed, 1 any failed.
 */
#ifndef DRFS_TEST_H
#define DRFS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int test_failures;
static uint64_t test_rng_state;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			test_failures++;                                       \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);            \
		if (_a != _b) {                                                \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, " \
					"%s == %lld\n",                        \
				__FILE__, __LINE__, #a, _a, #b, _b);           \
			test_failures++;                                       \
		}                                                              \
	} while (0)

/* splitmix64 */
static inline uint64_t test_rand(void)
{
	uint64_t z = (test_rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void test_fill(void *p, size_t n)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)test_rand();
}

static inline void test_init(const char *name)
{
	const char *s = getenv("DRFS_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	test_rng_state = seed;
	fprintf(stderr, "%s: DRFS_TEST_SEED=%" PRIu64 "\n", name, seed);
}

static inline int test_done(const char *name)
{
	if (test_failures)
		fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
	else
		fprintf(stderr, "%s: ok\n", name);
	return test_failures ? 1 : 0;
}

#endif
