# SPDX-License-Identifier: ISC
# tests/integration/62-fsync-audit.sh
# Goal: what a power cut could lose is never something a later step
# depends on.  tests/harness/fsync-audit.sh runs init, backups, key
# add-passphrase, forget and prune under strace and checks that every
# X.tmp is fsynced after its last write and before its rename to X, that
# the folder is fsynced after the rename and before the step that depends
# on it (a pack before its index, an index before its snapshot or a
# prune's deletions), and that new folders are made durable.  It also
# checks itself: with fsyncs dropped from a log the audit must fail.
# strace is installed when missing (as root), never skipped.
scenario() {
	if ! command -v strace >/dev/null 2>&1; then
		is_root || fail "strace is missing and only root can" \
		    "install it (apt-get install strace)" || return 1
		note "installing strace"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends strace >apt.out 2>&1 ||
		    { apt-get update -q >>apt.out 2>&1 &&
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends strace >>apt.out 2>&1; } ||
		    { tail -n 5 apt.out >&2
		    fail "cannot install strace"; return 1; }
	fi
	rc=0
	FSYNC_AUDIT_WORK=$PWD/audit sh "$SRCDIR/tests/harness/fsync-audit.sh" \
	    "${COFFER%/*}" >audit.out 2>&1 || rc=$?
	cat audit.out >&2
	[ "$rc" -eq 0 ] || fail "fsync audit failed (exit $rc)" || return 1
	expect_grep '^PASS: ' audit.out
}
