/* SPDX-License-Identifier: MIT */
/*
 * tree.c - tree blobs: one directory listing, entries sorted by name.
 *
 * Entry: bytes name | uvarint mode | uvarint uid | uvarint gid |
 *   svarint mtime.sec | uvarint mtime.nsec | (same for atime, ctime) |
 *   uvarint size | uvarint nlink | uvarint ino | type-specific |
 *   uvarint n_xattrs | n x (bytes name | bytes value)
 * type-specific: symlink: bytes target; char/block device: uvarint rdev;
 *   directory: subtree id[32]; regular file: uvarint n | n x (uvarint gap
 *   from the previous extent's end | uvarint len | id[32]); others: nothing.
 */
#include "drfs/format.h"
#include "drfs/limits.h"

#define TREE_VERSION 1

static bool name_ok(const uint8_t *n, size_t len)
{
	if (len == 0 || len > DRFS_NAME_MAX)
		return false;
	if (memchr(n, '/', len) || memchr(n, 0, len))
		return false;
	if ((len == 1 && n[0] == '.') || (len == 2 && n[0] == '.' && n[1] == '.'))
		return false;
	return true;
}

static int name_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, MIN(al, bl));
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static bool mode_ok(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return (mode & ~(S_IFMT | 07777)) == 0;
	default:
		return false;
	}
}

void drfs_tree_enc_init(struct drfs_tree_enc *e, struct drfs_buf *out)
{
	e->out = out;
	drfs_buf_init(&e->last_name, DRFS_NAME_MAX);
	e->count = 0;
}

void drfs_tree_enc_release(struct drfs_tree_enc *e)
{
	drfs_buf_release(&e->last_name);
}

static int put_time(struct drfs_buf *b, const struct timespec *t)
{
	int r = drfs_buf_svarint(b, t->tv_sec);
	return r ?: drfs_buf_uvarint(b, (uint64_t)t->tv_nsec);
}

int drfs_tree_enc_add(struct drfs_tree_enc *e, const struct drfs_node *n,
		      const struct drfs_xattr *xattrs, size_t n_xattrs,
		      const struct drfs_extent *extents, size_t n_extents)
{
	struct drfs_buf *b = e->out;
	size_t old = b->len;
	int r = 0;

	if (!name_ok(n->name, n->name_len) || !mode_ok(n->mode))
		return -EINVAL;
	if (e->count && name_cmp(e->last_name.p, e->last_name.len, n->name,
				 n->name_len) >= 0)
		return -EINVAL;
	if (n->mtime.tv_nsec < 0 || n->mtime.tv_nsec >= 1000000000 ||
	    n->atime.tv_nsec < 0 || n->atime.tv_nsec >= 1000000000 ||
	    n->ctime.tv_nsec < 0 || n->ctime.tv_nsec >= 1000000000)
		return -EINVAL;
	if (n_xattrs > DRFS_XATTRS_MAX)
		return -EINVAL;
	if (e->count == 0 && b->len == 0)
		r = drfs_buf_u8(b, TREE_VERSION);
	r = r ?: drfs_buf_bytes(b, n->name, n->name_len);
	r = r ?: drfs_buf_uvarint(b, n->mode);
	r = r ?: drfs_buf_uvarint(b, n->uid);
	r = r ?: drfs_buf_uvarint(b, n->gid);
	r = r ?: put_time(b, &n->mtime);
	r = r ?: put_time(b, &n->atime);
	r = r ?: put_time(b, &n->ctime);
	r = r ?: drfs_buf_uvarint(b, n->size);
	r = r ?: drfs_buf_uvarint(b, n->nlink);
	r = r ?: drfs_buf_uvarint(b, n->ino);
	switch (n->mode & S_IFMT) {
	case S_IFLNK:
		if (n->target_len == 0 || n->target_len > DRFS_PATH_MAX)
			r = r ?: -EINVAL;
		r = r ?: drfs_buf_bytes(b, n->target, n->target_len);
		break;
	case S_IFCHR:
	case S_IFBLK:
		r = r ?: drfs_buf_uvarint(b, n->rdev);
		break;
	case S_IFDIR:
		r = r ?: drfs_buf_append(b, n->subtree.b, DRFS_ID_LEN);
		break;
	case S_IFREG: {
		uint64_t end = 0;
		r = r ?: drfs_buf_uvarint(b, n_extents);
		for (size_t i = 0; r >= 0 && i < n_extents; i++) {
			const struct drfs_extent *x = &extents[i];
			if (x->off < end || x->len == 0 ||
			    x->len > DRFS_BLOB_MAX || x->off + x->len > n->size) {
				r = -EINVAL;
				break;
			}
			r = r ?: drfs_buf_uvarint(b, x->off - end);
			r = r ?: drfs_buf_uvarint(b, x->len);
			r = r ?: drfs_buf_append(b, x->id.b, DRFS_ID_LEN);
			end = x->off + x->len;
		}
		break;
	}
	default:
		break;
	}
	r = r ?: drfs_buf_uvarint(b, n_xattrs);
	for (size_t i = 0; r >= 0 && i < n_xattrs; i++) {
		const struct drfs_xattr *x = &xattrs[i];
		if (x->name_len == 0 || x->name_len > DRFS_XATTR_NAME_MAX ||
		    x->value_len > DRFS_XATTR_VALUE_MAX) {
			r = -EINVAL;
			break;
		}
		r = r ?: drfs_buf_bytes(b, x->name, x->name_len);
		r = r ?: drfs_buf_bytes(b, x->value, x->value_len);
	}
	if (r >= 0) {
		drfs_buf_reset(&e->last_name);
		r = drfs_buf_append(&e->last_name, n->name, n->name_len);
	}
	if (r < 0) {
		b->len = old;
		return r;
	}
	e->count++;
	return 0;
}

int drfs_tree_iter_init(struct drfs_tree_iter *it, const void *p, size_t len)
{
	drfs_rd_init(&it->rd, p, len);
	it->last_name = NULL;
	it->last_name_len = 0;
	it->first = true;
	if (len == 0)
		return -EBADMSG;
	if (drfs_rd_u8(&it->rd) != TREE_VERSION)
		return -EBADMSG;
	return 0;
}

static void get_time(struct drfs_rd *rd, struct timespec *t)
{
	t->tv_sec = drfs_rd_svarint(rd);
	uint64_t ns = drfs_rd_uvarint(rd);
	if (ns >= 1000000000)
		rd->err = -EBADMSG;
	t->tv_nsec = (long)ns;
}

static uint32_t get_u32(struct drfs_rd *rd)
{
	uint64_t v = drfs_rd_uvarint(rd);
	if (v > UINT32_MAX)
		rd->err = -EBADMSG;
	return (uint32_t)v;
}

int drfs_tree_iter_next_any(struct drfs_tree_iter *it, struct drfs_node *ret)
{
	struct drfs_rd *rd = &it->rd;
	struct drfs_node n;

	if (rd->err)
		return rd->err;
	if (drfs_rd_left(rd) == 0)
		return 0;
	memset(&n, 0, sizeof(n));
	/* a bad name is still read (up to DRFS_PATH_MAX) so it can be named */
	n.name = drfs_rd_bytes(rd, DRFS_PATH_MAX, &n.name_len);
	if (rd->err)
		goto bad;
	if (!n.name)
		n.name = (const uint8_t *)"";
	bool name_bad = !name_ok(n.name, n.name_len);
	if (!it->first && name_cmp(it->last_name, it->last_name_len, n.name,
				   n.name_len) >= 0)
		goto bad;
	n.mode = get_u32(rd);
	n.uid = get_u32(rd);
	n.gid = get_u32(rd);
	get_time(rd, &n.mtime);
	get_time(rd, &n.atime);
	get_time(rd, &n.ctime);
	n.size = drfs_rd_uvarint(rd);
	n.nlink = get_u32(rd);
	n.ino = drfs_rd_uvarint(rd);
	if (rd->err || !mode_ok(n.mode))
		goto bad;
	switch (n.mode & S_IFMT) {
	case S_IFLNK:
		n.target = drfs_rd_bytes(rd, DRFS_PATH_MAX, &n.target_len);
		if (!n.target || n.target_len == 0)
			goto bad;
		break;
	case S_IFCHR:
	case S_IFBLK:
		n.rdev = drfs_rd_uvarint(rd);
		break;
	case S_IFDIR:
		drfs_rd_copy(rd, n.subtree.b, DRFS_ID_LEN);
		break;
	case S_IFREG: {
		uint64_t cnt = drfs_rd_uvarint(rd), end = 0;
		if (cnt > drfs_rd_left(rd) / (2 + DRFS_ID_LEN))
			goto bad;
		n.n_extents = (uint32_t)cnt;
		drfs_rd_init(&n.extent_rd, rd->p + rd->off, drfs_rd_left(rd));
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t gap = drfs_rd_uvarint(rd);
			uint64_t len = drfs_rd_uvarint(rd);
			if (drfs_rd_raw(rd, DRFS_ID_LEN) == NULL)
				goto bad;
			if (len == 0 || len > DRFS_BLOB_MAX ||
			    gap > n.size || end > n.size - gap ||
			    len > n.size - end - gap)
				goto bad;
			end += gap + len;
		}
		n.extent_rd.len = rd->off - (size_t)(n.extent_rd.p - rd->p);
		break;
	}
	default:
		break;
	}
	uint64_t nx = drfs_rd_uvarint(rd);
	if (rd->err || nx > DRFS_XATTRS_MAX)
		goto bad;
	n.n_xattrs = (uint32_t)nx;
	drfs_rd_init(&n.xattr_rd, rd->p + rd->off, drfs_rd_left(rd));
	for (uint64_t i = 0; i < nx; i++) {
		size_t l1, l2;
		if (!drfs_rd_bytes(rd, DRFS_XATTR_NAME_MAX, &l1) || l1 == 0)
			goto bad;
		if (!drfs_rd_bytes(rd, DRFS_XATTR_VALUE_MAX, &l2) &&
		    drfs_rd_err(rd))
			goto bad;
	}
	n.xattr_rd.len = rd->off - (size_t)(n.xattr_rd.p - rd->p);
	if (rd->err)
		goto bad;
	it->first = false;
	it->last_name = n.name;
	it->last_name_len = n.name_len;
	*ret = n;
	return name_bad ? DRFS_TREE_BAD_NAME : 1;
bad:
	rd->err = -EBADMSG;
	return -EBADMSG;
}

int drfs_tree_iter_next(struct drfs_tree_iter *it, struct drfs_node *ret)
{
	struct drfs_node n;
	int r = drfs_tree_iter_next_any(it, &n);
	if (r == DRFS_TREE_BAD_NAME) {
		it->rd.err = -EBADMSG;
		return -EBADMSG;
	}
	if (r > 0)
		*ret = n;
	return r;
}

bool drfs_name_ok(const uint8_t *name, size_t len)
{
	return name_ok(name, len);
}

int drfs_node_next_xattr(struct drfs_node *n, struct drfs_xattr *ret)
{
	if (drfs_rd_left(&n->xattr_rd) == 0)
		return 0;
	ret->name = drfs_rd_bytes(&n->xattr_rd, DRFS_XATTR_NAME_MAX,
				  &ret->name_len);
	ret->value_len = 0;
	ret->value = drfs_rd_bytes(&n->xattr_rd, DRFS_XATTR_VALUE_MAX,
				   &ret->value_len);
	if (drfs_rd_err(&n->xattr_rd))
		return -EBADMSG;
	if (!ret->value)
		ret->value = (const uint8_t *)"";
	return 1;
}

int drfs_node_next_extent(struct drfs_node *n, struct drfs_extent *ret)
{
	struct drfs_rd *rd = &n->extent_rd;
	if (drfs_rd_left(rd) == 0)
		return 0;
	uint64_t gap = drfs_rd_uvarint(rd);
	uint64_t len = drfs_rd_uvarint(rd);
	drfs_rd_copy(rd, ret->id.b, DRFS_ID_LEN);
	if (drfs_rd_err(rd))
		return -EBADMSG;
	ret->off = n->extent_end + gap;
	n->extent_end = ret->off + len;
	ret->len = (uint32_t)len;
	return 1;
}

int drfs_tree_find(const void *p, size_t len, const uint8_t *name,
		   size_t name_len, struct drfs_node *ret)
{
	struct drfs_tree_iter it;
	struct drfs_node n;
	int r = drfs_tree_iter_init(&it, p, len);
	if (r < 0)
		return r;
	while ((r = drfs_tree_iter_next(&it, &n)) > 0) {
		int c = name_cmp(n.name, n.name_len, name, name_len);
		if (c == 0) {
			*ret = n;
			return 0;
		}
		if (c > 0)
			return -ENOENT;
	}
	return r < 0 ? r : -ENOENT;
}

int drfs_extent_vec_push(struct drfs_extent_vec *x, uint64_t off,
			 uint32_t len, const struct drfs_id *id)
{
	if (drfs_grow(&x->v, &x->cap, x->n, sizeof(*x->v), 16) < 0)
		return -ENOMEM;
	x->v[x->n++] = (struct drfs_extent){ .off = off, .len = len, .id = *id };
	return 0;
}

/* ---- walks ------------------------------------------------------------- */

/*
 * A level keeps its blob's memory for the next tree at its depth, unless
 * that is more than this: a walk then holds at most one large directory
 * per level of its path, as the recursion it replaces did.
 */
#define LEVEL_KEEP_MAX (1u << 20)

void drfs_tree_walk_init(struct drfs_tree_walk *w, drfs_blob_read_fn read,
			 void *read_data)
{
	drfs_stack_init(&w->levels, sizeof(struct drfs_tree_level));
	w->read = read;
	w->read_data = read_data;
}

static void level_release(void *frame)
{
	struct drfs_tree_level *l = frame;
	drfs_buf_release(&l->blob);
}

void drfs_tree_walk_release(struct drfs_tree_walk *w)
{
	drfs_stack_release(&w->levels, level_release);
}

int drfs_tree_walk_push(struct drfs_tree_walk *w, const struct drfs_id *id)
{
	const struct drfs_id tid = *id; /* id may point into the next level */
	struct drfs_tree_level *l = drfs_stack_next(&w->levels);
	if (!l)
		return -ENOMEM;
	if (!l->blob.max)
		drfs_buf_init(&l->blob, DRFS_BLOB_MAX);
	drfs_buf_reset(&l->blob);
	int e = w->read(w->read_data, &tid, &l->blob);
	e = e < 0 ? e : drfs_tree_iter_init(&l->it, l->blob.p, l->blob.len);
	if (e < 0)
		return e;
	l->id = tid;
	l->user = 0;
	memset(&l->node, 0, sizeof(l->node));
	w->levels.depth++;
	return 0;
}

int drfs_tree_walk_next(struct drfs_tree_walk *w, struct drfs_node **ret)
{
	struct drfs_tree_level *l = drfs_tree_walk_top(w);
	*ret = &l->node;
	return drfs_tree_iter_next(&l->it, &l->node);
}

void drfs_tree_walk_pop(struct drfs_tree_walk *w)
{
	struct drfs_tree_level *l = drfs_tree_walk_top(w);
	w->levels.depth--;
	if (l->blob.cap > LEVEL_KEEP_MAX)
		drfs_buf_release(&l->blob);
}

size_t drfs_walk_path_add(char *path, size_t size, size_t at,
			  const uint8_t *name, size_t name_len)
{
	if (at & DRFS_WALK_PATH_CUT)
		return at;
	if (at + 1 + name_len + 4 < size) {
		path[at] = '/';
		memcpy(path + at + 1, name, name_len);
		path[at + 1 + name_len] = 0;
		return at + 1 + name_len;
	}
	memcpy(path + at, "/...", 5);
	return (at + 4) | DRFS_WALK_PATH_CUT;
}
