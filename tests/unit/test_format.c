/* SPDX-License-Identifier: MIT */
/*
 * test_format.c - the format layer: round trips of every object kind, every
 * decoder against every truncation of a valid object, seal/unseal and key
 * file failures, and the golden objects of tests/unit/golden/ (written once
 * by tools/mkcorpus.c with the fixed keys of golden/values.h): decoded
 * fields must match the values, and deterministic encoders must reproduce
 * the golden bytes, so an accidental format change fails here.
 *
 * The golden directory is found via DRFS_GOLDEN_DIR, else next to this
 * source file (__FILE__; relative to the build root when meson compiled
 * it, so it is tried from the cwd and from the executable's parent dir).
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "drfs/compress.h"
#include "drfs/format.h"

#include "golden/values.h"
#include "test.h"

static char golden_dir[PATH_MAX * 3];

static void find_golden(void)
{
	const char *env = getenv("DRFS_GOLDEN_DIR");
	char src[PATH_MAX], exe[PATH_MAX], cand[PATH_MAX * 3];

	if (env && *env) {
		snprintf(golden_dir, sizeof(golden_dir), "%s", env);
		return;
	}
	snprintf(src, sizeof(src), "%s", __FILE__);
	char *dir = dirname(src);
	snprintf(golden_dir, sizeof(golden_dir), "%s/golden", dir);
	if (dir[0] == '/' || access(golden_dir, R_OK) == 0)
		return;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	/* BUILD/tests/test_format: BUILD is the compiler's cwd */
	char *bdir = dirname(dirname(exe));
	snprintf(cand, sizeof(cand), "%s/%s/golden", bdir, dir);
	if (access(cand, R_OK) == 0)
		snprintf(golden_dir, sizeof(golden_dir), "%s", cand);
}

static int load(const char *name, struct drfs_buf *out)
{
	char path[PATH_MAX * 3 + 64];
	uint8_t tmp[65536];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", golden_dir, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "cannot open %s\n", path);
		return -errno;
	}
	drfs_buf_init(out, 1 << 24);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		if (drfs_buf_append(out, tmp, (size_t)n) < 0)
			break;
	close(fd);
	return 0;
}

/* An exact-size heap copy, so ASan notices reads past the end. */
static uint8_t *dup_n(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	memcpy(c, p, n);
	return c;
}

static bool buf_eq(const struct drfs_buf *a, const struct drfs_buf *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* ---- sealed objects ------------------------------------------------- */

static void test_seal(void)
{
	struct drfs_keys k[2];
	golden_keys(&k[0], false);
	golden_keys(&k[1], true);
	const char payload[] = "some payload\n\0with a NUL";

	for (int e = 0; e < 2; e++) {
		for (int kind = 1; kind <= 8; kind++) {
			struct drfs_buf s, o;
			drfs_buf_init(&s, 4096);
			drfs_buf_init(&o, 4096);
			CHECK_EQ(drfs_seal(&k[e], kind, payload,
					   sizeof(payload), &s), 0);
			CHECK(memcmp(s.p, "DRFS", 4) == 0);
			CHECK_EQ(s.p[4], kind);
			CHECK_EQ(s.p[5], 1);
			CHECK_EQ(s.p[6], e);
			CHECK_EQ(s.p[7], 0);
			CHECK_EQ(s.len, 8 + sizeof(payload) +
					(e ? DRFS_AEAD_OVERHEAD : DRFS_ID_LEN));
			CHECK_EQ(drfs_unseal(&k[e], kind, s.p, s.len, &o), 0);
			CHECK(o.len == sizeof(payload) &&
			      memcmp(o.p, payload, o.len) == 0);
			/* wrong kind, wrong key kind */
			o.len = 0;
			CHECK_EQ(drfs_unseal(&k[e], kind % 8 + 1, s.p, s.len,
					     &o), -EBADMSG);
			CHECK_EQ(drfs_unseal(&k[!e], kind, s.p, s.len, &o),
				 -EBADMSG);
			CHECK_EQ(o.len, 0);
			/* every truncation */
			for (size_t n = 0; n < s.len; n++) {
				uint8_t *c = dup_n(s.p, n);
				CHECK_EQ(drfs_unseal(&k[e], kind, c, n, &o),
					 -EBADMSG);
				free(c);
			}
			/* every single-byte corruption */
			for (size_t i = 0; i < s.len; i++) {
				s.p[i] ^= 0x40;
				CHECK_EQ(drfs_unseal(&k[e], kind, s.p, s.len,
						     &o), -EBADMSG);
				s.p[i] ^= 0x40;
			}
			CHECK_EQ(o.len, 0);
			drfs_buf_release(&s);
			drfs_buf_release(&o);
		}
	}
	/* another data key fails authentication */
	struct drfs_keys k2 = k[1];
	k2.data[0] ^= 1;
	struct drfs_buf s, o;
	drfs_buf_init(&s, 4096);
	drfs_buf_init(&o, 4096);
	CHECK_EQ(drfs_seal(&k[1], DRFS_OBJ_LOCK, "x", 1, &s), 0);
	CHECK_EQ(drfs_unseal(&k2, DRFS_OBJ_LOCK, s.p, s.len, &o), -EBADMSG);
	/* an empty payload */
	s.len = 0;
	CHECK_EQ(drfs_seal(&k[0], DRFS_OBJ_HOLD, "", 0, &s), 0);
	CHECK_EQ(drfs_unseal(&k[0], DRFS_OBJ_HOLD, s.p, s.len, &o), 0);
	CHECK_EQ(o.len, 0);
	/* a full output buffer: -E2BIG, unchanged */
	struct drfs_buf small;
	drfs_buf_init(&small, 10);
	CHECK_EQ(drfs_seal(&k[1], DRFS_OBJ_LOCK, "xyz", 3, &small), -E2BIG);
	CHECK_EQ(small.len, 0);
	drfs_buf_release(&small);
	drfs_buf_release(&s);
	drfs_buf_release(&o);
}

/* ---- key files -------------------------------------------------------- */

static void test_keyfile(void)
{
	struct drfs_keys k, got;
	struct drfs_scrypt_params sp = { 10, 8, 1 };
	struct drfs_buf b;

	for (int e = 0; e < 2; e++) {
		CHECK_EQ(drfs_keys_generate(&k, e), 0);
		drfs_buf_init(&b, 4096);
		CHECK_EQ(drfs_keyfile_create(&k, "correct horse", &sp, &b), 0);
		CHECK_EQ(b.len,
			 e ? DRFS_KEYFILE_LEN_ENC : DRFS_KEYFILE_LEN_PLAIN);
		CHECK(memcmp(b.p, "DRFSKEY1", 8) == 0);
		CHECK_EQ(b.p[8], e);
		CHECK_EQ(b.p[9], 10);
		CHECK_EQ(drfs_get_le32(b.p + 10), 8);
		CHECK_EQ(drfs_get_le32(b.p + 14), 1);
		CHECK_EQ(drfs_keyfile_encrypted(b.p, b.len), e);
		memset(&got, 0, sizeof(got));
		CHECK_EQ(drfs_keyfile_open(b.p, b.len, "correct horse", &got),
			 0);
		CHECK(memcmp(got.data, k.data, 32) == 0);
		CHECK(memcmp(got.id, k.id, 32) == 0);
		CHECK(got.encrypted == (bool)e);
		if (e) {
			memset(&got, 0x5a, sizeof(got));
			struct drfs_keys before = got;
			CHECK_EQ(drfs_keyfile_open(b.p, b.len, "wrong horse",
						   &got), -EACCES);
			CHECK(memcmp(&got, &before, sizeof(got)) == 0);
			CHECK_EQ(drfs_keyfile_open(b.p, b.len, NULL, &got),
				 -ENOKEY);
			/* tampered header (aad) reads as a wrong passphrase */
			b.p[20] ^= 1;
			CHECK(drfs_keyfile_open(b.p, b.len, "correct horse",
						&got) < 0);
			b.p[20] ^= 1;
			/* absurd scrypt parameters are rejected unrun */
			b.p[9] = 40;
			CHECK_EQ(drfs_keyfile_open(b.p, b.len, "correct horse",
						   &got), -EBADMSG);
			b.p[9] = 10;
		} else {
			/* plain key files need no passphrase */
			CHECK_EQ(drfs_keyfile_open(b.p, b.len, NULL, &got), 0);
		}
		for (size_t n = 0; n < b.len; n++) {
			uint8_t *c = dup_n(b.p, n);
			CHECK_EQ(drfs_keyfile_encrypted(c, n), -EBADMSG);
			CHECK_EQ(drfs_keyfile_open(c, n, "correct horse", &got),
				 -EBADMSG);
			free(c);
		}
		b.p[0] = 'X';
		CHECK_EQ(drfs_keyfile_open(b.p, b.len, "correct horse", &got),
			 -EBADMSG);
		drfs_buf_release(&b);
	}
}

/* ---- config ------------------------------------------------------------ */

static bool config_eq(const struct drfs_config *a,
		      const struct drfs_config *b)
{
	return a->version == b->version &&
	       memcmp(a->repo_id, b->repo_id, 16) == 0 &&
	       a->chunker.min == b->chunker.min &&
	       a->chunker.avg == b->chunker.avg &&
	       a->chunker.max == b->chunker.max &&
	       a->chunker.norm == b->chunker.norm &&
	       a->zstd_level == b->zstd_level &&
	       a->pack_target == b->pack_target;
}

static void test_config(void)
{
	struct drfs_config c, d;
	struct drfs_buf b;

	golden_config(&c);
	drfs_buf_init(&b, 4096);
	CHECK_EQ(drfs_config_encode(&c, &b), 0);
	CHECK_EQ(drfs_config_decode(b.p, b.len, &d), 0);
	CHECK(config_eq(&c, &d));
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *t = dup_n(b.p, n);
		CHECK_EQ(drfs_config_decode(t, n, &d), -EBADMSG);
		free(t);
	}
	uint8_t *t = dup_n(b.p, b.len + 1);
	CHECK_EQ(drfs_config_decode(t, b.len + 1, &d), -EBADMSG);
	free(t);
	/* bad values */
	struct drfs_config bad[6];
	for (int i = 0; i < 6; i++)
		bad[i] = c;
	bad[0].version = 2;
	bad[1].chunker.avg = 3 << 19;
	bad[2].chunker.norm = 4;
	bad[3].zstd_level = 23;
	bad[4].pack_target = 1000;
	bad[5].chunker.min = 1024;
	for (int i = 0; i < 6; i++) {
		b.len = 0;
		CHECK_EQ(drfs_config_encode(&bad[i], &b), 0);
		int r = drfs_config_decode(b.p, b.len, &d);
		CHECK(r == (i == 0 ? -EPROTONOSUPPORT : -EBADMSG));
	}
	drfs_buf_release(&b);
}

/* ---- snapshots ----------------------------------------------------------- */

static void check_snapshot_eq(const struct drfs_snapshot *a,
			      const struct drfs_snapshot *b)
{
	CHECK(a->time.tv_sec == b->time.tv_sec);
	CHECK(a->time.tv_nsec == b->time.tv_nsec);
	CHECK(drfs_id_eq(&a->root, &b->root));
	CHECK(drfs_id_eq(&a->parent, &b->parent));
	CHECK(drfs_id_eq(&a->meta, &b->meta));
	CHECK(strcmp(a->host, b->host) == 0);
	CHECK(strcmp(a->path, b->path) == 0);
	CHECK_EQ(a->n_tags, b->n_tags);
	const char *x = a->tags, *y = b->tags;
	for (uint32_t i = 0; i < a->n_tags && i < b->n_tags; i++) {
		CHECK(strcmp(x, y) == 0);
		x += strlen(x) + 1;
		y += strlen(y) + 1;
	}
	CHECK(a->files == b->files && a->dirs == b->dirs &&
	      a->bytes == b->bytes && a->added_bytes == b->added_bytes &&
	      a->added_blobs == b->added_blobs);
	CHECK(strcmp(a->name, b->name) == 0);
	CHECK(a->duration_ms == b->duration_ms);
}

/*
 * s encodes (into b, payload version want_version), decodes to the same
 * fields and re-encodes to the same bytes; every truncation is corrupt.
 */
static void snapshot_round_trip(const struct drfs_snapshot *s,
				struct drfs_snapshot *d, struct drfs_buf *b,
				struct drfs_buf *b2, uint8_t want_version)
{
	b->len = b2->len = 0;
	CHECK_EQ(drfs_snapshot_encode(s, b), 0);
	CHECK_EQ(b->p[0], want_version);
	CHECK_EQ(drfs_snapshot_decode(b->p, b->len, d), 0);
	check_snapshot_eq(s, d);
	CHECK_EQ(drfs_snapshot_encode(d, b2), 0);
	CHECK(buf_eq(b, b2));
	for (size_t n = 0; n < b->len; n++) {
		uint8_t *t = dup_n(b->p, n);
		CHECK_EQ(drfs_snapshot_decode(t, n, d), -EBADMSG);
		free(t);
	}
}

static void test_snapshot(void)
{
	struct drfs_snapshot *s = calloc(1, sizeof(*s));
	struct drfs_snapshot *d = calloc(1, sizeof(*d));
	struct drfs_buf b, b2;

	golden_snapshot(s);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&b2, DRFS_SMALL_OBJECT_MAX);
	snapshot_round_trip(s, d, &b, &b2, 1);
	/* far future, maximal strings and tags */
	memset(s, 0, sizeof(*s));
	s->time.tv_sec = 7258118400ll; /* 2200 */
	memset(s->host, 'h', DRFS_HOST_MAX);
	memset(s->path, 'p', DRFS_PATH_MAX);
	s->n_tags = 8;
	char *t = s->tags;
	for (int i = 0; i < 8; i++) {
		memset(t, 'a' + i, 200);
		t[200] = 0;
		t += 201;
	}
	s->files = UINT64_MAX;
	b.len = b2.len = 0;
	CHECK_EQ(drfs_snapshot_encode(s, &b), 0);
	CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d), 0);
	check_snapshot_eq(s, d);
	CHECK_EQ(drfs_snapshot_encode(d, &b2), 0);
	CHECK(buf_eq(&b, &b2));
	/* too many tags */
	s->n_tags = DRFS_TAGS_MAX + 1;
	CHECK_EQ(drfs_snapshot_encode(s, &b), -EINVAL);
	/* a NUL inside the host */
	b.len = 0;
	CHECK_EQ(drfs_buf_u8(&b, 1), 0);
	CHECK_EQ(drfs_buf_svarint(&b, 0), 0);
	CHECK_EQ(drfs_buf_uvarint(&b, 0), 0);
	uint8_t z[96] = { 0 };
	CHECK_EQ(drfs_buf_append(&b, z, 96), 0);
	CHECK_EQ(drfs_buf_bytes(&b, "a\0b", 3), 0);
	CHECK_EQ(drfs_buf_bytes(&b, "/", 1), 0);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(drfs_buf_uvarint(&b, 0), 0);
	CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d), -EBADMSG);
	b.p[1 + 1 + 1 + 96 + 2] = 'x';
	CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d), 0);
	drfs_buf_release(&b);
	drfs_buf_release(&b2);
	free(s);
	free(d);
}

/*
 * Version 2: the recorded folder name. Round trip, every truncation, and
 * names that do not fit the snapshot's time are refused by the encoder and
 * (written by hand) by the decoder; version 1 stays version 1.
 */
/*
 * drfs_snapshot_has_tag: whole tags only, within n_tags; a count beyond the
 * buffer or a last tag without its NUL does not read past s->tags.
 */
static void test_snapshot_has_tag(void)
{
	struct drfs_snapshot *s = calloc(1, sizeof(*s));
	CHECK(s != NULL);
	if (!s)
		return;
	memcpy(s->tags, "a\0bc\0", 5);
	s->n_tags = 2;
	CHECK(drfs_snapshot_has_tag(s, "a"));
	CHECK(drfs_snapshot_has_tag(s, "bc"));
	CHECK(!drfs_snapshot_has_tag(s, "b"));
	CHECK(!drfs_snapshot_has_tag(s, ""));
	s->n_tags = 1;
	CHECK(!drfs_snapshot_has_tag(s, "bc"));
	s->n_tags = UINT32_MAX; /* then only empty tags: the buffer ends */
	CHECK(drfs_snapshot_has_tag(s, ""));
	memset(s->tags, 'x', sizeof(s->tags)); /* no NUL at all */
	CHECK(!drfs_snapshot_has_tag(s, "x"));
	free(s);
}

static void test_snapshot_named(void)
{
	struct drfs_snapshot *s = calloc(1, sizeof(*s));
	struct drfs_snapshot *d = calloc(1, sizeof(*d));
	struct drfs_buf b, b2;
	static const struct {
		const char *name;
		bool ok;
	} names[] = {
		{ "1968-12-31/235959", true },
		{ "1968-12-31/235959.1", true },
		{ "1968-12-31/235959.9999", true },
		{ "1968-12-31/235959.10000", false },
		{ "1968-12-31/235959.0", false },
		{ "1968-12-31/235959.01", false },
		{ "1968-12-31/235959.", false },
		{ "1968-12-31/235959.1a", false },
		{ "1968-12-31/235959x1", false },
		{ "1968-12-31/235958", false }, /* another second */
		{ "1968-12-31/23595", false },
		{ "", false },
	};

	golden_snapshot2(s);
	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&b2, DRFS_SMALL_OBJECT_MAX);
	snapshot_round_trip(s, d, &b, &b2, 2);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct timespec t = s->time;
		CHECK_EQ(drfs_snapshot_name_valid(names[i].name, &t),
			 names[i].ok);
		/* the decoder's verdict on the same name */
		b.len = 0;
		s->name[0] = 0;
		CHECK_EQ(drfs_snapshot_encode(s, &b), 0);
		b.p[0] = 2;
		CHECK_EQ(drfs_buf_bytes(&b, names[i].name,
					strlen(names[i].name)), 0);
		CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d),
			 names[i].ok ? 0 : -EBADMSG);
		snprintf(s->name, sizeof(s->name), "%s", names[i].name);
		b.len = 0;
		CHECK_EQ(drfs_snapshot_encode(s, &b),
			 names[i].ok ? 0 : names[i].name[0] ? -EINVAL : 0);
	}
	/* a version 1 object with a name appended is corrupt */
	s->name[0] = 0;
	b.len = 0;
	CHECK_EQ(drfs_snapshot_encode(s, &b), 0);
	CHECK_EQ(b.p[0], 1);
	CHECK_EQ(drfs_buf_bytes(&b, "1968-12-31/235959", 17), 0);
	CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d), -EBADMSG);
	/* version 3 (a duration), with a name and without one */
	golden_snapshot2(s);
	s->duration_ms = 1234567;
	snapshot_round_trip(s, d, &b, &b2, 3);
	CHECK_EQ(d->duration_ms, 1234567);
	s->name[0] = 0;
	snapshot_round_trip(s, d, &b, &b2, 3);
	/* a version 3 object without a duration is not canonical: corrupt */
	s->duration_ms = 0;
	b.len = 0;
	CHECK_EQ(drfs_snapshot_encode(s, &b), 0);
	CHECK_EQ(b.p[0], 1);
	b.p[0] = 3;
	CHECK_EQ(drfs_buf_bytes(&b, "", 0), 0);
	CHECK_EQ(drfs_buf_uvarint(&b, 0), 0);
	CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d), -EBADMSG);
	/* the same with a duration decodes; with a bad name it does not */
	b.len--;
	CHECK_EQ(drfs_buf_uvarint(&b, 7), 0);
	CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d), 0);
	CHECK_EQ(d->duration_ms, 7);
	/* version 4 is unknown */
	b.p[0] = 4;
	CHECK_EQ(drfs_snapshot_decode(b.p, b.len, d), -EBADMSG);
	/* years outside 0000..9999 cannot record a name */
	struct timespec far = { .tv_sec = 253402300800ll }; /* 10000-01-01 */
	char f[DRFS_FOLDER_BUF];
	drfs_snapshot_folder(&far, f);
	CHECK(!drfs_snapshot_name_valid(f, &far));
	drfs_buf_release(&b);
	drfs_buf_release(&b2);
	free(s);
	free(d);
}

/* ---- trees -------------------------------------------------------------- */

/* Decode a whole tree and encode it again. Returns the node count or < 0. */
static int tree_reencode(const uint8_t *p, size_t len, struct drfs_buf *out)
{
	struct drfs_tree_iter it;
	struct drfs_tree_enc enc;
	struct drfs_node n;
	static struct drfs_xattr xs[DRFS_XATTRS_MAX];
	static struct drfs_extent ex[4096];
	int r, count = 0;

	r = drfs_tree_iter_init(&it, p, len);
	if (r < 0)
		return r;
	drfs_tree_enc_init(&enc, out);
	while ((r = drfs_tree_iter_next(&it, &n)) > 0) {
		size_t nx = 0, ne = 0;
		while (drfs_node_next_xattr(&n, &xs[nx]) > 0)
			nx++;
		while (ne < 4096 && drfs_node_next_extent(&n, &ex[ne]) > 0)
			ne++;
		r = drfs_tree_enc_add(&enc, &n, xs, nx, ex, ne);
		if (r < 0)
			break;
		count++;
	}
	drfs_tree_enc_release(&enc);
	if (r == 0 && count == 0)
		r = drfs_buf_u8(out, 1);
	return r < 0 ? r : count;
}

/* Check the golden tree's decoded fields against golden/values.h. */
static void check_golden_tree(const uint8_t *p, size_t len)
{
	struct drfs_tree_iter it;
	struct drfs_node n;
	struct drfs_xattr x;
	struct drfs_extent e;
	struct drfs_id id;
	static const char *const names[] = { "a\nb", "blk", "chr", "dir",
		"empty", "fifo", "link", "sock", "z*255", "\xff\xfe" };
	static const uint32_t modes[] = { S_IFREG | 0644, S_IFBLK | 0660,
		S_IFCHR | 0600, S_IFDIR | 01777, S_IFREG | 04755,
		S_IFIFO | 0644, S_IFLNK | 0777, S_IFSOCK | 0755,
		S_IFREG | 0600, S_IFREG | 0400 };
	int i = 0, r;

	CHECK_EQ(drfs_tree_iter_init(&it, p, len), 0);
	while ((r = drfs_tree_iter_next(&it, &n)) > 0 && i < 10) {
		if (i == 8) {
			CHECK_EQ(n.name_len, 255);
			CHECK(n.name[0] == 'z' && n.name[254] == 'z');
		} else {
			CHECK(n.name_len == strlen(names[i]) &&
			      memcmp(n.name, names[i], n.name_len) == 0);
		}
		CHECK_EQ(n.mode, modes[i]);
		CHECK_EQ(n.atime.tv_sec, -1);
		CHECK_EQ(n.atime.tv_nsec, 1);
		CHECK_EQ(n.ctime.tv_sec, 4200000000ll);
		CHECK_EQ(n.mtime.tv_nsec, 123456789);
		switch (i) {
		case 0:
			CHECK_EQ(n.size, 10000000);
			CHECK_EQ(n.nlink, 2);
			CHECK_EQ(n.ino, 77);
			CHECK_EQ(n.uid, 1000);
			CHECK_EQ(n.gid, 100);
			CHECK_EQ(n.n_extents, 3);
			CHECK_EQ(n.n_xattrs, 2);
			CHECK_EQ(drfs_node_next_extent(&n, &e), 1);
			golden_id(&id, 10);
			CHECK(e.off == 0 && e.len == 4096 &&
			      drfs_id_eq(&e.id, &id));
			CHECK_EQ(drfs_node_next_extent(&n, &e), 1);
			golden_id(&id, 11);
			CHECK(e.off == 1 << 20 && e.len == 1 << 20 &&
			      drfs_id_eq(&e.id, &id));
			CHECK_EQ(drfs_node_next_extent(&n, &e), 1);
			CHECK(e.off == 9000000 && e.len == 1000000);
			CHECK_EQ(drfs_node_next_extent(&n, &e), 0);
			CHECK_EQ(drfs_node_next_xattr(&n, &x), 1);
			CHECK(x.name_len == 8 &&
			      !memcmp(x.name, "user.bin", 8));
			CHECK(x.value_len == 7 &&
			      !memcmp(x.value, "\0\1\2\xff\0\n\x80", 7));
			CHECK_EQ(drfs_node_next_xattr(&n, &x), 1);
			CHECK(x.name_len == 10 && x.value_len == 0);
			CHECK_EQ(drfs_node_next_xattr(&n, &x), 0);
			break;
		case 1:
			CHECK(n.rdev == makedev(8, 1));
			break;
		case 2:
			CHECK(n.rdev == makedev(1, 3));
			CHECK_EQ(n.mtime.tv_sec, -2208988800ll);
			break;
		case 3:
			golden_id(&id, 20);
			CHECK(drfs_id_eq(&n.subtree, &id));
			CHECK_EQ(n.n_xattrs, 1);
			break;
		case 6:
			CHECK(n.target_len == 24 &&
			      !memcmp(n.target, "../target\xff with\nnewline",
				      24));
			break;
		case 7:
			CHECK_EQ(n.uid, 4000000000u);
			break;
		case 9:
			CHECK(n.size == 1ull << 33 && n.n_extents == 0);
			break;
		}
		i++;
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(i, 10);
}

static void test_tree(void)
{
	struct drfs_buf b, b2;
	struct drfs_node n;

	drfs_buf_init(&b, DRFS_BLOB_MAX);
	drfs_buf_init(&b2, DRFS_BLOB_MAX);
	CHECK_EQ(golden_tree(&b), 0);
	check_golden_tree(b.p, b.len);
	CHECK_EQ(tree_reencode(b.p, b.len, &b2), 10);
	CHECK(buf_eq(&b, &b2));

	/* find */
	CHECK_EQ(drfs_tree_find(b.p, b.len, (const uint8_t *)"link", 4, &n),
		 0);
	CHECK(S_ISLNK(n.mode));
	CHECK_EQ(drfs_tree_find(b.p, b.len, (const uint8_t *)"lin", 3, &n),
		 -ENOENT);
	CHECK_EQ(drfs_tree_find(b.p, b.len, (const uint8_t *)"\xff\xff", 2,
				&n), -ENOENT);
	CHECK_EQ(drfs_tree_find(b.p, b.len, (const uint8_t *)"\xff\xfe", 2,
				&n), 0);

	/*
	 * Every truncation: fails, or is exactly an entry boundary (a
	 * shorter tree is a valid tree).
	 */
	size_t bounds[16], nb = 0;
	struct drfs_tree_iter it;
	CHECK_EQ(drfs_tree_iter_init(&it, b.p, b.len), 0);
	bounds[nb++] = it.rd.off;
	while (drfs_tree_iter_next(&it, &n) > 0 && nb < 16)
		bounds[nb++] = it.rd.off;
	CHECK_EQ(nb, 11);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *t = dup_n(b.p, len);
		int r = 0;
		if (drfs_tree_iter_init(&it, t, len) < 0) {
			r = -EBADMSG;
		} else {
			while ((r = drfs_tree_iter_next(&it, &n)) > 0) {
				struct drfs_xattr x;
				struct drfs_extent e;
				while (drfs_node_next_xattr(&n, &x) > 0)
					;
				while (drfs_node_next_extent(&n, &e) > 0)
					;
			}
		}
		bool boundary = false;
		for (size_t i = 0; i < nb; i++)
			boundary |= bounds[i] == len;
		CHECK(boundary ? r == 0 : r == -EBADMSG);
		free(t);
	}

	/* encoder refusals */
	struct drfs_tree_enc enc;
	struct drfs_buf o;
	drfs_buf_init(&o, 1 << 20);
	drfs_tree_enc_init(&enc, &o);
	memset(&n, 0, sizeof(n));
	n.mode = S_IFREG | 0644;
	static const char *const badnames[] = { "", ".", "..", "a/b" };
	for (int i = 0; i < 4; i++) {
		n.name = (const uint8_t *)badnames[i];
		n.name_len = strlen(badnames[i]);
		CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0),
			 -EINVAL);
	}
	n.name = (const uint8_t *)"a\0b";
	n.name_len = 3;
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), -EINVAL);
	n.name = (const uint8_t *)"b";
	n.name_len = 1;
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), 0);
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), -EINVAL);
	n.name = (const uint8_t *)"a";
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), -EINVAL);
	n.name = (const uint8_t *)"ba";
	n.name_len = 2;
	n.mode = 0170644;
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), -EINVAL);
	n.mode = S_IFREG | 0644;
	n.mtime.tv_nsec = 1000000000;
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), -EINVAL);
	n.mtime.tv_nsec = 0;
	struct drfs_extent ex = { .off = 0, .len = 10 };
	n.size = 5; /* extent past the size */
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, &ex, 1), -EINVAL);
	n.mode = S_IFLNK | 0777; /* symlink without target */
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), -EINVAL);
	size_t before = o.len;
	CHECK_EQ(enc.count, 1);
	CHECK_EQ(o.len, before);
	drfs_tree_enc_release(&enc);

	/* decoder refusals: unsorted, duplicate, bad version */
	uint8_t v2 = 2;
	CHECK_EQ(drfs_tree_iter_init(&it, &v2, 1), -EBADMSG);
	CHECK_EQ(drfs_tree_iter_init(&it, &v2, 0), -EBADMSG);
	o.len = 0;
	struct drfs_buf one;
	drfs_buf_init(&one, 1 << 20);
	drfs_tree_enc_init(&enc, &one);
	n.mode = S_IFIFO | 0600;
	n.name = (const uint8_t *)"same";
	n.name_len = 4;
	CHECK_EQ(drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0), 0);
	drfs_tree_enc_release(&enc);
	CHECK_EQ(drfs_buf_append(&o, one.p, one.len), 0);
	CHECK_EQ(drfs_buf_append(&o, one.p + 1, one.len - 1), 0);
	CHECK_EQ(drfs_tree_iter_init(&it, o.p, o.len), 0);
	CHECK_EQ(drfs_tree_iter_next(&it, &n), 1);
	CHECK_EQ(drfs_tree_iter_next(&it, &n), -EBADMSG);
	CHECK_EQ(drfs_tree_iter_next(&it, &n), -EBADMSG); /* sticky */
	drfs_buf_release(&one);
	drfs_buf_release(&o);
	drfs_buf_release(&b);
	drfs_buf_release(&b2);
}

/* ---- index objects ------------------------------------------------------ */

/* ---- forget records ----------------------------------------------------- */

/* Decode p and collect its entries (at most max) into e: the count. */
static int forget_entries(const void *p, size_t len,
			  struct drfs_forget_rec *h,
			  struct drfs_forget_entry *e, size_t max)
{
	int n = 0, r = drfs_forget_rec_decode(p, len, h);
	if (r < 0)
		return r;
	while ((size_t)n < max && drfs_forget_rec_next(h, &e[n]) > 0)
		n++;
	return n;
}

static void test_forget(void)
{
	struct drfs_forget_rec h = { 0 }, d;
	struct drfs_forget_entry e[4], got[4];
	struct drfs_buf b, b2;

	drfs_buf_init(&b, DRFS_SMALL_OBJECT_MAX);
	drfs_buf_init(&b2, DRFS_SMALL_OBJECT_MAX);
	/* the golden record: fields, re-encoding, every truncation */
	CHECK_EQ(golden_forget(&b), 0);
	CHECK_EQ(forget_entries(b.p, b.len, &d, got, 4), 3);
	CHECK_EQ(d.flags, 0);
	CHECK_EQ(d.n, 3);
	CHECK(d.time.tv_sec == 1765000000 && d.time.tv_nsec == 5);
	CHECK(strcmp(d.host, "golden-host.example") == 0);
	for (int i = 0; i < 3; i++) {
		struct drfs_id want;
		golden_id(&want, (uint8_t)(60 + i));
		CHECK(drfs_id_eq(&got[i].id, &want));
	}
	CHECK(got[0].time.tv_sec == -1 && got[0].time.tv_nsec == 999999999);
	CHECK(got[1].time.tv_sec == 1764000000 && got[1].time.tv_nsec == 0);
	CHECK(got[2].time.tv_sec == 0 && got[2].time.tv_nsec == 0);
	CHECK_EQ(drfs_forget_rec_encode(&d, got, 3, &b2), 0);
	CHECK(buf_eq(&b, &b2));
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *t = dup_n(b.p, n);
		CHECK_EQ(drfs_forget_rec_decode(t, n, &d), -EBADMSG);
		free(t);
	}
	/* one byte more, an unknown flag, another version */
	uint8_t *t = dup_n(b.p, b.len + 1);
	t[b.len] = 0;
	CHECK_EQ(drfs_forget_rec_decode(t, b.len + 1, &d), -EBADMSG);
	t[1] = 2;
	CHECK_EQ(drfs_forget_rec_decode(t, b.len, &d), -EBADMSG);
	t[1] = 0;
	t[0] = 2;
	CHECK_EQ(drfs_forget_rec_decode(t, b.len, &d), -EBADMSG);
	free(t);

	/* ids must be strictly increasing: the encoder refuses, and bytes
	 * with two ids swapped or repeated do not decode */
	memset(e, 0, sizeof(e));
	golden_id(&e[0].id, 9);
	golden_id(&e[1].id, 3);
	b.len = 0;
	CHECK_EQ(drfs_forget_rec_encode(&h, e, 2, &b), -EINVAL);
	e[1] = e[0];
	CHECK_EQ(drfs_forget_rec_encode(&h, e, 2, &b), -EINVAL);
	golden_id(&e[1].id, 10);
	CHECK_EQ(drfs_forget_rec_encode(&h, e, 2, &b), 0);
	size_t first = b.len - 2 * (DRFS_ID_LEN + 2);
	CHECK_EQ(b.p[first - 1], 2); /* the count */
	uint8_t *sw = dup_n(b.p, b.len);
	memcpy(sw + first, b.p + first + DRFS_ID_LEN + 2, DRFS_ID_LEN + 2);
	memcpy(sw + first + DRFS_ID_LEN + 2, b.p + first, DRFS_ID_LEN + 2);
	CHECK_EQ(drfs_forget_rec_decode(sw, b.len, &d), -EBADMSG);
	memcpy(sw + first + DRFS_ID_LEN + 2, sw + first, DRFS_ID_LEN + 2);
	CHECK_EQ(drfs_forget_rec_decode(sw, b.len, &d), -EBADMSG);
	free(sw);

	/* nothing forgotten: only as a baseline */
	b.len = 0;
	CHECK_EQ(drfs_forget_rec_encode(&h, NULL, 0, &b), -EINVAL);
	h.flags = DRFS_FORGET_F_BASELINE;
	CHECK_EQ(drfs_forget_rec_encode(&h, NULL, 0, &b), 0);
	CHECK_EQ(forget_entries(b.p, b.len, &d, got, 4), 0);
	CHECK_EQ(d.flags, DRFS_FORGET_F_BASELINE);
	b.p[1] = 0; /* the same bytes without the flag */
	CHECK_EQ(drfs_forget_rec_decode(b.p, b.len, &d), -EBADMSG);

	/* a count larger than the entries present, or than the limit */
	static const uint8_t big[] = { 1, 0, 0, 0, 0, 0x81, 0x80, 0x01 };
	CHECK_EQ(drfs_forget_rec_decode(big, sizeof(big), &d), -EBADMSG);
	b.len = 0;
	h.flags = 0;
	struct drfs_forget_entry *many =
		calloc(DRFS_FORGET_IDS_MAX + 1, sizeof(*many));
	for (uint32_t i = 0; i <= DRFS_FORGET_IDS_MAX; i++)
		drfs_put_le32(many[i].id.b + DRFS_ID_LEN - 4,
			      __builtin_bswap32(i));
	CHECK_EQ(drfs_forget_rec_encode(&h, many, DRFS_FORGET_IDS_MAX + 1,
					&b), -EINVAL);
	CHECK_EQ(drfs_forget_rec_encode(&h, many, DRFS_FORGET_IDS_MAX, &b), 0);
	CHECK(b.len < DRFS_SMALL_OBJECT_MAX);
	CHECK_EQ(drfs_forget_rec_decode(b.p, b.len, &d), 0);
	CHECK_EQ(d.n, DRFS_FORGET_IDS_MAX);
	free(many);
	drfs_buf_release(&b);
	drfs_buf_release(&b2);
}

static void test_indexobj(void)
{
	struct drfs_buf b, b2;
	struct drfs_indexobj_iter it;
	struct drfs_id pack, want;
	uint32_t plen;
	size_t n;
	const uint8_t *raw;
	struct drfs_pack_entry e[3];

	drfs_buf_init(&b, 1 << 20);
	drfs_buf_init(&b2, 1 << 20);
	CHECK_EQ(golden_index(&b), 0);
	CHECK_EQ(drfs_indexobj_iter_init(&it, b.p, b.len), 0);
	CHECK_EQ(drfs_indexobj_begin(&b2), 0);
	CHECK_EQ(drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw), 1);
	golden_id(&want, 40);
	CHECK(drfs_id_eq(&pack, &want) && plen == 5000 && n == 3);
	for (size_t i = 0; i < 3; i++)
		drfs_pack_entry_get(raw + i * DRFS_PACK_ENTRY_LEN, &e[i]);
	golden_id(&want, 51);
	CHECK(drfs_id_eq(&e[1].id, &want));
	CHECK(e[1].flags == DRFS_BLOB_F_ZSTD && e[1].raw_len == 5000 &&
	      e[1].offset == 1000 && e[1].stored_len == 900);
	CHECK(e[2].type == DRFS_BLOB_TREE);
	CHECK_EQ(drfs_indexobj_add(&b2, &pack, plen, e, n), 0);
	CHECK_EQ(drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw), 1);
	CHECK(plen == 100 && n == 0);
	CHECK_EQ(drfs_indexobj_add(&b2, &pack, plen, NULL, 0), 0);
	CHECK_EQ(drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw), 0);
	CHECK(buf_eq(&b, &b2));

	/* truncations: fail except at record boundaries (1, 1+37+3*46) */
	size_t rec1 = 1 + 32 + 4 + 1 + 3 * DRFS_PACK_ENTRY_LEN;
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *t = dup_n(b.p, len);
		int r = drfs_indexobj_iter_init(&it, t, len);
		while (r >= 0 &&
		       (r = drfs_indexobj_iter_next(&it, &pack, &plen, &n,
						    &raw)) > 0)
			;
		CHECK(len == 1 || len == rec1 ? r == 0 : r == -EBADMSG);
		free(t);
	}
	/* an entry beyond its pack's length */
	b.len = 0;
	CHECK_EQ(drfs_indexobj_begin(&b), 0);
	e[0].offset = 4500;
	CHECK_EQ(drfs_indexobj_add(&b, &pack, 5000, e, 1), 0);
	CHECK_EQ(drfs_indexobj_iter_init(&it, b.p, b.len), 0);
	CHECK_EQ(drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw),
		 -EBADMSG);
	drfs_buf_release(&b);
	drfs_buf_release(&b2);
}

/* ---- deletion records ----------------------------------------------------- */

static void test_deletion(void)
{
	struct drfs_deletion h = { .time = 1767225600, .n_holders = 2 }, d;
	struct drfs_buf idx, b, b2;
	struct drfs_indexobj_iter it;
	struct drfs_id pack;
	uint32_t plen;
	size_t n;
	const uint8_t *raw;

	drfs_buf_init(&idx, 1 << 20);
	drfs_buf_init(&b, 1 << 20);
	drfs_buf_init(&b2, 1 << 20);
	memset(h.prune, 0x11, sizeof(h.prune));
	memset(h.holders[0], 0x22, sizeof(h.holders[0]));
	memset(h.holders[1], 0x33, sizeof(h.holders[1]));
	CHECK_EQ(golden_index(&idx), 0);
	CHECK_EQ(drfs_deletion_begin(&h, &b), 0);
	size_t head = b.len;
	CHECK_EQ(head, 1 + 8 + 16 + 1 + 2 * 16 + 1u);
	CHECK_EQ(drfs_buf_append(&b, idx.p + 1, idx.len - 1), 0);
	CHECK_EQ(drfs_deletion_decode(b.p, b.len, &d), 0);
	CHECK(d.time == h.time && d.n_holders == 2 &&
	      !memcmp(d.prune, h.prune, 16) &&
	      !memcmp(d.holders[1], h.holders[1], 16));
	CHECK(d.index == b.p + head - 1 && d.index_len == idx.len);
	/* the index part iterates as the golden index object */
	CHECK_EQ(drfs_indexobj_iter_init(&it, d.index, d.index_len), 0);
	CHECK_EQ(drfs_indexobj_iter_next(&it, &pack, &plen, &n, &raw), 1);
	CHECK(plen == 5000 && n == 3);
	/* re-encoding reproduces it */
	CHECK_EQ(drfs_deletion_begin(&d, &b2), 0);
	CHECK_EQ(drfs_buf_append(&b2, d.index + 1, d.index_len - 1), 0);
	CHECK(buf_eq(&b, &b2));

	/* truncations fail except at the index part's record boundaries */
	size_t rec1 = head + 32 + 4 + 1 + 3 * DRFS_PACK_ENTRY_LEN;
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *t = dup_n(b.p, len);
		int r = drfs_deletion_decode(t, len, &d);
		CHECK(len == head || len == rec1 ? r == 0 : r == -EBADMSG);
		free(t);
	}
	/* a wrong version, too many holders, a bad index part */
	uint8_t *t = dup_n(b.p, b.len);
	t[0] = 2;
	CHECK_EQ(drfs_deletion_decode(t, b.len, &d), -EBADMSG);
	t[0] = 1;
	t[25] = DRFS_DELETION_HOLDERS_MAX + 1;
	CHECK_EQ(drfs_deletion_decode(t, b.len, &d), -EBADMSG);
	t[25] = 2;
	t[head - 1] = 2; /* the index part's version */
	CHECK_EQ(drfs_deletion_decode(t, b.len, &d), -EBADMSG);
	free(t);
	h.n_holders = DRFS_DELETION_HOLDERS_MAX + 1;
	CHECK_EQ(drfs_deletion_begin(&h, &b2), -EINVAL);
	drfs_buf_release(&idx);
	drfs_buf_release(&b);
	drfs_buf_release(&b2);
}

/* ---- packs and blobs ---------------------------------------------------- */

static void test_pack(void)
{
	struct drfs_keys k[2];
	struct drfs_zctx *z = drfs_zctx_new(3);
	golden_keys(&k[0], false);
	golden_keys(&k[1], true);

	for (int e = 0; e < 2; e++) {
		struct drfs_buf pack, blob, out;
		struct drfs_pack_entry pe[3];
		struct drfs_id id;

		drfs_buf_init(&pack, DRFS_PACK_MAX);
		drfs_buf_init(&blob, DRFS_BLOB_MAX);
		drfs_buf_init(&out, DRFS_BLOB_MAX);
		golden_blob1(&blob);
		drfs_blob_id(&k[e], "tiny", 4, &id);
		CHECK_EQ(drfs_blob_seal(&k[e], z, DRFS_BLOB_DATA, &id, "tiny",
					4, &pack, &pe[0]), 0);
		CHECK_EQ(pe[0].flags, 0);
		drfs_blob_id(&k[e], blob.p, blob.len, &id);
		CHECK_EQ(drfs_blob_seal(&k[e], z, DRFS_BLOB_DATA, &id, blob.p,
					blob.len, &pack, &pe[1]), 0);
		CHECK_EQ(pe[1].flags, DRFS_BLOB_F_ZSTD);
		CHECK(pe[1].stored_len < blob.len / 4);
		CHECK_EQ(pe[1].offset, pe[0].stored_len);
		/* no zctx: stored raw */
		CHECK_EQ(drfs_blob_seal(&k[e], NULL, DRFS_BLOB_TREE, &id,
					blob.p, blob.len, &pack, &pe[2]), 0);
		CHECK_EQ(pe[2].flags, 0);
		CHECK_EQ(pe[2].stored_len,
			 blob.len + (e ? DRFS_AEAD_OVERHEAD : 0));
		size_t toff = pack.len;
		CHECK_EQ(drfs_pack_finish(&k[e], pe, 3, &pack), 0);
		CHECK(memcmp(pack.p + pack.len - 8, DRFS_PACK_MAGIC, 8) == 0);

		uint64_t off;
		uint32_t tlen;
		struct drfs_pack_entry *got;
		size_t n;
		CHECK_EQ(drfs_pack_tail_parse(pack.p + pack.len - 12, 12,
					      pack.len, &off, &tlen), 0);
		CHECK_EQ(off, toff);
		CHECK_EQ(tlen, pack.len - 12 - toff);
		CHECK_EQ(drfs_pack_trailer_decode(&k[e], pack.p + off, tlen,
						  off, &got, &n), 0);
		CHECK_EQ(n, 3);
		for (size_t i = 0; i < 3 && n == 3; i++) {
			CHECK(memcmp(&got[i].id, &pe[i].id, 32) == 0);
			CHECK(got[i].offset == pe[i].offset &&
			      got[i].stored_len == pe[i].stored_len &&
			      got[i].raw_len == pe[i].raw_len &&
			      got[i].type == pe[i].type &&
			      got[i].flags == pe[i].flags);
			out.len = 0;
			CHECK_EQ(drfs_blob_open(&k[e], i ? z : NULL, &got[i],
						pack.p + got[i].offset,
						got[i].stored_len, &out), 0);
			CHECK_EQ(out.len, got[i].raw_len);
		}
		CHECK(memcmp(out.p, blob.p, blob.len) == 0);
		free(got);
		/* the trailer decoded against a smaller trailer offset */
		CHECK_EQ(drfs_pack_trailer_decode(&k[e], pack.p + off, tlen,
						  off - 1, &got, &n), -EBADMSG);
		/* wrong id, flipped byte, wrong type (aad) */
		struct drfs_pack_entry x = pe[0];
		out.len = 0;
		x.id.b[0] ^= 1;
		CHECK_EQ(drfs_blob_open(&k[e], z, &x, pack.p, x.stored_len,
					&out), -EBADMSG);
		x = pe[0];
		x.type = DRFS_BLOB_TREE;
		/* the type is authenticated (aad) only when encrypted */
		CHECK_EQ(drfs_blob_open(&k[e], z, &x, pack.p, x.stored_len,
					&out), e ? -EBADMSG : 0);
		out.len = 0;
		x = pe[1];
		pack.p[x.offset + x.stored_len / 2] ^= 0x10;
		CHECK_EQ(drfs_blob_open(&k[e], z, &x, pack.p + x.offset,
					x.stored_len, &out), -EBADMSG);
		pack.p[x.offset + x.stored_len / 2] ^= 0x10;
		CHECK_EQ(out.len, 0);
		/* truncations of the stored blob */
		for (size_t l = 0; l < pe[0].stored_len; l++) {
			uint8_t *t = dup_n(pack.p, l);
			x = pe[0];
			CHECK_EQ(drfs_blob_open(&k[e], z, &x, t, l, &out),
				 -EBADMSG);
			x.stored_len = (uint32_t)l;
			CHECK_EQ(drfs_blob_open(&k[e], z, &x, t, l, &out),
				 -EBADMSG);
			free(t);
		}
		/* every truncation of the pack fails at the tail or trailer */
		for (size_t l = 0; l < pack.len; l++) {
			int r = -EBADMSG;
			if (l >= 12)
				r = drfs_pack_tail_parse(pack.p + l - 12, 12, l,
							 &off, &tlen);
			if (r == 0) {
				r = drfs_pack_trailer_decode(&k[e],
					pack.p + off, tlen, off, &got, &n);
				if (r == 0)
					free(got);
			}
			CHECK_EQ(r, -EBADMSG);
		}
		drfs_buf_release(&pack);
		drfs_buf_release(&blob);
		drfs_buf_release(&out);
	}
	/* overlapping entries are refused */
	struct drfs_pack_entry ov[2];
	memset(ov, 0, sizeof(ov));
	ov[0].offset = 0;
	ov[0].stored_len = 10;
	ov[1].offset = 5;
	ov[1].stored_len = 10;
	struct drfs_buf p;
	drfs_buf_init(&p, 1 << 20);
	uint8_t zero[100] = { 0 };
	CHECK_EQ(drfs_buf_append(&p, zero, 100), 0);
	CHECK_EQ(drfs_pack_finish(&k[1], ov, 2, &p), 0);
	struct drfs_pack_entry *got;
	size_t n;
	CHECK_EQ(drfs_pack_trailer_decode(&k[1], p.p + 100, p.len - 112, 100,
					  &got, &n), -EBADMSG);
	drfs_buf_release(&p);
	drfs_zctx_free(z);
}

/* ---- object names ------------------------------------------------------- */

static void test_names(void)
{
	struct drfs_id id, got;
	char name[DRFS_OBJECT_NAME_MAX];

	golden_id(&id, 9);
	drfs_name_pack(&id, name);
	CHECK(strncmp(name, "data/3f/3f40", 12) == 0 &&
	      strlen(name) == 5 + 3 + 64);
	CHECK_EQ(drfs_name_parse(name, "data", &got), 0);
	CHECK(drfs_id_eq(&id, &got));
	name[5] = '0'; /* prefix no longer matches */
	CHECK_EQ(drfs_name_parse(name, "data", &got), -EINVAL);
	drfs_name_snapshot(&id, name);
	CHECK(strncmp(name, "snapshots/3f40", 14) == 0);
	CHECK_EQ(drfs_name_parse(name, "snapshots", &got), 0);
	CHECK_EQ(drfs_name_parse(name, "index", &got), -EINVAL);
	drfs_name_index(&id, name);
	CHECK(strncmp(name, "index/3f40", 10) == 0);
	CHECK_EQ(drfs_name_parse(name, "index", &got), 0);
	CHECK_EQ(drfs_name_parse("index/xyz", "index", &got), -EINVAL);

	/* folder-name claims: keyed, so they hide the time */
	struct drfs_keys k, k2;
	char n2[DRFS_OBJECT_NAME_MAX];
	golden_keys(&k, true);
	golden_keys(&k2, true);
	k2.id[0] ^= 1;
	drfs_name_claim(&k, "2026-01-02/030405", name);
	CHECK(strncmp(name, "names/", 6) == 0 && strlen(name) == 6 + 64);
	drfs_name_claim(&k, "2026-01-02/030405.1", n2);
	CHECK(strcmp(name, n2) != 0);
	drfs_name_claim(&k2, "2026-01-02/030405", n2);
	CHECK(strcmp(name, n2) != 0);
	/* golden value: HMAC-SHA-256(id key 0x22 x 32, "drfs-name" | folder) */
	CHECK(strcmp(name, "names/" GOLDEN_CLAIM_HEX) == 0);
	struct drfs_buf cb;
	uint8_t token[16];
	memset(token, 0xab, sizeof(token));
	drfs_buf_init(&cb, 4096);
	CHECK_EQ(drfs_claim_encode("2026-01-02/030405", token, &cb), 0);
	CHECK_EQ(cb.len, 1 + 16 + 1 + 17);
	CHECK(cb.p[0] == 1 && cb.p[17] == 17 &&
	      memcmp(cb.p + 18, "2026-01-02/030405", 17) == 0);
	drfs_buf_release(&cb);
	drfs_name_forget(&id, name);
	CHECK(strncmp(name, "forgotten/3f40", 14) == 0);
	CHECK_EQ(drfs_name_parse(name, "forgotten", &got), 0);
	CHECK(drfs_id_eq(&id, &got));
	CHECK_EQ(drfs_name_parse(name, "snapshots", &got), -EINVAL);
	drfs_name_deletion(&id, name);
	CHECK(strncmp(name, "deletions/3f40", 14) == 0);
	CHECK_EQ(drfs_name_parse(name, "deletions", &got), 0);
	CHECK(drfs_id_eq(&id, &got));
}

/* ---- golden files ------------------------------------------------------- */

static void test_golden(void)
{
	struct drfs_keys k[2], got;
	struct drfs_buf f, o, want;
	golden_keys(&k[0], false);
	golden_keys(&k[1], true);
	static const char *const sfx[] = { "plain", "enc" };
	char name[64];

	fprintf(stderr, "golden dir: %s\n", golden_dir);
	for (int e = 0; e < 2; e++) {
		drfs_buf_init(&o, DRFS_INDEX_OBJECT_MAX);
		drfs_buf_init(&want, DRFS_INDEX_OBJECT_MAX);

		snprintf(name, sizeof(name), "keyfile-%s", sfx[e]);
		if (load(name, &f) < 0) {
			CHECK(!"golden file missing");
			return;
		}
		CHECK_EQ(drfs_keyfile_open(f.p, f.len, GOLDEN_PASS, &got), 0);
		CHECK(memcmp(got.data, k[e].data, 32) == 0 &&
		      memcmp(got.id, k[e].id, 32) == 0 &&
		      got.encrypted == k[e].encrypted);
		if (e)
			CHECK_EQ(drfs_keyfile_open(f.p, f.len, "nope", &got),
				 -EACCES);
		drfs_buf_release(&f);

		/* config: fields and payload bytes */
		struct drfs_config c, gc;
		snprintf(name, sizeof(name), "config-%s", sfx[e]);
		CHECK_EQ(load(name, &f), 0);
		CHECK_EQ(drfs_unseal(&k[e], DRFS_OBJ_CONFIG, f.p, f.len, &o),
			 0);
		CHECK_EQ(drfs_config_decode(o.p, o.len, &c), 0);
		golden_config(&gc);
		CHECK(config_eq(&c, &gc));
		CHECK_EQ(drfs_config_encode(&gc, &want), 0);
		CHECK(buf_eq(&o, &want));
		drfs_buf_release(&f);

		/* snapshots: version 1, version 2 (recorded folder name) */
		static const struct {
			const char *name;
			void (*values)(struct drfs_snapshot *s);
		} gsnaps[] = { { "snapshot", golden_snapshot },
			       { "snapshot2", golden_snapshot2 } };
		for (size_t i = 0; i < ARRAY_SIZE(gsnaps); i++) {
			struct drfs_snapshot *s = calloc(1, sizeof(*s));
			struct drfs_snapshot *gs = calloc(1, sizeof(*gs));
			o.len = want.len = 0;
			snprintf(name, sizeof(name), "%s-%s", gsnaps[i].name,
				 sfx[e]);
			CHECK_EQ(load(name, &f), 0);
			CHECK_EQ(drfs_unseal(&k[e], DRFS_OBJ_SNAPSHOT, f.p,
					     f.len, &o),
				 0);
			CHECK_EQ(drfs_snapshot_decode(o.p, o.len, s), 0);
			gsnaps[i].values(gs);
			check_snapshot_eq(s, gs);
			CHECK_EQ(drfs_snapshot_encode(gs, &want), 0);
			CHECK(buf_eq(&o, &want));
			free(s);
			free(gs);
			drfs_buf_release(&f);
		}

		/* forget record */
		o.len = want.len = 0;
		snprintf(name, sizeof(name), "forget-%s", sfx[e]);
		CHECK_EQ(load(name, &f), 0);
		CHECK_EQ(drfs_unseal(&k[e], DRFS_OBJ_FORGET, f.p, f.len, &o),
			 0);
		CHECK_EQ(golden_forget(&want), 0);
		CHECK(buf_eq(&o, &want));
		drfs_buf_release(&f);

		/* index */
		o.len = want.len = 0;
		snprintf(name, sizeof(name), "index-%s", sfx[e]);
		CHECK_EQ(load(name, &f), 0);
		CHECK_EQ(drfs_unseal(&k[e], DRFS_OBJ_INDEX, f.p, f.len, &o), 0);
		CHECK_EQ(golden_index(&want), 0);
		CHECK(buf_eq(&o, &want));
		drfs_buf_release(&f);

		/* pack: entries re-encode to the trailer, blobs open */
		snprintf(name, sizeof(name), "pack-%s", sfx[e]);
		CHECK_EQ(load(name, &f), 0);
		uint64_t off;
		uint32_t tlen;
		struct drfs_pack_entry *pe = NULL;
		size_t n = 0;
		CHECK_EQ(drfs_pack_tail_parse(f.p + f.len - 12, 12, f.len, &off,
					      &tlen), 0);
		CHECK_EQ(drfs_pack_trailer_decode(&k[e], f.p + off, tlen, off,
						  &pe, &n), 0);
		CHECK_EQ(n, 3);
		if (n == 3) {
			o.len = want.len = 0;
			CHECK_EQ(drfs_unseal(&k[e], DRFS_OBJ_PACK_TRAILER,
					     f.p + off, tlen, &o), 0);
			CHECK_EQ(drfs_buf_u8(&want, 1), 0);
			CHECK_EQ(drfs_buf_le32(&want, 3), 0);
			for (int i = 0; i < 3; i++) {
				uint8_t raw[DRFS_PACK_ENTRY_LEN];
				drfs_pack_entry_put(raw, &pe[i]);
				CHECK_EQ(drfs_buf_append(&want, raw, 46), 0);
			}
			CHECK(buf_eq(&o, &want));
			struct drfs_buf blob;
			drfs_buf_init(&blob, DRFS_BLOB_MAX);
			for (int i = 0; i < 3; i++) {
				o.len = 0;
				CHECK_EQ(drfs_blob_open(&k[e], NULL, &pe[i],
							f.p + pe[i].offset,
							pe[i].stored_len, &o),
					 0);
				blob.len = 0;
				if (i == 0)
					CHECK_EQ(drfs_buf_append(&blob,
						GOLDEN_BLOB0,
						strlen(GOLDEN_BLOB0)), 0);
				else if (i == 1)
					golden_blob1(&blob);
				else
					CHECK_EQ(golden_tree(&blob), 0);
				CHECK(buf_eq(&o, &blob));
				CHECK_EQ(pe[i].type, i == 2 ? DRFS_BLOB_TREE :
							      DRFS_BLOB_DATA);
				struct drfs_id id;
				drfs_blob_id(&k[e], blob.p, blob.len, &id);
				CHECK(drfs_id_eq(&id, &pe[i].id));
			}
			CHECK_EQ(pe[1].flags, DRFS_BLOB_F_ZSTD);
			CHECK_EQ(pe[0].offset, 0);
			drfs_buf_release(&blob);
		}
		free(pe);
		drfs_buf_release(&f);
		drfs_buf_release(&o);
		drfs_buf_release(&want);
	}

	/* the tree: fields, and re-encoding is byte for byte */
	CHECK_EQ(load("tree", &f), 0);
	check_golden_tree(f.p, f.len);
	drfs_buf_init(&o, DRFS_BLOB_MAX);
	drfs_buf_init(&want, DRFS_BLOB_MAX);
	CHECK_EQ(tree_reencode(f.p, f.len, &o), 10);
	CHECK(buf_eq(&f, &o));
	CHECK_EQ(golden_tree(&want), 0);
	CHECK(buf_eq(&f, &want));
	/* blob id of the golden tree under the golden id key */
	struct drfs_id id;
	char hex[65];
	drfs_blob_id(&k[0], f.p, f.len, &id);
	fprintf(stderr, "golden tree blob id %s\n", drfs_id_hex(&id, hex));
	drfs_buf_release(&f);
	drfs_buf_release(&o);
	drfs_buf_release(&want);
}

/*
 * drfs_tree_walk over a chain of WALK_DEPTH trees: tree k holds "d" (tree
 * k + 1, but for the last) and "f" (a file of size k), made from its id by
 * chain_read. The walk runs on a thread with a WALK_STACK stack, which any
 * recursion per level would overflow: every file is met once, at its
 * depth, and a level's node stays valid below it. A tree that cannot be
 * read is not pushed and its error comes back.
 */
#define WALK_DEPTH 100000
#define WALK_STACK (256u << 10)

struct chain_walk {
	uint64_t fail_at; /* chain_read fails for this tree */
	int e;
	uint64_t files, sizes, max_depth;
	bool node_lost;
};

static int chain_read(void *ud, const struct drfs_id *id,
		      struct drfs_buf *out)
{
	const struct chain_walk *c = ud;
	uint64_t k = drfs_get_le64(id->b);
	struct drfs_tree_enc enc;
	struct drfs_node n = { .name = (const uint8_t *)"d", .name_len = 1,
			       .mode = S_IFDIR | 0755, .nlink = 2 };
	int e = 0;

	if (k == c->fail_at)
		return -EIO;
	drfs_tree_enc_init(&enc, out);
	if (k + 1 < WALK_DEPTH) {
		drfs_put_le64(n.subtree.b, k + 1);
		e = drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);
	}
	n = (struct drfs_node){ .name = (const uint8_t *)"f", .name_len = 1,
				.mode = S_IFREG | 0644, .nlink = 1, .size = k };
	e = e ?: drfs_tree_enc_add(&enc, &n, NULL, 0, NULL, 0);
	drfs_tree_enc_release(&enc);
	return e;
}

static void *chain_walk(void *arg)
{
	struct chain_walk *c = arg;
	struct drfs_tree_walk w;
	struct drfs_node *n;
	struct drfs_id root = { 0 };

	drfs_tree_walk_init(&w, chain_read, c);
	c->e = drfs_tree_walk_push(&w, &root);
	while (c->e >= 0 && drfs_tree_walk_depth(&w)) {
		size_t depth = drfs_tree_walk_depth(&w);
		c->max_depth = MAX(c->max_depth, depth);
		if (depth > 1) {
			struct drfs_tree_level *up = w.levels.v[depth - 2];
			c->node_lost |= up->node.name_len != 1 ||
					up->node.name[0] != 'd';
		}
		c->e = drfs_tree_walk_next(&w, &n);
		if (c->e == 0) {
			drfs_tree_walk_pop(&w);
		} else if (c->e > 0 && S_ISDIR(n->mode)) {
			c->e = drfs_tree_walk_push(&w, &n->subtree);
		} else if (c->e > 0) {
			c->files++;
			c->sizes += n->size;
			c->node_lost |= n->size != depth - 1;
		}
	}
	drfs_tree_walk_release(&w);
	return NULL;
}

static void run_chain_walk(struct chain_walk *c)
{
	pthread_attr_t a;
	pthread_t th;
	CHECK_EQ(pthread_attr_init(&a), 0);
	CHECK_EQ(pthread_attr_setstacksize(&a, WALK_STACK), 0);
	CHECK_EQ(pthread_create(&th, &a, chain_walk, c), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	pthread_attr_destroy(&a);
}

static void test_tree_walk(void)
{
	struct chain_walk c = { .fail_at = UINT64_MAX };
	run_chain_walk(&c);
	CHECK_EQ(c.e, 0);
	CHECK_EQ(c.files, WALK_DEPTH);
	CHECK(c.sizes == (uint64_t)WALK_DEPTH * (WALK_DEPTH - 1) / 2);
	CHECK_EQ(c.max_depth, WALK_DEPTH);
	CHECK(!c.node_lost);

	c = (struct chain_walk){ .fail_at = WALK_DEPTH / 2 };
	run_chain_walk(&c);
	CHECK_EQ(c.e, -EIO);
	CHECK_EQ(c.max_depth, WALK_DEPTH / 2); /* the failed one not pushed */
	CHECK_EQ(c.files, 0); /* "d" sorts first: no file was reached */
	CHECK(!c.node_lost);
}

/*
 * drfs_walk_path_add: names are appended while the path and "/..." fit;
 * then the path ends in "/...", stays so however deep the walk goes, and
 * cutting it back at a level's length restores that level's path.
 */
static void test_walk_path(void)
{
	char p[16];
	size_t a, b, c, d;
	p[0] = 0;
	a = drfs_walk_path_add(p, sizeof(p), 0, (const uint8_t *)"abc", 3);
	CHECK_EQ(a, 4);
	CHECK(strcmp(p, "/abc") == 0);
	b = drfs_walk_path_add(p, sizeof(p), a, (const uint8_t *)"de", 2);
	CHECK_EQ(b, 7);
	CHECK(strcmp(p, "/abc/de") == 0);
	/* 7 + 1 + 3 + 4 == 15 < 16: still fits, with room for "/..." */
	c = drfs_walk_path_add(p, sizeof(p), b, (const uint8_t *)"fgh", 3);
	CHECK_EQ(c, 11);
	CHECK(strcmp(p, "/abc/de/fgh") == 0);
	d = drfs_walk_path_add(p, sizeof(p), c, (const uint8_t *)"i", 1);
	CHECK(d & DRFS_WALK_PATH_CUT);
	CHECK(strcmp(p, "/abc/de/fgh/...") == 0);
	CHECK_EQ(d & ~DRFS_WALK_PATH_CUT, 15);
	/* deeper: unchanged */
	CHECK_EQ(drfs_walk_path_add(p, sizeof(p), d, (const uint8_t *)"j", 1),
		 d);
	CHECK(strcmp(p, "/abc/de/fgh/...") == 0);
	/* back up to "/abc/de", then a sibling too long for the rest */
	p[b & ~DRFS_WALK_PATH_CUT] = 0;
	CHECK(strcmp(p, "/abc/de") == 0);
	c = drfs_walk_path_add(p, sizeof(p), b, (const uint8_t *)"klmn", 4);
	CHECK(c & DRFS_WALK_PATH_CUT);
	CHECK(strcmp(p, "/abc/de/...") == 0);
}

int main(void)
{
	test_init("test_format");
	if (drfs_crypto_init() < 0) {
		fprintf(stderr, "crypto init failed\n");
		return 1;
	}
	find_golden();
	test_seal();
	test_keyfile();
	test_config();
	test_snapshot();
	test_snapshot_named();
	test_snapshot_has_tag();
	test_forget();
	test_tree();
	test_tree_walk();
	test_walk_path();
	test_indexobj();
	test_deletion();
	test_pack();
	test_names();
	test_golden();
	return test_done("test_format");
}
