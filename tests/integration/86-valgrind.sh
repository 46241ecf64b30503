# SPDX-License-Identifier: ISC
# tests/integration/86-valgrind.sh
# test: long
# Goal: no leak and no memory error in a whole backup and restore round
# trip, client and server.  On the plain build every coffer command runs
# under valgrind (memcheck, leaks definite, indirect and possible are
# errors, and so is any invalid access or use of uninitialised memory);
# on the ASan build (where valgrind cannot run) the same commands run with
# AddressSanitizer and its LeakSanitizer (detect_leaks=1).  The log says
# which tool was used.  A probe with a known leak (and, for valgrind, a
# known uninitialised read) shows first that the tool does report them.
#
# The round trip: init, a first backup of a gentree tree plus 13 MiB of
# random data (so one backup fills more than one 16 MiB pack and the
# sealer threads have work), a second backup with changes (the file
# cache), snapshots, ls, restore (bit for bit), check --read-data, diff,
# find, stats, forget + prune, key add-passphrase and a restore from the
# card with the passphrase alone, keystore passwd and a command that opens
# the password-protected keystore, two failing restores (wrong passphrase,
# unknown snapshot); then against a real cofferd on loopback (TLS; the
# server not under the tool): escrow register, login, a login with a wrong
# password, backup --custody escrow, the keystore deleted, login, restore,
# escrow keys, logout.  Then cofferd itself runs under the tool (valgrind
# follows the key holder it forks) for a short session over curl:
# register, a failed login, login, a malformed request, deposit, release,
# keys, logout, SIGTERM; no report from either process.
#
# Reproduce: sh tests/run.sh build 86 (valgrind), or, after "make asan",
# ASAN_OPTIONS=detect_leaks=1 sh tests/run.sh build-asan 86.

# Valgrind's options.  Every leak kind is an error: "possible" too, since
# coffer keeps no pointer into the middle of a block (libsodium's guarded
# memory is mmap()ed, not malloc()ed, so memcheck does not track it).
# --trace-children: "run 0 env VAR=... coffer" checks coffer, not env;
# cofferd forks its key holder, which valgrind follows anyway.
VG_OPTS="--leak-check=full --show-leak-kinds=definite,indirect,possible
--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
--track-fds=no --trace-children=yes --num-callers=30"

# vg_tool: set $tool to valgrind (plain build) or lsan (ASan build).
vg_tool()
{
	if ASAN_OPTIONS=help=1 "$COFFER" --version 2>&1 |
	    grep -q 'flags for AddressSanitizer'; then
		tool=lsan
		tool_name="AddressSanitizer + LeakSanitizer"
		# On even if the caller turned it off.
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
		export ASAN_OPTIONS
		note "tool: $tool_name (ASAN_OPTIONS=$ASAN_OPTIONS)"
	elif TSAN_OPTIONS=help=1 "$COFFER" --version 2>&1 |
	    grep -q 'flags for ThreadSanitizer'; then
		fail "a ThreadSanitizer build: valgrind cannot run it and it" \
		    "has no leak checker; use the plain or the ASan build"
		return 1
	else
		need_cmd valgrind || return 1
		tool=valgrind
		tool_name="valgrind memcheck"
		if [ -f "$SRCDIR/tests/harness/valgrind.supp" ]; then
			VG_OPTS="$VG_OPTS
--suppressions=$SRCDIR/tests/harness/valgrind.supp"
		fi
		note "tool: $(valgrind --version) memcheck, options:" \
		    "$(printf '%s' "$VG_OPTS" | tr '\n' ' ')"
	fi
	return 0
}

# vg_logs DIR WHAT: every valgrind log in DIR (one per process) ended
# with "ERROR SUMMARY: 0 errors"; else print the reports and fail naming
# WHAT, the command.
vg_logs()
{
	_vl_n=0
	_vl_bad=0
	for _vl_f in "$1"/*.log; do
		[ -f "$_vl_f" ] || continue
		_vl_n=$((_vl_n + 1))
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$_vl_f"; then
			_vl_bad=1
			_vl_sum=$(grep -o 'ERROR SUMMARY: .*' "$_vl_f" |
			    tail -n 1)
			: "${_vl_sum:=no ERROR SUMMARY (killed?)}"
			fail "valgrind: $_vl_sum in process ${_vl_f##*/}" \
			    "of: $2"
			# The reports, without the banner and the summaries.
			grep -E '^==[0-9]+== ' "$_vl_f" |
			    sed -n '/Command:/,$p' | head -n 150 |
			    sed 's/^/| /' >&2
		fi
	done
	[ "$_vl_n" -gt 0 ] ||
	    fail "valgrind wrote no log for: $2" || return 1
	return "$_vl_bad"
}

# run WANT CMD [ARG...]: run CMD under the tool, stdout to ./out and
# stderr to ./err; fail naming CMD unless it exits with WANT and the tool
# reported nothing.
nrun=0
run()
{
	_r_want=$1
	shift
	_r_what=$(printf '%s ' "$@" | sed "s|$COFFER|coffer|g; s/ \$//")
	nrun=$((nrun + 1))
	_r_dir=$PWD/vg/$nrun
	mkdir -p "$_r_dir" || return 1
	printf '%s\n' "$_r_what" >"$_r_dir/command"
	printf '$ %s\n' "$_r_what" >&2
	if [ "$tool" = valgrind ]; then
		# shellcheck disable=SC2086 # VG_OPTS is a list of options
		set -- valgrind $VG_OPTS --log-file="$_r_dir/%p.log" "$@"
	fi
	last_status=0
	"$@" >out 2>err || last_status=$?
	if [ "$tool" = valgrind ]; then
		vg_logs "$_r_dir" "$_r_what" || return 1
	elif ! no_sanitizer_report; then
		fail "LeakSanitizer/ASan report from: $_r_what"
		grep -E -A 25 'ERROR: (Leak|Address)Sanitizer|runtime error' \
		    err | head -n 80 | sed 's/^/| /' >&2
		return 1
	fi
	[ "$last_status" -eq "$_r_want" ] ||
	    fail "exit status $last_status, want $_r_want: $_r_what"
}

# vg_selfcheck: the tool reports a known leak (and valgrind a known
# uninitialised read), and is silent on a clean run, so silence later
# means something.
vg_selfcheck()
{
	note "self-check: the tool must catch leakprobe's defects"
	run 0 "$HELPERS/leakprobe" clean || return 1
	if [ "$tool" = valgrind ]; then
		for _sc in leak uninit; do
			_sc_d=$PWD/vg/probe-$_sc
			mkdir -p "$_sc_d"
			_sc_rc=0
			# shellcheck disable=SC2086
			valgrind $VG_OPTS --log-file="$_sc_d/%p.log" \
			    "$HELPERS/leakprobe" "$_sc" >/dev/null 2>&1 ||
			    _sc_rc=$?
			[ "$_sc_rc" -eq 99 ] ||
			    fail "valgrind let leakprobe $_sc exit $_sc_rc," \
			    "want 99" || return 1
			! vg_logs "$_sc_d" "leakprobe $_sc" 2>/dev/null ||
			    fail "valgrind logged no error for leakprobe" \
			    "$_sc" || return 1
		done
		expect_grep 'definitely lost: [0-9,]+ bytes in 6[34] blocks' \
		    "$(ls "$PWD"/vg/probe-leak/*.log)" || return 1
		expect_grep 'uninitialised value' \
		    "$(ls "$PWD"/vg/probe-uninit/*.log)" || return 1
	else
		_sc_rc=0
		"$HELPERS/leakprobe" leak >out 2>err || _sc_rc=$?
		[ "$_sc_rc" -ne 0 ] ||
		    fail "LeakSanitizer let leakprobe leak exit 0" || return 1
		expect_grep 'ERROR: LeakSanitizer: detected memory leaks' err ||
		    return 1
	fi
	rm -rf "$PWD/vg/probe-leak" "$PWD/vg/probe-uninit"
	return 0
}

# ---- the client round trip, local keys ---------------------------------

vg_local()
{
	"$HELPERS/gentree" src || return 1
	# f5m and this: more than one pack (16 MiB) in the first backup.
	head -c 13631488 /dev/urandom >src/rand13m || return 1

	run 0 "$COFFER" init --name-by count || return 1
	run 0 "$COFFER" backup src || return 1
	expect_grep 'files: [0-9]+ new, 0 changed, 0 unchanged' out ||
	    return 1
	npacks=$(find "$COFFER_REPO" -path '*/packs/*' -type f | wc -l)
	[ "$npacks" -ge 2 ] ||
	    fail "first backup wrote $npacks pack(s), want at least 2" ||
	    return 1

	# Changes: one file new, one grown, one gone; the rest unchanged
	# (from the file cache).
	printf 'new\n' >src/newfile
	printf 'grown\n' >>src/text-100k
	rm -f src/f5m
	run 0 "$COFFER" backup src || return 1
	expect_grep 'files: 1 new, 1 changed, [1-9][0-9]* unchanged' out ||
	    return 1

	run 0 "$COFFER" snapshots --json || return 1
	expect_jq '.snapshots | length == 2' out || return 1
	run 0 "$COFFER" ls latest --json || return 1
	expect_jq '.entries | any(.path == "src/newfile")' out || return 1
	run 0 "$COFFER" restore latest --target rst || return 1
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree src rst/src $(owner_opt) || return 1
	run 0 "$COFFER" check --read-data || return 1
	run 0 "$COFFER" diff 1 2 || return 1
	expect_grep '^\+ src/newfile$' out || return 1
	expect_grep '^- src/f5m$' out || return 1
	run 0 "$COFFER" find '*.sh' || return 1
	expect_grep 'src/exec.sh' out || return 1
	run 0 "$COFFER" stats || return 1
	run 0 "$COFFER" forget --keep-last 1 || return 1
	run 0 "$COFFER" prune || return 1

	# Keys: a recovery passphrase, then a restore from the card alone.
	printf 'velvet harbor cactus lemonade\n' >pp
	run 0 "$COFFER" --passphrase-file pp key add-passphrase || return 1
	run 0 env COFFER_KEYSTORE="$PWD/no-keystore" "$COFFER" \
	    --passphrase-file pp restore latest --target rst-pp \
	    --include src/hard || return 1
	# shellcheck disable=SC2046
	expect_tree src/hard rst-pp/src/hard $(owner_opt) || return 1
	# Error paths free what they took too.
	printf 'a wrong passphrase\n' >wrong
	run 1 env COFFER_KEYSTORE="$PWD/no-keystore" "$COFFER" \
	    --passphrase-file wrong restore latest --target rst-wrong ||
	    return 1
	run 1 "$COFFER" restore no-such-snapshot --target rst-none ||
	    return 1
	# A keystore password, and a command that must open it.
	printf 'quartz meadow pelican anvil\n' >kpw
	run 0 env COFFER_NEW_PASSWORD_FILE="$PWD/kpw" "$COFFER" \
	    keystore passwd || return 1
	run 0 env COFFER_PASSWORD_FILE="$PWD/kpw" "$COFFER" key list \
	    --json || return 1
	expect_jq '.key_sets | length == 1 and .[0].key_present' out
}

# ---- escrow, client under the tool -------------------------------------

vg_escrow_client()
{
	cofferd_start srv || return 1
	url=$COFFERD_URL
	COFFER_CACERT=$COFFERD_CACERT
	printf 'tangerine glacier oboe falcon\n' >pw.alice
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	COFFER_REPO=$PWD/repo-esc
	COFFER_KEYSTORE=$PWD/ks-esc
	export COFFER_CACERT COFFER_ESCROW_PASSWORD_FILE COFFER_REPO \
	    COFFER_KEYSTORE

	run 0 "$COFFER" escrow register --server "$url" --account alice ||
	    return 1
	run 0 "$COFFER" escrow login --server "$url" --account alice ||
	    return 1
	printf 'not the password\n' >pw.wrong
	run 1 env COFFER_ESCROW_PASSWORD_FILE="$PWD/pw.wrong" "$COFFER" \
	    escrow login --server "$url" --account alice || return 1
	run 0 "$COFFER" init || return 1
	run 0 "$COFFER" backup --custody escrow src/many src/xattr-dir \
	    src/symlinks || return 1
	run 0 "$COFFER" key list --json || return 1
	expect_jq '.key_sets | length == 1 and .[0].custody == "escrow" and
	    .[0].key_present == false' out || return 1

	# A new device: no keystore; log in again and restore.
	rm -rf "$COFFER_KEYSTORE"
	run 0 "$COFFER" escrow login --server "$url" --account alice ||
	    return 1
	run 0 "$COFFER" restore latest --target rst-esc || return 1
	for d in many xattr-dir symlinks; do
		expect_tree "src/$d" "rst-esc/src/$d" || return 1
	done
	run 0 "$COFFER" escrow keys --json || return 1
	expect_jq '[.keys[] | select(.kind == "key")] | length == 1' out ||
	    return 1
	run 0 "$COFFER" escrow logout || return 1
	cofferd_stop srv
}

# ---- cofferd under the tool --------------------------------------------

# req METHOD PATH [BODY] WANT: one request; fail unless it answers WANT.
req()
{
	_q_want=$1
	shift
	printf '$ curl %s %s\n' "$1" "$2" >&2
	cofferd_req "$@" || return 1
	# shellcheck disable=SC2154 # cofferd_req sets status
	[ "$status" = "$_q_want" ] ||
	    fail "cofferd answered $status to $1 $2, want $_q_want:" \
	    "$(head -c 300 resp)"
}

vg_server()
{
	if [ "$tool" = valgrind ]; then
		# cofferd.sh splits the wrapper into words; valgrind
		# follows the key holder (a fork) into a log of its own.
		mkdir -p "$PWD/vg/cofferd"
		COFFERD_WRAPPER="valgrind $VG_OPTS
--log-file=$PWD/vg/cofferd/%p.log"
		COFFERD_START_TIMEOUT=120
		export COFFERD_WRAPPER COFFERD_START_TIMEOUT
	fi
	# Under ASan, cofferd_stop fails on any sanitizer report in the
	# log.  LeakSanitizer checks at exit(); the key holder leaves with
	# _exit(), so there only ASan's checks of every access apply.
	note "cofferd under $tool_name"
	cofferd_start srv-vg || return 1
	TOKEN=
	req 201 POST /v1/accounts \
	    '{"account":"vg","password":"valgrind password"}' || return 1
	req 401 POST /v1/sessions \
	    '{"account":"vg","password":"wrong password"}' || return 1
	req 201 POST /v1/sessions \
	    '{"account":"vg","password":"valgrind password"}' || return 1
	TOKEN=$(jq -r .token resp)
	req 400 POST /v1/keys '{"key": 12, "label": [' || return 1
	key=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
	req 201 POST /v1/keys "{\"key\":\"$key\",\"label\":\"vg\"}" ||
	    return 1
	kid=$(jq -r .key_id resp)
	req 200 POST "/v1/keys/$kid/release" || return 1
	[ "$(jq -r .key resp)" = "$key" ] ||
	    fail "cofferd released another key than deposited" || return 1
	req 200 GET /v1/keys || return 1
	req 204 DELETE /v1/sessions || return 1
	req 401 GET /v1/sessions/current || return 1
	TOKEN=

	_vs_rc=0
	cofferd_stop srv-vg || _vs_rc=1
	unset COFFERD_WRAPPER
	if [ "$tool" = valgrind ]; then
		# The front end and the key holder, each its own log.
		_vs_n=$(find "$PWD/vg/cofferd" -name '*.log' | wc -l)
		[ "$_vs_n" -eq 2 ] ||
		    fail "$_vs_n valgrind logs from cofferd, want 2" || return 1
		vg_logs "$PWD/vg/cofferd" "cofferd (SIGTERM after a session)" ||
		    return 1
	fi
	[ "$_vs_rc" -eq 0 ] || fail "cofferd did not stop cleanly"
}

scenario() {
	need_cmd curl jq openssl || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF

	vg_tool || return 1
	vg_selfcheck || return 1
	vg_local || return 1
	vg_escrow_client || return 1
	vg_server || return 1
	note "tool: $tool_name; $nrun commands and a cofferd session," \
	    "no leak and no error"
}
