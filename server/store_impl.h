/* SPDX-License-Identifier: ISC */
/*
 * store_impl: what a store implementation provides.  Each implementation
 * embeds struct store as its first member and fills in struct store_ops:
 * its connections and transactions, run() (one statement) and the few
 * operations that lean on its own locking (login reservations and
 * counts); signatures are those of store.h minus the "store_" prefix.
 * Every other operation is written once, in store_sql.c, over run() and
 * the transactions; store.c calls it.
 */
#ifndef COFFERD_STORE_IMPL_H_
#define COFFERD_STORE_IMPL_H_

#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "store.h"

struct store_txn;	/* a backend's open transaction */

/*
 * The statement interface each backend provides; the operations are
 * written once over it (store_sql.c).  A statement's text is the same for
 * both dialects where they agree: parameters $1, $2, ... (SQLite reads
 * them as ?1, ?2, ...), and PostgreSQL's own text where they do not.
 */
struct store_sql {
	const char	*what;		/* for error messages: "key put" */
	const char	*sql;		/* both dialects, or SQLite's (NULL:
					 * only PostgreSQL runs it) */
	const char	*pg;		/* PostgreSQL's, if not ${sql};
					 * "": none, skip it there */
	bool		 ro;		/* only reads: any connection will do */
	bool		 retry;		/* harmless twice (reads, deletes) */
};

/* A parameter.  TEXT and BLOB with p NULL are SQL NULL. */
enum store_vtype {
	STORE_V_TEXT = 1,	/* p: NUL-terminated */
	STORE_V_BLOB,		/* p, len */
	STORE_V_INT4,		/* i; PostgreSQL integer */
	STORE_V_INT8,		/* i; PostgreSQL bigint */
	STORE_V_BOOL,		/* i != 0; PostgreSQL boolean, SQLite 0/1 */
};

struct store_val {
	enum store_vtype type;
	const void	*p;
	size_t		 len;
	int64_t		 i;
};

/*
 * A result row as a backend hands it over, valid during the callback
 * only: each column NULL, an integer (integer and boolean columns), or
 * bytes (text without NUL, blobs).
 */
#define STORE_COL_MAX	16
struct store_col {
	bool		 null;
	bool		 isint;
	int64_t		 i;
	const uint8_t	*p;
	size_t		 len;
};

struct store_row {
	int		 ncol;
	struct store_col col[STORE_COL_MAX];
};

/* Called for each row; a non-zero return stops the statement. */
typedef int store_row_cb(const struct store_row *row, void *cookie,
    char err[STORE_ERRLEN]);

struct store_ops {
	const char *name;	/* "sqlite", "postgres" */
	void (*close)(struct store *st);
	int (*failure_count)(struct store *st, const char *account,
	    const char *address, int64_t since, int *n_account,
	    int64_t *old_account, int *n_address, int64_t *old_address,
	    char err[STORE_ERRLEN]);
	int (*failure_reserve)(struct store *st, const char *account,
	    const char *address, int64_t now, int64_t since, int64_t stale,
	    int limit, int64_t *id, struct store_failures *f,
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
	/*
	 * Pipelined groups (NULL if the backend has none; store_group.c then
	 * runs a group statement by statement between txn_begin and
	 * txn_end).  pipe_begin: as txn_begin, but the statements run on
	 * *tx are sent, not waited for.  Before each operation of the
	 * group (${n} of them), pipe_next(tx); each operation runs at most
	 * one statement, without rows to read (anything else fails).  pipe_sync(st, tx, err): send COMMIT (or
	 * ROLLBACK if a statement could not be sent), wait once for every
	 * answer, and replay: from here on pipe_next(tx) and the same
	 * operations in the same order get their statements' real results.
	 * Its result is the COMMIT's: 0 only if it committed.  txn_end then
	 * gives the connection back; its result is again the COMMIT's
	 * (commit true), or 0 (false: nothing more to roll back).
	 */
	int (*pipe_begin)(struct store *st, struct store_txn **tx, size_t n,
	    char err[STORE_ERRLEN]);
	void (*pipe_next)(struct store_txn *tx);
	int (*pipe_sync)(struct store *st, struct store_txn *tx,
	    char err[STORE_ERRLEN]);
	/*
	 * run(st, tx, q, v, nv, cb, cookie, changes, err): run ${q} with the
	 * ${nv} parameters ${v} ($1 is v[0]), alone (${tx} NULL: in a
	 * transaction of its own, on a read-only connection if q->ro) or
	 * inside ${tx}; cb(row, cookie, err) for each row it returns (${cb}
	 * may be NULL); *changes (if not NULL) gets the rows it inserted,
	 * updated or deleted.  0, the callback's non-zero return, or
	 * STORE_EFAIL (a unique key taken too: the statements that may meet
	 * one say ON CONFLICT DO NOTHING and count the changes).
	 */
	int (*run)(struct store *st, struct store_txn *tx,
	    const struct store_sql *q, const struct store_val *v, int nv,
	    store_row_cb *cb, void *cookie, int64_t *changes,
	    char err[STORE_ERRLEN]);
	bool pg;		/* the dialect: PostgreSQL's text (q->pg) */
	/*
	 * scrub(st), if not NULL: after a destroy has committed, move the
	 * overwritten pages out of the database's log (SQLite's WAL).
	 */
	void (*scrub)(struct store *st);
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
	atomic_bool		 done;
	struct store_op		*next;
	sem_t			*wake;	/* its thread waits on it */
	atomic_uint		 wakes;	/* posts to ${wake} promised, not
					   yet taken: it lives until 0 */
};

/*
 * store_seterr(err, fmt, ...): the one-line reason into ${err}
 * (STORE_ERRLEN bytes; nothing if ${err} is NULL), for every backend.
 */
void store_seterr(char err[STORE_ERRLEN], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The operations written once for both backends (store_sql.c), as in
 * store.h; those with ${tx} run in a group commit's transaction (NULL:
 * alone).
 */
int store_sql_ping(struct store *st, char err[STORE_ERRLEN]);
int store_sql_account_create(struct store *st, const char *account,
    const char *pwhash, int64_t now, char err[STORE_ERRLEN]);
int store_sql_account_pwhash(struct store *st, const char *account,
    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN]);
int store_sql_session_open(struct store *st, const struct store_session *s,
    char err[STORE_ERRLEN]);
int store_sql_session_info(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], struct store_session *s,
    char err[STORE_ERRLEN]);
int store_sql_session_delete(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], char err[STORE_ERRLEN]);
int store_sql_session_touch(struct store *st, struct store_txn *tx,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now, const char *address,
    char err[STORE_ERRLEN]);
int store_sql_session_fresh(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t fresh_until,
    int fresh_code, char err[STORE_ERRLEN]);
int store_sql_session_list(struct store *st, const char *account, int64_t now,
    struct store_session **out, size_t *n, char err[STORE_ERRLEN]);
int store_sql_session_revoke(struct store *st, const char *account,
    const char *device, const uint8_t id[STORE_SESSION_ID_LEN],
    const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN]);
int store_sql_key_put(struct store *st, struct store_txn *tx,
    const struct store_key *k, char err[STORE_ERRLEN]);
int store_sql_key_get(struct store *st, const char *account, const char *key_id,
    struct store_key *k, char err[STORE_ERRLEN]);
int store_sql_key_released(struct store *st, struct store_txn *tx,
    const char *account, const char *key_id, char err[STORE_ERRLEN]);
int store_sql_key_list(struct store *st, const char *account,
    struct store_key **out, size_t *n, char err[STORE_ERRLEN]);
int store_sql_audit_add(struct store *st, struct store_txn *tx,
    const struct store_event *ev, char err[STORE_ERRLEN]);
int store_sql_key_put_audit(struct store *st, struct store_txn *tx,
    const struct store_key *k, const struct store_event *ev,
    char err[STORE_ERRLEN]);
int store_sql_audit_release(struct store *st, struct store_txn *tx,
    const struct store_event *ev, const char *account, const char *key_id,
    char err[STORE_ERRLEN]);
int store_sql_audit_list(struct store *st, const char *account, int limit,
    struct store_event **out, size_t *n, char err[STORE_ERRLEN]);
int store_sql_failure_add(struct store *st, const char *account,
    const char *address, int64_t now, char err[STORE_ERRLEN]);
int store_sql_failure_confirm(struct store *st, int64_t id,
    char err[STORE_ERRLEN]);
int store_sql_failure_cancel(struct store *st, int64_t id,
    char err[STORE_ERRLEN]);
int store_sql_account_set_pwhash(struct store *st, const char *account,
    const char *pwhash, const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN]);
int store_sql_account_delete(struct store *st, const char *account, int64_t now,
    char err[STORE_ERRLEN]);
int store_sql_totp_get(struct store *st, const char *account,
    struct store_totp *t, char err[STORE_ERRLEN]);
int store_sql_totp_pending(struct store *st, const char *account,
    const uint8_t *blob, size_t blob_len, char err[STORE_ERRLEN]);
int store_sql_totp_enable(struct store *st, const char *account, int64_t step,
    const uint8_t (*hashes)[STORE_CODE_HASH_LEN], size_t n,
    char err[STORE_ERRLEN]);
int store_sql_totp_disable(struct store *st, const char *account,
    char err[STORE_ERRLEN]);
int store_sql_totp_step(struct store *st, const char *account, int64_t step,
    char err[STORE_ERRLEN]);
int store_sql_recovery_use(struct store *st, const char *account,
    const uint8_t hash[STORE_CODE_HASH_LEN], char err[STORE_ERRLEN]);
int store_sql_key_bind(struct store *st, const char *account,
    const char *key_id, const char *repo_id, const char *keyset_id,
    char err[STORE_ERRLEN]);
int store_sql_key_destroy(struct store *st, const char *account,
    const char *key_id, int64_t now, char err[STORE_ERRLEN]);
int store_sql_expire(struct store *st, int64_t now, int64_t since,
    int64_t stale, int64_t *n_sessions, int64_t *n_failures,
    char err[STORE_ERRLEN]);

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
