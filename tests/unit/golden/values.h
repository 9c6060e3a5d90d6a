/* SPDX-License-Identifier: MIT */
/*
 * values.h - the fixed keys and the values of the golden objects in this
 * directory, shared by tools/mkcorpus.c (which wrote them once) and
 * tests/unit/test_format.c (which decodes them and checks the fields and,
 * for deterministic encoders, the bytes). Changing anything here or in an
 * encoder makes test_format fail: that is the point.
 */
#ifndef DRFS_GOLDEN_VALUES_H
#define DRFS_GOLDEN_VALUES_H

#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "drfs/format.h"

#define GOLDEN_PASS "drfs golden passphrase"

static inline void golden_keys(struct drfs_keys *k, bool enc)
{
	memset(k->data, 0x11, sizeof(k->data));
	memset(k->id, 0x22, sizeof(k->id));
	k->encrypted = enc;
}

static inline void golden_config(struct drfs_config *c)
{
	memset(c, 0, sizeof(*c));
	c->version = DRFS_FORMAT_VERSION;
	for (int i = 0; i < 16; i++)
		c->repo_id[i] = (uint8_t)(0xa0 + i);
	c->chunker.min = DRFS_CHUNK_MIN_DEFAULT;
	c->chunker.avg = DRFS_CHUNK_AVG_DEFAULT;
	c->chunker.max = DRFS_CHUNK_MAX_DEFAULT;
	c->chunker.norm = DRFS_CHUNK_NORM_DEFAULT;
	c->zstd_level = -3;
	c->pack_target = DRFS_PACK_TARGET_DEFAULT;
}

static inline void golden_id(struct drfs_id *id, uint8_t seed)
{
	for (int i = 0; i < DRFS_ID_LEN; i++)
		id->b[i] = (uint8_t)(seed * 7 + i);
}

static inline void golden_snapshot(struct drfs_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->time.tv_sec = -86400 * 365 - 1; /* before 1970 */
	s->time.tv_nsec = 999999999;
	golden_id(&s->root, 1);
	golden_id(&s->parent, 2);
	golden_id(&s->meta, 3);
	strcpy(s->host, "golden-host.example");
	strcpy(s->path, "/srv/data with space/\xc3\xa9");
	s->n_tags = 3;
	memcpy(s->tags, "daily\0edge\0x=y", 15);
	s->files = 1234567;
	s->dirs = 89;
	s->bytes = 1ull << 40;
	s->added_bytes = 300;
	s->added_blobs = 7;
}

/*
 * The golden snapshot as drfs writes it since folder names are recorded
 * (payload version 2): with the name it claimed, a suffix in its second.
 */
static inline void golden_snapshot2(struct drfs_snapshot *s)
{
	golden_snapshot(s);
	strcpy(s->name, "1968-12-31/235959.12");
}

/*
 * The claim of folder "2026-01-02/030405" with the golden id key: names/
 * and this, HMAC-SHA-256(id key, "drfs-name2026-01-02/030405") in hex
 * (computed with Python's hmac module, not with drfs).
 */
#define GOLDEN_CLAIM_HEX                                                       \
	"18a2c52c2ac98347f704386de76df9c8316f47a2068599ffe45a6927be3d9d96"

/* Blob contents of the golden pack (blob 2 is the golden tree). */
#define GOLDEN_BLOB0 "hello, world\n"
static inline void golden_blob1(struct drfs_buf *b)
{
	/* 100 KiB of compressible text */
	for (int i = 0; b->len < 100 << 10; i++)
		if (drfs_buf_printf(b, "line %d of the golden blob\n", i) < 0)
			abort();
	b->len = 100 << 10;
}

/*
 * The golden tree: one node of every type, names with a newline, 0xff and
 * 255 bytes, binary xattr values, extents with holes, times before 1970 and
 * after 2100. Sorted by name (memcmp).
 */
static inline int golden_tree(struct drfs_buf *out)
{
	struct drfs_tree_enc enc;
	struct drfs_node n;
	struct drfs_xattr xs[3];
	struct drfs_extent ex[3];
	uint8_t longname[255];
	static const uint8_t bin[] = { 0, 1, 2, 0xff, 0, '\n', 0x80 };
	int r = 0;

	memset(longname, 'z', sizeof(longname));
	drfs_tree_enc_init(&enc, out);

#define NODE(nm, nl, md)                                                       \
	memset(&n, 0, sizeof(n));                                              \
	n.name = (const uint8_t *)(nm);                                        \
	n.name_len = (nl);                                                     \
	n.mode = (md);                                                         \
	n.uid = 1000;                                                          \
	n.gid = 100;                                                           \
	n.mtime.tv_sec = 1700000000;                                           \
	n.mtime.tv_nsec = 123456789;                                           \
	n.atime.tv_sec = -1;                                                   \
	n.atime.tv_nsec = 1;                                                   \
	n.ctime.tv_sec = 4200000000ll; /* after 2100 */                        \
	n.ctime.tv_nsec = 0;                                                   \
	n.nlink = 1

	NODE("a\nb", 3, S_IFREG | 0644);
	n.size = 10000000;
	n.nlink = 2;
	n.ino = 77;
	ex[0].off = 0;
	ex[0].len = 4096;
	golden_id(&ex[0].id, 10);
	ex[1].off = 1 << 20; /* hole before */
	ex[1].len = 1 << 20;
	golden_id(&ex[1].id, 11);
	ex[2].off = 9000000;
	ex[2].len = 1000000; /* ends at size */
	golden_id(&ex[2].id, 12);
	xs[0] = (struct drfs_xattr){ (const uint8_t *)"user.bin", 8, bin,
				     sizeof(bin) };
	xs[1] = (struct drfs_xattr){ (const uint8_t *)"user.empty", 10,
				     (const uint8_t *)"", 0 };
	r = r ?: drfs_tree_enc_add(&enc, &n, xs, 2, ex, 3);

	NODE("blk", 3, S_IFBLK | 0660);
	n.rdev = makedev(8, 1);
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);

	NODE("chr", 3, S_IFCHR | 0600);
	n.rdev = makedev(1, 3);
	n.mtime.tv_sec = -2208988800ll; /* 1900 */
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);

	NODE("dir", 3, S_IFDIR | 01777);
	n.nlink = 3;
	golden_id(&n.subtree, 20);
	xs[0] = (struct drfs_xattr){
		(const uint8_t *)"system.posix_acl_default", 24, bin,
		sizeof(bin)
	};
	r = r ?: drfs_tree_enc_add(&enc, &n, xs, 1, NULL, 0);

	NODE("empty", 5, S_IFREG | 04755);
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);

	NODE("fifo", 4, S_IFIFO | 0644);
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);

	NODE("link", 4, S_IFLNK | 0777);
	n.target = (const uint8_t *)"../target\xff with\nnewline";
	n.target_len = 24;
	n.size = 24;
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);

	NODE("sock", 4, S_IFSOCK | 0755);
	n.uid = 4000000000u;
	n.gid = 65534;
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);

	NODE(longname, sizeof(longname), S_IFREG | 0600);
	n.size = 5;
	ex[0].off = 0;
	ex[0].len = 5;
	golden_id(&ex[0].id, 30);
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, ex, 1);

	NODE("\xff\xfe", 2, S_IFREG | 0400);
	n.size = 1ull << 33; /* all hole */
	r = r ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);
#undef NODE
	drfs_tree_enc_release(&enc);
	return r;
}

/* A forget record of three snapshots (ids sorted), one time unknown. */
static inline int golden_forget(struct drfs_buf *out)
{
	struct drfs_forget_rec h = { .flags = 0 };
	struct drfs_forget_entry e[3];

	h.time.tv_sec = 1765000000;
	h.time.tv_nsec = 5;
	strcpy(h.host, "golden-host.example");
	for (int i = 0; i < 3; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		golden_id(&e[i].id, (uint8_t)(60 + i));
	}
	e[0].time.tv_sec = -1; /* before 1970 */
	e[0].time.tv_nsec = 999999999;
	e[1].time.tv_sec = 1764000000;
	return drfs_forget_rec_encode(&h, e, 3, out);
}

/* Index payload: two packs. */
static inline int golden_index(struct drfs_buf *out)
{
	struct drfs_pack_entry e[3];
	struct drfs_id p1, p2;
	int r;

	golden_id(&p1, 40);
	golden_id(&p2, 41);
	for (int i = 0; i < 3; i++) {
		golden_id(&e[i].id, (uint8_t)(50 + i));
		e[i].type = i == 2 ? DRFS_BLOB_TREE : DRFS_BLOB_DATA;
		e[i].flags = i == 1 ? DRFS_BLOB_F_ZSTD : 0;
		e[i].offset = (uint32_t)i * 1000;
		e[i].stored_len = 900;
		e[i].raw_len = i == 1 ? 5000 : 872;
	}
	r = drfs_indexobj_begin(out);
	r = r ?: drfs_indexobj_add(out, &p1, 5000, e, 3);
	r = r ?: drfs_indexobj_add(out, &p2, 100, NULL, 0);
	return r;
}

#endif
