/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/crypto: the AEAD framing (nonce | ciphertext | tag)
 * and its failure behaviour, keyed and incremental BLAKE2b, the subkey
 * KDF and constant-time compare.
 *
 * The known answers below were checked against an independent
 * implementation (Python hashlib for BLAKE2b and the KDF, the
 * draft-irtf-cfrg-xchacha-03 A.3.1 vector for the AEAD).  Every key set
 * on every card depends on them: if one changes, old repositories no
 * longer open.
 */
#include <stdbool.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/util.h"
#include "unit.h"

/* unhex(out, hex, len): decode a known-good test vector. */
static void
unhex(uint8_t *out, const char *hex, size_t len)
{
	if (strlen(hex) != 2 * len || hex_decode(out, hex, len) != 0) {
		unit_fail(__FILE__, __LINE__, "bad test vector \"%.16s...\"",
		    hex);
		memset(out, 0, len);
	}
}

static void
fill(uint8_t *p, size_t len, uint8_t start)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(start + i);
}

static bool
all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* ---- AEAD ---- */

static void
aead_roundtrip(void)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 63, 64, 65, 1000,
	    4096, 100003 };
	static const uint8_t ad[] = "associated data";
	uint8_t key[KEY_LEN];
	uint8_t *in, *sealed, *out;
	size_t max = 100003;

	random_bytes(key, sizeof(key));
	in = coffer_malloc(max);
	sealed = coffer_malloc(max + AEAD_OVERHEAD);
	out = coffer_malloc(max);
	T_TRUE(in != NULL && sealed != NULL && out != NULL);
	if (in == NULL || sealed == NULL || out == NULL)
		goto out;
	random_bytes(in, max);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		aead_seal(sealed, in, n, ad, sizeof(ad), key);
		memset(out, 0xaa, max);
		T_EQ_INT(aead_open(out, sealed, n + AEAD_OVERHEAD, ad,
		    sizeof(ad), key), 0);
		T_EQ_MEM(out, in, n);
		/* Nothing written past the plaintext. */
		if (n < max)
			T_EQ_INT(out[n], 0xaa);
		/* No associated data at all. */
		aead_seal(sealed, in, n, NULL, 0, key);
		T_EQ_INT(aead_open(out, sealed, n + AEAD_OVERHEAD, NULL, 0,
		    key), 0);
		T_EQ_MEM(out, in, n);
	}
out:
	coffer_free(in);
	coffer_free(sealed);
	coffer_free(out);
}

/*
 * Known answer: aead_open reads nonce | ciphertext | tag as
 * XChaCha20-Poly1305-IETF (draft-irtf-cfrg-xchacha-03, A.3.1).
 */
static void
aead_known_answer(void)
{
	static const char pt[] = "Ladies and Gentlemen of the class of '99: "
	    "If I could offer you only one tip for the future, sunscreen "
	    "would be it.";
	static const char ct_hex[] =
	    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
	    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
	    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
	    "21f9664c97637da9768812f615c68b13b52e"
	    "c0875924c1c7987947deafd8780acf49";		/* tag */
	static const uint8_t ad[] = { 0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1,
	    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7 };
	const size_t ptlen = sizeof(pt) - 1;
	uint8_t key[KEY_LEN];
	uint8_t in[AEAD_NONCE_LEN + sizeof(pt) - 1 + AEAD_TAG_LEN];
	uint8_t out[sizeof(pt) - 1];

	T_EQ_INT(ptlen, 114);
	fill(key, sizeof(key), 0x80);
	fill(in, AEAD_NONCE_LEN, 0x40);
	unhex(in + AEAD_NONCE_LEN, ct_hex, ptlen + AEAD_TAG_LEN);
	T_EQ_INT(aead_open(out, in, sizeof(in), ad, sizeof(ad), key), 0);
	T_EQ_MEM(out, pt, ptlen);
}

/* Every single-bit change of the sealed bytes fails and zeroes ${out}. */
static void
aead_every_bit_flip_fails(void)
{
	static const uint8_t msg[] = "a small message of 33 bytes!!!!!";
	static const uint8_t ad[] = { 1, 2, 3, 4 };
	uint8_t key[KEY_LEN];
	uint8_t sealed[sizeof(msg) + AEAD_OVERHEAD];
	uint8_t bad[sizeof(sealed)];
	uint8_t out[sizeof(msg)];
	size_t nfail = 0;

	random_bytes(key, sizeof(key));
	aead_seal(sealed, msg, sizeof(msg), ad, sizeof(ad), key);
	for (size_t bit = 0; bit < 8 * sizeof(sealed); bit++) {
		memcpy(bad, sealed, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 0xaa, sizeof(out));
		if (aead_open(out, bad, sizeof(bad), ad, sizeof(ad), key) != -1 ||
		    !all_zero(out, sizeof(out))) {
			if (nfail++ < 5)
				unit_fail(__FILE__, __LINE__, "flipping bit %zu "
				    "of byte %zu: accepted or output not zeroed",
				    bit % 8, bit / 8);
		}
	}
	T_EQ_INT(nfail, 0);

	/* Every truncation fails too. */
	for (size_t n = 0; n < sizeof(sealed); n++)
		if (aead_open(out, sealed, n, ad, sizeof(ad), key) != -1)
			unit_fail(__FILE__, __LINE__, "accepted %zu of %zu "
			    "bytes", n, sizeof(sealed));
	/* The untouched original still opens. */
	T_EQ_INT(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key),
	    0);
	T_EQ_MEM(out, msg, sizeof(msg));
}

static void
aead_wrong_ad_or_key_fails(void)
{
	static const uint8_t msg[] = "attack at dawn";
	uint8_t ad[24] = "type 1 key 2 id 3";
	uint8_t ad2[sizeof(ad)];
	uint8_t key[KEY_LEN], key2[KEY_LEN];
	uint8_t sealed[sizeof(msg) + AEAD_OVERHEAD];
	uint8_t out[sizeof(msg)];

	random_bytes(key, sizeof(key));
	aead_seal(sealed, msg, sizeof(msg), ad, sizeof(ad), key);

	/* Each byte of the associated data matters. */
	for (size_t i = 0; i < sizeof(ad); i++) {
		memcpy(ad2, ad, sizeof(ad));
		ad2[i] ^= 0x01;
		memset(out, 0xaa, sizeof(out));
		T_EQ_INT(aead_open(out, sealed, sizeof(sealed), ad2, sizeof(ad2),
		    key), -1);
		T_TRUE(all_zero(out, sizeof(out)));
	}
	/* So does its length. */
	T_EQ_INT(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad) - 1,
	    key), -1);
	T_EQ_INT(aead_open(out, sealed, sizeof(sealed), NULL, 0, key), -1);
	T_TRUE(all_zero(out, sizeof(out)));

	/* Any other key, even one bit away. */
	for (size_t i = 0; i < KEY_LEN; i += 7) {
		memcpy(key2, key, sizeof(key));
		key2[i] ^= 0x80;
		memset(out, 0xaa, sizeof(out));
		T_EQ_INT(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad),
		    key2), -1);
		T_TRUE(all_zero(out, sizeof(out)));
	}
	random_bytes(key2, sizeof(key2));
	T_EQ_INT(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key2),
	    -1);
	T_EQ_INT(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key),
	    0);
	T_EQ_MEM(out, msg, sizeof(msg));
}

/* Random nonces: the same plaintext never seals to the same bytes. */
static void
aead_nonce_is_random(void)
{
	static const uint8_t msg[] = "same plaintext";
	uint8_t key[KEY_LEN];
	uint8_t a[sizeof(msg) + AEAD_OVERHEAD], b[sizeof(a)];
	uint8_t out[sizeof(msg)];

	random_bytes(key, sizeof(key));
	aead_seal(a, msg, sizeof(msg), NULL, 0, key);
	aead_seal(b, msg, sizeof(msg), NULL, 0, key);
	T_TRUE(memcmp(a, b, AEAD_NONCE_LEN) != 0);
	T_TRUE(memcmp(a + AEAD_NONCE_LEN, b + AEAD_NONCE_LEN,
	    sizeof(a) - AEAD_NONCE_LEN) != 0);
	/* The ciphertext is not the plaintext. */
	T_TRUE(memcmp(a + AEAD_NONCE_LEN, msg, sizeof(msg)) != 0);
	T_EQ_INT(aead_open(out, a, sizeof(a), NULL, 0, key), 0);
	T_EQ_INT(aead_open(out, b, sizeof(b), NULL, 0, key), 0);
	T_EQ_MEM(out, msg, sizeof(msg));
}

/* ---- hashing ---- */

static void
hash_known_answers(void)
{
	uint8_t key[KEY_LEN], got[HASH_LEN], want[HASH_LEN];

	/* Unkeyed BLAKE2b-256. */
	hash_plain(got, 32, "", 0);
	unhex(want, "0e5751c026e543b2e8ab2eb06099daa1"
	    "d1e5df47778f7787faab45cdf12fe3a8", 32);
	T_EQ_MEM(got, want, 32);
	hash_plain(got, 32, "abc", 3);
	unhex(want, "bddd813c634239723171ef3fee98579b"
	    "94964e3bb1cb3e427262c8c068d52319", 32);
	T_EQ_MEM(got, want, 32);

	/* Keyed BLAKE2b-256, key 00 01 .. 1f. */
	fill(key, sizeof(key), 0);
	hash_keyed(got, key, "abc", 3);
	unhex(want, "d63a32d3e44738d7907f964316c241ad"
	    "aba0abfeabc32349677578a15a203f7f", 32);
	T_EQ_MEM(got, want, 32);
	hash_keyed(got, key, "", 0);
	unhex(want, "4e51e7a913fc80137da52880fecca175"
	    "bf81e117d5c68126dc2774033517ea0d", 32);
	T_EQ_MEM(got, want, 32);
}

static void
hash_incremental_matches(void)
{
	static const size_t splits[] = { 0, 1, 63, 64, 65, 127, 128, 129,
	    1000, 9999, 10000 };
	uint8_t key[KEY_LEN], key2[KEY_LEN];
	uint8_t data[10000];
	uint8_t one[HASH_LEN], inc[HASH_LEN];
	struct hash_state st;

	random_bytes(key, sizeof(key));
	random_bytes(data, sizeof(data));
	hash_keyed(one, key, data, sizeof(data));
	for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		size_t s = splits[i];

		hash_init(&st, key, KEY_LEN);
		hash_update(&st, data, s);
		hash_update(&st, data + s, sizeof(data) - s);
		hash_final(&st, inc);
		T_EQ_MEM(inc, one, HASH_LEN);
	}
	/* Byte by byte. */
	hash_init(&st, key, KEY_LEN);
	for (size_t i = 0; i < sizeof(data); i++)
		hash_update(&st, data + i, 1);
	hash_final(&st, inc);
	T_EQ_MEM(inc, one, HASH_LEN);

	/* The key matters; the unkeyed hash differs too. */
	memcpy(key2, key, sizeof(key));
	key2[31] ^= 1;
	hash_keyed(inc, key2, data, sizeof(data));
	T_TRUE(memcmp(inc, one, HASH_LEN) != 0);
	hash_plain(inc, HASH_LEN, data, sizeof(data));
	T_TRUE(memcmp(inc, one, HASH_LEN) != 0);
	hash_init(&st, NULL, 0);
	hash_update(&st, data, sizeof(data));
	hash_final(&st, one);
	T_EQ_MEM(one, inc, HASH_LEN);
}

/* ---- KDF ---- */

static void
kdf_deterministic_and_distinct(void)
{
	uint8_t key[KEY_LEN], key2[KEY_LEN];
	uint8_t a[32], b[32], want[32];
	uint8_t ids[4][32];

	/* Known answers (crypto_kdf: BLAKE2b, salt = id, person = ctx). */
	fill(key, sizeof(key), 0);
	kdf_derive(a, 32, 1, "cofferdk", key);
	unhex(want, "ff3207a82e46feea567623858972c67a"
	    "1f03a33d54b64b71166abef1c4b9f446", 32);
	T_EQ_MEM(a, want, 32);
	kdf_derive(a, 32, 2, "cofferdk", key);
	unhex(want, "61a5cd1580421667184866e4331e8a89"
	    "080a730fdb20d679673fb071340176e8", 32);
	T_EQ_MEM(a, want, 32);

	random_bytes(key, sizeof(key));
	kdf_derive(a, 32, 7, "testctx1", key);
	kdf_derive(b, 32, 7, "testctx1", key);
	T_EQ_MEM(a, b, 32);

	/* Distinct per id ... */
	for (uint64_t id = 0; id < 4; id++)
		kdf_derive(ids[id], 32, id == 3 ? UINT64_MAX : id, "testctx1",
		    key);
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			T_TRUE(memcmp(ids[i], ids[j], 32) != 0);
	/* ... per context ... */
	kdf_derive(b, 32, 7, "testctx2", key);
	T_TRUE(memcmp(a, b, 32) != 0);
	/* ... and per master key. */
	memcpy(key2, key, sizeof(key));
	key2[0] ^= 1;
	kdf_derive(b, 32, 7, "testctx1", key2);
	T_TRUE(memcmp(a, b, 32) != 0);
	/* Not the key itself, nor a plain hash of it. */
	T_TRUE(memcmp(a, key, 32) != 0);
}

/* ---- compare ---- */

static void
ct_equal_works(void)
{
	uint8_t a[64], b[64];

	random_bytes(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	T_TRUE(ct_equal(a, b, sizeof(a)));
	T_TRUE(ct_equal(a, b, 0));
	b[0] ^= 1;
	T_TRUE(!ct_equal(a, b, sizeof(a)));
	T_TRUE(ct_equal(a + 1, b + 1, sizeof(a) - 1));
	b[0] ^= 1;
	b[63] ^= 0x80;
	T_TRUE(!ct_equal(a, b, sizeof(a)));
	T_TRUE(ct_equal(a, b, 63));
}

/* secret_alloc gives zeroed memory; random_bytes fills. */
static void
secret_alloc_zeroed(void)
{
	uint8_t *s;
	uint8_t r1[32], r2[32];

	T_TRUE((s = secret_alloc(KEY_LEN)) != NULL);
	if (s != NULL) {
		T_TRUE(all_zero(s, KEY_LEN));
		random_bytes(s, KEY_LEN);
		T_TRUE(!all_zero(s, KEY_LEN));
		secret_wipe(s, KEY_LEN);
		T_TRUE(all_zero(s, KEY_LEN));
	}
	secret_free(s);
	secret_free(NULL);
	random_bytes(r1, sizeof(r1));
	random_bytes(r2, sizeof(r2));
	T_TRUE(memcmp(r1, r2, sizeof(r1)) != 0);
}

static int
setup(void)
{
	return coffer_crypto_init();
}

UNIT_MAIN(setup,
	UNIT_TEST(aead_roundtrip),
	UNIT_TEST(aead_known_answer),
	UNIT_TEST(aead_every_bit_flip_fails),
	UNIT_TEST(aead_wrong_ad_or_key_fails),
	UNIT_TEST(aead_nonce_is_random),
	UNIT_TEST(hash_known_answers),
	UNIT_TEST(hash_incremental_matches),
	UNIT_TEST(kdf_deterministic_and_distinct),
	UNIT_TEST(ct_equal_works),
	UNIT_TEST(secret_alloc_zeroed),
)
