# SPDX-License-Identifier: ISC
# tests/integration/33-system.sh
# Goal: "coffer --system" keeps its keys in the system keystore
# ($COFFER_SYSTEM_KEYSTORE here, /var/lib/coffer by default), created
# root-owned and 0700, and backs up and restores with it as root.  Run by
# anyone else, every --system command stops with status 1 and a message
# that it needs root, before reading or writing anything.
scenario() {
	COFFER_INSECURE_FAST_KDF=1
	COFFER_SYSTEM_KEYSTORE=$PWD/sys
	export COFFER_INSECURE_FAST_KDF COFFER_SYSTEM_KEYSTORE
	"$HELPERS/gentree" src || return 1
	# A place the unprivileged user could write to, were it let.
	mkdir open && chmod 777 open || return 1
	printf 'velvet harbor cactus lemonade\n' >pp

	if is_root; then
		as_root || return 1
	else
		note "not root: only the refusal is tested"
		mkdir "$COFFER_REPO" || return 1
	fi

	# ---- anyone else is refused, before anything is touched ----
	sys0=$(tree_sum sys 2>/dev/null)
	card0=$(tree_sum "$COFFER_REPO")
	open0=$(tree_sum open)
	[ -n "$card0" ] || fail "cannot checksum the repository" || return 1
	kid=0123456789abcdef
	[ -f keyid ] && kid=$(cat keyid)
	for cmd in "init" "init --scope backup" "backup src" \
	    "backup --scope backup $PWD/src" "snapshots" "snapshots --json" \
	    "ls latest" "restore latest --target $PWD/open/rst" "check" \
	    "check --read-data" "key list" "key list --json" \
	    "key add-passphrase --passphrase-file $PWD/pp" \
	    "key remove-passphrase $kid" "key destroy $kid" \
	    "key destroy $kid --yes" "keystore passwd"; do
		# The flag before the command and after it.
		# shellcheck disable=SC2086 # $cmd is split into words
		refused --system $cmd || return 1
		# shellcheck disable=SC2086
		refused $cmd --system || return 1
	done
	# init into a fresh repository and a fresh system keystore, both
	# where the user could create them: neither appears.
	refused --system --repo "$PWD/open/repo" init || return 1
	(
		COFFER_SYSTEM_KEYSTORE=$PWD/open/sys
		refused --system --repo "$PWD/open/repo" init &&
		refused --system backup src
	) || return 1
	[ ! -e open/repo ] && [ ! -e open/sys ] && [ ! -e open/rst ] ||
	    fail "a refused --system command created files:" \
	    "$(ls -l open)" || return 1
	[ "$(tree_sum open)" = "$open0" ] ||
	    fail "a refused --system command wrote to open/" || return 1
	[ "$(tree_sum sys 2>/dev/null)" = "$sys0" ] ||
	    fail "a refused --system command changed the system keystore" ||
	    return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "a refused --system command changed the repository" ||
	    return 1
}

# as_root: the system keystore is made root-owned 0700 and serves backup
# and restore; the user's own keystore is not used.
as_root()
{
	expect_exit 0 "$COFFER" --system init --name-by count || return 1
	[ -d sys ] || fail "--system init made no system keystore" || return 1
	[ ! -e "$COFFER_KEYSTORE" ] ||
	    fail "--system init used the user keystore" || return 1
	[ "$(stat -c %u:%g sys)" = 0:0 ] ||
	    fail "system keystore owned by $(stat -c %u:%g sys)" || return 1
	[ "$(file_mode sys)" = 700 ] ||
	    fail "system keystore has mode $(file_mode sys)" || return 1
	_bad=$(find sys -mindepth 1 \( -type d ! -perm 0700 \) -o \
	    \( -type f ! -perm 0600 \) -o ! -user 0)
	[ -z "$_bad" ] || fail "not private in the system keystore: $_bad" ||
	    return 1
	[ -n "$(find sys -name '*.key')" ] ||
	    fail "no key in the system keystore" || return 1

	expect_exit 0 "$COFFER" --system backup src || return 1
	expect_exit 0 "$COFFER" backup --system --scope backup src || return 1
	expect_exit 0 "$COFFER" --system restore latest --target rst1 ||
	    return 1
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree src rst1/src $(owner_opt) || return 1
	expect_exit 0 "$COFFER" restore 1 --system --target rst2 || return 1
	# shellcheck disable=SC2046
	expect_tree src rst2/src $(owner_opt) || return 1
	expect_exit 0 "$COFFER" --system key list --json || return 1
	expect_jq '.key_sets | length == 2 and all(.key_present)' out ||
	    return 1
	jq -r '.key_sets[0].key_id' out >keyid || return 1
	expect_exit 0 "$COFFER" --system check --read-data || return 1
	[ ! -e "$COFFER_KEYSTORE" ] ||
	    fail "a --system command made the user keystore" || return 1

	# Without --system the keys are not found.
	expect_exit 1 "$COFFER" restore latest --target rst3 || return 1
	[ ! -e rst3/src ] || fail "restored without the system keystore" ||
	    return 1

	# A system keystore not owned by root is refused, even to root.
	chown 65534 sys || return 1
	expect_exit 1 "$COFFER" --system restore latest --target rst3 ||
	    return 1
	expect_grep 'owned by' err || return 1
	chown 0 sys || return 1

	# Let the unprivileged user at the repository: a refused command
	# could now write to it, and must not.
	chown -R 65534:65534 "$COFFER_REPO" || return 1
	chmod 755 sys || return 1
	expect_exit 1 "$COFFER" --system snapshots || return 1
	expect_grep 'chmod' err || return 1
	chmod 700 sys
}

# refused ARG...: "coffer ARG..." run as an unprivileged user exits 1
# saying it needs root.
refused()
{
	expect_exit 1 as_user "$COFFER" "$@" || return 1
	expect_grep 'needs root' err || return 1
	expect_empty out
}

# tree_sum DIR: a checksum of the names under DIR and of every file's bytes.
tree_sum()
{
	[ -d "$1" ] || return 1
	(
		cd "$1" || exit 1
		find . | LC_ALL=C sort
		find . -type f -exec sha256sum {} + | LC_ALL=C sort
	) | sha256sum | cut -d' ' -f1
}
