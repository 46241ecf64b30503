# SPDX-License-Identifier: ISC
# tests/integration/94-tls-resume.sh
# Goal: a client that comes back resumes its TLS session with cofferd
# (session tickets, server/http.c): an abbreviated handshake without the
# server's signature, for TLS 1.3 and TLS 1.2, and the resumed connection
# is answered like any other.  A ticket from another cofferd (another
# ticket key) is not accepted: that client gets a full handshake.

. "$SRCDIR/tests/harness/cofferd.sh"

# hello VERSION SESSFLAG FILE OUT: one TLS connection with openssl
# s_client that asks for /healthz; its output in OUT.
hello()
{
	_hp=${COFFERD_URL#https://}
	# sleep: stay until the answer and (TLS 1.3) the tickets are in.
	(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	    sleep 1) | timeout 20 openssl s_client "$1" -connect "$_hp" \
	    -CAfile "$COFFERD_CACERT" "$2" "$3" >"$4" 2>&1
	grep -q '^HTTP/1.1 200' "$4" ||
	    fail "$1: no answer to /healthz" || { cat "$4" >&2; return 1; }
}

scenario() {
	need_cmd openssl || return 1
	trap cofferd_cleanup EXIT
	cofferd_start srv || return 1
	for v in -tls1_3 -tls1_2; do
		hello $v -sess_out "sess$v" "first$v" || return 1
		expect_grep '^New, TLS' "first$v" || return 1
		[ -s "sess$v" ] || fail "$v: no session to keep" || return 1
		hello $v -sess_in "sess$v" "again$v" || return 1
		expect_grep '^Reused, TLS' "again$v" || return 1
		note "$v: $(grep -E '^(New|Reused),' "again$v")"
	done
	cofferd_stop srv || return 1

	# Another server, another ticket key: a full handshake again.
	cofferd_start srv2 || return 1
	hello -tls1_2 -sess_in sess-tls1_2 other || return 1
	expect_grep '^New, TLS' other || return 1
	cofferd_stop srv2 || return 1
}
