/* SPDX-License-Identifier: MIT */
/*
 * policy.c - keep-policies (restic "forget" semantics), storing them in
 * the sealed "policy" object (its payload: format/policyobj.c) and holds
 * (holds/<snapshot hex>).
 */
#include <stdio.h>
#include <stdint.h>
#include <time.h>

#include "drfs/dr.h"
#include "drfs/limits.h"
#include "drfs/prune.h"

bool drfs_policy_empty(const struct drfs_policy *p)
{
	return !p->last && !p->hourly && !p->daily && !p->weekly &&
	       !p->monthly && !p->yearly && p->within <= 0 && !p->n_tags;
}

/* Bucket kinds; each has its own key space (kind << 56 | value). */
enum { B_LAST = 1, B_HOURLY, B_DAILY, B_WEEKLY, B_MONTHLY, B_YEARLY };

static uint64_t bucket(int kind, time_t t, size_t nr)
{
	struct tm tm;
	uint64_t v = 0;
	if (kind == B_LAST)
		return (uint64_t)kind << 56 | nr;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	uint64_t y = (uint64_t)(tm.tm_year + 1900) & 0xffffffu;
	switch (kind) {
	case B_HOURLY:
		v = ((y * 100 + (uint64_t)tm.tm_mon + 1) * 100 +
		     (uint64_t)tm.tm_mday) * 100 + (uint64_t)tm.tm_hour;
		break;
	case B_DAILY:
		v = (y * 100 + (uint64_t)tm.tm_mon + 1) * 100 +
		    (uint64_t)tm.tm_mday;
		break;
	case B_WEEKLY: {
		/* ISO 8601: the week's Thursday decides the year */
		int wd = (tm.tm_wday + 6) % 7; /* Monday 0 */
		time_t thu = t - (time_t)wd * 86400 + 3 * 86400;
		struct tm th;
		if (!gmtime_r(&thu, &th))
			memset(&th, 0, sizeof(th));
		uint64_t iy = (uint64_t)(th.tm_year + 1900) & 0xffffffu;
		v = iy * 100 + (uint64_t)(th.tm_yday / 7 + 1);
		break;
	}
	case B_MONTHLY:
		v = y * 100 + (uint64_t)tm.tm_mon + 1;
		break;
	case B_YEARLY:
		v = y;
		break;
	}
	return (uint64_t)kind << 56 | v;
}

struct order {
	const struct drfs_snap_info *s;
	size_t i;
};

/* newest first; equal times: larger id first */
static int order_cmp(const void *a, const void *b)
{
	const struct drfs_snap_info *x = ((const struct order *)a)->s;
	const struct drfs_snap_info *y = ((const struct order *)b)->s;
	if (x->snap.time.tv_sec != y->snap.time.tv_sec)
		return x->snap.time.tv_sec > y->snap.time.tv_sec ? -1 : 1;
	if (x->snap.time.tv_nsec != y->snap.time.tv_nsec)
		return x->snap.time.tv_nsec > y->snap.time.tv_nsec ? -1 : 1;
	return -memcmp(x->id.b, y->id.b, DRFS_ID_LEN);
}

static bool has_any_tag(const struct drfs_policy *p,
			const struct drfs_snapshot *s)
{
	size_t off = 0;
	for (uint32_t i = 0; i < p->n_tags && off < sizeof(p->tags); i++) {
		const char *t = p->tags + off;
		size_t l = strnlen(t, sizeof(p->tags) - off);
		if (off + l >= sizeof(p->tags))
			return false;
		if (drfs_snapshot_has_tag(s, t))
			return true;
		off += l + 1;
	}
	return false;
}

/* The rules over o[0..n), sorted newest first; out by o[k].i. */
static void apply_sorted(const struct drfs_policy *p, const struct order *o,
			 size_t n, time_t now, struct drfs_policy_verdict *out)
{
	struct {
		int kind;
		uint32_t left;
		unsigned reason;
		uint64_t last;
		bool any;
	} rules[] = {
		{ B_LAST, p->last, DRFS_KEEP_LAST, 0, false },
		{ B_HOURLY, p->hourly, DRFS_KEEP_HOURLY, 0, false },
		{ B_DAILY, p->daily, DRFS_KEEP_DAILY, 0, false },
		{ B_WEEKLY, p->weekly, DRFS_KEEP_WEEKLY, 0, false },
		{ B_MONTHLY, p->monthly, DRFS_KEEP_MONTHLY, 0, false },
		{ B_YEARLY, p->yearly, DRFS_KEEP_YEARLY, 0, false },
	};

	if (n == 0)
		return;
	time_t ref = o[0].s->snap.time.tv_sec;
	if (now > 0 && now < ref)
		ref = now;
	for (size_t k = 0; k < n; k++) {
		const struct drfs_snap_info *s = o[k].s;
		struct drfs_policy_verdict v = out[o[k].i];
		time_t t = s->snap.time.tv_sec;
		v.keep = false;
		v.reasons = 0;
		for (size_t j = 0; j < ARRAY_SIZE(rules); j++) {
			if (!rules[j].left)
				continue;
			uint64_t b = bucket(rules[j].kind, t, k);
			if (rules[j].any && b == rules[j].last)
				continue;
			rules[j].any = true;
			rules[j].last = b;
			rules[j].left--;
			v.reasons |= rules[j].reason;
		}
		if (p->within > 0 && t > ref - p->within)
			v.reasons |= DRFS_KEEP_WITHIN;
		if (p->n_tags && has_any_tag(p, &s->snap))
			v.reasons |= DRFS_KEEP_TAG;
		v.keep = v.reasons != 0;
		out[o[k].i] = v;
	}
}

int drfs_policy_apply(const struct drfs_policy *p,
		      const struct drfs_snap_info *snaps, size_t n, time_t now,
		      struct drfs_policy_verdict *out)
{
	int e = drfs_policy_apply_groups(p, 0, snaps, n, now, out);
	return e < 0 ? e : 0;
}

/* ---- groups ------------------------------------------------------------ */

int drfs_group_by_parse(const char *s, unsigned *ret)
{
	unsigned g = 0;
	while (*s) {
		size_t l = strcspn(s, ",");
		if (l == 4 && !strncmp(s, "host", 4))
			g |= DRFS_GROUP_HOST;
		else if ((l == 5 && !strncmp(s, "paths", 5)) ||
			 (l == 4 && !strncmp(s, "path", 4)))
			g |= DRFS_GROUP_PATH;
		else if ((l == 4 && !strncmp(s, "tags", 4)) ||
			 (l == 3 && !strncmp(s, "tag", 3)))
			g |= DRFS_GROUP_TAGS;
		else if (l)
			return -EINVAL;
		s += l;
		if (*s == ',')
			s++;
	}
	*ret = g;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The tags of s sorted, into v (DRFS_TAGS_MAX); their number. drfs copy's
 * own tag (DRFS_COPY_TAG<source id>, different on every copy) is left
 * out: it would make each copied snapshot a group of its own.
 */
static size_t sorted_tags(const struct drfs_snapshot *s, const char **v)
{
	const char *t = s->tags;
	size_t n = 0;
	for (uint32_t i = 0; i < s->n_tags && n < DRFS_TAGS_MAX;
	     i++, t += strlen(t) + 1)
		if (strncmp(t, DRFS_COPY_TAG, strlen(DRFS_COPY_TAG)) != 0)
			v[n++] = t;
	qsort(v, n, sizeof(*v), cmp_str);
	return n;
}

char *drfs_group_format(unsigned group_by, const struct drfs_snapshot *s,
			char *out, size_t len)
{
	char show[DRFS_SHOW_BUF(DRFS_PATH_MAX)];
	size_t l = 0;
	out[0] = 0;
	if (group_by & DRFS_GROUP_HOST)
		l += (size_t)snprintf(out + l, len - l, "host \"%s\"",
				      drfs_str_show(s->host, show,
						    sizeof(show)));
	if ((group_by & DRFS_GROUP_PATH) && l < len)
		l += (size_t)snprintf(out + l, len - l, "%spath \"%s\"",
				      l ? ", " : "",
				      drfs_str_show(s->path, show,
						    sizeof(show)));
	if ((group_by & DRFS_GROUP_TAGS) && l < len) {
		l += (size_t)snprintf(out + l, len - l, "%stags [",
				      l ? ", " : "");
		const char *t[DRFS_TAGS_MAX];
		size_t nt = sorted_tags(s, t);
		for (size_t i = 0; i < nt && l < len; i++)
			l += (size_t)snprintf(out + l, len - l, "%s%s",
					      i ? "," : "",
					      drfs_str_show(t[i], show,
							    sizeof(show)));
		if (l < len)
			snprintf(out + l, len - l, "]");
	}
	if (!group_by)
		snprintf(out, len, "all snapshots");
	return out;
}

int drfs_group_cmp(unsigned group_by, const struct drfs_snapshot *a,
		   const struct drfs_snapshot *b)
{
	int c = 0;
	if (group_by & DRFS_GROUP_HOST)
		c = strcmp(a->host, b->host);
	if (!c && (group_by & DRFS_GROUP_PATH))
		c = strcmp(a->path, b->path);
	if (!c && (group_by & DRFS_GROUP_TAGS)) {
		const char *x[DRFS_TAGS_MAX], *y[DRFS_TAGS_MAX];
		size_t nx = sorted_tags(a, x), ny = sorted_tags(b, y);
		for (size_t i = 0; !c && i < nx && i < ny; i++)
			c = strcmp(x[i], y[i]);
		if (!c && nx != ny)
			c = nx < ny ? -1 : 1;
	}
	return c;
}

/* by group (*group_by), then newest first (ties: larger id first) */
static int group_order_cmp(const void *a, const void *b, void *group_by)
{
	const struct order *x = a, *y = b;
	int c = drfs_group_cmp(*(unsigned *)group_by, &x->s->snap,
			       &y->s->snap);
	return c ? c : order_cmp(a, b);
}

int drfs_policy_apply_groups(const struct drfs_policy *p, unsigned group_by,
			     const struct drfs_snap_info *snaps, size_t n,
			     time_t now, struct drfs_policy_verdict *out)
{
	if (drfs_policy_empty(p))
		return -EINVAL;
	if (n == 0)
		return 0;
	struct order *o = malloc(n * sizeof(*o));
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		o[i] = (struct order){ &snaps[i], i };
	qsort_r(o, n, sizeof(*o), group_order_cmp, &group_by);
	size_t groups = 0;
	for (size_t a = 0, b; a < n; a = b, groups++) {
		for (b = a + 1; b < n && drfs_group_cmp(group_by, &o[a].s->snap,
							&o[b].s->snap) == 0;
		     b++)
			;
		for (size_t k = a; k < b; k++)
			out[o[k].i].group = groups;
		apply_sorted(p, o + a, b - a, now, out);
	}
	free(o);
	return (int)MIN(groups, (size_t)INT32_MAX);
}

char *drfs_policy_reasons(unsigned reasons, char *out)
{
	static const char *const names[] = { "last", "hourly", "daily",
					     "weekly", "monthly", "yearly",
					     "within", "tag", "hold" };
	size_t len = 0;
	out[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (reasons & (1u << i))
			len += (size_t)snprintf(out + len, 128 - len, "%s%s",
						len ? ", " : "", names[i]);
	return out;
}

char *drfs_policy_format(const struct drfs_policy *p, char *out, size_t len)
{
	const struct {
		const char *name;
		uint32_t v;
	} c[] = { { "last", p->last },       { "hourly", p->hourly },
		  { "daily", p->daily },     { "weekly", p->weekly },
		  { "monthly", p->monthly }, { "yearly", p->yearly } };
	size_t l = 0;
	out[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(c) && l < len; i++)
		if (c[i].v)
			l += (size_t)snprintf(out + l, len - l,
					      "%s--keep-%s %u", l ? " " : "",
					      c[i].name, c[i].v);
	if (p->within > 0 && l < len) {
		int64_t w = p->within;
		l += (size_t)snprintf(out + l, len - l, "%s--keep-within ",
				      l ? " " : "");
		if (w % 86400 == 0)
			l += (size_t)snprintf(out + l, len - l, "%lldd",
					      (long long)(w / 86400));
		else if (w % 3600 == 0)
			l += (size_t)snprintf(out + l, len - l, "%lldh",
					      (long long)(w / 3600));
		else
			l += (size_t)snprintf(out + l, len - l, "%llds",
					      (long long)w);
	}
	size_t off = 0;
	for (uint32_t i = 0; i < p->n_tags && l < len; i++) {
		const char *t = p->tags + off;
		l += (size_t)snprintf(out + l, len - l, "%s--keep-tag %s",
				      l ? " " : "", t);
		off += strlen(t) + 1;
	}
	return out;
}

/*
 * Objects are never overwritten (every put is create-only, so credentials
 * that may only create objects never need more): a different policy
 * replaces the stored one by a delete and a create-only put. A crash
 * between the two leaves no policy, which keeps every snapshot.
 */
int drfs_policy_store(struct drfs_repo *r, const struct drfs_policy *p)
{
	struct drfs_buf plain, sealed;
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&sealed, DRFS_SMALL_OBJECT_MAX);
	int e = drfs_policy_encode(p, &plain);
	e = e ?: drfs_seal(&r->keys, DRFS_OBJ_POLICY, plain.p, plain.len,
			   &sealed);
	e = e ?: drfs_backend_put(r->be, "policy", sealed.p, sealed.len,
				  DRFS_PUT_CREATE_ONLY);
	if (e == -EEXIST) {
		e = drfs_backend_del(r->be, "policy");
		e = e ?: drfs_backend_put(r->be, "policy", sealed.p, sealed.len,
					  DRFS_PUT_CREATE_ONLY);
	}
	drfs_buf_release(&plain);
	drfs_buf_release(&sealed);
	return e;
}

int drfs_policy_load(struct drfs_repo *r, struct drfs_policy *ret)
{
	struct drfs_buf obj, plain;
	drfs_buf_init(&obj, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&plain, DRFS_SMALL_OBJECT_MAX);
	int e = drfs_backend_get(r->be, "policy", 0, UINT64_MAX, &obj);
	e = e ?: drfs_unseal(&r->keys, DRFS_OBJ_POLICY, obj.p, obj.len, &plain);
	e = e ?: drfs_policy_decode(plain.p, plain.len, ret);
	drfs_buf_release(&obj);
	drfs_buf_release(&plain);
	return e;
}

/* ---- holds ---------------------------------------------------------------
 * holds/<snapshot hex>: sealed DRFS_OBJ_HOLD, payload = snapshot id(32) |
 * le64 time the hold was set.
 */

static void hold_name(const struct drfs_id *snap, char *out)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	snprintf(out, DRFS_OBJECT_NAME_MAX, "holds/%s", drfs_id_hex(snap, hex));
}

int drfs_hold_set(struct drfs_repo *r, const struct drfs_id *snap)
{
	uint8_t p[DRFS_ID_LEN + 8];
	char name[DRFS_OBJECT_NAME_MAX];
	struct drfs_buf sealed;
	memcpy(p, snap->b, DRFS_ID_LEN);
	drfs_put_le64(p + DRFS_ID_LEN, (uint64_t)time(NULL));
	drfs_buf_init(&sealed, DRFS_SMALL_OBJECT_MAX);
	hold_name(snap, name);
	int e = drfs_seal(&r->keys, DRFS_OBJ_HOLD, p, sizeof(p), &sealed);
	e = e ?: drfs_backend_put(r->be, name, sealed.p, sealed.len,
				  DRFS_PUT_CREATE_ONLY);
	/* held already (since an earlier time): the hold stays as it is */
	if (e == -EEXIST)
		e = 0;
	drfs_buf_release(&sealed);
	return e;
}

int drfs_hold_release(struct drfs_repo *r, const struct drfs_id *snap)
{
	char name[DRFS_OBJECT_NAME_MAX];
	hold_name(snap, name);
	return drfs_backend_del(r->be, name);
}

int drfs_hold_check(struct drfs_repo *r, const struct drfs_id *snap)
{
	char name[DRFS_OBJECT_NAME_MAX];
	uint64_t size;
	hold_name(snap, name);
	/* any object under this name holds: a damaged one errs to safety */
	int e = drfs_backend_head(r->be, name, &size);
	if (e == -ENOENT)
		return 0;
	return e < 0 ? e : 1;
}
