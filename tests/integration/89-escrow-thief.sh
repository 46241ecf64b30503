# SPDX-License-Identifier: ISC
# tests/integration/89-escrow-thief.sh
# Goal: issue #14, the stolen device, against a real cofferd on loopback
# (TLS, throwaway CA) with a short --fresh-auth.
#   The thief: device A backs up under custody escrow and escrow-wrap; its
#   keystore (no keystore password) and its card are copied.  With A's
#   stored session and no account password, restore fails with a message
#   that asks for the account password (fresh proof), and so do key
#   destroy, escrow destroy, escrow revoke and escrow passwd, changing
#   nothing; a deposit still works (a backup starts a new key set, since
#   appending to A's would need its key).
#   Fresh proof expires: right after a login a restore needs no password;
#   after --fresh-auth seconds the same restore asks for it, and with
#   COFFER_ESCROW_PASSWORD_FILE it is given once and the restore works.
#   The owner on device B: logs in, lists the devices (A and B, B marked
#   as this one), revokes A (A's token is refused at once), sees A's keys
#   with the repository and key set ids, destroys them with --device A
#   (first a dry run that changes nothing); the thief's copy can then not
#   be read even with the account password.

FRESH=3		# --fresh-auth seconds

# no_tty CMD...: run CMD without a controlling terminal.
no_tty()
{
	setsid -w "$@" </dev/null
}

# as_thief CMD...: CMD with the copied keystore and card, no password.
as_thief()
{
	no_tty env -u COFFER_ESCROW_PASSWORD_FILE \
	    COFFER_KEYSTORE="$PWD/thief-ks" COFFER_REPO="$PWD/thief-card" "$@"
}

# stale: wait until the last fresh proof is over.
stale()
{
	sleep $((FRESH + 1))
}

# live_keys DEVICE: how many live keys the server records for DEVICE
# (asked with the keystore $LK_KS, else $COFFER_KEYSTORE).
live_keys()
{
	env COFFER_KEYSTORE="${LK_KS:-$COFFER_KEYSTORE}" "$COFFER" escrow keys \
	    --json >lk.json || return 1
	jq --arg d "$1" '[.keys[] | select(.device == $d and
	    .destroyed == null)] | length' lk.json
}

scenario() {
	need_cmd curl jq openssl setsid || return 1
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

	# ---- device A backs up under escrow and escrow-wrap ----
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" --account alice \
	    --device A --json || return 1
	expect_jq '.device == "A" and .fresh_until > now' out || return 1
	expect_exit 0 "$COFFER" init --custody escrow || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup --custody escrow-wrap src || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	cp out keys.json
	esc=$(jq -r '.key_sets[] | select(.custody == "escrow") | .key_id' \
	    keys.json)
	wrap=$(jq -r '.key_sets[] | select(.custody == "escrow-wrap") |
	    .key_id' keys.json)
	[ -n "$esc" ] && [ -n "$wrap" ] || fail "no escrow key sets" ||
	    return 1
	repo_id=$(sed -n 's/^id \([0-9a-f]*\)$/\1/p' "$COFFER_REPO/config")
	[ "${#repo_id}" -eq 32 ] || fail "no repository id in the config" ||
	    return 1

	# Fresh from the login: a restore asks for nothing.
	expect_exit 0 no_tty env -u COFFER_ESCROW_PASSWORD_FILE "$COFFER" \
	    restore latest --target r-fresh || return 1
	expect_tree src r-fresh/src || return 1

	# ---- the thief copies the keystore and the card ----
	cp -a "$COFFER_KEYSTORE" thief-ks || return 1
	cp -a "$COFFER_REPO" thief-card || return 1
	stale

	# Fresh proof expired: the same restore now asks for the password.
	expect_exit 1 no_tty env -u COFFER_ESCROW_PASSWORD_FILE "$COFFER" \
	    restore latest --target r-stale || return 1
	expect_grep 'needs the account password' err || return 1
	[ ! -e r-stale/src ] || fail "restored without fresh proof" ||
	    return 1
	# With the password file it is given (once) and the restore works.
	expect_exit 0 "$COFFER" restore latest --target r-owner || return 1
	expect_tree src r-owner/src || return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	expect_jq 'any(.events[]; .event == "fresh" and .ok == true and
	    .device == "A")' out || return 1
	stale

	# ---- the thief: A's stored session, no password ----
	for snap in $(jq -r '.key_sets[].snapshots[]' keys.json); do
		expect_exit 1 as_thief "$COFFER" restore "$snap" \
		    --target "t-$snap" || return 1
		expect_grep 'account password' err || return 1
		expect_grep 'fresh proof' err || return 1
	done
	[ -z "$(find . -path './t-*' -type f)" ] ||
	    fail "the thief restored files" || return 1
	expect_exit 1 as_thief "$COFFER" key destroy "$esc" --yes || return 1
	expect_grep 'account password' err || return 1
	[ -d thief-card/sets/"$esc" ] ||
	    fail "a refused key destroy removed the set" || return 1
	expect_exit 1 as_thief "$COFFER" escrow destroy --device A --yes ||
	    return 1
	expect_grep 'account password' err || return 1
	expect_exit 1 as_thief "$COFFER" escrow revoke --all-others ||
	    return 1
	expect_grep 'account password' err || return 1
	expect_exit 1 as_thief "$COFFER" escrow passwd || return 1
	expect_grep 'account password' err || return 1
	# Nothing was destroyed: both keys of A are live.
	[ "$(live_keys A)" -ge 2 ] || fail "A's keys were touched" || return 1
	# A deposit still works: a write-only device backs up (into a new
	# key set: appending would need the key of A's set).
	n=$(live_keys A)
	expect_exit 0 as_thief "$COFFER" backup src || return 1
	expect_grep 'starting a new key set' err || return 1
	[ "$(live_keys A)" -eq $((n + 1)) ] ||
	    fail "the deposit was not recorded" || return 1

	# ---- the owner, on device B ----
	ksB=$PWD/ks-B
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow login \
	    --server "$url" --account alice --device B || return 1
	expect_grep 'this device: B' out || return 1
	LK_KS=$ksB
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow devices \
	    --json || return 1
	expect_jq '[.devices[].device] | (index("A") != null) and
	    (index("B") != null)' out || return 1
	expect_jq '[.devices[] | select(.current)] | length == 1 and
	    .[0].device == "B"' out || return 1
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow devices ||
	    return 1
	expect_grep '^\* [0-9a-f]{16} .* B$' out || return 1
	# The keys, with the device, the repository and the key set.
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow keys --json ||
	    return 1
	ESC=$esc WRAP=$wrap RID=$repo_id
	export ESC WRAP RID
	expect_jq 'any(.keys[]; .kind == "key" and .device == "A" and
	    .keyset_id == env.ESC and .repo_id == env.RID)' out || return 1
	expect_jq 'any(.keys[]; .kind == "wrap" and .device == "A" and
	    .keyset_id == env.WRAP and .repo_id == env.RID)' out || return 1
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow keys ||
	    return 1
	expect_grep "$esc +$repo_id .* A\$" out || return 1

	# Revoke A: its token (the thief's copy too) is refused at once.
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow revoke A \
	    --json || return 1
	expect_jq '.revoked >= 1' out || return 1
	expect_exit 1 as_thief "$COFFER" escrow status --json || return 1
	expect_jq '.session == "refused"' out || return 1
	expect_exit 1 "$COFFER" escrow keys || return 1
	expect_grep 'not logged in' err || return 1
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow devices \
	    --json || return 1
	expect_jq '[.devices[].device] | index("A") == null' out || return 1

	# Destroy A's keys without the card: a dry run first.
	n=$(live_keys A)
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow destroy \
	    --device A || return 1
	expect_grep '^would destroy [0-9a-f]{32}$' out || return 1
	expect_grep 'nothing was changed' out || return 1
	[ "$(live_keys A)" -eq "$n" ] || fail "the dry run destroyed keys" ||
	    return 1
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow destroy \
	    --device A --yes --json || return 1
	expect_jq ".dry_run == false and (.destroyed | length) == $n" out ||
	    return 1
	[ "$(live_keys A)" -eq 0 ] || fail "A has live keys left" || return 1

	# The thief's copy: unreadable even with the password.
	expect_exit 0 env COFFER_KEYSTORE="$PWD/thief-ks" "$COFFER" escrow \
	    login --server "$url" --account alice --device thief || return 1
	for snap in $(jq -r '.key_sets[].snapshots[]' keys.json); do
		expect_exit 1 env COFFER_KEYSTORE="$PWD/thief-ks" \
		    COFFER_REPO="$PWD/thief-card" "$COFFER" restore "$snap" \
		    --target "t2-$snap" || return 1
		expect_grep 'destroyed' err || return 1
	done
	[ -z "$(find . -path './t2-*' -type f)" ] ||
	    fail "the thief restored files with the password" || return 1
	# Every event names its device.
	expect_exit 0 env COFFER_KEYSTORE="$ksB" "$COFFER" escrow audit \
	    --json || return 1
	expect_jq 'any(.events[]; .event == "revoke" and .device == "B") and
	    any(.events[]; .event == "destroy" and .device == "B") and
	    any(.events[]; .event == "deposit" and .device == "A")' out ||
	    return 1
	cofferd_stop srv || return 1
}
