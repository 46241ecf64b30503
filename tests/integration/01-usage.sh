# SPDX-License-Identifier: ISC
# tests/integration/01-usage.sh
# Goal: help goes to stdout with status 0; misuse goes to stderr with 2; an
# operation on a repository that does not exist fails with 1 (or 2) and says
# which repository.
scenario() {
	expect_exit 0 "$COFFER" --help || return 1
	expect_grep '^usage: coffer' out || return 1
	expect_empty err || return 1

	# No command at all is misuse: usage on stderr.
	expect_exit 2 "$COFFER" || return 1
	expect_grep -i 'usage' err || return 1

	expect_exit 2 "$COFFER" no-such-command || return 1
	expect_grep "unknown command" err || return 1
	expect_grep "no-such-command" err || return 1
	expect_empty out || return 1

	# Every command has its own --help on stdout.
	for cmd in init backup snapshots ls restore check; do
		expect_exit 0 "$COFFER" "$cmd" --help || return 1
		expect_grep -i "usage" out || return 1
		expect_grep "$cmd" out || return 1
	done

	# Unknown options and missing operands are misuse.
	expect_exit 2 "$COFFER" snapshots --no-such-option || return 1
	expect_nonempty err || return 1
	expect_exit 2 "$COFFER" init --name-by fortnight || return 1
	expect_exit 2 "$COFFER" backup || return 1
	expect_exit 2 "$COFFER" restore latest || return 1
	expect_exit 2 "$COFFER" ls || return 1

	# A repository that does not exist: an error naming it, not a crash.
	mkdir src && echo data >src/file || return 1
	COFFER_REPO=$PWD/no-such-repo
	export COFFER_REPO
	for args in "snapshots" "backup src" "check" "ls latest"; do
		# shellcheck disable=SC2086 # $args is split on purpose
		expect_fail "$COFFER" $args || return 1
		[ "$last_status" -le 2 ] ||
		    fail "status $last_status for '$args', want 1 or 2" ||
		    return 1
		expect_grep "no-such-repo" err || return 1
	done
	[ ! -e no-such-repo ] ||
	    fail "a failed command created the repository" || return 1

	# Neither --repo nor COFFER_REPO: a message that says what is missing.
	unset COFFER_REPO
	expect_fail "$COFFER" snapshots || return 1
	[ "$last_status" -le 2 ] ||
	    fail "status $last_status without a repository" || return 1
	expect_grep -i 'repo' err || return 1

	# Global options work before and after the command.
	expect_exit 0 "$COFFER" --repo "$PWD/r1" init || return 1
	expect_exit 0 "$COFFER" --repo "$PWD/r1" snapshots || return 1
	expect_exit 0 "$COFFER" snapshots --repo "$PWD/r1" || return 1
	expect_exit 0 "$COFFER" snapshots --repo "$PWD/r1" \
	    --keystore "$COFFER_KEYSTORE" || return 1
	# Initialising twice must not clobber the repository.
	expect_fail "$COFFER" --repo "$PWD/r1" init || return 1
	expect_grep 'r1' err || return 1
}
