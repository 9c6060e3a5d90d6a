/* SPDX-License-Identifier: MIT */
/*
 * cliint.h - what command implementations (src/cli/cmd_*.c) share with the
 * command table in cli.c: the parsed command line, the option tables and
 * the helpers of common.c. Private to src/cli (and tests/tools/drfs-craft).
 */
#ifndef DRFS_CLIINT_H
#define DRFS_CLIINT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "drfs/backend.h"
#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/ops.h"
#include "drfs/pattern.h"
#include "drfs/repo.h"

#define EXIT_USAGE 2
#define EXIT_PARTIAL 3
/* Longest passphrase read from a file or the terminal (bytes). */
#define DRFS_PASSPHRASE_MAX 1023

struct cli_cmd;

struct cli {
	const struct cli_cmd *command;
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
	bool bytes;    /* --bytes: cli_exact_bytes */
	bool utc;      /* snapshots: no local-time column */
	bool progress; /* a progress line also off a tty (progress.c) */
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
	const char *verify_budget;    /* --verify-budget SIZE (backup, mount) */
	/* --limit-upload, --limit-download RATE: bytes/s, 0 none */
	uint64_t limit_up, limit_down;
	bool no_parent;
	/* backup: what is left out */
	struct drfs_excludes excludes; /* --exclude, --exclude-file */
	struct drfs_excludes includes; /* restore --include */
	bool exclude_caches;
	bool one_file_system;
	bool skip_if_unchanged;
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
	/* monitoring (cmd_facts.c, docs/monitoring.md) */
	const char *metrics_textfile; /* mount --metrics-textfile PATH */
	const char *metrics_every;    /* mount --metrics-every D */
	const char *metrics_listen;   /* mount --metrics-listen [ADDR:]PORT */
	const char *max_age;          /* status --max-age D */
	const char *stuck_after;      /* status --stuck-after D */
	/* disaster recovery (cmd_dr.c) */
	const char *replica;          /* --replica REPO2 */
	bool replica_async;           /* --replica-async */
	const char *replica_endpoint; /* --replica-endpoint URL */
	const char *replica_region;   /* --replica-region R */
	const char *replica_profile;  /* --replica-profile NAME */
	const char *password_file2;   /* --password-file2: copy's DST */
	const char *new_password_file; /* key add|passwd */
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
	/* several repositories in one mount */
	const char *mount_config;     /* --config FILE */
	const char *retry_every;      /* --retry-every DURATION */
	char *conf_text;              /* the parsed --config (owned) */
};

/* ---- the tables (opts.c parses, help.c describes) ------------------------ */

struct cli_opt;
/*
 * Store arg (NULL for a flag) as o says; -EINVAL when arg is not valid (the
 * parser says so), -ECANCELED after a message of the setter's own.
 */
typedef int (*cli_set_fn)(struct cli *c, const struct cli_opt *o,
			  const char *arg);

struct cli_opt {
	const char *name;   /* long name, without "--" */
	char short_name;    /* -x; 0: none */
	const char *arg;    /* what the value is ("N", "DIR"); NULL: a flag */
	cli_set_fn set;
	size_t off;         /* the field of struct cli it sets */
	long lo, hi;        /* cli_set_int: the range */
	const char *help;   /* one sentence or two */
	unsigned flags;     /* CLI_OPT_* */
};
#define CLI_OPT_REPEAT 1u /* may be given more than once (a list) */

int cli_set_flag(struct cli *c, const struct cli_opt *o, const char *arg);
int cli_set_str(struct cli *c, const struct cli_opt *o, const char *arg);
int cli_set_int(struct cli *c, const struct cli_opt *o, const char *arg);
/* One more --tag (at most DRFS_TAGS_MAX, each 1..DRFS_TAG_MAX bytes). */
int cli_set_tag(struct cli *c, const struct cli_opt *o, const char *arg);

/* The offset of field in struct cli, which must have type t. */
#define CLI_FIELD(field, t)                                                    \
	(offsetof(struct cli, field) +                                         \
	 0 * sizeof(char[__builtin_types_compatible_p(                         \
				 __typeof__(((struct cli *)0)->field), t)      \
				 ? 1                                           \
				 : -1]))
#define CLI_FLAG(n, s, field, h)                                               \
	{ .name = n, .short_name = s, .set = cli_set_flag,                     \
	  .off = CLI_FIELD(field, bool), .help = h }
#define CLI_STR(n, s, a, field, h)                                             \
	{ .name = n, .short_name = s, .arg = a, .set = cli_set_str,            \
	  .off = CLI_FIELD(field, const char *), .help = h }
#define CLI_INT(n, a, field, l, u, h)                                          \
	{ .name = n, .arg = a, .set = cli_set_int,                             \
	  .off = CLI_FIELD(field, int), .lo = l, .hi = u, .help = h }
/* An option parsed by fn (fields of its own choosing). */
#define CLI_FN(n, a, fn, h, fl)                                                \
	{ .name = n, .arg = a, .set = fn, .help = h, .flags = fl }

/* One command: what `drfs help CMD` and the parser use. */
struct cli_cmd {
	const char *name;
	const char *synopsis;    /* the arguments: "REPO DIR" */
	int min_args, max_args;  /* max -1: no limit */
	int repo_arg;            /* which argument is REPO; -1: none */
	const char *summary;     /* one line, for the list of commands */
	const char *text;        /* what it does, more: NULL or a paragraph */
	/* its option tables, each ending in { 0 }; the list ends in NULL */
	const struct cli_opt *const *opts;
	const char *exit3;       /* what exit status 3 means; NULL: never */
	int (*run)(struct cli *c);
};

/* Every command (cli.c). */
extern const struct cli_cmd cli_commands[];
extern const size_t cli_n_commands;

/* The options every command takes, before or after its name (opts.c). */
extern const struct cli_opt cli_opts_global[];
/* --keep-last ... --keep-tag (prune, forget, policy, mount). */
extern const struct cli_opt cli_opts_keep[];
/* --path, --tag: which snapshots (with the global --host). */
extern const struct cli_opt cli_opts_filter[];
/* --json */
extern const struct cli_opt cli_opt_json[];
/* --limit-upload, --limit-download (the commands that move data in bulk) */
extern const struct cli_opt cli_opts_limit[];

/*
 * Parse argv[first..argc) for cmd into c (c->args: the arguments that are
 * not options, in order; DRFS_REPOSITORY inserted as REPO when it was left
 * out). Options of cmd and global options may come in any order among the
 * arguments; "--" ends the options. 0; 1 when --help was asked for;
 * -EINVAL after a "drfs: CMD: ..." message.
 */
int cli_parse(struct cli *c, const struct cli_cmd *cmd, int argc,
	      char **argv, int first);
/*
 * One global option at argv[*i] (before the command): 1 if it was one
 * (*i advanced past its value), 0 if argv[*i] is no global option,
 * -EINVAL after a message.
 */
int cli_parse_global(struct cli *c, int argc, char **argv, int *i);
/* Set the defaults of every field that is not zero by default. */
void cli_defaults(struct cli *c);
/*
 * The word of words[0..n) closest to s by edit distance, if it is close
 * enough to be what was meant; else NULL.
 */
const char *cli_closest(const char *s, const char *const *words, size_t n);
/* "drfs: CMD: ... (see "drfs help CMD")": a usage error. */
void cli_usage_err(const char *cmd, const char *fmt, ...) _printf_(2, 3);

/* help.c: `drfs help` (the commands and the global options). */
void cli_help_all(FILE *f, const struct cli_cmd *cmds, size_t n);
/* `drfs help CMD`, `drfs CMD --help`. */
void cli_help_cmd(FILE *f, const struct cli_cmd *cmd);

/* Messages kept for a --json document (at most CLI_MSGS_MAX). */
#define CLI_MSGS_MAX 4096
struct cli_msgs {
	char **v;
	size_t n, cap;
	size_t dropped; /* past CLI_MSGS_MAX (or out of memory) */
};
/*
 * Print one "drfs: ..." line on stderr (a drfs_report_fn); userdata NULL
 * or a struct cli_msgs that also keeps it (thread-safe).
 */
void cli_report_line(void *userdata, const char *fmt, ...) _printf_(2, 3);
/* The messages as a JSON array of strings. */
void cli_msgs_json(FILE *f, const struct cli_msgs *m);
void cli_msgs_release(struct cli_msgs *m);
/*
 * Fill c->password, unless it is set, from DRFS_PASSWORD (taken out of the
 * environment as cli_take_env_secret does), the password file or the
 * terminal; none without any.
 */
int cli_get_password(struct cli *c, bool confirm);
/*
 * A line from fd (without echo on a terminal, after prompt), in secret
 * memory; NULL without memory.
 */
char *cli_read_secret(int fd, const char *prompt);
/* The first line of file, in secret memory; logs why it cannot. */
int cli_read_secret_file(const char *file, char **ret);
/*
 * Move environment variable name into secret memory (*ret, untouched when
 * it is not set), overwrite its value in place and unset it.
 */
int cli_take_env_secret(const char *name, char **ret);
/* drfs_secret_free(*s) and *s = NULL. */
void cli_drop_secret(char **s);
void cli_repo_opts(struct cli *c, struct drfs_repo_opts *o, const char *url);
/*
 * Open REPO, printing a clear error on failure; c->password is dropped
 * once the repository is open (or could not be).
 */
int cli_open_repo(struct cli *c, const char *url, struct drfs_repo **ret);
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
/* The same with a full sync (drfs_repo_sync) when full. */
int cli_lock_sync(struct drfs_repo *r, enum drfs_lock_role role, bool full,
		  struct drfs_lock **ret);
/* "3 packs deleted, 1 repacked, 30 MiB -> 15 MiB; ..." of a gc. */
struct drfs_gc_result;
void cli_gc_summary(const struct drfs_gc_result *res, char *out, size_t len);
/* The same with options the caller filled (cli_repo_opts and more). */
int cli_open_repo_with(struct cli *c, struct drfs_repo_opts *o,
		       struct drfs_repo **ret);
/* -EINVAL and a usage line unless exactly n positional arguments. */
int cli_need_args(struct cli *c, int n, const char *usage);
void cli_json_str(FILE *f, const char *s);
/*
 * Warn (stderr) about snapshots gone without a forget record and refused
 * records (drfs_repo_snapshot_audit); only rollbacks with rollback_only.
 */
void cli_warn_vanished(struct drfs_repo *r, bool rollback_only);
/* "2026-11-21T14:30:05.123456789Z" */
void cli_iso_time(const struct timespec *t, char out[48]);

/* ---- progress.c: the progress of a long command -------------------------- */

struct cli_progress {
	struct drfs_progress p; /* the operation's counters (atomic) */
	pthread_t th;
	atomic_bool stop;
	bool on, json;
	bool always_counts; /* counts and bytes also while 0 (backup) */
	const char *verb;   /* the command */
	const char *unit;   /* what p.files counts: "files", "packs" */
	double start;
};
/*
 * Start the progress of c's command unless -q: on a terminal (stderr) a
 * line rewritten in place, elsewhere only with --progress; with --json
 * only with --progress, as JSON lines on stdout (docs/json.md). pt->p is
 * the operation's struct drfs_progress either way.
 */
void cli_progress_start(struct cli_progress *pt, const struct cli *c,
			const char *unit);
/* Stop it: a last refresh, then the line erased. */
void cli_progress_stop(struct cli_progress *pt);
/*
 * "{" of the --json document of a command with --progress: with it the
 * last of the JSON lines, with "type":"summary" first.
 */
void cli_json_begin(const struct cli *c);
/* --bytes: sizes for people exact ("15463883 B"), not "14.7 MiB" */
extern bool cli_exact_bytes;
/* n as cli_exact_bytes says; the progress line is always human */
char *cli_size(uint64_t n, char out[32]);
/* --progress (backup, restore, check, copy, drill, prune, umount) */
extern const struct cli_opt cli_opt_progress[];

/* src/cli/cmd_repo.c: the commands on a repository without FUSE */
int cli_cmd_init(struct cli *c);
int cli_cmd_backup(struct cli *c);
/* --verify-budget SIZE, or the default (backup, mount): -EINVAL said */
int cli_verify_budget(struct cli *c, uint64_t *ret);
int cli_cmd_snapshots(struct cli *c);
int cli_cmd_restore(struct cli *c);
int cli_cmd_check(struct cli *c);
int cli_cmd_stats(struct cli *c);

/* src/cli/cmd_key.c: key list|add|remove|passwd */
int cli_cmd_key(struct cli *c);

/* src/cli/cmd_mount.c */
int cli_cmd_mount(struct cli *c);
int cli_cmd_umount(struct cli *c);

/* src/cli/cmd_retention.c */
struct drfs_policy;
/* The --keep-* options as a policy; -EINVAL (after a message) if invalid. */
int cli_policy(const struct cli *c, struct drfs_policy *p);
/* Whether the command line holds any --keep-* option. */
bool cli_have_keep_options(const struct cli *c);
int cli_cmd_prune(struct cli *c);
/* The mount's prune hook (struct drfs_mount_retention.prune). */
int cli_mount_prune(void *ud, struct drfs_repo *r, const char *args,
		    size_t args_len, const struct drfs_id *roots,
		    size_t n_roots, struct drfs_buf *out);
int cli_cmd_forget(struct cli *c);
int cli_cmd_hold(struct cli *c);
int cli_cmd_release(struct cli *c);
int cli_cmd_policy(struct cli *c);

/* src/cli/mountconf.c: the config file of drfs mount --config */
struct drfs_mount_conf_entry {
	const char *key, *value; /* into the parsed text */
	unsigned line;
};
struct drfs_mount_conf_section {
	const char *name;        /* the folder: drfs_fs_multi_name_ok */
	unsigned line;
	struct drfs_mount_conf_entry *e;
	size_t n;
};
struct drfs_mount_conf {
	struct drfs_mount_conf_section *s;
	size_t n;
	char *text;
};
/*
 * Parse a config file's bytes (a pure function over buf, len; fuzzed by
 * tests/fuzz/fuzz_mountconf.c). -EINVAL with "line N: what" in err, or
 * -ENOMEM; on success *ret holds at least one section, each with a
 * repository, only known keys, each once.
 */
int drfs_mount_conf_parse(const char *buf, size_t len,
			  struct drfs_mount_conf *ret, char *err,
			  size_t errlen);
void drfs_mount_conf_release(struct drfs_mount_conf *c);
/* The value of key in s (and its line into *ret_line), or NULL. */
const char *drfs_mount_conf_get(const struct drfs_mount_conf_section *s,
				const char *key, unsigned *ret_line);
/* The first line DRFS_PASSWORD_COMMAND-style cmd prints, as a secret. */
int cli_read_secret_command(const char *cmd, char **ret);
/* The option of drfs mount (or a global one) a config key sets; NULL. */
const struct cli_opt *cli_mount_opt(const char *name);

/* src/cli/cmd_repair.c: repair index, repair snapshots */
int cli_cmd_repair(struct cli *c);

/* src/cli/cmd_now.c: talk to a mount daemon */
int cli_cmd_snapshot(struct cli *c);
int cli_cmd_status(struct cli *c); /* cmd_facts.c */
/*
 * The repositories of the several-repository mount at mp, one line each
 * "NAME\tSTATE\tMESSAGE" (malloc'd), or NULL when mp is not one; the next
 * line of such a listing split; whether mp is the folder of a repository
 * such a mount could not open (then said). cmd_now.c.
 */
char *cli_multi_list(const char *mp);
bool cli_next_repo(char **p, char **name, char **state, char **msg);
bool cli_unavailable_folder(const char *mp);
int cli_cmd_metrics(struct cli *c);
struct drfs_facts;
/* drfs_stats() into the have_stats figures of f (the mount's hook). */
int cli_facts_stats(struct drfs_repo *r, struct drfs_facts *f);

/* src/cli/cmd_dr.c */
int cli_cmd_drill(struct cli *c);
int cli_cmd_copy(struct cli *c);
int cli_cmd_lock_extend(struct cli *c);
int cli_cmd_mirror(struct cli *c);
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
int cli_trusted_snapshot(struct cli *c, struct drfs_repo *r, const char *spec,
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
bool cli_printable(const char *s);

int cli_snapshot_sides(struct drfs_repo *r, const struct drfs_snap_info *si);
/*
 * Say whether the credentials be was opened with can overwrite objects
 * (drfs_backend_probe_overwrite; each side of a replica): a warning when
 * they can, one line (unless -q) when they cannot; nothing for backends
 * without the probe (a local directory).
 */
void cli_report_create_only(struct cli *c, struct drfs_backend *be);
/*
 * With S3 Object Lock on the bucket: how many snapshots are protected (every
 * object they need retained beyond now), and a warning naming the oldest
 * and newest that are not (drfs_lock_audit); nothing without Object Lock.
 */
void cli_report_lock(struct cli *c, struct drfs_repo *r);

#endif
