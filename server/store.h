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
 * The writes of deposits and releases (store_key_put, store_key_put_audit,
 * store_key_released, store_audit_add, store_audit_release,
 * store_session_touch) are committed in groups: calls from many threads
 * at once share one transaction and one flush to disk, and each returns
 * only after that commit succeeded; if it failed, every call in it fails
 * (STORE_EFAIL).  A statement failing inside a group rolls the group back
 * and each of its calls is retried alone.  store_commit_stats() counts.
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
#define STORE_DEVICE_MAX	64	/* device name, bytes without NUL */
#define STORE_ADDRESS_MAX	63
#define STORE_REPOID_LEN	32	/* hex chars */
#define STORE_KEYSETID_LEN	16	/* hex chars */
#define STORE_SESSION_ID_LEN	8	/* bytes: the token hash's first 8 */
#define STORE_CODE_HASH_LEN	32	/* a recovery code's hash */
#define STORE_RECOVERY_MAX	16	/* recovery codes per account */

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
	/* Version 2 metadata, "" when unknown (the client's word). */
	char		device[STORE_DEVICE_MAX + 1];
	char		repo_id[STORE_REPOID_LEN + 1];
	char		keyset_id[STORE_KEYSETID_LEN + 1];
};

struct store_event {
	int64_t		time;
	char		account[STORE_ACCOUNT_MAX + 1];	/* "" if none */
	char		address[64];
	char		event[24];		/* "login", "release", ... */
	char		key_id[STORE_KEYID_LEN + 1];	/* "" if none */
	int		ok;			/* 1 ok, 0 refused/failed */
	char		device[STORE_DEVICE_MAX + 1];	/* "" if none */
};

/*
 * A session (docs/PROTOCOL.md §3).  Its id, for listing and revoking, is
 * the first STORE_SESSION_ID_LEN bytes of its hash.  Sessions from before
 * version 2 read as device "unnamed", created 0, never fresh.
 */
struct store_session {
	uint8_t		hash[STORE_TOKEN_HASH_LEN];
	char		account[STORE_ACCOUNT_MAX + 1];
	char		device[STORE_DEVICE_MAX + 1];
	int64_t		created;
	int64_t		expires;
	int64_t		last_used;		/* 0: never */
	char		last_address[STORE_ADDRESS_MAX + 1];
	int64_t		fresh_until;		/* 0: never fresh */
	int		fresh_code;		/* the fresh proof had a code */
};

/* An account's second factor (docs/PROTOCOL.md §3.2, §3.6). */
enum store_totp_state {
	STORE_TOTP_OFF = 0, STORE_TOTP_PENDING = 1, STORE_TOTP_ON = 2
};

struct store_totp {
	int		state;			/* enum store_totp_state */
	uint8_t		blob[STORE_BLOB_MAX];	/* the sealed secret */
	size_t		blob_len;
	int64_t		step;			/* last accepted time step */
};

struct store;

/* store_open(url, &st, err): connect (or create) per ${url}'s scheme. */
int store_open(const char *url, struct store **out, char err[STORE_ERRLEN]);
void store_close(struct store *st);
/* store_ping(st, err): 0 if the database answers (for /healthz). */
int store_ping(struct store *st, char err[STORE_ERRLEN]);

/* Accounts.  A deleted account is ENOTFOUND for every call but create. */
int store_account_create(struct store *st, const char *account,
    const char *pwhash, int64_t now, char err[STORE_ERRLEN]);
int store_account_pwhash(struct store *st, const char *account,
    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN]);
/*
 * store_account_set_pwhash(st, account, pwhash, keep, n, err): a new
 * password hash, and in the same transaction end every session of the
 * account but ${keep} (NULL: all); *n gets the sessions ended.
 */
int store_account_set_pwhash(struct store *st, const char *account,
    const char *pwhash, const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN]);
/*
 * store_account_delete(st, account, now, err): in one transaction, destroy
 * every key of the account as store_key_destroy does, end its sessions,
 * delete its TOTP secret and recovery codes, overwrite its password hash
 * and mark it deleted at ${now}.  The row stays (the name stays taken;
 * store_account_create answers EEXIST), and so do its audit rows.
 * ENOTFOUND if there is no such live account.
 */
int store_account_delete(struct store *st, const char *account,
    int64_t now, char err[STORE_ERRLEN]);

/*
 * Second factor.  store_totp_get fills ${t} (state OFF when none).
 * store_totp_pending: a new pending secret (EEXIST if TOTP is on).
 * store_totp_enable: pending -> on with last step ${step}, and the
 * recovery code hashes ${hashes} (n of them) replace the earlier ones
 * (ENOTFOUND if nothing is pending).  store_totp_disable: off, secret and
 * recovery codes deleted (0 also when it was off).
 * store_totp_step: record ${step} as used if TOTP is on and ${step} is
 * after the last one, atomically (so a code works once on every server
 * sharing the database); ENOTFOUND otherwise.
 * store_recovery_use: delete the recovery code with hash ${hash}; 0 if
 * there was one, ENOTFOUND if not (used, or never).
 */
int store_totp_get(struct store *st, const char *account,
    struct store_totp *t, char err[STORE_ERRLEN]);
int store_totp_pending(struct store *st, const char *account,
    const uint8_t *blob, size_t blob_len, char err[STORE_ERRLEN]);
int store_totp_enable(struct store *st, const char *account, int64_t step,
    const uint8_t (*hashes)[STORE_CODE_HASH_LEN], size_t n,
    char err[STORE_ERRLEN]);
int store_totp_disable(struct store *st, const char *account,
    char err[STORE_ERRLEN]);
int store_totp_step(struct store *st, const char *account, int64_t step,
    char err[STORE_ERRLEN]);
int store_recovery_use(struct store *st, const char *account,
    const uint8_t hash[STORE_CODE_HASH_LEN], char err[STORE_ERRLEN]);

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
/*
 * The same with every field of struct store_session (version 2).
 * store_session_create() is store_session_open() with device "unnamed",
 * created 0, never used, never fresh; store_session_get() is
 * store_session_info() for the account and expiry.
 */
int store_session_open(struct store *st, const struct store_session *s,
    char err[STORE_ERRLEN]);
int store_session_info(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], struct store_session *s,
    char err[STORE_ERRLEN]);
/* Set last_used = ${now}, last_address = ${address}.  ENOTFOUND. */
int store_session_touch(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now,
    const char *address, char err[STORE_ERRLEN]);
/* Set fresh_until and fresh_code.  ENOTFOUND. */
int store_session_fresh(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t fresh_until,
    int fresh_code, char err[STORE_ERRLEN]);
/*
 * The account's sessions with expires > ${now}, most recently used first
 * (then newest first); caller frees *out with free().
 */
int store_session_list(struct store *st, const char *account, int64_t now,
    struct store_session **out, size_t *n, char err[STORE_ERRLEN]);
/*
 * store_session_revoke(st, account, device, id, keep, n, err): delete the
 * account's sessions named ${device} if it is not NULL, else the one whose
 * hash starts with ${id} if that is not NULL, else all of them; never
 * ${keep} (NULL: none kept).  *n gets the sessions deleted (0 is not an
 * error).
 */
int store_session_revoke(struct store *st, const char *account,
    const char *device, const uint8_t id[STORE_SESSION_ID_LEN],
    const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN]);

/* Keys and wrap keys (one id space).  EEXIST if the key id is taken. */
int store_key_put(struct store *st, const struct store_key *k,
    char err[STORE_ERRLEN]);
/*
 * store_key_put_audit(st, k, ev, err): store_key_put(${k}) and
 * store_audit_add(${ev}) in one transaction: both rows or neither
 * (EEXIST: neither).
 */
int store_key_put_audit(struct store *st, const struct store_key *k,
    const struct store_event *ev, char err[STORE_ERRLEN]);
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
 * store_key_bind(st, account, key_id, repo_id, keyset_id, err): record
 * the ids for the account's live wrap key ${key_id} once: 0 if it had none
 * or had these, EEXIST if it has others, ENOTFOUND if it is not a live
 * wrap key of ${account}.
 */
int store_key_bind(struct store *st, const char *account, const char *key_id,
    const char *repo_id, const char *keyset_id, char err[STORE_ERRLEN]);
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
 * store_audit_release(st, ev, err): store_audit_add(${ev}) and, in the same
 * transaction, store_key_released(ev->account, ev->key_id); a key that is
 * gone meanwhile is not counted, and that is not an error.
 */
int store_audit_release(struct store *st, const struct store_event *ev,
    char err[STORE_ERRLEN]);
/*
 * store_commit_stats(st, commits, ops): the group commits made since
 * store_open() (each one transaction) and the calls they held.
 */
void store_commit_stats(struct store *st, uint64_t *commits, uint64_t *ops);
/*
 * store_group_stats(st, s): the group committer's counts since
 * store_open(), for /metrics: the transactions committed and the calls
 * they held (as store_commit_stats), the transactions that failed (begin,
 * a statement or the commit failed: none of their rows were written),
 * the groups of several calls among them that were then retried call by
 * call, and the committed transactions by size: size[i] counts those of
 * at most 2^i calls and more than 2^(i-1) (the last bucket: any more).
 */
#define STORE_GROUP_BUCKETS	8	/* 1, 2, 4, ..., 64, more */
struct store_group_stats {
	uint64_t	commits;
	uint64_t	ops;
	uint64_t	failed;
	uint64_t	split;
	uint64_t	size[STORE_GROUP_BUCKETS];
};
void store_group_stats(struct store *st, struct store_group_stats *s);
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
