/* SPDX-License-Identifier: MIT */
/*
 * cmd_repair.c - repair index (rebuild the index from the packs) and
 * repair snapshots (rewrite damaged snapshots; docs/damage.md).
 */
#include <stdarg.h>
#include <stdio.h>

#include "cliint.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/repair.h"

/* Open url without a sync: the caller rebuilds the cache itself. */
static int open_unsynced(struct cli *c, const char *url, struct drfs_repo **r)
{
	struct drfs_repo_opts ro;
	if (!c->no_encryption && cli_get_password(c, false) < 0)
		return -EINVAL;
	cli_repo_opts(c, &ro, url);
	ro.no_sync = true;
	return cli_open_repo_with(c, &ro, r);
}

static int repair_index(struct cli *c, const char *url)
{
	struct drfs_repo *r;
	struct drfs_lock *lock = NULL;
	char why[256] = "";
	if (open_unsynced(c, url, &r) < 0)
		return 1;
	/* it deletes index objects: never while a prune runs */
	int e = drfs_lock_take(r, DRFS_LOCK_PRUNE, DRFS_ROLE_WRITER, &lock,
			       why, sizeof(why));
	if (e < 0) {
		log_err("repository is locked: %s", why[0] ? why
							   : drfs_strerror(e));
		drfs_repo_free(r);
		return 1;
	}
	e = drfs_repo_repair_index(r);
	if (e < 0) {
		log_err("repair failed: %s", drfs_repo_last_error()
						   ?: drfs_strerror(e));
		goto out;
	}
	unsigned damaged = r->damaged;
	/* index objects that cover every pack now known, the old ones go */
	e = drfs_repo_write_full_index(r);
	if (e < 0) {
		log_err("cannot write the index: %s", drfs_strerror(e));
		goto out;
	}
	if (c->json)
		printf("{\"repair\":\"index\","
		       "\"damaged_objects\":%u}\n", damaged);
	else
		fprintf(stderr, "index rebuilt from the packs\n");
	if (damaged)
		log_warn("%u damaged or missing object(s), named above, are "
			 "not in the new index; \"drfs check\" names any "
			 "file they cost, \"drfs repair snapshots\" drops "
			 "what is lost", damaged);
out:
	drfs_lock_release(lock);
	drfs_repo_free(r);
	return e < 0 ? 1 : 0;
}

/* The report of repair snapshots: on stdout, it is the command's output. */
static void report_stdout(void *userdata, const char *fmt, ...)
{
	va_list ap;
	(void)userdata;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* repair snapshots --json (docs/json.md) */
static void repair_snapshots_json(const struct cli *c,
				  const struct drfs_repair_result *res,
				  const struct cli_msgs *msgs)
{
	printf("{\"repair\":\"snapshots\",\"dry_run\":%s,"
	       "\"snapshots\":%llu,\"repaired\":%llu,\"kept_held\":%llu,"
	       "\"files\":%llu,\"dirs\":%llu,\"bytes_lost\":%llu,"
	       "\"messages\":",
	       c->dry_run ? "true" : "false",
	       (unsigned long long)res->snapshots,
	       (unsigned long long)res->repaired,
	       (unsigned long long)res->kept_held,
	       (unsigned long long)res->files,
	       (unsigned long long)res->dirs,
	       (unsigned long long)res->bytes_lost);
	cli_msgs_json(stdout, msgs);
	printf("}\n");
}

static int repair_snapshots(struct cli *c, const char *url)
{
	struct drfs_repo *r;
	struct drfs_lock *lock = NULL;
	struct drfs_repair_opts o = { .dry_run = c->dry_run,
				      .read_data = c->read_data,
				      .report = report_stdout };
	struct drfs_repair_result res;
	struct cli_msgs msgs = { 0 };
	char why[256] = "";
	/* --json: the report's lines on stderr, and in "messages" */
	if (c->json) {
		o.report = cli_report_line;
		o.report_data = &msgs;
	}
	/* a real run rebuilds the cache first (drfs_repair_snapshots) */
	if ((c->dry_run ? cli_open_repo(c, url, &r)
			: open_unsynced(c, url, &r)) < 0)
		return 1;
	/* it forgets snapshots and rewrites the index, like a prune */
	int e = c->dry_run ? 0
			   : drfs_lock_acquire(r, true, &lock, why,
					       sizeof(why));
	if (e < 0) {
		log_err("repository is locked: %s", why[0] ? why
							   : drfs_strerror(e));
		drfs_repo_free(r);
		return 1;
	}
	e = drfs_repair_snapshots(r, &o, &res);
	drfs_lock_release(lock);
	drfs_repo_free(r);
	fflush(stdout);
	if (e < 0) {
		const char *d = drfs_repo_last_error();
		log_err("repair failed: %s%s%s", drfs_strerror(e),
			d ? ": " : "", d ? d : "");
		cli_msgs_release(&msgs);
		return 1;
	}
	if (c->json) {
		repair_snapshots_json(c, &res, &msgs);
		cli_msgs_release(&msgs);
		return 0;
	}
	if (!res.repaired)
		printf("no damaged snapshots (%llu checked)\n",
		       (unsigned long long)res.snapshots);
	else
		printf("%s %llu of %llu snapshot(s): %llu file(s) cut "
		       "(%llu bytes lost), %llu director%s emptied%s\n",
		       c->dry_run ? "would repair" : "repaired",
		       (unsigned long long)res.repaired,
		       (unsigned long long)res.snapshots,
		       (unsigned long long)res.files,
		       (unsigned long long)res.bytes_lost,
		       (unsigned long long)res.dirs,
		       res.dirs == 1 ? "y" : "ies",
		       c->dry_run ? " (dry run: nothing written)" : "");
	return 0;
}

int cli_cmd_repair(struct cli *c)
{
	if (c->n_args == 2 && strcmp(c->args[0], "index") == 0)
		return repair_index(c, c->args[1]);
	if (c->n_args == 2 && strcmp(c->args[0], "snapshots") == 0)
		return repair_snapshots(c, c->args[1]);
	cli_usage_err(c->cmd, "unknown repair \"%s\" (want index or "
		      "snapshots)", c->args[0]);
	return EXIT_USAGE;
}
