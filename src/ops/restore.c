/* SPDX-License-Identifier: MIT */
/*
 * restore.c - a snapshot back into a directory, without FUSE.
 *
 * The walk (this thread) creates directories, symlinks and special files
 * and queues regular files to worker threads, which write their extents
 * (holes stay holes) and set their metadata. Hard links are made after the
 * workers finish, directory metadata last (deepest first) so that writing
 * children does not disturb parents' times.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/ops.h"

struct meta {
	uint32_t mode, uid, gid;
	struct timespec atime, mtime;
	size_t n_xattrs;
	/* xattrs copied: name\0 then le32 value length, value */
	uint8_t *xattrs;
	size_t xattrs_len;
};

struct file_job {
	struct file_job *next;
	char *path;
	uint64_t size;
	struct meta m;
	size_t n_ext;
	struct drfs_extent ext[];
};

struct dir_meta {
	char *path;
	struct meta m;
};

struct link_job {
	char *path;   /* to create */
	uint64_t ino; /* group */
};

struct ino_map {
	uint64_t ino;
	char *path;
};

struct rs {
	struct drfs_repo *r;
	const struct drfs_restore_opts *o;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct file_job *head, *tail; /* (lock) */
	size_t queued;                /* (lock) */
	bool done;                    /* (lock) */
	int errors;                   /* (lock) */
	int fatal;                    /* (lock) */

	struct dir_meta *dirs;
	size_t n_dirs, cap_dirs;
	struct link_job *links;
	size_t n_links, cap_links;
	struct ino_map *inos;
	size_t n_inos, cap_inos;
};

static void problem(struct rs *s, const char *path, int e, const char *what)
{
	pthread_mutex_lock(&s->lock);
	s->errors++;
	if (s->o->progress)
		s->o->progress->errors++;
	pthread_mutex_unlock(&s->lock);
	if (s->o->report)
		s->o->report(s->o->report_data, "\"%s\": %s: %s", path, what,
			     drfs_strerror(e));
}

static int meta_from(struct meta *m, struct drfs_node *n)
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

/* Ownership, mode, xattrs, times; in that order (chown clears setuid). */
static int meta_apply(const char *path, const struct meta *m, bool is_link)
{
	int e = 0;
	if (lchown(path, m->uid, m->gid) < 0)
		e = -errno;
	if (!is_link && chmod(path, m->mode & 07777) < 0 && !e)
		e = -errno;
	const uint8_t *p = m->xattrs;
	for (size_t i = 0; i < m->n_xattrs; i++) {
		const char *name = (const char *)p;
		p += strlen(name) + 1;
		uint32_t vl = drfs_get_le32(p);
		p += 4;
		if (lsetxattr(path, name, p, vl, 0) < 0 && !e)
			e = -errno;
		p += vl;
	}
	struct timespec ts[2] = { m->atime, m->mtime };
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0 && !e)
		e = -errno;
	return e;
}

static int restore_file(struct rs *s, struct file_job *j, struct drfs_buf *buf)
{
	int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				       O_CLOEXEC,
		      0600);
	int e = 0, bad = 0;
	if (fd < 0)
		return -errno;
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
			bad++;
			continue;
		}
		e = drfs_pwrite_all(fd, buf->p, buf->len, j->ext[i].off);
		if (e < 0)
			goto out;
		if (s->o->progress)
			s->o->progress->bytes += buf->len;
	}
out:
	close(fd);
	if (e >= 0) {
		int me = meta_apply(j->path, &j->m, false);
		if (me < 0)
			problem(s, j->path, me, "cannot set metadata");
	}
	if (e < 0)
		return e;
	return bad ? 1 : 0;
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
		int e = restore_file(s, j, &buf);
		if (e < 0) {
			problem(s, j->path, e, "cannot write");
			if (e == -ENOSPC) {
				pthread_mutex_lock(&s->lock);
				s->fatal = e;
				pthread_mutex_unlock(&s->lock);
			}
		}
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

static int push_link(struct rs *s, const char *path, uint64_t ino)
{
	if (s->n_links == s->cap_links) {
		size_t cap = s->cap_links ? 2 * s->cap_links : 16;
		void *p = realloc(s->links, cap * sizeof(*s->links));
		if (!p)
			return -ENOMEM;
		s->links = p;
		s->cap_links = cap;
	}
	s->links[s->n_links].path = strdup(path);
	s->links[s->n_links++].ino = ino;
	return 0;
}

/*
 * The first path restored for each multiply-linked inode: an open-addressing
 * hash table (s->inos, cap_inos a power of two, path NULL = empty), so a
 * tree of a million hard links costs a million look-ups, not 10^12.
 */
static size_t ino_slot(uint64_t ino, size_t cap)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (cap - 1);
}

static const char *ino_first(struct rs *s, uint64_t ino)
{
	if (!s->cap_inos)
		return NULL;
	size_t mask = s->cap_inos - 1;
	for (size_t i = ino_slot(ino, s->cap_inos);; i = (i + 1) & mask) {
		if (!s->inos[i].path)
			return NULL;
		if (s->inos[i].ino == ino)
			return s->inos[i].path;
	}
}

static void ino_put(struct ino_map *v, size_t cap, uint64_t ino, char *path)
{
	size_t i = ino_slot(ino, cap);
	while (v[i].path)
		i = (i + 1) & (cap - 1);
	v[i].ino = ino;
	v[i].path = path;
}

static int ino_add(struct rs *s, uint64_t ino, const char *path)
{
	if (2 * (s->n_inos + 1) > s->cap_inos) {
		size_t cap = s->cap_inos ? 2 * s->cap_inos : 64;
		struct ino_map *v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap_inos; i++)
			if (s->inos[i].path)
				ino_put(v, cap, s->inos[i].ino, s->inos[i].path);
		free(s->inos);
		s->inos = v;
		s->cap_inos = cap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	ino_put(s->inos, s->cap_inos, ino, p);
	s->n_inos++;
	return 0;
}

static int queue_file(struct rs *s, const char *path, struct drfs_node *n)
{
	struct file_job *j = calloc(1, sizeof(*j) + n->n_extents *
							    sizeof(j->ext[0]));
	struct drfs_extent x = { 0 };
	int e;
	if (!j)
		return -ENOMEM;
	j->path = strdup(path);
	j->size = n->size;
	while ((e = drfs_node_next_extent(n, &x)) > 0 && j->n_ext < n->n_extents)
		j->ext[j->n_ext++] = x;
	if (e >= 0)
		e = meta_from(&j->m, n);
	if (e < 0 || !j->path) {
		free(j->path);
		free(j);
		return e < 0 ? e : -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	while (s->queued >= 256)
		pthread_cond_wait(&s->cond, &s->lock);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->queued++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int restore_dir(struct rs *s, const struct drfs_id *tree_id,
		       char *path, size_t plen)
{
	struct drfs_buf tree;
	struct drfs_tree_iter it;
	struct drfs_node n;
	int e;

	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	e = drfs_repo_blob_read(s->r, tree_id, &tree);
	if (e >= 0)
		e = drfs_tree_iter_init(&it, tree.p, tree.len);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1], what[128];
		snprintf(what, sizeof(what), "cannot read directory (tree %s)",
			 drfs_id_hex(tree_id, hex));
		problem(s, path, e, what);
		drfs_buf_release(&tree);
		return 0;
	}
	while ((e = drfs_tree_iter_next(&it, &n)) > 0) {
		if (plen + 1 + n.name_len >= PATH_MAX) {
			problem(s, path, -ENAMETOOLONG, "path too long");
			continue;
		}
		path[plen] = '/';
		memcpy(path + plen + 1, n.name, n.name_len);
		size_t nlen = plen + 1 + n.name_len;
		path[nlen] = 0;
		int ce = 0;
		if (!S_ISDIR(n.mode) && n.nlink > 1) {
			if (ino_first(s, n.ino)) {
				ce = push_link(s, path, n.ino);
				goto next;
			}
			ce = ino_add(s, n.ino, path);
			if (ce < 0)
				goto next;
		}
		switch (n.mode & S_IFMT) {
		case S_IFREG:
			ce = queue_file(s, path, &n);
			break;
		case S_IFDIR: {
			struct meta m;
			if (mkdir(path, 0700) < 0 && errno != EEXIST) {
				ce = -errno;
				break;
			}
			ce = meta_from(&m, &n);
			if (ce < 0)
				break;
			if (s->n_dirs == s->cap_dirs) {
				size_t cap = s->cap_dirs ? 2 * s->cap_dirs : 64;
				void *p = realloc(s->dirs, cap * sizeof(*s->dirs));
				if (!p) {
					free(m.xattrs);
					ce = -ENOMEM;
					break;
				}
				s->dirs = p;
				s->cap_dirs = cap;
			}
			s->dirs[s->n_dirs].path = strdup(path);
			s->dirs[s->n_dirs++].m = m;
			ce = restore_dir(s, &n.subtree, path, nlen);
			break;
		}
		case S_IFLNK: {
			char target[DRFS_PATH_MAX + 1];
			memcpy(target, n.target, n.target_len);
			target[n.target_len] = 0;
			if (symlink(target, path) < 0) {
				ce = -errno;
				break;
			}
			struct meta m;
			ce = meta_from(&m, &n);
			if (ce >= 0) {
				ce = meta_apply(path, &m, true);
				free(m.xattrs);
			}
			break;
		}
		default: {
			if (mknod(path, (n.mode & S_IFMT) | 0600,
				  (dev_t)n.rdev) < 0) {
				ce = -errno;
				break;
			}
			struct meta m;
			ce = meta_from(&m, &n);
			if (ce >= 0) {
				ce = meta_apply(path, &m, false);
				free(m.xattrs);
			}
			break;
		}
		}
	next:
		if (ce < 0)
			problem(s, path, ce, "cannot restore");
		path[plen] = 0;
		if (ce == -ENOMEM || ce == -ENOSPC) {
			e = ce;
			break;
		}
	}
	path[plen] = 0;
	if (e == -EBADMSG) {
		problem(s, path, e, "directory listing is corrupted");
		e = 0;
	}
	drfs_buf_release(&tree);
	return e;
}

/* Metadata of the backed-up directory itself onto the target. */
static void restore_root_meta(struct rs *s, const struct drfs_id *meta,
			      const char *path)
{
	struct drfs_buf tree;
	struct drfs_node n;
	struct meta m;
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	int e = drfs_repo_blob_read(s->r, meta, &tree);
	e = e ?: drfs_tree_find(tree.p, tree.len, (const uint8_t *)"root", 4,
				&n);
	e = e ?: meta_from(&m, &n);
	if (e >= 0) {
		e = meta_apply(path, &m, false);
		free(m.xattrs);
	}
	if (e < 0)
		problem(s, path, e, "cannot set the snapshot root's metadata");
	drfs_buf_release(&tree);
}

int drfs_restore(struct drfs_repo *r, const struct drfs_restore_opts *o)
{
	struct rs s = { .r = r, .o = o };
	struct drfs_snap_info si;
	pthread_t th[16];
	int nth = 0, e;
	char *path;

	e = drfs_repo_snapshot_find(r, o->snapshot, &si);
	if (e < 0)
		return e;
	if (mkdir(o->target, 0700) < 0 && errno != EEXIST)
		return -errno;
	path = malloc(PATH_MAX);
	if (!path)
		return -ENOMEM;
	if (!realpath(o->target, path)) {
		free(path);
		return -errno;
	}
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	int want = MIN(MAX(r->threads * 2, 2), (int)ARRAY_SIZE(th));
	for (int i = 0; i < want; i++)
		if (pthread_create(&th[nth], NULL, worker_main, &s) == 0)
			nth++;
	e = nth ? restore_dir(&s, &si.snap.root, path, strlen(path)) : -EAGAIN;
	pthread_mutex_lock(&s.lock);
	s.done = true;
	pthread_cond_broadcast(&s.cond);
	pthread_mutex_unlock(&s.lock);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < s.n_links; i++) {
		const char *first = ino_first(&s, s.links[i].ino);
		if (!first || link(first, s.links[i].path) < 0)
			problem(&s, s.links[i].path, -errno, "cannot link");
		free(s.links[i].path);
	}
	for (size_t i = s.n_dirs; i-- > 0;) {
		int me = meta_apply(s.dirs[i].path, &s.dirs[i].m, false);
		if (me < 0)
			problem(&s, s.dirs[i].path, me, "cannot set metadata");
		free(s.dirs[i].path);
		free(s.dirs[i].m.xattrs);
	}
	if (e >= 0 && !drfs_id_is_zero(&si.snap.meta))
		restore_root_meta(&s, &si.snap.meta, path);
	for (size_t i = 0; i < s.cap_inos; i++)
		free(s.inos[i].path);
	free(s.inos);
	free(s.links);
	free(s.dirs);
	free(path);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	if (e >= 0 && s.fatal)
		e = s.fatal;
	return e < 0 ? e : s.errors;
}
