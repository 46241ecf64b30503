/* SPDX-License-Identifier: ISC */
/*
 * prune: free the space of blobs no snapshot uses.
 *
 * The caller marks every blob still used (keyset_mark_used, walking all
 * snapshots of the set) under an exclusive lock.  Then, per pack:
 * nothing used → delete; some bytes unused → a candidate for repacking.
 * Candidates are repacked, the most wasteful (unused share) first, until
 * what stays unused is at most max_unused percent of the packs after
 * prune; the others are kept.  Repacking copies the used objects into
 * new packs, each read and authenticated first: a
 * blob sealed alone and a bundle (FORMAT.md §7.1) all of whose members
 * are used keep their sealed bytes; the used members of a bundle with
 * dead ones are sealed again, bundled with each other.  Pack files that
 * no index names (interrupted backups) are deleted too.
 *
 * Order, so that a crash at any instant loses nothing a snapshot needs:
 *   1. new packs written, fsynced and renamed, with their index file;
 *   2. one complete index of every used blob, at its current place;
 *   3. every other index file deleted;
 *   4. the packs that are no longer named deleted.
 * Before 2, the old index still places every blob in its old pack; from
 * 2 on, the complete index places it in a pack that is kept.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"

/* Bytes of a pack besides its objects: magic, sealed table, footer. */
#define PACK_OVERHEAD	(8 + 4 + 40 + 4 + 8)
#define ENTRY_LEN	49

enum { P_KEEP = 0, P_DELETE = 1, P_REPACK = 2 };

bool
keyset_mark_used(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN])
{
	struct idx_entry *e;

	if (idx_full(ks, NULL) != 0)
		return false;	/* keyset_prune returns the error */
	e = idx_find(ks, type, id);
	if (e == NULL || e->used)
		return false;
	e->used = 1;
	return true;
}

/* Entries by place: a bundle's members next to each other. */
static int
by_place(const void *a, const void *b)
{
	const struct idx_entry *x = *(const struct idx_entry *const *)a;
	const struct idx_entry *y = *(const struct idx_entry *const *)b;

	if (x->loc.pack != y->loc.pack)
		return x->loc.pack < y->loc.pack ? -1 : 1;
	return x->loc.offset < y->loc.offset ? -1 :
	    x->loc.offset > y->loc.offset;
}

static bool
same_place(const struct idx_entry *x, const struct idx_entry *y)
{
	return x->loc.pack == y->loc.pack && x->loc.offset == y->loc.offset;
}

/* The fates of the packs that were there when prune began. */
struct pack_fates {
	const uint8_t	*fate;
	uint32_t	 nold;
};

static bool
keep_used(const struct keyset *ks, const struct idx_entry *e, void *cookie)
{
	const uint8_t *fate = cookie;

	return e->used && e->loc.pack < ks->npacks && fate[e->loc.pack] ==
	    P_KEEP;
}

static bool
is_hex32n(const char *s)
{
	uint8_t tmp[16];

	return strlen(s) == 32 && hex_decode(tmp, s, 16) == 0;
}

static bool
is_hex2(const char *s)
{
	return rfs_is_hex(s, 2);
}

/*
 * A pack or an index file, or one being written ("<32 hex>.tmp"): the
 * only names prune deletes.
 */
static bool
is_objname(const char *s)
{
	return rfs_is_hex(s, 32) || rfs_is_packtmp(s);
}

/*
 * Delete "packs/xx/name" (relative to the set), counting its size; a
 * name that is not a regular file is left alone (check names it).
 */
static void
unlink_pack(struct keyset *ks, const char *path, uint64_t *freed)
{
	struct stat sb;
	char label[128];
	int fd;

	SET_LABEL(label, ks->idhex, path);
	if (rfs_open_file(ks->dirfd, path, label, O_RDONLY, &fd, &sb,
	    NULL) != 0)
		return;
	close(fd);
	if (rfs_unlink(ks->dirfd, path, label, NULL) == 0)
		*freed += (uint64_t)sb.st_size;
}

/* A repack candidate: its unused bytes of its total. */
struct cand {
	uint32_t	pack;
	uint64_t	unused, total;
};

/* Most wasteful first: unused/total descending, then the pack order. */
static int
by_waste(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	/* x->unused / x->total > y->unused / y->total; a pack's bytes
	 * are far below 2^32 (§8), so the products fit. */
	uint64_t l = x->unused * y->total, r = y->unused * x->total;

	if (l != r)
		return l > r ? -1 : 1;
	return x->pack < y->pack ? -1 : x->pack > y->pack;
}

static bool
live_pack(const struct keyset *ks, uint32_t p, void *cookie)
{
	const struct pack_fates *pf = cookie;

	(void)ks;
	return p >= pf->nold || pf->fate[p] == P_KEEP;
}

/*
 * plan(ks, ent, nent, nold, fate, o, st): decide each pack's fate and
 * estimate what repacking writes; the bytes of each pack file are added
 * to st->bytes_before.  A bundle counts by the rawlen share of its
 * used members (members no index names count as unused).
 */
static int
plan(struct keyset *ks, struct idx_entry **ent, size_t nent, uint32_t nold,
    uint8_t *fate, const struct prune_opts *o, struct prune_stats *st,
    uint64_t *est_written, struct coffer_err *err)
{
	uint64_t *total = NULL, *live = NULL, *fsize = NULL, *nlive = NULL;
	uint8_t *any = NULL;
	struct cand *c = NULL;
	size_t nc = 0;
	uint64_t used_all = 0, unused_all = 0, limit, written = 0, over;
	int r = 0;

	if ((total = coffer_calloc(nold + 1, sizeof(*total))) == NULL ||
	    (live = coffer_calloc(nold + 1, sizeof(*live))) == NULL ||
	    (fsize = coffer_calloc(nold + 1, sizeof(*fsize))) == NULL ||
	    (nlive = coffer_calloc(nold + 1, sizeof(*nlive))) == NULL ||
	    (any = coffer_calloc(nold + 1, 1)) == NULL ||
	    (c = coffer_calloc(nold + 1, sizeof(*c))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	for (size_t i = 0; i < nent; ) {
		const struct idx_entry *e = ent[i];
		uint64_t raw = 0, uraw = 0;
		size_t k, nu = 0;

		for (k = i; k < nent && same_place(ent[k], e); k++) {
			raw += ent[k]->loc.rawlen;
			if (ent[k]->used) {
				uraw += ent[k]->loc.rawlen;
				nu++;
			}
		}
		total[e->loc.pack] += e->loc.clen;
		if (nu > 0) {
			any[e->loc.pack] = 1;
			nlive[e->loc.pack] += nu;
			/* A share of a bundle; all of it if all is used. */
			live[e->loc.pack] += nu == k - i || raw == 0 ?
			    e->loc.clen : e->loc.clen * uraw / raw;
		}
		i = k;
	}
	for (uint32_t p = 0; p < nold; p++) {
		char path[64];
		struct stat sb;
		int fd;

		pack_path(ks->packs[p].id, path);
		if (rfs_open_file(ks->dirfd, path, path, O_RDONLY, &fd, &sb,
		    NULL) == 0) {
			fsize[p] = (uint64_t)sb.st_size;
			st->bytes_before += fsize[p];
			close(fd);
		}
		if (!any[p]) {
			fate[p] = P_DELETE;
			continue;
		}
		used_all += live[p];
		/*
		 * What the file holds beyond its used share and their
		 * table: objects the index no longer names count too.
		 */
		over = live[p] + nlive[p] * ENTRY_LEN + PACK_OVERHEAD;
		if (fsize[p] > over || total[p] > live[p]) {
			c[nc].pack = p;
			c[nc].unused = fsize[p] > over ? fsize[p] - over :
			    total[p] - live[p];
			c[nc].total = fsize[p] > total[p] ? fsize[p] : total[p];
			unused_all += c[nc].unused;
			nc++;
		}
	}
	/* Unused at most max_unused % of the packs after: u ≤ P/(100-P) × used. */
	if (o->max_unused < 0)
		limit = UINT64_MAX;
	else
		limit = used_all / (uint64_t)(100 - o->max_unused) *
		    (uint64_t)o->max_unused;
	if (nc > 1)
		qsort(c, nc, sizeof(*c), by_waste);
	for (size_t i = 0; i < nc && unused_all > limit; i++) {
		uint32_t p = c[i].pack;

		fate[p] = P_REPACK;
		unused_all -= c[i].unused;
		written += live[p] + nlive[p] * ENTRY_LEN;
	}
	for (uint32_t p = 0; p < nold; p++) {
		st->packs_deleted += fate[p] == P_DELETE;
		st->packs_repacked += fate[p] == P_REPACK;
		if (fate[p] != P_KEEP)
			st->bytes_freed += fsize[p];
	}
	if (written > 0)
		written += PACK_OVERHEAD * (written / PACK_TARGET_SIZE + 1);
	*est_written = written;
	/*
	 * The unused members of a bundle that stays (its pack is kept)
	 * keep their index entries (used = 2, kept by keep_used): so the
	 * next prune still sees the bundle's dead share, and a backup may
	 * use them again.  Every other unused entry is dropped.
	 */
	for (size_t i = 0; i < nent; ) {
		const struct idx_entry *e = ent[i];
		bool anyu = false, stays;
		size_t k;

		for (k = i; k < nent && same_place(ent[k], e); k++)
			anyu = anyu || ent[k]->used;
		stays = anyu && e->bundled && fate[e->loc.pack] == P_KEEP;
		for (size_t j = i; j < k; j++) {
			if (!ent[j]->used && stays)
				ent[j]->used = 2;
			if (ent[j]->used)
				st->blobs_kept++;
			else
				st->blobs_removed++;
		}
		i = k;
	}
out:
	coffer_free(total);
	coffer_free(live);
	coffer_free(fsize);
	coffer_free(nlive);
	coffer_free(any);
	coffer_free(c);
	return r;
}

/*
 * damaged(pack, fate, st, e1, first): an object of ${pack} could
 * not be read or failed authentication: it is not copied, and its pack
 * is kept whole (what was copied from it already reads from the copy).
 * The first such error is kept for the caller.
 */
static void
damaged(uint32_t pack, uint8_t *fate, struct prune_stats *st,
    struct coffer_err *e1, struct coffer_err *first)
{
	fate[pack] = P_KEEP;
	if (st->damaged++ == 0 || first->code == 0)
		*first = *e1;
	st->packs_repacked--;
}

/*
 * copy_object(ks, ent, i, k, buf, bd, blob, scratch, st, e1, err): copy
 * the object at the place of ent[i..k) (one blob, or a bundle's
 * members) into the pack being written, after authenticating it.
 * Returns 0, a read or authentication failure in ${e1} as 1 (nothing
 * was copied from the object), or another error (<0) in ${err}.
 */
static int
copy_object(struct keyset *ks, struct idx_entry **ent, size_t i, size_t k,
    const uint8_t *buf, struct bundle *bd, struct wbuf *blob,
    uint8_t *scratch, struct prune_stats *st, struct coffer_err *e1,
    struct coffer_err *err)
{
	struct sealed_member m[64];
	const struct idx_entry *e = ent[i];
	const struct blob_loc loc = e->loc;
	char where[128], path[64];
	size_t nu = 0, n = 0;
	int r;

	pack_path(ks->packs[loc.pack].id, path);
	snprintf(where, sizeof(where), "%s at offset %llu of 'sets/%s/%s'",
	    e->bundled ? "bundle" : "blob", (unsigned long long)loc.offset,
	    ks->idhex, path);
	if (!e->bundled) {
		if (keyset_open_blob(ks, e->type, e->id, buf, loc.clen,
		    loc.rawlen, blob, scratch, NULL, where, e1) != 0)
			return 1;
		m[0].type = e->type;
		m[0].id = e->id;
		m[0].rawlen = loc.rawlen;
		return write_object(ks, buf, loc.clen, false, m, 1, err);
	}
	if ((r = bundle_open(ks, buf, loc.clen, bd, NULL, where, e1)) != 0) {
		if (r != COFFER_ENOMEM)
			return 1;
		*err = *e1;
		return r;
	}
	/* Every member the index names must be there, used or not. */
	for (size_t j = i; j < k; j++) {
		const uint8_t *mp;
		uint8_t id[BLOB_ID_LEN];

		if (bundle_member(bd, ent[j]->type, ent[j]->id,
		    ent[j]->loc.rawlen, &mp, where, e1) != 0)
			return 1;
		if (!ent[j]->used)
			continue;
		nu++;
		/* Sealed again below: the content must be the id's. */
		keyset_blob_id(ks, mp, ent[j]->loc.rawlen, id);
		if (memcmp(id, ent[j]->id, BLOB_ID_LEN) != 0) {
			(void)coffer_err_set(e1, COFFER_EFORMAT, "%s holds a "
			    "member whose content does not match its id",
			    where);
			return 1;
		}
	}
	if (nu == bd->n) {
		/* Nothing dead inside: the sealed bytes as they are. */
		for (size_t j = i; j < k; j++) {
			if (!ent[j]->used)
				continue;
			m[n].type = ent[j]->type;
			m[n].id = ent[j]->id;
			m[n].rawlen = ent[j]->loc.rawlen;
			if (++n == 64 || --nu == 0) {
				if ((r = write_object(ks, buf, loc.clen, true,
				    m, n, err)) != 0)
					return r;
				n = 0;
			}
		}
		return 0;
	}
	/* Dead members inside: seal the used ones again, without them. */
	st->bundles_cut++;
	for (size_t j = i; j < k; j++) {
		const uint8_t *mp = NULL;
		struct idx_entry *x = ent[j];

		if (!x->used)
			continue;
		/* Found above: this cannot fail. */
		if (bundle_member(bd, x->type, x->id, x->loc.rawlen, &mp,
		    where, e1) != 0)
			return 1;
		if ((r = keyset_reseal(ks, x->type, x->id, mp, x->loc.rawlen,
		    err)) != 0)
			return r;
	}
	return 0;
}

int
keyset_prune(struct keyset *ks, const struct prune_opts *o,
    struct prune_stats *st, struct coffer_err *err)
{
	uint8_t *fate = NULL;
	uint32_t nold;
	struct idx_entry **ent = NULL;
	size_t nent = 0;
	struct bundle bd = { 0 };
	struct wbuf blob;
	struct coffer_err first = { 0 };
	struct packids keep = { 0 };
	struct pack_fates pf;
	uint8_t *buf = NULL;
	size_t bufcap = 0;
	uint64_t est = 0, added0 = ks->added, damaged0 = st->damaged;
	uint64_t freed0 = st->bytes_freed;
	char label[128];
	char **dirs = NULL, **names = NULL, **idxkeep = NULL;
	size_t ndirs = 0, nnames = 0, nidxkeep = 0;
	int r;

	/* A walk over an index that did not load marked nothing: stop. */
	if ((r = idx_full(ks, err)) != 0)
		return r;
	nold = ks->npacks;
	wbuf_init(&blob, BLOB_MAX);
	if ((fate = coffer_calloc(nold + 1, 1)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	/* Every entry by place: a bundle's members side by side. */
	for (size_t i = 0; i < ks->tabcap; i++)
		nent += ks->tab[i].type != 0 && ks->tab[i].loc.pack < nold;
	if ((ent = coffer_calloc(nent + 1, sizeof(*ent))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	for (size_t i = 0, k = 0; i < ks->tabcap; i++)
		if (ks->tab[i].type != 0 && ks->tab[i].loc.pack < nold)
			ent[k++] = &ks->tab[i];
	if (nent > 1)
		qsort(ent, nent, sizeof(*ent), by_place);
	if ((r = plan(ks, ent, nent, nold, fate, o, st, &est, err)) != 0)
		goto out;
	if (o->dry_run) {
		st->bytes_freed = freed0 + (st->bytes_freed - freed0 > est ?
		    st->bytes_freed - freed0 - est : 0);
		st->bytes_repacked += est;
		r = 0;
		goto out;
	}
	st->bytes_freed = freed0;

	/*
	 * 1. Copy the used objects of repacked packs, each authenticated
	 * first.  An object that fails is not copied and keeps its pack.
	 */
	for (size_t i = 0; i < nent; ) {
		struct idx_entry *e = ent[i];
		struct coffer_err e1 = { 0 };
		const struct blob_loc loc = e->loc;
		bool any = false;
		size_t k;

		for (k = i; k < nent && same_place(ent[k], e); k++)
			any = any || ent[k]->used;
		if (!any || fate[loc.pack] != P_REPACK) {
			i = k;
			continue;
		}
		if (2 * (size_t)loc.clen > bufcap) {
			coffer_free(buf);
			bufcap = 2 * (size_t)loc.clen;
			if ((buf = coffer_malloc(bufcap)) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM, "prune");
				goto out;
			}
		}
		r = keyset_read_raw(ks, loc.pack, loc.offset, loc.clen, buf, &e1);
		if (r == COFFER_ENOMEM) {
			*err = e1;
			goto out;
		}
		if (r == 0)
			r = copy_object(ks, ent, i, k, buf, &bd, &blob,
			    buf + loc.clen, st, &e1, err);
		else
			r = 1;
		if (r < 0)
			goto out;
		if (r == 1)
			damaged(loc.pack, fate, st, &e1, &first);
		i = k;
	}
	/* New packs durable, with an index of their own (flush). */
	if ((r = keyset_flush(ks, err)) != 0)
		goto out;
	st->packs_written += ks->npacks - nold;
	st->bytes_repacked += ks->added - added0;

	/*
	 * 2. One complete index: used blobs in kept and new packs, in as
	 * many files as it takes (each within INDEX_MAX).
	 */
	{
		uint8_t *fate2;

		if ((fate2 = coffer_calloc(ks->npacks + 1, 1)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "prune");
			goto out;
		}
		memcpy(fate2, fate, nold);
		r = index_write(ks, keep_used, fate2, &idxkeep, &nidxkeep, err);
		coffer_free(fate2);
		if (r != 0)
			goto out;
	}

	/* 3. Every other index file. */
	SET_LABEL(label, ks->idhex, "index");
	if ((r = dir_list(ks->dirfd, "index", label, is_objname, &names,
	    &nnames, err)) != 0)
		goto out;
	for (size_t i = 0; i < nnames; i++) {
		char path[96];
		bool ours = false;

		for (size_t j = 0; j < nidxkeep && !ours; j++)
			ours = strcmp(names[i], idxkeep[j]) == 0;
		if (ours)
			continue;
		snprintf(path, sizeof(path), "index/%s", names[i]);
		(void)rfs_unlink(ks->dirfd, path, path, NULL);
	}
	{
		int ifd = -1;

		r = rfs_open_dir(ks->dirfd, "index", "index", &ifd,
		    NULL) != 0 || fsync_dir(ifd) != 0 ? -1 : 0;
		if (ifd != -1)
			close(ifd);
		if (r != 0) {
			r = coffer_err_sys(err, "cannot sync 'sets/%s/index'",
			    ks->idhex);
			goto out;
		}
	}

	/*
	 * 4. Packs no longer named: deleted, repacked, and leftovers.  A
	 * pack two index files name (a prune stopped before step 3 left
	 * them) has two slots; the blobs sit in the first one loaded.  It
	 * is live if any slot keeps it.
	 */
	pf.fate = fate;
	pf.nold = nold;
	if (packids_build(ks, live_pack, &pf, &keep) != 0) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	SET_LABEL(label, ks->idhex, "packs");
	if ((r = dir_list(ks->dirfd, "packs", label, is_hex2, &dirs, &ndirs,
	    err)) != 0)
		goto out;
	for (size_t d = 0; d < ndirs; d++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		strlist_free(names, nnames);
		names = NULL;
		nnames = 0;
		SET_LABEL(label, ks->idhex, sub);
		if ((r = dir_list(ks->dirfd, sub, label, is_objname, &names,
		    &nnames, err)) != 0)
			goto out;
		for (size_t i = 0; i < nnames; i++) {
			uint8_t pid[PACK_ID_LEN];
			char path[80];

			snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
			if (!is_hex32n(names[i]) || hex_decode(pid, names[i],
			    PACK_ID_LEN) != 0 || !packids_has(&keep, pid))
				unlink_pack(ks, path, &st->bytes_freed);
		}
		{
			int sfd = -1;

			if (rfs_open_dir(ks->dirfd, sub, sub, &sfd, NULL) == 0) {
				if (fsync_dir(sfd) != 0) {
					/* best effort: the index is already right */
				}
				close(sfd);
			}
		}
	}
	for (uint32_t p = 0; p < ks->npacks; p++) {
		char path[64];
		struct stat sb;
		int fd;

		if (p < nold && fate[p] != P_KEEP)
			continue;
		pack_path(ks->packs[p].id, path);
		if (rfs_open_file(ks->dirfd, path, path, O_RDONLY, &fd, &sb,
		    NULL) == 0) {
			st->bytes_after += (uint64_t)sb.st_size;
			close(fd);
		}
	}
	r = 0;
	if (st->damaged > damaged0) {
		*err = first;
		coffer_err_prefix(err, "prune kept %llu damaged object%s "
		    "in place, not copied (run 'coffer check --read-data')",
		    (unsigned long long)(st->damaged - damaged0),
		    st->damaged - damaged0 == 1 ? "" : "s");
		r = COFFER_EAUTH;
	}
out:
	packids_release(&keep);
	strlist_free(dirs, ndirs);
	strlist_free(names, nnames);
	strlist_free(idxkeep, nidxkeep);
	bundle_release(&bd);
	coffer_free(ent);
	wbuf_release(&blob);
	coffer_free(buf);
	coffer_free(fate);
	return r;
}
