/* SPDX-License-Identifier: ISC */
/*
 * sealkey PUBLIC_KEY KEY_ID DATA_KEY_HEX [VERSION [ID_LEN]]:
 * print (base64, one line) the sealed key a client sends to
 * POST /v1/wrapkeys/KEY_ID/unwrap (docs/PROTOCOL.md §6): crypto_box_seal
 * to PUBLIC_KEY (base64, 32 bytes) of version (default 1), the key id
 * length (default: the length of KEY_ID), KEY_ID and the data key.  A
 * VERSION or ID_LEN other than the defaults makes the malformed boxes the
 * server must refuse.
 *
 * sealkey --random N: print base64 of N random bytes (a sealed key that
 * opens with nothing).
 *
 * A test fixture maker for tests/integration/80-server.sh, not library
 * code: it exits 2 on bad usage and 1 on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define DK_LEN	32

static void
usage(void)
{
	fputs("usage: sealkey PUBLIC_KEY KEY_ID DATA_KEY_HEX [VERSION "
	    "[ID_LEN]]\n       sealkey --random N\n", stderr);
	exit(2);
}

static void
print_b64(const unsigned char *p, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *s;

	if ((s = malloc(cap)) == NULL) {
		fputs("sealkey: out of memory\n", stderr);
		exit(1);
	}
	sodium_bin2base64(s, cap, p, len, sodium_base64_VARIANT_ORIGINAL);
	printf("%s\n", s);
	free(s);
}

static long
number(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > max)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	unsigned char pub[crypto_box_PUBLICKEYBYTES];
	unsigned char dk[DK_LEN];
	unsigned char msg[2 + 255 + DK_LEN];
	unsigned char box[crypto_box_SEALBYTES + sizeof(msg)];
	unsigned char rnd[4096];
	size_t publen = 0, dklen = 0, idlen, mlen;
	long version = 1, n;

	if (sodium_init() < 0) {
		fputs("sealkey: libsodium does not start\n", stderr);
		return 1;
	}
	if (argc == 3 && strcmp(argv[1], "--random") == 0) {
		n = number(argv[2], (long)sizeof(rnd));
		randombytes_buf(rnd, (size_t)n);
		print_b64(rnd, (size_t)n);
		return 0;
	}
	if (argc < 4 || argc > 6)
		usage();
	if (sodium_base642bin(pub, sizeof(pub), argv[1], strlen(argv[1]),
	    NULL, &publen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    publen != sizeof(pub)) {
		fputs("sealkey: PUBLIC_KEY is not 32 bytes\n", stderr);
		return 1;
	}
	idlen = strlen(argv[2]);
	if (idlen > 255)
		usage();
	if (sodium_hex2bin(dk, sizeof(dk), argv[3], strlen(argv[3]), NULL,
	    &dklen, NULL) != 0 || dklen != DK_LEN) {
		fputs("sealkey: DATA_KEY_HEX is not 64 hex digits\n", stderr);
		return 1;
	}
	if (argc >= 5)
		version = number(argv[4], 255);
	msg[0] = (unsigned char)version;
	msg[1] = (unsigned char)(argc >= 6 ? number(argv[5], 255) :
	    (long)idlen);
	memcpy(msg + 2, argv[2], idlen);
	memcpy(msg + 2 + idlen, dk, DK_LEN);
	mlen = 2 + idlen + DK_LEN;
	if (crypto_box_seal(box, msg, mlen, pub) != 0) {
		fputs("sealkey: crypto_box_seal failed\n", stderr);
		return 1;
	}
	print_b64(box, crypto_box_SEALBYTES + mlen);
	return 0;
}
