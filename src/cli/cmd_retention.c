/* SPDX-License-Identifier: MIT */
/*
 * cmd_retention.c - prune, forget, hold, release (policy: cmd_policy.c).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cliint.h"
#include "drfs/fs.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/prune.h"

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
	struct drfs_buf *out; /* NULL: stdout; else "out:" lines (a mount) */
	bool json;            /* elements of a JSON array on stdout */
	FILE *f;              /* json: where instead; NULL: stdout */
	size_t n;             /* verdicts printed */
};

/* One verdict as an element of the "snapshots" array (docs/json.md). */
static void verdict_json(struct verdicts *pv, const struct drfs_snap_info *s,
			 const struct drfs_policy_verdict *v)
{
	char hex[DRFS_ID_HEX_LEN + 1], why[128];
	char g[DRFS_SHOW_BUF(DRFS_HOST_MAX + DRFS_PATH_MAX + DRFS_TAGS_BUF) +
	       64];
	FILE *f = pv->f ?: stdout;
	fprintf(f, "%s{\"id\":\"%s\",\"folder\":\"%s\",\"keep\":%s,"
		"\"reasons\":\"%s\",\"group\":", pv->n++ ? "," : "",
		drfs_id_hex(&s->id, hex), s->folder,
		v->keep ? "true" : "false",
		v->keep ? drfs_policy_reasons(v->reasons, why) : "");
	cli_json_str(f, drfs_group_format(pv->group_by, &s->snap, g,
					  sizeof(g)));
	fputc('}', f);
}

static void verdict_out(struct verdicts *pv, const char *line)
{
	if (!pv->out)
		printf("%s\n", line);
	else if (drfs_buf_printf(pv->out, "out:%s\n", line) < 0)
		return; /* the output is cut short, the prune goes on */
}

/* One line per snapshot, under a line naming each group. */
static void print_verdict(void *userdata, const struct drfs_snap_info *s,
			  const struct drfs_policy_verdict *v)
{
	struct verdicts *pv = userdata;
	char hex[DRFS_ID_HEX_LEN + 1], why[128];
	char line[DRFS_HOST_MAX + DRFS_PATH_MAX + DRFS_TAGS_BUF + 128];
	if (pv->json) {
		verdict_json(pv, s, v);
		return;
	}
	if (pv->group_by && v->group != pv->group) {
		char g[DRFS_SHOW_BUF(DRFS_HOST_MAX + DRFS_PATH_MAX +
				     DRFS_TAGS_BUF) + 64];
		snprintf(line, sizeof(line), "snapshots of %s:",
			 drfs_group_format(pv->group_by, &s->snap, g,
					   sizeof(g)));
		verdict_out(pv, line);
	}
	pv->group = v->group;
	drfs_id_hex(&s->id, hex);
	if (v->keep)
		snprintf(line, sizeof(line), "%-20s %.8s  keep (%s)",
			 s->folder, hex,
			 drfs_policy_reasons(v->reasons, why));
	else
		snprintf(line, sizeof(line), "%-20s %.8s  remove", s->folder,
			 hex);
	verdict_out(pv, line);
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

void cli_gc_summary(const struct drfs_gc_result *res, char *out, size_t len)
{
	char b1[32], b2[32], b3[32], hex[DRFS_ID_HEX_LEN + 1];
	size_t n = 0;
	n += (size_t)snprintf(out, len,
			      "packs: %llu deleted, %llu repacked into %llu; "
			      "pack bytes %s -> %s",
			      (unsigned long long)res->packs_gone,
			      (unsigned long long)res->packs_repacked,
			      (unsigned long long)res->packs_written,
			      cli_size(res->pack_bytes_before, b1),
			      cli_size(res->pack_bytes_after, b2));
	if (n < len && res->records_completed)
		n += (size_t)snprintf(out + n, len - n,
				      "; finished %llu earlier deletion "
				      "record(s)",
				      (unsigned long long)res->records_completed);
	if (n < len && (res->packs_deferred || res->packs_pending))
		n += (size_t)snprintf(out + n, len - n,
				      "; %llu pack(s), %s, wait for deletion",
				      (unsigned long long)(res->packs_deferred +
							   res->packs_pending),
				      cli_size(res->pack_bytes_deferred,
						     b3));
	if (n < len && res->packs_recent)
		n += (size_t)snprintf(out + n, len - n,
				      "; %llu recent pack(s) kept (live "
				      "writers may still need them)",
				      (unsigned long long)res->packs_recent);
	if (n < len && res->records_written)
		snprintf(out + n, len - n,
			 " (deletion deferred: deletions/%.8s%s)",
			 drfs_id_hex(&res->record, hex),
			 res->records_written > 1 ? " and others" : "");
}

/* ---- prune handed to a mount of this machine (drfs_fs_prune) ------------- */

/* The prune options of c, "name=value" one a line. */
static int prune_args(const struct cli *c, struct drfs_buf *out)
{
	const struct {
		const char *name;
		int v;
	} counts[] = {
		{ "keep-last", c->keep_last },
		{ "keep-hourly", c->keep_hourly },
		{ "keep-daily", c->keep_daily },
		{ "keep-weekly", c->keep_weekly },
		{ "keep-monthly", c->keep_monthly },
		{ "keep-yearly", c->keep_yearly },
	};
	const struct {
		const char *name, *v;
	} strs[] = {
		{ "keep-within", c->keep_within }, { "max-unused", c->max_unused },
		{ "group-by", c->group_by },	   { "host", c->host },
		{ "path", c->path },
	};
	int e = 0;
	for (size_t i = 0; e >= 0 && i < ARRAY_SIZE(counts); i++)
		if (counts[i].v >= 0)
			e = drfs_buf_printf(out, "%s=%d\n", counts[i].name,
					    counts[i].v);
	for (size_t i = 0; e >= 0 && i < ARRAY_SIZE(strs); i++)
		if (strs[i].v)
			e = strchr(strs[i].v, '\n')
				    ? -EINVAL
				    : drfs_buf_printf(out, "%s=%s\n",
						      strs[i].name, strs[i].v);
	for (size_t i = 0; e >= 0 && i < c->n_keep_tags; i++)
		e = strchr(c->keep_tags[i], '\n')
			    ? -EINVAL
			    : drfs_buf_printf(out, "keep-tag=%s\n",
					      c->keep_tags[i]);
	for (size_t i = 0; e >= 0 && i < c->n_tags; i++)
		e = strchr(c->tags[i], '\n')
			    ? -EINVAL
			    : drfs_buf_printf(out, "tag=%s\n", c->tags[i]);
	if (e >= 0 && c->dry_run)
		e = drfs_buf_printf(out, "dry-run=1\n");
	return e;
}

/* Parse prune_args() text (in buf, modified) back into c. -EINVAL. */
static int prune_args_parse(char *buf, struct cli *c)
{
	c->keep_last = c->keep_hourly = c->keep_daily = c->keep_weekly =
		c->keep_monthly = c->keep_yearly = -1;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *v = strchr(line, '=');
		if (!v)
			return -EINVAL;
		*v++ = 0;
		int *count = !strcmp(line, "keep-last")	   ? &c->keep_last
			     : !strcmp(line, "keep-hourly")  ? &c->keep_hourly
			     : !strcmp(line, "keep-daily")   ? &c->keep_daily
			     : !strcmp(line, "keep-weekly")  ? &c->keep_weekly
			     : !strcmp(line, "keep-monthly") ? &c->keep_monthly
			     : !strcmp(line, "keep-yearly")  ? &c->keep_yearly
							     : NULL;
		const char **str = !strcmp(line, "keep-within") ? &c->keep_within
				   : !strcmp(line, "max-unused") ? &c->max_unused
				   : !strcmp(line, "group-by")	 ? &c->group_by
				   : !strcmp(line, "host")	 ? &c->host
				   : !strcmp(line, "path")	 ? &c->path
								 : NULL;
		char *end;
		if (count) {
			long n = strtol(v, &end, 10);
			if (*end || n < 0 || n > INT32_MAX)
				return -EINVAL;
			*count = (int)n;
		} else if (str) {
			*str = v;
		} else if (!strcmp(line, "keep-tag") &&
			   c->n_keep_tags < DRFS_TAGS_MAX) {
			c->keep_tags[c->n_keep_tags++] = v;
		} else if (!strcmp(line, "tag") && c->n_tags < DRFS_TAGS_MAX) {
			c->tags[c->n_tags++] = v;
		} else if (!strcmp(line, "dry-run")) {
			c->dry_run = true;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static void out_report(void *userdata, const char *fmt, ...) _printf_(2, 3);
static void out_report(void *userdata, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (drfs_buf_printf(userdata, "err:drfs: %s\n", msg) < 0)
		return; /* the output is cut short, the prune goes on */
}

int cli_mount_prune(void *ud, struct drfs_repo *r, const char *args,
		    size_t args_len, const struct drfs_id *roots,
		    size_t n_roots, struct drfs_buf *out)
{
	struct cli c = { 0 };
	struct drfs_policy pol;
	struct drfs_prune_opts o = { 0 };
	struct drfs_prune_result res;
	struct drfs_snap_filter f;
	struct verdicts pv = { 0 };
	char *buf = strndup(args, args_len), sum[1024];
	(void)ud;
	int e = buf ? prune_args_parse(buf, &c) : -ENOMEM;
	e = e ?: policy_scope(&c, &o, &f, &pv);
	if (e >= 0 && cli_have_keep_options(&c)) {
		e = cli_policy(&c, &pol);
		o.policy = &pol;
	}
	o.gc.max_unused = -1;
	if (e >= 0 && c.max_unused)
		e = parse_max_unused(c.max_unused, &o.gc.max_unused);
	if (e < 0) {
		out_report(out, "error: the prune options handed to the mount "
				"are not understood");
		free(buf);
		return -EINVAL;
	}
	pv.out = out;
	o.gc.dry_run = c.dry_run;
	o.gc.exact_bytes = c.bytes;
	o.gc.report = out_report;
	o.gc.report_data = out;
	o.gc.roots = roots;
	o.gc.n_roots = n_roots;
	e = drfs_prune(r, &o, &res);
	if (e == -EBUSY)
		out_report(out, "error: repository is locked: %s", res.why);
	else if (e < 0)
		out_report(out, "error: prune failed: %s",
			   res.why[0] ? res.why : drfs_strerror(e));
	else if (c.dry_run)
		out_report(out, "dry run: %zu snapshot(s) kept, %zu removed",
			   res.kept, res.removed);
	else {
		cli_gc_summary(&res.gc, sum, sizeof(sum));
		if (drfs_buf_printf(out, "err:%zu snapshot(s) kept, %zu "
				    "removed; %s\n", res.kept, res.removed,
				    sum) < 0)
			e = 0; /* the output is cut short; the prune is done */
		if (res.gc.waiting[0])
			out_report(out, "other processes use the repository: "
				   "the packs are deleted by a prune after "
				   "each has acknowledged the deletion or "
				   "ended; waiting for %s", res.gc.waiting);
	}
	free(buf);
	return e;
}

/* Print the output of a prune that ran in a mount; its exit status. */
static int prune_in_mount(struct cli *c, const char *mp)
{
	struct drfs_buf args;
	char *text = NULL;
	drfs_buf_init(&args, 8192);
	int e = prune_args(c, &args);
	if (e < 0) {
		log_err("the prune options cannot be handed to the mount");
		drfs_buf_release(&args);
		return 1;
	}
	if (!c->quiet)
		fprintf(stderr, "drfs: the repository is mounted on \"%s\": "
				"the prune runs in that mount\n", mp);
	e = drfs_fs_prune(mp, (const char *)args.p, args.len, &text);
	drfs_buf_release(&args);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!strncmp(line, "out:", 4))
			printf("%s\n", line + 4);
		else if (!strncmp(line, "err:", 4) &&
			 (!c->quiet || strstr(line, "error:")))
			fprintf(stderr, "%s\n", line + 4);
	}
	fflush(stdout);
	if (e < 0 && !text)
		log_err("prune in the mount on \"%s\" failed: %s", mp,
			drfs_strerror(e));
	free(text);
	return e < 0 ? 1 : 0;
}

/*
 * The rest of prune's or forget's --json document after the verdicts
 * (closed whatever happened, so that it parses); gc: prune's counts.
 */
static void retention_json_end(const struct cli *c, int e,
			       const struct drfs_prune_result *res, bool gc)
{
	(void)c;
	printf("],\"ok\":%s,\"kept\":%zu,\"removed\":%zu", e < 0 ? "false"
								: "true",
	       res->kept, res->removed);
	if (gc)
		printf(",\"packs_deleted\":%llu,\"packs_repacked\":%llu,"
		       "\"packs_written\":%llu,\"packs_waiting\":%llu,"
		       "\"pack_bytes_before\":%llu,\"pack_bytes_after\":%llu",
		       (unsigned long long)(c->dry_run ? res->gc.packs_deleted
						       : res->gc.packs_gone),
		       (unsigned long long)res->gc.packs_repacked,
		       (unsigned long long)res->gc.packs_written,
		       (unsigned long long)(res->gc.packs_deferred +
					    res->gc.packs_pending),
		       (unsigned long long)res->gc.pack_bytes_before,
		       (unsigned long long)res->gc.pack_bytes_after);
	printf("}\n");
}

/* prune --json: the document up to its verdicts */
static void prune_json_head(const struct cli *c)
{
	cli_json_begin(c);
	printf("\"dry_run\":%s,\"snapshots\":[",
	       c->dry_run ? "true" : "false");
}

/*
 * mp is the root of a several-repository mount: say which folders to
 * prune instead (a prune deletes: never every repository at once by
 * accident). Whether it was.
 */
static bool prune_multi_root(const char *mp)
{
	char *list = cli_multi_list(mp), *p, *name, *state, *msg;
	char names[1024] = "", *first = NULL;
	size_t o = 0;

	if (!list)
		return false;
	for (p = list; cli_next_repo(&p, &name, &state, &msg);) {
		if (!first)
			first = name;
		if (o < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o,
					      "%s%s", o ? ", " : "", name);
	}
	log_err("\"%s\" mounts several repositories (%s): prune one at a "
		"time, e.g. drfs prune %s/%s", mp, names, mp,
		first ? first : "NAME");
	free(list);
	return true;
}

/*
 * Where a prune of c->args[0] runs: in the mount there (or the mount of
 * that repository with this cache), refused for the root of a
 * several-repository mount, else here with *r opened. The exit status, or
 * -1 to go on here.
 */
static int prune_route(struct cli *c, struct drfs_repo **r)
{
	const char *mp = c->args[0];
	char found[PATH_MAX];

	/* several repositories mounted there: the prune is one's */
	if (prune_multi_root(mp))
		return EXIT_USAGE;
	/* a mount point (as drfs status takes one): that mount runs it */
	if (!drfs_fs_is_mount(mp) && cli_unavailable_folder(mp))
		return 1;
	if (!drfs_fs_is_mount(mp)) {
		if (cli_open_repo(c, mp, r) < 0)
			return 1;
		/*
		 * Mounted on this machine with this cache: the mount runs it,
		 * with now/'s data kept alive (the shipped prune timer and
		 * mount unit share the default cache directory).
		 */
		if (drfs_fs_find_mount((*r)->repo_id_hex, (*r)->cache_dir,
				       found, sizeof(found)) != 0)
			return -1;
		drfs_repo_free(*r);
		*r = NULL;
		mp = found;
	}
	if (c->json) {
		log_err("--json: not for a prune that the mount at \"%s\" "
			"runs (run it without --json)", mp);
		return EXIT_USAGE;
	}
	return prune_in_mount(c, mp);
}

/* What a prune did (or would do: --dry-run), for people, on stderr. */
static void prune_print(const struct cli *c,
			const struct drfs_prune_result *res)
{
	char b1[32], b2[32], sum[1024];
	if (c->dry_run) {
		fprintf(stderr,
			"dry run: %zu snapshot(s) kept, %zu removed; packs: "
			"%llu to delete, %llu to repack; pack bytes %s -> "
			"%s\n",
			res->kept, res->removed,
			(unsigned long long)res->gc.packs_deleted,
			(unsigned long long)res->gc.packs_repacked,
			cli_size(res->gc.pack_bytes_before, b1),
			cli_size(res->gc.pack_bytes_after, b2));
		return;
	}
	cli_gc_summary(&res->gc, sum, sizeof(sum));
	fprintf(stderr, "%zu snapshot(s) kept, %zu removed; %s\n", res->kept,
		res->removed, sum);
	if (res->gc.waiting[0])
		fprintf(stderr, "drfs: other processes use the repository: the "
				"packs are deleted by a prune after each has "
				"acknowledged the deletion or ended; waiting "
				"for %s\n", res->gc.waiting);
}

int cli_cmd_prune(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_policy pol;
	struct drfs_prune_opts o = { 0 };
	struct drfs_prune_result res;
	struct drfs_snap_filter f;
	struct verdicts pv = { 0 };

	if (cli_need_args(c, 1, "REPO|MOUNTPOINT [--keep-last N] "
			    "[--keep-hourly N] "
			    "[--keep-daily N] [--keep-weekly N] "
			    "[--keep-monthly N] [--keep-yearly N] "
			    "[--keep-within D] [--keep-tag T] [--group-by G] "
			    "[--host H] [--path P] [--tag T] [--dry-run] "
			    "[--max-unused P%]") < 0)
		return EXIT_USAGE;
	if (policy_scope(c, &o, &f, &pv) < 0)
		return EXIT_USAGE;
	if (cli_have_keep_options(c)) {
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
	o.gc.exact_bytes = c->bytes;
	o.gc.report = c->quiet ? NULL : cli_report_line;
	int rc = prune_route(c, &r);
	if (rc >= 0)
		return rc;
	/* with JSON progress lines, the verdicts wait for the document */
	char *verdicts = NULL;
	size_t verdicts_len = 0;
	if (c->json) {
		pv.json = true;
		if (c->progress)
			pv.f = open_memstream(&verdicts, &verdicts_len);
		if (c->progress && !pv.f) {
			drfs_repo_free(r);
			return 1;
		}
		if (!pv.f)
			prune_json_head(c);
	}
	struct cli_progress pt;
	cli_progress_start(&pt, c, "snapshots");
	o.gc.progress = &pt.p;
	int e = drfs_prune(r, &o, &res);
	cli_progress_stop(&pt);
	drfs_repo_free(r);
	if (pv.f) {
		fclose(pv.f);
		prune_json_head(c);
		fwrite(verdicts, 1, verdicts_len, stdout);
		free(verdicts);
	}
	if (c->json)
		retention_json_end(c, e, &res, true);
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
	if (!c->quiet && !c->json)
		prune_print(c, &res);
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

/* forget SNAPSHOT... --json: each snapshot named and what became of it */
static void forget_json(const struct cli *c, struct drfs_repo *r,
			const struct drfs_id *ids, size_t n, int e)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	printf("{\"dry_run\":%s,\"snapshots\":[", c->dry_run ? "true"
							       : "false");
	for (size_t i = 0; i < n; i++) {
		bool held = drfs_hold_check(r, &ids[i]) > 0;
		printf("%s{\"id\":\"%s\",\"held\":%s,\"forgotten\":%s}",
		       i ? "," : "", drfs_id_hex(&ids[i], hex),
		       held ? "true" : "false",
		       !c->dry_run && e >= 0 ? "true" : "false");
	}
	printf("],\"ok\":%s}\n", e >= 0 ? "true" : "false");
}

/* drfs forget REPO --keep-* ...: the policy, per group, without gc. */
static int forget_policy(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_policy pol;
	struct drfs_prune_opts o = { .no_gc = true, .policy = &pol };
	struct drfs_prune_result res;
	struct drfs_snap_filter f;
	struct verdicts pv = { 0 };

	if (cli_need_args(c, 1, "REPO --keep-* N [--group-by G] [--host H] "
			    "[--path P] [--tag T] [--dry-run]") < 0)
		return EXIT_USAGE;
	if (cli_policy(c, &pol) < 0 || policy_scope(c, &o, &f, &pv) < 0)
		return EXIT_USAGE;
	o.gc.dry_run = c->dry_run;
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	if (c->json) {
		pv.json = true;
		printf("{\"dry_run\":%s,\"snapshots\":[",
		       c->dry_run ? "true" : "false");
	}
	int e = drfs_prune(r, &o, &res);
	drfs_repo_free(r);
	if (c->json)
		retention_json_end(c, e, &res, false);
	fflush(stdout);
	if (e < 0) {
		log_err("%s%s", e == -EBUSY ? "repository is locked: " :
			"forget failed: ",
			res.why[0] ? res.why : drfs_strerror(e));
		return 1;
	}
	if (!c->quiet && !c->json)
		fprintf(stderr, "%s%zu snapshot(s) kept, %zu %s; run \"drfs "
			"prune\" to free their space\n",
			c->dry_run ? "dry run: " : "", res.kept, res.removed,
			c->dry_run ? "would be forgotten" : "forgotten");
	return 0;
}

int cli_cmd_forget(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_lock *lock = NULL;
	char why[512] = "";
	if (cli_have_keep_options(c))
		return forget_policy(c);
	if (c->n_args < 2) {
		cli_usage_err(c->cmd, "want drfs forget REPO SNAPSHOT... or "
			      "drfs forget REPO --keep-* N");
		return EXIT_USAGE;
	}
	if (cli_open_repo(c, c->args[0], &r) < 0)
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
	if (c->dry_run && !c->json) {
		for (size_t i = 0; i < n; i++) {
			int h = drfs_hold_check(r, &ids[i]);
			printf("%s: %s\n", c->args[i + 1],
			       h > 0 ? "held (would fail)"
				     : "would be forgotten");
		}
		goto out;
	}
	e = c->dry_run ? 0 : drfs_forget(r, ids, n);
	if (c->json)
		forget_json(c, r, ids, n, e);
	if (e == -EBUSY) {
		for (size_t i = 0; i < n; i++)
			if (drfs_hold_check(r, &ids[i]) > 0)
				log_err("snapshot \"%s\" is held (\"drfs "
					"release\" it first); nothing "
					"forgotten",
					c->args[i + 1]);
	} else if (e < 0) {
		log_err("forget failed: %s", drfs_strerror(e));
	} else if (!c->quiet && !c->json) {
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
	if (cli_need_args(c, 2, "REPO SNAPSHOT") < 0)
		return EXIT_USAGE;
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	struct drfs_lock *lock = NULL;
	char why[512] = "";
	int e = resolve(c, r, 1, false, &id);
	/* a prune lock: a hold never appears in the middle of a prune */
	if (e >= 0) {
		e = drfs_lock_take(r, DRFS_LOCK_PRUNE, DRFS_ROLE_WRITER,
				   &lock, why, sizeof(why));
		if (e < 0)
			log_err("%s%s", e == -EBUSY ? "repository is locked: "
						    : "", why);
	}
	if (e >= 0) {
		e = set ? drfs_hold_set(r, &id) : drfs_hold_release(r, &id);
		if (e < 0)
			log_err("cannot %s snapshot \"%s\": %s",
				set ? "hold" : "release", c->args[1],
				drfs_backend_last_error(r->be) ?:
					drfs_strerror(e));
	}
	if (e >= 0 && c->json) {
		char hex[DRFS_ID_HEX_LEN + 1];
		drfs_id_hex(&id, hex);
		printf("{\"id\":\"%s\",\"held\":%s}\n", hex,
		       set ? "true" : "false");
	}
	drfs_lock_release(lock);
	drfs_repo_free(r);
	return e < 0 ? 1 : 0;
}

int cli_cmd_hold(struct cli *c)
{
	return hold_cmd(c, true);
}

int cli_cmd_release(struct cli *c)
{
	return hold_cmd(c, false);
}
