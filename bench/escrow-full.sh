#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/escrow-full.sh: the whole escrow load table in one go ("make
# bench-escrow-full"): bench/escrow-load.sh (cofferd's own client,
# logins, deposits and releases, SQLite and PostgreSQL, 2 and 32
# workers; it writes bench/ESCROW-LOAD.md), then bench/escrow-h2load.sh
# (h2load over TLS with keep-alive, deposits and releases, both
# databases, ROUNDS rounds), whose lines are added to ESCROW-LOAD.md as a
# second table with the median round of each row.  Never part of the
# tests.
#
# Environment: as the two scripts (B, SECONDS_PER_OP, BENCH_DIR, ...);
#   ROUNDS=N        h2load rounds (default 3)
#   H2_WORKERS=N    cofferd --threads for h2load (default 32)
#   RESULTS=FILE    default bench/ESCROW-LOAD.md

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=${RESULTS:-$top/bench/ESCROW-LOAD.md}
ROUNDS=${ROUNDS:-3}
export RESULTS

sh "$top/bench/escrow-load.sh"
lines=$(mktemp "${TMPDIR:-/tmp}/coffer-escrow-full.XXXXXX")
trap 'rm -f "$lines"' EXIT
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	WORKERS=${H2_WORKERS:-32} sh "$top/bench/escrow-h2load.sh" |
	    grep '^backend=' >>"$lines"
	i=$((i + 1))
done
{
	echo
	echo "## h2load (HTTP/1.1 over TLS, keep-alive)"
	echo
	echo "Written by \`bench/escrow-full.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S') UTC:"
	echo "bench/escrow-h2load.sh, ${H2_WORKERS:-32} cofferd workers, $ROUNDS"
	echo "rounds; each row is the round with the median rate. CPU and"
	echo "context switches are cofferd's (the front end, all threads) per"
	echo "request; load is the 1-minute load average at the end of the run."
	echo
	echo "| backend | operation | requests/s | p50 ms | p99 ms | cofferd CPU ms/request | context switches/request | errors | load |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	    print v["backend"], v["op"], v["rate"], v["p50_ms"], v["p99_ms"],
	    v["cofferd_ms_per_req"], v["switches_per_req"], v["errors"],
	    v["load"] }' "$lines" | sort -k1,1 -k2,2 -k3,3n |
	    awk -v n="$ROUNDS" '
	    { k = $1 " " $2; c[k]++; row[k, c[k]] = $0 }
	    END { for (k in c) { split(row[k, int((c[k] + 1) / 2)], f, " ");
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
		    f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9] } }' |
	    sort
	echo
	echo "Raw lines:"
	echo
	echo '```'
	cat "$lines"
	echo '```'
} >>"$RESULTS"
echo "escrow-full: wrote $RESULTS"
