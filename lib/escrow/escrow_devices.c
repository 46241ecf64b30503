/* SPDX-License-Identifier: ISC */
/*
 * escrow_devices: the account's devices and the account itself
 * (docs/PROTOCOL.md version 2): list and revoke sessions, change the
 * password, delete the account, turn the second factor (TOTP) on and
 * off.  Everything but the list needs fresh proof, which escrow_call
 * gets when the server asks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escrow_internal.h"
#include "../crypto/crypto.h"

int
escrow_devices(const struct escrow_login *lg, char **json,
    struct coffer_err *err)
{
	return escrow_get_list(lg, "/v1/devices", "devices", json, err);
}

int
escrow_revoke(const struct escrow_login *lg, const char *device,
    const char *id, bool all_others, long *n, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	const json_t *v;
	json_t *doc = NULL;
	struct wbuf b;
	int r;

	*n = 0;
	if ((device != NULL) + (id != NULL) + all_others != 1)
		return coffer_err_set(err, COFFER_EINVAL, "name one device, "
		    "one session id, or all the others");
	wbuf_init(&b, ESCROW_REQ_MAX);
	if (device != NULL) {
		wbuf_put(&b, "{\"device\":", 10);
		escrow_json_escape(&b, device, strlen(device));
	} else if (id != NULL) {
		wbuf_put(&b, "{\"id\":", 6);
		escrow_json_escape(&b, id, strlen(id));
	} else {
		wbuf_put(&b, "{\"all_others\":true", 18);
	}
	wbuf_u8(&b, '}');
	if (b.oom) {
		r = coffer_err_set(err, COFFER_EINVAL, "device name too long");
		goto out;
	}
	if ((r = escrow_call(lg, "POST", "/v1/devices/revoke",
	    (const char *)b.p, b.len, 200, &doc, &what, err)) != 0)
		goto out;
	v = json_object_get(doc, "revoked");
	if (!json_is_integer(v)) {
		r = coffer_err_set(err, COFFER_ENET, "the revoke answer of %s "
		    "has no count: is this a cofferd server?", lg->server);
		goto out;
	}
	*n = (long)json_integer_value(v);
	r = 0;
out:
	json_decref(doc);
	wbuf_release(&b);
	return r;
}

int
escrow_passwd(const struct escrow_login *lg, const char *pw, size_t len,
    struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	struct wbuf b;
	int r;

	if (len < 8 || len > ESCROW_PW_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "the password must "
		    "be 8 to %d bytes long", ESCROW_PW_MAX);
	wbuf_init(&b, ESCROW_REQ_MAX);
	wbuf_put(&b, "{\"new_password\":", 16);
	escrow_json_escape(&b, pw, len);
	wbuf_u8(&b, '}');
	if (b.oom)
		r = coffer_err_set(err, COFFER_EINVAL, "the password is too "
		    "long");
	else
		r = escrow_call(lg, "POST", "/v1/account/password",
		    (const char *)b.p, b.len, 204, NULL, &what, err);
	wbuf_release(&b);
	return r;
}

int
escrow_account_delete(const struct escrow_login *lg, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };

	return escrow_call(lg, "DELETE", "/v1/account", NULL, 0, 204, NULL,
	    &what, err);
}

/* guarded_dup(s): ${s} in guarded memory, or NULL. */
static char *
guarded_dup(const char *s)
{
	size_t n = strlen(s);
	char *p;

	if ((p = secret_alloc(n + 1)) != NULL)
		memcpy(p, s, n + 1);
	return p;
}

int
escrow_totp_begin(const struct escrow_login *lg, char **secret, char **uri,
    struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	const char *s, *u;
	json_t *doc = NULL;
	int r;

	*secret = *uri = NULL;
	if ((r = escrow_call(lg, "POST", "/v1/account/totp", "{}", 2, 200,
	    &doc, &what, err)) != 0) {
		if (r == COFFER_EEXIST)
			coffer_err_set(err, r, "the second factor (TOTP) of "
			    "account '%s' at %s is on already", lg->account,
			    lg->server);
		return r;
	}
	s = escrow_json_str(doc, "secret");
	u = escrow_json_str(doc, "uri");
	if (s == NULL || u == NULL || *s == '\0' ||
	    strncmp(u, "otpauth://", 10) != 0) {
		r = coffer_err_set(err, COFFER_ENET, "the answer of %s has no "
		    "TOTP secret or otpauth:// URI: is this a cofferd server "
		    "of protocol version 2?", lg->server);
		goto out;
	}
	if ((*secret = guarded_dup(s)) == NULL ||
	    (*uri = guarded_dup(u)) == NULL) {
		secret_free(*secret);
		*secret = NULL;
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	r = 0;
out:
	json_decref(doc);
	return r;
}

int
escrow_totp_confirm(const struct escrow_login *lg, const char *code,
    size_t len, char **json, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };
	json_t *doc = NULL;
	struct wbuf b;
	char *s = NULL;
	int r;

	*json = NULL;
	wbuf_init(&b, ESCROW_REQ_MAX);
	wbuf_put(&b, "{\"code\":", 8);
	escrow_json_escape(&b, code, len);
	wbuf_u8(&b, '}');
	if (b.oom) {
		r = coffer_err_set(err, COFFER_EINVAL, "code too long");
		goto out;
	}
	if ((r = escrow_call(lg, "POST", "/v1/account/totp/confirm",
	    (const char *)b.p, b.len, 200, &doc, &what, err)) != 0) {
		if (r == COFFER_ENOTFOUND)
			coffer_err_set(err, r, "%s has no pending TOTP secret "
			    "for account '%s' (start again with 'coffer escrow "
			    "totp enable')", lg->server, lg->account);
		goto out;
	}
	if (!json_is_array(json_object_get(doc, "recovery_codes"))) {
		r = coffer_err_set(err, COFFER_ENET, "the answer of %s has no "
		    "recovery codes", lg->server);
		goto out;
	}
	if ((s = json_dumps(doc, JSON_COMPACT)) == NULL ||
	    (*json = guarded_dup(s)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "answer");
		goto out;
	}
	r = 0;
out:
	if (s != NULL) {
		secret_wipe(s, strlen(s));
		free(s);
	}
	json_decref(doc);
	wbuf_release(&b);
	return r;
}

int
escrow_totp_disable(const struct escrow_login *lg, struct coffer_err *err)
{
	struct escrow_what what = { lg->server, lg->account, NULL, false };

	return escrow_call(lg, "DELETE", "/v1/account/totp", NULL, 0, 204,
	    NULL, &what, err);
}
