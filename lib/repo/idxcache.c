/* SPDX-License-Identifier: ISC */
/*
 * idxcache: the chunk index of a key set kept on the device's disk, so a
 * command needs memory for a filter, not for the whole index.
 *
 * The file (<keystore>/cache/<key id>.index, FORMAT.md §18.8) holds every
 * entry of the index files it was built from, sorted by blob id, with the
 * names of those files and the pack table.  In memory stay a Bloom filter
 * (1 byte per entry) and the first entry number of each bucket of ~16
 * entries by id prefix (0.25 byte per entry); a lookup that passes the
 * filter reads one bucket with one pread, or, in a cache of at most
 * IC_MAP_MAX bytes, searches it in a read-only map of the file (no
 * system call; the pages it touches count in the process's RSS, so
 * only up to that size).
 *
 * The file is checked before it is used, every time: a keyed BLAKE2b
 * under a key derived from the set's keys covers all of it (a damaged,
 * truncated, edited file or one of another set or repository is rebuilt,
 * never trusted), and the index files it names must all still be on the
 * card (prune deletes index files: then it is rebuilt).  Index files on
 * the card it does not name are merged in.  A false "this blob is
 * stored" would make a backup skip data; this is what the checks guard.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"

#define IC_MAGIC	"CFIXC002"
#define IC_HDR		56
#define IC_BAD		32	/* file id | size u64 | mtime ns u64 */
#define IC_ENT		53	/* id | type u8 | pack u32 | off u64 | clen | rawlen */
#define IC_MAC		32
#define IC_BLOCK	19784	/* entries read at a time (~1 MiB) */
#define IC_MERGE	(IC_BLOCK / 4)	/* held by each side of a merge */
#define IC_SORT_MEM	(16u << 20)	/* bytes of entries sorted at once */
#define IC_BUCKET	16	/* entries per bucket, on average */
#define IC_BLOOM_BITS	8	/* filter bits per entry */
#define IC_BLOOM_K	4
#define IC_SCAN_MAX	128	/* a bucket read with one pread */
#define IC_MAP_MAX	(32u << 20)	/* bytes: mapped up to this size */

struct idxcache {
	int		 fd;
	uint64_t	 serial;	/* unique in the process (ic_memo) */
	uint64_t	 n;		/* entries */
	uint64_t	 base;		/* file offset of entry 0 */
	uint32_t	 bbits;		/* bucket bits */
	uint32_t	*bdir;		/* (1 << bbits) + 1 entry numbers */
	uint8_t		*bloom;
	uint64_t	 bloom_mask;	/* bits - 1 */
	uint8_t		*files;		/* the index file ids it names */
	uint32_t	 nfiles;
	uint8_t		*bad;		/* index files that failed (IC_BAD) */
	uint32_t	 nbad;
	uint8_t		*map;		/* the file, or NULL (ic_map) */
	size_t		 maplen;
};

static uint32_t
id_prefix(const uint8_t *id)
{
	return (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 |
	    (uint32_t)id[2] << 8 | id[3];
}

static uint32_t
bucket_of(const struct idxcache *ic, const uint8_t *id)
{
	return ic->bbits == 0 ? 0 : id_prefix(id) >> (32 - ic->bbits);
}

static void
bloom_bits(const struct idxcache *ic, const uint8_t *id, uint64_t bit[IC_BLOOM_K])
{
	uint64_t h1 = le64dec(id + 8), h2 = le64dec(id + 16) | 1;

	for (int j = 0; j < IC_BLOOM_K; j++)
		bit[j] = (h1 + (uint64_t)j * h2) & ic->bloom_mask;
}

/* ent_cmp: by id, then type (the bundled flag aside). */
static int
ent_cmp(const uint8_t *a, const uint8_t *b)
{
	int c = memcmp(a, b, BLOB_ID_LEN);

	if (c != 0)
		return c;
	return (a[BLOB_ID_LEN] & ~ENTRY_BUNDLED) -
	    (b[BLOB_ID_LEN] & ~ENTRY_BUNDLED);
}

static void
ent_encode(uint8_t *p, int type, const uint8_t id[BLOB_ID_LEN],
    const struct blob_loc *loc, bool bundled)
{
	memcpy(p, id, BLOB_ID_LEN);
	p[32] = (uint8_t)(type | (bundled ? ENTRY_BUNDLED : 0));
	le32enc(p + 33, loc->pack);
	le64enc(p + 37, loc->offset);
	le32enc(p + 45, loc->clen);
	le32enc(p + 49, loc->rawlen);
}

static void
ent_decode(const uint8_t *p, struct idx_entry *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->id, p, BLOB_ID_LEN);
	e->type = p[32] & ~ENTRY_BUNDLED;
	e->bundled = (p[32] & ENTRY_BUNDLED) != 0;
	e->loc.pack = le32dec(p + 33);
	e->loc.offset = le64dec(p + 37);
	e->loc.clen = le32dec(p + 45);
	e->loc.rawlen = le32dec(p + 49);
}

void
idxcache_free(struct idxcache *ic)
{
	if (ic == NULL)
		return;
	if (ic->fd != -1)
		close(ic->fd);
	if (ic->map != NULL)
		(void)munmap(ic->map, ic->maplen);
	coffer_free(ic->bdir);
	coffer_free(ic->bloom);
	coffer_free(ic->files);
	coffer_free(ic->bad);
	coffer_free(ic);
}

/* Each cache made gets a number of its own: a memo names its cache. */
static atomic_uint_least64_t ic_serials;

/*
 * The last entry read, per thread: check's walk looks each chunk up
 * twice in a row (is it there, is its pack indexed), each tree when it
 * loads it and again for its pack.  Only a lookup in the same cache
 * (serial) is answered from here; it holds what a pread of that cache
 * gave, so it is as good as the read it saves.  (A mapped cache needs
 * none.)
 */
static _Thread_local struct {
	uint64_t	serial;		/* 0: none */
	uint8_t		e[IC_ENT];
	uint64_t	num;		/* its entry number */
} ic_memo;

/*
 * ic_alloc(n): a cache of up to ${n} entries with its filter and bucket
 * table sized and empty (fd -1), or NULL.
 */
static struct idxcache *
ic_alloc(uint64_t n)
{
	struct idxcache *ic;

	if ((ic = coffer_calloc(1, sizeof(*ic))) == NULL)
		return NULL;
	ic->fd = -1;
	ic->n = n;
	ic->serial = atomic_fetch_add(&ic_serials, 1) + 1;
	while (ic->bbits < 28 && ((uint64_t)IC_BUCKET << ic->bbits) < n)
		ic->bbits++;
	ic->bloom_mask = 1023;
	while (ic->bloom_mask + 1 < n * IC_BLOOM_BITS)
		ic->bloom_mask = ic->bloom_mask * 2 + 1;
	if ((ic->bdir = coffer_calloc(((size_t)1 << ic->bbits) + 1,
	    sizeof(uint32_t))) == NULL ||
	    (ic->bloom = coffer_calloc((ic->bloom_mask + 1) / 8, 1)) == NULL) {
		idxcache_free(ic);
		return NULL;
	}
	return ic;
}

/*
 * ic_index(ic, p, i, np, prev, &last): entry ${p}, number ${i}, into the
 * filter and bucket table of ${ic}, after checking it: a known type, a
 * pack below ${np}, above ${prev} (the entry before; i > 0), which it
 * then becomes.  ${last}: the first bucket not yet started.  -1 if the
 * entry is bad.
 */
static int
ic_index(struct idxcache *ic, const uint8_t *p, uint64_t i, uint32_t np,
    uint8_t prev[IC_ENT], uint64_t *last)
{
	uint8_t t = p[32] & ~ENTRY_BUNDLED;
	uint64_t bit[IC_BLOOM_K];
	uint32_t b;

	if ((t != OBJ_DATA && t != OBJ_TREE) || le32dec(p + 33) >= np ||
	    (i > 0 && ent_cmp(prev, p) >= 0) || i >= ic->n)
		return -1;
	memcpy(prev, p, IC_ENT);
	for (b = bucket_of(ic, p); *last <= b; (*last)++)
		ic->bdir[*last] = (uint32_t)i;
	bloom_bits(ic, p, bit);
	for (int j = 0; j < IC_BLOOM_K; j++)
		ic->bloom[bit[j] >> 3] |= 1u << (bit[j] & 7);
	return 0;
}

/* ic_close(ic, n, last): the table's end: ${n} entries were indexed. */
static void
ic_close(struct idxcache *ic, uint64_t n, uint64_t last)
{
	for (; last <= (1u << ic->bbits); last++)
		ic->bdir[last] = (uint32_t)n;
	ic->n = n;
}

/*
 * map_limit(): IC_MAP_MAX, or COFFER_IDXCACHE_MAP bytes (for the test
 * suite only: 0 takes the pread path whatever the size).
 */
static uint64_t
map_limit(void)
{
	const char *v = getenv("COFFER_IDXCACHE_MAP");
	unsigned long long n;
	char *end;

	if (v == NULL || *v == '\0')
		return IC_MAP_MAX;
	errno = 0;
	n = strtoull(v, &end, 10);
	return errno != 0 || *end != '\0' ? IC_MAP_MAX : n;
}

/*
 * ic_map(ic): map the file of ${ic} (checked, its fd set) read-only for
 * lookups if it is at most map_limit() bytes; else, or if it cannot be
 * mapped, lookups read it.  The map shows the file as it is now, as a
 * pread would: the same bytes the checks passed while no one else
 * writes them (a new cache is a new file, renamed over this one, which
 * leaves it as it was).  Only a file truncated under the process would
 * fault (SIGBUS): a stop, never a wrong answer.
 */
static void
ic_map(struct idxcache *ic)
{
	size_t len = (size_t)(ic->base + ic->n * IC_ENT);
	void *m;

	if (ic->n == 0 || len > map_limit())
		return;
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, ic->fd, 0);
	if (m == MAP_FAILED)
		return;
	ic->map = m;
	ic->maplen = len;
}

/*
 * ic_verify(ks, fd, key, &ic): check the file open at ${fd} from its
 * start and make its lookup tables; the packs it names are added to
 * ks->packs (which must be empty), ic->files gets the index file ids
 * (16 bytes each, sorted).  0, or -1 if it is not a whole, authentic
 * cache of this set (fd stays the caller's).
 */
static int
ic_verify(struct keyset *ks, int fd, const uint8_t key[KEY_LEN],
    struct idxcache **out)
{
	struct idxcache *ic = NULL;
	struct hash_state hs;
	uint8_t hdr[IC_HDR], mac[IC_MAC], want[IC_MAC], body[HASH_LEN];
	uint8_t *buf = NULL, *fl = NULL, *bad = NULL, prev[IC_ENT];
	struct stat sb;
	uint32_t nf, np, nbad;
	uint64_t n, off, need, last = 0;
	int r = -1;

	*out = NULL;
	if (fstat(fd, &sb) != 0 || sb.st_size < IC_HDR + IC_MAC ||
	    pread_full(fd, hdr, IC_HDR, 0) != 0 ||
	    memcmp(hdr, IC_MAGIC, 8) != 0 ||
	    memcmp(hdr + 8, ks->keyid, KEYID_LEN) != 0 ||
	    memcmp(hdr + 16, ks->repo->id, REPO_ID_LEN) != 0)
		return -1;
	nf = le32dec(hdr + 32);
	np = le32dec(hdr + 36);
	n = le64dec(hdr + 40);
	nbad = le32dec(hdr + 48);
	if (n > (uint64_t)sb.st_size / IC_ENT || nf > (1u << 24) ||
	    np > (1u << 26) || nbad > (1u << 24) || le32dec(hdr + 52) != 0)
		return -1;
	need = IC_HDR + 16 * ((uint64_t)nf + np) + IC_BAD * (uint64_t)nbad +
	    n * IC_ENT + IC_MAC;
	if ((uint64_t)sb.st_size != need)
		return -1;
	if ((ic = ic_alloc(n)) == NULL ||
	    (buf = coffer_malloc((size_t)IC_BLOCK * IC_ENT)) == NULL ||
	    (fl = coffer_malloc(16 * (size_t)nf + 1)) == NULL ||
	    (bad = coffer_malloc(IC_BAD * (size_t)nbad + 1)) == NULL)
		goto out;
	hash_init(&hs, key, KEY_LEN);
	off = IC_HDR;
	if (nf > 0 && pread_full(fd, fl, 16 * (size_t)nf, (off_t)off) != 0)
		goto out;
	hash_update(&hs, fl, 16 * (size_t)nf);
	off += 16 * (uint64_t)nf;
	for (uint32_t i = 1; i < nf; i++)
		if (memcmp(fl + 16 * (i - 1), fl + 16 * i, 16) >= 0)
			goto out;
	if (nbad > 0 && pread_full(fd, bad, IC_BAD * (size_t)nbad,
	    (off_t)off) != 0)
		goto out;
	hash_update(&hs, bad, IC_BAD * (size_t)nbad);
	off += IC_BAD * (uint64_t)nbad;
	for (uint32_t i = 1; i < nbad; i++)
		if (memcmp(bad + IC_BAD * (i - 1), bad + IC_BAD * i, 16) >= 0)
			goto out;
	for (uint32_t done = 0; done < np;) {
		uint32_t k = np - done < IC_BLOCK ? np - done : IC_BLOCK, pidx;

		if (pread_full(fd, buf, 16 * (size_t)k, (off_t)off) != 0)
			goto out;
		hash_update(&hs, buf, 16 * (size_t)k);
		for (uint32_t i = 0; i < k; i++)
			if (pack_add(ks, buf + 16 * i, &pidx) != 0)
				goto out;
		off += 16 * (uint64_t)k;
		done += k;
	}
	ic->base = off;
	for (uint64_t done = 0; done < n;) {
		size_t k = n - done < IC_BLOCK ? (size_t)(n - done) : IC_BLOCK;

		if (pread_full(fd, buf, k * IC_ENT, (off_t)off) != 0)
			goto out;
		hash_update(&hs, buf, k * IC_ENT);
		for (size_t i = 0; i < k; i++)
			if (ic_index(ic, buf + i * IC_ENT, done + i, np, prev,
			    &last) != 0)
				goto out;
		off += k * IC_ENT;
		done += k;
	}
	ic_close(ic, n, last);
	hash_final(&hs, body);
	if (pread_full(fd, mac, IC_MAC, (off_t)off) != 0)
		goto out;
	hash_init(&hs, key, KEY_LEN);
	hash_update(&hs, hdr, IC_HDR);
	hash_update(&hs, body, sizeof(body));
	hash_final(&hs, want);
	if (!ct_equal(mac, want, IC_MAC))
		goto out;
	ic->files = fl;
	fl = NULL;
	ic->nfiles = nf;
	ic->bad = bad;
	bad = NULL;
	ic->nbad = nbad;
	*out = ic;
	ic = NULL;
	r = 0;
out:
	if (r != 0)
		ks->npacks = 0;
	idxcache_free(ic);
	coffer_free(buf);
	coffer_free(fl);
	coffer_free(bad);
	return r;
}

bool
idxcache_get(const struct idxcache *ic, int type, const uint8_t id[BLOB_ID_LEN],
    struct idx_entry *e, uint64_t *num)
{
	uint8_t buf[IC_SCAN_MAX * IC_ENT], key[IC_ENT];
	uint64_t bit[IC_BLOOM_K];
	uint32_t lo, hi, b, at = 0;

	bloom_bits(ic, id, bit);
	for (int j = 0; j < IC_BLOOM_K; j++)
		if ((ic->bloom[bit[j] >> 3] & (1u << (bit[j] & 7))) == 0)
			return false;
	memcpy(key, id, BLOB_ID_LEN);
	key[32] = (uint8_t)type;
	if (ic_memo.serial == ic->serial && ent_cmp(ic_memo.e, key) == 0) {
		ent_decode(ic_memo.e, e);
		if (num != NULL)
			*num = ic_memo.num;
		return true;
	}
	b = bucket_of(ic, id);
	lo = ic->bdir[b];
	hi = ic->bdir[b + 1];
	if (ic->map != NULL) {
		const uint8_t *ents = ic->map + ic->base;

		while (hi > lo) {
			uint32_t mid = lo + (hi - lo) / 2;
			const uint8_t *p = ents + (uint64_t)mid * IC_ENT;
			int c = ent_cmp(p, key);

			if (c == 0) {
				ent_decode(p, e);
				if (num != NULL)
					*num = mid;
				return true;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return false;
	}
	while (hi > lo) {
		uint32_t k = hi - lo <= IC_SCAN_MAX ? hi - lo : 1;

		at = k == 1 && hi - lo > IC_SCAN_MAX ? lo + (hi - lo) / 2 : lo;

		if (pread_full(ic->fd, buf, (size_t)k * IC_ENT,
		    (off_t)(ic->base + (uint64_t)at * IC_ENT)) != 0)
			return false;
		if (k == 1 && hi - lo > IC_SCAN_MAX) {
			int c = ent_cmp(buf, key);

			if (c == 0)
				break;
			if (c < 0)
				lo = at + 1;
			else
				hi = at;
			continue;
		}
		for (uint32_t i = 0; i < k; i++) {
			if (ent_cmp(buf + i * IC_ENT, key) == 0) {
				memcpy(ic_memo.e, buf + i * IC_ENT, IC_ENT);
				ic_memo.serial = ic->serial;
				ic_memo.num = (uint64_t)lo + i;
				ent_decode(ic_memo.e, e);
				if (num != NULL)
					*num = ic_memo.num;
				return true;
			}
		}
		return false;
	}
	if (hi <= lo)
		return false;
	memcpy(ic_memo.e, buf, IC_ENT);
	ic_memo.serial = ic->serial;
	ic_memo.num = at;
	ent_decode(buf, e);
	if (num != NULL)
		*num = at;
	return true;
}

int
idxcache_each(const struct idxcache *ic, idxcache_each_fn *fn, void *cookie)
{
	uint8_t *buf;
	int r = 0;

	if ((buf = coffer_malloc((size_t)IC_BLOCK * IC_ENT)) == NULL)
		return COFFER_ENOMEM;
	for (uint64_t done = 0; done < ic->n && r == 0;) {
		size_t k = ic->n - done < IC_BLOCK ? (size_t)(ic->n - done) :
		    IC_BLOCK;

		if (pread_full(ic->fd, buf, k * IC_ENT,
		    (off_t)(ic->base + done * IC_ENT)) != 0) {
			r = COFFER_EIO;
			break;
		}
		for (size_t i = 0; i < k && r == 0; i++) {
			struct idx_entry e;

			ent_decode(buf + i * IC_ENT, &e);
			r = fn(cookie, &e);
		}
		done += k;
	}
	coffer_free(buf);
	return r;
}

int
idxcache_each_in(const struct idxcache *ic, uint32_t lo, uint32_t hi,
    idxcache_num_fn *fn, void *cookie)
{
	uint8_t *buf;
	int r = 0;

	if ((buf = coffer_malloc((size_t)IC_BLOCK * IC_ENT)) == NULL)
		return COFFER_ENOMEM;
	for (uint64_t done = 0; done < ic->n && r == 0;) {
		size_t k = ic->n - done < IC_BLOCK ? (size_t)(ic->n - done) :
		    IC_BLOCK;

		if (pread_full(ic->fd, buf, k * IC_ENT,
		    (off_t)(ic->base + done * IC_ENT)) != 0) {
			r = COFFER_EIO;
			break;
		}
		for (size_t i = 0; i < k && r == 0; i++) {
			const uint8_t *p = buf + i * IC_ENT;
			uint32_t pack = le32dec(p + 33);
			struct idx_entry e;

			if (pack < lo || pack >= hi)
				continue;
			ent_decode(p, &e);
			r = fn(cookie, &e, done + i);
		}
		done += k;
	}
	coffer_free(buf);
	return r;
}

int
idxcache_find_sorted(const struct idxcache *ic, int type, const uint8_t *ids,
    size_t stride, size_t n, uint8_t *found, uint64_t *nums)
{
	struct idx_entry e;
	uint8_t *win = NULL, key[IC_ENT];
	uint64_t wlo = 0, whi = 0;	/* entries [wlo, whi) in win */

	if ((win = coffer_malloc((size_t)IC_MERGE * IC_ENT)) == NULL)
		return COFFER_ENOMEM;
	key[32] = (uint8_t)type;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *id = ids + i * stride;
		uint64_t bit[IC_BLOOM_K];
		uint32_t b, lo, hi;
		bool in = true;

		found[i] = 0;
		bloom_bits(ic, id, bit);
		for (int j = 0; j < IC_BLOOM_K && in; j++)
			in = (ic->bloom[bit[j] >> 3] & (1u << (bit[j] & 7))) != 0;
		if (!in)
			continue;
		b = bucket_of(ic, id);
		lo = ic->bdir[b];
		hi = ic->bdir[b + 1];
		if (hi - lo > IC_MERGE) {
			/* A bucket larger than the window: looked up alone. */
			found[i] = idxcache_get(ic, type, id, &e,
			    nums != NULL ? &nums[i] : NULL);
			continue;
		}
		if (lo < wlo || hi > whi) {
			/* Ids come sorted: the window only moves on. */
			whi = lo + IC_MERGE < ic->n ? lo + IC_MERGE : ic->n;
			wlo = lo;
			if (pread_full(ic->fd, win, (size_t)(whi - wlo) * IC_ENT,
			    (off_t)(ic->base + wlo * IC_ENT)) != 0) {
				coffer_free(win);
				return COFFER_EIO;
			}
		}
		memcpy(key, id, BLOB_ID_LEN);
		while (hi > lo) {
			uint32_t mid = lo + (hi - lo) / 2;
			int c = ent_cmp(win + (mid - wlo) * IC_ENT, key);

			if (c == 0) {
				found[i] = 1;
				if (nums != NULL)
					nums[i] = mid;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	coffer_free(win);
	return 0;
}

uint64_t
idxcache_count(const struct idxcache *ic)
{
	return ic->n;
}

/* ---- building ---- */

/* Entries, unsorted, go to a scratch file; then sorted in slices. */
struct icbuild {
	int		 fd;
	uint8_t		*buf;
	size_t		 blen;
	uint64_t	 n;
	bool		 fail;
};

static int
icb_flush(struct icbuild *b)
{
	if (b->blen > 0 && write_full(b->fd, b->buf, b->blen) != 0)
		b->fail = true;
	b->blen = 0;
	return b->fail ? -1 : 0;
}

static int
icb_add(struct keyset *ks, void *cookie, int type,
    const uint8_t id[BLOB_ID_LEN], const struct blob_loc *loc, bool bundled)
{
	struct icbuild *b = cookie;

	(void)ks;
	if (b->blen + IC_ENT > (size_t)IC_BLOCK * IC_ENT && icb_flush(b) != 0)
		return COFFER_EIO;
	ent_encode(b->buf + b->blen, type, id, loc, bundled);
	b->blen += IC_ENT;
	b->n++;
	return 0;
}

struct icrec {
	uint8_t		e[IC_ENT];
	uint32_t	seq;		/* first one met wins */
};

static int
rec_cmp(const void *a, const void *b)
{
	const struct icrec *x = a, *y = b;
	int c = ent_cmp(x->e, y->e);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A checked cache read in order, merged into a new one. */
struct icbase {
	const struct idxcache *ic;	/* NULL: none */
	uint8_t		*buf;		/* entries [at, at + have) */
	uint64_t	 at, next;
	size_t		 have;
	bool		 fail;
};

/* base_peek(bs): the next entry of the base, or NULL (end or error). */
static const uint8_t *
base_peek(struct icbase *bs)
{
	if (bs->ic == NULL || bs->fail || bs->next >= bs->ic->n)
		return NULL;
	if (bs->next >= bs->at + bs->have) {
		size_t m = bs->ic->n - bs->next < IC_MERGE ?
		    (size_t)(bs->ic->n - bs->next) : IC_MERGE;

		if (pread_full(bs->ic->fd, bs->buf, m * IC_ENT,
		    (off_t)(bs->ic->base + bs->next * IC_ENT)) != 0) {
			bs->fail = true;
			return NULL;
		}
		bs->at = bs->next;
		bs->have = m;
	}
	return bs->buf + (bs->next - bs->at) * IC_ENT;
}

/* Entries written out: buffered, hashed, indexed if ic is set. */
struct icout {
	int		 fd;
	struct hash_state hs;
	uint8_t		*buf;
	size_t		 len;
	uint64_t	 n;
	struct idxcache	*ic;		/* NULL: no tables made */
	uint64_t	 last;		/* ic_index */
	uint8_t		 prev[IC_ENT];
	uint32_t	 np;		/* packs written */
	bool		 fail;
};

static void
ico_flush(struct icout *o)
{
	if (o->len > 0 && write_full(o->fd, o->buf, o->len) != 0)
		o->fail = true;
	hash_update(&o->hs, o->buf, o->len);
	o->len = 0;
}

static void
ico_put(struct icout *o, const uint8_t *e)
{
	if (o->len + IC_ENT > (size_t)IC_MERGE * IC_ENT)
		ico_flush(o);
	memcpy(o->buf + o->len, e, IC_ENT);
	o->len += IC_ENT;
	if (o->ic != NULL &&
	    ic_index(o->ic, e, o->n, o->np, o->prev, &o->last) != 0)
		o->fail = true;
	o->n++;
}

/*
 * icb_write(ks, b, base, files, nfiles, bad, nbad, out, key): write the
 * cache to ${out}: header, file ids, the ${nbad} records of index files
 * that failed ${bad}, ks->packs, the entries of scratch file ${b}
 * sorted and without duplicates (in slices of IC_SORT_MEM by id prefix)
 * merged with those of the checked cache ${base} (may be NULL; its
 * entries win a tie), MAC.  With ${made} not NULL, *made gets the cache
 * as written, its filter and bucket table built from the entries as
 * they went out and checked as ic_verify checks them (no fd, files or
 * bad yet; the packs are ks->packs).
 */
static int
icb_write(struct keyset *ks, struct icbuild *b, const struct idxcache *base,
    const uint8_t *files, uint32_t nfiles, const uint8_t *bad, uint32_t nbad,
    int out, const uint8_t key[KEY_LEN], struct idxcache **made)
{
	struct hash_state hs;
	uint8_t hdr[IC_HDR], body[HASH_LEN], mac[IC_MAC];
	struct icrec *rec = NULL;
	size_t cap = 0;
	uint64_t slices, written = 0;
	uint8_t *obuf = NULL;
	struct icout o = { .fd = out };
	struct icbase bs = { .ic = base };
	int r = -1;

	if (made != NULL) {
		*made = NULL;
		if ((o.ic = ic_alloc(b->n + (base != NULL ? base->n : 0))) ==
		    NULL)
			goto out;
		o.np = ks->npacks;
	}
	if (icb_flush(b) != 0 ||
	    (obuf = coffer_malloc((size_t)IC_BLOCK * IC_ENT)) == NULL ||
	    (o.buf = coffer_malloc((size_t)IC_MERGE * IC_ENT)) == NULL ||
	    (bs.buf = coffer_malloc((size_t)IC_MERGE * IC_ENT)) == NULL)
		goto out;
	hash_init(&o.hs, key, KEY_LEN);
	if (lseek(out, IC_HDR, SEEK_SET) != IC_HDR)
		goto out;
	if (nfiles > 0 && write_full(out, files, 16 * (size_t)nfiles) != 0)
		goto out;
	hash_update(&o.hs, files, 16 * (size_t)nfiles);
	if (nbad > 0 && write_full(out, bad, IC_BAD * (size_t)nbad) != 0)
		goto out;
	hash_update(&o.hs, bad, IC_BAD * (size_t)nbad);
	for (uint32_t p = 0; p < ks->npacks; p++) {
		if (write_full(out, ks->packs[p].id, 16) != 0)
			goto out;
		hash_update(&o.hs, ks->packs[p].id, 16);
	}
	slices = b->n * sizeof(struct icrec) * 5 / 4 / IC_SORT_MEM + 1;
	for (uint64_t s = 0; s < slices; s++) {
		uint64_t lo = (s << 32) / slices, hi = ((s + 1) << 32) / slices;
		size_t k = 0;

		for (uint64_t done = 0; done < b->n;) {
			size_t m = b->n - done < IC_BLOCK ?
			    (size_t)(b->n - done) : IC_BLOCK;

			if (pread_full(b->fd, obuf, m * IC_ENT,
			    (off_t)(done * IC_ENT)) != 0)
				goto out;
			for (size_t i = 0; i < m; i++) {
				const uint8_t *p = obuf + i * IC_ENT;
				uint64_t pf = id_prefix(p);

				if (pf < lo || pf >= hi)
					continue;
				if (k == cap) {
					size_t nc = cap ? cap * 2 : 4096;
					struct icrec *nr = coffer_realloc(rec,
					    nc * sizeof(*nr));

					if (nr == NULL)
						goto out;
					rec = nr;
					cap = nc;
				}
				memcpy(rec[k].e, p, IC_ENT);
				rec[k].seq = (uint32_t)(done + i);
				k++;
			}
			done += m;
		}
		if (s + 1 == slices) {
			/* Not needed for the last merge: less memory held. */
			coffer_free(obuf);
			obuf = NULL;
		}
		if (k > 1)
			qsort(rec, k, sizeof(*rec), rec_cmp);
		/* Merge: the slice's new entries and the base's below hi. */
		for (size_t i = 0;;) {
			const uint8_t *bp = base_peek(&bs);
			bool bin = bp != NULL && id_prefix(bp) < hi;

			while (i > 0 && i < k &&
			    ent_cmp(rec[i - 1].e, rec[i].e) == 0)
				i++;
			if (!bin && i == k)
				break;
			if (bin && (i == k || ent_cmp(bp, rec[i].e) <= 0)) {
				if (i < k && ent_cmp(bp, rec[i].e) == 0)
					i++;
				ico_put(&o, bp);
				bs.next++;
			} else
				ico_put(&o, rec[i++].e);
		}
		if (bs.fail || o.fail)
			goto out;
	}
	ico_flush(&o);
	if (o.fail || (base != NULL && bs.next != base->n))
		goto out;
	written = o.n;
	hs = o.hs;
	hash_final(&hs, body);
	memcpy(hdr, IC_MAGIC, 8);
	memcpy(hdr + 8, ks->keyid, KEYID_LEN);
	memcpy(hdr + 16, ks->repo->id, REPO_ID_LEN);
	le32enc(hdr + 32, nfiles);
	le32enc(hdr + 36, ks->npacks);
	le64enc(hdr + 40, written);
	le32enc(hdr + 48, nbad);
	le32enc(hdr + 52, 0);
	hash_init(&hs, key, KEY_LEN);
	hash_update(&hs, hdr, IC_HDR);
	hash_update(&hs, body, sizeof(body));
	hash_final(&hs, mac);
	if (write_full(out, mac, IC_MAC) != 0 ||
	    pwrite(out, hdr, IC_HDR, 0) != IC_HDR)
		goto out;
	if (made != NULL) {
		ic_close(o.ic, written, o.last);
		o.ic->base = IC_HDR + 16 * ((uint64_t)nfiles + ks->npacks) +
		    IC_BAD * (uint64_t)nbad;
		*made = o.ic;
		o.ic = NULL;
	}
	r = 0;
out:
	idxcache_free(o.ic);
	coffer_free(rec);
	coffer_free(obuf);
	coffer_free(o.buf);
	coffer_free(bs.buf);
	return r;
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
id_cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/*
 * ic_sweep(dir, idhex): remove what a cache build killed midway left in
 * ${dir}: "<idhex>.index.<pid>.tmp" (and ".raw") of a process that no
 * longer exists.  A live process's files are its own, left alone.
 */
static void
ic_sweep(const char *dir, const char *idhex)
{
	char prefix[64];
	struct dirent *de;
	size_t plen;
	DIR *d;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s.index.", idhex);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *p = de->d_name + plen;
		char *end;
		long pid;

		if (strncmp(de->d_name, prefix, plen) != 0 || *p < '1' ||
		    *p > '9')
			continue;
		errno = 0;
		pid = strtol(p, &end, 10);
		if (errno != 0 || pid <= 0 || pid > INT32_MAX ||
		    (strcmp(end, ".tmp") != 0 && strcmp(end, ".raw") != 0) ||
		    pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/*
 * bad_record(ks, iid, rec): the record of index file ${iid} that failed
 * to load: its id, size and modification time (IC_BAD bytes), by which
 * the next command knows it unchanged without reading it.  -1 if it
 * cannot be looked at (then it is not remembered).
 */
static int
bad_record(struct keyset *ks, const uint8_t iid[16], uint8_t rec[IC_BAD])
{
	char path[64], hex[33];
	struct stat sb;

	hex_encode(hex, iid, 16);
	snprintf(path, sizeof(path), "index/%s", hex);
	if (fstatat(ks->dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(sb.st_mode))
		return -1;
	memcpy(rec, iid, 16);
	le64enc(rec + 16, (uint64_t)sb.st_size);
	le64enc(rec + 24, (uint64_t)sb.st_mtim.tv_sec * 1000000000u +
	    (uint64_t)sb.st_mtim.tv_nsec);
	return 0;
}

/*
 * bad_known(ks, ic, iid): the record of index file ${iid} in the cache
 * ${ic} if it failed to load when the cache was written and is
 * unchanged since (same size and modification time): it is noted as
 * failed again, not read again.  NULL otherwise.
 */
static const uint8_t *
bad_known(struct keyset *ks, const struct idxcache *ic, const uint8_t iid[16])
{
	const uint8_t *hit;
	uint8_t rec[IC_BAD];
	struct coffer_err e1 = { 0 };
	char hex[33];

	if (ic == NULL || ic->nbad == 0 || (hit = bsearch(iid, ic->bad,
	    ic->nbad, IC_BAD, id_cmp16)) == NULL ||
	    bad_record(ks, iid, rec) != 0 || memcmp(rec, hit, IC_BAD) != 0)
		return NULL;
	hex_encode(hex, iid, 16);
	coffer_err_set(&e1, COFFER_EFORMAT, "sets/%s/index/%s failed to "
	    "load and is unchanged since (remembered by the index cache)",
	    ks->idhex, hex);
	index_note_bad(ks, &e1);
	return hit;
}

/*
 * idxcache_load(ks, dir, fresh, &ic, err): open the cache of ${ks} in
 * ${dir}, checked, and bring it up to date with the card's index files
 * (merge new ones; rebuild if one it names is gone, or if it is not
 * valid).  With ${fresh} the cache there is not used but rebuilt from
 * every index file on the card (check: what it verifies is the card's
 * index as it is now, not what was merged from it earlier).
 * ks->packs gets its pack table; index files that do not load are
 * recorded as index_load does, and remembered in the cache with their
 * size and modification time: not read again while those stay (fresh
 * reads them all).  0; -1 if the cache cannot be had (the
 * caller loads the index into memory then, with ks->packs emptied);
 * COFFER_ENOMEM with ${err}.
 */
int
idxcache_load(struct keyset *ks, const char *dir, bool fresh,
    struct idxcache **out, struct coffer_err *err)
{
	char path[4200], tmp[4200], raw[4200];
	uint8_t key[KEY_LEN];
	struct idxcache *ic = NULL, *made = NULL;
	uint8_t *cached = NULL, *files = NULL, *bad = NULL;
	uint32_t ncached = 0, nfiles = 0, nbad = 0;
	char **names = NULL;
	size_t n = 0;
	struct icbuild b = { .fd = -1 };
	int fd = -1, ofd = -1, r = -1;
	bool vanished = false, stale = false;

	*out = NULL;
	ic_sweep(dir, ks->idhex);
	keyset_aux_key(ks, "cofidxc1", key);
	if (index_list(ks, &names, &n, err) != 0) {
		r = -1;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.index", dir, ks->idhex);
	if (!fresh &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1 &&
	    ic_verify(ks, fd, key, &ic) == 0) {
		cached = ic->files;
		ncached = ic->nfiles;
		for (uint32_t i = 0; i < ncached && !vanished; i++) {
			char hex[33];

			hex_encode(hex, cached + 16 * i, 16);
			/* No index file left: bsearch may not take NULL. */
			vanished = n == 0 || bsearch(&(const char *){ hex },
			    names, n, sizeof(*names), strp_cmp) == NULL;
		}
		/* Each other file on the card: new, or failed unchanged. */
		for (size_t i = 0; i < n && !vanished && !stale; i++) {
			uint8_t iid[16];

			stale = hex_decode(iid, names[i], 16) == 0 &&
			    (ncached == 0 || bsearch(iid, cached, ncached, 16,
			    id_cmp16) == NULL) &&
			    bad_known(ks, ic, iid) == NULL;
		}
		if (!vanished && !stale) {
			ic->fd = fd;
			fd = -1;
			ic_map(ic);
			*out = ic;
			ic = NULL;
			r = 0;
			goto out;
		}
	}
	/* Build: the old cache's entries (if still right), then new files. */
	ks->nbad_index = ks->nindex_errs = 0;	/* noted again below */
	if (vanished || ic == NULL) {
		idxcache_free(ic);
		ic = NULL;
		cached = NULL;
		ks->npacks = 0;
		ncached = 0;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		goto out;
	snprintf(raw, sizeof(raw), "%s/%s.index.%ld.raw", dir, ks->idhex,
	    (long)getpid());
	snprintf(tmp, sizeof(tmp), "%s/%s.index.%ld.tmp", dir, ks->idhex,
	    (long)getpid());
	if ((b.fd = open(raw, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		goto out;
	(void)unlink(raw);
	if ((b.buf = coffer_malloc((size_t)IC_BLOCK * IC_ENT)) == NULL ||
	    (files = coffer_malloc(16 * (n + ncached + 1))) == NULL ||
	    (bad = coffer_malloc(IC_BAD * (n + 1))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "index cache");
		goto out;
	}
	if (ic != NULL) {
		/* Merged in while writing (icb_write), as it is sorted. */
		ic->fd = fd;
		fd = -1;
		memcpy(files, cached, 16 * (size_t)ncached);
		nfiles = ncached;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t iid[16];
		const uint8_t *known;
		struct coffer_err e1 = { 0 };
		int r1;

		if (hex_decode(iid, names[i], 16) != 0 || (ic != NULL &&
		    ncached > 0 && bsearch(iid, cached, ncached, 16,
		    id_cmp16) != NULL))
			continue;
		if ((known = bad_known(ks, ic, iid)) != NULL) {
			memcpy(bad + IC_BAD * (size_t)nbad++, known, IC_BAD);
			continue;
		}
		r1 = index_load_file(ks, names[i], icb_add, &b, &e1);
		if (r1 == COFFER_ENOMEM) {
			*err = e1;
			r = r1;
			goto out;
		}
		if (b.fail)
			goto out;
		if (r1 != 0) {
			/* Remembered unless it may pass (a read error). */
			index_note_bad(ks, &e1);
			if (e1.code != COFFER_EIO && bad_record(ks, iid,
			    bad + IC_BAD * (size_t)nbad) == 0)
				nbad++;
			continue;
		}
		memcpy(files + 16 * (size_t)nfiles++, iid, 16);
	}
	qsort(files, nfiles, 16, id_cmp16);
	qsort(bad, nbad, IC_BAD, id_cmp16);
	if ((ofd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		goto out;
	/*
	 * Not read back: the tables come from the entries as they were
	 * written, checked as ic_verify checks them (type, pack, order),
	 * and the MAC from the same bytes.  Reading the file back would
	 * read the page cache this process just filled, not the disk, so
	 * it could only find what this function computed already; what the
	 * disk holds later is checked whole (MAC) by every open.
	 */
	if (icb_write(ks, &b, ic, files, nfiles, bad, nbad, ofd, key,
	    &made) != 0 || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		goto out;
	}
	made->fd = ofd;
	ofd = -1;
	made->files = files;
	files = NULL;
	made->nfiles = nfiles;
	made->bad = bad;
	bad = NULL;
	made->nbad = nbad;
	ic_map(made);
	*out = made;
	made = NULL;
	r = 0;
out:
	if (r != 0 && r != COFFER_ENOMEM)
		r = -1;
	if (r != 0)
		ks->npacks = 0;
	secret_wipe(key, sizeof(key));
	idxcache_free(ic);
	idxcache_free(made);
	if (fd != -1)
		close(fd);
	if (ofd != -1)
		close(ofd);
	if (b.fd != -1)
		close(b.fd);
	coffer_free(b.buf);
	coffer_free(files);
	coffer_free(bad);
	strlist_free(names, n);
	return r;
}

/*
 * idxcache_absorb(ks, dir, names, nnames, each): a backup wrote the
 * ${nnames} index files ${names} for what it stored so far: a new cache
 * of the entries of ks->ic and those ${each} gives (the ones in those
 * files), naming those files too, with ks->packs as it is (entries' pack numbers stay right),
 * replaces ks->ic.  The caller holds the index mutex and then drops
 * those entries from its table.  0, or -1 (nothing changed).
 */
int
idxcache_absorb(struct keyset *ks, const char *dir, char **names,
    size_t nnames, idxcache_feed_fn *each)
{
	char path[4200], tmp[4200], raw[4200];
	uint8_t key[KEY_LEN], iid[16];
	struct idxcache *old = ks->ic, *ic = NULL;
	bool added = false;
	struct icbuild b = { .fd = -1 };
	uint8_t *files = NULL, *bad = NULL;
	uint32_t nfiles;
	int ofd = -1, r = -1;

	if (old == NULL || nnames == 0)
		return -1;
	keyset_aux_key(ks, "cofidxc1", key);
	snprintf(path, sizeof(path), "%s/%s.index", dir, ks->idhex);
	snprintf(raw, sizeof(raw), "%s/%s.index.%ld.raw", dir, ks->idhex,
	    (long)getpid());
	snprintf(tmp, sizeof(tmp), "%s/%s.index.%ld.tmp", dir, ks->idhex,
	    (long)getpid());
	if ((files = coffer_malloc(16 * ((size_t)old->nfiles + nnames))) == NULL ||
	    (b.buf = coffer_malloc((size_t)IC_BLOCK * IC_ENT)) == NULL)
		goto out;
	if ((b.fd = open(raw, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		goto out;
	(void)unlink(raw);
	if (each(ks, icb_add, &b) != 0 || b.fail || icb_flush(&b) != 0)
		goto out;
	coffer_free(b.buf);	/* flushed: less memory held while merging */
	b.buf = NULL;
	if (old->nbad > 0 && (bad = coffer_malloc(IC_BAD *
	    (size_t)old->nbad)) == NULL)
		goto out;
	if (old->nbad > 0)
		memcpy(bad, old->bad, IC_BAD * (size_t)old->nbad);
	memcpy(files, old->files, 16 * (size_t)old->nfiles);
	nfiles = old->nfiles;
	for (size_t k = 0; k < nnames; k++) {
		if (hex_decode(iid, names[k], 16) != 0)
			goto out;
		if (bsearch(iid, files, old->nfiles, 16, id_cmp16) == NULL) {
			memcpy(files + 16 * (size_t)nfiles++, iid, 16);
			added = true;
		}
	}
	if (added)
		qsort(files, nfiles, 16, id_cmp16);
	if ((ofd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		goto out;
	/*
	 * Not read back, as in idxcache_load: the tables come from the
	 * entries as they were written (it names ks->packs as they are).
	 */
	if (icb_write(ks, &b, old, files, nfiles, old->bad, old->nbad, ofd,
	    key, &ic) != 0 ||
	    rename(tmp, path) != 0) {
		(void)unlink(tmp);
		goto out;
	}
	ic->fd = ofd;
	ofd = -1;
	ic->files = files;
	files = NULL;
	ic->nfiles = nfiles;
	ic->bad = bad;
	bad = NULL;
	ic->nbad = old->nbad;
	ic_map(ic);
	idxcache_free(old);
	ks->ic = ic;
	ic = NULL;
	r = 0;
out:
	secret_wipe(key, sizeof(key));
	idxcache_free(ic);
	if (ofd != -1)
		close(ofd);
	if (b.fd != -1)
		close(b.fd);
	coffer_free(b.buf);
	coffer_free(files);
	coffer_free(bad);
	return r;
}
