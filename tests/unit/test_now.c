/* SPDX-License-Identifier: MIT */
/*
 * test_now.c - the now/ tree without FUSE: POSIX operations, persistence
 * across reopen, snapshot commit, and a fresh cache starting from the
 * latest snapshot with the same content.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/now.h"
#include "test.h"

static char root[256];

static struct drfs_repo *open_repo(const char *cache)
{
	char url[300], cdir[300];
	struct drfs_repo_opts o = { 0 };
	struct drfs_repo *r = NULL;
	snprintf(url, sizeof(url), "%s/repo", root);
	snprintf(cdir, sizeof(cdir), "%s/%s", root, cache);
	o.url = url;
	o.cache_dir = cdir;
	o.no_encryption = true;
	o.threads = 2;
	int e = drfs_repo_open(&o, &r);
	CHECK_EQ(e, 0);
	return r;
}

static void make_repo(void)
{
	char url[300];
	struct drfs_repo_opts o = { 0 };
	struct drfs_init_opts io = { .no_encryption = true };
	struct drfs_id id;
	snprintf(url, sizeof(url), "%s/repo", root);
	o.url = url;
	o.backend.create = true;
	io.chunker = (struct drfs_chunker_params){ .min = 16 << 10,
						   .avg = 64 << 10,
						   .max = 256 << 10,
						   .norm = 2 };
	CHECK_EQ(drfs_repo_init(&o, &io, &id), 0);
}

static uint64_t child(struct drfs_now *n, uint64_t dir, const char *name)
{
	struct stat st;
	int e = drfs_now_lookup(n, dir, name, &st);
	return e < 0 ? 0 : st.st_ino;
}

static int write_file(struct drfs_now *n, uint64_t dir, const char *name,
		      const void *p, size_t len, uint64_t off, bool create)
{
	struct stat st;
	struct drfs_now_file *f;
	uint64_t ino;
	if (create) {
		int e = drfs_now_mknod(n, dir, name, S_IFREG | 0644, 0, 1000,
				       1000, &st);
		if (e < 0)
			return e;
		ino = st.st_ino;
	} else {
		ino = child(n, dir, name);
	}
	int e = drfs_now_open_file(n, ino, O_RDWR, &f);
	if (e < 0)
		return e;
	ssize_t w = drfs_now_write(f, p, len, off);
	CHECK_EQ(w, (ssize_t)len);
	e = drfs_now_fsync(f, false);
	drfs_now_release(f);
	return e;
}

static bool file_equals(struct drfs_now *n, uint64_t ino, const uint8_t *p,
			size_t len)
{
	struct drfs_now_file *f;
	struct stat st;
	if (drfs_now_getattr(n, ino, &st) < 0 || (size_t)st.st_size != len)
		return false;
	if (drfs_now_open_file(n, ino, O_RDONLY, &f) < 0)
		return false;
	uint8_t *b = malloc(len + 1);
	bool ok = true;
	for (size_t off = 0; off < len && ok; off += 100000) {
		size_t l = MIN((size_t)100000, len - off);
		ok = drfs_now_read(f, b, l, off) == (ssize_t)l &&
		     !memcmp(b, p + off, l);
	}
	ok = ok && drfs_now_read(f, b, 1, len) == 0;
	free(b);
	drfs_now_release(f);
	return ok;
}

struct names {
	char buf[4096];
	size_t len;
	int count;
};

static int names_cb(void *ud, uint64_t cookie, const char *name,
		    const struct stat *st)
{
	struct names *nm = ud;
	(void)cookie;
	(void)st;
	nm->len += (size_t)snprintf(nm->buf + nm->len, sizeof(nm->buf) - nm->len,
				    "%s,", name);
	nm->count++;
	return 0;
}

static uint8_t *big;
static size_t big_len = 3u << 20;

/* Build a tree, checking POSIX behaviour as it goes. */
static void build(struct drfs_now *n)
{
	struct stat st;
	uint64_t d1, d2, fa;
	CHECK_EQ(drfs_now_mkdir(n, DRFS_NOW_ROOT, "d1", 0755, 1000, 1000, &st), 0);
	d1 = st.st_ino;
	CHECK_EQ(drfs_now_mkdir(n, DRFS_NOW_ROOT, "d1", 0755, 0, 0, &st), -EEXIST);
	CHECK_EQ(drfs_now_mkdir(n, d1, "d2", 0700, 1000, 1000, &st), 0);
	d2 = st.st_ino;
	CHECK_EQ(write_file(n, d1, "a", "hello world", 11, 0, true), 0);
	fa = child(n, d1, "a");
	CHECK(fa != 0);
	CHECK_EQ(write_file(n, d2, "big", big, big_len, 0, true), 0);
	/* sparse: 1 byte at 10 MiB */
	CHECK_EQ(write_file(n, DRFS_NOW_ROOT, "sparse", "x", 1, 10u << 20, true), 0);
	CHECK_EQ(drfs_now_symlink(n, d1, "ln", "../sparse", 0, 0, &st), 0);
	CHECK_EQ(drfs_now_mknod(n, d1, "fifo", S_IFIFO | 0600, 0, 0, 0, &st), 0);
	CHECK_EQ(drfs_now_mknod(n, d1, "dev", S_IFCHR | 0600, makedev(1, 3), 0, 0,
				&st), 0);
	CHECK_EQ(drfs_now_link(n, fa, d2, "a-link", &st), 0);
	CHECK_EQ(st.st_nlink, 2);
	CHECK_EQ(drfs_now_setxattr(n, fa, "user.k", "v1", 2, 0), 0);
	CHECK_EQ(drfs_now_setxattr(n, fa, "user.k", "v2", 2, XATTR_CREATE),
		 -EEXIST);
	CHECK_EQ(drfs_now_setxattr(n, fa, "user.z", "v", 1, XATTR_REPLACE),
		 -ENODATA);
	CHECK_EQ(drfs_now_setxattr(n, d1, "user.dir", "", 0, 0), 0);
	char v[16];
	CHECK_EQ(drfs_now_getxattr(n, fa, "user.k", v, sizeof(v)), 2);
	CHECK(!memcmp(v, "v1", 2));
	/* rmdir of a non-empty directory, unlink of a directory */
	CHECK_EQ(drfs_now_rmdir(n, DRFS_NOW_ROOT, "d1"), -ENOTEMPTY);
	CHECK_EQ(drfs_now_unlink(n, DRFS_NOW_ROOT, "d1"), -EISDIR);
	/* rename: temp-file-then-rename over an existing file */
	CHECK_EQ(write_file(n, d1, ".a.tmp", "HELLO", 5, 0, true), 0);
	CHECK_EQ(drfs_now_rename(n, d1, ".a.tmp", d1, "b", RENAME_NOREPLACE), 0);
	CHECK_EQ(write_file(n, d1, ".b.tmp", "bye", 3, 0, true), 0);
	CHECK_EQ(drfs_now_rename(n, d1, ".b.tmp", d1, "b", RENAME_NOREPLACE),
		 -EEXIST);
	CHECK_EQ(drfs_now_rename(n, d1, ".b.tmp", d1, "b", 0), 0);
	CHECK_EQ(child(n, d1, ".b.tmp"), 0);
	CHECK(file_equals(n, child(n, d1, "b"), (const uint8_t *)"bye", 3));
	/* exchange a file and a directory */
	CHECK_EQ(drfs_now_mkdir(n, DRFS_NOW_ROOT, "x", 0755, 0, 0, &st), 0);
	CHECK_EQ(drfs_now_rename(n, d1, "b", DRFS_NOW_ROOT, "x",
				 RENAME_EXCHANGE), 0);
	CHECK_EQ(drfs_now_lookup(n, d1, "b", &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(drfs_now_lookup(n, DRFS_NOW_ROOT, "x", &st), 0);
	CHECK(S_ISREG(st.st_mode));
	/* a directory into its own subtree */
	CHECK_EQ(drfs_now_rename(n, DRFS_NOW_ROOT, "d1", d2, "loop", 0), -EINVAL);
	CHECK_EQ(drfs_now_rmdir(n, d1, "b"), 0);
	/* truncate and times */
	struct stat set = { 0 };
	set.st_size = 5;
	set.st_mtim = (struct timespec){ 1234567890, 123456789 };
	set.st_atim = (struct timespec){ 1000000000, 1 };
	CHECK_EQ(drfs_now_setattr(n, fa, &set,
				  DRFS_NOW_SET_SIZE | DRFS_NOW_SET_MTIME |
					  DRFS_NOW_SET_ATIME, &st),
		 0);
	CHECK_EQ(st.st_size, 5);
	CHECK_EQ(st.st_mtim.tv_nsec, 123456789);
	CHECK(file_equals(n, fa, (const uint8_t *)"hello", 5));
	struct names nm = { .len = 0 };
	CHECK_EQ(drfs_now_readdir(n, d1, 0, names_cb, &nm), 0);
	CHECK(!strcmp(nm.buf, "d2,a,ln,fifo,dev,"));
}

static void verify(struct drfs_now *n)
{
	struct stat st;
	uint64_t d1 = child(n, DRFS_NOW_ROOT, "d1");
	uint64_t d2 = child(n, d1, "d2");
	CHECK(d1 && d2);
	uint64_t fa = child(n, d1, "a");
	CHECK(file_equals(n, fa, (const uint8_t *)"hello", 5));
	CHECK_EQ(drfs_now_getattr(n, fa, &st), 0);
	CHECK_EQ(st.st_nlink, 2);
	CHECK_EQ(st.st_mtim.tv_sec, 1234567890);
	CHECK_EQ(st.st_mtim.tv_nsec, 123456789);
	CHECK_EQ(st.st_atim.tv_nsec, 1);
	CHECK_EQ(child(n, d2, "a-link"), fa);
	CHECK(file_equals(n, child(n, d2, "big"), big, big_len));
	char v[16];
	CHECK_EQ(drfs_now_getxattr(n, fa, "user.k", v, sizeof(v)), 2);
	CHECK_EQ(drfs_now_getxattr(n, d1, "user.dir", NULL, 0), 0);
	CHECK_EQ(drfs_now_readlink(n, child(n, d1, "ln"), v, sizeof(v)), 9);
	CHECK(!strcmp(v, "../sparse"));
	CHECK_EQ(drfs_now_lookup(n, d1, "dev", &st), 0);
	CHECK(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	CHECK_EQ(drfs_now_lookup(n, d1, "fifo", &st), 0);
	CHECK(S_ISFIFO(st.st_mode));
	CHECK_EQ(drfs_now_lookup(n, DRFS_NOW_ROOT, "sparse", &st), 0);
	CHECK_EQ(st.st_size, (10 << 20) + 1);
	struct drfs_now_file *f;
	CHECK_EQ(drfs_now_open_file(n, st.st_ino, O_RDONLY, &f), 0);
	CHECK_EQ(drfs_now_lseek(f, 0, SEEK_DATA) >> 20, 10);
	CHECK_EQ(drfs_now_lseek(f, 0, SEEK_HOLE), 0);
	drfs_now_release(f);
}

/*
 * Files written (staged in memory) and still open while a snapshot makes
 * them durable, then the process dies without drfs_now_free (as kill -9:
 * the memfds are gone, LMDB keeps what was committed). Once a file is
 * closed nothing the snapshot covered is staged; the next open keeps the
 * content of both, the one closed and the one open at the crash.
 */
static void crash_after_snapshot(void)
{
	static const char *const names[] = { "closed", "open" };
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct drfs_repo *r = open_repo("cache6");
		struct drfs_now *n = NULL;
		struct drfs_now_file *f[2];
		struct drfs_now_status ns;
		struct drfs_now_snapshot_opts so = { 0 };
		struct stat st;
		char folder[32];
		CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
		for (int i = 0; i < 2; i++) {
			CHECK_EQ(drfs_now_mknod(n, DRFS_NOW_ROOT, names[i],
						S_IFREG | 0644, 0, 0, 0, &st),
				 0);
			CHECK_EQ(drfs_now_open_file(n, st.st_ino, O_RDWR, &f[i]),
				 0);
			CHECK_EQ(drfs_now_write(f[i], names[i],
						strlen(names[i]), 0),
				 (ssize_t)strlen(names[i]));
		}
		CHECK_EQ(drfs_now_snapshot(n, &so, folder), 1);
		CHECK_EQ(drfs_now_status(n, &ns), 0);
		CHECK_EQ(ns.staged_files, 2); /* open: still staged */
		drfs_now_release(f[0]);
		CHECK_EQ(drfs_now_status(n, &ns), 0);
		CHECK_EQ(ns.staged_files, 1);
		CHECK(!ns.changed);
		_exit(test_failures ? 1 : 0); /* f[1] open, nothing freed */
	}
	int ws = 0;
	CHECK_EQ(waitpid(pid, &ws, 0), pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	struct drfs_repo *r = open_repo("cache6");
	struct drfs_now *n = NULL;
	struct drfs_now_status ns;
	CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
	for (int i = 0; i < 2; i++)
		CHECK(file_equals(n, child(n, DRFS_NOW_ROOT, names[i]),
				  (const uint8_t *)names[i], strlen(names[i])));
	CHECK_EQ(drfs_now_status(n, &ns), 0);
	CHECK_EQ(ns.staged_files, 0);
	CHECK(!ns.changed);
	drfs_now_free(n);
	drfs_repo_free(r);
}

static int live_cb(void *ud, const struct drfs_id *root)
{
	*(struct drfs_id *)ud = *root;
	return 7;
}

/*
 * drfs_writer_put_deferred: the workers compute the ids (those put_blob
 * computes), deduplicate against the repository and against each other,
 * and count what was new; the blobs read back after a flush.
 */
static void test_deferred(struct drfs_repo *r)
{
	struct drfs_writer *w = NULL;
	struct drfs_writer_ids ids = { 0 };
	struct drfs_id a, b;
	struct drfs_buf got;
	CHECK_EQ(drfs_writer_new(r, &w), 0);
	CHECK_EQ(drfs_writer_put_blob(w, DRFS_BLOB_DATA, big, 5000, &a), 1);
	CHECK_EQ(drfs_writer_put_blob(w, DRFS_BLOB_DATA, big + 1, 7000, &b), 1);
	CHECK_EQ(drfs_writer_flush(w), 0);
	/* present (a), new twice (big + 2), present again (b), new */
	CHECK_EQ(drfs_writer_put_deferred(w, DRFS_BLOB_DATA, big, 5000, &ids),
		 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(drfs_writer_put_deferred(w, DRFS_BLOB_DATA, big + 2,
						  300000, &ids), 0);
	CHECK_EQ(drfs_writer_put_deferred(w, DRFS_BLOB_DATA, big + 1, 7000,
					  &ids), 0);
	CHECK_EQ(drfs_writer_put_deferred(w, DRFS_BLOB_DATA, big + 3, 1, &ids),
		 0);
	CHECK_EQ(drfs_writer_ids_wait(w, &ids), 0);
	CHECK_EQ(ids.n, 5);
	CHECK_EQ(ids.pending, 0);
	CHECK_EQ(ids.fresh, 2);
	CHECK_EQ(ids.fresh_bytes, 300001);
	CHECK(drfs_id_eq(&ids.v[0], &a));
	CHECK(drfs_id_eq(&ids.v[1], &ids.v[2]));
	CHECK(drfs_id_eq(&ids.v[3], &b));
	CHECK(!drfs_id_eq(&ids.v[1], &ids.v[4]));
	CHECK_EQ(drfs_writer_flush(w), 0);
	drfs_buf_init(&got, DRFS_BLOB_MAX);
	CHECK_EQ(drfs_repo_blob_read(r, &ids.v[1], &got), 0);
	CHECK(got.len == 300000 && !memcmp(got.p, big + 2, got.len));
	drfs_buf_reset(&got);
	CHECK_EQ(drfs_repo_blob_read(r, &ids.v[4], &got), 0);
	CHECK(got.len == 1 && got.p[0] == big[3]);
	drfs_buf_release(&got);
	drfs_writer_ids_free(&ids);
	drfs_writer_free(w);
}

int main(void)
{
	test_init("test_now");
	snprintf(root, sizeof(root), "/tmp/test_now.XXXXXX");
	if (!mkdtemp(root))
		return 1;
	/* the known-repositories file goes here, not to the user's home */
	setenv("XDG_CONFIG_HOME", root, 1);
	big = malloc(big_len);
	test_fill(big, big_len);
	make_repo();

	/* build, reopen (persistence of uncommitted changes), verify */
	struct drfs_repo *r = open_repo("cache1");
	struct drfs_now *n = NULL;
	test_deferred(r);
	CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
	build(n);
	drfs_now_free(n);
	CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
	verify(n);

	/* snapshot; a second one without changes is skipped */
	char folder[32];
	struct drfs_now_snapshot_opts so = { .if_changed = true };
	CHECK_EQ(drfs_now_snapshot(n, &so, folder), 1);
	CHECK(strlen(folder) >= 17);
	CHECK_EQ(drfs_now_snapshot(n, &so, folder), 0);
	struct drfs_now_status ns;
	CHECK_EQ(drfs_now_status(n, &ns), 0);
	CHECK(!ns.changed);
	CHECK_EQ(ns.staged_files, 0);
	verify(n);

	/* 7 bytes in the middle of the big file, in place */
	uint64_t d2 = child(n, child(n, DRFS_NOW_ROOT, "d1"), "d2");
	memcpy(big + big_len / 2, "CHANGED", 7);
	CHECK_EQ(write_file(n, d2, "big", "CHANGED", 7, big_len / 2, false), 0);
	CHECK(file_equals(n, child(n, d2, "big"), big, big_len));
	so.time = (struct timespec){ 4000000000, 0 };
	CHECK_EQ(drfs_now_snapshot(n, &so, folder), 1);
	struct drfs_snap_info si;
	CHECK_EQ(drfs_repo_snapshot_find(r, "latest", &si), 0);
	/* one or two data chunks and four trees (d2, d1, root, meta) */
	CHECK(si.snap.added_blobs <= 7);
	fprintf(stderr, "7-byte change added %" PRIu64 " blobs, %" PRIu64
		" bytes\n", si.snap.added_blobs, si.snap.added_bytes);
	CHECK_EQ(si.snap.files, 5);
	fprintf(stderr, "after 7-byte change: snapshot %s files %" PRIu64
		" dirs %" PRIu64 " bytes %" PRIu64 "\n", si.folder,
		si.snap.files, si.snap.dirs, si.snap.bytes);
	drfs_now_free(n);
	drfs_repo_free(r);

	/* a fresh cache directory starts from the latest snapshot */
	r = open_repo("cache2");
	CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
	verify(n);
	CHECK(file_equals(n, child(n, child(n, child(n, DRFS_NOW_ROOT, "d1"),
					  "d2"), "big"), big, big_len));
	/* rm -rf of copied-on-write directories */
	uint64_t d1 = child(n, DRFS_NOW_ROOT, "d1");
	d2 = child(n, d1, "d2");
	CHECK_EQ(drfs_now_unlink(n, d2, "big"), 0);
	CHECK_EQ(drfs_now_unlink(n, d2, "a-link"), 0);
	CHECK_EQ(drfs_now_rmdir(n, d1, "d2"), 0);
	struct stat st;
	CHECK_EQ(drfs_now_getattr(n, child(n, d1, "a"), &st), 0);
	CHECK_EQ(st.st_nlink, 1);
	CHECK_EQ(drfs_now_status(n, &ns), 0);
	CHECK(ns.changed);
	/* the live tree (gc root) is the tree the next snapshot gets, and
	 * computing it marks nothing clean; metadata sync is callable */
	struct drfs_id live = { 0 };
	CHECK_EQ(drfs_now_with_live_tree(n, live_cb, &live), 7);
	CHECK(!drfs_id_is_zero(&live));
	CHECK_EQ(drfs_now_status(n, &ns), 0);
	CHECK(ns.changed);
	CHECK_EQ(drfs_now_sync_meta(n), 0);
	CHECK_EQ(drfs_now_sync_meta(n), 0);
	so.time.tv_sec++;
	CHECK_EQ(drfs_now_snapshot(n, &so, folder), 1);
	CHECK_EQ(drfs_repo_snapshot_find(r, "latest", &si), 0);
	CHECK(drfs_id_eq(&live, &si.snap.root));
	drfs_now_free(n);
	drfs_repo_free(r);

	/* a hard-link group changed through one name, the directory of the
	 * other name never copied: the snapshot has the new content there */
	r = open_repo("cache3");
	CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
	uint64_t h1, h2;
	CHECK_EQ(drfs_now_mkdir(n, DRFS_NOW_ROOT, "h1", 0755, 0, 0, &st), 0);
	h1 = st.st_ino;
	CHECK_EQ(drfs_now_mkdir(n, DRFS_NOW_ROOT, "h2", 0755, 0, 0, &st), 0);
	h2 = st.st_ino;
	CHECK_EQ(write_file(n, h1, "x", "old content", 11, 0, true), 0);
	CHECK_EQ(drfs_now_link(n, child(n, h1, "x"), h2, "y", &st), 0);
	so.time.tv_sec++;
	CHECK_EQ(drfs_now_snapshot(n, &so, folder), 1);
	drfs_now_free(n);
	drfs_repo_free(r);
	r = open_repo("cache4");
	CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
	h1 = child(n, DRFS_NOW_ROOT, "h1");
	CHECK_EQ(write_file(n, h1, "x", "NEW", 3, 0, false), 0);
	so.time.tv_sec++;
	CHECK_EQ(drfs_now_snapshot(n, &so, folder), 1);
	drfs_now_free(n);
	drfs_repo_free(r);
	r = open_repo("cache5");
	CHECK_EQ(drfs_now_open(r, NULL, &n), 0);
	h2 = child(n, DRFS_NOW_ROOT, "h2");
	CHECK(file_equals(n, child(n, h2, "y"), (const uint8_t *)"NEW content",
			  11));
	CHECK_EQ(child(n, h2, "y"), child(n, child(n, DRFS_NOW_ROOT, "h1"), "x"));
	drfs_now_free(n);
	drfs_repo_free(r);

	crash_after_snapshot();

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	free(big);
	return test_done("test_now");
}
