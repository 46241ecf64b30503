# SPDX-License-Identifier: ISC
# tests/integration/85-server-stress.sh
# Goal: the server stress harness (tests/harness/server-stress.sh) in its
# quick mode: cofferd on SQLite under slow clients (slowloris, bodies that
# never finish: all dropped by its --timeout while good clients keep
# working), a server short of file descriptors (no busy loop, no log
# flood), 100 clients at once, a flood of failed logins (the limits of
# docs/PROTOCOL.md §4 hold exactly), a flood of registrations and wrong
# logins with real Argon2id costs (requests with a token and /healthz keep
# a p99 under 100 ms; a full password queue answers 503 with Retry-After),
# malformed input at the socket level
# (never a 5xx or a crash), and SIGKILLs with deposits in flight (every
# acknowledged key survives); then the database-bound sections (many,
# flood, crash) again on a throwaway PostgreSQL (tests/harness/pg.sh).
# A failing run keeps its work directory in ./stress-sqlite or
# ./stress-pg (the server's log, every srvstress output).
scenario() {
	need_cmd curl jq od || return 1
	build=${COFFER%/*}
	# The p99 bound of pwflood is 100 ms for the product; a sanitizer
	# build runs the server 2-3 times slower (ASan measured 87 ms for
	# /healthz where the plain build has 57), so it gets 200.
	if grep -aq __asan_init "$build/cofferd"; then
		STRESS_P99_MS=${STRESS_P99_MS:-200}
		export STRESS_P99_MS
		note "sanitizer build: pwflood p99 bound $STRESS_P99_MS ms"
	fi
	for db in sqlite pg; do
		sections=
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
