#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/fuzz/gen-corpus.sh [BUILD_DIR]: regenerate the seed corpora under
# tests/fuzz/corpus/<target>/ ("make fuzz-corpus" builds and runs this).
# Makes a real repository and keystore with BUILD_DIR/coffer (default
# build/): small files, a symlink, a FIFO, a hard link, an xattr, two
# backups into the device set and one into a period set, a recovery
# passphrase and a keystore password; then BUILD_DIR/tests/gen_corpus
# turns them into seeds (plaintexts of the sealed objects, in the form
# each target takes) and adds hand-made edge cases.  Only files named
# gen-* are replaced: crash reproducers kept in the corpora stay.

set -eu

cd "$(dirname "$0")/../.." || exit 2
b=${1:-build}
case $b in
/*)	;;
*)	b=$(pwd)/$b ;;
esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-gen-corpus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

export COFFER_REPO="$tmp/repo" COFFER_KEYSTORE="$tmp/keystore" \
    COFFER_MACHINE_ID=0123456789abcdef0123456789abcdef \
    COFFER_INSECURE_FAST_KDF=1 HOME="$tmp/home" \
    XDG_CACHE_HOME="$tmp/cache" XDG_DATA_HOME="$tmp/data" \
    LC_ALL=C TZ=UTC
coffer=$b/coffer
gen=$b/tests/gen_corpus
out=$(pwd)/tests/fuzz/corpus

mkdir -p "$tmp/src/dir/sub" "$tmp/home"
cd "$tmp"
printf 'hello\n' >src/a.txt
i=0
while [ $i -lt 400 ]; do
	echo "a compressible line of text, number $i"
	i=$((i + 1))
done >src/dir/lines.txt
head -c 3000 /dev/urandom >src/dir/sub/random.bin
: >src/empty
ln -s a.txt src/link
ln src/a.txt src/dir/hard
mkfifo src/fifo
setfattr -n user.note -v fuzz src/a.txt 2>/dev/null || true

"$coffer" init --name-by time --no-password >/dev/null
"$coffer" backup src >/dev/null
printf 'more\n' >>src/a.txt
"$coffer" backup src >/dev/null
"$coffer" backup --scope period --period week src >/dev/null
printf 'quartz lantern meadow sparrow ribbon\n' >pp
# The newest snapshot's set (three open here: add-passphrase wants one).
newest=$("$coffer" snapshots |
    awk 'NR > 1 && NF >= 6 { k = $4 } END { print k }')
"$coffer" key add-passphrase "$newest" --passphrase-file pp >/dev/null
printf 'tangerine glacier oboe falcon\n' >pw
COFFER_NEW_PASSWORD_FILE=pw "$coffer" keystore passwd </dev/null >/dev/null

mkdir -p "$out"
find "$out" -name 'gen-*' -type f -exec rm -f {} +
"$gen" "$COFFER_REPO" "$COFFER_KEYSTORE" pw "$out"
du -sh "$out"
