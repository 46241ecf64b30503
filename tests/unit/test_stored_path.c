/* SPDX-License-Identifier: ISC */
/*
 * test_stored_path: which typed paths read as 'coffer ls' prints them
 * (docs/CLI.md, "Paths"), and what bytes they stand for.  Each row is
 * an input, whether it is an ls form that reads differently, and then
 * the bytes.  stored_path_print (find's second reading) must print
 * exactly what unescaping reads back.
 */
#include <string.h>

#include "unit.h"
#include "backup/session.h"

struct row {
	const char	*in;
	int		 want;		/* stored_path_unescape's result */
	const char	*bytes;		/* if want == 1 */
};

static const struct row rows[] = {
	{ "plain/path", 0, NULL },			/* no backslash */
	{ "new\\x0aline", 1, "new\nline" },
	{ "a\\x09tab", 1, "a\ttab" },
	{ "del\\x7f", 1, "del\x7f" },
	{ "back\\\\slash", 1, "back\\slash" },
	{ "lit\\\\x0a", 1, "lit\\x0a" },	/* a doubled backslash */
	{ "\\x01\\x1f", 1, "\x01\x1f" },
	{ "a\\x41", 0, NULL },			/* ls never escapes 'A' */
	{ "up\\x0A", 0, NULL },			/* ls writes lower case */
	{ "nul\\x00", 0, NULL },		/* no name holds NUL */
	{ "sp\\x20", 0, NULL },			/* a printable byte */
	{ "hi\\x80", 0, NULL },			/* bytes >= 0x80 are raw */
	{ "new\\nline", 0, NULL },		/* not an ls escape */
	{ "short\\x0", 0, NULL },
	{ "end\\", 0, NULL },
	{ "x\\x0g", 0, NULL },
};

static void
table(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *out = (char *)"unset";
		int r = stored_path_unescape(rows[i].in, &out);

		if (r != rows[i].want)
			unit_fail(__FILE__, __LINE__, "'%s': %d, want %d",
			    rows[i].in, r, rows[i].want);
		else if (r == 1 && strcmp(out, rows[i].bytes) != 0)
			unit_fail(__FILE__, __LINE__, "'%s': wrong bytes",
			    rows[i].in);
		else if (r == 0 && out != NULL)
			unit_fail(__FILE__, __LINE__, "'%s': out not NULL",
			    rows[i].in);
		coffer_free(r == 1 ? out : NULL);
	}
}

/* What stored_path_print writes, stored_path_unescape reads back. */
static void
roundtrip(void)
{
	static const char *const names[] = {
		"new\nline", "a\\x41", "back\\slash", "\x01\x7f\x1f",
		"lit\\x0a",
	};
	char shown[64];

	T_EQ_INT((long long)stored_path_print(shown, sizeof(shown), "plain"),
	    0);
	T_EQ_INT((long long)stored_path_print(shown, 4, "a\nb"), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *back = NULL;

		T_TRUE(stored_path_print(shown, sizeof(shown), names[i]) > 0);
		T_EQ_INT(stored_path_unescape(shown, &back), 1);
		if (back != NULL)
			T_EQ_STR(back, names[i]);
		coffer_free(back);
	}
	T_TRUE(stored_path_print(shown, sizeof(shown), "new\nline") > 0);
	T_EQ_STR(shown, "new\\x0aline");
}

UNIT_MAIN(NULL,
	UNIT_TEST(table),
	UNIT_TEST(roundtrip),
)
