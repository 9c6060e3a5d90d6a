// SPDX-License-Identifier: MIT
/*
 * chunkstat.c - chunker parameter study for docs/benchmarks.md.
 *
 *   chunkstat init REPO AVG      create a local repository whose chunker
 *                                has average AVG bytes (min AVG/4, max
 *                                AVG*4, normalization 2, as the defaults);
 *                                passphrase from DRFS_PASSWORD
 *   chunkstat scan AVG DIR...    chunk every regular file under the DIRs
 *                                with those parameters and print
 *                                "unique_chunks total_chunks unique_bytes
 *                                logical_bytes"
 *
 * scan uses a fixed gear seed (boundaries are statistically the same as with
 * a repository's keyed seed) and SHA-256 of each chunk for identity. A file
 * whose inode was already seen (hard links between versions) is counted
 * again without re-reading it. Built by tools/bench-core.sh:
 *
 *   gcc -std=gnu11 -O2 -Iinclude tools/chunkstat.c build/release/libdrfs.a \
 *       $(pkg-config --cflags --libs fuse3 libcurl libcrypto libzstd lmdb \
 *       expat) -lpthread -o chunkstat
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/chunker.h"
#include "drfs/crypto.h"
#include "drfs/repo.h"

struct set {
	uint8_t (*k)[16];
	size_t cap, n;
};

/* Insert a 16-byte key; returns 1 if new, 0 if present. */
static int set_add(struct set *s, const uint8_t key[16])
{
	if (2 * (s->n + 1) > s->cap) {
		struct set t = { .cap = s->cap ? 2 * s->cap : 1 << 16 };
		t.k = calloc(t.cap, 16);
		if (!t.k) {
			perror("calloc");
			exit(1);
		}
		for (size_t i = 0; i < s->cap; i++) {
			static const uint8_t zero[16];
			if (memcmp(s->k[i], zero, 16))
				set_add(&t, s->k[i]);
		}
		free(s->k);
		*s = t;
	}
	size_t h;
	memcpy(&h, key, sizeof(h));
	for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		static const uint8_t zero[16];
		if (!memcmp(s->k[i], key, 16))
			return 0;
		if (!memcmp(s->k[i], zero, 16)) {
			memcpy(s->k[i], key, 16);
			s->n++;
			return 1;
		}
	}
}

struct seen {
	dev_t dev;
	ino_t ino;
	uint64_t chunks, bytes;
};

static struct drfs_chunker ck;
static struct set chunks;
static struct seen *inodes;
static size_t n_inodes, cap_inodes;
static uint64_t total_chunks, unique_bytes, logical_bytes;

static struct seen *inode_find(const struct stat *st)
{
	/* linear probing over a table keyed by inode number */
	if (!cap_inodes)
		return NULL;
	for (size_t i = st->st_ino & (cap_inodes - 1);;
	     i = (i + 1) & (cap_inodes - 1)) {
		if (!inodes[i].ino)
			return &inodes[i];
		if (inodes[i].ino == st->st_ino && inodes[i].dev == st->st_dev)
			return &inodes[i];
	}
}

static void inode_add(const struct stat *st, uint64_t c, uint64_t b)
{
	if (2 * (n_inodes + 1) > cap_inodes) {
		struct seen *old = inodes;
		size_t oc = cap_inodes;
		cap_inodes = oc ? 2 * oc : 1 << 16;
		inodes = calloc(cap_inodes, sizeof(*inodes));
		if (!inodes) {
			perror("calloc");
			exit(1);
		}
		n_inodes = 0;
		for (size_t i = 0; i < oc; i++) {
			if (old[i].ino) {
				struct stat t = { .st_dev = old[i].dev,
						  .st_ino = old[i].ino };
				inode_add(&t, old[i].chunks, old[i].bytes);
			}
		}
		free(old);
	}
	struct seen *e = inode_find(st);
	*e = (struct seen){ st->st_dev, st->st_ino, c, b };
	n_inodes++;
}

static int visit(const char *path, const struct stat *st, int type,
		 struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	struct seen *e = inode_find(st);
	if (e && e->ino) {
		total_chunks += e->chunks;
		logical_bytes += e->bytes;
		return 0;
	}
	uint64_t nc = 0;
	size_t len = st->st_size;
	if (len) {
		int fd = open(path, O_RDONLY);
		if (fd < 0) {
			perror(path);
			return 0;
		}
		const uint8_t *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd,
					0);
		close(fd);
		if (p == MAP_FAILED) {
			perror(path);
			return 0;
		}
		madvise((void *)p, len, MADV_SEQUENTIAL);
		for (size_t off = 0; off < len;) {
			size_t n = drfs_chunker_cut(&ck, p + off, len - off);
			struct drfs_id id;
			drfs_sha256(p + off, n, &id);
			if (set_add(&chunks, id.b))
				unique_bytes += n;
			nc++;
			off += n;
		}
		munmap((void *)p, len);
	}
	total_chunks += nc;
	logical_bytes += len;
	inode_add(st, nc, len);
	return 0;
}

static int params(const char *s, struct drfs_chunker_params *p)
{
	char *end;
	unsigned long avg = strtoul(s, &end, 10);
	if (*end || avg < 4 * DRFS_CHUNK_MIN_LIMIT || avg > (4u << 20)) {
		fprintf(stderr, "bad average chunk size %s\n", s);
		return -EINVAL;
	}
	*p = (struct drfs_chunker_params){ .min = avg / 4, .avg = avg,
					   .max = avg * 4,
					   .norm = DRFS_CHUNK_NORM_DEFAULT };
	return 0;
}

int main(int argc, char **argv)
{
	struct drfs_chunker_params p;
	int e;

	if (argc == 4 && !strcmp(argv[1], "init")) {
		struct drfs_repo_opts o = { .url = argv[2] };
		struct drfs_init_opts io = { 0 };
		struct drfs_id id;

		if (params(argv[3], &io.chunker) < 0)
			return 2;
		o.password = getenv("DRFS_PASSWORD");
		o.backend.create = true;
		drfs_crypto_init();
		e = drfs_repo_init(&o, &io, &id);
		if (e < 0) {
			fprintf(stderr, "init: %s\n",
				drfs_repo_last_error() ?: strerror(-e));
			return 1;
		}
		printf("created %s (avg %u)\n", argv[2], io.chunker.avg);
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "scan")) {
		static const uint8_t seed[32] = { 1 };

		if (params(argv[2], &p) < 0)
			return 2;
		e = drfs_chunker_init(&ck, &p, seed);
		if (e < 0) {
			fprintf(stderr, "chunker: %s\n", strerror(-e));
			return 1;
		}
		for (int i = 3; i < argc; i++) {
			if (nftw(argv[i], visit, 64, FTW_PHYS) < 0) {
				perror(argv[i]);
				return 1;
			}
		}
		printf("%zu %llu %llu %llu\n", chunks.n,
		       (unsigned long long)total_chunks,
		       (unsigned long long)unique_bytes,
		       (unsigned long long)logical_bytes);
		return 0;
	}
	fprintf(stderr, "usage: chunkstat init REPO AVG | scan AVG DIR...\n");
	return 2;
}
