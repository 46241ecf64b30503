# SPDX-License-Identifier: ISC
# tests/integration/64-backup-memory.sh
# test: long
# Goal (issue 17, part 1): a backup's memory does not grow with the
# number of files it stores.
# - Peak RSS of a first backup of 60,000 files of 2 KiB exceeds that of
#   20,000 by less than 10 MiB, 256 bytes a file (measured: 6.5 MiB,
#   the steps of bounded buffers; before, with the trees kept until their
#   ids were known and the whole id arena: 13 MiB).  The index's table of
#   new blobs is kept small (COFFER_ABSORB_MIN): it is bounded by that,
#   not by the backup.
# - The same for an unchanged re-backup (the old file cache loaded),
#   under 3 MiB (measured: 0.3 MiB; before, the cache's table and mapped
#   file: 9.5 MiB).
# - Correctness where these bounds bite: build-shrunk/coffer ("make
#   shrunk") stores trees and rewinds its id arena every 64 entries and
#   hands back the cache's mapped pages every 16 lookups; a gentree tree
#   given as nested paths (trees of the paths above them too), with hard
#   links, restores exactly, and an unchanged re-backup reads nothing and
#   restores exactly.  The scenario fails, never skips, without the
#   shrunk build or /usr/bin/time.
# Memory is no time: RSS is measured, not speed.  Under ASan the
# quarantine is turned off, so that freed memory is not counted.

# mkfiles DIR N: N folders of 1,000 files of 2 KiB of random bytes (so
# that packs fill up and close, and the index's table of new blobs moves
# into the index cache as it does in large backups).
mkfiles() {
	_d=0
	while [ $_d -lt "$2" ]; do
		mkdir -p "$1/d$_d" || return 1
		head -c 2048000 /dev/urandom >"$1/rnd" &&
		    split -b 2048 -d -a 3 "$1/rnd" "$1/d$_d/f" &&
		    rm -f "$1/rnd" || return 1
		_d=$((_d + 1))
	done
}

# mksmall DIR N: N files of a few bytes in DIR.
mksmall() {
	mkdir -p "$1" || return 1
	_i=0
	while [ $_i -lt "$2" ]; do
		printf '%s %s\n' "$1" $_i >"$1/f$_i" || return 1
		_i=$((_i + 1))
	done
}

# peak_kib DIR: peak RSS (KiB) of a backup of DIR; prints it.
peak_kib() {
	/usr/bin/time -f %M -o rss.out "$COFFER" -q backup "$1" \
	    >bk.out 2>bk.err ||
	    { cat bk.err >&2; fail "backup of $1 failed"; return 1; }
	tail -n 1 rss.out
}

scenario() {
	S=${COFFER_SHRUNK:-}
	[ -n "$S" ] && [ -x "$S" ] ||
	    fail "no shrunk build at '$S': run 'make shrunk'" || return 1
	[ -x /usr/bin/time ] ||
	    fail "/usr/bin/time is missing (apt-get install time)" ||
	    return 1
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
	export COFFER_ABSORB_MIN=2048

	mkfiles small 20 && mkfiles large 60 || return 1
	repo=$COFFER_REPO ks=$COFFER_KEYSTORE
	for t in small large; do
		export COFFER_REPO=$PWD/repo-$t COFFER_KEYSTORE=$PWD/ks-$t
		expect_exit 0 "$COFFER" init || return 1
		first=$(peak_kib $t) || return 1
		again=$(peak_kib $t) || return 1
		eval "first_$t=$first again_$t=$again"
		note "$t: first backup $first KiB, unchanged again $again KiB"
	done
	export COFFER_REPO=$repo COFFER_KEYSTORE=$ks
	unset COFFER_ABSORB_MIN
	d1=$((first_large - first_small))
	d2=$((again_large - again_small))
	note "40,000 more files: first backup +$d1 KiB, again +$d2 KiB"
	[ "$d1" -lt 10240 ] ||
	    fail "a first backup of 40,000 more files took $d1 KiB more" \
	    "(want < 10240)" || return 1
	[ "$d2" -lt 3072 ] ||
	    fail "an unchanged backup of 40,000 more files took $d2 KiB" \
	    "more (want < 3072)" || return 1
	rm -rf small large repo-* ks-*

	# The shrunk build: nested given paths, many flushes and rewinds.
	expect_exit 0 "$HELPERS/gentree" src || return 1
	mkfiles src/many 2 || return 1
	mkdir -p src/a/b/c || return 1
	mkfiles src/a/b/c 1 || return 1
	# Folders whose walk flushes (over 64 entries put aside) under
	# folders that end with files (still hashed when they are done): an
	# open folder's entry gets its slot after a flush inside it.
	for e in E F; do
		for g in G H; do
			mksmall src/deep/$e/$g/a 70 && mksmall src/deep/$e/$g/b 70 &&
			    mksmall src/deep/$e/$g/z 0 &&
			    for i in 1 2 3; do
				printf '%s\n' "$e$g$i" >src/deep/$e/$g/z$i
			    done || return 1
		done
	done
	expect_exit 0 "$S" init || return 1
	expect_exit 0 "$S" backup --json src/a/b src || return 1
	expect_jq '.warnings == 0' out || return 1
	expect_exit 0 "$S" restore latest --target r1 || return 1
	expect_tree src r1/src $(owner_opt) || return 1
	expect_tree src/a/b r1/src/a/b $(owner_opt) || return 1
	expect_exit 0 "$S" backup --json src || return 1
	expect_jq '.new == 0 and .changed == 0 and .unchanged > 3000' out ||
	    return 1
	rm -rf r1
	expect_exit 0 "$COFFER" restore latest --target r1 || return 1
	expect_tree src r1/src $(owner_opt) || return 1
	expect_exit 0 "$S" check --read-data || return 1
}
