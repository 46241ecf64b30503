# SPDX-License-Identifier: ISC
# tests/integration/81-escrow-cli.sh
# Goal: "coffer escrow" against a real cofferd on loopback, over TLS with a
# throwaway CA (tests/harness/tls.sh, cofferd.sh).  register works once and
# then says the name is taken; a wrong password is status 1 with a clear
# message and saves nothing (no keystore is made); login on a device
# without a keystore makes one (0700, files 0600, the token readable by
# nobody else) and fills the wrap key pool; status, keys, audit and pool
# answer in text and in JSON with the documented fields; the CA comes from
# --cacert, COFFER_CACERT or the config, and without it the certificate
# check fails with a message that names --cacert; http:// to a host other
# than loopback is refused before anything is asked; logout ends the
# session at the server (a copy of the token is refused after) and
# forgets it here, even with the server down; a keystore password wraps
# the token; usage errors are status 2; too many failed logins are
# answered "try again in N s".  The helper escrowprobe drives lib/escrow's
# key calls (deposit, release, destroy, seal and unwrap) against the same
# server: the client's sealed keys open there, and what must be refused is.

# no_tty CMD...: run CMD without a controlling terminal.
no_tty()
{
	setsid -w "$@" </dev/null
}

# blob_flags FILE: the flags word of a keystore blob file (FORMAT.md §18.7).
blob_flags()
{
	od -An -tu4 -j 8 -N 4 "$1" | tr -d ' '
}

scenario() {
	need_cmd curl jq openssl setsid od || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	cofferd_start srv || return 1
	url=$COFFERD_URL
	ca=$COFFERD_CACERT
	ks=$COFFER_KEYSTORE
	note "cofferd at $url"
	printf 'tangerine glacier oboe falcon\n' >pw
	printf 'not her password\n' >pwbad
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw
	export COFFER_ESCROW_PASSWORD_FILE

	# ---- usage errors (2), before anything is asked or sent ----
	expect_exit 2 "$COFFER" escrow || return 1
	expect_grep 'give a subcommand' err || return 1
	expect_exit 2 "$COFFER" escrow frobnicate || return 1
	expect_exit 2 "$COFFER" escrow login --server "$url" || return 1
	expect_grep -- '--account' err || return 1
	expect_exit 2 no_tty env -u COFFER_SERVER "$COFFER" escrow register \
	    --account alice || return 1
	expect_grep -- '--server' err || return 1
	expect_exit 2 "$COFFER" escrow status --server "$url" || return 1
	expect_exit 2 "$COFFER" escrow audit --limit 0 || return 1
	expect_exit 2 "$COFFER" escrow audit --limit 1001 || return 1
	expect_exit 2 "$COFFER" escrow keys --limit 5 || return 1
	expect_exit 0 "$COFFER" escrow --help || return 1
	expect_grep '^examples:' out || return 1

	# ---- plain http:// only to loopback ----
	expect_exit 1 no_tty "$COFFER" escrow login --server \
	    http://192.0.2.1:8080 --account alice || return 1
	expect_grep "refusing 'http://192.0.2.1:8080'" err || return 1
	expect_grep 'https://' err || return 1
	expect_exit 1 no_tty "$COFFER" escrow register --server \
	    http://escrow.example.org --account alice || return 1
	expect_grep 'only to 127.0.0.0/8' err || return 1
	expect_exit 1 "$COFFER" escrow login --server ftp://127.0.0.1 \
	    --account alice || return 1
	[ ! -e "$ks" ] || fail "a refused URL made the keystore" || return 1

	# ---- register ----
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account alice --cacert "$ca" || return 1
	expect_grep "registered account 'alice' at $url" out || return 1
	expect_grep 'coffer escrow login' out || return 1
	[ ! -e "$ks" ] || fail "register made a keystore" || return 1
	expect_exit 1 "$COFFER" escrow register --server "$url" \
	    --account alice --cacert "$ca" || return 1
	expect_grep "already exists: account 'alice' already exists" err ||
	    return 1
	# A password too short is refused before the server.
	printf 'short\n' >pwshort
	expect_exit 1 env COFFER_ESCROW_PASSWORD_FILE=pwshort "$COFFER" \
	    escrow register --server "$url" --account bob --cacert "$ca" ||
	    return 1
	expect_grep 'account password is too easy to guess: a common word' \
	    err || return 1
	# So is one made of the account name (a word tied to the user).
	printf 'bobbobbob2026\n' >pwname
	expect_exit 1 env COFFER_ESCROW_PASSWORD_FILE=pwname "$COFFER" \
	    escrow register --server "$url" --account bob --cacert "$ca" ||
	    return 1
	expect_grep 'too easy to guess: a name tied to you' err || return 1
	expect_grep 'Use 4 or more random words' err || return 1
	expect_exit 1 env COFFER_ESCROW_PASSWORD_FILE=pw "$COFFER" escrow \
	    login --server "$url" --account bob --cacert "$ca" || return 1
	expect_grep 'wrong account name or password' err || return 1

	# ---- the CA: --cacert missing, unreadable, wrong ----
	expect_exit 1 env -u COFFER_CACERT "$COFFER" escrow register \
	    --server "$url" --account carol || return 1
	expect_grep 'network error: the certificate of https://127.0.0.1:[0-9]+ cannot be verified' err ||
	    return 1
	expect_grep -- 'give its certificate with --cacert FILE or COFFER_CACERT' err ||
	    return 1
	expect_exit 1 "$COFFER" escrow register --server "$url" \
	    --account carol --cacert "$PWD/no-such-ca.pem" || return 1
	expect_grep "cannot read the CA certificate '.*no-such-ca.pem'" err ||
	    return 1
	sh "$SRCDIR/tests/harness/tls.sh" othertls || return 1
	expect_exit 1 "$COFFER" escrow register --server "$url" \
	    --account carol --cacert othertls/ca.pem || return 1
	expect_grep "cannot be verified with the CA certificate" err ||
	    return 1
	# COFFER_CACERT instead of --cacert.
	expect_exit 0 env COFFER_CACERT="$ca" "$COFFER" escrow register \
	    --server "$url" --account carol || return 1

	# ---- login: wrong password saves nothing ----
	expect_exit 1 env COFFER_ESCROW_PASSWORD_FILE=pwbad "$COFFER" \
	    escrow login --server "$url" --account alice --cacert "$ca" ||
	    return 1
	expect_grep 'authentication failed: wrong account name or password' err ||
	    return 1
	[ ! -e "$ks" ] || fail "a failed login made the keystore" || return 1
	expect_exit 1 "$COFFER" escrow login --server "$url" \
	    --account nobody-here --cacert "$ca" || return 1
	expect_grep 'wrong account name or password' err || return 1

	# ---- login on a device without a keystore ----
	expect_exit 0 "$COFFER" escrow login --server "$url" --account alice \
	    --cacert "$ca" || return 1
	expect_grep "created the keystore '$ks'" out || return 1
	expect_grep "logged in to $url as 'alice' until 20[0-9-]+T" out ||
	    return 1
	expect_grep 'wrap key pool: 8 unused keys' out || return 1
	[ "$(file_mode "$ks")" = 700 ] ||
	    fail "keystore mode $(file_mode "$ks")" || return 1
	for f in escrow wrappool; do
		[ -f "$ks/$f" ] || fail "no $f in the keystore" || return 1
		[ "$(file_mode "$ks/$f")" = 600 ] ||
		    fail "$f has mode $(file_mode "$ks/$f")" || return 1
	done
	[ -z "$(find "$ks" -name '*.tmp')" ] ||
	    fail "temporary files left in the keystore" || return 1
	# Not readable by anyone else.
	if is_root; then
		if as_user cat "$ks/escrow" >/dev/null 2>&1; then
			fail "another user can read the token"
			return 1
		fi
	fi
	# No keystore password: a secret blob in the clear (flags 2).
	[ "$(blob_flags "$ks/escrow")" = 2 ] ||
	    fail "escrow file flags $(blob_flags "$ks/escrow")" || return 1
	[ "$(blob_flags "$ks/wrappool")" = 0 ] || return 1

	# ---- status ----
	expect_exit 0 "$COFFER" escrow status || return 1
	expect_grep "^server: +$url\$" out || return 1
	expect_grep '^account: +alice$' out || return 1
	expect_grep '^expires: +20[0-9-]+T[0-9:]+Z$' out || return 1
	expect_grep '^session: +accepted by the server$' out || return 1
	expect_grep "^CA file: +$ca\$" out || return 1
	expect_grep '^wrap keys: 8 unused in the pool$' out || return 1
	expect_exit 0 "$COFFER" escrow status --json || return 1
	URL=$url CA=$ca KS=$ks
	export URL CA KS
	expect_jq '.logged_in == true and .server == env.URL and
	    .account == "alice" and (.expires | type) == "number" and
	    .expires > now and (.expires_utc | test("Z$")) and
	    .session == "accepted" and .error == null and .cacert == env.CA
	    and .pool == 8 and .keystore == env.KS' out || return 1

	# ---- keys and audit ----
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	expect_jq '(.keys | length) == 8 and all(.keys[];
	    (.key_id | test("^[0-9a-f]{32}$")) and .kind == "wrap" and
	    (.created | type) == "number" and .destroyed == null and
	    .releases == 0 and has("label"))' out || return 1
	jq -r '.keys[].key_id' out | sort >keys.server
	expect_exit 0 "$COFFER" escrow keys || return 1
	expect_grep '^KEY ID +KIND +KEY SET +REPOSITORY +CREATED +RELEASES +DESTROYED +DEVICE$' \
	    out || return 1
	[ "$(grep -c ' wrap ' out)" -eq 8 ] || fail "want 8 wrap lines" ||
	    return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	expect_jq '(.events | length) >= 10 and all(.events[];
	    (.time | type) == "number" and (.event | type) == "string" and
	    (.ok | type) == "boolean" and has("key_id") and
	    has("address"))' out || return 1
	# Newest first: the wrap keys of the login, then the login, and
	# before it the failed one and the registration.
	expect_jq '.events[0].event == "wrapkey" and
	    ([.events[].event] | index("login")) <
	    ([.events[].event] | index("login_failed")) and
	    ([.events[].event] | index("login_failed")) <
	    ([.events[].event] | index("register")) and
	    ([.events[] | select(.event == "login")][0].address ==
	    "127.0.0.1")' out || return 1
	expect_exit 0 "$COFFER" escrow audit --limit 3 --json || return 1
	expect_jq '(.events | length) == 3' out || return 1
	expect_exit 0 "$COFFER" escrow audit --limit 2 || return 1
	expect_grep '^TIME +EVENT +KEY ID +OK +ADDRESS +DEVICE$' out || return 1
	expect_grep ' wrapkey +[0-9a-f]{32} +yes +127\.0\.0\.1 +[^ ]+$' out ||
	    return 1

	# ---- the pool: filled again when emptied ----
	expect_exit 0 "$COFFER" escrow pool || return 1
	expect_grep "^wrap key pool for $url: 8 unused keys$" out || return 1
	rm -f "$ks/wrappool"
	expect_exit 0 "$COFFER" escrow pool --json || return 1
	expect_jq '.server == env.URL and .account == "alice" and
	    .pool == 8 and .target == 8' out || return 1
	[ "$(file_mode "$ks/wrappool")" = 600 ] || return 1
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	expect_jq '(.keys | length) == 16' out || return 1

	# ---- lib/escrow's key calls against this server (PROTOCOL.md §5, §6) ----
	expect_exit 0 "$HELPERS/escrowprobe" || { cat out >&2; return 1; }
	cat out >&2
	kept=$(sed -n 's/^kept //p' out)
	[ -n "$kept" ] || fail "escrowprobe kept no key" || return 1
	expect_exit 0 "$COFFER" escrow audit --json --limit 40 || return 1
	for e in deposit release destroy unwrap wrapkey; do
		E=$e expect_jq 'any(.events[]; .event == env.E and .ok)' out ||
		    return 1
	done
	expect_jq 'any(.events[]; .event == "unwrap" and .ok == false)' out ||
	    return 1
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	expect_jq 'any(.keys[]; .kind == "key" and .releases == 1 and
	    .destroyed != null and .label == "escrowprobe")' out || return 1
	expect_exit 0 "$COFFER" escrow status --json || return 1
	expect_jq '.pool == 6' out || return 1

	# ---- the saved CA, and a wrong one given later ----
	expect_exit 1 "$COFFER" escrow status --cacert othertls/ca.pem ||
	    return 1
	expect_grep '^session: +unknown: the server is unreachable \(the certificate' out ||
	    return 1
	expect_exit 1 env COFFER_CACERT="$PWD/othertls/ca.pem" "$COFFER" \
	    escrow status --json || return 1
	expect_jq '.session == "unreachable" and
	    (.error | test("cannot be verified"))' out || return 1

	# ---- logout ends the session at the server ----
	cp "$ks/escrow" escrow.copy || return 1
	expect_exit 0 "$COFFER" escrow logout || return 1
	expect_grep "^logged out of $url\$" out || return 1
	[ ! -e "$ks/escrow" ] || fail "escrow file left after logout" ||
	    return 1
	[ -f "$ks/wrappool" ] || fail "logout removed the pool" || return 1
	expect_exit 1 "$COFFER" escrow status || return 1
	expect_grep 'not logged in' out || return 1
	expect_exit 1 "$COFFER" escrow status --json || return 1
	expect_jq '.logged_in == false' out || return 1
	expect_exit 1 "$COFFER" escrow keys || return 1
	expect_grep 'not logged in to the escrow server: no escrow login' err ||
	    return 1
	expect_exit 1 "$COFFER" escrow logout || return 1
	# The old token, put back, is refused by the server.
	cp escrow.copy "$ks/escrow" && chmod 600 "$ks/escrow" || return 1
	expect_exit 1 "$COFFER" escrow status || return 1
	expect_grep '^session: +refused by the server' out || return 1
	expect_exit 1 "$COFFER" escrow keys || return 1
	expect_grep "not logged in to $url .*coffer escrow login --server $url --account alice" err ||
	    return 1

	# ---- server and CA from the config file, then from the env ----
	mkdir -p "$XDG_CONFIG_HOME/coffer" || return 1
	printf 'server = %s\ncacert = %s\n' "$url" "$ca" \
	    >"$XDG_CONFIG_HOME/coffer/config" || return 1
	expect_exit 0 env -u COFFER_CACERT -u COFFER_SERVER "$COFFER" \
	    escrow login --account alice || return 1
	expect_grep "logged in to $url as 'alice'" out || return 1
	rm "$XDG_CONFIG_HOME/coffer/config" || return 1
	expect_exit 0 env COFFER_SERVER="$url" COFFER_CACERT="$ca" "$COFFER" \
	    escrow login --account carol || return 1
	expect_grep "logged in to $url as 'carol'" out || return 1
	# Another account cannot release alice's key: as if it did not exist.
	expect_exit 1 "$HELPERS/escrowprobe" release "$kept" || return 1
	expect_grep "not found.*has no key $kept for account 'carol'" err ||
	    return 1
	# Another account on the same server: alice's pool keys are dropped.
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	jq -r '.keys[].key_id' out | sort >keys.carol
	[ "$(wc -l <keys.carol)" -eq 8 ] || return 1
	expect_exit 0 "$COFFER" escrow status --json || return 1
	expect_jq '.account == "carol" and .pool == 8 and
	    .cacert == env.CA' out || return 1

	# ---- a keystore password wraps the token ----
	printf 'quartz meadow pelican anvil\n' >kspw
	expect_exit 0 no_tty env COFFER_NEW_PASSWORD_FILE=kspw "$COFFER" \
	    keystore passwd || return 1
	[ "$(blob_flags "$ks/escrow")" = 3 ] ||
	    fail "escrow file not wrapped by keystore passwd" || return 1
	expect_exit 1 no_tty "$COFFER" escrow status || return 1
	expect_grep 'no password given for keystore' err || return 1
	expect_exit 0 no_tty env COFFER_PASSWORD_FILE=kspw "$COFFER" \
	    escrow status || return 1
	expect_exit 0 no_tty env COFFER_PASSWORD_FILE=kspw "$COFFER" \
	    escrow login --server "$url" --account alice || return 1
	[ "$(blob_flags "$ks/escrow")" = 3 ] || return 1
	expect_grep "logged in to $url as 'alice'" out || return 1

	# ---- logout with the server down ----
	cofferd_stop srv || return 1
	expect_exit 1 no_tty env COFFER_PASSWORD_FILE=kspw "$COFFER" \
	    escrow status || return 1
	expect_grep '^session: +unknown: the server is unreachable \(cannot connect' out ||
	    return 1
	# A full pool needs no server; an empty one does.
	expect_exit 0 no_tty env COFFER_PASSWORD_FILE=kspw "$COFFER" \
	    escrow pool || return 1
	rm "$ks/wrappool" || return 1
	expect_exit 1 no_tty env COFFER_PASSWORD_FILE=kspw "$COFFER" \
	    escrow pool || return 1
	expect_grep 'network error: cannot connect to' err || return 1
	expect_grep 'the pool holds 0 unused wrap keys' err || return 1
	expect_exit 0 no_tty env COFFER_PASSWORD_FILE=kspw "$COFFER" \
	    escrow logout || return 1
	expect_grep '^forgot the login to .* \(the server was not told\)$' out ||
	    return 1
	expect_grep 'warning: could not tell .* to end the session' err ||
	    return 1
	[ ! -e "$ks/escrow" ] || return 1

	# ---- plain http:// to loopback works (cofferd --insecure-http) ----
	cofferd_start srv2 --insecure-http || return 1
	case $COFFERD_URL in http://127.0.0.1:*) ;; *)
		fail "insecure server at $COFFERD_URL"; return 1 ;;
	esac
	expect_exit 0 "$COFFER" escrow register --server "$COFFERD_URL" \
	    --account dave || return 1

	# ---- too many failed logins ----
	COFFER_KEYSTORE=$PWD/keystore2
	export COFFER_KEYSTORE
	n=0
	while [ "$n" -lt 12 ]; do
		expect_fail env COFFER_ESCROW_PASSWORD_FILE=pwbad "$COFFER" \
		    escrow login --server "$COFFERD_URL" --account dave ||
		    return 1
		grep -q 'too many failed logins' err && break
		n=$((n + 1))
	done
	expect_grep 'network error: .*too many failed logins; try again in [0-9]+ s' err ||
	    return 1
	# The right password is refused too while the limit holds.
	expect_exit 1 "$COFFER" escrow login --server "$COFFERD_URL" \
	    --account dave || return 1
	expect_grep 'try again in [0-9]+ s' err || return 1
	[ ! -e "$COFFER_KEYSTORE" ] || fail "failed logins made a keystore" ||
	    return 1
	cofferd_stop srv2 || return 1
	trap - EXIT
	return 0
}
