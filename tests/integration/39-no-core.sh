# SPDX-License-Identifier: ISC
# tests/integration/39-no-core.sh
# Goal: a running coffer leaves no core file and cannot be read by
# another process of its own uid: its core size limit is 0 (soft and
# hard) and it is not dumpable, so the kernel gives its /proc files to
# root and refuses its memory to a process of its uid (SECURITY.md,
# "Core dumps").  The coffer examined waits on a FIFO as its
# --passphrase-file, the first secret it reads.  As root it runs as
# nobody, where an owner of root tells "not dumpable" apart.

scenario() {
	if is_root; then
		uid=65534
	else
		uid=$(id -u)
	fi
	mkfifo -m 666 fifo || return 1
	# Not through as_user: a function run with & is a subshell, and $!
	# would be that shell's pid.
	if is_root; then
		setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		    "$COFFER" --repo "$PWD/card" --passphrase-file "$PWD/fifo" \
		    snapshots >out.bg 2>err.bg &
	else
		"$COFFER" --repo "$PWD/card" --passphrase-file "$PWD/fifo" \
		    snapshots >out.bg 2>err.bg &
	fi
	pid=$!
	# Waiting: coffer itself (setpriv has exec'd it), asleep in open(2)
	# of the FIFO.
	wait_for "tr '\\0' ' ' </proc/$pid/cmdline | grep -q '^$COFFER .*snapshots' &&
	    grep -q '^State:.*S' /proc/$pid/status" 10 ||
	    { fail "coffer did not start: $(cat err.bg)"; : 1<>fifo; return 1; }
	examine "$pid"
	rc=$?
	# Let it go (also on failure): an empty passphrase file, then the
	# missing repository.  Read-write: opening never blocks.
	: 1<>fifo
	wait "$pid" 2>/dev/null
	return $rc
}

# examine PID: the checks on the waiting coffer.
examine()
{
	pid=$1
	sleep 0.5
	kill -0 "$pid" 2>/dev/null ||
	    fail "coffer ended early: $(cat err.bg)" || return 1
	cat "/proc/$pid/limits" >limits
	grep '^Max core file size' limits >&2
	grep -Eq '^Max core file size +0 +0 ' limits ||
	    fail "the core size limit is not 0 0" || return 1
	awk '/^Uid:/ { print $2, $3 }' "/proc/$pid/status" |
	    grep -qx "$uid $uid" ||
	    fail "coffer does not run as uid $uid" || return 1
	owner=$(stat -c %u "/proc/$pid/status")
	[ "$owner" = 0 ] ||
	    fail "coffer is dumpable: its /proc files are owned by" \
	    "$owner, not root" || return 1
	expect_fail as_user "$HELPERS/memscan" "$pid" 00 || return 1
}
