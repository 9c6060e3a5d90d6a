/* SPDX-License-Identifier: MIT */
/*
 * local.c - the backend on a local directory.
 *
 * Every object is a regular file under the root; names map to paths
 * directly ("data/ab/<hex>"), and directories are created on demand.
 *
 * Atomicity: put writes ".tmp-<random>" in the target's directory, fsyncs
 * it, then renames it over the name (create-only: renameat2 with
 * RENAME_NOREPLACE, or link(2) + unlink where the filesystem lacks it; both
 * fail with EEXIST atomically), then fsyncs the directory. A crash leaves at
 * worst a temp file, which listing skips. New directories are fsynced into
 * their parents before anything is put in them.
 *
 * Private: every directory it creates is 0700 and every object 0600,
 * whatever the umask (restic does the same), so other local users cannot
 * copy the key files and attack the passphrase offline. Modes it did not
 * set (a directory made beforehand) are left alone; "drfs check" warns
 * about them (drfs_backend_local_dirfd).
 *
 * All operations are relative to a directory fd opened at open time, so a
 * later chdir (daemonizing) does not matter, and they are thread-safe: the
 * only shared mutable state is the last error detail, under a mutex.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/backend.h"
#include "drfs/limits.h"

#define TMP_PREFIX ".tmp-"
#define ERR_MAX 512

struct local {
	struct drfs_backend b;
	int dirfd;
	pthread_mutex_t err_lock;
	char err[ERR_MAX]; /* under err_lock */
};

static _Thread_local char err_copy[ERR_MAX];

static struct local *to_local(struct drfs_backend *b)
{
	return (struct local *)b;
}

/* The one translation of filesystem errors (e is a positive errno). */
static int map_errno(int e)
{
	switch (e) {
	case ENOENT:
	case EEXIST:
	case EACCES:
	case EPERM:
	case ENOSPC:
	case ENOMEM:
	case EROFS:
	case EMFILE:
	case ENFILE:
	case EINVAL:
		return -e;
	case EDQUOT:
		return -ENOSPC;
	case ENOTDIR: /* "a/b" where "a" is an object: no such object */
		return -ENOENT;
	case ENAMETOOLONG:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* Record a detail for errors worth explaining; returns the mapped error. */
static int fail(struct local *l, const char *op, const char *name, int e)
{
	int r = map_errno(e);

	if (r != -ENOENT && r != -EEXIST) {
		pthread_mutex_lock(&l->err_lock);
		snprintf(l->err, sizeof(l->err), "%s '%s/%s': %s", op,
			 l->b.display, name, strerror(e));
		pthread_mutex_unlock(&l->err_lock);
	}
	return r;
}

static const char *local_last_error(struct drfs_backend *b)
{
	struct local *l = to_local(b);

	pthread_mutex_lock(&l->err_lock);
	memcpy(err_copy, l->err, sizeof(err_copy));
	pthread_mutex_unlock(&l->err_lock);
	return err_copy[0] ? err_copy : NULL;
}

/*
 * Object names: 1..DRFS_OBJECT_NAME_MAX bytes, '/'-separated components,
 * none empty, ".", ".." or starting with the temp prefix.
 */
static bool name_ok(const char *name)
{
	size_t len = strnlen(name, DRFS_OBJECT_NAME_MAX + 1);
	const char *c = name;

	if (len == 0 || len > DRFS_OBJECT_NAME_MAX)
		return false;
	for (;;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.') ||
		    strncmp(c, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			return false;
		if (!c[n])
			return true;
		c += n + 1;
	}
}

static int fsync_dir_at(int dirfd, const char *dir)
{
	int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

/*
 * mkdir -p of dir (relative to dirfd; modified in place and restored),
 * fsyncing each parent that gained an entry. Returns 0 or -errno.
 */
static int mkdir_p_at(int dirfd, char *dir)
{
	char *s = dir;

	for (;;) {
		char *slash = strchr(s, '/');
		int r;

		if (slash)
			*slash = '\0';
		if (mkdirat(dirfd, dir, 0700) == 0) {
			char *up = strrchr(dir, '/');
			if (up) {
				*up = '\0';
				r = fsync_dir_at(dirfd, dir);
				*up = '/';
			} else {
				r = fsync_dir_at(dirfd, ".");
			}
			if (r < 0) {
				if (slash)
					*slash = '/';
				return r;
			}
		} else if (errno != EEXIST) {
			int e = errno;
			if (slash)
				*slash = '/';
			return -e;
		}
		if (!slash)
			return 0;
		*slash = '/';
		s = slash + 1;
	}
}

/* Split name into its directory ("." if none) and base; dir holds
 * DRFS_OBJECT_NAME_MAX + 1 bytes. */
static const char *split_name(const char *name, char *dir)
{
	const char *slash = strrchr(name, '/');

	if (!slash) {
		strcpy(dir, ".");
		return name;
	}
	memcpy(dir, name, (size_t)(slash - name));
	dir[slash - name] = '\0';
	return slash + 1;
}

static int open_parent(struct local *l, const char *dir, bool create)
{
	int fd = openat(l->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char tmp[DRFS_OBJECT_NAME_MAX + 1];
	int r;

	if (fd >= 0 || errno != ENOENT || !create)
		return fd >= 0 ? fd : -errno;
	strcpy(tmp, dir);
	r = mkdir_p_at(l->dirfd, tmp);
	if (r < 0)
		return r;
	fd = openat(l->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* Publish tmp as base in dir; -errno (EEXIST for create-only conflicts). */
static int publish(int dfd, const char *tmp, const char *base, bool excl)
{
	if (!excl)
		return renameat(dfd, tmp, dfd, base) < 0 ? -errno : 0;
	if (renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -errno;
	/* No RENAME_NOREPLACE here: link(2) is just as atomic. */
	if (linkat(dfd, tmp, dfd, base, 0) < 0)
		return -errno;
	unlinkat(dfd, tmp, 0);
	return 0;
}

/*
 * A create-only put found name: our bytes there are success (an earlier
 * attempt), other bytes -EEXIST; nothing is replaced either way.
 */
static int exists(struct local *l, const char *name, const void *p, size_t len)
{
	int r = drfs_backend_same_bytes(&l->b, name, p, len);

	if (r == 1)
		return 0;
	if (r == 0 || r == -ENOENT) {
		pthread_mutex_lock(&l->err_lock);
		snprintf(l->err, sizeof(l->err),
			 "create '%s/%s': the object exists with other "
			 "content (left as it is)",
			 l->b.display, name);
		pthread_mutex_unlock(&l->err_lock);
		return -EEXIST;
	}
	return r;
}

static int local_put(struct drfs_backend *b, const char *name, const void *p,
		     size_t len, unsigned flags)
{
	struct local *l = to_local(b);
	char dir[DRFS_OBJECT_NAME_MAX + 1];
	char tmp[sizeof(TMP_PREFIX) + 2 * 8];
	_cleanup_close_ int dfd = -1;
	int fd = -1, r;
	uint8_t rnd[8];
	const char *base;
	struct stat st;

	if (!name_ok(name))
		return -EINVAL;
	base = split_name(name, dir);
	drfs_backend_limit_up(len);
	dfd = open_parent(l, dir, true);
	if (dfd < 0)
		return fail(l, "create directory", dir, -dfd);
	/* Cheap early answer; publish() is what makes it atomic. */
	if ((flags & DRFS_PUT_CREATE_ONLY) &&
	    fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return exists(l, name, p, len);

	for (int tries = 0; fd < 0; tries++) {
		r = drfs_random(rnd, sizeof(rnd));
		if (r < 0)
			return r;
		memcpy(tmp, TMP_PREFIX, strlen(TMP_PREFIX));
		drfs_hex(rnd, sizeof(rnd), tmp + strlen(TMP_PREFIX));
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
		if (fd < 0 && (errno != EEXIST || tries > 8))
			return fail(l, "create", name, errno);
	}
	r = drfs_write_all(fd, p, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0)
		r = publish(dfd, tmp, base, flags & DRFS_PUT_CREATE_ONLY);
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		if (r == -EEXIST)
			return exists(l, name, p, len);
		return fail(l, "write", name, -r);
	}
	if (fsync(dfd) < 0)
		return fail(l, "sync directory of", name, errno);
	return 0;
}

static int local_get(struct drfs_backend *b, const char *name, uint64_t off,
		     uint64_t len, struct drfs_buf *out)
{
	struct local *l = to_local(b);
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint64_t size, n;
	ssize_t got;
	int r;

	if (!name_ok(name))
		return -EINVAL;
	fd = openat(l->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail(l, "open", name, errno);
	if (fstat(fd, &st) < 0)
		return fail(l, "stat", name, errno);
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	size = (uint64_t)st.st_size;
	if (off >= size)
		return 0;
	n = MIN(len, size - off);
	if (n > out->max - out->len)
		return -E2BIG;
	r = drfs_buf_reserve(out, (size_t)n);
	if (r < 0)
		return r;
	got = drfs_pread_all(fd, out->p + out->len, (size_t)n, off);
	if (got < 0)
		return fail(l, "read", name, (int)-got);
	/* Objects are immutable; a short read means someone truncated it. */
	if ((uint64_t)got != n)
		return fail(l, "read", name, EIO);
	out->len += (size_t)n;
	drfs_backend_limit_down(n);
	return 0;
}

static int local_head(struct drfs_backend *b, const char *name,
		      uint64_t *ret_size)
{
	struct local *l = to_local(b);
	struct stat st;

	if (!name_ok(name))
		return -EINVAL;
	if (fstatat(l->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(l, "stat", name, errno);
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

struct walk {
	struct local *l;
	const char *prefix;
	size_t prefix_len;
	drfs_list_cb cb;            /* one of these two */
	drfs_list_mtime_cb cb_mtime;
	void *userdata;
	char path[DRFS_OBJECT_NAME_MAX + 2]; /* current directory, '/' ended */
};

/* Could anything under the directory path[0..len) (ending in '/') match? */
static bool dir_may_match(const struct walk *w, size_t len)
{
	return strncmp(w->path, w->prefix, MIN(len, w->prefix_len)) == 0;
}

/* List the directory w->path[0..len) ("" for the root), open as fd. */
static int walk_dir(struct walk *w, int fd, size_t len)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = fail(w->l, "list", w->path, errno);
		close(fd);
		return r;
	}
	while (r >= 0) {
		struct stat st;
		size_t n;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				r = fail(w->l, "list", w->path, errno);
			break;
		}
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || !strcmp(de->d_name, "..") ||
		     !strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX))))
			continue;
		n = strlen(de->d_name);
		/* Longer than any object name: not ours. */
		if (len + n + 1 > DRFS_OBJECT_NAME_MAX)
			continue;
		memcpy(w->path + len, de->d_name, n + 1);
		if (strncmp(w->path, w->prefix, MIN(len + n, w->prefix_len)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		    0) {
			if (errno == ENOENT) /* deleted meanwhile */
				continue;
			r = fail(w->l, "list", w->path, errno);
			break;
		}
		if (S_ISREG(st.st_mode)) {
			if (len + n >= w->prefix_len && w->cb_mtime)
				r = w->cb_mtime(w->path, (uint64_t)st.st_size,
						(int64_t)st.st_mtim.tv_sec,
						w->userdata);
			else if (len + n >= w->prefix_len)
				r = w->cb(w->path, (uint64_t)st.st_size,
					  w->userdata);
		} else if (S_ISDIR(st.st_mode)) {
			w->path[len + n] = '/';
			w->path[len + n + 1] = '\0';
			if (!dir_may_match(w, len + n + 1))
				continue;
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC |
						 O_NOFOLLOW);
			if (sub < 0) {
				if (errno == ENOENT)
					continue;
				r = fail(w->l, "list", w->path, errno);
				break;
			}
			r = walk_dir(w, sub, len + n + 1);
		}
	}
	closedir(d);
	return r;
}

static int list_walk(struct drfs_backend *b, const char *prefix,
		     struct walk w)
{
	struct local *l = to_local(b);
	const char *slash;
	size_t dlen;
	int fd, r;

	if (!prefix)
		prefix = "";
	w.prefix = prefix;
	w.prefix_len = strlen(prefix);
	if (w.prefix_len > DRFS_OBJECT_NAME_MAX)
		return 0;
	/* Start at the longest directory part of the prefix. */
	slash = strrchr(prefix, '/');
	dlen = slash ? (size_t)(slash - prefix) + 1 : 0;
	memcpy(w.path, prefix, dlen);
	w.path[dlen] = '\0';
	if (dlen) {
		char dir[DRFS_OBJECT_NAME_MAX + 1];
		memcpy(dir, prefix, dlen - 1);
		dir[dlen - 1] = '\0';
		/* "a//b", "../x" and the like name no object. */
		if (!name_ok(dir))
			return 0;
		fd = openat(l->dirfd, dir,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	} else {
		fd = openat(l->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return fail(l, "list", prefix, errno);
	}
	/* Filesystem errors come back mapped, the callback's unchanged. */
	r = walk_dir(&w, fd, dlen);
	return r < 0 ? r : 0;
}

static int local_list(struct drfs_backend *b, const char *prefix,
		      drfs_list_cb cb, void *userdata)
{
	struct walk w = { .l = to_local(b), .cb = cb, .userdata = userdata };
	return list_walk(b, prefix, w);
}

static int local_list_mtime(struct drfs_backend *b, const char *prefix,
			    drfs_list_mtime_cb cb, void *userdata)
{
	struct walk w = { .l = to_local(b), .cb_mtime = cb,
			  .userdata = userdata };
	return list_walk(b, prefix, w);
}

static int local_del(struct drfs_backend *b, const char *name)
{
	struct local *l = to_local(b);
	char dir[DRFS_OBJECT_NAME_MAX + 1];
	_cleanup_close_ int dfd = -1;
	const char *base;

	if (!name_ok(name))
		return -EINVAL;
	base = split_name(name, dir);
	dfd = open_parent(l, dir, false);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return fail(l, "open directory", dir, -dfd);
	if (unlinkat(dfd, base, 0) < 0) {
		/* A directory is no object: nothing to delete. */
		if (errno == ENOENT || errno == EISDIR)
			return 0;
		return fail(l, "delete", name, errno);
	}
	if (fsync(dfd) < 0)
		return fail(l, "sync directory of", name, errno);
	return 0;
}

static void local_free(struct drfs_backend *b)
{
	struct local *l = to_local(b);

	if (!l)
		return;
	if (l->dirfd >= 0)
		close(l->dirfd);
	pthread_mutex_destroy(&l->err_lock);
	free(l->b.display);
	free(l);
}

static const struct drfs_backend_ops local_ops = {
	.put = local_put,
	.get = local_get,
	.head = local_head,
	.list = local_list,
	.list_mtime = local_list_mtime,
	.del = local_del,
	.del_many = NULL,
	.last_error = local_last_error,
	.free = local_free,
};

int drfs_backend_local_dirfd(struct drfs_backend *b)
{
	return b && b->ops == &local_ops ? to_local(b)->dirfd : -EOPNOTSUPP;
}

int drfs_backend_local_open(const char *path, bool create,
			    struct drfs_backend **ret)
{
	struct local *l;
	int fd, r;

	if (!path || !*path)
		return -EINVAL;
	if (create) {
		r = drfs_mkdir_p(path, 0700);
		if (r < 0)
			return r == -ENOTDIR ? -ENOTDIR : map_errno(-r);
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOTDIR : map_errno(errno);
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->dirfd = fd;
	l->b.ops = &local_ops;
	pthread_mutex_init(&l->err_lock, NULL);
	l->b.display = strdup(path);
	if (!l->b.display) {
		local_free(&l->b);
		return -ENOMEM;
	}
	*ret = &l->b;
	return 0;
}
