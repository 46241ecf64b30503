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
	int (*session_create)(struct store *st,
	    const uint8_t hash[STORE_TOKEN_HASH_LEN], const char *account,
	    int64_t expires, char err[STORE_ERRLEN]);
	int (*session_get)(struct store *st,
	    const uint8_t hash[STORE_TOKEN_HASH_LEN],
	    char account[STORE_ACCOUNT_MAX + 1], int64_t *expires,
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
