/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the drfs command: a table of commands, one option parser, the
 * passphrase, progress on a terminal, and exit codes (0 ok, 1 failure,
 * 2 usage, 3 finished with per-file problems).
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
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

/* The passphrase: DRFS_PASSWORD, --password-file/DRFS_PASSWORD_FILE, tty. */
int get_password(struct cli *c, bool confirm)
{
	const char *file = c->password_file ?: getenv("DRFS_PASSWORD_FILE");
	/* DRFS_PASSWORD: taken at start by drfs_cli_main (here for other
	 * callers of the CLI helpers, such as tests/tools/drfs-craft) */
	int e = c->password ? 0 : take_env_secret("DRFS_PASSWORD", &c->password);
	if (e < 0 || c->password)
		return e;
	if (file)
		return read_secret_file(file, &c->password);
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
		fprintf(stderr, "usage: drfs %s %s\n", c->cmd, usage);
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
		log_err("invalid --time \"%s\" (want e.g. 2026-11-21T14:30:05Z)",
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
	if (!c->quiet)
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

static int cmd_mount(struct cli *c)
{
	struct drfs_mount_opts o = { 0 };
	struct mount_retention mr;
	struct drfs_mount_retention hooks = {
		.forget = mret_forget,
		.enforce = mret_enforce,
		.gc = mret_gc,
		.rescue = mret_rescue,
		.prune = cli_mount_prune,
		.ud = &mr,
	};
	if (mount_policy(c, &mr) < 0)
		return EXIT_USAGE;
	if (c->name && (!c->name[0] || c->name[0] == '/' ||
			strlen(c->name) > DRFS_NAME_MAX ||
			!printable(c->name))) {
		log_err("invalid --name \"%s\" (1..255 printable bytes, not "
			"starting with \"/\", which backup paths do)", c->name);
		return EXIT_USAGE;
	}
	mr.group = (struct drfs_snap_filter){
		.host = c->myhost, .path = c->name ? c->name : "now"
	};
	o.host = c->host;
	o.name = c->name;
	o.from = c->from;
	o.retention = &hooks;
	int e = need_args(c, 2, "REPO MOUNTPOINT [-f] [-o OPTS] "
				"[--cache-dir D] [--cache-size SIZE]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->cache_size && drfs_parse_size(c->cache_size, &o.cache_size) < 0) {
		log_err("invalid --cache-size \"%s\"", c->cache_size);
		return EXIT_USAGE;
	}
	if (c->snapshot_every &&
	    (drfs_parse_duration(c->snapshot_every, &o.snapshot_every) < 0 ||
	     o.snapshot_every <= 0)) {
		log_err("invalid --snapshot-every \"%s\"", c->snapshot_every);
		return EXIT_USAGE;
	}
	o.no_snapshot_on_unmount = c->no_snapshot_on_unmount;
	if (!c->no_encryption && get_password(c, false) < 0)
		return 1;
	repo_opts(c, &o.repo, c->args[0]);
	/* the mount wipes it in each of its processes once it is used */
	o.password = c->no_encryption ? NULL : c->password;
	o.repo.password = NULL;
	o.mountpoint = c->args[1];
	o.foreground = c->foreground || c->debug;
	o.debug = c->debug;
	o.fuse_opts = c->fuse_opts;
	e = drfs_fs_mount(&o);
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

struct command {
	const char *name;
	int (*fn)(struct cli *c);
	const char *help;
};

/* Commands implemented in src/cli/cmd_*.c (declared in cliint.h). */

static const struct command commands[] = {
	{ "init", cmd_init, "REPO                      create a repository" },
	{ "backup", cmd_backup, "REPO DIR [--time T] [--tag T] [--host H]  snapshot a directory" },
	{ "snapshots", cmd_snapshots, "REPO [--json] [--host H] [--path P] [--tag T]  list snapshots" },
	{ "restore", cmd_restore, "REPO SNAPSHOT|latest DIR [--overwrite MODE] [--host H]  restore without FUSE;\n"
	  "             latest: this host's (--host, --path, --tag choose);\n"
	  "             MODE for entries already in DIR: always (default: rewrite\n"
	  "             files, replace symlinks and specials), if-changed (keep\n"
	  "             files whose content matches), if-newer (only if the\n"
	  "             snapshot's is newer), never, replace (always, and remove\n"
	  "             a non-directory of another kind in the way)" },
	{ "check", cmd_check, "REPO [--read-data]       verify the repository" },
	{ "stats", cmd_stats, "REPO [--json]            sizes and ratios" },
	{ "repair", cmd_repair, "index|snapshots REPO    rebuild the index; rewrite damaged snapshots" },
	{ "mount", cmd_mount, "REPO MOUNTPOINT [-f] [-o OPTS] [--snapshot-every D] [--keep-* N] [--host H] [--name N] [--from SNAPSHOT|HOST]  mount" },
	{ "umount", cmd_umount, "MOUNTPOINT              unmount" },
	{ "snapshot", cmd_snapshot, "MOUNTPOINT [--time T] [--tag T]  snapshot now/ of a mount" },
	{ "status", cmd_status, "MOUNTPOINT              pending uploads, last snapshot" },
	{ "prune", cmd_prune, "REPO [--keep-* N] [--group-by G] [--dry-run]  apply a retention policy, free space" },
	{ "forget", cmd_forget, "REPO SNAPSHOT...|--keep-* N  forget snapshots (space freed by prune)" },
	{ "hold", cmd_hold, "REPO SNAPSHOT           protect a snapshot from removal" },
	{ "release", cmd_release, "REPO SNAPSHOT         remove a hold" },
	{ "drill", cmd_drill, "REPO [SNAPSHOT] [--sample P]  restore to a scratch dir, verify, report time-to-restore" },
	{ "copy", cmd_copy, "SRC DST [SNAPSHOT...]     copy snapshots to another repository" },
	{ "mirror", cmd_mirror, "SRC DST [--delete-after D]  keep DST object-identical to SRC, without keys" },
	{ "lock-extend", cmd_lock_extend, "REPO            extend Object Lock retention of reachable objects" },
	{ "policy", cmd_policy, "REPO [--keep-* N]       show or store the repository's policy" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: drfs COMMAND [ARGS] [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\nREPO is /path, file:///path or s3://bucket[/prefix].\n"
		"options: --cache-dir DIR --password-file FILE --endpoint URL\n"
		"  --region R --profile NAME --s3-path-style --s3-connections N\n"
		"  --retries N\n"
		"  --s3-insecure-no-tls-verify --threads N -q\n"
		"  --replica REPO2 [--replica-async] [--replica-endpoint URL]\n"
		"  [--replica-region R] [--replica-profile NAME]: write both,\n"
		"  fail reads over (mirror's DST takes the --replica-* too)\n"
		"  --no-encryption: the repository is unencrypted (required to\n"
		"  open one; no passphrase is read)  --expect-id HEX: refuse any\n"
		"  other repository (see docs/security.md)\n"
		"  --host H: the host snapshots record (default: this one's\n"
		"  name) and whose \"latest\" is meant (docs/hosts.md)\n"
		"passphrase: DRFS_PASSWORD, DRFS_PASSWORD_FILE, or a prompt.\n");
}

enum {
	OPT_CACHE_DIR = 256,
	OPT_PASSWORD_FILE,
	OPT_TIME,
	OPT_TAG,
	OPT_JSON,
	OPT_READ_DATA,
	OPT_READ_SUBSET,
	OPT_NO_ENC,
	OPT_COMPRESSION,
	OPT_CACHE_SIZE,
	OPT_ENDPOINT,
	OPT_REGION,
	OPT_PATH_STYLE,
	OPT_CONNECTIONS,
	OPT_RETRIES,
	OPT_INSECURE,
	OPT_THREADS,
	OPT_NO_PARENT,
	OPT_KEEP_LAST,
	OPT_KEEP_HOURLY,
	OPT_KEEP_DAILY,
	OPT_KEEP_WEEKLY,
	OPT_KEEP_MONTHLY,
	OPT_KEEP_YEARLY,
	OPT_KEEP_WITHIN,
	OPT_KEEP_TAG,
	OPT_DRY_RUN,
	OPT_MAX_UNUSED,
	OPT_SNAPSHOT_EVERY,
	OPT_NO_SNAP_UNMOUNT,
	OPT_COMPLIANCE,
	OPT_REPLICA,
	OPT_REPLICA_ASYNC,
	OPT_REPLICA_ENDPOINT,
	OPT_REPLICA_REGION,
	OPT_PASSWORD_FILE2,
	OPT_SAMPLE,
	OPT_SEED,
	OPT_EXPECT_ID,
	OPT_NO_ENC2,
	OPT_OVERWRITE,
	OPT_HOST,
	OPT_PATH,
	OPT_NAME,
	OPT_FROM,
	OPT_GROUP_BY,
	OPT_DELETE_AFTER,
	OPT_VERIFY,
	OPT_PROFILE,
	OPT_REPLICA_PROFILE,
};

static const struct option long_opts[] = {
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "time", required_argument, NULL, OPT_TIME },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "read-data", no_argument, NULL, OPT_READ_DATA },
	{ "read-data-subset", required_argument, NULL, OPT_READ_SUBSET },
	{ "no-encryption", no_argument, NULL, OPT_NO_ENC },
	{ "compression", required_argument, NULL, OPT_COMPRESSION },
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
	{ "region", required_argument, NULL, OPT_REGION },
	{ "s3-path-style", no_argument, NULL, OPT_PATH_STYLE },
	{ "s3-connections", required_argument, NULL, OPT_CONNECTIONS },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "s3-insecure-no-tls-verify", no_argument, NULL, OPT_INSECURE },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "no-parent", no_argument, NULL, OPT_NO_PARENT },
	{ "keep-last", required_argument, NULL, OPT_KEEP_LAST },
	{ "keep-hourly", required_argument, NULL, OPT_KEEP_HOURLY },
	{ "keep-daily", required_argument, NULL, OPT_KEEP_DAILY },
	{ "keep-weekly", required_argument, NULL, OPT_KEEP_WEEKLY },
	{ "keep-monthly", required_argument, NULL, OPT_KEEP_MONTHLY },
	{ "keep-yearly", required_argument, NULL, OPT_KEEP_YEARLY },
	{ "keep-within", required_argument, NULL, OPT_KEEP_WITHIN },
	{ "keep-tag", required_argument, NULL, OPT_KEEP_TAG },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "max-unused", required_argument, NULL, OPT_MAX_UNUSED },
	{ "snapshot-every", required_argument, NULL, OPT_SNAPSHOT_EVERY },
	{ "no-snapshot-on-unmount", no_argument, NULL, OPT_NO_SNAP_UNMOUNT },
	{ "compliance", no_argument, NULL, OPT_COMPLIANCE },
	{ "replica", required_argument, NULL, OPT_REPLICA },
	{ "replica-async", no_argument, NULL, OPT_REPLICA_ASYNC },
	{ "replica-endpoint", required_argument, NULL, OPT_REPLICA_ENDPOINT },
	{ "replica-region", required_argument, NULL, OPT_REPLICA_REGION },
	{ "password-file2", required_argument, NULL, OPT_PASSWORD_FILE2 },
	{ "sample", required_argument, NULL, OPT_SAMPLE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "expect-id", required_argument, NULL, OPT_EXPECT_ID },
	{ "no-encryption2", no_argument, NULL, OPT_NO_ENC2 },
	{ "overwrite", required_argument, NULL, OPT_OVERWRITE },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "group-by", required_argument, NULL, OPT_GROUP_BY },
	{ "delete-after", required_argument, NULL, OPT_DELETE_AFTER },
	{ "verify", required_argument, NULL, OPT_VERIFY },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "replica-profile", required_argument, NULL, OPT_REPLICA_PROFILE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int parse_int(const char *s, int lo, int hi, int *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/*
 * A local replica path made absolute: mount daemonizes (chdir "/") before
 * it opens the repository.
 */
static const char *replica_url(const char *arg)
{
	static char abs[PATH_MAX];
	if (strstr(arg, "://") || arg[0] == '/' || !getcwd(abs, sizeof(abs)) ||
	    strlen(abs) + 1 + strlen(arg) >= sizeof(abs))
		return arg;
	strcat(abs, "/");
	strcat(abs, arg);
	return abs;
}

int drfs_cli_main(int argc, char **argv)
{
	struct cli c = { 0 };
	int opt, rc;

	signal(SIGPIPE, SIG_IGN);
	/*
	 * No core dump of a process holding a passphrase or keys (and no
	 * ptrace by other processes of the user); the mount daemon is a
	 * fork of this process and stays so.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	c.be.path_style = -1;
	c.be.retries = -1;
	c.keep_last = c.keep_hourly = c.keep_daily = c.keep_weekly = -1;
	c.keep_monthly = c.keep_yearly = -1;
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("drfs 0.1.0\n");
		return 0;
	}
	c.cmd = argv[1];
	const struct command *cmd = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, c.cmd))
			cmd = &commands[i];
	if (!cmd) {
		log_err("unknown command \"%s\" (see drfs --help)", c.cmd);
		return EXIT_USAGE;
	}
	/* out of the environment at once, whatever the command */
	if (take_env_secret("DRFS_PASSWORD", &c.password) < 0 ||
	    take_env_secret("DRFS_PASSWORD2", &c.password2) < 0) {
		drop_secret(&c.password);
		return 1;
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "fdo:qh", long_opts, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case OPT_CACHE_DIR:
			c.cache_dir = optarg;
			break;
		case OPT_PASSWORD_FILE:
			c.password_file = optarg;
			break;
		case OPT_TIME:
			c.time = optarg;
			break;
		case OPT_TAG:
			if (c.n_tags < DRFS_TAGS_MAX)
				c.tags[c.n_tags++] = optarg;
			break;
		case OPT_JSON:
			c.json = true;
			break;
		case OPT_READ_DATA:
			c.read_data = true;
			break;
		case OPT_READ_SUBSET:
			c.read_subset = optarg;
			break;
		case OPT_NO_ENC:
			c.no_encryption = true;
			break;
		case OPT_COMPRESSION:
			bad = parse_int(optarg, -7, 22, &c.compression);
			break;
		case OPT_CACHE_SIZE:
			c.cache_size = optarg;
			break;
		case OPT_ENDPOINT:
			c.be.endpoint = optarg;
			break;
		case OPT_REGION:
			c.be.region = optarg;
			break;
		case OPT_PATH_STYLE:
			c.be.path_style = 1;
			break;
		case OPT_CONNECTIONS:
			bad = parse_int(optarg, 1, 256, &c.be.connections);
			break;
		case OPT_RETRIES:
			bad = parse_int(optarg, 0, 100, &c.be.retries);
			break;
		case OPT_INSECURE:
			c.be.insecure_tls = true;
			break;
		case OPT_THREADS:
			bad = parse_int(optarg, 1, 64, &c.threads);
			break;
		case OPT_NO_PARENT:
			c.no_parent = true;
			break;
		case OPT_KEEP_LAST:
			bad = parse_int(optarg, 0, 1000000, &c.keep_last);
			break;
		case OPT_KEEP_HOURLY:
			bad = parse_int(optarg, 0, 1000000, &c.keep_hourly);
			break;
		case OPT_KEEP_DAILY:
			bad = parse_int(optarg, 0, 1000000, &c.keep_daily);
			break;
		case OPT_KEEP_WEEKLY:
			bad = parse_int(optarg, 0, 1000000, &c.keep_weekly);
			break;
		case OPT_KEEP_MONTHLY:
			bad = parse_int(optarg, 0, 1000000, &c.keep_monthly);
			break;
		case OPT_KEEP_YEARLY:
			bad = parse_int(optarg, 0, 1000000, &c.keep_yearly);
			break;
		case OPT_KEEP_WITHIN:
			c.keep_within = optarg;
			break;
		case OPT_KEEP_TAG:
			if (c.n_keep_tags < DRFS_TAGS_MAX)
				c.keep_tags[c.n_keep_tags++] = optarg;
			break;
		case OPT_DRY_RUN:
			c.dry_run = true;
			break;
		case OPT_MAX_UNUSED:
			c.max_unused = optarg;
			break;
		case OPT_SNAPSHOT_EVERY:
			c.snapshot_every = optarg;
			break;
		case OPT_NO_SNAP_UNMOUNT:
			c.no_snapshot_on_unmount = true;
			break;
		case OPT_COMPLIANCE:
			c.compliance = true;
			break;
		case OPT_REPLICA:
			c.replica = replica_url(optarg);
			break;
		case OPT_REPLICA_ASYNC:
			c.replica_async = true;
			break;
		case OPT_REPLICA_ENDPOINT:
			c.replica_endpoint = optarg;
			break;
		case OPT_REPLICA_REGION:
			c.replica_region = optarg;
			break;
		case OPT_PASSWORD_FILE2:
			c.password_file2 = optarg;
			break;
		case OPT_SAMPLE:
			c.sample = optarg;
			break;
		case OPT_SEED:
			c.seed = optarg;
			break;
		case OPT_EXPECT_ID:
			bad = strlen(optarg) != 2 * sizeof(c.expect_id) ||
			      drfs_unhex(optarg, sizeof(c.expect_id),
					 c.expect_id) < 0;
			c.have_expect_id = true;
			break;
		case OPT_NO_ENC2:
			c.no_encryption2 = true;
			break;
		case OPT_OVERWRITE:
			c.overwrite = optarg;
			break;
		case OPT_HOST:
			c.host = optarg;
			bad = !optarg[0] || strlen(optarg) > DRFS_HOST_MAX ||
			      !printable(optarg);
			break;
		case OPT_PATH:
			c.path = optarg;
			break;
		case OPT_NAME:
			c.name = optarg;
			break;
		case OPT_FROM:
			c.from = optarg;
			break;
		case OPT_GROUP_BY:
			c.group_by = optarg;
			break;
		case OPT_DELETE_AFTER:
			c.delete_after = optarg;
			break;
		case OPT_VERIFY:
			c.verify = optarg;
			break;
		case OPT_PROFILE:
			c.be.profile = optarg;
			break;
		case OPT_REPLICA_PROFILE:
			c.replica_profile = optarg;
			break;
		case 'f':
			c.foreground = true;
			break;
		case 'd':
			c.debug = true;
			break;
		case 'o':
			c.fuse_opts = optarg;
			break;
		case 'q':
			c.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return EXIT_USAGE;
		}
		if (bad) {
			log_err("invalid value \"%s\" for an option of \"%s\"",
				optarg, c.cmd);
			return EXIT_USAGE;
		}
	}
	c.args = argv + optind;
	c.n_args = argc - optind;
	if (c.host)
		snprintf(c.myhost, sizeof(c.myhost), "%s", c.host);
	else
		drfs_hostname(c.myhost, sizeof(c.myhost));
	rc = cmd->fn(&c);
	drop_secret(&c.password);
	drop_secret(&c.password2);
	return rc;
}
