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
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "drfs/dr.h"
#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/repair.h"

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
	/*
	 * Damage in the source costs only the entries that hold it, as
	 * "drfs repair snapshots" would cut them (repair.h): lost holds the
	 * data blobs that do not read; paths the damaged entries of the
	 * snapshot being copied (for its tags); path the entry being copied.
	 */
	struct drfs_idset lost;
	char **paths;
	size_t n_paths, cap_paths;
	char path[PATH_MAX];
	bool quiet; /* copying the meta tree: its damage is the root's */
	int first_err;            /* why the file being copied lost a blob */
	struct drfs_id first_id;  /* and which */
};

/* A damaged entry of the snapshot being copied, reported and kept. */
static int damaged(struct cp *c, const char *what, int err)
{
	const char *path = c->path[0] ? c->path + 1 : ".";
	if (c->quiet)
		return 0;
	if (c->o->report)
		c->o->report(c->o->report_data, "copy: \"%s\": %s: %s", path,
			     what, drfs_strerror(err));
	if (drfs_grow(&c->paths, &c->cap_paths, c->n_paths, sizeof(*c->paths),
		      16) < 0)
		return -ENOMEM;
	if (!(c->paths[c->n_paths] = strdup(path)))
		return -ENOMEM;
	c->n_paths++;
	return 0;
}

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
	/* in the cache directory: private like the rest of it */
	int fd = open(c->memo_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		      0600);
	if (fd >= 0) {
		if (drfs_write_all(fd, c->fresh.p, c->fresh.len) < 0)
			c->fresh.len = 0; /* best effort: it is a cache */
		close(fd);
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
	if (drfs_idset_has(&c->lost, id))
		return -ENOENT;
	drfs_buf_reset(&c->data);
	int e = drfs_repo_blob_read(c->src, id, &c->data);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1];
		/* a lost one is named with its file (copy_file) */
		if (drfs_read_lost(e))
			return drfs_idset_add(&c->lost, id) < 0 ? -ENOMEM : e;
		if (c->o->report)
			c->o->report(c->o->report_data,
				     "copy: cannot read blob %s: %s",
				     drfs_id_hex(id, hex), drfs_strerror(e));
		return e;
	}
	c->res->bytes_read += c->data.len;
	if (c->o->progress)
		c->o->progress->bytes += c->data.len;
	e = count_put(c, drfs_writer_put_blob(c->w, DRFS_BLOB_DATA, c->data.p,
					      c->data.len, ret));
	if (e >= 0 && drfs_buf_append(&c->fresh, id->b, DRFS_ID_LEN) >= 0 &&
	    drfs_buf_append(&c->fresh, ret->b, DRFS_ID_LEN) < 0)
		c->fresh.len -= DRFS_ID_LEN;
	return e ?: memo_put(c, id, ret, false);
}

/* drfs_extent_fn of copy_file: x's data blob copied, 1 if it is lost. */
static int extent_copy(void *userdata, struct drfs_extent *x)
{
	struct cp *c = userdata;
	struct drfs_id src = x->id;
	int e = copy_data(c, &src, &x->id);
	if (!drfs_read_lost(e))
		return e;
	if (!c->first_err) {
		c->first_err = e;
		c->first_id = src;
	}
	return 1;
}

/*
 * A file's extents (at c->path), each data blob copied; those lost in the
 * source are cut out (repair.h). *ret_v malloc'd, NULL on an error. 1 if
 * some were lost.
 */
static int copy_file(struct cp *c, struct drfs_node *n,
		     struct drfs_extent **ret_v, size_t *ret_n)
{
	char what[160], hex[DRFS_ID_HEX_LEN + 1];
	uint64_t gone;
	c->first_err = 0;
	int e = drfs_extents_rewrite(n, extent_copy, c, ret_v, ret_n, &gone);
	if (e <= 0)
		return e;
	snprintf(what, sizeof(what), "%llu byte(s) in %d lost blob(s) cut out "
		 "(blob %.16s, ...)", (unsigned long long)gone, e,
		 drfs_id_hex(&c->first_id, hex));
	e = damaged(c, what, c->first_err);
	if (e < 0) {
		free(*ret_v);
		*ret_v = NULL;
		return e;
	}
	return 1;
}

/*
 * copy_tree's state per level of its walk: the tree being rebuilt with dst's
 * ids, and the xattrs and extents (copied) of the entry being added - for a
 * directory, added once its tree is rebuilt. Kept for reuse at its depth.
 */
struct cp_level {
	struct drfs_buf out;
	struct drfs_tree_enc enc;
	struct drfs_xattr *xv; /* DRFS_XATTRS_MAX */
	struct drfs_extent *ev; /* copy_file's */
	size_t nx, ne;
	size_t plen; /* c->path's length at this tree */
	bool lost;   /* something below was lost: the tree is not memoised */
};

static void cp_level_release(void *frame)
{
	struct cp_level *l = frame;
	drfs_tree_enc_release(&l->enc);
	drfs_buf_release(&l->out);
	free(l->xv);
	free(l->ev);
}

/*
 * Read tree id (at c->path, plen bytes) from src as the walk's next level,
 * and start its copy: 0. A tree the source lost becomes an empty directory,
 * stored in dst as *ret and named as damage: 1.
 */
static int copy_enter(struct cp *c, struct drfs_tree_walk *w,
		      struct drfs_stack *lv, const struct drfs_id *id,
		      size_t plen, struct drfs_id *ret)
{
	int e = drfs_tree_walk_push(w, id);
	if (e < 0) {
		static const uint8_t empty = 1; /* version only */
		char hex[DRFS_ID_HEX_LEN + 1], what[64];
		if (!drfs_read_lost(e)) {
			if (c->o->report)
				c->o->report(c->o->report_data,
					     "copy: cannot read tree %s: %s",
					     drfs_id_hex(id, hex),
					     drfs_strerror(e));
			return e;
		}
		snprintf(what, sizeof(what), "directory lost (tree %.16s), "
			 "copied empty", drfs_id_hex(id, hex));
		e = damaged(c, what, e);
		e = e ?: count_put(c, drfs_writer_put_blob(c->w, DRFS_BLOB_TREE,
							   &empty, 1, ret));
		return e < 0 ? e : 1;
	}
	c->res->bytes_read += drfs_tree_walk_top(w)->blob.len;
	struct cp_level *l = drfs_stack_next(lv);
	if (l && !l->xv) {
		l->xv = malloc(DRFS_XATTRS_MAX * sizeof(*l->xv));
		drfs_buf_init(&l->out, DRFS_BLOB_MAX);
	}
	if (!l || !l->xv) {
		drfs_tree_walk_pop(w);
		return -ENOMEM;
	}
	drfs_buf_reset(&l->out);
	drfs_tree_enc_init(&l->enc, &l->out);
	l->plen = plen;
	l->lost = false;
	lv->depth++;
	return 0;
}

/*
 * The xattrs of n (at c->path), and its extents with the data copied to
 * dst, those the source lost cut out: 1 if some were lost.
 */
static int copy_entry_data(struct cp *c, struct cp_level *l,
			   struct drfs_node *n)
{
	struct drfs_xattr x;
	l->nx = l->ne = 0;
	while (l->nx < DRFS_XATTRS_MAX && drfs_node_next_xattr(n, &x) > 0)
		l->xv[l->nx++] = x;
	free(l->ev);
	l->ev = NULL;
	if (!n->n_extents)
		return 0;
	return copy_file(c, n, &l->ev, &l->ne);
}

/*
 * The deepest tree is rebuilt: store it in dst, remember it unless
 * something below it was lost (every snapshot names its own damage), and
 * leave it. 1 if something below it was lost, 0 if not.
 */
static int copy_leave(struct cp *c, struct drfs_tree_walk *w,
		      struct drfs_stack *lv, struct drfs_id *ret)
{
	struct cp_level *l = drfs_stack_top(lv);
	const struct drfs_id from = drfs_tree_walk_top(w)->id;
	bool lost = l->lost;
	int e = 0;
	if (l->out.len == 0)
		e = drfs_buf_u8(&l->out, 1); /* empty directory: version only */
	e = e ?: count_put(c, drfs_writer_put_blob(c->w, DRFS_BLOB_TREE,
						   l->out.p, l->out.len, ret));
	if (e >= 0 && !lost)
		e = memo_put(c, &from, ret, false);
	if (e < 0)
		return e;
	drfs_tree_enc_release(&l->enc);
	drfs_tree_walk_pop(w);
	lv->depth--;
	if (lost && lv->depth)
		((struct cp_level *)drfs_stack_top(lv))->lost = true;
	return lost;
}

/*
 * Tree idp of src, rebuilt in dst with dst's ids, its data copied: depth-
 * first on the heap (any depth), a tree's entry added to the tree above
 * once the tree is stored. What the source lost is cut out (c->path names
 * it). 1 if something was lost, 0 if not, negative errno.
 */
static int copy_tree(struct cp *c, const struct drfs_id *idp,
		     struct drfs_id *ret)
{
	const struct drfs_id from = *idp; /* ret may alias */
	struct drfs_tree_walk w;
	struct drfs_stack lv; /* struct cp_level, one per level of w */
	struct drfs_node *n;
	struct drfs_id to = { 0 };
	int e, lost = 0;

	if (memo_get(c, &from, ret))
		return 0;
	drfs_tree_walk_init(&w, drfs_repo_blob_reader, c->src);
	drfs_stack_init(&lv, sizeof(struct cp_level));
	c->path[0] = 0;
	e = copy_enter(c, &w, &lv, &from, 0, &to);
	lost = e > 0;
	while (e >= 0 && lv.depth) {
		struct cp_level *l = drfs_stack_top(&lv);
		e = drfs_tree_walk_next(&w, &n);
		if (e == 0) {
			c->path[l->plen & ~DRFS_WALK_PATH_CUT] = 0;
			e = copy_leave(c, &w, &lv, &to);
			if (e < 0 || !lv.depth) {
				lost = e > 0;
				break;
			}
			/* the entry above, waiting for this tree */
			l = drfs_stack_top(&lv);
			n = &drfs_tree_walk_top(&w)->node;
			n->subtree = to;
		} else {
			if (e < 0)
				break;
			size_t at = drfs_walk_path_add(c->path,
						       sizeof(c->path),
						       l->plen, n->name,
						       n->name_len);
			e = copy_entry_data(c, l, n);
			if (e < 0)
				break;
			l->lost |= e > 0;
			if (S_ISDIR(n->mode) &&
			    !memo_get(c, &n->subtree, &n->subtree)) {
				e = copy_enter(c, &w, &lv, &n->subtree, at,
					       &n->subtree);
				if (e == 0)
					continue;
				l->lost |= e > 0; /* copied empty */
			}
		}
		if (e >= 0)
			e = drfs_tree_enc_add(&l->enc, n, l->xv, l->nx, l->ev,
					      l->ne);
	}
	if (e >= 0)
		*ret = to; /* the last tree stored: the first one entered */
	drfs_stack_release(&lv, cp_level_release);
	drfs_tree_walk_release(&w);
	return e < 0 ? e : lost;
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
		    struct drfs_id *ret_id, char ret_folder[DRFS_FOLDER_BUF])
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
	for (size_t i = 0; i < c->n_paths; i++)
		free(c->paths[i]);
	c->n_paths = 0;
	c->path[0] = 0;
	e = copy_tree(c, &s->snap.root, &ns->root);
	if (e >= 0 && !drfs_id_is_zero(&s->snap.meta)) {
		/* lost: no meta; else its one entry is the root, already
		 * copied (and its damage named) */
		drfs_buf_reset(&c->data);
		e = drfs_repo_blob_read(c->src, &s->snap.meta, &c->data);
		if (drfs_read_lost(e)) {
			memset(&ns->meta, 0, sizeof(ns->meta));
			e = damaged(c, "the root directory's own metadata is "
				       "lost", e);
		} else if (e >= 0) {
			c->quiet = true;
			e = copy_tree(c, &s->snap.meta, &ns->meta);
			c->quiet = false;
		}
	}
	if (e > 0)
		e = 0; /* damage: named, and the snapshot tagged below */
	if (e >= 0 && c->n_paths)
		drfs_damage_tags(ns, (const char *const *)c->paths,
				 c->n_paths);
	/* only after the data is durable may a snapshot reference it */
	e = e ?: drfs_writer_flush(c->w);
	if (e < 0)
		goto out;
	drfs_writer_get_stats(c->w, &ws);
	c->res->bytes_stored += ws.bytes_stored;
	if (c->o->progress)
		c->o->progress->bytes_new += ws.bytes_stored;
	ns->added_bytes = ws.bytes_stored;
	ns->added_blobs = ws.blobs_new;
	memset(&ns->parent, 0, sizeof(ns->parent));
	if (!drfs_id_is_zero(&s->snap.parent)) {
		const struct drfs_snap_info *p =
			dst_copy_of(dv, dn, &s->snap.parent);
		if (p)
			ns->parent = p->id;
	}
	/* the source's folder name, if the destination has it free */
	if (drfs_snapshot_name_valid(s->folder, &s->snap.time))
		snprintf(ns->name, sizeof(ns->name), "%s", s->folder);
	e = drfs_repo_snapshot_write(c->dst, ns, ret_id);
	if (e >= 0) {
		memcpy(ret_folder, ns->name, DRFS_FOLDER_BUF);
		memo_save(c);
	}
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
			e = drfs_repo_snapshot_find_in(src, o->snapshots[i],
						       o->latest, &pick[np]);
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
		if (o->progress && i) /* the one before is done */
			o->progress->files++;
		if (dst_has(dv, dn, s)) {
			res.skipped++;
			continue;
		}
		char nfolder[DRFS_FOLDER_BUF];
		e = copy_one(&c, s, dv, dn, &nid, nfolder);
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
		drfs_id_hex(&nid, nhex);
		if (o->report && c.n_paths)
			o->report(o->report_data, "copied %s (%.8s) as %s "
				  "(%.8s) without what the source lost: %zu "
				  "damaged entr%s (named above)", s->folder,
				  hex, nfolder, nhex, c.n_paths,
				  c.n_paths == 1 ? "y" : "ies");
		else if (o->report)
			o->report(o->report_data,
				  "copied %s (%.8s) as %s (%.8s)", s->folder,
				  hex, nfolder, nhex);
		if (c.n_paths)
			failed++;
		/* later picks may name this one as their parent */
		free(dv);
		dv = NULL;
		e = drfs_repo_snapshots(dst, &dv, &dn);
		if (e < 0)
			goto out;
	}
	if (o->progress && np)
		o->progress->files++;
	e = failed;
out:
	free(pick);
	free(sv);
	free(dv);
	free(c.memo);
	free(c.memo_path);
	for (size_t i = 0; i < c.n_paths; i++)
		free(c.paths[i]);
	free(c.paths);
	drfs_idset_free(&c.lost);
	drfs_buf_release(&c.data);
	drfs_buf_release(&c.fresh);
	if (e >= 0)
		*ret = res;
	return e;
}
