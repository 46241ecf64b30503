/* SPDX-License-Identifier: ISC */
/*
 * store: pick an implementation by the URL's scheme and forward every
 * call through its operations table (store_impl.h); the writes that
 * deposits and releases make go through the group committer
 * (store_group.c) instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store_impl.h"

void
store_seterr(char err[STORE_ERRLEN], const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err, STORE_ERRLEN, fmt, ap);
	va_end(ap);
}

static int
store_open_backend(const char *url, struct store **out,
    char err[STORE_ERRLEN])
{
	*out = NULL;
	if (url == NULL || *url == '\0') {
		store_seterr(err, "no database URL");
		return STORE_EFAIL;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		if (url[7] == '\0') {
			store_seterr(err, "'sqlite:' needs a file name");
			return STORE_EFAIL;
		}
		return store_sqlite_open(url + 7, out, err);
	}
	if (strncmp(url, "postgres://", 11) == 0 ||
	    strncmp(url, "postgresql://", 13) == 0)
		return store_pg_open(url, out, err);
	store_seterr(err, "unknown database URL scheme (want sqlite:PATH or "
	    "postgres://...)");
	return STORE_EFAIL;
}

int
store_open(const char *url, struct store **out, char err[STORE_ERRLEN])
{
	struct store_group *g;
	int r;

	*out = NULL;
	if ((g = store_group_new()) == NULL) {
		store_seterr(err, "out of memory");
		return STORE_EFAIL;
	}
	if ((r = store_open_backend(url, out, err)) != 0) {
		store_group_free(g);
		return r;
	}
	(*out)->group = g;
	return 0;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_group_free(st->group);
	st->ops->close(st);
}

/* Run ${op} in a group commit; its error text into ${err}. */
static int
store_group_done(struct store *st, struct store_op *op,
    char err[STORE_ERRLEN])
{
	int r;

	r = store_group_run(st, op);
	if (r != 0 && err != NULL)
		memcpy(err, op->err, STORE_ERRLEN);
	return r;
}

int
store_ping(struct store *st, char err[STORE_ERRLEN])
{
	return store_sql_ping(st, err);
}

int
store_account_create(struct store *st, const char *account,
    const char *pwhash, int64_t now, char err[STORE_ERRLEN])
{
	return store_sql_account_create(st, account, pwhash, now, err);
}

int
store_account_pwhash(struct store *st, const char *account,
    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN])
{
	return store_sql_account_pwhash(st, account, pwhash, err);
}

int
store_session_create(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], const char *account,
    int64_t expires, char err[STORE_ERRLEN])
{
	struct store_session s;

	memset(&s, 0, sizeof(s));
	memcpy(s.hash, hash, STORE_TOKEN_HASH_LEN);
	if (strlen(account) > STORE_ACCOUNT_MAX) {
		store_seterr(err, "account name too long");
		return STORE_EFAIL;
	}
	snprintf(s.account, sizeof(s.account), "%s", account);
	snprintf(s.device, sizeof(s.device), "unnamed");
	s.expires = expires;
	return store_sql_session_open(st, &s, err);
}

int
store_session_get(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN],
    char account[STORE_ACCOUNT_MAX + 1], int64_t *expires,
    char err[STORE_ERRLEN])
{
	struct store_session s;
	int r;

	account[0] = '\0';
	*expires = 0;
	if ((r = store_sql_session_info(st, hash, &s, err)) != 0)
		return r;
	memcpy(account, s.account, sizeof(s.account));
	*expires = s.expires;
	return 0;
}

int
store_session_open(struct store *st, const struct store_session *s,
    char err[STORE_ERRLEN])
{
	return store_sql_session_open(st, s, err);
}

int
store_session_info(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], struct store_session *s,
    char err[STORE_ERRLEN])
{
	memset(s, 0, sizeof(*s));
	return store_sql_session_info(st, hash, s, err);
}

int
store_session_touch(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now,
    const char *address, char err[STORE_ERRLEN])
{
	struct store_op op = { .kind = STORE_OP_TOUCH, .hash = hash,
	    .now = now, .address = address };

	return store_group_done(st, &op, err);
}

int
store_session_fresh(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t fresh_until,
    int fresh_code, char err[STORE_ERRLEN])
{
	return store_sql_session_fresh(st, hash, fresh_until, fresh_code, err);
}

int
store_session_list(struct store *st, const char *account, int64_t now,
    struct store_session **out, size_t *n, char err[STORE_ERRLEN])
{
	*out = NULL;
	*n = 0;
	return store_sql_session_list(st, account, now, out, n, err);
}

int
store_session_revoke(struct store *st, const char *account,
    const char *device, const uint8_t id[STORE_SESSION_ID_LEN],
    const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	*n = 0;
	return store_sql_session_revoke(st, account, device, id, keep, n, err);
}

int
store_account_set_pwhash(struct store *st, const char *account,
    const char *pwhash, const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	*n = 0;
	return store_sql_account_set_pwhash(st, account, pwhash, keep, n, err);
}

int
store_account_delete(struct store *st, const char *account, int64_t now,
    char err[STORE_ERRLEN])
{
	return store_sql_account_delete(st, account, now, err);
}

int
store_totp_get(struct store *st, const char *account, struct store_totp *t,
    char err[STORE_ERRLEN])
{
	memset(t, 0, sizeof(*t));
	return store_sql_totp_get(st, account, t, err);
}

int
store_totp_pending(struct store *st, const char *account,
    const uint8_t *blob, size_t blob_len, char err[STORE_ERRLEN])
{
	if (blob_len < 1 || blob_len > STORE_BLOB_MAX) {
		store_seterr(err, "TOTP blob of %zu bytes", blob_len);
		return STORE_EFAIL;
	}
	return store_sql_totp_pending(st, account, blob, blob_len, err);
}

int
store_totp_enable(struct store *st, const char *account, int64_t step,
    const uint8_t (*hashes)[STORE_CODE_HASH_LEN], size_t n,
    char err[STORE_ERRLEN])
{
	if (n > STORE_RECOVERY_MAX) {
		store_seterr(err, "too many recovery codes");
		return STORE_EFAIL;
	}
	return store_sql_totp_enable(st, account, step, hashes, n, err);
}

int
store_totp_disable(struct store *st, const char *account,
    char err[STORE_ERRLEN])
{
	return store_sql_totp_disable(st, account, err);
}

int
store_totp_step(struct store *st, const char *account, int64_t step,
    char err[STORE_ERRLEN])
{
	return store_sql_totp_step(st, account, step, err);
}

int
store_recovery_use(struct store *st, const char *account,
    const uint8_t hash[STORE_CODE_HASH_LEN], char err[STORE_ERRLEN])
{
	return store_sql_recovery_use(st, account, hash, err);
}

int
store_session_delete(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], char err[STORE_ERRLEN])
{
	return store_sql_session_delete(st, hash, err);
}

int
store_key_put(struct store *st, const struct store_key *k,
    char err[STORE_ERRLEN])
{
	struct store_op op = { .kind = STORE_OP_KEY_PUT, .k = k };

	return store_group_done(st, &op, err);
}

int
store_key_put_audit(struct store *st, const struct store_key *k,
    const struct store_event *ev, char err[STORE_ERRLEN])
{
	struct store_op op = { .kind = STORE_OP_KEY_PUT, .k = k, .ev = ev };

	return store_group_done(st, &op, err);
}

int
store_key_get(struct store *st, const char *account, const char *key_id,
    struct store_key *k, char err[STORE_ERRLEN])
{
	return store_sql_key_get(st, account, key_id, k, err);
}

int
store_key_released(struct store *st, const char *account,
    const char *key_id, char err[STORE_ERRLEN])
{
	struct store_op op = { .kind = STORE_OP_KEY_RELEASED,
	    .account = account, .key_id = key_id };

	return store_group_done(st, &op, err);
}

int
store_key_destroy(struct store *st, const char *account, const char *key_id,
    int64_t now, char err[STORE_ERRLEN])
{
	return store_sql_key_destroy(st, account, key_id, now, err);
}

int
store_key_bind(struct store *st, const char *account, const char *key_id,
    const char *repo_id, const char *keyset_id, char err[STORE_ERRLEN])
{
	return store_sql_key_bind(st, account, key_id, repo_id, keyset_id, err);
}

int
store_key_list(struct store *st, const char *account, struct store_key **out,
    size_t *n, char err[STORE_ERRLEN])
{
	return store_sql_key_list(st, account, out, n, err);
}

int
store_audit_add(struct store *st, const struct store_event *ev,
    char err[STORE_ERRLEN])
{
	struct store_op op = { .kind = STORE_OP_AUDIT, .ev = ev };

	return store_group_done(st, &op, err);
}

int
store_audit_release(struct store *st, const struct store_event *ev,
    char err[STORE_ERRLEN])
{
	struct store_op op = { .kind = STORE_OP_AUDIT, .ev = ev,
	    .account = ev->account, .key_id = ev->key_id };

	return store_group_done(st, &op, err);
}

int
store_audit_list(struct store *st, const char *account, int limit,
    struct store_event **out, size_t *n, char err[STORE_ERRLEN])
{
	return store_sql_audit_list(st, account, limit, out, n, err);
}

int
store_failure_add(struct store *st, const char *account, const char *address,
    int64_t now, char err[STORE_ERRLEN])
{
	return store_sql_failure_add(st, account, address, now, err);
}

int
store_failure_count(struct store *st, const char *account,
    const char *address, int64_t since, int *n_account, int64_t *old_account,
    int *n_address, int64_t *old_address, char err[STORE_ERRLEN])
{
	return st->ops->failure_count(st, account, address, since, n_account,
	    old_account, n_address, old_address, err);
}

int
store_failure_reserve(struct store *st, const char *account,
    const char *address, int64_t now, int64_t since, int64_t stale, int limit,
    int64_t *id, struct store_failures *f, char err[STORE_ERRLEN])
{
	*id = 0;
	memset(f, 0, sizeof(*f));
	return st->ops->failure_reserve(st, account, address, now, since,
	    stale, limit, id, f, err);
}

int
store_register_reserve(struct store *st, const char *account,
    const char *address, int64_t now, int64_t since, int64_t stale, int limit,
    int64_t *id, struct store_failures *f, char err[STORE_ERRLEN])
{
	char a[sizeof(STORE_REGISTER_MARK) + STORE_ACCOUNT_MAX];
	char b[sizeof(STORE_REGISTER_MARK) + 64];

	*id = 0;
	memset(f, 0, sizeof(*f));
	if ((size_t)snprintf(a, sizeof(a), "%s%s", STORE_REGISTER_MARK,
	    account) >= sizeof(a) || (size_t)snprintf(b, sizeof(b), "%s%s",
	    STORE_REGISTER_MARK, address) >= sizeof(b)) {
		if (err != NULL)
			snprintf(err, STORE_ERRLEN, "account or address too "
			    "long");
		return STORE_EFAIL;
	}
	return st->ops->failure_reserve(st, a, b, now, since, stale, limit,
	    id, f, err);
}

int
store_failure_confirm(struct store *st, int64_t id, char err[STORE_ERRLEN])
{
	return store_sql_failure_confirm(st, id, err);
}

int
store_failure_cancel(struct store *st, int64_t id, char err[STORE_ERRLEN])
{
	return store_sql_failure_cancel(st, id, err);
}

int
store_expire(struct store *st, int64_t now, int64_t since, int64_t stale,
    int64_t *n_sessions, int64_t *n_failures, char err[STORE_ERRLEN])
{
	*n_sessions = 0;
	*n_failures = 0;
	return store_sql_expire(st, now, since, stale, n_sessions, n_failures,
	    err);
}
