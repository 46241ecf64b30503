#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/harness/server-stress.sh BUILD_DIR [SECTION...]: the server part
# of issue 6.  Starts a real cofferd (TLS on loopback, tests/harness/
# cofferd.sh) on SQLite or PostgreSQL and runs these sections against it
# with BUILD_DIR/tests/srvstress (tests/integration/helpers/srvstress.c),
# all by default:
#
#   slow   slowloris: connections that send a header byte every second,
#          bodies that never finish, half a request line and then
#          nothing, a TLS ClientHello one byte a second, silent TCP
#          connections, all from ten source addresses, while good
#          clients log in, deposit and release without a break.  Every
#          good request succeeds within STRESS_MAX_REQUEST seconds; every
#          slow connection is closed by the server within its --timeout
#          (plus 2.5 s); one address opening 80 connections gets 64 (the
#          per-address limit), the rest are closed at once.
#   fdlimit a second cofferd limited to 128 file descriptors (prlimit)
#          gets 150 connections from 10 addresses: it serves as many as
#          its descriptors allow, a good client is answered once the
#          timeout frees a slot, and the log stays quiet (no busy loop).
#   many   STRESS_CLIENTS clients at once, each from its own address
#          (250 addresses) with its own account and kept-alive
#          connection, plus STRESS_CHURN clients making a new TLS
#          connection per request: deposit, release (same bytes),
#          session; no error, no 5xx, every answer right.
#   flood  failed logins from many addresses against many accounts, all
#          at once (srvstress flood): never more than 10 passwords
#          checked per account or per address, 429 with Retry-After for
#          the rest, right passwords refused exactly where the limit was
#          reached, good clients on other accounts and addresses
#          unaffected (docs/PROTOCOL.md §4).
#   pwflood password work under a flood (issue 13): a second cofferd
#          with real Argon2id costs (no COFFERD_INSECURE_FAST_KDF) and
#          its default --kdf-threads and --kdf-queue gets 24 threads of
#          registrations and 24 of wrong logins, every request on a new
#          connection from one of 250 addresses (srvstress pflood), while
#          4 clients ask for their session with a token (kept-alive
#          connections) and one asks /healthz on a new connection every
#          20 ms: the p99 latency of both must stay under STRESS_P99_MS.
#          Then a short run with --kdf-queue 4: the flood gets 503 with
#          Retry-After, and the good clients still their 200s (latency
#          reported, not bounded: see the section).
#   junk   malformed, truncated and oversized input at the socket level
#          (garbage instead of TLS, truncated handshakes, bad request
#          lines, headers of 60 and 200 KiB, Content-Length lies, broken
#          chunking, ...; srvstress junk): never a 5xx (but 505 to an
#          unknown HTTP version), /healthz answers after every case.
#   crash  STRESS_KILLS rounds: deposits in flight from 16 threads (so
#          that cofferd commits them in groups), SIGKILL of cofferd at a
#          random instant, restart; at the end every deposit that was
#          answered 201 with a key id has its audit row in the database
#          and is released with the same bytes.
#
# After every section cofferd must still run and answer /healthz; at the
# end it must stop cleanly on SIGTERM with no sanitizer report in its log.
#
# Environment:
#   STRESS_LONG=1      the long run (defaults in brackets below); the
#                      quick run is what "make test" runs
#   STRESS_DB          sqlite (default) | pg (a throwaway cluster from
#                      tests/harness/pg.sh) | a postgres:// URL; if unset,
#                      COFFERD_TEST_DB is used when it is a postgres URL
#   STRESS_TIMEOUT     cofferd --timeout (quick 3 [long: cofferd's
#                      default, 30])
#   STRESS_THREADS     cofferd --threads (8)
#   STRESS_SLOW        slow connections per mode (quick 20 [100])
#   STRESS_CLIENTS     clients at once in "many" (quick 100 [500])
#   STRESS_CHURN       new-connection clients in "many" (quick 10 [50])
#   STRESS_ROUNDS      rounds per client in "many" (quick 3 [20])
#   STRESS_KILLS       SIGKILL rounds (quick 3 [100])
#   STRESS_MAX_REQUEST the slowest request a good client may see, in
#                      seconds (quick 10 [30])
#   STRESS_P99_MS      pwflood: the p99 latency allowed for requests with
#                      a token and for /healthz, in ms (100)
#   STRESS_PWFLOOD_S   pwflood: seconds of flood (quick 15 [60])
#   STRESS_WORK        work directory (default: new under TMPDIR; kept
#                      when something failed, or with STRESS_KEEP=1)
#
# Output: "# " lines as it goes, one "FAIL: ..." line per failed check,
# and last "PASS: ..." or "FAIL: N checks failed".  Exit status 0 when
# everything passed, 1 otherwise, 2 on a setup error.

set -u

usage()
{
	echo "usage: tests/harness/server-stress.sh BUILD_DIR" \
	    "[slow|fdlimit|many|flood|pwflood|junk|crash ...]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || usage
shift
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
export SRCDIR
COFFERD=$build/cofferd
STRESS=$build/tests/srvstress
export COFFERD
[ -x "$COFFERD" ] || { echo "server-stress: no $COFFERD" >&2; exit 2; }
[ -x "$STRESS" ] ||
    { echo "server-stress: no $STRESS (make tests)" >&2; exit 2; }
for c in curl jq od; do
	command -v "$c" >/dev/null 2>&1 ||
	    { echo "server-stress: needs $c" >&2; exit 2; }
done
sections=${*:-slow fdlimit many flood pwflood junk crash}
for s in $sections; do
	case $s in
	slow|fdlimit|many|flood|pwflood|junk|crash) ;;
	*) usage ;;
	esac
done

long=${STRESS_LONG:-0}
if [ "$long" = 1 ]; then
	timeout_opt=${STRESS_TIMEOUT:-}
	n_slow=${STRESS_SLOW:-100}
	n_clients=${STRESS_CLIENTS:-500}
	n_churn=${STRESS_CHURN:-50}
	n_rounds=${STRESS_ROUNDS:-20}
	n_kills=${STRESS_KILLS:-100}
	max_req=${STRESS_MAX_REQUEST:-30}
	flood_opts="-A 40 -M 40 -P 3 -j 64 -g 8"
	pw_secs=${STRESS_PWFLOOD_S:-60}
else
	timeout_opt=${STRESS_TIMEOUT:-3}
	n_slow=${STRESS_SLOW:-20}
	n_clients=${STRESS_CLIENTS:-100}
	n_churn=${STRESS_CHURN:-10}
	n_rounds=${STRESS_ROUNDS:-3}
	n_kills=${STRESS_KILLS:-3}
	max_req=${STRESS_MAX_REQUEST:-10}
	flood_opts="-A 10 -M 10 -P 2 -j 16 -g 4"
	pw_secs=${STRESS_PWFLOOD_S:-15}
fi
timeout=${timeout_opt:-30}
threads=${STRESS_THREADS:-8}
p99_ms=${STRESS_P99_MS:-100}

work=${STRESS_WORK:-}
if [ -z "$work" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-stress.XXXXXX") || exit 2
fi
mkdir -p "$work" && cd "$work" || exit 2

. "$SRCDIR/tests/harness/cofferd.sh"

failures=0
pg_started=0

fail()
{
	printf 'FAIL: %s\n' "$*"
	failures=$((failures + 1))
}

note()
{
	printf '# %s\n' "$*"
}

cleanup()
{
	cofferd_cleanup
	[ "$pg_started" = 1 ] && pg_stop
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# kv KEY FILE: the value of KEY=VALUE on the last line of FILE.
kv()
{
	tail -n 1 "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# le A B: the decimal A <= B.
le()
{
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

rand()
{
	od -An -N2 -tu2 /dev/urandom | tr -d ' '
}

# stress CMD-ARGS...: srvstress against the current server.
stress()
{
	"$STRESS" -u "$COFFERD_URL" -c "$COFFERD_CACERT" "$@"
}

# alive SECTION: cofferd still runs and answers /healthz.
alive()
{
	if ! kill -0 "$COFFERD_PID" 2>/dev/null; then
		fail "$1: cofferd is gone; its log:"
		tail -n 20 srv/cofferd.log | sed 's/^/| /'
		return 1
	fi
	code=$(curl -g -s -o /dev/null -w '%{http_code}' --max-time 30 \
	    --cacert "$COFFERD_CACERT" "$COFFERD_URL/healthz") || true
	[ "$code" = 200 ] || { fail "$1: /healthz answered '$code'"; return 1; }
	return 0
}

# mem: the front end's peak and current resident memory, in MiB.
mem()
{
	awk '/^VmHWM:/ { p = $2 } /^VmRSS:/ { r = $2 }
	    END { printf "rss %d MiB (peak %d MiB)", r / 1024, p / 1024 }' \
	    "/proc/$COFFERD_PID/status" 2>/dev/null
}

# ---- the database and the server ------------------------------------------

db=${STRESS_DB:-}
if [ -z "$db" ]; then
	case ${COFFERD_TEST_DB:-} in
	postgres://*|postgresql://*)	db=$COFFERD_TEST_DB ;;
	*)				db=sqlite ;;
	esac
fi
case $db in
sqlite)
	COFFERD_DB=sqlite:$work/srv/cofferd.db ;;
pg)
	. "$SRCDIR/tests/harness/pg.sh"
	pg_start || exit 2
	pg_started=1
	COFFERD_DB=$PG_URL ;;
postgres://*|postgresql://*)
	COFFERD_DB=$db ;;
*)
	echo "server-stress: STRESS_DB '$db': want sqlite, pg or a URL" >&2
	exit 2 ;;
esac
export COFFERD_DB
dbname=${COFFERD_DB%%:*}

# Addresses and names are random per run, so runs against one shared
# PostgreSQL database do not meet each other's failed logins.
R=$(( $(rand) % 240 + 10 ))
SFX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
NET=127.$R
# The "flood" section's 64 threads (long run) must not fill the queue of
# password checks: it counts every answer but 401 and 429 as a failure.
srv_opts="--threads $threads ${timeout_opt:+--timeout $timeout_opt}"
srv_opts="$srv_opts --kdf-queue 512"
note "server-stress: $( [ "$long" = 1 ] && echo long || echo quick) run," \
    "sections: $sections; database $dbname; cofferd $srv_opts;" \
    "addresses $NET.*; work $work"

# shellcheck disable=SC2086 # options split on purpose
cofferd_start srv $srv_opts 2>start.log || {
	cat start.log
	echo "server-stress: cofferd does not start" >&2
	exit 2
}

# ---- sections -------------------------------------------------------------

sec_slow()
{
	note "slow: $n_slow connections per mode from 10 addresses," \
	    "good clients alongside"
	secs=$((timeout + 6))
	# (Never a bare "wait": cofferd is a child of this shell too.)
	pids=
	for m in header body stall tls idle; do
		stress slow -m "$m" -n "$n_slow" -a 10 -N "$NET.20" \
		    -d "$secs" >"slow-$m.out" 2>&1 &
		pids="$pids $!"
	done
	# One address over its limit of 64 connections.
	stress slow -m idle -n 80 -a 1 -N "$NET.21" -d "$secs" \
	    >slow-perip.out 2>&1 &
	pids="$pids $!"
	# Good clients meanwhile (two churning their connections).
	sleep 1
	stress work -n 8 -d "$((timeout + 3))" -l "$max_req" -N "$NET.11" \
	    -p "slowgood-$SFX" >slow-good.out 2>&1
	good_rc=$?
	for p in $pids; do
		wait "$p"
	done
	cat slow-*.out | grep -E '^(slow|work):' | sed 's/^/# /'
	grep -v -E '^(slow|work):' slow-good.out | head -n 5 | sed 's/^/| /'
	[ "$good_rc" -eq 0 ] ||
	    fail "slow: good clients failed: $(tail -n 1 slow-good.out)"
	stress work -n 4 -r 2 -F -l "$max_req" -N "$NET.12" \
	    -p "slowchurn-$SFX" >slow-churn.out 2>&1 ||
	    fail "slow: good clients afterwards: $(tail -n 1 slow-churn.out)"
	limit=$(awk -v t="$timeout" 'BEGIN { print t + 2.5 }')
	for m in header body stall tls idle; do
		f=slow-$m.out
		o=$(kv opened "$f")
		c=$(kv closed "$f")
		[ -n "$o" ] && [ "$o" -eq "$n_slow" ] ||
		    fail "slow $m: opened '$o' of $n_slow"
		[ "$(kv open_at_end "$f")" = 0 ] ||
		    fail "slow $m: $(kv open_at_end "$f") connections never" \
		    "closed by the server"
		[ "$(kv early "$f")" = 0 ] ||
		    fail "slow $m: $(kv early "$f") connections closed at once"
		[ "$c" = "$o" ] || fail "slow $m: closed $c of $o"
		le "$(kv max_life "$f")" "$limit" ||
		    fail "slow $m: a connection lived $(kv max_life "$f") s," \
		    "the timeout is $timeout s"
	done
	f=slow-perip.out
	[ "$(kv early "$f")" = 16 ] && [ "$(kv closed "$f")" = 64 ] ||
	    fail "slow: one address, 80 connections: $(kv early "$f")" \
	    "closed at once (want 16), $(kv closed "$f") held (want 64)"
	grep -q 'closed .* connections\{0,1\} that sent no whole request' \
	    srv/cofferd.log || fail "slow: no reaper line in cofferd's log"
	alive slow
	note "slow: cofferd $(mem)"
}

sec_fdlimit()
{
	note "fdlimit: cofferd with 128 descriptors, 150 connections"
	command -v prlimit >/dev/null 2>&1 ||
	    { fail "fdlimit: needs prlimit (util-linux)"; return; }
	# shellcheck disable=SC2086
	COFFERD_WRAPPER="prlimit --nofile=128:128 --" \
	    cofferd_start srv-fd $srv_opts 2>>start.log ||
	    { fail "fdlimit: cofferd does not start"; cofferd_use srv; return; }
	stress slow -m idle -n 150 -a 10 -N "$NET.22" -d "$((timeout + 4))" \
	    >fd-slow.out 2>&1 &
	spid=$!
	sleep 1
	stress work -n 2 -r 2 -l "$((2 * timeout + 10))" -N "$NET.23" \
	    -p "fdgood-$SFX" >fd-good.out 2>&1 ||
	    fail "fdlimit: good clients: $(tail -n 1 fd-good.out)"
	wait "$spid"
	grep -E '^(slow|work):' fd-slow.out fd-good.out | sed 's/^[^:]*:/# /'
	grep -q 'only 128 file descriptors' srv-fd/cofferd.log ||
	    fail "fdlimit: no warning about the descriptor limit"
	n=$(grep -c 'resource limit\|Too many open files' srv-fd/cofferd.log)
	[ "$n" -le 10 ] ||
	    fail "fdlimit: $n log lines about running out of descriptors"
	n=$(wc -l <srv-fd/cofferd.log)
	note "fdlimit: $n lines in that server's log"
	[ "$n" -le 2000 ] || fail "fdlimit: $n lines in cofferd's log"
	if ! cofferd_stop srv-fd >fd-stop.log 2>&1; then
		fail "fdlimit: cofferd did not stop cleanly"
		sed 's/^/| /' fd-stop.log
	fi
	cofferd_use srv
	alive fdlimit
}

sec_many()
{
	note "many: $n_clients clients at once ($n_rounds rounds each)" \
	    "+ $n_churn on new connections"
	stress work -n "$n_churn" -r "$n_rounds" -F -l "$max_req" \
	    -N "$NET.13" -p "churn-$SFX" >many-churn.out 2>&1 &
	cpid=$!
	stress work -n "$n_clients" -r "$n_rounds" -l "$max_req" \
	    -N "$NET.10" -p "many-$SFX" >many.out 2>&1
	rc=$?
	wait "$cpid"
	crc=$?
	grep -E '^work:' many.out many-churn.out | sed 's/^[^:]*:/# /'
	[ "$rc" -eq 0 ] || { fail "many: $(tail -n 1 many.out)"; \
	    grep -v '^work:' many.out | head -n 10 | sed 's/^/| /'; }
	[ "$crc" -eq 0 ] || { fail "many (new connections):" \
	    "$(tail -n 1 many-churn.out)"; \
	    grep -v '^work:' many-churn.out | head -n 10 | sed 's/^/| /'; }
	alive many
	note "many: cofferd $(mem)"
}

sec_flood()
{
	note "flood: failed logins ($flood_opts)"
	# shellcheck disable=SC2086
	stress flood $flood_opts -p "flood-$SFX" -N "$NET.30" -G "$NET.31" \
	    -V "$NET.32" >flood.out 2>&1
	rc=$?
	grep -E '^flood:' flood.out | sed 's/^/# /'
	[ "$rc" -eq 0 ] || { fail "flood: $(tail -n 1 flood.out)"; \
	    grep -v '^flood:' flood.out | head -n 10 | sed 's/^/| /'; }
	alive flood
}

sec_pwflood()
{
	note "pwflood: registrations and wrong logins with real Argon2id" \
	    "costs for $pw_secs s; p99 of token requests and /healthz" \
	    "under $p99_ms ms"
	COFFERD_INSECURE_FAST_KDF=0 cofferd_start srv-pw --threads "$threads" \
	    --register-limit 5 2>>start.log ||
	    { fail "pwflood: cofferd does not start"; cofferd_use srv; return; }
	grep 'listening on' srv-pw/cofferd.log | tail -n 1 |
	    sed 's/^.*listening/# pwflood: cofferd listening/'
	stress pflood -N "$NET.60" -G "$NET.61" -p "pw-$SFX" -R 24 -L 24 \
	    -g 4 -d "$pw_secs" -q "$p99_ms" >pwflood.out 2>&1
	rc=$?
	grep -E '^pflood:' pwflood.out | sed 's/^/# /'
	[ "$rc" -eq 0 ] || { fail "pwflood: $(tail -n 1 pwflood.out)"; \
	    grep -v '^pflood:' pwflood.out | head -n 10 | sed 's/^/| /'; }
	[ "$(kv flood_201 pwflood.out)" -gt 0 ] 2>/dev/null ||
	    fail "pwflood: no registration got through at all"
	if ! cofferd_stop srv-pw >pw-stop.log 2>&1; then
		fail "pwflood: cofferd did not stop cleanly"
		sed 's/^/| /' pw-stop.log
	fi

	note "pwflood: the same with --kdf-queue 4 for 5 s: 503 + Retry-After"
	COFFERD_INSECURE_FAST_KDF=0 cofferd_start srv-pwq --threads "$threads" \
	    --register-limit 5 --kdf-queue 4 2>>start.log ||
	    { fail "pwflood: cofferd does not start"; cofferd_use srv; return; }
	# No latency bound here: answered at once, the 48 threads make some
	# 450 new TLS connections a second, and on a small machine shared
	# with them that is a CPU flood, not password work (RELIABILITY.md).
	stress pflood -N "$NET.62" -G "$NET.63" -p "pwq-$SFX" -R 24 -L 24 \
	    -g 4 -d 5 -q 100000 >pwflood-q.out 2>&1
	rc=$?
	grep -E '^pflood:' pwflood-q.out | sed 's/^/# /'
	[ "$rc" -eq 0 ] || { fail "pwflood -q 4: $(tail -n 1 pwflood-q.out)"; \
	    grep -v '^pflood:' pwflood-q.out | head -n 10 | sed 's/^/| /'; }
	[ "$(kv flood_503 pwflood-q.out)" -gt 0 ] 2>/dev/null ||
	    fail "pwflood: a queue of 4 never answered 503"
	curl -g -s --cacert "$COFFERD_CACERT" "$COFFERD_URL/metrics" |
	    grep -q '^cofferd_kdf_busy_total [1-9]' ||
	    fail "pwflood: cofferd_kdf_busy_total did not count the 503s"
	if ! cofferd_stop srv-pwq >pwq-stop.log 2>&1; then
		fail "pwflood: cofferd did not stop cleanly"
		sed 's/^/| /' pwq-stop.log
	fi
	cofferd_use srv
	alive pwflood
}

sec_junk()
{
	reps=1
	[ "$long" = 1 ] && reps=3
	note "junk: malformed input at the socket level ($reps pass(es))"
	i=0
	while [ $i -lt $reps ]; do
		stress junk -N "$NET.40" -w 700 >junk.out 2>&1
		rc=$?
		grep -E '^junk:' junk.out | sed 's/^/# /'
		if [ "$rc" -ne 0 ]; then
			fail "junk: $(tail -n 1 junk.out)"
			grep -E 'FAIL|^srvstress' junk.out | head -n 10 |
			    sed 's/^/| /'
		fi
		i=$((i + 1))
	done
	[ "$long" = 1 ] || grep '^case ' junk.out | sed 's/^/#   /'
	alive junk
}

sec_crash()
{
	note "crash: $n_kills SIGKILLs of cofferd with deposits in flight"
	acct=crash-$SFX@example.org
	body="{\"account\":\"$acct\",\"password\":\"stress-password-0123\"}"
	# shellcheck disable=SC2154 # $status is set by cofferd_req
	SRC=$NET.51 cofferd_req POST /v1/accounts "$body" &&
	    SRC=$NET.51 cofferd_req POST /v1/sessions "$body" &&
	    [ "$status" = 201 ] || { fail "crash: cannot log in"; return; }
	token=$(jq -r .token resp)
	: >acked.txt
	k=0
	cut=0
	while [ $k -lt "$n_kills" ]; do
		stress deposit -t "$token" -o acked.txt -n 16 -d 60 \
		    -N "$NET.50" >deposit.out 2>&1 &
		dpid=$!
		# 0.2 to 1 s of deposits.
		ms=$(( $(rand) % 800 + 200 ))
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		cofferd_kill srv
		if ! wait "$dpid"; then
			fail "crash round $k: $(tail -n 1 deposit.out)"
			grep -v '^deposit:' deposit.out | head -n 5 |
			    sed 's/^/| /'
		fi
		c=$(kv cut deposit.out)
		cut=$((cut + ${c:-0}))
		[ "$long" = 1 ] ||
		    note "crash round $k at $ms ms: $(tail -n 1 deposit.out)"
		# shellcheck disable=SC2086
		cofferd_start srv $srv_opts 2>>start.log || {
			fail "crash round $k: cofferd does not restart"
			tail -n 20 start.log | sed 's/^/| /'
			return
		}
		k=$((k + 1))
	done
	n=$(wc -l <acked.txt)
	# Each acknowledged deposit's audit row was committed with its key.
	q="SELECT key_id FROM audit WHERE event = 'deposit' AND account = '$acct'"
	case $COFFERD_DB in
	sqlite:*)	sqlite3 "${COFFERD_DB#sqlite:}" "$q" ;;
	*)		if [ "$pg_started" = 1 ]; then
				pg_psql "$q"
			else
				psql -X -q -A -t -d "$COFFERD_DB" -c "$q"
			fi ;;
	esac >audited.txt 2>audit.err || {
		fail "crash: cannot read the audit rows: $(head -n 1 audit.err)"
	}
	cut -d' ' -f1 acked.txt | sort >acked.ids
	sort -u audited.txt >audited.ids
	noaudit=$(comm -23 acked.ids audited.ids | wc -l)
	[ "$noaudit" -eq 0 ] ||
	    fail "crash: $noaudit acknowledged deposits have no audit row"
	stress verify -t "$token" -f acked.txt -n 4 -N "$NET.52" \
	    >verify.out 2>&1 || {
		fail "crash: $(tail -n 1 verify.out)"
		grep -v '^verify:' verify.out | head -n 10 | sed 's/^/| /'
	}
	note "crash: $n_kills kills, $n deposits acknowledged, $cut cut" \
	    "by a kill; $(tail -n 1 verify.out)"
	[ "$n" -gt 0 ] || fail "crash: no deposit was acknowledged at all"
	alive crash
}

t0=$(date +%s)
for s in $sections; do
	ts=$(date +%s)
	"sec_$s"
	note "$s: $(( $(date +%s) - ts )) s"
done
if ! cofferd_stop srv >stop.log 2>&1; then
	fail "cofferd did not stop cleanly:"
	sed 's/^/| /' stop.log
fi

if [ "$failures" -eq 0 ]; then
	echo "PASS: server stress ($sections) on $dbname in" \
	    "$(( $(date +%s) - t0 )) s"
	[ "${STRESS_KEEP:-0}" = 1 ] || [ -n "${STRESS_WORK:-}" ] ||
	    { cd / && rm -rf "$work"; }
	exit 0
fi
echo "FAIL: $failures checks failed (work directory kept: $work)"
exit 1
