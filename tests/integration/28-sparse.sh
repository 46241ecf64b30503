# SPDX-License-Identifier: ISC
# tests/integration/28-sparse.sh
# Goal (issue 16, item 8): the holes of a sparse file are not read, yet
# its chunks are exactly those of the same bytes written out in full (so
# dedup and the format do not change): a dense copy backed up after it
# adds no chunk the sparse one did not have.  The restored file is
# identical and sparse again.
# strace measures the bytes read; it is installed when missing (as root).

# mkdata FILE OFFSET_BYTES LEN_BYTES: random bytes into FILE at OFFSET.
mkdata() {
	head -c "$3" /dev/urandom >piece || return 1
	dd if=piece of="$1" oflag=seek_bytes seek="$2" conv=notrunc \
	    status=none || fail "dd into $1 at $2" || return 1
}

# bytes_read LOG: the sum of what read(2)/pread64(2) returned in LOG.
# (a call another thread interrupts is logged as "<unfinished ...>" and
# then "<... read resumed>...= N").
bytes_read() {
	sed -n -e 's/^[0-9]* *\(read\|pread64\)(.*= \([0-9][0-9]*\)$/\2/p' \
	    -e 's/^[0-9]* *<\.\.\. \(read\|pread64\) resumed>.*= \([0-9][0-9]*\)$/\2/p' \
	    "$1" |
	    awk '{ s += $1 } END { print s + 0 }'
}

# traced STRACE-ARGS...: strace, with LeakSanitizer off under "make asan"
# (it cannot run under ptrace).
traced() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"
}

scenario() {
	if ! command -v strace >/dev/null 2>&1; then
		is_root || fail "strace is missing and only root can" \
		    "install it (apt-get install strace)" || return 1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends strace >apt.out 2>&1 ||
		    fail "cannot install strace" || return 1
	fi
	mkdir -p sp dn || return 1
	# 64 MiB: a hole at the start and at the end, data runs that are
	# short, long (past the 4 MiB maximum chunk), unaligned, and holes
	# shorter and longer than a chunk between them.
	truncate -s 64M sp/f || return 1
	mkdata sp/f 5242880 300000 &&
	    mkdata sp/f 10485765 5000000 &&
	    mkdata sp/f 16777216 4096 &&
	    mkdata sp/f 16789504 10 &&
	    mkdata sp/f 33554431 1500000 || return 1
	alloc=$(du -k sp/f | cut -f1)
	note "sparse file: $alloc KiB allocated of 65536"
	[ "$alloc" -lt 16384 ] ||
	    fail "the file system did not keep sp/f sparse" || return 1
	cat sp/f >dn/f || return 1
	[ "$(du -k dn/f | cut -f1)" -ge 65536 ] ||
	    fail "dn/f is not dense" || return 1

	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 traced -f -o sp.trace -e trace=read,pread64 \
	    "$COFFER" backup --json sp || return 1
	cp out sp.json
	expect_exit 0 traced -f -o dn.trace -e trace=read,pread64 \
	    "$COFFER" backup --json dn || return 1
	cp out dn.json
	sp_read=$(bytes_read sp.trace)
	dn_read=$(bytes_read dn.trace)
	note "bytes read: sparse $sp_read, dense $dn_read"
	# The dense read shows that the measure sees file reads at all.
	[ "$dn_read" -ge 67108864 ] ||
	    fail "dense backup read $dn_read bytes, want >= 64 MiB" || return 1
	[ "$sp_read" -lt 16777216 ] ||
	    fail "sparse backup read $sp_read bytes: the holes were read" ||
	    return 1

	# Same bytes, same chunks: the dense copy brings no new chunk.
	expect_jq '.size == 67108864' sp.json || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	s1=$(jq -r '.snapshots[0].name' out) &&
	    s2=$(jq -r '.snapshots[1].name' out) || return 1
	expect_exit 0 "$COFFER" stats --json "$s1" || return 1
	cp out st1.json
	expect_exit 0 "$COFFER" stats --json "$s2" || return 1
	cp out st2.json
	expect_exit 0 "$COFFER" stats --json || return 1
	cp out all.json
	c1=$(jq .chunks st1.json) && c2=$(jq .chunks st2.json) &&
	    call=$(jq .chunks all.json) || return 1
	note "chunks: sparse $c1, dense $c2, both $call"
	[ "$c1" -gt 3 ] && [ "$c1" = "$c2" ] && [ "$call" = "$c1" ] ||
	    fail "sparse and dense copies do not share their chunks" ||
	    return 1
	expect_jq '.added < 65536' dn.json || return 1

	expect_exit 0 "$COFFER" restore "$s1" --target rst || return 1
	cmp rst/sp/f sp/f || fail "restored sparse file differs" || return 1
	ralloc=$(du -k rst/sp/f | cut -f1)
	note "restored: $ralloc KiB allocated"
	[ "$ralloc" -lt 16384 ] ||
	    fail "restored file is not sparse ($ralloc KiB)" || return 1
	expect_exit 0 "$COFFER" restore "$s2" --target rst2 || return 1
	cmp rst2/dn/f sp/f || fail "restored dense file differs" || return 1
}
