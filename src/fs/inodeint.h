/* SPDX-License-Identifier: MIT */
/*
 * inodeint.h - private to the two rooms of the mount's inode model:
 * inode.c (records, the generation marker, view roots, materialising a
 * directory) and inoderead.c (lookup, listing, extents, xattrs, paths of
 * what is materialised). fsint.h has the key layout.
 */
#ifndef DRFS_INODEINT_H
#define DRFS_INODEINT_H

#include "fsint.h"
#include "drfs/index.h"

#define EXT_VAL_LEN (8 + 4 + DRFS_ID_LEN)

static inline void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* tag | be64 ino: returns the key length (9). */
static inline size_t key_ino(uint8_t *k, char tag, uint64_t ino)
{
	k[0] = (uint8_t)tag;
	put_be64(k + 1, ino);
	return 9;
}

static inline void txn_abortp(struct drfs_txn **t)
{
	drfs_txn_abort(*t);
}
#define _cleanup_txn_ _cleanup_(txn_abortp)

static inline void buf_releasep(struct drfs_buf *b)
{
	drfs_buf_release(b);
}

#endif
