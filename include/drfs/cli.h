/* SPDX-License-Identifier: MIT */
/* cli.h - the drfs command (cli layer). */
#ifndef DRFS_CLI_H
#define DRFS_CLI_H

/* Run the drfs command line; returns the process exit status. */
int drfs_cli_main(int argc, char **argv);

#endif
