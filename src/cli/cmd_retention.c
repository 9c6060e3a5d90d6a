/* SPDX-License-Identifier: MIT */
/*
 * cmd_retention.c - prune, forget, hold, release, policy.
 */
#include <stdio.h>
#include <stdlib.h>

#include "drfs/cliint.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/prune.h"

static bool have_keep_options(const struct cli *c)
{
	return c->keep_last >= 0 || c->keep_hourly >= 0 ||
	       c->keep_daily >= 0 || c->keep_weekly >= 0 ||
	       c->keep_monthly >= 0 || c->keep_yearly >= 0 ||
	       c->keep_within || c->n_keep_tags;
}

/* The policy of the command line; -EINVAL (after a message) if invalid. */
int cli_policy(const struct cli *c, struct drfs_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->last = c->keep_last > 0 ? (uint32_t)c->keep_last : 0;
	p->hourly = c->keep_hourly > 0 ? (uint32_t)c->keep_hourly : 0;
	p->daily = c->keep_daily > 0 ? (uint32_t)c->keep_daily : 0;
	p->weekly = c->keep_weekly > 0 ? (uint32_t)c->keep_weekly : 0;
	p->monthly = c->keep_monthly > 0 ? (uint32_t)c->keep_monthly : 0;
	p->yearly = c->keep_yearly > 0 ? (uint32_t)c->keep_yearly : 0;
	if (c->keep_within &&
	    (drfs_parse_duration(c->keep_within, &p->within) < 0 ||
	     p->within <= 0)) {
		log_err("invalid --keep-within \"%s\" (want e.g. 7d, 36h)",
			c->keep_within);
		return -EINVAL;
	}
	size_t off = 0;
	for (size_t i = 0; i < c->n_keep_tags; i++) {
		size_t l = strlen(c->keep_tags[i]);
		if (l == 0 || l > DRFS_TAG_MAX ||
		    off + l + 1 > sizeof(p->tags)) {
			log_err("invalid --keep-tag \"%s\"", c->keep_tags[i]);
			return -EINVAL;
		}
		memcpy(p->tags + off, c->keep_tags[i], l + 1);
		off += l + 1;
		p->n_tags++;
	}
	return 0;
}

/* "5%", "5" (percent) or "0.05"; -EINVAL. */
static int parse_max_unused(const char *s, double *ret)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -EINVAL;
	if (*end == '%') {
		end++;
		v /= 100;
	} else if (v >= 1) {
		v /= 100;
	}
	if (*end || v > 1)
		return -EINVAL;
	*ret = v;
	return 0;
}

struct verdicts {
	unsigned group_by;
	size_t group; /* of the last line printed; SIZE_MAX: none yet */
};

/* One line per snapshot, under a line naming each group. */
static void print_verdict(void *userdata, const struct drfs_snap_info *s,
			  const struct drfs_policy_verdict *v)
{
	struct verdicts *pv = userdata;
	char hex[DRFS_ID_HEX_LEN + 1], why[128];
	if (pv->group_by && v->group != pv->group) {
		char g[DRFS_HOST_MAX + DRFS_PATH_MAX + DRFS_TAGS_BUF + 64];
		printf("snapshots of %s:\n",
		       drfs_group_format(pv->group_by, &s->snap, g,
					 sizeof(g)));
	}
	pv->group = v->group;
	drfs_id_hex(&s->id, hex);
	if (v->keep)
		printf("%-20s %.8s  keep (%s)\n", s->folder, hex,
		       drfs_policy_reasons(v->reasons, why));
	else
		printf("%-20s %.8s  remove\n", s->folder, hex);
}

/*
 * The options that choose and group the snapshots a policy applies to:
 * --group-by (default host,paths), --host, --path, --tag. -EINVAL after a
 * message.
 */
static int policy_scope(struct cli *c, struct drfs_prune_opts *o,
			struct drfs_snap_filter *f, struct verdicts *pv)
{
	if (c->group_by) {
		if (drfs_group_by_parse(c->group_by, &o->group_by) < 0) {
			log_err("invalid --group-by \"%s\" (want a "
				"comma-separated subset of host, paths, tags; "
				"\"\" for one group of all snapshots)",
				c->group_by);
			return -EINVAL;
		}
		o->group_given = true;
	}
	pv->group_by = o->group_given ? o->group_by : DRFS_GROUP_DEFAULT;
	pv->group = SIZE_MAX;
	*f = (struct drfs_snap_filter){ .host = c->host, .path = c->path,
					.tags = c->tags,
					.n_tags = c->n_tags };
	if (c->host || c->path || c->n_tags)
		o->filter = f;
	o->verdict = print_verdict;
	o->verdict_data = pv;
	return 0;
}

int cmd_prune(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_policy pol;
	struct drfs_prune_opts o = { 0 };
	struct drfs_prune_result res;
	struct drfs_snap_filter f;
	struct verdicts pv;
	char b1[32], b2[32];

	if (need_args(c, 1, "REPO [--keep-last N] [--keep-hourly N] "
			    "[--keep-daily N] [--keep-weekly N] "
			    "[--keep-monthly N] [--keep-yearly N] "
			    "[--keep-within D] [--keep-tag T] [--group-by G] "
			    "[--host H] [--path P] [--tag T] [--dry-run] "
			    "[--max-unused P%]") < 0)
		return EXIT_USAGE;
	if (policy_scope(c, &o, &f, &pv) < 0)
		return EXIT_USAGE;
	if (have_keep_options(c)) {
		if (cli_policy(c, &pol) < 0)
			return EXIT_USAGE;
		o.policy = &pol;
	}
	o.gc.max_unused = -1;
	if (c->max_unused && parse_max_unused(c->max_unused,
					      &o.gc.max_unused) < 0) {
		log_err("invalid --max-unused \"%s\" (want e.g. 5%%)",
			c->max_unused);
		return EXIT_USAGE;
	}
	o.gc.dry_run = c->dry_run;
	o.gc.report = c->quiet ? NULL : report_line;
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	int e = drfs_prune(r, &o, &res);
	drfs_repo_free(r);
	fflush(stdout);
	if (e == -EBUSY) {
		log_err("repository is locked: %s", res.why);
		return 1;
	}
	if (e < 0) {
		log_err("prune failed: %s", res.why[0] ? res.why
						       : drfs_strerror(e));
		return 1;
	}
	if (!c->quiet)
		fprintf(stderr,
			"%s%zu snapshot(s) kept, %zu removed; packs: %llu "
			"deleted, %llu repacked into %llu; pack bytes %s -> "
			"%s\n",
			c->dry_run ? "dry run: " : "", res.kept, res.removed,
			(unsigned long long)res.gc.packs_deleted,
			(unsigned long long)res.gc.packs_repacked,
			(unsigned long long)res.gc.packs_written,
			drfs_fmt_bytes(res.gc.pack_bytes_before, b1),
			drfs_fmt_bytes(res.gc.pack_bytes_after, b2));
	return 0;
}

/*
 * Resolve SNAPSHOT arguments from args[first..]; with vanished, also
 * snapshots the cache knows vanished (forget acknowledges them).
 */
static int resolve(struct cli *c, struct drfs_repo *r, int first,
		   bool vanished, struct drfs_id *ids)
{
	for (int i = first; i < c->n_args; i++) {
		struct drfs_snap_info si;
		struct drfs_snap_filter f;
		cli_latest_filter(c, &f);
		if (vanished &&
		    drfs_repo_snapshot_find_in(r, c->args[i], &f, &si) ==
			    -ENOENT &&
		    drfs_repo_vanished_find(r, c->args[i], &ids[i - first]) ==
			    0)
			continue;
		int e = cli_find_snapshot(c, r, c->args[i], &si);
		if (e < 0)
			return e;
		ids[i - first] = si.id;
	}
	return 0;
}

/* drfs forget REPO --keep-* ...: the policy, per group, without gc. */
static int forget_policy(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_policy pol;
	struct drfs_prune_opts o = { .no_gc = true, .policy = &pol };
	struct drfs_prune_result res;
	struct drfs_snap_filter f;
	struct verdicts pv;

	if (need_args(c, 1, "REPO --keep-* N [--group-by G] [--host H] "
			    "[--path P] [--tag T] [--dry-run]") < 0)
		return EXIT_USAGE;
	if (cli_policy(c, &pol) < 0 || policy_scope(c, &o, &f, &pv) < 0)
		return EXIT_USAGE;
	o.gc.dry_run = c->dry_run;
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	int e = drfs_prune(r, &o, &res);
	drfs_repo_free(r);
	fflush(stdout);
	if (e < 0) {
		log_err("%s%s", e == -EBUSY ? "repository is locked: " :
			"forget failed: ",
			res.why[0] ? res.why : drfs_strerror(e));
		return 1;
	}
	if (!c->quiet)
		fprintf(stderr, "%s%zu snapshot(s) kept, %zu %s; run \"drfs "
			"prune\" to free their space\n",
			c->dry_run ? "dry run: " : "", res.kept, res.removed,
			c->dry_run ? "would be forgotten" : "forgotten");
	return 0;
}

int cmd_forget(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_lock *lock = NULL;
	char why[256] = "";
	if (have_keep_options(c))
		return forget_policy(c);
	if (c->n_args < 2) {
		log_err("usage: drfs forget REPO SNAPSHOT... | drfs forget "
			"REPO --keep-* N [--group-by G] [--dry-run]");
		return EXIT_USAGE;
	}
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	size_t n = (size_t)c->n_args - 1;
	struct drfs_id *ids = calloc(n, sizeof(*ids));
	int e = ids ? resolve(c, r, 1, true, ids) : -ENOMEM;
	if (e < 0)
		goto out;
	/* shared: forgetting races with no backup, but never with a prune */
	e = drfs_lock_acquire(r, false, &lock, why, sizeof(why));
	if (e < 0) {
		log_err("repository is locked: %s", why);
		goto out;
	}
	if (c->dry_run) {
		for (size_t i = 0; i < n; i++) {
			int h = drfs_hold_check(r, &ids[i]);
			printf("%s: %s\n", c->args[i + 1],
			       h > 0 ? "held (would fail)"
				     : "would be forgotten");
		}
		goto out;
	}
	e = drfs_forget(r, ids, n);
	if (e == -EBUSY) {
		for (size_t i = 0; i < n; i++)
			if (drfs_hold_check(r, &ids[i]) > 0)
				log_err("snapshot \"%s\" is held (\"drfs "
					"release\" it first); nothing "
					"forgotten",
					c->args[i + 1]);
	} else if (e < 0) {
		log_err("forget failed: %s", drfs_strerror(e));
	} else if (!c->quiet) {
		fprintf(stderr, "%zu snapshot(s) forgotten; run \"drfs prune\" "
				"to free their space\n", n);
	}
out:
	drfs_lock_release(lock);
	free(ids);
	drfs_repo_free(r);
	return e < 0 ? 1 : 0;
}

static int hold_cmd(struct cli *c, bool set)
{
	struct drfs_repo *r;
	struct drfs_id id;
	if (need_args(c, 2, "REPO SNAPSHOT") < 0)
		return EXIT_USAGE;
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	struct drfs_lock *lock = NULL;
	char why[256] = "";
	int e = resolve(c, r, 1, false, &id);
	/* shared: a hold never appears in the middle of a prune */
	if (e >= 0) {
		e = drfs_lock_acquire(r, false, &lock, why, sizeof(why));
		if (e < 0)
			log_err("repository is locked: %s", why);
	}
	if (e >= 0) {
		e = set ? drfs_hold_set(r, &id) : drfs_hold_release(r, &id);
		if (e < 0)
			log_err("cannot %s snapshot \"%s\": %s",
				set ? "hold" : "release", c->args[1],
				drfs_backend_last_error(r->be) ?:
					drfs_strerror(e));
	}
	drfs_lock_release(lock);
	drfs_repo_free(r);
	return e < 0 ? 1 : 0;
}

int cmd_hold(struct cli *c)
{
	return hold_cmd(c, true);
}

int cmd_release(struct cli *c)
{
	return hold_cmd(c, false);
}

int cmd_policy(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_policy p;
	char text[256 + DRFS_TAGS_BUF];
	int e;
	if (need_args(c, 1, "REPO [--keep-* ...]") < 0)
		return EXIT_USAGE;
	bool set = have_keep_options(c);
	if (set) {
		if (cli_policy(c, &p) < 0)
			return EXIT_USAGE;
		if (drfs_policy_empty(&p)) {
			log_err("the policy keeps nothing; refusing to "
				"store it");
			return EXIT_USAGE;
		}
	}
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	if (set) {
		e = drfs_policy_store(r, &p);
		if (e < 0)
			log_err("cannot store the policy: %s",
				drfs_backend_last_error(r->be) ?:
					drfs_strerror(e));
		else
			printf("%s\n", drfs_policy_format(&p, text,
							  sizeof(text)));
	} else {
		e = drfs_policy_load(r, &p);
		if (e == -ENOENT)
			log_err("no policy stored in this repository");
		else if (e < 0)
			log_err("cannot read the policy: %s", drfs_strerror(e));
		else if (c->json)
			printf("{\"last\":%u,\"hourly\":%u,\"daily\":%u,"
			       "\"weekly\":%u,\"monthly\":%u,\"yearly\":%u,"
			       "\"within_seconds\":%lld}\n",
			       p.last, p.hourly, p.daily, p.weekly, p.monthly,
			       p.yearly, (long long)p.within);
		else
			printf("%s\n", drfs_policy_format(&p, text,
							  sizeof(text)));
	}
	drfs_repo_free(r);
	return e < 0 ? 1 : 0;
}
