/* SPDX-License-Identifier: MIT */
/*
 * mountconf.c - the config file of `drfs mount --config FILE MOUNTPOINT`
 * (docs/mount.md, "Several repositories in one mount"): INI sections, one
 * per repository, named by the folder it gets.
 *
 *   # comment (also ";")
 *   [web-eu]
 *   repository = s3://web-eu/drfs
 *   password-file = /etc/drfs/web-eu.pass
 *
 * A pure function over (buf, len), strict: an unknown key, a key given
 * twice in a section, a folder name given twice or not valid, a section
 * without "repository", a key outside a section, a line that is neither,
 * a passphrase in the file: each an error naming its line. Values are
 * checked by the caller (mount_config in cli.c), which knows their types.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cliint.h"
#include "drfs/fs.h"

#define CONF_LINE_MAX 4096
#define CONF_SECTIONS_MAX 64

static const char *const conf_keys[] = {
	"repository", "password-file", "password-command", "no-encryption",
	"cache-dir", "cache-size", "snapshot-every", "snapshot-on-unmount",
	"keep-last", "keep-hourly", "keep-daily", "keep-weekly",
	"keep-monthly", "keep-yearly", "keep-within", "host", "endpoint",
	"region", "profile",
};

static _printf_(3, 4) int conf_err(char *err, size_t len, const char *fmt,
				   ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r'))
		end--;
	*end = 0;
	return s;
}

void drfs_mount_conf_release(struct drfs_mount_conf *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->s[i].e);
	free(c->s);
	free(c->text);
	memset(c, 0, sizeof(*c));
}

const char *drfs_mount_conf_get(const struct drfs_mount_conf_section *s,
				const char *key, unsigned *ret_line)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->e[i].key, key)) {
			if (ret_line)
				*ret_line = s->e[i].line;
			return s->e[i].value;
		}
	return NULL;
}

static int add_entry(struct drfs_mount_conf_section *s, char *key,
		     char *value, unsigned line)
{
	void *p = realloc(s->e, (s->n + 1) * sizeof(*s->e));
	if (!p)
		return -ENOMEM;
	s->e = p;
	s->e[s->n++] = (struct drfs_mount_conf_entry){ key, value, line };
	return 0;
}

static int parse_line(struct drfs_mount_conf *c, char *p, unsigned no,
		      char *err, size_t errlen)
{
	struct drfs_mount_conf_section *cur = c->n ? &c->s[c->n - 1] : NULL;
	char *end = p + strlen(p);

	p = trim(p, end);
	if (!*p || *p == '#' || *p == ';')
		return 0;
	for (char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t')
			return conf_err(err, errlen, "%u: a control "
					"character", no);
	if (*p == '[') {
		char *close = strchr(p, ']');
		if (!close || close[1])
			return conf_err(err, errlen, "%u: a section is "
					"\"[NAME]\"", no);
		char *name = trim(p + 1, close);
		if (!drfs_fs_multi_name_ok(name))
			return conf_err(err, errlen, "%u: \"%s\" is not "
					"a valid folder name (1 to 64 of A-Z "
					"a-z 0-9 . _ -, not starting with "
					"\".\")", no, name);
		for (size_t i = 0; i < c->n; i++)
			if (!strcmp(c->s[i].name, name))
				return conf_err(err, errlen, "%u: "
						"[%s] again (first on line "
						"%u): each repository needs "
						"a folder of its own", no,
						name, c->s[i].line);
		if (c->n >= CONF_SECTIONS_MAX)
			return conf_err(err, errlen, "%u: more than %d "
					"repositories", no, CONF_SECTIONS_MAX);
		void *s = realloc(c->s, (c->n + 1) * sizeof(*c->s));
		if (!s)
			return -ENOMEM;
		c->s = s;
		c->s[c->n++] = (struct drfs_mount_conf_section){ .name = name,
								 .line = no };
		return 0;
	}
	char *eq = strchr(p, '=');
	if (!eq)
		return conf_err(err, errlen, "%u: neither \"[NAME]\" nor "
				"\"key = value\"", no);
	char *key = trim(p, eq), *value = trim(eq + 1, end);
	if (!strcmp(key, "password") || !strcmp(key, "passphrase"))
		return conf_err(err, errlen, "%u: a passphrase never goes "
				"in the config file: use password-file or "
				"password-command", no);
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++)
		known |= !strcmp(key, conf_keys[i]);
	if (!known) {
		const char *near = cli_closest(key, conf_keys,
					       ARRAY_SIZE(conf_keys));
		return conf_err(err, errlen, "%u: unknown key \"%s\"%s%s%s",
				no, key, near ? " (did you mean \"" : "",
				near ? near : "", near ? "\"?)" : "");
	}
	if (!cur)
		return conf_err(err, errlen, "%u: \"%s\" outside a "
				"[NAME] section", no, key);
	unsigned first;
	if (drfs_mount_conf_get(cur, key, &first))
		return conf_err(err, errlen, "%u: \"%s\" again in [%s] "
				"(first on line %u)", no, key, cur->name,
				first);
	if (!*value)
		return conf_err(err, errlen, "%u: \"%s\" has no value",
				no, key);
	return add_entry(cur, key, value, no);
}

int drfs_mount_conf_parse(const char *buf, size_t len,
			  struct drfs_mount_conf *ret, char *err,
			  size_t errlen)
{
	struct drfs_mount_conf c = { 0 };
	unsigned no = 0;
	int e = 0;

	err[0] = 0;
	if (memchr(buf, 0, len))
		return conf_err(err, errlen, "a NUL byte: not a text file");
	c.text = malloc(len + 1);
	if (!c.text)
		return -ENOMEM;
	memcpy(c.text, buf, len);
	c.text[len] = 0;
	for (char *p = c.text, *next; e == 0 && p && *p; p = next) {
		next = strchr(p, '\n');
		if (next)
			*next++ = 0;
		no++;
		if (strlen(p) > CONF_LINE_MAX)
			e = conf_err(err, errlen, "%u: longer than %d "
				     "bytes", no, CONF_LINE_MAX);
		else
			e = parse_line(&c, p, no, err, errlen);
	}
	for (size_t i = 0; e == 0 && i < c.n; i++)
		if (!drfs_mount_conf_get(&c.s[i], "repository", NULL))
			e = conf_err(err, errlen, "%u: [%s] has no "
				     "\"repository = ...\"", c.s[i].line,
				     c.s[i].name);
	if (e == 0 && c.n == 0)
		e = conf_err(err, errlen, "no [NAME] section: no repository");
	if (e < 0) {
		if (e == -ENOMEM && !err[0])
			snprintf(err, errlen, "out of memory");
		drfs_mount_conf_release(&c);
		return e;
	}
	*ret = c;
	return 0;
}
