/* SPDX-License-Identifier: ISC */
/*
 * memscan PID HEX...: count where each byte string (given in hex) occurs
 * in the readable memory of process PID, read through /proc/PID/maps and
 * /proc/PID/mem.  Prints one line "HEX COUNT" per pattern.  Mappings over
 * 1 GiB (sanitizer shadow memory, reserved but never used) and
 * [vvar]/[vsyscall] are skipped; a mapping that cannot be read part-way
 * is read up to there.
 *
 * Exit status 0 when memory was read, 1 when /proc/PID/mem cannot be
 * opened or nothing at all could be read (ptrace access denied: a
 * non-dumpable process seen by an unprivileged user), 2 on bad usage.
 *
 * For tests/integration/80-server.sh (privilege separation: the front
 * end's memory must not hold the master key).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_MAX		(1024UL * 1024 * 1024)
#define CHUNK		(1024 * 1024)
#define PAT_MAX		256
#define NPAT_MAX	16

struct pat {
	const char	*hex;
	unsigned char	 b[PAT_MAX];
	size_t		 len;
	unsigned long	 count;
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Count matches of every pattern in buf[0..len), a window of a mapping
 * whose first ${kept} bytes are the previous window's tail: a match that
 * ends inside them was counted already.
 */
static void
scan(struct pat *p, int np, const unsigned char *buf, size_t len,
    size_t kept)
{
	for (int i = 0; i < np; i++)
		for (size_t off = 0; off + p[i].len <= len; off++)
			if (off + p[i].len > kept && buf[off] == p[i].b[0] &&
			    memcmp(buf + off, p[i].b, p[i].len) == 0)
				p[i].count++;
}

int
main(int argc, char **argv)
{
	struct pat pats[NPAT_MAX];
	char path[64], line[512];
	unsigned long lo, hi;
	unsigned char *buf;
	size_t keep = 0, maxlen = 0, got;
	unsigned long total = 0;
	char perms[8];
	FILE *maps;
	ssize_t n;
	int np, fd, i;

	if (argc < 3 || argc - 2 > NPAT_MAX) {
		fputs("usage: memscan PID HEX...\n", stderr);
		return 2;
	}
	np = argc - 2;
	for (i = 0; i < np; i++) {
		const char *h = argv[i + 2];
		size_t l = strlen(h);

		if (l == 0 || l % 2 != 0 || l / 2 > PAT_MAX) {
			fputs("memscan: bad pattern\n", stderr);
			return 2;
		}
		pats[i].hex = h;
		pats[i].len = l / 2;
		pats[i].count = 0;
		for (size_t j = 0; j < l / 2; j++) {
			int a = hexval(h[2 * j]), b = hexval(h[2 * j + 1]);

			if (a < 0 || b < 0) {
				fputs("memscan: bad pattern\n", stderr);
				return 2;
			}
			pats[i].b[j] = (unsigned char)(a << 4 | b);
		}
		if (pats[i].len > maxlen)
			maxlen = pats[i].len;
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	if ((maps = fopen(path, "r")) == NULL) {
		perror(path);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	if ((fd = open(path, O_RDONLY)) == -1) {
		perror(path);
		return 1;
	}
	if ((buf = malloc(CHUNK + PAT_MAX)) == NULL)
		return 1;
	while (fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (perms[0] != 'r' || hi - lo > MAP_MAX ||
		    strstr(line, "[vvar]") != NULL ||
		    strstr(line, "[vsyscall]") != NULL)
			continue;
		keep = 0;
		for (unsigned long a = lo; a < hi; a += got) {
			size_t want = hi - a < CHUNK ? hi - a : CHUNK;

			n = pread(fd, buf + keep, want, (off_t)a);
			if (n <= 0)
				break;
			got = (size_t)n;
			total += got;
			scan(pats, np, buf, keep + got, keep);
			/* Keep a tail so matches across chunks are found;
			 * skip what was already counted. */
			if (keep + got >= maxlen - 1 && maxlen > 1) {
				memmove(buf, buf + keep + got - (maxlen - 1),
				    maxlen - 1);
				keep = maxlen - 1;
			} else {
				keep = 0;
			}
		}
	}
	fclose(maps);
	close(fd);
	free(buf);
	if (total == 0) {
		fprintf(stderr, "memscan: could not read the memory of %s\n",
		    argv[1]);
		return 1;
	}
	for (i = 0; i < np; i++)
		printf("%s %lu\n", pats[i].hex, pats[i].count);
	return 0;
}
