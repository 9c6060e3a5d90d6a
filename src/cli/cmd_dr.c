/* SPDX-License-Identifier: MIT */
/*
 * cmd_dr.c - disaster recovery commands: drill (restore drill, measured
 * RTO), copy (snapshots to another repository, re-encrypted), lock-extend.
 */
#include <stdio.h>
#include <unistd.h>

#include "cliint.h"
#include "drfs/facts.h"
#include "drfs/crypto.h"
#include "drfs/dr.h"
#include "drfs/log.h"
#include "drfs/replica.h"

static void print_replica_stats(struct cli *c, struct drfs_repo *r)
{
	struct drfs_replica_stats st;
	if (!drfs_backend_is_replica(r->be) || c->quiet)
		return;
	drfs_backend_replica_get_stats(r->be, &st);
	if (st.failovers)
		fprintf(stderr, "%llu read(s) served by the replica\n",
			(unsigned long long)st.failovers);
}

/* One side of cli_report_create_only. */
static void probe_side(struct cli *c, struct drfs_backend *be)
{
	int e = drfs_backend_probe_overwrite(be);
	if (e == -EOPNOTSUPP)
		return;
	if (e < 0) {
		const char *d = drfs_backend_last_error(be);
		log_warn("cannot tell whether the credentials used can "
			 "overwrite objects in \"%s\": %s", be->display,
			 d ? d : drfs_strerror(e));
	} else if (e == 0) {
		log_warn("the credentials used can overwrite objects in "
			 "\"%s\" (an overwrite of \".drfs-inm-probe\" "
			 "succeeded): whoever holds them can destroy the "
			 "backups. Give backup hosts create-only credentials; "
			 "where the server cannot enforce that (RadosGW, "
			 "MinIO), keep old versions with versioning or Object "
			 "Lock (docs/disaster-recovery.md, \"Least "
			 "privilege\")", be->display);
	} else if (!c->quiet) {
		fprintf(stderr, "create-only: the credentials used cannot "
				"overwrite objects in \"%s\" (an overwrite "
				"was refused)\n", be->display);
	}
}

void cli_report_create_only(struct cli *c, struct drfs_backend *be)
{
	struct drfs_backend *p, *rep;
	if (drfs_backend_replica_sides(be, &p, &rep) < 0) {
		probe_side(c, be);
		return;
	}
	probe_side(c, p);
	probe_side(c, rep);
}

void cli_report_lock(struct cli *c, struct drfs_repo *r)
{
	struct drfs_lock_audit a;
	struct timespec ts = { 0 };
	char t[48];
	int e;

	if (!r->be->ops->get_retention)
		return;
	e = drfs_lock_audit(r, time(NULL), &a);
	if (e == -EOPNOTSUPP)
		return; /* no Object Lock on this bucket */
	if (e < 0) {
		const char *d = drfs_backend_last_error(r->be);
		log_warn("Object Lock: cannot read the retentions: %s",
			 d ? d : drfs_strerror(e));
		return;
	}
	if (a.protected && !c->quiet) {
		ts.tv_sec = (time_t)a.protected_until;
		cli_iso_time(&ts, t);
		fprintf(stderr, "Object Lock: %zu of %zu snapshot(s) protected "
				"(every object they need retained until %.10s "
				"at least)\n", a.protected, a.snapshots, t);
	}
	if (!a.unprotected)
		return;
	log_warn("Object Lock: %zu snapshot(s) not protected; the oldest: "
		 "%s (\"%s\" is not retained)%s%s", a.unprotected,
		 a.oldest_unprotected.folder, a.oldest_why,
		 a.unprotected > 1 ? ", the newest: " : "",
		 a.unprotected > 1 ? a.newest_unprotected.folder : "");
	if (a.latest_unprotected)
		log_warn("Object Lock: the latest snapshot, %s, is not "
			 "protected: run drfs lock-extend after each backup "
			 "(docs/disaster-recovery.md)",
			 a.newest_unprotected.folder);
}

int cli_snapshot_sides(struct drfs_repo *r, const struct drfs_snap_info *si)
{
	struct drfs_backend *p, *rep;
	char name[DRFS_OBJECT_NAME_MAX];
	uint64_t size;
	if (drfs_backend_replica_sides(r->be, &p, &rep) < 0)
		return -1;
	drfs_name_snapshot(&si->id, name);
	int on = drfs_backend_head(p, name, &size) >= 0 ? 1 : 0;
	if (drfs_backend_head(rep, name, &size) >= 0)
		on |= drfs_snapshot_complete_on(r, rep, si, NULL, NULL) == 1
			      ? 2
			      : 4;
	return on;
}

/*
 * The snapshot to serve: spec itself, unless reads come from a replica
 * (the primary failed while opening) — replication may lag, so the
 * snapshot must be complete there; "latest" falls back to the newest
 * complete one. Fills out with the snapshot's hex id.
 */
int cli_trusted_snapshot(struct cli *c, struct drfs_repo *r, const char *spec,
			 char out[DRFS_ID_HEX_LEN + 1])
{
	struct drfs_backend *rep;
	struct drfs_snap_info si, nc;
	int e = cli_find_snapshot(c, r, spec, &si);
	if (e < 0)
		return e;
	drfs_id_hex(&si.id, out);
	if (!drfs_repo_replica_serving(r, &rep))
		return 0;
	e = drfs_snapshot_complete_on(r, rep, &si, cli_report_line, NULL);
	if (e == 1)
		return 0;
	if (e < 0) {
		log_err("cannot check snapshot %s on replica \"%s\": %s",
			si.folder, rep->display, drfs_strerror(e));
		return e;
	}
	if (strcmp(spec, "latest") != 0) {
		log_err("snapshot %s is not complete on replica \"%s\" "
			"(replication lags)", si.folder, rep->display);
		return -ENOENT;
	}
	struct drfs_snap_filter f;
	cli_latest_filter(c, &f);
	e = drfs_snapshot_newest_complete(r, rep, &f, &nc);
	if (e < 0) {
		log_err("no snapshot is complete on replica \"%s\"%s",
			rep->display, e == -ENOENT ? "" : ": check failed");
		return e;
	}
	log_warn("latest snapshot %s is not complete on replica \"%s\": "
		 "using the newest complete one, %s", si.folder, rep->display,
		 nc.folder);
	drfs_id_hex(&nc.id, out);
	return 0;
}

/* --sample and --seed into *o; EXIT_USAGE (logged) if either is bad. */
static int drill_opts(struct cli *c, struct drfs_drill_opts *o)
{
	if (c->sample) {
		char *end;
		o->sample = strtod(c->sample, &end);
		if (*end == '%')
			end++;
		if (*end || !(o->sample > 0 && o->sample <= 100)) {
			log_err("invalid --sample \"%s\" (want a percentage "
				"above 0, at most 100)", c->sample);
			return EXIT_USAGE;
		}
	}
	if (c->seed) {
		char *end;
		o->seed = strtoull(c->seed, &end, 10);
		if (*end) {
			log_err("invalid --seed \"%s\"", c->seed);
			return EXIT_USAGE;
		}
	} else {
		o->seed = (uint64_t)time(NULL);
	}
	return 0;
}

/* A drill's outcome e (> 0: mismatches, restore errors): text or JSON. */
static void drill_print(struct cli *c, const struct drfs_drill_opts *o,
			const struct drfs_drill_result *res, int e)
{
	double rs = res->restore_seconds;
	double mibs = (double)res->bytes / (1024.0 * 1024.0) /
		      (rs > 1e-6 ? rs : 1e-6);
	/* a sample's restore rate applied to the whole snapshot */
	double full = res->bytes ? rs * (double)res->bytes_total /
					   (double)res->bytes
				 : rs;
	char hex[DRFS_ID_HEX_LEN + 1], t[48];
	drfs_id_hex(&res->snap.id, hex);
	cli_iso_time(&res->snap.snap.time, t);
	if (c->json) {
		cli_json_begin(c);
		printf("\"snapshot\":\"%s\",\"folder\":\"%s\",\"time\":\"%s\","
		       "\"ok\":%s,\"sample_percent\":%g,\"seed\":%llu,"
		       "\"entries\":%llu,\"files\":%llu,\"bytes\":%llu,"
		       "\"files_total\":%llu,\"bytes_total\":%llu,"
		       "\"restore_errors\":%llu,\"mismatches\":%llu,"
		       "\"restore_seconds\":%.3f,\"verify_seconds\":%.3f,"
		       "\"throughput_mib_s\":%.1f,"
		       "\"restore_seconds_full_estimate\":%.3f}\n",
		       hex, res->snap.folder, t, e == 0 ? "true" : "false",
		       o->sample, (unsigned long long)o->seed,
		       (unsigned long long)res->entries,
		       (unsigned long long)res->files,
		       (unsigned long long)res->bytes,
		       (unsigned long long)res->files_total,
		       (unsigned long long)res->bytes_total,
		       (unsigned long long)res->restore_errors,
		       (unsigned long long)res->mismatches, rs,
		       res->verify_seconds, mibs, full);
	} else {
		char b1[32], b2[32];
		printf("snapshot %s (%.8s)\n", res->snap.folder, hex);
		if (o->sample < 100)
			printf("sample:          %g%% of files (seed %llu)\n",
			       o->sample, (unsigned long long)o->seed);
		printf("verified:        %llu of %llu files, %s\n",
		       (unsigned long long)res->files,
		       (unsigned long long)res->files_total,
		       cli_size(res->bytes, b1));
		if (o->sample < 100)
			printf("time-to-restore: %.2fs for the sample "
			       "(%.1f MiB/s); all %s: about %.2fs\n",
			       res->restore_seconds, mibs,
			       cli_size(res->bytes_total, b2), full);
		else
			printf("time-to-restore: %.2fs (%.1f MiB/s)\n",
			       res->restore_seconds, mibs);
		printf("verify:          %.2fs\n", res->verify_seconds);
		printf("result:          %s\n",
		       e == 0 ? "ok" : "FAILED");
	}
}

int cli_cmd_drill(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_drill_opts o = { .sample = 100, .report = cli_report_line };
	struct drfs_drill_result res;
	int e;

	e = drill_opts(c, &o);
	if (e)
		return e;
	o.snapshot = c->n_args == 2 ? c->args[1] : "latest";
	o.scratch = getenv("DRFS_DRILL_DIR");
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	struct drfs_lock *lock;
	char trusted[DRFS_ID_HEX_LEN + 1];
	e = cli_lock(r, DRFS_ROLE_READER, &lock);
	e = e ?: cli_trusted_snapshot(c, r, o.snapshot, trusted);
	if (e < 0) {
		drfs_lock_release(lock);
		drfs_repo_free(r);
		return 1;
	}
	o.snapshot = trusted;
	struct cli_progress pt;
	cli_progress_start(&pt, c, "files");
	o.progress = &pt.p;
	e = drfs_drill(r, &o, &res);
	cli_progress_stop(&pt);
	drfs_lock_release(lock);
	if (e < 0) {
		const char *d = drfs_repo_last_error();
		log_err("drill of \"%s\" failed: %s", c->args[0],
			d && e == -ENOENT ? d : drfs_strerror(e));
		drfs_repo_free(r);
		return 1;
	}
	print_replica_stats(c, r);
	/* for metrics, status and the mount's info files */
	struct drfs_drill_rec rec = {
		.time = (int64_t)time(NULL), .snapshot = res.snap.id,
		.ok = e == 0, .files = res.files, .bytes = res.bytes,
		.restore_ms = (uint64_t)(res.restore_seconds * 1000) };
	int le = drfs_drill_log_add(r, &rec);
	if (le < 0)
		log_warn("cannot record the drill in \"%s/drills\": %s",
			 r->cache_dir ? r->cache_dir : "", drfs_strerror(le));
	drfs_repo_free(r);
	drill_print(c, &o, &res, e);
	if (e > 0) {
		log_err("drill found %llu mismatch(es) and %llu restore "
			"error(s) (named above)",
			(unsigned long long)res.mismatches,
			(unsigned long long)res.restore_errors);
		/* entries restore refused or could not write, all else
		 * verified: like restore, exit 3 */
		return res.mismatches ? 1 : EXIT_PARTIAL;
	}
	return 0;
}

/*
 * The destination's passphrase into c->password2: DRFS_PASSWORD2 (taken at
 * start), --password-file2/DRFS_PASSWORD_FILE2, else the source's; none
 * for --no-encryption2.
 */
static int get_password2(struct cli *c)
{
	const char *file = c->password_file2 ?: getenv("DRFS_PASSWORD_FILE2");
	if (c->no_encryption2) {
		cli_drop_secret(&c->password2);
		return 0;
	}
	if (c->password2)
		return 0;
	if (file)
		return cli_read_secret_file(file, &c->password2);
	int e = cli_get_password(c, false);
	if (e < 0 || !c->password)
		return e;
	c->password2 = drfs_secret_strdup(c->password);
	return c->password2 ? 0 : -ENOMEM;
}

int cli_cmd_copy(struct cli *c)
{
	struct drfs_repo *src = NULL, *dst = NULL;
	struct drfs_lock *src_lock = NULL, *dst_lock = NULL;
	struct drfs_repo_opts o;
	struct drfs_copy_result res = { 0 };
	char *dcache = NULL;
	int e, rc = 1;

	/* both passphrases first: DST may default to SRC's, which is
	 * dropped once SRC is open */
	if (!c->no_encryption && cli_get_password(c, false) < 0)
		return 1;
	if (get_password2(c) < 0)
		return 1;
	if (cli_open_repo(c, c->args[0], &src) < 0)
		goto out;
	if (cli_lock(src, DRFS_ROLE_READER, &src_lock) < 0)
		goto out;
	cli_repo_opts(c, &o, c->args[1]);
	o.no_encryption = c->no_encryption2;
	o.password = c->password2;
	o.have_expect_id = false; /* --expect-id names SRC */
	o.replica = NULL; /* --replica belongs to the source */
	if (c->cache_dir) {
		/* two repositories cannot share one cache directory */
		if (asprintf(&dcache, "%s.dst", c->cache_dir) < 0)
			goto out;
		o.cache_dir = dcache;
	}
	e = drfs_repo_open(&o, &dst);
	cli_drop_secret(&c->password2);
	if (e < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(e));
		goto out;
	}
	if (memcmp(src->config.repo_id, dst->config.repo_id, 16) == 0) {
		/* the same repository (a mirror, a replica added later):
		 * copy the objects it lacks as they are, snapshots last */
		struct drfs_backend *w;
		struct drfs_replica_stats st;
		/* the backends move into the mirror: the lock goes first */
		drfs_lock_release(src_lock);
		src_lock = NULL;
		e = drfs_backend_replica_open(src->be, dst->be, 0, &w);
		src->be = dst->be = NULL;
		if (e < 0)
			goto out;
		e = drfs_backend_replica_catchup(w);
		drfs_backend_replica_get_stats(w, &st);
		drfs_backend_free(w);
		if (e < 0) {
			log_err("mirroring \"%s\" to \"%s\" failed: %s (%llu "
				"objects not copied)", c->args[0], c->args[1],
				drfs_strerror(e),
				(unsigned long long)st.pending);
			goto out;
		}
		char b[32];
		printf("same repository: copied %llu missing object(s), %s\n",
		       (unsigned long long)st.copied,
		       cli_size(st.copied_bytes, b));
		rc = 0;
		goto out;
	}
	struct drfs_snap_filter latest;
	cli_latest_filter(c, &latest); /* "latest": this host's */
	if (cli_lock(dst, DRFS_ROLE_WRITER, &dst_lock) < 0)
		goto out;
	struct drfs_copy_opts co = {
		.snapshots = (const char *const *)c->args + 2,
		.n_snapshots = (size_t)c->n_args - 2,
		.latest = &latest,
		.report = cli_report_line,
	};
	struct cli_progress pt;
	cli_progress_start(&pt, c, "snapshots");
	co.progress = &pt.p;
	double t0 = drfs_now_mono();
	e = drfs_copy(src, dst, &co, &res);
	cli_progress_stop(&pt);
	if (e < 0) {
		const char *d = drfs_repo_last_error();
		log_err("copy failed: %s%s%s", drfs_strerror(e), d ? ": " : "",
			d ? d : "");
		goto out;
	}
	char b1[32], b2[32];
	if (c->json) {
		cli_json_begin(c);
		printf("\"copied\":%llu,\"skipped\":%llu,\"blobs_new\":%llu,"
		       "\"blobs_dup\":%llu,\"bytes_read\":%llu,"
		       "\"bytes_stored\":%llu}\n",
		       (unsigned long long)res.copied,
		       (unsigned long long)res.skipped,
		       (unsigned long long)res.blobs_new,
		       (unsigned long long)res.blobs_dup,
		       (unsigned long long)res.bytes_read,
		       (unsigned long long)res.bytes_stored);
	} else {
		printf("copied %llu snapshot(s), %llu already there; %llu new "
		       "blobs, %s stored, %s read in %.1fs\n",
		       (unsigned long long)res.copied,
		       (unsigned long long)res.skipped,
		       (unsigned long long)res.blobs_new,
		       cli_size(res.bytes_stored, b1),
		       cli_size(res.bytes_read, b2),
		       drfs_now_mono() - t0);
	}
	rc = e > 0 ? EXIT_PARTIAL : 0;
out:
	drfs_lock_release(dst_lock);
	drfs_lock_release(src_lock);
	drfs_repo_free(dst);
	drfs_repo_free(src);
	free(dcache);
	return rc;
}

/*
 * Where a mirror remembers since when objects have been missing from its
 * source: DIR/mirror-<16 hex>.pending, DIR the --cache-dir or the drfs cache
 * directory, the hex from the two URLs (one file per SRC and DST pair).
 */
static int mirror_state_path(struct cli *c, char **ret)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *dir = NULL, hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_buf both;
	struct drfs_id id;
	int e;

	drfs_buf_init(&both, 2 * PATH_MAX + 8);
	e = drfs_buf_printf(&both, "%s\n%s", c->args[0], c->args[1]);
	if (e < 0) {
		drfs_buf_release(&both);
		return e;
	}
	drfs_sha256(both.p, both.len, &id);
	drfs_buf_release(&both);
	drfs_id_hex(&id, hex);
	if (c->cache_dir)
		e = asprintf(&dir, "%s", c->cache_dir);
	else if (xdg && *xdg)
		e = asprintf(&dir, "%s/drfs", xdg);
	else if (home && *home)
		e = asprintf(&dir, "%s/.cache/drfs", home);
	else
		e = asprintf(&dir, "/var/cache/drfs");
	if (e < 0)
		return -ENOMEM;
	e = drfs_mkdir_p(dir, 0700);
	if (e < 0) {
		log_err("cannot create \"%s\" for the mirror's state: %s", dir,
			strerror(-e));
		free(dir);
		return e;
	}
	e = asprintf(ret, "%s/mirror-%.16s.pending", dir, hex);
	free(dir);
	return e < 0 ? -ENOMEM : 0;
}

static int open_side(const char *url, const struct drfs_backend_opts *bo,
		     const char *what, struct drfs_backend **ret)
{
	int e = drfs_backend_open(url, bo, ret);
	if (e < 0) {
		const char *d = drfs_backend_open_error();
		log_err("cannot open the %s \"%s\": %s", what, url,
			d ? d : drfs_strerror(e));
	}
	return e;
}

int cli_cmd_mirror(struct cli *c)
{
	struct drfs_backend *src = NULL, *dst = NULL;
	struct drfs_backend_opts dbo = c->be;
	struct drfs_mirror_opts o = { .delete_after = 7 * 86400,
				      .threads = c->threads,
				      .verify_etag = true,
				      .dry_run = c->dry_run,
				      .report = cli_report_line };
	struct drfs_mirror_result res;
	char *state = NULL;
	int e, rc = 1;

	if (c->delete_after &&
	    (drfs_parse_duration(c->delete_after, &o.delete_after) < 0 ||
	     o.delete_after < 0)) {
		log_err("invalid --delete-after \"%s\" (want e.g. 7d)",
			c->delete_after);
		return EXIT_USAGE;
	}
	if (c->verify && strcmp(c->verify, "etag") &&
	    strcmp(c->verify, "size")) {
		log_err("invalid --verify \"%s\" (want etag or size)",
			c->verify);
		return EXIT_USAGE;
	}
	o.verify_etag = !c->verify || !strcmp(c->verify, "etag");
	dbo.create = true; /* a local mirror's directory */
	if (c->replica_endpoint)
		dbo.endpoint = c->replica_endpoint;
	if (c->replica_region)
		dbo.region = c->replica_region;
	if (c->replica_profile)
		dbo.profile = c->replica_profile;
	if (mirror_state_path(c, &state) < 0)
		return 1;
	o.state_path = state;
	if (open_side(c->args[0], &c->be, "source", &src) < 0 ||
	    open_side(c->args[1], &dbo, "mirror", &dst) < 0)
		goto out;
	double t0 = drfs_now_mono();
	e = drfs_mirror(src, dst, &o, &res);
	if (e < 0) {
		/* -EEXIST, -ENOENT: refused, and why was said above */
		log_err("mirror of \"%s\" to \"%s\" %s%s", c->args[0],
			c->args[1], e == -EEXIST || e == -ENOENT ? "refused" :
			"failed: ", e == -EEXIST || e == -ENOENT ? "" :
			drfs_strerror(e));
		goto out;
	}
	char b[32], d[32];
	snprintf(d, sizeof(d), "%s", c->delete_after ?: "7d");
	if (c->json)
		printf("{\"copied\":%llu,\"copied_bytes\":%llu,"
		       "\"present\":%llu,\"replaced\":%llu,\"differ\":%llu,"
		       "\"failed\":%llu,\"deleted\":%llu,"
		       "\"pending_delete\":%llu,\"snapshots_held\":%s,"
		       "\"dry_run\":%s}\n",
		       (unsigned long long)res.copied,
		       (unsigned long long)res.copied_bytes,
		       (unsigned long long)res.present,
		       (unsigned long long)res.replaced,
		       (unsigned long long)res.differ,
		       (unsigned long long)res.failed,
		       (unsigned long long)res.deleted,
		       (unsigned long long)res.pending_delete,
		       res.snapshots_held ? "true" : "false",
		       c->dry_run ? "true" : "false");
	else
		printf("%s%llu object(s) copied (%s), %llu already there, "
		       "%llu deleted, %llu to delete once gone from the source "
		       "for %s, %llu failed, %llu differ, in %.1fs\n",
		       c->dry_run ? "dry run: " : "",
		       (unsigned long long)res.copied,
		       cli_size(res.copied_bytes, b),
		       (unsigned long long)res.present,
		       (unsigned long long)res.deleted,
		       (unsigned long long)res.pending_delete, d,
		       (unsigned long long)res.failed,
		       (unsigned long long)res.differ,
		       drfs_now_mono() - t0);
	if (e > 0)
		log_err("%d problem(s) (named above); the mirror is not "
			"complete", e);
	rc = e > 0 ? EXIT_PARTIAL : 0;
out:
	drfs_backend_free(src);
	drfs_backend_free(dst);
	free(state);
	return rc;
}

struct retain_out {
	bool json;
	bool apply;       /* set the retention, not only list it */
	bool compliance;
	struct drfs_backend *be;
	int n;
	/* objects extended, already retained enough, converted to
	 * compliance, left governance (conversion refused), failed */
	int extended, kept, converted, not_converted, failed;
	bool stopped;     /* a failure that ends the run (and was reported) */
};

/* Errors after which the next object would fail the same way. */
static bool retain_fatal(int e)
{
	return e == -EOPNOTSUPP || e == -ECONNREFUSED || e == -EHOSTUNREACH ||
	       e == -ETIMEDOUT || e == -ENOMEM || e == -EINVAL;
}

/* Set one object's retention; its result word, NULL to stop the run. */
static const char *retain_one(struct retain_out *o, const char *name,
			      time_t until, const char *t)
{
	int e = drfs_backend_set_retention(o->be, name, until, o->compliance);
	const char *d = e < 0 || e == DRFS_RETAIN_NOT_CONVERTED
				? drfs_backend_last_error(o->be)
				: NULL;
	if (e == -EOPNOTSUPP && !o->be->ops->set_retention) {
		log_err("\"%s\" cannot hold Object Lock retention (only S3 "
			"buckets with Object Lock can)", o->be->display);
		o->stopped = true;
		return NULL;
	}
	if (e < 0) {
		log_err("cannot extend the retention of \"%s\": %s", name,
			d ? d : drfs_strerror(e));
		o->failed++;
		o->stopped = retain_fatal(e);
		return o->stopped ? NULL : "failed";
	}
	switch (e) {
	case DRFS_RETAIN_KEPT:
		o->kept++;
		return "kept";
	case DRFS_RETAIN_CONVERTED:
		o->converted++;
		return "converted";
	case DRFS_RETAIN_NOT_CONVERTED:
		log_warn("\"%s\": its governance retention could not be "
			 "converted to compliance (%s): still governance, "
			 "until %s at least", name,
			 d ? d : "refused", t);
		o->not_converted++;
		return "not-converted";
	default:
		o->extended++;
		return "extended";
	}
}

static int print_retain(void *userdata, const char *name, time_t until)
{
	struct retain_out *o = userdata;
	struct timespec ts = { .tv_sec = until };
	char t[48];
	const char *done = "";
	cli_iso_time(&ts, t);
	t[19] = 'Z'; /* whole seconds: "2026-11-21T14:30:05Z" */
	t[20] = 0;
	if (o->apply && !(done = retain_one(o, name, until, t)))
		return -ECANCELED;
	if (o->json) {
		printf("%s{\"object\":", o->n ? "," : "");
		cli_json_str(stdout, name);
		printf(",\"retain_until\":\"%s\"", t);
		if (*done)
			printf(",\"result\":\"%s\"", done);
		printf("}");
	} else {
		printf("%s %s%s%s\n", t, name, *done ? " " : "", done);
	}
	o->n++;
	return 0;
}

int cli_cmd_lock_extend(struct cli *c)
{
	struct drfs_repo *r;
	struct retain_out out = { .json = c->json,
				  .apply = !c->dry_run,
				  .compliance = c->compliance };
	int64_t window;
	int e;

	if (!c->keep_within) {
		cli_usage_err(c->cmd, "--keep-within DURATION is required");
		return EXIT_USAGE;
	}
	if (drfs_parse_duration(c->keep_within, &window) < 0 || window <= 0) {
		log_err("invalid --keep-within \"%s\" (want e.g. 30d)",
			c->keep_within);
		return EXIT_USAGE;
	}
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	struct drfs_lock *lock;
	if (cli_lock(r, DRFS_ROLE_READER, &lock) < 0) {
		drfs_repo_free(r);
		return 1;
	}
	out.be = r->be;
	if (c->json)
		printf("[");
	e = drfs_retention_plan(r, window, time(NULL), print_retain, &out);
	if (c->json)
		printf("]\n");
	drfs_lock_release(lock);
	drfs_repo_free(r);
	if (e < 0) {
		if (!out.stopped)
			log_err("cannot plan retention: %s", drfs_strerror(e));
		else if (out.n)
			log_err("stopped after %d object(s) (%d extended); "
				"the others are unchanged",
				out.n, out.extended + out.converted);
		return 1;
	}
	if (c->dry_run) {
		if (!c->quiet)
			fprintf(stderr, "%d object(s) to retain (dry run)\n",
				e);
		return 0;
	}
	if (!c->quiet) {
		fprintf(stderr, "%d object(s): retention extended on %d, "
				"already long enough on %d",
			e, out.extended, out.kept);
		if (c->compliance)
			fprintf(stderr, ", converted from governance on %d",
				out.converted);
		fprintf(stderr, " (%s mode)\n",
			c->compliance ? "compliance" : "governance");
	}
	if (!c->compliance && !c->quiet)
		fprintf(stderr, "governance mode: the bucket owner, or anyone "
				"allowed s3:BypassGovernanceRetention, can "
				"shorten or remove these retentions; "
				"--compliance protects against a stolen admin "
				"key too (docs/disaster-recovery.md)\n");
	if (out.not_converted || out.failed) {
		log_err("%d object(s) kept governance retention (converting "
			"needs s3:BypassGovernanceRetention), %d failed "
			"(named above)", out.not_converted, out.failed);
		return EXIT_PARTIAL;
	}
	return 0;
}
