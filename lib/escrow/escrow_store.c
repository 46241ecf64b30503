/* SPDX-License-Identifier: ISC */
/*
 * escrow_store: the login kept in the keystore, blob file "escrow"
 * (docs/FORMAT.md §18.6): a secret blob, so wrapped under the keystore
 * master key when the keystore has a password.
 *
 * Payload: version u8 (1) | server bytes32 | account bytes32 |
 * cacert bytes32 | expires u64 (Unix seconds, two's complement) |
 * token bytes32 (64 hex), every bytes32 a u32 length then the bytes.
 */
#include <stdio.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"
#include "../keystore/keystore.h"

#define LOGIN_FILE	"escrow"
#define LOGIN_VERSION	1

void
escrow_login_clear(struct escrow_login *lg)
{
	secret_free(lg->token);
	memset(lg, 0, sizeof(*lg));
}

/* get_str(r, out, cap): a bytes32 string of fewer than ${cap} bytes. */
static bool
get_str(struct rbuf *r, char *out, size_t cap)
{
	const uint8_t *p;
	size_t n = 0;

	if ((p = rbuf_bytes32(r, &n, cap - 1)) == NULL)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return memchr(out, '\0', n) == NULL;
}

int
escrow_login_load(struct keystore *kst, struct escrow_login *lg,
    struct coffer_err *err)
{
	char tok[ESCROW_TOKEN_LEN + 1];
	uint8_t *p = NULL;
	struct rbuf rb;
	size_t len = 0;
	int r;

	memset(lg, 0, sizeof(*lg));
	lg->totp = -1;
	if ((r = keystore_get_blob(kst, LOGIN_FILE, &p, &len, err)) != 0) {
		if (r == COFFER_ENOTFOUND)
			r = coffer_err_set(err, COFFER_ELOGIN, "no escrow "
			    "login is saved on this device (keystore '%s'): "
			    "run 'coffer escrow login --server URL --account "
			    "NAME'", keystore_dir(kst));
		return r;
	}
	rbuf_init(&rb, p, len);
	if (rbuf_u8(&rb) != LOGIN_VERSION ||
	    !get_str(&rb, lg->server, sizeof(lg->server)) ||
	    !get_str(&rb, lg->account, sizeof(lg->account)) ||
	    !get_str(&rb, lg->cacert, sizeof(lg->cacert))) {
		r = COFFER_EFORMAT;
		goto bad;
	}
	lg->expires = (int64_t)rbuf_u64(&rb);
	if (!get_str(&rb, tok, sizeof(tok)) || !rbuf_ok(&rb) ||
	    rbuf_left(&rb) != 0 || strlen(tok) != ESCROW_TOKEN_LEN) {
		r = COFFER_EFORMAT;
		goto bad;
	}
	if ((lg->token = secret_alloc(ESCROW_TOKEN_LEN + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	memcpy(lg->token, tok, ESCROW_TOKEN_LEN + 1);
	r = 0;
	goto out;
bad:
	r = coffer_err_set(err, COFFER_EFORMAT, "'%s/%s' is damaged (log in "
	    "again with 'coffer escrow login')", keystore_dir(kst),
	    LOGIN_FILE);
out:
	if (r != 0)
		escrow_login_clear(lg);
	secret_wipe(tok, sizeof(tok));
	secret_free(p);
	return r;
}

int
escrow_login_save(struct keystore *kst, const struct escrow_login *lg,
    struct coffer_err *err)
{
	struct wbuf b;
	int r;

	if (lg->token == NULL || strlen(lg->token) != ESCROW_TOKEN_LEN)
		return coffer_err_set(err, COFFER_EINVAL, "no session token to "
		    "save");
	wbuf_init(&b, KEYSTORE_BLOB_MAX);
	wbuf_u8(&b, LOGIN_VERSION);
	wbuf_bytes32(&b, lg->server, strnlen(lg->server,
	    sizeof(lg->server) - 1));
	wbuf_bytes32(&b, lg->account, strnlen(lg->account,
	    sizeof(lg->account) - 1));
	wbuf_bytes32(&b, lg->cacert, strnlen(lg->cacert,
	    sizeof(lg->cacert) - 1));
	wbuf_u64(&b, (uint64_t)lg->expires);
	wbuf_bytes32(&b, lg->token, ESCROW_TOKEN_LEN);
	if (b.oom)
		r = coffer_err_set(err, COFFER_ENOMEM, "login");
	else
		r = keystore_put_blob(kst, LOGIN_FILE, b.p, b.len, true, err);
	wbuf_release(&b);
	return r;
}

int
escrow_login_forget(struct keystore *kst, struct coffer_err *err)
{
	return keystore_del_blob(kst, LOGIN_FILE, err);
}
