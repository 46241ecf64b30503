# SPDX-License-Identifier: ISC
# tests/integration/43-copy.sh
# Goal: a second card with the same snapshots (issue #19, part 2).
# 'init --like' makes a copy (same repository id and config); 'copy
# --to' fills it: the snapshots keep their ids, the copy passes check
# --read-data and restores byte for byte; a second copy after a new
# backup writes only the new data (measured with du on the copy); a copy
# stopped with SIGTERM indexes what it wrote, one killed with SIGKILL
# mid-way leaves no snapshot, and the rerun takes over its packs and
# finishes with nothing written twice; --tag and snapshot names choose
# what is copied; a damaged source blob stops that snapshot (named) and
# no other; a repository not made with --like is refused; count names taken on the copy are refused, not renamed; a
# tag change arrives as the new revision alone; a source whose index
# files are lost is copied whole through its pack tables; with a key
# set per backup, a set is made on the copy only for a snapshot copied;
# a recovery passphrase opens the copy without a keystore.  With escrow
# custody the copy's key set keeps its escrow binding: one audited
# release for the copy, and the copy is readable only through the
# server.
scenario() {
	need_cmd jq || return 1
	src=$PWD/src
	dst=$PWD/dst
	COFFER_REPO=$src
	export COFFER_REPO
	expect_exit 0 "$COFFER" init --no-password || return 1
	mkdir data
	head -c 3000000 /dev/urandom >data/big || return 1
	seq 1 30000 >data/numbers
	printf 'small\n' >data/small
	expect_exit 0 "$COFFER" backup data || return 1

	# A folder that is not a copy is refused, and nothing is written.
	expect_exit 0 "$COFFER" --repo other init --no-password || return 1
	expect_exit 1 "$COFFER" copy --to other || return 1
	expect_grep "is not a copy of" err || return 1
	[ -z "$(find other/sets -mindepth 1)" ] ||
	    fail "a refused copy wrote into other/sets" || return 1
	expect_exit 1 "$COFFER" copy --to "$src" || return 1
	expect_grep "same repository" err || return 1

	# init --like: the same config (id, version, naming, defaults).
	expect_exit 2 "$COFFER" --repo "$dst" init --like "$src" --scope \
	    backup || return 1
	expect_exit 0 "$COFFER" --repo "$dst" init --like "$src" || return 1
	expect_same "$src/config" "$dst/config" || return 1

	# First copy: everything; same snapshot ids; check and restore.
	expect_exit 0 "$COFFER" copy --to "$dst" --json || return 1
	expect_jq '.copied == 1 and .present == 0 and .failed == 0' out ||
	    return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	jq -c '[.snapshots[] | [.name, .id]]' out >ids.src
	expect_exit 0 "$COFFER" --repo "$dst" snapshots --json || return 1
	jq -c '[.snapshots[] | [.name, .id]]' out >ids.dst
	expect_same ids.src ids.dst || return 1
	expect_exit 0 "$COFFER" --repo "$dst" check --read-data || return 1
	expect_exit 0 "$COFFER" --repo "$dst" restore latest --target r1 ||
	    return 1
	expect_tree data r1/data --no-sparse || return 1

	# Copy again with nothing new: nothing written.
	before=$(dir_size "$dst")
	expect_exit 0 "$COFFER" copy --to "$dst" --json || return 1
	expect_jq '.copied == 0 and .present == 1 and .blobs_written == 0' \
	    out || return 1
	[ "$(dir_size "$dst")" -eq "$before" ] ||
	    fail "a copy with nothing new changed the copy" || return 1

	# Add a snapshot with 1 MB of new data: only that moves.
	head -c 1000000 /dev/urandom >data/new || return 1
	expect_exit 0 "$COFFER" backup data || return 1
	before=$(dir_size "$dst")
	expect_exit 0 "$COFFER" copy --to "$dst" --json || return 1
	expect_jq '.copied == 1 and .present == 1' out || return 1
	grown=$(( $(dir_size "$dst") - before ))
	note "second copy: the copy grew by $grown bytes for 1000000 new"
	[ "$grown" -ge 1000000 ] && [ "$grown" -lt 1100000 ] ||
	    fail "the copy grew by $grown bytes, want about 1000000" ||
	    return 1
	expect_exit 0 "$COFFER" --repo "$dst" restore latest --target r2 ||
	    return 1
	expect_tree data r2/data --no-sparse || return 1

	copy_killed || return 1
	copy_filter || return 1
	copy_names || return 1
	copy_sets || return 1
	copy_damaged || return 1
	copy_escrow || return 1
}

# npacks: the complete packs of the copy.
npacks()
{
	find "$dst/sets" -path '*/packs/*' -type f ! -name '*.tmp' | wc -l
}

# copy_signal SIG: start a copy, send it SIG once it has closed a new
# pack, wait for it; its exit status in $status.
copy_signal()
{
	n0=$(npacks)
	"$COFFER" copy --to "$dst" >copy.out 2>copy.err &
	pid=$!
	i=0
	while [ "$(npacks)" -le "$n0" ] && [ $i -lt 3000 ]; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
		i=$((i + 1))
	done
	kill "-$1" "$pid" 2>/dev/null
	status=0
	wait "$pid" || status=$?
}

# copy_killed: a copy stopped (SIGTERM) after its first pack indexes
# what it wrote; the next one, killed (SIGKILL) after its first pack,
# leaves that pack behind; the rerun takes it over and writes the rest
# once.
copy_killed()
{
	head -c 80000000 /dev/urandom >data/large || return 1
	expect_exit 0 "$COFFER" backup data || return 1
	before=$(dir_size "$dst")
	nindex=$(find "$dst/sets" -path '*/index/*' -type f | wc -l)
	copy_signal TERM
	[ "$status" -eq 143 ] ||
	    fail "the copy ended ($status) before it was stopped" || return 1
	expect_grep "^coffer copy: stopping" copy.err || return 1
	[ "$(find "$dst/sets" -path '*/index/*' -type f | wc -l)" -gt \
	    "$nindex" ] || fail "the stopped copy indexed nothing" || return 1
	copy_signal KILL
	[ "$status" -eq 137 ] ||
	    fail "the copy ended ($status) before it was killed" || return 1
	expect_exit 0 "$COFFER" --repo "$dst" snapshots --json || return 1
	expect_jq '.snapshots | length == 2' out || return 1
	expect_exit 0 "$COFFER" copy --to "$dst" --json || return 1
	expect_jq '.copied == 1 and .present == 2 and .bytes_resumed > 0' \
	    out || return 1
	grown=$(( $(dir_size "$dst") - before ))
	note "stopped, killed and rerun copy: the copy grew by $grown bytes" \
	    "for 80000000 new"
	[ "$grown" -lt 80200000 ] ||
	    fail "the copy grew by $grown bytes, want about 80000000" ||
	    return 1
	expect_exit 0 "$COFFER" --repo "$dst" prune --json || return 1
	expect_jq '.bytes_freed == 0' out || return 1
	expect_exit 0 "$COFFER" --repo "$dst" check --read-data || return 1
	expect_exit 0 "$COFFER" --repo "$dst" restore latest --target r3 ||
	    return 1
	expect_tree data r3/data --no-sparse || return 1
	rm -rf r1 r2 r3 data/large
}

# copy_filter: --tag and names choose the snapshots copied.
copy_filter()
{
	printf 'tagged\n' >data/tagged
	expect_exit 0 "$COFFER" backup --tag keep data || return 1
	expect_exit 0 "$COFFER" --repo dst2 init --like "$src" || return 1
	expect_exit 0 "$COFFER" copy --to dst2 --tag keep --json || return 1
	expect_jq '.copied == 1 and [.snapshots[].status] == ["copied"]' out ||
	    return 1
	expect_exit 0 "$COFFER" snapshots --json --tag keep || return 1
	want=$(jq -r '.snapshots[0].name' out)
	first=$(jq -r '.[0][0]' ids.src)
	expect_exit 0 "$COFFER" --repo dst2 snapshots --json || return 1
	WANT=$want expect_jq '[.snapshots[].name] == [env.WANT]' out ||
	    return 1
	expect_exit 0 "$COFFER" copy --to dst2 "$first" --json || return 1
	expect_jq '.copied == 1' out || return 1
	expect_exit 0 "$COFFER" --repo dst2 snapshots --json || return 1
	expect_jq '.snapshots | length == 2' out || return 1
	expect_exit 0 "$COFFER" --repo dst2 check --read-data || return 1
}

# copy_names: with count names, a backup made straight into the copy
# takes a name the source uses for another snapshot: that snapshot is
# refused (never renamed or overwritten), the others are copied.  A tag
# change in the source reaches the copy as the new revision, and the
# copy keeps only it.
copy_names()
{
	expect_exit 0 "$COFFER" --repo cnt init --no-password --name-by count ||
	    return 1
	expect_exit 0 "$COFFER" --repo cnt backup data/small || return 1
	expect_exit 0 "$COFFER" --repo cnt2 init --like cnt || return 1
	expect_exit 0 "$COFFER" --repo cnt2 backup data/numbers || return 1
	expect_exit 0 "$COFFER" --repo cnt backup data/numbers || return 1
	expect_exit 1 "$COFFER" --repo cnt copy --to cnt2 --json || return 1
	expect_jq '[.snapshots[] | [.name, .status]] ==
	    [["1", "failed"], ["2", "copied"]]' out || return 1
	expect_jq '.snapshots[0].error | test("another snapshot of that name")' \
	    out || return 1
	expect_exit 0 "$COFFER" --repo cnt2 restore 1 --target rn || return 1
	[ -f rn/data/numbers ] && [ ! -e rn/data/small ] ||
	    fail "the copy's own snapshot 1 was overwritten" || return 1
	expect_exit 0 "$COFFER" --repo cnt tag 2 --add kept || return 1
	expect_exit 0 "$COFFER" --repo cnt copy --to cnt2 2 --json || return 1
	expect_jq '[.snapshots[].status] == ["copied"]' out || return 1
	expect_exit 0 "$COFFER" --repo cnt snapshots --json || return 1
	jq -c '[.snapshots[] | select(.name == "2") | [.id, .tags]]' out >t.src
	expect_exit 0 "$COFFER" --repo cnt2 snapshots --json || return 1
	jq -c '[.snapshots[] | select(.name == "2") | [.id, .tags]]' out >t.dst
	expect_same t.src t.dst || return 1
	set -- cnt2/sets/*/snapshots/2*
	[ $# -eq 1 ] && [ "${1##*/}" = 2.1 ] ||
	    fail "the copy keeps $* for snapshot 2, want only 2.1" || return 1
	expect_exit 0 "$COFFER" --repo cnt2 check || return 1

	# The source's index files lost: its blobs are found through the
	# tables of its packs, and every one is copied.
	rm -f cnt/sets/*/index/* || return 1
	expect_exit 0 "$COFFER" --repo cnt3 init --like cnt || return 1
	expect_exit 0 "$COFFER" --repo cnt copy --to cnt3 --json || return 1
	expect_jq '.copied == 2' out || return 1
	expect_exit 0 "$COFFER" --repo cnt3 check --read-data || return 1
	expect_exit 0 "$COFFER" --repo cnt3 restore 2 --target rl || return 1
	expect_same data/numbers rl/data/numbers || return 1
}

# copy_sets: backup scope (a key set per backup): each snapshot goes
# with its own set, and a filter that passes none of a set's snapshots
# makes no set on the copy.
copy_sets()
{
	expect_exit 0 "$COFFER" --repo bk init --no-password --scope backup ||
	    return 1
	expect_exit 0 "$COFFER" --repo bk backup data/small || return 1
	expect_exit 0 "$COFFER" --repo bk backup --tag one data/numbers ||
	    return 1
	expect_exit 0 "$COFFER" --repo bk backup data/small || return 1
	expect_exit 0 "$COFFER" --repo bk2 init --like bk || return 1
	expect_exit 0 "$COFFER" --repo bk copy --to bk2 --tag one || return 1
	[ "$(ls bk2/sets | wc -l)" -eq 1 ] ||
	    fail "the copy has sets $(ls bk2/sets), want one" || return 1
	expect_exit 0 "$COFFER" --repo bk copy --to bk2 --json || return 1
	expect_jq '.copied == 2 and .present == 1' out || return 1
	[ "$(ls bk2/sets | wc -l)" -eq 3 ] ||
	    fail "the copy has sets $(ls bk2/sets), want three" || return 1
	expect_exit 0 "$COFFER" --repo bk2 check --read-data || return 1

	# A recovery passphrase slot travels with the keyinfo: the copy
	# opens with it and no keystore.
	printf 'correct horse battery staple\n' >pp
	set -- bk/sets/*
	pset=${1##*/}
	COFFER_INSECURE_FAST_KDF=1 expect_exit 0 "$COFFER" --repo bk key \
	    add-passphrase "$pset" --passphrase-file pp || return 1
	expect_exit 0 "$COFFER" --repo bk3 init --like bk || return 1
	expect_exit 0 "$COFFER" --repo bk copy --to bk3 || return 1
	expect_exit 0 env COFFER_KEYSTORE="$PWD/nokeys" "$COFFER" --repo bk3 \
	    --passphrase-file pp key list --json || return 1
	PSET=$pset expect_jq '.key_sets[] | select(.key_id == env.PSET) |
	    .passphrase' out || return 1
	expect_exit 0 "$COFFER" --repo bk3 snapshots --json || return 1
	pname=$(PSET=$pset jq -r '.snapshots[] | select(.key_id == env.PSET) |
	    .name' out)
	expect_exit 0 env COFFER_KEYSTORE="$PWD/nokeys" "$COFFER" --repo bk3 \
	    --passphrase-file pp restore "$pname" --target rp || return 1
	[ -n "$(find rp -type f)" ] ||
	    fail "nothing restored by passphrase from the copy" || return 1
}

# copy_damaged: one damaged byte in the source's newest pack stops that
# snapshot's copy with an error naming it; the copy has no such
# snapshot and stays whole.
copy_damaged()
{
	head -c 300000 /dev/urandom >data/doomed || return 1
	expect_exit 0 "$COFFER" backup data || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	doomed=$(jq -r '.snapshots[-1].name' out)
	pack=$(find "$src/sets" -path '*/packs/*' -type f -printf '%T@ %p\n' |
	    sort -n | tail -n 1 | cut -d' ' -f2)
	flip_byte "$pack" 1000 || return 1
	expect_exit 1 "$COFFER" copy --to "$dst" || return 1
	expect_grep -F "snapshot '$doomed' not copied: data blob" err ||
	    return 1
	expect_grep "^present" out || return 1
	expect_exit 0 "$COFFER" --repo "$dst" snapshots --json || return 1
	DOOMED=$doomed expect_jq '[.snapshots[].name | select(. == env.DOOMED)]
	    == []' out || return 1
	expect_exit 0 "$COFFER" --repo "$dst" check --read-data || return 1
}

# copy_escrow: key sets in escrow and escrow-wrap custody: the copy
# makes one audited release (or unwrap), its keyinfo keeps the escrow
# binding (same custody and escrow key id), and it is read back through
# the server only.
copy_escrow()
{
	need_cmd curl openssl || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	cofferd_start srv || return 1
	COFFER_CACERT=$COFFERD_CACERT
	COFFER_REPO=$PWD/src-e
	export COFFER_CACERT COFFER_REPO
	printf 'tangerine glacier oboe falcon\n' >pw.alice
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	export COFFER_ESCROW_PASSWORD_FILE
	expect_exit 0 "$COFFER" escrow register --server "$COFFERD_URL" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" escrow login --server "$COFFERD_URL" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" init --custody escrow || return 1
	expect_exit 0 "$COFFER" backup data/numbers data/small || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	jq -c '[.key_sets[] | [.key_id, .custody, .escrow_server,
	    .escrow_key_id, .key_present]]' out >keys.src
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	rel0=$(jq '[.events[] | select(.event == "release")] | length' out)
	expect_exit 0 "$COFFER" --repo dst-e init --like "$COFFER_REPO" ||
	    return 1
	expect_exit 0 "$COFFER" copy --to dst-e || return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	rel1=$(jq '[.events[] | select(.event == "release")] | length' out)
	note "releases: $rel0 before the copy, $rel1 after"
	[ "$rel1" -eq $((rel0 + 1)) ] ||
	    fail "the copy made $((rel1 - rel0)) releases, want 1" || return 1
	expect_exit 0 "$COFFER" --repo dst-e key list --json || return 1
	jq -c '[.key_sets[] | [.key_id, .custody, .escrow_server,
	    .escrow_key_id, .key_present]]' out >keys.dst
	expect_same keys.src keys.dst || return 1
	expect_grep '"escrow"' keys.dst || return 1
	expect_exit 0 "$COFFER" --repo dst-e restore latest --target re ||
	    return 1
	expect_same data/numbers re/data/numbers || return 1
	# escrow-wrap: the sealed key travels in the keyinfo; one unwrap.
	expect_exit 0 "$COFFER" --repo src-w init --custody escrow-wrap ||
	    return 1
	expect_exit 0 "$COFFER" --repo src-w backup data/small || return 1
	expect_exit 0 "$COFFER" --repo src-w key list --json || return 1
	jq -c '[.key_sets[] | [.key_id, .custody, .escrow_key_id]]' out >w.src
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	un0=$(jq '[.events[] | select(.event == "unwrap")] | length' out)
	expect_exit 0 "$COFFER" --repo dst-w init --like src-w || return 1
	expect_exit 0 "$COFFER" --repo src-w copy --to dst-w || return 1
	expect_exit 0 "$COFFER" escrow audit --json || return 1
	un1=$(jq '[.events[] | select(.event == "unwrap")] | length' out)
	[ "$un1" -eq $((un0 + 1)) ] ||
	    fail "the copy made $((un1 - un0)) unwraps, want 1" || return 1
	expect_exit 0 "$COFFER" --repo dst-w key list --json || return 1
	jq -c '[.key_sets[] | [.key_id, .custody, .escrow_key_id]]' out >w.dst
	expect_same w.src w.dst || return 1
	expect_grep 'escrow-wrap' w.dst || return 1
	if cmp -s src-w/sets/*/keyinfo dst-w/sets/*/keyinfo; then
		fail "the keyinfo was copied, not sealed again"
		return 1
	fi

	# Without the server the copies cannot be read: no key came along.
	cofferd_stop srv || return 1
	expect_fail "$COFFER" --repo dst-e restore latest --target re2 ||
	    return 1
	[ ! -e re2/data/numbers ] ||
	    fail "the copy was restored without the escrow server" || return 1
	expect_fail "$COFFER" --repo dst-w restore latest --target rw2 ||
	    return 1
	[ ! -e rw2/data/small ] ||
	    fail "the copy was restored without the escrow server" || return 1
}
