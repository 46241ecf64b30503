# SPDX-License-Identifier: ISC
# tests/integration/80-server.sh
# test: long
# Goal: cofferd keeps docs/PROTOCOL.md over real TLS on loopback: accounts,
# sessions (logout, expiry), failed-login limits per account and per
# source address (also with 40 logins at once through two servers on the
# one database: exactly 10 passwords checked; a reservation left by a
# dead server counting as a failure), deposit / release / list / destroy
# with another account's key answering exactly as a missing one, wrap keys
# and unwrap, every error code for malformed input (never a 5xx), health
# and metrics, the audit log (and release failing closed when it cannot be
# written), --insecure-http only on loopback, the master key file's mode,
# a deposit surviving SIGKILL, no key bytes in the database, and privilege
# separation: the front end's memory and descriptors hold no master key,
# the key holder is not dumpable, and a dead key holder means 503.
#
# The database comes from COFFERD_TEST_DB (e.g. a postgres:// URL), by
# default a fresh SQLite file.  Account names and source addresses
# (127.x.y.z) are random per run, so reruns against one PostgreSQL
# database do not collide.

. "$SRCDIR/tests/harness/cofferd.sh"

# ---- helpers -------------------------------------------------------------

# req METHOD PATH [BODY]: cofferd_req, remembered for messages.
req()
{
	_last="$1 $2"
	cofferd_req "$@"
}

# want STATUS [ERROR]: the last answer had STATUS (and that error code in
# a JSON error body).
want()
{
	if [ "$status" != "$1" ]; then
		fail "$_last: status $status, want $1"
		head -c 600 resp >&2
		echo >&2
		return 1
	fi
	[ $# -ge 2 ] || return 0
	WANT_ERR=$2
	export WANT_ERR
	expect_jq '.error == env.WANT_ERR and (.message | type) == "string"' \
	    resp || return 1
	grep -qi '^content-type: application/json' resp.h ||
	    fail "$_last: error body without application/json" || return 1
}

# header NAME: the value of header NAME in the last answer.
header()
{
	tr -d '\r' <resp.h | sed -n "s/^$1: *//Ip" | tail -n 1
}

# creds ACCOUNT PASSWORD: the JSON body of a register or login.
creds()
{
	printf '{"account":"%s","password":"%s"}' "$1" "$2"
}

hex()
{
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}

b64()
{
	printf '%s' "$1" | base64 -w0
}

# login ACCOUNT PASSWORD: sets TOKEN.
login()
{
	TOKEN=
	req POST /v1/sessions "$(creds "$1" "$2")" &&
	    want 201 || return 1
	TOKEN=$(jq -r .token resp)
	printf '%s' "$TOKEN" | grep -Eq '^[0-9a-f]{64}$' ||
	    fail "token '$TOKEN' is not 64 hex digits"
}

register()
{
	TOKEN=
	req POST /v1/accounts "$(creds "$1" "$2")" &&
	    want 201
}

# db_sql SQL: run SQL on the test database behind cofferd's back.
db_sql()
{
	case $DBURL in
	sqlite:*)	sqlite3 "${DBURL#sqlite:}" "$1" ;;
	*)		psql -q -v ON_ERROR_STOP=1 "$DBURL" -c "$1" ;;
	esac
}

# ---- sections ------------------------------------------------------------

accounts()
{
	note "accounts"
	req GET /healthz && want 200 || return 1
	expect_jq '.status == "ok"' resp || return 1
	register "$ALICE" "$PW" || return 1
	ALICE=$ALICE expect_jq '.account == env.ALICE' resp || return 1
	req POST /v1/accounts "$(creds "$ALICE" "x$PW")" &&
	    want 409 exists || return 1
	long=$(printf '%0129d' 0)
	for a in '' ' lead' 'trail ' "$long" 'ctl\u0001x' 'c1\u0085x' \
	    'del\u007fx'; do
		req POST /v1/accounts "$(creds "$a" "$PW")" &&
		    want 400 bad_request || return 1
	done
	req POST /v1/accounts "$(creds "p-$SFX" "1234567")" &&
	    want 400 bad_request || return 1
	pw1025=$(printf '%01025d' 0)
	req POST /v1/accounts "$(creds "p-$SFX" "$pw1025")" &&
	    want 400 bad_request || return 1
	# Malformed bodies: every one a 4xx with a JSON error, none a 5xx.
	req POST /v1/accounts "{\"account\":\"p-$SFX\"}" &&
	    want 400 bad_request || return 1
	expect_grep password resp || return 1
	req POST /v1/accounts "{\"account\":7,\"password\":\"$PW\"}" &&
	    want 400 bad_request || return 1
	req POST /v1/accounts "{\"account\":\"p-$SFX\",\"password\":null}" &&
	    want 400 bad_request || return 1
	for body in '{' '[]' '"x"' 'null' '12' '{"a":1} x' \
	    '{"account":"a","account":"b"}' "$(printf '{"a":"\377"}')" \
	    '{"account":"nul\u0000x","password":"12345678"}'; do
		req POST /v1/accounts "$body" && want 400 bad_json || return 1
	done
	req POST /v1/accounts && want 400 bad_json || return 1
	_last="text/plain body"
	status=$(curl -sS -o resp -D resp.h -w '%{http_code}' \
	    --cacert "$COFFERD_CACERT" -H 'Content-Type: text/plain' \
	    --data-binary '{}' "$COFFERD_URL/v1/accounts") || return 1
	want 415 bad_content_type || return 1
	# Over 16 KiB: by Content-Length, and chunked.
	head -c 17000 /dev/zero | tr '\0' ' ' >big.json
	req POST /v1/accounts @big.json && want 413 too_large || return 1
	_last="chunked 17000 bytes"
	status=$(curl -sS -o resp -D resp.h -w '%{http_code}' \
	    --cacert "$COFFERD_CACERT" -H 'Content-Type: application/json' \
	    -H 'Transfer-Encoding: chunked' --data-binary @big.json \
	    "$COFFERD_URL/v1/accounts") || return 1
	want 413 too_large || return 1
	req GET /v1/nothing-here && want 404 not_found || return 1
	req GET / && want 404 not_found || return 1
	req PUT /v1/keys && want 405 method_not_allowed || return 1
	[ "$(header Allow)" = "GET, POST" ] ||
	    fail "Allow header '$(header Allow)', want 'GET, POST'" || return 1
	req GET /v1/accounts && want 405 method_not_allowed || return 1
}

sessions()
{
	note "sessions"
	login "$ALICE" "$PW" || return 1
	ALICE=$ALICE expect_jq '.account == env.ALICE and
	    (.expires | type) == "number" and .expires > now' resp || return 1
	ALICE_TOKEN=$TOKEN
	req GET /v1/sessions/current && want 200 || return 1
	ALICE=$ALICE expect_jq '.account == env.ALICE and .expires > now' \
	    resp || return 1
	TOKEN='' req GET /v1/sessions/current && want 401 unauthorized ||
	    return 1
	TOKEN=$(printf '%064d' 0) req GET /v1/sessions/current &&
	    want 401 unauthorized || return 1
	TOKEN=nothex req GET /v1/keys && want 401 unauthorized || return 1
	# A wrong password and an unknown account: the same answer.
	TOKEN=
	req POST /v1/sessions "$(creds "$ALICE" "wrong-pw")" &&
	    want 401 bad_credentials || return 1
	cp resp wrongpw.json
	req POST /v1/sessions "$(creds "nobody-$SFX" "wrong-pw")" &&
	    want 401 bad_credentials || return 1
	expect_same wrongpw.json resp || return 1
	TOKEN=$ALICE_TOKEN
}

keys()
{
	note "keys"
	TOKEN=$ALICE_TOKEN
	req POST /v1/keys "{\"key\":\"$KEY_B64\",\"label\":\"set one\"}" &&
	    want 201 || return 1
	KID=$(jq -r .key_id resp)
	printf '%s' "$KID" | grep -Eq '^[0-9a-f]{32}$' ||
	    fail "key id '$KID' is not 32 hex digits" || return 1
	req POST "/v1/keys/$KID/release" && want 200 || return 1
	KEY=$KEY_B64 KID=$KID expect_jq '.key == env.KEY and
	    .key_id == env.KID' resp || return 1
	req POST "/v1/keys/$KID/release" '{}' && want 200 || return 1
	req POST "/v1/keys/$KID/release" '[1]' && want 400 bad_json || return 1
	short=$(b64 "fifteen-bytes!!")
	for body in "{\"key\":\"$short\"}" '{"key":"not base64!"}' \
	    '{"key":"QUJD"}' '{"key":12}' '{"label":"x"}' \
	    "{\"key\":\"$(b64 "$(printf '%065d' 0)")\"}" \
	    "{\"key\":\"$KEY_B64\",\"label\":\"$(printf '%0129d' 0)\"}" \
	    "{\"key\":\"$KEY_B64\",\"label\":5}"; do
		req POST /v1/keys "$body" && want 400 bad_request || return 1
	done
	TOKEN='' req POST /v1/keys "{\"key\":\"$KEY_B64\"}" &&
	    want 401 unauthorized || return 1
	TOKEN=$ALICE_TOKEN
	req GET /v1/keys && want 200 || return 1
	KID=$KID expect_jq '.keys | length == 1 and .[0].key_id == env.KID
	    and .[0].kind == "key" and .[0].label == "set one" and
	    .[0].destroyed == null and .[0].releases == 2 and
	    (.[0].created | type) == "number"' resp || return 1

	# Bob: alice's key is exactly a key that does not exist.
	register "$BOB" "$PW" && login "$BOB" "$PW" || return 1
	BOB_TOKEN=$TOKEN
	RANDID=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	req POST "/v1/keys/$KID/release" && want 404 not_found || return 1
	cp resp other.json
	cp resp.h other.h
	req POST "/v1/keys/$RANDID/release" && want 404 not_found || return 1
	expect_same other.json resp || return 1
	req POST /v1/keys/not-an-id/release && want 404 not_found || return 1
	expect_same other.json resp || return 1
	req DELETE "/v1/keys/$KID" && want 404 not_found || return 1
	expect_same other.json resp || return 1
	req DELETE "/v1/keys/$RANDID" && want 404 not_found || return 1
	expect_same other.json resp || return 1
	req GET /v1/keys && want 200 || return 1
	expect_jq '.keys == []' resp || return 1
	TOKEN=$ALICE_TOKEN
	req GET /v1/keys && want 200 || return 1
	expect_jq '.keys[0].releases == 2' resp || return 1
}

wrapkeys()
{
	note "wrap keys"
	TOKEN=$ALICE_TOKEN
	req POST /v1/wrapkeys '{"label":"pool"}' && want 201 || return 1
	WID=$(jq -r .key_id resp)
	WPUB=$(jq -r .public_key resp)
	[ "$(printf '%s' "$WPUB" | base64 -d | wc -c)" -eq 32 ] ||
	    fail "public key is not 32 bytes" || return 1
	req POST /v1/wrapkeys && want 201 || return 1
	WID2=$(jq -r .key_id resp)
	WPUB2=$(jq -r .public_key resp)
	head -c 32 /dev/urandom >dk.bin || return 1
	DK=$(od -An -v -tx1 dk.bin | tr -d ' \n')
	DK_B64=$(base64 -w0 dk.bin)
	sealed=$("$HELPERS/sealkey" "$WPUB" "$WID" "$DK") || return 1
	[ "$(printf '%s' "$sealed" | base64 -d | wc -c)" -eq 114 ] ||
	    fail "a sealed key is not 114 bytes" || return 1
	req POST "/v1/wrapkeys/$WID/unwrap" "{\"sealed\":\"$sealed\"}" &&
	    want 200 || return 1
	DK=$DK_B64 WID=$WID expect_jq '.key == env.DK and .version == 1 and
	    .key_id == env.WID' resp || return 1
	# Sealed to another pair, naming another key id, another version, an
	# id of another length, random bytes, too short: 422.
	for s in "$("$HELPERS/sealkey" "$WPUB2" "$WID" "$DK")" \
	    "$("$HELPERS/sealkey" "$WPUB" "$WID2" "$DK")" \
	    "$("$HELPERS/sealkey" "$WPUB" "$WID" "$DK" 2)" \
	    "$("$HELPERS/sealkey" "$WPUB" "$WID" "$DK" 1 31)" \
	    "$("$HELPERS/sealkey" "$WPUB" "${WID%?}" "$DK")" \
	    "$("$HELPERS/sealkey" --random 114)" \
	    "$("$HELPERS/sealkey" --random 1024)" \
	    "$("$HELPERS/sealkey" --random 3)"; do
		[ -n "$s" ] || fail "sealkey failed" || return 1
		req POST "/v1/wrapkeys/$WID/unwrap" "{\"sealed\":\"$s\"}" &&
		    want 422 bad_sealed || return 1
	done
	for body in '{"sealed":"@@@@"}' '{"sealed":""}' '{"sealed":1}' '{}' \
	    "{\"sealed\":\"$("$HELPERS/sealkey" --random 1025)\"}"; do
		req POST "/v1/wrapkeys/$WID/unwrap" "$body" &&
		    want 400 bad_request || return 1
	done
	req POST "/v1/wrapkeys/$WID/unwrap" && want 400 bad_json || return 1
	# A deposited key is no wrap key, and bob has no wrap key at all.
	req POST "/v1/wrapkeys/$KID/unwrap" "{\"sealed\":\"$sealed\"}" &&
	    want 404 not_found || return 1
	req POST "/v1/keys/$WID/release" && want 404 not_found || return 1
	TOKEN=$BOB_TOKEN
	req POST "/v1/wrapkeys/$WID/unwrap" "{\"sealed\":\"$sealed\"}" &&
	    want 404 not_found || return 1
	expect_same other.json resp || return 1
	TOKEN=$ALICE_TOKEN
	req GET /v1/keys && want 200 || return 1
	WID=$WID expect_jq '[.keys[] | select(.key_id == env.WID)][0] |
	    .kind == "wrap" and .label == "pool" and .releases == 1' resp ||
	    return 1
}

destroy()
{
	note "destroy"
	TOKEN=$ALICE_TOKEN
	req DELETE "/v1/keys/$KID" && want 204 || return 1
	[ ! -s resp ] || fail "204 with a body" || return 1
	req POST "/v1/keys/$KID/release" && want 410 destroyed || return 1
	req DELETE "/v1/keys/$KID" && want 410 destroyed || return 1
	req DELETE "/v1/keys/$WID2" && want 204 || return 1
	sealed2=$("$HELPERS/sealkey" "$WPUB2" "$WID2" "$DK") || return 1
	req POST "/v1/wrapkeys/$WID2/unwrap" "{\"sealed\":\"$sealed2\"}" &&
	    want 410 destroyed || return 1
	req GET /v1/keys && want 200 || return 1
	KID=$KID expect_jq '[.keys[] | select(.key_id == env.KID)][0] |
	    (.destroyed | type) == "number"' resp || return 1
	# Destroyed or not, another account's key is a 404 like any other.
	TOKEN=$BOB_TOKEN
	req POST "/v1/keys/$KID/release" && want 404 not_found || return 1
	expect_same other.json resp || return 1
	req DELETE "/v1/keys/$KID" && want 404 not_found || return 1
	expect_same other.json resp || return 1
	TOKEN=$ALICE_TOKEN
}

junk()
{
	note "junk on every route: never a 5xx"
	login "$ALICE" "$PW" || return 1
	printf '{"key":"%s","x":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}' \
	    "$KEY_B64" >deep.json
	for p in /v1/accounts /v1/sessions /v1/sessions/current /v1/keys \
	    /v1/keys/$RANDID /v1/keys/$RANDID/release /v1/wrapkeys \
	    /v1/wrapkeys/$WID/unwrap "/v1/audit?limit=x" /healthz /metrics \
	    /v1/keys/%00 /v1/keys/..%2f..%2f /v1//keys; do
		for m in GET POST DELETE; do
			# That one would end the session the loop uses.
			[ "$m $p" = "DELETE /v1/sessions" ] && continue
			for body in '' '{' '{"account":[],"password":{}}' \
			    '{"sealed":null,"key":true,"label":[]}' @deep.json
			do
				if [ -n "$body" ]; then
					req "$m" "$p" "$body" || return 1
				else
					req "$m" "$p" || return 1
				fi
				case $status in
				2??|4??)	;;
				*)	fail "$m $p '$body': status $status"
					return 1 ;;
				esac
			done
		done
	done
	TOKEN=$ALICE_TOKEN
}

ratelimit()
{
	note "failed-login limits"
	TOKEN=
	register "$CAROL" "$PW" || return 1
	i=0
	while [ $i -lt 10 ]; do
		SRC=$NET.2 req POST /v1/sessions \
		    "$(creds "$CAROL" "wrong-$i")" &&
		    want 401 bad_credentials || return 1
		i=$((i + 1))
	done
	SRC=$NET.2 req POST /v1/sessions \
	    "$(creds "$CAROL" "$PW")" &&
	    want 429 rate_limited || return 1
	ra=$(header Retry-After)
	printf '%s' "$ra" | grep -Eq '^[0-9]+$' && [ "$ra" -ge 1 ] &&
	    [ "$ra" -le 900 ] ||
	    fail "Retry-After '$ra' is not 1..900 seconds" || return 1
	# The account is limited from everywhere.
	SRC=$NET.5 req POST /v1/sessions \
	    "$(creds "$CAROL" "$PW")" &&
	    want 429 rate_limited || return 1

	# Ten failures from one address, to ten accounts: the address is
	# limited, for a right password of another account too.
	register "$DAVE" "$PW" || return 1
	i=0
	while [ $i -lt 10 ]; do
		SRC=$NET.3 req POST /v1/sessions \
		    "$(creds "ghost$i-$SFX" "wrong-pw")" &&
		    want 401 bad_credentials || return 1
		i=$((i + 1))
	done
	SRC=$NET.3 req POST /v1/sessions \
	    "$(creds "$DAVE" "$PW")" &&
	    want 429 rate_limited || return 1
	[ -n "$(header Retry-After)" ] || fail "429 without Retry-After" ||
	    return 1
	SRC=$NET.4 login "$DAVE" "$PW" || return 1
	TOKEN=
	SRC=$NET.1
}

# db_val SQL: one value from the test database (behind cofferd's back).
db_val()
{
	case $DBURL in
	sqlite:*)	sqlite3 "${DBURL#sqlite:}" "$1" ;;
	*)		psql -X -q -A -t -v ON_ERROR_STOP=1 "$DBURL" -c "$1" ;;
	esac
}

# burst_count STATUS: how many answers of ./burst had STATUS.
burst_count()
{
	awk -v s="$1" '$1 == s { n++ } END { print n + 0 }' burst
}

# Logins at once through two servers on the one database (SQLite: two
# processes on one file), with the real Argon2id costs and 8 workers
# each, so that many password checks overlap: per account and per
# address exactly 10 wrong passwords are checked (401) whatever the
# interleaving, every other attempt is 429 with Retry-After, the audit
# log and the failures table say the same, and right passwords sent at
# once from one address (as behind a proxy) all get in.
login_race()
{
	note "failed-login limits with logins at once on two servers"
	case $DBURL in
	sqlite:*)	need_cmd sqlite3 || return 1 ;;
	*)		need_cmd psql || return 1 ;;
	esac
	COFFERD_INSECURE_FAST_KDF=0
	cofferd_start srv-r1 --threads 8 --db "$DBURL" \
	    --master-key-file "$PWD/srv/master.key" &&
	    cofferd_start srv-r2 --threads 8 --db "$DBURL" \
	    --master-key-file "$PWD/srv/master.key"
	rc=$?
	COFFERD_INSECURE_FAST_KDF=1
	[ "$rc" -eq 0 ] || return 1
	# Registered here: hashed with the real costs.
	register "$ERIN" "$PW" && register "$FRANK" "$PW" || return 1

	# 40 wrong passwords for one account, from 40 addresses.
	i=0
	while [ $i -lt 40 ]; do
		echo "$NET.$((100 + i)) $ERIN wrong-$i"
		i=$((i + 1))
	done >lines
	cofferd_burst burst srv-r1 srv-r2 <lines || return 1
	n401=$(burst_count 401)
	n429=$(burst_count 429)
	note "one account: $n401 answered 401, $n429 answered 429"
	[ "$n401" -eq 10 ] && [ "$n429" -eq 30 ] ||
	    fail "40 wrong passwords at once: $n401 checked, $n429" \
	    "refused; want 10 and 30" || return 1
	awk '$1 == 429 && !($2 >= 1 && $2 <= 900) { exit 1 }' burst ||
	    fail "a 429 without Retry-After 1..900" || return 1
	SRC=$NET.9 req POST /v1/sessions "$(creds "$ERIN" "$PW")" &&
	    want 429 rate_limited || return 1
	for ev in login_failed:10 login_limited:31; do
		n=$(db_val "SELECT count(*) FROM audit WHERE
		    account = '$ERIN' AND event = '${ev%:*}'") || return 1
		[ "$n" = "${ev#*:}" ] ||
		    fail "$n audit rows '${ev%:*}', want ${ev#*:}" || return 1
	done
	n=$(db_val "SELECT count(*) FROM failures WHERE
	    account = '$ERIN'") || return 1
	[ "$n" = 10 ] || fail "$n failures recorded, want 10" || return 1

	# 40 wrong passwords from one address, to 40 unknown accounts.
	i=0
	while [ $i -lt 40 ]; do
		echo "$NET.7 ghost-race$i-$SFX wrong-pw"
		i=$((i + 1))
	done >lines
	cofferd_burst burst srv-r1 srv-r2 <lines || return 1
	n401=$(burst_count 401)
	n429=$(burst_count 429)
	note "one address: $n401 answered 401, $n429 answered 429"
	[ "$n401" -eq 10 ] && [ "$n429" -eq 30 ] ||
	    fail "40 wrong passwords from one address at once: $n401" \
	    "checked, $n429 refused; want 10 and 30" || return 1
	SRC=$NET.7 req POST /v1/sessions "$(creds "$FRANK" "$PW")" &&
	    want 429 rate_limited || return 1
	n=$(db_val "SELECT count(*) FROM failures WHERE
	    address = '$NET.7'") || return 1
	[ "$n" = 10 ] || fail "$n failures recorded, want 10" || return 1
	n=$(db_val "SELECT count(*) FROM failures WHERE pending AND
	    (account = '$ERIN' OR address = '$NET.7')") || return 1
	[ "$n" = 0 ] || fail "$n reservations left over" || return 1

	# 24 right passwords at once from one address: more than the limit
	# in progress at a time, and none refused.
	i=0
	while [ $i -lt 24 ]; do
		echo "$NET.8 $FRANK $PW"
		i=$((i + 1))
	done >lines
	cofferd_burst burst srv-r1 srv-r2 <lines || return 1
	n=$(burst_count 201)
	[ "$n" -eq 24 ] || fail "24 right passwords at once: $n got in" \
	    "($(awk '{ print $1 }' burst | sort | uniq -c |
	    tr -s ' \n' ' '))" || return 1
	n=$(db_val "SELECT count(*) FROM failures WHERE
	    address = '$NET.8'") || return 1
	[ "$n" = 0 ] || fail "right passwords left $n failures" || return 1
	cofferd_stop srv-r1 && cofferd_stop srv-r2 || return 1
	cofferd_use srv
	TOKEN=
}

# A server that died during a password check leaves its reservation: a
# login that needs its place waits, and once the reservation is 15 s old
# it counts as a failure (here: the tenth, so 429).
login_crash()
{
	note "a reservation left by a dead server counts as a failure"
	register "$GINA" "$PW" || return 1
	i=0
	while [ $i -lt 9 ]; do
		SRC=$NET.10 req POST /v1/sessions \
		    "$(creds "$GINA" "wrong-$i")" &&
		    want 401 bad_credentials || return 1
		i=$((i + 1))
	done
	SRC=$NET.11 login "$GINA" "$PW" || return 1
	TOKEN=
	db_sql "INSERT INTO failures (account, address, time, pending)
	    VALUES ('$GINA', '$NET.12', $(($(date +%s) - 13)), TRUE)" ||
	    return 1
	t0=$(date +%s)
	SRC=$NET.11 req POST /v1/sessions "$(creds "$GINA" "$PW")" &&
	    want 429 rate_limited || return 1
	t=$(($(date +%s) - t0))
	[ "$t" -ge 1 ] && [ "$t" -le 10 ] ||
	    fail "the login waited $t s for the reservation, want 1..10" ||
	    return 1
}

audit_log()
{
	note "audit log"
	TOKEN=$ALICE_TOKEN
	req GET /v1/audit && want 200 || return 1
	cp resp audit.json
	for e in register login login_failed deposit release wrapkey unwrap \
	    destroy; do
		EV=$e expect_jq 'any(.events[]; .event == env.EV)' audit.json ||
		    return 1
	done
	ADDR=$NET.1 expect_jq 'all(.events[]; .address == env.ADDR and
	    (.time | type) == "number" and (.ok | type) == "boolean")' \
	    audit.json || return 1
	KID=$KID expect_jq 'any(.events[]; .event == "release" and
	    .key_id == env.KID and .ok == true)' audit.json || return 1
	expect_jq 'any(.events[]; .event == "unwrap" and .ok == false)' \
	    audit.json || return 1
	expect_jq '.events[0].time >= .events[-1].time' audit.json ||
	    return 1
	req GET "/v1/audit?limit=2" && want 200 || return 1
	expect_jq '.events | length == 2' resp || return 1
	for l in 0 1001 x -1 ''; do
		req GET "/v1/audit?limit=$l" && want 400 bad_request ||
		    return 1
	done
	# Bob's log has bob's events only.
	TOKEN=$BOB_TOKEN
	req GET /v1/audit && want 200 || return 1
	expect_jq 'all(.events[]; .event != "deposit")' resp || return 1
	TOKEN=$ALICE_TOKEN
}

metrics()
{
	note "metrics"
	TOKEN=
	req GET /metrics && want 200 || return 1
	ct=$(header Content-Type)
	case $ct in
	"text/plain; version=0.0.4"*)	;;
	*)	fail "metrics content type '$ct'"; return 1 ;;
	esac
	for m in 'cofferd_requests_total{code="201"}' \
	    'cofferd_logins_total{result="ok"}' \
	    'cofferd_logins_total{result="failed"}' \
	    cofferd_keys_deposited_total cofferd_keys_released_total \
	    cofferd_keys_destroyed_total cofferd_unwraps_total \
	    cofferd_rate_limited_total; do
		expect_grep -F "$m " resp || return 1
	done
	expect_grep '^cofferd_up 1$' resp || return 1
	expect_grep '^cofferd_rate_limited_total [2-9]' resp || return 1
	expect_grep '^cofferd_keys_deposited_total [1-9]' resp || return 1
	# Group commits: a histogram whose +Inf bucket is its count, at
	# least one transaction, as many requests as deposits at least, and
	# no failed transaction.
	gcount=$(sed -n 's/^cofferd_store_group_size_count //p' resp)
	ginf=$(sed -n 's/^cofferd_store_group_size_bucket{le="+Inf"} //p' resp)
	gsum=$(sed -n 's/^cofferd_store_group_size_sum //p' resp)
	ndep=$(sed -n 's/^cofferd_keys_deposited_total //p' resp)
	[ -n "$gcount" ] && [ "$gcount" -ge 1 ] && [ "$ginf" = "$gcount" ] &&
	    [ "$gsum" -ge "$ndep" ] ||
	    { fail "group commit metrics: count '$gcount' +Inf '$ginf'" \
	    "sum '$gsum' deposits '$ndep'"; return 1; }
	expect_grep '^cofferd_store_group_size_bucket{le="1"} [0-9]' resp ||
	    return 1
	expect_grep '^cofferd_store_group_failed_total 0$' resp || return 1
	expect_grep '^cofferd_store_group_split_total 0$' resp || return 1
	# Every sample line is NAME[{LABELS}] VALUE.
	expect_no_grep -v '^(#|[a-z_]+(\{[a-z]+="[^"]*"\})? [0-9]+$)' resp ||
	    return 1
}

logout()
{
	note "logout"
	TOKEN=$ALICE_TOKEN
	req DELETE /v1/sessions && want 204 || return 1
	req GET /v1/sessions/current && want 401 unauthorized || return 1
	req GET /v1/keys && want 401 unauthorized || return 1
	login "$ALICE" "$PW" || return 1
	ALICE_TOKEN=$TOKEN
}

fail_closed()
{
	note "audit fails closed"
	case $DBURL in
	sqlite:*)	need_cmd sqlite3 || return 1 ;;
	*)		need_cmd psql || return 1 ;;
	esac
	TOKEN=$ALICE_TOKEN
	req POST /v1/keys "{\"key\":\"$KEY_B64\"}" && want 201 || return 1
	k=$(jq -r .key_id resp)
	case $DBURL in
	sqlite:*)
		db_sql "CREATE TRIGGER test_noaudit BEFORE INSERT ON audit
		    WHEN NEW.event IN ('release', 'unwrap')
		    BEGIN SELECT RAISE(FAIL, 'audit disabled'); END;"
		;;
	*)
		db_sql "CREATE OR REPLACE FUNCTION test_noaudit() RETURNS
		    trigger AS \$\$ BEGIN RAISE EXCEPTION 'audit disabled';
		    END \$\$ LANGUAGE plpgsql;
		    CREATE TRIGGER test_noaudit BEFORE INSERT ON audit
		    FOR EACH ROW WHEN (NEW.event IN ('release', 'unwrap'))
		    EXECUTE FUNCTION test_noaudit();"
		;;
	esac || fail "cannot add the trigger" || return 1
	req POST "/v1/keys/$k/release" && want 503 unavailable || return 1
	expect_no_grep -F "$KEY_B64" resp || return 1
	expect_jq 'has("key") | not' resp || return 1
	sealed=$("$HELPERS/sealkey" "$WPUB" "$WID" "$DK") || return 1
	req POST "/v1/wrapkeys/$WID/unwrap" "{\"sealed\":\"$sealed\"}" &&
	    want 503 unavailable || return 1
	expect_jq 'has("key") | not' resp || return 1
	case $DBURL in
	sqlite:*)	db_sql "DROP TRIGGER test_noaudit;" ;;
	*)		db_sql "DROP TRIGGER test_noaudit ON audit;
			    DROP FUNCTION test_noaudit();" ;;
	esac || fail "cannot drop the trigger" || return 1
	req POST "/v1/keys/$k/release" && want 200 || return 1
	KEY=$KEY_B64 expect_jq '.key == env.KEY' resp || return 1
}

options()
{
	note "options and the master key file"
	bin=$(_cofferd_bin)
	expect_exit 0 "$bin" --version && expect_grep '^cofferd ' out ||
	    return 1
	expect_exit 0 "$bin" --help && expect_grep -- '--insecure-http' out ||
	    return 1
	expect_exit 2 "$bin" --no-such-option || return 1
	for t in 0 3601 x; do
		expect_exit 2 "$bin" --timeout "$t" || return 1
		expect_grep -- '--timeout wants seconds from 1 to 3600' err ||
		    return 1
	done
	expect_exit 0 "$bin" --init-master-key mk.new || return 1
	[ "$(file_mode mk.new)" = 600 ] || fail "new master key mode" ||
	    return 1
	grep -Eqx '[0-9a-f]{64}' mk.new && [ "$(file_size mk.new)" -eq 65 ] ||
	    fail "new master key is not 64 hex digits and a newline" ||
	    return 1
	cp mk.new mk.copy
	expect_exit 1 "$bin" --init-master-key mk.new || return 1
	expect_grep 'refusing to overwrite' err || return 1
	cmp -s mk.new mk.copy || fail "--init-master-key overwrote" ||
	    return 1

	expect_exit 2 "$bin" --insecure-http --listen 0.0.0.0:0 \
	    --master-key-file mk.new --db "sqlite:$PWD/x.db" || return 1
	expect_grep 'loopback' err || return 1
	expect_exit 2 "$bin" --insecure-http --listen '[::]:0' \
	    --master-key-file mk.new --db "sqlite:$PWD/x.db" || return 1
	expect_exit 2 "$bin" --listen 127.0.0.1:0 --master-key-file mk.new \
	    --db "sqlite:$PWD/x.db" || return 1
	expect_grep 'tls-cert' err || return 1

	cp mk.new mk.644
	chmod 644 mk.644
	expect_exit 1 "$bin" --insecure-http --listen 127.0.0.1:0 \
	    --master-key-file mk.644 --db "sqlite:$PWD/x.db" || return 1
	expect_grep 'mode 0644' err && expect_grep 'chmod 600' err ||
	    return 1
	chmod 640 mk.644
	expect_exit 1 "$bin" --insecure-http --listen 127.0.0.1:0 \
	    --master-key-file mk.644 --db "sqlite:$PWD/x.db" || return 1
	expect_grep 'group or others' err || return 1
	printf 'not a key\n' >mk.bad
	chmod 600 mk.bad
	expect_exit 1 "$bin" --insecure-http --listen 127.0.0.1:0 \
	    --master-key-file mk.bad --db "sqlite:$PWD/x.db" || return 1
	expect_grep '64 hex digits' err || return 1

	# Plain HTTP on loopback; a config file, with the command line
	# winning over it.
	printf '# test\nlisten = 0.0.0.0:0\ninsecure-http = yes\n' >c.conf
	printf 'session-ttl = 7\n' >>c.conf
	expect_exit 2 "$bin" --config c.conf --master-key-file mk.new \
	    --db "sqlite:$PWD/x.db" || return 1
	expect_grep 'loopback' err || return 1
	printf 'bogus = 1\n' >bad.conf
	expect_exit 2 "$bin" --config bad.conf || return 1
	expect_grep "bad.conf:1: unknown option 'bogus'" err || return 1
	cofferd_start srv-http --config "$PWD/c.conf" --insecure-http \
	    --master-key-file "$PWD/mk.new" || return 1
	case $COFFERD_URL in
	http://127.0.0.1:*)	;;
	*)	fail "plain HTTP server at '$COFFERD_URL'"; return 1 ;;
	esac
	register "h-$ALICE" "$PW" && login "h-$ALICE" "$PW" || return 1
	now=$(date +%s)
	exp=$(jq .expires resp)
	[ $((exp - now)) -ge 5 ] && [ $((exp - now)) -le 9 ] ||
	    fail "session-ttl from the config file: expires in" \
	    "$((exp - now)) s, want 7" || return 1
	cofferd_stop srv-http || return 1

	# IPv6 loopback, when the machine has it.
	if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 \
	    2>/dev/null; then
		cofferd_start srv-v6 --listen '[::1]:0' \
		    --master-key-file "$PWD/mk.new" || return 1
		case $COFFERD_URL in
		"https://[::1]:"*)	;;
		*)	fail "IPv6 server at '$COFFERD_URL'"; return 1 ;;
		esac
		code=$(curl -g -s -o resp -w '%{http_code}' \
		    --cacert "$COFFERD_CACERT" "$COFFERD_URL/healthz")
		[ "$code" = 200 ] || fail "IPv6 healthz: $code" || return 1
		cofferd_stop srv-v6 || return 1
	else
		note "no IPv6 loopback here; [::1] not tested"
	fi
}

expiry()
{
	note "session expiry"
	# Three seconds, not one: on a loaded machine the request after the
	# login can take longer than a second to arrive.
	cofferd_start srv-ttl --session-ttl 3 --db "$DBURL" \
	    --master-key-file "$PWD/srv/master.key" || return 1
	login "$ALICE" "$PW" || return 1
	req GET /v1/sessions/current && want 200 || return 1
	sleep 4
	req GET /v1/sessions/current && want 401 unauthorized || return 1
	req GET /v1/keys && want 401 unauthorized || return 1
	cofferd_stop srv-ttl || return 1
	cofferd_use srv
	TOKEN=$ALICE_TOKEN
}

durability()
{
	note "a deposit survives SIGKILL"
	TOKEN=$ALICE_TOKEN
	req POST /v1/keys "{\"key\":\"$KEY2_B64\"}" && want 201 || return 1
	k2=$(jq -r .key_id resp)
	cofferd_kill srv || return 1
	cofferd_start srv || return 1
	# The session survived as well.
	req POST "/v1/keys/$k2/release" && want 200 || return 1
	KEY=$KEY2_B64 expect_jq '.key == env.KEY' resp || return 1

	case $DBURL in
	sqlite:*)
		note "the database holds no key bytes"
		db=${DBURL#sqlite:}
		for f in "$db" "$db-wal" "$db-shm"; do
			[ -f "$f" ] || continue
			for pat in "$KEY_RAW" "$KEY_B64" "$(hex "$KEY_RAW")" \
			    "$KEY2_RAW" "$KEY2_B64" "$MK_RAW" "$MK_HEX"; do
				if grep -a -q -F -e "$pat" "$f"; then
					fail "'$pat' found in $f"
					return 1
				fi
			done
		done
		# ... while it does hold what is not secret (the check works).
		grep -a -q -F -e "$ALICE" "$db" "$db-wal" ||
		    fail "account name not found in the database files" ||
		    return 1
		;;
	esac
}

# privsep_scan: as root, neither half of the server holds the master key
# file open, and the front end's memory holds no master key.
privsep_scan()
{
	mk=$(readlink -f srv/master.key)
	for p in "$fe" "$kh"; do
		for fd in /proc/"$p"/fd/*; do
			[ "$(readlink "$fd")" != "$mk" ] ||
			    fail "process $p has the master key file open" ||
			    return 1
		done
	done
	# The front end's memory: no master key, raw or hex.  A line of its
	# TLS certificate is there, so the scan does see its heap.
	certline=$(sed -n 2p tls/server.pem)
	expect_exit 0 "$HELPERS/memscan" "$fe" "$(hex "$MK_RAW")" \
	    "$(hex "$MK_HEX")" "$(hex "$certline")" || return 1
	cat out >&2
	expect_grep "^$(hex "$MK_RAW") 0$" out || return 1
	expect_grep "^$(hex "$MK_HEX") 0$" out || return 1
	expect_grep "^$(hex "$certline") [1-9]" out || return 1
	# Even the key holder keeps only the derived subkey.
	expect_exit 0 "$HELPERS/memscan" "$kh" "$(hex "$MK_RAW")" \
	    "$(hex "$MK_HEX")" || return 1
	expect_grep "^$(hex "$MK_RAW") 0$" out || return 1
	expect_grep "^$(hex "$MK_HEX") 0$" out || return 1
}

privsep()
{
	note "privilege separation"
	fe=$COFFERD_PID
	kh=$COFFERD_KH_PID
	[ -n "$kh" ] && [ -d "/proc/$kh" ] || fail "no key holder" || return 1
	ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$kh/status")
	[ "$ppid" = "$fe" ] || fail "key holder's parent is $ppid, not $fe" ||
	    return 1
	# Neither half is dumpable (below), so only root may look into
	# their descriptors and memory.
	if ! is_root; then
		note "not root: the descriptor and memory scans are skipped"
	else
		privsep_scan || return 1
	fi

	# --user and --keyholder-user: the front end ends up as nobody, the
	# key holder as daemon, the owner of the master key file (more in
	# 88-privsep.sh).
	if is_root; then
		mkdir -p srv-user && chown 65534:65534 srv-user &&
		    cp srv/master.key srv-user/master.key &&
		    chown daemon srv-user/master.key || return 1
		db=$DBURL
		case $DBURL in
		sqlite:*)	db=sqlite:$PWD/srv-user/cofferd.db ;;
		esac
		cofferd_start srv-user --user nobody --keyholder-user daemon \
		    --db "$db" || return 1
		awk '/^Uid:/ { print $2, $3, $4 }' "/proc/$COFFERD_PID/status" |
		    grep -qx '65534 65534 65534' ||
		    fail "the front end did not switch to nobody" || return 1
		d=$(id -u daemon)
		awk '/^Uid:/ { print $2, $3, $4 }' \
		    "/proc/$COFFERD_KH_PID/status" | grep -qx "$d $d $d" ||
		    fail "the key holder did not switch to daemon" || return 1
		req GET /healthz && want 200 || return 1
		cofferd_stop srv-user || return 1
	fi

	# Not dumpable, no core file: the kernel gives the /proc files of
	# both halves to root, and a process of their own uid cannot read
	# their memory; the core size limit is 0.  As root, run the whole
	# server as nobody to see the difference.
	if is_root; then
		d=srv-nobody
		mkdir -p $d && cp srv/master.key tls/server.pem tls/server.key \
		    $d/ && chown -R 65534:65534 $d || return 1
		db=$DBURL
		case $DBURL in
		sqlite:*)	db=sqlite:$PWD/$d/cofferd.db ;;
		esac
		w="setpriv --reuid=65534 --regid=65534 --clear-groups --"
		COFFERD_WRAPPER=$w cofferd_start $d --db "$db" \
		    --tls-cert "$PWD/$d/server.pem" \
		    --tls-key "$PWD/$d/server.key" || return 1
		uid=65534
	else
		cofferd_use srv
		uid=$(id -u)
	fi
	fe=$COFFERD_PID
	kh=$COFFERD_KH_PID
	for p in "$fe" "$kh"; do
		awk '/^Uid:/ { print $2, $3 }' "/proc/$p/status" |
		    grep -qx "$uid $uid" ||
		    fail "process $p does not run as uid $uid" || return 1
	done
	for p in "$fe" "$kh"; do
		[ "$(stat -c %u "/proc/$p/status")" = 0 ] ||
		    fail "process $p is dumpable (its /proc files are" \
		    "owned by $(stat -c %u "/proc/$p/status"))" || return 1
		grep -Eq '^Max core file size +0 +0 ' "/proc/$p/limits" ||
		    fail "process $p may dump core:" \
		    "$(grep '^Max core' "/proc/$p/limits")" || return 1
		expect_fail as_user "$HELPERS/memscan" "$p" 00 || return 1
	done
	if is_root; then
		req GET /healthz && want 200 || return 1
		cofferd_stop srv-nobody || return 1
		cofferd_use srv
	fi
}

keyholder_death()
{
	note "a dead key holder means 503"
	TOKEN=$ALICE_TOKEN
	req POST /v1/keys "{\"key\":\"$KEY_B64\"}" && want 201 || return 1
	k=$(jq -r .key_id resp)
	kill -9 "$COFFERD_KH_PID" || return 1
	wait_for "! kill -0 $COFFERD_KH_PID 2>/dev/null" 10 || return 1
	req GET /healthz && want 503 unavailable || return 1
	req POST "/v1/keys/$k/release" && want 503 unavailable || return 1
	expect_jq 'has("key") | not' resp || return 1
	req POST /v1/keys "{\"key\":\"$KEY_B64\"}" &&
	    want 503 unavailable || return 1
	req POST /v1/wrapkeys && want 503 unavailable || return 1
	req GET /v1/keys && want 200 || return 1
	TOKEN='' req GET /metrics && want 200 || return 1
	expect_grep '^cofferd_up 0$' resp || return 1
	expect_grep 'key holder .* exited' srv/cofferd.log || return 1
}

scenario() {
	need_cmd curl jq openssl od base64 || return 1
	trap cofferd_cleanup EXIT
	SFX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	# shellcheck disable=SC2046 # two numbers, split on purpose
	set -- $(od -An -N2 -tu1 /dev/urandom)
	NET=127.$(($1 % 250 + 2)).$(($2 % 250 + 2))
	SRC=$NET.1
	export SRC
	ALICE=alice-$SFX@example.org
	BOB=bob-$SFX@example.org
	CAROL=carol-$SFX@example.org
	DAVE=dave-$SFX@example.org
	ERIN=erin-$SFX@example.org
	FRANK=frank-$SFX@example.org
	GINA=gina-$SFX@example.org
	PW=correct-horse-battery
	KEY_RAW=KEYMATERIAL-for-the-escrow-0001!
	KEY_B64=$(b64 "$KEY_RAW")
	KEY2_RAW=second-key-material-for-kill-9!!
	KEY2_B64=$(b64 "$KEY2_RAW")
	# A master key whose bytes can be searched for with grep.
	MK_RAW=MASTERKEY-privsep-check-01234567
	MK_HEX=$(hex "$MK_RAW")
	mkdir -p srv && printf '%s\n' "$MK_HEX" >srv/master.key &&
	    chmod 600 srv/master.key || return 1
	DBURL=${COFFERD_TEST_DB:-sqlite:$PWD/srv/cofferd.db}
	COFFERD_DB=$DBURL
	export COFFERD_DB
	note "database $DBURL, source addresses $NET.*"

	cofferd_start srv || return 1
	accounts || return 1
	sessions || return 1
	keys || return 1
	wrapkeys || return 1
	destroy || return 1
	junk || return 1
	ratelimit || return 1
	login_race || return 1
	login_crash || return 1
	audit_log || return 1
	metrics || return 1
	logout || return 1
	fail_closed || return 1
	options || return 1
	cofferd_use srv
	expiry || return 1
	durability || return 1
	privsep || return 1
	keyholder_death || return 1
	cofferd_stop srv || return 1
	# The log never shows a secret.
	for pat in "$KEY_B64" "$KEY2_B64" "$PW" "$MK_HEX" "$ALICE_TOKEN"; do
		expect_no_grep -F "$pat" srv/cofferd.log || return 1
	done
}
