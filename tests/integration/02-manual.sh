# SPDX-License-Identifier: ISC
# tests/integration/02-manual.sh
# Goal: the manual page renders without a warning and names every command and
# option that "coffer --help" and "coffer CMD --help" show; "make install"
# puts the binary, the manual and both completions under DESTDIR/PREFIX; the
# bash completion offers commands, options, snapshot names and key ids (with
# and without jq); the zsh completion at least parses.

# complete_bash WORD...: bash completion of the line WORD... (the last word is
# the one being completed); the candidates go to ./out, one per line.
complete_bash()
{
	printf '$ complete:%s\n' "$(printf ' [%s]' "$@")" >&2
	# shellcheck disable=SC2016 # expanded by the inner bash
	bash -c '
		. "$1" || exit 1
		shift
		[ "$1" = nojq ] && { jq() { return 1; }; shift; }
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_coffer || exit 1
		[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"
	    ' sh "$SRCDIR/dist/completion/coffer.bash" "$@" >out 2>err ||
	    fail "the completion function failed" || return 1
	expect_empty err
}

# long_options: the long options named in ./help, one per line.
long_options()
{
	grep -oE -- '--[a-z][a-z0-9-]*' help | sort -u
}

scenario() {
	man=$SRCDIR/docs/man/coffer.1
	need_cmd groff bash make || return 1

	# ---- the manual page ------------------------------------------------
	groff -man -ww -Tutf8 -P-cbou "$man" >page 2>groff.err ||
	    fail "groff failed on $man" || return 1
	expect_empty groff.err || return 1
	expect_grep '^NAME' page || return 1
	for s in SYNOPSIS DESCRIPTION COMMANDS 'GLOBAL OPTIONS' ENVIRONMENT \
	    FILES 'EXIT STATUS' EXAMPLES SECURITY 'SEE ALSO'; do
		expect_grep "^\\.SH \"?$s\"?\$" "$man" || return 1
	done
	if command -v mandoc >/dev/null 2>&1; then
		mandoc -Tlint -Wwarning "$man" >lint 2>&1 ||
		    fail "mandoc -Tlint reports problems:" || { cat lint >&2;
		    return 1; }
	else
		note "no mandoc: only groff checked the page"
	fi

	expect_exit 0 "$COFFER" --help || return 1
	cp out help
	cmds=$(awk '/^commands:/ { f = 1; next } f && /^$/ { exit }
	    f && /^  [a-z]/ { print $1 }' help)
	[ -n "$cmds" ] || fail "no commands in 'coffer --help'" || return 1
	note "commands: $(echo $cmds)"
	for o in $(long_options); do
		# roff writes a hyphen as \-
		o=$(printf '%s' "$o" | sed 's/-/\\-/g')
		expect_grep -F -- "$o" "$man" || return 1
	done
	for c in $cmds; do
		expect_grep "^\\.B coffer $c( |\$)" "$man" || return 1
		expect_exit 0 "$COFFER" "$c" --help || return 1
		cp out help
		for o in $(long_options); do
			o=$(printf '%s' "$o" | sed 's/-/\\-/g')
			expect_grep -F -- "$o" "$man" || return 1
		done
	done

	# ---- make install ---------------------------------------------------
	build=$(dirname "$COFFER")
	# -o: install what is built; never rebuild the binary under test.
	printf '$ make install DESTDIR=%s\n' "$PWD/inst" >&2
	make -s -C "$SRCDIR" -o "$build/coffer" B="$build" \
	    DESTDIR="$PWD/inst" install >make.log 2>&1 ||
	    { cat make.log >&2; fail "make install failed"; return 1; }
	p=inst/usr/local
	for f in bin/coffer share/man/man1/coffer.1 \
	    share/bash-completion/completions/coffer \
	    share/zsh/site-functions/_coffer; do
		[ -f "$p/$f" ] || fail "make install did not install $p/$f" ||
		    return 1
	done
	[ -x "$p/bin/coffer" ] || fail "$p/bin/coffer is not executable" ||
	    return 1
	expect_same "$man" "$p/share/man/man1/coffer.1" || return 1
	expect_exit 0 "$p/bin/coffer" --version || return 1
	make -s -C "$SRCDIR" -o "$build/coffer" B="$build" \
	    DESTDIR="$PWD/inst2" PREFIX=/opt/coffer install >make.log 2>&1 ||
	    { cat make.log >&2; fail "make install PREFIX= failed"; return 1; }
	[ -f inst2/opt/coffer/share/zsh/site-functions/_coffer ] ||
	    fail "PREFIX=/opt/coffer was not honoured" || return 1

	# ---- bash completion ------------------------------------------------
	bash -n "$SRCDIR/dist/completion/coffer.bash" ||
	    fail "bash cannot parse coffer.bash" || return 1
	complete_bash coffer ba || return 1
	expect_grep -x backup out || return 1
	complete_bash coffer backup --ex || return 1
	expect_grep -x -- --exclude out || return 1
	expect_grep -x -- --exclude-caches out || return 1
	expect_no_grep -x -- --target out || return 1
	complete_bash coffer --re || return 1
	expect_grep -x -- --repo out || return 1
	complete_bash coffer init --scope p || return 1
	expect_grep -x period out || return 1
	complete_bash coffer key "" || return 1
	expect_grep -x destroy out || return 1
	# "coffer" is not on PATH here: the completion's own lists must hold
	# every command and every option of the binary.
	complete_bash coffer "" || return 1
	cp out words
	for c in $cmds; do
		expect_grep -x "$c" words || return 1
	done
	for c in $cmds; do
		[ "$c" = key ] && continue	# options per subcommand: below
		expect_exit 0 "$COFFER" "$c" --help || return 1
		cp out help
		complete_bash coffer "$c" -- || return 1
		cp out words
		for o in $(long_options); do
			expect_grep -x -- "$o" words || return 1
		done
	done
	complete_bash coffer key list --j || return 1
	expect_grep -x -- --json out || return 1
	complete_bash coffer key destroy --y || return 1
	expect_grep -x -- --yes out || return 1

	# Snapshot names and key ids, from the repository (COFFER_REPO).
	mkdir src && echo data >src/file || return 1
	expect_exit 0 "$COFFER" init || return 1
	expect_exit 0 "$COFFER" backup src || return 1
	expect_exit 0 "$COFFER" snapshots --json || return 1
	snap=$(jq -r '.snapshots[0].name' out) &&
	    key=$(jq -r '.snapshots[0].key_id' out) || return 1
	note "snapshot $snap, key set $key"
	for args in "ls" "restore" "diff" "diff latest"; do
		# shellcheck disable=SC2086 # $args is split on purpose
		complete_bash "$COFFER" $args "" || return 1
		expect_grep -x -F "$snap" out || return 1
		expect_grep -x latest out || return 1
	done
	complete_bash nojq "$COFFER" ls "" || return 1
	expect_grep -x -F "$snap" out || return 1
	expect_no_grep -x 'NAME|[0-9]+' out || return 1
	complete_bash "$COFFER" ls "${snap%%T*}" || return 1
	expect_grep -x -F "$snap" out || return 1
	complete_bash "$COFFER" key destroy "" || return 1
	expect_grep -x "$key" out || return 1
	complete_bash nojq "$COFFER" key remove-passphrase "" || return 1
	expect_grep -x "$key" out || return 1
	expect_no_grep -v -x "$key" out || return 1
	# --repo on the line wins over COFFER_REPO.
	complete_bash "$COFFER" --repo "$PWD/none" ls "" || return 1
	expect_no_grep -x -F "$snap" out || return 1

	# ---- zsh completion -------------------------------------------------
	if command -v zsh >/dev/null 2>&1; then
		zsh -n "$SRCDIR/dist/completion/_coffer" ||
		    fail "zsh cannot parse _coffer" || return 1
	else
		note "no zsh: _coffer not checked"
	fi
	return 0
}
