/* SPDX-License-Identifier: MIT */
/* cmd_now.c - snapshot and status of a mounted now/ (the daemon does the
 * work; these talk to it through src/fs/ctl.c). */
#include <stdio.h>

#include "cliint.h"
#include "drfs/fs.h"
#include "drfs/log.h"

int cli_cmd_snapshot(struct cli *c)
{
	char folder[4096 + 64];
	struct timespec t;
	int e = cli_need_args(c, 1, "MOUNTPOINT [--time ISO8601] [--tag T]... "
				    "[--skip-if-unchanged]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->time && drfs_parse_time(c->time, &t) < 0) {
		log_err("invalid time \"%s\"", c->time);
		return EXIT_USAGE;
	}
	e = drfs_fs_snapshot(c->args[0], c->time, c->skip_if_unchanged,
			     c->tags, c->n_tags, folder, sizeof(folder));
	if (e == -ENOTCONN || e == -ENOTSUP) {
		log_err("\"%s\" is not a drfs mount with a writable now/",
			c->args[0]);
		return 1;
	}
	if (e == -ENOENT || e == -ENOTDIR || e == -EACCES) {
		log_err("\"%s\": %s", c->args[0], drfs_strerror(e));
		return 1;
	}
	if (e < 0) {
		log_err("snapshot of \"%s\" failed: %s", c->args[0],
			drfs_strerror(e));
		return 1;
	}
	if (e == 1 && !folder[0]) {
		if (!c->quiet)
			fprintf(stderr, "now/ has not changed and this mount "
				"has no snapshot yet: none written "
				"(--skip-if-unchanged)\n");
		return 0;
	}
	if (e == 1 && !c->quiet)
		fprintf(stderr, "nothing changed since %s: no snapshot written "
			"(--skip-if-unchanged)\n", folder);
	printf("%s\n", folder);
	return 0;
}
