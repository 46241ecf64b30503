/* SPDX-License-Identifier: ISC */
/*
 * check: verify a repository.  For every key set whose key is here (a
 * set whose key is not, or cannot be had now, gets its layout checked
 * and a warning that says so; neither is a problem):
 * keyinfo authenticates, index files load, packs are present (and with
 * read_data, every byte authenticates), every snapshot decrypts, every
 * tree decodes and every chunk it names is in the index.  Pack files no
 * index names are no problem: leftovers of interrupted runs, or, while
 * another coffer holds an append or exclusive lock, packs it is writing
 * (pending: check takes only a read lock, which lets a backup run).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

struct cctx {
	const struct coffer_ctx	*ctx;
	struct coffer_check_result *res;
	struct keyset		*ks;
	struct coffer_err	*err;
	/* Trees already verified (by id). */
	uint8_t			(*seen)[BLOB_ID_LEN];
	size_t			 nseen, seencap;
	struct wbuf		 blob;
	/* Packs no index names that a snapshot needs, reported once each. */
	char			(*unindexed)[128];
	size_t			 nunindexed;
	/*
	 * Chunk references looked up in sorted batches (batched: the set
	 * has no pack that no index names); ids found in none go to
	 * ${missing}, reported with their files by a second walk (rewalk).
	 */
	bool			 batched, rewalk;
	struct cref		*refs;
	size_t			 nrefs, refcap;
	uint8_t			*have;
	uint8_t			(*missing)[BLOB_ID_LEN];
	size_t			 nmissing;
};

/* A chunk reference waiting for its batch. */
struct cref {
	uint8_t		 id[BLOB_ID_LEN];
	const char	*snap;
};


static void report(void *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
report(void *cookie, const char *fmt, ...)
{
	struct cctx *c = cookie;
	va_list ap;

	c->res->nproblems++;
	va_start(ap, fmt);
	session_vwarn(c->ctx, fmt, ap);
	va_end(ap);
}

/* Pack reading progress (bytes of packs read, of all). */
static void
check_tick(void *cookie, uint64_t done, uint64_t total)
{
	struct cctx *c = cookie;
	struct coffer_progress p = { .phase = "check" };

	if (c->ctx->progress == NULL)
		return;
	p.bytes = done;
	p.bytes_total = total;
	c->ctx->progress(c->ctx->cookie, &p);
}

/*
 * A blob found only in a pack that no index file names: an index file
 * that listed it is missing or damaged (FORMAT.md §14, invariant 3).
 * Reported once per pack, naming the pack.
 */
static void
check_indexed(struct cctx *c, int type, const uint8_t id[BLOB_ID_LEN],
    const char *snap)
{
	char label[128], (*nl)[128];

	if (!keyset_blob_unindexed(c->ks, type, id, label))
		return;
	for (size_t i = 0; i < c->nunindexed; i++)
		if (strcmp(c->unindexed[i], label) == 0)
			return;
	if ((nl = coffer_realloc(c->unindexed, (c->nunindexed + 1) *
	    sizeof(*nl))) != NULL) {
		c->unindexed = nl;
		memcpy(nl[c->nunindexed++], label, sizeof(label));
	}
	report(c, "snapshot '%s' needs pack '%s', which no index file "
	    "names: an index file of key set %s is missing or damaged",
	    snap, label, keyset_idhex(c->ks));
}

static bool
seen_tree(struct cctx *c, const uint8_t id[BLOB_ID_LEN])
{
	size_t mask, i;

	if ((c->nseen + 1) * 2 > c->seencap) {
		size_t ncap = c->seencap ? c->seencap * 2 : 1024;
		uint8_t (*ns)[BLOB_ID_LEN];
		static const uint8_t zero[BLOB_ID_LEN];

		if ((ns = coffer_calloc(ncap, BLOB_ID_LEN)) == NULL)
			return false;
		for (size_t j = 0; j < c->seencap; j++) {
			if (memcmp(c->seen[j], zero, BLOB_ID_LEN) == 0)
				continue;
			for (i = le64dec(c->seen[j]) & (ncap - 1);
			    memcmp(ns[i], zero, BLOB_ID_LEN) != 0;
			    i = (i + 1) & (ncap - 1))
				;
			memcpy(ns[i], c->seen[j], BLOB_ID_LEN);
		}
		coffer_free(c->seen);
		c->seen = ns;
		c->seencap = ncap;
	}
	mask = c->seencap - 1;
	for (i = le64dec(id) & mask; ; i = (i + 1) & mask) {
		static const uint8_t zero[BLOB_ID_LEN];

		if (memcmp(c->seen[i], id, BLOB_ID_LEN) == 0)
			return true;
		if (memcmp(c->seen[i], zero, BLOB_ID_LEN) == 0)
			break;
	}
	memcpy(c->seen[i], id, BLOB_ID_LEN);
	c->nseen++;
	return false;
}

/*
 * check_load(c, s, id, snap, path, plen): push the tree ${id} (the folder
 * at ${path}, ${plen} bytes) on ${s}, unless verified already or
 * unreadable (reported).  < 0 only if out of memory.
 */
static int
check_load(struct cctx *c, struct tstack *s, const uint8_t id[BLOB_ID_LEN],
    const char *snap, const char *path, size_t plen)
{
	struct tframe *f;
	struct coffer_err e1 = { 0 };
	int r;

	if (seen_tree(c, id))
		return 0;
	if (!c->rewalk)
		c->res->ntrees++;
	if ((f = tstack_push(s)) == NULL)
		return coffer_err_set(c->err, COFFER_ENOMEM, "check");
	f->plen = plen;
	if ((r = tree_load(c->ks, id, &c->blob, &f->t, &e1)) != 0) {
		tstack_pop(s);
		if (r == COFFER_ENOMEM) {
			*c->err = e1;
			return r;
		}
		if (!c->rewalk)	/* reported by the first walk */
			report(c, "snapshot '%s', directory '%s': %s", snap,
			    plen ? path : "/", e1.msg);
		return 0;
	}
	if (c->rewalk)
		return 0;
	check_indexed(c, OBJ_TREE, id, snap);
	for (size_t i = 0; i < f->t.nparts; i++)
		check_indexed(c, OBJ_TREE, f->t.parts[i], snap);
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, BLOB_ID_LEN);
}

static int
cref_cmp(const void *a, const void *b)
{
	return memcmp(((const struct cref *)a)->id,
	    ((const struct cref *)b)->id, BLOB_ID_LEN);
}

/*
 * refs_flush(c): look the batch of chunk references up, sorted: found in
 * a pack no index names is reported as check_indexed does, not found at
 * all is kept in c->missing for the second walk.
 */
static int
refs_flush(struct cctx *c)
{
	int r;

	if (c->nrefs == 0)
		return 0;
	qsort(c->refs, c->nrefs, sizeof(*c->refs), cref_cmp);
	if ((r = keyset_has_sorted(c->ks, OBJ_DATA, c->refs[0].id,
	    sizeof(*c->refs), c->nrefs, c->have, c->err)) != 0)
		return r;
	for (size_t i = 0; i < c->nrefs; i++) {
		if (c->have[i] == 2)
			check_indexed(c, OBJ_DATA, c->refs[i].id,
			    c->refs[i].snap);
		if (c->have[i] != 0)
			continue;
		if (c->nmissing > 0 && memcmp(c->missing[c->nmissing - 1],
		    c->refs[i].id, BLOB_ID_LEN) == 0)
			continue;
		{
			uint8_t (*nm)[BLOB_ID_LEN] = coffer_realloc(c->missing,
			    (c->nmissing + 1) * BLOB_ID_LEN);

			if (nm == NULL)
				return coffer_err_set(c->err, COFFER_ENOMEM,
				    "check");
			c->missing = nm;
			memcpy(c->missing[c->nmissing++], c->refs[i].id,
			    BLOB_ID_LEN);
		}
	}
	c->nrefs = 0;
	return 0;
}

/* refs_grow(c): room for more references, or the batch looked up. */
static int
refs_grow(struct cctx *c)
{
	size_t ncap = c->refcap ? c->refcap * 2 : 4096;
	struct cref *nr;
	uint8_t *nh;

	if (c->refcap >= keyset_sorted_batch(c->ks))
		return refs_flush(c);
	if ((nr = coffer_realloc(c->refs, ncap * sizeof(*nr))) == NULL)
		return coffer_err_set(c->err, COFFER_ENOMEM, "check");
	c->refs = nr;
	if ((nh = coffer_realloc(c->have, ncap)) == NULL)
		return coffer_err_set(c->err, COFFER_ENOMEM, "check");
	c->have = nh;
	c->refcap = ncap;
	return 0;
}

/* check_tree(c, id, snap): the tree ${id} and all below (heap frames). */
static int
check_tree(struct cctx *c, const uint8_t id[BLOB_ID_LEN], const char *snap)
{
	struct tstack s = { 0 };
	char *path = NULL;
	size_t cap = 0;
	int r;

	if ((path = coffer_malloc(cap = 256)) == NULL) {
		r = coffer_err_set(c->err, COFFER_ENOMEM, "check");
		goto out;
	}
	path[0] = '\0';
	if ((r = check_load(c, &s, id, snap, path, 0)) != 0)
		goto out;
	while (s.n > 0) {
		struct tframe *f = &s.f[s.n - 1];
		const struct tree_entry *e;
		size_t len = f->plen;

		if (f->i == f->t.n) {
			tstack_pop(&s);
			continue;
		}
		e = &f->t.e[f->i++];
		if (path_put(&path, &cap, &len, e->name, e->namelen) != 0) {
			r = coffer_err_set(c->err, COFFER_ENOMEM, "path under "
			    "'%.*s'", (int)f->plen, path);
			goto out;
		}
		for (size_t k = 0; k < e->nchunks && c->rewalk; k++) {
			if (bsearch(e->chunks[k], c->missing, c->nmissing,
			    BLOB_ID_LEN, id_cmp) != NULL) {
				report(c, "snapshot '%s', file '%s': chunk %zu "
				    "is missing from the repository", snap,
				    path, k);
				break;
			}
		}
		for (size_t k = 0; k < e->nchunks && c->batched && !c->rewalk;
		    k++) {
			c->res->nblobs++;
			if (c->nrefs == c->refcap && (r = refs_grow(c)) != 0)
				goto out;
			memcpy(c->refs[c->nrefs].id, e->chunks[k], BLOB_ID_LEN);
			c->refs[c->nrefs++].snap = snap;
		}
		for (size_t k = 0; k < e->nchunks && !c->batched; k++) {
			c->res->nblobs++;
			if (!keyset_has_blob(c->ks, OBJ_DATA, e->chunks[k])) {
				report(c, "snapshot '%s', file '%s': chunk %zu "
				    "is missing from the repository", snap,
				    path, k);
				break;
			}
			check_indexed(c, OBJ_DATA, e->chunks[k], snap);
		}
		if (e->type == NODE_DIR &&
		    (r = check_load(c, &s, e->subtree, snap, path, len)) != 0)
			goto out;
	}
	r = 0;
out:
	tstack_release(&s);
	coffer_free(path);
	return r;
}

/*
 * check_missing(c, snaps, nsnaps, set): the last batch of the set's
 * chunk references looked up; if any chunk is missing, the set's
 * snapshots walked again to report each file that needs one, as the
 * walk without batches does (once per file, its first missing chunk).
 */
static int
check_missing(struct cctx *c, struct snapshot *snaps, size_t nsnaps,
    const char *set)
{
	int r;

	if ((r = refs_flush(c)) != 0 || c->nmissing == 0)
		return r;
	qsort(c->missing, c->nmissing, BLOB_ID_LEN, id_cmp);
	c->rewalk = true;
	c->nseen = 0;
	if (c->seen != NULL)
		memset(c->seen, 0, c->seencap * BLOB_ID_LEN);
	for (size_t k = 0; k < nsnaps && r == 0; k++) {
		struct coffer_err e1 = { 0 };

		if (strcmp(snaps[k].keyid, set) != 0 ||
		    snapshot_load(c->ks, &snaps[k], &e1) != 0)
			continue;	/* reported by the first walk */
		r = check_tree(c, snaps[k].tree, snaps[k].name);
	}
	c->rewalk = false;
	return r;
}

/*
 * writers(s, w, &n, err): the live append and exclusive locks of the
 * repository now.  Only running out of memory is an error: if locks/
 * cannot be listed, none are seen, and packs no index names are called
 * leftovers as they were before check looked at locks.
 */
static int
writers(struct session *s, struct repo_lock_holder *w, size_t *n,
    struct coffer_err *err)
{
	struct coffer_err e1 = { 0 };
	int r;

	if ((r = repo_lock_writers(s->repo, w, n, &e1)) == COFFER_ENOMEM) {
		*err = e1;
		return r;
	}
	if (r != 0)
		*n = 0;
	return 0;
}

int
coffer_check(const struct coffer_ctx *ctx, bool read_data,
    struct coffer_check_result *res, struct coffer_err *err)
{
	struct session s;
	struct cctx c;
	struct snapshot *snaps = NULL;
	char **sets = NULL;
	size_t nsets = 0, nsnaps = 0;
	uint64_t nbad = 0;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.res = res;
	c.err = err;
	wbuf_init(&c.blob, BLOB_MAX);
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		return r;
	if ((r = repo_list_sets(s.repo, &sets, &nsets, err)) != 0 ||
	    (r = repo_list_snapshots(s.repo, &snaps, &nsnaps, err)) != 0)
		goto out;
	res->nsets = nsets;
	for (size_t i = 0; i < nsets; i++) {
		struct coffer_err e1 = { 0 };
		struct repo_lock_holder w;
		size_t nw = 0;
		uint64_t nun;

		keyset_free(c.ks);
		c.ks = NULL;
		/*
		 * Writers are looked for just before the set's index is
		 * loaded and again just after its packs are listed: a pack
		 * no loaded index names is then a leftover only if no
		 * writer ran at either instant.  A backup started and ended
		 * between the two is missed (its packs are counted as
		 * leftovers once; the next check is clean).
		 */
		if ((r = writers(&s, &w, &nw, err)) != 0)
			goto out;
		if (key_destroy_pending(&s, sets[i])) {
			/* Its key is gone; what is left is on its way out. */
			res->nsets_nokey++;
			session_warn(ctx, "key set %s: a 'key destroy' of it "
			    "was cut off; 'coffer key destroy %s --yes' "
			    "finishes it", sets[i], sets[i]);
			continue;
		}
		(void)repo_check_layout(s.repo, sets[i], report, &c);
		if ((r = session_keyset(&s, sets[i], &c.ks, &e1)) != 0) {
			if (r == COFFER_ENOMEM) {
				*err = e1;
				goto out;
			}
			r = 0;
			/* A set whose creation a power loss cut off. */
			if (repo_set_unborn(s.repo, sets[i])) {
				session_warn(ctx, "key set %s: no keyinfo and "
				    "nothing in it (its creation was "
				    "interrupted); harmless, the next backup "
				    "into it completes it", sets[i]);
				continue;
			}
			if (e1.code == COFFER_ENOKEY) {
				res->nsets_nokey++;
				session_warn(ctx, "key set %s: its key is not "
				    "here; only its presence was checked",
				    sets[i]);
				continue;
			}
			if (s.dk_unavailable) {
				/* Not damage: check what can be, say so. */
				res->nsets_unavailable++;
				session_warn(ctx, "%s; skipped: only the key "
				    "set's files on the card were checked, not "
				    "its content", e1.msg);
				continue;
			}
			report(&c, "key set %s: %s", sets[i], e1.msg);
			continue;
		}
		res->nsets_checked++;
		if ((nun = keyset_count_unindexed(c.ks)) > 0 && nw == 0 &&
		    (r = writers(&s, &w, &nw, err)) != 0)
			goto out;
		if (nun > 0 && nw > 0) {
			if (res->npending == 0) {
				res->writer_pid = w.pid;
				res->writer_this_host = w.this_host;
				res->writer_exclusive =
				    w.kind == REPO_LOCK_EXCLUSIVE;
			}
			res->npending += nun;
		} else {
			res->nleftovers += nun;
		}
		/* Sorted lookups unless a pack no index names is there. */
		c.batched = nun == 0;
		c.nmissing = 0;
		/* report() counts each problem; nbad would count them twice. */
		if ((r = keyset_check(c.ks, read_data, report, &c, &nbad,
		    &res->bytes_read, check_tick, &c, err)) != 0)
			goto out;
		for (size_t k = 0; k < nsnaps; k++) {
			struct snapshot *sn = &snaps[k];

			if (strcmp(sn->keyid, sets[i]) != 0)
				continue;
			res->nsnapshots++;
			/* An interrupted 'coffer tag': the newest counts. */
			if (sn->nstale > 0) {
				res->nleftovers += sn->nstale;
				session_warn(ctx, "snapshot '%s': %u older "
				    "revision file%s beside revision %u (an "
				    "interrupted 'coffer tag'); revision %u "
				    "counts", sn->name, (unsigned)sn->nstale,
				    sn->nstale == 1 ? "" : "s",
				    (unsigned)sn->rev, (unsigned)sn->rev);
			}
			if (snapshot_load(c.ks, sn, &e1) != 0) {
				report(&c, "%s", e1.msg);
				continue;
			}
			if ((r = check_tree(&c, sn->tree, sn->name)) != 0)
				goto out;
		}
		if (c.batched && (r = check_missing(&c, snaps, nsnaps,
		    sets[i])) != 0)
			goto out;
	}
	if (ctx->progress != NULL) {
		struct coffer_progress p = { .phase = "check", .done = true };

		ctx->progress(ctx->cookie, &p);
	}
	if (res->nproblems > 0) {
		r = coffer_err_set(err, COFFER_EFORMAT, "%llu problem%s found "
		    "(see above)", (unsigned long long)res->nproblems,
		    res->nproblems == 1 ? "" : "s");
		goto out;
	}
	r = 0;
out:
	keyset_free(c.ks);
	coffer_free(c.seen);
	coffer_free(c.unindexed);
	coffer_free(c.refs);
	coffer_free(c.have);
	coffer_free(c.missing);
	wbuf_release(&c.blob);
	snapshot_list_free(snaps, nsnaps);
	strlist_free(sets, nsets);
	session_close(&s);
	return r;
}
