/* SPDX-License-Identifier: MIT */
/*
 * sdnotify.c - systemd's readiness protocol without libsystemd: one
 * datagram of "KEY=VALUE" lines to the AF_UNIX socket $NOTIFY_SOCKET names
 * (a path, or "@name" in the abstract namespace). See sd_notify(3).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "drfs/base.h"

int drfs_sd_notify(const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0; /* not run by systemd (or not Type=notify) */
	size_t len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
			   (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				       len));
	int e = n < 0 ? -errno : 0;
	close(fd);
	return e;
}
