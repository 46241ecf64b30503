/* SPDX-License-Identifier: ISC */
/*
 * store_pg: the PostgreSQL store (libpq), for one or several cofferd
 * processes sharing one database.
 *
 * Every operation is one SQL statement run in autocommit mode, so it is
 * committed (synchronous_commit is forced on if the server has it off)
 * when the call returns 0, and two servers never see half of an operation.
 * The writes of deposits and releases are the exception: store_group.c
 * runs them in group transactions (pg_txn_begin, pg_txn_end), up to four
 * at once on four pooled connections (txn_max), whose flushes PostgreSQL
 * merges; a group's statements are sent one after another (libpq's
 * pipeline mode would send them in one round trip: not done yet).
 * The other exception is store_failure_reserve: a short transaction that
 * takes two advisory locks (account, address) before it counts and
 * inserts, so that every server's reservations for one account or address
 * happen one after another (see reserve_txn).
 * All statements are constant text with $n parameters, prepared once per
 * connection (PQprepare, PQexecPrepared: a third less database CPU than
 * PQexecParams here), and parameters and results travel in binary format:
 * no quoting, no bytea escaping, no string building.  (A pooler in front
 * of PostgreSQL must therefore keep protocol-level prepared statements:
 * PgBouncer 1.21+ with max_prepared_statements, or session pooling.)
 *
 * Connections: a pool of at most PG_POOL_MAX, opened on first need and
 * then kept; a thread takes one for one statement and gives it back, and
 * waits (mutex + condvar) when all are lent.  An idle connection that the
 * server closed (a restart, a terminated backend) is noticed before use
 * and reconnected with PQreset.  A statement whose connection breaks while
 * it runs is retried once on a fresh connection if running it twice is
 * harmless (reads, deletes, destroy); a write that may or may not have
 * committed is not retried but fails (STORE_EFAIL), as the caller must
 * treat any database failure.
 *
 * Schema: created if absent at open, in one transaction serialised by a
 * transaction-level advisory lock, so several servers starting at once
 * against an empty database do not trip over each other's CREATE TABLE.
 *
 * Limits of PostgreSQL's storage: store_key_destroy overwrites the blob
 * with an empty one, but under MVCC the old row version stays in the table
 * file until VACUUM reclaims the space (and in the WAL and in any backup
 * until those are recycled).  The blob is encrypted under the master key,
 * so this matters only to whoever also holds the master key.
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store_impl.h"

#define PG_POOL_MAX	16
#define PG_PARAM_MAX	12	/* parameters of one statement */
#define PG_STMT_MAX	64	/* distinct statements (there are 40) */

/* Type OIDs (server/catalog/pg_type_d.h, stable across versions). */
#define PG_OID_BOOL	16
#define PG_OID_BYTEA	17
#define PG_OID_INT8	20
#define PG_OID_INT4	23
#define PG_OID_TEXT	25

/* Any 64-bit number, the same in every cofferd: "cofferd\0" in ASCII. */
#define PG_SCHEMA_LOCK	"7165064134727493632"
/*
 * schema_version.version: 2 added failures.id and failures.pending; 3
 * (protocol version 2) the columns and the table at the end of schema_sql.
 */
#define PG_SCHEMA_VERSION	"3"
/*
 * Login reservations lock (class, FNV-1a of the account or the address)
 * with the two-key advisory locks, a key space apart from the one-key
 * PG_SCHEMA_LOCK.  "cLac" and "cLad" in ASCII.
 */
#define PG_LOCK_ACCOUNT	0x634c6163
#define PG_LOCK_ADDRESS	0x634c6164

/*
 * A connection and the statements prepared on it, by the address of their
 * SQL text (each a string literal at one call site): statement i is
 * "cofferd_i" on this connection.  A reconnect forgets them.
 */
struct pg_conn {
	PGconn		*c;
	const char	*prep[PG_STMT_MAX];
	size_t		 nprep;
};

struct pg_store {
	struct store	 st;		/* first: store.c casts */
	char		*conninfo;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	struct pg_conn	*idle[PG_POOL_MAX];
	size_t		 nidle;
	size_t		 nconn;		/* idle + lent + opening */
};

/* One statement parameter, sent in binary. */
struct pg_param {
	unsigned int	 type;		/* PG_OID_* */
	const char	*val;		/* NULL: SQL NULL */
	int		 len;
	uint8_t		 i8[8];		/* storage for an int8 */
};

enum pg_retry { PG_NORETRY = 0, PG_RETRY = 1 };

static const char schema_sql[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK ");"
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "  version integer PRIMARY KEY"
    ");"
    /* One row; an older cofferd may have added its 1 again. */
    "DELETE FROM schema_version WHERE version < " PG_SCHEMA_VERSION ";"
    "INSERT INTO schema_version VALUES (" PG_SCHEMA_VERSION ")"
    " ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS accounts ("
    "  account text PRIMARY KEY,"
    "  pwhash  text NOT NULL,"
    "  created bigint NOT NULL"
    ");"
    "CREATE TABLE IF NOT EXISTS sessions ("
    "  token_hash bytea PRIMARY KEY,"
    "  account    text NOT NULL,"
    "  expires    bigint NOT NULL"
    ");"
    "CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);"
    "CREATE TABLE IF NOT EXISTS keys ("
    "  key_id    text PRIMARY KEY,"
    "  seq       bigint GENERATED ALWAYS AS IDENTITY,"
    "  account   text NOT NULL,"
    "  kind      integer NOT NULL,"
    "  label     text NOT NULL DEFAULT '',"
    "  created   bigint NOT NULL,"
    "  destroyed bigint NOT NULL DEFAULT 0,"
    "  releases  bigint NOT NULL DEFAULT 0,"
    "  pub       bytea,"
    "  blob      bytea NOT NULL"
    ");"
    "CREATE INDEX IF NOT EXISTS keys_account ON keys (account, created, seq);"
    "CREATE TABLE IF NOT EXISTS audit ("
    "  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  time    bigint NOT NULL,"
    "  account text NOT NULL,"
    "  address text NOT NULL,"
    "  event   text NOT NULL,"
    "  key_id  text NOT NULL,"
    "  ok      boolean NOT NULL"
    ");"
    "CREATE INDEX IF NOT EXISTS audit_account ON audit (account, id);"
    "CREATE TABLE IF NOT EXISTS failures ("
    "  id      bigint GENERATED ALWAYS AS IDENTITY,"
    "  account text NOT NULL,"
    "  address text NOT NULL,"
    "  time    bigint NOT NULL,"
    "  pending boolean NOT NULL DEFAULT false"
    ");"
    /* Version 1 had neither id nor pending (login reservations). */
    "ALTER TABLE failures"
    "  ADD COLUMN IF NOT EXISTS id bigint GENERATED ALWAYS AS IDENTITY,"
    "  ADD COLUMN IF NOT EXISTS pending boolean NOT NULL DEFAULT false;"
    "CREATE UNIQUE INDEX IF NOT EXISTS failures_id ON failures (id);"
    "CREATE INDEX IF NOT EXISTS failures_account ON failures (account, time);"
    "CREATE INDEX IF NOT EXISTS failures_address ON failures (address, time);"
    "CREATE INDEX IF NOT EXISTS failures_time ON failures (time);"
    /* Version 3: devices, fresh proof, TOTP, key metadata. */
    "ALTER TABLE accounts"
    "  ADD COLUMN IF NOT EXISTS deleted bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN IF NOT EXISTS totp_state integer NOT NULL DEFAULT 0,"
    "  ADD COLUMN IF NOT EXISTS totp_blob bytea,"
    "  ADD COLUMN IF NOT EXISTS totp_step bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions"
    "  ADD COLUMN IF NOT EXISTS device text NOT NULL DEFAULT 'unnamed',"
    "  ADD COLUMN IF NOT EXISTS created bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN IF NOT EXISTS last_used bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN IF NOT EXISTS last_address text NOT NULL DEFAULT '',"
    "  ADD COLUMN IF NOT EXISTS fresh_until bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN IF NOT EXISTS fresh_code integer NOT NULL DEFAULT 0;"
    "CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account);"
    "ALTER TABLE keys"
    "  ADD COLUMN IF NOT EXISTS device text NOT NULL DEFAULT '',"
    "  ADD COLUMN IF NOT EXISTS repo_id text NOT NULL DEFAULT '',"
    "  ADD COLUMN IF NOT EXISTS keyset_id text NOT NULL DEFAULT '';"
    "ALTER TABLE audit"
    "  ADD COLUMN IF NOT EXISTS device text NOT NULL DEFAULT '';"
    "CREATE TABLE IF NOT EXISTS recovery ("
    "  account text NOT NULL,"
    "  hash    bytea NOT NULL,"
    "  PRIMARY KEY (account, hash)"
    ");"
    "COMMIT;";

/* The first line of a libpq message (they end in "\n", some have more). */
static void
seterr_pg(char *err, const char *what, const char *msg)
{
	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	n = strcspn(msg, "\n");
	store_seterr(err, "postgres: %s: %.*s", what,
	    (int)(n > 200 ? 200 : n), msg);
}

static void
seterr_res(char *err, const char *what, const PGresult *res, PGconn *c)
{
	const char *state, *msg;

	if (res == NULL) {
		seterr_pg(err, what, PQerrorMessage(c));
		return;
	}
	/* The primary message only: DETAIL can quote row values. */
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (msg == NULL) {
		seterr_pg(err, what, PQresultErrorMessage(res));
		return;
	}
	if (state != NULL)
		store_seterr(err, "postgres: %s: %.180s (SQLSTATE %s)", what,
		    msg, state);
	else
		store_seterr(err, "postgres: %s: %.200s", what, msg);
}

/* libpq prints NOTICEs ("relation exists, skipping") to stderr otherwise. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static struct pg_store *
pg(struct store *st)
{
	return (struct pg_store *)st;
}

/* ---- parameters and results --------------------------------------- */

static void
p_text(struct pg_param *p, const char *s)
{
	p->type = PG_OID_TEXT;
	p->val = s;
	p->len = (int)strlen(s);
}

static void
p_bytea(struct pg_param *p, const uint8_t *b, size_t len)
{
	p->type = PG_OID_BYTEA;
	p->val = (const char *)b;
	p->len = (int)len;
}

static void
p_int8(struct pg_param *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		p->i8[i] = (uint8_t)(u & 0xff);
		u >>= 8;
	}
	p->type = PG_OID_INT8;
	p->val = (const char *)p->i8;
	p->len = 8;
}

static void
p_int4(struct pg_param *p, int32_t v)
{
	uint32_t u = (uint32_t)v;

	p->i8[0] = (uint8_t)(u >> 24);
	p->i8[1] = (uint8_t)(u >> 16);
	p->i8[2] = (uint8_t)(u >> 8);
	p->i8[3] = (uint8_t)u;
	p->type = PG_OID_INT4;
	p->val = (const char *)p->i8;
	p->len = 4;
}

static void
p_bool(struct pg_param *p, bool v)
{
	p->i8[0] = v ? 1 : 0;
	p->type = PG_OID_BOOL;
	p->val = (const char *)p->i8;
	p->len = 1;
}

/* An integer column (int2/int4/int8, binary), or 0 for NULL. */
static int
r_int(const PGresult *res, int row, int col, int64_t *v, char *err)
{
	const uint8_t *b;
	uint64_t u = 0;
	int i, len;

	*v = 0;
	if (PQgetisnull(res, row, col))
		return 0;
	b = (const uint8_t *)PQgetvalue(res, row, col);
	len = PQgetlength(res, row, col);
	if (len != 2 && len != 4 && len != 8) {
		store_seterr(err, "postgres: column %d: integer of %d bytes",
		    col, len);
		return STORE_EFAIL;
	}
	for (i = 0; i < len; i++)
		u = (u << 8) | b[i];
	/* Sign-extend the narrower types. */
	if (len < 8 && (b[0] & 0x80) != 0)
		u |= UINT64_MAX << (8 * len);
	*v = (int64_t)u;
	return 0;
}

/* A text column into dst[cap] with NUL; NULL reads as "". */
static int
r_text(const PGresult *res, int row, int col, char *dst, size_t cap,
    char *err)
{
	size_t len;

	dst[0] = '\0';
	if (PQgetisnull(res, row, col))
		return 0;
	len = (size_t)PQgetlength(res, row, col);
	if (len >= cap) {
		store_seterr(err, "postgres: column %d: %zu bytes, at most %zu",
		    col, len, cap - 1);
		return STORE_EFAIL;
	}
	memcpy(dst, PQgetvalue(res, row, col), len);
	dst[len] = '\0';
	return 0;
}

/* A bytea column into dst[cap]; *lenp gets its length. */
static int
r_bytea(const PGresult *res, int row, int col, uint8_t *dst, size_t cap,
    size_t *lenp, char *err)
{
	size_t len;

	*lenp = 0;
	if (PQgetisnull(res, row, col))
		return 0;
	len = (size_t)PQgetlength(res, row, col);
	if (len > cap) {
		store_seterr(err, "postgres: column %d: %zu bytes, at most %zu",
		    col, len, cap);
		return STORE_EFAIL;
	}
	memcpy(dst, PQgetvalue(res, row, col), len);
	*lenp = len;
	return 0;
}

/* ---- connections ---------------------------------------------------- */

/* Per-connection settings; again after every (re)connect. */
static int
conn_setup(PGconn *c, char *err)
{
	PGresult *res;
	int r = STORE_EFAIL;

	/* Committed must mean on disk: refuse the server's "off". */
	res = PQexec(c, "SELECT set_config('synchronous_commit', 'on', false)"
	    " WHERE current_setting('synchronous_commit') = 'off'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		seterr_res(err, "setting synchronous_commit", res, c);
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
conn_open(const char *conninfo, PGconn **out, char *err)
{
	/* The URL's own connect_timeout, if any, wins (it comes later). */
	static const char *const keys[] = {
		"connect_timeout", "fallback_application_name", "dbname", NULL
	};
	const char *vals[] = { "10", "cofferd", conninfo, NULL };
	PGconn *c = NULL;
	int r;

	*out = NULL;
	if ((c = PQconnectdbParams(keys, vals, 1)) == NULL) {
		store_seterr(err, "postgres: connecting: out of memory");
		r = STORE_EFAIL;
		goto out;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		seterr_pg(err, "connecting", PQerrorMessage(c));
		r = STORE_EFAIL;
		goto out;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	if ((r = conn_setup(c, err)) != 0)
		goto out;
	*out = c;
	c = NULL;
	r = 0;
out:
	PQfinish(c);
	return r;
}

static void
conn_free(struct pg_conn *pc)
{
	if (pc == NULL)
		return;
	PQfinish(pc->c);
	free(pc);
}

static int
conn_reset(struct pg_conn *pc, char *err)
{
	pc->nprep = 0;
	PQreset(pc->c);
	if (PQstatus(pc->c) != CONNECTION_OK) {
		seterr_pg(err, "reconnecting", PQerrorMessage(pc->c));
		return STORE_EFAIL;
	}
	return conn_setup(pc->c, err);
}

/*
 * An idle connection should have nothing to read.  If it has, the server
 * most likely sent "terminating connection" and closed it (a restart, an
 * administrator, idle_session_timeout): libpq would notice only when the
 * next statement fails, so reconnect now.  The rare harmless message
 * (a NOTICE, a changed parameter) costs one needless reconnect.
 */
static int
conn_check(struct pg_conn *pc, char *err)
{
	struct pollfd pfd;

	if (PQstatus(pc->c) != CONNECTION_OK)
		return conn_reset(pc, err);
	pfd.fd = PQsocket(pc->c);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0 || poll(&pfd, 1, 0) != 0)
		return conn_reset(pc, err);
	return 0;
}

/* Take a connection from the pool, opening one if there is room. */
static int
pool_get(struct pg_store *ps, struct pg_conn **out, char *err)
{
	struct pg_conn *pc = NULL;
	int r;

	*out = NULL;
	pthread_mutex_lock(&ps->mtx);
	while (ps->nidle == 0 && ps->nconn >= PG_POOL_MAX)
		pthread_cond_wait(&ps->cv, &ps->mtx);
	if (ps->nidle > 0) {
		pc = ps->idle[--ps->nidle];
		pthread_mutex_unlock(&ps->mtx);
		if ((r = conn_check(pc, err)) != 0)
			goto fail;
		*out = pc;
		return 0;
	}
	ps->nconn++;
	pthread_mutex_unlock(&ps->mtx);
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		store_seterr(err, "postgres: out of memory");
		r = STORE_EFAIL;
		goto fail;
	}
	if ((r = conn_open(ps->conninfo, &pc->c, err)) != 0)
		goto fail;
	*out = pc;
	return 0;
fail:
	conn_free(pc);
	pthread_mutex_lock(&ps->mtx);
	ps->nconn--;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mtx);
	return r;
}

/*
 * Give ${c} back.  One that is broken or was left inside a transaction is
 * closed instead, so the next user opens a clean one.
 */
static void
pool_put(struct pg_store *ps, struct pg_conn *pc)
{
	if (pc == NULL)
		return;
	if (PQstatus(pc->c) != CONNECTION_OK ||
	    PQtransactionStatus(pc->c) != PQTRANS_IDLE) {
		conn_free(pc);
		pc = NULL;
	}
	pthread_mutex_lock(&ps->mtx);
	if (pc != NULL)
		ps->idle[ps->nidle++] = pc;
	else
		ps->nconn--;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mtx);
}

/*
 * Prepare ${sql} on ${pc} unless it is already; *name gets its name.
 * A failure leaves the result in *resp.
 */
static bool
stmt_prepare(struct pg_conn *pc, const char *sql, int np,
    const unsigned int *types, char name[32], PGresult **resp)
{
	size_t i;

	*resp = NULL;
	for (i = 0; i < pc->nprep; i++)
		if (pc->prep[i] == sql)
			break;
	snprintf(name, 32, "cofferd_%zu", i);
	if (i < pc->nprep)
		return true;
	if (i == PG_STMT_MAX)
		return false;	/* cannot happen: 19 call sites */
	*resp = PQprepare(pc->c, name, sql, np, types);
	if (PQresultStatus(*resp) != PGRES_COMMAND_OK)
		return false;
	PQclear(*resp);
	*resp = NULL;
	pc->prep[pc->nprep++] = sql;
	return true;
}

/*
 * Run ${sql} (a string literal: prepared once per connection, by its
 * address) once on ${pc} with ${np} parameters ${p}, results in binary;
 * on success *resp holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result the
 * caller clears.  STORE_EFAIL with ${err} set otherwise.
 */
static int
conn_run(struct pg_conn *pc, const char *what, const char *sql,
    const struct pg_param *p, int np, PGresult **resp, char *err)
{
	unsigned int types[PG_PARAM_MAX];
	const char *vals[PG_PARAM_MAX];
	int lens[PG_PARAM_MAX], fmts[PG_PARAM_MAX];
	char name[32];
	PGresult *res = NULL;
	ExecStatusType rs;
	int i;

	*resp = NULL;
	if (np > PG_PARAM_MAX) {
		store_seterr(err, "postgres: %s: too many parameters", what);
		return STORE_EFAIL;
	}
	for (i = 0; i < np; i++) {
		types[i] = p[i].type;
		vals[i] = p[i].val;
		lens[i] = p[i].len;
		fmts[i] = 1;
	}
	if (stmt_prepare(pc, sql, np, types, name, &res)) {
		res = PQexecPrepared(pc->c, name, np, vals, lens, fmts, 1);
		rs = PQresultStatus(res);
		if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
			*resp = res;
			return 0;
		}
	}
	seterr_res(err, what, res, pc->c);
	PQclear(res);
	return STORE_EFAIL;
}

/*
 * conn_run() on a pooled connection, in autocommit.  ${retry}: the
 * statement may run twice (see the top).
 */
static int
pg_run(struct pg_store *ps, const char *what, const char *sql,
    const struct pg_param *p, int np, enum pg_retry retry, PGresult **resp,
    char *err)
{
	PGresult *res = NULL;
	struct pg_conn *pc = NULL;
	int r, tries;

	*resp = NULL;
	if ((r = pool_get(ps, &pc, err)) != 0)
		goto out;
	for (tries = 0; ; tries++) {
		if ((r = conn_run(pc, what, sql, p, np, &res, err)) == 0)
			break;
		if (PQstatus(pc->c) == CONNECTION_OK || retry != PG_RETRY ||
		    tries > 0)
			goto out;
		/* The connection broke under us: once more, afresh. */
		if ((r = conn_reset(pc, err)) != 0)
			goto out;
	}
	*resp = res;
	res = NULL;
	r = 0;
out:
	PQclear(res);
	pool_put(ps, pc);
	return r;
}

/*
 * pg_run() alone (${tx} NULL), or conn_run() on the connection of the
 * group commit ${tx} (never retried: the transaction is the caller's).
 */
static int
pg_run_tx(struct pg_store *ps, struct store_txn *tx, const char *what,
    const char *sql, const struct pg_param *p, int np, enum pg_retry retry,
    PGresult **resp, char *err)
{
	if (tx == NULL)
		return pg_run(ps, what, sql, p, np, retry, resp, err);
	return conn_run((struct pg_conn *)tx, what, sql, p, np, resp, err);
}

/* Group commit: a pooled connection inside BEGIN, until pg_txn_end. */
static int
pg_txn_begin(struct store *st, struct store_txn **tx, char err[STORE_ERRLEN])
{
	struct pg_store *ps = pg(st);
	struct pg_conn *pc = NULL;
	PGresult *res = NULL;
	int r, tries;

	*tx = NULL;
	if ((r = pool_get(ps, &pc, err)) != 0)
		return r;
	for (tries = 0; ; tries++) {
		res = PQexec(pc->c, "BEGIN");
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			break;
		/* BEGIN twice is harmless: once more on a broken one. */
		if (PQstatus(pc->c) == CONNECTION_OK || tries > 0 ||
		    conn_reset(pc, err) != 0) {
			seterr_res(err, "BEGIN", res, pc->c);
			PQclear(res);
			pool_put(ps, pc);
			return STORE_EFAIL;
		}
		PQclear(res);
	}
	PQclear(res);
	*tx = (struct store_txn *)pc;
	return 0;
}

static int
pg_txn_end(struct store *st, struct store_txn *tx, bool commit,
    char err[STORE_ERRLEN])
{
	struct pg_conn *pc = (struct pg_conn *)tx;
	PGresult *res;
	int r = 0;

	if (commit) {
		/* An aborted transaction answers COMMIT with "ROLLBACK". */
		res = PQexec(pc->c, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK ||
		    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
			seterr_res(err, "COMMIT", res, pc->c);
			r = STORE_EFAIL;
		}
		PQclear(res);
	}
	if (PQstatus(pc->c) == CONNECTION_OK &&
	    PQtransactionStatus(pc->c) != PQTRANS_IDLE)
		PQclear(PQexec(pc->c, "ROLLBACK"));
	/* Still in a transaction or broken: pool_put closes it. */
	pool_put(pg(st), pc);
	return r;
}

/* ---- operations ------------------------------------------------------ */

static void
pg_close(struct store *st)
{
	struct pg_store *ps = pg(st);
	size_t i;

	if (ps == NULL)
		return;
	/* Every connection must be back: closing while in use is a bug. */
	for (i = 0; i < ps->nidle; i++)
		conn_free(ps->idle[i]);
	pthread_cond_destroy(&ps->cv);
	pthread_mutex_destroy(&ps->mtx);
	/* It may hold the database password. */
	explicit_bzero(ps->conninfo, strlen(ps->conninfo));
	free(ps->conninfo);
	free(ps);
}

static int
pg_ping(struct store *st, char err[STORE_ERRLEN])
{
	PGresult *res = NULL;
	int r;

	r = pg_run(pg(st), "ping", "SELECT 1", NULL, 0, PG_RETRY, &res, err);
	PQclear(res);
	return r;
}

static int
pg_account_create(struct store *st, const char *account,
    const char *pwhash, int64_t now, char err[STORE_ERRLEN])
{
	struct pg_param p[3];
	PGresult *res = NULL;
	int r;

	if (strlen(account) > STORE_ACCOUNT_MAX ||
	    strlen(pwhash) > STORE_PWHASH_MAX) {
		store_seterr(err, "postgres: account name or hash too long");
		return STORE_EFAIL;
	}
	p_text(&p[0], account);
	p_text(&p[1], pwhash);
	p_int8(&p[2], now);
	if ((r = pg_run(pg(st), "creating account",
	    "INSERT INTO accounts (account, pwhash, created)"
	    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
	    p, 3, PG_NORETRY, &res, err)) != 0)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		store_seterr(err, "account exists");
		r = STORE_EEXIST;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
pg_account_pwhash(struct store *st, const char *account,
    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN])
{
	struct pg_param p[1];
	PGresult *res = NULL;
	int r;

	pwhash[0] = '\0';
	p_text(&p[0], account);
	if ((r = pg_run(pg(st), "reading account",
	    "SELECT pwhash FROM accounts WHERE account = $1 AND deleted = 0",
	    p, 1, PG_RETRY, &res, err)) != 0)
		goto out;
	if (PQntuples(res) != 1) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = r_text(res, 0, 0, pwhash, STORE_PWHASH_MAX + 1, err);
out:
	PQclear(res);
	return r;
}

static int
pg_session_open(struct store *st, const struct store_session *ss,
    char err[STORE_ERRLEN])
{
	struct pg_param p[9];
	PGresult *res = NULL;
	int r;

	if (strnlen(ss->account, sizeof(ss->account)) == sizeof(ss->account) ||
	    strnlen(ss->device, sizeof(ss->device)) == sizeof(ss->device) ||
	    strnlen(ss->last_address, sizeof(ss->last_address)) ==
	    sizeof(ss->last_address)) {
		store_seterr(err, "postgres: malformed session record");
		return STORE_EFAIL;
	}
	p_bytea(&p[0], ss->hash, STORE_TOKEN_HASH_LEN);
	p_text(&p[1], ss->account);
	p_int8(&p[2], ss->expires);
	p_text(&p[3], ss->device);
	p_int8(&p[4], ss->created);
	p_int8(&p[5], ss->last_used);
	p_text(&p[6], ss->last_address);
	p_int8(&p[7], ss->fresh_until);
	p_int4(&p[8], ss->fresh_code ? 1 : 0);
	if ((r = pg_run(pg(st), "creating session",
	    "INSERT INTO sessions (token_hash, account, expires, device,"
	    " created, last_used, last_address, fresh_until, fresh_code)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	    " ON CONFLICT DO NOTHING",
	    p, 9, PG_NORETRY, &res, err)) != 0)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		store_seterr(err, "session exists");
		r = STORE_EEXIST;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

#define SESSION_COLS "token_hash, account, expires, device, created," \
	" last_used, last_address, fresh_until, fresh_code"

static int
session_row(const PGresult *res, int row, struct store_session *ss,
    char *err)
{
	int64_t fc;
	size_t hl;
	int r;

	memset(ss, 0, sizeof(*ss));
	if ((r = r_bytea(res, row, 0, ss->hash, sizeof(ss->hash), &hl,
	    err)) != 0 ||
	    (r = r_text(res, row, 1, ss->account, sizeof(ss->account),
	    err)) != 0 ||
	    (r = r_int(res, row, 2, &ss->expires, err)) != 0 ||
	    (r = r_text(res, row, 3, ss->device, sizeof(ss->device),
	    err)) != 0 ||
	    (r = r_int(res, row, 4, &ss->created, err)) != 0 ||
	    (r = r_int(res, row, 5, &ss->last_used, err)) != 0 ||
	    (r = r_text(res, row, 6, ss->last_address,
	    sizeof(ss->last_address), err)) != 0 ||
	    (r = r_int(res, row, 7, &ss->fresh_until, err)) != 0 ||
	    (r = r_int(res, row, 8, &fc, err)) != 0)
		return r;
	ss->fresh_code = fc != 0;
	return 0;
}

static int
session_row_v(const PGresult *res, int row, void *ss, char *err)
{
	return session_row(res, row, ss, err);
}

/*
 * pg_collect(res, size, row, what, &v, &n, err): every row of ${res}
 * decoded by row() into a new array of ${size}-byte elements (the
 * caller's to free; NULL when there are none).
 */
static int
pg_collect(const PGresult *res, size_t size,
    int (*row)(const PGresult *, int, void *, char *), const char *what,
    void **out, size_t *n, char *err)
{
	size_t rows = (size_t)PQntuples(res);
	uint8_t *v;
	int r;

	*out = NULL;
	*n = 0;
	if (rows == 0)
		return 0;
	if ((v = calloc(rows, size)) == NULL) {
		store_seterr(err, "postgres: %s: out of memory", what);
		return STORE_EFAIL;
	}
	for (size_t i = 0; i < rows; i++)
		if ((r = row(res, (int)i, v + i * size, err)) != 0) {
			free(v);
			return r;
		}
	*out = v;
	*n = rows;
	return 0;
}

static int
pg_session_info(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN],
    struct store_session *ss, char err[STORE_ERRLEN])
{
	struct pg_param p[1];
	PGresult *res = NULL;
	int r;

	memset(ss, 0, sizeof(*ss));
	p_bytea(&p[0], hash, STORE_TOKEN_HASH_LEN);
	if ((r = pg_run(pg(st), "reading session",
	    "SELECT " SESSION_COLS " FROM sessions WHERE token_hash = $1",
	    p, 1, PG_RETRY, &res, err)) != 0)
		goto out;
	if (PQntuples(res) != 1) {
		store_seterr(err, "no such session");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = session_row(res, 0, ss, err);
out:
	if (r != 0)
		memset(ss, 0, sizeof(*ss));
	PQclear(res);
	return r;
}

/* Run ${sql}; *n gets the rows it changed (if not NULL). */
static int
pg_change_tx(struct store *st, struct store_txn *tx, const char *what,
    const char *sql, const struct pg_param *p, int np, enum pg_retry retry,
    int64_t *n, char err[STORE_ERRLEN])
{
	PGresult *res = NULL;
	char *end;
	long long v;
	int r;

	if (n != NULL)
		*n = 0;
	if ((r = pg_run_tx(pg(st), tx, what, sql, p, np, retry, &res,
	    err)) != 0)
		goto out;
	v = strtoll(PQcmdTuples(res), &end, 10);
	if (*end != '\0' || v < 0) {
		store_seterr(err, "postgres: %s: bad result", what);
		r = STORE_EFAIL;
		goto out;
	}
	if (n != NULL)
		*n = v;
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
pg_change(struct store *st, const char *what, const char *sql,
    const struct pg_param *p, int np, enum pg_retry retry, int64_t *n,
    char err[STORE_ERRLEN])
{
	return pg_change_tx(st, NULL, what, sql, p, np, retry, n, err);
}

static int
pg_session_touch(struct store *st, struct store_txn *tx,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now, const char *address,
    char err[STORE_ERRLEN])
{
	struct pg_param p[3];
	int64_t n;
	int r;

	p_bytea(&p[0], hash, STORE_TOKEN_HASH_LEN);
	p_int8(&p[1], now);
	p_text(&p[2], address);
	if ((r = pg_change_tx(st, tx, "touching session",
	    "UPDATE sessions SET last_used = $2, last_address = $3"
	    " WHERE token_hash = $1", p, 3, PG_RETRY, &n, err)) != 0)
		return r;
	if (n == 0) {
		store_seterr(err, "no such session");
		return STORE_ENOTFOUND;
	}
	return 0;
}

static int
pg_session_fresh(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN],
    int64_t fresh_until, int fresh_code, char err[STORE_ERRLEN])
{
	struct pg_param p[3];
	int64_t n;
	int r;

	p_bytea(&p[0], hash, STORE_TOKEN_HASH_LEN);
	p_int8(&p[1], fresh_until);
	p_int4(&p[2], fresh_code ? 1 : 0);
	if ((r = pg_change(st, "fresh session",
	    "UPDATE sessions SET fresh_until = $2, fresh_code = $3"
	    " WHERE token_hash = $1", p, 3, PG_RETRY, &n, err)) != 0)
		return r;
	if (n == 0) {
		store_seterr(err, "no such session");
		return STORE_ENOTFOUND;
	}
	return 0;
}

static int
pg_session_list(struct store *st, const char *account, int64_t now,
    struct store_session **out, size_t *n, char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	PGresult *res = NULL;
	void *v = NULL;
	int r;

	*out = NULL;
	*n = 0;
	p_text(&p[0], account);
	p_int8(&p[1], now);
	if ((r = pg_run(pg(st), "listing sessions",
	    "SELECT " SESSION_COLS " FROM sessions"
	    " WHERE account = $1 AND expires > $2"
	    " ORDER BY last_used DESC, created DESC, token_hash",
	    p, 2, PG_RETRY, &res, err)) == 0 &&
	    (r = pg_collect(res, sizeof(struct store_session), session_row_v,
	    "listing sessions", &v, n, err)) == 0)
		*out = v;
	PQclear(res);
	return r;
}

static int
pg_session_revoke(struct store *st, const char *account, const char *device,
    const uint8_t id[STORE_SESSION_ID_LEN],
    const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	static const uint8_t none[STORE_TOKEN_HASH_LEN];
	struct pg_param p[3];

	*n = 0;
	p_text(&p[0], account);
	p_bytea(&p[1], keep != NULL ? keep : none, STORE_TOKEN_HASH_LEN);
	if (device != NULL) {
		p_text(&p[2], device);
		return pg_change(st, "revoking sessions",
		    "DELETE FROM sessions WHERE account = $1"
		    " AND token_hash <> $2 AND device = $3",
		    p, 3, PG_RETRY, n, err);
	}
	if (id != NULL) {
		p_bytea(&p[2], id, STORE_SESSION_ID_LEN);
		return pg_change(st, "revoking sessions",
		    "DELETE FROM sessions WHERE account = $1"
		    " AND token_hash <> $2"
		    " AND substring(token_hash from 1 for 8) = $3",
		    p, 3, PG_RETRY, n, err);
	}
	return pg_change(st, "revoking sessions",
	    "DELETE FROM sessions WHERE account = $1 AND token_hash <> $2",
	    p, 2, PG_RETRY, n, err);
}

static int
pg_account_set_pwhash(struct store *st, const char *account,
    const char *pwhash, const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	static const uint8_t none[STORE_TOKEN_HASH_LEN];
	struct pg_param p[3];
	PGresult *res = NULL;
	int64_t v[2];
	int r;

	*n = 0;
	if (strlen(pwhash) > STORE_PWHASH_MAX) {
		store_seterr(err, "postgres: password hash too long");
		return STORE_EFAIL;
	}
	p_text(&p[0], account);
	p_text(&p[1], pwhash);
	p_bytea(&p[2], keep != NULL ? keep : none, STORE_TOKEN_HASH_LEN);
	/* One statement: both or neither. */
	if ((r = pg_run(pg(st), "changing password",
	    "WITH a AS (UPDATE accounts SET pwhash = $2"
	    "  WHERE account = $1 AND deleted = 0 RETURNING account),"
	    " s AS (DELETE FROM sessions WHERE account IN (SELECT account"
	    "  FROM a) AND token_hash <> $3 RETURNING 1)"
	    " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM s)",
	    p, 3, PG_NORETRY, &res, err)) != 0)
		goto out;
	if (PQntuples(res) != 1 || (r = r_int(res, 0, 0, &v[0], err)) != 0 ||
	    (r = r_int(res, 0, 1, &v[1], err)) != 0) {
		if (r == 0) {
			store_seterr(err,
			    "postgres: changing password: bad result");
			r = STORE_EFAIL;
		}
		goto out;
	}
	if (v[0] != 1) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
		goto out;
	}
	*n = v[1];
	r = 0;
out:
	PQclear(res);
	return r;
}

/* Run ${sql}, a query of one row of one integer, into *v. */
static int
pg_int(struct store *st, const char *what, const char *sql,
    const struct pg_param *p, int np, enum pg_retry retry, int64_t *v,
    char err[STORE_ERRLEN])
{
	PGresult *res = NULL;
	int r;

	*v = 0;
	if ((r = pg_run(pg(st), what, sql, p, np, retry, &res, err)) != 0)
		goto out;
	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		store_seterr(err, "postgres: %s: bad result", what);
		r = STORE_EFAIL;
		goto out;
	}
	r = r_int(res, 0, 0, v, err);
out:
	PQclear(res);
	return r;
}

static int
pg_account_delete(struct store *st, const char *account, int64_t now,
    char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	int64_t n;
	int r;

	p_text(&p[0], account);
	p_int8(&p[1], now > 0 ? now : 1);
	/* One statement: every part or none (see pg_key_destroy). */
	if ((r = pg_int(st, "deleting account",
	    "WITH a AS (UPDATE accounts SET pwhash = '', deleted = $2,"
	    "  totp_state = 0, totp_blob = NULL, totp_step = 0"
	    "  WHERE account = $1 AND deleted = 0 RETURNING account),"
	    " k AS (UPDATE keys SET blob = ''::bytea, destroyed = $2"
	    "  WHERE account IN (SELECT account FROM a) AND destroyed = 0),"
	    " s AS (DELETE FROM sessions"
	    "  WHERE account IN (SELECT account FROM a)),"
	    " c AS (DELETE FROM recovery"
	    "  WHERE account IN (SELECT account FROM a))"
	    " SELECT count(*) FROM a",
	    p, 2, PG_NORETRY, &n, err)) != 0)
		return r;
	if (n != 1) {
		store_seterr(err, "no such account");
		return STORE_ENOTFOUND;
	}
	return 0;
}

static int
pg_totp_get(struct store *st, const char *account, struct store_totp *t,
    char err[STORE_ERRLEN])
{
	struct pg_param p[1];
	PGresult *res = NULL;
	int64_t state;
	int r;

	memset(t, 0, sizeof(*t));
	p_text(&p[0], account);
	if ((r = pg_run(pg(st), "reading TOTP",
	    "SELECT totp_state, totp_blob, totp_step FROM accounts"
	    " WHERE account = $1 AND deleted = 0",
	    p, 1, PG_RETRY, &res, err)) != 0)
		goto out;
	if (PQntuples(res) != 1) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
		goto out;
	}
	if ((r = r_int(res, 0, 0, &state, err)) != 0 ||
	    (r = r_bytea(res, 0, 1, t->blob, sizeof(t->blob), &t->blob_len,
	    err)) != 0 ||
	    (r = r_int(res, 0, 2, &t->step, err)) != 0)
		goto out;
	t->state = (int)state;
out:
	if (r != 0)
		memset(t, 0, sizeof(*t));
	PQclear(res);
	return r;
}

static int
pg_totp_pending(struct store *st, const char *account, const uint8_t *blob,
    size_t blob_len, char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	int64_t n;
	int r;

	p_text(&p[0], account);
	p_bytea(&p[1], blob, blob_len);
	if ((r = pg_change(st, "TOTP pending",
	    "UPDATE accounts SET totp_state = 1, totp_blob = $2"
	    " WHERE account = $1 AND deleted = 0 AND totp_state <> 2",
	    p, 2, PG_RETRY, &n, err)) != 0)
		return r;
	if (n == 0) {
		store_seterr(err, "TOTP is on, or no such account");
		return STORE_EEXIST;
	}
	return 0;
}

static int
pg_totp_enable(struct store *st, const char *account, int64_t step,
    const uint8_t (*hashes)[STORE_CODE_HASH_LEN], size_t n,
    char err[STORE_ERRLEN])
{
	uint8_t all[STORE_RECOVERY_MAX * STORE_CODE_HASH_LEN];
	struct pg_param p[4];
	int64_t v;
	int r;

	for (size_t i = 0; i < n; i++)
		memcpy(all + i * STORE_CODE_HASH_LEN, hashes[i],
		    STORE_CODE_HASH_LEN);
	p_text(&p[0], account);
	p_int8(&p[1], step);
	p_bytea(&p[2], all, n * STORE_CODE_HASH_LEN);
	p_int8(&p[3], (int64_t)n);
	/* One statement; $3 is the n hashes, one after another. */
	if ((r = pg_int(st, "enabling TOTP",
	    "WITH a AS (UPDATE accounts SET totp_state = 2, totp_step = $2"
	    "  WHERE account = $1 AND deleted = 0 AND totp_state = 1"
	    "  RETURNING account),"
	    " d AS (DELETE FROM recovery"
	    "  WHERE account IN (SELECT account FROM a)),"
	    " i AS (INSERT INTO recovery (account, hash)"
	    "  SELECT a.account,"
	    "  substring($3 from (g * 32 + 1)::integer for 32)"
	    "  FROM a, generate_series(0, $4 - 1) AS g"
	    "  ON CONFLICT DO NOTHING)"
	    " SELECT count(*) FROM a",
	    p, 4, PG_NORETRY, &v, err)) != 0)
		goto out;
	if (v != 1) {
		store_seterr(err, "no pending TOTP secret");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	explicit_bzero(all, sizeof(all));
	return r;
}

static int
pg_totp_disable(struct store *st, const char *account, char err[STORE_ERRLEN])
{
	struct pg_param p[1];
	int64_t n;

	p_text(&p[0], account);
	return pg_int(st, "disabling TOTP",
	    "WITH a AS (UPDATE accounts SET totp_state = 0, totp_blob = NULL,"
	    "  totp_step = 0 WHERE account = $1 RETURNING account),"
	    " d AS (DELETE FROM recovery WHERE account = $1)"
	    " SELECT count(*) FROM a",
	    p, 1, PG_RETRY, &n, err);
}

static int
pg_totp_step(struct store *st, const char *account, int64_t step,
    char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	int64_t n;
	int r;

	p_text(&p[0], account);
	p_int8(&p[1], step);
	if ((r = pg_change(st, "TOTP step",
	    "UPDATE accounts SET totp_step = $2 WHERE account = $1"
	    " AND deleted = 0 AND totp_state = 2 AND totp_step < $2",
	    p, 2, PG_NORETRY, &n, err)) != 0)
		return r;
	if (n == 0) {
		store_seterr(err, "code already used");
		return STORE_ENOTFOUND;
	}
	return 0;
}

static int
pg_recovery_use(struct store *st, const char *account,
    const uint8_t hash[STORE_CODE_HASH_LEN], char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	int64_t n;
	int r;

	p_text(&p[0], account);
	p_bytea(&p[1], hash, STORE_CODE_HASH_LEN);
	if ((r = pg_change(st, "recovery code",
	    "DELETE FROM recovery WHERE account = $1 AND hash = $2",
	    p, 2, PG_NORETRY, &n, err)) != 0)
		return r;
	if (n == 0) {
		store_seterr(err, "no such recovery code");
		return STORE_ENOTFOUND;
	}
	return 0;
}

static int
pg_key_bind(struct store *st, const char *account, const char *key_id,
    const char *repo_id, const char *keyset_id, char err[STORE_ERRLEN])
{
	struct pg_param p[4];
	int64_t v;
	int r;

	p_text(&p[0], key_id);
	p_text(&p[1], account);
	p_text(&p[2], repo_id);
	p_text(&p[3], keyset_id);
	/* 2: bound now or already to these; 1: to others; 0: no such key. */
	if ((r = pg_int(st, "binding key",
	    "WITH u AS (UPDATE keys SET repo_id = $3, keyset_id = $4"
	    "  WHERE key_id = $1 AND account = $2 AND kind = 2"
	    "  AND destroyed = 0 AND ((repo_id = '' AND keyset_id = '')"
	    "  OR (repo_id = $3 AND keyset_id = $4)) RETURNING 1)"
	    " SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN 2"
	    "  WHEN EXISTS (SELECT 1 FROM keys WHERE key_id = $1"
	    "  AND account = $2 AND kind = 2 AND destroyed = 0) THEN 1"
	    "  ELSE 0 END",
	    p, 4, PG_RETRY, &v, err)) != 0)
		return r;
	if (v == 1) {
		store_seterr(err, "bound to other ids");
		return STORE_EEXIST;
	}
	if (v == 0) {
		store_seterr(err, "no such wrap key");
		return STORE_ENOTFOUND;
	}
	return 0;
}

static int
pg_session_delete(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], char err[STORE_ERRLEN])
{
	struct pg_param p[1];
	PGresult *res = NULL;
	int r;

	p_bytea(&p[0], hash, STORE_TOKEN_HASH_LEN);
	if ((r = pg_run(pg(st), "deleting session",
	    "DELETE FROM sessions WHERE token_hash = $1",
	    p, 1, PG_RETRY, &res, err)) != 0)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		store_seterr(err, "no such session");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
pg_key_put(struct store *st, struct store_txn *tx, const struct store_key *k,
    char err[STORE_ERRLEN])
{
	struct pg_param p[10];
	PGresult *res = NULL;
	int r;

	if (strnlen(k->device, sizeof(k->device)) == sizeof(k->device) ||
	    strnlen(k->repo_id, sizeof(k->repo_id)) == sizeof(k->repo_id) ||
	    strnlen(k->keyset_id, sizeof(k->keyset_id)) ==
	    sizeof(k->keyset_id) ||
	    strnlen(k->key_id, sizeof(k->key_id)) == sizeof(k->key_id) ||
	    strnlen(k->account, sizeof(k->account)) == sizeof(k->account) ||
	    strnlen(k->label, sizeof(k->label)) == sizeof(k->label) ||
	    k->blob_len > sizeof(k->blob)) {
		store_seterr(err, "postgres: malformed key record");
		return STORE_EFAIL;
	}
	p_text(&p[0], k->key_id);
	p_text(&p[1], k->account);
	p_int4(&p[2], k->kind);
	p_text(&p[3], k->label);
	p_int8(&p[4], k->created);
	p_bytea(&p[5], k->pub, sizeof(k->pub));
	if (k->kind != STORE_KIND_WRAP)
		p[5].val = NULL;
	p_bytea(&p[6], k->blob, k->blob_len);
	p_text(&p[7], k->device);
	p_text(&p[8], k->repo_id);
	p_text(&p[9], k->keyset_id);
	/* A new key: destroyed and releases start at 0 whatever ${k} says. */
	r = pg_run_tx(pg(st), tx, "storing key",
	    "INSERT INTO keys (key_id, account, kind, label, created, pub,"
	    " blob, device, repo_id, keyset_id)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	    " ON CONFLICT DO NOTHING",
	    p, 10, PG_NORETRY, &res, err);
	if (r != 0)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		store_seterr(err, "key id exists");
		r = STORE_EEXIST;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

/* Columns 0-7 of a key row into ${k} (not the blob). */
#define KEY_COLS "key_id, account, kind, label, created, destroyed," \
	" releases, pub, device, repo_id, keyset_id"

static int
key_row(const PGresult *res, int row, struct store_key *k, char *err)
{
	int64_t kind;
	size_t publen;
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = r_text(res, row, 0, k->key_id, sizeof(k->key_id),
	    err)) != 0 ||
	    (r = r_text(res, row, 1, k->account, sizeof(k->account),
	    err)) != 0 ||
	    (r = r_int(res, row, 2, &kind, err)) != 0 ||
	    (r = r_text(res, row, 3, k->label, sizeof(k->label), err)) != 0 ||
	    (r = r_int(res, row, 4, &k->created, err)) != 0 ||
	    (r = r_int(res, row, 5, &k->destroyed, err)) != 0 ||
	    (r = r_int(res, row, 6, &k->releases, err)) != 0 ||
	    (r = r_bytea(res, row, 7, k->pub, sizeof(k->pub), &publen,
	    err)) != 0 ||
	    (r = r_text(res, row, 8, k->device, sizeof(k->device),
	    err)) != 0 ||
	    (r = r_text(res, row, 9, k->repo_id, sizeof(k->repo_id),
	    err)) != 0 ||
	    (r = r_text(res, row, 10, k->keyset_id, sizeof(k->keyset_id),
	    err)) != 0)
		return r;
	k->kind = (int)kind;
	return 0;
}

static int
key_row_v(const PGresult *res, int row, void *k, char *err)
{
	return key_row(res, row, k, err);
}

static int
pg_key_get(struct store *st, const char *account, const char *key_id,
    struct store_key *k, char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	PGresult *res = NULL;
	int r;

	memset(k, 0, sizeof(*k));
	p_text(&p[0], key_id);
	p_text(&p[1], account);
	if ((r = pg_run(pg(st), "reading key",
	    "SELECT " KEY_COLS ", blob FROM keys"
	    " WHERE key_id = $1 AND account = $2",
	    p, 2, PG_RETRY, &res, err)) != 0)
		goto out;
	if (PQntuples(res) != 1) {
		store_seterr(err, "no such key");
		r = STORE_ENOTFOUND;
		goto out;
	}
	if ((r = key_row(res, 0, k, err)) != 0 ||
	    (r = r_bytea(res, 0, 11, k->blob, sizeof(k->blob), &k->blob_len,
	    err)) != 0)
		goto out;
	r = 0;
out:
	if (r != 0)
		memset(k, 0, sizeof(*k));
	PQclear(res);
	return r;
}

static int
pg_key_released(struct store *st, struct store_txn *tx, const char *account,
    const char *key_id, char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	PGresult *res = NULL;
	int r;

	p_text(&p[0], key_id);
	p_text(&p[1], account);
	if ((r = pg_run_tx(pg(st), tx, "counting release",
	    "UPDATE keys SET releases = releases + 1"
	    " WHERE key_id = $1 AND account = $2",
	    p, 2, PG_NORETRY, &res, err)) != 0)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		store_seterr(err, "no such key");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
pg_key_destroy(struct store *st, const char *account, const char *key_id,
    int64_t now, char err[STORE_ERRLEN])
{
	struct pg_param p[3];
	PGresult *res = NULL;
	int r;

	p_text(&p[0], key_id);
	p_text(&p[1], account);
	/* destroyed = 0 means live, so a destroy at time 0 says 1. */
	p_int8(&p[2], now > 0 ? now : 1);
	/* A second destroy keeps the first time; the blob is empty anyway. */
	if ((r = pg_run(pg(st), "destroying key",
	    "UPDATE keys SET blob = ''::bytea,"
	    " destroyed = CASE WHEN destroyed = 0 THEN $3 ELSE destroyed END"
	    " WHERE key_id = $1 AND account = $2",
	    p, 3, PG_RETRY, &res, err)) != 0)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		store_seterr(err, "no such key");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
pg_key_list(struct store *st, const char *account, struct store_key **out,
    size_t *n, char err[STORE_ERRLEN])
{
	struct pg_param p[1];
	PGresult *res = NULL;
	void *v = NULL;
	int r;

	*out = NULL;
	*n = 0;
	p_text(&p[0], account);
	if ((r = pg_run(pg(st), "listing keys",
	    "SELECT " KEY_COLS " FROM keys WHERE account = $1"
	    " ORDER BY created, seq",
	    p, 1, PG_RETRY, &res, err)) == 0 &&
	    (r = pg_collect(res, sizeof(struct store_key), key_row_v,
	    "listing keys", &v, n, err)) == 0)
		*out = v;
	PQclear(res);
	return r;
}

static int
pg_audit_add(struct store *st, struct store_txn *tx,
    const struct store_event *ev, char err[STORE_ERRLEN])
{
	struct pg_param p[7];
	PGresult *res = NULL;
	int r;

	if (strnlen(ev->device, sizeof(ev->device)) == sizeof(ev->device) ||
	    strnlen(ev->account, sizeof(ev->account)) == sizeof(ev->account) ||
	    strnlen(ev->address, sizeof(ev->address)) == sizeof(ev->address) ||
	    strnlen(ev->event, sizeof(ev->event)) == sizeof(ev->event) ||
	    strnlen(ev->key_id, sizeof(ev->key_id)) == sizeof(ev->key_id)) {
		store_seterr(err, "postgres: malformed audit event");
		return STORE_EFAIL;
	}
	p_int8(&p[0], ev->time);
	p_text(&p[1], ev->account);
	p_text(&p[2], ev->address);
	p_text(&p[3], ev->event);
	p_text(&p[4], ev->key_id);
	p_bool(&p[5], ev->ok != 0);
	p_text(&p[6], ev->device);
	r = pg_run_tx(pg(st), tx, "writing audit event",
	    "INSERT INTO audit (time, account, address, event, key_id, ok,"
	    " device) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	    p, 7, PG_NORETRY, &res, err);
	PQclear(res);
	return r;
}

/* One audit row (pg_collect). */
static int
event_row(const PGresult *res, int row, void *p, char *err)
{
	struct store_event *e = p;
	int64_t ok;
	int r;

	if ((r = r_int(res, row, 0, &e->time, err)) != 0 ||
	    (r = r_text(res, row, 1, e->account, sizeof(e->account),
	    err)) != 0 ||
	    (r = r_text(res, row, 2, e->address, sizeof(e->address),
	    err)) != 0 ||
	    (r = r_text(res, row, 3, e->event, sizeof(e->event), err)) != 0 ||
	    (r = r_text(res, row, 4, e->key_id, sizeof(e->key_id),
	    err)) != 0 ||
	    (r = r_int(res, row, 5, &ok, err)) != 0 ||
	    (r = r_text(res, row, 6, e->device, sizeof(e->device), err)) != 0)
		return r;
	e->ok = ok != 0;
	return 0;
}

static int
pg_audit_list(struct store *st, const char *account, int limit,
    struct store_event **out, size_t *n, char err[STORE_ERRLEN])
{
	struct pg_param p[2];
	PGresult *res = NULL;
	void *v = NULL;
	int r;

	*out = NULL;
	*n = 0;
	if (limit <= 0)
		return 0;
	p_text(&p[0], account);
	p_int8(&p[1], limit);
	/* Newest first is last written first, whatever the clocks said. */
	if ((r = pg_run(pg(st), "reading audit log",
	    "SELECT time, account, address, event, key_id, ok::integer,"
	    " device FROM audit WHERE account = $1 ORDER BY id DESC LIMIT $2",
	    p, 2, PG_RETRY, &res, err)) == 0 &&
	    (r = pg_collect(res, sizeof(struct store_event), event_row,
	    "reading audit log", &v, n, err)) == 0)
		*out = v;
	PQclear(res);
	return r;
}

static int
pg_failure_add(struct store *st, const char *account, const char *address,
    int64_t now, char err[STORE_ERRLEN])
{
	struct pg_param p[3];
	PGresult *res = NULL;
	int r;

	p_text(&p[0], account);
	p_text(&p[1], address);
	p_int8(&p[2], now);
	r = pg_run(pg(st), "recording failed login",
	    "INSERT INTO failures (account, address, time) VALUES ($1, $2, $3)",
	    p, 3, PG_NORETRY, &res, err);
	PQclear(res);
	return r;
}

static int
pg_failure_count(struct store *st, const char *account, const char *address,
    int64_t since, int *n_account, int64_t *old_account, int *n_address,
    int64_t *old_address, char err[STORE_ERRLEN])
{
	struct pg_param p[3];
	PGresult *res = NULL;
	int64_t na, nd;
	int r;

	*n_account = 0;
	*old_account = 0;
	*n_address = 0;
	*old_address = 0;
	p_text(&p[0], account);
	p_text(&p[1], address);
	p_int8(&p[2], since);
	/*
	 * One statement: the counts see the rows as they were before the
	 * DELETE, which removes only rows the counts skip.
	 */
	if ((r = pg_run(pg(st), "counting failed logins",
	    "WITH old AS (DELETE FROM failures WHERE time < $3)"
	    " SELECT"
	    " (SELECT count(*) FROM failures"
	    "  WHERE account = $1 AND time >= $3),"
	    " (SELECT coalesce(min(time), 0) FROM failures"
	    "  WHERE account = $1 AND time >= $3),"
	    " (SELECT count(*) FROM failures"
	    "  WHERE address = $2 AND time >= $3),"
	    " (SELECT coalesce(min(time), 0) FROM failures"
	    "  WHERE address = $2 AND time >= $3)",
	    p, 3, PG_RETRY, &res, err)) != 0)
		goto out;
	if (PQntuples(res) != 1 || PQnfields(res) != 4) {
		store_seterr(err,
		    "postgres: counting failed logins: bad result");
		r = STORE_EFAIL;
		goto out;
	}
	if ((r = r_int(res, 0, 0, &na, err)) != 0 ||
	    (r = r_int(res, 0, 1, old_account, err)) != 0 ||
	    (r = r_int(res, 0, 2, &nd, err)) != 0 ||
	    (r = r_int(res, 0, 3, old_address, err)) != 0)
		goto out;
	*n_account = na > INT32_MAX ? INT32_MAX : (int)na;
	*n_address = nd > INT32_MAX ? INT32_MAX : (int)nd;
	r = 0;
out:
	if (r != 0) {
		*n_account = 0;
		*old_account = 0;
		*n_address = 0;
		*old_address = 0;
	}
	PQclear(res);
	return r;
}

/* One statement for both locks: prepared once. */
static const char lock_sql[] = "SELECT pg_advisory_xact_lock($1, $2)";

/* FNV-1a of ${s}, as an advisory lock key. */
static int32_t
lock_key(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return (int32_t)h;
}

/*
 * The reservation's transaction on ${pc}: lock the account, then the
 * address (always in this order, so two reservations cannot deadlock),
 * then count and insert in one statement, whose snapshot is taken after
 * the locks and so sees every reservation committed before them.  The
 * same statement deletes expired rows (SKIP LOCKED: it never waits for,
 * or deadlocks with, another server doing the same).  *resp gets the row
 * (n, p, oldest for the account, the same for the address, id or NULL).
 * *committing is true once COMMIT was sent: after that a broken
 * connection may or may not have kept the row.
 */
static int
reserve_txn(struct pg_conn *pc, const struct pg_param *p,
    const struct pg_param *lk, PGresult **resp, bool *committing, char *err)
{
	PGresult *res = NULL;
	int r;

	*resp = NULL;
	*committing = false;
	res = PQexec(pc->c, "BEGIN");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		seterr_res(err, "reserving login", res, pc->c);
		r = STORE_EFAIL;
		goto out;
	}
	PQclear(res);
	res = NULL;
	if ((r = conn_run(pc, "locking login", lock_sql, &lk[0], 2, &res,
	    err)) != 0)
		goto out;
	PQclear(res);
	res = NULL;
	if ((r = conn_run(pc, "locking login", lock_sql, &lk[2], 2, &res,
	    err)) != 0)
		goto out;
	PQclear(res);
	res = NULL;
	if ((r = conn_run(pc, "reserving login",
	    "WITH old AS (DELETE FROM failures WHERE id IN"
	    "  (SELECT id FROM failures WHERE time < $3"
	    "   FOR UPDATE SKIP LOCKED)),"
	    " a AS (SELECT"
	    "  count(*) FILTER (WHERE NOT pending OR time < $4) AS n,"
	    "  count(*) FILTER (WHERE pending AND time >= $4) AS p,"
	    "  coalesce(min(time), 0) AS o"
	    "  FROM failures WHERE account = $1 AND time >= $3),"
	    " d AS (SELECT"
	    "  count(*) FILTER (WHERE NOT pending OR time < $4) AS n,"
	    "  count(*) FILTER (WHERE pending AND time >= $4) AS p,"
	    "  coalesce(min(time), 0) AS o"
	    "  FROM failures WHERE address = $2 AND time >= $3),"
	    " ins AS (INSERT INTO failures (account, address, time, pending)"
	    "  SELECT $1, $2, $5, true FROM a, d"
	    "  WHERE a.n + a.p < $6 AND d.n + d.p < $6"
	    "  RETURNING id)"
	    " SELECT a.n, a.p, a.o, d.n, d.p, d.o, (SELECT id FROM ins)"
	    " FROM a, d",
	    p, 6, resp, err)) != 0)
		goto out;
	*committing = true;
	res = PQexec(pc->c, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK ||
	    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		seterr_res(err, "reserving login", res, pc->c);
		r = STORE_EFAIL;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	if (r != 0) {
		PQclear(*resp);
		*resp = NULL;
		/* Else pool_put() closes the connection. */
		if (PQstatus(pc->c) == CONNECTION_OK &&
		    PQtransactionStatus(pc->c) != PQTRANS_IDLE)
			PQclear(PQexec(pc->c, "ROLLBACK"));
	}
	return r;
}

static int
pg_failure_reserve(struct store *st, const char *account,
    const char *address, int64_t now, int64_t since, int64_t stale, int limit,
    int64_t *id, struct store_failures *f, char err[STORE_ERRLEN])
{
	struct pg_store *ps = pg(st);
	struct pg_conn *pc = NULL;
	struct pg_param p[6], lk[4];
	PGresult *res = NULL;
	int64_t v[7];
	bool committing;
	int i, r, tries;

	*id = 0;
	memset(f, 0, sizeof(*f));
	p_text(&p[0], account);
	p_text(&p[1], address);
	p_int8(&p[2], since);
	p_int8(&p[3], stale);
	p_int8(&p[4], now);
	p_int8(&p[5], limit);
	p_int4(&lk[0], PG_LOCK_ACCOUNT);
	p_int4(&lk[1], lock_key(account));
	p_int4(&lk[2], PG_LOCK_ADDRESS);
	p_int4(&lk[3], lock_key(address));
	if ((r = pool_get(ps, &pc, err)) != 0)
		goto out;
	for (tries = 0; ; tries++) {
		if ((r = reserve_txn(pc, p, lk, &res, &committing, err)) == 0)
			break;
		/* Nothing was committed: once more on a fresh connection. */
		if (PQstatus(pc->c) == CONNECTION_OK || committing ||
		    tries > 0)
			goto out;
		if ((r = conn_reset(pc, err)) != 0)
			goto out;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 7) {
		store_seterr(err, "postgres: reserving login: bad result");
		r = STORE_EFAIL;
		goto out;
	}
	for (i = 0; i < 7; i++)
		if ((r = r_int(res, 0, i, &v[i], err)) != 0)
			goto out;
	f->n_account = v[0] > INT32_MAX ? INT32_MAX : (int)v[0];
	f->p_account = v[1] > INT32_MAX ? INT32_MAX : (int)v[1];
	f->old_account = v[2];
	f->n_address = v[3] > INT32_MAX ? INT32_MAX : (int)v[3];
	f->p_address = v[4] > INT32_MAX ? INT32_MAX : (int)v[4];
	f->old_address = v[5];
	if (v[6] > 0) {
		*id = v[6];
		r = 0;
	} else if (f->n_account >= limit || f->n_address >= limit) {
		store_seterr(err, "too many failed logins");
		r = STORE_ELIMIT;
	} else {
		store_seterr(err, "too many logins in progress");
		r = STORE_EBUSY;
	}
out:
	if (r != 0 && r != STORE_ELIMIT && r != STORE_EBUSY)
		memset(f, 0, sizeof(*f));
	PQclear(res);
	pool_put(ps, pc);
	return r;
}

/* Run ${sql} (UPDATE or DELETE of pending row $1); one row or not found. */
static int
pg_reservation_end(struct store *st, int64_t id, const char *what,
    const char *sql, char err[STORE_ERRLEN])
{
	struct pg_param p[1];
	PGresult *res = NULL;
	int r;

	p_int8(&p[0], id);
	if ((r = pg_run(pg(st), what, sql, p, 1, PG_RETRY, &res, err)) != 0)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		store_seterr(err, "no such reservation");
		r = STORE_ENOTFOUND;
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
pg_failure_confirm(struct store *st, int64_t id, char err[STORE_ERRLEN])
{
	return pg_reservation_end(st, id, "confirming failed login",
	    "UPDATE failures SET pending = false WHERE id = $1 AND pending",
	    err);
}

static int
pg_failure_cancel(struct store *st, int64_t id, char err[STORE_ERRLEN])
{
	return pg_reservation_end(st, id, "cancelling login reservation",
	    "DELETE FROM failures WHERE id = $1 AND pending", err);
}

/*
 * One batch of store_expire: ${sql} has ${np} parameters, $1 (${v1}),
 * $2 (${v2}) if ${np} is 3, and last the most rows it may delete; add the
 * rows deleted to *n.  SKIP LOCKED: a batch never waits for a row that
 * another statement holds (a logout, a reservation being settled); such
 * a row goes next time.
 */
static int
pg_expire_batch(struct pg_store *ps, const char *what, const char *sql,
    int64_t v1, int64_t v2, int np, int64_t *n, bool *more, char *err)
{
	struct pg_param p[3];
	PGresult *res = NULL;
	long long changed;
	char *end;
	int r;

	*more = false;
	p_int8(&p[0], v1);
	p_int8(&p[1], v2);
	p_int8(&p[np - 1], STORE_EXPIRE_BATCH);
	if ((r = pg_run(ps, what, sql, p, np, PG_RETRY, &res, err)) != 0)
		goto out;
	changed = strtoll(PQcmdTuples(res), &end, 10);
	if (*end != '\0' || changed < 0) {
		store_seterr(err, "postgres: %s: bad result", what);
		r = STORE_EFAIL;
		goto out;
	}
	*n += changed;
	*more = changed >= STORE_EXPIRE_BATCH;
	r = 0;
out:
	PQclear(res);
	return r;
}

static int
pg_expire(struct store *st, int64_t now, int64_t since, int64_t stale,
    int64_t *n_sessions, int64_t *n_failures, char err[STORE_ERRLEN])
{
	bool more;
	int r;

	*n_sessions = 0;
	*n_failures = 0;
	do {
		if ((r = pg_expire_batch(pg(st), "expiring sessions",
		    "DELETE FROM sessions WHERE token_hash IN"
		    " (SELECT token_hash FROM sessions WHERE expires <= $1"
		    "  LIMIT $2 FOR UPDATE SKIP LOCKED)",
		    now, 0, 2, n_sessions, &more, err)) != 0)
			return r;
	} while (more);
	do {
		if ((r = pg_expire_batch(pg(st), "expiring failed logins",
		    "DELETE FROM failures WHERE id IN"
		    " (SELECT id FROM failures WHERE time < $1"
		    "  AND (NOT pending OR time < $2)"
		    "  LIMIT $3 FOR UPDATE SKIP LOCKED)",
		    since, stale, 3, n_failures, &more, err)) != 0)
			return r;
	} while (more);
	return 0;
}

static const struct store_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.ping = pg_ping,
	.account_create = pg_account_create,
	.account_pwhash = pg_account_pwhash,
	.account_set_pwhash = pg_account_set_pwhash,
	.account_delete = pg_account_delete,
	.totp_get = pg_totp_get,
	.totp_pending = pg_totp_pending,
	.totp_enable = pg_totp_enable,
	.totp_disable = pg_totp_disable,
	.totp_step = pg_totp_step,
	.recovery_use = pg_recovery_use,
	.session_open = pg_session_open,
	.session_info = pg_session_info,
	.session_delete = pg_session_delete,
	.session_touch = pg_session_touch,
	.session_fresh = pg_session_fresh,
	.session_list = pg_session_list,
	.session_revoke = pg_session_revoke,
	.key_put = pg_key_put,
	.key_get = pg_key_get,
	.key_released = pg_key_released,
	.key_destroy = pg_key_destroy,
	.key_bind = pg_key_bind,
	.key_list = pg_key_list,
	.audit_add = pg_audit_add,
	.audit_list = pg_audit_list,
	.failure_add = pg_failure_add,
	.failure_count = pg_failure_count,
	.failure_reserve = pg_failure_reserve,
	.failure_confirm = pg_failure_confirm,
	.failure_cancel = pg_failure_cancel,
	.expire = pg_expire,
	.txn_begin = pg_txn_begin,
	.txn_end = pg_txn_end,
	.txn_max = 4,
};

/* Create the tables if absent; ${c} is left outside any transaction. */
static int
schema_create(PGconn *c, char *err)
{
	PGresult *res = NULL;
	int r = STORE_EFAIL;

	/* Several statements, so PQexec; there is nothing to bind. */
	res = PQexec(c, schema_sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		seterr_res(err, "creating tables", res, c);
		goto out;
	}
	r = 0;
out:
	PQclear(res);
	if (r != 0 && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
	return r;
}

int
store_pg_open(const char *conninfo, struct store **out,
    char err[STORE_ERRLEN])
{
	struct pg_store *ps = NULL;
	struct pg_conn *pc = NULL;
	bool locks = false;
	int r;

	*out = NULL;
	if (!PQisthreadsafe()) {
		store_seterr(err,
		    "postgres: libpq was built without thread safety");
		return STORE_EFAIL;
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    (ps->conninfo = strdup(conninfo)) == NULL) {
		store_seterr(err, "postgres: out of memory");
		r = STORE_EFAIL;
		goto out;
	}
	if (pthread_mutex_init(&ps->mtx, NULL) != 0) {
		store_seterr(err, "postgres: cannot make a mutex");
		r = STORE_EFAIL;
		goto out;
	}
	if (pthread_cond_init(&ps->cv, NULL) != 0) {
		pthread_mutex_destroy(&ps->mtx);
		store_seterr(err, "postgres: cannot make a condition variable");
		r = STORE_EFAIL;
		goto out;
	}
	locks = true;
	ps->st.ops = &pg_ops;

	/* The first connection checks the URL and makes the schema. */
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		store_seterr(err, "postgres: out of memory");
		r = STORE_EFAIL;
		goto out;
	}
	if ((r = conn_open(conninfo, &pc->c, err)) != 0 ||
	    (r = schema_create(pc->c, err)) != 0)
		goto out;
	ps->idle[ps->nidle++] = pc;
	ps->nconn = 1;
	pc = NULL;

	*out = &ps->st;
	ps = NULL;
	r = 0;
out:
	conn_free(pc);
	if (ps != NULL) {
		if (locks) {
			pthread_cond_destroy(&ps->cv);
			pthread_mutex_destroy(&ps->mtx);
		}
		if (ps->conninfo != NULL)
			explicit_bzero(ps->conninfo, strlen(ps->conninfo));
		free(ps->conninfo);
		free(ps);
	}
	return r;
}
