# SPDX-License-Identifier: ISC
# tests/integration/26-metadata.sh
# Goal: the metadata beyond owner, mode and times survives a backup:
# POSIX ACLs (access, and default on a folder), a file capability,
# trusted.*, security.* and user.* attributes, and inode flags (immutable,
# append-only, nodump, noatime, sync; an immutable folder with files in
# it).  Restored as root, every item comes back (compared item by item
# with getfacl, getcap, getfattr and lsattr).  Restored as an unprivileged
# user, what the user may set comes back (user.*, ACLs, nodump, noatime)
# and what only root may set is named once per kind, with a count, not
# once per file.  Restored onto tmpfs, which lacks the sync flag, one
# warning says so.  Needs root; fails rather than skips without it.

cleanup()
{
	[ -d src ] && chattr -R -i -a src 2>/dev/null
	[ -d rst ] && chattr -R -i -a rst 2>/dev/null
	[ -d urst ] && chattr -R -i -a urst 2>/dev/null
	if [ -n "${tmpfs_mounted:-}" ]; then
		chattr -R -i -a tfs 2>/dev/null
		umount tfs
	fi
}

# same_meta ITEM: ITEM has the same ACLs, capabilities, attributes and
# inode flags under src/ and under $rdir/src/ (one line per item).
same_meta()
{
	_ok=1
	(cd src && getfacl -n -p -- "$1") >m.want 2>&1
	(cd "$rdir/src" && getfacl -n -p -- "$1") >m.got 2>&1
	cmp -s m.want m.got || { _ok=; note "$1: ACL differs"; diff m.want m.got >&2; }
	(cd src && getfattr -h -d -m - -e hex -- "$1") >m.want 2>&1
	(cd "$rdir/src" && getfattr -h -d -m - -e hex -- "$1") >m.got 2>&1
	cmp -s m.want m.got || { _ok=; note "$1: attributes differ"; diff m.want m.got >&2; }
	(cd src && getcap -- "$1") >m.want 2>&1
	(cd "$rdir/src" && getcap -- "$1") >m.got 2>&1
	cmp -s m.want m.got || { _ok=; note "$1: capabilities differ"; diff m.want m.got >&2; }
	(cd src && lsattr -d -- "$1") >m.want 2>&1
	(cd "$rdir/src" && lsattr -d -- "$1") >m.got 2>&1
	cmp -s m.want m.got || { _ok=; note "$1: inode flags differ"; diff m.want m.got >&2; }
	if [ -n "$_ok" ]; then
		note "ok: $1 (ACL, attributes, capabilities, flags)"
		return 0
	fi
	fail "$1: metadata not restored exactly under $rdir"
}

# flags_of PATH: the lsattr flag letters of PATH (no dashes, no 'e').
flags_of()
{
	lsattr -d -- "$1" | awk '{ print $1 }' | tr -d -- '-e'
}

scenario() {
	is_root || fail "needs root to set trusted.* attributes, capabilities" \
	    "and the immutable flag" || return 1
	need_cmd setfacl getfacl setcap getcap chattr lsattr getfattr \
	    setfattr setpriv mount umount jq || return 1
	trap cleanup EXIT
	trap 'exit 1' INT TERM

	mkdir -p src/acldir src/immdir src/plain || return 1
	echo acl >src/acl.txt && echo acl-inner >src/acldir/inner.txt &&
	    setfacl -m u:1234:rw-,g:2345:r-- src/acl.txt &&
	    setfacl -m u:1234:rwx src/acldir &&
	    setfacl -d -m u:1234:r-x,g:2345:r-x src/acldir &&
	    echo inherits >src/acldir/later.txt || return 1
	cp "$(command -v ls)" src/ping && setcap cap_net_raw+ep src/ping ||
	    return 1
	echo t >src/trusted.txt && setfattr -n trusted.coffer -v t-val \
	    src/trusted.txt && setfattr -n trusted.two -v 2 src/acl.txt ||
	    return 1
	echo s >src/security.txt && setfattr -n security.coffer -v s-val \
	    src/security.txt || return 1
	echo u >src/user.txt && setfattr -n user.note -v hello src/user.txt &&
	    setfattr -n user.note -v ro src/plain || return 1
	# A read-only file's user.* attribute needs write permission.
	echo ro >src/readonly.txt && setfattr -n user.ro -v yes \
	    src/readonly.txt && chmod 444 src/readonly.txt || return 1
	echo i >src/imm.txt && echo a >src/app.txt && echo d >src/nodump.txt &&
	    echo A >src/noatime.txt && echo S >src/sync.txt &&
	    echo mixed >src/mixed.txt && echo linked >src/link1 &&
	    ln src/link1 src/link2 &&
	    echo f1 >src/immdir/f1 && echo f2 >src/immdir/f2 || return 1
	chattr +d src/nodump.txt && chattr +A src/noatime.txt &&
	    chattr +S src/sync.txt && chattr +d src/plain &&
	    chattr +i src/imm.txt && chattr +a src/app.txt &&
	    chattr +S +d +i src/mixed.txt && chattr +i src/link1 &&
	    chattr +i src/immdir || return 1
	[ "$(flags_of src/imm.txt)" = i ] ||
	    fail "chattr +i did not take here: $(lsattr -d src/imm.txt)" ||
	    return 1
	items="acl.txt acldir acldir/inner.txt acldir/later.txt ping
	    trusted.txt security.txt user.txt readonly.txt plain imm.txt
	    app.txt nodump.txt noatime.txt sync.txt mixed.txt link1 link2 immdir
	    immdir/f1 immdir/f2"

	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1

	# ---- as root: everything comes back -----------------------------
	expect_exit 0 "$COFFER" restore latest --target rst || return 1
	expect_no_grep 'could not be restored|cannot set' err || return 1
	rdir=rst
	bad=0
	for it in $items; do
		same_meta "$it" || bad=$((bad + 1))
	done
	[ "$bad" -eq 0 ] || fail "$bad items lost metadata as root" || return 1
	expect_same src/immdir/f1 rst/src/immdir/f1 || return 1
	# An immutable file takes no new link: its flag waits for the links.
	[ "$(stat -c %i rst/src/link1)" = "$(stat -c %i rst/src/link2)" ] ||
	    fail "immutable hard links restored as copies" || return 1
	expect_same src/app.txt rst/src/app.txt || return 1
	# The capability works as such, not just as bytes.
	getcap rst/src/ping | grep -q 'cap_net_raw[=+]ep' ||
	    fail "restored ping lost cap_net_raw: $(getcap rst/src/ping)" ||
	    return 1

	# ---- diff names a change of flags or ACL alone --------------------
	s1=$("$COFFER" snapshots --json | jq -r '.snapshots[-1].name')
	chattr +d src/user.txt && setfacl -m u:4321:r-- src/acl.txt || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	s2=$("$COFFER" snapshots --json | jq -r '.snapshots[-1].name')
	expect_exit 0 "$COFFER" diff --json "$s1" "$s2" || return 1
	expect_jq '[.changes[] | select(.path == "src/user.txt")] ==
	    [{"path": "src/user.txt", "change": "metadata", "type": "file",
	    "what": ["iflags"]}]' out || return 1
	expect_jq '[.changes[] | select(.path == "src/acl.txt") | .what] ==
	    [["xattrs"]]' out || return 1
	chattr -d src/user.txt && setfacl -x u:4321 src/acl.txt || return 1

	# ---- onto tmpfs: no sync flag there ------------------------------
	mkdir tfs && mount -t tmpfs -o size=16m,mode=755 coffer-test tfs ||
	    fail "cannot mount a tmpfs" || return 1
	tmpfs_mounted=1
	expect_exit 0 "$COFFER" restore latest --target tfs/r || return 1
	cp err tmpfs.err
	expect_grep "inode flags of 2 files could not be restored: the target file system does not support them \(the first: 'src/mixed.txt'\)" tmpfs.err ||
	    return 1
	n=$(grep -c 'could not be restored' tmpfs.err)
	[ "$n" -eq 1 ] || fail "$n 'could not be restored' lines on tmpfs," \
	    "want 1" || return 1
	# The flags tmpfs has still came back.
	[ "$(flags_of tfs/r/src/imm.txt)" = i ] &&
	    [ "$(flags_of tfs/r/src/immdir)" = i ] &&
	    [ "$(flags_of tfs/r/src/nodump.txt)" = d ] &&
	    [ "$(flags_of tfs/r/src/mixed.txt)" = id ] ||
	    fail "tmpfs lost flags it supports" || return 1
	note "ok: onto tmpfs, one warning for inode flags (sync); i, d set"

	# ---- as an unprivileged user -------------------------------------
	mkdir bin && cp "$COFFER" bin/coffer && chmod 755 bin bin/coffer ||
	    return 1
	for d in repo keystore home xdg; do
		[ ! -e "$d" ] || chown -R 65534:65534 "$d" || return 1
	done
	mkdir urst && chown 65534:65534 urst || return 1
	# The first snapshot: src/ is as it was then.
	expect_exit 0 as_user "$PWD/bin/coffer" restore "$s1" --target urst ||
	    return 1
	cp err user.err
	# One warning per kind, with the count of files.
	expect_grep "^.*trusted\.\* attributes of 2 files could not be restored: only root may set them" user.err ||
	    return 1
	expect_grep "security\.\* attributes of 1 file could not be restored: only root may set them" user.err ||
	    return 1
	expect_grep "file capabilities of 1 file could not be restored: only root may set them" user.err ||
	    return 1
	expect_grep "inode flags of 5 files could not be restored: only root may set the immutable, append-only and data-journalling flags \(the first: 'src/app.txt'\)" user.err ||
	    return 1
	n=$(grep -c 'could not be restored' user.err)
	[ "$n" -eq 4 ] || fail "$n 'could not be restored' lines, want 4" ||
	    return 1
	expect_no_grep 'cannot set' user.err || return 1
	# What the user may set landed.
	rdir=urst
	for it in acl.txt acldir acldir/inner.txt acldir/later.txt user.txt \
	    readonly.txt; do
		# Owners differ (the user's own); compare what is not owner.
		(cd src && getfacl -n -p --omit-header -- "$it") >m.want
		(cd urst/src && getfacl -n -p --omit-header -- "$it") >m.got
		cmp -s m.want m.got || fail "ACL of $it not restored as user:" \
		    "$(diff m.want m.got)" || return 1
	done
	[ "$(getfattr --only-values -n user.note urst/src/user.txt)" = hello ] ||
	    fail "user.* attribute not restored as user" || return 1
	[ "$(getfattr --only-values -n user.ro urst/src/readonly.txt)" = yes ] ||
	    fail "user.* attribute of a read-only file not restored" ||
	    return 1
	[ "$(flags_of urst/src/nodump.txt)" = d ] &&
	    [ "$(flags_of urst/src/noatime.txt)" = A ] &&
	    [ "$(flags_of urst/src/sync.txt)" = S ] &&
	    [ "$(flags_of urst/src/plain)" = d ] &&
	    [ "$(flags_of urst/src/mixed.txt)" = Sd ] ||
	    fail "a flag the owner may set was not restored as user" ||
	    return 1
	[ "$(flags_of urst/src/imm.txt)" = "" ] ||
	    fail "immutable set by a user?" || return 1
	getfattr -d -m 'trusted\.' urst/src/trusted.txt 2>/dev/null |
	    grep -q trusted && fail "trusted.* set as a user?" && return 1
	expect_same src/immdir/f2 urst/src/immdir/f2 || return 1
	note "ok: as a user, one warning per kind; user.*, ACLs, d A S set"

}
