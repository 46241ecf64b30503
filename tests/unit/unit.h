/* SPDX-License-Identifier: ISC */
/*
 * unit: the in-house unit test harness.  TAP output, one "ok"/"not ok"
 * line per test, failure details as "# file:line: message" comments and
 * a closing "N passed, N failed" line.  A failed check marks the test
 * failed and lets it go on; nothing here aborts.
 */
#ifndef UNIT_H_
#define UNIT_H_

#include <stddef.h>

struct unit_test {
	const char	*name;
	void		(*fn)(void);
};

#define UNIT_TEST(fn)	{ #fn, fn }

#define T_TRUE(c) do {							\
	if (!(c))							\
		unit_fail(__FILE__, __LINE__, "%s", #c);		\
} while (0)

#define T_EQ_INT(got, want) do {					\
	long long got_ = (got), want_ = (want);				\
	if (got_ != want_)						\
		unit_fail(__FILE__, __LINE__, "%s == %lld, want %lld",	\
		    #got, got_, want_);					\
} while (0)

/* T_EQ_MEM(got, want, len): reports the first differing byte. */
#define T_EQ_MEM(got, want, len)					\
	unit_eq_mem(__FILE__, __LINE__, #got, (got), (want), (len))

#define T_EQ_STR(got, want)						\
	unit_eq_str(__FILE__, __LINE__, #got, (got), (want))

/*
 * UNIT_MAIN(setup, tests...): ${setup} (may be NULL) runs once first,
 * e.g. coffer_crypto_init().  "./test_x" runs all; "./test_x name..."
 * runs some.
 */
#define UNIT_MAIN(setup, ...)						\
int									\
main(int argc, char **argv)						\
{									\
	static const struct unit_test tests_[] = { __VA_ARGS__ };	\
									\
	return unit_run((setup), tests_,				\
	    sizeof(tests_) / sizeof(tests_[0]), argc, argv);		\
}

/*
 * unit_fail(file, line, fmt, ...): print "# ${file}:${line}: message" and
 * mark the running test failed.  The test continues.
 */
void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* unit_eq_mem(...), unit_eq_str(...): the bodies of T_EQ_MEM, T_EQ_STR. */
void unit_eq_mem(const char *file, int line, const char *expr,
    const void *got, const void *want, size_t len);
void unit_eq_str(const char *file, int line, const char *expr,
    const char *got, const char *want);

/*
 * unit_run(setup, tests, ntests, argc, argv):
 * Line-buffer stdout, run ${setup} if not NULL (non-zero: bail out), then
 * run every test in ${tests}, or those named in ${argv}.  Return the exit
 * status for main(): 0 if every test passed, else 1.
 */
int unit_run(int (*setup)(void), const struct unit_test *tests,
    size_t ntests, int argc, char **argv);

/*
 * Scratch files, shared by the tests that need a disk:
 * unit_tmpdir_new(path): a fresh private directory under $TMPDIR (or
 *   /tmp); false (and a failure recorded) if it cannot be made.
 * unit_tmpdir_remove(path), unit_rm_rf_at(dfd, name): remove a tree.
 * unit_pathf(out, fmt, ...): format a path into ${out} (PATH_MAX).
 * unit_slurp(path, &len): the whole file (coffer_free it), or NULL.
 * unit_spit(path, p, len): replace a file's content (not atomically).
 * unit_mode_of(path): permission bits (lstat), or -1.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

bool unit_tmpdir_new(char path[PATH_MAX]);
void unit_tmpdir_remove(const char *path);
void unit_rm_rf_at(int dfd, const char *name);
const char *unit_pathf(char out[PATH_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint8_t *unit_slurp(const char *path, size_t *len);
bool unit_spit(const char *path, const void *p, size_t len);
int unit_mode_of(const char *path);

#endif /* !UNIT_H_ */
