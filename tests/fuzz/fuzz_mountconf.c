/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mountconf.c - the config file of drfs mount --config
 * (drfs_mount_conf_parse) on untrusted bytes: 0 with every section named
 * validly, once, with a repository and only keys once each; or -EINVAL
 * with a message; never a crash.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "cliint.h"
#include "drfs/fs.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drfs_mount_conf c;
	char err[512];

	if (size > (1u << 20))
		return 0;
	int e = drfs_mount_conf_parse((const char *)data, size, &c, err,
				      sizeof(err));
	if (e < 0) {
		assert(e == -EINVAL || e == -ENOMEM);
		assert(err[0]);
		return 0;
	}
	assert(c.n > 0);
	for (size_t i = 0; i < c.n; i++) {
		assert(drfs_fs_multi_name_ok(c.s[i].name));
		assert(drfs_mount_conf_get(&c.s[i], "repository", NULL));
		for (size_t k = 0; k < i; k++)
			assert(strcmp(c.s[i].name, c.s[k].name));
		for (size_t j = 0; j < c.s[i].n; j++) {
			assert(c.s[i].e[j].value[0]);
			assert(!strchr(c.s[i].e[j].value, '\n'));
			for (size_t k = 0; k < j; k++)
				assert(strcmp(c.s[i].e[j].key,
					      c.s[i].e[k].key));
		}
	}
	drfs_mount_conf_release(&c);
	return 0;
}
