/* SPDX-License-Identifier: MIT */
/*
 * mkcorpus.c - seed corpora for the fuzz targets (tests/fuzz/corpus/<t>/)
 * and the golden objects of tests/unit/golden/, made by the real encoders.
 *
 * Usage: mkcorpus CORPUS_ROOT [GOLDEN_DIR]
 *
 * Not built by meson; tools/fuzz.sh builds and runs it, or by hand:
 *   cc -std=gnu11 -D_GNU_SOURCE -Iinclude -Itests/unit tools/mkcorpus.c \
 *      BUILD/src/libdrfs.a -lcrypto -lzstd -llmdb -lcurl -lexpat -lfuse3
 * The golden files are checked in; regenerating them is a format change.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/compress.h"
#include "drfs/format.h"
#include "golden/values.h"

#define FUZZ_PASS "drfs fuzz passphrase"

static void die(const char *what, int r)
{
	fprintf(stderr, "mkcorpus: %s: %s\n", what, strerror(-r));
	exit(1);
}

static void put(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || drfs_write_all(fd, p, len) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* Write byte0 followed by p. */
static void put_mode(const char *dir, const char *name, uint8_t b0,
		     const void *p, size_t len)
{
	uint8_t *t = malloc(len + 1);
	t[0] = b0;
	memcpy(t + 1, p, len);
	put(dir, name, t, len + 1);
	free(t);
}

static void sealed(const struct drfs_keys *k, enum drfs_obj_kind kind,
		   const struct drfs_buf *payload, struct drfs_buf *out)
{
	drfs_buf_init(out, DRFS_INDEX_OBJECT_MAX);
	int r = drfs_seal(k, kind, payload->p, payload->len, out);
	if (r < 0)
		die("seal", r);
}

/* A pack of the golden blobs; entries in e[3]. */
static void make_pack(const struct drfs_keys *k, struct drfs_zctx *z,
		      struct drfs_buf *pack, struct drfs_pack_entry e[3])
{
	struct drfs_buf b1, tree;
	struct drfs_id id;
	int r;

	drfs_buf_init(pack, DRFS_PACK_MAX);
	drfs_buf_init(&b1, DRFS_BLOB_MAX);
	drfs_buf_init(&tree, DRFS_BLOB_MAX);
	golden_blob1(&b1);
	r = golden_tree(&tree);
	if (r < 0)
		die("tree", r);
	drfs_blob_id(k, GOLDEN_BLOB0, strlen(GOLDEN_BLOB0), &id);
	r = drfs_blob_seal(k, z, DRFS_BLOB_DATA, &id, GOLDEN_BLOB0,
			   strlen(GOLDEN_BLOB0), pack, &e[0]);
	drfs_blob_id(k, b1.p, b1.len, &id);
	r = r ?: drfs_blob_seal(k, z, DRFS_BLOB_DATA, &id, b1.p, b1.len, pack,
				&e[1]);
	drfs_blob_id(k, tree.p, tree.len, &id);
	r = r ?: drfs_blob_seal(k, z, DRFS_BLOB_TREE, &id, tree.p, tree.len,
				pack, &e[2]);
	r = r ?: drfs_pack_finish(k, e, 3, pack);
	if (r < 0)
		die("pack", r);
	drfs_buf_release(&b1);
	drfs_buf_release(&tree);
}

int main(int argc, char **argv)
{
	char d[4096];
	struct drfs_keys k[2];
	struct drfs_buf b, s;
	struct drfs_config c;
	struct drfs_snapshot *snap = calloc(1, sizeof(*snap));
	struct drfs_zctx *z = drfs_zctx_new(3);
	struct drfs_scrypt_params sp = { 10, 8, 1 };
	const char *root, *golden;
	int r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: mkcorpus CORPUS_ROOT [GOLDEN_DIR]\n");
		return 2;
	}
	root = argv[1];
	golden = argc > 2 ? argv[2] : NULL;
	if (drfs_crypto_init() < 0 || !z || !snap)
		die("init", -ENOMEM);
	golden_keys(&k[0], false);
	golden_keys(&k[1], true);
	mkdir(root, 0755);

	/* keyfile */
	snprintf(d, sizeof(d), "%s/keyfile", root);
	for (int e = 0; e < 2; e++) {
		drfs_buf_init(&b, 4096);
		r = drfs_keyfile_create(&k[e], FUZZ_PASS, &sp, &b);
		if (r < 0)
			die("keyfile", r);
		put(d, e ? "enc" : "plain", b.p, b.len);
		drfs_buf_release(&b);
	}

	/* config payloads */
	snprintf(d, sizeof(d), "%s/config", root);
	golden_config(&c);
	drfs_buf_init(&b, 4096);
	if ((r = drfs_config_encode(&c, &b)) < 0)
		die("config", r);
	put(d, "golden", b.p, b.len);
	drfs_buf_release(&b);
	c.chunker = (struct drfs_chunker_params){ DRFS_CHUNK_MIN_LIMIT,
						  8192, 16384, 0 };
	c.zstd_level = 22;
	c.pack_target = DRFS_PACK_MAX / 2;
	drfs_buf_init(&b, 4096);
	if ((r = drfs_config_encode(&c, &b)) < 0)
		die("config", r);
	put(d, "small", b.p, b.len);
	drfs_buf_release(&b);

	/* snapshot payloads */
	snprintf(d, sizeof(d), "%s/snapshot", root);
	golden_snapshot(snap);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	if ((r = drfs_snapshot_encode(snap, &b)) < 0)
		die("snapshot", r);
	put(d, "golden", b.p, b.len);
	struct drfs_buf snapb = b;
	memset(snap, 0, sizeof(*snap));
	snap->time.tv_sec = 1763700000;
	strcpy(snap->path, "now");
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	if ((r = drfs_snapshot_encode(snap, &b)) < 0)
		die("snapshot", r);
	put(d, "minimal", b.p, b.len);
	drfs_buf_release(&b);
	struct drfs_buf snap2b;
	golden_snapshot2(snap);
	drfs_buf_init(&snap2b, DRFS_SMALL_OBJECT_MAX);
	if ((r = drfs_snapshot_encode(snap, &snap2b)) < 0)
		die("snapshot", r);
	put(d, "golden2", snap2b.p, snap2b.len);

	/* forget records */
	snprintf(d, sizeof(d), "%s/forget", root);
	struct drfs_buf forgetb;
	drfs_buf_init(&forgetb, DRFS_SMALL_OBJECT_MAX);
	if ((r = golden_forget(&forgetb)) < 0)
		die("forget", r);
	put(d, "golden", forgetb.p, forgetb.len);
	struct drfs_forget_rec base = { .flags = DRFS_FORGET_F_BASELINE };
	base.time.tv_sec = 1763700000;
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	if ((r = drfs_forget_rec_encode(&base, NULL, 0, &b)) < 0)
		die("forget", r);
	put(d, "baseline", b.p, b.len);
	drfs_buf_release(&b);

	/* trees */
	snprintf(d, sizeof(d), "%s/tree", root);
	struct drfs_buf treeb;
	drfs_buf_init(&treeb, DRFS_BLOB_MAX);
	if ((r = golden_tree(&treeb)) < 0)
		die("tree", r);
	put(d, "golden", treeb.p, treeb.len);
	put(d, "empty", "\x01", 1);

	/* index payloads */
	snprintf(d, sizeof(d), "%s/indexobj", root);
	struct drfs_buf idxb;
	drfs_buf_init(&idxb, DRFS_INDEX_OBJECT_MAX);
	if ((r = golden_index(&idxb)) < 0)
		die("index", r);
	put(d, "golden", idxb.p, idxb.len);
	put(d, "empty", "\x01", 1);

	/* lock payloads: shared with a host, exclusive without one */
	snprintf(d, sizeof(d), "%s/lock", root);
	struct drfs_lock_info li = { .time = 1763700000, .pid = 4242 };
	strcpy(li.host, "backup-host.example");
	for (int x = 0; x < 2; x++) {
		drfs_buf_init(&b, 4096);
		if ((r = drfs_lock_encode(&li, &b)) < 0)
			die("lock", r);
		put(d, x ? "exclusive-nohost" : "shared", b.p, b.len);
		drfs_buf_release(&b);
		li.exclusive = true;
		li.host[0] = 0;
	}
	/* version 2: a mount with two acknowledged records; a prune lock */
	struct drfs_lock_info l2 = { .version = 2, .time = 1763700000,
				     .pid = 4242, .start = 1763690000,
				     .watermark = INT64_MAX, .pidns = 4026531836u,
				     .pstart = 123456, .role = 3, .n_acks = 2 };
	strcpy(l2.host, "mount-host.example");
	memset(l2.holder, 0x44, sizeof(l2.holder));
	memset(l2.boot, 0x55, sizeof(l2.boot));
	memset(l2.acks[0].b, 0x66, DRFS_ID_LEN);
	memset(l2.acks[1].b, 0x77, DRFS_ID_LEN);
	for (int x = 0; x < 2; x++) {
		drfs_buf_init(&b, 4096);
		if ((r = drfs_lock_encode(&l2, &b)) < 0)
			die("lock", r);
		put(d, x ? "v2-prune" : "v2-mount", b.p, b.len);
		drfs_buf_release(&b);
		l2 = (struct drfs_lock_info){ .version = 2, .prune = true,
					      .time = 1763700000, .pid = 7,
					      .role = 4 };
	}

	/* policy payloads: every rule with two tags, and a single rule */
	snprintf(d, sizeof(d), "%s/policy", root);
	struct drfs_policy pol = { 1, 24, 7, 4, 12, 3, 30 * 86400, 2, "" };
	memcpy(pol.tags, "keep\0monthly-archive", 21);
	for (int x = 0; x < 2; x++) {
		drfs_buf_init(&b, 4096);
		if ((r = drfs_policy_encode(&pol, &b)) < 0)
			die("policy", r);
		put(d, x ? "daily" : "full", b.p, b.len);
		drfs_buf_release(&b);
		memset(&pol, 0, sizeof(pol));
		pol.daily = 7;
	}
	/* deletion records: a header, then the golden index payload */
	snprintf(d, sizeof(d), "%s/deletion", root);
	struct drfs_deletion del = { .time = 1767225600, .n_holders = 2 };
	memset(del.prune, 0x11, sizeof(del.prune));
	memset(del.holders[0], 0x22, sizeof(del.holders[0]));
	memset(del.holders[1], 0x33, sizeof(del.holders[1]));
	struct drfs_buf delb;
	drfs_buf_init(&delb, DRFS_INDEX_OBJECT_MAX);
	if ((r = drfs_deletion_begin(&del, &delb)) < 0 ||
	    (r = drfs_buf_append(&delb, idxb.p + 1, idxb.len - 1)) < 0)
		die("deletion", r);
	put(d, "golden", delb.p, delb.len);
	drfs_buf_reset(&delb);
	del.n_holders = 0;
	if ((r = drfs_deletion_begin(&del, &delb)) < 0)
		die("deletion", r);
	put(d, "empty", delb.p, delb.len);
	drfs_buf_release(&delb);

	/* sealed objects of every kind, both key kinds */
	snprintf(d, sizeof(d), "%s/seal", root);
	for (int e = 0; e < 2; e++) {
		for (int kind = 1; kind <= DRFS_OBJ_HOLD; kind++) {
			char name[32];
			const struct drfs_buf *pl = kind == DRFS_OBJ_INDEX ?
				&idxb : &snapb;
			sealed(&k[e], kind, pl, &s);
			snprintf(name, sizeof(name), "kind%d-%s", kind,
				 e ? "enc" : "plain");
			put_mode(d, name, (uint8_t)(e | kind << 1), s.p,
				 s.len);
			drfs_buf_release(&s);
		}
	}

	/* packs */
	snprintf(d, sizeof(d), "%s/pack", root);
	for (int e = 0; e < 2; e++) {
		struct drfs_buf pack;
		struct drfs_pack_entry pe[3];
		char name[32];
		uint8_t kb = e ? 0x80 : 0;

		make_pack(&k[e], z, &pack, pe);
		snprintf(name, sizeof(name), "pack-%s", e ? "enc" : "plain");
		put_mode(d, name, kb | 3, pack.p, pack.len);
		uint64_t toff = pe[2].offset + pe[2].stored_len;
		snprintf(name, sizeof(name), "trailer-%s", e ? "enc" : "plain");
		put_mode(d, name, kb | 1, pack.p + toff,
			 pack.len - toff - DRFS_PACK_TAIL_LEN);
		for (int i = 0; i < 3; i++) {
			struct drfs_buf t;
			uint8_t raw[DRFS_PACK_ENTRY_LEN];
			struct drfs_pack_entry x = pe[i];
			x.offset = 0;
			drfs_buf_init(&t, DRFS_PACK_MAX);
			drfs_pack_entry_put(raw, &x);
			if (drfs_buf_u8(&t, kb | 2) < 0 ||
			    drfs_buf_append(&t, raw, sizeof(raw)) < 0 ||
			    drfs_buf_append(&t, pack.p + pe[i].offset,
					    pe[i].stored_len) < 0)
				die("blob", -ENOMEM);
			snprintf(name, sizeof(name), "blob%d-%s", i,
				 e ? "enc" : "plain");
			put(d, name, t.p, t.len);
			drfs_buf_release(&t);
		}
		drfs_buf_release(&pack);
	}

	if (golden) {
		mkdir(golden, 0755);
		for (int e = 0; e < 2; e++) {
			const char *sfx = e ? "enc" : "plain";
			char name[64];

			drfs_buf_init(&b, 4096);
			r = drfs_keyfile_create(&k[e], GOLDEN_PASS, &sp, &b);
			if (r < 0)
				die("keyfile", r);
			snprintf(name, sizeof(name), "keyfile-%s", sfx);
			put(golden, name, b.p, b.len);
			drfs_buf_release(&b);

			golden_config(&c);
			drfs_buf_init(&b, 4096);
			if ((r = drfs_config_encode(&c, &b)) < 0)
				die("config", r);
			sealed(&k[e], DRFS_OBJ_CONFIG, &b, &s);
			snprintf(name, sizeof(name), "config-%s", sfx);
			put(golden, name, s.p, s.len);
			drfs_buf_release(&s);
			drfs_buf_release(&b);

			sealed(&k[e], DRFS_OBJ_SNAPSHOT, &snapb, &s);
			snprintf(name, sizeof(name), "snapshot-%s", sfx);
			put(golden, name, s.p, s.len);
			drfs_buf_release(&s);

			sealed(&k[e], DRFS_OBJ_SNAPSHOT, &snap2b, &s);
			snprintf(name, sizeof(name), "snapshot2-%s", sfx);
			put(golden, name, s.p, s.len);
			drfs_buf_release(&s);

			sealed(&k[e], DRFS_OBJ_INDEX, &idxb, &s);
			snprintf(name, sizeof(name), "index-%s", sfx);
			put(golden, name, s.p, s.len);
			drfs_buf_release(&s);

			sealed(&k[e], DRFS_OBJ_FORGET, &forgetb, &s);
			snprintf(name, sizeof(name), "forget-%s", sfx);
			put(golden, name, s.p, s.len);
			drfs_buf_release(&s);

			struct drfs_buf pack;
			struct drfs_pack_entry pe[3];
			make_pack(&k[e], z, &pack, pe);
			snprintf(name, sizeof(name), "pack-%s", sfx);
			put(golden, name, pack.p, pack.len);
			drfs_buf_release(&pack);
		}
		put(golden, "tree", treeb.p, treeb.len);
	}
	drfs_buf_release(&snapb);
	drfs_buf_release(&snap2b);
	drfs_buf_release(&forgetb);
	drfs_buf_release(&treeb);
	drfs_buf_release(&idxb);
	drfs_zctx_free(z);
	free(snap);
	return 0;
}
