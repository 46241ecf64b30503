#!/bin/sh
# SPDX-License-Identifier: ISC
#
# Install the Debian 12 packages that building and testing coffer need.
# Quiet and harmless when everything is already there; otherwise runs
# "apt-get update" and installs only what is missing, which needs root.
# It installs nothing else: no toolchains or binaries from outside Debian.

set -eu

PKGS="build-essential pkg-config clang libsodium-dev libzstd-dev
libjansson-dev libcurl4-openssl-dev exfatprogs exfat-fuse fuse3 attr jq
util-linux groff-base strace
postgresql libpq-dev libsqlite3-dev
libmicrohttpd-dev libgnutls28-dev openssl gdb curl sqlite3 valgrind acl
libcap2-bin e2fsprogs
liboath-dev oathtool libqrencode-dev libfuse3-dev libblkid-dev
libzxcvbn-dev sslscan systemd
nghttp2-client liblmdb-dev
chromium chromium-driver python3-selenium"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps: no dpkg-query; this script is for Debian 12" >&2
	exit 1
fi

missing=
for p in $PKGS; do
	st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) || st=
	[ "$st" = installed ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (sudo sh scripts/install-deps.sh)" \
	    "or install them with apt-get" >&2
	exit 1
fi

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is wanted
apt-get install -y -q --no-install-recommends $missing
