#!/bin/bash
# SPDX-License-Identifier: ISC
#
# tests/harness/corrupt.sh BUILD_DIR [CASES]: the corruption harness of
# issue 6.  Builds one repository (three backups, two key sets, one of
# them with a rewritten keyinfo), keeps a pristine copy, and then, case
# after case, copies it, applies ONE random damage to the card and
# requires:
#
#   check   "coffer check --read-data" exits non-zero and its stderr names
#           the damaged file (its path under the repository, or its base
#           name when that is distinctive, or "snapshot 'NAME'" for a
#           snapshot file), unless the damage is one of the exceptions
#           below, where it must exit 0;
#   restore every snapshot of the pristine list is restored in turn: no
#           restored regular file differs from the source (a file is
#           byte-identical or absent); exit 0 only with the whole tree
#           (treecmp); a snapshot the damage cannot touch (another key
#           set, another snapshot file) restores whole with exit 0;
#   always  no crash (exit status >= 126), no sanitizer report.
#
# Damage kinds: bitflip (one bit), truncate (to a random shorter length),
# delete, duplicate (a pack, index or snapshot copied to another valid
# name in its folder), swap (the contents of two files of one kind),
# zero (a range of bytes set to zero), append (bytes of another pack),
# rollback (a snapshot replaced by an older snapshot file renamed to its
# name, or a keyinfo by its own earlier version).
#
# Exceptions, where "check" must exit 0 (each one is asserted, not just
# tolerated):
#   H1 duplicate of a pack under a new pack id in the same folder: the
#      copy's blob table is sealed for the old id, no index names it, so
#      it is an unreferenced leftover, which check counts and allows.
#   H2 "zero" over bytes that were zero already: nothing changed.
#   B1 delete of a snapshot file: the format keeps no list of snapshots,
#      so a whole missing snapshot file cannot be told from one never
#      written; the other snapshots are untouched.  (check may still
#      report it; it must not crash.)
#   (A deleted index file cannot be named, since nothing else on the card
#   records its name: there check must exit non-zero saying that an index
#   file of that key set is missing, naming the packs it listed.)
#   B2 rollback of a keyinfo to its own earlier version (before a
#      recovery slot was added): both versions are authentic and the
#      keyinfo has no version counter (FORMAT.md §6); only the recovery
#      slot differs, the data is untouched.
#
# Environment:
#   CORRUPT_CASES  number of cases (default 200; the long run is 20000)
#   CORRUPT_SEED   the seed (default: from the clock; always printed)
#   CORRUPT_ONLY   run only this case number (replay one failure)
#   CORRUPT_WORK   work directory (default: a new one under TMPDIR).  If
#                  it holds a pristine repository from an earlier run, that
#                  one is reused, so CORRUPT_SEED + CORRUPT_ONLY +
#                  CORRUPT_WORK replay a case byte for byte.
#   CORRUPT_KEEP=1 keep the work directory (it is kept anyway on failure)
#   CORRUPT_VERBOSE=1  one line per case
#
# Exit status 0 when every case passed, 1 otherwise, 2 on a setup error.
# The last lines are a summary: cases run, per kind how many were
# detected, exempt and failed, and every failure with seed and case.

set -u

usage()
{
	echo "usage: tests/harness/corrupt.sh BUILD_DIR [CASES]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || usage
COFFER_BIN=$build/coffer
[ -x "$COFFER_BIN" ] || { echo "corrupt: no $COFFER_BIN" >&2; exit 2; }
gentree=$build/tests/gentree
treecmp=$build/tests/treecmp
[ -x "$gentree" ] && [ -x "$treecmp" ] ||
    { echo "corrupt: build the helpers first (make tests)" >&2; exit 2; }

cases=${2:-${CORRUPT_CASES:-200}}
seed=${CORRUPT_SEED:-$(( ($(date +%s) ^ ($$ << 7)) % 1000000 ))}
only=${CORRUPT_ONLY:-}
verbose=${CORRUPT_VERBOSE:-0}
keep=${CORRUPT_KEEP:-0}

if [ -n "${CORRUPT_WORK:-}" ]; then
	mkdir -p "$CORRUPT_WORK" || exit 2
	work=$(cd "$CORRUPT_WORK" && pwd) || exit 2
	keep=1
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-corrupt.XXXXXX") || exit 2
fi

export COFFER_REPO=$work/repo COFFER_KEYSTORE=$work/keystore \
    COFFER_MACHINE_ID=0123456789abcdef0123456789abcdef \
    HOME=$work/home XDG_DATA_HOME=$work/xdg/data \
    XDG_CONFIG_HOME=$work/xdg/config XDG_CACHE_HOME=$work/xdg/cache \
    XDG_STATE_HOME=$work/xdg/state LC_ALL=C TZ=UTC \
    COFFER_INSECURE_FAST_KDF=1
unset COFFER_PASSPHRASE COFFER_PASSWORD_FILE COFFER_SYSTEM_KEYSTORE \
    COFFER_SCOPE COFFER_PERIOD COFFER_CONFIG XDG_RUNTIME_DIR

say()
{
	printf '%s\n' "$*"
}

die()
{
	printf 'corrupt: %s\n' "$*" >&2
	printf 'corrupt: work directory kept: %s\n' "$work" >&2
	exit 2
}

sanitizer_in()
{
	grep -Eq 'runtime error:|(Address|Leak|Undefined|Thread)Sanitizer' "$1"
}

# ---- the pristine repository -------------------------------------------

# Sources live in $work/src, backed up from there, so the snapshot of
# "tN" restores to TARGET/tN and compares with $work/src/tN.
setup()
{
	local c=$COFFER_BIN
	rm -rf "$work/src" "$work/repo" "$work/keystore" "$work/pristine" \
	    "$work/home" "$work/xdg" "$work/old-keyinfo"
	mkdir -p "$work/src" "$work/home" || return 1
	cd "$work/src" || return 1
	"$gentree" t1 >/dev/null || return 1
	"$c" init --name-by count --no-password >/dev/null || return 1
	"$c" backup -q t1 || return 1
	# t2: t1 with one file changed, one added (same key set, dedup).
	cp -a t1 t2 && printf 'changed\n' >>t2/f4k &&
	    head -c 200000 "$gentree" >t2/added || return 1
	"$c" backup -q t2 || return 1
	# t3 into a key set of its own.
	cp -a t2 t3 && head -c 70000 "$treecmp" >t3/third || return 1
	"$c" backup -q --scope backup t3 || return 1
	# Give the first set a recovery slot, keeping its keyinfo from
	# before: the only file on the card that is ever rewritten, so the
	# only one with an authentic older version.
	local setA='' s
	for s in "$work"/repo/sets/*; do
		[ -e "$s/snapshots/1" ] && setA=${s##*/}
	done
	[ -n "$setA" ] || return 1
	cp "$work/repo/sets/$setA/keyinfo" "$work/old-keyinfo" || return 1
	printf 'correct horse battery\n' >"$work/pass"
	"$c" key add-passphrase "$setA" --passphrase-file "$work/pass" \
	    >/dev/null || return 1
	cmp -s "$work/old-keyinfo" "$work/repo/sets/$setA/keyinfo" &&
	    return 1
	"$c" check --read-data >/dev/null || return 1
	for n in 1 2 3; do
		rm -rf "$work/rst"
		"$c" restore -q "$n" --target "$work/rst" >/dev/null ||
		    return 1
		"$treecmp" "t$n" "$work/rst/t$n" >/dev/null || return 1
	done
	cd "$work" || return 1
	cp -a repo pristine || return 1
	rm -rf "$work/rst"
	: >"$work/.pristine-ok"
}

if [ ! -e "$work/.pristine-ok" ]; then
	say "# building the repository in $work"
	setup || die "could not build the test repository"
fi
cd "$work" || exit 2

# Snapshot names, the set each lives in, and the file of each.
snap_names=()
declare -A snap_set snap_file
while read -r name set; do
	snap_names+=("$name")
	snap_set[$name]=$set
	snap_file[$name]=sets/$set/snapshots/$name
done < <(cd "$work/pristine" && for f in sets/*/snapshots/*; do
	s=${f#sets/}
	echo "${f##*/} ${s%%/*}"
done | sort -n)
[ ${#snap_names[@]} -eq 3 ] || die "want 3 snapshots in the pristine copy"
setA=${snap_set[1]}

mapfile -t card < <(cd "$work/pristine" && find . -type f ! -path './locks/*' |
    sed 's|^\./||' | sort)
[ ${#card[@]} -ge 10 ] || die "too few files on the card"
packs=() indexes=() snaps=() keyinfos=()
for f in "${card[@]}"; do
	case $f in
	sets/*/packs/*)		packs+=("$f") ;;
	sets/*/index/*)		indexes+=("$f") ;;
	sets/*/snapshots/*)	snaps+=("$f") ;;
	sets/*/keyinfo)		keyinfos+=("$f") ;;
	esac
done

# ---- randomness ---------------------------------------------------------

# Each case reseeds bash's generator from (seed, case), so one case can be
# replayed alone.
rnd()		# rnd N: 0 .. N-1 (N up to 2^30)
{
	local r=$(( (RANDOM << 15) | RANDOM ))
	REPLY=$(( r % $1 ))
}

pick()		# pick ARRAY-NAME: a random element, in REPLY
{
	local -n _a=$1
	rnd ${#_a[@]}
	REPLY=${_a[$REPLY]}
}

hex()		# hex N: N random lowercase hex digits, in REPLY
{
	local s='' i
	for ((i = 0; i < $1; i++)); do
		s+=$(printf '%x' $((RANDOM & 15)))
	done
	REPLY=$s
}

fsize()
{
	stat -c %s -- "$1"
}

# ---- damage -------------------------------------------------------------

# Each damage sets: kind, what (description), targets (damaged paths,
# relative to the repository), expect (detect | H1 | H2 | B1 | B2), and
# touched (key sets and snapshot files the damage reaches, for deciding
# which snapshots must still restore whole).
kinds=(bitflip truncate delete duplicate swap zero append rollback)

kind_of_file()
{
	case $1 in
	config)			REPLY=config ;;
	sets/*/keyinfo)		REPLY=keyinfo ;;
	sets/*/index/*)		REPLY=index ;;
	sets/*/packs/*)		REPLY=pack ;;
	sets/*/snapshots/*)	REPLY=snapshot ;;
	*)			REPLY=other ;;
	esac
}

set_of()
{
	case $1 in
	sets/*)	REPLY=${1#sets/}; REPLY=${REPLY%%/*} ;;
	*)	REPLY= ;;
	esac
}

damage()
{
	local f g n off len b sz
	rnd ${#kinds[@]}
	kind=${kinds[$REPLY]}
	targets=()
	expect=detect
	case $kind in
	bitflip)
		pick card; f=$REPLY
		sz=$(fsize "repo/$f")
		rnd "$sz"; off=$REPLY
		rnd 8; b=$REPLY
		n=$(od -An -tu1 -j "$off" -N 1 -- "repo/$f" | tr -d ' ')
		# shellcheck disable=SC2059
		printf "\\$(printf %03o $((n ^ (1 << b))))" |
		    dd of="repo/$f" bs=1 seek="$off" count=1 conv=notrunc \
		    status=none
		what="bit $b of byte $off of $sz"
		targets=("$f")
		;;
	truncate)
		pick card; f=$REPLY
		sz=$(fsize "repo/$f")
		rnd "$sz"; len=$REPLY
		truncate -s "$len" -- "repo/$f"
		what="to $len of $sz bytes"
		targets=("$f")
		;;
	delete)
		pick card; f=$REPLY
		rm -f -- "repo/$f"
		what="deleted"
		targets=("$f")
		kind_of_file "$f"
		[ "$REPLY" = snapshot ] && expect=B1
		;;
	duplicate)
		# shellcheck disable=SC2034 # read through pick's nameref
		local dup=("${packs[@]}" "${indexes[@]}" "${snaps[@]}")
		pick dup; f=$REPLY
		kind_of_file "$f"
		case $REPLY in
		pack)
			n=${f%/*}; n=${n##*/}	# the 2-hex folder
			hex 30; g=${f%/*}/$n$REPLY
			expect=H1 ;;
		index)
			hex 32; g=${f%/*}/$REPLY ;;
		snapshot)
			rnd 2
			if [ "$REPLY" = 0 ]; then
				rnd 996; g=${f%/*}/$((REPLY + 4))
			else
				rnd 28; n=$((REPLY + 1))
				g=$(printf '%s/2031-02-%02dT120000Z' \
				    "${f%/*}" "$n")
			fi ;;
		esac
		cp -- "repo/$f" "repo/$g"
		what="copy of $f"
		targets=("$g")
		;;
	swap)
		# shellcheck disable=SC2034 # read through pick's nameref
		local pool
		pick card; f=$REPLY
		kind_of_file "$f"
		case $REPLY in
		pack)		pool=("${packs[@]}") ;;
		index)		pool=("${indexes[@]}") ;;
		snapshot)	pool=("${snaps[@]}") ;;
		keyinfo)	pool=("${keyinfos[@]}") ;;
		*)		pool=("${packs[@]}"); pick pool; f=$REPLY ;;
		esac
		g=$f
		while [ "$g" = "$f" ]; do pick pool; g=$REPLY; done
		mv -- "repo/$f" "repo/$f.swap" && mv -- "repo/$g" "repo/$f" &&
		    mv -- "repo/$f.swap" "repo/$g"
		what="contents swapped with $g"
		targets=("$f" "$g")
		;;
	zero)
		pick card; f=$REPLY
		sz=$(fsize "repo/$f")
		rnd "$sz"; off=$REPLY
		n=$((sz - off))
		rnd 4; [ "$REPLY" = 0 ] || [ $n -le 64 ] || n=64
		rnd "$n"; len=$((REPLY + 1))
		head -c "$len" /dev/zero | dd of="repo/$f" bs=65536 \
		    seek="$off" oflag=seek_bytes conv=notrunc iflag=fullblock \
		    status=none
		what="$len bytes zeroed at $off of $sz"
		targets=("$f")
		cmp -s -- "repo/$f" "pristine/$f" && expect=H2
		;;
	append)
		pick card; f=$REPLY
		pick packs; g=$REPLY
		sz=$(fsize "pristine/$g")
		rnd 4096; len=$((REPLY + 1))
		rnd $((sz - len)); off=$REPLY
		tail -c +$((off + 1)) -- "pristine/$g" | head -c "$len" \
		    >>"repo/$f"
		what="$len bytes appended"
		targets=("$f")
		;;
	rollback)
		# Snapshots 2 and 3 have older ones; the keyinfo of set A
		# has its own earlier version.
		local rb=(snap2 snap3 keyinfo)
		pick rb
		case $REPLY in
		snap2)	f=${snap_file[2]}; g=${snap_file[1]} ;;
		snap3)	f=${snap_file[3]}; rnd 2
			g=${snap_file[$((REPLY + 1))]} ;;
		keyinfo) f=sets/$setA/keyinfo; g=old-keyinfo
			expect=B2 ;;
		esac
		if [ "$g" = old-keyinfo ]; then
			cp -- "$work/old-keyinfo" "repo/$f"
			what="replaced by its own version before add-passphrase"
		else
			cp -- "pristine/$g" "repo/$f"
			what="replaced by $g"
		fi
		targets=("$f")
		;;
	esac
}

# Which snapshots may the damage reach?  Config: all.  keyinfo, index,
# pack of set K: those of K.  A snapshot file: itself.  Exempt damage:
# none.
affected()
{
	local s t
	declare -gA hit=()
	case $expect in H1|H2|B2) return ;; esac
	for t in "${targets[@]}"; do
		kind_of_file "$t"
		case $REPLY in
		config|other)
			for s in "${snap_names[@]}"; do hit[$s]=1; done ;;
		snapshot)
			for s in "${snap_names[@]}"; do
				[ "${snap_file[$s]}" = "$t" ] && hit[$s]=1
			done ;;
		*)	set_of "$t"
			for s in "${snap_names[@]}"; do
				[ "${snap_set[$s]}" = "$REPLY" ] && hit[$s]=1
			done ;;
		esac
	done
	# A duplicate of an index names a new file; the sets it copies are
	# intact, so every snapshot must still restore.
	[ "$kind" = duplicate ] && hit=()
	return 0
}

# names FILE REL: FILE (stderr of check) names the damaged REL.
names()
{
	local rel=$2 base=${2##*/} set
	grep -qF -- "$rel" "$1" && return 0
	kind_of_file "$rel"
	# A deleted index file cannot be named: nothing else on the card
	# records its name.  check must say that an index file of its key
	# set is missing (it names the packs the index listed).
	if [ "$REPLY" = index ] && [ "$kind" = delete ]; then
		set_of "$rel"
		grep -F -- "$REPLY" "$1" | grep -q 'index file.*missing'
		return
	fi
	case $REPLY in
	config)
		grep -qw config "$1" ;;
	keyinfo)
		set_of "$rel"
		grep -F -- "$REPLY" "$1" | grep -qw keyinfo ;;
	snapshot)
		# The name: a count name is the file name; a time name
		# gets its colons back.
		local name=$base
		case $base in
		????-??-??T??????Z*)
			name=${base:0:13}:${base:13:2}:${base:15} ;;
		esac
		grep -qF -- "snapshot '$name'" "$1" ||
		    grep -qF -- "snapshots/$base" "$1" ;;
	*)
		[ ${#base} -ge 16 ] && grep -qF -- "$base" "$1" ;;
	esac
}

# ---- the cases ----------------------------------------------------------

declare -A n_kind n_det n_exempt n_fail n_why=([H1]=0 [H2]=0 [B1]=0 [B2]=0)
for k in "${kinds[@]}"; do
	n_kind[$k]=0 n_det[$k]=0 n_exempt[$k]=0 n_fail[$k]=0
done
failures=()
ran=0
b1_noticed=0
t_start=$(date +%s)

casefail()
{
	local why
	failed_case=1
	why=$(printf '%s' "$*" | tr '\n' '|')
	failures+=("case $i (CORRUPT_SEED=$seed CORRUPT_ONLY=$i): $kind" \
	    "${targets[*]} ($what): $why")
	printf 'FAIL case %d: %s %s (%s): %s\n' "$i" "$kind" "${targets[*]}" \
	    "$what" "$why"
}

run_case()
{
	local rc t s name src restored
	failed_case=0
	rm -rf repo rst
	cp -a pristine repo || die "cannot copy the pristine repository"
	damage
	affected

	# check --read-data
	rc=0
	"$COFFER_BIN" check --read-data >check.out 2>check.err || rc=$?
	check_rc=$rc
	if [ $rc -ge 126 ]; then
		casefail "check crashed (exit $rc): $(tail -n 3 check.err)"
	elif sanitizer_in check.err; then
		casefail "sanitizer report from check:" \
		    "$(grep -m 3 -E 'runtime error:|Sanitizer' check.err)"
	elif [ "$expect" = detect ]; then
		if [ $rc -eq 0 ]; then
			casefail "check exited 0"
		else
			for t in "${targets[@]}"; do
				names check.err "$t" && continue
				casefail "check did not name $t:" \
				    "$(head -c 600 check.err)"
			done
		fi
	elif [ $rc -ne 0 ]; then
		# Exempt: H1, H2, B2 must pass; B1 may be noticed.
		if [ "$expect" != B1 ]; then
			casefail "check exited $rc on exempt damage" \
			    "($expect): $(head -c 600 check.err)"
		fi
	fi

	# restore every snapshot
	for name in "${snap_names[@]}"; do
		src=t$name
		rm -rf rst
		rc=0
		"$COFFER_BIN" restore "$name" --target rst >restore.out \
		    2>restore.err || rc=$?
		if [ $rc -ge 126 ]; then
			casefail "restore $name crashed (exit $rc):" \
			    "$(tail -n 3 restore.err)"
			continue
		fi
		if sanitizer_in restore.err; then
			casefail "sanitizer report from restore $name:" \
			    "$(grep -m 3 -E 'runtime error:|Sanitizer' \
			    restore.err)"
			continue
		fi
		if [ $rc -eq 0 ] && "$treecmp" "src/$src" "rst/$src" \
		    >treecmp.out 2>&1; then
			continue	# whole and exact
		fi
		if [ $rc -eq 0 ]; then
			casefail "restore $name exited 0 but the tree" \
			    "differs: $(head -n 3 treecmp.out)"
		elif [ -z "${hit[$name]:-}" ]; then
			casefail "restore $name failed (exit $rc) though the" \
			    "damage cannot reach it: $(tail -n 2 restore.err)"
		fi
		# No wrong byte: every restored file is a source file.
		if [ -d rst ]; then
			restored=$( (cd rst && find . -type f -print0 |
			    xargs -0 -r md5sum) | LC_ALL=C sort)
			if [ -n "$restored" ]; then
				bad=$(LC_ALL=C comm -23 <(printf '%s\n' \
				    "$restored") "man.$name" | head -n 3)
				[ -z "$bad" ] || casefail "restore $name" \
				    "wrote wrong bytes or unknown files: $bad"
			fi
		fi
	done

	n_kind[$kind]=$((n_kind[$kind] + 1))
	if [ $failed_case = 1 ]; then
		n_fail[$kind]=$((n_fail[$kind] + 1))
	elif [ "$expect" = detect ]; then
		n_det[$kind]=$((n_det[$kind] + 1))
	else
		n_exempt[$kind]=$((n_exempt[$kind] + 1))
		n_why[$expect]=$((n_why[$expect] + 1))
		[ "$expect" = B1 ] && [ "$check_rc" -ne 0 ] &&
		    b1_noticed=$((b1_noticed + 1))
	fi
	[ "$verbose" = 1 ] && printf 'case %d: %s %s (%s): %s, %s\n' "$i" \
	    "$kind" "${targets[*]}" "$what" "$expect" \
	    "$([ $failed_case = 1 ] && echo FAIL || echo ok)"
	return 0
}

# Manifests of the sources, as "./tN/..." lines like the restores give.
for name in "${snap_names[@]}"; do
	[ -s "man.$name" ] && continue
	(cd src && find "./t$name" -type f -print0 | xargs -0 md5sum) |
	    LC_ALL=C sort >"man.$name" || die "cannot hash the sources"
done

say "# corruption harness: $COFFER_BIN, seed $seed, $cases cases" \
    "(replay: CORRUPT_SEED=$seed)"
for ((i = 1; i <= cases; i++)); do
	[ -n "$only" ] && [ "$i" != "$only" ] && continue
	RANDOM=$(( (seed * 1000003 + i * 7919) % 2147483647 ))
	run_case
	ran=$((ran + 1))
	if [ "$verbose" != 1 ] && [ $((ran % 100)) -eq 0 ]; then
		say "# $ran cases, $(( $(date +%s) - t_start ))s"
	fi
done
secs=$(( $(date +%s) - t_start ))

# ---- summary ------------------------------------------------------------

nfail=${#failures[@]}
say "# corruption: $ran cases in ${secs}s, seed $seed"
printf '# %-10s %6s %9s %7s %7s\n' kind cases detected exempt failed
for k in "${kinds[@]}"; do
	printf '# %-10s %6d %9d %7d %7d\n' "$k" "${n_kind[$k]}" \
	    "${n_det[$k]}" "${n_exempt[$k]}" "${n_fail[$k]}"
done
say "# exempt: H1 (duplicate pack) ${n_why[H1]}, H2 (zeros over zeros)" \
    "${n_why[H2]}, B1 (snapshot deleted) ${n_why[B1]} (check noticed" \
    "$b1_noticed), B2 (keyinfo rolled back) ${n_why[B2]}"
if [ "$nfail" -gt 0 ]; then
	say "# failures (replay with the same CORRUPT_WORK=$work):"
	for f in "${failures[@]}"; do say "#   $f"; done
fi
tf=0
for k in "${kinds[@]}"; do tf=$((tf + n_fail[$k])); done
if [ "$tf" -eq 0 ] && [ "$ran" -gt 0 ]; then
	say "PASS: $ran cases, none failed"
	[ "$keep" = 1 ] || rm -rf "$work"
	exit 0
fi
say "FAIL: $tf of $ran cases failed (work directory kept: $work)"
exit 1
