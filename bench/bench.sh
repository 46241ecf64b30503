#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/bench.sh: coffer against restic and borg, side by side, on the same
# files on this machine ("make bench", or "make bench QUICK=1").  Never part
# of the tests.  Writes bench/RESULTS.md.
#
# What it does:
#   - installs restic, borgbackup and time from Debian if missing (root);
#   - builds a corpus in the scratch folder from files on this machine:
#     many small files sampled from /usr/share and /usr/lib (each < 1 MiB),
#     a few large files made by concatenating the binaries of 1 MiB and more
#     from /usr/lib/x86_64-linux-gnu, /usr/bin, /usr/libexec and /usr/lib
#     (so the two sets share no content), and some random data;
#   - runs the micro-benchmarks build/bench/bench_primitives and
#     bench_chunker;
#   - then, in rounds of coffer, restic, borg (A B C A B C ...), each tool
#     on a fresh repository: first backup; backup again, nothing changed;
#     backup after 2% of the small files changed (16 bytes overwritten in
#     the middle and 56 bytes appended); backup after a 16-byte edit in the
#     middle of the largest file; restore of the latest snapshot into a
#     fresh folder (compared with the corpus in the first round; on tmpfs
#     by default, see RESTORE_DIR); check reading all data.  The corpus
#     goes back to its original state after each tool.  Page cache stays
#     warm: nothing is dropped, and before each timed step every file it
#     reads is read once, untimed (warm); "sync" runs before every timed
#     step so that the write-back of one step does not land in the next.
#   - in the same rounds, on a second corpus of many small files (40,000
#     files of 1-4 KiB in 2,000 folders, generated): first backup and
#     backup again, nothing changed, each tool on a fresh repository;
#   - reports medians of the wall-clock seconds, the ratios coffer/restic
#     and coffer/borg, peak memory (/usr/bin/time %M), repository size over
#     corpus size (du -sb), and the bytes each backup added to the repository.
#
# Environment:
#   QUICK=1        ~150 MB corpus, 2 rounds (default: ~1 GB / ~45k files,
#                  3 rounds)
#   ROUNDS=N       override the number of rounds
#   BENCH_DIR=DIR  scratch folder (default ${TMPDIR:-/tmp}/coffer-bench);
#                  corpus, repositories, caches and logs go there
#   RESTORE_DIR=DIR  where restores go (default: a folder in /dev/shm when
#                  that is a tmpfs with room, else in the scratch folder)
#   RESULTS=FILE   where to write the report (default bench/RESULTS.md)
#   KEEP=1         keep the scratch folder (and its corpus, which a next run
#                  with the same mode reuses) instead of deleting it at the end
#   B=DIR          the build folder (default build)
#   SMALL_ONLY=1   only the many-small-files corpus (a short run; the
#                  report then has only that table)

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
COFFER=$B/coffer
QUICK=${QUICK:-0}
[ "$QUICK" = 1 ] || QUICK=0
S=${BENCH_DIR:-${TMPDIR:-/tmp}/coffer-bench}
RESULTS=${RESULTS:-$top/bench/RESULTS.md}
KEEP=${KEEP:-0}
TOOLS="coffer restic borg"
TAB=$(printf '\t')
export LC_ALL=C

if [ "$QUICK" = 1 ]; then
	MODE=quick
	ROUNDS=${ROUNDS:-2}
	SMALL_FILES=8000	# at most this many small files ...
	SMALL_BYTES=100000000	# ... and about this many bytes of them
	LARGE_MIB="40"		# sizes of the large files
	RANDOM_MIB="5 5"	# sizes of the random files
	TREE_FILES=10000	# the many-small-files corpus: files ...
	TREE_DIRS=500		# ... in this many folders
else
	MODE=full
	ROUNDS=${ROUNDS:-3}
	SMALL_FILES=50000
	SMALL_BYTES=620000000
	LARGE_MIB="200 100 50"
	RANDOM_MIB="16 16 16 16"
	TREE_FILES=40000
	TREE_DIRS=2000
fi
SMALL_ONLY=${SMALL_ONLY:-0}
[ "$SMALL_ONLY" = 1 ] || SMALL_ONLY=0
CORPUS_VERSION="corpus v1 $MODE $SMALL_FILES $SMALL_BYTES $LARGE_MIB / $RANDOM_MIB"

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- setup

# Debian packages the benchmark needs, installed like scripts/install-deps.sh.
need_pkgs()
{
	missing=
	command -v restic >/dev/null 2>&1 || missing="$missing restic"
	command -v borg >/dev/null 2>&1 || missing="$missing borgbackup"
	[ -x /usr/bin/time ] || missing="$missing time"
	command -v age >/dev/null 2>&1 || missing="$missing age"
	command -v zstd >/dev/null 2>&1 || missing="$missing zstd"
	[ -z "$missing" ] && return 0
	command -v apt-get >/dev/null 2>&1 ||
	    die "missing:$missing; no apt-get to install them (this script is for Debian 12)"
	[ "$(id -u)" -eq 0 ] ||
	    die "missing:$missing; run as root or install them: apt-get install$missing"
	say "installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $missing >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# A kernel that pages out cold memory by itself (DAMON reclaim) is why
# warm() exists; say so in the report when it is on.
DAMON_NOTE=
for _k in /sys/kernel/mm/damon/admin/kdamonds/*/state; do
	[ -r "$_k" ] && [ "$(cat "$_k")" = on ] &&
	    DAMON_NOTE=" (here DAMON is on and pages out cold memory)"
done
need_pkgs
[ -x "$COFFER" ] || die "$COFFER not built; run make first (make bench does)"
[ -x "$B/bench/bench_primitives" ] ||
    die "$B/bench/bench_primitives not built (make bench builds it)"
for c in tar find awk sort du sync date dd head xargs stat diff; do
	command -v $c >/dev/null 2>&1 || die "$c not found"
done

mkdir -p "$S"
S=$(cd "$S" && pwd)
C=$S/corpus
rm -rf "$S/run"
mkdir -p "$S/run/logs"
RUN=$S/run
LOGS=$RUN/logs
TIMES=$RUN/times.tsv	# round tool op seconds peak_kib
SIZES=$RUN/sizes.tsv	# round tool point repo_bytes
: >"$TIMES"
: >"$SIZES"

RESTORE=
finish()
{
	st=$?
	rm -rf "$RUN/repo" "$RUN/state"
	[ -z "$RESTORE" ] || rm -rf "$RESTORE"
	if [ $st -ne 0 ]; then
		say "failed; logs and corpus kept in $S"
	elif [ "$KEEP" = 1 ]; then
		say "scratch folder kept: $S"
	else
		rm -rf "$S"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- corpus

build_corpus()
{
	say "building the $MODE corpus in $C"
	rm -rf "$C" "$S/corpus.ok" "$S/lists"
	mkdir -p "$C/small" "$C/large" "$C/random" "$S/lists"

	# Small files: every k-th file (< 1 MiB) in path order, k chosen so
	# that both the count and the byte budget hold.
	find /usr/share /usr/lib -xdev -type f -size -1024k -readable \
	    -printf '%p\t%s\n' 2>/dev/null | awk -F'\t' 'NF == 2' | sort \
	    >"$S/lists/small-all"
	awk -F'\t' -v tn="$SMALL_FILES" -v tb="$SMALL_BYTES" '
	    { p[NR] = $1; s[NR] = $2; tot += $2 }
	    END {
		k = NR / tn; if (tot / tb > k) k = tot / tb; if (k < 1) k = 1
		for (i = 1; i <= NR; i++) {
			acc += 1
			if (acc >= k) { acc -= k; print substr(p[i], 2) }
		}
	    }' "$S/lists/small-all" >"$S/lists/small"
	tar -C / -cf - --no-recursion --verbatim-files-from \
	    -T "$S/lists/small" | tar -C "$C/small" -xf -

	# Large files: binaries of 1 MiB and more, concatenated in order,
	# each source file used once.
	for d in /usr/lib/x86_64-linux-gnu /usr/bin /usr/libexec /usr/lib; do
		[ -d "$d" ] || continue
		find "$d" -xdev -type f -size +1023k -readable \
		    -printf '%p\t%s\n' 2>/dev/null | awk -F'\t' 'NF == 2' | sort
	done | awk -F'\t' '!seen[$1]++' >"$S/lists/large-all"
	awk -F'\t' -v sizes="$LARGE_MIB" '
	    BEGIN { n = split(sizes, want, " "); k = 1 }
	    k <= n {
		print k "\t" $1; acc += $2
		if (acc >= want[k] * 1048576) { k++; acc = 0 }
	    }' "$S/lists/large-all" >"$S/lists/large"
	k=0
	for mib in $LARGE_MIB; do
		k=$((k + 1))
		awk -F'\t' -v k=$k '$1 == k { print $2 }' "$S/lists/large" |
		    tr '\n' '\0' | xargs -0 cat 2>/dev/null |
		    head -c $((mib * 1048576)) >"$C/large/large-$k.bin"
	done

	k=0
	for mib in $RANDOM_MIB; do
		k=$((k + 1))
		head -c $((mib * 1048576)) /dev/urandom >"$C/random/random-$k.bin"
	done

	chmod -R u+w "$C"
	echo "$CORPUS_VERSION" >"$S/corpus.ok"
}

# The many-small-files corpus: ${TREE_FILES} files of 1-4 KiB (text cut
# from one random pool, each with its own first line) in ${TREE_DIRS}
# folders two levels deep; the same bytes on every run.
T=$S/smalltree
TREE_VERSION="smalltree v1 $TREE_FILES $TREE_DIRS"
build_tree()
{
	say "building the many-small-files corpus in $T"
	rm -rf "$T" "$S/smalltree.ok"
	mkdir -p "$T"
	awk -v n="$TREE_FILES" -v d="$TREE_DIRS" -v top="$T" 'BEGIN {
		srand(16)
		for (i = 0; i < 8192; i++)
			pool = pool sprintf("%c", 32 + int(rand() * 95)) \
			    (i % 64 == 63 ? "\n" : "")
		for (k = 0; k < d; k++) {
			dir[k] = sprintf("%s/g%02d/d%04d", top, k % 40, k)
			mk = mk " " dir[k]
			if (k % 200 == 199 || k == d - 1) {
				system("mkdir -p" mk); mk = ""
			}
		}
		for (i = 0; i < n; i++) {
			f = sprintf("%s/f%05d.txt", dir[i % d], i)
			len = 1024 + int(rand() * 3072)
			printf "file %d\n%s", i, substr(pool, 1 + int(rand() * \
			    (length(pool) - len)), len) >f
			close(f)
		}
	}'
	echo "$TREE_VERSION" >"$S/smalltree.ok"
}
if [ -f "$S/smalltree.ok" ] && [ "$(cat "$S/smalltree.ok")" = "$TREE_VERSION" ]
then
	say "reusing the many-small-files corpus in $T"
else
	build_tree
fi
T_FILES=$(find "$T" -type f | wc -l)
T_BYTES=$(find "$T" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
T_DIRS=$(find "$T" -type d | wc -l)

if [ "$SMALL_ONLY" = 1 ]; then
	RESTORE=$RUN/restore
	say "only the many-small-files corpus (SMALL_ONLY=1)"
else
if [ -f "$S/corpus.ok" ] && [ "$(cat "$S/corpus.ok")" = "$CORPUS_VERSION" ]
then
	say "reusing the corpus in $C"
else
	build_corpus
fi

# The 2% of small files that get changed: every 50th, with their sizes.
(cd "$S" && find corpus/small -type f -printf '%p\t%s\n') | sort |
    awk -F'\t' 'NR % 50 == 25' >"$RUN/modlist"
cut -f1 "$RUN/modlist" >"$RUN/modnames"
# The large file edited in the middle: the largest one.
# shellcheck disable=SC2012 # our own file names
BIG=$(cd "$S" && ls -S corpus/large/*.bin | head -n 1)
BIGSIZE=$(stat -c %s "$S/$BIG")
BIGOFF=$((BIGSIZE / 2 + 12345))

CORPUS_FILES=$(find "$C" -type f | wc -l)
CORPUS_BYTES=$(find "$C" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
CORPUS_DU=$(du -sb "$C" | cut -f1)
count_of() { find "$C/$1" -type f | wc -l; }
bytes_of() { find "$C/$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }'; }
N_SMALL=$(count_of small); B_SMALL=$(bytes_of small)
N_LARGE=$(count_of large); B_LARGE=$(bytes_of large)
N_RANDOM=$(count_of random); B_RANDOM=$(bytes_of random)
N_MOD=$(wc -l <"$RUN/modlist")
BIGSUM=$(cksum <"$S/$BIG")

# Restores go to a tmpfs if there is one with room: writing many files to a
# disk costs every tool the same kernel time and hides their differences.
if [ -n "${RESTORE_DIR:-}" ]; then
	mkdir -p "$RESTORE_DIR"
	RESTORE=$(cd "$RESTORE_DIR" && pwd)/coffer-bench-restore.$$
elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
    [ "$(df -P -k /dev/shm | awk 'NR == 2 { print $4 }')" -gt \
    $((CORPUS_DU * 2 / 1024)) ]; then
	RESTORE=/dev/shm/coffer-bench-restore.$$
else
	RESTORE=$RUN/restore
fi
say "corpus: $CORPUS_FILES files, $CORPUS_BYTES bytes; $N_MOD files change in the 2% step"
fi

modify_corpus()		# ROUND
{
	rm -f "$S/corpus.ok"
	tar -C "$S" -cf "$RUN/state/saved.tar" --no-recursion \
	    --verbatim-files-from -T "$RUN/modnames"
	while IFS="$TAB" read -r f size; do
		if [ "$size" -ge 32 ]; then
			printf 'coffer-bench r%02d' "$1" | dd of="$S/$f" bs=1 \
			    seek=$((size / 2)) conv=notrunc status=none
		fi
		printf 'coffer-bench: 56 bytes appended to this file, round %02d\n' \
		    "$1" >>"$S/$f"
	done <"$RUN/modlist"
}

edit_big()		# ROUND
{
	rm -f "$S/corpus.ok"
	dd if="$S/$BIG" of="$RUN/state/big-saved" bs=1 skip=$BIGOFF count=16 \
	    status=none
	printf 'COFFER-BENCH-R%02d' "$1" | dd of="$S/$BIG" bs=1 seek=$BIGOFF \
	    conv=notrunc status=none
}

revert_corpus()
{
	tar -C "$S" -xf "$RUN/state/saved.tar"
	dd if="$RUN/state/big-saved" of="$S/$BIG" bs=1 seek=$BIGOFF \
	    conv=notrunc status=none
	echo "$CORPUS_VERSION" >"$S/corpus.ok"
}

# ---------------------------------------------------------------- machine

fs_of_scratch=$(findmnt -n -o FSTYPE,SOURCE -T "$S" 2>/dev/null |
    awk 'NR == 1 { print $1 " on " $2 }') || fs_of_scratch=
[ -n "$fs_of_scratch" ] || fs_of_scratch=$(stat -f -c %T "$S")
case $fs_of_scratch in
tmpfs*|ramfs*)	storage="in memory ($fs_of_scratch)" ;;
*)		storage="on disk ($fs_of_scratch)" ;;
esac
mkdir -p "$RESTORE"
fs_of_restore=$(findmnt -n -o FSTYPE,SOURCE -T "$RESTORE" 2>/dev/null |
    awk 'NR == 1 { print $1 " on " $2 }') || fs_of_restore=
[ -n "$fs_of_restore" ] || fs_of_restore=$(stat -f -c %T "$RESTORE")
rmdir "$RESTORE"
case $fs_of_restore in
tmpfs*|ramfs*)	restorage="in memory ($fs_of_restore)" ;;
*)		restorage="on disk ($fs_of_restore)" ;;
esac
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cores=$(nproc)
ram=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
kernel=$(uname -srm)
os=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || echo unknown)
v_coffer=$("$COFFER" --version)
v_restic=$(restic version | head -n 1)
v_borg=$(borg --version)
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ]
then
	commit="$commit with uncommitted changes"
fi

# ---------------------------------------------------------------- micro

if [ "$SMALL_ONLY" = 0 ]; then
say "micro-benchmarks (one thread)"
bins=$RUN/libs.so-concat
txts=$RUN/include.h-concat
find /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -name '*.so*' -readable |
    sort | tr '\n' '\0' | xargs -0 cat 2>/dev/null | head -c 33554432 >"$bins"
find /usr/include -type f -name '*.h' -readable | sort | tr '\n' '\0' |
    xargs -0 cat 2>/dev/null | head -c 33554432 >"$txts"
set --
[ -s "$bins" ] && set -- "$@" "$bins"
[ -s "$txts" ] && set -- "$@" "$txts"
"$B/bench/bench_primitives" "$@" >"$RUN/primitives.md" ||
    die "bench_primitives failed"
rm -f "$bins" "$txts"
cat "$RUN/primitives.md" >&2
if [ -x "$B/bench/bench_chunker" ]; then
	"$B/bench/bench_chunker" >"$RUN/chunker.txt" ||
	    die "bench_chunker failed"
	cat "$RUN/chunker.txt" >&2
fi
fi

# ---------------------------------------------------------------- tools

export RESTIC_PASSWORD=coffer-bench
export BORG_PASSPHRASE=coffer-bench
export BORG_DISPLAY_PASSPHRASE=no
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_EXIT_CODES=legacy
[ -s /etc/machine-id ] || export COFFER_MACHINE_ID=coffer-bench-device

# warm DIR...: read every file of DIR... (untimed), so that a timed step
# finds what it reads in the page cache whatever ran before it: the
# kernel may page out memory it sees as cold (DAMON reclaim does on the
# reference machine), and coffer writes packs with O_DIRECT, so they are
# not in the page cache after a backup the way restic's and borg's are.
warm()
{
	for _d in "$@"; do
		[ -e "$_d" ] && find "$_d" -type f -exec cat {} + >/dev/null 2>&1
	done
	return 0
}

# run ROUND TOOL OP CMD...: run CMD (untimed if OP is "-"), its output in a
# log; on failure name the tool and step, show the log's end and stop.
run()
{
	_r=$1 _t=$2 _op=$3
	shift 3
	log=$LOGS/r$_r-$_t-${_op#-}.log
	[ "$_op" = - ] && log=$LOGS/r$_r-$_t-setup.log
	if [ "$_op" = - ]; then
		"$@" >>"$log" 2>&1 || {
			st=$?
			say "$_t failed (round $_r, exit status $st): $*"
			tail -n 20 "$log" >&2
			exit 1
		}
		return 0
	fi
	sync
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$RUN/time.out" "$@" >"$log" 2>&1 || {
		st=$?
		say "$_t failed at step '$_op' (round $_r, exit status $st): $*"
		tail -n 20 "$log" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	kib=$(tail -n 1 "$RUN/time.out")
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	printf '%s\t%s\t%s\t%s\t%s\n' "$_r" "$_t" "$_op" "$secs" "$kib" >>"$TIMES"
	say "round $_r $_t $_op: $secs s, peak $((kib / 1024)) MiB"
}

size_point()	# ROUND TOOL POINT
{
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" \
	    "$(du -sb "$RUN/repo" | cut -f1)" >>"$SIZES"
}

# Each tool's commands, run from $S on the relative path "corpus".
do_init()
{
	case $1 in
	coffer)	run "$2" coffer - "$COFFER" -q init --no-password ;;
	restic)	run "$2" restic - restic -q init ;;
	borg)	run "$2" borg - borg init -e repokey ;;
	esac
}
do_backup()	# TOOL ROUND OP
{
	warm "$C" "$RUN/repo" "$RUN/state"
	case $1 in
	coffer)	run "$2" coffer "$3" "$COFFER" -q backup corpus ;;
	restic)	run "$2" restic "$3" restic -q backup corpus ;;
	borg)	BORG_N=$((BORG_N + 1))
		run "$2" borg "$3" borg create -C zstd,1 "::b$BORG_N" corpus ;;
	esac
}
do_restore()	# TOOL ROUND
{
	warm "$RUN/repo" "$RUN/state"
	case $1 in
	coffer)	run "$2" coffer restore "$COFFER" -q restore latest \
		    --target "$RESTORE" ;;
	restic)	run "$2" restic restore restic -q restore latest \
		    --target "$RESTORE" ;;
	borg)	mkdir -p "$RESTORE"
		# shellcheck disable=SC2016 # expanded by that sh
		run "$2" borg restore sh -c 'cd "$1" && exec borg extract "::$2"' \
		    sh "$RESTORE" "b$BORG_N" ;;
	esac
}
do_check()	# TOOL ROUND
{
	warm "$RUN/repo" "$RUN/state"
	case $1 in
	coffer)	run "$2" coffer check "$COFFER" -q check --read-data ;;
	restic)	run "$2" restic check restic -q check --read-data ;;
	borg)	run "$2" borg check borg check --verify-data ;;
	esac
}

one_tool()	# TOOL ROUND
{
	t=$1 r=$2
	rm -rf "$RUN/repo" "$RUN/state" "$RESTORE"
	mkdir -p "$RUN/state"
	export COFFER_REPO="$RUN/repo" COFFER_KEYSTORE="$RUN/state/keystore"
	export RESTIC_REPOSITORY="$RUN/repo" RESTIC_CACHE_DIR="$RUN/state/cache"
	export BORG_REPO="$RUN/repo" BORG_BASE_DIR="$RUN/state"
	BORG_N=0
	cd "$S"
	do_init "$t" "$r"
	size_point "$r" "$t" init
	do_backup "$t" "$r" first
	size_point "$r" "$t" first
	do_backup "$t" "$r" again
	size_point "$r" "$t" again
	modify_corpus "$r"
	do_backup "$t" "$r" changed
	size_point "$r" "$t" changed
	edit_big "$r"
	do_backup "$t" "$r" bigedit
	size_point "$r" "$t" bigedit
	do_restore "$t" "$r"
	if [ "$r" = 1 ]; then
		got=$(find "$RESTORE" -type d -name corpus | head -n 1)
		[ -n "$got" ] || die "$t restored no folder named corpus"
		diff -r "$C" "$got" >"$LOGS/r$r-$t-verify.log" 2>&1 ||
		    die "$t: the restored files differ from the corpus (see $LOGS/r$r-$t-verify.log)"
		say "round $r $t: restored files are identical to the corpus"
	fi
	rm -rf "$RESTORE"
	revert_corpus
	do_check "$t" "$r"
	rm -rf "$RUN/repo" "$RUN/state"
	cd "$top"
}

# The many-small-files corpus: first backup, then again with nothing
# changed, on a fresh repository.
one_tree()	# TOOL ROUND
{
	t=$1 r=$2
	rm -rf "$RUN/repo" "$RUN/state"
	mkdir -p "$RUN/state"
	export COFFER_REPO="$RUN/repo" COFFER_KEYSTORE="$RUN/state/keystore"
	export RESTIC_REPOSITORY="$RUN/repo" RESTIC_CACHE_DIR="$RUN/state/cache"
	export BORG_REPO="$RUN/repo" BORG_BASE_DIR="$RUN/state"
	BORG_N=0
	cd "$S"
	do_init "$t" "$r"
	for op in tfirst tagain; do
		warm "$T" "$RUN/repo" "$RUN/state"
		case $t in
		coffer)	run "$r" coffer $op "$COFFER" -q backup smalltree ;;
		restic)	run "$r" restic $op restic -q backup smalltree ;;
		borg)	BORG_N=$((BORG_N + 1))
			run "$r" borg $op borg create -C zstd,1 "::b$BORG_N" \
			    smalltree ;;
		esac
	done
	rm -rf "$RUN/repo" "$RUN/state"
	cd "$top"
}

# tree_table: the many-small-files table, from $TIMES.
tree_table()
{
	cat <<EOF
## Many small files

$T_FILES files of 1-4 KiB ($T_BYTES bytes) in $T_DIRS folders, generated
(\`smalltree/\`); each tool on a fresh repository, $ROUNDS rounds, median
wall-clock seconds. "Again" is the re-backup of the unchanged tree, where
coffer takes one \`fstatat\` per file (its file cache) and opens none.

EOF
	awk -F'\t' '
	function median(key,   n, v, i, j, x) {
		n = split(vals[key], v, " ")
		if (n == 0) return -1
		for (i = 2; i <= n; i++) {
			x = v[i] + 0
			for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
			v[j + 1] = x
		}
		if (n % 2) return v[(n + 1) / 2] + 0
		return (v[n / 2] + v[n / 2 + 1]) / 2
	}
	function ratio(a, b) {
		if (a < 0 || b <= 0) return "n/a"
		return sprintf("%.3f", a / b)
	}
	{ vals[$2 SUBSEP $3] = vals[$2 SUBSEP $3] " " $4 }
	END {
		label["tfirst"] = "first backup"
		label["tagain"] = "backup again, nothing changed"
		target["tfirst"] = "-"; target["tagain"] = "<= 0.10"
		print "| work | coffer | restic | borg | coffer/restic | coffer/borg | issue target coffer/restic |"
		print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		split("tfirst tagain", ops, " ")
		for (i = 1; i <= 2; i++) {
			o = ops[i]
			c = median("coffer" SUBSEP o); r = median("restic" SUBSEP o)
			b = median("borg" SUBSEP o)
			printf "| %s | %.3f | %.3f | %.3f | %s | %s | %s |\n", \
			    label[o], c, r, b, ratio(c, r), ratio(c, b), target[o]
		}
	}' "$TIMES"
}

if [ "$SMALL_ONLY" = 1 ]; then
	started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
	r=1
	while [ $r -le "$ROUNDS" ]; do
		for t in $TOOLS; do
			one_tree "$t" "$r"
		done
		r=$((r + 1))
	done
	{
		printf '# coffer benchmark: many small files only\n\n'
		printf 'Written by `SMALL_ONLY=1 bench/bench.sh` (%s mode) on %s;\n' \
		    "$MODE" "$started"
		printf '%s, %s cores, %s; scratch %s; coffer %s (commit %s),\n' \
		    "$cpu" "$cores" "$ram" "$storage" "$v_coffer" "$commit"
		printf '%s, %s.\n\n' "$v_restic" "$v_borg"
		tree_table
		printf '\nRaw: round, tool, step, seconds, peak KiB:\n\n```\n'
		cat "$TIMES"
		printf '```\n'
	} >"$RESULTS.tmp"
	mv "$RESULTS.tmp" "$RESULTS"
	say "wrote $RESULTS"
	cat "$RESULTS" >&2
	exit 0
fi

# The reference line of the issue: the corpus as one tar stream, zstd -1
# on every core, encrypted with age; no deduplication, no index.  Once
# per round, after the tools.
tar_line()	# ROUND
{
	[ -s "$RUN/age.key" ] ||
	    run "$1" tarline - age-keygen -o "$RUN/age.key"
	AGE_R=$(age-keygen -y "$RUN/age.key")
	cd "$S"
	warm "$C"
	# shellcheck disable=SC2016 # expanded by that sh
	run "$1" tarline first sh -c 'tar -cf - corpus | zstd -1 -T0 -q |
	    age -r "$1" >"$2"' sh "$AGE_R" "$RUN/tar.age"
	printf '%s\t%s\t%s\t%s\n' "$1" tarline first \
	    "$(wc -c <"$RUN/tar.age")" >>"$SIZES"
	rm -f "$RUN/tar.age"
	cd "$top"
}

# Warm the page cache and measure reading the corpus from it.
find "$C" -type f -exec cat {} + >/dev/null
sync
t0=$(date +%s.%N)
find "$C" -type f -exec cat {} + >/dev/null
t1=$(date +%s.%N)
READ_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
say "reading the corpus from page cache: $READ_SECS s"

started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
t_start=$(date +%s)
r=1
while [ $r -le "$ROUNDS" ]; do
	for t in $TOOLS; do
		one_tool "$t" "$r"
	done
	for t in $TOOLS; do
		one_tree "$t" "$r"
	done
	tar_line "$r"
	r=$((r + 1))
done
elapsed=$(($(date +%s) - t_start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$(cksum <"$S/$BIG")" = "$BIGSUM" ] ||
    die "$BIG did not go back to its original content"

# ---------------------------------------------------------------- report

if [ "$QUICK" = 1 ]; then repro="make bench QUICK=1"; else repro="make bench"; fi

report()
{
	cat <<EOF
# coffer benchmark: against restic and borg

Written by \`bench/bench.sh\` ($MODE mode) on $started; the tool runs took
$elapsed s. Reproduce with:

\`\`\`
$repro
\`\`\`

(from the top of the source tree; as root on a machine without restic,
borgbackup or time it installs them from Debian).

## Machine

| | |
| --- | --- |
| CPU | $cpu |
| cores | $cores |
| RAM | $ram |
| system | $os, $kernel |
| scratch folder | \`$S\`, $storage: corpus, repositories, caches and keystores all there |
| restores into | \`$RESTORE\`, $restorage |
| page cache | warm: before each timed step, untimed, every file it reads is read once (the corpus, the repository, the tool's cache), since the kernel may page out what it sees as cold$DAMON_NOTE; \`sync\` before each timed step |
| load average | when the script started $load_before, at the end of the runs $load_after (1, 5, 15 min; other work on the machine would show in the first) |

## Versions

| tool | version | settings |
| --- | --- | --- |
| coffer | $v_coffer (commit $commit) | defaults |
| restic | $v_restic | repository format "stable" (v2), compression auto (zstd fastest), \`RESTIC_PASSWORD\` |
| borg | $v_borg | \`init -e repokey\`, \`create -C zstd,1\` (borg's default is lz4), \`BORG_PASSPHRASE\` |

## Corpus

$CORPUS_FILES files, $CORPUS_BYTES bytes of content (\`du -sb\`: $CORPUS_DU):

- small: $N_SMALL files, $B_SMALL bytes, sampled evenly in path order from the
  files under 1 MiB in /usr/share and /usr/lib;
- large: $N_LARGE file(s) (MiB: $LARGE_MIB), $B_LARGE bytes, each the
  concatenation of binaries of 1 MiB or more from /usr/lib/x86_64-linux-gnu, /usr/bin,
  /usr/libexec, /usr/lib;
- random: $N_RANDOM file(s) (MiB: $RANDOM_MIB), $B_RANDOM bytes from /dev/urandom.

The "2% changed" step overwrites 16 bytes in the middle of $N_MOD of the small
files (every 50th in path order) and appends 56 bytes to each; the large-file
edit overwrites 16 bytes at offset $BIGOFF of \`$BIG\` ($BIGSIZE bytes).
Reading the whole corpus from page cache (\`cat\`) takes $READ_SECS s.

## Time

Each tool in turn (coffer, restic, borg, then again) on a fresh repository,
$ROUNDS rounds; median wall-clock seconds.

EOF
	awk -F'\t' -v corpus="$CORPUS_BYTES" '
	function median(key,   n, v, i, j, x) {
		n = split(vals[key], v, " ")
		if (n == 0) return -1
		for (i = 2; i <= n; i++) {
			x = v[i] + 0
			for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
			v[j + 1] = x
		}
		if (n % 2) return v[(n + 1) / 2] + 0
		return (v[n / 2] + v[n / 2 + 1]) / 2
	}
	function ratio(a, b) {
		if (a < 0 || b <= 0) return "n/a"
		return sprintf("%.2f", a / b)
	}
	function secs(x, mbs) {
		if (x < 0) return "n/a"
		if (mbs) return sprintf("%.2f (%.0f MB/s)", x, corpus / x / 1e6)
		return sprintf("%.2f", x)
	}
	{
		vals[$2 SUBSEP $3] = vals[$2 SUBSEP $3] " " $4
		mem[$2 SUBSEP $3] = mem[$2 SUBSEP $3] " " $5
	}
	END {
		nops = split("first again changed bigedit restore check", ops, " ")
		label["first"] = "first backup"
		label["again"] = "backup again, nothing changed"
		label["changed"] = "backup after 2% of files changed"
		label["bigedit"] = "backup after a 16-byte edit in a large file"
		label["restore"] = "restore latest to a fresh folder"
		label["check"] = "check reading all data"
		target["first"] = "0.35"; target["again"] = "0.15"
		target["changed"] = "0.25"; target["restore"] = "0.7"
		target["check"] = "0.5"; target["bigedit"] = "-"
		print "| work | coffer | restic | borg | coffer/restic | coffer/borg | issue target coffer/restic |"
		print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		for (i = 1; i <= nops; i++) {
			o = ops[i]
			mbs = (o == "first" || o == "restore" || o == "check")
			c = median("coffer" SUBSEP o); r = median("restic" SUBSEP o)
			b = median("borg" SUBSEP o)
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", label[o],
			    secs(c, mbs), secs(r, mbs), secs(b, mbs), ratio(c, r),
			    ratio(c, b), target[o] == "-" ? "-" : "<= " target[o]
		}
		print ""
		print "MB/s is the corpus size over the time."
		t = median("tarline" SUBSEP "first")
		if (t >= 0) {
			print ""
			printf "For reference, the line the issue also asks coffer to beat on the first backup: `tar -cf - corpus | zstd -1 -T0 | age -r KEY` (one stream, every core, no deduplication, no index), %s; coffer/that: %s.\n", secs(t, 1), ratio(median("coffer" SUBSEP "first"), t)
		}
		print ""
		print "## Peak memory"
		print ""
		print "Median of the maximum resident set size (`/usr/bin/time -f %M`), MiB."
		print ""
		print "| work | coffer | restic | borg | coffer/restic | coffer/borg |"
		print "| --- | ---: | ---: | ---: | ---: | ---: |"
		for (k in mem) vals["m" SUBSEP k] = mem[k]
		for (i = 1; i <= nops; i++) {
			o = ops[i]
			c = median("m" SUBSEP "coffer" SUBSEP o)
			r = median("m" SUBSEP "restic" SUBSEP o)
			b = median("m" SUBSEP "borg" SUBSEP o)
			printf "| %s | %.0f | %.0f | %.0f | %s | %s |\n", label[o],
			    c / 1024, r / 1024, b / 1024, ratio(c, r), ratio(c, b)
		}
	}' "$TIMES"
	echo
	echo "## Repository size"
	echo
	echo "\`du -sb\` of the repository (medians over the rounds). Caches and"
	echo "keystores (coffer's keystore and file cache, restic's cache, borg's"
	echo "cache and security folders) are kept apart and not counted."
	echo
	awk -F'\t' -v corpus="$CORPUS_DU" -v content="$CORPUS_BYTES" \
	    -v nmod="$N_MOD" '
	function median(key,   n, v, i, j, x) {
		n = split(vals[key], v, " ")
		if (n == 0) return -1
		for (i = 2; i <= n; i++) {
			x = v[i] + 0
			for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
			v[j + 1] = x
		}
		if (n % 2) return v[(n + 1) / 2] + 0
		return (v[n / 2] + v[n / 2 + 1]) / 2
	}
	function ratio(a, b) {
		if (a < 0 || b <= 0) return "n/a"
		return sprintf("%.2f", a / b)
	}
	{ sz[$1 SUBSEP $2 SUBSEP $3] = $4; rounds[$1] = 1 }
	END {
		split("coffer restic borg", tools, " ")
		split("init first again changed bigedit", pts, " ")
		for (r in rounds) for (t = 1; t <= 3; t++) {
			tl = tools[t]
			vals[tl SUBSEP "card"] = vals[tl SUBSEP "card"] " " sz[r SUBSEP tl SUBSEP "first"]
			for (p = 3; p <= 5; p++)
				vals[tl SUBSEP pts[p]] = vals[tl SUBSEP pts[p]] " " \
				    (sz[r SUBSEP tl SUBSEP pts[p]] - sz[r SUBSEP tl SUBSEP pts[p - 1]])
		}
		c = median("coffer" SUBSEP "card"); r = median("restic" SUBSEP "card")
		b = median("borg" SUBSEP "card")
		print "| | coffer | restic | borg | coffer/restic | coffer/borg |"
		print "| --- | ---: | ---: | ---: | ---: | ---: |"
		printf "| repository after the first backup, bytes | %d | %d | %d | %s | %s |\n", \
		    c, r, b, ratio(c, r), ratio(c, b)
		printf "| repository / corpus (du -sb, corpus %d) | %.3f | %.3f | %.3f | | |\n", \
		    corpus, c / corpus, r / corpus, b / corpus
		printf "| repository / content bytes (%d) | %.3f | %.3f | %.3f | | |\n", \
		    content, c / content, r / content, b / content
		label["again"] = "bytes added: backup again, nothing changed"
		label["changed"] = "bytes added: " nmod " files changed (2%)"
		label["bigedit"] = "bytes added: 16-byte edit in a large file"
		for (p = 3; p <= 5; p++) {
			c = median("coffer" SUBSEP pts[p]); r = median("restic" SUBSEP pts[p])
			b = median("borg" SUBSEP pts[p])
			printf "| %s | %d | %d | %d | %s | %s |\n", label[pts[p]], \
			    c, r, b, ratio(c, r), ratio(c, b)
		}
		for (r in rounds)
			if ((r SUBSEP "tarline" SUBSEP "first") in sz)
				vals["tarline"] = vals["tarline"] " " \
				    sz[r SUBSEP "tarline" SUBSEP "first"]
		t = median("tarline")
		if (t > 0) {
			print ""
			printf "The `tar | zstd -1 -T0 | age` stream of the corpus: %d bytes (%.3f of the corpus; coffer/that: %s).\n", \
			    t, t / corpus, ratio(median("coffer" SUBSEP "card"), t)
		}
	}' "$SIZES"
	cat <<EOF

Bytes added are the growth of \`du -sb\` of the repository over that backup,
file-system overhead of new files included.

EOF
	tree_table
	cat <<EOF

## Primitives on this CPU

\`build/bench/bench_primitives\`: one thread, 1 MiB blocks, best of 3; the
data sets are 32 MiB of concatenated shared libraries from
/usr/lib/x86_64-linux-gnu, 32 MiB of concatenated C headers from
/usr/include, and 32 MiB of random bytes.

EOF
	cat "$RUN/primitives.md"
	if [ -s "$RUN/chunker.txt" ]; then
		cat <<EOF

\`build/bench/bench_chunker\`: coffer's content-defined chunker (256 KiB /
1 MiB / 4 MiB) on 256 MiB of random data, one thread:

\`\`\`
EOF
		cat "$RUN/chunker.txt"
		echo '```'
	fi
	cat <<EOF

## Raw measurements

Round, tool, step, seconds, peak KiB:

\`\`\`
EOF
	cat "$TIMES"
	echo '```'
}

report >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
say "wrote $RESULTS"
sed -n '/^## Time/,/^## Primitives/p' "$RESULTS" | sed '$d'
