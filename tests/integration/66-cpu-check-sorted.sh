# SPDX-License-Identifier: ISC
# tests/integration/66-cpu-check-sorted.sh
# Goal: check and prune's marking look the snapshots' chunk references
# up in sorted batches, reading the index cache in order, not with a
# pread each (a cache read, not mapped: COFFER_IDXCACHE_MAP=0, as past
# IC_MAP_MAX), and still find every chunk the index does not name: a
# second backup that reuses the chunks of the first, then the first
# backup's pack and index file deleted; check reports each file with its
# name, prune stops before deleting anything.

scenario() {
	need_cmd strace || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	random_small_files src/a 400 7 || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	set=$(ls "$COFFER_REPO/sets") || return 1
	cache=$COFFER_KEYSTORE/cache/$set.index

	# 400 chunk references: a few reads of the cache, not 400.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    COFFER_IDXCACHE_MAP=0 expect_exit 0 strace -f -y -qq \
	    -e trace=pread64 -o t1 "$COFFER" check || return 1
	n=$(grep -c "$set.index>" t1)
	note "check made $n reads of the index cache for 400 chunks"
	[ "$n" -lt 40 ] || fail "check read the index cache $n times" ||
	    return 1
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    COFFER_IDXCACHE_MAP=0 expect_exit 0 strace -f -y -qq \
	    -e trace=pread64 -o t2 "$COFFER" prune || return 1
	n=$(grep -c "$set.index>" t2)
	note "prune made $n reads of the index cache for 400 chunks"
	[ "$n" -lt 40 ] || fail "prune read the index cache $n times" ||
	    return 1

	# The first backup's pack and index file gone; the second snapshot
	# reuses the chunk of src/a/f1 (its own trees are new: src/a
	# changed).
	first_packs=$(find "$COFFER_REPO/sets/$set/packs" -type f | sort)
	first_idx=$(ls "$COFFER_REPO/sets/$set/index")
	echo more > src/a/new || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	for p in $first_packs; do rm -f "$p" || return 1; done
	for i in $first_idx; do
		rm -f "$COFFER_REPO/sets/$set/index/$i" || return 1
	done
	for map in 0 33554432; do
		COFFER_IDXCACHE_MAP=$map expect_fail "$COFFER" check ||
		    return 1
		expect_grep "snapshot '2', file 'src/a/f1': chunk 0 is missing from the repository" err ||
		    return 1
		# One report a file: 400 files of snapshot 2, and snapshot 1's
		# missing tree.
		[ "$(grep -c "snapshot '2', file .*is missing from the repository" err)" -eq 400 ] ||
		    fail "want 400 missing files reported" || return 1
		expect_grep "snapshot '1'" err || return 1
	done
	[ -f "$cache" ] || fail "no index cache" || return 1

	# Prune: snapshot 1 forgotten (its tree is gone too), snapshot 2's
	# chunks are not in the index: prune stops, nothing deleted.
	expect_exit 0 "$COFFER" forget 1 || return 1
	before=$(find "$COFFER_REPO/sets/$set" -type f | sort)
	for map in 0 33554432; do
		COFFER_IDXCACHE_MAP=$map expect_fail "$COFFER" prune ||
		    return 1
		expect_grep "snapshot '2' uses data that is not in the repository; prune stopped, nothing deleted" err ||
		    return 1
		[ "$(find "$COFFER_REPO/sets/$set" -type f | sort)" = \
		    "$before" ] || fail "prune changed the set" || return 1
	done
}
