/* SPDX-License-Identifier: ISC */
/* session: open repository, lock, keystore and keys for an operation. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

int
coffer_init(void)
{
	return coffer_crypto_init();
}

void
session_warn(const struct coffer_ctx *ctx, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (ctx->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->warn(ctx->cookie, msg);
}

int
path_append(char *buf, size_t *len, size_t cap, const uint8_t *name,
    size_t namelen)
{
	size_t n = *len;

	if (n + 1 + namelen + 1 > cap)
		return -1;
	if (n > 0)
		buf[n++] = '/';
	memcpy(buf + n, name, namelen);
	n += namelen;
	buf[n] = '\0';
	*len = n;
	return 0;
}

int
session_open(const struct coffer_ctx *ctx, int lockkind, bool need_key,
    struct session *s, struct coffer_err *err)
{
	char ksdir[4096], machine[256];
	uint8_t *secret = NULL;
	uint8_t keyid[KEYID_LEN];
	int r;

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	if (ctx->repo == NULL || *ctx->repo == '\0')
		return coffer_err_set(err, COFFER_EINVAL, "no repository given "
		    "(use --repo DIR or set COFFER_REPO)");
	if ((r = repo_open(ctx->repo, &s->repo, err)) != 0)
		goto fail;
	if (need_key) {
		if (ctx->keystore != NULL)
			snprintf(ksdir, sizeof(ksdir), "%s", ctx->keystore);
		else if (keystore_default_dir(ksdir, sizeof(ksdir)) != 0) {
			r = coffer_err_set(err, COFFER_EINVAL, "cannot tell "
			    "where the keystore is (set HOME or "
			    "COFFER_KEYSTORE)");
			goto fail;
		}
		if ((r = keystore_open(ksdir, false, &s->kst, err)) != 0)
			goto fail;
		if ((r = keystore_load_secret(s->kst, s->repo->id, &secret,
		    err)) != 0)
			goto fail;
		if ((r = keystore_machine_id(machine, sizeof(machine), err)) != 0)
			goto fail;
		if ((s->dk = secret_alloc(KEY_LEN)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
			goto fail;
		}
		keystore_device_dk(secret, machine, s->dk);
		keyset_keyid(s->dk, keyid);
		hex_encode(s->dk_keyid, keyid, KEYID_LEN);
	}
	if (lockkind != 0 && (r = repo_lock(s->repo, lockkind, &s->lock,
	    err)) != 0)
		goto fail;
	secret_free(secret);
	return 0;
fail:
	secret_free(secret);
	session_close(s);
	return r;
}

void
session_close(struct session *s)
{
	repo_unlock(s->lock);
	keystore_free(s->kst);
	secret_free(s->dk);
	repo_free(s->repo);
	memset(s, 0, sizeof(*s));
}

int
session_keyset(struct session *s, const char *keyid, bool create,
    struct keyset **out, struct coffer_err *err)
{
	*out = NULL;
	if (s->dk == NULL || (keyid != NULL && strcmp(keyid, s->dk_keyid) != 0))
		return coffer_err_set(err, COFFER_ENOKEY, "key set %s: its key "
		    "is not in this keystore (made on another device or "
		    "with another keystore)", keyid ? keyid : "?");
	return keyset_open(s->repo, s->dk, create, SCOPE_DEVICE, CUSTODY_LOCAL,
	    out, err);
}

int
session_find_snapshot(struct session *s, const char *spec, struct keyset **ks,
    struct snapshot *snap, struct coffer_err *err)
{
	struct snapshot *v = NULL;
	size_t n = 0, hit = (size_t)-1, nhits = 0;
	int r;

	*ks = NULL;
	memset(snap, 0, sizeof(*snap));
	if ((r = repo_list_snapshots(s->repo, &v, &n, err)) != 0)
		return r;
	if (strcmp(spec, "latest") == 0) {
		/* The newest snapshot this device can read. */
		for (size_t i = n; i-- > 0; ) {
			if (strcmp(v[i].keyid, s->dk_keyid) == 0) {
				hit = i;
				break;
			}
		}
		if (hit == (size_t)-1) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, n == 0 ?
			    "the repository has no snapshots yet" :
			    "no snapshot on the card belongs to a key in this "
			    "keystore");
			goto out;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, spec) == 0)
				hit = i;
		if (hit == (size_t)-1 && strlen(spec) >= 4) {
			for (size_t i = 0; i < n; i++) {
				if (strncmp(v[i].idhex, spec, strlen(spec)) == 0) {
					hit = i;
					nhits++;
				}
			}
			if (nhits > 1) {
				r = coffer_err_set(err, COFFER_EINVAL, "id "
				    "prefix '%s' matches %zu snapshots; give "
				    "more of it", spec, nhits);
				goto out;
			}
		}
		if (hit == (size_t)-1) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "no snapshot "
			    "named '%s' (see 'coffer snapshots')", spec);
			goto out;
		}
	}
	memcpy(snap->name, v[hit].name, sizeof(snap->name));
	if ((r = session_keyset(s, v[hit].keyid, false, ks, err)) != 0)
		goto out;
	if ((r = snapshot_load(*ks, snap, err)) != 0) {
		keyset_free(*ks);
		*ks = NULL;
		goto out;
	}
	r = 0;
out:
	snapshot_list_free(v, n);
	return r;
}
