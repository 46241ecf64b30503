/* SPDX-License-Identifier: ISC */
/*
 * api: every route of docs/PROTOCOL.md, independent of the HTTP library.
 *
 * http.c turns a libmicrohttpd request into a struct api_req and the
 * struct api_resp back into an answer; the fuzz target calls api_handle()
 * directly.  Everything here treats the request as hostile: any input
 * gets a 4xx with a JSON error body, never a crash and never a 500.
 *
 * Not responsible for TLS, sockets, connection limits or reading the
 * body (http.c caps it at API_BODY_MAX and sets too_large).
 */
#ifndef COFFERD_API_H_
#define COFFERD_API_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "srv_crypto.h"
#include "store.h"

#define API_BODY_MAX		16384
#define API_ADDRESS_MAX		63
#define API_REGISTER_LIMIT	5	/* registrations per address, §4 */

struct store;
struct kh;

struct api {
	struct store	*st;
	struct kh	*kh;
	int64_t		 session_ttl;		/* seconds */
	bool		 registration_open;	/* POST /v1/accounts */
	int		 register_limit;	/* per address, §4 window */
	int64_t		 fresh_auth;		/* seconds; api_init: 600 */
	char		 dummy_hash[SRV_PWHASH_STRLEN];
	bool		 console;		/* /account/ pages (console.h) */
};

struct api_req {
	const char	*method;
	const char	*path;		/* decoded, without the query */
	const char	*limit;		/* ?limit= or NULL */
	const char	*authorization;	/* header value, or NULL */
	const char	*content_type;	/* header value, or NULL */
	const uint8_t	*body;		/* borrowed; NULL if empty */
	size_t		 body_len;
	bool		 too_large;	/* over API_BODY_MAX: not read */
	const char	*address;	/* the peer's address, as text */
	/* The web console (console.h); http.c fills in the first three. */
	const char	*cookie;	/* its session cookie, or NULL */
	const char	*page;		/* ?page= or NULL */
	const char	*fetch_site;	/* Sec-Fetch-Site, or NULL */
	bool		 console;	/* a console sub-request: the token
					   below, of the console kind */
	const char	*token;		/* 64 hex, when ${console} */
};

struct api_resp {
	int		 status;
	char		*body;		/* srv_wmalloc'd, or NULL */
	size_t		 len;
	const char	*ctype;		/* NULL if there is no body */
	char		 allow[64];	/* 405: the Allow header */
	int		 retry_after;	/* 429, 503: seconds; else 0 */
	char		 location[160];	/* console: a redirect, or "" */
	char		 set_cookie[192]; /* console: Set-Cookie, or "" */
};

/*
 * api_init(a, st, kh, ttl): set up ${a} (and jansson's allocator, which
 * becomes srv_wmalloc/srv_wfree for the whole process); ${st} and ${kh}
 * stay the caller's.  Registration is open, API_REGISTER_LIMIT per
 * address; the caller may change both fields afterwards.  0, or -1 if
 * the dummy password hash cannot be made.
 */
int api_init(struct api *a, struct store *st, struct kh *kh, int64_t ttl)
    __attribute__((warn_unused_result));

/* api_handle(a, q, p): answer ${q} into ${p} (always filled in). */
void api_handle(struct api *a, const struct api_req *q, struct api_resp *p);

/*
 * api_needs_kdf(a, q): whether answering ${q} may hash or check a
 * password (Argon2id: register, login).  http.c runs those requests on
 * its password-hashing threads, never on the threads that serve the
 * rest, so that a flood of them cannot hold up requests with a token.
 */
bool api_needs_kdf(const struct api *a, const struct api_req *q);

/*
 * api_busy(p, retry): answer 503 "busy" with Retry-After ${retry}
 * seconds: the password-hashing queue is full (docs/PROTOCOL.md §4).
 */
void api_busy(struct api_resp *p, int retry);

/*
 * api_expire(a, now, n_sessions, n_failures, err): delete the sessions
 * expired at ${now} and the failed logins that have left the window of
 * §4 (store_expire, with the window and the check time used at login);
 * returns and fills in what store_expire does.  Not for a request's path:
 * cofferd calls it every few minutes.
 */
int api_expire(struct api *a, int64_t now, int64_t *n_sessions,
    int64_t *n_failures, char err[STORE_ERRLEN]);

/*
 * api_valid_account(s, len): ${s} is an account name: 1..128 bytes of
 * printable UTF-8 (valid UTF-8 is the caller's check), no control
 * characters, no leading or trailing space.
 */
bool api_valid_account(const char *s, size_t len);

/*
 * api_token_hash(out, raw, console): what the store keeps of the session
 * token ${raw}: BLAKE2b-256 of it, or, for a console cookie (${console}),
 * of a domain string and it, so that a cookie is no bearer token and a
 * bearer token no cookie (docs/PROTOCOL.md §12).
 */
void api_token_hash(uint8_t out[SRV_HASH_LEN], const uint8_t raw[SRV_TOKEN_LEN],
    bool console);

/* api_resp_release(p): free (and wipe) the body; ${p} may be reused. */
void api_resp_release(struct api_resp *p);

#endif /* !COFFERD_API_H_ */
