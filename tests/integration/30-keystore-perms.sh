# SPDX-License-Identifier: ISC
# tests/integration/30-keystore-perms.sh
# Goal: the keystore is created private (directory 0700, files 0600, owned
# by the user), by default under $XDG_DATA_HOME/coffer; a keystore that
# others can read is refused with a message that says to chmod it, and
# with status 1.
scenario() {
	mkdir src && echo data >src/file || return 1
	# Count names: several backups run within one second.
	expect_exit 0 "$COFFER" init --name-by count || return 1
	[ -d "$COFFER_KEYSTORE" ] || fail "init made no keystore" || return 1
	private_tree "$COFFER_KEYSTORE" || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	private_tree "$COFFER_KEYSTORE" || return 1

	# A readable keystore directory is refused.
	chmod 755 "$COFFER_KEYSTORE" || return 1
	expect_exit 1 "$COFFER" backup src || return 1
	expect_grep 'chmod' err || return 1
	expect_exit 1 "$COFFER" restore latest --target rst || return 1
	expect_grep 'chmod' err || return 1
	[ ! -e rst/src/file ] || fail "restored with an open keystore" ||
	    return 1
	chmod 700 "$COFFER_KEYSTORE" || return 1
	expect_exit 0 "$COFFER" backup src || return 1

	# So is a readable key file.
	key=$(find "$COFFER_KEYSTORE" -type f -name '*.key' | head -n 1)
	[ -n "$key" ] || fail "no file in the keystore" || return 1
	chmod 644 "$key" || return 1
	expect_exit 1 "$COFFER" backup src || return 1
	expect_grep 'chmod' err || return 1
	chmod 600 "$key" || return 1
	expect_exit 0 "$COFFER" restore latest --target rst || return 1
	expect_same src/file rst/src/file || return 1

	# A symlinked key file is not followed.
	mv "$key" key.real && ln -s "$PWD/key.real" "$key" || return 1
	expect_fail "$COFFER" backup src || return 1
	rm "$key" && mv key.real "$key" || return 1

	# Without COFFER_KEYSTORE the keystore is $XDG_DATA_HOME/coffer,
	# made with its missing parents, private from the start.
	unset COFFER_KEYSTORE
	COFFER_REPO=$PWD/repo2
	export COFFER_REPO
	expect_exit 0 "$COFFER" init --name-by count || return 1
	[ -d "$XDG_DATA_HOME/coffer" ] ||
	    fail "no keystore at \$XDG_DATA_HOME/coffer" || return 1
	private_tree "$XDG_DATA_HOME/coffer" || return 1
	expect_exit 0 "$COFFER" backup src || return 1
}

# private_tree DIR: DIR and its subdirectories are 0700, its files 0600, all
# owned by us, and nothing else lives there.
private_tree()
{
	_me=$(id -u)
	_bad=$(find "$1" \( -type d ! -perm 0700 \) -o \
	    \( -type f ! -perm 0600 \) -o \( ! -type d ! -type f \) -o \
	    ! -user "$_me")
	# shellcheck disable=SC2086 # keystore paths hold no spaces
	[ -z "$_bad" ] || fail "not private in the keystore:" \
	    "$(ls -ld $_bad)"
}
