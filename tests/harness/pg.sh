# SPDX-License-Identifier: ISC
#
# tests/harness/pg.sh: a throwaway PostgreSQL cluster for tests and
# benchmarks, without systemd and without the Debian package's own cluster.
#
# As a library (POSIX sh):
#
#	. "$SRCDIR/tests/harness/pg.sh"
#	pg_start || return 1	# sets and exports COFFERD_TEST_PG
#	... use "$COFFERD_TEST_PG"
#	    (postgres://cofferd:PW@127.0.0.1:PORT/cofferd)
#	pg_restart	# a fast restart: cuts every connection
#	pg_halt; pg_resume	# away, and back on the same port
#	pg_psql SQL...	# statements as the superuser, in "cofferd"
#	pg_stop		# stops the server, removes its directory
#
# As a command:
#
#	sh tests/harness/pg.sh run CMD [ARG...]
#		start a cluster, run CMD with COFFERD_TEST_PG in its
#		environment, stop the cluster; exit with CMD's status
#	sh tests/harness/pg.sh restart
#		restart the cluster whose PG_DIR is in the environment
#	sh tests/harness/pg.sh available
#		exit 0 if the PostgreSQL server binaries are installed
#
# pg_start runs initdb (as the "postgres" user via runuser when we are
# root, since initdb refuses root) into a fresh directory under
# ${TMPDIR:-/tmp}, starts postgres listening on 127.0.0.1 at a free port
# and on a unix socket in that directory, and creates the login role
# "cofferd" (SCRAM password, random per cluster) owning database "cofferd".
# It also sets PG_DIR, PG_PORT, PG_SOCKDIR and PG_URL.  It takes about a
# second.  If the caller dies without pg_stop (killed by a timeout, say),
# a small watcher process stops the cluster and removes the directory once
# the caller's process (PG_OWNER_PID, default $$) is gone.
#
# Environment:
#   PG_BINDIR	where initdb, pg_ctl and postgres are (default: the newest
#		/usr/lib/postgresql/*/bin)
#   PG_DURABLE	1 keeps fsync on (benchmarks); by default the throwaway
#		cluster runs with fsync=off, which is not crash safe but
#		changes nothing a test can observe
#   PG_OWNER_PID	see above
#
# Every function prints what went wrong to stderr and returns non-zero.

pg_bindir()
{
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
		return 0
	fi
	# The newest version installed (numerically: 9 < 15).
	_d=$(for _v in /usr/lib/postgresql/*/bin; do echo "$_v"; done |
	    sort -t/ -k5,5n | tail -n 1)
	if [ -z "$_d" ] || [ ! -x "$_d/initdb" ]; then
		echo "pg.sh: no PostgreSQL server binaries" \
		    "(/usr/lib/postgresql/*/bin/initdb); install postgresql" >&2
		return 1
	fi
	echo "$_d"
}

# pg_as CMD [ARG...]: run CMD as the cluster owner.
pg_as()
{
	if [ "$(id -u)" -eq 0 ]; then
		# From "/": the caller's directory may be closed to postgres.
		(cd / && exec runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# pg_random_hex N: N random hex digits.
pg_random_hex()
{
	od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n' | cut -c1-"$1"
}

pg_start()
{
	_bin=$(pg_bindir) || return 1
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		echo "pg.sh: running as root but there is no" \
		    "'postgres' user" >&2
		return 1
	fi
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/coffer-pg.XXXXXX") || return 1
	chmod 755 "$PG_DIR"
	# A TMPDIR that postgres cannot reach (under /root, say): use /tmp.
	if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$PG_DIR"
	then
		rmdir "$PG_DIR"
		PG_DIR=$(mktemp -d /tmp/coffer-pg.XXXXXX) || return 1
		chmod 755 "$PG_DIR"
	fi
	mkdir "$PG_DIR/data" "$PG_DIR/sock" || return 1
	chmod 700 "$PG_DIR/sock"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR" "$PG_DIR/data" \
	    "$PG_DIR/sock"
	PG_SOCKDIR=$PG_DIR/sock
	_pw=$(pg_random_hex 32)
	# The password goes to initdb through a file the owner can read.
	printf '%s\n' "$_pw" >"$PG_DIR/pw"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR/pw"
	chmod 600 "$PG_DIR/pw"

	# TCP wants SCRAM; the socket trusts whoever can reach it, and only
	# the cluster owner can (its directory is 0700).
	if ! pg_as "$_bin/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 \
	    --locale=C --no-sync --auth-local=trust \
	    --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
		echo "pg.sh: initdb failed:" >&2
		tail -n 20 "$PG_DIR/initdb.log" >&2
		rm -rf "$PG_DIR"
		return 1
	fi
	_fsync=off
	[ "${PG_DURABLE:-0}" = 1 ] && _fsync=on
	cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCKDIR'
fsync = $_fsync
full_page_writes = $_fsync
max_connections = 200
shared_buffers = 32MB
dynamic_shared_memory_type = mmap
logging_collector = off
log_min_messages = warning
EOF

	# A free port: try a few random ones; pg_ctl fails if it is taken.
	_try=0
	while :; do
		_try=$((_try + 1))
		_r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		PG_PORT=$((20000 + _r % 40000))
		if pg_as "$_bin/pg_ctl" -D "$PG_DIR/data" -w -t 30 \
		    -l "$PG_DIR/server.log" -o "-p $PG_PORT" start \
		    >"$PG_DIR/pg_ctl.log" 2>&1; then
			break
		fi
		if [ "$_try" -ge 5 ]; then
			echo "pg.sh: postgres did not start:" >&2
			tail -n 20 "$PG_DIR/pg_ctl.log" "$PG_DIR/server.log" \
			    >&2 2>/dev/null
			rm -rf "$PG_DIR"
			return 1
		fi
	done

	if ! pg_as "$_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" \
	    -p "$PG_PORT" -U postgres -d postgres \
	    -c "CREATE ROLE cofferd LOGIN PASSWORD '$_pw'" \
	    -c "CREATE DATABASE cofferd OWNER cofferd" \
	    >"$PG_DIR/psql.log" 2>&1; then
		echo "pg.sh: cannot create the test role and database:" >&2
		cat "$PG_DIR/psql.log" >&2
		pg_stop
		return 1
	fi
	rm -f "$PG_DIR/pw"

	PG_URL="postgres://cofferd:$_pw@127.0.0.1:$PG_PORT/cofferd"
	COFFERD_TEST_PG=$PG_URL
	export PG_DIR PG_PORT PG_SOCKDIR PG_URL COFFERD_TEST_PG

	# The watcher: stop the cluster if our owner dies without pg_stop.
	_owner=${PG_OWNER_PID:-$$}
	(
		trap '' INT HUP
		while kill -0 "$_owner" 2>/dev/null && [ -d "$PG_DIR/data" ]
		do
			sleep 1
		done
		if [ -d "$PG_DIR/data" ]; then
			pg_as "$_bin/pg_ctl" -D "$PG_DIR/data" -m immediate \
			    stop >/dev/null 2>&1
			rm -rf "$PG_DIR"
		fi
	) </dev/null >/dev/null 2>&1 &
	return 0
}

# pg_psql SQL...: run SQL statements as the superuser (for tests that need
# to look at or break the database behind cofferd's back).
pg_psql()
{
	_bin=$(pg_bindir) || return 1
	for _s in "$@"; do
		set -- "$@" -c "$_s"
		shift
	done
	pg_as "$_bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" \
	    -p "$PG_PORT" -U postgres -d cofferd "$@"
}

# pg_restart: a fast restart (every client connection is cut).
pg_restart()
{
	_bin=$(pg_bindir) || return 1
	pg_as "$_bin/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 \
	    -l "$PG_DIR/server.log" restart >"$PG_DIR/pg_ctl.log" 2>&1 || {
		echo "pg.sh: restart failed:" >&2
		tail -n 20 "$PG_DIR/pg_ctl.log" "$PG_DIR/server.log" >&2
		return 1
	}
}

# pg_halt, pg_resume: stop the server (keeping the cluster), start it again
# on the same port: the database is away in between.
pg_halt()
{
	_bin=$(pg_bindir) || return 1
	pg_as "$_bin/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop \
	    >"$PG_DIR/pg_ctl.log" 2>&1 || {
		echo "pg.sh: stop failed:" >&2
		cat "$PG_DIR/pg_ctl.log" >&2
		return 1
	}
}

pg_resume()
{
	_bin=$(pg_bindir) || return 1
	pg_as "$_bin/pg_ctl" -D "$PG_DIR/data" -w -t 30 \
	    -l "$PG_DIR/server.log" -o "-p $PG_PORT" start \
	    >"$PG_DIR/pg_ctl.log" 2>&1 || {
		echo "pg.sh: start failed:" >&2
		tail -n 20 "$PG_DIR/pg_ctl.log" "$PG_DIR/server.log" >&2
		return 1
	}
}

pg_stop()
{
	[ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
	_bin=$(pg_bindir) || return 1
	if [ -d "$PG_DIR/data" ]; then
		pg_as "$_bin/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop \
		    >/dev/null 2>&1
	fi
	rm -rf "$PG_DIR"
	PG_DIR=
}

# When run as a command rather than sourced.
case ${0##*/} in
pg.sh)
	set -u
	case ${1:-} in
	available)
		pg_bindir >/dev/null
		exit
		;;
	restart)
		# In the environment pg_start exported (PG_DIR, PG_PORT).
		pg_restart
		exit
		;;
	run)
		shift
		[ $# -ge 1 ] ||
		    { echo "usage: pg.sh run CMD [ARG...]" >&2; exit 2; }
		pg_start || exit 1
		trap 'pg_stop' EXIT
		trap 'exit 129' HUP
		trap 'exit 130' INT
		trap 'exit 143' TERM
		_rc=0
		"$@" || _rc=$?
		exit "$_rc"
		;;
	*)
		echo "usage: sh tests/harness/pg.sh run CMD [ARG...] |" \
		    "restart | available" >&2
		exit 2
		;;
	esac
	;;
esac
