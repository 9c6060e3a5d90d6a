/* SPDX-License-Identifier: MIT */
/*
 * copy.c - copy snapshots from one repository to another, re-encrypted with
 * the destination's keys (see include/drfs/dr.h).
 *
 * Blob ids are keyed per repository, so nothing can be compared by id
 * across the two: every blob of a snapshot is read (and verified) from the
 * source and put through a writer on the destination, whose dedup against
 * its own index stores only what is new. Trees are rebuilt bottom-up with
 * the destination's ids; a memo (source id -> destination id) makes a tree
 * or blob shared by several snapshots cost one read per run, and a memo
 * file in the destination's cache carries the data blobs' mapping to the
 * next run, so an incremental copy reads the trees and only the new data.
 * Snapshots already copied are recognised by their "copied-from:" tag and
 * skipped without reading anything.
 */
#include <stdio.h>

#include "drfs/dr.h"
#include "drfs/limits.h"
#include "drfs/log.h"

struct memo_ent {
	struct drfs_id from, to;
	bool used;
	bool loaded; /* from the memo file: check dst still has it */
};

struct cp {
	struct drfs_repo *src, *dst;
	struct drfs_writer *w;
	const struct drfs_copy_opts *o;
	struct drfs_copy_result *res;
	struct memo_ent *memo; /* open addressing, power-of-two capacity */
	size_t memo_cap, memo_n;
	struct drfs_buf data;
	/* data blobs mapped by this run, appended to the memo file once the
	 * snapshot that needed them is written */
	struct drfs_buf fresh;
	char *memo_path;
};

static size_t memo_slot(const struct cp *c, const struct drfs_id *id)
{
	/* ids are keyed hashes: their first bytes are uniform */
	return (size_t)drfs_get_le64(id->b) & (c->memo_cap - 1);
}

static bool memo_get(struct cp *c, const struct drfs_id *from,
		     struct drfs_id *ret)
{
	if (!c->memo_cap)
		return false;
	for (size_t i = memo_slot(c, from);; i = (i + 1) & (c->memo_cap - 1)) {
		if (!c->memo[i].used)
			return false;
		if (drfs_id_eq(&c->memo[i].from, from)) {
			if (c->memo[i].loaded) {
				/* a previous run's mapping: trust it only
				 * while dst has the blob */
				if (drfs_repo_blob_find(c->dst, &c->memo[i].to,
							NULL, NULL) < 0)
					return false;
				c->memo[i].loaded = false;
			}
			*ret = c->memo[i].to;
			return true;
		}
	}
}

static int memo_put(struct cp *c, const struct drfs_id *from,
		    const struct drfs_id *to, bool loaded)
{
	if (2 * (c->memo_n + 1) > c->memo_cap) {
		size_t cap = c->memo_cap ? 2 * c->memo_cap : 4096;
		struct memo_ent *old = c->memo;
		size_t old_cap = c->memo_cap;
		c->memo = calloc(cap, sizeof(*c->memo));
		if (!c->memo) {
			c->memo = old;
			return -ENOMEM;
		}
		c->memo_cap = cap;
		c->memo_n = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].used)
				memo_put(c, &old[i].from, &old[i].to,
					 old[i].loaded);
		free(old);
	}
	size_t i = memo_slot(c, from);
	while (c->memo[i].used) {
		if (drfs_id_eq(&c->memo[i].from, from)) {
			c->memo[i].to = *to;
			c->memo[i].loaded = loaded;
			return 0;
		}
		i = (i + 1) & (c->memo_cap - 1);
	}
	c->memo[i] = (struct memo_ent){ *from, *to, true, loaded };
	c->memo_n++;
	return 0;
}

/*
 * The memo file (in dst's cache directory, derived state like the rest of
 * it): 64-byte records src data blob id | dst blob id, so that the next
 * run does not read data it already copied.
 */
static void memo_load(struct cp *c)
{
	char hex[33];
	drfs_hex(c->src->config.repo_id, 16, hex);
	if (asprintf(&c->memo_path, "%s/copy-from-%s.memo", c->dst->cache_dir,
		     hex) < 0) {
		c->memo_path = NULL;
		return;
	}
	FILE *f = fopen(c->memo_path, "re");
	uint8_t rec[2 * DRFS_ID_LEN];
	if (!f)
		return;
	while (fread(rec, sizeof(rec), 1, f) == 1) {
		struct drfs_id a, b;
		memcpy(a.b, rec, DRFS_ID_LEN);
		memcpy(b.b, rec + DRFS_ID_LEN, DRFS_ID_LEN);
		if (memo_put(c, &a, &b, true) < 0)
			break;
	}
	fclose(f);
}

static void memo_save(struct cp *c)
{
	if (!c->memo_path || !c->fresh.len)
		return;
	FILE *f = fopen(c->memo_path, "ae");
	if (f) {
		if (fwrite(c->fresh.p, c->fresh.len, 1, f) != 1)
			c->fresh.len = 0; /* best effort: it is a cache */
		fclose(f);
	}
	drfs_buf_reset(&c->fresh);
}

static int count_put(struct cp *c, int e)
{
	if (e > 0)
		c->res->blobs_new++;
	else if (e == 0)
		c->res->blobs_dup++;
	return e < 0 ? e : 0;
}

static int copy_data(struct cp *c, const struct drfs_id *idp,
		     struct drfs_id *ret)
{
	const struct drfs_id from = *idp, *id = &from; /* ret may alias */
	if (memo_get(c, id, ret)) {
		c->res->blobs_dup++;
		return 0;
	}
	drfs_buf_reset(&c->data);
	int e = drfs_repo_blob_read(c->src, id, &c->data);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1];
		if (c->o->report)
			c->o->report(c->o->report_data,
				     "copy: cannot read blob %s: %s",
				     drfs_id_hex(id, hex), drfs_strerror(e));
		return e;
	}
	c->res->bytes_read += c->data.len;
	e = count_put(c, drfs_writer_put_blob(c->w, DRFS_BLOB_DATA, c->data.p,
					      c->data.len, ret));
	if (e >= 0 && drfs_buf_append(&c->fresh, id->b, DRFS_ID_LEN) >= 0 &&
	    drfs_buf_append(&c->fresh, ret->b, DRFS_ID_LEN) < 0)
		c->fresh.len -= DRFS_ID_LEN;
	return e ?: memo_put(c, id, ret, false);
}

static int copy_tree(struct cp *c, const struct drfs_id *idp,
		     struct drfs_id *ret)
{
	const struct drfs_id from = *idp, *id = &from; /* ret may alias */
	struct drfs_buf in, out;
	struct drfs_tree_iter it;
	struct drfs_tree_enc enc;
	struct drfs_node n;
	struct drfs_xattr *xv = NULL;
	struct drfs_extent *ev = NULL;
	size_t ev_cap = 0;
	int e;

	if (memo_get(c, id, ret))
		return 0;
	drfs_buf_init(&in, DRFS_BLOB_MAX);
	drfs_buf_init(&out, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &out);
	e = drfs_repo_blob_read(c->src, id, &in);
	e = e ?: drfs_tree_iter_init(&it, in.p, in.len);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1];
		if (c->o->report)
			c->o->report(c->o->report_data,
				     "copy: cannot read tree %s: %s",
				     drfs_id_hex(id, hex), drfs_strerror(e));
		goto out;
	}
	c->res->bytes_read += in.len;
	xv = malloc(DRFS_XATTRS_MAX * sizeof(*xv));
	if (!xv) {
		e = -ENOMEM;
		goto out;
	}
	while ((e = drfs_tree_iter_next(&it, &n)) > 0) {
		size_t nx = 0, ne = 0;
		struct drfs_xattr x;
		struct drfs_extent ex;
		while (nx < DRFS_XATTRS_MAX && drfs_node_next_xattr(&n, &x) > 0)
			xv[nx++] = x;
		if (n.n_extents > ev_cap) {
			void *p = realloc(ev, n.n_extents * sizeof(*ev));
			if (!p) {
				e = -ENOMEM;
				break;
			}
			ev = p;
			ev_cap = n.n_extents;
		}
		while (ne < n.n_extents && drfs_node_next_extent(&n, &ex) > 0) {
			e = copy_data(c, &ex.id, &ex.id);
			if (e < 0)
				goto out;
			ev[ne++] = ex;
		}
		if (S_ISDIR(n.mode)) {
			e = copy_tree(c, &n.subtree, &n.subtree);
			if (e < 0)
				goto out;
		}
		e = drfs_tree_enc_add(&enc, &n, xv, nx, ev, ne);
		if (e < 0)
			goto out;
	}
	if (e < 0)
		goto out;
	if (out.len == 0) {
		e = drfs_buf_u8(&out, 1); /* empty directory: version only */
		if (e < 0)
			goto out;
	}
	e = count_put(c, drfs_writer_put_blob(c->w, DRFS_BLOB_TREE, out.p,
					      out.len, ret));
	e = e ?: memo_put(c, id, ret, false);
out:
	free(xv);
	free(ev);
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&in);
	drfs_buf_release(&out);
	return e;
}

/* The "copied-from:" tag of s, or NULL. */
static const char *copied_from(const struct drfs_snapshot *s)
{
	const char *t = s->tags;
	for (uint32_t i = 0; i < s->n_tags; i++) {
		if (strncmp(t, DRFS_COPY_TAG, strlen(DRFS_COPY_TAG)) == 0)
			return t + strlen(DRFS_COPY_TAG);
		t += strlen(t) + 1;
	}
	return NULL;
}

/* Does dst (v[0..n)) hold s, or a copy of it, or is s a copy of one? */
static bool dst_has(const struct drfs_snap_info *v, size_t n,
		    const struct drfs_snap_info *s)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	const char *from = copied_from(&s->snap);
	drfs_id_hex(&s->id, hex);
	for (size_t i = 0; i < n; i++) {
		char dhex[DRFS_ID_HEX_LEN + 1];
		const char *df = copied_from(&v[i].snap);
		if (drfs_id_eq(&v[i].id, &s->id))
			return true;
		if (df && strcmp(df, hex) == 0)
			return true;
		if (from && strcmp(from, drfs_id_hex(&v[i].id, dhex)) == 0)
			return true;
	}
	return false;
}

/* The dst snapshot copied from src snapshot id, if any. */
static const struct drfs_snap_info *dst_copy_of(const struct drfs_snap_info *v,
						size_t n,
						const struct drfs_id *id)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	drfs_id_hex(id, hex);
	for (size_t i = n; i-- > 0;) {
		const char *df = copied_from(&v[i].snap);
		if (drfs_id_eq(&v[i].id, id) || (df && strcmp(df, hex) == 0))
			return &v[i];
	}
	return NULL;
}

/* Tags of s without any copied-from tag, plus one naming s. */
static int retag(struct drfs_snapshot *out, const struct drfs_snap_info *s)
{
	const char *t = s->snap.tags;
	size_t used = 0;
	char tag[sizeof(DRFS_COPY_TAG) + DRFS_ID_HEX_LEN + 1];
	char hex[DRFS_ID_HEX_LEN + 1];
	out->n_tags = 0;
	for (uint32_t i = 0; i < s->snap.n_tags; i++) {
		size_t l = strlen(t);
		if (strncmp(t, DRFS_COPY_TAG, strlen(DRFS_COPY_TAG)) != 0) {
			memmove(out->tags + used, t, l + 1);
			used += l + 1;
			out->n_tags++;
		}
		t += l + 1;
	}
	snprintf(tag, sizeof(tag), "%s%s", DRFS_COPY_TAG,
		 drfs_id_hex(&s->id, hex));
	size_t l = strlen(tag);
	if (used + l + 1 > DRFS_TAGS_BUF || out->n_tags >= DRFS_TAGS_MAX)
		return -E2BIG;
	memcpy(out->tags + used, tag, l + 1);
	out->n_tags++;
	return 0;
}

static int copy_one(struct cp *c, const struct drfs_snap_info *s,
		    const struct drfs_snap_info *dv, size_t dn,
		    struct drfs_id *ret_id)
{
	struct drfs_snapshot *ns = malloc(sizeof(*ns));
	struct drfs_writer_stats ws;
	int e;

	if (!ns)
		return -ENOMEM;
	*ns = s->snap;
	e = retag(ns, s);
	if (e < 0)
		goto out;
	e = drfs_writer_new(c->dst, &c->w);
	if (e < 0)
		goto out;
	e = copy_tree(c, &s->snap.root, &ns->root);
	if (e >= 0 && !drfs_id_is_zero(&s->snap.meta))
		e = copy_tree(c, &s->snap.meta, &ns->meta);
	/* only after the data is durable may a snapshot reference it */
	e = e ?: drfs_writer_flush(c->w);
	if (e < 0)
		goto out;
	drfs_writer_get_stats(c->w, &ws);
	c->res->bytes_stored += ws.bytes_stored;
	ns->added_bytes = ws.bytes_stored;
	ns->added_blobs = ws.blobs_new;
	memset(&ns->parent, 0, sizeof(ns->parent));
	if (!drfs_id_is_zero(&s->snap.parent)) {
		const struct drfs_snap_info *p =
			dst_copy_of(dv, dn, &s->snap.parent);
		if (p)
			ns->parent = p->id;
	}
	e = drfs_repo_snapshot_write(c->dst, ns, ret_id);
	if (e >= 0)
		memo_save(c);
out:
	drfs_writer_free(c->w);
	c->w = NULL;
	free(ns);
	return e;
}

int drfs_copy(struct drfs_repo *src, struct drfs_repo *dst,
	      const struct drfs_copy_opts *o, struct drfs_copy_result *ret)
{
	struct drfs_copy_result res = { 0 };
	struct cp c = { .src = src, .dst = dst, .o = o, .res = &res };
	struct drfs_snap_info *sv = NULL, *dv = NULL, *pick = NULL;
	size_t sn = 0, dn = 0, np = 0;
	int e, failed = 0;

	drfs_buf_init(&c.data, DRFS_BLOB_MAX);
	drfs_buf_init(&c.fresh, 64u << 20);
	memo_load(&c);
	e = drfs_repo_snapshots(src, &sv, &sn);
	e = e ?: drfs_repo_snapshots(dst, &dv, &dn);
	if (e < 0)
		goto out;
	if (o->n_snapshots) {
		pick = calloc(o->n_snapshots, sizeof(*pick));
		if (!pick) {
			e = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < o->n_snapshots; i++) {
			e = drfs_repo_snapshot_find(src, o->snapshots[i],
						    &pick[np]);
			if (e < 0)
				goto out;
			np++;
		}
	} else {
		pick = sv;
		np = sn;
		sv = NULL;
	}
	for (size_t i = 0; i < np; i++) {
		const struct drfs_snap_info *s = &pick[i];
		char hex[DRFS_ID_HEX_LEN + 1], nhex[DRFS_ID_HEX_LEN + 1];
		struct drfs_id nid;
		drfs_id_hex(&s->id, hex);
		if (dst_has(dv, dn, s)) {
			res.skipped++;
			continue;
		}
		e = copy_one(&c, s, dv, dn, &nid);
		if (e == -ENOMEM || e == -ENOSPC)
			goto out;
		if (e < 0) {
			failed++;
			if (o->report)
				o->report(o->report_data,
					  "copy: snapshot %s (%.8s) not copied: "
					  "%s", s->folder, hex,
					  drfs_strerror(e));
			continue;
		}
		res.copied++;
		if (o->report)
			o->report(o->report_data, "copied %s (%.8s) as %.8s",
				  s->folder, hex, drfs_id_hex(&nid, nhex));
		/* later picks may name this one as their parent */
		free(dv);
		dv = NULL;
		e = drfs_repo_snapshots(dst, &dv, &dn);
		if (e < 0)
			goto out;
	}
	e = failed;
out:
	free(pick);
	free(sv);
	free(dv);
	free(c.memo);
	free(c.memo_path);
	drfs_buf_release(&c.data);
	drfs_buf_release(&c.fresh);
	if (e >= 0)
		*ret = res;
	return e;
}

/* ---- completeness on a backend ------------------------------------------- */

struct cmpl {
	struct drfs_repo *r;
	struct drfs_backend *be;
	drfs_report_fn report;
	void *report_data;
	struct drfs_id *packs; /* open addressing: packs already checked */
	size_t cap, n;
	int missing;
};

static int pack_seen(struct cmpl *m, const struct drfs_id *pack)
{
	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 1024;
		struct drfs_id *old = m->packs;
		size_t old_cap = m->cap;
		m->packs = calloc(cap, sizeof(*m->packs));
		if (!m->packs) {
			m->packs = old;
			return -ENOMEM;
		}
		m->cap = cap;
		m->n = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (!drfs_id_is_zero(&old[i]))
				pack_seen(m, &old[i]);
		free(old);
	}
	size_t i = (size_t)drfs_get_le64(pack->b) & (m->cap - 1);
	for (; !drfs_id_is_zero(&m->packs[i]); i = (i + 1) & (m->cap - 1))
		if (drfs_id_eq(&m->packs[i], pack))
			return 1;
	m->packs[i] = *pack;
	m->n++;
	return 0;
}

/* 0 present (or already checked), 1 missing, negative errno. */
static int blob_present(struct cmpl *m, const struct drfs_id *id)
{
	struct drfs_id pack;
	char name[DRFS_OBJECT_NAME_MAX], hex[DRFS_ID_HEX_LEN + 1];
	uint64_t size;
	int e = drfs_repo_blob_find(m->r, id, NULL, &pack);
	if (e == -ENOENT) {
		if (m->report)
			m->report(m->report_data, "blob %s is in no pack",
				  drfs_id_hex(id, hex));
		return 1;
	}
	if (e < 0)
		return e;
	e = pack_seen(m, &pack);
	if (e != 0)
		return e < 0 ? e : 0;
	drfs_name_pack(&pack, name);
	e = drfs_backend_head(m->be, name, &size);
	if (e == -ENOENT) {
		if (m->report)
			m->report(m->report_data, "\"%s\" is missing on \"%s\"",
				  name, m->be->display);
		return 1;
	}
	return e < 0 ? e : 0;
}

static int cmpl_tree(struct cmpl *m, const struct drfs_id *id)
{
	struct drfs_buf b;
	struct drfs_tree_iter it;
	struct drfs_node n;
	int e = blob_present(m, id);
	if (e != 0)
		return e;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	e = drfs_repo_blob_read(m->r, id, &b);
	e = e ?: drfs_tree_iter_init(&it, b.p, b.len);
	/* e: 0 at the end (complete), 1 something missing, < 0 error */
	while (e >= 0 && (e = drfs_tree_iter_next(&it, &n)) > 0) {
		struct drfs_extent x;
		int p = 0;
		while (p == 0 && drfs_node_next_extent(&n, &x) > 0)
			p = blob_present(m, &x.id);
		if (p == 0 && S_ISDIR(n.mode))
			p = cmpl_tree(m, &n.subtree);
		if (p != 0) {
			e = p;
			break;
		}
	}
	drfs_buf_release(&b);
	return e;
}

int drfs_snapshot_complete_on(struct drfs_repo *r, struct drfs_backend *be,
			      const struct drfs_snap_info *s,
			      drfs_report_fn report, void *report_data)
{
	struct cmpl m = { .r = r, .be = be, .report = report,
			  .report_data = report_data };
	char name[DRFS_OBJECT_NAME_MAX];
	uint64_t size;
	drfs_name_snapshot(&s->id, name);
	int e = drfs_backend_head(be, name, &size);
	if (e == -ENOENT) {
		if (report)
			report(report_data, "\"%s\" is missing on \"%s\"", name,
			       be->display);
		return 0;
	}
	if (e >= 0)
		e = cmpl_tree(&m, &s->snap.root);
	if (e == 0 && !drfs_id_is_zero(&s->snap.meta))
		e = cmpl_tree(&m, &s->snap.meta);
	free(m.packs);
	if (e < 0)
		return e;
	return e == 0 ? 1 : 0;
}

int drfs_snapshot_newest_complete(struct drfs_repo *r, struct drfs_backend *be,
				  struct drfs_snap_info *ret)
{
	struct drfs_snap_info *v;
	size_t n;
	int e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		return e;
	e = -ENOENT;
	for (size_t i = n; i-- > 0;) {
		int c = drfs_snapshot_complete_on(r, be, &v[i], NULL, NULL);
		if (c < 0) {
			e = c;
			break;
		}
		if (c == 1) {
			*ret = v[i];
			e = 0;
			break;
		}
	}
	free(v);
	return e;
}
