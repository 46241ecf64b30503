/* SPDX-License-Identifier: ISC */
/* session: open repository, lock, keystore and keys for an operation. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "session.h"
#include "../escrow/escrow.h"

#define PASS_MAX	1024

int
coffer_init(void)
{
	return coffer_crypto_init();
}

void
session_vwarn(const struct coffer_ctx *ctx, const char *fmt, va_list ap)
{
	char msg[2048], *big = NULL;
	va_list ap2;
	int n;

	if (ctx->warn == NULL)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A long path is said whole (a short one needs no allocation). */
	if (n >= (int)sizeof(msg) &&
	    (big = coffer_malloc((size_t)n + 1)) != NULL)
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	ctx->warn(ctx->cookie, big != NULL ? big : msg);
	coffer_free(big);
}

void
session_warn(const struct coffer_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vwarn(ctx, fmt, ap);
	va_end(ap);
}

void
session_fresh(const struct coffer_ctx *ctx, struct escrow_fresh *fresh)
{
	fresh->password = ctx->get_escrow_password;
	fresh->code = ctx->get_escrow_code;
	fresh->cookie = ctx->cookie;
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
path_put(char **buf, size_t *cap, size_t *len, const uint8_t *name,
    size_t namelen)
{
	size_t n = *len, need = n + 1 + namelen + 1;

	if (need > PATH_BUF_MAX)
		return -1;
	if (need > *cap) {
		size_t ncap = *cap ? *cap : 256;
		char *nb;

		while (ncap < need)
			ncap *= 2;
		if ((nb = coffer_realloc(*buf, ncap)) == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	return path_append(*buf, len, *cap, name, namelen);
}

struct tframe *
tstack_push(struct tstack *s)
{
	struct tframe *f;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 64;
		struct tframe *nf;

		if ((nf = coffer_realloc(s->f, ncap * sizeof(*nf))) == NULL)
			return NULL;
		s->f = nf;
		s->cap = ncap;
	}
	f = &s->f[s->n++];
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	return f;
}

void
tstack_pop(struct tstack *s)
{
	tree_release(&s->f[--s->n].t);
}

void
tstack_release(struct tstack *s)
{
	while (s->n > 0)
		tstack_pop(s);
	coffer_free(s->f);
	memset(s, 0, sizeof(*s));
}

void
period_label(int period, time_t when, char out[32])
{
	struct tm tm;

	gmtime_r(&when, &tm);
	if (period == PERIOD_WEEK)
		strftime(out, 32, "week:%G-W%V", &tm);
	else if (period == PERIOD_MONTH)
		strftime(out, 32, "month:%Y-%m", &tm);
	else
		strftime(out, 32, "day:%Y-%m-%d", &tm);
}

int
session_keystore_dir(const struct coffer_ctx *ctx, char *out, size_t cap,
    struct coffer_err *err)
{
	if (ctx->keystore != NULL) {
		if ((size_t)snprintf(out, cap, "%s", ctx->keystore) >= cap)
			return coffer_err_set(err, COFFER_EINVAL, "keystore "
			    "path too long");
		return 0;
	}
	if (keystore_default_dir(out, cap) != 0)
		return coffer_err_set(err, COFFER_EINVAL, "cannot tell where "
		    "the keystore is (set HOME or COFFER_KEYSTORE)");
	return 0;
}

int
session_unlock(const struct coffer_ctx *ctx, struct keystore *kst,
    struct coffer_err *err)
{
	char *pw;
	int n, r;

	if (!keystore_has_password(kst) || keystore_unlocked(kst))
		return 0;
	if (ctx->get_password == NULL)
		return coffer_err_set(err, COFFER_EAUTH, "keystore '%s' has a "
		    "password and none was given (COFFER_PASSWORD_FILE, or "
		    "run on a terminal)", keystore_dir(kst));
	if ((pw = secret_alloc(PASS_MAX)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "password memory");
	n = ctx->get_password(ctx->cookie, "keystore password", pw, PASS_MAX);
	if (n < 0)
		r = coffer_err_set(err, COFFER_EAUTH, "no password given for "
		    "keystore '%s' (without a terminal, set "
		    "COFFER_PASSWORD_FILE to a file that holds it)",
		    keystore_dir(kst));
	else
		r = keystore_unlock(kst, pw, (size_t)n, err);
	secret_free(pw);
	return r;
}

/*
 * hint_slots(s, given, err): name in ${err} the key sets that a recovery
 * passphrase opens: no key here and no passphrase ${given} (then: give
 * one with --passphrase-file), or the one given is for a set without a
 * slot (then: which sets have one, or that none has).
 */
static void
hint_slots(struct session *s, bool given, struct coffer_err *err)
{
	struct keyinfo ki;
	char **sets = NULL;
	char list[128] = "";
	size_t nsets = 0, nhit = 0, len = 0, m;

	if (err == NULL || s->repo == NULL ||
	    repo_list_sets(s->repo, &sets, &nsets, NULL) != 0)
		return;
	for (size_t i = 0; i < nsets; i++) {
		if (keyinfo_peek(s->repo, sets[i], &ki, NULL) != 0 ||
		    ki.nslots == 0)
			continue;
		if (nhit < 4 && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s", nhit > 0 ? ", " : "", sets[i]);
		nhit++;
	}
	strlist_free(sets, nsets);
	m = strlen(err->msg);
	if (given && nhit == 0)
		snprintf(err->msg + m, sizeof(err->msg) - m, "; no key set on "
		    "this card has a recovery passphrase");
	else if (given)
		snprintf(err->msg + m, sizeof(err->msg) - m, "; key set%s "
		    "with a recovery passphrase: %s%s", nhit == 1 ? "" : "s",
		    list, nhit > 4 ? ", ..." : "");
	else if (nhit > 0)
		snprintf(err->msg + m, sizeof(err->msg) - m, "; key set%s "
		    "%s%s ha%s a recovery passphrase: give it with "
		    "--passphrase-file", nhit == 1 ? "" : "s", list,
		    nhit > 4 ? ", ..." : "", nhit == 1 ? "s" : "ve");
}

/*
 * Does the repository default to an escrow custody, or hold a key set
 * under one?  Then a keystore without its secret (a new device, logged
 * in to the escrow server) can still restore, and back up.
 */
static bool
repo_has_escrow(struct session *s)
{
	struct keyinfo ki;
	char **sets = NULL;
	size_t nsets = 0;
	bool hit = s->repo->custody != CUSTODY_LOCAL;

	if (hit || repo_list_sets(s->repo, &sets, &nsets, NULL) != 0)
		return hit;
	for (size_t i = 0; i < nsets && !hit; i++)
		hit = keyinfo_peek(s->repo, sets[i], &ki, NULL) == 0 &&
		    ki.custody != CUSTODY_LOCAL;
	strlist_free(sets, nsets);
	return hit;
}

int
session_open(const struct coffer_ctx *ctx, int lockkind, bool need_key,
    struct session *s, struct coffer_err *err)
{
	char ksdir[4096];
	int r;

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	if (ctx->repo == NULL || *ctx->repo == '\0')
		return coffer_err_set(err, COFFER_EINVAL, "no repository given "
		    "(use --repo DIR or set COFFER_REPO)");
	if ((r = repo_open(ctx->repo, &s->repo, err)) != 0)
		goto fail;
	if (need_key) {
		if ((r = session_keystore_dir(ctx, ksdir, sizeof(ksdir),
		    err)) != 0)
			goto fail;
		r = keystore_open(ksdir, false, &s->kst, err);
		if (r == COFFER_ENOKEY && ctx->passphrase != NULL)
			r = 0;		/* recovery from the card alone */
		else if (r == COFFER_ENOKEY && repo_has_escrow(s))
			coffer_err_set(err, r, "no keystore at '%s'; this "
			    "repository's keys are held by an escrow server: "
			    "'coffer escrow login --server URL --account NAME' "
			    "makes a keystore here and logs in", ksdir);
		else if (r == COFFER_ENOKEY)
			hint_slots(s, false, err);
		if (r != 0)
			goto fail;
		if (s->kst != NULL) {
			char cdir[4200];

			/* Chunk indexes on the device (FORMAT.md §18.8). */
			snprintf(cdir, sizeof(cdir), "%s/cache",
			    keystore_dir(s->kst));
			if ((r = repo_set_cache_dir(s->repo, cdir)) != 0) {
				r = coffer_err_set(err, r, "index cache");
				goto fail;
			}
		}
		if (s->kst != NULL && ctx->passphrase != NULL &&
		    keystore_has_password(s->kst) && ctx->get_password == NULL) {
			/* Recovery by passphrase needs no keystore password. */
			keystore_free(s->kst);
			s->kst = NULL;
		}
		if (s->kst != NULL) {
			if ((r = session_unlock(ctx, s->kst, err)) != 0) {
				if (ctx->passphrase == NULL || r == COFFER_ENOMEM)
					goto fail;
				/* A forgotten keystore password must not block
				 * recovery from the card's passphrase slot. */
				session_warn(ctx, "keystore not opened (%s); "
				    "going on with the recovery passphrase only",
				    err->msg);
				keystore_free(s->kst);
				s->kst = NULL;
			}
		}
		if (s->kst != NULL) {
			r = keystore_load_secret(s->kst, s->repo->id,
			    &s->secret, err);
			if (r == COFFER_ENOKEY && (ctx->passphrase != NULL ||
			    repo_has_escrow(s)))
				r = 0;	/* keys come from the card or server */
			else if (r == COFFER_ENOKEY)
				hint_slots(s, false, err);
			if (r != 0)
				goto fail;
		}
	}
	if (lockkind != 0 && (r = repo_lock(s->repo, lockkind, &s->lock,
	    err)) != 0)
		goto fail;
	return 0;
fail:
	session_close(s);
	return r;
}

void
session_close(struct session *s)
{
	for (int i = 0; i < s->ncache; i++)
		secret_free(s->cache[i].dk);
	repo_unlock(s->lock);
	keystore_free(s->kst);
	secret_free(s->secret);
	repo_free(s->repo);
	memset(s, 0, sizeof(*s));
}

const uint8_t *
session_cache_put(struct session *s, const char *keyid, uint8_t *dk)
{
	int i = s->ncache < SESSION_DK_CACHE ? s->ncache++ : 0;

	if (i == 0 && s->ncache == SESSION_DK_CACHE)
		secret_free(s->cache[0].dk);
	snprintf(s->cache[i].keyid, sizeof(s->cache[i].keyid), "%s", keyid);
	s->cache[i].dk = dk;
	return dk;
}

/* Does ${dk} belong to key set ${keyid}? */
static bool
dk_matches(const uint8_t dk[KEY_LEN], const char *keyid)
{
	uint8_t id[KEYID_LEN];
	char hex[KEYID_HEX_LEN + 1];

	keyset_keyid(dk, id);
	hex_encode(hex, id, KEYID_LEN);
	return strcmp(hex, keyid) == 0;
}

int
session_dk(struct session *s, const char *keyid, const uint8_t **out,
    struct coffer_err *err)
{
	uint8_t bin[KEYID_LEN];
	struct keyinfo ki;
	uint8_t *dk = NULL;
	char machine[256];
	int r;

	*out = NULL;
	s->dk_unavailable = false;
	for (int i = 0; i < s->ncache; i++) {
		if (strcmp(s->cache[i].keyid, keyid) == 0) {
			*out = s->cache[i].dk;
			return 0;
		}
	}
	if (strlen(keyid) != KEYID_HEX_LEN || hex_decode(bin, keyid,
	    KEYID_LEN) != 0)
		return coffer_err_set(err, COFFER_EINVAL, "'%s' is not a key "
		    "id (16 hex digits)", keyid);
	/* 1. A key stored in the keystore. */
	if (s->kst != NULL) {
		r = keystore_get_key(s->kst, bin, &dk, err);
		if (r == 0 && dk_matches(dk, keyid)) {
			*out = session_cache_put(s, keyid, dk);
			return 0;
		}
		secret_free(dk);
		dk = NULL;
		if (r != 0 && r != COFFER_ENOKEY)
			return r;
	}
	if ((dk = secret_alloc(KEY_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	/* 2. Derived from the repository secret: device, or a period. */
	if (s->secret != NULL) {
		if (keystore_machine_id(machine, sizeof(machine), NULL) == 0) {
			keystore_device_dk(s->secret, machine, dk);
			if (dk_matches(dk, keyid)) {
				*out = session_cache_put(s, keyid, dk);
				return 0;
			}
		}
	}
	r = keyinfo_peek(s->repo, keyid, &ki, err);
	if (r != 0) {
		secret_free(dk);
		return r;
	}
	if (s->secret != NULL && ki.scope == SCOPE_PERIOD && ki.label[0]) {
		keystore_period_dk(s->secret, ki.label, dk);
		if (dk_matches(dk, keyid)) {
			*out = session_cache_put(s, keyid, dk);
			return 0;
		}
	}
	/* 3. A recovery passphrase slot on the card, if one was given. */
	if (s->ctx->passphrase != NULL && ki.nslots > 0) {
		bool wrong = false;

		for (int i = 0; i < ki.nslots; i++) {
			r = slot_open(&ki.slots[i], bin, s->ctx->passphrase,
			    s->ctx->passphrase_len, dk);
			if (r == 0 && dk_matches(dk, keyid)) {
				*out = session_cache_put(s, keyid, dk);
				return 0;
			}
			if (r == COFFER_EAUTH)
				wrong = true;
		}
		if (wrong) {
			secret_free(dk);
			s->dk_unavailable = true;
			return coffer_err_set(err, COFFER_EAUTH, "the passphrase "
			    "does not open key set %s", keyid);
		}
	}
	secret_free(dk);
	dk = NULL;
	/* 4. The escrow server: released, or unwrapped, for this session. */
	if (ki.custody != CUSTODY_LOCAL && !s->offline) {
		if ((r = custody_fetch(s, &ki, keyid, &dk, err)) != 0) {
			s->dk_unavailable = r != COFFER_ENOMEM;
			return r;
		}
		if (!dk_matches(dk, keyid)) {
			secret_free(dk);
			return coffer_err_set(err, COFFER_EAUTH, "key set %s: "
			    "the escrow server %s returned a key of another "
			    "key set", keyid, ki.escrow_url);
		}
		*out = session_cache_put(s, keyid, dk);
		return 0;
	}
	if (s->ctx->passphrase != NULL && ki.nslots == 0) {
		/* The passphrase given is for another set, or for none. */
		coffer_err_set(err, COFFER_ENOKEY, "key set %s has no recovery "
		    "passphrase, so --passphrase-file cannot open it%s", keyid,
		    s->kst != NULL ? ", and its key is not in this keystore" :
		    "");
		hint_slots(s, true, err);
		return COFFER_ENOKEY;
	}
	return coffer_err_set(err, COFFER_ENOKEY, "key set %s: its key is not "
	    "in this keystore%s", keyid, ki.nslots > 0 && s->ctx->passphrase ==
	    NULL ? " (it has a recovery passphrase: use --passphrase-file)" :
	    " (made on another device, with another keystore, or destroyed)");
}

int
session_keyset(struct session *s, const char *keyid, struct keyset **out,
    struct coffer_err *err)
{
	const uint8_t *dk;
	int r;

	*out = NULL;
	if ((r = session_dk(s, keyid, &dk, err)) != 0)
		return r;
	return keyset_open(s->repo, dk, false, NULL, out, err);
}

int
session_target(struct session *s, int scope, int period, int custody,
    time_t when, struct keyset **out, struct coffer_err *err)
{
	struct keyset_params prm = { .scope = scope, .custody = CUSTODY_LOCAL };
	uint8_t keyid[KEYID_LEN];
	char machine[256], label[32] = "";
	uint8_t *dk = NULL, *stored = NULL;
	int r;

	*out = NULL;
	if (custody != CUSTODY_LOCAL) {
		if (scope == SCOPE_PERIOD)
			period_label(period, when, label);
		return custody_target(s, scope, custody, label, out, err);
	}
	if (s->kst == NULL || s->secret == NULL)
		return coffer_err_set(err, COFFER_ENOKEY, "no keystore with a "
		    "key for this repository here");
	if ((dk = secret_alloc(KEY_LEN)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "key memory");
	switch (scope) {
	case SCOPE_DEVICE:
		if ((r = keystore_machine_id(machine, sizeof(machine),
		    err)) != 0)
			goto out;
		keystore_device_dk(s->secret, machine, dk);
		break;
	case SCOPE_PERIOD:
		period_label(period, when, label);
		keystore_period_dk(s->secret, label, dk);
		prm.label = label;
		break;
	case SCOPE_BACKUP:
		random_bytes(dk, KEY_LEN);
		break;
	default:
		r = coffer_err_set(err, COFFER_EINVAL, "unknown scope %d", scope);
		goto out;
	}
	/*
	 * Keep every data key in the keystore, derived ones too: then a
	 * destroyed derived set can be made underivable by rotating the
	 * repository secret without losing the other sets.
	 */
	keyset_keyid(dk, keyid);
	r = keystore_get_key(s->kst, keyid, &stored, err);
	if (r == COFFER_ENOKEY)
		r = keystore_put_key(s->kst, keyid, dk, err);
	if (r != 0)
		goto out;
	r = keyset_open(s->repo, dk, true, &prm, out, err);
out:
	secret_free(stored);
	secret_free(dk);
	return r;
}

int
session_find_snapshot(struct session *s, const char *spec, struct keyset **ks,
    struct snapshot *snap, struct coffer_err *err)
{
	struct snapshot *v = NULL;
	size_t n = 0, hit = (size_t)-1, nhits = 0;
	const uint8_t *dk;
	int r;

	*ks = NULL;
	memset(snap, 0, sizeof(*snap));
	if ((r = repo_list_snapshots(s->repo, &v, &n, err)) != 0)
		return r;
	if (strcmp(spec, "latest") == 0) {
		/*
		 * The newest snapshot whose key can be had here.  Sets made
		 * elsewhere are passed over in silence; the first set whose
		 * key cannot be had now (escrow: destroyed, unreachable)
		 * is named, as a warning if an older snapshot is taken, or
		 * as the error if none is.
		 */
		struct coffer_err why = { 0 };
		size_t nwhy = 0;

		for (size_t i = n; i-- > 0; ) {
			struct coffer_err e1 = { 0 };

			if (session_dk(s, v[i].keyid, &dk, &e1) == 0) {
				hit = i;
				break;
			}
			/*
			 * A wrong password, or fresh proof that cannot be
			 * given: say so rather than fall back to an older
			 * snapshot.
			 */
			if (e1.code == COFFER_EAUTH ||
			    e1.code == COFFER_ENOMEM ||
			    e1.code == COFFER_EPERM) {
				*err = e1;
				r = e1.code;
				goto out;
			}
			if (e1.code != COFFER_ENOKEY && nwhy++ == 0) {
				why = e1;
				coffer_err_prefix(&why, "snapshot '%s'",
				    v[i].name);
			}
		}
		if (hit == (size_t)-1 && nwhy > 0) {
			*err = why;
			r = coffer_err_prefix(err, "'latest': no snapshot can "
			    "be opened here; the newest");
			goto out;
		}
		if (hit == (size_t)-1) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, n == 0 ?
			    "the repository has no snapshots yet" :
			    "no snapshot on the card belongs to a key this "
			    "keystore (or passphrase) opens");
			goto out;
		}
		if (nwhy > 0)
			session_warn(s->ctx, "'latest' is '%s': %zu newer "
			    "snapshot%s cannot be opened now (%s)",
			    v[hit].name, nwhy, nwhy == 1 ? "" : "s", why.msg);
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
		if (hit == (size_t)-1 && strlen(spec) < 4 &&
		    strspn(spec, "0123456789abcdef") == strlen(spec)) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "no snapshot "
			    "named '%s', and an id prefix needs at least 4 hex "
			    "digits (see 'coffer snapshots')", spec);
			goto out;
		}
		if (hit == (size_t)-1) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "no snapshot "
			    "named '%s' (see 'coffer snapshots')", spec);
			goto out;
		}
	}
	memcpy(snap->name, v[hit].name, sizeof(snap->name));
	snap->rev = v[hit].rev;
	snap->nstale = v[hit].nstale;
	if ((r = session_keyset(s, v[hit].keyid, ks, err)) != 0)
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

void
entry_info(const struct tree_entry *e, const char *path, size_t len,
    struct coffer_entry_info *info)
{
	memset(info, 0, sizeof(*info));
	info->path = (const uint8_t *)path;
	info->pathlen = len;
	info->type = e->type;
	info->mode = e->mode;
	info->uid = e->uid;
	info->gid = e->gid;
	info->mtime_sec = e->mtime_sec;
	info->mtime_nsec = e->mtime_nsec;
	info->size = e->size;
	info->target = e->target;
	info->targetlen = e->targetlen;
	info->link_id = e->link_id;
	info->rdev = e->rdev;
	info->nxattrs = e->nxattrs;
}
