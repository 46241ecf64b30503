/* SPDX-License-Identifier: ISC */
/* find: entries whose stored path matches a pattern, across snapshots. */
#include <fnmatch.h>
#include <string.h>

#include "session.h"

struct fctx {
	const char		*pattern;	/* no leading or trailing '/' */
	bool			 full;		/* match the whole path */
	const char		*snapshot;	/* name, for ${fn} */
	struct keyset		*ks;
	coffer_find_fn		*fn;
	void			*cookie;
	uint64_t		 nmatches;
	struct coffer_err	*err;
	char			*path;		/* grown by path_put */
	size_t			 pathcap;
	char			 shown[4 * 65536];	/* as ls prints it */
};

/*
 * find_match(f, subject): does the pattern match ${subject} (raw bytes,
 * '\' quoting as in fnmatch), or ${subject} as ls prints it (a
 * pattern holding a backslash only; '\' is then a plain byte, so a
 * pattern copied from ls output matches)?
 */
static bool
find_match(struct fctx *f, const char *subject)
{
	int flags = f->full ? FNM_PATHNAME : 0;

	if (fnmatch(f->pattern, subject, flags) == 0)
		return true;
	if (strchr(f->pattern, '\\') == NULL ||
	    stored_path_print(f->shown, sizeof(f->shown), subject) == 0)
		return false;
	return fnmatch(f->pattern, f->shown, flags | FNM_NOESCAPE) == 0;
}

/* find_tree(f, id): search tree ${id} and all below (heap frames). */
static int
find_tree(struct fctx *f, const uint8_t id[BLOB_ID_LEN])
{
	struct wbuf blob;
	struct tstack s = { 0 };
	struct tframe *fr;
	size_t plen = 0;
	int r;

	wbuf_init(&blob, BLOB_MAX);
	for (;;) {
		/* Read the folder at f->path (plen bytes), tree ${id}. */
		if ((fr = tstack_push(&s)) == NULL) {
			r = coffer_err_set(f->err, COFFER_ENOMEM, "find");
			goto out;
		}
		fr->plen = plen;
		if ((r = tree_load(f->ks, id, &blob, &fr->t, f->err)) != 0) {
			f->path[plen] = '\0';
			coffer_err_prefix(f->err, "folder '%s' of snapshot "
			    "'%s'", plen ? f->path : "/", f->snapshot);
			goto out;
		}
		id = NULL;
		while (id == NULL && s.n > 0) {
			const struct tree_entry *e;
			const char *subject;
			size_t len;

			fr = &s.f[s.n - 1];
			if (fr->i == fr->t.n) {
				tstack_pop(&s);
				continue;
			}
			e = &fr->t.e[fr->i++];
			len = fr->plen;
			if (path_put(&f->path, &f->pathcap, &len, e->name,
			    e->namelen) != 0) {
				r = coffer_err_set(f->err, COFFER_ENOMEM,
				    "path under '%.*s'", (int)fr->plen,
				    f->path);
				goto out;
			}
			/* Names hold no NUL and no '/' (tree_decode checks). */
			subject = f->full ? f->path : f->path + len -
			    e->namelen;
			if (find_match(f, subject)) {
				struct coffer_entry_info info;

				entry_info(e, f->path, len, &info);
				f->nmatches++;
				if ((r = f->fn(f->cookie, f->snapshot,
				    &info)) != 0)
					goto out;
			}
			if (e->type == NODE_DIR) {
				id = e->subtree;
				plen = len;
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

/* Every snapshot whose key is here, oldest first. */
static int
find_all(struct session *s, struct fctx *f, struct coffer_err *err)
{
	struct snapshot *list = NULL;
	struct keyset *ks = NULL;
	size_t n = 0;
	int r;

	if ((r = repo_list_snapshots(s->repo, &list, &n, err)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct snapshot *sn = &list[i];
		struct coffer_err e1 = { 0 };

		if (ks == NULL || strcmp(keyset_idhex(ks), sn->keyid) != 0) {
			keyset_free(ks);
			ks = NULL;
			if ((r = session_keyset(s, sn->keyid, &ks, &e1)) != 0) {
				if (r == COFFER_ENOMEM) {
					*err = e1;
					goto out;
				}
				/* Another device's set: not ours to search. */
				if (r != COFFER_ENOKEY)
					session_warn(s->ctx, "snapshot '%s' "
					    "not searched: %s", sn->name,
					    e1.msg);
				continue;
			}
		}
		if ((r = snapshot_load(ks, sn, &e1)) != 0) {
			if (r == COFFER_ENOMEM) {
				*err = e1;
				goto out;
			}
			session_warn(s->ctx, "snapshot '%s' not searched: %s",
			    sn->name, e1.msg);
			continue;
		}
		f->ks = ks;
		f->snapshot = sn->name;
		if ((r = find_tree(f, sn->tree)) != 0)
			goto out;
	}
	r = 0;
out:
	keyset_free(ks);
	snapshot_list_free(list, n);
	return r;
}

int
coffer_find(const struct coffer_ctx *ctx, const char *pattern,
    const char *const *snapshots, size_t nsnapshots, coffer_find_fn *fn,
    void *cookie, uint64_t *nmatches, struct coffer_err *err)
{
	struct session s;
	struct fctx *f = NULL;
	char *pat = NULL;
	size_t plen;
	int r;

	*nmatches = 0;
	if (pattern == NULL || *pattern == '\0')
		return coffer_err_set(err, COFFER_EINVAL, "empty pattern");
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		return r;
	if ((f = coffer_calloc(1, sizeof(*f))) == NULL ||
	    (pat = coffer_strdup(pattern)) == NULL ||
	    (f->path = coffer_calloc(1, f->pathcap = 256)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "find");
		goto out;
	}
	/* Stored paths have no leading or trailing '/'. */
	f->full = strchr(pat, '/') != NULL;
	plen = strlen(pat);
	while (plen > 0 && pat[plen - 1] == '/')
		pat[--plen] = '\0';
	f->pattern = pat + strspn(pat, "/");
	f->fn = fn;
	f->cookie = cookie;
	f->err = err;
	if (nsnapshots == 0) {
		r = find_all(&s, f, err);
		goto out;
	}
	for (size_t i = 0; i < nsnapshots; i++) {
		struct snapshot snap;

		if ((r = session_find_snapshot(&s, snapshots[i], &f->ks, &snap,
		    err)) != 0)
			goto out;
		f->snapshot = snap.name;
		r = find_tree(f, snap.tree);
		snapshot_release(&snap);
		keyset_free(f->ks);
		f->ks = NULL;
		if (r != 0)
			goto out;
	}
	r = 0;
out:
	if (f != NULL) {
		*nmatches = f->nmatches;
		coffer_free(f->path);
	}
	coffer_free(f);
	coffer_free(pat);
	session_close(&s);
	return r;
}
