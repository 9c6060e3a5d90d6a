/* SPDX-License-Identifier: MIT */
/*
 * beneath.c - open a path beneath a directory fd without ever leaving it:
 * no absolute path, no "..", no symlink in any component (the last one
 * included). openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the
 * kernel has it (Linux 5.6), else one openat(O_NOFOLLOW) per component.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "drfs/base.h"

/* The path's components are all plain names: relative, no "..". */
static int check_path(const char *path)
{
	const char *p = path;
	if (*p == '/')
		return -EXDEV;
	while (*p) {
		const char *end = strchrnul(p, '/');
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return -EXDEV;
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* O_PATH | O_NOFOLLOW opens a symlink itself: refuse it like the rest. */
static int no_symlink(int fd, int flags)
{
	struct stat st;
	if (!(flags & O_PATH) || (fstat(fd, &st) == 0 && !S_ISLNK(st.st_mode)))
		return fd;
	close(fd);
	return -ELOOP;
}

int drfs_open_beneath_walk(int root, const char *path, int flags, mode_t mode)
{
	char name[NAME_MAX + 1];
	const char *p = path;
	int dir = root, e;

	e = check_path(path);
	if (e < 0)
		return e;
	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		while (*end == '/')
			end++;
		if (len > NAME_MAX) {
			e = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, len);
		name[len] = 0;
		if (!len)
			strcpy(name, ".");
		bool last = !*end;
		int fd = last ? openat(dir, name,
				       flags | O_NOFOLLOW | O_CLOEXEC, mode)
			      : openat(dir, name,
				       O_PATH | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
		e = fd < 0 ? -errno : 0;
		if (dir != root)
			close(dir);
		if (e < 0)
			break;
		if (last)
			return no_symlink(fd, flags);
		dir = fd;
		p = end;
	}
	/* a symlink in the middle: O_DIRECTORY | O_NOFOLLOW says ENOTDIR */
	return e;
}

int drfs_open_beneath(int root, const char *path, int flags, mode_t mode)
{
	static atomic_int no_openat2;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int e = check_path(path);
	if (e < 0)
		return e;
	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		long fd;
		do
			fd = syscall(SYS_openat2, root, *path ? path : ".",
				     &how, sizeof(how));
		while (fd < 0 && errno == EINTR);
		if (fd >= 0)
			return no_symlink((int)fd, flags);
		if (errno != ENOSYS)
			return -errno;
		atomic_store_explicit(&no_openat2, 1, memory_order_relaxed);
	}
	return drfs_open_beneath_walk(root, path, flags, mode);
}
