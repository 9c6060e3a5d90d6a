/* SPDX-License-Identifier: MIT */
/*
 * drfs-craft - write a crafted snapshot into a repository, for tests: trees
 * that drfs backup would never write (names like "..", "a/b" or empty,
 * duplicate hard-link groups, 2,000-level nesting) built straight from a
 * spec, encrypted and stored like any other. Linked with libdrfs.
 *
 *   drfs-craft REPO [--cache-dir DIR] [--time ISO8601] < SPEC
 *
 * Prints the snapshot id. The repository is opened as drfs does
 * (DRFS_PASSWORD, AWS_* and AWS_ENDPOINT_URL_S3 from the environment).
 * SPEC, one entry a line, in the current directory (the snapshot root
 * first); '#' starts a comment:
 *
 *   dir NAME [ATTR...]          a directory; its entries follow, then:
 *   end
 *   file NAME DATA [ATTR...]    a regular file holding DATA
 *   symlink NAME TARGET [ATTR...]
 *   fifo NAME [ATTR...]
 *   deep N NAME FILE DATA       N directories NAME one in the other, the
 *                               innermost holding file FILE with DATA
 *
 * NAME, DATA and TARGET are %-escaped (%2f is '/', %00 NUL, %20 a space);
 * the token %E is the empty string. ATTR: mode=OCTAL (permission bits),
 * uid=N, gid=N, mtime=SECONDS, nlink=N, ino=N (a hard-link group is the
 * entries with the same ino and nlink > 1), xattr=NAME=VALUE (an extended
 * attribute, both %-escaped; not on dir).
 */
#include <stdio.h>
#include <sys/stat.h>

#include "cliint.h"
#include "drfs/format.h"
#include "drfs/log.h"
#include "drfs/repo.h"

struct entry {
	uint8_t *name;
	size_t name_len;
	uint8_t *enc; /* everything after the name */
	size_t enc_len;
};

struct dir {
	struct entry *v;
	size_t n, cap;
	char *name; /* %-escaped, as given */
	struct drfs_node node;
};

static struct drfs_writer *wr;
static const char *prog = "drfs-craft";
static uint64_t next_ino = 1000, n_files, n_dirs;
static int line_no;
/* the xattr= attributes of the entry being added (not a dir's) */
static struct drfs_xattr xattrs[16];
static size_t n_xattrs;

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: line %d: ", prog, line_no);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static int hexv(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* %-decode tok into a new buffer. */
static uint8_t *unescape(const char *tok, size_t *ret_len)
{
	size_t l = strlen(tok), o = 0;
	uint8_t *p = malloc(l + 1);
	if (!p)
		die("%s", "out of memory");
	if (!strcmp(tok, "%E")) {
		*ret_len = 0;
		return p;
	}
	for (size_t i = 0; i < l; i++) {
		if (tok[i] != '%') {
			p[o++] = (uint8_t)tok[i];
			continue;
		}
		int a = i + 2 < l ? hexv(tok[i + 1]) : -1;
		int b = a >= 0 ? hexv(tok[i + 2]) : -1;
		if (b < 0)
			die("bad escape in \"%s\"", tok);
		p[o++] = (uint8_t)(a << 4 | b);
		i += 2;
	}
	*ret_len = o;
	return p;
}

static void node_defaults(struct drfs_node *n, mode_t type)
{
	memset(n, 0, sizeof(*n));
	n->mode = type | (type == S_IFDIR ? 0755 : type == S_IFLNK ? 0777
								   : 0644);
	n->mtime.tv_sec = n->atime.tv_sec = n->ctime.tv_sec = 1700000000;
	n->nlink = 1;
	n->ino = next_ino++;
}

static void attrs(struct drfs_node *n, char **tok, int n_tok)
{
	for (int i = 0; i < n_tok; i++) {
		char *eq = strchr(tok[i], '=');
		if (!eq)
			die("bad attribute \"%s\"", tok[i]);
		*eq = 0;
		const char *k = tok[i], *v = eq + 1;
		int base = strcmp(k, "mode") ? 10 : 8;
		unsigned long long x = strtoull(v, NULL, base);
		if (!strcmp(k, "mode"))
			n->mode = (n->mode & S_IFMT) | (uint32_t)(x & 07777);
		else if (!strcmp(k, "uid"))
			n->uid = (uint32_t)x;
		else if (!strcmp(k, "gid"))
			n->gid = (uint32_t)x;
		else if (!strcmp(k, "mtime"))
			n->mtime.tv_sec = n->atime.tv_sec = (time_t)x;
		else if (!strcmp(k, "nlink"))
			n->nlink = (uint32_t)x;
		else if (!strcmp(k, "ino"))
			n->ino = x;
		else if (!strcmp(k, "xattr") && strchr(v, '=') &&
			 (n->mode & S_IFMT) != S_IFDIR &&
			 n_xattrs < ARRAY_SIZE(xattrs)) {
			char *sep = strchr(v, '=');
			struct drfs_xattr *xa = &xattrs[n_xattrs++];
			*sep = 0;
			xa->name = unescape(v, &xa->name_len);
			xa->value = unescape(sep + 1, &xa->value_len);
		} else
			die("unknown attribute \"%s\"", k);
	}
}

/*
 * Encode n (its name replaced by a placeholder the encoder accepts) and
 * add it to d under the raw name.
 */
static void add(struct dir *d, const uint8_t *name, size_t name_len,
		struct drfs_node *n, const struct drfs_extent *x, size_t nx)
{
	struct drfs_buf b;
	struct drfs_tree_enc enc;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	drfs_tree_enc_init(&enc, &b);
	n->name = (const uint8_t *)"x";
	n->name_len = 1;
	if (drfs_tree_enc_add(&enc, n, xattrs, n_xattrs, x, nx) < 0)
		die("%s", "cannot encode an entry");
	drfs_tree_enc_release(&enc);
	for (size_t i = 0; i < n_xattrs; i++) {
		free((void *)xattrs[i].name);
		free((void *)xattrs[i].value);
	}
	n_xattrs = 0;
	/* version byte, uvarint 1, 'x' */
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		d->v = realloc(d->v, d->cap * sizeof(*d->v));
		if (!d->v)
			die("%s", "out of memory");
	}
	struct entry *e = &d->v[d->n++];
	e->name = malloc(name_len + 1);
	memcpy(e->name, name, name_len);
	e->name_len = name_len;
	e->enc_len = b.len - 3;
	e->enc = malloc(e->enc_len + 1);
	memcpy(e->enc, b.p + 3, e->enc_len);
	drfs_buf_release(&b);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(x->name, y->name, MIN(x->name_len, y->name_len));
	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Store d's listing as a tree blob; frees d's entries. */
static void store_dir(struct dir *d, struct drfs_id *ret)
{
	struct drfs_buf b;
	uint8_t v[10];
	int e;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	qsort(d->v, d->n, sizeof(*d->v), entry_cmp);
	e = drfs_buf_u8(&b, 1);
	for (size_t i = 0; e >= 0 && i < d->n; i++) {
		size_t l = drfs_put_uvarint(v, d->v[i].name_len);
		e = drfs_buf_append(&b, v, l);
		e = e ?: drfs_buf_append(&b, d->v[i].name, d->v[i].name_len);
		e = e ?: drfs_buf_append(&b, d->v[i].enc, d->v[i].enc_len);
		free(d->v[i].name);
		free(d->v[i].enc);
	}
	if (e >= 0)
		e = drfs_writer_put_blob(wr, DRFS_BLOB_TREE, b.p, b.len, ret);
	if (e < 0)
		die("%s", "cannot store a tree");
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
	drfs_buf_release(&b);
	n_dirs++;
}

static void add_file(struct dir *d, const uint8_t *name, size_t name_len,
		     const char *data_tok, char **tok, int n_tok)
{
	struct drfs_node n;
	struct drfs_extent x;
	size_t len;
	uint8_t *data = unescape(data_tok, &len);
	node_defaults(&n, S_IFREG);
	attrs(&n, tok, n_tok);
	n.size = len;
	if (len &&
	    drfs_writer_put_blob(wr, DRFS_BLOB_DATA, data, len, &x.id) < 0)
		die("%s", "cannot store file data");
	x.off = 0;
	x.len = (uint32_t)len;
	add(d, name, name_len, &n, &x, len ? 1 : 0);
	free(data);
	n_files++;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	struct drfs_repo *r;
	struct drfs_snapshot snap = { 0 };
	struct drfs_id id;
	const char *url = NULL, *time_s = NULL;
	struct dir *stack = NULL;
	size_t depth = 0, cap = 0;
	char line[65536];

	c.cmd = "craft";
	c.be.path_style = -1;
	c.be.retries = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc)
			c.cache_dir = argv[++i];
		else if (!strcmp(argv[i], "--time") && i + 1 < argc)
			time_s = argv[++i];
		else if (!url && argv[i][0] != '-')
			url = argv[i];
		else
			url = NULL, i = argc;
	}
	if (!url) {
		fprintf(stderr, "usage: %s REPO [--cache-dir DIR] "
				"[--time ISO8601] < SPEC\n", prog);
		return 2;
	}
	if (time_s ? drfs_parse_time(time_s, &snap.time) < 0
		   : clock_gettime(CLOCK_REALTIME, &snap.time) < 0) {
		fprintf(stderr, "%s: bad --time\n", prog);
		return 2;
	}
	if (cli_open_repo(&c, url, &r) < 0)
		return 1;
	if (c.password) {
		explicit_bzero(c.password, strlen(c.password));
		free(c.password);
	}
	if (drfs_writer_new(r, &wr) < 0) {
		fprintf(stderr, "%s: cannot start a writer\n", prog);
		return 1;
	}
	cap = 16;
	stack = calloc(cap, sizeof(*stack));
	depth = 1; /* the root */
	while (fgets(line, sizeof(line), stdin)) {
		char *tok[64], *save = NULL;
		int nt = 0;
		line_no++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 64;
		     t = strtok_r(NULL, " \t\r\n", &save))
			tok[nt++] = t;
		if (!nt)
			continue;
		struct dir *d = &stack[depth - 1];
		size_t nl = 0;
		uint8_t *name = nt > 1 ? unescape(tok[1], &nl) : NULL;
		if (!strcmp(tok[0], "end")) {
			if (depth == 1)
				die("%s", "\"end\" without \"dir\"");
			struct dir *p = &stack[depth - 2];
			uint8_t *pn = unescape(d->name, &nl);
			store_dir(d, &d->node.subtree);
			add(p, pn, nl, &d->node, NULL, 0);
			free(pn);
			free(d->name);
			depth--;
		} else if (!strcmp(tok[0], "dir") && nt >= 2) {
			if (depth == cap) {
				cap *= 2;
				stack = realloc(stack, cap * sizeof(*stack));
			}
			struct dir *nd = &stack[depth++];
			memset(nd, 0, sizeof(*nd));
			nd->name = strdup(tok[1]);
			node_defaults(&nd->node, S_IFDIR);
			attrs(&nd->node, tok + 2, nt - 2);
		} else if (!strcmp(tok[0], "file") && nt >= 3) {
			add_file(d, name, nl, tok[2], tok + 3, nt - 3);
		} else if (!strcmp(tok[0], "symlink") && nt >= 3) {
			struct drfs_node n;
			size_t tl;
			uint8_t *t = unescape(tok[2], &tl);
			node_defaults(&n, S_IFLNK);
			attrs(&n, tok + 3, nt - 3);
			n.target = t;
			n.target_len = tl;
			n.size = tl;
			add(d, name, nl, &n, NULL, 0);
			free(t);
		} else if (!strcmp(tok[0], "fifo") && nt >= 2) {
			struct drfs_node n;
			node_defaults(&n, S_IFIFO);
			attrs(&n, tok + 2, nt - 2);
			add(d, name, nl, &n, NULL, 0);
		} else if (!strcmp(tok[0], "deep") && nt == 5) {
			long levels = strtol(tok[1], NULL, 10);
			size_t dl, fl;
			uint8_t *dn = unescape(tok[2], &dl);
			uint8_t *fn = unescape(tok[3], &fl);
			struct dir inner = { 0 };
			struct drfs_node n;
			add_file(&inner, fn, fl, tok[4], NULL, 0);
			for (long i = 0; i < levels; i++) {
				struct dir outer = { 0 };
				node_defaults(&n, S_IFDIR);
				store_dir(&inner, &n.subtree);
				add(i + 1 < levels ? &outer : d, dn, dl, &n,
				    NULL, 0);
				inner = outer;
			}
			free(dn);
			free(fn);
		} else {
			die("cannot understand \"%s\"", tok[0]);
		}
		free(name);
	}
	if (depth != 1)
		die("%s", "missing \"end\"");
	store_dir(&stack[0], &snap.root);
	if (drfs_writer_flush(wr) < 0) {
		fprintf(stderr, "%s: cannot write: %s\n", prog,
			drfs_writer_error(wr) ?: "?");
		return 1;
	}
	snprintf(snap.host, sizeof(snap.host), "craft");
	snprintf(snap.path, sizeof(snap.path), "/craft");
	snap.files = n_files;
	snap.dirs = n_dirs;
	if (drfs_repo_snapshot_write(r, &snap, &id) < 0) {
		fprintf(stderr, "%s: cannot write the snapshot\n", prog);
		return 1;
	}
	char hex[DRFS_ID_HEX_LEN + 1];
	printf("%s\n", drfs_id_hex(&id, hex));
	drfs_writer_free(wr);
	drfs_repo_free(r);
	free(stack);
	return 0;
}
