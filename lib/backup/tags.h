/* SPDX-License-Identifier: ISC */
/*
 * tags: snapshot tags and the snapshot filter every command shares
 * (snapshots, forget, tag; later mount and copy).  What a tag may be and
 * how tags are stored is lib/repo's business (snapshot.c, FORMAT.md
 * §10.3); this module only builds tag lists and matches snapshots.
 */
#ifndef TAGS_H_
#define TAGS_H_

#include "coffer/coffer.h"
#include "../repo/repo.h"

/*
 * tags_make(in, n, &out, &nout, err): ${in} checked (coffer_tag_ok),
 * sorted and with repeats dropped, copied into ${out} (free with
 * strlist_free).  COFFER_EINVAL names a bad tag; COFFER_ENOMEM.
 */
int tags_make(const char *const *in, size_t n, char ***out, size_t *nout,
    struct coffer_err *err) WUR;

/* tags_match_snapshot(f, sn): coffer_snapshot_match on a loaded ${sn}. */
bool tags_match_snapshot(const struct coffer_snapshot_filter *f,
    const struct snapshot *sn);

#endif /* !TAGS_H_ */
