#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/card-run.sh [FILES]: what "coffer card run" costs on top of the
# backup it runs.  A 512 MiB loop exFAT image (exfat-fuse where the
# kernel has no exFAT), FILES small files (default 5000, 1-4 KiB), one
# first backup; then, with nothing changed, REPS (default 5) times each:
#   backup  the card mounted by hand, "coffer backup" alone
#   run     "coffer card run DEV": probe, read-only mount, identify,
#           unmount, read-write mount, identify, backup, forget, syncfs,
#           unmount
# Prints per run the wall time, user+sys CPU and peak RSS (GNU time), and
# the load average; take medians.  Root only (losetup, mount).  Uses
# B (build dir, default build) and TMPDIR.
set -eu

files=${1:-5000}
reps=${REPS:-5}
B=${B:-build}
coffer=$(cd "$B" && pwd)/coffer
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-card-bench.XXXXXX")
dev=
cleanup()
{
	mountpoint -q "$work/card" 2>/dev/null && umount "$work/card"
	[ -n "$dev" ] && losetup -d "$dev" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export HOME="$work/home" XDG_CONFIG_HOME="$work/cfg" \
    XDG_STATE_HOME="$work/state" XDG_DATA_HOME="$work/data" \
    COFFER_CARD_MOUNTS="$work/mnt"
mkdir -p home card src
i=0
while [ "$i" -lt "$files" ]; do
	head -c $((1024 + (i * 37) % 3072)) /dev/urandom >"src/f$i"
	i=$((i + 1))
done
truncate -s 512M card.img
mkfs.exfat card.img >/dev/null
dev=$(losetup -f --show card.img)
mount.exfat-fuse "$dev" card 2>/dev/null
"$coffer" --repo card/coffer init --no-password >/dev/null
"$coffer" -q --repo card/coffer backup "$work/src"
"$coffer" -q --repo card/coffer card add --keep-last 3 "$work/src"
umount card

measure()
{
	/usr/bin/time -f "%e s wall, %U+%S s CPU, %M KiB peak RSS" "$@" \
	    >/dev/null 2>time.out || { cat time.out; exit 1; }
	printf '%s  (load %s)\n' "$(tail -1 time.out)" \
	    "$(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "# $files files, nothing changed, $reps times each"
r=0
while [ "$r" -lt "$reps" ]; do
	mount.exfat-fuse "$dev" card 2>/dev/null
	printf 'backup  '
	measure "$coffer" -q --repo card/coffer backup "$work/src"
	umount card
	printf 'run     '
	measure "$coffer" card run "$dev"
	r=$((r + 1))
done
