/* SPDX-License-Identifier: ISC */
/*
 * store_sql: the store's operations written once, for both backends, as
 * statements over the backend's run() (store_impl.h).  The SQL text is
 * shared where the dialects agree (parameters $n; SQLite reads ?n) and
 * PostgreSQL's own where they do not (column sessions.token_hash, boolean
 * columns, keys.seq).  What stays in a backend is its connections, its
 * transactions and the operations that lean on its locking.
 *
 * Every value read back is checked against what it fills: a text or blob
 * column longer than its field is an error, not truncated.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* Parameters of a statement. */
#define V_TEXT(s)	{ .type = STORE_V_TEXT, .p = (s) }
#define V_BLOB(b, n)	{ .type = STORE_V_BLOB, .p = (b), .len = (n) }
#define V_INT8(x)	{ .type = STORE_V_INT8, .i = (x) }
#define V_INT4(x)	{ .type = STORE_V_INT4, .i = (x) }
#define V_BOOL(x)	{ .type = STORE_V_BOOL, .i = (x) ? 1 : 0 }
#define NV(v)		((int)(sizeof(v) / sizeof((v)[0])))

static int
run(struct store *st, struct store_txn *tx, const struct store_sql *q,
    const struct store_val *v, int nv, store_row_cb *cb, void *cookie,
    int64_t *changes, char err[STORE_ERRLEN])
{
	/* PostgreSQL's text "": nothing to do there. */
	if (st->ops->pg && q->pg != NULL && q->pg[0] == '\0') {
		if (changes != NULL)
			*changes = 0;
		return 0;
	}
	return st->ops->run(st, tx, q, v, nv, cb, cookie, changes, err);
}

/* ---- columns ---------------------------------------------------------- */

static const struct store_col *
col(const struct store_row *row, int i)
{
	static const struct store_col null = { .null = true };

	return i < row->ncol ? &row->col[i] : &null;
}

/* An integer column into *v; NULL reads as 0. */
static int
col_int(const struct store_row *row, int i, int64_t *v,
    char err[STORE_ERRLEN])
{
	const struct store_col *c = col(row, i);

	*v = 0;
	if (c->null)
		return 0;
	if (!c->isint) {
		store_seterr(err, "store: column %d is not an integer", i);
		return STORE_EFAIL;
	}
	*v = c->i;
	return 0;
}

/* A text column into dst[cap] with its NUL; NULL reads as "". */
static int
col_text(const struct store_row *row, int i, char *dst, size_t cap,
    char err[STORE_ERRLEN])
{
	const struct store_col *c = col(row, i);

	dst[0] = '\0';
	if (c->null)
		return 0;
	if (c->isint || c->len >= cap ||
	    (c->len > 0 && memchr(c->p, '\0', c->len) != NULL)) {
		store_seterr(err, "store: column %d: not text of at most %zu "
		    "bytes", i, cap - 1);
		return STORE_EFAIL;
	}
	if (c->len > 0)
		memcpy(dst, c->p, c->len);
	dst[c->len] = '\0';
	return 0;
}

/* A blob column into dst[cap]; *len gets its length (NULL: 0). */
static int
col_blob(const struct store_row *row, int i, uint8_t *dst, size_t cap,
    size_t *len, char err[STORE_ERRLEN])
{
	const struct store_col *c = col(row, i);

	*len = 0;
	if (c->null)
		return 0;
	if (c->isint || c->len > cap) {
		store_seterr(err, "store: column %d: not a blob of at most %zu "
		    "bytes", i, cap);
		return STORE_EFAIL;
	}
	if (c->len > 0)
		memcpy(dst, c->p, c->len);
	*len = c->len;
	return 0;
}

/*
 * Rows into a growing array (struct collect as the cookie): each decoded
 * by row() into a zeroed element of ${size} bytes.
 */
struct collect {
	size_t		  size;
	int		(*row)(const struct store_row *, void *, char *);
	uint8_t		 *v;
	size_t		  len, cap;
};

static int
collect_row(const struct store_row *row, void *cookie, char err[STORE_ERRLEN])
{
	struct collect *c = cookie;
	uint8_t *nv;
	size_t ncap;

	if (c->len == c->cap) {
		ncap = c->cap == 0 ? 16 : c->cap * 2;
		if ((nv = realloc(c->v, ncap * c->size)) == NULL) {
			store_seterr(err, "store: out of memory");
			return STORE_EFAIL;
		}
		c->v = nv;
		c->cap = ncap;
	}
	memset(c->v + c->len * c->size, 0, c->size);
	if (c->row(row, c->v + c->len * c->size, err) != 0)
		return STORE_EFAIL;
	c->len++;
	return 0;
}

/*
 * run() ${q} and collect its rows; *out (the caller's to free) and *n are
 * set only on success.
 */
static int
run_collect(struct store *st, const struct store_sql *q,
    const struct store_val *v, int nv, size_t size,
    int (*row)(const struct store_row *, void *, char *), void **out,
    size_t *n, char err[STORE_ERRLEN])
{
	struct collect c = { .size = size, .row = row };
	int r;

	*out = NULL;
	*n = 0;
	if ((r = run(st, NULL, q, v, nv, collect_row, &c, NULL, err)) != 0) {
		free(c.v);
		return r;
	}
	*out = c.v;
	*n = c.len;
	return 0;
}

/* A single row: decoded by row() into ${dst}; *found says if there was. */
struct one {
	int		(*row)(const struct store_row *, void *, char *);
	void		 *dst;
	bool		  found;
};

static int
one_row(const struct store_row *row, void *cookie, char err[STORE_ERRLEN])
{
	struct one *o = cookie;

	if (o->found)
		return 0;
	o->found = true;
	return o->row(row, o->dst, err);
}

/*
 * run() ${q}, a query of at most one row, decoded by row() into ${dst}
 * (${size} bytes, zeroed unless 0 is returned); ENOTFOUND (${none}) if
 * there is none.
 */
static int
run_one(struct store *st, const struct store_sql *q, const struct store_val *v,
    int nv, int (*row)(const struct store_row *, void *, char *), void *dst,
    size_t size, const char *none, char err[STORE_ERRLEN])
{
	struct one o = { .row = row, .dst = dst };
	int r;

	memset(dst, 0, size);
	if ((r = run(st, NULL, q, v, nv, one_row, &o, NULL, err)) == 0 &&
	    !o.found) {
		store_seterr(err, "%s", none);
		r = STORE_ENOTFOUND;
	}
	if (r != 0)
		memset(dst, 0, size);
	return r;
}

/* A string field that fills its array has no room for its NUL. */
static bool
overlong(const char *s, size_t size)
{
	return strnlen(s, size) == size;
}

/* ---- rows ------------------------------------------------------------- */

static int
session_row(const struct store_row *row, void *p, char err[STORE_ERRLEN])
{
	struct store_session *ss = p;
	int64_t fc;
	size_t hl;
	int r;

	memset(ss, 0, sizeof(*ss));
	if ((r = col_blob(row, 0, ss->hash, sizeof(ss->hash), &hl,
	    err)) != 0 ||
	    (r = col_text(row, 1, ss->account, sizeof(ss->account),
	    err)) != 0 ||
	    (r = col_int(row, 2, &ss->expires, err)) != 0 ||
	    (r = col_text(row, 3, ss->device, sizeof(ss->device), err)) != 0 ||
	    (r = col_int(row, 4, &ss->created, err)) != 0 ||
	    (r = col_int(row, 5, &ss->last_used, err)) != 0 ||
	    (r = col_text(row, 6, ss->last_address, sizeof(ss->last_address),
	    err)) != 0 ||
	    (r = col_int(row, 7, &ss->fresh_until, err)) != 0 ||
	    (r = col_int(row, 8, &fc, err)) != 0)
		return r;
	ss->fresh_code = fc != 0;
	return 0;
}

/* Columns 0-10 of a key row (KEY_COLS) into ${k}, not the blob. */
#define KEY_COLS "key_id, account, kind, label, created, destroyed," \
	" releases, pub, device, repo_id, keyset_id"

static int
key_row(const struct store_row *row, void *p, char err[STORE_ERRLEN])
{
	struct store_key *k = p;
	int64_t kind;
	size_t publen;
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = col_text(row, 0, k->key_id, sizeof(k->key_id), err)) != 0 ||
	    (r = col_text(row, 1, k->account, sizeof(k->account),
	    err)) != 0 ||
	    (r = col_int(row, 2, &kind, err)) != 0 ||
	    (r = col_text(row, 3, k->label, sizeof(k->label), err)) != 0 ||
	    (r = col_int(row, 4, &k->created, err)) != 0 ||
	    (r = col_int(row, 5, &k->destroyed, err)) != 0 ||
	    (r = col_int(row, 6, &k->releases, err)) != 0 ||
	    (r = col_blob(row, 7, k->pub, sizeof(k->pub), &publen,
	    err)) != 0 ||
	    (r = col_text(row, 8, k->device, sizeof(k->device), err)) != 0 ||
	    (r = col_text(row, 9, k->repo_id, sizeof(k->repo_id),
	    err)) != 0 ||
	    (r = col_text(row, 10, k->keyset_id, sizeof(k->keyset_id),
	    err)) != 0)
		return r;
	k->kind = (int)kind;
	return 0;
}

/* A key row with its blob (column 11). */
static int
key_row_blob(const struct store_row *row, void *p, char err[STORE_ERRLEN])
{
	struct store_key *k = p;
	int r;

	if ((r = key_row(row, k, err)) != 0)
		return r;
	return col_blob(row, 11, k->blob, sizeof(k->blob), &k->blob_len, err);
}

static int
event_row(const struct store_row *row, void *p, char err[STORE_ERRLEN])
{
	struct store_event *e = p;
	int64_t ok;
	int r;

	if ((r = col_int(row, 0, &e->time, err)) != 0 ||
	    (r = col_text(row, 1, e->account, sizeof(e->account),
	    err)) != 0 ||
	    (r = col_text(row, 2, e->address, sizeof(e->address),
	    err)) != 0 ||
	    (r = col_text(row, 3, e->event, sizeof(e->event), err)) != 0 ||
	    (r = col_text(row, 4, e->key_id, sizeof(e->key_id), err)) != 0 ||
	    (r = col_int(row, 5, &ok, err)) != 0 ||
	    (r = col_text(row, 6, e->device, sizeof(e->device), err)) != 0)
		return r;
	e->ok = ok != 0;
	return 0;
}

static int
pwhash_row(const struct store_row *row, void *p, char err[STORE_ERRLEN])
{
	return col_text(row, 0, p, STORE_PWHASH_MAX + 1, err);
}

/* ---- operations ------------------------------------------------------- */

int
store_sql_ping(struct store *st, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"ping", "SELECT count(*) FROM accounts", "SELECT 1",
		false, true
	};

	return run(st, NULL, &q, NULL, 0, NULL, NULL, NULL, err);
}

int
store_sql_account_create(struct store *st, const char *account,
    const char *pwhash, int64_t now, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"account create",
		"INSERT INTO accounts (account, pwhash, created)"
		" VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		NULL, false, false
	};
	const struct store_val v[] = {
		V_TEXT(account), V_TEXT(pwhash), V_INT8(now)
	};
	int64_t n;
	int r;

	if (strlen(account) > STORE_ACCOUNT_MAX ||
	    strlen(pwhash) > STORE_PWHASH_MAX) {
		store_seterr(err, "store: account name or hash too long");
		return STORE_EFAIL;
	}
	if ((r = run(st, NULL, &q, v, NV(v), NULL, NULL, &n, err)) != 0)
		return r;
	if (n != 1) {
		store_seterr(err, "account exists");
		return STORE_EEXIST;
	}
	return 0;
}

int
store_sql_account_pwhash(struct store *st, const char *account,
    char pwhash[STORE_PWHASH_MAX + 1], char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"account lookup",
		"SELECT pwhash FROM accounts WHERE account = $1"
		" AND deleted = 0",
		NULL, true, true
	};
	const struct store_val v[] = { V_TEXT(account) };

	return run_one(st, &q, v, NV(v), pwhash_row, pwhash,
	    STORE_PWHASH_MAX + 1, "no such account", err);
}

int
store_sql_session_open(struct store *st, const struct store_session *ss,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"session create",
		"INSERT INTO sessions (hash, account, expires, device,"
		" created, last_used, last_address, fresh_until, fresh_code)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
		" ON CONFLICT DO NOTHING",
		"INSERT INTO sessions (token_hash, account, expires, device,"
		" created, last_used, last_address, fresh_until, fresh_code)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
		" ON CONFLICT DO NOTHING",
		false, false
	};
	const struct store_val v[] = {
		V_BLOB(ss->hash, STORE_TOKEN_HASH_LEN), V_TEXT(ss->account),
		V_INT8(ss->expires), V_TEXT(ss->device), V_INT8(ss->created),
		V_INT8(ss->last_used), V_TEXT(ss->last_address),
		V_INT8(ss->fresh_until), V_INT4(ss->fresh_code)
	};
	int64_t n;
	int r;

	if (overlong(ss->account, sizeof(ss->account)) ||
	    overlong(ss->device, sizeof(ss->device)) ||
	    overlong(ss->last_address, sizeof(ss->last_address))) {
		store_seterr(err, "store: malformed session record");
		return STORE_EFAIL;
	}
	if ((r = run(st, NULL, &q, v, NV(v), NULL, NULL, &n, err)) != 0)
		return r;
	if (n != 1) {
		store_seterr(err, "session exists");
		return STORE_EEXIST;
	}
	return 0;
}

#define SESSION_COLS(h) h ", account, expires, device, created," \
	" last_used, last_address, fresh_until, fresh_code"

int
store_sql_session_info(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], struct store_session *ss,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"session lookup",
		"SELECT " SESSION_COLS("hash") " FROM sessions WHERE hash = $1",
		"SELECT " SESSION_COLS("token_hash") " FROM sessions"
		" WHERE token_hash = $1",
		true, true
	};
	const struct store_val v[] = { V_BLOB(hash, STORE_TOKEN_HASH_LEN) };

	return run_one(st, &q, v, NV(v), session_row, ss, sizeof(*ss),
	    "no such session", err);
}

/* Run ${q} alone or in ${tx}; ENOTFOUND (${what} "no such ...") if it
 * changed no row. */
static int
run_change(struct store *st, struct store_txn *tx, const struct store_sql *q,
    const struct store_val *v, int nv, const char *none,
    char err[STORE_ERRLEN])
{
	int64_t n;
	int r;

	if ((r = run(st, tx, q, v, nv, NULL, NULL, &n, err)) != 0)
		return r;
	if (n == 0) {
		store_seterr(err, "%s", none);
		return STORE_ENOTFOUND;
	}
	return 0;
}

int
store_sql_session_delete(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"session delete",
		"DELETE FROM sessions WHERE hash = $1",
		"DELETE FROM sessions WHERE token_hash = $1",
		false, true
	};
	const struct store_val v[] = { V_BLOB(hash, STORE_TOKEN_HASH_LEN) };

	return run_change(st, NULL, &q, v, NV(v), "no such session", err);
}

int
store_sql_session_touch(struct store *st, struct store_txn *tx,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now,
    const char *address, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"session touch",
		"UPDATE sessions SET last_used = $2, last_address = $3"
		" WHERE hash = $1",
		"UPDATE sessions SET last_used = $2, last_address = $3"
		" WHERE token_hash = $1",
		false, true
	};
	const struct store_val v[] = {
		V_BLOB(hash, STORE_TOKEN_HASH_LEN), V_INT8(now), V_TEXT(address)
	};

	return run_change(st, tx, &q, v, NV(v), "no such session", err);
}

int
store_sql_session_fresh(struct store *st,
    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t fresh_until,
    int fresh_code, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"session fresh",
		"UPDATE sessions SET fresh_until = $2, fresh_code = $3"
		" WHERE hash = $1",
		"UPDATE sessions SET fresh_until = $2, fresh_code = $3"
		" WHERE token_hash = $1",
		false, true
	};
	const struct store_val v[] = {
		V_BLOB(hash, STORE_TOKEN_HASH_LEN), V_INT8(fresh_until),
		V_INT4(fresh_code ? 1 : 0)
	};

	return run_change(st, NULL, &q, v, NV(v), "no such session", err);
}

int
store_sql_session_list(struct store *st, const char *account, int64_t now,
    struct store_session **out, size_t *n, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"session list",
		"SELECT " SESSION_COLS("hash") " FROM sessions"
		" WHERE account = $1 AND expires > $2"
		" ORDER BY last_used DESC, created DESC, hash",
		"SELECT " SESSION_COLS("token_hash") " FROM sessions"
		" WHERE account = $1 AND expires > $2"
		" ORDER BY last_used DESC, created DESC, token_hash",
		true, true
	};
	const struct store_val v[] = { V_TEXT(account), V_INT8(now) };

	return run_collect(st, &q, v, NV(v), sizeof(**out), session_row,
	    (void **)out, n, err);
}

int
store_sql_session_revoke(struct store *st, const char *account,
    const char *device, const uint8_t id[STORE_SESSION_ID_LEN],
    const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q_device = {
		"session revoke",
		"DELETE FROM sessions WHERE account = $1 AND hash <> $2"
		" AND device = $3",
		"DELETE FROM sessions WHERE account = $1"
		" AND token_hash <> $2 AND device = $3",
		false, true
	};
	static const struct store_sql q_id = {
		"session revoke",
		"DELETE FROM sessions WHERE account = $1 AND hash <> $2"
		" AND substr(hash, 1, 8) = $3",
		"DELETE FROM sessions WHERE account = $1"
		" AND token_hash <> $2"
		" AND substring(token_hash from 1 for 8) = $3",
		false, true
	};
	static const struct store_sql q_all = {
		"session revoke",
		"DELETE FROM sessions WHERE account = $1 AND hash <> $2",
		"DELETE FROM sessions WHERE account = $1 AND token_hash <> $2",
		false, true
	};
	static const uint8_t none[STORE_TOKEN_HASH_LEN];
	struct store_val v[] = {
		V_TEXT(account),
		V_BLOB(keep != NULL ? keep : none, STORE_TOKEN_HASH_LEN),
		V_TEXT(device)
	};

	*n = 0;
	if (device != NULL)
		return run(st, NULL, &q_device, v, 3, NULL, NULL, n, err);
	if (id != NULL) {
		v[2].type = STORE_V_BLOB;
		v[2].p = id;
		v[2].len = STORE_SESSION_ID_LEN;
		return run(st, NULL, &q_id, v, 3, NULL, NULL, n, err);
	}
	return run(st, NULL, &q_all, v, 2, NULL, NULL, n, err);
}

/* Records are checked before they are written: every string ends. */
static int
key_check(const struct store_key *k, char err[STORE_ERRLEN])
{
	if (overlong(k->device, sizeof(k->device)) ||
	    overlong(k->repo_id, sizeof(k->repo_id)) ||
	    overlong(k->keyset_id, sizeof(k->keyset_id)) ||
	    overlong(k->key_id, sizeof(k->key_id)) ||
	    overlong(k->account, sizeof(k->account)) ||
	    overlong(k->label, sizeof(k->label)) ||
	    k->blob_len > sizeof(k->blob)) {
		store_seterr(err, "store: malformed key record");
		return STORE_EFAIL;
	}
	return 0;
}

static int
event_check(const struct store_event *ev, char err[STORE_ERRLEN])
{
	if (overlong(ev->device, sizeof(ev->device)) ||
	    overlong(ev->account, sizeof(ev->account)) ||
	    overlong(ev->address, sizeof(ev->address)) ||
	    overlong(ev->event, sizeof(ev->event)) ||
	    overlong(ev->key_id, sizeof(ev->key_id))) {
		store_seterr(err, "store: malformed audit event");
		return STORE_EFAIL;
	}
	return 0;
}

/* The parameters of a key row ($1-$10) and of an audit row ($1-$7). */
#define KEY_VALS(k)							\
	V_TEXT((k)->key_id), V_TEXT((k)->account), V_INT4((k)->kind),	\
	V_TEXT((k)->label), V_INT8((k)->created),			\
	V_BLOB((k)->kind == STORE_KIND_WRAP ? (k)->pub : NULL,		\
	    STORE_PUBKEY_LEN),						\
	V_BLOB((k)->blob, (k)->blob_len), V_TEXT((k)->device),		\
	V_TEXT((k)->repo_id), V_TEXT((k)->keyset_id)
#define EVENT_VALS(ev)							\
	V_INT8((ev)->time), V_TEXT((ev)->account), V_TEXT((ev)->address), \
	V_TEXT((ev)->event), V_TEXT((ev)->key_id), V_BOOL((ev)->ok != 0), \
	V_TEXT((ev)->device)

int
store_sql_key_put(struct store *st, struct store_txn *tx,
    const struct store_key *k, char err[STORE_ERRLEN])
{
	/* A new key: destroyed and releases start at 0 whatever ${k} says. */
	static const struct store_sql q = {
		"key put",
		"INSERT INTO keys (key_id, account, kind, label, created, pub,"
		" blob, device, repo_id, keyset_id)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
		" ON CONFLICT DO NOTHING",
		NULL, false, false
	};
	const struct store_val v[] = { KEY_VALS(k) };
	int64_t n;
	int r;

	if ((r = key_check(k, err)) != 0)
		return r;
	if ((r = run(st, tx, &q, v, NV(v), NULL, NULL, &n, err)) != 0)
		return r;
	if (n != 1) {
		store_seterr(err, "key id exists");
		return STORE_EEXIST;
	}
	return 0;
}

int
store_sql_key_get(struct store *st, const char *account, const char *key_id,
    struct store_key *k, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"key lookup",
		"SELECT " KEY_COLS ", blob FROM keys"
		" WHERE key_id = $1 AND account = $2",
		NULL, true, true
	};
	const struct store_val v[] = { V_TEXT(key_id), V_TEXT(account) };

	return run_one(st, &q, v, NV(v), key_row_blob, k, sizeof(*k),
	    "no such key", err);
}

int
store_sql_key_released(struct store *st, struct store_txn *tx,
    const char *account, const char *key_id, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"key release count",
		"UPDATE keys SET releases = releases + 1"
		" WHERE key_id = $1 AND account = $2",
		NULL, false, false
	};
	const struct store_val v[] = { V_TEXT(key_id), V_TEXT(account) };

	return run_change(st, tx, &q, v, NV(v), "no such key", err);
}

int
store_sql_key_list(struct store *st, const char *account,
    struct store_key **out, size_t *n, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"key list",
		"SELECT " KEY_COLS " FROM keys WHERE account = $1"
		" ORDER BY created, rowid",
		"SELECT " KEY_COLS " FROM keys WHERE account = $1"
		" ORDER BY created, seq",
		true, true
	};
	const struct store_val v[] = { V_TEXT(account) };

	return run_collect(st, &q, v, NV(v), sizeof(**out), key_row,
	    (void **)out, n, err);
}

int
store_sql_audit_add(struct store *st, struct store_txn *tx,
    const struct store_event *ev, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"audit",
		"INSERT INTO audit (time, account, address, event, key_id, ok,"
		" device) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		NULL, false, false
	};
	const struct store_val v[] = { EVENT_VALS(ev) };

	int r;

	if ((r = event_check(ev, err)) != 0)
		return r;
	return run(st, tx, &q, v, NV(v), NULL, NULL, NULL, err);
}

/*
 * A deposit (key row, then audit row; neither if the key id is taken) and
 * a release (audit row, then the key's count, which a key gone meanwhile
 * skips): SQLite runs the two statements, PostgreSQL one (a data-modifying
 * WITH), one round trip to the server instead of two.
 */
int
store_sql_key_put_audit(struct store *st, struct store_txn *tx,
    const struct store_key *k, const struct store_event *ev,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"key put",
		NULL,
		"WITH k AS (INSERT INTO keys (key_id, account, kind, label,"
		"  created, pub, blob, device, repo_id, keyset_id)"
		"  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
		"  ON CONFLICT DO NOTHING RETURNING 1)"
		" INSERT INTO audit (time, account, address, event, key_id, ok,"
		"  device) SELECT $11, $12, $13, $14, $15, $16, $17 FROM k",
		false, false
	};
	const struct store_val v[] = { KEY_VALS(k), EVENT_VALS(ev) };
	int64_t n;
	int r;

	if (!st->ops->pg) {
		if ((r = store_sql_key_put(st, tx, k, err)) != 0)
			return r;
		return store_sql_audit_add(st, tx, ev, err);
	}
	if ((r = key_check(k, err)) != 0 || (r = event_check(ev, err)) != 0)
		return r;
	if ((r = run(st, tx, &q, v, NV(v), NULL, NULL, &n, err)) != 0)
		return r;
	if (n != 1) {
		store_seterr(err, "key id exists");
		return STORE_EEXIST;
	}
	return 0;
}

int
store_sql_audit_release(struct store *st, struct store_txn *tx,
    const struct store_event *ev, const char *account, const char *key_id,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"audit",
		NULL,
		"WITH r AS (UPDATE keys SET releases = releases + 1"
		"  WHERE key_id = $8 AND account = $9)"
		" INSERT INTO audit (time, account, address, event, key_id, ok,"
		"  device) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		false, false
	};
	const struct store_val v[] = {
		EVENT_VALS(ev), V_TEXT(key_id), V_TEXT(account)
	};
	char err2[STORE_ERRLEN];
	int r;

	if (!st->ops->pg) {
		if ((r = store_sql_audit_add(st, tx, ev, err)) != 0)
			return r;
		r = store_sql_key_released(st, tx, account, key_id, err2);
		if (r == STORE_ENOTFOUND)
			return 0;
		if (r != 0)
			store_seterr(err, "%s", err2);
		return r;
	}
	if ((r = event_check(ev, err)) != 0)
		return r;
	return run(st, tx, &q, v, NV(v), NULL, NULL, NULL, err);
}

int
store_sql_audit_list(struct store *st, const char *account, int limit,
    struct store_event **out, size_t *n, char err[STORE_ERRLEN])
{
	/* Newest first is last written first, whatever the clocks said. */
	static const struct store_sql q = {
		"audit list",
		"SELECT time, account, address, event, key_id, ok, device"
		" FROM audit WHERE account = $1 ORDER BY id DESC LIMIT $2",
		NULL, true, true
	};
	const struct store_val v[] = { V_TEXT(account), V_INT8(limit) };

	*out = NULL;
	*n = 0;
	if (limit <= 0)
		return 0;
	return run_collect(st, &q, v, NV(v), sizeof(**out), event_row,
	    (void **)out, n, err);
}

int
store_sql_failure_add(struct store *st, const char *account,
    const char *address, int64_t now, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"failure add",
		"INSERT INTO failures (account, address, time)"
		" VALUES ($1, $2, $3)",
		NULL, false, false
	};
	const struct store_val v[] = {
		V_TEXT(account), V_TEXT(address), V_INT8(now)
	};

	return run(st, NULL, &q, v, NV(v), NULL, NULL, NULL, err);
}

int
store_sql_failure_confirm(struct store *st, int64_t id,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"failure confirm",
		"UPDATE failures SET pending = 0"
		" WHERE id = $1 AND pending <> 0",
		"UPDATE failures SET pending = false WHERE id = $1 AND pending",
		false, true
	};
	const struct store_val v[] = { V_INT8(id) };

	return run_change(st, NULL, &q, v, NV(v), "no such reservation",
	    err);
}

int
store_sql_failure_cancel(struct store *st, int64_t id,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"failure cancel",
		"DELETE FROM failures WHERE id = $1 AND pending <> 0",
		"DELETE FROM failures WHERE id = $1 AND pending",
		false, true
	};
	const struct store_val v[] = { V_INT8(id) };

	return run_change(st, NULL, &q, v, NV(v), "no such reservation",
	    err);
}

/* ---- operations in a transaction of their own ------------------------- */

static int
tx_begin(struct store *st, struct store_txn **tx, char err[STORE_ERRLEN])
{
	return st->ops->txn_begin(st, tx, err);
}

/* Commit ${tx} if ${r} is 0, else roll it back; the result. */
static int
tx_end(struct store *st, struct store_txn *tx, int r, char err[STORE_ERRLEN])
{
	if (r == 0)
		return st->ops->txn_end(st, tx, true, err);
	(void)st->ops->txn_end(st, tx, false, NULL);
	return r;
}

int
store_sql_account_set_pwhash(struct store *st, const char *account,
    const char *pwhash, const uint8_t keep[STORE_TOKEN_HASH_LEN], int64_t *n,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q_pw = {
		"password",
		"UPDATE accounts SET pwhash = $2 WHERE account = $1"
		" AND deleted = 0",
		NULL, false, false
	};
	static const struct store_sql q_end = {
		"password",
		"DELETE FROM sessions WHERE account = $1 AND hash <> $2",
		"DELETE FROM sessions WHERE account = $1 AND token_hash <> $2",
		false, false
	};
	static const uint8_t none[STORE_TOKEN_HASH_LEN];
	const struct store_val v[] = { V_TEXT(account), V_TEXT(pwhash) };
	const struct store_val w[] = {
		V_TEXT(account),
		V_BLOB(keep != NULL ? keep : none, STORE_TOKEN_HASH_LEN)
	};
	struct store_txn *tx = NULL;
	int64_t changed = 0, ended = 0;
	int r;

	*n = 0;
	if (strlen(pwhash) > STORE_PWHASH_MAX) {
		store_seterr(err, "store: password hash too long");
		return STORE_EFAIL;
	}
	if ((r = tx_begin(st, &tx, err)) != 0)
		return r;
	r = run(st, tx, &q_pw, v, NV(v), NULL, NULL, &changed, err);
	if (r == 0 && changed == 0) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
	}
	if (r == 0)
		r = run(st, tx, &q_end, w, NV(w), NULL, NULL, &ended, err);
	if ((r = tx_end(st, tx, r, err)) == 0)
		*n = ended;
	return r;
}

/*
 * Destroying keys: first overwrite the blobs in place (SQLite, whose
 * secure_delete then leaves no copy in the file; PostgreSQL writes a new
 * row version either way, so it skips this), then shorten them; after the
 * commit the backend's scrub() moves the overwritten pages out of its log.
 */
static const uint8_t empty_blob[1];

int
store_sql_account_delete(struct store *st, const char *account,
    int64_t now, char err[STORE_ERRLEN])
{
	static const struct store_sql q_acct = {
		"account delete",
		"UPDATE accounts SET pwhash = '', deleted = $2, totp_state = 0,"
		" totp_blob = NULL, totp_step = 0"
		" WHERE account = $1 AND deleted = 0",
		NULL, false, false
	};
	static const struct store_sql q_wipe = {
		"account delete",
		"UPDATE keys SET blob = zeroblob(length(blob))"
		" WHERE account = $1 AND destroyed = 0",
		"", false, false
	};
	static const struct store_sql q_keys = {
		"account delete",
		"UPDATE keys SET blob = $3, destroyed = $2"
		" WHERE account = $1 AND destroyed = 0",
		NULL, false, false
	};
	static const struct store_sql q_sess = {
		"account delete", "DELETE FROM sessions WHERE account = $1",
		NULL, false, false
	};
	static const struct store_sql q_codes = {
		"account delete", "DELETE FROM recovery WHERE account = $1",
		NULL, false, false
	};
	/* destroyed = 0 means live, so a delete at time 0 says 1. */
	const struct store_val v[] = {
		V_TEXT(account), V_INT8(now > 0 ? now : 1),
		V_BLOB(empty_blob, 0)
	};
	struct store_txn *tx = NULL;
	int64_t changed = 0;
	int r;

	if ((r = tx_begin(st, &tx, err)) != 0)
		return r;
	r = run(st, tx, &q_acct, v, 2, NULL, NULL, &changed, err);
	if (r == 0 && changed == 0) {
		store_seterr(err, "no such account");
		r = STORE_ENOTFOUND;
	}
	if (r == 0)
		r = run(st, tx, &q_wipe, v, 1, NULL, NULL, NULL, err);
	if (r == 0)
		r = run(st, tx, &q_keys, v, 3, NULL, NULL, NULL, err);
	if (r == 0)
		r = run(st, tx, &q_sess, v, 1, NULL, NULL, NULL, err);
	if (r == 0)
		r = run(st, tx, &q_codes, v, 1, NULL, NULL, NULL, err);
	if ((r = tx_end(st, tx, r, err)) == 0 && st->ops->scrub != NULL)
		st->ops->scrub(st);
	return r;
}

int
store_sql_key_destroy(struct store *st, const char *account,
    const char *key_id, int64_t now, char err[STORE_ERRLEN])
{
	static const struct store_sql q_wipe = {
		"key destroy",
		"UPDATE keys SET blob = zeroblob(length(blob))"
		" WHERE key_id = $1 AND account = $2 AND destroyed = 0",
		"", false, false
	};
	/* A second destroy keeps the first time; the blob is empty anyway. */
	static const struct store_sql q_destroy = {
		"key destroy",
		"UPDATE keys SET blob = $4,"
		" destroyed = CASE WHEN destroyed = 0 THEN $3"
		" ELSE destroyed END"
		" WHERE key_id = $1 AND account = $2",
		NULL, false, false
	};
	const struct store_val v[] = {
		V_TEXT(key_id), V_TEXT(account), V_INT8(now > 0 ? now : 1),
		V_BLOB(empty_blob, 0)
	};
	struct store_txn *tx = NULL;
	int64_t changed = 0;
	int r;

	if ((r = tx_begin(st, &tx, err)) != 0)
		return r;
	r = run(st, tx, &q_wipe, v, 2, NULL, NULL, NULL, err);
	if (r == 0)
		r = run(st, tx, &q_destroy, v, NV(v), NULL, NULL, &changed,
		    err);
	if (r == 0 && changed == 0) {
		store_seterr(err, "no such key");
		r = STORE_ENOTFOUND;
	}
	if ((r = tx_end(st, tx, r, err)) == 0 && st->ops->scrub != NULL)
		st->ops->scrub(st);
	return r;
}

static int
totp_row(const struct store_row *row, void *p, char err[STORE_ERRLEN])
{
	struct store_totp *t = p;
	int64_t state;
	int r;

	if ((r = col_int(row, 0, &state, err)) != 0 ||
	    (r = col_blob(row, 1, t->blob, sizeof(t->blob), &t->blob_len,
	    err)) != 0 ||
	    (r = col_int(row, 2, &t->step, err)) != 0)
		return r;
	t->state = (int)state;
	return 0;
}

int
store_sql_totp_get(struct store *st, const char *account,
    struct store_totp *t, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"totp",
		"SELECT totp_state, totp_blob, totp_step FROM accounts"
		" WHERE account = $1 AND deleted = 0",
		NULL, true, true
	};
	const struct store_val v[] = { V_TEXT(account) };

	return run_one(st, &q, v, NV(v), totp_row, t, sizeof(*t),
	    "no such account", err);
}

int
store_sql_totp_pending(struct store *st, const char *account,
    const uint8_t *blob, size_t blob_len, char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"totp pending",
		"UPDATE accounts SET totp_state = 1, totp_blob = $2"
		" WHERE account = $1 AND deleted = 0 AND totp_state <> 2",
		NULL, false, true
	};
	const struct store_val v[] = {
		V_TEXT(account), V_BLOB(blob, blob_len)
	};
	int r;

	r = run_change(st, NULL, &q, v, NV(v), "TOTP is on, or no such account",
	    err);
	return r == STORE_ENOTFOUND ? STORE_EEXIST : r;
}

int
store_sql_totp_enable(struct store *st, const char *account, int64_t step,
    const uint8_t (*hashes)[STORE_CODE_HASH_LEN], size_t n,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q_on = {
		"totp enable",
		"UPDATE accounts SET totp_state = 2, totp_step = $2"
		" WHERE account = $1 AND deleted = 0 AND totp_state = 1",
		NULL, false, false
	};
	static const struct store_sql q_clear = {
		"totp enable", "DELETE FROM recovery WHERE account = $1",
		NULL, false, false
	};
	static const struct store_sql q_code = {
		"totp enable",
		"INSERT INTO recovery (account, hash) VALUES ($1, $2)"
		" ON CONFLICT DO NOTHING",
		NULL, false, false
	};
	struct store_val v[] = { V_TEXT(account), V_INT8(step) };
	struct store_txn *tx = NULL;
	int64_t changed = 0;
	int r;

	if ((r = tx_begin(st, &tx, err)) != 0)
		return r;
	r = run(st, tx, &q_on, v, 2, NULL, NULL, &changed, err);
	if (r == 0 && changed == 0) {
		store_seterr(err, "no pending TOTP secret");
		r = STORE_ENOTFOUND;
	}
	if (r == 0)
		r = run(st, tx, &q_clear, v, 1, NULL, NULL, NULL, err);
	v[1].type = STORE_V_BLOB;
	v[1].len = STORE_CODE_HASH_LEN;
	for (size_t i = 0; r == 0 && i < n; i++) {
		v[1].p = hashes[i];
		r = run(st, tx, &q_code, v, 2, NULL, NULL, NULL, err);
	}
	return tx_end(st, tx, r, err);
}

int
store_sql_totp_disable(struct store *st, const char *account,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q_off = {
		"totp disable",
		"UPDATE accounts SET totp_state = 0, totp_blob = NULL,"
		" totp_step = 0 WHERE account = $1",
		NULL, false, false
	};
	static const struct store_sql q_codes = {
		"totp disable", "DELETE FROM recovery WHERE account = $1",
		NULL, false, false
	};
	const struct store_val v[] = { V_TEXT(account) };
	struct store_txn *tx = NULL;
	int r;

	if ((r = tx_begin(st, &tx, err)) != 0)
		return r;
	r = run(st, tx, &q_off, v, NV(v), NULL, NULL, NULL, err);
	if (r == 0)
		r = run(st, tx, &q_codes, v, NV(v), NULL, NULL, NULL, err);
	return tx_end(st, tx, r, err);
}

int
store_sql_totp_step(struct store *st, const char *account, int64_t step,
    char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"totp step",
		"UPDATE accounts SET totp_step = $2 WHERE account = $1"
		" AND deleted = 0 AND totp_state = 2 AND totp_step < $2",
		NULL, false, false
	};
	const struct store_val v[] = { V_TEXT(account), V_INT8(step) };

	return run_change(st, NULL, &q, v, NV(v), "code already used", err);
}

int
store_sql_recovery_use(struct store *st, const char *account,
    const uint8_t hash[STORE_CODE_HASH_LEN], char err[STORE_ERRLEN])
{
	static const struct store_sql q = {
		"recovery code",
		"DELETE FROM recovery WHERE account = $1 AND hash = $2",
		NULL, false, false
	};
	const struct store_val v[] = {
		V_TEXT(account), V_BLOB(hash, STORE_CODE_HASH_LEN)
	};

	return run_change(st, NULL, &q, v, NV(v), "no such recovery code",
	    err);
}

static int
found_row(const struct store_row *row, void *p, char err[STORE_ERRLEN])
{
	(void)row;
	(void)err;
	*(bool *)p = true;
	return 0;
}

int
store_sql_key_bind(struct store *st, const char *account, const char *key_id,
    const char *repo_id, const char *keyset_id, char err[STORE_ERRLEN])
{
	static const struct store_sql q_bind = {
		"key bind",
		"UPDATE keys SET repo_id = $3, keyset_id = $4"
		" WHERE key_id = $1 AND account = $2 AND kind = 2"
		" AND destroyed = 0 AND ((repo_id = '' AND keyset_id = '')"
		" OR (repo_id = $3 AND keyset_id = $4))",
		NULL, false, false
	};
	static const struct store_sql q_live = {
		"key bind",
		"SELECT 1 FROM keys WHERE key_id = $1 AND account = $2"
		" AND kind = 2 AND destroyed = 0",
		NULL, false, false
	};
	const struct store_val v[] = {
		V_TEXT(key_id), V_TEXT(account), V_TEXT(repo_id),
		V_TEXT(keyset_id)
	};
	struct store_txn *tx = NULL;
	int64_t changed = 0;
	bool live = false;
	int r;

	if ((r = tx_begin(st, &tx, err)) != 0)
		return r;
	r = run(st, tx, &q_bind, v, NV(v), NULL, NULL, &changed, err);
	if (r == 0 && changed == 0) {
		r = run(st, tx, &q_live, v, 2, found_row, &live, NULL, err);
		if (r == 0 && live) {
			store_seterr(err, "bound to other ids");
			r = STORE_EEXIST;
		} else if (r == 0) {
			store_seterr(err, "no such wrap key");
			r = STORE_ENOTFOUND;
		}
	}
	return tx_end(st, tx, r, err);
}

/*
 * One batch of store_expire: ${q} deletes at most as many rows as its
 * last parameter says, chosen by the ones before; add the rows deleted
 * to *n.  Each batch is a statement alone, so requests run between the
 * batches.
 */
static int
expire_batch(struct store *st, const struct store_sql *q,
    const struct store_val *v, int nv, int64_t *n, bool *more,
    char err[STORE_ERRLEN])
{
	int64_t changed = 0;
	int r;

	*more = false;
	if ((r = run(st, NULL, q, v, nv, NULL, NULL, &changed, err)) != 0)
		return r;
	*n += changed;
	*more = changed >= STORE_EXPIRE_BATCH;
	return 0;
}

int
store_sql_expire(struct store *st, int64_t now, int64_t since, int64_t stale,
    int64_t *n_sessions, int64_t *n_failures, char err[STORE_ERRLEN])
{
	/*
	 * PostgreSQL: SKIP LOCKED, so a batch never waits for a row that
	 * another statement holds (a logout, a reservation being settled);
	 * such a row goes next time.
	 */
	static const struct store_sql q_sessions = {
		"expiring sessions",
		"DELETE FROM sessions WHERE rowid IN"
		" (SELECT rowid FROM sessions"
		" WHERE expires <= $1 LIMIT $2)",
		"DELETE FROM sessions WHERE token_hash IN"
		" (SELECT token_hash FROM sessions WHERE expires <= $1"
		"  LIMIT $2 FOR UPDATE SKIP LOCKED)",
		false, true
	};
	static const struct store_sql q_failures = {
		"expiring failed logins",
		"DELETE FROM failures WHERE id IN (SELECT id FROM failures"
		" WHERE time < $1 AND (pending = 0 OR time < $2) LIMIT $3)",
		"DELETE FROM failures WHERE id IN"
		" (SELECT id FROM failures WHERE time < $1"
		"  AND (NOT pending OR time < $2)"
		"  LIMIT $3 FOR UPDATE SKIP LOCKED)",
		false, true
	};
	const struct store_val vs[] = {
		V_INT8(now), V_INT8(STORE_EXPIRE_BATCH)
	};
	const struct store_val vf[] = {
		V_INT8(since), V_INT8(stale), V_INT8(STORE_EXPIRE_BATCH)
	};
	bool more;
	int r;

	*n_sessions = 0;
	*n_failures = 0;
	do {
		if ((r = expire_batch(st, &q_sessions, vs, NV(vs), n_sessions,
		    &more, err)) != 0)
			return r;
	} while (more);
	do {
		if ((r = expire_batch(st, &q_failures, vf, NV(vf), n_failures,
		    &more, err)) != 0)
			return r;
	} while (more);
	return 0;
}
