/* SPDX-License-Identifier: MIT */
/*
 * cmd_facts.c - monitoring (docs/monitoring.md): drfs metrics and drfs
 * status, of a mount (its daemon answers user.drfs.facts) or of a
 * repository opened here.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "cliint.h"
#include "drfs/facts.h"
#include "drfs/fs.h"
#include "drfs/log.h"
#include "drfs/ops.h"

#define EXIT_UNHEALTHY 4
#define STUCK_AFTER_DEFAULT 900 /* s: --stuck-after */

/* The have_stats figures (the mount's hook too). */
int cli_facts_stats(struct drfs_repo *r, struct drfs_facts *f)
{
	struct drfs_stats s;
	int e = drfs_stats(r, &s);
	if (e < 0)
		return e;
	f->have_stats = true;
	f->repo_bytes = s.repo_bytes;
	f->raw_bytes = s.raw_bytes;
	f->stored_bytes = s.stored_blob_bytes;
	f->logical_bytes = s.logical_bytes;
	return 0;
}

/*
 * The facts of arg, a mountpoint or a repository: 0, or 1 after saying
 * why not.
 */
static int get_facts(struct cli *c, const char *arg, struct drfs_facts *f)
{
	struct drfs_repo *r;
	memset(f, 0, sizeof(*f));
	int e = drfs_fs_facts(arg, f);
	if (e >= 0)
		return 0;
	if (e != -ENOTCONN && e != -ENOENT && e != -ENOTDIR) {
		log_err("\"%s\": %s", arg, drfs_strerror(e));
		return 1;
	}
	/* not a mount: a repository */
	if (cli_open_repo(c, arg, &r) < 0)
		return 1;
	e = drfs_facts_collect(r, true, f);
	if (e >= 0 && cli_facts_stats(r, f) < 0)
		f->have_stats = false;
	drfs_repo_free(r);
	if (e < 0) {
		log_err("facts of \"%s\": %s", arg, drfs_strerror(e));
		return 1;
	}
	if (c->host)
		snprintf(f->host, sizeof(f->host), "%s", c->host);
	return 0;
}

int cli_cmd_metrics(struct cli *c)
{
	struct drfs_facts *f = malloc(sizeof(*f));
	struct drfs_buf b;
	int e = cli_need_args(c, 1, "MOUNTPOINT|REPO");
	if (e < 0 || !f) {
		free(f);
		return e < 0 ? EXIT_USAGE : 1;
	}
	if (get_facts(c, c->args[0], f)) {
		free(f);
		return 1;
	}
	drfs_buf_init(&b, 4 * DRFS_FACTS_TEXT_MAX);
	e = c->json ? drfs_facts_metrics_json(f, &b)
		    : drfs_facts_prometheus(f, &b);
	if (e >= 0 && c->json)
		cli_json_begin(c);
	if (e >= 0)
		fwrite(b.p, 1, b.len, stdout);
	if (e < 0)
		log_err("metrics: %s", drfs_strerror(e));
	drfs_buf_release(&b);
	free(f);
	return e < 0 ? 1 : 0;
}

static void json_time(const char *key, const struct timespec *t, bool comma)
{
	char s[48];
	if (!t->tv_sec && !t->tv_nsec) {
		printf("\"%s\":null%s", key, comma ? "," : "");
		return;
	}
	cli_iso_time(t, s);
	printf("\"%s\":\"%s\"%s", key, s, comma ? "," : "");
}

static void json_drill(const char *key, bool have,
		       const struct drfs_drill_rec *d)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	struct timespec t = { .tv_sec = (time_t)d->time };
	printf("\"%s\":", key);
	if (!have) {
		printf("null");
		return;
	}
	printf("{\"snapshot\":\"%s\",\"ok\":%s,",
	       drfs_id_hex(&d->snapshot, hex), d->ok ? "true" : "false");
	json_time("time", &t, true);
	printf("\"restore_seconds\":%.3f,\"files\":%" PRIu64 ",\"bytes\":%"
	       PRIu64 "}",
	       (double)d->restore_ms / 1000, d->files, d->bytes);
}

static void status_json(const struct drfs_facts *f, bool have_newest,
			const struct timespec *newest, double age,
			const char *const *problems, size_t n_problems,
			bool embedded)
{
	printf("{\"repository\":\"%s\",\"mounted\":%s,\"host\":", f->repo,
	       f->mounted ? "true" : "false");
	cli_json_str(stdout, f->host);
	printf(",\"snapshots\":%" PRIu64 ",", f->snapshots);
	json_time("newest_snapshot", newest, true);
	if (have_newest)
		printf("\"newest_snapshot_age_seconds\":%.0f,", age);
	else
		printf("\"newest_snapshot_age_seconds\":null,");
	struct timespec lc = { .tv_sec = (time_t)f->last_check };
	json_time("last_check", &lc, true);
	printf("\"endpoint_up\":%s,",
	       f->endpoint_up < 0 ? "null" : f->endpoint_up ? "true" : "false");
	if (f->mounted)
		printf("\"backlog\":{\"objects\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"pending_blobs\":%" PRIu64 ",\"pending_bytes\":%"
		       PRIu64 ",\"oldest_age_seconds\":%.0f,"
		       "\"stalled_seconds\":%.0f},\"now_changed\":%s,"
		       "\"rss_bytes\":%" PRIu64 ",",
		       f->backlog_objects, f->backlog_bytes, f->pending_blobs,
		       f->pending_bytes, f->backlog_age, f->stalled,
		       f->changed ? "true" : "false", f->rss_bytes);
	printf("\"hosts\":[");
	for (size_t i = 0; i < f->n_hosts; i++) {
		const struct drfs_facts_host *h = &f->hosts[i];
		printf("%s{\"host\":", i ? "," : "");
		cli_json_str(stdout, h->host);
		printf(",\"folder\":\"%s\",", h->folder);
		json_time("time", &h->time, true);
		if (h->duration_ms)
			printf("\"duration_seconds\":%.3f,",
			       (double)h->duration_ms / 1000);
		else
			printf("\"duration_seconds\":null,");
		printf("\"added_bytes\":%" PRIu64 ",\"files\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"snapshots\":%" PRIu64 "}",
		       h->added_bytes, h->files, h->bytes, h->snapshots);
	}
	printf("],\"backend_errors\":{");
	for (int k = 0; k < DRFS_BE_KINDS; k++)
		printf("%s\"%s\":%" PRIu64, k ? "," : "",
		       drfs_backend_kind_name(k), f->errors[k]);
	printf("},\"backend_retries\":{");
	for (int k = 0; k < DRFS_BE_KINDS; k++)
		printf("%s\"%s\":%" PRIu64, k ? "," : "",
		       drfs_backend_kind_name(k), f->retries[k]);
	printf("},");
	json_drill("last_drill", f->have_drill, &f->drill);
	printf(",");
	json_drill("last_successful_drill", f->have_drill_ok, &f->drill_ok);
	printf(",\"problems\":[");
	for (size_t i = 0; i < n_problems; i++) {
		printf("%s", i ? "," : "");
		cli_json_str(stdout, problems[i]);
	}
	printf(embedded ? "]}" : "]}\n");
}

static int status_of(struct cli *c, const char *mp, bool embedded)
{
	char text[2048], p[3][200];
	const char *problems[3];
	size_t n_problems = 0;
	int64_t max_age = 0, stuck = STUCK_AFTER_DEFAULT;
	struct timespec newest = { 0 };
	if (c->max_age && (drfs_parse_duration(c->max_age, &max_age) < 0 ||
			   max_age <= 0)) {
		log_err("invalid --max-age \"%s\" (want a duration: 26h)",
			c->max_age);
		return EXIT_USAGE;
	}
	if (c->stuck_after &&
	    (drfs_parse_duration(c->stuck_after, &stuck) < 0 || stuck <= 0)) {
		log_err("invalid --stuck-after \"%s\" (want a duration: 15m)",
			c->stuck_after);
		return EXIT_USAGE;
	}
	struct drfs_facts *f = malloc(sizeof(*f));
	if (!f)
		return 1;
	if (get_facts(c, mp, f)) {
		free(f);
		return 1;
	}
	bool have = drfs_facts_newest(f, &newest) > 0;
	/* a scheduled check that found nothing counts as a snapshot */
	double at = have ? (double)newest.tv_sec : 0;
	if (f->last_check > at)
		at = (double)f->last_check;
	double age = (double)f->now - at;
	if (age < 0 && age > -1) /* now is in whole seconds */
		age = 0;
	if (max_age && (!at || age > (double)max_age)) {
		if (at)
			snprintf(p[n_problems], sizeof(p[0]),
				 "the newest snapshot or check is %.1fh old "
				 "(--max-age %s)", age / 3600, c->max_age);
		else
			snprintf(p[n_problems], sizeof(p[0]),
				 "no snapshot yet (--max-age %s)", c->max_age);
		n_problems++;
	}
	if (f->mounted && f->stalled > (double)stuck) {
		snprintf(p[n_problems], sizeof(p[0]),
			 "uploads stuck: the backlog (%" PRIu64 " files) has "
			 "not shrunk for %.0fs", f->backlog_objects,
			 f->stalled);
		n_problems++;
	}
	if (f->endpoint_up == 0) {
		snprintf(p[n_problems], sizeof(p[0]),
			 "the repository's storage does not answer");
		n_problems++;
	}
	for (size_t i = 0; i < n_problems; i++)
		problems[i] = p[i];
	if (c->json) {
		status_json(f, have, &newest, (double)f->now - (double)newest.tv_sec,
			    problems, n_problems, embedded);
	} else if (f->mounted && drfs_fs_status(mp, text,
						  sizeof(text)) >= 0) {
		fputs(text, stdout);
	} else {
		char t[48];
		printf("repository %s: %" PRIu64 " snapshots\n", f->repo,
		       f->snapshots);
		for (size_t i = 0; i < f->n_hosts; i++) {
			cli_iso_time(&f->hosts[i].time, t);
			printf("newest of %s: %s (%s)\n", f->hosts[i].host,
			       f->hosts[i].folder, t);
		}
	}
	fflush(stdout);
	for (size_t i = 0; i < n_problems; i++)
		log_err("%s", problems[i]);
	free(f);
	return n_problems ? EXIT_UNHEALTHY : 0;
}

int cli_cmd_status(struct cli *c)
{
	char *name, *state, *msg, *p;
	int e = cli_need_args(c, 1, "MOUNTPOINT|REPO [--json] [--max-age D] "
				"[--stuck-after D]");
	if (e < 0)
		return EXIT_USAGE;
	char *list = cli_multi_list(c->args[0]);
	if (!list) {
		if (cli_unavailable_folder(c->args[0]))
			return 1;
		return status_of(c, c->args[0], false);
	}
	/* each repository of a several-repository mount: a section, or an
	 * element of "repositories" */
	int rc = 0;
	size_t n = 0, bad = 0;
	if (c->json)
		printf("{\"repositories\":[");
	for (p = list; cli_next_repo(&p, &name, &state, &msg); n++) {
		char mp[PATH_MAX];
		if (c->json) {
			printf("%s{\"name\":", n ? "," : "");
			cli_json_str(stdout, name);
			printf(",\"state\":");
			cli_json_str(stdout, state);
			printf(",\"message\":");
			cli_json_str(stdout, msg);
			printf(",\"status\":");
		} else {
			printf("%s[%s] %s%s%s\n", n ? "\n" : "", name, state,
			       *msg ? ": " : "", msg);
		}
		fflush(stdout);
		if (!strcmp(state, "unavailable"))
			bad++;
		if (strcmp(state, "serving")) {
			if (c->json)
				printf("null}");
			continue;
		}
		snprintf(mp, sizeof(mp), "%s/%s", c->args[0], name);
		int r = status_of(c, mp, c->json);
		if (c->json)
			printf("}");
		rc = rc ? rc : r;
	}
	free(list);
	if (c->json)
		printf("]}\n");
	fflush(stdout);
	if (bad) {
		log_err("%zu of %zu repositories unavailable", bad, n);
		rc = rc ? rc : 1;
	}
	return rc;
}
