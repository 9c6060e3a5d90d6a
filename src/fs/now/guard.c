/* SPDX-License-Identifier: MIT */
/*
 * guard.c - the dedup-loss guard at a commit of now/ (docs/verification.md):
 * the old copies the blobs put since the last snapshot deduplicated
 * against are verified, a corrupted one stored again, before the flush
 * that precedes the snapshot object.
 */
#include <stdarg.h>

#include "nowint.h"

/* A finding: kept for drfs_now_status, passed on. wlock held. */
static void guard_report(void *userdata, const char *fmt, ...)
{
	struct drfs_now *n = userdata;
	char msg[sizeof(n->guard_last)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&n->glock);
	memcpy(n->guard_last, msg, sizeof(msg));
	pthread_mutex_unlock(&n->glock);
	if (n->o.report)
		n->o.report(n->o.report_data, "%s", msg);
}

int now_guard(struct drfs_now *n)
{
	struct drfs_guard_result g = { 0 };
	pthread_mutex_lock(&n->wlock);
	int e = n->w ? drfs_writer_guard(n->w, guard_report, n, &g) : 0;
	pthread_mutex_unlock(&n->wlock);
	pthread_mutex_lock(&n->glock);
	n->guard.bytes_read += g.bytes_read;
	n->guard.blobs_verified += g.blobs_verified;
	n->guard.packs_read += g.packs_read;
	n->guard.packs_verified += g.packs_verified;
	n->guard.bad += g.bad;
	n->guard.healed += g.healed;
	n->guard.unread += g.unread;
	pthread_mutex_unlock(&n->glock);
	return e;
}
