/* SPDX-License-Identifier: MIT */
/*
 * mirror.c - keep a second bucket object-identical to a repository without
 * its keys (see include/drfs/dr.h, docs/disaster-recovery.md).
 *
 * Only the backend is used: objects are listed, copied byte for byte and
 * compared by size and ETag, never decoded, so the passphrase is never
 * needed and never asked for. A run:
 *
 *   1. lists src's snapshots/ first, then all of src, then all of dst: a
 *      snapshot that appears while the rest is listed is left for the next
 *      run, so dst never gets a snapshot whose packs it lacks;
 *   2. refuses a dst that holds another repository (a config with other
 *      bytes) or objects src does not have and no config;
 *   3. copies what dst lacks with create-only puts, in passes: keys/, then
 *      config, then everything else, then the snapshots of step 1 - the
 *      last pass only when every earlier copy succeeded; each copy is
 *      checked: the bytes read against src's ETag (when it is an MD5), the
 *      object stored on dst by size and ETag;
 *   4. objects present on both sides with another size or ETag are named
 *      and left (they are immutable: one side is damaged), except
 *      "policy", the one object drfs replaces, which is replaced;
 *   5. deletes from dst what src no longer has, once it has been missing
 *      for opts->delete_after (the state file remembers since when):
 *      snapshots/ first, then the rest.
 *
 * Objects under locks/ and the probe object ".drfs-inm-probe" are not
 * mirrored (they belong to one bucket's writers). Everything a run does not
 * finish is found again by the next run (resumable by construction).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "drfs/dr.h"
#include "drfs/limits.h"
#include "drfs/log.h"

#define MIRROR_THREADS_DEFAULT 4
#define MIRROR_THREADS_MAX 32
#define STATE_MAX (64u << 20)

struct ent {
	char *name;
	struct drfs_obj_info info;
	int64_t since; /* state: missing from src since (deletes) */
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static bool mirrored(const char *name)
{
	return strncmp(name, "locks/", 6) && strcmp(name, ".drfs-inm-probe");
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static int ents_add(struct ents *l, const char *name,
		    const struct drfs_obj_info *info)
{
	if (drfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 256) < 0)
		return -ENOMEM;
	struct ent *e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	if (!(e->name = strdup(name)))
		return -ENOMEM;
	if (info)
		e->info = *info;
	l->n++;
	return 0;
}

static void ents_free(struct ents *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->name,
		      ((const struct ent *)b)->name);
}

static void ents_sort(struct ents *l)
{
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), ent_cmp);
}

static struct ent *ents_find(const struct ents *l, const char *name)
{
	struct ent key = { .name = (char *)name };
	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), ent_cmp) : NULL;
}

static int list_add(const char *name, const struct drfs_obj_info *info,
		    void *userdata)
{
	return mirrored(name) ? ents_add(userdata, name, info) : 0;
}

/* ---- comparing and copying -------------------------------------------- */

struct mirror {
	struct drfs_backend *src, *dst;
	const struct drfs_mirror_opts *o;
	struct drfs_mirror_result *res;
	pthread_mutex_t lock; /* res, next, and the report */
	/* the pass being run */
	struct ent *const *jobs;
	size_t n_jobs, next;
};

static void _printf_(2, 3) say(struct mirror *m, const char *fmt, ...)
{
	char msg[2 * DRFS_OBJECT_NAME_MAX + 1024];
	va_list ap;

	if (!m->o->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&m->lock);
	m->o->report(m->o->report_data, "%s", msg);
	pthread_mutex_unlock(&m->lock);
}

/* Whether two records of one object agree: size, and the ETags when both
 * are MD5s and verify_etag. */
static bool same_object(const struct mirror *m, const struct drfs_obj_info *a,
			const struct drfs_obj_info *b)
{
	if (a->size != b->size)
		return false;
	if (!m->o->verify_etag || strlen(a->etag) != 32 ||
	    strlen(b->etag) != 32 || strchr(a->etag, '-') ||
	    strchr(b->etag, '-'))
		return true;
	return strcmp(a->etag, b->etag) == 0;
}

static const char *detail(struct drfs_backend *b, int e)
{
	const char *d = drfs_backend_last_error(b);
	return d ? d : drfs_strerror(e);
}

/* Copy one object from src to dst and check what dst stored. */
static int copy_one(struct mirror *m, const struct ent *se, struct drfs_buf *b)
{
	struct drfs_obj_info got;
	int e;

	drfs_buf_reset(b);
	e = drfs_backend_get(m->src, se->name, 0, UINT64_MAX, b);
	if (e < 0) {
		say(m, "mirror: cannot read \"%s\" from the source: %s",
		    se->name, detail(m->src, e));
		return e;
	}
	if (b->len != se->info.size ||
	    (m->o->verify_etag &&
	     drfs_backend_etag_md5(se->info.etag, b->p, b->len) == 0)) {
		say(m, "mirror: \"%s\" read from the source does not match "
		       "its listing (size or ETag): not copied (run again; "
		       "if it persists, the source object is damaged)",
		    se->name);
		return -EIO;
	}
	if (m->o->dry_run)
		return 0;
	e = drfs_backend_put(m->dst, se->name, b->p, b->len,
			     DRFS_PUT_CREATE_ONLY);
	if (e < 0) {
		say(m, "mirror: cannot write \"%s\" to the mirror: %s",
		    se->name, detail(m->dst, e));
		return e;
	}
	e = drfs_backend_stat(m->dst, se->name, &got);
	if (e < 0) {
		say(m, "mirror: cannot check \"%s\" on the mirror: %s",
		    se->name, detail(m->dst, e));
		return e;
	}
	if (got.size != b->len ||
	    (m->o->verify_etag &&
	     drfs_backend_etag_md5(got.etag, b->p, b->len) == 0)) {
		say(m, "mirror: \"%s\" on the mirror does not match what was "
		       "written (size or ETag)", se->name);
		return -EIO;
	}
	return 0;
}

static void *copy_worker(void *arg)
{
	struct mirror *m = arg;
	struct drfs_buf b;

	drfs_buf_init(&b, DRFS_PACK_MAX + DRFS_SMALL_OBJECT_MAX);
	for (;;) {
		pthread_mutex_lock(&m->lock);
		size_t i = m->next++;
		pthread_mutex_unlock(&m->lock);
		if (i >= m->n_jobs)
			break;
		const struct ent *se = m->jobs[i];
		int e = copy_one(m, se, &b);
		pthread_mutex_lock(&m->lock);
		if (e < 0) {
			m->res->failed++;
		} else {
			m->res->copied++;
			m->res->copied_bytes += se->info.size;
		}
		pthread_mutex_unlock(&m->lock);
	}
	drfs_buf_release(&b);
	return NULL;
}

/* Copy jobs[0..n) with the worker threads; the number that failed. */
static uint64_t copy_all(struct mirror *m, struct ent *const *jobs, size_t n)
{
	pthread_t th[MIRROR_THREADS_MAX];
	int want = m->o->threads > 0 ? m->o->threads : MIRROR_THREADS_DEFAULT;
	int nt = 0;
	uint64_t failed0 = m->res->failed;

	if (!n)
		return 0;
	m->jobs = jobs;
	m->n_jobs = n;
	m->next = 0;
	want = MIN(want, MIRROR_THREADS_MAX);
	for (; nt < want && (size_t)nt < n; nt++)
		if (pthread_create(&th[nt], NULL, copy_worker, m))
			break;
	if (!nt)
		copy_worker(m); /* no thread could start: do it here */
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	return m->res->failed - failed0;
}

/* ---- the deletes' state file --------------------------------------------
 * Text, one line per object missing from the source: "<since> <name>\n",
 * since in seconds since 1970. Written whole to a temporary file and
 * renamed over the old one; a missing or unreadable file restarts every
 * grace period (deletes come later, never sooner).
 */

static int state_load(const char *path, struct ents *ret)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	char line[DRFS_OBJECT_NAME_MAX + 32];
	int e = 0;

	if (!f)
		return 0;
	while (e >= 0 && fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');
		size_t l = strcspn(line, "\n");
		long long since;
		line[l] = '\0';
		if (!sp || sscanf(line, "%lld ", &since) != 1 || since < 0)
			continue;
		e = ents_add(ret, sp + 1, NULL);
		if (e >= 0)
			ret->v[ret->n - 1].since = since;
	}
	fclose(f);
	ents_sort(ret);
	return e;
}

static int state_save(const char *path, const struct ents *pending)
{
	char *tmp = NULL;
	FILE *f;
	int e = 0;

	if (!path)
		return 0;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	f = fopen(tmp, "we");
	if (!f) {
		e = -errno;
		free(tmp);
		return e;
	}
	for (size_t i = 0; i < pending->n; i++)
		fprintf(f, "%lld %s\n", (long long)pending->v[i].since,
			pending->v[i].name);
	if (fflush(f) || fsync(fileno(f)))
		e = -errno;
	if (fclose(f) && e >= 0)
		e = -errno;
	if (e >= 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0)
		unlink(tmp);
	free(tmp);
	return e;
}

/* ---- the run -------------------------------------------------------------- */

/* dst must be empty, hold the same repository (the same config bytes), or
 * hold only objects src has too (an interrupted first run). */
static int check_sides(struct mirror *m, const struct ents *src,
		       const struct ents *dst)
{
	struct drfs_buf a, b;
	int e = 0;

	if (!ents_find(src, "config")) {
		say(m, "mirror: \"%s\" is not a drfs repository (it has "
		       "no config)", m->src->display);
		return -ENOENT;
	}
	if (!ents_find(dst, "config")) {
		for (size_t i = 0; i < dst->n; i++)
			if (!ents_find(src, dst->v[i].name)) {
				say(m, "mirror: \"%s\" holds no repository "
				       "but objects the source lacks "
				       "(\"%s\"): refused",
				    m->dst->display, dst->v[i].name);
				return -EEXIST;
			}
		return 0;
	}
	drfs_buf_init(&a, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	e = drfs_backend_get(m->src, "config", 0, UINT64_MAX, &a);
	e = e ?: drfs_backend_get(m->dst, "config", 0, UINT64_MAX, &b);
	if (e >= 0 && (a.len != b.len || memcmp(a.p, b.p, a.len))) {
		say(m, "mirror: \"%s\" holds another repository (its config "
		       "differs): refused", m->dst->display);
		e = -EEXIST;
	} else if (e < 0) {
		say(m, "mirror: cannot read config: %s", drfs_strerror(e));
	}
	drfs_buf_release(&a);
	drfs_buf_release(&b);
	return e;
}

/* Pass p of step 3: 0 keys/, 1 config, 2 the rest (not snapshots/). */
static bool in_pass(const char *name, int p)
{
	bool key = starts(name, "keys/"), cfg = !strcmp(name, "config");
	if (p == 0)
		return key;
	if (p == 1)
		return cfg;
	return !key && !cfg && !starts(name, "snapshots/");
}

/* The objects of list to copy in pass p (or, p 3, all of list). */
static int plan_pass(struct mirror *m, const struct ents *list, int p,
		     const struct ents *dst, struct ent ***ret, size_t *ret_n)
{
	struct ent **jobs = calloc(list->n ? list->n : 1, sizeof(*jobs));
	size_t n = 0;

	if (!jobs)
		return -ENOMEM;
	for (size_t i = 0; i < list->n; i++) {
		struct ent *se = &list->v[i];
		if (p < 3 && !in_pass(se->name, p))
			continue;
		struct ent *de = ents_find(dst, se->name);
		if (de && same_object(m, &se->info, &de->info)) {
			m->res->present++;
			continue;
		}
		if (de && strcmp(se->name, "policy")) {
			say(m, "mirror: \"%s\" differs between the source and "
			       "the mirror (size or ETag; one side is damaged: "
			       "run drfs check --read-data on each): left as "
			       "it is", se->name);
			m->res->differ++;
			continue;
		}
		if (de) { /* the one object drfs replaces */
			int e = m->o->dry_run ? 0
					      : drfs_backend_del(m->dst,
								 se->name);
			if (e < 0) {
				say(m, "mirror: cannot replace \"%s\": %s",
				    se->name, detail(m->dst, e));
				m->res->failed++;
				continue;
			}
			m->res->replaced++;
		}
		jobs[n++] = se;
	}
	*ret = jobs;
	*ret_n = n;
	return 0;
}

/* Step 5: delete what src lacks once it has been missing long enough. */
static int delete_gone(struct mirror *m, const struct ents *src,
		       const struct ents *dst, int64_t now)
{
	struct ents old = { 0 }, pending = { 0 };
	int e = state_load(m->o->state_path, &old);

	for (int pass = 0; e >= 0 && pass < 2; pass++) {
		for (size_t i = 0; e >= 0 && i < dst->n; i++) {
			const char *name = dst->v[i].name;
			if (starts(name, "snapshots/") != (pass == 0) ||
			    ents_find(src, name))
				continue;
			struct ent *o = ents_find(&old, name);
			int64_t since = o ? o->since : now;
			bool due = m->o->state_path &&
				   now - since >= m->o->delete_after;
			if (!due || m->o->dry_run) {
				m->res->pending_delete++;
				e = ents_add(&pending, name, NULL);
				if (e >= 0)
					pending.v[pending.n - 1].since = since;
				continue;
			}
			int de = drfs_backend_del(m->dst, name);
			if (de < 0) {
				say(m, "mirror: cannot delete \"%s\" from the "
				       "mirror: %s", name, detail(m->dst, de));
				m->res->failed++;
				e = ents_add(&pending, name, NULL);
				if (e >= 0)
					pending.v[pending.n - 1].since = since;
				continue;
			}
			m->res->deleted++;
		}
	}
	if (e >= 0 && !m->o->dry_run)
		e = state_save(m->o->state_path, &pending);
	ents_free(&old);
	ents_free(&pending);
	return e;
}

static int list_side(struct mirror *m, struct drfs_backend *b,
		     const char *prefix, struct ents *ret)
{
	int e = drfs_backend_list_info(b, prefix, list_add, ret);
	if (e < 0)
		say(m, "mirror: cannot list \"%s\": %s", b->display,
		    detail(b, e));
	ents_sort(ret);
	return e;
}

int drfs_mirror(struct drfs_backend *src, struct drfs_backend *dst,
		const struct drfs_mirror_opts *o, struct drfs_mirror_result *ret)
{
	struct drfs_mirror_result res = { 0 };
	struct mirror m = { .src = src, .dst = dst, .o = o, .res = &res };
	struct ents snaps = { 0 }, all = { 0 }, have = { 0 };
	int64_t now = (int64_t)time(NULL);
	uint64_t failed = 0;
	int e;

	pthread_mutex_init(&m.lock, NULL);
	e = list_side(&m, src, "snapshots/", &snaps);
	e = e ?: list_side(&m, src, "", &all);
	e = e ?: list_side(&m, dst, "", &have);
	e = e ?: check_sides(&m, &all, &have);
	for (int p = 0; e >= 0 && p < 4; p++) {
		struct ent **jobs = NULL;
		size_t n = 0;
		if (p == 3 && failed) {
			say(&m, "mirror: snapshots not copied: objects they "
				"may need failed (named above); run again");
			res.snapshots_held = true;
			break;
		}
		e = plan_pass(&m, p == 3 ? &snaps : &all, p, &have, &jobs, &n);
		if (e >= 0)
			failed += copy_all(&m, jobs, n);
		free(jobs);
	}
	if (e >= 0)
		e = delete_gone(&m, &all, &have, now);
	ents_free(&snaps);
	ents_free(&all);
	ents_free(&have);
	pthread_mutex_destroy(&m.lock);
	if (e >= 0)
		*ret = res;
	return e < 0 ? e
		     : (int)MIN(res.failed + res.differ, (uint64_t)INT32_MAX);
}
