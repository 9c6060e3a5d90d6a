/* SPDX-License-Identifier: MIT */
/*
 * cmd_policy.c - the retention policy of the command line (--keep-*), and
 * `drfs policy`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cliint.h"
#include "drfs/log.h"
#include "drfs/prune.h"

bool cli_have_keep_options(const struct cli *c)
{
	return c->keep_last >= 0 || c->keep_hourly >= 0 ||
	       c->keep_daily >= 0 || c->keep_weekly >= 0 ||
	       c->keep_monthly >= 0 || c->keep_yearly >= 0 ||
	       c->keep_within || c->n_keep_tags;
}

/* The policy of the command line; -EINVAL (after a message) if invalid. */
int cli_policy(const struct cli *c, struct drfs_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->last = c->keep_last > 0 ? (uint32_t)c->keep_last : 0;
	p->hourly = c->keep_hourly > 0 ? (uint32_t)c->keep_hourly : 0;
	p->daily = c->keep_daily > 0 ? (uint32_t)c->keep_daily : 0;
	p->weekly = c->keep_weekly > 0 ? (uint32_t)c->keep_weekly : 0;
	p->monthly = c->keep_monthly > 0 ? (uint32_t)c->keep_monthly : 0;
	p->yearly = c->keep_yearly > 0 ? (uint32_t)c->keep_yearly : 0;
	if (c->keep_within &&
	    (drfs_parse_duration(c->keep_within, &p->within) < 0 ||
	     p->within <= 0)) {
		log_err("invalid --keep-within \"%s\" (want e.g. 7d, 36h)",
			c->keep_within);
		return -EINVAL;
	}
	size_t off = 0;
	for (size_t i = 0; i < c->n_keep_tags; i++) {
		size_t l = strlen(c->keep_tags[i]);
		if (l == 0 || l > DRFS_TAG_MAX ||
		    off + l + 1 > sizeof(p->tags)) {
			log_err("invalid --keep-tag \"%s\"", c->keep_tags[i]);
			return -EINVAL;
		}
		memcpy(p->tags + off, c->keep_tags[i], l + 1);
		off += l + 1;
		p->n_tags++;
	}
	return 0;
}

int cli_cmd_policy(struct cli *c)
{
	struct drfs_repo *r;
	struct drfs_policy p;
	char text[256 + DRFS_TAGS_BUF];
	int e;
	if (cli_need_args(c, 1, "REPO [--keep-* ...]") < 0)
		return EXIT_USAGE;
	bool set = cli_have_keep_options(c);
	if (set) {
		if (cli_policy(c, &p) < 0)
			return EXIT_USAGE;
		if (drfs_policy_empty(&p)) {
			log_err("the policy keeps nothing; refusing to "
				"store it");
			return EXIT_USAGE;
		}
	}
	if (cli_open_repo(c, c->args[0], &r) < 0)
		return 1;
	if (set) {
		e = drfs_policy_store(r, &p);
		if (e < 0)
			log_err("cannot store the policy: %s",
				drfs_backend_last_error(r->be) ?:
					drfs_strerror(e));
		else
			printf("%s\n", drfs_policy_format(&p, text,
							  sizeof(text)));
	} else {
		e = drfs_policy_load(r, &p);
		if (e == -ENOENT)
			log_err("no policy stored in this repository");
		else if (e < 0)
			log_err("cannot read the policy: %s", drfs_strerror(e));
		else if (c->json)
			printf("{\"last\":%u,\"hourly\":%u,\"daily\":%u,"
			       "\"weekly\":%u,\"monthly\":%u,\"yearly\":%u,"
			       "\"within_seconds\":%lld}\n",
			       p.last, p.hourly, p.daily, p.weekly, p.monthly,
			       p.yearly, (long long)p.within);
		else
			printf("%s\n", drfs_policy_format(&p, text,
							  sizeof(text)));
	}
	drfs_repo_free(r);
	return e < 0 ? 1 : 0;
}
