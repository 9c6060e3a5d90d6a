/* SPDX-License-Identifier: MIT */
/*
 * facts.c - the figures monitoring reads (facts.h): collected from a
 * repository, encoded for the mount's control channel, rendered in the
 * Prometheus text format; and the drill log of a cache directory.
 *
 * The encoding (user.drfs.facts) is key=value lines, numbers in decimal,
 * names in hex:
 *   repo=HEX  host=HEX  now=SEC  snapshots=N  endpoint_up=-1|0|1
 *   error.KIND=N  retry.KIND=N
 *   stats=REPO_BYTES RAW STORED LOGICAL
 *   verify=PACKS VERIFIED_PACKS BYTES VERIFIED_BYTES OLDEST
 *   drill=TIME SNAPSHOT-HEX OK RESTORE_MS FILES BYTES (also drill_ok=)
 *   mount=OBJ BYTES BLOBS PBYTES AGE_MS STALLED_MS RSS LAST_CHECK CHANGED
 *         LAST_SEC LAST_NSEC
 *   last=HOST-HEX SEC NSEC DURATION_MS ADDED FILES BYTES COUNT FOLDER
 * The drill log (<cache-dir>/drills), one line per drill:
 *   TIME SNAPSHOT-HEX ok|failed RESTORE_MS FILES BYTES
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drfs/facts.h"
#include "drfs/limits.h"

#define DRILL_LOG_NAME "drills"

/* ---- collecting ----------------------------------------------------------- */

static struct drfs_facts_host *host_slot(struct drfs_facts *f,
					 const char *host)
{
	for (size_t i = 0; i < f->n_hosts; i++)
		if (!strcmp(f->hosts[i].host, host))
			return &f->hosts[i];
	if (f->n_hosts < DRFS_FACTS_HOSTS_MAX) {
		struct drfs_facts_host *h = &f->hosts[f->n_hosts++];
		memset(h, 0, sizeof(*h));
		snprintf(h->host, sizeof(h->host), "%s", host);
		return h;
	}
	return NULL;
}

int drfs_facts_collect(struct drfs_repo *r, bool ask_endpoint,
		       struct drfs_facts *f)
{
	struct drfs_snap_info *v = NULL;
	struct drfs_drill_rec *d = NULL;
	size_t n = 0, nd = 0;

	snprintf(f->repo, sizeof(f->repo), "%s", r->repo_id_hex);
	f->now = (int64_t)time(NULL);
	int e = drfs_repo_snapshots(r, &v, &n);
	if (e < 0)
		return e;
	f->snapshots = n;
	f->n_hosts = 0;
	/* newest last: a host past the table's size is one of the oldest */
	for (size_t i = n; i-- > 0;) {
		const struct drfs_snapshot *s = &v[i].snap;
		struct drfs_facts_host *h = host_slot(f, s->host);
		if (!h)
			continue;
		if (h->snapshots++ == 0) {
			memcpy(h->folder, v[i].folder, sizeof(h->folder));
			h->time = s->time;
			h->duration_ms = s->duration_ms;
			h->added_bytes = s->added_bytes;
			h->files = s->files;
			h->bytes = s->bytes;
		}
	}
	free(v);
	for (int k = 0; k < DRFS_BE_KINDS; k++) {
		f->errors[k] = atomic_load(&r->be->errors[k]);
		f->retries[k] = atomic_load(&r->be->retries[k]);
	}
	f->endpoint_up = -1;
	if (ask_endpoint) {
		uint64_t size;
		f->endpoint_up = drfs_backend_head(r->be, "config", &size) >= 0;
	}
	struct drfs_verify_coverage vc = { 0 };
	f->have_verify = drfs_repo_verify_coverage(r, &vc) >= 0;
	f->verify_packs = vc.packs;
	f->verified_packs = vc.packs_verified;
	f->verify_bytes = vc.bytes;
	f->verified_bytes = vc.bytes_verified;
	f->oldest_verification = vc.oldest;
	f->have_drill = f->have_drill_ok = false;
	if (drfs_drill_log_read(r, &d, &nd) >= 0) {
		for (size_t i = 0; i < nd; i++) {
			f->drill = d[i];
			f->have_drill = true;
			if (d[i].ok) {
				f->drill_ok = d[i];
				f->have_drill_ok = true;
			}
		}
		free(d);
	}
	return 0;
}

int drfs_facts_newest(const struct drfs_facts *f, struct timespec *ret)
{
	bool any = false;
	if (f->mounted) {
		*ret = f->last_snapshot;
		return f->last_snapshot.tv_sec || f->last_snapshot.tv_nsec;
	}
	for (size_t i = 0; i < f->n_hosts; i++) {
		const struct drfs_facts_host *h = &f->hosts[i];
		if (f->host[0] && strcmp(f->host, h->host))
			continue;
		if (!any || h->time.tv_sec > ret->tv_sec ||
		    (h->time.tv_sec == ret->tv_sec &&
		     h->time.tv_nsec > ret->tv_nsec))
			*ret = h->time;
		any = true;
	}
	return any;
}

/* ---- the encoding of user.drfs.facts ------------------------------------- */

static int put_hex(struct drfs_buf *b, const char *key, const char *s)
{
	char hex[2 * DRFS_HOST_MAX_BUF + 1];
	size_t l = strnlen(s, DRFS_HOST_MAX);
	drfs_hex(s, l, hex);
	return drfs_buf_printf(b, "%s=%s\n", key, hex);
}

static int put_drill(struct drfs_buf *b, const char *key,
		     const struct drfs_drill_rec *d)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	return drfs_buf_printf(b, "%s=%" PRId64 " %s %d %" PRIu64 " %" PRIu64
			       " %" PRIu64 "\n",
			       key, d->time, drfs_id_hex(&d->snapshot, hex),
			       d->ok ? 1 : 0, d->restore_ms, d->files,
			       d->bytes);
}

int drfs_facts_encode(const struct drfs_facts *f, struct drfs_buf *out)
{
	int e = drfs_buf_printf(out, "repo=%s\n", f->repo);
	e = e ?: put_hex(out, "host", f->host);
	e = e ?: drfs_buf_printf(out, "now=%" PRId64 "\nsnapshots=%" PRIu64
				 "\nendpoint_up=%d\n",
				 f->now, f->snapshots, f->endpoint_up);
	for (int k = 0; e >= 0 && k < DRFS_BE_KINDS; k++)
		e = drfs_buf_printf(out, "error.%s=%" PRIu64 "\nretry.%s=%"
				    PRIu64 "\n",
				    drfs_backend_kind_name(k), f->errors[k],
				    drfs_backend_kind_name(k), f->retries[k]);
	if (f->have_stats)
		e = e ?: drfs_buf_printf(out, "stats=%" PRIu64 " %" PRIu64
					 " %" PRIu64 " %" PRIu64 "\n",
					 f->repo_bytes, f->raw_bytes,
					 f->stored_bytes, f->logical_bytes);
	if (f->have_verify)
		e = e ?: drfs_buf_printf(out, "verify=%" PRIu64 " %" PRIu64
					 " %" PRIu64 " %" PRIu64 " %" PRId64
					 "\n", f->verify_packs,
					 f->verified_packs, f->verify_bytes,
					 f->verified_bytes,
					 f->oldest_verification);
	if (f->have_drill)
		e = e ?: put_drill(out, "drill", &f->drill);
	if (f->have_drill_ok)
		e = e ?: put_drill(out, "drill_ok", &f->drill_ok);
	if (f->mounted)
		e = e ?: drfs_buf_printf(
			out, "mount=%" PRIu64 " %" PRIu64 " %" PRIu64
			" %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			" %" PRId64 " %d %" PRId64 " %ld\n",
			f->backlog_objects, f->backlog_bytes, f->pending_blobs,
			f->pending_bytes, (uint64_t)(f->backlog_age * 1000),
			(uint64_t)(f->stalled * 1000), f->rss_bytes,
			f->last_check, f->changed ? 1 : 0,
			(int64_t)f->last_snapshot.tv_sec,
			f->last_snapshot.tv_nsec);
	for (size_t i = 0; e >= 0 && i < f->n_hosts; i++) {
		const struct drfs_facts_host *h = &f->hosts[i];
		char hex[2 * DRFS_HOST_MAX_BUF + 1];
		drfs_hex(h->host, strnlen(h->host, DRFS_HOST_MAX), hex);
		e = drfs_buf_printf(out, "last=%s %" PRId64 " %ld %" PRIu64
				    " %" PRIu64 " %" PRIu64 " %" PRIu64
				    " %" PRIu64 " %s\n",
				    hex[0] ? hex : "-",
				    (int64_t)h->time.tv_sec, h->time.tv_nsec,
				    h->duration_ms, h->added_bytes, h->files,
				    h->bytes, h->snapshots, h->folder);
	}
	return e < 0 ? e : 0;
}

/* A line's fields, split at spaces (at most max; -1 when more). */
static int split(char *s, char **v, int max)
{
	int n = 0;
	for (char *p = s; *p;) {
		if (n == max)
			return -1;
		v[n++] = p;
		p += strcspn(p, " ");
		if (*p)
			*p++ = 0;
	}
	return n;
}

static bool num_u(const char *s, uint64_t *ret)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno)
		return false;
	*ret = v;
	return true;
}

static bool num_s(const char *s, int64_t *ret)
{
	uint64_t v;
	bool neg = *s == '-';
	if (!num_u(s + neg, &v) || v > INT64_MAX)
		return false;
	*ret = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

/* Hex of at most max bytes into out (NUL-terminated, no NUL inside). */
static bool unhex_str(const char *hex, char *out, size_t max)
{
	size_t l = strlen(hex);
	if (!strcmp(hex, "-")) {
		out[0] = 0;
		return true;
	}
	if (l % 2 || l / 2 > max || drfs_unhex(hex, l / 2, out) < 0 ||
	    memchr(out, 0, l / 2))
		return false;
	out[l / 2] = 0;
	return true;
}

static bool parse_drill(char **v, int n, struct drfs_drill_rec *d)
{
	uint64_t ok;
	return n == 6 && num_s(v[0], &d->time) &&
	       drfs_id_parse(v[1], &d->snapshot) == 0 && num_u(v[2], &ok) &&
	       ok <= 1 && (d->ok = ok, true) && num_u(v[3], &d->restore_ms) &&
	       num_u(v[4], &d->files) && num_u(v[5], &d->bytes);
}

static bool parse_mount(char **v, int n, struct drfs_facts *f)
{
	uint64_t age, stalled, ch, ns;
	int64_t sec;
	if (n != 11 || !num_u(v[0], &f->backlog_objects) ||
	    !num_u(v[1], &f->backlog_bytes) || !num_u(v[2], &f->pending_blobs) ||
	    !num_u(v[3], &f->pending_bytes) || !num_u(v[4], &age) ||
	    !num_u(v[5], &stalled) || !num_u(v[6], &f->rss_bytes) ||
	    !num_s(v[7], &f->last_check) || !num_u(v[8], &ch) || ch > 1 ||
	    !num_s(v[9], &sec) || !num_u(v[10], &ns) || ns >= 1000000000)
		return false;
	f->backlog_age = (double)age / 1000;
	f->stalled = (double)stalled / 1000;
	f->changed = ch;
	f->last_snapshot.tv_sec = (time_t)sec;
	f->last_snapshot.tv_nsec = (long)ns;
	f->mounted = true;
	return true;
}

static bool parse_host(char **v, int n, struct drfs_facts *f)
{
	struct drfs_facts_host *h;
	int64_t sec;
	uint64_t ns;
	if (n != 9 || f->n_hosts >= DRFS_FACTS_HOSTS_MAX)
		return false;
	h = &f->hosts[f->n_hosts];
	memset(h, 0, sizeof(*h));
	if (!unhex_str(v[0], h->host, DRFS_HOST_MAX) || !num_s(v[1], &sec) ||
	    !num_u(v[2], &ns) || ns >= 1000000000 ||
	    !num_u(v[3], &h->duration_ms) || !num_u(v[4], &h->added_bytes) ||
	    !num_u(v[5], &h->files) || !num_u(v[6], &h->bytes) ||
	    !num_u(v[7], &h->snapshots) ||
	    strlen(v[8]) >= sizeof(h->folder))
		return false;
	h->time.tv_sec = (time_t)sec;
	h->time.tv_nsec = (long)ns;
	strcpy(h->folder, v[8]);
	f->n_hosts++;
	return true;
}

static bool parse_line(char *key, char *val, struct drfs_facts *f)
{
	char *v[12];
	int n;
	int64_t s;

	if (!strcmp(key, "repo")) {
		return strlen(val) < sizeof(f->repo) &&
		       strcpy(f->repo, val) != NULL;
	} else if (!strcmp(key, "host")) {
		return unhex_str(val, f->host, DRFS_HOST_MAX);
	} else if (!strcmp(key, "now")) {
		return num_s(val, &f->now);
	} else if (!strcmp(key, "snapshots")) {
		return num_u(val, &f->snapshots);
	} else if (!strcmp(key, "endpoint_up")) {
		if (!num_s(val, &s) || s < -1 || s > 1)
			return false;
		f->endpoint_up = (int)s;
		return true;
	} else if (!strncmp(key, "error.", 6) || !strncmp(key, "retry.", 6)) {
		for (int k = 0; k < DRFS_BE_KINDS; k++)
			if (!strcmp(key + 6, drfs_backend_kind_name(k)))
				return num_u(val, key[0] == 'e'
							  ? &f->errors[k]
							  : &f->retries[k]);
		return true; /* a kind this client does not know */
	}
	n = split(val, v, 12);
	if (!strcmp(key, "stats")) {
		f->have_stats = n == 4 && num_u(v[0], &f->repo_bytes) &&
				num_u(v[1], &f->raw_bytes) &&
				num_u(v[2], &f->stored_bytes) &&
				num_u(v[3], &f->logical_bytes);
		return f->have_stats;
	} else if (!strcmp(key, "verify")) {
		f->have_verify = n == 5 && num_u(v[0], &f->verify_packs) &&
				 num_u(v[1], &f->verified_packs) &&
				 num_u(v[2], &f->verify_bytes) &&
				 num_u(v[3], &f->verified_bytes) &&
				 num_s(v[4], &f->oldest_verification) &&
				 f->verified_packs <= f->verify_packs &&
				 f->verified_bytes <= f->verify_bytes;
		return f->have_verify;
	} else if (!strcmp(key, "drill")) {
		return (f->have_drill = parse_drill(v, n, &f->drill));
	} else if (!strcmp(key, "drill_ok")) {
		return (f->have_drill_ok = parse_drill(v, n, &f->drill_ok));
	} else if (!strcmp(key, "mount")) {
		return parse_mount(v, n, f);
	} else if (!strcmp(key, "last")) {
		return parse_host(v, n, f);
	}
	return true;
}

int drfs_facts_decode(const void *p, size_t len, struct drfs_facts *ret)
{
	struct drfs_facts *f;
	char *text;
	int e = -EBADMSG;

	if (len > DRFS_FACTS_TEXT_MAX)
		return -EBADMSG;
	f = calloc(1, sizeof(*f));
	text = malloc(len + 1);
	if (!f || !text) {
		free(f);
		free(text);
		return -ENOMEM;
	}
	memcpy(text, p, len);
	text[len] = 0;
	if (strlen(text) != len)
		goto out;
	f->endpoint_up = -1;
	for (char *line = text, *next; *line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			goto out; /* every line ends in \n */
		*next++ = 0;
		char *eq = strchr(line, '=');
		if (!eq)
			goto out;
		*eq = 0;
		if (!parse_line(line, eq + 1, f))
			goto out;
	}
	if (!f->repo[0])
		goto out;
	*ret = *f;
	e = 0;
out:
	free(text);
	free(f);
	return e;
}

/* ---- Prometheus text format ----------------------------------------------- */

struct prom {
	struct drfs_buf *b;
	const struct drfs_facts *f;
	int e;
};

/* A label value: \ " and newline escaped; bytes as they are (UTF-8). */
static void label(struct prom *m, const char *s)
{
	for (; *s && m->e >= 0; s++) {
		if (*s == '\\' || *s == '"')
			m->e = drfs_buf_printf(m->b, "\\%c", *s);
		else if (*s == '\n')
			m->e = drfs_buf_printf(m->b, "\\n");
		else
			m->e = drfs_buf_append(m->b, s, 1);
	}
}

static void head(struct prom *m, const char *name, const char *type,
		 const char *help)
{
	if (m->e >= 0)
		m->e = drfs_buf_printf(m->b, "# HELP %s %s\n# TYPE %s %s\n",
				       name, help, name, type);
}

/* name{repository="...",<k>="<v>"} value */
static void sample(struct prom *m, const char *name, const char *k,
		   const char *v, double value)
{
	if (m->e < 0)
		return;
	m->e = drfs_buf_printf(m->b, "%s{repository=\"", name);
	label(m, m->f->repo);
	if (k && m->e >= 0) {
		m->e = drfs_buf_printf(m->b, "\",%s=\"", k);
		label(m, v);
	}
	if (m->e >= 0)
		m->e = drfs_buf_printf(m->b, "\"} %.17g\n", value);
}

static void gauge(struct prom *m, const char *name, const char *help,
		  double value)
{
	head(m, name, "gauge", help);
	sample(m, name, NULL, NULL, value);
}

static double ts(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static void per_host(struct prom *m, const char *name, const char *help,
		     int what)
{
	const struct drfs_facts *f = m->f;
	bool any = false;
	for (size_t i = 0; i < f->n_hosts; i++) {
		const struct drfs_facts_host *h = &f->hosts[i];
		double v;
		if (what == 2 && !h->duration_ms)
			continue;
		if (!any)
			head(m, name, "gauge", help);
		any = true;
		switch (what) {
		case 0: v = ts(&h->time); break;
		case 1: /* now is in whole seconds: a snapshot of this
			 * second is 0 s old, not -0.5 s */
			v = (double)f->now - ts(&h->time);
			if (v < 0 && v > -1)
				v = 0;
			break;
		case 2: v = (double)h->duration_ms / 1000; break;
		case 3: v = (double)h->added_bytes; break;
		case 4: v = (double)h->files; break;
		case 5: v = (double)h->bytes; break;
		default: v = (double)h->snapshots; break;
		}
		sample(m, name, "host", h->host, v);
	}
}

int drfs_facts_prometheus(const struct drfs_facts *f, struct drfs_buf *out)
{
	struct prom m = { .b = out, .f = f };

	gauge(&m, "drfs_snapshots", "Snapshots in the repository.",
	      (double)f->snapshots);
	per_host(&m, "drfs_host_snapshots", "Snapshots of each host.", 6);
	per_host(&m, "drfs_last_snapshot_timestamp_seconds",
		 "Time of the newest snapshot of each host (Unix seconds).", 0);
	per_host(&m, "drfs_last_snapshot_age_seconds",
		 "Age of the newest snapshot of each host.", 1);
	per_host(&m, "drfs_last_snapshot_duration_seconds",
		 "How long the newest snapshot's backup or commit took "
		 "(absent when it did not record it).", 2);
	per_host(&m, "drfs_last_snapshot_added_bytes",
		 "Stored bytes the newest snapshot of each host added.", 3);
	per_host(&m, "drfs_last_snapshot_files",
		 "Files in the newest snapshot of each host.", 4);
	per_host(&m, "drfs_last_snapshot_bytes",
		 "Logical bytes of the newest snapshot of each host.", 5);
	if (f->endpoint_up >= 0)
		gauge(&m, "drfs_endpoint_up",
		      "1 when the repository's storage answered a request for "
		      "its config, else 0.", f->endpoint_up);
	head(&m, "drfs_backend_errors_total", "counter",
	     "Storage requests that failed after their retries, by kind.");
	for (int k = 0; k < DRFS_BE_KINDS; k++)
		sample(&m, "drfs_backend_errors_total", "kind",
		       drfs_backend_kind_name(k), (double)f->errors[k]);
	head(&m, "drfs_backend_retries_total", "counter",
	     "Storage requests retried, by the kind of failure.");
	for (int k = 0; k < DRFS_BE_KINDS; k++)
		sample(&m, "drfs_backend_retries_total", "kind",
		       drfs_backend_kind_name(k), (double)f->retries[k]);
	if (f->have_verify) {
		gauge(&m, "drfs_verified_packs_ratio",
		      "Share of the packs this cache has read back and "
		      "verified (dedup-loss guard, check --read-data-subset).",
		      f->verify_packs ? (double)f->verified_packs /
						(double)f->verify_packs
				      : 1.0);
		gauge(&m, "drfs_verified_bytes_ratio",
		      "Share of the pack bytes this cache has verified.",
		      f->verify_bytes ? (double)f->verified_bytes /
						(double)f->verify_bytes
				      : 1.0);
		if (f->oldest_verification)
			gauge(&m, "drfs_oldest_verification_timestamp_seconds",
			      "When the verified pack verified longest ago was "
			      "read back.", (double)f->oldest_verification);
	}
	if (f->have_stats) {
		gauge(&m, "drfs_repository_size_bytes",
		      "Bytes of every object of the repository.",
		      (double)f->repo_bytes);
		gauge(&m, "drfs_repository_unique_bytes",
		      "Bytes of the unique blobs before compression.",
		      (double)f->raw_bytes);
		gauge(&m, "drfs_repository_logical_bytes",
		      "Bytes of all snapshots added up.",
		      (double)f->logical_bytes);
		gauge(&m, "drfs_dedup_ratio",
		      "Logical bytes of all snapshots per unique byte.",
		      f->raw_bytes ? (double)f->logical_bytes /
					     (double)f->raw_bytes
				   : 0);
		gauge(&m, "drfs_compression_ratio",
		      "Unique bytes per stored (compressed, encrypted) byte.",
		      f->stored_bytes ? (double)f->raw_bytes /
						(double)f->stored_bytes
				      : 0);
	}
	if (f->have_drill) {
		gauge(&m, "drfs_last_drill_timestamp_seconds",
		      "When the last drill of this cache directory finished.",
		      (double)f->drill.time);
		gauge(&m, "drfs_last_drill_success",
		      "1 when the last drill restored and verified everything.",
		      f->drill.ok);
	}
	if (f->have_drill_ok) {
		gauge(&m, "drfs_last_successful_drill_timestamp_seconds",
		      "When the last successful drill finished.",
		      (double)f->drill_ok.time);
		gauge(&m, "drfs_last_successful_drill_restore_seconds",
		      "Time-to-restore the last successful drill measured.",
		      (double)f->drill_ok.restore_ms / 1000);
	}
	if (f->mounted) {
		gauge(&m, "drfs_upload_backlog_objects",
		      "Files of now/ whose data is not yet durable in the "
		      "repository.", (double)f->backlog_objects);
		gauge(&m, "drfs_upload_backlog_bytes",
		      "Bytes of those files.", (double)f->backlog_bytes);
		gauge(&m, "drfs_upload_pending_blobs",
		      "Blobs handed to the pack writer, not yet uploaded.",
		      (double)f->pending_blobs);
		gauge(&m, "drfs_upload_pending_bytes",
		      "Bytes of those blobs.", (double)f->pending_bytes);
		gauge(&m, "drfs_upload_backlog_oldest_age_seconds",
		      "Seconds since the backlog was last empty (0: empty).",
		      f->backlog_age);
		gauge(&m, "drfs_upload_stalled_seconds",
		      "Seconds since the backlog last shrank (0: empty).",
		      f->stalled);
		gauge(&m, "drfs_daemon_resident_memory_bytes",
		      "Resident memory of the mount daemon.",
		      (double)f->rss_bytes);
		if (f->last_check)
			gauge(&m, "drfs_last_check_timestamp_seconds",
			      "When --snapshot-every last found nothing "
			      "changed to snapshot.",
			      (double)f->last_check);
		gauge(&m, "drfs_now_changed",
		      "1 when now/ changed since its last snapshot.",
		      f->changed);
	}
	return m.e < 0 ? m.e : 0;
}

/* ---- the drill log ------------------------------------------------------- */

size_t drfs_drill_log_parse(const void *p, size_t len,
			    struct drfs_drill_rec *out, size_t max)
{
	const char *s = p, *end = s + len;
	size_t n = 0;
	while (s < end && n < max) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t l = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char line[DRFS_DRILL_LOG_LINE_MAX + 1], *v[7];
		if (l <= DRFS_DRILL_LOG_LINE_MAX && !memchr(s, 0, l)) {
			memcpy(line, s, l);
			line[l] = 0;
			int k = split(line, v, 6);
			if (k == 6 && (!strcmp(v[2], "ok") ||
				       !strcmp(v[2], "failed"))) {
				bool ok = v[2][0] == 'o';
				v[2] = ok ? "1" : "0";
				if (parse_drill(v, k, &out[n]))
					n++;
			}
		}
		s += l + 1;
	}
	return n;
}

static int log_path(struct drfs_repo *r, const char *suffix, char *out,
		    size_t len)
{
	if (!r->cache_dir)
		return -ENOENT;
	int l = snprintf(out, len, "%s/" DRILL_LOG_NAME "%s", r->cache_dir,
			 suffix);
	return l < 0 || (size_t)l >= len ? -ENAMETOOLONG : 0;
}

/* The log's bytes into b (at most its max); 0 and nothing when absent. */
static int log_load(struct drfs_repo *r, struct drfs_buf *b)
{
	char path[PATH_MAX];
	int e = log_path(r, "", path, sizeof(path));
	if (e < 0)
		return e;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	e = drfs_buf_reserve(b, b->max);
	while (e >= 0 && b->len < b->max) {
		ssize_t k = read(fd, b->p + b->len, b->max - b->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			e = k < 0 ? -errno : 0;
			break;
		}
		b->len += (size_t)k;
	}
	close(fd);
	return e;
}

/* ---- one snapshot as JSON ---------------------------------------------- */

int drfs_facts_snapshot_json(const struct drfs_snap_info *si, const char *on,
			     bool held, bool with_drill,
			     const struct drfs_drill_rec *drill,
			     struct drfs_buf *out)
{
	const struct drfs_snapshot *s = &si->snap;
	char hex[DRFS_ID_HEX_LEN + 1], t[48];
	int e = drfs_buf_printf(out, "{\"id\":\"%s\",\"time\":\"%s\",\"folder\":",
				drfs_id_hex(&si->id, hex),
				drfs_fmt_time_iso(&s->time, t));
	e = e ?: drfs_buf_json_str(out, si->folder);
	if (on)
		e = e ?: drfs_buf_printf(out, ",\"on\":\"%s\"", on);
	e = e ?: drfs_buf_printf(out, ",\"held\":%s,\"host\":",
				 held ? "true" : "false");
	e = e ?: drfs_buf_json_str(out, s->host);
	e = e ?: drfs_buf_printf(out, ",\"path\":");
	e = e ?: drfs_buf_json_str(out, s->path);
	if (s->duration_ms)
		e = e ?: drfs_buf_printf(out, ",\"duration_seconds\":%.3f",
					 (double)s->duration_ms / 1000.0);
	else
		e = e ?: drfs_buf_printf(out, ",\"duration_seconds\":null");
	e = e ?: drfs_buf_printf(out,
				 ",\"files\":%" PRIu64 ",\"dirs\":%" PRIu64
				 ",\"bytes\":%" PRIu64
				 ",\"added_bytes\":%" PRIu64 ",\"tags\":[",
				 s->files, s->dirs, s->bytes, s->added_bytes);
	const char *tag = s->tags;
	for (uint32_t k = 0; k < s->n_tags && !e; k++) {
		e = k ? drfs_buf_u8(out, ',') : 0;
		e = e ?: drfs_buf_json_str(out, tag);
		tag += strlen(tag) + 1;
	}
	e = e ?: drfs_buf_printf(out, "],\"parent\":");
	if (drfs_id_is_zero(&s->parent))
		e = e ?: drfs_buf_printf(out, "null");
	else
		e = e ?: drfs_buf_printf(out, "\"%s\"",
					 drfs_id_hex(&s->parent, hex));
	if (with_drill && !drill)
		e = e ?: drfs_buf_printf(out, ",\"drill\":null");
	else if (with_drill)
		e = e ?: drfs_buf_printf(out,
					 ",\"drill\":{\"time\":\"%s\""
					 ",\"ok\":%s,\"restore_seconds\":%.3f"
					 ",\"files\":%" PRIu64
					 ",\"bytes\":%" PRIu64 "}",
					 drfs_fmt_time_iso(&(struct timespec){
						 .tv_sec = (time_t)drill->time },
						 t),
					 drill->ok ? "true" : "false",
					 (double)drill->restore_ms / 1000.0,
					 drill->files, drill->bytes);
	return e ?: drfs_buf_u8(out, '}');
}

/* ---- an HTTP request head ----------------------------------------------- */

/* Where the head ends (after its empty line) in p[0..len); 0: not yet. */
static size_t http_head_end(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < len && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

int drfs_http_request_parse(const void *buf, size_t len, char *path,
			    size_t path_max)
{
	const char *p = buf;
	size_t end = http_head_end(p, MIN(len, DRFS_HTTP_REQUEST_MAX));
	if (!end)
		return len >= DRFS_HTTP_REQUEST_MAX ? -EBADMSG : 0;
	const char *nl = memchr(p, '\n', end);
	size_t ll = (size_t)(nl - p);
	if (ll && p[ll - 1] == '\r')
		ll--;
	for (size_t i = 0; i < ll; i++)
		if ((unsigned char)p[i] < 0x21 && p[i] != ' ')
			return -EBADMSG;
	const char *sp1 = memchr(p, ' ', ll);
	if (!sp1 || sp1 == p)
		return -EBADMSG;
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', ll - (size_t)(t - p));
	if (!sp2)
		return -EBADMSG;
	size_t vl = ll - (size_t)(sp2 + 1 - p);
	if (vl != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -EBADMSG;
	size_t tl = (size_t)(sp2 - t);
	const char *q = memchr(t, '?', tl);
	if (q)
		tl = (size_t)(q - t);
	if (!tl || t[0] != '/' || tl >= path_max)
		return -EBADMSG;
	if ((size_t)(sp1 - p) != 3 || memcmp(p, "GET", 3) != 0)
		return -EOPNOTSUPP;
	memcpy(path, t, tl);
	path[tl] = 0;
	return 1;
}

#define LOG_BYTES (DRFS_DRILL_LOG_MAX * (DRFS_DRILL_LOG_LINE_MAX + 1))

int drfs_drill_log_read(struct drfs_repo *r, struct drfs_drill_rec **ret,
			size_t *ret_n)
{
	struct drfs_buf b;
	drfs_buf_init(&b, LOG_BYTES);
	int e = log_load(r, &b);
	struct drfs_drill_rec *v =
		e < 0 ? NULL : calloc(DRFS_DRILL_LOG_MAX, sizeof(*v));
	if (e >= 0 && !v)
		e = -ENOMEM;
	if (e >= 0) {
		*ret_n = drfs_drill_log_parse(b.p, b.len, v,
					      DRFS_DRILL_LOG_MAX);
		*ret = v;
	}
	drfs_buf_release(&b);
	return e < 0 ? e : 0;
}

int drfs_drill_log_add(struct drfs_repo *r, const struct drfs_drill_rec *d)
{
	struct drfs_drill_rec *v = NULL;
	size_t n = 0;
	char path[PATH_MAX], tmp[PATH_MAX], hex[DRFS_ID_HEX_LEN + 1];
	struct drfs_buf b;
	int e = log_path(r, "", path, sizeof(path));
	e = e ?: log_path(r, ".tmp", tmp, sizeof(tmp));
	e = e ?: drfs_drill_log_read(r, &v, &n);
	if (e < 0)
		return e;
	drfs_buf_init(&b, LOG_BYTES);
	size_t from = n + 1 > DRFS_DRILL_LOG_MAX ? n + 1 - DRFS_DRILL_LOG_MAX
						 : 0;
	for (size_t i = from; e >= 0 && i <= n; i++) {
		const struct drfs_drill_rec *x = i < n ? &v[i] : d;
		e = drfs_buf_printf(&b, "%" PRId64 " %s %s %" PRIu64 " %" PRIu64
				    " %" PRIu64 "\n",
				    x->time, drfs_id_hex(&x->snapshot, hex),
				    x->ok ? "ok" : "failed", x->restore_ms,
				    x->files, x->bytes);
	}
	free(v);
	int fd = e < 0 ? -1
		       : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
					   O_NOFOLLOW,
			      0600);
	if (e >= 0 && fd < 0)
		e = -errno;
	if (e >= 0)
		e = drfs_pwrite_all(fd, b.p, b.len, 0);
	if (e >= 0 && fsync(fd) < 0)
		e = -errno;
	if (fd >= 0)
		close(fd);
	if (e >= 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0 && fd >= 0)
		unlink(tmp);
	drfs_buf_release(&b);
	return e < 0 ? e : 0;
}
