# SPDX-License-Identifier: ISC
# tests/integration/88-privsep.sh
# Goal: the privilege separation of docs/PROTOCOL.md §9 holds as shipped
# (dist/cofferd.service, cofferd.sysusers, cofferd.tmpfiles): started as
# root, cofferd refuses to serve without --user, refuses a key holder
# that would run as root or as the front end's user; with --user nobody
# and --keyholder-user daemon (two users, as cofferd and cofferd-keys in
# dist/), the front end runs as nobody with no groups, the key holder as
# daemon, and a process with exactly the front end's credentials (read
# from /proc/PID/status) cannot open the master key file, while one with
# the key holder's can; the server works (register, log in, deposit,
# release).  The unit, the sysusers and tmpfiles files pass
# systemd-analyze verify / systemd-sysusers --dry-run / systemd-tmpfiles
# syntax checks.  Needs root (as CI runs); as another user it checks only
# the unit files.

. "$SRCDIR/tests/harness/cofferd.sh"

# creds_of PID: "RUID RGID GROUPS" of PID from /proc ("-" for no groups).
creds_of()
{
	awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 }
	    /^Groups:/ { s = ""; for (i = 2; i <= NF; i++)
	        s = s (s == "" ? "" : ",") $i }
	    END { print u, g, (s == "" ? "-" : s) }' "/proc/$1/status"
}

# as_creds "RUID RGID GROUPS" CMD...: run CMD with exactly those ids.
as_creds()
{
	_c=$1
	shift
	# shellcheck disable=SC2086 # the three fields, split on purpose
	set -- $_c "$@"
	_u=$1 _g=$2 _s=$3
	shift 3
	if [ "$_s" = - ]; then
		setpriv --reuid="$_u" --regid="$_g" --clear-groups -- "$@"
	else
		setpriv --reuid="$_u" --regid="$_g" --groups="$_s" -- "$@"
	fi
}

unit_files()
{
	note "dist/: the unit, sysusers and tmpfiles files"
	need_cmd systemd-analyze || return 1
	sed "s|/usr/local/sbin/cofferd|$COFFERD_BIN|" \
	    "$SRCDIR/dist/cofferd.service" >cofferd.service
	expect_exit 0 systemd-analyze verify --man=no "$PWD/cofferd.service" ||
	    return 1
	if [ -s err ] || [ -s out ]; then
		fail "systemd-analyze verify complains:"
		cat out err >&2
		return 1
	fi
	expect_grep '^CapabilityBoundingSet=CAP_SETUID CAP_SETGID' \
	    "$SRCDIR/dist/cofferd.service" || return 1
	if grep -q '^DynamicUser=yes' "$SRCDIR/dist/cofferd.service"; then
		fail "the unit runs both halves as one dynamic user"
		return 1
	fi
	# cofferd reads the shipped config (every key known) up to the users,
	# which do not exist on this machine.
	expect_exit 2 timeout 20 "$COFFERD_BIN" --config \
	    "$SRCDIR/dist/cofferd.conf" || return 1
	expect_grep "no user 'cofferd'" err || return 1
	expect_grep '^user = cofferd$' "$SRCDIR/dist/cofferd.conf" &&
	    expect_grep '^keyholder-user = cofferd-keys$' \
	    "$SRCDIR/dist/cofferd.conf" || return 1
	# Both users, in a scratch root (nothing of this machine changes).
	mkdir -p root/etc
	: >root/etc/passwd
	: >root/etc/group
	expect_exit 0 systemd-sysusers --root="$PWD/root" \
	    "$SRCDIR/dist/cofferd.sysusers" || return 1
	for u in cofferd cofferd-keys; do
		expect_grep "^$u:" root/etc/passwd || return 1
	done
	expect_exit 0 systemd-tmpfiles --root="$PWD/root" --create \
	    "$SRCDIR/dist/cofferd.tmpfiles" || return 1
	[ "$(stat -c '%a %U' root/etc/cofferd/keys)" = "700 root" ] ||
	    [ -d root/etc/cofferd/keys ] ||
	    fail "tmpfiles made no /etc/cofferd/keys" || return 1
	[ "$(stat -c %a root/etc/cofferd/keys)" = 700 ] &&
	    [ "$(stat -c %a root/var/lib/cofferd)" = 700 ] ||
	    fail "tmpfiles: modes of keys/ and /var/lib/cofferd" || return 1
}

refusals()
{
	note "root: refused without --user, or with a bad key holder user"
	COFFERD_TEST_ALLOW_ROOT=0
	export COFFERD_TEST_ALLOW_ROOT
	"$COFFERD_BIN" --init-master-key mk.root 2>/dev/null || return 1
	# (timeout: a cofferd that does not refuse fails here, not hangs)
	set -- --insecure-http --listen 127.0.0.1:0 --db "sqlite:$PWD/r.db"
	expect_exit 2 timeout 20 "$COFFERD_BIN" "$@" --master-key-file mk.root ||
	    return 1
	expect_grep 'refusing to run as root: give --user NAME' err ||
	    return 1
	[ ! -e r.db ] || fail "a refused cofferd made its database" ||
	    return 1
	expect_exit 2 timeout 20 "$COFFERD_BIN" "$@" --master-key-file mk.root \
	    --user root || return 1
	expect_grep "refusing --user 'root'" err || return 1
	# The key file is root's: the key holder would run as root.
	expect_exit 2 timeout 20 "$COFFERD_BIN" "$@" --master-key-file mk.root \
	    --user nobody || return 1
	expect_grep 'refusing to run the key holder as root' err || return 1
	expect_exit 2 timeout 20 "$COFFERD_BIN" "$@" --master-key-file mk.root \
	    --user nobody --keyholder-user nobody || return 1
	expect_grep 'would both run as uid 65534' err || return 1
	# A key holder user that cannot read the key file: it says so.
	expect_exit 1 timeout 20 "$COFFERD_BIN" "$@" \
	    --master-key-file "$PWD/mk.root" --user nobody \
	    --keyholder-user daemon || return 1
	expect_grep "cannot open master key file .*Permission denied" err ||
	    return 1
}

two_users()
{
	note "--user nobody --keyholder-user daemon: who can open the key"
	COFFERD_TEST_ALLOW_ROOT=0
	export COFFERD_TEST_ALLOW_ROOT
	# The layout of dist/cofferd.tmpfiles, with nobody and daemon.
	mkdir -p keys data srv && chmod 755 . &&
	    chown daemon:daemon keys && chmod 700 keys &&
	    chown nobody:nogroup data && chmod 700 data || return 1
	"$COFFERD_BIN" --init-master-key keys/master.key 2>/dev/null &&
	    chown daemon:daemon keys/master.key || return 1
	# --add-account as root: refused without --user; with it, the
	# password file may be root's and the database is nobody's.
	printf 'operator-pw-0123\n' >pw && chmod 600 pw || return 1
	expect_exit 2 timeout 20 "$COFFERD_BIN" --add-account ops \
	    --password-file pw --db "sqlite:$PWD/data/cofferd.db" || return 1
	expect_grep 'refusing to run as root' err || return 1
	expect_exit 0 timeout 20 "$COFFERD_BIN" --add-account ops \
	    --password-file pw --db "sqlite:$PWD/data/cofferd.db" \
	    --user nobody || return 1
	[ "$(stat -c %U data/cofferd.db)" = nobody ] ||
	    fail "--add-account made the database as $(stat -c %U \
	    data/cofferd.db)" || return 1
	cofferd_start srv --user nobody --keyholder-user daemon \
	    --master-key-file "$PWD/keys/master.key" \
	    --db "sqlite:$PWD/data/cofferd.db" || return 1
	fe=$COFFERD_PID
	kh=$COFFERD_KH_PID
	note "front end $fe: $(grep -E '^(Uid|Gid|Groups):' "/proc/$fe/status" |
	    tr '\t\n' '  ')"
	note "key holder $kh: $(grep -E '^(Uid|Gid|Groups):' \
	    "/proc/$kh/status" | tr '\t\n' '  ')"
	awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$fe/status" |
	    grep -qx '65534 65534 65534 65534' ||
	    fail "the front end does not run as nobody" || return 1
	d=$(id -u daemon)
	awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$kh/status" |
	    grep -qx "$d $d $d $d" ||
	    fail "the key holder does not run as daemon" || return 1
	fec=$(creds_of "$fe")
	khc=$(creds_of "$kh")
	[ "$fec" != "$khc" ] || fail "both halves have credentials $fec" ||
	    return 1
	# The front end's exact credentials cannot open the key file ...
	expect_fail as_creds "$fec" cat "$PWD/keys/master.key" || return 1
	expect_grep 'Permission denied' err || return 1
	[ ! -s out ] || fail "the front end's uid read the master key" ||
	    return 1
	# ... the key holder's can (so the check above means something).
	expect_exit 0 as_creds "$khc" cat "$PWD/keys/master.key" || return 1
	cmp -s out keys/master.key ||
	    fail "the key holder's uid did not read the key" || return 1
	# Nor does the front end have it open.
	mk=$(readlink -f keys/master.key)
	for f in /proc/"$fe"/fd/*; do
		[ "$(readlink "$f")" != "$mk" ] ||
		    fail "the front end has the master key file open" ||
		    return 1
	done
	expect_grep 'key holder started' srv/cofferd.log || return 1

	# And it serves: the key holder, as daemon, has the key.
	body='{"account":"privsep@example.org","password":"privsep-pw-0123"}'
	cofferd_req POST /v1/accounts "$body" && [ "$status" = 201 ] ||
	    fail "register: $status" || return 1
	cofferd_req POST /v1/sessions "$body" && [ "$status" = 201 ] ||
	    fail "login: $status" || return 1
	cofferd_req POST /v1/sessions \
	    '{"account":"ops","password":"operator-pw-0123"}' &&
	    [ "$status" = 201 ] || fail "login of --add-account's: $status" ||
	    return 1
	TOKEN=$(jq -r .token resp)
	k=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
	cofferd_req POST /v1/keys "{\"key\":\"$k\"}" && [ "$status" = 201 ] ||
	    fail "deposit: $status" || return 1
	id=$(jq -r .key_id resp)
	cofferd_req POST "/v1/keys/$id/release" && [ "$status" = 200 ] &&
	    [ "$(jq -r .key resp)" = "$k" ] ||
	    fail "release: $status $(cat resp)" || return 1
	TOKEN=
	[ "$(stat -c %U data/cofferd.db)" = nobody ] ||
	    fail "the database is not the front end's" || return 1
	cofferd_stop srv || return 1
}

scenario() {
	need_cmd curl jq setpriv || return 1
	trap cofferd_cleanup EXIT
	COFFERD_BIN=$(_cofferd_bin)
	unit_files || return 1
	if ! is_root; then
		note "not root: the root-only checks are not run"
		return 0
	fi
	refusals && two_users
}
