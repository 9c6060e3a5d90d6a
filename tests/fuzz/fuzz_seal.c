/* SPDX-License-Identifier: MIT */
/*
 * fuzz_seal.c - drfs_unseal() with fixed keys. Byte 0 chooses the keys
 * (bit 0: encrypted) and the expected kind (bits 1..3); the rest is the
 * sealed object. A success must yield a payload shorter than the object.
 */
#include <assert.h>

#include "drfs/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_keys(struct drfs_keys *k, bool enc)
{
	memset(k->data, 0x11, sizeof(k->data));
	memset(k->id, 0x22, sizeof(k->id));
	k->encrypted = enc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_keys k;
	struct drfs_buf out;

	if (size < 1 || size > DRFS_SMALL_OBJECT_MAX || drfs_crypto_init() < 0)
		return 0;
	fuzz_keys(&k, data[0] & 1);
	enum drfs_obj_kind kind = (enum drfs_obj_kind)((data[0] >> 1) & 7);
	drfs_buf_init(&out, DRFS_SMALL_OBJECT_MAX);
	int r = drfs_unseal(&k, kind, data + 1, size - 1, &out);
	assert(r == 0 || r == -EBADMSG);
	if (r == 0) {
		assert(out.len + DRFS_SEAL_HEADER_LEN < size);
		assert(data[1 + 4] == (uint8_t)kind);
	} else {
		assert(out.len == 0);
	}
	drfs_buf_release(&out);
	return 0;
}
