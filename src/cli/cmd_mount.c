/* SPDX-License-Identifier: MIT */
/*
 * cmd_mount.c - drfs mount (with its retention hooks) and drfs umount.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "drfs/cli.h"
#include "drfs/facts.h"
#include "drfs/fs.h"
#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/ops.h"
#include "drfs/prune.h"
#include "drfs/repo.h"

#include "cliint.h"

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
		cli_gc_summary(&res, msg, msg_len);
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
			!cli_printable(c->name))) {
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
	o->stats = cli_facts_stats;
	o->metrics_textfile = c->metrics_textfile;
	o->metrics_listen = c->metrics_listen;
	struct sockaddr_storage la;
	unsigned la_len;
	if (c->metrics_listen &&
	    drfs_fs_listen_addr(c->metrics_listen, &la, &la_len) < 0) {
		log_err("invalid --metrics-listen \"%s\" (want PORT, "
			"ADDR:PORT or [ADDR6]:PORT)", c->metrics_listen);
		return EXIT_USAGE;
	}
	if (c->metrics_every &&
	    (drfs_parse_duration(c->metrics_every, &o->metrics_every) < 0 ||
	     o->metrics_every <= 0)) {
		log_err("invalid --metrics-every \"%s\"", c->metrics_every);
		return EXIT_USAGE;
	}
	uint64_t budget;
	if (cli_verify_budget(c, &budget) < 0)
		return EXIT_USAGE;
	cli_repo_opts(c, &o->repo, url);
	o->repo.verify_budget = budget;
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
		const struct cli_opt *o = cli_mount_opt(k);
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
		e = cli_read_secret_file(pw_file, &m->password);
	else if (pw_cmd)
		e = cli_read_secret_command(pw_cmd, &m->password);
	else if ((e = cli_get_password(c, false)) >= 0 && c->password &&
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
	if (c->metrics_listen || c->metrics_textfile) {
		/* one port or file per repository: not built yet */
		log_err("--metrics-listen and --metrics-textfile take one "
			"repository; with several, run drfs metrics "
			"MOUNTPOINT/NAME (docs/monitoring.md)");
		rc = EXIT_USAGE;
		goto out;
	}
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
		if (!c->no_encryption && cli_get_password(c, false) < 0)
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

int cli_cmd_mount(struct cli *c)
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
	int e = cli_need_args(c, c->n_args > 2 ? c->n_args : 2,
			      "REPO... MOUNTPOINT [-f] [-o OPTS] "
			      "[--cache-dir D] [--cache-size SIZE]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->n_args > 2)
		return mount_several(c, c->args[c->n_args - 1]);
	e = mount_fill(c, c->args[0], &o, &mr, &hooks);
	if (e)
		return e;
	if (!c->no_encryption && cli_get_password(c, false) < 0)
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

/* umount's phase: what its daemon had not yet uploaded */
static void umount_phase(const char *mp, char *out, size_t len)
{
	struct drfs_facts *f = calloc(1, sizeof(*f));
	char b1[32], b2[32];
	/* as drfs status says them: a staged file's blobs are pending too */
	if (f && drfs_fs_facts(mp, f) == 0 && f->mounted)
		snprintf(out, len, "final snapshot and uploads (at unmount: "
			 "staged %" PRIu64 " files, %s; pending upload %"
			 PRIu64 " blobs, %s)", f->backlog_objects,
			 cli_size(f->backlog_bytes, b1), f->pending_blobs,
			 cli_size(f->pending_bytes, b2));
	free(f);
}

int cli_cmd_umount(struct cli *c)
{
	int e = cli_need_args(c, 1, "MOUNTPOINT");
	if (e < 0)
		return EXIT_USAGE;
	/*
	 * The daemon takes its final snapshot and drains its uploads after
	 * the kernel let go of the mount: its control channel (xattrs on
	 * the mount's root) is gone then, and it says nothing until it
	 * ends. So the progress line names what was waiting when umount
	 * began (user.drfs.facts: staged files, bytes not yet durable) and
	 * the time spent; no percentage.
	 */
	struct cli_progress pt;
	char phase[256] = "final snapshot and uploads";
	cli_progress_start(&pt, c, "files");
	if (pt.on)
		umount_phase(c->args[0], phase, sizeof(phase));
	atomic_store(&pt.p.phase, phase);
	e = drfs_fs_umount(c->args[0]);
	cli_progress_stop(&pt);
	return e < 0 ? 1 : 0;
}

