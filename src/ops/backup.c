/* SPDX-License-Identifier: MIT */
/*
 * backup.c - a directory into a snapshot: walk, chunk, dedup, trees.
 *
 * Files whose size, mtime, ctime and inode equal those in the parent
 * snapshot (the newest one of the same host and path) are not read: their
 * extents are taken from the parent's tree. Everything else is read once,
 * data regions only (SEEK_DATA/SEEK_HOLE keep holes as holes), chunked on
 * this thread while the writer's workers compress, encrypt and upload.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/ops.h"

struct bk {
	struct drfs_repo *r;
	struct drfs_writer *w;
	const struct drfs_backup_opts *o;
	uint8_t *win;
	size_t win_cap;
	struct drfs_snapshot *snap;
	uint64_t errors;
	char path[PATH_MAX * 2]; /* for messages only */
};

static void report(struct bk *b, const char *name, int e, const char *what)
{
	b->errors++;
	if (b->o->progress)
		b->o->progress->errors++;
	if (b->o->report)
		b->o->report(b->o->report_data, "\"%s/%s\": %s: %s", b->path,
			     name, what, drfs_strerror(e));
}

struct emit_ctx {
	struct bk *b;
	struct drfs_extent_vec *x;
	bool failed; /* the writer refused a chunk: fatal to the backup */
};

static int emit_chunk(void *ud, const uint8_t *p, size_t len, uint64_t off)
{
	struct emit_ctx *c = ud;
	struct drfs_id id;
	int e = drfs_writer_put_blob(c->b->w, DRFS_BLOB_DATA, p, len, &id);
	if (e > 0 && c->b->o->progress)
		c->b->o->progress->bytes_new += len;
	e = e < 0 ? e : drfs_extent_vec_push(c->x, off, (uint32_t)len, &id);
	c->failed = e < 0;
	return e;
}

/*
 * Read a regular file into extents. Returns 0 or a negative errno: for the
 * file (reported, skipped), or a writer failure, which is fatal to the
 * caller and marked by *fatal.
 */
static int read_file(struct bk *b, int dirfd, const char *name,
		     const struct stat *st, struct drfs_extent_vec *x,
		     uint64_t *size, bool *fatal)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOATIME |
					     O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t end = (uint64_t)st->st_size, last = 0;
	struct emit_ctx ec = { .b = b, .x = x };
	struct drfs_chunk_fd c = {
		.chunker = &b->r->chunker,
		.win = b->win,
		.win_cap = b->win_cap,
		.emit = emit_chunk,
		.ud = &ec,
		.bytes_read = b->o->progress ? &b->o->progress->bytes : NULL,
	};
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	int e = drfs_chunk_fd(&c, fd, end, &last);
	*fatal = e < 0 && ec.failed;
	close(fd);
	*size = MAX(end, last);
	return e;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct xattr_vec {
	struct drfs_xattr *v;
	size_t n;
	char *names;
	uint8_t *values;
};

static void xattr_vec_free(struct xattr_vec *xv)
{
	free(xv->v);
	free(xv->names);
	free(xv->values);
	memset(xv, 0, sizeof(*xv));
}

static int cmp_xattr(const void *a, const void *b)
{
	const struct drfs_xattr *x = a, *y = b;
	return strcmp((const char *)x->name, (const char *)y->name);
}

static int read_xattrs(int dirfd, const char *name, struct xattr_vec *xv)
{
	char p[64 + NAME_MAX];
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	memset(xv, 0, sizeof(*xv));
	ssize_t len = llistxattr(p, NULL, 0);
	if (len <= 0)
		return len < 0 && errno != ENOTSUP && errno != ENODATA ? -errno
									: 0;
	xv->names = malloc((size_t)len + 1);
	if (!xv->names)
		return -ENOMEM;
	len = llistxattr(p, xv->names, (size_t)len);
	if (len < 0) {
		xattr_vec_free(xv);
		return errno == ERANGE ? -EAGAIN : -errno;
	}
	size_t count = 0;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(xv->names + i) + 1)
		count++;
	xv->v = calloc(count ? count : 1, sizeof(*xv->v));
	size_t vcap = 0, vlen = 0;
	if (!xv->v)
		goto nomem;
	/* values into one buffer; pointers fixed up after */
	size_t *offs = calloc(count ? count : 1, sizeof(size_t));
	if (!offs)
		goto nomem;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(xv->names + i) + 1) {
		const char *xn = xv->names + i;
		ssize_t s = lgetxattr(p, xn, NULL, 0);
		if (s < 0)
			continue; /* vanished */
		if ((size_t)s > DRFS_XATTR_VALUE_MAX ||
		    strlen(xn) > DRFS_XATTR_NAME_MAX)
			continue;
		if (vlen + (size_t)s > vcap) {
			vcap = (vlen + (size_t)s) * 2 + 64;
			void *nv = realloc(xv->values, vcap);
			if (!nv) {
				free(offs);
				goto nomem;
			}
			xv->values = nv;
		}
		s = lgetxattr(p, xn, xv->values + vlen, (size_t)s);
		if (s < 0)
			continue;
		xv->v[xv->n].name = (const uint8_t *)xn;
		xv->v[xv->n].name_len = strlen(xn);
		xv->v[xv->n].value_len = (size_t)s;
		offs[xv->n] = vlen;
		vlen += (size_t)s;
		xv->n++;
	}
	for (size_t i = 0; i < xv->n; i++)
		xv->v[i].value = xv->values ? xv->values + offs[i]
					    : (const uint8_t *)"";
	free(offs);
	qsort(xv->v, xv->n, sizeof(*xv->v), cmp_xattr);
	return 0;
nomem:
	xattr_vec_free(xv);
	return -ENOMEM;
}

static bool parent_extents_ok(struct bk *b, struct drfs_node *pn,
			      struct drfs_extent_vec *x)
{
	struct drfs_extent ex;
	int e;
	while ((e = drfs_node_next_extent(pn, &ex)) > 0) {
		if (drfs_repo_blob_find(b->r, &ex.id, NULL, NULL) < 0)
			return false;
		if (drfs_extent_vec_push(x, ex.off, ex.len, &ex.id) < 0)
			return false;
	}
	return e == 0;
}

/*
 * Read-ahead across files. Reading a directory of small files one after
 * another waits for the disk once per file while the compression workers
 * idle; an initial backup ran 12.4 s with a cold page cache against 8 s
 * with a warm one. So ahead of the file being read, the next regular files
 * of the directory get POSIX_FADV_WILLNEED (their first PREFETCH_FILE_MAX
 * bytes; the kernel's sequential read-ahead does the rest), up to
 * PREFETCH_BYTES and PREFETCH_FILES in flight. Only in directories the
 * parent snapshot lacks: there every file is read; in the others most
 * files are unchanged and reading them ahead would be waste.
 */
#define PREFETCH_BYTES (32u << 20)
#define PREFETCH_FILES 64
#define PREFETCH_FILE_MAX (8u << 20)

struct prefetch {
	bool on;
	size_t next;           /* first entry not looked at yet */
	uint64_t bytes;        /* advised ahead of the reader */
	uint64_t len[PREFETCH_FILES]; /* ring: bytes advised per file */
	size_t idx[PREFETCH_FILES];   /* ring: which entry */
	size_t head, n;
};

static void prefetch_ahead(struct prefetch *pf, int dirfd, char **names,
			   size_t n_names, size_t cur)
{
	/* what the reader has reached is no longer ahead */
	while (pf->n && pf->idx[pf->head] <= cur) {
		pf->bytes -= pf->len[pf->head];
		pf->head = (pf->head + 1) % PREFETCH_FILES;
		pf->n--;
	}
	if (pf->next <= cur)
		pf->next = cur + 1;
	while (pf->next < n_names && pf->n < PREFETCH_FILES &&
	       pf->bytes < PREFETCH_BYTES) {
		size_t j = pf->next++;
		if ((unsigned char)names[j][-1] != DT_REG)
			continue; /* never open devices or FIFOs ahead */
		int fl = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
		int fd = openat(dirfd, names[j], fl | O_NOATIME);
		if (fd < 0 && errno == EPERM) /* O_NOATIME: not the owner */
			fd = openat(dirfd, names[j], fl);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size) {
			uint64_t l = MIN((uint64_t)st.st_size,
					 (uint64_t)PREFETCH_FILE_MAX);
			if (posix_fadvise(fd, 0, (off_t)l,
					  POSIX_FADV_WILLNEED) == 0) {
				size_t k = (pf->head + pf->n) % PREFETCH_FILES;
				pf->len[k] = l;
				pf->idx[k] = j;
				pf->n++;
				pf->bytes += l;
			}
		}
		close(fd);
	}
}

static int backup_dir(struct bk *b, int dirfd, const struct drfs_id *parent,
		      struct drfs_id *ret);

static void node_from_stat(struct drfs_node *n, const struct stat *st)
{
	n->mode = st->st_mode;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->mtime = st->st_mtim;
	n->atime = st->st_atim;
	n->ctime = st->st_ctim;
	n->size = (uint64_t)st->st_size;
	n->nlink = (uint32_t)st->st_nlink;
	n->ino = (uint64_t)st->st_ino;
	n->rdev = (uint64_t)st->st_rdev;
}

static int backup_dir(struct bk *b, int dirfd, const struct drfs_id *parent,
		      struct drfs_id *ret)
{
	struct drfs_buf ptree, tree;
	struct drfs_tree_enc enc;
	char **names = NULL;
	size_t n_names = 0, cap = 0;
	struct prefetch pf = { 0 };
	int e = 0;
	size_t plen = strlen(b->path);

	drfs_buf_init(&ptree, DRFS_BLOB_MAX);
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &tree);
	if (parent && drfs_repo_blob_read(b->r, parent, &ptree) < 0)
		drfs_buf_release(&ptree); /* no parent: read everything */

	int dfd = dup(dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		e = -errno;
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n_names == cap) {
			cap = cap ? 2 * cap : 64;
			void *p = realloc(names, cap * sizeof(*names));
			if (!p) {
				e = -ENOMEM;
				break;
			}
			names = p;
		}
		/* the d_type rides in front of the name, for the prefetch */
		size_t l = strlen(de->d_name);
		if (!(names[n_names] = malloc(l + 2))) {
			e = -ENOMEM;
			break;
		}
		names[n_names][0] = (char)de->d_type;
		memcpy(names[n_names] + 1, de->d_name, l + 1);
		names[n_names]++;
		n_names++;
	}
	closedir(d);
	if (e < 0)
		goto out;
	if (n_names)
		qsort(names, n_names, sizeof(*names), cmp_str);
	if (b->o->progress)
		b->o->progress->dirs++;
	b->snap->dirs++;

	/* a directory the parent snapshot does not have is read whole */
	pf.on = !ptree.len;
	for (size_t i = 0; i < n_names; i++) {
		const char *name = names[i];
		struct stat st;
		if (pf.on)
			prefetch_ahead(&pf, dirfd, names, n_names, i);
		struct drfs_node node = { 0 };
		struct drfs_node pn;
		struct drfs_extent_vec x = { 0 };
		struct xattr_vec xv = { 0 };
		char target[DRFS_PATH_MAX + 1];
		bool have_pn = false, fatal = false;

		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			report(b, name, -errno, "cannot stat");
			continue;
		}
		node_from_stat(&node, &st);
		node.name = (const uint8_t *)name;
		node.name_len = strlen(name);
		if (ptree.len)
			have_pn = drfs_tree_find(ptree.p, ptree.len, node.name,
						 node.name_len, &pn) == 0;
		int xe = read_xattrs(dirfd, name, &xv);
		if (xe < 0)
			report(b, name, xe, "cannot read extended attributes");

		switch (st.st_mode & S_IFMT) {
		case S_IFREG:
			b->snap->files++;
			if (b->o->progress)
				b->o->progress->files++;
			if (have_pn && !b->o->no_parent &&
			    S_ISREG(pn.mode) && pn.size == node.size &&
			    pn.ino == node.ino &&
			    pn.mtime.tv_sec == node.mtime.tv_sec &&
			    pn.mtime.tv_nsec == node.mtime.tv_nsec &&
			    pn.ctime.tv_sec == node.ctime.tv_sec &&
			    pn.ctime.tv_nsec == node.ctime.tv_nsec &&
			    parent_extents_ok(b, &pn, &x)) {
				if (b->o->progress)
					b->o->progress->bytes += node.size;
			} else {
				x.n = 0;
				e = read_file(b, dirfd, name, &st, &x,
					      &node.size, &fatal);
				if (e < 0 && fatal)
					goto next;
				if (e < 0) {
					report(b, name, e, "cannot read");
					e = 0;
					goto skip;
				}
			}
			b->snap->bytes += node.size;
			break;
		case S_IFDIR: {
			int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC |
						      O_NOATIME);
			if (sub < 0 && errno == EPERM)
				sub = openat(dirfd, name, O_RDONLY |
							  O_DIRECTORY |
							  O_NOFOLLOW |
							  O_CLOEXEC);
			if (sub < 0) {
				report(b, name, -errno, "cannot open");
				goto skip;
			}
			snprintf(b->path + plen, sizeof(b->path) - plen, "/%s",
				 name);
			bool pdir = have_pn && S_ISDIR(pn.mode);
			e = backup_dir(b, sub, pdir ? &pn.subtree : NULL,
				       &node.subtree);
			b->path[plen] = 0;
			close(sub);
			if (e < 0)
				goto next;
			break;
		}
		case S_IFLNK: {
			ssize_t l = readlinkat(dirfd, name, target,
					       sizeof(target));
			if (l <= 0 || (size_t)l > DRFS_PATH_MAX) {
				report(b, name, l < 0 ? -errno : -ENAMETOOLONG,
				       "cannot read link");
				goto skip;
			}
			node.target = (const uint8_t *)target;
			node.target_len = (size_t)l;
			break;
		}
		default:
			break;
		}
		e = drfs_tree_enc_add(&enc, &node, xv.v, xv.n, x.v, x.n);
		if (e == -EINVAL) {
			report(b, name, e, "cannot be stored");
			e = 0;
		}
	skip:
	next:
		free(x.v);
		xattr_vec_free(&xv);
		if (e < 0)
			goto out;
	}
	if (tree.len == 0) {
		e = drfs_buf_u8(&tree, 1); /* empty directory: version only */
		if (e < 0)
			goto out;
	}
	e = drfs_writer_put_blob(b->w, DRFS_BLOB_TREE, tree.p, tree.len, ret);
	if (e > 0)
		e = 0;
out:
	for (size_t i = 0; i < n_names; i++)
		free(names[i] - 1);
	free(names);
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&ptree);
	drfs_buf_release(&tree);
	return e;
}

/* The tree holding the directory itself as its one entry "root". */
static int backup_root_meta(struct bk *b, int fd, const struct drfs_id *root,
			    struct drfs_id *ret)
{
	struct stat st;
	struct drfs_node n = { 0 };
	struct xattr_vec xv = { 0 };
	struct drfs_buf tree;
	struct drfs_tree_enc enc;
	int e;

	if (fstat(fd, &st) < 0)
		return -errno;
	node_from_stat(&n, &st);
	n.name = (const uint8_t *)"root";
	n.name_len = 4;
	n.subtree = *root;
	e = read_xattrs(fd, ".", &xv);
	if (e < 0)
		report(b, ".", e, "cannot read extended attributes");
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &tree);
	e = drfs_tree_enc_add(&enc, &n, xv.v, xv.n, NULL, 0);
	e = e ?: drfs_writer_put_blob(b->w, DRFS_BLOB_TREE, tree.p, tree.len,
				      ret);
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&tree);
	xattr_vec_free(&xv);
	return e < 0 ? e : 0;
}

static const struct drfs_snap_info *find_parent(struct drfs_snap_info *v,
						size_t n, const char *host,
						const char *path)
{
	for (size_t i = n; i-- > 0;)
		if (!strcmp(v[i].snap.host, host) &&
		    !strcmp(v[i].snap.path, path))
			return &v[i];
	return NULL;
}

int drfs_backup(struct drfs_repo *r, const struct drfs_backup_opts *o,
		struct drfs_backup_result *ret)
{
	struct bk b = { .r = r, .o = o };
	struct drfs_snapshot *snap;
	struct drfs_snap_info *all = NULL;
	size_t n_all = 0;
	char real[PATH_MAX];
	struct drfs_lock *lock = NULL;
	int fd = -1, e;

	snap = calloc(1, sizeof(*snap));
	if (!snap)
		return -ENOMEM;
	b.snap = snap;
	/* a shared lock: prune (exclusive) must not run while we write */
	char why[256] = "";
	e = drfs_lock_acquire(r, false, &lock, why, sizeof(why));
	if (e == -EBUSY && why[0])
		drfs_repo_set_last_error("repository is locked: %s", why);
	else if (e < 0)
		drfs_repo_set_last_error("cannot take a lock: %s",
					 drfs_backend_last_error(r->be)
						 ?: drfs_strerror(e));
	if (e < 0)
		goto out;
	if (!realpath(o->dir, real)) {
		e = -errno;
		goto out;
	}
	fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		goto out;
	}
	if (o->time.tv_sec || o->time.tv_nsec)
		snap->time = o->time;
	else
		clock_gettime(CLOCK_REALTIME, &snap->time);
	if (o->host)
		snprintf(snap->host, sizeof(snap->host), "%s", o->host);
	else
		drfs_hostname(snap->host, sizeof(snap->host));
	snprintf(snap->path, sizeof(snap->path), "%s", real);
	size_t used = 0;
	for (size_t i = 0; i < o->n_tags && i < DRFS_TAGS_MAX; i++) {
		size_t l = strlen(o->tags[i]);
		if (l == 0 || l > DRFS_TAG_MAX || used + l + 1 > DRFS_TAGS_BUF) {
			e = -EINVAL;
			goto out;
		}
		memcpy(snap->tags + used, o->tags[i], l + 1);
		used += l + 1;
		snap->n_tags++;
	}
	e = drfs_repo_snapshots(r, &all, &n_all);
	if (e < 0)
		goto out;
	const struct drfs_snap_info *parent =
		o->no_parent ? NULL : find_parent(all, n_all, snap->host, real);
	if (parent)
		snap->parent = parent->id;
	b.win_cap = 2 * (size_t)r->config.chunker.max;
	b.win = malloc(b.win_cap);
	if (!b.win) {
		e = -ENOMEM;
		goto out;
	}
	e = drfs_writer_new(r, &b.w);
	if (e < 0)
		goto out;
	e = backup_dir(&b, fd, parent ? &parent->snap.root : NULL, &snap->root);
	e = e ?: backup_root_meta(&b, fd, &snap->root, &snap->meta);
	e = e ?: drfs_writer_flush(b.w);
	if (e < 0) {
		if (drfs_writer_error(b.w))
			drfs_repo_set_last_error("%s", drfs_writer_error(b.w));
		goto out;
	}
	struct drfs_writer_stats ws;
	drfs_writer_get_stats(b.w, &ws);
	snap->added_bytes = ws.bytes_stored;
	snap->added_blobs = ws.blobs_new;
	e = drfs_repo_snapshot_write(r, snap, &ret->id);
	if (e < 0)
		goto out;
	ret->snap = *snap;
	ret->errors = b.errors;
	memcpy(ret->folder, snap->name, sizeof(ret->folder));
out:
	drfs_writer_free(b.w);
	drfs_lock_release(lock);
	free(b.win);
	free(all);
	free(snap);
	if (fd >= 0)
		close(fd);
	return e;
}
