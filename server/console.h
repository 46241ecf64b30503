/* SPDX-License-Identifier: ISC */
/*
 * console: the escrow account in a browser, the pages under /account/
 * (docs/PROTOCOL.md §12): sign in, devices, keys, activity, security.
 *
 * Server-rendered HTML, no script.  Every page is built from the answers
 * of the JSON API's own handlers: the console turns a form into an API
 * request of the console token kind (api_req.console) and hands it to
 * api_handle(), so limits, fresh proof, audit rows and the store calls
 * are the API's, not copies.  What the console adds: the session cookie,
 * the CSRF token of every form (derived from the cookie's token), the
 * pages, and escaping every value it shows (html_esc).
 *
 * Not responsible for the security headers of every answer (http.c).
 */
#ifndef COFFERD_CONSOLE_H_
#define COFFERD_CONSOLE_H_

#include <stdbool.h>

#include "api.h"

#define CONSOLE_COOKIE		"coffer_console"

/* console_path(path): whether ${path} is the console's (/account...). */
bool console_path(const char *path);

/*
 * console_needs_kdf(path): whether a POST to ${path} may check or hash a
 * password (sign in, fresh proof, a new password), so that http.c runs it
 * on a password-hashing thread (api_needs_kdf).
 */
bool console_needs_kdf(const char *path);

/* console_handle(a, q, p): answer the console request ${q} into ${p}. */
void console_handle(struct api *a, const struct api_req *q,
    struct api_resp *p);

#endif /* !COFFERD_CONSOLE_H_ */
