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
 *
 * Memory: the index stays in the cache on the device (idx_fresh builds
 * it from the card's index files).  A mark is 2 bits per cache entry
 * (ks->icmark, by the entry's number); entries of the table (packs no
 * index names) keep theirs in idx_entry.used.  Each step walks the
 * entries in batches of packs holding about batch_limit() entries, a
 * batch sorted by place; an entry copied to a new pack is overridden in
 * the table (idx_override), and the complete index is written from the
 * walk, batch by batch (index_write_each).
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

#define PRUNE_BATCH	(256u << 10)	/* entries held at once (~20 MiB) */
#define NO_NUM		UINT64_MAX

/*
 * A mark of cache entry ${num}: 0 unused, 1 used (M_USED), 2 an unused
 * member of a bundle with a used one (M_KEPT: its index entry stays if
 * the bundle's pack is kept; the copying treats it as unused).
 */
#define M_USED		1
#define M_KEPT		2

static unsigned
mark_get(const struct keyset *ks, uint64_t num)
{
	if (ks->icmark == NULL)
		return 0;
	return ks->icmark[num >> 2] >> ((num & 3) * 2) & 3;
}

static void
mark_set(struct keyset *ks, uint64_t num, unsigned v)
{
	unsigned sh = (unsigned)(num & 3) * 2;

	ks->icmark[num >> 2] = (uint8_t)((ks->icmark[num >> 2] &
	    ~(3u << sh)) | v << sh);
}

bool
keyset_mark_used(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN])
{
	struct idx_entry *e, x;
	uint64_t num;

	if (idx_ready(ks, NULL) != 0)
		return false;	/* keyset_prune returns the error */
	if ((e = idx_find_tab(ks, type, id)) != NULL) {
		if (e->used)
			return false;
		e->used = 1;
		return true;
	}
	if (ks->ic == NULL || !idxcache_get(ks->ic, type, id, &x, &num) ||
	    x.loc.pack >= ks->npacks)
		return false;
	if (ks->icmark == NULL && (ks->icmark = coffer_calloc(
	    idxcache_count(ks->ic) / 4 + 1, 1)) == NULL) {
		ks->mark_oom = true;	/* keyset_prune stops */
		return false;
	}
	if (mark_get(ks, num) != 0)
		return false;
	mark_set(ks, num, M_USED);
	return true;
}

int
keyset_mark_sorted(struct keyset *ks, int type, const uint8_t *ids,
    size_t stride, size_t n, size_t *unknown, struct coffer_err *err)
{
	uint8_t *found = NULL;
	uint64_t *nums = NULL;
	int r = 0;

	*unknown = n;
	if (idx_ready(ks, NULL) != 0)
		return 0;	/* keyset_prune returns the error */
	if (ks->ic != NULL && n > 0) {
		if ((found = coffer_calloc(n, 1)) == NULL ||
		    (nums = coffer_calloc(n, sizeof(*nums))) == NULL ||
		    (ks->icmark == NULL && (ks->icmark = coffer_calloc(
		    idxcache_count(ks->ic) / 4 + 1, 1)) == NULL)) {
			r = coffer_err_set(err, COFFER_ENOMEM, "prune");
			goto out;
		}
		if ((r = idxcache_find_sorted(ks->ic, type, ids, stride, n,
		    found, nums)) != 0) {
			r = coffer_err_set(err, r, "key set %s: reading the "
			    "index cache", ks->idhex);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *id = ids + i * stride;

		/* Where keyset_mark_used would find it: the table first. */
		if (found != NULL && found[i] &&
		    idx_find_tab(ks, type, id) == NULL) {
			if (mark_get(ks, nums[i]) == 0)
				mark_set(ks, nums[i], M_USED);
			continue;
		}
		if (!keyset_mark_used(ks, type, id) &&
		    !keyset_has_blob(ks, type, id) && *unknown == n)
			*unknown = i;
	}
out:
	coffer_free(found);
	coffer_free(nums);
	return r;
}

/* An entry as prune sees it: its mark in e.used, and where that lives. */
struct pent {
	struct idx_entry	 e;
	uint64_t		 num;	/* its number in the cache, or NO_NUM */
	struct idx_entry	*t;	/* or its entry in the table */
};

typedef int pent_fn(void *cookie, struct pent *p);

struct walk {
	struct keyset	*ks;
	pent_fn		*fn;
	void		*cookie;
};

static int
walk_cache(void *cookie, const struct idx_entry *e, uint64_t num)
{
	struct walk *w = cookie;
	struct pent p;

	/* In no pack the set knows (as idx_find), or overridden. */
	if (e->loc.pack >= w->ks->npacks ||
	    idx_find_tab(w->ks, e->type, e->id) != NULL)
		return 0;
	p.e = *e;
	p.e.used = (uint8_t)mark_get(w->ks, num);
	p.num = num;
	p.t = NULL;
	return w->fn(w->cookie, &p);
}

/*
 * each_pent(ks, lo, hi, fn, cookie): every entry of the set's index in
 * a pack it knows, lo <= pack < hi: those of the cache the table does
 * not override, then those of the table.
 */
static int
each_pent(struct keyset *ks, uint32_t lo, uint32_t hi, pent_fn *fn,
    void *cookie)
{
	struct walk w = { .ks = ks, .fn = fn, .cookie = cookie };
	int r;

	if (hi > ks->npacks)
		hi = ks->npacks;
	if (ks->ic != NULL && lo < hi &&
	    (r = idxcache_each_in(ks->ic, lo, hi, walk_cache, &w)) != 0)
		return r;
	for (size_t i = 0; i < ks->tabcap; i++) {
		struct pent p;

		if (ks->tab[i].type == 0 || ks->tab[i].loc.pack < lo ||
		    ks->tab[i].loc.pack >= hi)
			continue;
		p.e = ks->tab[i];
		p.num = NO_NUM;
		p.t = &ks->tab[i];
		if ((r = fn(cookie, &p)) != 0)
			return r;
	}
	return 0;
}

/* pent_mark(ks, p, v): set ${p}'s mark where it lives. */
static void
pent_mark(struct keyset *ks, struct pent *p, unsigned v)
{
	p->e.used = (uint8_t)v;
	if (p->t != NULL)
		p->t->used = (uint8_t)v;
	else
		mark_set(ks, p->num, v);	/* keyset_prune made room */
}

/* Walking the packs that were there when prune began, batch by batch. */
struct pbatch {
	struct keyset	*ks;
	uint32_t	 nold;
	uint32_t	*count;		/* entries of each old pack */
	uint32_t	 lo, hi;	/* this batch's packs */
	struct pent	*v;
	size_t		 n, cap;
};

static int
pb_count(void *cookie, struct pent *p)
{
	struct pbatch *b = cookie;

	if (p->e.loc.pack < b->nold)
		b->count[p->e.loc.pack]++;
	return 0;
}

static int
pb_take(void *cookie, struct pent *p)
{
	struct pbatch *b = cookie;

	if (p->e.loc.pack < b->lo || p->e.loc.pack >= b->hi)
		return 0;
	if (b->n == b->cap)
		return COFFER_EFORMAT;	/* the index changed under us */
	b->v[b->n++] = *p;
	return 0;
}

/* Entries by place: a bundle's members next to each other. */
static int
by_place(const void *a, const void *b)
{
	const struct idx_entry *x = &((const struct pent *)a)->e;
	const struct idx_entry *y = &((const struct pent *)b)->e;

	if (x->loc.pack != y->loc.pack)
		return x->loc.pack < y->loc.pack ? -1 : 1;
	return x->loc.offset < y->loc.offset ? -1 :
	    x->loc.offset > y->loc.offset;
}

/*
 * batch_limit(): PRUNE_BATCH, or COFFER_PRUNE_BATCH (for the test suite
 * only: small sets then take the path of large ones, batch by batch).
 */
static size_t
batch_limit(void)
{
	const char *v = getenv("COFFER_PRUNE_BATCH");
	unsigned long n;
	char *end;

	if (v == NULL || *v == '\0')
		return PRUNE_BATCH;
	errno = 0;
	n = strtoul(v, &end, 10);
	return errno != 0 || *end != '\0' || n == 0 ? PRUNE_BATCH : n;
}

typedef int batch_fn(struct pbatch *b, void *cookie);

/*
 * each_batch(b, fn, cookie, fate, err): fn(b, cookie) for each batch of
 * the old packs (with ${fate}, only those holding a pack to repack),
 * b->v holding its b->n entries sorted by place.  The entries of
 * packs not yet in a batch must not change meanwhile (those of a batch
 * done may: copied, they are overridden in the table, at a new pack).
 */
static int
each_batch(struct pbatch *b, batch_fn *fn, void *cookie, const uint8_t *fate,
    struct coffer_err *err)
{
	size_t limit = batch_limit();
	int r;

	for (uint32_t lo = 0, hi; lo < b->nold; lo = hi) {
		size_t k = 0;

		bool want = fate == NULL;

		for (hi = lo; hi < b->nold; hi++) {
			if (k > 0 && k + b->count[hi] > limit)
				break;
			k += b->count[hi];
			want = want || fate[hi] == P_REPACK;
		}
		if (!want)
			continue;	/* no pack of this batch is repacked */
		if (k > b->cap) {
			coffer_free(b->v);
			b->cap = k;
			if ((b->v = coffer_malloc(k * sizeof(*b->v))) == NULL) {
				b->cap = 0;
				return coffer_err_set(err, COFFER_ENOMEM,
				    "prune");
			}
		}
		b->lo = lo;
		b->hi = hi;
		b->n = 0;
		if (k > 0 && (r = each_pent(b->ks, lo, hi, pb_take, b)) != 0)
			return coffer_err_set(err, r, "key set %s: reading "
			    "the index cache", b->ks->idhex);
		if (b->n != k)
			return coffer_err_set(err, COFFER_EFORMAT, "key set "
			    "%s: the index changed during prune",
			    b->ks->idhex);
		if (b->n > 1)
			qsort(b->v, b->n, sizeof(*b->v), by_place);
		if ((r = fn(b, cookie)) != 0)
			return r;
	}
	return 0;
}

static bool
same_place(const struct pent *x, const struct pent *y)
{
	return x->e.loc.pack == y->e.loc.pack &&
	    x->e.loc.offset == y->e.loc.offset;
}

/* The fates of the packs that were there when prune began. */
struct pack_fates {
	const uint8_t	*fate;
	uint32_t	 nold;
};

/* Writing the complete index: the used entries in packs kept or new. */
struct kept {
	struct keyset		*ks;
	const uint8_t		*fate;
	uint32_t		 nold;
	idxcache_each_fn	*fn;
	void			*fncookie;
};

static int
kept_pent(void *cookie, struct pent *p)
{
	struct kept *k = cookie;

	if (!p->e.used || (p->e.loc.pack < k->nold &&
	    k->fate[p->e.loc.pack] != P_KEEP))
		return 0;
	return k->fn(k->fncookie, &p->e);
}

static int
each_kept(void *cookie, uint32_t lo, uint32_t hi, idxcache_each_fn *fn,
    void *fncookie)
{
	struct kept *k = cookie;

	k->fn = fn;
	k->fncookie = fncookie;
	return each_pent(k->ks, lo, hi, kept_pent, k);
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

/* What plan() sums per old pack. */
struct sums {
	uint64_t	*total, *live, *nlive;
	uint64_t	*nkept;		/* M_KEPT entries of each pack */
	uint64_t	 nused, nunused;
	uint8_t		*any;
};

/*
 * Each pack's bytes, and the used share of them.  The unused members of
 * a bundle with a used one get M_KEPT here, whatever their pack's fate
 * (not known yet): they keep their index entries if the pack is kept
 * (so the next prune still sees the bundle's dead share, and a backup
 * may use them again), and are dropped with it otherwise.  (This was a
 * second walk over the cache after the fates; folded in here it saves
 * a pass over the cache per batch.)
 */
static int
sum_batch(struct pbatch *b, void *cookie)
{
	struct sums *sm = cookie;
	struct pent *v = b->v;

	for (size_t i = 0; i < b->n; ) {
		const struct idx_entry *e = &v[i].e;
		uint64_t raw = 0, uraw = 0;
		size_t k, nu = 0;

		for (k = i; k < b->n && same_place(&v[k], &v[i]); k++) {
			raw += v[k].e.loc.rawlen;
			if (v[k].e.used == M_USED) {
				uraw += v[k].e.loc.rawlen;
				nu++;
			}
		}
		sm->total[e->loc.pack] += e->loc.clen;
		sm->nused += nu;
		sm->nunused += k - i - nu;
		if (nu > 0 && nu < k - i && e->bundled) {
			for (size_t j = i; j < k; j++)
				if (v[j].e.used != M_USED)
					pent_mark(b->ks, &v[j], M_KEPT);
			sm->nkept[e->loc.pack] += k - i - nu;
		}
		if (nu > 0) {
			sm->any[e->loc.pack] = 1;
			sm->nlive[e->loc.pack] += nu;
			/* A share of a bundle; all of it if all is used. */
			sm->live[e->loc.pack] += nu == k - i || raw == 0 ?
			    e->loc.clen : e->loc.clen * uraw / raw;
		}
		i = k;
	}
	return 0;
}

/*
 * plan(b, fate, o, st, est, err): decide each pack's fate and estimate
 * what repacking writes; the bytes of each pack file are added to
 * st->bytes_before.  A bundle counts by the rawlen share of its used
 * members (members no index names count as unused).
 */
static int
plan(struct pbatch *b, uint8_t *fate, const struct prune_opts *o,
    struct prune_stats *st, uint64_t *est_written, struct coffer_err *err)
{
	struct keyset *ks = b->ks;
	const uint32_t nold = b->nold;
	struct sums sm = { 0 };
	uint64_t *fsize = NULL;
	struct cand *c = NULL;
	size_t nc = 0;
	uint64_t used_all = 0, unused_all = 0, limit, written = 0, over;
	int r = 0;

	if ((sm.total = coffer_calloc(nold + 1, sizeof(uint64_t))) == NULL ||
	    (sm.live = coffer_calloc(nold + 1, sizeof(uint64_t))) == NULL ||
	    (fsize = coffer_calloc(nold + 1, sizeof(*fsize))) == NULL ||
	    (sm.nlive = coffer_calloc(nold + 1, sizeof(uint64_t))) == NULL ||
	    (sm.nkept = coffer_calloc(nold + 1, sizeof(uint64_t))) == NULL ||
	    (sm.any = coffer_calloc(nold + 1, 1)) == NULL ||
	    (c = coffer_calloc(nold + 1, sizeof(*c))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	if ((r = each_batch(b, sum_batch, &sm, NULL, err)) != 0)
		goto out;
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
		if (!sm.any[p]) {
			fate[p] = P_DELETE;
			continue;
		}
		used_all += sm.live[p];
		/*
		 * What the file holds beyond its used share and their
		 * table: objects the index no longer names count too.
		 */
		over = sm.live[p] + sm.nlive[p] * ENTRY_LEN + PACK_OVERHEAD;
		if (fsize[p] > over || sm.total[p] > sm.live[p]) {
			c[nc].pack = p;
			c[nc].unused = fsize[p] > over ? fsize[p] - over :
			    sm.total[p] - sm.live[p];
			c[nc].total = fsize[p] > sm.total[p] ? fsize[p] :
			    sm.total[p];
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
		written += sm.live[p] + sm.nlive[p] * ENTRY_LEN;
	}
	st->blobs_kept += sm.nused;
	st->blobs_removed += sm.nunused;
	for (uint32_t p = 0; p < nold; p++) {
		st->packs_deleted += fate[p] == P_DELETE;
		st->packs_repacked += fate[p] == P_REPACK;
		if (fate[p] != P_KEEP)
			st->bytes_freed += fsize[p];
		else {
			/* Unused members of a bundle that stays. */
			st->blobs_kept += sm.nkept[p];
			st->blobs_removed -= sm.nkept[p];
		}
	}
	if (written > 0)
		written += PACK_OVERHEAD * (written / PACK_TARGET_SIZE + 1);
	*est_written = written;
out:
	coffer_free(sm.total);
	coffer_free(sm.live);
	coffer_free(fsize);
	coffer_free(sm.nlive);
	coffer_free(sm.nkept);
	coffer_free(sm.any);
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
copy_object(struct keyset *ks, const struct pent *ent, size_t i, size_t k,
    const uint8_t *buf, struct bundle *bd, struct wbuf *blob,
    uint8_t *scratch, struct prune_stats *st, struct coffer_err *e1,
    struct coffer_err *err)
{
	struct sealed_member m[64];
	const struct idx_entry *e = &ent[i].e;
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

		if (bundle_member(bd, ent[j].e.type, ent[j].e.id,
		    ent[j].e.loc.rawlen, &mp, where, e1) != 0)
			return 1;
		if (ent[j].e.used != M_USED)
			continue;
		nu++;
		/* Sealed again below: the content must be the id's. */
		keyset_blob_id(ks, mp, ent[j].e.loc.rawlen, id);
		if (memcmp(id, ent[j].e.id, BLOB_ID_LEN) != 0) {
			(void)coffer_err_set(e1, COFFER_EFORMAT, "%s holds a "
			    "member whose content does not match its id",
			    where);
			return 1;
		}
	}
	if (nu == bd->n) {
		/* Nothing dead inside: the sealed bytes as they are. */
		for (size_t j = i; j < k; j++) {
			if (ent[j].e.used != M_USED)
				continue;
			m[n].type = ent[j].e.type;
			m[n].id = ent[j].e.id;
			m[n].rawlen = ent[j].e.loc.rawlen;
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
		const struct idx_entry *x = &ent[j].e;

		if (x->used != M_USED)
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

/* What the copying step needs, batch by batch. */
struct copying {
	uint8_t			*fate;
	struct prune_stats	*st;
	struct bundle		 bd;
	struct wbuf		 blob;
	struct coffer_err	 first;
	uint8_t			*buf;
	size_t			 bufcap;
	struct coffer_err	*err;
};

/*
 * Copy the used objects of repacked packs, each authenticated first.
 * An object that fails is not copied and keeps its pack.  The used
 * entries of an object copied are overridden in the table first, where
 * write_object points them at their new place.
 */
static int
copy_batch(struct pbatch *b, void *cookie)
{
	struct copying *cp = cookie;
	struct keyset *ks = b->ks;
	const struct pent *v = b->v;
	struct coffer_err *err = cp->err;
	int r;

	for (size_t i = 0; i < b->n; ) {
		struct coffer_err e1 = { 0 };
		const struct blob_loc loc = v[i].e.loc;
		bool any = false, oom = false;
		size_t k;

		for (k = i; k < b->n && same_place(&v[k], &v[i]); k++)
			any = any || v[k].e.used == M_USED;
		if (!any || cp->fate[loc.pack] != P_REPACK) {
			i = k;
			continue;
		}
		pthread_mutex_lock(&ks->idx_mu);
		for (size_t j = i; j < k && !oom; j++)
			oom = v[j].e.used == M_USED && v[j].t == NULL &&
			    idx_override(ks, &v[j].e) == NULL;
		pthread_mutex_unlock(&ks->idx_mu);
		if (oom)
			return coffer_err_set(err, COFFER_ENOMEM, "prune");
		if (2 * (size_t)loc.clen > cp->bufcap) {
			coffer_free(cp->buf);
			cp->bufcap = 2 * (size_t)loc.clen;
			if ((cp->buf = coffer_malloc(cp->bufcap)) == NULL) {
				cp->bufcap = 0;
				return coffer_err_set(err, COFFER_ENOMEM,
				    "prune");
			}
		}
		r = keyset_read_raw(ks, loc.pack, loc.offset, loc.clen, cp->buf,
		    &e1);
		if (r == COFFER_ENOMEM) {
			*err = e1;
			return r;
		}
		if (r == 0)
			r = copy_object(ks, v, i, k, cp->buf, &cp->bd,
			    &cp->blob, cp->buf + loc.clen, cp->st, &e1, err);
		else
			r = 1;
		if (r < 0)
			return r;
		if (r == 1)
			damaged(loc.pack, cp->fate, cp->st, &e1, &cp->first);
		i = k;
	}
	return 0;
}

int
keyset_prune(struct keyset *ks, const struct prune_opts *o,
    struct prune_stats *st, struct coffer_err *err)
{
	uint8_t *fate = NULL;
	uint32_t nold;
	struct pbatch pb = { .ks = ks };
	struct copying cp = { .st = st, .err = err };
	struct packids keep = { 0 };
	struct pack_fates pf;
	uint64_t est = 0, added0 = ks->added, damaged0 = st->damaged;
	uint64_t freed0 = st->bytes_freed;
	char label[128];
	char **dirs = NULL, **names = NULL, **idxkeep = NULL;
	size_t ndirs = 0, nnames = 0, nidxkeep = 0;
	int r;

	/* A walk over an index that did not load marked nothing: stop. */
	if ((r = idx_ready(ks, err)) != 0)
		return r;
	/* Every mark kept, and room for those plan() adds. */
	if (ks->mark_oom || (ks->ic != NULL && ks->icmark == NULL &&
	    (ks->icmark = coffer_calloc(idxcache_count(ks->ic) / 4 + 1,
	    1)) == NULL))
		return coffer_err_set(err, COFFER_ENOMEM, "prune: marking "
		    "the blobs in use");
	ks->pruning = true;
	nold = ks->npacks;
	wbuf_init(&cp.blob, BLOB_MAX);
	pb.nold = nold;
	if ((fate = coffer_calloc(nold + 1, 1)) == NULL ||
	    (pb.count = coffer_calloc(nold + 1, sizeof(*pb.count))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "prune");
		goto out;
	}
	cp.fate = fate;
	/* How many entries each pack holds: the batches' sizes. */
	if ((r = each_pent(ks, 0, nold, pb_count, &pb)) != 0) {
		r = coffer_err_set(err, r, "key set %s: reading the index "
		    "cache", ks->idhex);
		goto out;
	}
	if ((r = plan(&pb, fate, o, st, &est, err)) != 0)
		goto out;
	if (o->dry_run) {
		st->bytes_freed = freed0 + (st->bytes_freed - freed0 > est ?
		    st->bytes_freed - freed0 - est : 0);
		st->bytes_repacked += est;
		r = 0;
		goto out;
	}
	st->bytes_freed = freed0;

	/* 1. Copy the used objects of repacked packs. */
	if ((r = each_batch(&pb, copy_batch, &cp, fate, err)) != 0)
		goto out;
	/* New packs durable, with an index of their own (flush). */
	if ((r = keyset_flush(ks, err)) != 0)
		goto out;
	st->packs_written += ks->npacks - nold;
	st->bytes_repacked += ks->added - added0;
	coffer_free(pb.v);
	pb.v = NULL;
	pb.cap = 0;

	/*
	 * 2. One complete index: used blobs in kept and new packs, in as
	 * many files as it takes (each within INDEX_MAX).
	 */
	{
		struct kept kp = { .ks = ks, .fate = fate, .nold = nold };

		if ((r = index_write_each(ks, each_kept, &kp, batch_limit(),
		    &idxkeep, &nidxkeep, err)) != 0)
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
		*err = cp.first;
		coffer_err_prefix(err, "prune kept %llu damaged object%s "
		    "in place, not copied (run 'coffer check --read-data')",
		    (unsigned long long)(st->damaged - damaged0),
		    st->damaged - damaged0 == 1 ? "" : "s");
		r = COFFER_EAUTH;
	}
out:
	ks->pruning = false;
	packids_release(&keep);
	strlist_free(dirs, ndirs);
	strlist_free(names, nnames);
	strlist_free(idxkeep, nidxkeep);
	bundle_release(&cp.bd);
	coffer_free(pb.v);
	coffer_free(pb.count);
	wbuf_release(&cp.blob);
	coffer_free(cp.buf);
	coffer_free(fate);
	return r;
}
