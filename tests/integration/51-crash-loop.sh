# SPDX-License-Identifier: ISC
# tests/integration/51-crash-loop.sh
# Goal: SIGKILL at random instants of backups (12 kills, seeded so a
# failure can be replayed with CRASH_SEED) never costs an earlier
# snapshot: after every kill check passes, the first snapshot restores
# bit for bit, and a final backup completes.
scenario() {
	seed=${CRASH_SEED:-$$}
	note "crash seed $seed (rerun with CRASH_SEED=$seed)"
	"$HELPERS/gentree" src --big || return 1
	cp -a src orig || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	k=0
	while [ $k -lt 12 ]; do
		# Change something so every backup has new data to write.
		head -c 3000000 /dev/urandom > "src/new-$k" || return 1
		"$COFFER" backup src >/dev/null 2>"err.kill$k" &
		pid=$!
		# 0 to 0.6 s in: walk, chunking, pack writes, index, snapshot.
		ms=$(( (seed * (k + 7) * 7919) % 600 ))
		sleep "$(printf '0.%03d' "$ms")"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		expect_exit 0 "$COFFER" check --read-data ||
		    fail "check failed after kill $k at ${ms} ms" || return 1
		rm -rf rst1
		expect_exit 0 "$COFFER" restore 1 --target rst1 || return 1
		# shellcheck disable=SC2046
		expect_tree orig rst1/src $(owner_opt) || return 1
		k=$((k + 1))
	done
	rm -f src/new-*
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 0 "$COFFER" restore latest --target rst-last || return 1
	# shellcheck disable=SC2046
	expect_tree src rst-last/src $(owner_opt) || return 1
}
