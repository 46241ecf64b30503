# SPDX-License-Identifier: ISC
# tests/integration/27-no-work-twice.sh
# Goal (issue 16, items 4, 6, 7):
# - an unchanged re-backup opens none of the files (one stat each), and
#   still stores their extended attributes (taken from the file cache);
# - the file cache remembers every path set: backing up A+B, then C, then
#   A+B again reads nothing and calls nothing new; a file modified in A
#   meanwhile is the only one opened, and it counts as changed; 17
#   backups of C later (entries younger than 30 days) A+B is still known;
# - a file appended to while it is read is stored as read, named in a
#   warning, counted in --json "changed_while_read", kept out of the
#   cache, and the backup exits 3.
# strace counts the opens; it is installed when missing (as root).

# opened TRACE DIR: the files (not folders) below $PWD/DIR opened in
# TRACE (strace -y names the folder of a relative open), one a line,
# relative to $PWD.
opened() {
	grep -v O_DIRECTORY "$1" |
	    sed -n 's/.*openat([^<,]*<\([^>]*\)>, "\([^"]*\)".*/\1\/\2/p' |
	    sed "s|^$PWD/||" | grep "^$2/" | sort -u || true
}

# counts JSON: "new changed unchanged files" of a backup --json.
counts() {
	jq -r '"\(.new) \(.changed) \(.unchanged) \(.files)"' "$1"
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
	for d in A B C; do
		for i in 1 2 3 4 5 6 7 8 9 10; do
			mkdir -p "$d/sub$i" || return 1
			for j in 1 2 3; do
				printf '%s %s %s\n' "$d" "$i" "$j" \
				    >"$d/sub$i/f$j" || return 1
			done
		done
	done
	setfattr -n user.colour -v blue A/sub1/f1 ||
	    fail "cannot set a user attribute here" || return 1
	expect_exit 0 "$COFFER" init || return 1

	# A+B, C, then A+B again: nothing read, nothing new.
	expect_exit 0 "$COFFER" backup --json A B || return 1
	[ "$(counts out)" = "60 0 0 60" ] ||
	    fail "first backup: $(counts out), want 60 new" || return 1
	expect_exit 0 "$COFFER" backup --json C || return 1
	[ "$(counts out)" = "30 0 0 30" ] ||
	    fail "backup of C: $(counts out), want 30 new" || return 1
	expect_exit 0 traced -f -y -o ab.trace -e trace=open,openat \
	    "$COFFER" backup --json A B || return 1
	cp out ab.json
	[ "$(counts ab.json)" = "0 0 60 60" ] ||
	    fail "A+B again after C: $(counts ab.json), want 60" \
	    "unchanged" || return 1
	expect_jq '.added < 4096' ab.json || return 1
	n=$(opened ab.trace A | grep -c . || true)
	note "files of A opened by an unchanged backup: $n"
	[ "$n" -eq 0 ] || { opened ab.trace A >&2
	    fail "an unchanged backup opened $n files"; return 1; }
	# The attribute came from the cache: restore shows it.
	expect_exit 0 "$COFFER" restore latest --target r1 || return 1
	[ "$(getfattr --only-values -n user.colour r1/A/sub1/f1)" = blue ] ||
	    fail "attribute lost by an unchanged backup" || return 1

	# One file of A changes while C is backed up: only it is read.
	sleep 0.01
	printf 'changed\n' >>A/sub2/f2 || return 1
	expect_exit 0 "$COFFER" backup --json C || return 1
	[ "$(counts out)" = "0 0 30 30" ] ||
	    fail "C again: $(counts out), want 30 unchanged" || return 1
	expect_exit 0 traced -f -y -o ab2.trace -e trace=open,openat \
	    "$COFFER" backup --json A B || return 1
	[ "$(counts out)" = "0 1 59 60" ] ||
	    fail "A+B with one file changed: $(counts out), want 1" \
	    "changed, 59 unchanged" || return 1
	got=$(opened ab2.trace A)
	[ "$got" = "A/sub2/f2" ] ||
	    fail "opened '$got', want only A/sub2/f2" || return 1

	# Eviction needs both bounds: 16 backups without A and B are not
	# enough while their entries are younger than 30 days.
	i=0
	while [ $i -lt 17 ]; do
		"$COFFER" -q backup C >/dev/null 2>>err.loop ||
		    fail "backup of C number $i" || return 1
		i=$((i + 1))
	done
	expect_exit 0 "$COFFER" backup --json A B || return 1
	[ "$(counts out)" = "0 0 60 60" ] ||
	    fail "A+B after 17 backups of C: $(counts out), want 60" \
	    "unchanged" || return 1

	# A file appended to while it is read.
	mkdir T || return 1
	head -c 67108864 /dev/zero | tr '\0' 'x' >T/big || return 1
	printf 'still\n' >T/small || return 1
	( while [ ! -e stop ]; do printf 'appended\n' >>T/big; done ) &
	writer=$!
	sleep 0.2
	expect_exit 3 "$COFFER" backup --json T
	rc=$?
	touch stop
	wait "$writer"
	[ "$rc" -eq 0 ] || return 1
	cp out t.json
	expect_grep -F "'T/big' changed while it was read; stored as read" \
	    err || return 1
	expect_grep -F "1 file changed while being read" err || return 1
	expect_jq '.changed_while_read == 1 and .warnings == 0 and
	    .files == 2' t.json || return 1
	# Not cached: the next backup reads it again, and only it.
	expect_exit 0 "$COFFER" backup --json T || return 1
	expect_jq '.changed_while_read == 0 and .unchanged == 1 and
	    .new + .changed == 1' out || return 1

	# A link planted where the new cache is written: it is replaced,
	# the file it points to is not written, and the cache still works.
	_c=$(ls "$COFFER_KEYSTORE"/cache/*.cache | head -n 1) || return 1
	echo "outside" >outside.txt && ln -s "$PWD/outside.txt" "$_c.tmp" ||
	    return 1
	expect_exit 0 "$COFFER" backup --json T || return 1
	[ "$(cat outside.txt)" = outside ] && [ ! -L "$_c.tmp" ] ||
	    fail "the cache was written through a planted link" || return 1
	expect_exit 0 "$COFFER" backup --json T || return 1
	expect_jq '.unchanged == .files and .new + .changed == 0' out ||
	    return 1
}
