# SPDX-License-Identifier: ISC
# tests/integration/84-escrow-flow.sh
# Goal: the whole method of MISSION.md [S1]-[S5] end to end, with a real
# cofferd on loopback over TLS (throwaway CA): register, log in, back up
# under every custody; the keystore holds no key of an escrow or
# escrow-wrap set; delete the keystore, log in again (a new keystore), and
# every snapshot restores bit for bit; a second account can restore none
# of them and is told so; destroying one set's key at the server (key
# destroy --yes) makes its snapshots unrestorable with a clear message and
# leaves the others; appending to an escrow set releases its key; with the
# server stopped an escrow backup fails before writing anything, and an
# escrow-wrap backup still succeeds (a new key set sealed to a pooled key,
# and says so); not logged in, restore says to log in.

scenario() {
	need_cmd curl jq openssl || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	cofferd_start srv || return 1
	url=$COFFERD_URL
	COFFER_CACERT=$COFFERD_CACERT
	export COFFER_CACERT
	ks=$COFFER_KEYSTORE
	printf 'tangerine glacier oboe falcon\n' >pw.alice
	printf 'bramble cobalt yodel sprocket\n' >pw.mallory
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	export COFFER_ESCROW_PASSWORD_FILE
	"$HELPERS/gentree" src || return 1

	# ---- [S1] register and log in ----
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account alice --json || return 1
	expect_jq '.account == "alice" and .server == env.COFFERD_URL' out ||
	    return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account alice --json || return 1
	expect_jq '.account == "alice" and .server == env.COFFERD_URL and
	    .expires > now and .keystore_created == true and .pool == 8' out ||
	    return 1

	# ---- init with a default custody: config version 3 ----
	expect_exit 0 "$COFFER" init --custody escrow || return 1
	expect_grep '^version 3$' "$COFFER_REPO/config" || return 1
	expect_grep '^custody escrow$' "$COFFER_REPO/config" || return 1

	# ---- [S2][S3] escrow: deposited, key id on the card, no local copy
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	cp out keys1.json
	expect_jq '.key_sets | length == 1 and .[0].custody == "escrow" and
	    .[0].key_present == false and
	    (.[0].escrow_key_id | test("^[0-9a-f]{32}$")) and
	    .[0].escrow_server == env.COFFERD_URL' keys1.json || return 1
	esc=$(jq -r '.key_sets[0].key_id' keys1.json)
	esc_ekid=$(jq -r '.key_sets[0].escrow_key_id' keys1.json)
	# The keystore holds no key file for it, and no repository secret
	# was needed.
	[ ! -e "$ks/set-$esc.key" ] ||
	    fail "escrow key set $esc has a key file in the keystore" ||
	    return 1
	# The card names the server's key id in the clear (FORMAT.md §6.3).
	grep -q "$esc_ekid" "$COFFER_REPO/sets/$esc/keyinfo" ||
	    fail "keyinfo does not carry the escrow key id" || return 1
	# The server holds it under alice's account.
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	ESC_EKID=$esc_ekid && export ESC_EKID
	expect_jq '.keys | any(.key_id == env.ESC_EKID and .kind == "key")' \
	    out || return 1

	# ---- appending to it releases the key (audited), same key set ----
	printf 'changed\n' >src/new-file
	expect_exit 0 "$COFFER" backup src || return 1
	expect_grep "key set $esc" out || return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	expect_jq '.events | any(.event == "release" and
	    .key_id == env.ESC_EKID)' out || return 1

	# ---- escrow-wrap and local+escrow, per backup ----
	expect_exit 0 "$COFFER" backup --custody escrow-wrap src || return 1
	expect_exit 0 "$COFFER" backup --custody local+escrow src || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	cp out keys2.json
	wrap=$(jq -r '.key_sets[] | select(.custody == "escrow-wrap") |
	    .key_id' keys2.json)
	both=$(jq -r '.key_sets[] | select(.custody == "local+escrow") |
	    .key_id' keys2.json)
	[ -n "$wrap" ] && [ -n "$both" ] ||
	    fail "missing escrow-wrap or local+escrow key set" || return 1
	[ ! -e "$ks/set-$wrap.key" ] ||
	    fail "escrow-wrap key set has a key file here" || return 1
	[ -e "$ks/set-$both.key" ] ||
	    fail "local+escrow key set has no key file here" || return 1
	# The sealed key (114 bytes) is on the card, not a key id alone.
	ksize=$(file_size "$COFFER_REPO/sets/$wrap/keyinfo")
	[ "$ksize" -gt 200 ] ||
	    fail "escrow-wrap keyinfo is $ksize bytes: no sealed key?" ||
	    return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots | length == 4' out || return 1
	jq -r '.snapshots[].name' out >names

	# ---- [S4] a new device: no keystore, log in, restore everything ----
	rm -rf "$ks"
	expect_exit 1 "$COFFER" snapshots || return 1
	expect_grep 'escrow login' err || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account alice || return 1
	[ "$(file_mode "$ks")" = 700 ] ||
	    fail "new keystore is not 0700" || return 1
	i=0
	while read -r name; do
		i=$((i + 1))
		expect_exit 0 "$COFFER" restore "$name" --target "rst$i" ||
		    return 1
	done <names
	# The last one holds src with new-file; every one equals src as it
	# was at its time: the later three equal src now.
	expect_tree src rst4/src || return 1
	expect_tree src rst3/src || return 1
	expect_tree src rst2/src || return 1
	[ -d rst1/src ] && [ ! -e rst1/src/new-file ] ||
	    fail "first snapshot restored wrongly" || return 1

	# ---- logged out: restore says to log in ----
	expect_exit 0 "$COFFER" escrow logout --json || return 1
	expect_jq '.server_told == true' out || return 1
	expect_exit 1 "$COFFER" restore "$(head -n 1 names)" --target nope ||
	    return 1
	expect_grep 'log in' err || return 1
	[ ! -e nope/src ] || fail "restored without a login" || return 1

	# ---- a second account restores none of alice's sets ----
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.mallory
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account mallory || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account mallory || return 1
	for name in $(cat names); do
		expect_exit 1 "$COFFER" restore "$name" --target "m-$name" ||
		    return 1
	done
	expect_grep 'holds no key' err || return 1
	[ -z "$(find . -path './m-*' -type f)" ] ||
	    fail "another account restored files" || return 1

	# ---- destroy one set at the server; the others stay ----
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account alice || return 1
	# Keep a copy of the card: destroying must also beat an old copy.
	cp -a "$COFFER_REPO" card-copy || return 1
	expect_exit 0 "$COFFER" key destroy "$esc" --yes || return 1
	expect_grep 'escrow server' out || return 1
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	expect_jq '.keys | any(.key_id == env.ESC_EKID and
	    .destroyed != null)' out || return 1
	expect_exit 1 env COFFER_REPO="$PWD/card-copy" "$COFFER" restore \
	    "$(head -n 1 names)" --target gone || return 1
	expect_grep 'destroyed' err || return 1
	[ ! -e gone/src ] || fail "a destroyed key restored data" || return 1
	rm -rf rst3
	expect_exit 0 "$COFFER" restore "$(sed -n 3p names)" --target rst3 ||
	    return 1
	expect_tree src rst3/src || return 1

	# ---- the server stopped ----
	cofferd_stop srv || return 1
	before=$(find "$COFFER_REPO" -type f | sort | md5sum)
	# escrow: needs the server; nothing written.
	expect_exit 1 "$COFFER" backup --custody escrow src || return 1
	expect_grep 'nothing was written' err || return 1
	after=$(find "$COFFER_REPO" -type f | sort | md5sum)
	[ "$before" = "$after" ] ||
	    fail "a failed escrow backup changed the card" || return 1
	# escrow-wrap: a pooled public key; a new key set, said so.
	expect_exit 0 "$COFFER" backup --custody escrow-wrap src || return 1
	expect_exit 0 "$COFFER" backup --custody escrow-wrap src || return 1
	expect_grep 'new key set' err || return 1
	# Restoring it needs the server again, at the same address.
	cofferd_start srv --listen "127.0.0.1:${url##*:}" || return 1
	expect_exit 0 "$COFFER" restore latest --target rst-offline ||
	    return 1
	expect_tree src rst-offline/src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
}
