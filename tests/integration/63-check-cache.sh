# SPDX-License-Identifier: ISC
# tests/integration/63-check-cache.sh
# Goal: check goes through the device's index cache (FORMAT.md §18.8),
# not a copy of the whole index in memory, and still checks the card as
# it is: the cache is rebuilt from every index file of the card (check
# leaves one behind where there was none; an index file damaged after
# the cache was built is reported although the cache is valid), and
# reading the packs batch by batch (COFFER_CHECK_BATCH shrinks the
# ~131,000 entries a batch holds) still finds damage in every pack.
# Lookups that read the cache (COFFER_IDXCACHE_MAP=0) answer as those
# that search its map.
# An index file that fails to load is remembered by the cache: the next
# commands do not read it again (nor rewrite the cache) until it
# changes; then it is read and merged.

scenario() {
	need_cmd strace || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	for d in a b c d; do
		random_small_files "src/$d" 80 "$(printf %d "'$d")" || return 1
		expect_exit 0 "$COFFER" backup src || return 1
	done
	set=$(ls "$COFFER_REPO/sets") || return 1
	cache="$COFFER_KEYSTORE/cache/$set.index"
	packs=$(find "$COFFER_REPO/sets/$set/packs" -type f | sort)
	npacks=$(printf '%s\n' "$packs" | wc -l)
	[ "$npacks" -ge 4 ] || fail "want 4 packs or more, got $npacks" ||
	    return 1

	# No cache on the device: check builds it from the card and reads
	# through it; a clean set checks clean, batch by batch.
	rm -f "$cache"
	COFFER_CHECK_BATCH=50 expect_exit 0 "$COFFER" check --read-data ||
	    return 1
	[ -f "$cache" ] || fail "check left no index cache at $cache" ||
	    return 1
	expect_exit 0 "$COFFER" restore latest --target r1 || return 1
	expect_tree src r1/src $(owner_opt) || return 1
	# The same through lookups that read the cache rather than map it
	# (as for a cache over IC_MAP_MAX).
	COFFER_IDXCACHE_MAP=0 expect_exit 0 "$COFFER" check || return 1
	COFFER_IDXCACHE_MAP=0 expect_exit 0 "$COFFER" restore latest \
	    --target r0 || return 1
	expect_tree src r0/src $(owner_opt) || return 1

	# An index file of the card damaged after the cache was built: the
	# valid cache still names it, check reads the card and says so.
	idx=$(ls "$COFFER_REPO/sets/$set/index" | head -n 1)
	cp "$COFFER_REPO/sets/$set/index/$idx" idx.orig || return 1
	expect_exit 0 "$COFFER" ls latest || return 1
	flip_byte "$COFFER_REPO/sets/$set/index/$idx" || return 1
	expect_fail "$COFFER" check || return 1
	expect_grep "$idx" err || return 1
	COFFER_IDXCACHE_MAP=0 expect_fail "$COFFER" check || return 1
	expect_grep "$idx" err || return 1

	# The damaged file is remembered: later commands neither read it
	# nor rewrite the cache, and restore still finds every blob (the
	# packs' own tables).
	traced_openat t1 "$COFFER" ls latest || return 1
	cp "$cache" cache.before || return 1
	traced_openat t2 "$COFFER" ls latest || return 1
	[ "$(index_opens t2)" -eq 0 ] ||
	    fail "a failed index file read again: $(index_opens t2) opens" ||
	    return 1
	cmp -s cache.before "$cache" ||
	    fail "the cache was rewritten with nothing new" || return 1
	expect_exit 0 "$COFFER" restore latest --target r2 || return 1
	expect_tree src r2/src $(owner_opt) || return 1

	# Put right (so changed): read and merged once, then not again.
	cp idx.orig "$COFFER_REPO/sets/$set/index/$idx" || return 1
	traced_openat t3 "$COFFER" ls latest || return 1
	[ "$(index_opens t3)" -eq 1 ] ||
	    fail "the mended index file: $(index_opens t3) opens, want 1" ||
	    return 1
	traced_openat t4 "$COFFER" ls latest || return 1
	[ "$(index_opens t4)" -eq 0 ] ||
	    fail "after merging: $(index_opens t4) opens, want 0" || return 1
	expect_exit 0 "$COFFER" check || return 1

	# A byte flipped inside the first and the last pack: each is
	# reported, whichever batch holds it.
	first=$(printf '%s\n' "$packs" | head -n 1)
	last=$(printf '%s\n' "$packs" | tail -n 1)
	flip_byte "$first" $(($(file_size "$first") / 3)) || return 1
	flip_byte "$last" $(($(file_size "$last") / 3)) || return 1
	COFFER_CHECK_BATCH=50 expect_fail "$COFFER" check --read-data ||
	    return 1
	expect_grep "$(basename "$first")" err || return 1
	expect_grep "$(basename "$last")" err || return 1
	# Without --read-data the packs are long enough: no pack reported.
	expect_exit 0 "$COFFER" check || return 1
}
