/* SPDX-License-Identifier: MIT */
/* test_base.c - the id set (struct drfs_idset) against a plain array. */
#include "test.h"

#include "drfs/base.h"

static void idset(void)
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

int main(void)
{
	test_init("test_base");
	idset();
	return test_done("test_base");
}
