# SPDX-License-Identifier: ISC
# tests/integration/44-card.sh
# Goal: backups that start when a card goes in (coffer card).  The hook the
# systemd unit runs, "coffer card run DEVICE", on loop-device exFAT images
# "inserted" (losetup) and "removed" (losetup -d):
# - a recorded card is backed up, forgotten and pruned by its policy,
#   unmounted (fsck.exfat -n says clean, the loop device detaches), and a
#   second insertion with nothing changed adds almost nothing;
# - an unrecorded card is left alone: not mounted, not one byte written;
# - a card with the recorded UUID but another repository, or with the
#   recorded repository id copied into its config, is refused, unwritten;
# - a run stopped by SIGTERM during its backup (what the unit gets when
#   the card goes) unmounts a clean card and is recorded as failed;
# - a run killed during its backup (the card pulled) is picked up cleanly
#   on the next insertion: that run succeeds, check passes, and card status
#   shows the failed run, then the good one;
# - a records file others could write, or with a field out of its rules,
#   is refused;
# - the systemd units pass systemd-analyze verify (and a broken copy does
#   not), and card list / remove do what they say.
# Needs root (losetup, mount); fails rather than skips without it.

# in_mountinfo WORD: some mount's line in /proc/self/mountinfo has WORD.
in_mountinfo()
{
	grep -qF -- "$1" /proc/self/mountinfo
}

# traced_run STATUS: "coffer card run $dev" under strace, which must exit
# with STATUS; its mount(2) calls (the exfat-fuse child's too) in mounts.
traced_run()
{
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    expect_exit "$1" strace -f -qq -e trace=mount -o mount.trace \
	    "$COFFER" card run "$dev" || return 1
	grep -E '^[0-9]+ +mount\(' mount.trace >mounts || :
}

# attach IMG: losetup it; the device in $dev.
attach()
{
	dev=$(losetup -f --show "$1") || fail "losetup could not attach $1" ||
	    return 1
	loops="$loops $dev"
}

# detach: losetup -d $dev, which must succeed (nothing holds the card).
detach()
{
	losetup -d "$dev" || fail "cannot detach $dev (still held?)" ||
	    return 1
	loops=$(echo "$loops" | sed "s|$dev||")
	# Gone at once, not only marked for autoclear.
	! losetup "$dev" >/dev/null 2>&1 ||
	    fail "$dev is still attached after losetup -d" || return 1
}

# fsck_clean: the card in $dev passes fsck.exfat -n and says clean.
fsck_clean()
{
	fsck.exfat -n "$dev" >fsck.out 2>&1 ||
	    fail "fsck.exfat -n $dev: $(cat fsck.out)" || return 1
	grep -q "clean" fsck.out || fail "not clean: $(cat fsck.out)"
}

# last_run FILTER: jq FILTER is true of card blue's last run.
last_run()
{
	"$COFFER" card status --json blue >status.json ||
	    fail "card status failed" || return 1
	expect_jq ".cards[0].runs[-1] | $1" status.json
}

# with_card CMD...: CMD with card.img mounted (exfat-fuse) at ./card.
with_card()
{
	mount.exfat-fuse "$dev" card 2>/dev/null || fail "cannot mount $dev" ||
	    return 1
	"$@"
	_st=$?
	umount card || fail "cannot unmount card" || return 1
	return $_st
}

scenario() {
	is_root || fail "needs root to set up loop devices and mount exFAT" ||
	    return 1
	need_cmd losetup mkfs.exfat tune.exfat fsck.exfat mount.exfat-fuse \
	    umount systemd-analyze sha256sum jq strace || return 1
	[ -c /dev/fuse ] || fail "no /dev/fuse (modprobe fuse)" || return 1
	loops=
	trap cleanup EXIT
	trap 'exit 1' INT TERM
	COFFER_CARD_MOUNTS=$PWD/mnt
	export COFFER_CARD_MOUNTS
	mkdir card || return 1

	# The card: an exFAT image with a repository and one backup on it.
	truncate -s 256M card.img && mkfs.exfat -L BLUE card.img >/dev/null ||
	    fail "mkfs.exfat failed" || return 1
	tune.exfat -I 0x1234abcd card.img >/dev/null ||
	    fail "tune.exfat failed" || return 1
	random_small_files src 40 1 || return 1
	attach card.img || return 1
	mount.exfat-fuse "$dev" card 2>/dev/null || fail "cannot mount $dev" ||
	    return 1
	expect_exit 0 "$COFFER" --repo card/coffer init --no-password &&
	    expect_exit 0 "$COFFER" --repo card/coffer backup "$PWD/src" ||
	    return 1
	# Records it: UUID, repository id, key set, paths and policy.
	expect_exit 0 "$COFFER" --repo card/coffer card add --label blue \
	    --keep-last 2 --exclude '*.skip' src || return 1
	expect_grep 'recorded card blue \(UUID 1234-ABCD, exfat' out || return 1
	umount card || fail "cannot unmount card" || return 1
	expect_exit 0 "$COFFER" card list --json || return 1
	expect_jq '.cards[0] | .uuid == "1234-ABCD" and .repo == "coffer"
	    and .keep.last == 2 and (.key_ids | length) == 1' out || return 1

	# The udev rule's PROGRAM (its own text, coffer's path and the UUID
	# put in; without --system, as the records here are the user's):
	# true for the recorded UUID only.
	prog=$(sed -n 's/^PROGRAM=="\([^"]*\)".*/\1/p' \
	    "$SRCDIR/dist/90-coffer-card.rules" |
	    sed "s|/usr/local/bin/coffer --system|$COFFER|") || return 1
	case $prog in *'%E{ID_FS_UUID}'*) ;; *)
		fail "no PROGRAM with the UUID in the udev rule: '$prog'"
		return 1 ;;
	esac
	# shellcheck disable=SC2086 # the rule's words
	expect_exit 0 ${prog%\%E*}1234-ABCD || return 1
	# shellcheck disable=SC2086
	expect_exit 1 ${prog%\%E*}1234-ABCE || return 1

	# The records decide what root backs up: one anyone else could have
	# written is refused, and so is a field out of its rules.
	cards=$XDG_CONFIG_HOME/coffer/cards
	cp "$cards" cards.good && chmod 0620 "$cards" || return 1
	expect_exit 1 "$COFFER" card run "$dev" || return 1
	expect_grep "'$cards' could have been written by someone else" err ||
	    return 1
	jq '.cards[0].repo = "../../etc"' cards.good >"$cards" &&
	    chmod 0600 "$cards" || return 1
	expect_exit 1 "$COFFER" card list || return 1
	expect_grep "card 1: bad or missing 'repo'" err || return 1
	cp cards.good "$cards" && chmod 0600 "$cards" || return 1

	# Insertion 1, with a changed file: backed up, unmounted, clean.
	echo changed >src/f1 && echo no >src/x.skip || return 1
	expect_exit 0 "$COFFER" card run "$dev" || return 1
	expect_grep 'backup .*: 40 files' out &&
	    expect_grep 'unmounted: the card can be pulled' out || return 1
	! in_mountinfo "$PWD/mnt" || fail "the card is still mounted" ||
	    return 1
	last_run '.result == "ok" and .added > 0' || return 1
	fsck_clean && detach || return 1

	# Insertion 2, nothing changed: a snapshot, almost no bytes.
	attach card.img && expect_exit 0 "$COFFER" card run "$dev" || return 1
	last_run '.result == "ok" and .added < 2048 and .forgotten == 1' ||
	    return 1
	fsck_clean && detach || return 1
	# keep-last 2: of three snapshots two are left; the pruned card checks.
	attach card.img || return 1
	with_card expect_exit 0 "$COFFER" --repo card/coffer snapshots --json ||
	    return 1
	expect_jq '.snapshots | length == 2' out || return 1
	detach || return 1

	# An unrecorded card is left alone: not mounted, not written.
	truncate -s 64M other.img && mkfs.exfat -L OTHER other.img >/dev/null ||
	    return 1
	sum=$(sha256sum <other.img)
	attach other.img && traced_run 0 || return 1
	expect_grep 'not a recorded card: left alone' out || return 1
	expect_empty mounts || fail "the unrecorded card was mounted" ||
	    return 1
	! in_mountinfo "$dev" || fail "the unrecorded card was mounted" ||
	    return 1
	detach || return 1
	[ "$(sha256sum <other.img)" = "$sum" ] ||
	    fail "the unrecorded card was written" || return 1

	# The recorded UUID, another repository: refused, not written.
	truncate -s 64M forged.img && mkfs.exfat forged.img >/dev/null &&
	    tune.exfat -I 0x1234abcd forged.img >/dev/null || return 1
	attach forged.img || return 1
	with_card expect_exit 0 "$COFFER" --repo card/coffer init \
	    --no-password || return 1
	with_card expect_exit 0 "$COFFER" --repo card/coffer backup src ||
	    return 1
	sum=$(sha256sum <forged.img)
	traced_run 1 || return 1
	expect_grep 'refused: not the recorded repository.*repository id' err ||
	    return 1
	# Mounted (so it was looked at), and never writable.
	expect_nonempty mounts || return 1
	expect_no_grep -v MS_RDONLY mounts ||
	    fail "the forged card was mounted read-write" || return 1
	last_run '.result == "refused"' || return 1
	[ "$(sha256sum <forged.img)" = "$sum" ] ||
	    fail "the forged card was written" || return 1
	# Its config replaced by the real card's (the id is cleartext): the
	# id matches, but no recorded key set authenticates: refused.
	detach && attach card.img || return 1
	with_card cp card/coffer/config real.config || return 1
	detach && attach forged.img || return 1
	with_card cp real.config card/coffer/config || return 1
	sum=$(sha256sum <forged.img)
	expect_exit 1 "$COFFER" card run "$dev" || return 1
	expect_grep 'refused: not the recorded repository' err || return 1
	expect_no_grep 'repository id' err || return 1
	[ "$(sha256sum <forged.img)" = "$sum" ] ||
	    fail "the forged card was written" || return 1
	! in_mountinfo "$PWD/mnt" || fail "the forged card is still mounted" ||
	    return 1
	detach || return 1

	# Pulled, as the unit sees it (BindsTo: SIGTERM) during the backup (a
	# big file keeps it busy): the backup stops, the card is unmounted
	# and clean, the run is recorded as failed.
	head -c 64M /dev/urandom >src/big || return 1
	attach card.img || return 1
	"$COFFER" card run "$dev" >run.out 2>run.err &
	pid=$!
	wait_for 'ls mnt/1234-ABCD/coffer/locks/*.lock >/dev/null 2>&1' 20 ||
	    return 1
	kill -TERM "$pid" || return 1
	st=0
	wait "$pid" || st=$?
	[ "$st" -ne 0 ] || fail "the stopped run exited 0" || return 1
	last_run '.result == "failed" and (.message | test("backup"))' ||
	    return 1
	! in_mountinfo "$PWD/mnt" || fail "still mounted after SIGTERM" ||
	    return 1
	fsck_clean || return 1

	# Pulled mid-run: the hook is frozen (SIGSTOP) as soon as its backup
	# holds its lock on the card and killed (-9); then the unmount is
	# forced, the card detached and attached.
	"$COFFER" card run "$dev" >run.out 2>run.err &
	pid=$!
	wait_for 'ls mnt/1234-ABCD/coffer/locks/*.lock >/dev/null 2>&1' 20 ||
	    return 1
	kill -STOP "$pid" || return 1
	expect_no_grep 'coffer card: backup' run.out ||
	    fail "the backup ended before the hook was stopped" || return 1
	kill -9 "$pid"
	wait "$pid"
	# A run that holds no lock any more and never ended: interrupted.
	last_run '.result == "interrupted" and .end == null' || return 1
	umount mnt/1234-ABCD 2>/dev/null || umount -l mnt/1234-ABCD ||
	    fail "cannot force the unmount" || return 1
	wait_for '! in_mountinfo "$PWD/mnt"' 10 || return 1
	detach || wait_for 'detach' 10 || return 1
	attach card.img || return 1
	expect_exit 0 "$COFFER" card run "$dev" || return 1
	expect_grep 'backup .*: 41 files' out || return 1
	last_run '.result == "ok"' || return 1
	expect_jq '.cards[0].runs[-2] | .result == "failed" and
	    (.message | test("interrupted"))' status.json || return 1
	expect_jq '.cards[0].last_result == "ok"' status.json || return 1
	fsck_clean || return 1
	with_card expect_exit 0 "$COFFER" --repo card/coffer check || return 1
	# card status says the same for a person.
	expect_exit 0 "$COFFER" card status || return 1
	expect_grep '^blue  UUID 1234-ABCD' out &&
	    expect_grep '^  last backup: 20' out &&
	    expect_grep 'failed .*interrupted' out &&
	    expect_grep 'ok .*snapshot .* added' out || return 1

	# Removed from the records: the card is left alone.
	expect_exit 0 "$COFFER" card remove blue || return 1
	sum=$(sha256sum <card.img)
	expect_exit 0 "$COFFER" card run "$dev" || return 1
	expect_grep 'not a recorded card' out || return 1
	detach || return 1
	[ "$(sha256sum <card.img)" = "$sum" ] ||
	    fail "the removed card was written" || return 1

	# The units verify (coffer's path put in); a broken copy does not.
	mkdir units units-bad || return 1
	for u in coffer-card@.service coffer-card@.timer; do
		sed "s|/usr/local/bin/coffer|$COFFER|" "$SRCDIR/dist/$u" \
		    >"units/$u" || return 1
	done
	expect_exit 0 systemd-analyze verify --man=no \
	    "$PWD/units/coffer-card@.service" "$PWD/units/coffer-card@.timer" &&
	    expect_empty out && expect_empty err || return 1
	sed 's/^Type=oneshot/Type=oneshoot/' units/coffer-card@.service \
	    >units-bad/coffer-card@.service || return 1
	systemd-analyze verify --man=no "$PWD/units-bad/coffer-card@.service" \
	    >out 2>err
	expect_nonempty err || return 1
}

cleanup()
{
	for m in card mnt/*; do
		in_mountinfo "$PWD/$m" && { umount "$m" 2>/dev/null ||
		    umount -l "$m"; }
	done
	for d in $loops; do
		losetup -d "$d" 2>/dev/null
	done
	return 0
}
