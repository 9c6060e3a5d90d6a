/* SPDX-License-Identifier: MIT */
/* cmd_dr.c - drill, copy, lock-extend (being written). */
#include "drfs/cliint.h"
#include "drfs/log.h"

static int todo(struct cli *c)
{
	log_err("\"%s\" is not implemented yet", c->cmd);
	return 1;
}

int cmd_drill(struct cli *c) { return todo(c); }
int cmd_copy(struct cli *c) { return todo(c); }
int cmd_lock_extend(struct cli *c) { return todo(c); }
