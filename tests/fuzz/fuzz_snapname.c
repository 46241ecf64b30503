/* SPDX-License-Identifier: ISC */
/*
 * fuzz_snapname: snapshot_name_from_fname, which decides which names in
 * a snapshots/ folder are snapshots and what they are called
 * (docs/FORMAT.md §10.1).  The input is the file name (inputs holding a
 * NUL or longer than 255 bytes, which no directory entry can be, are
 * skipped).
 *
 * Properties: an accepted file name gives a name shorter than
 * SNAPSHOT_NAME_MAX whose file name (snapshot_fname) is the input again,
 * and that has one of the two forms of §10.1 (checked here
 * independently: a count, or a time name with an optional -N).
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

static bool
digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* §10.1: "N" (1 to 19 digits, no leading zero) or
 * "DDDD-DD-DDTDD:DD:DDZ" with an optional "-N" (1 to 5 digits). */
static bool
name_form(const char *s)
{
	size_t n = strlen(s);

	if (n >= 1 && n <= 19 && digits(s, n) && s[0] != '0')
		return true;
	if (n < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || s[10] != 'T' ||
	    !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
	    s[16] != ':' || !digits(s + 17, 2) || s[19] != 'Z')
		return false;
	if (n == 20)
		return true;
	return n >= 22 && n <= 26 && s[20] == '-' && s[21] != '0' &&
	    digits(s + 21, n - 21);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[256], name[SNAPSHOT_NAME_MAX], back[SNAPSHOT_NAME_MAX];

	if (size >= sizeof(in) || memchr(data, '\0', size) != NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	memset(name, 0x55, sizeof(name));
	if (snapshot_name_from_fname(in, name) != 0)
		return 0;
	FUZZ_CHECK(memchr(name, '\0', sizeof(name)) != NULL,
	    "name not terminated");
	FUZZ_CHECK(name_form(name), "accepted '%s' as '%s'", in, name);
	snapshot_fname(name, back);
	FUZZ_CHECK(strcmp(back, in) == 0, "'%s' -> '%s' -> '%s'", in, name,
	    back);
	return 0;
}
