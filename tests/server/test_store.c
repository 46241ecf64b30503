/* SPDX-License-Identifier: ISC */
/*
 * test_store: the store conformance test.  Every function of
 * server/store.h, with the semantics it promises, against one database:
 *
 *	test_store [TEST...]
 *
 * The database is $COFFERD_TEST_DB ("sqlite:/path" or "postgres://...");
 * without it, a fresh SQLite file in a scratch directory.  Names are
 * made unique per run, so a database that earlier runs used is fine, but
 * the parallel opens in setup check schema creation races only on an
 * empty one.
 * tests/integration/82-store.sh runs this against both backends; run.sh
 * runs it as a unit test (SQLite).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "../../server/store.h"
#include "../unit/unit.h"

#define NTHREADS	8
#define NPERTHREAD	40

static char url[PATH_MAX + 4096];
static char scratch[PATH_MAX];
static struct store *st;
static char tag[32];		/* makes this run's names unique */
static unsigned int idseq;

/* T_OK(expr): a store call that must return 0; prints its err if not. */
#define T_OK(call) do {							\
	char err_[STORE_ERRLEN] = "";					\
	int r_ = store_##call;						\
	if (r_ != 0)							\
		unit_fail(__FILE__, __LINE__, "%s: %d (%s)", #call, r_,	\
		    err_);						\
} while (0)

/* T_RC(want, expr): a store call that must return ${want}. */
#define T_RC(want, call) do {						\
	char err_[STORE_ERRLEN] = "";					\
	int r_ = store_##call;						\
	if (r_ != (want))						\
		unit_fail(__FILE__, __LINE__, "%s: %d, want %d (%s)",	\
		    #call, r_, (want), err_);				\
} while (0)

static const char *
name(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "%s-%s", tag, what);
	return buf;
}

/* A key id: 32 hex digits, unique per run and call. */
static void
new_key_id(char id[STORE_KEYID_LEN + 1])
{
	snprintf(id, STORE_KEYID_LEN + 1, "%.20s%012x", tag,
	    __atomic_add_fetch(&idseq, 1, __ATOMIC_SEQ_CST));
}

static void
new_hash(uint8_t h[STORE_TOKEN_HASH_LEN], unsigned int n)
{
	size_t i;

	for (i = 0; i < STORE_TOKEN_HASH_LEN; i++)
		h[i] = (uint8_t)(tag[i % 16] * 7 + i + n * 131);
	h[0] = (uint8_t)n;
	h[1] = (uint8_t)(n >> 8);
}

static void
make_key(struct store_key *k, const char *account, int kind,
    const char *label, int64_t created, size_t blob_len, uint8_t fill)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	new_key_id(k->key_id);
	snprintf(k->account, sizeof(k->account), "%s", account);
	k->kind = kind;
	snprintf(k->label, sizeof(k->label), "%s", label);
	k->created = created;
	if (kind == STORE_KIND_WRAP)
		for (i = 0; i < STORE_PUBKEY_LEN; i++)
			k->pub[i] = (uint8_t)(fill ^ (0xa0 + i));
	for (i = 0; i < blob_len; i++)
		k->blob[i] = (uint8_t)(fill + i);
	k->blob_len = blob_len;
}

static void
check_key(const struct store_key *got, const struct store_key *want,
    bool with_blob)
{
	T_EQ_STR(got->key_id, want->key_id);
	T_EQ_STR(got->account, want->account);
	T_EQ_INT(got->kind, want->kind);
	T_EQ_STR(got->label, want->label);
	T_EQ_INT(got->created, want->created);
	T_EQ_MEM(got->pub, want->pub, STORE_PUBKEY_LEN);
	T_EQ_STR(got->device, want->device);
	T_EQ_STR(got->repo_id, want->repo_id);
	T_EQ_STR(got->keyset_id, want->keyset_id);
	if (with_blob) {
		T_EQ_INT(got->blob_len, want->blob_len);
		T_EQ_MEM(got->blob, want->blob, want->blob_len);
	} else
		T_EQ_INT(got->blob_len, 0);
}

/* ---- setup ---------------------------------------------------------- */

static void *
open_one(void *arg)
{
	char err[STORE_ERRLEN] = "";
	struct store *s = NULL;
	int *rc = arg;

	*rc = store_open(url, &s, err);
	if (*rc != 0)
		fprintf(stderr, "# open: %s\n", err);
	store_close(s);
	return NULL;
}

static int
setup(void)
{
	char err[STORE_ERRLEN] = "";
	const char *env = getenv("COFFERD_TEST_DB");
	int rc[4] = { -9, -9, -9, -9 };
	pthread_t th[4];
	size_t i, nopen;

	if (env != NULL && *env != '\0')
		snprintf(url, sizeof(url), "%s", env);
	else {
		if (!unit_tmpdir_new(scratch))
			return 1;
		snprintf(url, sizeof(url), "sqlite:%s/store.db", scratch);
	}
	snprintf(tag, sizeof(tag), "t%08lx%06x", (unsigned long)time(NULL),
	    (unsigned int)getpid() & 0xffffff);

	/*
	 * Four opens at once (four cofferd starting against one new
	 * database): schema creation must not race, on either store
	 * (SQLite's switch to WAL is retried on SQLITE_BUSY).
	 */
	nopen = 4;
	for (i = 0; i < nopen; i++)
		if (pthread_create(&th[i], NULL, open_one, &rc[i]) != 0)
			return 1;
	for (i = 0; i < nopen; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < nopen; i++)
		if (rc[i] != 0) {
			printf("# parallel open %zu failed: %d\n", i, rc[i]);
			return 1;
		}

	if (store_open(url, &st, err) != 0) {
		printf("# store_open: %s\n", err);
		return 1;
	}
	return 0;
}

/* ---- tests ---------------------------------------------------------- */

static void
open_ping(void)
{
	char err[STORE_ERRLEN] = "";
	struct store *s2 = NULL;

	T_OK(ping(st, err_));
	/* Reopening finds the schema in place. */
	T_RC(0, open(url, &s2, err_));
	if (s2 != NULL)
		T_OK(ping(s2, err_));
	store_close(s2);
	store_close(NULL);

	s2 = (struct store *)1;
	T_EQ_INT(store_open("nosuch:x", &s2, err), STORE_EFAIL);
	T_TRUE(s2 == NULL);
	T_TRUE(err[0] != '\0');
	err[0] = '\0';
	/* Nothing listens on port 1: fails at once, and says why. */
	T_EQ_INT(store_open("postgres://nobody@127.0.0.1:1/x", &s2, err),
	    STORE_EFAIL);
	T_TRUE(s2 == NULL);
	T_TRUE(err[0] != '\0');
	T_TRUE(strstr(err, "127.0.0.1") != NULL ||
	    strstr(err, "onnect") != NULL);
}

static void
accounts(void)
{
	char a[STORE_ACCOUNT_MAX + 1], b[64], longacct[STORE_ACCOUNT_MAX + 1];
	char pw[STORE_PWHASH_MAX + 1], longpw[STORE_PWHASH_MAX + 1];

	name(a, sizeof(a), "alice@example.org");
	T_OK(account_create(st, a, "$argon2id$v=19$m=65536,t=3,p=1$x$y",
	    1000, err_));
	T_RC(STORE_EEXIST, account_create(st, a, "other", 1001, err_));
	T_OK(account_pwhash(st, a, pw, err_));
	T_EQ_STR(pw, "$argon2id$v=19$m=65536,t=3,p=1$x$y");

	strcpy(pw, "junk");
	T_RC(STORE_ENOTFOUND, account_pwhash(st, name(b, sizeof(b), "nobody"),
	    pw, err_));
	T_EQ_STR(pw, "");
	/* Names are exact: no case folding, no trimming. */
	name(b, sizeof(b), "ALICE@example.org");
	T_RC(STORE_ENOTFOUND, account_pwhash(st, b, pw, err_));

	/* The longest name and hash, and UTF-8. */
	memset(longacct, 'n', STORE_ACCOUNT_MAX);
	memcpy(longacct, tag, strlen(tag));
	longacct[STORE_ACCOUNT_MAX] = '\0';
	memset(longpw, 'h', STORE_PWHASH_MAX);
	longpw[STORE_PWHASH_MAX] = '\0';
	T_OK(account_create(st, longacct, longpw, 1002, err_));
	T_OK(account_pwhash(st, longacct, pw, err_));
	T_EQ_STR(pw, longpw);
	name(b, sizeof(b), "J\xc3\xbcrgen \xe2\x98\x83");
	T_OK(account_create(st, b, "h", 1003, err_));
	T_OK(account_pwhash(st, b, pw, err_));
	T_EQ_STR(pw, "h");
	/* Quotes and backslashes are data, not SQL. */
	name(b, sizeof(b), "o'brien\\\"; DROP TABLE accounts; --");
	T_OK(account_create(st, b, "'", 1004, err_));
	T_OK(account_pwhash(st, b, pw, err_));
	T_EQ_STR(pw, "'");
	T_OK(ping(st, err_));
}

static void
sessions(void)
{
	char a[64], acct[STORE_ACCOUNT_MAX + 1];
	uint8_t h1[STORE_TOKEN_HASH_LEN], h2[STORE_TOKEN_HASH_LEN];
	int64_t exp;

	name(a, sizeof(a), "sess");
	T_OK(account_create(st, a, "h", 1, err_));
	new_hash(h1, 1);
	new_hash(h2, 2);
	T_OK(session_create(st, h1, a, 2000000000, err_));
	T_RC(STORE_EEXIST, session_create(st, h1, a, 5, err_));
	T_OK(session_get(st, h1, acct, &exp, err_));
	T_EQ_STR(acct, a);
	T_EQ_INT(exp, 2000000000);
	T_RC(STORE_ENOTFOUND, session_get(st, h2, acct, &exp, err_));
	T_EQ_STR(acct, "");
	T_EQ_INT(exp, 0);

	/* An expired session is still returned; the caller checks. */
	T_OK(session_create(st, h2, a, 10, err_));
	T_OK(session_get(st, h2, acct, &exp, err_));
	T_EQ_INT(exp, 10);

	T_OK(session_delete(st, h1, err_));
	T_RC(STORE_ENOTFOUND, session_get(st, h1, acct, &exp, err_));
	T_RC(STORE_ENOTFOUND, session_delete(st, h1, err_));
	/* The other one is untouched. */
	T_OK(session_get(st, h2, acct, &exp, err_));
	T_EQ_STR(acct, a);
}

/* The number of audit rows of ${account} (at most 100). */
static size_t
audit_rows(const char *account)
{
	struct store_event *v = NULL;
	size_t n = 0;

	T_OK(audit_list(st, account, 100, &v, &n, err_));
	free(v);
	return n;
}

/*
 * A deposit and a release, each a key row or count and an audit row in
 * one statement or two (PostgreSQL: one): a deposit under a taken id
 * writes neither row; a release counts and logs; a release of a key
 * gone meanwhile logs and counts nothing, without error.
 */
static void
keys_with_audit(const char *a, const char *b, const struct store_key *k1)
{
	struct store_event ev;
	struct store_key k3, got;
	size_t na, nb;

	memset(&ev, 0, sizeof(ev));
	ev.time = 1700000100;
	snprintf(ev.account, sizeof(ev.account), "%s", b);
	snprintf(ev.address, sizeof(ev.address), "192.0.2.7");
	snprintf(ev.event, sizeof(ev.event), "deposit");
	ev.ok = 1;
	make_key(&k3, b, STORE_KIND_KEY, "", 1700000100, 40, 11);
	memcpy(k3.key_id, k1->key_id, sizeof(k3.key_id));
	snprintf(ev.key_id, sizeof(ev.key_id), "%s", k3.key_id);
	nb = audit_rows(b);
	T_RC(STORE_EEXIST, key_put_audit(st, &k3, &ev, err_));
	T_EQ_INT(audit_rows(b), nb);
	make_key(&k3, b, STORE_KIND_KEY, "", 1700000100, 40, 12);
	snprintf(ev.key_id, sizeof(ev.key_id), "%s", k3.key_id);
	T_OK(key_put_audit(st, &k3, &ev, err_));
	T_EQ_INT(audit_rows(b), nb + 1);
	T_OK(key_get(st, b, k3.key_id, &got, err_));
	check_key(&got, &k3, true);

	snprintf(ev.account, sizeof(ev.account), "%s", a);
	snprintf(ev.event, sizeof(ev.event), "release");
	snprintf(ev.key_id, sizeof(ev.key_id), "%s", k1->key_id);
	na = audit_rows(a);
	T_OK(key_get(st, a, k1->key_id, &got, err_));
	T_OK(audit_release(st, &ev, err_));
	T_EQ_INT(audit_rows(a), na + 1);
	T_OK(key_get(st, a, k1->key_id, &k3, err_));
	T_EQ_INT(k3.releases, got.releases + 1);
	snprintf(ev.key_id, sizeof(ev.key_id), "%s",
	    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	T_OK(audit_release(st, &ev, err_));
	T_EQ_INT(audit_rows(a), na + 2);
}

static void
keys(void)
{
	struct store_key k1, k2, w, got, other;
	char a[64], b[64];

	name(a, sizeof(a), "keys-a");
	name(b, sizeof(b), "keys-b");
	make_key(&k1, a, STORE_KIND_KEY, "coffer set 3a", 1700000000, 72, 1);
	T_OK(key_put(st, &k1, err_));
	T_OK(key_get(st, a, k1.key_id, &got, err_));
	check_key(&got, &k1, true);
	T_EQ_INT(got.destroyed, 0);
	T_EQ_INT(got.releases, 0);

	/* The id space is shared: another account cannot take the id. */
	make_key(&other, b, STORE_KIND_KEY, "", 1700000001, 16, 9);
	memcpy(other.key_id, k1.key_id, sizeof(other.key_id));
	T_RC(STORE_EEXIST, key_put(st, &other, err_));
	k2 = k1;
	k2.blob[0] ^= 1;
	T_RC(STORE_EEXIST, key_put(st, &k2, err_));
	T_OK(key_get(st, a, k1.key_id, &got, err_));
	T_EQ_MEM(got.blob, k1.blob, k1.blob_len);

	/* Another account's key is not found, and nothing leaks. */
	memset(&got, 0xee, sizeof(got));
	T_RC(STORE_ENOTFOUND, key_get(st, b, k1.key_id, &got, err_));
	T_EQ_INT(got.blob_len, 0);
	T_EQ_STR(got.account, "");
	T_RC(STORE_ENOTFOUND, key_get(st, a, "00000000000000000000000000000000",
	    &got, err_));

	/* A wrap key: the public key round-trips; the largest blob. */
	make_key(&w, a, STORE_KIND_WRAP, "", 1700000002, STORE_BLOB_MAX, 7);
	memset(w.label, 'L', STORE_LABEL_MAX);
	w.label[STORE_LABEL_MAX] = '\0';
	T_OK(key_put(st, &w, err_));
	T_OK(key_get(st, a, w.key_id, &got, err_));
	check_key(&got, &w, true);

	/* Releases count, per key, and only for the owner. */
	T_OK(key_released(st, a, k1.key_id, err_));
	T_OK(key_released(st, a, k1.key_id, err_));
	T_OK(key_released(st, a, w.key_id, err_));
	T_RC(STORE_ENOTFOUND, key_released(st, b, k1.key_id, err_));
	T_RC(STORE_ENOTFOUND, key_released(st, a,
	    "ffffffffffffffffffffffffffffffff", err_));
	T_OK(key_get(st, a, k1.key_id, &got, err_));
	T_EQ_INT(got.releases, 2);
	T_OK(key_get(st, a, w.key_id, &got, err_));
	T_EQ_INT(got.releases, 1);
	keys_with_audit(a, b, &k1);
}

static void
key_list(void)
{
	struct store_key k[4], *v = NULL;
	char a[64], b[64];
	size_t n = 99, i;

	name(a, sizeof(a), "list-a");
	name(b, sizeof(b), "list-b");
	T_OK(key_list(st, a, &v, &n, err_));
	T_EQ_INT(n, 0);
	free(v);
	v = NULL;

	/* Put out of order: listed by created, ties in insertion order. */
	make_key(&k[0], a, STORE_KIND_KEY, "first", 300, 40, 1);
	make_key(&k[1], a, STORE_KIND_WRAP, "second", 100, 48, 2);
	make_key(&k[2], a, STORE_KIND_KEY, "third", 200, 40, 3);
	make_key(&k[3], a, STORE_KIND_KEY, "fourth", 200, 40, 4);
	for (i = 0; i < 4; i++)
		T_OK(key_put(st, &k[i], err_));
	{
		struct store_key ob;

		make_key(&ob, b, STORE_KIND_KEY, "b's", 150, 40, 5);
		T_OK(key_put(st, &ob, err_));
	}
	T_OK(key_destroy(st, a, k[2].key_id, 400, err_));
	T_OK(key_released(st, a, k[3].key_id, err_));

	T_OK(key_list(st, a, &v, &n, err_));
	T_EQ_INT(n, 4);
	if (n == 4) {
		check_key(&v[0], &k[1], false);
		check_key(&v[1], &k[2], false);
		check_key(&v[2], &k[3], false);
		check_key(&v[3], &k[0], false);
		T_EQ_INT(v[1].destroyed, 400);
		T_EQ_INT(v[0].destroyed, 0);
		T_EQ_INT(v[2].releases, 1);
	}
	free(v);
	v = NULL;
	T_OK(key_list(st, b, &v, &n, err_));
	T_EQ_INT(n, 1);
	if (n == 1)
		T_EQ_STR(v[0].label, "b's");
	free(v);
}

static void
key_destroy(void)
{
	struct store_key k, w, got;
	uint8_t zero[STORE_BLOB_MAX] = { 0 };
	char a[64], b[64];

	name(a, sizeof(a), "destroy-a");
	name(b, sizeof(b), "destroy-b");
	make_key(&k, a, STORE_KIND_KEY, "doomed", 500, 72, 0x55);
	make_key(&w, a, STORE_KIND_WRAP, "doomed wrap", 501, 72, 0x66);
	T_OK(key_put(st, &k, err_));
	T_OK(key_put(st, &w, err_));
	T_OK(key_released(st, a, k.key_id, err_));

	/* Another account: not found, and the key is untouched. */
	T_RC(STORE_ENOTFOUND, key_destroy(st, b, k.key_id, 600, err_));
	T_RC(STORE_ENOTFOUND, key_destroy(st, a,
	    "0123456789abcdef0123456789abcdef", 600, err_));
	T_OK(key_get(st, a, k.key_id, &got, err_));
	T_EQ_INT(got.destroyed, 0);
	T_EQ_INT(got.blob_len, 72);

	T_OK(key_destroy(st, a, k.key_id, 600, err_));
	memset(&got, 0xee, sizeof(got));
	T_OK(key_get(st, a, k.key_id, &got, err_));
	T_EQ_INT(got.destroyed, 600);
	T_EQ_INT(got.blob_len, 0);
	T_EQ_MEM(got.blob, zero, sizeof(got.blob));
	/* The tombstone keeps id, account, kind, label, times, count. */
	T_EQ_STR(got.key_id, k.key_id);
	T_EQ_STR(got.account, a);
	T_EQ_INT(got.kind, STORE_KIND_KEY);
	T_EQ_STR(got.label, "doomed");
	T_EQ_INT(got.created, 500);
	T_EQ_INT(got.releases, 1);

	/* Again: 0, and the first time stays. */
	T_OK(key_destroy(st, a, k.key_id, 700, err_));
	T_OK(key_get(st, a, k.key_id, &got, err_));
	T_EQ_INT(got.destroyed, 600);
	/* Still another account's: not found even when destroyed. */
	T_RC(STORE_ENOTFOUND, key_get(st, b, k.key_id, &got, err_));
	T_RC(STORE_ENOTFOUND, key_destroy(st, b, k.key_id, 700, err_));

	/* A wrap key: the private part goes, the public part may stay. */
	T_OK(key_destroy(st, a, w.key_id, 800, err_));
	T_OK(key_get(st, a, w.key_id, &got, err_));
	T_EQ_INT(got.destroyed, 800);
	T_EQ_INT(got.blob_len, 0);
	T_EQ_INT(got.kind, STORE_KIND_WRAP);

	/* Time 0 must still read as destroyed. */
	make_key(&k, a, STORE_KIND_KEY, "", 900, 40, 0x77);
	T_OK(key_put(st, &k, err_));
	T_OK(key_destroy(st, a, k.key_id, 0, err_));
	T_OK(key_get(st, a, k.key_id, &got, err_));
	T_TRUE(got.destroyed != 0);
}

static void
audit(void)
{
	struct store_event ev, *v = NULL;
	char a[64], b[64];
	size_t n = 99, i;

	name(a, sizeof(a), "audit-a");
	name(b, sizeof(b), "audit-b");
	T_OK(audit_list(st, a, 100, &v, &n, err_));
	T_EQ_INT(n, 0);
	free(v);
	v = NULL;

	/* Ten events for a, interleaved with b's and account-less ones. */
	for (i = 0; i < 10; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.time = 5000 + (int64_t)i;
		snprintf(ev.account, sizeof(ev.account), "%s", a);
		snprintf(ev.address, sizeof(ev.address), "192.0.2.%zu", i);
		snprintf(ev.event, sizeof(ev.event), "%s",
		    i % 2 ? "release" : "login");
		if (i % 2)
			snprintf(ev.key_id, sizeof(ev.key_id),
			    "%032zx", i);
		ev.ok = i != 4;
		T_OK(audit_add(st, &ev, err_));

		memset(&ev, 0, sizeof(ev));
		ev.time = 5000 + (int64_t)i;
		snprintf(ev.account, sizeof(ev.account), "%s", i % 3 ? b : "");
		snprintf(ev.address, sizeof(ev.address), "2001:db8::%zu", i);
		snprintf(ev.event, sizeof(ev.event), "login_failed");
		T_OK(audit_add(st, &ev, err_));
	}
	T_OK(audit_list(st, a, 100, &v, &n, err_));
	T_EQ_INT(n, 10);
	for (i = 0; i < n && i < 10; i++) {
		size_t j = 9 - i;	/* newest first */

		T_EQ_INT(v[i].time, 5000 + (int64_t)j);
		T_EQ_STR(v[i].account, a);
		T_EQ_STR(v[i].event, j % 2 ? "release" : "login");
		T_EQ_INT(v[i].ok, j != 4);
		if (j % 2) {
			char want[STORE_KEYID_LEN + 1];

			snprintf(want, sizeof(want), "%032zx", j);
			T_EQ_STR(v[i].key_id, want);
		} else
			T_EQ_STR(v[i].key_id, "");
	}
	if (n >= 1)
		T_EQ_STR(v[0].address, "192.0.2.9");
	free(v);
	v = NULL;

	/* The limit takes the newest. */
	T_OK(audit_list(st, a, 3, &v, &n, err_));
	T_EQ_INT(n, 3);
	if (n == 3) {
		T_EQ_INT(v[0].time, 5009);
		T_EQ_INT(v[2].time, 5007);
	}
	free(v);
	v = NULL;
	T_OK(audit_list(st, a, 0, &v, &n, err_));
	T_EQ_INT(n, 0);
	free(v);
	v = NULL;

	/* b sees only its own: i = 1, 2, 4, 5, 7, 8. */
	T_OK(audit_list(st, b, 1000, &v, &n, err_));
	T_EQ_INT(n, 6);
	if (n == 6) {
		T_EQ_INT(v[0].time, 5008);
		T_EQ_INT(v[5].time, 5001);
		T_EQ_STR(v[0].event, "login_failed");
		T_EQ_INT(v[0].ok, 0);
		T_EQ_STR(v[0].address, "2001:db8::8");
	}
	free(v);
	v = NULL;

	/* Newest is last written, even when its clock was behind. */
	memset(&ev, 0, sizeof(ev));
	ev.time = 4000;
	snprintf(ev.account, sizeof(ev.account), "%s", a);
	snprintf(ev.address, sizeof(ev.address), "198.51.100.1");
	snprintf(ev.event, sizeof(ev.event), "destroy");
	ev.ok = 1;
	T_OK(audit_add(st, &ev, err_));
	T_OK(audit_list(st, a, 2, &v, &n, err_));
	T_EQ_INT(n, 2);
	if (n == 2) {
		T_EQ_STR(v[0].event, "destroy");
		T_EQ_INT(v[1].time, 5009);
	}
	free(v);
}

static void
failures(void)
{
	char a[64], b[64], x[64], y[64];
	int na = -1, nx = -1;
	int64_t oa = -1, ox = -1;

	name(a, sizeof(a), "fail-a");
	name(b, sizeof(b), "fail-b");
	name(x, sizeof(x), "203.0.113.7");
	name(y, sizeof(y), "203.0.113.8");

	T_OK(failure_count(st, a, x, 0, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 0);
	T_EQ_INT(oa, 0);
	T_EQ_INT(nx, 0);
	T_EQ_INT(ox, 0);

	T_OK(failure_add(st, a, x, 10000, err_));
	T_OK(failure_add(st, a, x, 11000, err_));
	T_OK(failure_add(st, a, y, 11500, err_));
	T_OK(failure_add(st, b, x, 11200, err_));
	T_OK(failure_add(st, a, x, 12000, err_));

	T_OK(failure_count(st, a, x, 0, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 4);
	T_EQ_INT(oa, 10000);
	T_EQ_INT(nx, 4);
	T_EQ_INT(ox, 10000);

	/* The window: since is inclusive. */
	T_OK(failure_count(st, a, x, 11000, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 3);		/* 11000, 11500, 12000 */
	T_EQ_INT(oa, 11000);
	T_EQ_INT(nx, 3);		/* 11000, 11200, 12000 */
	T_EQ_INT(ox, 11000);

	/* ... and it deleted the 10000 one for good. */
	T_OK(failure_count(st, a, x, 0, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 3);
	T_EQ_INT(oa, 11000);
	T_EQ_INT(nx, 3);

	T_OK(failure_count(st, b, y, 11300, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 0);
	T_EQ_INT(oa, 0);
	T_EQ_INT(nx, 1);
	T_EQ_INT(ox, 11500);

	/* A window past everything empties the table of these. */
	T_OK(failure_count(st, a, x, 20000, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 0);
	T_EQ_INT(nx, 0);
	T_OK(failure_count(st, a, y, 0, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 0);
	T_EQ_INT(nx, 0);
}

/* Two handles on one database, as two cofferd processes have. */
static void
two_handles(void)
{
	struct store *s2 = NULL;
	struct store_key k, got;
	char a[64], x[64], pw[STORE_PWHASH_MAX + 1];
	uint8_t h[STORE_TOKEN_HASH_LEN];
	char acct[STORE_ACCOUNT_MAX + 1];
	int64_t exp, oa, ox;
	int na, nx, i;

	T_OK(open(url, &s2, err_));
	if (s2 == NULL)
		return;
	name(a, sizeof(a), "two");
	name(x, sizeof(x), "198.51.100.77");
	T_OK(account_create(st, a, "hash", 1, err_));
	T_RC(STORE_EEXIST, account_create(s2, a, "hash2", 1, err_));
	T_OK(account_pwhash(s2, a, pw, err_));
	T_EQ_STR(pw, "hash");

	new_hash(h, 77);
	T_OK(session_create(st, h, a, 3000000000, err_));
	T_OK(session_get(s2, h, acct, &exp, err_));
	T_EQ_STR(acct, a);
	T_OK(session_delete(s2, h, err_));
	T_RC(STORE_ENOTFOUND, session_get(st, h, acct, &exp, err_));

	make_key(&k, a, STORE_KIND_KEY, "", 42, 64, 0x42);
	T_OK(key_put(st, &k, err_));
	T_OK(key_get(s2, a, k.key_id, &got, err_));
	check_key(&got, &k, true);
	T_OK(key_destroy(s2, a, k.key_id, 43, err_));
	T_OK(key_get(st, a, k.key_id, &got, err_));
	T_EQ_INT(got.destroyed, 43);
	T_EQ_INT(got.blob_len, 0);

	/* Failures split over both count together. */
	for (i = 0; i < 10; i++)
		T_OK(failure_add(i % 2 ? st : s2, a, x, 50000 + i, err_));
	T_OK(failure_count(st, a, x, 50000, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 10);
	T_EQ_INT(nx, 10);
	T_EQ_INT(oa, 50000);
	store_close(s2);
}

#define LIMIT	10

/*
 * A reservation of ${a} from ${x} at ${now}: window 1000 s, stale after
 * 50 s (T_OK(test_reserve(...)) calls this).
 */
static int
store_test_reserve(const char *a, const char *x, int64_t now, int64_t *id,
    struct store_failures *f, char err[STORE_ERRLEN])
{
	return store_failure_reserve(st, a, x, now, now - 1000, now - 50,
	    LIMIT, id, f, err);
}

static void
check_tally(const struct store_failures *f, int na, int pa, int64_t oa,
    int nx, int px, int64_t ox)
{
	T_EQ_INT(f->n_account, na);
	T_EQ_INT(f->p_account, pa);
	T_EQ_INT(f->old_account, oa);
	T_EQ_INT(f->n_address, nx);
	T_EQ_INT(f->p_address, px);
	T_EQ_INT(f->old_address, ox);
}

static void
reservations(void)
{
	struct store_failures f;
	char a[64], b[64], x[64], y[64];
	int64_t id = -1, id2 = -1, id3, oa, ox;
	int i, na, nx;

	name(a, sizeof(a), "rsv-a");
	name(b, sizeof(b), "rsv-b");
	name(x, sizeof(x), "192.0.2.50");
	name(y, sizeof(y), "192.0.2.51");

	/* Nothing yet: a reservation, then a second sees it in progress. */
	T_OK(test_reserve(a, x, 100000, &id, &f, err_));
	T_TRUE(id > 0);
	check_tally(&f, 0, 0, 0, 0, 0, 0);
	T_OK(test_reserve(a, y, 100001, &id2, &f, err_));
	T_TRUE(id2 > 0 && id2 != id);
	check_tally(&f, 0, 1, 100000, 0, 0, 0);
	/* A reservation counts in store_failure_count, as a failure. */
	T_OK(failure_count(st, a, y, 99000, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 2);
	T_EQ_INT(nx, 1);
	T_EQ_INT(ox, 100001);

	/* Right password: the reservation goes; only once. */
	T_OK(failure_cancel(st, id2, err_));
	T_RC(STORE_ENOTFOUND, failure_cancel(st, id2, err_));
	T_RC(STORE_ENOTFOUND, failure_confirm(st, id2, err_));
	/* Wrong password: it stays, as a failure; no longer cancellable. */
	T_OK(failure_confirm(st, id, err_));
	T_RC(STORE_ENOTFOUND, failure_confirm(st, id, err_));
	T_RC(STORE_ENOTFOUND, failure_cancel(st, id, err_));
	T_RC(STORE_ENOTFOUND, failure_cancel(st, 0, err_));
	T_OK(test_reserve(a, y, 100002, &id2, &f, err_));
	check_tally(&f, 1, 0, 100000, 0, 0, 0);
	T_OK(failure_cancel(st, id2, err_));

	/* Nine failures: one more may be checked, and then no other. */
	for (i = 0; i < 8; i++)
		T_OK(failure_add(st, a, x, 100010 + i, err_));
	T_OK(test_reserve(a, y, 100020, &id2, &f, err_));
	check_tally(&f, 9, 0, 100000, 0, 0, 0);
	id3 = 99;
	T_RC(STORE_EBUSY, test_reserve(a, y, 100021, &id3, &f, err_));
	T_EQ_INT(id3, 0);
	check_tally(&f, 9, 1, 100000, 0, 1, 100020);
	/* ... until it ends: right, and the next may try; wrong, limited. */
	T_OK(failure_cancel(st, id2, err_));
	T_OK(test_reserve(a, y, 100022, &id2, &f, err_));
	check_tally(&f, 9, 0, 100000, 0, 0, 0);
	T_OK(failure_confirm(st, id2, err_));
	id3 = 99;
	T_RC(STORE_ELIMIT, test_reserve(a, y, 100023, &id3, &f, err_));
	T_EQ_INT(id3, 0);
	check_tally(&f, 10, 0, 100000, 1, 0, 100022);
	/* Refused attempts leave no row: the window does not move. */
	T_OK(failure_count(st, a, y, 99000, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 10);
	T_EQ_INT(nx, 1);

	/* x has had 9 failures (all a's): b from x gets the last one. */
	T_OK(test_reserve(b, x, 100030, &id2, &f, err_));
	check_tally(&f, 0, 0, 0, 9, 0, 100000);
	T_OK(failure_confirm(st, id2, err_));
	/* b from y is fine (1 and 1), b from x is not (x has 10). */
	T_OK(test_reserve(b, y, 100031, &id3, &f, err_));
	check_tally(&f, 1, 0, 100030, 1, 0, 100022);
	T_OK(failure_cancel(st, id3, err_));
	T_RC(STORE_ELIMIT, test_reserve(b, x, 100032, &id3, &f, err_));
	check_tally(&f, 1, 0, 100030, 10, 0, 100000);

	/* The window: 100000 leaves it at 101000, and the row is deleted. */
	T_OK(test_reserve(a, y, 101000 + 1, &id2, &f, err_));
	check_tally(&f, 9, 0, 100010, 1, 0, 100022);
	T_OK(failure_cancel(st, id2, err_));
	T_OK(failure_count(st, a, x, 0, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 9);
	T_EQ_INT(oa, 100010);
}

/*
 * Registrations (store_register_reserve) count per address and per name
 * like failed logins, and apart from them.
 */
static void
registrations(void)
{
	struct store_failures f;
	char a[64], n[80], x[64];
	int64_t id = -1, oa, ox;
	int i, na, nx;

	name(a, sizeof(a), "reg-a");
	name(x, sizeof(x), "192.0.2.60");
	for (i = 0; i < LIMIT; i++) {
		snprintf(n, sizeof(n), "%s%d", a, i);
		T_OK(register_reserve(st, n, x, 300000 + i, 299000, 299950,
		    LIMIT, &id, &f, err_));
		T_TRUE(id > 0);
		check_tally(&f, 0, 0, 0, i, 0, i > 0 ? 300000 : 0);
		T_OK(failure_confirm(st, id, err_));
	}
	/* The address is used up, for any name; another address is not. */
	id = 99;
	T_RC(STORE_ELIMIT, register_reserve(st, "reg-other", x, 300020,
	    299020, 299970, LIMIT, &id, &f, err_));
	T_EQ_INT(id, 0);
	check_tally(&f, 0, 0, 0, LIMIT, 0, 300000);
	T_OK(register_reserve(st, "reg-other", "192.0.2.61", 300021, 299021,
	    299971, LIMIT, &id, &f, err_));
	check_tally(&f, 0, 0, 0, 0, 0, 0);
	T_OK(failure_confirm(st, id, err_));
	/* They are no failed logins: of those names, from that address. */
	snprintf(n, sizeof(n), "%s0", a);
	T_OK(failure_count(st, n, x, 299000, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 0);
	T_EQ_INT(nx, 0);
	T_OK(failure_reserve(st, n, x, 300022, 299022, 299972, LIMIT, &id,
	    &f, err_));
	check_tally(&f, 0, 0, 0, 0, 0, 0);
	T_OK(failure_cancel(st, id, err_));
	/* The window: the first leaves it at 301000. */
	T_OK(register_reserve(st, "reg-late", x, 301000, 300001, 300950,
	    LIMIT, &id, &f, err_));
	check_tally(&f, 0, 0, 0, LIMIT - 1, 0, 300001);
	T_OK(failure_cancel(st, id, err_));
}

/* A reservation older than ${stale} is a failure (its server died). */
static void
reservation_stale(void)
{
	struct store_failures f;
	char a[64], x[64], y[64];
	int64_t id = 0, id2 = 0;
	int i;

	name(a, sizeof(a), "stale-a");
	name(x, sizeof(x), "192.0.2.60");
	name(y, sizeof(y), "192.0.2.61");
	for (i = 0; i < 9; i++)
		T_OK(failure_add(st, a, x, 200000 + i, err_));
	T_OK(test_reserve(a, x, 200010, &id, &f, err_));
	T_RC(STORE_EBUSY, test_reserve(a, y, 200060, &id2, &f, err_));
	check_tally(&f, 9, 1, 200000, 0, 0, 0);
	/* 200010 < 200061 - 50: the reservation is now a failure. */
	T_RC(STORE_ELIMIT, test_reserve(a, y, 200061, &id2, &f, err_));
	check_tally(&f, 10, 0, 200000, 0, 0, 0);
	/* Its login may still end, though, and put it right. */
	T_OK(failure_cancel(st, id, err_));
	T_OK(test_reserve(a, y, 200062, &id2, &f, err_));
	check_tally(&f, 9, 0, 200000, 0, 0, 0);
	T_OK(failure_confirm(st, id2, err_));
}

/*
 * store_expire: expired sessions and failures outside the window go;
 * live sessions, failures in the window and reservations still being
 * checked stay, and so does the audit log.  Times are around EXPIRE_T,
 * apart from every other test's; a first call clears what earlier runs
 * left in that range, so the counts are exact.
 */
#define EXPIRE_T	1000000

static void
expire(void)
{
	struct store_failures f;
	struct store_event ev, *v = NULL;
	uint8_t h[4][STORE_TOKEN_HASH_LEN];
	char a[64], b[64], x[64], y[64], acct[STORE_ACCOUNT_MAX + 1];
	int64_t exp, ns, nf, oa, ox, id_live = 0, id_old = 0;
	int na, nx, i;
	size_t n;

	name(a, sizeof(a), "expire-a");
	name(b, sizeof(b), "expire-b");
	name(x, sizeof(x), "192.0.2.70");
	name(y, sizeof(y), "192.0.2.71");
	/* Wider than both calls below. */
	T_OK(expire(st, EXPIRE_T + 5000, EXPIRE_T + 4000, EXPIRE_T + 4950,
	    &ns, &nf, err_));

	T_OK(account_create(st, a, "h", 1, err_));
	for (i = 0; i < 4; i++)
		new_hash(h[i], 1000 + (unsigned int)i);
	T_OK(session_create(st, h[0], a, EXPIRE_T - 1, err_));
	T_OK(session_create(st, h[1], a, EXPIRE_T, err_));	/* expired */
	T_OK(session_create(st, h[2], a, EXPIRE_T + 1, err_));
	T_OK(session_create(st, h[3], a, 4000000000, err_));
	/* Reservations first: they delete what is older than their window. */
	T_OK(test_reserve(a, x, EXPIRE_T - 20, &id_live, &f, err_));
	T_OK(test_reserve(b, y, EXPIRE_T - 1500, &id_old, &f, err_));
	T_OK(failure_add(st, a, x, EXPIRE_T - 2000, err_));
	T_OK(failure_add(st, a, y, EXPIRE_T - 1001, err_));
	T_OK(failure_add(st, a, x, EXPIRE_T - 1000, err_));
	T_OK(failure_add(st, b, x, EXPIRE_T - 10, err_));
	memset(&ev, 0, sizeof(ev));
	ev.time = EXPIRE_T - 100000;
	snprintf(ev.account, sizeof(ev.account), "%s", a);
	snprintf(ev.event, sizeof(ev.event), "login");
	ev.ok = 1;
	T_OK(audit_add(st, &ev, err_));

	/* Window 1000 s, stale after 50 s, as test_reserve. */
	ns = nf = -1;
	T_OK(expire(st, EXPIRE_T, EXPIRE_T - 1000, EXPIRE_T - 50, &ns, &nf,
	    err_));
	T_EQ_INT(ns, 2);
	T_EQ_INT(nf, 3);	/* - 2000, - 1001, and the stale reservation */
	T_RC(STORE_ENOTFOUND, session_get(st, h[0], acct, &exp, err_));
	T_RC(STORE_ENOTFOUND, session_get(st, h[1], acct, &exp, err_));
	T_OK(session_get(st, h[2], acct, &exp, err_));
	T_EQ_INT(exp, EXPIRE_T + 1);
	T_OK(session_get(st, h[3], acct, &exp, err_));
	T_RC(STORE_ENOTFOUND, failure_cancel(st, id_old, err_));
	/* a: - 1000 and the live reservation; x: those and b's - 10. */
	T_OK(failure_count(st, a, x, 0, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 2);
	T_EQ_INT(oa, EXPIRE_T - 1000);
	T_EQ_INT(nx, 3);
	/* Nothing more to do at the same time. */
	T_OK(expire(st, EXPIRE_T, EXPIRE_T - 1000, EXPIRE_T - 50, &ns, &nf,
	    err_));
	T_EQ_INT(ns, 0);
	T_EQ_INT(nf, 0);

	/*
	 * Later, with every failure outside the window: a reservation made
	 * after ${stale} is a login still being checked, and stays.
	 */
	T_OK(expire(st, EXPIRE_T + 2000, EXPIRE_T + 1000, EXPIRE_T - 50,
	    &ns, &nf, err_));
	T_EQ_INT(ns, 1);
	T_EQ_INT(nf, 2);
	T_RC(STORE_ENOTFOUND, session_get(st, h[2], acct, &exp, err_));
	T_OK(session_get(st, h[3], acct, &exp, err_));
	T_OK(failure_count(st, a, x, 0, &na, &oa, &nx, &ox, err_));
	T_EQ_INT(na, 1);
	T_EQ_INT(oa, EXPIRE_T - 20);
	T_OK(failure_cancel(st, id_live, err_));
	T_OK(session_delete(st, h[3], err_));

	/* The audit log is the account's record: never expired. */
	T_OK(audit_list(st, a, 10, &v, &n, err_));
	T_EQ_INT(n, 1);
	if (n == 1)
		T_EQ_INT(v[0].time, EXPIRE_T - 100000);
	free(v);
}

/*
 * Many reservations at once never pass the limit: RACE_HANDLES store
 * handles (each its own connection or pool, as in separate cofferd
 * processes), RACE_THREADS threads on each, try logins at one account
 * (each thread from an address of its own) or from one address (to a new
 * account each time) until they are refused.  A login's password check
 * takes 1-4 ms; each thread's first one is right (cancelled), every later
 * one wrong (confirmed).  Exactly LIMIT failures must stay, and the
 * reservations alive at one time never exceed LIMIT.
 */
#define RACE_HANDLES	4
#define RACE_THREADS	4

struct race {
	struct store	*s;
	const char	*account;	/* NULL: a new one per attempt */
	const char	*address;	/* NULL: one per thread */
	int		 n;		/* thread number */
	int		*alive;		/* shared by all threads */
	int		*most;
	int		 confirmed, cancelled, busy, errors;
};

static void *
racer(void *arg)
{
	struct race *r = arg;
	struct store_failures f;
	char err[STORE_ERRLEN], acct[STORE_ACCOUNT_MAX + 1], addr[64];
	struct timespec ts = { 0, 0 };
	int64_t id, now;
	int rc, n, m, tries;

	snprintf(addr, sizeof(addr), "%s-%d", tag, r->n);
	for (tries = 0; tries < 100000 && r->errors < 10; tries++) {
		snprintf(acct, sizeof(acct), "%s-race-%d-%d", tag, r->n,
		    tries);
		now = (int64_t)time(NULL);
		rc = store_failure_reserve(r->s,
		    r->account != NULL ? r->account : acct,
		    r->address != NULL ? r->address : addr, now, now - 900,
		    now - 15, LIMIT, &id, &f, err);
		if (rc == STORE_ELIMIT)
			break;
		if (rc == STORE_EBUSY) {
			r->busy++;
			ts.tv_nsec = 1000000;
			nanosleep(&ts, NULL);
			continue;
		}
		if (rc != 0) {
			if (r->errors++ == 0)
				fprintf(stderr, "# racer: %s\n", err);
			continue;
		}
		/* Counted after the insert, uncounted before the delete. */
		n = __atomic_add_fetch(r->alive, 1, __ATOMIC_SEQ_CST);
		m = __atomic_load_n(r->most, __ATOMIC_SEQ_CST);
		while (n > m && !__atomic_compare_exchange_n(r->most, &m, n,
		    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue;
		ts.tv_nsec = (1 + (r->n + tries) % 4) * 1000000L;
		nanosleep(&ts, NULL);
		if (r->cancelled == 0) {
			__atomic_sub_fetch(r->alive, 1, __ATOMIC_SEQ_CST);
			rc = store_failure_cancel(r->s, id, err);
			r->cancelled++;
		} else {
			rc = store_failure_confirm(r->s, id, err);
			r->confirmed++;
		}
		if (rc != 0 && r->errors++ == 0)
			fprintf(stderr, "# racer: settling: %s\n", err);
	}
	return NULL;
}

static void
race(const char *account, const char *address)
{
	struct race r[RACE_HANDLES * RACE_THREADS];
	pthread_t th[RACE_HANDLES * RACE_THREADS];
	struct store *s[RACE_HANDLES];
	int alive = 0, most = 0, sum[4] = { 0, 0, 0, 0 };
	size_t i, n = RACE_HANDLES * RACE_THREADS;

	memset(s, 0, sizeof(s));
	for (i = 0; i < RACE_HANDLES; i++)
		T_OK(open(url, &s[i], err_));
	for (i = 0; i < n; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].s = s[i % RACE_HANDLES];
		r[i].account = account;
		r[i].address = address;
		r[i].n = (int)i;
		r[i].alive = &alive;
		r[i].most = &most;
		if (r[i].s == NULL ||
		    pthread_create(&th[i], NULL, racer, &r[i]) != 0) {
			T_TRUE(false);
			r[i].s = NULL;
		}
	}
	for (i = 0; i < n; i++) {
		if (r[i].s == NULL)
			continue;
		pthread_join(th[i], NULL);
		sum[0] += r[i].confirmed;
		sum[1] += r[i].cancelled;
		sum[2] += r[i].busy;
		sum[3] += r[i].errors;
	}
	for (i = 0; i < RACE_HANDLES; i++)
		store_close(s[i]);
	printf("# race at one %s: %d failures, %d right passwords, %d waits, "
	    "at most %d at once\n", account != NULL ? "account" : "address",
	    sum[0], sum[1], sum[2], most);
	T_EQ_INT(sum[3], 0);
	T_EQ_INT(sum[0], LIMIT);
	T_TRUE(sum[1] >= 1);
	T_TRUE(most <= LIMIT);
}

/* Three rounds each: a lost race shows only now and then. */
static void
reservation_race(void)
{
	char a[64], x[64], what[32];
	int64_t oa, ox;
	int na, nx, i;

	for (i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "race-account-%d", i);
		name(a, sizeof(a), what);
		snprintf(what, sizeof(what), "race-address-%d", i);
		name(x, sizeof(x), what);
		race(a, NULL);
		T_OK(failure_count(st, a, "-", 0, &na, &oa, &nx, &ox, err_));
		T_EQ_INT(na, LIMIT);
		race(NULL, x);
		T_OK(failure_count(st, "-", x, 0, &na, &oa, &nx, &ox, err_));
		T_EQ_INT(nx, LIMIT);
	}
}

struct worker {
	int		 id;
	const char	*shared_key;	/* all count releases on it */
	const char	*owner;
	int		 fails;
};

static void *
worker(void *arg)
{
	struct worker *w = arg;
	char err[STORE_ERRLEN], a[STORE_ACCOUNT_MAX + 1];
	char pw[STORE_PWHASH_MAX + 1];
	struct store_event ev;
	struct store_key k, got;
	int i;

	for (i = 0; i < NPERTHREAD; i++) {
		snprintf(a, sizeof(a), "%s-conc-%d-%d", tag, w->id, i);
		if (store_account_create(st, a, a, i, err) != 0 ||
		    store_account_pwhash(st, a, pw, err) != 0 ||
		    strcmp(pw, a) != 0)
			w->fails++;
		make_key(&k, a, STORE_KIND_KEY, "", i, 40, (uint8_t)i);
		if (store_key_put(st, &k, err) != 0 ||
		    store_key_get(st, a, k.key_id, &got, err) != 0 ||
		    got.blob_len != 40 || memcmp(got.blob, k.blob, 40) != 0)
			w->fails++;
		if (store_key_released(st, w->owner, w->shared_key, err) != 0)
			w->fails++;
		memset(&ev, 0, sizeof(ev));
		ev.time = i;
		snprintf(ev.account, sizeof(ev.account), "%s", w->owner);
		snprintf(ev.address, sizeof(ev.address), "thread %d", w->id);
		snprintf(ev.event, sizeof(ev.event), "release");
		ev.ok = 1;
		if (store_audit_add(st, &ev, err) != 0)
			w->fails++;
		if (w->fails != 0 && i == 0)
			fprintf(stderr, "# worker %d: %s\n", w->id, err);
	}
	return NULL;
}

static void
concurrent(void)
{
	struct worker w[NTHREADS];
	struct store_key k, got;
	struct store_event *v = NULL;
	pthread_t th[NTHREADS];
	char a[64];
	size_t n;
	int i;

	name(a, sizeof(a), "conc-owner");
	make_key(&k, a, STORE_KIND_KEY, "", 1, 40, 1);
	T_OK(key_put(st, &k, err_));
	for (i = 0; i < NTHREADS; i++) {
		w[i].id = i;
		w[i].shared_key = k.key_id;
		w[i].owner = a;
		w[i].fails = 0;
		T_TRUE(pthread_create(&th[i], NULL, worker, &w[i]) == 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(w[i].fails, 0);
	}
	T_OK(key_get(st, a, k.key_id, &got, err_));
	T_EQ_INT(got.releases, NTHREADS * NPERTHREAD);
	T_OK(audit_list(st, a, 1000, &v, &n, err_));
	T_EQ_INT(n, NTHREADS * NPERTHREAD);
	free(v);
}

/*
 * $COFFERD_TEST_DB_BREAK, if set, is a command that cuts every connection
 * to the database (82-store.sh: a PostgreSQL restart).  Every pooled
 * connection is then dead; the next calls must reconnect, not fail.
 */
static void
reconnect(void)
{
	const char *cmd = getenv("COFFERD_TEST_DB_BREAK");
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct store_key k, got;
	char a[64], pw[STORE_PWHASH_MAX + 1];
	int i;

	if (cmd == NULL || *cmd == '\0') {
		printf("# skipped: COFFERD_TEST_DB_BREAK is not set\n");
		return;
	}
	name(a, sizeof(a), "reconnect");
	T_OK(account_create(st, a, "before", 1, err_));
	make_key(&k, a, STORE_KIND_KEY, "", 1, 40, 1);
	T_OK(key_put(st, &k, err_));
	/* Fill the pool with several connections, then cut them all. */
	for (i = 0; i < NTHREADS; i++) {
		w[i].id = 100 + i;
		w[i].shared_key = k.key_id;
		w[i].owner = a;
		w[i].fails = 0;
		T_TRUE(pthread_create(&th[i], NULL, worker, &w[i]) == 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	T_TRUE(system(cmd) == 0);

	/* Writes first: a write must not fail on a stale connection. */
	T_OK(key_released(st, a, k.key_id, err_));
	T_OK(account_pwhash(st, a, pw, err_));
	T_EQ_STR(pw, "before");
	T_OK(ping(st, err_));
	for (i = 0; i < NTHREADS; i++) {
		w[i].id = 200 + i;
		w[i].fails = 0;
		T_TRUE(pthread_create(&th[i], NULL, worker, &w[i]) == 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(w[i].fails, 0);
	}
	T_OK(key_get(st, a, k.key_id, &got, err_));
	T_EQ_INT(got.releases, 2 * NTHREADS * NPERTHREAD + 1);
}

/* ---- version 2: devices, fresh proof, TOTP, key metadata ------------ */

static void
devices(void)
{
	struct store_session s1, s2, s3, got, *v = NULL;
	char a[64], b[64], acct[STORE_ACCOUNT_MAX + 1];
	int64_t n, exp;
	size_t nv = 0;

	name(a, sizeof(a), "dev-a");
	name(b, sizeof(b), "dev-b");
	T_OK(account_create(st, a, "h", 1, err_));
	T_OK(account_create(st, b, "h", 1, err_));
	memset(&s1, 0, sizeof(s1));
	new_hash(s1.hash, 101);
	snprintf(s1.account, sizeof(s1.account), "%s", a);
	snprintf(s1.device, sizeof(s1.device), "laptop \xc3\xa9");
	snprintf(s1.last_address, sizeof(s1.last_address), "192.0.2.1");
	s1.created = 1000;
	s1.last_used = 1000;
	s1.expires = 4000000000;
	s1.fresh_until = 1600;
	s1.fresh_code = 1;
	s2 = s1;
	new_hash(s2.hash, 102);
	snprintf(s2.device, sizeof(s2.device), "phone");
	s2.last_used = 2000;
	s2.fresh_code = 0;
	s3 = s1;
	new_hash(s3.hash, 103);
	snprintf(s3.account, sizeof(s3.account), "%s", b);
	T_OK(session_open(st, &s1, err_));
	T_RC(STORE_EEXIST, session_open(st, &s1, err_));
	T_OK(session_open(st, &s2, err_));
	T_OK(session_open(st, &s3, err_));
	T_OK(session_info(st, s1.hash, &got, err_));
	T_EQ_MEM(got.hash, s1.hash, STORE_TOKEN_HASH_LEN);
	T_EQ_STR(got.account, a);
	T_EQ_STR(got.device, "laptop \xc3\xa9");
	T_EQ_STR(got.last_address, "192.0.2.1");
	T_EQ_INT(got.created, 1000);
	T_EQ_INT(got.expires, 4000000000);
	T_EQ_INT(got.fresh_until, 1600);
	T_EQ_INT(got.fresh_code, 1);
	/* The version 1 calls still work, and make an "unnamed" session. */
	T_OK(session_get(st, s1.hash, acct, &exp, err_));
	T_EQ_STR(acct, a);
	{
		uint8_t h[STORE_TOKEN_HASH_LEN];

		new_hash(h, 104);
		T_OK(session_create(st, h, a, 5, err_));
		T_OK(session_info(st, h, &got, err_));
		T_EQ_STR(got.device, "unnamed");
		T_EQ_INT(got.fresh_until, 0);
		T_EQ_INT(got.created, 0);
		/* Expired at 5: not listed. */
	}

	/* Touch and fresh. */
	T_OK(session_touch(st, s1.hash, 3000, "2001:db8::1", err_));
	T_OK(session_fresh(st, s2.hash, 3600, 1, err_));
	T_OK(session_info(st, s1.hash, &got, err_));
	T_EQ_INT(got.last_used, 3000);
	T_EQ_STR(got.last_address, "2001:db8::1");
	T_OK(session_info(st, s2.hash, &got, err_));
	T_EQ_INT(got.fresh_until, 3600);
	T_EQ_INT(got.fresh_code, 1);
	T_OK(session_fresh(st, s2.hash, 3700, 0, err_));
	T_OK(session_info(st, s2.hash, &got, err_));
	T_EQ_INT(got.fresh_code, 0);
	{
		uint8_t h[STORE_TOKEN_HASH_LEN];

		new_hash(h, 199);
		T_RC(STORE_ENOTFOUND, session_touch(st, h, 1, "x", err_));
		T_RC(STORE_ENOTFOUND, session_fresh(st, h, 1, 0, err_));
	}

	/* The account's live sessions, most recently used first. */
	T_OK(session_list(st, a, 100, &v, &nv, err_));
	T_EQ_INT(nv, 2);
	if (nv == 2) {
		T_EQ_MEM(v[0].hash, s1.hash, STORE_TOKEN_HASH_LEN);
		T_EQ_MEM(v[1].hash, s2.hash, STORE_TOKEN_HASH_LEN);
		T_EQ_STR(v[1].device, "phone");
	}
	free(v);
	v = NULL;

	/* Revoke: by name, never another account's, never ${keep}. */
	T_OK(session_revoke(st, a, "laptop \xc3\xa9", NULL, s1.hash, &n,
	    err_));
	T_EQ_INT(n, 0);
	T_OK(session_revoke(st, b, "phone", NULL, NULL, &n, err_));
	T_EQ_INT(n, 0);
	T_OK(session_revoke(st, a, "phone", NULL, NULL, &n, err_));
	T_EQ_INT(n, 1);
	T_RC(STORE_ENOTFOUND, session_info(st, s2.hash, &got, err_));
	/* By id: the hash's first 8 bytes. */
	T_OK(session_open(st, &s2, err_));
	T_OK(session_revoke(st, b, NULL, s2.hash, NULL, &n, err_));
	T_EQ_INT(n, 0);
	T_OK(session_revoke(st, a, NULL, s2.hash, NULL, &n, err_));
	T_EQ_INT(n, 1);
	T_OK(session_info(st, s1.hash, &got, err_));
	/* All but one. */
	T_OK(session_open(st, &s2, err_));
	T_OK(session_revoke(st, a, NULL, NULL, s2.hash, &n, err_));
	T_EQ_INT(n, 2);		/* s1 and the expired one */
	T_RC(STORE_ENOTFOUND, session_info(st, s1.hash, &got, err_));
	T_OK(session_info(st, s2.hash, &got, err_));
	T_OK(session_info(st, s3.hash, &got, err_));
	T_EQ_STR(got.account, b);
}

static void
account_changes(void)
{
	struct store_session s1, s2, got;
	struct store_key k, w, kb, kg;
	char a[64], b[64], pw[STORE_PWHASH_MAX + 1];
	int64_t n;

	name(a, sizeof(a), "acct-a");
	name(b, sizeof(b), "acct-b");
	T_OK(account_create(st, a, "old-hash", 1, err_));
	T_OK(account_create(st, b, "b-hash", 1, err_));
	memset(&s1, 0, sizeof(s1));
	new_hash(s1.hash, 201);
	snprintf(s1.account, sizeof(s1.account), "%s", a);
	snprintf(s1.device, sizeof(s1.device), "one");
	s1.expires = 4000000000;
	s2 = s1;
	new_hash(s2.hash, 202);
	T_OK(session_open(st, &s1, err_));
	T_OK(session_open(st, &s2, err_));

	/* A new password ends every other session. */
	T_OK(account_set_pwhash(st, a, "new-hash", s1.hash, &n, err_));
	T_EQ_INT(n, 1);
	T_OK(account_pwhash(st, a, pw, err_));
	T_EQ_STR(pw, "new-hash");
	T_OK(session_info(st, s1.hash, &got, err_));
	T_RC(STORE_ENOTFOUND, session_info(st, s2.hash, &got, err_));
	T_RC(STORE_ENOTFOUND, account_set_pwhash(st, "no such account",
	    "x", NULL, &n, err_));

	/* Delete: keys shredded, sessions gone, the name stays taken. */
	make_key(&k, a, STORE_KIND_KEY, "", 10, 72, 3);
	make_key(&w, a, STORE_KIND_WRAP, "", 11, 72, 4);
	make_key(&kb, b, STORE_KIND_KEY, "", 12, 72, 5);
	T_OK(key_put(st, &k, err_));
	T_OK(key_put(st, &w, err_));
	T_OK(key_put(st, &kb, err_));
	T_OK(session_open(st, &s2, err_));
	T_OK(account_delete(st, a, 5000, err_));
	T_RC(STORE_ENOTFOUND, account_delete(st, a, 5001, err_));
	T_RC(STORE_ENOTFOUND, account_pwhash(st, a, pw, err_));
	T_RC(STORE_ENOTFOUND, session_info(st, s1.hash, &got, err_));
	T_RC(STORE_ENOTFOUND, session_info(st, s2.hash, &got, err_));
	T_RC(STORE_EEXIST, account_create(st, a, "again", 6, err_));
	T_OK(key_get(st, a, k.key_id, &kg, err_));
	T_EQ_INT(kg.destroyed, 5000);
	T_EQ_INT(kg.blob_len, 0);
	T_OK(key_get(st, a, w.key_id, &kg, err_));
	T_EQ_INT(kg.destroyed, 5000);
	T_EQ_INT(kg.blob_len, 0);
	/* The other account is untouched. */
	T_OK(key_get(st, b, kb.key_id, &kg, err_));
	T_EQ_INT(kg.destroyed, 0);
	T_EQ_INT(kg.blob_len, 72);
	T_OK(account_pwhash(st, b, pw, err_));
	T_EQ_STR(pw, "b-hash");
}

static void
totp(void)
{
	uint8_t blob[60], codes[3][STORE_CODE_HASH_LEN];
	struct store_totp t;
	char a[64], b[64];
	size_t i;

	name(a, sizeof(a), "totp-a");
	name(b, sizeof(b), "totp-b");
	T_OK(account_create(st, a, "h", 1, err_));
	T_OK(account_create(st, b, "h", 1, err_));
	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 3 + 1);
	for (i = 0; i < 3; i++)
		memset(codes[i], (int)(0x40 + i), STORE_CODE_HASH_LEN);
	T_OK(totp_get(st, a, &t, err_));
	T_EQ_INT(t.state, STORE_TOTP_OFF);
	T_RC(STORE_ENOTFOUND, totp_get(st, "no such account", &t, err_));
	T_RC(STORE_ENOTFOUND, totp_enable(st, a, 10, codes, 3, err_));
	T_OK(totp_pending(st, a, blob, sizeof(blob), err_));
	T_OK(totp_get(st, a, &t, err_));
	T_EQ_INT(t.state, STORE_TOTP_PENDING);
	T_EQ_INT(t.blob_len, sizeof(blob));
	T_EQ_MEM(t.blob, blob, sizeof(blob));
	/* Not on yet: no step is recorded. */
	T_RC(STORE_ENOTFOUND, totp_step(st, a, 50, err_));
	T_OK(totp_enable(st, a, 10, codes, 3, err_));
	T_OK(totp_get(st, a, &t, err_));
	T_EQ_INT(t.state, STORE_TOTP_ON);
	T_EQ_INT(t.step, 10);
	T_RC(STORE_EEXIST, totp_pending(st, a, blob, sizeof(blob), err_));
	/* Steps only forward, each once. */
	T_RC(STORE_ENOTFOUND, totp_step(st, a, 10, err_));
	T_RC(STORE_ENOTFOUND, totp_step(st, a, 9, err_));
	T_OK(totp_step(st, a, 11, err_));
	T_RC(STORE_ENOTFOUND, totp_step(st, a, 11, err_));
	T_OK(totp_step(st, a, 13, err_));
	T_RC(STORE_ENOTFOUND, totp_step(st, a, 12, err_));
	T_RC(STORE_ENOTFOUND, totp_step(st, b, 100, err_));
	/* Recovery codes: each once, only the account's. */
	T_RC(STORE_ENOTFOUND, recovery_use(st, b, codes[0], err_));
	T_OK(recovery_use(st, a, codes[0], err_));
	T_RC(STORE_ENOTFOUND, recovery_use(st, a, codes[0], err_));
	T_OK(recovery_use(st, a, codes[2], err_));
	/* Off: secret and codes gone; on again starts afresh. */
	T_OK(totp_disable(st, a, err_));
	T_OK(totp_get(st, a, &t, err_));
	T_EQ_INT(t.state, STORE_TOTP_OFF);
	T_EQ_INT(t.blob_len, 0);
	T_RC(STORE_ENOTFOUND, recovery_use(st, a, codes[1], err_));
	T_OK(totp_disable(st, a, err_));
	T_OK(totp_pending(st, a, blob, sizeof(blob), err_));
	T_OK(totp_enable(st, a, 20, codes, 2, err_));
	T_OK(recovery_use(st, a, codes[1], err_));
	T_RC(STORE_ENOTFOUND, recovery_use(st, a, codes[2], err_));
	/* A deleted account has none. */
	T_OK(account_delete(st, a, 30, err_));
	T_RC(STORE_ENOTFOUND, totp_get(st, a, &t, err_));
	T_RC(STORE_ENOTFOUND, recovery_use(st, a, codes[0], err_));
}

static void
key_meta(void)
{
	struct store_key k, w, got, *v = NULL;
	char a[64], b[64];
	size_t n = 0, i;
	int seen = 0;

	name(a, sizeof(a), "meta-a");
	name(b, sizeof(b), "meta-b");
	make_key(&k, a, STORE_KIND_KEY, "", 1700000100, 72, 1);
	snprintf(k.device, sizeof(k.device), "laptop");
	snprintf(k.repo_id, sizeof(k.repo_id), "%s",
	    "0123456789abcdef0123456789abcdef");
	snprintf(k.keyset_id, sizeof(k.keyset_id), "00112233445566aa");
	T_OK(key_put(st, &k, err_));
	T_OK(key_get(st, a, k.key_id, &got, err_));
	check_key(&got, &k, true);
	/* A pooled wrap key: no ids until bound, then bound once. */
	make_key(&w, a, STORE_KIND_WRAP, "", 1700000101, 72, 2);
	snprintf(w.device, sizeof(w.device), "laptop");
	T_OK(key_put(st, &w, err_));
	T_OK(key_get(st, a, w.key_id, &got, err_));
	check_key(&got, &w, true);
	T_RC(STORE_ENOTFOUND, key_bind(st, b, w.key_id,
	    "0123456789abcdef0123456789abcdef", "00112233445566bb", err_));
	T_RC(STORE_ENOTFOUND, key_bind(st, a, k.key_id,
	    "0123456789abcdef0123456789abcdef", "00112233445566bb", err_));
	T_OK(key_bind(st, a, w.key_id, "0123456789abcdef0123456789abcdef",
	    "00112233445566bb", err_));
	T_OK(key_bind(st, a, w.key_id, "0123456789abcdef0123456789abcdef",
	    "00112233445566bb", err_));
	T_RC(STORE_EEXIST, key_bind(st, a, w.key_id,
	    "0123456789abcdef0123456789abcdef", "00112233445566cc", err_));
	snprintf(w.repo_id, sizeof(w.repo_id),
	    "0123456789abcdef0123456789abcdef");
	snprintf(w.keyset_id, sizeof(w.keyset_id), "00112233445566bb");
	T_OK(key_get(st, a, w.key_id, &got, err_));
	check_key(&got, &w, true);
	T_OK(key_list(st, a, &v, &n, err_));
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].key_id, k.key_id) == 0) {
			check_key(&v[i], &k, false);
			seen++;
		}
		if (strcmp(v[i].key_id, w.key_id) == 0) {
			check_key(&v[i], &w, false);
			seen++;
		}
	}
	T_EQ_INT(seen, 2);
	free(v);
	/* A destroyed wrap key cannot be bound. */
	T_OK(key_destroy(st, a, w.key_id, 5, err_));
	T_RC(STORE_ENOTFOUND, key_bind(st, a, w.key_id,
	    "0123456789abcdef0123456789abcdef", "00112233445566bb", err_));
}

static void
audit_device(void)
{
	struct store_event ev, *v = NULL;
	char a[64];
	size_t n = 0;

	name(a, sizeof(a), "audit-dev");
	memset(&ev, 0, sizeof(ev));
	ev.time = 7000;
	snprintf(ev.account, sizeof(ev.account), "%s", a);
	snprintf(ev.address, sizeof(ev.address), "192.0.2.9");
	snprintf(ev.event, sizeof(ev.event), "revoke");
	snprintf(ev.device, sizeof(ev.device), "phone \xe2\x98\x8e");
	ev.ok = 1;
	T_OK(audit_add(st, &ev, err_));
	ev.device[0] = '\0';
	snprintf(ev.event, sizeof(ev.event), "register");
	T_OK(audit_add(st, &ev, err_));
	T_OK(audit_list(st, a, 10, &v, &n, err_));
	T_EQ_INT(n, 2);
	if (n == 2) {
		T_EQ_STR(v[0].event, "register");
		T_EQ_STR(v[0].device, "");
		T_EQ_STR(v[1].event, "revoke");
		T_EQ_STR(v[1].device, "phone \xe2\x98\x8e");
	}
	free(v);
}


/* ---- group commit --------------------------------------------------- */

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/*
 * Run ${sql} on the test database beside the store (a second
 * connection): 0 or -1, the reason printed.
 */
static int
db_exec(const char *sql)
{
	PGconn *c;
	PGresult *res;
	sqlite3 *db = NULL;
	char *msg = NULL;
	int r = -1;

	if (strncmp(url, "sqlite:", 7) == 0) {
		if (sqlite3_open(url + 7, &db) == SQLITE_OK &&
		    sqlite3_busy_timeout(db, 10000) == SQLITE_OK &&
		    sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
			r = 0;
		else
			printf("# sqlite: %s\n", msg != NULL ? msg :
			    sqlite3_errmsg(db));
		sqlite3_free(msg);
		sqlite3_close(db);
		return r;
	}
	c = PQconnectdb(url);
	PQsetNoticeProcessor(c, quiet, NULL);
	res = PQexec(c, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK)
		r = 0;
	else
		printf("# postgres: %s\n", PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return r;
}

#define GROUP_THREADS	8
#define GROUP_OPS	50

struct gworker {
	int		 id;
	const char	*event;		/* of the audit rows; "" deposits */
	const char	*good;		/* audit rows: the account */
	int		 ok, failed;
	char		 acked[GROUP_OPS][STORE_KEYID_LEN + 1];
	char		 refused[GROUP_OPS][STORE_KEYID_LEN + 1];
};

static void *
gworker(void *arg)
{
	struct gworker *w = arg;
	char err[STORE_ERRLEN];
	struct store_event ev;
	struct store_key k;
	char a[STORE_ACCOUNT_MAX + 1];
	int i, r;

	snprintf(a, sizeof(a), "%s-group-%d", tag, w->id);
	for (i = 0; i < GROUP_OPS; i++) {
		make_key(&k, a, STORE_KIND_KEY, "", i, 40, (uint8_t)i);
		memset(&ev, 0, sizeof(ev));
		ev.time = i;
		snprintf(ev.account, sizeof(ev.account), "%s", a);
		snprintf(ev.address, sizeof(ev.address), "thread %d", w->id);
		snprintf(ev.event, sizeof(ev.event), "%s", w->event);
		snprintf(ev.key_id, sizeof(ev.key_id), "%s", k.key_id);
		ev.ok = 1;
		r = store_key_put_audit(st, &k, &ev, err);
		if (r == 0)
			memcpy(w->acked[w->ok++], k.key_id, sizeof(k.key_id));
		else
			memcpy(w->refused[w->failed++], k.key_id,
			    sizeof(k.key_id));
	}
	return NULL;
}

/* Each key in ${ids} is there (with its audit row) iff ${want}. */
static void
check_keys(const char *account, char (*ids)[STORE_KEYID_LEN + 1], int n,
    bool want)
{
	struct store_event *v = NULL;
	struct store_key got;
	size_t nev, j;
	int i, found;

	T_OK(audit_list(st, account, 1000, &v, &nev, err_));
	for (i = 0; i < n; i++) {
		char err[STORE_ERRLEN];
		int r = store_key_get(st, account, ids[i], &got, err);

		T_EQ_INT(r, want ? 0 : STORE_ENOTFOUND);
		found = 0;
		for (j = 0; j < nev; j++)
			if (strcmp(v[j].key_id, ids[i]) == 0)
				found++;
		T_EQ_INT(found, want ? 1 : 0);
	}
	free(v);
}

/*
 * Deposits from eight threads at once: every one acknowledged has its key
 * and its audit row, and they were committed in fewer transactions than
 * there were deposits (groups formed).
 */
static void
group_commit(void)
{
	struct gworker *w;
	pthread_t th[GROUP_THREADS];
	struct store_group_stats g0, g1;
	uint64_t c0, o0, c1, o1, n, big;
	char a[STORE_ACCOUNT_MAX + 1];
	int i;

	T_TRUE((w = calloc(GROUP_THREADS, sizeof(*w))) != NULL);
	store_commit_stats(st, &c0, &o0);
	store_group_stats(st, &g0);
	for (i = 0; i < GROUP_THREADS; i++) {
		w[i].id = i;
		w[i].event = "deposit";
		T_TRUE(pthread_create(&th[i], NULL, gworker, &w[i]) == 0);
	}
	for (i = 0; i < GROUP_THREADS; i++)
		pthread_join(th[i], NULL);
	store_commit_stats(st, &c1, &o1);
	store_group_stats(st, &g1);
	for (i = 0; i < GROUP_THREADS; i++) {
		T_EQ_INT(w[i].ok, GROUP_OPS);
		snprintf(a, sizeof(a), "%s-group-%d", tag, i);
		check_keys(a, w[i].acked, w[i].ok, true);
	}
	T_EQ_INT(o1 - o0, GROUP_THREADS * GROUP_OPS);
	printf("# %d deposits in %llu commits\n", GROUP_THREADS * GROUP_OPS,
	    (unsigned long long)(c1 - c0));
	T_TRUE(c1 - c0 < o1 - o0);
	/* /metrics' histogram: every commit in one bucket, some of > 1. */
	T_EQ_INT(g1.commits - g0.commits, c1 - c0);
	T_EQ_INT(g1.ops - g0.ops, o1 - o0);
	T_EQ_INT(g1.failed - g0.failed, 0);
	for (i = 0, n = 0, big = 0; i < STORE_GROUP_BUCKETS; i++) {
		n += g1.size[i] - g0.size[i];
		if (i > 0)
			big += g1.size[i] - g0.size[i];
	}
	T_EQ_INT(n, c1 - c0);
	T_TRUE(big > 0);
	free(w);
}

/*
 * A statement failing inside a group (a trigger refuses audit rows named
 * "poison") fails that deposit alone: the others of its group are
 * retried alone and acknowledged; a refused deposit left neither key nor
 * audit row.  Then a failure at COMMIT (PostgreSQL: a deferred
 * constraint trigger) fails its whole group: nothing acknowledged is
 * missing, nothing refused is there.
 */
static void
group_failures(void)
{
	struct gworker *w;
	pthread_t th[GROUP_THREADS];
	char a[STORE_ACCOUNT_MAX + 1];
	bool pg = strncmp(url, "sqlite:", 7) != 0;
	struct store_group_stats g0, g1;
	int i, round, ok, failed;

	T_TRUE((w = calloc(GROUP_THREADS, sizeof(*w))) != NULL);
	store_group_stats(st, &g0);
	if (!pg)
		T_TRUE(db_exec("CREATE TRIGGER IF NOT EXISTS t_poison BEFORE "
		    "INSERT ON audit WHEN NEW.event IN ('poison', 'late') "
		    "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;") == 0);
	else
		T_TRUE(db_exec("CREATE OR REPLACE FUNCTION t_poison() "
		    "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
		    "RAISE EXCEPTION 'poisoned'; END $$;"
		    "DROP TRIGGER IF EXISTS t_poison ON audit;"
		    "CREATE TRIGGER t_poison BEFORE INSERT ON audit FOR EACH "
		    "ROW WHEN (NEW.event = 'poison') EXECUTE FUNCTION "
		    "t_poison();"
		    "DROP TRIGGER IF EXISTS t_late ON audit;"
		    "CREATE CONSTRAINT TRIGGER t_late AFTER INSERT ON audit "
		    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN "
		    "(NEW.event = 'late') EXECUTE FUNCTION t_poison();") == 0);
	for (round = 0; round < 2; round++) {
		memset(w, 0, GROUP_THREADS * sizeof(*w));
		for (i = 0; i < GROUP_THREADS; i++) {
			w[i].id = 100 * (round + 1) + i;
			w[i].event = i > 0 ? "deposit" :
			    round == 0 ? "poison" : "late";
			T_TRUE(pthread_create(&th[i], NULL, gworker,
			    &w[i]) == 0);
		}
		ok = failed = 0;
		for (i = 0; i < GROUP_THREADS; i++) {
			pthread_join(th[i], NULL);
			snprintf(a, sizeof(a), "%s-group-%d", tag, w[i].id);
			check_keys(a, w[i].acked, w[i].ok, true);
			check_keys(a, w[i].refused, w[i].failed, false);
			if (i > 0) {
				ok += w[i].ok;
				failed += w[i].failed;
			}
		}
		printf("# round %d: the bad thread %d ok, %d refused; the "
		    "others %d ok, %d refused\n", round, w[0].ok, w[0].failed,
		    ok, failed);
		T_EQ_INT(w[0].ok, 0);
		T_EQ_INT(w[0].failed, GROUP_OPS);
		/* A statement failure costs the others nothing. */
		if (round == 0 || !pg)
			T_EQ_INT(failed, 0);
	}
	/* Each refused deposit failed at least one transaction. */
	store_group_stats(st, &g1);
	printf("# %llu transactions failed, %llu groups split\n",
	    (unsigned long long)(g1.failed - g0.failed),
	    (unsigned long long)(g1.split - g0.split));
	T_TRUE(g1.failed - g0.failed >= 2 * GROUP_OPS);
	T_TRUE(g1.split - g0.split <= g1.failed - g0.failed);
	T_TRUE(db_exec(pg ? "DROP TRIGGER t_poison ON audit;"
	    "DROP TRIGGER t_late ON audit;" : "DROP TRIGGER t_poison;") == 0);
	free(w);
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	if (scratch[0] != '\0')
		unit_tmpdir_remove(scratch);
}

int
main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(open_ping),
		UNIT_TEST(accounts),
		UNIT_TEST(sessions),
		UNIT_TEST(keys),
		UNIT_TEST(key_list),
		UNIT_TEST(key_destroy),
		UNIT_TEST(audit),
		UNIT_TEST(failures),
		UNIT_TEST(two_handles),
		UNIT_TEST(reservations),
		UNIT_TEST(reservation_stale),
		UNIT_TEST(reservation_race),
		UNIT_TEST(expire),
		UNIT_TEST(registrations),
		UNIT_TEST(concurrent),
		UNIT_TEST(reconnect),
		UNIT_TEST(devices),
		UNIT_TEST(account_changes),
		UNIT_TEST(totp),
		UNIT_TEST(key_meta),
		UNIT_TEST(audit_device),
		UNIT_TEST(group_commit),
		UNIT_TEST(group_failures),
	};
	int rc;

	rc = unit_run(setup, tests, sizeof(tests) / sizeof(tests[0]), argc,
	    argv);
	teardown();
	return rc;
}
