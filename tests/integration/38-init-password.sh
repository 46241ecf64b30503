# SPDX-License-Identifier: ISC
# tests/integration/38-init-password.sh
# Goal: "coffer init" on a terminal asks for the keystore password
# (twice, no echo, a weak one refused with the reason and asked again)
# and sets it before the repository's key is written, so the key file
# is wrapped from the start and never on the disk in the clear;
# --no-password skips it; a keystore with a password already is only
# unlocked; without a terminal, init says once how to set one later.
# The terminal is script(1)'s pty; the feeder types each line only once
# its prompt is on the screen.

# feed TS LINE...: type each LINE after the next prompt ("...: ") shows
# in the typescript TS; then wait for init to finish (script(1) ends
# the session when its input does).
feed()
{
	_ts=$1
	shift
	_k=0
	for _line in "$@"; do
		_k=$((_k + 1))
		wait_for "[ \"\$(grep -o 'password: \\|password again: ' \
		    $_ts 2>/dev/null | wc -l)\" -ge $_k ]" 30 || {
			echo "feed: no prompt $_k" >&2
			return 1
		}
		printf '%s\n' "$_line"
	done
	wait_for "grep -q 'created coffer repository' $_ts" 60
	sleep 0.2
}

# on_tty TS CMD: run the shell command CMD on a new terminal, its output
# in TS; the exit status is CMD's.
on_tty()
{
	script -qfec "$2" "$1"
}

scenario() {
	ks=$COFFER_KEYSTORE
	strong='plinth orchard gravel lantern'

	# ---- on a terminal: a weak one refused, then a strong one ----
	feed ts1 'password1' "$strong" "$strong" |
	    on_tty ts1 "$COFFER --repo $PWD/card1 init" || {
		cat ts1 >&2
		fail "init on a terminal failed"
		return 1
	}
	cat ts1 >&2
	grep -q 'new keystore password: ' ts1 &&
	    grep -q 'new keystore password again: ' ts1 ||
	    fail "init did not ask for a new password twice" || return 1
	grep -q 'too easy to guess: a common word' ts1 ||
	    fail "the weak password was not refused with a reason" || return 1
	grep -q 'keystore password set' ts1 ||
	    fail "init did not say the password is set" || return 1
	! grep -q "$strong\\|password1" ts1 ||
	    fail "a password was echoed" || return 1
	[ -s "$ks/passwd" ] || fail "no keystore password set" || return 1
	# The repository's key file was wrapped when first written: the
	# wrapped size, and the keystore has no other key file.
	set -- "$ks"/repo-*.key
	[ $# -eq 1 ] && [ "$(stat -c %s "$1")" -eq 120 ] ||
	    fail "the key file is not wrapped: $(ls -l "$ks")" || return 1
	printf '%s\n' "$strong" >pw
	expect_exit 0 env COFFER_PASSWORD_FILE=pw "$COFFER" --repo card1 \
	    snapshots || return 1
	expect_exit 1 setsid -w "$COFFER" --repo card1 snapshots </dev/null ||
	    return 1
	expect_grep 'password' err || return 1

	# ---- a keystore with a password: unlocked, not asked anew ----
	feed ts2 "$strong" | on_tty ts2 "$COFFER --repo $PWD/card2 init" || {
		cat ts2 >&2
		fail "init with a keystore password failed"
		return 1
	}
	! grep -q 'new keystore password' ts2 ||
	    fail "init asked for a new password again" || return 1
	grep -q 'keystore password: ' ts2 ||
	    fail "init did not ask for the keystore password" || return 1
	set -- "$ks"/repo-*.key
	[ $# -eq 2 ] && [ "$(stat -c %s "$1")" -eq 120 ] &&
	    [ "$(stat -c %s "$2")" -eq 120 ] ||
	    fail "key files not wrapped: $(ls -l "$ks")" || return 1

	# ---- --no-password on a terminal: nothing asked ----
	ks3=$PWD/ks3
	on_tty ts3 "COFFER_KEYSTORE=$ks3 $COFFER --repo $PWD/card3 init \
	    --no-password" </dev/null || {
		cat ts3 >&2
		fail "init --no-password failed"
		return 1
	}
	! grep -q 'keystore password\|no password' ts3 ||
	    fail "init --no-password spoke of a password: $(cat ts3)" ||
	    return 1
	[ ! -e "$ks3/passwd" ] || fail "a password was set" || return 1
	set -- "$ks3"/repo-*.key
	[ "$(stat -c %s "$1")" -eq 80 ] ||
	    fail "the key file is not in the clear" || return 1

	# ---- no terminal: one line says how to set one later ----
	ks4=$PWD/ks4
	expect_exit 0 setsid -w env COFFER_KEYSTORE="$ks4" "$COFFER" \
	    --repo card4 init </dev/null || return 1
	expect_grep "the keystore has no password; set one with 'coffer" \
	    err || return 1
	[ "$(wc -l <err)" -eq 1 ] || fail "more than one line" || return 1
	[ ! -e "$ks4/passwd" ] || fail "a password was set" || return 1
	# ... and --quiet or --no-password keep it quiet.
	expect_exit 0 setsid -w env COFFER_KEYSTORE="$ks4" "$COFFER" \
	    --repo card5 init --no-password </dev/null || return 1
	[ ! -s err ] || fail "init --no-password said: $(cat err)" || return 1
	# COFFER_NEW_PASSWORD_FILE sets it without a terminal, checked too.
	printf 'password1\n' >weak
	expect_exit 1 setsid -w env COFFER_KEYSTORE="$PWD/ks6" \
	    COFFER_NEW_PASSWORD_FILE=weak "$COFFER" --repo card6 init \
	    </dev/null || return 1
	expect_grep 'too easy to guess' err || return 1
	[ ! -e card6/config ] || fail "init went on after a weak password" ||
	    return 1
	expect_exit 0 setsid -w env COFFER_KEYSTORE="$PWD/ks6" \
	    COFFER_NEW_PASSWORD_FILE=pw "$COFFER" --repo card6 init --json \
	    </dev/null || return 1
	expect_jq '.password_set == true' out || return 1
	set -- "$PWD"/ks6/repo-*.key
	[ "$(stat -c %s "$1")" -eq 120 ] ||
	    fail "the key file is not wrapped" || return 1
}
