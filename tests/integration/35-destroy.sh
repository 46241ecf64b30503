# SPDX-License-Identifier: ISC
# tests/integration/35-destroy.sh
# Goal: "key destroy KEY_ID" without --yes only says what it would do;
# with --yes the set's key leaves the keystore and its folder the card, its
# snapshots are gone, and every other set still restores bit for bit and
# checks clean.  A copy of the destroyed folder put back stays unreadable.
# Destroying the device set makes the next device backup a new set (the
# repository secret is replaced) while the older sets keep working.  An
# unknown key id is status 1.
scenario() {
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	"$HELPERS/gentree" src || return 1
	ks=$COFFER_KEYSTORE
	expect_exit 0 "$COFFER" init --name-by count --scope backup || return 1
	# Snapshots 1, 2, 3: three sets of their own; 4 and 5: the device
	# set; 6: a day set.
	for i in 1 2 3; do
		printf 'version %s\n' "$i" >src/version || return 1
		expect_exit 0 "$COFFER" backup src || return 1
		cp -a src "src-$i" || return 1
	done
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	expect_exit 0 "$COFFER" backup --scope period --period day src ||
	    return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	cp out snaps.json
	a=$(jq -r '.snapshots[0].key_id' snaps.json)
	b=$(jq -r '.snapshots[1].key_id' snaps.json)
	c=$(jq -r '.snapshots[2].key_id' snaps.json)
	dev=$(jq -r '.snapshots[3].key_id' snaps.json)
	day=$(jq -r '.snapshots[5].key_id' snaps.json)
	expect_jq '.snapshots[3].key_id == .snapshots[4].key_id' snaps.json ||
	    return 1
	expect_jq '[.snapshots[].key_id] | unique | length == 5' snaps.json ||
	    return 1
	for k in "$a" "$b" "$c" "$dev" "$day"; do
		[ -d "$COFFER_REPO/sets/$k" ] && [ -f "$ks/set-$k.key" ] ||
		    fail "key set $k is not on the card and in the keystore" ||
		    return 1
	done
	[ -f "$ks/cache/$b.cache" ] || fail "no file cache for set $b" ||
	    return 1
	[ -f "$ks/cache/$b.index" ] || fail "no index cache for set $b" ||
	    return 1
	cp -a "$COFFER_REPO/sets/$b" stolen-b || return 1
	cp -a "$COFFER_REPO/sets/$dev" stolen-dev || return 1

	# ---- without --yes: says what it would destroy, changes nothing ----
	card0=$(tree_sum "$COFFER_REPO")
	ks0=$(tree_sum "$ks")
	expect_exit 0 "$COFFER" key destroy "$b" || return 1
	expect_grep 'would destroy' out || return 1
	expect_grep "$b" out || return 1
	expect_grep 'snapshot 2$' out || return 1
	expect_no_grep 'snapshot [13456]$' out || return 1
	expect_grep -- '--yes' out || return 1
	expect_exit 0 "$COFFER" key destroy "$b" --json || return 1
	expect_jq '.destroyed == false and .key_id == "'"$b"'" and
	    (.report | any(test("would destroy")))' out || return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "destroy without --yes changed the card" || return 1
	[ "$(tree_sum "$ks")" = "$ks0" ] ||
	    fail "destroy without --yes changed the keystore" || return 1

	# ---- with --yes: gone from card and keystore ----
	expect_exit 0 "$COFFER" key destroy "$b" --yes || return 1
	expect_grep "destroyed" out || return 1
	[ ! -e "$COFFER_REPO/sets/$b" ] ||
	    fail "sets/$b still on the card" || return 1
	[ ! -e "$ks/set-$b.key" ] ||
	    fail "the key of $b is still in the keystore" || return 1
	[ ! -e "$ks/cache/$b.cache" ] ||
	    fail "the file cache of $b is still in the keystore" || return 1
	[ ! -e "$ks/cache/$b.index" ] ||
	    fail "the index cache of $b is still in the keystore" || return 1
	if grep -rlaF -- "$b" "$ks" "$COFFER_REPO" >grep.out; then
		fail "key id $b still named in:" "$(cat grep.out)"
		return 1
	fi
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[].name] == ["1", "3", "4", "5", "6"]' out ||
	    return 1
	B=$b && export B
	expect_jq '.snapshots | all(.key_id != env.B)' out || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	expect_jq '.key_sets | length == 4 and all(.key_id != env.B)' out ||
	    return 1
	expect_exit 1 "$COFFER" restore 2 --target rst-2 || return 1
	# The others: bit for bit, and a clean check.
	restore_same 1 src-1 || return 1
	restore_same 3 src-3 || return 1
	restore_same 4 src || return 1
	restore_same 6 src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	# Destroyed twice: there is nothing left to destroy.
	expect_exit 1 "$COFFER" key destroy "$b" --yes || return 1
	expect_grep "$b" err || return 1

	# ---- the device set: the secret it came from is replaced ----
	secret=$(find "$ks" -maxdepth 1 -name 'repo-*.key')
	[ -f "$secret" ] || fail "no repository secret in the keystore" ||
	    return 1
	cp "$secret" secret.before || return 1
	expect_exit 0 "$COFFER" key destroy "$dev" --yes || return 1
	expect_grep 'snapshot 4$' out || return 1
	expect_grep 'snapshot 5$' out || return 1
	[ ! -e "$COFFER_REPO/sets/$dev" ] ||
	    fail "sets/$dev still on the card" || return 1
	[ ! -e "$ks/set-$dev.key" ] ||
	    fail "the key of $dev is still in the keystore" || return 1
	cmp -s "$secret" secret.before &&
	    { fail "the repository secret was not replaced"; return 1; }
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[].name] == ["1", "3", "6"]' out || return 1
	# The next device backup: a new set; it and the old ones restore.
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	expect_jq '[.snapshots[].name] == ["1", "3", "6", "7"]' out ||
	    return 1
	dev2=$(jq -r '.snapshots[3].key_id' out)
	[ "$dev2" != "$dev" ] ||
	    fail "the device set $dev came back after its destruction" ||
	    return 1
	expect_jq '.snapshots[3].added > 65536' out || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	DEV2=$dev2 && export DEV2
	expect_jq '.key_sets | length == 4 and all(.key_present) and
	    ([.[] | select(.scope == "device") | .key_id] == [env.DEV2])' out ||
	    return 1
	restore_same 1 src-1 || return 1
	restore_same 3 src-3 || return 1
	restore_same 6 src || return 1
	restore_same 7 src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1

	# ---- a copy of a destroyed set, put back, opens with nothing ----
	cp -a stolen-b "$COFFER_REPO/sets/$b" &&
	    cp -a stolen-dev "$COFFER_REPO/sets/$dev" || return 1
	expect_exit 1 "$COFFER" restore 2 --target rst-2 || return 1
	expect_grep "$b" err || return 1
	expect_exit 1 "$COFFER" restore 4 --target rst-4 || return 1
	expect_grep "$dev" err || return 1
	# Not even with the old device id and the backup redone.
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	expect_exit 1 "$COFFER" restore 5 --target rst-5 || return 1
	[ ! -e rst-2/src ] && [ ! -e rst-4/src ] && [ ! -e rst-5/src ] ||
	    fail "restored a destroyed set" || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	expect_jq '.key_sets[] | select(.key_id == env.B) |
	    .key_present == false' out || return 1
	rm -rf "${COFFER_REPO:?}/sets/$b" "${COFFER_REPO:?}/sets/$dev"

	# ---- unknown or malformed key ids ----
	card0=$(tree_sum "$COFFER_REPO")
	expect_exit 1 "$COFFER" key destroy 0123456789abcdef --yes || return 1
	expect_grep '0123456789abcdef' err || return 1
	expect_exit 1 "$COFFER" key destroy 0123456789abcdef || return 1
	expect_exit 1 "$COFFER" key destroy not-a-key-id --yes || return 1
	expect_exit 1 "$COFFER" key destroy "${a%?}" --yes || return 1
	expect_exit 2 "$COFFER" key destroy || return 1
	[ "$(tree_sum "$COFFER_REPO")" = "$card0" ] ||
	    fail "a refused destroy changed the card" || return 1
	restore_same 1 src-1
	killed_at_every_step || return 1
}

# killed_at_every_step: a destroy SIGKILLed before each of its fsyncs in
# turn (strace's fault injection: every durable step) is finished by
# running it again: the set is then gone from card and keystore, no
# record of the interrupted destroy is left, and the other sets restore.
# Before the keystore kept that record (FORMAT.md §18.4), a destroy cut
# off after the key was wiped left a folder no second run would remove.
killed_at_every_step()
{
	need_cmd strace || return 1
	mkdir -p small || return 1
	n=1
	while :; do
		printf 'step %s\n' "$n" >small/f || return 1
		expect_exit 0 "$COFFER" backup --scope backup small || return 1
		expect_exit 0 "$COFFER" snapshots --json || return 1
		id=$(jq -r '.snapshots[-1].key_id' out)
		rc=0
		# LeakSanitizer cannot run under ptrace.
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		    strace -f -o /dev/null -e trace=fsync \
		    -e inject=fsync:signal=KILL:when="$n" \
		    "$COFFER" key destroy "$id" --yes >out 2>err || rc=$?
		[ "$rc" -eq 0 ] && break
		[ "$rc" -eq 137 ] || fail "destroy killed at fsync $n: exit" \
		    "$rc: $(cat err)" || return 1
		expect_exit 0 "$COFFER" check || return 1
		# Again: it finishes the job, or finds it was done before the
		# kill (which then cut off only the lock's release).
		rc=0
		"$COFFER" key destroy "$id" --yes >out 2>err || rc=$?
		[ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] &&
		    grep -q "no key set $id on the card or in the keystore" \
		    err; } || fail "the destroy killed at fsync $n is not" \
		    "finished by running it again: exit $rc: $(cat err)" ||
		    return 1
		[ ! -e "$COFFER_REPO/sets/$id" ] && [ ! -e "$ks/set-$id.key" ] ||
		    fail "set $id left after a destroy killed at fsync $n" \
		    "and run again" || return 1
		n=$((n + 1))
		[ "$n" -le 40 ] || fail "a destroy needs more than 40 fsyncs" ||
		    return 1
	done
	[ "$n" -ge 8 ] || fail "only $n fsyncs in a destroy: was it traced?" ||
	    return 1
	note "a destroy killed before each of its $((n - 1)) fsyncs is" \
	    "finished by a second run"
	ls "$ks" | grep '^destroy-' >left && fail "records left:" \
	    "$(cat left)" && return 1
	restore_same 1 src-1
}

# restore_same SNAPSHOT SRC: SNAPSHOT restores identical to SRC.
restore_same()
{
	_t=rst-$1-$(date +%s%N)
	expect_exit 0 "$COFFER" restore "$1" --target "$_t" || return 1
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree "$2" "$_t/src" $(owner_opt)
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
