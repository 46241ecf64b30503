# SPDX-License-Identifier: ISC
# tests/integration/52-concurrency.sh
# test: alone
# Goal: coffer processes sharing one repository never corrupt it, and a
# refused one says clearly why (lib/repo/lock.c, docs/FORMAT.md §13).
# 50-lock already covers a backup SIGKILLed mid-way (its stale lock
# blocks nothing); this scenario covers the rest:
#   - a backup held open (stdin from a FIFO) blocks a second backup and a
#     prune ("repository locked", "in use by a backup", exit 1), while
#     snapshots, restore and check --read-data run beside it;
#   - check beside a backup held after it wrote a pack: exit 0, the pack
#     is "not in any index yet: a backup is running (pid N on this
#     host)", never a leftover (text and --json "pending"); clean once
#     the backup ends; the pack of a SIGKILLed backup, and one made by
#     hand, are leftovers;
#   - a restore held open (its output pipe full) lets a backup run beside
#     it and blocks a prune ("in use by a reader"); both end whole;
#   - two backups started at the same instant, COFFER_CONCURRENCY_ROUNDS
#     times (default 5): each either completes or fails with "repository
#     locked" and exit 1 (both may fail: each sees the other's lock);
#     a full restore runs beside a backup;
#   - stale and foreign locks: a SIGKILLed restore's lock blocks not even
#     an exclusive prune; a live lock of another host is obeyed, with the
#     file to remove named, and one older than 1800 s is removed; an
#     exclusive lock (as older coffers wrote it: no start time, no boot
#     id) of a live process of this host blocks even a reader, and of a
#     dead one nothing (50-lock covers reused pids and earlier boots);
#   - at the end check --read-data passes and every snapshot restores bit
#     for bit.

# lock_files: the lock files in the repository now, one per line.
lock_files()
{
	find "$COFFER_REPO/locks" -name '*.lock' 2>/dev/null
}

# wait_locks N: wait until the repository holds N lock files.
wait_locks()
{
	wait_for "[ \"\$(lock_files | wc -l)\" -eq $1 ]" 60
}

# lock_field FILE NAME: a field of a lock file (pid, host, kind, time).
lock_field()
{
	sed -n "s/^$2 //p" "$1"
}

# expect_locked WHO CMD...: CMD fails with exit 1 and a clear message.
expect_locked()
{
	_who=$1
	shift
	expect_exit 1 "$@" || return 1
	expect_grep 'repository locked' err || return 1
	expect_grep -F "in use by $_who" err || return 1
	expect_grep 'remove that file if no coffer is running there' err
}

# write_lock NAME KIND PID HOST TIME: a lock file as another coffer
# would write it.
write_lock()
{
	printf 'coffer lock\nkind %s\npid %s\nhost %s\ntime %s\n' "$2" "$3" \
	    "$4" "$5" >"$COFFER_REPO/locks/$1.lock"
}

held_backup()
{
	note "a backup held open blocks another backup and prune only"
	mkfifo feed || return 1
	"$COFFER" backup --stdin --stdin-name held.bin <feed >out.held \
	    2>err.held &
	held=$!
	# Read-write: opening never blocks, even if coffer died at once.
	exec 3<>feed
	for _ in 1 2 3 4; do
		timeout 60 cat src/f5m >&3 || break
	done
	for _ in 1 2 3 4; do cat src/f5m; done >held.bin
	wait_locks 1 || return 1
	kill -0 "$held" 2>/dev/null ||
	    fail "the held backup ended early: $(cat err.held)" || return 1
	l=$(lock_files)
	[ "$(lock_field "$l" pid)" = "$held" ] &&
	    [ "$(lock_field "$l" kind)" = 2 ] ||
	    fail "the held backup's lock is not kind 2, pid $held:" \
	    "$(cat "$l")" || return 1
	cp "$l" this-host.lock
	HOST=$(lock_field "$l" host)

	expect_locked "a backup (pid $held on this host" \
	    "$COFFER" backup src || return 1
	expect_locked "a backup" "$COFFER" prune || return 1
	expect_locked "a backup" "$COFFER" forget --keep-last 1 || return 1
	expect_exit 0 "$COFFER" snapshots || return 1
	rm -rf rst-h
	expect_exit 0 "$COFFER" restore 1 --target rst-h || return 1
	# shellcheck disable=SC2046
	expect_tree src rst-h/src $(owner_opt) || return 1
	# The half-written backup is no damage.
	expect_exit 0 "$COFFER" check --read-data || return 1
	[ "$(lock_files)" = "$l" ] ||
	    fail "locks left by the refused commands: $(lock_files)" ||
	    return 1

	exec 3>&-
	wait "$held" || fail "the held backup failed: $(cat err.held)" ||
	    return 1
	[ -z "$(lock_files)" ] || fail "lock left: $(lock_files)" ||
	    return 1
}

# full_packs: the complete pack files on the card (not ".tmp").
full_packs()
{
	find "$COFFER_REPO"/sets/*/packs -type f ! -name '*.tmp' | wc -l
}

# hold_backup NAME: start a backup of 40 MB of random data read from a
# FIFO held open on fd 4, and return once it has written a whole pack
# that no index names yet; its pid is in $held.
hold_backup()
{
	rm -f "feed.$1"
	mkfifo "feed.$1" || return 1
	before=$(full_packs)
	head -c 40000000 /dev/urandom >"$1.bin" || return 1
	"$COFFER" backup --stdin --stdin-name "$1.bin" <"feed.$1" \
	    >"out.$1" 2>"err.$1" 4>&- &
	held=$!
	# Read-write: opening never blocks, even if coffer died at once.
	exec 4<>"feed.$1"
	timeout 60 cat "$1.bin" >&4 ||
	    fail "could not feed the held backup: $(cat "err.$1")" || return 1
	wait_for "[ \"\$(full_packs)\" -gt $before ]" 60 || return 1
	kill -0 "$held" 2>/dev/null ||
	    fail "the held backup ended early: $(cat "err.$1")"
}

check_beside_backup()
{
	note "check beside a backup that has written a pack: pending, not" \
	    "leftovers"
	pending_msg="not in any index yet: a backup is running"
	hold_backup pending || return 1
	expect_exit 0 "$COFFER" check || return 1
	note "$(cat out)"
	expect_grep -F "$pending_msg (pid $held on this host)" out || return 1
	expect_no_grep -i 'leftover' out || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_grep -F "$pending_msg (pid $held on this host)" out || return 1
	expect_no_grep -i 'leftover' out || return 1
	expect_exit 0 "$COFFER" check --json || return 1
	expect_jq '.ok and .pending >= 1 and .leftovers == 0' out || return 1
	exec 4>&-
	wait "$held" || fail "the held backup failed: $(cat err.pending)" ||
	    return 1

	note "once it has finished, check is clean"
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_no_grep -i 'leftover|not in any index' out || return 1
	expect_exit 0 "$COFFER" check --json || return 1
	expect_jq '.ok and .pending == 0 and .leftovers == 0' out || return 1

	note "a SIGKILLed backup's pack is a leftover (its lock is stale)"
	hold_backup killed || return 1
	kill -KILL "$held" || return 1
	wait "$held" 2>/dev/null
	exec 4>&-
	[ -n "$(lock_files)" ] || fail "the killed backup left no lock" ||
	    return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_grep '^[1-9][0-9]* leftover packs? from interrupted backups' \
	    out || return 1
	expect_no_grep 'not in any index' out || return 1
	expect_exit 0 "$COFFER" check --json || return 1
	expect_jq '.ok and .pending == 0 and .leftovers >= 1' out || return 1
	[ -z "$(lock_files)" ] || fail "stale lock kept: $(lock_files)" ||
	    return 1

	note "a pack made by hand is a leftover"
	expect_exit 0 "$COFFER" prune || return 1
	expect_exit 0 "$COFFER" check --json || return 1
	expect_jq '.leftovers == 0' out || return 1
	set -- "$COFFER_REPO"/sets/*/packs
	hand=$1/00/00112233445566778899aabbccddeeff
	mkdir -p "$1/00" && head -c 5000 /dev/urandom >"$hand" || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_grep '^1 leftover pack from interrupted backups' out || return 1
	expect_no_grep 'not in any index' out || return 1
	rm -f "$hand"
}

held_restore()
{
	note "a restore held open lets a backup run, blocks prune"
	rm -f go
	{
		"$COFFER" restore 1 --to-stdout --include src/big-40m \
		    2>err.dump
		echo $? >rc.dump
	} 3>&- | {
		while [ ! -f go ]; do sleep 0.1; done
		cat >dumped.bin
	} 3>&- &
	dump=$!
	wait_locks 1 || return 1
	l=$(lock_files)
	[ "$(lock_field "$l" kind)" = 1 ] ||
	    fail "the restore's lock is not kind 1: $(cat "$l")" || return 1
	head -c 3000000 /dev/urandom >src/during-restore || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	cp -a src "state-$(last_snapshot)" || return 1
	expect_locked "a reader" "$COFFER" prune || return 1
	touch go
	wait "$dump"
	[ "$(cat rc.dump)" = 0 ] ||
	    fail "the held restore failed: $(cat err.dump)" || return 1
	expect_same src/big-40m dumped.bin || return 1
	rm -f dumped.bin

	note "a full restore and a backup at once"
	rm -rf rst-c
	"$COFFER" restore 1 --target rst-c >out.rc 2>err.rc 3>&- &
	r=$!
	head -c 3000000 /dev/urandom >src/during-restore2 || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	wait "$r" || fail "restore beside a backup: $(cat err.rc)" ||
	    return 1
	cp -a src "state-$(last_snapshot)" || return 1
}

# last_snapshot: the name of the newest snapshot.
last_snapshot()
{
	"$COFFER" snapshots --json | jq -r '.snapshots[-1].name'
}

racing_backups()
{
	rounds=${COFFER_CONCURRENCY_ROUNDS:-5}
	note "two backups at the same instant, $rounds rounds"
	one=0
	both_failed=0
	both_ok=0
	k=0
	while [ "$k" -lt "$rounds" ]; do
		mkdir "r$k" && head -c 8000000 /dev/urandom >"r$k/data" &&
		    cp src/f300k "r$k/" || return 1
		# Both wait for the same file to appear, then go.
		rm -f start
		for x in a b; do
			(
				while [ ! -f start ]; do sleep 0.01; done
				"$COFFER" backup "r$k" >"out.$x" 2>"err.$x"
				echo $? >"rc.$x"
			) 3>&- &
		done
		touch start
		wait
		ra=$(cat rc.a)
		rb=$(cat rc.b)
		for x in a b; do
			rc=$(cat "rc.$x")
			[ "$rc" = 0 ] && continue
			[ "$rc" = 1 ] && grep -q 'repository locked' "err.$x" ||
			    fail "round $k, backup $x: exit $rc: $(cat "err.$x")" ||
			    return 1
		done
		case $ra$rb in
		00)	both_ok=$((both_ok + 1)) ;;
		01|10)	one=$((one + 1)) ;;
		11)	both_failed=$((both_failed + 1)) ;;
		esac
		[ -z "$(lock_files)" ] || fail "lock left: $(lock_files)" ||
		    return 1
		k=$((k + 1))
	done
	note "rounds: $one with one backup refused, $both_failed with both" \
	    "refused, $both_ok with both done (no overlap)"
}

foreign_locks()
{
	note "stale and foreign locks"
	now=$(date +%s)
	# A restore SIGKILLed while it held its lock.
	rm -f go
	{ "$COFFER" restore 1 --to-stdout --include src/big-40m 2>/dev/null; } \
	    3>&- | { while [ ! -f go ]; do sleep 0.1; done; cat >/dev/null; } \
	    3>&- &
	dump=$!
	wait_locks 1 || return 1
	pid=$(lock_field "$(lock_files)" pid)
	kill -KILL "$pid" || return 1
	touch go
	wait "$dump"
	[ -n "$(lock_files)" ] || fail "the killed restore left no lock" ||
	    return 1
	expect_exit 0 "$COFFER" prune --dry-run || return 1
	expect_exit 0 "$COFFER" prune || return 1
	[ -z "$(lock_files)" ] || fail "stale lock kept: $(lock_files)" ||
	    return 1

	# Another host, fresh: obeyed, and the message names the file.
	other=0123456789abcdef0123456789abcdef
	write_lock aaaaaaaaaaaaaaaa 2 4242 "$other" "$now"
	expect_locked "a backup (pid 4242 on another host" \
	    "$COFFER" backup src || return 1
	expect_grep -F "$COFFER_REPO/locks/aaaaaaaaaaaaaaaa.lock" err ||
	    return 1
	expect_exit 0 "$COFFER" snapshots || return 1
	rm "$COFFER_REPO/locks/aaaaaaaaaaaaaaaa.lock"
	# ... and stale after 1800 s without a refresh.
	write_lock bbbbbbbbbbbbbbbb 3 4242 "$other" "$((now - 1801))"
	expect_exit 0 "$COFFER" snapshots || return 1
	[ ! -e "$COFFER_REPO/locks/bbbbbbbbbbbbbbbb.lock" ] ||
	    fail "a stale lock of another host was kept" || return 1

	# This host: an exclusive lock of a live process blocks even a
	# reader, of a dead one nothing.  Written as older coffers did, with
	# no start time or boot id, so only the pid counts (reused pids:
	# 50-lock).
	sleep 300 3>&- &
	live=$!
	write_lock cccccccccccccccc 3 "$live" "$HOST" "$now"
	expect_locked "an exclusive operation (pid $live on this host" \
	    "$COFFER" snapshots || return 1
	kill "$live"
	wait "$live" 2>/dev/null
	expect_exit 0 "$COFFER" snapshots || return 1
	[ -z "$(lock_files)" ] || fail "stale lock kept: $(lock_files)" ||
	    return 1
}

# Every snapshot restores bit for bit: "src" ones against the state
# saved for them (or src itself), r<k> against r<k>, held.bin and
# pending.bin.
verify_all()
{
	note "check --read-data and every snapshot"
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	cp out snaps.json
	n=0
	for name in $(jq -r '.snapshots[].name' snaps.json); do
		p=$(NAME=$name jq -r '.snapshots[] | select(.name == env.NAME) |
		    .paths[0]' snaps.json)
		rm -rf rst
		expect_exit 0 "$COFFER" restore "$name" --target rst ||
		    return 1
		case $p in
		held.bin|pending.bin)
			expect_same "$p" "rst/$p" || return 1 ;;
		src)
			want=src
			[ -d "state-$name" ] && want=state-$name
			[ "$name" = 1 ] && want=orig
			# shellcheck disable=SC2046
			expect_tree "$want" rst/src $(owner_opt) || return 1 ;;
		*)
			# shellcheck disable=SC2046
			expect_tree "$p" "rst/$p" $(owner_opt) || return 1 ;;
		esac
		n=$((n + 1))
	done
	note "$n snapshots restored bit for bit"
}

scenario() {
	need_cmd jq timeout || return 1
	"$HELPERS/gentree" src --big || return 1
	cp -a src orig || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	held_backup || return 1
	check_beside_backup || return 1
	held_restore || return 1
	racing_backups || return 1
	foreign_locks || return 1
	verify_all || return 1
}
