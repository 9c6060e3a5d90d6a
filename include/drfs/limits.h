/* SPDX-License-Identifier: MIT */
/*
 * limits.h - every size limit of drfs in one place. Anything read from a
 * repository is checked against these before memory is allocated for it.
 */
#ifndef DRFS_LIMITS_H
#define DRFS_LIMITS_H

/* Chunker bounds that a config may choose (defaults live in chunker.h). */
#define DRFS_CHUNK_MIN_LIMIT (4u << 10)
#define DRFS_CHUNK_MAX_LIMIT (16u << 20)

/* Largest plaintext blob of any type (data chunks, tree blobs). */
#define DRFS_BLOB_MAX (64u << 20)
/* Largest stored (compressed+encrypted) blob. */
#define DRFS_BLOB_STORED_MAX (DRFS_BLOB_MAX + 4096u)
/* Pack size target and hard ceiling for a pack object. */
#define DRFS_PACK_TARGET_DEFAULT (16u << 20)
/* bytes the dedup-loss guard reads back per snapshot unless told
 * (--verify-budget; docs/verification.md) */
#define DRFS_VERIFY_BUDGET_DEFAULT (4u << 20)
#define DRFS_PACK_MAX (256u << 20)
/* Blobs in one pack (bounds the trailer). */
#define DRFS_PACK_MAX_BLOBS 65536u
/* Sealed small objects: config, snapshot, lock, key. */
#define DRFS_SMALL_OBJECT_MAX (1u << 20)
/* index/ objects. */
#define DRFS_INDEX_OBJECT_MAX (64u << 20)
/* File and xattr names, symlink targets, xattr values. */
#define DRFS_NAME_MAX 255u
#define DRFS_PATH_MAX 4096u
#define DRFS_XATTR_NAME_MAX 255u
#define DRFS_XATTR_VALUE_MAX (64u << 10)
#define DRFS_XATTRS_MAX 1024u
/* Entries in one directory (one tree blob). */
#define DRFS_TREE_ENTRIES_MAX (1u << 22)
/* Tags per snapshot and their length; hostnames. */
#define DRFS_TAGS_MAX 64u
#define DRFS_TAG_MAX 255u
#define DRFS_HOST_MAX 255u
#define DRFS_HOST_MAX_BUF 256
#define DRFS_PATH_MAX_BUF 4097
#define DRFS_TAGS_BUF 2048
/* Snapshot ids in one forget record (~47 bytes each: < 1 MiB in all). */
#define DRFS_FORGET_IDS_MAX 16384u
/*
 * Snapshot folder names: "YYYY-MM-DD/HHMMSS" with an optional ".N" suffix
 * (N <= DRFS_FOLDER_SUFFIX_MAX) as recorded, up to 22 bytes; the buffer
 * also holds the "~" and 8 hex digits added to a name shown twice:
 *   17 ("YYYY-MM-DD/HHMMSS") + 5 (".9999") = 22 = DRFS_FOLDER_NAME_MAX,
 *   + 1 ("~") + 8 (hex) + 1 (NUL) = 32 = DRFS_FOLDER_BUF.
 * Every buffer that holds a folder name is char [DRFS_FOLDER_BUF].
 */
#define DRFS_FOLDER_SUFFIX_MAX 9999
#define DRFS_FOLDER_NAME_MAX 22u
#define DRFS_FOLDER_BUF 32
_Static_assert(DRFS_FOLDER_NAME_MAX + 1 + 8 + 1 <= DRFS_FOLDER_BUF,
	       "a folder name shown twice fits DRFS_FOLDER_BUF");
/* S3 XML listing page. */
#define DRFS_XML_PAGE_MAX (16u << 20)
/* Object names (keys under the repository root). */
#define DRFS_OBJECT_NAME_MAX 512u
/* Longest ETag a backend reports (S3 multipart: 32 hex, '-', parts). */
#define DRFS_OBJECT_ETAG_MAX 64u

#endif
