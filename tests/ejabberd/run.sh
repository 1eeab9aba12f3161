#!/usr/bin/env bash
# End-to-end test: a real ejabberd (Debian's package, 23.01 on Debian 12) on
# 127.0.0.1 and a real XMPP client (slixmpp) run one realistic session:
# STARTTLS logins, roster, ping, disco, chat, MUC, MAM, offline delivery.
#
# It proves that whatever fast_xml / fast_tls the ejabberd node loads works for
# a real server: with EJABBERD_EXTRA_PA unset that is Debian's erlang-p1-xml /
# erlang-p1-tls; with EJABBERD_EXTRA_PA=/a/ebin:/b/ebin those directories are
# put at the head of the node's code path (erl -pa, through ERL_OPTIONS in the
# instance's own ejabberdctl.cfg), so modules of the same name shadow Debian's.
#
# Environment (all optional):
#   EJABBERD_EXTRA_PA       colon-separated ebin dirs to prepend, first wins
#   EXPECT_FXML_PREFIX      code:which(fxml_stream) must start with this
#   EXPECT_FAST_TLS_PREFIX  code:which(fast_tls) must start with this
#   XMPP_PORT               c2s port (default: first free in 15222-15299)
#   EJABBERD_START_TIMEOUT  seconds to wait for the c2s port (default 60)
#   XMPP_ACCEL_VENV         slixmpp venv, reused when it holds the pinned
#                           version (default /tmp/xmpp-accel-venv)
#   XMPP_DEBUG=1            slixmpp debug log (raw XML) on stderr
#   KEEP_TMP=1              keep the instance dir (config, logs, mnesia)
#
# Needs root (installs packages when missing; runs ejabberd as user ejabberd).
# Everything it starts is stopped on exit; it never touches the packaged
# service's config, spool or logs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
SLIXMPP_VERSION=1.17.0
VENV=${XMPP_ACCEL_VENV:-/tmp/xmpp-accel-venv}
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-60}
RUN_USER=ejabberd

say() { echo "ejabberd-e2e: $*"; }
die() { echo "ejabberd-e2e: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and runs ejabberd as user $RUN_USER)"

# ---------------------------------------------------------------- packages
ensure_packages() {
    local need=()
    local p
    # ejabberd pulls in erlang-base (erl, erlc), erlang-p1-xml, erlang-p1-tls
    for p in ejabberd python3-venv openssl iproute2; do
        dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    say "installing ${need[*]}"
    # The package must not start its service (it would listen on 5222 etc.
    # on all interfaces): policy-rc.d exit 101 makes invoke-rc.d refuse.
    local made_policy=0 rc=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    { DEBIAN_FRONTEND=noninteractive timeout 900 apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "${need[@]}"; } \
        >/tmp/xmpp-accel-ejabberd-apt.log 2>&1 || rc=$?
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    if [ $rc != 0 ]; then
        tail -n 30 /tmp/xmpp-accel-ejabberd-apt.log >&2
        die "apt-get failed (log: /tmp/xmpp-accel-ejabberd-apt.log)"
    fi
    # Keep the packaged service from starting at boot too.
    if [[ " ${need[*]} " == *" ejabberd "* ]] && command -v systemctl >/dev/null; then
        systemctl disable ejabberd >/dev/null 2>&1 || true
    fi
}

# The packaged node (ejabberd@localhost, Debian's /etc/ejabberd config) must
# not be running: it would listen on 5222 and friends on every interface.
ensure_packaged_service_stopped() {
    local pids
    pids=$(pgrep -u "$RUN_USER" -f -- '-sname ejabberd@localhost( |$)' || true)
    if [ -n "$pids" ]; then
        say "the packaged ejabberd node is running (pids $pids): stopping it"
        timeout 60 ejabberdctl stop >/dev/null 2>&1 || true
        timeout 60 ejabberdctl stopped >/dev/null 2>&1 || true
        pgrep -u "$RUN_USER" -f -- '-sname ejabberd@localhost( |$)' >/dev/null &&
            die "the packaged ejabberd node (pids $pids) would not stop"
    fi
    if ss -Hltn 'sport = :5222' | grep -q .; then
        say "warning: something listens on port 5222 (not this test's instance):"
        ss -Hltnp 'sport = :5222' >&2
    fi
}

ensure_venv() {
    mkdir -p "$(dirname "$VENV")"
    (
        flock -w 600 9 || die "timed out waiting for the lock on $VENV"
        if [ -x "$VENV/bin/python" ] &&
           "$VENV/bin/python" -c "import slixmpp, sys; sys.exit(slixmpp.__version__ != '$SLIXMPP_VERSION')" 2>/dev/null; then
            exit 0
        fi
        say "creating venv $VENV with slixmpp==$SLIXMPP_VERSION"
        rm -rf "$VENV"
        /usr/bin/python3 -m venv "$VENV"
        # wheels only: slixmpp ships a compiled extension, never build it here
        timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check \
            --only-binary=:all: "slixmpp==$SLIXMPP_VERSION" ||
            { rm -rf "$VENV"; die "pip install slixmpp==$SLIXMPP_VERSION failed"; }
    ) 9>"$VENV.lock"
}

free_port() { # first port in [$1, $2] nobody listens on
    local p
    for p in $(seq "$1" "$2"); do
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
    done
    return 1
}

ensure_packages
ensure_packaged_service_stopped
ensure_venv
getent passwd "$RUN_USER" >/dev/null || die "user $RUN_USER missing (the ejabberd package creates it)"
say "ejabberd package $(dpkg-query -W -f='${Version}' ejabberd), fast_xml (erlang-p1-xml) $(dpkg-query -W -f='${Version}' erlang-p1-xml), fast_tls (erlang-p1-tls) $(dpkg-query -W -f='${Version}' erlang-p1-tls), slixmpp $SLIXMPP_VERSION"

# ---------------------------------------------------------------- instance
t0=$SECONDS
tmp=$(mktemp -d /tmp/xmpp-accel-ejabberd.XXXXXX)
node="xmppaccel-$$-$RANDOM@localhost"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
wrapper_pid=""
beam_pid=""
session_pid=""

# ejabberdctl against this instance only (its own config, spool, logs, node)
ctl_args=(--config-dir "$tmp/etc" --config "$tmp/etc/ejabberd.yml"
          --ctl-config "$tmp/etc/ejabberdctl.cfg" --logs "$tmp/logs"
          --spool "$tmp/spool" --node "$node")
ctl() { timeout 60 ejabberdctl "${ctl_args[@]}" "$@"; } # a bounded ctl command

alive() { # a zombie (our exited, not yet reaped child) counts as gone
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
        [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

wait_gone() { # pid seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done
    return 1
}

cleanup() {
    local rc=$? p pids
    set +e
    trap - EXIT
    trap '' INT TERM  # a second signal must not cut the cleanup short
    if [ "$rc" != 0 ] && [ -d "$tmp/logs" ]; then
        for f in ejabberd.log error.log console.log; do
            [ -s "$tmp/logs/$f" ] || continue
            echo "---- tail of ejabberd $f ----" >&2
            tail -n 40 "$tmp/logs/$f" >&2
        done
        echo "----" >&2
    fi
    if alive "$session_pid"; then
        kill -TERM "$session_pid" 2>/dev/null
        wait_gone "$session_pid" 5 || kill -KILL "$session_pid" 2>/dev/null
    fi
    if alive "$beam_pid" || alive "$wrapper_pid"; then
        ctl stop >/dev/null 2>&1
        wait_gone "$beam_pid" 30 || { kill -TERM "$beam_pid" 2>/dev/null; wait_gone "$beam_pid" 5; }
        alive "$beam_pid" && kill -KILL "$beam_pid" 2>/dev/null
        wait_gone "$wrapper_pid" 5 || kill -TERM "$wrapper_pid" 2>/dev/null
    fi
    # Anything else carrying this run's unique node name (a ctl call cut off
    # by a signal, a beam whose pid file never got written).
    pids=$(pgrep -f -- "$node" || true)
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for p in $pids; do wait_gone "$p" 5 || kill -KILL "$p" 2>/dev/null; done
    [ -n "$wrapper_pid" ] && wait "$wrapper_pid" 2>/dev/null
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/etc" "$tmp/spool" "$tmp/logs" "$tmp/run" "$tmp/cert" "$tmp/contrib/conf" "$tmp/probe"

# Extra code paths. erl's -pa prepends; given several -pa flags, the last one
# ends up first in the code path (checked on OTP 25), so emit them reversed:
# the first directory of EJABBERD_EXTRA_PA wins.
pa_opts=""
extra_pa=""
if [ -n "${EJABBERD_EXTRA_PA:-}" ]; then
    IFS=: read -ra pa_dirs <<<"$EJABBERD_EXTRA_PA"
    for ((i = ${#pa_dirs[@]} - 1; i >= 0; i--)); do
        d=${pa_dirs[$i]}
        [ -n "$d" ] || continue
        [ -d "$d" ] || die "EJABBERD_EXTRA_PA: $d is not a directory"
        d=$(cd "$d" && pwd)
        [[ "$d" =~ ^[A-Za-z0-9_./+=,@-]+$ ]] ||
            die "EJABBERD_EXTRA_PA: $d: only [A-Za-z0-9_./+=,@-] allowed (ejabberdctl word-splits ERL_OPTIONS)"
        su -s /bin/sh "$RUN_USER" -c 'test -r "$0" && test -x "$0"' "$d" ||
            die "EJABBERD_EXTRA_PA: user $RUN_USER cannot read $d; the node would silently fall back to Debian's modules"
        pa_opts="$pa_opts -pa $d"
        extra_pa="$d${extra_pa:+:$extra_pa}"
    done
fi

c2s_port=${XMPP_PORT:-$(free_port 15222 15299)} || die "no free port in 15222-15299"
ss -Hltn "sport = :$c2s_port" | grep -q . && die "port $c2s_port is already in use"
dist_port=$(free_port 15300 15399) || die "no free port in 15300-15399"

# Self-signed certificate for the XMPP domain "localhost"; the client trusts
# exactly this certificate and checks the host name against it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,DNS:conference.localhost" \
    -keyout "$tmp/cert/key.pem" -out "$tmp/cert/cert.pem" >/dev/null 2>&1 ||
    die "openssl could not make a certificate"
cat "$tmp/cert/cert.pem" "$tmp/cert/key.pem" >"$tmp/cert/server.pem"

# ejabberdctl sources this file; ERLANG_OPTS = "+K true +P ... $ERL_OPTIONS"
# goes on every erl command line it runs, the server node's included.
# ERL_DIST_PORT: the node listens for distribution on that fixed port
# (-erl_epmd_port P -start_epmd false) and ctl calls connect to it with
# -dist_listen false: no epmd at all. INET_DIST_INTERFACE binds it to loopback.
cat >"$tmp/etc/ejabberdctl.cfg" <<EOF
ERLANG_NODE=$node
ERL_OPTIONS="-setcookie $cookie -env ERL_CRASH_DUMP_BYTES 0$pa_opts"
ERL_DIST_PORT=$dist_port
INET_DIST_INTERFACE=127.0.0.1
EJABBERD_PID_PATH=$tmp/run/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
CONTRIB_MODULES_PATH=$tmp/contrib
CONTRIB_MODULES_CONF_DIR=$tmp/contrib/conf
EOF

cat >"$tmp/etc/ejabberd.yml" <<EOF
hosts:
  - localhost
loglevel: info
log_rotate_count: 0
certfiles:
  - "$tmp/cert/server.pem"
c2s_protocol_options:
  - "no_sslv3"
  - "no_tlsv1"
  - "no_tlsv1_1"
  - "no_compression"
listen:
  -
    port: $c2s_port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
    starttls_required: true
auth_method: internal
auth_password_format: scram
disable_sasl_mechanisms:
  - "digest-md5"
  - "X-OAUTH2"
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  muc_create:
    allow: local
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_disco: {}
  mod_roster: {}
  mod_ping: {}
  mod_offline: {}
  mod_mam:
    db_type: mnesia
    default: always
    assume_mam_usage: true
  mod_muc:
    hosts:
      - "conference.localhost"
    access: all
    access_admin: none
    access_create: muc_create
    access_persistent: muc_create
    default_room_options:
      mam: true
EOF

# ejabberdctl points ERL_INETRC at <config dir>/inetrc: resolve localhost
# to loopback from this file.
printf '%s\n' '{lookup, ["file", "native"]}.' '{host, {127,0,0,1}, ["localhost"]}.' >"$tmp/etc/inetrc"

cp "$here/ejabberd_probe.erl" "$tmp/probe/"
erlc -o "$tmp/probe" "$tmp/probe/ejabberd_probe.erl"
chown -R "$RUN_USER:$RUN_USER" "$tmp"
chmod 700 "$tmp"
chmod 600 "$tmp/cert/key.pem" "$tmp/cert/server.pem"

say "instance $tmp: node $node, c2s 127.0.0.1:$c2s_port (starttls_required), distribution 127.0.0.1:$dist_port (no epmd)"
[ -n "$extra_pa" ] && say "EJABBERD_EXTRA_PA -> erl$pa_opts (code path head: $extra_pa)"

ejabberdctl "${ctl_args[@]}" foreground >"$tmp/logs/console.log" 2>&1 &
wrapper_pid=$!

# Wait (bounded) for the pid file and for our beam to listen on the c2s port.
deadline=$((SECONDS + START_TIMEOUT))
while :; do
    if [ -z "$beam_pid" ] && [ -s "$tmp/run/ejabberd.pid" ]; then
        beam_pid=$(cat "$tmp/run/ejabberd.pid")
    fi
    if [ -n "$beam_pid" ] &&
       ss -Hltnp "sport = :$c2s_port" | grep -q "pid=$beam_pid,"; then
        break
    fi
    alive "$wrapper_pid" || die "ejabberd exited during startup"
    [ "$SECONDS" -lt "$deadline" ] || die "c2s port $c2s_port not listening after ${START_TIMEOUT}s"
    sleep 0.3
done
say "ejabberd up in $((SECONDS - t0))s: beam pid $beam_pid (ejabberdctl pid $wrapper_pid)"

# Nothing of ours may listen beyond loopback.
listeners=$(ss -Hltunp | grep "pid=$beam_pid," | awk '{print $1" "$5}')
echo "$listeners" | sed 's/^/ejabberd-e2e: listening: /'
if echo "$listeners" | awk '{print $2}' | grep -vq '^127\.0\.0\.1:'; then
    die "ejabberd listens beyond 127.0.0.1"
fi

for u in alice bob; do
    ctl register "$u" localhost "pw-$u-$cookie" >/dev/null || die "ejabberdctl register $u failed"
done
say "registered alice@localhost and bob@localhost"

probe() { # mode: which | loaded
    env EJD_NODE="$node" EJD_EXTRA_PA="$extra_pa" \
        timeout 60 erl -sname "probe-$$-$RANDOM@localhost" -setcookie "$cookie" -hidden \
        -noshell -noinput -start_epmd false -erl_epmd_port "$dist_port" -dist_listen false \
        -pa "$tmp/probe" -run ejabberd_probe main "$1"
}

# The module checks fail the run but do not stop it: the session still shows
# what the node does with whatever it loaded.
probe_failed=0
probe which || probe_failed=1

rc=0
XMPP_HOST=127.0.0.1 XMPP_PORT=$c2s_port XMPP_DOMAIN=localhost XMPP_MUC=conference.localhost \
XMPP_CAFILE="$tmp/cert/cert.pem" \
XMPP_USER_A=alice XMPP_PASS_A="pw-alice-$cookie" XMPP_USER_B=bob XMPP_PASS_B="pw-bob-$cookie" \
    timeout 150 "$VENV/bin/python" "$here/session.py" &
session_pid=$!  # in the background so that a signal reaches the trap at once
wait "$session_pid" || rc=$?
session_pid=""

probe loaded || probe_failed=1
if [ "$probe_failed" = 1 ]; then
    say "FAILED: the node did not run the expected fast_xml / fast_tls modules (see above)"
    [ "$rc" != 0 ] || rc=1
fi
say "total $((SECONDS - t0))s after install; exit code $rc"
exit "$rc"
