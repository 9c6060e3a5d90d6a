/* SPDX-License-Identifier: MIT */
/*
 * chunkfd.c - a file's data regions through the chunker (chunker.h): the
 * read loop shared by `drfs backup` and the background chunker of now/.
 */
#include "drfs/chunker.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Chunk bytes [start, end) of fd; *ret_end: the offset after the last. */
static int chunk_region(const struct drfs_chunk_fd *c, int fd, uint64_t start,
			uint64_t end, uint64_t *ret_end)
{
	const size_t max = c->chunker->p.max;
	size_t have = 0;
	uint64_t pos = start;    /* file offset of win[0] */
	uint64_t rd_off = start; /* next offset to read */
	bool eof = false;

	for (;;) {
		if (c->abort && atomic_load(c->abort))
			return -ECANCELED;
		if (!eof && have < max) {
			size_t want = c->win_cap - have;
			if (rd_off + want > end)
				want = (size_t)(end - rd_off);
			ssize_t n = want ? drfs_pread_all(fd, c->win + have,
							  want, rd_off)
					 : 0;
			if (n < 0)
				return (int)n;
			have += (size_t)n;
			rd_off += (uint64_t)n;
			if ((size_t)n < want || rd_off >= end)
				eof = true;
			if (c->bytes_read)
				atomic_fetch_add(c->bytes_read, (uint64_t)n);
		}
		if (have == 0)
			break;
		size_t off = 0;
		/* cut while a full max-sized window remains, or all at eof */
		while (have - off >= max || (eof && off < have)) {
			size_t n = drfs_chunker_cut(c->chunker, c->win + off,
						    have - off);
			int e = c->emit(c->ud, c->win + off, n, pos + off);
			if (e < 0)
				return e;
			off += n;
		}
		memmove(c->win, c->win + off, have - off);
		have -= off;
		pos += off;
		if (eof && have == 0)
			break;
	}
	*ret_end = pos;
	return 0;
}

int drfs_chunk_fd(const struct drfs_chunk_fd *c, int fd, uint64_t end,
		  uint64_t *ret_last)
{
	uint64_t off = 0, last = 0;
	int e = 0;

	while (off < end) {
		off_t ds = lseek(fd, (off_t)off, SEEK_DATA);
		if (ds < 0) {
			if (errno == ENXIO)
				break; /* only a hole remains */
			if (errno != EINVAL)
				return -errno;
			ds = (off_t)off; /* no SEEK_DATA support */
		}
		off_t de = lseek(fd, ds, SEEK_HOLE);
		if (de < 0 || (uint64_t)de > end)
			de = (off_t)end;
		if ((uint64_t)ds >= end)
			break;
		e = chunk_region(c, fd, (uint64_t)ds, (uint64_t)de, &last);
		if (e < 0)
			break;
		off = (uint64_t)de;
	}
	*ret_last = last;
	return e;
}
