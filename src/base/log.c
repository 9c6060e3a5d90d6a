/* SPDX-License-Identifier: MIT */
#include "drfs/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int drfs_log_max_level = DRFS_LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *log_tag;
/* the repository a thread of a several-repository mount works for */
static __thread const char *log_prefix;
/* the calling thread's last error message (drfs_log_last_error) */
static __thread char last_err[512];

void drfs_log_set_tag(const char *tag)
{
	log_tag = tag;
}

void drfs_log_set_thread_prefix(const char *prefix)
{
	log_prefix = prefix;
}

const char *drfs_log_last_error(void)
{
	return last_err;
}

void drfs_log_clear_last_error(void)
{
	last_err[0] = 0;
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
	if (log_prefix)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ",
			      log_prefix);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = MIN((size_t)n + (size_t)m, sizeof(line) - 2);
	if (lvl == DRFS_LOG_ERR)
		snprintf(last_err, sizeof(last_err), "%.*s",
			 (int)(len - (size_t)n), line + n);
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
