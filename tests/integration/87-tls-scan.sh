# SPDX-License-Identifier: ISC
# tests/integration/87-tls-scan.sh
# Goal: cofferd offers only strong TLS (docs/SECURITY.md), as a real
# scanner sees it: sslscan against a cofferd on loopback with an RSA
# certificate (with an RSA key, GnuTLS would also offer static RSA key
# exchange unless told not to; an EC key could not show it).  SSLv2,
# SSLv3, TLS 1.0 and 1.1 are disabled; TLS 1.3 is offered; every TLS 1.2
# suite is ECDHE with AES-GCM or ChaCha20-Poly1305: no CBC, no SHA-1 MAC,
# no static RSA, no finite-field DHE, no CCM.  Then the same with the
# usual EC certificate (ECDHE-ECDSA suites only).

. "$SRCDIR/tests/harness/cofferd.sh"

# scan DIR: sslscan the server of DIR into DIR.scan and check it.
scan()
{
	_hp=${COFFERD_URL#https://}
	printf '$ sslscan --no-colour %s\n' "$_hp" >&2
	timeout 120 sslscan --no-colour "$_hp" >"$1.scan" 2>&1 ||
	    fail "sslscan failed" || { tail -n 20 "$1.scan" >&2; return 1; }
	sed -n '/Protocols:/,/^$/p;/Supported Server Cipher/,/^$/p' \
	    "$1.scan" >&2
	for _p in SSLv2 SSLv3 TLSv1.0 TLSv1.1; do
		expect_grep "^$_p  *disabled" "$1.scan" || return 1
	done
	expect_grep '^TLSv1\.2  *enabled' "$1.scan" || return 1
	expect_grep '^TLSv1\.3  *enabled' "$1.scan" || return 1
	# The accepted suites: "Preferred|Accepted VERSION BITS bits NAME".
	awk '/^(Preferred|Accepted) / { print $2, $5 }' "$1.scan" \
	    >"$1.suites"
	grep -q '^TLSv1\.3 ' "$1.suites" ||
	    fail "no TLS 1.3 suite accepted" || return 1
	grep -q '^TLSv1\.2 ' "$1.suites" ||
	    fail "no TLS 1.2 suite accepted" || return 1
	_ok12='^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)'
	_ok12="$_ok12|CHACHA20-POLY1305)\$"
	_ok13='^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$'
	_bad=$(awk -v ok12="$_ok12" -v ok13="$_ok13" '
	    $1 != "TLSv1.2" && $1 != "TLSv1.3" { print; next }
	    $1 == "TLSv1.2" && $2 !~ ok12 { print }
	    $1 == "TLSv1.3" && $2 !~ ok13 { print }' "$1.suites" | tr '\n' ' ')
	[ -z "$_bad" ] || fail "weak suites offered: $_bad" || return 1
	note "$1: $(wc -l <"$1.suites") suites, all ECDHE/TLS 1.3 + AEAD"
}

scenario() {
	need_cmd sslscan openssl curl || return 1
	trap cofferd_cleanup EXIT
	COFFERD_TLS_DIR=$PWD/tls-rsa
	sh "$SRCDIR/tests/harness/tls.sh" "$COFFERD_TLS_DIR" rsa || return 1
	cofferd_start srv-rsa || return 1
	scan srv-rsa || return 1
	grep -q '^TLSv1\.2 ECDHE-RSA-' srv-rsa.suites ||
	    fail "RSA certificate: no ECDHE-RSA suite" || return 1
	cofferd_stop srv-rsa || return 1

	COFFERD_TLS_DIR=$PWD/tls-ec
	cofferd_start srv-ec || return 1
	scan srv-ec || return 1
	grep -q '^TLSv1\.2 ECDHE-ECDSA-' srv-ec.suites ||
	    fail "EC certificate: no ECDHE-ECDSA suite" || return 1
	cofferd_stop srv-ec || return 1
}
