/* SPDX-License-Identifier: ISC */
/* query: init, the snapshot list, and listing a snapshot's entries. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "session.h"

int
coffer_repo_init(const struct coffer_ctx *ctx, bool name_by_count,
    int scope, int period, int custody, struct coffer_err *err)
{
	char ksdir[4096];
	struct keystore *kst = NULL;
	struct repo *rp = NULL;
	int r;

	if (ctx->repo == NULL || *ctx->repo == '\0')
		return coffer_err_set(err, COFFER_EINVAL, "no repository given "
		    "(use --repo DIR or set COFFER_REPO)");
	if ((r = session_keystore_dir(ctx, ksdir, sizeof(ksdir), err)) != 0)
		return r;
	/* Keystore first: never leave a repository nobody has a key for. */
	if ((r = keystore_open(ksdir, true, &kst, err)) != 0)
		goto out;
	if (scope == COFFER_SCOPE_DEFAULT)
		scope = SCOPE_DEVICE;
	if (period == COFFER_PERIOD_DEFAULT)
		period = PERIOD_DAY;
	if (custody == COFFER_CUSTODY_DEFAULT)
		custody = CUSTODY_LOCAL;
	if ((r = session_unlock(ctx, kst, err)) != 0)
		goto out;
	if ((r = repo_create(ctx->repo, name_by_count ? NAME_BY_COUNT :
	    NAME_BY_TIME, scope, period, custody, err)) != 0)
		goto out;
	if ((r = repo_open(ctx->repo, &rp, err)) != 0)
		goto out;
	if ((r = keystore_new_secret(kst, rp->id, err)) != 0) {
		/* Leave no repository that nobody has a key for. */
		(void)unlinkat(rp->dirfd, "config", 0);
		(void)unlinkat(rp->dirfd, "sets", AT_REMOVEDIR);
		(void)unlinkat(rp->dirfd, "locks", AT_REMOVEDIR);
		goto out;
	}
	r = 0;
out:
	repo_free(rp);
	keystore_free(kst);
	return r;
}

static char *
dup_or_null(const char *s)
{
	return s ? coffer_strdup(s) : NULL;
}

void
coffer_snapshots_free(struct coffer_snapshot_info *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		coffer_free(v[i].problem);
		coffer_free(v[i].hostname);
		coffer_free(v[i].username);
		strlist_free(v[i].paths, v[i].npaths);
		strlist_free(v[i].tags, v[i].ntags);
	}
	coffer_free(v);
}

int
coffer_snapshots(const struct coffer_ctx *ctx, struct coffer_snapshot_info **out,
    size_t *nout, struct coffer_err *err)
{
	struct coffer_snapshot_info *v = NULL;
	struct snapshot *list = NULL;
	struct keyset *ks = NULL;
	struct session s;
	/* The last set that failed to open, and why: asked once. */
	char failed[KEYID_HEX_LEN + 1] = "";
	struct coffer_err fe = { 0 };
	bool funavail = false;
	size_t n = 0;
	int r;

	*out = NULL;
	*nout = 0;
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		return r;
	if ((r = repo_list_snapshots(s.repo, &list, &n, err)) != 0)
		goto out;
	if ((v = coffer_calloc(n, sizeof(*v))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "snapshots");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct coffer_snapshot_info *o = &v[i];
		struct snapshot *sn = &list[i];
		struct coffer_err e1 = { 0 };

		memcpy(o->name, sn->name, sizeof(o->name));
		memcpy(o->id, sn->idhex, sizeof(o->id));
		memcpy(o->key_id, sn->keyid, sizeof(o->key_id));
		if (ks == NULL || strcmp(keyset_idhex(ks), sn->keyid) != 0) {
			keyset_free(ks);
			ks = NULL;
			if (strcmp(failed, sn->keyid) == 0) {
				e1 = fe;
			} else if (session_keyset(&s, sn->keyid, &ks,
			    &e1) != 0) {
				/* An escrow server is asked once per set. */
				snprintf(failed, sizeof(failed), "%s",
				    sn->keyid);
				fe = e1;
				funavail = s.dk_unavailable;
			}
			if (ks == NULL) {
				o->problem = coffer_strdup(e1.msg);
				o->key_unavailable = e1.code != COFFER_ENOKEY &&
				    e1.code != COFFER_ENOMEM && funavail;
				o->damaged = e1.code != COFFER_ENOKEY &&
				    e1.code != COFFER_ENOMEM && !funavail;
				continue;
			}
		}
		if (snapshot_load(ks, sn, &e1) != 0) {
			o->problem = coffer_strdup(e1.msg);
			o->damaged = e1.code != COFFER_ENOMEM;
			continue;
		}
		o->readable = true;
		o->time_sec = sn->time_sec;
		o->time_nsec = sn->time_nsec;
		/* A loaded snapshot has both: NULL here is out of memory. */
		if ((o->hostname = dup_or_null(sn->hostname)) == NULL ||
		    (o->username = dup_or_null(sn->username)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "snapshots");
			goto out;
		}
		o->size = sn->size;
		o->nfiles = sn->nfiles;
		o->ndirs = sn->ndirs;
		o->added = sn->added;
		if ((o->paths = coffer_calloc(sn->npaths, sizeof(char *))) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "snapshots");
			goto out;
		}
		for (size_t j = 0; j < sn->npaths; j++) {
			if ((o->paths[j] = coffer_strdup(sn->paths[j])) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM,
				    "snapshots");
				goto out;
			}
			o->npaths++;
		}
		if (sn->ntags > 0 && (o->tags = coffer_calloc(sn->ntags,
		    sizeof(char *))) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "snapshots");
			goto out;
		}
		for (size_t j = 0; j < sn->ntags; j++) {
			if ((o->tags[j] = coffer_strdup(sn->tags[j])) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM,
				    "snapshots");
				goto out;
			}
			o->ntags++;
		}
	}
	*out = v;
	*nout = n;
	v = NULL;
	r = 0;
out:
	coffer_snapshots_free(v, n);
	snapshot_list_free(list, n);
	keyset_free(ks);
	session_close(&s);
	return r;
}

struct lsctx {
	struct keyset		*ks;
	coffer_entry_fn		*fn;
	void			*cookie;
	const char		*prefix;
	size_t			 prefixlen;
	struct coffer_err	*err;
	char			*path;		/* grown by path_put */
	size_t			 pathcap;
};

/* Is ${path} at or below the prefix?  Is it above it (an ancestor)? */
static bool
under_prefix(const char *path, size_t len, const char *pre, size_t plen)
{
	return plen == 0 || (len >= plen && memcmp(path, pre, plen) == 0 &&
	    (len == plen || path[plen] == '/'));
}

static bool
above_prefix(const char *path, size_t len, const char *pre, size_t plen)
{
	return len < plen && memcmp(path, pre, len) == 0 && pre[len] == '/';
}

/*
 * ls_tree(l, id): the entries of tree ${id} and all below, parents
 * first, in name order (heap frames: any depth).
 */
static int
ls_tree(struct lsctx *l, const uint8_t id[BLOB_ID_LEN])
{
	struct wbuf blob;
	struct tstack s = { 0 };
	struct tframe *f;
	size_t plen = 0;
	int r;

	wbuf_init(&blob, BLOB_MAX);
	for (;;) {
		/* Read the folder at l->path (plen bytes), tree ${id}. */
		if ((f = tstack_push(&s)) == NULL) {
			r = coffer_err_set(l->err, COFFER_ENOMEM, "ls");
			goto out;
		}
		f->plen = plen;
		if ((r = tree_load(l->ks, id, &blob, &f->t, l->err)) != 0) {
			l->path[plen] = '\0';
			coffer_err_prefix(l->err, "directory '%s'", plen ?
			    l->path : "/");
			goto out;
		}
		id = NULL;
		while (id == NULL && s.n > 0) {
			const struct tree_entry *e;
			struct coffer_entry_info info;
			size_t len;

			f = &s.f[s.n - 1];
			if (f->i == f->t.n) {
				tstack_pop(&s);
				continue;
			}
			e = &f->t.e[f->i++];
			len = f->plen;
			if (path_put(&l->path, &l->pathcap, &len, e->name,
			    e->namelen) != 0) {
				r = coffer_err_set(l->err, COFFER_ENOMEM,
				    "path under '%.*s'", (int)f->plen, l->path);
				goto out;
			}
			if (under_prefix(l->path, len, l->prefix,
			    l->prefixlen)) {
				entry_info(e, l->path, len, &info);
				if ((r = l->fn(l->cookie, &info)) != 0)
					goto out;
			} else if (!above_prefix(l->path, len, l->prefix,
			    l->prefixlen)) {
				continue;
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

int
coffer_ls(const struct coffer_ctx *ctx, const char *spec, const char *prefix,
    coffer_entry_fn *fn, void *cookie, struct coffer_err *err)
{
	struct session s;
	struct snapshot snap;
	struct lsctx *l = NULL;
	char *resolved = NULL;
	int r;

	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		return r;
	if ((l = coffer_calloc(1, sizeof(*l))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "ls");
		goto out;
	}
	if ((r = session_find_snapshot(&s, spec, &l->ks, &snap, err)) != 0)
		goto out;
	/* The prefix is a stored path, as typed or as ls prints it. */
	if (prefix != NULL && (r = stored_path_resolve(ctx, l->ks, snap.tree,
	    prefix, snap.name, &resolved, err)) != 0) {
		snapshot_release(&snap);
		goto out;
	}
	l->prefix = resolved ? resolved : "";
	l->prefixlen = strlen(l->prefix);
	while (l->prefixlen > 0 && l->prefix[l->prefixlen - 1] == '/')
		l->prefixlen--;
	l->fn = fn;
	l->cookie = cookie;
	l->err = err;
	if ((l->path = coffer_calloc(1, l->pathcap = 256)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "ls");
		snapshot_release(&snap);
		goto out;
	}
	r = ls_tree(l, snap.tree);
	snapshot_release(&snap);
out:
	if (l != NULL) {
		keyset_free(l->ks);
		coffer_free(l->path);
	}
	coffer_free(l);
	coffer_free(resolved);
	session_close(&s);
	return r;
}
