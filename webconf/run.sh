#!/bin/sh
# run.sh - the whole gateway in the foreground (what `make run` runs):
# devmgr, fcgi-app (FastCGI on a unix socket), wsrelay and a web server
# (WEB_SERVER=nginx|lighttpd|apache, default nginx) on
# http://$API_HOST:$API_PORT (127.0.0.1:3000), state in $VAR_DIR (./var).
# Ctrl-C or SIGTERM stops everything, front to back.  A component that dies
# stops the stack, unless STACK_KEEP_GOING=1 (tests): then SIGUSR1 restarts
# whatever is dead.  DEMO=1 also starts the fake WhatsApp server first.
#
# Settings (environment; every gateway setting of common/config.c passes
# through to the programs):
#   WEB_SERVER        nginx | lighttpd | apache
#   WEB_DIR           web server prefix: configs, pid, logs, temp, the
#                     FastCGI socket.  Default $VAR_DIR/web; as root
#                     /run/wagw-$API_PORT (outside the 0700 $VAR_DIR,
#                     group-readable by WEB_USER)
#   WEB_USER          as root: the user the web server workers run as
#                     (default www-data, else nobody)
#   FCGI_WORKERS      fcgi-app worker processes (default: fcgi-app's own,
#                     4 x CPUs)
#   FCGI_THREADS      request threads per worker (default: fcgi-app's own,
#                     4): a device call waiting on WhatsApp holds one
#   FCGI_MODE         standalone (fcgi-app -s SOCK [-w N], default) |
#                     spawn-fcgi (spawn-fcgi -n: the socket on fd 0)
#   STACK_LOG_DIR     write each program's output to DIR/<name>.log
#                     (default: this terminal)
#   WEB_ACCESS_LOG    0 turns the web server's access log off
#   BIN_DIR           programs (default build/bin)
#   STACK_PROGRAMS    which to start (default "devmgr fcgi wsrelay web");
#                     e.g. "web" alone puts the web server in front of a
#                     wsrelay/fcgi-app started elsewhere (tests)
# It never edits anything outside $VAR_DIR and $WEB_DIR.
set -u
umask 077
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)

: "${API_PORT:=3000}" "${API_HOST:=127.0.0.1}" "${VAR_DIR:=./var}"
: "${WSRELAY_PORT:=3001}" "${WEB_SERVER:=nginx}" "${API_UPLOAD_MAX:=104857600}"
: "${BIN_DIR:=$TOP/build/bin}" "${FCGI_MODE:=standalone}"
: "${STACK_KEEP_GOING:=0}" "${STACK_LOG_DIR:=}" "${WEB_ACCESS_LOG:=1}"
: "${DEMO:=0}"

say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 1; }

case "$WEB_SERVER" in
nginx|lighttpd|apache) ;;
apache2) WEB_SERVER=apache;;
*)	die "WEB_SERVER=$WEB_SERVER: use nginx, lighttpd or apache";;
esac

mkdir -p "$VAR_DIR" && chmod 0700 "$VAR_DIR" || die "cannot create $VAR_DIR"
VAR_DIR=$(cd "$VAR_DIR" && pwd)
: "${RUN_DIR:=$VAR_DIR/run}"
mkdir -p "$RUN_DIR" && chmod 0700 "$RUN_DIR" || die "cannot create $RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
case "$BIN_DIR" in /*) ;; *) BIN_DIR=$TOP/$BIN_DIR;; esac
# one stack per VAR_DIR: devmgr holds a lock on devmgr.pid; refuse before
# touching anything of a running stack (its sockets, its web prefix)
if [ -f "$VAR_DIR/devmgr.pid" ] && command -v flock >/dev/null &&
    ! flock -n "$VAR_DIR/devmgr.pid" true 2>/dev/null; then
	die "a gateway is already running on $VAR_DIR (devmgr pid $(cat "$VAR_DIR/devmgr.pid" 2>/dev/null))"
fi
export API_PORT API_HOST VAR_DIR RUN_DIR WSRELAY_PORT API_UPLOAD_MAX

NCPU=$(nproc 2>/dev/null || echo 2)
WORKERS=$((NCPU > 4 ? 4 : NCPU))

ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1
if [ "$ROOT" = 1 ]; then
	if [ -z "${WEB_USER:-}" ]; then
		if id www-data >/dev/null 2>&1; then WEB_USER=www-data
		else WEB_USER=nobody; fi
	fi
	WEB_GROUP=$(id -gn "$WEB_USER") || die "no user $WEB_USER"
	: "${WEB_DIR:=/run/wagw-$API_PORT}"
else
	WEB_USER=$(id -un); WEB_GROUP=$(id -gn)
	: "${WEB_DIR:=$VAR_DIR/web}"
fi
mkdir -p "$WEB_DIR" || die "cannot create $WEB_DIR"
WEB_DIR=$(cd "$WEB_DIR" && pwd)
# as root: the workers (WEB_USER) must be able to enter WEB_DIR
if [ "$ROOT" = 1 ] && command -v setpriv >/dev/null &&
    ! setpriv --reuid="$WEB_USER" --regid="$WEB_GROUP" --clear-groups \
    test -x "$(dirname "$WEB_DIR")" 2>/dev/null; then
	die "$WEB_USER cannot reach $WEB_DIR (a parent directory is not searchable); choose another WEB_DIR"
fi
FCGI_SOCK=$WEB_DIR/fcgi.sock
STATE=$WEB_DIR/stack.env
LOGS=$WEB_DIR/logs

# --- the web server prefix ------------------------------------------------
# As root the web server's workers run as WEB_USER: they may enter WEB_DIR
# and connect to the FastCGI socket (group), nothing else of ours.
prepare_web_dir() {
	rm -rf "$WEB_DIR/tmp" "$WEB_DIR/run"
	mkdir -p "$LOGS" "$WEB_DIR/tmp" "$WEB_DIR/run" "$WEB_DIR/www/_static" \
	    "$WEB_DIR/errors"
	rm -f "$FCGI_SOCK"
	# A small static file, served by the web server itself (bench/api.sh).
	printf '{"status":"static","note":"served by the web server"}\n' \
	    > "$WEB_DIR/www/_static/hello.json"
	# JSON bodies for the errors the web server itself produces.
	for e in 400:BAD_REQUEST:"Malformed HTTP request" \
	    404:NOT_FOUND:"Not found" \
	    405:METHOD_NOT_ALLOWED:"Method not allowed" \
	    408:REQUEST_TIMEOUT:"Request timeout" \
	    411:LENGTH_REQUIRED:"Content-Length required" \
	    413:PAYLOAD_TOO_LARGE:"Request body too large" \
	    414:URI_TOO_LONG:"Request URI too long" \
	    417:EXPECTATION_FAILED:"Expectation failed" \
	    431:HEADERS_TOO_LARGE:"Request headers too large" \
	    500:INTERNAL_ERROR:"Internal server error" \
	    501:NOT_IMPLEMENTED:"Not implemented" \
	    502:SERVICE_UNAVAILABLE:"API backend unavailable" \
	    503:SERVICE_UNAVAILABLE:"API backend unavailable" \
	    504:GATEWAY_TIMEOUT:"API backend timeout"; do
		st=${e%%:*}; rest=${e#*:}; code=${rest%%:*}; msg=${rest#*:}
		printf '{"success":false,"code":"%s","message":"%s","error":"%s"}\n' \
		    "$code" "$msg" "$code" > "$WEB_DIR/errors/$st.html"
	done
	if [ "$ROOT" = 1 ]; then
		chown -R "root:$WEB_GROUP" "$WEB_DIR"
		chmod 0750 "$WEB_DIR" "$WEB_DIR/www" "$WEB_DIR/www/_static" \
		    "$WEB_DIR/errors" "$WEB_DIR/run"
		chmod 0770 "$WEB_DIR/tmp" "$LOGS"
		# logs of an earlier run: lighttpd opens them after dropping
		# to WEB_USER
		find "$LOGS" -type f -exec chmod 0660 {} + 2>/dev/null
		chmod 0640 "$WEB_DIR"/www/_static/* "$WEB_DIR"/errors/*
	fi
}

# fill TEMPLATE OUT: the @NAME@ placeholders of webconf/*/*.in
fill() {
	sed -e "s|@HOST@|$API_HOST|g" -e "s|@PORT@|$API_PORT|g" \
	    -e "s|@WEB_DIR@|$WEB_DIR|g" -e "s|@VAR_DIR@|$VAR_DIR|g" \
	    -e "s|@BIN_DIR@|$BIN_DIR|g" -e "s|@FCGI_SOCK@|$FCGI_SOCK|g" \
	    -e "s|@WSRELAY_PORT@|$WSRELAY_PORT|g" \
	    -e "s|@UPLOAD_MAX@|$API_UPLOAD_MAX|g" \
	    -e "s|@UPLOAD_MAX_KB@|$(((API_UPLOAD_MAX + 1023) / 1024))|g" \
	    -e "s|@WORKERS@|$WORKERS|g" \
	    -e "s|@APACHE_MAX_WORKERS@|$((WORKERS * 64))|g" \
	    -e "s|@APACHE_MODULES@|${APACHE_MODULES:-/usr/lib/apache2/modules}|g" \
	    -e "s|@NGINX_USER@|$NGINX_USER|g" \
	    -e "s|@LIGHTTPD_USER@|$LIGHTTPD_USER|g" \
	    -e "s|@APACHE_USER@|$APACHE_USER|g" \
	    -e "s|@ACCESS_LOG@|$ACCESS_LOG|g" \
	    -e "s|@ACCESS_LOG_LIGHTTPD@|$ACCESS_LOG_LIGHTTPD|g" \
	    -e "s|@ACCESS_LOG_APACHE@|$ACCESS_LOG_APACHE|g" \
	    -e "s|@LIGHTTPD_FCGI_BACKEND@|		\"socket\"	=> \"$FCGI_SOCK\",|g" \
	    "$1" > "$2" || die "cannot write $2"
	[ "$ROOT" = 1 ] && chgrp "$WEB_GROUP" "$2" && chmod 0640 "$2"
	return 0
}

write_configs() {
	NGINX_USER="# (not root: runs as $(id -un))"; LIGHTTPD_USER=$NGINX_USER
	APACHE_USER=$NGINX_USER
	if [ "$ROOT" = 1 ]; then
		NGINX_USER="user $WEB_USER $WEB_GROUP;"
		LIGHTTPD_USER="server.username = \"$WEB_USER\"\\
server.groupname = \"$WEB_GROUP\""
		APACHE_USER="User $WEB_USER\\
Group $WEB_GROUP"
	fi
	if [ "$WEB_ACCESS_LOG" = 0 ]; then
		ACCESS_LOG=off; ACCESS_LOG_LIGHTTPD="# access log off"
		ACCESS_LOG_APACHE="# access log off"
	else
		ACCESS_LOG="$LOGS/nginx-access.log"
		ACCESS_LOG_LIGHTTPD="accesslog.filename = \"$LOGS/lighttpd-access.log\""
		ACCESS_LOG_APACHE="CustomLog \"$LOGS/apache-access.log\" \"%h %t %>s %b %D %r\""
	fi
	case "$WEB_SERVER" in
	nginx)
		fill webconf/nginx/gateway.conf.in "$WEB_DIR/nginx.conf"
		fill webconf/nginx/fastcgi.conf.in "$WEB_DIR/nginx-fastcgi.conf"
		fill webconf/nginx/ws.conf.in "$WEB_DIR/nginx-ws.conf";;
	lighttpd)
		fill webconf/lighttpd/gateway.conf.in "$WEB_DIR/lighttpd.conf";;
	apache|apache2)
		WEB_SERVER=apache
		fill webconf/apache/gateway.conf.in "$WEB_DIR/apache.conf";;
	*)	die "WEB_SERVER=$WEB_SERVER: use nginx, lighttpd or apache";;
	esac
}

web_cmd() {
	case "$WEB_SERVER" in
	nginx)	echo "nginx -p $WEB_DIR/ -c $WEB_DIR/nginx.conf -e $LOGS/nginx-error.log";;
	lighttpd) echo "lighttpd -D -f $WEB_DIR/lighttpd.conf";;
	apache)	echo "${APACHE_BIN:-apache2} -d $WEB_DIR -f $WEB_DIR/apache.conf -DFOREGROUND";;
	esac
}

# --- processes --------------------------------------------------------------
NAMES=""
# start NAME CMD...: background, output to the terminal or STACK_LOG_DIR.
# Each program runs in its own process group (setsid): stopping it also
# reaches whatever it forked (web server and fcgi-app workers), even when
# the program itself died first.  devmgr's waprocs have their own groups
# and are devmgr's to stop.
start() {
	n=$1; shift
	if [ -n "$STACK_LOG_DIR" ]; then
		$SETSID "$@" >> "$STACK_LOG_DIR/$n.log" 2>&1 &
	else
		$SETSID "$@" &
	fi
	LAST_PID=$!
	eval "PID_$n=$LAST_PID"
	case " $NAMES " in *" $n "*) ;; *) NAMES="$NAMES $n";; esac
	eval "CMD_$n=\$*"
	write_state
}

pid_of() { eval "echo \${PID_$1:-}"; }

alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	# an exited child that was not reaped yet is no longer alive
	case "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" in Z|X) return 1;; esac
	return 0
}

write_state() {
	{
		echo "run=$$"
		for n in $NAMES; do echo "$n=$(pid_of "$n")"; done
		echo "web_server=$WEB_SERVER"
		echo "web_dir=$WEB_DIR"
		echo "var_dir=$VAR_DIR"
		echo "run_dir=$RUN_DIR"
		echo "fcgi_sock=$FCGI_SOCK"
		echo "api_url=http://$API_HOST:$API_PORT"
		echo "ws_url=ws://$API_HOST:$API_PORT/ws"
		echo "wsrelay_port=$WSRELAY_PORT"
		[ "$DEMO" = 1 ] && echo "fakewa_url=http://127.0.0.1:${FAKEWA_HTTP_PORT:-}"
		echo "ready=${READY:-0}"
	} > "$STATE.tmp" && mv -f "$STATE.tmp" "$STATE"
}

# wait_for WHAT TEST... : up to ${STACK_WAIT:-15} s for TEST to succeed;
# gives up at once when the program last started has died.
wait_for() {
	what=$1; shift
	i=0
	while ! "$@" 2>/dev/null; do
		if ! alive "$LAST_PID"; then
			say "$what: the program exited (see its log${STACK_LOG_DIR:+ in $STACK_LOG_DIR})"
			return 1
		fi
		i=$((i + 1))
		[ "$i" -gt $(( ${STACK_WAIT:-15} * 20 )) ] && { say "$what not ready"; return 1; }
		sleep 0.05
	done
	return 0
}
http_up() { curl -s -o /dev/null --max-time 1 "http://$1:$2/"; }

start_devmgr() {
	[ -x "$BIN_DIR/devmgr" ] || { say "$BIN_DIR/devmgr missing: run make"; return 1; }
	rm -f "$RUN_DIR/control.sock"
	# -d: stay in the foreground (run.sh supervises it)
	start devmgr "$BIN_DIR/devmgr" -d ${DEVMGR_FLAGS:-}
	wait_for "devmgr (control.sock)" test -S "$RUN_DIR/control.sock"
}

start_fcgi() {
	[ -x "$BIN_DIR/fcgi-app" ] || { say "$BIN_DIR/fcgi-app missing: run make"; return 1; }
	rm -f "$FCGI_SOCK"
	case "$FCGI_MODE" in
	spawn-fcgi)
		if [ "$ROOT" = 1 ]; then
			start fcgi spawn-fcgi -n -s "$FCGI_SOCK" -M 0660 \
			    -G "$WEB_GROUP" -- "$BIN_DIR/fcgi-app" \
			    -w "${FCGI_WORKERS:-2}" \
			    ${FCGI_THREADS:+-t "$FCGI_THREADS"}
		else
			start fcgi spawn-fcgi -n -s "$FCGI_SOCK" -M 0600 -- \
			    "$BIN_DIR/fcgi-app" -w "${FCGI_WORKERS:-2}" \
			    ${FCGI_THREADS:+-t "$FCGI_THREADS"}
		fi;;
	*)	start fcgi "$BIN_DIR/fcgi-app" -s "$FCGI_SOCK" \
		    ${FCGI_WORKERS:+-w "$FCGI_WORKERS"} \
		    ${FCGI_THREADS:+-t "$FCGI_THREADS"};;
	esac
	wait_for "fcgi-app ($FCGI_SOCK)" test -S "$FCGI_SOCK" || return 1
	if [ "$ROOT" = 1 ]; then
		chgrp "$WEB_GROUP" "$FCGI_SOCK" && chmod 0660 "$FCGI_SOCK"
	fi
	return 0
}

start_wsrelay() {
	if [ ! -x "$BIN_DIR/wsrelay" ]; then
		say "warning: $BIN_DIR/wsrelay missing: no /ws, /socket.io/"
		return 0
	fi
	start wsrelay "$BIN_DIR/wsrelay"
	wait_for "wsrelay (127.0.0.1:$WSRELAY_PORT)" http_up 127.0.0.1 "$WSRELAY_PORT"
}

start_web() {
	# shellcheck disable=SC2046
	start web $(web_cmd)
	wait_for "$WEB_SERVER ($API_HOST:$API_PORT)" http_up "$API_HOST" "$API_PORT"
}

# DEMO hook: the fake WhatsApp server (tests/fakewa) before devmgr, so every
# waproc talks to it instead of WhatsApp (WA_SERVER_URL and the test root
# key WA_CERT_ROOT, both TEST ONLY settings).  Its state (accounts, phones)
# lives in $VAR_DIR/fakewa; its control API pairs devices (tests/fakewa).
start_demo() {
	[ "$DEMO" = 1 ] || return 0
	if [ ! -x "$BIN_DIR/fakewa" ]; then
		say "DEMO=1: $BIN_DIR/fakewa is not built; starting without it"
		DEMO=0
		return 0
	fi
	: "${FAKEWA_PORT:=$((API_PORT + 2))}" "${FAKEWA_HTTP_PORT:=$((API_PORT + 3))}"
	FAKEWA_DIR=$VAR_DIR/fakewa
	mkdir -p "$FAKEWA_DIR" || die "cannot create $FAKEWA_DIR"
	rm -f "$FAKEWA_DIR/root.hex"
	start fakewa "$BIN_DIR/fakewa" -d "$FAKEWA_DIR" -p "$FAKEWA_PORT" \
	    -P "$FAKEWA_HTTP_PORT" -r "$FAKEWA_DIR/root.hex" ${FAKEWA_FLAGS:-}
	wait_for "fakewa (127.0.0.1:$FAKEWA_HTTP_PORT)" http_up 127.0.0.1 \
	    "$FAKEWA_HTTP_PORT" || return 1
	WA_SERVER_URL=ws://127.0.0.1:$FAKEWA_PORT/ws/chat
	WA_CERT_ROOT=$(cat "$FAKEWA_DIR/root.hex") || return 1
	# its media host is HTTPS with a self-signed certificate
	WA_CA_FILE=$FAKEWA_DIR/tls-cert.pem
	export WA_SERVER_URL WA_CERT_ROOT WA_CA_FILE
}

# sweep_group PID: what a program left behind in its process group (e.g.
# the workers of a program that was killed): TERM, then KILL after 2 s.
sweep_group() {
	[ -n "$SETSID" ] && kill -0 "-$1" 2>/dev/null || return 0
	kill -TERM "-$1" 2>/dev/null
	j=0
	while kill -0 "-$1" 2>/dev/null && [ "$j" -lt 20 ]; do
		sleep 0.1; j=$((j + 1))
	done
	kill -KILL "-$1" 2>/dev/null
	return 0
}

STOPPING=0
stop_all() {
	[ "$STOPPING" = 1 ] && return
	STOPPING=1
	say "stopping"
	# front to back: web server, wsrelay, fcgi-app, devmgr (stops waprocs)
	for n in web wsrelay fcgi devmgr fakewa; do
		p=$(pid_of "$n")
		[ -n "$p" ] || continue
		if alive "$p"; then
			kill -TERM "$p" 2>/dev/null
			i=0
			while alive "$p" && [ "$i" -lt 100 ]; do
				sleep 0.1; i=$((i + 1))
			done
			if alive "$p"; then
				say "$n ($p) did not stop in 10 s: SIGKILL"
				kill -KILL "$p" 2>/dev/null
			fi
		fi
		wait "$p" 2>/dev/null
		sweep_group "$p"
	done
	rm -f "$FCGI_SOCK" "$STATE"
}

RESTART=0
on_usr1() { RESTART=1; }
trap 'stop_all; exit 0' INT TERM HUP
trap 'on_usr1' USR1

restart_dead() {
	for n in devmgr fcgi wsrelay web; do
		p=$(pid_of "$n")
		[ -n "$p" ] || continue
		alive "$p" && continue
		wait "$p" 2>/dev/null
		sweep_group "$p"
		say "restarting $n"
		case $n in
		devmgr) start_devmgr;;
		fcgi) start_fcgi;;
		wsrelay) start_wsrelay;;
		web) start_web;;
		esac
	done
}

# --- go ---------------------------------------------------------------------
command -v curl >/dev/null || die "curl is needed (make deps)"
SETSID=
command -v setsid >/dev/null && SETSID=setsid
case "$WEB_SERVER" in
nginx) command -v nginx >/dev/null || die "nginx not installed (make deps)";;
lighttpd) command -v lighttpd >/dev/null || die "lighttpd not installed (make deps)";;
apache|apache2) command -v "${APACHE_BIN:-apache2}" >/dev/null || die "apache2 not installed (make deps)";;
esac
if [ -n "$STACK_LOG_DIR" ]; then
	mkdir -p "$STACK_LOG_DIR" || die "cannot create $STACK_LOG_DIR"
fi
prepare_web_dir
write_configs
write_state

: "${STACK_PROGRAMS:=devmgr fcgi wsrelay web}"
wanted() { case " $STACK_PROGRAMS " in *" $1 "*) return 0;; esac; return 1; }
start_demo || { stop_all; exit 1; }
if wanted devmgr; then start_devmgr || { stop_all; exit 1; }; fi
if wanted fcgi; then start_fcgi || { stop_all; exit 1; }; fi
if wanted wsrelay; then start_wsrelay || { stop_all; exit 1; }; fi
if wanted web; then start_web || { stop_all; exit 1; }; fi
READY=1
write_state

URL="http://$API_HOST:$API_PORT"
cat >&2 <<EOF

  WhatsApp gateway running behind $WEB_SERVER
    API        $URL/api   (health: $URL/api/health, docs: $URL/docs)
    events     ws://$API_HOST:$API_PORT/ws   and Socket.IO at /socket.io/
    state      $VAR_DIR   (web server prefix: $WEB_DIR)
  Ctrl-C stops everything.

EOF
if [ "$DEMO" = 1 ]; then
	cat >&2 <<EOF
  DEMO: devices talk to the fake WhatsApp server (tests/fakewa), not to
  WhatsApp: ws://127.0.0.1:$FAKEWA_PORT/ws/chat, its control API (phones,
  pairing) at http://127.0.0.1:$FAKEWA_HTTP_PORT/.

EOF
fi
if [ "${DEFAULT_ADMIN_PASS:-admin}" = admin ]; then
	cat >&2 <<EOF
  WARNING: the default credentials ${DEFAULT_ADMIN_USER:-admin}/admin are active.
  Change them now:  POST /api/auth/change-password  (or DEFAULT_ADMIN_PASS=...
  before the first start).  Never expose this port with them.

EOF
fi

while :; do
	sleep 1 &
	wait $! 2>/dev/null
	if [ "$RESTART" = 1 ]; then
		RESTART=0
		restart_dead
		write_state
	fi
	for n in $NAMES; do
		p=$(pid_of "$n")
		alive "$p" && continue
		[ "$STACK_KEEP_GOING" = 1 ] && continue
		wait "$p" 2>/dev/null
		rc=$?
		say "$n (pid $p) exited with status $rc; stopping the stack"
		stop_all
		exit 1
	done
done
