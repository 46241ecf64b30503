# SPDX-License-Identifier: ISC
# tests/integration/60-corrupt-quick.sh
# test: long
# Goal: the corruption harness (tests/harness/corrupt.sh) in its quick
# mode: 200 random damages to the card (100 under the ASan build, whose
# runs are about three times slower), each one named by "check
# --read-data", never restored as a wrong byte, never a crash or a
# sanitizer report.  As root the harness works on a tmpfs (five times
# faster than a busy disk), if that tmpfs takes user xattrs (gentree
# needs them); a failing run's work directory is copied to ./corrupt-kept
# so that the case can be replayed: the printed CORRUPT_SEED and
# CORRUPT_ONLY, with CORRUPT_WORK=.../corrupt-kept.
scenario() {
	build=${COFFER%/*}
	case $build in
	*asan*)	n=${CORRUPT_CASES:-100} ;;
	*)	n=${CORRUPT_CASES:-200} ;;
	esac
	mkdir corrupt || return 1
	mounted=0
	if is_root && mount -t tmpfs -o size=512m tmpfs corrupt 2>/dev/null
	then
		mounted=1
		# shellcheck disable=SC2064 # expand $PWD now
		trap "umount -l '$PWD/corrupt' 2>/dev/null" EXIT
		if ! setfattr -n user.probe -v 1 corrupt 2>/dev/null; then
			note "this tmpfs takes no user xattrs: working on disk"
			umount corrupt && mounted=0 || return 1
		fi
	fi
	note "corruption harness, $n cases against $build" \
	    "(tmpfs: $mounted)"
	rc=0
	CORRUPT_WORK=$PWD/corrupt bash "$SRCDIR/tests/harness/corrupt.sh" \
	    "$build" "$n" >harness.out 2>&1 || rc=$?
	# The summary (and any failure) into the log.
	grep -E '^(# |FAIL|PASS)' harness.out | grep -v '^# [0-9]* cases,' >&2
	if [ "$rc" -ne 0 ] && [ "$mounted" = 1 ]; then
		rm -rf corrupt/rst corrupt/repo
		cp -a corrupt corrupt-kept
		note "work directory copied to $PWD/corrupt-kept"
	fi
	if [ "$mounted" = 1 ]; then
		umount corrupt || fail "cannot unmount corrupt" || return 1
		trap - EXIT
	fi
	[ "$rc" -eq 0 ] || fail "corruption harness failed (exit $rc)" ||
	    return 1
	expect_grep '^PASS: ' harness.out
}
