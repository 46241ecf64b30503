# SPDX-License-Identifier: ISC
# tests/integration/58-index-cache.sh
# Goal: the chunk index is kept on the device (FORMAT.md §18.8) and
# checked against the card every time: it is built once and then used
# without reading the card's index files again; an index file written
# elsewhere is merged in; after a prune (index files gone) an older cache
# is never trusted, so data prune removed is written again by the next
# backup; a damaged, truncated or foreign cache is rebuilt; `snapshots`
# and `key list` open no index at all; a backup that moves what it wrote
# into the cache while it runs leaves a cache naming its index files; a
# cache build killed midway leaves nothing behind for long; a set whose
# index files are all gone is read without a crash.
# Each time, what is restored is bit for bit what was backed up.

scenario() {
	need_cmd strace || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	random_small_files src/a 300 1 && random_small_files src/b 200 2 || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	set=$(ls "$COFFER_REPO/sets") || return 1
	cache="$COFFER_KEYSTORE/cache/$set.index"
	[ -f "$cache" ] || fail "no index cache at $cache" || return 1

	# The first command after a backup merges its one new index file;
	# the next reads none, and restore is exact through the cache.
	traced_openat t1 "$COFFER" ls latest || return 1
	[ "$(index_opens t1)" -eq 1 ] ||
	    fail "merging read $(index_opens t1) index files, want 1" ||
	    return 1
	traced_openat t2 "$COFFER" restore latest --target r1 || return 1
	[ "$(index_opens t2)" -eq 0 ] ||
	    fail "restore read $(index_opens t2) index files, want 0" ||
	    return 1
	expect_tree src r1/src $(owner_opt) || return 1

	# What a build killed midway left (its pid gone) is removed by the
	# next command; a running process's files are left alone.
	sleep 60 &
	live=$!
	: >"$cache.2147483646.tmp" && : >"$cache.2147483645.raw" &&
	    : >"$cache.$live.tmp" || return 1
	expect_exit 0 "$COFFER" ls latest || return 1
	_left=$(ls "$COFFER_KEYSTORE/cache" | grep -c '\.index\.[0-9]')
	[ -e "$cache.$live.tmp" ] && [ "$_left" -eq 1 ]
	_ok=$?
	kill "$live" 2>/dev/null
	rm -f "$cache.$live.tmp"
	[ "$_ok" -eq 0 ] || fail "leftover cache builds after a command:" \
	    "$(ls "$COFFER_KEYSTORE/cache")" || return 1

	# snapshots and key list open no index file and no cache.
	for cmd in snapshots "key list"; do
		# shellcheck disable=SC2086
		traced_openat t3 "$COFFER" $cmd || return 1
		[ "$(index_opens t3)" -eq 0 ] && ! grep -q '\.index"' t3 ||
		    fail "'$cmd' opened an index:" || {
			grep index t3 >&2
			return 1
		}
	done

	# An index file this cache has not seen (another device, or a
	# backup run with another keystore copy): merged, not rebuilt.
	cp "$cache" older.index
	random_small_files src/c 100 3 || return 1
	expect_exit 0 "$COFFER" backup src || return 1	# snapshot 2
	cp older.index "$cache"
	traced_openat t4 "$COFFER" restore latest --target r2 || return 1
	[ "$(index_opens t4)" -eq 1 ] ||
	    fail "picking up the new file read $(index_opens t4), want 1" ||
	    return 1
	expect_tree src r2/src $(owner_opt) || return 1
	cmp -s older.index "$cache" && fail "cache not updated" && return 1

	# Prune: src/b is only in snapshots 1 and 2; forget them, prune.
	# The cache from before the prune names index files that are gone:
	# put it back and it must not be believed (its src/b blobs were
	# deleted), so backing src/b up again writes its data again.
	cp -r src/b b.orig
	rm -rf src/b
	expect_exit 0 "$COFFER" backup src || return 1	# snapshot 3
	expect_exit 0 "$COFFER" ls latest || return 1
	cp "$cache" prepruned.index
	expect_exit 0 "$COFFER" forget 1 2 || return 1
	expect_exit 0 "$COFFER" prune --json || return 1
	expect_jq '.blobs_removed >= 200' out || return 1
	cp prepruned.index "$cache"
	cp -r b.orig src/b
	nidx=$(ls "$COFFER_REPO/sets/$set/index" | wc -l)
	traced_openat t5 "$COFFER" backup --json src || return 1	# snapshot 4
	[ "$(index_opens t5)" -eq "$nidx" ] ||
	    fail "after prune read $(index_opens t5) index files, want" \
	    "all $nidx (a rebuild)" || return 1
	expect_jq '.added > 200 * 1024' out || return 1
	expect_exit 0 "$COFFER" restore latest --target r3 || return 1
	expect_tree src r3/src $(owner_opt) || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1

	# Damaged, truncated, of another repository: each rebuilt (every
	# index file read again), and a backup after it restores exactly.
	expect_exit 0 "$COFFER" ls latest || return 1
	n=0
	for how in flip truncate foreign; do
		n=$((n + 1))
		case $how in
		flip)
			sz=$(wc -c < "$cache")
			printf '\377' | dd of="$cache" bs=1 seek=$((sz - 100)) \
			    conv=notrunc 2>/dev/null || return 1
			;;
		truncate)
			truncate -s -53 "$cache" || return 1
			;;
		foreign)
			# The cache of a key set of another repository, under
			# this set's name.
			COFFER_REPO=$PWD/other expect_exit 0 "$COFFER" init ||
			    return 1
			random_small_files o 20 4 || return 1
			COFFER_REPO=$PWD/other expect_exit 0 "$COFFER" backup o ||
			    return 1
			COFFER_REPO=$PWD/other expect_exit 0 "$COFFER" ls \
			    latest || return 1
			oset=$(ls "$PWD/other/sets") || return 1
			cp "$COFFER_KEYSTORE/cache/$oset.index" "$cache" ||
			    return 1
			;;
		esac
		printf 'changed %s\n' "$n" > "src/new$n"
		nidx=$(ls "$COFFER_REPO/sets/$set/index" | wc -l)
		traced_openat t6 "$COFFER" backup src || return 1
		[ "$(index_opens t6)" -eq "$nidx" ] ||
		    fail "$how cache: read $(index_opens t6) index files," \
		    "want $nidx (a rebuild)" || return 1
		expect_exit 0 "$COFFER" restore latest --target "r$how" ||
		    return 1
		expect_tree src "r$how/src" $(owner_opt) || return 1
		expect_exit 0 "$COFFER" ls latest || return 1
	done
	expect_exit 0 "$COFFER" check --read-data || return 1

	# A backup large enough to move what it wrote into the cache while
	# it runs (COFFER_ABSORB_MIN shrinks the 131,072 blobs that takes):
	# its interim index files are named by the cache, so the next
	# command reads only the last one; everything restores exactly and
	# the same data backed up again is all found.
	mkdir big || return 1
	_i=0
	while [ "$_i" -lt 1200 ]; do
		head -c 65536 /dev/urandom > "big/g$_i" || return 1
		_i=$((_i + 1))
	done
	before=$(ls "$COFFER_REPO/sets/$set/index" | wc -l)
	COFFER_ABSORB_MIN=100 expect_exit 0 "$COFFER" backup big || return 1
	after=$(ls "$COFFER_REPO/sets/$set/index" | wc -l)
	[ $((after - before)) -ge 3 ] ||
	    fail "the backup wrote $((after - before)) index files, want" \
	    "interim ones too" || return 1
	traced_openat t7 "$COFFER" ls latest || return 1
	[ "$(index_opens t7)" -eq 1 ] ||
	    fail "after moving blobs into the cache: read $(index_opens t7)" \
	    "index files, want 1" || return 1
	expect_exit 0 "$COFFER" restore latest --target rbig || return 1
	expect_tree big rbig/big $(owner_opt) || return 1
	cp -r big big2 || return 1
	COFFER_ABSORB_MIN=100 expect_exit 0 "$COFFER" backup --json big2 ||
	    return 1
	expect_jq '.added < 1048576' out || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1

	# Every index file of the set gone while the cache names some: the
	# cache is dropped (no crash, no sanitizer report: the empty list of
	# index files is searched too), restore finds the blobs by reading
	# the packs' own tables (authenticated), and check says packs are
	# not indexed.
	rm -f "$COFFER_REPO/sets/$set/index/"* || return 1
	expect_exit 0 "$COFFER" restore latest --target rnone || return 1
	expect_tree big2 rnone/big2 $(owner_opt) || return 1
	expect_fail "$COFFER" check || return 1
}
