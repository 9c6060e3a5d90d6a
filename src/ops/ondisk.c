/* SPDX-License-Identifier: MIT */
/*
 * ondisk.c - snapshot trees against a directory on disk: the tree walk
 * with a window of directory fds, comparing a file with its node, removing
 * a tree beneath a directory fd (include/drfs/ondisk.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/ondisk.h"

/* ---- the walk ------------------------------------------------------------ */

void drfs_treewalk_init(struct drfs_treewalk *w, struct drfs_repo *r,
			int root)
{
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->root = root;
}

void drfs_treewalk_release(struct drfs_treewalk *w)
{
	while (w->n)
		drfs_treewalk_pop(w);
	for (size_t i = 0; i < w->n_init; i++)
		drfs_buf_release(&w->v[i].tree);
	free(w->v);
	w->v = NULL;
	w->n_init = w->cap = 0;
}

/* Close the shallowest open fd but the root's while more than the window. */
static void window(struct drfs_treewalk *w)
{
	size_t open = 0;
	for (size_t i = w->n; i-- > 1;)
		if (w->v[i].fd >= 0 && ++open > DRFS_TREEWALK_FDS) {
			close(w->v[i].fd);
			w->v[i].fd = -1;
		}
}

int drfs_treewalk_push(struct drfs_treewalk *w, const struct drfs_id *tree,
		       int fd, bool fresh)
{
	struct drfs_treewalk_dir *d;
	struct stat st;
	int e;

	e = drfs_grow(&w->v, &w->cap, w->n, sizeof(*w->v), 16);
	if (e < 0)
		goto fail;
	if (w->n == w->n_init)
		drfs_buf_init(&w->v[w->n_init++].tree, DRFS_BLOB_MAX);
	d = &w->v[w->n];
	drfs_buf_reset(&d->tree);
	e = drfs_repo_blob_read(w->r, tree, &d->tree);
	e = e ?: drfs_tree_iter_init(&d->it, d->tree.p, d->tree.len);
	if (e < 0)
		goto fail;
	if (w->n == 0) {
		fd = w->root;
		w->path[0] = 0;
	}
	d->fd = fd;
	d->absent = fd < 0;
	d->fresh = fresh;
	d->dev = 0;
	d->ino = 0;
	d->entries = 0;
	d->plen = strlen(w->path);
	if (fd >= 0) {
		if (fstat(fd, &st) < 0) {
			e = -errno;
			goto fail;
		}
		d->dev = st.st_dev;
		d->ino = st.st_ino;
	}
	w->n++;
	window(w);
	return 0;
fail:
	if (fd >= 0 && w->n > 0)
		close(fd);
	return e;
}

int drfs_treewalk_next(struct drfs_treewalk *w, struct drfs_node *ret)
{
	struct drfs_treewalk_dir *d = drfs_treewalk_top(w);
	int r = drfs_tree_iter_next_any(&d->it, ret);
	if (r == 1)
		d->entries++;
	return r;
}

void drfs_treewalk_pop(struct drfs_treewalk *w)
{
	struct drfs_treewalk_dir *d = drfs_treewalk_top(w);
	if (w->n > 1 && d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	/* keep small buffers for the next push, not a 64 MiB one */
	if (d->tree.cap > (1u << 20)) {
		drfs_buf_release(&d->tree);
		drfs_buf_init(&d->tree, DRFS_BLOB_MAX);
	}
	w->n--;
	if (w->n)
		drfs_treewalk_unjoin(w);
}

bool drfs_treewalk_join(struct drfs_treewalk *w, const uint8_t *name,
			size_t name_len)
{
	size_t plen = drfs_treewalk_top(w)->plen;
	size_t sep = plen ? 1 : 0;
	if (plen + sep + name_len >= sizeof(w->path))
		return false;
	if (sep)
		w->path[plen] = '/';
	memcpy(w->path + plen + sep, name, name_len);
	w->path[plen + sep + name_len] = 0;
	return true;
}

int drfs_treewalk_fd(struct drfs_treewalk *w)
{
	struct drfs_treewalk_dir *d = drfs_treewalk_top(w);
	struct stat st;
	if (d->fd >= 0)
		return d->fd;
	if (d->absent)
		return -ENOENT;
	char saved = w->path[d->plen];
	w->path[d->plen] = 0;
	int fd = drfs_open_beneath(w->root, w->path, O_PATH | O_DIRECTORY, 0);
	w->path[d->plen] = saved;
	if (fd < 0)
		return fd == -ELOOP || fd == -ENOTDIR || fd == -ENOENT ? -ESTALE
								       : fd;
	if (fstat(fd, &st) < 0 || st.st_dev != d->dev || st.st_ino != d->ino) {
		close(fd);
		return -ESTALE;
	}
	d->fd = fd;
	window(w);
	return fd;
}

char *drfs_name_quote(const uint8_t *name, size_t len, char *out,
		      size_t out_len)
{
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (o + 4 + 5 > out_len) { /* \xHH, then ..." and NUL */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		uint8_t c = name[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = 0;
	return out;
}

/* ---- comparing a file with its node -------------------------------------- */

/* 1 if [off, end) of fd is not all zeros (holes skipped cheaply), else 0. */
static int nonzero(int fd, uint64_t off, uint64_t end, struct drfs_buf *buf)
{
	const size_t piece = 1u << 20;
	int e;
	drfs_buf_reset(buf);
	if ((e = drfs_buf_reserve(buf, piece)) < 0)
		return e;
	while (off < end) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0 || (uint64_t)data >= end)
			return 0; /* a hole up to end (or ENXIO: to EOF) */
		off = (uint64_t)data;
		size_t want = (size_t)MIN((uint64_t)piece, end - off);
		ssize_t got = drfs_pread_all(fd, buf->p, want, off);
		if (got < 0)
			return (int)got;
		if ((size_t)got != want)
			return 1;
		for (size_t i = 0; i < want; i++)
			if (buf->p[i])
				return 1;
		off += want;
	}
	return 0;
}

int drfs_file_compare(const struct drfs_keys *k, int fd,
		      const struct drfs_extent *x, size_t n, uint64_t size,
		      struct drfs_buf *buf, uint64_t *ret_off,
		      uint64_t *ret_end, bool *ret_hole)
{
	struct drfs_id id;
	uint64_t pos = 0;
	int e;

	for (size_t i = 0; i <= n; i++) {
		uint64_t next = i < n ? x[i].off : size;
		if (next > pos && (e = nonzero(fd, pos, next, buf)) != 0) {
			if (e < 0)
				return e;
			*ret_off = pos;
			*ret_end = next;
			*ret_hole = true;
			return 1;
		}
		if (i == n)
			break;
		drfs_buf_reset(buf);
		if ((e = drfs_buf_reserve(buf, x[i].len)) < 0)
			return e;
		ssize_t got = drfs_pread_all(fd, buf->p, x[i].len, x[i].off);
		if (got < 0)
			return (int)got;
		if (got == (ssize_t)x[i].len)
			drfs_blob_id(k, buf->p, x[i].len, &id);
		if (got != (ssize_t)x[i].len || !drfs_id_eq(&id, &x[i].id)) {
			*ret_off = x[i].off;
			*ret_end = x[i].off + x[i].len;
			*ret_hole = false;
			return 1;
		}
		pos = x[i].off + x[i].len;
	}
	return 0;
}

/* ---- removing a tree ----------------------------------------------------- */

/* Whether path is one of the n directories in v. */
static bool listed(char **v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], path))
			return true;
	return false;
}

/*
 * Depth first by path: open the directory at path beneath root, remove
 * what it holds; at the first non-empty subdirectory descend into it
 * (path grows); when a directory is done, go back up and scan the parent
 * again, where its rmdir now succeeds. A directory that kept something
 * (an error) is listed so that it is not entered again.
 */
int drfs_remove_beneath(int root)
{
	char path[PATH_MAX] = "";
	size_t plen = 0;
	char **kept = NULL;
	size_t n_kept = 0;
	int err = 0;

	for (;;) {
		int fd = plen ? drfs_open_beneath(root, path,
						  O_RDONLY | O_DIRECTORY, 0)
			      : openat(root, ".", O_RDONLY | O_DIRECTORY |
							  O_CLOEXEC);
		bool down = false, left = fd < 0;
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		if (fd < 0)
			err = err ?: (plen ? fd : -errno);
		else if (!d) {
			err = err ?: -errno;
			left = true;
			close(fd);
		}
		while (d && (de = readdir(d))) {
			const char *nm = de->d_name;
			struct stat st;
			size_t l = strlen(nm);
			if (!strcmp(nm, ".") || !strcmp(nm, ".."))
				continue;
			if (unlinkat(fd, nm, 0) == 0)
				continue;
			int ue = errno;
			if ((ue != EISDIR && ue != EPERM) ||
			    fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode)) {
				err = err ?: -ue;
				left = true;
				continue;
			}
			if ((st.st_mode & 0700) != 0700)
				fchmodat(fd, nm, (st.st_mode & 07777) | 0700,
					 AT_SYMLINK_NOFOLLOW);
			if (unlinkat(fd, nm, AT_REMOVEDIR) == 0)
				continue;
			size_t sep = plen ? 1 : 0;
			if (plen + sep + l >= sizeof(path)) {
				err = err ?: -ENAMETOOLONG;
				left = true;
				continue;
			}
			if (sep)
				path[plen] = '/';
			memcpy(path + plen + sep, nm, l + 1);
			if (listed(kept, n_kept, path)) {
				path[plen] = 0;
				left = true;
				continue;
			}
			plen += sep + l;
			down = true;
			break;
		}
		if (d)
			closedir(d);
		if (down)
			continue;
		if (!plen)
			break;
		if (left) {
			void *p = realloc(kept, (n_kept + 1) * sizeof(*kept));
			if (p)
				kept = p;
			char *c = p ? strdup(path) : NULL;
			if (!c) {
				err = -ENOMEM;
				break;
			}
			kept[n_kept++] = c;
		}
		while (plen && path[plen - 1] != '/')
			plen--;
		if (plen)
			plen--;
		path[plen] = 0;
	}
	for (size_t i = 0; i < n_kept; i++)
		free(kept[i]);
	free(kept);
	return err;
}
