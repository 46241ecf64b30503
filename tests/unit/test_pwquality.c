/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/pwquality: coffer_password_check() refuses what
 * zxcvbn rates under PWQUALITY_MIN_BITS with COFFER_EINVAL and a message
 * that names what was checked, why it is weak and what would do; it
 * takes strong ones; the caller's words count as known; the password
 * need not be NUL-terminated and may hold a NUL.
 */
#include <stdio.h>
#include <string.h>

#include "coffer/coffer.h"
#include "pwquality/pwquality.h"
#include "unit.h"

static int
check(const char *pw, const char *const *words, struct coffer_err *err)
{
	memset(err, 0, sizeof(*err));
	return coffer_password_check("test password", pw, strlen(pw), words,
	    err);
}

static void
weak_refused_with_reason(void)
{
	static const struct {
		const char	*pw;
		const char	*why;
	} cases[] = {
		{ "a", "guess: a common word, found in about" },
		{ "password1", "guess: a common word" },
		{ "sunshine2024", "a common word followed by a date" },
		{ "1qaz2wsx3edc", "a keyboard pattern" },
		{ "abcdefghijklmnop", "a sequence like abc or 123" },
		{ "x7#Qp", "only 5 characters" },
		{ "correct horse", "2 common words" },
		{ "", "it is empty" },
	};
	struct coffer_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_EQ_INT(check(cases[i].pw, NULL, &err), COFFER_EINVAL);
		T_TRUE(strstr(err.msg, "this test password is too easy to "
		    "guess: ") == err.msg);
		T_TRUE(strstr(err.msg, cases[i].why) != NULL);
		T_TRUE(strstr(err.msg, "45 needed).  Use 4 or more random "
		    "words separated by spaces, or 12 or more random letters, "
		    "digits and symbols") != NULL);
		if (strstr(err.msg, cases[i].why) == NULL)
			printf("# '%s': %s\n", cases[i].pw, err.msg);
	}
}

static void
strong_taken(void)
{
	static const char *const ok[] = {
		"plinth orchard gravel lantern",
		"glass orbit velvet tundra",
		"Xk9#mQ2$vL7!",
		"kx7qm2pz9wt4",
	};
	struct coffer_err err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		T_EQ_INT(check(ok[i], NULL, &err), 0);
		T_EQ_STR(err.msg, "");
	}
}

static void
own_words_known(void)
{
	static const char *const words[] = { "zyxwvorgnax", NULL };
	const char *pw = "zyxwvorgnax zyxwvorgnax";
	struct coffer_err err;

	/* Random-looking alone, known once it is the account name. */
	T_EQ_INT(check(pw, NULL, &err), 0);
	T_EQ_INT(check(pw, words, &err), COFFER_EINVAL);
	T_TRUE(strstr(err.msg, "names tied to you") != NULL ||
	    strstr(err.msg, "a name tied to you") != NULL);
	/* And "coffer" always is. */
	T_EQ_INT(check("coffercoffer", NULL, &err), COFFER_EINVAL);
	T_TRUE(strstr(err.msg, "tied to you, this host or coffer") != NULL);
}

static void
not_nul_terminated(void)
{
	const char buf[] = "plinth orchard gravel lanternXXXX";
	const char nul[] = "pass\0plinth orchard gravel lantern";
	struct coffer_err err = { 0 };

	/* Only ${len} bytes count. */
	T_EQ_INT(coffer_password_check("pw", buf, 29, NULL, &err), 0);
	T_EQ_INT(coffer_password_check("pw", buf, 6, NULL, &err),
	    COFFER_EINVAL);
	/* A NUL inside: rated by what comes before it, never higher. */
	T_EQ_INT(coffer_password_check("pw", nul, sizeof(nul) - 1, NULL,
	    &err), COFFER_EINVAL);
}

static int
setup(void)
{
	return coffer_init();
}

UNIT_MAIN(setup,
	UNIT_TEST(weak_refused_with_reason),
	UNIT_TEST(strong_taken),
	UNIT_TEST(own_words_known),
	UNIT_TEST(not_nul_terminated),
)
