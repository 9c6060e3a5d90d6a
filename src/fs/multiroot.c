/* SPDX-License-Identifier: MIT */
/*
 * multiroot.c - the read-only root session of a several-repository mount
 * (multi.c): MOUNTPOINT's folders, one per repository, and MULTI_XATTR,
 * the list of the repositories with their states and errors that drfs
 * status and drfs umount read.
 */
#include "multiint.h"

/*
 * The folders never change: their names are cached for good (unmounting
 * MOUNTPOINT/NAME then needs no lookup); attributes for a second, so that
 * a stat of a mount whose daemon was killed says so soon (ENOTCONN).
 */
#define ROOT_TIMEOUT (86400.0 * 365)
#define ROOT_ATTR_TIMEOUT 1.0

static const char *const state_name[] = { "starting", "serving",
					  "unavailable", "ended" };

static bool root_ino(const struct multi *m, fuse_ino_t ino)
{
	return ino >= FUSE_ROOT_ID && ino < FUSE_ROOT_ID + 1 + m->n;
}

static void root_stat(const struct multi *m, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = ino == FUSE_ROOT_ID ? 2 + m->n : 2;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_atim = st->st_mtim = st->st_ctim = m->start;
	st->st_blksize = 4096;
}

static void root_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct multi *m = fuse_req_userdata(req);
	struct fuse_entry_param e;

	if (parent == FUSE_ROOT_ID) {
		for (size_t i = 0; i < m->n; i++) {
			if (strcmp(name, m->r[i].name))
				continue;
			memset(&e, 0, sizeof(e));
			e.ino = FUSE_ROOT_ID + 1 + i;
			e.entry_timeout = ROOT_TIMEOUT;
			e.attr_timeout = ROOT_ATTR_TIMEOUT;
			root_stat(m, e.ino, &e.attr);
			fuse_reply_entry(req, &e);
			return;
		}
	}
	fuse_reply_err(req, ENOENT);
}

static void root_getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct multi *m = fuse_req_userdata(req);
	struct stat st;
	(void)fi;
	if (!root_ino(m, ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	root_stat(m, ino, &st);
	fuse_reply_attr(req, &st, ROOT_ATTR_TIMEOUT);
}

static void root_opendir(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct multi *m = fuse_req_userdata(req);
	if (!root_ino(m, ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void root_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	struct multi *m = fuse_req_userdata(req);
	size_t n = ino == FUSE_ROOT_ID ? m->n : 0, used = 0;
	char *buf = malloc(size);
	struct stat st;
	(void)fi;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < n + 2; i++) {
		const char *name = i == 0   ? "."
				   : i == 1 ? ".."
					    : m->r[i - 2].name;
		fuse_ino_t e = i == 0 ? ino : i == 1 ? FUSE_ROOT_ID
						     : FUSE_ROOT_ID + i - 1;
		root_stat(m, e, &st);
		size_t l = fuse_add_direntry(req, buf + used, size - used, name,
					     &st, (off_t)i + 1);
		if (l > size - used)
			break;
		used += l;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* "NAME\tSTATE\tMESSAGE\n" per repository */
static size_t root_list(struct multi *m, char *out, size_t max)
{
	size_t l = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n && l < max; i++) {
		struct mrepo *r = &m->r[i];
		char msg[sizeof(r->error) + 64] = "";
		if (r->state == MR_UNAVAILABLE)
			snprintf(msg, sizeof(msg), "%s (tried again every "
				 "%.0f s)", r->error, m->retry);
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		int k = snprintf(out + l, max - l, "%s\t%s\t%s\n", r->name,
				 state_name[r->state], msg);
		l = k < 0 ? max : MIN(max, l + (size_t)k);
	}
	pthread_mutex_unlock(&m->lock);
	return l;
}

static void root_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  size_t size)
{
	struct multi *m = fuse_req_userdata(req);
	char *text = NULL;
	size_t l = 0;

	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	text = malloc(MULTI_LIST_MAX);
	if (!text) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!strcmp(name, PID_XATTR)) {
		l = (size_t)snprintf(text, MULTI_LIST_MAX, "%ld",
				     (long)getpid());
	} else if (!strcmp(name, MULTI_XATTR)) {
		l = root_list(m, text, MULTI_LIST_MAX);
	} else {
		free(text);
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (size == 0)
		fuse_reply_xattr(req, l);
	else if (l > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, text, l);
	free(text);
}

static void root_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

const struct fuse_lowlevel_ops multi_root_ops = {
	.lookup = root_lookup,
	.getattr = root_getattr,
	.opendir = root_opendir,
	.readdir = root_readdir,
	.getxattr = root_getxattr,
	.listxattr = root_listxattr,
};
