/* SPDX-License-Identifier: MIT */
/*
 * fuzz_glog.c - drfs_index_glog_parse() (now.log, the group commit's log
 * in the cache directory, replayed at the next mount): the first 8 bytes
 * are the group number asked for, the rest the log (its header first). A
 * header of another format is refused before any record. Every operation
 * passed on lies inside the log, is well formed, and the valid prefix
 * ends at a record boundary inside the input.
 */
#include <assert.h>

#include "drfs/index.h"
#include "fuzz.h"

struct span {
	const uint8_t *p;
	size_t len;
	uint64_t ops;
};

static int op_cb(void *ud, char op, unsigned db, const void *key,
		 size_t klen, const void *val, size_t vlen)
{
	struct span *s = ud;
	const uint8_t *k = key, *v = val;
	assert(op == 'P' || op == 'D' || op == 'X');
	assert(db < DRFS__DB_COUNT);
	assert(op == 'X' ? klen == 0 && vlen == 0 : klen >= 1 && klen <= 511);
	assert(op != 'D' || vlen == 0);
	assert(k >= s->p && k + klen <= s->p + s->len);
	assert(v >= s->p && v + vlen <= s->p + s->len);
	s->ops++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	struct span s = { .p = data + 8, .len = size - 8 };
	size_t end = SIZE_MAX;
	uint64_t recs = UINT64_MAX;
	int e = drfs_index_glog_parse(data + 8, size - 8, drfs_get_le64(data),
				      op_cb, &s, &end, &recs);
	/* -EPROTO: a header of another format, nothing passed on */
	assert(e == 0 || e == -EPROTO);
	assert(end <= size - 8);
	assert(e == 0 || (end == 0 && recs == 0 && s.ops == 0));
	/* records follow the 24-byte header, each at least 24 bytes */
	assert(recs == 0 ? end == 0 || end == 24 : end >= 24 + 24 * recs);
	return 0;
}
