/* SPDX-License-Identifier: ISC */
/* policy: retention rules over snapshot times (see policy.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

bool
policy_empty(const struct policy *p)
{
	return p->last == 0 && p->hourly == 0 && p->daily == 0 &&
	    p->weekly == 0 && p->monthly == 0 && p->yearly == 0;
}

/* The bucket of time ${t} for a rule: equal buckets, same period. */
static int64_t
bucket(int rule, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[16];

	gmtime_r(&tt, &tm);
	switch (rule) {
	case 1:
		return (int64_t)(tm.tm_year + 1900) * 1000000 + tm.tm_yday * 100 +
		    tm.tm_hour;
	case 2:
		return (int64_t)(tm.tm_year + 1900) * 1000 + tm.tm_yday;
	case 3:
		strftime(buf, sizeof(buf), "%G%V", &tm);
		return strtoll(buf, NULL, 10);
	case 4:
		return (int64_t)(tm.tm_year + 1900) * 100 + tm.tm_mon;
	default:
		return tm.tm_year + 1900;
	}
}

struct ord {
	int64_t	t;
	size_t	i;
};

static int
newest_first(const void *a, const void *b)
{
	const struct ord *x = a, *y = b;

	if (x->t != y->t)
		return x->t > y->t ? -1 : 1;
	/* Same second: the later in the list is the newer. */
	return x->i > y->i ? -1 : x->i < y->i;
}

void
policy_apply(const struct policy *p, const int64_t *times, size_t n,
    bool *keep)
{
	const unsigned limit[6] = { p->last, p->hourly, p->daily, p->weekly,
	    p->monthly, p->yearly };
	struct ord *o;

	memset(keep, 0, n * sizeof(*keep));
	if (n == 0)
		return;
	if ((o = malloc(n * sizeof(*o))) == NULL) {
		/* Out of memory: keep everything rather than guess. */
		for (size_t i = 0; i < n; i++)
			keep[i] = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		o[i].t = times[i];
		o[i].i = i;
	}
	qsort(o, n, sizeof(*o), newest_first);
	for (int rule = 0; rule < 6; rule++) {
		unsigned kept = 0;
		int64_t last = 0;
		bool any = false;

		for (size_t k = 0; k < n && kept < limit[rule]; k++) {
			int64_t b = rule == 0 ? (int64_t)k : bucket(rule, o[k].t);

			if (any && b == last)
				continue;
			keep[o[k].i] = true;
			last = b;
			any = true;
			kept++;
		}
	}
	free(o);
}
