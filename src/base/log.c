/* SPDX-License-Identifier: MIT */
#include "drfs/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int drfs_log_max_level = DRFS_LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *log_tag;
static const char *log_stamp; /* NULL: lines without time and subject */
/* the repository a thread of a several-repository mount works for */
static _Thread_local const char *log_prefix;
/* the calling thread's last error message (drfs_log_last_error) */
static _Thread_local char last_err[512];

void drfs_log_set_tag(const char *tag)
{
	log_tag = tag;
}

void drfs_log_set_thread_prefix(const char *prefix)
{
	log_prefix = prefix;
}

const char *drfs_log_thread_prefix(void)
{
	return log_prefix;
}

struct thread_start {
	void *(*fn)(void *);
	void *arg;
	const char *prefix;
};

static void *thread_main(void *p)
{
	struct thread_start ts = *(struct thread_start *)p;
	free(p);
	log_prefix = ts.prefix;
	return ts.fn(ts.arg);
}

int drfs_log_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	struct thread_start *ts = malloc(sizeof(*ts));
	if (!ts)
		return ENOMEM;
	*ts = (struct thread_start){ fn, arg, log_prefix };
	int e = pthread_create(t, NULL, thread_main, ts);
	if (e)
		free(ts);
	return e;
}

void drfs_thread_unpin(void)
{
	cpu_set_t cs;
	/* the main thread's (the process's id is its thread's) */
	if (sched_getaffinity(getpid(), sizeof(cs), &cs) == 0)
		pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs);
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

void drfs_log_set_stamp(const char *subject)
{
	log_stamp = subject;
}

void drfs_log(enum drfs_log_level lvl, const char *fmt, ...)
{
	if ((int)lvl > drfs_log_max_level)
		return;
	static const char *const prefix[] = { "error: ", "warning: ", "", "" };
	char line[2048];
	int t = 0;
	if (log_stamp) {
		/* "2026-11-21T14:30:05.123Z /mnt/backup drfs: ..." */
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		t = snprintf(line, 512, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ "
			     "%.400s ", tm.tm_year + 1900, tm.tm_mon + 1,
			     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			     ts.tv_nsec / 1000000, log_stamp);
		t = t < 0 ? 0 : MIN(t, 511);
	}
	int n = t + (log_tag && lvl == DRFS_LOG_ERR
			? snprintf(line + t, sizeof(line) - (size_t)t,
				   "drfs: %s: ", log_tag)
			: snprintf(line + t, sizeof(line) - (size_t)t, "drfs: %s",
				   prefix[lvl]));
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
