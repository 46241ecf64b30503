# SPDX-License-Identifier: ISC
# tests/integration/88-server-totp.sh
# Goal: cofferd's second factor (docs/PROTOCOL.md version 2, §3.1, §3.2,
# §3.6) against a real server and database, with codes made by oathtool
# from the secret the server shows:
# - enabling: a pending secret (logins need no code yet), its otpauth://
#   URI, a wrong confirm code refused, the confirm with a code of the
#   previous step (-1 drift), 10 recovery codes shown once, 409 on a
#   second enable;
# - login: without the code 401 code_required (not a failed login); a
#   wrong code 401 bad_code and a failed login; a used code refused
#   (single use); a version 1 login (no code) refused;
# - fresh proof on a device session needs the code too; release without
#   it fails, with it (the next step's code: +1 drift) succeeds;
# - a recovery code works once (any case, without dashes) and not twice;
# - turning it off needs fresh proof that included a code.
#
# The database comes from COFFERD_TEST_DB or is a fresh SQLite file.

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

db_sql()
{
	case $DBURL in
	sqlite:*)	sqlite3 "${DBURL#sqlite:}" "$1" ;;
	*)		psql -qtA -v ON_ERROR_STOP=1 "$DBURL" -c "$1" ;;
	esac
}

# code STEP: the TOTP code of time step STEP (30 s each).
code()
{
	oathtool --totp -b "$SECRET" -N "@$(($1 * 30))"
}

# step_start: wait until at least 8 s are left in the current step, so
# that the steps computed here are the server's too; sets S.
step_start()
{
	while [ $(($(date +%s) % 30)) -gt 21 ]; do
		sleep 1
	done
	S=$(($(date +%s) / 30))
}

# login_body CODE [DEVICE]: a login body for $ACCOUNT, with "code"
# unless CODE is empty, from DEVICE (default "t").
login_body()
{
	if [ -n "$1" ]; then
		printf '{"account":"%s","password":"%s","device":"%s",'`
		    `'"code":"%s"}' "$ACCOUNT" "$PW" "${2:-t}" "$1"
	else
		printf '{"account":"%s","password":"%s","device":"%s"}' \
		    "$ACCOUNT" "$PW" "${2:-t}"
	fi
}

failures()
{
	db_sql "SELECT count(*) FROM failures WHERE account = '$ACCOUNT'"
}

enrol()
{
	note "enable: pending, confirm, recovery codes"
	TOKEN=$X_TOKEN
	req POST /v1/account/totp && want 200 || return 1
	SECRET=$(jq -r .secret resp)
	printf '%s' "$SECRET" | grep -Eq '^[A-Z2-7]{32}$' ||
	    fail "secret '$SECRET' is not 32 base32 characters" || return 1
	SECRET=$SECRET ACCT=$(printf '%s' "$ACCOUNT" | sed 's/@/%40/') \
	    expect_jq '.uri == "otpauth://totp/coffer:" + env.ACCT +
	    "?secret=" + env.SECRET +
	    "&issuer=coffer&digits=6&period=30&algorithm=SHA1"' resp ||
	    return 1
	# Pending: a login needs no code yet.
	TOKEN=
	req POST /v1/sessions "$(login_body '')" && want 201 || return 1
	TOKEN=$X_TOKEN
	req GET /v1/sessions/current && want 200 || return 1
	expect_jq '.totp == false' resp || return 1
	req POST /v1/account/totp/confirm '{"code":"12345"}' &&
	    want 401 bad_code || return 1
	step_start
	bad=000000
	while [ "$bad" = "$(code $((S - 1)))" ] ||
	    [ "$bad" = "$(code "$S")" ] ||
	    [ "$bad" = "$(code $((S + 1)))" ]; do
		bad=$((bad + 1))
		bad=$(printf '%06d' "$bad")
	done
	BAD=$bad
	req POST /v1/account/totp/confirm "{\"code\":\"$BAD\"}" &&
	    want 401 bad_code || return 1
	req GET /v1/sessions/current && want 200 || return 1
	expect_jq '.totp == false' resp || return 1
	# The previous step's code: one step of drift is allowed.
	CSTEP=$((S - 1))
	req POST /v1/account/totp/confirm "{\"code\":\"$(code "$CSTEP")\"}" &&
	    want 200 || return 1
	expect_jq '(.recovery_codes | length) == 10 and
	    all(.recovery_codes[]; test("^[a-z2-7]{4}(-[a-z2-7]{4}){3}$")) and
	    (.recovery_codes | unique | length) == 10' resp || return 1
	jq -r '.recovery_codes[]' resp >recovery.txt
	req GET /v1/sessions/current && want 200 || return 1
	expect_jq '.totp == true' resp || return 1
	req POST /v1/account/totp && want 409 exists || return 1
	# The secret is not in the database in the clear.
	n=$(db_sql "SELECT count(*) FROM accounts WHERE account = '$ACCOUNT'"`
	    `" AND totp_state = 2 AND length(totp_blob) = 60")
	[ "$n" = 1 ] || fail "no sealed TOTP secret of 60 bytes" || return 1
}

logins()
{
	note "logins: code required, wrong, used, next step"
	TOKEN=
	f0=$(failures)
	req POST /v1/sessions "$(login_body '')" && want 401 code_required ||
	    return 1
	# A version 1 client's login (no device, no code): the same.
	req POST /v1/sessions \
	    "{\"account\":\"$ACCOUNT\",\"password\":\"$PW\"}" &&
	    want 401 code_required || return 1
	[ "$(failures)" = "$f0" ] ||
	    fail "code_required counted as a failed login" || return 1
	# A wrong password with a code: bad_credentials; the code is not
	# looked at.
	req POST /v1/sessions "{\"account\":\"$ACCOUNT\",\"password\":"`
	    `"\"wrong-password\",\"code\":\"$BAD\"}" &&
	    want 401 bad_credentials || return 1
	req POST /v1/sessions "$(login_body "$BAD")" && want 401 bad_code ||
	    return 1
	[ "$(failures)" = $((f0 + 2)) ] ||
	    fail "failures $(failures), want $((f0 + 2))" || return 1
	req POST /v1/sessions "$(login_body 12345)" && want 401 bad_code ||
	    return 1
	step_start
	# The step the confirm used: refused (spent; on a slow run, when
	# more than 30 s have passed since, also out of the drift window).
	req POST /v1/sessions "$(login_body "$(code "$CSTEP")")" &&
	    want 401 bad_code || return 1
	req POST /v1/sessions "$(login_body "$(code "$S")" c)" && want 201 ||
	    return 1
	expect_jq '.fresh_until > now' resp || return 1
	C_TOKEN=$(jq -r .token resp)
	# The same code again: single use, also on another login.
	req POST /v1/sessions "$(login_body "$(code "$S")")" &&
	    want 401 bad_code || return 1
	db_sql "DELETE FROM failures WHERE account = '$ACCOUNT'" >/dev/null
}

release()
{
	note "release on a device session needs password and code"
	TOKEN=$C_TOKEN
	req POST /v1/keys "{\"key\":\"$KEY_B64\"}" && want 201 || return 1
	KID=$(jq -r .key_id resp)
	db_sql "UPDATE sessions SET fresh_until = 0, fresh_code = 0"`
	    `" WHERE account = '$ACCOUNT' AND device = 'c'" >/dev/null
	req POST "/v1/keys/$KID/release" && want 403 fresh_auth_required ||
	    return 1
	req POST /v1/sessions/current/fresh "{\"password\":\"$PW\"}" &&
	    want 401 code_required || return 1
	req POST "/v1/keys/$KID/release" && want 403 fresh_auth_required ||
	    return 1
	req POST /v1/sessions/current/fresh \
	    "{\"password\":\"$PW\",\"code\":\"$BAD\"}" && want 401 bad_code ||
	    return 1
	# The next step's code (+1 drift while the clock is still in S).
	req POST /v1/sessions/current/fresh \
	    "{\"password\":\"$PW\",\"code\":\"$(code $((S + 1)))\"}" &&
	    want 200 || return 1
	# Used now, here too.
	req POST /v1/sessions/current/fresh \
	    "{\"password\":\"$PW\",\"code\":\"$(code $((S + 1)))\"}" &&
	    want 401 bad_code || return 1
	req POST "/v1/keys/$KID/release" && want 200 || return 1
	KEY=$KEY_B64 expect_jq '.key == env.KEY' resp || return 1
}

recovery()
{
	note "recovery codes: each once"
	TOKEN=
	rc1=$(sed -n 1p recovery.txt)
	req POST /v1/sessions "$(login_body "$rc1")" && want 201 || return 1
	req POST /v1/sessions "$(login_body "$rc1")" && want 401 bad_code ||
	    return 1
	# Any case, without dashes.
	rc2=$(sed -n 2p recovery.txt | tr -d - | tr a-z A-Z)
	req POST /v1/sessions "$(login_body "$rc2")" && want 201 || return 1
	R_TOKEN=$(jq -r .token resp)
	req POST /v1/sessions "$(login_body "$rc2")" && want 401 bad_code ||
	    return 1
	req POST /v1/sessions "$(login_body "abcd-efgh-ijkl-mnop")" &&
	    want 401 bad_code || return 1
	TOKEN=$R_TOKEN
	req GET '/v1/audit?limit=1000' && want 200 || return 1
	expect_jq '([.events[] | select(.event == "recovery_code")] |
	    length) == 2' resp || return 1
	db_sql "DELETE FROM failures WHERE account = '$ACCOUNT'" >/dev/null
}

disable()
{
	note "disable: needs fresh proof with a code"
	# Y logged in before TOTP was on: fresh, but without a code.
	TOKEN=$Y_TOKEN
	req DELETE /v1/account/totp && want 403 fresh_auth_required ||
	    return 1
	expect_grep 'code' resp || return 1
	# R logged in with a recovery code: fresh with a code.
	TOKEN=$R_TOKEN
	req DELETE /v1/account/totp && want 204 || return 1
	req GET /v1/sessions/current && want 200 || return 1
	expect_jq '.totp == false' resp || return 1
	TOKEN=
	req POST /v1/sessions "$(login_body '')" && want 201 || return 1
	# The old recovery codes are gone with it.
	n=$(db_sql "SELECT count(*) FROM recovery WHERE account = '$ACCOUNT'")
	[ "$n" = 0 ] || fail "$n recovery codes left" || return 1
	TOKEN=$R_TOKEN
	req GET '/v1/audit?limit=1000' && want 200 || return 1
	expect_jq '([.events[] | select(.event == "totp_enable" and .ok)] |
	    length) == 1 and ([.events[] | select(.event == "totp_enable" and
	    (.ok | not))] | length) == 2 and ([.events[] |
	    select(.event == "totp_disable")] | length) == 1' resp || return 1
}

scenario() {
	need_cmd curl jq od base64 oathtool || return 1
	trap cofferd_cleanup EXIT
	SFX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	# shellcheck disable=SC2046 # two numbers, split on purpose
	set -- $(od -An -N2 -tu1 /dev/urandom)
	SRC=127.$(($1 % 250 + 2)).$(($2 % 250 + 2)).1
	export SRC
	ACCOUNT=totp-$SFX@example.org
	PW=correct-horse-battery
	KEY_B64=$(printf KEYMATERIAL-for-the-escrow-0088! | base64 -w0)
	DBURL=${COFFERD_TEST_DB:-sqlite:$PWD/srv/cofferd.db}
	COFFERD_DB=$DBURL
	export COFFERD_DB
	case $DBURL in
	sqlite:*)	need_cmd sqlite3 || return 1 ;;
	*)		need_cmd psql || return 1 ;;
	esac
	note "database $DBURL"

	cofferd_start srv || return 1
	TOKEN=
	req POST /v1/accounts \
	    "{\"account\":\"$ACCOUNT\",\"password\":\"$PW\"}" &&
	    want 201 || return 1
	req POST /v1/sessions "$(login_body '')" && want 201 || return 1
	X_TOKEN=$(jq -r .token resp)
	req POST /v1/sessions "$(login_body '')" && want 201 || return 1
	Y_TOKEN=$(jq -r .token resp)
	enrol || return 1
	logins || return 1
	release || return 1
	recovery || return 1
	disable || return 1
	cofferd_stop srv || return 1
	expect_no_grep -F "$SECRET" srv/cofferd.log || return 1
}
