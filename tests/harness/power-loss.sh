#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/harness/power-loss.sh BUILD_DIR [CASES]: the card pulled mid-write
# (issue 20).  Each case runs one writing command of coffer on a card
# served by pullfs (tests/harness/pullfs.c: writes and names not yet
# synced are lost, in part, when the card is pulled), pulls the card at
# its N-th mutating operation, N drawn uniformly from 1 to what a clean
# run of that command does, and then, on the backing folder without
# pullfs, asserts:
#
#   - `check` passes (exit 0; leftovers are allowed: FORMAT.md §14);
#   - every snapshot on the card restores bit for bit: no wrong byte ever
#     comes back;
#   - every snapshot that was on the card before the command is still
#     there (but the one a forget, or the set a key destroy, removes), and
#     if the command returned success, its effect is there too (the new
#     snapshot, the forget, the tag, the passphrase slot, the destroy);
#   - a backup with a passphrase slot restores with --passphrase-file and
#     no keystore;
#   - the next backup and a prune succeed, and check passes after them.
#
# Commands (taken in turn, case by case; each starts from a
# state prepared once): init; backup into a new repository (a new key
# set); backup with new data; backup --scope backup (a new key set beside
# an old one); backup into a set with a recovery passphrase; backup
# resumed after one that was cut off (pulled with everything kept, as a
# kill leaves it); forget; prune after a forget; key add-passphrase; key
# destroy; tag; copy to the card from a repository beside it, into an
# empty copy (init --like) and into one holding an older snapshot; with
# POWER_LOSS_ESCROW=1 (a cofferd is started) backups under the escrow and
# escrow-wrap custodies too.
#
# POWER_LOSS_MODE=full: the disk-full variant (66-power-full): instead
# of a pull, the card is full from operation N on (pullfs --full-after:
# writes, creates and mkdirs fail with ENOSPC), and a command that fails
# must say "No space left on device" and leave no lock; the checks after
# it are the same.
# POWER_LOSS_SECONDS: start no case after that many seconds (the long
# mode's time limit; the table then counts the cases run).
# Seeds: POWER_LOSS_SEED (default: the pid) seeds case i with SEED + i;
# a failure prints the line to replay it (POWER_LOSS_SEED=S
# POWER_LOSS_CASE=i).  POWER_LOSS_WORK: the work directory (kept).
# Output: one line per failed case, a table of outcomes per command and
# "PASS: ..." or "FAIL: ..." last.  Exit status 0, 1 (a case failed) or 2
# (setup failed).

set -u

[ $# -ge 1 ] && [ $# -le 2 ] ||
    { echo "usage: tests/harness/power-loss.sh BUILD_DIR [CASES]" >&2; exit 2; }
build=$(cd "$1" 2>/dev/null && pwd -P) ||
    { echo "power-loss: no build directory '$1'" >&2; exit 2; }
cases=${2:-100}
srcdir=$(cd "$(dirname "$0")/../.." && pwd -P) || exit 2
coffer=$build/coffer
pullfs=$build/tests/pullfs
treecmp=$build/tests/treecmp
for _b in "$coffer" "$pullfs" "$treecmp"; do
	[ -x "$_b" ] || { echo "power-loss: no $_b (make all tests)" >&2
	    exit 2; }
done
command -v fusermount3 >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 ||
    { echo "power-loss: needs fusermount3 and jq" >&2; exit 2; }
seed=${POWER_LOSS_SEED:-$$}
mode=${POWER_LOSS_MODE:-pull}
case $mode in
pull)	trigger=--pull-after ;;
full)	trigger=--full-after ;;
*)	echo "power-loss: POWER_LOSS_MODE is pull or full" >&2; exit 2 ;;
esac
only=${POWER_LOSS_CASE:-}

if [ -n "${POWER_LOSS_WORK:-}" ]; then
	mkdir -p "$POWER_LOSS_WORK" || exit 2
	work=$(cd "$POWER_LOSS_WORK" && pwd -P) || exit 2
	rm -rf "$work/base" "$work/case" "$work"/s[0-9]
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-plfs.XXXXXX") || exit 2
fi
cd "$work" || exit 2

COFFER_MACHINE_ID=0123456789abcdef0123456789abcdef
HOME=$work/home
XDG_DATA_HOME=$work/xdg/data
XDG_CONFIG_HOME=$work/xdg/config
XDG_CACHE_HOME=$work/xdg/cache
XDG_STATE_HOME=$work/xdg/state
COFFER_INSECURE_FAST_KDF=1
LC_ALL=C
TZ=UTC
export COFFER_MACHINE_ID HOME XDG_DATA_HOME XDG_CONFIG_HOME XDG_CACHE_HOME \
    XDG_STATE_HOME COFFER_INSECURE_FAST_KDF LC_ALL TZ
unset COFFER_PASSPHRASE COFFER_PASSWORD_FILE COFFER_SYSTEM_KEYSTORE \
    COFFER_SCOPE COFFER_PERIOD COFFER_CONFIG COFFER_CUSTODY \
    XDG_RUNTIME_DIR COFFER_REPO COFFER_KEYSTORE
pid=

die()
{
	echo "power-loss: $*" >&2
	[ -n "$pid" ] && { fusermount3 -u "$mnt" 2>/dev/null
	    kill "$pid" 2>/dev/null; wait "$pid"; }
	exit 2
}

# co STATE ARGS...: coffer on STATE's card (STATE/card/repo, not mounted)
# and keystore; output in ./out and ./err, the status in $rc.
co()
{
	_s=$1
	shift
	rc=0
	COFFER_REPO=$_s/card/repo COFFER_KEYSTORE=$_s/keystore \
	    timeout 120 "$coffer" "$@" >out 2>err || rc=$?
}

# on_card STATE PULLFS-ARGS -- ARGS...: coffer ARGS on STATE's card served
# by pullfs; the status in $rc, pullfs's word in ./pullfs.log.
on_card()
{
	_s=$work/$1
	mnt=$_s/mnt
	shift
	_pa=
	while [ "$1" != -- ]; do
		_pa="$_pa $1"
		shift
	done
	shift
	mkdir -p "$_s/mnt" || die "mkdir"
	# shellcheck disable=SC2086 # _pa holds separate options
	"$pullfs" $_pa "$_s/card" "$_s/mnt" 2>pullfs.log &
	pid=$!
	_i=0
	until grep -qs " $_s/mnt fuse.pullfs " /proc/mounts; do
		_i=$((_i + 1))
		[ $_i -lt 200 ] || die "pullfs did not mount: $(cat pullfs.log)"
		kill -0 "$pid" 2>/dev/null ||
		    die "pullfs ended: $(cat pullfs.log)"
		sleep 0.02
	done
	rc=0
	COFFER_REPO=$_s/mnt/repo COFFER_KEYSTORE=$_s/keystore \
	    timeout 120 "$coffer" "$@" >out 2>err || rc=$?
	_i=0
	until fusermount3 -u "$_s/mnt" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || die "cannot unmount $_s/mnt"
		sleep 0.05
	done
	wait "$pid" || die "pullfs failed: $(cat pullfs.log)"
	pid=
}

# The source trees: s1; s2 is s1 with files changed, added and removed;
# s3 is new data for the backup after a pull.
mktree()
{
	mkdir -p "$1/sub/deep" || die "mkdir $1"
	_i=0
	while [ $_i -lt "$2" ]; do
		head -c $(( (_i * 7919) % 30000 )) /dev/urandom \
		    >"$1/sub/f$_i" || die "data"
		_i=$((_i + 1))
	done
	head -c 150000 /dev/urandom >"$1/big" || die "data"
	printf 'a small file\n' >"$1/sub/deep/small"
	: >"$1/empty"
}
mktree s1 12
cp -a s1 s2 || die "cp"
head -c 40000 /dev/urandom >s2/sub/f3
head -c 20000 /dev/urandom >s2/new
rm -f s2/sub/f5
mktree s3 4
printf 'correct horse battery staple 4711\n' >pp

# --- the states each command starts from (base/NAME/{card,keystore}) ---

# state NAME FROM: a new state, a copy of FROM's (or empty).
state()
{
	mkdir -p base || die "mkdir"
	if [ -n "$2" ]; then
		cp -a "base/$2" "base/$1" || die "cp"
	else
		mkdir -p "base/$1/card" "base/$1/keystore" || die "mkdir"
		chmod 700 "base/$1/keystore"
	fi
}

# must STATE ARGS...: coffer ARGS succeeds on STATE (setting up).
must()
{
	co "$@"
	[ "$rc" -eq 0 ] || die "setup: coffer $*: $(tail -n 3 err)"
}

state empty ""
state inited empty
must base/inited init --name-by count
state one inited
must base/one backup s1
state two one
must base/two backup --scope backup s2
co base/two snapshots --json
setid=$(jq -r '.snapshots[] | select(.name == "2") | .key_id' out)
[ -n "$setid" ] || die "no key set for snapshot 2"
state pass one
must base/pass key add-passphrase --passphrase-file pp
state killed one
# A backup cut off two thirds in, with everything kept (what a kill
# leaves): a pack or its .tmp and no snapshot.
on_card base/killed --count "$work/count" -- backup s2
n=$(cat "$work/count")
rm -rf base/killed && state killed one
on_card base/killed --pull-after $((n * 2 / 3)) --keep 100 -- backup s2
[ "$rc" -ne 0 ] || die "the cut-off backup succeeded"
state forgot two
must base/forgot forget 1
# Copy: the source is state "two"'s repository, never mounted; the card
# is a copy made by init --like (keys from the same keystore), empty or
# already holding snapshot 1.
state srcst two
src=$work/base/srcst/card/repo
state likedest two
rm -rf base/likedest/card && mkdir -p base/likedest/card || die "mkdir"
must base/likedest init --like "$src"
state copied1 likedest
must base/copied1 copy --repo "$src" --to "$work/base/copied1/card/repo" 1

# Escrow custodies (POWER_LOSS_ESCROW=1): a real cofferd on loopback,
# one account logged in; its session is in the states' keystore.
escrow_cmds=
if [ "${POWER_LOSS_ESCROW:-0}" = 1 ]; then
	COFFER=$coffer SRCDIR=$srcdir
	export COFFER SRCDIR
	. "$srcdir/tests/harness/cofferd.sh" || die "no cofferd.sh"
	trap cofferd_cleanup EXIT
	cofferd_start "$work/srv" >srv.out 2>&1 ||
	    die "cofferd did not start: $(tail -n 3 srv.out)"
	COFFER_CACERT=$COFFERD_CACERT
	printf 'tangerine glacier oboe falcon\n' >escrow.pw
	COFFER_ESCROW_PASSWORD_FILE=$work/escrow.pw
	export COFFER_CACERT COFFER_ESCROW_PASSWORD_FILE
	state esc one
	must base/esc escrow register --server "$COFFERD_URL" --account plfs
	must base/esc escrow login --server "$COFFERD_URL" --account plfs
	escrow_cmds="
backup-escrow esc backup --custody escrow s2
backup-wrap esc backup --custody escrow-wrap s2"
fi

# Commands: NAME STATE ARGS.  Each line: the name, its starting state,
# and the command.  State "-": not run.  The copies write to the card
# (--to, the card as pullfs serves it) from a repository outside it;
# verify's checks apply as they are (a copy that returned 0 must leave
# what a clean run leaves).
cmds="init empty init --name-by count
backup-first inited backup s1
backup-next one backup s2
backup-scope one backup --scope backup s2
backup-pass pass backup s2
backup-resume killed backup s2
forget two forget 1
prune forgot prune
add-passphrase one key add-passphrase --passphrase-file pp
destroy two key destroy $setid --yes
tag two tag --add pulled 2
copy-all likedest copy --repo $src --to $work/case/mnt/repo
copy-next copied1 copy --repo $src --to $work/case/mnt/repo$escrow_cmds"
ncmds=$(printf '%s\n' "$cmds" | wc -l)

# --- the checks after a pull ------------------------------------------

# snaps STATE: "name tags" lines of STATE's snapshots into ./snaps.
snaps()
{
	co "$1" snapshots --json
	[ "$rc" -eq 0 ] || [ "$rc" -eq 4 ] || { bad "snapshots: exit $rc:" \
	    "$(tail -n 2 err)"; return 1; }
	jq -r '.snapshots[] | [.name, (if .readable then "ok" elif
	    .damaged then "damaged" else "nokey" end),
	    ((.tags // []) | join(","))] | join(" ")' out >snaps ||
	    { bad "snapshots --json unreadable"; return 1; }
	if grep -q ' damaged ' snaps; then
		bad "damaged snapshots: $(grep ' damaged ' snaps)"
		return 1
	fi
	# Only a destroy leaves a set whose key is gone.
	if grep ' nokey ' snaps | grep -qv '^2 ' ||
	    { grep -q ' nokey ' snaps && [ "$name" != destroy ]; }; then
		bad "snapshots without their key: $(grep ' nokey ' snaps)"
		return 1
	fi
}

has()
{
	grep -q "^$1 " snaps
}

# bad MSG: this case failed.
bad()
{
	echo "FAIL case $case ($name, $mode at $pull of $total, seed" \
	    "$cs): $*" >&2
	echo "  replay: POWER_LOSS_MODE=$mode POWER_LOSS_SEED=$seed" \
	    "POWER_LOSS_CASE=$case" \
	    "sh tests/harness/power-loss.sh BUILD_DIR $cases" >&2
	sed 's/^/  | /' pullfs.log >&2
	[ -s cmd.err ] && tail -n 3 cmd.err | sed 's/^/  cmd| /' >&2
	[ -s err ] && tail -n 3 err | sed 's/^/  | /' >&2
	return 1
}

# new_locks: lock files on the card that its starting state did not have
# (the cut-off backup's state has one, as a kill leaves it).
new_locks()
{
	[ -d case/card/repo/locks ] || return 0
	for _l in case/card/repo/locks/*; do
		[ -f "$_l" ] || continue
		[ -e "base/$from/card/repo/locks/${_l##*/}" ] ||
		    printf '%s ' "${_l##*/}"
	done
}

# verify: the assertions after a pull; $name, $rc0 (the command's
# status) and the state in ./case.
verify()
{
	if [ "$name" = init ]; then
		co case check
		[ "$rc0" -ne 0 ] || [ "$rc" -eq 0 ] || { bad "init" \
		    "succeeded but check fails: $(tail -n 1 err)"; return 1; }
		if [ "$rc" -ne 0 ]; then
			# The repository did not survive: init again works.
			co case init --name-by count
			[ "$rc" -eq 0 ] || { bad "init after a pulled init" \
			    "fails: $(tail -n 1 err)"; return 1; }
		fi
		co case backup s1
		[ "$rc" -eq 0 ] || { bad "backup after init: exit $rc"
		    return 1; }
	fi
	co case check --read-data
	[ "$rc" -eq 0 ] || { bad "check: exit $rc"; return 1; }
	snaps case || return 1
	# What must be there: what was there before and a clean run keeps;
	# after a success, exactly what a clean run leaves.
	if [ "$rc0" -eq 0 ] && [ "$name" != init ]; then
		cmp -s snaps "post-$k" || { bad "the command succeeded but" \
		    "the card holds '$(tr '\n' ';' <snaps)', want" \
		    "'$(tr '\n' ';' <"post-$k")'"; return 1; }
	fi
	for _n in $(cat "pre-$k"); do
		grep -q "^$_n " "post-$k" || continue
		has "$_n" || { bad "snapshot $_n is gone"; return 1; }
	done
	# Every snapshot on the card restores bit for bit.
	while read -r _n _r _t; do
		[ "$_r" = ok ] || continue
		rm -rf rst
		co case restore "$_n" --target rst
		[ "$rc" -eq 0 ] || { bad "restore $_n: exit $rc"; return 1; }
		for _d in rst/*; do
			"$treecmp" --no-owner -- "${_d##*/}" "$_d" \
			    >treecmp.out 2>&1 ||
			    { bad "snapshot $_n restores wrong bytes:" \
			    "$(head -n 3 treecmp.out)"; return 1; }
		done
	done <snaps
	if [ "$name" = backup-pass ] || { [ "$name" = add-passphrase ] &&
	    [ "$rc0" -eq 0 ]; }; then
		rm -rf rst nokeys && mkdir -m 700 nokeys
		rc=0
		COFFER_REPO=$work/case/card/repo COFFER_KEYSTORE=$work/nokeys \
		    "$coffer" --passphrase-file pp restore 1 --target rst \
		    >out 2>err || rc=$?
		[ "$rc" -eq 0 ] || { bad "passphrase restore: exit $rc"
		    return 1; }
		"$treecmp" --no-owner -- s1 rst/s1 >treecmp.out 2>&1 ||
		    { bad "passphrase restore differs"; return 1; }
	fi
	# And life goes on.
	co case backup s3
	[ "$rc" -eq 0 ] || { bad "next backup: exit $rc"; return 1; }
	co case prune
	[ "$rc" -eq 0 ] || { bad "prune: exit $rc"; return 1; }
	co case check
	[ "$rc" -eq 0 ] || { bad "check after prune: exit $rc"; return 1; }
	return 0
}

# Operations a clean run of each command does (and that it works).
runnable=
nrun=0
i=1
while [ $i -le "$ncmds" ]; do
	set -- $(printf '%s\n' "$cmds" | sed -n "${i}p")
	name=$1
	from=$2
	shift 2
	if [ "$from" = - ]; then
		eval "total_$i=-"
		i=$((i + 1))
		continue
	fi
	runnable="$runnable $i"
	nrun=$((nrun + 1))
	rm -rf case && cp -a "base/$from" case || die "cp"
	: >"pre-$i"
	if [ -d case/card/repo ]; then
		co case snapshots --json
		jq -r '.snapshots[].name' out >"pre-$i" || die "snapshots"
	fi
	on_card case --count "$work/count" -- "$@"
	[ "$rc" -eq 0 ] || die "clean run of $name failed: $(tail -n 3 err)"
	snaps case 2>/dev/null || die "snapshots after $name"
	mv snaps "post-$i"
	eval "total_$i=$(cat "$work/count")"
	i=$((i + 1))
done

# --- the cases ---------------------------------------------------------

echo "power-loss: $mode, seed $seed, $cases cases (replay one with" \
    "POWER_LOSS_MODE=$mode POWER_LOSS_SEED=$seed POWER_LOSS_CASE=N)"
failed=0
ran=0
case=0
t_end=
[ -n "${POWER_LOSS_SECONDS:-}" ] &&
    t_end=$(( $(date +%s) + POWER_LOSS_SECONDS ))
while [ $case -lt "$cases" ]; do
	if [ -n "$t_end" ] && [ "$(date +%s)" -ge "$t_end" ]; then
		echo "power-loss: time is up after $case of $cases cases"
		break
	fi
	if [ -n "$only" ] && [ "$case" != "$only" ]; then
		case=$((case + 1))
		continue
	fi
	# The commands in turn.
	set -- $runnable
	shift $((case % nrun))
	k=$1
	set -- $(printf '%s\n' "$cmds" | sed -n "${k}p")
	name=$1
	from=$2
	shift 2
	eval "total=\$total_$k"
	cs=$((seed + case))
	# N uniform in 1..total (an LCG step of the case's seed).
	r=$(( (cs * 1103515245 + 12345) % 2147483648 ))
	pull=$(( (r / 65536) % total + 1 ))
	tear=
	[ $((r % 2)) -eq 1 ] && tear=--tear
	rm -rf case && cp -a "base/$from" case || die "cp"
	[ "$mode" = full ] && tear=
	on_card case --seed "$cs" $trigger "$pull" $tear -- "$@"
	rc0=$rc
	cp err cmd.err
	ran=$((ran + 1))
	if [ "$rc0" -ge 126 ]; then
		bad "the command crashed (exit $rc0)"
		ok=1
	elif [ "$mode" = full ] && [ "$rc0" -ne 0 ] &&
	    ! grep -q 'No space left on device' cmd.err; then
		bad "failed on a full card without saying so"
		ok=1
	elif [ "$mode" = full ] && [ -n "$(new_locks)" ]; then
		bad "a lock is left: $(new_locks)"
		ok=1
	else
		ok=0
		verify || ok=1
	fi
	eval "n_$k=\$((\${n_$k:-0} + 1))"
	[ "$rc0" -eq 0 ] && eval "s_$k=\$((\${s_$k:-0} + 1))"
	if [ $ok -ne 0 ]; then
		failed=$((failed + 1))
		eval "f_$k=\$((\${f_$k:-0} + 1))"
		[ -n "${POWER_LOSS_WORK:-}" ] && cp -a case "failed-$case"
	fi
	case=$((case + 1))
	[ $((ran % 500)) -eq 0 ] &&
	    echo "power-loss: $ran cases run, $failed failed ($(date -u +%T))"
done

echo "| command | operations | cases | returned 0 | failed |"
echo "| --- | --- | --- | --- | --- |"
i=1
while [ $i -le "$ncmds" ]; do
	set -- $(printf '%s\n' "$cmds" | sed -n "${i}p")
	eval "echo \"| $1 | \$total_$i | \${n_$i:-0} | \${s_$i:-0} |" \
	    "\${f_$i:-0} |\""
	[ "$2" = - ] && echo "  ($1: not in coffer yet; its slot is ready)"
	i=$((i + 1))
done
[ -n "$escrow_cmds" ] && cofferd_cleanup
[ -z "${POWER_LOSS_WORK:-}" ] && [ $failed -eq 0 ] && { cd / &&
    rm -rf "$work"; }
if [ $failed -ne 0 ]; then
	echo "FAIL: $failed of $ran cases (seed $seed)"
	exit 1
fi
[ $ran -gt 0 ] || { echo "FAIL: no case ran"; exit 1; }
echo "PASS: $ran cases (seed $seed)"
