/* SPDX-License-Identifier: ISC */
/*
 * api: routes and handlers of docs/PROTOCOL.md (api.h).
 *
 * Order of checks for every request: the route (404, 405), the body size
 * (413), the session (401), fresh proof where the route needs it (403
 * fresh_auth_required, before the key id or the body is looked at), the
 * content type (415), the JSON (400), and then the handler.  A session
 * is a device session; it is fresh while its fresh_until (set by a login
 * or POST /v1/sessions/current/fresh, kept only in the database) is in
 * the future (docs/PROTOCOL.md §3.3).
 * Keys are looked up only by (account, key id), so a
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
#include "console.h"
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
#define DEVICE_MAX		STORE_DEVICE_MAX
#define DEVICE_DEFAULT		"unnamed"
#define CODE_MAX		64
#define RECOVERY_N		10
#define RECOVERY_CHARS		16	/* 80 bits */
#define RECOVERY_ALPHABET	"abcdefghijklmnopqrstuvwxyz234567"
#define BULK_MAX		256	/* key ids per bulk destroy */
#define TOUCH_EVERY		60	/* s: last_used is written this often */

/* Route flags. */
#define R_AUTH		0x01	/* needs a session */
#define R_JSON		0x02	/* needs a JSON object body */
#define R_OPT		0x04	/* an empty body is an empty object */
#define R_FRESH		0x08	/* needs fresh proof (§3.3) */

struct ctx {
	struct api		*a;
	const struct api_req	*q;
	struct api_resp		*p;
	json_t			*body;	/* parsed object or NULL */
	char	 id[STORE_KEYID_LEN + 1];	/* from the path */
	bool	 id_ok;			/* ${id} is a key id */
	char	 account[ACCOUNT_MAX + 1];	/* the session's */
	uint8_t	 token_hash[STORE_TOKEN_HASH_LEN];
	struct store_session sess;	/* the session's row */
	bool	 fresh;			/* sess.fresh_until > now */
	char	 device[DEVICE_MAX + 1];	/* for the audit log */
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
    h_metrics, h_fresh, h_bulk_destroy, h_bind, h_devices, h_revoke,
    h_passwd, h_account_delete, h_totp_new, h_totp_confirm, h_totp_off;

#define R_A	R_AUTH
#define R_AF	(R_AUTH | R_FRESH)
static const struct route routes[] = {
	{ "POST",   "/v1/accounts",          R_JSON,          h_register },
	{ "POST",   "/v1/sessions",          R_JSON,          h_login },
	{ "DELETE", "/v1/sessions",          R_A,             h_logout },
	{ "GET",    "/v1/sessions/current",  R_A,             h_session },
	{ "POST",   "/v1/sessions/current/fresh", R_A | R_JSON, h_fresh },
	{ "GET",    "/v1/keys",              R_A,             h_list },
	{ "POST",   "/v1/keys",              R_A | R_JSON,    h_deposit },
	/* Fresh proof unless a dry run: the handler checks. */
	{ "POST",   "/v1/keys/destroy",      R_A | R_JSON,    h_bulk_destroy },
	{ "DELETE", "/v1/keys/*",            R_AF,            h_destroy },
	{ "POST",   "/v1/keys/*/release",    R_AF | R_OPT,    h_release },
	{ "POST",   "/v1/wrapkeys",          R_A | R_OPT,     h_wrapkey },
	{ "POST",   "/v1/wrapkeys/*/unwrap", R_AF | R_JSON,   h_unwrap },
	{ "POST",   "/v1/wrapkeys/*/bind",   R_A | R_JSON,    h_bind },
	{ "GET",    "/v1/devices",           R_A,             h_devices },
	{ "POST",   "/v1/devices/revoke",    R_AF | R_JSON,   h_revoke },
	{ "POST",   "/v1/account/password",  R_AF | R_JSON,   h_passwd },
	{ "DELETE", "/v1/account",           R_AF,           h_account_delete },
	{ "POST",   "/v1/account/totp",      R_AF | R_OPT,    h_totp_new },
	{ "DELETE", "/v1/account/totp",      R_AF,            h_totp_off },
	{ "POST",   "/v1/account/totp/confirm", R_AF | R_JSON, h_totp_confirm },
	{ "GET",    "/v1/audit",             R_A,             h_audit },
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

/* A device session asked for what needs fresh proof (§3.3). */
static void
resp_fresh(struct ctx *c)
{
	resp_error(c->p, 403, "fresh_auth_required", "this needs the account "
	    "password (fresh proof): POST /v1/sessions/current/fresh");
}

/* ---- audit ------------------------------------------------------------ */

/* Fill in an audit row of this request. */
static void
audit_event(struct ctx *c, struct store_event *ev, const char *account,
    const char *event, const char *key_id, bool ok)
{
	memset(ev, 0, sizeof(*ev));
	ev->time = c->now;
	snprintf(ev->account, sizeof(ev->account), "%s",
	    account != NULL ? account : "");
	snprintf(ev->address, sizeof(ev->address), "%s", c->q->address);
	snprintf(ev->event, sizeof(ev->event), "%s", event);
	snprintf(ev->key_id, sizeof(ev->key_id), "%s",
	    key_id != NULL ? key_id : "");
	ev->ok = ok;
	snprintf(ev->device, sizeof(ev->device), "%s", c->device);
}

/* Write an audit row; 0 or -1 (logged). */
static int
audit(struct ctx *c, const char *account, const char *event,
    const char *key_id, bool ok)
{
	struct store_event ev;
	char err[STORE_ERRLEN] = "";

	audit_event(c, &ev, account, event, key_id, ok);
	if (store_audit_add(c->a->st, &ev, err) != 0) {
		log_error("audit log: cannot record '%s': %s", event, err);
		return -1;
	}
	return 0;
}

/* ---- input checks ----------------------------------------------------- */

/*
 * An account or device name: 1..${max} bytes of printable UTF-8 (jansson
 * has checked the UTF-8), no control characters (C0, DEL, C1), no leading
 * or trailing space.
 */
static bool
valid_name(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;

	if (len < 1 || len > max || u[0] == ' ' || u[len - 1] == ' ')
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

bool
api_valid_account(const char *s, size_t len)
{
	return valid_name(s, len, ACCOUNT_MAX);
}

/* Exactly ${n} lowercase hex digits. */
static bool
valid_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= n || !((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == n;
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

/*
 * The second factor ${code} for ${account}, whose TOTP state is ${t}:
 * a TOTP code (6 digits: the key holder checks it, the store makes its
 * step single-use) or a recovery code (used up here).  0 if it is right,
 * 1 if it is not (wrong, reused, malformed), or -1 after answering 503.
 */
static int
check_code(struct ctx *c, const char *account, const struct store_totp *t,
    const char *code)
{
	char err[STORE_ERRLEN] = "";
	char norm[RECOVERY_CHARS + 1];
	uint8_t buf[ACCOUNT_MAX + 1 + RECOVERY_CHARS], h[SRV_HASH_LEN];
	size_t i, n = 0, alen;
	int64_t step = 0;
	int r;

	if (strlen(code) == KH_TOTP_DIGITS &&
	    strspn(code, "0123456789") == KH_TOTP_DIGITS) {
		r = kh_totpcheck(c->a->kh, account, t->blob, t->blob_len, code,
		    t->step, &step);
		if (r == KH_EAUTH || r == KH_EINVAL)
			return 1;
		if (r != KH_OK) {
			resp_kh(c, r);
			return -1;
		}
		r = store_totp_step(c->a->st, account, step, err);
		if (r == STORE_ENOTFOUND)
			return 1;	/* used meanwhile, here or elsewhere */
		if (r != 0) {
			resp_store(c, "TOTP step", err);
			return -1;
		}
		return 0;
	}
	/* A recovery code: letters and digits, any case, '-' and ' '. */
	for (i = 0; code[i] != '\0'; i++) {
		if (code[i] == '-' || code[i] == ' ')
			continue;
		if (n == RECOVERY_CHARS)
			return 1;
		norm[n++] = (char)(code[i] >= 'A' && code[i] <= 'Z' ?
		    code[i] - 'A' + 'a' : code[i]);
	}
	norm[n] = '\0';
	if (n != RECOVERY_CHARS || strspn(norm, RECOVERY_ALPHABET) != n)
		return 1;
	alen = strlen(account);
	memcpy(buf, account, alen);
	buf[alen] = 0;
	memcpy(buf + alen + 1, norm, n);
	srv_hash(h, buf, alen + 1 + n);
	srv_wipe(buf, sizeof(buf));
	srv_wipe(norm, sizeof(norm));
	r = store_recovery_use(c->a->st, account, h, err);
	if (r == STORE_ENOTFOUND)
		return 1;
	if (r != 0) {
		resp_store(c, "recovery code", err);
		return -1;
	}
	(void)audit(c, account, "recovery_code", NULL, true);
	return 0;
}

/*
 * Check the password ${pw} (and, when the account has TOTP on, ${code})
 * of ${account}, counting a failure as §4 says: a login (${login}) or a
 * fresh proof.  0 if right (*with_code: a code was checked), or -1 after
 * answering 401 (bad_credentials, code_required, bad_code), 429 or 503.
 */
static int
check_proof(struct ctx *c, const char *account, const char *pw, size_t pwlen,
    const char *code, bool login, bool *with_code)
{
	char hash[STORE_PWHASH_MAX + 1];
	char err[STORE_ERRLEN] = "";
	struct store_failures f;
	struct store_totp t;
	const char *ev_failed = login ? "login_failed" : "fresh";
	int64_t id = 0;
	int r, wait, cr;
	bool known, ok;

	*with_code = false;
	hash[0] = '\0';
	memset(&t, 0, sizeof(t));
	r = store_account_pwhash(c->a->st, account, hash, err);
	if (r != 0 && r != STORE_ENOTFOUND) {
		resp_store(c, "login", err);
		goto fail;
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
		goto fail;
	}
	if (r == STORE_ELIMIT) {
		wait = 0;
		if (f.n_account >= LOGIN_MAX_FAILURES)
			wait = retry_after(c->now, f.old_account);
		if (f.n_address >= LOGIN_MAX_FAILURES &&
		    retry_after(c->now, f.old_address) > wait)
			wait = retry_after(c->now, f.old_address);
		if (login)
			metrics_count(M_LOGIN_LIMITED);
		metrics_count(M_RATE_LIMITED);
		(void)audit(c, known ? account : "", login ? "login_limited" :
		    "fresh_limited", NULL, false);
		log_warn("%s to '%s' from %s refused: too many failures",
		    login ? "login" : "fresh proof", account, c->q->address);
		resp_error(c->p, 429, "rate_limited", "too many failed logins; "
		    "retry in %d seconds", wait);
		c->p->retry_after = wait;
		goto fail;
	}
	if (r != 0) {
		resp_store(c, "login", err);
		goto fail;
	}
	/* An unknown account costs the same work as a wrong password. */
	ok = srv_pwhash_verify(known ? hash : c->a->dummy_hash, pw,
	    pwlen) == 0 && known;
	if (ok && (r = store_totp_get(c->a->st, account, &t, err)) != 0) {
		/* Not a failure: the password was right. */
		(void)store_failure_cancel(c->a->st, id, err);
		resp_store(c, "login", err);
		goto fail;
	}
	if (ok && t.state == STORE_TOTP_ON && code == NULL) {
		(void)store_failure_cancel(c->a->st, id, err);
		resp_error(c->p, 401, "code_required", "this account needs "
		    "its one-time code (or a recovery code) too");
		goto fail;
	}
	if (ok && t.state == STORE_TOTP_ON) {
		if ((cr = check_code(c, account, &t, code)) < 0) {
			(void)store_failure_cancel(c->a->st, id, err);
			goto fail;
		}
		if (cr > 0) {
			if (store_failure_confirm(c->a->st, id, err) != 0)
				log_warn("failed login %lld: %s (it counts "
				    "as one anyway)", (long long)id, err);
			if (login)
				metrics_count(M_LOGIN_FAILED);
			(void)audit(c, account, ev_failed, NULL, false);
			log_warn("%s to account '%s' from %s: wrong code",
			    login ? "login" : "fresh proof", account,
			    c->q->address);
			resp_error(c->p, 401, "bad_code", "wrong, used or "
			    "malformed one-time code");
			goto fail;
		}
		*with_code = true;
	}
	if (!ok) {
		/* The reservation is the recorded failure. */
		if (store_failure_confirm(c->a->st, id, err) != 0)
			log_warn("failed login %lld: %s (it counts as one "
			    "anyway)", (long long)id, err);
		if (login)
			metrics_count(M_LOGIN_FAILED);
		(void)audit(c, known ? account : "", ev_failed, NULL, false);
		log_warn("%s to %s account '%s' from %s failed",
		    login ? "login" : "fresh proof", known ? "the" : "unknown",
		    account, c->q->address);
		resp_error(c->p, 401, "bad_credentials",
		    "wrong account name or password");
		goto fail;
	}
	/* Not a failure; earlier failures stay as they are. */
	if (store_failure_cancel(c->a->st, id, err) != 0)
		log_warn("login reservation %lld: %s (it counts as a failed "
		    "login)", (long long)id, err);
	srv_wipe(hash, sizeof(hash));
	srv_wipe(&t, sizeof(t));
	return 0;
fail:
	srv_wipe(hash, sizeof(hash));
	srv_wipe(&t, sizeof(t));
	return -1;
}

/* The optional "code": a string of 1..64 bytes, or NULL.  0 or -1. */
static int
get_code(struct ctx *c, const char **code)
{
	size_t len;

	if (get_str(c, "code", false, code, &len) != 0)
		return -1;
	if (*code != NULL && (len < 1 || len > CODE_MAX ||
	    memchr(*code, '\0', len) != NULL)) {
		resp_bad_field(c, "code", "must be 1 to 64 bytes of text");
		return -1;
	}
	return 0;
}

static void
h_login(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char token[SRV_TOKEN_LEN * 2 + 1];
	uint8_t raw[SRV_TOKEN_LEN];
	struct store_session s;
	const char *account, *pw, *code, *dev;
	size_t pwlen, dlen;
	bool with_code;
	int r;

	token[0] = '\0';
	memset(&s, 0, sizeof(s));
	memset(raw, 0, sizeof(raw));
	if (get_credentials(c, 1, &account, &pw, &pwlen) != 0 ||
	    get_str(c, "device", false, &dev, &dlen) != 0 ||
	    get_code(c, &code) != 0)
		goto out;
	if (dev != NULL && !valid_name(dev, dlen, DEVICE_MAX)) {
		resp_bad_field(c, "device", "must be 1 to 64 bytes of "
		    "printable text without leading or trailing spaces");
		goto out;
	}
	snprintf(c->device, sizeof(c->device), "%s",
	    dev != NULL ? dev : DEVICE_DEFAULT);
	if (check_proof(c, account, pw, pwlen, code, true, &with_code) != 0)
		goto out;
	srv_random(raw, sizeof(raw));
	api_token_hash(s.hash, raw, c->q->console);
	snprintf(s.account, sizeof(s.account), "%s", account);
	snprintf(s.device, sizeof(s.device), "%s", c->device);
	snprintf(s.last_address, sizeof(s.last_address), "%s", c->q->address);
	s.created = s.last_used = c->now;
	s.expires = c->now + c->a->session_ttl;
	s.fresh_until = c->now + c->a->fresh_auth;
	s.fresh_code = with_code;
	if ((r = store_session_open(c->a->st, &s, err)) != 0) {
		resp_store(c, "session", err);
		goto out;
	}
	metrics_count(M_LOGIN_OK);
	(void)audit(c, account, "login", NULL, true);
	hex_encode(token, raw, sizeof(raw));
	resp_json(c->p, 201, json_pack("{s:s, s:s, s:I, s:s, s:I}", "token",
	    token, "account", account, "expires", (json_int_t)s.expires,
	    "device", s.device, "fresh_until", (json_int_t)s.fresh_until));
out:
	srv_wipe(raw, sizeof(raw));
	srv_wipe(token, sizeof(token));
	srv_wipe(&s, sizeof(s));
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
	char err[STORE_ERRLEN] = "";
	char id[STORE_SESSION_ID_LEN * 2 + 1];
	struct store_totp t;
	int r;

	if ((r = store_totp_get(c->a->st, c->account, &t, err)) != 0 &&
	    r != STORE_ENOTFOUND) {
		resp_store(c, "session", err);
		return;
	}
	hex_encode(id, c->sess.hash, STORE_SESSION_ID_LEN);
	resp_json(c->p, 200, json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:b}",
	    "account", c->account, "expires", (json_int_t)c->sess.expires,
	    "id", id, "device", c->sess.device,
	    "created", (json_int_t)c->sess.created,
	    "fresh_until", (json_int_t)c->sess.fresh_until,
	    "totp", r == 0 && t.state == STORE_TOTP_ON));
	srv_wipe(&t, sizeof(t));
}

/* Fresh proof for this session (§3.3). */
static void
h_fresh(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	const char *pw, *code;
	int64_t until;
	size_t pwlen;
	bool with_code;

	if (get_str(c, "password", true, &pw, &pwlen) != 0 ||
	    get_code(c, &code) != 0)
		return;
	if (pwlen < 1 || pwlen > PASSWORD_MAX) {
		resp_bad_field(c, "password", "must be 1 to 1024 bytes");
		return;
	}
	if (check_proof(c, c->account, pw, pwlen, code, false,
	    &with_code) != 0)
		return;
	until = c->now + c->a->fresh_auth;
	if (store_session_fresh(c->a->st, c->token_hash, until, with_code,
	    err) != 0) {
		resp_store(c, "fresh proof", err);
		return;
	}
	(void)audit(c, c->account, "fresh", NULL, true);
	resp_json(c->p, 200, json_pack("{s:I}", "fresh_until",
	    (json_int_t)until));
}

static void
h_devices(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char id[STORE_SESSION_ID_LEN * 2 + 1];
	struct store_session *v = NULL;
	json_t *arr, *o;
	size_t n = 0, i;

	if (store_session_list(c->a->st, c->account, c->now, &v, &n,
	    err) != 0) {
		resp_store(c, "devices", err);
		return;
	}
	if ((arr = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		hex_encode(id, v[i].hash, STORE_SESSION_ID_LEN);
		o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:b}", "id", id,
		    "device", v[i].device,
		    "created", (json_int_t)v[i].created,
		    "last_used", (json_int_t)v[i].last_used,
		    "last_address", v[i].last_address,
		    "current", memcmp(v[i].hash, c->token_hash,
		    STORE_TOKEN_HASH_LEN) == 0);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			goto oom;
		}
	}
	srv_wipe(v, n * sizeof(*v));
	free(v);
	resp_json(c->p, 200, json_pack("{s:o}", "devices", arr));
	return;
oom:
	free(v);
	resp_error(c->p, 500, "internal", "out of memory");
}

static void
h_revoke(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	uint8_t id[STORE_SESSION_ID_LEN];
	char dev[DEVICE_MAX + 1];
	const char *sdev, *sid;
	json_t *all;
	size_t dlen, ilen;
	int64_t n = 0;
	int given = 0, r;

	if (get_str(c, "device", false, &sdev, &dlen) != 0 ||
	    get_str(c, "id", false, &sid, &ilen) != 0)
		return;
	all = json_object_get(c->body, "all_others");
	given = (sdev != NULL) + (sid != NULL) +
	    (all != NULL && !json_is_null(all));
	if (given != 1) {
		resp_error(c->p, 400, "bad_request", "give exactly one of "
		    "'device', 'id' and 'all_others'");
		return;
	}
	if (sdev != NULL && !valid_name(sdev, dlen, DEVICE_MAX)) {
		resp_bad_field(c, "device", "must be a device name");
		return;
	}
	if (sid != NULL && (!valid_hex(sid, STORE_SESSION_ID_LEN * 2) ||
	    hex_decode(id, sid, sizeof(id)) != 0)) {
		resp_bad_field(c, "id", "must be 16 lowercase hex digits");
		return;
	}
	if (all != NULL && !json_is_null(all) && !json_is_true(all)) {
		resp_bad_field(c, "all_others", "must be true");
		return;
	}
	if (sdev != NULL)
		snprintf(dev, sizeof(dev), "%s", sdev);
	r = store_session_revoke(c->a->st, c->account,
	    sdev != NULL ? dev : NULL, sid != NULL ? id : NULL,
	    sdev == NULL && sid == NULL ? c->token_hash : NULL, &n, err);
	if (r != 0) {
		resp_store(c, "revoke", err);
		return;
	}
	(void)audit(c, c->account, "revoke", NULL, true);
	log_info("account '%s' revoked %lld session(s)", c->account,
	    (long long)n);
	resp_json(c->p, 200, json_pack("{s:I}", "revoked", (json_int_t)n));
}

static void
h_passwd(struct ctx *c)
{
	char hash[SRV_PWHASH_STRLEN];
	char err[STORE_ERRLEN] = "";
	const char *pw;
	size_t pwlen;
	int64_t n = 0;
	int r;

	if (get_str(c, "new_password", true, &pw, &pwlen) != 0)
		return;
	if (pwlen < PASSWORD_MIN || pwlen > PASSWORD_MAX) {
		resp_bad_field(c, "new_password", "must be 8 to 1024 bytes");
		return;
	}
	if (srv_pwhash_str(hash, pw, pwlen) != 0) {
		log_error("password hash: out of memory");
		resp_error(c->p, 503, "unavailable", "the server is busy");
		return;
	}
	r = store_account_set_pwhash(c->a->st, c->account, hash,
	    c->token_hash, &n, err);
	srv_wipe(hash, sizeof(hash));
	if (r != 0) {
		resp_store(c, "password", err);
		return;
	}
	(void)audit(c, c->account, "password", NULL, true);
	log_info("account '%s' changed its password; %lld other session(s) "
	    "ended", c->account, (long long)n);
	resp_empty(c->p, 204);
}

static void
h_account_delete(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	int r;

	r = store_account_delete(c->a->st, c->account, c->now, err);
	if (r == STORE_ENOTFOUND) {
		resp_error(c->p, 401, "unauthorized", "no such account");
		return;
	}
	if (r != 0) {
		resp_store(c, "delete account", err);
		return;
	}
	(void)audit(c, c->account, "account_delete", NULL, true);
	log_info("account '%s' deleted from %s", c->account, c->q->address);
	resp_empty(c->p, 204);
}

/* RFC 4648 base32, upper case, no padding; ${out} holds 8*len/5+2. */
static void
base32(char *out, const uint8_t *in, size_t len)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned int acc = 0, bits = 0;
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = al[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = al[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

static void
h_totp_new(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char b32[KH_TOTP_LEN * 8 / 5 + 2];
	char uri[3 * ACCOUNT_MAX + 256];
	uint8_t secret[KH_TOTP_LEN], blob[KH_BLOB_MAX];
	size_t bloblen = 0, o, i;
	unsigned char ch;
	int r;

	if ((r = kh_totpgen(c->a->kh, c->account, secret, blob,
	    &bloblen)) != KH_OK) {
		resp_kh(c, r);
		goto out;
	}
	r = store_totp_pending(c->a->st, c->account, blob, bloblen, err);
	if (r == STORE_EEXIST) {
		resp_error(c->p, 409, "exists", "two-factor authentication is "
		    "already on; turn it off first");
		goto out;
	}
	if (r != 0) {
		resp_store(c, "TOTP", err);
		goto out;
	}
	base32(b32, secret, sizeof(secret));
	o = (size_t)snprintf(uri, sizeof(uri), "otpauth://totp/coffer:");
	for (i = 0; c->account[i] != '\0'; i++) {
		ch = (unsigned char)c->account[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			uri[o++] = (char)ch;
		else
			o += (size_t)snprintf(uri + o, sizeof(uri) - o,
			    "%%%02X", ch);
	}
	snprintf(uri + o, sizeof(uri) - o, "?secret=%s&issuer=coffer&"
	    "digits=%d&period=%d&algorithm=SHA1", b32, KH_TOTP_DIGITS,
	    KH_TOTP_STEP);
	(void)audit(c, c->account, "totp_pending", NULL, true);
	resp_json(c->p, 200, json_pack("{s:s, s:s}", "secret", b32,
	    "uri", uri));
out:
	srv_wipe(secret, sizeof(secret));
	srv_wipe(b32, sizeof(b32));
	srv_wipe(uri, sizeof(uri));
}

static void
h_totp_confirm(struct ctx *c)
{
	static const char al[] = RECOVERY_ALPHABET;
	char err[STORE_ERRLEN] = "";
	char codes[RECOVERY_N][RECOVERY_CHARS + RECOVERY_CHARS / 4];
	uint8_t hashes[RECOVERY_N][STORE_CODE_HASH_LEN];
	uint8_t buf[ACCOUNT_MAX + 1 + RECOVERY_CHARS], rnd[RECOVERY_CHARS];
	struct store_totp t;
	const char *code;
	json_t *arr = NULL;
	int64_t step = 0;
	size_t len, alen, i, j, o;
	int r;

	memset(&t, 0, sizeof(t));
	if (get_str(c, "code", true, &code, &len) != 0)
		goto out;
	if ((r = store_totp_get(c->a->st, c->account, &t, err)) != 0) {
		resp_store(c, "TOTP", err);
		goto out;
	}
	if (t.state != STORE_TOTP_PENDING) {
		resp_error(c->p, 404, "not_found", "no pending secret: POST "
		    "/v1/account/totp first");
		goto out;
	}
	r = len == KH_TOTP_DIGITS && strspn(code, "0123456789") == len ?
	    kh_totpcheck(c->a->kh, c->account, t.blob, t.blob_len, code, 0,
	    &step) : KH_EAUTH;
	if (r == KH_EAUTH || r == KH_EINVAL) {
		(void)audit(c, c->account, "totp_enable", NULL, false);
		resp_error(c->p, 401, "bad_code", "wrong one-time code");
		goto out;
	}
	if (r != KH_OK) {
		resp_kh(c, r);
		goto out;
	}
	alen = strlen(c->account);
	for (i = 0; i < RECOVERY_N; i++) {
		srv_random(rnd, sizeof(rnd));
		memcpy(buf, c->account, alen);
		buf[alen] = 0;
		for (j = 0, o = 0; j < RECOVERY_CHARS; j++) {
			buf[alen + 1 + j] = (uint8_t)al[rnd[j] & 31];
			if (j > 0 && j % 4 == 0)
				codes[i][o++] = '-';
			codes[i][o++] = al[rnd[j] & 31];
		}
		codes[i][o] = '\0';
		srv_hash(hashes[i], buf, alen + 1 + RECOVERY_CHARS);
	}
	r = store_totp_enable(c->a->st, c->account, step,
	    (const uint8_t (*)[STORE_CODE_HASH_LEN])hashes, RECOVERY_N, err);
	if (r == STORE_ENOTFOUND) {
		resp_error(c->p, 404, "not_found", "no pending secret: POST "
		    "/v1/account/totp first");
		goto out;
	}
	if (r != 0) {
		resp_store(c, "TOTP", err);
		goto out;
	}
	/* The confirm gave a code: fresh with a code, until the same time. */
	if (store_session_fresh(c->a->st, c->token_hash, c->sess.fresh_until,
	    1, err) != 0)
		log_warn("TOTP confirm: session: %s", err);
	(void)audit(c, c->account, "totp_enable", NULL, true);
	if ((arr = json_array()) == NULL)
		goto oom;
	for (i = 0; i < RECOVERY_N; i++)
		if (json_array_append_new(arr, json_string(codes[i])) != 0)
			goto oom;
	resp_json(c->p, 200, json_pack("{s:o}", "recovery_codes", arr));
	arr = NULL;
	goto out;
oom:
	json_decref(arr);
	resp_error(c->p, 500, "internal", "out of memory");
out:
	srv_wipe(codes, sizeof(codes));
	srv_wipe(hashes, sizeof(hashes));
	srv_wipe(buf, sizeof(buf));
	srv_wipe(rnd, sizeof(rnd));
	srv_wipe(&t, sizeof(t));
}

static void
h_totp_off(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	struct store_totp t;
	int r;

	if ((r = store_totp_get(c->a->st, c->account, &t, err)) != 0) {
		resp_store(c, "TOTP", err);
		return;
	}
	if (t.state == STORE_TOTP_ON && !c->sess.fresh_code) {
		srv_wipe(&t, sizeof(t));
		resp_error(c->p, 403, "fresh_auth_required", "turning "
		    "two-factor authentication off needs fresh proof with "
		    "the one-time code: POST /v1/sessions/current/fresh with "
		    "password and code");
		return;
	}
	srv_wipe(&t, sizeof(t));
	if ((r = store_totp_disable(c->a->st, c->account, err)) != 0) {
		resp_store(c, "TOTP", err);
		return;
	}
	(void)audit(c, c->account, "totp_disable", NULL, true);
	resp_empty(c->p, 204);
}

/* ---- keys ------------------------------------------------------------- */

/*
 * The optional "repo_id" (32 hex) and "keyset_id" (16 hex) of a deposit
 * or a wrap key (or both required, for a bind) into ${k}, and the
 * session's device.  0, or -1 after answering 400.
 */
static int
get_meta(struct ctx *c, struct store_key *k, bool required)
{
	const char *r, *ks;
	size_t rl, kl;

	snprintf(k->device, sizeof(k->device), "%s", c->sess.device);
	if (get_str(c, "repo_id", required, &r, &rl) != 0 ||
	    get_str(c, "keyset_id", required, &ks, &kl) != 0)
		return -1;
	if (r != NULL && !valid_hex(r, STORE_REPOID_LEN)) {
		resp_bad_field(c, "repo_id", "must be 32 lowercase hex digits");
		return -1;
	}
	if (ks != NULL && !valid_hex(ks, STORE_KEYSETID_LEN)) {
		resp_bad_field(c, "keyset_id",
		    "must be 16 lowercase hex digits");
		return -1;
	}
	snprintf(k->repo_id, sizeof(k->repo_id), "%s", r != NULL ? r : "");
	snprintf(k->keyset_id, sizeof(k->keyset_id), "%s",
	    ks != NULL ? ks : "");
	return 0;
}

/* A JSON string, or null for "". */
static json_t *
str_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}


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
	struct store_event ev;
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
	if (get_label(c, k->label) != 0 || get_meta(c, k, false) != 0)
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
		/* The key and its audit row, committed together. */
		audit_event(c, &ev, c->account, "deposit", k->key_id, true);
		r = store_key_put_audit(c->a->st, k, &ev, err);
	}
	if (r != 0) {
		resp_store(c, "deposit", err);
		goto out;
	}
	metrics_count(M_DEPOSITED);
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
		o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:I, s:o, s:o, s:o}",
		    "key_id", v[i].key_id,
		    "kind", v[i].kind == STORE_KIND_WRAP ? "wrap" : "key",
		    "label", v[i].label,
		    "created", (json_int_t)v[i].created,
		    "destroyed", v[i].destroyed != 0 ?
		    json_integer(v[i].destroyed) : json_null(),
		    "releases", (json_int_t)v[i].releases,
		    "device", str_or_null(v[i].device),
		    "repo_id", str_or_null(v[i].repo_id),
		    "keyset_id", str_or_null(v[i].keyset_id));
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
h_bind(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	struct store_key k;
	int r;

	memset(&k, 0, sizeof(k));
	if (get_meta(c, &k, true) != 0)
		goto out;
	if (key_lookup(c, STORE_KIND_WRAP, NULL, &k) != 0)
		goto out;
	if (get_meta(c, &k, true) != 0)
		goto out;
	r = store_key_bind(c->a->st, c->account, c->id, k.repo_id,
	    k.keyset_id, err);
	if (r == STORE_EEXIST) {
		resp_error(c->p, 409, "exists", "the wrap key is bound to "
		    "another repository or key set");
		goto out;
	}
	if (r == STORE_ENOTFOUND) {
		resp_no_key(c);
		goto out;
	}
	if (r != 0) {
		resp_store(c, "bind", err);
		goto out;
	}
	(void)audit(c, c->account, "bind", c->id, true);
	resp_empty(c->p, 204);
out:
	srv_wipe(&k, sizeof(k));
}

/*
 * Destroy ${id} of this account unless ${dry}; append it to ${done} if it
 * was live, else to ${nf}.  0, or -1 after answering 503.
 */
static int
bulk_one(struct ctx *c, const char *id, bool dry, json_t *done, json_t *nf)
{
	char err[STORE_ERRLEN] = "";
	struct store_key k;
	int r;

	r = store_key_get(c->a->st, c->account, id, &k, err);
	srv_wipe(k.blob, sizeof(k.blob));
	if (r != 0 && r != STORE_ENOTFOUND) {
		resp_store(c, "destroy", err);
		return -1;
	}
	if (r == STORE_ENOTFOUND || k.destroyed != 0) {
		(void)json_array_append_new(nf, json_string(id));
		return 0;
	}
	if (!dry) {
		r = store_key_destroy(c->a->st, c->account, id, c->now, err);
		if (r == STORE_ENOTFOUND) {
			(void)json_array_append_new(nf, json_string(id));
			return 0;
		}
		if (r != 0) {
			resp_store(c, "destroy", err);
			return -1;
		}
		metrics_count(M_DESTROYED);
		(void)audit(c, c->account, "destroy", id, true);
	}
	(void)json_array_append_new(done, json_string(id));
	return 0;
}

static void
h_bulk_destroy(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char dev[DEVICE_MAX + 1];
	struct store_key *v = NULL;
	json_t *ids, *dry, *done = NULL, *nf = NULL, *e;
	const char *sdev;
	size_t dlen, i, n = 0;
	bool is_dry;

	ids = json_object_get(c->body, "key_ids");
	dry = json_object_get(c->body, "dry_run");
	if (get_str(c, "device", false, &sdev, &dlen) != 0)
		return;
	if ((ids != NULL && !json_is_null(ids)) == (sdev != NULL)) {
		resp_error(c->p, 400, "bad_request", "give exactly one of "
		    "'key_ids' and 'device'");
		return;
	}
	if (dry != NULL && !json_is_boolean(dry) && !json_is_null(dry)) {
		resp_bad_field(c, "dry_run", "must be true or false");
		return;
	}
	is_dry = dry != NULL && json_is_true(dry);
	if (sdev == NULL) {
		if (!json_is_array(ids) || json_array_size(ids) < 1 ||
		    json_array_size(ids) > BULK_MAX) {
			resp_bad_field(c, "key_ids", "must be an array of 1 "
			    "to 256 key ids");
			return;
		}
		json_array_foreach(ids, i, e) {
			if (!json_is_string(e) ||
			    !valid_keyid(json_string_value(e))) {
				resp_bad_field(c, "key_ids", "must hold key "
				    "ids (32 lowercase hex digits)");
				return;
			}
		}
	} else if (!valid_name(sdev, dlen, DEVICE_MAX)) {
		resp_bad_field(c, "device", "must be a device name");
		return;
	}
	if (!is_dry && !c->fresh) {
		resp_fresh(c);
		return;
	}
	if ((done = json_array()) == NULL || (nf = json_array()) == NULL)
		goto oom;
	if (sdev == NULL) {
		json_array_foreach(ids, i, e)
			if (bulk_one(c, json_string_value(e), is_dry, done,
			    nf) != 0)
				goto out;
	} else {
		snprintf(dev, sizeof(dev), "%s", sdev);
		if (store_key_list(c->a->st, c->account, &v, &n, err) != 0) {
			resp_store(c, "destroy", err);
			goto out;
		}
		for (i = 0; i < n; i++)
			if (v[i].destroyed == 0 &&
			    strcmp(v[i].device, dev) == 0 &&
			    bulk_one(c, v[i].key_id, is_dry, done, nf) != 0)
				goto out;
	}
	if (is_dry)
		(void)audit(c, c->account, "destroy_dry_run", NULL, true);
	resp_json(c->p, 200, json_pack("{s:O, s:O, s:b}", "destroyed", done,
	    "not_found", nf, "dry_run", is_dry));
	goto out;
oom:
	resp_error(c->p, 500, "internal", "out of memory");
out:
	free(v);
	json_decref(done);
	json_decref(nf);
}

static void
h_release(struct ctx *c)
{
	char err[STORE_ERRLEN] = "";
	char b64[((KH_PLAIN_MAX + 2) / 3) * 4 + 1];
	uint8_t pt[KH_PLAIN_MAX];
	struct store_event ev;
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
	/* Fail closed: no audit row, no key.  The count goes with it. */
	audit_event(c, &ev, c->account, "release", c->id, true);
	if (store_audit_release(c->a->st, &ev, err) != 0) {
		log_error("audit log: cannot record 'release': %s", err);
		resp_error(c->p, 503, "unavailable",
		    "the audit log cannot be written");
		goto out;
	}
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
	struct store_event ev;
	struct store_key k;
	int r = STORE_EEXIST, tries;

	memset(&k, 0, sizeof(k));
	if (get_label(c, k.label) != 0 || get_meta(c, &k, false) != 0)
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
		audit_event(c, &ev, c->account, "wrapkey", k.key_id, true);
		r = store_key_put_audit(c->a->st, &k, &ev, err);
	}
	if (r != 0) {
		resp_store(c, "wrap key", err);
		return;
	}
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
	struct store_event ev;
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
	audit_event(c, &ev, c->account, "unwrap", c->id, true);
	if (store_audit_release(c->a->st, &ev, err) != 0) {
		log_error("audit log: cannot record 'unwrap': %s", err);
		resp_error(c->p, 503, "unavailable",
		    "the audit log cannot be written");
		goto out;
	}
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
		o = json_pack("{s:I, s:s, s:o, s:s, s:o, s:b}",
		    "time", (json_int_t)v[i].time,
		    "event", v[i].event,
		    "key_id", str_or_null(v[i].key_id),
		    "address", v[i].address,
		    "device", str_or_null(v[i].device),
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
	struct store_group_stats gs;
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
	store_group_stats(c->a->st, &gs);
	if ((n = metrics_text(buf, METRICS_MAX, up, &gs)) == 0) {
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
	int r;

	if (c->q->console)
		h = c->q->token != NULL ? c->q->token : "";
	else if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		goto bad;
	else
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
	api_token_hash(c->token_hash, raw, c->q->console);
	srv_wipe(raw, sizeof(raw));
	r = store_session_info(c->a->st, c->token_hash, &c->sess, err);
	if (r == STORE_ENOTFOUND)
		goto bad;
	if (r != 0) {
		resp_store(c, "session", err);
		return -1;
	}
	if (c->sess.expires <= c->now) {
		(void)store_session_delete(c->a->st, c->token_hash, err);
		goto bad;
	}
	memcpy(c->account, c->sess.account, sizeof(c->account));
	memcpy(c->device, c->sess.device, sizeof(c->device));
	c->fresh = c->sess.fresh_until > c->now;
	/* At most once a minute, unless the address changed. */
	if (c->now - c->sess.last_used >= TOUCH_EVERY ||
	    strcmp(c->sess.last_address, c->q->address) != 0) {
		if (store_session_touch(c->a->st, c->token_hash, c->now,
		    c->q->address, err) != 0)
			log_warn("session last use: %s", err);
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
	a->fresh_auth = 600;
	a->console = true;
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
	if (a->console && console_path(q->path))
		return console_needs_kdf(q->path);
	/* Every request that checks or makes a password hash. */
	if (strcmp(q->path, "/v1/sessions") == 0 ||
	    strcmp(q->path, "/v1/sessions/current/fresh") == 0 ||
	    strcmp(q->path, "/v1/account/password") == 0)
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
api_token_hash(uint8_t out[SRV_HASH_LEN], const uint8_t raw[SRV_TOKEN_LEN],
    bool console)
{
	static const char dom[] = "coffer console session";
	uint8_t buf[sizeof(dom) + SRV_TOKEN_LEN];

	if (!console) {
		srv_hash(out, raw, SRV_TOKEN_LEN);
		return;
	}
	memcpy(buf, dom, sizeof(dom));		/* with its NUL */
	memcpy(buf + sizeof(dom), raw, SRV_TOKEN_LEN);
	srv_hash(out, buf, sizeof(buf));
	srv_wipe(buf, sizeof(buf));
}

void
api_resp_release(struct api_resp *p)
{
	resp_clear(p);
	srv_wipe(p, sizeof(*p));	/* set_cookie holds a token */
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

	if (a->console && !q->console && q->path != NULL &&
	    console_path(q->path)) {
		console_handle(a, q, p);
		return;
	}
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
	if ((rt->flags & R_FRESH) && !c.fresh) {
		resp_fresh(&c);
		goto out;
	}
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
