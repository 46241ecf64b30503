#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/mount-readers.sh [MIB]: coffer mount (FUSE, one thread), one
# reader against two at once.  Two files of MIB MiB (default 256) of
# random bytes are backed up; the pack files are read once so the "card"
# answers from the page cache (the best case for more threads: nothing
# waits on a device).  Then, each on a fresh mount (its chunk cache
# empty): one cat of file A; cat of A and B at the same time.  Prints one
# line per case: wall seconds, MiB/s over all bytes read, the CPU
# seconds the mount process used (user+system, /proc/PID/stat) and its
# peak RSS (VmHWM), with the load average.  CACHE=SIZE mounts with
# --cache-size SIZE.  REPS (default 3) repetitions, each printed; take
# the median.  Needs /dev/fuse and fusermount3.  Not part of the tests.
# Environment: B (build dir, default build), WORK (scratch, default a
# mktemp -d, removed at the end).
# CARD_MBPS=N (root, loop devices, cgroup v1 blkio): the repository is
# put on an ext4 file system in a loop device (direct I/O, so no second
# cache), mounted afresh before each case (its page cache empty), and
# the mount process reads it throttled to N MB/s (a card's speed), so
# every read waits on the "card".
set -eu
MIB=${1:-256}
REPS=${REPS:-3}
B=${B:-build}
COFFER=$(cd "$B" && pwd)/coffer
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
cd "$WORK"
export HOME="$WORK/home" COFFER_KEYSTORE="$WORK/home/keystore"
export COFFER_REPO="$WORK/repo" COFFER_INSECURE_FAST_KDF=1
mkdir -p "$HOME" data mnt
head -c $((MIB << 20)) /dev/urandom >data/a
head -c $((MIB << 20)) /dev/urandom >data/b
CG=
if [ -n "${CARD_MBPS:-}" ]; then
	truncate -s $((3 * MIB + 64))M card.img
	mkfs.ext4 -q card.img
	LOOP=$(losetup -f --show --direct-io=on card.img)
	mkdir -p card
	mount "$LOOP" card
	COFFER_REPO=$WORK/card/repo
	CG=/sys/fs/cgroup/blkio/coffer-bench-$$
	mkdir "$CG"
	echo "$(lsblk -dno MAJ:MIN "$LOOP" | tr -d ' ') \
	    $((CARD_MBPS * 1000000))" >"$CG/blkio.throttle.read_bps_device"
fi
"$COFFER" init -q >/dev/null
"$COFFER" backup -q data >/dev/null
[ -n "$CG" ] || find repo -type f -exec cat {} + >/dev/null
tck=$(getconf CLK_TCK)

fresh_card()	# the card's page cache emptied: mounted again
{
	[ -n "$CG" ] || return 0
	sync
	umount card
	mount "$LOOP" card
}

cpu()	# cpu PID: user+system clock ticks so far
{
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

now()
{
	date +%s.%N
}

run()	# run CASE FILE...: one fresh mount, cat FILEs at once
{
	_case=$1
	shift
	fresh_card
	"$COFFER" mount -f ${CACHE:+--cache-size "$CACHE"} mnt 2>/dev/null &
	_pid=$!
	[ -z "$CG" ] || echo "$_pid" >"$CG/cgroup.procs"
	while ! mountpoint -q mnt; do sleep 0.1; done
	_c0=$(cpu "$_pid")
	_t0=$(now)
	_cats=
	for _f; do
		cat "mnt/latest/data/$_f" >/dev/null &
		_cats="$_cats $!"
	done
	for _j in $_cats; do
		wait "$_j"
	done
	_t1=$(now)
	_c1=$(cpu "$_pid")
	_hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$_pid/status")
	fusermount3 -u mnt
	wait "$_pid"
	awk -v c="$_case" -v t0="$_t0" -v t1="$_t1" -v n=$# -v m="$MIB" \
	    -v c0="$_c0" -v c1="$_c1" -v tck="$tck" -v h="$_hwm" \
	    -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { printf "%-12s " \
	    "%6.2f s  %7.1f MiB/s  cpu %5.2f s  VmHWM %6.1f MiB  load %s\n",
	    c, t1 - t0, n * m / (t1 - t0), (c1 - c0) / tck, h / 1024, l }'
}

i=0
while [ "$i" -lt "$REPS" ]; do
	run "one reader" a
	run "two readers" a b
	i=$((i + 1))
done
cd /
if [ -n "$CG" ]; then
	umount "$WORK/card"
	losetup -d "$LOOP"
	rmdir "$CG"
fi
[ -n "${KEEP:-}" ] || rm -rf "$WORK"
