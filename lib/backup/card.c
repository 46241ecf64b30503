/* SPDX-License-Identifier: ISC */
/*
 * card: recognising a recorded card (coffer card, docs/CLI.md): the
 * repository id of a repository and the key sets in it that this
 * keystore authenticates.  Reads only, takes no lock: it runs on a card
 * mounted read-only before anything may be written to it.
 */
#include <stdio.h>
#include <string.h>

#include "session.h"

int
coffer_card_identify(const struct coffer_ctx *ctx, char repo_id[33],
    char (*key_ids)[17], size_t cap, size_t *n, struct coffer_err *err)
{
	struct session s;
	char **sets = NULL;
	size_t nsets = 0;
	int r;

	*n = 0;
	repo_id[0] = '\0';
	if ((r = session_open(ctx, 0, true, &s, err)) != 0)
		return r;
	/* What this keystore holds, not what a server would release. */
	s.offline = true;
	snprintf(repo_id, 33, "%s", s.repo->idhex);
	if ((r = repo_list_sets(s.repo, &sets, &nsets, err)) != 0)
		goto out;
	for (size_t i = 0; i < nsets && *n < cap; i++) {
		struct coffer_err e1 = { 0 };
		struct keyinfo ki;
		const uint8_t *dk;

		if (session_dk(&s, sets[i], &dk, &e1) != 0 ||
		    keyinfo_verify(s.repo, dk, &ki, &e1) != 0)
			continue;
		snprintf(key_ids[*n], 17, "%s", sets[i]);
		(*n)++;
	}
	r = 0;
out:
	strlist_free(sets, nsets);
	session_close(&s);
	return r;
}
