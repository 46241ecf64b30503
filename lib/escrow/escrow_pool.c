/* SPDX-License-Identifier: ISC */
/*
 * escrow_pool: unused wrap public keys kept in the keystore, blob file
 * "wrappool" (docs/FORMAT.md §18.6), so that an escrow-wrap backup needs
 * no network and still gets a key pair of its own.  Public keys are not
 * secret: the file is not wrapped, and taking a key needs no password.
 * Read-modify-write happens under the keystore lock, so two backups never
 * take the same key.
 *
 * Payload: version u8 (1) | count u32 | count × (server bytes32 |
 * key id [32] ASCII hex | public key [32]).
 */
#include <stdio.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"
#include "../keystore/keystore.h"

#define POOL_FILE	"wrappool"
#define POOL_VERSION	1
#define POOL_MAX	128		/* entries, all servers together */

struct pool_entry {
	char	server[ESCROW_URL_MAX + 1];
	char	key_id[ESCROW_KEYID_LEN + 1];
	uint8_t	pub[ESCROW_PUB_LEN];
};

struct pool {
	struct pool_entry	*v;
	size_t			 n;
};

/* same_server(a, b): equal but for trailing '/'. */
static bool
same_server(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	while (na > 0 && a[na - 1] == '/')
		na--;
	while (nb > 0 && b[nb - 1] == '/')
		nb--;
	return na == nb && strncmp(a, b, na) == 0;
}

static void
pool_release(struct pool *pl)
{
	coffer_free(pl->v);
	pl->v = NULL;
	pl->n = 0;
}

static int
pool_load(struct keystore *kst, struct pool *pl, struct coffer_err *err)
{
	uint8_t *p = NULL;
	struct rbuf rb;
	size_t len = 0;
	uint32_t count;
	int r;

	pl->v = NULL;
	pl->n = 0;
	if ((r = keystore_get_blob(kst, POOL_FILE, &p, &len, err)) != 0)
		return r == COFFER_ENOTFOUND ? 0 : r;
	rbuf_init(&rb, p, len);
	if (rbuf_u8(&rb) != POOL_VERSION || (count = rbuf_u32(&rb)) >
	    POOL_MAX)
		goto bad;
	if ((pl->v = coffer_calloc(count, sizeof(*pl->v))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "wrap key pool");
		goto out;
	}
	for (pl->n = 0; pl->n < count; pl->n++) {
		struct pool_entry *e = &pl->v[pl->n];
		const uint8_t *s;
		size_t n = 0;

		if ((s = rbuf_bytes32(&rb, &n, ESCROW_URL_MAX)) == NULL ||
		    n == 0 || memchr(s, '\0', n) != NULL)
			goto bad;
		memcpy(e->server, s, n);
		e->server[n] = '\0';
		rbuf_copy(&rb, e->key_id, ESCROW_KEYID_LEN);
		e->key_id[ESCROW_KEYID_LEN] = '\0';
		rbuf_copy(&rb, e->pub, ESCROW_PUB_LEN);
		if (!rbuf_ok(&rb) || !escrow_valid_keyid(e->key_id))
			goto bad;
	}
	if (!rbuf_ok(&rb) || rbuf_left(&rb) != 0)
		goto bad;
	r = 0;
	goto out;
bad:
	pool_release(pl);
	r = coffer_err_set(err, COFFER_EFORMAT, "'%s/%s' is damaged (remove "
	    "it and run 'coffer escrow pool')", keystore_dir(kst), POOL_FILE);
out:
	secret_free(p);
	return r;
}

static int
pool_save(struct keystore *kst, const struct pool *pl, struct coffer_err *err)
{
	struct wbuf b;
	int r;

	wbuf_init(&b, KEYSTORE_BLOB_MAX);
	wbuf_u8(&b, POOL_VERSION);
	wbuf_u32(&b, (uint32_t)pl->n);
	for (size_t i = 0; i < pl->n; i++) {
		wbuf_bytes32(&b, pl->v[i].server, strlen(pl->v[i].server));
		wbuf_put(&b, pl->v[i].key_id, ESCROW_KEYID_LEN);
		wbuf_put(&b, pl->v[i].pub, ESCROW_PUB_LEN);
	}
	if (b.oom)
		r = coffer_err_set(err, COFFER_ENOMEM, "wrap key pool");
	else
		r = keystore_put_blob(kst, POOL_FILE, b.p, b.len, false, err);
	wbuf_release(&b);
	return r;
}

static size_t
pool_count(const struct pool *pl, const char *server)
{
	size_t n = 0;

	for (size_t i = 0; i < pl->n; i++)
		n += same_server(pl->v[i].server, server);
	return n;
}

int
escrow_pool_count(struct keystore *kst, const char *server,
    struct coffer_err *err)
{
	struct pool pl;
	int r;

	if ((r = pool_load(kst, &pl, err)) != 0)
		return r;
	r = (int)pool_count(&pl, server);
	pool_release(&pl);
	return r;
}

int
escrow_pool_take(struct keystore *kst, const char *server,
    char key_id[ESCROW_KEYID_LEN + 1], uint8_t pub[ESCROW_PUB_LEN],
    struct coffer_err *err)
{
	struct pool pl = { 0 };
	size_t i;
	int fd = -1;
	int r;

	key_id[0] = '\0';
	if ((r = keystore_flock(kst, &fd, err)) != 0)
		return r;
	if ((r = pool_load(kst, &pl, err)) != 0)
		goto out;
	for (i = 0; i < pl.n && !same_server(pl.v[i].server, server); i++)
		continue;
	if (i == pl.n) {
		r = coffer_err_set(err, COFFER_ENOTFOUND, "no unused wrap key "
		    "for %s is left on this device: run 'coffer escrow pool' "
		    "while online to fetch more", server);
		goto out;
	}
	memcpy(key_id, pl.v[i].key_id, ESCROW_KEYID_LEN + 1);
	memcpy(pub, pl.v[i].pub, ESCROW_PUB_LEN);
	memmove(&pl.v[i], &pl.v[i + 1], (pl.n - i - 1) * sizeof(pl.v[0]));
	pl.n--;
	/* Written before the key is used: a key is never handed out twice. */
	if ((r = pool_save(kst, &pl, err)) != 0)
		key_id[0] = '\0';
out:
	pool_release(&pl);
	keystore_funlock(fd);
	return r;
}

int
escrow_pool_clear(struct keystore *kst, const char *server,
    struct coffer_err *err)
{
	struct pool pl = { 0 };
	size_t i, j;
	int fd = -1;
	int r;

	if ((r = keystore_flock(kst, &fd, err)) != 0)
		return r;
	if ((r = pool_load(kst, &pl, err)) != 0 || pool_count(&pl, server) == 0)
		goto out;
	for (i = j = 0; i < pl.n; i++) {
		if (!same_server(pl.v[i].server, server))
			pl.v[j++] = pl.v[i];
	}
	pl.n = j;
	r = pool_save(kst, &pl, err);
out:
	pool_release(&pl);
	keystore_funlock(fd);
	return r;
}

int
escrow_pool_fill(struct keystore *kst, const struct escrow_login *lg,
    struct coffer_err *err)
{
	struct pool_entry got[ESCROW_POOL_TARGET];
	struct pool pl = { 0 };
	struct pool_entry *nv;
	size_t have, need, ngot = 0;
	int fd = -1;
	int r, rnet = 0;

	if ((r = escrow_pool_count(kst, lg->server, err)) < 0)
		return r;
	have = (size_t)r;
	if (have >= ESCROW_POOL_TARGET)
		return 0;
	/* Ask the server without holding the lock. */
	for (need = ESCROW_POOL_TARGET - have; ngot < need; ngot++) {
		struct pool_entry *e = &got[ngot];

		if ((rnet = escrow_wrapkey_new(lg, NULL, NULL, e->key_id,
		    e->pub, err)) != 0)
			break;
		snprintf(e->server, sizeof(e->server), "%s", lg->server);
	}
	if (ngot == 0)
		return rnet;
	if ((r = keystore_flock(kst, &fd, err)) != 0)
		goto out;
	if ((r = pool_load(kst, &pl, err)) != 0)
		goto out;
	if (pl.n + ngot > POOL_MAX) {
		r = coffer_err_set(err, COFFER_EINVAL, "the wrap key pool "
		    "'%s/%s' is full (%d keys)", keystore_dir(kst), POOL_FILE,
		    POOL_MAX);
		goto out;
	}
	if ((nv = coffer_realloc(pl.v, (pl.n + ngot) * sizeof(*nv))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "wrap key pool");
		goto out;
	}
	pl.v = nv;
	memcpy(pl.v + pl.n, got, ngot * sizeof(*nv));
	pl.n += ngot;
	if ((r = pool_save(kst, &pl, err)) != 0)
		goto out;
	/* What was fetched is kept; the failure is still reported. */
	r = rnet;
out:
	pool_release(&pl);
	keystore_funlock(fd);
	return r;
}
