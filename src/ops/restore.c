/* SPDX-License-Identifier: MIT */
/*
 * restore.c - a snapshot back into a directory, without FUSE.
 *
 * The walk (this thread, iterative: struct drfs_treewalk) creates
 * directories, symlinks and special files and queues regular files to
 * worker threads, which write their extents (holes stay holes) and set
 * their metadata. Hard links are made after the workers finish, directory
 * metadata last (deepest first) so that writing children does not disturb
 * parents' times.
 *
 * Nothing outside the target is touched: every entry is reached through a
 * directory fd (the walk's) or opened beneath the target's fd by its
 * relative path (drfs_open_beneath), never through a symlink; metadata is
 * set on an fd (symlinks and special files: an O_PATH one, checked to have
 * no other name, through /proc/self/fd); an existing entry
 * of another kind is a conflict, not something to enter; an existing file
 * with other hard links is replaced, not written through; a hard link
 * goes only to a file this restore made, checked by inode at link time.
 *
 * Rooms, over restoreint.h: this file (the walk, what to do with each
 * entry, drfs_restore), restorefile.c (the workers writing regular
 * files), restoremeta.c (metadata, hard-link groups, and what follows the
 * workers: hard links, directories' metadata, the root's).
 */
#include "restoreint.h"

int drfs_overwrite_parse(const char *s, enum drfs_overwrite *ret)
{
	static const char *const names[] = {
		[DRFS_OVERWRITE_ALWAYS] = "always",
		[DRFS_OVERWRITE_IF_CHANGED] = "if-changed",
		[DRFS_OVERWRITE_IF_NEWER] = "if-newer",
		[DRFS_OVERWRITE_NEVER] = "never",
		[DRFS_OVERWRITE_REPLACE] = "replace",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*ret = (enum drfs_overwrite)i;
			return 0;
		}
	return -EINVAL;
}

static void count_error(struct rs *s)
{
	pthread_mutex_lock(&s->lock);
	s->errors++;
	if (s->o->progress)
		s->o->progress->errors++;
	pthread_mutex_unlock(&s->lock);
}

/* A failure of the entry at path (relative to the target). */
void rst_problem(struct rs *s, const char *path, int e, const char *what)
{
	count_error(s);
	if (s->o->report)
		s->o->report(s->o->report_data, "\"%s%s%s\": %s: %s",
			     s->o->target, *path ? "/" : "", path, what,
			     drfs_strerror(e));
}

/* ... whose message says it all. */
void rst_problem_msg(struct rs *s, const char *path, const char *what)
{
	count_error(s);
	if (s->o->report)
		s->o->report(s->o->report_data, "\"%s%s%s\": %s",
			     s->o->target, *path ? "/" : "", path, what);
}

/* What happened at path: someone swapped it (-ESTALE), or error e. */
void rst_failed(struct rs *s, const char *path, int e, const char *what)
{
	if (e == -ESTALE)
		rst_problem_msg(s, path, "was replaced during the restore; "
					     "left as it is");
	else
		rst_problem(s, path, e, what);
}

void rst_kept(struct rs *s)
{
	if (s->o->progress)
		s->o->progress->kept++;
}

/* ---- the walk ------------------------------------------------------------ */

static int push_link(struct rs *s, const char *path, uint64_t group,
		     bool replace)
{
	if (drfs_grow(&s->links, &s->cap_links, s->n_links, sizeof(*s->links),
		      16) < 0)
		return -ENOMEM;
	char *c = strdup(path);
	if (!c)
		return -ENOMEM;
	s->links[s->n_links++] = (struct link_job){ c, group, replace };
	return 0;
}

static int push_dir_meta(struct rs *s, const char *path, struct drfs_node *n,
			 int fd, bool on_way)
{
	struct dir_meta d;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (drfs_grow(&s->dirs, &s->cap_dirs, s->n_dirs, sizeof(*s->dirs),
		      64) < 0)
		return -ENOMEM;
	int e = rst_meta_from(s, path, &d.m, n);
	if (e < 0)
		return e;
	d.path = strdup(path);
	if (!d.path) {
		free(d.m.xattrs);
		return -ENOMEM;
	}
	d.dev = st.st_dev;
	d.ino = st.st_ino;
	d.on_way = on_way;
	s->dirs[s->n_dirs++] = d;
	return 0;
}

static const char *kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFREG:
		return "a file";
	case S_IFLNK:
		return "a symlink";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFIFO:
		return "a FIFO";
	default:
		return "a socket";
	}
}

static bool newer(const struct drfs_node *n, const struct stat *st)
{
	return n->mtime.tv_sec > st->st_mtim.tv_sec ||
	       (n->mtime.tv_sec == st->st_mtim.tv_sec &&
		n->mtime.tv_nsec > st->st_mtim.tv_nsec);
}

/* An existing symlink or special file equal to the snapshot's. */
static bool same_special(int dir, const char *name, const struct drfs_node *n,
			 const struct stat *st)
{
	if (st->st_nlink != 1)
		return false; /* its metadata is not ours to change */
	if (S_ISLNK(n->mode)) {
		char t[DRFS_PATH_MAX + 1];
		ssize_t l = readlinkat(dir, name, t, sizeof(t));
		return l >= 0 && (size_t)l == n->target_len &&
		       !memcmp(t, n->target, n->target_len);
	}
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
		return (uint64_t)st->st_rdev == n->rdev;
	return true;
}


/* What to do with the existing entry st at name in dir, for node n. */
int rst_decide(struct rs *s, int dir, const char *name, struct drfs_node *n,
	       const struct stat *st)
{
	enum drfs_overwrite ow = s->o->overwrite;
	mode_t have = st->st_mode & S_IFMT, want = n->mode & S_IFMT;
	if (have != want) {
		if (ow == DRFS_OVERWRITE_REPLACE && have != S_IFDIR) {
			if (s->o->dry_run)
				return A_REPLACE;
			if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
				return -errno;
			return A_CREATE;
		}
		char what[160];
		snprintf(what, sizeof(what),
			 "%s is in the way of %s; left as it is%s%s",
			 kind(have), kind(want),
			 want == S_IFDIR ? ", the directory's contents not "
					   "restored"
					 : "",
			 have == S_IFDIR ? " (a directory is never removed)"
			 : ow == DRFS_OVERWRITE_REPLACE
				 ? ""
				 : " (--overwrite replace removes it)");
		rst_problem_msg(s, s->w.path, what);
		return A_CONFLICT;
	}
	bool is_new = newer(n, st);
	if (want == S_IFDIR)
		return ow == DRFS_OVERWRITE_NEVER ||
				(ow == DRFS_OVERWRITE_IF_NEWER && !is_new) ?
			       A_ENTER_KEEP : A_ENTER;
	switch (ow) {
	case DRFS_OVERWRITE_NEVER:
		return A_SKIP;
	case DRFS_OVERWRITE_IF_NEWER:
		if (!is_new)
			return A_SKIP;
		break;
	case DRFS_OVERWRITE_IF_CHANGED:
		if (want == S_IFREG)
			return A_IF_CHANGED;
		if (n->nlink <= 1 && same_special(dir, name, n, st))
			return A_META;
		break;
	default:
		break;
	}
	return want == S_IFREG ? A_REWRITE : A_REPLACE;
}

/* An entry made meanwhile where this restore creates one: look again. */
#define AGAIN 2

/*
 * Directory n at name in dir, made (act A_CREATE), its metadata queued
 * unless A_ENTER_KEEP, pushed onto the walk. AGAIN: it appeared meanwhile
 * in a directory this restore created (fresh).
 */
static int enter_dir(struct rs *s, int dir, const char *name,
		     struct drfs_node *n, int act, bool fresh, int sel)
{
	const char *path = s->w.path;
	int e;
	if (act == A_CREATE && mkdirat(dir, name, 0700) < 0) {
		if (errno == EEXIST && fresh)
			return AGAIN;
		return -errno;
	}
	int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
					   O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? -ESTALE
							  : -errno;
	/* a directory only on the way to --include matches: its metadata
	 * only if this restore made it */
	if (act != A_ENTER_KEEP && (sel != RST_SEL_WAY || act == A_CREATE)) {
		e = push_dir_meta(s, path, n, fd,
				  sel == RST_SEL_WAY && act == A_CREATE);
		if (e < 0) {
			close(fd);
			return e;
		}
	}
	e = drfs_treewalk_push(&s->w, &n->subtree, fd, act == A_CREATE);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1], what[128];
		snprintf(what, sizeof(what), "cannot read directory (tree %s)",
			 drfs_id_hex(&n->subtree, hex));
		rst_problem(s, path, e, what);
		return e == -ENOMEM ? e : 0;
	}
	return 0;
}

/*
 * Symlink or special file n at name in dir, made (act A_CREATE), its
 * metadata set. AGAIN as enter_dir.
 */
static int make_special(struct rs *s, int dir, const char *name,
			struct drfs_node *n, int act, bool fresh)
{
	const char *path = s->w.path;
	mode_t type = n->mode & S_IFMT;
	struct meta m;
	int e;
	if (act == A_CREATE) {
		char target[DRFS_PATH_MAX + 1];
		int ce;
		if (type == S_IFLNK) {
			memcpy(target, n->target, n->target_len);
			target[n->target_len] = 0;
			ce = symlinkat(target, dir, name);
		} else {
			ce = mknodat(dir, name, type | 0600, (dev_t)n->rdev);
		}
		if (ce < 0) {
			if (errno == EEXIST && fresh)
				return AGAIN;
			return -errno;
		}
	}
	e = rst_meta_from(s, path, &m, n);
	if (e < 0)
		return e;
	e = rst_meta_apply_special(dir, name, &m);
	free(m.xattrs);
	if (e < 0)
		rst_failed(s, path, e, "cannot set metadata");
	return 0;
}

/*
 * Whether entry n (path s->w.path) is restored at all: true, with *first
 * or *member set if it is the first name of its hard-link group (recorded
 * now) or a later one. false, with restore_entry's result in *ret: 0 when
 * want_file leaves it out, 1 when a symlink's target holds a NUL byte
 * (reported), a negative errno.
 */
static bool admit(struct rs *s, struct drfs_node *n, bool *first,
		  bool *member, int *ret)
{
	const char *path = s->w.path;
	mode_t type = n->mode & S_IFMT;
	if (s->o->want_file) {
		*ret = 0;
		if (type != S_IFDIR && type != S_IFREG && type != S_IFLNK)
			return false;
		if (type == S_IFREG &&
		    !s->o->want_file(s->o->want_data, path))
			return false;
		n->nlink = 1;
	}
	if (type == S_IFLNK && memchr(n->target, 0, n->target_len)) {
		/* symlinkat would end it at the NUL: another target */
		char q[96], what[160];
		drfs_name_quote(n->target, n->target_len, q, sizeof(q));
		snprintf(what, sizeof(what), "refused a symlink to %s: a "
			 "target cannot hold a NUL byte", q);
		rst_problem_msg(s, path, what);
		*ret = 1;
		return false;
	}
	if (type != S_IFDIR && n->nlink > 1) {
		if (rst_ino_find(s, n->ino)) {
			*member = true;
		} else {
			pthread_mutex_lock(&s->lock);
			*ret = rst_ino_add(s, n->ino, path);
			pthread_mutex_unlock(&s->lock);
			if (*ret < 0)
				return false;
			*first = true;
		}
	}
	return true;
}

/*
 * Restore entry n, whose path is s->w.path, in directory fd dir. May push
 * a directory onto the walk. Problems are reported; returns a negative
 * errno only when the whole restore must stop (or the caller reports it).
 */
static int restore_entry(struct rs *s, int dir, struct drfs_node *n)
{
	const char *name = drfs_treewalk_name(&s->w);
	const char *path = s->w.path;
	bool fresh = drfs_treewalk_top(&s->w)->fresh;
	mode_t type = n->mode & S_IFMT;
	bool first = false, member = false;
	struct stat st;
	int act = A_CREATE, e;

	if (s->o->dry_run)
		return rst_plan_entry(s, dir, n);
	int sel = rst_selected(s->o, path, name, type == S_IFDIR);
	if (sel == RST_SEL_NO)
		return 0;
	if (!admit(s, n, &first, &member, &e))
		return e;
	/* in a directory this restore created, only a racer adds entries:
	 * creating exclusively (EEXIST) finds them */
	if (!fresh) {
	look:
		if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			act = rst_decide(s, dir, name, n, &st);
		else if (errno != ENOENT)
			return -errno;
		else
			act = A_CREATE;
		if (act < 0)
			return act;
	}
	if (act == A_CONFLICT)
		return 1; /* reported */
	if (act == A_SKIP) {
		rst_kept(s);
		return 0;
	}
	if (act == A_META)
		rst_kept(s);
	if (member)
		return push_link(s, path, n->ino, act != A_CREATE);
	if (act == A_REPLACE) {
		if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
			return -errno;
		act = A_CREATE;
	}
	if (type == S_IFREG)
		return rst_queue_file(s, path, n,
				      act == A_CREATE	? H_NEW
				      : act == A_IF_CHANGED ? H_IF_CHANGED
							    : H_REWRITE,
				      &st, first);
	e = type == S_IFDIR ? enter_dir(s, dir, name, n, act, fresh, sel)
			    : make_special(s, dir, name, n, act, fresh);
	if (e == AGAIN) {
		fresh = false;
		goto look;
	}
	if (e < 0 || type == S_IFDIR)
		return e;
	if (first && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (st.st_mode & S_IFMT) == type)
		rst_ino_made(s, n->ino, &st);
	return 0;
}

static bool stopped(struct rs *s)
{
	pthread_mutex_lock(&s->lock);
	bool f = s->fatal != 0;
	pthread_mutex_unlock(&s->lock);
	return f;
}

/* fresh: the target was created empty by this restore. */
int rst_walk(struct rs *s, const struct drfs_id *root, bool fresh)
{
	struct drfs_treewalk *w = &s->w;
	struct drfs_node n;
	uint64_t count = 0;
	int e = drfs_treewalk_push(w, root, -1, fresh);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1], what[128];
		snprintf(what, sizeof(what), "cannot read directory (tree %s)",
			 drfs_id_hex(root, hex));
		rst_problem(s, "", e, what);
		return e == -ENOMEM ? e : 0;
	}
	e = 0;
	while (w->n) {
		int r = drfs_treewalk_next(w, &n);
		if (r <= 0) {
			if (r < 0)
				rst_problem(s, w->path, r,
					    "directory listing is corrupted");
			drfs_treewalk_pop(w);
			continue;
		}
		if (s->only && w->n == 1 &&
		    (n.name_len != s->only_len ||
		     memcmp(n.name, s->only, s->only_len)))
			continue;
		if (r == DRFS_TREE_BAD_NAME) {
			rst_refuse(s, w->path, "an entry", n.name, n.name_len,
				   "file name");
			continue;
		}
		if (!drfs_treewalk_join(w, n.name, n.name_len)) {
			char q[96], what[160];
			drfs_name_quote(n.name, n.name_len, q, sizeof(q));
			snprintf(what, sizeof(what),
				 "entry %s not restored: its path would be "
				 "longer than %d bytes",
				 q, PATH_MAX - 1);
			rst_problem_msg(s, w->path, what);
			continue;
		}
		int dir = drfs_treewalk_fd(w);
		if (dir == -ENOENT && s->o->dry_run)
			dir = -1; /* a directory the restore would create */
		else if (dir < 0) {
			drfs_treewalk_unjoin(w);
			rst_failed(s, w->path, dir, "cannot open");
			drfs_treewalk_pop(w);
			continue;
		}
		int ce = restore_entry(s, dir, &n);
		if (ce < 0)
			rst_failed(s, w->path, ce, "cannot restore");
		drfs_treewalk_unjoin(w);
		if (ce == -ENOMEM || ce == -ENOSPC || ce == -EDQUOT) {
			e = ce;
			break;
		}
		if (!(++count & 1023) && stopped(s))
			break;
	}
	return e;
}

/*
 * Where o->subpath leads: *tree is the tree to walk (and *only, when the
 * selection is not a directory, the one name to restore from it); *meta
 * and *meta_name the tree entry whose metadata the target gets (meta zero:
 * none). The buffer holds the names.
 */
struct selection {
	struct drfs_id tree, meta;
	uint8_t meta_name[DRFS_NAME_MAX + 1];
	size_t meta_name_len;
	bool only;
};

static int select_subpath(struct drfs_repo *r, const char *subpath,
			  struct selection *sel)
{
	struct drfs_buf tree;
	struct drfs_node n;
	const char *p = subpath;
	int e = 0;

	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	while (*p) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		const char *rest = p + len;
		while (*rest == '/')
			rest++;
		if (!len)
			break;
		if (len > DRFS_NAME_MAX || !drfs_name_ok((const uint8_t *)p,
							 len)) {
			drfs_repo_set_last_error("\"%.*s\" is not a file name",
					    (int)MIN(len, (size_t)256), p);
			e = -EINVAL;
			break;
		}
		drfs_buf_reset(&tree);
		e = drfs_repo_blob_read(r, &sel->tree, &tree);
		if (e < 0)
			break;
		e = drfs_tree_find(tree.p, tree.len, (const uint8_t *)p, len,
				   &n);
		if (e == -ENOENT) {
			drfs_repo_set_last_error("\"%.*s\" is not in the snapshot",
					    (int)MIN((size_t)(p + len -
							      subpath), 4096),
					    subpath);
			break;
		}
		if (e < 0)
			break;
		if (!S_ISDIR(n.mode) && *rest) {
			drfs_repo_set_last_error("\"%.*s\" is not a directory",
					    (int)MIN((size_t)(p + len -
							      subpath), 4096),
					    subpath);
			e = -ENOTDIR;
			break;
		}
		memcpy(sel->meta_name, p, len);
		sel->meta_name_len = len;
		sel->meta = sel->tree;
		if (S_ISDIR(n.mode)) {
			sel->tree = n.subtree;
		} else {
			sel->only = true;
			memset(&sel->meta, 0, sizeof(sel->meta));
		}
		p = rest;
	}
	drfs_buf_release(&tree);
	return e;
}

int drfs_restore(struct drfs_repo *r, const struct drfs_restore_opts *o)
{
	struct rs s = { .r = r, .o = o };
	struct drfs_snap_info si;
	pthread_t th[16];
	int nth = 0, e;
	bool existed = false;

	e = drfs_repo_snapshot_find(r, o->snapshot, &si);
	if (e < 0)
		return e;
	struct selection sel = { .tree = si.snap.root, .meta = si.snap.meta,
				 .meta_name = "root", .meta_name_len = 4 };
	if (o->subpath) {
		e = select_subpath(r, o->subpath, &sel);
		if (e < 0)
			return e;
	}
	if (sel.only) {
		s.only = sel.meta_name;
		s.only_len = sel.meta_name_len;
	}
	/* the snapshot's size is the total unless a part is chosen */
	if (o->progress && !o->want_file && !(o->subpath && *o->subpath) &&
	    !(o->include && o->include->n) && !(o->exclude && o->exclude->n))
		o->progress->bytes_total = si.snap.bytes;
	if (o->dry_run) {
		/* the target as it is, if it is there; nothing is made */
		s.root = open(o->target, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s.root < 0 && errno != ENOENT)
			return -errno;
		return rst_dry_run(&s, &sel.tree);
	}
	if (mkdir(o->target, 0700) < 0) {
		if (errno != EEXIST)
			return -errno;
		existed = true;
	}
	/*
	 * The target itself is the user's to name: it may be a symlink. Not
	 * one that replaced the directory made here (a writer of its parent).
	 */
	s.root = open(o->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					 (existed ? 0 : O_NOFOLLOW));
	if (s.root < 0) {
		e = -errno;
		if (!existed && (e == -ELOOP || e == -ENOTDIR) && o->report)
			o->report(o->report_data, "\"%s\": was replaced "
				  "after the restore created it; nothing "
				  "restored", o->target);
		return e;
	}
	drfs_treewalk_init(&s.w, r, s.root);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	int want = MIN(MAX(r->threads * 2, 2), (int)ARRAY_SIZE(th));
	for (int i = 0; i < want; i++)
		if (pthread_create(&th[nth], NULL, rst_worker_main, &s) == 0)
			nth++;
	e = nth ? rst_walk(&s, &sel.tree, !existed) : -EAGAIN;
	drfs_treewalk_release(&s.w);
	pthread_mutex_lock(&s.lock);
	s.done = true;
	pthread_cond_broadcast(&s.cond);
	pthread_mutex_unlock(&s.lock);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	rst_make_links(&s);
	rst_set_dirs_meta(&s);
	bool keep_root = existed && (o->overwrite == DRFS_OVERWRITE_NEVER ||
				     o->overwrite == DRFS_OVERWRITE_IF_NEWER);
	if (e >= 0 && !drfs_id_is_zero(&sel.meta) && !keep_root)
		rst_restore_root_meta(&s, &sel.meta, sel.meta_name,
				      sel.meta_name_len);
	for (size_t i = 0; i < s.cap_inos; i++)
		free(s.inos[i].path);
	free(s.inos);
	free(s.links);
	free(s.dirs);
	close(s.root);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	if (e >= 0 && s.fatal)
		e = s.fatal;
	return e < 0 ? e : s.errors;
}
