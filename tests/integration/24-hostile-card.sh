# SPDX-License-Identifier: ISC
# tests/integration/24-hostile-card.sh
# test: long
# Goal: whoever writes the card cannot make coffer read, write or delete
# anything outside it, nor make it hang (SECURITY.md §7).  At every
# location the format has (config, locks/, sets/, sets/<id>, keyinfo,
# packs/, packs/xx, a pack, index/, an index file, snapshots/, a
# snapshot) and at two new names in packs/, it plants in turn: a symbolic
# link to a sentinel folder, one to a sentinel file, a FIFO, a device node
# (/dev/zero's numbers), a hard link to a file outside the card, and a
# folder where a file belongs or a file where a folder belongs.  For each
# case every command that touches the card runs, as root, under a
# timeout.  Passes when no command hangs or crashes, the sentinel tree is
# unchanged to the byte and to the mtime, every failing command's message
# names the planted path, and `check` fails (it finds every plant).
#
# HOSTILE_CASES=N keeps the first N cases, HOSTILE_FIRST=N starts at case N
# (a quick look while editing).  Under the sanitizer build (make test's
# second half) every 5th case runs, HOSTILE_STRIDE=N to change: 18 cases
# that still cover every location and every kind (5 and 6 are coprime),
# while the plain build runs all 90.

# manifest DIR: every entry's path, kind, size, mode, mtime and content hash.
manifest()
{
	find "$1" -printf '%p %y %s %m %T@\n' | sort
	find "$1" -type f -exec sha256sum {} + | sort
}

# plant LOC KIND: replace the repository's LOC with KIND.
plant()
{
	_p="$COFFER_REPO/$1"
	_wasdir=false
	[ -d "$_p" ] && [ ! -L "$_p" ] && _wasdir=true
	[ -e "$_p" ] || [ -L "$_p" ] || _wasdir=$3
	rm -rf "$_p" || return 1
	case $2 in
	symdir)	ln -s "$PWD/sentinel/dir" "$_p" ;;
	symfile) ln -s "$PWD/sentinel/file.txt" "$_p" ;;
	fifo)	mkfifo "$_p" ;;
	device)	mknod "$_p" c 1 5 ;;
	hardlink) ln "$PWD/sentinel/hard.txt" "$_p" ;;
	wrongkind)
		if $_wasdir; then
			printf 'a file where a folder belongs\n' >"$_p"
		else
			mkdir "$_p" && printf 'x\n' >"$_p/inside"
		fi ;;
	esac
}

# names_it LOC: ./err names LOC (the planted path, relative to the card).
names_it()
{
	if ! grep -qF -- "$1" err; then
		fail "the error does not name '$1':"
		cat err >&2
		return 1
	fi
}

# run_cmd LOC CMD...: under a timeout; no hang, no crash, and a failure
# names LOC.
run_cmd()
{
	_loc=$1
	shift
	printf '$ %s\n' "$*" >&2
	last_status=0
	timeout -k 5 30 "$@" >out 2>err </dev/null || last_status=$?
	if [ "$last_status" -eq 124 ] || [ "$last_status" -eq 137 ]; then
		fail "hung (killed after 30 s): $*"
		return 1
	fi
	if [ "$last_status" -gt 125 ]; then
		fail "crashed (status $last_status): $*"
		cat err >&2
		return 1
	fi
	no_sanitizer_report || return 1
	if [ "$last_status" -ne 0 ]; then
		names_it "$_loc" || return 1
	fi
	return 0
}

scenario() {
	[ "$(id -u)" -eq 0 ] || { fail "needs root (mknod, as CI runs)"; return 1; }
	mkdir -p src/sub sentinel/dir/deep || return 1
	printf 'one\n' >src/a.txt
	printf 'two\n' >src/sub/b.txt
	head -c 300000 /dev/urandom >src/big.bin
	printf 'precious\n' >sentinel/dir/keep.txt
	printf 'deeper\n' >sentinel/dir/deep/keep2.txt
	printf 'precious file\n' >sentinel/file.txt
	printf 'hard linked\n' >sentinel/hard.txt
	# Names prune, backup and destroy would once have deleted.
	head -c 100 /dev/urandom >sentinel/dir/0123456789abcdef0123456789abcdef
	head -c 100 /dev/urandom >sentinel/dir/0123456789abcdef0123456789abcdef.tmp
	printf 'x\n' >sentinel/dir/leftover.tmp
	touch -d '2001-02-03 04:05:06' sentinel/dir/deep sentinel/dir \
	    sentinel/dir/* sentinel/file.txt sentinel/hard.txt sentinel

	printf 'correct horse battery staple, recovery\n' >pp
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	printf 'three\n' >src/c.txt
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	id=$(jq -r '.key_sets[0].key_id' out) || return 1
	[ -n "$id" ] && [ "$id" != null ] || fail "no key set id" || return 1
	set=sets/$id
	pack=$(cd "$COFFER_REPO" && find "$set/packs" -type f | sort | head -n 1)
	xx=${pack%/*}
	index=$(cd "$COFFER_REPO" && find "$set/index" -type f | sort | head -n 1)
	snap=$(cd "$COFFER_REPO" && find "$set/snapshots" -type f | sort |
	    head -n 1)
	[ -n "$pack" ] && [ -n "$index" ] && [ -n "$snap" ] ||
	    fail "repository layout not as expected" || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	s1=$(jq -r '.snapshots[0].name' out)
	s2=$(jq -r '.snapshots[1].name' out)
	cp -a "$COFFER_REPO" pristine-repo || return 1
	cp -a "$COFFER_KEYSTORE" pristine-keys || return 1
	manifest sentinel >sentinel.before || return 1

	# location, and whether it is a folder when it does not exist yet
	cat >locations <<-EOF
	config false
	locks true
	sets true
	$set true
	$set/keyinfo false
	$set/packs true
	$xx true
	$pack false
	$set/index true
	$index false
	$set/snapshots true
	$snap false
	$set/packs/zz true
	$set/packs/ab true
	locks/0123456789abcdef.lock false
	EOF
	n=0
	max=${HOSTILE_CASES:-100000}
	stride=${HOSTILE_STRIDE:-1}
	if [ -z "${HOSTILE_STRIDE:-}" ] &&
	    grep -aq __asan_init "$COFFER"; then
		stride=5
		note "sanitizer build: every ${stride}th case"
	fi
	while read -r loc isdir; do
		for kind in symdir symfile fifo device hardlink wrongkind; do
			n=$((n + 1))
			[ "$n" -le "$max" ] || break 2
			[ "$n" -ge "${HOSTILE_FIRST:-1}" ] || continue
			[ $((n % stride)) -eq 0 ] || continue
			note "case $n: $kind at $loc"
			rm -rf "$COFFER_REPO" "$COFFER_KEYSTORE" rst || return 1
			cp -a pristine-repo "$COFFER_REPO" || return 1
			cp -a pristine-keys "$COFFER_KEYSTORE" || return 1
			plant "$loc" "$kind" "$isdir" || return 1
			for cmd in "snapshots" "ls $s1" "ls latest" \
			    "restore latest --target rst" "diff $s1 $s2" \
			    "find *.txt" "stats" "check" "check --read-data" \
			    "key list" "backup src" "forget --keep-last 1" \
			    "prune" "key add-passphrase --passphrase-file pp" \
			    "key destroy $id --yes"; do
				# shellcheck disable=SC2086 # words wanted
				run_cmd "$loc" "$COFFER" $cmd ||
				    fail "case $n: $kind at $loc" || return 1
				# check sees every plant, and says where.
				# (Two plants are regular files that are
				# harmless by design: one under a name the
				# format does not use, packs/zz, is ignored;
				# an unreadable lock file last changed in 2001
				# is stale and removed: SECURITY.md §5.)
				if [ "$cmd" = check ] &&
				    [ "$last_status" -eq 0 ] &&
				    ! { [ "$loc" = "$set/packs/zz" ] &&
				    { [ "$kind" = hardlink ] ||
				    [ "$kind" = wrongkind ]; }; } &&
				    ! { [ "$kind" = hardlink ] &&
				    [ "${loc#locks/}" != "$loc" ]; }; then
					fail "case $n: check found nothing" \
					    "of $kind at $loc"
					return 1
				fi
			done
			manifest sentinel >sentinel.after || return 1
			if ! cmp -s sentinel.before sentinel.after; then
				fail "case $n: $kind at $loc changed the" \
				    "sentinel:"
				diff sentinel.before sentinel.after >&2
				return 1
			fi
		done
	done <locations
	note "$n cases, each command under a timeout, the sentinel untouched"
	[ "$n" -ge 90 ] || [ -n "${HOSTILE_CASES:-}${HOSTILE_FIRST:-}" ] ||
	    fail "only $n cases ran" || return 1
}
