/* SPDX-License-Identifier: ISC */
/*
 * escrow: the client side of docs/PROTOCOL.md (libcurl + jansson), and
 * what the keystore keeps for it: the login (server, account, session
 * token, CA file) and a pool of unused wrap public keys.
 *
 * Every call that talks to the server takes a struct escrow_login (from
 * escrow_login_load or escrow_login) and an optional CA file that
 * overrides the one saved with the login.  Errors:
 *   COFFER_ENET       server unreachable, TLS failure, 5xx, 429 (message
 *                     says which, and Retry-After for 429)
 *   COFFER_ELOGIN     no login saved, token expired or logged out (401)
 *   COFFER_ENOTFOUND  404: no such key for this account
 *   COFFER_EDESTROYED 410: the key was destroyed
 *   COFFER_EAUTH      wrong account/password (login), or 422 bad_sealed
 *   COFFER_EEXIST     409 on register
 *   COFFER_EINVAL     a bad URL (http:// to a non-loopback host), 400s
 * Keys handed out are in guarded memory (secret_alloc) owned by the caller.
 */
#ifndef ESCROW_ESCROW_H_
#define ESCROW_ESCROW_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/err.h"

struct keystore;

#define ESCROW_URL_MAX		255
#define ESCROW_ACCOUNT_MAX	128
#define ESCROW_KEYID_LEN	32	/* hex chars */
#define ESCROW_TOKEN_LEN	64	/* hex chars */
#define ESCROW_PUB_LEN		32
#define ESCROW_DK_LEN		32
/* crypto_box_SEALBYTES (48) + 1 + 1 + 32 + 32, docs/PROTOCOL.md §6 */
#define ESCROW_SEALED_LEN	114
#define ESCROW_POOL_TARGET	8	/* wrap public keys kept ready */

struct escrow_login {
	char	 server[ESCROW_URL_MAX + 1];	/* "https://host:port" */
	char	 account[ESCROW_ACCOUNT_MAX + 1];
	char	 cacert[4096];			/* "" : system CAs */
	char	*token;		/* guarded, ESCROW_TOKEN_LEN + 1; NULL if none */
	int64_t	 expires;
};

/* escrow_check_url(url, err): 0 if https://, or http:// to loopback. */
int escrow_check_url(const char *url, struct coffer_err *err);

/* The login kept in the keystore (file "escrow", 0600). */
int escrow_login_load(struct keystore *kst, struct escrow_login *lg,
    struct coffer_err *err);		/* COFFER_ELOGIN if none */
int escrow_login_save(struct keystore *kst, const struct escrow_login *lg,
    struct coffer_err *err);
int escrow_login_forget(struct keystore *kst, struct coffer_err *err);
void escrow_login_clear(struct escrow_login *lg);	/* frees the token */

/* Accounts and sessions. */
int escrow_register(const char *server, const char *cacert,
    const char *account, const char *pw, size_t pwlen,
    struct coffer_err *err);
/*
 * On success fills ${lg} (server without a trailing '/', account, cacert,
 * token, expires).
 */
int escrow_login(const char *server, const char *cacert, const char *account,
    const char *pw, size_t pwlen, struct escrow_login *lg,
    struct coffer_err *err);
int escrow_logout(const struct escrow_login *lg, struct coffer_err *err);
/* GET /v1/sessions/current: refreshes lg->expires; ELOGIN if not valid. */
int escrow_status(struct escrow_login *lg, struct coffer_err *err);

/* Keys. */
int escrow_deposit(const struct escrow_login *lg, const uint8_t *key,
    size_t len, const char *label, char key_id[ESCROW_KEYID_LEN + 1],
    struct coffer_err *err);
/* *key: guarded, ESCROW_DK_LEN bytes (a key of another length: EFORMAT). */
int escrow_release(const struct escrow_login *lg, const char *key_id,
    uint8_t **key, struct coffer_err *err);
int escrow_destroy(const struct escrow_login *lg, const char *key_id,
    struct coffer_err *err);
/* GET /v1/keys, GET /v1/audit?limit=N: the response body (malloc'd JSON). */
int escrow_list_keys(const struct escrow_login *lg, char **json,
    struct coffer_err *err);
int escrow_audit(const struct escrow_login *lg, int limit, char **json,
    struct coffer_err *err);
/*
 * escrow_find_label(lg, label, ids, cap, &n, err): the key ids (*n of
 * them, at most ${cap}) of the account's deposited keys, not destroyed,
 * whose label is ${label}.  Labels are the depositor's words, not proof:
 * a caller that acts on a key found this way releases it and checks it.
 */
int escrow_find_label(const struct escrow_login *lg, const char *label,
    char ids[][ESCROW_KEYID_LEN + 1], size_t cap, size_t *n,
    struct coffer_err *err);

/* Wrap keys [S5]. */
int escrow_wrapkey_new(const struct escrow_login *lg,
    char key_id[ESCROW_KEYID_LEN + 1], uint8_t pub[ESCROW_PUB_LEN],
    struct coffer_err *err);
/* escrow_seal(pub, key_id, dk, out): the §6 plaintext sealed to ${pub}. */
void escrow_seal(const uint8_t pub[ESCROW_PUB_LEN], const char *key_id,
    const uint8_t dk[ESCROW_DK_LEN], uint8_t out[ESCROW_SEALED_LEN]);
/* Unwrap at the server; checks version and key id again. *dk guarded. */
int escrow_unwrap(const struct escrow_login *lg, const char *key_id,
    const uint8_t *sealed, size_t len, uint8_t **dk, struct coffer_err *err);

/*
 * The pool of unused wrap public keys (keystore file "wrappool"), per
 * server.  escrow_pool_fill tops it up to ESCROW_POOL_TARGET (online,
 * logged in); escrow_pool_take removes and returns one for ${server}
 * (COFFER_ENOTFOUND if empty); escrow_pool_count counts them.
 */
int escrow_pool_fill(struct keystore *kst, const struct escrow_login *lg,
    struct coffer_err *err);
int escrow_pool_take(struct keystore *kst, const char *server,
    char key_id[ESCROW_KEYID_LEN + 1], uint8_t pub[ESCROW_PUB_LEN],
    struct coffer_err *err);
int escrow_pool_count(struct keystore *kst, const char *server,
    struct coffer_err *err);		/* >= 0, or an error code */
/*
 * escrow_pool_clear(kst, server, err): drop the pool's keys for
 * ${server} (they belong to the account logged in before: used when
 * another account logs in to the same server).
 */
int escrow_pool_clear(struct keystore *kst, const char *server,
    struct coffer_err *err);

#endif /* !ESCROW_ESCROW_H_ */
