# SPDX-License-Identifier: ISC
# tests/integration/92-escrow-outage.sh
# Goal: a key that cannot be had now is not damage (issue #18, items 1, 2
# and 10).  With cofferd stopped, "snapshots" lists the escrow set's
# snapshot as key_unavailable (not damaged), says why, and exits 4;
# "check" checks the local set, says it skipped the escrow set and why,
# finds no problem and exits 4; "restore latest" takes the older local
# snapshot and says why the newer one was passed over.  The same once
# the key was destroyed at the server, and with only that set on a card
# "restore latest" fails naming the destruction, not "not found".  A
# tampered snapshot is still "damaged" (exit 1) next to an unavailable
# key.  "key destroy" takes the server's 32-digit id that "escrow keys"
# shows, and maps it to the set.  Fresh proof that cannot be given (no
# password file, no terminal, the login older than --fresh-auth) is
# key_unavailable too.

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
	printf 'tangerine glacier oboe falcon\n' >pw.alice
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	export COFFER_ESCROW_PASSWORD_FILE
	"$HELPERS/gentree" src || return 1

	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account alice || return 1
	# The hint names the CA certificate it was given.
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account bob --cacert "$COFFERD_CACERT" || return 1
	expect_grep -F -- "--cacert $COFFERD_CACERT" out || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" init --no-password || return 1
	# An older local snapshot, then a newer escrow one.
	expect_exit 0 "$COFFER" backup --custody local src || return 1
	expect_exit 0 "$COFFER" backup --custody escrow --json src || return 1
	esc=$(jq -r .key_id out)
	# A second one appends to the same set.
	expect_exit 0 "$COFFER" backup --custody escrow --json src || return 1
	[ "$(jq -r .key_id out)" = "$esc" ] ||
	    fail "the second escrow backup started another set" || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	loc_name=$(jq -r '.snapshots[0].name' out)
	esc_name=$(jq -r '.snapshots[1].name' out)
	esc_new=$(jq -r '.snapshots[2].name' out)
	export ESC="$esc"

	# ---- the server stopped: unavailable, not damaged ----
	cofferd_stop srv || return 1
	expect_exit 4 "$COFFER" snapshots || return 1
	expect_grep "^coffer snapshots: key unavailable: snapshot '$esc_name' \
and the others of its key set: key set $esc" err || return 1
	[ "$(grep -c 'key unavailable' err)" -eq 1 ] ||
	    fail "key unavailable said more than once for one set" || return 1
	expect_no_grep 'damaged' err || return 1
	expect_grep 'key unavailable: ' out || return 1
	expect_exit 4 "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots[] | select(.key_id == env.ESC) |
	    .readable == false and .damaged == false and
	    .key_unavailable == true and (.problem | length > 0)' out ||
	    return 1
	expect_jq '.snapshots[0].readable == true and
	    .snapshots[0].key_unavailable == false' out || return 1

	expect_exit 4 "$COFFER" check || return 1
	expect_grep "key set $esc.*skipped" err || return 1
	expect_no_grep 'problem' err || return 1
	expect_grep '^checked 1 of 2 key sets, .* distinct folders' out ||
	    return 1
	expect_grep '^skipped 1 key set whose key cannot be had now' out ||
	    return 1
	expect_exit 4 "$COFFER" check --json || return 1
	expect_jq '.ok == true and .problems == 0 and .key_sets == 2 and
	    .key_sets_checked == 1 and .key_sets_unavailable == 1' out ||
	    return 1

	# "latest" takes the local snapshot and says why.
	expect_exit 0 "$COFFER" restore latest --target rst1 || return 1
	expect_grep "'latest' is '$loc_name': 2 newer snapshots cannot be" \
	    err || return 1
	expect_tree src rst1/src || return 1

	# A damaged snapshot beside an unavailable key: damage wins (exit 1).
	cp -a "$COFFER_REPO" card-damaged || return 1
	f=$(find "card-damaged/sets" -path '*/snapshots/*' -type f |
	    grep -v "/$esc/" | head -n 1)
	[ -n "$f" ] || fail "no local snapshot file" || return 1
	printf 'X' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null
	expect_exit 1 env COFFER_REPO="$PWD/card-damaged" "$COFFER" snapshots ||
	    return 1
	expect_grep '^coffer snapshots: damaged: ' err || return 1
	expect_grep '^coffer snapshots: key unavailable: ' err || return 1

	# ---- the key destroyed at the server: unavailable, not damaged ----
	cofferd_start srv --listen "127.0.0.1:${url##*:}" || return 1
	expect_exit 0 "$COFFER" escrow keys --json || return 1
	ekid=$(jq -r --arg s "$esc" \
	    '.keys[] | select(.keyset_id == $s) | .key_id' out)
	[ "${#ekid}" -eq 32 ] || fail "no server id for $esc: '$ekid'" ||
	    return 1
	# Both ids in the text listing.
	expect_exit 0 "$COFFER" escrow keys || return 1
	expect_grep "$ekid .* $esc " out || return 1
	expect_exit 0 "$COFFER" escrow destroy "$ekid" --yes || return 1
	expect_exit 4 "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots[] | select(.key_id == env.ESC) |
	    .damaged == false and .key_unavailable == true and
	    (.problem | test("destroyed"))' out || return 1
	expect_exit 4 "$COFFER" check || return 1
	expect_grep 'destroyed' err || return 1
	expect_exit 0 "$COFFER" restore latest --target rst2 || return 1
	expect_grep "'latest' is '$loc_name'.*destroyed" err || return 1
	# Only the destroyed set on a card: the reason, not "not found".
	mkdir card2 && cp -a "$COFFER_REPO/config" "$COFFER_REPO/locks" \
	    card2/ && mkdir card2/sets &&
	    cp -a "$COFFER_REPO/sets/$esc" card2/sets/ || return 1
	expect_exit 1 env COFFER_REPO="$PWD/card2" "$COFFER" restore latest \
	    --target rst3 || return 1
	expect_grep "'latest': no snapshot can be opened here; the newest: \
snapshot '$esc_new': key set $esc: its key was destroyed" err || return 1
	expect_no_grep 'belongs to a key' err || return 1

	# ---- key destroy by the server's id ----
	expect_exit 0 "$COFFER" backup --custody escrow --scope backup \
	    --json src || return 1
	e2=$(jq -r .key_id out)
	expect_exit 0 "$COFFER" key list --json || return 1
	e2srv=$(jq -r --arg s "$e2" \
	    '.key_sets[] | select(.key_id == $s) | .escrow_key_id' out)
	expect_exit 0 "$COFFER" key destroy "$e2srv" || return 1
	expect_grep "server's key $e2srv is that of key set $e2" out ||
	    return 1
	[ -d "$COFFER_REPO/sets/$e2" ] || fail "a dry run destroyed" ||
	    return 1
	expect_exit 0 "$COFFER" key destroy "$e2srv" --yes || return 1
	[ ! -e "$COFFER_REPO/sets/$e2" ] ||
	    fail "key destroy by server id left the set" || return 1
	expect_exit 1 "$COFFER" key destroy 0123456789abcdef0123456789abcdef ||
	    return 1
	expect_grep 'escrow destroy' err || return 1

	# ---- fresh proof that cannot be given: unavailable, not damaged ----
	cofferd_stop srv || return 1
	cofferd_start srv --listen "127.0.0.1:${url##*:}" --fresh-auth 1 ||
	    return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account alice || return 1
	# A deposit needs no fresh proof; reading it back does.
	expect_exit 0 "$COFFER" backup --custody escrow --scope backup \
	    --json src || return 1
	NEWSET=$(jq -r .key_id out) && export NEWSET
	sleep 2
	expect_exit 4 env -u COFFER_ESCROW_PASSWORD_FILE setsid -w \
	    "$COFFER" snapshots --json </dev/null || return 1
	expect_jq '.snapshots[] | select(.key_id == env.NEWSET) |
	    .key_unavailable and (.problem | test("fresh proof"))' out ||
	    return 1
	expect_jq '[.snapshots[] | select(.damaged)] | length == 0' out ||
	    return 1
	expect_grep 'fresh proof' err || return 1
	expect_exit 4 env -u COFFER_ESCROW_PASSWORD_FILE setsid -w \
	    "$COFFER" check </dev/null || return 1
	expect_grep 'skipped' err || return 1
}
