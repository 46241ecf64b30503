# SPDX-License-Identifier: ISC
# tests/integration/83-postgres.sh
# test: long
# Goal: cofferd on PostgreSQL (a throwaway cluster, tests/harness/pg.sh)
# behaves as on SQLite, and several cofferd share one database with no
# state of their own.  Two servers A and B with one master key on one
# database: an account registered and a key deposited through A is
# released through B with the same bytes, the session made on A works on
# B and a logout on B ends it on A; a key destroyed through B answers 410
# through A, and the audit log read through A holds what B did.  Failed
# logins count across servers: five wrong passwords through A and five
# through B (each from another source address) lock the account on both
# (429 with Retry-After) while another account is not locked, and ten
# failures from one address split over both lock that address.  With
# logins at once (40 wrong passwords for one account, or from one
# address, fired together at two more servers with the real password
# costs) exactly 10 are checked (401) and 30 refused (429), and the audit
# log and the failures table agree.  A
# database restart is invisible to clients (the servers reconnect); with
# the database down both answer 503 (/healthz too) and no key leaves,
# and when it is back they serve again.  Last, the whole of 80-server.sh,
# 87-server-authority.sh and 88-server-totp.sh run again, each on a fresh
# PostgreSQL database.

# call WANT METHOD PATH [BODY]: cofferd_req against the current server;
# fail unless the status is WANT.
call()
{
	_want=$1
	shift
	cofferd_req "$@" || return 1
	if [ "$status" != "$_want" ]; then
		fail "$1 $2 on $COFFERD_URL: status $status, want $_want"
		head -c 500 resp >&2
		echo >&2
		return 1
	fi
	return 0
}

# pick_server N: server A for even N, B for odd.
pick_server()
{
	if [ $(($1 % 2)) -eq 0 ]; then
		cofferd_use a
	else
		cofferd_use b
	fi
}

# call_from ADDR WANT METHOD PATH [BODY]: call, from source address ADDR.
call_from()
{
	SRC=$1
	shift
	_rc=0
	call "$@" || _rc=1
	SRC=
	return "$_rc"
}

# burst_is N401 N429 WHAT: ./burst (cofferd_burst) had N401 answers 401
# and N429 answers 429, each with Retry-After 1..900.
burst_is()
{
	_n1=$(awk '$1 == 401 { n++ } END { print n + 0 }' burst)
	_n2=$(awk '$1 == 429 { n++ } END { print n + 0 }' burst)
	note "$3: $_n1 answered 401, $_n2 answered 429"
	[ "$_n1" -eq "$1" ] && [ "$_n2" -eq "$2" ] ||
	    fail "$3 at once: $_n1 checked, $_n2 refused; want $1 and $2" ||
	    return 1
	awk '$1 == 429 && !($2 >= 1 && $2 <= 900) { exit 1 }' burst ||
	    fail "$3: a 429 without Retry-After 1..900" || return 1
}

scenario() {
	need_cmd curl jq base64 || return 1
	. "$SRCDIR/tests/harness/pg.sh" || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap 'cofferd_cleanup; pg_stop' EXIT
	pg_start || return 1
	COFFERD_TEST_DB=$PG_URL
	export COFFERD_TEST_DB

	# ---- two servers, one database, one master key ----
	cofferd_start a || return 1
	mkdir b && cp -p a/master.key b/master.key || return 1
	cofferd_start b || return 1
	note "A at $(cat a/url), B at $(cat b/url)"

	cofferd_use a
	call 201 POST /v1/accounts \
	    '{"account":"alice","password":"alice password"}' || return 1
	cofferd_use b
	call 409 POST /v1/accounts \
	    '{"account":"alice","password":"other password"}' || return 1
	cofferd_use a
	call 201 POST /v1/sessions \
	    '{"account":"alice","password":"alice password"}' || return 1
	TOKEN=$(jq -r .token resp)
	key=$(head -c 32 /dev/urandom | base64)
	call 201 POST /v1/keys "{\"key\":\"$key\",\"label\":\"on A\"}" ||
	    return 1
	id=$(jq -r .key_id resp)
	note "deposited $id through A"

	cofferd_use b
	call 200 GET /v1/sessions/current || return 1
	expect_jq '.account == "alice"' resp || return 1
	call 200 POST "/v1/keys/$id/release" '{}' || return 1
	WANT=$key
	export WANT
	expect_jq '.key == env.WANT' resp || return 1
	call 200 GET /v1/keys || return 1
	expect_jq '.keys | length == 1 and .[0].releases == 1 and
	    .[0].label == "on A"' resp || return 1

	# Bob cannot tell alice's key from none, on either server.
	T_ALICE=$TOKEN
	TOKEN=
	call 201 POST /v1/accounts \
	    '{"account":"bob","password":"bob password"}' || return 1
	call 201 POST /v1/sessions \
	    '{"account":"bob","password":"bob password"}' || return 1
	TOKEN=$(jq -r .token resp)
	call 404 POST "/v1/keys/$id/release" '{}' || return 1
	cofferd_use a
	call 404 DELETE "/v1/keys/$id" || return 1
	TOKEN=$T_ALICE

	# Destroyed through B: A answers 410, and nothing is left to read.
	cofferd_use b
	call 204 DELETE "/v1/keys/$id" || return 1
	cofferd_use a
	call 200 GET '/v1/audit?limit=10' || return 1
	expect_jq '.events[0].event == "destroy" and .events[0].ok and
	    ([.events[].event] | index("release")) <
	    ([.events[].event] | index("deposit"))' resp || return 1
	call 410 POST "/v1/keys/$id/release" '{}' || return 1
	call 410 DELETE "/v1/keys/$id" || return 1
	n=$(pg_psql "SELECT octet_length(blob) FROM keys
	    WHERE key_id = '$id'") || return 1
	[ "$n" = 0 ] || fail "the destroyed key's row has $n bytes" ||
	    return 1

	# A logout on B ends the session everywhere.
	cofferd_use b
	call 204 DELETE /v1/sessions || return 1
	cofferd_use a
	call 401 GET /v1/sessions/current || return 1
	TOKEN=

	# ---- failed logins are counted in the database ----
	i=0
	while [ "$i" -lt 10 ]; do
		pick_server "$i"
		call_from 127.0.0.$((20 + i)) 401 POST /v1/sessions \
		    '{"account":"alice","password":"wrong password"}' ||
		    return 1
		i=$((i + 1))
	done
	for s in a b; do
		cofferd_use "$s"
		call_from 127.0.0.40 429 POST /v1/sessions \
		    '{"account":"alice","password":"alice password"}' ||
		    return 1
		expect_grep -i '^retry-after: [1-9]' resp.h || return 1
		call_from 127.0.0.41 201 POST /v1/sessions \
		    '{"account":"bob","password":"bob password"}' || return 1
	done
	# Ten failures from one address, to unknown accounts, over both.
	i=0
	while [ "$i" -lt 10 ]; do
		pick_server "$i"
		call_from 127.0.0.50 401 POST /v1/sessions \
		    "{\"account\":\"nobody$i\",\"password\":\"whatever1\"}" ||
		    return 1
		i=$((i + 1))
	done
	for s in a b; do
		cofferd_use "$s"
		call_from 127.0.0.50 429 POST /v1/sessions \
		    '{"account":"bob","password":"bob password"}' || return 1
	done

	# ---- failed logins at once: exactly 10 checked, on any server ----
	# Two more servers C and D with the real Argon2id costs and 8 workers
	# each, so that many password checks overlap (before the login
	# reservations each server let one more through: 11 or 12).
	COFFERD_INSECURE_FAST_KDF=0
	mkdir c d && cp -p a/master.key c/ && cp -p a/master.key d/ &&
	    cofferd_start c --threads 8 && cofferd_start d --threads 8
	_rc=$?
	COFFERD_INSECURE_FAST_KDF=1
	[ "$_rc" -eq 0 ] || return 1
	call 201 POST /v1/accounts \
	    '{"account":"carol","password":"carol password"}' || return 1
	i=0
	while [ "$i" -lt 40 ]; do
		echo "127.0.1.$((10 + i)) carol wrong$i"
		i=$((i + 1))
	done >lines
	cofferd_burst burst c d <lines || return 1
	burst_is 10 30 "40 wrong passwords for one account" || return 1
	n=$(pg_psql "SELECT count(*) FROM audit WHERE account = 'carol'
	    AND event = 'login_failed'") || return 1
	[ "$n" = 10 ] || fail "$n login_failed audit rows, want 10" ||
	    return 1
	n=$(pg_psql "SELECT count(*) FROM audit WHERE account = 'carol'
	    AND event = 'login_limited'") || return 1
	[ "$n" = 30 ] || fail "$n login_limited audit rows, want 30" ||
	    return 1
	i=0
	while [ "$i" -lt 40 ]; do
		echo "127.0.0.60 ghost$i whatever1"
		i=$((i + 1))
	done >lines
	cofferd_burst burst c d <lines || return 1
	burst_is 10 30 "40 wrong passwords from one address" || return 1
	n=$(pg_psql "SELECT count(*) FROM failures WHERE account = 'carol'
	    OR address = '127.0.0.60'") || return 1
	[ "$n" = 20 ] || fail "$n failures recorded, want 20" || return 1
	n=$(pg_psql "SELECT count(*) FROM failures WHERE pending") ||
	    return 1
	[ "$n" = 0 ] || fail "$n reservations left over" || return 1
	cofferd_stop c && cofferd_stop d || return 1

	# ---- the database restarts, then goes away and comes back ----
	cofferd_use b
	call 201 POST /v1/sessions \
	    '{"account":"bob","password":"bob password"}' || return 1
	TOKEN=$(jq -r .token resp)
	key=$(head -c 32 /dev/urandom | base64)
	call 201 POST /v1/keys "{\"key\":\"$key\"}" || return 1
	id=$(jq -r .key_id resp)
	WANT=$key
	pg_restart || return 1
	for s in a b; do
		cofferd_use "$s"
		call 200 POST "/v1/keys/$id/release" '{}' || return 1
		expect_jq '.key == env.WANT' resp || return 1
	done
	pg_halt || return 1
	for s in a b; do
		cofferd_use "$s"
		call 503 GET /healthz || return 1
		call 503 POST "/v1/keys/$id/release" '{}' || return 1
		expect_no_grep "$key" resp || return 1
	done
	pg_resume || return 1
	for s in a b; do
		cofferd_use "$s"
		call 200 GET /healthz || return 1
		call 200 POST "/v1/keys/$id/release" '{}' || return 1
		expect_jq '.key == env.WANT' resp || return 1
	done
	call 200 GET /v1/keys || return 1
	expect_jq '.keys[0].releases == 4' resp || return 1
	TOKEN=
	cofferd_stop a || return 1
	cofferd_stop b || return 1

	# ---- 80-server.sh on a database of its own ----
	s80=$SRCDIR/tests/integration/80-server.sh
	[ -f "$s80" ] || fail "no $s80 to run on PostgreSQL" || return 1
	pg_psql "CREATE DATABASE s80 OWNER cofferd" || return 1
	COFFERD_TEST_DB=${PG_URL%/*}/s80
	note "80-server.sh on $COFFERD_TEST_DB"
	mkdir s80 || return 1
	(
		cd s80 || exit 1
		. "$s80" || exit 99
		scenario
	) || fail "80-server.sh failed on PostgreSQL" || return 1
	# ---- 87 and 88 (protocol version 2) the same way ----
	for s8x in 87-server-authority 88-server-totp; do
		f=$SRCDIR/tests/integration/$s8x.sh
		[ -f "$f" ] || fail "no $f to run on PostgreSQL" || return 1
		db=s${s8x%%-*}
		pg_psql "CREATE DATABASE $db OWNER cofferd" || return 1
		COFFERD_TEST_DB=${PG_URL%/*}/$db
		note "$s8x.sh on $COFFERD_TEST_DB"
		mkdir "$db" || return 1
		(
			cd "$db" || exit 1
			. "$f" || exit 99
			scenario
		) || fail "$s8x.sh failed on PostgreSQL" || return 1
	done
	cofferd_cleanup
	pg_stop
	trap - EXIT
}
