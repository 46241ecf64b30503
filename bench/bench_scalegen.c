/* SPDX-License-Identifier: ISC */
/*
 * bench_scalegen: the corpora of "make bench-scale" (bench/scale.sh).
 *
 *   bench_scalegen make DIR N     N files of 1-4 KiB of random bytes (one
 *                                 chunk each), 1,000 to a folder
 *   bench_scalegen touch DIR N    append 16 random bytes to every 100th
 *                                 of those files (1%)
 *
 * Contents come from a fast PRNG (xoshiro256**) seeded from the file
 * number and the call, so no two files share a chunk and a touched file
 * gets a new one.  Written in C because a shell loop makes 1.6 million
 * files in hours.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PER_DIR	1000

static uint64_t st[4];

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
next(void)
{
	uint64_t r = rotl(st[1] * 5, 7) * 9, t = st[1] << 17;

	st[2] ^= st[0];
	st[3] ^= st[1];
	st[1] ^= st[2];
	st[0] ^= st[3];
	st[2] ^= t;
	st[3] = rotl(st[3], 45);
	return r;
}

static void
seed(uint64_t a, uint64_t b)
{
	uint64_t z = a * 0x9e3779b97f4a7c15ull ^ b;

	for (int i = 0; i < 4; i++) {
		z += 0x9e3779b97f4a7c15ull;
		uint64_t x = z;

		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		st[i] = x ^ (x >> 31);
	}
}

static void
fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = next();

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

static int
put(const char *path, const uint8_t *p, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);

	if (fd == -1 || write(fd, p, len) != (ssize_t)len) {
		fprintf(stderr, "bench_scalegen: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return close(fd);
}

int
main(int argc, char **argv)
{
	char path[4096];
	uint8_t buf[4096];
	unsigned long n;
	bool touch;

	if (argc != 4 || (strcmp(argv[1], "make") != 0 &&
	    strcmp(argv[1], "touch") != 0)) {
		fprintf(stderr, "usage: bench_scalegen make|touch DIR N\n");
		return 2;
	}
	touch = strcmp(argv[1], "touch") == 0;
	n = strtoul(argv[3], NULL, 10);
	if (!touch && mkdir(argv[2], 0755) != 0 && errno != EEXIST) {
		perror(argv[2]);
		return 1;
	}
	for (unsigned long i = 0; i < n; i++) {
		if (touch && i % 100 != 0)
			continue;
		if (!touch && i % PER_DIR == 0) {
			snprintf(path, sizeof(path), "%s/d%05lu", argv[2],
			    i / PER_DIR);
			if (mkdir(path, 0755) != 0 && errno != EEXIST) {
				perror(path);
				return 1;
			}
		}
		snprintf(path, sizeof(path), "%s/d%05lu/f%lu", argv[2],
		    i / PER_DIR, i);
		seed(i, touch ? (uint64_t)time(NULL) : 0);
		if (touch) {
			fill(buf, 16);
			if (put(path, buf, 16, O_APPEND) != 0)
				return 1;
		} else {
			size_t len = 1024 + next() % 3072;

			fill(buf, len);
			if (put(path, buf, len, O_TRUNC) != 0)
				return 1;
		}
	}
	return 0;
}
