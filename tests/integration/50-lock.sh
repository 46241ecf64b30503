# SPDX-License-Identifier: ISC
# tests/integration/50-lock.sh
# test: alone
# Goal: a backup killed with SIGKILL mid-way (its lock left behind, packs
# half written) blocks nothing: the next backup runs, check passes, no
# snapshot appears for the killed backup, and every snapshot restores.
# Lock files carry keyed hashes of the host name, boot id and the
# holder's start time, never the values themselves (the card does not
# tie itself to a device and a boot: SECURITY.md), and the lock rules
# work on the hashes: a lock of this host is stale when its pid now runs
# another process (another start time) or it was written in an earlier
# boot (another boot id), while a lock whose process, start time and
# boot id all match still blocks (docs/FORMAT.md §13).  The same holds
# for the locks of older coffers (raw values, the old host hash).

# proc_start PID: field 22 of /proc/PID/stat, the start time in clock
# ticks since boot (fields counted after the ") " that ends the name).
proc_start()
{
	sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20
}

# boot_id: this boot's id without its dashes.
boot_id()
{
	sed 's/-//g' /proc/sys/kernel/random/boot_id
}

# lock_field FILE NAME: a field of a lock file.
lock_field()
{
	sed -n "s/^$2 //p" "$1"
}

# lockval PID START [BOOT] NAME: a value a lock of this host carries
# (helpers/lockval.c, the same code as lock.c).
lockval()
{
	_name=$1
	shift
	"$HELPERS/lockval" "$COFFER_REPO" "$@" | sed -n "s/^$_name //p"
}

# forge NAME KIND PID HOST START BOOT [TIME]: a lock file as a coffer of
# this version writes it (written now, or at TIME).
forge()
{
	printf 'coffer lock\nkind %s\npid %s\nhost %s\ntime %s\n' "$2" "$3" \
	    "$4" "${7:-$(date +%s)}" >"$COFFER_REPO/locks/$1.lock"
	printf 'start %s\nboot %s\n' "$5" "$6" >>"$COFFER_REPO/locks/$1.lock"
}

# reused_pids new|old: locks naming a live process (a sleep) of this
# host, as this coffer writes them (keyed) or as older ones did (raw).
reused_pids()
{
	boot=$(boot_id)
	sleep 300 3>&- &
	live=$!
	start=$(proc_start "$live")
	[ -n "$start" ] && [ "${#boot}" -eq 32 ] ||
	    fail "cannot read start time '$start' or boot id '$boot'" ||
	    return 1
	other=0123456789abcdef0123456789abcdef
	if [ "$1" = new ]; then
		host=$(lockval host "$live" "$start")
		s_live=$(lockval start "$live" "$start")
		s_reused=$(lockval start "$live" "$((start + 1))")
		b_this=$(lockval boot "$live" "$start")
		b_other=$(lockval boot "$live" "$start" "$other")
	else
		host=$(lockval host_old "$live" "$start")
		s_live=$start
		s_reused=$((start + 1))
		b_this=$boot
		b_other=$other
	fi
	note "$1 locks: host $host, start $s_live, boot $b_this"

	note "a live pid with another start time: reused, stale"
	forge aaaaaaaaaaaaaaaa 2 "$live" "$host" "$s_reused" "$b_this"
	expect_exit 0 timeout 120 "$COFFER" backup src || return 1
	[ ! -e "$COFFER_REPO/locks/aaaaaaaaaaaaaaaa.lock" ] ||
	    fail "the lock of a reused pid was kept" || return 1

	note "a live pid, its start time, another boot id, written before" \
	    "this boot: stale"
	booted=$(( $(date +%s) - $(cut -d. -f1 /proc/uptime) ))
	forge bbbbbbbbbbbbbbbb 3 "$live" "$host" "$s_live" "$b_other" \
	    $((booted - 600))
	expect_exit 0 "$COFFER" snapshots || return 1
	[ ! -e "$COFFER_REPO/locks/bbbbbbbbbbbbbbbb.lock" ] ||
	    fail "the lock of an earlier boot was kept" || return 1

	note "another boot id, written since this boot: another machine of" \
	    "the same host name, live"
	forge bbbbbbbbbbbbbbbb 3 "$live" "$host" "$s_live" "$b_other"
	expect_exit 1 "$COFFER" snapshots || return 1
	expect_grep 'repository locked' err || return 1
	[ -e "$COFFER_REPO/locks/bbbbbbbbbbbbbbbb.lock" ] ||
	    fail "the lock of a machine of the same name was removed" ||
	    return 1
	rm -f "$COFFER_REPO/locks/bbbbbbbbbbbbbbbb.lock"

	note "a live pid, its start time and this boot: it blocks"
	forge cccccccccccccccc 2 "$live" "$host" "$s_live" "$b_this"
	expect_exit 1 "$COFFER" backup src || return 1
	expect_grep 'repository locked' err || return 1
	expect_grep -F "in use by a backup (pid $live on this host" err ||
	    return 1
	expect_grep -F "$COFFER_REPO/locks/cccccccccccccccc.lock" err ||
	    return 1
	expect_grep 'remove that file if no coffer is running there' err ||
	    return 1
	[ -e "$COFFER_REPO/locks/cccccccccccccccc.lock" ] ||
	    fail "a live lock was removed" || return 1
	# A reader may run beside it; an exclusive prune may not.
	expect_exit 0 "$COFFER" snapshots || return 1
	expect_exit 1 "$COFFER" prune || return 1
	expect_grep 'repository locked' err || return 1

	# Once the process is gone, the same lock is stale.
	kill "$live"
	wait "$live" 2>/dev/null
	expect_exit 0 "$COFFER" prune || return 1
	[ -z "$(find "$COFFER_REPO/locks" -name '*.lock')" ] ||
	    fail "locks left: $(ls "$COFFER_REPO/locks")" || return 1
}

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
	# Its lock records its start time and this boot's id, keyed: the
	# values themselves are nowhere on the card, nor the host hash of
	# older coffers (keyed by the repository id alone, so anyone with
	# the card can try host names against it).
	killed_start=$(proc_start "$pid")
	lock=$(find "$COFFER_REPO/locks" -name '*.lock')
	[ "$(printf '%s\n' "$lock" | wc -l)" -eq 1 ] ||
	    fail "want one lock file, have: $lock" || return 1
	"$HELPERS/lockval" "$COFFER_REPO" "$pid" "$killed_start" >want ||
	    return 1
	[ "$(lock_field "$lock" pid)" = "$pid" ] &&
	    [ "$(lock_field "$lock" host)" = "$(lock_field want host)" ] &&
	    [ "$(lock_field "$lock" start)" = "$(lock_field want start)" ] &&
	    [ "$(lock_field "$lock" boot)" = "$(lock_field want boot)" ] ||
	    fail "lock of pid $pid (start $killed_start, boot $(boot_id)):" \
	    "$(cat "$lock"), want: $(cat want)" || return 1
	[ "$(lock_field "$lock" start)" != "$killed_start" ] &&
	    [ "$(lock_field "$lock" host)" != "$(lock_field want host_old)" ] ||
	    fail "the lock holds raw values: $(cat "$lock")" || return 1
	for v in "$(boot_id)" "$(cat /proc/sys/kernel/random/boot_id)"; do
		! grep -rqF "$v" "$COFFER_REPO" ||
		    fail "'$v' is on the card" || return 1
	done
	# Another machine id (another device): other hashes.
	COFFER_MACHINE_ID=fedcba9876543210fedcba9876543210 \
	    "$HELPERS/lockval" "$COFFER_REPO" "$pid" "$killed_start" >other ||
	    return 1
	for f in host boot start; do
		[ "$(lock_field other $f)" != "$(lock_field want $f)" ] ||
		    fail "the $f hash does not depend on the machine id" ||
		    return 1
	done
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

	reused_pids new || return 1
	reused_pids old || return 1
	expect_exit 0 "$COFFER" check || return 1
}
