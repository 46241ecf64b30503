# SPDX-License-Identifier: ISC
# tests/integration/37-weak-password.sh
# Goal: a password that is easy to guess is refused wherever one is set
# (keystore passwd, key add-passphrase, escrow register): status 1, a
# message that says why ("too easy to guess: a common word followed by
# digits, found in about N guesses") and what would do ("Use 4 or more
# random words ..."), and nothing changed: keystore, card, server (the
# escrow check runs before any request, so an unreachable server shows
# it).  A strong one is taken; a weak one still unlocks what it already
# protects (only setting is checked).  SECURITY.md, "Password strength".

scenario() {
	"$HELPERS/gentree" src || return 1
	printf 'plinth orchard gravel lantern\n' >strong
	expect_exit 0 no_tty "$COFFER" init --no-password || return 1
	[ ! -s err ] || fail "init --no-password said: $(cat err)" || return 1
	expect_exit 0 no_tty "$COFFER" backup src || return 1
	ks0=$(tree_sum "$COFFER_KEYSTORE")
	card0=$(tree_sum "$COFFER_REPO")

	# ---- the keystore password ----
	for pw in a password1 'sunshine2024' 'qwertyuiop' 'aaaaaaaaaaaaaaaa' \
	    'abcdefghijklmnop' 'coffer coffer 2026' '1990-04-12' 'x7#Qp'; do
		printf '%s\n' "$pw" >weak
		expect_exit 1 no_tty env COFFER_NEW_PASSWORD_FILE=weak \
		    "$COFFER" keystore passwd || return 1
		expect_grep 'this keystore password is too easy to guess: ' \
		    err || return 1
		expect_grep 'found in about [0-9^]* guesses \([0-9]* bits; 45' \
		    err || return 1
		expect_grep 'Use 4 or more random words separated by spaces, or' \
		    err || return 1
		[ "$(tree_sum "$COFFER_KEYSTORE")" = "$ks0" ] ||
		    fail "a weak password '$pw' changed the keystore" ||
		    return 1
	done
	[ ! -e "$COFFER_KEYSTORE/passwd" ] ||
	    fail "a weak password was set" || return 1
	# The reason names what the password is made of.
	printf 'sunshine2024\n' >weak
	expect_exit 1 no_tty env COFFER_NEW_PASSWORD_FILE=weak "$COFFER" \
	    keystore passwd || return 1
	expect_grep 'guess: a common word followed by a date, found' err ||
	    return 1
	printf 'x7#Qp\n' >weak
	expect_exit 1 no_tty env COFFER_NEW_PASSWORD_FILE=weak "$COFFER" \
	    keystore passwd || return 1
	expect_grep 'guess: only 5 characters, found' err || return 1
	# The user's own name and the host name count as known words.
	printf '%s %s %s\n' "$(id -un)" "$(hostname)" "$(id -un)" >weak
	expect_exit 1 no_tty env COFFER_NEW_PASSWORD_FILE=weak "$COFFER" \
	    keystore passwd || return 1
	expect_grep 'guess: .*a name tied to you, this host or coffer' err ||
	    return 1

	# ---- a recovery passphrase: the card is not touched ----
	printf 'correct horse\n' >weak
	expect_exit 1 no_tty "$COFFER" key add-passphrase \
	    --passphrase-file weak || return 1
	expect_grep 'this recovery passphrase is too easy to guess: 2 common' \
	    err || return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "a weak passphrase changed the card" || return 1
	[ -z "$(find "$COFFER_REPO/locks" -name '*.lock')" ] ||
	    fail "a lock was left behind" || return 1

	# ---- an escrow account: refused before anything is sent ----
	expect_exit 1 no_tty env COFFER_ESCROW_PASSWORD_FILE=weak "$COFFER" \
	    escrow register --server http://127.0.0.1:9 --account dora ||
	    return 1
	expect_grep 'this account password is too easy to guess' err ||
	    return 1
	printf 'dora1985dora\n' >weak
	expect_exit 1 no_tty env COFFER_ESCROW_PASSWORD_FILE=weak "$COFFER" \
	    escrow register --server http://127.0.0.1:9 --account dora ||
	    return 1
	expect_grep 'guess: a name tied to you' err || return 1
	# A strong one gets as far as the (absent) server.
	expect_exit 1 no_tty env COFFER_ESCROW_PASSWORD_FILE=strong "$COFFER" \
	    escrow register --server http://127.0.0.1:9 --account dora ||
	    return 1
	expect_no_grep 'too easy' err || return 1
	[ "$(tree_sum "$COFFER_KEYSTORE")" = "$ks0" ] ||
	    fail "the keystore changed" || return 1

	# ---- strong ones are taken ----
	expect_exit 0 no_tty env COFFER_NEW_PASSWORD_FILE=strong "$COFFER" \
	    keystore passwd || return 1
	[ -s "$COFFER_KEYSTORE/passwd" ] || fail "no password set" || return 1
	COFFER_PASSWORD_FILE=$PWD/strong
	export COFFER_PASSWORD_FILE
	printf 'ember walrus fjord pickle\n' >pp
	expect_exit 0 no_tty "$COFFER" key add-passphrase --passphrase-file pp ||
	    return 1
	expect_exit 0 no_tty "$COFFER" key list --json || return 1
	expect_jq 'all(.key_sets[]; .passphrase)' out || return 1
	# Changing to a weak one is refused too, and the old one still works.
	ks1=$(tree_sum "$COFFER_KEYSTORE")
	printf 'password1\n' >weak
	expect_exit 1 no_tty env COFFER_NEW_PASSWORD_FILE=weak "$COFFER" \
	    keystore passwd || return 1
	expect_grep 'too easy to guess' err || return 1
	[ "$(tree_sum "$COFFER_KEYSTORE")" = "$ks1" ] ||
	    fail "a weak new password changed the keystore" || return 1
	expect_exit 0 no_tty "$COFFER" restore latest --target rst || return 1
	# shellcheck disable=SC2046
	expect_tree src rst/src $(owner_opt) || return 1
}

# no_tty CMD...: without a controlling terminal (nothing can be asked).
no_tty()
{
	setsid -w "$@" </dev/null
}

# tree_sum DIR: changes when anything under DIR is added, removed or
# changed.
tree_sum()
{
	(
		cd "$1" || exit 1
		find . | LC_ALL=C sort
		find . -type f -exec sha256sum {} + | LC_ALL=C sort
	) | sha256sum | cut -d' ' -f1
}
