/* SPDX-License-Identifier: MIT */
/*
 * test_replica.c - the replica wrapper (backend/replica.c) over two local
 * directories: synchronous puts reach both sides, reads fail over on a
 * missing object and on a primary that is down, get_alternate, seeding of
 * config/keys, refusal of two different repositories, async catch-up with
 * snapshots last, deletes on both sides.
 */
#include <stdio.h>
#include <unistd.h>

#include "drfs/log.h"
#include "drfs/replica.h"
#include "test.h"

static char root[64];

static struct drfs_backend *local(const char *sub)
{
	char path[128];
	struct drfs_backend *b = NULL;
	snprintf(path, sizeof(path), "%s/%s", root, sub);
	CHECK(drfs_backend_local_open(path, true, &b) == 0);
	return b;
}

static bool has(struct drfs_backend *b, const char *name)
{
	uint64_t size;
	return drfs_backend_head(b, name, &size) == 0;
}

static int get_str(struct drfs_backend *b, const char *name, char *out)
{
	struct drfs_buf buf;
	drfs_buf_init(&buf, 1024);
	int e = drfs_backend_get(b, name, 0, UINT64_MAX, &buf);
	if (e >= 0) {
		memcpy(out, buf.p, buf.len);
		out[buf.len] = 0;
	}
	drfs_buf_release(&buf);
	return e;
}

int main(void)
{
	struct drfs_backend *w, *p, *r, *side_p, *side_r;
	struct drfs_replica_stats st;
	char s[1024];

	test_init("test_replica");
	drfs_log_max_level = DRFS_LOG_ERR; /* the failover warning */
	snprintf(root, sizeof(root), "/tmp/test_replica.XXXXXX");
	CHECK(mkdtemp(root) != NULL);

	/* sync: puts reach both sides */
	p = local("p");
	r = local("r");
	CHECK(drfs_backend_replica_open(p, r, 0, &w) == 0);
	CHECK(drfs_backend_is_replica(w));
	CHECK(drfs_backend_replica_sides(w, &side_p, &side_r) == 0);
	CHECK(drfs_backend_put(w, "config", "cfg", 3, DRFS_PUT_CREATE_ONLY) == 0);
	CHECK(drfs_backend_put(w, "keys/k1", "key", 3, DRFS_PUT_CREATE_ONLY) == 0);
	CHECK(has(side_p, "config") && has(side_r, "config"));
	CHECK_EQ(drfs_backend_put(w, "config", "x", 1, DRFS_PUT_CREATE_ONLY),
		 -EEXIST);
	/* an object only the replica has: read from it */
	CHECK(drfs_backend_put(side_r, "data/aa/only-r", "rr", 2, 0) == 0);
	CHECK(get_str(w, "data/aa/only-r", s) == 0 && !strcmp(s, "rr"));
	drfs_backend_replica_get_stats(w, &st);
	CHECK_EQ(st.failovers, 1);
	CHECK(!st.primary_down);
	CHECK_EQ(get_str(w, "data/aa/nowhere", s), -ENOENT);
	/* the alternate copy */
	CHECK(drfs_backend_put(side_p, "data/bb/x", "bad", 3, 0) == 0);
	CHECK(drfs_backend_put(side_r, "data/bb/x", "good", 4, 0) == 0);
	CHECK(get_str(w, "data/bb/x", s) == 0 && !strcmp(s, "bad"));
	struct drfs_buf b;
	drfs_buf_init(&b, 1024);
	CHECK(drfs_backend_get_alternate(w, "data/bb/x", 1, 2, &b) == 0);
	CHECK(b.len == 2 && !memcmp(b.p, "oo", 2));
	drfs_buf_release(&b);
	CHECK_EQ(drfs_backend_get_alternate(side_p, "data/bb/x", 0, 1, &b),
		 -EOPNOTSUPP);
	/* deletes go to both */
	CHECK(drfs_backend_del(w, "data/bb/x") == 0);
	CHECK(!has(side_p, "data/bb/x") && !has(side_r, "data/bb/x"));
	CHECK(drfs_backend_replica_seed(w) == 0); /* same config: fine */
	drfs_backend_free(w);

	/* a primary that is down: reads from the replica, puts fail */
	CHECK(drfs_backend_unavailable_new("dead", -ECONNREFUSED, &p) == 0);
	CHECK(drfs_backend_replica_open(p, local("r"), 0, &w) == 0);
	CHECK(get_str(w, "config", s) == 0 && !strcmp(s, "cfg"));
	CHECK(has(w, "keys/k1"));
	CHECK_EQ(drfs_backend_put(w, "data/cc/y", "y", 1, 0), -ECONNREFUSED);
	drfs_backend_replica_get_stats(w, &st);
	CHECK(st.primary_down);
	CHECK(st.failovers >= 2);
	drfs_backend_free(w);

	/* seeding an empty side; refusing two repositories */
	CHECK(drfs_backend_replica_open(local("p"), local("fresh"), 0, &w) == 0);
	CHECK(drfs_backend_replica_seed(w) == 0);
	drfs_backend_free(w);
	r = local("fresh");
	CHECK(get_str(r, "config", s) == 0 && !strcmp(s, "cfg"));
	CHECK(has(r, "keys/k1"));
	CHECK(drfs_backend_put(r, "config2", "", 0, 0) == 0);
	drfs_backend_free(r);
	r = local("other");
	CHECK(drfs_backend_put(r, "config", "other", 5, 0) == 0);
	CHECK(drfs_backend_replica_open(local("p"), r, 0, &w) == 0);
	CHECK_EQ(drfs_backend_replica_seed(w), -EINVAL);
	CHECK(strstr(drfs_backend_last_error(w), "different") != NULL);
	drfs_backend_free(w);

	/* async: the primary only, then a catch-up copies the rest */
	CHECK(drfs_backend_replica_open(local("p"), local("async"),
					DRFS_REPLICA_ASYNC, &w) == 0);
	CHECK(drfs_backend_replica_sides(w, &side_p, &side_r) == 0);
	CHECK(drfs_backend_put(w, "data/dd/z", "zz", 2, 0) == 0);
	CHECK(drfs_backend_put(w, "snapshots/s1", "s", 1, 0) == 0);
	CHECK(drfs_backend_put(w, "locks/l1", "l", 1, 0) == 0);
	int n = drfs_backend_replica_catchup(w);
	CHECK(n >= 0); /* the background thread may have copied some */
	CHECK(has(side_r, "data/dd/z") && has(side_r, "snapshots/s1"));
	CHECK(!has(side_r, "locks/l1"));
	CHECK_EQ(drfs_backend_replica_catchup(w), 0);
	drfs_backend_free(w);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	CHECK(system(cmd) == 0);
	return test_done("test_replica");
}
