# SPDX-License-Identifier: ISC
# tests/integration/25-deep-tree.sh
# test: long
# Goal (#16 items 1 and 2): a tree 10,000 folders deep (far deeper than
# the 115 levels that crashed the backup and the 945 that crashed check)
# backs up, checks (also --read-data), lists, finds, diffs, counts,
# restores identically and prunes, every command within an 8 MiB stack
# and again within 1 MiB, and with 100 open files: the walks keep their
# frames on the heap and a bounded number of folders open.  An exclude
# pattern that matches only past byte 8,191 of a path (the 20 KB path of
# the bottom file) leaves that file out: excludes see the whole path.
# DEEP_TREE_DEPTH sets another depth (the exclude part needs > 4,095).

last_snapshot()
{
	"$COFFER" snapshots --json | jq -r '.snapshots[-1].name'
}

# small_stack KIB CMD...: run CMD within a stack of KIB KiB.
small_stack()
{
	(ulimit -s "$1" && shift && exec "$@")
}

# deep CMD...: run a coffer command within the stack limit $stack (KiB)
# and 100 open files (the walks hold a bounded number, not one a level).
deep()
{
	(ulimit -s "$stack" && ulimit -n 100 && exec "$@")
}

scenario() {
	need_cmd jq || return 1
	# ASan's bigger frames make this a check that no walk puts a frame
	# per level on the C stack: the same depth there.
	depth=${DEEP_TREE_DEPTH:-10000}
	# The bottom path: "src" and $depth times "/d", then "/deepfile".
	bottom=src$(awk -v n="$depth" 'BEGIN { while (n-- > 0) printf "/d" }')
	"$HELPERS/deeptree" make src "$depth" || return 1
	note "tree $depth folders deep; bottom path ${#bottom} bytes"
	[ ${#bottom} -gt 8200 ] || fail "bottom path only ${#bottom} bytes" ||
	    return 1

	expect_exit 0 "$COFFER" init || return 1
	for stack in 8192 1024; do
		note "---- stack limit $stack KiB ----"
		# With --json-progress, the scanner that counts the totals
		# walks the tree too.
		expect_exit 0 deep "$COFFER" backup src --json-progress ||
		    return 1
		tail -n 1 err >last.json
		expect_jq '.done and .files == 5 and
		    (.files_total == 5 or .files_total == 0)' last.json ||
		    return 1
		s1=$(last_snapshot)
		expect_exit 0 deep "$COFFER" check || return 1
		expect_exit 0 deep "$COFFER" check --read-data || return 1

		# ls: every folder, the top file and the six at the bottom.
		expect_exit 0 deep "$COFFER" ls "$s1" || return 1
		n=$(grep -c . out)
		want=$((depth + 1 + 1 + 6))
		[ "$n" -eq "$want" ] || fail "ls listed $n lines, want $want" ||
		    return 1
		expect_grep "$bottom/b2/f2" out || return 1

		expect_exit 0 deep "$COFFER" find deepfile --snapshot "$s1" ||
		    return 1
		expect_grep "$bottom/deepfile" out || return 1

		# A change at the bottom is what diff reports.
		"$HELPERS/deeptree" edit src "$depth" || return 1
		sleep 1
		expect_exit 0 deep "$COFFER" backup src || return 1
		s2=$(last_snapshot)
		expect_exit 0 deep "$COFFER" diff "$s1" "$s2" || return 1
		expect_grep "$bottom/deepfile" out || return 1
		expect_grep '0 added, 0 removed, 1 modified' out || return 1

		expect_exit 0 deep "$COFFER" stats "$s2" --json || return 1
		# Files: top, deepfile, secret.x, b2/f2, b2/hard; trees: the
		# top, src, every d and b2.
		expect_jq ".files == 5 and .trees == $((depth + 3))" out ||
		    return 1

		chmod -R u+w rst 2>/dev/null
		rm -rf rst
		expect_exit 0 deep "$COFFER" restore "$s2" --target rst ||
		    return 1
		# Also b2/hard, linked to b2/f2 through its 20 KB path.
		expect_exit 0 "$HELPERS/deeptree" cmp src rst/src || return 1

		expect_exit 0 deep "$COFFER" forget --keep-last 1 --prune ||
		    return 1
		expect_exit 0 deep "$COFFER" check --read-data || return 1
		chmod -R u+w rst && rm -rf rst || return 1
	done

	# A given path of up to 2,000 components (4 KB, near PATH_MAX): the
	# folders above it are stored on heap frames too (ASan overflowed
	# 1 MiB of stack here before).
	g=$((depth < 2000 ? depth : 2000))
	given=src$(awk -v n="$g" 'BEGIN { while (n-- > 0) printf "/d" }')
	stack=1024
	sleep 1
	expect_exit 0 deep "$COFFER" backup "$given" --json-progress || return 1
	tail -n 1 err >last.json
	expect_jq '.done and .files == 4 and
	    (.files_total == 4 or .files_total == 0)' last.json || return 1
	s4=$(last_snapshot)
	expect_exit 0 deep "$COFFER" ls "$s4" || return 1
	n=$(grep -c . out)
	want=$((1 + depth + 6))		# no "top" this time
	[ "$n" -eq "$want" ] || fail "ls listed $n lines, want $want" ||
	    return 1
	expect_grep "$bottom/b2/f2" out || return 1

	# Item 2: the pattern matches only the last component of a path
	# longer than 8,191 bytes.
	sleep 1
	expect_exit 0 "$COFFER" backup src --exclude 'secret.x' \
	    --exclude '/src/d/d/**/b2/' || return 1
	s3=$(last_snapshot)
	expect_exit 0 "$COFFER" ls "$s3" || return 1
	expect_no_grep 'secret\.x' out || return 1
	expect_no_grep '/b2' out || return 1
	expect_grep "$bottom/deepfile" out || return 1
	expect_exit 0 "$COFFER" ls "$s2" || return 1
	expect_grep "$bottom/secret.x" out || return 1

	# A card with folders nested 900 deep inside a key set (hostile or
	# damaged): key destroy removes them all, on heap frames (its
	# recursion needed about 600 bytes of stack a level).
	set_id=$("$COFFER" snapshots --json | jq -r '.snapshots[-1].key_id')
	"$HELPERS/deeptree" make "$COFFER_REPO/sets/$set_id/packs/junk" 900 ||
	    return 1
	COFFER_INSECURE_FAST_KDF=1 expect_exit 0 small_stack 256 \
	    "$COFFER" key destroy "$set_id" --yes || return 1
	[ ! -e "$COFFER_REPO/sets/$set_id" ] ||
	    fail "sets/$set_id still on the card" || return 1

	moved_during_walk || return 1
}

# moved_during_walk: folders moved while a backup is below them.  The
# walk keeps only the top folder and the 16 deepest open: a chain of 30
# long-named folders under src/a/b1 leaves b1 closed while the walk is at
# the bottom, where a socket makes coffer write a 6 KB warning into a
# one-page pipe and wait; meanwhile the chain's top is moved out of b1.
# Climbing back, ".." is no longer b1: b1 is found again by name and
# finished (z_after kept).  When b1 is renamed too, it cannot be found:
# a warning says so and the rest of b1 is left out, and the walk goes on
# in src/a (zz kept).
moved_during_walk()
{
	c=$(awk 'BEGIN { for (i = 0; i < 200; i++) printf "c" }')
	mkdir -p mv/src/a/b1 || return 1
	echo after >mv/src/a/b1/z_after
	echo zz >mv/src/a/zz
	"$HELPERS/deeptree" chain mv/src/a/b1 30 200 || return 1
	cd mv || return 1
	sleep 1
	expect_exit 0 "$HELPERS/deeptree" whilewarn "src/a/b1/$c" moved1 -- \
	    "$COFFER" backup src || { cd ..; return 1; }
	expect_grep 'is a socket' err || { cd ..; return 1; }
	expect_no_grep 'moved during' err || { cd ..; return 1; }
	mv moved1 "src/a/b1/$c" || { cd ..; return 1; }
	expect_exit 0 "$COFFER" ls latest || { cd ..; return 1; }
	expect_grep '^.* src/a/b1/z_after$' out || { cd ..; return 1; }
	expect_grep '^.* src/a/zz$' out || { cd ..; return 1; }
	expect_grep "/$c/f\$" out || { cd ..; return 1; }

	sleep 1
	expect_exit 3 "$HELPERS/deeptree" whilewarn "src/a/b1/$c" moved2 \
	    src/a/b1 src/a/b1x -- "$COFFER" backup src || { cd ..; return 1; }
	expect_grep "'src/a/b1' moved during the backup; the rest of it is" \
	    err || { cd ..; return 1; }
	expect_exit 0 "$COFFER" ls latest || { cd ..; return 1; }
	expect_no_grep 'z_after' out || { cd ..; return 1; }
	expect_grep '^.* src/a/zz$' out || { cd ..; return 1; }
	expect_grep "/$c/f\$" out || { cd ..; return 1; }
	cd ..
}
