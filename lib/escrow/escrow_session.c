/* SPDX-License-Identifier: ISC */
/* escrow_session: accounts and sessions (docs/PROTOCOL.md §3). */
#include <stdio.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"

#define PW_MIN		8
#define PW_MAX		1024

/* check_account(account, err): PROTOCOL.md §3's rules, checked here too. */
static int
check_account(const char *account, struct coffer_err *err)
{
	size_t n = account != NULL ? strlen(account) : 0;
	json_t *j;

	if (n == 0)
		return coffer_err_set(err, COFFER_EINVAL, "no account name "
		    "given (use --account NAME)");
	if (n > ESCROW_ACCOUNT_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "the account name is "
		    "longer than %d bytes", ESCROW_ACCOUNT_MAX);
	if (account[0] == ' ' || account[n - 1] == ' ')
		return coffer_err_set(err, COFFER_EINVAL, "the account name "
		    "must not begin or end with a space");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)account[i];

		if (c < 0x20 || c == 0x7f)
			return coffer_err_set(err, COFFER_EINVAL, "the account "
			    "name holds a control character");
	}
	if ((j = json_stringn(account, n)) == NULL)
		return coffer_err_set(err, COFFER_EINVAL, "the account name is "
		    "not UTF-8");
	json_decref(j);
	return 0;
}

/*
 * creds_body(b, account, pw, len, device, code, err): {"account": ...,
 * "password": ..., "device"?: ..., "code"?: ...}.
 */
static int
creds_body(struct wbuf *b, const char *account, const char *pw, size_t len,
    const char *device, const char *code, struct coffer_err *err)
{
	wbuf_release(b);
	wbuf_init(b, ESCROW_REQ_MAX);
	wbuf_put(b, "{\"account\":", 11);
	escrow_json_escape(b, account, strlen(account));
	wbuf_put(b, ",\"password\":", 12);
	escrow_json_escape(b, pw, len);
	if (device != NULL && *device != '\0') {
		wbuf_put(b, ",\"device\":", 10);
		escrow_json_escape(b, device, strlen(device));
	}
	if (code != NULL) {
		wbuf_put(b, ",\"code\":", 8);
		escrow_json_escape(b, code, strlen(code));
	}
	wbuf_put(b, "}", 2);	/* with a NUL, not sent */
	if (b->oom)
		return coffer_err_set(err, COFFER_EINVAL, "the password is too "
		    "long");
	b->len--;
	return 0;
}

/* check_device(device, err): 1 ... 64 printable bytes, or none. */
static int
check_device(const char *device, struct coffer_err *err)
{
	size_t n = device != NULL ? strlen(device) : 0;

	if (n > ESCROW_DEVICE_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "the device name is "
		    "longer than %d bytes", ESCROW_DEVICE_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)device[i];

		if (c < 0x20 || c == 0x7f)
			return coffer_err_set(err, COFFER_EINVAL, "the device "
			    "name holds a control character");
	}
	return 0;
}

/* session_fields(doc, lg): device, fresh_until, totp of an answer. */
static void
session_fields(const json_t *doc, struct escrow_login *lg)
{
	const char *dev = escrow_json_str(doc, "device");
	const json_t *fu = json_object_get(doc, "fresh_until");
	const json_t *totp = json_object_get(doc, "totp");

	if (dev != NULL)
		snprintf(lg->device, sizeof(lg->device), "%s", dev);
	if (json_is_integer(fu))
		lg->fresh_until = (int64_t)json_integer_value(fu);
	if (json_is_boolean(totp))
		lg->totp = json_is_true(totp) ? 1 : 0;
}

int
escrow_register(const char *server, const char *cacert, const char *account,
    const char *pw, size_t pwlen, struct coffer_err *err)
{
	struct escrow_what what = { server, account, NULL, false };
	struct escrow_resp resp = { 0 };
	struct wbuf b = { 0 };
	int r;

	wbuf_init(&resp.body, 0);
	if ((r = escrow_check_url(server, err)) != 0 ||
	    (r = check_account(account, err)) != 0)
		return r;
	if (pwlen < PW_MIN || pwlen > PW_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "the password must "
		    "be %d to %d bytes long", PW_MIN, PW_MAX);
	if ((r = creds_body(&b, account, pw, pwlen, NULL, NULL, err)) != 0)
		goto out;
	if ((r = escrow_http(server, cacert, "POST", "/v1/accounts", NULL,
	    (const char *)b.p, b.len, &resp, err)) != 0)
		goto out;
	if (resp.status != 201) {
		r = resp.status >= 200 && resp.status <= 299 ?
		    coffer_err_set(err, COFFER_ENET, "%s answered HTTP %ld, "
		    "not 201: is this a cofferd server?", server, resp.status) :
		    escrow_answer_err(&resp, &what, err);
		goto out;
	}
	r = 0;
out:
	escrow_resp_release(&resp);
	wbuf_release(&b);
	return r;
}

/* valid_token(s): exactly ESCROW_TOKEN_LEN lowercase hex digits. */
static bool
valid_token(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == ESCROW_TOKEN_LEN;
}

int
escrow_login(const char *server, const char *cacert, const char *account,
    const char *pw, size_t pwlen, const char *device,
    const struct escrow_fresh *fresh, struct escrow_login *lg,
    struct coffer_err *err)
{
	struct escrow_what what = { server, account, NULL, true };
	struct escrow_resp resp = { 0 };
	struct wbuf b = { 0 };
	const char *tok;
	char *code = NULL;
	json_t *doc = NULL, *exp;
	int r;

	memset(lg, 0, sizeof(*lg));
	lg->totp = -1;
	wbuf_init(&resp.body, 0);
	if ((r = escrow_check_url(server, err)) != 0 ||
	    (r = check_account(account, err)) != 0 ||
	    (r = check_device(device, err)) != 0)
		return r;
	if (cacert != NULL && strlen(cacert) >= sizeof(lg->cacert))
		return coffer_err_set(err, COFFER_EINVAL, "the CA certificate "
		    "path is too long");
	if (pwlen == 0 || pwlen > PW_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "the password must "
		    "be 1 to %d bytes long", PW_MAX);
	if ((r = creds_body(&b, account, pw, pwlen, device, NULL, err)) != 0)
		goto out;
	if ((r = escrow_http(server, cacert, "POST", "/v1/sessions", NULL,
	    (const char *)b.p, b.len, &resp, err)) != 0)
		goto out;
	if (escrow_answer_is(&resp, 401, "code_required")) {
		/* A second factor: the same again with the code. */
		escrow_resp_release(&resp);
		if ((code = secret_alloc(ESCROW_CODE_MAX + 1)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "code memory");
			goto out;
		}
		if ((r = escrow_ask_code(fresh, server, account, code,
		    ESCROW_CODE_MAX + 1, err)) < 0)
			goto out;
		if ((r = creds_body(&b, account, pw, pwlen, device, code,
		    err)) != 0)
			goto out;
		if ((r = escrow_http(server, cacert, "POST", "/v1/sessions",
		    NULL, (const char *)b.p, b.len, &resp, err)) != 0)
			goto out;
	}
	if (resp.status != 201) {
		r = resp.status >= 200 && resp.status <= 299 ?
		    coffer_err_set(err, COFFER_ENET, "%s answered HTTP %ld, "
		    "not 201: is this a cofferd server?", server, resp.status) :
		    escrow_answer_err(&resp, &what, err);
		goto out;
	}
	if ((r = escrow_parse(&resp, &doc, server, err)) != 0)
		goto out;
	tok = escrow_json_str(doc, "token");
	exp = json_object_get(doc, "expires");
	if (tok == NULL || !valid_token(tok) || !json_is_integer(exp)) {
		r = coffer_err_set(err, COFFER_ENET, "the login answer of %s "
		    "has no valid token or expiry: is this a cofferd server?",
		    server);
		goto out;
	}
	if ((lg->token = secret_alloc(ESCROW_TOKEN_LEN + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	memcpy(lg->token, tok, ESCROW_TOKEN_LEN + 1);
	/* Kept without a trailing '/': the form key sets record. */
	snprintf(lg->server, sizeof(lg->server), "%s", server);
	for (size_t n = strlen(lg->server); n > 0 && lg->server[n - 1] == '/';
	    n--)
		lg->server[n - 1] = '\0';
	snprintf(lg->account, sizeof(lg->account), "%s", account);
	snprintf(lg->cacert, sizeof(lg->cacert), "%s",
	    cacert != NULL ? cacert : "");
	lg->expires = (int64_t)json_integer_value(exp);
	session_fields(doc, lg);
	if (fresh != NULL)
		lg->fresh = *fresh;
	r = 0;
out:
	if (r != 0)
		escrow_login_clear(lg);
	secret_free(code);
	json_decref(doc);
	escrow_resp_release(&resp);
	wbuf_release(&b);
	return r;
}

int
escrow_logout(const struct escrow_login *lg, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };

	return escrow_call(lg, "DELETE", "/v1/sessions", NULL, 0, 204, NULL,
	    &what, err);
}

int
escrow_status(struct escrow_login *lg, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	json_t *doc = NULL, *exp;
	const char *acct;
	int r;

	if ((r = escrow_call(lg, "GET", "/v1/sessions/current", NULL, 0, 200,
	    &doc, &what, err)) != 0)
		return r;
	exp = json_object_get(doc, "expires");
	acct = escrow_json_str(doc, "account");
	if (!json_is_integer(exp) || acct == NULL) {
		r = coffer_err_set(err, COFFER_ENET, "the session answer of %s "
		    "has no account or expiry: is this a cofferd server?",
		    lg->server);
		goto out;
	}
	if (strcmp(acct, lg->account) != 0) {
		r = coffer_err_set(err, COFFER_ELOGIN, "%s says this session "
		    "belongs to account '%s', not '%s': run 'coffer escrow "
		    "login --server %s --account %s' again", lg->server, acct,
		    lg->account, lg->server, lg->account);
		goto out;
	}
	lg->expires = (int64_t)json_integer_value(exp);
	session_fields(doc, lg);
	r = 0;
out:
	json_decref(doc);
	return r;
}
