# SPDX-License-Identifier: ISC
# tests/integration/21-tamper.sh
# Goal: damage on the card is detected and named, never restored as wrong
# bytes.  A flipped byte in every pack: "check --read-data" fails naming a
# damaged pack, and restore fails while every file it did write matches the
# source.  A truncated snapshot: snapshots, check and restore fail naming
# it.  A missing pack: check --read-data and restore fail.
scenario() {
	"$HELPERS/gentree" src || return 1
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	cp -a "$COFFER_REPO" pristine || return 1

	find "$COFFER_REPO" -path '*packs*' -type f >packs.txt
	[ -s packs.txt ] || fail "no pack files under $COFFER_REPO" || return 1

	# 1. One flipped byte in the middle of every pack.
	while IFS= read -r p; do
		flip_byte "$p" || return 1
	done <packs.txt
	expect_fail "$COFFER" check --read-data || return 1
	names_one_of packs.txt || return 1
	expect_fail "$COFFER" restore latest --target rst1 || return 1
	restored_files_match src rst1/src || return 1

	# 2. A truncated snapshot.
	reset_repo || return 1
	snaps=$(find "$COFFER_REPO" -path '*snapshots*' -type f)
	[ "$(printf '%s\n' "$snaps" | wc -l)" -eq 1 ] ||
	    fail "want one snapshot file, found: $snaps" || return 1
	name=$(jq -r '.snapshots[0].name' snapshots.json)
	truncate -s "$(($(file_size "$snaps") / 2))" "$snaps" || return 1
	expect_fail "$COFFER" snapshots || return 1
	names_snapshot "$snaps" "$name" || return 1
	expect_fail "$COFFER" check || return 1
	names_snapshot "$snaps" "$name" || return 1
	expect_fail "$COFFER" restore "$name" --target rst2 || return 1
	names_snapshot "$snaps" "$name" || return 1
	restored_files_match src rst2/src || return 1

	# 3. A missing pack.
	reset_repo || return 1
	victim=$(find "$COFFER_REPO" -path '*packs*' -type f | sort | head -n 1)
	rm -f "$victim" || return 1
	expect_fail "$COFFER" check --read-data || return 1
	expect_fail "$COFFER" restore latest --target rst3 || return 1
	restored_files_match src rst3/src || return 1

	# Sanity: the pristine copy still restores completely.
	reset_repo || return 1
	expect_exit 0 "$COFFER" restore latest --target rst4 || return 1
	# shellcheck disable=SC2046
	expect_tree src rst4/src $(owner_opt)
}

# Put the undamaged repository back, and note its snapshot list.
reset_repo()
{
	rm -rf "$COFFER_REPO" && cp -a pristine "$COFFER_REPO" || return 1
	expect_exit 0 "$COFFER" snapshots --json && cp out snapshots.json
}

# names_one_of LIST-FILE: out or err names at least one of the files listed
# in LIST-FILE (by its base name, so any longer form of the path does too).
names_one_of()
{
	while IFS= read -r _p; do
		_p=${_p##*/}
		grep -qF -- "$_p" out err && return 0
		# Also by its stem, "ab12cd" for "ab12cd.pack".
		_p=${_p%%.*}
		[ ${#_p} -ge 8 ] && grep -qF -- "$_p" out err && return 0
	done <"$1"
	fail "no damaged pack named in the output of check"
	show_output
	return 1
}

# names_snapshot FILE NAME: err names the snapshot file or the snapshot.
names_snapshot()
{
	grep -qF -- "${1##*/}" err && return 0
	grep -qF -- "$2" err && return 0
	fail "error does not name snapshot '$2' (file ${1##*/})"
	show_output
	return 1
}
