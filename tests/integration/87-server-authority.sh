# SPDX-License-Identifier: ISC
# tests/integration/87-server-authority.sh
# Goal: cofferd keeps docs/PROTOCOL.md version 2's two kinds of authority
# (§3.3-§3.6, §5.1) over real TLS on loopback, against a real database:
# - the thief: a device session older than --fresh-auth (a stored token,
#   no password) is refused 403 fresh_auth_required for release, unwrap,
#   DELETE key, bulk destroy, revoke, password, account delete and TOTP,
#   even for a key id that does not exist, while deposit, wrap keys, bind,
#   list, devices, audit still work; a wrong password at
#   /v1/sessions/current/fresh is a failed login (counted, 429 after 10);
# - fresh proof (POST /v1/sessions/current/fresh) makes them work, and
#   expires after --fresh-auth seconds (5 here);
# - devices: names, list with "current", last use; revoke by name, by id
#   and all_others: the revoked token is 401 at once;
# - key metadata (device, repo_id, keyset_id), bind once, bulk destroy by
#   device and by ids, the dry run changing nothing, another account's
#   key reported as not found;
# - a password change ends every other session; delete-account destroys
#   every key and session, the name stays taken, the login fails;
# - a session from before version 2 (a row without the new columns:
#   device "unnamed", never fresh);
# - every audit event names the device;
# - --fresh-auth in --help, its limits, and from the config file.
#
# The database comes from COFFERD_TEST_DB (a postgres:// URL) or is a fresh
# SQLite file; names and addresses are random per run.

. "$SRCDIR/tests/harness/cofferd.sh"

req()
{
	_last="$1 $2"
	cofferd_req "$@"
}

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
}

b64()
{
	printf '%s' "$1" | base64 -w0
}

# login ACCOUNT PASSWORD DEVICE: sets TOKEN.
login()
{
	TOKEN=
	req POST /v1/sessions "$(printf '{"account":"%s","password":"%s",'`
	    `'"device":"%s"}' "$1" "$2" "$3")" && want 201 || return 1
	TOKEN=$(jq -r .token resp)
}

# fresh PASSWORD: fresh proof for $TOKEN.
fresh()
{
	req POST /v1/sessions/current/fresh "{\"password\":\"$1\"}" &&
	    want 200 || return 1
	expect_jq '.fresh_until > now' resp
}

# stale: make $TOKEN's session not fresh, behind cofferd's back (as a
# session older than --fresh-auth is).
stale()
{
	db_sql "UPDATE sessions SET fresh_until = 0"`
	    `" WHERE account = '$ACCOUNT'" >/dev/null
}

db_sql()
{
	case $DBURL in
	sqlite:*)	sqlite3 "${DBURL#sqlite:}" "$1" ;;
	*)		psql -qtA -v ON_ERROR_STOP=1 "$DBURL" -c "$1" ;;
	esac
}

thief()
{
	note "the thief: a stored device session without the password"
	login "$ACCOUNT" "$PW" laptop-a || return 1
	expect_jq '.device == "laptop-a" and .fresh_until > now' resp ||
	    return 1
	A_TOKEN=$TOKEN
	# A login is fresh proof: release works right after it.
	req POST /v1/keys "{\"key\":\"$KEY_B64\",\"repo_id\":\"$REPO\","`
	    `"\"keyset_id\":\"$SET1\"}" && want 201 || return 1
	KID_A=$(jq -r .key_id resp)
	req POST "/v1/keys/$KID_A/release" && want 200 || return 1
	stale || return 1
	req GET /v1/sessions/current && want 200 || return 1
	expect_jq '.device == "laptop-a" and .fresh_until < now and
	    .totp == false and (.id | test("^[0-9a-f]{16}$"))' resp || return 1
	# Everything a device needs still works.
	req POST /v1/keys "{\"key\":\"$KEY_B64\",\"label\":\"after theft\"}" &&
	    want 201 || return 1
	KID_A2=$(jq -r .key_id resp)
	req POST /v1/wrapkeys && want 201 || return 1
	WID_A=$(jq -r .key_id resp)
	req POST "/v1/wrapkeys/$WID_A/bind" \
	    "{\"repo_id\":\"$REPO\",\"keyset_id\":\"$SET2\"}" &&
	    want 204 || return 1
	req GET /v1/keys && want 200 || return 1
	req GET /v1/devices && want 200 || return 1
	req GET /v1/audit && want 200 || return 1
	# Nothing that reads, destroys or changes the account does.
	nokey=00000000000000000000000000000000
	for call in "POST /v1/keys/$KID_A/release" \
	    "POST /v1/keys/$nokey/release" "DELETE /v1/keys/$KID_A" \
	    "DELETE /v1/keys/$nokey" "DELETE /v1/account" \
	    "DELETE /v1/account/totp" "POST /v1/account/totp"; do
		# shellcheck disable=SC2086 # METHOD PATH
		req $call && want 403 fresh_auth_required || return 1
		expect_grep 'account password' resp || return 1
	done
	req POST "/v1/wrapkeys/$WID_A/unwrap" '{"sealed":"AAAA"}' &&
	    want 403 fresh_auth_required || return 1
	req POST /v1/keys/destroy "{\"key_ids\":[\"$KID_A\"]}" &&
	    want 403 fresh_auth_required || return 1
	req POST /v1/devices/revoke '{"all_others":true}' &&
	    want 403 fresh_auth_required || return 1
	req POST /v1/account/password '{"new_password":"another-password"}' &&
	    want 403 fresh_auth_required || return 1
	req POST /v1/account/totp/confirm '{"code":"123456"}' &&
	    want 403 fresh_auth_required || return 1
	# Counted in the metrics under their own code.
	TOKEN='' req GET /metrics && want 200 || return 1
	grep -Eq '^cofferd_requests_total\{code="403"\} ([1-9][0-9]*)$' resp ||
	    fail "no 403 in the request counts" || return 1
	# The dry run needs no fresh proof and changes nothing.
	req POST /v1/keys/destroy \
	    "{\"key_ids\":[\"$KID_A\",\"$nokey\"],\"dry_run\":true}" &&
	    want 200 || return 1
	KID=$KID_A NOKEY=$nokey expect_jq '.dry_run == true and
	    .destroyed == [env.KID] and .not_found == [env.NOKEY]' resp ||
	    return 1
	req GET /v1/keys && want 200 || return 1
	KID=$KID_A expect_jq '.keys[] | select(.key_id == env.KID) |
	    .destroyed == null' resp || return 1
	# Guessing the password costs a failed login each: 429 after 10.
	i=0
	while [ $i -lt 10 ]; do
		req POST /v1/sessions/current/fresh '{"password":"guess-pw"}' &&
		    want 401 bad_credentials || return 1
		i=$((i + 1))
	done
	req POST /v1/sessions/current/fresh "{\"password\":\"$PW\"}" &&
	    want 429 rate_limited || return 1
	req POST "/v1/keys/$KID_A/release" && want 403 fresh_auth_required ||
	    return 1
	# (The limit is the account's and the address's: forget it here.)
	db_sql "DELETE FROM failures WHERE account = '$ACCOUNT'" >/dev/null
	THIEF_SRC=$SRC
}

fresh_proof()
{
	note "fresh proof, and its expiry after --fresh-auth 5"
	TOKEN=$A_TOKEN
	fresh "$PW" || return 1
	req POST "/v1/keys/$KID_A/release" && want 200 || return 1
	KEY=$KEY_B64 expect_jq '.key == env.KEY' resp || return 1
	sleep 6
	req POST "/v1/keys/$KID_A/release" && want 403 fresh_auth_required ||
	    return 1
	req GET /v1/sessions/current && want 200 || return 1
	expect_jq '.fresh_until > 0 and .fresh_until < now' resp || return 1
	# Validation before anything: not a failure.
	req POST /v1/sessions/current/fresh '{}' && want 400 bad_request ||
	    return 1
	# Unwrap with fresh proof.
	fresh "$PW" || return 1
	req POST "/v1/wrapkeys/$WID_A/unwrap" '{"sealed":"AAAA"}' &&
	    want 422 bad_sealed || return 1
	stale || return 1
}

devices()
{
	note "owner on device B: devices, revoke A, destroy A's keys"
	SRC=$NET.2 login "$ACCOUNT" "$PW" phone-b || return 1
	B_TOKEN=$TOKEN
	req GET /v1/devices && want 200 || return 1
	expect_jq '(.devices | length) == 2 and
	    ([.devices[] | select(.current)] | length) == 1 and
	    ([.devices[] | select(.current)][0].device == "phone-b") and
	    ([.devices[] | select(.device == "laptop-a")][0] |
	     .current == false and .last_used > 0 and .created > 0 and
	     (.last_address | startswith("127.")) and
	     (.id | test("^[0-9a-f]{16}$")))' resp || return 1
	A_ID=$(jq -r '.devices[] | select(.device == "laptop-a") | .id' resp)
	# Keys list the device, repository and key set they came from.
	req GET /v1/keys && want 200 || return 1
	KID=$KID_A WID=$WID_A REPO=$REPO SET1=$SET1 SET2=$SET2 expect_jq '
	    (.keys[] | select(.key_id == env.KID) | .device == "laptop-a" and
	     .repo_id == env.REPO and .keyset_id == env.SET1) and
	    (.keys[] | select(.key_id == env.WID) | .kind == "wrap" and
	     .repo_id == env.REPO and .keyset_id == env.SET2)' resp || return 1
	# Binding is once.
	req POST "/v1/wrapkeys/$WID_A/bind" \
	    "{\"repo_id\":\"$REPO\",\"keyset_id\":\"$SET2\"}" &&
	    want 204 || return 1
	req POST "/v1/wrapkeys/$WID_A/bind" \
	    "{\"repo_id\":\"$REPO\",\"keyset_id\":\"$SET1\"}" &&
	    want 409 exists || return 1
	req POST "/v1/wrapkeys/$KID_A/bind" \
	    "{\"repo_id\":\"$REPO\",\"keyset_id\":\"$SET1\"}" &&
	    want 404 not_found || return 1
	req POST "/v1/wrapkeys/$WID_A/bind" '{"repo_id":"xyz"}' &&
	    want 400 bad_request || return 1
	# Revoke A by id: its token is 401 at once.  (Fresh proof before
	# each call that needs it: --fresh-auth is 5 s here, time enough for
	# the calls after it on a loaded machine.)
	fresh "$PW" || return 1
	req POST /v1/devices/revoke "{\"id\":\"$A_ID\"}" && want 200 ||
	    return 1
	expect_jq '.revoked == 1' resp || return 1
	TOKEN=$A_TOKEN req GET /v1/keys && want 401 unauthorized || return 1
	TOKEN=$A_TOKEN req POST /v1/keys "{\"key\":\"$KEY_B64\"}" &&
	    want 401 unauthorized || return 1
	# Another laptop-a session, revoked by name.
	SRC=$THIEF_SRC login "$ACCOUNT" "$PW" laptop-a || return 1
	A2_TOKEN=$TOKEN
	TOKEN=$B_TOKEN
	fresh "$PW" || return 1
	req POST /v1/devices/revoke '{"device":"laptop-a"}' && want 200 ||
	    return 1
	expect_jq '.revoked == 1' resp || return 1
	TOKEN=$A2_TOKEN req GET /v1/keys && want 401 unauthorized || return 1
	req POST /v1/devices/revoke '{"device":"laptop-a","all_others":true}' &&
	    want 400 bad_request || return 1
	req POST /v1/devices/revoke '{}' && want 400 bad_request || return 1
	req POST /v1/devices/revoke '{"id":"zz"}' && want 400 bad_request ||
	    return 1
	# Destroy A's keys by device: dry run first, then for real.
	req POST /v1/keys/destroy '{"device":"laptop-a","dry_run":true}' &&
	    want 200 || return 1
	expect_jq '.dry_run == true and (.destroyed | length) == 3' resp ||
	    return 1
	req GET /v1/keys && want 200 || return 1
	expect_jq '[.keys[] | select(.destroyed != null)] | length == 0' \
	    resp || return 1
	fresh "$PW" || return 1
	req POST /v1/keys/destroy '{"device":"laptop-a"}' && want 200 ||
	    return 1
	KID=$KID_A KID2=$KID_A2 WID=$WID_A expect_jq '.dry_run == false and
	    (.destroyed | sort) == ([env.KID, env.KID2, env.WID] | sort)' \
	    resp || return 1
	req POST "/v1/keys/$KID_A/release" && want 410 destroyed || return 1
	req POST /v1/keys/destroy '{"device":"laptop-a"}' && want 200 ||
	    return 1
	expect_jq '.destroyed == []' resp || return 1
	# By ids: another account's key and a destroyed one are "not found".
	req POST /v1/keys "{\"key\":\"$KEY_B64\"}" && want 201 || return 1
	KID_B=$(jq -r .key_id resp)
	fresh "$PW" || return 1
	req POST /v1/keys/destroy \
	    "{\"key_ids\":[\"$KID_B\",\"$KID_A\",\"$OTHER_KID\"]}" &&
	    want 200 || return 1
	KB=$KID_B KA=$KID_A KO=$OTHER_KID expect_jq '.destroyed == [env.KB]
	    and .not_found == [env.KA, env.KO]' resp || return 1
	TOKEN=$OTHER_TOKEN
	fresh "$PW" || return 1
	req POST "/v1/keys/$OTHER_KID/release" && want 200 || return 1
	TOKEN=$B_TOKEN
	req POST /v1/keys/destroy '{"key_ids":["nothex"]}' &&
	    want 400 bad_request || return 1
	req POST /v1/keys/destroy '{"key_ids":[],"device":"x"}' &&
	    want 400 bad_request || return 1
	# The audit log names the device of every event.
	req GET '/v1/audit?limit=1000' && want 200 || return 1
	expect_jq '[.events[] | select(.event != "register") | .device] |
	    all(type == "string" and length > 0)' resp || return 1
	expect_jq '[.events[] | select(.event == "revoke")][0].device ==
	    "phone-b" and ([.events[] | select(.event == "fresh" and
	    .ok == false)] | length) == 10 and ([.events[] |
	    select(.event == "deposit" and .device == "laptop-a")] |
	    length) == 2' resp || return 1
}

account()
{
	note "password change, delete-account"
	TOKEN=$B_TOKEN
	SRC=$NET.3 login "$ACCOUNT" "$PW" desk-c || return 1
	C_TOKEN=$TOKEN
	SRC=$NET.4 login "$ACCOUNT" "$PW" desk-d || return 1
	TOKEN=$B_TOKEN
	fresh "$PW" || return 1
	req POST /v1/devices/revoke '{"all_others":true}' && want 200 ||
	    return 1
	expect_jq '.revoked == 2' resp || return 1
	TOKEN=$C_TOKEN req GET /v1/keys && want 401 unauthorized || return 1
	SRC=$NET.3 login "$ACCOUNT" "$PW" desk-c || return 1
	C_TOKEN=$TOKEN
	TOKEN=$B_TOKEN
	fresh "$PW" || return 1
	req POST /v1/account/password '{"new_password":"short"}' &&
	    want 400 bad_request || return 1
	req POST /v1/account/password "{\"new_password\":\"$PW2\"}" &&
	    want 204 || return 1
	TOKEN=$C_TOKEN req GET /v1/keys && want 401 unauthorized || return 1
	req GET /v1/keys && want 200 || return 1
	TOKEN=
	req POST /v1/sessions \
	    "{\"account\":\"$ACCOUNT\",\"password\":\"$PW\"}" &&
	    want 401 bad_credentials || return 1
	SRC=$NET.3 login "$ACCOUNT" "$PW2" desk-c || return 1
	C_TOKEN=$TOKEN
	req POST /v1/keys "{\"key\":\"$KEY_B64\"}" && want 201 || return 1
	fresh "$PW2" || return 1
	req DELETE /v1/account && want 204 || return 1
	TOKEN=$B_TOKEN req GET /v1/keys && want 401 unauthorized || return 1
	TOKEN=$C_TOKEN req GET /v1/keys && want 401 unauthorized || return 1
	TOKEN=
	req POST /v1/sessions \
	    "{\"account\":\"$ACCOUNT\",\"password\":\"$PW2\"}" &&
	    want 401 bad_credentials || return 1
	req POST /v1/accounts \
	    "{\"account\":\"$ACCOUNT\",\"password\":\"$PW2\"}" &&
	    want 409 exists || return 1
	# Every key shredded: the database holds no key material for it.
	n=$(db_sql "SELECT count(*) FROM keys WHERE account = '$ACCOUNT'"`
	    `" AND (destroyed = 0 OR length(blob) > 0)")
	[ "$n" = 0 ] || fail "$n live keys left after delete-account" ||
	    return 1
	n=$(db_sql "SELECT count(*) FROM sessions"`
	    `" WHERE account = '$ACCOUNT'")
	[ "$n" = 0 ] || fail "$n sessions left after delete-account" ||
	    return 1
	# The other account is untouched.
	TOKEN=$OTHER_TOKEN
	fresh "$PW" || return 1
	req POST "/v1/keys/$OTHER_KID/release" && want 200 || return 1
}

old_session()
{
	note "a session from before version 2"
	TOKEN=
	req POST /v1/sessions \
	    "{\"account\":\"$OTHER\",\"password\":\"$PW\"}" && want 201 ||
	    return 1
	expect_jq '.device == "unnamed"' resp || return 1
	OLD_TOKEN=$(jq -r .token resp)
	# As a version 1 row reads: the new columns at their defaults.
	db_sql "UPDATE sessions SET device = 'unnamed', created = 0,"`
	    `" last_used = 0, last_address = '', fresh_until = 0"`
	    `" WHERE account = '$OTHER'" >/dev/null || return 1
	TOKEN=$OLD_TOKEN
	req POST /v1/keys "{\"key\":\"$KEY_B64\"}" && want 201 || return 1
	req POST "/v1/keys/$OTHER_KID/release" &&
	    want 403 fresh_auth_required || return 1
	req GET /v1/sessions/current && want 200 || return 1
	expect_jq '.device == "unnamed" and .fresh_until == 0 and
	    .created == 0' resp || return 1
	fresh "$PW" || return 1
	req POST "/v1/keys/$OTHER_KID/release" && want 200 || return 1
}

options()
{
	note "--fresh-auth: command line, config file, limits"
	bin=$(_cofferd_bin)
	expect_exit 0 "$bin" --help && expect_grep -- '--fresh-auth' out ||
	    return 1
	for t in 0 86401 x ''; do
		expect_exit 2 "$bin" --fresh-auth "$t" || return 1
		expect_grep -- '--fresh-auth wants seconds from 1 to 86400' \
		    err || return 1
	done
	printf 'fresh-auth = 7\nsession-ttl = 1000\n' >c.conf
	cofferd_start srv-conf --config "$PWD/c.conf" || return 1
	TOKEN=
	SRC=$NET.8 req POST /v1/accounts \
	    "{\"account\":\"c-$ACCOUNT\",\"password\":\"$PW\"}" &&
	    want 201 || return 1
	SRC=$NET.8 login "c-$ACCOUNT" "$PW" conf || return 1
	expect_jq '.fresh_until - (.expires - 1000) == 7' resp || return 1
	cofferd_stop srv-conf || return 1
	cofferd_use srv
}

scenario() {
	need_cmd curl jq od base64 || return 1
	trap cofferd_cleanup EXIT
	SFX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	# shellcheck disable=SC2046 # two numbers, split on purpose
	set -- $(od -An -N2 -tu1 /dev/urandom)
	NET=127.$(($1 % 250 + 2)).$(($2 % 250 + 2))
	SRC=$NET.1
	export SRC
	ACCOUNT=owner-$SFX@example.org
	OTHER=other-$SFX@example.org
	PW=correct-horse-battery
	PW2=staple-horse-correct
	KEY_B64=$(b64 KEYMATERIAL-for-the-escrow-0087!)
	REPO=0123456789abcdef0123456789abcdef
	SET1=00112233445566aa
	SET2=00112233445566bb
	DBURL=${COFFERD_TEST_DB:-sqlite:$PWD/srv/cofferd.db}
	COFFERD_DB=$DBURL
	export COFFERD_DB
	note "database $DBURL, source addresses $NET.*"
	case $DBURL in
	sqlite:*)	need_cmd sqlite3 || return 1 ;;
	*)		need_cmd psql || return 1 ;;
	esac

	cofferd_start srv --fresh-auth 5 || return 1
	# The second account, with a key the first must never reach.
	SRC=$NET.9 req POST /v1/accounts \
	    "{\"account\":\"$OTHER\",\"password\":\"$PW\"}" && want 201 ||
	    return 1
	SRC=$NET.9 login "$OTHER" "$PW" other || return 1
	OTHER_TOKEN=$TOKEN
	SRC=$NET.9 req POST /v1/keys "{\"key\":\"$KEY_B64\"}" && want 201 ||
	    return 1
	OTHER_KID=$(jq -r .key_id resp)
	TOKEN=
	req POST /v1/accounts \
	    "{\"account\":\"$ACCOUNT\",\"password\":\"$PW\"}" &&
	    want 201 || return 1

	thief || return 1
	fresh_proof || return 1
	devices || return 1
	account || return 1
	old_session || return 1
	options || return 1
	cofferd_stop srv || return 1
	expect_no_grep -F "$PW" srv/cofferd.log || return 1
}
