# SPDX-License-Identifier: ISC
# tests/integration/61-disk-full.sh
# Goal: a card that fills up mid-backup costs nothing but that backup.  The
# card is a 24 MiB tmpfs (root only: this scenario mounts).  A backup too
# big for the space left fails with a clear message that names the file
# and "No space left on device", leaves no new snapshot, and check
# --read-data still passes (leftovers allowed, and prune clears them); the
# earlier snapshot restores bit for bit.  Then a sweep: the card is filled so that it runs
# out at every 4 KiB page of a small backup's writes in turn (lock, pack,
# index, snapshot); each attempt either succeeds whole or fails cleanly as
# above.  Last, with the card made bigger, the big backup succeeds and
# restores.
scenario() {
	is_root || fail "needs root to mount a tmpfs" || return 1
	need_cmd mount umount || return 1
	mkdir card || return 1
	mount -t tmpfs -o size=24m,mode=0755 tmpfs card ||
	    fail "cannot mount a tmpfs on card" || return 1
	# shellcheck disable=SC2064 # expand $PWD now
	trap "umount -l '$PWD/card' 2>/dev/null" EXIT
	COFFER_REPO=$PWD/card/repo
	export COFFER_REPO

	"$HELPERS/gentree" small >/dev/null || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup small || return 1

	# 1. Far too big: 40 MB of random data, about 20 MiB free.  Three
	# times, with prune in between to free what the failed backup left
	# (a whole pack): the card runs full with blobs still being sealed,
	# which once crashed coffer (a use after free, 3 runs in 8).
	mkdir big && head -c 40000000 /dev/urandom >big/r1 || return 1
	head -c 300000 /dev/urandom >big/r2 || return 1
	for _try in 1 2 3; do
		expect_fail "$COFFER" backup big || return 1
		full_error || return 1
		after_failure 1 || return 1
		expect_exit 0 "$COFFER" prune || return 1
	done
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_no_grep 'leftover' out || return 1
	expect_exit 0 "$COFFER" restore 1 --target rst1 || return 1
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree small rst1/small $(owner_opt) || return 1
	rm -rf rst1

	# 2. The sweep: "mid" needs a few pages; leave 0, 1, 2, ... pages
	# free until a backup succeeds.
	mkdir mid && head -c 60000 /dev/urandom >mid/a &&
	    printf 'small file\n' >mid/b || return 1
	nsnap=1
	pages=0
	while :; do
		fill_to "$pages" || return 1
		rc=0
		"$COFFER" backup mid >out 2>err || rc=$?
		rm -f card/filler
		no_sanitizer_report || return 1
		[ "$rc" -lt 126 ] || fail "backup crashed (exit $rc) with" \
		    "$pages pages free" || return 1
		if [ "$rc" -eq 0 ]; then
			nsnap=$((nsnap + 1))
			note "with $pages pages free the backup succeeded"
			after_failure "$nsnap" || return 1
			expect_exit 0 "$COFFER" restore latest --target rst2 ||
			    return 1
			# shellcheck disable=SC2046
			expect_tree mid rst2/mid $(owner_opt) || return 1
			break
		fi
		note "$pages pages free: $(tail -n 1 err)"
		full_error || return 1
		# A failure after the snapshot was written would leave one
		# more snapshot: allowed only if it is whole.
		n=$(find card/repo/sets -path '*/snapshots/*' -type f |
		    grep -vc '\.tmp$')
		if [ "$n" -gt "$nsnap" ]; then
			note "failed, but the snapshot was written: checking it"
			nsnap=$n
		fi
		after_failure "$nsnap" || return 1
		pages=$((pages + 1))
		[ "$pages" -le 64 ] ||
		    fail "no success with up to 64 pages free" || return 1
	done
	expect_exit 0 "$COFFER" restore 1 --target rst1 || return 1
	# shellcheck disable=SC2046
	expect_tree small rst1/small $(owner_opt) || return 1

	# 3. Room again: the big backup now succeeds and restores.
	mount -o remount,size=200m card ||
	    fail "cannot remount the card bigger" || return 1
	expect_exit 0 "$COFFER" backup big || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 0 "$COFFER" restore latest --target rst3 || return 1
	# shellcheck disable=SC2046
	expect_tree big rst3/big $(owner_opt) || return 1
	expect_exit 0 "$COFFER" prune || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_no_grep 'leftover' out || return 1
	umount card || fail "cannot unmount the card" || return 1
	trap - EXIT
}

# full_error: ./err says why (no space) and names the file being written
# (a path of the repository in quotes).
full_error()
{
	expect_grep 'No space left on device' err || return 1
	expect_grep "'[^']*(sets/|packs/|index/|snapshots/|locks/|config)[^']*'" \
	    err || return 1
	# Not several stacked messages: one error line.
	[ "$(grep -c 'No space left' err)" -le 1 ] ||
	    fail "more than one error line" || return 1
}

# after_failure N: the card holds exactly N snapshots (failed backups add
# none) and check --read-data passes (leftover packs are allowed).
after_failure()
{
	expect_exit 0 "$COFFER" snapshots --json || return 1
	_n=$(jq '.snapshots | length' out)
	[ "$_n" -eq "$1" ] ||
	    fail "$_n snapshots on the card, want $1" || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	# No lock left behind by the failed backup.
	_l=$(find card/repo/locks -type f | head -n 3)
	[ -z "$_l" ] || fail "locks left on the card: $_l"
}

# fill_to PAGES: a filler file takes all the card's free space but PAGES
# pages of 4 KiB.
fill_to()
{
	rm -f card/filler
	_avail=$(df -B1 --output=avail card | tail -n 1 | tr -d ' ')
	_want=$((_avail - $1 * 4096))
	[ "$_want" -gt 0 ] || fail "card too small to fill" || return 1
	head -c "$_want" /dev/zero >card/filler 2>/dev/null
	_left=$(df -B1 --output=avail card | tail -n 1 | tr -d ' ')
	[ "$_left" -le $(($1 * 4096)) ] ||
	    fail "filler left $_left bytes free, want $(($1 * 4096))"
}
