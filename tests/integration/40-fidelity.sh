# SPDX-License-Identifier: ISC
# tests/integration/40-fidelity.sh
# Goal: everything a Linux file system holds comes back (issue #16), in one
# tree: a folder 10,000 levels deep, access and default ACLs, a file
# capability, user.*, trusted.* and security.* xattrs, inode flags
# (immutable, append-only, nodump, noatime, on files and on a folder with
# files inside), a 5 GiB sparse file with 3 MiB of data, and a file that is
# appended to while the backup reads it.  Backed up once, restored as root
# and as an unprivileged user, and compared item by item: each item is
# reported ("item NAME: ok" or "FAIL: item NAME: …") and any failure fails
# the scenario.  The unprivileged restore must land what a user may set
# (content, ACLs, user.* xattrs, nodump/noatime) and say once per kind what
# it could not (capabilities, trusted.*/security.* xattrs, immutable and
# append-only), never once per file.
#
# Depth under ASan is 2,000 (its frames are larger; the depth still is
# twice what crashed the recursive walk).

DEPTH=${FIDELITY_DEPTH:-10000}

# tree_py: the deep tree and the comparisons, with explicit stacks (no
# recursion: neither Python's limit nor the C stack may decide).
tree_py()
{
	python3 - "$@" <<'EOF'
import os, stat, sys, hashlib

def mkdeep(top, depth):
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(depth):
        name = "d%d" % (i % 10)
        os.mkdir(name, dir_fd=fd)
        if i % 1000 == 0:
            f = os.open("level%d" % i, os.O_WRONLY | os.O_CREAT, 0o640,
                        dir_fd=fd)
            os.write(f, b"level %d\n" % i)
            os.close(f)
        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    f = os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
    os.write(f, b"the bottom of the tree\n" * 100)
    os.close(f)
    os.symlink("bottom", "link", dir_fd=fd)
    os.close(fd)

def walk(top):
    """Every entry below top: relative path -> (type, mode, mtime, data)."""
    out = {}
    stack = [(os.open(top, os.O_RDONLY | os.O_DIRECTORY), "")]
    while stack:
        fd, rel = stack.pop()
        for name in sorted(os.listdir(fd)):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            r = rel + "/" + name if rel else name
            m = st.st_mode
            if stat.S_ISDIR(m):
                out[r] = ("d", stat.S_IMODE(m), st.st_mtime_ns, None)
                stack.append((os.open(name, os.O_RDONLY | os.O_DIRECTORY,
                                      dir_fd=fd), r))
            elif stat.S_ISLNK(m):
                out[r] = ("l", 0, st.st_mtime_ns,
                          os.readlink(name, dir_fd=fd))
            else:
                f = os.open(name, os.O_RDONLY, dir_fd=fd)
                h = hashlib.sha256()
                while True:
                    b = os.read(f, 1 << 20)
                    if not b:
                        break
                    h.update(b)
                os.close(f)
                out[r] = ("f", stat.S_IMODE(m), st.st_mtime_ns, h.hexdigest())
        os.close(fd)
    return out

def cmpdeep(a, b):
    wa, wb = walk(a), walk(b)
    bad = [k for k in sorted(set(wa) | set(wb)) if wa.get(k) != wb.get(k)]
    for k in bad[:5]:
        print("%s: %r != %r" % (k[-80:], wa.get(k), wb.get(k)))
    print("%d entries compared, %d differ" % (len(wa), len(bad)))
    return 1 if bad or len(wa) < 2 else 0

def blocks(path):
    """Non-zero 4 KiB blocks of a file, found through SEEK_DATA."""
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    out = {}
    off = 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        d -= d % 4096
        os.lseek(fd, d, os.SEEK_SET)
        while d < h:
            b = os.read(fd, 4096)
            if not b:
                break
            if b.count(0) != len(b):
                out[d] = hashlib.sha256(b).hexdigest()
            d += len(b)
        off = h
    os.close(fd)
    return size, out

def cmpsparse(a, b):
    sa, ba = blocks(a)
    sb, bb = blocks(b)
    print("sizes %d %d, data blocks %d %d" % (sa, sb, len(ba), len(bb)))
    return 0 if sa == sb and ba == bb and len(ba) > 0 else 1

cmd = sys.argv[1]
if cmd == "mkdeep":
    mkdeep(sys.argv[2], int(sys.argv[3]))
elif cmd == "cmpdeep":
    sys.exit(cmpdeep(sys.argv[2], sys.argv[3]))
elif cmd == "cmpsparse":
    sys.exit(cmpsparse(sys.argv[2], sys.argv[3]))
EOF
}

# item NAME CMD...: run one comparison; report it; remember a failure.
item()
{
	_name=$1
	shift
	if "$@" >item.out 2>&1; then
		note "item $_name: ok"
	else
		fail "item $_name:" "$(head -c 1500 item.out)"
		bad_items="$bad_items $_name"
	fi
}

# Per-item views of a tree, with the root cut off so two trees compare.
acls()
{
	(cd "$1" && getfacl -R -p --omit-header acl 2>&1)
}
caps()
{
	(cd "$1" && getcap cap/ping cap/plain 2>&1)
}
xattrs_all()
{
	(cd "$1" && getfattr -R -h -d -m - -e hex xattr 2>&1)
}
xattrs_user()
{
	(cd "$1" && getfattr -R -h -d -m '^user\.' -e hex xattr 2>&1)
}
flags()
{
	(cd "$1" && lsattr -d flags flags/* flags/locked/* 2>&1)
}
same_output()
{
	"$1" "$2" >view.a && "$1" "$3" >view.b &&
	    diff view.a view.b && [ -s view.a ]
}

# flags_user_view DIR: the inode flags an unprivileged restore can set,
# nodump (d) and noatime (A); not immutable (i) or append-only (a).
flags_user_view()
{
	flags "$1" | awk '{ f = $1; gsub(/[^dA-]/, "-", f); print f, $2 }'
}

build_tree()
{
	mkdir -p src/acl/dir src/cap src/xattr src/flags/locked || return 1
	# The deep tree and an exclusion that only matches its deepest part.
	tree_py mkdeep src/deep "$DEPTH" || return 1

	# ACLs: access on a file and a folder, default on a folder.
	echo "acl file" >src/acl/file || return 1
	setfacl -m u:65534:r,g:65534:rw,m:rw src/acl/file &&
	    setfacl -m u:65534:rx src/acl/dir &&
	    setfacl -d -m u:65534:rwx,g::r src/acl/dir || return 1
	echo "inherits" >src/acl/dir/inner || return 1

	# A capability on a copy of a program, and a plain copy next to it.
	cp /bin/true src/cap/ping && cp /bin/true src/cap/plain &&
	    setcap cap_net_raw+ep src/cap/ping || return 1

	# Each namespace a backup may keep.
	echo "attributes" >src/xattr/file && mkdir src/xattr/dir || return 1
	for p in src/xattr/file src/xattr/dir; do
		setfattr -n user.colour -v blue "$p" &&
		    setfattr -n trusted.origin -v "card-7" "$p" &&
		    setfattr -n security.label -v "secret" "$p" || return 1
	done

	# Inode flags; immutable and append-only last of all.
	echo "immutable" >src/flags/imm && echo "append" >src/flags/app &&
	    echo "nodump" >src/flags/nodump &&
	    echo "noatime" >src/flags/noatime &&
	    echo "inside" >src/flags/locked/inside || return 1
	chattr +d src/flags/nodump && chattr +A src/flags/noatime &&
	    chattr +a src/flags/app && chattr +i src/flags/imm &&
	    chattr +i src/flags/locked || return 1

	# 5 GiB with 3 MiB of data: at the start, in the middle, at the end.
	truncate -s 5G src/sparse && head -c 1048576 /dev/urandom |
	    dd of=src/sparse conv=notrunc status=none &&
	    head -c 1048576 /dev/urandom | dd of=src/sparse bs=1M \
	    seek=2600 conv=notrunc status=none &&
	    head -c 1048576 /dev/urandom | dd of=src/sparse bs=1M \
	    seek=5119 conv=notrunc status=none || return 1

	# The file that grows during the backup: big enough to be read for a
	# while, and written to until the backup ends.
	head -c 100000000 /dev/urandom >src/growing
}

unlock_all()
{
	for d in src rst rst-user; do
		[ -d "$d/flags" ] || [ -d "$d/src/flags" ] || continue
		chattr -R -i -a "$d" 2>/dev/null
	done
	return 0
}

scenario() {
	is_root || fail "the fidelity tree needs root (capabilities," \
	    "trusted.* attributes, immutable files)" || return 1
	need_cmd python3 setfacl getfacl setcap getcap setfattr getfattr \
	    chattr lsattr setpriv || return 1
	case $COFFER in
	*asan*) DEPTH=${FIDELITY_DEPTH:-2000} ;;
	esac
	bad_items=
	build_tree || { unlock_all; return 1; }

	expect_exit 0 "$COFFER" init --no-password || { unlock_all; return 1; }
	# Append to src/growing until the backup is over.
	(while [ ! -e backup.done ]; do
		head -c 65536 /dev/urandom >>src/growing
	done) &
	writer=$!
	last_status=0
	"$COFFER" backup --json src >backup.json 2>backup.err ||
	    last_status=$?
	touch backup.done
	wait "$writer"
	cat backup.err >&2
	# A torn file is named, counted, and the status says so.
	item backup-status [ "$last_status" -eq 3 ]
	item growing-warned grep -q "src/growing.*changed" backup.err
	item growing-counted jq -e '.changed_while_read == 1' backup.json

	expect_exit 0 "$COFFER" check --read-data || { unlock_all; return 1; }

	# ---- restore as root ----
	expect_exit 0 "$COFFER" restore latest --target rst ||
	    { unlock_all; return 1; }
	item deep tree_py cmpdeep src/deep rst/src/deep
	item acl same_output acls src rst/src
	item capability same_output caps src rst/src
	item xattrs same_output xattrs_all src rst/src
	item flags same_output flags src rst/src
	item sparse-content tree_py cmpsparse src/sparse rst/src/sparse
	item sparse-holes [ "$(du -k rst/src/sparse | cut -f1)" -lt 65536 ]
	# What was stored of the growing file is a prefix of it: whole
	# appends, never torn bytes.
	item growing-prefix cmp -n "$(file_size rst/src/growing)" \
	    rst/src/growing src/growing

	# ---- restore as nobody, from a copy nobody owns ----
	mkdir user && cp -a "$COFFER_REPO" user/repo &&
	    cp -a "$COFFER_KEYSTORE" user/keystore && mkdir user/home &&
	    mkdir user/bin && cp "$COFFER" user/bin/coffer &&
	    chown -R 65534:65534 user && chmod 755 user user/bin ||
	    { unlock_all; return 1; }
	last_status=0
	HOME=$PWD/user/home COFFER_REPO=$PWD/user/repo \
	    COFFER_KEYSTORE=$PWD/user/keystore \
	    XDG_CACHE_HOME=$PWD/user/home/.cache \
	    XDG_CONFIG_HOME=$PWD/user/home/.config \
	    as_user user/bin/coffer restore latest --target "$PWD/user/rst" \
	    >user.out 2>user.err || last_status=$?
	cat user.err >&2
	item user-status [ "$last_status" -eq 0 ] || [ "$last_status" -eq 3 ]
	item user-deep tree_py cmpdeep src/deep user/rst/src/deep
	item user-acl same_output acls src user/rst/src
	item user-sparse tree_py cmpsparse src/sparse user/rst/src/sparse
	item user-xattrs same_output xattrs_user src user/rst/src
	item user-flags same_output flags_user_view src user/rst/src
	# One line per kind, with a count, never one per file.
	item user-warn-caps grep -c -i "capabilit" user.err
	item user-warn-once [ "$(grep -c 'warning' user.err)" -le 5 ]

	chattr -R -i -a src rst user/rst 2>/dev/null
	[ -z "$bad_items" ] || fail "items that did not come back:$bad_items"
}
