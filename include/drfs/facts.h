/* SPDX-License-Identifier: MIT */
/*
 * facts.h - what monitoring needs to know about one repository
 * (docs/monitoring.md): the newest snapshot of each host, backend errors
 * and retries, whether the endpoint answers, the last drill, sizes and
 * ratios, and from a mount its upload backlog and memory. One struct
 * drfs_facts describes one repository; `drfs metrics` and `drfs status
 * --json` render it, a mount serves it (user.drfs.facts, encoded by
 * drfs_facts_encode) and writes it as a node_exporter textfile.
 *
 * Also the drill log: drfs drill records each result in <cache-dir>/drills
 * (one line each, the newest DRFS_DRILL_LOG_MAX kept), where metrics,
 * status and the mount's info files find it.
 *
 * Thread rule: none of these keep state; a struct drfs_facts belongs to
 * its caller.
 */
#ifndef DRFS_FACTS_H
#define DRFS_FACTS_H

#include <stdio.h>

#include "drfs/backend.h"
#include "drfs/repo.h"

#define DRFS_FACTS_HOSTS_MAX 64 /* hosts described; the newest kept */
#define DRFS_FACTS_TEXT_MAX 65536 /* an encoding (an xattr's maximum) */
#define DRFS_DRILL_LOG_MAX 256  /* lines kept in <cache-dir>/drills */
#define DRFS_DRILL_LOG_LINE_MAX 160

/* The newest snapshot of one host. */
struct drfs_facts_host {
	char host[DRFS_HOST_MAX_BUF];
	char folder[DRFS_FOLDER_BUF];
	struct timespec time;
	uint64_t duration_ms; /* 0: not recorded (an old snapshot) */
	uint64_t added_bytes, files, bytes;
	uint64_t snapshots;   /* of this host */
};

/* One drill, as <cache-dir>/drills records it. */
struct drfs_drill_rec {
	int64_t time;             /* when it finished, Unix seconds */
	struct drfs_id snapshot;
	bool ok;                  /* everything restored and verified */
	uint64_t restore_ms;      /* time-to-restore (of a sample: its own) */
	uint64_t files, bytes;    /* verified */
};

struct drfs_facts {
	char repo[DRFS_ID_HEX_LEN + 1]; /* repository id (hex) */
	char host[DRFS_HOST_MAX_BUF];   /* the host status is about; "": any */
	int64_t now;                    /* when collected, Unix seconds */
	uint64_t snapshots;
	size_t n_hosts;
	struct drfs_facts_host hosts[DRFS_FACTS_HOSTS_MAX];
	int endpoint_up;                /* 1 answers, 0 not, -1 not asked */
	uint64_t errors[DRFS_BE_KINDS], retries[DRFS_BE_KINDS];

	bool have_stats; /* drfs_stats() figures (docs/monitoring.md) */
	uint64_t repo_bytes, raw_bytes, stored_bytes, logical_bytes;

	/* what this cache verified (drfs_repo_verify_coverage) */
	bool have_verify;
	uint64_t verify_packs, verified_packs, verify_bytes, verified_bytes;
	int64_t oldest_verification; /* Unix seconds; 0 none */

	bool have_drill, have_drill_ok;
	struct drfs_drill_rec drill;    /* the last drill */
	struct drfs_drill_rec drill_ok; /* the last successful one */

	/* from a mount only */
	bool mounted;
	uint64_t backlog_objects, backlog_bytes; /* staged, not yet durable */
	uint64_t pending_blobs, pending_bytes;   /* with the writer */
	double backlog_age;  /* s since the backlog was last empty; 0 empty */
	double stalled;      /* s since it last shrank; 0 when empty */
	uint64_t rss_bytes;  /* the daemon's resident memory */
	int64_t last_check;  /* scheduled check that found nothing; 0 none */
	struct timespec last_snapshot; /* now/'s last snapshot; 0 none */
	bool changed;        /* now/ changed since */
};

/*
 * Fill f from r: id, the newest snapshot of each host (the catalogue, no
 * request), backend counters, the drill log of r's cache directory, and
 * whether the endpoint answers (a HEAD of "config", unless !ask_endpoint).
 * Leaves the stats and mount fields alone (zero them first). -ENOMEM.
 */
int drfs_facts_collect(struct drfs_repo *r, bool ask_endpoint,
		       struct drfs_facts *f);
/*
 * The newest snapshot time of f->host (any host when "", or of the mount's
 * now/ when mounted): 1 and *ret, 0 none.
 */
int drfs_facts_newest(const struct drfs_facts *f, struct timespec *ret);

/* Key=value lines (the mount's user.drfs.facts); -E2BIG past out->max. */
int drfs_facts_encode(const struct drfs_facts *f, struct drfs_buf *out);
/*
 * Parse what drfs_facts_encode wrote: 0, or -EBADMSG for anything else
 * (unknown keys are skipped, so a newer daemon still talks to an older
 * client). Pure: bounds every field.
 */
int drfs_facts_decode(const void *p, size_t len, struct drfs_facts *ret);

/* Prometheus text exposition format 0.0.4 (docs/monitoring.md). */
int drfs_facts_prometheus(const struct drfs_facts *f, struct drfs_buf *out);
/*
 * The same samples as the body of a JSON document after its opening
 * brace: "metrics":[{name, type, help, labels, value}...]}\n (value null
 * for NaN or an infinity; docs/json.md). 0 or -ENOMEM (buffer full).
 */
int drfs_facts_metrics_json(const struct drfs_facts *f, struct drfs_buf *out);

/*
 * One snapshot as a JSON object, as `drfs snapshots --json` prints it and
 * the mount's info files (MOUNTPOINT/info/DAY/TIME.json) hold it: id,
 * time, folder, "on" (when on is not NULL: the replica sides), held, host,
 * path, duration_seconds (null: not recorded), files, dirs, bytes,
 * added_bytes, tags, parent (null: none) and, when with_drill, "drill":
 * the last drill of this snapshot recorded in the cache directory (NULL:
 * null). -E2BIG past out->max.
 */
int drfs_facts_snapshot_json(const struct drfs_snap_info *si, const char *on,
			     bool held, bool with_drill,
			     const struct drfs_drill_rec *drill,
			     struct drfs_buf *out);

/* ---- the mount's HTTP endpoint (mount --metrics-listen) ------------------ */

#define DRFS_HTTP_REQUEST_MAX 4096 /* bytes of a request head */
#define DRFS_HTTP_PATH_MAX 256

/*
 * The head of an HTTP/1.x request in p[0..len): 1 when it is complete (an
 * empty line ends it) and a GET, its path (without a query) into path
 * (path_max bytes, NUL-terminated); 0 when more bytes are needed;
 * -EOPNOTSUPP another method; -EBADMSG anything else (no request line,
 * a target that is not a path or too long, not HTTP/1.x, control bytes,
 * no end within DRFS_HTTP_REQUEST_MAX bytes). Pure.
 */
int drfs_http_request_parse(const void *p, size_t len, char *path,
			    size_t path_max);

/* ---- the drill log ------------------------------------------------------ */

/* Append d to <r->cache_dir>/drills (atomically replaced; the newest
 * DRFS_DRILL_LOG_MAX lines kept). */
int drfs_drill_log_add(struct drfs_repo *r, const struct drfs_drill_rec *d);
/*
 * Parse a drill log: up to max records into out (oldest first), the
 * count; lines that do not parse are skipped. Pure.
 */
size_t drfs_drill_log_parse(const void *p, size_t len,
			    struct drfs_drill_rec *out, size_t max);
/*
 * Read r's drill log: *ret malloc'd (free()), *ret_n records, oldest
 * first; none (no file) is 0 records.
 */
int drfs_drill_log_read(struct drfs_repo *r, struct drfs_drill_rec **ret,
			size_t *ret_n);

#endif
