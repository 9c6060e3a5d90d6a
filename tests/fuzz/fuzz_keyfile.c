/* SPDX-License-Identifier: MIT */
/*
 * fuzz_keyfile.c - drfs_keyfile_encrypted() and drfs_keyfile_open() with a
 * fixed passphrase (tools/mkcorpus.c writes the seeds with the same one).
 *
 * The decoder accepts scrypt log2n up to 22 (drfs_scrypt_check), which takes
 * seconds per input. To keep fuzzing fast this target skips inputs whose
 * byte 9 (log2n) is above 12, or whose r (bytes 10..13) or p (14..17) are
 * above 8 and 2: big parameters only cost time, the parsing around them is
 * the same.
 */
#include <assert.h>

#include "drfs/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PASS "drfs fuzz passphrase"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_keys k;

	if (drfs_crypto_init() < 0)
		return 0;
	if (size > 9 && data[9] > 12)
		return 0;
	if (size >= 18 && (drfs_get_le32(data + 10) > 8 ||
			   drfs_get_le32(data + 14) > 2))
		return 0;
	int enc = drfs_keyfile_encrypted(data, size);
	assert(enc == 0 || enc == 1 || enc == -EBADMSG);
	int r = drfs_keyfile_open(data, size, FUZZ_PASS, &k);
	if (enc < 0)
		assert(r == -EBADMSG);
	if (r == 0)
		assert(k.encrypted == (enc == 1));
	r = drfs_keyfile_open(data, size, NULL, &k);
	if (enc == 1)
		assert(r == -ENOKEY);
	return 0;
}
