/* SPDX-License-Identifier: MIT */
/*
 * log.h - messages to stderr (or syslog-style to a file once daemonised).
 * Libraries don't log; the caller that decides logs once. Messages are
 * lowercase, name what failed first and quote the subject, never a secret.
 */
#ifndef DRFS_LOG_H
#define DRFS_LOG_H

#include <pthread.h>

#include "drfs/base.h"

enum drfs_log_level {
	DRFS_LOG_ERR,
	DRFS_LOG_WARN,
	DRFS_LOG_INFO,
	DRFS_LOG_DEBUG,
};

extern int drfs_log_max_level;

void drfs_log(enum drfs_log_level lvl, const char *fmt, ...) _printf_(2, 3);
/* Redirect messages to fd (e.g. a log file after daemonising). */
void drfs_log_set_fd(int fd);
/*
 * Begin each line with its time (UTC, ms) and subject (a mount's log file:
 * the mountpoint); NULL: plain lines (a terminal). subject is not copied.
 */
void drfs_log_set_stamp(const char *subject);
/*
 * Errors start "drfs: TAG: " instead of "drfs: error: " once tag is set:
 * the command that runs (the cli sets it); NULL: as before. Warnings stay
 * "drfs: warning: ...". Not copied.
 */
void drfs_log_set_tag(const char *tag);

/*
 * Messages of the calling thread start "drfs: ...PREFIX: " (the folder
 * name of a repository in a several-repository mount); NULL: none. Not
 * copied.
 */
void drfs_log_set_thread_prefix(const char *prefix);
/* The calling thread's prefix (NULL: none). */
const char *drfs_log_thread_prefix(void);
/*
 * pthread_create(t, NULL, fn, arg), the new thread starting with the
 * calling thread's prefix: the threads a repository's session starts in a
 * several-repository mount (gc, uploads, lock refresh, ...) stamp their
 * lines with its name too. 0 or a positive errno, as pthread_create.
 */
int drfs_log_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);
/*
 * The calling thread may run on every CPU the process may: a thread
 * started from a FUSE request's handler inherits the single CPU that
 * FUSE over io_uring pins the handler's thread to (src/fs/loop.c).
 */
void drfs_thread_unpin(void);
/*
 * The text of the calling thread's last error message (without "drfs: "
 * and prefixes; "" when none since drfs_log_clear_last_error), valid
 * until its next one: what `drfs status` shows for a repository that
 * could not be opened.
 */
const char *drfs_log_last_error(void);
void drfs_log_clear_last_error(void);

#define log_err(...) drfs_log(DRFS_LOG_ERR, __VA_ARGS__)
#define log_warn(...) drfs_log(DRFS_LOG_WARN, __VA_ARGS__)
#define log_info(...) drfs_log(DRFS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) drfs_log(DRFS_LOG_DEBUG, __VA_ARGS__)

/* strerror for a negative errno (EBADMSG reads "corrupted data"). */
const char *drfs_strerror(int negerr);

#endif
