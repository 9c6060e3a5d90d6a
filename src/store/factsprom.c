/* SPDX-License-Identifier: MIT */
/*
 * factsprom.c - the figures of facts.h rendered in the Prometheus text
 * format (drfs_facts_prometheus): what `drfs metrics`, the mount's
 * --metrics-textfile and its --metrics-listen serve (docs/monitoring.md).
 */
#include <math.h>

#include "drfs/facts.h"

struct prom {
	struct drfs_buf *b;
	const struct drfs_facts *f;
	int e;
	/* JSON (drfs_facts_metrics_json): the family's type and help, and
	 * whether a sample was written already */
	bool json, sep;
	const char *type, *help;
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
	m->type = type;
	m->help = help;
	if (m->e >= 0 && !m->json)
		m->e = drfs_buf_printf(m->b, "# HELP %s %s\n# TYPE %s %s\n",
				       name, help, name, type);
}

/* The same sample as one object of drfs_facts_metrics_json's array. */
static void sample_json(struct prom *m, const char *name, const char *k,
			const char *v, double value)
{
	int e = drfs_buf_printf(m->b, "%s{\"name\":\"%s\",\"type\":\"%s\","
				"\"help\":", m->sep ? "," : "", name, m->type);
	e = e < 0 ? e : drfs_buf_json_str(m->b, m->help);
	e = e < 0 ? e : drfs_buf_printf(m->b, ",\"labels\":{\"repository\":");
	e = e < 0 ? e : drfs_buf_json_str(m->b, m->f->repo);
	if (k) {
		e = e < 0 ? e : drfs_buf_printf(m->b, ",\"%s\":", k);
		e = e < 0 ? e : drfs_buf_json_str(m->b, v);
	}
	/* NaN and the infinities have no JSON spelling */
	if (isfinite(value))
		e = e < 0 ? e : drfs_buf_printf(m->b, "},\"value\":%.17g}",
						value);
	else
		e = e < 0 ? e : drfs_buf_printf(m->b, "},\"value\":null}");
	m->sep = true;
	m->e = e;
}

/* name{repository="...",<k>="<v>"} value */
static void sample(struct prom *m, const char *name, const char *k,
		   const char *v, double value)
{
	if (m->e < 0)
		return;
	if (m->json) {
		sample_json(m, name, k, v, value);
		return;
	}
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

/* a / b, or none when b is 0 */
static double ratio(uint64_t a, uint64_t b, double none)
{
	return b ? (double)a / (double)b : none;
}

/* The snapshots, and the newest of each host. */
static void prom_snapshots(struct prom *m)
{
	const struct drfs_facts *f = m->f;

	gauge(m, "drfs_snapshots", "Snapshots in the repository.",
	      (double)f->snapshots);
	per_host(m, "drfs_host_snapshots", "Snapshots of each host.", 6);
	per_host(m, "drfs_last_snapshot_timestamp_seconds",
		 "Time of the newest snapshot of each host (Unix seconds).", 0);
	per_host(m, "drfs_last_snapshot_age_seconds",
		 "Age of the newest snapshot of each host.", 1);
	per_host(m, "drfs_last_snapshot_duration_seconds",
		 "How long the newest snapshot's backup or commit took "
		 "(absent when it did not record it).", 2);
	per_host(m, "drfs_last_snapshot_added_bytes",
		 "Stored bytes the newest snapshot of each host added.", 3);
	per_host(m, "drfs_last_snapshot_files",
		 "Files in the newest snapshot of each host.", 4);
	per_host(m, "drfs_last_snapshot_bytes",
		 "Logical bytes of the newest snapshot of each host.", 5);
}

/* The storage: whether it answers, its failures and retries. */
static void prom_backend(struct prom *m)
{
	const struct drfs_facts *f = m->f;

	if (f->endpoint_up >= 0)
		gauge(m, "drfs_endpoint_up",
		      "1 when the repository's storage answered a request for "
		      "its config, else 0.", f->endpoint_up);
	head(m, "drfs_backend_errors_total", "counter",
	     "Storage requests that failed after their retries, by kind.");
	for (int k = 0; k < DRFS_BE_KINDS; k++)
		sample(m, "drfs_backend_errors_total", "kind",
		       drfs_backend_kind_name(k), (double)f->errors[k]);
	head(m, "drfs_backend_retries_total", "counter",
	     "Storage requests retried, by the kind of failure.");
	for (int k = 0; k < DRFS_BE_KINDS; k++)
		sample(m, "drfs_backend_retries_total", "kind",
		       drfs_backend_kind_name(k), (double)f->retries[k]);
}

/* How much of the repository this cache has verified. */
static void prom_verified(struct prom *m)
{
	const struct drfs_facts *f = m->f;

	if (f->have_verify) {
		gauge(m, "drfs_verified_packs_ratio",
		      "Share of the packs this cache has read back and "
		      "verified (dedup-loss guard, check --read-data-subset).",
		      ratio(f->verified_packs, f->verify_packs, 1.0));
		gauge(m, "drfs_verified_bytes_ratio",
		      "Share of the pack bytes this cache has verified.",
		      ratio(f->verified_bytes, f->verify_bytes, 1.0));
		if (f->oldest_verification)
			gauge(m, "drfs_oldest_verification_timestamp_seconds",
			      "When the verified pack verified longest ago was "
			      "read back.", (double)f->oldest_verification);
	}
}

/* The repository's sizes and ratios (when its statistics were read). */
static void prom_sizes(struct prom *m)
{
	const struct drfs_facts *f = m->f;

	if (f->have_stats) {
		gauge(m, "drfs_repository_size_bytes",
		      "Bytes of every object of the repository.",
		      (double)f->repo_bytes);
		gauge(m, "drfs_repository_unique_bytes",
		      "Bytes of the unique blobs before compression.",
		      (double)f->raw_bytes);
		gauge(m, "drfs_repository_logical_bytes",
		      "Bytes of all snapshots added up.",
		      (double)f->logical_bytes);
		gauge(m, "drfs_dedup_ratio",
		      "Logical bytes of all snapshots per unique byte.",
		      ratio(f->logical_bytes, f->raw_bytes, 0));
		gauge(m, "drfs_compression_ratio",
		      "Unique bytes per stored (compressed, encrypted) byte.",
		      ratio(f->raw_bytes, f->stored_bytes, 0));
	}
}

/* The last drill, and the last successful one. */
static void prom_drills(struct prom *m)
{
	const struct drfs_facts *f = m->f;

	if (f->have_drill) {
		gauge(m, "drfs_last_drill_timestamp_seconds",
		      "When the last drill of this cache directory finished.",
		      (double)f->drill.time);
		gauge(m, "drfs_last_drill_success",
		      "1 when the last drill restored and verified everything.",
		      f->drill.ok);
	}
	if (f->have_drill_ok) {
		gauge(m, "drfs_last_successful_drill_timestamp_seconds",
		      "When the last successful drill finished.",
		      (double)f->drill_ok.time);
		gauge(m, "drfs_last_successful_drill_restore_seconds",
		      "Time-to-restore the last successful drill measured.",
		      (double)f->drill_ok.restore_ms / 1000);
	}
}

/* A mount's upload backlog, memory and now/. */
static void prom_mount(struct prom *m)
{
	const struct drfs_facts *f = m->f;

	if (f->mounted) {
		gauge(m, "drfs_upload_backlog_objects",
		      "Files of now/ whose data is not yet durable in the "
		      "repository.", (double)f->backlog_objects);
		gauge(m, "drfs_upload_backlog_bytes",
		      "Bytes of those files.", (double)f->backlog_bytes);
		gauge(m, "drfs_upload_pending_blobs",
		      "Blobs handed to the pack writer, not yet uploaded.",
		      (double)f->pending_blobs);
		gauge(m, "drfs_upload_pending_bytes",
		      "Bytes of those blobs.", (double)f->pending_bytes);
		gauge(m, "drfs_upload_backlog_oldest_age_seconds",
		      "Seconds since the backlog was last empty (0: empty).",
		      f->backlog_age);
		gauge(m, "drfs_upload_stalled_seconds",
		      "Seconds since the backlog last shrank (0: empty).",
		      f->stalled);
		gauge(m, "drfs_daemon_resident_memory_bytes",
		      "Resident memory of the mount daemon.",
		      (double)f->rss_bytes);
		if (f->last_check)
			gauge(m, "drfs_last_check_timestamp_seconds",
			      "When --snapshot-every last found nothing "
			      "changed to snapshot.",
			      (double)f->last_check);
		gauge(m, "drfs_now_changed",
		      "1 when now/ changed since its last snapshot.",
		      f->changed);
	}
}

/* Every family of figures into m. */
static int prom_all(struct prom *m)
{
	prom_snapshots(m);
	prom_backend(m);
	prom_verified(m);
	prom_sizes(m);
	prom_drills(m);
	prom_mount(m);
	return m->e < 0 ? m->e : 0;
}

int drfs_facts_prometheus(const struct drfs_facts *f, struct drfs_buf *out)
{
	struct prom m = { .b = out, .f = f };
	return prom_all(&m);
}

int drfs_facts_metrics_json(const struct drfs_facts *f, struct drfs_buf *out)
{
	struct prom m = { .b = out, .f = f, .json = true };
	int e = drfs_buf_printf(out, "\"metrics\":[");
	e = e < 0 ? e : prom_all(&m);
	return e < 0 ? e : drfs_buf_printf(out, "]}\n");
}
