/* SPDX-License-Identifier: ISC */
/*
 * fuzz_passwd: the keystore's passwd file (docs/FORMAT.md §18.3), through
 * keystore_unlock with the harness password.  The first input byte is a
 * mode; with bit 0 set and a 128-byte rest, the harness first brings the
 * Argon2id costs that §18.3 accepts down to at most 2 passes and 128 KiB
 * (a valid file may ask for 16 passes over 4 GiB, which is no use to a
 * fuzzer) and then writes the right checksum, so the checks after it run.
 *
 * Properties, against a reference reader written here from §18.3: a file
 * of the wrong length, magic, checksum or costs is COFFER_EFORMAT, and
 * nothing else is; a well-formed one gives 0 or COFFER_EAUTH (wrong
 * password), and 0 leaves the keystore unlocked.
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static int ksfd = -1;
static char dir[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_path(dir, sizeof(dir), "keystore");
	if (mkdirat_p(AT_FDCWD, dir, 0700) != 0 ||
	    (ksfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s", dir);
	return 0;
}

static bool
well_formed(const uint8_t *f, size_t len)
{
	uint8_t sum[16];
	uint64_t ops, mem;

	if (len != 128 || memcmp(f, "CFKSPW01", 8) != 0)
		return false;
	hash_plain(sum, sizeof(sum), f, 112);
	ops = le64dec(f + 8);
	mem = le64dec(f + 16);
	return memcmp(sum, f + 112, 16) == 0 && ops >= 1 && ops <= 16 &&
	    mem >= (64u << 10) && mem <= (4ull << 30);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct keystore *ks = NULL;
	uint8_t f[256];
	size_t len;
	bool ok;
	int r;

	if (size == 0 || size - 1 > sizeof(f))
		return 0;
	if (ksfd == -1)
		LLVMFuzzerInitialize(NULL, NULL);
	len = size - 1;
	memcpy(f, data + 1, len);
	if ((data[0] & 1) && len == 128) {
		uint64_t ops = le64dec(f + 8), mem = le64dec(f + 16);

		if (ops >= 1 && ops <= 16)
			le64enc(f + 8, 1 + (ops - 1) % 2);
		if (mem >= (64u << 10) && mem <= (4ull << 30))
			le64enc(f + 16, (64u << 10) + mem % (64u << 10));
		hash_plain(f + 112, 16, f, 112);
	}
	fuzz_write(ksfd, "passwd", f, len, 0600);
	ok = well_formed(f, len);
	if (ok && (le64dec(f + 8) > 2 || le64dec(f + 16) > (128u << 10)))
		return 0;	/* real costs: too slow here; bit 0 brings them down */
	if (keystore_open(dir, false, &ks, &err) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s", err.msg);
	r = keystore_unlock(ks, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD), &err);
	if (ok)
		FUZZ_CHECK(r == 0 || r == COFFER_EAUTH,
		    "well-formed passwd: %d (%s)", r, err.msg);
	else
		FUZZ_CHECK(r == COFFER_EFORMAT, "damaged passwd: %d (%s)", r,
		    err.msg);
	FUZZ_CHECK(keystore_unlocked(ks) == (r == 0), "unlocked is %d after %d",
	    keystore_unlocked(ks), r);
	keystore_free(ks);
	return 0;
}
