# SPDX-License-Identifier: ISC
#
# tests/harness/cofferd.sh: run cofferd for tests (a POSIX sh library).
#
#	. "$SRCDIR/tests/harness/cofferd.sh"
#	trap cofferd_cleanup EXIT	# every server started goes at exit
#	cofferd_start DIR [COFFERD-OPTION...] || return 1
#	... talk to "$COFFERD_URL" with curl --cacert "$COFFERD_CACERT",
#	    or: cofferd_req POST /v1/sessions '{"account":...}'
#	cofferd_stop DIR || return 1	# SIGTERM; fails on a bad exit or a
#					# sanitizer report in the log
#
# cofferd_start DIR [OPTION...]
#	Start cofferd in the background and wait until GET /healthz answers
#	200.  DIR (created if missing) holds this server's files:
#	  DIR/cofferd.log   its stderr (one line per request)
#	  DIR/master.key    the master key (made with --init-master-key
#	                    unless it exists; write your own first to choose)
#	  DIR/cofferd.db    the SQLite database, unless COFFERD_DB is set
#	  DIR/pid, DIR/khpid, DIR/url   what the variables below hold
#	TLS comes from tests/harness/tls.sh, made once per COFFERD_TLS_DIR
#	(default: ./tls, in the scenario's scratch directory).  By default
#	it listens on 127.0.0.1 at a port the kernel picks; the OPTIONs are
#	passed on and may override --listen, --db, --master-key-file or
#	the TLS files (--insecure-http drops the TLS options).  Tests
#	register many accounts from one address, so unless an OPTION sets
#	--register-limit it is 1000000.
#	On success it sets and exports:
#	  COFFERD_URL     https://127.0.0.1:PORT (http:// with
#	                  --insecure-http, https://[::1]:PORT for IPv6)
#	  COFFERD_CACERT  the CA file to verify it with
#	  COFFERD_PID     the front end's process id
#	  COFFERD_KH_PID  the key holder's process id
#	  COFFERD_DIR     DIR
#	Call it from the scenario's own shell (not inside $(...)): the
#	server is that shell's child, which cofferd_stop waits for.
#
# cofferd_stop [DIR]	SIGTERM, wait (10 s, then SIGKILL), and fail if it
#			exited non-zero or its log has a sanitizer report.
# cofferd_kill [DIR]	SIGKILL (a crash); the key holder goes with it.
# cofferd_use DIR	make DIR's server the current one (the variables).
# cofferd_cleanup	SIGKILL every server this shell started.
#
# cofferd_req METHOD PATH [BODY]
#	One request to $COFFERD_URL: the body (a string, or @FILE) is sent
#	as application/json; $TOKEN, if set, as "Authorization: Bearer";
#	$SRC, if set, is the source address (curl --interface; any
#	127.x.y.z works on Linux).  The answer's body goes to ./resp, its
#	headers to ./resp.h, the status code to $status.  Returns non-zero
#	only if curl itself failed.
#
# cofferd_burst OUT DIR... <LINES
#	Logins all at once: every line "ADDRESS ACCOUNT PASSWORD" of stdin
#	becomes a POST /v1/sessions from ADDRESS (curl --interface), the
#	Nth line to the (N mod count)th of the servers DIR...  The curls
#	run in the background and start together (each waits for a file).
#	OUT gets one line per request, in input order: the status and the
#	Retry-After header ("-" if none).  Returns non-zero if a curl failed.
#
# Environment:
#   COFFERD	the cofferd binary (default: next to $COFFER, else
#		build/cofferd)
#   COFFERD_DB	the --db URL for cofferd_start (default: $COFFERD_TEST_DB
#		if set, else sqlite:DIR/cofferd.db)
#   COFFERD_TLS_DIR	where tls.sh makes the certificates (default ./tls)
#   COFFERD_INSECURE_FAST_KDF	set to 1 here unless already set: minimum
#		Argon2 costs so tests are fast (a test-only knob of cofferd)
#   COFFERD_TEST_ALLOW_ROOT	set to 1 here unless already set: tests run
#		as root, and cofferd refuses root without --user unless this
#		test-only knob is set (88-privsep.sh runs it without)
#   COFFERD_START_TIMEOUT	seconds to wait for /healthz (default 30)
#   COFFERD_WRAPPER	a command line to start cofferd under, e.g.
#		"setpriv --reuid=65534 --regid=65534 --clear-groups --"

: "${COFFERD_INSECURE_FAST_KDF:=1}"
export COFFERD_INSECURE_FAST_KDF
: "${COFFERD_TEST_ALLOW_ROOT:=1}"
export COFFERD_TEST_ALLOW_ROOT
_cofferd_pids=

_cofferd_bin()
{
	if [ -n "${COFFERD:-}" ]; then
		printf '%s\n' "$COFFERD"
	elif [ -n "${COFFER:-}" ] && [ -x "$(dirname "$COFFER")/cofferd" ]
	then
		printf '%s\n' "$(dirname "$COFFER")/cofferd"
	else
		printf '%s\n' "${SRCDIR:-.}/build/cofferd"
	fi
}

cofferd_use()
{
	COFFERD_DIR=$1
	COFFERD_PID=$(cat "$1/pid" 2>/dev/null)
	COFFERD_KH_PID=$(cat "$1/khpid" 2>/dev/null)
	COFFERD_URL=$(cat "$1/url" 2>/dev/null)
	COFFERD_CACERT=${COFFERD_TLS_DIR:-$PWD/tls}/ca.pem
	export COFFERD_DIR COFFERD_PID COFFERD_KH_PID COFFERD_URL \
	    COFFERD_CACERT
}

cofferd_start()
{
	_cd_dir=$1
	shift
	_cd_bin=$(_cofferd_bin)
	[ -x "$_cd_bin" ] || {
		echo "cofferd.sh: no cofferd binary at $_cd_bin" >&2
		return 1
	}
	mkdir -p "$_cd_dir" || return 1
	_cd_dir=$(cd "$_cd_dir" && pwd) || return 1
	_cd_tls=${COFFERD_TLS_DIR:-$PWD/tls}
	sh "${SRCDIR:-.}/tests/harness/tls.sh" "$_cd_tls" || return 1

	# Which defaults do the caller's options replace?
	_cd_listen=1 _cd_db=1 _cd_mk=1 _cd_tls_opts=1 _cd_reg=1
	for _cd_a; do
		case $_cd_a in
		--register-limit|--register-limit=*)	_cd_reg= ;;
		--listen|--listen=*)	_cd_listen= ;;
		--db|--db=*)		_cd_db= ;;
		--master-key-file|--master-key-file=*)	_cd_mk= ;;
		--insecure-http|--tls-cert|--tls-cert=*|--tls-key|--tls-key=*)
			_cd_tls_opts= ;;
		esac
	done
	if [ -n "$_cd_mk" ] && [ ! -f "$_cd_dir/master.key" ]; then
		"$_cd_bin" --init-master-key "$_cd_dir/master.key" \
		    2>>"$_cd_dir/cofferd.log" || {
			echo "cofferd.sh: --init-master-key failed" >&2
			return 1
		}
	fi
	_cd_url=${COFFERD_DB:-${COFFERD_TEST_DB:-sqlite:$_cd_dir/cofferd.db}}
	set -- ${_cd_listen:+--listen 127.0.0.1:0} \
	    ${_cd_reg:+--register-limit 1000000} \
	    ${_cd_db:+--db "$_cd_url"} \
	    ${_cd_mk:+--master-key-file "$_cd_dir/master.key"} \
	    ${_cd_tls_opts:+--tls-cert "$_cd_tls/server.pem"} \
	    ${_cd_tls_opts:+--tls-key "$_cd_tls/server.key"} "$@"
	rm -f "$_cd_dir/pid" "$_cd_dir/khpid" "$_cd_dir/url"
	_cd_mark=$(wc -l <"$_cd_dir/cofferd.log" 2>/dev/null || echo 0)
	printf '$ cofferd %s\n' "$*" >&2
	# shellcheck disable=SC2086 # the wrapper is a command line
	${COFFERD_WRAPPER:-} "$_cd_bin" "$@" >>"$_cd_dir/cofferd.log" 2>&1 \
	    </dev/null &
	_cd_pid=$!
	_cofferd_pids="$_cofferd_pids $_cd_pid"
	echo "$_cd_pid" >"$_cd_dir/pid"

	_cd_n=$(( ${COFFERD_START_TIMEOUT:-30} * 10 ))
	_cd_url=
	while [ "$_cd_n" -gt 0 ]; do
		_cd_url=$(tail -n +"$((_cd_mark + 1))" "$_cd_dir/cofferd.log" |
		    sed -n 's|.*listening on \([a-z]*://[^ ]*\) .*|\1|p' |
		    tail -n 1)
		[ -n "$_cd_url" ] && break
		if ! kill -0 "$_cd_pid" 2>/dev/null; then
			wait "$_cd_pid" 2>/dev/null
			echo "cofferd.sh: cofferd exited at start; its log:" >&2
			tail -n 20 "$_cd_dir/cofferd.log" | sed 's/^/| /' >&2
			return 1
		fi
		sleep 0.1
		_cd_n=$((_cd_n - 1))
	done
	if [ -z "$_cd_url" ]; then
		echo "cofferd.sh: cofferd did not start listening" >&2
		kill -9 "$_cd_pid" 2>/dev/null
		return 1
	fi
	echo "$_cd_url" >"$_cd_dir/url"
	tail -n +"$((_cd_mark + 1))" "$_cd_dir/cofferd.log" |
	    sed -n 's/.*key holder started (pid \([0-9]*\)).*/\1/p' |
	    tail -n 1 >"$_cd_dir/khpid"
	cofferd_use "$_cd_dir"
	while [ "$_cd_n" -gt 0 ]; do
		_cd_code=$(curl -g -s -o /dev/null -w '%{http_code}' \
		    --cacert "$COFFERD_CACERT" "$COFFERD_URL/healthz") || true
		[ "$_cd_code" = 200 ] && return 0
		sleep 0.1
		_cd_n=$((_cd_n - 1))
	done
	echo "cofferd.sh: /healthz never answered 200 (last: $_cd_code)" >&2
	return 1
}

# _cofferd_forget PID: drop PID from the list cofferd_cleanup kills.
_cofferd_forget()
{
	_cd_rest=
	for _cd_p in $_cofferd_pids; do
		[ "$_cd_p" = "$1" ] || _cd_rest="$_cd_rest $_cd_p"
	done
	_cofferd_pids=$_cd_rest
}

cofferd_stop()
{
	_cd_dir=${1:-$COFFERD_DIR}
	_cd_pid=$(cat "$_cd_dir/pid" 2>/dev/null) || {
		echo "cofferd.sh: no server in $_cd_dir" >&2
		return 1
	}
	kill -TERM "$_cd_pid" 2>/dev/null
	_cd_n=100
	while kill -0 "$_cd_pid" 2>/dev/null && [ "$_cd_n" -gt 0 ]; do
		# A zombie is done: wait reaps it below.
		grep -q '^State:.*Z' "/proc/$_cd_pid/status" 2>/dev/null &&
		    break
		sleep 0.1
		_cd_n=$((_cd_n - 1))
	done
	if [ "$_cd_n" -eq 0 ]; then
		echo "cofferd.sh: cofferd $_cd_pid ignored SIGTERM" >&2
		kill -9 "$_cd_pid" 2>/dev/null
	fi
	_cd_rc=0
	wait "$_cd_pid" 2>/dev/null || _cd_rc=$?
	_cofferd_forget "$_cd_pid"
	rm -f "$_cd_dir/pid"
	if grep -Eq 'runtime error:|(Address|Leak|Undefined|Thread)Sanitizer' \
	    "$_cd_dir/cofferd.log"; then
		echo "cofferd.sh: sanitizer report in $_cd_dir/cofferd.log:" >&2
		grep -E -A 20 'runtime error:|Sanitizer' \
		    "$_cd_dir/cofferd.log" | head -n 40 >&2
		return 1
	fi
	if [ "$_cd_n" -eq 0 ] || [ "$_cd_rc" -ne 0 ]; then
		echo "cofferd.sh: cofferd exited with status $_cd_rc" >&2
		tail -n 10 "$_cd_dir/cofferd.log" | sed 's/^/| /' >&2
		return 1
	fi
	return 0
}

cofferd_kill()
{
	_cd_dir=${1:-$COFFERD_DIR}
	_cd_pid=$(cat "$_cd_dir/pid" 2>/dev/null) || return 1
	kill -9 "$_cd_pid" 2>/dev/null
	wait "$_cd_pid" 2>/dev/null
	_cofferd_forget "$_cd_pid"
	rm -f "$_cd_dir/pid"
	# The key holder leaves when the channel closes.
	_cd_kh=$(cat "$_cd_dir/khpid" 2>/dev/null)
	_cd_n=50
	while [ -n "$_cd_kh" ] && kill -0 "$_cd_kh" 2>/dev/null &&
	    [ "$_cd_n" -gt 0 ]; do
		sleep 0.1
		_cd_n=$((_cd_n - 1))
	done
	return 0
}

cofferd_cleanup()
{
	for _cd_p in $_cofferd_pids; do
		kill -9 "$_cd_p" 2>/dev/null
	done
	_cofferd_pids=
}

cofferd_req()
{
	_cr_m=$1
	_cr_p=$2
	if [ $# -ge 3 ]; then
		set -- -H 'Content-Type: application/json' --data-binary "$3"
	else
		set --
	fi
	[ -n "${TOKEN:-}" ] &&
	    set -- "$@" -H "Authorization: Bearer $TOKEN"
	[ -n "${SRC:-}" ] && set -- "$@" --interface "$SRC"
	status=$(curl -g -sS -o resp -D resp.h -w '%{http_code}' \
	    --cacert "$COFFERD_CACERT" -X "$_cr_m" "$@" \
	    "$COFFERD_URL$_cr_p") || {
		echo "cofferd.sh: curl $_cr_m $_cr_p failed" >&2
		# shellcheck disable=SC2034 # for the caller
		status=000
		return 1
	}
	return 0
}

cofferd_burst()
{
	_cb_out=$1
	shift
	_cb_d=$_cb_out.d
	rm -rf "$_cb_d" && mkdir "$_cb_d" || return 1
	_cb_ca=${COFFERD_TLS_DIR:-$PWD/tls}/ca.pem
	_cb_n=0
	_cb_pids=
	while read -r _cb_src _cb_acct _cb_pw; do
		_cb_body="{\"account\":\"$_cb_acct\",\"password\":\"$_cb_pw\"}"
		eval "_cb_dir=\${$((_cb_n % $# + 1))}"
		_cb_url=$(cat "$_cb_dir/url") || return 1
		(
			while [ ! -e "$_cb_d/go" ]; do
				sleep 0.01
			done
			exec curl -g -s -o /dev/null -D "$_cb_d/$_cb_n.h" \
			    -w '%{http_code}' --cacert "$_cb_ca" \
			    --interface "$_cb_src" \
			    -H 'Content-Type: application/json' \
			    --data-binary "$_cb_body" \
			    "$_cb_url/v1/sessions" >"$_cb_d/$_cb_n.code"
		) &
		_cb_pids="$_cb_pids $!"
		_cb_n=$((_cb_n + 1))
	done
	: >"$_cb_d/go"
	_cb_rc=0
	for _cb_p in $_cb_pids; do
		wait "$_cb_p" || _cb_rc=1
	done
	_cb_i=0
	: >"$_cb_out"
	while [ "$_cb_i" -lt "$_cb_n" ]; do
		_cb_ra=$(tr -d '\r' <"$_cb_d/$_cb_i.h" 2>/dev/null |
		    sed -n 's/^[Rr]etry-[Aa]fter: *//p' | tail -n 1)
		printf '%s %s\n' "$(cat "$_cb_d/$_cb_i.code" 2>/dev/null)" \
		    "${_cb_ra:--}" >>"$_cb_out"
		_cb_i=$((_cb_i + 1))
	done
	rm -rf "$_cb_d"
	[ "$_cb_rc" -eq 0 ] ||
	    echo "cofferd.sh: a login of the burst failed" >&2
	return "$_cb_rc"
}
