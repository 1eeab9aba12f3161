#!/usr/bin/env bash
# End to end: the sidecar's edge in front of real servers, with real clients.
#   ejabberd (Debian's 23.01): a plaintext c2s listener with use_proxy_protocol,
#     behind an edge listener with STARTTLS and one with direct TLS (PROXY v2);
#   Prosody (Debian's 0.12): a plaintext c2s port, behind an edge listener
#     with STARTTLS and no PROXY header (Prosody has no PROXY support);
#   ejabberd behind a WebSocket (RFC 7395) listener too, and behind HAProxy
#     (TCP mode, PROXY v2) in front of two edges (PROXY in, PROXY v2 out);
#   a recording backend (tests/sidecar/recorder.py) behind a listener with a
#     64 kB stanza limit, for the hostile-input steps.
# The scenario is tests/sidecar/edge.py (slixmpp and raw sockets). Everything
# runs on 127.0.0.1 (clients from 127.0.0.2) in a throwaway dir and is
# stopped by pid. Needs root (installs Debian packages on first use, runs
# the servers as their users) and the sidecar built (cargo build --release
# -p xmpp-accel-sidecar; the Makefile does it). KEEP_TMP=1 keeps the dir.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
here=$repo/tests/sidecar
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-60}
RUN_USER=ejabberd
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}

say() { echo "sidecar-edge: $*"; }
die() { echo "sidecar-edge: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: cargo build --release -p xmpp-accel-sidecar"
. "$repo/tests/ejabberd/lib.sh"
. "$repo/tests/prosody/lib.sh"
ensure_packages ejabberd prosody haproxy python3-venv openssl iproute2
ensure_packaged_service_stopped
ensure_venv
say "ejabberd $(dpkg-query -W -f='${Version}' ejabberd), prosody $(dpkg-query -W -f='${Version}' prosody), slixmpp $SLIXMPP_VERSION"

tmp=$(mktemp -d /tmp/xmpp-accel-sidecar-edge.XXXXXX)
node="xmppaccel-edge-$$-$RANDOM@localhost"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
wrapper_pid="" beam_pid="" prosody_pid="" recorder_pid="" sidecar_pid="" sidecar2_pid="" haproxy_pid="" py_pid=""
ejd_ctl_args

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" != 0 ]; then
        ejd_log_tails
        for f in sidecar.log prosody.log; do
            [ -s "$tmp/logs/$f" ] && { echo "---- tail of $f ----" >&2; tail -n 40 "$tmp/logs/$f" >&2; }
        done
    fi
    stop_pids -t 10 "$py_pid" "$haproxy_pid" "$sidecar2_pid" "$sidecar_pid" "$recorder_pid" "$prosody_pid"
    ejd_stop
    ejd_kill_leftovers
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/spool" "$tmp/logs" "$tmp/certs/localhost" "$tmp/prosody/data"

# ---------------------------------------------------------------- certificates
# The edge's, in the Let's Encrypt layout; renew.sh makes a new one in place.
cat >"$tmp/renew.sh" <<EOF
set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \\
    -addext "subjectAltName=DNS:localhost" -keyout "$tmp/certs/localhost/privkey.pem.new" \\
    -out "$tmp/certs/localhost/fullchain.pem.new" >/dev/null 2>&1
cat "$tmp/certs/localhost/fullchain.pem.new" >>"$tmp/ca.pem"
mv "$tmp/certs/localhost/privkey.pem.new" "$tmp/certs/localhost/privkey.pem"
mv "$tmp/certs/localhost/fullchain.pem.new" "$tmp/certs/localhost/fullchain.pem"
EOF
: >"$tmp/ca.pem"
bash "$tmp/renew.sh" || die "openssl could not make a certificate"
ejd_make_cert # ejabberd wants one for its config even without TLS listeners

# ---------------------------------------------------------------- ejabberd
c2s_port=$(free_port 15850 15899) || die "no free port"
dist_port=$(free_port 15800 15849) || die "no free port"
ejd_write_ctl_cfg "$cookie" "$dist_port" ""
ejd_write_config "$(ejd_c2s_listener "$c2s_port" "use_proxy_protocol: true")" "$EJD_BASE_MODULES"
chown -R "$RUN_USER:$RUN_USER" "$tmp/etc" "$tmp/spool" "$tmp/logs" "$tmp/cert" "$tmp/run" "$tmp/contrib"
chmod 711 "$tmp"
ejd_start "$START_TIMEOUT"
ejd_check_loopback
for u in alice bob; do ctl register "$u" localhost "pw-$u-$cookie" >/dev/null || die "register $u"; done
printf '#!/bin/sh\nexec timeout 60 ejabberdctl %s "$@"\n' "$(printf '%q ' "${ctl_args[@]}")" >"$tmp/ejdctl"
chmod +x "$tmp/ejdctl"
say "ejabberd: pid $beam_pid, c2s 127.0.0.1:$c2s_port (PROXY protocol, no TLS)"

# ---------------------------------------------------------------- Prosody
prosody_port=$(free_port 15500 15599) || die "no free port"
{
    prosody_config_head "$prosody_port"
    cat <<EOF
c2s_require_encryption = false
allow_unencrypted_plain_auth = false
modules_enabled = { "roster", "saslauth", "disco", "ping", "posix" }
modules_disabled = { "tls", "s2s" }
VirtualHost "localhost"
EOF
} >"$tmp/prosody/prosody.cfg.lua"
prosody_register "$cookie" alice bob
prosody_start "$prosody_port"
say "Prosody: pid $prosody_pid, c2s 127.0.0.1:$prosody_port (no TLS)"

# ---------------------------------------------------------------- recorder
rec_port=$(free_port 15600 15699) || die "no free port"
"$VENV/bin/python" "$here/recorder.py" "127.0.0.1:$rec_port" "$tmp/recorded.bin" &
recorder_pid=$!

# ---------------------------------------------------------------- sidecar
p1=$(free_port 15700 15799); p2=$(free_port $((p1 + 1)) 15799); p3=$(free_port $((p2 + 1)) 15799)
p4=$(free_port $((p3 + 1)) 15799); pw=$(free_port $((p4 + 1)) 15799); pm=$(free_port $((pw + 1)) 15799)
# two edges behind HAProxy (TCP mode, PROXY v2 to the edges): lb1 on this
# sidecar, lb2 on a second one with its own metrics
pl1=$(free_port $((pm + 1)) 15799); pl2=$(free_port $((pl1 + 1)) 15799)
pm2=$(free_port $((pl2 + 1)) 15799); ph=$(free_port $((pm2 + 1)) 15799)
cat >"$tmp/sidecar.toml" <<EOF
[metrics]
address = "127.0.0.1:$pm"

[tls]
cert_dir = "$tmp/certs"
default_domain = "localhost"

[shutdown]
drain_timeout_secs = 3

[[listener]]
name = "ejd_starttls"
kind = "c2s"
address = "127.0.0.1:$p1"
tls = "starttls"
backend = "127.0.0.1:$c2s_port"
proxy_out = "v2"

[[listener]]
name = "ejd_direct"
kind = "c2s"
address = "127.0.0.1:$p2"
tls = "direct"
backend = "127.0.0.1:$c2s_port"
limits = { handshake_timeout_ms = 2000 }

[[listener]]
name = "ejd_websocket"
kind = "c2s"
websocket = true
address = "127.0.0.1:$pw"
tls = "direct"
backend = "127.0.0.1:$c2s_port"

[[listener]]
name = "prosody_starttls"
kind = "c2s"
address = "127.0.0.1:$p3"
tls = "starttls"
backend = "127.0.0.1:$prosody_port"
proxy_out = "none"

[[listener]]
name = "recorder"
kind = "c2s"
address = "127.0.0.1:$p4"
tls = "starttls"
backend = "127.0.0.1:$rec_port"
proxy_out = "none"
limits = { max_stanza_size = 65536 }

[[listener]]
name = "ejd_lb"
kind = "c2s"
address = "127.0.0.1:$pl1"
tls = "starttls"
backend = "127.0.0.1:$c2s_port"
proxy_in_from = ["127.0.0.1/32"]
EOF
cat >"$tmp/sidecar2.toml" <<EOF
[metrics]
address = "127.0.0.1:$pm2"

[tls]
cert_dir = "$tmp/certs"
default_domain = "localhost"

[[listener]]
name = "ejd_lb"
kind = "c2s"
address = "127.0.0.1:$pl2"
tls = "starttls"
backend = "127.0.0.1:$c2s_port"
proxy_in_from = ["127.0.0.1/32"]
EOF
cat >"$tmp/haproxy.cfg" <<EOF
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend xmpp
    bind 127.0.0.1:$ph
    default_backend edges
backend edges
    balance roundrobin
    server edge1 127.0.0.1:$pl1 send-proxy-v2
    server edge2 127.0.0.1:$pl2 send-proxy-v2
EOF
"$SIDECAR" --config "$tmp/sidecar.toml" --check-config || die "--check-config refused the test's config"
"$SIDECAR" --config "$tmp/sidecar.toml" >>"$tmp/logs/sidecar.log" 2>&1 &
sidecar_pid=$!
for ((i = 0; i < 100; i++)); do
    ss -Hltn "sport = :$p4" | grep -q . && break
    alive "$sidecar_pid" || die "the sidecar exited"
    sleep 0.1
done
"$SIDECAR" --config "$tmp/sidecar2.toml" >>"$tmp/logs/sidecar2.log" 2>&1 &
sidecar2_pid=$!
haproxy -f "$tmp/haproxy.cfg" -db >>"$tmp/logs/haproxy.log" 2>&1 &
haproxy_pid=$!
for ((i = 0; i < 100; i++)); do
    ss -Hltn "sport = :$ph" | grep -q . && ss -Hltn "sport = :$pl2" | grep -q . && break
    alive "$sidecar2_pid" || die "the second sidecar exited"
    alive "$haproxy_pid" || { cat "$tmp/logs/haproxy.log" >&2; die "haproxy exited"; }
    sleep 0.1
done
say "sidecar: pid $sidecar_pid, listeners $p1 $p2 $p3 $p4 $pw $pl1, metrics $pm; second sidecar pid $sidecar2_pid ($pl2, metrics $pm2); HAProxy $(haproxy -v | head -n 1 | awk '{print $3}') pid $haproxy_pid on $ph"

rc=0
CAFILE="$tmp/ca.pem" SIDECAR_PID=$sidecar_pid METRICS="127.0.0.1:$pm" RENEW_CERT="$tmp/renew.sh" \
EDGE_EJD_STARTTLS="127.0.0.1:$p1" EDGE_EJD_DIRECT="127.0.0.1:$p2" EDGE_EJD_WS="127.0.0.1:$pw" \
HAPROXY="127.0.0.1:$ph" METRICS2="127.0.0.1:$pm2" \
EDGE_PROSODY_STARTTLS="127.0.0.1:$p3" EDGE_RECORDER="127.0.0.1:$p4" RECORDER_LOG="$tmp/recorded.bin" \
EJD_CTL="$tmp/ejdctl" EJD_USER_A=alice EJD_PASS_A="pw-alice-$cookie" EJD_USER_B=bob EJD_PASS_B="pw-bob-$cookie" \
PROSODY_USER_A=alice PROSODY_PASS_A="pw-alice-$cookie" PROSODY_USER_B=bob PROSODY_PASS_B="pw-bob-$cookie" \
    timeout 600 "$VENV/bin/python" "$here/edge.py" &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
echo "---- sidecar log (last 15 lines) ----"
tail -n 15 "$tmp/logs/sidecar.log"
exit "$rc"
