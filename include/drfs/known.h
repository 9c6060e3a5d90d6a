/* SPDX-License-Identifier: MIT */
/*
 * known.h - the known-repositories file (store layer): which repository
 * (id and security mode) was found at each location, trusted on first use
 * like ssh's known_hosts. drfs_repo_open() refuses a repository that does
 * not match its record; drfs_repo_init() and the first successful open
 * write one. docs/security.md explains what it defends against.
 *
 * File: $XDG_CONFIG_HOME/drfs/known-repositories (else
 * ~/.config/drfs/known-repositories), mode 0600 in a 0700 directory. Text,
 * one record a line; '#' starts a comment line:
 *
 *   <repository id: 32 hex digits> <encrypted|unencrypted> <location>
 *
 * The location is "file://" and the real path of a local repository, or
 * the S3 backend's "s3://bucket[/prefix] at ENDPOINT"; bytes below 0x21,
 * above 0x7e and '%' are written as %XX.
 *
 * Thread rule: none of these keep state; the file is updated under an
 * flock(2) of "<file>.lock" and replaced by rename(2), so concurrent drfs
 * processes neither lose nor tear a record.
 */
#ifndef DRFS_KNOWN_H
#define DRFS_KNOWN_H

#include "drfs/base.h"

#define DRFS_KNOWN_FILE_MAX (1u << 20)

struct drfs_known {
	uint8_t repo_id[16];
	bool encrypted;
};

/* The file's path (malloc'd); -ENOENT when neither variable is set. */
int drfs_known_path(char **ret);
/*
 * Pure: the record of location in the file's bytes buf[0..len). 1 and
 * *ret (and its line number in *ret_line) when found, 0 when not,
 * -EBADMSG with the offending line in *ret_line when a line does not
 * parse.
 */
int drfs_known_find(const void *buf, size_t len, const char *location,
		    struct drfs_known *ret, unsigned *ret_line);
/* drfs_known_find on the file at path; a missing file is 0. */
int drfs_known_lookup(const char *path, const char *location,
		      struct drfs_known *ret, unsigned *ret_line);
/*
 * Record k for location. replace: drop any record of location first (a
 * repository just created there); otherwise an existing record is kept
 * and 1 returned. 0 when written; -errno.
 */
int drfs_known_record(const char *path, const char *location,
		      const struct drfs_known *k, bool replace);

#endif
