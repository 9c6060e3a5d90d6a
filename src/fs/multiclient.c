/* SPDX-License-Identifier: MIT */
/*
 * multiclient.c - the client side of a several-repository mount: its list
 * of repositories (MULTI_XATTR of the root), whether a folder of it is a
 * serving repository, and drfs umount of the whole (the repositories one
 * by one, then the root; multi.c has why that order).
 */
#include "multiint.h"

int drfs_fs_multi_list(const char *mountpoint, char *out, size_t len)
{
	ssize_t l = getxattr(mountpoint, MULTI_XATTR, out, len - 1);
	if (l < 0)
		return errno == ENODATA || errno == ENOTSUP || errno == ENOSYS
			       ? -ENOTCONN
			       : -errno;
	out[l] = 0;
	return 0;
}

bool mnt_multi_serving(const char *path)
{
	char parent[PATH_MAX], *slash, *list, *p;
	bool found = false;

	if (!realpath(path, parent) &&
	    snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent))
		return false;
	while ((slash = strrchr(parent, '/')) && !slash[1] && slash > parent)
		*slash = 0;
	slash = strrchr(parent, '/');
	if (!slash || !drfs_fs_multi_name_ok(slash + 1))
		return false;
	*slash = 0;
	const char *name = slash + 1;
	size_t nl = strlen(name);
	list = malloc(MULTI_LIST_MAX);
	if (!list || drfs_fs_multi_list(*parent ? parent : "/", list,
					MULTI_LIST_MAX) < 0) {
		free(list);
		return false;
	}
	for (p = list; p && *p && !found; p = strchr(p, '\n'), p = p ? p + 1
								    : NULL)
		found = !strncmp(p, name, nl) && p[nl] == '\t' &&
			!strncmp(p + nl + 1, "serving\t", 8);
	free(list);
	return found;
}

int mnt_multi_umount(const char *mountpoint)
{
	char *list = malloc(MULTI_LIST_MAX);
	char (*reports)[PATH_MAX + 1] = NULL;
	char **names = NULL;
	size_t n = 0;
	pid_t pid = 0;
	int r = -ENOMEM;

	if (!list)
		return -ENOMEM;
	r = drfs_fs_multi_list(mountpoint, list, MULTI_LIST_MAX);
	if (r < 0)
		goto out;
	for (char *p = list; *p; p++)
		n += *p == '\n';
	reports = calloc(n + 1, sizeof(*reports));
	names = calloc(n + 1, sizeof(*names));
	r = -ENOMEM;
	if (!reports || !names)
		goto out;
	pid = mnt_daemon_pid(mountpoint);
	size_t i = 0;
	r = 0;
	for (char *line = list, *next; line && *line && i < n; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *st = strchr(line, '\t');
		if (!st)
			continue;
		*st++ = 0;
		if (strncmp(st, "serving\t", 8) || !drfs_fs_multi_name_ok(line))
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", mountpoint, line);
		names[i] = line;
		if (fs_ctl_report_path(path, reports[i], sizeof(reports[i])))
			reports[i][0] = 0;
		else
			unlink(reports[i]); /* an older one */
		drfs_log_set_thread_prefix(line);
		r = mnt_unmount(path);
		drfs_log_set_thread_prefix(NULL);
		i++;
		if (r < 0)
			goto out;
	}
	r = mnt_unmount(mountpoint);
	if (r < 0)
		goto out;
	r = mnt_wait_daemon(pid, NULL);
	for (size_t k = 0; r >= 0 && k < i; k++) {
		if (!reports[k][0])
			continue;
		drfs_log_set_thread_prefix(names[k]);
		if (fs_ctl_report_read(reports[k]) < 0)
			r = -EIO;
		else
			log_info("unmounted (its final snapshot and uploads "
				 "done)");
		drfs_log_set_thread_prefix(NULL);
	}
out:
	free(list);
	free(reports);
	free(names);
	return r;
}
