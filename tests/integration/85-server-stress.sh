# SPDX-License-Identifier: ISC
# tests/integration/85-server-stress.sh
# test: long
# Goal: the server stress harness (tests/harness/server-stress.sh) in its
# quick mode: cofferd on SQLite under slow clients (slowloris, bodies that
# never finish: all dropped by its --timeout while good clients keep
# working), a server short of file descriptors (no busy loop, no log
# flood), 100 clients at once, a flood of failed logins (the limits of
# docs/PROTOCOL.md §4 hold exactly), malformed input at the socket level
# (never a 5xx or a crash), and SIGKILLs with deposits in flight (every
# acknowledged key survives); then the database-bound sections (many,
# flood, crash) again on a throwaway PostgreSQL (tests/harness/pg.sh).
# The flood of password work with real Argon2id costs, which bounds a
# p99 latency, is 85-server-pwflood (run alone).  A failing run keeps its work directory in ./stress-sqlite or
# ./stress-pg (the server's log, every srvstress output).
scenario() {
	need_cmd curl jq od || return 1
	build=${COFFER%/*}
	# Nothing here measures time against a bound that another scenario
	# beside it could break (the slowest request allowed is 10 s), so it
	# shares the machine; pwflood, which bounds a p99, is 85-server-pwflood.
	for db in sqlite pg; do
		sections="slow fdlimit many flood junk crash"
		[ "$db" = pg ] && sections="many flood crash"
		note "server stress on $db${sections:+ ($sections)}"
		rc=0
		# shellcheck disable=SC2086 # the sections, split on purpose
		STRESS_DB=$db STRESS_WORK=$PWD/stress-$db \
		    sh "$SRCDIR/tests/harness/server-stress.sh" "$build" \
		    $sections >"stress-$db.out" 2>&1 || rc=$?
		grep -E '^(# [a-z]+: |FAIL|PASS|\|)' "stress-$db.out" >&2
		[ "$rc" -eq 0 ] ||
		    fail "server stress on $db failed (exit $rc)" || return 1
		expect_grep '^PASS: ' "stress-$db.out" || return 1
		rm -rf "stress-$db"
	done
}
