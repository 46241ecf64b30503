/* SPDX-License-Identifier: ISC */
/*
 * diff: what changed from one snapshot to another.
 *
 * Both trees are walked together in name order.  Within one key set, a
 * folder whose tree id is the same on both sides is identical below and
 * is skipped without being read, and file content compares by chunk id
 * lists.  Ids are keyed per key set, so across sets nothing can be
 * skipped and files of equal size are compared by reading them.
 */
#include <string.h>

#include "session.h"

struct dctx {
	struct keyset		*ks[2];
	bool			 same;		/* one key set: ids compare */
	const char		*name[2];
	coffer_diff_fn		*fn;
	void			*cookie;
	struct coffer_diff_result *res;
	struct coffer_err	*err;
	struct wbuf		 cmp[2];	/* content, across key sets */
	char			*path;		/* grown by path_put */
	size_t			 pathcap;
};

static const struct tree empty_tree;

static int
load_tree(struct dctx *d, int side, const uint8_t id[BLOB_ID_LEN],
    size_t plen, struct tree *t)
{
	struct wbuf blob;
	int r;

	wbuf_init(&blob, BLOB_MAX);
	if ((r = tree_load(d->ks[side], id, &blob, t, d->err)) != 0)
		coffer_err_prefix(d->err, "folder '%s' of snapshot '%s'",
		    plen ? d->path : "/", d->name[side]);
	wbuf_release(&blob);
	return r;
}

static int
emit(struct dctx *d, size_t len, int change, int type, unsigned what)
{
	struct coffer_diff_entry de;

	switch (change) {
	case COFFER_CHANGE_ADDED:
		d->res->added++;
		break;
	case COFFER_CHANGE_REMOVED:
		d->res->removed++;
		break;
	case COFFER_CHANGE_MODIFIED:
		d->res->modified++;
		break;
	default:
		d->res->metadata++;
		break;
	}
	memset(&de, 0, sizeof(de));
	de.path = (const uint8_t *)d->path;
	de.pathlen = len;
	de.change = change;
	de.type = type;
	de.what = what;
	return d->fn(d->cookie, &de);
}

static bool
same_xattrs(const struct tree_entry *a, const struct tree_entry *b)
{
	if (a->nxattrs != b->nxattrs)
		return false;
	/* As a set: the order they were listed in is not a change. */
	for (size_t i = 0; i < a->nxattrs; i++) {
		size_t j;

		for (j = 0; j < b->nxattrs; j++)
			if (strcmp(a->xattrs[i].name, b->xattrs[j].name) == 0)
				break;
		if (j == b->nxattrs || a->xattrs[i].vlen != b->xattrs[j].vlen ||
		    (a->xattrs[i].vlen > 0 && memcmp(a->xattrs[i].value,
		    b->xattrs[j].value, a->xattrs[i].vlen) != 0))
			return false;
	}
	return true;
}

/* Across key sets: read both files and compare their bytes. */
static int
same_bytes(struct dctx *d, const struct tree_entry *a,
    const struct tree_entry *b, size_t len, bool *same)
{
	const struct tree_entry *e[2] = { a, b };
	size_t next[2] = { 0, 0 }, off[2] = { 0, 0 };
	int r;

	wbuf_reset(&d->cmp[0]);
	wbuf_reset(&d->cmp[1]);
	for (;;) {
		bool end[2];
		size_t n;

		for (int s = 0; s < 2; s++) {
			while (off[s] == d->cmp[s].len &&
			    next[s] < e[s]->nchunks) {
				if ((r = keyset_get_blob(d->ks[s], OBJ_DATA,
				    e[s]->chunks[next[s]], &d->cmp[s],
				    d->err)) != 0) {
					coffer_err_prefix(d->err, "'%.*s' of "
					    "snapshot '%s'", (int)len, d->path,
					    d->name[s]);
					return r;
				}
				next[s]++;
				off[s] = 0;
			}
			end[s] = off[s] == d->cmp[s].len;
		}
		if (end[0] || end[1]) {
			*same = end[0] && end[1];
			return 0;
		}
		n = d->cmp[0].len - off[0];
		if (d->cmp[1].len - off[1] < n)
			n = d->cmp[1].len - off[1];
		if (memcmp(d->cmp[0].p + off[0], d->cmp[1].p + off[1], n) != 0) {
			*same = false;
			return 0;
		}
		off[0] += n;
		off[1] += n;
	}
}

/*
 * The walk keeps one frame per folder pair on the way down, on the heap
 * (any depth fits): both sides' trees (a side may be absent), where
 * each stands, and the folder's path length.
 */
struct dframe {
	struct tree		 t[2];
	bool			 has[2];
	size_t			 i, j;
	size_t			 plen;
};

struct dstack {
	struct dframe		*f;
	size_t			 n, cap;
};

static void
dstack_pop(struct dstack *s)
{
	struct dframe *f = &s->f[--s->n];

	tree_release(&f->t[0]);
	tree_release(&f->t[1]);
}

/*
 * diff_open(d, s, id0, id1, plen): push the folder at d->path (${plen}
 * bytes) as tree ${id0} in the first snapshot and ${id1} in the second;
 * either may be NULL (absent: everything on the other side was
 * added/removed).  Nothing is pushed for two equal ids of one key set.
 */
static int
diff_open(struct dctx *d, struct dstack *s, const uint8_t *id0,
    const uint8_t *id1, size_t plen)
{
	const uint8_t *id[2] = { id0, id1 };
	struct dframe *f;

	if (id0 != NULL && id1 != NULL && d->same &&
	    memcmp(id0, id1, BLOB_ID_LEN) == 0)
		return 0;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 64;
		struct dframe *nf;

		if ((nf = coffer_realloc(s->f, ncap * sizeof(*nf))) == NULL)
			return coffer_err_set(d->err, COFFER_ENOMEM, "diff");
		s->f = nf;
		s->cap = ncap;
	}
	f = &s->f[s->n++];
	memset(f, 0, sizeof(*f));
	f->plen = plen;
	d->path[plen] = '\0';
	for (int side = 0; side < 2; side++) {
		int r;

		if (id[side] == NULL)
			continue;
		f->has[side] = true;
		if ((r = load_tree(d, side, id[side], plen, &f->t[side])) != 0)
			return r;
	}
	return 0;
}

/* Report ${e} (at d->path, ${len}) as added/removed, and open below it. */
static int
one_side(struct dctx *d, struct dstack *s, const struct tree_entry *e,
    size_t len, int change)
{
	int r;

	if ((r = emit(d, len, change, e->type, 0)) != 0)
		return r;
	if (e->type != NODE_DIR)
		return 0;
	return change == COFFER_CHANGE_ADDED ? diff_open(d, s, NULL,
	    e->subtree, len) : diff_open(d, s, e->subtree, NULL, len);
}

static int
both_sides(struct dctx *d, struct dstack *s, const struct tree_entry *a,
    const struct tree_entry *b, size_t len)
{
	unsigned what = 0;
	bool same;
	int r;

	if (a->type != b->type) {
		if ((r = emit(d, len, COFFER_CHANGE_MODIFIED, b->type,
		    COFFER_DIFF_TYPE)) != 0)
			return r;
		/* At most one side is a folder. */
		if (a->type == NODE_DIR)
			return diff_open(d, s, a->subtree, NULL, len);
		if (b->type == NODE_DIR)
			return diff_open(d, s, NULL, b->subtree, len);
		return 0;
	}
	switch (a->type) {
	case NODE_FILE:
		if (a->size != b->size) {
			what |= COFFER_DIFF_SIZE | COFFER_DIFF_CONTENT;
		} else if (d->same) {
			if (a->nchunks != b->nchunks || (a->nchunks > 0 &&
			    memcmp(a->chunks, b->chunks, a->nchunks *
			    sizeof(a->chunks[0])) != 0))
				what |= COFFER_DIFF_CONTENT;
		} else {
			if ((r = same_bytes(d, a, b, len, &same)) != 0)
				return r;
			if (!same)
				what |= COFFER_DIFF_CONTENT;
		}
		break;
	case NODE_SYMLINK:
		if (a->targetlen != b->targetlen || memcmp(a->target,
		    b->target, a->targetlen) != 0)
			what |= COFFER_DIFF_TARGET;
		break;
	case NODE_CHR:
	case NODE_BLK:
		if (a->rdev != b->rdev)
			what |= COFFER_DIFF_DEVICE;
		break;
	default:
		break;
	}
	if (a->mode != b->mode)
		what |= COFFER_DIFF_MODE;
	if (a->uid != b->uid || a->gid != b->gid)
		what |= COFFER_DIFF_OWNER;
	if (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec)
		what |= COFFER_DIFF_MTIME;
	if (!same_xattrs(a, b))
		what |= COFFER_DIFF_XATTRS;
	if (a->iflags != b->iflags)
		what |= COFFER_DIFF_IFLAGS;
	if (what != 0 && (r = emit(d, len, what & (COFFER_DIFF_CONTENT |
	    COFFER_DIFF_SIZE | COFFER_DIFF_TARGET | COFFER_DIFF_DEVICE) ?
	    COFFER_CHANGE_MODIFIED : COFFER_CHANGE_METADATA, b->type,
	    what)) != 0)
		return r;
	if (a->type == NODE_DIR)
		return diff_open(d, s, a->subtree, b->subtree, len);
	return 0;
}

static int
name_cmp(const struct tree_entry *a, const struct tree_entry *b)
{
	size_t n = a->namelen < b->namelen ? a->namelen : b->namelen;
	int c = memcmp(a->name, b->name, n);

	if (c != 0)
		return c;
	return a->namelen < b->namelen ? -1 : a->namelen > b->namelen;
}

/*
 * diff_tree(d, id0, id1): the snapshots' top folders, trees ${id0} and
 * ${id1}, and everything below, in name order, parents first.
 */
static int
diff_tree(struct dctx *d, const uint8_t *id0, const uint8_t *id1)
{
	struct dstack s = { 0 };
	int r;

	if ((r = diff_open(d, &s, id0, id1, 0)) != 0)
		goto out;
	while (s.n > 0) {
		struct dframe *f = &s.f[s.n - 1];
		const struct tree *t0 = f->has[0] ? &f->t[0] : &empty_tree;
		const struct tree *t1 = f->has[1] ? &f->t[1] : &empty_tree;
		const struct tree_entry *a, *b, *e;
		size_t len = f->plen;
		int c;

		if (f->i == t0->n && f->j == t1->n) {
			dstack_pop(&s);
			continue;
		}
		a = f->i < t0->n ? &t0->e[f->i] : NULL;
		b = f->j < t1->n ? &t1->e[f->j] : NULL;
		c = a == NULL ? 1 : b == NULL ? -1 : name_cmp(a, b);
		e = c <= 0 ? a : b;
		if (path_put(&d->path, &d->pathcap, &len, e->name,
		    e->namelen) != 0) {
			r = coffer_err_set(d->err, COFFER_ENOMEM, "path under "
			    "'%.*s'", (int)f->plen, d->path);
			goto out;
		}
		if (c < 0) {
			f->i++;
			r = one_side(d, &s, a, len, COFFER_CHANGE_REMOVED);
		} else if (c > 0) {
			f->j++;
			r = one_side(d, &s, b, len, COFFER_CHANGE_ADDED);
		} else {
			f->i++;
			f->j++;
			r = both_sides(d, &s, a, b, len);
		}
		if (r != 0)
			goto out;
	}
	r = 0;
out:
	while (s.n > 0)
		dstack_pop(&s);
	coffer_free(s.f);
	return r;
}

int
coffer_diff(const struct coffer_ctx *ctx, const char *spec1,
    const char *spec2, coffer_diff_fn *fn, void *cookie,
    struct coffer_diff_result *res, struct coffer_err *err)
{
	struct session s;
	struct snapshot snap[2];
	struct dctx *d = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	memset(snap, 0, sizeof(snap));
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		return r;
	if ((d = coffer_calloc(1, sizeof(*d))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "diff");
		goto out;
	}
	wbuf_init(&d->cmp[0], BLOB_MAX);
	wbuf_init(&d->cmp[1], BLOB_MAX);
	if ((d->path = coffer_calloc(1, d->pathcap = 256)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "diff");
		goto out;
	}
	if ((r = session_find_snapshot(&s, spec1, &d->ks[0], &snap[0],
	    err)) != 0 ||
	    (r = session_find_snapshot(&s, spec2, &d->ks[1], &snap[1],
	    err)) != 0)
		goto out;
	d->same = strcmp(snap[0].keyid, snap[1].keyid) == 0;
	if (d->same) {
		/* One index in memory is enough. */
		keyset_free(d->ks[1]);
		d->ks[1] = d->ks[0];
	}
	d->name[0] = snap[0].name;
	d->name[1] = snap[1].name;
	d->fn = fn;
	d->cookie = cookie;
	d->res = res;
	d->err = err;
	r = diff_tree(d, snap[0].tree, snap[1].tree);
out:
	if (d != NULL) {
		if (d->ks[1] != d->ks[0])
			keyset_free(d->ks[1]);
		keyset_free(d->ks[0]);
		wbuf_release(&d->cmp[0]);
		wbuf_release(&d->cmp[1]);
		coffer_free(d->path);
		coffer_free(d);
	}
	snapshot_release(&snap[0]);
	snapshot_release(&snap[1]);
	session_close(&s);
	return r;
}
