/* SPDX-License-Identifier: ISC */
/*
 * packids: a sorted copy of some of a key set's pack ids, so that each
 * file of packs/ is looked up in O(log n) instead of compared with the
 * whole pack table (prune, check and the leftover scan list every pack
 * file; at 80,000 packs the pairwise loop took seconds).
 */
#include <stdlib.h>
#include <string.h>

#include "repo.h"
#include "repo_internal.h"

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, PACK_ID_LEN);
}

int
packids_build(const struct keyset *ks, packids_want_fn *want, void *cookie,
    struct packids *s)
{
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	if ((s->id = coffer_calloc((size_t)ks->npacks + 1,
	    PACK_ID_LEN)) == NULL)
		return -1;
	for (uint32_t p = 0; p < ks->npacks; p++)
		if (want == NULL || want(ks, p, cookie))
			memcpy(s->id + n++ * PACK_ID_LEN, ks->packs[p].id,
			    PACK_ID_LEN);
	if (n > 1)
		qsort(s->id, n, PACK_ID_LEN, id_cmp);
	s->n = n;
	return 0;
}

bool
packids_has(const struct packids *s, const uint8_t id[PACK_ID_LEN])
{
	return s->n > 0 && bsearch(id, s->id, s->n, PACK_ID_LEN,
	    id_cmp) != NULL;
}

void
packids_release(struct packids *s)
{
	coffer_free(s->id);
	memset(s, 0, sizeof(*s));
}
