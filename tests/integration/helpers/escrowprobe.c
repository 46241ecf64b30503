/* SPDX-License-Identifier: ISC */
/*
 * escrowprobe: drive lib/escrow's key calls against a real cofferd with
 * the login saved in $COFFER_KEYSTORE (by "coffer escrow login"), the CA
 * from $COFFER_CACERT if set, and check the answers, so that the client's
 * side of docs/PROTOCOL.md §5 and §6 is proved against the server's:
 *
 *   deposit a random key, release it (same bytes), destroy it, then
 *   release (destroyed) and destroy again (destroyed);
 *   take a wrap key from the pool, seal a random data key to it, unwrap
 *   it at the server (same bytes); unwrap it under another wrap key id
 *   (refused: bad_sealed); unwrap a sealed key with one bit flipped
 *   (refused); release a key id nobody has (not found).
 *
 * escrowprobe release KEY_ID: release KEY_ID and print its hex (for
 * cross-account checks); exit 0, or 1 with the error (code and message)
 * on stderr.
 *
 * Fresh proof (PROTOCOL.md §3.3), when the server asks for it: the
 * password in $COFFER_ESCROW_PASSWORD_FILE, if set.
 *
 * A test fixture, not library code: it prints "ok ..." lines and exits 1
 * at the first check that fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/coffer.h"
#include "crypto/crypto.h"
#include "escrow/escrow.h"
#include "keystore/keystore.h"
#include "util/util.h"

/* The fresh proof's password: the file's first line. */
static int
file_password(void *cookie, const char *prompt, char *buf, size_t cap)
{
	const char *f = getenv("COFFER_ESCROW_PASSWORD_FILE");
	FILE *fp;
	size_t n;

	(void)cookie;
	(void)prompt;
	if (f == NULL || (fp = fopen(f, "r")) == NULL)
		return -1;
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	return (int)n;
}

static void
die(const char *what, const struct coffer_err *err)
{
	fprintf(stderr, "escrowprobe: %s: %s (%d): %s\n", what,
	    coffer_strerror(err->code), err->code, err->msg);
	exit(1);
}

static void
expect(int got, int want, const char *what, const struct coffer_err *err)
{
	if (got != want) {
		fprintf(stderr, "escrowprobe: %s: got %d, want %d (%s)\n", what,
		    got, want, got != 0 ? err->msg : "success");
		exit(1);
	}
	printf("ok %s\n", what);
}

int
main(int argc, char **argv)
{
	char dir[4096], kid[ESCROW_KEYID_LEN + 1], kid2[ESCROW_KEYID_LEN + 1];
	uint8_t pub[ESCROW_PUB_LEN], pub2[ESCROW_PUB_LEN];
	uint8_t key[ESCROW_DK_LEN], sealed[ESCROW_SEALED_LEN];
	struct coffer_err err = { 0 };
	struct escrow_login lg;
	struct keystore *ks = NULL;
	const char *ca = getenv("COFFER_CACERT");
	uint8_t *got = NULL;
	int r;

	if (coffer_init() != 0 || keystore_default_dir(dir, sizeof(dir)) != 0)
		return 1;
	if (keystore_open(dir, false, &ks, &err) != 0)
		die("keystore", &err);
	if (escrow_login_load(ks, &lg, &err) != 0)
		die("login", &err);
	if (ca != NULL && *ca != '\0')
		snprintf(lg.cacert, sizeof(lg.cacert), "%s", ca);
	lg.fresh.password = file_password;

	if (argc == 3 && strcmp(argv[1], "release") == 0) {
		char hex[2 * ESCROW_DK_LEN + 1];

		if (escrow_release(&lg, argv[2], &got, &err) != 0)
			die("release", &err);
		hex_encode(hex, got, ESCROW_DK_LEN);
		printf("%s\n", hex);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: escrowprobe [release KEY_ID]\n");
		return 2;
	}

	/* Deposit, release, destroy. */
	random_bytes(key, sizeof(key));
	r = escrow_deposit(&lg, key, sizeof(key), "escrowprobe", NULL, NULL,
	    kid, &err);
	expect(r, 0, "deposit", &err);
	printf("deposited %s\n", kid);
	r = escrow_release(&lg, kid, &got, &err);
	expect(r, 0, "release", &err);
	expect(memcmp(got, key, sizeof(key)) != 0, 0, "release: same key",
	    &err);
	secret_free(got);
	got = NULL;
	expect(escrow_destroy(&lg, kid, &err), 0, "destroy", &err);
	expect(escrow_release(&lg, kid, &got, &err), COFFER_EDESTROYED,
	    "release after destroy: destroyed", &err);
	expect(escrow_destroy(&lg, kid, &err), COFFER_EDESTROYED,
	    "destroy twice: destroyed", &err);
	expect(escrow_release(&lg, "0123456789abcdef0123456789abcdef", &got,
	    &err), COFFER_ENOTFOUND, "release unknown: not found", &err);
	/* A second key, left for a cross-account check. */
	r = escrow_deposit(&lg, key, sizeof(key), NULL, NULL, NULL, kid,
	    &err);
	expect(r, 0, "deposit again", &err);
	printf("kept %s\n", kid);

	/* Seal to a pooled wrap key; unwrap at the server. */
	r = escrow_pool_take(ks, lg.server, kid, pub, &err);
	expect(r, 0, "pool take", &err);
	r = escrow_pool_take(ks, lg.server, kid2, pub2, &err);
	expect(r, 0, "pool take another", &err);
	random_bytes(key, sizeof(key));
	escrow_seal(pub, kid, key, sealed);
	r = escrow_unwrap(&lg, kid, sealed, sizeof(sealed), &got, &err);
	expect(r, 0, "unwrap", &err);
	expect(memcmp(got, key, sizeof(key)) != 0, 0, "unwrap: same key",
	    &err);
	secret_free(got);
	got = NULL;
	/* The same sealed key under the other pair: refused. */
	expect(escrow_unwrap(&lg, kid2, sealed, sizeof(sealed), &got, &err),
	    COFFER_EAUTH, "unwrap under another wrap key: refused", &err);
	/* Sealed to the other pair but naming the first: refused. */
	escrow_seal(pub2, kid, key, sealed);
	expect(escrow_unwrap(&lg, kid2, sealed, sizeof(sealed), &got, &err),
	    COFFER_EAUTH, "unwrap with another key id inside: refused", &err);
	escrow_seal(pub, kid, key, sealed);
	sealed[70] ^= 0x01;
	expect(escrow_unwrap(&lg, kid, sealed, sizeof(sealed), &got, &err),
	    COFFER_EAUTH, "unwrap a changed sealed key: refused", &err);
	expect(escrow_destroy(&lg, kid, &err), 0, "destroy a wrap key", &err);
	escrow_seal(pub, kid, key, sealed);
	expect(escrow_unwrap(&lg, kid, sealed, sizeof(sealed), &got, &err),
	    COFFER_EDESTROYED, "unwrap after destroy: destroyed", &err);
	escrow_login_clear(&lg);
	keystore_free(ks);
	return 0;
}
