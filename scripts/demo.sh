#!/bin/sh
# SPDX-License-Identifier: ISC
# make demo: coffer's main job end to end, in a scratch folder.
# A "card" folder gets an encrypted repository; the key stays in a
# keystore only this user can read; the files come back bit for bit.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
C="$top/build/coffer"
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export COFFER_REPO="$work/card/coffer"
export COFFER_KEYSTORE="$work/keystore"
[ -s /etc/machine-id ] || export COFFER_MACHINE_ID=coffer-demo-device

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

cd "$work"
mkdir -p Documents/notes Pictures
printf 'meeting at noon\n' > Documents/notes/today.txt
printf 'the secret recipe: more butter\n' > Documents/recipe.txt
head -c 3000000 /dev/urandom > Pictures/holiday.jpg
ln -s ../Documents/recipe.txt Pictures/recipe-link

run "$C" init
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
printf '\ndemo finished: backup, listing, check and restore all worked\n'
