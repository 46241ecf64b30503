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
 *   COFFER_EPERM      403 fresh_auth_required and no fresh proof could be
 *                     given (no way to ask for the password)
 * Keys handed out are in guarded memory (secret_alloc) owned by the caller.
 *
 * Two kinds of authority (PROTOCOL.md version 2): the saved session may
 * deposit, make and bind wrap keys and list; a release, an unwrap, a
 * destroy, a revoke and any account change also need fresh proof, the
 * account password (and a one-time code) given within the last minutes.
 * When the server answers 403 fresh_auth_required, escrow_call asks for
 * them through the login's struct escrow_fresh, proves them once at
 * POST /v1/sessions/current/fresh and sends the request again.  Nothing
 * of it is saved: the password and code live in guarded memory for the
 * two requests and are wiped.
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
#define ESCROW_DEVICE_MAX	64	/* bytes of a device name */
#define ESCROW_REPOID_LEN	32	/* hex chars: a repository id */
#define ESCROW_SETID_LEN	16	/* hex chars: a coffer key set id */
#define ESCROW_PW_MAX		1024
#define ESCROW_CODE_MAX		64	/* a TOTP or recovery code */

/*
 * How to get fresh proof (and a login's second factor) when the server
 * asks: each callback writes the secret (not NUL-terminated) into ${buf}
 * of ${cap} bytes and returns its length, or -1 if it cannot be had.
 */
typedef int escrow_ask_fn(void *cookie, const char *prompt, char *buf,
    size_t cap);
struct escrow_fresh {
	escrow_ask_fn	*password;	/* NULL: cannot ask */
	escrow_ask_fn	*code;		/* NULL: cannot ask */
	void		*cookie;
};

struct escrow_login {
	char	 server[ESCROW_URL_MAX + 1];	/* "https://host:port" */
	char	 account[ESCROW_ACCOUNT_MAX + 1];
	char	 cacert[4096];			/* "" : system CAs */
	char	*token;		/* guarded, ESCROW_TOKEN_LEN + 1; NULL if none */
	int64_t	 expires;
	/* Not saved: from the last login or status answer. */
	char	 device[ESCROW_DEVICE_MAX + 1];	/* "" : unknown */
	int64_t	 fresh_until;			/* 0 : unknown */
	int	 totp;		/* 1, 0; -1 : unknown */
	/* Not saved: how to ask for fresh proof (NULLs: fail with EPERM). */
	struct escrow_fresh fresh;
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
 * escrow_login(server, cacert, account, pw, pwlen, device, fresh, lg,
 * err): log in as the device named ${device} (NULL or "": the server's
 * default).  When the account has a second factor (401 code_required) the
 * code is asked through ${fresh}->code (may be NULL) and the login sent
 * once more with it.  On success fills ${lg} (server without a trailing
 * '/', account, cacert, token, expires, device, fresh_until) and
 * copies ${fresh} (may be NULL) into lg->fresh.
 */
int escrow_login(const char *server, const char *cacert, const char *account,
    const char *pw, size_t pwlen, const char *device,
    const struct escrow_fresh *fresh, struct escrow_login *lg,
    struct coffer_err *err);
int escrow_logout(const struct escrow_login *lg, struct coffer_err *err);
/*
 * GET /v1/sessions/current: refreshes lg->expires, device, fresh_until
 * and totp; ELOGIN if not valid.
 */
int escrow_status(struct escrow_login *lg, struct coffer_err *err);

/*
 * escrow_prove(lg, err): POST /v1/sessions/current/fresh with the
 * password (and code) asked through ${lg->fresh}.  escrow_call does it
 * on 403 fresh_auth_required; callers that know they will need it (the
 * account commands) may do it first.  COFFER_EPERM if nothing can be
 * asked, COFFER_EAUTH for a wrong password or code.
 */
int escrow_prove(const struct escrow_login *lg, struct coffer_err *err);

/* Keys. */
/*
 * escrow_deposit(lg, key, len, label, repo_id, set_id, key_id, err):
 * ${repo_id} (32 hex) and ${set_id} (16 hex) may be NULL: the server
 * records them with the key, and the device of the session.
 */
int escrow_deposit(const struct escrow_login *lg, const uint8_t *key,
    size_t len, const char *label, const char *repo_id, const char *set_id,
    char key_id[ESCROW_KEYID_LEN + 1], struct coffer_err *err);
/* *key: guarded, ESCROW_DK_LEN bytes (a key of another length: EFORMAT). */
int escrow_release(const struct escrow_login *lg, const char *key_id,
    uint8_t **key, struct coffer_err *err);
int escrow_destroy(const struct escrow_login *lg, const char *key_id,
    struct coffer_err *err);
/*
 * escrow_destroy_many(lg, ids, n, device, dry_run, &json, err): POST
 * /v1/keys/destroy: the ${n} keys ${ids}, or (${ids} NULL) every key
 * deposited or made by the device named ${device}.  With ${dry_run} the
 * server changes nothing and says what would go.  *json: the answer,
 * {"destroyed": [...], "dry_run": bool} (malloc'd).
 */
int escrow_destroy_many(const struct escrow_login *lg,
    const char *const *ids, size_t n, const char *device, bool dry_run,
    char **json, struct coffer_err *err);
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

/* Devices and the account (PROTOCOL.md version 2). */
/* GET /v1/devices: the body (malloc'd JSON). */
int escrow_devices(const struct escrow_login *lg, char **json,
    struct coffer_err *err);
/*
 * escrow_revoke(lg, device, id, all_others, &n, err): end the sessions of
 * the device named ${device}, or the one session ${id}, or (with
 * ${all_others}) every session but this one; exactly one of the three.
 * *n: how many ended.
 */
int escrow_revoke(const struct escrow_login *lg, const char *device,
    const char *id, bool all_others, long *n, struct coffer_err *err);
/* POST /v1/account/password: the server ends every other session. */
int escrow_passwd(const struct escrow_login *lg, const char *pw, size_t len,
    struct coffer_err *err);
/* DELETE /v1/account: every key destroyed, the account gone. */
int escrow_account_delete(const struct escrow_login *lg,
    struct coffer_err *err);
/*
 * escrow_totp_begin(lg, &secret, &uri, err): POST /v1/account/totp; both
 * guarded, NUL-terminated, the caller's (secret_free).
 * escrow_totp_confirm(lg, code, len, &json, err): the first code turns
 * it on; *json the answer {"recovery_codes": [...]} in guarded memory.
 * escrow_totp_disable(lg, err): DELETE /v1/account/totp.
 */
int escrow_totp_begin(const struct escrow_login *lg, char **secret,
    char **uri, struct coffer_err *err);
int escrow_totp_confirm(const struct escrow_login *lg, const char *code,
    size_t len, char **json, struct coffer_err *err);
int escrow_totp_disable(const struct escrow_login *lg,
    struct coffer_err *err);

/* Wrap keys [S5]. */
/*
 * escrow_wrapkey_new(lg, repo_id, set_id, key_id, pub, err): a new pair;
 * ${repo_id} and ${set_id} may be NULL (a pooled key, bound later).
 */
int escrow_wrapkey_new(const struct escrow_login *lg, const char *repo_id,
    const char *set_id, char key_id[ESCROW_KEYID_LEN + 1],
    uint8_t pub[ESCROW_PUB_LEN], struct coffer_err *err);
/*
 * escrow_wrapkey_bind(lg, key_id, repo_id, set_id, err): POST
 * /v1/wrapkeys/{id}/bind: record which repository and key set a pooled
 * wrap key now serves (once; the session is enough).
 */
int escrow_wrapkey_bind(const struct escrow_login *lg, const char *key_id,
    const char *repo_id, const char *set_id, struct coffer_err *err);
/*
 * The binds not yet told to the server (offline at backup time): the
 * keystore file "wrapbind", lines "<key id> <repo id> <set id> <server>".
 * escrow_bind_later records one; escrow_bind_pending sends those for
 * ${lg->server} and drops the ones the server took (or refused as
 * already bound); a network failure keeps the rest for next time.
 */
int escrow_bind_later(struct keystore *kst, const char *server,
    const char *key_id, const char *repo_id, const char *set_id,
    struct coffer_err *err);
int escrow_bind_pending(struct keystore *kst, const struct escrow_login *lg,
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
