/* SPDX-License-Identifier: ISC */
/*
 * test_policy: retention rules, table-driven with fixed times.  Each row
 * is a policy, a list of snapshot times and the exact set it keeps.
 */
#include <string.h>

#include "unit.h"
#include "backup/policy.h"

#define H	3600
#define D	(24 * H)
/* 2026-01-05 00:00:00 UTC, a Monday (ISO week 2026-W02). */
#define T0	1767571200LL

struct row {
	const char	*what;
	struct policy	 p;
	int64_t		 t[16];
	size_t		 n;
	const char	*keep;		/* '1' kept, '0' forgotten, per t[] */
};

static const struct row rows[] = {
	{ "keep-last 2", { .last = 2 }, { T0, T0 + H, T0 + 2 * H, T0 + 3 * H },
	    4, "0011" },
	{ "keep-last more than there are", { .last = 9 }, { T0, T0 + 1 }, 2,
	    "11" },
	{ "keep-hourly 2: newest of each hour", { .hourly = 2 },
	    { T0, T0 + 60, T0 + H, T0 + H + 60, T0 + 2 * H }, 5, "00011" },
	{ "keep-daily 3 over 4 days, two a day", { .daily = 3 },
	    { T0, T0 + H, T0 + D, T0 + D + H, T0 + 2 * D, T0 + 2 * D + H,
	    T0 + 3 * D, T0 + 3 * D + H }, 8, "00010101" },
	{ "keep-weekly 2: ISO weeks (Mon..Sun)", { .weekly = 2 },
	    { T0 - D, T0, T0 + 6 * D, T0 + 7 * D }, 4, "0011" },
	{ "keep-monthly 2", { .monthly = 2 },
	    { T0, T0 + 20 * D, T0 + 30 * D, T0 + 60 * D }, 4, "0011" },
	{ "keep-yearly 1", { .yearly = 1 }, { T0 - 10 * D, T0, T0 + D }, 3,
	    "001" },
	{ "union of rules", { .last = 1, .yearly = 2 },
	    { T0 - 10 * D, T0, T0 + D }, 3, "101" },
	{ "order of input does not matter", { .last = 1 },
	    { T0 + 5, T0 + 9, T0 + 1 }, 3, "010" },
	{ "empty policy keeps nothing", { 0 }, { T0, T0 + 1 }, 2, "00" },
	{ "no snapshots", { .last = 3 }, { 0 }, 0, "" },
	{ "same second: later in the list is newer", { .last = 2 },
	    { T0, T0, T0 }, 3, "011" },
};

static void
table(void)
{
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		bool keep[16];
		char got[17];

		policy_apply(&rows[r].p, rows[r].t, rows[r].n, keep);
		for (size_t i = 0; i < rows[r].n; i++)
			got[i] = keep[i] ? '1' : '0';
		got[rows[r].n] = '\0';
		if (strcmp(got, rows[r].keep) != 0)
			unit_fail(__FILE__, __LINE__, "%s: kept %s, want %s",
			    rows[r].what, got, rows[r].keep);
	}
}

static void
empty(void)
{
	struct policy p = { 0 };

	T_TRUE(policy_empty(&p));
	p.weekly = 1;
	T_TRUE(!policy_empty(&p));
}

UNIT_MAIN(NULL,
	UNIT_TEST(table),
	UNIT_TEST(empty),
)
