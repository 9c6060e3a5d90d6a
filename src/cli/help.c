/* SPDX-License-Identifier: MIT */
/*
 * help.c - `drfs help` and `drfs help CMD` (= `drfs CMD --help`), made
 * from the tables the parser uses (cli.c's commands, opts.c's groups), so
 * that what help says and what is parsed cannot drift apart.
 */
#include <stdio.h>
#include <string.h>

#include "cliint.h"

#define HELP_WIDTH 79
#define HELP_COL 28 /* where an option's help starts */

/* text wrapped at HELP_WIDTH, each line indented by col (the first too
 * unless it continues a line already at pos) */
static void wrap(FILE *f, const char *text, int col, int pos)
{
	const char *p = text;
	while (*p) {
		if (pos < col) {
			fprintf(f, "%*s", col - pos, "");
			pos = col;
		}
		int room = HELP_WIDTH - pos;
		int len = (int)strlen(p);
		int cut = len;
		if (len > room) {
			cut = room;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0) /* one long word: as it is */
				cut = (int)strcspn(p, " ");
		}
		fprintf(f, "%.*s\n", cut, p);
		p += cut;
		while (*p == ' ')
			p++;
		pos = 0;
	}
}

static void option(FILE *f, const struct cli_opt *o)
{
	char head[96];
	int n = 0;
	if (o->short_name)
		n = snprintf(head, sizeof(head), "  -%c, --%s", o->short_name,
			     o->name);
	else
		n = snprintf(head, sizeof(head), "  --%s", o->name);
	if (o->arg)
		n += snprintf(head + n, sizeof(head) - (size_t)n, " %s",
			      o->arg);
	fputs(head, f);
	if (n + 2 > HELP_COL) {
		fputc('\n', f);
		n = 0;
	}
	wrap(f, o->help, HELP_COL, n);
}

static void global_options(FILE *f)
{
	fprintf(f, "\nglobal options (any command, before or after it):\n");
	for (const struct cli_opt *o = cli_opts_global; o->name; o++)
		option(f, o);
	option(f, &(const struct cli_opt){
			  .name = "help", .short_name = 'h',
			  .help = "this help" });
}

static void environment(FILE *f)
{
	fprintf(f,
		"\nenvironment:\n"
		"  DRFS_REPOSITORY         REPO when it is left out\n"
		"  DRFS_PASSWORD           the passphrase (taken out of the "
		"environment at once)\n"
		"  DRFS_PASSWORD_FILE      a file whose first line is the "
		"passphrase\n"
		"  DRFS_PASSWORD_COMMAND   a command (run by /bin/sh -c) that "
		"prints it\n"
		"  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: S3 "
		"credentials\n");
}

void cli_help_all(FILE *f, const struct cli_cmd *cmds, size_t n)
{
	fprintf(f, "usage: drfs [OPTIONS] COMMAND [ARGS] [OPTIONS]\n"
		   "       drfs help COMMAND     (or drfs COMMAND --help)\n"
		   "       drfs --version\n\ncommands:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\nREPO is /path, file:///path or s3://bucket[/prefix].\n");
	global_options(f);
	environment(f);
	fprintf(f, "\nexit status: 0 success, 1 failure, 2 usage error, 3 "
		   "finished with\nproblems named on stderr.\n");
}

void cli_help_cmd(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "usage: drfs %s [OPTIONS] %s\n\n", cmd->name,
		cmd->synopsis);
	char line[256];
	snprintf(line, sizeof(line), "%c%s.", cmd->summary[0] - 'a' + 'A',
		 cmd->summary + 1);
	wrap(f, line, 0, 0);
	if (cmd->text)
		wrap(f, cmd->text, 0, 0);
	if (cmd->opts && cmd->opts[0]) {
		fprintf(f, "\noptions:\n");
		for (size_t i = 0; cmd->opts[i]; i++)
			for (const struct cli_opt *o = cmd->opts[i]; o->name;
			     o++)
				option(f, o);
	}
	/* the global options by name; drfs help describes them */
	char names[2048];
	size_t l = (size_t)snprintf(names, sizeof(names), "global options "
				    "(drfs help describes them):");
	for (const struct cli_opt *o = cli_opts_global;
	     o->name && l < sizeof(names); o++) {
		char sh[8] = "";
		if (o->short_name)
			snprintf(sh, sizeof(sh), "-%c|", o->short_name);
		l += (size_t)snprintf(names + l, sizeof(names) - l,
				      "%s%s--%s%s%s",
				      o == cli_opts_global ? " " : ", ", sh,
				      o->name, o->arg ? " " : "",
				      o->arg ? o->arg : "");
	}
	fputc('\n', f);
	wrap(f, names, 0, 0);
	if (cmd->repo_arg >= 0) {
		/* the repo_arg-th word of the synopsis: REPO, SRC */
		const char *w = cmd->synopsis;
		for (int k = 0; k < cmd->repo_arg && strchr(w, ' '); k++)
			w = strchr(w, ' ') + 1;
		fprintf(f, "\n%.*s may be left out when DRFS_REPOSITORY is "
			   "set.\n", (int)strcspn(w, " "), w);
	}
	snprintf(line, sizeof(line), "exit status: 0 success, 1 failure, 2 "
		 "usage error%s%s.", cmd->exit3 ? ", 3 " : "",
		 cmd->exit3 ? cmd->exit3 : "");
	fputc('\n', f);
	wrap(f, line, 0, 0);
}
