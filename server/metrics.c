/* SPDX-License-Identifier: ISC */
/* metrics: counters and the exposition format (metrics.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "metrics.h"

/* Status codes cofferd answers with; anything else counts as "other". */
static const int metric_codes[] = {
	200, 201, 204, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429,
	500, 503,
};
#define N_CODES	(sizeof(metric_codes) / sizeof(metric_codes[0]))

static uint64_t m_requests[N_CODES + 1];
static uint64_t m_counters[M_COUNT];

void
metrics_count(enum metric m)
{
	if ((unsigned int)m < M_COUNT)
		__atomic_fetch_add(&m_counters[m], 1, __ATOMIC_RELAXED);
}

void
metrics_request(int status)
{
	size_t i;

	for (i = 0; i < N_CODES; i++)
		if (metric_codes[i] == status)
			break;
	__atomic_fetch_add(&m_requests[i], 1, __ATOMIC_RELAXED);
}

static uint64_t
ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

struct mbuf {
	char	*p;
	size_t	 cap;
	size_t	 len;
	bool	 full;
};

static void mput(struct mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mput(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->full = true;
		return;
	}
	b->len += (size_t)n;
}

static void
mcounter(struct mbuf *b, const char *name, const char *help, uint64_t v)
{
	mput(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

/* The group commits as a histogram of their sizes, and the failures. */
static void
mgroups(struct mbuf *b, const struct store_group_stats *gs)
{
	uint64_t n = 0;
	size_t i;

	mput(b, "# HELP cofferd_store_group_size Database transactions "
	    "committed for deposits, releases and session touches, by the "
	    "requests each held.\n# TYPE cofferd_store_group_size "
	    "histogram\n");
	for (i = 0; i + 1 < STORE_GROUP_BUCKETS; i++) {
		n += gs->size[i];
		mput(b, "cofferd_store_group_size_bucket{le=\"%llu\"} %llu\n",
		    1ULL << i, (unsigned long long)n);
	}
	mput(b, "cofferd_store_group_size_bucket{le=\"+Inf\"} %llu\n"
	    "cofferd_store_group_size_sum %llu\n"
	    "cofferd_store_group_size_count %llu\n",
	    (unsigned long long)gs->commits, (unsigned long long)gs->ops,
	    (unsigned long long)gs->commits);
	mcounter(b, "cofferd_store_group_failed_total",
	    "Group transactions that failed and wrote nothing.", gs->failed);
	mcounter(b, "cofferd_store_group_split_total",
	    "Failed groups whose requests were then retried one by one.",
	    gs->split);
}

size_t
metrics_text(char *buf, size_t cap, bool up,
    const struct store_group_stats *gs)
{
	struct mbuf b = { .p = buf, .cap = cap };
	size_t i;

	mput(&b, "# HELP cofferd_requests_total HTTP requests answered, "
	    "by status code.\n# TYPE cofferd_requests_total counter\n");
	for (i = 0; i < N_CODES; i++)
		mput(&b, "cofferd_requests_total{code=\"%d\"} %llu\n",
		    metric_codes[i], (unsigned long long)ld(&m_requests[i]));
	mput(&b, "cofferd_requests_total{code=\"other\"} %llu\n",
	    (unsigned long long)ld(&m_requests[N_CODES]));
	mput(&b, "# HELP cofferd_logins_total Login attempts, by result.\n"
	    "# TYPE cofferd_logins_total counter\n");
	mput(&b, "cofferd_logins_total{result=\"ok\"} %llu\n",
	    (unsigned long long)ld(&m_counters[M_LOGIN_OK]));
	mput(&b, "cofferd_logins_total{result=\"failed\"} %llu\n",
	    (unsigned long long)ld(&m_counters[M_LOGIN_FAILED]));
	mput(&b, "cofferd_logins_total{result=\"limited\"} %llu\n",
	    (unsigned long long)ld(&m_counters[M_LOGIN_LIMITED]));
	mcounter(&b, "cofferd_keys_deposited_total", "Keys deposited.",
	    ld(&m_counters[M_DEPOSITED]));
	mcounter(&b, "cofferd_keys_released_total", "Keys released.",
	    ld(&m_counters[M_RELEASED]));
	mcounter(&b, "cofferd_keys_destroyed_total",
	    "Keys and wrap keys destroyed.", ld(&m_counters[M_DESTROYED]));
	mcounter(&b, "cofferd_unwraps_total", "Sealed keys unwrapped.",
	    ld(&m_counters[M_UNWRAPS]));
	mcounter(&b, "cofferd_rate_limited_total",
	    "Logins refused by the failed-login limit.",
	    ld(&m_counters[M_RATE_LIMITED]));
	mcounter(&b, "cofferd_registrations_limited_total",
	    "Registrations refused by the per-address limit.",
	    ld(&m_counters[M_REGISTER_LIMITED]));
	mcounter(&b, "cofferd_kdf_busy_total",
	    "Requests answered 503 busy: the password-hashing queue was full.",
	    ld(&m_counters[M_KDF_BUSY]));
	mgroups(&b, gs);
	mput(&b, "# HELP cofferd_up 1 if the database and the key holder "
	    "answer.\n# TYPE cofferd_up gauge\ncofferd_up %d\n", up ? 1 : 0);
	return b.full ? 0 : b.len;
}
