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

int cli_cmd_mount(struct cli *c)
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
			!cli_printable(c->name))) {
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
	int e = cli_need_args(c, 2, "REPO MOUNTPOINT [-f] [-o OPTS] "
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
	o.stats = cli_facts_stats;
	o.metrics_textfile = c->metrics_textfile;
	o.metrics_listen = c->metrics_listen;
	struct sockaddr_storage la;
	unsigned la_len;
	if (c->metrics_listen &&
	    drfs_fs_listen_addr(c->metrics_listen, &la, &la_len) < 0) {
		log_err("invalid --metrics-listen \"%s\" (want PORT, "
			"ADDR:PORT or [ADDR6]:PORT)", c->metrics_listen);
		return EXIT_USAGE;
	}
	if (c->metrics_every &&
	    (drfs_parse_duration(c->metrics_every, &o.metrics_every) < 0 ||
	     o.metrics_every <= 0)) {
		log_err("invalid --metrics-every \"%s\"", c->metrics_every);
		return EXIT_USAGE;
	}
	uint64_t budget;
	if (cli_verify_budget(c, &budget) < 0)
		return EXIT_USAGE;
	if (!c->no_encryption && cli_get_password(c, false) < 0)
		return 1;
	cli_repo_opts(c, &o.repo, c->args[0]);
	o.repo.verify_budget = budget;
	/* the mount wipes it in each of its processes once it is used */
	o.password = c->no_encryption ? NULL : c->password;
	o.repo.password = NULL;
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

int cli_cmd_umount(struct cli *c)
{
	int e = cli_need_args(c, 1, "MOUNTPOINT");
	if (e < 0)
		return EXIT_USAGE;
	e = drfs_fs_umount(c->args[0]);
	return e < 0 ? 1 : 0;
}

