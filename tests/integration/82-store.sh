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
# after an older cofferd has opened it again.
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
	[ "$n" = "2 0 " ] || fail "after the upgrade: '$n'" || return 1
	# An older cofferd sets user_version back to 1; the next open copes.
	sqlite3 v1.db "PRAGMA user_version = 1;" || return 1
	expect_exit 0 "$HELPERS/test_store" reservations ||
	    { cat out >&2; return 1; }

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
	[ "$n" = 2 ] || fail "schema version '$n'" || return 1
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
	[ "$n" = "2 t|f " ] || fail "after the upgrade: '$n'" || return 1
	pg_stop
	trap - EXIT
}
