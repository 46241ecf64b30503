# SPDX-License-Identifier: ISC
# tests/integration/19-config.sh
# Goal: the config file sets defaults; the environment wins over it and
# flags win over both; a bad line is an error naming the file and line.
scenario() {
	mkdir -p cfg/coffer src && printf 'a\n' > src/a && printf 'o\n' > src/x.o
	export XDG_CONFIG_HOME="$PWD/cfg"
	repo_env=$COFFER_REPO
	unset COFFER_REPO
	cat > cfg/coffer/config <<CFG
# coffer defaults
repo = $PWD/from-config
scope = backup     # a comment after a value
exclude = *.o
CFG
	expect_exit 0 "$COFFER" init || return 1
	[ -f from-config/config ] || fail "config's repo not used" || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup --json src || return 1
	expect_jq '.files == 1 and .excluded == 1 and .new == 1 and
	    (.seconds | type) == "number"' out || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	# scope = backup: two backups, two key sets.
	expect_jq '[.snapshots[].key_id] | unique | length == 2' out || return 1
	expect_exit 0 "$COFFER" ls --json latest || return 1
	expect_jq '[.entries[].path] == ["src", "src/a"]' out || return 1

	# The environment wins over the file ...
	COFFER_REPO=$repo_env expect_exit 0 "$COFFER" init || return 1
	[ -f "$repo_env/config" ] || fail "COFFER_REPO not used" || return 1
	COFFER_SCOPE=device COFFER_REPO=$repo_env \
	    expect_exit 0 "$COFFER" backup src || return 1
	COFFER_SCOPE=device COFFER_REPO=$repo_env \
	    expect_exit 0 "$COFFER" backup src || return 1
	COFFER_REPO=$repo_env expect_exit 0 "$COFFER" snapshots --json ||
	    return 1
	expect_jq '[.snapshots[].key_id] | unique | length == 1' out || return 1
	# ... and flags over the environment.
	COFFER_REPO=/nonexistent expect_exit 0 "$COFFER" --repo "$repo_env" \
	    snapshots || return 1

	# A bad line: exit 2, file and line named.
	printf 'repo = x\nthis is not a setting\n' > cfg/coffer/config
	expect_exit 2 "$COFFER" snapshots || return 1
	expect_grep 'config:2' err || return 1
	printf 'scope = sometimes\n' > cfg/coffer/config
	expect_exit 2 "$COFFER" snapshots || return 1
	expect_grep "bad value 'sometimes'" err || return 1
}
