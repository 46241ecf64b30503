/* SPDX-License-Identifier: ISC */
/*
 * fuzz_bundle: the decoding of a sealed bundle once its AEAD has opened
 * (docs/FORMAT.md §7.1: codec | count | count × (type, id, rawlen) |
 * payload), through bundle_open and bundle_member, which every read of a
 * bundled blob runs (get_bundled).  Input: the bundle PLAINTEXT, which the
 * harness seals as a BUNDLE (AD: type 7, the key id, 32 zero bytes) under
 * the fixed key.
 *
 * A reference reader written here from §7.1 decides what must be
 * accepted: 1 <= count <= 4096, the table fits, every member type is 1 or
 * 2, the members' rawlen add up to at most 64 MiB (BLOB_MAX), and the
 * payload is that sum of bytes (codec 0) or a non-empty zstd payload that
 * ZSTD_decompress (called here directly) turns into exactly that many
 * bytes (codec 1); any other codec is refused.
 *
 * Properties:
 *  1. A correctly sealed bundle is never refused as unauthentic:
 *     bundle_open returns 0 exactly when the reference accepts, otherwise
 *     COFFER_EFORMAT.  COFFER_ENOMEM is tolerated only where bundle_open
 *     reserves the members' bytes, i.e. for a table the reference passes
 *     whose sum is over ENOMEM_SUM (1 MiB): never for what a real writer
 *     makes (at most 1 MiB a bundle).
 *  2. Accepted: the decoded bytes are the reference's; for a member i of
 *     the table (all of them when there are at most 2 × CHECK_ENDS, else
 *     the first and last CHECK_ENDS), bundle_member(type_i, id_i,
 *     rawlen_i) goes to the FIRST entry j of the table with that (type,
 *     id) and returns its bytes (at the sum of the rawlen before j) if
 *     rawlen_j == rawlen_i, else COFFER_EFORMAT; that is what the code
 *     does (FORMAT.md only says "looks for (t, I) in the table").
 *  3. Accepted: bundle_member refuses with COFFER_EFORMAT an id the table
 *     does not hold, the other type when the table does not hold that
 *     pair, types 0 and 0x80|type (the pack-table form), and rawlen ± 1.
 *  4. The same plaintext sealed with the wrong AD (type DATA) is refused,
 *     COFFER_EAUTH (or EFORMAT when shorter than the smallest bundle),
 *     and opened into the used struct bundle it leaves that bundle not
 *     valid, with no members (get_bundled's cache relies on it; its
 *     buffers are kept for the next open); every buffer is freed by
 *     bundle_release (LeakSanitizer in ASan builds).
 *
 * Codec 1 is exactly one zstd frame, not skippable, and nothing after
 * it (§7.1, decompress_buf): the reference requires the same, so several
 * concatenated frames or a skippable one are refused by both.
 *
 * Each run stays fast.  The reference reads codec 0 members in place and,
 * for codec 1, allocates the sum (at most 64 MiB) only when the first
 * frame's header does not already rule it out.  bundle_open reserves the
 * sum before it looks at the payload, and wipes it when it refuses: a
 * table the reference passes with a sum over BIG_SUM (1 MiB; a writer
 * makes at most 1 MiB a bundle) that the reference then refuses is not
 * handed to bundle_open (it took 99% of the time: 320 runs a second
 * instead of 34,000), only to the wrong-AD check of property 4; the
 * refusal runs the same lines as for a small sum.  Instead, once per
 * process, LLVMFuzzerInitialize runs every property on three bundles at
 * the limit: raw with a sum of exactly 64 MiB and a short payload
 * (refused after the reservation), raw with 64 MiB + 1 (refused before
 * it) and zstd decompressing to exactly 64 MiB (accepted).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "fuzz.h"

#define ENOMEM_SUM	(1u << 20)
#define BIG_SUM		ENOMEM_SUM
#define CHECK_ENDS	64

static bool one_frame;	/* always true: decompress_buf's rule */

struct ref {
	bool		 table_ok;	/* count, table, types and sum */
	bool		 ok;		/* and the payload: accepted */
	uint32_t	 n;
	uint64_t	 sum;
	const uint8_t	*ents;
	const uint8_t	*bytes;		/* the members' bytes, sum of them */
	uint8_t		*owned;		/* bytes, when decompressed here */
};

static const uint8_t *
ent(const struct ref *ref, uint32_t i)
{
	return ref->ents + (size_t)i * BUNDLE_ENTRY;
}

static uint32_t
ent_len(const struct ref *ref, uint32_t i)
{
	return le32dec(ent(ref, i) + 1 + BLOB_ID_LEN);
}

/* The reference reader of §7.1; ${ref} refers into ${data}. */
static void
ref_read(const uint8_t *data, size_t size, struct ref *ref)
{
	const uint8_t *pay;
	size_t hdr, plen;
	unsigned long long fcs;

	memset(ref, 0, sizeof(*ref));
	if (size < BUNDLE_HDR)
		return;
	ref->n = le32dec(data + 1);
	if (ref->n < 1 || ref->n > BUNDLE_MEMBERS_MAX ||
	    (uint64_t)ref->n * BUNDLE_ENTRY > size - BUNDLE_HDR)
		return;
	ref->ents = data + BUNDLE_HDR;
	for (uint32_t i = 0; i < ref->n; i++) {
		if (ent(ref, i)[0] != 1 && ent(ref, i)[0] != 2)
			return;
		ref->sum += ent_len(ref, i);
	}
	if (ref->sum > BLOB_MAX)
		return;
	ref->table_ok = true;
	hdr = BUNDLE_HDR + (size_t)ref->n * BUNDLE_ENTRY;
	pay = data + hdr;
	plen = size - hdr;
	if (data[0] == 0) {
		ref->ok = plen == ref->sum;
		ref->bytes = pay;
		return;
	}
	if (data[0] != 1 || plen == 0)
		return;
	/* codec 1: what the frame header already rules out. */
	fcs = ZSTD_getFrameContentSize(pay, plen);
	if (fcs == ZSTD_CONTENTSIZE_ERROR ||
	    (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs > ref->sum))
		return;
	if (one_frame && (plen < 4 || le32dec(pay) != ZSTD_MAGICNUMBER ||
	    ZSTD_findFrameCompressedSize(pay, plen) != plen ||
	    (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != ref->sum)))
		return;
	if ((ref->owned = malloc((size_t)ref->sum + 1)) == NULL)
		abort();
	{
		size_t zr = ZSTD_decompress(ref->owned, (size_t)ref->sum, pay,
		    plen);

		ref->ok = !ZSTD_isError(zr) && zr == ref->sum;
	}
	ref->bytes = ref->owned;
}

/* The first entry of the table with (${type}, ${id}), or n. */
static uint32_t
ref_find(const struct ref *ref, int type, const uint8_t *id)
{
	for (uint32_t j = 0; j < ref->n; j++)
		if (ent(ref, j)[0] == type &&
		    memcmp(ent(ref, j) + 1, id, BLOB_ID_LEN) == 0)
			return j;
	return ref->n;
}

static void
expect_refused(const struct bundle *b, int type, const uint8_t *id,
    uint32_t rawlen, const char *what)
{
	struct coffer_err err = { 0 };
	const uint8_t *p = NULL;
	int r;

	r = bundle_member(b, type, id, rawlen, &p, "fuzz bundle", &err);
	FUZZ_CHECK(r == COFFER_EFORMAT, "bundle_member (%s, type %d, rawlen "
	    "%u) returned %d", what, type, rawlen, r);
}

/* Properties 2 and 3 for member ${i}; ${off}: prefix sums of rawlen. */
static void
check_member(const struct bundle *b, const struct ref *ref,
    const uint64_t *off, uint32_t i)
{
	struct coffer_err err = { 0 };
	const uint8_t *x = ent(ref, i), *p = NULL;
	uint32_t len = ent_len(ref, i), j, jlen;
	int type = x[0], r;

	j = ref_find(ref, type, x + 1);
	FUZZ_CHECK(j <= i, "reference: member %u not found", i);
	jlen = ent_len(ref, j);
	r = bundle_member(b, type, x + 1, len, &p, "fuzz bundle", &err);
	if (jlen != len) {
		FUZZ_CHECK(r == COFFER_EFORMAT, "member %u: first match %u has "
		    "rawlen %u, not %u, yet bundle_member returned %d", i, j,
		    jlen, len, r);
	} else {
		FUZZ_CHECK(r == 0, "member %u (first match %u, %u bytes): "
		    "bundle_member returned %d (%s)", i, j, len, r, err.msg);
		if (len > 0) {
			FUZZ_CHECK(p >= b->data.p && (size_t)(p - b->data.p) ==
			    off[j], "member %u: at %td, not %llu", i,
			    p - b->data.p, (unsigned long long)off[j]);
			FUZZ_CHECK(memcmp(p, ref->bytes + off[j], len) == 0,
			    "member %u: bytes differ from the reference", i);
		}
	}
	/* Property 3. */
	expect_refused(b, type, x + 1, jlen + 1, "rawlen + 1");
	expect_refused(b, type, x + 1, jlen - 1, "rawlen - 1");
	expect_refused(b, type | ENTRY_BUNDLED, x + 1, jlen, "flagged type");
	expect_refused(b, 0, x + 1, jlen, "type 0");
	if (ref_find(ref, 3 - type, x + 1) == ref->n)
		expect_refused(b, 3 - type, x + 1, jlen, "other type");
}

static void
check_accepted(const struct bundle *b, const struct ref *ref)
{
	uint8_t id[BLOB_ID_LEN];
	uint64_t *off;

	FUZZ_CHECK(b->valid && b->n == ref->n && b->data.len == ref->sum,
	    "accepted bundle: valid %d, %u members (%u), %zu bytes (%llu)",
	    b->valid, b->n, ref->n, b->data.len,
	    (unsigned long long)ref->sum);
	FUZZ_CHECK(ref->sum == 0 ||
	    memcmp(b->data.p, ref->bytes, (size_t)ref->sum) == 0,
	    "decoded members differ from the reference");
	if ((off = malloc(((size_t)ref->n + 1) * sizeof(*off))) == NULL)
		abort();
	off[0] = 0;
	for (uint32_t i = 0; i < ref->n; i++)
		off[i + 1] = off[i] + ent_len(ref, i);
	for (uint32_t i = 0; i < ref->n; i++) {
		if (i == CHECK_ENDS && ref->n > 2 * CHECK_ENDS)
			i = ref->n - CHECK_ENDS;
		check_member(b, ref, off, i);
	}
	free(off);
	/* An id the table does not hold, near the first one. */
	memcpy(id, ent(ref, 0) + 1, sizeof(id));
	for (uint32_t k = 0;; k++) {
		le32enc(id + BLOB_ID_LEN - 4, le32dec(ent(ref, 0) + 1 +
		    BLOB_ID_LEN - 4) ^ (0x9e3779b9u + k));
		if (ref_find(ref, 1, id) == ref->n &&
		    ref_find(ref, 2, id) == ref->n)
			break;
	}
	expect_refused(b, 1, id, ent_len(ref, 0), "absent id");
	expect_refused(b, 2, id, ent_len(ref, 0), "absent id");
}

/* All the properties on one input; ${all}: even a refused big sum. */
static void
one(const uint8_t *data, size_t size, bool all)
{
	static const uint8_t zero[BLOB_ID_LEN];
	struct coffer_err err = { 0 };
	struct bundle b;
	struct keyset *ks;
	struct ref ref;
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint8_t *sealed;
	size_t clen = size + AEAD_OVERHEAD;
	int r;

	ks = fuzz_keyset();
	ref_read(data, size, &ref);
	if ((sealed = malloc(clen)) == NULL)
		abort();
	memset(&b, 0, sizeof(b));
	if (!all && ref.table_ok && ref.sum > BIG_SUM && !ref.ok)
		goto wrong_ad;
	adlen = ad_build(ad, &ks->ab, OBJ_BUNDLE, zero, BLOB_ID_LEN);
	aead_seal(sealed, data, size, ad, adlen, KS_ENC(ks));

	/* Property 1. */
	r = bundle_open(ks, sealed, clen, &b, NULL, "fuzz bundle", &err);
	FUZZ_CHECK(r != COFFER_EAUTH, "correctly sealed bundle of %zu bytes "
	    "refused as unauthentic", size);
	if (r == COFFER_ENOMEM)
		FUZZ_CHECK(ref.table_ok && ref.sum > ENOMEM_SUM, "ENOMEM for "
		    "a sum of %llu (%s)", (unsigned long long)ref.sum,
		    err.msg);
	else if (ref.ok)
		FUZZ_CHECK(r == 0, "reference accepts (codec %u, %u members, "
		    "%llu bytes), bundle_open returned %d (%s)", data[0],
		    ref.n, (unsigned long long)ref.sum, r, err.msg);
	else
		FUZZ_CHECK(r == COFFER_EFORMAT, "reference refuses, "
		    "bundle_open returned %d (%s)", r, err.msg);

	/* Properties 2 and 3. */
	if (r == 0)
		check_accepted(&b, &ref);
	else
		FUZZ_CHECK(!b.valid && b.n == 0,
		    "refused bundle left valid");

wrong_ad:
	/* Property 4: sealed as a DATA blob, into the used struct. */
	adlen = ad_build(ad, &ks->ab, OBJ_DATA, zero, BLOB_ID_LEN);
	aead_seal(sealed, data, size, ad, adlen, KS_ENC(ks));
	r = bundle_open(ks, sealed, clen, &b, NULL, "fuzz bundle", &err);
	FUZZ_CHECK(r == COFFER_EAUTH || (r == COFFER_EFORMAT &&
	    size < BUNDLE_HDR + BUNDLE_ENTRY), "bundle sealed as DATA, %zu "
	    "bytes: bundle_open returned %d", size, r);
	FUZZ_CHECK(!b.valid && b.n == 0, "refused bundle left valid");

	bundle_release(&b);
	free(ref.owned);
	free(sealed);
}

/* wr_ent(p, type, c, rawlen): a table entry, id 32 times ${c}. */
static uint8_t *
wr_ent(uint8_t *p, int type, int c, uint32_t rawlen)
{
	*p++ = (uint8_t)type;
	memset(p, c, BLOB_ID_LEN);
	le32enc(p + BLOB_ID_LEN, rawlen);
	return p + BLOB_ID_LEN + 4;
}

/* The three bundles at the 64 MiB limit (see the top). */
static void
check_limits(void)
{
	uint8_t raw[BUNDLE_HDR + 2 * BUNDLE_ENTRY + 4], *p, *zbuf, *src;
	size_t cap, zlen;

	raw[0] = 0;
	le32enc(raw + 1, 2);
	p = wr_ent(raw + BUNDLE_HDR, 1, 'a', BLOB_MAX - 4);
	p = wr_ent(p, 1, 'b', 4);
	memcpy(p, "tail", 4);
	one(raw, sizeof(raw), true);
	wr_ent(raw + BUNDLE_HDR + BUNDLE_ENTRY, 1, 'b', 5);
	one(raw, sizeof(raw), true);

	cap = BUNDLE_HDR + 3 * BUNDLE_ENTRY + ZSTD_compressBound(BLOB_MAX);
	if ((src = calloc(1, BLOB_MAX)) == NULL ||
	    (zbuf = malloc(cap)) == NULL)
		abort();
	zbuf[0] = 1;
	le32enc(zbuf + 1, 3);
	p = wr_ent(zbuf + BUNDLE_HDR, 1, 'c', BLOB_MAX / 2);
	p = wr_ent(p, 2, 'c', 0);
	p = wr_ent(p, 1, 'd', BLOB_MAX / 2);
	zlen = ZSTD_compress(p, cap - (size_t)(p - zbuf), src, BLOB_MAX, 1);
	FUZZ_CHECK(!ZSTD_isError(zlen), "ZSTD_compress: %s",
	    ZSTD_getErrorName(zlen));
	free(src);
	one(zbuf, (size_t)(p - zbuf) + zlen, true);
	free(zbuf);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	one_frame = true;
	fuzz_setup();
	fuzz_keyset();
	check_limits();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, false);
	return 0;
}
