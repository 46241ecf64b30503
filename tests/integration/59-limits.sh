# SPDX-License-Identifier: ISC
# tests/integration/59-limits.sh
# Goal (issue 17, part 3): no hard limit breaks a backup before 10 TB.
# build-shrunk/coffer ("make shrunk", $COFFER_SHRUNK) is coffer with its
# limits made small (an index file 4 KiB, a file cache piece 4 KiB, a
# folder's tree 4 KiB), so a few hundred files cross each of them:
# - a backup writes several index files and restores exactly; prune of a
#   set bigger than one index file works and check is clean;
# - a file cache larger than the cap is saved and used (the second backup
#   reads nothing); a damaged one is ignored; one that cannot be saved is
#   named in a warning;
# - a folder bigger than the tree split size is stored as parts plus a
#   split tree, and backup, restore, ls, find, diff, stats, check and
#   prune all work on it, with the shrunk build and with $COFFER (the
#   build under test reads what the shrunk one wrote).
# The scenario fails, never skips, when the shrunk build is missing.

# nindex: the index files of the (one) key set.
nindex() {
	find "$COFFER_REPO"/sets/*/index -type f | grep -c .
}

scenario() {
	S=${COFFER_SHRUNK:-}
	[ -n "$S" ] && [ -x "$S" ] ||
	    fail "no shrunk build at '$S': run 'make shrunk'" || return 1
	need_cmd jq || return 1

	# 400 files in one folder (its tree: about 60 KiB, 15 times the
	# shrunk split size), a subfolder in it, and 150 more elsewhere:
	# 551 chunks, about 27 KiB of index entries (7 times the cap).
	mkdir -p src/big/sub src/other || return 1
	i=0
	while [ $i -lt 400 ]; do
		printf 'big %s\n' $i >"src/big/file-with-a-longish-name-$i" ||
		    return 1
		i=$((i + 1))
	done
	printf 'deep\n' >src/big/sub/x
	i=0
	while [ $i -lt 150 ]; do
		printf 'other %s\n' $i >"src/other/o$i" || return 1
		i=$((i + 1))
	done
	expect_exit 0 "$S" init || return 1

	# Index files: several, each within the shrunk cap.
	expect_exit 0 "$S" backup --json src || return 1
	expect_jq '.files == 551 and .new == 551' out || return 1
	snap1=$(jq -r .name out)
	n=$(nindex)
	note "index files after the first backup: $n"
	[ "$n" -ge 5 ] || fail "$n index files, want >= 5 (split)" || return 1
	big=$(find "$COFFER_REPO"/sets/*/index -type f -size +4096c | head -n 1)
	[ -z "$big" ] || fail "index file over the 4 KiB cap: $big" ||
	    return 1
	for c in "$S" "$COFFER"; do
		rm -rf r1
		expect_exit 0 "$c" restore latest --target r1 || return 1
		expect_tree src r1/src $(owner_opt) || return 1
	done

	# The split folder: parts are tree blobs of their own.
	expect_exit 0 "$S" prune --dry-run --json || return 1
	expect_jq '.blobs_removed == 0' out || return 1
	kept=$(jq .blobs_kept out)
	note "blobs: $kept (551 chunks, 5 folders with the root, the parts)"
	[ "$kept" -ge $((551 + 5 + 10)) ] ||
	    fail "$kept blobs: the big folder was not split into parts" ||
	    return 1
	for c in "$S" "$COFFER"; do
		expect_exit 0 "$c" ls latest /src/big || return 1
		[ "$(grep -c '/file-with-a-longish-name-' out)" -eq 400 ] ||
		    fail "ls shows $(grep -c longish out) of 400 files" ||
		    return 1
		expect_grep '^d.* src/big/sub$' out || return 1
		expect_grep ' src/big/sub/x$' out || return 1
		expect_exit 0 "$c" find -s latest 'file-with-a-longish-name-39?' ||
		    return 1
		[ "$(grep -c . out)" -eq 10 ] ||
		    fail "find gave $(grep -c . out) lines, want 10" ||
		    return 1
		expect_exit 0 "$c" stats --json || return 1
		expect_jq '.files == 551 and .chunks == 551 and
		    .missing_chunks == 0 and .trees == 5' out || return 1
		expect_exit 0 "$c" check --read-data || return 1
	done

	# The file cache: about 50 KiB, past the 4 KiB piece; saved, used.
	cache=$(find "$COFFER_KEYSTORE/cache" -name '*.cache')
	[ -n "$cache" ] || fail "no file cache saved" || return 1
	[ "$(file_size "$cache")" -gt 16384 ] ||
	    fail "file cache of $(file_size "$cache") bytes: too small" ||
	    return 1
	expect_exit 0 "$S" backup --json src || return 1
	expect_jq '.unchanged == 551 and .new == 0 and .changed == 0' out ||
	    return 1
	# Damaged: ignored (everything read again), then rebuilt.
	flip_byte "$cache" || return 1
	expect_exit 0 "$S" backup --json src || return 1
	expect_jq '.new == 551 and .unchanged == 0' out || return 1
	expect_exit 0 "$S" backup --json src || return 1
	expect_jq '.unchanged == 551' out || return 1
	# Cannot be saved: a warning says so, the backup still succeeds.
	mkdir "$cache.tmp" && touch "$cache.tmp/x" || return 1
	printf 'new\n' >src/other/new
	expect_exit 0 "$S" backup src || return 1
	expect_grep 'file cache not saved' err || return 1
	rm -rf "$cache.tmp"

	# Change the big folder: diff sees exactly that, through the parts.
	printf 'changed\n' >src/big/file-with-a-longish-name-200
	rm src/big/file-with-a-longish-name-7
	printf 'added\n' >src/big/zz-added
	expect_exit 0 "$S" backup --json src || return 1
	snap2=$(jq -r .name out)
	for c in "$S" "$COFFER"; do
		expect_exit 0 "$c" diff "$snap1" "$snap2" || return 1
		expect_grep '^M src/big/file-with-a-longish-name-200$' out ||
		    return 1
		expect_grep '^- src/big/file-with-a-longish-name-7$' out ||
		    return 1
		expect_grep '^\+ src/big/zz-added$' out || return 1
		expect_grep '^\+ src/other/new$' out || return 1
		expect_no_grep '^[-+M] src/big/file-with-a-longish-name-(1|3)' \
		    out || return 1
	done

	# Prune a set bigger than one index file: only the last snapshot
	# stays; several index files again, and all is clean.
	expect_exit 0 "$S" forget --keep-last 1 || return 1
	expect_exit 0 "$S" prune --json || return 1
	expect_jq '.blobs_removed >= 3' out || return 1
	n=$(nindex)
	note "index files after prune: $n"
	[ "$n" -ge 5 ] || fail "$n index files after prune, want >= 5" ||
	    return 1
	for c in "$S" "$COFFER"; do
		expect_exit 0 "$c" check --read-data || return 1
		rm -rf r2
		expect_exit 0 "$c" restore latest --target r2 || return 1
		expect_tree src r2/src $(owner_opt) || return 1
	done
	# The build under test uses the cache the shrunk one wrote.
	expect_exit 0 "$COFFER" backup --json src || return 1
	expect_jq '.unchanged == .files and .new == 0' out || return 1
	# Prune again: nothing left to free, nothing lost.
	expect_exit 0 "$S" prune --json || return 1
	expect_jq '.blobs_removed == 0' out || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
}
