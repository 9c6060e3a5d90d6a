/* SPDX-License-Identifier: MIT */
/* testhook.c - the library's test hooks (testhook.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drfs/testhook.h"

void drfs_test_crash_point(const char *step)
{
	const char *c = getenv("DRFS_TEST_CRASH_AT");
	if (c && strcmp(c, step) == 0)
		_exit(137);
}

unsigned char drfs_test_scrypt_log2n(unsigned char log2n)
{
	const char *v = getenv("DRFS_TEST_SCRYPT_LOG2N");
	int n = v ? atoi(v) : 0;
	return n >= 10 && n <= 22 ? (unsigned char)n : log2n;
}

size_t drfs_test_tree_spill(size_t bytes)
{
	const char *v = getenv("DRFS_TEST_TREE_SPILL");
	long long n = v ? atoll(v) : 0;
	return n >= 1 ? (size_t)n : bytes;
}

void drfs_test_sleep(const char *var)
{
	const char *v = getenv(var);
	double s = v ? atof(v) : 0;
	if (s > 0)
		usleep((useconds_t)(s * 1e6));
}

double drfs_test_group_sec(double sec)
{
	const char *v = getenv("DRFS_TEST_GROUP_SEC");
	double s = v ? atof(v) : 0;
	return s >= 0.001 && s <= 600 ? s : sec;
}
