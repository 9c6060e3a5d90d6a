/* SPDX-License-Identifier: MIT */
/*
 * common.c - what the commands share: the passphrase (environment, file,
 * command, terminal), opening a repository and locking it, finding a
 * snapshot, JSON strings, times, warnings about vanished snapshots.
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

void cli_report_line(void *userdata, const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct cli_msgs *m = userdata;
	char msg[2 * PATH_MAX + 1024]; /* a target and a path within it */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "drfs: %s\n", msg);
	if (!m)
		return;
	/* restore's workers report from several threads */
	pthread_mutex_lock(&lock);
	/* out of memory: this one is dropped below */
	if (m->cap < CLI_MSGS_MAX)
		(void)drfs_grow(&m->v, &m->cap, m->n, sizeof(*m->v), 16);
	char *copy = m->n < m->cap ? strdup(msg) : NULL;
	if (copy)
		m->v[m->n++] = copy;
	else
		m->dropped++;
	pthread_mutex_unlock(&lock);
}

void cli_msgs_json(FILE *f, const struct cli_msgs *m)
{
	fputc('[', f);
	for (size_t i = 0; i < m->n; i++) {
		if (i)
			fputc(',', f);
		cli_json_str(f, m->v[i]);
	}
	fputc(']', f);
}

void cli_msgs_release(struct cli_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/*
 * Read one line from fd (no echo when it's a terminal) straight into
 * secret memory: the passphrase never passes through a stdio buffer or the
 * stack. NULL if out of memory.
 */
char *cli_read_secret(int fd, const char *prompt)
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

int cli_read_secret_file(const char *file, char **ret)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		log_err("cannot read password file \"%s\": %s", file,
			strerror(e));
		return -e;
	}
	*ret = cli_read_secret(fd, "");
	close(fd);
	return *ret ? 0 : -ENOMEM;
}

/*
 * The first line DRFS_PASSWORD_COMMAND prints (run by /bin/sh -c, its
 * stdin and stderr ours), read like a password file. The command itself is
 * never shown: it may hold a secret of its own.
 */
int cli_read_secret_command(const char *cmd, char **ret)
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
	*ret = cli_read_secret(p[0], "");
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
		cli_drop_secret(ret);
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

int cli_take_env_secret(const char *name, char **ret)
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

void cli_drop_secret(char **s)
{
	drfs_secret_free(*s);
	*s = NULL;
}

/*
 * The passphrase: DRFS_PASSWORD, --password-file/DRFS_PASSWORD_FILE,
 * DRFS_PASSWORD_COMMAND, the terminal.
 */
int cli_get_password(struct cli *c, bool confirm)
{
	const char *file = c->password_file ?: getenv("DRFS_PASSWORD_FILE");
	const char *cmd = getenv("DRFS_PASSWORD_COMMAND");
	/* DRFS_PASSWORD: taken at start by drfs_cli_main (here for other
	 * callers of the CLI helpers, such as tests/tools/drfs-craft) */
	int e = c->password ? 0
			    : cli_take_env_secret("DRFS_PASSWORD", &c->password);
	if (e < 0 || c->password)
		return e;
	if (file)
		return cli_read_secret_file(file, &c->password);
	if (cmd && *cmd)
		return cli_read_secret_command(cmd, &c->password);
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0)
		return 0; /* none: an encrypted repository will say so */
	c->password = cli_read_secret(tty, "passphrase: ");
	if (confirm && c->password) {
		char *again = cli_read_secret(tty, "passphrase again: ");
		if (!again || strcmp(again, c->password) != 0) {
			close(tty);
			cli_drop_secret(&again);
			cli_drop_secret(&c->password);
			log_err("the passphrases do not match");
			return -EINVAL;
		}
		cli_drop_secret(&again);
	}
	close(tty);
	return c->password ? 0 : -ENOMEM;
}

void cli_repo_opts(struct cli *c, struct drfs_repo_opts *o, const char *url)
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
	o->report = cli_report_line;
	o->replica_backend.profile = c->replica_profile;
}

int cli_open_repo_with(struct cli *c, struct drfs_repo_opts *o,
		       struct drfs_repo **ret)
{
	int e = drfs_repo_open(o, ret);
	/* the keys are unwrapped: the passphrase is not needed any more */
	o->password = NULL;
	cli_drop_secret(&c->password);
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
	return cli_lock_sync(r, role, false, ret);
}

int cli_lock_sync(struct drfs_repo *r, enum drfs_lock_role role, bool full,
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
	e = drfs_repo_sync(r, full);
	if (e < 0) {
		log_err("%s", drfs_repo_last_error() ?: drfs_strerror(e));
		drfs_lock_release(*ret);
		*ret = NULL;
	}
	return e;
}

int cli_open_repo(struct cli *c, const char *url, struct drfs_repo **ret)
{
	struct drfs_repo_opts o;
	if (!c->no_encryption) {
		int e = cli_get_password(c, false);
		if (e < 0)
			return e;
	}
	cli_repo_opts(c, &o, url);
	return cli_open_repo_with(c, &o, ret);
}

bool cli_printable(const char *s)
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

int cli_need_args(struct cli *c, int n, const char *usage)
{
	if (c->n_args != n) {
		cli_usage_err(c->cmd, "want drfs %s %s", c->cmd, usage);
		return -EINVAL;
	}
	return 0;
}

/*
 * s as a JSON string: valid UTF-8 as it is (JSON text is UTF-8), what
 * drfs_cp_printable() refuses as \uXXXX, and each byte that is part of no
 * valid UTF-8 sequence (a Latin-1 file name, hostile bytes) as U+FFFD, as
 * Go's encoding/json does: the output always parses.
 */
void cli_json_str(FILE *f, const char *s)
{
	struct drfs_buf b;
	drfs_buf_init(&b, SIZE_MAX);
	if (drfs_buf_json_str(&b, s) >= 0)
		fwrite(b.p, 1, b.len, f);
	else
		fputs("null", f);
	drfs_buf_release(&b);
}

void cli_warn_vanished(struct drfs_repo *r, bool rollback_only)
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

void cli_iso_time(const struct timespec *t, char out[48])
{
	drfs_fmt_time_iso(t, out);
}

