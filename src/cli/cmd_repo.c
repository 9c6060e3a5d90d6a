/* SPDX-License-Identifier: MIT */
/*
 * cmd_repo.c - the commands on a repository without FUSE: init, backup,
 * snapshots, restore, check, stats; progress on a terminal.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "drfs/cli.h"
#include "drfs/fs.h"
#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/ops.h"
#include "drfs/prune.h"
#include "drfs/repo.h"

#include "cliint.h"

/* ---- commands ------------------------------------------------------------ */

int cli_cmd_init(struct cli *c)
{
	struct drfs_repo_opts o;
	struct drfs_init_opts io = { .no_encryption = c->no_encryption,
				     .zstd_level = c->compression };
	struct drfs_id id;
	int e = cli_need_args(c, 1, "REPO [--no-encryption] [--compression N]");
	if (e < 0)
		return EXIT_USAGE;
	if (!c->no_encryption) {
		e = cli_get_password(c, true);
		if (e < 0)
			return 1;
	}
	cli_repo_opts(c, &o, c->args[0]);
	e = drfs_repo_init(&o, &io, &id);
	cli_drop_secret(&c->password);
	if (e < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(e));
		return 1;
	}
	char hex[DRFS_ID_HEX_LEN + 1];
	drfs_hex(id.b, 16, hex);
	if (c->json) {
		printf("{\"repo_id\":\"%s\",\"repo\":", hex);
		cli_json_str(stdout, c->args[0]);
		printf(",\"encrypted\":%s}\n",
		       c->no_encryption ? "false" : "true");
	} else {
		printf("created %srepository %s at %s\n",
		       c->no_encryption ? "unencrypted " : "", hex,
		       c->args[0]);
	}
	fflush(stdout);
	struct drfs_backend *be;
	if (drfs_backend_open(c->args[0], &c->be, &be) >= 0) {
		cli_report_create_only(c, be);
		drfs_backend_free(be);
	}
	if (!c->no_encryption)
		fprintf(stderr, "drfs: init: keep the passphrase safe: without "
				"it nobody can read these backups, and it "
				"cannot be recovered\n");
	return 0;
}

/* backup --json: one object (docs/json.md) */
static void backup_json(const struct cli *c,
			const struct drfs_backup_result *res,
			const struct cli_msgs *msgs, double seconds)
{
	char hex[DRFS_ID_HEX_LEN + 1] = "";
	bool written = !c->dry_run && !res->unchanged;
	if (!c->dry_run || res->unchanged)
		drfs_id_hex(&res->id, hex);
	cli_json_begin(c);
	printf("\"dry_run\":%s,\"snapshot_written\":%s,\"unchanged\":%s,"
	       "\"id\":\"%s\",\"folder\":\"%s\",\"files\":%llu,"
	       "\"dirs\":%llu,\"bytes\":%llu,\"added_bytes\":%llu,"
	       "\"added_blobs\":%llu,\"errors\":%llu,\"seconds\":%.3f,"
	       "\"messages\":",
	       c->dry_run ? "true" : "false", written ? "true" : "false",
	       res->unchanged ? "true" : "false", hex, res->folder,
	       (unsigned long long)res->snap.files,
	       (unsigned long long)res->snap.dirs,
	       (unsigned long long)res->snap.bytes,
	       (unsigned long long)res->snap.added_bytes,
	       (unsigned long long)res->snap.added_blobs,
	       (unsigned long long)res->errors, seconds);
	cli_msgs_json(stdout, msgs);
	printf("}\n");
}

/* --verify-budget SIZE, or the default: 0, or -EINVAL (said). */
int cli_verify_budget(struct cli *c, uint64_t *ret)
{
	*ret = DRFS_VERIFY_BUDGET_DEFAULT;
	if (c->verify_budget && drfs_parse_size(c->verify_budget, ret) < 0) {
		log_err("invalid --verify-budget \"%s\" (a size: 4M, 0 "
			"disables)", c->verify_budget);
		return -EINVAL;
	}
	return 0;
}

/* What the dedup-loss guard did in a backup (its findings were named). */
static void report_guard(struct cli *c, const struct drfs_guard_result *g)
{
	char b[32];
	if (g->bad)
		log_warn("guard: %llu corrupted or missing old cop%s of data "
			 "this snapshot uses, %llu stored again (named above)",
			 (unsigned long long)g->bad, g->bad == 1 ? "y" : "ies",
			 (unsigned long long)g->healed);
	if (!c->quiet && g->packs_read)
		fprintf(stderr, "guard: %llu old pack(s) this snapshot "
			"deduplicated against verified, %s read\n",
			(unsigned long long)g->packs_verified,
			cli_size(g->bytes_read, b));
}

int cli_cmd_backup(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_backup_opts o = { 0 };
	struct drfs_backup_result res = { 0 };
	struct cli_progress pt;
	struct cli_msgs msgs = { 0 };
	int e = cli_need_args(c, 2, "REPO DIR [--time ISO8601] [--tag T] "
				"[--host H]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->time && drfs_parse_time(c->time, &o.time) < 0) {
		log_err("invalid --time \"%s\" (want RFC 3339: "
			"2026-11-21T14:30:05Z or 2026-11-21T16:30:05+02:00)",
			c->time);
		return EXIT_USAGE;
	}
	uint64_t budget;
	if (cli_verify_budget(c, &budget) < 0)
		return EXIT_USAGE;
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	r->verify_budget = budget;
	o.dir = c->args[1];
	o.host = c->host;
	o.tags = c->tags;
	o.n_tags = c->n_tags;
	o.no_parent = c->no_parent;
	o.excludes = &c->excludes;
	o.exclude_caches = c->exclude_caches;
	o.one_file_system = c->one_file_system;
	o.skip_if_unchanged = c->skip_if_unchanged;
	o.dry_run = c->dry_run;
	o.report = cli_report_line;
	o.report_data = c->json ? &msgs : NULL;
	cli_progress_start(&pt, c, "files");
	pt.always_counts = true;
	o.progress = &pt.p;
	double t0 = drfs_now_mono();
	e = drfs_backup(r, &o, &res);
	cli_progress_stop(&pt);
	double el = drfs_now_mono() - t0;
	if (e < 0) {
		log_err("backup of \"%s\" failed: %s%s%s", o.dir,
			drfs_strerror(e), drfs_repo_last_error() ? ": " : "",
			drfs_repo_last_error() ?: "");
		drfs_repo_free(r);
		return 1;
	}
	char b1[32], b2[32], hex[DRFS_ID_HEX_LEN + 1];
	report_guard(c, &res.guard);
	if (c->json) {
		backup_json(c, &res, &msgs, el);
		cli_msgs_release(&msgs);
		drfs_repo_free(r);
		return res.errors ? EXIT_PARTIAL : 0;
	}
	if (c->dry_run && !res.unchanged) {
		printf("dry run: would store %llu files, %llu dirs, %s; new to "
		       "the repository: %s in %llu blobs (before "
		       "compression); nothing written\n",
		       (unsigned long long)res.snap.files,
		       (unsigned long long)res.snap.dirs,
		       cli_size(res.snap.bytes, b1),
		       cli_size(res.snap.added_bytes, b2),
		       (unsigned long long)res.snap.added_blobs);
		if (res.errors)
			log_warn("%llu entries could not be read and would be "
				 "skipped", (unsigned long long)res.errors);
		drfs_repo_free(r);
		return res.errors ? EXIT_PARTIAL : 0;
	}
	if (res.unchanged && !c->quiet)
		fprintf(stderr, "nothing changed since snapshot %s (%.8s): no "
			"snapshot %swritten (--skip-if-unchanged)\n",
			res.folder, drfs_id_hex(&res.id, hex),
			c->dry_run ? "would be " : "");
	else if (!c->quiet)
		fprintf(stderr,
			"snapshot %.8s: %llu files, %llu dirs, %s, %s added "
			"in %.1fs\n",
			drfs_id_hex(&res.id, hex),
			(unsigned long long)res.snap.files,
			(unsigned long long)res.snap.dirs,
			cli_size(res.snap.bytes, b1),
			cli_size(res.snap.added_bytes, b2), el);
	if (res.errors)
		log_warn("%llu entries could not be read and were skipped",
			 (unsigned long long)res.errors);
	printf("%s\n", res.folder);
	drfs_repo_free(r);
	return res.errors ? EXIT_PARTIAL : 0;
}

/* "2026-11-21T15:30:05+01:00": t in the local time zone (TZ) */
static void local_time(const struct timespec *t, char out[40])
{
	struct tm tm;
	time_t s = t->tv_sec;
	if (!localtime_r(&s, &tm)) {
		snprintf(out, 40, "%-25s", "?");
		return;
	}
	long off = tm.tm_gmtoff / 60;
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
		 labs(off) / 60, labs(off) % 60);
}

int cli_cmd_snapshots(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_snap_info *v;
	size_t n;
	int e = cli_need_args(c, 1, "REPO [--json] [--host H] [--path P] "
				"[--tag T]");
	if (e < 0)
		return EXIT_USAGE;
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0) {
		log_err("cannot list snapshots: %s", drfs_strerror(e));
		drfs_repo_free(r);
		return 1;
	}
	/* only those of --host, --path, --tag (any of them) */
	struct drfs_snap_filter f = { .host = c->host, .path = c->path,
				      .tags = c->tags, .n_tags = c->n_tags };
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (drfs_snap_filter_match(&f, &v[i].snap) && m++ != i)
			v[m - 1] = v[i];
	n = m;
	/* holds: one listing, not a request per snapshot */
	struct drfs_id *held = NULL;
	size_t n_held = 0;
	drfs_holds_list(r, &held, &n_held);
	/* with --replica: which sides hold each snapshot (replication lag) */
	static const char *const sides[] = { "-", "primary", "replica",
					      "both", "partial",
					      "primary+partial" };
	if (c->json)
		printf("[");
	else
		printf("%-20s %s%-8s %10s %12s %12s  %s%s\n", "folder",
		       c->utc ? "" : "local time                ", "id",
		       "files", "size", "added",
		       c->replica ? "on              " : "", "host:path");
	for (size_t i = 0; i < n; i++) {
		struct drfs_snapshot *s = &v[i].snap;
		char hex[DRFS_ID_HEX_LEN + 1], b1[32], b2[32];
		char hs[DRFS_SHOW_BUF(DRFS_HOST_MAX)];
		char ps[DRFS_SHOW_BUF(DRFS_PATH_MAX)];
		int on = cli_snapshot_sides(r, &v[i]);
		if (on >= 0 && (on & 4))
			on = 4 | (on & 1);
		drfs_id_hex(&v[i].id, hex);
		if (!c->json) {
			char lt[40] = "";
			if (!c->utc)
				local_time(&s->time, lt);
			printf("%-20s %s%s%.8s %10llu %12s %12s  ", v[i].folder,
			       lt, c->utc ? "" : " ", hex,
			       (unsigned long long)s->files,
			       cli_size(s->bytes, b1),
			       cli_size(s->added_bytes, b2));
			if (on >= 0)
				printf("%-15s ", sides[on]);
			printf("%s:%s%s\n",
			       drfs_str_show(s->host, hs, sizeof(hs)),
			       drfs_str_show(s->path, ps, sizeof(ps)),
			       drfs_holds_has(held, n_held, &v[i].id) ? "  [held]" : "");
			continue;
		}
		struct drfs_buf b;
		drfs_buf_init(&b, SIZE_MAX);
		if (drfs_facts_snapshot_json(&v[i], on >= 0 ? sides[on] : NULL,
					     drfs_holds_has(held, n_held,
							    &v[i].id),
					     false, NULL, &b) < 0) {
			drfs_buf_release(&b);
			log_err("cannot list snapshots: %s",
				drfs_strerror(-ENOMEM));
			break;
		}
		printf("%s%.*s", i ? "," : "", (int)b.len, (const char *)b.p);
		drfs_buf_release(&b);
	}
	if (c->json)
		printf("]\n");
	fflush(stdout);
	cli_warn_vanished(r, false);
	free(held);
	free(v);
	drfs_repo_free(r);
	return 0;
}

/*
 * restore --dry-run: one line per entry, "create  dir/file"; with --json
 * (data: a counter) one element of the "plan" array.
 */
struct plan_json {
	size_t n; /* elements so far */
	FILE *f;  /* NULL: stdout; else held until the progress lines end */
};

static void restore_plan_line(void *data, enum drfs_restore_action a,
			      const char *path, uint32_t mode, uint64_t size)
{
	char show[DRFS_SHOW_BUF(PATH_MAX)];
	struct plan_json *pj = data;
	if (pj) {
		FILE *f = pj->f ?: stdout;
		fprintf(f, "%s{\"action\":\"%s\",\"path\":",
			pj->n++ ? "," : "", drfs_restore_action_name(a));
		cli_json_str(f, path);
		fprintf(f, ",\"dir\":%s,\"size\":%llu}",
			S_ISDIR(mode) ? "true" : "false",
			(unsigned long long)size);
		return;
	}
	printf("%-9s %s%s\n", drfs_restore_action_name(a),
	       drfs_str_show(path, show, sizeof(show)),
	       S_ISDIR(mode) ? "/" : "");
}

/*
 * drfs restore MOUNTPOINT/latest/home/alice DIR: the repository, snapshot
 * and path a path in a mounted snapshot names (drfs_fs_source), restored
 * straight from the repository. Options given on the command line win
 * over what the mount says. 0, or the exit status.
 */
static int restore_source(struct cli *c, struct drfs_fs_source *src,
			  const char **ret_url, const char **ret_spec,
			  const char **ret_sub)
{
	int e = drfs_fs_source(c->args[0], src);
	if (e == -ENOTCONN || (e < 0 && e != -EINVAL && e != -EPERM)) {
		cli_usage_err(c->cmd, "\"%s\": %s", c->args[0],
			      e == -ENOTCONN ? "not in a drfs mount (want "
					       "drfs restore REPO SNAPSHOT DIR "
					       "or drfs restore "
					       "MOUNTPOINT/latest[/PATH] DIR)"
					     : drfs_strerror(e));
		return EXIT_USAGE;
	}
	if (e < 0) {
		log_err("\"%s\": %s", c->args[0], src->why);
		return EXIT_USAGE;
	}
	if (!c->cache_dir && src->cache_dir[0])
		c->cache_dir = src->cache_dir;
	if (!c->be.endpoint && src->endpoint[0])
		c->be.endpoint = src->endpoint;
	if (!c->be.region && src->region[0])
		c->be.region = src->region;
	if (!c->be.profile && src->profile[0])
		c->be.profile = src->profile;
	if (c->be.path_style < 0)
		c->be.path_style = src->path_style;
	/* the mount's owner chose --no-encryption when it opened it */
	if (src->no_encryption)
		c->no_encryption = true;
	if (!c->have_expect_id &&
	    drfs_unhex(src->id_hex, sizeof(c->expect_id), c->expect_id) == 0)
		c->have_expect_id = true;
	*ret_url = src->url;
	*ret_spec = src->folder;
	*ret_sub = src->subpath;
	return 0;
}

/* restore --json: the document up to its plan */
static void restore_json_head(const struct cli *c, const char *snap,
			      const char *target)
{
	cli_json_begin(c);
	printf("\"dry_run\":%s,\"snapshot\":\"%s\",\"target\":",
	       c->dry_run ? "true" : "false", snap);
	cli_json_str(stdout, target);
	printf(",\"plan\":[");
}

/* The lines after a restore (e > 0: entries not restored, named). */
static void restore_summary(struct cli *c, const struct drfs_progress *p,
			    int e, double secs)
{
	char b[32];
	if (c->dry_run)
		printf("dry run: would write %llu files, %s; keep %llu "
		       "existing entries (--overwrite %s); nothing changed\n",
		       (unsigned long long)p->files,
		       cli_size(p->bytes, b),
		       (unsigned long long)p->kept,
		       c->overwrite ? c->overwrite : "always");
	else if (!c->quiet)
		fprintf(stderr, "restored %llu files, %s in %.1fs\n",
			(unsigned long long)p->files,
			cli_size(p->bytes, b), secs);
	if (!c->quiet && !c->dry_run && p->kept)
		fprintf(stderr, "kept %llu existing entries (--overwrite %s)\n",
			(unsigned long long)p->kept,
			c->overwrite ? c->overwrite : "always");
	if (e > 0)
		log_err("%d entries could not be restored (named above)%s", e,
			c->dry_run ? " (dry run)" : "");
}

/*
 * restore's arguments: REPO SNAPSHOT DIR, or MOUNTPOINT/latest[/PATH] DIR
 * (then *src is the mount's, malloc'd). The exit status on a usage error,
 * or -1 to go on.
 */
static int restore_args(struct cli *c, enum drfs_overwrite *ow,
			struct drfs_fs_source **src, const char **url,
			const char **spec, const char **target,
			const char **sub)
{
	if (c->n_args != 2 && c->n_args != 3) {
		cli_usage_err(c->cmd, "want drfs restore REPO SNAPSHOT|latest "
			      "DIR, or drfs restore MOUNTPOINT/latest[/PATH] "
			      "DIR");
		return EXIT_USAGE;
	}
	if (c->overwrite && drfs_overwrite_parse(c->overwrite, ow) < 0) {
		log_err("invalid --overwrite \"%s\" (want always, if-changed, "
			"if-newer, never or replace)", c->overwrite);
		return EXIT_USAGE;
	}
	if (c->n_args == 3) {
		*url = c->args[0];
		*spec = c->args[1];
		*target = c->args[2];
		return -1;
	}
	*src = malloc(sizeof(**src));
	if (!*src)
		return 1;
	int e = restore_source(c, *src, url, spec, sub);
	if (e) {
		free(*src);
		*src = NULL;
		return e;
	}
	*target = c->args[1];
	return -1;
}

/* The end of restore's JSON document, closed whatever happened. */
static void restore_json_end(int e, const struct drfs_progress *p,
			     struct cli_msgs *msgs, double secs)
{
	printf("],\"ok\":%s,\"files\":%llu,\"bytes\":%llu,"
	       "\"kept\":%llu,\"errors\":%d,\"seconds\":%.3f,"
	       "\"messages\":",
	       e == 0 ? "true" : "false", (unsigned long long)p->files,
	       (unsigned long long)p->bytes, (unsigned long long)p->kept,
	       e > 0 ? e : 0, secs);
	cli_msgs_json(stdout, msgs);
	printf("}\n");
	cli_msgs_release(msgs);
}

int cli_cmd_restore(struct cli *c)
{
	struct drfs_repo *r;
	struct cli_progress pt;
	struct drfs_fs_source *src = NULL;
	enum drfs_overwrite ow = DRFS_OVERWRITE_ALWAYS;
	const char *url, *spec, *target, *sub = NULL;
	int e = restore_args(c, &ow, &src, &url, &spec, &target, &sub);
	if (e >= 0)
		return e;
	if (cli_open_repo(c, url, &r) < 0) {
		free(src);
		return 1;
	}
	struct drfs_lock *lock = NULL;
	char trusted[DRFS_ID_HEX_LEN + 1];
	/* a dry run writes nothing to the repository, not even a lock */
	if (!c->dry_run && cli_lock(r, DRFS_ROLE_READER, &lock) < 0) {
		drfs_repo_free(r);
		free(src);
		return 1;
	}
	cli_warn_vanished(r, true);
	if (cli_trusted_snapshot(c, r, spec, trusted) < 0) {
		drfs_lock_release(lock);
		drfs_repo_free(r);
		free(src);
		return 1;
	}
	struct cli_msgs msgs = { 0 };
	struct plan_json plan = { 0 };
	char *held = NULL;
	size_t held_len = 0;
	struct drfs_restore_opts o = { .snapshot = trusted,
				       .target = target,
				       .subpath = sub,
				       .overwrite = ow,
				       .dry_run = c->dry_run,
				       .plan = restore_plan_line,
				       .include = &c->includes,
				       .exclude = &c->excludes,
				       .report = cli_report_line };
	if (c->json) {
		o.report_data = &msgs;
		o.plan_data = &plan;
	}
	/*
	 * The plan (a dry run) streams into the document; with JSON progress
	 * lines it waits for them to end, as the whole document does.
	 */
	if (c->json && c->dry_run && c->progress) {
		plan.f = open_memstream(&held, &held_len);
		if (!plan.f) {
			log_err("out of memory");
			drfs_repo_free(r);
			free(src);
			return 1;
		}
	}
	if (c->json && c->dry_run && !plan.f)
		restore_json_head(c, trusted, target);
	cli_progress_start(&pt, c, "files");
	o.progress = &pt.p;
	double t0 = drfs_now_mono();
	e = drfs_restore(r, &o);
	cli_progress_stop(&pt);
	drfs_lock_release(lock);
	if (c->json && (!c->dry_run || plan.f))
		restore_json_head(c, trusted, target);
	if (plan.f) {
		fclose(plan.f);
		fwrite(held, 1, held_len, stdout);
		free(held);
	}
	if (c->json)
		restore_json_end(e, &pt.p, &msgs, drfs_now_mono() - t0);
	if (e < 0) {
		const char *d = drfs_repo_last_error();
		log_err("restore failed: %s", d && e == -ENOENT ? d
							      : drfs_strerror(e));
		drfs_repo_free(r);
		free(src);
		return 1;
	}
	if (!c->json)
		restore_summary(c, &pt.p, e, drfs_now_mono() - t0);
	drfs_repo_free(r);
	free(src);
	return e > 0 ? EXIT_PARTIAL : 0;
}

int cli_cmd_check(struct cli *c)
{
	struct drfs_repo *r;
	struct cli_msgs msgs = { 0 };
	struct cli_progress pt;
	struct drfs_check_opts o = { .read_data = c->read_data,
				     .report = cli_report_line,
				     .report_data = c->json ? &msgs : NULL };
	int e = cli_need_args(c, 1, "REPO [--read-data] "
				    "[--read-data-subset N/M]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->read_subset) {
		if (sscanf(c->read_subset, "%u/%u", &o.subset_n, &o.subset_m) !=
			    2 ||
		    !o.subset_m || !o.subset_n || o.subset_n > o.subset_m ||
		    o.subset_m > 256) {
			log_err("invalid --read-data-subset \"%s\" (want N/M)",
				c->read_subset);
			return EXIT_USAGE;
		}
		o.read_data = true;
	}
	struct drfs_repo_opts ro;
	if (!c->no_encryption && cli_get_password(c, false) < 0)
		return 1;
	cli_repo_opts(c, &ro, c->args[0]);
	ro.no_sync = true;
	ro.report = NULL; /* drfs_check names the damage the sync skips */
	if (cli_open_repo_with(c, &ro, &r) < 0)
		return 1;
	struct drfs_lock *lock = NULL;
	/* a full sync: the packs no index object lists are read too (check
	 * lists data/ anyway), so the walk finds every blob that exists */
	if (cli_lock_sync(r, DRFS_ROLE_READER, true, &lock) < 0) {
		drfs_repo_free(r);
		return 1;
	}
	cli_progress_start(&pt, c, "packs");
	o.progress = &pt.p;
	e = drfs_check(r, &o);
	cli_progress_stop(&pt);
	drfs_lock_release(lock);
	if (e >= 0) {
		cli_report_create_only(c, r->be);
		cli_report_lock(c, r);
	}
	drfs_repo_free(r);
	if (c->json) {
		/* problems: drfs_check's count; messages: also its warnings */
		cli_json_begin(c);
		printf("\"ok\":%s,\"read_data\":%s,\"problems\":%d,"
		       "\"messages\":", e == 0 ? "true" : "false",
		       o.read_data ? "true" : "false", e > 0 ? e : 0);
		cli_msgs_json(stdout, &msgs);
		printf("}\n");
		cli_msgs_release(&msgs);
	}
	if (e < 0) {
		log_err("check failed: %s", drfs_strerror(e));
		return 1;
	}
	if (e) {
		log_err("check found %d problem(s)", e);
		return 1;
	}
	if (!c->quiet && !c->json)
		fprintf(stderr, "no problems found\n");
	return 0;
}

/* The verification coverage this cache knows (docs/verification.md). */
static void print_coverage(const struct drfs_verify_coverage *vc)
{
	char b1[32], b2[32], when[32] = "never";
	if (vc->oldest) {
		time_t t = (time_t)vc->oldest;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("verified (cache):   %llu of %llu packs (%s of %s), oldest "
	       "verification %s\n",
	       (unsigned long long)vc->packs_verified,
	       (unsigned long long)vc->packs,
	       cli_size(vc->bytes_verified, b1),
	       cli_size(vc->bytes, b2), vc->packs_verified < vc->packs
						 ? "never (some packs)" : when);
}

int cli_cmd_stats(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_stats s;
	int e = cli_need_args(c, 1, "REPO [--json]");
	if (e < 0)
		return EXIT_USAGE;
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	char id[sizeof(r->repo_id_hex)];
	bool encrypted = r->keys.encrypted;
	memcpy(id, r->repo_id_hex, sizeof(id));
	e = drfs_stats(r, &s);
	struct drfs_verify_coverage vc = { 0 };
	e = e ?: drfs_repo_verify_coverage(r, &vc);
	drfs_repo_free(r);
	if (e < 0) {
		log_err("stats failed: %s", drfs_strerror(e));
		return 1;
	}
	double dedup = s.raw_bytes ? (double)s.logical_bytes / (double)s.raw_bytes
				   : 1.0;
	double comp = s.stored_blob_bytes ? (double)s.raw_bytes /
						    (double)s.stored_blob_bytes
					  : 1.0;
	if (c->json) {
		printf("{\"repo_id\":\"%s\",\"encrypted\":%s,"
		       "\"snapshots\":%llu,\"packs\":%llu,\"blobs\":%llu,"
		       "\"data_blobs\":%llu,\"tree_blobs\":%llu,"
		       "\"repo_bytes\":%llu,\"pack_bytes\":%llu,"
		       "\"raw_bytes\":%llu,\"logical_bytes\":%llu,"
		       "\"dedup_ratio\":%.3f,\"compression_ratio\":%.3f,"
		       "\"verified_packs\":%llu,\"verified_pack_bytes\":%llu,"
		       "\"verify_packs\":%llu,\"verify_pack_bytes\":%llu,"
		       "\"oldest_verification\":%lld}\n",
		       id, encrypted ? "true" : "false",
		       (unsigned long long)s.snapshots,
		       (unsigned long long)s.packs, (unsigned long long)s.blobs,
		       (unsigned long long)s.data_blobs,
		       (unsigned long long)s.tree_blobs,
		       (unsigned long long)s.repo_bytes,
		       (unsigned long long)s.pack_bytes,
		       (unsigned long long)s.raw_bytes,
		       (unsigned long long)s.logical_bytes, dedup, comp,
		       (unsigned long long)vc.packs_verified,
		       (unsigned long long)vc.bytes_verified,
		       (unsigned long long)vc.packs,
		       (unsigned long long)vc.bytes, (long long)vc.oldest);
		return 0;
	}
	char b1[32], b2[32], b3[32];
	printf("repository id:      %s (%s)\n", id,
	       encrypted ? "encrypted" : "unencrypted");
	printf("snapshots:          %llu\n", (unsigned long long)s.snapshots);
	printf("packs:              %llu\n", (unsigned long long)s.packs);
	printf("blobs:              %llu (%llu data, %llu tree)\n",
	       (unsigned long long)s.blobs, (unsigned long long)s.data_blobs,
	       (unsigned long long)s.tree_blobs);
	printf("logical size:       %s (all snapshots)\n",
	       cli_size(s.logical_bytes, b1));
	printf("unique data:        %s\n", cli_size(s.raw_bytes, b2));
	printf("repository size:    %s\n", cli_size(s.repo_bytes, b3));
	printf("dedup ratio:        %.2f\n", dedup);
	printf("compression ratio:  %.2f\n", comp);
	print_coverage(&vc);
	return 0;
}

