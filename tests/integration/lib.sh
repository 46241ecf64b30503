# SPDX-License-Identifier: ISC
#
# tests/integration/lib.sh: helpers for the integration scenarios.  run.sh
# sources this file and then a scenario, in a fresh process whose cwd is an
# empty scratch directory, and calls the scenario's scenario() function.
#
# Every helper prints what went wrong to stderr and returns non-zero; it never
# exits, so a scenario chains steps with "&&" or ends each with "|| return 1".
# The scenario's stderr is its log; run.sh shows its tail, and the tails of
# ./out and ./err, when the scenario fails.  Since expect_exit writes ./out
# and ./err, never name a restore target "out" or "err".
# Environment provided by run.sh:
#   COFFER	absolute path of the coffer binary under test
#   HELPERS	absolute path of the directory holding gentree, treecmp, ...
#   SRCDIR	absolute path of the source tree
#   COFFER_SHRUNK	build-shrunk/coffer, coffer with its hard limits made
#		small ("make shrunk"; may be missing: 59-limits then fails)
#   COFFER_REPO, COFFER_KEYSTORE, COFFER_MACHINE_ID, HOME, XDG_*_HOME
#		all inside the scratch directory

# fail MSG...: report a failure; returns 1 so "|| fail ..." ends a chain.
fail()
{
	printf 'FAIL: %s\n' "$*" >&2
	return 1
}

# note MSG...: a line of context in the scenario log.
note()
{
	printf '# %s\n' "$*" >&2
}

# expect_exit CODE CMD [ARG...]: run CMD with stdout to ./out and stderr to
# ./err (stdin is inherited, so "producer | expect_exit 0 ..." works); fail
# unless it exits with CODE.  The status is left in $last_status.
expect_exit()
{
	_want=$1
	shift
	printf '$ %s\n' "$*" >&2
	last_status=0
	"$@" >out 2>err || last_status=$?
	if [ "$last_status" -ne "$_want" ]; then
		fail "exit status $last_status, want $_want: $*"
		return 1
	fi
	no_sanitizer_report
}

# expect_fail CMD [ARG...]: like expect_exit but any non-zero status (other
# than a crash, 128+signal) is accepted.
expect_fail()
{
	printf '$ %s\n' "$*" >&2
	last_status=0
	"$@" >out 2>err || last_status=$?
	if [ "$last_status" -eq 0 ]; then
		fail "exit status 0, want failure: $*"
		return 1
	fi
	if [ "$last_status" -gt 125 ]; then
		fail "exit status $last_status (crash or signal), want an" \
		    "error: $*"
		return 1
	fi
	no_sanitizer_report
}

# no_sanitizer_report: ./err holds no ASan/UBSan/LSan report.  Under "make
# asan" a report on an error path may end with the very status the
# scenario expects, so the status alone does not show it.
no_sanitizer_report()
{
	if grep -Eq 'runtime error:|(Address|Leak|Undefined)Sanitizer' err
	then
		fail "sanitizer report on stderr:"
		grep -E -m 5 'runtime error:|Sanitizer' err >&2
		return 1
	fi
	return 0
}

# show_output: copy the tail of ./out and ./err into the log (run.sh shows
# them for the last command; this is for an earlier one).
show_output()
{
	for _f in out err; do
		[ -s "$_f" ] || continue
		printf -- '--- %s (tail)\n' "$_f" >&2
		tail -n 20 "$_f" >&2
	done
}

# expect_grep [GREP-OPTION...] PATTERN FILE: FILE has a line matching the
# extended regular expression PATTERN (options such as -i or -F go first).
expect_grep()
{
	_grep_args "$@" || return 1
	# shellcheck disable=SC2086 # _gopts holds separate options
	if ! grep -q $_gopts -e "$_gpat" -- "$_gfile"; then
		fail "no line matching '$_gpat' in $_gfile"
		[ -f "$_gfile" ] && tail -n 10 "$_gfile" | sed 's/^/| /' >&2
		return 1
	fi
	return 0
}

# expect_no_grep [GREP-OPTION...] PATTERN FILE: no line of FILE matches.
expect_no_grep()
{
	_grep_args "$@" || return 1
	# shellcheck disable=SC2086
	if grep -q $_gopts -e "$_gpat" -- "$_gfile"; then
		fail "unexpected line matching '$_gpat' in $_gfile:"
		# shellcheck disable=SC2086
		grep -m 5 $_gopts -e "$_gpat" -- "$_gfile" | sed 's/^/| /' >&2
		return 1
	fi
	return 0
}

# Split expect_grep's arguments into _gopts, _gpat and _gfile.
_grep_args()
{
	_gopts=-E
	while [ $# -gt 2 ]; do
		case $1 in
		--)	;;
		-F)	_gopts=${_gopts#-E}
			_gopts="$_gopts -F" ;;
		*)	_gopts="$_gopts $1" ;;
		esac
		shift
	done
	[ $# -eq 2 ] || fail "expect_grep: want PATTERN FILE" || return 1
	_gpat=$1
	_gfile=$2
}

# expect_empty FILE / expect_nonempty FILE
expect_empty()
{
	[ ! -s "$1" ] || {
		fail "$1 should be empty but holds:"
		head -n 10 "$1" | sed 's/^/| /' >&2
		return 1
	}
}

expect_nonempty()
{
	[ -s "$1" ] || fail "$1 should not be empty"
}

# expect_jq FILTER FILE: jq -e FILTER on FILE is true.  Pass values in
# through exported variables: '.name == env.WANT'.
expect_jq()
{
	if ! jq -e "$1" "$2" >/dev/null 2>"$2.jqerr"; then
		fail "jq '$1' is not true for $2"
		cat "$2.jqerr" >&2
		head -c 2000 "$2" | sed 's/^/| /' >&2
		echo >&2
		return 1
	fi
	rm -f "$2.jqerr"
	return 0
}

# expect_same FILE1 FILE2: byte-identical files.
expect_same()
{
	cmp -- "$1" "$2" >&2 || fail "$1 and $2 differ"
}

# expect_tree SRC DST [treecmp option...]: trees are identical (treecmp).
expect_tree()
{
	_a=$1
	_b=$2
	shift 2
	printf '$ treecmp %s\n' "${*:+$* }$_a $_b" >&2
	if ! "$HELPERS/treecmp" "$@" -- "$_a" "$_b" >treecmp.out 2>&1; then
		fail "trees $_a and $_b differ:"
		head -n 40 treecmp.out | sed 's/^/| /' >&2
		return 1
	fi
	return 0
}

# owner_opt: "--no-owner" unless we are root (only root can restore owners
# that differ from its own, and only root creates such trees).
owner_opt()
{
	[ "$(id -u)" -eq 0 ] || printf '%s' --no-owner
}

# is_root: true when running as uid 0.
is_root()
{
	[ "$(id -u)" -eq 0 ]
}

# need_cmd NAME...: fail (never skip) when a command is missing.
need_cmd()
{
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 ||
		    fail "needs '$_c' (see scripts/install-deps.sh)" ||
		    return 1
	done
}

# dir_size DIR: apparent size in bytes of everything under DIR.
dir_size()
{
	du -sb -- "$1" | cut -f1
}

# file_size FILE
file_size()
{
	stat -c %s -- "$1"
}

# file_mode FILE: octal permission bits, e.g. 700.
file_mode()
{
	stat -c %a -- "$1"
}

# flip_byte FILE [OFFSET]: invert every bit of the byte at OFFSET (default:
# the middle of the file), in place.
flip_byte()
{
	_sz=$(file_size "$1") || return 1
	[ "$_sz" -gt 0 ] || fail "flip_byte: $1 is empty" || return 1
	_off=${2:-$((_sz / 2))}
	_b=$(od -An -tu1 -j "$_off" -N 1 -- "$1" | tr -d ' ')
	[ -n "$_b" ] || fail "flip_byte: cannot read $1 at $_off" || return 1
	# shellcheck disable=SC2059 # the format is the octal escape we build
	printf "\\$(printf %03o $((_b ^ 255)))" |
	    dd of="$1" bs=1 seek="$_off" count=1 conv=notrunc status=none ||
	    fail "flip_byte: cannot write $1"
}

# card_files: every regular file of the repository, one per line.
card_files()
{
	find "$COFFER_REPO" -type f
}

# check_card_names DIR: every name below DIR is portable to FAT32/exFAT and
# reveals nothing: only [A-Za-z0-9._-], at most 255 bytes, no trailing dot,
# no two names in one directory that differ only in case.
check_card_names()
{
	_bad=$(find "$1" -mindepth 1 | sed "s|^$1/||" | tr '/' '\n' |
	    grep -Ev '^[A-Za-z0-9._-]{1,255}$' | head -n 5)
	[ -z "$_bad" ] || fail "names on the card that are not FAT-safe:" \
	    "$_bad" || return 1
	_bad=$(find "$1" -mindepth 1 -name '*.' | head -n 5)
	[ -z "$_bad" ] || fail "names ending in '.' on the card: $_bad" ||
	    return 1
	_bad=$(find "$1" -mindepth 1 | tr 'A-Z' 'a-z' | sort | uniq -d |
	    head -n 5)
	[ -z "$_bad" ] || fail "names that clash without case on the card:" \
	    "$_bad" || return 1
	return 0
}

# restored_files_match SRC DST: every regular file under DST exists under SRC
# with the same bytes (files missing from DST are fine).  Used where a
# damaged repository may refuse some files but must never restore wrong ones.
restored_files_match()
{
	[ -d "$2" ] || return 0
	_bad=$(find "$2" -type f -exec sh -c '
		src=$1
		dst=$2
		shift 2
		for f; do
			cmp -s -- "$f" "$src/${f#"$dst"/}" || printf "%s\n" "$f"
		done' sh "$1" "$2" {} + | head -n 10)
	[ -z "$_bad" ] || fail "restored files that differ from the source:" \
	    "$_bad"
}

# as_user CMD...: when root, run CMD as nobody (uid/gid 65534, no groups);
# otherwise run it as is.
as_user()
{
	if is_root; then
		setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
	else
		"$@"
	fi
}

# wait_for COND-CMD [SECONDS]: poll every 0.1 s until COND-CMD succeeds.
wait_for()
{
	_n=$(( ${2:-30} * 10 ))
	while [ "$_n" -gt 0 ]; do
		eval "$1" && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	fail "timed out waiting for: $1"
}

# index_opens TRACE: how many index files of the card an strace of
# openat calls (with -y) shows opened.
index_opens()
{
	grep -Ec '/index>, "[0-9a-f]{32}"' "$1"
}

# traced_openat FILE CMD...: run CMD (status 0) with its openat calls in
# FILE (LeakSanitizer cannot run under ptrace; untraced runs check leaks).
traced_openat()
{
	_tf=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    expect_exit 0 strace -f -y -qq -e trace=openat -o "$_tf" "$@"
}

# random_small_files DIR N SEED: N files of 1..4 KiB of random bytes
# (their sizes follow SEED).
random_small_files()
{
	mkdir -p "$1"
	_i=0
	while [ "$_i" -lt "$2" ]; do
		head -c $((1024 + (_i * 37 + $3) % 3072)) /dev/urandom \
		    > "$1/f$_i" || return 1
		_i=$((_i + 1))
	done
}
