#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/scale.sh ("make bench-scale"): how coffer's memory and time grow
# with the number of chunks in the repository.  Never part of the tests.
# Writes bench/SCALE.md.
#
# For each size (chunks = files: 1-4 KiB of random bytes each, 1,000 to a
# folder, made by build/bench/bench_scalegen on tmpfs), on a fresh
# repository and keystore:
#   backup; a backup after 1% of the files got 16 bytes appended;
#   snapshots; restore of the latest snapshot (then deleted);
#   check; forget of the first snapshot and prune.
# Each step runs under /usr/bin/time: wall seconds, CPU seconds (user +
# system) and peak RSS.  Then the growth of peak RSS per chunk between
# the smallest and the largest size, per step (the "slope").  Corpus,
# repository and restore are deleted after each size.
#
# Environment:
#   SCALE_SIZES="100000 400000 1600000"   sizes, in chunks
#   SCALE_MAX=N      skip sizes above N
#   SCALE_DIR=DIR    repositories go here (default ${TMPDIR:-/tmp}/coffer-scale)
#   SCALE_SHM=DIR    the corpus (default /dev/shm/coffer-scale; tmpfs
#                    takes a 4 KiB page a file: 6.5 GB at 1.6 million)
#   SCALE_RESTORE=DIR  restores (default $SCALE_DIR/rst, on disk, so
#                    that two copies never sit in memory)
#   COFFER=PATH      the coffer binary (default $B/coffer): to measure
#                    another build the same way
#   LABEL=TEXT       what the report calls it (default: the git commit)
#   RESULTS=FILE     where to write (default bench/SCALE.md)
#   SCALE_ROWS_FROM=FILE  rows of an earlier run ($SCALE_DIR/rows) to
#                    report with; sizes it has are not run again
#   SCALE_STEPS="backup backup-1% ..."  only these steps (backup-1% needs
#                    backup)
#   RESTIC=1         restic side by side (backup, backup after 1%,
#                    snapshots, restore, check, forget --prune)
#   B=DIR            the build folder (default build)

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
COFFER=${COFFER:-$B/coffer}
GEN=$B/bench/bench_scalegen
SIZES=${SCALE_SIZES:-100000 400000 1600000}
MAX=${SCALE_MAX:-0}
S=${SCALE_DIR:-${TMPDIR:-/tmp}/coffer-scale}
SHM=${SCALE_SHM:-/dev/shm/coffer-scale}
RESULTS=${RESULTS:-$top/bench/SCALE.md}
LABEL=${LABEL:-$(cd "$top" && git rev-parse --short HEAD 2>/dev/null || echo ?)}
RESTIC=${RESTIC:-0}
RST=${SCALE_RESTORE:-$S/rst}
STEPS=${SCALE_STEPS:-backup backup-1% snapshots restore check prune}

[ -x "$COFFER" ] && [ -x "$GEN" ] || {
	echo "scale.sh: build first (make all $B/bench/bench_scalegen)" >&2
	exit 1
}
[ -x /usr/bin/time ] || { echo "scale.sh: needs /usr/bin/time" >&2; exit 1; }

rows=$S/rows
rm -rf "$S" "$SHM"
mkdir -p "$S" "$SHM"
: > "$rows"
[ -z "${SCALE_ROWS_FROM:-}" ] || cat "$SCALE_ROWS_FROM" >> "$rows"
trap 'rm -rf "$SHM" "$RST" "$S/repo" "$S/ks" "$S/restic"' EXIT

export COFFER_MACHINE_ID=0123456789abcdef0123456789abcdef
export COFFER_REPO="$S/repo" COFFER_KEYSTORE="$S/ks"
export RESTIC_REPOSITORY="$S/restic" RESTIC_PASSWORD=bench-scale

# step TOOL N NAME CMD...: run CMD timed; a row "tool n name wall cpu rss".
step()
{
	_tool=$1 _n=$2 _name=$3
	shift 3
	case " $STEPS " in *" $_name "*) ;; *) return 0 ;; esac
	sync
	if ! /usr/bin/time -f '%e %U %S %M' -o "$S/time" "$@" \
	    > "$S/out" 2> "$S/err"; then
		echo "scale.sh: $_tool $_name at $_n failed:" >&2
		tail -n 5 "$S/err" >&2
		exit 1
	fi
	# shellcheck disable=SC2046
	set -- $(tail -n 1 "$S/time")
	printf '%s %s %s %s %s %s %s\n' "$_tool" "$_n" "$_name" "$1" \
	    "$(echo "$2 + $3" | bc)" "$4" "$(cut -d' ' -f1 /proc/loadavg)" \
	    >> "$rows"
	printf '  %-7s %-9s %-10s %7ss wall %7ss cpu %7s KiB (load %s)\n' \
	    "$_tool" "$_n" "$_name" "$1" "$(echo "$2 + $3" | bc)" "$4" \
	    "$(cut -d' ' -f1 /proc/loadavg)" >&2
}

for n in $SIZES; do
	[ "$MAX" -gt 0 ] && [ "$n" -gt "$MAX" ] && continue
	grep -q "^coffer $n " "$rows" && continue
	echo "size $n: making the corpus" >&2
	rm -rf "$SHM/src" "$S/repo" "$S/ks" "$S/restic"
	"$GEN" make "$SHM/src" "$n"
	"$COFFER" init --no-password > /dev/null
	step coffer "$n" backup "$COFFER" backup "$SHM/src"
	"$GEN" touch "$SHM/src" "$n"
	step coffer "$n" backup-1% "$COFFER" backup "$SHM/src"
	step coffer "$n" snapshots "$COFFER" snapshots
	step coffer "$n" restore "$COFFER" restore latest --target "$RST"
	rm -rf "$RST"
	step coffer "$n" check "$COFFER" check
	first=$("$COFFER" snapshots --json | jq -r '.snapshots[0].name')
	"$COFFER" forget "$first" > /dev/null
	step coffer "$n" prune "$COFFER" prune
	du -sb "$S/repo" | cut -f1 > "$S/size.$n"
	rm -rf "$S/repo" "$S/ks"
	if [ "$RESTIC" = 1 ]; then
		rm -rf "$SHM/src"
		"$GEN" make "$SHM/src" "$n"
		restic init > /dev/null 2>&1
		step restic "$n" backup restic backup -q "$SHM/src"
		"$GEN" touch "$SHM/src" "$n"
		step restic "$n" backup-1% restic backup -q "$SHM/src"
		step restic "$n" snapshots restic snapshots
		step restic "$n" restore restic restore latest --target "$RST"
		rm -rf "$RST"
		step restic "$n" check restic check
		first=$(restic snapshots --json | jq -r '.[0].id')
		step restic "$n" prune restic forget --prune "$first"
		rm -rf "$S/restic"
	fi
	rm -rf "$SHM/src"
done

# The report: one table per tool, then the slope per step.
{
	echo "# coffer at scale: memory and time against the number of chunks"
	echo
	echo "Written by \`make bench-scale\` (bench/scale.sh) on $(date -u +%Y-%m-%d),"
	echo "build $LABEL, $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM."
	echo "Corpus: one file of 1-4 KiB random bytes per chunk, 1,000 to a"
	echo "folder, on tmpfs; repository and restores on $(df --output=fstype "$S" | tail -n 1)."
	echo "\"backup-1%\" is the backup after 16 bytes were appended to every"
	echo "100th file; prune follows forgetting the first snapshot.  CPU is"
	echo "user + system seconds; RSS the peak (/usr/bin/time %M); load the"
	echo "1-minute load average when the step ended (other jobs shared the"
	echo "machine)."
	echo
	for tool in $(awk '!seen[$1]++ { print $1 }' "$rows"); do
		echo "## $tool"
		echo
		echo "| chunks | step | wall s | CPU s | peak RSS MiB | load |"
		echo "| ---: | --- | ---: | ---: | ---: | ---: |"
		awk -v t="$tool" '$1 == t { printf "| %\047d | %s | %.2f | %.2f | %.1f | %s |\n", $2, $3, $4, $5, $6 / 1024, $7 }' "$rows"
		echo
		echo "Growth of peak RSS per chunk, from the smallest to the largest size:"
		echo
		echo "| step | bytes per chunk |"
		echo "| --- | ---: |"
		awk -v t="$tool" '$1 == t {
			if (!($3 in lo) || $2 < lon[$3]) { lo[$3] = $6; lon[$3] = $2 }
			if (!($3 in hi) || $2 > hin[$3]) { hi[$3] = $6; hin[$3] = $2 }
			if (!($3 in seen)) { order[++k] = $3; seen[$3] = 1 }
		} END {
			for (i = 1; i <= k; i++) {
				s = order[i]
				if (hin[s] > lon[s])
					printf "| %s | %.1f |\n", s, (hi[s] - lo[s]) * 1024 / (hin[s] - lon[s])
			}
		}' "$rows"
		echo
	done
} > "$RESULTS"
echo "scale.sh: wrote $RESULTS" >&2
