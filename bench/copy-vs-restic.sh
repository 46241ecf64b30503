#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/copy-vs-restic.sh [RUNS]: coffer copy against a fresh backup of
# the same data and against restic copy.  The data: 3 files of 64 MiB of
# random bytes, 10,000 small random files of 1-4 KiB (100 to a folder)
# and 48 MiB of text (seq; compressible).  Per run, each from fresh
# repositories: coffer backup into SRC; coffer init --like DST; coffer
# copy --to DST; then 8 MiB of new random data, a second backup and a
# second copy (bytes written to DST: du -sb before and after).  The same
# with restic (init --copy-chunker-params, copy --from-repo) when restic
# is installed.  Prints one line per step and run: wall seconds, CPU
# seconds (user + system), peak RSS (KiB), and for the second copy the
# bytes DST grew.  Needs /usr/bin/time.  Not part of the tests.
# Environment: B (build dir, default build), WORK (scratch, default a
# mktemp -d, removed at the end).
set -eu
RUNS=${1:-3}
B=${B:-build}
COFFER=$(cd "$B" && pwd)/coffer
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
cd "$WORK"
export HOME="$WORK/home" COFFER_KEYSTORE="$WORK/home/keystore"
export RESTIC_PASSWORD=bench RESTIC_FROM_PASSWORD=bench
export RESTIC_CACHE_DIR="$WORK/restic-cache"
mkdir -p "$HOME"

corpus()
{
	rm -rf data
	mkdir -p data/big
	for i in 1 2 3; do
		head -c $((64 << 20)) /dev/urandom >"data/big/r$i"
	done
	i=0
	while [ "$i" -lt 100 ]; do
		d=$(printf 'data/small/d%03d' "$i")
		sz=$((1024 + (i * 797) % 3072))
		mkdir -p "$d"
		head -c $((sz * 100)) /dev/urandom | split -b "$sz" -d -a 3 - "$d/f"
		i=$((i + 1))
	done
	seq 1 7000000 >data/text
}

# timed NAME CMD...: run CMD; print NAME, wall s, CPU s, peak KiB.
timed()
{
	_n=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o t.time "$@" >t.out 2>&1 ||
	    { cat t.out >&2; exit 1; }
	awk -v n="$_n" '{ printf "%-16s %7.2f s %7.2f CPU-s %8d KiB\n", n,
	    $1, $2 + $3, $4 }' t.time
}

corpus
echo "data: $(du -sb data | cut -f1) bytes; load $(cut -d' ' -f1-3 /proc/loadavg)"
r=1
while [ "$r" -le "$RUNS" ]; do
	rm -rf src dst home/keystore data/new
	echo "run $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
	"$COFFER" --repo src init --no-password >/dev/null
	timed coffer-backup "$COFFER" --repo src backup data
	"$COFFER" --repo dst init --like src >/dev/null
	timed coffer-copy "$COFFER" --repo src copy --to dst
	head -c $((8 << 20)) /dev/urandom >data/new
	"$COFFER" --repo src backup data >/dev/null
	before=$(du -sb dst | cut -f1)
	timed coffer-copy2 "$COFFER" --repo src copy --to dst
	echo "coffer-copy2 grew dst by $(( $(du -sb dst | cut -f1) - before )) bytes"
	rm -f data/new
	if command -v restic >/dev/null 2>&1; then
		rm -rf rsrc rdst restic-cache
		restic -q -r rsrc init >/dev/null
		timed restic-backup restic -q -r rsrc backup data
		restic -q -r rdst init --from-repo rsrc \
		    --copy-chunker-params >/dev/null
		timed restic-copy restic -q -r rdst copy --from-repo rsrc
		head -c $((8 << 20)) /dev/urandom >data/new
		restic -q -r rsrc backup data >/dev/null
		before=$(du -sb rdst | cut -f1)
		timed restic-copy2 restic -q -r rdst copy --from-repo rsrc
		echo "restic-copy2 grew dst by $(( $(du -sb rdst | cut -f1) - before )) bytes"
		rm -f data/new
	fi
	r=$((r + 1))
done
[ -n "${KEEP:-}" ] || { cd /; rm -rf "$WORK"; }
