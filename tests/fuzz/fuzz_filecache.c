/* SPDX-License-Identifier: ISC */
/*
 * fuzz_filecache: the file cache of a key set (docs/FORMAT.md §18.6), as
 * fcache_open loads it, under a fixed cache key.  The cache is MAC'd, so
 * with the first input byte odd the harness appends the right MAC to the
 * rest and the parser behind the MAC runs; with it even the rest is the
 * whole file.
 *
 * Properties, against a reference reader written here from §18.6: a file
 * the reference refuses is ignored (no entry of it is ever looked up); an
 * accepted one hands out every entry with its chunk list, attributes and
 * inode flags (entries with a (dev, ino) of their own), and writing those
 * entries back with fcache_fill, fcache_add and fcache_save gives a file
 * the reference accepts, with the next generation and the same entries.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "backup/filecache.h"

#define ENT_FIXED	68

struct ref_entry {
	uint64_t	 dev, ino, size;
	int64_t		 mtime, ctime;
	uint32_t	 iflags, n, nx;
	const uint8_t	*chunks;
};

static char path[PATH_MAX];
static const uint8_t *key = fuzz_dk;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_path(path, sizeof(path), "cache");
	if (mkdirat_p(AT_FDCWD, path, 0700) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "%s", path);
	fuzz_path(path, sizeof(path), "cache/x.cache");
	return 0;
}

/* §18.6; *nv counts the entries read, also when it then fails. */
static bool
ref_parse(const uint8_t *f, size_t len, struct ref_entry *v, size_t *nv,
    uint64_t *gen)
{
	uint8_t mac[HASH_LEN];
	struct rbuf rb;
	uint64_t n;

	*nv = 0;
	if (len < 24 + HASH_LEN || memcmp(f, "CFCACHE2", 8) != 0)
		return false;
	hash_keyed(mac, key, f, len - HASH_LEN);
	if (memcmp(mac, f + len - HASH_LEN, HASH_LEN) != 0)
		return false;
	rbuf_init(&rb, f + 8, len - 8 - HASH_LEN);
	*gen = rbuf_u64(&rb);
	n = rbuf_u64(&rb);
	if (*gen == UINT64_MAX || n > (len / ENT_FIXED))
		return false;
	for (uint64_t i = 0; i < n; i++) {
		struct ref_entry *e = &v[*nv];

		e->dev = rbuf_u64(&rb);
		e->ino = rbuf_u64(&rb);
		e->size = rbuf_u64(&rb);
		e->mtime = (int64_t)rbuf_u64(&rb);
		e->ctime = (int64_t)rbuf_u64(&rb);
		if (rbuf_u64(&rb) > *gen)	/* seen_gen */
			return false;
		(void)rbuf_u64(&rb);		/* seen_time */
		e->iflags = rbuf_u32(&rb);
		e->n = rbuf_u32(&rb);
		if ((e->chunks = rbuf_get(&rb, (size_t)e->n *
		    BLOB_ID_LEN)) == NULL)
			return false;
		e->nx = rbuf_u32(&rb);
		for (uint32_t x = 0; x < e->nx; x++) {
			size_t nl = rbuf_u16(&rb), vl;
			const uint8_t *nm = rbuf_get(&rb, nl);

			if (nm == NULL || nl == 0 || nl > 255 ||
			    memchr(nm, 0, nl) != NULL ||
			    rbuf_bytes32(&rb, &vl, 1u << 20) == NULL)
				return false;
		}
		if (!rbuf_ok(&rb))
			return false;
		(*nv)++;
	}
	return rbuf_ok(&rb) && rbuf_left(&rb) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct fcache *fc = NULL;
	struct ref_entry *v;
	uint8_t *f, *again = NULL;
	size_t len, nv, alen, nuniq = 0, nback;
	uint64_t gen = 0, gen2 = 0;
	bool ok;

	if (size == 0)
		return 0;
	if (path[0] == '\0')
		LLVMFuzzerInitialize(NULL, NULL);
	len = size - 1;
	if ((f = malloc(len + HASH_LEN + 1)) == NULL ||
	    (v = malloc((len / ENT_FIXED + 2) * sizeof(*v))) == NULL)
		abort();
	memcpy(f, data + 1, len);
	if (data[0] & 1) {
		hash_keyed(f + len, key, f, len);
		len += HASH_LEN;
	}
	fuzz_write(AT_FDCWD, path, f, len, 0600);
	ok = ref_parse(f, len, v, &nv, &gen);

	FUZZ_CHECK(fcache_open(path, key, &fc) == 0, "fcache_open failed");
	for (size_t i = 0; i < nv; i++) {
		const struct ref_entry *e = &v[i];
		const struct fcache_ent *fe;
		struct tree_entry te = { 0 };
		const uint8_t *c = NULL;
		bool unique = true;
		size_t n = 0;

		for (size_t j = 0; j < nv && unique; j++)
			unique = j == i || v[j].dev != e->dev ||
			    v[j].ino != e->ino;
		fe = fcache_lookup(fc, e->dev, e->ino, e->size, e->mtime,
		    e->ctime);
		if (fe != NULL)
			c = fcache_chunks(fe, &n);
		if (!ok) {
			FUZZ_CHECK(fe == NULL,
			    "entry %zu of a refused cache is used", i);
			continue;
		}
		if (!unique)
			continue;
		FUZZ_CHECK(c != NULL && n == e->n && (n == 0 ||
		    memcmp(c, e->chunks, n * BLOB_ID_LEN) == 0),
		    "entry %zu is not handed out as written", i);
		FUZZ_CHECK(fcache_fill(fe, &te) == 0, "fcache_fill");
		FUZZ_CHECK(te.size == e->size && te.iflags == e->iflags &&
		    te.nxattrs == e->nx && te.nchunks == e->n,
		    "entry %zu is not filled in as written", i);
		fcache_add(fc, e->dev, e->ino, e->mtime, e->ctime, &te);
		tree_entry_release(&te);
		nuniq++;
		fe = fcache_lookup(fc, e->dev, e->ino, e->size + 1, e->mtime,
		    e->ctime);
		FUZZ_CHECK(fe == NULL, "entry %zu matches another size", i);
	}
	if (ok) {
		FUZZ_CHECK(fcache_save(fc, &err) == 0, "fcache_save: %s",
		    err.msg);
		FUZZ_CHECK(file_read(AT_FDCWD, path, path, 1u << 30, &again,
		    &alen, &err) == 0, "reading back: %s", err.msg);
		FUZZ_CHECK(ref_parse(again, alen, v, &nback, &gen2) &&
		    gen2 == gen + 1 && nback == nuniq,
		    "cache written back is not the same entries");
		coffer_free(again);
	}
	fcache_free(fc);
	free(f);
	free(v);
	return 0;
}
