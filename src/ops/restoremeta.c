/* SPDX-License-Identifier: MIT */
/*
 * restoremeta.c - restore's metadata (modes, owners, times, xattrs, on an
 * fd), its hard-link groups, and what follows the workers: hard links,
 * directories' metadata (deepest first), the snapshot root's.
 */
#include "restoreint.h"

/* ---- metadata ------------------------------------------------------------ */

/*
 * A name from the repository that cannot be used: refused, named. what:
 * "an entry", ...; kind: what it is not a valid one of.
 */
void rst_refuse(struct rs *s, const char *path, const char *what,
		const uint8_t *name, size_t len, const char *kind)
{
	char q[96], msg[192];
	drfs_name_quote(name, len, q, sizeof(q));
	snprintf(msg, sizeof(msg), "refused %s named %s: not a valid %s", what,
		 q, kind);
	rst_problem_msg(s, path, msg);
}

/*
 * The metadata of node n, whose path is path. An extended attribute whose
 * name holds a NUL byte is refused (named, counted): no such attribute
 * can exist, and set_xattrs() would read past the copy.
 */
int rst_meta_from(struct rs *s, const char *path, struct meta *m,
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
			rst_refuse(s, path, "an extended attribute", x.name,
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
int rst_meta_apply_fd(int fd, const struct meta *m)
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
int rst_meta_apply_special(int dir, const char *name, const struct meta *m)
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

struct ino_map *rst_ino_find(struct rs *s, uint64_t group)
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
int rst_ino_add(struct rs *s, uint64_t group, const char *path)
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
void rst_ino_made(struct rs *s, uint64_t group, const struct stat *st)
{
	pthread_mutex_lock(&s->lock);
	struct ino_map *x = rst_ino_find(s, group);
	if (x) {
		x->made = true;
		x->dev = st->st_dev;
		x->ino = st->st_ino;
	}
	pthread_mutex_unlock(&s->lock);
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

void rst_make_links(struct rs *s)
{
	for (size_t i = 0; i < s->n_links; i++) {
		struct link_job *l = &s->links[i];
		struct ino_map *f = rst_ino_find(s, l->group);
		const char *fname, *lname;
		struct stat st;
		int fdir = -1, ldir = -1, ffd = -1, e = 0;
		if (!f || !f->made) {
			char what[PATH_MAX + 128];
			snprintf(what, sizeof(what),
				 "not linked: \"%s\", the first name of its "
				 "hard-link group, was not restored",
				 f ? f->path : "?");
			rst_problem_msg(s, l->path, what);
			goto next;
		}
		fdir = rst_open_parent(s, f->path, &fname);
		ldir = rst_open_parent(s, l->path, &lname);
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
			rst_problem_msg(s, l->path, what);
		} else if (e < 0) {
			rst_problem(s, l->path, e, "cannot link");
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
	int dir = path ? rst_open_parent(s, path, &name) : -ENOMEM;
	bool gone = dir >= 0 &&
		    fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == d->dev && st.st_ino == d->ino &&
		    unlinkat(dir, name, AT_REMOVEDIR) == 0;
	if (dir >= 0)
		close(dir);
	free(path);
	return gone;
}

void rst_set_dirs_meta(struct rs *s)
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
			e = fd < 0 ? fd : rst_meta_apply_fd(fd, &d->m);
		if (fd == -ELOOP || fd == -ENOTDIR || e == -ESTALE)
			rst_problem_msg(s, d->path,
					"was replaced during the restore; its "
					"metadata not set");
		else if (e < 0)
			rst_problem(s, d->path, e, "cannot set metadata");
		if (fd >= 0)
			close(fd);
	next:
		free(d->path);
		free(d->m.xattrs);
	}
}

/* Metadata of the restored directory itself onto the target. */
void rst_restore_root_meta(struct rs *s, const struct drfs_id *tree_id,
			   const uint8_t *name, size_t name_len)
{
	struct drfs_buf tree;
	struct drfs_node n;
	struct meta m;
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	int e = drfs_repo_blob_read(s->r, tree_id, &tree);
	e = e ?: drfs_tree_find(tree.p, tree.len, name, name_len, &n);
	e = e ?: rst_meta_from(s, "", &m, &n);
	if (e >= 0) {
		e = rst_meta_apply_fd(s->root, &m);
		free(m.xattrs);
	}
	if (e < 0)
		rst_problem(s, "", e,
			    "cannot set the restored directory's metadata");
	drfs_buf_release(&tree);
}
