#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/console-pages.sh: what a web console page costs next to the API
# answer it is built from (issue #15).  A fresh cofferd on loopback over
# TLS (tests/harness/cofferd.sh, SQLite, the test password-hash costs),
# one account with 100 deposited keys, one console sign-in; then 300
# GETs of each of /v1/keys, /account/keys, /v1/devices, /account/devices
# and /account/activity on one kept-alive connection: median and p90
# latency and the answer's size.  Run it RUNS times (default 3) and take
# the medians; note the load average it prints.  Never part of the tests.
set -eu
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
export SRCDIR
RUNS=${RUNS:-3}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/coffer-console-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
. "$SRCDIR/tests/harness/cofferd.sh"
COFFERD_INSECURE_FAST_KDF=1
export COFFERD_INSECURE_FAST_KDF
i=0
while [ "$i" -lt "$RUNS" ]; do
	i=$((i + 1))
	rm -rf srv
	uptime | sed 's/.*load/load/'
	cofferd_start srv >/dev/null 2>&1
	URL=$COFFERD_URL CACERT=$COFFERD_CACERT /usr/bin/python3 - <<'PY'
import http.client, json, os, ssl, statistics, time, urllib.parse
u = urllib.parse.urlparse(os.environ["URL"])
ctx = ssl.create_default_context(cafile=os.environ["CACERT"])
c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
J = {"Content-Type": "application/json"}


def req(m, p, body=None, h=None):
    c.request(m, p, body=body, headers=h or {})
    r = c.getresponse()
    return r, r.read()


pw = "benchmark password 1"
req("POST", "/v1/accounts", json.dumps({"account": "b", "password": pw}), J)
r, b = req("POST", "/v1/sessions", json.dumps(
    {"account": "b", "password": pw, "device": "d"}), J)
tok = json.loads(b)["token"]
A = dict(J, Authorization="Bearer " + tok)
for i in range(100):
    req("POST", "/v1/keys", json.dumps(
        {"key": "AAECAwQFBgcICQoLDA0ODw==", "label": "key %d" % i}), A)
r, b = req("POST", "/account/signin", "account=b&password=" +
           urllib.parse.quote_plus(pw),
           {"Content-Type": "application/x-www-form-urlencoded"})
C = {"Cookie": r.getheader("Set-Cookie").split(";")[0]}
for name, p, h in (("GET /v1/keys (API, 100 keys)", "/v1/keys", A),
                   ("GET /account/keys (page, 100 keys)", "/account/keys", C),
                   ("GET /v1/devices (API)", "/v1/devices", A),
                   ("GET /account/devices (page)", "/account/devices", C),
                   ("GET /account/activity (page, 50 events)",
                    "/account/activity", C)):
    ts = []
    for i in range(300):
        t = time.perf_counter()
        r, b = req("GET", p, None, h)
        ts.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, (p, r.status)
    ts.sort()
    print("%-40s median %.2f ms  p90 %.2f ms  %d bytes" % (
        name, statistics.median(ts), ts[int(len(ts) * 0.9)], len(b)))
PY
	cofferd_cleanup
done
