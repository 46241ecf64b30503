/* SPDX-License-Identifier: ISC */
/*
 * copy: coffer init --like SRC and coffer copy --to DST.  A copy is a
 * repository with the source's repository id (FORMAT.md §5, "Copies"),
 * so its key sets are the source's: the same data keys, key ids, chunk
 * boundaries and blob ids, and every object sealed for one opens in the
 * other.  copy walks each chosen snapshot's trees in the source, reads
 * and authenticates every blob the destination lacks, writes it through
 * the backup's pack writer (keyset_put_blob), flushes packs and index,
 * and only then writes the snapshot file: the bytes of the source's
 * file that authenticated (snapshot_copy).  Both cards are hostile: no
 * byte goes from one to the other without passing the AEAD (and, for
 * blobs, the keyed hash of its id), as check --read-data would.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <string.h>

#include "session.h"
#include "tags.h"

struct cctx {
	const struct coffer_ctx		*ctx;
	struct coffer_copy_result	*res;
	struct keyset			*src, *dst;
	struct repo_lock		*slock, *dlock;
	struct wbuf			 tbuf;	/* a tree blob */
	struct wbuf			 dbuf;	/* a data blob */
	bool				 dst_failed;	/* stop everything */
};

/*
 * fetch(c, type, id, buf, snap, err): blob ${id} of the source into
 * ${buf}: authenticated by keyset_get_blob, and its content hashed
 * again to its id.  Errors name the snapshot and the blob.
 */
static int
fetch(struct cctx *c, int type, const uint8_t id[BLOB_ID_LEN],
    struct wbuf *buf, const char *snap, struct coffer_err *err)
{
	uint8_t check[BLOB_ID_LEN];
	char hex[2 * BLOB_ID_LEN + 1];
	int r;

	hex_encode(hex, id, BLOB_ID_LEN);
	if ((r = keyset_get_blob(c->src, type, id, buf, err)) != 0) {
		coffer_err_prefix(err, "snapshot '%s' not copied: %s %.16s",
		    snap, type == OBJ_TREE ? "folder" : "data blob", hex);
		return r;
	}
	keyset_blob_id(c->src, buf->p, buf->len, check);
	if (memcmp(check, id, BLOB_ID_LEN) != 0)
		return coffer_err_set(err, COFFER_EAUTH, "snapshot '%s' not "
		    "copied: %s %.16s in '%s': its content does not hash to its "
		    "id (damaged)", snap, type == OBJ_TREE ? "folder" :
		    "data blob", hex, c->ctx->repo);
	c->res->bytes_read += buf->len;
	return 0;
}

/* put(c, type, id, buf, err): store ${buf} on the destination. */
static int
put(struct cctx *c, int type, const uint8_t id[BLOB_ID_LEN],
    const struct wbuf *buf, struct coffer_err *err)
{
	int r;

	if ((r = keyset_put_blob(c->dst, type, id, buf->p, buf->len,
	    err)) != 0) {
		c->dst_failed = true;
		return r;
	}
	c->res->blobs++;
	return 0;
}

/*
 * copy_tree(c, root, snap, err): every blob under tree ${root} that the
 * destination lacks, copied.  A tree is walked once a run: the source's
 * prune marks (keyset_mark_used) say which were (heap frames: any
 * depth).  After a failure the caller opens the source set again, so
 * that no half-walked tree stays marked.
 */
static int
copy_tree(struct cctx *c, const uint8_t root[BLOB_ID_LEN], const char *snap,
    struct coffer_err *err)
{
	const uint8_t *id = root;
	struct tstack s = { 0 };
	struct tframe *f;
	uint8_t (*parts)[BLOB_ID_LEN] = NULL;
	size_t nparts = 0;
	bool walk;
	int r;

	for (;;) {
		walk = keyset_mark_used(c->src, OBJ_TREE, id);
		if (!walk && !keyset_has_blob(c->src, OBJ_TREE, id)) {
			/* Unknown: read the tables of packs no index names
			 * (once), as a reader does (FORMAT.md §8). */
			keyset_scan_unindexed(c->src);
			walk = keyset_mark_used(c->src, OBJ_TREE, id);
		}
		if (!walk) {
			/* Known and marked: walked already in this run. */
			if (!keyset_has_blob(c->src, OBJ_TREE, id)) {
				r = coffer_err_set(err, COFFER_ENOTFOUND,
				    "snapshot '%s' not copied: it names a "
				    "folder that is not in '%s' (run 'coffer "
				    "check')", snap, c->ctx->repo);
				goto out;
			}
		} else {
			if ((f = tstack_push(&s)) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM, "copy");
				goto out;
			}
			if ((r = fetch(c, OBJ_TREE, id, &c->tbuf, snap,
			    err)) != 0)
				goto out;
			if (!keyset_has_blob(c->dst, OBJ_TREE, id) &&
			    (r = put(c, OBJ_TREE, id, &c->tbuf, err)) != 0)
				goto out;
			if (!tree_is_split(c->tbuf.p, c->tbuf.len)) {
				r = tree_decode(c->tbuf.p, c->tbuf.len, &f->t,
				    err);
			} else {
				/* A large folder: its parts, then joined. */
				if ((r = tree_split_decode(c->tbuf.p,
				    c->tbuf.len, &parts, &nparts, err)) != 0)
					goto bad;
				for (size_t k = 0; k < nparts; k++) {
					if ((r = fetch(c, OBJ_TREE, parts[k],
					    &c->dbuf, snap, err)) != 0)
						goto out;
					if (!keyset_has_blob(c->dst, OBJ_TREE,
					    parts[k]) && (r = put(c, OBJ_TREE,
					    parts[k], &c->dbuf, err)) != 0)
						goto out;
				}
				coffer_free(parts);
				parts = NULL;
				r = tree_load(c->src, id, &c->tbuf, &f->t, err);
			}
			if (r != 0)
				goto bad;
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
			for (size_t k = 0; k < e->nchunks; k++) {
				if (keyset_has_blob(c->dst, OBJ_DATA,
				    e->chunks[k]))
					continue;
				if ((r = fetch(c, OBJ_DATA, e->chunks[k],
				    &c->dbuf, snap, err)) != 0 ||
				    (r = put(c, OBJ_DATA, e->chunks[k],
				    &c->dbuf, err)) != 0)
					goto out;
			}
			if (e->type == NODE_DIR)
				id = e->subtree;
		}
		if (id == NULL)
			break;
		repo_lock_refresh(c->slock);
		repo_lock_refresh(c->dlock);
	}
	r = 0;
	goto out;
bad:
	coffer_err_prefix(err, "snapshot '%s' not copied", snap);
out:
	coffer_free(parts);
	tstack_release(&s);
	return r;
}

/* Where a snapshot of the source stands on the destination. */
enum { DST_NONE, DST_SAME, DST_OLDER_REV, DST_OTHER };

/*
 * on_dest(c, dv, dn, sn, err): is ${sn} (loaded) on the destination,
 * whose list is ${dv}?  A name there in the same set is the same
 * snapshot only if it authenticates and has the same time and tree.
 */
static int
on_dest(struct cctx *c, const struct snapshot *dv, size_t dn,
    const struct snapshot *sn, int *where, struct coffer_err *err)
{
	struct snapshot d;
	int r;

	*where = DST_NONE;
	for (size_t i = 0; i < dn; i++) {
		if (strcmp(dv[i].name, sn->name) != 0)
			continue;
		if (strcmp(dv[i].keyid, sn->keyid) != 0) {
			*where = DST_OTHER;
			return 0;
		}
		memset(&d, 0, sizeof(d));
		memcpy(d.name, dv[i].name, sizeof(d.name));
		d.rev = dv[i].rev;
		if ((r = snapshot_load(c->dst, &d, err)) != 0) {
			coffer_err_prefix(err, "snapshot '%s' not copied: its "
			    "name is taken on the destination", sn->name);
			return r;
		}
		if (d.time_sec != sn->time_sec ||
		    d.time_nsec != sn->time_nsec ||
		    memcmp(d.tree, sn->tree, BLOB_ID_LEN) != 0)
			*where = DST_OTHER;
		else
			*where = d.rev >= sn->rev ? DST_SAME : DST_OLDER_REV;
		snapshot_release(&d);
		return 0;
	}
	return 0;
}

/* Report and count one snapshot's outcome. */
static void
outcome(struct cctx *c, coffer_copy_fn *fn, void *cookie,
    const struct snapshot *sn, int status, const char *why)
{
	if (status == COFFER_COPY_DONE)
		c->res->copied++;
	else if (status == COFFER_COPY_PRESENT)
		c->res->present++;
	else
		c->res->failed++;
	if (fn != NULL)
		fn(cookie, sn->name, sn->idhex, sn->keyid, status, why);
}

/*
 * open_src(c, s, keyid, err): open key set ${keyid} in the source, its
 * key found as every command finds it (keystore, device or period key,
 * passphrase, or released by the escrow server, once a run).
 */
static int
open_src(struct cctx *c, struct session *s, const char *keyid,
    struct coffer_err *err)
{
	const uint8_t *dk;
	int r;

	if ((r = session_dk(s, keyid, &dk, err)) != 0)
		return r;
	return keyset_open(s->repo, dk, false, NULL, &c->src, err);
}

/*
 * open_dst(c, s, d, err): open the source's set in the destination,
 * creating it there with the source's keyinfo, and take over what an
 * interrupted copy (or backup) left in it.  Only when a snapshot needs
 * it: a filter that passes none of a set's snapshots makes no set.
 */
static int
open_dst(struct cctx *c, struct session *s, struct session *d,
    struct coffer_err *err)
{
	struct keyset_params prm = { 0 };
	struct resume_stats rs;
	const uint8_t *dk;
	int r;

	if ((r = session_dk(s, keyset_idhex(c->src), &dk, err)) != 0)
		return r;
	prm.like = keyset_info(c->src);
	if ((r = keyset_open(d->repo, dk, true, &prm, &c->dst, err)) != 0) {
		coffer_err_prefix(err, "destination '%s'", d->repo->path);
		c->dst_failed = r != COFFER_EAUTH && r != COFFER_EFORMAT;
		return r;
	}
	keyset_clear_tmp(c->dst);
	if ((r = keyset_resume(c->dst, c->ctx->stop, &rs, err)) != 0) {
		c->dst_failed = true;
		return r;
	}
	c->res->resumed += rs.bytes;
	return 0;
}

/*
 * copy_set(c, s, d, keyid, v, chosen, n, dv, dn, filter, fn, cookie,
 * first): copy the snapshots of key set ${keyid} among ${v} that
 * ${chosen} marks and ${filter} passes.
 * The first snapshot error goes to ${first}; only an error of the
 * destination (or a stop) is returned.
 */
static int
copy_set(struct cctx *c, struct session *s, struct session *d,
    const char *keyid, struct snapshot *v, const bool *chosen, size_t n,
    const struct snapshot *dv, size_t dn, const struct coffer_snapshot_filter
    *filter, coffer_copy_fn *fn, void *cookie, struct coffer_err *first)
{
	struct coffer_err e1 = { 0 };
	int r;

	if ((r = open_src(c, s, keyid, &e1)) != 0) {
		for (size_t i = 0; i < n; i++)
			if (chosen[i] && strcmp(v[i].keyid, keyid) == 0)
				outcome(c, fn, cookie, &v[i],
				    COFFER_COPY_FAILED, e1.msg);
		if (first->code == 0)
			*first = e1;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct snapshot sn;
		int where;

		if (!chosen[i] || strcmp(v[i].keyid, keyid) != 0)
			continue;
		memset(&sn, 0, sizeof(sn));
		memcpy(sn.name, v[i].name, sizeof(sn.name));
		sn.rev = v[i].rev;
		memset(&e1, 0, sizeof(e1));
		if ((r = snapshot_load(c->src, &sn, &e1)) != 0) {
			memcpy(sn.keyid, keyid, sizeof(sn.keyid));
			memcpy(sn.idhex, v[i].idhex, sizeof(sn.idhex));
			goto failed;
		}
		if (!tags_match_snapshot(filter, &sn)) {
			snapshot_release(&sn);
			continue;
		}
		if (c->dst == NULL && (r = open_dst(c, s, d, &e1)) != 0) {
			if (c->dst_failed)
				goto stop;
			goto failed;
		}
		if ((r = on_dest(c, dv, dn, &sn, &where, &e1)) != 0)
			goto failed;
		if (where == DST_SAME) {
			outcome(c, fn, cookie, &sn, COFFER_COPY_PRESENT, NULL);
			snapshot_release(&sn);
			continue;
		}
		if (where == DST_OTHER) {
			r = coffer_err_set(&e1, COFFER_EEXIST, "snapshot '%s' "
			    "not copied: '%s' has another snapshot of that "
			    "name", sn.name, d->repo->path);
			goto failed;
		}
		if ((r = copy_tree(c, sn.tree, sn.name, &e1)) != 0 ||
		    (r = keyset_flush(c->dst, &e1)) != 0) {
			if (r == COFFER_EINTR || c->dst_failed)
				goto stop;
			{
				const uint8_t *dk;
				struct coffer_err e2 = { 0 };

				/* Keep (indexed) the good blobs it wrote. */
				if ((r = keyset_flush(c->dst, &e2)) != 0) {
					c->dst_failed = true;
					*first = e2;
					snapshot_release(&sn);
					return r;
				}
				/* Open the source set again: no half-walked
				 * tree stays marked as walked. */
				keyset_free(c->src);
				c->src = NULL;
				if ((r = session_dk(s, keyid, &dk, &e2)) != 0 ||
				    (r = keyset_open(s->repo, dk, false, NULL,
				    &c->src, &e2)) != 0) {
					*first = e2;
					snapshot_release(&sn);
					return r;
				}
			}
			goto failed;
		}
		/* Invariant 3: packs and index are durable; now the file. */
		if ((r = snapshot_copy(c->src, c->dst, &sn, &e1)) != 0) {
			/* The source's file failed, or the copy has that
			 * file, or a set of another format: this one only. */
			c->dst_failed = r != COFFER_EAUTH &&
			    r != COFFER_EFORMAT && r != COFFER_ENOTFOUND &&
			    r != COFFER_EEXIST && r != COFFER_EINVAL;
			if (c->dst_failed)
				goto stop;
			goto failed;
		}
		outcome(c, fn, cookie, &sn, COFFER_COPY_DONE, NULL);
		snapshot_release(&sn);
		continue;
failed:
		outcome(c, fn, cookie, &sn, COFFER_COPY_FAILED, e1.msg);
		if (first->code == 0)
			*first = e1;
		snapshot_release(&sn);
		continue;
stop:
		{
			struct coffer_err e2 = { 0 };

			/* Stopped: keep what is written, indexed. */
			if (r == COFFER_EINTR && c->dst != NULL &&
			    keyset_flush(c->dst, &e2) != 0)
				e1 = e2;
		}
		*first = e1;
		snapshot_release(&sn);
		return r;
	}
	return 0;
}

/*
 * same_folder(a, b): do the open repositories ${a} and ${b} lie in the
 * same folder?
 */
static bool
same_folder(const struct repo *a, const struct repo *b)
{
	struct stat sa, sb;

	return fstat(a->dirfd, &sa) == 0 && fstat(b->dirfd, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * choose(s, o, v, chosen, n, err): mark in ${chosen} the snapshots of
 * ${v} that ${o} names: all, or each of its names, id prefixes or
 * 'latest'.
 */
static int
choose(struct session *s, const struct coffer_copy_opts *o,
    const struct snapshot *v, bool *chosen, size_t n, struct coffer_err *err)
{
	int r;

	for (size_t i = 0; i < n; i++)
		chosen[i] = o->nsnapshots == 0;
	for (size_t k = 0; k < o->nsnapshots; k++) {
		struct snapshot sn;
		struct keyset *ks = NULL;

		if ((r = session_find_snapshot(s, o->snapshots[k], &ks, &sn,
		    err)) != 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, sn.name) == 0 &&
			    strcmp(v[i].keyid, sn.keyid) == 0)
				chosen[i] = true;
		snapshot_release(&sn);
		keyset_free(ks);
	}
	return 0;
}

int
coffer_copy(const struct coffer_ctx *ctx, const struct coffer_copy_opts *o,
    coffer_copy_fn *fn, void *cookie, struct coffer_copy_result *res,
    struct coffer_err *err)
{
	struct coffer_ctx dctx = *ctx;
	struct session s, d;
	struct cctx c;
	struct coffer_err first = { 0 };
	struct snapshot *v = NULL, *dv = NULL;
	bool *chosen = NULL;
	size_t n = 0, dn = 0;
	bool d_open = false;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.res = res;
	wbuf_init(&c.tbuf, BLOB_MAX);
	wbuf_init(&c.dbuf, BLOB_MAX);
	if (o->to == NULL || *o->to == '\0') {
		r = coffer_err_set(err, COFFER_EINVAL, "no destination given "
		    "(--to REPO)");
		goto done;
	}
	if ((r = session_open(ctx, REPO_LOCK_READ, true, &s, err)) != 0)
		goto done;
	/*
	 * The destination needs no key of its own (the source's open it)
	 * and keeps its index in memory: the device's index cache is named
	 * by key id, which both cards share.
	 */
	dctx.repo = o->to;
	if ((r = session_open(&dctx, REPO_LOCK_APPEND, false, &d, err)) != 0) {
		coffer_err_prefix(err, "destination");
		goto close;
	}
	d_open = true;
	c.slock = s.lock;
	c.dlock = d.lock;
	if (same_folder(s.repo, d.repo)) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s' and '%s' are the "
		    "same repository", ctx->repo, o->to);
		goto close;
	}
	if (memcmp(s.repo->id, d.repo->id, REPO_ID_LEN) != 0 ||
	    s.repo->version != d.repo->version) {
		r = coffer_err_set(err, COFFER_EINVAL, "'%s' is not a copy of "
		    "'%s' (another repository id%s): copy writes only into a "
		    "repository made with 'coffer --repo %s init --like %s'",
		    o->to, ctx->repo, s.repo->version != d.repo->version ?
		    " or format version" : "", o->to, ctx->repo);
		goto close;
	}
	if ((r = repo_list_snapshots(s.repo, &v, &n, err)) != 0 ||
	    (r = repo_list_snapshots(d.repo, &dv, &dn, err)) != 0)
		goto close;
	if ((chosen = coffer_calloc(n + 1, sizeof(*chosen))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "copy");
		goto close;
	}
	if ((r = choose(&s, o, v, chosen, n, err)) != 0)
		goto close;
	/* Set by set, in the order of each set's oldest snapshot. */
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		if (!chosen[i])
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = chosen[j] && strcmp(v[j].keyid, v[i].keyid) == 0;
		if (seen)
			continue;
		r = copy_set(&c, &s, &d, v[i].keyid, v, chosen, n, dv, dn,
		    o->filter, fn, cookie, &first);
		if (c.dst != NULL)
			res->bytes += keyset_added(c.dst);
		/* Free the destination set first: it stops its sealers. */
		keyset_free(c.dst);
		keyset_free(c.src);
		c.dst = NULL;
		c.src = NULL;
		if (r != 0) {
			*err = first;
			goto close;
		}
	}
	if (first.code != 0) {
		*err = first;
		r = first.code;
		goto close;
	}
	r = 0;
close:
	coffer_free(chosen);
	snapshot_list_free(v, n);
	snapshot_list_free(dv, dn);
	if (d_open)
		session_close(&d);
	session_close(&s);
done:
	wbuf_release(&c.tbuf);
	wbuf_release(&c.dbuf);
	return r;
}

int
coffer_repo_init_like(const struct coffer_ctx *ctx, const char *like,
    struct coffer_err *err)
{
	struct repo *src = NULL;
	int r;

	if (ctx->repo == NULL || *ctx->repo == '\0')
		return coffer_err_set(err, COFFER_EINVAL, "no repository given "
		    "(use --repo DIR or set COFFER_REPO)");
	if ((r = repo_open(like, &src, err)) != 0)
		return r;
	r = repo_create_like(ctx->repo, src, err);
	repo_free(src);
	return r;
}
