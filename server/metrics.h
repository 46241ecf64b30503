/* SPDX-License-Identifier: ISC */
/*
 * metrics: cofferd's per-process counters and their Prometheus text
 * form (docs/PROTOCOL.md §7).  Lock-free; any thread may count.
 */
#ifndef COFFERD_METRICS_H_
#define COFFERD_METRICS_H_

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

enum metric {
	M_LOGIN_OK, M_LOGIN_FAILED, M_LOGIN_LIMITED,
	M_DEPOSITED, M_RELEASED, M_DESTROYED, M_UNWRAPS, M_RATE_LIMITED,
	M_REGISTER_LIMITED, M_KDF_BUSY,
	M_COUNT
};

/* metrics_count(m): add one to counter ${m}. */
void metrics_count(enum metric m);
/* metrics_request(status): add one to cofferd_requests_total{code}. */
void metrics_request(int status);
/*
 * metrics_text(buf, cap, up, gs): the exposition text into ${buf}; its
 * length, or 0 if ${cap} is too small.  ${up} is the value of cofferd_up;
 * ${gs} the store's group commits (store_group_stats()).
 */
size_t metrics_text(char *buf, size_t cap, bool up,
    const struct store_group_stats *gs);

#endif /* !COFFERD_METRICS_H_ */
