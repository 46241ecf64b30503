/* SPDX-License-Identifier: ISC */
/*
 * crypto: the only door to libsodium.  Small, fixed-size wrappers for the
 * operations coffer needs: guarded memory for keys, random bytes, the
 * AEAD (XChaCha20-Poly1305 with a random 192-bit nonce per object),
 * keyed BLAKE2b, the subkey KDF, Argon2id, constant-time compare.
 *
 * Not responsible for what the bytes mean: object types and associated
 * data are lib/repo's business.
 */
#ifndef CRYPTO_H_
#define CRYPTO_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/err.h"

#define KEY_LEN			32
#define HASH_LEN		32
#define AEAD_NONCE_LEN		24
#define AEAD_TAG_LEN		16
#define AEAD_OVERHEAD		(AEAD_NONCE_LEN + AEAD_TAG_LEN)

#define CWUR	__attribute__((warn_unused_result))

/* coffer_crypto_init(): sodium_init(); 0 or -1.  Call before anything. */
int coffer_crypto_init(void) CWUR;

/*
 * secret_alloc(len): guarded, locked memory for key material (zeroed).
 * secret_free(p): wipe and free; NULL is a no-op.
 * secret_wipe(p, len): wipe ${len} bytes that the compiler cannot elide.
 */
void *secret_alloc(size_t len);
void secret_free(void *p);
void secret_wipe(void *p, size_t len);

/* random_bytes(p, len): fill from the OS CSPRNG. */
void random_bytes(void *p, size_t len);

/*
 * aead_seal(out, in, inlen, ad, adlen, key):
 * Encrypt ${in} under ${key} with a fresh random nonce.  ${out} must hold
 * ${inlen} + AEAD_OVERHEAD bytes: nonce | ciphertext | tag.  ${out} and
 * ${in} must not overlap.
 */
void aead_seal(uint8_t *out, const uint8_t *in, size_t inlen,
    const uint8_t *ad, size_t adlen, const uint8_t key[KEY_LEN]);

/*
 * aead_open(out, in, inlen, ad, adlen, key):
 * Verify and decrypt ${in} (nonce | ciphertext | tag) into ${out}, which
 * holds ${inlen} - AEAD_OVERHEAD bytes.  Return 0, or -1 if ${in} is too
 * short or does not verify; then ${out} is zeroed and must not be used.
 */
int aead_open(uint8_t *out, const uint8_t *in, size_t inlen,
    const uint8_t *ad, size_t adlen, const uint8_t key[KEY_LEN]) CWUR;

/*
 * hash_keyed(out, key, in, len): BLAKE2b-256 of ${in} keyed by ${key}.
 * hash_plain(out, outlen, in, len): unkeyed BLAKE2b, 16..64 bytes.
 */
void hash_keyed(uint8_t out[HASH_LEN], const uint8_t key[KEY_LEN],
    const void *in, size_t len);
void hash_plain(uint8_t *out, size_t outlen, const void *in, size_t len);

/*
 * Incremental keyed BLAKE2b-256, for hashing streams.  The state is
 * opaque storage large enough for libsodium's state.
 */
struct hash_state {
	_Alignas(64) uint8_t opaque[384];
};
void hash_init(struct hash_state *st, const uint8_t *key, size_t keylen);
void hash_update(struct hash_state *st, const void *in, size_t len);
void hash_final(struct hash_state *st, uint8_t out[HASH_LEN]);

/*
 * kdf_derive(out, outlen, id, ctx, key): subkey number ${id} in context
 * ${ctx} (exactly 8 chars) from the master ${key} (crypto_kdf, BLAKE2b).
 * ${outlen} is 16..64.
 */
void kdf_derive(uint8_t *out, size_t outlen, uint64_t id, const char ctx[8],
    const uint8_t key[KEY_LEN]);

/* ct_equal(a, b, len): constant-time comparison. */
bool ct_equal(const void *a, const void *b, size_t len);

/* bytes_zero(p, len): every byte is 0 (constant time). */
bool bytes_zero(const void *p, size_t len);

/* Argon2id (crypto_pwhash) with explicit costs. 0 or -1 (out of memory). */
#define PWHASH_SALT_LEN		16
int pwhash_derive(uint8_t *out, size_t outlen, const char *pass,
    size_t passlen, const uint8_t salt[PWHASH_SALT_LEN], uint64_t opslimit,
    uint64_t memlimit) CWUR;

/*
 * Sealed boxes (crypto_box_seal: X25519 + XSalsa20-Poly1305, anonymous
 * sender), for the escrow wrap keys (docs/PROTOCOL.md §6).
 * box_seal(out, in, inlen, pub): ${out} holds ${inlen} + BOX_SEAL_OVERHEAD.
 * box_keypair(pub, sk): a fresh pair (tests, and the server).
 * box_seal_open(out, in, inlen, pub, sk): 0, or -1 if ${in} does not open;
 * ${out} holds ${inlen} - BOX_SEAL_OVERHEAD bytes.
 */
#define BOX_PUB_LEN		32
#define BOX_SK_LEN		32
#define BOX_SEAL_OVERHEAD	48
void box_seal(uint8_t *out, const uint8_t *in, size_t inlen,
    const uint8_t pub[BOX_PUB_LEN]);
void box_keypair(uint8_t pub[BOX_PUB_LEN], uint8_t sk[BOX_SK_LEN]);
int box_seal_open(uint8_t *out, const uint8_t *in, size_t inlen,
    const uint8_t pub[BOX_PUB_LEN], const uint8_t sk[BOX_SK_LEN]) CWUR;

/*
 * Standard base64 with padding (RFC 4648 §4), as the escrow protocol
 * sends binary values.
 * b64_encoded_len(len): the length of the text, without the NUL.
 * b64_encode(out, cap, in, len): NUL-terminated text into ${out}
 * (${cap} >= b64_encoded_len(len) + 1); 0, or -1 if it does not fit.
 * b64_decode(out, cap, in, inlen, &outlen): exactly the whole of ${in},
 * no blanks; 0, or -1 if it is not base64 or holds more than ${cap}
 * bytes.
 */
size_t b64_encoded_len(size_t len);
int b64_encode(char *out, size_t cap, const uint8_t *in, size_t len) CWUR;
int b64_decode(uint8_t *out, size_t cap, const char *in, size_t inlen,
    size_t *outlen) CWUR;

#endif /* !CRYPTO_H_ */
