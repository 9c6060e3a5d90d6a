/* SPDX-License-Identifier: MIT */
/*
 * test_crypto.c - HMAC (RFC 4231), SHA-256, AES-256-GCM tamper detection,
 * scrypt (RFC 7914), key generation, and a blob-id throughput figure.
 */
#include <pthread.h>

#include "drfs/crypto.h"
#include "drfs/limits.h"
#include "test.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static bool eq_hex(const uint8_t *p, const char *hex)
{
	char got[2 * 64 + 1];
	size_t n = strlen(hex) / 2;

	drfs_hex(p, n, got);
	if (strcmp(got, hex) == 0)
		return true;
	fprintf(stderr, "  got      %s\n  expected %s\n", got, hex);
	return false;
}

static void test_hmac_rfc4231(void)
{
	static const struct {
		const char *key; /* hex, or NULL with fill/len */
		uint8_t fill;
		size_t key_len;
		const char *data; /* text, or NULL with dfill/dlen */
		uint8_t dfill;
		size_t data_len;
		const char *mac; /* hex; may be a truncated prefix */
	} v[] = {
		{ NULL, 0x0b, 20, "Hi There", 0, 0,
		  "b0344c61d8db38535ca8afceaf0bf12b"
		  "881dc200c9833da726e9376c2e32cff7" },
		{ "4a656665", 0, 4, "what do ya want for nothing?", 0, 0,
		  "5bdcc146bf60754e6a042426089575c7"
		  "5a003f089d2739839dec58b964ec3843" },
		{ NULL, 0xaa, 20, NULL, 0xdd, 50,
		  "773ea91e36800e46854db8ebd09181a7"
		  "2959098b3ef8c122d9635514ced565fe" },
		{ "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 25,
		  NULL, 0xcd, 50,
		  "82558a389a443c0ea4cc819899f2083a"
		  "85f0faa3e578f8077a2e3ff46729665b" },
		{ NULL, 0x0c, 20, "Test With Truncation", 0, 0,
		  "a3b6167473100ee06e0c796c2955552b" },
		{ NULL, 0xaa, 131,
		  "Test Using Larger Than Block-Size Key - Hash Key First", 0,
		  0,
		  "60e431591ee0b67f0d8a26aacbf5b77f"
		  "8e0bc6213728c5140546040f0ee37f54" },
		{ NULL, 0xaa, 131,
		  "This is a test using a larger than block-size key and a "
		  "larger than block-size data. The key needs to be hashed "
		  "before being used by the HMAC algorithm.",
		  0, 0,
		  "9b09ffa71b942fcb27635fbcd5b0e944"
		  "bfdc63644f0713938a7f51535c3a35e2" },
	};

	/* Twice: the second round runs with the per-thread key cache warm. */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
			uint8_t key[131], data[64], mac[32];
			const uint8_t *d = data;
			size_t dlen = v[i].data_len;

			if (v[i].key)
				unhex(v[i].key, key, v[i].key_len);
			else
				memset(key, v[i].fill, v[i].key_len);
			if (v[i].data) {
				d = (const uint8_t *)v[i].data;
				dlen = strlen(v[i].data);
			} else {
				memset(data, v[i].dfill, dlen);
			}
			drfs_hmac_sha256(key, v[i].key_len, d, dlen, mac);
			if (!eq_hex(mac, v[i].mac)) {
				fprintf(stderr, "rfc4231 case %zu\n", i + 1);
				CHECK(false);
			}
		}
	}
}

static void test_blob_id(void)
{
	struct drfs_keys k;
	struct drfs_id a, b;
	uint8_t mac[32];

	CHECK_EQ(drfs_keys_generate(&k, true), 0);
	drfs_blob_id(&k, "hello", 5, &a);
	drfs_hmac_sha256(k.id, sizeof(k.id), "hello", 5, mac);
	CHECK(memcmp(a.b, mac, 32) == 0);
	drfs_blob_id(&k, "hellp", 5, &b);
	CHECK(!drfs_id_eq(&a, &b));
	/* Switching keys between calls must re-key the cache. */
	uint8_t other[32] = { 1 };
	drfs_hmac_sha256(other, sizeof(other), "hello", 5, mac);
	CHECK(memcmp(a.b, mac, 32) != 0);
	drfs_blob_id(&k, "hello", 5, &b);
	CHECK(drfs_id_eq(&a, &b));
	/* Same key length 32, differing only in the last byte. */
	struct drfs_keys k2 = k;
	k2.id[31] ^= 1;
	drfs_blob_id(&k2, "hello", 5, &b);
	CHECK(!drfs_id_eq(&a, &b));
	drfs_keys_wipe(&k);
	drfs_keys_wipe(&k2);
}

static void *blob_id_thread(void *arg)
{
	const struct drfs_keys *k = arg;
	struct drfs_id id;
	uint8_t mac[32];

	for (int i = 0; i < 2000; i++) {
		drfs_blob_id(k, &i, sizeof(i), &id);
		drfs_hmac_sha256(k->id, sizeof(k->id), &i, sizeof(i), mac);
		if (memcmp(id.b, mac, 32) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void)
{
	struct drfs_keys k[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		CHECK_EQ(drfs_keys_generate(&k[i], true), 0);
		CHECK_EQ(pthread_create(&t[i], NULL, blob_id_thread, &k[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		CHECK(r == NULL);
	}
}

static void test_sha256(void)
{
	struct drfs_id id;

	drfs_sha256("abc", 3, &id);
	CHECK(eq_hex(id.b, "ba7816bf8f01cfea414140de5dae2223"
			   "b00361a396177a9cb410ff61f20015ad"));
	drfs_sha256("", 0, &id);
	CHECK(eq_hex(id.b, "e3b0c44298fc1c149afbf4c8996fb924"
			   "27ae41e4649b934ca495991b7852b855"));
}

static void test_aead(void)
{
	uint8_t key[DRFS_KEY_LEN], msg[40], aad[10];
	struct drfs_buf sealed, opened;

	test_fill(key, sizeof(key));
	test_fill(msg, sizeof(msg));
	test_fill(aad, sizeof(aad));
	drfs_buf_init(&sealed, 1 << 20);
	drfs_buf_init(&opened, 1 << 20);

	/* Appends after existing content. */
	CHECK_EQ(drfs_buf_append(&sealed, "xy", 2), 0);
	CHECK_EQ(drfs_aead_seal(key, aad, sizeof(aad), msg, sizeof(msg),
				&sealed),
		 0);
	CHECK_EQ(sealed.len, 2 + sizeof(msg) + DRFS_AEAD_OVERHEAD);
	const uint8_t *s = sealed.p + 2;
	size_t slen = sealed.len - 2;

	CHECK_EQ(drfs_aead_open(key, aad, sizeof(aad), s, slen, &opened), 0);
	CHECK_EQ(opened.len, sizeof(msg));
	CHECK(opened.len == sizeof(msg) && !memcmp(opened.p, msg, sizeof(msg)));
	/* Ciphertext is not the plaintext. */
	CHECK(memcmp(s + DRFS_NONCE_LEN, msg, sizeof(msg)) != 0);

	/* Every single-bit flip of the sealed message fails. */
	uint8_t tmp[sizeof(msg) + DRFS_AEAD_OVERHEAD];
	int bad = 0;
	memcpy(tmp, s, slen);
	for (size_t bit = 0; bit < slen * 8; bit++) {
		tmp[bit / 8] ^= 1u << (bit % 8);
		drfs_buf_reset(&opened);
		if (drfs_aead_open(key, aad, sizeof(aad), tmp, slen,
				   &opened) != -EBADMSG ||
		    opened.len != 0)
			bad++;
		tmp[bit / 8] ^= 1u << (bit % 8);
	}
	CHECK_EQ(bad, 0);
	/* ... and of the aad. */
	for (size_t bit = 0; bit < sizeof(aad) * 8; bit++) {
		aad[bit / 8] ^= 1u << (bit % 8);
		drfs_buf_reset(&opened);
		if (drfs_aead_open(key, aad, sizeof(aad), s, slen, &opened) !=
		    -EBADMSG)
			bad++;
		aad[bit / 8] ^= 1u << (bit % 8);
	}
	CHECK_EQ(bad, 0);
	/* Missing aad, wrong key. */
	CHECK_EQ(drfs_aead_open(key, NULL, 0, s, slen, &opened), -EBADMSG);
	key[0] ^= 0x80;
	CHECK_EQ(drfs_aead_open(key, aad, sizeof(aad), s, slen, &opened),
		 -EBADMSG);
	key[0] ^= 0x80;
	/* Truncation: every shorter length fails. */
	for (size_t n = 0; n < slen; n++) {
		drfs_buf_reset(&opened);
		if (drfs_aead_open(key, aad, sizeof(aad), s, n, &opened) !=
		    -EBADMSG)
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(drfs_aead_open(key, aad, sizeof(aad), NULL, 0, &opened),
		 -EBADMSG);

	/* Two seals of the same message differ (random nonce). */
	struct drfs_buf s2;
	drfs_buf_init(&s2, 1 << 20);
	CHECK_EQ(drfs_aead_seal(key, aad, sizeof(aad), msg, sizeof(msg), &s2),
		 0);
	CHECK(s2.len == slen && memcmp(s2.p, s, slen) != 0);

	/* Empty plaintext, no aad. */
	drfs_buf_reset(&s2);
	drfs_buf_reset(&opened);
	CHECK_EQ(drfs_aead_seal(key, NULL, 0, NULL, 0, &s2), 0);
	CHECK_EQ(s2.len, DRFS_AEAD_OVERHEAD);
	CHECK_EQ(drfs_aead_open(key, NULL, 0, s2.p, s2.len, &opened), 0);
	CHECK_EQ(opened.len, 0);

	/* Output limit: -E2BIG and the buffer untouched. */
	struct drfs_buf small;
	drfs_buf_init(&small, sizeof(msg) + DRFS_AEAD_OVERHEAD - 1);
	CHECK_EQ(drfs_aead_seal(key, NULL, 0, msg, sizeof(msg), &small),
		 -E2BIG);
	CHECK_EQ(small.len, 0);
	drfs_buf_release(&small);
	drfs_buf_init(&small, sizeof(msg) - 1);
	CHECK_EQ(drfs_aead_open(key, aad, sizeof(aad), s, slen, &small),
		 -E2BIG);
	CHECK_EQ(small.len, 0);
	drfs_buf_release(&small);

	/* A larger message. */
	size_t big_len = 3 << 20;
	uint8_t *big = malloc(big_len);
	test_fill(big, big_len);
	drfs_buf_release(&s2);
	drfs_buf_init(&s2, DRFS_BLOB_STORED_MAX);
	drfs_buf_release(&opened);
	drfs_buf_init(&opened, DRFS_BLOB_MAX);
	CHECK_EQ(drfs_aead_seal(key, aad, 3, big, big_len, &s2), 0);
	CHECK_EQ(drfs_aead_open(key, aad, 3, s2.p, s2.len, &opened), 0);
	CHECK(opened.len == big_len && !memcmp(opened.p, big, big_len));
	free(big);

	drfs_buf_release(&s2);
	drfs_buf_release(&sealed);
	drfs_buf_release(&opened);
}

static void test_scrypt(void)
{
	static const struct {
		const char *pass, *salt;
		struct drfs_scrypt_params sp;
		bool check_ok;
		const char *out; /* first 32 bytes of the 64-byte RFC output */
	} v[] = {
		{ "", "", { 4, 1, 1 }, false,
		  "77d6576238657b203b19ca42c18a0497"
		  "f16b4844e3074ae8dfdffa3fede21442" },
		{ "password", "NaCl", { 10, 8, 16 }, true,
		  "fdbabe1c9d3472007856e7190d01e9fe"
		  "7c6ad7cbc8237830e77376634b373162" },
		{ "pleaseletmein", "SodiumChloride", { 14, 8, 1 }, true,
		  "7023bdcb3afd7348461c06cd81fd38eb"
		  "fda8fbba904f8e3ea9b543f6545da1f2" },
	};
	uint8_t out[DRFS_KEY_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		CHECK_EQ(drfs_scrypt_check(&v[i].sp), v[i].check_ok ? 0
								    : -EBADMSG);
		CHECK_EQ(drfs_scrypt(v[i].pass, strlen(v[i].pass),
				     (const uint8_t *)v[i].salt,
				     strlen(v[i].salt), &v[i].sp, out),
			 0);
		CHECK(eq_hex(out, v[i].out));
	}

	static const struct {
		struct drfs_scrypt_params sp;
		int want;
	} c[] = {
		{ { 15, 8, 1 }, 0 },
		{ { 10, 1, 1 }, 0 },
		{ { 9, 8, 1 }, -EBADMSG },
		{ { 22, 1, 1 }, 0 },
		{ { 23, 1, 1 }, -EBADMSG },
		{ { 15, 0, 1 }, -EBADMSG },
		{ { 15, 32, 1 }, 0 },
		{ { 15, 33, 1 }, -EBADMSG },
		{ { 15, 8, 0 }, -EBADMSG },
		{ { 15, 8, 16 }, 0 },
		{ { 15, 8, 17 }, -EBADMSG },
		{ { 20, 8, 1 }, 0 },	   /* exactly 1 GiB */
		{ { 21, 8, 1 }, -EBADMSG }, /* 2 GiB */
		{ { 22, 32, 16 }, -EBADMSG },
		{ { 255, 8, 1 }, -EBADMSG },
	};
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		if (drfs_scrypt_check(&c[i].sp) != c[i].want) {
			fprintf(stderr, "scrypt_check case %zu\n", i);
			CHECK(false);
		}
	}
	/* drfs_scrypt itself refuses what exceeds the limits. */
	struct drfs_scrypt_params huge = { 21, 8, 1 };
	CHECK_EQ(drfs_scrypt("a", 1, (const uint8_t *)"b", 1, &huge, out),
		 -EBADMSG);
}

static void test_keys(void)
{
	struct drfs_keys a, b, z;

	memset(&z, 0, sizeof(z));
	CHECK_EQ(drfs_keys_generate(&a, true), 0);
	CHECK_EQ(drfs_keys_generate(&b, false), 0);
	CHECK(a.encrypted && !b.encrypted);
	CHECK(memcmp(a.data, b.data, DRFS_KEY_LEN) != 0);
	CHECK(memcmp(a.id, b.id, DRFS_KEY_LEN) != 0);
	CHECK(memcmp(a.data, a.id, DRFS_KEY_LEN) != 0);
	CHECK(memcmp(a.data, z.data, DRFS_KEY_LEN) != 0);
	drfs_keys_wipe(&a);
	CHECK(memcmp(&a, &z, sizeof(z)) == 0);
	drfs_keys_wipe(NULL);
}

static void bench_blob_id(void)
{
	size_t len = 1 << 20;
	uint8_t *p = malloc(len);
	struct drfs_keys k;
	struct drfs_id id;
	double t;
	int n = 64;

	test_fill(p, len);
	CHECK_EQ(drfs_keys_generate(&k, true), 0);
	t = drfs_now_mono();
	for (int i = 0; i < n; i++)
		drfs_blob_id(&k, p, len, &id);
	t = drfs_now_mono() - t;
	fprintf(stderr, "blob_id 1 MiB: %.0f MB/s\n",
		n * (double)len / t / 1e6);
	n = 200000;
	t = drfs_now_mono();
	for (int i = 0; i < n; i++)
		drfs_blob_id(&k, p, 64, &id);
	t = drfs_now_mono() - t;
	fprintf(stderr, "blob_id 64 B: %.0f ns/call\n", t / n * 1e9);
	free(p);
}

int main(void)
{
	test_init("test_crypto");
	CHECK_EQ(drfs_crypto_init(), 0);
	CHECK_EQ(drfs_crypto_init(), 0);
	test_hmac_rfc4231();
	test_blob_id();
	test_threads();
	test_sha256();
	test_aead();
	test_scrypt();
	test_keys();
	bench_blob_id();
	return test_done("test_crypto");
}
