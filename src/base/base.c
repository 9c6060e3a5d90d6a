/* SPDX-License-Identifier: MIT */
#include "drfs/base.h"

#include <ctype.h>
#include <stdio.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

void drfs_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void drfs_hex(const void *p, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = 0;
}

char *drfs_id_hex(const struct drfs_id *id, char *out)
{
	drfs_hex(id->b, DRFS_ID_LEN, out);
	return out;
}

static size_t idset_slot(const struct drfs_id *id, size_t cap)
{
	return (size_t)drfs_get_le64(id->b) & (cap - 1);
}

bool drfs_idset_has(const struct drfs_idset *s, const struct drfs_id *id)
{
	if (drfs_id_is_zero(id))
		return s->has_zero;
	if (!s->cap)
		return false;
	for (size_t i = idset_slot(id, s->cap); !drfs_id_is_zero(&s->v[i]);
	     i = (i + 1) & (s->cap - 1))
		if (drfs_id_eq(&s->v[i], id))
			return true;
	return false;
}

int drfs_idset_add(struct drfs_idset *s, const struct drfs_id *id)
{
	if (drfs_id_is_zero(id)) {
		bool had = s->has_zero;
		s->has_zero = true;
		return had;
	}
	if (drfs_idset_has(s, id))
		return 1;
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		struct drfs_id *v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (drfs_id_is_zero(&s->v[i]))
				continue;
			size_t j = idset_slot(&s->v[i], cap);
			while (!drfs_id_is_zero(&v[j]))
				j = (j + 1) & (cap - 1);
			v[j] = s->v[i];
		}
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	size_t i = idset_slot(id, s->cap);
	while (!drfs_id_is_zero(&s->v[i]))
		i = (i + 1) & (s->cap - 1);
	s->v[i] = *id;
	s->n++;
	return 0;
}

void drfs_idset_free(struct drfs_idset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int drfs_unhex(const char *hex, size_t len, void *out)
{
	uint8_t *b = out;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]);
		if (hi < 0)
			return -EINVAL;
		int lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int drfs_id_parse(const char *hex, struct drfs_id *ret)
{
	struct drfs_id id;
	if (drfs_unhex(hex, DRFS_ID_LEN, id.b) < 0 || hex[DRFS_ID_HEX_LEN])
		return -EINVAL;
	*ret = id;
	return 0;
}

int drfs_mkdir_p(const char *path, unsigned mode)
{
	_cleanup_free_ char *p = strdup(path);
	char *s;

	if (!p)
		return -ENOMEM;
	/* Skip leading slashes; empty components ("a//b") are harmless. */
	for (s = p; *s == '/'; s++)
		;
	for (;;) {
		char *slash = strchr(s, '/');

		if (slash)
			*slash = '\0';
		if (*s && mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		if (!slash)
			return 0;
		*slash = '/';
		s = slash + 1;
	}
}

double drfs_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void drfs_realtime_after(double sec, struct timespec *ret)
{
	clock_gettime(CLOCK_REALTIME, ret);
	if (sec <= 0)
		return;
	ret->tv_sec += (time_t)sec;
	ret->tv_nsec += (long)((sec - (double)(time_t)sec) * 1e9);
	if (ret->tv_nsec >= 1000000000L) {
		ret->tv_sec++;
		ret->tv_nsec -= 1000000000L;
	}
}

uint64_t drfs_duration_ms(double t0)
{
	double ms = (drfs_now_mono() - t0) * 1000.0;
	return ms < 1.0 ? 1 : (uint64_t)ms;
}

int drfs_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first)
{
	void **arr = v;
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : first;
	if (c <= n || c > SIZE_MAX / elem)
		return -ENOMEM;
	void *p = realloc(*arr, c * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

void drfs_hostname(char *out, size_t len)
{
	if (gethostname(out, len - 1) < 0 || !out[0])
		snprintf(out, len, "localhost");
	out[len - 1] = 0;
}

size_t drfs_utf8_decode(const uint8_t *p, size_t len, uint32_t *ret_cp)
{
	uint8_t c = len ? p[0] : 0x80;
	if (c < 0x80) {
		*ret_cp = c;
		return 1;
	}
	if (c < 0xc2 || c > 0xf4) /* continuation, overlong, too big */
		return 0;
	size_t n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	uint32_t cp = c & (0x7fu >> n);
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

bool drfs_cp_printable(uint32_t cp)
{
	return cp >= 0x20 && (cp < 0x7f || cp >= 0xa0) &&
	       !(cp >= 0x202a && cp <= 0x202e) &&
	       !(cp >= 0x2066 && cp <= 0x2069);
}

char *drfs_str_show(const char *s, char *out, size_t out_len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), o = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = drfs_utf8_decode(p + i, n - i, &cp);
		if (!k || !drfs_cp_printable(cp) || cp == '"' || cp == '\\')
			k = 0;
		if (o + (k ? k : 4) + 4 > out_len) { /* then "..." and NUL */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (k) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else if (p[i] == '"' || p[i] == '\\') {
			out[o++] = '\\';
			out[o++] = (char)p[i++];
		} else {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", p[i++]);
		}
	}
	out[o] = 0;
	return out;
}

int drfs_random(void *p, size_t len)
{
	uint8_t *b = p;
	while (len) {
		ssize_t n = getrandom(b, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int drfs_parse_size(const char *s, uint64_t *ret)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (tolower((unsigned char)*end)) {
	case 0:
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	case 't':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

int drfs_parse_rate(const char *s, uint64_t *ret)
{
	char num[32];
	size_t len;
	uint64_t v;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len > 2 && !strcmp(s + len - 2, "/s"))
		len -= 2;
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, len);
	num[len] = '\0';
	if (drfs_parse_size(num, &v) < 0)
		return -EINVAL;
	if (strspn(num, "0123456789") == len) { /* KiB/s */
		if (v > UINT64_MAX >> 10)
			return -EINVAL;
		v <<= 10;
	}
	if (v < 1024)
		return -EINVAL;
	*ret = v;
	return 0;
}

int drfs_parse_duration(const char *s, int64_t *ret)
{
	int64_t total = 0;
	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		char *end;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || v < 0)
			return -EINVAL;
		int64_t mul;
		switch (*end) {
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		case 'w':
			mul = 7 * 86400;
			break;
		case 'y':
			mul = 365 * 86400;
			break;
		default:
			return -EINVAL;
		}
		if (v > INT64_MAX / mul / 2 || total > INT64_MAX / 2)
			return -EINVAL;
		total += v * mul;
		s = end + 1;
	}
	*ret = total;
	return 0;
}

int drfs_parse_time(const char *s, struct timespec *ret)
{
	struct tm tm = { 0 };
	int n = 0;
	long nsec = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &n) != 3 ||
	    n != 10)
		return -EINVAL;
	const char *p = s + n;
	if (*p == 'T' || *p == ' ') {
		int m = 0;
		if (sscanf(p + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min,
			   &tm.tm_sec, &m) != 3 ||
		    m != 8)
			return -EINVAL;
		p += 1 + m;
		if (*p == '.') {
			p++;
			int digits = 0;
			while (isdigit((unsigned char)*p)) {
				if (digits < 9) {
					nsec = nsec * 10 + (*p - '0');
					digits++;
				}
				p++;
			}
			if (!digits)
				return -EINVAL;
			while (digits++ < 9)
				nsec *= 10;
		}
	}
	long off = 0; /* seconds east of UTC: "+02:00" */
	if (*p == 'Z') {
		p++;
	} else if ((*p == '+' || *p == '-') && p != s + n) {
		int oh, om, k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 ||
		    !isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[4]) || oh > 23 || om > 59)
			return -EINVAL;
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 1 + k;
	}
	if (*p)
		return -EINVAL;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	ret->tv_sec = t - off;
	ret->tv_nsec = nsec;
	return 0;
}

char *drfs_fmt_time_iso(const struct timespec *t, char out[48])
{
	struct tm tm;
	time_t s = t->tv_sec;
	gmtime_r(&s, &tm);
	snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, t->tv_nsec);
	return out;
}

char *drfs_fmt_bytes(uint64_t n, char *out)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%llu B", (unsigned long long)n);
	else
		snprintf(out, 32, "%.1f %s", v, units[u]);
	return out;
}

int drfs_write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int drfs_pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

ssize_t drfs_pread_all(int fd, void *p, size_t len, uint64_t off)
{
	uint8_t *b = p;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, b + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}
