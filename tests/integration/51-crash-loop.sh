# SPDX-License-Identifier: ISC
# tests/integration/51-crash-loop.sh
# Goal: SIGKILL at random instants of every command that writes the card
# (COFFER_CRASH_KILLS kills, default 25, seeded so a failure can be
# replayed with CRASH_SEED) never costs anything the command was not
# asked to remove.  The kills go round the commands in turn: backup (of
# 3 MB of new data; every other kill), forget of one snapshot, prune
# (after a forget, so that it has packs to delete and to repack), key
# add-passphrase and remove-passphrase in turn, tag --add, and key destroy
# of a set made for it.  After every kill:
#   - check --read-data passes (leftovers allowed),
#   - snapshot 1 and the newest snapshot of a backup that returned 0
#     restore bit for bit,
#   - what the killed command did is all or nothing: the forgotten
#     snapshot is there or gone and every other one is still listed; prune
#     lost no snapshot; the passphrase slot is there (and then opens the
#     card with the keystore gone) or not; the tag is on the snapshot or
#     not, and the snapshot is listed once; a half-destroyed set is
#     finished by running the same destroy again, after which its
#     snapshot is gone and the set is not listed.
# Last, a final backup completes and restores.
#
# Each command's kill instants are spread evenly over a window that
# starts at twice the time it takes here and then follows its real length
# (a backup after a kill has more to do): 1/8 longer after a kill that
# interrupted the command, 1/8 shorter after one that came too late, so
# about half the kills interrupt, at instants spread over the whole run.
# So it needs no quiet machine and runs beside other scenarios.
#
# Long mode: COFFER_CRASH_KILLS=1000 (run.sh stops a scenario after
# COFFER_TEST_TIMEOUT seconds, 900 by default: give it about 2 s a kill,
# e.g. COFFER_TEST_TIMEOUT=5400 COFFER_CRASH_KILLS=1000 sh tests/run.sh
# build 51; the result is in docs/RELIABILITY.md).  So that the card stays
# small, every 25th kill is followed by a forget of every snapshot but the
# first and the newest good one, a prune and a check.

PP='tangerine glacier oboe falcon'

# lcg: the next pseudo-random number in $rnd.
lcg()
{
	rnd=$(( (rnd * 1103515245 + 12345) % 2147483648 ))
}

# ms_now: milliseconds since the epoch.
ms_now()
{
	echo $(($(date +%s%N) / 1000000))
}

# timed KIND CMD...: run CMD to the end; widen KIND's window to twice its
# run time.  Fails unless it exits 0.
timed()
{
	_kind=$1
	shift
	_t0=$(ms_now)
	expect_exit 0 "$@" || return 1
	_t=$(( ($(ms_now) - _t0) * 2 ))
	[ "$_t" -ge 20 ] || _t=20
	eval "[ \"\$win_$_kind\" -ge $_t ] || win_$_kind=$_t"
}

# killrun KIND CMD...: start CMD, SIGKILL it at a random instant of KIND's
# window, adapt the window; $rc is its exit status (137 when killed).
killrun()
{
	_kind=$1
	shift
	eval "_w=\$win_$_kind"
	"$@" >out.kill 2>err.kill &
	_pid=$!
	lcg
	ms=$(( (rnd / 65536) % (_w + 1) ))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill -KILL "$_pid" 2>/dev/null
	rc=0
	wait "$_pid" 2>/dev/null || rc=$?
	if [ "$rc" -eq 137 ]; then
		killed=$((killed + 1))
		_w=$((_w + _w / 8 + 1))
	elif [ "$_w" -gt 20 ]; then
		_w=$((_w - _w / 8))
	fi
	eval "win_$_kind=$_w"
	[ "$rc" -eq 0 ] || [ "$rc" -eq 137 ] ||
	    fail "$* ended with $rc: $(cat err.kill)" || return 1
	return 0
}

# names: the snapshots' names, one a line, in $PWD/names.
names()
{
	expect_exit 0 "$COFFER" snapshots --json || return 1
	jq -r '.snapshots[].name' out >names
}

# good_backup: a backup that must succeed; remember it as the good one.
good_backup()
{
	timed backup "$COFFER" backup src || return 1
	names || return 1
	good=$(tail -n 1 names)
	rm -rf good-src && cp -a src good-src || return 1
}

# after_kill WHAT: what must hold after any kill.
after_kill()
{
	expect_exit 0 "$COFFER" check --read-data ||
	    fail "check failed after kill $k ($1) at $ms ms" || return 1
	rm -rf rst1 rstg
	expect_exit 0 "$COFFER" restore 1 --target rst1 || return 1
	# shellcheck disable=SC2046
	expect_tree orig rst1/src $(owner_opt) || return 1
	expect_exit 0 "$COFFER" restore "$good" --target rstg || return 1
	# shellcheck disable=SC2046
	expect_tree good-src rstg/src $(owner_opt)
}

# victim: a snapshot that is neither 1 nor the good one, or nothing.
victim()
{
	names || return 1
	lcg
	grep -vx -e 1 -e "$good" names >cands
	n=$(wc -l <cands)
	v=
	[ "$n" -gt 0 ] && v=$(sed -n "$((rnd % n + 1))p" cands)
	return 0
}

round_backup()
{
	head -c 3000000 /dev/urandom >"src/new-$((k % 8))" || return 1
	killrun backup "$COFFER" backup src || return 1
	if [ "$rc" -eq 0 ]; then
		names && good=$(tail -n 1 names) || return 1
		rm -rf good-src && cp -a src good-src || return 1
	fi
	after_kill backup
}

round_forget()
{
	victim || return 1
	if [ -z "$v" ]; then
		round_backup
		return
	fi
	cp names before
	killrun forget "$COFFER" forget "$v" || return 1
	names || return 1
	grep -vx "$v" before >want
	grep -vx "$v" names >have
	expect_same want have || fail "forget $v killed: other snapshots" \
	    "changed" || return 1
	[ "$rc" -eq 0 ] && grep -qx "$v" names &&
	    fail "forget $v returned 0 but it is still listed" && return 1
	after_kill forget
}

round_prune()
{
	victim || return 1
	[ -n "$v" ] && { expect_exit 0 "$COFFER" forget "$v" || return 1; }
	names && cp names before || return 1
	killrun prune "$COFFER" prune || return 1
	names || return 1
	expect_same before names || fail "prune killed: the snapshots" \
	    "changed" || return 1
	after_kill prune
}

round_passphrase()
{
	expect_exit 0 "$COFFER" key list --json || return 1
	had=$(jq -r --arg id "$set" \
	    '.key_sets[] | select(.key_id == $id) | .passphrase' out)
	if [ "$had" = true ]; then
		killrun pass_rm "$COFFER" key remove-passphrase "$set" ||
		    return 1
	else
		killrun pass_add "$COFFER" key add-passphrase "$set" \
		    --passphrase-file pp || return 1
	fi
	expect_exit 0 "$COFFER" key list --json || return 1
	has=$(jq -r --arg id "$set" \
	    '.key_sets[] | select(.key_id == $id) | .passphrase' out)
	case $had/$has/$rc in
	true/false/*|false/true/*|true/true/137|false/false/137) ;;
	*)	fail "key passphrase killed: slot was $had, is $has, exit $rc"
		return 1 ;;
	esac
	if [ "$has" = true ]; then
		rm -rf rstp
		expect_exit 0 env COFFER_KEYSTORE="$PWD/no-keystore" \
		    "$COFFER" restore 1 --passphrase-file pp --target rstp ||
		    return 1
		# shellcheck disable=SC2046
		expect_tree orig rstp/src $(owner_opt) || return 1
	fi
	after_kill passphrase
}

round_tag()
{
	t=t$k
	killrun tag "$COFFER" tag "$good" --add "$t" || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	n=$(jq --arg n "$good" '[.snapshots[] | select(.name == $n)] |
	    length' out)
	[ "$n" = 1 ] || fail "tag killed: snapshot $good listed $n times" ||
	    return 1
	tagged=$(jq -r --arg n "$good" --arg t "$t" '.snapshots[] |
	    select(.name == $n) | .tags | index($t) != null' out)
	[ "$rc" -eq 0 ] && [ "$tagged" != true ] &&
	    fail "tag returned 0 but $good has no tag $t" && return 1
	after_kill tag
}

round_destroy()
{
	printf 'throwaway %s\n' "$k" >small/f || return 1
	timed destroy_setup "$COFFER" backup --scope backup small || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	d=$(jq -r '.snapshots[-1].key_id' out)
	dn=$(jq -r '.snapshots[-1].name' out)
	killrun destroy "$COFFER" key destroy "$d" --yes || return 1
	after_kill destroy || return 1
	# Finish it: the same destroy again ends the job (or finds it done).
	"$COFFER" key destroy "$d" --yes >out 2>err
	rc2=$?
	# It finishes the job, or finds nothing left to do.
	[ "$rc2" -eq 0 ] || { [ "$rc2" -eq 1 ] &&
	    grep -q "no key set $d on the card or in the keystore" err; } ||
	    fail "destroy $d again after a kill: exit $rc2: $(cat err)" ||
	    return 1
	expect_exit 0 "$COFFER" key list --json || return 1
	jq -e --arg id "$d" '[.key_sets[] | select(.key_id == $id)] |
	    length == 0' out >/dev/null ||
	    fail "key set $d still listed after destroy" || return 1
	names || return 1
	grep -qx "$dn" names && fail "snapshot $dn of destroyed set $d" \
	    "still listed" && return 1
	after_kill destroy-again
}

scenario() {
	need_cmd jq || return 1
	COFFER_INSECURE_FAST_KDF=1
	export COFFER_INSECURE_FAST_KDF
	seed=${CRASH_SEED:-$$}
	kills=${COFFER_CRASH_KILLS:-25}
	note "crash seed $seed, $kills kills (rerun with CRASH_SEED=$seed" \
	    "COFFER_CRASH_KILLS=$kills)"
	printf '%s\n' "$PP" >pp || return 1
	mkdir small && mkdir -m 700 no-keystore || return 1
	"$HELPERS/gentree" src --big || return 1
	cp -a src orig || return 1
	expect_exit 0 "$COFFER" init --name-by count || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	set=$(jq -r '.snapshots[0].key_id' out)
	for kind in backup forget prune pass_add pass_rm tag destroy \
	    destroy_setup; do
		eval "win_$kind=0"
	done
	# How long each command takes on this machine (the longest of two
	# backups of 3 MB of new data, then one of each other command).
	for _ in 1 2; do
		head -c 3000000 /dev/urandom >src/new-timing || return 1
		good_backup || return 1
	done
	rm -f src/new-timing
	good_backup || return 1
	timed pass_add "$COFFER" key add-passphrase "$set" \
	    --passphrase-file pp || return 1
	timed pass_rm "$COFFER" key remove-passphrase "$set" || return 1
	timed tag "$COFFER" tag "$good" --add timing || return 1
	victim && timed forget "$COFFER" forget "$v" || return 1
	timed prune "$COFFER" prune || return 1
	printf 'timing\n' >small/f || return 1
	timed destroy_setup "$COFFER" backup --scope backup small || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	timed destroy "$COFFER" key destroy \
	    "$(jq -r '.snapshots[-1].key_id' out)" --yes || return 1
	note "windows (ms): backup $win_backup, forget $win_forget," \
	    "prune $win_prune, passphrase $win_pass_add/$win_pass_rm," \
	    "tag $win_tag, destroy $win_destroy"
	rnd=$seed
	k=0
	killed=0
	trims=0
	counts=
	while [ $k -lt "$kills" ]; do
		case $((k % 8)) in
		0|2|4|6) what=backup ;;
		1)	what=forget ;;
		3)	what=prune ;;
		5)	what=passphrase ;;
		7)	lcg
			if [ $((rnd % 2)) -eq 0 ]; then what=tag
			else what=destroy; fi ;;
		esac
		"round_$what" || { fail "kill $k ($what, seed $seed)"; return 1; }
		counts="$counts $what"
		if [ $((k % 25)) -eq 24 ] && [ $k -lt $((kills - 1)) ]; then
			trim || return 1
			trims=$((trims + 1))
		fi
		k=$((k + 1))
	done
	summary=$(echo "$counts" | tr ' ' '\n' | sed '/^$/d' | sort |
	    uniq -c | awk '{printf "%s%s %s", s, $2, $1; s=", "}')
	note "$kills kills ($summary): $killed interrupted the command," \
	    "$((kills - killed)) came after it had finished; $trims forget" \
	    "+ prune rounds; windows at the end (ms): backup $win_backup," \
	    "forget $win_forget, prune $win_prune, passphrase" \
	    "$win_pass_add/$win_pass_rm, tag $win_tag, destroy $win_destroy"
	rm -f src/new-*
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" check --read-data || return 1
	expect_exit 0 "$COFFER" restore latest --target rst-last || return 1
	# shellcheck disable=SC2046
	expect_tree src rst-last/src $(owner_opt) || return 1
}

# trim: forget every snapshot but the first and the good one, prune, check.
trim()
{
	names || return 1
	grep -vx -e 1 -e "$good" names >cands
	[ -s cands ] || return 0
	# shellcheck disable=SC2046 # one argument per name
	expect_exit 0 "$COFFER" forget $(cat cands) || return 1
	expect_exit 0 "$COFFER" prune || return 1
	expect_exit 0 "$COFFER" check --read-data
}
