#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/harness/tls.sh DIR [rsa]: a throwaway certificate authority and a server
# certificate for tests, made with the openssl command into DIR (created
# if missing):
#
#   DIR/ca.pem       the CA certificate (give it to curl --cacert, or to
#                    coffer --cacert / COFFER_CACERT)
#   DIR/ca.key       the CA's private key
#   DIR/server.pem   the server certificate, for 127.0.0.1, ::1 and
#                    localhost, signed by the CA (cofferd --tls-cert)
#   DIR/server.key   its private key (cofferd --tls-key), mode 0600
#
# EC P-256 keys (with "rsa": RSA 2048 for the server's key, so a scanner
# can see whether static RSA key exchange is offered), valid for two days.  Does nothing if DIR/server.pem
# exists already.  Exit status 0, or 1 with the reason on stderr.

set -u

[ $# -eq 1 ] || { [ $# -eq 2 ] && [ "$2" = rsa ]; } ||
    { echo "usage: tests/harness/tls.sh DIR [rsa]" >&2; exit 2; }
dir=$1
if [ "${2:-}" = rsa ]; then
	srvkey="-newkey rsa:2048"
else
	srvkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
fi
[ -s "$dir/server.pem" ] && [ -s "$dir/server.key" ] &&
    [ -s "$dir/ca.pem" ] && exit 0
command -v openssl >/dev/null 2>&1 ||
    { echo "tls.sh: needs openssl (scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$dir" || exit 1

(
	set -e
	umask 077
	cd "$dir"
	cat >ext.cnf <<'CNF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
CNF
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout ca.key -out ca.pem -days 2 \
	    -subj "/CN=coffer test CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	# shellcheck disable=SC2086 # the key options, split on purpose
	openssl req $srvkey -nodes \
	    -keyout server.key -out server.csr -subj "/CN=localhost" \
	    2>/dev/null
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -out server.pem -days 2 -extfile ext.cnf \
	    2>/dev/null
	rm -f server.csr ext.cnf ca.srl
	chmod 644 ca.pem server.pem
) || { echo "tls.sh: openssl failed making certificates in $dir" >&2;
    exit 1; }
exit 0
