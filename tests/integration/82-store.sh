# SPDX-License-Identifier: ISC
# tests/integration/82-store.sh
# Goal: both store backends keep every promise of server/store.h: the
# conformance test (test_store) passes on SQLite and on a throwaway
# PostgreSQL (tests/harness/pg.sh), there including four servers creating
# the schema at once, two handles sharing one database, eight threads
# through the connection pool, and a database restart in the middle (every
# pooled connection dies; the next calls must reconnect, not fail).  A
# destroyed key leaves no ciphertext in the PostgreSQL row, and libpq's
# notices ("relation exists, skipping") do not reach stderr.  Login
# reservations (store_failure_reserve) never pass the limit with 16
# threads on 4 handles at once, on both.  A version 1 database (before
# reservations) is upgraded on open, on both, keeping its rows, also
# after an older cofferd has opened it again; so is a version 2 database
# (protocol version 1): its sessions become device sessions named
# "unnamed", never fresh, its keys and audit rows have no device.
# A database of protocol version 1 (SQLite schema version 2), with a
# session, a key and an audit row; what they read as after the upgrade.
V2_SQL="CREATE TABLE accounts (account TEXT PRIMARY KEY NOT NULL,
 pwhash TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE sessions (hash BLOB PRIMARY KEY NOT NULL,
 account TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE keys (key_id TEXT PRIMARY KEY NOT NULL, account TEXT NOT NULL,
 kind INTEGER NOT NULL, label TEXT NOT NULL DEFAULT '',
 created INTEGER NOT NULL, destroyed INTEGER NOT NULL DEFAULT 0,
 releases INTEGER NOT NULL DEFAULT 0, pub BLOB, blob BLOB NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT,
 time INTEGER NOT NULL, account TEXT NOT NULL, address TEXT NOT NULL,
 event TEXT NOT NULL, key_id TEXT NOT NULL, ok INTEGER NOT NULL);
INSERT INTO accounts VALUES ('old', 'h', 1);
INSERT INTO sessions VALUES (X'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'old', 4000000000);
INSERT INTO keys (key_id, account, kind, created, blob)
 VALUES ('0123456789abcdef0123456789abcdef', 'old', 1, 5, X'0102');
INSERT INTO audit (time, account, address, event, key_id, ok)
 VALUES (5, 'old', '192.0.2.1', 'deposit', '', 1);"
V2_PG_SQL="CREATE TABLE accounts (account text PRIMARY KEY,
 pwhash text NOT NULL, created bigint NOT NULL);
CREATE TABLE sessions (token_hash bytea PRIMARY KEY, account text NOT NULL,
 expires bigint NOT NULL);
CREATE TABLE keys (key_id text PRIMARY KEY,
 seq bigint GENERATED ALWAYS AS IDENTITY, account text NOT NULL,
 kind integer NOT NULL, label text NOT NULL DEFAULT '',
 created bigint NOT NULL, destroyed bigint NOT NULL DEFAULT 0,
 releases bigint NOT NULL DEFAULT 0, pub bytea, blob bytea NOT NULL);
CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
 time bigint NOT NULL, account text NOT NULL, address text NOT NULL,
 event text NOT NULL, key_id text NOT NULL, ok boolean NOT NULL);
INSERT INTO accounts VALUES ('old', 'h', 1);
INSERT INTO sessions VALUES (decode('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex'), 'old', 4000000000);
INSERT INTO keys (key_id, account, kind, created, blob)
 VALUES ('0123456789abcdef0123456789abcdef', 'old', 1, 5, '\\x0102');
INSERT INTO audit (time, account, address, event, key_id, ok)
 VALUES (5, 'old', '192.0.2.1', 'deposit', '', true);"
V2_CHECK="SELECT device, created, fresh_until, fresh_code, last_used,
 length(hash) FROM sessions WHERE account = 'old';
SELECT length(device) + length(repo_id) + length(keyset_id), length(blob)
 FROM keys WHERE account = 'old';
SELECT length(device) FROM audit WHERE account = 'old';
SELECT deleted, totp_state FROM accounts WHERE account = 'old';"
V2_WANT="unnamed|0|0|0|0|32 0|2 0 0|0 "

scenario() {
	. "$SRCDIR/tests/harness/pg.sh" || return 1

	note "SQLite"
	COFFERD_TEST_DB="sqlite:$PWD/store.db"
	export COFFERD_TEST_DB
	expect_exit 0 "$HELPERS/test_store" || { cat out >&2; return 1; }
	grep -q '^ok [0-9]* - reconnect' out || fail "reconnect did not run" ||
	    return 1

	note "SQLite: a version 1 file is upgraded"
	need_cmd sqlite3 || return 1
	sqlite3 v1.db "CREATE TABLE failures (id INTEGER PRIMARY KEY,
	    account TEXT NOT NULL, address TEXT NOT NULL,
	    time INTEGER NOT NULL);
	    INSERT INTO failures (account, address, time)
	    VALUES ('old', '192.0.2.1', strftime('%s', 'now'));
	    PRAGMA user_version = 1;" || return 1
	COFFERD_TEST_DB="sqlite:$PWD/v1.db"
	expect_exit 0 "$HELPERS/test_store" failures reservations \
	    reservation_race || { cat out >&2; return 1; }
	n=$(sqlite3 v1.db "PRAGMA user_version;
	    SELECT pending FROM failures WHERE account = 'old';" |
	    tr '\n' ' ') || return 1
	[ "$n" = "3 0 " ] || fail "after the upgrade: '$n'" || return 1
	# An older cofferd sets user_version back to 1; the next open copes.
	sqlite3 v1.db "PRAGMA user_version = 1;" || return 1
	expect_exit 0 "$HELPERS/test_store" reservations ||
	    { cat out >&2; return 1; }

	# A version 2 file (protocol version 1: sessions, keys and audit rows
	# without devices) keeps its rows: an old session is a device
	# session named "unnamed", never fresh; old keys have no metadata.
	note "SQLite: a version 2 file is upgraded (protocol version 2)"
	sqlite3 v2.db "$V2_SQL
	    PRAGMA user_version = 2;" || return 1
	COFFERD_TEST_DB="sqlite:$PWD/v2.db"
	expect_exit 0 "$HELPERS/test_store" devices totp key_meta \
	    audit_device account_changes || { cat out >&2; return 1; }
	n=$(sqlite3 v2.db "$V2_CHECK" | tr '\n' ' ') || return 1
	[ "$n" = "$V2_WANT" ] || fail "after the upgrade: '$n'" || return 1

	note "PostgreSQL"
	pg_start || return 1
	trap pg_stop EXIT
	COFFERD_TEST_DB=$PG_URL
	COFFERD_TEST_DB_BREAK="sh $SRCDIR/tests/harness/pg.sh restart"
	export COFFERD_TEST_DB COFFERD_TEST_DB_BREAK
	expect_exit 0 "$HELPERS/test_store" || { cat out >&2; return 1; }
	cat out >&2
	[ ! -s err ] || { cat err >&2; fail "test_store wrote to stderr"; } ||
	    return 1
	grep -q 'skipped' out && { fail "a test was skipped"; return 1; }

	# Behind the store's back: the tombstones hold no ciphertext, and the
	# schema says what store_pg.c says it does.
	n=$(pg_psql "SELECT count(*) FROM keys WHERE destroyed <> 0") ||
	    return 1
	[ "$n" -ge 4 ] || fail "only $n destroyed keys in the table" ||
	    return 1
	n=$(pg_psql "SELECT count(*) FROM keys WHERE destroyed <> 0 AND
	    octet_length(blob) <> 0") || return 1
	[ "$n" -eq 0 ] || fail "$n destroyed keys still have a blob" ||
	    return 1
	n=$(pg_psql "SELECT version FROM schema_version") || return 1
	[ "$n" = 3 ] || fail "schema version '$n'" || return 1
	n=$(pg_psql "SELECT count(*) FROM failures WHERE pending") ||
	    return 1
	[ "$n" = 0 ] || fail "$n login reservations left over" || return 1

	# A second run on the same database (tables exist, old rows around).
	unset COFFERD_TEST_DB_BREAK
	expect_exit 0 "$HELPERS/test_store" || { cat out >&2; return 1; }

	# A version 1 database (failures without id and pending) is
	# upgraded, by four servers opening it at once, keeping its rows.
	note "PostgreSQL: a version 1 database is upgraded"
	need_cmd psql || return 1
	pg_psql "CREATE DATABASE v1 OWNER cofferd" || return 1
	COFFERD_TEST_DB=${PG_URL%/*}/v1
	psql -X -q -v ON_ERROR_STOP=1 "$COFFERD_TEST_DB" \
	    -c "CREATE TABLE schema_version (version integer PRIMARY KEY)" \
	    -c "INSERT INTO schema_version VALUES (1)" \
	    -c "CREATE TABLE failures (account text NOT NULL,
	    address text NOT NULL, time bigint NOT NULL)" \
	    -c "INSERT INTO failures VALUES ('old', '192.0.2.1',
	    extract(epoch FROM now())::bigint)" || return 1
	expect_exit 0 "$HELPERS/test_store" failures reservations \
	    reservation_race || { cat out >&2; return 1; }
	# An older cofferd adds its version 1 row again; the next open copes.
	psql -X -q -v ON_ERROR_STOP=1 "$COFFERD_TEST_DB" \
	    -c "INSERT INTO schema_version VALUES (1)" || return 1
	expect_exit 0 "$HELPERS/test_store" reservations ||
	    { cat out >&2; return 1; }
	n=$(psql -X -q -A -t -v ON_ERROR_STOP=1 "$COFFERD_TEST_DB" \
	    -c "SELECT string_agg(version::text, ',') FROM schema_version" \
	    -c "SELECT id IS NOT NULL, pending FROM failures
	    WHERE account = 'old'" | tr '\n' ' ') || return 1
	[ "$n" = "3 t|f " ] || fail "after the upgrade: '$n'" || return 1

	note "PostgreSQL: a version 2 database is upgraded"
	pg_psql "CREATE DATABASE v2 OWNER cofferd" || return 1
	COFFERD_TEST_DB=${PG_URL%/*}/v2
	psql -X -q -v ON_ERROR_STOP=1 "$COFFERD_TEST_DB" \
	    -c "CREATE TABLE schema_version (version integer PRIMARY KEY)" \
	    -c "INSERT INTO schema_version VALUES (2)" \
	    -c "$V2_PG_SQL" || return 1
	expect_exit 0 "$HELPERS/test_store" devices totp key_meta \
	    audit_device account_changes || { cat out >&2; return 1; }
	n=$(psql -X -q -A -t -v ON_ERROR_STOP=1 "$COFFERD_TEST_DB" \
	    -c "$(printf '%s' "$V2_CHECK" |
	    sed 's/length(hash)/length(token_hash)/')" |
	    tr '\n' ' ') || return 1
	[ "$n" = "$V2_WANT" ] || fail "after the upgrade: '$n'" || return 1
	n=$(psql -X -q -A -t "$COFFERD_TEST_DB" \
	    -c "SELECT version FROM schema_version") || return 1
	[ "$n" = 3 ] || fail "schema version '$n'" || return 1
	pg_stop
	trap - EXIT
}
