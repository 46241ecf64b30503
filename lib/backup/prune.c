/* SPDX-License-Identifier: ISC */
/*
 * prune: for each key set whose key is here, mark every blob its
 * snapshots use, then let lib/repo delete and repack the rest.  A tree
 * that cannot be read stops the prune of that set before anything is
 * deleted: what it would have named cannot be told apart from garbage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

/*
 * The chunks the walk met, marked in sorted batches (keyset_mark_sorted:
 * the index cache read in order, not a pread a chunk).
 */
struct mref {
	uint8_t		 id[BLOB_ID_LEN];
	const char	*snap;
};

struct mbatch {
	struct mref	*v;
	size_t		 n, cap;
};

static int
mref_cmp(const void *a, const void *b)
{
	return memcmp(((const struct mref *)a)->id,
	    ((const struct mref *)b)->id, BLOB_ID_LEN);
}

/* mark_flush(ks, mb, err): mark the batch; a chunk unknown stops prune. */
static int
mark_flush(struct keyset *ks, struct mbatch *mb, struct coffer_err *err)
{
	size_t bad;
	int r;

	if (mb->n == 0)
		return 0;
	qsort(mb->v, mb->n, sizeof(*mb->v), mref_cmp);
	if ((r = keyset_mark_sorted(ks, OBJ_DATA, mb->v[0].id,
	    sizeof(*mb->v), mb->n, &bad, err)) != 0)
		return r;
	if (bad < mb->n)
		return coffer_err_set(err, COFFER_ENOTFOUND, "snapshot '%s' "
		    "uses data that is not in the repository; prune stopped, "
		    "nothing deleted (run 'coffer check --read-data')",
		    mb->v[bad].snap);
	mb->n = 0;
	return 0;
}

/* mark_add(ks, mb, id, snap, err): a chunk for the batch. */
static int
mark_add(struct keyset *ks, struct mbatch *mb, const uint8_t id[BLOB_ID_LEN],
    const char *snap, struct coffer_err *err)
{
	int r;

	if (mb->n == mb->cap) {
		size_t ncap = mb->cap ? mb->cap * 2 : 4096;
		struct mref *nv;

		if (mb->cap >= keyset_sorted_batch(ks)) {
			if ((r = mark_flush(ks, mb, err)) != 0)
				return r;
		} else {
			if ((nv = coffer_realloc(mb->v, ncap *
			    sizeof(*nv))) == NULL)
				return coffer_err_set(err, COFFER_ENOMEM,
				    "prune");
			mb->v = nv;
			mb->cap = ncap;
		}
	}
	memcpy(mb->v[mb->n].id, id, BLOB_ID_LEN);
	mb->v[mb->n++].snap = snap;
	return 0;
}

/*
 * mark_tree(ks, id, blob, snap, mb, err): mark tree ${id} and everything
 * below it as used, and put every chunk they name in ${mb} (marked by
 * mark_flush; heap frames: any depth).
 */
static int
mark_tree(struct keyset *ks, const uint8_t id[BLOB_ID_LEN], struct wbuf *blob,
    const char *snap, struct mbatch *mb, struct coffer_err *err)
{
	struct tstack s = { 0 };
	struct tframe *f;
	int r;

	for (;;) {
		if (!keyset_mark_used(ks, OBJ_TREE, id)) {
			if (!keyset_has_blob(ks, OBJ_TREE, id)) {
				r = coffer_err_set(err, COFFER_ENOTFOUND,
				    "snapshot '%s' names a folder that is not "
				    "in the repository; prune stopped, nothing "
				    "deleted (run 'coffer check')", snap);
				goto out;
			}
			/* walked already */
		} else {
			if ((f = tstack_push(&s)) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM, "prune");
				goto out;
			}
			if ((r = tree_load(ks, id, blob, &f->t, err)) != 0) {
				coffer_err_prefix(err, "snapshot '%s': prune "
				    "stopped, nothing deleted", snap);
				goto out;
			}
			/* A split folder's parts are used with it. */
			for (size_t k = 0; k < f->t.nparts; k++)
				(void)keyset_mark_used(ks, OBJ_TREE,
				    f->t.parts[k]);
		}
		id = NULL;
		while (id == NULL && s.n > 0) {
			const struct tree_entry *e;

			f = &s.f[s.n - 1];
			if (f->i == f->t.n) {
				tstack_pop(&s);
				continue;
			}
			e = &f->t.e[f->i++];
			for (size_t k = 0; k < e->nchunks; k++)
				if ((r = mark_add(ks, mb, e->chunks[k], snap,
				    err)) != 0)
					goto out;
			if (e->type == NODE_DIR)
				id = e->subtree;
		}
		if (id == NULL)
			break;
	}
	r = 0;
out:
	tstack_release(&s);
	return r;
}

/*
 * clear_stale(ks, keyid, snaps, n, dry_run, &count, err): delete the
 * lower revision files beside the snapshots of set ${keyid} (an
 * interrupted 'coffer tag'), each only once its highest revision has
 * loaded (authenticated) above; count them into ${count}.
 */
static int
clear_stale(struct keyset *ks, const char *keyid, const struct snapshot *snaps,
    size_t n, bool dry_run, uint64_t *count, struct coffer_err *err)
{
	int r;

	for (size_t k = 0; k < n; k++) {
		if (strcmp(snaps[k].keyid, keyid) != 0 ||
		    snaps[k].nstale == 0 || !snaps[k].readable)
			continue;
		if (!dry_run && (r = snapshot_clear_stale(ks, &snaps[k],
		    err)) != 0)
			return coffer_err_prefix(err, "snapshot '%s'",
			    snaps[k].name);
		*count += snaps[k].nstale;
	}
	return 0;
}

int
coffer_prune(const struct coffer_ctx *ctx,
    const struct coffer_prune_opts *opts, struct coffer_prune_result *res,
    struct coffer_err *err)
{
	const struct prune_opts po = {
		.dry_run = opts->dry_run,
		.max_unused = opts->max_unused,
	};
	const bool dry_run = opts->dry_run;
	struct prune_stats st = { 0 };
	struct coffer_err damage = { 0 };
	struct snapshot *snaps = NULL;
	struct keyset *ks = NULL;
	struct session s;
	struct wbuf blob;
	struct mbatch mb = { 0 };
	char **sets = NULL;
	size_t nsets = 0, nsnaps = 0;
	int r;

	memset(res, 0, sizeof(*res));
	wbuf_init(&blob, BLOB_MAX);
	if ((r = session_open(ctx, dry_run ? REPO_LOCK_READ :
	    REPO_LOCK_EXCLUSIVE, true, &s, err)) != 0)
		return r;
	if ((r = repo_list_sets(s.repo, &sets, &nsets, err)) != 0 ||
	    (r = repo_list_snapshots(s.repo, &snaps, &nsnaps, err)) != 0)
		goto out;
	for (size_t i = 0; i < nsets; i++) {
		struct coffer_err e1 = { 0 };

		keyset_free(ks);
		ks = NULL;
		if ((r = session_keyset(&s, sets[i], &ks, &e1)) != 0 ||
		    (r = keyset_load_index(ks, true, &e1)) != 0) {
			if (r == COFFER_ENOMEM) {
				*err = e1;
				goto out;
			}
			/* Cut off before its keyinfo: nothing in it to keep. */
			if (!dry_run && repo_set_unborn(s.repo, sets[i]) &&
			    repo_destroy_set(s.repo, sets[i], &e1) == 0) {
				session_warn(ctx, "key set %s: removed its "
				    "empty folder (its creation was "
				    "interrupted)", sets[i]);
				continue;
			}
			session_warn(ctx, "key set %s left alone: %s", sets[i],
			    e1.msg);
			continue;
		}
		/* Packs no index names may hold what a snapshot needs
		 * (a lost index file): read their tables first. */
		keyset_scan_unindexed(ks);
		for (size_t k = 0; k < nsnaps; k++) {
			if (strcmp(snaps[k].keyid, sets[i]) != 0)
				continue;
			if ((r = snapshot_load(ks, &snaps[k], err)) != 0) {
				coffer_err_prefix(err, "prune stopped, nothing "
				    "deleted in key set %s", sets[i]);
				goto out;
			}
			if ((r = mark_tree(ks, snaps[k].tree, &blob,
			    snaps[k].name, &mb, err)) != 0)
				goto out;
		}
		if ((r = mark_flush(ks, &mb, err)) != 0)
			goto out;
		/* Not held while prune plans and copies: its peak. */
		coffer_free(mb.v);
		mb.v = NULL;
		mb.cap = 0;
		if ((r = clear_stale(ks, sets[i], snaps, nsnaps, dry_run,
		    &res->revisions_removed, err)) != 0)
			goto out;
		/* Damage kept in place: the other sets are pruned still. */
		if ((r = keyset_prune(ks, &po, &st, &e1)) == COFFER_EAUTH) {
			if (damage.code == 0)
				damage = e1;
			continue;
		}
		if (r != 0) {
			*err = e1;
			goto out;
		}
	}
	r = 0;
	if (damage.code != 0) {
		*err = damage;
		r = damage.code;
	}
out:
	res->packs_deleted = st.packs_deleted;
	res->packs_repacked = st.packs_repacked;
	res->packs_written = st.packs_written;
	res->blobs_removed = st.blobs_removed;
	res->blobs_kept = st.blobs_kept;
	res->bytes_before = st.bytes_before;
	res->bytes_after = dry_run ? 0 : st.bytes_after;
	res->bytes_freed = st.bytes_freed;
	res->bytes_repacked = st.bytes_repacked;
	res->bundles_cut = st.bundles_cut;
	res->damaged = st.damaged;
	keyset_free(ks);
	wbuf_release(&blob);
	coffer_free(mb.v);
	snapshot_list_free(snaps, nsnaps);
	strlist_free(sets, nsets);
	session_close(&s);
	return r;
}
