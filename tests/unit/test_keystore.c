/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/keystore: the keystore directory and its modes, key
 * files (repository secrets and key set data keys), the keystore
 * password, and the derivation of data keys.  Each test works in its
 * own mkdtemp directory, removed at the end.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "keystore/keystore.h"
#include "util/util.h"
#include "unit.h"

#define KEYFILE_LEN		80	/* a key file in the clear */
#define KEYFILE_WRAPPED_LEN	120	/* a key file under the password */
#define PW			"correct horse battery staple"

/* ---- helpers (scratch files: unit.h) ---- */

/* keyfile(out, dir, repoid): the path of ${repoid}'s secret. */
static const char *
keyfile(char out[PATH_MAX], const char *dir, const uint8_t repoid[16])
{
	char hex[33];

	hex_encode(hex, repoid, 16);
	return unit_pathf(out, "%s/repo-%s.key", dir, hex);
}

/*
 * fixture(tmp, dir, &ks): a fresh temp dir ${tmp} with a new keystore
 * "${tmp}/ks" opened into *ks.
 */
static bool
fixture(char tmp[PATH_MAX], char dir[PATH_MAX], struct keystore **ks)
{
	struct coffer_err err = { 0 };

	*ks = NULL;
	if (!unit_tmpdir_new(tmp))
		return false;
	unit_pathf(dir, "%s/ks", tmp);
	if (keystore_open(dir, true, ks, &err) != 0) {
		unit_fail(__FILE__, __LINE__, "keystore_open: %s", err.msg);
		unit_tmpdir_remove(tmp);
		return false;
	}
	return true;
}

static void
fixture_done(const char *tmp, struct keystore *ks)
{
	keystore_free(ks);
	unit_tmpdir_remove(tmp);
}

/* ---- the directory ---- */

static void
open_creates_private_dir(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks = NULL, *ks2 = NULL;
	mode_t old;

	if (!unit_tmpdir_new(tmp))
		return;
	/* Parents are made; the keystore itself is 0700 whatever the umask. */
	unit_pathf(dir, "%s/home/.local/share/coffer", tmp);
	old = umask(0);
	T_EQ_INT(keystore_open(dir, true, &ks, &err), 0);
	umask(old);
	T_EQ_INT(unit_mode_of(dir), 0700);
	T_TRUE(unit_mode_of(unit_pathf(p, "%s/home", tmp)) != -1);
	if (ks != NULL) {
		T_EQ_STR(keystore_dir(ks), dir);
		T_TRUE(!keystore_has_password(ks));
		T_TRUE(!keystore_unlocked(ks));
	}
	/* Opening again, with or without create, is fine. */
	T_EQ_INT(keystore_open(dir, false, &ks2, &err), 0);
	keystore_free(ks2);
	ks2 = NULL;
	T_EQ_INT(keystore_open(dir, true, &ks2, &err), 0);
	keystore_free(ks2);
	ks2 = NULL;
	keystore_free(ks);

	/* Absent and not to be created: this device holds no keys. */
	memset(&err, 0, sizeof(err));
	T_EQ_INT(keystore_open(unit_pathf(p, "%s/none", tmp), false, &ks2, &err),
	    COFFER_ENOKEY);
	T_EQ_INT(err.code, COFFER_ENOKEY);
	T_TRUE(ks2 == NULL);
	T_TRUE(unit_mode_of(p) == -1);
	keystore_free(NULL);
	unit_tmpdir_remove(tmp);
}

static void
open_refuses_open_dir(void)
{
	static const int modes[] = { 0755, 0750, 0705, 0701, 0710, 0770, 0777 };
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err;
	struct keystore *ks;

	if (!fixture(tmp, dir, &ks))
		return;
	keystore_free(ks);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		T_TRUE(chmod(dir, (mode_t)modes[i]) == 0);
		memset(&err, 0, sizeof(err));
		ks = NULL;
		T_EQ_INT(keystore_open(dir, false, &ks, &err), COFFER_EPERM);
		T_TRUE(ks == NULL);
		/* The message says how to fix it. */
		if (strstr(err.msg, "chmod 700") == NULL ||
		    strstr(err.msg, dir) == NULL)
			unit_fail(__FILE__, __LINE__, "mode %o: message \"%s\"",
			    modes[i], err.msg);
		/* create does not paper over it either. */
		T_EQ_INT(keystore_open(dir, true, &ks, &err), COFFER_EPERM);
		T_EQ_INT(unit_mode_of(dir), modes[i]);
	}
	T_TRUE(chmod(dir, 0700) == 0);
	T_EQ_INT(keystore_open(dir, false, &ks, &err), 0);
	keystore_free(ks);

	/* Someone else's directory (only root can make one to test). */
	if (geteuid() == 0 && chown(dir, 12345, 12345) == 0) {
		ks = NULL;
		T_EQ_INT(keystore_open(dir, false, &ks, &err), COFFER_EPERM);
		T_TRUE(strstr(err.msg, "chown") != NULL);
		T_TRUE(ks == NULL);
		T_TRUE(chown(dir, 0, 0) == 0);
	}

	/* A symbolic link in place of the keystore is refused. */
	T_TRUE(symlink(dir, unit_pathf(p, "%s/link", tmp)) == 0);
	ks = NULL;
	T_TRUE(keystore_open(p, false, &ks, &err) != 0);
	T_TRUE(ks == NULL);
	unit_tmpdir_remove(tmp);
}

/* ---- repository secrets ---- */

static void
new_secret_private_file(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], kf[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks;
	uint8_t repoid[16];
	uint8_t *s1 = NULL, *s2 = NULL;
	uint8_t *file;
	size_t len;
	mode_t old;

	if (!fixture(tmp, dir, &ks))
		return;
	random_bytes(repoid, sizeof(repoid));
	old = umask(0);
	T_EQ_INT(keystore_new_secret(ks, repoid, &err), 0);
	umask(old);
	keyfile(kf, dir, repoid);
	T_EQ_INT(unit_mode_of(kf), 0600);
	if ((file = unit_slurp(kf, &len)) != NULL) {
		T_EQ_INT(len, KEYFILE_LEN);
		T_TRUE(memcmp(file, "CFKEYS01", 8) == 0);
		T_EQ_MEM(file + 16, repoid, 16);
		coffer_free(file);
	}
	/* Nothing else is left behind. */
	T_TRUE(unit_mode_of(unit_pathf(p, "%s.tmp", kf)) == -1);

	/* The same secret every time it is loaded. */
	T_EQ_INT(keystore_load_secret(ks, repoid, &s1, &err), 0);
	T_EQ_INT(keystore_load_secret(ks, repoid, &s2, &err), 0);
	T_TRUE(s1 != NULL && s2 != NULL);
	if (s1 != NULL && s2 != NULL)
		T_EQ_MEM(s1, s2, KEYSTORE_SECRET_LEN);

	/* A second secret for the same repository is refused ... */
	T_EQ_INT(keystore_new_secret(ks, repoid, &err), COFFER_EEXIST);
	secret_free(s2);
	s2 = NULL;
	/* ... and the first one is kept. */
	T_EQ_INT(keystore_load_secret(ks, repoid, &s2, &err), 0);
	if (s1 != NULL && s2 != NULL)
		T_EQ_MEM(s1, s2, KEYSTORE_SECRET_LEN);
	secret_free(s2);
	s2 = NULL;

	/* Rotation gives a new secret. */
	T_EQ_INT(keystore_rotate_secret(ks, repoid, &err), 0);
	T_EQ_INT(keystore_load_secret(ks, repoid, &s2, &err), 0);
	if (s1 != NULL && s2 != NULL)
		T_TRUE(memcmp(s1, s2, KEYSTORE_SECRET_LEN) != 0);
	T_EQ_INT(unit_mode_of(kf), 0600);
	secret_free(s1);
	secret_free(s2);
	fixture_done(tmp, ks);
}

static void
load_secret_other_repo(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks;
	uint8_t a[16], b[16];
	uint8_t *sa = NULL, *sb = NULL;

	if (!fixture(tmp, dir, &ks))
		return;
	random_bytes(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	b[15] ^= 1;
	T_EQ_INT(keystore_new_secret(ks, a, &err), 0);

	T_EQ_INT(keystore_load_secret(ks, b, &sb, &err), COFFER_ENOKEY);
	T_EQ_INT(err.code, COFFER_ENOKEY);
	T_TRUE(sb == NULL);
	T_TRUE(strstr(err.msg, "no key for this repository") != NULL);

	/* Two repositories, two unrelated secrets. */
	T_EQ_INT(keystore_new_secret(ks, b, &err), 0);
	T_EQ_INT(keystore_load_secret(ks, a, &sa, &err), 0);
	T_EQ_INT(keystore_load_secret(ks, b, &sb, &err), 0);
	if (sa != NULL && sb != NULL)
		T_TRUE(memcmp(sa, sb, KEYSTORE_SECRET_LEN) != 0);
	secret_free(sa);
	secret_free(sb);
	fixture_done(tmp, ks);
}

static void
key_file_mode_refused(void)
{
	static const int modes[] = { 0644, 0640, 0604, 0660, 0606, 0601, 0610 };
	char tmp[PATH_MAX], dir[PATH_MAX], kf[PATH_MAX], p[PATH_MAX];
	struct coffer_err err;
	struct keystore *ks;
	uint8_t repoid[16], other[16];
	uint8_t *s = NULL;

	if (!fixture(tmp, dir, &ks))
		return;
	random_bytes(repoid, sizeof(repoid));
	T_EQ_INT(keystore_new_secret(ks, repoid, &err), 0);
	keyfile(kf, dir, repoid);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		T_TRUE(chmod(kf, (mode_t)modes[i]) == 0);
		memset(&err, 0, sizeof(err));
		T_EQ_INT(keystore_load_secret(ks, repoid, &s, &err),
		    COFFER_EPERM);
		T_TRUE(s == NULL);
		if (strstr(err.msg, "chmod 600") == NULL ||
		    strstr(err.msg, kf) == NULL)
			unit_fail(__FILE__, __LINE__, "mode %o: message \"%s\"",
			    modes[i], err.msg);
	}
	/* More closed than 0600 is fine. */
	T_TRUE(chmod(kf, 0400) == 0);
	T_EQ_INT(keystore_load_secret(ks, repoid, &s, &err), 0);
	secret_free(s);
	s = NULL;
	T_TRUE(chmod(kf, 0600) == 0);

	if (geteuid() == 0 && chown(kf, 12345, 12345) == 0) {
		T_EQ_INT(keystore_load_secret(ks, repoid, &s, &err),
		    COFFER_EPERM);
		T_TRUE(strstr(err.msg, "chown") != NULL);
		T_TRUE(chown(kf, 0, 0) == 0);
	}

	/* A symbolic link or a directory in place of a key file. */
	random_bytes(other, sizeof(other));
	T_TRUE(symlink(kf, keyfile(p, dir, other)) == 0);
	T_EQ_INT(keystore_load_secret(ks, other, &s, &err), COFFER_EPERM);
	T_TRUE(s == NULL);
	T_TRUE(unlink(p) == 0);
	T_TRUE(mkdir(p, 0700) == 0);
	T_EQ_INT(keystore_load_secret(ks, other, &s, &err), COFFER_EPERM);
	T_TRUE(s == NULL);
	fixture_done(tmp, ks);
}

/* Any damaged byte, any other length, another repository's file. */
static void
key_file_corrupt(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], kf[PATH_MAX], kf2[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks;
	uint8_t repoid[16], other[16];
	uint8_t *orig = NULL, *bad = NULL, *s = NULL, *s0 = NULL;
	size_t len = 0, nbad = 0;
	int r;

	if (!fixture(tmp, dir, &ks))
		return;
	random_bytes(repoid, sizeof(repoid));
	random_bytes(other, sizeof(other));
	T_EQ_INT(keystore_new_secret(ks, repoid, &err), 0);
	T_EQ_INT(keystore_new_secret(ks, other, &err), 0);
	T_EQ_INT(keystore_load_secret(ks, repoid, &s0, &err), 0);
	keyfile(kf, dir, repoid);
	keyfile(kf2, dir, other);
	if ((orig = unit_slurp(kf, &len)) == NULL ||
	    (bad = coffer_malloc(len + 1)) == NULL)
		goto out;

	for (size_t i = 0; i < len; i++) {
		static const uint8_t xors[] = { 0x01, 0x80 };

		for (size_t k = 0; k < sizeof(xors); k++) {
			memcpy(bad, orig, len);
			bad[i] ^= xors[k];
			T_TRUE(unit_spit(kf, bad, len));
			r = keystore_load_secret(ks, repoid, &s, &err);
			if ((r != COFFER_EFORMAT || s != NULL) && nbad++ < 5)
				unit_fail(__FILE__, __LINE__, "byte %zu ^ %#x: "
				    "%d", i, xors[k], r);
			secret_free(s);
			s = NULL;
		}
	}
	for (size_t n = 0; n <= len + 1; n++) {
		if (n == len)
			continue;
		memcpy(bad, orig, len);
		bad[len] = 0;
		T_TRUE(unit_spit(kf, bad, n));
		r = keystore_load_secret(ks, repoid, &s, &err);
		if (r != COFFER_EFORMAT && nbad++ < 5)
			unit_fail(__FILE__, __LINE__, "%zu bytes: %d", n, r);
		secret_free(s);
		s = NULL;
	}
	T_EQ_INT(nbad, 0);
	T_TRUE(strstr(err.msg, "damaged") != NULL);

	/* Another repository's key file under this one's name. */
	T_TRUE(rename(kf2, kf) == 0);
	T_EQ_INT(keystore_load_secret(ks, repoid, &s, &err), COFFER_EFORMAT);
	T_TRUE(s == NULL);

	/* Put back, it loads the same secret. */
	T_TRUE(unit_spit(kf, orig, len));
	T_EQ_INT(keystore_load_secret(ks, repoid, &s, &err), 0);
	if (s != NULL && s0 != NULL)
		T_EQ_MEM(s, s0, KEYSTORE_SECRET_LEN);
out:
	secret_free(s);
	secret_free(s0);
	coffer_free(orig);
	coffer_free(bad);
	fixture_done(tmp, ks);
}

/* ---- key set data keys ---- */

static void
set_keys(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks;
	uint8_t keyid[KEYSTORE_KEYID_LEN], dk[KEY_LEN], dk2[KEY_LEN];
	uint8_t *got = NULL;

	if (!fixture(tmp, dir, &ks))
		return;
	random_bytes(keyid, sizeof(keyid));
	random_bytes(dk, sizeof(dk));
	random_bytes(dk2, sizeof(dk2));
	T_EQ_INT(keystore_get_key(ks, keyid, &got, &err), COFFER_ENOKEY);
	T_TRUE(got == NULL);
	T_EQ_INT(keystore_put_key(ks, keyid, dk, &err), 0);
	T_EQ_INT(keystore_get_key(ks, keyid, &got, &err), 0);
	if (got != NULL)
		T_EQ_MEM(got, dk, KEY_LEN);
	secret_free(got);
	got = NULL;
	{
		char hex[2 * KEYSTORE_KEYID_LEN + 1];

		hex_encode(hex, keyid, sizeof(keyid));
		T_EQ_INT(unit_mode_of(unit_pathf(p, "%s/set-%s.key", dir, hex)), 0600);
	}
	/* Replaced. */
	T_EQ_INT(keystore_put_key(ks, keyid, dk2, &err), 0);
	T_EQ_INT(keystore_get_key(ks, keyid, &got, &err), 0);
	if (got != NULL)
		T_EQ_MEM(got, dk2, KEY_LEN);
	secret_free(got);
	got = NULL;
	/* Deleted, twice. */
	T_EQ_INT(keystore_del_key(ks, keyid, &err), 0);
	T_EQ_INT(unit_mode_of(p), -1);
	T_EQ_INT(keystore_get_key(ks, keyid, &got, &err), COFFER_ENOKEY);
	T_EQ_INT(keystore_del_key(ks, keyid, &err), 0);
	fixture_done(tmp, ks);
}

/* ---- the keystore password ---- */

static void
password_wraps_keys(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], kf[PATH_MAX], p[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks, *ks2 = NULL;
	uint8_t repoid[16], repoid2[16], keyid[KEYSTORE_KEYID_LEN];
	uint8_t dk[KEY_LEN];
	uint8_t *s0 = NULL, *s = NULL, *file;
	size_t len;

	if (!fixture(tmp, dir, &ks))
		return;
	random_bytes(repoid, sizeof(repoid));
	random_bytes(keyid, sizeof(keyid));
	random_bytes(dk, sizeof(dk));
	T_EQ_INT(keystore_new_secret(ks, repoid, &err), 0);
	T_EQ_INT(keystore_put_key(ks, keyid, dk, &err), 0);
	T_EQ_INT(keystore_load_secret(ks, repoid, &s0, &err), 0);
	keyfile(kf, dir, repoid);

	/* Setting it wraps the key files already there. */
	T_EQ_INT(keystore_set_password(ks, PW, strlen(PW), true, &err), 0);
	T_TRUE(keystore_has_password(ks) && keystore_unlocked(ks));
	T_EQ_INT(unit_mode_of(unit_pathf(p, "%s/passwd", dir)), 0600);
	if ((file = unit_slurp(kf, &len)) != NULL) {
		T_EQ_INT(len, KEYFILE_WRAPPED_LEN);
		/* The secret is no longer in the file. */
		if (s0 != NULL)
			for (size_t i = 0; i + KEYSTORE_SECRET_LEN <= len; i++)
				T_TRUE(memcmp(file + i, s0,
				    KEYSTORE_SECRET_LEN) != 0);
		coffer_free(file);
	}
	T_EQ_INT(keystore_load_secret(ks, repoid, &s, &err), 0);
	if (s != NULL && s0 != NULL)
		T_EQ_MEM(s, s0, KEYSTORE_SECRET_LEN);
	secret_free(s);
	s = NULL;

	/* Opened afresh: locked until the password is given. */
	T_EQ_INT(keystore_open(dir, false, &ks2, &err), 0);
	if (ks2 == NULL)
		goto out;
	T_TRUE(keystore_has_password(ks2) && !keystore_unlocked(ks2));
	T_EQ_INT(keystore_load_secret(ks2, repoid, &s, &err), COFFER_EAUTH);
	T_TRUE(s == NULL);
	T_EQ_INT(keystore_get_key(ks2, keyid, &s, &err), COFFER_EAUTH);
	random_bytes(repoid2, sizeof(repoid2));
	T_EQ_INT(keystore_new_secret(ks2, repoid2, &err), COFFER_EAUTH);
	T_EQ_INT(keystore_set_password(ks2, "x", 1, true, &err), COFFER_EAUTH);
	T_EQ_INT(keystore_unlock(ks2, "wrong", 5, &err), COFFER_EAUTH);
	T_EQ_INT(keystore_unlock(ks2, PW, strlen(PW) - 1, &err), COFFER_EAUTH);
	T_TRUE(!keystore_unlocked(ks2));
	T_EQ_INT(keystore_unlock(ks2, PW, strlen(PW), &err), 0);
	T_TRUE(keystore_unlocked(ks2));
	T_EQ_INT(keystore_load_secret(ks2, repoid, &s, &err), 0);
	if (s != NULL && s0 != NULL)
		T_EQ_MEM(s, s0, KEYSTORE_SECRET_LEN);
	secret_free(s);
	s = NULL;
	T_EQ_INT(keystore_get_key(ks2, keyid, &s, &err), 0);
	if (s != NULL)
		T_EQ_MEM(s, dk, KEY_LEN);
	secret_free(s);
	s = NULL;
	/* New key files are wrapped from the start. */
	T_EQ_INT(keystore_new_secret(ks2, repoid2, &err), 0);
	if ((file = unit_slurp(keyfile(p, dir, repoid2), &len)) != NULL) {
		T_EQ_INT(len, KEYFILE_WRAPPED_LEN);
		coffer_free(file);
	}

	/* Changed: the old password no longer opens, the new one does. */
	T_EQ_INT(keystore_set_password(ks2, "new", 3, true, &err), 0);
	keystore_free(ks2);
	ks2 = NULL;
	T_EQ_INT(keystore_open(dir, false, &ks2, &err), 0);
	if (ks2 == NULL)
		goto out;
	T_EQ_INT(keystore_unlock(ks2, PW, strlen(PW), &err), COFFER_EAUTH);
	T_EQ_INT(keystore_unlock(ks2, "new", 3, &err), 0);
	T_EQ_INT(keystore_load_secret(ks2, repoid, &s, &err), 0);
	if (s != NULL && s0 != NULL)
		T_EQ_MEM(s, s0, KEYSTORE_SECRET_LEN);
out:
	secret_free(s);
	secret_free(s0);
	keystore_free(ks2);
	fixture_done(tmp, ks);
}

/*
 * A wrapped secret is bound to its file's header: moved into another
 * key file (checksum recomputed) it does not open.
 */
static void
password_binds_files(void)
{
	char tmp[PATH_MAX], dir[PATH_MAX], ka[PATH_MAX], kb[PATH_MAX];
	struct coffer_err err = { 0 };
	struct keystore *ks;
	uint8_t a[16], b[16];
	uint8_t *fa = NULL, *fb = NULL, *s = NULL;
	size_t la = 0, lb = 0;

	if (!fixture(tmp, dir, &ks))
		return;
	random_bytes(a, sizeof(a));
	random_bytes(b, sizeof(b));
	T_EQ_INT(keystore_set_password(ks, PW, strlen(PW), true, &err), 0);
	T_EQ_INT(keystore_new_secret(ks, a, &err), 0);
	T_EQ_INT(keystore_new_secret(ks, b, &err), 0);
	keyfile(ka, dir, a);
	keyfile(kb, dir, b);
	if ((fa = unit_slurp(ka, &la)) == NULL || (fb = unit_slurp(kb, &lb)) == NULL ||
	    la != KEYFILE_WRAPPED_LEN || lb != KEYFILE_WRAPPED_LEN) {
		T_TRUE(false);
		goto out;
	}
	/* B's sealed secret under A's header, with a valid checksum. */
	memcpy(fa + 32, fb + 32, KEYSTORE_SECRET_LEN + AEAD_OVERHEAD);
	hash_plain(fa + la - 16, 16, fa, la - 16);
	T_TRUE(unit_spit(ka, fa, la));
	T_EQ_INT(keystore_load_secret(ks, a, &s, &err), COFFER_EAUTH);
	T_TRUE(s == NULL);
	/* Checksum left stale: damaged. */
	fa[40] ^= 1;
	T_TRUE(unit_spit(ka, fa, la));
	T_EQ_INT(keystore_load_secret(ks, a, &s, &err), COFFER_EFORMAT);
	/* A damaged passwd is reported as such, not as a wrong password. */
	{
		char pw[PATH_MAX];
		uint8_t *f;
		size_t l;
		struct keystore *ks2 = NULL;

		unit_pathf(pw, "%s/passwd", dir);
		if ((f = unit_slurp(pw, &l)) != NULL) {
			f[l - 1] ^= 1;
			T_TRUE(unit_spit(pw, f, l));
			T_EQ_INT(keystore_open(dir, false, &ks2, &err), 0);
			if (ks2 != NULL)
				T_EQ_INT(keystore_unlock(ks2, PW, strlen(PW),
				    &err), COFFER_EFORMAT);
			keystore_free(ks2);
			coffer_free(f);
		}
	}
out:
	coffer_free(fa);
	coffer_free(fb);
	secret_free(s);
	fixture_done(tmp, ks);
}

/* ---- derived data keys ---- */

/*
 * Known answers: data keys are not stored on the card, so every device
 * must derive the same bytes for ever.  If these change, the key sets
 * already on cards can no longer be opened.
 */
static void
device_dk_derivation(void)
{
	static const uint8_t want_dev[KEY_LEN] = {
		0x9f, 0x6e, 0x37, 0xb1, 0xd9, 0x1d, 0x42, 0xd3,
		0xbf, 0x27, 0x6c, 0x39, 0x7c, 0x1f, 0xb3, 0x45,
		0x8c, 0x23, 0xa3, 0xce, 0x63, 0x58, 0x4c, 0x1b,
		0xf1, 0x02, 0xad, 0x94, 0x9c, 0x73, 0xfe, 0x60,
	};
	static const uint8_t want_period[KEY_LEN] = {
		0x30, 0x74, 0xe5, 0xa9, 0x27, 0x04, 0x17, 0xac,
		0xc2, 0x41, 0x9f, 0xb1, 0x29, 0x28, 0x75, 0xfc,
		0xc7, 0xc0, 0x5b, 0x3d, 0xe0, 0x67, 0xc5, 0x67,
		0xf1, 0xe5, 0xf3, 0x07, 0x76, 0xf3, 0x77, 0xab,
	};
	static const char mid[] = "0123456789abcdef0123456789abcdef";
	uint8_t secret[KEYSTORE_SECRET_LEN], secret2[KEYSTORE_SECRET_LEN];
	uint8_t a[KEY_LEN], b[KEY_LEN];

	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)i;
	keystore_device_dk(secret, mid, a);
	T_EQ_MEM(a, want_dev, KEY_LEN);
	keystore_period_dk(secret, "day:2026-11-25", a);
	T_EQ_MEM(a, want_period, KEY_LEN);

	/* Deterministic. */
	random_bytes(secret, sizeof(secret));
	keystore_device_dk(secret, mid, a);
	keystore_device_dk(secret, mid, b);
	T_EQ_MEM(a, b, KEY_LEN);
	/* Another machine id, even a prefix of this one: another key. */
	keystore_device_dk(secret, "0123456789abcdef0123456789abcdee", b);
	T_TRUE(memcmp(a, b, KEY_LEN) != 0);
	keystore_device_dk(secret, "0123456789abcdef", b);
	T_TRUE(memcmp(a, b, KEY_LEN) != 0);
	keystore_device_dk(secret, "", b);
	T_TRUE(memcmp(a, b, KEY_LEN) != 0);
	/* Another secret: another key. */
	memcpy(secret2, secret, sizeof(secret));
	secret2[0] ^= 1;
	keystore_device_dk(secret2, mid, b);
	T_TRUE(memcmp(a, b, KEY_LEN) != 0);
	/* Scopes do not collide on the same string. */
	keystore_period_dk(secret, mid, b);
	T_TRUE(memcmp(a, b, KEY_LEN) != 0);
	/* Not the secret itself. */
	T_TRUE(memcmp(a, secret, KEY_LEN) != 0);
}

static void
machine_id_from_env(void)
{
	char out[64], big[100];
	struct coffer_err err = { 0 };
	const char *old = getenv("COFFER_MACHINE_ID");
	char *saved = old != NULL ? coffer_strdup(old) : NULL;

	T_TRUE(setenv("COFFER_MACHINE_ID", "test-machine-1", 1) == 0);
	T_EQ_INT(keystore_machine_id(out, sizeof(out), &err), 0);
	T_EQ_STR(out, "test-machine-1");
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	T_TRUE(setenv("COFFER_MACHINE_ID", big, 1) == 0);
	T_EQ_INT(keystore_machine_id(out, sizeof(out), &err), COFFER_EINVAL);
	if (saved != NULL)
		T_TRUE(setenv("COFFER_MACHINE_ID", saved, 1) == 0);
	else
		T_TRUE(unsetenv("COFFER_MACHINE_ID") == 0);
	coffer_free(saved);
}

static int
setup(void)
{
	return coffer_crypto_init();
}

UNIT_MAIN(setup,
	UNIT_TEST(open_creates_private_dir),
	UNIT_TEST(open_refuses_open_dir),
	UNIT_TEST(new_secret_private_file),
	UNIT_TEST(load_secret_other_repo),
	UNIT_TEST(key_file_mode_refused),
	UNIT_TEST(key_file_corrupt),
	UNIT_TEST(set_keys),
	UNIT_TEST(password_wraps_keys),
	UNIT_TEST(password_binds_files),
	UNIT_TEST(device_dk_derivation),
	UNIT_TEST(machine_id_from_env),
)
