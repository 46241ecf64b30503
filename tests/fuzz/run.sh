#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]: run the libFuzzer
# binaries BUILD_DIR/fuzz_<target> ("make fuzz" builds them) for SECONDS
# each, every target by default.  Each starts from its seeds in
# tests/fuzz/corpus/<target>/ and keeps what it learns in
# BUILD_DIR/corpus/<target>/ (the seeds are never written to); a crash or
# failed property is saved in BUILD_DIR/crashes/<target>/ and the log in
# BUILD_DIR/logs/<target>.log.  To keep a crash as a regression, copy it
# into tests/fuzz/corpus/<target>/ once fixed: "make test" replays it.
#
# Environment: FUZZ_JOBS (targets run at once, default 1), FUZZ_ARGS
# (more libFuzzer options, e.g. "-max_len=65536").
#
# Output: one "ok"/"not ok" line per target with its runs and coverage;
# exit status 1 if any target failed.

set -u

[ $# -ge 2 ] || { echo "usage: tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]" >&2; exit 2; }
cd "$(dirname "$0")/../.." || exit 2
b=$1
secs=$2
shift 2
if [ $# -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		t=${f##*/fuzz_}
		t=${t%.c}
		[ "$t" = replay ] || set -- "$@" "$t"
	done
fi
jobs=${FUZZ_JOBS:-1}
status=0
tmpbase=/dev/shm
[ -d "$tmpbase" ] && [ -w "$tmpbase" ] || tmpbase=${TMPDIR:-/tmp}

# one TARGET: run it; print its line; status 1 on a failure.
one()
{
	t=$1
	bin=$b/fuzz_$t
	log=$b/logs/$t.log
	[ -x "$bin" ] || { echo "not ok - $t: no $bin"; return 1; }
	mkdir -p "$b/corpus/$t" "$b/crashes/$t" "$b/logs" "tests/fuzz/corpus/$t"
	scratch=$(mktemp -d "$tmpbase/coffer-fuzzrun.XXXXXX") || return 1
	rc=0
	# shellcheck disable=SC2086 # FUZZ_ARGS holds separate options
	FUZZ_TMPDIR=$scratch "$bin" -max_total_time="$secs" -timeout=30 \
	    -print_final_stats=1 -artifact_prefix="$b/crashes/$t/" \
	    ${FUZZ_ARGS:-} "$b/corpus/$t" "tests/fuzz/corpus/$t" \
	    >"$log" 2>&1 || rc=$?
	rm -rf "$scratch"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "ok - $t: ${runs:-?} runs in ${secs}s, ${cov:-cov: ?}"
		return 0
	fi
	echo "not ok - $t: exit $rc after ${runs:-?} runs; see $log and $b/crashes/$t/"
	grep -E 'ERROR|property failed|SUMMARY' "$log" | head -n 5 | sed 's/^/#   /'
	return 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
n=0
for t in "$@"; do
	(one "$t" >"$tmp/$t.out"; echo $? >"$tmp/$t.rc") &
	n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		wait
		n=0
	fi
done
wait
for t in "$@"; do
	cat "$tmp/$t.out"
	[ "$(cat "$tmp/$t.rc")" = 0 ] || status=1
done
exit $status
