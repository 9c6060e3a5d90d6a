/* SPDX-License-Identifier: MIT */
/*
 * restoreint.h - private to restore (src/ops/restore.c the walk,
 * restorefile.c the workers writing files, restoremeta.c metadata, hard
 * links and what follows the workers): what they share, named rst_*.
 * ops.h is the API; restore.c says how a restore runs.
 */
#ifndef DRFS_RESTOREINT_H
#define DRFS_RESTOREINT_H

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/limits.h"
#include "drfs/log.h"
#include "drfs/ondisk.h"
#include "drfs/ops.h"

struct meta {
	uint32_t mode, uid, gid;
	struct timespec atime, mtime;
	size_t n_xattrs;
	/* xattrs copied: name\0 then le32 value length, value */
	uint8_t *xattrs;
	size_t xattrs_len;
};

enum how {
	H_NEW,        /* create it (O_EXCL) */
	H_REWRITE,    /* the existing file (dev, ino) is rewritten */
	H_IF_CHANGED, /* ... unless its content matches */
};

struct file_job {
	struct file_job *next;
	char *path; /* relative to the target */
	uint64_t size;
	struct meta m;
	enum how how;
	bool first;     /* first name of hard-link group `group` */
	uint64_t group;
	dev_t dev;      /* the existing file (H_REWRITE, H_IF_CHANGED) */
	ino_t ino;
	size_t n_ext;
	struct drfs_extent ext[];
};

struct dir_meta {
	char *path;
	struct meta m;
	dev_t dev;
	ino_t ino;
	bool on_way;    /* made only on the way to --include matches */
};

/* What restore_entry does with an entry already in the target. */
enum act {
	A_CREATE,    /* nothing there (any more) */
	A_ENTER,     /* an existing directory: restore into it */
	A_ENTER_KEEP, /* ... and leave its own metadata */
	A_REWRITE,   /* an existing file: rewrite it */
	A_IF_CHANGED, /* ... unless its content matches */
	A_META,      /* an equal symlink/special: set metadata only */
	A_REPLACE,   /* an existing symlink/special: remove, create */
	A_SKIP,      /* leave it (counted as kept) */
	A_CONFLICT,  /* of another kind, left (reported) */
};


struct link_job {
	char *path;     /* to create */
	uint64_t group; /* snapshot inode number */
	bool replace;   /* an entry of the same kind is there: remove it */
};

/* The first name made of each hard-link group. */
struct ino_map {
	uint64_t group;
	char *path;     /* NULL: empty slot */
	bool made;      /* this restore made it: dev, ino */
	dev_t dev;
	ino_t ino;
};

struct rs {
	struct drfs_repo *r;
	const struct drfs_restore_opts *o;
	int root;                     /* the target */
	struct drfs_treewalk w;       /* the walk's */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct file_job *head, *tail; /* (lock) */
	size_t queued;                /* (lock) */
	bool done;                    /* (lock) */
	int errors;                   /* (lock) */
	int fatal;                    /* (lock) */

	struct dir_meta *dirs;        /* the walk's, then after the workers */
	size_t n_dirs, cap_dirs;
	struct link_job *links;
	size_t n_links, cap_links;
	struct ino_map *inos;         /* inserted by the walk (lock); made,
					 dev, ino set by workers (lock) */
	size_t n_inos, cap_inos;
	/* a non-directory subpath: the one name restored from its parent */
	const uint8_t *only;
	size_t only_len;
};

/* ---- restore.c ----------------------------------------------------------- */
void rst_kept(struct rs *s);
/* What to do (A_*) with the existing entry st at name in dir, for n. */
int rst_decide(struct rs *s, int dir, const char *name, struct drfs_node *n,
	       const struct stat *st);
/* fresh: the target was created empty by this restore. */
int rst_walk(struct rs *s, const struct drfs_id *root, bool fresh);
/* ---- restoreplan.c: --include/--exclude, and --dry-run ------------------- */
enum { RST_SEL_NO, RST_SEL_YES, RST_SEL_WAY };
/*
 * The entry at path (last component name) against o->include and
 * o->exclude: RST_SEL_NO not restored (nor its subtree), RST_SEL_YES
 * restored, RST_SEL_WAY a directory entered only because an --include
 * match may be below it.
 */
int rst_selected(const struct drfs_restore_opts *o, const char *path,
		 const char *name, bool is_dir);
/* A dry run's restore_entry: what it would do, said through o->plan. */
int rst_plan_entry(struct rs *s, int dir, struct drfs_node *n);
/* drfs_restore of a dry run: the walk alone, on this thread. */
int rst_dry_run(struct rs *s, const struct drfs_id *root);
void rst_problem(struct rs *s, const char *path, int e, const char *what);
void rst_problem_msg(struct rs *s, const char *path, const char *what);
void rst_failed(struct rs *s, const char *path, int e, const char *what);
/* ---- restoremeta.c ------------------------------------------------------- */
void rst_refuse(struct rs *s, const char *path, const char *what,
		const uint8_t *name, size_t len, const char *kind);
int rst_meta_from(struct rs *s, const char *path, struct meta *m,
		  struct drfs_node *n);
int rst_meta_apply_fd(int fd, const struct meta *m);
int rst_meta_apply_special(int dir, const char *name, const struct meta *m);
struct ino_map *rst_ino_find(struct rs *s, uint64_t group);
int rst_ino_add(struct rs *s, uint64_t group, const char *path);
void rst_ino_made(struct rs *s, uint64_t group, const struct stat *st);
void rst_make_links(struct rs *s);
void rst_set_dirs_meta(struct rs *s);
/*
 * Give the target the metadata of entry name of tree (the snapshot's meta
 * tree and "root", or a selected directory's parent tree and its name).
 */
void rst_restore_root_meta(struct rs *s, const struct drfs_id *tree_id,
			   const uint8_t *name, size_t name_len);
/* ---- restorefile.c ------------------------------------------------------- */
int rst_open_parent(struct rs *s, char *path, const char **ret_name);
void *rst_worker_main(void *arg);
int rst_queue_file(struct rs *s, const char *path, struct drfs_node *n,
		   enum how how, const struct stat *st, bool first);

#endif
