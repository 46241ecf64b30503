/* SPDX-License-Identifier: ISC */
/*
 * fuzz_blob: the decoding of a sealed blob once its AEAD has opened
 * (docs/FORMAT.md §7: codec byte, raw payload or one zstd frame), through
 * keyset_open_blob, which every read of file content and of trees runs.
 * Input: rawlen u32 (taken modulo 64 KiB + 1, to keep each run fast)
 * then the blob PLAINTEXT (codec | payload), which the harness seals as
 * a DATA blob under the fixed key.
 *
 * Properties: a correctly sealed blob is never refused as unauthentic
 * (unless it is shorter than the codec byte); an accepted blob is exactly
 * rawlen bytes: for codec 0 the payload itself, for codec 1 exactly one
 * zstd frame and what zstd itself (called here directly) makes of it;
 * any other codec is refused.
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "fuzz.h"

#define RAWLEN_CAP	((1u << 16) + 1)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_keyset();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t id[BLOB_ID_LEN] = { 'f', 'u', 'z', 'z' };
	struct coffer_err err = { 0 };
	struct keyset *ks;
	struct wbuf out;
	uint8_t ad[AD_LEN];
	size_t adlen;
	uint8_t *sealed, *scratch;
	uint32_t rawlen;
	size_t m, clen;
	int r;

	if (size < 4)
		return 0;
	ks = fuzz_keyset();
	rawlen = le32dec(data) % RAWLEN_CAP;
	data += 4;
	m = size - 4;
	clen = m + AEAD_OVERHEAD;
	if ((sealed = malloc(clen)) == NULL || (scratch = malloc(clen)) == NULL)
		abort();
	adlen = ad_build(ad, &ks->ab, OBJ_DATA, id, BLOB_ID_LEN);
	aead_seal(sealed, data, m, ad, adlen, KS_ENC(ks));
	wbuf_init(&out, BLOB_MAX);
	r = keyset_open_blob(ks, OBJ_DATA, id, sealed, clen, rawlen, &out,
	    scratch, NULL, "fuzz blob", &err);
	if (m == 0) {
		FUZZ_CHECK(r == COFFER_EAUTH, "empty blob: %d", r);
	} else {
		FUZZ_CHECK(r == 0 || r == COFFER_EFORMAT,
		    "keyset_open_blob returned %d (%s)", r, err.msg);
		if (data[0] > 1)
			FUZZ_CHECK(r != 0, "codec %u accepted", data[0]);
	}
	if (r == 0) {
		FUZZ_CHECK(out.len == rawlen, "%zu bytes, rawlen %u", out.len,
		    rawlen);
		if (data[0] == 0) {
			FUZZ_CHECK(m - 1 == rawlen && (rawlen == 0 ||
			    memcmp(out.p, data + 1, rawlen) == 0),
			    "raw blob differs from its payload");
		} else {
			uint8_t *z = malloc(rawlen + 1);
			size_t zr;

			if (z == NULL)
				abort();
			zr = ZSTD_decompress(z, rawlen, data + 1, m - 1);
			/* §7: exactly one frame, not skippable, nothing after. */
			FUZZ_CHECK(m - 1 >= 4 && le32dec(data + 1) ==
			    ZSTD_MAGICNUMBER && ZSTD_findFrameCompressedSize(
			    data + 1, m - 1) == m - 1,
			    "accepted a payload that is not exactly one frame");
			FUZZ_CHECK(!ZSTD_isError(zr) && zr == rawlen &&
			    (rawlen == 0 || memcmp(z, out.p, rawlen) == 0),
			    "zstd blob differs from what zstd makes of it");
			free(z);
		}
	}
	wbuf_release(&out);
	free(sealed);
	free(scratch);
	return 0;
}
