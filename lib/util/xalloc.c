/* SPDX-License-Identifier: ISC */
/*
 * xalloc: the one allocator entry point of libcoffer.  Built with
 * -DCOFFER_FAULT_INJECT, allocation number $COFFER_FAIL_ALLOC fails.
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifdef COFFER_FAULT_INJECT
#include <stdatomic.h>

/*
 * Atomic: the sealer threads allocate too.  Which allocation is number N
 * then depends on the threads' timing, so a sweep that reaches them is
 * not exactly repeatable, but every count is seen once.
 */
static int
should_fail(void)
{
	static atomic_long n, fail = -1;
	const char *s;

	if (atomic_load(&fail) == -1)
		atomic_store(&fail, (s = getenv("COFFER_FAIL_ALLOC")) ?
		    strtol(s, NULL, 10) : 0);
	return atomic_fetch_add(&n, 1) + 1 == atomic_load(&fail);
}
#else
#define should_fail() 0
#endif

void *
coffer_malloc(size_t len)
{
	if (should_fail())
		return NULL;
	return malloc(len == 0 ? 1 : len);
}

void *
coffer_calloc(size_t n, size_t len)
{
	if (should_fail())
		return NULL;
	return calloc(n == 0 ? 1 : n, len == 0 ? 1 : len);
}

void *
coffer_realloc(void *p, size_t len)
{
	if (should_fail())
		return NULL;
	return realloc(p, len == 0 ? 1 : len);
}

void *
coffer_malloc_aligned(size_t align, size_t len)
{
	void *p;

	if (should_fail() || posix_memalign(&p, align, len == 0 ? 1 : len) != 0)
		return NULL;
	return p;
}

char *
coffer_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if ((p = coffer_malloc(n)) == NULL)
		return NULL;
	memcpy(p, s, n);
	return p;
}

void
coffer_free(void *p)
{
	free(p);
}
