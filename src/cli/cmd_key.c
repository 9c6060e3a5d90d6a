/* SPDX-License-Identifier: MIT */
/*
 * cmd_key.c - drfs key list|add|remove|passwd: the key files of a
 * repository (one per passphrase, all wrapping the same master keys).
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cliint.h"
#include "drfs/log.h"
#include "drfs/repo.h"
#include "drfs/testhook.h"

/*
 * The new passphrase into c->password2: --new-password-file FILE,
 * DRFS_PASSWORD2 (taken at start), else asked twice on the terminal.
 */
static int new_password(struct cli *c)
{
	if (c->new_password_file) {
		cli_drop_secret(&c->password2);
		return cli_read_secret_file(c->new_password_file,
					    &c->password2);
	}
	if (c->password2)
		return 0;
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0) {
		log_err("no new passphrase: give --new-password-file or "
			"DRFS_PASSWORD2, or run on a terminal");
		return -EINVAL;
	}
	c->password2 = cli_read_secret(tty, "new passphrase: ");
	char *again = c->password2 ? cli_read_secret(tty, "new passphrase "
							  "again: ")
				   : NULL;
	close(tty);
	int e = !c->password2 || !again ? -ENOMEM
		: strcmp(again, c->password2) ? -EINVAL : 0;
	cli_drop_secret(&again);
	if (e == -EINVAL)
		log_err("the passphrases do not match");
	return e;
}

/* The key file KEY (a prefix of its hex id) names; errors logged. */
static int find_key(struct drfs_repo *r, const char *prefix,
		    struct drfs_id *ret)
{
	struct drfs_key_info *v;
	size_t n, hits = 0, len = strlen(prefix);
	char hex[DRFS_ID_HEX_LEN + 1];
	int e = drfs_repo_keys_list(r, &v, &n);
	if (e < 0) {
		log_err("cannot list the key files: %s", drfs_strerror(e));
		return e;
	}
	for (size_t i = 0; i < n; i++)
		if (len && !strncmp(drfs_id_hex(&v[i].id, hex), prefix, len) &&
		    hits++ == 0)
			*ret = v[i].id;
	free(v);
	if (hits == 1)
		return 0;
	log_err("%s key file \"%s\" (see drfs key list)",
		hits ? "more than one" : "no", prefix);
	return -ENOENT;
}

static int key_list(struct cli *c, struct drfs_repo *r)
{
	struct drfs_key_info *v;
	size_t n;
	char hex[DRFS_ID_HEX_LEN + 1];
	int e = drfs_repo_keys_list(r, &v, &n);
	if (e < 0) {
		log_err("cannot list the key files: %s", drfs_strerror(e));
		return 1;
	}
	if (c->json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		drfs_id_hex(&v[i].id, hex);
		if (c->json)
			printf("%s{\"id\":\"%s\",\"current\":%s}", i ? "," : "",
			       hex, v[i].current ? "true" : "false");
		else
			printf("%s%s\n", hex,
			       v[i].current ? "  (current: this passphrase)"
					    : "");
	}
	if (c->json)
		printf("]\n");
	free(v);
	return 0;
}

/* Add a key for the new passphrase; its id in *ret. */
static int key_add(struct cli *c, struct drfs_repo *r, struct drfs_id *ret)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	if (!r->keys.encrypted) {
		log_err("an unencrypted repository has no passphrase");
		return -EOPNOTSUPP;
	}
	int e = new_password(c);
	if (e < 0)
		return e;
	if (!c->password2 || !*c->password2) {
		log_err("the new passphrase is empty");
		return -EINVAL;
	}
	e = drfs_repo_key_add(r, c->password2, ret);
	cli_drop_secret(&c->password2);
	if (e < 0) {
		log_err("cannot add a key file: %s%s%s", drfs_strerror(e),
			drfs_backend_last_error(r->be) ? ": " : "",
			drfs_backend_last_error(r->be) ?: "");
		return e;
	}
	fprintf(stderr, "drfs: key: added key file %s\n",
		drfs_id_hex(ret, hex));
	return 0;
}

static int key_remove(struct drfs_repo *r, const struct drfs_id *id)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	int e = drfs_repo_key_remove(r, id);
	if (e == -EBUSY)
		log_err("key file %.8s is the one this passphrase opens, or "
			"the last one: not removed (open the repository with "
			"another passphrase to remove it)",
			drfs_id_hex(id, hex));
	else if (e < 0)
		log_err("cannot remove key file %.8s: %s",
			drfs_id_hex(id, hex), drfs_strerror(e));
	else
		fprintf(stderr, "drfs: key: removed key file %s\n",
			drfs_id_hex(id, hex));
	return e;
}

int cli_cmd_key(struct cli *c)
{
	static const char *const subs[] = { "list", "add", "remove",
					    "passwd" };
	const char *sub = c->args[0];
	struct drfs_repo *r;
	struct drfs_id id, old;
	char hex[DRFS_ID_HEX_LEN + 1], oldhex[DRFS_ID_HEX_LEN + 1];
	size_t k;
	int e = 0;

	for (k = 0; k < ARRAY_SIZE(subs) && strcmp(sub, subs[k]); k++)
		;
	if (k == ARRAY_SIZE(subs)) {
		const char *near = cli_closest(sub, subs, ARRAY_SIZE(subs));
		cli_usage_err(c->cmd, "unknown subcommand \"%s\"%s%s%s", sub,
			      near ? " (did you mean \"" : "", near ?: "",
			      near ? "\"?)" : "");
		return EXIT_USAGE;
	}
	if ((k == 2) != (c->n_args == 3)) {
		cli_usage_err(c->cmd, "want drfs key %s REPO%s", sub,
			      k == 2 ? " KEY" : "");
		return EXIT_USAGE;
	}
	if (c->json && k != 0) {
		cli_usage_err(c->cmd, "--json: only for key list");
		return EXIT_USAGE;
	}
	if (cli_open_repo(c, c->args[1], &r) < 0)
		return 1;
	switch (k) {
	case 0:
		e = key_list(c, r) ? -EIO : 0;
		break;
	case 1:
		e = key_add(c, r, &id);
		break;
	case 2:
		e = find_key(r, c->args[2], &id);
		e = e ?: key_remove(r, &id);
		break;
	case 3:
		/* the new key first: a crash between the two steps leaves
		 * both passphrases working, never neither */
		e = drfs_id_parse(r->key_name + 5, &old);
		drfs_id_hex(&old, oldhex);
		e = e ?: key_add(c, r, &id);
		if (e < 0)
			break;
		drfs_test_crash_point("key-added");
		/* the new key file opens the same master keys (key_add read
		 * it back): it is the one in use now, the old one may go */
		snprintf(r->key_name, sizeof(r->key_name), "keys/%s",
			 drfs_id_hex(&id, hex));
		e = drfs_repo_key_remove(r, &old);
		if (e < 0)
			log_err("the new passphrase works, but the old key file "
				"%.8s could not be removed: %s (run drfs key "
				"remove with the new passphrase)",
				oldhex, drfs_strerror(e));
		else
			fprintf(stderr, "drfs: key: passphrase changed (key "
				"file %.8s removed)\n", oldhex);
		break;
	}
	drfs_repo_free(r);
	return e < 0 ? 1 : 0;
}
