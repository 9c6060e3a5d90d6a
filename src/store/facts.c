/* SPDX-License-Identifier: MIT */
/*
 * facts.c - the figures monitoring reads (facts.h): collected from a
 * repository, encoded for the mount's control channel, the drill log's
 * lines decoded, one snapshot as JSON, an HTTP request head parsed. Their
 * Prometheus rendering is factsprom.c's; the drill log file drilllog.c's.
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
