/* SPDX-License-Identifier: ISC */
/*
 * html: a growing text buffer for the web console's pages, with the one
 * function that puts a value into HTML (html_esc).
 *
 * The buffer is srv_wmalloc'd (wiped when freed: pages show recovery
 * codes and TOTP secrets).  Out of memory is sticky: every later call
 * does nothing and html_detach() returns NULL.  Not responsible for
 * what the page says (console.c).
 */
#ifndef COFFERD_HTML_H_
#define COFFERD_HTML_H_

#include <stdbool.h>
#include <stddef.h>

struct html {
	char	*buf;		/* srv_wmalloc'd, NUL terminated */
	size_t	 len;
	size_t	 cap;
	bool	 oom;
};

/* html_raw(h, s): append ${s}, trusted markup, as it is. */
void html_raw(struct html *h, const char *s);

/*
 * html_esc(h, s): append the text ${s} escaped for an element's content
 * or a quoted attribute value: & < > " ' become entities, and control
 * characters other than tab and newline become U+FFFD.
 */
void html_esc(struct html *h, const char *s);

/* html_fmt(h, fmt, ...): append printf output, trusted (numbers). */
void html_fmt(struct html *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * html_detach(h, &len): the text (srv_wfree it) and its length in
 * ${len}; ${h} is empty afterwards.  NULL if out of memory was hit.
 */
char *html_detach(struct html *h, size_t *len);

/* html_release(h): free (and wipe) the buffer; a zeroed ${h} is a no-op. */
void html_release(struct html *h);

#endif /* !COFFERD_HTML_H_ */
