/* SPDX-License-Identifier: MIT */
/*
 * keyfile.c - keys/<id>: the master keys, wrapped under scrypt(passphrase).
 */
#include <openssl/crypto.h>

#include "drfs/format.h"

#define KEY_MAGIC "DRFSKEY1"
#define KEY_HEADER_LEN 50 /* magic 8, enc 1, log2n 1, r 4, p 4, salt 32 */

int drfs_keyfile_encrypted(const void *p, size_t len)
{
	const uint8_t *b = p;
	if (len < KEY_HEADER_LEN || memcmp(b, KEY_MAGIC, 8) != 0)
		return -EBADMSG;
	if (b[8] == 1 && len == DRFS_KEYFILE_LEN_ENC)
		return 1;
	if (b[8] == 0 && len == DRFS_KEYFILE_LEN_PLAIN)
		return 0;
	return -EBADMSG;
}

int drfs_keyfile_create(const struct drfs_keys *k, const char *pass,
			const struct drfs_scrypt_params *sp,
			struct drfs_buf *out)
{
	uint8_t h[KEY_HEADER_LEN];
	uint8_t keys[64];
	uint8_t wrap[DRFS_KEY_LEN];
	size_t old = out->len;
	int r;

	memcpy(h, KEY_MAGIC, 8);
	h[8] = k->encrypted ? 1 : 0;
	h[9] = sp->log2n;
	drfs_put_le32(h + 10, sp->r);
	drfs_put_le32(h + 14, sp->p);
	r = drfs_random(h + 18, 32);
	if (r < 0)
		return r;
	memcpy(keys, k->data, 32);
	memcpy(keys + 32, k->id, 32);
	r = drfs_buf_append(out, h, sizeof(h));
	if (r < 0)
		goto out;
	if (!k->encrypted) {
		r = drfs_buf_append(out, keys, sizeof(keys));
		goto out;
	}
	r = drfs_scrypt_check(sp);
	if (r < 0)
		goto out;
	r = drfs_scrypt(pass, strlen(pass), h + 18, 32, sp, wrap);
	if (r < 0)
		goto out;
	r = drfs_aead_seal(wrap, h, sizeof(h), keys, sizeof(keys), out);
out:
	OPENSSL_cleanse(keys, sizeof(keys));
	OPENSSL_cleanse(wrap, sizeof(wrap));
	if (r < 0)
		out->len = old;
	return r;
}

int drfs_keyfile_open(const void *p, size_t len, const char *pass,
		      struct drfs_keys *ret)
{
	const uint8_t *b = p;
	struct drfs_keys k = { 0 };
	int enc = drfs_keyfile_encrypted(p, len);
	if (enc < 0)
		return enc;
	if (!enc) {
		memcpy(k.data, b + KEY_HEADER_LEN, 32);
		memcpy(k.id, b + KEY_HEADER_LEN + 32, 32);
		k.encrypted = false;
		*ret = k;
		return 0;
	}
	if (!pass)
		return -ENOKEY;
	struct drfs_scrypt_params sp = {
		.log2n = b[9],
		.r = drfs_get_le32(b + 10),
		.p = drfs_get_le32(b + 14),
	};
	int r = drfs_scrypt_check(&sp);
	if (r < 0)
		return -EBADMSG;
	uint8_t wrap[DRFS_KEY_LEN];
	r = drfs_scrypt(pass, strlen(pass), b + 18, 32, &sp, wrap);
	if (r < 0)
		return r;
	struct drfs_buf plain;
	drfs_buf_init(&plain, 64);
	r = drfs_aead_open(wrap, b, KEY_HEADER_LEN, b + KEY_HEADER_LEN,
			   len - KEY_HEADER_LEN, &plain);
	OPENSSL_cleanse(wrap, sizeof(wrap));
	if (r < 0) {
		drfs_buf_release(&plain);
		return r == -EBADMSG ? -EACCES : r;
	}
	memcpy(k.data, plain.p, 32);
	memcpy(k.id, plain.p + 32, 32);
	k.encrypted = true;
	OPENSSL_cleanse(plain.p, plain.len);
	drfs_buf_release(&plain);
	*ret = k;
	OPENSSL_cleanse(&k, sizeof(k));
	return 0;
}
