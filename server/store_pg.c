/* SPDX-License-Identifier: ISC */
/*
 * store_pg: the PostgreSQL store (libpq), for one or several cofferd
 * processes sharing one database.
 *
 * The operations themselves are in store_sql.c, over pg_run_sql() (one
 * statement) and pg_txn_begin/pg_txn_end.  Most are one SQL statement run
 * in autocommit mode, so it is committed (synchronous_commit is forced on
 * if the server has it off) when the call returns 0; those that change
 * several tables (a password change, deleting an account, enabling TOTP,
 * destroying or binding a key) run in a short transaction on one pooled
 * connection, so two servers never see half of an operation.
 * The writes of deposits and releases are the exception: store_group.c
 * runs them in group transactions (pg_txn_begin, pg_txn_end), up to four
 * at once on four pooled connections (txn_max), whose flushes PostgreSQL
 * merges; a group's statements, one per deposit or release (a
 * data-modifying WITH writes the key or count and the audit row
 * together), go out with its BEGIN and COMMIT in one round trip (libpq's
 * pipeline mode, pg_pipe_begin below).
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
#define PG_PARAM_MAX	20	/* parameters of one statement */
#define PG_STMT_MAX	64	/* distinct statements (there are 40) */

/* Type OIDs (server/catalog/pg_type_d.h, stable across versions). */
#define PG_OID_BOOL	16
#define PG_OID_BYTEA	17
#define PG_OID_INT8	20
#define PG_OID_INT2	21
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
/* A pipelined group's statement, one per operation (pg_pipe_*). */
struct pg_piped {
	const char	*sql;		/* NULL: the operation sent none */
	bool		 prepare;	/* sent with its PQsendPrepare */
	bool		 refused;	/* could not be sent */
	bool		 replayed;
	int		 r;
	int64_t		 changes;
	char		 err[STORE_ERRLEN];
};

enum { PIPE_OFF, PIPE_SEND, PIPE_REPLAY };

struct pg_conn {
	PGconn		*c;
	const char	*prep[PG_STMT_MAX];
	size_t		 nprep;
	bool		 discard;	/* close it when given back */
	/* A pipelined group (pg_pipe_begin .. pg_txn_end). */
	int		 pipe;		/* PIPE_* */
	struct pg_piped	*pv;		/* an entry per operation */
	size_t		 pn, pcap;	/* operations, room for */
	size_t		 pcur;		/* operations begun (pipe_next) */
	int		 pcommit;	/* the COMMIT's result */
	char		 perr[STORE_ERRLEN];
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
	free(pc->pv);
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
	if (pc->discard || PQstatus(pc->c) != CONNECTION_OK ||
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

	if (pc->pipe != PIPE_OFF) {
		/* pg_pipe_sync sent the COMMIT; a group never synced goes. */
		if (pc->pipe == PIPE_SEND || pc->discard ||
		    PQpipelineStatus(pc->c) != PQ_PIPELINE_OFF) {
			pc->discard = true;
			r = commit ? STORE_EFAIL : 0;
		} else if (commit) {
			r = pc->pcommit;
		}
		if (r != 0)
			store_seterr(err, "%s", pc->perr[0] != '\0' ?
			    pc->perr : "postgres: the group was not committed");
		pc->pipe = PIPE_OFF;
		commit = false;		/* ROLLBACK below if still needed */
	}
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
	if (!pc->discard && PQstatus(pc->c) == CONNECTION_OK &&
	    PQtransactionStatus(pc->c) != PQTRANS_IDLE)
		PQclear(PQexec(pc->c, "ROLLBACK"));
	/* Still in a transaction or broken: pool_put closes it. */
	pool_put(pg(st), pc);
	return r;
}

/*
 * Pipelined groups (store_impl.h, pipe_*): BEGIN, each operation's
 * statement (after its PQsendPrepare the first time on this
 * connection), COMMIT and a Sync go out together, and the answers come
 * back together: one round trip for the group instead of one per
 * statement.  synchronous_commit stays on: the COMMIT's answer comes
 * only once it is durable.  A statement that fails aborts the rest of
 * the pipeline, COMMIT included (PostgreSQL skips to the Sync), so
 * nothing of the group is committed; store_group.c then retries its
 * operations alone.  Answers that do not come (a broken connection)
 * fail the whole group as a failed COMMIT does, without retries: it may
 * have committed.  Any surprise (a failed prepare, a broken
 * connection, answers out of step) closes the connection when it is
 * given back.
 */
static int
pg_pipe_begin(struct store *st, struct store_txn **tx, size_t n,
    char err[STORE_ERRLEN])
{
	struct pg_store *ps = pg(st);
	struct pg_conn *pc = NULL;
	struct pg_piped *v;
	int r;

	*tx = NULL;
	if ((r = pool_get(ps, &pc, err)) != 0)
		return r;
	if (n > pc->pcap) {
		if ((v = realloc(pc->pv, n * sizeof(*v))) == NULL) {
			store_seterr(err, "postgres: out of memory");
			pool_put(ps, pc);
			return STORE_EFAIL;
		}
		pc->pv = v;
		pc->pcap = n;
	}
	memset(pc->pv, 0, n * sizeof(*pc->pv));
	pc->pn = n;
	pc->pcur = 0;
	pc->pcommit = STORE_EFAIL;
	pc->perr[0] = '\0';
	if (PQenterPipelineMode(pc->c) != 1 ||
	    PQsendQueryParams(pc->c, "BEGIN", 0, NULL, NULL, NULL, NULL,
	    0) != 1) {
		seterr_pg(err, "BEGIN", PQerrorMessage(pc->c));
		pc->discard = true;
		pool_put(ps, pc);
		return STORE_EFAIL;
	}
	pc->pipe = PIPE_SEND;
	*tx = (struct store_txn *)pc;
	return 0;
}

static void
pg_pipe_next(struct store_txn *tx)
{
	((struct pg_conn *)tx)->pcur++;
}

/*
 * pg_run_sql() inside a pipelined group: send ${sql} (PIPE_SEND; *changes
 * 1 meanwhile), or give back what it answered (PIPE_REPLAY).
 */
static int
pipe_run(struct pg_conn *pc, const char *what, const char *sql,
    const struct pg_param *p, int np, store_row_cb *cb, int64_t *changes,
    char *err)
{
	unsigned int types[PG_PARAM_MAX];
	const char *vals[PG_PARAM_MAX];
	int lens[PG_PARAM_MAX], fmts[PG_PARAM_MAX];
	struct pg_piped *e;
	char name[32];
	size_t k;
	int i;

	if (pc->pcur < 1 || pc->pcur > pc->pn) {
		store_seterr(err, "postgres: %s: not an operation of the "
		    "group", what);
		return STORE_EFAIL;
	}
	e = &pc->pv[pc->pcur - 1];
	if (pc->pipe == PIPE_REPLAY) {
		if (e->sql != sql || e->replayed || cb != NULL) {
			store_seterr(err, "postgres: %s: the group's answers "
			    "are out of step", what);
			return STORE_EFAIL;
		}
		e->replayed = true;
		if (e->r != 0) {
			memcpy(err, e->err, STORE_ERRLEN);
			return e->r;
		}
		if (changes != NULL)
			*changes = e->changes;
		return 0;
	}
	if (e->sql != NULL || cb != NULL || np > PG_PARAM_MAX) {
		store_seterr(e->err, "postgres: %s: a grouped operation must "
		    "be one statement without rows", what);
		goto refuse;
	}
	e->sql = sql;
	for (i = 0; i < np; i++) {
		types[i] = p[i].type;
		vals[i] = p[i].val;
		lens[i] = p[i].len;
		fmts[i] = 1;
	}
	for (k = 0; k < pc->nprep; k++)
		if (pc->prep[k] == sql)
			break;
	snprintf(name, sizeof(name), "cofferd_%zu", k);
	if (k == pc->nprep) {
		if (k == PG_STMT_MAX) {
			store_seterr(e->err, "postgres: %s: too many "
			    "statements", what);
			goto refuse;
		}
		/* Listed now: the group's later ones use it (see below). */
		if (PQsendPrepare(pc->c, name, sql, np, types) != 1) {
			seterr_pg(e->err, what, PQerrorMessage(pc->c));
			goto refuse;
		}
		pc->prep[pc->nprep++] = sql;
		e->prepare = true;
	}
	if (PQsendQueryPrepared(pc->c, name, np, vals, lens, fmts, 1) != 1) {
		seterr_pg(e->err, what, PQerrorMessage(pc->c));
		goto refuse;
	}
	if (changes != NULL)
		*changes = 1;
	return 0;
refuse:
	e->refused = true;
	e->r = STORE_EFAIL;
	memcpy(err, e->err, STORE_ERRLEN);
	return STORE_EFAIL;
}

/*
 * The answer to the pipeline's next command, its NULL consumed; NULL if
 * there is none (a broken connection).
 */
static PGresult *
pipe_get(PGconn *c)
{
	PGresult *res, *more;

	if ((res = PQgetResult(c)) == NULL)
		return NULL;
	while ((more = PQgetResult(c)) != NULL)
		PQclear(more);
	return res;
}

static int
pg_pipe_sync(struct store *st, struct store_txn *tx, char err[STORE_ERRLEN])
{
	struct pg_conn *pc = (struct pg_conn *)tx;
	const char *end = "COMMIT", *ct;
	struct pg_piped *e;
	PGresult *res = NULL;
	ExecStatusType rs;
	bool ok;
	char *cend;
	size_t i;

	(void)st;
	for (i = 0; i < pc->pn; i++)
		if (pc->pv[i].refused)
			end = "ROLLBACK";
	ok = PQsendQueryParams(pc->c, end, 0, NULL, NULL, NULL, NULL, 0) ==
	    1 && PQpipelineSync(pc->c) == 1;
	if (!ok)
		seterr_pg(pc->perr, end, PQerrorMessage(pc->c));

	/* BEGIN */
	if (ok) {
		res = pipe_get(pc->c);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			seterr_res(pc->perr, "BEGIN", res, pc->c);
			ok = false;
		}
		PQclear(res);
	}
	/* Each statement, its prepare first. */
	for (i = 0; i < pc->pn; i++) {
		e = &pc->pv[i];
		if (e->sql == NULL)
			continue;
		if (e->prepare && ok) {
			res = pipe_get(pc->c);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				pc->discard = true;	/* the list is wrong */
			PQclear(res);
		}
		if (e->refused)
			continue;
		if (!ok) {
			/*
			 * No answer: whether the group committed is not
			 * known, so no operation may be retried alone (a
			 * release counted twice); the COMMIT's failure,
			 * from txn_end, fails them all.
			 */
			e->r = 0;
			continue;
		}
		res = pipe_get(pc->c);
		rs = PQresultStatus(res);
		if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
			ct = PQcmdTuples(res);
			e->changes = *ct == '\0' ? 0 : strtoll(ct, &cend, 10);
			if ((*ct != '\0' && *cend != '\0') || e->changes < 0) {
				store_seterr(e->err, "postgres: bad result");
				e->r = STORE_EFAIL;
			}
		} else if (rs == PGRES_PIPELINE_ABORTED) {
			/* Skipped: an earlier statement failed, no COMMIT. */
			store_seterr(e->err, "postgres: skipped: an earlier "
			    "statement of the group failed");
			e->r = STORE_EFAIL;
		} else if (res == NULL || PQstatus(pc->c) != CONNECTION_OK ||
		    PQresultErrorField(res, PG_DIAG_SQLSTATE) == NULL) {
			/* Not the server's answer: as above. */
			seterr_res(pc->perr, "grouped statement", res, pc->c);
			ok = false;
		} else {
			seterr_res(e->err, "grouped statement", res, pc->c);
			e->r = STORE_EFAIL;
		}
		PQclear(res);
	}
	/* COMMIT (or ROLLBACK), then the Sync. */
	if (ok) {
		res = pipe_get(pc->c);
		if (PQresultStatus(res) == PGRES_COMMAND_OK &&
		    strcmp(end, "COMMIT") == 0 &&
		    strcmp(PQcmdStatus(res), "COMMIT") == 0)
			pc->pcommit = 0;
		else if (strcmp(end, "COMMIT") == 0)
			seterr_res(pc->perr, "COMMIT", res, pc->c);
		else
			store_seterr(pc->perr, "postgres: a grouped statement "
			    "could not be sent");
		PQclear(res);
		res = PQgetResult(pc->c);
		if (PQresultStatus(res) != PGRES_PIPELINE_SYNC)
			ok = false;
		PQclear(res);
	}
	if (!ok || PQexitPipelineMode(pc->c) != 1) {
		pc->discard = true;
		pc->pcommit = STORE_EFAIL;
		if (pc->perr[0] == '\0')
			seterr_pg(pc->perr, "pipeline", PQerrorMessage(pc->c));
	}
	pc->pipe = PIPE_REPLAY;
	pc->pcur = 0;
	if (pc->pcommit != 0)
		memcpy(err, pc->perr, STORE_ERRLEN);
	return pc->pcommit;
}

/* store_ops.run (store_impl.h). */
static int
pg_run_sql(struct store *st, struct store_txn *tx, const struct store_sql *q,
    const struct store_val *v, int nv, store_row_cb *cb, void *cookie,
    int64_t *changes, char err[STORE_ERRLEN])
{
	struct pg_param p[PG_PARAM_MAX];
	struct store_row row;
	struct store_col *c;
	PGresult *res = NULL;
	const char *ct;
	char *end;
	long long cn;
	int i, j, nrow, r;
	Oid t;

	if (changes != NULL)
		*changes = 0;
	if (nv > PG_PARAM_MAX) {
		store_seterr(err, "postgres: %s: too many parameters", q->what);
		return STORE_EFAIL;
	}
	for (i = 0; i < nv; i++) {
		switch (v[i].type) {
		case STORE_V_TEXT:
			p_text(&p[i], v[i].p != NULL ? v[i].p : "");
			p[i].val = v[i].p;
			break;
		case STORE_V_BLOB:
			p_bytea(&p[i], v[i].p, v[i].len);
			break;
		case STORE_V_INT4:
			p_int4(&p[i], (int32_t)v[i].i);
			break;
		case STORE_V_BOOL:
			p_bool(&p[i], v[i].i != 0);
			break;
		default:
			p_int8(&p[i], v[i].i);
			break;
		}
	}
	if (tx != NULL && ((struct pg_conn *)tx)->pipe != PIPE_OFF)
		return pipe_run((struct pg_conn *)tx, q->what,
		    q->pg != NULL ? q->pg : q->sql, p, nv, cb, changes, err);
	if ((r = pg_run_tx(pg(st), tx, q->what, q->pg != NULL ? q->pg : q->sql,
	    p, nv, q->retry ? PG_RETRY : PG_NORETRY, &res, err)) != 0)
		goto out;
	nrow = cb != NULL ? PQntuples(res) : 0;
	row.ncol = PQnfields(res) > STORE_COL_MAX ? STORE_COL_MAX :
	    PQnfields(res);
	for (i = 0; i < nrow; i++) {
		for (j = 0; j < row.ncol; j++) {
			c = &row.col[j];
			memset(c, 0, sizeof(*c));
			t = PQftype(res, j);
			if (PQgetisnull(res, i, j)) {
				c->null = true;
			} else if (t == PG_OID_BOOL) {
				c->isint = true;
				c->i = PQgetlength(res, i, j) == 1 &&
				    PQgetvalue(res, i, j)[0] != 0;
			} else if (t == PG_OID_INT8 || t == PG_OID_INT4 ||
			    t == PG_OID_INT2) {
				c->isint = true;
				if ((r = r_int(res, i, j, &c->i, err)) != 0)
					goto out;
			} else {
				c->p = (const uint8_t *)PQgetvalue(res, i, j);
				c->len = (size_t)PQgetlength(res, i, j);
			}
		}
		if ((r = cb(&row, cookie, err)) != 0)
			goto out;
	}
	if (changes != NULL) {
		ct = PQcmdTuples(res);
		cn = *ct == '\0' ? 0 : strtoll(ct, &end, 10);
		if ((*ct != '\0' && *end != '\0') || cn < 0) {
			store_seterr(err, "postgres: %s: bad result", q->what);
			r = STORE_EFAIL;
			goto out;
		}
		*changes = cn;
	}
	r = 0;
out:
	PQclear(res);
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

static const struct store_ops pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.failure_count = pg_failure_count,
	.failure_reserve = pg_failure_reserve,
	.txn_begin = pg_txn_begin,
	.txn_end = pg_txn_end,
	.txn_max = 4,
	.pipe_begin = pg_pipe_begin,
	.pipe_next = pg_pipe_next,
	.pipe_sync = pg_pipe_sync,
	.run = pg_run_sql,
	.pg = true,
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
