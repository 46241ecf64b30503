# SPDX-License-Identifier: ISC
# tests/integration/14-names.sh
# Goal: snapshots are named by UTC time by default and 1, 2, 3... with
# "init --name-by count"; a snapshot can be picked by name, by a unique
# prefix of its id, or as "latest"; an unknown name fails and is named.
scenario() {
	mkdir src && echo one >src/a || return 1

	# Time names.
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots | length == 1' out || return 1
	expect_jq '.snapshots[0].name |
	    test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")' \
	    out || return 1
	name=$(jq -r '.snapshots[0].name' out)
	# The name is the time of the backup: within a minute of now.
	now=$(date -u +%s)
	then=$(date -u -d "$(printf '%s' "$name" | tr T ' ' | tr -d Z)" +%s) ||
	    fail "cannot parse '$name' as a time" || return 1
	[ $((now - then)) -ge 0 ] && [ $((now - then)) -lt 60 ] ||
	    fail "snapshot named $name at $(date -u +%FT%TZ)" || return 1
	# Plain "snapshots" shows the name too.
	expect_exit 0 "$COFFER" snapshots || return 1
	expect_grep "$name" out || return 1

	# Count names, in a second repository.
	COFFER_REPO=$PWD/repo2
	export COFFER_REPO
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	echo two >src/two || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	echo three >src/three || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	cp out snapshots.json
	expect_jq '[.snapshots[].name] == ["1", "2", "3"]' snapshots.json ||
	    return 1

	# By name.
	expect_exit 0 "$COFFER" restore 2 --target by-name || return 1
	[ -f by-name/src/two ] && [ ! -e by-name/src/three ] ||
	    fail "restore 2 did not restore snapshot 2" || return 1

	# By a unique prefix of its id.
	id1=$(jq -r '.snapshots[0].id' snapshots.json)
	prefix=$(printf '%s' "$id1" | cut -c1-8)
	[ ${#id1} -gt 8 ] || fail "snapshot id '$id1' is too short" || return 1
	expect_exit 0 "$COFFER" restore "$prefix" --target by-id || return 1
	[ -f by-id/src/a ] && [ ! -e by-id/src/two ] ||
	    fail "restore $prefix did not restore snapshot 1" || return 1
	expect_exit 0 "$COFFER" ls "$id1" || return 1

	# latest.
	expect_exit 0 "$COFFER" restore latest --target by-latest || return 1
	[ -f by-latest/src/three ] ||
	    fail "restore latest did not restore snapshot 3" || return 1

	# Unknown names.
	expect_exit 1 "$COFFER" restore no-such-snapshot --target x || return 1
	expect_grep 'no-such-snapshot' err || return 1
	[ ! -e x ] || fail "a failed restore created its target" || return 1
	expect_exit 1 "$COFFER" ls 4000000000000 || return 1
	expect_grep "4000000000000" err || return 1
	expect_exit 1 "$COFFER" ls snapshot-zz || return 1
	expect_grep "snapshot-zz" err || return 1
}
