/* SPDX-License-Identifier: MIT */
/*
 * backupfile.c - what backup reads of one entry: a file's data regions
 * through the chunker into the writer, its extended attributes, its
 * extents taken from the parent snapshot, and read-ahead across files.
 */
#include "backupint.h"

struct emit_ctx {
	struct bk *b;
	struct drfs_extent_vec *x;
	bool failed; /* the writer refused a chunk: fatal to the backup */
};

static int emit_chunk(void *ud, const uint8_t *p, size_t len, uint64_t off)
{
	struct emit_ctx *c = ud;
	struct drfs_id id;
	int e = bk_put(c->b, DRFS_BLOB_DATA, p, len, &id);
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
int bk_read_file(struct bk *b, int dirfd, const char *name,
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

int bk_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}


void bk_xattr_vec_free(struct xattr_vec *xv)
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

int bk_read_xattrs(int dirfd, const char *name, struct xattr_vec *xv)
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
		bk_xattr_vec_free(xv);
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
	bk_xattr_vec_free(xv);
	return -ENOMEM;
}

bool bk_parent_extents_ok(struct bk *b, struct drfs_node *pn,
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

void bk_prefetch_ahead(struct bk *b, struct bk_dir *d,
		       struct prefetch *pf, int dirfd, char **names,
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
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size &&
		    bk_excluded(b, d, names[j], &st) == 0) {
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

void bk_node_from_stat(struct drfs_node *n, const struct stat *st)
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
