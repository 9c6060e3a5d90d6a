/* SPDX-License-Identifier: MIT */
#include "drfs/cli.h"

int main(int argc, char **argv)
{
	return drfs_cli_main(argc, argv);
}
