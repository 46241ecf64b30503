/* SPDX-License-Identifier: ISC */
/*
 * fuzz_index: the body of an index file (docs/FORMAT.md §9), through
 * keyset_load_index, which loads every index file of a set
 * (index_load_file).
 * The input is the index PLAINTEXT; the harness seals it as keyset_flush
 * would (type INDEX, the file name's 16 bytes as object id; magic
 * CFINDX02 for inputs of odd length, where bundled entries are allowed,
 * CFINDX01 for even ones, where they are not) under the fixed key,
 * stores it as the set's only index file, and opens the set afresh.
 *
 * Properties, against a reference reader written here from §9: the set
 * always opens (a bad index file is skipped and counted, never fatal);
 * the file is counted bad exactly when the reference refuses it, and
 * never as unauthentic; when accepted, the set knows exactly the packs
 * listed, in order, and every listed blob is found where its first
 * listing says.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define IID_HEX		"0123456789abcdef0123456789abcdef"

struct ref_entry {
	uint8_t		type;
	bool		bundled;
	uint8_t		id[BLOB_ID_LEN];
	struct blob_loc	loc;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_keyset();
	return 0;
}

/* §9 plaintext: npacks u32 | npacks × (pack id[16] | n u32 | n × 49). */
static bool
ref_parse(const uint8_t *data, size_t size, bool v2, struct ref_entry *v,
    size_t *nv, uint8_t (*pids)[PACK_ID_LEN], uint32_t *npacks)
{
	struct rbuf rb;
	uint32_t npk;

	*nv = 0;
	rbuf_init(&rb, data, size);
	npk = rbuf_u32(&rb);
	*npacks = npk;
	for (uint32_t p = 0; p < npk; p++) {
		uint32_t nb;

		/* Each pack takes 20 bytes: ${pids} has room if it parses. */
		rbuf_copy(&rb, pids[p < size / 20 ? p : 0], PACK_ID_LEN);
		nb = rbuf_u32(&rb);
		if (!rbuf_ok(&rb))
			return false;
		for (uint32_t b = 0; b < nb; b++) {
			struct ref_entry *e = &v[*nv];

			e->type = rbuf_u8(&rb);
			/* §8: 0x80 marks a bundle's member (version 2 only). */
			e->bundled = v2 && (e->type & 0x80) != 0;
			if (e->bundled)
				e->type &= 0x7f;
			rbuf_copy(&rb, e->id, BLOB_ID_LEN);
			e->loc.pack = p;
			e->loc.offset = rbuf_u64(&rb);
			e->loc.clen = rbuf_u32(&rb);
			e->loc.rawlen = rbuf_u32(&rb);
			if (!rbuf_ok(&rb) || (e->type != OBJ_DATA &&
			    e->type != OBJ_TREE) || e->loc.rawlen > BLOB_MAX ||
			    (e->bundled && e->loc.clen < 40 + 5 + 37))
				return false;
			(*nv)++;
		}
	}
	return rbuf_ok(&rb) && rbuf_left(&rb) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_err err = { 0 };
	struct keyset *base, *ks = NULL;
	struct ref_entry *v;
	uint8_t (*pids)[PACK_ID_LEN];
	uint8_t iid[16];
	uint8_t *sealed = NULL;
	size_t slen, nv, ndistinct = 0;
	uint32_t npacks;
	bool ok, v2 = size % 2 == 1;
	int r;

	base = fuzz_keyset();
	FUZZ_CHECK(hex_decode(iid, IID_HEX, sizeof(iid)) == 0, "iid");
	FUZZ_CHECK(obj_seal(base, v2 ? "CFINDX02" : "CFINDX01", OBJ_INDEX, iid,
	    sizeof(iid),
	    data, size, &sealed, &slen, &err) == 0, "sealing: %s", err.msg);
	fuzz_write(base->dirfd, "index/" IID_HEX, sealed, slen, 0600);
	coffer_free(sealed);

	if ((v = malloc((size / 49 + 1) * sizeof(*v))) == NULL ||
	    (pids = malloc((size / 20 + 1) * PACK_ID_LEN)) == NULL)
		abort();
	ok = ref_parse(data, size, v2, v, &nv, pids, &npacks);

	r = keyset_open(fuzz_repo(), fuzz_dk, false, NULL, &ks, &err);
	FUZZ_CHECK(r == 0, "keyset_open returned %d (%s)", r, err.msg);
	/* keyset_open reads no index now; this is what loads it whole. */
	r = keyset_load_index(ks, true, &err);
	FUZZ_CHECK(r == 0, "keyset_load_index returned %d (%s)", r, err.msg);
	FUZZ_CHECK(ks->nbad_index == (ok ? 0u : 1u),
	    "index counted bad: %u, reference says %s", ks->nbad_index,
	    ok ? "good" : "bad");
	if (!ok)
		FUZZ_CHECK(ks->nindex_errs == 1 &&
		    ks->index_errs[0].code == COFFER_EFORMAT,
		    "bad index reported as %d (%s)", ks->nindex_errs ?
		    ks->index_errs[0].code : 0, ks->nindex_errs ?
		    ks->index_errs[0].msg : "");
	if (ok) {
		FUZZ_CHECK(ks->npacks == npacks, "%u packs, want %u",
		    ks->npacks, npacks);
		for (uint32_t p = 0; p < npacks; p++)
			FUZZ_CHECK(memcmp(ks->packs[p].id, pids[p],
			    PACK_ID_LEN) == 0, "pack %u has another id", p);
		for (size_t i = 0; i < nv; i++) {
			const struct idx_entry *e = idx_find(ks, v[i].type,
			    v[i].id);
			bool first = true;

			FUZZ_CHECK(e != NULL, "entry %zu not found", i);
			for (size_t j = 0; j < i && first; j++)
				first = v[j].type != v[i].type ||
				    memcmp(v[j].id, v[i].id, BLOB_ID_LEN) != 0;
			if (!first)
				continue;
			ndistinct++;
			FUZZ_CHECK(e->loc.pack == v[i].loc.pack &&
			    e->loc.offset == v[i].loc.offset &&
			    e->loc.clen == v[i].loc.clen &&
			    e->loc.rawlen == v[i].loc.rawlen &&
			    e->bundled == v[i].bundled,
			    "entry %zu is not where its first listing says", i);
		}
		FUZZ_CHECK(ks->tabn == ndistinct, "%zu blobs known, want %zu",
		    ks->tabn, ndistinct);
	}
	keyset_free(ks);
	free(v);
	free(pids);
	return 0;
}
