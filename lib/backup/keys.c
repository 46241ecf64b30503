/* SPDX-License-Identifier: ISC */
/*
 * keys: the key sets on the card and in the keystore — listing them,
 * recovery passphrase slots, destruction, and the keystore password.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "session.h"
#include "../escrow/escrow.h"

#define PASSWD_INPUT_MAX	1024

static const char *const custody_names[] = {
	"?", "local", "escrow", "local+escrow", "escrow-wrap",
};

void *
coffer_secret_alloc(size_t len)
{
	return secret_alloc(len);
}

void
coffer_secret_free(void *p)
{
	secret_free(p);
}

void
coffer_keys_free(struct coffer_keyset_info *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		strlist_free(v[i].snapshots, v[i].nsnapshots);
	coffer_free(v);
}

int
coffer_keys(const struct coffer_ctx *ctx, struct coffer_keyset_info **out,
    size_t *nout, struct coffer_err *err)
{
	struct coffer_keyset_info *v = NULL;
	struct snapshot *snaps = NULL;
	struct session s;
	char **sets = NULL;
	size_t nsets = 0, nsnaps = 0;
	int r;

	*out = NULL;
	*nout = 0;
	r = session_open(ctx, REPO_LOCK_READ, true, &s, err);
	/* No keystore here: still list what the card holds. */
	if (r == COFFER_ENOKEY)
		r = session_open(ctx, REPO_LOCK_READ, false, &s, err);
	if (r != 0)
		return r;
	s.offline = true;	/* "key here" means here, not at the server */
	if ((r = repo_list_sets(s.repo, &sets, &nsets, err)) != 0 ||
	    (r = repo_list_snapshots(s.repo, &snaps, &nsnaps, err)) != 0)
		goto out;
	if ((v = coffer_calloc(nsets, sizeof(*v))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "key list");
		goto out;
	}
	for (size_t i = 0; i < nsets; i++) {
		struct coffer_keyset_info *o = &v[i];
		struct coffer_err e1 = { 0 };
		struct keyinfo ki;
		const uint8_t *dk;

		snprintf(o->key_id, sizeof(o->key_id), "%s", sets[i]);
		o->custody = "?";
		if (keyinfo_peek(s.repo, sets[i], &ki, &e1) != 0) {
			o->damaged = true;
		} else {
			o->scope = ki.scope;
			snprintf(o->period, sizeof(o->period), "%s", ki.label);
			o->custody = custody_names[ki.custody];
			o->passphrase = ki.nslots > 0;
			snprintf(o->escrow_server, sizeof(o->escrow_server),
			    "%s", ki.escrow_url);
			snprintf(o->escrow_key_id, sizeof(o->escrow_key_id),
			    "%s", ki.escrow_keyid);
		}
		o->key_present = session_dk(&s, sets[i], &dk, &e1) == 0;
		/*
		 * A key here that does not authenticate the set (copied from
		 * another repository that shares this keystore, or edited):
		 * not this repository's set, and not usable.
		 */
		if (o->key_present && keyinfo_verify(s.repo, dk, &ki,
		    &e1) != 0) {
			o->key_present = false;
			o->damaged = true;
		}
		if ((o->snapshots = coffer_calloc(nsnaps + 1,
		    sizeof(char *))) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "key list");
			goto out;
		}
		for (size_t k = 0; k < nsnaps; k++) {
			if (strcmp(snaps[k].keyid, sets[i]) != 0)
				continue;
			if ((o->snapshots[o->nsnapshots] =
			    coffer_strdup(snaps[k].name)) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM,
				    "key list");
				goto out;
			}
			o->nsnapshots++;
		}
	}
	*out = v;
	*nout = nsets;
	v = NULL;
	r = 0;
out:
	coffer_keys_free(v, nsets);
	snapshot_list_free(snaps, nsnaps);
	strlist_free(sets, nsets);
	session_close(&s);
	return r;
}

/*
 * describe_set(s, keyid, v, n, out, cap): "<key id> (<scope>; N
 * snapshots, newest NAME: PATHS)" for a list of candidates.
 */
static void
describe_set(struct session *s, const char *keyid, struct snapshot *v,
    size_t n, char *out, size_t cap)
{
	static const char *const scopes[] = { "?", "device", "period",
	    "backup" };
	struct keyset *ks = NULL;
	struct keyinfo ki;
	size_t cnt = 0, newest = 0, len;

	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].keyid, keyid) == 0) {
			cnt++;
			newest = i;
		}
	len = (size_t)snprintf(out, cap, "%s (%s; %zu snapshot%s", keyid,
	    keyinfo_peek(s->repo, keyid, &ki, NULL) == 0 && ki.scope >= 1 &&
	    ki.scope <= 3 ? scopes[ki.scope] : "?", cnt, cnt == 1 ? "" : "s");
	if (cnt > 0 && len < cap) {
		struct snapshot sn;

		memset(&sn, 0, sizeof(sn));
		memcpy(sn.name, v[newest].name, sizeof(sn.name));
		sn.rev = v[newest].rev;
		len += (size_t)snprintf(out + len, cap - len, ", newest %s",
		    sn.name);
		if (session_keyset(s, keyid, &ks, NULL) == 0 &&
		    snapshot_load(ks, &sn, NULL) == 0) {
			for (size_t k = 0; k < sn.npaths && len < cap; k++)
				len += (size_t)snprintf(out + len, cap - len,
				    "%s%s", k == 0 ? ": " : " ", sn.paths[k]);
		}
		snapshot_release(&sn);
		keyset_free(ks);
	}
	if (len < cap)
		snprintf(out + len, cap - len, ")");
}

/*
 * default_set(s, keyid, err): the key set a recovery passphrase goes to
 * when none is named: the one set with snapshots whose key is in this
 * keystore.  Several: COFFER_EINVAL, naming them (the newest snapshot's
 * set is no safe guess: a one-off --scope backup set is often newest).
 * None here: the set of the newest snapshot whose key can be had (the
 * escrow server asked).
 */
#define IDS_MAX	64

static int
default_set(struct session *s, char keyid[KEYID_HEX_LEN + 1],
    struct coffer_err *err)
{
	/* Distinct sets, newest first (counted once each up to IDS_MAX). */
	char ids[IDS_MAX][KEYID_HEX_LEN + 1];
	struct snapshot *v = NULL;
	size_t n = 0, nids = 0;
	const uint8_t *dk;
	int r;

	if ((r = repo_list_snapshots(s->repo, &v, &n, err)) != 0)
		return r;
	s->offline = true;
	for (size_t i = n; i-- > 0; ) {
		bool seen = false;

		for (size_t k = 0; k < nids && k < IDS_MAX; k++)
			seen = seen || strcmp(ids[k], v[i].keyid) == 0;
		if (seen || session_dk(s, v[i].keyid, &dk, NULL) != 0)
			continue;
		if (nids < IDS_MAX)
			snprintf(ids[nids], sizeof(ids[nids]), "%s",
			    v[i].keyid);
		nids++;
	}
	s->offline = false;
	if (nids == 1) {
		snprintf(keyid, KEYID_HEX_LEN + 1, "%s", ids[0]);
		r = 0;
	} else if (nids > 1) {
		char list[COFFER_ERR_MSG_LEN] = "";
		size_t len = 0;

		for (size_t k = 0; k < nids && k < 4 && len < sizeof(list);
		    k++) {
			char one[256];

			describe_set(s, ids[k], v, n, one, sizeof(one));
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s", k > 0 ? "; " : "", one);
		}
		r = coffer_err_set(err, COFFER_EINVAL, "this keystore opens "
		    "%zu key sets; name the one to protect (see 'coffer key "
		    "list'): %s%s", nids, list, nids > 4 ? "; ..." : "");
	} else {
		r = coffer_err_set(err, COFFER_ENOTFOUND, "no snapshot on the "
		    "card belongs to a key in this keystore; name the key set "
		    "(see 'coffer key list')");
		for (size_t i = n; i-- > 0; ) {
			if (session_dk(s, v[i].keyid, &dk, NULL) == 0) {
				snprintf(keyid, KEYID_HEX_LEN + 1, "%s",
				    v[i].keyid);
				r = 0;
				break;
			}
		}
	}
	snapshot_list_free(v, n);
	return r;
}

#define NEW_PASS_MAX	1024

int
coffer_key_passphrase(const struct coffer_ctx *ctx, const char *key_id,
    coffer_pass_fn *get_new, char *out_key_id, struct coffer_err *err)
{
	char keyid[KEYID_HEX_LEN + 1];
	struct keyset *ks = NULL;
	struct session s;
	struct kslot slot;
	const uint8_t *dk;
	char *pass = NULL;
	int len;
	int r;

	/* The keystore password first, then which set, then the new one. */
	if ((r = session_open(ctx, REPO_LOCK_APPEND, true, &s, err)) != 0)
		return r;
	if (key_id != NULL)
		snprintf(keyid, sizeof(keyid), "%s", key_id);
	else if ((r = default_set(&s, keyid, err)) != 0)
		goto out;
	if ((r = session_dk(&s, keyid, &dk, err)) != 0 ||
	    (r = keyset_open(s.repo, dk, false, NULL, &ks, err)) != 0)
		goto out;
	if (get_new == NULL) {
		if (keyset_info(ks)->nslots == 0) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "key set %s "
			    "has no recovery passphrase", keyid);
			goto out;
		}
		r = keyset_set_slots(ks, NULL, 0, err);
	} else {
		uint8_t bin[KEYID_LEN];
		char prompt[96];

		if ((pass = secret_alloc(NEW_PASS_MAX)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "passphrase "
			    "memory");
			goto out;
		}
		snprintf(prompt, sizeof(prompt), "new recovery passphrase for "
		    "key set %s", keyid);
		if ((len = get_new(ctx->cookie, prompt, pass,
		    NEW_PASS_MAX)) < 0) {
			r = coffer_err_set(err, COFFER_EINVAL, "no new "
			    "recovery passphrase given; nothing changed");
			goto out;
		}
		if ((r = coffer_password_check("recovery passphrase", pass,
		    (size_t)len, NULL, err)) != 0)
			goto out;
		if (len < 8) {
			r = coffer_err_set(err, COFFER_EINVAL, "a recovery "
			    "passphrase must have at least 8 characters");
			goto out;
		}
		if (hex_decode(bin, keyid, KEYID_LEN) != 0) {
			r = coffer_err_set(err, COFFER_EINVAL, "bad key id");
			goto out;
		}
		if ((r = slot_make(&slot, dk, bin, pass, (size_t)len,
		    ctx->fast_kdf, err)) != 0)
			goto out;
		/* One passphrase slot per set: a new one replaces the old. */
		r = keyset_set_slots(ks, &slot, 1, err);
	}
	if (r == 0 && out_key_id != NULL)
		snprintf(out_key_id, KEYID_HEX_LEN + 1, "%s", keyid);
out:
	secret_free(pass);
	keyset_free(ks);
	session_close(&s);
	return r;
}

static void
say(coffer_warn_fn *report, void *cookie, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(coffer_warn_fn *report, void *cookie, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (report != NULL)
		report(cookie, msg);
}

/*
 * Could the repository secret give ${dk} again?  The device key of this
 * machine, or (from an authenticated keyinfo ${ki}, may be NULL) the key
 * of its period.
 */
static bool
derivable(const struct session *s, const uint8_t *dk, const struct keyinfo *ki)
{
	uint8_t *d;
	char machine[256];
	bool hit = false;

	if (s->secret == NULL)
		return false;
	if ((d = secret_alloc(KEY_LEN)) == NULL)
		return true;	/* cannot tell: replace the secret */
	if (keystore_machine_id(machine, sizeof(machine), NULL) == 0) {
		keystore_device_dk(s->secret, machine, d);
		hit = ct_equal(d, dk, KEY_LEN);
	}
	if (!hit && ki != NULL && ki->scope == SCOPE_PERIOD && ki->label[0]) {
		keystore_period_dk(s->secret, ki->label, d);
		hit = ct_equal(d, dk, KEY_LEN);
	}
	secret_free(d);
	return hit;
}

/*
 * A destroy under way (FORMAT.md §18.9): before anything is destroyed, the
 * keystore gets the blob "destroy-<key id>" holding the repository id.
 * Once the key is wiped, the card's folder of the set can no longer be
 * authenticated; this record, written by this device before it wiped the
 * key, is the authenticated fact that lets a second run remove the folder
 * an interrupted one left.  Removed when the destroy is complete.
 */
static void
destroy_mark_name(char name[32], const char *key_id)
{
	snprintf(name, 32, "destroy-%s", key_id);
}

static int
destroy_mark_put(struct session *s, const char *key_id,
    struct coffer_err *err)
{
	char name[32];

	destroy_mark_name(name, key_id);
	return keystore_put_blob(s->kst, name, s->repo->id, REPO_ID_LEN, false,
	    err);
}

bool
key_destroy_pending(struct session *s, const char *key_id)
{
	char name[32];
	uint8_t *p = NULL;
	size_t len = 0;
	bool held;

	if (s->kst == NULL)
		return false;
	destroy_mark_name(name, key_id);
	if (keystore_get_blob(s->kst, name, &p, &len, NULL) != 0)
		return false;
	held = len == REPO_ID_LEN && ct_equal(p, s->repo->id, REPO_ID_LEN);
	secret_free(p);
	return held;
}

/* destroy_mark_left(s, key_id): a record of that name is here at all,
 * readable or not (its own removal, an overwrite then an unlink, cut
 * off). */
static bool
destroy_mark_left(struct session *s, const char *key_id)
{
	char name[32];
	uint8_t *p = NULL;
	size_t len = 0;
	int r;

	if (s->kst == NULL)
		return false;
	destroy_mark_name(name, key_id);
	r = keystore_get_blob(s->kst, name, &p, &len, NULL);
	secret_free(p);
	return r != COFFER_ENOTFOUND;
}

static int
destroy_mark_del(struct session *s, const char *key_id,
    struct coffer_err *err)
{
	char name[32];

	destroy_mark_name(name, key_id);
	return keystore_del_blob(s->kst, name, err);
}

/* destroy_caches(s, key_id): its file cache (backup.c) lists its files,
 * its index cache (FORMAT.md §18.8) its blobs: gone with the key. */
static int
destroy_caches(struct session *s, const char *key_id, struct coffer_err *err)
{
	for (int k = 0; k < 2; k++) {
		char cpath[4200];

		snprintf(cpath, sizeof(cpath), "%s/cache/%s.%s",
		    keystore_dir(s->kst), key_id, k == 0 ? "cache" : "index");
		if (unlink(cpath) != 0 && errno != ENOENT)
			return coffer_err_sys(err, "cannot remove '%s'", cpath);
	}
	return 0;
}

/*
 * key destroy decides only from authenticated facts (issue #13, SECURITY.md
 * §11): the set's data key is found here, or released by the
 * server the card names and accepted only if its key id is this set's;
 * the keyinfo is then authenticated under it, and only what it says
 * (custody, escrow server and key id, scope) is acted on.  Without the key
 * nothing is destroyed.  A missing keyinfo is an unknown state: the
 * repository secret is replaced, and the escrow server is searched for
 * copies (each released and checked).
 */
int
coffer_key_destroy(const struct coffer_ctx *ctx, const char *key_id,
    bool really, coffer_warn_fn *report, struct coffer_err *err)
{
	struct snapshot *snaps = NULL;
	struct session s;
	struct keyinfo ki, peek;
	struct keyinfo found[CUSTODY_FIND_MAX];
	struct coffer_err e1 = { 0 }, why = { 0 };
	char **sets = NULL;
	size_t nsets = 0, nsnaps = 0, nmine = 0, nfound = 0;
	uint8_t bin[KEYID_LEN];
	const uint8_t *dk = NULL;
	bool on_card = false, have_peek, missing = false, rotate = false;
	bool unchecked = false;
	/* Given the escrow server's id (as 'escrow keys' shows): its set. */
	const char *server_id = NULL;
	char mapped[KEYID_HEX_LEN + 1];
	uint8_t sbin[ESCROW_KEYID_LEN / 2];
	int r;

	if (key_id != NULL && strlen(key_id) == ESCROW_KEYID_LEN &&
	    hex_decode(sbin, key_id, sizeof(sbin)) == 0)
		server_id = key_id;
	else if (key_id == NULL || strlen(key_id) != KEYID_HEX_LEN ||
	    hex_decode(bin, key_id, KEYID_LEN) != 0)
		return coffer_err_set(err, COFFER_EINVAL, "'%s' is not a key id "
		    "(16 hex digits, see 'coffer key list'; or the escrow "
		    "server's 32, see 'coffer escrow keys')",
		    key_id ? key_id : "");
	if ((r = session_open(ctx, really ? REPO_LOCK_EXCLUSIVE : REPO_LOCK_READ,
	    true, &s, err)) != 0)
		return r;
	if ((r = repo_list_sets(s.repo, &sets, &nsets, err)) != 0 ||
	    (r = repo_list_snapshots(s.repo, &snaps, &nsnaps, err)) != 0)
		goto out;
	if (server_id != NULL) {
		/*
		 * The card's cleartext only finds the candidate; its
		 * authenticated keyinfo must say the same (step 2).
		 */
		key_id = NULL;
		for (size_t i = 0; i < nsets && key_id == NULL; i++)
			if (keyinfo_peek(s.repo, sets[i], &peek, NULL) == 0 &&
			    strcmp(peek.escrow_keyid, server_id) == 0) {
				snprintf(mapped, sizeof(mapped), "%s", sets[i]);
				key_id = mapped;
			}
		if (key_id == NULL) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "no key set "
			    "on this card has its key at the escrow server "
			    "under id %s; to destroy that key at the server "
			    "without the card: 'coffer escrow destroy %s'",
			    server_id, server_id);
			goto out;
		}
		if (hex_decode(bin, key_id, KEYID_LEN) != 0) {
			r = coffer_err_set(err, COFFER_EINVAL, "bad key id");
			goto out;
		}
		say(report, ctx->cookie, "the escrow server's key %s is that "
		    "of key set %s", server_id, key_id);
	}
	for (size_t i = 0; i < nsets; i++)
		if (strcmp(sets[i], key_id) == 0)
			on_card = true;
	memset(&ki, 0, sizeof(ki));
	/* The card's word: used only to find the key, never acted on. */
	have_peek = keyinfo_peek(s.repo, key_id, &peek, NULL) == 0;

	/*
	 * 1. The data key: from the keystore or derived; else from the
	 * escrow server the card names (session_dk accepts it only if its
	 * key id is this set's, so an edited escrow key id cannot make us
	 * act on another set's key).
	 */
	s.offline = true;
	r = session_dk(&s, key_id, &dk, &why);
	if (r != 0 && have_peek && peek.custody != CUSTODY_LOCAL) {
		s.offline = false;
		why = (struct coffer_err){ 0 };
		r = session_dk(&s, key_id, &dk, &why);
		s.offline = true;
	}
	if (r != 0 && on_card && key_destroy_pending(&s, key_id)) {
		/* An earlier destroy wiped the key and was cut off before
		 * the folder went: this device's own record says so. */
		say(report, ctx->cookie, "%s key set %s: its key was already "
		    "destroyed here by an interrupted 'key destroy'; its folder "
		    "'%s/sets/%s' is left", really ? "finishing" :
		    "would finish", key_id, s.repo->path, key_id);
		if (!really) {
			say(report, ctx->cookie, "nothing was changed; add "
			    "--yes to remove it");
			r = 0;
			goto out;
		}
		if ((r = keystore_del_key(s.kst, bin, err)) != 0 ||
		    (r = destroy_caches(&s, key_id, err)) != 0 ||
		    (r = repo_destroy_set(s.repo, key_id, err)) != 0 ||
		    (r = destroy_mark_del(&s, key_id, err)) != 0)
			goto out;
		say(report, ctx->cookie, "key set %s destroyed", key_id);
		goto out;
	}
	if (r != 0 && !on_card && destroy_mark_left(&s, key_id)) {
		/* Cut off after the folder went: only the record is left. */
		say(report, ctx->cookie, "key set %s was destroyed by an "
		    "interrupted 'key destroy'; nothing is left of it", key_id);
		if (really && ((r = keystore_del_key(s.kst, bin, err)) != 0 ||
		    (r = destroy_caches(&s, key_id, err)) != 0))
			goto out;
		r = really ? destroy_mark_del(&s, key_id, err) : 0;
		goto out;
	}
	if (r != 0) {
		dk = NULL;
		if (!on_card) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "no key set "
			    "%s on the card or in the keystore", key_id);
			goto out;
		}
		r = coffer_err_set(err, why.code == COFFER_ENET ||
		    why.code == COFFER_ELOGIN ? why.code : COFFER_ENOKEY,
		    "key set %s: nothing was destroyed: without its data key "
		    "its keyinfo cannot be authenticated, and the card's word "
		    "(%s) is not acted on (to remove only its folder, delete "
		    "'sets/%s' by hand): %s", key_id, have_peek ?
		    (peek.custody == CUSTODY_LOCAL ? "custody local" :
		    "an escrow server and key id") : "no readable keyinfo",
		    key_id, why.msg);
		goto out;
	}

	/* 2. Its keyinfo, authenticated under that key. */
	r = keyinfo_verify(s.repo, dk, &ki, &e1);
	if (r == COFFER_ENOTFOUND) {
		missing = true;
		memset(&ki, 0, sizeof(ki));
	} else if (r != 0) {
		r = coffer_err_set(err, e1.code == COFFER_ENOMEM ?
		    COFFER_ENOMEM : COFFER_EAUTH, "key set %s: nothing was "
		    "destroyed: its keyinfo does not authenticate under its "
		    "own key, so its custody, scope and escrow key id cannot "
		    "be trusted: %s; put it back from a copy of the card, or "
		    "delete it and run again to destroy the key as one of "
		    "unknown custody", key_id, e1.msg);
		goto out;
	}

	if (server_id != NULL && (missing ||
	    strcmp(ki.escrow_keyid, server_id) != 0)) {
		r = coffer_err_set(err, COFFER_EAUTH, "key set %s: nothing was "
		    "destroyed: the card's cleartext names the escrow server's "
		    "key %s for it, but its authenticated keyinfo does not; "
		    "give the key set's own id", key_id, server_id);
		goto out;
	}

	/*
	 * 3. Is it derivable from the repository secret?  Re-derived and
	 * compared; and when the keyinfo is gone the scope is unknown, so
	 * the secret is replaced anyway.
	 */
	if (s.secret != NULL && s.kst != NULL)
		rotate = missing || derivable(&s, dk, &ki) ||
		    (ki.custody == CUSTODY_LOCAL && ki.scope != SCOPE_BACKUP);

	/* 4. With no keyinfo: copies at the escrow server, checked. */
	if (missing) {
		r = custody_find(&s, key_id, found, CUSTODY_FIND_MAX, &nfound,
		    &e1);
		if (r == COFFER_ENOMEM) {
			*err = e1;
			goto out;
		}
		if (r != 0) {
			unchecked = true;
			why = e1;
		}
	}

	say(report, ctx->cookie, "%s key set %s:", really ? "destroying" :
	    "would destroy", key_id);
	say(report, ctx->cookie, "  its data key in keystore '%s'%s",
	    s.kst ? keystore_dir(s.kst) : "(none)", rotate ? " (and the "
	    "repository secret is replaced, as the key was or may have been "
	    "derived from it; other key sets keep their stored keys)" : "");
	if (ki.custody != CUSTODY_LOCAL && !missing)
		say(report, ctx->cookie, "  its %s %s at the escrow server %s",
		    ki.custody == CUSTODY_ESCROW_WRAP ? "wrap key pair" :
		    "escrowed key", ki.escrow_keyid, ki.escrow_url);
	for (size_t i = 0; i < nfound; i++)
		say(report, ctx->cookie, "  its escrowed key %s at the escrow "
		    "server %s", found[i].escrow_keyid, found[i].escrow_url);
	if (missing)
		say(report, ctx->cookie, "  (its keyinfo is not on the card: "
		    "%s)", unchecked ? "whether an escrow server holds a copy "
		    "of its key cannot be checked" : "no escrowed copy found");
	for (size_t k = 0; k < nsnaps; k++) {
		if (strcmp(snaps[k].keyid, key_id) != 0)
			continue;
		say(report, ctx->cookie, "  snapshot %s", snaps[k].name);
		nmine++;
	}
	if (on_card)
		say(report, ctx->cookie, "  folder '%s/sets/%s' on the card "
		    "(%zu snapshot%s)", s.repo->path, key_id, nmine,
		    nmine == 1 ? "" : "s");
	if (!really) {
		say(report, ctx->cookie, "nothing was changed; add --yes to "
		    "destroy (this cannot be undone)");
		r = 0;
		goto out;
	}
	/*
	 * The key first: once it is gone the card's data is unreadable even
	 * if what follows is interrupted.  A derived key is also made
	 * underivable: every other key set derived from the current secret
	 * has its key stored in the keystore first, then the secret changes.
	 * An escrowed key goes first of all: if the server cannot be reached
	 * nothing here is changed, and the command can be run again.
	 */
	if (s.kst != NULL && on_card &&
	    (r = destroy_mark_put(&s, key_id, err)) != 0)
		goto out;
	if (!missing && (r = custody_destroy(&s, &ki, key_id, err)) != 0)
		goto out;
	for (size_t i = 0; i < nfound; i++)
		if ((r = custody_destroy(&s, &found[i], key_id, err)) != 0)
			goto out;
	if (s.kst != NULL) {
		if (rotate) {
			for (size_t i = 0; i < nsets; i++) {
				const uint8_t *odk;
				uint8_t obin[KEYID_LEN];
				uint8_t *have = NULL;

				if (strcmp(sets[i], key_id) == 0 ||
				    session_dk(&s, sets[i], &odk, NULL) != 0 ||
				    hex_decode(obin, sets[i], KEYID_LEN) != 0)
					continue;
				if (keystore_get_key(s.kst, obin, &have,
				    NULL) == 0) {
					secret_free(have);
					continue;
				}
				if ((r = keystore_put_key(s.kst, obin, odk,
				    err)) != 0)
					goto out;
			}
			if ((r = keystore_rotate_secret(s.kst, s.repo->id,
			    err)) != 0)
				goto out;
		}
		if ((r = keystore_del_key(s.kst, bin, err)) != 0)
			goto out;
	}
	if (s.kst != NULL && (r = destroy_caches(&s, key_id, err)) != 0)
		goto out;
	if (on_card && (r = repo_destroy_set(s.repo, key_id, err)) != 0)
		goto out;
	if (s.kst != NULL && on_card &&
	    (r = destroy_mark_del(&s, key_id, err)) != 0)
		goto out;
	if (unchecked) {
		r = coffer_err_set(err, why.code, "key set %s: its key was "
		    "destroyed here%s, but its keyinfo was missing from the "
		    "card, so whether an escrow server also holds a copy could "
		    "not be checked: %s; log in and look for keys labelled "
		    "'coffer key set %s' ('coffer escrow keys')", key_id,
		    rotate ? " and the repository secret replaced" : "",
		    why.msg, key_id);
		goto out;
	}
	say(report, ctx->cookie, "key set %s destroyed", key_id);
	r = 0;
out:
	snapshot_list_free(snaps, nsnaps);
	strlist_free(sets, nsets);
	session_close(&s);
	return r;
}

int
coffer_keystore_dir(const struct coffer_ctx *ctx, char *out, size_t cap,
    struct coffer_err *err)
{
	return session_keystore_dir(ctx, out, cap, err);
}

int
coffer_keystore_passwd(const struct coffer_ctx *ctx, coffer_pass_fn *get_new,
    struct coffer_err *err)
{
	char ksdir[4096];
	struct keystore *kst = NULL;
	char *pw = NULL;
	int n, r;

	if ((r = session_keystore_dir(ctx, ksdir, sizeof(ksdir), err)) != 0)
		return r;
	if ((r = keystore_open(ksdir, false, &kst, err)) != 0)
		return r;
	/* The current password first, then the new one. */
	if ((r = session_unlock(ctx, kst, err)) != 0)
		goto out;
	if ((pw = secret_alloc(PASSWD_INPUT_MAX)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "password memory");
		goto out;
	}
	if ((n = get_new(ctx->cookie, "new keystore password", pw,
	    PASSWD_INPUT_MAX)) < 0) {
		r = coffer_err_set(err, COFFER_EINVAL, "no new password given; "
		    "nothing changed");
		goto out;
	}
	if (n == 0) {
		r = coffer_err_set(err, COFFER_EINVAL, "the new password is "
		    "empty");
		goto out;
	}
	if ((r = coffer_password_check("keystore password", pw, (size_t)n,
	    NULL, err)) != 0)
		goto out;
	r = keystore_set_password(kst, pw, (size_t)n, ctx->fast_kdf, err);
out:
	secret_free(pw);
	keystore_free(kst);
	return r;
}

int
coffer_keystore_has_password(const struct coffer_ctx *ctx, bool *has,
    struct coffer_err *err)
{
	char ksdir[4096];
	struct keystore *kst = NULL;
	int r;

	*has = false;
	if ((r = session_keystore_dir(ctx, ksdir, sizeof(ksdir), err)) != 0)
		return r;
	if ((r = keystore_open(ksdir, false, &kst, err)) != 0)
		return r == COFFER_ENOKEY ? 0 : r;
	*has = keystore_has_password(kst);
	keystore_free(kst);
	return 0;
}

int
coffer_keystore_first_password(const struct coffer_ctx *ctx, const char *pw,
    size_t len, struct coffer_err *err)
{
	char ksdir[4096];
	struct keystore *kst = NULL;
	int r;

	if (len == 0)
		return coffer_err_set(err, COFFER_EINVAL, "the new password is "
		    "empty");
	if ((r = coffer_password_check("keystore password", pw, len, NULL,
	    err)) != 0)
		return r;
	if ((r = session_keystore_dir(ctx, ksdir, sizeof(ksdir), err)) != 0)
		return r;
	if ((r = keystore_open(ksdir, true, &kst, err)) != 0)
		return r;
	if (keystore_has_password(kst)) {
		r = coffer_err_set(err, COFFER_EEXIST, "keystore '%s' already "
		    "has a password (change it with 'coffer keystore passwd')",
		    ksdir);
		goto out;
	}
	r = keystore_set_password(kst, pw, len, ctx->fast_kdf, err);
out:
	keystore_free(kst);
	return r;
}
