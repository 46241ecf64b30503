/* SPDX-License-Identifier: ISC */
/*
 * custody: key sets whose data key is not (only) in the keystore
 * (shared/DESIGN.md "Custody", MISSION.md [S2]-[S5]).
 *
 * - escrow, local+escrow: the data key is random, deposited at the escrow
 *   server before the set exists on the card; the server's key id goes
 *   into the set's keyinfo.  local+escrow also keeps it in the keystore.
 * - escrow-wrap: the data key is sealed to a wrap public key taken from
 *   the keystore's pool (fetched while online); the sealed key goes into
 *   keyinfo.  No network is needed to start such a set.
 * In both cases the plain key lives only in the session's guarded cache
 * and is wiped when the session closes.
 *
 * Which set a backup appends to is kept in the keystore file
 * "targets-<repository id>": one line "<target> <custody> <key id>" per
 * device or period target.  A new keystore starts new sets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "session.h"
#include "../escrow/escrow.h"

#define TARGETS_MAX	(64 * 1024)

static const char *const custody_word[] = { "?", "local", "escrow",
    "local+escrow", "escrow-wrap" };

static void
targets_name(const struct session *s, char out[64])
{
	snprintf(out, 64, "targets-%s", s->repo->idhex);
}

/*
 * Open the keystore folder (*dfd, the caller closes it) and read this
 * repository's targets file into *text (NUL-terminated; NULL if there is
 * none yet).
 */
static int
targets_read(struct session *s, int *dfd, char **text,
    struct coffer_err *err)
{
	char name[64];
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*text = NULL;
	targets_name(s, name);
	if ((*dfd = open(keystore_dir(s->kst), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return coffer_err_sys(err, "cannot open keystore '%s'",
		    keystore_dir(s->kst));
	r = file_read(*dfd, name, name, TARGETS_MAX, &buf, &len, err);
	if (r == COFFER_ENOTFOUND)
		return 0;
	if (r != 0)
		return r;
	buf[len] = '\0';
	*text = (char *)buf;
	return 0;
}

/* Does ${line} name ${target}/${custody}?  Its key id into ${keyid}. */
static bool
targets_match(const char *line, const char *target, int custody,
    char keyid[32])
{
	char t[64], c[16];

	return sscanf(line, "%63s %15s %31s", t, c, keyid) == 3 &&
	    strcmp(t, target) == 0 && strcmp(c, custody_word[custody]) == 0;
}

/* The key id recorded for ${target}/${custody}; COFFER_ENOTFOUND if none. */
static int
targets_get(struct session *s, const char *target, int custody,
    char keyid[KEYID_HEX_LEN + 1], struct coffer_err *err)
{
	char k[32];
	char *text, *line, *save = NULL;
	int dfd, r;

	r = targets_read(s, &dfd, &text, err);
	if (dfd != -1)
		close(dfd);
	if (r != 0)
		return r;
	r = COFFER_ENOTFOUND;
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (targets_match(line, target, custody, k) &&
		    strlen(k) == KEYID_HEX_LEN) {
			memcpy(keyid, k, KEYID_HEX_LEN + 1);
			r = 0;
		}
	}
	coffer_free(text);
	return r;
}

/* Record ${keyid} as the set of ${target}/${custody}, replacing any. */
static int
targets_put(struct session *s, const char *target, int custody,
    const char *keyid, struct coffer_err *err)
{
	char name[64], k[32];
	char *text, *line, *save = NULL, *out = NULL;
	size_t olen = 0;
	int dfd, r;

	if ((r = targets_read(s, &dfd, &text, err)) != 0)
		goto out;
	if ((out = coffer_malloc((text ? strlen(text) : 0) + 128)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "keystore targets");
		goto out;
	}
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (!targets_match(line, target, custody, k))
			olen += (size_t)sprintf(out + olen, "%s\n", line);
	olen += (size_t)snprintf(out + olen, 128, "%s %s %s\n", target,
	    custody_word[custody], keyid);
	targets_name(s, name);
	r = atomicfile_write(dfd, name, out, olen, 0600, false, name, err);
out:
	coffer_free(out);
	coffer_free(text);
	if (dfd != -1)
		close(dfd);
	return r;
}

/* The login saved in the keystore, with the caller's --cacert applied. */
static int
login_load(struct session *s, struct escrow_login *lg, const char *why,
    struct coffer_err *err)
{
	int r;

	memset(lg, 0, sizeof(*lg));
	if (s->kst == NULL)
		return coffer_err_set(err, COFFER_ELOGIN, "%s needs a login to "
		    "the escrow server, and there is no keystore here: run "
		    "'coffer escrow login --server URL --account NAME'", why);
	if ((r = escrow_login_load(s->kst, lg, err)) != 0) {
		if (r == COFFER_ELOGIN)
			coffer_err_set(err, r, "%s needs a login to the escrow "
			    "server: run 'coffer escrow login --server URL "
			    "--account NAME'", why);
		return r;
	}
	if (s->ctx->cacert != NULL && *s->ctx->cacert != '\0')
		snprintf(lg->cacert, sizeof(lg->cacert), "%s", s->ctx->cacert);
	session_fresh(s->ctx, &lg->fresh);
	return 0;
}

int
custody_fetch(struct session *s, const struct keyinfo *ki, const char *keyid,
    uint8_t **dk, struct coffer_err *err)
{
	struct escrow_login lg;
	char why[64];
	int r;

	*dk = NULL;
	if (ki->custody == CUSTODY_LOCAL || ki->escrow_keyid[0] == '\0')
		return coffer_err_set(err, COFFER_ENOKEY, "key set %s has no "
		    "escrowed key", keyid);
	snprintf(why, sizeof(why), "key set %s", keyid);
	if ((r = login_load(s, &lg, why, err)) != 0) {
		if (r == COFFER_ELOGIN)
			coffer_err_set(err, r, "key set %s: its key is held by "
			    "the escrow server %s; log in first: 'coffer escrow "
			    "login --server %s --account NAME'", keyid,
			    ki->escrow_url, ki->escrow_url);
		return r;
	}
	if (strcmp(lg.server, ki->escrow_url) != 0) {
		r = coffer_err_set(err, COFFER_ELOGIN, "key set %s: its key is "
		    "held by the escrow server %s, and this keystore is logged "
		    "in to %s: log in to %s", keyid, ki->escrow_url, lg.server,
		    ki->escrow_url);
		goto out;
	}
	if (ki->custody == CUSTODY_ESCROW_WRAP)
		r = escrow_unwrap(&lg, ki->escrow_keyid, ki->sealed,
		    ki->sealed_len, dk, err);
	else
		r = escrow_release(&lg, ki->escrow_keyid, dk, err);
	if (r == COFFER_EDESTROYED)
		coffer_err_set(err, r, "key set %s: its key was destroyed at "
		    "the escrow server %s; the backups in it can no longer be "
		    "read", keyid, ki->escrow_url);
	else if (r == COFFER_ENOTFOUND)
		coffer_err_set(err, r, "key set %s: the escrow server %s holds "
		    "no key %s for account '%s' (made under another account?)",
		    keyid, ki->escrow_url, ki->escrow_keyid, lg.account);
	else if (r != 0)
		coffer_err_prefix(err, "key set %s", keyid);
out:
	escrow_login_clear(&lg);
	return r;
}

int
custody_destroy(struct session *s, const struct keyinfo *ki,
    const char *keyid, struct coffer_err *err)
{
	struct escrow_login lg;
	char why[64];
	int r;

	if (ki->custody == CUSTODY_LOCAL || ki->escrow_keyid[0] == '\0')
		return 0;
	snprintf(why, sizeof(why), "destroying key set %s", keyid);
	if ((r = login_load(s, &lg, why, err)) != 0)
		return r;
	if (strcmp(lg.server, ki->escrow_url) != 0) {
		r = coffer_err_set(err, COFFER_ELOGIN, "key set %s: its key is "
		    "held by the escrow server %s, and this keystore is logged "
		    "in to %s: log in to %s", keyid, ki->escrow_url, lg.server,
		    ki->escrow_url);
		goto out;
	}
	r = escrow_destroy(&lg, ki->escrow_keyid, err);
	if (r == COFFER_EDESTROYED) {
		session_warn(s->ctx, "key set %s: the escrow server %s had "
		    "already destroyed its key", keyid, ki->escrow_url);
		r = 0;
	}
	/*
	 * Not this account's key (another account made the set?): it may
	 * live on there, so this is no success.
	 */
	if (r == COFFER_ENOTFOUND) {
		r = coffer_err_set(err, r, "key set %s: the escrow server %s "
		    "holds no key %s for account '%s', so it cannot be "
		    "destroyed from here (made under another account?); "
		    "nothing was destroyed", keyid, ki->escrow_url,
		    ki->escrow_keyid, lg.account);
		goto out;
	}
	if (r != 0)
		coffer_err_prefix(err, "key set %s: cannot destroy its key at "
		    "the escrow server", keyid);
out:
	escrow_login_clear(&lg);
	return r;
}

int
custody_find(struct session *s, const char *keyid, struct keyinfo *found,
    size_t cap, size_t *n, struct coffer_err *err)
{
	char ids[CUSTODY_FIND_MAX][ESCROW_KEYID_LEN + 1];
	char why[64], label[64], hex[KEYID_HEX_LEN + 1];
	uint8_t kid[KEYID_LEN];
	struct escrow_login lg;
	size_t m = 0;
	int r;

	*n = 0;
	snprintf(why, sizeof(why), "checking for an escrowed copy of key set "
	    "%s", keyid);
	if ((r = login_load(s, &lg, why, err)) != 0)
		return r;
	snprintf(label, sizeof(label), "coffer key set %s", keyid);
	if ((r = escrow_find_label(&lg, label, ids, CUSTODY_FIND_MAX, &m,
	    err)) != 0)
		goto out;
	for (size_t i = 0; i < m; i++) {
		uint8_t *dk = NULL;

		/* A label is the depositor's word: the key itself decides. */
		if ((r = escrow_release(&lg, ids[i], &dk, err)) != 0)
			goto out;
		keyset_keyid(dk, kid);
		secret_free(dk);
		hex_encode(hex, kid, KEYID_LEN);
		if (strcmp(hex, keyid) != 0) {
			session_warn(s->ctx, "the escrow server %s key %s is "
			    "labelled '%s' but holds the key of another key "
			    "set: left alone", lg.server, ids[i], label);
			continue;
		}
		if (*n == cap)
			break;
		memset(&found[*n], 0, sizeof(found[*n]));
		found[*n].custody = CUSTODY_ESCROW;
		snprintf(found[*n].escrow_url, sizeof(found[*n].escrow_url),
		    "%s", lg.server);
		snprintf(found[*n].escrow_keyid,
		    sizeof(found[*n].escrow_keyid), "%s", ids[i]);
		(*n)++;
	}
	r = 0;
out:
	if (r != 0)
		coffer_err_prefix(err, "key set %s: cannot check the escrow "
		    "server %s for a copy of its key", keyid, lg.server);
	escrow_login_clear(&lg);
	return r;
}

/*
 * bind_wrapkey(s, lg, ekid, hex): tell the server which repository and
 * key set the pooled wrap key ${ekid} now serves (PROTOCOL.md §6), so
 * that its owner can find it without the card; offline, remember it for
 * the next escrow call.  Binds left from earlier runs go first.  Never
 * an error: the backup does not depend on it.
 */
static void
bind_wrapkey(struct session *s, const struct escrow_login *lg,
    const char *ekid, const char *hex)
{
	struct coffer_err e1 = { 0 };

	if (escrow_bind_pending(s->kst, lg, NULL) == 0 &&
	    escrow_wrapkey_bind(lg, ekid, s->repo->idhex, hex, &e1) == 0)
		return;
	if (e1.code != 0 && e1.code != COFFER_ENET &&
	    e1.code != COFFER_ELOGIN) {
		session_warn(s->ctx, "wrap key %s: %s", ekid, e1.msg);
		return;
	}
	if (escrow_bind_later(s->kst, lg->server, ekid, s->repo->idhex, hex,
	    &e1) != 0)
		session_warn(s->ctx, "cannot remember to tell %s which key set "
		    "wrap key %s serves: %s", lg->server, ekid, e1.msg);
}

/* A new set under an escrow custody: deposit or seal, then create it. */
static int
target_new(struct session *s, int scope, int custody, const char *label,
    const char *target, struct keyset **out, struct coffer_err *err)
{
	struct keyset_params prm = { .scope = scope, .custody = custody,
	    .label = label[0] ? label : NULL };
	uint8_t sealed[ESCROW_SEALED_LEN], pub[ESCROW_PUB_LEN];
	char ekid[ESCROW_KEYID_LEN + 1], hex[KEYID_HEX_LEN + 1];
	uint8_t keyid[KEYID_LEN];
	struct escrow_login lg;
	uint8_t *dk = NULL;
	bool pooled = false;
	int r;

	if ((r = login_load(s, &lg, "a backup under custody escrow", err)) != 0)
		return r;
	if ((dk = secret_alloc(KEY_LEN)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key memory");
		goto out;
	}
	random_bytes(dk, KEY_LEN);
	keyset_keyid(dk, keyid);
	hex_encode(hex, keyid, KEYID_LEN);
	if (custody == CUSTODY_ESCROW_WRAP) {
		r = escrow_pool_take(s->kst, lg.server, ekid, pub, err);
		pooled = r == 0;
		if (r == COFFER_ENOTFOUND)
			r = escrow_wrapkey_new(&lg, s->repo->idhex, hex, ekid,
			    pub, err);
		if (r != 0) {
			coffer_err_prefix(err, "no unused wrap key for %s in "
			    "the keystore's pool, and none could be fetched "
			    "(run 'coffer escrow pool' while online)",
			    lg.server);
			goto out;
		}
		escrow_seal(pub, ekid, dk, sealed);
		prm.sealed = sealed;
		prm.sealed_len = sizeof(sealed);
	} else {
		char lbl[64];

		snprintf(lbl, sizeof(lbl), "coffer key set %s", hex);
		if ((r = escrow_deposit(&lg, dk, KEY_LEN, lbl, s->repo->idhex,
		    hex, ekid, err)) != 0) {
			coffer_err_prefix(err, "cannot deposit the key of a "
			    "new key set; nothing was written");
			goto out;
		}
		if (custody == CUSTODY_LOCAL_ESCROW &&
		    (r = keystore_put_key(s->kst, keyid, dk, err)) != 0)
			goto out;
	}
	prm.escrow_url = lg.server;
	prm.escrow_keyid = ekid;
	if ((r = keyset_open(s->repo, dk, true, &prm, out, err)) != 0)
		goto out;
	if (target != NULL &&
	    (r = targets_put(s, target, custody, hex, err)) != 0) {
		keyset_free(*out);
		*out = NULL;
		goto out;
	}
	session_cache_put(s, hex, dk);
	dk = NULL;
	if (pooled)
		bind_wrapkey(s, &lg, ekid, hex);
	/* Top the pool up while the server may be there; never an error. */
	if (custody == CUSTODY_ESCROW_WRAP)
		(void)escrow_pool_fill(s->kst, &lg, NULL);
	r = 0;
out:
	secret_free(dk);
	escrow_login_clear(&lg);
	return r;
}

int
custody_target(struct session *s, int scope, int custody, const char *label,
    struct keyset **out, struct coffer_err *err)
{
	char keyid[KEYID_HEX_LEN + 1];
	const char *target = NULL;
	struct keyinfo ki;
	const uint8_t *dk;
	int r;

	*out = NULL;
	if (s->kst == NULL)
		return coffer_err_set(err, COFFER_ELOGIN, "custody %s needs a "
		    "keystore logged in to the escrow server: run 'coffer "
		    "escrow login --server URL --account NAME'",
		    custody_word[custody]);
	if (scope == SCOPE_DEVICE)
		target = "device";
	else if (scope == SCOPE_PERIOD)
		target = label;
	if (target == NULL)
		return target_new(s, scope, custody, label, NULL, out, err);
	r = targets_get(s, target, custody, keyid, err);
	if (r == COFFER_ENOTFOUND ||
	    (r == 0 && keyinfo_peek(s->repo, keyid, &ki, NULL) != 0))
		return target_new(s, scope, custody, label, target, out, err);
	if (r != 0)
		return r;
	if (ki.custody != custody)
		return target_new(s, scope, custody, label, target, out, err);
	/* Append: the key from the keystore or the server, for this run. */
	if ((r = session_dk(s, keyid, &dk, err)) == 0)
		return keyset_open(s->repo, dk, false, NULL, out, err);
	if (r == COFFER_EDESTROYED) {
		session_warn(s->ctx, "%s; starting a new key set", err->msg);
		return target_new(s, scope, custody, label, target, out, err);
	}
	/*
	 * Appending needs the set's key, which a device session cannot have
	 * without fresh proof (PROTOCOL.md §3.3).  A device that backs up
	 * unattended is write-only: it starts a new set (deduplication
	 * starts over) rather than fail.
	 */
	if (r == COFFER_EPERM) {
		session_warn(s->ctx, "%s; starting a new key set instead of "
		    "appending to %s (this device may add keys to the escrow "
		    "server, not read them)", err->msg, keyid);
		return target_new(s, scope, custody, label, target, out, err);
	}
	if (custody == CUSTODY_ESCROW_WRAP && r == COFFER_ENET) {
		session_warn(s->ctx, "%s; starting a new key set sealed to a "
		    "wrap key from the pool", err->msg);
		return target_new(s, scope, custody, label, target, out, err);
	}
	return coffer_err_prefix(err, "cannot append to key set %s; nothing "
	    "was written", keyid);
}
