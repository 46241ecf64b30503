/* SPDX-License-Identifier: ISC */
/*
 * store_sqlite: the SQLite store ("sqlite:/path/file.db").
 *
 * One writer connection, guarded by a mutex: cofferd's requests are short
 * and SQLite serialises writers anyway (store_group.c puts concurrent
 * writes in one transaction); the calls that only read use read-only
 * connections (struct store_sqlite below).  WAL with synchronous=FULL, so a
 * function that returned 0 has its commit on disk; secure_delete, so a
 * destroyed key's ciphertext is overwritten with zeros in the file, and a
 * WAL checkpoint after each destroy so that no older copy of the page
 * stays in the WAL.  Every statement binds its parameters.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store_impl.h"

#define SQLITE_BUSY_MS	10000
#define SQ_READERS	4	/* read-only connections */

/*
 * The store is its writer connection (every write, and every read that
 * must see its own transaction) and SQ_READERS read-only connections,
 * each a struct store_sqlite of its own (base.ops NULL), for the calls
 * that only read: in WAL mode they read the last commit while the
 * writer is in the middle of the next one (a group commit's flush), and
 * every write was committed before its call returned, so a read after
 * it sees it.
 */
struct store_sqlite {
	struct store	 base;		/* first: store.c casts */
	sqlite3		*db;
	pthread_mutex_t	 mu;
	struct store_sqlite *rd[SQ_READERS];
	unsigned int	 rnext;
};

static const char sqlite_schema[] =
    "CREATE TABLE IF NOT EXISTS accounts ("
    " account TEXT PRIMARY KEY NOT NULL,"
    " pwhash TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions ("
    " hash BLOB PRIMARY KEY NOT NULL,"
    " account TEXT NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires);"
    "CREATE TABLE IF NOT EXISTS keys ("
    " key_id TEXT PRIMARY KEY NOT NULL,"
    " account TEXT NOT NULL,"
    " kind INTEGER NOT NULL,"
    " label TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL,"
    " destroyed INTEGER NOT NULL DEFAULT 0,"
    " releases INTEGER NOT NULL DEFAULT 0,"
    " pub BLOB,"
    " blob BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS keys_account ON keys(account, created);"
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time INTEGER NOT NULL,"
    " account TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " key_id TEXT NOT NULL,"
    " ok INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_account ON audit(account, id);"
    "CREATE TABLE IF NOT EXISTS failures ("
    " id INTEGER PRIMARY KEY,"
    " account TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " time INTEGER NOT NULL,"
    " pending INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS failures_account ON failures(account, time);"
    "CREATE INDEX IF NOT EXISTS failures_address ON failures(address, time);"
    "CREATE INDEX IF NOT EXISTS failures_time ON failures(time);";

/*
 * Version 2 added failures.pending (login reservations).  A version 1
 * file gets the column; the test is the column, not user_version, which
 * an older cofferd opening the file sets back to 1.  Version 3 (protocol
 * version 2) added the columns of sq_columns and the recovery table, the
 * same way.
 */
#define SQLITE_SCHEMA_VERSION	3
static const struct {
	const char	*table, *column, *decl;
} sq_columns[] = {
	{ "accounts", "deleted", "INTEGER NOT NULL DEFAULT 0" },
	{ "accounts", "totp_state", "INTEGER NOT NULL DEFAULT 0" },
	{ "accounts", "totp_blob", "BLOB" },
	{ "accounts", "totp_step", "INTEGER NOT NULL DEFAULT 0" },
	{ "sessions", "device", "TEXT NOT NULL DEFAULT 'unnamed'" },
	{ "sessions", "created", "INTEGER NOT NULL DEFAULT 0" },
	{ "sessions", "last_used", "INTEGER NOT NULL DEFAULT 0" },
	{ "sessions", "last_address", "TEXT NOT NULL DEFAULT ''" },
	{ "sessions", "fresh_until", "INTEGER NOT NULL DEFAULT 0" },
	{ "sessions", "fresh_code", "INTEGER NOT NULL DEFAULT 0" },
	{ "keys", "device", "TEXT NOT NULL DEFAULT ''" },
	{ "keys", "repo_id", "TEXT NOT NULL DEFAULT ''" },
	{ "keys", "keyset_id", "TEXT NOT NULL DEFAULT ''" },
	{ "audit", "device", "TEXT NOT NULL DEFAULT ''" },
};
static const char sqlite_schema3[] =
    "CREATE TABLE IF NOT EXISTS recovery ("
    " account TEXT NOT NULL,"
    " hash BLOB NOT NULL,"
    " PRIMARY KEY (account, hash));"
    "CREATE INDEX IF NOT EXISTS sessions_account ON sessions(account);";
static const char sqlite_has_pending[] =
    "SELECT count(*) FROM pragma_table_info('failures')"
    " WHERE name = 'pending'";
static const char sqlite_add_pending[] =
    "ALTER TABLE failures ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;";

static struct store_sqlite *
sq(struct store *st)
{
	return (struct store_sqlite *)st;
}

/* Report the connection's last error for ${what}; return STORE_EFAIL. */
/*
 * The connection's lock, for an operation alone (${tx} NULL); one inside
 * a group commit runs under the lock its sq_txn_begin() took.
 */
static void
sq_lock(struct store_sqlite *s, const struct store_txn *tx)
{
	if (tx == NULL)
		pthread_mutex_lock(&s->mu);
}

static void
sq_unlock(struct store_sqlite *s, const struct store_txn *tx)
{
	if (tx == NULL)
		pthread_mutex_unlock(&s->mu);
}

static int
sq_fail(struct store_sqlite *s, const char *what, char err[STORE_ERRLEN])
{
	store_seterr(err, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
	return STORE_EFAIL;
}

/* Prepare ${sql} on the locked connection; 0 or STORE_EFAIL. */
static int
sq_prepare(struct store_sqlite *s, const char *sql, sqlite3_stmt **stmt,
    char err[STORE_ERRLEN])
{
	*stmt = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return sq_fail(s, "prepare", err);
	return 0;
}

static int
sq_bind_text(sqlite3_stmt *stmt, int i, const char *v)
{
	return sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC);
}

/* Copy text column ${i} into ${dst} (${cap} bytes with the NUL). */
static void
sq_col_text(sqlite3_stmt *stmt, int i, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(stmt, i);
	int n = sqlite3_column_bytes(stmt, i);

	if (t == NULL || n < 0)
		n = 0;
	if ((size_t)n >= cap)
		n = (int)cap - 1;
	if (n > 0)
		memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
}

/* Run ${sql} (no parameters, no rows) on the locked connection. */
static int
sq_exec(struct store_sqlite *s, const char *sql, char err[STORE_ERRLEN])
{
	char *msg = NULL;
	int r;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	store_seterr(err, "sqlite: %s", msg != NULL ? msg :
	    sqlite3_errmsg(s->db));
	r = STORE_EFAIL;
	sqlite3_free(msg);
	return r;
}

/*
 * A connection for a call that only reads (round robin); the writer for
 * a database in memory, which no other connection can open.
 */
static struct store_sqlite *
sq_reader(struct store *st)
{
	struct store_sqlite *s = sq(st);
	unsigned int i;

	if (s->rd[0] == NULL)
		return s;
	i = __atomic_fetch_add(&s->rnext, 1, __ATOMIC_RELAXED);
	return s->rd[i % SQ_READERS];
}

static void
sq_close(struct store *st)
{
	struct store_sqlite *s = sq(st);
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < SQ_READERS; i++)
		if (s->rd[i] != NULL)
			sq_close(&s->rd[i]->base);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int
sq_ping(struct store *st, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT count(*) FROM accounts", &stmt,
	    err)) != 0)
		goto out;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		r = sq_fail(s, "ping", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_account_create(struct store *st, const char *account, const char *pwhash,
    int64_t now, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r, rc;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "INSERT INTO accounts (account, pwhash, "
	    "created) VALUES (?, ?, ?)", &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, account);
	sq_bind_text(stmt, 2, pwhash);
	sqlite3_bind_int64(stmt, 3, now);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		store_seterr(err, "account exists");
		r = STORE_EEXIST;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		r = sq_fail(s, "account create", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_account_pwhash(struct store *st, const char *account,
    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq_reader(st);
	sqlite3_stmt *stmt = NULL;
	int r, rc;

	pwhash[0] = '\0';
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT pwhash FROM accounts WHERE account = ? "
	    "AND deleted = 0",
	    &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, account);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = sq_fail(s, "account lookup", err);
		goto out;
	}
	sq_col_text(stmt, 0, pwhash, STORE_PWHASH_MAX + 1);
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_session_open(struct store *st, const struct store_session *ss,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r, rc;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "INSERT INTO sessions (hash, account, expires, "
	    "device, created, last_used, last_address, fresh_until, "
	    "fresh_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &stmt,
	    err)) != 0)
		goto out;
	sqlite3_bind_blob(stmt, 1, ss->hash, STORE_TOKEN_HASH_LEN,
	    SQLITE_STATIC);
	sq_bind_text(stmt, 2, ss->account);
	sqlite3_bind_int64(stmt, 3, ss->expires);
	sq_bind_text(stmt, 4, ss->device);
	sqlite3_bind_int64(stmt, 5, ss->created);
	sqlite3_bind_int64(stmt, 6, ss->last_used);
	sq_bind_text(stmt, 7, ss->last_address);
	sqlite3_bind_int64(stmt, 8, ss->fresh_until);
	sqlite3_bind_int(stmt, 9, ss->fresh_code ? 1 : 0);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		store_seterr(err, "session exists");
		r = STORE_EEXIST;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		r = sq_fail(s, "session create", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

#define SQ_SESSION_COLS	"hash, account, expires, device, created, "	\
	"last_used, last_address, fresh_until, fresh_code"

static void
sq_row_session(sqlite3_stmt *stmt, struct store_session *ss)
{
	const void *p;

	memset(ss, 0, sizeof(*ss));
	p = sqlite3_column_blob(stmt, 0);
	if (p != NULL && sqlite3_column_bytes(stmt, 0) == STORE_TOKEN_HASH_LEN)
		memcpy(ss->hash, p, STORE_TOKEN_HASH_LEN);
	sq_col_text(stmt, 1, ss->account, sizeof(ss->account));
	ss->expires = sqlite3_column_int64(stmt, 2);
	sq_col_text(stmt, 3, ss->device, sizeof(ss->device));
	ss->created = sqlite3_column_int64(stmt, 4);
	ss->last_used = sqlite3_column_int64(stmt, 5);
	sq_col_text(stmt, 6, ss->last_address, sizeof(ss->last_address));
	ss->fresh_until = sqlite3_column_int64(stmt, 7);
	ss->fresh_code = sqlite3_column_int(stmt, 8) != 0;
}

static int
sq_session_info(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN],
    struct store_session *ss, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq_reader(st);
	sqlite3_stmt *stmt = NULL;
	int r, rc;

	memset(ss, 0, sizeof(*ss));
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT " SQ_SESSION_COLS " FROM sessions "
	    "WHERE hash = ?", &stmt, err)) != 0)
		goto out;
	sqlite3_bind_blob(stmt, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		store_seterr(err, "no such session");
		r = STORE_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = sq_fail(s, "session lookup", err);
		goto out;
	}
	sq_row_session(stmt, ss);
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_session_delete(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN],
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "DELETE FROM sessions WHERE hash = ?", &stmt,
	    err)) != 0)
		goto out;
	sqlite3_bind_blob(stmt, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "session delete", err);
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		store_seterr(err, "no such session");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_key_put(struct store *st, struct store_txn *tx, const struct store_key *k,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r, rc;

	if (k->blob_len > STORE_BLOB_MAX) {
		store_seterr(err, "key blob too long");
		return STORE_EFAIL;
	}
	sq_lock(s, tx);
	if ((r = sq_prepare(s, "INSERT INTO keys (key_id, account, kind, "
	    "label, created, destroyed, releases, pub, blob, device, repo_id, "
	    "keyset_id) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?)", &stmt,
	    err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, k->key_id);
	sq_bind_text(stmt, 2, k->account);
	sqlite3_bind_int(stmt, 3, k->kind);
	sq_bind_text(stmt, 4, k->label);
	sqlite3_bind_int64(stmt, 5, k->created);
	if (k->kind == STORE_KIND_WRAP)
		sqlite3_bind_blob(stmt, 6, k->pub, STORE_PUBKEY_LEN,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 6);
	sqlite3_bind_blob(stmt, 7, k->blob, (int)k->blob_len, SQLITE_STATIC);
	sq_bind_text(stmt, 8, k->device);
	sq_bind_text(stmt, 9, k->repo_id);
	sq_bind_text(stmt, 10, k->keyset_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		store_seterr(err, "key id exists");
		r = STORE_EEXIST;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		r = sq_fail(s, "key put", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	sq_unlock(s, tx);
	return r;
}

/* Fill ${k} from a row of (key_id, account, kind, label, created,
 * destroyed, releases, pub, device, repo_id, keyset_id[, blob]). */
static void
sq_row_key(sqlite3_stmt *stmt, struct store_key *k, bool with_blob)
{
	const void *p;
	int n;

	memset(k, 0, sizeof(*k));
	sq_col_text(stmt, 0, k->key_id, sizeof(k->key_id));
	sq_col_text(stmt, 1, k->account, sizeof(k->account));
	k->kind = sqlite3_column_int(stmt, 2);
	sq_col_text(stmt, 3, k->label, sizeof(k->label));
	k->created = sqlite3_column_int64(stmt, 4);
	k->destroyed = sqlite3_column_int64(stmt, 5);
	k->releases = sqlite3_column_int64(stmt, 6);
	p = sqlite3_column_blob(stmt, 7);
	n = sqlite3_column_bytes(stmt, 7);
	if (p != NULL && n == STORE_PUBKEY_LEN)
		memcpy(k->pub, p, STORE_PUBKEY_LEN);
	sq_col_text(stmt, 8, k->device, sizeof(k->device));
	sq_col_text(stmt, 9, k->repo_id, sizeof(k->repo_id));
	sq_col_text(stmt, 10, k->keyset_id, sizeof(k->keyset_id));
	if (!with_blob)
		return;
	p = sqlite3_column_blob(stmt, 11);
	n = sqlite3_column_bytes(stmt, 11);
	if (p != NULL && n > 0 && n <= STORE_BLOB_MAX) {
		memcpy(k->blob, p, (size_t)n);
		k->blob_len = (size_t)n;
	}
}

/*
 * sq_collect(s, stmt, size, row, what, &v, &n, err): step ${stmt} to its
 * end, each row decoded by row() into a growing array of ${size}-byte
 * elements (the caller's to free; NULL when there are none).
 */
static int
sq_collect(struct store_sqlite *s, sqlite3_stmt *stmt, size_t size,
    void (*row)(sqlite3_stmt *, void *), const char *what, void **out,
    size_t *n, char *err)
{
	uint8_t *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((nv = realloc(v, cap * size)) == NULL) {
				free(v);
				store_seterr(err, "out of memory");
				return STORE_EFAIL;
			}
			v = nv;
		}
		memset(v + len * size, 0, size);
		row(stmt, v + len * size);
		len++;
	}
	if (rc != SQLITE_DONE) {
		free(v);
		return sq_fail(s, what, err);
	}
	*out = v;
	*n = len;
	return 0;
}

static int
sq_key_get(struct store *st, const char *account, const char *key_id,
    struct store_key *k, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq_reader(st);
	sqlite3_stmt *stmt = NULL;
	int r, rc;

	memset(k, 0, sizeof(*k));
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT key_id, account, kind, label, created, "
	    "destroyed, releases, pub, device, repo_id, keyset_id, blob "
	    "FROM keys WHERE key_id = ? AND account = ?", &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, key_id);
	sq_bind_text(stmt, 2, account);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		store_seterr(err, "no such key");
		r = STORE_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = sq_fail(s, "key lookup", err);
		goto out;
	}
	sq_row_key(stmt, k, true);
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_key_released(struct store *st, struct store_txn *tx, const char *account,
    const char *key_id, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r;

	sq_lock(s, tx);
	if ((r = sq_prepare(s, "UPDATE keys SET releases = releases + 1 "
	    "WHERE key_id = ? AND account = ?", &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, key_id);
	sq_bind_text(stmt, 2, account);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "key release count", err);
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		store_seterr(err, "no such key");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	sq_unlock(s, tx);
	return r;
}

static int
sq_key_destroy(struct store *st, const char *account, const char *key_id,
    int64_t now, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r, rc;

	pthread_mutex_lock(&s->mu);
	/* First overwrite in place, then shorten: no copy survives. */
	if ((r = sq_prepare(s, "UPDATE keys SET blob = zeroblob(length(blob)) "
	    "WHERE key_id = ? AND account = ? AND destroyed = 0", &stmt,
	    err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, key_id);
	sq_bind_text(stmt, 2, account);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "key destroy", err);
		goto out;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if ((r = sq_prepare(s, "UPDATE keys SET blob = X'', destroyed = ? "
	    "WHERE key_id = ? AND account = ? AND destroyed = 0", &stmt,
	    err)) != 0)
		goto out;
	sqlite3_bind_int64(stmt, 1, now > 0 ? now : 1);
	sq_bind_text(stmt, 2, key_id);
	sq_bind_text(stmt, 3, account);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "key destroy", err);
		goto out;
	}
	if (sqlite3_changes(s->db) != 0) {
		/* Move the overwritten page out of the WAL now. */
		(void)sqlite3_wal_checkpoint_v2(s->db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		r = 0;
		goto out;
	}
	/* Nothing changed: already destroyed, or not this account's. */
	sqlite3_finalize(stmt);
	stmt = NULL;
	if ((r = sq_prepare(s, "SELECT 1 FROM keys WHERE key_id = ? AND "
	    "account = ?", &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, key_id);
	sq_bind_text(stmt, 2, account);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		store_seterr(err, "no such key");
		r = STORE_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = sq_fail(s, "key lookup", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void
sq_row_key_v(sqlite3_stmt *stmt, void *k)
{
	sq_row_key(stmt, k, false);
}

static int
sq_key_list(struct store *st, const char *account, struct store_key **out,
    size_t *n, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq_reader(st);
	sqlite3_stmt *stmt = NULL;
	void *v = NULL;
	int r;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT key_id, account, kind, label, created, "
	    "destroyed, releases, pub, device, repo_id, keyset_id FROM keys "
	    "WHERE account = ? ORDER BY created, rowid", &stmt, err)) == 0) {
		sq_bind_text(stmt, 1, account);
		if ((r = sq_collect(s, stmt, sizeof(struct store_key),
		    sq_row_key_v, "key list", &v, n, err)) == 0)
			*out = v;
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_audit_add(struct store *st, struct store_txn *tx,
    const struct store_event *ev, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r;

	sq_lock(s, tx);
	if ((r = sq_prepare(s, "INSERT INTO audit (time, account, address, "
	    "event, key_id, ok, device) VALUES (?, ?, ?, ?, ?, ?, ?)", &stmt,
	    err)) != 0)
		goto out;
	sqlite3_bind_int64(stmt, 1, ev->time);
	sq_bind_text(stmt, 2, ev->account);
	sq_bind_text(stmt, 3, ev->address);
	sq_bind_text(stmt, 4, ev->event);
	sq_bind_text(stmt, 5, ev->key_id);
	sqlite3_bind_int(stmt, 6, ev->ok ? 1 : 0);
	sq_bind_text(stmt, 7, ev->device);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "audit", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	sq_unlock(s, tx);
	return r;
}

static int
sq_audit_list(struct store *st, const char *account, int limit,
    struct store_event **out, size_t *n, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq_reader(st);
	sqlite3_stmt *stmt = NULL;
	struct store_event *v = NULL, *e;
	size_t len = 0;
	int r, rc = SQLITE_DONE;

	*out = NULL;
	*n = 0;
	if (limit <= 0)
		return 0;
	if ((v = calloc((size_t)limit, sizeof(*v))) == NULL) {
		store_seterr(err, "out of memory");
		return STORE_EFAIL;
	}
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT time, account, address, event, key_id, "
	    "ok, device FROM audit WHERE account = ? ORDER BY id DESC LIMIT ?",
	    &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, account);
	sqlite3_bind_int(stmt, 2, limit);
	while (len < (size_t)limit &&
	    (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		e = &v[len++];
		e->time = sqlite3_column_int64(stmt, 0);
		sq_col_text(stmt, 1, e->account, sizeof(e->account));
		sq_col_text(stmt, 2, e->address, sizeof(e->address));
		sq_col_text(stmt, 3, e->event, sizeof(e->event));
		sq_col_text(stmt, 4, e->key_id, sizeof(e->key_id));
		e->ok = sqlite3_column_int(stmt, 5) != 0;
		sq_col_text(stmt, 6, e->device, sizeof(e->device));
	}
	if (len < (size_t)limit && rc != SQLITE_DONE) {
		r = sq_fail(s, "audit list", err);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	r = 0;
out:
	free(v);
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_failure_add(struct store *st, const char *account, const char *address,
    int64_t now, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "INSERT INTO failures (account, address, time) "
	    "VALUES (?, ?, ?)", &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, account);
	sq_bind_text(stmt, 2, address);
	sqlite3_bind_int64(stmt, 3, now);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "failure add", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* The ${sql} of sq_failure_one() for column ${col}. */
#define SQ_TALLY(col) "SELECT count(*), coalesce(sum(pending <> 0 AND"	\
	" time >= ?3), 0), min(time) FROM failures"			\
	" WHERE " col " = ?1 AND time >= ?2"

/*
 * Rows WHERE col = ${v} AND time >= ${since} (${sql}, SQ_TALLY(col)):
 * *n failures (with stale reservations), *p reservations made at ${stale}
 * or later, and the oldest time of all (0 if none).
 */
static int
sq_failure_one(struct store_sqlite *s, const char *sql, const char *v,
    int64_t since, int64_t stale, int *n, int *p, int64_t *oldest,
    char err[STORE_ERRLEN])
{
	sqlite3_stmt *stmt = NULL;
	int64_t all, live;
	int r;

	*n = 0;
	*p = 0;
	*oldest = 0;
	if ((r = sq_prepare(s, sql, &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, v);
	sqlite3_bind_int64(stmt, 2, since);
	sqlite3_bind_int64(stmt, 3, stale);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		r = sq_fail(s, "failure count", err);
		goto out;
	}
	all = sqlite3_column_int64(stmt, 0);
	live = sqlite3_column_int64(stmt, 1);
	*n = all - live > 1000000 ? 1000000 : (int)(all - live);
	*p = live > 1000000 ? 1000000 : (int)live;
	*oldest = all > 0 ? sqlite3_column_int64(stmt, 2) : 0;
	r = 0;
out:
	sqlite3_finalize(stmt);
	return r;
}

/* Delete failures older than ${since}; on the locked connection. */
static int
sq_failure_expire(struct store_sqlite *s, int64_t since,
    char err[STORE_ERRLEN])
{
	sqlite3_stmt *stmt = NULL;
	int r;

	if ((r = sq_prepare(s, "DELETE FROM failures WHERE time < ?", &stmt,
	    err)) != 0)
		goto out;
	sqlite3_bind_int64(stmt, 1, since);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "failure expiry", err);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	return r;
}

static int
sq_failure_count(struct store *st, const char *account, const char *address,
    int64_t since, int *n_account, int64_t *old_account, int *n_address,
    int64_t *old_address, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int p, r;

	*n_account = *n_address = 0;
	*old_account = *old_address = 0;
	pthread_mutex_lock(&s->mu);
	if ((r = sq_failure_expire(s, since, err)) != 0)
		goto out;
	/* No reservation counts as live: they are all in *n. */
	if ((r = sq_failure_one(s, SQ_TALLY("account"), account, since,
	    INT64_MAX, n_account, &p, old_account, err)) != 0)
		goto out;
	if ((r = sq_failure_one(s, SQ_TALLY("address"), address, since,
	    INT64_MAX, n_address, &p, old_address, err)) != 0)
		goto out;
	r = 0;
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

/*
 * One write transaction (BEGIN IMMEDIATE): it waits for, and then shuts
 * out, every other writer of the file, in this process (the mutex) and in
 * any other (SQLite's lock, with the busy timeout), so the counts cannot
 * change between the look and the insert.
 */
static int
sq_failure_reserve(struct store *st, const char *account,
    const char *address, int64_t now, int64_t since, int64_t stale, int limit,
    int64_t *id, struct store_failures *f, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	bool in_txn = false;
	int r;

	*id = 0;
	memset(f, 0, sizeof(*f));
	pthread_mutex_lock(&s->mu);
	if ((r = sq_exec(s, "BEGIN IMMEDIATE;", err)) != 0)
		goto out;
	in_txn = true;
	if ((r = sq_failure_expire(s, since, err)) != 0 ||
	    (r = sq_failure_one(s, SQ_TALLY("account"), account, since, stale,
	    &f->n_account, &f->p_account, &f->old_account, err)) != 0 ||
	    (r = sq_failure_one(s, SQ_TALLY("address"), address, since, stale,
	    &f->n_address, &f->p_address, &f->old_address, err)) != 0)
		goto out;
	if (f->n_account >= limit || f->n_address >= limit)
		r = STORE_ELIMIT;
	else if (f->n_account + f->p_account >= limit ||
	    f->n_address + f->p_address >= limit)
		r = STORE_EBUSY;
	if (r == 0) {
		if ((r = sq_prepare(s, "INSERT INTO failures (account, "
		    "address, time, pending) VALUES (?, ?, ?, 1)", &stmt,
		    err)) != 0)
			goto out;
		sq_bind_text(stmt, 1, account);
		sq_bind_text(stmt, 2, address);
		sqlite3_bind_int64(stmt, 3, now);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			r = sq_fail(s, "failure reserve", err);
			goto out;
		}
		*id = sqlite3_last_insert_rowid(s->db);
	}
	/* Commit the expiry even when refusing. */
	if (sq_exec(s, "COMMIT;", err) != 0) {
		*id = 0;
		r = STORE_EFAIL;
		goto out;
	}
	in_txn = false;
	if (r == STORE_ELIMIT)
		store_seterr(err, "too many failed logins");
	else if (r == STORE_EBUSY)
		store_seterr(err, "too many logins in progress");
out:
	sqlite3_finalize(stmt);
	if (in_txn) {
		*id = 0;
		(void)sq_exec(s, "ROLLBACK;", NULL);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Run ${sql} with one id parameter; ENOTFOUND if it changed no row. */
static int
sq_failure_settle(struct store *st, const char *sql, int64_t id,
    const char *what, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int r;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, sql, &stmt, err)) != 0)
		goto out;
	sqlite3_bind_int64(stmt, 1, id);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, what, err);
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		store_seterr(err, "no such reservation");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_failure_confirm(struct store *st, int64_t id, char err[STORE_ERRLEN])
{
	return sq_failure_settle(st, "UPDATE failures SET pending = 0 "
	    "WHERE id = ? AND pending <> 0", id, "failure confirm", err);
}

static int
sq_failure_cancel(struct store *st, int64_t id, char err[STORE_ERRLEN])
{
	return sq_failure_settle(st, "DELETE FROM failures "
	    "WHERE id = ? AND pending <> 0", id, "failure cancel", err);
}

/*
 * Run one batch of store_expire: ${sql} deletes at most ?3 rows chosen by
 * ?1 and ?2; add the rows deleted to *n.  The lock is held for this one
 * statement only, so requests run between the batches.
 */
static int
sq_expire_batch(struct store_sqlite *s, const char *sql, int64_t v1,
    int64_t v2, int64_t *n, bool *more, char err[STORE_ERRLEN])
{
	sqlite3_stmt *stmt = NULL;
	int changed, r;

	*more = false;
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, sql, &stmt, err)) != 0)
		goto out;
	sqlite3_bind_int64(stmt, 1, v1);
	sqlite3_bind_int64(stmt, 2, v2);
	sqlite3_bind_int(stmt, 3, STORE_EXPIRE_BATCH);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		r = sq_fail(s, "expiry", err);
		goto out;
	}
	changed = sqlite3_changes(s->db);
	*n += changed;
	*more = changed >= STORE_EXPIRE_BATCH;
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_expire(struct store *st, int64_t now, int64_t since, int64_t stale,
    int64_t *n_sessions, int64_t *n_failures, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	bool more;
	int r;

	*n_sessions = 0;
	*n_failures = 0;
	do {
		if ((r = sq_expire_batch(s, "DELETE FROM sessions WHERE rowid IN"
		    " (SELECT rowid FROM sessions WHERE expires <= ?1"
		    " LIMIT ?3)", now, 0, n_sessions, &more, err)) != 0)
			return r;
	} while (more);
	do {
		if ((r = sq_expire_batch(s, "DELETE FROM failures WHERE id IN"
		    " (SELECT id FROM failures WHERE time < ?1"
		    " AND (pending = 0 OR time < ?2) LIMIT ?3)", since, stale,
		    n_failures, &more, err)) != 0)
			return r;
	} while (more);
	return 0;
}

/*
 * Prepare ${sql} on the locked connection, bind by ${fmt} ('t' text,
 * 'i' int64_t, 'b' blob: pointer and size_t, 'B' a blob that may be NULL)
 * and step it once; *changes (if not NULL) gets the rows it changed.
 */
static int
sq_do(struct store_sqlite *s, const char *what, int *changes,
    char err[STORE_ERRLEN], const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *stmt = NULL;
	const void *b;
	va_list ap;
	size_t n;
	int i, r;

	if (changes != NULL)
		*changes = 0;
	if ((r = sq_prepare(s, sql, &stmt, err)) != 0)
		return r;
	va_start(ap, fmt);
	for (i = 0; fmt[i] != '\0'; i++) {
		switch (fmt[i]) {
		case 't':
			sq_bind_text(stmt, i + 1, va_arg(ap, const char *));
			break;
		case 'i':
			sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
			break;
		default:
			b = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			if (b == NULL)
				sqlite3_bind_null(stmt, i + 1);
			else
				sqlite3_bind_blob(stmt, i + 1, b, (int)n,
				    SQLITE_STATIC);
			break;
		}
	}
	va_end(ap);
	r = sqlite3_step(stmt);
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		r = sq_fail(s, what, err);
		goto out;
	}
	if (changes != NULL)
		*changes = sqlite3_changes(s->db);
	r = 0;
out:
	sqlite3_finalize(stmt);
	return r;
}

/* BEGIN IMMEDIATE, and the matching end: COMMIT if ${r} is 0. */
static int
sq_begin(struct store_sqlite *s, char err[STORE_ERRLEN])
{
	return sq_exec(s, "BEGIN IMMEDIATE;", err);
}

static int
sq_end(struct store_sqlite *s, int r, char err[STORE_ERRLEN])
{
	if (r == 0 && (r = sq_exec(s, "COMMIT;", err)) == 0)
		return 0;
	(void)sq_exec(s, "ROLLBACK;", NULL);
	return r;
}

/* Group commit: the lock and BEGIN IMMEDIATE, held until sq_txn_end. */
static int
sq_txn_begin(struct store *st, struct store_txn **tx, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int r;

	*tx = NULL;
	pthread_mutex_lock(&s->mu);
	if ((r = sq_begin(s, err)) != 0) {
		pthread_mutex_unlock(&s->mu);
		return r;
	}
	*tx = (struct store_txn *)s;
	return 0;
}

static int
sq_txn_end(struct store *st, struct store_txn *tx, bool commit,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int r;

	(void)tx;
	r = sq_end(s, commit ? 0 : STORE_EFAIL, err);
	pthread_mutex_unlock(&s->mu);
	return commit ? r : 0;
}

static int
sq_session_touch(struct store *st, struct store_txn *tx,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now, const char *address,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int n, r;

	sq_lock(s, tx);
	r = sq_do(s, "session touch", &n, err, "UPDATE sessions SET "
	    "last_used = ?, last_address = ? WHERE hash = ?", "itb", now,
	    address, hash, (size_t)STORE_TOKEN_HASH_LEN);
	sq_unlock(s, tx);
	if (r == 0 && n == 0) {
		store_seterr(err, "no such session");
		r = STORE_ENOTFOUND;
	}
	return r;
}

static int
sq_session_fresh(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN],
    int64_t fresh_until, int fresh_code, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int n, r;

	pthread_mutex_lock(&s->mu);
	r = sq_do(s, "session fresh", &n, err, "UPDATE sessions SET "
	    "fresh_until = ?, fresh_code = ? WHERE hash = ?", "iib",
	    fresh_until, (int64_t)(fresh_code ? 1 : 0), hash,
	    (size_t)STORE_TOKEN_HASH_LEN);
	pthread_mutex_unlock(&s->mu);
	if (r == 0 && n == 0) {
		store_seterr(err, "no such session");
		r = STORE_ENOTFOUND;
	}
	return r;
}

static void
sq_row_session_v(sqlite3_stmt *stmt, void *ss)
{
	sq_row_session(stmt, ss);
}

static int
sq_session_list(struct store *st, const char *account, int64_t now,
    struct store_session **out, size_t *n, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq_reader(st);
	sqlite3_stmt *stmt = NULL;
	void *v = NULL;
	int r;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT " SQ_SESSION_COLS " FROM sessions "
	    "WHERE account = ? AND expires > ? "
	    "ORDER BY last_used DESC, created DESC, hash", &stmt, err)) == 0) {
		sq_bind_text(stmt, 1, account);
		sqlite3_bind_int64(stmt, 2, now);
		if ((r = sq_collect(s, stmt, sizeof(struct store_session),
		    sq_row_session_v, "session list", &v, n, err)) == 0)
			*out = v;
	}
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_session_revoke(struct store *st, const char *account, const char *device,
    const uint8_t id[STORE_SESSION_ID_LEN],
    const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	static const uint8_t none[STORE_TOKEN_HASH_LEN];
	struct store_sqlite *s = sq(st);
	int changed = 0, r;

	*n = 0;
	if (keep == NULL)
		keep = none;
	pthread_mutex_lock(&s->mu);
	if (device != NULL)
		r = sq_do(s, "session revoke", &changed, err, "DELETE FROM "
		    "sessions WHERE account = ? AND device = ? AND hash <> ?",
		    "ttb", account, device, keep,
		    (size_t)STORE_TOKEN_HASH_LEN);
	else if (id != NULL)
		r = sq_do(s, "session revoke", &changed, err, "DELETE FROM "
		    "sessions WHERE account = ? AND substr(hash, 1, ?) = ? "
		    "AND hash <> ?", "tibb", account,
		    (int64_t)STORE_SESSION_ID_LEN, id,
		    (size_t)STORE_SESSION_ID_LEN, keep,
		    (size_t)STORE_TOKEN_HASH_LEN);
	else
		r = sq_do(s, "session revoke", &changed, err, "DELETE FROM "
		    "sessions WHERE account = ? AND hash <> ?", "tb", account,
		    keep, (size_t)STORE_TOKEN_HASH_LEN);
	pthread_mutex_unlock(&s->mu);
	*n = changed;
	return r;
}

static int
sq_account_set_pwhash(struct store *st, const char *account,
    const char *pwhash, const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	static const uint8_t none[STORE_TOKEN_HASH_LEN];
	struct store_sqlite *s = sq(st);
	int changed = 0, r;

	*n = 0;
	if (keep == NULL)
		keep = none;
	pthread_mutex_lock(&s->mu);
	if ((r = sq_begin(s, err)) != 0)
		goto out;
	r = sq_do(s, "password", &changed, err, "UPDATE accounts SET "
	    "pwhash = ? WHERE account = ? AND deleted = 0", "tt", pwhash,
	    account);
	if (r == 0 && changed == 0) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
	}
	if (r == 0)
		r = sq_do(s, "password", &changed, err, "DELETE FROM sessions "
		    "WHERE account = ? AND hash <> ?", "tb", account, keep,
		    (size_t)STORE_TOKEN_HASH_LEN);
	if ((r = sq_end(s, r, err)) == 0)
		*n = changed;
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_account_delete(struct store *st, const char *account, int64_t now,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int changed = 0, r;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_begin(s, err)) != 0)
		goto out;
	r = sq_do(s, "account delete", &changed, err, "UPDATE accounts SET "
	    "pwhash = '', deleted = ?, totp_state = 0, totp_blob = NULL, "
	    "totp_step = 0 WHERE account = ? AND deleted = 0", "it",
	    now > 0 ? now : (int64_t)1, account);
	if (r == 0 && changed == 0) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
	}
	/* As sq_key_destroy: overwrite in place, then shorten. */
	if (r == 0)
		r = sq_do(s, "account delete", NULL, err, "UPDATE keys SET "
		    "blob = zeroblob(length(blob)) WHERE account = ? AND "
		    "destroyed = 0", "t", account);
	if (r == 0)
		r = sq_do(s, "account delete", NULL, err, "UPDATE keys SET "
		    "blob = X'', destroyed = ? WHERE account = ? AND "
		    "destroyed = 0", "it", now > 0 ? now : (int64_t)1,
		    account);
	if (r == 0)
		r = sq_do(s, "account delete", NULL, err, "DELETE FROM "
		    "sessions WHERE account = ?", "t", account);
	if (r == 0)
		r = sq_do(s, "account delete", NULL, err, "DELETE FROM "
		    "recovery WHERE account = ?", "t", account);
	if ((r = sq_end(s, r, err)) == 0)
		(void)sqlite3_wal_checkpoint_v2(s->db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_totp_get(struct store *st, const char *account, struct store_totp *t,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq_reader(st);
	sqlite3_stmt *stmt = NULL;
	const void *p;
	int r, rc, n;

	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&s->mu);
	if ((r = sq_prepare(s, "SELECT totp_state, totp_blob, totp_step FROM "
	    "accounts WHERE account = ? AND deleted = 0", &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, account);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = sq_fail(s, "totp", err);
		goto out;
	}
	t->state = sqlite3_column_int(stmt, 0);
	p = sqlite3_column_blob(stmt, 1);
	n = sqlite3_column_bytes(stmt, 1);
	if (p != NULL && n > 0 && n <= STORE_BLOB_MAX) {
		memcpy(t->blob, p, (size_t)n);
		t->blob_len = (size_t)n;
	}
	t->step = sqlite3_column_int64(stmt, 2);
	r = 0;
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_totp_pending(struct store *st, const char *account, const uint8_t *blob,
    size_t blob_len, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int n, r;

	pthread_mutex_lock(&s->mu);
	r = sq_do(s, "totp pending", &n, err, "UPDATE accounts SET "
	    "totp_state = 1, totp_blob = ? WHERE account = ? AND "
	    "deleted = 0 AND totp_state <> 2", "bt", blob, blob_len, account);
	pthread_mutex_unlock(&s->mu);
	if (r == 0 && n == 0) {
		store_seterr(err, "TOTP is on, or no such account");
		r = STORE_EEXIST;
	}
	return r;
}

static int
sq_totp_enable(struct store *st, const char *account, int64_t step,
    const uint8_t (*hashes)[STORE_CODE_HASH_LEN], size_t n,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int changed = 0, r;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_begin(s, err)) != 0)
		goto out;
	r = sq_do(s, "totp enable", &changed, err, "UPDATE accounts SET "
	    "totp_state = 2, totp_step = ? WHERE account = ? AND deleted = 0 "
	    "AND totp_state = 1", "it", step, account);
	if (r == 0 && changed == 0) {
		store_seterr(err, "no pending TOTP secret");
		r = STORE_ENOTFOUND;
	}
	if (r == 0)
		r = sq_do(s, "totp enable", NULL, err, "DELETE FROM recovery "
		    "WHERE account = ?", "t", account);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = sq_do(s, "totp enable", NULL, err, "INSERT OR IGNORE INTO "
		    "recovery (account, hash) VALUES (?, ?)", "tb", account,
		    hashes[i], (size_t)STORE_CODE_HASH_LEN);
	r = sq_end(s, r, err);
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_totp_disable(struct store *st, const char *account, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int r;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_begin(s, err)) != 0)
		goto out;
	r = sq_do(s, "totp disable", NULL, err, "UPDATE accounts SET "
	    "totp_state = 0, totp_blob = NULL, totp_step = 0 "
	    "WHERE account = ?", "t", account);
	if (r == 0)
		r = sq_do(s, "totp disable", NULL, err, "DELETE FROM recovery "
		    "WHERE account = ?", "t", account);
	r = sq_end(s, r, err);
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_totp_step(struct store *st, const char *account, int64_t step,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int n, r;

	pthread_mutex_lock(&s->mu);
	r = sq_do(s, "totp step", &n, err, "UPDATE accounts SET "
	    "totp_step = ? WHERE account = ? AND deleted = 0 AND "
	    "totp_state = 2 AND totp_step < ?", "iti", step, account, step);
	pthread_mutex_unlock(&s->mu);
	if (r == 0 && n == 0) {
		store_seterr(err, "code already used");
		r = STORE_ENOTFOUND;
	}
	return r;
}

static int
sq_recovery_use(struct store *st, const char *account,
    const uint8_t hash[STORE_CODE_HASH_LEN], char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	int n, r;

	pthread_mutex_lock(&s->mu);
	r = sq_do(s, "recovery code", &n, err, "DELETE FROM recovery WHERE "
	    "account = ? AND hash = ?", "tb", account, hash,
	    (size_t)STORE_CODE_HASH_LEN);
	pthread_mutex_unlock(&s->mu);
	if (r == 0 && n == 0) {
		store_seterr(err, "no such recovery code");
		r = STORE_ENOTFOUND;
	}
	return r;
}

static int
sq_key_bind(struct store *st, const char *account, const char *key_id,
    const char *repo_id, const char *keyset_id, char err[STORE_ERRLEN])
{
	struct store_sqlite *s = sq(st);
	sqlite3_stmt *stmt = NULL;
	int n, r, rc;

	pthread_mutex_lock(&s->mu);
	if ((r = sq_do(s, "key bind", &n, err, "UPDATE keys SET repo_id = ?, "
	    "keyset_id = ? WHERE key_id = ? AND account = ? AND kind = 2 AND "
	    "destroyed = 0 AND ((repo_id = '' AND keyset_id = '') OR "
	    "(repo_id = ? AND keyset_id = ?))", "tttttt", repo_id, keyset_id,
	    key_id, account, repo_id, keyset_id)) != 0 || n != 0)
		goto out;
	if ((r = sq_prepare(s, "SELECT 1 FROM keys WHERE key_id = ? AND "
	    "account = ? AND kind = 2 AND destroyed = 0", &stmt, err)) != 0)
		goto out;
	sq_bind_text(stmt, 1, key_id);
	sq_bind_text(stmt, 2, account);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_seterr(err, "bound to other ids");
		r = STORE_EEXIST;
	} else if (rc == SQLITE_DONE) {
		store_seterr(err, "no such wrap key");
		r = STORE_ENOTFOUND;
	} else {
		r = sq_fail(s, "key bind", err);
	}
out:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Bring the tables to SQLITE_SCHEMA_VERSION; inside the schema's txn. */
static int
sq_upgrade(struct store_sqlite *s, char err[STORE_ERRLEN])
{
	sqlite3_stmt *stmt = NULL;
	char sql[64], alter[160];
	int r;

	if ((r = sq_prepare(s, sqlite_has_pending, &stmt, err)) != 0)
		goto out;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		r = sq_fail(s, "schema upgrade", err);
		goto out;
	}
	if (sqlite3_column_int(stmt, 0) == 0 &&
	    (r = sq_exec(s, sqlite_add_pending, err)) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(sq_columns) / sizeof(sq_columns[0]);
	    i++) {
		sqlite3_finalize(stmt);
		stmt = NULL;
		if ((r = sq_prepare(s, "SELECT count(*) FROM "
		    "pragma_table_info(?) WHERE name = ?", &stmt, err)) != 0)
			goto out;
		sq_bind_text(stmt, 1, sq_columns[i].table);
		sq_bind_text(stmt, 2, sq_columns[i].column);
		if (sqlite3_step(stmt) != SQLITE_ROW) {
			r = sq_fail(s, "schema upgrade", err);
			goto out;
		}
		if (sqlite3_column_int(stmt, 0) != 0)
			continue;
		snprintf(alter, sizeof(alter), "ALTER TABLE %s ADD COLUMN "
		    "%s %s;", sq_columns[i].table, sq_columns[i].column,
		    sq_columns[i].decl);
		if ((r = sq_exec(s, alter, err)) != 0)
			goto out;
	}
	if ((r = sq_exec(s, sqlite_schema3, err)) != 0)
		goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;",
	    SQLITE_SCHEMA_VERSION);
	if ((r = sq_exec(s, sql, err)) != 0)
		goto out;
	r = 0;
out:
	sqlite3_finalize(stmt);
	return r;
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.ping = sq_ping,
	.account_create = sq_account_create,
	.account_pwhash = sq_account_pwhash,
	.account_set_pwhash = sq_account_set_pwhash,
	.account_delete = sq_account_delete,
	.totp_get = sq_totp_get,
	.totp_pending = sq_totp_pending,
	.totp_enable = sq_totp_enable,
	.totp_disable = sq_totp_disable,
	.totp_step = sq_totp_step,
	.recovery_use = sq_recovery_use,
	.session_open = sq_session_open,
	.session_info = sq_session_info,
	.session_delete = sq_session_delete,
	.session_touch = sq_session_touch,
	.session_fresh = sq_session_fresh,
	.session_list = sq_session_list,
	.session_revoke = sq_session_revoke,
	.key_put = sq_key_put,
	.key_get = sq_key_get,
	.key_released = sq_key_released,
	.key_destroy = sq_key_destroy,
	.key_bind = sq_key_bind,
	.key_list = sq_key_list,
	.audit_add = sq_audit_add,
	.audit_list = sq_audit_list,
	.failure_add = sq_failure_add,
	.failure_count = sq_failure_count,
	.failure_reserve = sq_failure_reserve,
	.failure_confirm = sq_failure_confirm,
	.failure_cancel = sq_failure_cancel,
	.expire = sq_expire,
	.txn_begin = sq_txn_begin,
	.txn_end = sq_txn_end,
	.txn_max = 1,
};

/* A read-only connection to the database the writer has set up. */
static int
sq_open_reader(const char *path, struct store_sqlite **out,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		store_seterr(err, "out of memory");
		return STORE_EFAIL;
	}
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		store_seterr(err, "cannot create a mutex");
		return STORE_EFAIL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		store_seterr(err, "sqlite: cannot open '%s' to read: %s", path,
		    s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
		sq_close(&s->base);
		return STORE_EFAIL;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, SQLITE_BUSY_MS);
	if (sq_exec(s, "PRAGMA trusted_schema = OFF;", err) != 0) {
		sq_close(&s->base);
		return STORE_EFAIL;
	}
	*out = s;
	return 0;
}

int
store_sqlite_open(const char *path, struct store **out,
    char err[STORE_ERRLEN])
{
	struct store_sqlite *s = NULL;
	const char *p;
	size_t ri;
	int r;

	*out = NULL;
	if (sqlite3_threadsafe() == 0) {
		store_seterr(err,
		    "sqlite: library built without thread support");
		return STORE_EFAIL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		store_seterr(err, "out of memory");
		return STORE_EFAIL;
	}
	s->base.ops = &sqlite_ops;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		store_seterr(err, "cannot create a mutex");
		return STORE_EFAIL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
	    NULL) != SQLITE_OK) {
		char dir[1024];
		const char *slash = strrchr(path, '/');

		/* SQLite says only "unable to open database file". */
		snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 :
		    slash == path ? 1 : (int)(slash - path), slash == NULL ?
		    "." : path);
		if (access(dir, F_OK) != 0)
			store_seterr(err, "sqlite: cannot open '%s': the "
			    "folder '%s' does not exist (make it first, owned "
			    "by the user cofferd runs as)", path, dir);
		else
			store_seterr(err, "sqlite: cannot open '%s': %s", path,
			    s->db != NULL ? sqlite3_errmsg(s->db) :
			    "out of memory");
		r = STORE_EFAIL;
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, SQLITE_BUSY_MS);
	/*
	 * Switching a new file to WAL answers SQLITE_BUSY at once (no busy
	 * handler) while another process does the same: try again a while.
	 */
	for (int i = 0; ; i++) {
		if ((r = sq_exec(s, "PRAGMA journal_mode = WAL;", err)) == 0)
			break;
		if (i == 200 || (sqlite3_errcode(s->db) != SQLITE_BUSY &&
		    sqlite3_errcode(s->db) != SQLITE_LOCKED))
			goto out;
		usleep(10000);
	}
	if ((r = sq_exec(s, "PRAGMA synchronous = FULL;"
	    "PRAGMA secure_delete = ON;"
	    "PRAGMA trusted_schema = OFF;", err)) != 0)
		goto out;
	if ((r = sq_exec(s, "BEGIN IMMEDIATE;", err)) != 0)
		goto out;
	if ((r = sq_exec(s, sqlite_schema, err)) != 0 ||
	    (r = sq_upgrade(s, err)) != 0) {
		(void)sq_exec(s, "ROLLBACK;", NULL);
		goto out;
	}
	if ((r = sq_exec(s, "COMMIT;", err)) != 0)
		goto out;
	/* A database in memory or a temporary one has no file name. */
	p = sqlite3_db_filename(s->db, "main");
	for (ri = 0; p != NULL && *p != '\0' && ri < SQ_READERS; ri++)
		if ((r = sq_open_reader(p, &s->rd[ri], err)) != 0)
			goto out;
	*out = &s->base;
	s = NULL;
	r = 0;
out:
	if (s != NULL)
		sq_close(&s->base);
	return r;
}
