/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the drfs command: a table of commands, one option parser, the
 * passphrase, progress on a terminal, and exit codes (0 ok, 1 failure,
 * 2 usage, 3 finished with per-file problems).
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
#include "drfs/cliint.h"
#include "drfs/fs.h"
#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/ops.h"
#include "drfs/prune.h"
#include "drfs/repo.h"

void report_line(void *userdata, const char *fmt, ...)
{
	(void)userdata;
	char msg[2 * PATH_MAX + 1024]; /* a target and a path within it */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "drfs: %s\n", msg);
}

/*
 * Read one line from fd (no echo when it's a terminal) straight into
 * secret memory: the passphrase never passes through a stdio buffer or the
 * stack. NULL if out of memory.
 */
static char *read_secret(int fd, const char *prompt)
{
	struct termios old, raw;
	bool tty = isatty(fd);
	char *buf = drfs_secret_alloc(DRFS_PASSPHRASE_MAX + 1);
	size_t n = 0;
	if (!buf)
		return NULL;
	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		tcgetattr(fd, &old);
		raw = old;
		raw.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &raw);
	}
	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r <= 0 || ch == '\n')
			break;
		if (n < DRFS_PASSPHRASE_MAX)
			buf[n++] = ch;
	}
	buf[n] = 0;
	if (tty) {
		tcsetattr(fd, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return buf;
}

int read_secret_file(const char *file, char **ret)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		log_err("cannot read password file \"%s\": %s", file,
			strerror(e));
		return -e;
	}
	*ret = read_secret(fd, "");
	close(fd);
	return *ret ? 0 : -ENOMEM;
}

/*
 * The first line DRFS_PASSWORD_COMMAND prints (run by /bin/sh -c, its
 * stdin and stderr ours), read like a password file. The command itself is
 * never shown: it may hold a secret of its own.
 */
int read_secret_command(const char *cmd, char **ret)
{
	int p[2], ws = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*ret = read_secret(p[0], "");
	char rest[256]; /* the rest of its output: read and forgotten */
	while (read(p[0], rest, sizeof(rest)) > 0)
		;
	drfs_wipe(rest, sizeof(rest));
	close(p[0]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (!*ret)
		return -ENOMEM;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		drop_secret(ret);
		if (WIFEXITED(ws))
			log_err("the passphrase command "
				"(DRFS_PASSWORD_COMMAND) failed with exit "
				"status %d", WEXITSTATUS(ws));
		else
			log_err("the passphrase command "
				"(DRFS_PASSWORD_COMMAND) was killed by signal "
				"%d", WTERMSIG(ws));
		return -EINVAL;
	}
	return 0;
}

int take_env_secret(const char *name, char **ret)
{
	char *v = getenv(name);
	if (!v)
		return 0;
	*ret = drfs_secret_strdup(v);
	/*
	 * In place: /proc/PID/environ shows the process's original
	 * environment block, which unsetenv() leaves as it was (and a
	 * forked mount daemon would inherit the copy).
	 */
	drfs_wipe(v, strlen(v));
	unsetenv(name);
	if (!*ret) {
		log_err("out of memory reading %s", name);
		return -ENOMEM;
	}
	return 0;
}

void drop_secret(char **s)
{
	drfs_secret_free(*s);
	*s = NULL;
}

/*
 * The passphrase: DRFS_PASSWORD, --password-file/DRFS_PASSWORD_FILE,
 * DRFS_PASSWORD_COMMAND, the terminal.
 */
int get_password(struct cli *c, bool confirm)
{
	const char *file = c->password_file ?: getenv("DRFS_PASSWORD_FILE");
	const char *cmd = getenv("DRFS_PASSWORD_COMMAND");
	/* DRFS_PASSWORD: taken at start by drfs_cli_main (here for other
	 * callers of the CLI helpers, such as tests/tools/drfs-craft) */
	int e = c->password ? 0 : take_env_secret("DRFS_PASSWORD", &c->password);
	if (e < 0 || c->password)
		return e;
	if (file)
		return read_secret_file(file, &c->password);
	if (cmd && *cmd)
		return read_secret_command(cmd, &c->password);
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0)
		return 0; /* none: an encrypted repository will say so */
	c->password = read_secret(tty, "passphrase: ");
	if (confirm && c->password) {
		char *again = read_secret(tty, "passphrase again: ");
		if (!again || strcmp(again, c->password) != 0) {
			close(tty);
			drop_secret(&again);
			drop_secret(&c->password);
			log_err("the passphrases do not match");
			return -EINVAL;
		}
		drop_secret(&again);
	}
	close(tty);
	return c->password ? 0 : -ENOMEM;
}

void repo_opts(struct cli *c, struct drfs_repo_opts *o, const char *url)
{
	memset(o, 0, sizeof(*o));
	o->url = url;
	o->cache_dir = c->cache_dir;
	/* --no-encryption: no passphrase is read or given */
	o->no_encryption = c->no_encryption;
	o->password = c->no_encryption ? NULL : c->password;
	o->have_expect_id = c->have_expect_id;
	memcpy(o->expect_id, c->expect_id, sizeof(o->expect_id));
	o->backend = c->be;
	o->threads = c->threads;
	o->replica = c->replica;
	o->replica_async = c->replica_async;
	o->replica_backend.endpoint = c->replica_endpoint;
	o->replica_backend.region = c->replica_region;
	o->report = report_line;
	o->replica_backend.profile = c->replica_profile;
}

int open_repo_with(struct cli *c, struct drfs_repo_opts *o,
		   struct drfs_repo **ret)
{
	int e = drfs_repo_open(o, ret);
	/* the keys are unwrapped: the passphrase is not needed any more */
	o->password = NULL;
	drop_secret(&c->password);
	if (e < 0) {
		const char *why = drfs_repo_last_error();
		if (why)
			log_err("%s", why);
		else
			log_err("cannot open repository \"%s\": %s", o->url,
				drfs_strerror(e));
	}
	return e;
}

int cli_lock(struct drfs_repo *r, enum drfs_lock_role role,
	     struct drfs_lock **ret)
{
	char why[512] = "";
	*ret = NULL;
	int e = drfs_lock_take(r, DRFS_LOCK_SHARED, role, ret, why,
			       sizeof(why));
	if (e == -EBUSY) {
		log_err("repository is locked: %s", why);
		return e;
	}
	if (e < 0)
		log_warn("%s: going on without a lock (a prune elsewhere "
			 "could delete data this command needs)", why);
	/* a prune may have finished between the open and the lock */
	e = drfs_repo_sync(r, false);
	if (e < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(e));
		drfs_lock_release(*ret);
		*ret = NULL;
	}
	return e;
}

int open_repo(struct cli *c, const char *url, struct drfs_repo **ret)
{
	struct drfs_repo_opts o;
	if (!c->no_encryption) {
		int e = get_password(c, false);
		if (e < 0)
			return e;
	}
	repo_opts(c, &o, url);
	return open_repo_with(c, &o, ret);
}

bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* "drfs: hosts in this repository: a (3 snapshots), b (1 snapshot)" */
static void hint_hosts(struct drfs_repo *r)
{
	struct drfs_snap_info *v;
	size_t n;
	char line[1024];
	size_t l = 0;
	if (drfs_repo_snapshots(r, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n && l < sizeof(line); i++) {
		size_t same = 0;
		bool first = true;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(v[k].snap.host, v[i].snap.host) != 0)
				continue;
			first = first && k >= i;
			same++;
		}
		char hs[DRFS_SHOW_BUF(DRFS_HOST_MAX)];
		if (first)
			l += (size_t)snprintf(line + l, sizeof(line) - l,
					      "%s\"%s\" (%zu snapshot%s)",
					      l ? ", " : "",
					      drfs_str_show(v[i].snap.host, hs,
							    sizeof(hs)),
					      same, same == 1 ? "" : "s");
	}
	if (l)
		log_info("hosts in this repository: %s (choose with --host)",
			 line);
	free(v);
}

void cli_latest_filter(const struct cli *c, struct drfs_snap_filter *f)
{
	*f = (struct drfs_snap_filter){ .host = c->myhost,
					.path = c->path,
					.tags = c->tags,
					.n_tags = c->n_tags };
}

int cli_find_snapshot(struct cli *c, struct drfs_repo *r, const char *spec,
		      struct drfs_snap_info *ret)
{
	struct drfs_snap_filter f;
	cli_latest_filter(c, &f);
	int e = drfs_repo_snapshot_find_in(r, spec, &f, ret);
	if (e < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(e));
		if (e == -ENOENT && strcmp(spec, "latest") == 0)
			hint_hosts(r);
	}
	return e;
}

int need_args(struct cli *c, int n, const char *usage)
{
	if (c->n_args != n) {
		cli_usage_err(c->cmd, "want drfs %s %s", c->cmd, usage);
		return -EINVAL;
	}
	return 0;
}

/* ---- progress ---------------------------------------------------------- */

struct progress_thread {
	pthread_t th;
	volatile struct drfs_progress p;
	volatile bool stop;
	bool on;
	const char *verb;
	double start;
};

static void *progress_main(void *arg)
{
	struct progress_thread *pt = arg;
	while (!pt->stop) {
		usleep(250000);
		char b1[32], b2[32];
		double el = drfs_now_mono() - pt->start;
		fprintf(stderr, "\r%s: %llu files, %s, %s new, %.0fs   ",
			pt->verb, (unsigned long long)pt->p.files,
			drfs_fmt_bytes(pt->p.bytes, b1),
			drfs_fmt_bytes(pt->p.bytes_new, b2), el);
	}
	return NULL;
}

static void progress_start(struct progress_thread *pt, const char *verb,
			   bool quiet)
{
	memset((void *)pt, 0, sizeof(*pt));
	pt->verb = verb;
	pt->start = drfs_now_mono();
	if (quiet || !isatty(STDERR_FILENO))
		return;
	pt->on = pthread_create(&pt->th, NULL, progress_main, pt) == 0;
}

static void progress_stop(struct progress_thread *pt)
{
	if (!pt->on)
		return;
	pt->stop = true;
	pthread_join(pt->th, NULL);
	fputs("\r\033[K", stderr);
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_init(struct cli *c)
{
	struct drfs_repo_opts o;
	struct drfs_init_opts io = { .no_encryption = c->no_encryption,
				     .zstd_level = c->compression };
	struct drfs_id id;
	int e = need_args(c, 1, "REPO [--no-encryption] [--compression N]");
	if (e < 0)
		return EXIT_USAGE;
	if (!c->no_encryption) {
		e = get_password(c, true);
		if (e < 0)
			return 1;
	}
	repo_opts(c, &o, c->args[0]);
	e = drfs_repo_init(&o, &io, &id);
	drop_secret(&c->password);
	if (e < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(e));
		return 1;
	}
	char hex[DRFS_ID_HEX_LEN + 1];
	drfs_hex(id.b, 16, hex);
	printf("created %srepository %s at %s\n",
	       c->no_encryption ? "unencrypted " : "", hex, c->args[0]);
	fflush(stdout);
	struct drfs_backend *be;
	if (drfs_backend_open(c->args[0], &c->be, &be) >= 0) {
		report_create_only(c, be);
		drfs_backend_free(be);
	}
	if (!c->no_encryption)
		fprintf(stderr, "drfs: init: keep the passphrase safe: without "
				"it nobody can read these backups, and it "
				"cannot be recovered\n");
	return 0;
}

static int cmd_backup(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_backup_opts o = { 0 };
	struct drfs_backup_result res = { 0 };
	struct progress_thread pt;
	int e = need_args(c, 2, "REPO DIR [--time ISO8601] [--tag T] "
				"[--host H]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->time && drfs_parse_time(c->time, &o.time) < 0) {
		log_err("invalid --time \"%s\" (want RFC 3339: "
			"2026-11-21T14:30:05Z or 2026-11-21T16:30:05+02:00)",
			c->time);
		return EXIT_USAGE;
	}
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	o.dir = c->args[1];
	o.host = c->host;
	o.tags = c->tags;
	o.n_tags = c->n_tags;
	o.no_parent = c->no_parent;
	o.excludes = &c->excludes;
	o.exclude_caches = c->exclude_caches;
	o.one_file_system = c->one_file_system;
	o.skip_if_unchanged = c->skip_if_unchanged;
	o.report = report_line;
	progress_start(&pt, "backup", c->quiet);
	o.progress = &pt.p;
	double t0 = drfs_now_mono();
	e = drfs_backup(r, &o, &res);
	progress_stop(&pt);
	double el = drfs_now_mono() - t0;
	if (e < 0) {
		log_err("backup of \"%s\" failed: %s%s%s", o.dir,
			drfs_strerror(e), drfs_repo_last_error() ? ": " : "",
			drfs_repo_last_error() ?: "");
		drfs_repo_free(r);
		return 1;
	}
	char b1[32], b2[32], hex[DRFS_ID_HEX_LEN + 1];
	if (res.unchanged && !c->quiet)
		fprintf(stderr, "nothing changed since snapshot %s (%.8s): no "
			"snapshot written (--skip-if-unchanged)\n", res.folder,
			drfs_id_hex(&res.id, hex));
	else if (!c->quiet)
		fprintf(stderr,
			"snapshot %.8s: %llu files, %llu dirs, %s, %s added "
			"in %.1fs\n",
			drfs_id_hex(&res.id, hex),
			(unsigned long long)res.snap.files,
			(unsigned long long)res.snap.dirs,
			drfs_fmt_bytes(res.snap.bytes, b1),
			drfs_fmt_bytes(res.snap.added_bytes, b2), el);
	if (res.errors)
		log_warn("%llu entries could not be read and were skipped",
			 (unsigned long long)res.errors);
	printf("%s\n", res.folder);
	drfs_repo_free(r);
	return res.errors ? EXIT_PARTIAL : 0;
}

/*
 * s as a JSON string: valid UTF-8 as it is (JSON text is UTF-8), what
 * drfs_cp_printable() refuses as \uXXXX, and each byte that is part of no
 * valid UTF-8 sequence (a Latin-1 file name, hostile bytes) as U+FFFD, as
 * Go's encoding/json does: the output always parses.
 */
void json_str(FILE *f, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	fputc('"', f);
	for (size_t i = 0, k; i < n; i += k ? k : 1) {
		uint32_t cp;
		k = drfs_utf8_decode(p + i, n - i, &cp);
		if (!k)
			fputs("\\ufffd", f);
		else if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (!drfs_cp_printable(cp))
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(p + i, 1, k, f);
	}
	fputc('"', f);
}

void warn_vanished(struct drfs_repo *r, bool rollback_only)
{
	struct drfs_snap_audit a;
	char msg[DRFS_SNAP_PROBLEM_TEXT_MAX];
	bool hole = false;
	if (drfs_repo_snapshot_audit(r, &a) < 0)
		return;
	for (size_t i = 0; i < a.n; i++) {
		if (rollback_only && a.v[i].kind != DRFS_SNAP_ROLLED_BACK)
			continue;
		hole |= a.v[i].kind == DRFS_SNAP_HOLE;
		log_warn("%s", drfs_snap_problem_text(&a.v[i], msg));
	}
	if (hole && a.no_records)
		fprintf(stderr, "drfs: %s\n", DRFS_NO_RECORDS_NOTE);
	drfs_snap_audit_release(&a);
}

void iso_time(const struct timespec *t, char out[48])
{
	struct tm tm;
	time_t s = t->tv_sec;
	gmtime_r(&s, &tm);
	snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, t->tv_nsec);
}

static int cmd_snapshots(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_snap_info *v;
	size_t n;
	int e = need_args(c, 1, "REPO [--json] [--host H] [--path P] "
				"[--tag T]");
	if (e < 0)
		return EXIT_USAGE;
	if (open_repo(c, c->args[0], &r) < 0)
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
		printf("%-20s %-8s %10s %12s %12s  %s%s\n", "folder", "id",
		       "files", "size", "added",
		       c->replica ? "on              " : "", "host:path");
	for (size_t i = 0; i < n; i++) {
		struct drfs_snapshot *s = &v[i].snap;
		char hex[DRFS_ID_HEX_LEN + 1], t[48], b1[32], b2[32];
		char hs[DRFS_SHOW_BUF(DRFS_HOST_MAX)];
		char ps[DRFS_SHOW_BUF(DRFS_PATH_MAX)];
		int on = snapshot_sides(r, &v[i]);
		if (on >= 0 && (on & 4))
			on = 4 | (on & 1);
		drfs_id_hex(&v[i].id, hex);
		iso_time(&s->time, t);
		if (!c->json) {
			printf("%-20s %.8s %10llu %12s %12s  ", v[i].folder, hex,
			       (unsigned long long)s->files,
			       drfs_fmt_bytes(s->bytes, b1),
			       drfs_fmt_bytes(s->added_bytes, b2));
			if (on >= 0)
				printf("%-15s ", sides[on]);
			printf("%s:%s%s\n",
			       drfs_str_show(s->host, hs, sizeof(hs)),
			       drfs_str_show(s->path, ps, sizeof(ps)),
			       drfs_holds_has(held, n_held, &v[i].id) ? "  [held]" : "");
			continue;
		}
		printf("%s{\"id\":\"%s\",\"time\":\"%s\",\"folder\":\"%s\",",
		       i ? "," : "", hex, t, v[i].folder);
		if (on >= 0)
			printf("\"on\":\"%s\",", sides[on]);
		printf("\"held\":%s,\"host\":",
		       drfs_holds_has(held, n_held, &v[i].id) ? "true" : "false");
		json_str(stdout, s->host);
		printf(",\"path\":");
		json_str(stdout, s->path);
		printf(",\"files\":%llu,\"dirs\":%llu,\"bytes\":%llu,"
		       "\"added_bytes\":%llu,\"tags\":[",
		       (unsigned long long)s->files,
		       (unsigned long long)s->dirs,
		       (unsigned long long)s->bytes,
		       (unsigned long long)s->added_bytes);
		const char *tag = s->tags;
		for (uint32_t k = 0; k < s->n_tags; k++) {
			if (k)
				putchar(',');
			json_str(stdout, tag);
			tag += strlen(tag) + 1;
		}
		printf("]}");
	}
	if (c->json)
		printf("]\n");
	fflush(stdout);
	warn_vanished(r, false);
	free(held);
	free(v);
	drfs_repo_free(r);
	return 0;
}

static int cmd_restore(struct cli *c)
{
	struct drfs_repo *r;
	struct progress_thread pt;
	enum drfs_overwrite ow = DRFS_OVERWRITE_ALWAYS;
	int e = need_args(c, 3, "REPO SNAPSHOT|latest DIR [--overwrite MODE] "
				"[--host H] [--path P] [--tag T]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->overwrite && drfs_overwrite_parse(c->overwrite, &ow) < 0) {
		log_err("invalid --overwrite \"%s\" (want always, if-changed, "
			"if-newer, never or replace)", c->overwrite);
		return EXIT_USAGE;
	}
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	struct drfs_lock *lock;
	char trusted[DRFS_ID_HEX_LEN + 1];
	if (cli_lock(r, DRFS_ROLE_READER, &lock) < 0) {
		drfs_repo_free(r);
		return 1;
	}
	warn_vanished(r, true);
	if (trusted_snapshot(c, r, c->args[1], trusted) < 0) {
		drfs_lock_release(lock);
		drfs_repo_free(r);
		return 1;
	}
	struct drfs_restore_opts o = { .snapshot = trusted,
				       .target = c->args[2],
				       .overwrite = ow,
				       .report = report_line };
	progress_start(&pt, "restore", c->quiet);
	o.progress = &pt.p;
	double t0 = drfs_now_mono();
	e = drfs_restore(r, &o);
	progress_stop(&pt);
	drfs_lock_release(lock);
	if (e < 0) {
		const char *d = drfs_repo_last_error();
		log_err("restore failed: %s", d && e == -ENOENT ? d
							      : drfs_strerror(e));
		drfs_repo_free(r);
		return 1;
	}
	char b[32];
	if (!c->quiet)
		fprintf(stderr, "restored %llu files, %s in %.1fs\n",
			(unsigned long long)pt.p.files,
			drfs_fmt_bytes(pt.p.bytes, b), drfs_now_mono() - t0);
	if (!c->quiet && pt.p.kept)
		fprintf(stderr, "kept %llu existing entries (--overwrite %s)\n",
			(unsigned long long)pt.p.kept,
			c->overwrite ? c->overwrite : "always");
	if (e > 0)
		log_err("%d entries could not be restored (named above)", e);
	drfs_repo_free(r);
	return e > 0 ? EXIT_PARTIAL : 0;
}

static int cmd_check(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_check_opts o = { .read_data = c->read_data,
				     .report = report_line };
	int e = need_args(c, 1, "REPO [--read-data] [--read-data-subset N/M]");
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
	if (!c->no_encryption && get_password(c, false) < 0)
		return 1;
	repo_opts(c, &ro, c->args[0]);
	ro.no_sync = true;
	ro.report = NULL; /* drfs_check names the damage the sync skips */
	if (open_repo_with(c, &ro, &r) < 0)
		return 1;
	struct drfs_lock *lock = NULL;
	char why[512] = "";
	e = drfs_lock_take(r, DRFS_LOCK_SHARED, DRFS_ROLE_READER, &lock, why,
			   sizeof(why));
	if (e == -EBUSY) {
		log_err("repository is locked: %s", why);
		drfs_repo_free(r);
		return 1;
	}
	if (e < 0)
		log_warn("%s: going on without a lock (a prune elsewhere "
			 "could delete data this command needs)", why);
	/* full: the packs no index object lists are read too (check lists
	 * data/ anyway), so the walk finds every blob that exists */
	e = drfs_repo_sync(r, true);
	if (e < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(e));
		drfs_lock_release(lock);
		drfs_repo_free(r);
		return 1;
	}
	e = drfs_check(r, &o);
	drfs_lock_release(lock);
	if (e >= 0) {
		report_create_only(c, r->be);
		report_lock(c, r);
	}
	drfs_repo_free(r);
	if (e < 0) {
		log_err("check failed: %s", drfs_strerror(e));
		return 1;
	}
	if (e) {
		log_err("check found %d problem(s)", e);
		return 1;
	}
	if (!c->quiet)
		fprintf(stderr, "no problems found\n");
	return 0;
}

static int cmd_stats(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_stats s;
	int e = need_args(c, 1, "REPO [--json]");
	if (e < 0)
		return EXIT_USAGE;
	if (open_repo(c, c->args[0], &r) < 0)
		return 1;
	char id[sizeof(r->repo_id_hex)];
	bool encrypted = r->keys.encrypted;
	memcpy(id, r->repo_id_hex, sizeof(id));
	e = drfs_stats(r, &s);
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
		       "\"dedup_ratio\":%.3f,\"compression_ratio\":%.3f}\n",
		       id, encrypted ? "true" : "false",
		       (unsigned long long)s.snapshots,
		       (unsigned long long)s.packs, (unsigned long long)s.blobs,
		       (unsigned long long)s.data_blobs,
		       (unsigned long long)s.tree_blobs,
		       (unsigned long long)s.repo_bytes,
		       (unsigned long long)s.pack_bytes,
		       (unsigned long long)s.raw_bytes,
		       (unsigned long long)s.logical_bytes, dedup, comp);
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
	       drfs_fmt_bytes(s.logical_bytes, b1));
	printf("unique data:        %s\n", drfs_fmt_bytes(s.raw_bytes, b2));
	printf("repository size:    %s\n", drfs_fmt_bytes(s.repo_bytes, b3));
	printf("dedup ratio:        %.2f\n", dedup);
	printf("compression ratio:  %.2f\n", comp);
	return 0;
}

/* ---- retention hooks of drfs mount (fs.h) -------------------------------- */

struct mount_retention {
	struct drfs_policy policy;
	bool have_policy; /* given on the command line */
	/* the mount's own group: the only snapshots its policy touches */
	struct drfs_snap_filter group;
};

/* --keep-* of the command line; -EINVAL. */
static int mount_policy(const struct cli *c, struct mount_retention *m)
{
	m->have_policy = c->keep_last >= 0 || c->keep_hourly >= 0 ||
			 c->keep_daily >= 0 || c->keep_weekly >= 0 ||
			 c->keep_monthly >= 0 || c->keep_yearly >= 0 ||
			 c->keep_within || c->n_keep_tags;
	if (cli_policy(c, &m->policy) < 0)
		return -EINVAL;
	if (m->have_policy && drfs_policy_empty(&m->policy)) {
		log_err("the --keep-* options given keep nothing");
		return -EINVAL;
	}
	return 0;
}

static int mret_forget(void *ud, struct drfs_repo *r,
		       const struct drfs_id *ids, size_t n)
{
	(void)ud;
	return drfs_forget(r, ids, n);
}

static int mret_enforce(void *ud, struct drfs_repo *r)
{
	struct mount_retention *m = ud;
	struct drfs_policy p;
	struct drfs_snap_info *all = NULL;
	struct drfs_policy_verdict *v = NULL;
	struct drfs_id *ids = NULL;
	size_t n = 0, nf = 0;
	int e;

	if (m->have_policy) {
		p = m->policy;
	} else {
		e = drfs_policy_load(r, &p);
		if (e < 0)
			return e == -ENOENT ? 0 : e;
	}
	if (drfs_policy_empty(&p))
		return 0;
	e = drfs_repo_snapshots(r, &all, &n);
	if (e < 0 || n == 0)
		goto out;
	size_t m_n = 0; /* those of the mount's group, moved to the front */
	for (size_t i = 0; i < n; i++)
		if (drfs_snap_filter_match(&m->group, &all[i].snap) &&
		    m_n++ != i)
			all[m_n - 1] = all[i];
	n = m_n;
	if (n == 0)
		goto out;
	v = calloc(n, sizeof(*v));
	ids = calloc(n, sizeof(*ids));
	e = v && ids ? drfs_policy_apply(&p, all, n, time(NULL), v) : -ENOMEM;
	for (size_t i = 0; e >= 0 && i < n; i++) {
		if (v[i].keep)
			continue;
		int h = drfs_hold_check(r, &all[i].id);
		if (h < 0)
			e = h;
		else if (h == 0)
			ids[nf++] = all[i].id;
	}
	if (e >= 0 && nf)
		e = drfs_forget(r, ids, nf);
	if (e >= 0)
		e = (int)nf;
out:
	free(all);
	free(v);
	free(ids);
	return e;
}

static int mret_gc(void *ud, struct drfs_repo *r, const struct drfs_id *roots,
		   size_t n_roots, char *msg, size_t msg_len)
{
	struct drfs_lock *lock = NULL;
	struct drfs_gc_opts go = { .max_unused = -1, .roots = roots,
				   .n_roots = n_roots };
	struct drfs_gc_result res;
	char why[512] = "";
	(void)ud;

	int e = drfs_prune_lock(r, &lock, &go.deferred, why, sizeof(why));
	if (e < 0) {
		snprintf(msg, msg_len, "%s", why[0] ? why : drfs_strerror(e));
		return e;
	}
	go.holder = drfs_lock_id(lock);
	e = drfs_gc(r, &go, &res);
	drfs_lock_release(lock);
	if (e < 0)
		snprintf(msg, msg_len, "%s", drfs_strerror(e));
	else
		gc_summary(&res, msg, msg_len);
	return e;
}

static int mret_rescue(void *ud, struct drfs_repo *r,
		       const struct drfs_id *roots, size_t n_roots, char *msg,
		       size_t msg_len)
{
	uint64_t n = 0;
	(void)ud;
	int e = drfs_gc_rescue(r, roots, n_roots, NULL, NULL, &n);
	if (e < 0)
		snprintf(msg, msg_len, "%s", drfs_strerror(e));
	else
		snprintf(msg, msg_len, "%" PRIu64 " blob(s) written again",
			 n);
	return e;
}

/*
 * The -o list without "nonempty" (into *nonempty): out has room for all
 * of opts.
 */
static void strip_nonempty(const char *opts, char *out, bool *nonempty)
{
	size_t n = 0;
	out[0] = 0;
	for (const char *p = opts; p && *p;) {
		size_t l = strcspn(p, ",");
		if (l == 8 && !strncmp(p, "nonempty", 8))
			*nonempty = true;
		else if (l)
			n += (size_t)sprintf(out + n, "%s%.*s", n ? "," : "",
					     (int)l, p);
		p += l + (p[l] == ',');
	}
}

/*
 * What drfs mount takes from c for the repository url: everything but the
 * passphrase, the mountpoint and the FUSE options. EXIT_USAGE after a
 * message, else 0.
 */
static int mount_fill(struct cli *c, const char *url,
		      struct drfs_mount_opts *o, struct mount_retention *mr,
		      struct drfs_mount_retention *hooks)
{
	*hooks = (struct drfs_mount_retention){
		.forget = mret_forget,
		.enforce = mret_enforce,
		.gc = mret_gc,
		.rescue = mret_rescue,
		.prune = cli_mount_prune,
		.ud = mr,
	};
	if (mount_policy(c, mr) < 0)
		return EXIT_USAGE;
	if (c->name && (!c->name[0] || c->name[0] == '/' ||
			strlen(c->name) > DRFS_NAME_MAX ||
			!printable(c->name))) {
		log_err("invalid --name \"%s\" (1..255 printable bytes, not "
			"starting with \"/\", which backup paths do)", c->name);
		return EXIT_USAGE;
	}
	mr->group = (struct drfs_snap_filter){
		.host = c->myhost, .path = c->name ? c->name : "now"
	};
	o->host = c->host;
	o->name = c->name;
	o->from = c->from;
	o->retention = hooks;
	if (c->cache_size &&
	    drfs_parse_size(c->cache_size, &o->cache_size) < 0) {
		log_err("invalid --cache-size \"%s\"", c->cache_size);
		return EXIT_USAGE;
	}
	if (c->snapshot_every &&
	    (drfs_parse_duration(c->snapshot_every, &o->snapshot_every) < 0 ||
	     o->snapshot_every <= 0)) {
		log_err("invalid --snapshot-every \"%s\"", c->snapshot_every);
		return EXIT_USAGE;
	}
	o->no_snapshot_on_unmount = c->no_snapshot_on_unmount;
	repo_opts(c, &o->repo, url);
	/* the mount wipes it in each of its processes once it is used */
	o->repo.password = NULL;
	return 0;
}

/* One repository of a several-repository mount, as the cli set it up. */
struct mount_one {
	struct cli c; /* the command line with this repository's settings */
	struct drfs_mount_opts o;
	struct mount_retention mr;
	struct drfs_mount_retention hooks;
	char name[80];
	char *cache_dir;
	char *password; /* secret memory */
};

/* The folder of url when none is given: the last component of a path, the
 * bucket (and prefix, "/" as "-") of s3://; "" when none is usable. */
static void default_folder(const char *url, char *out, size_t len)
{
	const char *p = url;
	size_t n = 0, l;
	if (!strncmp(p, "s3://", 5)) {
		p += 5;
	} else {
		if (!strncmp(p, "file://", 7))
			p += 7;
		l = strlen(p);
		while (l > 1 && p[l - 1] == '/')
			l--;
		const char *b = p + l;
		while (b > p && b[-1] != '/')
			b--;
		snprintf(out, len, "%.*s", (int)(p + l - b), b);
		p = out;
	}
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s", p);
	for (const char *q = tmp; *q && n + 1 < len && n < 64; q++) {
		char ch = *q;
		if (ch == '/' && (!q[1] || q[1] == '/'))
			continue;
		if (ch == '/')
			ch = '-';
		else if (!isalnum((unsigned char)ch) && ch != '.' &&
			 ch != '_' && ch != '-')
			ch = '_';
		if (n == 0 && ch == '.')
			ch = '_';
		out[n++] = ch;
	}
	out[n] = 0;
}

/* The option of drfs mount (or a global one) a config key sets. */
static const struct cli_opt *mount_opt(const char *name);

static int yes_no(const char *v)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		return 1;
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		return 0;
	return -1;
}

/* One section of the config file into m (c: the command line). */
static int mount_section(struct cli *c, const char *file,
			 const struct drfs_mount_conf_section *s,
			 struct mount_one *m, const char **ret_url)
{
	unsigned pw_line = 0, cmd_line = 0;
	const char *pw_file = NULL, *pw_cmd = NULL;
	int e;

	m->c = *c;
	m->c.cache_dir = NULL;
	snprintf(m->name, sizeof(m->name), "%s", s->name);
	for (size_t i = 0; i < s->n; i++) {
		const struct drfs_mount_conf_entry *en = &s->e[i];
		const char *k = en->key, *v = en->value;
		int yn = yes_no(v);
		if (!strcmp(k, "repository")) {
			*ret_url = v;
			continue;
		}
		if (!strcmp(k, "password-file")) {
			pw_file = v;
			pw_line = en->line;
			continue;
		}
		if (!strcmp(k, "password-command")) {
			pw_cmd = v;
			cmd_line = en->line;
			continue;
		}
		if (!strcmp(k, "no-encryption") ||
		    !strcmp(k, "snapshot-on-unmount")) {
			if (yn < 0) {
				log_err("%s:%u: %s: \"%s\" is not yes or no",
					file, en->line, k, v);
				return EXIT_USAGE;
			}
			if (k[0] == 'n')
				m->c.no_encryption = yn;
			else
				m->c.no_snapshot_on_unmount = !yn;
			continue;
		}
		const struct cli_opt *o = mount_opt(k);
		e = o ? o->set(&m->c, o, v) : -EINVAL;
		if (e == -ECANCELED)
			return EXIT_USAGE;
		if (e < 0) {
			log_err("%s:%u: invalid %s \"%s\"", file, en->line, k,
				v);
			return EXIT_USAGE;
		}
	}
	if (pw_file && pw_cmd) {
		log_err("%s:%u: [%s] has both password-file (line %u) and "
			"password-command: give one", file, cmd_line, s->name,
			pw_line);
		return EXIT_USAGE;
	}
	if (m->c.host)
		snprintf(m->c.myhost, sizeof(m->c.myhost), "%s", m->c.host);
	if (m->c.no_encryption)
		return 0;
	if (pw_file)
		e = read_secret_file(pw_file, &m->password);
	else if (pw_cmd)
		e = read_secret_command(pw_cmd, &m->password);
	else if ((e = get_password(c, false)) >= 0 && c->password &&
		 !(m->password = drfs_secret_strdup(c->password)))
		e = -ENOMEM;
	return e < 0 ? 1 : 0;
}

/* The config file into v (n_max entries): the count, or -exit status. */
static int mount_config(struct cli *c, struct mount_one *v, size_t n_max,
			const char **urls)
{
	const char *file = c->mount_config;
	struct drfs_mount_conf conf;
	char err[512];
	struct stat st;
	int rc = -EXIT_USAGE;

	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_err("cannot read the config file \"%s\": %s", file,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EXIT_USAGE;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		log_err("the config file \"%s\" is not a regular file of at "
			"most 1 MiB", file);
		close(fd);
		return -EXIT_USAGE;
	}
	if (st.st_mode & 022)
		log_warn("the config file \"%s\" can be written by others "
			 "(mode %04o): they can point this mount at a "
			 "repository or command of their choosing; chmod "
			 "go-w it", file, (unsigned)(st.st_mode & 07777));
	char *buf = malloc((size_t)st.st_size + 1);
	ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (got < 0) {
		log_err("cannot read the config file \"%s\"", file);
		free(buf);
		return -1;
	}
	int e = drfs_mount_conf_parse(buf, (size_t)got, &conf, err,
				      sizeof(err));
	free(buf);
	if (e < 0) {
		log_err("%s%s%s", file, isdigit((unsigned char)err[0]) ? ":"
									 : ": ",
			err);
		return -EXIT_USAGE;
	}
	if (conf.n > n_max) {
		log_err("%s: more than %zu repositories", file, n_max);
		goto out;
	}
	for (size_t i = 0; i < conf.n; i++) {
		int r = mount_section(c, file, &conf.s[i], &v[i], &urls[i]);
		if (r == 0)
			r = mount_fill(&v[i].c, urls[i], &v[i].o, &v[i].mr,
				       &v[i].hooks);
		if (r) {
			rc = -r;
			goto out;
		}
		/* the text goes with conf: what the options point into */
		v[i].name[sizeof(v[i].name) - 1] = 0;
	}
	/* keep conf.text alive: the options point into it */
	rc = (int)conf.n;
	for (size_t i = 0; i < conf.n; i++)
		free(conf.s[i].e);
	free(conf.s);
	c->conf_text = conf.text;
	return rc;
out:
	drfs_mount_conf_release(&conf);
	return rc;
}

static int mount_several(struct cli *c, const char *mp)
{
	const size_t max = 64;
	struct mount_one *v = calloc(max, sizeof(*v));
	struct drfs_mount_opts *repos = calloc(max, sizeof(*repos));
	const char **names = calloc(max, sizeof(*names));
	const char **urls = calloc(max, sizeof(*urls));
	struct drfs_mount_multi mm = { .mountpoint = mp };
	char *fo = NULL;
	size_t n = 0;
	int rc = 1;

	if (!v || !repos || !names || !urls)
		goto out;
	if (c->mount_config) {
		int r = mount_config(c, v, max, urls);
		if (r < 0) {
			rc = -r;
			goto out;
		}
		n = (size_t)r;
	} else {
		n = (size_t)c->n_args - 1;
		if (n > max) {
			log_err("more than %zu repositories", max);
			rc = EXIT_USAGE;
			goto out;
		}
		if (!c->no_encryption && get_password(c, false) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			struct mount_one *m = &v[i];
			m->c = *c;
			m->c.cache_dir = NULL; /* DIR/NAME, below */
			urls[i] = c->args[i];
			default_folder(urls[i], m->name, sizeof(m->name));
			if (!drfs_fs_multi_name_ok(m->name)) {
				log_err("no folder name can be made of \"%s\":"
					" name it in a config file (--config)",
					urls[i]);
				rc = EXIT_USAGE;
				goto out;
			}
			if (c->password &&
			    !(m->password = drfs_secret_strdup(c->password)))
				goto out;
			rc = mount_fill(&m->c, urls[i], &m->o, &m->mr,
					&m->hooks);
			if (rc)
				goto out;
			rc = 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct mount_one *m = &v[i];
		/* one global --cache-dir: a directory per repository in it */
		if (!m->o.repo.cache_dir && c->cache_dir) {
			if (asprintf(&m->cache_dir, "%s/%s", c->cache_dir,
				     m->name) < 0)
				goto out;
			m->o.repo.cache_dir = m->cache_dir;
		}
		m->o.password = m->password;
		repos[i] = m->o;
		names[i] = m->name;
	}
	if (c->retry_every) {
		int64_t d;
		if (drfs_parse_duration(c->retry_every, &d) < 0 || d <= 0) {
			log_err("invalid --retry-every \"%s\"", c->retry_every);
			rc = EXIT_USAGE;
			goto out;
		}
		mm.retry = (double)d;
	}
	fo = c->fuse_opts ? malloc(strlen(c->fuse_opts) + 1) : NULL;
	if (c->fuse_opts && !fo)
		goto out;
	if (fo)
		strip_nonempty(c->fuse_opts, fo, &mm.nonempty);
	mm.fuse_opts = fo;
	mm.repos = repos;
	mm.names = names;
	mm.n = n;
	mm.foreground = c->foreground || c->debug;
	mm.debug = c->debug;
	int e = drfs_fs_mount_multi(&mm);
	rc = e == -EINVAL ? EXIT_USAGE : e < 0 ? 1 : 0;
out:
	for (size_t i = 0; v && i < max; i++) {
		drfs_secret_free(v[i].password);
		free(v[i].cache_dir);
	}
	free(fo);
	free(v);
	free(repos);
	free(names);
	free(urls);
	free(c->conf_text);
	c->conf_text = NULL;
	return rc;
}

static int cmd_mount(struct cli *c)
{
	struct drfs_mount_opts o = { 0 };
	struct mount_retention mr;
	struct drfs_mount_retention hooks;
	static char *with_repo[2];
	const char *env = getenv("DRFS_REPOSITORY");

	if (c->mount_config) {
		if (c->n_args != 1) {
			cli_usage_err(c->cmd, "with --config, only MOUNTPOINT "
				      "is given (the repositories are in the "
				      "file)");
			return EXIT_USAGE;
		}
		return mount_several(c, c->args[0]);
	}
	if (c->n_args == 1 && env && *env) {
		with_repo[0] = (char *)env;
		with_repo[1] = c->args[0];
		c->args = with_repo;
		c->n_args = 2;
	}
	int e = need_args(c, c->n_args > 2 ? c->n_args : 2,
			  "REPO... MOUNTPOINT [-f] [-o OPTS] "
			  "[--cache-dir D] [--cache-size SIZE]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->n_args > 2)
		return mount_several(c, c->args[c->n_args - 1]);
	e = mount_fill(c, c->args[0], &o, &mr, &hooks);
	if (e)
		return e;
	if (!c->no_encryption && get_password(c, false) < 0)
		return 1;
	o.password = c->no_encryption ? NULL : c->password;
	o.mountpoint = c->args[1];
	o.foreground = c->foreground || c->debug;
	o.debug = c->debug;
	char *fo = c->fuse_opts ? malloc(strlen(c->fuse_opts) + 1) : NULL;
	if (c->fuse_opts && !fo)
		return 1;
	if (fo)
		strip_nonempty(c->fuse_opts, fo, &o.nonempty);
	o.fuse_opts = fo;
	e = drfs_fs_mount(&o);
	free(fo);
	return e < 0 ? 1 : 0;
}

static int cmd_umount(struct cli *c)
{
	int e = need_args(c, 1, "MOUNTPOINT");
	if (e < 0)
		return EXIT_USAGE;
	e = drfs_fs_umount(c->args[0]);
	return e < 0 ? 1 : 0;
}

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
	{ 0 },
};

static const struct cli_opt restore_opts[] = {
	CLI_STR("overwrite", 0, "MODE", overwrite,
		"what to do with an entry already in DIR: always (default: "
		"rewrite files, replace symlinks and specials), if-changed "
		"(keep files whose content matches), if-newer (only if the "
		"snapshot's is newer), never, replace (always, and remove a "
		"non-directory of another kind in the way)"),
	{ 0 },
};

static const struct cli_opt check_opts[] = {
	CLI_FLAG("read-data", 0, read_data,
		 "also read and verify every pack"),
	CLI_STR("read-data-subset", 0, "N/M", read_subset,
		"read and verify the N-th of M parts of the packs (M at most "
		"256)"),
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
	{ 0 },
};

static const struct cli_opt *mount_opt(const char *name)
{
	const struct cli_opt *const tables[] = { cli_opts_global,
						 cli_opts_keep, mount_opts };
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (const struct cli_opt *o = tables[t]; o->name; o++)
			if (!strcmp(o->name, name))
				return o;
	return NULL;
}

static const struct cli_opt snapshot_opts[] = {
	CLI_STR("time", 0, "TIME", time,
		"the snapshot's time (RFC 3339; default: now)"),
	CLI_FN("tag", "TAG", cli_set_tag,
	       "record TAG with the snapshot (repeatable)", CLI_OPT_REPEAT),
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

const struct cli_cmd cli_commands[] = {
	{ "init", "REPO", 1, 1, 0, "create a repository", NULL,
	  OPTS(init_opts), NULL, cmd_init },
	{ "backup", "REPO DIR", 2, 2, 0, "snapshot a directory", NULL,
	  OPTS(backup_opts), "some entries could not be read and were skipped",
	  cmd_backup },
	{ "snapshots", "REPO", 1, 1, 0, "list snapshots",
	  "With --host, --path or --tag: only those snapshots.",
	  OPTS(cli_opts_filter, cli_opt_json), NULL, cmd_snapshots },
	{ "restore", "REPO SNAPSHOT|latest DIR", 3, 3, 0,
	  "restore a snapshot without FUSE",
	  "latest: this host's newest snapshot (--host, --path and --tag "
	  "choose).",
	  OPTS(restore_opts, cli_opts_filter),
	  "some entries could not be restored (named)", cmd_restore },
	{ "check", "REPO", 1, 1, 0, "verify the repository", NULL,
	  OPTS(check_opts), NULL, cmd_check },
	{ "stats", "REPO", 1, 1, 0, "sizes and ratios", NULL,
	  OPTS(cli_opt_json), NULL, cmd_stats },
	{ "repair", "index|snapshots REPO", 2, 2, 1,
	  "rebuild the index; rewrite damaged snapshots", NULL,
	  OPTS(repair_opts), NULL, cmd_repair },
	{ "mount", "REPO... MOUNTPOINT", 1, -1, 0,
	  "mount the snapshots, and a writable now/",
	  "The --keep-* options are the policy the mount applies to now/'s "
	  "own snapshots (default: the repository's stored policy). With "
	  "several repositories (or --config FILE and MOUNTPOINT alone) "
	  "each is at MOUNTPOINT/NAME, NAME the last component of its path "
	  "or its bucket[-prefix]; a --cache-dir DIR is then DIR/NAME for "
	  "each.",
	  OPTS(mount_opts, cli_opts_keep), NULL, cmd_mount },
	{ "umount", "MOUNTPOINT", 1, 1, -1,
	  "unmount (after a final snapshot and upload)", NULL, NULL, NULL,
	  cmd_umount },
	{ "snapshot", "MOUNTPOINT", 1, 1, -1, "snapshot now/ of a mount", NULL,
	  OPTS(snapshot_opts), NULL, cmd_snapshot },
	{ "status", "MOUNTPOINT", 1, 1, -1, "pending uploads, last snapshot",
	  NULL, NULL, NULL, cmd_status },
	{ "prune", "REPO|MOUNTPOINT", 1, 1, 0,
	  "apply a retention policy, free space",
	  "Without --keep-*: the repository's stored policy (drfs policy).",
	  OPTS(prune_opts, cli_opts_keep, cli_opts_filter), NULL, cmd_prune },
	{ "forget", "REPO [SNAPSHOT...]", 1, -1, 0,
	  "forget snapshots (space freed by prune)",
	  "Either SNAPSHOTs or --keep-* options.",
	  OPTS(forget_opts, cli_opts_keep, cli_opts_filter), NULL,
	  cmd_forget },
	{ "hold", "REPO SNAPSHOT", 2, 2, 0, "protect a snapshot from removal",
	  NULL, OPTS(cli_opts_filter), NULL, cmd_hold },
	{ "release", "REPO SNAPSHOT", 2, 2, 0, "remove a hold", NULL,
	  OPTS(cli_opts_filter), NULL, cmd_release },
	{ "drill", "REPO [SNAPSHOT|latest]", 1, 2, 0,
	  "restore to a scratch dir, verify, report time-to-restore",
	  "The scratch directory is DRFS_DRILL_DIR, else a temporary one.",
	  OPTS(drill_opts, cli_opts_filter, cli_opt_json), NULL, cmd_drill },
	{ "copy", "SRC DST [SNAPSHOT...]", 2, -1, 0,
	  "copy snapshots to another repository",
	  "Without SNAPSHOTs: every snapshot SRC has and DST lacks.",
	  OPTS(copy_opts, cli_opts_filter, cli_opt_json), NULL, cmd_copy },
	{ "mirror", "SRC DST", 2, 2, 0,
	  "keep DST object-identical to SRC, without keys",
	  "DST is opened with the --replica-endpoint, --replica-region and "
	  "--replica-profile options (docs/disaster-recovery.md).",
	  OPTS(mirror_opts, cli_opt_json), NULL, cmd_mirror },
	{ "lock-extend", "REPO", 1, 1, 0,
	  "extend Object Lock retention of reachable objects", NULL,
	  OPTS(lock_extend_opts, cli_opt_json), NULL, cmd_lock_extend },
	{ "policy", "REPO", 1, 1, 0,
	  "show or store the repository's retention policy",
	  "With --keep-*: store them as the policy; without: show it.",
	  OPTS(cli_opts_keep, cli_opt_json), NULL, cmd_policy },
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
		if (rc < 0)
			return EXIT_USAGE;
		cli_help_cmd(stdout, cmd);
		return 0;
	}
	/* out of the environment at once, whatever the command */
	if (take_env_secret("DRFS_PASSWORD", &c.password) < 0 ||
	    take_env_secret("DRFS_PASSWORD2", &c.password2) < 0) {
		drfs_excludes_release(&c.excludes);
		drop_secret(&c.password);
		return 1;
	}
	if (c.host)
		snprintf(c.myhost, sizeof(c.myhost), "%s", c.host);
	else
		drfs_hostname(c.myhost, sizeof(c.myhost));
	rc = cmd->run(&c);
	drfs_excludes_release(&c.excludes);
	drop_secret(&c.password);
	drop_secret(&c.password2);
	return rc;
}
