/* SPDX-License-Identifier: ISC */
/*
 * escrow_fresh: fresh proof (docs/PROTOCOL.md version 2): the account
 * password, and the one-time code when the account has a second factor,
 * given to POST /v1/sessions/current/fresh so that this session may
 * release, unwrap, destroy, revoke or change the account for the next
 * minutes.  Asked through the login's struct escrow_fresh; kept only in
 * guarded memory for the request and wiped.
 */
#include <stdio.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"

/* fresh_body(b, pw, pwlen, code, codelen): {"password":...,"code":...}. */
static int
fresh_body(struct wbuf *b, const char *pw, size_t pwlen, const char *code,
    size_t codelen, struct coffer_err *err)
{
	wbuf_release(b);
	wbuf_init(b, ESCROW_REQ_MAX);
	wbuf_put(b, "{\"password\":", 12);
	escrow_json_escape(b, pw, pwlen);
	if (code != NULL) {
		wbuf_put(b, ",\"code\":", 8);
		escrow_json_escape(b, code, codelen);
	}
	wbuf_put(b, "}", 1);
	if (b->oom)
		return coffer_err_set(err, COFFER_EINVAL, "the password is too "
		    "long");
	return 0;
}

int
escrow_ask_code(const struct escrow_fresh *fresh, const char *server,
    const char *account, char *code, size_t cap, struct coffer_err *err)
{
	char prompt[ESCROW_URL_MAX + ESCROW_ACCOUNT_MAX + 96];
	int n;

	snprintf(prompt, sizeof(prompt), "one-time code (or a recovery code) "
	    "of '%s' at %s", account, server);
	if (fresh == NULL || fresh->code == NULL ||
	    (n = fresh->code(fresh->cookie, prompt, code, cap - 1)) <= 0)
		return coffer_err_set(err, COFFER_EAUTH, "account '%s' at %s "
		    "has a second factor: give the one-time code (or a "
		    "recovery code) with COFFER_ESCROW_CODE or on a terminal",
		    account, server);
	code[n] = '\0';
	return n;
}

int
escrow_prove(const struct escrow_login *lg, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	const struct escrow_fresh *f = &lg->fresh;
	char prompt[ESCROW_URL_MAX + ESCROW_ACCOUNT_MAX + 64];
	struct escrow_resp resp = { 0 };
	struct wbuf b = { 0 };
	char *pw = NULL, *code = NULL;
	int n, r;
	size_t codelen = 0;

	wbuf_init(&resp.body, 0);
	if (lg->token == NULL)
		return coffer_err_set(err, COFFER_ELOGIN, "not logged in to "
		    "%s: run 'coffer escrow login --server %s --account "
		    "NAME'", lg->server, lg->server);
	if ((pw = secret_alloc(ESCROW_PW_MAX + 1)) == NULL ||
	    (code = secret_alloc(ESCROW_CODE_MAX + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "password memory");
		goto out;
	}
	snprintf(prompt, sizeof(prompt), "password of '%s' at %s (fresh "
	    "proof)", lg->account, lg->server);
	if (f->password == NULL ||
	    (n = f->password(f->cookie, prompt, pw, ESCROW_PW_MAX)) <= 0) {
		r = coffer_err_set(err, COFFER_EPERM, "the escrow server %s "
		    "needs the account password for this (fresh proof): set "
		    "COFFER_ESCROW_PASSWORD_FILE or run on a terminal",
		    lg->server);
		goto out;
	}
	if ((r = fresh_body(&b, pw, (size_t)n, NULL, 0, err)) != 0)
		goto out;
	if ((r = escrow_http(lg->server, lg->cacert, "POST",
	    "/v1/sessions/current/fresh", lg->token, (const char *)b.p, b.len,
	    &resp, err)) != 0)
		goto out;
	if (escrow_answer_is(&resp, 401, "code_required")) {
		escrow_resp_release(&resp);
		if ((r = escrow_ask_code(f, lg->server, lg->account, code,
		    ESCROW_CODE_MAX + 1, err)) < 0)
			goto out;
		codelen = (size_t)r;
		if ((r = fresh_body(&b, pw, (size_t)n, code, codelen,
		    err)) != 0)
			goto out;
		if ((r = escrow_http(lg->server, lg->cacert, "POST",
		    "/v1/sessions/current/fresh", lg->token, (const char *)b.p,
		    b.len, &resp, err)) != 0)
			goto out;
	}
	if (resp.status == 401 && !escrow_answer_is(&resp, 401,
	    "unauthorized") && !escrow_answer_is(&resp, 401, "code_required")) {
		/* A wrong password or code: say so, not "log in again". */
		r = escrow_answer_is(&resp, 401, "bad_credentials") ?
		    coffer_err_set(err, COFFER_EAUTH, "wrong password for "
		    "account '%s' at %s (fresh proof refused)", lg->account,
		    lg->server) : escrow_answer_err(&resp, &what, err);
		goto out;
	}
	if (resp.status != 200 && resp.status != 204) {
		r = resp.status >= 200 && resp.status <= 299 ?
		    coffer_err_set(err, COFFER_ENET, "%s answered HTTP %ld to "
		    "the fresh proof: is this a cofferd server of protocol "
		    "version 2?", lg->server, resp.status) :
		    escrow_answer_err(&resp, &what, err);
		if (resp.status == 404)
			coffer_err_set(err, COFFER_ENET, "%s does not know "
			    "fresh proof (protocol version 2): update cofferd",
			    lg->server);
		goto out;
	}
	r = 0;
out:
	secret_free(pw);
	secret_free(code);
	escrow_resp_release(&resp);
	wbuf_release(&b);
	return r;
}
