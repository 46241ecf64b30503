/* SPDX-License-Identifier: ISC */
/*
 * store_impl: what a store implementation provides (store.c dispatches).
 * Each implementation embeds struct store as its first member and fills
 * in every operation; signatures are those of store.h minus the "store_"
 * prefix.
 */
#ifndef COFFERD_STORE_IMPL_H_
#define COFFERD_STORE_IMPL_H_

#include <stdbool.h>

#include "store.h"

struct store_txn;	/* a backend's open transaction */

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
	int (*session_touch)(struct store *st, struct store_txn *tx,
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
	int (*key_put)(struct store *st, struct store_txn *tx,
	    const struct store_key *k, char err[STORE_ERRLEN]);
	int (*key_get)(struct store *st, const char *account,
	    const char *key_id, struct store_key *k, char err[STORE_ERRLEN]);
	int (*key_released)(struct store *st, struct store_txn *tx,
	    const char *account, const char *key_id, char err[STORE_ERRLEN]);
	int (*key_destroy)(struct store *st, const char *account,
	    const char *key_id, int64_t now, char err[STORE_ERRLEN]);
	int (*key_bind)(struct store *st, const char *account,
	    const char *key_id, const char *repo_id, const char *keyset_id,
	    char err[STORE_ERRLEN]);
	int (*key_list)(struct store *st, const char *account,
	    struct store_key **out, size_t *n, char err[STORE_ERRLEN]);
	int (*audit_add)(struct store *st, struct store_txn *tx,
	    const struct store_event *ev, char err[STORE_ERRLEN]);
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
	/*
	 * Group commit (store_group.c).  txn_begin: a write transaction on
	 * a connection of its own, held until txn_end; *tx is what the
	 * operations above that take a tx run on (tx NULL: alone, in a
	 * transaction of their own, as every other operation).  A
	 * statement failing with STORE_EFAIL may have spoilt the
	 * transaction: the caller then ends it with commit false.
	 * txn_end(commit true): COMMIT; 0 only if it returned success (the
	 * rows are durable), else the transaction is rolled back and
	 * STORE_EFAIL returned.  txn_end(commit false): ROLLBACK, 0.
	 * Either way the connection is given back.
	 */
	int (*txn_begin)(struct store *st, struct store_txn **tx,
	    char err[STORE_ERRLEN]);
	int (*txn_end)(struct store *st, struct store_txn *tx, bool commit,
	    char err[STORE_ERRLEN]);
	unsigned int txn_max;	/* group transactions open at once, >= 1 */
};

struct store {
	const struct store_ops *ops;
	struct store_group *group;	/* store_open() sets it */
};

/*
 * store_group_new(), store_group_free(g): the group committer of a store
 * (store_group.c).  store_group_run(st, op): queue ${op}, wait until the
 * transaction holding it has committed or failed, and return op->r.
 * While one thread commits a group, the operations that arrive meanwhile
 * queue up and the next of their threads commits them all together.
 */
enum store_op_kind {
	STORE_OP_KEY_PUT = 1,	/* key, then audit row if ev */
	STORE_OP_AUDIT,		/* audit row, then releases + 1 if key_id */
	STORE_OP_KEY_RELEASED,
	STORE_OP_TOUCH,
};

struct store_op {
	enum store_op_kind	 kind;
	const struct store_key	*k;
	const struct store_event *ev;
	const char		*account;
	const char		*key_id;
	const uint8_t		*hash;
	int64_t			 now;
	const char		*address;
	/* Filled in by store_group_run. */
	int			 r;
	char			 err[STORE_ERRLEN];
	bool			 done;
	struct store_op		*next;
};

/*
 * store_seterr(err, fmt, ...): the one-line reason into ${err}
 * (STORE_ERRLEN bytes; nothing if ${err} is NULL), for every backend.
 */
void store_seterr(char err[STORE_ERRLEN], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct store_group *store_group_new(void);
void store_group_free(struct store_group *g);
int store_group_run(struct store *st, struct store_op *op);

/* store_expire deletes at most this many rows per statement. */
#define STORE_EXPIRE_BATCH	1000

/* "sqlite:" + path; the path's directory must exist. */
int store_sqlite_open(const char *path, struct store **out,
    char err[STORE_ERRLEN]);
/* A libpq connection string or URI ("postgres://..."). */
int store_pg_open(const char *conninfo, struct store **out,
    char err[STORE_ERRLEN]);

#endif /* !COFFERD_STORE_IMPL_H_ */
