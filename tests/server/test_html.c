/* SPDX-License-Identifier: ISC */
/*
 * test_html: the web console's one escaping function (server/html.c):
 * what it turns into entities, what it passes through, and the buffer.
 */
#include <string.h>

#include "../../server/html.h"
#include "../../server/srv_crypto.h"
#include "../unit/unit.h"

/* html_esc(s), as a string to compare. */
static char *
esc(struct html *h, const char *s)
{
	html_release(h);
	html_esc(h, s);
	return h->buf != NULL ? h->buf : "";
}

static void
test_specials(void)
{
	struct html h = { 0 };

	T_EQ_STR(esc(&h, "<script>alert(1)</script>"),
	    "&lt;script&gt;alert(1)&lt;/script&gt;");
	T_EQ_STR(esc(&h, "a \"quoted\" 'label' & more"),
	    "a &quot;quoted&quot; &#39;label&#39; &amp; more");
	T_EQ_STR(esc(&h, "\"><img src=x onerror=alert(1)>"),
	    "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
	T_EQ_STR(esc(&h, "&amp;"), "&amp;amp;");
	html_release(&h);
}

static void
test_passes(void)
{
	struct html h = { 0 };

	T_EQ_STR(esc(&h, "laptop-2 (büro) ☕"), "laptop-2 (büro) ☕");
	T_EQ_STR(esc(&h, "tab\there\nline"), "tab\there\nline");
	T_EQ_STR(esc(&h, ""), "");
	html_release(&h);
}

static void
test_controls(void)
{
	struct html h = { 0 };

	T_EQ_STR(esc(&h, "a\rb\x1b[31mc\x7f"),
	    "a\xef\xbf\xbd" "b\xef\xbf\xbd[31mc\xef\xbf\xbd");
	html_release(&h);
}

static void
test_buffer(void)
{
	struct html h = { 0 };
	char *s;
	size_t len, i;

	for (i = 0; i < 5000; i++)
		html_raw(&h, "<b>");
	html_fmt(&h, "%d", 42);
	s = html_detach(&h, &len);
	T_TRUE(s != NULL);
	T_EQ_INT(len, 5000 * 3 + 2);
	T_TRUE(s != NULL && strcmp(s + len - 5, "<b>42") == 0);
	T_TRUE(h.buf == NULL && h.len == 0);
	srv_wfree(s);
	html_release(&h);		/* zeroed: a no-op */
}

static int
setup(void)
{
	return srv_crypto_init();
}

UNIT_MAIN(setup,
    UNIT_TEST(test_specials),
    UNIT_TEST(test_passes),
    UNIT_TEST(test_controls),
    UNIT_TEST(test_buffer))
