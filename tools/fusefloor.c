// SPDX-License-Identifier: MIT
/*
 * fusefloor.c - the cost any FUSE file system pays on this machine.
 *
 *   fusefloor DIR MOUNTPOINT [TIMEOUT]
 *
 * Serves DIR through libfuse's low-level API, configured as `drfs mount`
 * is (drfs's own FUSE loop, src/fs/loop.c: at most 16 threads, 4 of them
 * polling; FUSEFLOOR_LOOP=libfuse: libfuse's loop, as drfs
 * DRFS_FUSE_LOOP=libfuse; readdirplus, POSIX ACLs,
 * 1 MiB reads and writes, keep_cache, default_permissions, no flush
 * handler), and does nothing else: a request is one system call on DIR
 * (fstatat, pread, pwrite, openat, renameat2, fchmodat, utimensat,
 * llistxattr, ...; a new inode owned by someone else than the daemon one
 * more, fchownat) and a reply. What a workload costs
 * through it, against the same workload on DIR itself, is the floor no
 * FUSE file system here can go below, whatever it does in user space: the
 * kernel's round trips, copies and cache invalidations. tools/bench-floor.sh
 * uses it for docs/benchmarks.md.
 *
 * TIMEOUT (seconds, default 86400) is the attribute timeout of everything
 * but directories; 0 makes every stat of a file a GETATTR round trip.
 * Entries, and the attributes of directories (which default_permissions
 * needs at every step of a path walk), are cached for a day. Runs in the foreground until
 * unmounted (fusermount3 -u MOUNTPOINT) or killed. Inodes are DIR's own
 * inode numbers (DIR must be one file system); the table of their paths
 * only grows, which is fine for a benchmark (a renamed file gets its new
 * path; the entries below a renamed directory keep their old paths, so
 * don't rename directories through it). Built with the project (so
 * CI keeps it compiling, warning-free) and by bench-floor.sh:
 *
 *   gcc -std=gnu11 -O2 -Wall -Wextra -DFUSE_USE_VERSION=312 -Iinclude \
 *       -Isrc/fs tools/fusefloor.c src/fs/loop.c \
 *       $(pkg-config --cflags --libs fuse3) -lpthread -o fusefloor
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define READ_MAX (1u << 20)

/* ino -> path below DIR ("" for DIR itself), open addressing */
struct node {
	fuse_ino_t ino;
	char *path;
};

static struct {
	pthread_mutex_t lock; /* protects the table */
	struct node *tab;
	size_t cap, n;
	fuse_ino_t root_ino;
	int root_fd;    /* O_PATH descriptor of DIR */
	double timeout; /* attribute timeout of non-directories */
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t slot_of(fuse_ino_t ino, size_t cap)
{
	return (size_t)(ino * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

/*
 * Remember ino's path (first one wins: hard links share an inode, unless
 * replace: a rename).
 */
static int node_set(fuse_ino_t ino, const char *path, bool replace)
{
	int r = 0;
	pthread_mutex_lock(&g.lock);
	if ((g.n + 1) * 2 > g.cap) {
		size_t cap = g.cap ? g.cap * 2 : 1024;
		struct node *t = calloc(cap, sizeof(*t));
		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < g.cap; i++) {
			if (!g.tab[i].path)
				continue;
			size_t s = slot_of(g.tab[i].ino, cap);
			while (t[s].path)
				s = (s + 1) & (cap - 1);
			t[s] = g.tab[i];
		}
		free(g.tab);
		g.tab = t;
		g.cap = cap;
	}
	size_t s = slot_of(ino, g.cap);
	while (g.tab[s].path && g.tab[s].ino != ino)
		s = (s + 1) & (g.cap - 1);
	if (!g.tab[s].path) {
		g.tab[s].path = strdup(path);
		if (!g.tab[s].path) {
			r = -ENOMEM;
			goto out;
		}
		g.tab[s].ino = ino;
		g.n++;
	} else if (replace) {
		char *p = strdup(path);
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		free(g.tab[s].path);
		g.tab[s].path = p;
	}
out:
	pthread_mutex_unlock(&g.lock);
	return r;
}

static int node_put(fuse_ino_t ino, const char *path)
{
	return node_set(ino, path, false);
}

/* Copy ino's path into buf; -ENOENT if never looked up. */
static int node_path(fuse_ino_t ino, char *buf, size_t size)
{
	int r = -ENOENT;
	if (ino == FUSE_ROOT_ID)
		ino = g.root_ino;
	pthread_mutex_lock(&g.lock);
	if (g.cap) {
		size_t s = slot_of(ino, g.cap);
		while (g.tab[s].path && g.tab[s].ino != ino)
			s = (s + 1) & (g.cap - 1);
		if (g.tab[s].path) {
			size_t l = strlen(g.tab[s].path);
			r = l < size ? 0 : -ENAMETOOLONG;
			if (r == 0)
				memcpy(buf, g.tab[s].path, l + 1);
		}
	}
	pthread_mutex_unlock(&g.lock);
	return r;
}

/* The path for fstatat & co. relative to root_fd: "." for DIR itself. */
static const char *rel(const char *path)
{
	return *path ? path : ".";
}

static int child_path(fuse_ino_t parent, const char *name, char *buf,
		      size_t size)
{
	char p[PATH_MAX];
	int r = node_path(parent, p, sizeof(p));
	if (r < 0)
		return r;
	int l = *p ? snprintf(buf, size, "%s/%s", p, name) :
		     snprintf(buf, size, "%s", name);
	return l < 0 || (size_t)l >= size ? -ENAMETOOLONG : 0;
}

static void fix_ino(struct stat *st)
{
	if (st->st_ino == g.root_ino)
		st->st_ino = FUSE_ROOT_ID;
}

static double attr_timeout(const struct stat *st)
{
	return S_ISDIR(st->st_mode) ? 86400.0 : g.timeout;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_write = READ_MAX;
	conn->max_readahead = READ_MAX;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

static int entry_of(const char *path, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	if (fstatat(g.root_fd, rel(path), &e->attr, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	int r = node_put(e->attr.st_ino, path);
	if (r < 0)
		return r;
	fix_ino(&e->attr);
	e->ino = e->attr.st_ino;
	e->generation = 1;
	e->attr_timeout = attr_timeout(&e->attr);
	e->entry_timeout = 86400.0;
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[PATH_MAX];
	struct fuse_entry_param e;
	int r = child_path(parent, name, path, sizeof(path));
	r = r < 0 ? r : entry_of(path, &e);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

/* Reply the attributes of path (relative to DIR), or r if it is an error. */
static void reply_attr_of(fuse_req_t req, int r, const char *path)
{
	struct stat st;
	if (r == 0 && fstatat(g.root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fix_ino(&st);
	fuse_reply_attr(req, &st, attr_timeout(&st));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	(void)fi;
	int r = node_path(ino, path, sizeof(path));
	reply_attr_of(req, r, rel(path));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char path[PATH_MAX], buf[PATH_MAX];
	int r = node_path(ino, path, sizeof(path));
	ssize_t n = r < 0 ? r : readlinkat(g.root_fd, rel(path), buf,
					   sizeof(buf) - 1);
	if (n < 0) {
		fuse_reply_err(req, r < 0 ? -r : errno);
		return;
	}
	buf[n] = 0;
	fuse_reply_readlink(req, buf);
}

struct dh {
	DIR *d;
	char path[PATH_MAX];
	off_t pos;	/* entries handed out so far */
	struct dirent *next; /* read but not yet returned */
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct dh *h = calloc(1, sizeof(*h));
	int r = h ? node_path(ino, h->path, sizeof(h->path)) : -ENOMEM;
	int fd = r < 0 ? -1 : openat(g.root_fd, rel(h->path),
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r == 0 && fd < 0)
		r = -errno;
	if (r == 0 && !(h->d = fdopendir(fd))) {
		r = -errno;
		close(fd);
	}
	if (r < 0) {
		free(h);
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void readdir_common(fuse_req_t req, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct dh *h = (struct dh *)(uintptr_t)fi->fh;
	char *buf = malloc(size), path[PATH_MAX];
	size_t used = 0;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != h->pos) { /* a seek: start over */
		rewinddir(h->d);
		h->next = NULL;
		for (h->pos = 0; h->pos < off && readdir(h->d); h->pos++)
			;
	}
	for (;;) {
		struct dirent *de = h->next ? h->next : readdir(h->d);
		h->next = NULL;
		if (!de)
			break;
		size_t n;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			h->pos++;
			continue;
		}
		if (plus) {
			struct fuse_entry_param e;
			int l = *h->path ?
				snprintf(path, sizeof(path), "%s/%s",
					 h->path, de->d_name) :
				snprintf(path, sizeof(path), "%s", de->d_name);
			if (l < 0 || (size_t)l >= sizeof(path) ||
			    entry_of(path, &e) < 0) {
				h->pos++;
				continue;
			}
			n = fuse_add_direntry_plus(req, buf + used, size - used,
						   de->d_name, &e, h->pos + 1);
		} else {
			struct stat st = { .st_ino = de->d_ino,
					   .st_mode = (mode_t)de->d_type << 12 };
			n = fuse_add_direntry(req, buf + used, size - used,
					      de->d_name, &st, h->pos + 1);
		}
		if (n > size - used) {
			/* the kernel forgets an entry it had no room for */
			h->next = de;
			break;
		}
		used += n;
		h->pos++;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dh *h = (struct dh *)(uintptr_t)fi->fh;
	(void)ino;
	closedir(h->d);
	free(h);
	fuse_reply_err(req, 0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	int r = node_path(ino, path, sizeof(path));
	int fd = r < 0 ? -1 : openat(g.root_fd, rel(path),
				     (fi->flags & (O_ACCMODE | O_TRUNC |
						   O_APPEND)) |
					     O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fuse_reply_err(req, r < 0 ? -r : errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = pread((int)fi->fh, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

/* xattrs through /proc/self/fd of an O_PATH descriptor: symlinks too */
static int xpath(fuse_ino_t ino, char *buf, size_t size, int *ret_fd)
{
	char path[PATH_MAX];
	int r = node_path(ino, path, sizeof(path));
	if (r < 0)
		return r;
	int fd = openat(g.root_fd, rel(path), O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(buf, size, "/proc/self/fd/%d", fd);
	*ret_fd = fd;
	return 0;
}

/* getxattr (name) or listxattr (name NULL) of ino */
static void xattr_op(fuse_req_t req, fuse_ino_t ino, const char *name,
		     size_t size)
{
	char p[64], *buf = malloc(size ? size : 1);
	int fd;
	int r = buf ? xpath(ino, p, sizeof(p), &fd) : -ENOMEM;
	if (r < 0) {
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	/* through the magic link: the file itself, symlinks included */
	ssize_t n = name ? getxattr(p, name, size ? buf : NULL, size) :
			   listxattr(p, size ? buf : NULL, size);
	int e = errno;
	close(fd);
	if (n < 0)
		fuse_reply_err(req, e);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	xattr_op(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_op(req, ino, NULL, size);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	(void)ino;
	if (fstatvfs(g.root_fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- writes ------------------------------------------------------------ */

/* A new inode at path belongs to the caller (the daemon runs as root). */
static int new_entry(fuse_req_t req, const char *path,
		     struct fuse_entry_param *e)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	if ((c->uid || c->gid) &&
	    fchownat(g.root_fd, path, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return entry_of(path, e);
}

static void reply_new(fuse_req_t req, int r, const char *path)
{
	struct fuse_entry_param e;
	r = r < 0 ? r : new_entry(req, path, &e);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	char path[PATH_MAX];
	int r = child_path(parent, name, path, sizeof(path));
	if (r == 0 && mknodat(g.root_fd, path, mode, rdev) < 0)
		r = -errno;
	reply_new(req, r, path);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	char path[PATH_MAX];
	int r = child_path(parent, name, path, sizeof(path));
	if (r == 0 && mkdirat(g.root_fd, path, mode) < 0)
		r = -errno;
	reply_new(req, r, path);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	char path[PATH_MAX];
	int r = child_path(parent, name, path, sizeof(path));
	if (r == 0 && symlinkat(link, g.root_fd, path) < 0)
		r = -errno;
	reply_new(req, r, path);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		    const char *name)
{
	char from[PATH_MAX], path[PATH_MAX];
	struct fuse_entry_param e;
	int r = node_path(ino, from, sizeof(from));
	r = r < 0 ? r : child_path(parent, name, path, sizeof(path));
	if (r == 0 && linkat(g.root_fd, from, g.root_fd, path, 0) < 0)
		r = -errno;
	r = r < 0 ? r : entry_of(path, &e);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	struct fuse_entry_param e;
	int fd = -1;
	int r = child_path(parent, name, path, sizeof(path));
	if (r == 0) {
		fd = openat(g.root_fd, path,
			    (fi->flags & (O_ACCMODE | O_TRUNC | O_APPEND |
					  O_EXCL)) |
				    O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			    mode);
		if (fd < 0)
			r = -errno;
	}
	r = r < 0 ? r : new_entry(req, path, &e);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		close(fd);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	ssize_t n = pwrite((int)fi->fh, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)ino;
	int r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	int r = node_path(ino, path, sizeof(path));
	const char *p = rel(path);
	if (r == 0 && (to_set & FUSE_SET_ATTR_MODE) &&
	    fchmodat(g.root_fd, p, attr->st_mode & 07777, 0) < 0)
		r = -errno;
	if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    fchownat(g.root_fd, p,
		     (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
		     (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1,
		     AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		int fd = fi ? (int)fi->fh :
			      openat(g.root_fd, p, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, attr->st_size) < 0)
			r = -errno;
		if (!fi && fd >= 0)
			close(fd);
	}
	if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				 FUSE_SET_ATTR_ATIME_NOW |
				 FUSE_SET_ATTR_MTIME_NOW))) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
					  { .tv_nsec = UTIME_OMIT } };
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		if (utimensat(g.root_fd, p, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	reply_attr_of(req, r, p);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;
	int r = child_path(parent, name, from, sizeof(from));
	r = r < 0 ? r : child_path(newparent, newname, to, sizeof(to));
	if (r == 0 && renameat2(g.root_fd, from, g.root_fd, to, flags) < 0)
		r = -errno;
	if (r == 0 && fstatat(g.root_fd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
		r = node_set(st.st_ino, to, true);
	fuse_reply_err(req, -r);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[PATH_MAX];
	int r = child_path(parent, name, path, sizeof(path));
	if (r == 0 && unlinkat(g.root_fd, path, 0) < 0)
		r = -errno;
	fuse_reply_err(req, -r);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[PATH_MAX];
	int r = child_path(parent, name, path, sizeof(path));
	if (r == 0 && unlinkat(g.root_fd, path, AT_REMOVEDIR) < 0)
		r = -errno;
	fuse_reply_err(req, -r);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	char p[64];
	int fd;
	int r = xpath(ino, p, sizeof(p), &fd);
	if (r == 0) {
		if (setxattr(p, name, value, size, flags) < 0)
			r = -errno;
		close(fd);
	}
	fuse_reply_err(req, -r);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char p[64];
	int fd;
	int r = xpath(ino, p, sizeof(p), &fd);
	if (r == 0) {
		if (removexattr(p, name) < 0)
			r = -errno;
		close(fd);
	}
	fuse_reply_err(req, -r);
}

/* src/fs/loop.c: drfs's FUSE loop; what it takes from libdrfs: */
int mnt_loop(struct fuse_session *se, int max, int pollers_max);
void drfs_log(int lvl, const char *fmt, ...);
const char *drfs_strerror(int negerr);
double drfs_now_mono(void);

double drfs_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void drfs_log(int lvl, const char *fmt, ...)
{
	va_list ap;
	(void)lvl;
	va_start(ap, fmt);
	fputs("fusefloor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *drfs_strerror(int negerr)
{
	return strerror(-negerr);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.create = op_create,
	.write = op_write,
	.fsync = op_fsync,
	.setattr = op_setattr,
	.rename = op_rename,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	struct stat st;
	int r = 1;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: fusefloor DIR MOUNTPOINT [TIMEOUT]\n");
		return 2;
	}
	g.timeout = argc == 4 ? strtod(argv[3], NULL) : 86400.0;
	g.root_fd = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g.root_fd < 0 || fstat(g.root_fd, &st) < 0) {
		fprintf(stderr, "fusefloor: \"%s\": %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	g.root_ino = st.st_ino;
	if (node_put(g.root_ino, "") < 0)
		return 1;
	if (fuse_opt_add_arg(&args, "fusefloor") ||
	    fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "default_permissions,fsname=fusefloor"))
		return 1;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) < 0)
		goto out_session;
	if (fuse_session_mount(se, argv[2]) < 0)
		goto out_signals;
	const char *lp = getenv("FUSEFLOOR_LOOP");
	if (!lp || strcmp(lp, "libfuse")) {
		r = mnt_loop(se, 16, 4) < 0;
		cfg = NULL;
	} else {
		cfg = fuse_loop_cfg_create();
	}
	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, 16);
		fuse_loop_cfg_set_idle_threads(cfg, 4);
		r = fuse_session_loop_mt(se, cfg) < 0;
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	return r;
}
