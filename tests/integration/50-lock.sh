# SPDX-License-Identifier: ISC
# tests/integration/50-lock.sh
# Goal: a backup killed with SIGKILL mid-way (its lock left behind, packs
# half written) blocks nothing: the next backup runs, check passes, no
# snapshot appears for the killed backup, and every snapshot restores.
scenario() {
	"$HELPERS/gentree" src || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup src || return 1

	# A backup reading stdin from a FIFO we hold open: it takes the
	# lock, stores what it got so far, and waits for more.  Kill it.
	mkfifo feed || return 1
	"$COFFER" backup --stdin --stdin-name killed.bin <feed >out.killed \
	    2>err.killed &
	pid=$!
	# Read-write: opening never blocks, even if coffer died at once.
	exec 3<>feed
	i=0
	while [ $i -lt 8 ]; do
		timeout 60 cat src/f5m >&3 || break
		i=$((i + 1))
	done
	sleep 2
	kill -0 "$pid" 2>/dev/null ||
	    fail "the backup ended before it could be killed:" \
	    "$(cat err.killed)" || return 1
	note "repository while the backup runs:"
	find "$COFFER_REPO" -type f | sed "s|^$COFFER_REPO/|#   |" >&2
	kill -KILL "$pid" || return 1
	wait "$pid" 2>/dev/null
	exec 3>&-

	# The next backup neither waits forever nor fails on the stale lock.
	expect_exit 0 timeout 120 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots | length == 2' out || return 1
	expect_jq 'all(.snapshots[].paths[]; . == "src")' out || return 1
	cp out snapshots.json

	for n in $(jq -r '.snapshots[].name' snapshots.json); do
		expect_exit 0 "$COFFER" restore "$n" --target "rst-$n" ||
		    return 1
		# shellcheck disable=SC2046
		expect_tree src "rst-$n/src" $(owner_opt) || return 1
	done
}
