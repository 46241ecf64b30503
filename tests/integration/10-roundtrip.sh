# SPDX-License-Identifier: ISC
# tests/integration/10-roundtrip.sh
# Goal: a tree with every kind of entry comes back identical (as root, with
# owners and devices); backing up unchanged data again costs almost nothing;
# "snapshots --json" and "ls --json" carry the documented fields.
scenario() {
	"$HELPERS/gentree" src --big || return 1
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1

	expect_exit 0 "$COFFER" restore latest --target rst || return 1
	[ -d rst/src ] || fail "restore did not create rst/src" || return 1
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree src rst/src $(owner_opt) || return 1

	# The same data again: only a new snapshot record may be written.
	before=$(dir_size "$COFFER_REPO")
	sleep 1		# time-named snapshots: a new second, a new name
	expect_exit 0 "$COFFER" backup src || return 1
	after=$(dir_size "$COFFER_REPO")
	limit=$((before / 100 + 65536))
	note "repository $before -> $after bytes (limit +$limit)"
	[ $((after - before)) -lt "$limit" ] ||
	    fail "unchanged backup grew the repository by" \
	    "$((after - before)) bytes (limit $limit)" || return 1

	expect_exit 0 "$COFFER" snapshots --json || return 1
	cp out snapshots.json
	expect_jq '.snapshots | length == 2' snapshots.json || return 1
	expect_jq '.snapshots | all(has("name") and has("id") and has("time")
	    and has("hostname") and has("paths") and has("size")
	    and has("key_id"))' snapshots.json || return 1
	expect_jq '.snapshots | all(.paths == ["src"])' snapshots.json ||
	    return 1
	HOST=$(uname -n) && export HOST || return 1
	expect_jq '.snapshots | all(.hostname == env.HOST)' snapshots.json ||
	    return 1
	expect_jq '.snapshots | all((.size | type) == "number" and .size > 0)' \
	    snapshots.json || return 1
	expect_jq '.snapshots[0].id != .snapshots[1].id' snapshots.json ||
	    return 1
	expect_jq '.snapshots[0].name != .snapshots[1].name' snapshots.json ||
	    return 1
	# One device, one key set: both snapshots share the key id.
	expect_jq '.snapshots[0].key_id == .snapshots[1].key_id' \
	    snapshots.json || return 1

	expect_exit 0 "$COFFER" ls latest --json || return 1
	cp out ls.json
	expect_jq '.entries | length > 0' ls.json || return 1
	expect_jq '.entries | all(has("path") and has("type") and has("size")
	    and has("mode") and has("mtime"))' ls.json || return 1
	expect_jq '[.entries[].path] | any(. == "src" or startswith("src/"))' \
	    ls.json || return 1
	expect_exit 0 "$COFFER" ls latest src/f4k --json || return 1
	expect_jq '.entries | any(.path == "src/f4k" and .size == 4096)' out ||
	    return 1

	# The older snapshot, by name, restores the same tree.
	first=$(jq -r '.snapshots[0].name' snapshots.json)
	expect_exit 0 "$COFFER" restore "$first" --target rst2 || return 1
	# shellcheck disable=SC2046
	expect_tree src rst2/src $(owner_opt) || return 1

	expect_exit 0 "$COFFER" check --read-data || return 1
}
