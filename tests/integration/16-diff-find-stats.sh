# SPDX-License-Identifier: ISC
# tests/integration/16-diff-find-stats.sh
# Goal: "coffer diff" names exactly what was added, removed, modified and
# changed in metadata only (also across key sets, where ids differ);
# "coffer find" matches last components and whole paths and exits 1 on no
# match; "coffer stats" adds up (an identical second backup doubles the
# restore size and leaves the deduplicated and stored sizes alone); and
# "restore --to-stdout" writes exactly one file's bytes, refuses what is
# not a regular file, and writes nothing when a chunk fails to
# authenticate.

# last_snapshot: the name of the newest snapshot.
last_snapshot()
{
	"$COFFER" snapshots --json | jq -r '.snapshots[-1].name'
}

# stats_field FILE FIELD: a number from a stats --json document.
stats_field()
{
	jq -r ".$2" "$1"
}

scenario() {
	need_cmd jq || return 1
	mkdir -p src/docs src/sub src/tchange || return 1
	i=0
	while [ $i -lt 3000 ]; do
		echo "line $i of a text that compresses well"
		i=$((i + 1))
	done >src/docs/a.txt || return 1
	{ cat src/docs/a.txt; echo "and one more"; } >src/docs/b.txt
	printf 'hello\n' >src/sub/keep.txt
	printf 'gone\n' >src/sub/gone.txt
	printf 'meta\n' >src/meta.txt
	printf 'was a file\n' >src/tchange/old
	ln -s docs/a.txt src/link || return 1
	cp src/docs/b.txt b.orig || return 1

	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	s1=$(last_snapshot) && [ -n "$s1" ] || fail "no first snapshot" ||
	    return 1

	# ---- stats of one snapshot ----
	expect_exit 0 "$COFFER" stats "$s1" --json || return 1
	cp out st1.json
	expect_jq '.snapshot == "'"$s1"'" and .snapshots == 1' st1.json ||
	    return 1
	expect_jq 'has("files") and has("restore_size") and has("chunks")
	    and has("dedup_size") and has("stored_size") and has("ratio")
	    and (.key_sets | length == 1)' st1.json || return 1
	want=$(find src -type f -exec stat -c %s {} + |
	    awk '{ s += $1 } END { print s }')
	nf=$(find src -type f | wc -l)
	r1=$(stats_field st1.json restore_size)
	d1=$(stats_field st1.json dedup_size)
	p1=$(stats_field st1.json stored_size)
	c1=$(stats_field st1.json chunks)
	note "restore $r1 (want $want), dedup $d1, stored $p1, chunks $c1"
	[ "$r1" -eq "$want" ] || fail "restore size $r1, want $want" ||
	    return 1
	expect_jq ".files == $nf" st1.json || return 1
	[ "$d1" -le "$r1" ] && [ "$d1" -gt 0 ] ||
	    fail "dedup size $d1 not in (0, $r1]" || return 1
	[ "$p1" -le "$d1" ] && [ "$p1" -gt 0 ] ||
	    fail "stored size $p1 not in (0, $d1] (compressible data)" ||
	    return 1

	# ---- an identical second backup ----
	expect_exit 0 "$COFFER" backup src || return 1
	s2=$(last_snapshot)
	[ "$s2" != "$s1" ] || fail "second snapshot has the first's name" ||
	    return 1
	expect_exit 0 "$COFFER" diff "$s1" "$s2" || return 1
	expect_grep '^0 added, 0 removed, 0 modified, 0 ' out || return 1
	[ "$(wc -l <out)" -eq 1 ] || fail "identical snapshots: changes" \
	    "listed" || return 1
	expect_exit 0 "$COFFER" diff "$s1" "$s2" --json || return 1
	expect_jq '.changes == [] and .added == 0 and .removed == 0 and
	    .modified == 0 and .metadata == 0' out || return 1

	expect_exit 0 "$COFFER" stats --json || return 1
	cp out st2.json
	expect_jq '.snapshots == 2 and (.key_sets | length == 1) and
	    .unreadable_snapshots == 0 and (has("snapshot") | not)' st2.json ||
	    return 1
	expect_jq ".restore_size == 2 * $r1 and .files == 2 * $nf" st2.json ||
	    return 1
	expect_jq ".dedup_size == $d1 and .stored_size == $p1 and
	    .chunks == $c1" st2.json || return 1
	expect_jq '.key_sets[0].restore_size == .restore_size and
	    (.ratio | type) == "number" and .ratio >= 1' st2.json || return 1
	expect_exit 0 "$COFFER" stats || return 1
	expect_grep '^KEY SET +SNAPSHOTS +FILES +RESTORE SIZE' out || return 1
	expect_no_grep '^total' out || return 1

	# ---- changes of every kind ----
	printf 'new\n' >src/new.txt
	mkdir src/newdir && printf 'x\n' >src/newdir/x
	rm src/sub/gone.txt
	sed -i 's/^line 5 of/LINE 5 of/' src/docs/b.txt	# same size
	chmod 600 src/meta.txt
	touch -d '2020-01-02 03:04:05' src/sub/keep.txt
	ln -sfn docs/b.txt src/link
	rm -r src/tchange && printf 'now a file\n' >src/tchange
	expect_exit 0 "$COFFER" backup src || return 1
	s3=$(last_snapshot)
	expect_exit 0 "$COFFER" diff "$s2" "$s3" || return 1
	cp out d23.txt
	for l in '+ src/new.txt' '+ src/newdir' '+ src/newdir/x' \
	    '- src/sub/gone.txt' 'M src/docs/b.txt' 'm src/meta.txt' \
	    'm src/sub/keep.txt' 'M src/link' 'M src/tchange' \
	    '- src/tchange/old'; do
		expect_grep -x -F "$l" d23.txt || return 1
	done
	expect_no_grep -F 'src/docs/a.txt' d23.txt || return 1
	# Folder order: a folder before its content, names in byte order.
	[ "$(grep -n -x -F '+ src/newdir' d23.txt | cut -d: -f1)" -lt \
	    "$(grep -n -x -F '+ src/newdir/x' d23.txt | cut -d: -f1)" ] ||
	    fail "a folder after its content" || return 1
	expect_exit 0 "$COFFER" diff "$s2" "$s3" --json || return 1
	cp out d23.json
	expect_jq '.changes | all(has("path") and has("change") and
	    has("type") and has("what"))' d23.json || return 1
	expect_jq '.added == ([.changes[] | select(.change == "added")] |
	    length) and .removed == ([.changes[] | select(.change ==
	    "removed")] | length) and .modified == ([.changes[] |
	    select(.change == "modified")] | length) and .metadata ==
	    ([.changes[] | select(.change == "metadata")] | length)' d23.json ||
	    return 1
	expect_jq '.added == 3' d23.json || return 1
	expect_jq '.changes[] | select(.path == "src/docs/b.txt") |
	    .change == "modified" and (.what | index("content")) and
	    (.what | index("size") | not)' d23.json || return 1
	expect_jq '.changes[] | select(.path == "src/meta.txt") |
	    .change == "metadata" and .what == ["mode"]' d23.json || return 1
	expect_jq '.changes[] | select(.path == "src/sub/keep.txt") |
	    .what == ["mtime"]' d23.json || return 1
	expect_jq '.changes[] | select(.path == "src/link") |
	    .what | index("target")' d23.json || return 1
	expect_jq '.changes[] | select(.path == "src/tchange") |
	    .type == "file" and (.what | index("type"))' d23.json || return 1
	# The other way round, additions become removals.
	expect_exit 0 "$COFFER" diff "$s3" "$s2" || return 1
	expect_grep -x -F -- '- src/new.txt' out || return 1
	expect_grep -x -F '+ src/sub/gone.txt' out || return 1

	# ---- across key sets: ids differ, content is compared ----
	expect_exit 0 "$COFFER" backup --scope backup src || return 1
	s4=$(last_snapshot)
	expect_exit 0 "$COFFER" diff "$s3" "$s4" --json || return 1
	expect_jq '.changes == []' out || return 1
	expect_exit 0 "$COFFER" diff "$s2" "$s4" --json || return 1
	expect_jq '[.changes[] | select(.path == "src/docs/b.txt")][0] |
	    (.what | index("content")) and (.what | index("size") | not)' \
	    out || return 1
	expect_jq '[.changes[] | select(.path == "src/docs/a.txt")] == []' \
	    out || return 1
	expect_exit 0 "$COFFER" stats --json || return 1
	expect_jq '.snapshots == 4 and (.key_sets | length == 2) and
	    .restore_size == (.key_sets | map(.restore_size) | add) and
	    .stored_size == (.key_sets | map(.stored_size) | add)' out ||
	    return 1
	expect_exit 0 "$COFFER" stats || return 1
	expect_grep '^total ' out || return 1

	# ---- find ----
	expect_exit 0 "$COFFER" find keep.txt || return 1
	[ "$(wc -l <out)" -eq 4 ] || fail "keep.txt: want 4 matches" ||
	    return 1
	expect_grep -x -F "$s1 src/sub/keep.txt" out || return 1
	expect_grep -x -F "$s4 src/sub/keep.txt" out || return 1
	expect_exit 0 "$COFFER" find '*.txt' --snapshot "$s1" || return 1
	expect_grep -x -F "$s1 src/docs/a.txt" out || return 1
	expect_no_grep -F 'new.txt' out || return 1
	expect_no_grep -v "^$s1 " out || return 1
	# With a '/': the whole path, and '*' stays within one component.
	expect_exit 0 "$COFFER" find 'src/*.txt' --snapshot "$s3" || return 1
	expect_grep -x -F "$s3 src/new.txt" out || return 1
	expect_grep -x -F "$s3 src/meta.txt" out || return 1
	expect_no_grep -F 'docs/' out || return 1
	expect_exit 0 "$COFFER" find '/src/newdir' --json || return 1
	expect_jq '.matches | length == 2' out || return 1
	expect_jq '.matches | all(has("snapshot") and has("path") and
	    has("type") and has("size") and has("mtime"))' out || return 1
	expect_jq '.matches[0] | .snapshot == "'"$s3"'" and .type == "dir"' \
	    out || return 1
	expect_exit 0 "$COFFER" find x -s "$s3" -s "$s4" --json || return 1
	expect_jq '[.matches[].path] == ["src/newdir/x", "src/newdir/x"]' \
	    out || return 1
	expect_exit 1 "$COFFER" find 'nothing*here' || return 1
	expect_empty out || return 1
	expect_grep 'not found' err || return 1
	expect_exit 1 "$COFFER" find 'nothing*here' --json || return 1
	expect_jq '.matches == []' out || return 1
	expect_exit 2 "$COFFER" find || return 1

	# ---- restore --to-stdout ----
	expect_exit 0 "$COFFER" restore "$s1" --to-stdout --include \
	    src/docs/b.txt || return 1
	expect_same out b.orig || return 1
	expect_exit 0 "$COFFER" restore latest --to-stdout -i /src/docs/a.txt ||
	    return 1
	expect_same out src/docs/a.txt || return 1
	expect_exit 1 "$COFFER" restore "$s1" --to-stdout --include src/docs ||
	    return 1
	expect_empty out || return 1
	expect_grep 'not a regular file' err || return 1
	expect_exit 1 "$COFFER" restore "$s1" --to-stdout --include src/link ||
	    return 1
	expect_exit 1 "$COFFER" restore "$s1" --to-stdout --include src/nope ||
	    return 1
	expect_empty out || return 1
	expect_grep 'not found' err || return 1
	expect_exit 2 "$COFFER" restore "$s1" --to-stdout || return 1
	expect_exit 2 "$COFFER" restore "$s1" --to-stdout --include \
	    src/meta.txt --include src/new.txt || return 1
	expect_exit 2 "$COFFER" restore "$s1" --to-stdout --target t \
	    --include src/meta.txt || return 1
	[ ! -e t ] || fail "--to-stdout with --target created the target" ||
	    return 1

	# Larger than the 64 MiB buffer: written chunk by chunk.
	mkdir big && head -c 67108864 /dev/zero >big/f &&
	    head -c 1000000 /dev/urandom >>big/f || return 1
	expect_exit 0 "$COFFER" backup big || return 1
	expect_exit 0 "$COFFER" restore latest --to-stdout --include big/f ||
	    return 1
	expect_same out big/f || return 1

	# A damaged chunk: nothing is written (small file, own repository).
	mkdir one && head -c 2000000 /dev/urandom >one/r || return 1
	expect_exit 0 "$COFFER" --repo "$PWD/repo2" init || return 1
	expect_exit 0 "$COFFER" --repo "$PWD/repo2" backup one || return 1
	expect_exit 0 "$COFFER" --repo "$PWD/repo2" restore latest \
	    --to-stdout --include one/r || return 1
	expect_same out one/r || return 1
	pack=$(find repo2 -path '*/packs/*' -type f)
	[ "$(printf '%s\n' "$pack" | wc -l)" -eq 1 ] ||
	    fail "want one pack in repo2: $pack" || return 1
	flip_byte "$pack" || return 1
	expect_exit 1 "$COFFER" --repo "$PWD/repo2" restore latest \
	    --to-stdout --include one/r || return 1
	expect_empty out || return 1
	expect_grep 'authentication failed' err || return 1
}
