# SPDX-License-Identifier: ISC
# tests/integration/85-server-pwflood.sh
# test: alone
# Goal: password work cannot starve the rest of cofferd (issue 13).  The
# pwflood section of tests/harness/server-stress.sh: a cofferd with real
# Argon2id costs gets 24 threads of registrations and 24 of wrong logins,
# each request on a new TLS connection from one of 250 addresses, while 4
# clients ask for their session with a token and one asks /healthz every
# 20 ms: on the plain build the p99 of both stays under 100 ms for 15 s,
# so this scenario runs with nothing beside it.  Then, with --kdf-queue
# 4, the flood gets 503 with Retry-After (counted in /metrics) while the
# good clients still get their 200s.  On the sanitizer build the same
# flood runs for 5 s with the latency bound lifted (a sanitizer's timings
# say nothing of the product; what it finds in this code does).
scenario() {
	need_cmd curl jq od || return 1
	build=${COFFER%/*}
	if grep -aq __asan_init "$build/cofferd"; then
		note "sanitizer build: pwflood for 5 s, no latency bound"
		export STRESS_PWFLOOD_S=5 STRESS_P99_MS=100000
	fi
	rc=0
	STRESS_DB=sqlite STRESS_WORK=$PWD/stress-pw \
	    sh "$SRCDIR/tests/harness/server-stress.sh" "$build" pwflood \
	    >stress-pw.out 2>&1 || rc=$?
	grep -E '^(# [a-z]+: |FAIL|PASS|\|)' stress-pw.out >&2
	[ "$rc" -eq 0 ] || fail "pwflood failed (exit $rc)" || return 1
	expect_grep '^PASS: ' stress-pw.out || return 1
	rm -rf stress-pw
}
