# SPDX-License-Identifier: ISC
# tests/integration/20-card-opaque.sh
# Goal: the card holds no plaintext: neither file contents nor file names
# of the backup appear anywhere in the repository, in file names or inside
# files, and every name on the card is plain [A-Za-z0-9._-].
marker=COFFER-PLAINTEXT-MARKER-q7Zx3
fname=coffer-secret-name-Vb9k

scenario() {
	"$HELPERS/gentree" src || return 1
	mkdir "src/$fname-dir" || return 1
	# The marker amid incompressible bytes, so that compression alone
	# would not hide it; and once in a compressible text file.
	{
		head -c 100000 src/f300k
		printf '%s' "$marker"
		tail -c 100000 src/f300k
	} >"src/$fname-dir/$fname.bin" || return 1
	printf 'plain text with %s in it\n' "$marker" >src/marker-text.txt ||
	    return 1
	printf '%s\n' "$marker" | dd of=src/sparse/holes bs=1 seek=4096 \
	    conv=notrunc status=none || return 1

	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	sleep 1		# time-named snapshots: a new second, a new name
	printf '%s %s\n' "$marker" "$fname" | expect_exit 0 "$COFFER" \
	    backup --stdin --stdin-name "$fname.stdin" || return 1
	[ -n "$(card_files)" ] || fail "the repository holds no files" ||
	    return 1

	for s in "$marker" "$fname" "marker-text" "f300k" "xattr-dir" \
	    "hello world" "user.test"; do
		if grep -rlaF -- "$s" "$COFFER_REPO" >grep.out; then
			fail "plaintext '$s' found in:" "$(cat grep.out)"
			return 1
		fi
		if find "$COFFER_REPO" | grep -F -- "$s" >grep.out; then
			fail "plaintext '$s' in a name on the card:" \
			    "$(cat grep.out)"
			return 1
		fi
	done

	check_card_names "$COFFER_REPO" || return 1

	# The restore still works, so the test did not just break the repo.
	expect_exit 0 "$COFFER" restore latest --target rst1 || return 1
	expect_exit 0 "$COFFER" restore "$(first_snapshot)" --target rst2 ||
	    return 1
	expect_same "src/$fname-dir/$fname.bin" \
	    "rst2/src/$fname-dir/$fname.bin" || return 1
	printf '%s %s\n' "$marker" "$fname" >stdin.txt &&
	expect_same stdin.txt "rst1/$fname.stdin"
}

first_snapshot()
{
	"$COFFER" snapshots --json | jq -r '.snapshots[0].name'
}
