/* SPDX-License-Identifier: ISC */
/*
 * keyset: one key set on the card, opened with its data key.
 *
 * Subkeys come from the data key with crypto_kdf in context "cofferdk":
 * 1 = object encryption, 2 = blob-id hashing, 3 = chunker gear table.
 * The key id is BLAKE2b-keyed(DK, "coffer key id v1") cut to 8 bytes, so
 * the same data key always finds the same set and the id reveals nothing
 * of the key.
 *
 * Each set starts with a keyinfo (lib/repo/keyinfo.c) that records its
 * scope, custody and recovery slots, authenticated under the data key.
 */
#define _GNU_SOURCE	/* sync_file_range */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo.h"
#include "repo_internal.h"
#include "keyinfo.h"
#include "sealer.h"
#include "rfs.h"
#include "../compress/compress.h"

#ifndef INDEX_MAX		/* -D smaller for the shrunk build (tests) */
#define INDEX_MAX		(256u << 20)	/* one index file, sealed */
#endif
/*
 * With the index cache, a backup moves what it wrote into it (through an
 * index file) once its table holds this many entries, or a sixteenth of
 * the cache's if more: its memory stays bounded, the rewrites few.
 * 131,072 entries: a table of 16 MiB (24 while it grows), the largest
 * term left in a backup's memory (262,144 took 50 MiB).
 */
#ifndef ABSORB_MIN
#define ABSORB_MIN		131072
#endif
#define CHUNK_MIN		(256u << 10)
#define CHUNK_AVG		(1u << 20)
#define CHUNK_MAX		(4u << 20)
#ifndef ZSTD_LEVEL		/* -D for measurements (PERFORMANCE.md) */
#define ZSTD_LEVEL		1	/* blobs of 256 KiB and more */
#endif
#ifndef BUNDLE_LEVEL
#define BUNDLE_LEVEL		1	/* bundles of small data blobs */
#endif

/* Version 2 files may hold bundles (FORMAT.md §7.1); 1 is still read. */
static const char index_magic[MAGIC_LEN] = "CFINDX02";
static const char index_magic1[MAGIC_LEN] = "CFINDX01";
static const char pack_magic[MAGIC_LEN] = "CFPACK02";
static const char packend_magic[MAGIC_LEN] = "CFPKEND1";

size_t
ad_build(uint8_t ad[AD_LEN], const struct adbind *b, int type,
    const uint8_t *id, size_t idlen)
{
	memset(ad, 0, AD_LEN);
	ad[0] = b->repo ? 2 : 1;
	ad[1] = (uint8_t)type;
	memcpy(ad + 2, b->keyid, KEYID_LEN);
	if (idlen > BLOB_ID_LEN)
		idlen = BLOB_ID_LEN;
	memcpy(ad + 2 + KEYID_LEN, id, idlen);
	if (!b->repo)
		return AD_LEN_V1;
	memcpy(ad + AD_LEN_V1, b->repoid, REPO_ID_LEN);
	return AD_LEN;
}

void
keyset_keyid(const uint8_t dk[KEY_LEN], uint8_t keyid[KEYID_LEN])
{
	static const char label[] = "coffer key id v1";
	uint8_t h[HASH_LEN];

	hash_keyed(h, dk, label, sizeof(label) - 1);
	memcpy(keyid, h, KEYID_LEN);
}

void
pack_path(const uint8_t id[PACK_ID_LEN], char out[64])
{
	char hex[2 * PACK_ID_LEN + 1];

	hex_encode(hex, id, PACK_ID_LEN);
	snprintf(out, 64, "packs/%.2s/%s", hex, hex);
}

/* ---- the in-memory index ---- */

static size_t
idx_hash(int type, const uint8_t id[BLOB_ID_LEN])
{
	/* Ids are keyed hashes: their bytes are already uniform. */
	return (size_t)(le64dec(id) ^ (uint64_t)type * 0x9e3779b97f4a7c15ull);
}

/* A hit in the index cache: copied here, one per thread. */
static _Thread_local struct idx_entry ic_hit;

struct idx_entry *
idx_find_tab(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN])
{
	size_t mask, i;

	if (ks->tabcap == 0)
		return NULL;
	mask = ks->tabcap - 1;
	for (i = idx_hash(type, id) & mask; ks->tab[i].type != 0;
	    i = (i + 1) & mask) {
		if (ks->tab[i].type == type &&
		    memcmp(ks->tab[i].id, id, BLOB_ID_LEN) == 0)
			return &ks->tab[i];
	}
	return NULL;
}

struct idx_entry *
idx_find(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN])
{
	struct idx_entry *e;

	if ((e = idx_find_tab(ks, type, id)) != NULL)
		return e;
	if (ks->ic != NULL && idxcache_get(ks->ic, type, id, &ic_hit, NULL) &&
	    ic_hit.loc.pack < ks->npacks)
		return &ic_hit;
	return NULL;
}

static int
idx_grow(struct keyset *ks)
{
	struct idx_entry *old = ks->tab, *nt;
	size_t oldcap = ks->tabcap;
	size_t ncap = oldcap ? oldcap * 2 : 4096;
	size_t mask = ncap - 1;

	if ((nt = coffer_calloc(ncap, sizeof(*nt))) == NULL)
		return COFFER_ENOMEM;
	for (size_t j = 0; j < oldcap; j++) {
		size_t i;

		if (old[j].type == 0)
			continue;
		for (i = idx_hash(old[j].type, old[j].id) & mask;
		    nt[i].type != 0; i = (i + 1) & mask)
			;
		nt[i] = old[j];
	}
	coffer_free(old);
	ks->tab = nt;
	ks->tabcap = ncap;
	return 0;
}

/* tab_put(ks, e): a new entry in the table (not there yet). */
static struct idx_entry *
tab_put(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const struct blob_loc *loc, bool bundled)
{
	size_t mask, i;

	if ((ks->tabn + 1) * 10 > ks->tabcap * 7 && idx_grow(ks) != 0)
		return NULL;
	mask = ks->tabcap - 1;
	for (i = idx_hash(type, id) & mask; ks->tab[i].type != 0;
	    i = (i + 1) & mask)
		;
	memcpy(ks->tab[i].id, id, BLOB_ID_LEN);
	ks->tab[i].type = (uint8_t)type;
	ks->tab[i].bundled = bundled;
	ks->tab[i].loc = *loc;
	ks->tabn++;
	return &ks->tab[i];
}

int
idx_insert(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const struct blob_loc *loc, bool bundled)
{
	if (idx_find(ks, type, id) != NULL)
		return 0;
	return tab_put(ks, type, id, loc, bundled) == NULL ? COFFER_ENOMEM : 0;
}

struct idx_entry *
idx_override(struct keyset *ks, const struct idx_entry *e)
{
	struct idx_entry *t;

	if ((t = idx_find_tab(ks, e->type, e->id)) != NULL)
		return t;
	if ((t = tab_put(ks, e->type, e->id, &e->loc, e->bundled)) != NULL)
		t->used = e->used;
	return t;
}

int
pack_add(struct keyset *ks, const uint8_t id[PACK_ID_LEN], uint32_t *idx)
{
	struct pack_ref *np;

	if (ks->npacks == ks->packcap) {
		uint32_t ncap = ks->packcap ? ks->packcap * 2 : 64;

		if ((np = coffer_realloc(ks->packs, ncap * sizeof(*np))) == NULL)
			return COFFER_ENOMEM;
		ks->packs = np;
		ks->packcap = ncap;
	}
	memcpy(ks->packs[ks->npacks].id, id, PACK_ID_LEN);
	ks->packs[ks->npacks].unindexed = false;
	*idx = ks->npacks++;
	return 0;
}

/* ---- object framing ---- */

int
obj_seal(struct keyset *ks, const char magic[MAGIC_LEN], int type,
    const uint8_t *id, size_t idlen, const uint8_t *plain, size_t len,
    uint8_t **out, size_t *outlen, struct coffer_err *err)
{
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint8_t *buf;

	*out = NULL;
	if ((buf = coffer_malloc(MAGIC_LEN + len + AEAD_OVERHEAD)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "sealing object");
	memcpy(buf, magic, MAGIC_LEN);
	adlen = ad_build(ad, &ks->ab, type, id, idlen);
	aead_seal(buf + MAGIC_LEN, plain, len, ad, adlen, KS_ENC(ks));
	*out = buf;
	*outlen = MAGIC_LEN + len + AEAD_OVERHEAD;
	return 0;
}

int
obj_open(struct keyset *ks, const char magic[MAGIC_LEN], int type,
    const uint8_t *id, size_t idlen, const uint8_t *in, size_t inlen,
    uint8_t **out, size_t *outlen, const char *label, struct coffer_err *err)
{
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint8_t *buf;

	*out = NULL;
	*outlen = 0;
	if (inlen < MAGIC_LEN + AEAD_OVERHEAD ||
	    memcmp(in, magic, MAGIC_LEN) != 0)
		return coffer_err_set(err, COFFER_EFORMAT,
		    "'%s' is damaged (bad header or too short)", label);
	if ((buf = coffer_malloc(inlen - MAGIC_LEN - AEAD_OVERHEAD + 1)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "opening '%s'", label);
	adlen = ad_build(ad, &ks->ab, type, id, idlen);
	if (aead_open(buf, in + MAGIC_LEN, inlen - MAGIC_LEN, ad, adlen,
	    KS_ENC(ks)) != 0) {
		coffer_free(buf);
		return coffer_err_set(err, COFFER_EAUTH, "'%s' failed "
		    "authentication: damaged, edited, or moved from "
		    "elsewhere", label);
	}
	*out = buf;
	*outlen = inlen - MAGIC_LEN - AEAD_OVERHEAD;
	return 0;
}

/* ---- index files ---- */

static bool
is_hex32(const char *s)
{
	return rfs_is_hex(s, 32);
}

bool
entry_read(struct rbuf *rb, uint32_t pidx, bool v2, int *type,
    uint8_t id[BLOB_ID_LEN], struct blob_loc *loc, bool *bundled)
{
	uint8_t t = rbuf_u8(rb);

	rbuf_copy(rb, id, BLOB_ID_LEN);
	loc->pack = pidx;
	loc->offset = rbuf_u64(rb);
	loc->clen = rbuf_u32(rb);
	loc->rawlen = rbuf_u32(rb);
	*bundled = (t & ENTRY_BUNDLED) != 0;
	*type = t & ~ENTRY_BUNDLED;
	if (!rbuf_ok(rb) || (*type != OBJ_DATA && *type != OBJ_TREE) ||
	    loc->rawlen > BLOB_MAX)
		return false;
	if (*bundled && (!v2 || loc->clen < AEAD_OVERHEAD + BUNDLE_HDR +
	    BUNDLE_ENTRY))
		return false;
	return true;
}

static int
sink_insert(struct keyset *ks, void *cookie, int type,
    const uint8_t id[BLOB_ID_LEN], const struct blob_loc *loc, bool bundled)
{
	(void)cookie;
	return idx_insert(ks, type, id, loc, bundled);
}

int
index_load_file(struct keyset *ks, const char *name, index_sink_fn *sink,
    void *cookie, struct coffer_err *err)
{
	char label[128], path[64];
	uint8_t iid[16];
	uint8_t *file = NULL, *plain = NULL;
	size_t len, plen;
	struct rbuf rb;
	uint32_t npk;
	bool v2;
	int r;

	snprintf(label, sizeof(label), "sets/%s/index/%s", ks->idhex, name);
	snprintf(path, sizeof(path), "index/%s", name);
	if (hex_decode(iid, name, sizeof(iid)) != 0)
		return 0;
	if ((r = rfs_read(ks->dirfd, path, label, INDEX_MAX, &file, &len,
	    err)) != 0)
		goto out;
	v2 = len >= MAGIC_LEN && memcmp(file, index_magic, MAGIC_LEN) == 0;
	if ((r = obj_open(ks, v2 ? index_magic : index_magic1, OBJ_INDEX, iid,
	    sizeof(iid), file, len, &plain, &plen, label, err)) != 0)
		goto out;
	/*
	 * Two passes over the authenticated plaintext: the first checks all
	 * of it, the second hands its packs and entries on.  An authentic
	 * file with a bad layout (a writer's bug) then adds nothing: no
	 * entry of its good head reaches a cache build or the table.
	 */
	for (int pass = 0; pass < 2; pass++) {
		rbuf_init(&rb, plain, plen);
		npk = rbuf_u32(&rb);
		for (uint32_t p = 0; p < npk && rbuf_ok(&rb); p++) {
			uint8_t pid[PACK_ID_LEN];
			uint32_t pidx = 0, nb;

			rbuf_copy(&rb, pid, sizeof(pid));
			nb = rbuf_u32(&rb);
			if (!rbuf_ok(&rb))
				break;
			if (pass == 1 && (r = pack_add(ks, pid, &pidx)) != 0)
				goto oom;
			for (uint32_t b = 0; b < nb && rbuf_ok(&rb); b++) {
				struct blob_loc loc;
				uint8_t id[BLOB_ID_LEN];
				int type;
				bool bundled;

				if (!entry_read(&rb, pidx, v2, &type, id, &loc,
				    &bundled)) {
					rb.bad = true;
					break;
				}
				if (pass == 1 && (r = sink(ks, cookie, type,
				    id, &loc, bundled)) != 0)
					goto oom;
			}
		}
		if (!rbuf_ok(&rb) || rbuf_left(&rb) != 0) {
			r = coffer_err_set(err, COFFER_EFORMAT, "'%s' is "
			    "damaged (bad layout)", label);
			goto out;
		}
	}
	r = 0;
	goto out;
oom:
	r = coffer_err_set(err, COFFER_ENOMEM, "loading '%s'", label);
out:
	coffer_free(file);
	coffer_free(plain);
	return r;
}

int
index_list(struct keyset *ks, char ***names, size_t *n,
    struct coffer_err *err)
{
	char label[128];

	SET_LABEL(label, ks->idhex, "index");
	return dir_list(ks->dirfd, "index", label, is_hex32, names, n, err);
}

void
index_note_bad(struct keyset *ks, const struct coffer_err *e)
{
	struct coffer_err *ne = coffer_realloc(ks->index_errs,
	    (ks->nindex_errs + 1) * sizeof(*ne));

	/* Keep going: check reports it, restore finds what it can. */
	ks->nbad_index++;
	if (ne != NULL) {
		ks->index_errs = ne;
		ks->index_errs[ks->nindex_errs++] = *e;
	}
}

static int
index_load(struct keyset *ks, struct coffer_err *err)
{
	char **names = NULL;
	size_t n = 0;
	int r;

	if ((r = index_list(ks, &names, &n, err)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct coffer_err e1 = { 0 };

		if ((r = index_load_file(ks, names[i], sink_insert, NULL,
		    &e1)) != 0) {
			if (r == COFFER_ENOMEM) {
				*err = e1;
				goto out;
			}
			index_note_bad(ks, &e1);
		}
	}
	r = 0;
out:
	strlist_free(names, n);
	return r;
}

static int
idx_fail(struct keyset *ks, int r, struct coffer_err *err)
{
	ks->ixstate = IDX_FAILED;
	ks->ixerr_code = r;
	snprintf(ks->ixerr_msg, sizeof(ks->ixerr_msg), "%s",
	    err != NULL && err->msg[0] != '\0' ? err->msg :
	    "loading the index");
	return r;
}

static void
idx_reset(struct keyset *ks)
{
	coffer_free(ks->tab);
	ks->tab = NULL;
	ks->tabcap = ks->tabn = 0;
	ks->npacks = 0;
	ks->nbad_index = ks->nindex_errs = 0;
}

static int
idx_load(struct keyset *ks, bool fresh, struct coffer_err *err)
{
	struct coffer_err e1 = { 0 };
	int r;

	switch (ks->ixstate) {
	case IDX_CACHED:
	case IDX_FULL:
		return 0;
	case IDX_FAILED:
		return coffer_err_set(err, ks->ixerr_code, "%s",
		    ks->ixerr_msg);
	default:
		break;
	}
	if (ks->repo->cachedir != NULL) {
		r = idxcache_load(ks, ks->repo->cachedir, fresh, &ks->ic,
		    &e1);
		if (r == 0) {
			ks->ixstate = IDX_CACHED;
			return 0;
		}
		if (r == COFFER_ENOMEM) {
			if (err != NULL)
				*err = e1;
			return idx_fail(ks, r, &e1);
		}
		/* No cache to be had here: the index in memory, as before. */
		idx_reset(ks);
	}
	if ((r = index_load(ks, &e1)) != 0) {
		if (err != NULL)
			*err = e1;
		return idx_fail(ks, r, &e1);
	}
	ks->ixstate = IDX_FULL;
	return 0;
}

int
idx_ready(struct keyset *ks, struct coffer_err *err)
{
	return idx_load(ks, false, err);
}

int
idx_fresh(struct keyset *ks, struct coffer_err *err)
{
	return idx_load(ks, true, err);
}

static int
each_insert(void *cookie, const struct idx_entry *e)
{
	struct keyset *ks = cookie;

	return idx_insert(ks, e->type, e->id, &e->loc, e->bundled);
}

int
idx_full(struct keyset *ks, struct coffer_err *err)
{
	struct idxcache *ic;
	int r;

	if (ks->ixstate == IDX_NONE) {
		/* The walk reads every entry anyway: no cache to build. */
		struct coffer_err e1 = { 0 };

		if ((r = index_load(ks, &e1)) != 0) {
			if (err != NULL)
				*err = e1;
			return idx_fail(ks, r, &e1);
		}
		ks->ixstate = IDX_FULL;
		return 0;
	}
	if ((r = idx_ready(ks, err)) != 0 || ks->ixstate == IDX_FULL)
		return r;
	/*
	 * Cached: the cache's entries join the table, those of the table
	 * (this run's) first.  Detached first, or idx_insert would find
	 * each one in the cache and leave it out.
	 */
	ic = ks->ic;
	ks->ic = NULL;
	r = idxcache_each(ic, each_insert, ks);
	idxcache_free(ic);
	if (r != 0) {
		struct coffer_err e1 = { 0 };

		coffer_err_set(&e1, r, "key set %s: loading the index cache",
		    ks->idhex);
		if (err != NULL)
			*err = e1;
		return idx_fail(ks, r, &e1);
	}
	ks->ixstate = IDX_FULL;
	return 0;
}

static bool
is_hex2(const char *s)
{
	return rfs_is_hex(s, 2);
}

static bool
is_packtmp(const char *s)
{
	return rfs_is_packtmp(s);
}

int
pack_read_table(struct keyset *ks, const uint8_t pid[PACK_ID_LEN], int *fdp,
    uint8_t **tab, uint32_t *np, bool *v2, uint64_t *end)
{
	char path[64], label[128];
	uint8_t foot[4 + MAGIC_LEN];
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint8_t *sealed = NULL, *plain = NULL;
	struct stat sb;
	struct rbuf rb;
	uint8_t head[MAGIC_LEN];
	uint32_t hlen, n;
	int fd = -1, r = -1;

	pack_path(pid, path);
	SET_LABEL(label, ks->idhex, path);
	if (rfs_open_file(ks->dirfd, path, label, O_RDONLY, &fd, &sb,
	    NULL) != 0 || sb.st_size < (off_t)(2 * MAGIC_LEN + 4 +
	    AEAD_OVERHEAD) ||
	    pread_full(fd, foot, sizeof(foot), sb.st_size - (off_t)sizeof(foot)) != 0 ||
	    memcmp(foot + 4, packend_magic, MAGIC_LEN) != 0 ||
	    pread_full(fd, head, sizeof(head), 0) != 0)
		goto out;
	*v2 = memcmp(head, pack_magic, MAGIC_LEN) == 0;
	hlen = le32dec(foot);
	if (hlen < AEAD_OVERHEAD || hlen > BLOB_MAX ||
	    (off_t)hlen > sb.st_size - (off_t)(MAGIC_LEN + sizeof(foot)))
		goto out;
	*end = (uint64_t)sb.st_size - sizeof(foot) - hlen;
	if ((sealed = coffer_malloc(hlen)) == NULL ||
	    (plain = coffer_malloc(hlen)) == NULL ||
	    pread_full(fd, sealed, hlen, (off_t)*end) != 0)
		goto out;
	adlen = ad_build(ad, &ks->ab, OBJ_PACKHDR, pid, PACK_ID_LEN);
	if (aead_open(plain, sealed, hlen, ad, adlen, KS_ENC(ks)) != 0)
		goto out;
	rbuf_init(&rb, plain, hlen - AEAD_OVERHEAD);
	n = rbuf_u32(&rb);
	if (!rbuf_ok(&rb) || n > rbuf_left(&rb) / 49)
		goto out;
	*np = n;
	*tab = plain;
	plain = NULL;
	*fdp = fd;
	fd = -1;
	r = 0;
out:
	coffer_free(sealed);
	coffer_free(plain);
	if (fd != -1)
		close(fd);
	return r;
}

/*
 * pack_load_table(ks, pid): read and authenticate the blob table at the
 * end of pack ${pid} and add its blobs to the index.  0 or -1.
 */
static int
pack_load_table(struct keyset *ks, const uint8_t pid[PACK_ID_LEN])
{
	uint8_t *plain = NULL;
	struct rbuf rb;
	uint64_t end;
	uint32_t n, pidx;
	bool v2;
	int fd = -1, r = -1;

	if (pack_read_table(ks, pid, &fd, &plain, &n, &v2, &end) != 0)
		return -1;
	if (pack_add(ks, pid, &pidx) != 0)
		goto out;
	ks->packs[pidx].unindexed = true;
	rbuf_init(&rb, plain + 4, (size_t)n * 49);
	for (uint32_t i = 0; i < n; i++) {
		struct blob_loc loc;
		uint8_t id[BLOB_ID_LEN];
		int type;
		bool bundled;

		if (!entry_read(&rb, pidx, v2, &type, id, &loc, &bundled) ||
		    idx_insert(ks, type, id, &loc, bundled) != 0)
			goto out;
	}
	r = 0;
out:
	coffer_free(plain);
	close(fd);
	return r;
}

/*
 * pack_scan(ks): load the blob tables of pack files that no index names.
 * Run once, the first time a blob is not found: it makes the data of a
 * set whose index file was lost or damaged reachable again, since every
 * pack carries its own authenticated table.
 */
static void
pack_scan(struct keyset *ks)
{
	char **dirs = NULL, **names = NULL;
	size_t ndirs = 0, nnames = 0;
	struct packids known;

	ks->scanned = true;
	if (packids_build(ks, NULL, NULL, &known) != 0)
		return;
	if (dir_list(ks->dirfd, "packs", "packs", is_hex2, &dirs, &ndirs,
	    NULL) != 0) {
		packids_release(&known);
		return;
	}
	for (size_t d = 0; d < ndirs; d++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		if (dir_list(ks->dirfd, sub, sub, is_hex32, &names, &nnames,
		    NULL) != 0)
			continue;
		for (size_t i = 0; i < nnames; i++) {
			uint8_t pid[PACK_ID_LEN];

			/* The packs known before the scan: names are unique. */
			if (hex_decode(pid, names[i], PACK_ID_LEN) == 0 &&
			    !packids_has(&known, pid))
				(void)pack_load_table(ks, pid);
		}
		strlist_free(names, nnames);
		names = NULL;
		nnames = 0;
	}
	strlist_free(dirs, ndirs);
	packids_release(&known);
}

void
keyset_scan_unindexed(struct keyset *ks)
{
	/* Found blobs join this run's table, over the cache if there is one. */
	if (idx_ready(ks, NULL) == 0 && !ks->scanned)
		pack_scan(ks);
}

/* ---- open / free ---- */

int
keyset_open(struct repo *rp, const uint8_t dk[KEY_LEN], bool create,
    const struct keyset_params *prm, struct keyset **out,
    struct coffer_err *err)
{
	struct keyset *ks = NULL;
	char sub[64], label[96];
	struct stat sb;
	int r;

	*out = NULL;
	if ((ks = coffer_calloc(1, sizeof(*ks))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "opening key set");
	ks->repo = rp;
	ks->dirfd = -1;
	ks->rfd = -1;
	ks->pw.fd = -1;
	pthread_mutex_init(&ks->idx_mu, NULL);
	if ((ks->keys = secret_alloc(3 * KEY_LEN)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "allocating keys");
		goto out;
	}
	kdf_derive(KS_ENC(ks), KEY_LEN, 1, "cofferdk", dk);
	kdf_derive(KS_IDK(ks), KEY_LEN, 2, "cofferdk", dk);
	kdf_derive(KS_CHK(ks), KEY_LEN, 3, "cofferdk", dk);
	keyset_keyid(dk, ks->keyid);
	hex_encode(ks->idhex, ks->keyid, KEYID_LEN);
	snprintf(sub, sizeof(sub), "sets/%s", ks->idhex);
	snprintf(label, sizeof(label), "sets/%s/keyinfo", ks->idhex);
	if ((r = rfs_open_dir(rp->dirfd, sub, sub, &ks->dirfd, err)) != 0) {
		if (r != COFFER_ENOTFOUND || !create) {
			coffer_err_prefix(err, "cannot open key set in '%s'",
			    rp->path);
			goto out;
		}
		if ((r = rfs_mkdir(rp->dirfd, sub, sub, 0700, err)) != 0 ||
		    (r = rfs_open_dir(rp->dirfd, sub, sub, &ks->dirfd,
		    err)) != 0) {
			coffer_err_prefix(err, "repository '%s'", rp->path);
			goto out;
		}
	}
	if (create && fstatat(ks->dirfd, "keyinfo", &sb,
	    AT_SYMLINK_NOFOLLOW) != 0) {
		/* A new set: folders first, keyinfo last (it marks it whole). */
		memset(&ks->ki, 0, sizeof(ks->ki));
		memcpy(ks->ki.keyid, ks->keyid, KEYID_LEN);
		ks->ki.bound = true;	/* new sets name their repository */
		ks->ki.scope = prm ? prm->scope : SCOPE_DEVICE;
		ks->ki.custody = prm ? prm->custody : CUSTODY_LOCAL;
		if (prm != NULL && prm->label != NULL)
			snprintf(ks->ki.label, sizeof(ks->ki.label), "%s",
			    prm->label);
		if (prm != NULL && prm->escrow_url != NULL)
			snprintf(ks->ki.escrow_url, sizeof(ks->ki.escrow_url),
			    "%s", prm->escrow_url);
		if (prm != NULL && prm->escrow_keyid != NULL)
			snprintf(ks->ki.escrow_keyid,
			    sizeof(ks->ki.escrow_keyid), "%s",
			    prm->escrow_keyid);
		if (prm != NULL && prm->sealed_len > 0 &&
		    prm->sealed_len <= sizeof(ks->ki.sealed)) {
			memcpy(ks->ki.sealed, prm->sealed, prm->sealed_len);
			ks->ki.sealed_len = prm->sealed_len;
		}
		ks->ki.chunk_min = CHUNK_MIN;
		ks->ki.chunk_avg = CHUNK_AVG;
		ks->ki.chunk_max = CHUNK_MAX;
		ks->ki.created = (int64_t)time(NULL);
		if (prm != NULL && prm->like != NULL)
			ks->ki = *prm->like;
		snprintf(label, sizeof(label), "sets/%s/packs", ks->idhex);
		if ((r = rfs_mkdir(ks->dirfd, "packs", label, 0700, err)) != 0)
			goto out;
		snprintf(label, sizeof(label), "sets/%s/index", ks->idhex);
		if ((r = rfs_mkdir(ks->dirfd, "index", label, 0700, err)) != 0)
			goto out;
		snprintf(label, sizeof(label), "sets/%s/snapshots", ks->idhex);
		if ((r = rfs_mkdir(ks->dirfd, "snapshots", label, 0700,
		    err)) != 0)
			goto out;
		snprintf(label, sizeof(label), "sets/%s/keyinfo", ks->idhex);
		if ((r = keyinfo_store(ks->dirfd, label, rp, KS_ENC(ks),
		    &ks->ki, false, err)) != 0)
			goto out;
		{
			int setsfd = -1;

			r = rfs_open_dir(rp->dirfd, "sets", "sets", &setsfd,
			    NULL) != 0 || fsync_dir(setsfd) != 0 ? -1 : 0;
			if (setsfd != -1)
				close(setsfd);
			if (r != 0) {
				r = coffer_err_sys(err, "cannot sync '%s/sets'",
				    rp->path);
				goto out;
			}
		}
	}
	if ((r = keyinfo_load(ks->dirfd, label, rp, KS_ENC(ks), &ks->ki,
	    err)) != 0)
		goto out;
	if (memcmp(ks->ki.keyid, ks->keyid, KEYID_LEN) != 0) {
		r = coffer_err_set(err, COFFER_EFORMAT, "'%s' names another "
		    "key set", label);
		goto out;
	}
	/* Its objects' AD: with the repository id if its keyinfo has it. */
	memcpy(ks->ab.keyid, ks->keyid, KEYID_LEN);
	memcpy(ks->ab.repoid, rp->id, REPO_ID_LEN);
	ks->ab.repo = ks->ki.bound;
	ks->scope = ks->ki.scope;
	ks->custody = ks->ki.custody;
	ks->chunk_min = ks->ki.chunk_min;
	ks->chunk_avg = ks->ki.chunk_avg;
	ks->chunk_max = ks->ki.chunk_max;
	*out = ks;
	ks = NULL;
	r = 0;
out:
	keyset_free(ks);
	return r;
}

const struct keyinfo *
keyset_info(const struct keyset *ks)
{
	return &ks->ki;
}

int
keyset_set_slots(struct keyset *ks, const struct kslot *slots, int nslots,
    struct coffer_err *err)
{
	struct keyinfo ki = ks->ki;
	char label[96];
	int r;

	if (nslots < 0 || nslots > KEYINFO_SLOTS_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "too many slots");
	for (int i = 0; i < nslots; i++)
		ki.slots[i] = slots[i];
	ki.nslots = nslots;
	snprintf(label, sizeof(label), "sets/%s/keyinfo", ks->idhex);
	if ((r = keyinfo_store(ks->dirfd, label, ks->repo, KS_ENC(ks), &ki,
	    true, err)) != 0)
		return r;
	ks->ki = ki;
	return 0;
}

void
keyset_free(struct keyset *ks)
{
	if (ks == NULL)
		return;
	/* Threads first: they borrow the keys freed below. */
	sealer_free(ks->sealer);
	if (ks->pw.fd != -1) {
		char tmp[80];

		/* An unfinished pack is abandoned, never renamed into place. */
		close(ks->pw.fd);
		snprintf(tmp, sizeof(tmp), "%s.tmp", ks->pw.name);
		(void)rfs_unlink(ks->dirfd, tmp, tmp, NULL);
	}
	wbuf_release(&ks->pw.hdr);
	coffer_free(ks->pw.obuf);
	if (ks->rfd != -1)
		close(ks->rfd);
	if (ks->bcache != NULL) {
		for (size_t i = 0; i < BUNDLE_CACHE; i++)
			bundle_release(&ks->bcache[i]);
		coffer_free(ks->bcache);
	}
	coffer_free(ks->bsums);
	if (ks->rdbuf != NULL)
		secret_wipe(ks->rdbuf, ks->rdcap);	/* held plaintext */
	coffer_free(ks->rdbuf);
	if (ks->dirfd != -1)
		close(ks->dirfd);
	secret_free(ks->keys);
	compressor_free(ks->comp);
	coffer_free(ks->packs);
	coffer_free(ks->index_errs);
	pthread_mutex_destroy(&ks->idx_mu);
	idxcache_free(ks->ic);
	coffer_free(ks->tab);
	coffer_free(ks->icmark);
	coffer_free(ks);
}

const char *
keyset_idhex(const struct keyset *ks)
{
	return ks->idhex;
}

int
keyset_scope(const struct keyset *ks)
{
	return ks->scope;
}

const uint8_t *
keyset_chunker_key(const struct keyset *ks)
{
	return KS_CHK(ks);
}

void
keyset_chunker_params(const struct keyset *ks, size_t *min, size_t *avg,
    size_t *max)
{
	*min = ks->chunk_min;
	*avg = ks->chunk_avg;
	*max = ks->chunk_max;
}

void
keyset_blob_id(const struct keyset *ks, const uint8_t *data, size_t len,
    uint8_t id[BLOB_ID_LEN])
{
	hash_keyed(id, KS_IDK(ks), data, len);
}

void
keyset_aux_key(const struct keyset *ks, const char ctx[8],
    uint8_t out[KEY_LEN])
{
	kdf_derive(out, KEY_LEN, 1, ctx, KS_IDK(ks));
}

int
keyset_load_index(struct keyset *ks, bool whole, struct coffer_err *err)
{
	return whole ? idx_fresh(ks, err) : idx_ready(ks, err);
}

bool
keyset_has_blob(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN])
{
	bool have;

	if (idx_ready(ks, NULL) != 0)
		return false;
	pthread_mutex_lock(&ks->idx_mu);
	have = idx_find(ks, type, id) != NULL;
	pthread_mutex_unlock(&ks->idx_mu);
	return have;
}

bool
keyset_blob_unindexed(struct keyset *ks, int type,
    const uint8_t id[BLOB_ID_LEN], char label[128])
{
	const struct idx_entry *e;
	bool un = false;

	if (idx_ready(ks, NULL) != 0)
		return false;
	pthread_mutex_lock(&ks->idx_mu);
	if ((e = idx_find(ks, type, id)) != NULL &&
	    e->loc.pack < ks->npacks && ks->packs[e->loc.pack].unindexed) {
		char path[64];

		un = true;
		pack_path(ks->packs[e->loc.pack].id, path);
		snprintf(label, 128, "sets/%s/%s", ks->idhex, path);
	}
	pthread_mutex_unlock(&ks->idx_mu);
	return un;
}

static int
bsum_cmp(const void *a, const void *b)
{
	const struct bundle_sum *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/*
 * The card bytes of bundled blob ${e}: its bundle's length shared out
 * by plaintext length among the members the index knows.  The table of
 * bundles is built on first use (16 bytes per bundled blob, kept).
 */
static uint32_t
bundle_share(struct keyset *ks, const struct idx_entry *e)
{
	struct bundle_sum key, *hit;

	if (!ks->bsums_ok) {
		size_t n = 0, k = 0;

		coffer_free(ks->bsums);
		ks->bsums = NULL;
		ks->nbsums = 0;
		for (size_t i = 0; i < ks->tabcap; i++)
			n += ks->tab[i].type != 0 && ks->tab[i].bundled &&
			    ks->tab[i].loc.pack != LOC_PENDING;
		if (n > 0 && (ks->bsums = coffer_calloc(n,
		    sizeof(*ks->bsums))) == NULL)
			return e->loc.clen;	/* out of memory: the whole */
		for (size_t i = 0; i < ks->tabcap; i++) {
			const struct idx_entry *x = &ks->tab[i];

			if (x->type == 0 || !x->bundled ||
			    x->loc.pack == LOC_PENDING)
				continue;
			ks->bsums[k].pack = x->loc.pack;
			ks->bsums[k].offset = x->loc.offset;
			ks->bsums[k].clen = x->loc.clen;
			ks->bsums[k].rawsum = x->loc.rawlen;
			k++;
		}
		if (k > 1)
			qsort(ks->bsums, k, sizeof(*ks->bsums), bsum_cmp);
		n = 0;
		for (size_t i = 0; i < k; i++) {
			if (n > 0 && bsum_cmp(&ks->bsums[n - 1],
			    &ks->bsums[i]) == 0)
				ks->bsums[n - 1].rawsum += ks->bsums[i].rawsum;
			else
				ks->bsums[n++] = ks->bsums[i];
		}
		ks->nbsums = n;
		ks->bsums_ok = true;
	}
	key.pack = e->loc.pack;
	key.offset = e->loc.offset;
	hit = ks->nbsums == 0 ? NULL : bsearch(&key, ks->bsums, ks->nbsums,
	    sizeof(key), bsum_cmp);
	if (hit == NULL || hit->rawsum == 0)
		return e->loc.clen;
	return (uint32_t)((uint64_t)e->loc.clen * e->loc.rawlen / hit->rawsum);
}

bool
keyset_blob_info(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    uint32_t *clen, uint32_t *rawlen)
{
	const struct idx_entry *e;
	bool have;

	/* Bundle shares walk every entry once: the index in memory. */
	if (idx_full(ks, NULL) != 0)
		return false;
	pthread_mutex_lock(&ks->idx_mu);
	e = idx_find(ks, type, id);
	have = e != NULL && e->loc.pack != LOC_PENDING;
	if (have) {
		*clen = e->bundled ? bundle_share(ks, e) : e->loc.clen;
		*rawlen = e->loc.rawlen;
	}
	pthread_mutex_unlock(&ks->idx_mu);
	return have;
}

/* ---- writing packs ---- */

/*
 * Start writing the pack's dirty pages to the card now, without waiting,
 * so that the fsync when the pack closes finds little left to do: on a
 * slow card that fsync would otherwise stall the backup for the whole
 * pack (16 MiB) at once.  Only a hint; durability still comes from the
 * fsync.
 */
static void
pw_start_writeback(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
	(void)fd;
#endif
}

/*
 * Stop writing the pack with O_DIRECT (for a last piece that is not a
 * whole number of blocks, or a file system that refused a direct write).
 */
static void
pw_buffered(struct pack_writer *pw)
{
	int fl;

	if (pw->direct && (fl = fcntl(pw->fd, F_GETFL)) != -1)
		(void)fcntl(pw->fd, F_SETFL, fl & ~O_DIRECT);
	pw->direct = false;
}

/* Write out what the pack writer has buffered. */
static int
pw_drain(struct keyset *ks, struct coffer_err *err)
{
	struct pack_writer *pw = &ks->pw;

	if (pw->olen == 0)
		return 0;
	if (pw->olen % PACK_BLOCK != 0)
		pw_buffered(pw);
	if (write_full(pw->fd, pw->obuf, pw->olen) != 0) {
		off_t end;

		if (!pw->direct || errno != EINVAL)
			return coffer_err_sys(err, "cannot write "
			    "'sets/%s/%s.tmp'", ks->idhex, pw->name);
		/*
		 * The file system took O_DIRECT at open but not for this
		 * write (or not for the rest of it, after a short one): go
		 * on buffered from where the file ends.
		 */
		pw_buffered(pw);
		if ((end = lseek(pw->fd, 0, SEEK_END)) == -1 ||
		    (uint64_t)end < pw->written ||
		    (uint64_t)end - pw->written > pw->olen ||
		    write_full(pw->fd, pw->obuf + (end - (off_t)pw->written),
		    pw->olen - (size_t)(end - (off_t)pw->written)) != 0)
			return coffer_err_sys(err, "cannot write "
			    "'sets/%s/%s.tmp'", ks->idhex, pw->name);
	}
	pw->written += pw->olen;
	pw->olen = 0;
	if (!pw->direct)
		pw_start_writeback(pw->fd);
	return 0;
}

/* Append ${len} bytes to the open pack (through the buffer). */
static int
pw_write(struct keyset *ks, const uint8_t *p, size_t len,
    struct coffer_err *err)
{
	struct pack_writer *pw = &ks->pw;
	int r;

	if (pw->obuf == NULL && (pw->obuf = coffer_malloc_aligned(PACK_BLOCK,
	    PACK_OBUF)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "pack buffer");
	while (len > 0) {
		size_t n = PACK_OBUF - pw->olen;

		if (n > len)
			n = len;
		memcpy(pw->obuf + pw->olen, p, n);
		pw->olen += n;
		p += n;
		len -= n;
		if (pw->olen == PACK_OBUF && (r = pw_drain(ks, err)) != 0)
			return r;
	}
	return 0;
}

static int
pack_open(struct keyset *ks, struct coffer_err *err)
{
	struct pack_writer *pw = &ks->pw;
	char dir[16], tmp[80], label[128];
	uint32_t pidx;
	int pfd, r;

	random_bytes(pw->id, PACK_ID_LEN);
	pack_path(pw->id, pw->name);
	memcpy(dir, pw->name, 8);
	dir[8] = '\0';
	snprintf(label, sizeof(label), "sets/%s/packs", ks->idhex);
	if ((r = rfs_open_dir(ks->dirfd, "packs", label, &pfd, err)) != 0)
		return r;
	if (mkdirat(pfd, dir + 6, 0700) == 0) {
		/* A new packs/xx: make its name durable before any pack. */
		if (fsync_dir(pfd) != 0) {
			close(pfd);
			return coffer_err_sys(err, "cannot sync 'sets/%s/packs'",
			    ks->idhex);
		}
	} else if (errno != EEXIST) {
		close(pfd);
		return coffer_err_sys(err, "cannot create 'sets/%s/%s'",
		    ks->idhex, dir);
	}
	close(pfd);
	snprintf(tmp, sizeof(tmp), "%s.tmp", pw->name);
	snprintf(label, sizeof(label), "sets/%s/%s", ks->idhex, tmp);
	/*
	 * O_DIRECT: pack bytes go from the buffer to the card without a
	 * copy into the page cache, which a backup would only fill with
	 * data nobody reads again.  Not every file system takes it.
	 */
	pw->direct = true;
	if ((r = rfs_create(ks->dirfd, tmp, label, O_WRONLY | O_DIRECT, 0600,
	    &pw->fd, err)) != 0 && err->sys_errno == EINVAL) {
		pw->direct = false;
		r = rfs_create(ks->dirfd, tmp, label, O_WRONLY, 0600, &pw->fd,
		    err);
	}
	pw->written = 0;
	if (r != 0)
		return r;
	pw->olen = 0;
	if ((r = pw_write(ks, (const uint8_t *)pack_magic, MAGIC_LEN, err)) != 0)
		return r;
	pw->off = MAGIC_LEN;
	pw->nblobs = 0;
	wbuf_init(&pw->hdr, BLOB_MAX);
	if (pack_add(ks, pw->id, &pidx) != 0)
		return coffer_err_set(err, COFFER_ENOMEM, "adding pack");
	if (!ks->writing) {
		ks->writing = true;
		ks->first_new_pack = pidx;
	}
	return 0;
}

static int
pack_close(struct keyset *ks, struct coffer_err *err)
{
	struct pack_writer *pw = &ks->pw;
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint8_t foot[4 + MAGIC_LEN];
	struct wbuf plain;
	uint8_t *sealed = NULL;
	char tmp[80], dir[16], label[128];
	int dfd = -1;
	int r;

	wbuf_init(&plain, BLOB_MAX);
	wbuf_u32(&plain, pw->nblobs);
	wbuf_put(&plain, pw->hdr.p, pw->hdr.len);
	if (plain.oom || pw->hdr.oom ||
	    (sealed = coffer_malloc(plain.len + AEAD_OVERHEAD)) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "closing pack");
		goto out;
	}
	adlen = ad_build(ad, &ks->ab, OBJ_PACKHDR, pw->id, PACK_ID_LEN);
	aead_seal(sealed, plain.p, plain.len, ad, adlen, KS_ENC(ks));
	le32enc(foot, (uint32_t)(plain.len + AEAD_OVERHEAD));
	memcpy(foot + 4, packend_magic, MAGIC_LEN);
	snprintf(tmp, sizeof(tmp), "%s.tmp", pw->name);
	/* Invariant 1: bytes durable before the name appears. */
	if ((r = pw_write(ks, sealed, plain.len + AEAD_OVERHEAD, err)) != 0 ||
	    (r = pw_write(ks, foot, sizeof(foot), err)) != 0 ||
	    (r = pw_drain(ks, err)) != 0)
		goto out;
	if (fsync(pw->fd) != 0) {
		r = coffer_err_sys(err, "cannot write 'sets/%s/%s'", ks->idhex,
		    tmp);
		goto out;
	}
	if (close(pw->fd) != 0) {
		pw->fd = -1;
		r = coffer_err_sys(err, "cannot write 'sets/%s/%s'", ks->idhex,
		    tmp);
		goto out;
	}
	pw->fd = -1;
	/* The rename happens inside the real folder packs/xx, nowhere else. */
	memcpy(dir, pw->name, 8);
	dir[8] = '\0';
	snprintf(label, sizeof(label), "sets/%s/%s", ks->idhex, dir);
	if ((r = rfs_open_dir(ks->dirfd, dir, label, &dfd, err)) != 0)
		goto out;
	if (renameat(dfd, tmp + 9, dfd, pw->name + 9) != 0) {
		r = coffer_err_sys(err, "cannot rename 'sets/%s/%s'", ks->idhex,
		    tmp);
		goto out;
	}
	if (fsync_dir(dfd) != 0) {
		r = coffer_err_sys(err, "cannot sync 'sets/%s/%s'", ks->idhex,
		    dir);
		goto out;
	}
	r = 0;
out:
	if (dfd != -1)
		close(dfd);
	coffer_free(sealed);
	wbuf_release(&plain);
	wbuf_release(&pw->hdr);
	return r;
}

static int index_interim(struct keyset *, struct coffer_err *);
static int index_absorb(struct keyset *, struct coffer_err *);
static size_t absorb_min(void);

/* Called by the sealer, in this thread, for each sealed object. */
int
write_object(void *cookie, const uint8_t *sealed, size_t slen, bool bundle,
    const struct sealed_member *m, size_t n, struct coffer_err *err)
{
	struct keyset *ks = cookie;
	struct pack_writer *pw = &ks->pw;
	size_t missing = 0;
	int r;

	if (pw->fd == -1 && (r = pack_open(ks, err)) != 0)
		return r;
	if ((r = pw_write(ks, sealed, slen, err)) != 0)
		return r;
	pthread_mutex_lock(&ks->idx_mu);
	for (size_t i = 0; i < n; i++) {
		struct idx_entry *e = idx_find(ks, m[i].type, m[i].id);

		if (e == NULL) {
			missing++;
			continue;
		}
		e->loc.pack = ks->npacks - 1;
		e->loc.offset = pw->off;
		e->loc.clen = (uint32_t)slen;
		e->loc.rawlen = m[i].rawlen;
		e->bundled = bundle;
	}
	ks->bsums_ok = false;
	pthread_mutex_unlock(&ks->idx_mu);
	if (missing > 0)
		return coffer_err_set(err, COFFER_EINVAL, "sealed blob has "
		    "no index entry");
	for (size_t i = 0; i < n; i++) {
		wbuf_u8(&pw->hdr, (uint8_t)(m[i].type |
		    (bundle ? ENTRY_BUNDLED : 0)));
		wbuf_put(&pw->hdr, m[i].id, BLOB_ID_LEN);
		wbuf_u64(&pw->hdr, pw->off);
		wbuf_u32(&pw->hdr, (uint32_t)slen);
		wbuf_u32(&pw->hdr, m[i].rawlen);
		pw->nblobs++;
	}
	pw->off += slen;
	ks->added += slen;
	if (pw->off >= PACK_TARGET_SIZE && (r = pack_close(ks, err)) != 0)
		return r;
	if (pw->fd == -1 && ks->index_every > 0 && ks->writing &&
	    ks->npacks - ks->first_new_pack >= ks->index_every &&
	    (r = index_interim(ks, err)) != 0)
		return r;
	if (pw->fd == -1 && ks->ic != NULL && ks->writing && !ks->scanned &&
	    !ks->pruning &&
	    ks->tabn >= absorb_min() &&
	    ks->tabn >= idxcache_count(ks->ic) / 16)
		return index_absorb(ks, err);
	return 0;
}

/*
 * absorb_min(): ABSORB_MIN, or COFFER_ABSORB_MIN (for the test suite
 * only: small backups then take the path of large ones).
 */
static size_t
absorb_min(void)
{
	const char *v = getenv("COFFER_ABSORB_MIN");
	unsigned long n;
	char *end;

	if (v == NULL || *v == '\0')
		return ABSORB_MIN;
	errno = 0;
	n = strtoul(v, &end, 10);
	return errno != 0 || *end != '\0' || n == 0 ? ABSORB_MIN : n;
}

/* idx_written(ks, e): stored by this run since its last index file. */
static bool
idx_written(const struct keyset *ks, const struct idx_entry *e)
{
	return e->type != 0 && e->loc.pack != LOC_PENDING &&
	    e->loc.pack >= ks->first_new_pack && e->loc.pack < ks->npacks;
}

static int
each_written(struct keyset *ks, index_sink_fn *sink, void *cookie)
{
	for (size_t i = 0; i < ks->tabcap; i++) {
		const struct idx_entry *e = &ks->tab[i];
		int r;

		if (idx_written(ks, e) && (r = sink(ks, cookie, e->type,
		    e->id, &e->loc, e->bundled)) != 0)
			return r;
	}
	return 0;
}

/* idx_drop_written(ks): the table without what the cache now holds. */
static void
idx_drop_written(struct keyset *ks)
{
	struct idx_entry *old = ks->tab, *nt;
	size_t oldcap = ks->tabcap, keep = 0, ncap = 4096, mask;

	for (size_t j = 0; j < oldcap; j++)
		keep += old[j].type != 0 && !idx_written(ks, &old[j]);
	while ((keep + 1) * 10 > ncap * 7)
		ncap *= 2;
	if ((nt = coffer_calloc(ncap, sizeof(*nt))) == NULL)
		return;		/* kept twice: harmless */
	mask = ncap - 1;
	for (size_t j = 0; j < oldcap; j++) {
		size_t i;

		if (old[j].type == 0 || idx_written(ks, &old[j]))
			continue;
		for (i = idx_hash(old[j].type, old[j].id) & mask;
		    nt[i].type != 0; i = (i + 1) & mask)
			;
		nt[i] = old[j];
	}
	coffer_free(old);
	ks->tab = nt;
	ks->tabcap = ncap;
	ks->tabn = keep;
}

static index_keep_fn keep_new;

/*
 * index_absorb(ks, err): an index file for the packs closed so far, and
 * their entries moved from the table into the index cache.  Sealer
 * threads may be claiming ids, so the table is held throughout.  Only
 * the index file's error is returned: if the cache cannot take them the
 * entries stay in the table.
 */
static int
index_absorb(struct keyset *ks, struct coffer_err *err)
{
	char **names = NULL;
	size_t nnames = 0;
	int r;

	pthread_mutex_lock(&ks->idx_mu);
	if ((r = index_write(ks, keep_new, NULL, &names, &nnames, err)) == 0) {
		ks->writing = false;	/* the next pack starts a new run */
		/* Every file written is named, or its deletion goes unseen. */
		if (nnames > 0 && idxcache_absorb(ks, ks->repo->cachedir,
		    names, nnames, each_written) == 0)
			idx_drop_written(ks);
	}
	pthread_mutex_unlock(&ks->idx_mu);
	strlist_free(names, nnames);
	return r;
}

/*
 * claim(ks, type, id): reserve ${id} as pending unless it is known.
 * Runs on sealer threads (and in put_blob) under the index mutex.
 */
static bool
claim(void *cookie, int type, const uint8_t id[BLOB_ID_LEN])
{
	static const struct blob_loc pending = { .pack = LOC_PENDING };
	struct keyset *ks = cookie;
	bool fresh = false;

	pthread_mutex_lock(&ks->idx_mu);
	if (idx_find(ks, type, id) == NULL) {
		/* Out of memory: counted a duplicate; caught at flush. */
		if (idx_insert(ks, type, id, &pending, false) == 0)
			fresh = true;
		else
			ks->idx_oom = true;
	}
	pthread_mutex_unlock(&ks->idx_mu);
	return fresh;
}

static int
start_sealer(struct keyset *ks, struct coffer_err *err)
{
	if (ks->sealer == NULL && (ks->sealer = sealer_new(KS_ENC(ks),
	    KS_IDK(ks), &ks->ab, ZSTD_LEVEL, BUNDLE_LEVEL, claim, ks)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "sealer threads");
	return 0;
}

int
keyset_put_blob(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len, struct coffer_err *err)
{
	int r;

	if (len > BLOB_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "blob too large");
	if (ks->stop != NULL && *ks->stop != 0)
		return coffer_err_set(err, COFFER_EINTR, "interrupted");
	if ((r = idx_ready(ks, err)) != 0 || (r = start_sealer(ks, err)) != 0)
		return r;
	/* Reserve the id now so later duplicates are skipped. */
	if (!claim(ks, type, id))
		return ks->idx_oom ? coffer_err_set(err, COFFER_ENOMEM,
		    "index") : 0;
	return sealer_submit(ks->sealer, type, id, data, len, write_object, ks,
	    err);
}

int
keyset_reseal(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *data, size_t len, struct coffer_err *err)
{
	int r;

	if (len > BLOB_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "blob too large");
	if ((r = start_sealer(ks, err)) != 0)
		return r;
	return sealer_submit(ks->sealer, type, id, data, len, write_object, ks,
	    err);
}

int
keyset_put_data(struct keyset *ks, const uint8_t *data, size_t len,
    uint8_t *id_out, struct coffer_err *err)
{
	int r;

	if (len > BLOB_MAX)
		return coffer_err_set(err, COFFER_EINVAL, "blob too large");
	if (ks->stop != NULL && *ks->stop != 0)
		return coffer_err_set(err, COFFER_EINTR, "interrupted");
	if ((r = idx_ready(ks, err)) != 0 || (r = start_sealer(ks, err)) != 0)
		return r;
	return sealer_submit_hash(ks->sealer, OBJ_DATA, id_out, data, len,
	    write_object, ks, err);
}

int
keyset_sync(struct keyset *ks, struct coffer_err *err)
{
	int r;

	if (ks->sealer != NULL &&
	    (r = sealer_drain(ks->sealer, write_object, ks, err)) != 0)
		return r;
	if (ks->idx_oom)
		return coffer_err_set(err, COFFER_ENOMEM, "index");
	return 0;
}

uint64_t
keyset_added(const struct keyset *ks)
{
	return ks->added;
}

/*
 * index_seal(ks, plain, name, err): seal ${plain} as a new index file and
 * write it; ${name} gets the file's name (32 hex digits).
 */
static int
index_seal(struct keyset *ks, const struct wbuf *plain, char name[33],
    struct coffer_err *err)
{
	uint8_t iid[16];
	char label[96], dlabel[96];
	uint8_t *sealed = NULL;
	size_t slen;
	int ifd, r;

	random_bytes(iid, sizeof(iid));
	hex_encode(name, iid, sizeof(iid));
	if ((r = obj_seal(ks, index_magic, OBJ_INDEX, iid, sizeof(iid),
	    plain->p, plain->len, &sealed, &slen, err)) != 0)
		return r;
	snprintf(label, sizeof(label), "sets/%s/index/%s", ks->idhex, name);
	snprintf(dlabel, sizeof(dlabel), "sets/%s/index", ks->idhex);
	if ((r = rfs_open_dir(ks->dirfd, "index", dlabel, &ifd, err)) == 0) {
		r = atomicfile_write(ifd, name, sealed, slen, 0600, true,
		    label, err);
		close(ifd);
	}
	coffer_free(sealed);
	return r;
}

/*
 * index_emit(ks, plain, names, nnames, err): write ${plain} as one index
 * file and append its name to ${names} (if not NULL), then start ${plain}
 * afresh.
 */
static int
index_emit(struct keyset *ks, struct wbuf *plain, char ***names,
    size_t *nnames, struct coffer_err *err)
{
	char name[33];
	int r;

	if ((r = index_seal(ks, plain, name, err)) != 0)
		return r;
	wbuf_reset(plain);
	if (names == NULL)
		return 0;
	{
		char **nv = coffer_realloc(*names, (*nnames + 1) *
		    sizeof(*nv));

		if (nv == NULL)
			return coffer_err_set(err, COFFER_ENOMEM, "index");
		*names = nv;
		if ((nv[*nnames] = coffer_strdup(name)) == NULL)
			return coffer_err_set(err, COFFER_ENOMEM, "index");
		(*nnames)++;
	}
	return 0;
}

/* Plaintext room of one index file: its sealed size stays <= INDEX_MAX. */
#define INDEX_PLAIN_MAX	(INDEX_MAX - MAGIC_LEN - AEAD_OVERHEAD)
#define INDEX_ENTRY_LEN	(1 + BLOB_ID_LEN + 8 + 4 + 4)
#define INDEX_PACK_LEN	(PACK_ID_LEN + 4)
/*
 * index_write_each's files: smaller, so that the plaintext and its sealed
 * copy held while one is written stay within 2 × 4 MiB at any size.
 */
#define INDEX_EACH_MAX	(INDEX_PLAIN_MAX < (4u << 20) ? INDEX_PLAIN_MAX : \
    (4u << 20))

/*
 * index_pack(ks, plain, max, p, v, n, names, nnames, err): the ${n}
 * entries ${v} of pack ${p} into ${plain}, emitting each file that
 * would pass ${max} bytes of plaintext; the counts are patched in place
 * when a run or a file ends.
 */
static int
index_pack(struct keyset *ks, struct wbuf *plain, size_t max, uint32_t p,
    const struct idx_entry *const *v, uint32_t n, char ***names,
    size_t *nnames, struct coffer_err *err)
{
	size_t hdr = 0;		/* this pack's run in ${plain} */
	uint32_t run = 0;
	int r;

	/*
	 * A pack that fits in a file of its own starts one rather than
	 * straddle two (each file's run gets a pack slot of its own when
	 * loaded; correct, but prune weighs them apart).
	 */
	if (n > 0 && plain->len > 0 && plain->len + INDEX_PACK_LEN +
	    (size_t)n * INDEX_ENTRY_LEN > max && 4 + INDEX_PACK_LEN +
	    (size_t)n * INDEX_ENTRY_LEN <= max &&
	    (r = index_emit(ks, plain, names, nnames, err)) != 0)
		return r;
	for (uint32_t j = 0; j < n; j++) {
		const struct idx_entry *e = v[j];

		if (run > 0 && plain->len + INDEX_ENTRY_LEN > max) {
			le32enc(plain->p + hdr + PACK_ID_LEN, run);
			if ((r = index_emit(ks, plain, names, nnames,
			    err)) != 0)
				return r;
			run = 0;
		}
		if (plain->len == 0)
			wbuf_u32(plain, 0);
		if (run == 0) {
			le32enc(plain->p, le32dec(plain->p) + 1);
			hdr = plain->len;
			wbuf_put(plain, ks->packs[p].id, PACK_ID_LEN);
			wbuf_u32(plain, 0);
		}
		wbuf_u8(plain, (uint8_t)(e->type |
		    (e->bundled ? ENTRY_BUNDLED : 0)));
		wbuf_put(plain, e->id, BLOB_ID_LEN);
		wbuf_u64(plain, e->loc.offset);
		wbuf_u32(plain, e->loc.clen);
		wbuf_u32(plain, e->loc.rawlen);
		if (plain->oom)
			return coffer_err_set(err, COFFER_ENOMEM,
			    "building an index file");
		run++;
	}
	if (run > 0)
		le32enc(plain->p + hdr + PACK_ID_LEN, run);
	return 0;
}

/*
 * index_write(ks, keep, cookie, names, nnames, err): write the entries
 * for which keep() is true, grouped by pack (a counting sort: one pass
 * over the table whatever the number of packs), into as many index files
 * as needed to keep each within INDEX_MAX (a pack's entries may go on in
 * the next file).  The new files' names are appended to ${names} (a
 * strlist of ${nnames}; NULL if not wanted).  Nothing is written if
 * nothing is kept.
 */
int
index_write(struct keyset *ks, index_keep_fn *keep, void *cookie,
    char ***names, size_t *nnames, struct coffer_err *err)
{
	struct wbuf plain;
	uint32_t *count = NULL, *at = NULL;
	const struct idx_entry **order = NULL;
	size_t total = 0;
	int r = 0;

	wbuf_init(&plain, INDEX_PLAIN_MAX);
	if ((count = coffer_calloc(ks->npacks + 1, sizeof(*count))) == NULL ||
	    (at = coffer_calloc(ks->npacks + 1, sizeof(*at))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "index");
		goto out;
	}
	for (size_t i = 0; i < ks->tabcap; i++) {
		const struct idx_entry *e = &ks->tab[i];

		if (e->type == 0 || e->loc.pack >= ks->npacks ||
		    !keep(ks, e, cookie))
			continue;
		count[e->loc.pack]++;
		total++;
	}
	if ((order = coffer_calloc(total + 1, sizeof(*order))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "index");
		goto out;
	}
	for (uint32_t p = 0, sum = 0; p < ks->npacks; p++) {
		at[p] = sum;
		sum += count[p];
	}
	for (size_t i = 0; i < ks->tabcap; i++) {
		const struct idx_entry *e = &ks->tab[i];

		if (e->type == 0 || e->loc.pack >= ks->npacks ||
		    !keep(ks, e, cookie))
			continue;
		order[at[e->loc.pack]++] = e;
	}
	/* Fill files in turn: npk u32 | (pack id | n u32 | entries)... */
	for (uint32_t p = 0, k = 0; p < ks->npacks; k += count[p], p++)
		if ((r = index_pack(ks, &plain, INDEX_PLAIN_MAX, p, order + k,
		    count[p], names, nnames, err)) != 0)
			goto out;
	if (plain.len > 0)
		r = index_emit(ks, &plain, names, nnames, err);
out:
	coffer_free(order);
	coffer_free(count);
	coffer_free(at);
	wbuf_release(&plain);
	return r;
}

/* index_write_each: what its passes over the entries share. */
struct iwe {
	const struct keyset	*ks;
	uint32_t		*count;		/* entries of each pack */
	uint32_t		*at;		/* each pack's next free slot */
	uint32_t		 lo, hi;	/* this batch's packs */
	struct idx_entry	*e;		/* this batch's entries */
	const struct idx_entry	**v;		/* ${e} by pack */
	size_t			 n, cap;
};

static int
iwe_count(void *cookie, const struct idx_entry *e)
{
	struct iwe *w = cookie;

	if (e->loc.pack < w->ks->npacks)
		w->count[e->loc.pack]++;
	return 0;
}

static int
iwe_take(void *cookie, const struct idx_entry *e)
{
	struct iwe *w = cookie;
	uint32_t p = e->loc.pack;

	if (p < w->lo || p >= w->hi)
		return 0;
	if (w->n == w->cap || w->at[p] >= w->cap)
		return COFFER_EFORMAT;	/* not what the count pass saw */
	w->e[w->n] = *e;
	w->v[w->at[p]++] = &w->e[w->n++];
	return 0;
}

int
index_write_each(struct keyset *ks, index_each_fn *each, void *cookie,
    size_t batch, char ***names, size_t *nnames, struct coffer_err *err)
{
	struct iwe w = { .ks = ks };
	struct wbuf plain;
	int r = 0;

	wbuf_init(&plain, INDEX_EACH_MAX);
	if ((w.count = coffer_calloc(ks->npacks + 1, sizeof(*w.count))) ==
	    NULL || (w.at = coffer_calloc(ks->npacks + 1,
	    sizeof(*w.at))) == NULL) {
		r = coffer_err_set(err, COFFER_ENOMEM, "index");
		goto out;
	}
	if ((r = each(cookie, 0, UINT32_MAX, iwe_count, &w)) != 0) {
		r = coffer_err_set(err, r, "key set %s: reading the index "
		    "cache", ks->idhex);
		goto out;
	}
	for (uint32_t lo = 0, hi; lo < ks->npacks; lo = hi) {
		size_t k = 0;

		for (hi = lo; hi < ks->npacks; hi++) {
			if (k > 0 && k + w.count[hi] > batch)
				break;
			k += w.count[hi];
		}
		if (k > w.cap) {
			coffer_free(w.e);
			coffer_free(w.v);
			w.cap = k;
			w.e = coffer_malloc(k * sizeof(*w.e));
			w.v = coffer_malloc(k * sizeof(*w.v));
			if (w.e == NULL || w.v == NULL) {
				r = coffer_err_set(err, COFFER_ENOMEM,
				    "index");
				goto out;
			}
		}
		for (uint32_t p = lo, sum = 0; p < hi; p++) {
			w.at[p] = sum;
			sum += w.count[p];
		}
		w.lo = lo;
		w.hi = hi;
		w.n = 0;
		if (k > 0 && (r = each(cookie, lo, hi, iwe_take, &w)) != 0) {
			r = coffer_err_set(err, r, "key set %s: reading the "
			    "index cache", ks->idhex);
			goto out;
		}
		/* Each pack's slots filled exactly, as the count said. */
		for (uint32_t p = lo, sum = 0; p < hi && w.n == k; p++) {
			sum += w.count[p];
			if (w.at[p] != sum)
				w.n = k + 1;
		}
		if (w.n != k) {
			r = coffer_err_set(err, COFFER_EFORMAT, "key set %s: "
			    "the index changed while it was written",
			    ks->idhex);
			goto out;
		}
		/* No entry in the batch: w.v may be NULL (no offset on it). */
		for (uint32_t p = lo, j = 0; p < hi; j += w.count[p], p++)
			if ((r = index_pack(ks, &plain, INDEX_EACH_MAX, p,
			    k > 0 ? w.v + j : w.v, w.count[p], names, nnames,
			    err)) != 0)
				goto out;
	}
	if (plain.len > 0)
		r = index_emit(ks, &plain, names, nnames, err);
out:
	coffer_free(w.e);
	coffer_free(w.v);
	coffer_free(w.count);
	coffer_free(w.at);
	wbuf_release(&plain);
	return r;
}

static bool
keep_new(const struct keyset *ks, const struct idx_entry *e, void *cookie)
{
	(void)cookie;
	return e->loc.pack >= ks->first_new_pack;
}

/*
 * index_interim(ks, err): an index file for the packs closed since the
 * last one, while the backup goes on (keyset_resume turns this on): a
 * backup killed later leaves at most index_every packs no index names.
 * Sealer threads may be claiming ids (claim() grows the table), so the
 * table is held while it is written.
 */
static int
index_interim(struct keyset *ks, struct coffer_err *err)
{
	int r;

	pthread_mutex_lock(&ks->idx_mu);
	r = index_write(ks, keep_new, NULL, NULL, NULL, err);
	pthread_mutex_unlock(&ks->idx_mu);
	if (r == 0)
		ks->writing = false;	/* the next pack starts a new run */
	return r;
}

int
keyset_flush(struct keyset *ks, struct coffer_err *err)
{
	int r;

	if ((r = keyset_sync(ks, err)) != 0)
		return r;
	if (ks->pw.fd != -1 && (r = pack_close(ks, err)) != 0)
		return r;
	if (!ks->writing)
		return 0;
	/* Invariant 2: one index file naming the packs closed above. */
	if ((r = index_write(ks, keep_new, NULL, NULL, NULL, err)) != 0)
		return r;
	ks->writing = false;
	return 0;
}

/* ---- reading blobs ---- */

int
keyset_read_raw(struct keyset *ks, uint32_t pack, uint64_t off, uint32_t len,
    uint8_t *buf, struct coffer_err *err)
{
	char path[64];

	pack_path(ks->packs[pack].id, path);
	if (ks->rfd == -1 || ks->rpack != pack) {
		if (ks->rfd != -1)
			close(ks->rfd);
		char label[128];
		int r;

		snprintf(label, sizeof(label), "sets/%s/%s", ks->idhex, path);
		if ((r = rfs_open_file(ks->dirfd, path, label, O_RDONLY,
		    &ks->rfd, NULL, err)) != 0)
			return r;
		ks->rpack = pack;
	}
	if (pread_full(ks->rfd, buf, len, (off_t)off) != 0)
		return coffer_err_sys(err, "cannot read 'sets/%s/%s' at "
		    "offset %llu", ks->idhex, path, (unsigned long long)off);
	return 0;
}

int
keyset_open_blob(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    const uint8_t *sealed, size_t clen, uint32_t rawlen, struct wbuf *out,
    uint8_t *scratch, struct compressor *comp, const char *where,
    struct coffer_err *err)
{
	uint8_t ad[AD_LEN];
	size_t adlen;
	size_t plen = clen - AEAD_OVERHEAD, got;

	wbuf_reset(out);
	adlen = ad_build(ad, &ks->ab, type, id, BLOB_ID_LEN);
	if (clen < AEAD_OVERHEAD + 1 || aead_open(scratch, sealed, clen, ad,
	    adlen, KS_ENC(ks)) != 0)
		return coffer_err_set(err, COFFER_EAUTH, "%s failed "
		    "authentication (damaged or edited)", where);
	wbuf_reset(out);
	if (wbuf_reserve(out, rawlen) != 0)
		return coffer_err_set(err, COFFER_ENOMEM, "blob buffer");
	if (scratch[0] == 0) {
		if (plen - 1 != rawlen)
			goto bad;
		if (rawlen > 0)
			memcpy(out->p, scratch + 1, rawlen);
	} else if (scratch[0] == 1) {
		if (comp == NULL && ks->comp == NULL &&
		    (ks->comp = compressor_new(ZSTD_LEVEL)) == NULL)
			return coffer_err_set(err, COFFER_ENOMEM, "compressor");
		if (decompress_buf(comp ? comp : ks->comp, out->p, rawlen,
		    scratch + 1,
		    plen - 1, &got) != 0 || got != rawlen)
			goto bad;
	} else {
		goto bad;
	}
	out->len = rawlen;
	return 0;
bad:
	return coffer_err_set(err, COFFER_EFORMAT, "%s is damaged (bad "
	    "encoding)", where);
}

void
bundle_release(struct bundle *b)
{
	if (b->plain != NULL) {
		secret_wipe(b->plain, b->plaincap);
		coffer_free(b->plain);
	}
	wbuf_release(&b->data);	/* wipes */
	memset(b, 0, sizeof(*b));
}

int
bundle_open(struct keyset *ks, const uint8_t *sealed, size_t clen,
    struct bundle *b, struct compressor *comp, const char *where,
    struct coffer_err *err)
{
	static const uint8_t zero[BLOB_ID_LEN];
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint64_t sum = 0;
	size_t hdr, got;
	uint8_t codec;

	/* The buffers of the last bundle opened are used again. */
	b->valid = false;
	b->n = 0;
	if (b->data.max == 0)
		wbuf_init(&b->data, BLOB_MAX);
	wbuf_reset(&b->data);
	if (clen < AEAD_OVERHEAD + BUNDLE_HDR + BUNDLE_ENTRY)
		goto bad;
	b->plen = clen - AEAD_OVERHEAD;
	if (b->plen > b->plaincap) {
		if (b->plain != NULL) {
			secret_wipe(b->plain, b->plaincap);
			coffer_free(b->plain);
		}
		b->plaincap = 0;
		if ((b->plain = coffer_malloc(b->plen)) == NULL)
			return coffer_err_set(err, COFFER_ENOMEM,
			    "bundle buffer");
		b->plaincap = b->plen;
	}
	adlen = ad_build(ad, &ks->ab, OBJ_BUNDLE, zero, BLOB_ID_LEN);
	if (aead_open(b->plain, sealed, clen, ad, adlen, KS_ENC(ks)) != 0)
		return coffer_err_set(err, COFFER_EAUTH, "%s failed "
		    "authentication (damaged or edited)", where);
	codec = b->plain[0];
	b->n = le32dec(b->plain + 1);
	if (b->n == 0 || b->n > BUNDLE_MEMBERS_MAX ||
	    (b->plen - BUNDLE_HDR) / BUNDLE_ENTRY < b->n)
		goto bad;
	hdr = BUNDLE_HDR + (size_t)b->n * BUNDLE_ENTRY;
	b->ents = b->plain + BUNDLE_HDR;
	for (uint32_t i = 0; i < b->n; i++) {
		const uint8_t *x = b->ents + (size_t)i * BUNDLE_ENTRY;

		if (x[0] != OBJ_DATA && x[0] != OBJ_TREE)
			goto bad;
		sum += le32dec(x + 1 + BLOB_ID_LEN);
	}
	if (sum > BLOB_MAX)
		goto bad;
	if (wbuf_reserve(&b->data, (size_t)sum) != 0)
		return coffer_err_set(err, COFFER_ENOMEM, "bundle buffer");
	if (codec == 0) {
		if (b->plen - hdr != sum)
			goto bad;
		if (sum > 0)
			memcpy(b->data.p, b->plain + hdr, (size_t)sum);
	} else if (codec == 1) {
		if (comp == NULL && ks->comp == NULL &&
		    (ks->comp = compressor_new(ZSTD_LEVEL)) == NULL)
			return coffer_err_set(err, COFFER_ENOMEM, "compressor");
		if (decompress_buf(comp ? comp : ks->comp, b->data.p,
		    (size_t)sum, b->plain + hdr, b->plen - hdr, &got) != 0 ||
		    got != sum)
			goto bad;
	} else {
		goto bad;
	}
	b->data.len = (size_t)sum;
	b->valid = true;
	return 0;
bad:
	b->n = 0;
	return coffer_err_set(err, COFFER_EFORMAT, "%s is damaged (bad "
	    "encoding)", where);
}

int
bundle_member(const struct bundle *b, int type, const uint8_t id[BLOB_ID_LEN],
    uint32_t rawlen, const uint8_t **p, const char *where,
    struct coffer_err *err)
{
	size_t at = 0;

	for (uint32_t i = 0; i < b->n; i++) {
		const uint8_t *x = b->ents + (size_t)i * BUNDLE_ENTRY;
		uint32_t len = le32dec(x + 1 + BLOB_ID_LEN);

		if (x[0] == type && memcmp(x + 1, id, BLOB_ID_LEN) == 0) {
			if (len != rawlen)
				break;
			/* All members empty: no buffer, and no NULL + 0. */
			*p = b->data.p != NULL ? b->data.p + at :
			    (const uint8_t *)"";
			return 0;
		}
		at += len;
	}
	return coffer_err_set(err, COFFER_EFORMAT, "%s does not hold the "
	    "blob the index places there (damaged or swapped)", where);
}

/*
 * read_buffer(ks, len): the key set's buffer for sealed bytes read from
 * a pack, of at least ${len} bytes; kept for the next read (a restore
 * reads thousands of blobs).  NULL if out of memory.
 */
static uint8_t *
read_buffer(struct keyset *ks, size_t len)
{
	if (len > ks->rdcap) {
		if (ks->rdbuf != NULL)
			secret_wipe(ks->rdbuf, ks->rdcap);
		coffer_free(ks->rdbuf);
		ks->rdcap = 0;
		if ((ks->rdbuf = coffer_malloc(len)) == NULL)
			return NULL;
		ks->rdcap = len;
	}
	return ks->rdbuf;
}

/* A bundled blob: from the last bundle opened, or its bundle read now. */
static int
get_bundled(struct keyset *ks, const struct idx_entry *e, struct wbuf *out,
    const char *where, struct coffer_err *err)
{
	struct bundle *b = NULL;
	const uint8_t *p;
	uint8_t *buf;
	int r;

	if (ks->bcache == NULL && (ks->bcache = coffer_calloc(BUNDLE_CACHE,
	    sizeof(*ks->bcache))) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "bundle");
	/* The bundle if it is kept, else the least recently used slot. */
	for (size_t i = 0; i < BUNDLE_CACHE; i++) {
		struct bundle *x = &ks->bcache[i];

		if (x->valid && x->pack == e->loc.pack &&
		    x->offset == e->loc.offset) {
			b = x;
			break;
		}
		if (b == NULL || !x->valid || (b->valid && x->stamp < b->stamp))
			b = x;
	}
	b->stamp = ++ks->bstamp;
	if (!b->valid || b->pack != e->loc.pack || b->offset != e->loc.offset) {
		if ((buf = read_buffer(ks, e->loc.clen)) == NULL)
			return coffer_err_set(err, COFFER_ENOMEM, "reading blob");
		if ((r = keyset_read_raw(ks, e->loc.pack, e->loc.offset,
		    e->loc.clen, buf, err)) != 0 ||
		    (r = bundle_open(ks, buf, e->loc.clen, b, NULL, where,
		    err)) != 0)
			goto out;
		b->pack = e->loc.pack;
		b->offset = e->loc.offset;
	}
	if ((r = bundle_member(b, e->type, e->id, e->loc.rawlen, &p, where,
	    err)) != 0)
		goto out;
	wbuf_reset(out);
	if (wbuf_reserve(out, e->loc.rawlen) != 0) {
		r = coffer_err_set(err, COFFER_ENOMEM, "blob buffer");
		goto out;
	}
	if (e->loc.rawlen > 0)
		memcpy(out->p, p, e->loc.rawlen);
	out->len = e->loc.rawlen;
	r = 0;
out:
	return r;
}

int
keyset_get_blob(struct keyset *ks, int type, const uint8_t id[BLOB_ID_LEN],
    struct wbuf *out, struct coffer_err *err)
{
	const struct idx_entry *e;
	char where[160], path[64], idhex[17];
	uint8_t *buf = NULL;
	int r;

	if ((r = idx_ready(ks, err)) != 0)
		return r;
	if ((e = idx_find(ks, type, id)) == NULL && !ks->scanned) {
		pack_scan(ks);
		e = idx_find(ks, type, id);
	}
	if (e == NULL) {
		hex_encode(idhex, id, 8);
		return coffer_err_set(err, COFFER_ENOTFOUND, "%s %s… is not in "
		    "the index of key set %s (missing or damaged pack or "
		    "index)", type == OBJ_TREE ? "tree" : "data blob", idhex,
		    ks->idhex);
	}
	if (e->loc.clen < AEAD_OVERHEAD + 1 || e->loc.clen > BLOB_MAX + 1 +
	    AEAD_OVERHEAD + BLOB_MAX / 16)
		return coffer_err_set(err, COFFER_EFORMAT, "index entry has "
		    "impossible size");
	pack_path(ks->packs[e->loc.pack].id, path);
	snprintf(where, sizeof(where), "%s at offset %llu of 'sets/%s/%s'",
	    e->bundled ? "bundle" : "blob", (unsigned long long)e->loc.offset,
	    ks->idhex, path);
	if (e->bundled)
		return get_bundled(ks, e, out, where, err);
	if ((buf = read_buffer(ks, 2 * (size_t)e->loc.clen)) == NULL)
		return coffer_err_set(err, COFFER_ENOMEM, "reading blob");
	if ((r = keyset_read_raw(ks, e->loc.pack, e->loc.offset, e->loc.clen,
	    buf, err)) != 0)
		goto out;
	r = keyset_open_blob(ks, type, id, buf, e->loc.clen, e->loc.rawlen,
	    out, buf + e->loc.clen, NULL, where, err);
out:
	return r;
}

void
keyset_clear_tmp(struct keyset *ks)
{
	/*
	 * Packs left as .tmp by an interrupted backup.  We hold the append
	 * lock, which no other writer can hold at once, so none is live.
	 * Only "packs/xx/<32 hex>.tmp" regular files in real folders go.
	 */
	char **dirs = NULL, **names = NULL;
	size_t ndirs = 0, nnames = 0;

	if (dir_list(ks->dirfd, "packs", "packs", is_hex2, &dirs, &ndirs,
	    NULL) != 0)
		return;
	for (size_t d = 0; d < ndirs; d++) {
		char sub[16], path[80];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		if (dir_list(ks->dirfd, sub, sub, is_packtmp, &names, &nnames,
		    NULL) != 0)
			continue;
		for (size_t i = 0; i < nnames; i++) {
			char label[128];

			snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
			SET_LABEL(label, ks->idhex, path);
			(void)rfs_unlink(ks->dirfd, path, label, NULL);
		}
		strlist_free(names, nnames);
		names = NULL;
		nnames = 0;
	}
	strlist_free(dirs, ndirs);
}

