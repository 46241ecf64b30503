# SPDX-License-Identifier: ISC
# tests/integration/23-format-v1.sh
# Goal: a repository written by the coffer before bundles (pack and index
# magics CFPACK01 / CFINDX01, every blob sealed alone; FORMAT.md §16) is
# still read whole by this coffer: check --read-data finds nothing wrong,
# restore gives back the files byte for byte; a new backup into it (with
# bundles, version 2 files) sits beside the old files; forget and prune
# rewrite the old packs, and every step restores the right bytes.  It
# keeps its format (config version 1, keyinfo CFKEYI01) throughout, and a
# new key set made in it is of format version 3 (CFKEYI03).
#
# The fixture (fixtures/format-v1.tar.gz) holds the repository, its
# keystore and the files backed up ("src": 40 small text files, an empty
# file, a small one, and a 672,000-byte one), made with the coffer of
# commit 364c0f7 and COFFER_MACHINE_ID=coffer-fixture-v1.
scenario() {
	tar -xzf "$SRCDIR/tests/integration/fixtures/format-v1.tar.gz" ||
	    return 1
	COFFER_REPO=$PWD/repo COFFER_KEYSTORE=$PWD/keystore
	COFFER_MACHINE_ID=coffer-fixture-v1
	export COFFER_REPO COFFER_KEYSTORE COFFER_MACHINE_ID

	# It really is the old format.
	for f in repo/sets/*/index/* repo/sets/*/packs/*/*; do
		m=$(head -c 8 "$f")
		case $m in
		CFINDX01|CFPACK01) ;;
		*) fail "$f: magic '$m', want a version 1 file" || return 1 ;;
		esac
	done

	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_grep 'no problems found' out || return 1
	expect_exit 0 "$COFFER" restore latest --target rst1 || return 1
	expect_tree src rst1/src || return 1

	# A backup in the new format beside the old one: small files
	# changed and added go into bundles, in version 2 files.
	sleep 1
	printf 'changed\n' >>src/docs/note3.txt
	for i in 1 2 3 4 5 6; do
		printf 'new file %d\n' "$i" >"src/docs/new$i.txt"
	done
	expect_exit 0 "$COFFER" backup src || return 1
	v2=$(for f in repo/sets/*/index/*; do head -c 8 "$f"; echo; done |
	    grep -c CFINDX02)
	[ "$v2" = 1 ] || fail "want one CFINDX02 index file, found $v2" ||
	    return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_grep 'no problems found' out || return 1
	expect_exit 0 "$COFFER" restore latest --target rst2 || return 1
	expect_tree src rst2/src || return 1

	# Forget the old snapshot and prune: old packs are rewritten or
	# deleted, the new snapshot still restores exactly.
	expect_exit 0 "$COFFER" forget --keep-last 1 --prune || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_grep 'no problems found' out || return 1
	expect_exit 0 "$COFFER" restore latest --target rst3 || return 1
	expect_tree src rst3/src || return 1

	# Format version 3 (FORMAT.md §16): the old repository keeps its
	# config version and its old set its CFKEYI01 keyinfo (AD version 1)
	# through all of the above; a new set in it is CFKEYI03, and both
	# restore and check clean.
	expect_grep '^version 1$' repo/config || return 1
	for f in repo/sets/*/keyinfo; do
		[ "$(head -c 8 "$f")" = CFKEYI01 ] ||
		    fail "$f is no longer CFKEYI01" || return 1
	done
	expect_exit 0 "$COFFER" backup --scope backup src || return 1
	n3=$(for f in repo/sets/*/keyinfo; do head -c 8 "$f"; echo; done |
	    grep -c CFKEYI03)
	[ "$n3" = 1 ] || fail "want one CFKEYI03 keyinfo, found $n3" ||
	    return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_grep 'no problems found' out || return 1
	expect_exit 0 "$COFFER" restore latest --target rst4 || return 1
	expect_tree src rst4/src || return 1
}
