/* SPDX-License-Identifier: MIT */
#include "drfs/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int drfs_log_max_level = DRFS_LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *log_tag;

void drfs_log_set_tag(const char *tag)
{
	log_tag = tag;
}

void drfs_log_set_fd(int fd)
{
	log_fd = fd;
}

void drfs_log(enum drfs_log_level lvl, const char *fmt, ...)
{
	if ((int)lvl > drfs_log_max_level)
		return;
	static const char *const prefix[] = { "error: ", "warning: ", "", "" };
	char line[2048];
	int n = log_tag && lvl == DRFS_LOG_ERR
			? snprintf(line, sizeof(line), "drfs: %s: ", log_tag)
			: snprintf(line, sizeof(line), "drfs: %s", prefix[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = MIN((size_t)n + (size_t)m, sizeof(line) - 2);
	line[len++] = '\n';
	/* one write per line so concurrent threads do not interleave */
	ssize_t _unused_ w = write(log_fd, line, len);
}

const char *drfs_strerror(int negerr)
{
	switch (-negerr) {
	case EBADMSG:
		return "corrupted data";
	case EACCES:
		return "access denied";
	default:
		return strerror(-negerr);
	}
}
