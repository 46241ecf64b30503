/* SPDX-License-Identifier: ISC */
/*
 * leakprobe leak|uninit|clean: a program with one known defect, so that
 * tests/integration/86-valgrind.sh can show that its leak checker really
 * reports what it is meant to before it trusts a silent run.
 *
 *   leak    loses 64 blocks of 100 bytes (at least 63 "definitely lost";
 *           the last pointer may linger in a register)
 *   uninit  branches on bytes malloc() never initialised (valgrind's
 *           "conditional jump depends on uninitialised value")
 *   clean   frees everything: no report
 *
 * Exit status 0, or 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* volatile: the compiler may neither drop the allocations nor the loads. */
static void *volatile sink;

static void __attribute__((noinline))
lose_blocks(void)
{
	for (int i = 0; i < 64; i++) {
		sink = malloc(100);
		if (sink != NULL)
			memset(sink, 'x', 100);
	}
	sink = NULL;
}

static int __attribute__((noinline))
use_uninit(void)
{
	unsigned char *p;
	volatile unsigned char c;
	int r = 0;

	/* Through sink, so the compiler cannot see (and warn) what we do. */
	sink = malloc(16);
	if ((p = sink) == NULL)
		return 0;
	c = p[3];
	if (c == 7)
		r = 1;
	free(p);
	return r;
}

int
main(int argc, char **argv)
{
	void *p;

	if (argc != 2)
		goto usage;
	if (strcmp(argv[1], "leak") == 0) {
		lose_blocks();
	} else if (strcmp(argv[1], "uninit") == 0) {
		if (use_uninit())
			puts("seven");
	} else if (strcmp(argv[1], "clean") == 0) {
		p = malloc(100);
		free(p);
	} else {
		goto usage;
	}
	return 0;
usage:
	fputs("usage: leakprobe leak|uninit|clean\n", stderr);
	return 2;
}
