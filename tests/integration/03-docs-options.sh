# SPDX-License-Identifier: ISC
# tests/integration/03-docs-options.sh
# Goal: the documentation cannot fall behind the code.  For every command,
# each option its code accepts (parsed from the "struct option longopts[]"
# table and the getopt_long short-option string in cli/cmd_*.c, so not
# from the --help it is checked against) appears in "coffer CMD --help",
# in the command's section of docs/CLI.md and in its part of coffer(1);
# a command that needs a repository shows --repo in its --help.  Every
# COFFER_* variable that cli/ or lib/ reads with getenv is in the
# environment tables of both documents.  The main usage lists -V.  An
# unknown option is reported as "coffer CMD: ...".  The checks run once
# more on a copy of CLI.md with one option taken out, and must fail.

# cmd_options FILE: the long options (--name) and short options (-x) that
# the option table and getopt_long string of FILE accept, one per line;
# the shared ones (GLOBAL_LONGOPTS, -q) and -h/--help are left out.
cmd_options()
{
	awk '/longopts\[\] = \{/ { t = 1; next }
	    t && /^\t\};/ { t = 0 }
	    t && /\{ "[a-z0-9-]+",/ {
		match($0, /"[a-z0-9-]+"/)
		print "--" substr($0, RSTART + 1, RLENGTH - 2)
	    }' "$1" | grep -vx -- '--help'
	grep -o 'getopt_long(argc, argv, "[^"]*"' "$1" |
	    sed 's/.*"\(.*\)"$/\1/' | tr -d ':+' | fold -w1 |
	    grep -v '^[qhV]$' | sed 's/^/-/'
}

# md_section CMD: the section "## CMD" of CLI.md (up to the next "## ").
md_section()
{
	awk -v c="$1" '/^## / { s = ($2 == c) } s' "$md"
}

# man_section CMD: the lines of coffer(1) from ".B coffer CMD" on, up to
# the next command or section, with roff escapes and fonts removed.
man_section()
{
	sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man" | awk -v c="$1" '
	    /^\.SH / { s = 0 }
	    /^\.B coffer [a-z]/ { s = ($3 == c) }
	    s'
}

# check_docs: every option of every command, and every variable, in its
# places; a line per miss on stderr, and non-zero if any.
check_docs()
{
	bad=0
	for f in "$SRCDIR"/cli/cmd_*.c; do
		cmd=${f##*/cmd_}
		cmd=${cmd%.c}
		"$COFFER" "$cmd" --help >help.txt 2>&1 ||
		    { echo "coffer $cmd --help failed" >&2; bad=1; }
		md_section "$cmd" >md.txt
		man_section "$cmd" >man.txt
		[ -s md.txt ] ||
		    { echo "CLI.md has no section '## $cmd'" >&2; bad=1; }
		[ -s man.txt ] ||
		    { echo "coffer.1 has no '.B coffer $cmd'" >&2; bad=1; }
		for o in $(cmd_options "$f"); do
			for doc in help.txt md.txt man.txt; do
				grep -qe "$o\([^a-z0-9-]\|$\)" "$doc" || {
					echo "$cmd: $o missing from $doc" >&2
					bad=1
				}
			done
		done
		if grep -q 'no repository given' "$f" &&
		    ! grep -q -- '--repo' help.txt; then
			echo "$cmd: --help does not show --repo" >&2
			bad=1
		fi
	done
	# shellcheck disable=SC2013 # one word per variable name
	for v in $(grep -rhoE 'getenv\("COFFER_[A-Z_]+"\)' \
	    "$SRCDIR/cli" "$SRCDIR/lib" | sed 's/getenv("\(.*\)")/\1/' |
	    sort -u); do
		grep -q "\`$v\`" "$md" ||
		    { echo "$v missing from CLI.md" >&2; bad=1; }
		awk '/^\.SH ENVIRONMENT/ { s = 1; next } /^\.SH / { s = 0 } s' \
		    "$man" | grep -qw "$v" ||
		    { echo "$v missing from coffer.1 ENVIRONMENT" >&2; bad=1; }
	done
	return $bad
}

scenario() {
	md=$SRCDIR/docs/CLI.md
	man=$SRCDIR/docs/man/coffer.1

	# The parse finds the options (else the checks below prove nothing).
	cmd_options "$SRCDIR/cli/cmd_backup.c" >opts.txt
	expect_grep -x -- '--exclude-larger-than' opts.txt || return 1
	expect_grep -x -- '-x' opts.txt || return 1
	cmd_options "$SRCDIR/cli/cmd_forget.c" >opts.txt
	expect_grep -x -- '-n' opts.txt || return 1
	expect_grep -x -- '--keep-yearly' opts.txt || return 1

	check_docs || fail "the documentation misses options or variables" ||
	    return 1

	# One option taken out of CLI.md: the check must see it.
	sed 's/--exclude-larger-than/--exclude-bigger/g' "$md" >cli-cut.md
	md=$PWD/cli-cut.md
	if check_docs 2>miss.txt; then
		fail "an undocumented option passed"
		return 1
	fi
	expect_grep 'backup: --exclude-larger-than missing from md.txt' \
	    miss.txt || return 1
	md=$SRCDIR/docs/CLI.md

	# The main usage shows -V; an unknown option names coffer.
	expect_exit 0 "$COFFER" --help || return 1
	expect_grep -- '-V, --version' out || return 1
	expect_exit 2 "$COFFER" backup --frobnicate x || return 1
	expect_grep "^coffer backup: unrecognized option '--frobnicate'" err ||
	    return 1
}
