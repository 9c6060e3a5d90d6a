/* SPDX-License-Identifier: MIT */
/*
 * ahead.c - read-ahead across the files of a snapshot directory.
 *
 * cp -a, rsync and tar open the files of a directory one after the other,
 * in readdir order, and each open is followed by a read that waits for the
 * file's first chunk: pack read, decrypt, decompress, verify. For files of
 * 16 KiB to a few MiB that wait is most of what copying them costs, and the
 * sequential prefetch of op_read only starts once a file is being read. So
 * the first read of a file also queues, for the prefetch threads of
 * fscache.c, the first chunks of the next regular files of the same
 * directory: at most AHEAD_FILES files and AHEAD_BYTES bytes ahead of it.
 * The first read, not the open: files the kernel still has in its page
 * cache are opened but never read, and their neighbours need no decoding.
 *
 * State: the AHEAD_DIRS most recently used directories, each with the
 * readdir index after the last file read in it (where the next one is
 * looked for) and the index up to which files were queued. Nothing per
 * file. A file that is not among the next AHEAD_SCAN entries (random
 * access, a second pass) is looked for from the start once, and queues
 * nothing if it is not found there either.
 */
#include "fsint.h"

#define AHEAD_FILES 8
#define AHEAD_BYTES (8u << 20)
#define AHEAD_SCAN 64
#define AHEAD_DIRS (sizeof(((struct fs *)0)->ahead) / \
		    sizeof(((struct fs *)0)->ahead[0]))

struct scan {
	uint64_t want;
	uint32_t seen;
	bool found;
	uint32_t at;          /* readdir index of want */
	uint32_t n;           /* regular files after it */
	uint32_t idx[AHEAD_SCAN];
	uint64_t ino[AHEAD_SCAN];
};

static int scan_cb(uint32_t idx, uint64_t ino, uint8_t dtype,
		   const char *name, void *userdata)
{
	struct scan *s = userdata;
	(void)name;
	if (++s->seen > AHEAD_SCAN)
		return 1;
	if (!s->found) {
		if (ino == s->want) {
			s->found = true;
			s->at = idx;
			s->seen = 0;
		}
		return 0;
	}
	if (dtype == (S_IFREG >> 12)) {
		s->idx[s->n] = idx;
		s->ino[s->n++] = ino;
		if (s->n == AHEAD_FILES)
			return 1;
	}
	return 0;
}

static struct fs_ahead_dir *slot_get(struct fs *fs, uint64_t dir)
{
	struct fs_ahead_dir *victim = &fs->ahead[0];
	for (size_t i = 0; i < AHEAD_DIRS; i++) {
		struct fs_ahead_dir *d = &fs->ahead[i];
		if (d->used && d->dir == dir)
			return d;
		if (d->used < victim->used)
			victim = d;
	}
	*victim = (struct fs_ahead_dir){ .dir = dir };
	return victim;
}

void fs_ahead_first_read(struct fs *fs, uint64_t dir, uint64_t ino)
{
	struct scan s = { .want = ino };
	uint32_t from, queued;

	pthread_mutex_lock(&fs->ahead_lock);
	struct fs_ahead_dir *d = slot_get(fs, dir);
	d->used = ++fs->ahead_clock;
	from = d->next;
	pthread_mutex_unlock(&fs->ahead_lock);

	if (fs_dir_list(fs, dir, from, scan_cb, &s) < 0)
		return;
	if (!s.found && from > 0) {
		s = (struct scan){ .want = ino };
		if (fs_dir_list(fs, dir, 0, scan_cb, &s) < 0)
			return;
	}
	if (!s.found)
		return;

	pthread_mutex_lock(&fs->ahead_lock);
	d = slot_get(fs, dir);
	d->used = ++fs->ahead_clock;
	d->next = s.at + 1;
	queued = d->queued;
	pthread_mutex_unlock(&fs->ahead_lock);

	/* files up to `queued` went to the prefetch threads before */
	uint64_t bytes = 0;
	uint32_t upto = 0;
	for (uint32_t i = 0; i < s.n && bytes < AHEAD_BYTES; i++) {
		struct fs_extent e;
		upto = s.idx[i] + 1;
		if (s.idx[i] < queued)
			continue;
		if (fs_extents_from(fs, s.ino[i], 0, &e, 1) == 1) {
			fs_cache_prefetch(fs->cache, &e.id);
			bytes += e.len;
		}
	}
	if (upto > queued) {
		pthread_mutex_lock(&fs->ahead_lock);
		d = slot_get(fs, dir);
		if (d->queued < upto)
			d->queued = upto;
		pthread_mutex_unlock(&fs->ahead_lock);
	}
}
