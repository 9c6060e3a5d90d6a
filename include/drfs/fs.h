/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE filesystem (fs layer): drfs mount / drfs umount.
 */
#ifndef DRFS_FS_H
#define DRFS_FS_H

#include "drfs/repo.h"

struct drfs_mount_opts {
	struct drfs_repo_opts repo;  /* how to open the repository */
	const char *mountpoint;
	bool foreground;             /* -f */
	bool debug;                  /* -d: FUSE debug output, implies -f */
	const char *fuse_opts;       /* -o a,b,c (allow_other, ...) */
	uint64_t cache_size;         /* --cache-size: bytes of local cache */
	const char *log_file;        /* NULL: <cache-dir>/mount.log once detached */
};

/*
 * Mount and serve until unmounted. Without foreground, returns in the
 * parent (0) once the mount is ready, or a negative errno after printing
 * a clear message when the repository, passphrase or mountpoint is wrong;
 * the child serves and exits. A stale mountpoint (daemon killed) is
 * detected and lazily unmounted first, with a message.
 */
int drfs_fs_mount(const struct drfs_mount_opts *o);
/* Unmount cleanly (waits for the daemon to finish). */
int drfs_fs_umount(const char *mountpoint);

#endif
