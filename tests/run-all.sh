#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/run-all.sh: build and run every test twice, once with the normal
# build (build/) and once with clang's ASan and UBSan (build-asan/, "make
# asan"), both with build-shrunk/coffer ("make shrunk") for 59-limits,
# then print the combined "N passed, N failed" as the last line.
# Exit status 1 if a build failed or any test failed.

set -u

cd "$(dirname "$0")/.." || exit 2

jobs=$(nproc 2>/dev/null || echo 2)
total_p=0
total_f=0
status=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-run-all.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# half BUILD_DIR MAKE-TARGET...: build, run tests/run.sh BUILD_DIR, add its
# counts to the totals.
half()
{
	b=$1
	shift
	echo "# make $*"
	t0=$(date +%s)
	if ! make -j"$jobs" "$@"; then
		echo "not ok - make $* failed"
		total_f=$((total_f + 1))
		status=1
		return
	fi
	t1=$(date +%s)
	echo "# make $*: $((t1 - t0)) s"
	{ sh tests/run.sh "$b"; echo $? >"$tmp/rc"; } | tee "$tmp/log"
	echo "# tests/run.sh $b: $(($(date +%s) - t1)) s"
	last=$(tail -n 1 "$tmp/log")
	case $last in
	[0-9]*" passed, "[0-9]*" failed")
		p=${last%% passed*}
		f=${last#*passed, }
		f=${f%% failed}
		total_p=$((total_p + p))
		total_f=$((total_f + f))
		;;
	*)
		echo "not ok - tests/run.sh $b ended without a summary"
		total_f=$((total_f + 1))
		;;
	esac
	[ "$(cat "$tmp/rc")" = 0 ] || status=1
}

# build-shrunk/coffer (its limits made small) serves 59-limits in both
# halves; a failed build fails that scenario, it does not skip it.
echo "# make shrunk"
t0=$(date +%s)
make -j"$jobs" shrunk || echo "# warning: make shrunk failed"
echo "# make shrunk: $(($(date +%s) - t0)) s"

half build all tests

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS
half build-asan asan

echo "$total_p passed, $total_f failed"
[ "$status" -eq 0 ] && [ "$total_f" -eq 0 ]
