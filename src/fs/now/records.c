/* SPDX-License-Identifier: MIT */
/*
 * records.c - the LMDB records of now/: inodes, directory entries, extents,
 * xattrs, the state and the sets in NOW_META. nowint.h has the layout and
 * the locks.
 */
#include "nowint.h"

/* ---- encoding ---------------------------------------------------------- */

void now_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t now_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_ts(uint8_t *p, const struct timespec *t)
{
	drfs_put_le64(p, (uint64_t)t->tv_sec);
	drfs_put_le32(p + 8, (uint32_t)t->tv_nsec);
}

static void get_ts(const uint8_t *p, struct timespec *t)
{
	t->tv_sec = (time_t)drfs_get_le64(p);
	t->tv_nsec = (long)drfs_get_le32(p + 8);
	if (t->tv_nsec < 0 || t->tv_nsec >= 1000000000)
		t->tv_nsec = 0;
}

static size_t rec_encode(const struct rec *r, uint8_t *p)
{
	uint8_t *q = p;
	*q++ = REC_VERSION;
	drfs_put_le32(q, r->flags), q += 4;
	drfs_put_le32(q, r->mode), q += 4;
	drfs_put_le32(q, r->uid), q += 4;
	drfs_put_le32(q, r->gid), q += 4;
	drfs_put_le32(q, r->nlink), q += 4;
	drfs_put_le64(q, r->size), q += 8;
	drfs_put_le64(q, r->rdev), q += 8;
	drfs_put_le64(q, r->src_ino), q += 8;
	drfs_put_le64(q, r->blocks), q += 8;
	put_ts(q, &r->atime), q += 12;
	put_ts(q, &r->mtime), q += 12;
	put_ts(q, &r->ctime), q += 12;
	memcpy(q, r->tree.b, DRFS_ID_LEN), q += DRFS_ID_LEN;
	drfs_put_le64(q, r->next_seq), q += 8;
	drfs_put_le64(q, r->gen), q += 8;
	drfs_put_le64(q, r->agg_files), q += 8;
	drfs_put_le64(q, r->agg_dirs), q += 8;
	drfs_put_le64(q, r->agg_bytes), q += 8;
	drfs_put_le16(q, r->target_len), q += 2;
	memcpy(q, r->target, r->target_len), q += r->target_len;
	return (size_t)(q - p);
}

static int rec_decode(const uint8_t *p, size_t len, uint64_t ino,
		      struct rec *r)
{
	if (len < REC_FIXED || p[0] != REC_VERSION)
		return -EBADMSG;
	const uint8_t *q = p + 1;
	r->ino = ino;
	r->flags = drfs_get_le32(q), q += 4;
	r->mode = drfs_get_le32(q), q += 4;
	r->uid = drfs_get_le32(q), q += 4;
	r->gid = drfs_get_le32(q), q += 4;
	r->nlink = drfs_get_le32(q), q += 4;
	r->size = drfs_get_le64(q), q += 8;
	r->rdev = drfs_get_le64(q), q += 8;
	r->src_ino = drfs_get_le64(q), q += 8;
	r->blocks = drfs_get_le64(q), q += 8;
	get_ts(q, &r->atime), q += 12;
	get_ts(q, &r->mtime), q += 12;
	get_ts(q, &r->ctime), q += 12;
	memcpy(r->tree.b, q, DRFS_ID_LEN), q += DRFS_ID_LEN;
	r->next_seq = drfs_get_le64(q), q += 8;
	r->gen = drfs_get_le64(q), q += 8;
	r->agg_files = drfs_get_le64(q), q += 8;
	r->agg_dirs = drfs_get_le64(q), q += 8;
	r->agg_bytes = drfs_get_le64(q), q += 8;
	r->target_len = drfs_get_le16(q), q += 2;
	if (r->target_len > DRFS_PATH_MAX ||
	    len != (size_t)REC_FIXED + r->target_len)
		return -EBADMSG;
	memcpy(r->target, q, r->target_len);
	r->target[r->target_len] = 0;
	return 0;
}

int now_rec_get(struct drfs_txn *t, uint64_t ino, struct rec *r)
{
	uint8_t k[8], v[REC_FIXED + DRFS_PATH_MAX];
	now_put_be64(k, ino);
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_INODES, k, 8, v, sizeof(v));
	if (l == -E2BIG)
		return -EBADMSG;
	if (l < 0)
		return l;
	return rec_decode(v, (size_t)l, ino, r);
}

int now_rec_put(struct drfs_txn *t, const struct rec *r)
{
	uint8_t k[8], v[REC_FIXED + DRFS_PATH_MAX];
	now_put_be64(k, r->ino);
	size_t l = rec_encode(r, v);
	return drfs_kv_put(t, DRFS_DB_NOW_INODES, k, 8, v, l);
}

#define STATE_LEN (1 + 8 + 8 + 32 + 32 + 12 + 32)

int now_state_get(struct drfs_txn *t, struct state *s)
{
	uint8_t v[STATE_LEN];
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_META, "state", 5, v,
				  sizeof(v));
	if (l < 0)
		return l == -E2BIG ? -EBADMSG : l;
	if (l != STATE_LEN || v[0] != STATE_VERSION)
		return -EBADMSG;
	const uint8_t *q = v + 1;
	s->next_ino = drfs_get_le64(q), q += 8;
	s->ino_salt = drfs_get_le64(q), q += 8;
	memcpy(s->base.b, q, 32), q += 32;
	memcpy(s->last.b, q, 32), q += 32;
	get_ts(q, &s->last_time), q += 12;
	memcpy(s->last_folder, q, 32);
	s->last_folder[31] = 0;
	return 0;
}

int now_state_put(struct drfs_txn *t, const struct state *s)
{
	uint8_t v[STATE_LEN], *q = v;
	*q++ = STATE_VERSION;
	drfs_put_le64(q, s->next_ino), q += 8;
	drfs_put_le64(q, s->ino_salt), q += 8;
	memcpy(q, s->base.b, 32), q += 32;
	memcpy(q, s->last.b, 32), q += 32;
	put_ts(q, &s->last_time), q += 12;
	memcpy(q, s->last_folder, 32);
	return drfs_kv_put(t, DRFS_DB_NOW_META, "state", 5, v, sizeof(v));
}

/* A set in NOW_META: tag byte + be64 ino. */
int now_set_put(struct drfs_txn *t, char tag, uint64_t ino)
{
	uint8_t k[9] = { (uint8_t)tag };
	now_put_be64(k + 1, ino);
	return drfs_kv_put(t, DRFS_DB_NOW_META, k, 9, "", 0);
}

int now_set_del(struct drfs_txn *t, char tag, uint64_t ino)
{
	uint8_t k[9] = { (uint8_t)tag };
	now_put_be64(k + 1, ino);
	int e = drfs_kv_del(t, DRFS_DB_NOW_META, k, 9);
	return e == -ENOENT ? 0 : e;
}

/*
 * Begin a transaction of now/: one of the index's group (group commit,
 * docs/now.md) unless n->direct is set (a snapshot, the recovery at open,
 * the drain at unmount: long work whose transactions are ordinary ones,
 * each committing the group first).
 */
int now_txn(struct drfs_now *n, bool write, struct drfs_txn **ret)
{
	if (atomic_load(&n->direct))
		return drfs_txn_begin(n->r->index, write, ret);
	return drfs_txn_begin_group(n->r->index, write, ret);
}

/* Commit a write transaction of now/ (not yet synced to disk). */
int now_commit(struct drfs_now *n, struct drfs_txn *t)
{
	int e = drfs_txn_commit(t);
	if (e >= 0)
		atomic_fetch_add(&n->commits, 1);
	return e;
}


/*
 * ino is about to change: what the background thread is chunking or has
 * chunked of it and not yet recorded must not be recorded. Under n->lock.
 */
void now_chunk_cancel(struct drfs_now *n, uint64_t ino)
{
	if (n->chunking == ino)
		n->chunk_abort = true;
	for (size_t i = 0; i < n->nbatch; i++)
		if (n->batch[i].ino == ino)
			n->batch[i].ino = 0;
}

int now_ino_list_push(struct ino_list *l, uint64_t ino)
{
	if (drfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 64) < 0)
		return -ENOMEM;
	l->v[l->n++] = ino;
	return 0;
}

struct set_scan {
	uint8_t tag;
	struct ino_list *out;
};

static int set_scan_cb(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ud)
{
	struct set_scan *s = ud;
	(void)val;
	(void)vlen;
	if (klen != 9 || ((const uint8_t *)key)[0] != s->tag)
		return 1;
	return now_ino_list_push(s->out,
				 now_get_be64((const uint8_t *)key + 1));
}

/* Every member of set tag. */
int now_set_list(struct drfs_txn *t, char tag, struct ino_list *out)
{
	uint8_t k[1] = { (uint8_t)tag };
	struct set_scan s = { .tag = (uint8_t)tag, .out = out };
	return drfs_kv_scan(t, DRFS_DB_NOW_META, k, 1, set_scan_cb, &s);
}

/* ---- directory entries -------------------------------------------------- */

static size_t dkey_name(uint8_t *k, uint64_t dir, const char *name,
			size_t len)
{
	k[0] = 'n';
	now_put_be64(k + 1, dir);
	memcpy(k + 9, name, len);
	return 9 + len;
}

void now_dkey_seq(uint8_t *k, uint64_t dir, uint64_t seq)
{
	k[0] = 'o';
	now_put_be64(k + 1, dir);
	now_put_be64(k + 9, seq);
}

static void dkey_parent(uint8_t *k, uint64_t child, uint64_t parent)
{
	k[0] = 'p';
	now_put_be64(k + 1, child);
	now_put_be64(k + 9, parent);
}

int now_check_name(const char *name, size_t *ret_len)
{
	size_t l = strlen(name);
	if (l == 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (l > DRFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', l))
		return -EINVAL;
	*ret_len = l;
	return 0;
}

/* Child of dir: 0 with ino (and seq), -ENOENT. */
int now_dent_get(struct drfs_txn *t, uint64_t dir, const char *name,
		 uint64_t *ret_ino, uint64_t *ret_seq)
{
	uint8_t k[9 + DRFS_NAME_MAX], v[16];
	size_t len = strlen(name);
	if (len > DRFS_NAME_MAX)
		return -ENAMETOOLONG;
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_DIRENTS, k,
				  dkey_name(k, dir, name, len), v, sizeof(v));
	if (l < 0)
		return l == -E2BIG ? -EBADMSG : l;
	if (l != 16)
		return -EBADMSG;
	*ret_ino = now_get_be64(v);
	if (ret_seq)
		*ret_seq = now_get_be64(v + 8);
	return 0;
}

static int plink_adjust(struct drfs_txn *t, uint64_t child, uint64_t parent,
			int delta)
{
	uint8_t k[17], v[4] = { 0 };
	dkey_parent(k, child, parent);
	int l = drfs_kv_get_fixed(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 4);
	if (l < 0 && l != -ENOENT)
		return l;
	int64_t c = (l == 4 ? (int64_t)drfs_get_le32(v) : 0) + delta;
	if (c <= 0) {
		int e = drfs_kv_del(t, DRFS_DB_NOW_DIRENTS, k, 17);
		return e == -ENOENT ? 0 : e;
	}
	drfs_put_le32(v, (uint32_t)c);
	return drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 4);
}

/* Add name -> ino to directory d (d->next_seq advances; caller saves d). */
int now_dent_add(struct drfs_txn *t, struct rec *d, const char *name,
		 size_t len, uint64_t ino)
{
	uint8_t k[9 + DRFS_NAME_MAX], v[8 + DRFS_NAME_MAX];
	uint64_t seq = d->next_seq ? d->next_seq : 1;
	d->next_seq = seq + 1;
	now_put_be64(v, ino);
	now_put_be64(v + 8, seq);
	int e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k,
			    dkey_name(k, d->ino, name, len), v, 16);
	if (e < 0)
		return e;
	now_dkey_seq(k, d->ino, seq);
	memcpy(v + 8, name, len);
	e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 8 + len);
	return e < 0 ? e : plink_adjust(t, ino, d->ino, 1);
}

int now_dent_del(struct drfs_txn *t, uint64_t dir, const char *name)
{
	uint8_t k[9 + DRFS_NAME_MAX];
	uint64_t ino, seq;
	int e = now_dent_get(t, dir, name, &ino, &seq);
	if (e < 0)
		return e;
	e = drfs_kv_del(t, DRFS_DB_NOW_DIRENTS, k,
			dkey_name(k, dir, name, strlen(name)));
	if (e < 0)
		return e;
	now_dkey_seq(k, dir, seq);
	e = drfs_kv_del(t, DRFS_DB_NOW_DIRENTS, k, 17);
	if (e < 0 && e != -ENOENT)
		return e;
	return plink_adjust(t, ino, dir, -1);
}

/* Point an existing entry at another inode (rename exchange). */
int now_dent_repoint(struct drfs_txn *t, uint64_t dir, const char *name,
		     uint64_t ino)
{
	uint8_t k[9 + DRFS_NAME_MAX], v[8 + DRFS_NAME_MAX];
	uint64_t old, seq;
	size_t len = strlen(name);
	int e = now_dent_get(t, dir, name, &old, &seq);
	if (e < 0)
		return e;
	now_put_be64(v, ino);
	now_put_be64(v + 8, seq);
	e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k,
			dkey_name(k, dir, name, len), v, 16);
	if (e < 0)
		return e;
	now_dkey_seq(k, dir, seq);
	memcpy(v + 8, name, len);
	e = drfs_kv_put(t, DRFS_DB_NOW_DIRENTS, k, 17, v, 8 + len);
	e = e ?: plink_adjust(t, old, dir, -1);
	return e ?: plink_adjust(t, ino, dir, 1);
}

struct parents {
	uint64_t child;
	struct ino_list *out;
};

static int parents_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ud)
{
	struct parents *p = ud;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	if (klen != 17 || k[0] != 'p' || now_get_be64(k + 1) != p->child)
		return 1;
	return now_ino_list_push(p->out, now_get_be64(k + 9));
}

int now_parents_of(struct drfs_txn *t, uint64_t ino, struct ino_list *out)
{
	uint8_t k[9] = { 'p' };
	struct parents p = { .child = ino, .out = out };
	now_put_be64(k + 1, ino);
	return drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, parents_cb, &p);
}

struct first_child {
	uint64_t dir;
	bool found;
};

static int first_child_cb(const void *key, size_t klen, const void *val,
			  size_t vlen, void *ud)
{
	struct first_child *f = ud;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	f->found = klen > 9 && k[0] == 'n' && now_get_be64(k + 1) == f->dir;
	return 1;
}

int now_dir_is_empty(struct drfs_txn *t, uint64_t dir)
{
	uint8_t k[9] = { 'n' };
	struct first_child f = { .dir = dir };
	now_put_be64(k + 1, dir);
	int e = drfs_kv_scan(t, DRFS_DB_NOW_DIRENTS, k, 9, first_child_cb, &f);
	return e < 0 ? e : !f.found;
}

/*
 * Mark ino and (transitively) its parents dirty, up to the first dirty
 * one on each path: the parents still to mark wait on the heap (any depth).
 * While a snapshot waits for its uploads (n->redirty_on), ino and every
 * parent marked are also noted: the snapshot clears the flags of what it
 * wrote, then marks the noted inodes dirty again (commit.c,
 * mark_committed). A parent counts too: a directory clean at the
 * snapshot's build, dirtied meanwhile below a dirty one that the
 * snapshot then clears, would be left dirty under a clean parent, and
 * nothing below it would reach a snapshot again. Under n->lock.
 */
int now_mark_dirty(struct drfs_now *n, struct drfs_txn *t, uint64_t ino)
{
	struct rec r;
	struct ino_list todo = { 0 };
	int e;
	bool first = true;
	for (;;) {
		e = now_rec_get(t, ino, &r);
		if (e < 0)
			break;
		if ((first || !(r.flags & I_DIRTY)) && n->redirty_on &&
		    (!n->redirty.n || n->redirty.v[n->redirty.n - 1] != ino) &&
		    now_ino_list_push(&n->redirty, ino) < 0) {
			e = -ENOMEM;
			break;
		}
		first = false;
		if (!(r.flags & I_DIRTY)) {
			r.flags |= I_DIRTY;
			e = now_rec_put(t, &r);
			e = e ?: now_parents_of(t, ino, &todo);
			if (e < 0)
				break;
		}
		if (!todo.n)
			break;
		ino = todo.v[--todo.n];
	}
	free(todo.v);
	return e;
}

/* ---- extents and xattrs ---------------------------------------------- */

static void ekey(uint8_t *k, uint64_t ino, uint64_t end)
{
	now_put_be64(k, ino);
	now_put_be64(k + 8, end);
}

int now_ext_put(struct drfs_txn *t, uint64_t ino, const struct drfs_extent *x)
{
	uint8_t k[16], v[12 + DRFS_ID_LEN];
	ekey(k, ino, x->off + x->len);
	drfs_put_le64(v, x->off);
	drfs_put_le32(v + 8, x->len);
	memcpy(v + 12, x->id.b, DRFS_ID_LEN);
	return drfs_kv_put(t, DRFS_DB_NOW_EXTENTS, k, 16, v, sizeof(v));
}


static int ext_scan_cb(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ud)
{
	struct ext_scan *s = ud;
	const uint8_t *k = key, *v = val;
	if (klen != 16 || now_get_be64(k) != s->ino)
		return 1;
	if (vlen != 12 + DRFS_ID_LEN)
		return -EBADMSG;
	struct drfs_extent x = { .off = drfs_get_le64(v),
				 .len = drfs_get_le32(v + 8) };
	if (x.off >= s->until || (s->max && s->n >= s->max))
		return 1;
	memcpy(x.id.b, v + 12, DRFS_ID_LEN);
	if (s->n == s->cap) {
		/* two arrays, one capacity: each grows from the same one */
		size_t cap = s->cap, kcap = s->cap;
		if (drfs_grow(&s->v, &cap, s->n, sizeof(*s->v), 16) < 0 ||
		    (s->keys_only && drfs_grow(&s->keys, &kcap, s->n,
					       sizeof(*s->keys), 16) < 0))
			return -ENOMEM;
		s->cap = cap;
	}
	if (s->keys_only)
		memcpy(s->keys[s->n], k, 16);
	s->v[s->n++] = x;
	return 0;
}

/* Extents of ino ending after off and starting before until. */
int now_ext_range(struct drfs_txn *t, uint64_t ino, uint64_t off,
		  uint64_t until, struct ext_scan *s)
{
	uint8_t k[16];
	s->ino = ino;
	s->until = until;
	ekey(k, ino, off + 1);
	return drfs_kv_scan(t, DRFS_DB_NOW_EXTENTS, k, 16, ext_scan_cb, s);
}

int now_ext_clear(struct drfs_txn *t, uint64_t ino)
{
	struct ext_scan s = { .keys_only = true };
	int e = now_ext_range(t, ino, 0, UINT64_MAX, &s);
	for (size_t i = 0; e >= 0 && i < s.n; i++)
		e = drfs_kv_del(t, DRFS_DB_NOW_EXTENTS, s.keys[i], 16);
	free(s.v);
	free(s.keys);
	return e;
}

struct xkeys {
	uint64_t ino;
	struct drfs_buf *names; /* NUL-separated */
	size_t max;             /* 0: no bound */
	bool over;
};

static int xkeys_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *ud)
{
	struct xkeys *x = ud;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	if (klen <= 8 || now_get_be64(k) != x->ino)
		return 1;
	int e = drfs_buf_append(x->names, k + 8, klen - 8);
	return e ?: drfs_buf_u8(x->names, 0);
}

int now_xattr_names(struct drfs_txn *t, uint64_t ino, struct drfs_buf *out)
{
	uint8_t k[8];
	struct xkeys x = { .ino = ino, .names = out };
	now_put_be64(k, ino);
	return drfs_kv_scan(t, DRFS_DB_NOW_XATTRS, k, 8, xkeys_cb, &x);
}

int now_xattr_clear(struct drfs_txn *t, uint64_t ino)
{
	struct drfs_buf names;
	uint8_t k[8 + DRFS_XATTR_NAME_MAX];
	drfs_buf_init(&names, 1u << 30);
	int e = now_xattr_names(t, ino, &names);
	for (size_t i = 0; e >= 0 && i < names.len;) {
		size_t l = strlen((char *)names.p + i);
		now_put_be64(k, ino);
		memcpy(k + 8, names.p + i, l);
		e = drfs_kv_del(t, DRFS_DB_NOW_XATTRS, k, 8 + l);
		i += l + 1;
	}
	drfs_buf_release(&names);
	return e;
}

/* ---- small helpers ------------------------------------------------------ */

void now_ts(struct timespec *t)
{
	clock_gettime(CLOCK_REALTIME, t);
}

int now_read_blob(struct drfs_now *n, const struct drfs_id *id,
		  struct drfs_buf *out)
{
	if (n->o.read_blob)
		return n->o.read_blob(n->o.read_blob_data, id, out);
	return drfs_repo_blob_read(n->r, id, out);
}

void now_staging_path(struct drfs_now *n, uint64_t ino, char *out, size_t max)
{
	snprintf(out, max, "%s/%016" PRIx64, n->staging, ino);
}
