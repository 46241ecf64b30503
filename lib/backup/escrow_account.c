/* SPDX-License-Identifier: ISC */
/*
 * escrow_account: include/coffer/coffer_escrow.h over lib/escrow: finds
 * and unlocks the keystore as every other operation does (session.h),
 * then registers, logs in and out, asks for status, lists keys and the
 * audit log, and fills the wrap key pool.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "coffer/coffer_escrow.h"
#include "session.h"
#include "../escrow/escrow.h"

static void
info_from(struct coffer_escrow_info *info, const struct escrow_login *lg,
    struct keystore *kst)
{
	if (info == NULL)
		return;
	snprintf(info->server, sizeof(info->server), "%s", lg->server);
	snprintf(info->account, sizeof(info->account), "%s", lg->account);
	snprintf(info->cacert, sizeof(info->cacert), "%s", lg->cacert);
	snprintf(info->keystore, sizeof(info->keystore), "%s",
	    keystore_dir(kst));
	info->expires = lg->expires;
	snprintf(info->device, sizeof(info->device), "%s", lg->device);
	info->fresh_until = lg->fresh_until;
	info->totp = lg->totp;
}

static void
info_init(struct coffer_escrow_info *info)
{
	if (info == NULL)
		return;
	memset(info, 0, sizeof(*info));
	info->accepted = -1;
	info->pool = -1;
	info->totp = -1;
}

/* The ctx's CA file, as an absolute path (it is saved with the login). */
static int
abs_cacert(const struct coffer_ctx *ctx, char out[PATH_MAX],
    struct coffer_err *err)
{
	out[0] = '\0';
	if (ctx->cacert == NULL || *ctx->cacert == '\0')
		return 0;
	if (realpath(ctx->cacert, out) == NULL)
		return coffer_err_set(err, COFFER_EINVAL, "cannot read the CA "
		    "certificate '%s' (given by --cacert, COFFER_CACERT or the "
		    "config): %s", ctx->cacert, strerror(errno));
	return 0;
}

/*
 * open_login(ctx, &kst, lg, err): the keystore (unlocked if it has a
 * password) and the login saved in it, with ${ctx->cacert} applied.
 * COFFER_ELOGIN when there is no keystore or no login.
 */
static int
open_login(const struct coffer_ctx *ctx, struct keystore **kst,
    struct escrow_login *lg, struct coffer_err *err)
{
	char dir[4096];
	int r;

	*kst = NULL;
	memset(lg, 0, sizeof(*lg));
	if ((r = session_keystore_dir(ctx, dir, sizeof(dir), err)) != 0)
		return r;
	if ((r = keystore_open(dir, false, kst, err)) != 0) {
		if (r == COFFER_ENOKEY)
			r = coffer_err_set(err, COFFER_ELOGIN, "no escrow "
			    "login on this device (there is no keystore at "
			    "'%s'): run 'coffer escrow login --server URL "
			    "--account NAME'", dir);
		return r;
	}
	if ((r = session_unlock(ctx, *kst, err)) != 0 ||
	    (r = escrow_login_load(*kst, lg, err)) != 0) {
		keystore_free(*kst);
		*kst = NULL;
		return r;
	}
	if (ctx->cacert != NULL && *ctx->cacert != '\0')
		snprintf(lg->cacert, sizeof(lg->cacert), "%s", ctx->cacert);
	session_fresh(ctx, &lg->fresh);
	return 0;
}

int
coffer_escrow_check_url(const char *url, struct coffer_err *err)
{
	return escrow_check_url(url, err);
}

/* same_server(a, b): equal but for trailing '/'. */
static bool
same_server(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	while (na > 0 && a[na - 1] == '/')
		na--;
	while (nb > 0 && b[nb - 1] == '/')
		nb--;
	return na == nb && strncmp(a, b, na) == 0;
}

static const char *
pick_server(const struct coffer_ctx *ctx, const char *server)
{
	if (server != NULL && *server != '\0')
		return server;
	return ctx->escrow_server;
}

int
coffer_escrow_register(const struct coffer_ctx *ctx, const char *server,
    const char *account, const char *pw, size_t len, struct coffer_err *err)
{
	const char *words[] = { account, NULL };
	char ca[PATH_MAX];
	int r;

	server = pick_server(ctx, server);
	if ((r = escrow_check_url(server, err)) != 0 ||
	    (r = abs_cacert(ctx, ca, err)) != 0)
		return r;
	/* Client side: cofferd checks only the length (SECURITY.md). */
	if ((r = coffer_password_check("account password", pw, len, words,
	    err)) != 0)
		return r;
	return escrow_register(server, ca, account, pw, len, err);
}

int
coffer_escrow_login(const struct coffer_ctx *ctx, const char *server,
    const char *account, const char *pw, size_t len, const char *device,
    struct coffer_escrow_info *info, struct coffer_err *err)
{
	struct escrow_login lg = { 0 }, old = { 0 };
	struct escrow_fresh fresh;
	struct coffer_err e2 = { 0 };
	struct keystore *kst = NULL;
	char dir[4096], ca[PATH_MAX], host[ESCROW_DEVICE_MAX + 1];
	bool created = false, had_old = false;
	int r, n;

	info_init(info);
	session_fresh(ctx, &fresh);
	if (device == NULL) {
		/* The host name by default: what the owner will recognise. */
		if (gethostname(host, sizeof(host)) != 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		device = host;
	}
	server = pick_server(ctx, server);
	if ((r = escrow_check_url(server, err)) != 0 ||
	    (r = abs_cacert(ctx, ca, err)) != 0 ||
	    (r = session_keystore_dir(ctx, dir, sizeof(dir), err)) != 0)
		return r;
	/* An existing keystore is unlocked before the server is asked. */
	r = keystore_open(dir, false, &kst, err);
	if (r == COFFER_ENOKEY)
		kst = NULL;
	else if (r != 0)
		return r;
	if (kst != NULL) {
		if ((r = session_unlock(ctx, kst, err)) != 0)
			goto out;
		had_old = escrow_login_load(kst, &old, NULL) == 0;
	}
	/* Logging in again to the same server: its saved CA by default. */
	if (ca[0] == '\0' && had_old && same_server(old.server, server))
		snprintf(ca, sizeof(ca), "%s", old.cacert);
	if ((r = escrow_login(server, ca, account, pw, len, device, &fresh,
	    &lg, err)) != 0)
		goto out;
	if (kst == NULL) {
		/* A new device: the keystore init would make. */
		if ((r = keystore_open(dir, true, &kst, err)) != 0)
			goto fail;
		created = true;
	}
	if ((r = escrow_login_save(kst, &lg, err)) != 0)
		goto fail;
	if (had_old && strcmp(old.server, lg.server) == 0) {
		/* The session this one replaces is ended (best effort). */
		if (strcmp(old.token, lg.token) != 0)
			(void)escrow_logout(&old, NULL);
		/* Another account's wrap keys would not unwrap for this. */
		if (strcmp(old.account, lg.account) != 0 &&
		    escrow_pool_clear(kst, lg.server, &e2) != 0)
			session_warn(ctx, "cannot empty the wrap key pool of "
			    "the previous account: %s", e2.msg);
	}
	if (escrow_pool_fill(kst, &lg, &e2) != 0)
		session_warn(ctx, "logged in, but the wrap key pool could not "
		    "be filled (%s); run 'coffer escrow pool' later", e2.msg);
	(void)escrow_bind_pending(kst, &lg, NULL);
	info_from(info, &lg, kst);
	if (info != NULL) {
		info->accepted = 1;
		info->keystore_created = created;
		n = escrow_pool_count(kst, lg.server, NULL);
		info->pool = n >= 0 ? n : -1;
	}
	r = 0;
	goto out;
fail:
	/* Nothing saved: end the session the server just opened. */
	(void)escrow_logout(&lg, NULL);
out:
	escrow_login_clear(&lg);
	escrow_login_clear(&old);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_logout(const struct coffer_ctx *ctx,
    struct coffer_escrow_info *info, bool *told, struct coffer_err *err)
{
	struct escrow_login lg;
	struct coffer_err e2 = { 0 };
	struct keystore *kst = NULL;
	int r;

	*told = false;
	info_init(info);
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	info_from(info, &lg, kst);
	r = escrow_logout(&lg, &e2);
	if (r == 0 || r == COFFER_ELOGIN) {
		/* ELOGIN: the server had ended it already. */
		*told = true;
	} else {
		char when[32] = "it expires";
		time_t t = (time_t)lg.expires;
		struct tm tm;

		if (gmtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC",
			    &tm);
		session_warn(ctx, "could not tell %s to end the session (%s); "
		    "it is forgotten on this device, but the server accepts "
		    "its token until %s", lg.server, e2.msg, when);
	}
	r = escrow_login_forget(kst, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_status(const struct coffer_ctx *ctx,
    struct coffer_escrow_info *info, struct coffer_err *why,
    struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r, n;

	info_init(info);
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	info_from(info, &lg, kst);
	n = escrow_pool_count(kst, lg.server, NULL);
	r = escrow_status(&lg, why);
	if (info != NULL) {
		info->pool = n >= 0 ? n : -1;
		info->accepted = r == 0 ? 1 : r == COFFER_ELOGIN ? 0 : -1;
		if (r == 0)
			info_from(info, &lg, kst);
	}
	escrow_login_clear(&lg);
	keystore_free(kst);
	return 0;
}

int
coffer_escrow_keys(const struct coffer_ctx *ctx, char **json,
    struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	*json = NULL;
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	r = escrow_list_keys(&lg, json, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_audit(const struct coffer_ctx *ctx, int limit, char **json,
    struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	*json = NULL;
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	r = escrow_audit(&lg, limit, json, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

void
coffer_escrow_free(void *p)
{
	coffer_free(p);
}

int
coffer_escrow_pool(const struct coffer_ctx *ctx, bool fill,
    struct coffer_escrow_info *info, struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r, n;

	info_init(info);
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	info_from(info, &lg, kst);
	r = fill ? escrow_pool_fill(kst, &lg, err) : 0;
	if (fill && r == 0)
		(void)escrow_bind_pending(kst, &lg, NULL);
	if (info != NULL) {
		n = escrow_pool_count(kst, lg.server, NULL);
		info->pool = n >= 0 ? n : -1;
		if (fill && r == 0)
			info->accepted = 1;
	}
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_fresh(const struct coffer_ctx *ctx, struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	if ((r = escrow_status(&lg, err)) == 0 &&
	    lg.fresh_until < (int64_t)time(NULL) + 60)
		r = escrow_prove(&lg, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_devices(const struct coffer_ctx *ctx, char **json,
    struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	*json = NULL;
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	r = escrow_devices(&lg, json, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_revoke(const struct coffer_ctx *ctx, const char *device,
    const char *id, bool all_others, long *n, struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	*n = 0;
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	r = escrow_revoke(&lg, device, id, all_others, n, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_destroy(const struct coffer_ctx *ctx, const char *const *ids,
    size_t n, const char *device, bool dry_run, char **json,
    struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	*json = NULL;
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	r = escrow_destroy_many(&lg, ids, n, device, dry_run, json, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_passwd(const struct coffer_ctx *ctx, const char *pw,
    size_t len, struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	{
		const char *words[] = { lg.account, NULL };

		/* As at register: the server checks only the length. */
		if ((r = coffer_password_check("account password", pw, len,
		    words, err)) != 0) {
			escrow_login_clear(&lg);
			keystore_free(kst);
			return r;
		}
	}
	r = escrow_passwd(&lg, pw, len, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_delete_account(const struct coffer_ctx *ctx,
    struct coffer_err *err)
{
	struct escrow_login lg;
	struct coffer_err e2 = { 0 };
	struct keystore *kst = NULL;
	int r;

	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	if ((r = escrow_account_delete(&lg, err)) != 0)
		goto out;
	/* The session is gone with the account; so are its wrap keys. */
	if (escrow_login_forget(kst, &e2) != 0 ||
	    escrow_pool_clear(kst, lg.server, &e2) != 0)
		session_warn(ctx, "the account is deleted, but this device "
		    "could not forget its login: %s", e2.msg);
out:
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_totp_begin(const struct coffer_ctx *ctx, char **secret,
    char **uri, struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	*secret = *uri = NULL;
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	r = escrow_totp_begin(&lg, secret, uri, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_totp_confirm(const struct coffer_ctx *ctx, const char *code,
    size_t len, char **codes, size_t *n, struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	json_t *doc = NULL, *arr, *c;
	char *text = NULL, *out = NULL;
	size_t i, total = 0;
	int r;

	*codes = NULL;
	*n = 0;
	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	if ((r = escrow_totp_confirm(&lg, code, len, &text, err)) != 0)
		goto out;
	if ((doc = json_loads(text, 0, NULL)) == NULL ||
	    !json_is_array(arr = json_object_get(doc, "recovery_codes"))) {
		r = coffer_err_set(err, COFFER_ENET, "the answer of %s has no "
		    "recovery codes", lg.server);
		goto out;
	}
	json_array_foreach(arr, i, c) {
		if (!json_is_string(c) || json_string_length(c) > 64) {
			r = coffer_err_set(err, COFFER_ENET, "the answer of %s "
			    "holds a recovery code that is not a short string",
			    lg.server);
			goto out;
		}
		total += json_string_length(c) + 1;
	}
	if ((out = coffer_secret_alloc(total + 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	total = 0;
	json_array_foreach(arr, i, c) {
		size_t k = json_string_length(c);

		memcpy(out + total, json_string_value(c), k);
		out[total + k] = '\0';
		total += k + 1;
	}
	*codes = out;
	*n = json_array_size(arr);
	r = 0;
out:
	json_decref(doc);
	coffer_secret_free(text);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}

int
coffer_escrow_totp_disable(const struct coffer_ctx *ctx,
    struct coffer_err *err)
{
	struct escrow_login lg;
	struct keystore *kst = NULL;
	int r;

	if ((r = open_login(ctx, &kst, &lg, err)) != 0)
		return r;
	r = escrow_totp_disable(&lg, err);
	escrow_login_clear(&lg);
	keystore_free(kst);
	return r;
}
