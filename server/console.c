/* SPDX-License-Identifier: ISC */
/*
 * console: the /account/ pages (console.h).
 *
 * A request: the route; a POST must be a form from this origin
 * (Content-Type, Sec-Fetch-Site when the browser sends it) and, but for
 * the sign-in, carry the CSRF token of its session; the session is the
 * cookie's, checked by GET /v1/sessions/current.  Then the API requests
 * the page needs, and the page.  A form whose action needs fresh proof
 * carries the password (and code) when the session is not fresh; an
 * action refused for want of it (403 fresh_auth_required) answers a page
 * that asks for the password and posts the same form again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <qrencode.h>

#include "api.h"
#include "console.h"
#include "html.h"
#include "srv_crypto.h"
#include "store.h"
#include "util/util.h"

#define TOKEN_HEX	(SRV_TOKEN_LEN * 2)
#define CSRF_HEX	32
#define PAGE_EVENTS	50
#define AUDIT_MAX	1000
#define DEVICE_NAME	"web console"
#define COOKIE_ATTRS	"; HttpOnly; Secure; SameSite=Strict; Path=/account/"

struct con {
	struct api		*a;
	const struct api_req	*q;
	struct api_resp		*p;
	struct html		 h;
	char	 token[TOKEN_HEX + 1];	/* the cookie's, or "" */
	char	 csrf[CSRF_HEX + 1];
	json_t	*sess;			/* GET /v1/sessions/current */
	json_t	*form;			/* the POST's fields, strings */
	int	 retry;			/* of the last API answer */
	char	 msg[256];		/* its error message */
	char	 code[40];		/* its error code */
};

static const char css[] =
":root{color-scheme:light;--fg:#1d232b;--mut:#5a6472;--line:#d8dde3;"
"--acc:#1f5fa8;--bad:#b3261e;--bg:#f6f7f9}\n"
"*{box-sizing:border-box}\n"
"body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,"
"sans-serif;color:var(--fg);background:var(--bg)}\n"
".skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;"
"background:#fff;padding:4px 8px;z-index:9}\n"
"header.top{background:#14263d;color:#fff}\n"
"header.top .in{max-width:64rem;margin:0 auto;padding:.6rem 1rem;"
"display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center}\n"
".brand{font-weight:700;letter-spacing:.02em;margin-right:auto}\n"
"nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;"
"gap:.2rem .9rem;align-items:center}\n"
"nav a{color:#dbe7f5;text-decoration:none;padding:.15rem 0;"
"border-bottom:2px solid transparent}\n"
"nav a:hover,nav a[aria-current]{color:#fff;border-bottom-color:#8fb8e8}\n"
"nav button{background:none;border:1px solid #8fb8e8;color:#fff;"
"padding:.15rem .6rem;font-size:.9rem}\n"
"main{max-width:64rem;margin:0 auto;padding:1rem}\n"
"h1{font-size:1.5rem;margin:.6rem 0 1rem}h2{font-size:1.15rem;"
"margin:1.6rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .4rem;"
"color:var(--mut)}\n"
".card{background:#fff;border:1px solid var(--line);border-radius:6px;"
"padding:1rem;margin:0 0 1rem}\n"
".narrow{max-width:28rem;margin:0 auto 1rem}\n"
"main.solo{max-width:30rem;padding-top:1.5rem}\n"
".card>:first-child{margin-top:0}\n"
"label{display:block;font-weight:600;margin:.7rem 0 .2rem}\n"
".hint{font-weight:400;color:var(--mut);font-size:.9rem}\n"
"input[type=text],input[type=password]{width:100%;font:inherit;"
"padding:.45rem .55rem;border:1px solid #9aa4b1;border-radius:4px}\n"
"input:focus,button:focus,a:focus,.scroll:focus{outline:3px solid #f0b000;"
"outline-offset:1px}\n"
"button{font:inherit;cursor:pointer;border-radius:4px;"
"padding:.4rem .9rem;border:1px solid var(--acc);background:var(--acc);"
"color:#fff}\n"
"button.sec{background:#fff;color:var(--acc)}\n"
"button.danger{background:var(--bad);border-color:var(--bad)}\n"
"button.small{padding:.15rem .55rem;font-size:.9rem}\n"
".actions{margin-top:1rem;display:flex;flex-wrap:wrap;gap:.6rem;"
"align-items:center}\n"
"form.inline{display:inline;margin:0}\n"
".scroll{overflow-x:auto}\n"
"table{border-collapse:collapse;width:100%;background:#fff;"
"font-size:.93rem}\n"
"th,td{text-align:left;padding:.4rem .55rem;border-bottom:1px solid "
"var(--line);vertical-align:top}\n"
"th{background:#eef1f4;font-weight:600;white-space:nowrap}\n"
"td.t{white-space:nowrap}\n"
"code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;"
"font-size:.88rem;word-break:break-all}\n"
".err{background:#fdecea;border:1px solid #f1b0aa;color:#7a1a14;"
"padding:.6rem .8rem;border-radius:4px;margin:0 0 1rem}\n"
".ok{background:#e8f5ea;border:1px solid #a8d5b0;color:#1d5b28;"
"padding:.6rem .8rem;border-radius:4px;margin:0 0 1rem}\n"
".warn{background:#fff6e0;border:1px solid #ecc96b;padding:.6rem .8rem;"
"border-radius:4px;margin:0 0 1rem}\n"
".tag{display:inline-block;font-size:.8rem;padding:0 .4rem;"
"border-radius:3px;background:#e6edf6;color:#23446b}\n"
".tag.gone{background:#f3e3e2;color:#7a1a14}\n"
".muted{color:var(--mut)}\n"
".qr{background:#fff;display:inline-block;padding:.5rem;"
"border:1px solid var(--line)}\n"
".qr svg{display:block;width:220px;height:220px}\n"
"ol.codes{columns:2;font-family:ui-monospace,Menlo,monospace}\n"
".pager{display:flex;gap:1rem;margin:1rem 0}\n"
"footer{max-width:64rem;margin:0 auto;padding:1rem;color:var(--mut);"
"font-size:.85rem}\n"
"@media (max-width:40rem){main{padding:.7rem}table{font-size:.85rem}"
".scroll table{min-width:42rem}"
".scroll td.mono{white-space:nowrap;word-break:normal}"
"th,td{padding:.35rem .4rem}ol.codes{columns:1}}\n";

/* ---- small helpers ---------------------------------------------------- */

bool
console_path(const char *path)
{
	return strncmp(path, "/account", 8) == 0 &&
	    (path[8] == '\0' || path[8] == '/');
}

bool
console_needs_kdf(const char *path)
{
	/* Every form but sign-out may carry a password to check or hash. */
	return strcmp(path, "/account/signout") != 0;
}

static const char *
jstr(const json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL ? s : "";
}

static int64_t
jint(const json_t *o, const char *name)
{
	return (int64_t)json_integer_value(json_object_get(o, name));
}

/* A form field, or "" when absent. */
static const char *
field(const struct con *k, const char *name)
{
	return jstr(k->form, name);
}

/* "2026-12-08 02:51 UTC", or "never" for 0. */
static void
fmt_time(char out[32], int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, 32, "never");
		return;
	}
	strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

static void
esc_time(struct con *k, int64_t t)
{
	char s[32];

	fmt_time(s, t);
	html_esc(&k->h, s);
}

/* ---- the API, from inside --------------------------------------------- */

/*
 * Answer ${method} ${path} (?limit=${limit}) with the JSON ${body}
 * (consumed; NULL: none) as the API answers this session; its JSON answer
 * in *${out} (NULL if none; the caller decrefs), its error in ${k->msg}
 * and ${k->code}.  Returns the status.
 */
static int
api_call(struct con *k, const char *method, const char *path, json_t *body,
    const char *limit, json_t **out)
{
	struct api_req q;
	struct api_resp p;
	char *s = NULL;
	int status;

	*out = NULL;
	k->msg[0] = k->code[0] = '\0';
	k->retry = 0;
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.path = path;
	q.limit = limit;
	q.address = k->q->address;
	q.console = true;
	q.token = k->token;
	if (body != NULL) {
		s = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (s == NULL) {
			snprintf(k->msg, sizeof(k->msg), "out of memory");
			return 500;
		}
		q.body = (const uint8_t *)s;
		q.body_len = strlen(s);
		q.content_type = "application/json";
	}
	api_handle(k->a, &q, &p);
	srv_wfree(s);
	status = p.status;
	k->retry = p.retry_after;
	if (p.body != NULL)
		*out = json_loadb(p.body, p.len, 0, NULL);
	api_resp_release(&p);
	if (status >= 400 && *out != NULL) {
		snprintf(k->msg, sizeof(k->msg), "%s", jstr(*out, "message"));
		snprintf(k->code, sizeof(k->code), "%s", jstr(*out, "error"));
	}
	return status;
}

/* The same, for a caller that wants only the status. */
static int
api_do(struct con *k, const char *method, const char *path, json_t *body)
{
	json_t *o;
	int st;

	st = api_call(k, method, path, body, NULL, &o);
	json_decref(o);
	return st;
}

/* ---- the form --------------------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode ${n} bytes of ${s} (x-www-form-urlencoded) into ${out}; -1 on NUL
 * or a bad escape. */
static int
url_decode(char *out, const char *s, size_t n)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= n ||
			    (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0 || (hi | lo) == 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return 0;
}

/* Parse the body into ${k->form}.  0, or -1 (not a form: 400). */
static int
parse_form(struct con *k)
{
	const char *b = (const char *)k->q->body, *end, *amp, *eq;
	const char *ct = k->q->content_type;
	char *name = NULL, *val = NULL;
	size_t len = k->q->body_len;
	int r = -1;

	if ((k->form = json_object()) == NULL)
		return -1;
	if (len == 0)
		return 0;
	if (ct == NULL || strncmp(ct, "application/x-www-form-urlencoded",
	    33) != 0)
		return -1;
	if ((name = srv_wmalloc(len + 1)) == NULL ||
	    (val = srv_wmalloc(len + 1)) == NULL)
		goto out;
	end = b + len;
	while (b < end) {
		if ((amp = memchr(b, '&', (size_t)(end - b))) == NULL)
			amp = end;
		if ((eq = memchr(b, '=', (size_t)(amp - b))) == NULL)
			eq = amp;
		if (url_decode(name, b, (size_t)(eq - b)) != 0 ||
		    url_decode(val, eq < amp ? eq + 1 : eq,
		    eq < amp ? (size_t)(amp - eq - 1) : 0) != 0)
			goto out;
		/* The first of a name wins; text must be UTF-8. */
		if (json_object_get(k->form, name) == NULL) {
			json_t *v = json_string(val);

			if (v == NULL || json_object_set_new(k->form, name,
			    v) != 0)
				goto out;
		}
		b = amp + 1;
	}
	r = 0;
out:
	srv_wfree(name);
	srv_wfree(val);
	return r;
}

/* ---- the page --------------------------------------------------------- */

static void
page_start(struct con *k, const char *title, const char *nav)
{
	static const char *const items[][2] = {
		{ "devices", "Devices" }, { "keys", "Keys" },
		{ "activity", "Activity" }, { "security", "Security" },
	};
	struct html *h = &k->h;
	size_t i;

	html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\"><title>");
	html_esc(h, title);
	html_raw(h, " · coffer account</title><link rel=\"stylesheet\" "
	    "href=\"/account/style.css\"></head><body>"
	    "<a class=\"skip\" href=\"#main\">Skip to content</a>"
	    "<header class=\"top\"><div class=\"in\">"
	    "<span class=\"brand\">coffer account</span>");
	if (k->sess != NULL) {
		html_raw(h, "<nav aria-label=\"Account\"><ul>");
		for (i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
			html_fmt(h, "<li><a href=\"/account/%s\"%s>%s</a></li>",
			    items[i][0], nav != NULL &&
			    strcmp(nav, items[i][0]) == 0 ?
			    " aria-current=\"page\"" : "", items[i][1]);
		}
		html_raw(h, "<li><form class=\"inline\" method=\"post\" "
		    "action=\"/account/signout\"><input type=\"hidden\" "
		    "name=\"csrf\" value=\"");
		html_esc(h, k->csrf);
		html_raw(h, "\"><button type=\"submit\">Sign out</button>"
		    "</form></li></ul></nav>");
	}
	html_raw(h, k->sess != NULL ? "</div></header><main id=\"main\"><h1>" :
	    "</div></header><main id=\"main\" class=\"solo\"><h1>");
	html_esc(h, title);
	html_raw(h, "</h1>");
}

/* Send the page with ${status}. */
static void
page_end(struct con *k, int status)
{
	struct html *h = &k->h;

	html_raw(h, "</main>");
	if (k->sess != NULL) {
		html_raw(h, "<footer>Signed in to <strong>");
		html_esc(h, jstr(k->sess, "account"));
		html_raw(h, "</strong> as this browser.</footer>");
	}
	html_raw(h, "</body></html>\n");
	srv_wfree(k->p->body);
	if ((k->p->body = html_detach(h, &k->p->len)) == NULL) {
		k->p->status = 500;
		k->p->ctype = NULL;
		return;
	}
	k->p->status = status;
	k->p->ctype = "text/html; charset=utf-8";
}

static void
redirect(struct con *k, const char *to)
{
	html_release(&k->h);
	k->p->status = 303;
	snprintf(k->p->location, sizeof(k->p->location), "%s", to);
}

static void
note(struct con *k, const char *cls, const char *text)
{
	html_fmt(&k->h, "<p class=\"%s\" role=\"%s\">", cls,
	    strcmp(cls, "err") == 0 ? "alert" : "status");
	html_esc(&k->h, text);
	html_raw(&k->h, "</p>");
}

/* The hidden CSRF field of a form. */
static void
csrf_field(struct con *k)
{
	html_raw(&k->h, "<input type=\"hidden\" name=\"csrf\" value=\"");
	html_esc(&k->h, k->csrf);
	html_raw(&k->h, "\">");
}

static void
hidden(struct con *k, const char *name, const char *value)
{
	html_raw(&k->h, "<input type=\"hidden\" name=\"");
	html_esc(&k->h, name);
	html_raw(&k->h, "\" value=\"");
	html_esc(&k->h, value);
	html_raw(&k->h, "\">");
}

static void
input(struct con *k, const char *name, const char *type, const char *label,
    const char *hint, const char *ac, bool required)
{
	html_fmt(&k->h, "<label for=\"f-%s\">", name);
	html_esc(&k->h, label);
	if (hint != NULL) {
		html_raw(&k->h, " <span class=\"hint\">");
		html_esc(&k->h, hint);
		html_raw(&k->h, "</span>");
	}
	html_fmt(&k->h, "</label><input id=\"f-%s\" name=\"%s\" type=\"%s\" "
	    "autocomplete=\"%s\"%s%s>", name, name, type, ac,
	    required ? " required" : "",
	    strcmp(name, "code") == 0 ? " inputmode=\"numeric\"" : "");
}

static bool
is_fresh(const struct con *k)
{
	return jint(k->sess, "fresh_until") > (int64_t)time(NULL);
}

static bool
has_totp(const struct con *k)
{
	return json_is_true(json_object_get(k->sess, "totp"));
}

/* The password (and code) fields of a form that needs fresh proof. */
static void
proof_fields(struct con *k, bool code_always)
{
	if (!is_fresh(k) || code_always)
		input(k, "password", "password", "Account password",
		    code_always ? NULL : "(asked again once the sign-in is "
		    "older than a few minutes)",
		    "current-password", true);
	if (has_totp(k) && (!is_fresh(k) || code_always))
		input(k, "code", "text", "One-time code",
		    "(or a recovery code)", "one-time-code", true);
}

static void
page_error(struct con *k, int status, const char *title, const char *text)
{
	page_start(k, title, NULL);
	note(k, "err", text);
	html_raw(&k->h, "<p><a href=\"/account/\">Back to the account</a>"
	    "</p>");
	page_end(k, status);
}

/* 429: the time to wait, readable. */
static void
page_limited(struct con *k)
{
	char s[160];
	int m = (k->retry + 59) / 60;

	page_start(k, "Too many failed sign-ins", NULL);
	snprintf(s, sizeof(s), "Too many wrong passwords or codes were given "
	    "for this account or from this address. Try again in %d "
	    "minute%s (%d seconds).", m, m == 1 ? "" : "s", k->retry);
	note(k, "err", s);
	html_raw(&k->h, "<p>The limit is the same as for the coffer client: "
	    "10 failures in 15 minutes.</p><p><a href=\"/account/\">Back to "
	    "sign in</a></p>");
	page_end(k, 429);
	k->p->retry_after = k->retry > 0 ? k->retry : 60;
}

/* An API answer that is none of the expected ones. */
static void
page_api_error(struct con *k, int st)
{
	if (st == 429) {
		page_limited(k);
		return;
	}
	page_error(k, st >= 400 && st < 600 ? st : 500, "Not done",
	    k->msg[0] != '\0' ? k->msg : "the server could not do that");
}

/*
 * The action of this form needs fresh proof: ask for the password (and
 * code) and post the same fields to the same path again.
 */
static void
page_reauth(struct con *k, const char *error)
{
	const char *name;
	json_t *v;

	page_start(k, "Confirm it is you", NULL);
	if (error != NULL)
		note(k, "err", error);
	html_raw(&k->h, "<div class=\"card narrow\"><p>This needs your "
	    "account password again: the last one given is too old.</p>"
	    "<form method=\"post\" action=\"");
	html_esc(&k->h, k->q->path);
	html_raw(&k->h, "\">");
	csrf_field(k);
	json_object_foreach(k->form, name, v) {
		if (strcmp(name, "csrf") == 0 || strcmp(name, "password") == 0 ||
		    strcmp(name, "code") == 0 ||
		    strcmp(name, "new_password") == 0 ||
		    strcmp(name, "new_password2") == 0)
			continue;
		hidden(k, name, json_string_value(v));
	}
	if (json_object_get(k->form, "new_password") != NULL) {
		hidden(k, "new_password", field(k, "new_password"));
		hidden(k, "new_password2", field(k, "new_password2"));
	}
	input(k, "password", "password", "Account password", NULL,
	    "current-password", true);
	if (has_totp(k))
		input(k, "code", "text", "One-time code",
		    "(or a recovery code)", "one-time-code", true);
	html_raw(&k->h, "<div class=\"actions\"><button type=\"submit\">"
	    "Continue</button><a href=\"/account/devices\">Cancel</a></div>"
	    "</form></div>");
	page_end(k, 403);
}

/*
 * If the form carries a password, give fresh proof with it (and its
 * code).  0 when there was none or it was right; -1 after answering.
 */
static int
give_fresh(struct con *k)
{
	const char *pw = field(k, "password"), *code = field(k, "code");
	json_t *b, *o;
	int st;

	if (pw[0] == '\0')
		return 0;
	b = json_pack("{s:s}", "password", pw);
	if (b != NULL && code[0] != '\0')
		json_object_set_new(b, "code", json_string(code));
	st = api_call(k, "POST", "/v1/sessions/current/fresh", b, NULL, &o);
	if (st == 200) {
		json_object_set_new(k->sess, "fresh_until",
		    json_integer(jint(o, "fresh_until")));
	}
	json_decref(o);
	if (st == 200)
		return 0;
	if (st == 401)
		page_reauth(k, strcmp(k->code, "code_required") == 0 ?
		    "This account needs its one-time code too." :
		    "Wrong password or one-time code.");
	else
		page_api_error(k, st);
	return -1;
}

/* ---- sign in, sign out ------------------------------------------------ */

static void
page_signin(struct con *k, int status, const char *error, bool want_code)
{
	page_start(k, "Sign in", NULL);
	html_raw(&k->h, "<div class=\"card narrow\">");
	if (error != NULL)
		note(k, "err", error);
	html_raw(&k->h, "<p class=\"muted\">Your escrow account on this "
	    "server: its devices, keys and activity. Use it when a device "
	    "with its card was lost or stolen.</p>"
	    "<form method=\"post\" action=\"/account/signin\">");
	input(k, "account", "text", "Account", NULL, "username", true);
	input(k, "password", "password", "Password", NULL,
	    "current-password", true);
	input(k, "code", "text", "One-time code", want_code ?
	    "(required: from your authenticator, or a recovery code)" :
	    "(only if the account has two-factor authentication)",
	    "one-time-code", want_code);
	html_raw(&k->h, "<div class=\"actions\"><button type=\"submit\">"
	    "Sign in</button></div></form></div>");
	page_end(k, status);
}

static void
do_signin(struct con *k)
{
	const char *acc = field(k, "account"), *pw = field(k, "password");
	const char *code = field(k, "code");
	json_t *b, *o;
	int st;

	if (acc[0] == '\0' || pw[0] == '\0') {
		page_signin(k, 400, "Give the account name and its password.",
		    false);
		return;
	}
	b = json_pack("{s:s, s:s, s:s}", "account", acc, "password", pw,
	    "device", DEVICE_NAME);
	if (b != NULL && code[0] != '\0')
		json_object_set_new(b, "code", json_string(code));
	st = api_call(k, "POST", "/v1/sessions", b, NULL, &o);
	if (st == 201 && strlen(jstr(o, "token")) == TOKEN_HEX) {
		snprintf(k->p->set_cookie, sizeof(k->p->set_cookie),
		    CONSOLE_COOKIE "=%s" COOKIE_ATTRS, jstr(o, "token"));
		json_decref(o);
		redirect(k, "/account/devices");
		return;
	}
	json_decref(o);
	if (st == 401 && strcmp(k->code, "code_required") == 0)
		page_signin(k, 401, "This account has two-factor "
		    "authentication: give the one-time code too.", true);
	else if (st == 401 && strcmp(k->code, "bad_code") == 0)
		page_signin(k, 401, "Wrong, used or malformed one-time code.",
		    true);
	else if (st == 401)
		page_signin(k, 401, "Wrong account name or password.", false);
	else if (st == 400)
		page_signin(k, 400, k->msg, false);
	else
		page_api_error(k, st);
}

static void
clear_cookie(struct con *k)
{
	snprintf(k->p->set_cookie, sizeof(k->p->set_cookie),
	    CONSOLE_COOKIE "=; Max-Age=0" COOKIE_ATTRS);
}

static void
do_signout(struct con *k)
{
	int st = api_do(k, "DELETE", "/v1/sessions", NULL);

	if (st != 204) {
		page_api_error(k, st);
		return;
	}
	clear_cookie(k);
	redirect(k, "/account/");
}

/* ---- devices ---------------------------------------------------------- */

static void
page_devices(struct con *k, const char *notice)
{
	json_t *o, *d;
	size_t i;
	int st;

	if ((st = api_call(k, "GET", "/v1/devices", NULL, NULL, &o)) != 200) {
		json_decref(o);
		page_api_error(k, st);
		return;
	}
	page_start(k, "Devices", "devices");
	if (notice != NULL)
		note(k, "ok", notice);
	html_raw(&k->h, "<p>Every device signed in to this account. Signing "
	    "a device out ends its session at once: a stolen laptop or phone "
	    "can no longer reach its keys, even with its card.</p>"
	    "<div class=\"scroll\" tabindex=\"0\" role=\"region\" "
	    "aria-label=\"Devices\"><table><thead><tr><th scope=\"col\">"
	    "Device</th><th scope=\"col\">Signed in</th><th scope=\"col\">"
	    "Last used</th><th scope=\"col\">Last address</th>"
	    "<th scope=\"col\"><span class=\"skip\">Action</span></th>"
	    "</tr></thead><tbody>");
	json_array_foreach(json_object_get(o, "devices"), i, d) {
		html_raw(&k->h, "<tr><td>");
		html_esc(&k->h, jstr(d, "device"));
		if (json_is_true(json_object_get(d, "current")))
			html_raw(&k->h, " <span class=\"tag\">this browser"
			    "</span>");
		html_raw(&k->h, "</td><td class=\"t\">");
		esc_time(k, jint(d, "created"));
		html_raw(&k->h, "</td><td class=\"t\">");
		esc_time(k, jint(d, "last_used"));
		html_raw(&k->h, "</td><td class=\"mono\">");
		html_esc(&k->h, jstr(d, "last_address"));
		html_raw(&k->h, "</td><td>");
		if (!json_is_true(json_object_get(d, "current"))) {
			html_raw(&k->h, "<form class=\"inline\" method=\"post\" "
			    "action=\"/account/devices/signout\">");
			csrf_field(k);
			hidden(k, "id", jstr(d, "id"));
			html_raw(&k->h, "<button type=\"submit\" class=\"sec "
			    "small\" aria-label=\"Sign out this device: ");
			html_esc(&k->h, jstr(d, "device"));
			html_raw(&k->h, "\">Sign out this device</button>"
			    "</form>");
		}
		html_raw(&k->h, "</td></tr>");
	}
	json_decref(o);
	html_raw(&k->h, "</tbody></table></div><form method=\"post\" "
	    "action=\"/account/devices/signout\">");
	csrf_field(k);
	hidden(k, "all_others", "1");
	proof_fields(k, false);
	html_raw(&k->h, "<div class=\"actions\"><button type=\"submit\" "
	    "class=\"danger\">Sign out all other devices</button></div>"
	    "</form>");
	page_end(k, 200);
}

static void
do_device_signout(struct con *k)
{
	const char *id = field(k, "id");
	json_t *b, *o;
	char s[64];
	int st;

	if (give_fresh(k) != 0)
		return;
	b = id[0] != '\0' ? json_pack("{s:s}", "id", id) :
	    json_pack("{s:b}", "all_others", 1);
	st = api_call(k, "POST", "/v1/devices/revoke", b, NULL, &o);
	if (st == 200) {
		snprintf(s, sizeof(s), "Signed out %lld device session%s.",
		    (long long)jint(o, "revoked"),
		    jint(o, "revoked") == 1 ? "" : "s");
		json_decref(o);
		page_devices(k, s);
		return;
	}
	json_decref(o);
	if (st == 403 && strcmp(k->code, "fresh_auth_required") == 0)
		page_reauth(k, NULL);
	else
		page_api_error(k, st);
}

/* ---- keys ------------------------------------------------------------- */

static int
key_cmp(const void *x, const void *y)
{
	const json_t *a = *(const json_t *const *)x;
	const json_t *b = *(const json_t *const *)y;
	int r;

	if ((r = strcmp(jstr(a, "device"), jstr(b, "device"))) != 0)
		return r;
	if ((r = strcmp(jstr(a, "repo_id"), jstr(b, "repo_id"))) != 0)
		return r;
	return jint(a, "created") < jint(b, "created") ? -1 :
	    jint(a, "created") > jint(b, "created");
}

static void
key_row(struct con *k, const json_t *e)
{
	const char *id = jstr(e, "key_id");
	int64_t gone = jint(e, "destroyed");

	html_raw(&k->h, "<tr><td class=\"mono\">");
	html_esc(&k->h, jstr(e, "keyset_id")[0] != '\0' ?
	    jstr(e, "keyset_id") : "—");
	html_raw(&k->h, "</td><td>");
	html_raw(&k->h, strcmp(jstr(e, "kind"), "wrap") == 0 ? "wrap" :
	    "deposited");
	html_raw(&k->h, "</td><td>");
	html_esc(&k->h, jstr(e, "label"));
	html_raw(&k->h, "</td><td class=\"t\">");
	esc_time(k, jint(e, "created"));
	html_fmt(&k->h, "</td><td>%lld</td><td>",
	    (long long)jint(e, "releases"));
	if (gone != 0) {
		html_raw(&k->h, "<span class=\"tag gone\">destroyed</span> ");
		esc_time(k, gone);
	} else {
		html_raw(&k->h, "<span class=\"tag\">live</span>");
	}
	html_raw(&k->h, "</td><td class=\"mono\">");
	html_esc(&k->h, id);
	html_raw(&k->h, "</td><td>");
	if (gone == 0) {
		html_raw(&k->h, "<form class=\"inline\" method=\"post\" "
		    "action=\"/account/keys/destroy\">");
		csrf_field(k);
		hidden(k, "key", id);
		html_raw(&k->h, "<button type=\"submit\" class=\"danger "
		    "small\" aria-label=\"Destroy key ");
		html_esc(&k->h, id);
		html_raw(&k->h, "\">Destroy</button></form>");
	}
	html_raw(&k->h, "</td></tr>");
}

static void
table_head(struct con *k, const char *label)
{
	html_raw(&k->h, "<div class=\"scroll\" tabindex=\"0\" "
	    "role=\"region\" aria-label=\"");
	html_esc(&k->h, label);
	html_raw(&k->h, "\"><table><thead><tr><th scope=\"col\">Key set</th>"
	    "<th scope=\"col\">Kind</th><th scope=\"col\">Label</th>"
	    "<th scope=\"col\">Created</th><th scope=\"col\">Releases</th>"
	    "<th scope=\"col\">State</th><th scope=\"col\">Key id</th>"
	    "<th scope=\"col\"><span class=\"skip\">Action</span></th>"
	    "</tr></thead><tbody>");
}

static void
page_keys(struct con *k, const char *notice)
{
	const json_t **v = NULL;
	const char *dev, *repo;
	char label[256];
	json_t *o, *keys;
	size_t i, n;
	bool live;
	int st;

	if ((st = api_call(k, "GET", "/v1/keys", NULL, NULL, &o)) != 200) {
		json_decref(o);
		page_api_error(k, st);
		return;
	}
	keys = json_object_get(o, "keys");
	n = json_array_size(keys);
	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL) {
		json_decref(o);
		page_error(k, 500, "Not done", "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(keys, i);
	if (n > 0)
		qsort(v, n, sizeof(*v), key_cmp);
	page_start(k, "Keys", "keys");
	if (notice != NULL)
		note(k, "ok", notice);
	html_raw(&k->h, "<p>The keys this server holds for you, by device and "
	    "repository. A destroyed key is gone for ever: the backups it "
	    "opens can no longer be restored from a card copy, by anyone."
	    "</p>");
	if (n == 0)
		html_raw(&k->h, "<p class=\"muted\">No keys yet.</p>");
	for (i = 0; i < n; i++) {
		dev = jstr(v[i], "device");
		repo = jstr(v[i], "repo_id");
		if (i > 0 && (strcmp(dev, jstr(v[i - 1], "device")) != 0 ||
		    strcmp(repo, jstr(v[i - 1], "repo_id")) != 0))
			html_raw(&k->h, "</tbody></table></div>");
		if (i == 0 || strcmp(dev, jstr(v[i - 1], "device")) != 0) {
			size_t j;

			live = false;
			for (j = i; j < n && strcmp(dev,
			    jstr(v[j], "device")) == 0; j++)
				live |= jint(v[j], "destroyed") == 0;
			html_raw(&k->h, "<h2>Device ");
			html_esc(&k->h, dev[0] != '\0' ? dev : "(unknown)");
			html_raw(&k->h, "</h2>");
			if (live && dev[0] != '\0') {
				html_raw(&k->h, "<form method=\"post\" "
				    "action=\"/account/keys/destroy\">");
				csrf_field(k);
				hidden(k, "device", dev);
				html_raw(&k->h, "<button type=\"submit\" "
				    "class=\"danger small\">Destroy every key "
				    "of this device</button></form>");
			}
		}
		if (i == 0 || strcmp(dev, jstr(v[i - 1], "device")) != 0 ||
		    strcmp(repo, jstr(v[i - 1], "repo_id")) != 0) {
			html_raw(&k->h, "<h3>Repository <code>");
			html_esc(&k->h, repo[0] != '\0' ? repo :
			    "not yet known");
			html_raw(&k->h, "</code></h3>");
			snprintf(label, sizeof(label), "Keys of %s, "
			    "repository %s", dev, repo);
			table_head(k, label);
		}
		key_row(k, v[i]);
	}
	if (n > 0)
		html_raw(&k->h, "</tbody></table></div>");
	free(v);
	json_decref(o);
	page_end(k, 200);
}

/* The confirmation page of a destroy: what becomes unreadable. */
static void
page_destroy_confirm(struct con *k, const char *key, const char *dev)
{
	json_t *o = NULL, *e, *ids = NULL;
	size_t i, n = 0;
	int st;

	if (key[0] != '\0') {
		st = api_call(k, "GET", "/v1/keys", NULL, NULL, &o);
		if (st != 200) {
			json_decref(o);
			page_api_error(k, st);
			return;
		}
		json_array_foreach(json_object_get(o, "keys"), i, e)
			if (strcmp(jstr(e, "key_id"), key) == 0 &&
			    jint(e, "destroyed") == 0)
				n = 1;
	} else {
		st = api_call(k, "POST", "/v1/keys/destroy", json_pack(
		    "{s:s, s:b}", "device", dev, "dry_run", 1), NULL, &o);
		if (st != 200) {
			json_decref(o);
			page_api_error(k, st);
			return;
		}
		ids = json_object_get(o, "destroyed");
		n = json_array_size(ids);
	}
	page_start(k, "Destroy for ever?", "keys");
	html_raw(&k->h, "<div class=\"card\">");
	if (n == 0) {
		note(k, "err", "There is no live key to destroy here.");
		html_raw(&k->h, "<p><a href=\"/account/keys\">Back to the keys"
		    "</a></p></div>");
		json_decref(o);
		page_end(k, 404);
		return;
	}
	html_raw(&k->h, "<p class=\"warn\"><strong>This cannot be undone."
	    "</strong> ");
	if (key[0] != '\0') {
		html_raw(&k->h, "The server forgets the key <code>");
		html_esc(&k->h, key);
		html_raw(&k->h, "</code>. ");
	} else {
		html_fmt(&k->h, "The server forgets all %zu live key%s of the "
		    "device <strong>", n, n == 1 ? "" : "s");
		html_esc(&k->h, dev);
		html_raw(&k->h, "</strong>. ");
	}
	html_raw(&k->h, "Every backup made with them becomes unreadable for "
	    "ever: no card copy of it can be restored again, not by a thief, "
	    "not by you.</p>");
	if (ids != NULL) {
		html_raw(&k->h, "<ul>");
		json_array_foreach(ids, i, e) {
			html_raw(&k->h, "<li><code>");
			html_esc(&k->h, json_string_value(e));
			html_raw(&k->h, "</code></li>");
		}
		html_raw(&k->h, "</ul>");
	}
	json_decref(o);
	html_raw(&k->h, "<form method=\"post\" action=\"/account/keys/"
	    "destroy\">");
	csrf_field(k);
	if (key[0] != '\0')
		hidden(k, "key", key);
	else
		hidden(k, "device", dev);
	hidden(k, "confirm", "yes");
	proof_fields(k, false);
	html_raw(&k->h, "<div class=\"actions\"><button type=\"submit\" "
	    "class=\"danger\">Destroy for ever</button>"
	    "<a href=\"/account/keys\">Cancel</a></div></form></div>");
	page_end(k, 200);
}

static void
do_destroy(struct con *k)
{
	const char *key = field(k, "key"), *dev = field(k, "device");
	char path[STORE_KEYID_LEN + 16], s[96];
	json_t *o = NULL;
	int st;

	if ((key[0] != '\0') == (dev[0] != '\0')) {
		page_error(k, 400, "Not done", "name one key or one device");
		return;
	}
	if (key[0] != '\0' && (strlen(key) != STORE_KEYID_LEN ||
	    strspn(key, "0123456789abcdef") != STORE_KEYID_LEN)) {
		page_error(k, 400, "Not done", "that is not a key id");
		return;
	}
	if (strcmp(field(k, "confirm"), "yes") != 0) {
		page_destroy_confirm(k, key, dev);
		return;
	}
	if (give_fresh(k) != 0)
		return;
	if (key[0] != '\0') {
		snprintf(path, sizeof(path), "/v1/keys/%s", key);
		st = api_call(k, "DELETE", path, NULL, NULL, &o);
		snprintf(s, sizeof(s), "Destroyed the key %s.", key);
	} else {
		st = api_call(k, "POST", "/v1/keys/destroy", json_pack(
		    "{s:s}", "device", dev), NULL, &o);
		snprintf(s, sizeof(s), "Destroyed %zu key%s of the device.",
		    json_array_size(json_object_get(o, "destroyed")),
		    json_array_size(json_object_get(o, "destroyed")) == 1 ?
		    "" : "s");
	}
	json_decref(o);
	if (st == 204 || st == 200)
		page_keys(k, s);
	else if (st == 403 && strcmp(k->code, "fresh_auth_required") == 0)
		page_reauth(k, NULL);
	else
		page_api_error(k, st);
}

/* ---- activity --------------------------------------------------------- */

static void
page_activity(struct con *k)
{
	char limit[16];
	uint64_t pg = 0;
	json_t *o, *ev, *e;
	size_t i, n, from;
	int st;

	if (k->q->page != NULL && (parse_u64(k->q->page, &pg) != 0 ||
	    (pg + 1) * PAGE_EVENTS > AUDIT_MAX)) {
		page_error(k, 400, "Not found", "no such page of activity");
		return;
	}
	/* One more than the page: is there a next one? */
	snprintf(limit, sizeof(limit), "%llu", (unsigned long long)
	    ((pg + 1) * PAGE_EVENTS + ((pg + 1) * PAGE_EVENTS < AUDIT_MAX)));
	if ((st = api_call(k, "GET", "/v1/audit", NULL, limit, &o)) != 200) {
		json_decref(o);
		page_api_error(k, st);
		return;
	}
	ev = json_object_get(o, "events");
	n = json_array_size(ev);
	from = (size_t)pg * PAGE_EVENTS;
	page_start(k, "Activity", "activity");
	html_raw(&k->h, "<p>What was done with this account, newest first."
	    "</p><div class=\"scroll\" tabindex=\"0\" role=\"region\" "
	    "aria-label=\"Activity\"><table><thead><tr><th scope=\"col\">"
	    "Time</th><th scope=\"col\">Event</th><th scope=\"col\">Result"
	    "</th><th scope=\"col\">Device</th><th scope=\"col\">Address</th>"
	    "<th scope=\"col\">Key</th></tr></thead><tbody>");
	for (i = from; i < n && i < from + PAGE_EVENTS; i++) {
		e = json_array_get(ev, i);
		html_raw(&k->h, "<tr><td class=\"t\">");
		esc_time(k, jint(e, "time"));
		html_raw(&k->h, "</td><td>");
		html_esc(&k->h, jstr(e, "event"));
		html_raw(&k->h, json_is_true(json_object_get(e, "ok")) ?
		    "</td><td>done" : "</td><td><span class=\"tag gone\">"
		    "refused</span>");
		html_raw(&k->h, "</td><td>");
		html_esc(&k->h, jstr(e, "device"));
		html_raw(&k->h, "</td><td class=\"mono\">");
		html_esc(&k->h, jstr(e, "address"));
		html_raw(&k->h, "</td><td class=\"mono\">");
		html_esc(&k->h, jstr(e, "key_id"));
		html_raw(&k->h, "</td></tr>");
	}
	if (from >= n)
		html_raw(&k->h, "<tr><td colspan=\"6\" class=\"muted\">"
		    "Nothing here.</td></tr>");
	html_raw(&k->h, "</tbody></table></div><nav class=\"pager\" "
	    "aria-label=\"Pages\">");
	if (pg > 0)
		html_fmt(&k->h, "<a href=\"/account/activity?page=%llu\" "
		    "rel=\"prev\">Newer</a>", (unsigned long long)pg - 1);
	if (n > from + PAGE_EVENTS)
		html_fmt(&k->h, "<a href=\"/account/activity?page=%llu\" "
		    "rel=\"next\">Older</a>", (unsigned long long)pg + 1);
	html_raw(&k->h, "</nav>");
	json_decref(o);
	page_end(k, 200);
}

/* ---- security --------------------------------------------------------- */

static void
page_security(struct con *k, int status, const char *error,
    const char *notice)
{
	page_start(k, "Security", "security");
	if (error != NULL)
		note(k, "err", error);
	if (notice != NULL)
		note(k, "ok", notice);
	html_raw(&k->h, "<section class=\"card\" aria-labelledby=\"s-pw\">"
	    "<h2 id=\"s-pw\">Change password</h2><p>Every other device is "
	    "signed out; sign in there again with the new password.</p>"
	    "<form method=\"post\" action=\"/account/password\">");
	csrf_field(k);
	if (!is_fresh(k))
		input(k, "password", "password", "Current password", NULL,
		    "current-password", true);
	if (!is_fresh(k) && has_totp(k))
		input(k, "code", "text", "One-time code", NULL,
		    "one-time-code", true);
	input(k, "new_password", "password", "New password",
	    "(8 characters or more)", "new-password", true);
	input(k, "new_password2", "password", "New password again", NULL,
	    "new-password", true);
	html_raw(&k->h, "<div class=\"actions\"><button type=\"submit\">"
	    "Change password</button></div></form></section>"
	    "<section class=\"card\" aria-labelledby=\"s-2fa\">"
	    "<h2 id=\"s-2fa\">Two-factor authentication</h2>");
	if (has_totp(k)) {
		html_raw(&k->h, "<p><span class=\"tag\">on</span> Signing in "
		    "needs a one-time code from your authenticator app.</p>"
		    "<form method=\"post\" action=\"/account/totp/off\">");
		csrf_field(k);
		proof_fields(k, true);
		html_raw(&k->h, "<div class=\"actions\"><button "
		    "type=\"submit\" class=\"danger\">Turn off</button></div>"
		    "</form>");
	} else {
		html_raw(&k->h, "<p><span class=\"tag gone\">off</span> A "
		    "one-time code from an authenticator app makes a stolen "
		    "password useless alone.</p><form method=\"post\" "
		    "action=\"/account/totp/new\">");
		csrf_field(k);
		proof_fields(k, false);
		html_raw(&k->h, "<div class=\"actions\"><button "
		    "type=\"submit\">Turn on</button></div></form>");
	}
	html_raw(&k->h, "</section>");
	page_end(k, status);
}

static void
do_password(struct con *k)
{
	const char *np = field(k, "new_password");
	int st;

	if (strcmp(np, field(k, "new_password2")) != 0) {
		page_security(k, 400, "The two new passwords differ.", NULL);
		return;
	}
	if (strlen(np) < 8) {
		page_security(k, 400, "The new password needs 8 characters "
		    "or more.", NULL);
		return;
	}
	if (give_fresh(k) != 0)
		return;
	st = api_do(k, "POST", "/v1/account/password", json_pack("{s:s}",
	    "new_password", np));
	if (st == 204)
		page_security(k, 200, NULL, "Password changed; every other "
		    "device was signed out.");
	else if (st == 403 && strcmp(k->code, "fresh_auth_required") == 0)
		page_reauth(k, NULL);
	else if (st == 400)
		page_security(k, 400, k->msg, NULL);
	else
		page_api_error(k, st);
}

/* The QR code of ${text} as inline SVG (libqrencode). */
static int
qr_svg(struct con *k, const char *text)
{
	QRcode *qr;
	int x, y, w;

	if ((qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8,
	    1)) == NULL)
		return -1;
	w = qr->width;
	html_fmt(&k->h, "<div class=\"qr\"><svg xmlns=\"http://www.w3.org/"
	    "2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"QR "
	    "code of the secret\" shape-rendering=\"crispEdges\"><rect "
	    "width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" "
	    "d=\"", w + 8, w + 8, w + 8, w + 8);
	for (y = 0; y < w; y++)
		for (x = 0; x < w; x++)
			if (qr->data[y * w + x] & 1)
				html_fmt(&k->h, "M%d %dh1v1h-1z", x + 4,
				    y + 4);
	html_raw(&k->h, "\"/></svg></div>");
	srv_wipe(qr->data, (size_t)w * (size_t)w);
	QRcode_free(qr);
	return 0;
}

static void
do_totp_new(struct con *k)
{
	json_t *o;
	int st;

	if (give_fresh(k) != 0)
		return;
	st = api_call(k, "POST", "/v1/account/totp", NULL, NULL, &o);
	if (st == 403 && strcmp(k->code, "fresh_auth_required") == 0) {
		json_decref(o);
		page_reauth(k, NULL);
		return;
	}
	if (st == 409) {
		json_decref(o);
		page_security(k, 409, "Two-factor authentication is already "
		    "on.", NULL);
		return;
	}
	if (st != 200) {
		json_decref(o);
		page_api_error(k, st);
		return;
	}
	page_start(k, "Turn on two-factor authentication", "security");
	html_raw(&k->h, "<div class=\"card\"><p>Scan this code with your "
	    "authenticator app, or type the secret in. Then give the first "
	    "code it shows.</p>");
	if (qr_svg(k, jstr(o, "uri")) != 0)
		note(k, "err", "The QR code could not be drawn; type the "
		    "secret in.");
	html_raw(&k->h, "<p>Secret: <code>");
	html_esc(&k->h, jstr(o, "secret"));
	html_raw(&k->h, "</code></p><form method=\"post\" "
	    "action=\"/account/totp/confirm\">");
	json_decref(o);
	csrf_field(k);
	input(k, "code", "text", "First code", "(6 digits)",
	    "one-time-code", true);
	html_raw(&k->h, "<div class=\"actions\"><button type=\"submit\">"
	    "Confirm</button><a href=\"/account/security\">Cancel</a></div>"
	    "</form></div>");
	page_end(k, 200);
}

static void
do_totp_confirm(struct con *k)
{
	json_t *o, *e;
	size_t i;
	int st;

	st = api_call(k, "POST", "/v1/account/totp/confirm",
	    json_pack("{s:s}", "code", field(k, "code")), NULL, &o);
	if (st == 401 || st == 404 || st == 400) {
		json_decref(o);
		page_security(k, st, st == 401 ? "Wrong code: two-factor "
		    "authentication stays off. Start again." : k->msg, NULL);
		return;
	}
	if (st == 403 && strcmp(k->code, "fresh_auth_required") == 0) {
		json_decref(o);
		page_security(k, 403, "More than 10 minutes went by: start "
		    "again.", NULL);
		return;
	}
	if (st != 200) {
		json_decref(o);
		page_api_error(k, st);
		return;
	}
	json_object_set_new(k->sess, "totp", json_true());
	page_start(k, "Recovery codes", "security");
	html_raw(&k->h, "<div class=\"card\">");
	note(k, "ok", "Two-factor authentication is on.");
	html_raw(&k->h, "<p><strong>Write these codes down now; they are "
	    "shown only this once.</strong> Each one signs in once in place of "
	    "a one-time code, when the authenticator is lost.</p>"
	    "<ol class=\"codes\">");
	json_array_foreach(json_object_get(o, "recovery_codes"), i, e) {
		html_raw(&k->h, "<li>");
		html_esc(&k->h, json_string_value(e));
		html_raw(&k->h, "</li>");
	}
	json_decref(o);
	html_raw(&k->h, "</ol><p><a href=\"/account/security\">Done</a></p>"
	    "</div>");
	page_end(k, 200);
}

static void
do_totp_off(struct con *k)
{
	int st;

	if (give_fresh(k) != 0)
		return;
	st = api_do(k, "DELETE", "/v1/account/totp", NULL);
	if (st == 204) {
		json_object_set_new(k->sess, "totp", json_false());
		page_security(k, 200, NULL, "Two-factor authentication is "
		    "off.");
	} else if (st == 403) {
		page_reauth(k, "Turning it off needs the password and a "
		    "one-time code.");
	} else {
		page_api_error(k, st);
	}
}

/* ---- dispatch --------------------------------------------------------- */

/* The cookie's token, when it is one, and its CSRF token. */
static void
read_cookie(struct con *k)
{
	static const char dom[] = "coffer console csrf";
	uint8_t raw[SRV_TOKEN_LEN], buf[sizeof(dom) + SRV_TOKEN_LEN];
	uint8_t h[SRV_HASH_LEN];
	const char *c = k->q->cookie;

	if (c == NULL || strlen(c) != TOKEN_HEX ||
	    strspn(c, "0123456789abcdef") != TOKEN_HEX ||
	    hex_decode(raw, c, sizeof(raw)) != 0)
		return;
	memcpy(k->token, c, TOKEN_HEX + 1);
	/* Tied to the session: only its holder (the cookie) can make it. */
	memcpy(buf, dom, sizeof(dom));
	memcpy(buf + sizeof(dom), raw, sizeof(raw));
	srv_hash(h, buf, sizeof(buf));
	hex_encode(k->csrf, h, CSRF_HEX / 2);
	srv_wipe(raw, sizeof(raw));
	srv_wipe(buf, sizeof(buf));
	srv_wipe(h, sizeof(h));
}

/* Is there a live session?  Fills in ${k->sess}. */
static bool
signed_in(struct con *k)
{
	int st;

	if (k->token[0] == '\0')
		return false;
	st = api_call(k, "GET", "/v1/sessions/current", NULL, NULL, &k->sess);
	if (st == 200 && json_is_object(k->sess))
		return true;
	json_decref(k->sess);
	k->sess = NULL;
	return false;
}

static bool
csrf_ok(const struct con *k)
{
	const char *t = field(k, "csrf");

	return k->csrf[0] != '\0' && strlen(t) == CSRF_HEX &&
	    srv_ct_equal(t, k->csrf, CSRF_HEX);
}

struct page {
	const char	*path;
	bool		 post;
	void		(*fn)(struct con *);
};

static void
get_devices(struct con *k)
{
	page_devices(k, NULL);
}

static void
get_keys(struct con *k)
{
	page_keys(k, NULL);
}

static void
get_security(struct con *k)
{
	page_security(k, 200, NULL, NULL);
}

static const struct page pages[] = {
	{ "/account/devices",		false,	get_devices },
	{ "/account/keys",		false,	get_keys },
	{ "/account/activity",		false,	page_activity },
	{ "/account/security",		false,	get_security },
	{ "/account/signout",		true,	do_signout },
	{ "/account/devices/signout",	true,	do_device_signout },
	{ "/account/keys/destroy",	true,	do_destroy },
	{ "/account/password",		true,	do_password },
	{ "/account/totp/new",		true,	do_totp_new },
	{ "/account/totp/confirm",	true,	do_totp_confirm },
	{ "/account/totp/off",		true,	do_totp_off },
};

void
console_handle(struct api *a, const struct api_req *q, struct api_resp *p)
{
	const struct page *pg = NULL;
	const char *path = q->path;
	struct con k;
	bool post, get;
	size_t i;

	memset(&k, 0, sizeof(k));
	k.a = a;
	k.q = q;
	k.p = p;
	post = q->method != NULL && strcmp(q->method, "POST") == 0;
	get = q->method != NULL && (strcmp(q->method, "GET") == 0 ||
	    strcmp(q->method, "HEAD") == 0);
	read_cookie(&k);

	if (strcmp(path, "/account") == 0 && get) {
		redirect(&k, "/account/");
		goto out;
	}
	if (strcmp(path, "/account/style.css") == 0 && get) {
		if ((p->body = srv_wmalloc(sizeof(css))) == NULL) {
			p->status = 500;
			goto out;
		}
		memcpy(p->body, css, sizeof(css));
		p->len = sizeof(css) - 1;
		p->ctype = "text/css; charset=utf-8";
		p->status = 200;
		goto out;
	}
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		if (strcmp(path, pages[i].path) == 0)
			pg = &pages[i];
	if (pg == NULL && strcmp(path, "/account/") != 0 &&
	    strcmp(path, "/account/signin") != 0) {
		page_error(&k, 404, "Not found", "There is no such page.");
		goto out;
	}
	if ((pg != NULL && pg->post != post) || (pg != NULL && !post &&
	    !get) || (pg == NULL && strcmp(path, "/account/") == 0 && !get) ||
	    (pg == NULL && strcmp(path, "/account/signin") == 0 && !post)) {
		snprintf(p->allow, sizeof(p->allow), "%s",
		    (pg != NULL && pg->post) || strcmp(path,
		    "/account/signin") == 0 ? "POST" : "GET");
		page_error(&k, 405, "Not allowed", "That page does not take "
		    "this kind of request.");
		goto out;
	}
	if (post) {
		if (q->too_large) {
			page_error(&k, 413, "Not done", "The form is too "
			    "large.");
			goto out;
		}
		/* A browser tells where a form comes from (Fetch Metadata). */
		if (q->fetch_site != NULL &&
		    strcmp(q->fetch_site, "same-origin") != 0 &&
		    strcmp(q->fetch_site, "none") != 0) {
			page_error(&k, 403, "Refused", "This form was sent "
			    "from another site.");
			goto out;
		}
		if (parse_form(&k) != 0) {
			page_error(&k, 400, "Not done", "The form could not "
			    "be read.");
			goto out;
		}
	}
	if (pg == NULL && post) {
		do_signin(&k);
		goto out;
	}
	if (!signed_in(&k)) {
		if (pg == NULL) {
			page_signin(&k, 200, NULL, false);
		} else {
			clear_cookie(&k);
			redirect(&k, "/account/");
		}
		goto out;
	}
	if (pg == NULL) {
		redirect(&k, "/account/devices");
		goto out;
	}
	if (post && !csrf_ok(&k)) {
		page_error(&k, 403, "Refused", "This form is out of date or "
		    "was not sent by this account's pages (no or a wrong CSRF "
		    "token). Open the page again and retry.");
		goto out;
	}
	pg->fn(&k);
out:
	html_release(&k.h);
	json_decref(k.sess);
	json_decref(k.form);
	srv_wipe(&k, sizeof(k));
}
