/* SPDX-License-Identifier: ISC */
/*
 * store_impl: what a store implementation provides (store.c dispatches).
 * Each implementation embeds struct store as its first member and fills
 * in every operation; signatures are those of store.h minus the "store_"
 * prefix.
 */
#ifndef COFFERD_STORE_IMPL_H_
#define COFFERD_STORE_IMPL_H_

#include "store.h"

struct store_ops {
	const char *name;	/* "sqlite", "postgres" */
	void (*close)(struct store *st);
	int (*ping)(struct store *st, char err[STORE_ERRLEN]);
	int (*account_create)(struct store *st, const char *account,
	    const char *pwhash, int64_t now, char err[STORE_ERRLEN]);
	int (*account_pwhash)(struct store *st, const char *account,
	    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN]);
	int (*account_set_pwhash)(struct store *st, const char *account,
	    const char *pwhash, const uint8_t keep[STORE_TOKEN_HASH_LEN],
	    int64_t *n, char err[STORE_ERRLEN]);
	int (*account_delete)(struct store *st, const char *account,
	    int64_t now, char err[STORE_ERRLEN]);
	int (*totp_get)(struct store *st, const char *account,
	    struct store_totp *t, char err[STORE_ERRLEN]);
	int (*totp_pending)(struct store *st, const char *account,
	    const uint8_t *blob, size_t blob_len, char err[STORE_ERRLEN]);
	int (*totp_enable)(struct store *st, const char *account,
	    int64_t step, const uint8_t (*hashes)[STORE_CODE_HASH_LEN],
	    size_t n, char err[STORE_ERRLEN]);
	int (*totp_disable)(struct store *st, const char *account,
	    char err[STORE_ERRLEN]);
	int (*totp_step)(struct store *st, const char *account, int64_t step,
	    char err[STORE_ERRLEN]);
	int (*recovery_use)(struct store *st, const char *account,
	    const uint8_t hash[STORE_CODE_HASH_LEN], char err[STORE_ERRLEN]);
	int (*session_open)(struct store *st, const struct store_session *s,
	    char err[STORE_ERRLEN]);
	int (*session_info)(struct store *st,
	    const uint8_t hash[STORE_TOKEN_HASH_LEN], struct store_session *s,
	    char err[STORE_ERRLEN]);
	int (*session_touch)(struct store *st,
	    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now,
	    const char *address, char err[STORE_ERRLEN]);
	int (*session_fresh)(struct store *st,
	    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t fresh_until,
	    int fresh_code, char err[STORE_ERRLEN]);
	int (*session_list)(struct store *st, const char *account,
	    int64_t now, struct store_session **out, size_t *n,
	    char err[STORE_ERRLEN]);
	int (*session_revoke)(struct store *st, const char *account,
	    const char *device, const uint8_t id[STORE_SESSION_ID_LEN],
	    const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
	    char err[STORE_ERRLEN]);
	int (*session_delete)(struct store *st,
	    const uint8_t hash[STORE_TOKEN_HASH_LEN], char err[STORE_ERRLEN]);
	int (*key_put)(struct store *st, const struct store_key *k,
	    char err[STORE_ERRLEN]);
	int (*key_get)(struct store *st, const char *account,
	    const char *key_id, struct store_key *k, char err[STORE_ERRLEN]);
	int (*key_released)(struct store *st, const char *account,
	    const char *key_id, char err[STORE_ERRLEN]);
	int (*key_destroy)(struct store *st, const char *account,
	    const char *key_id, int64_t now, char err[STORE_ERRLEN]);
	int (*key_bind)(struct store *st, const char *account,
	    const char *key_id, const char *repo_id, const char *keyset_id,
	    char err[STORE_ERRLEN]);
	int (*key_list)(struct store *st, const char *account,
	    struct store_key **out, size_t *n, char err[STORE_ERRLEN]);
	int (*audit_add)(struct store *st, const struct store_event *ev,
	    char err[STORE_ERRLEN]);
	int (*audit_list)(struct store *st, const char *account, int limit,
	    struct store_event **out, size_t *n, char err[STORE_ERRLEN]);
	int (*failure_add)(struct store *st, const char *account,
	    const char *address, int64_t now, char err[STORE_ERRLEN]);
	int (*failure_count)(struct store *st, const char *account,
	    const char *address, int64_t since, int *n_account,
	    int64_t *old_account, int *n_address, int64_t *old_address,
	    char err[STORE_ERRLEN]);
	int (*failure_reserve)(struct store *st, const char *account,
	    const char *address, int64_t now, int64_t since, int64_t stale,
	    int limit, int64_t *id, struct store_failures *f,
	    char err[STORE_ERRLEN]);
	int (*failure_confirm)(struct store *st, int64_t id,
	    char err[STORE_ERRLEN]);
	int (*failure_cancel)(struct store *st, int64_t id,
	    char err[STORE_ERRLEN]);
	int (*expire)(struct store *st, int64_t now, int64_t since,
	    int64_t stale, int64_t *n_sessions, int64_t *n_failures,
	    char err[STORE_ERRLEN]);
};

struct store {
	const struct store_ops *ops;
};

/* store_expire deletes at most this many rows per statement. */
#define STORE_EXPIRE_BATCH	1000

/* "sqlite:" + path; the path's directory must exist. */
int store_sqlite_open(const char *path, struct store **out,
    char err[STORE_ERRLEN]);
/* A libpq connection string or URI ("postgres://..."). */
int store_pg_open(const char *conninfo, struct store **out,
    char err[STORE_ERRLEN]);

#endif /* !COFFERD_STORE_IMPL_H_ */
