/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - the control channel between the CLI and a mount daemon: extended
 * attributes of the mount root (docs/now.md).
 *
 *   setxattr(MP, "user.drfs.snapshot", ARGS)  take a snapshot of now/,
 *       returning once it is durable; ARGS are lines "time=ISO8601",
 *       "tag=T" and "if-changed" (empty: now, no tags, always); with
 *       if-changed and nothing changed it fails with EALREADY
 *   getxattr(MP, "user.drfs.last-snapshot")   folder of the last snapshot
 *   getxattr(MP, "user.drfs.status")          a few lines of text
 *   getxattr(MP, "user.drfs.unmount-report")  the file where the daemon
 *       writes how its unmount went (final snapshot, upload drain):
 *       "<cache-dir>/unmount.report", a line "ok" or "failed", then the
 *       lines to show; drfs umount removes it, unmounts, waits for the
 *       daemon to exit and reads it
 *   getxattr(MP, "user.drfs.repo")            repository id, cache dir,
 *       then "key=value" lines: how the repository was opened (url,
 *       endpoint, region, profile, path-style, no-encryption; never a
 *       secret), for `drfs restore MNT/latest/...` (drfs_fs_source)
 *   setxattr(MP, "user.drfs.prune", ARGS)     run `drfs prune` in the
 *       mount (its gc thread, now/ kept alive); ARGS "name=value" lines;
 *       then getxattr(MP, "user.drfs.prune-result") by the same process:
 *       its output, lines "out:..." and "err:..." (mount.c serves these)
 *   ARGS of snapshot and prune starting with a line "defer": the setxattr
 *       only hands the request over; getxattr(MP, "user.drfs.run") by the
 *       same process runs it and answers "ok" or its error. The CLI asks
 *       that way (ctl_request): the kernel holds the root's inode lock
 *       through a setxattr, not a getxattr, so `ls MP` no longer waits
 *       for a snapshot or a prune. A daemon older than this refuses the
 *       line (EINVAL): then the CLI sends the plain setxattr.
 *
 * The client half runs in the CLI process; the daemon half
 * (fs_ctl_setxattr / fs_ctl_getxattr / fs_ctl_report_write) is called by
 * mount.c.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/fs.h"
#include "fsint.h"
#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/now.h"

#define CTL_SNAPSHOT "user.drfs.snapshot"
#define CTL_LAST "user.drfs.last-snapshot"
#define CTL_STATUS "user.drfs.status"
#define CTL_PID "user.drfs.pid"
#define CTL_REPORT "user.drfs.unmount-report"
#define CTL_ARGS_MAX 8192
#define REPORT_NAME "unmount.report"
#define REPORT_MAX 4096

/* Only a drfs mount root answers user.drfs.pid: never set an attribute on
 * an ordinary directory by mistake. */
static int is_drfs_mount(const char *mountpoint)
{
	char pid[32];
	if (getxattr(mountpoint, CTL_PID, pid, sizeof(pid)) > 0)
		return 0;
	return errno == ENOTCONN || errno == ENOENT || errno == ENOTDIR ||
			       errno == EACCES
		       ? -errno
		       : -ENOTCONN;
}

bool drfs_fs_is_mount(const char *path)
{
	return is_drfs_mount(path) == 0;
}


/* ---- client ------------------------------------------------------------- */

/*
 * Set control attribute name of the mount root to args and have it run:
 * the setxattr only hands it over (FS_CTL_DEFER), the getxattr of
 * FS_CTL_RUN runs it. Through a setxattr the kernel holds the root's
 * inode lock: a snapshot waiting for its uploads, or a prune, made every
 * `ls` of the mount wait for it. A daemon older than this refuses the
 * hand-over with EINVAL (a snapshot before anything ran; a prune after
 * committing now/'s live tree, which is harmless), and so does this one
 * when the requester's pid is outside its pid namespace: then the plain
 * setxattr runs it. 0 or -errno; -ENOTCONN when the mount root takes no
 * such attribute (the request's own errors, from the getxattr, are
 * passed on as they are: a failed upload's ENOENT is no "not a drfs
 * mount").
 */
static int ctl_request(const char *mountpoint, const char *name,
		       const char *args, size_t len)
{
	size_t dl = strlen(FS_CTL_DEFER);
	char *v = malloc(dl + len);
	char ok[16];
	if (!v)
		return -ENOMEM;
	memcpy(v, FS_CTL_DEFER, dl);
	if (len)
		memcpy(v + dl, args, len);
	int e = setxattr(mountpoint, name, v, dl + len, 0) < 0 ? -errno : 0;
	free(v);
	if (e == 0)
		return getxattr(mountpoint, FS_CTL_RUN, ok, sizeof(ok)) < 0
			       ? -errno
			       : 0;
	if (e == -EINVAL)
		e = setxattr(mountpoint, name, len ? args : "", len, 0) < 0
			    ? -errno
			    : 0;
	return e == -ENOTSUP || e == -ENOENT ? -ENOTCONN : e;
}

int drfs_fs_snapshot(const char *mountpoint, const char *time,
		     bool if_changed, const char *const *tags, size_t n_tags,
		     char *ret_folder, size_t len)
{
	struct drfs_buf args;
	int e = is_drfs_mount(mountpoint);
	if (e < 0)
		return e;
	drfs_buf_init(&args, CTL_ARGS_MAX);
	if (time)
		e = drfs_buf_printf(&args, "time=%s\n", time);
	if (e >= 0 && if_changed)
		e = drfs_buf_printf(&args, "if-changed\n");
	for (size_t i = 0; e >= 0 && i < n_tags; i++) {
		if (strchr(tags[i], '\n'))
			e = -EINVAL;
		else
			e = drfs_buf_printf(&args, "tag=%s\n", tags[i]);
	}
	if (e < 0) {
		drfs_buf_release(&args);
		return e == -E2BIG ? -EINVAL : e;
	}
	e = ctl_request(mountpoint, CTL_SNAPSHOT, (char *)args.p, args.len);
	drfs_buf_release(&args);
	if (e < 0 && (e != -EALREADY || !if_changed))
		return e;
	ssize_t l = getxattr(mountpoint, CTL_LAST, ret_folder, len - 1);
	if (l < 0 && errno == ENODATA && e == -EALREADY)
		l = 0; /* nothing changed, and no snapshot yet */
	else if (l < 0)
		return -errno;
	ret_folder[l] = 0;
	return e == -EALREADY ? 1 : 0;
}

int drfs_fs_status(const char *mountpoint, char *out, size_t len)
{
	int e = is_drfs_mount(mountpoint);
	if (e < 0)
		return e;
	ssize_t l = getxattr(mountpoint, CTL_STATUS, out, len - 1);
	if (l < 0)
		return errno == ENOTSUP || errno == ENODATA ? -ENOTCONN
							   : -errno;
	out[l] = 0;
	return 0;
}

int fs_ctl_report_path(const char *mountpoint, char *out, size_t len)
{
	ssize_t l = getxattr(mountpoint, CTL_REPORT, out, len - 1);
	if (l < 0)
		return -errno;
	out[l] = 0;
	return strlen(out) == (size_t)l && out[0] == '/' ? 0 : -EBADMSG;
}

int fs_ctl_report_read(const char *path)
{
	char buf[REPORT_MAX + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		log_err("the drfs daemon exited without saying whether its "
			"final snapshot and uploads succeeded (it was "
			"killed?): see its log; the next drfs mount with its "
			"cache directory picks up what it left staged");
		return -EIO;
	}
	ssize_t l = read(fd, buf, REPORT_MAX);
	close(fd);
	unlink(path);
	buf[l > 0 ? l : 0] = 0;
	char *line = buf, *next = strchr(buf, '\n');
	if (next)
		*next++ = 0;
	if (!strcmp(line, "ok"))
		return 0;
	if (strcmp(line, "failed")) {
		log_err("\"%s\": not an unmount report", path);
		return -EIO;
	}
	for (line = next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		for (char *p = line; *p; p++) /* our own file, but a terminal */
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		log_err("%s", line);
	}
	return -EIO;
}

/* Whether two paths name the same directory. */
static bool same_dir(const char *a, const char *b)
{
	struct stat x, y;
	return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

int drfs_fs_find_mount(const char *repo_id_hex, const char *cache_dir,
		       char *ret, size_t len)
{
	char *path = NULL, mp[PATH_MAX], val[PATH_MAX + 64];
	if (asprintf(&path, "%s/mount", cache_dir) < 0)
		return -ENOMEM;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return -ENOENT;
	/* the daemon holds it exclusively while it serves */
	ssize_t n = -1;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		n = read(fd, mp, sizeof(mp) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	mp[n] = 0;
	/* and the mount there says it serves this repository with this
	 * cache (a stale marker could name anything) */
	ssize_t l = getxattr(mp, FS_CTL_REPO, val, sizeof(val) - 1);
	if (l <= 0)
		return -ENOENT;
	val[l] = 0;
	char *nl = strchr(val, '\n');
	if (!nl)
		return -ENOENT;
	*nl = 0;
	char *cd = nl + 1, *end = strchr(cd, '\n');
	if (end)
		*end = 0;
	if (strcmp(val, repo_id_hex) || !same_dir(cd, cache_dir) ||
	    strlen(mp) >= len)
		return -ENOENT;
	strcpy(ret, mp);
	return 0;
}

int drfs_fs_prune(const char *mountpoint, const char *args, size_t args_len,
		  char **ret_text)
{
	int e = is_drfs_mount(mountpoint);
	*ret_text = NULL;
	if (e < 0)
		return e;
	e = ctl_request(mountpoint, FS_CTL_PRUNE, args, args_len);
	ssize_t l = getxattr(mountpoint, FS_CTL_PRUNE_RESULT, NULL, 0);
	char *text = l >= 0 ? malloc((size_t)l + 1) : NULL;
	if (text) {
		l = getxattr(mountpoint, FS_CTL_PRUNE_RESULT, text, (size_t)l);
		if (l >= 0) {
			text[l] = 0;
			*ret_text = text;
		} else {
			free(text);
		}
	}
	return e;
}

int drfs_fs_facts(const char *mountpoint, struct drfs_facts *ret)
{
	char *text = malloc(DRFS_FACTS_TEXT_MAX);
	int e = text ? is_drfs_mount(mountpoint) : -ENOMEM;
	if (e >= 0) {
		ssize_t l = getxattr(mountpoint, "user.drfs.facts", text,
				     DRFS_FACTS_TEXT_MAX);
		if (l < 0)
			e = errno == ENOTSUP || errno == ENODATA ? -ENOTCONN
								 : -errno;
		else
			e = drfs_facts_decode(text, (size_t)l, ret);
	}
	free(text);
	return e;
}

/* ---- daemon ------------------------------------------------------------- */

static void report_path(const char *cache_dir, char *out, size_t len)
{
	snprintf(out, len, "%s/" REPORT_NAME, cache_dir);
}

int fs_ctl_report_write(const char *cache_dir, bool ok, const char *text)
{
	char path[4096], tmp[4096 + 8];
	report_path(cache_dir, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t tl = MIN(strlen(text), (size_t)REPORT_MAX - 8);
	int e = drfs_pwrite_all(fd, ok ? "ok\n" : "failed\n", ok ? 3 : 7, 0);
	if (e >= 0)
		e = drfs_pwrite_all(fd, text, tl, ok ? 3 : 7);
	if (e >= 0 && fsync(fd) < 0)
		e = -errno;
	close(fd);
	if (e >= 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0)
		unlink(tmp);
	return e < 0 ? e : 0;
}

bool fs_ctl_is(const char *name)
{
	return !strncmp(name, "user.drfs.", 10);
}

int fs_ctl_setxattr(struct drfs_now *n, const char *name, const char *value,
		    size_t len)
{
	const char *tags[DRFS_TAGS_MAX];
	char buf[CTL_ARGS_MAX + 1];
	struct drfs_now_snapshot_opts so = { 0 };
	char folder[DRFS_FOLDER_BUF];

	if (strcmp(name, CTL_SNAPSHOT))
		return -EPERM;
	if (!n)
		return -EROFS;
	if (len > CTL_ARGS_MAX)
		return -E2BIG;
	memcpy(buf, value, len);
	buf[len] = 0;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!strncmp(line, "time=", 5)) {
			if (drfs_parse_time(line + 5, &so.time) < 0)
				return -EINVAL;
		} else if (!strncmp(line, "tag=", 4)) {
			if (so.n_tags >= DRFS_TAGS_MAX || !line[4] ||
			    strlen(line + 4) > DRFS_TAG_MAX)
				return -EINVAL;
			tags[so.n_tags++] = line + 4;
		} else if (!strcmp(line, "if-changed")) {
			so.if_changed = true;
		} else if (*line) {
			return -EINVAL;
		}
	}
	so.tags = tags;
	int e = drfs_now_snapshot(n, &so, folder);
	return e < 0 ? e : e == 0 ? -EALREADY : 0;
}

static void fmt_age(double s, char *out, size_t max)
{
	if (s < 120)
		snprintf(out, max, "%.0fs", s);
	else if (s < 7200)
		snprintf(out, max, "%.0fm", s / 60);
	else if (s < 172800)
		snprintf(out, max, "%.1fh", s / 3600);
	else
		snprintf(out, max, "%.1fd", s / 86400);
}

int fs_ctl_getxattr(struct fs *fs, const char *name, const char *extra,
		    char *out, size_t max)
{
	struct drfs_now_status st;
	struct drfs_repo_read_stats rs;
	struct drfs_now *n = fs->now;
	char text[4096 + 32], b1[32], b2[32], b3[32], b4[32], b5[32], age[32];
	char reads[320] = "";
	int l;

	if (!n)
		return -ENODATA;
	int e = drfs_now_status(n, &st);
	if (e < 0)
		return e;
	if (!strcmp(name, CTL_REPORT)) {
		report_path(fs->repo->cache_dir, text, sizeof(text));
		l = (int)strlen(text);
	} else if (!strcmp(name, CTL_LAST)) {
		if (!st.last_folder[0])
			return -ENODATA;
		l = snprintf(text, sizeof(text), "%s/snapshots/%s",
			     fs->mountpoint, st.last_folder);
	} else if (!strcmp(name, CTL_STATUS)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		uint64_t cr, cw;
		drfs_repo_read_stats(fs->repo, &rs);
		cr = cw = 0;
		if (fs->cache)
			fs_cache_stats(fs->cache, &cr, &cw);
		if (fs->repo->be->remote)
			snprintf(reads, sizeof(reads),
				 "reads: %" PRIu64 " segment GETs, %s; %"
				 PRIu64 " read ahead (%" PRIu64 " used); %"
				 PRIu64 " reads waited for a GET in flight; %"
				 PRIu64 " of %" PRIu64 " chunk reads waited "
				 "for their chunk\n",
				 rs.gets, drfs_fmt_bytes(rs.bytes, b5),
				 rs.ahead, rs.ahead_used, rs.waits, cw, cr);
		else
			snprintf(reads, sizeof(reads),
				 "reads: %" PRIu64 " of %" PRIu64 " chunk reads "
				 "waited for their chunk\n", cw, cr);
		if (st.last_folder[0])
			fmt_age(difftime(now.tv_sec, st.last_snapshot.tv_sec),
				age, sizeof(age));
		l = snprintf(text, sizeof(text),
			     "now: %s\n"
			     "staged: %" PRIu64 " files, %s (in memory: %" PRIu64
			     " files, %s)\n"
			     "pending upload: %" PRIu64 " blobs, %s\n"
			     "last snapshot: %s%s%s%s\n"
			     "inodes: %" PRIu64 "\n"
			     "guard: %" PRIu64 " old pack(s) read, %" PRIu64
			     " verified, %s read; %" PRIu64 " corrupted or "
			     "missing copies found, %" PRIu64 " stored again, %"
			     PRIu64 " not readable\n%s%s%s%s",
			     st.changed ? "changed since the last snapshot"
					: "unchanged",
			     st.staged_files,
			     drfs_fmt_bytes(st.staged_bytes, b1),
			     st.mem_files, drfs_fmt_bytes(st.mem_bytes, b3),
			     st.pending_blobs,
			     drfs_fmt_bytes(st.pending_bytes, b2),
			     st.last_folder[0] ? st.last_folder : "none",
			     st.last_folder[0] ? " (" : "",
			     st.last_folder[0] ? age : "",
			     st.last_folder[0] ? " ago)" : "", st.inodes,
			     st.guard.packs_read, st.guard.packs_verified,
			     drfs_fmt_bytes(st.guard.bytes_read, b4),
			     st.guard.bad, st.guard.healed, st.guard.unread,
			     st.guard_last, st.guard_last[0] ? "\n" : "",
			     reads, extra ? extra : "");
	} else {
		return -ENODATA;
	}
	if (l < 0 || (size_t)l >= sizeof(text))
		return -EIO;
	if (max == 0)
		return l;
	if ((size_t)l > max)
		return -ERANGE;
	memcpy(out, text, (size_t)l);
	return l;
}

/* ---- the source of a path in a snapshot ------------------------------- */

static bool line_ok(const char *v)
{
	return v && *v && !strchr(v, '\n');
}

int fs_ctl_repo_text(const struct fs *fs, char *out, size_t len)
{
	const struct drfs_mount_opts *o = fs->opts;
	const char *cd = fs->repo->cache_dir ? fs->repo->cache_dir : "";
	size_t n = 0;
	int w;

#define ADD(...)                                                             \
	do {                                                                 \
		w = snprintf(out + n, len - n, __VA_ARGS__);                 \
		if (w < 0 || (size_t)w >= len - n)                           \
			return -ERANGE;                                      \
		n += (size_t)w;                                              \
	} while (0)
	ADD("%s\n%s\n", fs->repo->repo_id_hex, strchr(cd, '\n') ? "" : cd);
	if (o) {
		const struct drfs_backend_opts *be = &o->repo.backend;
		if (line_ok(o->repo.url))
			ADD("url=%s\n", o->repo.url);
		if (line_ok(be->endpoint))
			ADD("endpoint=%s\n", be->endpoint);
		if (line_ok(be->region))
			ADD("region=%s\n", be->region);
		if (line_ok(be->profile))
			ADD("profile=%s\n", be->profile);
		if (be->path_style >= 0)
			ADD("path-style=%d\n", be->path_style);
		if (o->repo.no_encryption)
			ADD("no-encryption=1\n");
	}
#undef ADD
	return (int)n;
}

void fs_mountinfo_unescape(char *s)
{
	char *d = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = 0;
}

/* Whether mount point mp holds path abs (equal, or abs below it). */
static size_t under(const char *abs, const char *mp)
{
	size_t l = strlen(mp);
	if (l == 1 && mp[0] == '/')
		return 1;
	if (strncmp(abs, mp, l) || (abs[l] && abs[l] != '/'))
		return 0;
	return l;
}

/*
 * The innermost mount holding abs, from the kernel's table (not from
 * anything the file system answers: a backed-up tree may carry any
 * xattr), if it is a drfs mount of this user's or root's.
 */
static int find_mount(const char *abs, char *mp, size_t mp_len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0, best = 0;
	bool drfs = false, owned = false;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - TYPE SRC SOPTS */
		char *save, *tok = strtok_r(line, " ", &save);
		char *point = NULL, *type = NULL, *sopts = NULL;
		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		point = tok;
		while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-"))
			;
		if (tok) {
			type = strtok_r(NULL, " ", &save);
			(void)strtok_r(NULL, " ", &save);
			sopts = strtok_r(NULL, " \n", &save);
		}
		if (!point || !type)
			continue;
		fs_mountinfo_unescape(point);
		size_t l = under(abs, point);
		if (!l || l < best || strlen(point) >= mp_len)
			continue;
		best = l;
		strcpy(mp, point);
		drfs = !strcmp(type, "fuse.drfs");
		owned = false;
		const char *u = sopts ? strstr(sopts, "user_id=") : NULL;
		if (u) {
			unsigned long uid = strtoul(u + 8, NULL, 10);
			owned = uid == 0 || uid == (unsigned long)getuid();
		}
	}
	free(line);
	fclose(f);
	if (!best || !drfs)
		return -ENOTCONN;
	return owned ? 0 : -EPERM;
}

static void copy_val(char *dst, size_t len, const char *v)
{
	snprintf(dst, len, "%s", v);
}

int drfs_fs_source(const char *path, struct drfs_fs_source *ret)
{
	char *abs = realpath(path, NULL);
	char val[3 * PATH_MAX];
	int e;

	memset(ret, 0, sizeof(*ret));
	ret->path_style = -1;
	if (!abs)
		return -errno;
	e = find_mount(abs, ret->mountpoint, sizeof(ret->mountpoint));
	if (e == -EPERM)
		snprintf(ret->why, sizeof(ret->why),
			 "the drfs mount at \"%.200s\" belongs to another "
			 "user", ret->mountpoint);
	if (e < 0)
		goto out;

	/* MOUNTPOINT/snapshots/DAY/TIME[/SUB] */
	const char *rel = abs + strlen(ret->mountpoint);
	while (*rel == '/')
		rel++;
	const char *day = NULL, *time = NULL, *sub = "";
	e = -EINVAL;
	if (strncmp(rel, "snapshots", 9) || (rel[9] && rel[9] != '/')) {
		snprintf(ret->why, sizeof(ret->why), "%s",
			 !strncmp(rel, "now", 3) && (!rel[3] || rel[3] == '/')
				 ? "now/ is the live tree, not a snapshot: "
				   "take one (drfs snapshot MOUNTPOINT) and "
				   "restore from it"
				 : "not inside a snapshot folder "
				   "(MOUNTPOINT/snapshots/DAY/TIME or "
				   "MOUNTPOINT/latest)");
		goto out;
	}
	day = rel + 9 + (rel[9] == '/');
	time = strchr(day, '/');
	if (!*day || !time || !time[1]) {
		snprintf(ret->why, sizeof(ret->why), "%s, not a snapshot "
			 "folder: name one (MOUNTPOINT/snapshots/DAY/TIME or "
			 "MOUNTPOINT/latest)", *day ? "a day folder"
						     : "the snapshots folder");
		goto out;
	}
	time++;
	const char *end = strchr(time, '/');
	size_t flen = (size_t)((end ? end : time + strlen(time)) - day);
	if (flen >= sizeof(ret->folder)) {
		snprintf(ret->why, sizeof(ret->why), "not a snapshot folder");
		goto out;
	}
	memcpy(ret->folder, day, flen);
	ret->folder[flen] = 0;
	if (end)
		sub = end + 1;
	if (strlen(sub) >= sizeof(ret->subpath)) {
		snprintf(ret->why, sizeof(ret->why), "path too long");
		goto out;
	}
	strcpy(ret->subpath, sub);

	ssize_t l = getxattr(ret->mountpoint, FS_CTL_REPO, val,
			     sizeof(val) - 1);
	if (l <= 0) {
		e = -ENOTCONN;
		goto out;
	}
	val[l] = 0;
	char *save, *ln = strtok_r(val, "\n", &save);
	for (int i = 0; ln; i++, ln = strtok_r(NULL, "\n", &save)) {
		if (i == 0) {
			copy_val(ret->id_hex, sizeof(ret->id_hex), ln);
			continue;
		}
		if (i == 1 && !strchr(ln, '=')) {
			copy_val(ret->cache_dir, sizeof(ret->cache_dir), ln);
			continue;
		}
		char *eq = strchr(ln, '=');
		if (!eq)
			continue;
		*eq++ = 0;
		if (!strcmp(ln, "url"))
			copy_val(ret->url, sizeof(ret->url), eq);
		else if (!strcmp(ln, "endpoint"))
			copy_val(ret->endpoint, sizeof(ret->endpoint), eq);
		else if (!strcmp(ln, "region"))
			copy_val(ret->region, sizeof(ret->region), eq);
		else if (!strcmp(ln, "profile"))
			copy_val(ret->profile, sizeof(ret->profile), eq);
		else if (!strcmp(ln, "path-style"))
			ret->path_style = atoi(eq) ? 1 : 0;
		else if (!strcmp(ln, "no-encryption"))
			ret->no_encryption = atoi(eq) != 0;
	}
	if (!ret->url[0] || !ret->id_hex[0]) {
		snprintf(ret->why, sizeof(ret->why),
			 "the mount at \"%.200s\" does not say which "
			 "repository it serves (an older drfs?)",
			 ret->mountpoint);
		e = -EINVAL;
		goto out;
	}
	e = 0;
out:
	free(abs);
	return e;
}
