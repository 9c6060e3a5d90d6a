/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the drfs command: the table of commands and their options, and
 * main (exit codes: 0 ok, 1 failure, 2 usage, 3 finished with per-file
 * problems). The commands are in cmd_*.c, what they share in common.c.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
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

/* ---- the commands and their options ------------------------------------ */

static const struct cli_opt init_opts[] = {
	CLI_INT("compression", "N", compression, -7, 22,
		"zstd level of the repository, -7 to 22 (default 3)"),
	{ 0 },
};

/* --exclude PATTERN (include/drfs/pattern.h) */
static int set_exclude(struct cli *c, const struct cli_opt *o,
		       const char *arg)
{
	(void)o;
	return drfs_excludes_add(&c->excludes, arg);
}

/*
 * --exclude-file FILE: one pattern a line; blank lines and lines starting
 * with '#' are skipped, leading and trailing blanks (and a "\r") ignored.
 */
static int set_exclude_file(struct cli *c, const struct cli_opt *o,
			    const char *arg)
{
	(void)o;
	FILE *f = fopen(arg, "re");
	char *line = NULL;
	size_t cap = 0, no = 0;
	ssize_t len;
	int e = 0;
	if (!f) {
		e = -errno;
		log_err("cannot read --exclude-file \"%s\": %s", arg,
			strerror(-e));
		return -ECANCELED;
	}
	while (e == 0 && (len = getline(&line, &cap, f)) >= 0) {
		char *p = line;
		no++;
		while (len && isspace((unsigned char)p[len - 1]))
			p[--len] = 0;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		e = drfs_excludes_add(&c->excludes, p);
		if (e < 0)
			log_err("--exclude-file \"%s\", line %zu: invalid "
				"pattern", arg, no);
	}
	if (e == 0 && ferror(f)) {
		log_err("cannot read --exclude-file \"%s\"", arg);
		e = -EIO;
	}
	free(line);
	fclose(f);
	return e < 0 ? -ECANCELED : 0;
}

/* restore --include PATTERN */
static int set_include(struct cli *c, const struct cli_opt *o,
		       const char *arg)
{
	(void)o;
	return drfs_excludes_add(&c->includes, arg);
}

/* backup and mount: the dedup-loss guard's budget */
#define OPT_VERIFY_BUDGET                                                     \
	CLI_STR("verify-budget", 0, "SIZE", verify_budget,                    \
		"read back up to SIZE of the old data each snapshot "         \
		"deduplicates against, the packs verified longest ago first " \
		"(default 4M; 0: off; docs/verification.md)")

static const struct cli_opt backup_opts[] = {
	CLI_STR("time", 0, "TIME", time,
		"the snapshot's time (RFC 3339, e.g. 2026-11-21T14:30:05Z; "
		"default: now)"),
	CLI_FN("tag", "TAG", cli_set_tag,
	       "record TAG with the snapshot (repeatable)", CLI_OPT_REPEAT),
	CLI_FLAG("no-parent", 0, no_parent,
		 "read every file again instead of trusting an unchanged "
		 "size and mtime of the last snapshot"),
	CLI_FLAG("skip-if-unchanged", 0, skip_if_unchanged,
		 "write no snapshot when DIR (contents and metadata) is as "
		 "the newest snapshot of this host and DIR has it; print that "
		 "snapshot's folder (default: a snapshot every time)"),
	CLI_FN("exclude", "PATTERN", set_exclude,
	       "leave out what PATTERN matches (repeatable): without '/' a "
	       "name at any depth (*.o, node_modules), with '/' a path from "
	       "DIR (/build, src/*.tmp); '*', '?', [a-z], and ** for any "
	       "number of directories; a trailing '/' matches directories "
	       "only; an excluded directory is not read",
	       CLI_OPT_REPEAT),
	CLI_FN("exclude-file", "FILE", set_exclude_file,
	       "--exclude each line of FILE (blank lines and # comments "
	       "skipped; repeatable)",
	       CLI_OPT_REPEAT),
	CLI_FLAG("exclude-caches", 0, exclude_caches,
		 "of a directory holding a CACHEDIR.TAG file with the "
		 "standard signature (bford.info/cachedir) keep only that "
		 "file"),
	CLI_FLAG("one-file-system", 0, one_file_system,
		 "do not cross into other file systems: a mount point inside "
		 "DIR is kept as an empty directory"),
	CLI_FLAG("dry-run", 0, dry_run,
		 "write nothing: read and chunk DIR as a backup would and "
		 "print what the snapshot would hold and how many bytes are "
		 "new to the repository (looked up in the index; before "
		 "compression)"),
	OPT_VERIFY_BUDGET,
	{ 0 },
};

static const struct cli_opt restore_opts[] = {
	CLI_STR("overwrite", 0, "MODE", overwrite,
		"what to do with an entry already in DIR: always (default: "
		"rewrite files, replace symlinks and specials), if-changed "
		"(keep files whose content matches), if-newer (only if the "
		"snapshot's is newer), never, replace (always, and remove a "
		"non-directory of another kind in the way)"),
	CLI_FLAG("dry-run", 0, dry_run,
		 "change nothing: print, one line each, what would be "
		 "created, overwritten, replaced or kept in DIR, and the "
		 "conflicts; DIR need not exist"),
	CLI_FN("include", "PATTERN", set_include,
	       "restore only what PATTERN matches (repeatable; patterns as "
	       "backup --exclude, paths from the snapshot's root): those "
	       "entries, all below a matching directory, and the "
	       "directories on the way to them",
	       CLI_OPT_REPEAT),
	CLI_FN("exclude", "PATTERN", set_exclude,
	       "do not restore what PATTERN matches, nor anything below it "
	       "(repeatable; patterns as backup --exclude)",
	       CLI_OPT_REPEAT),
	{ 0 },
};

static const struct cli_opt check_opts[] = {
	CLI_FLAG("read-data", 0, read_data,
		 "also read and verify every pack"),
	CLI_STR("read-data-subset", 0, "N/M", read_subset,
		"read and verify the 1/M of the packs (M at most 256) this "
		"cache verified longest ago, never verified first: M runs "
		"with the same cache read every pack. N (1 to M) does not "
		"pick a fixed part; it only says where among the packs "
		"never verified here to start, so that N = 1..M with a new "
		"cache each time still read every pack (docs/"
		"verification.md)"),
	{ 0 },
};

static const struct cli_opt repair_opts[] = {
	CLI_FLAG("dry-run", 0, dry_run,
		 "repair snapshots: say what would be repaired, write nothing"),
	CLI_FLAG("read-data", 0, read_data,
		 "repair snapshots: also read the data of every file"),
	{ 0 },
};

static const struct cli_opt mount_opts[] = {
	CLI_FLAG("foreground", 'f', foreground, "stay in the foreground"),
	CLI_FLAG("debug", 'd', debug, "FUSE debug output (implies -f)"),
	CLI_STR("options", 'o', "OPTS", fuse_opts,
		"FUSE mount options, comma-separated (allow_other, ...); "
		"nonempty: mount over a directory that is not empty (else "
		"refused: the mount would hide its entries)"),
	CLI_STR("cache-size", 0, "SIZE", cache_size,
		"the most the data cache may use (e.g. 2G)"),
	CLI_STR("snapshot-every", 0, "DURATION", snapshot_every,
		"snapshot now/ this often (e.g. 15m)"),
	CLI_FLAG("no-snapshot-on-unmount", 0, no_snapshot_on_unmount,
		 "no final snapshot of now/ at unmount"),
	CLI_STR("name", 0, "NAME", name,
		"the lineage of now/'s snapshots (default \"now\"; "
		"docs/hosts.md)"),
	CLI_STR("from", 0, "SNAPSHOT|HOST", from,
		"where now/ starts when its lineage has no snapshot yet"),
	CLI_STR("config", 0, "FILE", mount_config,
		"mount the repositories FILE names, each at MOUNTPOINT/NAME "
		"(docs/mount.md)"),
	CLI_STR("retry-every", 0, "DURATION", retry_every,
		"with several repositories: try one that could not be opened "
		"again this often (default 60s)"),
	CLI_STR("metrics-textfile", 0, "PATH", metrics_textfile,
		"write Prometheus metrics to PATH (atomically) for "
		"node_exporter's textfile collector (docs/monitoring.md)"),
	CLI_STR("metrics-every", 0, "DURATION", metrics_every,
		"how often --metrics-textfile is written (default 60s)"),
	CLI_STR("metrics-listen", 0, "[ADDR:]PORT", metrics_listen,
		"answer GET /metrics over HTTP on ADDR:PORT (default "
		"address 127.0.0.1; docs/monitoring.md)"),
	OPT_VERIFY_BUDGET,
	{ 0 },
};

const struct cli_opt *cli_mount_opt(const char *name)
{
	const struct cli_opt *const tables[] = { cli_opts_global,
						 cli_opts_keep, mount_opts };
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (const struct cli_opt *o = tables[t]; o->name; o++)
			if (!strcmp(o->name, name))
				return o;
	return NULL;
}

static const struct cli_opt status_opts[] = {
	CLI_STR("max-age", 0, "DURATION", max_age,
		"exit 4 when the newest snapshot (or scheduled check that "
		"found nothing to snapshot) is older"),
	CLI_STR("stuck-after", 0, "DURATION", stuck_after,
		"exit 4 when the upload backlog has not shrunk for this long "
		"(default 15m)"),
	{ 0 },
};

static const struct cli_opt snapshot_opts[] = {
	CLI_STR("time", 0, "TIME", time,
		"the snapshot's time (RFC 3339; default: now)"),
	CLI_FN("tag", "TAG", cli_set_tag,
	       "record TAG with the snapshot (repeatable)", CLI_OPT_REPEAT),
	CLI_FLAG("skip-if-unchanged", 0, skip_if_unchanged,
		 "write no snapshot when now/ has not changed since the last "
		 "one; print that one's folder (default: a snapshot every "
		 "time)"),
	{ 0 },
};

static const struct cli_opt prune_opts[] = {
	CLI_STR("group-by", 0, "G", group_by,
		"apply the policy to each group of snapshots: host, paths, "
		"tags, a comma-separated mix, or \"\" for one group"),
	CLI_STR("max-unused", 0, "LIMIT", max_unused,
		"repack packs until at most LIMIT of the repository is unused "
		"(e.g. 5%, 100M)"),
	CLI_FLAG("dry-run", 0, dry_run,
		 "say what would be forgotten and deleted; change nothing"),
	{ 0 },
};

static const struct cli_opt forget_opts[] = {
	CLI_STR("group-by", 0, "G", group_by,
		"with --keep-*: apply the policy to each group (host, paths, "
		"tags)"),
	CLI_FLAG("dry-run", 0, dry_run,
		 "say what would be forgotten; change nothing"),
	{ 0 },
};

static const struct cli_opt drill_opts[] = {
	CLI_STR("sample", 0, "PERCENT", sample,
		"restore and verify only PERCENT of the files (above 0, at "
		"most 100)"),
	CLI_STR("seed", 0, "N", seed,
		"the seed of --sample's choice (default: the time)"),
	{ 0 },
};

static const struct cli_opt copy_opts[] = {
	CLI_STR("password-file2", 0, "FILE", password_file2,
		"DST's passphrase from FILE (also DRFS_PASSWORD2; default: "
		"SRC's)"),
	CLI_FLAG("no-encryption2", 0, no_encryption2,
		 "DST is unencrypted"),
	{ 0 },
};

static const struct cli_opt mirror_opts[] = {
	CLI_STR("delete-after", 0, "DURATION", delete_after,
		"delete from DST what SRC no longer has only after DURATION "
		"(default 7d)"),
	CLI_STR("verify", 0, "MODE", verify,
		"how an object DST has is known to be SRC's: etag (default) "
		"or size"),
	CLI_FLAG("dry-run", 0, dry_run,
		 "say what would be copied and deleted; change nothing"),
	{ 0 },
};

static const struct cli_opt lock_extend_opts[] = {
	CLI_STR("keep-within", 0, "DURATION", keep_within,
		"retain every object reachable from a snapshot until "
		"DURATION from now (required; e.g. 30d)"),
	CLI_FLAG("compliance", 0, compliance,
		 "COMPLIANCE mode instead of GOVERNANCE"),
	CLI_FLAG("dry-run", 0, dry_run,
		 "say what would be retained; change nothing"),
	{ 0 },
};

#define OPTS(...) ((const struct cli_opt *const[]){ __VA_ARGS__, NULL })

static const struct cli_opt snapshots_opts[] = {
	CLI_FLAG("utc", 0, utc,
		 "leave out the local-time column (the folders are UTC "
		 "either way)"),
	{ 0 },
};

static const struct cli_opt key_opts[] = {
	CLI_STR("new-password-file", 0, "FILE", new_password_file,
		"key add, key passwd: the new passphrase is the first line "
		"of FILE (else DRFS_PASSWORD2, else asked twice on the "
		"terminal)"),
	{ 0 },
};

const struct cli_cmd cli_commands[] = {
	{ "init", "REPO", 1, 1, 0, "create a repository", NULL,
	  OPTS(init_opts, cli_opt_json), NULL, cli_cmd_init },
	{ "backup", "REPO DIR", 2, 2, 0, "snapshot a directory", NULL,
	  OPTS(backup_opts, cli_opts_limit, cli_opt_progress, cli_opt_json),
	  "some entries could not be read and were skipped",
	  cli_cmd_backup },
	{ "snapshots", "REPO", 1, 1, 0, "list snapshots",
	  "With --host, --path or --tag: only those snapshots.",
	  OPTS(snapshots_opts, cli_opts_filter, cli_opt_json), NULL,
	  cli_cmd_snapshots },
	{ "restore", "REPO SNAPSHOT|latest DIR | MNT/latest[/PATH] DIR",
	  2, 3, 0,
	  "restore a snapshot without FUSE",
	  "latest: this host's newest snapshot (--host, --path and --tag "
	  "choose). With two arguments, the first is a path in a mounted "
	  "snapshot (MOUNTPOINT/latest/home/alice, "
	  "MOUNTPOINT/snapshots/DAY/TIME/etc): that snapshot of the "
	  "mount's repository, opened as the mount opened it, straight "
	  "from the repository (faster than cp -a out of the mount); a "
	  "directory's contents go into DIR, a file becomes DIR/NAME.",
	  OPTS(restore_opts, cli_opts_filter, cli_opts_limit, cli_opt_progress,
	       cli_opt_json),
	  "some entries could not be restored (named)", cli_cmd_restore },
	{ "check", "REPO", 1, 1, 0, "verify the repository", NULL,
	  OPTS(check_opts, cli_opts_limit, cli_opt_progress, cli_opt_json),
	  NULL, cli_cmd_check },
	{ "stats", "REPO", 1, 1, 0, "sizes and ratios", NULL,
	  OPTS(cli_opt_json), NULL, cli_cmd_stats },
	{ "repair", "index|snapshots REPO", 2, 2, 1,
	  "rebuild the index; rewrite damaged snapshots", NULL,
	  OPTS(repair_opts, cli_opts_limit, cli_opt_json), NULL,
	  cli_cmd_repair },
	{ "mount", "REPO... MOUNTPOINT", 1, -1, 0,
	  "mount the snapshots, and a writable now/",
	  "The --keep-* options are the policy the mount applies to now/'s "
	  "own snapshots (default: the repository's stored policy). With "
	  "several repositories (or --config FILE and MOUNTPOINT alone) "
	  "each is at MOUNTPOINT/NAME, NAME the last component of its path "
	  "or its bucket[-prefix]; a --cache-dir DIR is then DIR/NAME for "
	  "each.",
	  OPTS(mount_opts, cli_opts_keep, cli_opts_limit), NULL, cli_cmd_mount },
	{ "umount", "MOUNTPOINT", 1, 1, -1,
	  "unmount (after a final snapshot and upload)", NULL,
	  OPTS(cli_opt_progress), NULL, cli_cmd_umount },
	{ "snapshot", "MOUNTPOINT", 1, 1, -1, "snapshot now/ of a mount", NULL,
	  OPTS(snapshot_opts, cli_opt_json), NULL, cli_cmd_snapshot },
	{ "status", "MOUNTPOINT|REPO", 1, 1, 0,
	  "pending uploads, last snapshot; health for monitoring",
	  "Exit 4 when unhealthy: the newest snapshot too old (--max-age), "
	  "uploads stuck, or the storage not answering; each problem is "
	  "named (docs/monitoring.md).",
	  OPTS(status_opts, cli_opt_json), NULL, cli_cmd_status },
	{ "metrics", "MOUNTPOINT|REPO", 1, 1, 0,
	  "Prometheus metrics of a mount or a repository",
	  "With --json: the same samples as one JSON document.",
	  OPTS(cli_opt_json), NULL, cli_cmd_metrics },
	{ "prune", "REPO|MOUNTPOINT", 1, 1, 0,
	  "apply a retention policy, free space",
	  "Without --keep-*: the repository's stored policy (drfs policy). "
	  "A MOUNTPOINT's mount runs the prune; in a mount of several "
	  "repositories, name one: MOUNTPOINT/NAME.",
	  OPTS(prune_opts, cli_opts_keep, cli_opts_filter, cli_opts_limit,
	       cli_opt_progress,
	       cli_opt_json),
	  NULL, cli_cmd_prune },
	{ "forget", "REPO [SNAPSHOT...]", 1, -1, 0,
	  "forget snapshots (space freed by prune)",
	  "Either SNAPSHOTs or --keep-* options.",
	  OPTS(forget_opts, cli_opts_keep, cli_opts_filter, cli_opt_json),
	  NULL, cli_cmd_forget },
	{ "hold", "REPO SNAPSHOT", 2, 2, 0, "protect a snapshot from removal",
	  NULL, OPTS(cli_opts_filter, cli_opt_json), NULL, cli_cmd_hold },
	{ "release", "REPO SNAPSHOT", 2, 2, 0, "remove a hold", NULL,
	  OPTS(cli_opts_filter, cli_opt_json), NULL,
	  cli_cmd_release },
	{ "drill", "REPO [SNAPSHOT|latest]", 1, 2, 0,
	  "restore to a scratch dir, verify, report time-to-restore",
	  "The scratch directory is DRFS_DRILL_DIR, else a temporary one.",
	  OPTS(drill_opts, cli_opts_filter, cli_opts_limit, cli_opt_progress,
	       cli_opt_json),
	  NULL, cli_cmd_drill },
	{ "copy", "SRC DST [SNAPSHOT...]", 2, -1, 0,
	  "copy snapshots to another repository",
	  "Without SNAPSHOTs: every snapshot SRC has and DST lacks.",
	  OPTS(copy_opts, cli_opts_filter, cli_opts_limit, cli_opt_progress,
	       cli_opt_json),
	  NULL, cli_cmd_copy },
	{ "mirror", "SRC DST", 2, 2, 0,
	  "keep DST object-identical to SRC, without keys",
	  "DST is opened with the --replica-endpoint, --replica-region and "
	  "--replica-profile options (docs/disaster-recovery.md).",
	  OPTS(mirror_opts, cli_opts_limit, cli_opt_json), NULL, cli_cmd_mirror },
	{ "lock-extend", "REPO", 1, 1, 0,
	  "extend Object Lock retention of reachable objects", NULL,
	  OPTS(lock_extend_opts, cli_opt_json), NULL, cli_cmd_lock_extend },
	{ "key", "list|add|remove|passwd REPO [KEY]", 2, 3, 1,
	  "the repository's passphrases (key files)",
	  "list: the key files, the one this passphrase opens marked. add: "
	  "a key file for a new passphrase (read back and opened before it "
	  "counts). remove KEY (a prefix of its id): never the one this "
	  "passphrase opens, never the last. passwd: add the new one, then "
	  "remove the one used; a crash in between leaves both working.",
	  OPTS(key_opts, cli_opt_json), NULL, cli_cmd_key },
	{ "policy", "REPO", 1, 1, 0,
	  "show or store the repository's retention policy",
	  "With --keep-*: store them as the policy; without: show it.",
	  OPTS(cli_opts_keep, cli_opt_json), NULL, cli_cmd_policy },
};
const size_t cli_n_commands = ARRAY_SIZE(cli_commands);

static const struct cli_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < cli_n_commands; i++)
		if (!strcmp(cli_commands[i].name, name))
			return &cli_commands[i];
	return NULL;
}

static void unknown_command(const char *name)
{
	const char *names[ARRAY_SIZE(cli_commands)];
	for (size_t i = 0; i < cli_n_commands; i++)
		names[i] = cli_commands[i].name;
	const char *near = cli_closest(name, names, cli_n_commands);
	if (near)
		cli_usage_err(NULL, "unknown command \"%s\" (did you mean "
			      "\"%s\"?)", name, near);
	else
		cli_usage_err(NULL, "unknown command \"%s\"", name);
}

/* `drfs help [CMD]` */
static int help(int argc, char **argv, int i)
{
	if (i + 1 >= argc) {
		cli_help_all(stdout, cli_commands, cli_n_commands);
		return 0;
	}
	const struct cli_cmd *cmd = find_command(argv[i + 1]);
	if (!cmd) {
		unknown_command(argv[i + 1]);
		return EXIT_USAGE;
	}
	cli_help_cmd(stdout, cmd);
	return 0;
}

int drfs_cli_main(int argc, char **argv)
{
	struct cli c = { 0 };
	int rc, i;

	signal(SIGPIPE, SIG_IGN);
	/*
	 * No core dump of a process holding a passphrase or keys (and no
	 * ptrace by other processes of the user); the mount daemon is a
	 * fork of this process and stays so.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	cli_defaults(&c);
	/* global options before the command */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("drfs %s\n", DRFS_VERSION);
			return 0;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return help(argc, argv, argc);
		rc = cli_parse_global(&c, argc, argv, &i);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc == 0)
			break;
	}
	if (i >= argc) {
		cli_help_all(stderr, cli_commands, cli_n_commands);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help"))
		return help(argc, argv, i);
	if (!strcmp(argv[i], "version")) {
		printf("drfs %s\n", DRFS_VERSION);
		return 0;
	}
	const struct cli_cmd *cmd = find_command(argv[i]);
	if (!cmd) {
		unknown_command(argv[i]);
		return EXIT_USAGE;
	}
	c.cmd = cmd->name;
	c.command = cmd;
	drfs_log_set_tag(cmd->name);
	rc = cli_parse(&c, cmd, argc, argv, i + 1);
	if (rc != 0) {
		drfs_excludes_release(&c.excludes);
		drfs_excludes_release(&c.includes);
		if (rc < 0)
			return EXIT_USAGE;
		cli_help_cmd(stdout, cmd);
		return 0;
	}
	/* out of the environment at once, whatever the command */
	if (cli_take_env_secret("DRFS_PASSWORD", &c.password) < 0 ||
	    cli_take_env_secret("DRFS_PASSWORD2", &c.password2) < 0) {
		drfs_excludes_release(&c.excludes);
		drfs_excludes_release(&c.includes);
		cli_drop_secret(&c.password);
		return 1;
	}
	cli_exact_bytes = c.bytes;
	if (c.host)
		snprintf(c.myhost, sizeof(c.myhost), "%s", c.host);
	else
		drfs_hostname(c.myhost, sizeof(c.myhost));
	drfs_backend_set_limits(c.limit_up, c.limit_down);
	rc = cmd->run(&c);
	drfs_excludes_release(&c.excludes);
	drfs_excludes_release(&c.includes);
	cli_drop_secret(&c.password);
	cli_drop_secret(&c.password2);
	return rc;
}
