/* SPDX-License-Identifier: MIT */
/*
 * pattern.h - exclude patterns of drfs backup (--exclude, --exclude-file),
 * restic-like, matched against the entries of the backed-up directory:
 *
 *   - a pattern without '/' matches an entry's name at any depth
 *     ("*.o", "node_modules", ".cache");
 *   - a pattern with '/' is anchored at the backed-up directory and
 *     matches the entry's path relative to it, a leading '/' optional
 *     ("/build", "src/[ab].tmp");
 *   - a trailing '/' matches directories only ("tmp/");
 *   - within a name, '*' matches any run of characters (a leading '.'
 *     too) but never '/', '?' one character, "[a-z]" and "[!a-z]" a set,
 *     '\' quotes the next character (fnmatch(3) without flags);
 *   - a component "**" matches any number of components, none included
 *     (docs/backup.md has examples).
 *
 * An excluded directory is not read: nothing below it is in the snapshot.
 * Matching is a pure function of the pattern and the path.
 */
#ifndef DRFS_PATTERN_H
#define DRFS_PATTERN_H

#include "drfs/base.h"

struct drfs_pattern {
	char **comp;   /* its components, "**" among them */
	size_t n;
	bool anchored; /* had a '/' (not counting a trailing one) */
	bool dir_only; /* had a trailing '/' */
};

struct drfs_excludes {
	struct drfs_pattern *v;
	size_t n, cap;
	bool anchored; /* some pattern needs the entry's path */
};

/*
 * Add one pattern (copied). -EINVAL for an empty pattern, "/", or one
 * longer than DRFS_PATH_MAX; -ENOMEM.
 */
int drfs_excludes_add(struct drfs_excludes *x, const char *pattern);
/*
 * Whether an entry is excluded: path is its path relative to the
 * backed-up directory ("a/b/name", no leading '/'; only read when
 * x->anchored), name its last component.
 */
bool drfs_excludes_match(const struct drfs_excludes *x, const char *path,
			 const char *name, bool is_dir);
void drfs_excludes_release(struct drfs_excludes *x);

/*
 * Whether path (components separated by '/') matches the components
 * comp[0..n) as described above. Exposed for the unit test.
 */
bool drfs_pattern_match(char *const *comp, size_t n, const char *path);

#endif
