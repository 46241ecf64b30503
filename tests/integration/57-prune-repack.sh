# SPDX-License-Identifier: ISC
# tests/integration/57-prune-repack.sh
# Goal: prune frees what was deleted even when it sat in bundles beside
# files still in use (FORMAT.md §7.1): after deleting every other small
# file, and then half of the folders, forget + prune leave the packs at
# most 1.10 × (plus 64 KiB) those of a fresh backup of what is left;
# every remaining snapshot restores bit for bit and check --read-data is
# clean; prune --dry-run changes no byte of the card and predicts the
# bytes the real prune frees (within 5% and 16 KiB); --max-unused
# unlimited (through forget --prune) frees no partly used pack, and the
# next prune still sees the unused share of the bundles it left; a prune killed at each rename,
# unlink and fsync of a repack costs no snapshot; a damaged bundle is
# never copied: prune says so, exits 1 and keeps that pack as it is.
# Every prune here walks the index cache in batches of about 700 entries
# (COFFER_PRUNE_BATCH; a batch holds one pack at least, so here each
# backup's pack is a batch of its own), the path of large sets, and
# reads the cache instead of mapping it (COFFER_IDXCACHE_MAP=0, as past
# 32 MiB): marks then come through the lookups' memo.

# card_checksum: one hash of every file of the card, names and bytes.
card_checksum()
{
	(cd "$COFFER_REPO" && find . -type f -print0 | sort -z |
	    xargs -0 sha256sum) | sha256sum
}

# pack_bytes [REPO]: bytes of every pack file.
pack_bytes()
{
	find "${1:-$COFFER_REPO}"/sets/*/packs -type f -printf '%s\n' |
	    awk '{ s += $1 } END { print s + 0 }'
}

# small_tree DIR NDIRS FILES: NDIRS folders of FILES random files each,
# 1–4 KiB (one size per folder).
small_tree()
{
	_i=0
	while [ "$_i" -lt "$2" ]; do
		_d=$(printf '%s/d%02d' "$1" "$_i")
		_sz=$((1024 + (_i * 797) % 3072))
		mkdir -p "$_d" || return 1
		head -c $((_sz * $3)) /dev/urandom |
		    split -b "$_sz" -d -a 3 - "$_d/f" || return 1
		_i=$((_i + 1))
	done
}

# fresh_bytes: pack bytes of a new repository holding only data/.
fresh_bytes()
{
	rm -rf fresh
	COFFER_REPO=$PWD/fresh "$COFFER" init >/dev/null 2>&1 &&
	    COFFER_REPO=$PWD/fresh "$COFFER" backup data >/dev/null 2>&1 ||
	    fail "fresh backup failed" || return 1
	pack_bytes "$PWD/fresh"
}

# prune_checked: dry run (card unchanged), prune, compare the prediction
# with what was freed, then the size against a fresh backup.
prune_checked()
{
	sum0=$(card_checksum)
	p0=$(pack_bytes)
	expect_exit 0 "$COFFER" prune --dry-run --json || return 1
	expect_jq '.dry_run and .packs_repacked > 0 and .bundles_cut == 0' \
	    out || return 1
	predicted=$(jq .bytes_freed out)
	[ "$sum0" = "$(card_checksum)" ] ||
	    fail "prune --dry-run changed the card" || return 1
	expect_exit 0 "$COFFER" prune --json || return 1
	expect_jq '.bundles_cut > 0 and .damaged == 0' out || return 1
	p1=$(pack_bytes)
	freed=$((p0 - p1))
	diff=$((predicted - freed))
	[ "${diff#-}" -le $((freed / 20 + 16384)) ] ||
	    fail "dry run predicted $predicted bytes freed, prune freed" \
	    "$freed" || return 1
	fresh=$(fresh_bytes) || return 1
	[ "$p1" -le $((fresh * 11 / 10 + 65536)) ] ||
	    fail "packs $p0 -> $p1 bytes after prune; a fresh backup of" \
	    "what is left takes $fresh" || return 1
	note "packs $p0 -> $p1 bytes (fresh backup: $fresh; dry run" \
	    "predicted $predicted freed, $freed freed)"
	expect_exit 0 "$COFFER" check --read-data || return 1
}

# crash_loop: see its caller.
crash_loop()
{
	COFFER_REPO=$PWD/crash
	export COFFER_REPO
	small_tree cdata 8 100 || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup cdata || return 1
	rm -f cdata/d*/f*[02468] || return 1
	expect_exit 0 "$COFFER" backup cdata || return 1
	expect_exit 0 "$COFFER" forget 1 || return 1
	cp -a crash crash.0 || return 1
	kills=0
	for sc in renameat unlinkat fsync; do
		n=1
		while [ "$n" -le 20 ]; do
			rm -rf crash && cp -a crash.0 crash || return 1
			rc=0
			# (LeakSanitizer cannot run under ptrace.)
			ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
			    strace -f -o /dev/null -e trace="$sc" \
			    -e inject="$sc":signal=KILL:when="$n" \
			    "$COFFER" prune --max-unused 0 >prune.out 2>&1 ||
			    rc=$?
			# Done before the n-th call: every step was hit.
			[ "$rc" -eq 0 ] && break
			[ "$rc" -eq 137 ] || { cat prune.out >&2
			    fail "prune under strace: exit $rc"; return 1; }
			kills=$((kills + 1))
			rm -f crash/locks/* || return 1
			expect_exit 0 "$COFFER" check --read-data ||
			    fail "check after a kill at $sc #$n" || return 1
			rm -rf rc
			expect_exit 0 "$COFFER" restore 2 --target rc ||
			    return 1
			expect_tree cdata rc/cdata ||
			    fail "restore after a kill at $sc #$n" || return 1
			n=$((n + 1))
		done
		[ "$n" -gt 2 ] && [ "$n" -le 20 ] ||
		    fail "prune under strace: $sc #$n (exit $rc)" || return 1
	done
	note "$kills kills of prune"
	p0=$(pack_bytes)
	expect_exit 0 "$COFFER" prune --max-unused 0 --json || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	[ "$(pack_bytes)" -le $(( $(pack_bytes "$PWD/crash.0") * 6 / 10 )) ] ||
	    fail "after the kills, prune left $(pack_bytes) of" \
	    "$(pack_bytes "$PWD/crash.0") bytes" || return 1
	expect_exit 0 "$COFFER" restore 2 --target rc2 || return 1
	expect_tree cdata rc2/cdata || return 1
}

scenario() {
	need_cmd jq split strace || return 1
	export COFFER_PRUNE_BATCH=700 COFFER_IDXCACHE_MAP=0
	small_tree data 40 100 || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup data || return 1

	# Every other file.
	rm -f data/d*/f*[02468] || return 1
	cp -a data left1 || return 1
	expect_exit 0 "$COFFER" backup data || return 1
	expect_exit 0 "$COFFER" forget 1 || return 1
	prune_checked || return 1
	expect_exit 0 "$COFFER" restore 2 --target r2 || return 1
	expect_tree left1 r2/data || return 1

	# Half of the folders; snapshot 2 stays, then goes.
	rm -rf data/d0* data/d1* || return 1
	cp -a data left2 || return 1
	expect_exit 0 "$COFFER" backup data || return 1
	expect_exit 0 "$COFFER" forget 2 || return 1
	prune_checked || return 1
	expect_exit 0 "$COFFER" restore 3 --target r3 || return 1
	expect_tree left2 r3/data || return 1

	# --max-unused unlimited deletes only what is wholly unused (here
	# through forget --prune): a dry run then still finds work.
	rm -f data/d2*/f*[13579] || return 1
	expect_exit 0 "$COFFER" backup data || return 1
	expect_exit 2 "$COFFER" forget 3 --max-unused 5 || return 1
	sum0=$(card_checksum)
	expect_exit 0 "$COFFER" forget 3 --prune --max-unused unlimited ||
	    return 1
	[ "$sum0" != "$(card_checksum)" ] || fail "forget changed nothing" ||
	    return 1
	expect_exit 0 "$COFFER" prune --dry-run --json || return 1
	expect_jq '.packs_repacked > 0 and .bytes_freed > 100000' out ||
	    return 1
	expect_exit 0 "$COFFER" prune --max-unused unlimited --json || return 1
	expect_jq '.packs_repacked == 0 and .bundles_cut == 0' out || return 1
	expect_exit 0 "$COFFER" prune --max-unused 0% --json || return 1
	expect_jq '.packs_repacked > 0 and .bundles_cut > 0' out || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 2 "$COFFER" prune --max-unused 100 || return 1
	expect_exit 2 "$COFFER" prune --max-unused x5 || return 1

	# Killed mid-repack: SIGKILL at the n-th rename, unlink and fsync
	# of a prune that cuts every bundle (strace injects it, so each step
	# of the order is hit: new packs, their index, the complete index,
	# the deletions).  After each kill the snapshot restores and check
	# --read-data is clean; a last prune frees the space.
	crash_loop || return 1

	# A damaged bundle, in a repository of its own: the pack of its
	# first backup starts with a bundle (a backup writes its data before
	# its folders); one byte flipped inside it.  Prune copies nothing
	# from it, exits 1 naming the damage, keeps the pack as it is, still
	# cuts the bundles of the other pack, and check still sees the
	# damage.
	COFFER_REPO=$PWD/dmg
	export COFFER_REPO
	small_tree dmgdata 4 100 || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup dmgdata || return 1
	find "$COFFER_REPO" -path '*packs*' -type f >packs.txt
	[ "$(wc -l <packs.txt)" -eq 1 ] ||
	    fail "want one pack: $(cat packs.txt)" || return 1
	pack=$(cat packs.txt)
	# A second pack of bundles, undamaged: prune goes on with it.
	small_tree dmg2 4 100 || return 1
	expect_exit 0 "$COFFER" backup dmg2 || return 1
	rm -f dmgdata/d*/f*[02468] dmg2/d*/f*[02468] || return 1
	expect_exit 0 "$COFFER" backup dmgdata dmg2 || return 1
	expect_exit 0 "$COFFER" forget 1 2 || return 1
	flip_byte "$pack" 300 || return 1
	sum=$(sha256sum <"$pack")
	expect_exit 1 "$COFFER" prune --max-unused 0 --json || return 1
	expect_jq '.damaged == 1 and .bundles_cut > 0 and .packs_written > 0' \
	    out || return 1
	expect_grep "bundle at offset 8 of .*failed authentication" err ||
	    return 1
	expect_grep "kept 1 damaged object" err || return 1
	[ -f "$pack" ] && [ "$sum" = "$(sha256sum <"$pack")" ] ||
	    fail "prune changed or removed the damaged pack" || return 1
	expect_fail "$COFFER" check --read-data || return 1
	expect_grep "${pack##*/}" err || return 1
}
