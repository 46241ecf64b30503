# SPDX-License-Identifier: ISC
# tests/integration/70-fuzz-replay.sh
# Goal: every fuzz corpus (seeds and kept crash reproducers, under
# tests/fuzz/corpus/<target>/) replays through its target's property
# checks with this build's compiler and sanitizers: no crash, no property
# failure, no sanitizer report; and every target has a corpus.
scenario() {
	FUZZ_TMPDIR=$PWD
	export FUZZ_TMPDIR
	n=0
	for c in "$SRCDIR"/tests/fuzz/corpus/*/; do
		t=${c%/}
		t=${t##*/}
		[ -x "$HELPERS/replay_$t" ] ||
		    fail "corpus '$t' has no $HELPERS/replay_$t" || return 1
		expect_exit 0 "$HELPERS/replay_$t" "$c" || return 1
		expect_grep '^replay: [1-9][0-9]* inputs$' out || return 1
		note "$t: $(cat out)"
		n=$((n + 1))
	done
	for r in "$HELPERS"/replay_*; do
		t=${r##*/replay_}
		[ -d "$SRCDIR/tests/fuzz/corpus/$t" ] ||
		    fail "fuzz target '$t' has no corpus" || return 1
	done
	[ "$n" -gt 0 ] || fail "no corpus under tests/fuzz/corpus" || return 1
	# Each replay removes its scratch directory.
	[ -z "$(ls -d coffer-fuzz.* 2>/dev/null)" ] ||
	    fail "scratch directories left behind" || return 1
}
