/* SPDX-License-Identifier: MIT */
/* cmd_now.c - snapshot and status of a mounted now/ (the daemon does the
 * work; these talk to it through src/fs/ctl.c), for one repository or each
 * of a several-repository mount (src/fs/multi.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cliint.h"
#include "drfs/fs.h"
#include "drfs/log.h"

#define LIST_MAX 65536

/*
 * The repositories of the several-repository mount at mp, one line each
 * "NAME\tSTATE\tMESSAGE" (malloc'd into *ret), or NULL when mp is not one.
 */
char *cli_multi_list(const char *mp)
{
	char *list = malloc(LIST_MAX);
	if (list && drfs_fs_multi_list(mp, list, LIST_MAX) == 0)
		return list;
	free(list);
	return NULL;
}

/* Split the next line of a listing: its name, state, message. */
bool cli_next_repo(char **p, char **name, char **state, char **msg)
{
	char *line = *p, *nl;
	if (!line || !*line)
		return false;
	nl = strchr(line, '\n');
	if (nl)
		*nl++ = 0;
	*p = nl;
	*name = line;
	*state = strchr(line, '\t');
	*msg = *state ? strchr(*state + 1, '\t') : NULL;
	if (!*state || !*msg)
		return cli_next_repo(p, name, state, msg);
	*(*state)++ = 0;
	*(*msg)++ = 0;
	return true;
}

/*
 * mp is not a drfs mount: if it is the folder of a repository that a
 * several-repository mount could not open, say why. Whether it said so.
 */
bool cli_unavailable_folder(const char *mp)
{
	char parent[PATH_MAX], *name, *state, *msg, *p, *slash;
	bool said = false;
	snprintf(parent, sizeof(parent), "%s", mp);
	while ((slash = strrchr(parent, '/')) && !slash[1] && slash > parent)
		*slash = 0;
	slash = strrchr(parent, '/');
	if (!slash)
		return false;
	const char *base = mp + (slash - parent) + 1;
	*slash = 0;
	char *list = cli_multi_list(*parent ? parent : "/");
	for (p = list; !said && cli_next_repo(&p, &name, &state, &msg);) {
		if (strncmp(base, name, strlen(name)) ||
		    (base[strlen(name)] && base[strlen(name)] != '/'))
			continue;
		log_err("\"%s\": repository %s is %s%s%s", mp, name, state,
			*msg ? ": " : "", msg);
		said = true;
	}
	free(list);
	return said;
}

/* snapshot --json: one object (in an array for several repositories) */
static void snapshot_json(const char *name, const char *path, bool written,
			  size_t *n)
{
	printf("%s{", *n ? "," : "");
	if (name) {
		printf("\"repository\":");
		cli_json_str(stdout, name);
		printf(",");
	}
	printf("\"path\":");
	cli_json_str(stdout, path);
	printf(",\"written\":%s}", written ? "true" : "false");
	(*n)++;
}

/* name: of a several-repository mount's repository, else NULL */
static int snapshot_one(struct cli *c, const char *mp, const char *name,
			size_t *n)
{
	char folder[4096 + 64];
	struct timespec t;
	int e;
	(void)t;
	e = drfs_fs_snapshot(mp, c->time, c->skip_if_unchanged,
			     c->tags, c->n_tags, folder, sizeof(folder));
	if ((e == -ENOTCONN || e == -ENOTSUP) && cli_unavailable_folder(mp))
		return 1;
	if (e == -ENOTCONN || e == -ENOTSUP) {
		log_err("\"%s\" is not a drfs mount with a writable now/",
			mp);
		return 1;
	}
	if (e == -ENOENT || e == -ENOTDIR || e == -EACCES) {
		log_err("\"%s\": %s", mp, drfs_strerror(e));
		return 1;
	}
	if (e < 0) {
		log_err("snapshot of \"%s\" failed: %s", mp,
			drfs_strerror(e));
		return 1;
	}
	if (e == 1 && !folder[0]) {
		if (!c->quiet)
			fprintf(stderr, "now/ has not changed and this mount "
				"has no snapshot yet: none written "
				"(--skip-if-unchanged)\n");
		if (c->json)
			snapshot_json(name, "", false, n);
		return 0;
	}
	if (e == 1 && !c->quiet)
		fprintf(stderr, "nothing changed since %s: no snapshot written "
			"(--skip-if-unchanged)\n", folder);
	if (c->json)
		snapshot_json(name, folder, e != 1, n);
	else
		printf("%s\n", folder);
	fflush(stdout);
	return 0;
}

int cli_cmd_snapshot(struct cli *c)
{
	struct timespec t;
	char *name, *state, *msg, *p;
	int e = cli_need_args(c, 1, "MOUNTPOINT [--time ISO8601] [--tag T]... "
				    "[--skip-if-unchanged]");
	if (e < 0)
		return EXIT_USAGE;
	if (c->time && drfs_parse_time(c->time, &t) < 0) {
		log_err("invalid time \"%s\"", c->time);
		return EXIT_USAGE;
	}
	char *list = cli_multi_list(c->args[0]);
	size_t n = 0;
	if (!list) {
		int rc = snapshot_one(c, c->args[0], NULL, &n);
		if (n)
			printf("\n");
		return rc;
	}
	/* every repository of a several-repository mount */
	int rc = 0;
	if (c->json)
		printf("[");
	for (p = list; cli_next_repo(&p, &name, &state, &msg);) {
		char mp[PATH_MAX];
		if (strcmp(state, "serving")) {
			log_err("%s: not snapshotted: the repository is %s%s%s",
				name, state, *msg ? ": " : "", msg);
			rc = 1;
			continue;
		}
		snprintf(mp, sizeof(mp), "%s/%s", c->args[0], name);
		rc |= snapshot_one(c, mp, name, &n);
	}
	if (c->json)
		printf("]\n");
	free(list);
	return rc;
}
