/* SPDX-License-Identifier: MIT */
/*
 * restorefile.c - restore's worker threads: each regular file opened
 * beneath the target (created, or the existing one checked and
 * rewritten), its extents read, verified and written, its metadata set.
 */
#include "restoreint.h"

/* ---- regular files (workers) --------------------------------------------- */

/* Split path into its directory (opened beneath the target) and name. */
int rst_open_parent(struct rs *s, char *path, const char **ret_name)
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
	int dir = rst_open_parent(s, j->path, &name), fd;
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
			rst_problem_msg(s, j->path,
					"appeared during the restore; "
					"left as it is");
		else
			rst_failed(s, j->path, same, "cannot open");
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
			rst_problem(s, j->path, re, what);
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
			rst_ino_made(s, j->group, &st);
	}
	int me = rst_meta_apply_fd(fd, &j->m);
	if (me < 0)
		rst_problem(s, j->path, me, "cannot set metadata");
out:
	close(fd);
	if (e < 0) {
		rst_problem(s, j->path, e, "cannot write");
		stop_if_full(s, e);
	}
	return e;
}

void *rst_worker_main(void *arg)
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

int rst_queue_file(struct rs *s, const char *path, struct drfs_node *n,
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
		e = rst_meta_from(s, path, &j->m, n);
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
