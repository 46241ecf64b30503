#!/bin/sh
# SPDX-License-Identifier: ISC
# make demo: coffer's main job end to end, in a scratch folder.
# Part 1: a "card" folder gets an encrypted repository; the key stays in a
# keystore only this user can read; the files come back bit for bit.
# Part 2: the key escrow server.  cofferd runs on loopback (SQLite, a
# throwaway CA); an account is registered; a backup's key is deposited at
# the server and wiped here; a new device (no keystore) logs in and
# restores; then the server is stopped.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
C="$top/build/coffer"
D="$top/build/cofferd"
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-demo.XXXXXX")
srvpid=
cleanup()
{
	[ -n "$srvpid" ] && kill "$srvpid" 2>/dev/null && wait "$srvpid" || :
	rm -rf "$work"
}
trap cleanup EXIT
export COFFER_REPO="$work/card/coffer"
export COFFER_KEYSTORE="$work/keystore"
[ -s /etc/machine-id ] || export COFFER_MACHINE_ID=coffer-demo-device

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

cd "$work"
# The card, mounted: init makes the repository folder on it, not the card.
mkdir -p card Documents/notes Pictures
printf 'meeting at noon\n' > Documents/notes/today.txt
printf 'the secret recipe: more butter\n' > Documents/recipe.txt
head -c 3000000 /dev/urandom > Pictures/holiday.jpg
ln -s ../Documents/recipe.txt Pictures/recipe-link

run "$C" init --no-password
run "$C" backup Documents Pictures
printf 'meeting moved to 2pm\n' > Documents/notes/today.txt
run "$C" backup Documents Pictures
run "$C" snapshots
run "$C" ls latest Documents
say "grep -r 'secret recipe' card/   # nothing readable on the card"
if grep -r 'secret recipe' card/; then
	echo "demo: plaintext found on the card" >&2
	exit 1
fi
echo "(no match)"
run "$C" check --read-data
run "$C" restore latest --target restored
say "diff -r Documents restored/Documents && diff -r Pictures restored/Pictures"
diff -r Documents restored/Documents
diff -r Pictures restored/Pictures
echo "identical"
first=$("$C" snapshots --json | sed -n 's/.*"name": "\(.*\)".*/\1/p' | head -n 1)
run "$C" restore "$first" --target old --include Documents/notes/today.txt
run cat old/Documents/notes/today.txt
printf '\npart 1 finished: backup, listing, check and restore all worked\n'

# ---- Part 2: escrow ----
say "part 2: the key escrow server, cofferd, on loopback"
sh "$top/tests/harness/tls.sh" "$work/tls" >/dev/null
run "$D" --init-master-key "$work/master.key"
say "$D --listen 127.0.0.1:0 --tls-cert tls/server.pem --tls-key tls/server.key --db sqlite:cofferd.db --master-key-file master.key &"
# Run as root (CI), a real cofferd refuses to serve without --user and a
# key holder user of its own (cofferd(8)); the demo keeps it to one user.
[ "$(id -u)" = 0 ] && export COFFERD_TEST_ALLOW_ROOT=1
"$D" --listen 127.0.0.1:0 --tls-cert "$work/tls/server.pem" \
    --tls-key "$work/tls/server.key" --db "sqlite:$work/cofferd.db" \
    --master-key-file "$work/master.key" 2>"$work/cofferd.log" &
srvpid=$!
export COFFER_CACERT="$work/tls/ca.pem"
url=
i=0
until [ -n "$url" ] &&
    curl -sf --cacert "$COFFER_CACERT" "$url/healthz" >/dev/null; do
	# cofferd logs "listening on URL" once bound (port 0: the kernel's).
	url=$(sed -n 's|.*listening on \([a-z]*://[^ ]*\) .*|\1|p' \
	    "$work/cofferd.log" | head -n 1)
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then
		echo "demo: cofferd did not start:" >&2
		cat "$work/cofferd.log" >&2
		exit 1
	fi
	sleep 0.1
done
run curl -s --cacert "$COFFER_CACERT" "$url/healthz"
echo
printf 'correct horse battery staple\n' >"$work/escrow-password"
export COFFER_ESCROW_PASSWORD_FILE="$work/escrow-password"
export COFFER_REPO="$work/card/escrowed"
run "$C" escrow register --server "$url" --account alice@example.org
run "$C" escrow login --server "$url" --account alice@example.org
run "$C" init --custody escrow --no-password
run "$C" backup Documents Pictures
run "$C" key list
say "ls keystore/   # no key file for the escrow key set: its key is at the server"
ls "$COFFER_KEYSTORE"
set=$("$C" key list --json | sed -n 's/.*"key_id": "\(.*\)".*/\1/p' | head -n 1)
if [ -e "$COFFER_KEYSTORE/set-$set.key" ]; then
	echo "demo: the escrowed key is still in the keystore" >&2
	exit 1
fi
echo "(no set-$set.key)"
say "rm -rf keystore   # a new device: nothing but the card"
rm -rf "$COFFER_KEYSTORE"
run "$C" escrow login --server "$url" --account alice@example.org
run "$C" restore latest --target restored-escrow
say "diff -r Documents restored-escrow/Documents"
diff -r Documents restored-escrow/Documents
diff -r Pictures restored-escrow/Pictures
echo "identical"
run "$C" escrow audit
say "stopping cofferd"
kill "$srvpid"
wait "$srvpid" || :
srvpid=
printf '\ndemo finished: local and escrow custody, backup and restore all worked\n'
