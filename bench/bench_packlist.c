/* SPDX-License-Identifier: ISC */
/*
 * bench_packlist [N [DIR]]: how long finding the pack files no index
 * names takes with N packs (default 80,000), the walk prune, check and
 * the leftover scan make over packs/.  DIR (default a new folder under
 * $TMPDIR) gets packs/<xx>/<32 hex> as N empty files (their contents do
 * not matter to the walk) and a key set's pack table is filled with the
 * same ids.  Prints the CPU seconds of keyset_count_unindexed() (a sorted
 * set of pack ids, looked up by binary search) and of the same walk with
 * each name compared with the whole pack table, as before; best of 3
 * for the sorted one, one run of the pairwise one (not run above 200,000
 * packs: minutes).  Not part of the tests.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo/repo.h"
#include "repo/repo_internal.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define PAIRWISE_MAX	200000

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
is_hex2(const char *s)
{
	return strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2;
}

static bool
is_hex32(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

/* The walk as it was: every name against the whole pack table. */
static uint64_t
pairwise(const struct keyset *ks)
{
	char **dirs = NULL, **names = NULL;
	size_t ndirs = 0, n = 0;
	uint64_t nleft = 0;

	if (dir_list(ks->dirfd, "packs", "packs", is_hex2, &dirs, &ndirs,
	    NULL) != 0)
		return 0;
	for (size_t d = 0; d < ndirs; d++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "packs/%s", dirs[d]);
		if (dir_list(ks->dirfd, sub, sub, is_hex32, &names, &n,
		    NULL) != 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			uint8_t id[PACK_ID_LEN];
			bool known = false;

			if (hex_decode(id, names[i], PACK_ID_LEN) == 0)
				for (uint32_t p = 0; p < ks->npacks; p++)
					if (!ks->packs[p].unindexed &&
					    memcmp(ks->packs[p].id, id,
					    PACK_ID_LEN) == 0)
						known = true;
			if (!known)
				nleft++;
		}
		strlist_free(names, n);
		names = NULL;
		n = 0;
	}
	strlist_free(dirs, ndirs);
	return nleft;
}

int
main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 80000;
	char dir[4096], path[4200];
	struct keyset ks;
	double best = 1e9, t0, t_old;
	uint64_t left = 0;

	if (argc > 2) {
		snprintf(dir, sizeof(dir), "%s", argv[2]);
		(void)mkdir(dir, 0700);
	} else {
		const char *t = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/bench_packlist.XXXXXX",
		    t != NULL ? t : "/tmp");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
	}
	memset(&ks, 0, sizeof(ks));
	if ((ks.packs = calloc(n + 1, sizeof(*ks.packs))) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/packs", dir);
	(void)mkdir(path, 0700);
	for (uint32_t p = 0; p < n; p++) {
		char hex[33];
		int fd;

		random_bytes(ks.packs[p].id, PACK_ID_LEN);
		hex_encode(hex, ks.packs[p].id, PACK_ID_LEN);
		snprintf(path, sizeof(path), "%s/packs/%.2s", dir, hex);
		(void)mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/packs/%.2s/%s", dir, hex, hex);
		if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) == -1) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	ks.npacks = n;
	if ((ks.dirfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1) {
		perror(dir);
		return 1;
	}
	/* One pack no index names, so that the answer is checked. */
	ks.packs[n / 2].unindexed = true;
	for (int rep = 0; rep < 3; rep++) {
		t0 = cpu_now();
		left = keyset_count_unindexed(&ks);
		if (cpu_now() - t0 < best)
			best = cpu_now() - t0;
	}
	if (left != 1) {
		fprintf(stderr, "sorted: %llu left, want 1\n",
		    (unsigned long long)left);
		return 1;
	}
	if (n > PAIRWISE_MAX) {
		printf("| %u | %.3f s | (not run) |\n", n, best);
	} else {
		t0 = cpu_now();
		left = pairwise(&ks);
		t_old = cpu_now() - t0;
		if (left != 1) {
			fprintf(stderr, "pairwise: %llu left, want 1\n",
			    (unsigned long long)left);
			return 1;
		}
		printf("| %u | %.3f s | %.2f s |\n", n, best, t_old);
	}
	close(ks.dirfd);
	free(ks.packs);
	if (argc <= 2) {
		char cmd[4300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
