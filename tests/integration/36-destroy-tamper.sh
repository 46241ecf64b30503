# SPDX-License-Identifier: ISC
# tests/integration/36-destroy-tamper.sh
# Goal (issue #13): "key destroy" decides only from authenticated facts.
# With a real cofferd on loopback, each attack edits the cleartext of a key
# set's keyinfo on the card (or removes it) and then runs
# "key destroy A --yes":
#   1. A's escrow key id replaced by B's (both custody escrow);
#   2. an escrow-wrap keyinfo downgraded to CFKEYI01, custody local, its
#      escrow block cut out;
#   3. a device set's scope byte changed to backup;
#   4. a period set's keyinfo deleted;
#   5. a period set's whole folder deleted.
# After each: every other set still restores; and either the destroy
# succeeded and A does not restore from a copy of the card made before the
# destroy (its key is gone everywhere: keystore, server, derivation), or
# it was refused (status 1, a message naming A and what could not be
# verified, no "destroyed" line) and A still restores from that copy.
# Case 6: a key set copied from another repository that shares the
# keystore is refused (FORMAT.md: the repository id is in every object's
# associated data), with a message that says so.  Case 7: with the
# keystore logged in to another account, destroying a local+escrow set
# (whose escrowed key that account does not hold) is refused, not
# reported as destroyed.
scenario() {
	need_cmd curl jq openssl perl || return 1
	. "$SRCDIR/tests/harness/cofferd.sh" || return 1
	trap cofferd_cleanup EXIT
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	cofferd_start srv || return 1
	url=$COFFERD_URL
	repo0=$COFFER_REPO
	COFFER_CACERT=$COFFERD_CACERT
	export COFFER_CACERT
	printf 'tangerine glacier oboe falcon\n' >pw.alice
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	export COFFER_ESCROW_PASSWORD_FILE
	"$HELPERS/gentree" src || return 1
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account alice || return 1
	expect_exit 0 "$COFFER" init --name-by count --scope backup || return 1

	# Snapshots 1, 2: escrow sets A and B; 3: escrow-wrap W;
	# 4: a local random set L (a bystander that must survive).
	expect_exit 0 "$COFFER" backup --custody escrow src || return 1
	expect_exit 0 "$COFFER" backup --custody escrow src || return 1
	expect_exit 0 "$COFFER" backup --custody escrow-wrap src || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	cp out keys.json
	A=$(set_of 1) && B=$(set_of 2) && W=$(set_of 3) && L=$(set_of 4) ||
	    return 1
	ekA=$(ekid_of "$A") && ekB=$(ekid_of "$B") && ekW=$(ekid_of "$W") ||
	    return 1
	[ ${#ekA} -eq ${#ekB} ] && [ "$ekA" != "$ekB" ] ||
	    fail "escrow key ids '$ekA' '$ekB'" || return 1

	# ---- 1. A's escrow key id swapped for B's ----
	rm -rf copy1 && cp -a "$COFFER_REPO" copy1 || return 1
	ki_edit "$COFFER_REPO/sets/$A/keyinfo" ekid "$ekB" || return 1
	grep -q "$ekB" "$COFFER_REPO/sets/$A/keyinfo" ||
	    fail "the edit did not take" || return 1
	run_destroy "$A" || return 1
	server_alive "$ekB" || fail "attack 1: B's key was destroyed at " \
	    "the server through A's edited keyinfo" || return 1
	restores "$COFFER_REPO" 2 || fail "attack 1: B no longer restores" ||
	    return 1
	judge 1 "$A" copy1 1 || return 1
	untamper "$A" copy1 1 || return 1
	server_alive "$ekA" && { fail "A's escrowed key survived"; return 1; }
	restores "$COFFER_REPO" 2 || fail "B no longer restores" || return 1

	# ---- 2. escrow-wrap downgraded to a local-custody keyinfo ----
	rm -rf copy2 && cp -a "$COFFER_REPO" copy2 || return 1
	ki_edit "$COFFER_REPO/sets/$W/keyinfo" strip || return 1
	[ "$(head -c 8 "$COFFER_REPO/sets/$W/keyinfo")" = CFKEYI01 ] ||
	    fail "the edit did not take" || return 1
	run_destroy "$W" || return 1
	if [ "$dstatus" -eq 0 ]; then
		server_alive "$ekW" && { fail "attack 2: 'destroyed' said," \
		    "the server keeps the wrap key pair $ekW"; return 1; }
	else
		server_alive "$ekW" || fail "attack 2: refused, yet the" \
		    "wrap pair is gone" || return 1
	fi
	judge 2 "$W" copy2 3 || return 1
	untamper "$W" copy2 3 || return 1
	server_alive "$ekW" && { fail "W's wrap pair survived"; return 1; }
	restores "$COFFER_REPO" 4 || fail "attack 2: L no longer restores" ||
	    return 1

	# ---- 3. a device set's scope byte changed to backup ----
	expect_exit 0 "$COFFER" backup --scope device src || return 1
	newest || return 1
	D=$NK sD=$NS
	rm -rf copy3 && cp -a "$COFFER_REPO" copy3 || return 1
	ki_edit "$COFFER_REPO/sets/$D/keyinfo" byte 8 3 || return 1
	run_destroy "$D" || return 1
	judge 3 "$D" copy3 "$sD" || return 1
	untamper "$D" copy3 "$sD" || return 1
	restores "$COFFER_REPO" 4 || fail "attack 3: L no longer restores" ||
	    return 1

	# ---- 4. a period set's keyinfo deleted ----
	expect_exit 0 "$COFFER" backup --scope period --period day src ||
	    return 1
	newest || return 1
	P=$NK sP=$NS
	rm -rf copy4 && cp -a "$COFFER_REPO" copy4 || return 1
	rm "$COFFER_REPO/sets/$P/keyinfo" || return 1
	run_destroy "$P" || return 1
	judge 4 "$P" copy4 "$sP" || return 1
	untamper "$P" copy4 "$sP" || return 1
	restores "$COFFER_REPO" 4 || fail "attack 4: L no longer restores" ||
	    return 1

	# ---- 5. a period set's whole folder deleted ----
	expect_exit 0 "$COFFER" backup --scope period --period month src ||
	    return 1
	newest || return 1
	M=$NK sM=$NS
	rm -rf copy5 && cp -a "$COFFER_REPO" copy5 || return 1
	rm -rf "${COFFER_REPO:?}/sets/$M" || return 1
	run_destroy "$M" || return 1
	judge 5 "$M" copy5 "$sM" || return 1
	untamper "$M" copy5 "$sM" || return 1
	restores "$COFFER_REPO" 4 || fail "attack 5: L no longer restores" ||
	    return 1
	restores "$COFFER_REPO" 2 || fail "attack 5: B no longer restores" ||
	    return 1

	# ---- 6. a key set copied from another repository ----
	# Same keystore, so the same stored key opens it: the repository id
	# in its objects' associated data must refuse it.
	expect_exit 0 env COFFER_REPO="$PWD/other" "$COFFER" init \
	    --name-by count --scope backup || return 1
	expect_exit 0 env COFFER_REPO="$PWD/other" "$COFFER" backup src ||
	    return 1
	expect_exit 0 env COFFER_REPO="$PWD/other" "$COFFER" snapshots \
	    --json || return 1
	X=$(jq -r '.snapshots[0].key_id' out)
	cp -a "other/sets/$X" "$COFFER_REPO/sets/$X" || return 1
	# Listed as damaged (status 1), never as readable.
	expect_exit 1 "$COFFER" snapshots --json || return 1
	XX=$X && export XX
	expect_jq '[.snapshots[] | select(.key_id == env.XX)] |
	    length == 1 and all(.readable == false)' out || return 1
	expect_jq '.snapshots[] | select(.key_id == env.XX) | .problem |
	    test("another repository")' out || return 1
	n=$(jq -r '.snapshots[] | select(.key_id == env.XX) | .name' out)
	expect_exit 1 "$COFFER" restore "$n" --target rst-x || return 1
	expect_grep 'another repository' err || return 1
	[ ! -e rst-x/src ] || fail "restored a set from another repository" ||
	    return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	expect_jq '.key_sets[] | select(.key_id == env.XX) |
	    .key_present == false and .damaged == true' out || return 1
	# In its own repository it is as good as ever.
	expect_exit 0 env COFFER_REPO="$PWD/other" "$COFFER" restore 1 \
	    --target rst-own || return 1
	expect_tree src rst-own/src || return 1
	rm -rf "${COFFER_REPO:?}/sets/$X"

	# ---- 7. logged in to another account: no false "destroyed" ----
	# A local+escrow set of alice's; the keystore now logged in as
	# mallory, whom the server tells it holds no such key.
	expect_exit 0 "$COFFER" backup --custody local+escrow src || return 1
	newest || return 1
	E=$NK sE=$NS
	expect_exit 0 "$COFFER" key list --json || return 1
	cp out keys.json
	ekE=$(ekid_of "$E") || return 1
	printf 'bramble cobalt yodel sprocket\n' >pw.mallory
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.mallory
	expect_exit 0 "$COFFER" escrow register --server "$url" \
	    --account mallory || return 1
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account mallory || return 1
	rm -rf copy7 && cp -a "$COFFER_REPO" copy7 || return 1
	run_destroy "$E" || return 1
	[ "$dstatus" -eq 1 ] || fail "attack 7: status $dstatus" || return 1
	expect_grep "mallory" err || return 1
	judge 7 "$E" copy7 "$sE" || return 1
	COFFER_ESCROW_PASSWORD_FILE=$PWD/pw.alice
	expect_exit 0 "$COFFER" escrow login --server "$url" \
	    --account alice || return 1
	server_alive "$ekE" || fail "attack 7: alice's key is gone" ||
	    return 1
	expect_exit 0 "$COFFER" key destroy "$E" --yes || return 1
	server_alive "$ekE" && { fail "E's escrowed key survived"; return 1; }
	return 0
}

# set_of NAME: the key id of snapshot NAME.
set_of()
{
	# (status 1 while some set is damaged: the list is still whole)
	"$COFFER" snapshots --json >sn.json 2>/dev/null
	_k=$(jq -r --arg n "$1" '.snapshots[] | select(.name == $n) |
	    .key_id' sn.json)
	[ -n "$_k" ] || fail "no snapshot $1" || return 1
	printf '%s\n' "$_k"
}

# newest: the newest snapshot's name in $NS, its key id in $NK.
newest()
{
	"$COFFER" snapshots --json >sn.json 2>/dev/null
	NS=$(jq -r '.snapshots[-1].name' sn.json)
	NK=$(jq -r '.snapshots[-1].key_id' sn.json)
	[ -n "$NK" ] && [ "$NK" != null ] || fail "no newest snapshot"
}

# ekid_of KEYID: its escrow key id (from keys.json).
ekid_of()
{
	_e=$(jq -r --arg k "$1" '.key_sets[] | select(.key_id == $k) |
	    .escrow_key_id' keys.json)
	[ -n "$_e" ] && [ "$_e" != null ] || fail "no escrow key id for $1" ||
	    return 1
	printf '%s\n' "$_e"
}

# ki_edit FILE byte OFF VAL | ekid NEW | strip: edit a keyinfo's cleartext
# (FORMAT.md §6): one byte; the escrow key id; or the escrow block cut
# out with the magic and custody of a local-custody keyinfo.
ki_edit()
{
	perl -e '
	    my ($f, $op, @a) = @ARGV;
	    open(my $h, "<:raw", $f) or die "$f: $!";
	    local $/; my $d = <$h>; close($h);
	    my $o = 24 + ord(substr($d, 10, 1)) + 112 * ord(substr($d, 11, 1));
	    if ($op eq "byte") {
		substr($d, $a[0], 1) = chr($a[1]);
	    } else {
		my $ul = ord(substr($d, $o, 1));
		my $ko = $o + 1 + $ul;
		my $kl = ord(substr($d, $ko, 1));
		if ($op eq "ekid") {
			substr($d, $ko + 1, $kl) = $a[0];
		} else {
			my $sl = unpack("v", substr($d, $ko + 1 + $kl, 2));
			substr($d, $o, 1 + $ul + 1 + $kl + 2 + $sl) = "";
			substr($d, 0, 8) = "CFKEYI01";
			substr($d, 9, 1) = chr(1);
		}
	    }
	    open($h, ">:raw", $f) or die "$f: $!";
	    print $h $d; close($h) or die;
	' "$@"
}

# run_destroy KEYID: "key destroy KEYID --yes"; its status in $dstatus
# (a crash fails).
run_destroy()
{
	printf '$ key destroy %s --yes\n' "$1" >&2
	dstatus=0
	"$COFFER" key destroy "$1" --yes >out 2>err || dstatus=$?
	cat out err >&2
	[ "$dstatus" -le 1 ] || fail "key destroy: status $dstatus" ||
	    return 1
	no_sanitizer_report
}

# server_alive EKID: the escrow server holds EKID, not destroyed.
server_alive()
{
	"$COFFER" escrow keys --json >keys.out 2>keys.err ||
	    { cat keys.err >&2; return 2; }
	jq -e --arg e "$1" '.keys | any(.key_id == $e and .destroyed == null)' \
	    keys.out >/dev/null
}

# judge N KEYID COPY SNAPSHOT: after attack N on KEYID, either the
# destroy succeeded and the set no longer restores from COPY, or it was
# refused with a message naming the set and it still restores from COPY.
judge()
{
	_snap=$4
	if [ "$dstatus" -eq 0 ]; then
		grep -q "key set $2 destroyed" out ||
		    fail "attack $1: status 0 without 'destroyed'" || return 1
		if restores "$3" "$_snap"; then
			fail "attack $1: 'key destroy $2' said destroyed, and" \
			    "a copy of the card made before still restores"
			return 1
		fi
	else
		grep -q "$2" err ||
		    fail "attack $1: the refusal does not name $2" || return 1
		grep -q "nothing was destroyed" err ||
		    fail "attack $1: the refusal does not say it destroyed" \
		    "nothing" || return 1
		grep -q "destroyed$" out &&
		    { fail "attack $1: refused, yet says destroyed"; return 1; }
		restores "$3" "$_snap" || fail "attack $1: refused, yet the" \
		    "key of $2 is gone (a copy no longer restores)" ||
		    return 1
	fi
	return 0
}

# untamper KEYID COPY SNAPSHOT: after a refused destroy, put the set's
# folder back as COPY has it: now a plain destroy succeeds, and SNAPSHOT
# no longer restores from COPY.  (Nothing to do after a success.)
untamper()
{
	[ "$dstatus" -ne 0 ] || return 0
	rm -rf "${COFFER_REPO:?}/sets/$1" &&
	    cp -a "$2/sets/$1" "$COFFER_REPO/sets/$1" || return 1
	expect_exit 0 "$COFFER" key destroy "$1" --yes || return 1
	expect_grep "key set $1 destroyed" out || return 1
	if restores "$2" "$3"; then
		fail "$1 restores from a copy after a plain destroy"
		return 1
	fi
	return 0
}

# restores REPO SNAPSHOT: SNAPSHOT of REPO restores equal to src.
restores()
{
	_t=rst-$(date +%s%N)
	COFFER_REPO=$PWD/$1
	case $1 in /*) COFFER_REPO=$1 ;; esac
	"$COFFER" restore "$2" --target "$_t" >rst.out 2>rst.err ||
	    { cat rst.err >&2; COFFER_REPO=$repo0; return 1; }
	COFFER_REPO=$repo0
	# shellcheck disable=SC2046 # owner_opt is empty or one word
	expect_tree src "$_t/src" $(owner_opt)
}
