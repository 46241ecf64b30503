# SPDX-License-Identifier: ISC
# tests/integration/53-resume.sh
# test: long
# Goal: an interrupted backup is resumed, not repeated (issue #16, item 9).
# A first backup of incompressible data (400 MiB; 48 MiB under ASan) is
# stopped at seeded random points with SIGINT, SIGTERM and SIGKILL, each
# time once the card holds a given share of what a clean backup writes,
# and then run again.  Asserted for every round: SIGINT exits 130 and
# SIGTERM 143, each saying what was kept and that the next backup goes on
# from there; the rerun makes the repository at most 5% (plus 1 MiB)
# larger than a clean backup's, i.e. what the interrupted run wrote is
# not written again; the snapshot restores bit for bit and
# `check --read-data` passes.  In one SIGKILL round, packs are planted
# before the rerun (random bytes under a pack name, a pack of another
# key set, a pack of this set copied to a new name) and one of the packs
# the killed run left is damaged in a blob: none is taken over (the
# blobs of the damaged one are written again; check counts the four as
# leftovers), the rerun still succeeds, and its additions stay within
# the bound.  Then prune leaves nothing unused: check counts no
# leftovers, and a second prune removes nothing.  Last, Ctrl-C twice ends
# a backup at once, and the next takes over the packs it finished.
scenario() {
	need_cmd jq perl || return 1
	seed=${RESUME_SEED:-$$}
	note "resume seed $seed (rerun with RESUME_SEED=$seed)"
	nfiles=16
	fsize=$((25 * 1048576))
	if grep -aq __asan_init "$COFFER"; then
		nfiles=6
		fsize=$((8 * 1048576))
	fi
	mkdir src || return 1
	i=0
	while [ $i -lt $nfiles ]; do
		head -c $fsize /dev/urandom >"src/f$i" || return 1
		i=$((i + 1))
	done
	# Small files too, walked first: bundles in the first packs.
	mkdir src/a-small || return 1
	i=0
	while [ $i -lt 200 ]; do
		head -c $((i * 97 + 1)) /dev/urandom >"src/a-small/s$i" || return 1
		i=$((i + 1))
	done

	# What a clean backup writes.
	export COFFER_REPO="$PWD/clean"
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	clean=$(dir_size clean) || return 1
	limit=$((clean + clean / 20 + 1048576))
	note "a clean backup makes the repository $clean bytes; limit $limit"

	rnd=$seed
	round=0
	for sig in INT KILL TERM KILL INT; do
		round=$((round + 1))
		rnd=$(( (rnd * 1103515245 + 12345) % 2147483648 ))
		pct=$(( 10 + (rnd / 65536) % 71 ))	# 10 .. 80 %
		# Round 4 damages a pack the killed run left: one that no
		# interim index names (it writes one every 16 packs).
		[ $round -eq 4 ] && pct=0
		one_round "$round" "$sig" "$pct" || return 1
	done
	# Prune after interrupted backups and reruns: nothing is left over.
	expect_exit 0 "$COFFER" prune || return 1
	expect_exit 0 "$COFFER" check --json || return 1
	expect_jq '.leftovers == 0 and .problems == 0' out || return 1
	expect_exit 0 "$COFFER" prune --json || return 1
	expect_jq '.packs_deleted == 0 and .packs_repacked == 0 and
	    .blobs_removed == 0' out || return 1
	after=$(dir_size "$COFFER_REPO") || return 1
	note "after prune: $after bytes"
	[ "$after" -le $((clean + 1048576)) ] ||
	    fail "after prune the repository holds $after bytes, a clean" \
	    "backup $clean" || return 1
	twice
}

# one_round N SIG PCT: a fresh repository, a first backup stopped by SIG
# once the card holds PCT% of a clean backup's bytes, then the rerun.
one_round() {
	rm -rf "repo$(($1 - 1))" rst || return 1
	export COFFER_REPO="$PWD/repo$1"
	expect_exit 0 "$COFFER" init || return 1
	target=$((clean * $3 / 100))
	note "round $1: SIG$2 at $3% ($target bytes; 0: at the first pack)"
	# Started from a shell script, SIGINT would be ignored: undo that.
	perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
	    "$COFFER" backup src >out.kill 2>err.kill &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$3" -eq 0 ]; then
			[ -n "$(find "$COFFER_REPO/sets" -path '*/packs/*/*' \
			    -type f ! -name '*.tmp')" ] && break
		else
			[ "$(dir_size "$COFFER_REPO")" -lt "$target" ] || break
		fi
		sleep 0.02
	done
	kill -"$2" "$pid" 2>/dev/null
	rc=0
	wait "$pid" || rc=$?
	cp err.kill err
	case $2 in
	INT) want=130 ;;
	TERM) want=143 ;;
	KILL) want=137 ;;
	esac
	[ "$rc" -eq "$want" ] ||
	    fail "SIG$2: exit status $rc, want $want: $(cat err.kill)" ||
	    return 1
	no_sanitizer_report || return 1
	if [ "$2" != KILL ]; then
		expect_grep '^coffer backup: interrupted: no new snapshot; [0-9]+ files?, [0-9.]+ [KMG]?i?B written to the card are kept, and the next backup into key set [0-9a-f]{16} continues from there$' err.kill || return 1
	fi
	left=$(dir_size "$COFFER_REPO") || return 1
	note "the interrupted backup left $left bytes"
	spoilt=0
	if [ "$1" -eq 4 ]; then
		plant || return 1
	fi
	base=$(dir_size "$COFFER_REPO") || return 1
	expect_exit 0 "$COFFER" backup --json src || return 1
	cp out backup.json
	if [ "$1" -eq 4 ]; then
		expect_grep '^coffer backup: warning: key set [0-9a-f]{16}: 4 packs that no index names did not authenticate \(damaged, or not of this key set\) and were not taken over' err || return 1
		# The planted packs are still there, none named by an index.
		expect_exit 0 "$COFFER" check --json || return 1
		expect_jq '.leftovers == 4' out || return 1
	fi
	now=$(dir_size "$COFFER_REPO") || return 1
	note "rerun: $(jq -c '{added, resumed}' backup.json); repository" \
	    "$base -> $now bytes"
	# What the damaged pack held is written again: not resumed.
	[ $((now - base + left - spoilt)) -le "$limit" ] ||
	    fail "the rerun wrote $((now - base)) bytes after $left were" \
	    "written ($spoilt damaged); a clean backup writes $clean" \
	    "(limit $limit)" || return 1
	expect_jq '.files > 0 and .warnings == 0' backup.json || return 1
	expect_exit 0 "$COFFER" restore latest --target rst || return 1
	expect_tree src rst/src --no-owner || return 1
	expect_exit 0 "$COFFER" check --read-data --json || return 1
	expect_jq '.problems == 0' out || return 1
	rm -rf rst
}

# plant: packs no index names that must not be taken over.
plant() {
	set_dir=$(find "$COFFER_REPO/sets" -mindepth 1 -maxdepth 1 -type d)
	mkdir -p "$set_dir/packs/ab" "$set_dir/packs/cd" "$set_dir/packs/ef" ||
	    return 1
	# Random bytes, ending like a pack.
	{ head -c 3000000 /dev/urandom; printf '\0\1\0\0CFPKEND1'; } \
	    >"$set_dir/packs/ab/ab000000000000000000000000000001" || return 1
	# A real pack of another key set (the clean repository's).
	other=$(find clean/sets -path '*/packs/*/*' -type f | head -n 1)
	[ -n "$other" ] || fail "no pack in the clean repository" || return 1
	cp "$other" "$set_dir/packs/cd/cd000000000000000000000000000002" ||
	    return 1
	# A pack of this set under another name (its table names the old).
	own=$(find "$set_dir/packs" -path '*/packs/*/*' -type f \
	    ! -name '*.tmp' ! -name 'ab0000*' ! -name 'cd0000*' | head -n 1)
	[ -n "$own" ] || fail "the killed backup left no complete pack" ||
	    return 1
	cp "$own" "$set_dir/packs/ef/ef000000000000000000000000000003" ||
	    return 1
	# And one of its own packs damaged in a blob (its table is intact).
	flip_byte "$own" 4096 || return 1
	spoilt=$(file_size "$own") || return 1
	note "planted 3 packs, damaged ${own#"$COFFER_REPO/"}"
}

# twice: Ctrl-C twice ends a backup at once (it is waiting for its
# standard input, so the first cannot have ended it yet); the packs it
# finished are still taken over by the next backup.
twice() {
	rm -rf rst "repo5" || return 1
	export COFFER_REPO="$PWD/repo6"
	expect_exit 0 "$COFFER" init || return 1
	head -c 41943040 /dev/urandom >stdin.bin || return 1
	mkfifo fifo || return 1
	perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
	    "$COFFER" backup --stdin --stdin-name z <fifo >out.kill \
	    2>err.kill &
	pid=$!
	exec 3>fifo
	cat stdin.bin >&3 || return 1
	# All read but the pipe's last bytes; the fifo stays open.
	wait_for "[ -n \"\$(find '$COFFER_REPO/sets' -path '*/packs/*/*' \
	    -type f ! -name '*.tmp')\" ]" 60 || return 1
	kill -INT "$pid" || return 1
	wait_for "grep -q '^coffer backup: stopping' err.kill" 60 || return 1
	kill -INT "$pid" || return 1
	rc=0
	wait "$pid" || rc=$?
	exec 3>&-
	cp err.kill err
	[ "$rc" -eq 130 ] || fail "Ctrl-C twice: exit status $rc, want 130" ||
	    return 1
	no_sanitizer_report || return 1
	expect_grep '^coffer backup: interrupted: no new snapshot \(one is written only at the end\); the earlier ones are intact, and the next backup into this key set takes over the packs this run finished$' err.kill || return 1
	expect_exit 0 "$COFFER" backup --json --stdin --stdin-name z \
	    <stdin.bin || return 1
	note "rerun: $(jq -c '{added, resumed}' out)"
	expect_jq '.resumed >= 16000000' out || return 1
	expect_exit 0 "$COFFER" restore latest --target rst || return 1
	expect_same stdin.bin rst/z || return 1
	expect_exit 0 "$COFFER" check --read-data --json || return 1
	expect_jq '.problems == 0 and .leftovers == 0' out || return 1
	rm -rf rst stdin.bin fifo
}
