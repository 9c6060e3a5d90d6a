/* SPDX-License-Identifier: MIT */
/*
 * restore.c - a snapshot back into a directory, without FUSE.
 *
 * The walk (this thread, iterative: struct drfs_treewalk) creates
 * directories, symlinks and special files and queues regular files to
 * worker threads, which write their extents (holes stay holes) and set
 * their metadata. Hard links are made after the workers finish, directory
 * metadata last (deepest first) so that writing children does not disturb
 * parents' times.
 *
 * Nothing outside the target is touched: every entry is reached through a
 * directory fd (the walk's) or opened beneath the target's fd by its
 * relative path (drfs_open_beneath), never through a symlink; metadata is
 * set on an fd (symlinks and special files: an O_PATH one, checked to have
 * no other name, through /proc/self/fd); an existing entry
 * of another kind is a conflict, not something to enter; an existing file
 * with other hard links is replaced, not written through; a hard link
 * goes only to a file this restore made, checked by inode at link time.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/ondisk.h"
#include "drfs/ops.h"

struct meta {
	uint32_t mode, uid, gid;
	struct timespec atime, mtime;
	size_t n_xattrs;
	/* xattrs copied: name\0 then le32 value length, value */
	uint8_t *xattrs;
	size_t xattrs_len;
};

enum how {
	H_NEW,        /* create it (O_EXCL) */
	H_REWRITE,    /* the existing file (dev, ino) is rewritten */
	H_IF_CHANGED, /* ... unless its content matches */
};

struct file_job {
	struct file_job *next;
	char *path; /* relative to the target */
	uint64_t size;
	struct meta m;
	enum how how;
	bool first;     /* first name of hard-link group `group` */
	uint64_t group;
	dev_t dev;      /* the existing file (H_REWRITE, H_IF_CHANGED) */
	ino_t ino;
	size_t n_ext;
	struct drfs_extent ext[];
};

struct dir_meta {
	char *path;
	struct meta m;
	dev_t dev;
	ino_t ino;
	bool on_way;    /* made only on the way to --include matches */
};

struct link_job {
	char *path;     /* to create */
	uint64_t group; /* snapshot inode number */
	bool replace;   /* an entry of the same kind is there: remove it */
};

/* The first name made of each hard-link group. */
struct ino_map {
	uint64_t group;
	char *path;     /* NULL: empty slot */
	bool made;      /* this restore made it: dev, ino */
	dev_t dev;
	ino_t ino;
};

struct rs {
	struct drfs_repo *r;
	const struct drfs_restore_opts *o;
	int root;                     /* the target */
	struct drfs_treewalk w;       /* the walk's */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct file_job *head, *tail; /* (lock) */
	size_t queued;                /* (lock) */
	bool done;                    /* (lock) */
	int errors;                   /* (lock) */
	int fatal;                    /* (lock) */

	struct dir_meta *dirs;        /* the walk's, then after the workers */
	size_t n_dirs, cap_dirs;
	struct link_job *links;
	size_t n_links, cap_links;
	struct ino_map *inos;         /* inserted by the walk (lock); made,
					 dev, ino set by workers (lock) */
	size_t n_inos, cap_inos;
};

int drfs_overwrite_parse(const char *s, enum drfs_overwrite *ret)
{
	static const char *const names[] = {
		[DRFS_OVERWRITE_ALWAYS] = "always",
		[DRFS_OVERWRITE_IF_CHANGED] = "if-changed",
		[DRFS_OVERWRITE_IF_NEWER] = "if-newer",
		[DRFS_OVERWRITE_NEVER] = "never",
		[DRFS_OVERWRITE_REPLACE] = "replace",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*ret = (enum drfs_overwrite)i;
			return 0;
		}
	return -EINVAL;
}

static void count_error(struct rs *s)
{
	pthread_mutex_lock(&s->lock);
	s->errors++;
	if (s->o->progress)
		s->o->progress->errors++;
	pthread_mutex_unlock(&s->lock);
}

/* A failure of the entry at path (relative to the target). */
static void problem(struct rs *s, const char *path, int e, const char *what)
{
	count_error(s);
	if (s->o->report)
		s->o->report(s->o->report_data, "\"%s%s%s\": %s: %s",
			     s->o->target, *path ? "/" : "", path, what,
			     drfs_strerror(e));
}

/* ... whose message says it all. */
static void problem_msg(struct rs *s, const char *path, const char *what)
{
	count_error(s);
	if (s->o->report)
		s->o->report(s->o->report_data, "\"%s%s%s\": %s",
			     s->o->target, *path ? "/" : "", path, what);
}

/* What happened at path: someone swapped it (-ESTALE), or error e. */
static void failed(struct rs *s, const char *path, int e, const char *what)
{
	if (e == -ESTALE)
		problem_msg(s, path, "was replaced during the restore; left "
				     "as it is");
	else
		problem(s, path, e, what);
}

static void kept(struct rs *s)
{
	if (s->o->progress)
		s->o->progress->kept++;
}

const char *drfs_restore_action_name(enum drfs_restore_action a)
{
	static const char *const names[] = {
		[DRFS_RESTORE_CREATE] = "create",
		[DRFS_RESTORE_OVERWRITE] = "overwrite",
		[DRFS_RESTORE_REPLACE] = "replace",
		[DRFS_RESTORE_KEEP] = "keep",
		[DRFS_RESTORE_LINK] = "link",
	};
	return (unsigned)a < ARRAY_SIZE(names) ? names[a] : "?";
}

/* ---- metadata ------------------------------------------------------------ */

/*
 * A name from the repository that cannot be used: refused, named. what:
 * "an entry", ...; kind: what it is not a valid one of.
 */
static void refuse(struct rs *s, const char *path, const char *what,
		   const uint8_t *name, size_t len, const char *kind)
{
	char q[96], msg[192];
	drfs_name_quote(name, len, q, sizeof(q));
	snprintf(msg, sizeof(msg), "refused %s named %s: not a valid %s", what,
		 q, kind);
	problem_msg(s, path, msg);
}

/*
 * The metadata of node n, whose path is path. An extended attribute whose
 * name holds a NUL byte is refused (named, counted): no such attribute
 * can exist, and set_xattrs() would read past the copy.
 */
static int meta_from(struct rs *s, const char *path, struct meta *m,
		     struct drfs_node *n)
{
	struct drfs_xattr x;
	struct drfs_buf b;
	int e;
	m->mode = n->mode;
	m->uid = n->uid;
	m->gid = n->gid;
	m->atime = n->atime;
	m->mtime = n->mtime;
	m->n_xattrs = 0;
	m->xattrs = NULL;
	m->xattrs_len = 0;
	if (!n->n_xattrs)
		return 0;
	drfs_buf_init(&b, SIZE_MAX);
	while ((e = drfs_node_next_xattr(n, &x)) > 0) {
		if (memchr(x.name, 0, x.name_len)) {
			refuse(s, path, "an extended attribute", x.name,
			       x.name_len, "attribute name");
			continue;
		}
		e = drfs_buf_append(&b, x.name, x.name_len);
		e = e ?: drfs_buf_u8(&b, 0);
		e = e ?: drfs_buf_le32(&b, (uint32_t)x.value_len);
		e = e ?: drfs_buf_append(&b, x.value, x.value_len);
		if (e < 0)
			break;
		m->n_xattrs++;
	}
	if (e < 0) {
		drfs_buf_release(&b);
		return e;
	}
	m->xattrs = drfs_buf_steal(&b, &m->xattrs_len);
	return 0;
}

/*
 * Set m's xattrs: fd >= 0: fsetxattr, else setxattr of path (a
 * /proc/self/fd/N). First error.
 */
static int set_xattrs(const struct meta *m, int fd, const char *path)
{
	const uint8_t *p = m->xattrs;
	int e = 0;
	for (size_t i = 0; i < m->n_xattrs; i++) {
		const char *name = (const char *)p;
		p += strlen(name) + 1;
		uint32_t vl = drfs_get_le32(p);
		p += 4;
		int r = fd >= 0 ? fsetxattr(fd, name, p, vl, 0)
				: setxattr(path, name, p, vl, 0);
		if (r < 0 && !e)
			e = -errno;
		p += vl;
	}
	return e;
}

/*
 * Ownership, mode, xattrs, times of an open regular file or directory; in
 * that order (chown clears setuid). First error.
 */
static int meta_apply_fd(int fd, const struct meta *m)
{
	int e = 0;
	if (fchown(fd, m->uid, m->gid) < 0)
		e = -errno;
	if (fchmod(fd, m->mode & 07777) < 0 && !e)
		e = -errno;
	int xe = set_xattrs(m, fd, NULL);
	e = e ?: xe;
	struct timespec ts[2] = { m->atime, m->mtime };
	if (futimens(fd, ts) < 0 && !e)
		e = -errno;
	return e;
}

/*
 * Of the symlink, device, FIFO or socket name in dir (not to be opened for
 * I/O): through an O_PATH fd that must be of its type and have no other
 * name (a hard link swapped in from elsewhere is left alone), as
 * /proc/self/fd/N, which leads to exactly that inode (a symlink's own:
 * a path through the magic link does not follow it further). Setting them
 * through the name instead would act on whatever the name holds by then.
 */
static int meta_apply_special(int dir, const char *name, const struct meta *m)
{
	char proc[64];
	struct stat st;
	int e = 0;
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != (m->mode & S_IFMT) ||
	    st.st_nlink != 1) {
		close(fd);
		return -ESTALE;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (chown(proc, m->uid, m->gid) < 0)
		e = -errno;
	/* a symlink has no mode of its own */
	if (!S_ISLNK(m->mode) && chmod(proc, m->mode & 07777) < 0 && !e)
		e = -errno;
	int xe = set_xattrs(m, -1, proc);
	e = e ?: xe;
	struct timespec ts[2] = { m->atime, m->mtime };
	if (utimensat(AT_FDCWD, proc, ts, 0) < 0 && !e)
		e = -errno;
	close(fd);
	return e;
}

/* ---- hard-link groups ---------------------------------------------------- */

/*
 * The first name of each multiply-linked inode: an open-addressing hash
 * table (s->inos, cap_inos a power of two, path NULL = empty), so a tree
 * of a million hard links costs a million look-ups, not 10^12.
 */
static size_t ino_slot(uint64_t group, size_t cap)
{
	uint64_t h = group * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (cap - 1);
}

static struct ino_map *ino_find(struct rs *s, uint64_t group)
{
	if (!s->cap_inos)
		return NULL;
	size_t mask = s->cap_inos - 1;
	for (size_t i = ino_slot(group, s->cap_inos);; i = (i + 1) & mask) {
		if (!s->inos[i].path)
			return NULL;
		if (s->inos[i].group == group)
			return &s->inos[i];
	}
}

static void ino_put(struct ino_map *v, size_t cap, const struct ino_map *x)
{
	size_t i = ino_slot(x->group, cap);
	while (v[i].path)
		i = (i + 1) & (cap - 1);
	v[i] = *x;
}

/* Under s->lock (workers record into the table). */
static int ino_add(struct rs *s, uint64_t group, const char *path)
{
	if (2 * (s->n_inos + 1) > s->cap_inos) {
		size_t cap = s->cap_inos ? 2 * s->cap_inos : 64;
		struct ino_map *v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap_inos; i++)
			if (s->inos[i].path)
				ino_put(v, cap, &s->inos[i]);
		free(s->inos);
		s->inos = v;
		s->cap_inos = cap;
	}
	struct ino_map x = { .group = group, .path = strdup(path) };
	if (!x.path)
		return -ENOMEM;
	ino_put(s->inos, s->cap_inos, &x);
	s->n_inos++;
	return 0;
}

/* This restore made the first name of group: it is st. */
static void ino_made(struct rs *s, uint64_t group, const struct stat *st)
{
	pthread_mutex_lock(&s->lock);
	struct ino_map *x = ino_find(s, group);
	if (x) {
		x->made = true;
		x->dev = st->st_dev;
		x->ino = st->st_ino;
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- regular files (workers) --------------------------------------------- */

/* Split path into its directory (opened beneath the target) and name. */
static int open_parent(struct rs *s, char *path, const char **ret_name)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*ret_name = path;
		return drfs_open_beneath(s->root, "", O_PATH | O_DIRECTORY, 0);
	}
	*slash = 0;
	int fd = drfs_open_beneath(s->root, path, O_PATH | O_DIRECTORY, 0);
	*slash = '/';
	*ret_name = slash + 1;
	return fd;
}

/*
 * The existing file (dev, ino) has other names: never write through them
 * (one may be outside the target). Remove this name and create it anew.
 */
static int recreate(struct rs *s, struct file_job *j)
{
	const char *name;
	struct stat st;
	int dir = open_parent(s, j->path, &name), fd;
	if (dir < 0)
		return dir;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fd = -errno;
	else if (st.st_dev != j->dev || st.st_ino != j->ino)
		fd = -ESTALE;
	else if (unlinkat(dir, name, 0) < 0)
		fd = -errno;
	else if ((fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL |
						 O_NOFOLLOW | O_CLOEXEC,
			      0600)) < 0)
		fd = -errno;
	close(dir);
	return fd;
}

/*
 * Open the job's file for writing (1: its content already matches, just
 * set metadata; 0: write it) into *ret_fd.
 */
static int open_file(struct rs *s, struct file_job *j, struct drfs_buf *buf,
		     int *ret_fd)
{
	struct stat st;
	int fd, e;
	if (j->how == H_NEW)
		fd = drfs_open_beneath(s->root, j->path,
				       O_WRONLY | O_CREAT | O_EXCL, 0600);
	else
		fd = drfs_open_beneath(s->root, j->path,
				       (j->how == H_IF_CHANGED ? O_RDWR
							       : O_WRONLY) |
					       O_NONBLOCK,
				       0);
	/* a symlink where the walk made or saw a directory or file */
	if (fd == -ELOOP || fd == -ENOTDIR)
		return -ESTALE;
	if (fd < 0 || j->how == H_NEW) {
		*ret_fd = fd;
		return fd < 0 ? fd : 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_dev != j->dev || st.st_ino != j->ino) {
		close(fd);
		return -ESTALE;
	}
	if (st.st_nlink > 1) {
		close(fd);
		fd = recreate(s, j);
		*ret_fd = fd;
		return fd < 0 ? fd : 0;
	}
	*ret_fd = fd;
	if (j->how == H_IF_CHANGED && (uint64_t)st.st_size == j->size) {
		uint64_t off, end;
		bool hole;
		e = drfs_file_compare(&s->r->keys, fd, j->ext, j->n_ext,
				      j->size, buf, &off, &end, &hole);
		if (e == 0)
			return 1;
		if (e < 0)
			goto fail;
	}
	if (ftruncate(fd, 0) < 0) {
		e = -errno;
		goto fail;
	}
	return 0;
fail:
	close(fd);
	*ret_fd = -1;
	return e;
}

/* A full disk ends the restore (every later file would fail the same). */
static void stop_if_full(struct rs *s, int e)
{
	if (e != -ENOSPC && e != -EDQUOT)
		return;
	pthread_mutex_lock(&s->lock);
	s->fatal = s->fatal ?: e;
	pthread_mutex_unlock(&s->lock);
}

static int restore_file(struct rs *s, struct file_job *j, struct drfs_buf *buf)
{
	int fd, e = 0;
	int same = open_file(s, j, buf, &fd);
	if (same < 0) {
		if (same == -EEXIST)
			problem_msg(s, j->path, "appeared during the restore; "
						"left as it is");
		else
			failed(s, j->path, same, "cannot open");
		stop_if_full(s, same);
		return 0;
	}
	if (same) {
		if (s->o->progress)
			s->o->progress->kept++;
		goto meta;
	}
	if (ftruncate(fd, (off_t)j->size) < 0) {
		e = -errno;
		goto out;
	}
	for (size_t i = 0; i < j->n_ext; i++) {
		drfs_buf_reset(buf);
		int re = drfs_repo_blob_read(s->r, &j->ext[i].id, buf);
		if (re >= 0 && buf->len != j->ext[i].len)
			re = -EBADMSG;
		if (re < 0) {
			char hex[DRFS_ID_HEX_LEN + 1];
			char what[160];
			snprintf(what, sizeof(what),
				 "cannot restore bytes %llu-%llu (blob %s)",
				 (unsigned long long)j->ext[i].off,
				 (unsigned long long)(j->ext[i].off +
						      j->ext[i].len),
				 drfs_id_hex(&j->ext[i].id, hex));
			problem(s, j->path, re, what);
			continue;
		}
		e = drfs_pwrite_all(fd, buf->p, buf->len, j->ext[i].off);
		if (e < 0)
			goto out;
		if (s->o->progress)
			s->o->progress->bytes += buf->len;
	}
meta:
	if (j->first) {
		struct stat st;
		if (fstat(fd, &st) == 0)
			ino_made(s, j->group, &st);
	}
	int me = meta_apply_fd(fd, &j->m);
	if (me < 0)
		problem(s, j->path, me, "cannot set metadata");
out:
	close(fd);
	if (e < 0) {
		problem(s, j->path, e, "cannot write");
		stop_if_full(s, e);
	}
	return e;
}

static void *worker_main(void *arg)
{
	struct rs *s = arg;
	struct drfs_buf buf;
	drfs_buf_init(&buf, DRFS_BLOB_MAX);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->head && !s->done)
			pthread_cond_wait(&s->cond, &s->lock);
		if (!s->head)
			break;
		struct file_job *j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->queued--;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		restore_file(s, j, &buf);
		if (s->o->progress)
			s->o->progress->files++;
		free(j->path);
		free(j->m.xattrs);
		free(j);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	drfs_buf_release(&buf);
	return NULL;
}

static int queue_file(struct rs *s, const char *path, struct drfs_node *n,
		      enum how how, const struct stat *st, bool first)
{
	struct file_job *j = calloc(1, sizeof(*j) + n->n_extents *
							    sizeof(j->ext[0]));
	struct drfs_extent x = { 0 };
	int e;
	if (!j)
		return -ENOMEM;
	j->path = strdup(path);
	j->size = n->size;
	j->how = how;
	j->first = first;
	j->group = n->ino;
	if (how != H_NEW) {
		j->dev = st->st_dev;
		j->ino = st->st_ino;
	}
	while ((e = drfs_node_next_extent(n, &x)) > 0 &&
	       j->n_ext < n->n_extents)
		j->ext[j->n_ext++] = x;
	if (e >= 0)
		e = meta_from(s, path, &j->m, n);
	if (e < 0 || !j->path) {
		free(j->path);
		free(j->m.xattrs);
		free(j);
		return e < 0 ? e : -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	while (s->queued >= 256)
		pthread_cond_wait(&s->cond, &s->lock);
	e = s->fatal;
	if (!e) {
		if (s->tail)
			s->tail->next = j;
		else
			s->head = j;
		s->tail = j;
		s->queued++;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	if (e) {
		free(j->path);
		free(j->m.xattrs);
		free(j);
	}
	return e;
}

/* ---- the walk ------------------------------------------------------------ */

static int push_link(struct rs *s, const char *path, uint64_t group,
		     bool replace)
{
	if (s->n_links == s->cap_links) {
		size_t cap = s->cap_links ? 2 * s->cap_links : 16;
		void *p = realloc(s->links, cap * sizeof(*s->links));
		if (!p)
			return -ENOMEM;
		s->links = p;
		s->cap_links = cap;
	}
	char *c = strdup(path);
	if (!c)
		return -ENOMEM;
	s->links[s->n_links++] = (struct link_job){ c, group, replace };
	return 0;
}

static int push_dir_meta(struct rs *s, const char *path, struct drfs_node *n,
			 int fd, bool on_way)
{
	struct dir_meta d;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (s->n_dirs == s->cap_dirs) {
		size_t cap = s->cap_dirs ? 2 * s->cap_dirs : 64;
		void *p = realloc(s->dirs, cap * sizeof(*s->dirs));
		if (!p)
			return -ENOMEM;
		s->dirs = p;
		s->cap_dirs = cap;
	}
	int e = meta_from(s, path, &d.m, n);
	if (e < 0)
		return e;
	d.path = strdup(path);
	if (!d.path) {
		free(d.m.xattrs);
		return -ENOMEM;
	}
	d.dev = st.st_dev;
	d.ino = st.st_ino;
	d.on_way = on_way;
	s->dirs[s->n_dirs++] = d;
	return 0;
}

static const char *kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFREG:
		return "a file";
	case S_IFLNK:
		return "a symlink";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFIFO:
		return "a FIFO";
	default:
		return "a socket";
	}
}

static bool newer(const struct drfs_node *n, const struct stat *st)
{
	return n->mtime.tv_sec > st->st_mtim.tv_sec ||
	       (n->mtime.tv_sec == st->st_mtim.tv_sec &&
		n->mtime.tv_nsec > st->st_mtim.tv_nsec);
}

/* An existing symlink or special file equal to the snapshot's. */
static bool same_special(int dir, const char *name, const struct drfs_node *n,
			 const struct stat *st)
{
	if (st->st_nlink != 1)
		return false; /* its metadata is not ours to change */
	if (S_ISLNK(n->mode)) {
		char t[DRFS_PATH_MAX + 1];
		ssize_t l = readlinkat(dir, name, t, sizeof(t));
		return l >= 0 && (size_t)l == n->target_len &&
		       !memcmp(t, n->target, n->target_len);
	}
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
		return (uint64_t)st->st_rdev == n->rdev;
	return true;
}

enum act {
	A_CREATE,    /* nothing there (any more) */
	A_ENTER,     /* an existing directory: restore into it */
	A_ENTER_KEEP, /* ... and leave its own metadata */
	A_REWRITE,   /* an existing file: rewrite it */
	A_IF_CHANGED, /* ... unless its content matches */
	A_META,      /* an equal symlink/special: set metadata only */
	A_REPLACE,   /* an existing symlink/special: remove, create */
	A_SKIP,      /* leave it (counted as kept) */
	A_CONFLICT,  /* of another kind, left (reported) */
};

/* What to do with the existing entry st at name in dir, for node n. */
static int decide(struct rs *s, int dir, const char *name,
		  struct drfs_node *n, const struct stat *st)
{
	enum drfs_overwrite ow = s->o->overwrite;
	mode_t have = st->st_mode & S_IFMT, want = n->mode & S_IFMT;
	if (have != want) {
		if (ow == DRFS_OVERWRITE_REPLACE && have != S_IFDIR) {
			if (s->o->dry_run)
				return A_REPLACE;
			if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
				return -errno;
			return A_CREATE;
		}
		char what[160];
		snprintf(what, sizeof(what),
			 "%s is in the way of %s; left as it is%s%s",
			 kind(have), kind(want),
			 want == S_IFDIR ? ", the directory's contents not "
					   "restored"
					 : "",
			 have == S_IFDIR ? " (a directory is never removed)"
			 : ow == DRFS_OVERWRITE_REPLACE
				 ? ""
				 : " (--overwrite replace removes it)");
		problem_msg(s, s->w.path, what);
		return A_CONFLICT;
	}
	bool is_new = newer(n, st);
	if (want == S_IFDIR)
		return ow == DRFS_OVERWRITE_NEVER ||
				(ow == DRFS_OVERWRITE_IF_NEWER && !is_new) ?
			       A_ENTER_KEEP : A_ENTER;
	switch (ow) {
	case DRFS_OVERWRITE_NEVER:
		return A_SKIP;
	case DRFS_OVERWRITE_IF_NEWER:
		if (!is_new)
			return A_SKIP;
		break;
	case DRFS_OVERWRITE_IF_CHANGED:
		if (want == S_IFREG)
			return A_IF_CHANGED;
		if (n->nlink <= 1 && same_special(dir, name, n, st))
			return A_META;
		break;
	default:
		break;
	}
	return want == S_IFREG ? A_REWRITE : A_REPLACE;
}

/*
 * The entry at path (last component name) against o->include and
 * o->exclude: SEL_NO not restored (nor its subtree), SEL_YES restored,
 * SEL_WAY a directory entered only because an --include match may be
 * below it.
 */
enum { SEL_NO, SEL_YES, SEL_WAY };
static int selected(const struct drfs_restore_opts *o, const char *path,
		    const char *name, bool is_dir)
{
	if (o->exclude && o->exclude->n &&
	    drfs_excludes_match(o->exclude, path, name, is_dir))
		return SEL_NO;
	if (!o->include || !o->include->n ||
	    drfs_excludes_match(o->include, path, name, is_dir))
		return SEL_YES;
	/* below a directory that matches? each ancestor, from the top */
	char up[PATH_MAX];
	snprintf(up, sizeof(up), "%s", path);
	for (char *sl = strchr(up, '/'); sl; sl = strchr(sl + 1, '/')) {
		*sl = 0;
		const char *base = strrchr(up, '/');
		bool m = drfs_excludes_match(o->include, up,
					     base ? base + 1 : up, true);
		*sl = '/';
		if (m)
			return SEL_YES;
	}
	return is_dir ? SEL_WAY : SEL_NO;
}

/*
 * Whether the existing file name in dir (st) holds n's content, read
 * without changing it (not even its atime, where O_NOATIME is allowed):
 * what --overwrite if-changed would find. false when it cannot tell.
 */
static bool same_content(struct rs *s, int dir, const char *name,
			 struct drfs_node *n, const struct stat *st)
{
	struct drfs_extent x = { 0 }, *v;
	struct drfs_buf buf;
	uint64_t off, end;
	size_t k = 0;
	bool hole, same = false;
	/* a file with other names is written anew (open_file) */
	if (st->st_nlink > 1 || (uint64_t)st->st_size != n->size)
		return false;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					   O_NOATIME | O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					       O_CLOEXEC);
	if (fd < 0)
		return false;
	v = calloc(n->n_extents ? n->n_extents : 1, sizeof(*v));
	drfs_buf_init(&buf, DRFS_BLOB_MAX);
	while (v && k < n->n_extents && drfs_node_next_extent(n, &x) > 0)
		v[k++] = x;
	if (v)
		same = drfs_file_compare(&s->r->keys, fd, v, k, n->size, &buf,
					 &off, &end, &hole) == 0;
	drfs_buf_release(&buf);
	free(v);
	close(fd);
	return same;
}

/*
 * A dry run's restore_entry: what it would do with n (path s->w.path) in
 * directory dir (-1: a directory the restore would create), said through
 * o->plan; nothing is changed. Pushes the directories to walk.
 */
static int plan_entry(struct rs *s, int dir, struct drfs_node *n)
{
	const struct drfs_restore_opts *o = s->o;
	const char *name = drfs_treewalk_name(&s->w);
	mode_t type = n->mode & S_IFMT;
	struct stat st = { 0 };
	int act = A_CREATE, e;
	enum drfs_restore_action a;

	int sel = selected(o, s->w.path, name, type == S_IFDIR);
	if (sel == SEL_NO)
		return 0;
	if (dir >= 0) {
		if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			act = decide(s, dir, name, n, &st);
		else if (errno != ENOENT)
			return -errno;
		if (act < 0)
			return act;
	}
	if (act == A_CONFLICT)
		return 1; /* reported */
	if (type == S_IFDIR && act != A_CREATE) {
		int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						   O_CLOEXEC);
		if (fd < 0)
			return -errno;
		e = drfs_treewalk_push(&s->w, &n->subtree, fd, false);
		goto pushed;
	}
	if (type != S_IFDIR && n->nlink > 1 && act != A_SKIP) {
		if (ino_find(s, n->ino)) {
			o->plan(o->plan_data, DRFS_RESTORE_LINK, s->w.path,
				n->mode, n->size);
			return 0;
		}
		pthread_mutex_lock(&s->lock);
		e = ino_add(s, n->ino, s->w.path);
		pthread_mutex_unlock(&s->lock);
		if (e < 0)
			return e;
	}
	if (act == A_IF_CHANGED)
		act = same_content(s, dir, name, n, &st) ? A_SKIP : A_REWRITE;
	switch (act) {
	case A_SKIP:
	case A_META:
		a = DRFS_RESTORE_KEEP;
		kept(s);
		break;
	case A_REPLACE:
		/* decide's dry answer for another kind in the way */
		a = (st.st_mode & S_IFMT) == type ? DRFS_RESTORE_OVERWRITE
						  : DRFS_RESTORE_REPLACE;
		break;
	case A_REWRITE:
		a = DRFS_RESTORE_OVERWRITE;
		break;
	default:
		a = DRFS_RESTORE_CREATE;
		break;
	}
	if (sel == SEL_YES)
		o->plan(o->plan_data, a, s->w.path, n->mode, n->size);
	if (type == S_IFREG && a != DRFS_RESTORE_KEEP && o->progress) {
		o->progress->files++;
		o->progress->bytes += n->size;
	}
	if (type != S_IFDIR)
		return 0;
	e = drfs_treewalk_push(&s->w, &n->subtree, -1, false);
pushed:
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1], what[128];
		snprintf(what, sizeof(what), "cannot read directory (tree %s)",
			 drfs_id_hex(&n->subtree, hex));
		problem(s, s->w.path, e, what);
		return e == -ENOMEM ? e : 0;
	}
	return 0;
}

/*
 * Restore entry n, whose path is s->w.path, in directory fd dir. May push
 * a directory onto the walk. Problems are reported; returns a negative
 * errno only when the whole restore must stop (or the caller reports it).
 */
static int restore_entry(struct rs *s, int dir, struct drfs_node *n)
{
	const char *name = drfs_treewalk_name(&s->w);
	const char *path = s->w.path;
	bool fresh = drfs_treewalk_top(&s->w)->fresh;
	mode_t type = n->mode & S_IFMT;
	bool first = false, member = false;
	struct stat st;
	int act = A_CREATE, e;

	if (s->o->dry_run)
		return plan_entry(s, dir, n);
	int sel = selected(s->o, path, name, type == S_IFDIR);
	if (sel == SEL_NO)
		return 0;
	if (s->o->want_file) {
		if (type != S_IFDIR && type != S_IFREG && type != S_IFLNK)
			return 0;
		if (type == S_IFREG &&
		    !s->o->want_file(s->o->want_data, path))
			return 0;
		n->nlink = 1;
	}
	if (type == S_IFLNK && memchr(n->target, 0, n->target_len)) {
		/* symlinkat would end it at the NUL: another target */
		char q[96], what[160];
		drfs_name_quote(n->target, n->target_len, q, sizeof(q));
		snprintf(what, sizeof(what), "refused a symlink to %s: a "
			 "target cannot hold a NUL byte", q);
		problem_msg(s, path, what);
		return 1;
	}
	if (type != S_IFDIR && n->nlink > 1) {
		if (ino_find(s, n->ino)) {
			member = true;
		} else {
			pthread_mutex_lock(&s->lock);
			e = ino_add(s, n->ino, path);
			pthread_mutex_unlock(&s->lock);
			if (e < 0)
				return e;
			first = true;
		}
	}
	/* in a directory this restore created, only a racer adds entries:
	 * creating exclusively (EEXIST) finds them */
	if (!fresh) {
	look:
		if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			act = decide(s, dir, name, n, &st);
		else if (errno != ENOENT)
			return -errno;
		else
			act = A_CREATE;
		if (act < 0)
			return act;
	}
	if (act == A_CONFLICT)
		return 1; /* reported */
	if (act == A_SKIP) {
		kept(s);
		return 0;
	}
	if (act == A_META)
		kept(s);
	if (member)
		return push_link(s, path, n->ino, act != A_CREATE);
	if (act == A_REPLACE) {
		if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
			return -errno;
		act = A_CREATE;
	}
	switch (type) {
	case S_IFREG:
		return queue_file(s, path, n,
				  act == A_CREATE	? H_NEW
				  : act == A_IF_CHANGED ? H_IF_CHANGED
							: H_REWRITE,
				  &st, first);
	case S_IFDIR: {
		if (act == A_CREATE && mkdirat(dir, name, 0700) < 0) {
			if (errno == EEXIST && fresh) {
				fresh = false;
				goto look;
			}
			return -errno;
		}
		int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						   O_CLOEXEC);
		if (fd < 0)
			return errno == ENOTDIR || errno == ELOOP ? -ESTALE
								  : -errno;
		/* a directory only on the way to --include matches: its
		 * metadata only if this restore made it */
		if (act != A_ENTER_KEEP && (sel != SEL_WAY || act == A_CREATE)) {
			e = push_dir_meta(s, path, n, fd,
					  sel == SEL_WAY && act == A_CREATE);
			if (e < 0) {
				close(fd);
				return e;
			}
		}
		e = drfs_treewalk_push(&s->w, &n->subtree, fd,
				       act == A_CREATE);
		if (e < 0) {
			char hex[DRFS_ID_HEX_LEN + 1], what[128];
			snprintf(what, sizeof(what),
				 "cannot read directory (tree %s)",
				 drfs_id_hex(&n->subtree, hex));
			problem(s, path, e, what);
			return e == -ENOMEM ? e : 0;
		}
		return 0;
	}
	default: {
		struct meta m;
		if (act == A_CREATE) {
			char target[DRFS_PATH_MAX + 1];
			int ce;
			if (type == S_IFLNK) {
				memcpy(target, n->target, n->target_len);
				target[n->target_len] = 0;
				ce = symlinkat(target, dir, name);
			} else {
				ce = mknodat(dir, name, type | 0600,
					     (dev_t)n->rdev);
			}
			if (ce < 0) {
				if (errno == EEXIST && fresh) {
					fresh = false;
					goto look;
				}
				return -errno;
			}
		}
		e = meta_from(s, path, &m, n);
		if (e < 0)
			return e;
		e = meta_apply_special(dir, name, &m);
		free(m.xattrs);
		if (e < 0)
			failed(s, path, e, "cannot set metadata");
		break;
	}
	}
	if (first && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (st.st_mode & S_IFMT) == type)
		ino_made(s, n->ino, &st);
	return 0;
}

static bool stopped(struct rs *s)
{
	pthread_mutex_lock(&s->lock);
	bool f = s->fatal != 0;
	pthread_mutex_unlock(&s->lock);
	return f;
}

/* fresh: the target was created empty by this restore. */
static int walk(struct rs *s, const struct drfs_id *root, bool fresh)
{
	struct drfs_treewalk *w = &s->w;
	struct drfs_node n;
	uint64_t count = 0;
	int e = drfs_treewalk_push(w, root, -1, fresh);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1], what[128];
		snprintf(what, sizeof(what), "cannot read directory (tree %s)",
			 drfs_id_hex(root, hex));
		problem(s, "", e, what);
		return e == -ENOMEM ? e : 0;
	}
	e = 0;
	while (w->n) {
		int r = drfs_treewalk_next(w, &n);
		if (r <= 0) {
			if (r < 0)
				problem(s, w->path, r,
					"directory listing is corrupted");
			drfs_treewalk_pop(w);
			continue;
		}
		if (r == DRFS_TREE_BAD_NAME) {
			refuse(s, w->path, "an entry", n.name, n.name_len,
			       "file name");
			continue;
		}
		if (!drfs_treewalk_join(w, n.name, n.name_len)) {
			char q[96], what[160];
			drfs_name_quote(n.name, n.name_len, q, sizeof(q));
			snprintf(what, sizeof(what),
				 "entry %s not restored: its path would be "
				 "longer than %d bytes",
				 q, PATH_MAX - 1);
			problem_msg(s, w->path, what);
			continue;
		}
		int dir = drfs_treewalk_fd(w);
		if (dir == -ENOENT && s->o->dry_run)
			dir = -1; /* a directory the restore would create */
		else if (dir < 0) {
			drfs_treewalk_unjoin(w);
			failed(s, w->path, dir, "cannot open");
			drfs_treewalk_pop(w);
			continue;
		}
		int ce = restore_entry(s, dir, &n);
		if (ce < 0)
			failed(s, w->path, ce, "cannot restore");
		drfs_treewalk_unjoin(w);
		if (ce == -ENOMEM || ce == -ENOSPC || ce == -EDQUOT) {
			e = ce;
			break;
		}
		if (!(++count & 1023) && stopped(s))
			break;
	}
	return e;
}

/* ---- after the workers --------------------------------------------------- */

/*
 * Link the inode open as fd (O_PATH) as name in dir: that inode, not
 * whatever a name of it holds by now. AT_EMPTY_PATH needs
 * CAP_DAC_READ_SEARCH; without it, through /proc/self/fd/N. -ESTALE if
 * the inode has no name left (it was replaced meanwhile).
 */
static int link_fd(int fd, int dir, const char *name)
{
	char proc[64];
	if (linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	return errno == ENOENT ? -ESTALE : -errno;
}

static void make_links(struct rs *s)
{
	for (size_t i = 0; i < s->n_links; i++) {
		struct link_job *l = &s->links[i];
		struct ino_map *f = ino_find(s, l->group);
		const char *fname, *lname;
		struct stat st;
		int fdir = -1, ldir = -1, ffd = -1, e = 0;
		if (!f || !f->made) {
			char what[PATH_MAX + 128];
			snprintf(what, sizeof(what),
				 "not linked: \"%s\", the first name of its "
				 "hard-link group, was not restored",
				 f ? f->path : "?");
			problem_msg(s, l->path, what);
			goto next;
		}
		fdir = open_parent(s, f->path, &fname);
		ldir = open_parent(s, l->path, &lname);
		if (fdir < 0 || ldir < 0) {
			e = fdir < 0 ? fdir : ldir;
		} else if ((ffd = openat(fdir, fname, O_PATH | O_NOFOLLOW |
							      O_CLOEXEC)) < 0 ||
			   fstat(ffd, &st) < 0 || st.st_dev != f->dev ||
			   st.st_ino != f->ino) {
			e = -ESTALE;
		} else {
			if (l->replace && unlinkat(ldir, lname, 0) < 0 &&
			    errno != ENOENT)
				e = -errno;
			e = e ?: link_fd(ffd, ldir, lname);
		}
		if (e == -ESTALE) {
			char what[PATH_MAX + 128];
			snprintf(what, sizeof(what),
				 "not linked: \"%s\", the first name of its "
				 "hard-link group, was replaced during the "
				 "restore",
				 f->path);
			problem_msg(s, l->path, what);
		} else if (e < 0) {
			problem(s, l->path, e, "cannot link");
		}
		if (ffd >= 0)
			close(ffd);
		if (fdir >= 0)
			close(fdir);
		if (ldir >= 0)
			close(ldir);
	next:
		free(l->path);
	}
}

/*
 * A directory made only on the way to --include matches: removed if it
 * stayed empty (and is still the one made). true if it is gone.
 */
static bool remove_if_empty(struct rs *s, const struct dir_meta *d)
{
	const char *name;
	struct stat st;
	char *path = strdup(d->path);
	int dir = path ? open_parent(s, path, &name) : -ENOMEM;
	bool gone = dir >= 0 &&
		    fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == d->dev && st.st_ino == d->ino &&
		    unlinkat(dir, name, AT_REMOVEDIR) == 0;
	if (dir >= 0)
		close(dir);
	free(path);
	return gone;
}

static void set_dirs_meta(struct rs *s)
{
	for (size_t i = s->n_dirs; i-- > 0;) {
		struct dir_meta *d = &s->dirs[i];
		struct stat st;
		if (d->on_way && remove_if_empty(s, d))
			goto next;
		int e, fd = drfs_open_beneath(s->root, d->path,
					      O_RDONLY | O_DIRECTORY, 0);
		if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_dev != d->dev ||
				st.st_ino != d->ino))
			e = -ESTALE;
		else
			e = fd < 0 ? fd : meta_apply_fd(fd, &d->m);
		if (fd == -ELOOP || fd == -ENOTDIR || e == -ESTALE)
			problem_msg(s, d->path,
				    "was replaced during the restore; its "
				    "metadata not set");
		else if (e < 0)
			problem(s, d->path, e, "cannot set metadata");
		if (fd >= 0)
			close(fd);
	next:
		free(d->path);
		free(d->m.xattrs);
	}
}

/* Metadata of the backed-up directory itself onto the target. */
static void restore_root_meta(struct rs *s, const struct drfs_id *meta)
{
	struct drfs_buf tree;
	struct drfs_node n;
	struct meta m;
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	int e = drfs_repo_blob_read(s->r, meta, &tree);
	e = e ?: drfs_tree_find(tree.p, tree.len, (const uint8_t *)"root", 4,
				&n);
	e = e ?: meta_from(s, "", &m, &n);
	if (e >= 0) {
		e = meta_apply_fd(s->root, &m);
		free(m.xattrs);
	}
	if (e < 0)
		problem(s, "", e, "cannot set the snapshot root's metadata");
	drfs_buf_release(&tree);
}

/* drfs_restore of a dry run: the walk alone, on this thread. */
static int dry_run(struct rs *s, const struct drfs_id *root)
{
	drfs_treewalk_init(&s->w, s->r, s->root);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	int e = walk(s, root, false);
	drfs_treewalk_release(&s->w);
	for (size_t i = 0; i < s->cap_inos; i++)
		free(s->inos[i].path);
	free(s->inos);
	if (s->root >= 0)
		close(s->root);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	return e < 0 ? e : s->errors;
}

int drfs_restore(struct drfs_repo *r, const struct drfs_restore_opts *o)
{
	struct rs s = { .r = r, .o = o };
	struct drfs_snap_info si;
	pthread_t th[16];
	int nth = 0, e;
	bool existed = false;

	e = drfs_repo_snapshot_find(r, o->snapshot, &si);
	if (e < 0)
		return e;
	if (o->progress)
		o->progress->bytes_total = si.snap.bytes;
	if (o->dry_run) {
		/* the target as it is, if it is there; nothing is made */
		s.root = open(o->target, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s.root < 0 && errno != ENOENT)
			return -errno;
		return dry_run(&s, &si.snap.root);
	}
	if (mkdir(o->target, 0700) < 0) {
		if (errno != EEXIST)
			return -errno;
		existed = true;
	}
	/*
	 * The target itself is the user's to name: it may be a symlink. Not
	 * one that replaced the directory made here (a writer of its parent).
	 */
	s.root = open(o->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					 (existed ? 0 : O_NOFOLLOW));
	if (s.root < 0) {
		e = -errno;
		if (!existed && (e == -ELOOP || e == -ENOTDIR) && o->report)
			o->report(o->report_data, "\"%s\": was replaced "
				  "after the restore created it; nothing "
				  "restored", o->target);
		return e;
	}
	drfs_treewalk_init(&s.w, r, s.root);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	int want = MIN(MAX(r->threads * 2, 2), (int)ARRAY_SIZE(th));
	for (int i = 0; i < want; i++)
		if (pthread_create(&th[nth], NULL, worker_main, &s) == 0)
			nth++;
	e = nth ? walk(&s, &si.snap.root, !existed) : -EAGAIN;
	drfs_treewalk_release(&s.w);
	pthread_mutex_lock(&s.lock);
	s.done = true;
	pthread_cond_broadcast(&s.cond);
	pthread_mutex_unlock(&s.lock);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	make_links(&s);
	set_dirs_meta(&s);
	bool keep_root = existed && (o->overwrite == DRFS_OVERWRITE_NEVER ||
				     o->overwrite == DRFS_OVERWRITE_IF_NEWER);
	if (e >= 0 && !drfs_id_is_zero(&si.snap.meta) && !keep_root)
		restore_root_meta(&s, &si.snap.meta);
	for (size_t i = 0; i < s.cap_inos; i++)
		free(s.inos[i].path);
	free(s.inos);
	free(s.links);
	free(s.dirs);
	close(s.root);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	if (e >= 0 && s.fatal)
		e = s.fatal;
	return e < 0 ? e : s.errors;
}
