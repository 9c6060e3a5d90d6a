/* SPDX-License-Identifier: MIT */
/*
 * attrs.c - attributes and extended attributes (ACLs included). nowint.h has
 * the layout and the locks.
 */
#include "nowint.h"

/* ---- attributes and xattrs --------------------------------------------- */

/*
 * POSIX ACLs as the kernel passes them (system.posix_acl_access): le32
 * version 2, then entries le16 tag | le16 perm | le32 id. Like a local file
 * system, now/ keeps the mode's permission bits and the access ACL in step.
 */
#define ACL_XATTR "system.posix_acl_access"
#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP 0x08
#define ACL_MASK 0x10
#define ACL_OTHER 0x20

/* Mode bits an access ACL implies: 0 and *minimal; -EINVAL if malformed. */
static int acl_mode(const uint8_t *p, size_t len, uint32_t *mode,
		    bool *minimal)
{
	int u = -1, g = -1, m = -1, o = -1;
	*minimal = true;
	if (len < 4 || (len - 4) % 8 || drfs_get_le32(p) != 2)
		return -EINVAL;
	for (size_t i = 4; i < len; i += 8) {
		int tag = drfs_get_le16(p + i), perm = drfs_get_le16(p + i + 2);
		if (perm & ~7)
			return -EINVAL;
		switch (tag) {
		case ACL_USER_OBJ: u = perm; break;
		case ACL_GROUP_OBJ: g = perm; break;
		case ACL_MASK: m = perm; *minimal = false; break;
		case ACL_OTHER: o = perm; break;
		case ACL_USER:
		case ACL_GROUP: *minimal = false; break;
		default: return -EINVAL;
		}
	}
	if (u < 0 || g < 0 || o < 0)
		return -EINVAL;
	*mode = (*mode & ~0777u) | (uint32_t)u << 6 |
		(uint32_t)(m >= 0 ? m : g) << 3 | (uint32_t)o;
	return 0;
}

/* After a chmod: the access ACL's owner, mask (or group) and other. */
static int acl_chmod(struct drfs_txn *t, uint64_t ino, uint32_t mode)
{
	uint8_t k[8 + sizeof(ACL_XATTR)];
	struct drfs_buf v;
	now_put_be64(k, ino);
	memcpy(k + 8, ACL_XATTR, sizeof(ACL_XATTR) - 1);
	drfs_buf_init(&v, DRFS_XATTR_VALUE_MAX);
	int e = drfs_kv_get(t, DRFS_DB_NOW_XATTRS, k, sizeof(k) - 1, &v);
	if (e == -ENOENT) {
		drfs_buf_release(&v);
		return 0;
	}
	bool has_mask = false;
	for (size_t i = 4; e >= 0 && i + 8 <= v.len; i += 8)
		has_mask |= drfs_get_le16(v.p + i) == ACL_MASK;
	for (size_t i = 4; e >= 0 && i + 8 <= v.len; i += 8) {
		int tag = drfs_get_le16(v.p + i);
		if (tag == ACL_USER_OBJ)
			drfs_put_le16(v.p + i + 2, (mode >> 6) & 7);
		else if (tag == ACL_MASK ||
			 (tag == ACL_GROUP_OBJ && !has_mask))
			drfs_put_le16(v.p + i + 2, (mode >> 3) & 7);
		else if (tag == ACL_OTHER)
			drfs_put_le16(v.p + i + 2, mode & 7);
	}
	if (e >= 0)
		e = drfs_kv_put(t, DRFS_DB_NOW_XATTRS, k, sizeof(k) - 1, v.p,
				v.len);
	drfs_buf_release(&v);
	return e;
}

int drfs_now_setattr(struct drfs_now *n, uint64_t ino, const struct stat *st,
		     unsigned int which, struct stat *ret)
{
	struct drfs_txn *t = NULL;
	struct rec r;
	struct timespec now;
	int e;

	pthread_rwlock_rdlock(&n->freeze);
	pthread_mutex_lock(&n->lock);
	e = now_txn(n, false, &t);
	if (e >= 0) {
		e = now_rec_get(t, ino, &r);
		drfs_txn_abort(t);
		t = NULL;
	}
	if (e < 0)
		goto out;
	if (which & DRFS_NOW_SET_SIZE) {
		struct ofile *of;
		if (S_ISDIR(r.mode)) {
			e = -EISDIR;
			goto out;
		}
		if (!S_ISREG(r.mode)) {
			e = -EINVAL;
			goto out;
		}
		if (st->st_size < 0) {
			e = -EINVAL;
			goto out;
		}
		e = now_ofile_get(n, &r, &of);
		if (e < 0)
			goto out;
		e = now_truncate_locked(n, of, (uint64_t)st->st_size);
		if (--of->refs == 0)
			now_ofile_unlink(n, of);
		if (e < 0)
			goto out;
	}
	struct ofile *of = now_ofile_find(n, ino);
	if (of) {
		e = now_persist_meta(n, of);
		if (e < 0)
			goto out;
	}
	e = now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, ino, &r);
	if (e < 0)
		goto out;
	now_ts(&now);
	if (which & DRFS_NOW_SET_MODE) {
		r.mode = (r.mode & S_IFMT) | (st->st_mode & 07777);
		e = acl_chmod(t, ino, r.mode);
		if (e < 0)
			goto out;
	}
	if (which & DRFS_NOW_SET_UID)
		r.uid = st->st_uid;
	if (which & DRFS_NOW_SET_GID)
		r.gid = st->st_gid;
	if (which & DRFS_NOW_SET_ATIME)
		r.atime = st->st_atim;
	if (which & DRFS_NOW_SET_MTIME)
		r.mtime = st->st_mtim;
	r.ctime = (which & DRFS_NOW_SET_CTIME) ? st->st_ctim : now;
	e = now_rec_put(t, &r);
	e = e < 0 ? e : now_mark_dirty(n, t, ino);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	if (e >= 0 && ret)
		now_rec_stat(n, &r, ret);
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&n->freeze);
	return e;
}

int drfs_now_setxattr(struct drfs_now *n, uint64_t ino, const char *name,
		      const void *value, size_t len, int flags)
{
	struct drfs_txn *t = NULL;
	struct rec r;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	size_t nl = strlen(name);
	uint64_t count;
	int e;

	if (nl == 0 || nl > DRFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (len > DRFS_XATTR_VALUE_MAX)
		return -E2BIG;
	now_put_be64(k, ino);
	memcpy(k + 8, name, nl);
	pthread_mutex_lock(&n->lock);
	e = now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, ino, &r);
	if (e < 0)
		goto out;
	struct drfs_buf old;
	drfs_buf_init(&old, DRFS_XATTR_VALUE_MAX);
	e = drfs_kv_get(t, DRFS_DB_NOW_XATTRS, k, 8 + nl, &old);
	drfs_buf_release(&old);
	if (e == 0 && (flags & XATTR_CREATE)) {
		e = -EEXIST;
		goto out;
	}
	if (e == -ENOENT && (flags & XATTR_REPLACE)) {
		e = -ENODATA;
		goto out;
	}
	if (e == -ENOENT) {
		struct drfs_buf names;
		drfs_buf_init(&names, 1u << 30);
		e = now_xattr_names(t, ino, &names);
		count = 0;
		for (size_t i = 0; i < names.len; i++)
			count += names.p[i] == 0;
		drfs_buf_release(&names);
		if (e >= 0 && count >= DRFS_XATTRS_MAX)
			e = -ENOSPC;
	}
	if (e < 0)
		goto out;
	bool minimal = false;
	if (!strcmp(name, ACL_XATTR)) {
		e = acl_mode(value, len, &r.mode, &minimal);
		if (e < 0)
			goto out;
	}
	if (minimal) {
		/* equivalent to the mode: not stored, as on a local disk */
		e = drfs_kv_del(t, DRFS_DB_NOW_XATTRS, k, 8 + nl);
		if (e == -ENOENT)
			e = 0;
	} else {
		e = drfs_kv_put(t, DRFS_DB_NOW_XATTRS, k, 8 + nl, value, len);
	}
	now_ts(&r.ctime);
	e = e < 0 ? e : now_rec_put(t, &r);
	e = e < 0 ? e : now_mark_dirty(n, t, ino);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
out:
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int drfs_now_getxattr(struct drfs_now *n, uint64_t ino, const char *name,
		      void *out, size_t max)
{
	struct drfs_txn *t;
	struct drfs_buf v;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	size_t nl = strlen(name);
	if (nl == 0 || nl > DRFS_XATTR_NAME_MAX)
		return -ENODATA;
	now_put_be64(k, ino);
	memcpy(k + 8, name, nl);
	drfs_buf_init(&v, DRFS_XATTR_VALUE_MAX);
	int e = now_txn(n, false, &t);
	if (e >= 0) {
		struct rec r;
		e = now_rec_get(t, ino, &r);
		e = e < 0 ? e : drfs_kv_get(t, DRFS_DB_NOW_XATTRS, k, 8 + nl,
					    &v);
		drfs_txn_abort(t);
	}
	if (e == -ENOENT)
		e = -ENODATA;
	if (e >= 0) {
		e = (int)v.len;
		if (out && max < v.len)
			e = -ERANGE;
		else if (out && v.len)
			memcpy(out, v.p, v.len);
	}
	drfs_buf_release(&v);
	return e;
}

int drfs_now_listxattr(struct drfs_now *n, uint64_t ino, char *out,
		       size_t max)
{
	struct drfs_txn *t;
	struct drfs_buf names;
	drfs_buf_init(&names, 1u << 30);
	int e = now_txn(n, false, &t);
	if (e >= 0) {
		e = now_xattr_names(t, ino, &names);
		drfs_txn_abort(t);
	}
	if (e >= 0) {
		e = (int)names.len;
		if (out && max < names.len)
			e = -ERANGE;
		else if (out && names.len)
			memcpy(out, names.p, names.len);
	}
	drfs_buf_release(&names);
	return e;
}

int drfs_now_removexattr(struct drfs_now *n, uint64_t ino, const char *name)
{
	struct drfs_txn *t = NULL;
	struct rec r;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	size_t nl = strlen(name);
	if (nl == 0 || nl > DRFS_XATTR_NAME_MAX)
		return -ENODATA;
	now_put_be64(k, ino);
	memcpy(k + 8, name, nl);
	pthread_mutex_lock(&n->lock);
	int e = now_txn(n, true, &t);
	e = e < 0 ? e : now_rec_get(t, ino, &r);
	e = e < 0 ? e : drfs_kv_del(t, DRFS_DB_NOW_XATTRS, k, 8 + nl);
	if (e == -ENOENT)
		e = -ENODATA;
	now_ts(&r.ctime);
	e = e < 0 ? e : now_rec_put(t, &r);
	e = e < 0 ? e : now_mark_dirty(n, t, ino);
	if (e >= 0) {
		e = now_commit(n, t);
		t = NULL;
	}
	drfs_txn_abort(t);
	pthread_mutex_unlock(&n->lock);
	return e;
}
