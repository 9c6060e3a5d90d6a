/* SPDX-License-Identifier: MIT */
/*
 * pattern.c - exclude patterns (pattern.h): components matched with
 * fnmatch(3), "**" components by the two-pointer wildcard algorithm (a
 * mismatch goes back to the last "**" and lets it take one more
 * component), so a match costs at most components x components calls.
 */
#include <fnmatch.h>

#include "drfs/limits.h"
#include "drfs/pattern.h"

static bool is_globstar(const char *c)
{
	return c[0] == '*' && c[1] == '*' && c[2] == 0;
}

/* Whether pattern component pat matches the len bytes at s. */
static bool comp_match(const char *pat, const char *s, size_t len)
{
	char name[DRFS_NAME_MAX + 1];
	if (len > DRFS_NAME_MAX)
		return false;
	memcpy(name, s, len);
	name[len] = 0;
	return fnmatch(pat, name, 0) == 0;
}

/* The component after the one at s (at the end: the end). */
static const char *comp_next(const char *s)
{
	const char *e = strchrnul(s, '/');
	return *e ? e + 1 : e;
}

bool drfs_pattern_match(char *const *comp, size_t n, const char *path)
{
	const char *s = path, *star_s = NULL;
	size_t i = 0, star_i = SIZE_MAX;

	while (*s) {
		if (i < n && is_globstar(comp[i])) {
			star_i = i++;
			star_s = s;
			continue;
		}
		const char *e = strchrnul(s, '/');
		if (i < n && comp_match(comp[i], s, (size_t)(e - s))) {
			i++;
			s = *e ? e + 1 : e;
			continue;
		}
		if (star_i == SIZE_MAX)
			return false;
		/* the last "**" takes one more component; retry after it */
		star_s = comp_next(star_s);
		s = star_s;
		i = star_i + 1;
	}
	while (i < n && is_globstar(comp[i]))
		i++;
	return i == n;
}

static void pattern_release(struct drfs_pattern *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->comp[i]);
	free(p->comp);
	memset(p, 0, sizeof(*p));
}

int drfs_excludes_add(struct drfs_excludes *x, const char *pattern)
{
	struct drfs_pattern p = { 0 };
	size_t len = strlen(pattern), cap = 0;

	if (len == 0 || len > DRFS_PATH_MAX)
		return -EINVAL;
	while (len && pattern[len - 1] == '/') {
		p.dir_only = true;
		len--;
	}
	p.anchored = memchr(pattern, '/', len) != NULL;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && pattern[j] != '/')
			j++;
		if (j > i) {
			char *c = strndup(pattern + i, j - i);
			if (!c || drfs_grow(&p.comp, &cap, p.n, sizeof(*p.comp),
					    8) < 0) {
				free(c);
				pattern_release(&p);
				return -ENOMEM;
			}
			p.comp[p.n++] = c;
		}
		i = j + 1;
	}
	if (p.n == 0) {
		pattern_release(&p);
		return -EINVAL;
	}
	if (drfs_grow(&x->v, &x->cap, x->n, sizeof(*x->v), 8) < 0) {
		pattern_release(&p);
		return -ENOMEM;
	}
	x->v[x->n++] = p;
	x->anchored |= p.anchored;
	return 0;
}

bool drfs_excludes_match(const struct drfs_excludes *x, const char *path,
			 const char *name, bool is_dir)
{
	for (size_t i = 0; x && i < x->n; i++) {
		const struct drfs_pattern *p = &x->v[i];
		if (p->dir_only && !is_dir)
			continue;
		const char *what = p->anchored ? path : name;
		if (drfs_pattern_match(p->comp, p->n, what))
			return true;
	}
	return false;
}

void drfs_excludes_release(struct drfs_excludes *x)
{
	for (size_t i = 0; i < x->n; i++)
		pattern_release(&x->v[i]);
	free(x->v);
	memset(x, 0, sizeof(*x));
}
