/* SPDX-License-Identifier: ISC */
/*
 * coffer_escrow: the public API behind "coffer escrow": an account at a
 * key escrow server (cofferd, docs/PROTOCOL.md), the login this device
 * keeps in its keystore, and the pool of wrap keys for escrow-wrap
 * backups.  Key sets themselves go through coffer_backup() and friends.
 *
 * Every call takes the usual struct coffer_ctx: the keystore
 * (${ctx->keystore}, unlocked through ${ctx->get_password} when it has a
 * password, since the session token is wrapped under it), the escrow
 * server URL (${ctx->escrow_server}, when none is given) and a private CA
 * certificate (${ctx->cacert}: overrides the one saved at login).
 * Errors (COFFER_E*, with a message that says what to do next):
 *   COFFER_ENET       server unreachable, TLS failure, 5xx, too many
 *                     failed logins
 *   COFFER_ELOGIN     not logged in, or the session is over
 *   COFFER_EAUTH      wrong account name or password; keystore locked
 *   COFFER_EEXIST     register: the account name is taken
 *   COFFER_EINVAL     a bad URL (http:// to a host other than loopback),
 *                     account name or password
 *   COFFER_EPERM      the call needs fresh proof (the account password,
 *                     and the one-time code when the account has one)
 *                     and ${ctx->get_escrow_password} could not give it
 *
 * Two kinds of authority (docs/PROTOCOL.md §3.3): the session kept here
 * may deposit, make wrap keys and list; releasing, unwrapping,
 * destroying, revoking and changing the account need fresh proof, which
 * is asked through ${ctx->get_escrow_password} (and
 * ${ctx->get_escrow_code}) when the server says so, proven once, and
 * wiped.  Nothing fresh is kept on the device.
 */
#ifndef COFFER_COFFER_ESCROW_H_
#define COFFER_COFFER_ESCROW_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/coffer.h"

/* What this device knows about its login, and what the server said. */
struct coffer_escrow_info {
	char	server[256];	/* "https://host:port" */
	char	account[129];
	char	cacert[4096];	/* CA file of the login; "": system */
	char	keystore[4096];	/* the keystore directory used */
	int64_t	expires;	/* Unix seconds the session ends */
	int	accepted;	/* 1: the server accepts the token; 0: it
				   refused it; -1: not asked, unreachable */
	int	pool;		/* unused wrap keys for ${server} in the
				   keystore; -1: unknown */
	bool	keystore_created; /* login made a new keystore */
	char	device[65];	/* this session's device name; "": unknown */
	int64_t	fresh_until;	/* fresh proof until; 0: never or unknown */
	int	totp;		/* second factor: 1 on, 0 off, -1 unknown */
};

/*
 * coffer_escrow_check_url(url, err): 0 if ${url} may name an escrow
 * server: https://, or http:// to 127.0.0.0/8, [::1] or localhost only;
 * else COFFER_EINVAL with the reason.
 */
int coffer_escrow_check_url(const char *url, struct coffer_err *err);

/*
 * coffer_escrow_register(ctx, server, account, pw, len, err): create
 * account ${account} with password ${pw} (${len} bytes, 8 ... 1024) at
 * ${server} (NULL: ${ctx->escrow_server}).  Nothing is saved on the
 * device.
 */
int coffer_escrow_register(const struct coffer_ctx *ctx, const char *server,
    const char *account, const char *pw, size_t len, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_escrow_login(ctx, server, account, pw, len, device, info, err):
 * log in as the device named ${device} (NULL: the host name) and save
 * the session (server, account, CA file, token, expiry) in the keystore,
 * creating the keystore (0700) when there is none: how a new
 * device gets at its escrowed keys.  Nothing is saved if it fails.
 * Without ${ctx->cacert}, a login again to the server of the saved one
 * uses the saved login's CA file.  Then fills the wrap key pool; a
 * failure there is only a warning (through ${ctx->warn}).  ${info} (may
 * be NULL) is filled on success.  An account with a second factor: the
 * code is asked through ${ctx->get_escrow_code}.  The login is fresh
 * proof for the next minutes (the server's --fresh-auth).
 */
int coffer_escrow_login(const struct coffer_ctx *ctx, const char *server,
    const char *account, const char *pw, size_t len, const char *device,
    struct coffer_escrow_info *info, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_escrow_logout(ctx, info, &told, err): end the session at the
 * server and forget it here.  It is forgotten here even when the server
 * cannot be told: then *told is false and ${ctx->warn} says why (the
 * token stays valid at the server until it expires).  COFFER_ELOGIN if
 * no login is saved.
 */
int coffer_escrow_logout(const struct coffer_ctx *ctx,
    struct coffer_escrow_info *info, bool *told, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_escrow_status(ctx, info, why, err): the saved login, and
 * whether the server still accepts its token (info->accepted); when it
 * is not 1, ${why} (may be NULL) says why: refused, or unreachable.
 * Returns 0 once a login is found; COFFER_ELOGIN if none is saved.
 */
int coffer_escrow_status(const struct coffer_ctx *ctx,
    struct coffer_escrow_info *info, struct coffer_err *why,
    struct coffer_err *err) __attribute__((warn_unused_result));

/*
 * coffer_escrow_keys(ctx, &json, err): the account's keys, as the
 * server's JSON document {"keys": [...]} (docs/PROTOCOL.md §5).
 * coffer_escrow_audit(ctx, limit, &json, err): the newest ${limit}
 * (1 ... 1000; 0: the server's default, 100) events of the account's
 * audit log, {"events": [...]} (§7).
 * Free *json with coffer_escrow_free().
 */
int coffer_escrow_keys(const struct coffer_ctx *ctx, char **json,
    struct coffer_err *err) __attribute__((warn_unused_result));
int coffer_escrow_audit(const struct coffer_ctx *ctx, int limit, char **json,
    struct coffer_err *err) __attribute__((warn_unused_result));
void coffer_escrow_free(void *p);

/*
 * coffer_escrow_pool(ctx, fill, info, err): with ${fill}, top up the
 * keystore's pool of unused wrap keys for the logged-in server (online);
 * in any case set info->pool (and the login's fields).  With ${fill}, a
 * failure part way keeps the keys already fetched and is returned.
 */
int coffer_escrow_pool(const struct coffer_ctx *ctx, bool fill,
    struct coffer_escrow_info *info, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_escrow_fresh(ctx, err): make sure the session is fresh for at
 * least a minute more, giving fresh proof now if not (asked through
 * ${ctx->get_escrow_password}): so that a command asks for the current
 * password before it asks anything else.
 */
int coffer_escrow_fresh(const struct coffer_ctx *ctx, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_escrow_devices(ctx, &json, err): the account's sessions, the
 * server's {"devices": [{"id", "device", "created", "last_used",
 * "last_address", "current"}]} (PROTOCOL.md §3.5).  Free with
 * coffer_escrow_free().
 */
int coffer_escrow_devices(const struct coffer_ctx *ctx, char **json,
    struct coffer_err *err) __attribute__((warn_unused_result));

/*
 * coffer_escrow_revoke(ctx, device, id, all_others, &n, err): end at once
 * every session of the device named ${device}, or the session ${id}, or
 * (${all_others}) every session but this one; exactly one of the three.
 * *n: how many.  Fresh proof.
 */
int coffer_escrow_revoke(const struct coffer_ctx *ctx, const char *device,
    const char *id, bool all_others, long *n, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_escrow_destroy(ctx, ids, n, device, dry_run, &json, err):
 * destroy at the server, without the card, the ${n} keys ${ids} (the
 * server's 32-hex key ids), or (${ids} NULL) every key recorded with
 * the device named ${device}.  With ${dry_run} nothing changes: the
 * answer says what would go.  *json: {"destroyed": [...], "not_found":
 * [...], "dry_run": bool}.  Fresh proof unless ${dry_run}.
 */
int coffer_escrow_destroy(const struct coffer_ctx *ctx,
    const char *const *ids, size_t n, const char *device, bool dry_run,
    char **json, struct coffer_err *err)
    __attribute__((warn_unused_result));

/*
 * coffer_escrow_passwd(ctx, pw, len, err): a new account password (8 ...
 * 1024 bytes); the server ends every other session.  Fresh proof (the
 * old password).
 */
int coffer_escrow_passwd(const struct coffer_ctx *ctx, const char *pw,
    size_t len, struct coffer_err *err) __attribute__((warn_unused_result));

/*
 * coffer_escrow_delete_account(ctx, err): destroy every key of the
 * account, end its sessions, delete it; then forget the login here.
 * Fresh proof.
 */
int coffer_escrow_delete_account(const struct coffer_ctx *ctx,
    struct coffer_err *err) __attribute__((warn_unused_result));

/*
 * coffer_escrow_totp_begin(ctx, &secret, &uri, err): a new pending TOTP
 * secret (base32) and its otpauth:// URI, both in guarded memory (free
 * with coffer_secret_free).  coffer_escrow_totp_confirm(ctx, code, len,
 * &codes, &n, err): the first code turns it on; *codes: the ${n} (10)
 * recovery codes, one guarded block of NUL-separated strings (free with
 * coffer_secret_free).  coffer_escrow_totp_disable(ctx, err): off (the
 * fresh proof must include a code).  All need fresh proof.
 */
int coffer_escrow_totp_begin(const struct coffer_ctx *ctx, char **secret,
    char **uri, struct coffer_err *err) __attribute__((warn_unused_result));
int coffer_escrow_totp_confirm(const struct coffer_ctx *ctx,
    const char *code, size_t len, char **codes, size_t *n,
    struct coffer_err *err) __attribute__((warn_unused_result));
int coffer_escrow_totp_disable(const struct coffer_ctx *ctx,
    struct coffer_err *err) __attribute__((warn_unused_result));

#endif /* !COFFER_COFFER_ESCROW_H_ */
