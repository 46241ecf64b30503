/* SPDX-License-Identifier: ISC */
/*
 * filecache: layout of a cache file (FORMAT.md §18.6):
 *   magic "CFCACHE2" | generation u64 | count u64 | entries | MAC[32]
 *   entry: dev u64 | ino u64 | size u64 | mtime_ns i64 | ctime_ns i64 |
 *          seen_gen u64 | seen_time i64 | iflags u32 |
 *          nchunks u32 | chunk ids[32]... |
 *          nxattrs u32 | (namelen u16 | name | vlen u32 | value)...
 * MAC = BLAKE2b-256 keyed by the cache key over everything before it.
 * ${generation} counts the backups that saved the cache; an entry's
 * ${seen_gen} and ${seen_time} say when a backup last met its file.
 * Version 1 ("CFCACHE1", no seen fields, no attributes) is dropped: the
 * next backup reads every file once and writes version 2.
 *
 * Neither side holds the whole file in memory, so the cache has no size
 * limit but the disk's: the old file is mapped, not read, and the new one
 * is written to "<name>.tmp" in pieces of CACHE_MAX bytes as the backup
 * goes; fcache_save() then fills in the count, computes the MAC over the
 * file in pieces and renames it into place.
 *
 * Of the old file, memory holds a hash table of (dev, ino), at most 4/5
 * full, of 8-byte slots (the entry's offset in the file, a "met" bit and
 * a tag of the hash, so that a probe rarely reads another entry): 10
 * bytes an entry.  An entry is parsed again from the mapping when it is
 * looked up, bounds checked as at load.  The mapped pages read are handed
 * back (MADV_DONTNEED) behind the MAC and the load and every DROP_EVERY
 * lookups: they are the page cache's, and would otherwise count as the
 * backup's memory, a whole cache file of it.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filecache.h"

#ifndef CACHE_MAX		/* -D smaller for the shrunk build (tests) */
#define CACHE_MAX	(4u << 20)	/* written out in pieces of this */
#endif
#define ENT_FIXED	68
#define XNAME_MAX	255
#ifndef DROP_EVERY
#define DROP_EVERY	4096	/* lookups between MADV_DONTNEED */
#endif
/* A slot: offset (40 bits: a cache file below 1 TiB) | met | tag (23). */
#define SLOT_OFF_BITS	40
#define SLOT_OFF_MASK	((UINT64_C(1) << SLOT_OFF_BITS) - 1)
#define SLOT_MET	(UINT64_C(1) << SLOT_OFF_BITS)
#define SLOT_TAG_SHIFT	(SLOT_OFF_BITS + 1)

static const char cache_magic[8] = "CFCACHE2";

struct fcache_ent {
	uint64_t	 dev, ino, size;
	int64_t		 mtime, ctime;
	uint64_t	 seen_gen;
	int64_t		 seen_time;
	uint32_t	 iflags;
	uint32_t	 n;
	const uint8_t	*chunks;
	uint32_t	 nx;
	const uint8_t	*xp;		/* the encoded attributes */
	size_t		 xlen;
	const uint8_t	*rec;		/* the whole entry, to keep it as is */
	size_t		 reclen;
	size_t		 slot;		/* its slot in the table */
};

struct fcache {
	char			*path;
	uint8_t			 key[KEY_LEN];
	uint8_t			*buf;		/* the old file, mapped */
	size_t			 buflen;
	size_t			 nold;		/* entries, one per (dev, ino) */
	uint64_t		*slots;		/* see SLOT_*; 0: empty */
	size_t			 nslots;	/* 1.25 times the entries */
	struct fcache_ent	 cur;		/* the entry last looked up */
	size_t			 nlookups;	/* since the last drop */
	uint64_t		 gen;		/* this backup's generation */
	int64_t			 now;
	struct wbuf		 out;		/* the new file's next piece */
	uint64_t		 nnew;
	char			*tmp;		/* the new file, "<path>.tmp" */
	int			 fd;		/* ${tmp}, or -1 */
	int			 dirfd;		/* the cache's folder, or -1 */
	const char		*name, *tmpname;	/* in it */
	int			 werr;		/* errno of the first failure */
};

/* parse_xattrs(rb, e): check and skip the attributes of ${e}. */
static bool
parse_xattrs(struct rbuf *rb, struct fcache_ent *e)
{
	e->nx = rbuf_u32(rb);
	if (!rbuf_ok(rb) || e->nx > rbuf_left(rb) / 7)
		return false;
	e->xp = rb->p + rb->off;
	for (uint32_t i = 0; i < e->nx; i++) {
		size_t nl = rbuf_u16(rb), vl;
		const uint8_t *name = rbuf_get(rb, nl);

		if (name == NULL || nl == 0 || nl > XNAME_MAX ||
		    memchr(name, 0, nl) != NULL)
			return false;
		if (rbuf_bytes32(rb, &vl, TREE_XATTR_MAX) == NULL)
			return false;
	}
	e->xlen = (size_t)(rb->p + rb->off - e->xp);
	return rbuf_ok(rb);
}

/* The hash of (dev, ino): the slot from its high half, the tag below. */
static uint64_t
hash_of(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino ^ (dev << 32 | dev >> 32);

	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static size_t
slot_of(const struct fcache *fc, uint64_t h)
{
	return (size_t)(((h >> 32) * (uint64_t)fc->nslots) >> 32);
}

static uint64_t
tag_of(uint64_t h)
{
	return (h & ((UINT64_C(1) << (64 - SLOT_TAG_SHIFT)) - 1)) <<
	    SLOT_TAG_SHIFT;
}

/*
 * drop(fc, from, to): hand back the mapped pages of [from, to) (whole
 * pages inside it); they are read again from the page cache if needed.
 */
static void
drop(struct fcache *fc, size_t from, size_t to)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	from = (from + pg - 1) / pg * pg;
	to = to / pg * pg;
	if (fc->buf != NULL && to > from)
		(void)madvise(fc->buf + from, to - from, MADV_DONTNEED);
}

/*
 * parse_at(fc, off, e): the entry at ${off} of the mapping, checked
 * against its bounds (its bytes are read again after the MAC was
 * checked); false if it does not parse.
 */
static bool
parse_at(const struct fcache *fc, size_t off, struct fcache_ent *e)
{
	struct rbuf rb;

	if (off < 24 || off >= fc->buflen - HASH_LEN)
		return false;
	rbuf_init(&rb, fc->buf + off, fc->buflen - HASH_LEN - off);
	e->rec = fc->buf + off;
	e->dev = rbuf_u64(&rb);
	e->ino = rbuf_u64(&rb);
	e->size = rbuf_u64(&rb);
	e->mtime = (int64_t)rbuf_u64(&rb);
	e->ctime = (int64_t)rbuf_u64(&rb);
	e->seen_gen = rbuf_u64(&rb);
	e->seen_time = (int64_t)rbuf_u64(&rb);
	e->iflags = rbuf_u32(&rb);
	e->n = rbuf_u32(&rb);
	if (!rbuf_ok(&rb) || e->n > rbuf_left(&rb) / BLOB_ID_LEN)
		return false;
	e->chunks = rbuf_get(&rb, (size_t)e->n * BLOB_ID_LEN);
	if (!parse_xattrs(&rb, e))
		return false;
	e->reclen = rb.off;
	return true;
}

/*
 * find(fc, dev, ino, e): the slot of (dev, ino) with its entry parsed
 * into ${e}, or (size_t)-1.
 */
static size_t
find(struct fcache *fc, uint64_t dev, uint64_t ino, struct fcache_ent *e)
{
	uint64_t h, tag;
	size_t k;

	if (fc == NULL || fc->nold == 0)
		return (size_t)-1;
	h = hash_of(dev, ino);
	tag = tag_of(h);
	for (k = slot_of(fc, h); fc->slots[k] != 0;
	    k = k + 1 == fc->nslots ? 0 : k + 1) {
		uint64_t v = fc->slots[k];

		if ((v & ~(SLOT_OFF_MASK | SLOT_MET)) != tag)
			continue;
		if (!parse_at(fc, (size_t)(v & SLOT_OFF_MASK), e))
			return (size_t)-1;
		if (e->ino == ino && e->dev == dev) {
			e->slot = k;
			return k;
		}
	}
	return (size_t)-1;
}

/*
 * insert(fc, e, off): hash the entry ${e} at ${off}; of two entries of
 * one (dev, ino), the one met last stays.
 */
static void
insert(struct fcache *fc, const struct fcache_ent *e, size_t off)
{
	struct fcache_ent o;
	size_t k;

	if ((k = find(fc, e->dev, e->ino, &o)) != (size_t)-1) {
		if (e->seen_gen > o.seen_gen)
			fc->slots[k] = (fc->slots[k] & ~SLOT_OFF_MASK) | off;
		return;
	}
	for (k = slot_of(fc, hash_of(e->dev, e->ino)); fc->slots[k] != 0;
	    k = k + 1 == fc->nslots ? 0 : k + 1)
		;
	fc->slots[k] = tag_of(hash_of(e->dev, e->ino)) | off;
	fc->nold++;
}

static void
load(struct fcache *fc)
{
	struct fcache_ent e;
	uint8_t mac[HASH_LEN];
	struct hash_state hs;
	struct rbuf rb;
	size_t len, off, done;
	uint64_t n, gen;

	{
		struct stat sb;
		void *m;
		int fd;

		if ((fd = open(fc->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) ==
		    -1)
			return;
		if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
		    sb.st_size < 24 + HASH_LEN ||
		    (uint64_t)sb.st_size > SLOT_OFF_MASK ||
		    (m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0)) == MAP_FAILED) {
			close(fd);
			return;
		}
		close(fd);
		fc->buf = m;
		len = fc->buflen = (size_t)sb.st_size;
	}
	if (memcmp(fc->buf, cache_magic, 8) != 0)
		goto bad;
	/* The MAC, a piece at a time, each piece handed back behind. */
	hash_init(&hs, fc->key, KEY_LEN);
	for (off = 0; off < len - HASH_LEN; off += done) {
		done = len - HASH_LEN - off < CACHE_MAX ? len - HASH_LEN - off :
		    CACHE_MAX;
		hash_update(&hs, fc->buf + off, done);
		drop(fc, off, off + done);
	}
	hash_final(&hs, mac);
	if (!ct_equal(mac, fc->buf + len - HASH_LEN, HASH_LEN))
		goto bad;
	rbuf_init(&rb, fc->buf + 8, 16);
	gen = rbuf_u64(&rb);
	n = rbuf_u64(&rb);
	if (n > (len - 24 - HASH_LEN) / ENT_FIXED || n > UINT32_MAX / 2 ||
	    gen == UINT64_MAX)
		goto bad;
	fc->nslots = (size_t)(n + n / 4 + 64);
	if ((fc->slots = coffer_calloc(fc->nslots, sizeof(*fc->slots))) ==
	    NULL)
		goto bad;
	/* Every entry, checked; then the file must end with the last. */
	done = off = 24;
	for (uint64_t i = 0; i < n; i++) {
		if (!parse_at(fc, off, &e) || e.seen_gen > gen)
			goto bad;
		insert(fc, &e, off);
		off += e.reclen;
		if (off - done >= CACHE_MAX) {
			drop(fc, done, off);
			done = off;
		}
		if (i + 1 == n && off != len - HASH_LEN)
			goto bad;
	}
	if (n == 0 && len != 24 + HASH_LEN)
		goto bad;
	drop(fc, 0, len);
	fc->gen = gen + 1;
	return;
bad:
	/* Damaged, forged or old: start afresh (files are read again). */
	fc->nold = 0;
	fc->gen = 1;
	coffer_free(fc->slots);
	fc->slots = NULL;
	fc->nslots = 0;
}

/*
 * start_tmp(fc): create the new file "<path>.tmp" (a leftover of a
 * backup that stopped is replaced).  On failure ${werr} says why and
 * nothing more is gathered; fcache_save() reports it.
 */
static void
start_tmp(struct fcache *fc)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", fc->path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		fc->werr = EINVAL;
		return;
	}
	*slash = '\0';
	/*
	 * The folder is opened once (the keystore's, as the loader takes
	 * it); the new file is made, renamed and removed in it by name,
	 * never following a link there.
	 */
	if (mkdirat_p(AT_FDCWD, dir, 0700) != 0 || (fc->dirfd = open(dir,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fc->werr = errno;
		return;
	}
	(void)unlinkat(fc->dirfd, fc->tmpname, 0);
	if ((fc->fd = openat(fc->dirfd, fc->tmpname, O_RDWR | O_CREAT |
	    O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		fc->werr = errno;
}

/* spill(fc, all): write out the piece once it reaches CACHE_MAX. */
static void
spill(struct fcache *fc, bool all)
{
	if (fc->out.oom && fc->werr == 0)
		fc->werr = ENOMEM;
	if (fc->werr != 0) {
		wbuf_reset(&fc->out);
		fc->out.oom = false;
		return;
	}
	if (fc->out.len == 0 || (!all && fc->out.len < CACHE_MAX))
		return;
	if (write_full(fc->fd, fc->out.p, fc->out.len) != 0)
		fc->werr = errno != 0 ? errno : EIO;
	wbuf_reset(&fc->out);
}

int
fcache_open(const char *path, const uint8_t key[KEY_LEN], struct fcache **out)
{
	struct fcache *fc;
	size_t plen = strlen(path);

	*out = NULL;
	if ((fc = coffer_calloc(1, sizeof(*fc))) == NULL)
		return COFFER_ENOMEM;
	fc->fd = -1;
	fc->dirfd = -1;
	if ((fc->path = coffer_strdup(path)) == NULL ||
	    (fc->tmp = coffer_malloc(plen + 5)) == NULL) {
		fcache_free(fc);
		return COFFER_ENOMEM;
	}
	memcpy(fc->tmp, path, plen);
	memcpy(fc->tmp + plen, ".tmp", 5);
	fc->name = strrchr(fc->path, '/') ? strrchr(fc->path, '/') + 1 :
	    fc->path;
	fc->tmpname = fc->tmp + (fc->name - fc->path);
	memcpy(fc->key, key, KEY_LEN);
	fc->gen = 1;
	fc->now = (int64_t)time(NULL);
	load(fc);
	/* A piece may pass CACHE_MAX by one entry (a file of many chunks). */
	wbuf_init(&fc->out, SIZE_MAX / 4);
	if (wbuf_reserve(&fc->out, CACHE_MAX + 4096) != 0) {
		fcache_free(fc);
		return COFFER_ENOMEM;
	}
	start_tmp(fc);
	wbuf_put(&fc->out, cache_magic, 8);
	wbuf_u64(&fc->out, fc->gen);
	wbuf_u64(&fc->out, 0);		/* count, filled in by save */
	*out = fc;
	return 0;
}

void
fcache_free(struct fcache *fc)
{
	if (fc == NULL)
		return;
	secret_wipe(fc->key, sizeof(fc->key));
	if (fc->fd != -1) {
		/* Not saved: the old cache stays as it was. */
		close(fc->fd);
		(void)unlinkat(fc->dirfd, fc->tmpname, 0);
	}
	if (fc->dirfd != -1)
		close(fc->dirfd);
	coffer_free(fc->path);
	coffer_free(fc->tmp);
	if (fc->buf != NULL)
		munmap(fc->buf, fc->buflen);
	coffer_free(fc->slots);
	wbuf_release(&fc->out);
	coffer_free(fc);
}

const struct fcache_ent *
fcache_lookup(struct fcache *fc, uint64_t dev, uint64_t ino, uint64_t size,
    int64_t mtime, int64_t ctime)
{
	struct fcache_ent *e = fc != NULL ? &fc->cur : NULL;
	size_t k;

	if (fc != NULL && ++fc->nlookups >= DROP_EVERY) {
		drop(fc, 0, fc->buflen);
		fc->nlookups = 0;
	}
	if ((k = find(fc, dev, ino, e)) == (size_t)-1)
		return NULL;
	/* Met: re-added below if it is still worth caching, else dropped. */
	fc->slots[k] |= SLOT_MET;
	if (e->size != size || e->mtime != mtime || e->ctime != ctime)
		return NULL;
	return e;
}

const uint8_t *
fcache_chunks(const struct fcache_ent *fe, size_t *n)
{
	*n = fe->n;
	return fe->chunks;
}

int
fcache_fill(const struct fcache_ent *fe, struct tree_entry *e)
{
	struct rbuf rb;

	e->size = fe->size;
	e->iflags = fe->iflags;
	if (fe->n > 0) {
		if ((e->chunks = coffer_malloc((size_t)fe->n *
		    BLOB_ID_LEN)) == NULL)
			return COFFER_ENOMEM;
		memcpy(e->chunks, fe->chunks, (size_t)fe->n * BLOB_ID_LEN);
	}
	e->nchunks = fe->n;
	if (fe->nx == 0)
		return 0;
	if ((e->xattrs = coffer_calloc(fe->nx, sizeof(*e->xattrs))) == NULL)
		return COFFER_ENOMEM;
	/* Checked by load(). */
	rbuf_init(&rb, fe->xp, fe->xlen);
	for (uint32_t i = 0; i < fe->nx; i++) {
		struct xattr *x = &e->xattrs[i];
		size_t nl = rbuf_u16(&rb), vl;
		const uint8_t *name = rbuf_get(&rb, nl), *val;

		val = rbuf_bytes32(&rb, &vl, TREE_XATTR_MAX);
		if ((x->name = coffer_malloc(nl + 1)) == NULL ||
		    (x->value = coffer_malloc(vl + 1)) == NULL) {
			coffer_free(x->name);
			x->name = NULL;
			return COFFER_ENOMEM;
		}
		memcpy(x->name, name, nl);
		x->name[nl] = '\0';
		if (vl > 0)
			memcpy(x->value, val, vl);
		x->vlen = vl;
		e->nxattrs++;
	}
	return 0;
}

void
fcache_keep(struct fcache *fc, const struct fcache_ent *fe)
{
	size_t at = fc->out.len;

	wbuf_put(&fc->out, fe->rec, fe->reclen);
	if (fc->out.oom)
		return;
	/* seen_gen and seen_time follow the five stat fields. */
	le64enc(fc->out.p + at + 40, fc->gen);
	le64enc(fc->out.p + at + 48, (uint64_t)fc->now);
	fc->nnew++;
	spill(fc, false);
}

bool
fcache_known(struct fcache *fc, uint64_t dev, uint64_t ino)
{
	struct fcache_ent e;

	return find(fc, dev, ino, &e) != (size_t)-1;
}

void
fcache_add(struct fcache *fc, uint64_t dev, uint64_t ino, int64_t mtime,
    int64_t ctime, const struct tree_entry *e)
{
	if (fc == NULL)
		return;
	/* What load() would refuse is not written: the file is read again. */
	for (size_t i = 0; i < e->nxattrs; i++) {
		size_t nl = strlen(e->xattrs[i].name);

		if (nl == 0 || nl > XNAME_MAX ||
		    e->xattrs[i].vlen > TREE_XATTR_MAX)
			return;
	}
	wbuf_u64(&fc->out, dev);
	wbuf_u64(&fc->out, ino);
	wbuf_u64(&fc->out, e->size);
	wbuf_u64(&fc->out, (uint64_t)mtime);
	wbuf_u64(&fc->out, (uint64_t)ctime);
	wbuf_u64(&fc->out, fc->gen);
	wbuf_u64(&fc->out, (uint64_t)fc->now);
	wbuf_u32(&fc->out, e->iflags);
	wbuf_u32(&fc->out, (uint32_t)e->nchunks);
	if (e->nchunks > 0)
		wbuf_put(&fc->out, e->chunks, e->nchunks * BLOB_ID_LEN);
	wbuf_u32(&fc->out, (uint32_t)e->nxattrs);
	for (size_t i = 0; i < e->nxattrs; i++) {
		size_t nl = strlen(e->xattrs[i].name);

		wbuf_u16(&fc->out, (uint16_t)nl);
		wbuf_put(&fc->out, e->xattrs[i].name, nl);
		wbuf_bytes32(&fc->out, e->xattrs[i].value, e->xattrs[i].vlen);
	}
	fc->nnew++;
	spill(fc, false);
}

/* evicted(fc, e): not met for FCACHE_KEEP_BACKUPS backups and days. */
static bool
evicted(const struct fcache *fc, const struct fcache_ent *e)
{
	return fc->gen - e->seen_gen >= FCACHE_KEEP_BACKUPS &&
	    fc->now - e->seen_time >= (int64_t)FCACHE_KEEP_DAYS * 86400;
}

/*
 * seal(fc, err): the whole new file is in ${tmp}: fill in the count, add
 * the MAC (computed reading the file back in pieces) and make it durable.
 */
static int
seal(struct fcache *fc, struct coffer_err *err)
{
	struct hash_state hs;
	uint8_t cnt[8], mac[HASH_LEN];
	off_t off = 0;
	ssize_t n;

	le64enc(cnt, fc->nnew);
	if (pwrite(fc->fd, cnt, sizeof(cnt), 16) != (ssize_t)sizeof(cnt))
		goto fail;
	wbuf_reset(&fc->out);
	hash_init(&hs, fc->key, KEY_LEN);
	while ((n = pread(fc->fd, fc->out.p, CACHE_MAX, off)) > 0) {
		hash_update(&hs, fc->out.p, (size_t)n);
		off += n;
	}
	hash_final(&hs, mac);
	if (n < 0 || pwrite(fc->fd, mac, sizeof(mac), off) !=
	    (ssize_t)sizeof(mac) || fsync(fc->fd) != 0)
		goto fail;
	return 0;
fail:
	return coffer_err_sys(err, "cannot write '%s'", fc->tmp);
}

int
fcache_save(struct fcache *fc, struct coffer_err *err)
{
	int r;

	/* Entries of files this backup did not meet, unless due to go. */
	for (size_t k = 0; k < fc->nslots && fc->werr == 0; k++) {
		uint64_t v = fc->slots[k];
		struct fcache_ent e;

		if (v == 0 || (v & SLOT_MET) != 0 ||
		    !parse_at(fc, (size_t)(v & SLOT_OFF_MASK), &e) ||
		    evicted(fc, &e))
			continue;
		wbuf_put(&fc->out, e.rec, e.reclen);
		fc->nnew++;
		spill(fc, false);
		if (k % DROP_EVERY == 0)
			drop(fc, 0, fc->buflen);
	}
	spill(fc, true);
	if (fc->werr != 0) {
		errno = fc->werr;
		return coffer_err_sys(err, "cannot write '%s'", fc->tmp);
	}
	if ((r = seal(fc, err)) != 0)
		return r;
	close(fc->fd);
	fc->fd = -1;
	if (renameat(fc->dirfd, fc->tmpname, fc->dirfd, fc->name) != 0) {
		r = coffer_err_sys(err, "cannot rename '%s' into place",
		    fc->tmp);
		(void)unlinkat(fc->dirfd, fc->tmpname, 0);
		return r;
	}
	return 0;
}
