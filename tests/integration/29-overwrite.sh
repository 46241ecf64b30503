# SPDX-License-Identifier: ISC
# tests/integration/29-overwrite.sh
# Goal: restoring into a folder that already holds the files does what
# --overwrite says: without it, existing entries are kept and the restore
# fails with one summary line (not one line per entry unless --verbose);
# never keeps a modified file and succeeds; if-changed leaves identical
# files untouched (same inode and mtime) and replaces changed ones, also
# one whose size and mtime match but whose content differs (also, as an
# unprivileged user, read-only and unreadable ones); always replaces
# everything.  A symbolic link planted where a folder was is
# replaced without anything being written where it points; folders and
# files in each other's way, read-only files and hard links come back as
# the snapshot has them.  --json carries the counts.
scenario() {
	mkdir -p src/many src/dir src/dir2 src/way outside || return 1
	i=0
	while [ $i -lt 300 ]; do
		printf 'file %s\n' $i >src/many/f$i || return 1
		i=$((i + 1))
	done
	head -c 200000 /dev/urandom >src/big || return 1
	echo inside >src/dir/inner || return 1
	echo two >src/dir2/inner || return 1
	echo way >src/way/x || return 1
	echo ro >src/ro && chmod 0444 src/ro || return 1
	echo link >src/h1 && ln src/h1 src/h2 || return 1
	ln -s many/f1 src/sym || return 1
	echo secret >outside/keep || return 1
	# A path of over 300 bytes, named first in summaries.
	long=src/a/$(printf '%0200d' 0)/$(printf '%0200d' 1)
	mkdir -p "${long%/*}" && echo long >"$long" || return 1
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	total=$(find src -mindepth 1 ! -type d | wc -l)

	expect_exit 0 "$COFFER" restore latest --target t || return 1
	# shellcheck disable=SC2046
	expect_tree src t/src $(owner_opt) || return 1

	# Again, no --overwrite: all kept, exit 1, one summary line.
	stat_all t >before || return 1
	expect_exit 1 "$COFFER" restore latest --target t || return 1
	expect_grep "$total existing entries not replaced" err || return 1
	# The count, the first paths (the long one cut), what to do.
	first5="\(the first 5 named; --verbose names each\)"
	expect_grep "$first5: 'src/a/[0/]{294}\.\.\.', 'src/big', " err ||
	    return 1
	expect_grep "; --overwrite=never keeps them without an error, if-" \
	    err || return 1
	expect_grep "changed or always replaces them$" err || return 1
	[ "$(wc -l <err)" -le 3 ] ||
	    fail "$(wc -l <err) lines on stderr, want a summary" || return 1
	stat_all t >after || return 1
	cmp before after >&2 || fail "a refused restore touched the target" ||
	    return 1
	expect_exit 1 "$COFFER" restore latest --target t --verbose ||
	    return 1
	[ "$(grep -c 'exists; not replaced' err)" -eq "$total" ] ||
	    fail "--verbose does not name each entry" || return 1

	# never: a modified file stays as it is, and that is no error.
	echo mine >t/src/many/f1 || return 1
	expect_exit 0 "$COFFER" restore latest --target t \
	    --overwrite=never --json || return 1
	expect_jq ".kept == $total and .replaced == 0 and .errors == 0" out ||
	    return 1
	[ "$(cat t/src/many/f1)" = mine ] || fail "never replaced a file" ||
	    return 1

	# if-changed: f1 differs in size; f2 only in content (same size and
	# mtime); the rest is identical and must not be touched.
	printf 'fiLe 2\n' >t/src/many/f2 || return 1
	touch -r src/many/f2 t/src/many/f2 || return 1
	stat_all t | grep -v -e 'many/f1$' -e 'many/f2$' >before || return 1
	expect_exit 0 "$COFFER" restore latest --target t \
	    --overwrite=if-changed --json || return 1
	expect_jq ".replaced == 2 and .unchanged == $((total - 2)) and
	    .files == 2 and .errors == 0" out || return 1
	stat_all t | grep -v -e 'many/f1$' -e 'many/f2$' >after || return 1
	cmp before after >&2 ||
	    fail "if-changed touched identical files" || return 1
	# shellcheck disable=SC2046
	expect_tree src t/src $(owner_opt) || return 1
	# Identical files silently; the two replaced in one line.
	[ "$(wc -l <err)" -eq 1 ] || fail "want one line on stderr" || return 1
	expect_grep \
	    "2 existing entries replaced: 'src/many/f1', 'src/many/f2'$" err ||
	    return 1
	# Progress counts the files left alone as done.
	expect_exit 0 "$COFFER" restore latest --target t \
	    --overwrite=if-changed --json-progress || return 1
	tail -n 1 err | jq -e '.done and .files == .files_total and
	    .bytes == .bytes_total' >/dev/null ||
	    fail "progress did not reach the totals:" "$(tail -n 1 err)" ||
	    return 1

	# A link planted where a folder was; a file where a folder was; a
	# folder (empty) where a file was; a changed read-only file; a hard
	# link broken into a copy.
	rm -r t/src/dir t/src/dir2 t/src/many/f7 t/src/h2 || return 1
	ln -s ../../outside t/src/dir || return 1
	echo "in the way" >t/src/dir2 || return 1
	mkdir t/src/many/f7 || return 1
	chmod u+w t/src/ro && echo changed >t/src/ro &&
	    chmod 0444 t/src/ro || return 1
	cp -p t/src/h1 t/src/h2 || return 1
	# Without --overwrite nothing goes through the link.
	expect_exit 1 "$COFFER" restore latest --target t || return 1
	[ "$(ls outside)" = keep ] && [ "$(cat outside/keep)" = secret ] ||
	    fail "restore wrote through a link in the target" || return 1
	expect_exit 0 "$COFFER" restore latest --target t \
	    --overwrite=if-changed || return 1
	[ "$(ls outside)" = keep ] && [ "$(cat outside/keep)" = secret ] ||
	    fail "restore wrote through a link in the target" || return 1
	[ -d t/src/dir ] && [ ! -L t/src/dir ] ||
	    fail "the planted link was not replaced by the folder" || return 1
	[ "$(stat -c %i t/src/h1)" = "$(stat -c %i t/src/h2)" ] ||
	    fail "h1 and h2 are not one file again" || return 1
	# shellcheck disable=SC2046
	expect_tree src t/src $(owner_opt) || return 1
	expect_grep 'existing entries replaced' err || return 1

	# A folder that is not empty where the snapshot has a file is not
	# deleted: an error naming it.
	rm t/src/way/x && mkdir t/src/way/x && echo keep >t/src/way/x/mine ||
	    return 1
	expect_exit 1 "$COFFER" restore latest --target t \
	    --overwrite=always || return 1
	expect_grep "cannot replace 'src/way/x': a folder that is not empty" \
	    err || return 1
	[ "$(cat t/src/way/x/mine)" = keep ] || fail "deleted a folder" ||
	    return 1
	rm -r t/src/way/x || return 1

	# always (bare --overwrite): every entry is replaced by a new one;
	# an existing inode is never written into (ref, a second link to
	# the old f100, keeps its bytes).
	ln t/src/many/f100 ref && echo other >ref || return 1
	expect_exit 0 "$COFFER" restore latest --target t --overwrite \
	    --json || return 1
	expect_jq ".replaced == $((total - 1)) and .unchanged == 0" out ||
	    return 1
	[ "$(cat ref)" = other ] && [ "$(stat -c %h ref)" -eq 1 ] ||
	    fail "bare --overwrite wrote into the existing file" || return 1
	# shellcheck disable=SC2046
	expect_tree src t/src $(owner_opt) || return 1

	# As an unprivileged user: a changed read-only file, a changed file
	# in a read-only folder, and a file the user cannot read (same size
	# and mtime, so only its content could tell) are replaced.
	if is_root; then
		need_cmd setpriv || return 1
		mkdir bin && cp "$COFFER" bin/coffer &&
		    chmod 755 bin bin/coffer || return 1
		COFFER=$PWD/bin/coffer
		chown -R 65534:65534 . || return 1
	fi
	expect_exit 0 as_user "$COFFER" restore latest --target u \
	    --include src/dir --include src/many/f3 --include src/many/f4 ||
	    return 1
	as_user sh -c 'echo changed >u/src/many/f3 &&
	    chmod 0444 u/src/many/f3 &&
	    echo changed >u/src/dir/inner && chmod 0555 u/src/dir &&
	    printf "FILE 4\n" >u/src/many/f4 &&
	    touch -r src/many/f4 u/src/many/f4 && chmod 000 u/src/many/f4' ||
	    return 1
	expect_exit 0 as_user "$COFFER" restore latest --target u \
	    --include src/dir --include src/many/f3 --include src/many/f4 \
	    --overwrite=if-changed --json || return 1
	expect_jq ".replaced == 3" out || return 1
	chmod -R u+r u || return 1
	for f in dir/inner many/f3 many/f4; do
		expect_same "src/$f" "u/src/$f" || return 1
	done

	# A misspelt mode is a usage error.
	expect_exit 2 "$COFFER" restore latest --target t \
	    --overwrite=sometimes || return 1
	expect_grep "never, if-changed or always, not 'sometimes'" err ||
	    return 1
	# So is the mode given without '=' (it would be a second snapshot).
	expect_exit 2 "$COFFER" restore latest --target t --overwrite never ||
	    return 1
	expect_grep "give the mode with '='" err
}

# stat_all DIR: inode, mtime (ns), size and path of everything under DIR.
stat_all()
{
	find "$1" -mindepth 1 ! -type d -printf '%i %T@ %s %p\n' | sort -k4
}
