/* SPDX-License-Identifier: ISC */
/*
 * forget: remove snapshot files by a retention policy or by name.
 * Snapshots are grouped by host and paths (or what --group-by says),
 * after the filter of --tag, --host, --path; the policy applies to each
 * group alone, so the backups of one folder never count against those of
 * another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "session.h"
#include "tags.h"

/*
 * group_of(sn, by): "host:path1,path2 [tag1,tag2]", the parts ${by}
 * (COFFER_GROUP_* bits; 0: host and paths) asks for: the group a
 * snapshot belongs to.
 */
static char *
group_of(const struct snapshot *sn, unsigned by)
{
	size_t len = strlen(sn->hostname) + 8;
	char *g;

	if (by == 0)
		by = COFFER_GROUP_HOST | COFFER_GROUP_PATHS;
	if (by & COFFER_GROUP_NONE)
		by = 0;
	for (size_t i = 0; i < sn->npaths; i++)
		len += strlen(sn->paths[i]) + 1;
	for (size_t i = 0; i < sn->ntags; i++)
		len += strlen(sn->tags[i]) + 1;
	if ((g = coffer_malloc(len + 1)) == NULL)
		return NULL;
	g[0] = '\0';
	if (by & COFFER_GROUP_HOST)
		strcat(g, sn->hostname);
	if (by & COFFER_GROUP_PATHS)
		for (size_t i = 0; i < sn->npaths; i++) {
			strcat(g, i == 0 ? ":" : ",");
			strcat(g, sn->paths[i]);
		}
	if (by & COFFER_GROUP_TAGS) {
		strcat(g, " [");
		for (size_t i = 0; i < sn->ntags; i++) {
			if (i > 0)
				strcat(g, ",");
			strcat(g, sn->tags[i]);
		}
		strcat(g, "]");
	}
	return g;
}

int
coffer_forget(const struct coffer_ctx *ctx,
    const struct coffer_forget_opts *o, coffer_forget_fn *fn, void *cookie,
    size_t *nforgotten, struct coffer_err *err)
{
	struct policy pol = { o->keep_last, o->keep_hourly, o->keep_daily,
	    o->keep_weekly, o->keep_monthly, o->keep_yearly };
	struct snapshot *v = NULL;
	struct keyset *ks = NULL;
	struct session s;
	char **groups = NULL;
	bool *readable = NULL, *keep = NULL, *named = NULL;
	int64_t *times = NULL;
	size_t n = 0;
	int r;

	*nforgotten = 0;
	if (policy_empty(&pol) && o->nsnapshots == 0)
		return coffer_err_set(err, COFFER_EINVAL, "no policy and no "
		    "snapshot given: nothing would be kept (give --keep-* or "
		    "snapshot names)");
	if ((r = session_open(ctx, REPO_LOCK_APPEND, true, &s, err)) != 0)
		return r;
	/* Named snapshots, resolved like everywhere else. */
	if ((r = repo_list_snapshots(s.repo, &v, &n, err)) != 0)
		goto out;
	if ((groups = coffer_calloc(n + 1, sizeof(*groups))) == NULL ||
	    (readable = coffer_calloc(n + 1, sizeof(bool))) == NULL ||
	    (keep = coffer_calloc(n + 1, sizeof(bool))) == NULL ||
	    (named = coffer_calloc(n + 1, sizeof(bool))) == NULL ||
	    (times = coffer_calloc(n + 1, sizeof(int64_t))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "forget");
		goto out;
	}
	for (size_t k = 0; k < o->nsnapshots; k++) {
		struct snapshot one;
		struct keyset *oks = NULL;
		bool found = false;

		if ((r = session_find_snapshot(&s, o->snapshots[k], &oks, &one,
		    err)) != 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, one.name) == 0) {
				named[i] = true;
				found = true;
			}
		snapshot_release(&one);
		keyset_free(oks);
		if (!found) {
			r = coffer_err_set(err, COFFER_ENOTFOUND, "snapshot "
			    "'%s' vanished", o->snapshots[k]);
			goto out;
		}
	}
	/* Load every snapshot whose key is here: time, host, paths. */
	for (size_t i = 0; i < n; i++) {
		struct coffer_err e1 = { 0 };

		if (ks == NULL || strcmp(keyset_idhex(ks), v[i].keyid) != 0) {
			keyset_free(ks);
			ks = NULL;
			if (session_keyset(&s, v[i].keyid, &ks, &e1) != 0)
				continue;
		}
		if (snapshot_load(ks, &v[i], &e1) != 0) {
			session_warn(ctx, "snapshot '%s' left alone: %s",
			    v[i].name, e1.msg);
			continue;
		}
		/* Filtered out: left alone, unless named. */
		if (!tags_match_snapshot(o->filter, &v[i]))
			continue;
		if ((groups[i] = group_of(&v[i], o->group_by)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "forget");
			goto out;
		}
		readable[i] = true;
	}
	/* The policy, group by group. */
	if (!policy_empty(&pol)) {
		for (size_t i = 0; i < n; i++) {
			size_t m = 0;
			size_t *idx;
			bool *kk;

			if (!readable[i] || keep[i])
				continue;
			/* Skip groups already done. */
			{
				bool done = false;

				for (size_t j = 0; j < i; j++)
					if (readable[j] &&
					    strcmp(groups[j], groups[i]) == 0)
						done = true;
				if (done)
					continue;
			}
			if ((idx = coffer_calloc(n, sizeof(*idx))) == NULL ||
			    (kk = coffer_calloc(n, sizeof(bool))) == NULL) {
				coffer_free(idx);
				r = coffer_err_set(err, COFFER_ENOMEM, "forget");
				goto out;
			}
			for (size_t j = i; j < n; j++) {
				if (readable[j] &&
				    strcmp(groups[j], groups[i]) == 0) {
					times[m] = v[j].time_sec;
					idx[m++] = j;
				}
			}
			policy_apply(&pol, times, m, kk);
			for (size_t j = 0; j < m; j++)
				keep[idx[j]] = kk[j];
			coffer_free(idx);
			coffer_free(kk);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			keep[i] = true;
	}
	for (size_t i = 0; i < n; i++)
		if (named[i])
			keep[i] = false;
	for (size_t i = 0; i < n; i++) {
		if (!readable[i] && !named[i])
			continue;
		if (fn != NULL)
			fn(cookie, v[i].name, v[i].keyid, groups[i] ? groups[i] :
			    "?", keep[i]);
		if (keep[i])
			continue;
		if (!o->dry_run && (r = repo_remove_snapshot(s.repo, v[i].keyid,
		    v[i].name, err)) != 0)
			goto out;
		(*nforgotten)++;
	}
	r = 0;
out:
	if (groups != NULL)
		strlist_free(groups, n);
	coffer_free(readable);
	coffer_free(keep);
	coffer_free(named);
	coffer_free(times);
	keyset_free(ks);
	snapshot_list_free(v, n);
	session_close(&s);
	return r;
}
