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
 * stays in the WAL (sq_scrub).  Every statement binds its parameters.
 * The operations themselves are in store_sql.c, over sq_run() (one
 * statement, its $n parameters read as ?n) and sq_txn_begin/sq_txn_end.
 */
#include <pthread.h>
#include <stdbool.h>
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
/* sq_run() keeps each statement of store_sql.c prepared, per connection. */
#define SQ_CACHE_MAX	64
struct sq_cached {
	const struct store_sql *q;
	sqlite3_stmt	*stmt;
};

struct store_sqlite {
	struct store	 base;		/* first: store.c casts */
	sqlite3		*db;
	pthread_mutex_t	 mu;
	struct store_sqlite *rd[SQ_READERS];
	unsigned int	 rnext;
	struct sq_cached cache[SQ_CACHE_MAX];	/* under mu */
	size_t		 ncache;
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
	for (i = 0; i < s->ncache; i++)
		sqlite3_finalize(s->cache[i].stmt);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
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

/*
 * ${sql} with its parameters $n written as ?n, into ${buf} (${cap}
 * bytes); string literals are copied as they are.
 */
static int
sq_dialect(const char *sql, char *buf, size_t cap, char err[STORE_ERRLEN])
{
	bool quoted = false;
	size_t i, o = 0;

	for (i = 0; sql[i] != '\0'; i++) {
		if (o + 1 >= cap) {
			store_seterr(err, "sqlite: statement too long");
			return STORE_EFAIL;
		}
		if (sql[i] == '\'')
			quoted = !quoted;
		if (!quoted && sql[i] == '$' && sql[i + 1] >= '0' &&
		    sql[i + 1] <= '9')
			buf[o++] = '?';
		else
			buf[o++] = sql[i];
	}
	buf[o] = '\0';
	return 0;
}

static int
sq_bind(sqlite3_stmt *stmt, const struct store_val *v, int nv)
{
	int i, rc = SQLITE_OK;

	for (i = 0; i < nv && rc == SQLITE_OK; i++) {
		switch (v[i].type) {
		case STORE_V_TEXT:
			if (v[i].p == NULL)
				rc = sqlite3_bind_null(stmt, i + 1);
			else
				rc = sqlite3_bind_text(stmt, i + 1, v[i].p, -1,
				    SQLITE_STATIC);
			break;
		case STORE_V_BLOB:
			if (v[i].p == NULL)
				rc = sqlite3_bind_null(stmt, i + 1);
			else
				rc = sqlite3_bind_blob(stmt, i + 1, v[i].p,
				    (int)v[i].len, SQLITE_STATIC);
			break;
		case STORE_V_BOOL:
			rc = sqlite3_bind_int(stmt, i + 1, v[i].i != 0);
			break;
		default:
			rc = sqlite3_bind_int64(stmt, i + 1, v[i].i);
			break;
		}
	}
	return rc;
}

/* The row ${stmt} stands on, as a struct store_row. */
static void
sq_row(sqlite3_stmt *stmt, struct store_row *row)
{
	struct store_col *c;
	int i, n;

	n = sqlite3_column_count(stmt);
	row->ncol = n > STORE_COL_MAX ? STORE_COL_MAX : n;
	for (i = 0; i < row->ncol; i++) {
		c = &row->col[i];
		memset(c, 0, sizeof(*c));
		switch (sqlite3_column_type(stmt, i)) {
		case SQLITE_NULL:
			c->null = true;
			break;
		case SQLITE_INTEGER:
			c->isint = true;
			c->i = sqlite3_column_int64(stmt, i);
			break;
		default:
			c->p = sqlite3_column_blob(stmt, i);
			c->len = (size_t)sqlite3_column_bytes(stmt, i);
			break;
		}
	}
}

/* store_ops.run (store_impl.h). */
static int
sq_run(struct store *st, struct store_txn *tx, const struct store_sql *q,
    const struct store_val *v, int nv, store_row_cb *cb, void *cookie,
    int64_t *changes, char err[STORE_ERRLEN])
{
	struct store_sqlite *s;
	struct store_row row;
	sqlite3_stmt *stmt = NULL;
	bool cached = false;
	char sql[2048];
	size_t i;
	int r, rc;

	if (changes != NULL)
		*changes = 0;
	if (q->sql == NULL) {
		store_seterr(err, "sqlite: %s: no statement", q->what);
		return STORE_EFAIL;
	}
	s = tx == NULL && q->ro ? sq_reader(st) : sq(st);
	sq_lock(s, tx);
	for (i = 0; i < s->ncache; i++)
		if (s->cache[i].q == q)
			break;
	if (i < s->ncache) {
		stmt = s->cache[i].stmt;
		cached = true;
	} else {
		if ((r = sq_dialect(q->sql, sql, sizeof(sql), err)) != 0 ||
		    (r = sq_prepare(s, sql, &stmt, err)) != 0)
			goto out;
		if (s->ncache < SQ_CACHE_MAX) {
			s->cache[s->ncache].q = q;
			s->cache[s->ncache++].stmt = stmt;
			cached = true;
		}
	}
	if (sq_bind(stmt, v, nv) != SQLITE_OK) {
		r = sq_fail(s, q->what, err);
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cb == NULL)
			continue;
		sq_row(stmt, &row);
		if ((r = cb(&row, cookie, err)) != 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		r = sq_fail(s, q->what, err);
		goto out;
	}
	if (changes != NULL)
		*changes = sqlite3_changes(s->db);
	r = 0;
out:
	/* Kept for next time: reset (ends its read), the bindings gone. */
	if (cached) {
		(void)sqlite3_reset(stmt);
		(void)sqlite3_clear_bindings(stmt);
	} else {
		sqlite3_finalize(stmt);
	}
	sq_unlock(s, tx);
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

/* store_ops.scrub: the overwritten pages out of the WAL, now. */
static void
sq_scrub(struct store *st)
{
	struct store_sqlite *s = sq(st);

	pthread_mutex_lock(&s->mu);
	(void)sqlite3_wal_checkpoint_v2(s->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	pthread_mutex_unlock(&s->mu);
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.failure_count = sq_failure_count,
	.failure_reserve = sq_failure_reserve,
	.txn_begin = sq_txn_begin,
	.txn_end = sq_txn_end,
	.txn_max = 1,
	.run = sq_run,
	.scrub = sq_scrub,
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
