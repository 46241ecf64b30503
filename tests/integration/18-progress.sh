# SPDX-License-Identifier: ISC
# tests/integration/18-progress.sh
# Goal: on a terminal backup and restore draw a live progress line (and
# clear it); through a pipe, or with --quiet or --json, there is none;
# --json-progress writes JSON lines on stderr, through a pipe too, each
# with the documented fields, the last one "done", and leaves stdout to
# the one --json document.
scenario() {
	need_cmd script || return 1
	"$HELPERS/gentree" src --big || return 1
	expect_exit 0 "$COFFER" init || return 1
	# A pseudo-terminal: script(1) runs the command with its own pty.
	script -qec "$COFFER backup src" /dev/null > tty.out 2>&1 ||
	    fail "backup under a terminal failed: $(cat tty.out)" || return 1
	grep -a -q '\[0:0[0-9]\] backup .* files' tty.out ||
	    fail "no progress line on a terminal" || return 1
	grep -a -q "$(printf '\033\\[K')" tty.out ||
	    fail "progress line never cleared" || return 1
	script -qec "$COFFER restore latest --target rst" /dev/null \
	    > tty2.out 2>&1 || fail "restore failed: $(cat tty2.out)" ||
	    return 1
	grep -a -q '\[0:0[0-9]\] restore .* files' tty2.out ||
	    fail "no progress line for restore" || return 1
	# Through a pipe: nothing but the summary.
	"$COFFER" backup src 2>pipe.err | cat > pipe.out || return 1
	if grep -a -q "$(printf '\r')" pipe.err pipe.out; then
		fail "progress drawn into a pipe"
		return 1
	fi
	expect_grep 'files: .* new, .* changed, .* unchanged' pipe.out ||
	    return 1
	# --json: no progress, one document with the counts.
	script -qec "$COFFER restore --json latest --target rj" /dev/null \
	    > j.out 2>&1 || return 1
	if grep -a -q 'restore .* files' j.out; then
		fail "progress drawn despite --json"
		return 1
	fi
	expect_exit 0 "$COFFER" restore --json latest --target rj2 || return 1
	expect_jq '.ok == true and .errors == 0 and .files > 10' out || return 1
	# --quiet on a terminal: no progress either.
	script -qec "$COFFER backup --quiet src" /dev/null > q.out 2>&1 ||
	    return 1
	if grep -a -q 'backup .* files' q.out; then
		fail "progress drawn despite --quiet"
		return 1
	fi
	# --json-progress: JSON lines on stderr, also through a pipe.
	for cmd in "backup src" "restore latest --target jp" \
	    "check --read-data"; do
		# shellcheck disable=SC2086 # the words of $cmd are wanted
		"$COFFER" $cmd --json --json-progress 2>jp.err | cat >jp.out ||
		    fail "$cmd --json-progress failed: $(cat jp.err)" ||
		    return 1
		expect_jq '.' jp.out || return 1
		[ -s jp.err ] || fail "$cmd: no JSON lines on stderr" ||
		    return 1
		jq -s -e 'length >= 2 and all(.type == "progress" and
		    (.phase | type) == "string" and (.elapsed | type) ==
		    "number" and (.files | type) == "number" and
		    (.bytes | type) == "number" and has("files_total") and
		    has("bytes_total") and has("current") and
		    (.done | type) == "boolean") and (last | .done) and
		    ([.[] | select(.done)] | length == 1)' jp.err >/dev/null ||
		    fail "$cmd: bad JSON progress lines:" \
		    "$(head -c 600 jp.err)" || return 1
	done
}
