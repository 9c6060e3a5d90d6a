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
#include "drfs/lock.h"
#include "drfs/repo.h"

#define EXIT_USAGE 2
#define EXIT_PARTIAL 3
/* Longest passphrase read from a file or the terminal (bytes). */
#define DRFS_PASSPHRASE_MAX 1023

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
	bool no_encryption;  /* --no-encryption: no passphrase is used */
	bool no_encryption2; /* --no-encryption2: copy's DST is unencrypted */
	bool have_expect_id; /* --expect-id HEX */
	uint8_t expect_id[16];
	int compression;
	bool foreground, debug;
	const char *fuse_opts;
	const char *cache_size;
	bool no_parent;
	bool quiet;
	struct drfs_backend_opts be;
	int threads;
	/*
	 * Secret memory (drfs_secret_alloc), owned; dropped as soon as the
	 * repository is open. DRFS_PASSWORD and DRFS_PASSWORD2 are taken out
	 * of the environment (and overwritten there) when drfs starts.
	 */
	char *password;
	char *password2;
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
	/* several hosts in one repository (docs/hosts.md) */
	const char *host;             /* --host: recorded, or a filter */
	const char *path;             /* --path: a filter */
	const char *name;             /* --name: a mount's lineage */
	const char *from;             /* --from: where now/ starts */
	const char *group_by;         /* --group-by host,paths,tags */
	char myhost[DRFS_HOST_MAX_BUF]; /* --host, else this machine's */
	const char *delete_after;     /* --delete-after D (mirror) */
	const char *verify;           /* --verify etag|size (mirror) */
};

/* Print one "drfs: ..." line on stderr (a drfs_report_fn). */
void report_line(void *userdata, const char *fmt, ...) _printf_(2, 3);
/*
 * Fill c->password, unless it is set, from DRFS_PASSWORD (taken out of the
 * environment as take_env_secret does), the password file or the
 * terminal; none without any.
 */
int get_password(struct cli *c, bool confirm);
/* The first line of file, in secret memory; logs why it cannot. */
int read_secret_file(const char *file, char **ret);
/*
 * Move environment variable name into secret memory (*ret, untouched when
 * it is not set), overwrite its value in place and unset it.
 */
int take_env_secret(const char *name, char **ret);
/* drfs_secret_free(*s) and *s = NULL. */
void drop_secret(char **s);
void repo_opts(struct cli *c, struct drfs_repo_opts *o, const char *url);
/*
 * Open REPO, printing a clear error on failure; c->password is dropped
 * once the repository is open (or could not be).
 */
int open_repo(struct cli *c, const char *url, struct drfs_repo **ret);
/*
 * A shared lock for a command that reads (DRFS_ROLE_READER) or writes a
 * repository, then the cache synced under it (a prune may have finished
 * between the open and the lock). A lock that cannot be written (e.g.
 * read-only credentials) is a warning and *ret NULL: the command goes on
 * unprotected. -EBUSY (after a message) while a prune holds an exclusive
 * lock; sync errors after a message.
 */
int cli_lock(struct drfs_repo *r, enum drfs_lock_role role,
	     struct drfs_lock **ret);
/* "3 packs deleted, 1 repacked, 30 MiB -> 15 MiB; ..." of a gc. */
struct drfs_gc_result;
void gc_summary(const struct drfs_gc_result *res, char *out, size_t len);
/* The same with options the caller filled (repo_opts and more). */
int open_repo_with(struct cli *c, struct drfs_repo_opts *o,
		   struct drfs_repo **ret);
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
/* The mount's prune hook (struct drfs_mount_retention.prune). */
int cli_mount_prune(void *ud, struct drfs_repo *r, const char *args,
		    size_t args_len, const struct drfs_id *roots,
		    size_t n_roots, struct drfs_buf *out);
int cmd_forget(struct cli *c);
int cmd_hold(struct cli *c);
int cmd_release(struct cli *c);
int cmd_policy(struct cli *c);

/* src/cli/cmd_repair.c: repair index, repair snapshots */
int cmd_repair(struct cli *c);

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
int trusted_snapshot(struct cli *c, struct drfs_repo *r, const char *spec,
		     char out[DRFS_ID_HEX_LEN + 1]);
/*
 * The snapshot spec names for c ("latest": the newest of --host, by
 * default this machine, with --path and --tag if given); errors are
 * logged, with the hosts the repository has when "latest" finds none.
 */
int cli_find_snapshot(struct cli *c, struct drfs_repo *r, const char *spec,
		      struct drfs_snap_info *ret);
/* What "latest" means for c: --host (else this machine), --path, --tag. */
void cli_latest_filter(const struct cli *c, struct drfs_snap_filter *f);
/* Whether s has no control characters (safe to print). */
bool printable(const char *s);

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
