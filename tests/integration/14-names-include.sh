# SPDX-License-Identifier: ISC
# tests/integration/14-names-include.sh
# Goal: every option that takes a path inside a snapshot (restore
# --include, restore --to-stdout --include, ls PATH) accepts the path as
# 'coffer ls' prints it as well as its raw bytes, for names holding a
# newline, a tab, a backslash, invalid UTF-8, the text "\x0a", quotes and
# spaces; find matches either form.  When the printed form and the raw
# bytes name two different entries, the printed form wins, with a
# warning naming the other.
scenario() {
	mkdir -p src || return 1
	nl='
'
	tab=$(printf '\t')
	bad=$(printf 'bad\377\376name')
	# name|how ls prints it
	for n in "new${nl}line" "a${tab}tab" 'back\slash' "$bad" \
	    'lit\x0a' 'it'"'"'s "quoted"' 'with  spaces ' 'a\x41'; do
		printf 'content of %s\n' "$n" >"src/$n" || return 1
	done
	mkdir "src/dir${nl}x" && echo deep >"src/dir${nl}x/f" || return 1
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" ls latest || return 1
	cp out ls.txt
	# What ls prints for each, then that text given back to each option.
	check_both "new${nl}line" 'src/new\x0aline' || return 1
	check_both "a${tab}tab" 'src/a\x09tab' || return 1
	check_both 'back\slash' 'src/back\\slash' || return 1
	check_both "$bad" "src/$bad" || return 1
	check_both 'lit\x0a' 'src/lit\\x0a' || return 1
	check_both 'it'"'"'s "quoted"' 'src/it'"'"'s "quoted"' || return 1
	check_both 'with  spaces ' 'src/with  spaces ' || return 1
	check_both 'a\x41' 'src/a\\x41' || return 1
	# A folder, and a path through it.
	expect_exit 0 "$COFFER" restore latest --target rdir \
	    --include 'src/dir\x0ax' || return 1
	[ "$(cat "rdir/src/dir${nl}x/f")" = deep ] ||
	    fail "restore --include of an escaped folder" || return 1
	expect_exit 0 "$COFFER" restore latest --to-stdout \
	    --include 'src/dir\x0ax/f' || return 1
	[ "$(cat out)" = deep ] || fail "--to-stdout through a folder" ||
	    return 1
	# find: a glob on the raw bytes ('?' matches the newline), or on the
	# path as ls prints it (a pattern copied from ls output).
	for _pat in 'new?line' 'new\x0aline' 'src/new\x0a*'; do
		expect_exit 0 "$COFFER" find "$_pat" || return 1
		[ "$(wc -l <out)" -eq 1 ] &&
		    expect_grep 'src/new\\x0aline$' out ||
		    fail "find '$_pat' did not find exactly new<NL>line" ||
		    return 1
	done
	expect_exit 0 "$COFFER" find 'back\\slash' || return 1
	expect_grep 'src/back\\\\slash$' out || return 1
	# Not an ls form (a backslash that ls would have doubled): bytes.
	expect_exit 1 "$COFFER" restore latest --target rno \
	    --include 'src/new\nline' || return 1
	expect_grep 'not found' err || return 1

	# Both readings name an entry: "lit\x0a" typed is the file named
	# lit<newline> as ls prints it; the file named by those four bytes
	# is "lit\\x0a" in ls.
	printf 'the newline one\n' >"src/lit${nl}" || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" restore latest --to-stdout \
	    --include 'src/lit\x0a' || return 1
	[ "$(cat out)" = 'the newline one' ] ||
	    fail "the ls form did not win" || return 1
	# (shown as ls prints it: two backslashes.)
	expect_grep "another entry has the typed bytes as its path: to take" \
	    err || return 1
	expect_grep "that one, give 'src/lit\\\\\\\\x0a'" err || return 1
	expect_exit 0 "$COFFER" restore latest --to-stdout \
	    --include 'src/lit\\x0a' || return 1
	[ "$(cat out)" = 'content of lit\x0a' ] ||
	    fail "the doubled backslash did not name the literal file" ||
	    return 1
}

# check_both NAME PRINTED: ls prints src/NAME as PRINTED; PRINTED and the
# raw bytes src/NAME both work for restore --include, --to-stdout and ls.
check_both()
{
	grep -qxF -- "$2" ls.paths 2>/dev/null ||
	    awk '{ sub(/^[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ /, ""); print }' \
	    ls.txt >ls.paths
	grep -qxF -- "$2" ls.paths ||
	    fail "ls does not print '$2'" || return 1
	for _p in "$2" "src/$1"; do
		rm -rf rst || return 1
		expect_exit 0 "$COFFER" restore latest --target rst \
		    --include "$_p" || return 1
		expect_same "src/$1" "rst/src/$1" || return 1
		[ "$(find rst -type f -printf x | wc -c)" -eq 1 ] ||
		    fail "--include '$_p' restored more than one file" ||
		    return 1
		expect_exit 0 "$COFFER" restore latest --to-stdout \
		    --include "$_p" || return 1
		expect_same "src/$1" out || return 1
		expect_exit 0 "$COFFER" ls latest "$_p" || return 1
		[ "$(wc -l <out)" -eq 1 ] ||
		    fail "ls '$_p' lists $(wc -l <out) entries" || return 1
	done
}
