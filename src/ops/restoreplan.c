/* SPDX-License-Identifier: MIT */
/*
 * restoreplan.c - what restore selects (--include, --exclude) and what a
 * dry run (--dry-run) says it would do, entry by entry, changing nothing:
 * the walk of restore.c with rst_plan_entry in place of restore_entry.
 */
#include "restoreint.h"

const char *drfs_restore_action_name(enum drfs_restore_action a)
{
	static const char *const names[] = {
		[DRFS_RESTORE_CREATE] = "create",
		[DRFS_RESTORE_OVERWRITE] = "overwrite",
		[DRFS_RESTORE_REPLACE] = "replace",
		[DRFS_RESTORE_KEEP] = "keep",
		[DRFS_RESTORE_LINK] = "link",
	};
	return (unsigned)a < ARRAY_SIZE(names) ? names[a] : "?";
}

/*
 * The entry at path (last component name) against o->include and
 * o->exclude: RST_SEL_NO not restored (nor its subtree), RST_SEL_YES restored,
 * RST_SEL_WAY a directory entered only because an --include match may be
 * below it.
 */
int rst_selected(const struct drfs_restore_opts *o, const char *path,
		    const char *name, bool is_dir)
{
	if (o->exclude && o->exclude->n &&
	    drfs_excludes_match(o->exclude, path, name, is_dir))
		return RST_SEL_NO;
	if (!o->include || !o->include->n ||
	    drfs_excludes_match(o->include, path, name, is_dir))
		return RST_SEL_YES;
	/* below a directory that matches? each ancestor, from the top */
	char up[PATH_MAX];
	snprintf(up, sizeof(up), "%s", path);
	for (char *sl = strchr(up, '/'); sl; sl = strchr(sl + 1, '/')) {
		*sl = 0;
		const char *base = strrchr(up, '/');
		bool m = drfs_excludes_match(o->include, up,
					     base ? base + 1 : up, true);
		*sl = '/';
		if (m)
			return RST_SEL_YES;
	}
	return is_dir ? RST_SEL_WAY : RST_SEL_NO;
}

/*
 * Whether the existing file name in dir (st) holds n's content, read
 * without changing it (not even its atime, where O_NOATIME is allowed):
 * what --overwrite if-changed would find. false when it cannot tell.
 */
static bool same_content(struct rs *s, int dir, const char *name,
			 struct drfs_node *n, const struct stat *st)
{
	struct drfs_extent x = { 0 }, *v;
	struct drfs_buf buf;
	uint64_t off, end;
	size_t k = 0;
	bool hole, same = false;
	/* a file with other names is written anew (open_file) */
	if (st->st_nlink > 1 || (uint64_t)st->st_size != n->size)
		return false;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					   O_NOATIME | O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					       O_CLOEXEC);
	if (fd < 0)
		return false;
	v = calloc(n->n_extents ? n->n_extents : 1, sizeof(*v));
	drfs_buf_init(&buf, DRFS_BLOB_MAX);
	while (v && k < n->n_extents && drfs_node_next_extent(n, &x) > 0)
		v[k++] = x;
	if (v)
		same = drfs_file_compare(&s->r->keys, fd, v, k, n->size, &buf,
					 &off, &end, &hole) == 0;
	drfs_buf_release(&buf);
	free(v);
	close(fd);
	return same;
}

/*
 * A dry run's restore_entry: what it would do with n (path s->w.path) in
 * directory dir (-1: a directory the restore would create), said through
 * o->plan; nothing is changed. Pushes the directories to walk.
 */
int rst_plan_entry(struct rs *s, int dir, struct drfs_node *n)
{
	const struct drfs_restore_opts *o = s->o;
	const char *name = drfs_treewalk_name(&s->w);
	mode_t type = n->mode & S_IFMT;
	struct stat st = { 0 };
	int act = A_CREATE, e;
	enum drfs_restore_action a;

	int sel = rst_selected(o, s->w.path, name, type == S_IFDIR);
	if (sel == RST_SEL_NO)
		return 0;
	if (dir >= 0) {
		if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			act = rst_decide(s, dir, name, n, &st);
		else if (errno != ENOENT)
			return -errno;
		if (act < 0)
			return act;
	}
	if (act == A_CONFLICT)
		return 1; /* reported */
	if (type == S_IFDIR && act != A_CREATE) {
		int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
						   O_CLOEXEC);
		if (fd < 0)
			return -errno;
		e = drfs_treewalk_push(&s->w, &n->subtree, fd, false);
		goto pushed;
	}
	if (type != S_IFDIR && n->nlink > 1 && act != A_SKIP) {
		if (rst_ino_find(s, n->ino)) {
			o->plan(o->plan_data, DRFS_RESTORE_LINK, s->w.path,
				n->mode, n->size);
			return 0;
		}
		pthread_mutex_lock(&s->lock);
		e = rst_ino_add(s, n->ino, s->w.path);
		pthread_mutex_unlock(&s->lock);
		if (e < 0)
			return e;
	}
	if (act == A_IF_CHANGED)
		act = same_content(s, dir, name, n, &st) ? A_SKIP : A_REWRITE;
	switch (act) {
	case A_SKIP:
	case A_META:
		a = DRFS_RESTORE_KEEP;
		rst_kept(s);
		break;
	case A_REPLACE:
		/* decide's dry answer for another kind in the way */
		a = (st.st_mode & S_IFMT) == type ? DRFS_RESTORE_OVERWRITE
						  : DRFS_RESTORE_REPLACE;
		break;
	case A_REWRITE:
		a = DRFS_RESTORE_OVERWRITE;
		break;
	default:
		a = DRFS_RESTORE_CREATE;
		break;
	}
	if (sel == RST_SEL_YES)
		o->plan(o->plan_data, a, s->w.path, n->mode, n->size);
	if (type == S_IFREG && a != DRFS_RESTORE_KEEP && o->progress) {
		o->progress->files++;
		o->progress->bytes += n->size;
	}
	if (type != S_IFDIR)
		return 0;
	e = drfs_treewalk_push(&s->w, &n->subtree, -1, false);
pushed:
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1], what[128];
		snprintf(what, sizeof(what), "cannot read directory (tree %s)",
			 drfs_id_hex(&n->subtree, hex));
		rst_problem(s, s->w.path, e, what);
		return e == -ENOMEM ? e : 0;
	}
	return 0;
}

/* drfs_restore of a dry run: the walk alone, on this thread. */
int rst_dry_run(struct rs *s, const struct drfs_id *root)
{
	drfs_treewalk_init(&s->w, s->r, s->root);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	int e = rst_walk(s, root, false);
	drfs_treewalk_release(&s->w);
	for (size_t i = 0; i < s->cap_inos; i++)
		free(s->inos[i].path);
	free(s->inos);
	if (s->root >= 0)
		close(s->root);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	return e < 0 ? e : s->errors;
}
