/* SPDX-License-Identifier: MIT */
/*
 * mountpoint.c - the mountpoint: checks before mounting, a stale mount of a
 * killed daemon, drfs umount, its read-ahead and its log file's name.
 * mountint.h has what the rooms of the mount share.
 */
#include "mountint.h"

#include <ctype.h>

/* ---- mountpoint checks --------------------------------------------------- */

/*
 * What a request to a FUSE mount whose daemon is gone fails with: ENOTCONN,
 * or ECONNABORTED for one that was under way when the connection ended.
 */
static bool daemon_gone(int e)
{
	return e == ENOTCONN || e == ECONNABORTED;
}

/* Is path (canonical) a mount point in /proc/self/mountinfo? */
static bool is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		fs_mountinfo_unescape(mp);
		found = strcmp(mp, path) == 0;
	}
	fclose(f);
	return found;
}

/*
 * The kernel caps a FUSE mount's read-ahead at the smaller of the INIT
 * reply's max_readahead and its backing device's read_ahead_kb, which
 * starts at 128 KiB: a big file is read in requests of 128 KiB, or of the
 * reader's size (256 KiB for cp), however large max_pages is. Raise
 * read_ahead_kb of the new mount's device (/sys/class/bdi/MAJ:MIN) to kb,
 * before the INIT reply (the loop is not running: nothing here may touch
 * the mount). canon is the canonical mount point; the newest mount on it
 * is ours. Best effort: without root the file is not writable, and reads
 * stay as they were. Returns 0 or a negative errno.
 */
int mnt_raise_readahead(const char *canon, unsigned kb)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], dev[32] = "", path[96];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char mp[4096], d[32];
		if (sscanf(line, "%*s %*s %31s %*s %4095s", d, mp) != 2)
			continue;
		fs_mountinfo_unescape(mp);
		/* only a FUSE mount's own device (0:N): never a disk's */
		const char *sep = strstr(line, " - ");
		if (strcmp(mp, canon) == 0)
			snprintf(dev, sizeof(dev), "%s",
				 sep && strncmp(sep + 3, "fuse", 4) == 0 &&
				 strncmp(d, "0:", 2) == 0 ? d : "");
	}
	fclose(f);
	if (!dev[0] || strchr(dev, '/'))
		return r;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = dprintf(fd, "%u", kb) < 0 ? -EIO : 0;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int mnt_detach(const char *mp)
{
	if (umount2(mp, MNT_DETACH) == 0)
		return 0;
	int e = errno;
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("fusermount3", "fusermount3", "-u", "-z", mp,
		       (char *)NULL);
		_exit(127);
	}
	int st;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0)
		return 0;
	return -e;
}

/* 1 if directory mp has an entry, 0 if not; -errno. */
static int dir_has_entries(const char *mp)
{
	DIR *d = opendir(mp);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -errno;
	while (n == 0 && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n = 1;
	closedir(d);
	return n;
}

/*
 * A usable directory nothing is mounted on (stale FUSE mounts are
 * detached), empty unless nonempty.
 */
int mnt_check_mountpoint(const char *mp, bool nonempty)
{
	struct stat st;
	char real[4096];

	if (stat(mp, &st) < 0) {
		int e = errno;
		if (daemon_gone(e)) {
			log_warn("mountpoint \"%s\" was left by a drfs daemon "
				 "that is gone (transport endpoint is not "
				 "connected): unmounting it",
				 mp);
			int r = mnt_detach(mp);
			if (r < 0) {
				log_err("unmounting stale \"%s\": %s", mp,
					drfs_strerror(r));
				return r;
			}
			if (stat(mp, &st) < 0) {
				e = errno;
				log_err("mountpoint \"%s\": %s", mp,
					strerror(e));
				return -e;
			}
		} else {
			log_err("mountpoint \"%s\": %s", mp, strerror(e));
			return -e;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("mountpoint \"%s\": not a directory", mp);
		return -ENOTDIR;
	}
	if (access(mp, R_OK | W_OK | X_OK) < 0 && geteuid() != 0) {
		int e = errno;
		log_err("mountpoint \"%s\": %s", mp, strerror(e));
		return -e;
	}
	char pb[24];
	if (realpath(mp, real) && is_mounted(real) &&
	    getxattr(mp, PID_XATTR, pb, sizeof(pb)) < 0 &&
	    daemon_gone(errno)) {
		/* attributes still cached, but the daemon is gone */
		log_warn("mountpoint \"%s\" was left by a drfs daemon that is "
			 "gone (transport endpoint is not connected): "
			 "unmounting it", mp);
		int r = mnt_detach(mp);
		if (r < 0) {
			log_err("unmounting stale \"%s\": %s", mp,
				drfs_strerror(r));
			return r;
		}
	}
	if (realpath(mp, real) && is_mounted(real)) {
		log_err("mountpoint \"%s\": something is already mounted "
			"there",
			mp);
		return -EBUSY;
	}
	int full = nonempty ? 0 : dir_has_entries(mp);
	if (full < 0) {
		log_err("mountpoint \"%s\": %s", mp, strerror(-full));
		return full;
	}
	if (full) {
		log_err("mountpoint \"%s\" is not empty: the mount would hide "
			"what is in it (-o nonempty mounts over it anyway)",
			mp);
		return -ENOTEMPTY;
	}
	return 0;
}

/* ---- umount -------------------------------------------------------------- */

/* drfs umount's wait for the daemon, in 10 ms steps (the systemd unit
 * gives its stop 30 minutes too) */
#define UMOUNT_NOTE_AFTER 1000
#define UMOUNT_WAIT_MAX (30 * 6000)

static bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	if (kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

int mnt_unmount(const char *mountpoint)
{
	if (umount2(mountpoint, 0) == 0)
		return 0;
	int e = errno;
	if (e == EPERM || e == EACCES) {
		pid_t c = fork();
		if (c == 0) {
			execlp("fusermount3", "fusermount3", "-u", mountpoint,
			       (char *)NULL);
			_exit(127);
		}
		int ws;
		if (c < 0 || waitpid(c, &ws, 0) != c || !WIFEXITED(ws) ||
		    WEXITSTATUS(ws) != 0) {
			log_err("unmounting \"%s\" failed", mountpoint);
			return -e;
		}
		return 0;
	}
	if (e == EINVAL)
		log_err("\"%s\" is not mounted", mountpoint);
	else if (e == EBUSY)
		log_err("unmounting \"%s\": it is busy (a process uses it)",
			mountpoint);
	else
		log_err("unmounting \"%s\": %s", mountpoint, strerror(e));
	return -e;
}

pid_t mnt_daemon_pid(const char *mountpoint)
{
	char pidbuf[24];
	ssize_t n = getxattr(mountpoint, PID_XATTR, pidbuf,
			     sizeof(pidbuf) - 1);
	if (n <= 0)
		return 0;
	pidbuf[n] = 0;
	return (pid_t)atol(pidbuf);
}

int mnt_wait_daemon(pid_t pid, const char *folder)
{
	/*
	 * Wait for the daemon to finish: the final snapshot and the uploads
	 * may take a while (and retries, when the repository is unreachable).
	 * A folder of a several-repository mount: until the daemon says that
	 * repository's session ended (the daemon serves the others on).
	 */
	for (int i = 0; pid > 0 && pid_alive(pid) &&
			(!folder || mnt_multi_serving(folder));
	     i++) {
		if (i == UMOUNT_NOTE_AFTER)
			log_info("waiting for the drfs daemon (pid %ld) to "
				 "finish uploading and snapshotting now/",
				 (long)pid);
		if (i == UMOUNT_WAIT_MAX) {
			log_err("the drfs daemon (pid %ld) is still running "
				"after %d minutes: whether its final snapshot "
				"succeeds will be in its log",
				(long)pid, UMOUNT_WAIT_MAX / 6000);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	return 0;
}

int drfs_fs_umount(const char *mountpoint)
{
	struct stat st;
	pid_t pid = 0;

	char pb[24];
	if ((stat(mountpoint, &st) < 0 && daemon_gone(errno)) ||
	    (getxattr(mountpoint, PID_XATTR, pb, sizeof(pb)) < 0 &&
	     daemon_gone(errno))) {
		log_warn("\"%s\": the drfs daemon is gone (transport endpoint "
			 "is not connected): detaching the stale mount",
			 mountpoint);
		int r = mnt_detach(mountpoint);
		if (r < 0)
			log_err("unmounting \"%s\": %s", mountpoint,
				drfs_strerror(r));
		return r;
	}
	int r = mnt_multi_umount(mountpoint);
	if (r != -ENOTCONN)
		return r;
	pid = mnt_daemon_pid(mountpoint);
	/* a daemon with now/ reports how its final snapshot went */
	char mnt_report[4096];
	bool reports = pid > 0 && fs_ctl_report_path(mountpoint, mnt_report,
						     sizeof(mnt_report)) == 0;
	if (reports)
		unlink(mnt_report); /* an older one */
	bool folder = mnt_multi_serving(mountpoint);
	r = mnt_unmount(mountpoint);
	if (r < 0)
		return r;
	r = mnt_wait_daemon(pid, folder ? mountpoint : NULL);
	if (r < 0)
		return r;
	return reports ? fs_ctl_report_read(mnt_report) : 0;
}

/* Room for an escaped mountpoint in a file name (NAME_MAX 255). */
#define LOG_NAME_MAX 200

char *mnt_log_path(const char *dir, const char *mountpoint)
{
	char name[LOG_NAME_MAX + 32];
	size_t n = 0;
	uint64_t h = 14695981039346656037ull; /* FNV-1a of the whole */
	const char *p = mountpoint;
	char *ret = NULL;

	while (*p == '/')
		p++;
	if (!*p)
		name[n++] = '-';
	for (; *p && n < LOG_NAME_MAX; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '/') {
			while (p[1] == '/')
				p++;
			if (p[1])
				name[n++] = '-';
		} else if (isalnum(ch) || ch == ':' || ch == '_' ||
			   (ch == '.' && n > 0)) {
			name[n++] = (char)ch;
		} else {
			n += (size_t)snprintf(name + n, 5, "\\x%02x", ch);
		}
	}
	for (const char *q = mountpoint; *q; q++)
		h = (h ^ (unsigned char)*q) * 1099511628211ull;
	if (*p)
		n += (size_t)snprintf(name + n, 18, "-%016llx",
				      (unsigned long long)h);
	name[n] = 0;
	if (asprintf(&ret, "%s/mount-%s.log", dir, name) < 0)
		return NULL;
	return ret;
}
