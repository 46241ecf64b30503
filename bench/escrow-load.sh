#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/escrow-load.sh: logins, deposits and releases per second of a real
# cofferd on loopback over TLS, once on SQLite and once on PostgreSQL
# ("make bench-escrow").  Never part of the tests.  Writes
# bench/ESCROW-LOAD.md.
#
# For each backend and each number of cofferd worker threads in WORKERS:
# a fresh database (SQLite: a file in the scratch folder;
# PostgreSQL: a throwaway cluster from tests/harness/pg.sh with fsync on,
# PG_DURABLE=1), a fresh cofferd with --threads N and otherwise its
# defaults (real Argon2id costs: 64 MiB, 3 passes) and a throwaway CA
# (tests/harness/tls.sh), then bench_escrow (bench/bench_escrow.c): THREADS
# client threads, each with its own account, keep-alive TLS connection and
# source address (127.0.1.N, as devices on many networks), send requests
# back to back for SECONDS_PER_OP per operation:
#   login    POST /v1/sessions            (Argon2id verify + session row)
#   deposit  POST /v1/keys                (seal in the key holder, insert,
#                                          audit row)
#   release  POST /v1/keys/ID/release     (audit row, count, open; every
#                                          answer checked against the
#                                          deposit)
# and then logins again with every thread on 127.0.0.1 ("login1": one
# address, as behind a proxy or NAT; cofferd reserves each login in the
# database, then checks the passwords of one address in parallel).
# Every write is committed before the answer (SQLite synchronous=FULL,
# PostgreSQL synchronous_commit=on).  Client, server and database share
# this machine's CPUs.
#
# Environment:
#   THREADS=N      client threads (default 32)
#   SECONDS_PER_OP=N  seconds per operation and run (default 10)
#   BACKENDS=LIST  default "sqlite postgres"
#   WORKERS=LIST   cofferd worker threads, default "CPUs, 16 per CPU"
#                  (the second is cofferd's default)
#   BENCH_DIR=DIR  scratch folder (default ${TMPDIR:-/tmp}); the databases
#                  go there, so its file system is what fsync measures
#   RESULTS=FILE   the report (default bench/ESCROW-LOAD.md)
#   COFFERD_OPTS   more cofferd options, e.g. "--threads 8"
#   B=DIR          the build folder (default build)

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
THREADS=${THREADS:-32}
SECS=${SECONDS_PER_OP:-10}
BACKENDS=${BACKENDS:-sqlite postgres}
WORKERS=${WORKERS:-$(nproc) $(($(nproc) * 16))}
RESULTS=${RESULTS:-$top/bench/ESCROW-LOAD.md}
COFFERD_OPTS=${COFFERD_OPTS:-}
export LC_ALL=C

for f in "$B/cofferd" "$B/bench/bench_escrow"; do
	[ -x "$f" ] || { echo "escrow-load: no $f (make bench-escrow)" >&2;
	    exit 1; }
done
for c in curl openssl jq; do
	command -v "$c" >/dev/null 2>&1 ||
	    { echo "escrow-load: needs $c" >&2; exit 1; }
done

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/coffer-escrow-load.XXXXXX")
chmod 755 "$work"
TMPDIR=$work
export TMPDIR
SRCDIR=$top
COFFERD=$B/cofferd
# The real password hashing: logins cost what they cost in production.
COFFERD_INSECURE_FAST_KDF=0
COFFERD_TLS_DIR=$work/tls
export SRCDIR COFFERD COFFERD_INSECURE_FAST_KDF COFFERD_TLS_DIR
. "$top/tests/harness/pg.sh"
. "$top/tests/harness/cofferd.sh"
trap 'cofferd_cleanup; pg_stop; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cd "$work"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
# What a commit costs here: 8 KiB synchronous writes (as a WAL flush).
d0=$(date +%s%N)
dd if=/dev/zero of="$work/dsync" bs=8k count=2000 oflag=dsync 2>/dev/null
d1=$(date +%s%N)
rm -f "$work/dsync"
dsync=$((2000 * 1000000000 / (d1 - d0 + 1)))
t0=$(date +%s)

# run_backend NAME DB-URL WORKERS [NAME:PID+]: one cofferd on DB-URL, one
# bench_escrow run into $work/NAME.out, watching the CPU of cofferd, its
# key holder and the database server if given.
run_backend()
{
	COFFERD_DB=$2
	export COFFERD_DB
	# shellcheck disable=SC2086 # options, split on purpose
	cofferd_start "$work/srv-$1" --threads "$3" $COFFERD_OPTS || return 1
	[ -n "$tlsver" ] || tlsver=$(curl -sv -o /dev/null \
	    --cacert "$COFFERD_CACERT" "$COFFERD_URL/healthz" 2>&1 |
	    sed -n 's/.*SSL connection using \([^ ]*\) \/ \([^ ]*\).*/\1 \2/p')
	echo "escrow-load: $1: $THREADS client threads, ${SECS}s per" \
	    "operation" >&2
	_watch="cofferd:$COFFERD_PID,kh:$COFFERD_KH_PID${4:+,$4}"
	"$B/bench/bench_escrow" -u "$COFFERD_URL" -c "$COFFERD_CACERT" \
	    -t "$THREADS" -s "$SECS" -p "bench-$1" -P "$_watch" -S |
	    tee "$work/$1.out"
	"$B/bench/bench_escrow" -u "$COFFERD_URL" -c "$COFFERD_CACERT" \
	    -t "$THREADS" -s "$SECS" -p "bench-$1" -P "$_watch" -o login |
	    sed 's/^op=login /op=login1 /' | tee -a "$work/$1.out"
	cofferd_stop "$work/srv-$1" || return 1
	grep -c '^op=' "$work/$1.out" | grep -qx 4
}

pg_version=
tlsver=
runs=
for be in $BACKENDS; do
	for w in $WORKERS; do
		run=$be-$w
		runs="$runs $run"
		case $be in
		sqlite)
			run_backend "$run" "sqlite:$work/$run.db" "$w"
			;;
		postgres)
			PG_DURABLE=1 pg_start
			pg_version=$("$(pg_bindir)/postgres" --version)
			run_backend "$run" "$PG_URL" "$w" \
			    "db:$(head -n 1 "$PG_DIR/data/postmaster.pid")+"
			pg_stop
			;;
		*)
			echo "escrow-load: unknown backend '$be'" >&2
			exit 2
			;;
		esac
	done
done
t1=$(date +%s)
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# field FILE OP KEY: the value of KEY= on OP's line.
field()
{
	sed -n "s/^op=$2 .* $3=\\([^ ]*\\).*/\\1/p" "$1"
}

pkgver()
{
	dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo '?'
}

fs=$(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=
[ -n "$(git -C "$top" status --porcelain 2>/dev/null)" ] &&
    dirty=" with uncommitted changes"

{
	echo "# cofferd load: logins, deposits and releases per second"
	echo
	echo "Written by \`bench/escrow-load.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S') UTC;"
	echo "the runs took $((t1 - t0)) s. Reproduce with \`make bench-escrow\`"
	echo "(\`THREADS=\`, \`SECONDS_PER_OP=\`, \`WORKERS=\` to change the load)."
	echo
	echo "## Machine"
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| CPU | $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1) |"
	echo "| cores | $(nproc) (client, cofferd, key holder and database share them) |"
	echo "| RAM | $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |"
	echo "| system | $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r) $(uname -m) |"
	echo "| databases on | a scratch folder (\`${work##*/}\`), $fs; $dsync synchronous 8 KiB writes/s (dd oflag=dsync) |"
	echo "| load average | before $load0, after $load1 (1, 5, 15 min) |"
	echo
	echo "## Versions and settings"
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| cofferd | $("$B/cofferd" --version) (commit $commit$dirty), \`--threads\` as in the tables, otherwise defaults: Argon2id 64 MiB / 3 passes, $tlsver (GnuTLS $(pkgver libgnutls30)), libmicrohttpd $(pkgver libmicrohttpd12) |"
	echo "| SQLite | $(pkgver libsqlite3-0): WAL, synchronous=FULL, secure_delete |"
	[ -n "$pg_version" ] &&
	    echo "| PostgreSQL | $pg_version, libpq $(pkgver libpq5): throwaway cluster (tests/harness/pg.sh), fsync on, synchronous_commit on, shared_buffers 32MB, over TCP on 127.0.0.1 with SCRAM |"
	echo "| client | bench/bench_escrow.c: $THREADS threads, one account, one keep-alive HTTPS connection and one source address 127.0.1.N each (libcurl $(pkgver libcurl4)), ${SECS} s per operation |"
	echo
	echo "## Results"
	echo
	echo "Requests per second (all threads), and the median and 99th percentile"
	echo "latency of one request in ms."
	echo
	echo "| backend | cofferd workers | logins/s | logins/s, one address | deposits/s | releases/s | login p50 / p99 | deposit p50 / p99 | release p50 / p99 | errors |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for run in $runs; do
		f=$work/$run.out
		e=0
		for op in login deposit release login1; do
			e=$((e + $(field "$f" "$op" errors)))
		done
		printf '| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s |\n' \
		    "${run%-*}" "${run##*-}" \
		    "$(field "$f" login rate)" "$(field "$f" login1 rate)" \
		    "$(field "$f" deposit rate)" \
		    "$(field "$f" release rate)" \
		    "$(field "$f" login p50_ms)" "$(field "$f" login p99_ms)" \
		    "$(field "$f" deposit p50_ms)" \
		    "$(field "$f" deposit p99_ms)" \
		    "$(field "$f" release p50_ms)" \
		    "$(field "$f" release p99_ms)" "$e"
	done
	echo
	echo "- A login is one Argon2id check (64 MiB, 3 passes), about a tenth of a"
	echo "  second of one core: logins/s is bounded by the cores, not by the"
	echo "  database. \"One address\": every client thread on 127.0.0.1, as"
	echo "  behind a proxy or a NAT. cofferd reserves each login in the"
	echo "  database before its password check (store_failure_reserve, so that"
	echo "  parallel guesses, at one cofferd or several, cannot overrun the"
	echo "  failure limit) and checks the passwords in parallel, so one address"
	echo "  gets about as many logins/s as many addresses."
	echo "  With more cofferd workers than cores, logins/s varies from run to"
	echo "  run between one and two cores' worth: libmicrohttpd's thread pool"
	echo "  serves each keep-alive connection on the thread that accepted it,"
	echo "  and a thread busy with an Argon2id check holds up its other"
	echo "  connections."
	echo "- A deposit writes its key row and audit row, a release its audit"
	echo "  row and release count, in one transaction. Concurrent requests"
	echo "  share transactions (group commit, server/store_group.c): while one"
	echo "  group is being flushed the next queues up, and every answer waits"
	echo "  for the commit that holds its rows. A worker thread waiting for a"
	echo "  commit holds its connections, so the groups are at most as large"
	echo "  as the workers: cofferd's default is 16 per CPU."
	echo
	echo "Where the CPU went: cores busy during each phase (CPU seconds over"
	echo "wall seconds; the machine has $(nproc)). cofferd is the front end (TLS,"
	echo "HTTP, JSON, Argon2id, the SQLite store), kh its key holder process,"
	echo "db the PostgreSQL server (postmaster and backends)."
	echo
	echo "| backend | workers | operation | client | cofferd | kh | db |"
	echo "| --- | ---: | --- | ---: | ---: | ---: | ---: |"
	for run in $runs; do
		f=$work/$run.out
		for op in login login1 deposit release; do
			db=$(field "$f" "$op" cpu_db)
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' \
			    "${run%-*}" "${run##*-}" "$op" \
			    "$(field "$f" "$op" cpu_client)" \
			    "$(field "$f" "$op" cpu_cofferd)" \
			    "$(field "$f" "$op" cpu_kh)" "${db:-n/a}"
		done
	done
	echo
	echo "Raw output of bench_escrow:"
	echo
	echo '```'
	for run in $runs; do
		sed "s/^/$run: /" "$work/$run.out"
	done
	echo '```'
} >"$RESULTS"
echo "escrow-load: wrote $RESULTS" >&2
