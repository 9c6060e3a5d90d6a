/* SPDX-License-Identifier: MIT */
/*
 * multiint.h - private to the rooms of a several-repository mount
 * (multi.c: the daemon and each repository's thread; multiroot.c: the
 * root session; multiclient.c: drfs status and umount of the whole). See
 * multi.c for the shape and the order of shutdown.
 */
#ifndef DRFS_MULTIINT_H
#define DRFS_MULTIINT_H

#include <pthread.h>
#include <time.h>

#include "mountint.h"

/* the most bytes of MULTI_XATTR's list (a name, state, error per line) */
#define MULTI_LIST_MAX 65536

enum mr_state { MR_STARTING, MR_SERVING, MR_UNAVAILABLE, MR_ENDED };

struct multi;

struct mrepo {
	struct multi *m;
	const char *name;
	struct drfs_mount_opts o; /* o.mountpoint: MOUNTPOINT/NAME */
	char *path, *url, *cache_dir;
	char *password;           /* secret memory, until it is open */
	pthread_t thread;
	bool started;
	bool synced;              /* the parent opened it: no sync again */
	/* under m->lock */
	enum mr_state state;
	char error[512];
	double next_try;          /* drfs_now_mono() */
};

struct multi {
	pthread_mutex_t lock;     /* protects the fields marked so */
	pthread_cond_t cond;
	bool quit;                /* (lock) shutting down */
	bool root_done;           /* (lock) the root session ended */
	bool signalled;           /* (lock) the signal thread got one */
	struct mrepo *r;
	size_t n;
	const char *mountpoint;
	double retry;
	uid_t uid;
	gid_t gid;
	struct timespec start;
};

/* the read-only root session at MOUNTPOINT (multiroot.c); its userdata is
 * the struct multi */
extern const struct fuse_lowlevel_ops multi_root_ops;

#endif
