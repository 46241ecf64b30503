#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/prune-vs-restic.sh [NFILES]: space freed by prune, coffer against
# restic, on NFILES (default 100,000) small files of 1-4 KiB (random
# bytes, 100 to a folder).  Two cases, each from a fresh repository:
#   every-other  back up, delete every other file, back up, forget the
#                first snapshot, prune;
#   half-folders the same, deleting the first half of the folders.
# Prints a Markdown table: repository bytes (du -sb) before and after the
# prune, bytes freed, coffer's share of restic's, and each prune's CPU
# seconds and peak RSS (GNU time).  Needs restic, jq, /usr/bin/time.
# Not part of the tests.  Environment: B (build dir, default build),
# WORK (scratch, default a mktemp -d, removed at the end).
set -eu
N=${1:-100000}
B=${B:-build}
COFFER=$(cd "$B" && pwd)/coffer
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
cd "$WORK"
export HOME="$WORK/home" COFFER_KEYSTORE="$WORK/home/keystore"
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$WORK/restic-cache"
mkdir -p "$HOME"

corpus()
{
	rm -rf data
	i=0
	while [ $((i * 100)) -lt "$N" ]; do
		d=$(printf 'data/d%05d' "$i")
		sz=$((1024 + (i * 797) % 3072))
		mkdir -p "$d"
		head -c $((sz * 100)) /dev/urandom | split -b "$sz" -d -a 3 - "$d/f"
		i=$((i + 1))
	done
}

delete()
{
	case $1 in
	every-other) find data -name 'f*[02468]' -delete ;;
	half-folders)
		n=$(ls data | wc -l)
		ls data | head -n $((n / 2)) | sed 's|^|data/|' | xargs rm -rf ;;
	esac
}

# timed OUT CMD...: run CMD, CPU seconds and peak KiB into OUT.
timed()
{
	_o=$1
	shift
	/usr/bin/time -f '%U %S %M' -o "$_o.time" "$@" >"$_o.out" 2>&1
	awk '{ printf "%.2f %d\n", $1 + $2, $3 }' "$_o.time" >"$_o"
}

run_case()
{
	corpus
	# coffer
	rm -rf crepo "$HOME/keystore"
	export COFFER_REPO="$WORK/crepo"
	"$COFFER" init --no-password --name-by count >/dev/null
	"$COFFER" backup data >/dev/null
	delete "$1"
	"$COFFER" backup data >/dev/null
	"$COFFER" forget 1 >/dev/null
	cb=$(du -sb crepo | cut -f1)
	timed c.prune "$COFFER" prune
	ca=$(du -sb crepo | cut -f1)
	"$COFFER" check --read-data >/dev/null
	# restic
	corpus
	rm -rf rrepo "$RESTIC_CACHE_DIR"
	export RESTIC_REPOSITORY="$WORK/rrepo"
	restic init >/dev/null
	restic backup -q data >/dev/null
	first=$(restic snapshots --json | jq -r '.[0].id')
	delete "$1"
	restic backup -q data >/dev/null
	restic forget -q "$first" >/dev/null
	rb=$(du -sb rrepo | cut -f1)
	timed r.prune restic prune
	ra=$(du -sb rrepo | cut -f1)
	read -r ccpu crss <c.prune
	read -r rcpu rrss <r.prune
	printf '| %s | %d | coffer | %d | %d | %d | %d%% | %s s, %d MiB |\n' \
	    "$1" "$N" "$cb" "$ca" $((cb - ca)) \
	    $(( (cb - ca) * 100 / (rb - ra) )) "$ccpu" $((crss / 1024))
	printf '| %s | %d | restic | %d | %d | %d | | %s s, %d MiB |\n' \
	    "$1" "$N" "$rb" "$ra" $((rb - ra)) "$rcpu" $((rrss / 1024))
}

echo "| case | files | tool | before (B) | after (B) | freed (B) | coffer/restic freed | prune CPU, peak RSS |"
echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
run_case every-other
run_case half-folders
[ -n "${KEEP:-}" ] || rm -rf "$WORK"
