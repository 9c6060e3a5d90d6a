/* SPDX-License-Identifier: MIT */
/*
 * progress.c - the progress of a long command (backup, restore, check,
 * copy, drill, prune, umount): a line on stderr rewritten in place, or
 * with --json JSON lines on stdout (docs/json.md), from a thread reading
 * the operation's counters (struct drfs_progress).
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "drfs/ops.h"

#include "cliint.h"

/* "1:02:03", "2:03" */
static void fmt_eta(double s, char out[32])
{
	unsigned long t = s > 0 && s < 1e7 ? (unsigned long)(s + 0.5) : 0;
	if (t >= 3600)
		snprintf(out, 32, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60,
			 t % 60);
	else
		snprintf(out, 32, "%lu:%02lu", t / 60, t % 60);
}

/* Seconds since the current phase began (the rate is that of the phase). */
static double phase_seconds(const struct cli_progress *pt, double el)
{
	double ps = atomic_load(&pt->p.phase_start);
	return ps > 0 ? pt->start + el - ps : el;
}

/* One JSON line: {"type":"progress",...} (docs/json.md) */
static void progress_json(struct cli_progress *pt, double el)
{
	const struct drfs_progress *p = &pt->p;
	const char *phase = atomic_load(&p->phase);
	const char *unit = atomic_load(&p->unit) ?: pt->unit;
	uint64_t bytes = p->bytes, total = p->bytes_total;
	double pel = phase_seconds(pt, el);
	double rate = pel > 0 ? (double)bytes / pel : 0;
	printf("{\"type\":\"progress\",\"command\":\"%s\",\"phase\":",
	       pt->verb);
	if (phase)
		cli_json_str(stdout, phase);
	else
		fputs("null", stdout);
	printf(",\"seconds\":%.3f,\"unit\":\"%s\",\"count\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"bytes_new\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"bytes_per_second\":%.0f",
	       el, unit, (uint64_t)p->files, bytes,
	       (uint64_t)p->bytes_new, (uint64_t)p->errors, rate);
	if (total)
		printf(",\"bytes_total\":%" PRIu64 ",\"percent\":%.1f,"
		       "\"eta_seconds\":%.0f", total,
		       bytes >= total ? 100.0
				      : 100.0 * (double)bytes / (double)total,
		       rate > 0 && total > bytes
			       ? (double)(total - bytes) / rate
			       : 0.0);
	printf("}\n");
	fflush(stdout);
}

/*
 * With a known total the percentage, the bytes of the total, the rate and
 * the time left; without, what was counted so far (counts, bytes, new
 * bytes, rate: those not zero) and the time spent.
 */
static void progress_line(struct cli_progress *pt, double el)
{
	const struct drfs_progress *p = &pt->p;
	const char *phase = atomic_load(&p->phase);
	const char *unit = atomic_load(&p->unit) ?: pt->unit;
	char b1[32], b2[32], b3[32], eta[32], head[320];
	uint64_t bytes = p->bytes, total = p->bytes_total;
	uint64_t files = p->files, new = p->bytes_new;
	double pel = phase_seconds(pt, el);
	double rate = pel > 0 ? (double)bytes / pel : 0;
	snprintf(head, sizeof(head), "%s: %s%s", pt->verb, phase ?: "",
		 phase ? ": " : "");
	drfs_fmt_bytes((uint64_t)rate, b3);
	if (total) {
		fmt_eta(rate > 0 && total > bytes
				? (double)(total - bytes) / rate
				: 0, eta);
		fprintf(stderr, "\r%s%5.1f%% %s of %s, %s/s, ETA %s, %" PRIu64
			" %s\033[K", head,
			bytes >= total ? 100.0
				       : 100.0 * (double)bytes / (double)total,
			drfs_fmt_bytes(bytes, b1), drfs_fmt_bytes(total, b2),
			b3, eta, files, unit);
		return;
	}
	fmt_eta(el, eta);
	fprintf(stderr, "\r%s", head);
	if (files || pt->always_counts)
		fprintf(stderr, "%" PRIu64 " %s, ", files, unit);
	if (bytes || pt->always_counts)
		fprintf(stderr, "%s, ", drfs_fmt_bytes(bytes, b1));
	if (new || pt->always_counts)
		fprintf(stderr, "%s new, ", drfs_fmt_bytes(new, b2));
	if (bytes || pt->always_counts)
		fprintf(stderr, "%s/s, ", b3);
	fprintf(stderr, "%s\033[K", eta);
}

/*
 * Every 250 ms on a terminal; as JSON lines every second, and when a new
 * phase was entered.
 */
static void *progress_main(void *arg)
{
	struct cli_progress *pt = arg;
	const char *last_phase = NULL;
	for (unsigned tick = 1; !atomic_load(&pt->stop); tick++) {
		usleep(250000);
		double el = drfs_now_mono() - pt->start;
		const char *phase = atomic_load(&pt->p.phase);
		if (!pt->json) {
			progress_line(pt, el);
		} else if (tick % 4 == 0 || phase != last_phase) {
			progress_json(pt, el);
			tick = 0;
		}
		last_phase = phase;
	}
	return NULL;
}

void cli_progress_start(struct cli_progress *pt, const struct cli *c,
			const char *unit)
{
	memset(pt, 0, sizeof(*pt));
	pt->verb = c->cmd;
	pt->unit = unit;
	pt->start = drfs_now_mono();
	if (c->quiet)
		return;
	if (c->json) {
		if (!c->progress)
			return;
		pt->json = true;
	} else if (!c->progress && !isatty(STDERR_FILENO)) {
		return;
	}
	pt->on = pthread_create(&pt->th, NULL, progress_main, pt) == 0;
}

/*
 * A last refresh with the final counters (a command shorter than one tick
 * shows its line too: in a terminal's scrollback, a --progress log, or as
 * the last progress line before the JSON summary), then the line erased.
 */
void cli_progress_stop(struct cli_progress *pt)
{
	if (!pt->on)
		return;
	atomic_store(&pt->stop, true);
	pthread_join(pt->th, NULL);
	pt->on = false;
	double el = drfs_now_mono() - pt->start;
	if (pt->json) {
		progress_json(pt, el);
		return;
	}
	progress_line(pt, el);
	fputs("\r\033[K", stderr);
}

bool cli_exact_bytes;

char *cli_size(uint64_t n, char out[32])
{
	if (!cli_exact_bytes)
		return drfs_fmt_bytes(n, out);
	snprintf(out, 32, "%" PRIu64 " B", n);
	return out;
}

void cli_json_begin(const struct cli *c)
{
	fputs(c->progress ? "{\"type\":\"summary\"," : "{", stdout);
}
