/* SPDX-License-Identifier: ISC */
/*
 * stats: sizes before and after deduplication and compression.
 *
 * Per key set (ids are keyed per set, so sets never share a chunk): the
 * restore size sums the file sizes of every snapshot; the distinct data
 * chunks those files name give the size after deduplication (their
 * plaintext lengths) and on the card (their sealed lengths), both from
 * the index, without reading any pack.  Each folder is read once: a
 * tree met again (in a later snapshot, or twice in one) adds the file
 * count and size remembered from its first visit.
 */
#include <stdio.h>
#include <string.h>

#include "session.h"

/* An open-addressing set of blob ids, with two counters per id. */
struct slot {
	uint8_t		id[BLOB_ID_LEN];
	bool		used;
	uint64_t	files, size;
};
struct idset {
	struct slot	*s;
	size_t		 cap, n;
};

static void
idset_free(struct idset *t)
{
	coffer_free(t->s);
	memset(t, 0, sizeof(*t));
}

static size_t
idset_hash(const uint8_t id[BLOB_ID_LEN])
{
	/* Ids are keyed hashes: any 8 bytes of them are uniform. */
	return (size_t)le64dec(id);
}

/*
 * idset_get(t, id, &slot, &isnew): the slot of ${id}, added if absent.
 * -1 if out of memory.
 */
static int
idset_get(struct idset *t, const uint8_t id[BLOB_ID_LEN], struct slot **out,
    bool *isnew)
{
	size_t i;

	if (2 * (t->n + 1) > t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 1024;
		struct slot *ns;

		if ((ns = coffer_calloc(ncap, sizeof(*ns))) == NULL)
			return -1;
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->s[k].used)
				continue;
			for (i = idset_hash(t->s[k].id) & (ncap - 1);
			    ns[i].used; i = (i + 1) & (ncap - 1))
				;
			ns[i] = t->s[k];
		}
		coffer_free(t->s);
		t->s = ns;
		t->cap = ncap;
	}
	for (i = idset_hash(id) & (t->cap - 1); t->s[i].used;
	    i = (i + 1) & (t->cap - 1)) {
		if (memcmp(t->s[i].id, id, BLOB_ID_LEN) == 0) {
			*out = &t->s[i];
			*isnew = false;
			return 0;
		}
	}
	memcpy(t->s[i].id, id, BLOB_ID_LEN);
	t->s[i].used = true;
	t->n++;
	*out = &t->s[i];
	*isnew = true;
	return 0;
}

struct sctx {
	const struct coffer_ctx	*ctx;
	struct keyset		*ks;
	const char		*snapshot;
	struct coffer_stats_set	*st;
	struct idset		 trees, chunks;
	struct coffer_err	*err;
};

static int
oom(struct sctx *c)
{
	return coffer_err_set(c->err, COFFER_ENOMEM, "stats");
}

/*
 * stats_tree(c, id, &files, &size): count the tree and all below (heap
 * frames: any depth).  A frame's files and size sum what is below it
 * and go to its parent's when it is done.
 */
static int
stats_tree(struct sctx *c, const uint8_t id[BLOB_ID_LEN], uint64_t *files,
    uint64_t *size)
{
	struct wbuf blob;
	struct tstack s = { 0 };
	struct slot *sl;
	uint32_t clen, rawlen;
	bool isnew;
	int r;

	wbuf_init(&blob, BLOB_MAX);
	for (;;) {
		struct tframe *f;

		/* Enter tree ${id}, or add what its first visit counted. */
		if (idset_get(&c->trees, id, &sl, &isnew) != 0) {
			r = oom(c);
			goto out;
		}
		if (!isnew) {
			if (s.n == 0) {
				*files += sl->files;
				*size += sl->size;
				r = 0;
				goto out;
			}
			s.f[s.n - 1].files += sl->files;
			s.f[s.n - 1].size += sl->size;
		} else {
			c->st->ntrees++;
			if (keyset_blob_info(c->ks, OBJ_TREE, id, &clen,
			    &rawlen))
				c->st->tree_stored_size += clen;
			if ((f = tstack_push(&s)) == NULL) {
				r = oom(c);
				goto out;
			}
			memcpy(f->id, id, BLOB_ID_LEN);
			if ((r = tree_load(c->ks, id, &blob, &f->t,
			    c->err)) != 0) {
				coffer_err_prefix(c->err, "snapshot '%s'",
				    c->snapshot);
				goto out;
			}
			for (size_t k = 0; k < f->t.nparts; k++)
				if (keyset_blob_info(c->ks, OBJ_TREE,
				    f->t.parts[k], &clen, &rawlen))
					c->st->tree_stored_size += clen;
		}
		id = NULL;
		while (id == NULL && s.n > 0) {
			const struct tree_entry *e;

			f = &s.f[s.n - 1];
			if (f->i == f->t.n) {
				/* Done: remember its counts, give them up. */
				if (idset_get(&c->trees, f->id, &sl,
				    &isnew) != 0) {
					r = oom(c);
					goto out;
				}
				sl->files = f->files;
				sl->size = f->size;
				if (s.n == 1) {
					*files += f->files;
					*size += f->size;
				} else {
					s.f[s.n - 2].files += f->files;
					s.f[s.n - 2].size += f->size;
				}
				tstack_pop(&s);
				continue;
			}
			e = &f->t.e[f->i++];
			if (e->type == NODE_DIR) {
				id = e->subtree;
				continue;
			}
			if (e->type != NODE_FILE)
				continue;
			f->files++;
			f->size += e->size;
			for (size_t k = 0; k < e->nchunks; k++) {
				struct slot *ch;

				if (idset_get(&c->chunks, e->chunks[k], &ch,
				    &isnew) != 0) {
					r = oom(c);
					goto out;
				}
				if (!isnew)
					continue;
				if (!keyset_blob_info(c->ks, OBJ_DATA,
				    e->chunks[k], &clen, &rawlen)) {
					c->st->nmissing++;
					continue;
				}
				c->st->nchunks++;
				c->st->dedup_size += rawlen;
				c->st->stored_size += clen;
			}
		}
		if (id == NULL)
			break;
	}
	r = 0;
out:
	tstack_release(&s);
	wbuf_release(&blob);
	return r;
}

static int
stats_snapshot(struct sctx *c, struct snapshot *sn)
{
	int r;

	c->snapshot = sn->name;
	if ((r = stats_tree(c, sn->tree, &c->st->nfiles,
	    &c->st->restore_size)) != 0)
		return r;
	c->st->nsnapshots++;
	return 0;
}

static void
add_into(struct coffer_stats_set *to, const struct coffer_stats_set *from)
{
	to->nsnapshots += from->nsnapshots;
	to->nfiles += from->nfiles;
	to->restore_size += from->restore_size;
	to->nchunks += from->nchunks;
	to->dedup_size += from->dedup_size;
	to->stored_size += from->stored_size;
	to->ntrees += from->ntrees;
	to->tree_stored_size += from->tree_stored_size;
	to->nmissing += from->nmissing;
}

static struct coffer_stats_set *
new_set(struct coffer_stats_result *res, const char *keyid)
{
	struct coffer_stats_set *v;

	if ((v = coffer_realloc(res->sets, (res->nsets + 1) *
	    sizeof(*v))) == NULL)
		return NULL;
	res->sets = v;
	v = &res->sets[res->nsets++];
	memset(v, 0, sizeof(*v));
	snprintf(v->key_id, sizeof(v->key_id), "%s", keyid);
	return v;
}

/* Every snapshot whose key is here, one key set at a time. */
static int
stats_all(struct session *s, struct sctx *c, struct coffer_stats_result *res,
    struct coffer_err *err)
{
	struct snapshot *list = NULL;
	char **sets = NULL;
	size_t n = 0, nsets = 0;
	int r;

	if ((r = repo_list_snapshots(s->repo, &list, &n, err)) != 0 ||
	    (r = repo_list_sets(s->repo, &sets, &nsets, err)) != 0)
		goto out;
	for (size_t k = 0; k < nsets; k++) {
		struct coffer_err e1 = { 0 };
		size_t nsnap = 0;

		for (size_t i = 0; i < n; i++)
			nsnap += strcmp(list[i].keyid, sets[k]) == 0;
		if (nsnap == 0)
			continue;
		if ((r = session_keyset(s, sets[k], &c->ks, &e1)) != 0) {
			if (r == COFFER_ENOMEM) {
				*err = e1;
				goto out;
			}
			if (r != COFFER_ENOKEY)
				session_warn(s->ctx, "key set %s not counted: "
				    "%s", sets[k], e1.msg);
			res->nunreadable += nsnap;
			continue;
		}
		if ((c->st = new_set(res, sets[k])) == NULL) {
			r = oom(c);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(list[i].keyid, sets[k]) != 0)
				continue;
			if ((r = snapshot_load(c->ks, &list[i], &e1)) != 0) {
				if (r == COFFER_ENOMEM) {
					*err = e1;
					goto out;
				}
				session_warn(s->ctx, "snapshot '%s' not "
				    "counted: %s", list[i].name, e1.msg);
				res->nunreadable++;
				continue;
			}
			if ((r = stats_snapshot(c, &list[i])) != 0)
				goto out;
		}
		add_into(&res->total, c->st);
		idset_free(&c->trees);
		idset_free(&c->chunks);
		keyset_free(c->ks);
		c->ks = NULL;
	}
	r = 0;
out:
	strlist_free(sets, nsets);
	snapshot_list_free(list, n);
	return r;
}

void
coffer_stats_free(struct coffer_stats_result *res)
{
	if (res == NULL)
		return;
	coffer_free(res->sets);
	res->sets = NULL;
	res->nsets = 0;
}

int
coffer_stats(const struct coffer_ctx *ctx, const char *spec,
    struct coffer_stats_result *res, struct coffer_err *err)
{
	struct session s;
	struct snapshot snap;
	struct sctx c;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&snap, 0, sizeof(snap));
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.err = err;
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		return r;
	if (spec == NULL) {
		r = stats_all(&s, &c, res, err);
		goto out;
	}
	if ((r = session_find_snapshot(&s, spec, &c.ks, &snap, err)) != 0)
		goto out;
	snprintf(res->snapshot, sizeof(res->snapshot), "%s", snap.name);
	if ((c.st = new_set(res, snap.keyid)) == NULL) {
		r = oom(&c);
		goto out;
	}
	if ((r = stats_snapshot(&c, &snap)) != 0)
		goto out;
	add_into(&res->total, c.st);
	r = 0;
out:
	if (r != 0)
		coffer_stats_free(res);
	idset_free(&c.trees);
	idset_free(&c.chunks);
	keyset_free(c.ks);
	snapshot_release(&snap);
	session_close(&s);
	return r;
}
