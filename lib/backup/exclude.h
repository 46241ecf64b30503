/* SPDX-License-Identifier: ISC */
/*
 * exclude: which paths a backup leaves out, by gitignore-style patterns.
 *
 * Patterns are matched against the stored path of an entry ("home/me/x",
 * no leading '/').  A pattern that starts with '/' is anchored at the top
 * of the snapshot; any other matches the path's last components at any
 * depth ("*.o" any object file, "build/out" any out in any build).  '*'
 * and '?' and
 * [classes] match within one component, '**' matches any number of
 * components, a trailing '/' matches directories only, and a leading '!'
 * takes an earlier match back.  The last pattern that matches decides.
 */
#ifndef EXCLUDE_H_
#define EXCLUDE_H_

#include <stdbool.h>

#include "coffer/err.h"
#include "../util/util.h"

struct excl;

/* excl_new(): an empty set (excludes nothing); NULL if out of memory. */
struct excl *excl_new(void);
void excl_free(struct excl *x);

/* excl_add(x, pattern, err): add one pattern ("" and "#..." ignored). */
int excl_add(struct excl *x, const char *pattern, struct coffer_err *err) WUR;

/*
 * excl_add_file(x, path, err): add every line of ${path} as a pattern
 * (blank lines and lines starting with '#' are skipped).
 */
int excl_add_file(struct excl *x, const char *path, struct coffer_err *err)
    WUR;

/* excl_match(x, path, isdir): is the stored ${path} excluded? */
bool excl_match(const struct excl *x, const char *path, bool isdir);

/* excl_stored(path): ${path} without leading "/", "./" and "../". */
const char *excl_stored(const char *path);

#endif /* !EXCLUDE_H_ */
