/* SPDX-License-Identifier: ISC */
/*
 * check: verify the packs and index of one key set.
 *
 * Without read_data: every pack the index names exists and is long
 * enough for the blobs the index places in it.  With read_data: every
 * pack file is read whole; its header must authenticate, every blob the
 * index places in it must authenticate, decode, and hash to its id.
 * Packs no index names are not errors: leftovers of interrupted backups,
 * or packs of a backup still running (keyset_count_unindexed counts them;
 * lib/backup/check.c tells which by the locks).  Those whose table
 * authenticates are read as well, and a snapshot that needs one means an
 * index file was lost (lib/backup/check.c reports that).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "rfs.h"
#include "../compress/compress.h"

#define PACK_READ_MAX	(512u << 20)
#define CHECK_BATCH	(128u << 10)	/* entries held at once (~8 MiB) */

/*
 * What the index says of one pack.  The entries themselves are held
 * only for a batch of packs at a time (keyset_check), so memory does not
 * grow with the index.
 */
struct pack_bucket {
	struct idx_entry	*e;		/* n, in this batch */
	uint32_t		 n, fill;	/* entries placed here */
	uint64_t		 end;		/* the end of the last one */
	bool			 seen;		/* file found on the card */
};

static int
by_offset(const void *a, const void *b)
{
	const struct idx_entry *x = a, *y = b;

	return x->loc.offset < y->loc.offset ? -1 :
	    x->loc.offset > y->loc.offset;
}

static bool
is_hex2(const char *s)
{
	return rfs_is_hex(s, 2);
}

static bool
is_packfile(const char *s)
{
	return rfs_is_hex(s, 32);
}

/* A pack or index file, or one being written. */
static bool
is_objfile(const char *s)
{
	return rfs_is_hex(s, 32) || rfs_is_packtmp(s);
}

static bool
is_keyinfo(const char *s)
{
	return strcmp(s, "keyinfo") == 0;
}

static int
check_pack_data(struct keyset *ks, uint32_t p, struct pack_bucket *b,
    const char *label, repo_report_fn *report, void *cookie, uint64_t *nbad,
    uint64_t *bytes, struct compressor *comp, struct coffer_err *err)
{
	char path[64];
	uint8_t *file = NULL, *plain = NULL, *scratch = NULL;
	uint8_t ad[AD_LEN];
	size_t adlen;
	size_t flen;
	struct wbuf out;
	struct bundle bd = { 0 };
	uint64_t bad_bundle = UINT64_MAX;	/* reported already */
	uint32_t hlen;
	int r;

	wbuf_init(&out, BLOB_MAX);
	/* In file order, so each bundle is opened once for its members. */
	if (b->n > 1)
		qsort(b->e, b->n, sizeof(b->e[0]), by_offset);
	pack_path(ks->packs[p].id, path);
	if ((r = rfs_read(ks->dirfd, path, label, PACK_READ_MAX, &file, &flen,
	    err)) != 0) {
		if (r == COFFER_ENOMEM)
			goto out;
		report(cookie, "%s", err->msg);
		(*nbad)++;
		r = 0;
		goto out;
	}
	*bytes += flen;
	/* Header: magic | blobs | sealed table | len u32 | end magic. */
	if (flen < 2 * MAGIC_LEN + 4 + AEAD_OVERHEAD ||
	    (memcmp(file, "CFPACK01", MAGIC_LEN) != 0 &&
	    memcmp(file, "CFPACK02", MAGIC_LEN) != 0) ||
	    memcmp(file + flen - MAGIC_LEN, "CFPKEND1", MAGIC_LEN) != 0 ||
	    (hlen = le32dec(file + flen - MAGIC_LEN - 4)) < AEAD_OVERHEAD ||
	    hlen > flen - 2 * MAGIC_LEN - 4) {
		report(cookie, "pack '%s' is damaged (bad header or footer)",
		    label);
		(*nbad)++;
	} else if ((plain = coffer_malloc(hlen)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "checking pack");
		goto out;
	} else {
		adlen = ad_build(ad, &ks->ab, OBJ_PACKHDR, ks->packs[p].id,
		    PACK_ID_LEN);
		if (aead_open(plain, file + flen - MAGIC_LEN - 4 - hlen, hlen,
		    ad, adlen, KS_ENC(ks)) != 0) {
			report(cookie, "pack '%s': its blob table fails "
			    "authentication", label);
			(*nbad)++;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct idx_entry *e = &b->e[i];
		struct coffer_err e1 = { 0 };
		char where[160];
		uint8_t id[BLOB_ID_LEN];

		snprintf(where, sizeof(where), "%s at offset %llu of pack "
		    "'%s'", e->bundled ? "bundle" : "blob",
		    (unsigned long long)e->loc.offset, label);
		if (e->loc.offset > flen || e->loc.clen > flen - e->loc.offset) {
			if (e->bundled && e->loc.offset == bad_bundle)
				continue;
			bad_bundle = e->loc.offset;
			report(cookie, "%s lies past the end of the file "
			    "(truncated pack)", where);
			(*nbad)++;
			continue;
		}
		if (e->bundled) {
			const uint8_t *mp;

			if (e->loc.offset == bad_bundle)
				continue;
			if (!bd.valid || bd.offset != e->loc.offset) {
				r = bundle_open(ks, file + e->loc.offset,
				    e->loc.clen, &bd, comp, where, &e1);
				if (r == COFFER_ENOMEM) {
					*err = e1;
					goto out;
				}
				if (r != 0) {
					bad_bundle = e->loc.offset;
					report(cookie, "%s", e1.msg);
					(*nbad)++;
					continue;
				}
				bd.offset = e->loc.offset;
			}
			if (bundle_member(&bd, e->type, e->id, e->loc.rawlen,
			    &mp, where, &e1) != 0) {
				report(cookie, "%s", e1.msg);
				(*nbad)++;
				continue;
			}
			hash_keyed(id, KS_IDK(ks), mp, e->loc.rawlen);
			if (memcmp(id, e->id, BLOB_ID_LEN) != 0) {
				report(cookie, "%s: a blob's content does not "
				    "match its id", where);
				(*nbad)++;
			}
			continue;
		}
		coffer_free(scratch);
		if ((scratch = coffer_malloc(e->loc.clen)) == NULL) {
			r = coffer_err_set(err, COFFER_ENOMEM, "checking");
			goto out;
		}
		if ((r = keyset_open_blob(ks, e->type, e->id,
		    file + e->loc.offset, e->loc.clen, e->loc.rawlen, &out,
		    scratch, comp, where, &e1)) != 0) {
			if (r == COFFER_ENOMEM) {
				*err = e1;
				goto out;
			}
			report(cookie, "%s", e1.msg);
			(*nbad)++;
			continue;
		}
		hash_keyed(id, KS_IDK(ks), out.p, out.len);
		if (memcmp(id, e->id, BLOB_ID_LEN) != 0) {
			report(cookie, "%s: content does not match its id",
			    where);
			(*nbad)++;
		}
	}
	r = 0;
out:
	bundle_release(&bd);
	wbuf_release(&out);
	coffer_free(scratch);
	coffer_free(plain);
	coffer_free(file);
	return r;
}

/*
 * Reading every pack is spread over threads, one pack at a time each;
 * problems are reported (and counted) under the pool's mutex.
 */
struct pool {
	struct keyset		*ks;
	struct pack_bucket	*bk;
	repo_report_fn		*report;
	void			*cookie;
	pthread_mutex_t		 mu;
	uint32_t		 next, end;	/* packs [next, end) to read */
	uint64_t		 nbad, bytes;
	uint64_t		 total;		/* bytes of the packs to read */
	check_progress_fn	*tick;
	void			*tick_cookie;
	int			 r;
	struct coffer_err	 err;
};

static void
pool_report(void *cookie, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static _Thread_local struct pool *tl_pool;

static void
pool_report(void *cookie, const char *fmt, ...)
{
	struct pool *pl = tl_pool;
	char msg[1024];
	va_list ap;

	(void)cookie;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&pl->mu);
	pl->report(pl->cookie, "%s", msg);
	pthread_mutex_unlock(&pl->mu);
}

static void *
pool_worker(void *arg)
{
	struct pool *pl = arg;
	struct compressor *comp = compressor_new(1);

	tl_pool = pl;
	for (;;) {
		struct coffer_err e1 = { 0 };
		uint64_t nbad = 0, bytes = 0;
		char path[64], label[128];
		uint32_t p;
		int r;

		pthread_mutex_lock(&pl->mu);
		p = pl->next++;
		if (pl->r != 0 || comp == NULL) {
			if (comp == NULL && pl->r == 0) {
				pl->r = COFFER_ENOMEM;
				coffer_err_set(&pl->err, COFFER_ENOMEM, "check");
			}
			p = pl->end;
		}
		pthread_mutex_unlock(&pl->mu);
		if (p >= pl->end)
			break;
		if (!pl->bk[p].seen)
			continue;	/* missing: reported already */
		pack_path(pl->ks->packs[p].id, path);
		snprintf(label, sizeof(label), "sets/%s/%s", pl->ks->idhex, path);
		r = check_pack_data(pl->ks, p, &pl->bk[p], label, pool_report,
		    NULL, &nbad, &bytes, comp, &e1);
		pthread_mutex_lock(&pl->mu);
		pl->nbad += nbad;
		pl->bytes += bytes;
		if (pl->tick != NULL)
			pl->tick(pl->tick_cookie, pl->bytes, pl->total);
		if (r != 0 && pl->r == 0) {
			pl->r = r;
			pl->err = e1;
		}
		pthread_mutex_unlock(&pl->mu);
	}
	compressor_free(comp);
	return NULL;
}

/* read_packs(pl, lo, hi): packs [lo, hi), their entries in pl->bk. */
static int
read_packs(struct pool *pl, uint32_t lo, uint32_t hi)
{
	pthread_t th[8];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (size_t)ncpu, started = 0;

	pl->next = lo;
	pl->end = hi;
	for (size_t i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, pool_worker, pl) == 0)
			started++;
	if (started == 0)
		(void)pool_worker(pl);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	return pl->r;
}

/*
 * each_entry(ks, fn, cookie): every entry of the set's index: those of
 * the index cache (if loaded through it), then those of the table.
 */
static int
each_entry(struct keyset *ks, idxcache_each_fn *fn, void *cookie)
{
	int r;

	if (ks->ic != NULL && (r = idxcache_each(ks->ic, fn, cookie)) != 0)
		return r;
	for (size_t i = 0; i < ks->tabcap; i++)
		if (ks->tab[i].type != 0 && (r = fn(cookie, &ks->tab[i])) != 0)
			return r;
	return 0;
}

struct batch {
	struct keyset		*ks;
	struct pack_bucket	*bk;
	uint32_t		 lo, hi;	/* packs of this batch */
};

/* Pass 1: how many entries each pack holds, and where the last ends. */
static int
count_entry(void *cookie, const struct idx_entry *e)
{
	struct batch *b = cookie;
	struct pack_bucket *pb;
	uint64_t x;

	if (e->loc.pack >= b->ks->npacks)
		return 0;
	pb = &b->bk[e->loc.pack];
	pb->n++;
	x = e->loc.offset + e->loc.clen;
	if (x > pb->end)
		pb->end = x;
	return 0;
}

/* Each further pass: the entries of the packs [lo, hi). */
static int
take_entry(void *cookie, const struct idx_entry *e)
{
	struct batch *b = cookie;
	struct pack_bucket *pb;

	if (e->loc.pack < b->lo || e->loc.pack >= b->hi)
		return 0;
	pb = &b->bk[e->loc.pack];
	if (!pb->seen)
		return 0;	/* missing or short: not read */
	if (pb->fill == pb->n)
		return COFFER_EFORMAT;	/* the index changed under us */
	pb->e[pb->fill++] = *e;
	return 0;
}

/*
 * batch_limit(): CHECK_BATCH, or COFFER_CHECK_BATCH (for the test suite
 * only: small sets then take the path of large ones, batch by batch).
 */
static size_t
batch_limit(void)
{
	const char *v = getenv("COFFER_CHECK_BATCH");
	unsigned long n;
	char *end;

	if (v == NULL || *v == '\0')
		return CHECK_BATCH;
	errno = 0;
	n = strtoul(v, &end, 10);
	return errno != 0 || *end != '\0' || n == 0 ? CHECK_BATCH : n;
}

/*
 * read_all_packs(ks, bk, ...): read every pack found on the card, in
 * batches of packs holding about batch_limit() entries together (one
 * pack at least): one pass over the index gathers a batch's entries,
 * then the pool reads its packs.
 */
static int
read_all_packs(struct keyset *ks, struct pack_bucket *bk,
    repo_report_fn *report, void *cookie, uint64_t *nbad, uint64_t *bytes,
    uint64_t total, check_progress_fn *tick, void *tick_cookie,
    struct coffer_err *err)
{
	struct pool pl = { .ks = ks, .bk = bk, .report = report,
	    .cookie = cookie, .total = total, .tick = tick,
	    .tick_cookie = tick_cookie };
	struct idx_entry *ent = NULL;
	size_t limit = batch_limit(), cap = 0;
	int r = 0;

	pthread_mutex_init(&pl.mu, NULL);
	for (uint32_t lo = 0, hi; lo < ks->npacks && r == 0; lo = hi) {
		struct batch b = { .ks = ks, .bk = bk, .lo = lo };
		size_t k = 0;

		for (hi = lo; hi < ks->npacks; hi++) {
			if (!bk[hi].seen)
				continue;	/* missing: not read */
			if (k > 0 && k + bk[hi].n > limit)
				break;
			k += bk[hi].n;
		}
		b.hi = hi;
		if (k > cap) {
			coffer_free(ent);
			cap = k;
			if ((ent = coffer_malloc(cap * sizeof(*ent))) == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM,
				    "check");
				break;
			}
		}
		k = 0;
		for (uint32_t p = lo; p < hi; p++) {
			if (!bk[p].seen)
				continue;
			bk[p].e = ent + k;
			bk[p].fill = 0;
			k += bk[p].n;
		}
		if (k > 0 && (r = each_entry(ks, take_entry, &b)) != 0) {
			coffer_err_set(err, r, "key set %s: reading the index "
			    "cache", ks->idhex);
			break;
		}
		for (uint32_t p = lo; p < hi; p++)
			if (bk[p].seen)
				bk[p].n = bk[p].fill;
		if ((r = read_packs(&pl, lo, hi)) != 0)
			*err = pl.err;
		for (uint32_t p = lo; p < hi; p++)
			bk[p].e = NULL;
	}
	pthread_mutex_destroy(&pl.mu);
	*nbad += pl.nbad;
	*bytes += pl.bytes;
	coffer_free(ent);
	return r;
}

static bool
indexed_pack(const struct keyset *ks, uint32_t p, void *cookie)
{
	(void)cookie;
	return !ks->packs[p].unindexed;
}

uint64_t
keyset_count_unindexed(struct keyset *ks)
{
	char **dirs = NULL, **names = NULL;
	size_t ndirs = 0, n = 0;
	uint64_t nleft = 0;
	struct packids known;

	if (idx_fresh(ks, NULL) != 0)
		return 0;	/* keyset_check reports the index */
	if (packids_build(ks, indexed_pack, NULL, &known) != 0)
		return 0;
	if (dir_list(ks->dirfd, "packs", "packs", is_hex2, &dirs, &ndirs,
	    NULL) != 0) {
		packids_release(&known);
		return 0;	/* check_layout names what is wrong */
	}
	for (size_t d = 0; d < ndirs; d++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		if (dir_list(ks->dirfd, sub, sub, is_packfile, &names, &n,
		    NULL) != 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			uint8_t id[PACK_ID_LEN];

			if (hex_decode(id, names[i], PACK_ID_LEN) != 0 ||
			    !packids_has(&known, id))
				nleft++;
		}
		strlist_free(names, n);
		names = NULL;
		n = 0;
	}
	strlist_free(dirs, ndirs);
	packids_release(&known);
	return nleft;
}

/*
 * layout_dir(dfd, label, want_dir, report, cookie): report each entry of
 * the folder ${dfd} that is of the wrong kind: a format name (by
 * ${is_name}) that is not what the format puts there, or any name that
 * is neither a regular file nor a folder.  Returns the problems found.
 */
static uint64_t
layout_dir(int dfd, const char *label, bool (*is_name)(const char *),
    bool want_dir, repo_report_fn *report, void *cookie)
{
	struct dirent *de;
	uint64_t nbad = 0;
	DIR *d;
	int fd;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		report(cookie, "cannot read '%s'", label);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		bool ok;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (is_name(de->d_name))
			ok = want_dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode);
		else
			ok = S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode);
		if (!ok) {
			report(cookie, "'%s/%s' is %s where %s belongs (coffer "
			    "never follows or opens it)", label, de->d_name,
			    rfs_kind(sb.st_mode), want_dir ? "a folder" :
			    "a regular file");
			nbad++;
		}
	}
	closedir(d);
	return nbad;
}

static bool
is_snapname(const char *s)
{
	return s[0] != '.';
}

uint64_t
repo_check_layout(struct repo *rp, const char *keyid_hex,
    repo_report_fn *report, void *cookie)
{
	static const struct {
		const char	*sub;
		bool		(*is_name)(const char *);
		bool		 want_dir;
	} dirs[] = {
		{ "index", is_objfile, false },
		{ "snapshots", is_snapname, false },
		{ "packs", is_hex2, true },
	};
	char sub[64], label[128];
	struct coffer_err e1 = { 0 };
	uint64_t nbad = 0;
	char **names = NULL;
	size_t n = 0;
	int sfd = -1, fd;

	snprintf(sub, sizeof(sub), "sets/%s", keyid_hex);
	if (rfs_open_dir(rp->dirfd, sub, sub, &sfd, &e1) != 0) {
		report(cookie, "%s", e1.msg);
		return 1;
	}
	nbad += layout_dir(sfd, sub, is_keyinfo, false, report, cookie);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(label, sizeof(label), "%s/%s", sub, dirs[i].sub);
		if (rfs_open_dir(sfd, dirs[i].sub, label, &fd, &e1) != 0) {
			if (e1.code != COFFER_ENOTFOUND) {
				report(cookie, "%s", e1.msg);
				nbad++;
			}
			continue;
		}
		nbad += layout_dir(fd, label, dirs[i].is_name, dirs[i].want_dir,
		    report, cookie);
		close(fd);
	}
	/* Each real packs/xx: packs and packs being written are files. */
	if (dir_list(sfd, "packs", "packs", is_hex2, &names, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			char path[16];

			snprintf(path, sizeof(path), "packs/%s", names[i]);
			snprintf(label, sizeof(label), "%s/%s", sub, path);
			if (rfs_open_dir(sfd, path, label, &fd, NULL) != 0)
				continue;	/* reported above */
			nbad += layout_dir(fd, label, is_objfile, false, report,
			    cookie);
			close(fd);
		}
		strlist_free(names, n);
	}
	close(sfd);
	return nbad;
}

int
keyset_check(struct keyset *ks, bool read_data, repo_report_fn *report,
    void *cookie, uint64_t *nbad, uint64_t *bytes, check_progress_fn *tick,
    void *tick_cookie, struct coffer_err *err)
{
	uint64_t total = 0;
	struct pack_bucket *bk = NULL;
	struct batch b = { .ks = ks };
	int r;

	/* Through the cache rebuilt from the card, not the whole in memory. */
	if ((r = idx_fresh(ks, err)) != 0)
		return r;
	for (uint32_t i = 0; i < ks->nindex_errs; i++)
		report(cookie, "%s", ks->index_errs[i].msg);
	if (ks->nbad_index > ks->nindex_errs)
		report(cookie, "key set %s: %u more index files failed to "
		    "load", ks->idhex, ks->nbad_index - ks->nindex_errs);
	*nbad += ks->nbad_index;
	/*
	 * Packs no index names: their tables too, so that what a lost
	 * index file listed is read below and found by the snapshot walk,
	 * which reports the loss (keyset_blob_unindexed).
	 */
	keyset_scan_unindexed(ks);
	if ((bk = coffer_calloc(ks->npacks + 1, sizeof(*bk))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "check");
	b.bk = bk;
	if ((r = each_entry(ks, count_entry, &b)) != 0) {
		r = coffer_err_set(err, r, "key set %s: reading the index "
		    "cache", ks->idhex);
		goto out;
	}
	for (uint32_t p = 0; p < ks->npacks; p++) {
		char path[64], label[128];
		struct stat sb;
		uint64_t end = bk[p].end;

		pack_path(ks->packs[p].id, path);
		snprintf(label, sizeof(label), "sets/%s/%s", ks->idhex, path);
		{
			struct coffer_err e1 = { 0 };
			int fd;

			if ((r = rfs_open_file(ks->dirfd, path, label,
			    O_RDONLY, &fd, &sb, &e1)) != 0) {
				if (r == COFFER_ENOTFOUND)
					report(cookie, "pack '%s' is missing "
					    "(the index names it)", label);
				else
					report(cookie, "%s", e1.msg);
				(*nbad)++;
				continue;
			}
			close(fd);
		}
		if ((uint64_t)sb.st_size < end + 4 + MAGIC_LEN) {
			report(cookie, "pack '%s' is too short (%lld bytes; "
			    "the index needs more): truncated", label,
			    (long long)sb.st_size);
			(*nbad)++;
			continue;
		}
		bk[p].seen = true;
		total += (uint64_t)sb.st_size;
	}
	if (read_data && (r = read_all_packs(ks, bk, report, cookie, nbad, bytes,
	    total, tick, tick_cookie, err)) != 0)
		goto out;
	r = 0;
out:
	coffer_free(bk);
	return r;
}
