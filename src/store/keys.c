/* SPDX-License-Identifier: MIT */
/*
 * keys.c - the key files of an open repository: list, add one for another
 * passphrase, remove one (docs/format.md §3: every key file wraps the same
 * master keys, a reader tries each). A key is only ever added after it
 * was read back and opened, and the one this process opened with is never
 * removed: the repository always keeps a key that works.
 */
#include <stdio.h>

#include "drfs/backend.h"
#include "drfs/crypto.h"
#include "drfs/format.h"
#include "drfs/limits.h"
#include "drfs/repo.h"
#include "drfs/testhook.h"

struct key_list {
	struct drfs_repo *r;
	struct drfs_key_info *v;
	size_t n, cap;
	int e;
};

static int add_name(const char *name, uint64_t size, void *userdata)
{
	struct key_list *l = userdata;
	struct drfs_id id;
	/* keys/<64 hex>: anything else there is no key file of ours */
	if (strncmp(name, "keys/", 5) || drfs_id_parse(name + 5, &id) < 0)
		return 0;
	if (drfs_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 8) < 0) {
		l->e = -ENOMEM;
		return -ENOMEM;
	}
	struct drfs_key_info *k = &l->v[l->n++];
	k->id = id;
	k->size = size;
	k->current = !strcmp(name, l->r->key_name);
	return 0;
}

int drfs_repo_keys_list(struct drfs_repo *r, struct drfs_key_info **ret,
			size_t *ret_n)
{
	struct key_list l = { .r = r };
	int e = drfs_backend_list(r->be, "keys/", add_name, &l);
	if (e < 0 || l.e < 0) {
		free(l.v);
		return l.e < 0 ? l.e : e;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int drfs_repo_key_add(struct drfs_repo *r, const char *pass,
		      struct drfs_id *ret_id)
{
	struct drfs_scrypt_params sp = DRFS_SCRYPT_DEFAULT;
	struct drfs_buf kf, back;
	struct drfs_keys *check;
	struct drfs_id id;
	char name[DRFS_OBJECT_NAME_MAX], hex[DRFS_ID_HEX_LEN + 1];
	int e;

	if (!r->keys.encrypted)
		return -EOPNOTSUPP;
	if (!pass || !*pass)
		return -EINVAL;
	sp.log2n = drfs_test_scrypt_log2n(sp.log2n);
	check = drfs_secret_alloc(sizeof(*check));
	if (!check)
		return -ENOMEM;
	drfs_buf_init(&kf, 4096);
	drfs_buf_init(&back, 4096);
	e = drfs_keyfile_create(&r->keys, pass, &sp, &kf);
	if (e < 0)
		goto out;
	drfs_sha256(kf.p, kf.len, &id);
	snprintf(name, sizeof(name), "keys/%s", drfs_id_hex(&id, hex));
	e = drfs_backend_put(r->be, name, kf.p, kf.len, DRFS_PUT_CREATE_ONLY);
	/* read back what the repository holds now, and open it */
	e = e < 0 ? e : drfs_backend_get(r->be, name, 0, 4096, &back);
	e = e < 0 ? e : drfs_keyfile_open(back.p, back.len, pass, check);
	if (e >= 0 && (memcmp(check->data, r->keys.data, sizeof(check->data)) ||
		       memcmp(check->id, r->keys.id, sizeof(check->id))))
		e = -EBADMSG;
	if (e >= 0)
		*ret_id = id;
out:
	drfs_wipe(kf.p, kf.len);
	drfs_wipe(back.p, back.len);
	drfs_buf_release(&kf);
	drfs_buf_release(&back);
	drfs_secret_free(check);
	return e < 0 ? e : 0;
}

int drfs_repo_key_remove(struct drfs_repo *r, const struct drfs_id *id)
{
	struct drfs_key_info *v;
	size_t n, others = 0;
	bool there = false;
	char name[DRFS_OBJECT_NAME_MAX], hex[DRFS_ID_HEX_LEN + 1];
	snprintf(name, sizeof(name), "keys/%s", drfs_id_hex(id, hex));
	if (!strcmp(name, r->key_name))
		return -EBUSY;
	int e = drfs_repo_keys_list(r, &v, &n);
	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i++) {
		if (drfs_id_eq(&v[i].id, id))
			there = true;
		else
			others++;
	}
	free(v);
	if (!there)
		return -ENOENT;
	if (!others)
		return -EBUSY; /* never the last key file */
	return drfs_backend_del(r->be, name);
}
