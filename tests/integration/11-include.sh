# SPDX-License-Identifier: ISC
# tests/integration/11-include.sh
# Goal: "restore --include" restores exactly the named subtree or file; a
# restore into a target that already holds files refuses without
# --overwrite and leaves those files alone; with --overwrite it succeeds.
scenario() {
	"$HELPERS/gentree" src || return 1
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1

	# A subdirectory: it, its parents, nothing else.
	expect_exit 0 "$COFFER" restore latest --target rst1 \
	    --include src/deep || return 1
	# shellcheck disable=SC2046
	expect_tree src/deep rst1/src/deep $(owner_opt) || return 1
	only_under rst1 src/deep || return 1

	# A single file.
	expect_exit 0 "$COFFER" restore latest --target rst2 \
	    --include src/f300k || return 1
	expect_same src/f300k rst2/src/f300k || return 1
	only_under rst2 src/f300k || return 1

	# Several at once: a file with an awkward name and a directory.
	expect_exit 0 "$COFFER" restore latest --target rst3 \
	    --include 'src/names/with space' --include src/hard || return 1
	expect_same 'src/names/with space' 'rst3/src/names/with space' ||
	    return 1
	# shellcheck disable=SC2046
	expect_tree src/hard rst3/src/hard $(owner_opt) || return 1
	[ "$(find rst3 -mindepth 1 | grep -cv '^rst3/src/hard')" -eq 3 ] ||
	    fail "restored more than asked for:" \
	    "$(find rst3 -mindepth 1 | grep -v '^rst3/src/hard')" || return 1

	# A path that is not in the snapshot is an error naming it.
	expect_exit 1 "$COFFER" restore latest --target rst4 \
	    --include src/no-such-file || return 1
	expect_grep 'no-such-file' err || return 1

	# A target that already holds files (one of them in the way).
	mkdir -p busy/src || return 1
	echo "keep me" >busy/src/f4k || return 1
	echo "unrelated" >busy/unrelated || return 1
	touch -d '2001-02-03 04:05:06' busy/src/f4k busy/unrelated || return 1
	cp -p busy/src/f4k keep.f4k && cp -p busy/unrelated keep.unrelated ||
	    return 1
	expect_exit 1 "$COFFER" restore latest --target busy || return 1
	expect_nonempty err || return 1
	expect_same keep.f4k busy/src/f4k || return 1
	expect_same keep.unrelated busy/unrelated || return 1
	[ "$(stat -c %Y busy/src/f4k)" = "$(stat -c %Y keep.f4k)" ] ||
	    fail "a refused restore touched busy/src/f4k" || return 1

	expect_exit 0 "$COFFER" restore latest --target busy --overwrite ||
	    return 1
	# shellcheck disable=SC2046
	expect_tree src busy/src $(owner_opt) || return 1
	# Files that are not in the snapshot stay.
	expect_same keep.unrelated busy/unrelated || return 1
}

# only_under TARGET PATH: everything restored under TARGET is PATH, one of
# its parents, or inside it.
only_under()
{
	_extra=$(find "$1" -mindepth 1 | while IFS= read -r _p; do
		_r=${_p#"$1"/}
		case $2/ in
		"$_r"/*) continue ;;	# a parent of PATH (or PATH)
		esac
		case $_r in
		"$2"/*) continue ;;	# inside PATH
		esac
		printf '%s\n' "$_r"
	done)
	[ -z "$_extra" ] || fail "restored more than $2 into $1:" "$_extra"
}
