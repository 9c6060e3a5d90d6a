/* SPDX-License-Identifier: MIT */
/*
 * private.c - what is private stays private: secrets in memory of their own
 * (locked, out of core dumps, wiped), and a scan for files and directories
 * that other users may read.
 *
 * A secret allocation is a private anonymous mapping of whole pages: a
 * 16-byte header holding the mapping's length, then the caller's bytes. A
 * mapping rather than malloc, because mlock and MADV_DONTDUMP act on pages,
 * and a page shared with ordinary heap data would be dumped or unlocked
 * with it. Secrets are few and small (a passphrase, a repository's keys),
 * so a page each costs nothing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/base.h"

#define SECRET_HEADER 16

void drfs_wipe(void *p, size_t len)
{
	if (p && len)
		explicit_bzero(p, len);
}

void *drfs_secret_alloc(size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t ps = page > 0 ? (size_t)page : 4096;
	if (len > SIZE_MAX - SECRET_HEADER - ps)
		return NULL;
	size_t total = (len + SECRET_HEADER + ps - 1) / ps * ps;
	uint8_t *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* best effort: an RLIMIT_MEMLOCK too small only loses the lock */
	(void)mlock(p, total);
	(void)madvise(p, total, MADV_DONTDUMP);
	memcpy(p, &total, sizeof(total));
	return p + SECRET_HEADER;
}

void drfs_secret_free(void *ptr)
{
	if (!ptr)
		return;
	uint8_t *p = (uint8_t *)ptr - SECRET_HEADER;
	size_t total;
	memcpy(&total, p, sizeof(total));
	explicit_bzero(p, total);
	munlock(p, total);
	munmap(p, total);
}

char *drfs_secret_strdup(const char *s)
{
	size_t len = strlen(s);
	char *p = drfs_secret_alloc(len + 1);
	if (p)
		memcpy(p, s, len + 1);
	return p;
}

/* ---- files other users may read --------------------------------------- */

struct scan {
	drfs_mode_cb cb;
	void *ud;
	char path[PATH_MAX];
};

static int scan_dir(struct scan *s, int fd, size_t len)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(fd);
		return 0; /* unreadable: nothing to say about what is in it */
	}
	while (r >= 0 && (de = readdir(d))) {
		struct stat st;
		size_t n = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len + n + 2 > sizeof(s->path))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue;
		memcpy(s->path + len, de->d_name, n + 1);
		if (st.st_mode & 077)
			r = s->cb(s->path, st.st_mode & 07777, s->ud);
		if (r < 0 || !S_ISDIR(st.st_mode))
			continue;
		int sub = openat(dirfd(d), de->d_name,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		s->path[len + n] = '/';
		s->path[len + n + 1] = 0;
		r = scan_dir(s, sub, len + n + 1);
	}
	closedir(d);
	return r;
}

int drfs_scan_loose_modes(int dirfd, drfs_mode_cb cb, void *ud)
{
	struct scan s = { .cb = cb, .ud = ud };
	struct stat st;
	int r = 0;

	if (fstat(dirfd, &st) < 0)
		return -errno;
	if (st.st_mode & 077)
		r = cb("", st.st_mode & 07777, ud);
	if (r < 0)
		return r;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return scan_dir(&s, fd, 0);
}
