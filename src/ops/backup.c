/* SPDX-License-Identifier: MIT */
/*
 * backup.c - a directory into a snapshot: walk, chunk, dedup, trees.
 *
 * Files whose size, mtime, ctime and inode equal those in the parent
 * snapshot (the newest one of the same host and path) are not read: their
 * extents are taken from the parent's tree. Everything else is read once,
 * data regions only (SEEK_DATA/SEEK_HOLE keep holes as holes), chunked on
 * this thread while the writer's workers compress, encrypt and upload.
 *
 * A dry run (o->dry_run) walks and chunks the same way but hands nothing
 * to a writer: each blob's id is looked up in the index (and in the set
 * of blobs this run has already counted), and what is new is counted.
 * No lock, pack, index object or snapshot is written.
 *
 * Rooms, over backupint.h: this file (the walk of the directory, its
 * trees, the snapshot), backupfile.c (a file's data through the chunker,
 * extended attributes, the parent's extents, read-ahead across files).
 */
#include "backupint.h"

/*
 * Store a blob (its id in *ret): 1 if it is new to the repository, 0 if
 * it is there already, or a writer failure. In a dry run nothing is
 * stored: the same answer from the index alone.
 */
int bk_put(struct bk *b, enum drfs_blob_type type, const void *p, size_t len,
	   struct drfs_id *ret)
{
	struct drfs_txn *t;
	if (b->w)
		return drfs_writer_put_blob(b->w, type, p, len, ret);
	if (len > DRFS_BLOB_MAX)
		return -E2BIG;
	drfs_blob_id(&b->r->keys, p, len, ret);
	int e = drfs_txn_begin(b->r->index, false, &t);
	if (e < 0)
		return e;
	/* what the writer deduplicates against: not a blob being deleted */
	e = drfs_repo_blob_doomed(t, ret);
	drfs_txn_abort(t);
	if (e == 0)
		return 0;
	e = drfs_idset_add(&b->dry, ret);
	if (e != 0)
		return e < 0 ? e : 0;
	b->dry_bytes += len;
	return 1;
}

static void report(struct bk *b, const char *name, int e, const char *what)
{
	b->errors++;
	if (b->o->progress)
		b->o->progress->errors++;
	if (b->o->report)
		b->o->report(b->o->report_data, "\"%s/%s\": %s: %s", b->path,
			     name, what, drfs_strerror(e));
}

static struct bk_dir *bk_at(const struct drfs_stack *w, size_t i)
{
	return drfs_stack_at(w, i);
}

static void names_free(struct bk_dir *d)
{
	for (size_t i = 0; i < d->n_names; i++)
		free(d->names[i] - 1);
	d->n_names = 0;
}

static void bk_dir_release(void *frame)
{
	struct bk_dir *d = frame;
	names_free(d);
	free(d->names);
	drfs_tree_enc_release(&d->enc);
	drfs_buf_release(&d->ptree);
	drfs_buf_release(&d->tree);
	bk_xattr_vec_free(&d->xv);
}

static int dir_open(int dirfd, const char *name)
{
	int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dirfd, name, fl | O_NOATIME);
	if (fd < 0 && errno == EPERM) /* O_NOATIME: not the owner */
		fd = openat(dirfd, name, fl);
	return fd;
}

/* fd is directory d still: 0, -ESTALE if it is another one, -errno. */
static int dir_same(int fd, const struct bk_dir *d)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	return st.st_dev == d->dev && st.st_ino == d->ino ? 0 : -ESTALE;
}

/* The entries of directory fd into d->names, sorted. */
static int read_names(struct bk_dir *d, int fd)
{
	int dfd = dup(fd);
	DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int e = 0;

	if (!dir) {
		e = -errno;
		if (dfd >= 0)
			close(dfd);
		return e;
	}
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		e = drfs_grow(&d->names, &d->cap_names, d->n_names,
			      sizeof(*d->names), 64);
		if (e < 0)
			break;
		/* the d_type rides in front of the name, for the prefetch */
		size_t l = strlen(de->d_name);
		char *nm = malloc(l + 2);
		if (!nm) {
			e = -ENOMEM;
			break;
		}
		nm[0] = (char)de->d_type;
		memcpy(nm + 1, de->d_name, l + 1);
		d->names[d->n_names++] = nm + 1;
	}
	closedir(dir);
	if (e < 0)
		names_free(d);
	else if (d->n_names)
		qsort(d->names, d->n_names, sizeof(*d->names), bk_cmp_str);
	return e;
}

/*
 * A cache directory (https://bford.info/cachedir/): it holds a regular
 * file CACHEDIR.TAG that starts with this signature.
 */
#define CACHEDIR_TAG "CACHEDIR.TAG"
#define CACHEDIR_SIGNATURE "Signature: 8a477f597d28d172789f06886806bc55"

static bool is_cache_dir(int fd)
{
	char sig[sizeof(CACHEDIR_SIGNATURE) - 1];
	struct stat st;
	int tfd = openat(fd, CACHEDIR_TAG,
			 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (tfd < 0)
		return false;
	bool yes = fstat(tfd, &st) == 0 && S_ISREG(st.st_mode) &&
		   drfs_pread_all(tfd, sig, sizeof(sig), 0) ==
			   (ssize_t)sizeof(sig) &&
		   memcmp(sig, CACHEDIR_SIGNATURE, sizeof(sig)) == 0;
	close(tfd);
	return yes;
}

/* --exclude-caches: of a cache directory only its tag is kept. */
static void keep_only_tag(struct bk_dir *d)
{
	size_t k = 0;
	for (size_t i = 0; i < d->n_names; i++) {
		if (strcmp(d->names[i], CACHEDIR_TAG) == 0)
			d->names[k++] = d->names[i];
		else
			free(d->names[i] - 1);
	}
	d->n_names = k;
}

/*
 * Enter directory fd (st: its stat; parent: its tree in the parent
 * snapshot, or NULL) as the deepest of the walk; fd is the walk's then.
 */
static int bk_enter(struct bk *b, struct drfs_stack *w, int fd,
		    const struct stat *st, const struct drfs_id *parent)
{
	struct bk_dir *d = drfs_stack_next(w);
	if (!d)
		return -ENOMEM;
	if (!d->tree.max) {
		drfs_buf_init(&d->ptree, DRFS_BLOB_MAX);
		drfs_buf_init(&d->tree, DRFS_BLOB_MAX);
	}
	drfs_buf_reset(&d->ptree);
	drfs_buf_reset(&d->tree);
	if (parent && drfs_repo_blob_read(b->r, parent, &d->ptree) < 0)
		drfs_buf_reset(&d->ptree); /* no parent: read everything */
	d->pstate = -1;
	if (d->ptree.len &&
	    drfs_tree_iter_init(&d->pit, d->ptree.p, d->ptree.len) == 0)
		d->pstate = 0;
	int e = read_names(d, fd);
	if (e < 0)
		return e;
	if (b->o->exclude_caches && is_cache_dir(fd))
		keep_only_tag(d);
	if (b->o->progress)
		b->o->progress->dirs++;
	b->snap->dirs++;
	d->fd = fd;
	d->dev = st->st_dev;
	d->ino = st->st_ino;
	d->plen = strlen(b->path);
	d->next = 0;
	/* a directory the parent snapshot does not have is read whole */
	d->pf = (struct prefetch){ .on = !d->ptree.len };
	drfs_tree_enc_init(&d->enc, &d->tree);
	w->depth++;
	/* the directory that left the deepest DIR_FDS (never the root) */
	if (w->depth > DIR_FDS + 1) {
		struct bk_dir *o = bk_at(w, w->depth - 1 - DIR_FDS);
		if (o->fd >= 0)
			close(o->fd);
		o->fd = -1;
	}
	return 0;
}

/*
 * The parent tree's entry named name, if it has one. Names must be asked
 * in increasing order (names[] is sorted as trees are): one forward scan
 * of the parent tree then serves the whole directory, where a scan per
 * name (drfs_tree_find) cost time quadratic in the directory's size.
 */
static bool bk_parent_entry(struct bk_dir *d, const uint8_t *name,
			    size_t len, struct drfs_node *ret)
{
	while (d->pstate >= 0) {
		if (d->pstate == 0) {
			if (drfs_tree_iter_next(&d->pit, &d->pnode) <= 0) {
				d->pstate = -1;
				break;
			}
			d->pstate = 1;
		}
		size_t pl = d->pnode.name_len;
		int c = memcmp(d->pnode.name, name, MIN(pl, len));
		if (c == 0)
			c = pl < len ? -1 : pl > len;
		if (c > 0)
			return false;
		d->pstate = 0;
		if (c == 0) {
			*ret = d->pnode;
			return true;
		}
	}
	return false;
}

/* Directory k, looked up by name from the nearest open one above it. */
static int bk_lookup(const struct drfs_stack *w, size_t k)
{
	size_t j = k;
	while (bk_at(w, --j)->fd < 0)
		; /* the root is always open */
	int fd = bk_at(w, j)->fd;
	for (size_t m = j + 1; m <= k; m++) {
		const struct bk_dir *d = bk_at(w, m);
		int nfd = dir_open(fd, (const char *)d->node.name);
		int e = nfd < 0 ? -errno : dir_same(nfd, d);
		if (m > j + 1)
			close(fd);
		if (e < 0) {
			if (nfd >= 0)
				close(nfd);
			return e;
		}
		fd = nfd;
	}
	return fd;
}

/*
 * Reopen directory k (closed) from cfd, the directory below it, or by
 * name; if it is gone, report it and read no more of it.
 */
static void bk_reopen(struct bk *b, struct drfs_stack *w, size_t k, int cfd)
{
	struct bk_dir *d = bk_at(w, k);
	int fd = cfd >= 0 ? dir_open(cfd, "..") : -1;
	if (fd >= 0 && dir_same(fd, d) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fd = bk_lookup(w, k);
	if (fd >= 0) {
		d->fd = fd;
		return;
	}
	size_t up = bk_at(w, k - 1)->plen;
	char c = b->path[up];
	b->path[up] = 0;
	report(b, (const char *)d->node.name, fd,
	       "moved during the backup: its entries not read yet are left "
	       "out");
	b->path[up] = c;
	d->next = d->n_names;
}

/*
 * The deepest directory is read: store its tree (ret), leave it, reopen
 * the one above if it was closed.
 */
static int bk_leave(struct bk *b, struct drfs_stack *w, struct drfs_id *ret)
{
	struct bk_dir *d = drfs_stack_top(w);
	int e = 0;
	if (d->tree.len == 0) /* empty directory: version only */
		e = drfs_buf_u8(&d->tree, 1);
	e = e ?: bk_put(b, DRFS_BLOB_TREE, d->tree.p, d->tree.len, ret);
	if (e < 0)
		return e;
	if (w->depth > 1) { /* the root's descriptor is the caller's */
		if (bk_at(w, w->depth - 2)->fd < 0)
			bk_reopen(b, w, w->depth - 2, d->fd);
		if (d->fd >= 0)
			close(d->fd);
		d->fd = -1;
	}
	names_free(d);
	drfs_tree_enc_release(&d->enc);
	/* a frame keeps at most 1 MiB for the next directory at its depth */
	if (d->ptree.cap > (1u << 20))
		drfs_buf_release(&d->ptree);
	if (d->tree.cap > (1u << 20))
		drfs_buf_release(&d->tree);
	w->depth--;
	if (w->depth)
		b->path[bk_at(w, w->depth - 1)->plen] = 0;
	return 0;
}

/* Entry n (with its xattrs and extents) into the tree of d. */
static int bk_add(struct bk *b, struct bk_dir *d, const struct drfs_node *n,
		  const struct xattr_vec *xv, const struct drfs_extent_vec *x)
{
	int e = drfs_tree_enc_add(&d->enc, n, xv->v, xv->n, x ? x->v : NULL,
				  x ? x->n : 0);
	if (e == -EINVAL) {
		report(b, (const char *)n->name, e, "cannot be stored");
		e = 0;
	}
	return e;
}

/*
 * Whether the entry name of d (st: its lstat) is left out: 1 excluded (a
 * pattern, or with --one-file-system anything but a directory on another
 * file system), -1 a directory on another file system (a mount point:
 * kept as an empty directory, as tar and restic do), 0 backed up.
 */
int bk_excluded(struct bk *b, struct bk_dir *d, const char *name,
		const struct stat *st)
{
	const struct drfs_excludes *x = b->o->excludes;
	if (x && x->n) {
		/* its path relative to the backed-up directory */
		snprintf(b->path + d->plen, sizeof(b->path) - d->plen, "/%s",
			 name);
		bool out = drfs_excludes_match(x, b->path + 1, name,
					       S_ISDIR(st->st_mode));
		b->path[d->plen] = 0;
		if (out)
			return 1;
	}
	if (b->o->one_file_system && st->st_dev != b->root_dev)
		return S_ISDIR(st->st_mode) ? -1 : 1;
	return 0;
}

/* The tree of an empty directory (its version byte only). */
static int bk_empty_tree(struct bk *b, struct drfs_id *ret)
{
	static const uint8_t empty[1] = { 1 };
	return bk_put(b, DRFS_BLOB_TREE, empty, sizeof(empty), ret);
}

/*
 * The next entry of the deepest directory d: added to its tree, or for a
 * directory entered (added when it is left). A negative errno is fatal to
 * the backup; problems with the entry alone are reported.
 */
static int bk_entry(struct bk *b, struct drfs_stack *w, struct bk_dir *d)
{
	size_t i = d->next++;
	const char *name = d->names[i];
	struct stat st;
	struct drfs_node node = { 0 };
	struct drfs_node pn;
	struct drfs_extent_vec x = { 0 };
	struct xattr_vec xv = { 0 };
	char target[DRFS_PATH_MAX + 1];
	bool have_pn = false, fatal = false;
	int e = 0;

	if (d->pf.on)
		bk_prefetch_ahead(b, d, &d->pf, d->fd, d->names, d->n_names, i);
	if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		report(b, name, -errno, "cannot stat");
		return 0;
	}
	int skip = bk_excluded(b, d, name, &st);
	if (skip > 0)
		return 0;
	bk_node_from_stat(&node, &st);
	node.name = (const uint8_t *)name;
	node.name_len = strlen(name);
	have_pn = bk_parent_entry(d, node.name, node.name_len, &pn);
	int xe = bk_read_xattrs(d->fd, name, &xv);
	if (xe < 0)
		report(b, name, xe, "cannot read extended attributes");

	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		b->snap->files++;
		if (b->o->progress)
			b->o->progress->files++;
		if (have_pn && !b->o->no_parent && S_ISREG(pn.mode) &&
		    pn.size == node.size && pn.ino == node.ino &&
		    pn.mtime.tv_sec == node.mtime.tv_sec &&
		    pn.mtime.tv_nsec == node.mtime.tv_nsec &&
		    pn.ctime.tv_sec == node.ctime.tv_sec &&
		    pn.ctime.tv_nsec == node.ctime.tv_nsec &&
		    bk_parent_extents_ok(b, &pn, &x)) {
			if (b->o->progress)
				b->o->progress->bytes += node.size;
		} else {
			x.n = 0;
			e = bk_read_file(b, d->fd, name, &st, &x, &node.size,
					 &fatal);
			if (e < 0 && fatal)
				goto out;
			if (e < 0) {
				report(b, name, e, "cannot read");
				e = 0;
				goto out;
			}
		}
		b->snap->bytes += node.size;
		break;
	case S_IFDIR: {
		struct stat sst;
		if (skip < 0) { /* another file system: kept, empty */
			b->snap->dirs++;
			e = bk_empty_tree(b, &node.subtree);
			break;
		}
		int sub = dir_open(d->fd, name);
		if (sub < 0 || fstat(sub, &sst) < 0) {
			report(b, name, -errno, "cannot open");
			if (sub >= 0)
				close(sub);
			goto out;
		}
		/* replaced since the fstatat: what is read is what counts */
		if (sst.st_dev != st.st_dev || sst.st_ino != st.st_ino)
			bk_node_from_stat(&node, &sst);
		snprintf(b->path + d->plen, sizeof(b->path) - d->plen, "/%s",
			 name);
		bool pdir = have_pn && S_ISDIR(pn.mode);
		e = bk_enter(b, w, sub, &sst, pdir ? &pn.subtree : NULL);
		if (e < 0) {
			close(sub);
			goto out;
		}
		/* added to d's tree once the walk leaves it */
		struct bk_dir *sd = drfs_stack_top(w);
		sd->node = node;
		sd->xv = xv;
		memset(&xv, 0, sizeof(xv));
		goto out;
	}
	case S_IFLNK: {
		ssize_t l = readlinkat(d->fd, name, target, sizeof(target));
		if (l <= 0 || (size_t)l > DRFS_PATH_MAX) {
			report(b, name, l < 0 ? -errno : -ENAMETOOLONG,
			       "cannot read link");
			goto out;
		}
		node.target = (const uint8_t *)target;
		node.target_len = (size_t)l;
		break;
	}
	default:
		break;
	}
	e = bk_add(b, d, &node, &xv, &x);
out:
	free(x.v);
	bk_xattr_vec_free(&xv);
	return e;
}

/*
 * The tree of directory fd (its tree in the parent snapshot: parent, or
 * NULL) and of everything below it: depth-first, on the heap.
 */
static int backup_walk(struct bk *b, int fd, const struct drfs_id *parent,
		       struct drfs_id *ret)
{
	struct drfs_stack w; /* struct bk_dir: the root .. the deepest */
	struct stat st;
	int e;

	if (fstat(fd, &st) < 0)
		return -errno;
	b->root_dev = st.st_dev;
	drfs_stack_init(&w, sizeof(struct bk_dir));
	e = bk_enter(b, &w, fd, &st, parent);
	while (e >= 0 && w.depth) {
		struct bk_dir *d = drfs_stack_top(&w);
		if (d->next < d->n_names) {
			e = bk_entry(b, &w, d);
			continue;
		}
		struct drfs_id id;
		e = bk_leave(b, &w, &id);
		if (e < 0)
			break;
		if (!w.depth) {
			*ret = id;
			break;
		}
		/* d's entry, in the directory above */
		d->node.subtree = id;
		e = bk_add(b, drfs_stack_top(&w), &d->node, &d->xv, NULL);
		bk_xattr_vec_free(&d->xv);
	}
	for (size_t i = 1; i < w.depth; i++) /* the root's is the caller's */
		if (bk_at(&w, i)->fd >= 0)
			close(bk_at(&w, i)->fd);
	drfs_stack_release(&w, bk_dir_release);
	return e < 0 ? e : 0;
}

/* The tree holding the directory itself as its one entry "root". */
static int backup_root_meta(struct bk *b, int fd, const struct drfs_id *root,
			    struct drfs_id *ret)
{
	struct stat st;
	struct drfs_node n = { 0 };
	struct xattr_vec xv = { 0 };
	struct drfs_buf tree;
	struct drfs_tree_enc enc;
	int e;

	if (fstat(fd, &st) < 0)
		return -errno;
	bk_node_from_stat(&n, &st);
	n.name = (const uint8_t *)"root";
	n.name_len = 4;
	n.subtree = *root;
	e = bk_read_xattrs(fd, ".", &xv);
	if (e < 0)
		report(b, ".", e, "cannot read extended attributes");
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &tree);
	e = drfs_tree_enc_add(&enc, &n, xv.v, xv.n, NULL, 0);
	e = e ?: bk_put(b, DRFS_BLOB_TREE, tree.p, tree.len, ret);
	drfs_tree_enc_release(&enc);
	drfs_buf_release(&tree);
	bk_xattr_vec_free(&xv);
	return e < 0 ? e : 0;
}

static const struct drfs_snap_info *find_parent(struct drfs_snap_info *v,
						size_t n, const char *host,
						const char *path)
{
	for (size_t i = n; i-- > 0;)
		if (!strcmp(v[i].snap.host, host) &&
		    !strcmp(v[i].snap.path, path))
			return &v[i];
	return NULL;
}

/*
 * A shared lock (prune, exclusive, must not run while we write; a dry run
 * writes nothing, not even a lock), then a sync: a prune may have finished
 * between the open and the lock, and only now may the cache be trusted for
 * deduplication. Failures leave their detail in drfs_repo_last_error.
 */
static int backup_lock(struct drfs_repo *r, const struct drfs_backup_opts *o,
		       struct drfs_lock **ret_lock)
{
	char why[256] = "";
	int e = o->dry_run ? 0
			   : drfs_lock_acquire(r, false, ret_lock, why,
					       sizeof(why));

	if (e == -EBUSY && why[0])
		drfs_repo_set_last_error("repository is locked: %s", why);
	else if (e < 0)
		drfs_repo_set_last_error("cannot take a lock: %s",
					 drfs_backend_last_error(r->be)
						 ?: drfs_strerror(e));
	return e ?: drfs_repo_sync(r, false);
}

/* The new snapshot's time, host, path (real) and tags; -EINVAL: a bad tag. */
static int snap_describe(struct drfs_snapshot *snap,
			 const struct drfs_backup_opts *o, const char *real)
{
	size_t used = 0;

	if (o->time.tv_sec || o->time.tv_nsec)
		snap->time = o->time;
	else
		clock_gettime(CLOCK_REALTIME, &snap->time);
	if (o->host)
		snprintf(snap->host, sizeof(snap->host), "%s", o->host);
	else
		drfs_hostname(snap->host, sizeof(snap->host));
	snprintf(snap->path, sizeof(snap->path), "%s", real);
	for (size_t i = 0; i < o->n_tags && i < DRFS_TAGS_MAX; i++) {
		size_t l = strlen(o->tags[i]);
		if (l == 0 || l > DRFS_TAG_MAX ||
		    used + l + 1 > DRFS_TAGS_BUF)
			return -EINVAL;
		memcpy(snap->tags + used, o->tags[i], l + 1);
		used += l + 1;
		snap->n_tags++;
	}
	return 0;
}

/*
 * The trees are walked and flushed: the snapshot written (none if
 * --skip-if-unchanged finds latest's trees again, or a dry run) and *ret
 * filled. t0: when the backup began.
 */
static int backup_finish(struct bk *b, const struct drfs_snap_info *latest,
			 double t0, struct drfs_backup_result *ret)
{
	const struct drfs_backup_opts *o = b->o;
	struct drfs_snapshot *snap = b->snap;
	int e;

	if (o->skip_if_unchanged && latest &&
	    drfs_id_eq(&snap->root, &latest->snap.root) &&
	    drfs_id_eq(&snap->meta, &latest->snap.meta)) {
		/* the trees are durable (flushed) but nothing new names them:
		 * identical trees were already stored by latest */
		ret->id = latest->id;
		ret->snap = latest->snap;
		ret->errors = b->errors;
		ret->unchanged = true;
		memcpy(ret->folder, latest->folder, sizeof(ret->folder));
		return 0;
	}
	if (o->dry_run) {
		/* what would have been written; no id, no folder */
		snap->added_bytes = b->dry_bytes;
		snap->added_blobs = b->dry.n + b->dry.has_zero;
		ret->snap = *snap;
		ret->errors = b->errors;
		return 0;
	}
	struct drfs_writer_stats ws;
	drfs_writer_get_stats(b->w, &ws);
	snap->added_bytes = ws.bytes_stored;
	snap->added_blobs = ws.blobs_new;
	snap->duration_ms = drfs_duration_ms(t0);
	e = drfs_repo_snapshot_write(b->r, snap, &ret->id);
	if (e < 0)
		return e;
	ret->snap = *snap;
	ret->errors = b->errors;
	memcpy(ret->folder, snap->name, sizeof(ret->folder));
	return 0;
}

int drfs_backup(struct drfs_repo *r, const struct drfs_backup_opts *o,
		struct drfs_backup_result *ret)
{
	struct bk b = { .r = r, .o = o };
	struct drfs_snapshot *snap;
	struct drfs_snap_info *all = NULL;
	size_t n_all = 0;
	char real[PATH_MAX];
	struct drfs_lock *lock = NULL;
	double t0 = drfs_now_mono();
	int fd = -1, e;

	snap = calloc(1, sizeof(*snap));
	if (!snap)
		return -ENOMEM;
	b.snap = snap;
	e = backup_lock(r, o, &lock);
	if (e < 0)
		goto out;
	if (!realpath(o->dir, real)) {
		e = -errno;
		goto out;
	}
	/* O_NOATIME as for every directory below: reading it must not
	 * change the atime the snapshot records (--skip-if-unchanged) */
	fd = dir_open(AT_FDCWD, real);
	if (fd < 0) {
		e = -errno;
		goto out;
	}
	e = snap_describe(snap, o, real);
	e = e ?: drfs_repo_snapshots(r, &all, &n_all);
	if (e < 0)
		goto out;
	const struct drfs_snap_info *latest =
		find_parent(all, n_all, snap->host, real);
	const struct drfs_snap_info *parent = o->no_parent ? NULL : latest;
	if (parent)
		snap->parent = parent->id;
	b.win_cap = 2 * (size_t)r->config.chunker.max;
	b.win = malloc(b.win_cap);
	if (!b.win) {
		e = -ENOMEM;
		goto out;
	}
	e = o->dry_run ? 0 : drfs_writer_new(r, &b.w);
	if (e < 0)
		goto out;
	e = backup_walk(&b, fd, parent ? &parent->snap.root : NULL,
			&snap->root);
	e = e ?: backup_root_meta(&b, fd, &snap->root, &snap->meta);
	/* the old copies this snapshot deduplicated against (verification.md) */
	if (b.w) {
		e = e ?: drfs_writer_guard(b.w, o->report, o->report_data,
					   &ret->guard);
		e = e ?: drfs_writer_flush(b.w);
	}
	if (e < 0) {
		if (b.w && drfs_writer_error(b.w))
			drfs_repo_set_last_error("%s", drfs_writer_error(b.w));
		goto out;
	}
	e = backup_finish(&b, latest, t0, ret);
out:
	drfs_writer_free(b.w);
	drfs_idset_free(&b.dry);
	drfs_lock_release(lock);
	free(b.win);
	free(all);
	free(snap);
	if (fd >= 0)
		close(fd);
	return e;
}
