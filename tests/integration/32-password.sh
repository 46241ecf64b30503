# SPDX-License-Identifier: ISC
# tests/integration/32-password.sh
# Goal: "keystore passwd" sets a password: the key files are then wrapped
# (no cleartext key left in the keystore); without the password (no
# COFFER_PASSWORD_FILE, no terminal) every command that needs a key fails;
# a wrong password is status 1, says "wrong password" and writes nothing;
# the right one backs up and restores; changing the password makes the old
# one fail and the new one work, and never touches the card.
scenario() {
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	"$HELPERS/gentree" src || return 1
	printf 'plinth orchard gravel lantern\n' >pw1
	printf 'saffron quiver tundra mosaic\n' >pw2
	printf 'not the password\n' >pwbad
	: >pwempty
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup --scope backup src || return 1
	ks=$COFFER_KEYSTORE
	nkeys=$(find "$ks" -name '*.key' | wc -l)
	[ "$nkeys" -eq 3 ] ||
	    fail "want 3 key files (repository secret, 2 sets), have $nkeys" ||
	    return 1
	# The keys in the clear, as hex: bytes 32..63 of each key file.
	for f in "$ks"/*.key; do
		cp "$f" "${f##*/}.clear" || return 1
		od -An -tx1 -j 32 -N 32 -v "$f" | tr -d ' \n' >>clear-keys.hex
		echo >>clear-keys.hex
	done
	[ "$(wc -l <clear-keys.hex)" -eq 3 ] || return 1
	card0=$(tree_sum "$COFFER_REPO")

	# ---- set the password ----
	expect_exit 0 no_tty env COFFER_NEW_PASSWORD_FILE=pw1 \
	    "$COFFER" keystore passwd || return 1
	[ -f "$ks/passwd" ] || fail "no passwd file in the keystore" ||
	    return 1
	[ "$(file_mode "$ks/passwd")" = 600 ] ||
	    fail "passwd file has mode $(file_mode "$ks/passwd")" || return 1
	for f in "$ks"/*.key; do
		old=${f##*/}.clear
		[ -f "$old" ] || fail "key file $f appeared from nowhere" ||
		    return 1
		cmp -s "$f" "$old" && { fail "$f unchanged by passwd"; return 1; }
		[ "$(file_size "$f")" -gt "$(file_size "$old")" ] ||
		    fail "$f did not grow: $(file_size "$old") ->" \
		    "$(file_size "$f") bytes" || return 1
	done
	wrapped=$(stat -c %s "$ks"/*.key | sort -u)
	[ "$(printf '%s\n' "$wrapped" | wc -l)" -eq 1 ] ||
	    fail "wrapped key files differ in size: $(ls -l "$ks")" || return 1
	no_clear_key || return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "setting the password changed the card" || return 1

	# ---- no password given: every command that needs a key fails ----
	ks0=$(tree_sum "$ks")
	card0=$(tree_sum "$COFFER_REPO")
	for cmd in "backup src" "restore latest --target rst" "snapshots" \
	    "ls latest" "check" "key list"; do
		# shellcheck disable=SC2086 # $cmd is split into words
		expect_exit 1 no_tty "$COFFER" $cmd || return 1
		expect_grep -i 'password' err || return 1
	done
	[ ! -e rst ] || fail "restored without the password" || return 1
	[ "$(tree_sum "$ks")" = "$ks0" ] ||
	    fail "the keystore changed without the password" || return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "the card changed without the password" || return 1

	# ---- a wrong password: status 1, says so, writes nothing ----
	for cmd in "backup src" "restore latest --target rst" "snapshots" \
	    "key list"; do
		# shellcheck disable=SC2086
		expect_exit 1 no_tty env COFFER_PASSWORD_FILE=pwbad \
		    "$COFFER" $cmd || return 1
		expect_grep 'wrong password' err || return 1
	done
	expect_exit 1 no_tty env COFFER_PASSWORD_FILE=pwbad \
	    COFFER_NEW_PASSWORD_FILE=pw2 "$COFFER" keystore passwd || return 1
	expect_grep 'wrong password' err || return 1
	[ ! -e rst ] || fail "restored with a wrong password" || return 1
	[ "$(tree_sum "$ks")" = "$ks0" ] ||
	    fail "the keystore changed with a wrong password" || return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "the card changed with a wrong password" || return 1

	# ---- the right password works ----
	COFFER_PASSWORD_FILE=$PWD/pw1
	export COFFER_PASSWORD_FILE
	expect_exit 0 no_tty "$COFFER" backup src || return 1
	expect_exit 0 no_tty "$COFFER" backup --scope backup src || return 1
	expect_exit 0 no_tty "$COFFER" restore latest --target rst1 || return 1
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree src rst1/src $(owner_opt) || return 1
	expect_exit 0 no_tty "$COFFER" restore 1 --target rst2 || return 1
	# shellcheck disable=SC2046
	expect_tree src rst2/src $(owner_opt) || return 1
	expect_exit 0 no_tty "$COFFER" key list --json || return 1
	expect_jq '.key_sets | length == 3 and all(.key_present)' out ||
	    return 1
	# The key made after the password is wrapped too: all key files
	# have the wrapped size.
	sizes=$(stat -c %s "$ks"/*.key | sort -u)
	[ "$sizes" = "$wrapped" ] ||
	    fail "key files not all wrapped ($wrapped bytes): $(ls -l "$ks")" ||
	    return 1
	no_clear_key || return 1
	private_tree "$ks" || return 1

	# ---- change the password ----
	ks0=$(tree_sum "$ks")
	card0=$(tree_sum "$COFFER_REPO")
	expect_exit 1 no_tty env COFFER_NEW_PASSWORD_FILE=pwempty \
	    "$COFFER" keystore passwd || return 1
	[ "$(tree_sum "$ks")" = "$ks0" ] ||
	    fail "an empty new password changed the keystore" || return 1
	expect_exit 0 no_tty env COFFER_NEW_PASSWORD_FILE=pw2 \
	    "$COFFER" keystore passwd --json || return 1
	KS=$ks && export KS
	expect_jq '.keystore == env.KS and .password_set == true' out ||
	    return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "changing the password changed the card" || return 1
	[ "$(tree_sum "$ks")" != "$ks0" ] ||
	    fail "changing the password changed nothing" || return 1
	no_clear_key || return 1
	private_tree "$ks" || return 1

	# The old password now fails, the new one works.
	ks0=$(tree_sum "$ks")
	expect_exit 1 no_tty "$COFFER" restore latest --target rst3 || return 1
	expect_grep 'wrong password' err || return 1
	expect_exit 1 no_tty "$COFFER" backup src || return 1
	expect_grep 'wrong password' err || return 1
	[ "$(tree_sum "$ks")" = "$ks0" ] ||
	    fail "the keystore changed with the old password" || return 1
	COFFER_PASSWORD_FILE=$PWD/pw2
	expect_exit 0 no_tty "$COFFER" restore latest --target rst3 || return 1
	# shellcheck disable=SC2046
	expect_tree src rst3/src $(owner_opt) || return 1
	expect_exit 0 no_tty "$COFFER" backup src || return 1
	expect_exit 0 no_tty "$COFFER" check --read-data || return 1
	snaps=$("$COFFER" snapshots --json | jq -r '.snapshots[].name')
	for n in $snaps; do
		expect_exit 0 no_tty "$COFFER" restore "$n" --target "all-$n" ||
		    return 1
		# shellcheck disable=SC2046
		expect_tree src "all-$n/src" $(owner_opt) || return 1
	done
}

# no_tty CMD...: run CMD in a new session, without a controlling terminal,
# so that it cannot ask for a password.
no_tty()
{
	setsid -w "$@" </dev/null
}

# tree_sum DIR: one line per entry under DIR (name, and the checksum of
# each file), hashed: changes when anything is added, removed or changed.
tree_sum()
{
	(
		cd "$1" || exit 1
		find . | LC_ALL=C sort
		find . -type f -exec sha256sum {} + | LC_ALL=C sort
	) | sha256sum | cut -d' ' -f1
}

# no_clear_key: none of the keys once stored in the clear appears in any
# file of the keystore (key files, passwd, file caches).
no_clear_key()
{
	find "$COFFER_KEYSTORE" -type f >ks-files || return 1
	[ -s ks-files ] || fail "the keystore holds no files" || return 1
	while read -r _f; do
		_hex=$(od -An -tx1 -v "$_f" | tr -d ' \n')
		while read -r _k; do
			case $_hex in
			*"$_k"*)
				fail "a key in the clear in $_f"
				return 1 ;;
			esac
		done <clear-keys.hex
	done <ks-files
	return 0
}

# private_tree DIR: DIR is 0700, its files 0600, all owned by us.
private_tree()
{
	_bad=$(find "$1" \( -type d ! -perm 0700 \) -o \
	    \( -type f ! -perm 0600 \) -o \( ! -type d ! -type f \) -o \
	    ! -user "$(id -u)")
	# shellcheck disable=SC2086 # keystore paths hold no spaces
	[ -z "$_bad" ] || fail "not private in the keystore:" \
	    "$(ls -ld $_bad)"
}
