/* SPDX-License-Identifier: MIT */
/*
 * drill.c - the restore drill: restore a snapshot into a scratch directory,
 * verify every restored entry against the snapshot's trees, measure the
 * time-to-restore, clean up.
 *
 * Full drill (sample 100): drfs_restore() does the restore, exactly the
 * code a real recovery runs. Sampled drill: this file restores the
 * directories, symlinks and the sampled regular files itself (no devices,
 * no hard links), then verifies only what it restored; every tree is still
 * read and every extent's blob looked up in the index.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/dr.h"
#include "drfs/limits.h"
#include "drfs/log.h"

#define VERIFY_CHUNK (1u << 20)

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
	char path[PATH_MAX];
	size_t base_len;  /* length of the scratch directory prefix */
	struct hl *hls;
	size_t n_hls, cap_hls;
	struct drfs_buf blob; /* scratch for blob reads */
	uint8_t *chunk;       /* VERIFY_CHUNK bytes */
	uint8_t *extent;      /* DRFS_CHUNK_MAX_LIMIT bytes: one extent */
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
			     d->path[d->base_len] ? d->path + d->base_len + 1
						  : "/",
			     msg);
}

/* Whether the file at the current path is in the sample. */
static bool in_sample(struct dv *d)
{
	if (!d->sampled)
		return true;
	struct drfs_id h;
	char buf[PATH_MAX + 32];
	int n = snprintf(buf, sizeof(buf), "%llu:%s",
			 (unsigned long long)d->o->seed,
			 d->path + d->base_len);
	drfs_sha256(buf, (size_t)MAX(n, 0), &h);
	uint32_t v = drfs_get_le32(h.b) % 10000;
	return v < (uint32_t)(d->o->sample * 100.0);
}

/* ---- restoring the sample ------------------------------------------------ */

/* Owner, mode, xattrs, times of the entry at d->path (as restore does). */
static int set_meta(struct dv *d, struct drfs_node *n)
{
	struct drfs_xattr x;
	char name[DRFS_XATTR_NAME_MAX + 1];
	if (d->root && lchown(d->path, n->uid, n->gid) < 0)
		return -errno;
	if (!S_ISLNK(n->mode) && chmod(d->path, n->mode & 07777) < 0)
		return -errno;
	while (drfs_node_next_xattr(n, &x) > 0) {
		memcpy(name, x.name, x.name_len);
		name[x.name_len] = 0;
		if (lsetxattr(d->path, name, x.value, x.value_len, 0) < 0)
			return -errno;
	}
	struct timespec ts[2] = { n->atime, n->mtime };
	if (utimensat(AT_FDCWD, d->path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int write_sampled(struct dv *d, struct drfs_node *n)
{
	struct drfs_extent x;
	int fd = open(d->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				       O_CLOEXEC, 0600);
	int e = 0;
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)n->size) < 0)
		e = -errno;
	while (e >= 0 && drfs_node_next_extent(n, &x) > 0) {
		drfs_buf_reset(&d->blob);
		e = drfs_repo_blob_read(d->r, &x.id, &d->blob);
		if (e >= 0 && d->blob.len != x.len)
			e = -EBADMSG;
		if (e >= 0)
			e = drfs_pwrite_all(fd, d->blob.p, d->blob.len, x.off);
	}
	close(fd);
	if (e < 0)
		return e;
	return set_meta(d, n);
}

/* ---- verification --------------------------------------------------------- */

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
	if (d->n_hls == d->cap_hls) {
		size_t cap = d->cap_hls ? 2 * d->cap_hls : 16;
		void *p = realloc(d->hls, cap * sizeof(*d->hls));
		if (!p)
			return -ENOMEM;
		d->hls = p;
		d->cap_hls = cap;
	}
	d->hls[d->n_hls++] = (struct hl){ n->ino, st->st_dev, st->st_ino };
	return 0;
}

static void check_xattrs(struct dv *d, struct drfs_node *n)
{
	struct drfs_xattr x;
	char name[DRFS_XATTR_NAME_MAX + 1];
	uint8_t *val = malloc(DRFS_XATTR_VALUE_MAX);
	if (!val)
		return;
	while (drfs_node_next_xattr(n, &x) > 0) {
		memcpy(name, x.name, x.name_len);
		name[x.name_len] = 0;
		ssize_t l = lgetxattr(d->path, name, val, DRFS_XATTR_VALUE_MAX);
		if (l < 0)
			mismatch(d, "extended attribute \"%s\" is missing: %s",
				 name, strerror(errno));
		else if ((size_t)l != x.value_len ||
			 memcmp(val, x.value, x.value_len) != 0)
			mismatch(d, "extended attribute \"%s\" differs", name);
	}
	free(val);
}

/* 0 if [off, end) of fd reads as zeros (holes are skipped cheaply). */
static int check_zero(struct dv *d, int fd, uint64_t off, uint64_t end)
{
	while (off < end) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0 || (uint64_t)data >= end)
			return 0; /* a hole up to end (or ENXIO: to EOF) */
		off = (uint64_t)data;
		size_t want = (size_t)MIN((uint64_t)VERIFY_CHUNK, end - off);
		ssize_t got = drfs_pread_all(fd, d->chunk, want, off);
		if (got < 0)
			return (int)got;
		if ((size_t)got != want)
			return -EBADMSG;
		for (size_t i = 0; i < want; i++)
			if (d->chunk[i])
				return -EBADMSG;
		off += want;
	}
	return 0;
}

static void check_content(struct dv *d, struct drfs_node *n)
{
	struct drfs_extent x;
	uint64_t pos = 0;
	int fd = open(d->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		mismatch(d, "cannot open: %s", strerror(errno));
		return;
	}
	uint8_t *buf = d->extent;
	while (drfs_node_next_extent(n, &x) > 0) {
		if (x.off > pos && check_zero(d, fd, pos, x.off) < 0) {
			mismatch(d, "bytes %llu-%llu should be zeros (a hole)",
				 (unsigned long long)pos,
				 (unsigned long long)x.off);
			goto out;
		}
		ssize_t got = x.len <= DRFS_CHUNK_MAX_LIMIT
				      ? drfs_pread_all(fd, buf, x.len, x.off)
				      : -EFBIG;
		struct drfs_id id;
		if (got == (ssize_t)x.len)
			drfs_blob_id(&d->r->keys, buf, x.len, &id);
		if (got != (ssize_t)x.len || !drfs_id_eq(&id, &x.id)) {
			char hex[DRFS_ID_HEX_LEN + 1];
			mismatch(d, "content differs at bytes %llu-%llu (blob "
				    "%.16s)",
				 (unsigned long long)x.off,
				 (unsigned long long)(x.off + x.len),
				 drfs_id_hex(&x.id, hex));
			goto out;
		}
		d->res->bytes += x.len;
		pos = x.off + x.len;
	}
	if (pos < n->size && check_zero(d, fd, pos, n->size) < 0)
		mismatch(d, "bytes %llu-%llu should be zeros (a hole)",
			 (unsigned long long)pos, (unsigned long long)n->size);
out:
	close(fd);
}

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * Compare the restored entry at d->path with node n (check_meta false:
 * only its type; the sampled drill does not restore directories' metadata).
 */
static void verify_entry(struct dv *d, struct drfs_node *n, bool check_meta)
{
	struct stat st;
	if (lstat(d->path, &st) < 0) {
		mismatch(d, "is missing: %s", strerror(errno));
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
		check_xattrs(d, n);
	switch (n->mode & S_IFMT) {
	case S_IFREG:
		if ((uint64_t)st.st_size != n->size) {
			mismatch(d, "size %llu, want %llu",
				 (unsigned long long)st.st_size,
				 (unsigned long long)n->size);
			return;
		}
		uint64_t before = d->res->mismatches;
		check_content(d, n);
		if (d->res->mismatches == before)
			d->res->files++;
		break;
	case S_IFLNK: {
		char t[DRFS_PATH_MAX + 1];
		ssize_t l = readlink(d->path, t, sizeof(t));
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

static size_t count_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	size_t n = 0;
	if (!dir)
		return SIZE_MAX;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

/* Walk tree id whose directory is d->path (plen bytes). */
static int walk(struct dv *d, const struct drfs_id *tree_id, size_t plen)
{
	struct drfs_buf tree;
	struct drfs_tree_iter it;
	struct drfs_node n;
	size_t count = 0;
	int e;

	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	e = drfs_repo_blob_read(d->r, tree_id, &tree);
	e = e ?: drfs_tree_iter_init(&it, tree.p, tree.len);
	if (e < 0) {
		char hex[DRFS_ID_HEX_LEN + 1];
		mismatch(d, "cannot read the directory's tree %.16s: %s",
			 drfs_id_hex(tree_id, hex), drfs_strerror(e));
		drfs_buf_release(&tree);
		return e == -ENOMEM ? e : 0;
	}
	while ((e = drfs_tree_iter_next(&it, &n)) > 0) {
		if (plen + 1 + n.name_len >= sizeof(d->path)) {
			mismatch(d, "a name in it is too long to restore");
			continue;
		}
		d->path[plen] = '/';
		memcpy(d->path + plen + 1, n.name, n.name_len);
		size_t nlen = plen + 1 + n.name_len;
		d->path[nlen] = 0;
		d->res->entries++;
		count++;
		bool sample = true;
		if (S_ISREG(n.mode)) {
			d->res->files_total++;
			d->res->bytes_total += n.size;
			sample = in_sample(d);
			/* every blob must at least be known */
			struct drfs_node m = n;
			struct drfs_extent x;
			while (drfs_node_next_extent(&m, &x) > 0)
				if (drfs_repo_blob_find(d->r, &x.id, NULL,
							NULL) < 0) {
					char hex[DRFS_ID_HEX_LEN + 1];
					mismatch(d, "blob %.16s is missing from "
						    "the repository",
						 drfs_id_hex(&x.id, hex));
					break;
				}
		}
		if (d->sampled) {
			/* restore what the sample covers */
			int re = 0;
			if (S_ISDIR(n.mode))
				re = mkdir(d->path, 0700) < 0 && errno != EEXIST
					     ? -errno
					     : 0;
			else if (S_ISLNK(n.mode)) {
				char t[DRFS_PATH_MAX + 1];
				memcpy(t, n.target, n.target_len);
				t[n.target_len] = 0;
				re = symlink(t, d->path) < 0 ? -errno : 0;
				if (re >= 0) {
					struct drfs_node m = n;
					re = set_meta(d, &m);
				}
			} else if (S_ISREG(n.mode) && sample) {
				struct drfs_node m = n;
				re = write_sampled(d, &m);
			} else {
				sample = false;
			}
			if (re < 0) {
				d->res->restore_errors++;
				mismatch(d, "cannot restore: %s",
					 drfs_strerror(re));
				sample = false;
			}
			if (!S_ISDIR(n.mode))
				n.nlink = 1; /* the sample makes no hard links */
		}
		if (sample)
			verify_entry(d, &n, !(d->sampled && S_ISDIR(n.mode)));
		if (S_ISDIR(n.mode)) {
			e = walk(d, &n.subtree, nlen);
			if (e < 0)
				break;
		}
		d->path[plen] = 0;
	}
	d->path[plen] = 0;
	if (e == -EBADMSG) {
		mismatch(d, "the directory's tree is corrupted");
		e = 0;
	}
	if (e >= 0 && !d->sampled) {
		/* nothing more, nothing less (a sample leaves entries out) */
		size_t have = count_dir(d->path);
		if (have != count)
			mismatch(d, "holds %zu entries, the snapshot %zu", have,
				 count);
	}
	drfs_buf_release(&tree);
	return e;
}

/* ---- scratch directory ---------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static int open_up(const char *path, const struct stat *st, int flag,
		   struct FTW *f)
{
	(void)f;
	if (flag == FTW_D && (st->st_mode & 0700) != 0700)
		chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

static void remove_tree(const char *dir)
{
	nftw(dir, open_up, 32, FTW_PHYS);
	nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

int drfs_drill(struct drfs_repo *r, const struct drfs_drill_opts *o,
	       struct drfs_drill_result *ret)
{
	struct drfs_drill_result res = { 0 };
	struct dv d = { .r = r, .o = o, .res = &res };
	const char *parent = o->scratch;
	int e;

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
	if ((size_t)snprintf(res.dir, sizeof(res.dir), "%s/drfs-drill.XXXXXX",
			     parent) >= sizeof(res.dir) - 256)
		return -ENAMETOOLONG;
	if (!mkdtemp(res.dir))
		return -errno;
	d.chunk = malloc(VERIFY_CHUNK);
	d.extent = malloc(DRFS_CHUNK_MAX_LIMIT);
	if (!d.chunk || !d.extent) {
		e = -ENOMEM;
		goto out;
	}
	drfs_buf_init(&d.blob, DRFS_BLOB_MAX);

	/* restore (timed: the RTO) */
	double t0 = drfs_now_mono();
	if (!d.sampled) {
		struct drfs_restore_opts ro = {
			.snapshot = drfs_id_hex(&res.snap.id,
						(char[DRFS_ID_HEX_LEN + 1]){ 0 }),
			.target = res.dir,
			.report = o->report,
			.report_data = o->report_data,
		};
		e = drfs_restore(r, &ro);
		if (e < 0)
			goto out;
		res.restore_errors = (uint64_t)e;
	}
	res.restore_seconds = drfs_now_mono() - t0;

	/* verify (for a sample, restore and verify in one walk) */
	double t1 = drfs_now_mono();
	strcpy(d.path, res.dir);
	d.base_len = strlen(res.dir);
	e = walk(&d, &res.snap.snap.root, d.base_len);
	if (e < 0)
		goto out;
	res.verify_seconds = drfs_now_mono() - t1;
	if (d.sampled) {
		res.restore_seconds += res.verify_seconds;
	} else if (!drfs_id_is_zero(&res.snap.snap.meta)) {
		/* the snapshot root's own metadata, applied last by restore */
		struct drfs_buf mt;
		struct drfs_node n;
		drfs_buf_init(&mt, DRFS_BLOB_MAX);
		int me = drfs_repo_blob_read(r, &res.snap.snap.meta, &mt);
		me = me ?: drfs_tree_find(mt.p, mt.len,
					  (const uint8_t *)"root", 4, &n);
		if (me >= 0)
			verify_entry(&d, &n, true);
		else
			mismatch(&d, "cannot read the snapshot root's "
				     "metadata: %s", drfs_strerror(me));
		drfs_buf_release(&mt);
	}
	e = (int)MIN(res.mismatches + res.restore_errors, (uint64_t)INT32_MAX);
out:
	if (!o->keep)
		remove_tree(res.dir);
	free(d.chunk);
	free(d.extent);
	free(d.hls);
	drfs_buf_release(&d.blob);
	if (e >= 0)
		*ret = res;
	return e;
}
