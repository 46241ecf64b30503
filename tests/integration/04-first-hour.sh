# SPDX-License-Identifier: ISC
# tests/integration/04-first-hour.sh
# Goal: what a new user hit in the first hour (issue #18) stays fixed.
# - A card that is not mounted: init creates only the last folder and
#   says "is the card mounted?" when the one above is missing (creating
#   nothing); other commands say the same for a missing or empty parent,
#   and for an empty repository folder.
# - init says where the keystore is; without a terminal a keystore
#   password is asked for by naming COFFER_PASSWORD_FILE.
# - The keystore inside a folder backed up is left out, once, and said;
#   named as a path it is backed up.
# - key add-passphrase without KEY_ID and several sets lists them and
#   changes nothing; the keystore is opened before the new passphrase
#   is read; restore --passphrase-file of a set without a slot names
#   the set that has one.
# - "restored 1 file", a 3-digit id prefix, "distinct folders".
# - Ctrl-C during a backup on a terminal ends the progress line and says
#   what the run left; the status is that of SIGINT.

scenario() {
	need_cmd script perl setsid || return 1
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF

	# ---- a card that is not mounted ----
	expect_exit 1 "$COFFER" --repo "$PWD/media/card/coffer" init \
	    --no-password || return 1
	expect_grep "'$PWD/media/card' does not exist: is the card mounted\?" \
	    err || return 1
	[ ! -e media ] || fail "init created the missing parents" || return 1
	expect_exit 1 "$COFFER" --repo "$PWD/media/card/coffer" snapshots ||
	    return 1
	expect_grep "'$PWD/media/card' does not exist: is the card mounted\?" \
	    err || return 1
	mkdir -p media/card || return 1
	expect_exit 1 "$COFFER" --repo "$PWD/media/card/coffer" backup . ||
	    return 1
	expect_grep "'$PWD/media/card' is empty: is the card mounted\?" err ||
	    return 1
	expect_no_grep "no repository at '[^']*' \(create" err || return 1
	expect_exit 1 "$COFFER" --repo "$PWD/media/card" snapshots || return 1
	expect_grep "is an empty folder, not a coffer repository: is the card \
mounted\?" err || return 1
	# The parent exists: init makes the repository folder, and says
	# where the keystore is.
	expect_exit 0 "$COFFER" --repo "$PWD/media/card/coffer" init \
	    --no-password || return 1
	expect_grep "keystore '$COFFER_KEYSTORE'" out || return 1
	expect_exit 1 "$COFFER" --repo "$PWD/media/card/coffer" init \
	    --no-password || return 1
	expect_grep 'already holds a coffer repository' err || return 1
	rm -rf media

	# ---- the keystore inside a folder backed up ----
	home=$PWD/h
	mkdir -p "$home/docs" && echo letter >"$home/docs/a.txt" || return 1
	KS=$home/.local/share/coffer
	expect_exit 0 env COFFER_KEYSTORE="$KS" "$COFFER" init --no-password ||
	    return 1
	expect_exit 0 env COFFER_KEYSTORE="$KS" "$COFFER" backup "$home" ||
	    return 1
	expect_grep "left out the keystore '$KS'" out || return 1
	[ "$(grep -c 'keystore' out)" -eq 1 ] ||
	    fail "the keystore note is not said once" || return 1
	expect_exit 0 env COFFER_KEYSTORE="$KS" "$COFFER" ls latest || return 1
	expect_grep 'docs/a.txt' out || return 1
	expect_no_grep '\.local/share/coffer' out || return 1
	expect_exit 0 env COFFER_KEYSTORE="$KS" "$COFFER" backup --json \
	    "$home" || return 1
	export KS
	expect_jq '.keystore_excluded == env.KS and .excluded >= 1' out ||
	    return 1
	# Named as a path, it is backed up.
	expect_exit 0 env COFFER_KEYSTORE="$KS" "$COFFER" backup "$KS" ||
	    return 1
	expect_no_grep 'left out the keystore' out || return 1
	expect_exit 0 env COFFER_KEYSTORE="$KS" "$COFFER" ls latest || return 1
	expect_grep '\.local/share/coffer/repo-' out || return 1
	rm -rf "$COFFER_REPO"

	# ---- small things ----
	"$HELPERS/gentree" src || return 1
	mkdir one && echo x >one/f || return 1
	expect_exit 0 "$COFFER" init --no-password || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup one || return 1
	expect_exit 0 "$COFFER" restore latest --target r1 || return 1
	expect_grep '^restored 1 file, 1 folder, 0 other' out || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	p3=$(jq -r '.snapshots[0].id[0:3]' out)
	expect_exit 1 "$COFFER" ls "$p3" || return 1
	expect_grep "an id prefix needs at least 4 hex digits" err || return 1
	expect_exit 0 "$COFFER" check || return 1
	expect_grep ' distinct folders, ' out || return 1

	# ---- key add-passphrase: which set, and in which order ----
	expect_exit 0 "$COFFER" backup --scope backup one --json || return 1
	oneoff=$(jq -r .key_id out)
	expect_exit 0 "$COFFER" snapshots --json || return 1
	dev=$(jq -r '.snapshots[0].key_id' out)
	printf 'tangerine glacier oboe falcon\n' >pp
	before=$(find "$COFFER_REPO" -type f -exec md5sum {} + | sort)
	expect_exit 1 "$COFFER" key add-passphrase --passphrase-file pp ||
	    return 1
	expect_grep "opens 2 key sets" err || return 1
	expect_grep "$dev \(device; 2 snapshots, newest .*: one\)" err ||
	    return 1
	expect_grep "$oneoff \(backup; 1 snapshot" err || return 1
	after=$(find "$COFFER_REPO" -type f -exec md5sum {} + | sort)
	[ "$before" = "$after" ] ||
	    fail "add-passphrase without KEY_ID changed the card" || return 1
	# No terminal and no file: nothing written, and not said to be.
	expect_exit 1 setsid -w "$COFFER" key add-passphrase "$dev" \
	    </dev/null || return 1
	expect_grep 'no terminal to ask for the recovery passphrase' err ||
	    return 1
	expect_no_grep 'written' out || return 1
	expect_exit 0 "$COFFER" key add-passphrase "$dev" \
	    --passphrase-file pp || return 1
	expect_grep "key set $dev: recovery passphrase slot written" out ||
	    return 1
	# Restore the one-off set with the passphrase: it has no slot; the
	# message names the set that has one.
	"$COFFER" snapshots --json >snaps.json || return 1
	n1=$(jq -r --arg k "$oneoff" \
	    '[.snapshots[] | select(.key_id == $k)][0].name' snaps.json)
	expect_exit 1 env COFFER_KEYSTORE="$PWD/nokeys" "$COFFER" \
	    --passphrase-file pp restore "$n1" --target r2 || return 1
	expect_grep "key set $oneoff has no recovery passphrase.*with a \
recovery passphrase: $dev" err || return 1
	# A keystore password, given wrong, fails before the new
	# passphrase is even read (a weak one would be refused otherwise).
	printf 'cobalt yodel bramble sprocket\n' >kpw
	expect_exit 0 env COFFER_NEW_PASSWORD_FILE=kpw "$COFFER" keystore \
	    passwd || return 1
	printf 'letmein\n' >weak
	printf 'wrong one\n' >bad
	expect_exit 1 env COFFER_PASSWORD_FILE=bad "$COFFER" key \
	    add-passphrase "$dev" --passphrase-file weak || return 1
	expect_grep 'wrong password' err || return 1
	expect_no_grep 'guess' err || return 1
	# Without a terminal and without the file: named.
	expect_exit 1 setsid -w "$COFFER" snapshots </dev/null || return 1
	expect_grep 'COFFER_PASSWORD_FILE' err || return 1

	# ---- Ctrl-C during a backup on a terminal ----
	export COFFER_PASSWORD_FILE="$PWD/kpw"
	cat >intr.sh <<EOF
(head -c 3000000 /dev/zero; sleep 4) |
    perl -e '\$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
    "$COFFER" backup --stdin --stdin-name z &
p=\$!
sleep 1.5
kill -INT \$p
wait \$p
echo "status=\$?"
EOF
	script -qec "sh intr.sh" /dev/null >tty.out 2>&1 ||
	    fail "script failed: $(cat tty.out)" || return 1
	tr -d '\r' <tty.out >tty.txt
	expect_grep -a '\[0:0[0-9]\] backup ' tty.txt || return 1
	expect_grep -a "^coffer backup: interrupted: no new snapshot" tty.txt ||
	    return 1
	expect_grep -a '^status=130$' tty.txt || return 1
	# The progress line ended before the message: it is on a line of
	# its own, after a line that holds the progress.  (Ctrl-C first says
	# the backup is stopping; what it kept follows when it has.)
	expect_grep -a '^coffer backup: interrupted: no new snapshot; .* kept, and the next backup into key set [0-9a-f]{16} continues from there$' tty.txt || return 1
	grep -a -B1 '^coffer backup: stopping' tty.txt | head -n 1 |
	    grep -a -q 'backup .*files' ||
	    fail "the message does not follow an ended progress line" ||
	    return 1
}
