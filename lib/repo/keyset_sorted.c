/* SPDX-License-Identifier: ISC */
/*
 * keyset_sorted: many blob ids looked up at once, sorted, by reading the
 * index cache in order (check's walk: one pread per chunk reference was
 * most of its time once the cache is too large to map).
 */
#include <string.h>

#include "repo.h"
#include "repo_internal.h"

#define SORTED_MIN	(16u << 10)
#define SORTED_MAX	(256u << 10)

size_t
keyset_sorted_batch(struct keyset *ks)
{
	uint64_t n;

	if (idx_ready(ks, NULL) != 0 || ks->ic == NULL)
		return SORTED_MIN;
	n = idxcache_count(ks->ic) / 4;
	return n < SORTED_MIN ? SORTED_MIN : n > SORTED_MAX ? SORTED_MAX :
	    (size_t)n;
}

int
keyset_has_sorted(struct keyset *ks, int type, const uint8_t *ids,
    size_t stride, size_t n, uint8_t *have, struct coffer_err *err)
{
	int r = 0;

	if (idx_ready(ks, NULL) != 0) {
		memset(have, 0, n);
		return 0;
	}
	pthread_mutex_lock(&ks->idx_mu);
	if (ks->ic != NULL)
		r = idxcache_find_sorted(ks->ic, type, ids, stride, n, have,
		    NULL);
	else
		memset(have, 0, n);
	pthread_mutex_unlock(&ks->idx_mu);
	if (r != 0)
		return coffer_err_set(err, r, "key set %s: reading the index "
		    "cache", ks->idhex);
	/* The rest as keyset_has_blob finds them (table first). */
	for (size_t i = 0; i < n; i++)
		if (have[i] == 0 && keyset_has_blob(ks, type, ids + i * stride))
			have[i] = 2;
	return 0;
}
