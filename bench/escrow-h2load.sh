#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/escrow-h2load.sh: deposits and releases per second of a real
# cofferd measured by an outside load tool, h2load (Debian's
# nghttp2-client) speaking HTTP/1.1 over TLS with keep-alive
# ("make bench-escrow-h2load").  Never part of the tests.  Prints one
# line per backend and operation:
#
#	backend=sqlite op=deposit conns=32 seconds=10 requests=... rate=...
#	p50_ms=... p99_ms=... errors=... cpu_cofferd=... cpu_kh=...
#
# Setup: one fresh database, one cofferd (defaults but --threads), one
# account registered and logged in (its session is fresh, so releases
# need no more proof), one key deposited.  Then CONNS keep-alive TLS
# connections send, back to back for SECONDS each:
#   deposit  POST /v1/keys {"key": 32 bytes}   (seal, key row + audit row)
#   release  POST /v1/keys/ID/release           (audit row + count, open)
# Latencies come from h2load's --log-file (one line per request).
#
# Environment:
#   CONNS=N          connections (default 32)
#   SECONDS_PER_OP=N seconds per operation (default 10)
#   BACKENDS=LIST    default "sqlite postgres"
#   WORKERS=N        cofferd --threads (default: 16 per CPU, as cofferd)
#   PG_DURABLE=0     PostgreSQL without fsync: what the CPUs allow when
#                    commits cost nothing (default 1, durable)
#   B=DIR            the build folder (default build); $B/cofferd is used
#   BENCH_DIR=DIR    scratch folder (default ${TMPDIR:-/tmp})

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
CONNS=${CONNS:-32}
SECS=${SECONDS_PER_OP:-10}
BACKENDS=${BACKENDS:-sqlite postgres}
WORKERS=${WORKERS:-$(($(nproc) * 16))}
export LC_ALL=C

[ -x "$B/cofferd" ] || { echo "escrow-h2load: no $B/cofferd" >&2; exit 1; }
for c in h2load curl jq; do
	command -v "$c" >/dev/null 2>&1 ||
	    { echo "escrow-h2load: needs $c (nghttp2-client)" >&2; exit 1; }
done

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/coffer-escrow-h2.XXXXXX")
chmod 755 "$work"
TMPDIR=$work
export TMPDIR
SRCDIR=$top
COFFERD=$B/cofferd
COFFERD_INSECURE_FAST_KDF=0
COFFERD_TLS_DIR=$work/tls
export SRCDIR COFFERD COFFERD_INSECURE_FAST_KDF COFFERD_TLS_DIR
. "$top/tests/harness/pg.sh"
. "$top/tests/harness/cofferd.sh"
trap 'cofferd_cleanup; pg_stop; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cd "$work"

# cpu PID: user + system clock ticks of PID and its threads.
cpu()
{
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# switches PID: context switches (voluntary and not) of PID's threads.
switches()
{
	cat /proc/"$1"/task/*/status 2>/dev/null |
	    awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}

# run BACKEND OP PATH BODYFILE: one h2load phase, one result line.
run()
{
	_c0=$(cpu "$COFFERD_PID")
	_k0=$(cpu "$COFFERD_KH_PID")
	_s0=$(switches "$COFFERD_PID")
	_t0=$(date +%s%N)
	h2load --h1 -c "$CONNS" -D "$SECS" --warm-up-time=1 \
	    --log-file="$work/$1-$2.log" \
	    -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' -d "$4" \
	    "$COFFERD_URL$3" >"$work/$1-$2.out" 2>&1 || {
		cat "$work/$1-$2.out" >&2
		return 1
	}
	_t1=$(date +%s%N)
	_c1=$(cpu "$COFFERD_PID")
	_k1=$(cpu "$COFFERD_KH_PID")
	_s1=$(switches "$COFFERD_PID")
	_hz=$(getconf CLK_TCK)
	_wall=$(( (_t1 - _t0) / 1000000 ))
	sort -n -k 3 "$work/$1-$2.log" | awk -v be="$1" -v op="$2" \
	    -v conns="$CONNS" -v secs="$SECS" -v wall="$_wall" \
	    -v hz="$_hz" -v c="$((_c1 - _c0))" -v k="$((_k1 - _k0))" \
	    -v sw="$((_s1 - _s0))" -v load="$(cut -d' ' -f1 /proc/loadavg)" '
	    { lat[NR] = $3; if ($2 < 200 || $2 > 299) err++ }
	    END {
		if (NR == 0) { print "escrow-h2load: no requests" > "/dev/stderr"; exit 1 }
		printf "backend=%s op=%s conns=%s seconds=%s requests=%d " \
		    "rate=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d " \
		    "cpu_cofferd=%.2f cpu_kh=%.2f cofferd_ms_per_req=%.3f " \
		    "switches_per_req=%.1f load=%s\n", be, op, conns, secs,
		    NR, NR / secs, lat[int(NR * 0.50) + 1] / 1000,
		    lat[int(NR * 0.99) + 1] / 1000, err + 0,
		    c / hz / (wall / 1000), k / hz / (wall / 1000),
		    c / hz * 1000 / NR, sw / NR, load
	    }'
}

for be in $BACKENDS; do
	case $be in
	sqlite)	COFFERD_DB=sqlite:$work/$be.db ;;
	postgres)
		PG_DURABLE=${PG_DURABLE:-1} pg_start
		COFFERD_DB=$PG_URL
		;;
	*)	echo "escrow-h2load: unknown backend '$be'" >&2; exit 2 ;;
	esac
	export COFFERD_DB
	cofferd_start "$work/srv-$be" --threads "$WORKERS"
	TOKEN=
	cofferd_req POST /v1/accounts \
	    '{"account":"h2load","password":"correct horse battery staple"}'
	cofferd_req POST /v1/sessions \
	    '{"account":"h2load","password":"correct horse battery staple","device":"bench"}'
	[ "$status" = 201 ] || [ "$status" = 200 ] ||
	    { echo "escrow-h2load: login: $status" >&2; exit 1; }
	TOKEN=$(jq -r .token resp)
	key=$(head -c 32 /dev/urandom | base64)
	printf '{"key":"%s"}' "$key" >deposit.json
	cofferd_req POST /v1/keys @deposit.json
	[ "$status" = 201 ] ||
	    { echo "escrow-h2load: deposit: $status" >&2; exit 1; }
	id=$(jq -r .key_id resp)
	printf '{}' >release.json
	run "$be" deposit /v1/keys deposit.json
	run "$be" release "/v1/keys/$id/release" release.json
	cofferd_stop "$work/srv-$be"
	[ "$be" != postgres ] || pg_stop
done
