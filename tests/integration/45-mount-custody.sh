# SPDX-License-Identifier: ISC
# tests/integration/45-mount-custody.sh
# Goal: coffer mount with every custody (issue #19, part 1), against a
# real cofferd on loopback (TLS, throwaway CA) with a short --fresh-auth.
# One repository holds key sets of all four custodies at once (local,
# local+escrow, escrow with two snapshots, escrow-wrap), their snapshots
# interleaved.  With fresh proof (the password file) the mount shows all
# of them, each equal to its source, and the server is asked once per
# set however many files are read: one audited release for the escrow
# set, one unwrap for the escrow-wrap set, none for local+escrow (its
# key is here).  Without fresh proof (it expired; no password file, no
# terminal) the mount still starts with what it can read: the escrow
# snapshots are absent, stderr says so and names the sets, the mount's
# unavailable.txt names each snapshot left out and why (a damaged
# snapshot file too), and each escrow set was asked once (not once per
# snapshot).  A repository whose every
# set needs the proof fails to mount, with the reason, and mounts
# nothing.

FRESH=3		# --fresh-auth seconds

# no_tty CMD...: run CMD without a controlling terminal.
no_tty()
{
	setsid -w "$@" </dev/null
}

# start_mount DIR [ARG...]: coffer mount -f in the background, without a
# terminal; $mpid.
start_mount()
{
	_dir=$1
	shift
	printf '$ coffer mount -f %s %s &\n' "$*" "$_dir" >&2
	no_tty "$COFFER" mount -f "$@" "$_dir" >mount.out 2>mount.err &
	mpid=$!
	wait_for "mountpoint -q '$_dir'" 20 || { cat mount.err >&2; return 1; }
}

# stop_mount DIR: fusermount3 -u; coffer exits 0 and DIR is free.
stop_mount()
{
	fusermount3 -u "$1" || return 1
	_st=0
	wait "$mpid" || _st=$?
	[ "$_st" -eq 0 ] || fail "coffer mount ended with status $_st" ||
	    { cat mount.err >&2; return 1; }
	! mountpoint -q "$1" || fail "$1 is still mounted" || return 1
	if grep -Eq 'Sanitizer|runtime error' mount.err; then
		fail "sanitizer report:"
		cat mount.err >&2
		return 1
	fi
	return 0
}

# events NAME: how many audit events NAME the account has.
events()
{
	"$COFFER" escrow audit --json --limit 1000 >audit.json 2>audit.err ||
	    { cat audit.err >&2; return 1; }
	jq --arg e "$1" '[.events[] | select(.event == $e)] | length' \
	    audit.json
}

# cleanup: a mount a failed step left (lazily: a reader may hold it),
# then the servers.
cleanup()
{
	mountpoint -q mnt && fusermount3 -u -z mnt
	cofferd_cleanup
}

# asked PATTERN: requests of the server log that match PATTERN.
asked()
{
	grep -c "$1" srv/cofferd.log
}

scenario() {
	need_cmd fusermount3 mountpoint curl jq openssl setsid || return 1
	[ -e /dev/fuse ] || fail "needs /dev/fuse" || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	cofferd_start srv --fresh-auth "$FRESH" || return 1
	COFFER_CACERT=$COFFERD_CACERT
	export COFFER_CACERT
	printf 'tangerine glacier oboe falcon\n' >pw
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw
	export COFFER_ESCROW_PASSWORD_FILE
	expect_exit 0 "$COFFER" escrow register --server "$COFFERD_URL" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" escrow login --server "$COFFERD_URL" \
	    --account alice || return 1
	for d in loc both esc wrap esc2; do
		mkdir -p "$d/sub" &&
		printf '%s\n' "$d" >"$d/f" &&
		head -c 300000 /dev/urandom >"$d/sub/bin" || return 1
	done
	mkdir mnt

	# 1 local, 2 local+escrow, 3 escrow, 4 escrow-wrap, 5 escrow again
	# (the same set as 3: appending released its key once more).
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup --custody local loc || return 1
	expect_exit 0 "$COFFER" backup --custody local+escrow both || return 1
	expect_exit 0 "$COFFER" backup --custody escrow esc || return 1
	expect_exit 0 "$COFFER" backup --custody escrow-wrap wrap || return 1
	expect_exit 0 "$COFFER" backup --custody escrow esc2 || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	cp out keys.json
	expect_jq '[.key_sets[].custody] | sort ==
	    ["escrow", "escrow-wrap", "local", "local+escrow"]' out ||
	    return 1
	esc=$(jq -r '.key_sets[] | select(.custody == "escrow") | .key_id' out)
	wrap=$(jq -r '.key_sets[] | select(.custody == "escrow-wrap") |
	    .key_id' out)

	# ---- fresh proof at hand: everything, the server asked once a set
	rel0=$(events release) && unw0=$(events unwrap) || return 1
	start_mount mnt || return 1
	[ "$(ls mnt/snapshots | tr '\n' ' ')" = "1 2 3 4 5 " ] ||
	    fail "snapshots/ holds: $(ls mnt/snapshots)" || return 1
	[ ! -e mnt/unavailable.txt ] ||
	    fail "unavailable.txt with every snapshot shown" || return 1
	i=0
	for d in loc both esc wrap esc2; do
		i=$((i + 1))
		expect_tree "$d" "mnt/snapshots/$i/$d" --no-sparse || return 1
	done
	# Many reads, again: no more requests.
	cat mnt/snapshots/*/*/sub/bin mnt/snapshots/*/*/f >/dev/null ||
	    return 1
	stop_mount mnt || return 1
	rel1=$(events release) && unw1=$(events unwrap) || return 1
	note "releases $rel0 -> $rel1, unwraps $unw0 -> $unw1"
	[ "$rel1" -eq $((rel0 + 1)) ] ||
	    fail "the mount made $((rel1 - rel0)) releases, want 1" || return 1
	[ "$unw1" -eq $((unw0 + 1)) ] ||
	    fail "the mount made $((unw1 - unw0)) unwraps, want 1" || return 1

	# ---- the proof expired, none to give: what can be read is shown,
	# the rest named on stderr and in unavailable.txt
	# And snapshot 1's file damaged: left out too, said why.
	loc=$(jq -r '.key_sets[] | select(.custody == "local") | .key_id' \
	    keys.json)
	flip_byte "$COFFER_REPO/sets/$loc/snapshots/1" || return 1
	sleep $((FRESH + 1))
	unset COFFER_ESCROW_PASSWORD_FILE
	r0=$(asked "/v1/keys/[0-9a-f]*/release") || r0=0
	u0=$(asked "/v1/wrapkeys/[0-9a-f]*/unwrap") || u0=0
	start_mount mnt || return 1
	[ "$(ls mnt/snapshots)" = 2 ] ||
	    fail "snapshots/ holds: $(ls mnt/snapshots)" || return 1
	[ "$(readlink mnt/latest)" = snapshots/2 ] ||
	    fail "latest is '$(readlink mnt/latest)'" || return 1
	expect_tree both mnt/snapshots/2/both --no-sparse || return 1
	[ -f mnt/unavailable.txt ] || fail "no unavailable.txt" || return 1
	cat mnt/unavailable.txt >&2
	for n in 3 4 5; do
		grep -q "^$n (key set [0-9a-f]*): .*fresh proof" \
		    mnt/unavailable.txt ||
		    fail "unavailable.txt does not name snapshot $n" || return 1
	done
	grep -q "^1 (key set $loc): .*failed authentication" \
	    mnt/unavailable.txt ||
	    fail "unavailable.txt does not name the damaged snapshot" ||
	    return 1
	[ "$(grep -c '^[0-9]' mnt/unavailable.txt)" -eq 4 ] ||
	    fail "unavailable.txt names another snapshot" || return 1
	stop_mount mnt || return 1
	cat mount.err >&2
	grep -q "snapshots of key set $esc left out:.*fresh proof" mount.err &&
	    grep -q "snapshots of key set $wrap left out" mount.err ||
	    fail "stderr does not name the sets left out" || return 1
	grep -q "4 snapshots left out.*unavailable.txt" mount.err ||
	    fail "stderr does not count the snapshots left out" || return 1
	[ "$(grep -c "key set $esc left out" mount.err)" -eq 1 ] ||
	    fail "key set $esc warned about more than once" || return 1
	r1=$(asked "/v1/keys/[0-9a-f]*/release")
	u1=$(asked "/v1/wrapkeys/[0-9a-f]*/unwrap")
	note "release requests $r0 -> $r1, unwrap requests $u0 -> $u1"
	# Asked once per set (a set with two snapshots too); the client
	# does not retry a request the server refused for want of proof.
	[ "$r1" -eq $((r0 + 1)) ] && [ "$u1" -eq $((u0 + 1)) ] ||
	    fail "the escrow sets were asked $((r1 - r0)) and $((u1 - u0))" \
	    "times, want once each" || return 1
	[ "$(events release)" -eq "$rel1" ] ||
	    fail "a key was released without fresh proof" || return 1

	# ---- every set needs the proof: no mount, and why
	COFFER_REPO=$PWD/repo-escrow
	export COFFER_REPO
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw expect_exit 0 "$COFFER" init \
	    --custody escrow || return 1
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw expect_exit 0 "$COFFER" backup \
	    esc || return 1
	sleep $((FRESH + 1))
	expect_exit 1 no_tty "$COFFER" mount -f mnt || return 1
	expect_grep 'no snapshot can be read.*fresh proof' err || return 1
	! mountpoint -q mnt || fail "mounted with nothing readable" || return 1
}
