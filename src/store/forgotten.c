/* SPDX-License-Identifier: MIT */
/*
 * forgotten.c - forget records and the cache's snapshot history: a
 * snapshot that disappears from the repository without an authenticated
 * record of its removal is noticed (docs/rollback.md).
 *
 * Cache databases (index.h); drfs_index_clear() leaves them alone, they
 * are the cache's memory of what the repository held:
 *   snap_history  id -> u8 state (H_*) | encoded snapshot
 *   forgotten     id -> u8 (F_*): named by a record (or by a baseline)
 *   records       "forgotten/<hex>" -> u8 (R_*)
 *   meta "history_repo" -> the repository id the three belong to
 */
#include <stdio.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "storeint.h"

enum { H_PRESENT = 0, H_VANISHED = 1, H_ROLLED_BACK = 2 };
enum { F_RECORD = 0, F_BASELINE = 1 };
enum { R_LOADED = 0, R_REFUSED = 1 };

#define HISTORY_KEY "history_repo"

static bool in_db(struct drfs_txn *t, enum drfs_db db, const struct drfs_id *id)
{
	uint8_t d[1];
	int e = drfs_kv_get_fixed(t, db, id->b, DRFS_ID_LEN, d, sizeof(d));
	return e >= 0 || e == -E2BIG;
}

/* ---- feeding the history (drfs_repo_sync) ------------------------------- */

static int seed_one(const void *key, size_t klen, const void *val,
		    size_t vlen, void *userdata)
{
	if (klen != DRFS_ID_LEN)
		return 0;
	return drfs_history_note(userdata, key, val, vlen);
}

int drfs_history_bind(struct drfs_repo *r)
{
	struct drfs_txn *t = NULL;
	uint8_t owner[16];
	int e = drfs_txn_begin(r->index, true, &t);
	if (e < 0)
		return e;
	e = drfs_kv_get_fixed(t, DRFS_DB_META, HISTORY_KEY,
			      strlen(HISTORY_KEY), owner, sizeof(owner));
	if (e == sizeof(owner) && !memcmp(owner, r->config.repo_id, 16)) {
		drfs_txn_abort(t);
		return 0;
	}
	e = drfs_kv_drop(t, DRFS_DB_SNAP_HISTORY);
	e = e ?: drfs_kv_drop(t, DRFS_DB_FORGOTTEN);
	e = e ?: drfs_kv_drop(t, DRFS_DB_RECORDS);
	e = e ?: drfs_kv_scan(t, DRFS_DB_SNAPS, NULL, 0, seed_one, t);
	e = e ?: drfs_kv_put(t, DRFS_DB_META, HISTORY_KEY, strlen(HISTORY_KEY),
			     r->config.repo_id, 16);
	if (e < 0) {
		drfs_txn_abort(t);
		return e;
	}
	return drfs_txn_commit(t);
}

int drfs_history_note(struct drfs_txn *t, const struct drfs_id *id,
		      const void *payload, size_t len)
{
	uint8_t *v = malloc(len + 1);
	if (!v)
		return -ENOMEM;
	v[0] = H_PRESENT;
	memcpy(v + 1, payload, len);
	int e = drfs_kv_put(t, DRFS_DB_SNAP_HISTORY, id->b, DRFS_ID_LEN, v,
			    len + 1);
	free(v);
	return e;
}

int drfs_history_record_wanted(struct drfs_txn *t, const char *name)
{
	uint8_t st;
	int e = drfs_kv_get_fixed(t, DRFS_DB_RECORDS, name, strlen(name), &st,
				  1);
	if (e == -ENOENT || e == -E2BIG)
		return 1;
	if (e < 0)
		return e;
	return e != 1 || st != R_LOADED;
}

/*
 * id is named by a record. A real record (not a baseline) also settles
 * the history: whether the snapshot is still there or already vanished,
 * its removal is accounted for.
 */
static int forgot(struct drfs_txn *t, const struct drfs_id *id, bool baseline)
{
	uint8_t v = baseline ? F_BASELINE : F_RECORD, old;
	int e = drfs_kv_get_fixed(t, DRFS_DB_FORGOTTEN, id->b, DRFS_ID_LEN,
				  &old, 1);
	if (e == 1 && old == F_RECORD)
		v = F_RECORD; /* a baseline never weakens a record */
	else if (e < 0 && e != -ENOENT && e != -E2BIG)
		return e;
	e = drfs_kv_put(t, DRFS_DB_FORGOTTEN, id->b, DRFS_ID_LEN, &v, 1);
	if (e >= 0 && !baseline) {
		e = drfs_kv_del(t, DRFS_DB_SNAP_HISTORY, id->b, DRFS_ID_LEN);
		if (e == -ENOENT)
			e = 0;
	}
	return e;
}

int drfs_history_record_load(struct drfs_txn *t, const char *name, int err,
			     const void *payload, size_t len)
{
	struct drfs_forget_rec rec;
	struct drfs_forget_entry en;
	uint8_t st = R_REFUSED;
	int e = 0;

	if (err >= 0 && drfs_forget_rec_decode(payload, len, &rec) == 0) {
		bool base = rec.flags & DRFS_FORGET_F_BASELINE;
		while (e >= 0 && drfs_forget_rec_next(&rec, &en) > 0)
			e = forgot(t, &en.id, base);
		st = R_LOADED;
	}
	return e ?: drfs_kv_put(t, DRFS_DB_RECORDS, name, strlen(name), &st,
				1);
}

struct refused {
	bool (*listed)(void *ud, const char *name);
	void *ud;
	char (*gone)[DRFS_OBJECT_NAME_MAX];
	size_t n, cap;
};

static int refused_one(const void *key, size_t klen, const void *val,
		       size_t vlen, void *userdata)
{
	struct refused *f = userdata;
	char name[DRFS_OBJECT_NAME_MAX];
	if (klen >= sizeof(name) || (vlen == 1 && *(const uint8_t *)val ==
							  R_LOADED))
		return 0;
	memcpy(name, key, klen);
	name[klen] = 0;
	if (f->listed(f->ud, name))
		return 0;
	if (drfs_grow(&f->gone, &f->cap, f->n, sizeof(*f->gone), 16) < 0)
		return -ENOMEM;
	memcpy(f->gone[f->n++], name, sizeof(name));
	return 0;
}

int drfs_history_drop_refused(struct drfs_repo *r,
			      bool (*listed)(void *ud, const char *name),
			      void *ud)
{
	struct refused f = { .listed = listed, .ud = ud };
	struct drfs_txn *t = NULL;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_kv_scan(t, DRFS_DB_RECORDS, NULL, 0, refused_one, &f);
	drfs_txn_abort(t);
	if (e >= 0 && f.n) {
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < f.n; i++)
			drfs_kv_del(t, DRFS_DB_RECORDS, f.gone[i],
				    strlen(f.gone[i]));
		if (e >= 0)
			e = drfs_txn_commit(t);
	}
	free(f.gone);
	return e;
}

enum { OP_DELETE, OP_PRESENT, OP_VANISH };

struct change {
	struct drfs_id id;
	int op;
	uint8_t *val; /* OP_PRESENT, OP_VANISH: the history value */
	size_t len;
};

struct settle {
	struct drfs_txn *t;
	bool (*listed)(void *ud, const struct drfs_id *id);
	void *ud;
	struct change *v;
	size_t n, cap;
};

static int settle_one(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	struct settle *s = userdata;
	const uint8_t *p = val;
	struct change c = { .op = -1 };

	if (klen != DRFS_ID_LEN)
		return 0;
	memcpy(c.id.b, key, DRFS_ID_LEN);
	if (vlen < 1) {
		c.op = OP_DELETE;
	} else if (s->listed(s->ud, &c.id)) {
		if (p[0] != H_PRESENT)
			c.op = OP_PRESENT; /* it came back */
	} else {
		uint8_t f;
		int e = drfs_kv_get_fixed(s->t, DRFS_DB_FORGOTTEN, key,
					  DRFS_ID_LEN, &f, 1);
		if (e == 1 && f == F_RECORD)
			c.op = OP_DELETE;
		else if (p[0] == H_PRESENT)
			c.op = OP_VANISH;
	}
	if (c.op < 0)
		return 0;
	if (c.op != OP_DELETE) {
		c.val = malloc(vlen);
		if (!c.val)
			return -ENOMEM;
		memcpy(c.val, val, vlen);
		c.len = vlen;
	}
	if (drfs_grow(&s->v, &s->cap, s->n, sizeof(*s->v), 16) < 0) {
		free(c.val);
		return -ENOMEM;
	}
	s->v[s->n++] = c;
	return 0;
}

/*
 * Rolled back: nothing of its host and path newer than the vanished one
 * is left (so in particular when it was the newest snapshot of all).
 */
static bool rolled_back(const struct drfs_id *id, const struct drfs_snapshot *s,
			const struct drfs_snap_info *present, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct drfs_snapshot *p = &present[i].snap;
		if (!strcmp(p->host, s->host) && !strcmp(p->path, s->path) &&
		    drfs_snap_order(&p->time, &present[i].id, &s->time, id) > 0)
			return false;
	}
	return true;
}

int drfs_history_settle(struct drfs_repo *r,
			bool (*listed)(void *ud, const struct drfs_id *id),
			void *ud)
{
	struct settle s = { .listed = listed, .ud = ud };
	struct drfs_snap_info *present = NULL;
	struct drfs_snapshot *snap = NULL;
	size_t n_present = 0;
	bool vanish = false;
	int e = drfs_txn_begin(r->index, false, &s.t);
	if (e < 0)
		return e;
	e = drfs_kv_scan(s.t, DRFS_DB_SNAP_HISTORY, NULL, 0, settle_one, &s);
	drfs_txn_abort(s.t);
	for (size_t i = 0; e >= 0 && i < s.n; i++)
		vanish |= s.v[i].op == OP_VANISH;
	if (e >= 0 && vanish) {
		e = drfs_repo_snapshots(r, &present, &n_present);
		snap = malloc(sizeof(*snap));
		if (e >= 0 && !snap)
			e = -ENOMEM;
	}
	for (size_t i = 0; e >= 0 && i < s.n; i++) {
		struct change *c = &s.v[i];
		if (c->op == OP_PRESENT) {
			c->val[0] = H_PRESENT;
		} else if (c->op == OP_VANISH) {
			c->val[0] = H_VANISHED;
			if (drfs_snapshot_decode(c->val + 1, c->len - 1,
						 snap) == 0 &&
			    rolled_back(&c->id, snap, present, n_present))
				c->val[0] = H_ROLLED_BACK;
		}
	}
	if (e >= 0 && s.n) {
		struct drfs_txn *t = NULL;
		e = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; e >= 0 && i < s.n; i++) {
			struct change *c = &s.v[i];
			if (c->op == OP_DELETE)
				drfs_kv_del(t, DRFS_DB_SNAP_HISTORY, c->id.b,
					    DRFS_ID_LEN);
			else
				e = drfs_kv_put(t, DRFS_DB_SNAP_HISTORY,
						c->id.b, DRFS_ID_LEN, c->val,
						c->len);
		}
		if (e >= 0)
			e = drfs_txn_commit(t);
		else
			drfs_txn_abort(t);
	}
	for (size_t i = 0; i < s.n; i++)
		free(s.v[i].val);
	free(s.v);
	free(present);
	free(snap);
	return e;
}

/* ---- writing records --------------------------------------------------- */

int drfs_forget_record_put(struct drfs_backend *be,
			   const struct drfs_keys *k, uint8_t flags,
			   const struct drfs_forget_entry *e, size_t n,
			   char name[DRFS_OBJECT_NAME_MAX])
{
	struct drfs_forget_rec *h = calloc(1, sizeof(*h));
	struct drfs_buf plain, sealed;
	struct drfs_id id;
	int r;

	if (!h)
		return -ENOMEM;
	h->flags = flags;
	clock_gettime(CLOCK_REALTIME, &h->time);
	if (gethostname(h->host, sizeof(h->host) - 1) < 0)
		strcpy(h->host, "localhost");
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&sealed, DRFS_SMALL_OBJECT_MAX);
	r = drfs_forget_rec_encode(h, e, n, &plain);
	r = r ?: drfs_seal(k, DRFS_OBJ_FORGET, plain.p, plain.len, &sealed);
	if (r >= 0) {
		drfs_sha256(sealed.p, sealed.len, &id);
		drfs_name_forget(&id, name);
		r = drfs_backend_put(be, name, sealed.p, sealed.len,
				     DRFS_PUT_CREATE_ONLY);
		/* the same bytes (unencrypted): the same record */
		if (r == -EEXIST)
			r = 0;
	}
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	free(h);
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct drfs_forget_entry *x = a, *y = b;
	return memcmp(x->id.b, y->id.b, DRFS_ID_LEN);
}

/* Sort by id and drop duplicates: the new count. */
static size_t sort_entries(struct drfs_forget_entry *e, size_t n)
{
	size_t k = 0;
	if (n > 1)
		qsort(e, n, sizeof(*e), cmp_entry);
	for (size_t i = 0; i < n; i++)
		if (!k || !drfs_id_eq(&e[k - 1].id, &e[i].id))
			e[k++] = e[i];
	return k;
}

/*
 * Put the records of e[0..n) (several past DRFS_FORGET_IDS_MAX; one, empty,
 * for a baseline of nothing) and note each in the cache as it is written.
 */
static int write_records(struct drfs_repo *r, uint8_t flags,
			 const struct drfs_forget_entry *e, size_t n)
{
	size_t off = 0;
	do {
		size_t k = MIN(n - off, (size_t)DRFS_FORGET_IDS_MAX);
		char name[DRFS_OBJECT_NAME_MAX];
		struct drfs_txn *t = NULL;
		uint8_t st = R_LOADED;
		int err = drfs_forget_record_put(r->be, &r->keys, flags,
						 e + off, k, name);
		if (err < 0) {
			const char *d = drfs_backend_last_error(r->be);
			drfs_repo_set_last_error(
				"cannot write a forget record: %s%s%s",
				drfs_strerror(err), d ? ": " : "", d ? d : "");
			return err;
		}
		err = drfs_txn_begin(r->index, true, &t);
		for (size_t i = 0; err >= 0 && i < k; i++)
			err = forgot(t, &e[off + i].id,
				     flags & DRFS_FORGET_F_BASELINE);
		err = err ?: drfs_kv_put(t, DRFS_DB_RECORDS, name, strlen(name),
					 &st, 1);
		if (err >= 0)
			err = drfs_txn_commit(t);
		else
			drfs_txn_abort(t);
		if (err < 0)
			return err;
		off += k;
	} while (off < n);
	return 0;
}

/* The time of snapshot id from the catalogue or the history; 0 unknown. */
static void snap_time(struct drfs_txn *t, const struct drfs_id *id,
		      struct drfs_snapshot *scratch, struct timespec *ret)
{
	struct drfs_buf b;
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX + 1);
	memset(ret, 0, sizeof(*ret));
	if (drfs_kv_get(t, DRFS_DB_SNAPS, id->b, DRFS_ID_LEN, &b) >= 0) {
		if (drfs_snapshot_decode(b.p, b.len, scratch) == 0)
			*ret = scratch->time;
	} else if (drfs_kv_get(t, DRFS_DB_SNAP_HISTORY, id->b, DRFS_ID_LEN,
			       &b) >= 0 && b.len > 1) {
		if (drfs_snapshot_decode(b.p + 1, b.len - 1, scratch) == 0)
			*ret = scratch->time;
	}
	drfs_buf_release(&b);
}

static int has_record(const void *key, size_t klen, const void *val,
		      size_t vlen, void *userdata)
{
	(void)key;
	(void)klen;
	if (vlen == 1 && *(const uint8_t *)val == R_LOADED) {
		*(bool *)userdata = true;
		return 1;
	}
	return 0;
}

/* Whether the cache knows a forget record that loaded. */
static int records_known(struct drfs_repo *r, bool *ret)
{
	struct drfs_txn *t = NULL;
	*ret = false;
	int e = drfs_txn_begin(r->index, false, &t);
	if (e < 0)
		return e;
	e = drfs_kv_scan(t, DRFS_DB_RECORDS, NULL, 0, has_record, ret);
	drfs_txn_abort(t);
	return e;
}

/* Parents of present snapshots that are not there: *ret malloc'd. */
static int missing_parents(struct drfs_repo *r, struct drfs_forget_entry **ret,
			   size_t *ret_n)
{
	struct drfs_snap_info *v = NULL;
	struct drfs_forget_entry *m = NULL;
	struct drfs_txn *t = NULL;
	size_t n = 0, k = 0, cap = 0;
	int e = drfs_repo_snapshots(r, &v, &n);
	e = e ?: drfs_txn_begin(r->index, false, &t);
	if (e < 0) {
		free(v);
		return e;
	}
	for (size_t i = 0; e >= 0 && i < n; i++) {
		const struct drfs_id *p = &v[i].snap.parent;
		if (drfs_id_is_zero(p) || in_db(t, DRFS_DB_SNAPS, p))
			continue;
		e = drfs_grow(&m, &cap, k, sizeof(*m), 16);
		if (e >= 0)
			m[k++] = (struct drfs_forget_entry){ .id = *p };
	}
	drfs_txn_abort(t);
	free(v);
	if (e < 0) {
		free(m);
		return e;
	}
	*ret = m;
	*ret_n = sort_entries(m, k);
	return 0;
}

int drfs_repo_forget_baseline(struct drfs_repo *r)
{
	struct drfs_forget_entry *m = NULL;
	size_t n = 0;
	bool known;
	int e = records_known(r, &known);
	if (e < 0 || known)
		return e;
	e = missing_parents(r, &m, &n);
	e = e ?: write_records(r, DRFS_FORGET_F_BASELINE, m, n);
	free(m);
	return e;
}

int drfs_repo_forget_record(struct drfs_repo *r, const struct drfs_id *ids,
			    size_t n)
{
	struct drfs_forget_entry *en;
	struct drfs_snapshot *scratch;
	struct drfs_txn *t = NULL;
	int e;

	if (!n)
		return 0;
	e = drfs_repo_forget_baseline(r);
	if (e < 0)
		return e;
	en = calloc(n, sizeof(*en));
	scratch = malloc(sizeof(*scratch));
	e = en && scratch ? drfs_txn_begin(r->index, false, &t) : -ENOMEM;
	if (e >= 0) {
		for (size_t i = 0; i < n; i++) {
			en[i].id = ids[i];
			snap_time(t, &ids[i], scratch, &en[i].time);
		}
		drfs_txn_abort(t);
		e = write_records(r, 0, en, sort_entries(en, n));
	}
	free(en);
	free(scratch);
	return e;
}

/* ---- what is wrong ----------------------------------------------------- */

struct audit {
	struct drfs_txn *t;
	struct drfs_snap_audit *a;
	size_t cap;
	struct drfs_snapshot *scratch;
	bool loaded;
};

static struct drfs_snap_problem *add_problem(struct audit *au,
					     enum drfs_snap_problem_kind kind)
{
	struct drfs_snap_audit *a = au->a;
	if (drfs_grow(&a->v, &au->cap, a->n, sizeof(*a->v), 16) < 0)
		return NULL;
	struct drfs_snap_problem *p = &a->v[a->n++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	return p;
}

static int audit_history(const void *key, size_t klen, const void *val,
			 size_t vlen, void *userdata)
{
	struct audit *au = userdata;
	const uint8_t *v = val;
	if (klen != DRFS_ID_LEN || vlen < 1 || v[0] == H_PRESENT)
		return 0;
	struct drfs_snap_problem *p = add_problem(
		au, v[0] == H_ROLLED_BACK ? DRFS_SNAP_ROLLED_BACK
					  : DRFS_SNAP_VANISHED);
	if (!p)
		return -ENOMEM;
	memcpy(p->id.b, key, DRFS_ID_LEN);
	if (drfs_snapshot_decode(v + 1, vlen - 1, au->scratch) == 0) {
		drfs_snapshot_folder(&au->scratch->time, p->folder);
		memcpy(p->host, au->scratch->host, sizeof(p->host));
	}
	return 0;
}

static int audit_records(const void *key, size_t klen, const void *val,
			 size_t vlen, void *userdata)
{
	struct audit *au = userdata;
	if (vlen == 1 && *(const uint8_t *)val == R_LOADED) {
		au->loaded = true;
		return 0;
	}
	struct drfs_snap_problem *p = add_problem(au, DRFS_SNAP_BAD_RECORD);
	if (!p)
		return -ENOMEM;
	size_t l = MIN(klen, sizeof(p->name) - 1);
	memcpy(p->name, key, l);
	p->name[l] = 0;
	return 0;
}

static int cmp_problem(const void *a, const void *b)
{
	const struct drfs_snap_problem *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	int c = strcmp(x->folder, y->folder);
	c = c ?: strcmp(x->child_folder, y->child_folder);
	return c ?: strcmp(x->name, y->name);
}

int drfs_repo_snapshot_audit(struct drfs_repo *r, struct drfs_snap_audit *ret)
{
	struct drfs_snap_audit a = { 0 };
	struct audit au = { .a = &a };
	struct drfs_snap_info *v = NULL;
	size_t n = 0;
	int e;

	au.scratch = malloc(sizeof(*au.scratch));
	if (!au.scratch)
		return -ENOMEM;
	e = drfs_repo_snapshots(r, &v, &n);
	e = e ?: drfs_txn_begin(r->index, false, &au.t);
	if (e < 0)
		goto out;
	e = drfs_kv_scan(au.t, DRFS_DB_SNAP_HISTORY, NULL, 0, audit_history,
			 &au);
	e = e ?: drfs_kv_scan(au.t, DRFS_DB_RECORDS, NULL, 0, audit_records,
			      &au);
	for (size_t i = 0; e >= 0 && i < n; i++) {
		const struct drfs_id *p = &v[i].snap.parent;
		if (drfs_id_is_zero(p) || in_db(au.t, DRFS_DB_SNAPS, p) ||
		    in_db(au.t, DRFS_DB_FORGOTTEN, p) ||
		    in_db(au.t, DRFS_DB_SNAP_HISTORY, p))
			continue;
		struct drfs_snap_problem *h = add_problem(&au, DRFS_SNAP_HOLE);
		if (!h) {
			e = -ENOMEM;
			break;
		}
		h->id = *p;
		h->child = v[i].id;
		memcpy(h->child_folder, v[i].folder, sizeof(h->child_folder));
		memcpy(h->host, v[i].snap.host, sizeof(h->host));
	}
	drfs_txn_abort(au.t);
out:
	free(v);
	free(au.scratch);
	if (e < 0) {
		free(a.v);
		return e;
	}
	if (a.n > 1)
		qsort(a.v, a.n, sizeof(*a.v), cmp_problem);
	a.no_records = !au.loaded;
	*ret = a;
	return 0;
}

char *drfs_snap_problem_text(const struct drfs_snap_problem *p,
			     char out[DRFS_SNAP_PROBLEM_TEXT_MAX])
{
	char hex[DRFS_ID_HEX_LEN + 1], chex[DRFS_ID_HEX_LEN + 1];
	char host[DRFS_HOST_MAX_BUF]; /* shown, cut to fit out */
	const char *f = p->folder[0] ? p->folder : "(time unknown)";
	const size_t len = DRFS_SNAP_PROBLEM_TEXT_MAX;
	drfs_id_hex(&p->id, hex);
	drfs_str_show(p->host, host, sizeof(host));
	switch (p->kind) {
	case DRFS_SNAP_ROLLED_BACK:
		snprintf(out, len, "snapshot %s (id %s, host \"%s\") vanished "
			 "without a forget record and nothing newer of its "
			 "host and path is left: the repository was rolled "
			 "back", f, hex, host);
		break;
	case DRFS_SNAP_VANISHED:
		snprintf(out, len, "snapshot %s (id %s, host \"%s\") vanished "
			 "without a forget record", f, hex, host);
		break;
	case DRFS_SNAP_HOLE:
		snprintf(out, len, "snapshot %s (id %.8s) names parent %s, "
			 "which is missing without a forget record",
			 p->child_folder, drfs_id_hex(&p->child, chex), hex);
		break;
	case DRFS_SNAP_BAD_RECORD:
	default:
		snprintf(out, len, "forget record \"%s\" is corrupted or "
			 "forged: refused", p->name);
		break;
	}
	return out;
}

void drfs_snap_audit_release(struct drfs_snap_audit *a)
{
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

int drfs_repo_vanished_find(struct drfs_repo *r, const char *spec,
			    struct drfs_id *ret)
{
	struct drfs_snap_audit a;
	size_t sl = strlen(spec), hit = 0;
	int matches = 0;
	int e = drfs_repo_snapshot_audit(r, &a);
	if (e < 0)
		return e;
	for (size_t i = 0; i < a.n; i++) {
		char hex[DRFS_ID_HEX_LEN + 1];
		const struct drfs_snap_problem *p = &a.v[i];
		if (p->kind != DRFS_SNAP_VANISHED &&
		    p->kind != DRFS_SNAP_ROLLED_BACK)
			continue;
		drfs_id_hex(&p->id, hex);
		if (!strcmp(p->folder, spec) ||
		    (sl >= 8 && sl <= DRFS_ID_HEX_LEN &&
		     !strncmp(hex, spec, sl))) {
			hit = i;
			matches++;
		}
	}
	if (matches == 1)
		*ret = a.v[hit].id;
	drfs_snap_audit_release(&a);
	if (matches == 0) {
		drfs_repo_set_last_error("no snapshot \"%s\"", spec);
		return -ENOENT;
	}
	if (matches > 1) {
		drfs_repo_set_last_error("snapshot \"%s\" is ambiguous", spec);
		return -EINVAL;
	}
	return 0;
}
