/* SPDX-License-Identifier: ISC */
/*
 * crypto: wrappers over libsodium.  The only file set that includes
 * <sodium.h>.  Every wrapper has fixed sizes so that no caller can ask
 * for a short key or a reused nonce.
 */
#include <string.h>

#include <sodium.h>

#include "crypto.h"

_Static_assert(AEAD_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
    "nonce size");
_Static_assert(AEAD_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES,
    "tag size");
_Static_assert(KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
    "key size");
_Static_assert(sizeof(struct hash_state) >= sizeof(crypto_generichash_state),
    "hash state size");
_Static_assert(PWHASH_SALT_LEN == crypto_pwhash_SALTBYTES, "salt size");
_Static_assert(BOX_PUB_LEN == crypto_box_PUBLICKEYBYTES, "box public key");
_Static_assert(BOX_SK_LEN == crypto_box_SECRETKEYBYTES, "box secret key");
_Static_assert(BOX_SEAL_OVERHEAD == crypto_box_SEALBYTES, "sealed box");

int
coffer_crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void *
secret_alloc(size_t len)
{
	void *p;

	if ((p = sodium_malloc(len)) != NULL)
		sodium_memzero(p, len);
	return p;
}

void
secret_free(void *p)
{
	if (p != NULL)
		sodium_free(p);		/* wipes before freeing */
}

void
secret_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}

void
random_bytes(void *p, size_t len)
{
	randombytes_buf(p, len);
}

void
aead_seal(uint8_t *out, const uint8_t *in, size_t inlen, const uint8_t *ad,
    size_t adlen, const uint8_t key[KEY_LEN])
{
	/*
	 * A 192-bit random nonce per object: the chance of a repeat across
	 * 2^64 objects is about 2^-64, so no counter state is needed on a
	 * card that several devices write.
	 */
	randombytes_buf(out, AEAD_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + AEAD_NONCE_LEN, NULL,
	    in, inlen, ad, adlen, NULL, out, key);
}

int
aead_open(uint8_t *out, const uint8_t *in, size_t inlen, const uint8_t *ad,
    size_t adlen, const uint8_t key[KEY_LEN])
{
	if (inlen < AEAD_OVERHEAD)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL,
	    in + AEAD_NONCE_LEN, inlen - AEAD_NONCE_LEN, ad, adlen, in,
	    key) != 0) {
		sodium_memzero(out, inlen - AEAD_OVERHEAD);
		return -1;
	}
	return 0;
}

void
hash_keyed(uint8_t out[HASH_LEN], const uint8_t key[KEY_LEN], const void *in,
    size_t len)
{
	crypto_generichash(out, HASH_LEN, in, len, key, KEY_LEN);
}

void
hash_plain(uint8_t *out, size_t outlen, const void *in, size_t len)
{
	crypto_generichash(out, outlen, in, len, NULL, 0);
}

void
hash_init(struct hash_state *st, const uint8_t *key, size_t keylen)
{
	crypto_generichash_init((crypto_generichash_state *)(void *)st->opaque,
	    key, keylen, HASH_LEN);
}

void
hash_update(struct hash_state *st, const void *in, size_t len)
{
	crypto_generichash_update(
	    (crypto_generichash_state *)(void *)st->opaque, in, len);
}

void
hash_final(struct hash_state *st, uint8_t out[HASH_LEN])
{
	crypto_generichash_final(
	    (crypto_generichash_state *)(void *)st->opaque, out, HASH_LEN);
	sodium_memzero(st, sizeof(*st));
}

void
kdf_derive(uint8_t *out, size_t outlen, uint64_t id, const char ctx[8],
    const uint8_t key[KEY_LEN])
{
	crypto_kdf_derive_from_key(out, outlen, id, ctx, key);
}

bool
ct_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

bool
bytes_zero(const void *p, size_t len)
{
	return sodium_is_zero(p, len) == 1;
}

int
pwhash_derive(uint8_t *out, size_t outlen, const char *pass, size_t passlen,
    const uint8_t salt[PWHASH_SALT_LEN], uint64_t opslimit, uint64_t memlimit)
{
	return crypto_pwhash(out, outlen, pass, passlen, salt, opslimit,
	    (size_t)memlimit, crypto_pwhash_ALG_ARGON2ID13);
}

void
box_seal(uint8_t *out, const uint8_t *in, size_t inlen,
    const uint8_t pub[BOX_PUB_LEN])
{
	/* Fails only for a message longer than the address space. */
	(void)crypto_box_seal(out, in, inlen, pub);
}

void
box_keypair(uint8_t pub[BOX_PUB_LEN], uint8_t sk[BOX_SK_LEN])
{
	crypto_box_keypair(pub, sk);
}

int
box_seal_open(uint8_t *out, const uint8_t *in, size_t inlen,
    const uint8_t pub[BOX_PUB_LEN], const uint8_t sk[BOX_SK_LEN])
{
	if (inlen < BOX_SEAL_OVERHEAD)
		return -1;
	if (crypto_box_seal_open(out, in, inlen, pub, sk) != 0) {
		sodium_memzero(out, inlen - BOX_SEAL_OVERHEAD);
		return -1;
	}
	return 0;
}

size_t
b64_encoded_len(size_t len)
{
	/* sodium's length counts the NUL. */
	return sodium_base64_encoded_len(len,
	    sodium_base64_VARIANT_ORIGINAL) - 1;
}

int
b64_encode(char *out, size_t cap, const uint8_t *in, size_t len)
{
	if (cap < b64_encoded_len(len) + 1)
		return -1;
	sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

int
b64_decode(uint8_t *out, size_t cap, const char *in, size_t inlen,
    size_t *outlen)
{
	const char *end = NULL;
	size_t n = 0;

	*outlen = 0;
	if (sodium_base642bin(out, cap, in, inlen, NULL, &n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != in + inlen)
		return -1;
	*outlen = n;
	return 0;
}
