# SPDX-License-Identifier: ISC
# tests/integration/17-forget-prune.sh
# Goal: forget removes exactly the snapshots the policy (or the names)
# say, per group of host and paths; prune really frees the card (deleted
# and rewritten packs), every kept snapshot still restores bit for bit,
# check --read-data passes, and a prune killed at random instants never
# costs a kept snapshot.
scenario() {
	expect_exit 0 "$COFFER" init --name-by count || return 1
	mkdir a b
	# Five snapshots of a/, each holding only its own 3 MB of fresh
	# data (and a file shared by all); two of b/.
	printf 'shared\n' > a/shared
	for i in 1 2 3 4 5; do
		rm -f a/f*
		head -c 3000000 /dev/urandom > "a/f$i" || return 1
		cp "a/f$i" "f$i.orig"
		expect_exit 0 "$COFFER" backup a || return 1
	done
	printf 'bee\n' > b/x
	expect_exit 0 "$COFFER" backup b || return 1
	expect_exit 0 "$COFFER" backup b || return 1

	# Dry run changes nothing.
	before=$(card_checksum)
	expect_exit 0 "$COFFER" forget --keep-last 2 --dry-run --json ||
	    return 1
	expect_jq '.forgotten == 3 and .dry_run == true' out || return 1
	[ "$before" = "$(card_checksum)" ] || fail "dry run changed the card" ||
	    return 1

	# keep-last 2 per group: a keeps 4 and 5, b keeps both (6, 7).
	expect_exit 0 "$COFFER" forget --keep-last 2 --json || return 1
	expect_jq '.forgotten == 3' out || return 1
	expect_jq '[.snapshots[] | select(.keep) | .name] | sort ==
	    ["4", "5", "6", "7"]' out || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[].name] == ["4", "5", "6", "7"]' out || return 1

	# Forget by name.
	expect_exit 0 "$COFFER" forget 6 || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[].name] == ["4", "5", "7"]' out || return 1
	expect_exit 2 "$COFFER" forget || return 1
	expect_exit 1 "$COFFER" forget no-such-snapshot || return 1

	# Prune frees the space of f1..f3 (9 MB of random data).
	size0=$(dir_size "$COFFER_REPO")
	expect_exit 0 "$COFFER" prune --dry-run --json || return 1
	expect_jq '.blobs_removed >= 3' out || return 1
	[ "$size0" = "$(dir_size "$COFFER_REPO")" ] ||
	    fail "prune --dry-run changed the card" || return 1
	expect_exit 0 "$COFFER" prune --json || return 1
	size1=$(dir_size "$COFFER_REPO")
	[ $((size0 - size1)) -gt 8000000 ] ||
	    fail "prune freed only $((size0 - size1)) bytes" || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 0 "$COFFER" restore 5 --target r5 || return 1
	expect_tree a r5/a $(owner_opt) || return 1
	expect_exit 0 "$COFFER" restore 4 --target r4 || return 1
	expect_same f4.orig r4/a/f4 || return 1
	expect_same a/shared r4/a/shared || return 1
	# A second prune has nothing to do.
	expect_exit 0 "$COFFER" prune --json || return 1
	expect_jq '.blobs_removed == 0 and .packs_deleted == 0' out || return 1

	# Kill prunes at random instants: kept snapshots always restore.
	k=0
	while [ $k -lt 6 ]; do
		rm -f a/f* a/g*
		head -c 2000000 /dev/urandom > "a/g$k"
		expect_exit 0 "$COFFER" backup a || return 1
		expect_exit 0 "$COFFER" forget --keep-last 1 || return 1
		"$COFFER" prune >/dev/null 2>&1 &
		pid=$!
		sleep "0.0$((k * 15 % 9))"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rm -f "$COFFER_REPO"/locks/*.lock
		expect_exit 0 "$COFFER" check --read-data ||
		    fail "check failed after prune kill $k" || return 1
		rm -rf rl
		expect_exit 0 "$COFFER" restore latest --target rl || return 1
		expect_tree a rl/a $(owner_opt) || return 1
		k=$((k + 1))
	done
	expect_exit 0 "$COFFER" prune || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
}

# card_checksum: one hash over every file's name and content on the card.
card_checksum()
{
	(cd "$COFFER_REPO" && find . -type f -print0 | sort -z |
	    xargs -0 sha256sum) | sha256sum
}
