/* SPDX-License-Identifier: ISC */
/*
 * srv_crypto: the front end's door to libsodium (the key holder,
 * keyholder.c, has its own).  Password hashes, session tokens, base64,
 * guarded memory, and a wiping allocator for buffers that may have held
 * a secret (request bodies, JSON values, response bodies).
 *
 * Not responsible for the master key: the front end never sees it.
 */
#ifndef COFFERD_SRV_CRYPTO_H_
#define COFFERD_SRV_CRYPTO_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_WUR			__attribute__((warn_unused_result))
#define SRV_PWHASH_STRLEN	128	/* crypto_pwhash_STRBYTES */
#define SRV_TOKEN_LEN		32	/* bytes; 64 hex on the wire */
#define SRV_HASH_LEN		32

/* srv_crypto_init(): sodium_init(); 0 or -1.  Before anything else. */
int srv_crypto_init(void) SRV_WUR;

/*
 * srv_pwhash_fast(on): with ${on}, new password hashes use libsodium's
 * minimum Argon2id costs instead of 3 passes / 64 MiB.  FOR TESTS ONLY
 * (environment COFFERD_INSECURE_FAST_KDF=1); verification always uses the
 * costs recorded in the hash.
 */
void srv_pwhash_fast(bool on);

/*
 * srv_pwhash_str(out, pass, len): an Argon2id string of ${pass} in ${out}.
 * 0, or -1 (out of memory).
 * srv_pwhash_verify(str, pass, len): 0 if ${pass} matches ${str}, else -1.
 */
int srv_pwhash_str(char out[SRV_PWHASH_STRLEN], const char *pass,
    size_t len) SRV_WUR;
int srv_pwhash_verify(const char *str, const char *pass, size_t len) SRV_WUR;

/* srv_random(p, len): bytes from the OS CSPRNG. */
void srv_random(void *p, size_t len);

/* srv_hash(out, in, len): unkeyed BLAKE2b-256. */
void srv_hash(uint8_t out[SRV_HASH_LEN], const void *in, size_t len);

/*
 * srv_b64_encode(out, cap, in, len): standard base64 with padding, NUL
 * terminated; return its length, or -1 if ${cap} is too small.
 * srv_b64_decode(out, cap, in, inlen, &outlen): strict standard base64
 * with padding (no spaces); 0, or -1 if malformed or over ${cap} bytes.
 */
int srv_b64_encode(char *out, size_t cap, const uint8_t *in, size_t len);
int srv_b64_decode(uint8_t *out, size_t cap, const char *in, size_t inlen,
    size_t *outlen) SRV_WUR;

/* srv_wipe(p, len): zero memory the compiler cannot skip. */
void srv_wipe(void *p, size_t len);
/* srv_ct_equal(a, b, len): constant-time comparison. */
bool srv_ct_equal(const void *a, const void *b, size_t len);

/* Guarded, locked memory (sodium_malloc); srv_secret_free(NULL) no-op. */
void *srv_secret_alloc(size_t len);
void srv_secret_free(void *p);

/*
 * srv_wmalloc(len) / srv_wfree(p): malloc and free that remember the
 * length and wipe on free.  jansson allocates with these (so parsed
 * passwords and built responses are wiped), and so do request bodies.
 */
void *srv_wmalloc(size_t len);
void srv_wfree(void *p);

#endif /* !COFFERD_SRV_CRYPTO_H_ */
