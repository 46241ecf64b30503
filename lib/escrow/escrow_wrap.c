/* SPDX-License-Identifier: ISC */
/*
 * escrow_wrap: wrap keys [S5], docs/PROTOCOL.md §6.  The server makes a
 * key pair per key set and keeps the private half; the client seals the
 * data key to the public half with the wrap key's id inside, so a sealed
 * key cannot be passed off as belonging to another pair, and asks the
 * server to open it at restore.
 */
#include <stdio.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"

#define SEAL_VERSION	1
#define SEAL_PLAIN_LEN	(2 + ESCROW_KEYID_LEN + ESCROW_DK_LEN)
#define SEALED_MAX	1024	/* PROTOCOL.md §6 */

_Static_assert(ESCROW_SEALED_LEN == BOX_SEAL_OVERHEAD + SEAL_PLAIN_LEN,
    "sealed key length");
_Static_assert(ESCROW_PUB_LEN == BOX_PUB_LEN, "wrap public key length");

int
escrow_wrapkey_new(const struct escrow_login *lg, const char *repo_id,
    const char *set_id, char key_id[ESCROW_KEYID_LEN + 1],
    uint8_t pub[ESCROW_PUB_LEN], struct coffer_err *err)
{
	static const char pool[] = "{\"label\":\"coffer wrap pool\"";
	static const char one[] = "{\"label\":\"coffer wrap key\"";
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	const char *id, *pk;
	json_t *doc = NULL;
	struct wbuf b;
	size_t n = 0;
	int r;

	key_id[0] = '\0';
	wbuf_init(&b, ESCROW_REQ_MAX);
	if (repo_id == NULL) {
		wbuf_put(&b, pool, sizeof(pool) - 1);
	} else {
		wbuf_put(&b, one, sizeof(one) - 1);
		wbuf_u8(&b, ',');
		if ((r = escrow_put_binding(&b, repo_id, set_id, err)) != 0)
			goto out;
	}
	wbuf_u8(&b, '}');
	if (b.oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "request");
		goto out;
	}
	if ((r = escrow_call(lg, "POST", "/v1/wrapkeys", (const char *)b.p,
	    b.len, 201, &doc, &what, err)) != 0)
		goto out;
	id = escrow_json_str(doc, "key_id");
	pk = escrow_json_str(doc, "public_key");
	if (id == NULL || !escrow_valid_keyid(id) || pk == NULL ||
	    b64_decode(pub, ESCROW_PUB_LEN, pk, strlen(pk), &n) != 0 ||
	    n != ESCROW_PUB_LEN) {
		r = coffer_err_set(err, COFFER_ENET, "the wrap key answer of "
		    "%s has no valid key id or public key: is this a cofferd "
		    "server?", lg->server);
		goto out;
	}
	memcpy(key_id, id, ESCROW_KEYID_LEN + 1);
	r = 0;
out:
	wbuf_release(&b);
	json_decref(doc);
	return r;
}

int
escrow_wrapkey_bind(const struct escrow_login *lg, const char *key_id,
    const char *repo_id, const char *set_id, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, key_id, false };
	char path[80];
	struct wbuf b;
	int r;

	if (!escrow_valid_keyid(key_id))
		return coffer_err_set(err, COFFER_EINVAL, "'%s' is not an "
		    "escrow key id", key_id != NULL ? key_id : "");
	wbuf_init(&b, ESCROW_REQ_MAX);
	wbuf_u8(&b, '{');
	if ((r = escrow_put_binding(&b, repo_id, set_id, err)) != 0)
		goto out;
	wbuf_u8(&b, '}');
	if (b.oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "request");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/wrapkeys/%s/bind", key_id);
	r = escrow_call(lg, "POST", path, (const char *)b.p, b.len, 204, NULL,
	    &what, err);
	if (r == COFFER_EEXIST)
		coffer_err_set(err, r, "%s: wrap key %s is bound to another "
		    "repository or key set", lg->server, key_id);
out:
	wbuf_release(&b);
	return r;
}

void
escrow_seal(const uint8_t pub[ESCROW_PUB_LEN], const char *key_id,
    const uint8_t dk[ESCROW_DK_LEN], uint8_t out[ESCROW_SEALED_LEN])
{
	uint8_t plain[SEAL_PLAIN_LEN];

	/* version | n | key id (n ASCII hex) | DK; PROTOCOL.md §6 */
	plain[0] = SEAL_VERSION;
	plain[1] = ESCROW_KEYID_LEN;
	memcpy(plain + 2, key_id, ESCROW_KEYID_LEN);
	memcpy(plain + 2 + ESCROW_KEYID_LEN, dk, ESCROW_DK_LEN);
	box_seal(out, plain, sizeof(plain), pub);
	secret_wipe(plain, sizeof(plain));
}

int
escrow_unwrap(const struct escrow_login *lg, const char *key_id,
    const uint8_t *sealed, size_t len, uint8_t **dk, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, key_id, false };
	char path[80];
	const char *id, *k;
	uint8_t *p = NULL;
	struct wbuf b;
	json_t *doc = NULL, *ver;
	size_t n = 0, tl;
	int r;

	*dk = NULL;
	wbuf_init(&b, ESCROW_REQ_MAX);
	if (!escrow_valid_keyid(key_id)) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s' is not an escrow "
		    "key id", key_id != NULL ? key_id : "");
		goto out;
	}
	if (len == 0 || len > SEALED_MAX) {
		r = coffer_err_set(err, COFFER_EFORMAT, "a sealed key of %zu "
		    "bytes (at most %d)", len, SEALED_MAX);
		goto out;
	}
	tl = b64_encoded_len(len);
	wbuf_put(&b, "{\"sealed\":\"", 11);
	if (wbuf_reserve(&b, tl + 3) != 0) {
		r = coffer_err_set(err, COFFER_ENOMEM, "request");
		goto out;
	}
	if (b64_encode((char *)b.p + b.len, b.cap - b.len, sealed, len) != 0) {
		r = coffer_err_set(err, COFFER_ENOMEM, "request");
		goto out;
	}
	b.len += tl;
	wbuf_put(&b, "\"}", 2);
	if (b.oom) {
		r = coffer_err_set(err, COFFER_ENOMEM, "request");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/wrapkeys/%s/unwrap", key_id);
	if ((r = escrow_call(lg, "POST", path, (const char *)b.p, b.len, 200,
	    &doc, &what, err)) != 0)
		goto out;
	/* The server checked these; check them again (PROTOCOL.md §6). */
	id = escrow_json_str(doc, "key_id");
	ver = json_object_get(doc, "version");
	k = escrow_json_str(doc, "key");
	if (id == NULL || strcmp(id, key_id) != 0 || !json_is_integer(ver) ||
	    json_integer_value(ver) != SEAL_VERSION || k == NULL) {
		r = coffer_err_set(err, COFFER_EFORMAT, "the unwrap answer of "
		    "%s for wrap key %s names another key or version",
		    lg->server, key_id);
		goto out;
	}
	if ((p = secret_alloc(ESCROW_DK_LEN + 3)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	if (b64_decode(p, ESCROW_DK_LEN + 3, k, strlen(k), &n) != 0 ||
	    n != ESCROW_DK_LEN) {
		r = coffer_err_set(err, COFFER_EFORMAT, "the key unwrapped by "
		    "%s for wrap key %s is not a %d-byte data key", lg->server,
		    key_id, ESCROW_DK_LEN);
		goto out;
	}
	*dk = p;
	p = NULL;
	r = 0;
out:
	secret_free(p);
	wbuf_release(&b);
	json_decref(doc);
	return r;
}
