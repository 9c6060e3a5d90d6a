/* SPDX-License-Identifier: MIT */
/* cmd_retention.c - prune, forget, hold, release, policy (being written). */
#include "drfs/cliint.h"
#include "drfs/log.h"

static int todo(struct cli *c)
{
	log_err("\"%s\" is not implemented yet", c->cmd);
	return 1;
}

int cmd_prune(struct cli *c) { return todo(c); }
int cmd_forget(struct cli *c) { return todo(c); }
int cmd_hold(struct cli *c) { return todo(c); }
int cmd_release(struct cli *c) { return todo(c); }
int cmd_policy(struct cli *c) { return todo(c); }
