#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/harness/pullfs-selftest.sh PULLFS WORKDIR: pullfs's model checked
# on its own (65-power-loss runs it first).  Writes through a pullfs
# mount, syncs some of it (coreutils sync FILE is an fsync of FILE, of a
# folder too), pulls the card and checks what BACKING holds afterwards:
#
#   - synced data under a synced name survives every pull;
#   - with nothing kept (--keep 0), unsynced data and names are gone: a
#     file whose name was synced but not its data is empty, an unsynced
#     rename leaves the old file whole;
#   - with everything kept (--keep 100), the card holds the current state;
#   - over many seeds, an unsynced rename over a synced file leaves one of
#     the two files whole, never neither and never a mix;
#   - --tear cuts a write at a 512-byte boundary, never elsewhere;
#   - after a pull every operation fails with EIO; --pull-after N does not
#     do the N-th mutating operation; --count counts them; --full-after N
#     fails creates from the N-th on with ENOSPC, but not removals.
#
# Prints "pullfs-selftest: PASS" or the first failure; exit status 0 or 1.

set -u
[ $# -eq 2 ] || { echo "usage: pullfs-selftest.sh PULLFS WORKDIR" >&2; exit 2; }
pullfs=$1
work=$2
mkdir -p "$work" || exit 2
work=$(cd "$work" && pwd) || exit 2
b=$work/backing
m=$work/mnt
pid=

bad()
{
	echo "pullfs-selftest: FAIL: $*" >&2
	[ -n "$pid" ] && { fusermount3 -u "$m" 2>/dev/null; wait "$pid"; }
	exit 1
}

# mount ARGS...: a fresh BACKING holding "base" (synced long ago), mounted.
mount_fs()
{
	rm -rf "$b" && mkdir -p "$b" "$m" || exit 2
	printf 'base-old\n' >"$b/base"
	"$pullfs" "$@" "$b" "$m" 2>"$work/log" &
	pid=$!
	_i=0
	until grep -qs " $m fuse.pullfs " /proc/mounts; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || bad "pullfs did not mount: $(cat "$work/log")"
		sleep 0.05
	done
}

umount_fs()
{
	fusermount3 -u "$m" || bad "cannot unmount"
	wait "$pid" || bad "pullfs exited with $?: $(cat "$work/log")"
	pid=
}

pull_now()
{
	kill -USR1 "$pid"
	# The pull happens at the next operation.
	ls "$m" >/dev/null 2>&1
}

# The writes of one round: synced file "s" (data and name), file "d" with
# only its name synced, unsynced file "u", rename of synced "n.tmp" over
# "base" without a folder sync, a synced folder "dir" holding a synced
# file and an unsynced one.
writes()
{
	(
		cd "$m" || exit 1
		printf 'synced\n' >s && sync s &&
		printf 'data-not-synced\n' >d &&
		mkdir dir && printf 'in-dir\n' >dir/f && sync dir/f &&
		sync . && sync dir &&
		printf 'unsynced\n' >u && printf 'lost\n' >dir/g &&
		printf 'base-new\n' >n.tmp && sync n.tmp && mv n.tmp base
	) || bad "writes through the mount failed"
}

# 1. Nothing kept.
mount_fs --keep 0 --seed 1
writes
pull_now
ls "$m" >/dev/null 2>&1 && bad "ls works after the pull"
printf x 2>/dev/null >"$m/late" && bad "a write works after the pull"
umount_fs
[ "$(cat "$b/s")" = synced ] || bad "keep 0: synced file lost"
[ "$(cat "$b/dir/f")" = in-dir ] || bad "keep 0: synced file in dir lost"
[ -f "$b/d" ] && [ ! -s "$b/d" ] || bad "keep 0: d should be there, empty"
[ ! -e "$b/u" ] && [ ! -e "$b/dir/g" ] || bad "keep 0: unsynced names kept"
[ "$(cat "$b/base")" = base-old ] || bad "keep 0: unsynced rename applied"
[ ! -e "$b/n.tmp" ] || bad "keep 0: unsynced create of n.tmp kept"
[ ! -e "$b/late" ] || bad "keep 0: a write after the pull arrived"

# 2. Everything kept.
mount_fs --keep 100 --seed 1
writes
pull_now
umount_fs
[ "$(cat "$b/d")" = data-not-synced ] || bad "keep 100: d lost its data"
[ "$(cat "$b/u")" = unsynced ] && [ "$(cat "$b/dir/g")" = lost ] ||
    bad "keep 100: unsynced file lost"
[ "$(cat "$b/base")" = base-new ] && [ ! -e "$b/n.tmp" ] ||
    bad "keep 100: rename not applied whole"

# 3. Random subsets: synced data always there, the rename atomic.
seed=1
olds=0
news=0
while [ $seed -le 24 ]; do
	mount_fs --seed "$seed"
	writes
	pull_now
	umount_fs
	[ "$(cat "$b/s")" = synced ] && [ "$(cat "$b/dir/f")" = in-dir ] ||
	    bad "seed $seed: synced data lost"
	case $(cat "$b/base" 2>/dev/null) in
	base-old)	olds=$((olds + 1))
			[ ! -e "$b/n.tmp" ] || [ "$(cat "$b/n.tmp")" = base-new ] ||
			    bad "seed $seed: n.tmp damaged" ;;
	base-new)	news=$((news + 1))
			[ ! -e "$b/n.tmp" ] || bad "seed $seed: rename half done" ;;
	*)		bad "seed $seed: base is '$(cat "$b/base" 2>&1)'" ;;
	esac
	case $(cat "$b/d") in
	''|data-not-synced) ;;
	*)	bad "seed $seed: d holds '$(cat "$b/d")'" ;;
	esac
	seed=$((seed + 1))
done
[ $olds -gt 0 ] && [ $news -gt 0 ] ||
    bad "24 seeds never lost ($olds) or never kept ($news) the rename"

# 4. Torn writes: 8 KiB of 'B' over a synced 8 KiB of 'A'; whatever
# survives is A's and B's split at a multiple of 512.
torn=0
seed=1
while [ $seed -le 12 ]; do
	rm -rf "$b" && mkdir -p "$b" || exit 2
	head -c 8192 /dev/zero | tr '\0' A >"$b/t"
	"$pullfs" --keep 100 --tear --seed "$seed" "$b" "$m" 2>"$work/log" &
	pid=$!
	until grep -qs " $m fuse.pullfs " /proc/mounts; do sleep 0.05; done
	head -c 8192 /dev/zero | tr '\0' B | dd of="$m/t" bs=8192 \
	    conv=notrunc 2>/dev/null || bad "write failed"
	pull_now
	umount_fs
	[ "$(wc -c <"$b/t")" -eq 8192 ] || bad "torn: size changed"
	nb=$(tr -cd B <"$b/t" | wc -c)
	[ $((nb % 512)) -eq 0 ] || bad "torn: $nb bytes of B, not sectors"
	[ "$(head -c "$nb" "$b/t" | tr -d B | wc -c)" -eq 0 ] ||
	    bad "torn: B not a prefix"
	[ "$nb" -lt 8192 ] && torn=$((torn + 1))
	seed=$((seed + 1))
done
[ $torn -gt 0 ] || bad "12 seeds never tore the write"

# 5. --pull-after and --count: mkdir a, mkdir a/b, mkdir a/c is 3.
mount_fs --count "$work/count"
mkdir "$m/a" "$m/a/b" "$m/a/c" || bad "mkdir failed"
umount_fs
[ "$(cat "$work/count")" -eq 3 ] || bad "count $(cat "$work/count"), want 3"
[ -d "$b/a/c" ] || bad "a clean unmount lost a folder"
mount_fs --pull-after 2 --keep 100
mkdir "$m/a" 2>/dev/null || bad "operation 1 failed"
mkdir "$m/a/b" 2>/dev/null && bad "operation 2 worked"
umount_fs
[ -d "$b/a" ] && [ ! -e "$b/a/b" ] || bad "--pull-after 2 kept the wrong ops"

# 6. --full-after 2: the second mkdir finds the card full; rmdir works.
mount_fs --full-after 2
mkdir "$m/a" 2>/dev/null || bad "--full-after 2: operation 1 failed"
mkdir "$m/b" 2>"$work/full.err" && bad "--full-after 2: operation 2 worked"
grep -q 'No space left on device' "$work/full.err" ||
    bad "--full-after 2: not ENOSPC: $(cat "$work/full.err")"
rmdir "$m/a" || bad "--full-after: rmdir failed on a full card"
umount_fs
[ ! -e "$b/a" ] && [ ! -e "$b/b" ] || bad "--full-after: wrong folders"

echo "pullfs-selftest: PASS"
