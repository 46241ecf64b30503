/* SPDX-License-Identifier: ISC */
/*
 * fuzz_filecache: the file cache of a key set (docs/FORMAT.md §18.5), as
 * fcache_open loads it, under a fixed cache key.  The cache is MAC'd, so
 * with the first input byte odd the harness appends the right MAC to the
 * rest and the parser behind the MAC runs; with it even the rest is the
 * whole file.
 *
 * Properties, against a reference reader written here from §18.5: a file
 * the reference refuses is ignored (no entry of it is ever looked up); an
 * accepted one hands out every entry with its chunk list (entries with a
 * (dev, ino) of their own), and writing the same entries back with
 * fcache_add and fcache_save gives the same file byte for byte.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "backup/filecache.h"

#define ENT_FIXED	44

struct ref_entry {
	uint64_t	 dev, ino, size;
	int64_t		 mtime, ctime;
	uint32_t	 n;
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

/* §18.5; *nv counts the entries read, also when it then fails. */
static bool
ref_parse(const uint8_t *f, size_t len, struct ref_entry *v, size_t *nv)
{
	uint8_t mac[HASH_LEN];
	struct rbuf rb;
	uint64_t n;

	*nv = 0;
	if (len < 16 + HASH_LEN || memcmp(f, "CFCACHE1", 8) != 0)
		return false;
	hash_keyed(mac, key, f, len - HASH_LEN);
	if (memcmp(mac, f + len - HASH_LEN, HASH_LEN) != 0)
		return false;
	rbuf_init(&rb, f + 8, len - 8 - HASH_LEN);
	n = rbuf_u64(&rb);
	for (uint64_t i = 0; i < n; i++) {
		struct ref_entry *e = &v[*nv];

		e->dev = rbuf_u64(&rb);
		e->ino = rbuf_u64(&rb);
		e->size = rbuf_u64(&rb);
		e->mtime = (int64_t)rbuf_u64(&rb);
		e->ctime = (int64_t)rbuf_u64(&rb);
		e->n = rbuf_u32(&rb);
		if ((e->chunks = rbuf_get(&rb, (size_t)e->n *
		    BLOB_ID_LEN)) == NULL)
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
	size_t len, nv, alen;
	bool ok;

	if (size == 0)
		return 0;
	if (path[0] == '\0')
		LLVMFuzzerInitialize(NULL, NULL);
	len = size - 1;
	if ((f = malloc(len + HASH_LEN + 1)) == NULL ||
	    (v = malloc((len / ENT_FIXED + 1) * sizeof(*v))) == NULL)
		abort();
	memcpy(f, data + 1, len);
	if (data[0] & 1) {
		hash_keyed(f + len, key, f, len);
		len += HASH_LEN;
	}
	fuzz_write(AT_FDCWD, path, f, len, 0600);
	ok = ref_parse(f, len, v, &nv);

	FUZZ_CHECK(fcache_open(path, key, &fc) == 0, "fcache_open failed");
	for (size_t i = 0; i < nv; i++) {
		const struct ref_entry *e = &v[i];
		const uint8_t *c;
		bool unique = true;
		size_t n;

		for (size_t j = 0; j < nv && unique; j++)
			unique = j == i || v[j].dev != e->dev ||
			    v[j].ino != e->ino;
		c = fcache_lookup(fc, e->dev, e->ino, e->size, e->mtime,
		    e->ctime, &n);
		if (!ok) {
			FUZZ_CHECK(c == NULL && n == 0,
			    "entry %zu of a refused cache is used", i);
			continue;
		}
		if (!unique)
			continue;
		FUZZ_CHECK(c != NULL && n == e->n && (n == 0 ||
		    memcmp(c, e->chunks, n * BLOB_ID_LEN) == 0),
		    "entry %zu is not handed out as written", i);
		c = fcache_lookup(fc, e->dev, e->ino, e->size + 1, e->mtime,
		    e->ctime, &n);
		FUZZ_CHECK(c == NULL, "entry %zu matches another size", i);
	}
	if (ok) {
		for (size_t i = 0; i < nv; i++)
			fcache_add(fc, v[i].dev, v[i].ino, v[i].size,
			    v[i].mtime, v[i].ctime, v[i].chunks, v[i].n);
		FUZZ_CHECK(fcache_save(fc, &err) == 0, "fcache_save: %s",
		    err.msg);
		FUZZ_CHECK(file_read(AT_FDCWD, path, path, 1u << 30, &again,
		    &alen, &err) == 0, "reading back: %s", err.msg);
		FUZZ_CHECK(alen == len && memcmp(again, f, len) == 0,
		    "cache written back differs");
		coffer_free(again);
	}
	fcache_free(fc);
	free(f);
	free(v);
	return 0;
}
