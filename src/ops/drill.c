/* SPDX-License-Identifier: MIT */
/*
 * drill.c - the restore drill: restore a snapshot into a scratch directory,
 * verify every restored entry against the snapshot's trees, measure the
 * time-to-restore, clean up.
 *
 * The restore is drfs_restore(), exactly the code a real recovery runs;
 * a sampled drill (sample < 100) has it restore the directories, symlinks
 * and the sampled regular files only (no devices, no hard links), then
 * verifies only what it restored; every tree is still read and every
 * extent's blob looked up in the index. The verification walk is
 * iterative with a bounded window of directory fds (struct
 * drfs_treewalk), reads the restored entries through directory fds
 * without following symlinks, and the scratch directory is removed the
 * same way (drfs_remove_beneath).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/dr.h"
#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/ondisk.h"

struct hl {
	uint64_t ino;   /* snapshot's hard-link group */
	dev_t dev;
	ino_t st_ino;   /* restored inode */
};

struct dv {
	struct drfs_repo *r;
	const struct drfs_drill_opts *o;
	struct drfs_drill_result *res;
	bool sampled;     /* sample < 100 */
	bool root;        /* running as root: owners are compared */
	struct drfs_treewalk w; /* w.path: the entry being verified */
	struct hl *hls;
	size_t n_hls, cap_hls;
	struct drfs_buf buf;       /* scratch: file content */
	struct drfs_extent_vec ext; /* the file's extents */
	uint8_t *xval;             /* DRFS_XATTR_VALUE_MAX bytes */
};

static void mismatch(struct dv *d, const char *fmt, ...) _printf_(2, 3);
static void mismatch(struct dv *d, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->res->mismatches++;
	if (d->o->report)
		d->o->report(d->o->report_data, "drill: \"%s\": %s",
			     d->w.path[0] ? d->w.path : "/", msg);
}

/* Whether the file at path (relative) is in the sample. */
static bool in_sample(void *data, const char *path)
{
	struct dv *d = data;
	if (!d->sampled)
		return true;
	struct drfs_id h;
	char buf[PATH_MAX + 32];
	int n = snprintf(buf, sizeof(buf), "%llu:/%s",
			 (unsigned long long)d->o->seed, path);
	drfs_sha256(buf, (size_t)MIN(MAX(n, 0), (int)sizeof(buf) - 1), &h);
	uint32_t v = drfs_get_le32(h.b) % 10000;
	return v < (uint32_t)(d->o->sample * 100.0);
}

/* ---- verification -------------------------------------------------------- */

static int hl_check(struct dv *d, const struct drfs_node *n,
		    const struct stat *st)
{
	for (size_t i = 0; i < d->n_hls; i++) {
		if (d->hls[i].ino != n->ino)
			continue;
		if (d->hls[i].dev != st->st_dev ||
		    d->hls[i].st_ino != st->st_ino)
			mismatch(d, "is not a hard link to the other names of "
				    "its group");
		return 0;
	}
	if (drfs_grow(&d->hls, &d->cap_hls, d->n_hls, sizeof(*d->hls), 16) < 0)
		return -ENOMEM;
	d->hls[d->n_hls++] = (struct hl){ n->ino, st->st_dev, st->st_ino };
	return 0;
}

/* name in dir, by /proc/self/fd/DIR/NAME (there is no lgetxattrat). */
static void check_xattrs(struct dv *d, int dir, const char *name,
			 struct drfs_node *n)
{
	struct drfs_xattr x;
	char xname[DRFS_XATTR_NAME_MAX + 1];
	char proc[64 + NAME_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dir, name);
	while (drfs_node_next_xattr(n, &x) > 0) {
		if (memchr(x.name, 0, x.name_len))
			continue; /* refused (and reported) by the restore */
		memcpy(xname, x.name, x.name_len);
		xname[x.name_len] = 0;
		ssize_t l = lgetxattr(proc, xname, d->xval,
				      DRFS_XATTR_VALUE_MAX);
		if (l < 0)
			mismatch(d, "extended attribute \"%s\" is missing: %s",
				 xname, strerror(errno));
		else if ((size_t)l != x.value_len ||
			 memcmp(d->xval, x.value, x.value_len) != 0)
			mismatch(d, "extended attribute \"%s\" differs", xname);
	}
}

static void check_content(struct dv *d, int dir, const char *name,
			  struct drfs_node *n)
{
	struct drfs_node m = *n;
	struct drfs_extent x;
	uint64_t off, end;
	bool hole;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					   O_CLOEXEC);
	if (fd < 0) {
		mismatch(d, "cannot open: %s", strerror(errno));
		return;
	}
	d->ext.n = 0;
	int e = 0;
	while (e >= 0 && drfs_node_next_extent(&m, &x) > 0)
		e = drfs_extent_vec_push(&d->ext, x.off, x.len, &x.id);
	e = e ?: drfs_file_compare(&d->r->keys, fd, d->ext.v, d->ext.n,
				   n->size, &d->buf, &off, &end, &hole);
	close(fd);
	if (e < 0) {
		mismatch(d, "cannot verify: %s", drfs_strerror(e));
	} else if (e > 0 && hole) {
		mismatch(d, "bytes %llu-%llu should be zeros (a hole)",
			 (unsigned long long)off, (unsigned long long)end);
	} else if (e > 0) {
		/* the extent starting at off */
		struct drfs_id id = { 0 };
		char hex[DRFS_ID_HEX_LEN + 1];
		for (size_t i = 0; i < d->ext.n; i++)
			if (d->ext.v[i].off == off)
				id = d->ext.v[i].id;
		mismatch(d, "content differs at bytes %llu-%llu (blob %.16s)",
			 (unsigned long long)off, (unsigned long long)end,
			 drfs_id_hex(&id, hex));
	} else {
		d->res->bytes += n->size;
		if (d->o->progress)
			d->o->progress->bytes += n->size;
	}
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * Compare the restored entry name in dir (dir < 0: its directory is
 * missing, -dir the errno) with node n (check_meta false: only its type;
 * the sampled drill does not check directories' metadata).
 */
static void verify_entry(struct dv *d, int dir, const char *name,
			 struct drfs_node *n, bool check_meta)
{
	struct stat st;
	if (dir < 0 || fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		mismatch(d, "is missing: %s", strerror(dir < 0 ? -dir : errno));
		return;
	}
	if ((st.st_mode & S_IFMT) != (n->mode & S_IFMT)) {
		mismatch(d, "has the wrong type (mode %o, want %o)",
			 (unsigned)st.st_mode, (unsigned)n->mode);
		return;
	}
	if (!check_meta)
		return;
	if (!S_ISLNK(n->mode) && (st.st_mode & 07777) != (n->mode & 07777))
		mismatch(d, "mode %o, want %o", (unsigned)(st.st_mode & 07777),
			 (unsigned)(n->mode & 07777));
	if (d->root && (st.st_uid != n->uid || st.st_gid != n->gid))
		mismatch(d, "owner %u:%u, want %u:%u", (unsigned)st.st_uid,
			 (unsigned)st.st_gid, n->uid, n->gid);
	if (!ts_eq(&st.st_mtim, &n->mtime))
		mismatch(d, "mtime %lld.%09ld, want %lld.%09ld",
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (long long)n->mtime.tv_sec, n->mtime.tv_nsec);
	if (!S_ISDIR(n->mode) && n->nlink > 1 && hl_check(d, n, &st) < 0)
		return;
	if (n->n_xattrs)
		check_xattrs(d, dir, name, n);
	switch (n->mode & S_IFMT) {
	case S_IFREG:
		if ((uint64_t)st.st_size != n->size) {
			mismatch(d, "size %llu, want %llu",
				 (unsigned long long)st.st_size,
				 (unsigned long long)n->size);
			return;
		}
		uint64_t before = d->res->mismatches;
		check_content(d, dir, name, n);
		if (d->res->mismatches == before)
			d->res->files++;
		if (d->o->progress)
			d->o->progress->files++;
		break;
	case S_IFLNK: {
		char t[DRFS_PATH_MAX + 1];
		ssize_t l = readlinkat(dir, name, t, sizeof(t));
		if (l < 0 || (size_t)l != n->target_len ||
		    memcmp(t, n->target, n->target_len) != 0)
			mismatch(d, "symlink target differs");
		break;
	}
	case S_IFCHR:
	case S_IFBLK:
		if ((uint64_t)st.st_rdev != n->rdev)
			mismatch(d, "device number differs");
		break;
	default:
		break;
	}
}

/* Entries in the directory fd dir (O_PATH), SIZE_MAX if unreadable. */
static size_t count_dir(int dir)
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dh = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t n = 0;
	if (!dh) {
		if (fd >= 0)
			close(fd);
		return SIZE_MAX;
	}
	while ((de = readdir(dh)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(dh);
	return n;
}

/* Every extent's blob must at least be known. */
static void check_blobs_known(struct dv *d, const struct drfs_node *n)
{
	struct drfs_node m = *n;
	struct drfs_extent x;
	while (drfs_node_next_extent(&m, &x) > 0)
		if (drfs_repo_blob_find(d->r, &x.id, NULL, NULL) < 0) {
			char hex[DRFS_ID_HEX_LEN + 1];
			mismatch(d, "blob %.16s is missing from the repository",
				 drfs_id_hex(&x.id, hex));
			break;
		}
}

/* The directory on top is done: nothing more, nothing less on disk. */
static void check_count(struct dv *d)
{
	struct drfs_treewalk_dir *top = drfs_treewalk_top(&d->w);
	int fd = drfs_treewalk_fd(&d->w);
	if (d->sampled || fd < 0)
		return; /* a sample leaves entries out; missing: said so */
	size_t have = count_dir(fd);
	if (have != top->entries)
		mismatch(d, "holds %zu entries, the snapshot %llu", have,
			 (unsigned long long)top->entries);
}

static int verify(struct dv *d, const struct drfs_id *root)
{
	struct drfs_treewalk *w = &d->w;
	struct drfs_node n;
	int e = drfs_treewalk_push(w, root, -1, false);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1];
		mismatch(d, "cannot read the directory's tree %.16s: %s",
			 drfs_id_hex(root, hex), drfs_strerror(e));
		return e == -ENOMEM ? e : 0;
	}
	while (w->n) {
		int r = drfs_treewalk_next(w, &n);
		if (r == 0)
			check_count(d);
		else if (r < 0)
			mismatch(d, "the directory's tree is corrupted");
		if (r <= 0) {
			drfs_treewalk_pop(w);
			continue;
		}
		if (r == DRFS_TREE_BAD_NAME)
			continue; /* refused (and reported) by the restore */
		if (S_ISLNK(n.mode) && memchr(n.target, 0, n.target_len)) {
			/* refused (and reported) by the restore: not there */
			drfs_treewalk_top(w)->entries--;
			continue;
		}
		if (!drfs_treewalk_join(w, n.name, n.name_len)) {
			mismatch(d, "a name in it is too long to restore");
			continue;
		}
		const char *name = drfs_treewalk_name(w);
		d->res->entries++;
		bool sample = true;
		if (S_ISREG(n.mode)) {
			d->res->files_total++;
			d->res->bytes_total += n.size;
			sample = in_sample(d, w->path);
			check_blobs_known(d, &n);
		}
		if (d->sampled) {
			if (!S_ISDIR(n.mode) && !S_ISLNK(n.mode) &&
			    !S_ISREG(n.mode))
				sample = false;
			if (!S_ISDIR(n.mode))
				n.nlink = 1; /* the sample makes no hard links */
		}
		int dir = drfs_treewalk_fd(w);
		if (dir == -ESTALE) {
			mismatch(d, "its directory was replaced during the "
				    "drill");
			drfs_treewalk_unjoin(w);
			drfs_treewalk_pop(w);
			continue;
		}
		if (sample)
			verify_entry(d, dir, name, &n,
				     !(d->sampled && S_ISDIR(n.mode)));
		if (S_ISDIR(n.mode)) {
			int fd = dir < 0 ? -1
					 : openat(dir, name,
						  O_PATH | O_DIRECTORY |
							  O_NOFOLLOW |
							  O_CLOEXEC);
			e = drfs_treewalk_push(w, &n.subtree, fd, false);
			if (e < 0) {
				char hex[DRFS_ID_HEX_LEN + 1];
				mismatch(d, "cannot read the directory's tree "
					    "%.16s: %s",
					 drfs_id_hex(&n.subtree, hex),
					 drfs_strerror(e));
				if (e == -ENOMEM)
					return e;
			}
		}
		drfs_treewalk_unjoin(w);
	}
	return 0;
}

/* ---- the drill ----------------------------------------------------------- */

int drfs_drill(struct drfs_repo *r, const struct drfs_drill_opts *o,
	       struct drfs_drill_result *ret)
{
	struct drfs_drill_result res = { 0 };
	struct dv d = { .r = r, .o = o, .res = &res };
	const char *parent = o->scratch;
	char scratch[PATH_MAX];
	int e, root = -1;

	if (!(o->sample > 0 && o->sample <= 100))
		return -EINVAL;
	d.sampled = o->sample < 100;
	d.root = geteuid() == 0;
	e = drfs_repo_snapshot_find(r, o->snapshot ? o->snapshot : "latest",
				    &res.snap);
	if (e < 0)
		return e;
	if (!parent || !*parent)
		parent = getenv("TMPDIR");
	if (!parent || !*parent)
		parent = "/tmp";
	if ((size_t)snprintf(scratch, sizeof(scratch), "%s/drfs-drill.XXXXXX",
			     parent) >= sizeof(scratch) - 256)
		return -ENAMETOOLONG;
	if (!mkdtemp(scratch))
		return -errno;
	/*
	 * The tree goes into tree/ of the mkdtemp directory: restore gives
	 * the tree's root the snapshot root's metadata (often 0755), the
	 * mkdtemp directory stays 0700 and keeps other users out of it.
	 */
	if ((size_t)snprintf(res.dir, sizeof(res.dir), "%s/tree", scratch) <
		    sizeof(res.dir) &&
	    mkdir(res.dir, 0700) == 0)
		root = open(res.dir,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d.xval = malloc(DRFS_XATTR_VALUE_MAX);
	if (root < 0 || !d.xval) {
		e = root < 0 ? -errno : -ENOMEM;
		goto out;
	}
	drfs_buf_init(&d.buf, DRFS_BLOB_MAX);

	/* restore (timed: the RTO) */
	double t0 = drfs_now_mono();
	struct drfs_restore_opts ro = {
		.snapshot = drfs_id_hex(&res.snap.id,
					(char[DRFS_ID_HEX_LEN + 1]){ 0 }),
		.target = res.dir,
		.want_file = d.sampled ? in_sample : NULL,
		.want_data = &d,
		.report = o->report,
		.report_data = o->report_data,
		.progress = o->progress,
	};
	drfs_progress_phase(o->progress, "restoring", "files", 0);
	e = drfs_restore(r, &ro);
	if (e < 0)
		goto out;
	res.restore_errors = (uint64_t)e;
	res.restore_seconds = drfs_now_mono() - t0;
	/* verify: the bytes restored are read again */
	drfs_progress_phase(o->progress, "verifying", "files",
			    o->progress ? o->progress->bytes : 0);

	/* verify */
	double t1 = drfs_now_mono();
	drfs_treewalk_init(&d.w, r, root);
	e = verify(&d, &res.snap.snap.root);
	drfs_treewalk_release(&d.w);
	if (e < 0)
		goto out;
	res.verify_seconds = drfs_now_mono() - t1;
	if (!d.sampled && !drfs_id_is_zero(&res.snap.snap.meta)) {
		/* the snapshot root's own metadata, applied last by restore */
		struct drfs_buf mt;
		struct drfs_node n;
		drfs_buf_init(&mt, DRFS_BLOB_MAX);
		int me = drfs_repo_blob_read(r, &res.snap.snap.meta, &mt);
		me = me ?: drfs_tree_find(mt.p, mt.len,
					  (const uint8_t *)"root", 4, &n);
		if (me >= 0)
			verify_entry(&d, root, ".", &n, true);
		else
			mismatch(&d, "cannot read the snapshot root's "
				     "metadata: %s", drfs_strerror(me));
		drfs_buf_release(&mt);
	}
	e = (int)MIN(res.mismatches + res.restore_errors, (uint64_t)INT32_MAX);
out:
	if (root >= 0 && !o->keep) {
		fchmod(root, 0700);
		drfs_remove_beneath(root);
		rmdir(res.dir);
	} else if (root < 0 && !o->keep) {
		rmdir(res.dir);
	}
	if (!o->keep)
		rmdir(scratch);
	if (root >= 0)
		close(root);
	free(d.xval);
	free(d.hls);
	free(d.ext.v);
	drfs_buf_release(&d.buf);
	if (e >= 0)
		*ret = res;
	return e;
}
