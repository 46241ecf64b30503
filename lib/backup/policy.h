/* SPDX-License-Identifier: ISC */
/*
 * policy: which snapshots a retention policy keeps (coffer forget).
 *
 * Given snapshot times, each rule walks them newest first: keep-last N
 * keeps the N newest; keep-hourly N keeps the newest snapshot of each of
 * the N newest hours that have one (likewise daily, weekly (ISO weeks),
 * monthly, yearly, all in UTC).  A snapshot is kept if any rule keeps it.
 * Pure computation: no I/O, so it is tested with fixed times.
 */
#ifndef POLICY_H_
#define POLICY_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct policy {
	unsigned	last, hourly, daily, weekly, monthly, yearly;
};

/* policy_empty(p): no rule given (forget would remove everything). */
bool policy_empty(const struct policy *p);

/*
 * policy_apply(p, times, n, keep): set keep[i] for the snapshots (times
 * in seconds since the epoch, in any order; of two with the same time
 * the later in the list counts as newer) that ${p} keeps.
 */
void policy_apply(const struct policy *p, const int64_t *times, size_t n,
    bool *keep);

#endif /* !POLICY_H_ */
