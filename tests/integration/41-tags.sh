# SPDX-License-Identifier: ISC
# tests/integration/41-tags.sh
# Goal: tags (issue #19, part 3).  backup --tag stores tags in the
# snapshot, and backup --json shows them sorted and unique (an untagged
# backup still writes the version 1 body);
# snapshots and forget select by --tag (a,b: both; repeated: either),
# --host (any) and --path (all); forget groups by host and paths, or by
# --group-by; 'coffer tag' adds, removes and sets tags, giving a new id,
# and its rewrite is crash-safe: with both the old and the new file on
# the card (a crash between writing the new and removing the old) the
# new one counts, listed once, check says so, nothing is lost, and the
# next tag, forget or prune clears the old file (prune only once the
# higher revision authenticates: beside a damaged one both stay).
scenario() {
	need_cmd jq unshare || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	mkdir a b
	printf 'one\n' > a/f
	printf 'two\n' > b/f
	# 1 a [daily]  2 a [daily,keep]  3 b [weekly]  4 a []  5 b, other host
	expect_exit 0 "$COFFER" backup --tag daily a || return 1
	expect_exit 0 "$COFFER" backup --tag keep,daily --tag keep --json a ||
	    return 1
	expect_jq '.tags == ["daily", "keep"]' out || return 1
	expect_exit 0 "$COFFER" backup --tag weekly b || return 1
	expect_exit 0 "$COFFER" backup --json a || return 1
	expect_jq '.tags == []' out || return 1
	expect_exit 0 unshare --uts sh -c 'hostname otherhost &&
	    exec "$COFFER" backup --tag weekly b' || return 1
	expect_exit 2 "$COFFER" backup --tag 'a/b' a || return 1
	expect_grep "is not a tag list" err || return 1
	expect_exit 2 "$COFFER" backup --tag '' a || return 1
	expect_exit 2 "$COFFER" backup --tag , a || return 1

	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[] | .tags] ==
	    [["daily"], ["daily", "keep"], ["weekly"], [], ["weekly"]]' out ||
	    return 1
	expect_jq '.snapshots[4].hostname == "otherhost"' out || return 1
	# Untagged snapshot files are still the version 1 body; tagged ones
	# are not readable by a coffer that knows only version 1 (checked
	# below by the revision names on the card).
	set -- "$COFFER_REPO"/sets/*/snapshots
	sdir=$1
	[ -f "$sdir/4" ] || fail "snapshot 4 is not at its plain name" ||
	    return 1

	# Filters: a,b is both; repeated --tag is either.
	expect_exit 0 "$COFFER" snapshots --json --tag daily,keep || return 1
	expect_jq '[.snapshots[].name] == ["2"]' out || return 1
	expect_exit 0 "$COFFER" snapshots --json --tag keep --tag weekly ||
	    return 1
	expect_jq '[.snapshots[].name] == ["2", "3", "5"]' out || return 1
	expect_exit 0 "$COFFER" snapshots --json --host otherhost || return 1
	expect_jq '[.snapshots[].name] == ["5"]' out || return 1
	expect_exit 0 "$COFFER" snapshots --json --tag weekly --host \
	    "$(hostname)" || return 1
	expect_jq '[.snapshots[].name] == ["3"]' out || return 1
	# Paths as stored (as given, without a leading '/').
	expect_exit 0 "$COFFER" snapshots --json --path b/ || return 1
	expect_jq '[.snapshots[].name] == ["3", "5"]' out || return 1
	expect_exit 0 "$COFFER" snapshots --json --path b --path a || return 1
	expect_jq '.snapshots == []' out || return 1
	expect_exit 0 "$COFFER" snapshots --tag keep || return 1
	expect_grep '\[daily,keep\]$' out || return 1
	expect_grep '^1 snapshot$' out || return 1

	# forget: the filter limits the policy; groups are host and paths.
	expect_exit 0 "$COFFER" forget --keep-last 1 --dry-run --json \
	    --tag daily || return 1
	expect_jq '[.snapshots[] | select(.keep | not) | .name] == ["1"]' \
	    out || return 1
	expect_jq '[.snapshots[].name] == ["1", "2"]' out || return 1
	# Default groups: a@host, b@host, b@otherhost: 3 kept of 5.
	expect_exit 0 "$COFFER" forget --keep-last 1 --dry-run --json ||
	    return 1
	expect_jq '[.snapshots[] | select(.keep) | .name] == ["3", "4", "5"]' \
	    out || return 1
	# --group-by paths: b of both hosts is one group.
	expect_exit 0 "$COFFER" forget --keep-last 1 --dry-run --json \
	    --group-by paths || return 1
	expect_jq '[.snapshots[] | select(.keep) | .name] == ["4", "5"]' \
	    out || return 1
	expect_exit 0 "$COFFER" forget --keep-last 1 --dry-run --json \
	    --group-by host,paths,tags || return 1
	expect_jq '[.snapshots[] | select(.keep) | .name] ==
	    ["1", "2", "3", "4", "5"]' out || return 1
	expect_exit 0 "$COFFER" forget --keep-last 1 --dry-run --json \
	    --group-by none || return 1
	expect_jq '[.snapshots[] | select(.keep) | .name] == ["5"]' out ||
	    return 1
	expect_exit 2 "$COFFER" forget --keep-last 1 --group-by colour ||
	    return 1

	# coffer tag: add, remove, set; a new id; the tree is the same.
	expect_exit 0 "$COFFER" snapshots --json || return 1
	id4=$(jq -r '.snapshots[3].id' out)
	expect_exit 0 "$COFFER" tag 4 --add x,y --add z --json || return 1
	expect_jq '.snapshots[0].tags == ["x", "y", "z"] and
	    .snapshots[0].changed' out || return 1
	id4b=$(jq -r '.snapshots[0].id' out)
	[ "$id4" != "$id4b" ] || fail "retagged snapshot kept its id" ||
	    return 1
	[ ! -e "$sdir/4" ] && [ -f "$sdir/4.1" ] ||
	    fail "revision 1 of snapshot 4 is not alone on the card" ||
	    return 1
	expect_exit 0 "$COFFER" tag 4 --remove y --json || return 1
	expect_jq '.snapshots[0].tags == ["x", "z"]' out || return 1
	[ ! -e "$sdir/4.1" ] && [ -f "$sdir/4.2" ] ||
	    fail "revision 2 did not replace revision 1" || return 1
	expect_exit 0 "$COFFER" tag 4 --remove nosuch --json || return 1
	expect_jq '.snapshots[0].changed == false' out || return 1
	[ -f "$sdir/4.2" ] || fail "an unchanged tag rewrote" || return 1
	expect_exit 0 "$COFFER" tag latest 1 --set monthly --json || return 1
	expect_jq '[.snapshots[].tags] == [["monthly"], ["monthly"]]' out ||
	    return 1
	expect_exit 0 "$COFFER" tag 1 --set '' || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots[0].tags == []' out || return 1
	expect_exit 2 "$COFFER" tag 1 || return 1
	expect_exit 2 "$COFFER" tag 1 --add 'a/b' || return 1
	expect_exit 1 "$COFFER" tag nosuch --add t || return 1
	expect_exit 0 "$COFFER" restore 4 --target r4 || return 1
	expect_same a/f r4/a/f || return 1

	# The crash between the two steps: the old file put back beside
	# the new one.  The higher revision counts; it is listed once.
	cp "$sdir/3" old3 || return 1
	expect_exit 0 "$COFFER" tag 3 --add crash || return 1
	cp old3 "$sdir/3" || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[].name] == ["1", "2", "3", "4", "5"]' out ||
	    return 1
	expect_jq '.snapshots[2].tags == ["crash", "weekly"]' out || return 1
	expect_exit 0 "$COFFER" check --json || return 1
	expect_grep "snapshot '3': 1 older revision file beside revision 1" \
	    err || return 1
	expect_exit 0 "$COFFER" restore 3 --target r3 || return 1
	expect_same b/f r3/b/f || return 1
	# A forget --tag sees the new tags, not the old ones.
	expect_exit 0 "$COFFER" snapshots --json --tag crash || return 1
	expect_jq '[.snapshots[].name] == ["3"]' out || return 1
	# The next tag of it clears the old file.
	expect_exit 0 "$COFFER" tag 3 --remove crash || return 1
	[ ! -e "$sdir/3" ] && [ ! -e "$sdir/3.1" ] && [ -f "$sdir/3.2" ] ||
	    fail "old revision files left after the next tag" || return 1
	# A revision file whose name does not match its sealed revision is
	# damage, not a newer snapshot (a replayed or renamed file).
	cp "$sdir/3.2" "$sdir/3.7" || return 1
	expect_exit 1 "$COFFER" snapshots || return 1
	expect_grep "3.7' is damaged" err || return 1
	rm -f "$sdir/3.7"
	# forget removes every revision of a snapshot.
	cp old3 "$sdir/3" || return 1
	expect_exit 0 "$COFFER" forget 3 || return 1
	set -- "$sdir"/3 "$sdir"/3.*
	for f in "$@"; do
		[ ! -e "$f" ] || fail "forget left $f" || return 1
	done
	expect_exit 0 "$COFFER" check || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[].name] == ["1", "2", "4", "5"]' out || return 1

	# prune clears what an interrupted tag left: the old file beside an
	# intact higher revision goes (not with --dry-run), the higher stays.
	cp "$sdir/2" old2 || return 1
	expect_exit 0 "$COFFER" tag 2 --add p || return 1
	cp old2 "$sdir/2" || return 1
	expect_exit 0 "$COFFER" prune --dry-run --json || return 1
	expect_jq '.revisions_removed == 1' out || return 1
	[ -f "$sdir/2" ] || fail "prune --dry-run removed a file" || return 1
	expect_exit 0 "$COFFER" prune || return 1
	expect_grep "^removed 1 old snapshot revision file" out || return 1
	[ ! -e "$sdir/2" ] && [ -f "$sdir/2.1" ] ||
	    fail "prune did not clear the old revision of 2" || return 1
	expect_exit 0 "$COFFER" check || return 1
	expect_no_grep "older revision file" err || return 1
	expect_exit 0 "$COFFER" snapshots --json --tag p || return 1
	expect_jq '[.snapshots[].name] == ["2"]' out || return 1
	# A damaged higher revision never costs the lower one: prune stops
	# and both files stay.
	cp "$sdir/4.2" old4 || return 1
	expect_exit 0 "$COFFER" tag 4 --add q || return 1
	cp old4 "$sdir/4.2" || return 1
	flip_byte "$sdir/4.3" || return 1
	expect_exit 1 "$COFFER" prune || return 1
	expect_grep "snapshots/4.3' failed authentication" err || return 1
	[ -f "$sdir/4.2" ] && [ -f "$sdir/4.3" ] ||
	    fail "prune deleted a revision of 4 beside a damaged one" ||
	    return 1
}
