/* SPDX-License-Identifier: ISC */
/*
 * fuzz_packtable: the blob table at the end of a pack (docs/FORMAT.md
 * §8), through pack_load_table, which keyset_get_blob runs (pack_scan)
 * the first time a blob is not in the index.  The first input byte picks
 * the mode:
 *
 *   even: the rest is the table PLAINTEXT; the harness lays out a pack
 *         file as pack_close would (magic, the table sealed with type
 *         PACKHDR and the pack id as object id, u32 length, end magic),
 *         with the magic CFPACK02 (bundled entries allowed) when bit 1
 *         of the first byte is set, else CFPACK01;
 *   odd:  the rest is the whole pack file, as found on a card (footer
 *         and length parsing, before any authentication).
 *
 * The harness then opens the set afresh (no index file) and asks for a
 * blob: the first one the table lists, or one it cannot list.
 * Properties, against a reference reader written here from §8: a table
 * the reference accepts makes the set know exactly that pack, and every
 * blob it lists where its first listing says, and the blob asked for is
 * never "not found"; a raw file that is not correctly sealed adds
 * nothing.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define PID_HEX		"fe0123456789abcdef0123456789abcd"
#define PACK_PATH	"packs/fe/" PID_HEX

struct ref_entry {
	uint8_t		type;
	bool		bundled;
	uint8_t		id[BLOB_ID_LEN];
	struct blob_loc	loc;
};

static uint8_t pid[PACK_ID_LEN];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct keyset *ks;

	(void)argc;
	(void)argv;
	fuzz_setup();
	ks = fuzz_keyset();
	if (mkdirat_p(ks->dirfd, "packs/fe", 0700) != 0 ||
	    hex_decode(pid, PID_HEX, sizeof(pid)) != 0)
		fuzz_fail(__FILE__, __LINE__, "setup", "packs/fe");
	return 0;
}

/* §8 table: count u32 | count × 49-byte entries. */
static bool
ref_parse(const uint8_t *p, size_t len, bool v2, struct ref_entry *v,
    size_t *nv)
{
	struct rbuf rb;
	uint32_t n;

	*nv = 0;
	rbuf_init(&rb, p, len);
	n = rbuf_u32(&rb);
	if (!rbuf_ok(&rb) || n > rbuf_left(&rb) / 49)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		struct ref_entry *e = &v[i];

		e->type = rbuf_u8(&rb);
		/* 0x80 marks a bundle's member (version 2 only). */
		e->bundled = v2 && (e->type & 0x80) != 0;
		if (e->bundled)
			e->type &= 0x7f;
		rbuf_copy(&rb, e->id, BLOB_ID_LEN);
		e->loc.pack = 0;
		e->loc.offset = rbuf_u64(&rb);
		e->loc.clen = rbuf_u32(&rb);
		e->loc.rawlen = rbuf_u32(&rb);
		if (!rbuf_ok(&rb) || (e->type != OBJ_DATA &&
		    e->type != OBJ_TREE) || e->loc.rawlen > BLOB_MAX ||
		    (e->bundled && e->loc.clen < 40 + 5 + 37))
			return false;
	}
	*nv = n;
	return true;
}

/* The pack file around a sealed table of ${len} plaintext bytes. */
static uint8_t *
make_pack(const struct keyset *ks, const uint8_t *p, size_t len, bool v2,
    size_t *flen)
{
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint8_t *f;
	size_t hlen = len + AEAD_OVERHEAD;

	if ((f = malloc(8 + hlen + 12)) == NULL)
		abort();
	memcpy(f, v2 ? "CFPACK02" : "CFPACK01", 8);
	adlen = ad_build(ad, &ks->ab, OBJ_PACKHDR, pid, PACK_ID_LEN);
	aead_seal(f + 8, p, len, ad, adlen, KS_ENC(ks));
	le32enc(f + 8 + hlen, (uint32_t)hlen);
	memcpy(f + 8 + hlen + 4, "CFPKEND1", 8);
	*flen = 8 + hlen + 12;
	return f;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[BLOB_ID_LEN];
	struct coffer_err err = { 0 };
	struct keyset *base, *ks = NULL;
	struct ref_entry *v = NULL;
	struct wbuf out;
	uint8_t *file;
	size_t flen, nv = 0, ndistinct = 0;
	bool raw, v2, ok = false;
	int r;

	if (size == 0)
		return 0;
	base = fuzz_keyset();
	raw = data[0] & 1;
	v2 = (data[0] & 2) != 0;
	data++;
	size--;
	if (raw) {
		fuzz_write(base->dirfd, PACK_PATH, data, size, 0600);
	} else {
		if ((v = malloc((size / 49 + 1) * sizeof(*v))) == NULL)
			abort();
		ok = ref_parse(data, size, v2, v, &nv);
		file = make_pack(base, data, size, v2, &flen);
		fuzz_write(base->dirfd, PACK_PATH, file, flen, 0600);
		free(file);
	}

	r = keyset_open(fuzz_repo(), fuzz_dk, false, NULL, &ks, &err);
	FUZZ_CHECK(r == 0, "keyset_open returned %d (%s)", r, err.msg);
	FUZZ_CHECK(ks->npacks == 0, "a set without index knows packs");
	wbuf_init(&out, BLOB_MAX);
	r = keyset_get_blob(ks, nv > 0 ? v[0].type : OBJ_TREE,
	    nv > 0 ? v[0].id : zero, &out, &err);
	wbuf_release(&out);
	FUZZ_CHECK(ks->scanned, "the packs were not scanned");
	if (ok && nv > 0)
		FUZZ_CHECK(r != COFFER_ENOTFOUND, "listed blob not found: %s",
		    err.msg);
	if (raw) {
		/* A correctly sealed table cannot come from the fuzzer. */
		FUZZ_CHECK(r == COFFER_ENOTFOUND && ks->npacks == 0,
		    "an unauthenticated pack table was used");
	} else if (ok) {
		FUZZ_CHECK(ks->npacks == 1 && memcmp(ks->packs[0].id, pid,
		    PACK_ID_LEN) == 0, "%u packs known", ks->npacks);
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
			FUZZ_CHECK(e->loc.pack == 0 &&
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
	return 0;
}
