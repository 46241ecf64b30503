/* SPDX-License-Identifier: ISC */
/*
 * fuzz_replay: a main() for the fuzz targets that needs no libFuzzer, so
 * the corpora (and every crash found, kept as a regression) replay with
 * any compiler in "make test" (the zstd regression_driver.c model).
 *
 *   replay_<target> PATH...
 *
 * Each PATH is a file, or a directory whose regular files (not
 * recursively, names starting with '.' skipped) are run in name order.
 * Each input is copied into a buffer of exactly its size, so that a
 * sanitizer sees any read past its end.  A property failure or crash
 * aborts; otherwise the last line is "replay: N inputs".  Exit status 2
 * on a usage or I/O error.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* The target may define LLVMFuzzerInitialize; then it runs once first. */
#pragma weak LLVMFuzzerInitialize

static unsigned long ninputs;

static int
run_file(const char *path)
{
	struct stat sb;
	uint8_t *buf;
	size_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	/* malloc(0) may return NULL: keep one spare byte, never read. */
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL ||
	    read_full(fd, buf, (size_t)sb.st_size, &got) != 0 ||
	    got != (size_t)sb.st_size) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(buf);
		close(fd);
		return -1;
	}
	close(fd);
	if (got > 0) {
		/* Exactly ${got} bytes, so an over-read is caught. */
		uint8_t *exact = malloc(got);

		if (exact == NULL) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, got);
		free(buf);
		buf = exact;
	}
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	ninputs++;
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_dir(const char *dir)
{
	struct dirent *de;
	char **names = NULL, **nn;
	size_t n = 0, cap = 0;
	int r = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nn = realloc(names, cap * sizeof(*names))) == NULL)
				abort();
			names = nn;
		}
		if ((names[n++] = strdup(de->d_name)) == NULL)
			abort();
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    run_file(path) != 0)
			r = -1;
		free(names[i]);
	}
	free(names);
	return r;
}

int
main(int argc, char **argv)
{
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat sb;

		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			status = 2;
		} else if (S_ISDIR(sb.st_mode)) {
			if (run_dir(argv[i]) != 0)
				status = 2;
		} else if (run_file(argv[i]) != 0) {
			status = 2;
		}
	}
	printf("replay: %lu inputs\n", ninputs);
	return status;
}
