# SPDX-License-Identifier: ISC
# tests/integration/91-escrow-account.sh
# Goal: issue #14, the account commands of the client against a real
# cofferd on loopback (TLS, throwaway CA):
#   - a wrap key taken from the pool while the server is down is bound to
#     its key set (repository and key set ids) at the next escrow call;
#   - revoke --id ends that one session, --all-others every other one;
#   - passwd asks the current password (fresh proof) and the new one,
#     ends every other session, and only the new password logs in;
#   - delete-account without a terminal and without --yes changes
#     nothing; with --yes the account is gone (every session refused, no
#     login, the name stays taken) and the login is forgotten here.  That
#     the server destroys its keys is 87-server-authority's to check.

# no_tty CMD...: run CMD without a controlling terminal.
no_tty()
{
	setsid -w "$@" </dev/null
}

scenario() {
	need_cmd curl jq openssl setsid || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	cofferd_start srv || return 1
	url=$COFFERD_URL
	COFFER_CACERT=$COFFERD_CACERT
	export COFFER_CACERT
	printf 'correct horse battery staple 14\n' >pw
	printf 'another long passphrase 2026\n' >pw2
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw
	export COFFER_ESCROW_PASSWORD_FILE
	"$HELPERS/gentree" src || return 1
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account carol || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" --account carol \
	    --device desk || return 1
	expect_exit 0 "$COFFER" init || return 1
	repo_id=$(sed -n 's/^id \([0-9a-f]*\)$/\1/p' "$COFFER_REPO/config")

	# ---- a pooled wrap key, taken offline, is bound later ----
	cofferd_stop srv || return 1
	expect_exit 0 "$COFFER" backup --custody escrow-wrap src || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	wrap=$(jq -r '.key_sets[0].key_id' out)
	ekid=$(jq -r '.key_sets[0].escrow_key_id' out)
	[ -f "$COFFER_KEYSTORE/wrapbind" ] ||
	    fail "the offline bind was not remembered" || return 1
	cofferd_start srv --listen "127.0.0.1:${url##*:}" || return 1
	expect_exit 0 "$COFFER" escrow pool || return 1
	[ ! -e "$COFFER_KEYSTORE/wrapbind" ] ||
	    fail "the remembered bind was not sent" || return 1
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	EKID=$ekid WRAP=$wrap RID=$repo_id
	export EKID WRAP RID
	expect_jq 'any(.keys[]; .key_id == env.EKID and .kind == "wrap" and
	    .keyset_id == env.WRAP and .repo_id == env.RID and
	    .device == "desk")' out || return 1

	# ---- revoke --id and --all-others ----
	for d in one two three; do
		expect_exit 0 env COFFER_KEYSTORE="$PWD/ks-$d" "$COFFER" \
		    escrow login --server "$url" --account carol --device "$d" ||
		    return 1
	done
	expect_exit 0 "$COFFER" escrow devices --json || return 1
	id_one=$(jq -r '.devices[] | select(.device == "one") | .id' out)
	expect_exit 0 "$COFFER" escrow revoke --id "$id_one" --json ||
	    return 1
	expect_jq '.revoked == 1' out || return 1
	expect_exit 1 env COFFER_KEYSTORE="$PWD/ks-one" "$COFFER" escrow \
	    status || return 1
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks-two" "$COFFER" escrow \
	    status || return 1
	expect_exit 0 "$COFFER" escrow revoke --all-others || return 1
	expect_grep '^ended 2 sessions' out || return 1
	expect_exit 1 env COFFER_KEYSTORE="$PWD/ks-two" "$COFFER" escrow \
	    status || return 1
	expect_exit 0 "$COFFER" escrow devices --json || return 1
	expect_jq '(.devices | length) == 1 and .devices[0].current and
	    .devices[0].device == "desk"' out || return 1
	expect_exit 2 "$COFFER" escrow revoke one --all-others || return 1
	expect_exit 2 "$COFFER" escrow destroy 0123 || return 1

	# ---- passwd ----
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks-four" "$COFFER" escrow \
	    login --server "$url" --account carol --device four || return 1
	# A weak new password is refused before the server is asked.
	printf 'carol1234\n' >pwweak
	expect_exit 1 no_tty env COFFER_ESCROW_NEW_PASSWORD_FILE="$PWD/pwweak" \
	    "$COFFER" escrow passwd || return 1
	expect_grep 'too easy to guess' err || return 1
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks-four" "$COFFER" escrow \
	    status || return 1
	expect_exit 0 no_tty env COFFER_ESCROW_NEW_PASSWORD_FILE="$PWD/pw2" \
	    "$COFFER" escrow passwd || return 1
	expect_grep 'every other session' out || return 1
	expect_exit 1 env COFFER_KEYSTORE="$PWD/ks-four" "$COFFER" escrow \
	    status || return 1
	expect_exit 0 "$COFFER" escrow status || return 1
	expect_exit 1 env COFFER_KEYSTORE="$PWD/ks-five" "$COFFER" escrow \
	    login --server "$url" --account carol || return 1
	expect_grep 'wrong account name or password' err || return 1
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw2
	expect_exit 0 env COFFER_KEYSTORE="$PWD/ks-five" "$COFFER" escrow \
	    login --server "$url" --account carol || return 1

	# ---- delete-account ----
	expect_exit 0 "$COFFER" backup --custody escrow src || return 1
	expect_exit 1 no_tty "$COFFER" escrow delete-account || return 1
	expect_grep 'nothing changed' err || return 1
	expect_exit 0 "$COFFER" escrow status || return 1
	expect_exit 0 "$COFFER" escrow delete-account --yes || return 1
	[ ! -e "$COFFER_KEYSTORE/escrow" ] ||
	    fail "the login of a deleted account was kept" || return 1
	expect_exit 1 env COFFER_KEYSTORE="$PWD/ks-five" "$COFFER" escrow \
	    status || return 1
	expect_exit 1 "$COFFER" escrow login --server "$url" \
	    --account carol || return 1
	expect_exit 1 "$COFFER" escrow register --server "$url" \
	    --account carol || return 1
	expect_grep 'already exists' err || return 1
	cofferd_stop srv || return 1
}
