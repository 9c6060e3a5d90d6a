/* SPDX-License-Identifier: MIT */
/*
 * backupint.h - private to backup (src/ops/backup.c the walk and the
 * snapshot, backupfile.c what is read of one entry): what they share,
 * named bk_*. ops.h is the API; backup.c says how a backup runs.
 */
#ifndef DRFS_BACKUPINT_H
#define DRFS_BACKUPINT_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/lock.h"
#include "drfs/log.h"
#include "drfs/ops.h"
#include "drfs/stack.h"

struct bk {
	struct drfs_repo *r;
	struct drfs_writer *w;           /* NULL in a dry run */
	struct drfs_idset dry;           /* a dry run: the new blobs seen */
	uint64_t dry_bytes;              /* ... and their raw bytes */
	const struct drfs_backup_opts *o;
	uint8_t *win;
	size_t win_cap;
	struct drfs_snapshot *snap;
	uint64_t errors;
	dev_t root_dev; /* --one-file-system: the file system not left */
	/* the directory being read, from the root ("/a/b"; "" at the root):
	 * for messages and anchored exclude patterns */
	char path[PATH_MAX * 2];
};

struct xattr_vec {
	struct drfs_xattr *v;
	size_t n;
	char *names;
	uint8_t *values;
};

/*
 * Read-ahead across files. Reading a directory of small files one after
 * another waits for the disk once per file while the compression workers
 * idle; an initial backup ran 12.4 s with a cold page cache against 8 s
 * with a warm one. So ahead of the file being read, the next regular files
 * of the directory get POSIX_FADV_WILLNEED (their first PREFETCH_FILE_MAX
 * bytes; the kernel's sequential read-ahead does the rest), up to
 * PREFETCH_BYTES and PREFETCH_FILES in flight. Only in directories the
 * parent snapshot lacks: there every file is read; in the others most
 * files are unchanged and reading them ahead would be waste.
 */
#define PREFETCH_BYTES (32u << 20)
#define PREFETCH_FILES 64
#define PREFETCH_FILE_MAX (8u << 20)

struct prefetch {
	bool on;
	size_t next;           /* first entry not looked at yet */
	uint64_t bytes;        /* advised ahead of the reader */
	uint64_t len[PREFETCH_FILES]; /* ring: bytes advised per file */
	size_t idx[PREFETCH_FILES];   /* ring: which entry */
	size_t head, n;
};

/*
 * The walk: the directories from the root to the one being read are frames
 * on the heap (stack.h), not on the C stack, so any depth is walked. Only
 * the root and the deepest DIR_FDS of them hold a descriptor, so the walk
 * needs fewer than 40 whatever the depth (systemd's default limit is 1024).
 * A directory above those is closed, and reopened on the way back up
 * through ".." of the directory below, which must lead to the same
 * directory (device and inode): a directory moved elsewhere meanwhile is
 * still read whole. If ".." leads elsewhere (the one below was moved out),
 * the directory is looked up again by name from the nearest one still
 * open; if it is not found that way either, that is reported, and its
 * entries not read yet are left out of the snapshot.
 */
#define DIR_FDS 32

struct bk_dir {
	int fd;        /* -1: closed (neither the root nor a deepest one) */
	dev_t dev;     /* what fd must be, checked when it is reopened */
	ino_t ino;
	size_t plen;   /* b->path's length here */
	struct drfs_buf ptree; /* its tree in the parent snapshot, or empty */
	/*
	 * A cursor over ptree: the entries come in increasing name order, as
	 * names[] does, so one forward scan finds them all (bk_parent_entry).
	 * pstate: 0 pnode to be read, 1 pnode read and not yet passed, -1 the
	 * end of ptree (or a damaged entry: what follows is read whole).
	 */
	struct drfs_tree_iter pit;
	struct drfs_node pnode;
	int pstate;
	struct drfs_buf tree;  /* its tree, being encoded */
	struct drfs_tree_enc enc;
	char **names;  /* its entries, sorted; the d_type rides in front */
	size_t n_names, cap_names;
	size_t next;   /* the entry to read next */
	struct prefetch pf;
	/* its entry in the directory above, added once its tree is stored */
	struct drfs_node node;
	struct xattr_vec xv;
};

/* ---- backup.c ------------------------------------------------------------ */
int bk_excluded(struct bk *b, struct bk_dir *d, const char *name,
		const struct stat *st);
/* ---- backupfile.c -------------------------------------------------------- */
int bk_read_file(struct bk *b, int dirfd, const char *name,
		 const struct stat *st, struct drfs_extent_vec *x,
		 uint64_t *size, bool *fatal);
int bk_cmp_str(const void *a, const void *b);
/* A blob into the writer, or (dry run) looked up: 1 new, 0 known, < 0. */
int bk_put(struct bk *b, enum drfs_blob_type type, const void *p, size_t len,
	   struct drfs_id *ret);
void bk_xattr_vec_free(struct xattr_vec *xv);
int bk_read_xattrs(int dirfd, const char *name, struct xattr_vec *xv);
bool bk_parent_extents_ok(struct bk *b, struct drfs_node *pn,
			  struct drfs_extent_vec *x);
void bk_prefetch_ahead(struct bk *b, struct bk_dir *d,
		       struct prefetch *pf, int dirfd, char **names,
		       size_t n_names, size_t cur);
void bk_node_from_stat(struct drfs_node *n, const struct stat *st);

#endif
