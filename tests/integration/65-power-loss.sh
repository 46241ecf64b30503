# SPDX-License-Identifier: ISC
# tests/integration/65-power-loss.sh
# Goal: pulling the card mid-write costs at most the command that was
# writing (issue 20).  First pullfs's own model is checked
# (tests/harness/pullfs-selftest.sh: synced data survives, unsynced
# names and writes are lost in part, renames never half done, torn
# writes at sector boundaries).  Then the two states a pull left that
# coffer once refused, built by hand: a repository folder holding only
# what an interrupted init leaves (empty sets/ and locks/, a config.tmp)
# is taken by the next init; a key set folder without keyinfo and with
# nothing in it (an interrupted first backup into a new set) is no
# problem for check, the next backup into it completes it, and prune
# removes one that no backup completes.  And a
# prune of a set whose every snapshot was forgotten (the harness's prune
# case; UBSan stopped it once).  Last,
# tests/harness/power-loss.sh runs 100 cases (40 under ASan, which is
# four times slower here): each writing command on pullfs (backups
# under the escrow and escrow-wrap custodies too, with a real cofferd on
# loopback), the card
# pulled at a random operation; after it check passes, every snapshot
# restores bit for bit, what was there stays, a command that succeeded
# took full effect, and the next backup and prune succeed.  Seeded by
# the pid; a failure prints the line that replays it (POWER_LOSS_SEED,
# POWER_LOSS_CASE).  Long mode: sh tests/harness/power-loss.sh build
# 10000.
scenario() {
	need_cmd fusermount3 jq || return 1
	[ -e /dev/fuse ] || fail "no /dev/fuse" || return 1
	pullfs=$HELPERS/pullfs
	sh "$SRCDIR/tests/harness/pullfs-selftest.sh" "$pullfs" "$PWD/self" \
	    >self.out 2>&1 || { cat self.out >&2; fail "pullfs selftest"
	    return 1; }
	expect_grep '^pullfs-selftest: PASS' self.out || return 1

	# An interrupted init: empty sets/ and locks/, a config.tmp.
	mkdir -p "$COFFER_REPO/sets" "$COFFER_REPO/locks" || return 1
	printf 'version 3\n' >"$COFFER_REPO/config.tmp"
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" check || return 1
	# But not a folder with anything more in it.
	mkdir -p other/sets/x other/locks || return 1
	expect_fail "$COFFER" --repo "$PWD/other" init || return 1
	expect_grep "is not empty \(found 'sets'\)" err || return 1

	# A key set cut off before its keyinfo: what is left is empty.
	mkdir src && printf 'some data\n' >src/a && head -c 50000 \
	    /dev/urandom >src/b || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	set=$(find "$COFFER_REPO/sets" -mindepth 1 -maxdepth 1 -type d)
	[ -n "$set" ] || fail "no key set" || return 1
	rm -rf "$set/packs" "$set/index" "$set/snapshots" "$set/keyinfo" &&
	    mkdir "$set/packs" "$set/index" && : >"$set/keyinfo.tmp" ||
	    return 1
	expect_exit 0 "$COFFER" check || return 1
	expect_grep "key set ${set##*/}: no keyinfo and nothing in it" err ||
	    return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_no_grep 'no keyinfo' err || return 1
	# prune removes a cut-off set that no backup completes (the key id
	# of a --scope backup set is random).
	cut=$COFFER_REPO/sets/0123456789abcdef
	mkdir -p "$cut/packs" "$cut/snapshots" && : >"$cut/keyinfo.tmp" ||
	    return 1
	expect_exit 0 "$COFFER" prune || return 1
	expect_grep "key set 0123456789abcdef: removed its empty folder" err ||
	    return 1
	[ ! -e "$cut" ] || fail "prune left the cut-off set" || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_no_grep 'no keyinfo' err || return 1
	expect_exit 0 "$COFFER" restore latest --target rst || return 1
	expect_tree src rst/src --no-owner || return 1
	# A set without keyinfo but with a snapshot in it is damage.
	rm -f "$set/keyinfo"
	expect_exit 1 "$COFFER" check || return 1
	expect_grep "keyinfo" err || return 1

	# Prune of a key set whose every snapshot is forgotten: its index
	# batch is empty (UBSan stopped prune there: an offset on NULL).
	r2="--repo $PWD/r2"
	# shellcheck disable=SC2086 # r2 is two words
	{ expect_exit 0 "$COFFER" $r2 init --name-by count &&
	    expect_exit 0 "$COFFER" $r2 backup src &&
	    expect_exit 0 "$COFFER" $r2 backup --scope backup src &&
	    expect_exit 0 "$COFFER" $r2 forget 1 &&
	    expect_exit 0 "$COFFER" $r2 prune &&
	    expect_exit 0 "$COFFER" $r2 check --read-data &&
	    expect_exit 0 "$COFFER" $r2 restore 2 --target rst2; } ||
	    return 1
	expect_tree src rst2/src --no-owner || return 1

	# The random pulls.
	cases=100
	grep -aq __asan_init "$COFFER" && cases=40
	rc=0
	POWER_LOSS_ESCROW=1 POWER_LOSS_WORK=$PWD/plfs sh "$SRCDIR/tests/harness/power-loss.sh" \
	    "${COFFER%/*}" "$cases" >plfs.out 2>&1 || rc=$?
	cat plfs.out >&2
	[ "$rc" -eq 0 ] || fail "power-loss harness failed (exit $rc)" ||
	    return 1
	expect_grep "^PASS: $cases cases" plfs.out
}
