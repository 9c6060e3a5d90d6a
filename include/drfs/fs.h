/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE filesystem (fs layer): drfs mount / drfs umount.
 */
#ifndef DRFS_FS_H
#define DRFS_FS_H

#include "drfs/facts.h"
#include "drfs/repo.h"

/*
 * Retention through the mount (docs/retention.md, "In the mount"). The fs
 * layer never includes the ops layer (docs/architecture.md), so the caller
 * (cmd_mount) supplies retention as hooks over prune.h; the policy (the one
 * given to drfs mount, else the repository's stored one) lives in ud.
 * Every hook may be called from any thread of the daemon, one at a time.
 */
struct drfs_mount_retention {
	/* drfs_forget(): -EBUSY, nothing forgotten, if any of ids is held */
	int (*forget)(void *ud, struct drfs_repo *r, const struct drfs_id *ids,
		      size_t n);
	/*
	 * Apply the policy and forget the snapshots it drops (held ones are
	 * kept): the number forgotten; 0 also when there is no policy.
	 */
	int (*enforce)(void *ud, struct drfs_repo *r);
	/*
	 * Take an exclusive lock (-EBUSY when another process holds one that
	 * conflicts) and drfs_gc() with roots[0..n_roots) kept alive; a line
	 * of text about the outcome (or the lock holder) into msg.
	 */
	int (*gc)(void *ud, struct drfs_repo *r, const struct drfs_id *roots,
		  size_t n_roots, char *msg, size_t msg_len);
	/*
	 * drfs_gc_rescue(): write the blobs reachable from roots that only
	 * doomed packs hold again (before the mount acknowledges deletion
	 * records); a line of text into msg.
	 */
	int (*rescue)(void *ud, struct drfs_repo *r,
		      const struct drfs_id *roots, size_t n_roots, char *msg,
		      size_t msg_len);
	/*
	 * `drfs prune` handed to this mount (drfs_fs_prune): args are the
	 * command's options, "name=value" one a line; drfs_prune() with
	 * roots kept alive; its output into out as lines "out:..." (for
	 * stdout) and "err:..." (for stderr). Negative errno on failure.
	 */
	int (*prune)(void *ud, struct drfs_repo *r, const char *args,
		     size_t args_len, const struct drfs_id *roots,
		     size_t n_roots, struct drfs_buf *out);
	void *ud;
};

struct drfs_mount_opts {
	struct drfs_repo_opts repo;  /* how to open the repository */
	/*
	 * The passphrase, in place of repo.password (NULL: none). The mount
	 * overwrites it with zeros in each of its processes as soon as that
	 * process no longer needs it: the daemon once its repository is
	 * open, the parent once the daemon is forked. The caller frees it.
	 */
	char *password;
	const char *mountpoint;
	bool foreground;             /* -f */
	bool debug;                  /* -d: FUSE debug output, implies -f */
	const char *fuse_opts;       /* -o a,b,c (allow_other, ...) */
	/*
	 * Mount over a directory that is not empty, hiding its entries
	 * while mounted (-o nonempty, which the cli takes out of fuse_opts:
	 * libfuse 3 has no such option); else such a mountpoint is refused.
	 */
	bool nonempty;
	uint64_t cache_size;         /* --cache-size: bytes of local cache */
	const char *log_file;        /* NULL: <cache-dir>/mount.log once detached */
	int64_t snapshot_every;      /* --snapshot-every: seconds; 0 never */
	bool no_snapshot_on_unmount; /* --no-snapshot-on-unmount */
	/*
	 * The lineage (docs/hosts.md): snapshots of now/ record host and
	 * name (as their path); now/ starts from the newest snapshot of
	 * both; latest is the newest snapshot of host.
	 */
	const char *host;            /* --host; NULL: drfs_hostname() */
	const char *name;            /* --name; NULL: "now" */
	/*
	 * --from: now/ starts from this snapshot (a folder, an id, "latest"
	 * of host) or from the newest snapshot of this host's lineage with
	 * this name; NULL: its own lineage.
	 */
	const char *from;
	/* NULL: rmdir under snapshots/ is EROFS, no policy is enforced */
	const struct drfs_mount_retention *retention;
	/*
	 * Monitoring (docs/monitoring.md). stats (NULL: none) fills the
	 * have_stats figures of f (drfs_stats() of ops.h, which the fs
	 * layer does not include); the mount calls it at most every
	 * DRFS_FACTS_STATS_EVERY seconds. metrics_textfile (NULL: none):
	 * the Prometheus text written there (atomically: PATH.tmp, then
	 * renamed) every metrics_every seconds, for node_exporter's textfile
	 * collector.
	 */
	int (*stats)(struct drfs_repo *r, struct drfs_facts *f);
	const char *metrics_textfile;
	int64_t metrics_every;       /* seconds; 0: 60 */
	/*
	 * --metrics-listen: "PORT" (127.0.0.1), "ADDR:PORT" or
	 * "[ADDR6]:PORT" (numeric); NULL: none. GET /metrics answers the
	 * Prometheus text (HTTP/1.0); bound before the mount is ready.
	 */
	const char *metrics_listen;
};

/*
 * Parse a --metrics-listen value (see above) into *ret (a sockaddr_in or
 * sockaddr_in6 in storage) and *ret_len: 0, or -EINVAL.
 */
struct sockaddr_storage;
int drfs_fs_listen_addr(const char *s, struct sockaddr_storage *ret,
			unsigned *ret_len);

#define DRFS_FACTS_STATS_EVERY 300

/*
 * Client: the facts of the repository the mount at mountpoint serves
 * (user.drfs.facts): -ENOTCONN not a drfs mount, -EBADMSG an answer that
 * does not decode.
 */
int drfs_fs_facts(const char *mountpoint, struct drfs_facts *ret);

/*
 * Several repositories in one mount (docs/mount.md): one daemon, the
 * repository repos[i] at MOUNTPOINT/names[i] (each repos[i].mountpoint is
 * ignored; their foreground, debug, fuse_opts, nonempty and log_file are
 * the ones here). A repository that cannot be opened shows as an empty
 * folder and is tried again every retry seconds; it never fails the
 * mount. Each repos[i].password is wiped once that repository is open.
 */
struct drfs_mount_multi {
	const char *mountpoint;
	struct drfs_mount_opts *repos;
	const char *const *names; /* safe single path components, unique */
	size_t n;
	bool foreground, debug, nonempty;
	const char *fuse_opts;
	const char *log_file;     /* NULL: <the first cache dir>/mount.log */
	double retry;             /* seconds; 0: 60 */
};
int drfs_fs_mount_multi(const struct drfs_mount_multi *m);
/*
 * Whether name is a valid folder name of a several-repository mount:
 * 1..64 bytes of [A-Za-z0-9._-], not starting with '.'.
 */
bool drfs_fs_multi_name_ok(const char *name);
/*
 * The folders of the several-repository mount at mountpoint: lines
 * "NAME\tSTATE\tMESSAGE\n" (STATE: serving, starting, unavailable, ended)
 * into out; -ENOTCONN if mountpoint is no such mount.
 */
int drfs_fs_multi_list(const char *mountpoint, char *out, size_t len);

/*
 * Mount and serve until unmounted. The serving process is not dumpable
 * (prctl PR_SET_DUMPABLE 0): no core dump of it holds the keys, and other
 * processes of the user cannot ptrace it. Without foreground, returns in the
 * parent (0) once the mount is ready, or a negative errno after printing
 * a clear message when the repository, passphrase or mountpoint is wrong;
 * the child serves and exits. A stale mountpoint (daemon killed) is
 * detected and lazily unmounted first, with a message.
 */
int drfs_fs_mount(const struct drfs_mount_opts *o);
/* Unmount cleanly (waits for the daemon to finish). */
int drfs_fs_umount(const char *mountpoint);

/*
 * Ask the daemon mounted at mountpoint to snapshot now/ (time: ISO 8601 or
 * NULL for now) and wait until the snapshot is durable; its folder path
 * (MOUNTPOINT/snapshots/DAY/TIME) goes to ret_folder. With if_changed,
 * no snapshot when now/ has not changed since the last one: 1, and
 * ret_folder the last snapshot's (empty: none yet). -ENOTCONN: not a
 * drfs mount with a writable now/. (src/fs/ctl.c)
 */
#define DRFS_FS_CTL_DECLARED 1
int drfs_fs_snapshot(const char *mountpoint, const char *time,
		     bool if_changed, const char *const *tags, size_t n_tags,
		     char *ret_folder, size_t len);
/* A few lines of text: changes, pending uploads, last snapshot and age. */
int drfs_fs_status(const char *mountpoint, char *out, size_t len);
/*
 * The mount point of the drfs mount of this machine that serves the
 * repository repo_id_hex with cache directory cache_dir (the daemon keeps
 * <cache_dir>/mount, its mount point, under a flock): 0 and the path in
 * ret, -ENOENT if there is none. Touches no other mount.
 */
int drfs_fs_find_mount(const char *repo_id_hex, const char *cache_dir,
		       char *ret, size_t len);
/*
 * Hand a prune to the mount (its gc thread runs it with now/ kept alive)
 * and wait for it. *ret_text (malloc'd, may be NULL): the output lines
 * ("out:" / "err:" prefixed). The prune's negative errno, or -ENOTCONN.
 */
int drfs_fs_prune(const char *mountpoint, const char *args, size_t args_len,
		  char **ret_text);
/*
 * Whether path is the root of a drfs mount (it answers the mount's control
 * attributes; an ordinary directory never does), for the commands that
 * take REPO|MOUNTPOINT.
 */
bool drfs_fs_is_mount(const char *path);

/*
 * What a path inside a snapshot of a drfs mount names, for restoring it
 * straight from the repository (`drfs restore MNT/latest/home/alice DIR`):
 * the mount serving it (found from the path upwards, symlinks such as
 * latest resolved first), how that mount opened its repository (no
 * secret: URL, id, cache directory, the S3 endpoint, region, profile and
 * addressing it was given), the snapshot's folder and the path inside it.
 * Strings point into the struct. -ENOTCONN: not in a drfs mount; -EINVAL:
 * in one but not inside a snapshot (now/, or the snapshots/ folders
 * above them; *ret->why says which).
 */
struct drfs_fs_source {
	char url[4096];
	char id_hex[64];
	char cache_dir[4096];
	char endpoint[1024], region[128], profile[256];
	int path_style;       /* -1 auto, 0, 1 */
	bool no_encryption;
	char mountpoint[4096];
	char folder[64];      /* "DAY/TIME" */
	char subpath[4096];   /* "" or "home/alice" */
	char why[512];
};
int drfs_fs_source(const char *path, struct drfs_fs_source *ret);

#endif
