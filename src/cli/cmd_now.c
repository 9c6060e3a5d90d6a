/* SPDX-License-Identifier: MIT */
/* cmd_now.c - snapshot and status of a mounted now/ (being written). */
#include "drfs/cliint.h"
