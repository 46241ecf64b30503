# SPDX-License-Identifier: ISC
# tests/integration/66-power-full.sh
# Goal: a card that fills up at any point of any writing command costs
# at most that command (issue 20; 61-disk-full does it for backup on a
# tmpfs, page by page).  tests/harness/power-loss.sh in its full mode:
# each writing command of 65-power-loss (escrow custodies included)
# runs on pullfs, which fails
# every write, create and mkdir with ENOSPC from its N-th mutating
# operation on (N uniform over a clean run); the command either
# succeeds whole or fails saying "No space left on device", never
# crashes and leaves no lock; then check --read-data passes, every
# snapshot restores bit for bit, none that was there is lost, and with
# room again the next backup, prune and check succeed.  40 cases (20
# under ASan), seeded by the pid; a failure prints the line that replays
# it.
scenario() {
	need_cmd fusermount3 jq || return 1
	[ -e /dev/fuse ] || fail "no /dev/fuse" || return 1
	cases=40
	grep -aq __asan_init "$COFFER" && cases=20
	rc=0
	POWER_LOSS_ESCROW=1 POWER_LOSS_MODE=full POWER_LOSS_WORK=$PWD/plfs \
	    sh "$SRCDIR/tests/harness/power-loss.sh" "${COFFER%/*}" "$cases" \
	    >plfs.out 2>&1 || rc=$?
	cat plfs.out >&2
	[ "$rc" -eq 0 ] || fail "power-loss harness (full) failed (exit" \
	    "$rc)" || return 1
	expect_grep "^PASS: $cases cases" plfs.out
}
