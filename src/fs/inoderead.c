/* SPDX-License-Identifier: MIT */
/*
 * inoderead.c - reading the inode model inode.c materialises into LMDB: a
 * name looked up in a directory, a directory listed from an index, a
 * file's extents, an inode's xattrs, an inode's path (for messages). Each
 * in one short read transaction.
 */
#include <stdio.h>

#include "inodeint.h"

int fs_dir_lookup(struct fs *fs, uint64_t dir, const char *name,
		  uint64_t *ret_ino)
{
	uint8_t k[9 + DRFS_NAME_MAX], v[9];
	size_t nl = strlen(name);
	_cleanup_txn_ struct drfs_txn *t = NULL;
	int r;

	if (nl == 0 || nl > DRFS_NAME_MAX)
		return nl ? -ENAMETOOLONG : -ENOENT;
	size_t kl = key_ino(k, 'n', dir);
	memcpy(k + kl, name, nl);
	r = drfs_txn_begin(fs->repo->index, false, &t);
	if (r < 0)
		return r;
	r = drfs_kv_get_fixed(t, DRFS_DB_DIRENTS, k, kl + nl, v, sizeof(v));
	if (r < 0)
		return r == -E2BIG ? -EBADMSG : r;
	if (r != 9)
		return -EBADMSG;
	*ret_ino = get_be64(v);
	return 0;
}

struct list_ctx {
	uint64_t dir;
	fs_dirent_cb cb;
	void *userdata;
};

static int list_cb(const void *key, size_t klen, const void *val,
		   size_t vlen, void *userdata)
{
	struct list_ctx *c = userdata;
	const uint8_t *k = key, *v = val;
	char name[DRFS_NAME_MAX + 1];

	if (klen != 12 || get_be64(k) != c->dir)
		return 1;
	if (vlen < 10 || vlen > 9 + DRFS_NAME_MAX)
		return -EBADMSG;
	memcpy(name, v + 9, vlen - 9);
	name[vlen - 9] = 0;
	return c->cb(get_be32(k + 8), get_be64(v), v[8], name, c->userdata);
}

int fs_dir_list(struct fs *fs, uint64_t dir, uint32_t idx, fs_dirent_cb cb,
		void *userdata)
{
	uint8_t k[12];
	struct list_ctx c = { dir, cb, userdata };
	_cleanup_txn_ struct drfs_txn *t = NULL;
	int r;

	put_be64(k, dir);
	put_be32(k + 8, idx);
	r = drfs_txn_begin(fs->repo->index, false, &t);
	if (r < 0)
		return r;
	return drfs_kv_scan(t, DRFS_DB_FS_ORDER, k, sizeof(k), list_cb, &c);
}

struct ext_ctx {
	uint64_t ino;
	struct fs_extent *out;
	int max, n;
};

static int ext_cb(const void *key, size_t klen, const void *val, size_t vlen,
		  void *userdata)
{
	struct ext_ctx *c = userdata;
	const uint8_t *k = key, *v = val;

	if (klen != 16 || get_be64(k) != c->ino)
		return 1;
	if (vlen != EXT_VAL_LEN)
		return -EBADMSG;
	struct fs_extent *e = &c->out[c->n++];
	e->off = drfs_get_le64(v);
	e->len = drfs_get_le32(v + 8);
	memcpy(e->id.b, v + 12, DRFS_ID_LEN);
	return c->n == c->max ? 1 : 0;
}

int fs_extents_from(struct fs *fs, uint64_t ino, uint64_t off,
		    struct fs_extent *out, int max)
{
	uint8_t k[16];
	struct ext_ctx c = { ino, out, max, 0 };
	_cleanup_txn_ struct drfs_txn *t = NULL;
	int r;

	if (max <= 0)
		return 0;
	put_be64(k, ino);
	put_be64(k + 8, off + 1); /* first extent whose end > off */
	r = drfs_txn_begin(fs->repo->index, false, &t);
	if (r < 0)
		return r;
	r = drfs_kv_scan(t, DRFS_DB_FS_EXTENTS, k, sizeof(k), ext_cb, &c);
	return r < 0 ? r : c.n;
}

int fs_xattr_get(struct fs *fs, uint64_t ino, const char *name, void *out,
		 size_t max)
{
	uint8_t k[9 + DRFS_XATTR_NAME_MAX];
	size_t nl = strlen(name);
	_cleanup_txn_ struct drfs_txn *t = NULL;
	_cleanup_(buf_releasep) struct drfs_buf v = { 0 };
	int r;

	if (nl == 0 || nl > DRFS_XATTR_NAME_MAX)
		return -ENODATA;
	size_t kl = key_ino(k, 'x', ino);
	memcpy(k + kl, name, nl);
	drfs_buf_init(&v, DRFS_XATTR_VALUE_MAX);
	r = drfs_txn_begin(fs->repo->index, false, &t);
	if (r < 0)
		return r;
	r = drfs_kv_get(t, DRFS_DB_INODES, k, kl + nl, &v);
	if (r < 0)
		return r == -ENOENT ? -ENODATA : r;
	if (out) {
		if (v.len > max)
			return -ERANGE;
		if (v.len)
			memcpy(out, v.p, v.len);
	}
	return (int)v.len;
}

struct xl_ctx {
	uint64_t ino;
	char *out;
	size_t max, len;
};

static int xl_cb(const void *key, size_t klen, const void *val, size_t vlen,
		 void *userdata)
{
	struct xl_ctx *c = userdata;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;

	if (klen < 10 || k[0] != 'x' || get_be64(k + 1) != c->ino)
		return 1;
	size_t nl = klen - 9;
	if (c->out) {
		if (c->len + nl + 1 > c->max)
			return -ERANGE;
		memcpy(c->out + c->len, k + 9, nl);
		c->out[c->len + nl] = 0;
	}
	c->len += nl + 1;
	return 0;
}

int fs_xattr_list(struct fs *fs, uint64_t ino, char *out, size_t max)
{
	uint8_t k[9];
	struct xl_ctx c = { ino, out, max, 0 };
	_cleanup_txn_ struct drfs_txn *t = NULL;
	int r;

	key_ino(k, 'x', ino);
	r = drfs_txn_begin(fs->repo->index, false, &t);
	if (r < 0)
		return r;
	r = drfs_kv_scan(t, DRFS_DB_INODES, k, sizeof(k), xl_cb, &c);
	if (r < 0)
		return r;
	return (int)c.len;
}

void fs_inode_path(struct fs *fs, uint64_t ino, char *out, size_t max)
{
	char tmp[DRFS_PATH_MAX + 1];
	size_t pos = sizeof(tmp) - 1;
	struct fs_inode in;

	tmp[pos] = 0;
	for (int depth = 0; depth < 512; depth++) {
		if (fs_inode_get(fs, ino, &in) < 0)
			break;
		if (pos < (size_t)in.name_len + 1)
			break;
		pos -= in.name_len;
		memcpy(tmp + pos, in.name, in.name_len);
		if (in.flags & FS_I_ROOT) {
			snprintf(out, max, "%s", tmp + pos);
			return;
		}
		tmp[--pos] = '/';
		ino = in.parent;
	}
	snprintf(out, max, "inode %llu", (unsigned long long)ino);
}
