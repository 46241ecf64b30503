/* SPDX-License-Identifier: ISC */
/*
 * bench_chunker: chunker throughput on 256 MiB of random data with
 * coffer's default sizes, fed in one write and in 64 KiB writes.
 * Not part of the tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chunker/chunker.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define DATA_LEN	((size_t)256 << 20)

struct count {
	size_t	n;
	size_t	bytes;
};

static int
count_cb(void *cookie, const uint8_t *buf, size_t len)
{
	struct count *ct = cookie;

	(void)buf;
	ct->n++;
	ct->bytes += len;
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
run(const uint8_t *data, size_t wlen, const uint8_t key[32])
{
	struct chunker *c;
	struct count ct = { 0, 0 };
	double best = 0;

	for (int rep = 0; rep < 5; rep++) {
		double t0, dt;

		ct.n = ct.bytes = 0;
		if ((c = chunker_new(256 << 10, 1 << 20, 4 << 20, key, count_cb,
		    &ct)) == NULL)
			return -1;
		t0 = now();
		for (size_t off = 0; off < DATA_LEN; off += wlen)
			if (chunker_write(c, data + off, DATA_LEN - off < wlen ?
			    DATA_LEN - off : wlen) != 0)
				return -1;
		if (chunker_finish(c) != 0)
			return -1;
		dt = now() - t0;
		chunker_free(c);
		if (best == 0 || dt < best)
			best = dt;
	}
	printf("writes of %9zu bytes: %8.1f MB/s (%zu chunks, mean %zu)\n",
	    wlen, (double)DATA_LEN / best / 1e6, ct.n, ct.bytes / ct.n);
	return 0;
}

int
main(void)
{
	uint8_t key[32];
	uint8_t *data;

	if (coffer_crypto_init() != 0)
		return 1;
	if ((data = coffer_malloc(DATA_LEN)) == NULL)
		return 1;
	random_bytes(key, sizeof(key));
	random_bytes(data, DATA_LEN);
	if (run(data, DATA_LEN, key) != 0 || run(data, 1 << 20, key) != 0 ||
	    run(data, 64 << 10, key) != 0)
		return 1;
	coffer_free(data);
	return 0;
}
