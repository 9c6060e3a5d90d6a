/* SPDX-License-Identifier: MIT */
/*
 * files.c - open files and their staging files: open, read, write, truncate,
 * fallocate, fsync, release. nowint.h has the layout and the locks.
 */
#include "nowint.h"

/* ---- open files and staging ------------------------------------------- */

/* Under n->lock. */
int now_ofile_get(struct drfs_now *n, const struct rec *r, struct ofile **ret)
{
	struct ofile *of = now_ofile_find(n, r->ino);
	if (!of) {
		of = calloc(1, sizeof(*of));
		if (!of)
			return -ENOMEM;
		of->ino = r->ino;
		of->fd = -1;
		of->spilled_fd = -1;
		if (r->flags & I_STAGED) {
			of->fd = now_staging_open(n, r->ino, O_RDWR, &of->mem);
			if (of->fd < 0) {
				int e = -errno;
				free(of);
				return e == -ENOENT ? -EIO : e;
			}
		}
		of->next = n->ofiles;
		n->ofiles = of;
	}
	of->refs++;
	*ret = of;
	return 0;
}

void now_ofile_unlink(struct drfs_now *n, struct ofile *of)
{
	for (struct ofile **p = &n->ofiles; *p; p = &(*p)->next)
		if (*p == of) {
			*p = of->next;
			break;
		}
	if (of->fd >= 0)
		close(of->fd);
	if (of->spilled_fd >= 0)
		close(of->spilled_fd);
	free(of);
}

/* Persist size and times of an open file. Under n->lock. */
int now_persist_meta(struct drfs_now *n, struct ofile *of)
{
	struct drfs_txn *t = NULL; /* begin leaves it alone on failure */
	struct rec r;
	struct stat fs;
	if (!of->meta_dirty)
		return 0;
	int e = now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, of->ino, &r);
	if (e < 0) {
		drfs_txn_abort(t);
		return e;
	}
	if (of->fd >= 0 && fstat(of->fd, &fs) == 0) {
		r.size = (uint64_t)fs.st_size;
		r.blocks = (uint64_t)fs.st_blocks * 512;
	}
	r.mtime = of->mtime;
	r.ctime = of->ctime;
	e = now_rec_put(t, &r);
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	if (e >= 0)
		of->meta_dirty = false;
	return e;
}

/* Record that the file's data changes. Under n->lock. */
static int mark_written(struct drfs_now *n, struct ofile *of)
{
	struct drfs_txn *t;
	struct rec r;
	now_chunk_cancel(n, of->ino);
	if (of->marked)
		return 0;
	int e = now_txn(n, false, &t);
	if (e >= 0) {
		e = now_rec_get(t, of->ino, &r);
		drfs_txn_abort(t);
		if (e >= 0 && (r.flags & (I_STALE | I_DIRTY)) ==
				      (I_STALE | I_DIRTY)) {
			of->marked = true;
			return 0;
		}
	}
	e = now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, of->ino, &r);
	if (e >= 0) {
		r.flags |= I_STALE;
		r.gen++;
		e = now_rec_put(t, &r);
		e = e < 0 ? e : now_mark_dirty(n, t, of->ino);
	}
	if (e >= 0)
		e = now_commit(n, t);
	else
		drfs_txn_abort(t);
	if (e >= 0)
		of->marked = true;
	return e;
}

/*
 * Copy the file's content (bytes below upto) into a new staging file, or a
 * memfd when there is nothing to copy, and switch the inode to it. Under
 * n->lock.
 */
static int ensure_staged(struct drfs_now *n, struct ofile *of, uint64_t upto)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	struct drfs_txn *t;
	struct rec r;
	struct ext_scan s = { 0 };
	struct drfs_buf blob;
	bool mem = false;
	int fd, e;

	if (of->fd >= 0)
		return 0;
	e = now_txn(n, false, &t);
	if (e < 0)
		return e;
	e = now_rec_get(t, of->ino, &r);
	if (e >= 0 && !S_ISREG(r.mode))
		e = -EINVAL;
	if (e >= 0 && upto)
		e = now_ext_range(t, of->ino, 0, upto, &s);
	drfs_txn_abort(t);
	if (e < 0)
		goto out_s;
	now_staging_path(n, of->ino, p, sizeof(p));
	/*
	 * Nothing to copy in and small: in memory (a staging file left
	 * for a deferred unlink keeps the disk path, see unlink_staging_now).
	 */
	uint64_t size = MIN(r.size, upto);
	if (s.n == 0 && size <= MEM_FILE_MAX && access(p, F_OK) != 0 &&
	    now_mem_new(n, of->ino)) {
		mem = true;
		fd = now_staging_open(n, of->ino, O_RDWR, NULL);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
			e = -errno;
			if (fd >= 0)
				close(fd);
			now_mem_remove(n, of->ino);
			goto out_s;
		}
		goto record;
	}
	now_mem_remove(n, of->ino);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = -errno;
		goto out_s;
	}
	drfs_buf_init(&blob, DRFS_BLOB_MAX);
	for (size_t i = 0; e >= 0 && i < s.n; i++) {
		drfs_buf_reset(&blob);
		e = now_read_blob(n, &s.v[i].id, &blob);
		if (e < 0) {
			e = -EIO;
			break;
		}
		if (blob.len != s.v[i].len) {
			e = -EIO;
			break;
		}
		uint64_t l = MIN((uint64_t)blob.len, upto - s.v[i].off);
		e = drfs_pwrite_all(fd, blob.p, (size_t)l, s.v[i].off);
	}
	drfs_buf_release(&blob);
	/* content that was durable must stay durable across the switch */
	e = now_staging_install(e, fd, tmp, p, size, s.n != 0);
	if (e < 0)
		goto out_s;
record:
	e = now_txn(n, true, &t);
	if (e >= 0) {
		r.flags |= I_STAGED | I_STALE;
		r.gen++;
		e = now_rec_put(t, &r);
		e = e < 0 ? e : now_set_put(t, 'S', r.ino);
		e = e < 0 ? e : now_mark_dirty(n, t, r.ino);
		if (e >= 0)
			e = now_commit(n, t);
		else
			drfs_txn_abort(t);
	}
	if (e < 0) {
		close(fd);
		if (mem)
			now_mem_remove(n, of->ino);
		else
			unlink(p);
		goto out_s;
	}
	struct stat fs;
	if (fstat(fd, &fs) == 0)
		n->staged_bytes += (uint64_t)fs.st_blocks * 512;
	of->fd = fd;
	of->mem = mem;
	of->marked = true;
	now_chunk_cancel(n, of->ino);
out_s:
	free(s.v);
	return e;
}

/* Truncate an open file. Under n->lock. */
int now_truncate_locked(struct drfs_now *n, struct ofile *of, uint64_t size)
{
	int e = ensure_staged(n, of, size);
	e = e < 0 ? e : mark_written(n, of);
	if (e >= 0 && of->mem && size > MEM_FILE_MAX)
		e = now_spill(n, of->ino, of, false);
	if (e < 0)
		return e;
	if (ftruncate(of->fd, (off_t)size) < 0)
		return -errno;
	now_ts(&of->mtime);
	of->ctime = of->mtime;
	of->meta_dirty = true;
	return now_persist_meta(n, of);
}

int drfs_now_open_file(struct drfs_now *n, uint64_t ino, int flags,
		       struct drfs_now_file **ret)
{
	struct drfs_txn *t;
	struct rec r;
	struct drfs_now_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	int e = now_txn(n, false, &t);
	if (e >= 0) {
		e = now_rec_get(t, ino, &r);
		drfs_txn_abort(t);
	}
	if (e >= 0 && S_ISDIR(r.mode))
		e = -EISDIR;
	else if (e >= 0 && !S_ISREG(r.mode))
		e = -EINVAL;
	e = e < 0 ? e : now_ofile_get(n, &r, &f->of);
	if (e >= 0 && (flags & O_ACCMODE) != O_RDONLY) {
		f->of->writers++;
		now_chunk_cancel(n, ino);
	}
	if (e >= 0 && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		e = now_truncate_locked(n, f->of, 0);
		if (e < 0) {
			f->of->writers--;
			if (--f->of->refs == 0)
				now_ofile_unlink(n, f->of);
		}
	}
	pthread_mutex_unlock(&n->lock);
	if (e < 0) {
		free(f);
		return e;
	}
	f->n = n;
	f->flags = flags;
	pthread_mutex_init(&f->clock, NULL);
	drfs_buf_init(&f->cbuf, DRFS_BLOB_MAX);
	*ret = f;
	return 0;
}

ssize_t drfs_now_read(struct drfs_now_file *f, void *buf, size_t len,
		      uint64_t off)
{
	struct drfs_now *n = f->n;
	struct drfs_txn *t;
	struct rec r;
	struct ext_scan s = { 0 };
	int fd, e;

	pthread_mutex_lock(&n->lock);
	fd = f->of->fd;
	e = 0;
	if (fd < 0) {
		e = now_txn(n, false, &t);
		if (e >= 0) {
			e = now_rec_get(t, f->of->ino, &r);
			if (e >= 0 && off < r.size) {
				len = (size_t)MIN((uint64_t)len, r.size - off);
				e = now_ext_range(t, f->of->ino, off, off + len,
						  &s);
			}
			drfs_txn_abort(t);
		}
	}
	pthread_mutex_unlock(&n->lock);
	if (e < 0)
		goto out;
	if (fd >= 0) {
		ssize_t got = drfs_pread_all(fd, buf, len, off);
		free(s.v);
		return got;
	}
	if (off >= r.size) {
		free(s.v);
		return 0;
	}
	memset(buf, 0, len);
	pthread_mutex_lock(&f->clock);
	for (size_t i = 0; i < s.n; i++) {
		const struct drfs_extent *x = &s.v[i];
		if (!f->cvalid || !drfs_id_eq(&f->cid, &x->id)) {
			drfs_buf_reset(&f->cbuf);
			f->cvalid = false;
			e = now_read_blob(n, &x->id, &f->cbuf);
			if (e < 0 || f->cbuf.len != x->len) {
				e = -EIO;
				break;
			}
			f->cid = x->id;
			f->cvalid = true;
		}
		uint64_t a = MAX(off, x->off);
		uint64_t b = MIN(off + len, x->off + x->len);
		if (a < b)
			memcpy((uint8_t *)buf + (a - off),
			       f->cbuf.p + (a - x->off), (size_t)(b - a));
	}
	pthread_mutex_unlock(&f->clock);
out:
	free(s.v);
	return e < 0 ? e : (ssize_t)len;
}

/* Writers wait while staging is over its bound (best effort). */
static void wait_for_space(struct drfs_now *n)
{
	if (!n->o.cache_size)
		return;
	pthread_mutex_lock(&n->lock);
	for (int i = 0; i < 600 && n->staged_bytes > n->o.cache_size &&
			!n->space_stuck && !n->bg_quit;
	     i++) {
		struct timespec ts;
		pthread_cond_broadcast(&n->bg_cond);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&n->bg_cond, &n->lock, &ts);
	}
	pthread_mutex_unlock(&n->lock);
}

ssize_t drfs_now_write(struct drfs_now_file *f, const void *buf, size_t len,
		       uint64_t off)
{
	struct drfs_now *n = f->n;
	int e, fd;
	if (off + len < off || off + len > (uint64_t)INT64_MAX)
		return -EFBIG;
	wait_for_space(n);
	pthread_rwlock_rdlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	e = ensure_staged(n, f->of, UINT64_MAX);
	e = e < 0 ? e : mark_written(n, f->of);
	if (e >= 0 && f->of->mem && off + len > MEM_FILE_MAX)
		e = now_spill(n, f->of->ino, f->of, false);
	fd = f->of->fd;
	pthread_mutex_unlock(&n->lock);
	if (e >= 0)
		e = drfs_pwrite_all(fd, buf, len, off);
	pthread_mutex_lock(&n->lock);
	if (e >= 0) {
		now_ts(&f->of->mtime);
		f->of->ctime = f->of->mtime;
		f->of->meta_dirty = true;
		n->staged_bytes += len;
		if (f->of->mem)
			n->mem_bytes += len;
	}
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	return e < 0 ? e : (ssize_t)len;
}

/*
 * FALLOC_FL_ZERO_RANGE where the staging file system lacks it (tmpfs: a
 * cache directory there): the bytes inside the file become a hole, a
 * range past its end extends it (unless FALLOC_FL_KEEP_SIZE). What reads
 * see is the same; only the allocation differs. 0 or -errno.
 */
static int zero_range_by_hole(int fd, int mode, uint64_t off, uint64_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	uint64_t size = (uint64_t)st.st_size, end = off + len;
	if (end < off || end > INT64_MAX)
		return -EFBIG;
	if (off < size &&
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)(MIN(end, size) - off)) < 0)
		return -errno;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size &&
	    ftruncate(fd, (off_t)end) < 0)
		return -errno;
	return 0;
}

int drfs_now_fallocate(struct drfs_now_file *f, int mode, uint64_t off,
		       uint64_t len)
{
	struct drfs_now *n = f->n;
	int e;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
		     FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	pthread_rwlock_rdlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	e = ensure_staged(n, f->of, UINT64_MAX);
	e = e < 0 ? e : mark_written(n, f->of);
	if (e >= 0 && f->of->mem) /* fallocate on the staging file on disk */
		e = now_spill(n, f->of->ino, f->of, false);
	if (e >= 0 && fallocate(f->of->fd, mode, (off_t)off, (off_t)len) < 0)
		e = -errno;
	if (e == -EOPNOTSUPP && (mode & FALLOC_FL_ZERO_RANGE))
		e = zero_range_by_hole(f->of->fd, mode, off, len);
	if (e >= 0) {
		now_ts(&f->of->mtime);
		f->of->ctime = f->of->mtime;
		f->of->meta_dirty = true;
	}
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	return e;
}

int64_t drfs_now_lseek(struct drfs_now_file *f, int64_t off, int whence)
{
	struct drfs_now *n = f->n;
	struct drfs_txn *t;
	struct rec r;
	struct ext_scan s = { 0 };
	int64_t res;
	int e;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	pthread_mutex_lock(&n->lock);
	if (f->of->fd >= 0) {
		res = lseek(f->of->fd, off, whence);
		pthread_mutex_unlock(&n->lock);
		return res < 0 ? -errno : res;
	}
	e = now_txn(n, false, &t);
	if (e >= 0) {
		e = now_rec_get(t, f->of->ino, &r);
		e = e < 0 ? e
			  : now_ext_range(t, f->of->ino, (uint64_t)off,
					  UINT64_MAX, &s);
		drfs_txn_abort(t);
	}
	pthread_mutex_unlock(&n->lock);
	if (e < 0) {
		free(s.v);
		return e;
	}
	if ((uint64_t)off >= r.size) {
		free(s.v);
		return -ENXIO;
	}
	uint64_t pos = (uint64_t)off;
	if (whence == SEEK_DATA) {
		res = s.n ? (int64_t)MAX(pos, s.v[0].off) : -ENXIO;
		if (res >= 0 && (uint64_t)res >= r.size)
			res = -ENXIO;
	} else {
		for (size_t i = 0; i < s.n && s.v[i].off <= pos; i++)
			pos = MAX(pos, s.v[i].off + s.v[i].len);
		res = (int64_t)MIN(pos, r.size);
	}
	free(s.v);
	return res;
}

int drfs_now_fsync(struct drfs_now_file *f, bool datasync)
{
	struct drfs_now *n = f->n;
	int e = 0, fd;
	pthread_mutex_lock(&n->lock);
	if (f->of->mem) /* memory does not survive the daemon */
		e = now_spill(n, f->of->ino, f->of, false);
	fd = f->of->fd >= 0 ? dup(f->of->fd) : -1;
	pthread_mutex_unlock(&n->lock);
	if (fd >= 0) {
		if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
			e = -errno;
		close(fd);
	}
	pthread_mutex_lock(&n->lock);
	e = e < 0 ? e : now_persist_meta(n, f->of);
	pthread_mutex_unlock(&n->lock);
	return e < 0 ? e : now_index_sync(n);
}

/*
 * What the last close of file r does: I_ORPHAN delete it (unlinked while
 * open); I_STAGED drop its staging, because its extents are durable (a
 * flush or a snapshot covered it while it was open, and a close's RELEASE
 * can arrive after that snapshot: nothing else would drop it); 0 nothing.
 */
static uint32_t closed_action(const struct rec *r)
{
	if (r->flags & I_ORPHAN)
		return I_ORPHAN;
	if ((r->flags & (I_STAGED | I_STALE | I_PENDING)) == I_STAGED)
		return I_STAGED;
	return 0;
}

void drfs_now_release(struct drfs_now_file *f)
{
	if (!f)
		return;
	struct drfs_now *n = f->n;
	struct ofile *of = f->of;
	pthread_mutex_lock(&n->lock);
	now_persist_meta(n, of);
	if ((f->flags & O_ACCMODE) != O_RDONLY)
		of->writers--;
	if (--of->refs == 0) {
		uint64_t ino = of->ino;
		now_ofile_unlink(n, of);
		struct drfs_txn *t;
		struct rec r;
		uint32_t act = 0;
		if (now_txn(n, false, &t) == 0) {
			if (now_rec_get(t, ino, &r) == 0)
				act = closed_action(&r);
			drfs_txn_abort(t);
		}
		if (!act)
			now_ino_list_push(&n->stale_q, ino); /* a hint */
		if (act && now_txn(n, true, &t) == 0) {
			bool unl = false;
			int e = now_rec_get(t, ino, &r);
			if (e >= 0 && closed_action(&r) != act)
				e = -EAGAIN; /* nothing to do */
			if (e >= 0 && act == I_ORPHAN) {
				e = now_delete_inode(n, t, &r, &unl);
			} else if (e >= 0) {
				e = now_unstage(t, &r);
				e = e < 0 ? e : now_rec_put(t, &r);
				unl = true;
			}
			if (e >= 0)
				e = now_commit(n, t);
			else
				drfs_txn_abort(t);
			if (e >= 0 && unl)
				now_unlink_staging(n, ino);
		}
		if (n->space_stuck || n->stale_q.n >= WAKE_BATCH) {
			n->space_stuck = false;
			pthread_cond_broadcast(&n->bg_cond);
		}
	}
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_destroy(&f->clock);
	drfs_buf_release(&f->cbuf);
	free(f);
}
