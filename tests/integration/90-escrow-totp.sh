# SPDX-License-Identifier: ISC
# tests/integration/90-escrow-totp.sh
# Goal: issue #14, the second factor, against a real cofferd on loopback
# (TLS, throwaway CA) with a short --fresh-auth, the codes computed by
# oathtool(1) from the secret the client shows.
#   totp enable (no terminal, --json) shows the secret and an otpauth://
#   URI and leaves it pending; totp confirm with a code turns it on and
#   prints 10 recovery codes.  Then, once the fresh proof is over, a
#   release (restore) with the password and without a code fails and
#   says a code is needed; with a code it works; the same code again
#   fails; a recovery code works once, and fails the second time.  A
#   login on a new device needs a code too.  The text form of enable
#   shows the secret, the URI and a QR code.

FRESH=3		# --fresh-auth seconds

# no_tty CMD...: run CMD without a controlling terminal.
no_tty()
{
	setsid -w "$@" </dev/null
}

# totp_next: the code of the next 30-second step (the server accepts the
# steps around now, each once, and never one at or before the last used).
totp_next()
{
	oathtool --totp -b -N "$(date -u -d '+30 seconds' \
	    '+%Y-%m-%d %H:%M:%S UTC')" "$secret"
}

scenario() {
	need_cmd curl jq openssl setsid oathtool || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	cofferd_start srv --fresh-auth "$FRESH" || return 1
	url=$COFFERD_URL
	COFFER_CACERT=$COFFERD_CACERT
	export COFFER_CACERT
	printf 'correct horse battery staple 14\n' >pw
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw
	export COFFER_ESCROW_PASSWORD_FILE
	"$HELPERS/gentree" src || return 1

	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account bob || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" --account bob \
	    --device phone || return 1
	expect_exit 0 "$COFFER" init --custody escrow || return 1
	expect_exit 0 "$COFFER" backup src || return 1

	# ---- enable: pending until a first code ----
	expect_exit 0 no_tty "$COFFER" escrow totp enable --json || return 1
	expect_jq '.pending == true and (.secret | test("^[A-Z2-7]+=*$")) and
	    (.uri | startswith("otpauth://totp/")) and
	    (.secret as $s | .uri | contains("secret=" + $s))' out || return 1
	secret=$(jq -r .secret out)
	expect_exit 0 "$COFFER" escrow status --json || return 1
	expect_jq '.totp == false' out || return 1
	# A wrong first code turns nothing on.
	expect_exit 1 no_tty env COFFER_ESCROW_CODE=000000 "$COFFER" escrow \
	    totp confirm || return 1
	expect_grep 'not accepted' err || return 1
	expect_exit 0 no_tty env COFFER_ESCROW_CODE="$(oathtool --totp -b \
	    "$secret")" "$COFFER" escrow totp confirm --json || return 1
	expect_jq '.totp == true and (.recovery_codes | length) == 10' out ||
	    return 1
	jq -r '.recovery_codes[]' out >recovery
	expect_exit 0 "$COFFER" escrow status --json || return 1
	expect_jq '.totp == true' out || return 1
	sleep $((FRESH + 1))

	# ---- a release without the code fails, and says what is missing
	expect_exit 1 no_tty "$COFFER" restore latest --target r1 || return 1
	expect_grep 'one-time code' err || return 1
	[ ! -e r1/src ] || fail "restored without the code" || return 1

	# ---- with the code it works ----
	code=$(totp_next)
	expect_exit 0 no_tty env COFFER_ESCROW_CODE="$code" "$COFFER" \
	    restore latest --target r2 || return 1
	expect_tree src r2/src || return 1
	sleep $((FRESH + 1))

	# ---- the same code again fails ----
	expect_exit 1 no_tty env COFFER_ESCROW_CODE="$code" "$COFFER" \
	    restore latest --target r3 || return 1
	expect_grep 'not accepted' err || return 1
	[ ! -e r3/src ] || fail "a reused code restored" || return 1

	# ---- a recovery code works once ----
	rc=$(sed -n 1p recovery)
	expect_exit 0 no_tty env COFFER_ESCROW_CODE="$rc" "$COFFER" \
	    restore latest --target r4 || return 1
	expect_tree src r4/src || return 1
	sleep $((FRESH + 1))
	expect_exit 1 no_tty env COFFER_ESCROW_CODE="$rc" "$COFFER" \
	    restore latest --target r5 || return 1
	expect_grep 'not accepted' err || return 1
	[ ! -e r5/src ] || fail "a used recovery code restored" || return 1

	# ---- a new device: the login itself needs a code ----
	expect_exit 1 no_tty env COFFER_KEYSTORE="$PWD/ks2" "$COFFER" escrow \
	    login --server "$url" --account bob --device laptop || return 1
	expect_grep 'one-time code' err || return 1
	[ ! -e ks2/escrow ] || fail "a login without its code was saved" ||
	    return 1
	expect_exit 0 no_tty env COFFER_KEYSTORE="$PWD/ks2" \
	    COFFER_ESCROW_CODE="$(sed -n 2p recovery)" "$COFFER" escrow \
	    login --server "$url" --account bob --device laptop || return 1
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks2" \
	    COFFER_ESCROW_CODE="$(sed -n 3p recovery)" "$COFFER" restore latest \
	    --target r6 || return 1
	expect_tree src r6/src || return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	expect_jq 'any(.events[]; .event == "totp_enable" and .ok == true) and
	    any(.events[]; .event == "recovery_code")' out || return 1

	# ---- the text form shows the secret, the URI and a QR code ----
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks2" \
	    COFFER_ESCROW_CODE="$(sed -n 4p recovery)" "$COFFER" escrow totp \
	    disable || return 1
	expect_exit 0 "$COFFER" escrow status --json || return 1
	expect_jq '.totp == false' out || return 1
	expect_exit 0 no_tty env COFFER_KEYSTORE="$PWD/ks2" "$COFFER" escrow \
	    totp enable || return 1
	expect_grep '^secret: +[A-Z2-7]+' out || return 1
	expect_grep '^URI: +otpauth://totp/' out || return 1
	[ "$(grep -c '█' out)" -ge 20 ] || fail "no QR code shown" ||
	    return 1
	expect_grep 'totp confirm' out || return 1
	cofferd_stop srv || return 1
}
