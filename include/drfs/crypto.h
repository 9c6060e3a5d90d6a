/* SPDX-License-Identifier: MIT */
/*
 * crypto.h - keys, keyed blob ids, AEAD, hashing and passphrase stretching
 * (codec layer; the only place OpenSSL errors are translated).
 *
 * Thread rule: drfs_crypto_init() once before any other call (idempotent,
 * thread-safe); afterwards every function may be called from any thread.
 * Algorithms are fetched once; contexts are per call or per thread.
 */
#ifndef DRFS_CRYPTO_H
#define DRFS_CRYPTO_H

#include "drfs/base.h"
#include "drfs/buf.h"

#define DRFS_KEY_LEN 32
#define DRFS_NONCE_LEN 12
#define DRFS_TAG_LEN 16
/* Bytes AEAD adds to a plaintext: nonce + tag. */
#define DRFS_AEAD_OVERHEAD (DRFS_NONCE_LEN + DRFS_TAG_LEN)

/*
 * The master keys of a repository. data encrypts (AES-256-GCM); id keys the
 * blob ids (HMAC-SHA-256) and the chunker's gear table. encrypted is false
 * only for repositories made with --no-encryption: then seal/open still
 * frame and checksum but do not encrypt.
 */
struct drfs_keys {
	uint8_t data[DRFS_KEY_LEN];
	uint8_t id[DRFS_KEY_LEN];
	bool encrypted;
};

int drfs_crypto_init(void);

/* Fresh random keys. */
int drfs_keys_generate(struct drfs_keys *ret, bool encrypted);
/* Wipe key material (OPENSSL_cleanse). */
void drfs_keys_wipe(struct drfs_keys *k);

/* Blob id: HMAC-SHA-256(keys->id, p[0..len)). */
void drfs_blob_id(const struct drfs_keys *k, const void *p, size_t len,
		  struct drfs_id *ret);
/* Plain SHA-256 (pack ids, object names). */
void drfs_sha256(const void *p, size_t len, struct drfs_id *ret);
/* HMAC-SHA-256 with an explicit key. */
void drfs_hmac_sha256(const void *key, size_t key_len, const void *p,
		      size_t len, uint8_t out[32]);

/*
 * AES-256-GCM with a random 96-bit nonce. Appends nonce || ciphertext || tag
 * (len + DRFS_AEAD_OVERHEAD bytes) to out. aad may be NULL when aad_len is 0.
 * Errors: -E2BIG/-ENOMEM from the buffer, -EIO if OpenSSL fails.
 */
int drfs_aead_seal(const uint8_t key[DRFS_KEY_LEN], const void *aad,
		   size_t aad_len, const void *p, size_t len,
		   struct drfs_buf *out) _warn_unused_;
/*
 * Inverse of drfs_aead_seal: appends the plaintext (len - overhead bytes) to
 * out. -EBADMSG when too short or authentication fails.
 */
int drfs_aead_open(const uint8_t key[DRFS_KEY_LEN], const void *aad,
		   size_t aad_len, const void *p, size_t len,
		   struct drfs_buf *out) _warn_unused_;

/* scrypt parameters; log2n 15, r 8, p 1 by default (~32 MiB, ~100 ms). */
struct drfs_scrypt_params {
	uint8_t log2n;
	uint32_t r;
	uint32_t p;
};
#define DRFS_SCRYPT_DEFAULT ((struct drfs_scrypt_params){ 15, 8, 1 })
/* Reject parameters that would take absurd memory/time: -EBADMSG. */
int drfs_scrypt_check(const struct drfs_scrypt_params *sp);
int drfs_scrypt(const char *pass, size_t pass_len, const uint8_t *salt,
		size_t salt_len, const struct drfs_scrypt_params *sp,
		uint8_t out[DRFS_KEY_LEN]);

#endif
