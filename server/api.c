/* SPDX-License-Identifier: ISC */
/*
 * api: routes and handlers of docs/PROTOCOL.md (api.h).
 *
 * Order of checks for every request: the route (404, 405), the body size
 * (413), the session (401), the content type (415), the JSON (400), and
 * then the handler.  Keys are looked up only by (account, key id), so a
 * key of another account takes exactly the path of a key that does not
 * exist.  Release and unwrap write their audit row before the key is put
 * into the answer, and answer 503 without it if that fails.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "api.h"
#include "keyholder.h"
#include "metrics.h"
#include "srv_log.h"
#include "store.h"
#include "util/util.h"

#define ACCOUNT_MAX		STORE_ACCOUNT_MAX
#define PASSWORD_MIN		8
#define PASSWORD_MAX		1024
#define KEY_MIN			16
#define KEY_MAX			64
#define LABEL_MAX		STORE_LABEL_MAX
#define SEALED_MAX		KH_SEALED_MAX
#define WRAP_DK_LEN		32
#define WRAP_VERSION		1
#define LOGIN_WINDOW		(15 * 60)
#define LOGIN_MAX_FAILURES	10
#define LOGIN_CHECK_MAX		15	/* s: older reservations are failures */
#define LOGIN_WAIT_MAX		20	/* s: then "busy" (503) */
#define AUDIT_DEFAULT		100
#define AUDIT_MAX		1000
#define METRICS_MAX		8192

/* Route flags. */
#define R_AUTH		0x01	/* needs a session */
#define R_JSON		0x02	/* needs a JSON object body */
#define R_OPT		0x04	/* an empty body is an empty object */

struct ctx {
	struct api		*a;
	const struct api_req	*q;
	struct api_resp		*p;
	json_t			*body;	/* parsed object or NULL */
	char	 id[STORE_KEYID_LEN + 1];	/* from the path */
	bool	 id_ok;			/* ${id} is a key id */
	char	 account[ACCOUNT_MAX + 1];	/* the session's */
	uint8_t	 token_hash[STORE_TOKEN_HASH_LEN];
	int64_t	 now;
};

typedef void handler_fn(struct ctx *c);

struct route {
	const char	*method;
	const char	*path;		/* '*': a key id segment */
	unsigned int	 flags;
	handler_fn	*fn;
};

static handler_fn h_register, h_login, h_logout, h_session, h_deposit,
    h_list, h_destroy, h_release, h_wrapkey, h_unwrap, h_audit, h_health,
    h_metrics;

static const struct route routes[] = {
	{ "POST",   "/v1/accounts",          R_JSON,          h_register },
	{ "POST",   "/v1/sessions",          R_JSON,          h_login },
	{ "DELETE", "/v1/sessions",          R_AUTH,          h_logout },
	{ "GET",    "/v1/sessions/current",  R_AUTH,          h_session },
	{ "GET",    "/v1/keys",              R_AUTH,          h_list },
	{ "POST",   "/v1/keys",              R_AUTH | R_JSON, h_deposit },
	{ "DELETE", "/v1/keys/*",            R_AUTH,          h_destroy },
	{ "POST",   "/v1/keys/*/release",    R_AUTH | R_OPT,  h_release },
	{ "POST",   "/v1/wrapkeys",          R_AUTH | R_OPT,  h_wrapkey },
	{ "POST",   "/v1/wrapkeys/*/unwrap", R_AUTH | R_JSON, h_unwrap },
	{ "GET",    "/v1/audit",             R_AUTH,          h_audit },
	{ "GET",    "/healthz",              0,               h_health },
	{ "GET",    "/metrics",              0,               h_metrics },
};
#define N_ROUTES	(sizeof(routes) / sizeof(routes[0]))

/* ---- answers ---------------------------------------------------------- */

/* Drop the body; the Allow and Retry-After headers stay. */
static void
resp_clear(struct api_resp *p)
{
	srv_wfree(p->body);
	p->body = NULL;
	p->len = 0;
	p->ctype = NULL;
	p->status = 0;
}

/* Answer ${status} with ${obj} (consumed). */
static void
resp_json(struct api_resp *p, int status, json_t *obj)
{
	char *s;

	resp_clear(p);
	if (obj == NULL ||
	    (s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL) {
		json_decref(obj);
		p->status = 500;
		p->ctype = "application/json";
		if ((p->body = srv_wmalloc(64)) != NULL) {
			p->len = (size_t)snprintf(p->body, 64, "{\"error\":"
			    "\"internal\",\"message\":\"out of memory\"}");
		}
		return;
	}
	json_decref(obj);
	p->status = status;
	p->body = s;
	p->len = strlen(s);
	p->ctype = "application/json";
}

static void resp_error(struct api_resp *p, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
resp_error(struct api_resp *p, int status, const char *code,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	resp_json(p, status, json_pack("{s:s, s:s}", "error", code,
	    "message", msg));
}

static void
resp_empty(struct api_resp *p, int status)
{
	resp_clear(p);
	p->status = status;
}

/* The database failed: 503, with the reason in the log only. */
static void
resp_store(struct ctx *c, const char *what, const char *err)
{
	log_error("database: %s: %s", what, err);
	resp_error(c->p, 503, "unavailable", "the database is unavailable");
}

static void
resp_kh(struct ctx *c, int rc)
{
	if (rc == KH_EUNAVAIL) {
		log_error("the key holder is not answering");
		resp_error(c->p, 503, "unavailable",
		    "the key holder is unavailable");
	} else {
		log_error("key holder call failed (%d)", rc);
		resp_error(c->p, 500, "internal", "internal error");
	}
}

/* The one answer for a key id that is not this account's live key. */
static void
resp_no_key(struct ctx *c)
{
	resp_error(c->p, 404, "not_found", "no such key");
}

static void
resp_bad_field(struct ctx *c, const char *field, const char *want)
{
	resp_error(c->p, 400, "bad_request", "field '%s' %s", field, want);
}

/* ---- audit ------------------------------------------------------------ */

/* Write an audit row; 0 or -1 (logged). */
static int
audit(struct ctx *c, const char *account, const char *event,
    const char *key_id, bool ok)
{
	struct store_event ev;
	char err[STORE_ERRLEN] = "";

	memset(&ev, 0, sizeof(ev));
	ev.time = c->now;
	snprintf(ev.account, sizeof(ev.account), "%s",
	    account != NULL ? account : "");
	snprintf(ev.address, sizeof(ev.address), "%s", c->q->address);
	snprintf(ev.event, sizeof(ev.event), "%s", event);
	snprintf(ev.key_id, sizeof(ev.key_id), "%s",
	    key_id != NULL ? key_id : "");
	ev.ok = ok;
	if (store_audit_add(c->a->st, &ev, err) != 0) {
		log_error("audit log: cannot record '%s': %s", event, err);
		return -1;
	}
	return 0;
}

/* ---- input checks ----------------------------------------------------- */

/*
 * An account name: 1..128 bytes of printable UTF-8 (jansson has checked
 * the UTF-8), no control characters (C0, DEL, C1), no leading or trailing
 * space.
 */
bool
api_valid_account(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	if (len < 1 || len > ACCOUNT_MAX || u[0] == ' ' || u[len - 1] == ' ')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return false;
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

static bool
valid_keyid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= STORE_KEYID_LEN || !((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == STORE_KEYID_LEN;
}

/*
 * The string field ${name} of the body: *s and *len, or *s = NULL when it
 * is absent and optional.  0, or -1 after answering 400.
 */
static int
get_str(struct ctx *c, const char *name, bool required, const char **s,
    size_t *len)
{
	json_t *v;

	*s = NULL;
	*len = 0;
	v = c->body != NULL ? json_object_get(c->body, name) : NULL;
	if (v == NULL || (json_is_null(v) && !required)) {
		if (!required)
			return 0;
		resp_bad_field(c, name, "is missing");
		return -1;
	}
	if (!json_is_string(v)) {
		resp_bad_field(c, name, "must be a string");
		return -1;
	}
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

/* The optional label: at most 128 bytes, no NUL.  0 or -1 (answered). */
static int
get_label(struct ctx *c, char label[LABEL_MAX + 1])
{
	const char *s;
	size_t len;

	label[0] = '\0';
	if (get_str(c, "label", false, &s, &len) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (len > LABEL_MAX || memchr(s, '\0', len) != NULL) {
		resp_bad_field(c, "label", "must be at most 128 bytes of text");
		return -1;
	}
	memcpy(label, s, len);
	label[len] = '\0';
	return 0;
}

/* The account and password of a register or login body. */
static int
get_credentials(struct ctx *c, size_t pwmin, const char **account,
    const char **pw, size_t *pwlen)
{
	size_t alen;

	if (get_str(c, "account", true, account, &alen) != 0 ||
	    get_str(c, "password", true, pw, pwlen) != 0)
		return -1;
	if (!api_valid_account(*account, alen)) {
		resp_bad_field(c, "account", "must be 1 to 128 bytes of "
		    "printable text without leading or trailing spaces");
		return -1;
	}
	if (*pwlen < pwmin || *pwlen > PASSWORD_MAX) {
		if (pwmin > 1)
			resp_bad_field(c, "password",
			    "must be 8 to 1024 bytes");
		else
			resp_bad_field(c, "password",
			    "must be 1 to 1024 bytes");
		return -1;
	}
	return 0;
}

static void
new_keyid(char id[STORE_KEYID_LEN + 1])
{
	uint8_t raw[STORE_KEYID_LEN / 2];

	srv_random(raw, sizeof(raw));
	hex_encode(id, raw, sizeof(raw));
}

/* ---- accounts and sessions -------------------------------------------- */

static int retry_after(int64_t now, int64_t oldest);

static void
h_register(struct ctx *c)
{
	char hash[SRV_PWHASH_STRLEN];
	char err[STORE_ERRLEN] = "";
	struct store_failures f;
	const char *account, *pw;
	size_t pwlen;
	int64_t id = 0;
	int r, wait;

	if (get_credentials(c, PASSWORD_MIN, &account, &pw, &pwlen) != 0)
		return;
	/*
	 * Every attempt that gets as far as the (slow) hash counts against
	 * its source address, whatever its outcome, as logins do (§4).
	 */
	r = store_register_reserve(c->a->st, account, c->q->address, c->now,
	    c->now - LOGIN_WINDOW, c->now - LOGIN_CHECK_MAX,
	    c->a->register_limit, &id, &f, err);
	if (r == STORE_ELIMIT || r == STORE_EBUSY) {
		wait = 1;
		if (f.n_address + f.p_address >= c->a->register_limit)
			wait = retry_after(c->now, f.old_address);
		if (f.n_account + f.p_account >= c->a->register_limit &&
		    retry_after(c->now, f.old_account) > wait)
			wait = retry_after(c->now, f.old_account);
		metrics_count(M_REGISTER_LIMITED);
		log_warn("registration of '%s' from %s refused: too many "
		    "registrations", account, c->q->address);
		resp_error(c->p, 429, "rate_limited", "too many registrations "
		    "from this address; retry in %d seconds", wait);
		c->p->retry_after = wait;
		return;
	}
	if (r != 0) {
		resp_store(c, "register", err);
		return;
	}
	/* It stays counted, whatever happens next. */
	if (store_failure_confirm(c->a->st, id, err) != 0)
		log_warn("registration %lld: %s (it counts anyway)",
		    (long long)id, err);
	if (srv_pwhash_str(hash, pw, pwlen) != 0) {
		log_error("password hash: out of memory");
		resp_error(c->p, 503, "unavailable", "the server is busy");
		return;
	}
	r = store_account_create(c->a->st, account, hash, c->now, err);
	srv_wipe(hash, sizeof(hash));
	if (r == STORE_EEXIST) {
		resp_error(c->p, 409, "exists", "the account name is taken");
		return;
	}
	if (r != 0) {
		resp_store(c, "register", err);
		return;
	}
	(void)audit(c, account, "register", NULL, true);
	log_info("account '%s' registered from %s", account, c->q->address);
	resp_json(c->p, 201, json_pack("{s:s}", "account", account));
}

/* Seconds until the oldest failure at ${oldest} leaves the window. */
static int
retry_after(int64_t now, int64_t oldest)
{
	int64_t s = oldest + LOGIN_WINDOW - now;

	if (s < 1)
		s = 1;
	if (s > LOGIN_WINDOW)
		s = LOGIN_WINDOW;
	return (int)s;
}

/* Sleep ${ms} milliseconds. */
static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reserve this login attempt (store_failure_reserve) at the current time,
 * waiting while logins in progress might use up the limit: they may all
 * turn out right passwords.  What the store answered: 0 with *id,
 * STORE_ELIMIT with *f, STORE_EBUSY after LOGIN_WAIT_MAX seconds of
 * waiting, or STORE_EFAIL.
 */
static int
login_reserve(struct ctx *c, const char *account, int64_t *id,
    struct store_failures *f, char err[STORE_ERRLEN])
{
	int64_t until = mono_ms() + LOGIN_WAIT_MAX * 1000;
	long delay = 2;
	int r;

	for (;;) {
		c->now = (int64_t)time(NULL);
		r = store_failure_reserve(c->a->st, account, c->q->address,
		    c->now, c->now - LOGIN_WINDOW, c->now - LOGIN_CHECK_MAX,
		    LOGIN_MAX_FAILURES, id, f, err);
		if (r != STORE_EBUSY || mono_ms() >= until)
			return r;
		sleep_ms(delay);
		delay = delay * 2 > 50 ? 50 : delay * 2;
	}
}

static void
h_login(struct ctx *c)
{
	char hash[STORE_PWHASH_MAX + 1];
	char err[STORE_ERRLEN] = "";
	char token[SRV_TOKEN_LEN * 2 + 1];
	uint8_t raw[SRV_TOKEN_LEN], th[SRV_HASH_LEN];
	struct store_failures f;
	int64_t id = 0, expires;
	int r, wait;
	const char *account, *pw;
	bool known, ok;
	size_t pwlen;

	hash[0] = '\0';
	token[0] = '\0';
	if (get_credentials(c, 1, &account, &pw, &pwlen) != 0)
		return;
	r = store_account_pwhash(c->a->st, account, hash, err);
	if (r != 0 && r != STORE_ENOTFOUND) {
		resp_store(c, "login", err);
		goto out;
	}
	known = r == 0;
	/*
	 * Reserve the attempt before the (slow) password check, in one short
	 * transaction that the database serialises against every server on
	 * it: the reservation counts as a failure until the check ends, so
	 * logins running at once, here or in another cofferd, check at most
	 * LOGIN_MAX_FAILURES wrong passwords per account and per address in
	 * the window (§4), while the checks themselves run in parallel.
	 */
	r = login_reserve(c, account, &id, &f, err);
	if (r == STORE_EBUSY) {
		log_warn("login to '%s' from %s refused: too many logins in "
		    "progress", account, c->q->address);
		resp_error(c->p, 503, "unavailable", "the server is busy");
		goto out;
	}
	if (r == STORE_ELIMIT) {
		wait = 0;
		if (f.n_account >= LOGIN_MAX_FAILURES)
			wait = retry_after(c->now, f.old_account);
		if (f.n_address >= LOGIN_MAX_FAILURES &&
		    retry_after(c->now, f.old_address) > wait)
			wait = retry_after(c->now, f.old_address);
		metrics_count(M_LOGIN_LIMITED);
		metrics_count(M_RATE_LIMITED);
		(void)audit(c, known ? account : "", "login_limited", NULL,
		    false);
		log_warn("login to '%s' from %s refused: too many failures",
		    account, c->q->address);
		resp_error(c->p, 429, "rate_limited", "too many failed logins; "
		    "retry in %d seconds", wait);
		c->p->retry_after = wait;
		goto out;
	}
	if (r != 0) {
		resp_store(c, "login", err);
		goto out;
	}
	/* An unknown account costs the same work as a wrong password. */
	ok = srv_pwhash_verify(known ? hash : c->a->dummy_hash, pw,
	    pwlen) == 0 && known;
	if (!ok) {
		/* The reservation is the recorded failure. */
		if (store_failure_confirm(c->a->st, id, err) != 0)
			log_warn("failed login %lld: %s (it counts as one "
			    "anyway)", (long long)id, err);
		metrics_count(M_LOGIN_FAILED);
		(void)audit(c, known ? account : "", "login_failed", NULL,
		    false);
		log_warn("login to %s account '%s' from %s failed",
		    known ? "the" : "unknown", account, c->q->address);
		resp_error(c->p, 401, "bad_credentials",
		    "wrong account name or password");
		goto out;
	}
	/* Not a failure; earlier failures stay as they are. */
	if (store_failure_cancel(c->a->st, id, err) != 0)
		log_warn("login reservation %lld: %s (it counts as a failed "
		    "login)", (long long)id, err);
	srv_random(raw, sizeof(raw));
	srv_hash(th, raw, sizeof(raw));
	expires = c->now + c->a->session_ttl;
	if ((r = store_session_create(c->a->st, th, account, expires,
	    err)) != 0) {
		resp_store(c, "session", err);
		goto out;
	}
	metrics_count(M_LOGIN_OK);
	(void)audit(c, account, "login", NULL, true);
	hex_encode(token, raw, sizeof(raw));
	resp_json(c->p, 201, json_pack("{s:s, s:s, s:I}", "token", token,
	    "account", account, "expires", (json_int_t)expires));
out:
	srv_wipe(raw, sizeof(raw));
	srv_wipe(token, sizeof(token));
	srv_wipe(hash, sizeof(hash));
}

static void
h_logout(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	int r;

	r = store_session_delete(c->a->st, c->token_hash, err);
	if (r != 0 && r != STORE_ENOTFOUND) {
		resp_store(c, "logout", err);
		return;
	}
	(void)audit(c, c->account, "logout", NULL, true);
	resp_empty(c->p, 204);
}

static void
h_session(struct ctx *c)
{
	char account[ACCOUNT_MAX + 1];
	char err[STORE_ERRLEN] = "";
	int64_t expires;

	/* authenticate() has just read it; read again for "expires". */
	if (store_session_get(c->a->st, c->token_hash, account, &expires,
	    err) != 0) {
		resp_error(c->p, 401, "unauthorized", "not logged in");
		return;
	}
	resp_json(c->p, 200, json_pack("{s:s, s:I}", "account", account,
	    "expires", (json_int_t)expires));
}

/* ---- keys ------------------------------------------------------------- */

/*
 * Look up this account's key ${c->id} of ${kind} (0: any).  0 with ${k}
 * filled in when it is live; otherwise -1 after answering 404 (absent,
 * another account's, malformed id, other kind), 410 (destroyed) or 503.
 * ${event}, if not NULL, is audited as refused for 404 and 410.
 */
static int
key_lookup(struct ctx *c, int kind, const char *event, struct store_key *k)
{
	char err[STORE_ERRLEN] = "";
	int r;

	if (!c->id_ok) {
		resp_no_key(c);
		return -1;
	}
	r = store_key_get(c->a->st, c->account, c->id, k, err);
	if (r == STORE_ENOTFOUND || (r == 0 && kind != 0 && k->kind != kind)) {
		if (event != NULL)
			(void)audit(c, c->account, event, c->id, false);
		resp_no_key(c);
		return -1;
	}
	if (r != 0) {
		resp_store(c, "key lookup", err);
		return -1;
	}
	if (k->destroyed != 0) {
		if (event != NULL)
			(void)audit(c, c->account, event, c->id, false);
		resp_error(c->p, 410, "destroyed", "the key was destroyed");
		return -1;
	}
	return 0;
}

static void
h_deposit(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	struct store_key *k = NULL;
	uint8_t key[KEY_MAX];
	const char *s;
	size_t len, keylen = 0;
	int r = STORE_EEXIST, tries;

	if (get_str(c, "key", true, &s, &len) != 0)
		goto out;
	if (srv_b64_decode(key, sizeof(key), s, len, &keylen) != 0 ||
	    keylen < KEY_MIN || keylen > KEY_MAX) {
		resp_bad_field(c, "key", "must be base64 of 16 to 64 bytes");
		goto out;
	}
	if ((k = srv_secret_alloc(sizeof(*k))) == NULL) {
		resp_error(c->p, 500, "internal", "out of memory");
		goto out;
	}
	if (get_label(c, k->label) != 0)
		goto out;
	snprintf(k->account, sizeof(k->account), "%s", c->account);
	k->kind = STORE_KIND_KEY;
	k->created = c->now;
	for (tries = 0; tries < 3 && r == STORE_EEXIST; tries++) {
		new_keyid(k->key_id);
		if ((r = kh_seal(c->a->kh, k->account, k->key_id,
		    STORE_KIND_KEY, key, keylen, k->blob, &k->blob_len)) != 0) {
			resp_kh(c, r);
			goto out;
		}
		r = store_key_put(c->a->st, k, err);
	}
	if (r != 0) {
		resp_store(c, "deposit", err);
		goto out;
	}
	metrics_count(M_DEPOSITED);
	(void)audit(c, c->account, "deposit", k->key_id, true);
	resp_json(c->p, 201, json_pack("{s:s}", "key_id", k->key_id));
out:
	srv_wipe(key, sizeof(key));
	srv_secret_free(k);
}

static void
h_list(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	struct store_key *v = NULL;
	json_t *arr, *o;
	size_t n = 0, i;

	if (store_key_list(c->a->st, c->account, &v, &n, err) != 0) {
		resp_store(c, "key list", err);
		return;
	}
	if ((arr = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:I}",
		    "key_id", v[i].key_id,
		    "kind", v[i].kind == STORE_KIND_WRAP ? "wrap" : "key",
		    "label", v[i].label,
		    "created", (json_int_t)v[i].created,
		    "destroyed", v[i].destroyed != 0 ?
		    json_integer(v[i].destroyed) : json_null(),
		    "releases", (json_int_t)v[i].releases);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			goto oom;
		}
	}
	free(v);
	resp_json(c->p, 200, json_pack("{s:o}", "keys", arr));
	return;
oom:
	free(v);
	resp_error(c->p, 500, "internal", "out of memory");
}

static void
h_destroy(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	struct store_key k;
	int r;

	if (key_lookup(c, 0, NULL, &k) != 0)
		goto out;
	r = store_key_destroy(c->a->st, c->account, c->id, c->now, err);
	if (r == STORE_ENOTFOUND) {
		resp_no_key(c);
		goto out;
	}
	if (r != 0) {
		resp_store(c, "destroy", err);
		goto out;
	}
	metrics_count(M_DESTROYED);
	(void)audit(c, c->account, "destroy", c->id, true);
	resp_empty(c->p, 204);
out:
	srv_wipe(&k, sizeof(k));
}

static void
h_release(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char b64[((KH_PLAIN_MAX + 2) / 3) * 4 + 1];
	uint8_t pt[KH_PLAIN_MAX];
	struct store_key k;
	size_t ptlen = 0;
	int r;

	if (key_lookup(c, STORE_KIND_KEY, "release", &k) != 0)
		goto out;
	if ((r = kh_open(c->a->kh, c->account, c->id, STORE_KIND_KEY, k.blob,
	    k.blob_len, pt, &ptlen)) != 0) {
		if (r == KH_EAUTH)
			log_error("key %s does not decrypt: wrong master key "
			    "or a damaged database", c->id);
		resp_kh(c, r == KH_EAUTH ? KH_EINVAL : r);
		goto out;
	}
	/* Fail closed: no audit row, no key. */
	if (audit(c, c->account, "release", c->id, true) != 0) {
		resp_error(c->p, 503, "unavailable",
		    "the audit log cannot be written");
		goto out;
	}
	if (store_key_released(c->a->st, c->account, c->id, err) != 0)
		log_warn("release count of %s: %s", c->id, err);
	metrics_count(M_RELEASED);
	(void)srv_b64_encode(b64, sizeof(b64), pt, ptlen);
	resp_json(c->p, 200, json_pack("{s:s, s:s}", "key_id", c->id,
	    "key", b64));
out:
	srv_wipe(pt, sizeof(pt));
	srv_wipe(b64, sizeof(b64));
	srv_wipe(&k, sizeof(k));
}

/* ---- wrap keys -------------------------------------------------------- */

static void
h_wrapkey(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char b64[((KH_PUB_LEN + 2) / 3) * 4 + 1];
	struct store_key k;
	int r = STORE_EEXIST, tries;

	memset(&k, 0, sizeof(k));
	if (get_label(c, k.label) != 0)
		return;
	snprintf(k.account, sizeof(k.account), "%s", c->account);
	k.kind = STORE_KIND_WRAP;
	k.created = c->now;
	for (tries = 0; tries < 3 && r == STORE_EEXIST; tries++) {
		new_keyid(k.key_id);
		if ((r = kh_wrapgen(c->a->kh, k.account, k.key_id, k.pub,
		    k.blob, &k.blob_len)) != 0) {
			resp_kh(c, r);
			return;
		}
		r = store_key_put(c->a->st, &k, err);
	}
	if (r != 0) {
		resp_store(c, "wrap key", err);
		return;
	}
	(void)audit(c, c->account, "wrapkey", k.key_id, true);
	(void)srv_b64_encode(b64, sizeof(b64), k.pub, sizeof(k.pub));
	resp_json(c->p, 201, json_pack("{s:s, s:s}", "key_id", k.key_id,
	    "public_key", b64));
}

static void
h_unwrap(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char b64[((WRAP_DK_LEN + 2) / 3) * 4 + 1];
	uint8_t sealed[SEALED_MAX];
	uint8_t pt[KH_UNWRAP_MAX];
	struct store_key k;
	size_t len, sealedlen = 0, ptlen = 0;
	const char *s;
	int r;

	memset(&k, 0, sizeof(k));
	if (get_str(c, "sealed", true, &s, &len) != 0)
		goto out;
	if (srv_b64_decode(sealed, sizeof(sealed), s, len, &sealedlen) != 0 ||
	    sealedlen < 1) {
		resp_bad_field(c, "sealed",
		    "must be base64 of 1 to 1024 bytes");
		goto out;
	}
	if (key_lookup(c, STORE_KIND_WRAP, "unwrap", &k) != 0)
		goto out;
	r = kh_unwrap(c->a->kh, c->account, c->id, k.blob, k.blob_len,
	    sealed, sealedlen, pt, &ptlen);
	if (r == KH_OK && !(ptlen == 2 + STORE_KEYID_LEN + WRAP_DK_LEN &&
	    pt[0] == WRAP_VERSION && pt[1] == STORE_KEYID_LEN &&
	    memcmp(pt + 2, c->id, STORE_KEYID_LEN) == 0))
		r = KH_EAUTH;
	if (r == KH_EAUTH) {
		(void)audit(c, c->account, "unwrap", c->id, false);
		resp_error(c->p, 422, "bad_sealed", "the sealed key does not "
		    "open with this wrap key or names another key");
		goto out;
	}
	if (r != 0) {
		resp_kh(c, r);
		goto out;
	}
	if (audit(c, c->account, "unwrap", c->id, true) != 0) {
		resp_error(c->p, 503, "unavailable",
		    "the audit log cannot be written");
		goto out;
	}
	if (store_key_released(c->a->st, c->account, c->id, err) != 0)
		log_warn("unwrap count of %s: %s", c->id, err);
	metrics_count(M_UNWRAPS);
	(void)srv_b64_encode(b64, sizeof(b64), pt + 2 + STORE_KEYID_LEN,
	    WRAP_DK_LEN);
	resp_json(c->p, 200, json_pack("{s:s, s:i, s:s}", "key_id", c->id,
	    "version", WRAP_VERSION, "key", b64));
out:
	srv_wipe(pt, sizeof(pt));
	srv_wipe(b64, sizeof(b64));
	srv_wipe(&k, sizeof(k));
}

/* ---- audit, health, metrics ------------------------------------------- */

static void
h_audit(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	struct store_event *v = NULL;
	uint64_t limit = AUDIT_DEFAULT;
	json_t *arr, *o;
	size_t n = 0, i;

	if (c->q->limit != NULL && (parse_u64(c->q->limit, &limit) != 0 ||
	    limit < 1 || limit > AUDIT_MAX)) {
		resp_error(c->p, 400, "bad_request",
		    "'limit' must be a number from 1 to 1000");
		return;
	}
	if (store_audit_list(c->a->st, c->account, (int)limit, &v, &n,
	    err) != 0) {
		resp_store(c, "audit list", err);
		return;
	}
	if ((arr = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		o = json_pack("{s:I, s:s, s:o, s:s, s:b}",
		    "time", (json_int_t)v[i].time,
		    "event", v[i].event,
		    "key_id", v[i].key_id[0] != '\0' ?
		    json_string(v[i].key_id) : json_null(),
		    "address", v[i].address,
		    "ok", v[i].ok ? 1 : 0);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			goto oom;
		}
	}
	free(v);
	resp_json(c->p, 200, json_pack("{s:o}", "events", arr));
	return;
oom:
	free(v);
	resp_error(c->p, 500, "internal", "out of memory");
}

static void
h_health(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";

	if (store_ping(c->a->st, err) != 0) {
		log_error("health: database: %s", err);
		resp_error(c->p, 503, "unavailable",
		    "the database is unavailable");
		return;
	}
	if (kh_ping(c->a->kh) != KH_OK) {
		resp_error(c->p, 503, "unavailable",
		    "the key holder is unavailable");
		return;
	}
	resp_json(c->p, 200, json_pack("{s:s}", "status", "ok"));
}

static void
h_metrics(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	bool up;
	char *buf;
	size_t n;

	up = store_ping(c->a->st, err) == 0 && kh_ping(c->a->kh) == KH_OK;
	if ((buf = srv_wmalloc(METRICS_MAX)) == NULL) {
		resp_error(c->p, 500, "internal", "out of memory");
		return;
	}
	/* Count this request before the text is made. */
	metrics_request(200);
	if ((n = metrics_text(buf, METRICS_MAX, up)) == 0) {
		srv_wfree(buf);
		resp_error(c->p, 500, "internal", "metrics too long");
		return;
	}
	resp_clear(c->p);
	c->p->status = 200;
	c->p->body = buf;
	c->p->len = n;
	c->p->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- dispatch --------------------------------------------------------- */

/*
 * Does ${path} match ${pat}?  A '*' in ${pat} matches one non-empty path
 * segment, copied (if it fits) into ${id}.
 */
static bool
path_match(const char *pat, const char *path, char id[STORE_KEYID_LEN + 1],
    bool *id_ok)
{
	const char *seg;
	size_t n;

	for (;;) {
		if (*pat == '*') {
			seg = path;
			while (*path != '\0' && *path != '/')
				path++;
			n = (size_t)(path - seg);
			if (n == 0)
				return false;
			if (n <= STORE_KEYID_LEN) {
				memcpy(id, seg, n);
				id[n] = '\0';
				*id_ok = valid_keyid(id);
			} else {
				id[0] = '\0';
				*id_ok = false;
			}
			pat++;
			continue;
		}
		if (*pat != *path)
			return false;
		if (*pat == '\0')
			return true;
		pat++;
		path++;
	}
}

/* Authorization: Bearer <64 hex>.  0, or -1 after answering 401. */
static int
authenticate(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	uint8_t raw[SRV_TOKEN_LEN];
	char hex[SRV_TOKEN_LEN * 2 + 1];
	const char *h = c->q->authorization;
	int64_t expires;
	int r;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		goto bad;
	h += 7;
	while (*h == ' ')
		h++;
	if (strlen(h) != SRV_TOKEN_LEN * 2)
		goto bad;
	memcpy(hex, h, sizeof(hex));
	r = hex_decode(raw, hex, sizeof(raw));
	srv_wipe(hex, sizeof(hex));
	if (r != 0)
		goto bad;
	srv_hash(c->token_hash, raw, sizeof(raw));
	srv_wipe(raw, sizeof(raw));
	r = store_session_get(c->a->st, c->token_hash, c->account, &expires,
	    err);
	if (r == STORE_ENOTFOUND)
		goto bad;
	if (r != 0) {
		resp_store(c, "session", err);
		return -1;
	}
	if (expires <= c->now) {
		(void)store_session_delete(c->a->st, c->token_hash, err);
		goto bad;
	}
	return 0;
bad:
	c->account[0] = '\0';
	resp_error(c->p, 401, "unauthorized", "not logged in, or the session "
	    "has expired or ended");
	return -1;
}

static bool
is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0)
		return false;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Parse the body per ${flags}.  0, or -1 after answering. */
static int
parse_body(struct ctx *c, unsigned int flags)
{
	json_error_t jerr;

	if ((flags & (R_JSON | R_OPT)) == 0)
		return 0;
	if (c->q->body_len == 0) {
		if (flags & R_OPT) {
			if ((c->body = json_object()) == NULL) {
				resp_error(c->p, 500, "internal",
				    "out of memory");
				return -1;
			}
			return 0;
		}
		resp_error(c->p, 400, "bad_json", "the body must be a JSON "
		    "object");
		return -1;
	}
	if (!is_json_type(c->q->content_type)) {
		resp_error(c->p, 415, "bad_content_type",
		    "the body must be application/json");
		return -1;
	}
	c->body = json_loadb((const char *)c->q->body, c->q->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (c->body == NULL) {
		resp_error(c->p, 400, "bad_json", "the body is not JSON: %s "
		    "(at byte %d)", jerr.text, jerr.position);
		return -1;
	}
	if (!json_is_object(c->body)) {
		resp_error(c->p, 400, "bad_json", "the body must be a JSON "
		    "object");
		return -1;
	}
	return 0;
}

static void *
api_jmalloc(size_t n)
{
	return srv_wmalloc(n);
}

static void
api_jfree(void *p)
{
	srv_wfree(p);
}

int
api_init(struct api *a, struct store *st, struct kh *kh, int64_t ttl)
{
	static const char dummy[] = "cofferd dummy password";

	json_set_alloc_funcs(api_jmalloc, api_jfree);
	memset(a, 0, sizeof(*a));
	a->st = st;
	a->kh = kh;
	a->session_ttl = ttl;
	a->registration_open = true;
	a->register_limit = API_REGISTER_LIMIT;
	/* Made with the current costs, so a miss costs what a hit costs. */
	if (srv_pwhash_str(a->dummy_hash, dummy, sizeof(dummy) - 1) != 0)
		return -1;
	return 0;
}

int
api_expire(struct api *a, int64_t now, int64_t *n_sessions,
    int64_t *n_failures, char err[STORE_ERRLEN])
{
	/* The same window and stale time as login_reserve(). */
	return store_expire(a->st, now, now - LOGIN_WINDOW,
	    now - LOGIN_CHECK_MAX, n_sessions, n_failures, err);
}

bool
api_needs_kdf(const struct api *a, const struct api_req *q)
{
	if (q->method == NULL || q->path == NULL || q->too_large ||
	    strcmp(q->method, "POST") != 0)
		return false;
	if (strcmp(q->path, "/v1/sessions") == 0)
		return true;
	return strcmp(q->path, "/v1/accounts") == 0 && a->registration_open;
}

void
api_busy(struct api_resp *p, int retry)
{
	memset(p, 0, sizeof(*p));
	metrics_count(M_KDF_BUSY);
	resp_error(p, 503, "busy", "the server is busy checking passwords; "
	    "retry in %d seconds", retry);
	p->retry_after = retry;
	metrics_request(p->status);
}

void
api_resp_release(struct api_resp *p)
{
	resp_clear(p);
	memset(p, 0, sizeof(*p));
}

void
api_handle(struct api *a, const struct api_req *q, struct api_resp *p)
{
	const struct route *rt = NULL;
	struct ctx c;
	size_t i, alen;
	bool path_known = false;

	memset(&c, 0, sizeof(c));
	memset(p, 0, sizeof(*p));
	c.a = a;
	c.q = q;
	c.p = p;
	c.now = (int64_t)time(NULL);

	for (i = 0; i < N_ROUTES; i++) {
		if (!path_match(routes[i].path, q->path != NULL ? q->path : "",
		    c.id, &c.id_ok))
			continue;
		path_known = true;
		alen = strlen(p->allow);
		snprintf(p->allow + alen, sizeof(p->allow) - alen, "%s%s",
		    alen > 0 ? ", " : "", routes[i].method);
		if (rt == NULL && q->method != NULL &&
		    strcmp(routes[i].method, q->method) == 0)
			rt = &routes[i];
	}
	if (rt == NULL) {
		if (path_known)
			resp_error(p, 405, "method_not_allowed", "use %s",
			    p->allow);
		else
			resp_error(p, 404, "not_found", "no such path");
		goto out;
	}
	p->allow[0] = '\0';
	if (q->too_large) {
		resp_error(p, 413, "too_large", "the body is over 16 KiB");
		goto out;
	}
	if (rt->fn == h_register && !a->registration_open) {
		resp_error(p, 403, "registration_closed", "this server makes "
		    "no accounts on request; ask its operator for one");
		goto out;
	}
	if ((rt->flags & R_AUTH) && authenticate(&c) != 0)
		goto out;
	if (parse_body(&c, rt->flags) != 0)
		goto out;
	rt->fn(&c);
	if (p->status == 0)
		resp_error(p, 500, "internal", "no answer");
out:
	json_decref(c.body);
	srv_wipe(&c, sizeof(c));
	/* /metrics counts itself before it renders. */
	if (rt == NULL || rt->fn != h_metrics)
		metrics_request(p->status);
}
