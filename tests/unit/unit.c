/* SPDX-License-Identifier: ISC */
/* unit: TAP runner and check helpers for tests/unit/test_*.c. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "util/util.h"

static bool failed;		/* the running test has failed a check */

void
unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	failed = true;
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void
unit_eq_mem(const char *file, int line, const char *expr, const void *got,
    const void *want, size_t len)
{
	const unsigned char *g = got, *w = want;
	size_t i;

	for (i = 0; i < len; i++)
		if (g[i] != w[i])
			break;
	if (i < len)
		unit_fail(file, line, "%s: byte %zu of %zu is 0x%02x, "
		    "want 0x%02x", expr, i, len, g[i], w[i]);
}

void
unit_eq_str(const char *file, int line, const char *expr, const char *got,
    const char *want)
{
	if (got == NULL || want == NULL) {
		if (got != want)
			unit_fail(file, line, "%s == %s%s%s, want %s%s%s",
			    expr, got ? "\"" : "", got ? got : "(null)",
			    got ? "\"" : "", want ? "\"" : "",
			    want ? want : "(null)", want ? "\"" : "");
		return;
	}
	if (strcmp(got, want) != 0)
		unit_fail(file, line, "%s == \"%s\", want \"%s\"", expr, got,
		    want);
}

static const struct unit_test *
find_test(const struct unit_test *tests, size_t ntests, const char *name)
{
	for (size_t i = 0; i < ntests; i++)
		if (strcmp(tests[i].name, name) == 0)
			return &tests[i];
	return NULL;
}

int
unit_run(int (*setup)(void), const struct unit_test *tests, size_t ntests,
    int argc, char **argv)
{
	const struct unit_test *t;
	size_t nrun, npass = 0, nfail = 0;

	/* Without this a crash mid-test loses the earlier "ok" lines. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	nrun = argc > 1 ? (size_t)argc - 1 : ntests;
	printf("1..%zu\n", nrun);
	if (setup != NULL && setup() != 0) {
		printf("Bail out! setup failed\n");
		printf("0 passed, %zu failed\n", nrun);
		return 1;
	}
	for (size_t i = 0; i < nrun; i++) {
		const char *name;

		name = argc > 1 ? argv[i + 1] : tests[i].name;
		failed = false;
		if ((t = find_test(tests, ntests, name)) == NULL)
			unit_fail(__FILE__, __LINE__, "no test named '%s'",
			    name);
		else
			t->fn();
		printf("%sok %zu - %s\n", failed ? "not " : "", i + 1, name);
		if (failed)
			nfail++;
		else
			npass++;
	}
	printf("%zu passed, %zu failed\n", npass, nfail);
	return nfail == 0 ? 0 : 1;
}

/* ---- scratch directories and files ---- */

void
unit_rm_rf_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(dfd, name, 0) == 0)
		return;
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		unit_rm_rf_at(dirfd(d), de->d_name);
	}
	closedir(d);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

bool
unit_tmpdir_new(char path[PATH_MAX])
{
	const char *t = getenv("TMPDIR");

	if (t == NULL || *t == '\0')
		t = "/tmp";
	snprintf(path, PATH_MAX, "%s/coffer-unit.XXXXXX", t);
	if (mkdtemp(path) == NULL) {
		unit_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
		return false;
	}
	return true;
}

void
unit_tmpdir_remove(const char *path)
{
	unit_rm_rf_at(AT_FDCWD, path);
}

const char *
unit_pathf(char out[PATH_MAX], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	return out;
}

uint8_t *
unit_slurp(const char *path, size_t *len)
{
	uint8_t *buf = NULL;

	if (file_read(AT_FDCWD, path, path, (size_t)64 << 20, &buf, len,
	    NULL) != 0)
		return NULL;
	return buf;
}

bool
unit_spit(const char *path, const void *p, size_t len)
{
	int fd;
	bool ok;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return false;
	ok = write_full(fd, p, len) == 0;
	return close(fd) == 0 && ok;
}

int
unit_mode_of(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}
