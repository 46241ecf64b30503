# SPDX-License-Identifier: ISC
# tests/integration/13-unreadable.sh
# Goal: files the user cannot read do not stop a backup: it stores the
# rest, names each unreadable path on stderr, and exits 3.  As root the
# scenario runs coffer as nobody (uid 65534), since root reads everything.
scenario() {
	if is_root; then
		need_cmd setpriv || return 1
		# nobody must own the scratch area and reach the binary.
		mkdir bin && cp "$COFFER" bin/coffer &&
		    chmod 755 bin bin/coffer || return 1
		COFFER=$PWD/bin/coffer
	fi

	mkdir -p src/sub src/locked || return 1
	echo "readable" >src/ok.txt || return 1
	echo "also readable" >src/sub/ok2.txt || return 1
	echo "secret" >src/secret.txt || return 1
	echo "hidden" >src/locked/inside.txt || return 1
	chmod 000 src/secret.txt src/locked || return 1
	if is_root; then
		chown -R 65534:65534 . || return 1
	elif cat src/secret.txt >/dev/null 2>&1; then
		fail "mode 000 does not stop this user from reading" || return 1
	fi

	expect_exit 0 as_user "$COFFER" init || return 1
	expect_exit 3 as_user "$COFFER" backup src || return 1
	expect_grep 'src/secret\.txt' err || return 1
	expect_grep 'src/locked' err || return 1

	# The snapshot exists and holds everything that was readable.
	expect_exit 0 as_user "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots | length == 1' out || return 1
	expect_exit 0 as_user "$COFFER" restore latest --target rst || return 1
	expect_same src/ok.txt rst/src/ok.txt || return 1
	expect_same src/sub/ok2.txt rst/src/sub/ok2.txt || return 1
	[ ! -e rst/src/secret.txt ] ||
	    fail "an unreadable file was restored" || return 1
	[ ! -e rst/src/locked/inside.txt ] ||
	    fail "a file of an unreadable directory was restored" || return 1

	# Restore what can be restored as root too, then clean up as root.
	chmod 755 src/locked && chmod 644 src/secret.txt
}
