/* SPDX-License-Identifier: MIT */
/*
 * fuzz_facts.c - drfs_facts_decode() (what a mount answers for
 * user.drfs.facts); where it succeeds, the re-encoding must decode to the
 * same figures, and rendering them must succeed.
 */
#include <assert.h>

#include "drfs/facts.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_facts *f = malloc(sizeof(*f)), *g = malloc(sizeof(*g));
	struct drfs_buf b;

	if (!f || !g || drfs_facts_decode(data, size, f) < 0) {
		free(f);
		free(g);
		return 0;
	}
	assert(f->n_hosts <= DRFS_FACTS_HOSTS_MAX);
	drfs_buf_init(&b, 4 * DRFS_FACTS_TEXT_MAX);
	assert(drfs_facts_encode(f, &b) == 0);
	assert(drfs_facts_decode(b.p, b.len, g) == 0);
	assert(g->n_hosts == f->n_hosts && g->snapshots == f->snapshots &&
	       g->mounted == f->mounted && g->have_drill == f->have_drill);
	b.len = 0;
	assert(drfs_facts_prometheus(f, &b) == 0);
	drfs_buf_release(&b);
	free(f);
	free(g);
	return 0;
}
