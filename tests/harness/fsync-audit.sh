#!/bin/sh
# SPDX-License-Identifier: ISC
#
# tests/harness/fsync-audit.sh BUILD_DIR: the power-cut half of the crash
# harness (issue 6).  A SIGKILL only loses what coffer has not handed to
# the kernel; a power cut also loses what the kernel has not written.  So
# this runs real commands under strace and checks, from the system calls,
# that every step the format's crash safety relies on (FORMAT.md §14) is
# on disk before the step that depends on it:
#
#   R1  every rename of X.tmp to X on the card comes after an fsync (or
#       fdatasync) of a descriptor opened on X.tmp, itself after the last
#       write to X.tmp;
#   R2  every such rename is followed by an fsync of a descriptor opened
#       on X's directory, before the next dependent step:
#         a pack     before the next index file of its key set is renamed
#                    into place;
#         an index   before the next snapshot of its key set is renamed
#                    into place, and before any index or pack file of the
#                    set is deleted (prune);
#         any other  (snapshot, keyinfo, config, lock) before the command
#                    ends;
#   R3  every directory created on the card (the repository's own folder
#       too) is made durable, by an fsync of its parent after the mkdir,
#       before the next index or snapshot is renamed into place, or before
#       the command ends;
#   R4  every file deleted on the card by prune (an index or a pack) goes
#       only after the renames it depends on are durable (R2 above), and
#       its directory is fsynced before the command ends;
#   and every rename on the card is of the X.tmp -> X form.
#
# Commands traced, each in its own log: init; a first backup (a new key
# set, two packs); a second backup with new data and without the biggest
# file; a backup into a key set of its own (--scope backup); key
# add-passphrase (keyinfo replaced); forget of the first snapshot and
# prune (packs rewritten, old index files and packs deleted).
#
# Output: one line per violation, a summary with counts and PASS or FAIL
# as the last line.  Exit status 0 on PASS, 1 on FAIL, 2 on a setup error.
# Environment: FSYNC_AUDIT_WORK (work directory, kept), FSYNC_AUDIT_KEEP=1.

set -u

[ $# -eq 1 ] || { echo "usage: tests/harness/fsync-audit.sh BUILD_DIR" >&2;
    exit 2; }
build=$(cd "$1" 2>/dev/null && pwd -P) ||
    { echo "fsync-audit: no build directory '$1'" >&2; exit 2; }
coffer=$build/coffer
gentree=$build/tests/gentree
[ -x "$coffer" ] && [ -x "$gentree" ] ||
    { echo "fsync-audit: build coffer and the helpers first" >&2; exit 2; }
command -v strace >/dev/null 2>&1 ||
    { echo "fsync-audit: strace is not installed (apt-get install" \
    "strace)" >&2; exit 2; }

keep=${FSYNC_AUDIT_KEEP:-0}
if [ -n "${FSYNC_AUDIT_WORK:-}" ]; then
	mkdir -p "$FSYNC_AUDIT_WORK" || exit 2
	work=$(cd "$FSYNC_AUDIT_WORK" && pwd -P) || exit 2
	keep=1
	rm -rf "$work/repo" "$work/keystore" "$work/src" "$work"/*.log
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-fsync.XXXXXX") || exit 2
	work=$(cd "$work" && pwd -P) || exit 2
fi
cd "$work" || exit 2

COFFER_REPO=$work/repo
COFFER_KEYSTORE=$work/keystore
COFFER_MACHINE_ID=0123456789abcdef0123456789abcdef
HOME=$work/home
XDG_DATA_HOME=$work/xdg/data
XDG_CONFIG_HOME=$work/xdg/config
XDG_CACHE_HOME=$work/xdg/cache
XDG_STATE_HOME=$work/xdg/state
COFFER_INSECURE_FAST_KDF=1
LC_ALL=C
TZ=UTC
export COFFER_REPO COFFER_KEYSTORE COFFER_MACHINE_ID HOME XDG_DATA_HOME \
    XDG_CONFIG_HOME XDG_CACHE_HOME XDG_STATE_HOME COFFER_INSECURE_FAST_KDF \
    LC_ALL TZ
unset COFFER_PASSPHRASE COFFER_PASSWORD_FILE COFFER_SYSTEM_KEYSTORE \
    COFFER_SCOPE COFFER_PERIOD COFFER_CONFIG XDG_RUNTIME_DIR

calls=openat,open,creat,write,pwrite64,writev,pwritev,fsync,fdatasync
calls=$calls,rename,renameat,renameat2,close,mkdir,mkdirat,unlink,unlinkat

# traced NAME CMD...: run CMD under strace into NAME.log.
traced()
{
	_n=$1
	shift
	# LeakSanitizer cannot run under ptrace: leaks are the other
	# scenarios' business, here only the system calls count.
	if ! ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    strace -f -y -qq -s 0 -e trace="$calls" -o "$_n.log" \
	    "$@" >"$_n.out" 2>&1; then
		echo "fsync-audit: '$*' failed:" >&2
		tail -n 5 "$_n.out" >&2
		echo "fsync-audit: work directory kept: $work" >&2
		exit 2
	fi
}

# audit LOG: check R1-R4 on one strace log; prints violations and one
# "counts ..." line.
audit()
{
	awk -v repo="$COFFER_REPO" -v cwd="$work" -v lg="$1" '
	function fail(msg) {
		nviol++
		printf "FAIL %s: %s\n", lg, msg
	}
	function under(p) {
		return index(p, repo "/") == 1
	}
	function rel(p) {
		return under(p) ? substr(p, length(repo) + 2) : p
	}
	function dirname(p,    i) {
		for (i = length(p); i > 0 && substr(p, i, 1) != "/"; i--)
			;
		return i > 1 ? substr(p, 1, i - 1) : "/"
	}
	# NAME relative to DIR, without "." and ".." components.
	function resolve(dir, name,    p, n, c, i, out, k) {
		p = substr(name, 1, 1) == "/" ? name : dir "/" name
		n = split(p, c, "/")
		k = 0
		for (i = 1; i <= n; i++) {
			if (c[i] == "" || c[i] == ".")
				continue
			if (c[i] == "..") {
				if (k > 0) k--
				continue
			}
			st[++k] = c[i]
		}
		out = ""
		for (i = 1; i <= k; i++)
			out = out "/" st[i]
		return out == "" ? "/" : out
	}
	# The key set folder of a card path, "sets/<id>", or "".
	function setof(p,    r, i) {
		r = rel(p)
		if (substr(r, 1, 5) != "sets/")
			return ""
		i = index(substr(r, 6), "/")
		return i ? substr(r, 1, 4 + i) : r
	}
	function kind(p,    r) {
		r = rel(p)
		if (r ~ /^sets\/[^\/]+\/packs\/[^\/]+\/[^\/]+$/) return "pack"
		if (r ~ /^sets\/[^\/]+\/index\/[^\/]+$/) return "index"
		if (r ~ /^sets\/[^\/]+\/snapshots\/[^\/]+$/) return "snapshot"
		return "other"
	}
	# Argument parsing: the next "fd<path>" and the next "string".
	function next_fdpath(    i, j) {
		i = index(args, "<"); j = index(args, ">")
		if (i == 0 || j < i) return ""
		fdnum = substr(args, 1, i - 1)
		sub(/^.*[(, ]/, "", fdnum)
		np = substr(args, i + 1, j - i - 1)
		args = substr(args, j + 1)
		return np
	}
	function next_string(    i, j, s) {
		i = index(args, "\"")
		if (i == 0) return ""
		s = substr(args, i + 1)
		j = index(s, "\"")
		args = substr(s, j + 1)
		return substr(s, 1, j - 1)
	}
	# The result of the call: "" unless it succeeded; for fds, "N".
	function result(t,    i, r) {
		i = index(t, ") = ")
		if (i == 0) {
			# strace aligns results: ")      = 0"
			if (match(t, /\) +=  *[-0-9]/) == 0) return ""
			r = substr(t, RSTART + RLENGTH - 1)
		} else {
			r = substr(t, i + 4)
		}
		if (substr(r, 1, 1) == "-") return ""
		sub(/[^0-9].*$/, "", r)
		return r
	}
	{
		pid = $1
		t = $0
		sub(/^[0-9]+ +/, "", t)
		if (t ~ /^(\+\+\+|---)/) next
		start = NR
		if (t ~ /<unfinished \.\.\.>$/) {
			sub(/ *<unfinished \.\.\.>$/, "", t)
			pend[pid] = t; pstart[pid] = NR
			next
		}
		if (t ~ /^<\.\.\. [a-z0-9_]+ resumed>/) {
			sub(/^<\.\.\. [a-z0-9_]+ resumed> ?/, "", t)
			t = pend[pid] t; start = pstart[pid]
			delete pend[pid]
		}
		name = t; sub(/\(.*$/, "", name)
		args = substr(t, length(name) + 2)
		ok = result(t)
		if (ok == "") next
		if (name == "openat" || name == "open" || name == "creat") {
			if (name == "openat") {
				d = next_fdpath(); f = next_string()
				p = resolve(d, f)
			} else {
				f = next_string(); p = resolve(cwd, f)
			}
			fd[ok] = p
		} else if (name == "close") {
			np = next_fdpath()
			delete fd[fdnum]
		} else if (name ~ /^(write|pwrite64|writev|pwritev)$/) {
			np = next_fdpath()
			p = (fdnum in fd) ? fd[fdnum] : np
			lastwrite[p] = NR
		} else if (name == "fsync" || name == "fdatasync") {
			np = next_fdpath()
			p = (fdnum in fd) ? fd[fdnum] : np
			nsync++
			sy_path[nsync] = p; sy_end[nsync] = NR; sy_start[nsync] = start
			# R1 needs a sync after the last write.
			if (!(p in lastwrite) || lastwrite[p] < start)
				synced[p] = NR
		} else if (name ~ /^rename(at2?)?$/) {
			if (name == "rename") {
				a = resolve(cwd, next_string())
				b = resolve(cwd, next_string())
			} else {
				d = next_fdpath(); a = resolve(d, next_string())
				d = next_fdpath(); b = resolve(d, next_string())
			}
			if (!under(b)) next
			nren++
			rn_src[nren] = a; rn_dst[nren] = b
			rn_start[nren] = start; rn_end[nren] = NR
			rn_synced[nren] = (a in synced) && synced[a] < start &&
			    (!(a in lastwrite) || lastwrite[a] < synced[a])
		} else if (name == "mkdir" || name == "mkdirat") {
			if (name == "mkdir") {
				p = resolve(cwd, next_string())
			} else {
				d = next_fdpath(); p = resolve(d, next_string())
			}
			if (!under(p) && p != repo) next
			nmk++
			mk_path[nmk] = p; mk_end[nmk] = NR
		} else if (name == "unlink" || name == "unlinkat") {
			if (name == "unlink") {
				p = resolve(cwd, next_string())
			} else {
				d = next_fdpath(); p = resolve(d, next_string())
			}
			if (!under(p) || p ~ /\.tmp$/) next
			nun++
			un_path[nun] = p; un_start[nun] = start; un_end[nun] = NR
		}
	}
	# Is DIR fsynced (completed) strictly between lines LO and HI?
	function dir_synced(dir, lo, hi,    k) {
		for (k = 1; k <= nsync; k++)
			if (sy_path[k] == dir && sy_start[k] > lo &&
			    sy_end[k] < hi)
				return 1
		return 0
	}
	END {
		eof = NR + 1
		for (i = 1; i <= nren; i++) {
			a = rn_src[i]; b = rn_dst[i]; k = kind(b)
			cnt[k]++
			if (a != b ".tmp") {
				fail("rename of " rel(a) " to " rel(b) \
				    " is not X.tmp -> X")
				continue
			}
			if (!rn_synced[i])
				fail("R1: " rel(a) " renamed (line " rn_start[i] \
				    ") without an fsync after its last write")
			# The deadline: the next dependent step.
			s = setof(b); dl = eof; why = "the end"
			for (j = 1; j <= nren; j++) {
				if (rn_start[j] <= rn_end[i] || setof(rn_dst[j]) != s)
					continue
				kj = kind(rn_dst[j])
				if ((k == "pack" && kj == "index") ||
				    (k == "index" && kj == "snapshot")) {
					if (rn_start[j] < dl) {
						dl = rn_start[j]
						why = "the rename of " rel(rn_dst[j])
					}
				}
			}
			if (k == "index")
				for (j = 1; j <= nun; j++) {
					if (un_start[j] <= rn_end[i] ||
					    setof(un_path[j]) != s)
						continue
					kj = kind(un_path[j])
					if ((kj == "index" || kj == "pack") &&
					    un_start[j] < dl) {
						dl = un_start[j]
						why = "the deletion of " rel(un_path[j])
					}
				}
			if (!dir_synced(dirname(b), rn_end[i], dl))
				fail("R2: " rel(b) " renamed (line " rn_end[i] \
				    "), its folder not fsynced before " why)
			else
				ok2++
		}
		for (i = 1; i <= nmk; i++) {
			dl = eof; why = "the end"
			for (j = 1; j <= nren; j++) {
				kj = kind(rn_dst[j])
				if (rn_start[j] > mk_end[i] && rn_start[j] < dl &&
				    (kj == "index" || kj == "snapshot")) {
					dl = rn_start[j]
					why = "the rename of " rel(rn_dst[j])
				}
			}
			if (!dir_synced(dirname(mk_path[i]), mk_end[i], dl))
				fail("R3: folder " rel(mk_path[i]) " created" \
				    " (line " mk_end[i] "), its parent not" \
				    " fsynced before " why)
		}
		for (i = 1; i <= nun; i++)
			if (!dir_synced(dirname(un_path[i]), un_end[i], eof))
				fail("R4: " rel(un_path[i]) " deleted (line " \
				    un_end[i] "), its folder never fsynced")
		printf "counts %d %d %d %d %d %d %d %d\n", cnt["pack"] + 0,
		    cnt["index"] + 0, cnt["snapshot"] + 0, cnt["other"] + 0,
		    nmk + 0, nun + 0, nsync + 0, nviol + 0
	}' "$1"
}

# ---- the commands ----------------------------------------------------------

"$gentree" src --big >/dev/null || exit 2
traced init "$coffer" init --name-by count --no-password
traced backup1 "$coffer" backup src
# New data, and the big file gone: once snapshot 1 is forgotten, prune
# has packs to delete and packs to rewrite.
rm -f src/big-40m && head -c 20000000 /dev/urandom >src/more || exit 2
traced backup2 "$coffer" backup src
traced backup3 "$coffer" backup --scope backup src/dup
printf 'correct horse battery\n' >pass
# The set of snapshot 3 (two sets open here: add-passphrase wants one).
set3=$("$coffer" snapshots | awk '$1 == "3" { print $4 }')
[ -n "$set3" ] || { echo "fsync-audit: no snapshot 3" >&2; exit 2; }
traced passphrase "$coffer" key add-passphrase "$set3" \
    --passphrase-file pass
traced forget "$coffer" forget 1
traced prune "$coffer" prune

tp=0 ti=0 ts=0 to=0 tm=0 tu=0 tf=0 tv=0
printf '# %-11s %6s %6s %9s %6s %6s %8s %7s %5s\n' command packs index \
    snapshots other mkdirs deletes fsyncs fails
for n in init backup1 backup2 backup3 passphrase forget prune; do
	audit "$n.log" >"$n.audit" || { echo "fsync-audit: awk failed" >&2;
	    exit 2; }
	grep '^FAIL' "$n.audit"
	# shellcheck disable=SC2046 # the counts, one word each
	set -- $(grep '^counts' "$n.audit")
	printf '# %-11s %6d %6d %9d %6d %6d %8d %7d %5d\n' "$n" "$2" "$3" \
	    "$4" "$5" "$6" "$7" "$8" "$9"
	tp=$((tp + $2)) ti=$((ti + $3)) ts=$((ts + $4)) to=$((to + $5))
	tm=$((tm + $6)) tu=$((tu + $7)) tf=$((tf + $8)) tv=$((tv + $9))
done
printf '# %-11s %6d %6d %9d %6d %6d %8d %7d %5d\n' total "$tp" "$ti" "$ts" \
    "$to" "$tm" "$tu" "$tf" "$tv"

# The audit must catch what it looks for: drop some fsyncs from a copy of
# a log and it must fail with the right rule.
# mutant NAME LOG RULE ERE: without the lines matching ERE, the audit of
# LOG reports RULE.
why=
mutant()
{
	if ! grep -q -E "$4" "$2"; then
		why="$why; self-check '$1' found no line to drop"
		return
	fi
	grep -v -E "$4" "$2" >mutant.log
	if audit mutant.log | grep -q "^FAIL.*$3:"; then
		echo "# self-check: without $1 the audit reports $3"
	else
		why="$why; self-check: the audit misses $1"
	fi
}
mutant "the fsync of a pack" backup1.log R1 \
    'fsync\([0-9]+<[^>]*/packs/[0-9a-f]{2}/[0-9a-f]{32}\.tmp>\)'
mutant "the fsync of a pack folder" backup1.log R2 \
    'fsync\([0-9]+<[^>]*/packs/[0-9a-f]{2}>\)'
mutant "the fsync of the index folder" backup1.log R2 \
    'fsync\([0-9]+<[^>]*/index>\)'
mutant "the fsync of a snapshot" backup2.log R1 \
    'fsync\([0-9]+<[^>]*/snapshots/[^>]*\.tmp>\)'
mutant "the fsync of packs/ after a new pack folder" backup1.log R3 \
    'fsync\([0-9]+<[^>]*/packs>\)'
mutant "the fsync of the folder above the repository" init.log R3 \
    "fsync\\([0-9]+<$work>\\)"
rm -f mutant.log

# The trace must have seen what it audits: packs, index files,
# snapshots, deletions by prune.
[ "$tp" -ge 3 ] || why="$why; only $tp pack renames seen"
[ "$ti" -ge 3 ] || why="$why; only $ti index renames seen"
[ "$ts" -ge 3 ] || why="$why; only $ts snapshot renames seen"
[ "$tu" -ge 1 ] || why="$why; prune deleted nothing"
renames=$((tp + ti + ts + to))
if [ "$tv" -eq 0 ] && [ -z "$why" ]; then
	echo "PASS: $renames renames on the card ($tp packs, $ti index" \
	    "files, $ts snapshots, $to others), $tm new folders and $tu" \
	    "deletions audited; every one preceded by the fsyncs it needs"
	[ "$keep" = 1 ] || { cd / && rm -rf "$work"; }
	exit 0
fi
echo "FAIL: $tv violations${why} (logs kept in $work)"
exit 1
