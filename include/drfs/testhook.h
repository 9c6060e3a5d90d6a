/* SPDX-License-Identifier: MIT */
/*
 * testhook.h - the test hooks of the library, all in one room (base
 * layer): each is an environment variable only a test sets, read where the
 * hook is; nothing else in src/ reads a DRFS_TEST_* variable. docs/testing.md
 * lists them.
 *
 *   DRFS_TEST_CRASH_AT=STEP     die like kill -9 (exit 137) at the named
 *                               step: prune's steps, "claimed" (a
 *                               snapshot's folder claimed, its object not
 *                               written), "trees-cached" (the writer
 *                               stored tree copies in the tree cache,
 *                               their pack not yet uploaded)
 *   DRFS_TEST_UPLOAD_SLEEP=S    sleep S seconds (fractions allowed) after
 *                               each pack upload of the writer
 *   DRFS_TEST_LOCK_SLEEP=S      sleep S seconds after taking a lock
 *   DRFS_TEST_SCRYPT_LOG2N=N    new key files (init, key add) use scrypt
 *                               N = 2^N (10..22) instead of 2^15: each
 *                               command of a test then opens the
 *                               repository in ~3 ms instead of ~100 ms
 *   DRFS_TEST_TREE_SPILL=BYTES  the writer stores the copies of new tree
 *                               blobs in the local tree cache once they
 *                               pass BYTES (>= 1) instead of 4 MiB
 *   DRFS_TEST_GROUP_SEC=S       a group of now/'s metadata records is
 *                               committed after at most S seconds
 *                               (0.001..600) instead of 10 ms, so that a
 *                               test's kill -9 finds the group it made
 *                               still open, its records in now.log
 */
#ifndef DRFS_TESTHOOK_H
#define DRFS_TESTHOOK_H

#include <stddef.h>

/* Exit with 137 when DRFS_TEST_CRASH_AT is step. */
void drfs_test_crash_point(const char *step);
/* Sleep for the seconds the variable var gives (nothing when unset). */
void drfs_test_sleep(const char *var);
/* The log2n DRFS_TEST_SCRYPT_LOG2N asks for (10..22), else log2n. */
unsigned char drfs_test_scrypt_log2n(unsigned char log2n);
/* The bytes DRFS_TEST_TREE_SPILL asks for (>= 1), else bytes. */
size_t drfs_test_tree_spill(size_t bytes);
/* The seconds DRFS_TEST_GROUP_SEC asks for (0.001..600), else sec. */
double drfs_test_group_sec(double sec);

#endif
