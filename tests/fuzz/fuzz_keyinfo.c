/* SPDX-License-Identifier: ISC */
/*
 * fuzz_keyinfo: the keyinfo of a key set (docs/FORMAT.md §6), both ways
 * coffer reads it.
 *
 *  1. keyinfo_peek (no key): the input is the whole file.  Property: an
 *     accepted cleartext part is in range (scope, custody, printable
 *     label, slot kinds) and keyinfo_store writes back exactly the same
 *     cleartext bytes.
 *  2. keyinfo_load (with the key): the input is the cleartext part
 *     followed by the 20-byte body PLAINTEXT; the harness seals the body
 *     as coffer would (type KEYINFO, the input's key id, BLAKE2b-256 of
 *     the cleartext as object id), so the checks behind the AEAD run.
 *     Property: accepted chunk sizes obey §6.1, and storing and loading
 *     again gives the same cleartext and the same values.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "repo/keyinfo.h"

#define PEEK_HEX	"00000000000000aa"
#define BODY_LEN	20

static int loadfd = -1, outfd = -1, peekfd = -1;
static uint8_t enc[KEY_LEN];

static int
mkdir_open(const char *sub)
{
	char p[PATH_MAX];
	int fd;

	fuzz_path(p, sizeof(p), "%s", sub);
	if (mkdirat_p(AT_FDCWD, p, 0700) != 0 ||
	    (fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fuzz_fail(__FILE__, __LINE__, "setup", "cannot make %s", p);
	return fd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_repo();
	peekfd = mkdir_open("repo/sets/" PEEK_HEX);
	loadfd = mkdir_open("kiload");
	outfd = mkdir_open("kiout");
	kdf_derive(enc, KEY_LEN, 1, "cofferdk", fuzz_dk);
	return 0;
}

static void
check_clear(const struct keyinfo *ki)
{
	size_t llen = strlen(ki->label);

	FUZZ_CHECK(ki->scope >= SCOPE_DEVICE && ki->scope <= SCOPE_BACKUP,
	    "scope %d", ki->scope);
	FUZZ_CHECK(ki->custody >= CUSTODY_LOCAL &&
	    ki->custody <= CUSTODY_ESCROW_WRAP, "custody %d", ki->custody);
	FUZZ_CHECK(llen <= KEYINFO_LABEL_MAX, "label length %zu", llen);
	for (size_t i = 0; i < llen; i++)
		FUZZ_CHECK(ki->label[i] >= 0x21 && ki->label[i] <= 0x7e,
		    "label byte %02x", (unsigned)(uint8_t)ki->label[i]);
	FUZZ_CHECK(ki->nslots >= 0 && ki->nslots <= KEYINFO_SLOTS_MAX,
	    "nslots %d", ki->nslots);
	for (int i = 0; i < ki->nslots; i++)
		FUZZ_CHECK(ki->slots[i].kind == SLOT_PASSPHRASE,
		    "slot kind %d", ki->slots[i].kind);
	/* The escrow block (§6.3): present exactly for escrow custodies. */
	FUZZ_CHECK((ki->escrow_url[0] != '\0') == (ki->custody !=
	    CUSTODY_LOCAL), "escrow URL and custody %d disagree", ki->custody);
	FUZZ_CHECK((ki->sealed_len != 0) == (ki->custody ==
	    CUSTODY_ESCROW_WRAP), "sealed key and custody %d disagree",
	    ki->custody);
	FUZZ_CHECK(ki->sealed_len <= KEYINFO_SEALED_MAX, "sealed %zu",
	    ki->sealed_len);
}

/* Length of the escrow block of ${ki}, 0 for local custody. */
static size_t
escrow_len(const struct keyinfo *ki)
{
	if (ki->custody == CUSTODY_LOCAL)
		return 0;
	return 1 + strlen(ki->escrow_url) + 1 + strlen(ki->escrow_keyid) + 2 +
	    ki->sealed_len;
}

/* Store ${ki} in kiout/ and return the file (coffer_free it). */
static uint8_t *
store_again(const struct keyinfo *ki, size_t *len)
{
	struct coffer_err err = { 0 };
	uint8_t *buf = NULL;

	FUZZ_CHECK(keyinfo_store(outfd, "kiout/keyinfo", fuzz_repo(), enc, ki,
	    true,
	    &err) == 0, "keyinfo_store: %s", err.msg);
	FUZZ_CHECK(file_read(outfd, "keyinfo", "kiout/keyinfo", 4096, &buf,
	    len, &err) == 0, "reading back: %s", err.msg);
	return buf;
}

static void
peek(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct keyinfo ki;
	uint8_t *again;
	size_t alen;
	int r;

	fuzz_write(peekfd, "keyinfo", data, size, 0600);
	r = keyinfo_peek(fuzz_repo(), PEEK_HEX, &ki, &err);
	FUZZ_CHECK(r == 0 || r == COFFER_EFORMAT,
	    "keyinfo_peek returned %d (%s)", r, err.msg);
	if (r != 0)
		return;
	check_clear(&ki);
	FUZZ_CHECK(size == 24 + strlen(ki.label) + 112 * (size_t)ki.nslots +
	    escrow_len(&ki) + BODY_LEN + AEAD_OVERHEAD,
	    "accepted a keyinfo of %zu bytes", size);
	again = store_again(&ki, &alen);
	FUZZ_CHECK(alen == size && memcmp(again, data, size - BODY_LEN -
	    AEAD_OVERHEAD) == 0, "cleartext re-encodes differently");
	coffer_free(again);
}

static void
load(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct keyinfo ki, ki2;
	uint8_t file[4096];
	uint8_t ad[AD_LEN], h[HASH_LEN];
	struct adbind b = { 0 };
	uint8_t *again;
	size_t adlen, clen, alen;
	int r;

	if (size < BODY_LEN || size - BODY_LEN + BODY_LEN + AEAD_OVERHEAD >
	    sizeof(file))
		return;
	clen = size - BODY_LEN;
	memcpy(file, data, clen);
	if (clen >= 24)
		memcpy(b.keyid, data + 16, KEYID_LEN);
	/* CFKEYI03 binds the repository id (AD version 2, FORMAT.md §2.3). */
	if (clen >= 8 && memcmp(data, "CFKEYI03", 8) == 0) {
		memcpy(b.repoid, fuzz_repo()->id, REPO_ID_LEN);
		b.repo = true;
	}
	hash_plain(h, sizeof(h), data, clen);
	adlen = ad_build(ad, &b, OBJ_KEYINFO, h, sizeof(h));
	aead_seal(file + clen, data + clen, BODY_LEN, ad, adlen, enc);
	fuzz_write(loadfd, "keyinfo", file, clen + BODY_LEN + AEAD_OVERHEAD,
	    0600);
	r = keyinfo_load(loadfd, "kiload/keyinfo", fuzz_repo(), enc, &ki, &err);
	/*
	 * Sealed right: the AEAD must open if the cleartext parses, unless
	 * it is an older keyinfo, which a version 3 repository refuses.
	 */
	FUZZ_CHECK(r == 0 || r == COFFER_EFORMAT || (r == COFFER_EAUTH &&
	    !b.repo),
	    "keyinfo_load returned %d (%s)", r, err.msg);
	if (r != 0)
		return;
	check_clear(&ki);
	FUZZ_CHECK(ki.chunk_min >= 64 && ki.chunk_min <= ki.chunk_avg &&
	    ki.chunk_avg <= ki.chunk_max && ki.chunk_max <= BLOB_MAX,
	    "chunk sizes %u %u %u", ki.chunk_min, ki.chunk_avg, ki.chunk_max);
	again = store_again(&ki, &alen);
	FUZZ_CHECK(alen == clen + BODY_LEN + AEAD_OVERHEAD &&
	    memcmp(again, data, clen) == 0, "cleartext re-encodes differently");
	coffer_free(again);
	r = keyinfo_load(outfd, "kiout/keyinfo", fuzz_repo(), enc, &ki2, &err);
	FUZZ_CHECK(r == 0, "stored keyinfo does not load: %s", err.msg);
	FUZZ_CHECK(ki2.chunk_min == ki.chunk_min &&
	    ki2.chunk_avg == ki.chunk_avg && ki2.chunk_max == ki.chunk_max &&
	    ki2.created == ki.created && memcmp(ki2.keyid, ki.keyid,
	    KEYID_LEN) == 0 && strcmp(ki2.label, ki.label) == 0,
	    "values change through store and load");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (peekfd == -1)
		LLVMFuzzerInitialize(NULL, NULL);
	peek(data, size);
	load(data, size);
	return 0;
}
