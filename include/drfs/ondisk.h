/* SPDX-License-Identifier: MIT */
/*
 * ondisk.h - snapshot trees against a directory on disk (ops layer; what
 * restore and drill share).
 *
 * struct drfs_treewalk walks a snapshot's trees in pre-order alongside a
 * directory tree on disk: an explicit stack of directories on the heap
 * (each with its tree blob and iterator), so depth costs no C stack; and
 * the directories' fds, of which at most DRFS_TREEWALK_FDS stay open (the
 * deepest ones). A directory whose fd was closed is reopened beneath the
 * root fd by its relative path (drfs_open_beneath: no symlink, no "..")
 * and must still be the same directory (device and inode), so nothing a
 * concurrent writer of the tree renames or swaps leads the walk outside
 * the root. The caller drives it, like a cursor:
 *
 *	drfs_treewalk_init(&w, r, rootfd);
 *	e = drfs_treewalk_push(&w, &root_tree, -1, false);
 *	while (w.n) {
 *		r = drfs_treewalk_next(&w, &n);
 *		if (r <= 0) { ...; drfs_treewalk_pop(&w); continue; }
 *		if (!drfs_treewalk_join(&w, n.name, n.name_len)) ...too long
 *		... w.path is now the entry's path; drfs_treewalk_fd(&w) its
 *		    directory; for a directory, open it and push ...
 *		drfs_treewalk_unjoin(&w);
 *	}
 *	drfs_treewalk_release(&w);
 *
 * Paths are relative to the root ("" is the root), at most PATH_MAX - 1
 * bytes. Not thread-safe: one thread walks.
 */
#ifndef DRFS_ONDISK_H
#define DRFS_ONDISK_H

#include <limits.h>
#include <sys/stat.h>

#include "drfs/repo.h"

/* Directory fds a walk keeps open (besides the root's, the caller's). */
#define DRFS_TREEWALK_FDS 8

struct drfs_treewalk_dir {
	struct drfs_buf tree;    /* the directory's tree blob */
	struct drfs_tree_iter it;
	int fd;                  /* O_PATH fd on disk; -1: closed or absent */
	bool absent;             /* there is no directory on disk for it */
	bool fresh;              /* the caller created it (it was empty) */
	dev_t dev;               /* its identity on disk (not absent) */
	ino_t ino;
	size_t plen;             /* its path is w->path[0, plen) */
	uint64_t entries;        /* entries with a valid name returned */
};

struct drfs_treewalk {
	struct drfs_repo *r;
	int root;                       /* the caller's; never closed here */
	char path[PATH_MAX];
	struct drfs_treewalk_dir *v;    /* v[0..n) the stack; n_init set up */
	size_t n, n_init, cap;
};

void drfs_treewalk_init(struct drfs_treewalk *w, struct drfs_repo *r,
			int root);
void drfs_treewalk_release(struct drfs_treewalk *w);

/*
 * Enter a directory: read tree (its listing) and put it on top. The first
 * push is the root (fd ignored: the root fd); later ones are of the
 * directory last joined (drfs_treewalk_join) in the current top. fd: the
 * directory opened (O_PATH | O_DIRECTORY is enough), taken over (closed
 * here, also on failure); -1: absent on disk. fresh: it was created empty
 * by the caller. On failure (tree unreadable: its
 * errno, -EBADMSG) nothing is pushed and w->path is left as joined.
 */
int drfs_treewalk_push(struct drfs_treewalk *w, const struct drfs_id *tree,
		       int fd, bool fresh);
/* The top directory. */
static inline struct drfs_treewalk_dir *
drfs_treewalk_top(struct drfs_treewalk *w)
{
	return &w->v[w->n - 1];
}
/*
 * The next entry of the top directory: 1, DRFS_TREE_BAD_NAME (its name
 * must not be used: drfs_tree_iter_next_any), 0 at its end, -EBADMSG when
 * the rest of its listing is corrupted. Either of the last two: pop.
 */
int drfs_treewalk_next(struct drfs_treewalk *w, struct drfs_node *ret);
/* Leave the top directory (closing its fd). */
void drfs_treewalk_pop(struct drfs_treewalk *w);
/*
 * Append "/name" (just "name" in the root) to the top's path in w->path:
 * w->path + 0 is then the entry's path. false (nothing appended) if the
 * path would not fit in PATH_MAX.
 */
bool drfs_treewalk_join(struct drfs_treewalk *w, const uint8_t *name,
			size_t name_len);
/* Back to the top directory's own path. */
static inline void drfs_treewalk_unjoin(struct drfs_treewalk *w)
{
	w->path[drfs_treewalk_top(w)->plen] = 0;
}
/* The entry name last joined, NUL-terminated (inside w->path). */
static inline const char *drfs_treewalk_name(struct drfs_treewalk *w)
{
	size_t p = drfs_treewalk_top(w)->plen;
	return w->path + p + (p ? 1 : 0);
}
/*
 * The top directory's fd (O_PATH), reopened beneath the root if it was
 * closed: -ENOENT if absent, -ESTALE if what is now at its path is not the
 * directory it was, or the error of opening it. Owned by the walk.
 */
int drfs_treewalk_fd(struct drfs_treewalk *w);

/*
 * "\"" + name + "\"" with bytes that are not printable ASCII (and '"', '\\')
 * as \xHH, cut with "..." to fit out (at least 16 bytes). Returns out.
 */
char *drfs_name_quote(const uint8_t *name, size_t len, char *out,
		      size_t out_len);

/*
 * Compare the regular file open as fd (readable, its size already equal
 * to size) with the n extents x of a file of that size: every extent
 * re-hashed (drfs_blob_id) against its blob id, everything between them
 * all zeros. buf is scratch (grown to an extent's length). 0 equal; 1
 * different, [*ret_off, *ret_end) the first range that differs, *ret_hole
 * true if it should be zeros; or a negative errno.
 */
int drfs_file_compare(const struct drfs_keys *k, int fd,
		      const struct drfs_extent *x, size_t n, uint64_t size,
		      struct drfs_buf *buf, uint64_t *ret_off,
		      uint64_t *ret_end, bool *ret_hole);

/*
 * Remove everything beneath the directory fd root (not root itself),
 * without following symlinks, making directories searchable as needed;
 * iterative, at most one directory fd open at a time besides root. Returns
 * 0, or the first error (it goes on past errors).
 */
int drfs_remove_beneath(int root);

#endif
