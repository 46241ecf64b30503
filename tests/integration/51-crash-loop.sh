# SPDX-License-Identifier: ISC
# tests/integration/51-crash-loop.sh
# test: alone
# Goal: SIGKILL at random instants of backups (COFFER_CRASH_KILLS kills,
# default 25, seeded so a failure can be replayed with CRASH_SEED) never
# costs an earlier snapshot: after every kill check passes, the first
# snapshot restores bit for bit, and a final backup completes.  The
# instants are spread evenly over a window that starts at twice the time
# one such backup takes here and then follows the backups' real length
# (a backup after a kill has more to do: what the killed one read is read
# again): 1/8 longer after a kill that interrupted a backup, 1/8 shorter
# after one that came too late, so about half the kills interrupt a
# backup, at instants spread over its whole run, the last steps (index,
# snapshot) included.
#
# Long mode: COFFER_CRASH_KILLS=1000 (run.sh stops a scenario after
# COFFER_TEST_TIMEOUT seconds, 900 by default: give it about 1.5 s a kill,
# e.g. COFFER_TEST_TIMEOUT=3600 COFFER_CRASH_KILLS=1000 sh tests/run.sh
# build 51).  So that the card stays small, every 25th kill is followed by
# a forget of every snapshot but the first and the newest, a prune and a
# check (never in the quick run).
scenario() {
	seed=${CRASH_SEED:-$$}
	kills=${COFFER_CRASH_KILLS:-25}
	note "crash seed $seed, $kills kills (rerun with CRASH_SEED=$seed" \
	    "COFFER_CRASH_KILLS=$kills)"
	"$HELPERS/gentree" src --big || return 1
	cp -a src orig || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	# How long a backup of 3 MB of new data takes on this machine (the
	# longer of two).
	window=0
	for _ in 1 2; do
		head -c 3000000 /dev/urandom >src/new-timing || return 1
		t0=$(date +%s%N)
		expect_exit 0 "$COFFER" backup src || return 1
		t=$(( ($(date +%s%N) - t0) / 1000000 ))
		[ "$t" -gt "$window" ] && window=$t
	done
	note "a backup takes about $window ms here"
	window=$((window * 2))
	[ "$window" -ge 20 ] || window=20
	rm -f src/new-timing
	rnd=$seed
	k=0
	killed=0
	trims=0
	while [ $k -lt "$kills" ]; do
		# Change something so every backup has new data to write.
		head -c 3000000 /dev/urandom >"src/new-$((k % 8))" || return 1
		"$COFFER" backup src >/dev/null 2>"err.kill" &
		pid=$!
		# Walk, chunking, pack writes, index, snapshot (an LCG).
		rnd=$(( (rnd * 1103515245 + 12345) % 2147483648 ))
		ms=$(( (rnd / 65536) % (window + 1) ))
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		kill -KILL "$pid" 2>/dev/null
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		if [ "$rc" -eq 137 ]; then
			killed=$((killed + 1))
			window=$((window + window / 8 + 1))
		elif [ "$window" -gt 20 ]; then
			window=$((window - window / 8))
		fi
		[ "$rc" -eq 0 ] || [ "$rc" -eq 137 ] ||
		    fail "backup $k ended with $rc: $(cat err.kill)" || return 1
		expect_exit 0 "$COFFER" check --read-data ||
		    fail "check failed after kill $k at ${ms} ms" || return 1
		rm -rf rst1
		expect_exit 0 "$COFFER" restore 1 --target rst1 || return 1
		# shellcheck disable=SC2046
		expect_tree orig rst1/src $(owner_opt) || return 1
		if [ $((k % 25)) -eq 24 ] && [ $k -lt $((kills - 1)) ]; then
			trim || return 1
			trims=$((trims + 1))
		fi
		k=$((k + 1))
	done
	note "$kills kills: $killed interrupted a backup, $((kills - killed))" \
	    "came after it had finished (window at the end: $window ms);" \
	    "$trims forget + prune rounds"
	rm -f src/new-*
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 0 "$COFFER" restore latest --target rst-last || return 1
	# shellcheck disable=SC2046
	expect_tree src rst-last/src $(owner_opt) || return 1
}

# trim: forget every snapshot but the first and the newest, prune, check.
trim()
{
	expect_exit 0 "$COFFER" snapshots --json || return 1
	names=$(jq -r '.snapshots[:-1][] | select(.name != "1") | .name' out)
	[ -n "$names" ] || return 0
	# shellcheck disable=SC2086 # one argument per name
	expect_exit 0 "$COFFER" forget $names || return 1
	expect_exit 0 "$COFFER" prune || return 1
	expect_exit 0 "$COFFER" check --read-data
}
