/* SPDX-License-Identifier: ISC */
/*
 * bench_primitives [FILE...]: single-thread throughput on this CPU of the
 * primitives a backup spends its time in, on 1 MiB blocks (coffer's
 * average chunk size):
 *   XChaCha20-Poly1305 seal and open (lib/crypto aead_seal/aead_open),
 *   keyed BLAKE2b-256 (hash_keyed),
 *   zstd compress at levels 1 and 3 and decompress (lib/compress),
 * and, for comparison when choosing primitives, a few alternatives called
 * straight from libsodium (SHA-256, ChaCha20-Poly1305-IETF, AES-256-GCM
 * when the CPU has AES-NI) and memcpy as the memory-bandwidth reference.
 *
 * Each FILE (up to 32 MiB of it; default libc.so.6) is one data set, and
 * 32 MiB of random bytes is always the last.  Prints a Markdown table of
 * MB/s (10^6 bytes of input per second; for decompression, of output),
 * best of 3 runs of at least 0.2 s each, plus the zstd ratios.
 * Not part of the tests.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compress/compress.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define BLOCK		((size_t)1 << 20)
#define MAX_DATA	((size_t)32 << 20)
#define MIN_TIME	0.2
#define REPS		3
#define MAX_SETS	8

struct dataset {
	const char	*name;
	uint8_t		*data;
	size_t		 len;
	size_t		 nblocks;
	/* zstd frames of every block at level 1 and 3, for decompression */
	uint8_t		*z[2];
	size_t		*zoff[2];
	size_t		*zlen[2];
	size_t		 ztotal[2];
};

static uint8_t	 key[KEY_LEN];
static uint8_t	*out;		/* BLOCK + bounds, scratch for every op */
static size_t	 outcap;
static struct compressor *comp1, *comp3;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
blocklen(const struct dataset *d, size_t i)
{
	size_t off = i * BLOCK;

	return d->len - off < BLOCK ? d->len - off : BLOCK;
}

static void
die(const char *msg)
{
	fprintf(stderr, "bench_primitives: %s\n", msg);
	exit(1);
}

enum op {
	OP_MEMCPY, OP_SEAL, OP_OPEN, OP_BLAKE2B, OP_ZSTD1, OP_ZSTD3,
	OP_UNZSTD1, OP_UNZSTD3, OP_SHA256, OP_CHACHA_IETF, OP_AESGCM, OP_N
};

static const char *opname[OP_N] = {
	"memcpy (reference)",
	"XChaCha20-Poly1305 seal (aead_seal)",
	"XChaCha20-Poly1305 open (aead_open)",
	"keyed BLAKE2b-256 (hash_keyed)",
	"zstd level 1 compress",
	"zstd level 3 compress",
	"zstd decompress (level 1 frames)",
	"zstd decompress (level 3 frames)",
	"SHA-256 (libsodium, alternative)",
	"ChaCha20-Poly1305-IETF seal (libsodium, alternative)",
	"AES-256-GCM seal (libsodium, alternative)",
};

/* One pass over the data set; returns the bytes counted. */
static size_t
pass(enum op op, struct dataset *d, const uint8_t *sealed)
{
	static volatile uint8_t sink;
	uint8_t h[64];
	uint8_t nonce[24] = { 0 };
	size_t total = 0, olen;

	for (size_t i = 0; i < d->nblocks; i++) {
		const uint8_t *in = d->data + i * BLOCK;
		size_t n = blocklen(d, i);
		unsigned long long clen;

		switch (op) {
		case OP_MEMCPY:
			memcpy(out, in, n);
			break;
		case OP_SEAL:
			aead_seal(out, in, n, NULL, 0, key);
			break;
		case OP_OPEN:
			if (aead_open(out, sealed + i * (BLOCK + AEAD_OVERHEAD),
			    n + AEAD_OVERHEAD, NULL, 0, key) != 0)
				die("aead_open failed");
			break;
		case OP_BLAKE2B:
			hash_keyed(h, key, in, n);
			sink ^= h[0];
			break;
		case OP_ZSTD1:
		case OP_ZSTD3:
			if (compress_buf(op == OP_ZSTD1 ? comp1 : comp3, out,
			    outcap, in, n, &olen) != 0)
				die("compress failed");
			break;
		case OP_UNZSTD1:
		case OP_UNZSTD3: {
			int l = op == OP_UNZSTD1 ? 0 : 1;

			if (decompress_buf(comp1, out, outcap,
			    d->z[l] + d->zoff[l][i], d->zlen[l][i], &olen) != 0 ||
			    olen != n)
				die("decompress failed");
			break;
		}
		case OP_SHA256:
			crypto_hash_sha256(h, in, n);
			sink ^= h[0];
			break;
		case OP_CHACHA_IETF:
			crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen,
			    in, n, NULL, 0, NULL, nonce, key);
			nonce[0]++;
			break;
		case OP_AESGCM:
			crypto_aead_aes256gcm_encrypt(out, &clen, in, n, NULL,
			    0, NULL, nonce, key);
			nonce[0]++;
			break;
		default:
			die("bad op");
		}
		sink ^= out[0];
		total += n;
	}
	return total;
}

/* MB/s, best of REPS runs of at least MIN_TIME seconds each. */
static double
measure(enum op op, struct dataset *d, const uint8_t *sealed)
{
	double best = 0;

	pass(op, d, sealed);	/* warm up */
	for (int r = 0; r < REPS; r++) {
		double t0 = now(), dt;
		size_t bytes = 0;

		do {
			bytes += pass(op, d, sealed);
			dt = now() - t0;
		} while (dt < MIN_TIME);
		if ((double)bytes / dt / 1e6 > best)
			best = (double)bytes / dt / 1e6;
	}
	return best;
}

static void
load_file(struct dataset *d, const char *path)
{
	FILE *f;
	const char *slash;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		exit(1);
	}
	if ((d->data = coffer_malloc(MAX_DATA)) == NULL)
		die("out of memory");
	d->len = fread(d->data, 1, MAX_DATA, f);
	if (ferror(f))
		die("read error");
	fclose(f);
	if (d->len == 0)
		die("empty input file");
	slash = strrchr(path, '/');
	d->name = slash != NULL ? slash + 1 : path;
}

static void
prepare(struct dataset *d)
{
	d->nblocks = (d->len + BLOCK - 1) / BLOCK;
	for (int l = 0; l < 2; l++) {
		struct compressor *c = l == 0 ? comp1 : comp3;
		size_t cap = d->nblocks * compress_bound(BLOCK), off = 0, olen;

		if ((d->z[l] = coffer_malloc(cap)) == NULL ||
		    (d->zoff[l] = coffer_calloc(d->nblocks, sizeof(size_t))) ==
		    NULL ||
		    (d->zlen[l] = coffer_calloc(d->nblocks, sizeof(size_t))) ==
		    NULL)
			die("out of memory");
		for (size_t i = 0; i < d->nblocks; i++) {
			if (compress_buf(c, d->z[l] + off, cap - off,
			    d->data + i * BLOCK, blocklen(d, i), &olen) != 0)
				die("compress failed");
			d->zoff[l][i] = off;
			d->zlen[l][i] = olen;
			off += olen;
		}
		d->ztotal[l] = off;
	}
}

int
main(int argc, char **argv)
{
	struct dataset sets[MAX_SETS];
	uint8_t *sealed[MAX_SETS];
	int nsets = 0;
	const char *deflt = "/usr/lib/x86_64-linux-gnu/libc.so.6";

	if (coffer_crypto_init() != 0)
		die("crypto init failed");
	memset(sets, 0, sizeof(sets));
	if ((comp1 = compressor_new(1)) == NULL ||
	    (comp3 = compressor_new(3)) == NULL)
		die("out of memory");
	outcap = compress_bound(BLOCK) + AEAD_OVERHEAD + 64;
	if ((out = coffer_malloc(outcap)) == NULL)
		die("out of memory");
	random_bytes(key, sizeof(key));

	if (argc > MAX_SETS)
		die("too many files");
	if (argc < 2)
		load_file(&sets[nsets++], deflt);
	for (int i = 1; i < argc; i++)
		load_file(&sets[nsets++], argv[i]);
	sets[nsets].name = "random";
	sets[nsets].len = MAX_DATA;
	if ((sets[nsets].data = coffer_malloc(MAX_DATA)) == NULL)
		die("out of memory");
	random_bytes(sets[nsets].data, MAX_DATA);
	nsets++;

	for (int s = 0; s < nsets; s++) {
		prepare(&sets[s]);
		if ((sealed[s] = coffer_malloc(sets[s].nblocks *
		    (BLOCK + AEAD_OVERHEAD))) == NULL)
			die("out of memory");
		for (size_t i = 0; i < sets[s].nblocks; i++)
			aead_seal(sealed[s] + i * (BLOCK + AEAD_OVERHEAD),
			    sets[s].data + i * BLOCK, blocklen(&sets[s], i),
			    NULL, 0, key);
	}

	printf("| primitive (one thread, 1 MiB blocks) |");
	for (int s = 0; s < nsets; s++)
		printf(" %s (%.1f MiB) MB/s |", sets[s].name,
		    (double)sets[s].len / (1 << 20));
	printf("\n| --- |");
	for (int s = 0; s < nsets; s++)
		printf(" ---: |");
	printf("\n");
	for (int op = 0; op < OP_N; op++) {
		if (op == OP_AESGCM && !crypto_aead_aes256gcm_is_available())
			continue;
		printf("| %s |", opname[op]);
		for (int s = 0; s < nsets; s++) {
			printf(" %.0f |", measure(op, &sets[s], sealed[s]));
			fflush(stdout);
		}
		printf("\n");
	}
	for (int l = 0; l < 2; l++) {
		printf("| zstd level %d size ratio (out/in) |", l == 0 ? 1 : 3);
		for (int s = 0; s < nsets; s++)
			printf(" %.3f |", (double)sets[s].ztotal[l] /
			    (double)sets[s].len);
		printf("\n");
	}
	if (!crypto_aead_aes256gcm_is_available())
		printf("\n(AES-256-GCM: not available in libsodium on this "
		    "CPU)\n");
	return 0;
}
