/* SPDX-License-Identifier: ISC */
/*
 * store: cofferd's database behind one small interface (docs/PROTOCOL.md).
 *
 * Two implementations: SQLite (store_sqlite.c; "sqlite:/path/file.db",
 * created on first open, WAL, synchronous=FULL) and PostgreSQL
 * (store_pg.c; "postgres://..." or "postgresql://...", libpq).  Both
 * create their tables if absent.  Every function may be called from any
 * thread at once; an implementation serialises or pools connections
 * itself.  Every write is durable (committed) when the function returns 0.
 *
 * Return values: 0 ok, or one of the STORE_E* codes.  Functions that can
 * fail write a one-line reason into ${err} (STORE_ERRLEN bytes, may be
 * NULL) that never contains secrets.
 */
#ifndef COFFERD_STORE_H_
#define COFFERD_STORE_H_

#include <stddef.h>
#include <stdint.h>

#define STORE_ERRLEN		256
#define STORE_ACCOUNT_MAX	128	/* bytes, without NUL */
#define STORE_KEYID_LEN		32	/* hex chars, without NUL */
#define STORE_LABEL_MAX		128
#define STORE_PWHASH_MAX	128	/* crypto_pwhash_STRBYTES */
#define STORE_BLOB_MAX		256	/* encrypted key material */
#define STORE_TOKEN_HASH_LEN	32
#define STORE_PUBKEY_LEN	32

enum store_errcode {
	STORE_OK	= 0,
	STORE_ENOTFOUND	= -1,	/* no such row (or not this account's) */
	STORE_EEXIST	= -2,	/* unique key taken */
	STORE_EFAIL	= -3,	/* the database failed; see err */
	STORE_ELIMIT	= -4,	/* store_failure_reserve: refused */
	STORE_EBUSY	= -5,	/* store_failure_reserve: try again soon */
};

enum store_key_kind { STORE_KIND_KEY = 1, STORE_KIND_WRAP = 2 };

struct store_key {
	char		key_id[STORE_KEYID_LEN + 1];
	char		account[STORE_ACCOUNT_MAX + 1];
	int		kind;			/* enum store_key_kind */
	char		label[STORE_LABEL_MAX + 1];
	int64_t		created;		/* Unix seconds */
	int64_t		destroyed;		/* 0: live */
	int64_t		releases;		/* releases + unwraps */
	uint8_t		pub[STORE_PUBKEY_LEN];	/* wrap keys only */
	uint8_t		blob[STORE_BLOB_MAX];	/* encrypted; empty if destroyed */
	size_t		blob_len;
};

struct store_event {
	int64_t		time;
	char		account[STORE_ACCOUNT_MAX + 1];	/* "" if none */
	char		address[64];
	char		event[24];		/* "login", "release", ... */
	char		key_id[STORE_KEYID_LEN + 1];	/* "" if none */
	int		ok;			/* 1 ok, 0 refused/failed */
};

struct store;

/* store_open(url, &st, err): connect (or create) per ${url}'s scheme. */
int store_open(const char *url, struct store **out, char err[STORE_ERRLEN]);
void store_close(struct store *st);
/* store_ping(st, err): 0 if the database answers (for /healthz). */
int store_ping(struct store *st, char err[STORE_ERRLEN]);

/* Accounts. */
int store_account_create(struct store *st, const char *account,
    const char *pwhash, int64_t now, char err[STORE_ERRLEN]);
int store_account_pwhash(struct store *st, const char *account,
    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN]);

/* Sessions, by the BLAKE2b-256 hash of the token. */
int store_session_create(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], const char *account,
    int64_t expires, char err[STORE_ERRLEN]);
/* ENOTFOUND if absent; an expired session is returned, caller checks. */
int store_session_get(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN],
    char account[STORE_ACCOUNT_MAX + 1], int64_t *expires,
    char err[STORE_ERRLEN]);
int store_session_delete(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], char err[STORE_ERRLEN]);

/* Keys and wrap keys (one id space).  EEXIST if the key id is taken. */
int store_key_put(struct store *st, const struct store_key *k,
    char err[STORE_ERRLEN]);
/* ENOTFOUND unless ${key_id} exists AND belongs to ${account}. */
int store_key_get(struct store *st, const char *account, const char *key_id,
    struct store_key *k, char err[STORE_ERRLEN]);
/* Count a release/unwrap. */
int store_key_released(struct store *st, const char *account,
    const char *key_id, char err[STORE_ERRLEN]);
/*
 * Overwrite the blob (zero length) and set destroyed = ${now}.
 * ENOTFOUND as store_key_get; 0 also if it was already destroyed.
 */
int store_key_destroy(struct store *st, const char *account,
    const char *key_id, int64_t now, char err[STORE_ERRLEN]);
/*
 * The account's keys, oldest first, blobs not filled in; caller frees
 * *out with free() (*out may be NULL when *n is 0).
 */
int store_key_list(struct store *st, const char *account,
    struct store_key **out, size_t *n, char err[STORE_ERRLEN]);

/* Audit log.  store_audit_add must be durable before it returns 0. */
int store_audit_add(struct store *st, const struct store_event *ev,
    char err[STORE_ERRLEN]);
/*
 * The account's newest ${limit} events, newest first; caller frees *out
 * with free().
 */
int store_audit_list(struct store *st, const char *account, int limit,
    struct store_event **out, size_t *n, char err[STORE_ERRLEN]);

/*
 * Failed logins (rate limiting, docs/PROTOCOL.md §4).  A row is a failed
 * login (account tried, source address, time) or a reservation: a login
 * whose password is being checked, which counts as a failure until it
 * ends.  A reservation older than the caller's ${stale} time counts as a
 * failure for good (its server died during the check: fail safe).
 *
 * cofferd uses store_failure_reserve() before the password check, then
 * store_failure_confirm() if the password was wrong or
 * store_failure_cancel() if it was right.  store_failure_add() and
 * store_failure_count() remain for tests and tools.
 */
struct store_failures {
	int		n_account;	/* failures of the account */
	int		p_account;	/* its reservations (not stale) */
	int64_t		old_account;	/* oldest time of either; 0: none */
	int		n_address;	/* the same for the address */
	int		p_address;
	int64_t		old_address;
};

/* Record a failure at ${now} (not a reservation). */
int store_failure_add(struct store *st, const char *account,
    const char *address, int64_t now, char err[STORE_ERRLEN]);
/*
 * Failures and reservations since ${since}: *n_account for ${account},
 * *n_address for ${address}, and the oldest time of each (0 if none).
 * Also deletes rows older than ${since}.
 */
int store_failure_count(struct store *st, const char *account,
    const char *address, int64_t since, int *n_account, int64_t *old_account,
    int *n_address, int64_t *old_address, char err[STORE_ERRLEN]);
/*
 * store_failure_reserve(st, account, address, now, since, stale, limit,
 *     id, f, err):
 * Atomically with respect to every other call on the same database, from
 * this process or any other: count the rows of ${account} and of
 * ${address} with time >= ${since} into ${f} (reservations with time <
 * ${stale} as failures), and then
 *   - if either has ${limit} failures: STORE_ELIMIT (the login is
 *     refused; ${f} says why and since when);
 *   - else if failures and reservations together reach ${limit} for
 *     either: STORE_EBUSY (logins in progress may use up the limit; try
 *     again when they have ended);
 *   - else insert a reservation at ${now}, set *id to its id (> 0) and
 *     return 0.
 * ${f} holds the counts before the insert in every case but STORE_EFAIL.
 * The serialised part is short and never waits for the caller, so
 * reservations of one account or address from many threads and servers
 * are at most ${limit} at any time.  Also deletes rows older than
 * ${since}.  *id is 0 unless 0 is returned.
 */
int store_failure_reserve(struct store *st, const char *account,
    const char *address, int64_t now, int64_t since, int64_t stale, int limit,
    int64_t *id, struct store_failures *f, char err[STORE_ERRLEN])
    __attribute__((warn_unused_result));
/*
 * store_register_reserve(st, account, address, now, since, stale, limit,
 *     id, f, err):
 * store_failure_reserve() for a registration attempt of ${account} from
 * ${address}: registrations are counted in the failures table, apart
 * from logins, as rows whose account and address carry the prefix
 * STORE_REGISTER_MARK (a control character, which no account name and
 * no address has), so they share its atomicity, its window and its
 * expiry, and neither count meets the other.  Settle ${id} with
 * store_failure_confirm() (cofferd counts every attempt).
 */
#define STORE_REGISTER_MARK	"\001register "
int store_register_reserve(struct store *st, const char *account,
    const char *address, int64_t now, int64_t since, int64_t stale, int limit,
    int64_t *id, struct store_failures *f, char err[STORE_ERRLEN])
    __attribute__((warn_unused_result));
/*
 * store_failure_confirm(st, id, err): the reservation ${id} was a failed
 * login; it stays as one.  ENOTFOUND if ${id} is not a reservation.
 */
int store_failure_confirm(struct store *st, int64_t id,
    char err[STORE_ERRLEN]);
/*
 * store_failure_cancel(st, id, err): the login of reservation ${id}
 * succeeded; delete the reservation (and nothing else: earlier failures
 * stay).  ENOTFOUND if ${id} is not a reservation.
 */
int store_failure_cancel(struct store *st, int64_t id,
    char err[STORE_ERRLEN]);

/*
 * store_expire(st, now, since, stale, n_sessions, n_failures, err):
 * delete the sessions that have expired at ${now} (expires <= ${now}) and
 * the failure rows older than ${since} (time < ${since}), except
 * reservations made at ${stale} or later (logins still being checked);
 * with ${stale} >= ${since}, as cofferd calls it, that is exactly the
 * rows store_failure_reserve() deletes.  Audit rows are never deleted.
 * Works in short batches, so logins are never held up for long;
 * *n_sessions and *n_failures get the rows deleted (also on failure: the
 * batches committed before it).
 */
int store_expire(struct store *st, int64_t now, int64_t since, int64_t stale,
    int64_t *n_sessions, int64_t *n_failures, char err[STORE_ERRLEN]);

#endif /* !COFFERD_STORE_H_ */
