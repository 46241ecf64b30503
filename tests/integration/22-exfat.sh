# SPDX-License-Identifier: ISC
# tests/integration/22-exfat.sh
# Goal: a repository on an exFAT card (a loop-mounted 256 MiB image) works:
# the full tree round-trips (the restore goes to the normal disk, so owners,
# modes and xattrs must come back from the card's encrypted metadata, not
# from the card's own file system), and every name on the card is FAT-safe.
# Needs root (losetup, mount); fails rather than skips without it.
scenario() {
	is_root || fail "needs root to set up a loop device and mount exFAT" ||
	    return 1
	need_cmd losetup mkfs.exfat mount.exfat-fuse umount || return 1
	[ -c /dev/fuse ] || fail "no /dev/fuse (modprobe fuse)" || return 1

	truncate -s 256M card.img || return 1
	mkfs.exfat -L COFFER card.img >mkfs.log 2>&1 ||
	    fail "mkfs.exfat failed: $(cat mkfs.log)" || return 1
	loopdev=
	trap cleanup EXIT
	trap 'exit 1' INT TERM
	loopdev=$(losetup -f --show card.img) ||
	    fail "losetup could not attach card.img" || return 1
	mkdir card || return 1
	mount.exfat-fuse "$loopdev" card || fail "cannot mount $loopdev" ||
	    return 1
	mounted=1
	[ "$(stat -f -c %T card)" = fuseblk ] ||
	    fail "card is not a FUSE mount: $(stat -f -c %T card)" || return 1

	COFFER_REPO=$PWD/card/repo
	export COFFER_REPO

	"$HELPERS/gentree" src || return 1
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" restore latest --target rst || return 1
	# shellcheck disable=SC2046
	expect_tree src rst/src $(owner_opt) || return 1
	check_card_names "$COFFER_REPO" || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1

	# A second backup (dedup against what is on the card) and a restore
	# after the card was unmounted and mounted again.
	echo changed >src/changed.txt || return 1
	sleep 1
	expect_exit 0 "$COFFER" backup src || return 1
	umount card || fail "cannot unmount the card" || return 1
	mounted=
	mount.exfat-fuse "$loopdev" card ||
	    fail "cannot mount $loopdev again" || return 1
	mounted=1
	expect_exit 0 "$COFFER" restore latest --target rst2 || return 1
	# shellcheck disable=SC2046
	expect_tree src rst2/src $(owner_opt) || return 1
	check_card_names "$COFFER_REPO"
}

mounted=

cleanup()
{
	if [ -n "$mounted" ]; then
		umount card 2>/dev/null || umount -l card 2>/dev/null
	fi
	[ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
	return 0
}
