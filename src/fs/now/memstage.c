/* SPDX-License-Identifier: MIT */
/*
 * memstage.c - memory staging: small files staged in a memfd instead of a
 * staging file. nowint.h has the layout and the locks.
 */
#include "nowint.h"

/* ---- memory staging (memfd) -------------------------------------------- */

static size_t mem_hash(uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 40) & (MEM_SLOTS - 1);
}

/* The slot of ino, or NULL. Under n->lock. */
struct mem_slot *now_mem_find(struct drfs_now *n, uint64_t ino)
{
	if (!n->mem || !n->mem_n)
		return NULL;
	for (size_t i = mem_hash(ino);; i = (i + 1) & (MEM_SLOTS - 1)) {
		if (n->mem[i].ino == ino)
			return &n->mem[i];
		if (!n->mem[i].ino)
			return NULL;
	}
}

/* Close ino's memfd and free its slot (backward-shift). Under n->lock. */
void now_mem_remove(struct drfs_now *n, uint64_t ino)
{
	struct mem_slot *sl = now_mem_find(n, ino);
	if (!sl)
		return;
	struct stat st;
	if (fstat(sl->fd, &st) == 0) {
		uint64_t b = (uint64_t)st.st_blocks * 512;
		n->mem_bytes -= MIN(n->mem_bytes, b);
		n->staged_bytes -= MIN(n->staged_bytes, b);
	}
	close(sl->fd);
	size_t i = (size_t)(sl - n->mem);
	n->mem[i].ino = 0;
	n->mem_n--;
	for (size_t j = (i + 1) & (MEM_SLOTS - 1); n->mem[j].ino;
	     j = (j + 1) & (MEM_SLOTS - 1)) {
		size_t h = mem_hash(n->mem[j].ino);
		/* may entry j move to the hole at i? */
		if (((j - h) & (MEM_SLOTS - 1)) >= ((j - i) & (MEM_SLOTS - 1))) {
			n->mem[i] = n->mem[j];
			n->mem[j].ino = 0;
			i = j;
		}
	}
}

/*
 * A new, empty memfd as ino's staging content, kept by the table (open it
 * with now_staging_open). False when memory staging is full: stage on disk.
 * Under n->lock.
 */
bool now_mem_new(struct drfs_now *n, uint64_t ino)
{
	if (!n->mem || n->mem_n >= n->mem_max ||
	    n->mem_bytes >= MEM_BYTES_MAX)
		return false;
	now_mem_remove(n, ino);
	int fd = memfd_create("drfs-staging", MFD_CLOEXEC);
	if (fd < 0)
		return false;
	size_t i = mem_hash(ino);
	while (n->mem[i].ino)
		i = (i + 1) & (MEM_SLOTS - 1);
	n->mem[i].ino = ino;
	n->mem[i].fd = fd;
	n->mem_n++;
	return true;
}

void now_mem_clear(struct drfs_now *n)
{
	for (size_t i = 0; n->mem && i < MEM_SLOTS; i++)
		if (n->mem[i].ino) {
			close(n->mem[i].fd);
			n->mem[i].ino = 0;
		}
	n->mem_n = 0;
	n->mem_bytes = 0;
}

/*
 * Open ino's staging content: a dup of its memfd, or its staging file.
 * *ret_mem (may be NULL) tells which. Under n->lock.
 */
int now_staging_open(struct drfs_now *n, uint64_t ino, int flags, bool *ret_mem)
{
	struct mem_slot *sl = now_mem_find(n, ino);
	if (ret_mem)
		*ret_mem = sl != NULL;
	if (sl)
		return fcntl(sl->fd, F_DUPFD_CLOEXEC, 0);
	char p[PATH_MAX];
	now_staging_path(n, ino, p, sizeof(p));
	return open(p, flags | O_CLOEXEC);
}

int now_staging_stat(struct drfs_now *n, uint64_t ino, struct stat *st)
{
	struct mem_slot *sl = now_mem_find(n, ino);
	if (sl)
		return fstat(sl->fd, st);
	char p[PATH_MAX];
	now_staging_path(n, ino, p, sizeof(p));
	return stat(p, st);
}

/*
 * Finish staging file fd, written as tmp (e: the writing's result): size,
 * fsync if sync, rename to p. On error fd is closed and tmp removed.
 */
int now_staging_install(int e, int fd, const char *tmp, const char *p,
			uint64_t size, bool sync)
{
	if (e >= 0 && ftruncate(fd, (off_t)size) < 0)
		e = -errno;
	if (e >= 0 && sync && fsync(fd) < 0)
		e = -errno;
	if (e >= 0 && rename(tmp, p) < 0)
		e = -errno;
	if (e < 0) {
		close(fd);
		unlink(tmp);
	}
	return e;
}

/*
 * Copy the data of fd (holes stay holes) to the start of out. The buffer
 * is on the stack: a 1 MiB malloc here, freed, raised glibc's mmap
 * threshold and the daemon's peak anonymous memory with it.
 */
static int copy_data(int fd, int out, uint64_t size)
{
	uint8_t buf[64 << 10];
	int e = 0;
	for (off_t pos = 0; e >= 0 && (uint64_t)pos < size;) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0) {
			e = errno == ENXIO ? 0 : -errno;
			break;
		}
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			h = (off_t)size;
		for (pos = d; e >= 0 && pos < h;) {
			size_t l = (size_t)MIN((uint64_t)(h - pos), sizeof(buf));
			ssize_t got = drfs_pread_all(fd, buf, l, (uint64_t)pos);
			if (got <= 0) {
				e = got < 0 ? (int)got : -EIO;
				break;
			}
			e = drfs_pwrite_all(out, buf, (size_t)got,
					    (uint64_t)pos);
			pos += got;
		}
	}
	return e < 0 ? e : 0;
}

/*
 * Move ino's memfd content to its staging file (fsync'd if sync), so it
 * survives the daemon. of (may be NULL) switches to the file; its memfd
 * dup stays open for reads in flight. Writes to the file cannot race
 * this: the kernel holds the inode lock over WRITE, SETATTR, FSYNC and
 * FALLOCATE. Under n->lock.
 */
int now_spill(struct drfs_now *n, uint64_t ino, struct ofile *of, bool sync)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	struct mem_slot *sl = now_mem_find(n, ino);
	struct stat st;
	if (!sl)
		return 0;
	if (fstat(sl->fd, &st) < 0)
		return -errno;
	now_staging_path(n, ino, p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int e = copy_data(sl->fd, fd, (uint64_t)st.st_size);
	e = now_staging_install(e, fd, tmp, p, (uint64_t)st.st_size, sync);
	if (e < 0)
		return e;
	now_chunk_cancel(n, ino);
	now_mem_remove(n, ino);
	if (fstat(fd, &st) == 0)
		n->staged_bytes += (uint64_t)st.st_blocks * 512;
	if (of && of->fd >= 0 && of->mem) {
		if (of->spilled_fd >= 0)
			close(of->spilled_fd);
		of->spilled_fd = of->fd;
		of->fd = fd;
		of->mem = false;
	} else {
		close(fd);
	}
	return 0;
}

struct ofile *now_ofile_find(struct drfs_now *n, uint64_t ino)
{
	for (struct ofile *o = n->ofiles; o; o = o->next)
		if (o->ino == ino)
			return o;
	return NULL;
}

/* The inode number a tree records (hard-link groups). */
uint64_t now_tree_ino(struct drfs_now *n, const struct rec *r)
{
	return r->src_ino ? r->src_ino : n->st.ino_salt | r->ino;
}

void now_rec_stat(struct drfs_now *n, const struct rec *r, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = r->ino;
	st->st_mode = r->mode;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	st->st_nlink = r->nlink;
	st->st_size = (off_t)r->size;
	st->st_rdev = (dev_t)r->rdev;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((r->blocks + 511) / 512);
	st->st_atim = r->atime;
	st->st_mtim = r->mtime;
	st->st_ctim = r->ctime;
	struct ofile *of = now_ofile_find(n, r->ino);
	if (!of)
		return;
	struct stat fs;
	if (of->fd >= 0 && fstat(of->fd, &fs) == 0) {
		st->st_size = fs.st_size;
		st->st_blocks = fs.st_blocks;
	}
	if (of->meta_dirty) {
		st->st_mtim = of->mtime;
		st->st_ctim = of->ctime;
	}
}

uint64_t now_alloc_ino(struct state *s)
{
	return s->next_ino++;
}
