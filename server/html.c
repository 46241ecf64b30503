/* SPDX-License-Identifier: ISC */
/*
 * html: page buffer and escaping (html.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "srv_crypto.h"

/* Room for ${n} more bytes and a NUL.  0, or -1 (sticky). */
static int
html_grow(struct html *h, size_t n)
{
	size_t cap;
	char *nb;

	if (h->oom)
		return -1;
	if (h->len + n + 1 <= h->cap)
		return 0;
	cap = h->cap > 0 ? h->cap : 4096;
	while (cap < h->len + n + 1) {
		if (cap > (size_t)64 << 20)
			goto oom;
		cap *= 2;
	}
	if ((nb = srv_wmalloc(cap)) == NULL)
		goto oom;
	if (h->len > 0)
		memcpy(nb, h->buf, h->len);
	nb[h->len] = '\0';
	srv_wfree(h->buf);
	h->buf = nb;
	h->cap = cap;
	return 0;
oom:
	h->oom = true;
	return -1;
}

static void
html_put(struct html *h, const char *s, size_t n)
{
	if (html_grow(h, n) != 0)
		return;
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

void
html_raw(struct html *h, const char *s)
{
	html_put(h, s, strlen(s));
}

void
html_esc(struct html *h, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const char *e;

	for (; *p != '\0'; p++) {
		switch (*p) {
		case '&':	e = "&amp;"; break;
		case '<':	e = "&lt;"; break;
		case '>':	e = "&gt;"; break;
		case '"':	e = "&quot;"; break;
		case '\'':	e = "&#39;"; break;
		case '\t':
		case '\n':	e = NULL; break;
		default:
			e = *p < 0x20 || *p == 0x7f ? "\xef\xbf\xbd" : NULL;
		}
		if (e != NULL)
			html_raw(h, e);
		else
			html_put(h, (const char *)p, 1);
	}
}

void
html_fmt(struct html *h, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		h->oom = true;
		return;
	}
	html_put(h, buf, (size_t)n);
}

char *
html_detach(struct html *h, size_t *len)
{
	char *s;

	if (h->oom || html_grow(h, 0) != 0) {
		html_release(h);
		*len = 0;
		return NULL;
	}
	s = h->buf;
	*len = h->len;
	memset(h, 0, sizeof(*h));
	return s;
}

void
html_release(struct html *h)
{
	srv_wfree(h->buf);
	memset(h, 0, sizeof(*h));
}
