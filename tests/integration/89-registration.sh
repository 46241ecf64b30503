# SPDX-License-Identifier: ISC
# tests/integration/89-registration.sh
# Goal: who may make an account, and how often (issue 13).  With
# --registration closed (or "registration = closed" in the config file)
# POST /v1/accounts answers 403 registration_closed and the operator makes
# accounts with cofferd --add-account NAME (password from --password-file
# or the terminal, without echo), which then log in; registrations are
# limited per source address (--register-limit: 429 with Retry-After,
# another address still registers, /metrics counts them); and with no
# room in the password-hashing queue (--kdf-queue 0) a login or a
# registration is answered 503 busy with Retry-After at once.

. "$SRCDIR/tests/harness/cofferd.sh"

# want STATUS [ERROR]: the last answer had STATUS (and that error code).
want()
{
	if [ "$status" != "$1" ]; then
		fail "status $status, want $1: $(head -c 300 resp)"
		return 1
	fi
	[ $# -ge 2 ] || return 0
	WANT_ERR=$2
	export WANT_ERR
	expect_jq '.error == env.WANT_ERR and (.message | type) == "string"' \
	    resp
}

# retry_after: the Retry-After of the last answer.
retry_after()
{
	tr -d '\r' <resp.h | sed -n 's/^[Rr]etry-[Aa]fter: *//p' | tail -n 1
}

closed()
{
	note "--registration closed and --add-account"
	bin=$(_cofferd_bin)
	db=sqlite:$PWD/closed.db
	printf 'operator-pw-0123\n' >pw
	expect_exit 0 "$bin" --add-account alice@example.org \
	    --password-file pw --db "$db" || return 1
	expect_exit 1 "$bin" --add-account alice@example.org \
	    --password-file pw --db "$db" || return 1
	expect_grep "the account 'alice@example.org' exists" err || return 1
	printf 'short\n' >pw.short
	expect_exit 1 "$bin" --add-account bob --password-file pw.short \
	    --db "$db" || return 1
	expect_grep 'the password must be 8 to 1024 bytes' err || return 1
	expect_exit 2 "$bin" --add-account ' bob' --password-file pw \
	    --db "$db" || return 1
	expect_exit 2 "$bin" --password-file pw --insecure-http \
	    --master-key-file x --db "$db" || return 1
	expect_grep 'goes with --add-account' err || return 1
	# From the terminal (a pseudo-terminal made by script(1)), twice.
	if command -v script >/dev/null 2>&1; then
		# (typed after the prompt: typed ahead, the terminal would
		# echo it before cofferd turns echo off)
		{ sleep 1; printf 'terminal-pw-0123\n'; sleep 0.5;
		    printf 'terminal-pw-0123\n'; } |
		    script -qec "'$bin' --add-account carol --db '$db'" \
		    /dev/null >tty.out 2>&1 ||
		    fail "--add-account from the terminal failed:" \
		    "$(cat tty.out)" || return 1
		grep -q 'terminal-pw' tty.out &&
		    fail "the password was echoed" && return 1
	fi

	cofferd_start srv --registration closed --db "$db" || return 1
	expect_grep 'registration closed' srv/cofferd.log || return 1
	cofferd_req POST /v1/accounts \
	    '{"account":"mallory","password":"mallory-pw-0123"}' &&
	    want 403 registration_closed || return 1
	# Closed even without a valid body: nothing is parsed or hashed.
	cofferd_req POST /v1/accounts '{' && want 403 registration_closed ||
	    return 1
	cofferd_req POST /v1/sessions \
	    '{"account":"alice@example.org","password":"operator-pw-0123"}' &&
	    want 201 || return 1
	if command -v script >/dev/null 2>&1; then
		cofferd_req POST /v1/sessions \
		    '{"account":"carol","password":"terminal-pw-0123"}' &&
		    want 201 || return 1
	fi
	cofferd_stop srv || return 1

	# The same from the config file.
	printf 'registration = closed\n' >c.conf
	cofferd_start srv-conf --config "$PWD/c.conf" || return 1
	cofferd_req POST /v1/accounts \
	    '{"account":"mallory","password":"mallory-pw-0123"}' &&
	    want 403 registration_closed || return 1
	cofferd_stop srv-conf || return 1
	printf 'registration = maybe\n' >bad.conf
	expect_exit 2 "$bin" --config bad.conf || return 1
	expect_grep 'registration wants open or closed' err || return 1
}

limit()
{
	note "--register-limit 3: per source address"
	net=127.$(( $(od -An -N1 -tu1 /dev/urandom) % 200 + 20 )).89
	cofferd_start srv-lim --register-limit 3 || return 1
	i=0
	while [ $i -lt 3 ]; do
		SRC=$net.1 cofferd_req POST /v1/accounts \
		    "{\"account\":\"lim$i\",\"password\":\"limit-pw-0123\"}" &&
		    want 201 || return 1
		i=$((i + 1))
	done
	# Taken or not, a fourth attempt from there is refused unhashed.
	SRC=$net.1 cofferd_req POST /v1/accounts \
	    '{"account":"lim0","password":"limit-pw-0123"}' &&
	    want 429 rate_limited || return 1
	ra=$(retry_after)
	[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 900 ] ||
	    fail "Retry-After '$ra'" || return 1
	SRC=$net.2 cofferd_req POST /v1/accounts \
	    '{"account":"lim9","password":"limit-pw-0123"}' &&
	    want 201 || return 1
	# Logins from the limited address are not affected.
	SRC=$net.1 cofferd_req POST /v1/sessions \
	    '{"account":"lim1","password":"limit-pw-0123"}' &&
	    want 201 || return 1
	cofferd_req GET /metrics && want 200 || return 1
	expect_grep '^cofferd_registrations_limited_total 1$' resp || return 1
	cofferd_stop srv-lim || return 1
}

busy()
{
	note "--kdf-queue 0: logins and registrations answered 503 busy"
	cofferd_start srv-busy --kdf-queue 0 || return 1
	cofferd_req POST /v1/accounts \
	    '{"account":"busy","password":"busy-pw-0123"}' &&
	    want 503 busy || return 1
	[ "$(retry_after)" = 2 ] || fail "Retry-After '$(retry_after)'" ||
	    return 1
	cofferd_req POST /v1/sessions \
	    '{"account":"busy","password":"busy-pw-0123"}' &&
	    want 503 busy || return 1
	cofferd_req GET /healthz && want 200 || return 1
	cofferd_req GET /metrics && want 200 || return 1
	expect_grep '^cofferd_kdf_busy_total 2$' resp || return 1
	cofferd_stop srv-busy || return 1
}

scenario() {
	need_cmd curl jq || return 1
	trap cofferd_cleanup EXIT
	closed && limit && busy
}
