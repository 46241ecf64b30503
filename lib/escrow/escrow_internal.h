/* SPDX-License-Identifier: ISC */
/*
 * escrow_internal: what the files of lib/escrow share: one HTTP exchange
 * (escrow_http.c, the only includer of <curl/curl.h>), the mapping of an
 * HTTP answer to a COFFER_E* code with a message that says what to do
 * next, and small JSON helpers.  For lib/escrow and its unit test only.
 */
#ifndef ESCROW_INTERNAL_H_
#define ESCROW_INTERNAL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "escrow.h"
#include "../util/util.h"

#define ESCROW_RESP_MAX		(1u << 20)	/* over it: refused */
#define ESCROW_REQ_MAX		(16u << 10)	/* PROTOCOL.md §1 */
#define ESCROW_CONNECT_TIMEOUT	10		/* seconds */
#define ESCROW_TOTAL_TIMEOUT	60		/* seconds */

/* One answer of the server. */
struct escrow_resp {
	long		status;		/* HTTP status */
	struct wbuf	body;	/* NUL-terminated; wiped at release */
	long		retry_after;	/* Retry-After seconds, or -1 */
};

/*
 * escrow_http(server, cacert, method, path, token, body, len, resp, err):
 * one request to ${server}${path} (${server} checked by escrow_check_url;
 * ${cacert} "" or NULL for the system CAs).  ${token} (may be NULL) goes
 * as "Authorization: Bearer"; ${body} (may be NULL) as JSON.  0 when an
 * answer came, whatever its status; COFFER_ENET for a transport or TLS
 * failure, COFFER_EINVAL for a bad URL or an unreadable CA file.
 * Release ${resp} with escrow_resp_release() in every case.
 */
int escrow_http(const char *server, const char *cacert, const char *method,
    const char *path, const char *token, const char *body, size_t len,
    struct escrow_resp *resp, struct coffer_err *err);
void escrow_resp_release(struct escrow_resp *resp);

/* What a call was about, for the messages of escrow_answer_err. */
struct escrow_what {
	const char	*server;
	const char	*account;	/* may be NULL */
	const char	*key_id;	/* may be NULL */
	bool		 login;		/* POST /v1/sessions */
};

/*
 * escrow_answer_err(resp, what, err): the error for a non-2xx answer
 * (see escrow.h for the codes).  Returns the code.
 */
int escrow_answer_err(const struct escrow_resp *resp,
    const struct escrow_what *what, struct coffer_err *err);

/*
 * escrow_answer_is(resp, status, code): the answer is ${status} with
 * {"error": ${code}}.
 */
bool escrow_answer_is(const struct escrow_resp *resp, long status,
    const char *code);

/*
 * escrow_call(lg, method, path, body, len, want, &doc, what, err): send a
 * request with ${lg}'s token, require status ${want} (a 2xx), and parse
 * the answer into *doc (NULL for a 204 or when ${doc} is NULL).  On 403
 * fresh_auth_required with ${lg->fresh} set: escrow_prove, then the
 * request once more (${body} is sent twice: keep it until the call ends).
 * COFFER_ENET if the answer is not a JSON object.
 */
int escrow_call(const struct escrow_login *lg, const char *method,
    const char *path, const char *body, size_t len, long want, json_t **doc,
    const struct escrow_what *what, struct coffer_err *err);

/*
 * escrow_ask_code(fresh, server, account, code, cap, err): the one-time
 * code asked through ${fresh}->code into ${code} (NUL-terminated); its
 * length, or COFFER_EAUTH (negative) if none can be had.
 */
int escrow_ask_code(const struct escrow_fresh *fresh, const char *server,
    const char *account, char *code, size_t cap, struct coffer_err *err);

/*
 * escrow_put_binding(b, repo_id, set_id, err): append "repo_id":...,
 * "keyset_id":... (both, or nothing when both are NULL), checked.
 */
int escrow_put_binding(struct wbuf *b, const char *repo_id,
    const char *set_id, struct coffer_err *err);

/*
 * escrow_get_list(lg, path, member, &json, err): GET a {member: [...]}
 * document; *json its compact text (malloc'd).
 */
int escrow_get_list(const struct escrow_login *lg, const char *path,
    const char *member, char **json, struct coffer_err *err);

/*
 * escrow_parse(resp, &doc, server, err): the answer's body as a JSON
 * object.
 */
int escrow_parse(const struct escrow_resp *resp, json_t **doc,
    const char *server, struct coffer_err *err);

/* escrow_json_str(doc, key): the string member ${key}, or NULL. */
const char *escrow_json_str(const json_t *doc, const char *key);

/* escrow_valid_keyid(s): exactly ESCROW_KEYID_LEN lowercase hex digits. */
bool escrow_valid_keyid(const char *s);

/*
 * escrow_json_escape(b, s, len): append ${s} as a JSON string (quotes
 * included) to ${b}, so that a request holding a secret is built in one
 * wiped buffer and never in jansson's heap.
 */
void escrow_json_escape(struct wbuf *b, const char *s, size_t len);

#endif /* !ESCROW_INTERNAL_H_ */
