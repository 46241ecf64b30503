# SPDX-License-Identifier: ISC
# tests/integration/42-mount.sh
# Goal: coffer mount (issue #19, part 1).  A snapshot of the gentree tree
# (every kind of entry, owners, modes, nanosecond times, symlinks, hard
# links, xattrs, device nodes) mounted read-only compares equal to its
# source (treecmp: content, modes, owners, times, links, user.* xattrs);
# snapshots/, latest, hosts/ and tags/ show what they should, two
# snapshots side by side show their own content; reading 4 KiB in the
# middle of a 64 MiB file reads about one chunk from the card (counted by
# /proc/PID/io of the coffer process), not the file; nothing can be
# written; --tag shows only the snapshots it selects; a recovery
# passphrase without the keystore mounts too; the mount ends cleanly
# (status 0, mount point released) on SIGINT and on fusermount3 -u, also
# while a reader is busy in a large file.  --cache-size bounds the
# memory: reading the whole 64 MiB file through a 32 MiB cache raises
# the process's peak RSS (VmHWM) by less than 46 MiB, through the
# default 64 MiB cache by more than 48 MiB and less than 96 MiB.  Host names
# with '/' or '%', and "..", appear in hosts/ escaped (%2F, %25, %2E),
# each holding its snapshot.
# With escrow custody the key is released once, when the mount starts
# (one audited release for a mount that reads many files; every custody
# in 45-mount-custody).

# start_mount DIR [ARG...]: coffer mount -f in the background; $mpid.
start_mount()
{
	_dir=$1
	shift
	printf '$ coffer mount -f %s %s &\n' "$*" "$_dir" >&2
	"$COFFER" mount -f "$@" "$_dir" >mount.out 2>mount.err &
	mpid=$!
	wait_for "mountpoint -q '$_dir'" 20 || { cat mount.err >&2; return 1; }
}

# stop_mount DIR HOW: end the mount by "int" (SIGINT) or "umount"
# (fusermount3 -u, lazily if busy); the process exits 0, DIR is free.
stop_mount()
{
	case $2 in
	int)	kill -INT "$mpid" ;;
	umount)	fusermount3 -u "$1" 2>/dev/null || fusermount3 -u -z "$1" ;;
	esac
	_st=0
	wait "$mpid" || _st=$?
	[ "$_st" -eq 0 ] || fail "coffer mount ended with status $_st" ||
	    { cat mount.err >&2; return 1; }
	! mountpoint -q "$1" || fail "$1 is still mounted" || return 1
	grep -Eq 'Sanitizer|runtime error' mount.err &&
	    { fail "sanitizer report:"; cat mount.err >&2; return 1; }
	return 0
}

# xattr_dump DIR: every extended attribute below DIR (getxattr, links
# not followed), one "path name value-hex" line each, sorted.
xattr_dump()
{
	python3 - "$1" <<'PY'
import os, sys
top = sys.argv[1]
out = []
for d, dirs, files in os.walk(top):
    for n in dirs + files:
        p = os.path.join(d, n)
        for a in os.listxattr(p, follow_symlinks=False):
            v = os.getxattr(p, a, follow_symlinks=False)
            out.append("%r %s %s" % (os.path.relpath(p, top).encode(
                "utf-8", "surrogateescape"), a, v.hex()))
print("\n".join(sorted(out)))
PY
}

# hwm PID: the process's peak resident set (VmHWM), in KiB.
hwm()
{
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# with_host HOST CMD...: run CMD with the host name HOST (a UTS
# namespace of its own; sethostname takes any bytes, hostname(1) not).
with_host()
{
	unshare --uts python3 -c 'import os, socket, sys
socket.sethostname(sys.argv[1])
os.execvp(sys.argv[2], sys.argv[2:])' "$@"
}

# rchar PID: bytes the process has read (read(2), pread(2)) so far.
rchar()
{
	awk '/^rchar:/ { print $2 }' "/proc/$1/io"
}

scenario() {
	need_cmd fusermount3 mountpoint getfattr jq || return 1
	[ -e /dev/fuse ] || fail "needs /dev/fuse" || return 1
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	"$HELPERS/gentree" src || return 1
	head -c 67108864 /dev/urandom > big || return 1
	mkdir mnt mnt2
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup --tag first src || return 1
	cp -a src src1 || return 1
	printf 'changed\n' > src/changed-file
	expect_exit 0 "$COFFER" backup --tag second,keep src big || return 1

	# ASan's quarantine would keep what is freed: small while the peak
	# RSS is measured (here and with --cache-size below).
	ao=${ASAN_OPTIONS:-}
	ASAN_OPTIONS="${ao:+$ao:}quarantine_size_mb=1"
	export ASAN_OPTIONS
	start_mount mnt || return 1
	ASAN_OPTIONS=$ao
	hwm0=$(hwm "$mpid")
	# The layout.
	[ "$(readlink mnt/latest)" = snapshots/2 ] ||
	    fail "latest is '$(readlink mnt/latest)'" || return 1
	[ "$(ls mnt/snapshots | tr '\n' ' ')" = "1 2 " ] ||
	    fail "snapshots/ holds: $(ls mnt/snapshots)" || return 1
	[ "$(ls mnt/tags | tr '\n' ' ')" = "first keep second " ] ||
	    fail "tags/ holds: $(ls mnt/tags)" || return 1
	[ "$(ls mnt/tags/keep)" = 2 ] || fail "tags/keep is wrong" || return 1
	[ "$(ls "mnt/hosts/$(hostname)" | tr '\n' ' ')" = "1 2 " ] ||
	    fail "hosts/$(hostname) is wrong" || return 1
	# Fidelity: each snapshot equals its source, side by side.
	expect_tree src1 mnt/snapshots/1/src --no-sparse || return 1
	expect_tree src mnt/snapshots/2/src --no-sparse || return 1
	expect_tree src mnt/latest/src --no-sparse || return 1
	expect_tree src mnt/tags/keep/2/src --no-sparse || return 1
	[ ! -e mnt/snapshots/1/src/changed-file ] ||
	    fail "snapshot 1 shows a file of snapshot 2" || return 1
	# xattrs through getxattr, hard link counts as stored.
	xattr_dump src1 >xa.src || return 1
	xattr_dump mnt/snapshots/1/src >xa.mnt || return 1
	[ -s xa.src ] || fail "gentree made no xattrs" || return 1
	cmp xa.src xa.mnt >&2 || fail "xattrs differ" || return 1
	find src1 -type f -links +1 -printf '%P %n\n' | sort >links.src
	(cd mnt/snapshots/1/src && find . -type f -links +1 -printf '%P %n\n') |
	    sed 's|^\./||' | sort >links.mnt
	[ -s links.src ] || fail "gentree made no hard links" || return 1
	cmp links.src links.mnt >&2 || fail "hard link counts differ" ||
	    return 1
	# Read-only.
	if touch mnt/snapshots/2/src/new 2>/dev/null ||
	    printf x >> mnt/snapshots/2/big 2>/dev/null; then
		fail "a write into the mount succeeded"
		return 1
	fi
	# 4 KiB in the middle of a 64 MiB file reads about one chunk.
	cmp mnt/snapshots/2/src/changed-file src/changed-file || return 1
	before=$(rchar "$mpid")
	dd if=mnt/snapshots/2/big of=mid bs=4096 skip=8192 count=1 \
	    2>/dev/null || return 1
	after=$(rchar "$mpid")
	dd if=big of=mid.want bs=4096 skip=8192 count=1 2>/dev/null
	expect_same mid.want mid || return 1
	note "4 KiB read: $((after - before)) bytes read by coffer mount"
	[ $((after - before)) -gt 4096 ] ||
	    fail "the read did not reach the card (counter broken?)" ||
	    return 1
	[ $((after - before)) -lt 16777216 ] ||
	    fail "4 KiB read $((after - before)) bytes from the card" ||
	    return 1
	# Random reads elsewhere are right too.
	for blk in 1 5000 16383 9999; do
		dd if=mnt/snapshots/2/big bs=4096 skip=$blk count=1 \
		    2>/dev/null | cmp - "$(dd if=big bs=4096 skip=$blk \
		    count=1 2>/dev/null > want.$blk; echo want.$blk)" ||
		    fail "block $blk differs" || return 1
	done
	expect_same big mnt/snapshots/2/big || return 1
	# The default cache (64 MiB) filled: the peak RSS shows it.
	grow_64M=$(($(hwm "$mpid") - hwm0))
	note "default cache: VmHWM grew by $grow_64M KiB"
	stop_mount mnt int || return 1

	# Filters: only the tagged snapshot; two mounts side by side.
	start_mount mnt --tag first || return 1
	mpid1=$mpid
	start_mount mnt2 --tag keep || return 1
	[ "$(ls mnt/snapshots)" = 1 ] && [ "$(ls mnt2/snapshots)" = 2 ] ||
	    fail "--tag mounts show the wrong snapshots" || return 1
	[ "$(readlink mnt/latest)" = snapshots/1 ] || fail "latest of" \
	    "a --tag first mount is '$(readlink mnt/latest)'" || return 1
	# Unmount under load: a reader busy in the large file.
	( while :; do cat mnt2/snapshots/2/big >/dev/null 2>&1 || exit 0; done
	) &
	rpid=$!
	sleep 1
	stop_mount mnt2 umount || return 1
	kill "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	mpid=$mpid1
	stop_mount mnt umount || return 1

	# A recovery passphrase, the keystore gone.
	printf 'correct horse battery staple 4711\n' >pp
	expect_exit 0 "$COFFER" key add-passphrase --passphrase-file pp ||
	    return 1
	mv "$COFFER_KEYSTORE" ks.away || return 1
	expect_exit 1 "$COFFER" mount -f mnt || return 1
	start_mount mnt --passphrase-file pp || return 1
	expect_tree src mnt/latest/src --no-sparse || return 1
	stop_mount mnt int || return 1
	mv ks.away "$COFFER_KEYSTORE" || return 1

	# Usage errors.
	expect_exit 2 "$COFFER" mount || return 1
	expect_exit 2 "$COFFER" mount no-such-dir || return 1
	expect_exit 2 "$COFFER" mount --cache-size 512K mnt || return 1
	expect_grep "cache-size: '512K' is not a size" err || return 1
	expect_exit 2 "$COFFER" mount --cache-size lots mnt || return 1

	# The chunk cache is bounded by --cache-size.
	ASAN_OPTIONS="${ao:+$ao:}quarantine_size_mb=1"
	export ASAN_OPTIONS
	start_mount mnt --cache-size 32M || return 1
	h0=$(hwm "$mpid")
	cat mnt/snapshots/2/big >/dev/null || return 1
	h1=$(hwm "$mpid")
	stop_mount mnt int || return 1
	note "--cache-size 32M: VmHWM $h0 KiB -> $h1 KiB reading 64 MiB"
	grow_32M=$((h1 - h0))
	ASAN_OPTIONS=$ao
	# 32 MiB of chunks, each in a buffer of its own size, plus about
	# 8: about 40 MiB (chunks kept in buffers grown by doubling, up to
	# twice their size, made it 56).
	[ "$grow_32M" -lt 47104 ] ||
	    fail "a 32 MiB cache grew by $grow_32M KiB" || return 1
	[ "$grow_64M" -gt 49152 ] && [ "$grow_64M" -lt 98304 ] ||
	    fail "the 64 MiB cache grew by $grow_64M KiB" || return 1

	# Host names that are no file names, escaped in hosts/.
	mkdir h1 h2
	printf 'slash\n' >h1/f
	printf 'dots\n' >h2/f
	expect_exit 0 with_host 'web/01%x' "$COFFER" backup h1 || return 1
	expect_exit 0 with_host .. "$COFFER" backup h2 || return 1
	start_mount mnt || return 1
	ls mnt/hosts >hosts.mnt
	grep -qx 'web%2F01%25x' hosts.mnt && grep -qx '%2E%2E' hosts.mnt &&
	    grep -qx "$(hostname)" hosts.mnt ||
	    fail "hosts/ holds: $(cat hosts.mnt)" || return 1
	[ "$(ls mnt/hosts/web%2F01%25x)" = 3 ] &&
	    [ "$(ls mnt/hosts/%2E%2E)" = 4 ] ||
	    fail "escaped hosts hold the wrong snapshots" || return 1
	expect_same h1/f mnt/hosts/web%2F01%25x/3/h1/f || return 1
	expect_same h2/f mnt/hosts/%2E%2E/4/h2/f || return 1
	stop_mount mnt int || return 1

	mount_escrow || return 1
}

# mount_escrow: a repository in escrow custody, mounted: one release.
mount_escrow()
{
	need_cmd curl openssl || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	cofferd_start srv || return 1
	COFFER_CACERT=$COFFERD_CACERT
	COFFER_REPO=$PWD/repo-escrow
	export COFFER_CACERT COFFER_REPO
	printf 'tangerine glacier oboe falcon\n' >pw.alice
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	export COFFER_ESCROW_PASSWORD_FILE
	expect_exit 0 "$COFFER" escrow register --server "$COFFERD_URL" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" escrow login --server "$COFFERD_URL" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" init --custody escrow || return 1
	expect_exit 0 "$COFFER" backup src1 || return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	rel0=$(jq '[.events[] | select(.event == "release")] | length' out)
	start_mount mnt || return 1
	expect_tree src1 mnt/latest/src1 --no-sparse || return 1
	stop_mount mnt int || return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	rel1=$(jq '[.events[] | select(.event == "release")] | length' out)
	note "releases: $rel0 before the mount, $rel1 after"
	[ "$rel1" -eq $((rel0 + 1)) ] ||
	    fail "the mount made $((rel1 - rel0)) releases, want 1" || return 1
}
