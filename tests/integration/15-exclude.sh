# SPDX-License-Identifier: ISC
# tests/integration/15-exclude.sh
# Goal: --exclude, --exclude-file, --exclude-caches, --exclude-larger-than
# and --files-from select exactly what they say (table-driven: each row
# is a set of options and the exact list of files the snapshot holds).
scenario() {
	mkdir -p t/a/b t/build/sub t/cache t/keep t/deep/x/y
	for f in t/top.txt t/top.o t/a/one.o t/a/one.c t/a/b/two.o \
	    t/a/b/two.c t/build/out t/build/sub/more t/keep/keep.o \
	    t/deep/x/y/cache.db t/deep/x/y/z.c; do
		printf 'content of %s\n' "$f" > "$f" || return 1
	done
	printf 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n' \
	    > t/cache/CACHEDIR.TAG
	printf 'cached\n' > t/cache/blob
	head -c 300000 /dev/urandom > t/big.bin
	printf '# build products\n*.o\n\nbuild/\n' > patterns
	expect_exit 0 "$COFFER" init --name-by count || return 1

	n=0
	# options | files expected in the snapshot (sorted, files only)
	while IFS='|' read -r opts want; do
		n=$((n + 1))
		# shellcheck disable=SC2086
		expect_exit 0 "$COFFER" backup $opts t || return 1
		expect_exit 0 "$COFFER" ls --json "$n" || return 1
		got=$(jq -r '.entries[] | select(.type == "file") | .path' out |
		    sort | tr '\n' ' ' | sed 's/ $//')
		want=$(printf '%s\n' $want | sort | tr '\n' ' ' | sed 's/ $//')
		[ "$got" = "$want" ] || fail "row $n ($opts):" \
		    "got [$got]" "want [$want]" || return 1
	done <<'ROWS'
--exclude *.o|t/top.txt t/a/one.c t/a/b/two.c t/build/out t/build/sub/more t/cache/CACHEDIR.TAG t/cache/blob t/deep/x/y/cache.db t/deep/x/y/z.c t/big.bin
--exclude *.o --exclude !keep.o|t/top.txt t/a/one.c t/a/b/two.c t/build/out t/build/sub/more t/cache/CACHEDIR.TAG t/cache/blob t/deep/x/y/cache.db t/deep/x/y/z.c t/big.bin t/keep/keep.o
--exclude build/|t/top.txt t/top.o t/a/one.o t/a/one.c t/a/b/two.o t/a/b/two.c t/cache/CACHEDIR.TAG t/cache/blob t/keep/keep.o t/deep/x/y/cache.db t/deep/x/y/z.c t/big.bin
--exclude /t/a|t/top.txt t/top.o t/build/out t/build/sub/more t/cache/CACHEDIR.TAG t/cache/blob t/keep/keep.o t/deep/x/y/cache.db t/deep/x/y/z.c t/big.bin
--exclude t/**/y|t/top.txt t/top.o t/a/one.o t/a/one.c t/a/b/two.o t/a/b/two.c t/build/out t/build/sub/more t/cache/CACHEDIR.TAG t/cache/blob t/keep/keep.o t/big.bin
--exclude **/*.db --exclude a/b|t/top.txt t/top.o t/a/one.o t/a/one.c t/build/out t/build/sub/more t/cache/CACHEDIR.TAG t/cache/blob t/keep/keep.o t/deep/x/y/z.c t/big.bin
--exclude-caches|t/top.txt t/top.o t/a/one.o t/a/one.c t/a/b/two.o t/a/b/two.c t/build/out t/build/sub/more t/cache/CACHEDIR.TAG t/keep/keep.o t/deep/x/y/cache.db t/deep/x/y/z.c t/big.bin
--exclude-larger-than 100K|t/top.txt t/top.o t/a/one.o t/a/one.c t/a/b/two.o t/a/b/two.c t/build/out t/build/sub/more t/cache/CACHEDIR.TAG t/cache/blob t/keep/keep.o t/deep/x/y/cache.db t/deep/x/y/z.c
--exclude-file patterns|t/top.txt t/a/one.c t/a/b/two.c t/cache/CACHEDIR.TAG t/cache/blob t/deep/x/y/cache.db t/deep/x/y/z.c t/big.bin
ROWS
	# --files-from, newline- and NUL-separated.
	printf 't/top.txt\nt/a/b\n' > list
	expect_exit 0 "$COFFER" backup --files-from list || return 1
	n=$((n + 1))
	expect_exit 0 "$COFFER" ls --json "$n" || return 1
	expect_jq '[.entries[] | select(.type == "file") | .path] | sort ==
	    ["t/a/b/two.c", "t/a/b/two.o", "t/top.txt"]' out || return 1
	printf 't/keep\0t/big.bin\0' > list0
	expect_exit 0 "$COFFER" backup --files-from list0 -0 || return 1
	n=$((n + 1))
	expect_exit 0 "$COFFER" ls --json "$n" || return 1
	expect_jq '[.entries[] | select(.type == "file") | .path] | sort ==
	    ["t/big.bin", "t/keep/keep.o"]' out || return 1

	# --one-file-system: a tmpfs mounted inside is kept as an empty folder.
	is_root || fail "needs root to mount a file system" || return 1
	mkdir -p fs/mnt && printf 'here\n' > fs/file || return 1
	mount -t tmpfs -o size=1m tmpfs fs/mnt || fail "cannot mount" || return 1
	printf 'elsewhere\n' > fs/mnt/other
	"$COFFER" backup -x fs > out 2> err
	rc=$?
	"$COFFER" ls --json latest > ls.json 2>> err
	umount fs/mnt
	[ "$rc" -eq 0 ] || fail "backup -x exited $rc: $(cat err)" || return 1
	expect_jq '[.entries[].path] | sort == ["fs", "fs/file", "fs/mnt"]' \
	    ls.json || return 1

	# Bad sizes and a missing exclude file are usage errors / errors.
	expect_exit 2 "$COFFER" backup --exclude-larger-than 12Q t || return 1
	expect_exit 1 "$COFFER" backup --exclude-file no-such-file t || return 1
	expect_grep "no-such-file" err || return 1
}
