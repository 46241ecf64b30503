# SPDX-License-Identifier: ISC
# tests/integration/82-store.sh
# Goal: both store backends keep every promise of server/store.h: the
# conformance test (test_store) passes on SQLite and on a throwaway
# PostgreSQL (tests/harness/pg.sh), there including four servers creating
# the schema at once, two handles sharing one database, eight threads
# through the connection pool, and a database restart in the middle (every
# pooled connection dies; the next calls must reconnect, not fail).  A
# destroyed key leaves no ciphertext in the PostgreSQL row, and libpq's
# notices ("relation exists, skipping") do not reach stderr.
scenario() {
	. "$SRCDIR/tests/harness/pg.sh" || return 1

	note "SQLite"
	COFFERD_TEST_DB="sqlite:$PWD/store.db"
	export COFFERD_TEST_DB
	expect_exit 0 "$HELPERS/test_store" || { cat out >&2; return 1; }
	grep -q '^ok 11 - reconnect' out || fail "reconnect did not run" ||
	    return 1

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
	[ "$n" = 1 ] || fail "schema version '$n'" || return 1

	# A second run on the same database (tables exist, old rows around).
	unset COFFERD_TEST_DB_BREAK
	expect_exit 0 "$HELPERS/test_store" || { cat out >&2; return 1; }
	pg_stop
	trap - EXIT
}
