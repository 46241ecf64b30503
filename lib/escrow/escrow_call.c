/* SPDX-License-Identifier: ISC */
/*
 * escrow_call: one call of docs/PROTOCOL.md with a login's token, and
 * what an error answer (PROTOCOL.md §2) means for the user: which
 * COFFER_E* code, and what to do next.
 */
#include <stdio.h>
#include <string.h>

#include "escrow_internal.h"

/*
 * server_says(resp, code, msg): the "error" and "message" members of an
 * error answer, printable ASCII only, cut short; "" when absent.
 */
static void
server_says(const struct escrow_resp *resp, char code[32], char msg[160])
{
	const char *c = NULL, *m = NULL;
	json_t *doc = NULL;
	size_t i, n = 0;

	code[0] = msg[0] = '\0';
	if (resp->body.len > 0 && (doc = json_loadb((const char *)
	    resp->body.p, resp->body.len, 0, NULL)) != NULL &&
	    json_is_object(doc)) {
		c = escrow_json_str(doc, "error");
		m = escrow_json_str(doc, "message");
	}
	for (i = 0; c != NULL && c[i] != '\0' && n + 1 < 32; i++) {
		if ((c[i] >= 'a' && c[i] <= 'z') || c[i] == '_')
			code[n++] = c[i];
	}
	code[n] = '\0';
	n = 0;
	for (i = 0; m != NULL && m[i] != '\0' && n + 1 < 160; i++)
		msg[n++] = m[i] >= ' ' && m[i] < 0x7f ? m[i] : '?';
	msg[n] = '\0';
	json_decref(doc);
}

bool
escrow_answer_is(const struct escrow_resp *resp, long status,
    const char *code)
{
	char c[32], m[160];

	if (resp->status != status)
		return false;
	server_says(resp, c, m);
	return strcmp(c, code) == 0;
}

int
escrow_answer_err(const struct escrow_resp *resp,
    const struct escrow_what *what, struct coffer_err *err)
{
	const char *srv = what->server;
	const char *acct = what->account != NULL ? what->account : "NAME";
	char code[32], msg[160], detail[200];
	long st = resp->status;

	server_says(resp, code, msg);
	if (msg[0] != '\0')
		snprintf(detail, sizeof(detail), "%s%s%s", code,
		    code[0] != '\0' ? ": " : "", msg);
	else
		snprintf(detail, sizeof(detail), "%s", code[0] != '\0' ? code :
		    "no detail");
	switch (st) {
	case 401:
		if (strcmp(code, "code_required") == 0)
			return coffer_err_set(err, COFFER_EAUTH, "account "
			    "'%s' at %s has a second factor: give the one-time "
			    "code (or a recovery code) with COFFER_ESCROW_CODE "
			    "or on a terminal", acct, srv);
		if (strcmp(code, "bad_code") == 0 ||
		    strcmp(code, "code_invalid") == 0)
			return coffer_err_set(err, COFFER_EAUTH, "the one-time "
			    "code was not accepted by %s (wrong, expired, or "
			    "used already): %s", srv, detail);
		if (what->login || strcmp(code, "bad_credentials") == 0)
			return coffer_err_set(err, COFFER_EAUTH, "wrong "
			    "account name or password for account '%s' at %s",
			    acct, srv);
		return coffer_err_set(err, COFFER_ELOGIN, "not logged in to "
		    "%s (the session expired or was ended): run 'coffer "
		    "escrow login --server %s --account %s'", srv, srv, acct);
	case 403:
		if (strcmp(code, "fresh_auth_required") == 0)
			return coffer_err_set(err, COFFER_EPERM, "the escrow "
			    "server %s needs the account password for this "
			    "(fresh proof): set COFFER_ESCROW_PASSWORD_FILE or "
			    "run on a terminal", srv);
		return coffer_err_set(err, COFFER_EPERM, "%s refused the "
		    "request (HTTP 403, %s)", srv, detail);
	case 404:
		if (what->key_id != NULL)
			return coffer_err_set(err, COFFER_ENOTFOUND, "%s has "
			    "no key %s for account '%s' (it was deposited by "
			    "another account, or on another server)",
			    srv, what->key_id, acct);
		return coffer_err_set(err, COFFER_ENOTFOUND, "%s does not "
		    "know this request (%s): is the URL the escrow server's "
		    "base address, like https://HOST:PORT?", srv, detail);
	case 410:
		return coffer_err_set(err, COFFER_EDESTROYED, "key %s was "
		    "destroyed on %s: the server cannot give it back",
		    what->key_id != NULL ? what->key_id : "?", srv);
	case 409:
		return coffer_err_set(err, COFFER_EEXIST, "account '%s' "
		    "already exists on %s: choose another name, or log in "
		    "with 'coffer escrow login --server %s --account %s'",
		    acct, srv, srv, acct);
	case 422:
		return coffer_err_set(err, COFFER_EAUTH, "%s cannot open the "
		    "sealed key with wrap key %s (%s): the sealed key was not "
		    "made for that key pair, or it was changed", srv,
		    what->key_id != NULL ? what->key_id : "?", detail);
	case 429:
		if (resp->retry_after >= 0)
			return coffer_err_set(err, COFFER_ENET, "%s: too many "
			    "failed logins; try again in %ld s", srv,
			    resp->retry_after);
		return coffer_err_set(err, COFFER_ENET, "%s: too many failed "
		    "logins; try again later", srv);
	case 400:
	case 405:
	case 413:
	case 415:
		return coffer_err_set(err, COFFER_EINVAL, "%s refused the "
		    "request (HTTP %ld, %s)", srv, st, detail);
	default:
		break;
	}
	if (st >= 500 && st <= 599)
		return coffer_err_set(err, COFFER_ENET, "%s has a problem "
		    "(HTTP %ld, %s); try again later, or tell its operator",
		    srv, st, detail);
	if (st >= 300 && st <= 399)
		return coffer_err_set(err, COFFER_ENET, "%s answered with a "
		    "redirect (HTTP %ld), which coffer does not follow: give "
		    "the server's final https:// address", srv, st);
	return coffer_err_set(err, COFFER_ENET, "%s answered HTTP %ld (%s), "
	    "which is not the escrow protocol: is this a cofferd server?",
	    srv, st, detail);
}

int
escrow_parse(const struct escrow_resp *resp, json_t **doc, const char *server,
    struct coffer_err *err)
{
	json_error_t jerr;
	json_t *d;

	*doc = NULL;
	if ((d = json_loadb((const char *)resp->body.p, resp->body.len,
	    JSON_REJECT_DUPLICATES, &jerr)) == NULL || !json_is_object(d)) {
		json_decref(d);
		return coffer_err_set(err, COFFER_ENET, "the answer of %s is "
		    "not a JSON object: is this a cofferd server?", server);
	}
	*doc = d;
	return 0;
}

int
escrow_call(const struct escrow_login *lg, const char *method,
    const char *path, const char *body, size_t len, long want, json_t **doc,
    const struct escrow_what *what, struct coffer_err *err)
{
	struct escrow_resp resp;
	int r;

	if (doc != NULL)
		*doc = NULL;
	if (lg->token == NULL)
		return coffer_err_set(err, COFFER_ELOGIN, "not logged in to "
		    "%s: run 'coffer escrow login --server %s --account "
		    "NAME'", lg->server, lg->server);
	if ((r = escrow_http(lg->server, lg->cacert, method, path, lg->token,
	    body, len, &resp, err)) != 0)
		goto out;
	/* Fresh proof asked for: give it once, then the same again. */
	if (escrow_answer_is(&resp, 403, "fresh_auth_required") &&
	    lg->fresh.password != NULL) {
		escrow_resp_release(&resp);
		if ((r = escrow_prove(lg, err)) != 0)
			goto out;
		if ((r = escrow_http(lg->server, lg->cacert, method, path,
		    lg->token, body, len, &resp, err)) != 0)
			goto out;
	}
	if (resp.status != want) {
		if (resp.status >= 200 && resp.status <= 299)
			r = coffer_err_set(err, COFFER_ENET, "%s answered HTTP "
			    "%ld, not %ld: is this a cofferd server?",
			    lg->server, resp.status, want);
		else
			r = escrow_answer_err(&resp, what, err);
		goto out;
	}
	if (doc != NULL && want != 204)
		r = escrow_parse(&resp, doc, lg->server, err);
	else
		r = 0;
out:
	escrow_resp_release(&resp);
	return r;
}

const char *
escrow_json_str(const json_t *doc, const char *key)
{
	const json_t *v = json_object_get(doc, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

bool
escrow_valid_keyid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == ESCROW_KEYID_LEN;
}

void
escrow_json_escape(struct wbuf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	wbuf_u8(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			wbuf_u8(b, '\\');
			wbuf_u8(b, c);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4],
			    hex[c & 15] };

			wbuf_put(b, e, sizeof(e));
		} else {
			wbuf_u8(b, c);	/* UTF-8 passes as is */
		}
	}
	wbuf_u8(b, '"');
}
