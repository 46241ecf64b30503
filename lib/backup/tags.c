/* SPDX-License-Identifier: ISC */
/*
 * tags: build tag lists, match snapshots against a filter, and
 * 'coffer tag', which rewrites a snapshot with new tags as its next
 * revision (FORMAT.md §10.3).
 */
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "tags.h"

bool
coffer_tag_ok(const char *t)
{
	return t != NULL && snapshot_tag_ok(t);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
tags_make(const char *const *in, size_t n, char ***out, size_t *nout,
    struct coffer_err *err)
{
	char **v = NULL;
	size_t k = 0;
	int r;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	if (n > SNAPSHOT_TAGS_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "more than %d tags",
		    SNAPSHOT_TAGS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!coffer_tag_ok(in[i]))
			return coffer_err_set(err, COFFER_EINVAL, "tag '%s' is "
			    "not valid: 1 to %d bytes, no ',', '/' or control "
			    "characters, not '.' or '..'", in[i],
			    SNAPSHOT_TAG_MAX);
	if ((v = coffer_calloc(n, sizeof(*v))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "tags");
	for (size_t i = 0; i < n; i++) {
		if ((v[i] = coffer_strdup(in[i])) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "tags");
			goto out;
		}
	}
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && strcmp(v[k - 1], v[i]) == 0) {
			coffer_free(v[i]);
			continue;
		}
		v[k++] = v[i];
	}
	*out = v;
	*nout = k;
	v = NULL;
	n = 0;
	r = 0;
out:
	strlist_free(v, n);
	return r;
}

static bool
has_str(const char *const *v, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) == len && memcmp(v[i], s, len) == 0)
			return true;
	return false;
}

/* all_tags(spec, tags, n): every tag of the comma list ${spec} is here. */
static bool
all_tags(const char *spec, const char *const *tags, size_t n)
{
	const char *p = spec;

	for (;;) {
		size_t len = strcspn(p, ",");

		/* An empty item ("a,,b", or "" itself) asks for nothing. */
		if (len > 0 && !has_str(tags, n, p, len))
			return false;
		if (p[len] == '\0')
			return true;
		p += len + 1;
	}
}

bool
coffer_snapshot_match(const struct coffer_snapshot_filter *f,
    const char *host, const char *const *paths, size_t npaths,
    const char *const *tags, size_t ntags)
{
	bool any;

	if (f == NULL)
		return true;
	if (f->nhosts > 0) {
		any = false;
		for (size_t i = 0; i < f->nhosts && !any; i++)
			any = host != NULL && strcmp(f->hosts[i], host) == 0;
		if (!any)
			return false;
	}
	for (size_t i = 0; i < f->npaths; i++) {
		const char *want = f->paths[i];
		size_t len;

		want += strspn(want, "/");
		len = strlen(want);
		while (len > 0 && want[len - 1] == '/')
			len--;
		/* "/" alone: the whole file system, stored as "". */
		if (!has_str(paths, npaths, want, len))
			return false;
	}
	if (f->ntags > 0) {
		any = false;
		for (size_t i = 0; i < f->ntags && !any; i++)
			any = all_tags(f->tags[i], tags, ntags);
		if (!any)
			return false;
	}
	return true;
}

bool
tags_match_snapshot(const struct coffer_snapshot_filter *f,
    const struct snapshot *sn)
{
	return coffer_snapshot_match(f, sn->hostname,
	    (const char *const *)sn->paths, sn->npaths,
	    (const char *const *)sn->tags, sn->ntags);
}

/*
 * new_tags(sn, o, &v, &n, err): the tags ${sn} gets under ${o}: the set
 * (or its own), plus add, minus remove; sorted, unique.
 */
static int
new_tags(const struct snapshot *sn, const struct coffer_tag_opts *o,
    char ***out, size_t *nout, struct coffer_err *err)
{
	const char **all = NULL;
	size_t n = 0, k = 0;
	char **v = NULL;
	size_t nv = 0;
	int r;

	if ((all = coffer_calloc(sn->ntags + o->nset + o->nadd + 1,
	    sizeof(*all))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "tags");
	if (o->set_given)
		for (size_t i = 0; i < o->nset; i++)
			all[n++] = o->set[i];
	else
		for (size_t i = 0; i < sn->ntags; i++)
			all[n++] = sn->tags[i];
	for (size_t i = 0; i < o->nadd; i++)
		all[n++] = o->add[i];
	if ((r = tags_make(all, n, &v, &nv, err)) != 0)
		goto out;
	for (size_t i = 0; i < nv; i++) {
		if (has_str(o->remove, o->nremove, v[i], strlen(v[i]))) {
			coffer_free(v[i]);
			continue;
		}
		v[k++] = v[i];
	}
	*out = v;
	*nout = k;
	v = NULL;
	nv = 0;
	r = 0;
out:
	strlist_free(v, nv);
	coffer_free(all);
	return r;
}

static bool
same_tags(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

int
coffer_tag(const struct coffer_ctx *ctx, const struct coffer_tag_opts *o,
    coffer_tag_fn *fn, void *cookie, struct coffer_err *err)
{
	struct session s;
	int r;

	if (o->nsnapshots == 0)
		return coffer_err_set(err, COFFER_EINVAL, "no snapshot given");
	if (!o->set_given && o->nadd == 0 && o->nremove == 0)
		return coffer_err_set(err, COFFER_EINVAL, "nothing to do: give "
		    "--add, --remove or --set");
	/* Every tag checked before anything is written. */
	for (size_t i = 0; i < o->nadd + o->nset + o->nremove; i++) {
		const char *t = i < o->nadd ? o->add[i] : i < o->nadd +
		    o->nset ? o->set[i - o->nadd] :
		    o->remove[i - o->nadd - o->nset];

		if (!coffer_tag_ok(t))
			return coffer_err_set(err, COFFER_EINVAL, "tag '%s' is "
			    "not valid: 1 to %d bytes, no ',', '/' or control "
			    "characters, not '.' or '..'", t,
			    SNAPSHOT_TAG_MAX);
	}
	if ((r = session_open(ctx, REPO_LOCK_APPEND, true, &s, err)) != 0)
		return r;
	for (size_t i = 0; i < o->nsnapshots; i++) {
		struct snapshot sn;
		struct keyset *ks = NULL;
		char **tv = NULL, **old;
		size_t tn = 0, oldn;
		bool changed;

		if ((r = session_find_snapshot(&s, o->snapshots[i], &ks, &sn,
		    err)) != 0)
			goto out;
		if ((r = new_tags(&sn, o, &tv, &tn, err)) != 0) {
			snapshot_release(&sn);
			keyset_free(ks);
			goto out;
		}
		changed = !same_tags(tv, tn, sn.tags, sn.ntags);
		old = sn.tags;
		oldn = sn.ntags;
		sn.tags = tv;
		sn.ntags = tn;
		if (changed && (r = snapshot_rewrite(ks, &sn, err)) != 0) {
			coffer_err_prefix(err, "snapshot '%s'", sn.name);
		} else if (!changed && sn.nstale > 0) {
			/* Finish what an interrupted rewrite left. */
			r = snapshot_rewrite(ks, &sn, err);
			changed = r == 0;
		}
		if (r == 0 && fn != NULL)
			fn(cookie, sn.name, sn.idhex, (const char *const *)sn.tags,
			    sn.ntags, changed);
		strlist_free(old, oldn);
		snapshot_release(&sn);
		keyset_free(ks);
		if (r != 0)
			goto out;
	}
	r = 0;
out:
	session_close(&s);
	return r;
}
