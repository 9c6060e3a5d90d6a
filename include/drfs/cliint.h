/* SPDX-License-Identifier: MIT */
/*
 * cliint.h - what command implementations (src/cli/cmd_*.c) share with the
 * command table in cli.c: the parsed command line and a few helpers.
 */
#ifndef DRFS_CLIINT_H
#define DRFS_CLIINT_H

#include <stdio.h>

#include "drfs/backend.h"
#include "drfs/limits.h"
#include "drfs/repo.h"

#define EXIT_USAGE 2
#define EXIT_PARTIAL 3

struct cli {
	const char *cmd;
	char **args;
	int n_args;
	/* options */
	const char *cache_dir;
	const char *password_file;
	const char *time;
	const char *tags[DRFS_TAGS_MAX];
	size_t n_tags;
	bool json;
	bool read_data;
	const char *read_subset;
	bool no_encryption;
	int compression;
	bool foreground, debug;
	const char *fuse_opts;
	const char *cache_size;
	bool no_parent;
	bool quiet;
	struct drfs_backend_opts be;
	int threads;
	char *password; /* owned, wiped */
	/* retention (-1: not given) */
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
		keep_yearly;
	const char *keep_within;
	const char *keep_tags[DRFS_TAGS_MAX];
	size_t n_keep_tags;
	bool dry_run;
	bool compliance;              /* lock-extend: COMPLIANCE mode */
	const char *max_unused;
	/* writable mount */
	const char *snapshot_every;
	bool no_snapshot_on_unmount;
	/* disaster recovery (cmd_dr.c) */
	const char *replica;          /* --replica REPO2 */
	bool replica_async;           /* --replica-async */
	const char *replica_endpoint; /* --replica-endpoint URL */
	const char *replica_region;   /* --replica-region R */
	const char *replica_profile;  /* --replica-profile NAME */
	const char *password_file2;   /* --password-file2: copy's DST */
	const char *sample;           /* --sample PERCENT (drill) */
	const char *seed;             /* --seed N (drill --sample) */
	const char *overwrite;        /* --overwrite MODE (restore) */
	const char *delete_after;     /* --delete-after D (mirror) */
	const char *verify;           /* --verify etag|size (mirror) */
};

/* Print one "drfs: ..." line on stderr (a drfs_report_fn). */
void report_line(void *userdata, const char *fmt, ...) _printf_(2, 3);
/* Fill c->password from DRFS_PASSWORD, the password file or the terminal. */
int get_password(struct cli *c, bool confirm);
void repo_opts(struct cli *c, struct drfs_repo_opts *o, const char *url);
/* Open REPO, printing a clear error on failure. */
int open_repo(struct cli *c, const char *url, struct drfs_repo **ret);
/* -EINVAL and a usage line unless exactly n positional arguments. */
int need_args(struct cli *c, int n, const char *usage);
void json_str(FILE *f, const char *s);
/*
 * Warn (stderr) about snapshots gone without a forget record and refused
 * records (drfs_repo_snapshot_audit); only rollbacks with rollback_only.
 */
void warn_vanished(struct drfs_repo *r, bool rollback_only);
/* "2026-11-21T14:30:05.123456789Z" */
void iso_time(const struct timespec *t, char out[48]);

/* src/cli/cmd_retention.c */
struct drfs_policy;
/* The --keep-* options as a policy; -EINVAL (after a message) if invalid. */
int cli_policy(const struct cli *c, struct drfs_policy *p);
int cmd_prune(struct cli *c);
int cmd_forget(struct cli *c);
int cmd_hold(struct cli *c);
int cmd_release(struct cli *c);
int cmd_policy(struct cli *c);

/* src/cli/cmd_now.c: talk to a mount daemon */
int cmd_snapshot(struct cli *c);
int cmd_status(struct cli *c);

/* src/cli/cmd_dr.c */
int cmd_drill(struct cli *c);
int cmd_copy(struct cli *c);
int cmd_lock_extend(struct cli *c);
int cmd_mirror(struct cli *c);
/*
 * With --replica: which sides hold a snapshot, as a bit mask: 1 the
 * primary has its object, 2 the replica has it and all it references,
 * 4 the replica has the object but lacks data (lag); -1 without a replica.
 */
/*
 * The snapshot to serve for spec: spec itself, unless reads come from a
 * replica (the primary failed), where it must be complete there; "latest"
 * falls back to the newest complete one (with a warning). Fills out with
 * its hex id; errors are logged.
 */
int trusted_snapshot(struct drfs_repo *r, const char *spec,
		     char out[DRFS_ID_HEX_LEN + 1]);

int snapshot_sides(struct drfs_repo *r, const struct drfs_snap_info *si);
/*
 * Say whether the credentials be was opened with can overwrite objects
 * (drfs_backend_probe_overwrite; each side of a replica): a warning when
 * they can, one line (unless -q) when they cannot; nothing for backends
 * without the probe (a local directory).
 */
void report_create_only(struct cli *c, struct drfs_backend *be);
/*
 * With S3 Object Lock on the bucket: how many snapshots are protected (every
 * object they need retained beyond now), and a warning naming the oldest
 * and newest that are not (drfs_lock_audit); nothing without Object Lock.
 */
void report_lock(struct cli *c, struct drfs_repo *r);

#endif
