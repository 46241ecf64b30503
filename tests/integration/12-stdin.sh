# SPDX-License-Identifier: ISC
# tests/integration/12-stdin.sh
# Goal: "backup --stdin --stdin-name NAME" stores exactly the bytes of its
# standard input (NUL bytes, no trailing newline, several MiB) under NAME,
# which ls shows and restore recreates.
scenario() {
	"$HELPERS/gentree" t || return 1
	{
		printf 'CREATE TABLE t (x);\n\000\001\377 binary\n'
		cat t/f5m t/f300k
		printf 'no newline at the end'
	} >db.sql || return 1

	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup --stdin --stdin-name db.sql <db.sql ||
	    return 1
	# Through a pipe, too: no seeking, no size known in advance.
	sleep 1
	# shellcheck disable=SC2002 # the pipe is the point
	cat db.sql |
	    expect_exit 0 "$COFFER" backup --stdin --stdin-name piped.sql ||
	    return 1

	expect_exit 0 "$COFFER" ls latest || return 1
	expect_grep 'piped\.sql' out || return 1
	expect_exit 0 "$COFFER" ls latest --json || return 1
	expect_jq '.entries | any(.path == "piped.sql")' out || return 1

	expect_exit 0 "$COFFER" snapshots --json || return 1
	cp out snapshots.json
	expect_jq '.snapshots | length == 2' snapshots.json || return 1
	first=$(jq -r '.snapshots[0].name' snapshots.json)

	expect_exit 0 "$COFFER" ls "$first" || return 1
	expect_grep 'db\.sql' out || return 1
	expect_exit 0 "$COFFER" ls "$first" --json || return 1
	expect_jq '.entries | any(.path == "db.sql" and
	    .size == '"$(file_size db.sql)"')' out || return 1

	expect_exit 0 "$COFFER" restore "$first" --target rst1 || return 1
	expect_same db.sql rst1/db.sql || return 1
	expect_exit 0 "$COFFER" restore latest --target rst2 || return 1
	expect_same db.sql rst2/piped.sql || return 1

	# Empty input is a valid, empty file.
	sleep 1
	: | expect_exit 0 "$COFFER" backup --stdin --stdin-name empty ||
	    return 1
	expect_exit 0 "$COFFER" restore latest --target rst3 || return 1
	[ -f rst3/empty ] && [ ! -s rst3/empty ] ||
	    fail "empty stdin did not restore as an empty file" || return 1
}
