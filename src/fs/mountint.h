/* SPDX-License-Identifier: MIT */
/*
 * mountint.h - private to the rooms of drfs mount (src/fs/mount.c and
 * the files beside it): the timeouts, the reply helpers and the functions
 * they share, all named mnt_*. fsint.h has struct fs.
 *
 * Start-up order (STYLE.md): the parent checks the mountpoint and opens the
 * repository once to report errors on the terminal, frees it, forks; the
 * child (setsid, chdir /) reopens the repository, mounts, and tells the
 * parent through a pipe that the mount is ready or why it failed. No
 * thread, LMDB environment or curl state exists across the fork.
 *
 * Everything below snapshots/ is read-only (EROFS). now/ is the writable
 * tree of src/fs/now/: its inodes are FS_NOW_INO(number) and every
 * operation on one goes to the drfs_now_* call of the same name
 * (docs/now.md).
 */
#ifndef DRFS_MOUNTINT_H
#define DRFS_MOUNTINT_H

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "drfs/lock.h"
#include "drfs/fs.h"
#include "fsint.h"
#include "drfs/log.h"
#include "drfs/replica.h"

#define VIEW_TIMEOUT 86400.0 /* snapshots are immutable */
#define VIRT_TIMEOUT 1.0     /* the dated folders change with backups */
#define SNAPS_REFRESH 1.0    /* seconds between catalogue reloads */
#define READ_MAX (1u << 20)
#define PREFETCH_AHEAD 3
#define SEQ_WINDOW (8u << 20)
#define BLKSIZE (1u << 20)
#define PID_XATTR "user.drfs.pid"
/* seconds between two looks for new deletion records (docs/retention.md) */
#define DELETIONS_CHECK 60.0
/*
 * now/ changes only through this mount (one writer, and the daemon itself
 * never changes what a lookup or getattr shows behind the kernel's back),
 * so the kernel may keep its entries and attributes as long as snapshots'.
 * A shorter timeout made a no-change rsync over 100 000 files a FUSE round
 * trip per file once the first rsync had taken longer than the timeout.
 */
#define NOW_TIMEOUT 86400.0

/* Every request handler's struct fs; its log lines carry the session's
 * prefix (libfuse's loop threads serve one session each). */
static inline struct fs *req_fs(fuse_req_t req)
{
	struct fs *fs = fuse_req_userdata(req);
	drfs_log_set_thread_prefix(fs->log_prefix);
	return fs;
}

/* The one place a negative errno (or 0: success) becomes a FUSE reply. */
static inline void reply_err(fuse_req_t req, int negerr)
{
	int e = negerr < 0 ? -negerr : negerr;
	if (e == EBADMSG || e == E2BIG)
		e = EIO;
	fuse_reply_err(req, e);
}

/* ---- catalogue.c --------------------------------------------------------- */
int mnt_snaps_refresh(struct fs *fs);
int mnt_snaps_refresh_readlink(struct fs *fs); /* in READLINK of latest */
int64_t mnt_folder_day(const char *f);
int mnt_snap_get(struct fs *fs, size_t i, struct fs_snap *ret);
int mnt_snap_by_folder(struct fs *fs, const char *folder, struct fs_snap *ret);
bool mnt_day_exists(struct fs *fs, int64_t day, char *ret_name);
bool mnt_is_day_ino(uint64_t ino);
/* ---- view.c -------------------------------------------------------------- */
int mnt_virt_stat(struct fs *fs, uint64_t ino, struct stat *st);
int mnt_ino_stat(struct fs *fs, uint64_t ino, struct stat *st,
		 double *ret_timeout);
void mnt_reply_entry(fuse_req_t req, uint64_t ino, double entry_timeout);
int mnt_folder_root(struct fs *fs, uint64_t day_ino, const char *name,
		    uint64_t *ret);
int mnt_now_root(struct fs *fs, uint64_t *ret);
void mnt_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void mnt_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);
void mnt_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* ---- nowops.c ------------------------------------------------------------ */
bool mnt_is_now(struct fs *fs, uint64_t ino);
void mnt_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void mnt_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void mnt_op_forget_multi(fuse_req_t req, size_t count,
			 struct fuse_forget_data *forgets);
void mnt_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mnt_op_readlink(fuse_req_t req, fuse_ino_t ino);
void mnt_now_snapshot_taken(struct fs *fs);
void mnt_ctl_run(fuse_req_t req, struct fs *fs, size_t size);
void mnt_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		    int to_set, struct fuse_file_info *fi);
void mnt_op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
		  dev_t d);
void mnt_op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m);
void mnt_op_unlink(fuse_req_t req, fuse_ino_t p, const char *n);
void mnt_op_rmdir(fuse_req_t req, fuse_ino_t p, const char *n);
void mnt_op_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n);
void mnt_op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np,
		   const char *nn, unsigned int f);
void mnt_op_link(fuse_req_t req, fuse_ino_t i, fuse_ino_t np, const char *nn);
void mnt_op_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
		   struct fuse_file_info *fi);
void mnt_op_write(fuse_req_t req, fuse_ino_t i, const char *b, size_t s,
		  off_t o, struct fuse_file_info *fi);
void mnt_op_fsync(fuse_req_t req, fuse_ino_t i, int datasync,
		  struct fuse_file_info *fi);
void mnt_op_fsyncdir(fuse_req_t req, fuse_ino_t i, int datasync,
		     struct fuse_file_info *fi);
void mnt_op_setxattr(fuse_req_t req, fuse_ino_t i, const char *n, const char *v,
		     size_t s, int f);
void mnt_op_removexattr(fuse_req_t req, fuse_ino_t i, const char *n);
void mnt_op_fallocate(fuse_req_t req, fuse_ino_t i, int m, off_t o, off_t l,
		      struct fuse_file_info *fi);
/* ---- viewfile.c ---------------------------------------------------------- */
void mnt_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mnt_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mnt_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void mnt_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		  struct fuse_file_info *fi);
void mnt_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		     size_t size);
void mnt_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void mnt_op_statfs(fuse_req_t req, fuse_ino_t ino);
/* ---- gc.c ---------------------------------------------------------------- */
int mnt_folders_copy(struct fs *fs, char (**ret)[DRFS_FOLDER_BUF],
		     size_t *ret_n);
void mnt_snaps_reload(struct fs *fs);
void mnt_inval_gone(struct fs *fs, char (*old)[DRFS_FOLDER_BUF], size_t n_old);
void mnt_gc_request(struct fs *fs);
void mnt_watermark_update(struct fs *fs);
int mnt_prune_request(struct fs *fs, pid_t pid, const char *args, size_t len);
void mnt_prune_result(fuse_req_t req, struct fs *fs, size_t size);
bool mnt_acked(const struct fs *fs, const struct drfs_id *id);
void *mnt_gc_main(void *arg);
void mnt_gc_status(struct fs *fs, char *out, size_t len);

/* ---- facts.c: monitoring ---------------------------------------------- */

#define FS_CTL_FACTS "user.drfs.facts"
/* Start (at mount) and stop (at unmount) the sampling/textfile thread. */
void mnt_facts_start(struct fs *fs, const struct drfs_mount_opts *o);
void mnt_facts_stop(struct fs *fs);
/* --snapshot-every looked and found nothing to snapshot. */
void mnt_facts_checked(struct fs *fs);
/* The facts of the mount's repository into f. */
int mnt_facts_get(struct fs *fs, struct drfs_facts *f);
/* --metrics-listen: bind (before the mount is ready; -errno after a
 * message), then serve from a thread started by mnt_facts_start. */
int mnt_http_bind(struct fs *fs, const char *listen);
/* getxattr user.drfs.facts of the mount root. */
void mnt_facts_reply(fuse_req_t req, struct fs *fs, size_t size);
int mnt_snap_rmdir(struct fs *fs, uint64_t parent, const char *name,
		   char (**ret_old)[DRFS_FOLDER_BUF], size_t *ret_n_old);
/* ---- info.c: MOUNTPOINT/info/DAY/TIME.json ------------------------------ */
bool mnt_is_info_day_ino(uint64_t ino);
bool mnt_is_info_file_ino(uint64_t ino);
uint64_t mnt_info_file_ino(const struct drfs_id *snapshot);
/* Attributes of an info file (its size: the text as it is now); -ENOENT. */
int mnt_info_stat(struct fs *fs, uint64_t ino, struct stat *st);
/* info/DAY/name: the info file's inode; -ENOENT. */
int mnt_info_lookup(struct fs *fs, uint64_t day_ino, const char *name,
		    uint64_t *ret);
/* open renders the text once; reads serve it (direct_io). */
void mnt_info_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mnt_info_read(fuse_req_t req, size_t size, off_t off,
		   struct fuse_file_info *fi);
void mnt_info_lseek(fuse_req_t req, off_t off, int whence,
		    struct fuse_file_info *fi);
/* Drop the info entries of the folders of old[] that are gone. */
void mnt_info_inval_gone(struct fs *fs, char (*old)[DRFS_FOLDER_BUF],
			 size_t n_old);
void mnt_info_free(struct fs *fs);
/* ---- mount.c ------------------------------------------------------------- */
void mnt_report(int fd, int status);
/* Detached: stdin, stdout to /dev/null, stderr and the log to file. */
void mnt_log_to_file(const char *file, const char *stamp);
/* SIGPIPE ignored, few malloc arenas and a fixed mmap threshold, not
 * dumpable: the process of a mount daemon (mnt_serve, multi.c). */
void mnt_tune_process(void);
/*
 * The log file of the mount at mountpoint (absolute) in directory dir:
 * "dir/mount-NAME.log", NAME the mountpoint escaped as systemd-escape
 * --path does ("/srv/backup" -> "srv-backup", "/" -> "-"; bytes other
 * than [A-Za-z0-9:_.] and a leading '.' as \xNN), a long one cut and
 * followed by a hash of the whole. malloc'd; NULL without memory.
 */
char *mnt_log_path(const char *dir, const char *mountpoint);
/* A repository of a several-repository mount, served by mnt_serve. */
struct mnt_served {
	/* the session is mounted (se: its struct fuse_session) */
	void (*mounted)(void *ud, struct fuse_session *se);
	void *ud;
};
int mnt_serve(const struct drfs_mount_opts *o, bool sync, int ready_fd,
	      const struct mnt_served *h);
/* Open o's repository; what failed is logged. */
int mnt_open_repo(const struct drfs_mount_opts *o, bool sync,
		  struct drfs_repo **ret);
/*
 * Fork the daemon: the child (setsid, chdir /) runs child(arg, fd), which
 * writes its status to fd once mounted (mnt_report), and exits; the parent
 * calls forked(arg) and returns the status the daemon reported (-EIO if it
 * exited before saying).
 */
int mnt_daemonize(const char *mountpoint, int (*child)(void *arg, int fd),
		  void (*forked)(void *arg), void *arg);
/* libfuse's arguments: default_permissions, fsname, o->fuse_opts, -d */
int mnt_build_args(const struct drfs_mount_opts *o, struct fuse_args *a);
/* An absolute form of a relative local path or URL (malloc'd; NULL). */
char *mnt_absolute(const char *p);
/* ---- loop.c -------------------------------------------------------------- */
/*
 * Serve se until it ends (unmounted, or exited by a signal): at most max
 * worker threads, at most pollers_max of them waiting for a request, in
 * poll(2) (loop.c says why). 0, or the error that ended it.
 */
int mnt_loop(struct fuse_session *se, int max, int pollers_max);
/* ---- multi.c ------------------------------------------------------------- */
/* the root of a several-repository mount: its folders and their states */
#define MULTI_XATTR "user.drfs.repositories"
/* FUSE threads of each repository's session (a single mount has 16) */
#define MULTI_MAX_THREADS 8
/*
 * drfs umount of a several-repository mount: each repository's folder
 * (its final snapshot reported per repository), then the root; -ENOTCONN
 * when mountpoint is not one.
 */
int mnt_multi_umount(const char *mountpoint);
/* Whether path is the folder of a repository a several-repository mount
 * serves (its parent's MULTI_XATTR says "serving"). */
bool mnt_multi_serving(const char *path);
/* ---- mountpoint.c -------------------------------------------------------- */
/* A usable, mount-free directory, empty unless nonempty (-o nonempty). */
int mnt_check_mountpoint(const char *mp, bool nonempty);
/* umount2, or fusermount3 -u when not allowed; logs what failed */
int mnt_unmount(const char *mp);
/* lazily: umount2(MNT_DETACH), or fusermount3 -u -z */
int mnt_detach(const char *mp);
/* read_ahead_kb of the mount on canon (best effort; mountpoint.c) */
int mnt_raise_readahead(const char *canon, unsigned kb);
/* The pid the daemon serving mountpoint gives (user.drfs.pid), or 0. */
pid_t mnt_daemon_pid(const char *mountpoint);
/*
 * Wait for the daemon pid to exit, or with folder (a repository's folder
 * of a several-repository mount) until that repository's session ended;
 * a note after 10 s, -ETIMEDOUT after 30 minutes.
 */
int mnt_wait_daemon(pid_t pid, const char *folder);

#endif
