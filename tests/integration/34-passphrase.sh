# SPDX-License-Identifier: ISC
# tests/integration/34-passphrase.sh
# Goal: "key add-passphrase" puts a recovery slot on the card (without a
# KEY_ID and two sets here, it lists them and writes nothing), so that with
# the keystore gone "--passphrase-file F restore" brings the data back bit
# for bit from the card alone.  A wrong passphrase, or none, is status 1
# (and the message names the key set); after "key remove-passphrase" the
# passphrase opens nothing.  The passphrase itself is never on the card.
passphrase='correct horse battery staple 4711'

scenario() {
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	"$HELPERS/gentree" src || return 1
	printf '%s\n' "$passphrase" >pp
	printf 'Correct horse battery staple 4711\n' >ppbad
	printf 'ember walrus fjord pickle\n' >pp2
	printf 'short\n' >ppshort
	expect_exit 0 "$COFFER" init --name-by count || return 1
	# Snapshot 1 in a set of its own, 2 and 3 in the device set.
	expect_exit 0 "$COFFER" backup --scope backup src || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	other=$(jq -r '.snapshots[0].key_id' out)
	dev=$(jq -r '.snapshots[2].key_id' out)
	[ "$other" != "$dev" ] || fail "one key set for both scopes" ||
	    return 1
	info=$COFFER_REPO/sets/$dev/keyinfo
	size0=$(file_size "$info")

	# ---- add a slot: two sets open here, so one must be named ----
	expect_exit 1 "$COFFER" key add-passphrase --passphrase-file pp ||
	    return 1
	expect_grep "opens 2 key sets; name the one" err || return 1
	expect_grep "$dev \(device; 2 snapshots" err || return 1
	expect_grep "$other \(backup; 1 snapshot" err || return 1
	[ "$(file_size "$info")" -eq "$size0" ] ||
	    fail "keyinfo changed without a key set named" || return 1
	expect_exit 1 "$COFFER" key add-passphrase "$dev" \
	    --passphrase-file ppshort || return 1
	expect_exit 0 "$COFFER" key add-passphrase "$dev" \
	    --passphrase-file pp || return 1
	expect_grep "$dev" out || return 1
	[ "$(file_size "$info")" -gt "$size0" ] ||
	    fail "keyinfo did not grow with a slot" || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	DEV=$dev OTHER=$other && export DEV OTHER
	expect_jq '.key_sets[] | select(.key_id == env.DEV) |
	    .passphrase == true' out || return 1
	expect_jq '.key_sets[] | select(.key_id == env.OTHER) |
	    .passphrase == false' out || return 1
	expect_exit 0 "$COFFER" key list || return 1
	expect_grep "^$dev .* yes +yes " out || return 1
	# With the keystore here, the keystore opens the sets: a wrong
	# passphrase given as well does no harm.
	expect_exit 0 "$COFFER" --passphrase-file ppbad restore 1 \
	    --target rst0 || return 1

	# The passphrase is nowhere on the card, in names or in bytes.
	no_passphrase_on_card "$passphrase" || return 1

	# ---- the keystore is gone: the card alone, with the passphrase ----
	mv "$COFFER_KEYSTORE" keystore.away || return 1
	card0=$(tree_sum "$COFFER_REPO")
	expect_exit 0 "$COFFER" --passphrase-file pp restore latest \
	    --target rst1 || return 1
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree src rst1/src $(owner_opt) || return 1
	expect_exit 0 "$COFFER" restore 2 --passphrase-file pp --target rst2 ||
	    return 1
	# shellcheck disable=SC2046
	expect_tree src rst2/src $(owner_opt) || return 1
	expect_exit 0 "$COFFER" --passphrase-file pp ls latest src/f4k --json ||
	    return 1
	expect_jq '.entries | any(.path == "src/f4k" and .size == 4096)' out ||
	    return 1
	expect_exit 0 "$COFFER" --passphrase-file pp key list --json || return 1
	expect_jq '.key_sets[] | select(.key_id == env.DEV) |
	    .key_present == true and .snapshots == ["2", "3"]' out || return 1
	expect_jq '.key_sets[] | select(.key_id == env.OTHER) |
	    .key_present == false' out || return 1
	# The set without a slot stays closed.
	expect_exit 1 "$COFFER" --passphrase-file pp restore 1 --target rst3 ||
	    return 1
	expect_grep "$other" err || return 1
	[ ! -e rst3/src ] || fail "restored a set that has no slot" ||
	    return 1

	# A wrong passphrase: status 1, nothing restored.
	expect_exit 1 "$COFFER" --passphrase-file ppbad restore latest \
	    --target rst4 || return 1
	expect_grep "$dev" err || return 1
	expect_exit 1 "$COFFER" --passphrase-file ppbad restore 2 \
	    --target rst4 || return 1
	expect_grep "$dev" err || return 1
	[ ! -e rst4/src ] || fail "restored with a wrong passphrase" ||
	    return 1
	# No passphrase at all: status 1, naming the set that has one.
	expect_exit 1 "$COFFER" restore latest --target rst5 || return 1
	expect_grep "$dev" err || return 1
	expect_grep -- '--passphrase-file' err || return 1
	expect_exit 1 "$COFFER" restore 3 --target rst5 || return 1
	expect_grep "$dev" err || return 1
	[ ! -e rst5/src ] || fail "restored without a key" || return 1
	[ ! -e "$COFFER_KEYSTORE" ] ||
	    fail "a passphrase restore made a keystore" || return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "restoring by passphrase changed the card" || return 1

	# ---- a second set gets a slot of its own, by key id ----
	mv keystore.away "$COFFER_KEYSTORE" || return 1
	expect_exit 0 "$COFFER" key add-passphrase "$other" \
	    --passphrase-file pp2 || return 1
	expect_grep "$other" out || return 1
	mv "$COFFER_KEYSTORE" keystore.away || return 1
	expect_exit 0 "$COFFER" --passphrase-file pp2 restore 1 --target rst6 ||
	    return 1
	# shellcheck disable=SC2046
	expect_tree src rst6/src $(owner_opt) || return 1
	# Each passphrase opens its own set only.
	expect_exit 1 "$COFFER" --passphrase-file pp2 restore 2 --target rst7 ||
	    return 1
	expect_exit 1 "$COFFER" --passphrase-file pp restore 1 --target rst7 ||
	    return 1
	[ ! -e rst7/src ] || fail "a passphrase opened another set" ||
	    return 1
	no_passphrase_on_card "another recovery passphrase" || return 1

	# ---- remove the slot: the passphrase opens nothing any more ----
	mv keystore.away "$COFFER_KEYSTORE" || return 1
	expect_exit 2 "$COFFER" key remove-passphrase || return 1
	expect_exit 0 "$COFFER" key remove-passphrase "$dev" || return 1
	[ "$(file_size "$info")" -eq "$size0" ] ||
	    fail "keyinfo still holds a slot: $(file_size "$info") bytes," \
	    "$size0 without" || return 1
	expect_exit 1 "$COFFER" key remove-passphrase "$dev" || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	expect_jq '.key_sets[] | select(.key_id == env.DEV) |
	    .passphrase == false' out || return 1
	expect_jq '.key_sets[] | select(.key_id == env.OTHER) |
	    .passphrase == true' out || return 1
	mv "$COFFER_KEYSTORE" keystore.away || return 1
	expect_exit 1 "$COFFER" --passphrase-file pp restore 3 --target rst8 ||
	    return 1
	expect_grep "$dev" err || return 1
	expect_exit 1 "$COFFER" --passphrase-file pp restore latest \
	    --target rst8 || return 1
	[ ! -e rst8/src ] || fail "restored through a removed slot" ||
	    return 1

	# The keystore back: everything restores, the card checks out.
	mv keystore.away "$COFFER_KEYSTORE" || return 1
	for n in 1 2 3; do
		expect_exit 0 "$COFFER" restore "$n" --target "all-$n" ||
		    return 1
		# shellcheck disable=SC2046
		expect_tree src "all-$n/src" $(owner_opt) || return 1
	done
	expect_exit 0 "$COFFER" check --read-data
}

# no_passphrase_on_card TEXT: TEXT appears in no file and no name of the
# repository.
no_passphrase_on_card()
{
	if grep -rlaF -- "$1" "$COFFER_REPO" >grep.out; then
		fail "the passphrase is on the card, in:" "$(cat grep.out)"
		return 1
	fi
	if find "$COFFER_REPO" | grep -F -- "$1" >grep.out; then
		fail "the passphrase is in a name on the card"
		return 1
	fi
	return 0
}

# tree_sum DIR: a checksum of the names under DIR and of every file's bytes.
tree_sum()
{
	(
		cd "$1" || exit 1
		find . | LC_ALL=C sort
		find . -type f -exec sha256sum {} + | LC_ALL=C sort
	) | sha256sum | cut -d' ' -f1
}
