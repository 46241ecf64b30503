/* SPDX-License-Identifier: ISC */
/*
 * fuzz_keyfile: a key file of the keystore (docs/FORMAT.md §18.1), as
 * key_read reads it for keystore_get_key (kind 2, a key set's data key)
 * and keystore_load_secret (kind 0, a repository secret).  The keystore
 * has the harness's passwd file (fuzz_passwd_file).  The first input byte
 * is a mode:
 *
 *   bit 0: ask through a keystore unlocked with its password (else locked);
 *   bit 1: the harness writes the right checksum over the rest, so the
 *          checks after it are reached;
 *   bit 2: wrap: the rest is a 32-byte header and a 32-byte key; the
 *          harness seals the key under the keystore master key with the
 *          header as associated data, and adds the checksum (bit 1 is
 *          then implied).
 *
 * Properties, against a reference reader written here from §18.1: the
 * outcome is exactly the one §18.1 gives (damaged: COFFER_EFORMAT;
 * wrapped and locked: COFFER_EAUTH; otherwise the key), and a key handed
 * out is the one in the file (in the clear, or the one the harness
 * sealed).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static struct keystore *locked, *unlocked;
static int ksfd = -1;
static char setname[64], reponame[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct coffer_err err = { 0 };
	uint8_t pw[FUZZ_PASSWD_LEN];
	char dir[PATH_MAX], hex[33];

	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_path(dir, sizeof(dir), "keystore");
	if (keystore_open(dir, true, &locked, &err) != 0 ||
	    (ksfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s", err.msg);
	fuzz_passwd_file(pw);
	fuzz_write(ksfd, "passwd", pw, sizeof(pw), 0600);
	if (keystore_open(dir, false, &unlocked, &err) != 0 ||
	    keystore_unlock(unlocked, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD),
	    &err) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s", err.msg);
	hex_encode(hex, fuzz_ks_keyid, sizeof(fuzz_ks_keyid));
	snprintf(setname, sizeof(setname), "set-%s.key", hex);
	hex_encode(hex, fuzz_ks_repoid, sizeof(fuzz_ks_repoid));
	snprintf(reponame, sizeof(reponame), "repo-%s.key", hex);
	return 0;
}

/*
 * §18.1 for a file of ${len} bytes asked for as (kind, id): the expected
 * result, and in *clear the key when it is stored in the clear.
 */
static int
expect(const uint8_t *f, size_t len, uint32_t kind, const uint8_t id[16],
    bool is_unlocked, const uint8_t **clear)
{
	uint8_t sum[16];
	uint32_t flags;

	*clear = NULL;
	if (len < 16)
		return COFFER_EFORMAT;
	flags = le32dec(f + 8);
	if (flags > 1 || len != (flags ? 120u : 80u) ||
	    memcmp(f, "CFKEYS01", 8) != 0)
		return COFFER_EFORMAT;
	hash_plain(sum, sizeof(sum), f, len - 16);
	if (memcmp(sum, f + len - 16, 16) != 0 || le32dec(f + 12) != kind ||
	    memcmp(f + 16, id, 16) != 0)
		return COFFER_EFORMAT;
	if (flags == 0) {
		*clear = f + 32;
		return 0;
	}
	return is_unlocked ? 1 : COFFER_EAUTH;	/* 1: 0 or EAUTH */
}

static void
try_one(struct keystore *ks, bool is_unlocked, const uint8_t *f, size_t len,
    const uint8_t *sealed_key, uint32_t kind)
{
	struct coffer_err err = { 0 };
	uint8_t id[16] = { 0 };
	const uint8_t *clear;
	uint8_t *key = NULL;
	int want, r;

	if (kind == 2)
		memcpy(id, fuzz_ks_keyid, sizeof(fuzz_ks_keyid));
	else
		memcpy(id, fuzz_ks_repoid, sizeof(fuzz_ks_repoid));
	want = expect(f, len, kind, id, is_unlocked, &clear);
	if (kind == 2)
		r = keystore_get_key(ks, fuzz_ks_keyid, &key, &err);
	else
		r = keystore_load_secret(ks, fuzz_ks_repoid, &key, &err);
	if (want == 1)
		FUZZ_CHECK(r == 0 || r == COFFER_EAUTH,
		    "kind %u: returned %d (%s), want 0 or EAUTH", kind, r,
		    err.msg);
	else
		FUZZ_CHECK(r == want, "kind %u: returned %d (%s), want %d",
		    kind, r, err.msg, want);
	/* What the harness sealed under the right master key must open. */
	if (want == 1 && sealed_key != NULL)
		FUZZ_CHECK(r == 0, "kind %u: wrapped key does not open: %s",
		    kind, err.msg);
	FUZZ_CHECK((r == 0) == (key != NULL), "result %d, key %p", r,
	    (void *)key);
	if (r == 0 && clear != NULL)
		FUZZ_CHECK(memcmp(key, clear, 32) == 0, "key differs");
	if (r == 0 && sealed_key != NULL)
		FUZZ_CHECK(memcmp(key, sealed_key, 32) == 0,
		    "unwrapped key differs");
	secret_free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t f[256];
	const uint8_t *sealed_key = NULL;
	struct keystore *ks;
	size_t len;
	int mode;

	if (size == 0 || size - 1 > sizeof(f))
		return 0;
	if (ksfd == -1)
		LLVMFuzzerInitialize(NULL, NULL);
	mode = data[0];
	ks = (mode & 1) ? unlocked : locked;
	len = size - 1;
	memcpy(f, data + 1, len);
	if (mode & 4) {
		if (len < 64)
			return 0;
		sealed_key = data + 1 + 32;
		aead_seal(f + 32, sealed_key, 32, f, 32, fuzz_kmk);
		len = 32 + 32 + AEAD_OVERHEAD + 16;
		mode |= 2;
	}
	if ((mode & 2) && len >= 16)
		hash_plain(f + len - 16, 16, f, len - 16);
	fuzz_write(ksfd, setname, f, len, 0600);
	fuzz_write(ksfd, reponame, f, len, 0600);
	try_one(ks, ks == unlocked, f, len, sealed_key, 2);
	try_one(ks, ks == unlocked, f, len, sealed_key, 0);
	return 0;
}
