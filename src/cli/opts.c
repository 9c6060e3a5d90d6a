/* SPDX-License-Identifier: MIT */
/*
 * opts.c - the command line against a command's tables: its own options,
 * the shared groups it lists and the global options, in any order among
 * its arguments; anything else is refused, with the closest option named.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "cliint.h"
#include "drfs/log.h"

void cli_usage_err(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cmd)
		log_err("%s (see \"drfs help %s\")", msg, cmd);
	else /* before a command: "drfs: ...", not "drfs: error: ..." */
		fprintf(stderr, "drfs: %s (see \"drfs help\")\n", msg);
}

/* ---- setters ------------------------------------------------------------- */

int cli_set_flag(struct cli *c, const struct cli_opt *o, const char *arg)
{
	(void)arg;
	*(bool *)((char *)c + o->off) = true;
	return 0;
}

int cli_set_str(struct cli *c, const struct cli_opt *o, const char *arg)
{
	*(const char **)((char *)c + o->off) = arg;
	return 0;
}

/* A whole number in [lo, hi]; -ERANGE. */
static int parse_long(const char *arg, long lo, long hi, long *ret)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		return -ERANGE;
	*ret = v;
	return 0;
}

int cli_set_int(struct cli *c, const struct cli_opt *o, const char *arg)
{
	long v;
	int e = parse_long(arg, o->lo, o->hi, &v);
	if (e == 0)
		*(int *)((char *)c + o->off) = (int)v;
	return e;
}

static int set_be_int(int *ret, long lo, long hi, const char *arg)
{
	long v;
	int e = parse_long(arg, lo, hi, &v);
	if (e == 0)
		*ret = (int)v;
	return e;
}

static int push(const char **v, size_t *n, size_t max, const char *arg)
{
	if (*n >= max)
		return -E2BIG;
	v[(*n)++] = arg;
	return 0;
}

int cli_set_tag(struct cli *c, const struct cli_opt *o, const char *arg)
{
	(void)o;
	if (!*arg || strlen(arg) > DRFS_TAG_MAX)
		return -EINVAL;
	return push(c->tags, &c->n_tags, DRFS_TAGS_MAX, arg);
}

static int set_keep_tag(struct cli *c, const struct cli_opt *o,
			const char *arg)
{
	(void)o;
	return push(c->keep_tags, &c->n_keep_tags, DRFS_TAGS_MAX, arg);
}

static int set_host(struct cli *c, const struct cli_opt *o, const char *arg)
{
	(void)o;
	if (!arg[0] || strlen(arg) > DRFS_HOST_MAX || !cli_printable(arg))
		return -EINVAL;
	c->host = arg;
	return 0;
}

static int set_expect_id(struct cli *c, const struct cli_opt *o,
			 const char *arg)
{
	(void)o;
	if (strlen(arg) != 2 * sizeof(c->expect_id) ||
	    drfs_unhex(arg, sizeof(c->expect_id), c->expect_id) < 0)
		return -EINVAL;
	c->have_expect_id = true;
	return 0;
}

static int set_path_style(struct cli *c, const struct cli_opt *o,
			  const char *arg)
{
	(void)o;
	(void)arg;
	c->be.path_style = 1;
	return 0;
}

static int set_connections(struct cli *c, const struct cli_opt *o,
			   const char *arg)
{
	(void)o;
	return set_be_int(&c->be.connections, 1, 256, arg);
}

static int set_retries(struct cli *c, const struct cli_opt *o,
		       const char *arg)
{
	(void)o;
	return set_be_int(&c->be.retries, 0, 100, arg);
}

static int set_endpoint(struct cli *c, const struct cli_opt *o,
			const char *arg)
{
	(void)o;
	c->be.endpoint = arg;
	return 0;
}

static int set_region(struct cli *c, const struct cli_opt *o, const char *arg)
{
	(void)o;
	c->be.region = arg;
	return 0;
}

static int set_profile(struct cli *c, const struct cli_opt *o,
		       const char *arg)
{
	(void)o;
	c->be.profile = arg;
	return 0;
}

static int set_insecure(struct cli *c, const struct cli_opt *o,
			const char *arg)
{
	(void)o;
	(void)arg;
	c->be.insecure_tls = true;
	return 0;
}

/*
 * A local replica path made absolute: mount daemonizes (chdir "/") before
 * it opens the repository.
 */
static int set_replica(struct cli *c, const struct cli_opt *o,
		       const char *arg)
{
	static char abs[PATH_MAX];
	(void)o;
	c->replica = arg;
	if (strstr(arg, "://") || arg[0] == '/' || !getcwd(abs, sizeof(abs)) ||
	    strlen(abs) + 1 + strlen(arg) >= sizeof(abs))
		return 0;
	strcat(abs, "/");
	strcat(abs, arg);
	c->replica = abs;
	return 0;
}

/* --limit-upload, --limit-download RATE (drfs_parse_rate) */
static int set_limit(struct cli *c, const struct cli_opt *o, const char *arg)
{
	bool up = !strcmp(o->name, "limit-upload");
	uint64_t v;
	if (drfs_parse_rate(arg, &v) < 0) {
		cli_usage_err(c->cmd, "invalid value \"%s\" for --%s (want a "
			      "rate of at least 1 KiB/s: a whole number of "
			      "KiB/s, or with a unit: 300K, 2M, 2MiB/s)",
			      arg, o->name);
		return -ECANCELED;
	}
	*(up ? &c->limit_up : &c->limit_down) = v;
	return 0;
}

/* ---- the shared groups --------------------------------------------------- */

const struct cli_opt cli_opts_global[] = {
	CLI_STR("cache-dir", 0, "DIR", cache_dir,
		"the local cache (default $XDG_CACHE_HOME/drfs/REPO-ID); only "
		"a cache: drfs rebuilds it from the repository; one directory "
		"belongs to one repository"),
	CLI_STR("password-file", 0, "FILE", password_file,
		"read the passphrase from the first line of FILE (also "
		"DRFS_PASSWORD_FILE)"),
	CLI_FLAG("no-encryption", 0, no_encryption,
		 "the repository is unencrypted: required to create or open "
		 "one; no passphrase is read"),
	CLI_FN("expect-id", "HEX", set_expect_id,
	       "refuse any repository whose id is not HEX (32 hex digits)", 0),
	CLI_INT("threads", "N", threads, 1, 64,
		"worker threads, 1 to 64 (default: one per CPU)"),
	CLI_FLAG("quiet", 'q', quiet,
		 "print only errors, warnings and the command's result"),
	CLI_FLAG("bytes", 0, bytes,
		 "print sizes as exact byte counts (\"15463883 B\") instead "
		 "of \"14.7 MiB\" (JSON has exact bytes either way)"),
	CLI_FN("host", "NAME", set_host,
	       "the host snapshots record, and whose \"latest\" is meant "
	       "(default: this machine's name); with snapshots, prune and "
	       "forget: only that host's snapshots",
	       0),
	CLI_FN("endpoint", "URL", set_endpoint,
	       "S3 endpoint (default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, "
	       "else AWS)",
	       0),
	CLI_FN("region", "R", set_region,
	       "S3 region (default AWS_REGION, AWS_DEFAULT_REGION)", 0),
	CLI_FN("profile", "NAME", set_profile,
	       "S3 credentials and settings of this profile of the AWS "
	       "configuration (default AWS_PROFILE; docs/s3.md)",
	       0),
	CLI_FN("s3-path-style", NULL, set_path_style,
	       "address buckets as ENDPOINT/BUCKET, not BUCKET.ENDPOINT", 0),
	CLI_FN("s3-connections", "N", set_connections,
	       "parallel S3 connections (1 to 256)", 0),
	CLI_FN("retries", "N", set_retries,
	       "retries of a failed S3 request (0 to 100)", 0),
	CLI_FN("s3-insecure-no-tls-verify", NULL, set_insecure,
	       "do not verify the S3 server's TLS certificate", 0),
	CLI_FN("replica", "REPO2", set_replica,
	       "write every object to REPO2 too; reads fail over to it "
	       "(docs/disaster-recovery.md)",
	       0),
	CLI_FLAG("replica-async", 0, replica_async,
		 "catch the replica up in the background"),
	CLI_STR("replica-endpoint", 0, "URL", replica_endpoint,
		"the replica's S3 endpoint (default: --endpoint's)"),
	CLI_STR("replica-region", 0, "R", replica_region,
		"the replica's S3 region (default: --region's)"),
	CLI_STR("replica-profile", 0, "NAME", replica_profile,
		"the replica's AWS profile (default: --profile's)"),
	{ 0 },
};

const struct cli_opt cli_opts_keep[] = {
	CLI_INT("keep-last", "N", keep_last, 0, 1000000,
		"keep the N newest snapshots"),
	CLI_INT("keep-hourly", "N", keep_hourly, 0, 1000000,
		"keep the newest snapshot of each of the last N hours that "
		"have one"),
	CLI_INT("keep-daily", "N", keep_daily, 0, 1000000,
		"... of each of the last N days"),
	CLI_INT("keep-weekly", "N", keep_weekly, 0, 1000000,
		"... of each of the last N weeks"),
	CLI_INT("keep-monthly", "N", keep_monthly, 0, 1000000,
		"... of each of the last N months"),
	CLI_INT("keep-yearly", "N", keep_yearly, 0, 1000000,
		"... of each of the last N years"),
	CLI_STR("keep-within", 0, "DURATION", keep_within,
		"keep every snapshot younger than DURATION (7d, 36h, 2w)"),
	CLI_FN("keep-tag", "TAG", set_keep_tag,
	       "keep every snapshot with TAG (repeatable)", CLI_OPT_REPEAT),
	{ 0 },
};

const struct cli_opt cli_opts_filter[] = {
	CLI_STR("path", 0, "PATH", path,
		"only snapshots of PATH (the backed-up directory, or a "
		"mount's --name)"),
	CLI_FN("tag", "TAG", cli_set_tag,
	       "only snapshots with TAG (repeatable: any of them)",
	       CLI_OPT_REPEAT),
	{ 0 },
};

const struct cli_opt cli_opts_limit[] = {
	CLI_FN("limit-upload", "RATE", set_limit,
	       "send at most RATE to the repositories: a whole number of "
	       "KiB/s (as restic), or with a unit (300K, 2M, 2MiB/s); the "
	       "whole process together (docs/cli.md)",
	       0),
	CLI_FN("limit-download", "RATE", set_limit,
	       "receive at most RATE from the repositories (RATE as for "
	       "the upload limit)",
	       0),
	{ 0 },
};

const struct cli_opt cli_opt_json[] = {
	CLI_FLAG("json", 0, json, "print one JSON document on stdout (its fields: docs/json.md)"),
	{ 0 },
};

const struct cli_opt cli_opt_progress[] = {
	CLI_FLAG("progress", 0, progress,
		 "a progress line on stderr (percentage, rate and ETA where "
		 "the total is known) also when it is no terminal (on a "
		 "terminal always, unless -q); with --json: JSON lines on "
		 "stdout (docs/json.md)"),
	{ 0 },
};

/* ---- parsing ------------------------------------------------------------- */

void cli_defaults(struct cli *c)
{
	c->be.path_style = -1;
	c->be.retries = -1;
	c->keep_last = c->keep_hourly = c->keep_daily = c->keep_weekly = -1;
	c->keep_monthly = c->keep_yearly = -1;
}

static const struct cli_opt *in_table(const struct cli_opt *t,
				      const char *name, char short_name)
{
	for (; t->name; t++)
		if (short_name ? t->short_name == short_name
			       : name && !strcmp(t->name, name))
			return t;
	return NULL;
}

/* The option of cmd (or a global one) called name; NULL if none. */
static const struct cli_opt *opt_find(const struct cli_cmd *cmd,
				      const char *name, char short_name)
{
	const struct cli_opt *o = NULL;
	for (size_t i = 0; cmd && cmd->opts && cmd->opts[i] && !o; i++)
		o = in_table(cmd->opts[i], name, short_name);
	return o ?: in_table(cli_opts_global, name, short_name);
}

/* Levenshtein distance of a and b (cut at 64 bytes). */
static size_t distance(const char *a, const char *b)
{
	size_t la = MIN(strlen(a), (size_t)64), lb = MIN(strlen(b), (size_t)64);
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = MIN(row[j] + 1, row[j - 1] + 1);
			row[j] = MIN(best, diag + (a[i - 1] != b[j - 1]));
			diag = up;
		}
	}
	return row[lb];
}

const char *cli_closest(const char *s, const char *const *words, size_t n)
{
	const char *best = NULL;
	size_t bd = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		size_t d = distance(s, words[i]);
		/* a prefix of a word is what was meant as well */
		if (strlen(s) >= 3 && !strncmp(s, words[i], strlen(s)))
			d = MIN(d, (size_t)1);
		if (d < bd) {
			bd = d;
			best = words[i];
		}
	}
	/* close: a third of the word may differ, at least one letter */
	return best && bd <= MAX((size_t)1, strlen(s) / 3) ? best : NULL;
}

/* The names of every option cmd takes (global ones too). */
static size_t option_names(const struct cli_cmd *cmd, const char **out,
			   size_t max)
{
	size_t n = 0;
	for (size_t i = 0; cmd && cmd->opts && cmd->opts[i]; i++)
		for (const struct cli_opt *o = cmd->opts[i]; o->name; o++)
			if (n < max)
				out[n++] = o->name;
	for (const struct cli_opt *o = cli_opts_global; o->name; o++)
		if (n < max)
			out[n++] = o->name;
	return n;
}

/* The commands that take option name ("prune, forget"); false if none. */
static bool taken_by(const char *name, char *out, size_t len)
{
	size_t l = 0;
	out[0] = 0;
	for (size_t k = 0; k < cli_n_commands; k++) {
		const struct cli_cmd *o = &cli_commands[k];
		bool has = false;
		for (size_t i = 0; o->opts && o->opts[i]; i++)
			has = has || in_table(o->opts[i], name, 0);
		if (has && l < len)
			l += (size_t)snprintf(out + l, len - l, "%s%s",
					      l ? ", " : "", o->name);
	}
	return l > 0;
}

static void unknown_option(const struct cli_cmd *cmd, const char *what)
{
	const char *names[256];
	const char *cname = cmd ? cmd->name : NULL;
	size_t n = option_names(cmd, names, ARRAY_SIZE(names));
	int l = (int)strcspn(what, "=");
	char want[128];
	snprintf(want, sizeof(want), "%.*s", l - 2, what + 2);
	const char *near = what[1] == '-' ? cli_closest(want, names, n) : NULL;
	char other[256];
	if (near)
		cli_usage_err(cname, "unknown option %.*s (did you mean --%s?)",
			      l, what, near);
	else if (cname && taken_by(want, other, sizeof(other)))
		cli_usage_err(cname, "unknown option %.*s (only for: %s)", l,
			      what, other);
	else
		cli_usage_err(cname, "unknown option %.*s", l, what);
}

/* Apply option o with value v (NULL for a flag); spelled: as given. */
static int apply(struct cli *c, const struct cli_opt *o, const char *v,
		 const char *spelled)
{
	const char *cname = c->command ? c->cmd : NULL;
	int e = o->set(c, o, v);
	if (e == -ECANCELED) /* the setter said what is wrong */
		return -EINVAL;
	if (e == -E2BIG)
		cli_usage_err(cname, "%s given too many times", spelled);
	else if (e < 0 && o->set == cli_set_int)
		cli_usage_err(cname, "invalid value \"%s\" for %s (want a "
			      "whole number from %ld to %ld)",
			      v, spelled, o->lo, o->hi);
	else if (e < 0)
		cli_usage_err(cname, "invalid value \"%s\" for %s", v ? v : "",
			      spelled);
	return e < 0 ? -EINVAL : 0;
}

/*
 * The option at argv[*i] (starting with "-", not "-" or "--"): applied,
 * *i past its value. 1: it was -h or --help.
 */
static int one_option(struct cli *c, const struct cli_cmd *cmd, int argc,
		      char **argv, int *i)
{
	const char *a = argv[*i];
	const char *cname = cmd ? cmd->name : NULL;
	char spelled[140];
	if (a[1] == '-') {
		const char *eq = strchr(a, '=');
		size_t l = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)MIN(l, 127), a + 2);
		if (!strcmp(name, "help"))
			return 1;
		const struct cli_opt *o = opt_find(cmd, name, 0);
		if (!o) {
			unknown_option(cmd, a);
			return -EINVAL;
		}
		snprintf(spelled, sizeof(spelled), "--%s", o->name);
		if (!o->arg && eq) {
			cli_usage_err(cname, "%s takes no value", spelled);
			return -EINVAL;
		}
		if (o->arg && !eq && *i + 1 >= argc) {
			cli_usage_err(cname, "%s needs a value (%s)", spelled,
				      o->arg);
			return -EINVAL;
		}
		return apply(c, o, o->arg ? (eq ? eq + 1 : argv[++*i]) : NULL,
			     spelled);
	}
	/* -x, -xyz (flags), -oVALUE, -o VALUE */
	for (const char *p = a + 1; *p; p++) {
		if (*p == 'h')
			return 1;
		const struct cli_opt *o = opt_find(cmd, NULL, *p);
		snprintf(spelled, sizeof(spelled), "-%c", *p);
		if (!o) {
			cli_usage_err(cname, "unknown option %s", spelled);
			return -EINVAL;
		}
		if (!o->arg) {
			if (apply(c, o, NULL, spelled) < 0)
				return -EINVAL;
			continue;
		}
		if (!p[1] && *i + 1 >= argc) {
			cli_usage_err(cname, "%s needs a value (%s)", spelled,
				      o->arg);
			return -EINVAL;
		}
		return apply(c, o, p[1] ? p + 1 : argv[++*i], spelled);
	}
	return 0;
}

int cli_parse_global(struct cli *c, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	char name[128];
	if (a[0] != '-' || !a[1] || !strcmp(a, "--"))
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(a + 2, "="), a + 2);
	if (a[1] == '-' ? !opt_find(NULL, name, 0) && strcmp(name, "help")
			: !opt_find(NULL, NULL, a[1]) && a[1] != 'h') {
		/* before a command: only global options */
		unknown_option(NULL, a);
		return -EINVAL;
	}
	int e = one_option(c, NULL, argc, argv, i);
	return e < 0 ? e : 1;
}

static int args_count_err(const struct cli_cmd *cmd, int n)
{
	if (n < cmd->min_args)
		cli_usage_err(cmd->name, "%s missing: drfs %s %s",
			      cmd->min_args - n > 1 ? "arguments are"
						    : "an argument is",
			      cmd->name, cmd->synopsis);
	else
		cli_usage_err(cmd->name, "too many arguments (%d): drfs %s %s",
			      n, cmd->name, cmd->synopsis);
	return -EINVAL;
}

/* Whether s names a repository rather than a snapshot. */
static bool looks_like_repo(const char *s)
{
	return s[0] == '/' || s[0] == '.' || s[0] == '~' || strstr(s, "://");
}

/*
 * DRFS_REPOSITORY as REPO when the command takes one and it was left out:
 * one argument too few, or (for a command whose later arguments are
 * optional snapshots: drill, forget) a first one that does not look like
 * a repository.
 */
static void default_repo(struct cli *c, const struct cli_cmd *cmd)
{
	static char *with_repo[256];
	char *repo = getenv("DRFS_REPOSITORY");
	int n = c->n_args, at = cmd->repo_arg;
	if (at < 0 || !repo || !*repo || n < at ||
	    n + 1 > (int)ARRAY_SIZE(with_repo))
		return;
	bool guess = cmd->max_args != cmd->min_args && at == 0 &&
		     strcmp(cmd->name, "copy") != 0 &&
		     strcmp(cmd->name, "mount") != 0;
	if (!(n < cmd->min_args ||
	      (guess && n && !looks_like_repo(c->args[0]))))
		return;
	for (int i = 0, k = 0; i <= n; i++)
		with_repo[i] = i == at ? repo : c->args[k++];
	c->args = with_repo;
	c->n_args = n + 1;
}

int cli_parse(struct cli *c, const struct cli_cmd *cmd, int argc,
	      char **argv, int first)
{
	/* the arguments, in order, into argv's tail (never ahead of i) */
	char **args = argv + first;
	int n = 0;
	bool opts = true;
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		if (opts && !strcmp(a, "--")) {
			opts = false;
			continue;
		}
		if (!opts || a[0] != '-' || !a[1]) {
			args[n++] = argv[i];
			continue;
		}
		int e = one_option(c, cmd, argc, argv, &i);
		if (e != 0)
			return e;
	}
	c->args = args;
	c->n_args = n;
	default_repo(c, cmd);
	if (c->n_args < cmd->min_args ||
	    (cmd->max_args >= 0 && c->n_args > cmd->max_args))
		return args_count_err(cmd, c->n_args);
	return 0;
}
