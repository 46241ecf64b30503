/* SPDX-License-Identifier: ISC */
/*
 * test_mount_names: a host name's folder in coffer mount's hosts/
 * (coffer_fs_host_escape; docs/CLI.md, "mount"): '%' and '/' as %25 and
 * %2F, the dots of "." and ".." as %2E, nothing else; decoding every
 * %XX gives the host name back; what is no name gives 0.
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "coffer/coffer.h"

static const struct {
	const char	*host;
	const char	*name;		/* NULL: none (0 returned) */
} rows[] = {
	{ "laptop", "laptop" },
	{ "web/01", "web%2F01" },
	{ "100%", "100%25" },
	{ "a%2Fb", "a%252Fb" },		/* not the name of "a/b" */
	{ "/", "%2F" },
	{ ".", "%2E" },
	{ "..", "%2E%2E" },
	{ "...", "..." },
	{ "a.b", "a.b" },
	{ "./x", ".%2Fx" },
	{ "", NULL },
};

/* unescape(in, out): every %XX decoded (the inverse the docs promise). */
static void
unescape(const char *in, char *out)
{
	while (*in != '\0') {
		unsigned int v;

		if (in[0] == '%' && sscanf(in + 1, "%2x", &v) == 1) {
			*out++ = (char)v;
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
}

static void
table(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char name[256], back[256];
		size_t n = coffer_fs_host_escape(rows[i].host, name,
		    sizeof(name));

		if (rows[i].name == NULL) {
			T_EQ_INT((long long)n, 0);
			T_EQ_STR(name, "");
			continue;
		}
		T_EQ_STR(name, rows[i].name);
		T_EQ_INT((long long)n, (long long)strlen(rows[i].name));
		unescape(name, back);
		T_EQ_STR(back, rows[i].host);
	}
}

/* A name that does not fit (with its NUL) is none: never cut short. */
static void
too_long(void)
{
	char name[8];

	T_EQ_INT((long long)coffer_fs_host_escape("1234567", name,
	    sizeof(name)), 7);
	T_EQ_INT((long long)coffer_fs_host_escape("12345678", name,
	    sizeof(name)), 0);
	T_EQ_STR(name, "");
	T_EQ_INT((long long)coffer_fs_host_escape("12345/", name,
	    sizeof(name)), 0);
	T_EQ_INT((long long)coffer_fs_host_escape("x", name, 0), 0);
}

UNIT_MAIN(NULL,
	UNIT_TEST(table),
	UNIT_TEST(too_long),
)
