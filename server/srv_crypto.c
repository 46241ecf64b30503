/* SPDX-License-Identifier: ISC */
/* srv_crypto: libsodium for the front end (see srv_crypto.h). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "srv_crypto.h"

#define SRV_PW_OPS	3U
#define SRV_PW_MEM	(64U * 1024 * 1024)

/* Header in front of srv_wmalloc blocks: the length, max-aligned. */
#define WM_HDR		16

static bool pw_fast;

int
srv_crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void
srv_pwhash_fast(bool on)
{
	pw_fast = on;
}

int
srv_pwhash_str(char out[SRV_PWHASH_STRLEN], const char *pass, size_t len)
{
	unsigned long long ops = SRV_PW_OPS;
	size_t mem = SRV_PW_MEM;

	if (pw_fast) {
		ops = crypto_pwhash_OPSLIMIT_MIN;
		mem = crypto_pwhash_MEMLIMIT_MIN;
	}
	memset(out, 0, SRV_PWHASH_STRLEN);
	if (crypto_pwhash_str_alg(out, pass, len, ops, mem,
	    crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -1;
	return 0;
}

int
srv_pwhash_verify(const char *str, const char *pass, size_t len)
{
	return crypto_pwhash_str_verify(str, pass, len) == 0 ? 0 : -1;
}

void
srv_random(void *p, size_t len)
{
	randombytes_buf(p, len);
}

void
srv_hash(uint8_t out[SRV_HASH_LEN], const void *in, size_t len)
{
	crypto_generichash(out, SRV_HASH_LEN, in, len, NULL, 0);
}

int
srv_b64_encode(char *out, size_t cap, const uint8_t *in, size_t len)
{
	size_t need = sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_ORIGINAL);

	if (cap < need)
		return -1;
	sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return (int)strlen(out);
}

int
srv_b64_decode(uint8_t *out, size_t cap, const char *in, size_t inlen,
    size_t *outlen)
{
	const char *end = NULL;
	size_t n = 0;

	*outlen = 0;
	/* Padded base64 comes in groups of four. */
	if (inlen % 4 != 0 || inlen / 4 * 3 > cap + 2)
		return -1;
	if (sodium_base642bin(out, cap, in, inlen, NULL, &n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != in + inlen) {
		sodium_memzero(out, cap);
		return -1;
	}
	*outlen = n;
	return 0;
}

void
srv_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}

bool
srv_ct_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

void *
srv_secret_alloc(size_t len)
{
	void *p;

	if ((p = sodium_malloc(len)) != NULL)
		memset(p, 0, len);
	return p;
}

void
srv_secret_free(void *p)
{
	sodium_free(p);
}

void *
srv_wmalloc(size_t len)
{
	uint8_t *p;

	if (len > SIZE_MAX - WM_HDR)
		return NULL;
	if ((p = malloc(len + WM_HDR)) == NULL)
		return NULL;
	memcpy(p, &len, sizeof(len));
	return p + WM_HDR;
}

void
srv_wfree(void *ptr)
{
	uint8_t *p;
	size_t len;

	if (ptr == NULL)
		return;
	p = (uint8_t *)ptr - WM_HDR;
	memcpy(&len, p, sizeof(len));
	sodium_memzero(p, len + WM_HDR);
	free(p);
}
