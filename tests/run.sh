#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/run.sh BUILD_DIR [FILTER]: run the unit test binaries
# BUILD_DIR/tests/test_* and then the integration scenarios
# tests/integration/NN-*.sh against BUILD_DIR/coffer.
#
# FILTER, if given, keeps only the tests whose name starts with it ("1" runs
# the 1x family, "10" just 10-roundtrip) or, when FILTER is not a number,
# contains it ("roundtrip", "test_chunker").
#
# Each scenario runs in its own process with tests/integration/lib.sh loaded,
# its cwd a fresh empty scratch directory, and every path coffer may touch
# (repository, keystore, HOME, XDG_*) inside that directory.  A passing
# scenario's directory is deleted; a failing one's is kept and named.
#
# Output: one "ok - NAME" / "not ok - NAME" line per unit binary and per
# scenario, diagnostics as "#" lines, and last "N passed, N failed", where
# unit tests count one per test case and scenarios one each.  Exit status 1
# if anything failed or nothing ran.
#
# Scenarios also get COFFER_SHRUNK, build-shrunk/coffer ("make shrunk":
# the hard limits made small), whether it exists or not.
#
# Environment: COFFER_TEST_TIMEOUT (seconds per scenario or unit binary,
# default 900), COFFER_TEST_JOBS (scenarios run at once; default the
# number of processors plus one, at most 3), TMPDIR (where scratch
# directories go), VERBOSE=1 (print all of every log).

set -u

usage()
{
	echo "usage: tests/run.sh BUILD_DIR [FILTER]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
[ -d "$1" ] || { echo "run.sh: no build directory '$1'" >&2; exit 2; }

srcdir=$(cd "$(dirname "$0")/.." && pwd) || exit 2
build=$(cd "$1" && pwd) || exit 2
filter=${2:-}
tmo=${COFFER_TEST_TIMEOUT:-900}
verbose=${VERBOSE:-0}
passed=0
failed=0
ran=0

# 32 hex digits, the form of /etc/machine-id, so backups never depend on the
# machine the tests run on.
machine_id=0123456789abcdef0123456789abcdef

# Scratch directories are world-traversable: scenarios that drop privileges
# (13-unreadable) must reach them.
top=$(mktemp -d "${TMPDIR:-/tmp}/coffer-tests.XXXXXX") || exit 2
chmod 755 "$top"

matches()
{
	[ -z "$filter" ] && return 0
	case $1 in
	"$filter"*)
		return 0 ;;
	esac
	case $filter in
	*[!0-9]*)
		case $1 in *"$filter"*) return 0 ;; esac ;;
	esac
	return 1
}

# diag FILE [LINES]: print the tail of FILE as "#" lines.
diag()
{
	[ -s "$1" ] || return 0
	if [ "$verbose" = 1 ]; then
		sed 's/^/#   /' "$1"
	else
		tail -n "${2:-30}" "$1" | sed 's/^/#   /'
	fi
}

now()
{
	date +%s
}

# ---- unit tests --------------------------------------------------------

for t in "$build"/tests/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=${t##*/}
	matches "$name" || continue
	ran=$((ran + 1))
	log=$top/$name.log
	rc=0
	(cd "$srcdir" && SRCDIR=$srcdir exec timeout -k 10 "$tmo" "$t") \
	    >"$log" 2>&1 </dev/null || rc=$?
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	p=0
	f=0
	if [ -n "$summary" ]; then
		p=${summary%% passed*}
		f=${summary#*passed, }
		f=${f%% failed*}
	fi
	why=
	if [ -z "$summary" ]; then
		why="no summary line"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		why="exit status $rc"
	fi
	[ "$rc" -eq 124 ] && why="timed out after ${tmo}s"
	[ -n "$why" ] && f=$((f + 1))
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -eq 0 ]; then
		echo "ok - $name ($p passed)"
		[ "$verbose" = 1 ] && diag "$log"
		rm -f "$log"
	else
		echo "not ok - $name ($p passed, $f failed${why:+; $why})"
		grep -E '^not ok' "$log" | sed 's/^/#   /'
		diag "$log" 40
		echo "#   log kept: $log"
	fi
done

# ---- integration scenarios ---------------------------------------------

if [ ! -x "$build/coffer" ]; then
	echo "# warning: $build/coffer does not exist; scenarios will fail"
fi

# start NAME SCRIPT: run one scenario in the background; its exit status
# goes to $top/NAME.rc and its run time to $top/NAME.secs.
start()
{
	scratch=$top/$1
	mkdir "$scratch" && chmod 755 "$scratch" || exit 2
	(
		t0=$(now)
		rc=0
		(
			unset XDG_RUNTIME_DIR COFFER_PASSPHRASE
			export COFFER="$build/coffer" HELPERS="$build/tests" \
			    COFFER_SHRUNK="$srcdir/build-shrunk/coffer" \
			    SRCDIR="$srcdir" \
			    COFFER_REPO="$scratch/repo" \
			    COFFER_KEYSTORE="$scratch/keystore" \
			    COFFER_MACHINE_ID="$machine_id" \
			    HOME="$scratch/home" \
			    XDG_DATA_HOME="$scratch/xdg/data" \
			    XDG_CONFIG_HOME="$scratch/xdg/config" \
			    XDG_CACHE_HOME="$scratch/xdg/cache" \
			    XDG_STATE_HOME="$scratch/xdg/state" \
			    LC_ALL=C TZ=UTC
			cd "$scratch" &&
			exec timeout -k 10 "$tmo" sh -c '
				set -u
				. "$1/tests/integration/lib.sh" || exit 99
				. "$2" || exit 99
				command -v scenario >/dev/null ||
				    { echo "no scenario() in $2" >&2; exit 99; }
				scenario' sh "$srcdir" "$2"
		) >"$top/$1.log" 2>&1 </dev/null || rc=$?
		echo $(($(now) - t0)) >"$top/$1.secs"
		echo "$rc" >"$top/$1.rc.tmp" && mv "$top/$1.rc.tmp" "$top/$1.rc"
	) &
}

# report NAME: print the result of a finished scenario; count it.
report()
{
	scratch=$top/$1
	log=$top/$1.log
	rc=$(cat "$top/$1.rc")
	secs=$(cat "$top/$1.secs")
	rm -f "$top/$1.rc" "$top/$1.secs"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok - $1 (${secs}s)"
		[ "$verbose" = 1 ] && diag "$log"
		# Scenarios may leave read-only directories behind.
		[ "$(id -u)" -eq 0 ] ||
		    chmod -R u+rwX "$scratch" 2>/dev/null
		rm -rf --one-file-system "$scratch" "$log"
	else
		failed=$((failed + 1))
		case $rc in
		124)	why="timed out after ${tmo}s" ;;
		99)	why="could not load the scenario" ;;
		*)	why="exit status $rc" ;;
		esac
		echo "not ok - $1 (${secs}s; $why)"
		diag "$log" 40
		for f in out err; do
			[ -s "$scratch/$f" ] || continue
			echo "#   --- $f (tail)"
			diag "$scratch/$f" 15
		done
		echo "#   scratch kept: $scratch"
		echo "#   log kept: $log"
	fi
}

# reap [MAX]: wait until at most MAX (default 0) scenarios still run,
# reporting each one that ends.
reap()
{
	while :; do
		n=0
		left=
		for r in $running; do
			if [ -e "$top/$r.rc" ]; then
				report "$r"
			else
				n=$((n + 1))
				left="$left $r"
			fi
		done
		running=$left
		[ "$n" -le "${1:-0}" ] && break
		sleep 0.2
	done
}

# Scenarios run $jobs at a time (COFFER_TEST_JOBS, default one more than
# the number of processors, at most 3: most scenarios spend half their
# time waiting for a server, a browser or the disk), each in its own
# scratch directory.  A scenario
# whose header has the line "# test: alone" (it measures time, or loads
# the machine on purpose) runs with nothing else beside it; these run
# first.  Then those marked "# test: long" (half a minute or more), so
# that the short ones fill the gaps at the end instead of one long
# scenario running by itself last; then the rest, each group in file
# order.
jobs=${COFFER_TEST_JOBS:-$(($(nproc 2>/dev/null || echo 1) + 1))}
[ "$jobs" -gt 3 ] && [ -z "${COFFER_TEST_JOBS:-}" ] && jobs=3
[ "$jobs" -ge 1 ] || jobs=1
running=
for group in alone long other; do
	for s in "$srcdir"/tests/integration/[0-9][0-9]-*.sh; do
		[ -f "$s" ] || continue
		name=${s##*/}
		name=${name%.sh}
		matches "$name" || continue
		kind=other
		if grep -q '^# test: alone$' "$s"; then
			kind=alone
		elif grep -q '^# test: long$' "$s"; then
			kind=long
		fi
		[ "$kind" = "$group" ] || continue
		ran=$((ran + 1))
		if [ "$kind" = alone ]; then
			reap 0
			running=$name
			start "$name" "$s"
			reap 0
		else
			reap $((jobs - 1))
			running="$running $name"
			start "$name" "$s"
		fi
	done
done
reap 0
wait

rmdir "$top" 2>/dev/null

if [ "$ran" -eq 0 ]; then
	echo "# no test matched${filter:+ '$filter'}"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
