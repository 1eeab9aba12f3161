#!/usr/bin/env bash
# bench-muclight: one room of 100, 1,000 and 5,000 members on three systems,
# driven by our load generator (bench/sidecar/loadgen, `room` mode) over
# 127.0.0.1, STARTTLS + SASL PLAIN:
#   light   our MUC Light component (the sidecar's [component], release build,
#           SQLite storage) on Debian's ejabberd 23.01 (XEP-0114, XEP-0356
#           privileged presence for members' resources)
#   light_mc  the same component sending each room stanza ONCE to ejabberd's
#           XEP-0033 service (mod_multicast, `limits: remote: message:
#           infinite`) with a bcc address per member's resource, instead of N
#           copies over the XEP-0114 link; and the index committed every
#           BENCH_MC_INDEX_COMMIT_MS (default 5000) instead of 250 ms
#   ejmuc   ejabberd 23.01's own mod_muc (XEP-0045), every member an occupant
#   prosody Prosody 0.12's mod_muc (XEP-0045), every member an occupant
# Per system and room size, a fresh server (and component):
#   1. N sessions log in; the room is made (MUC Light: one create IQ with
#      N-1 members; XEP-0045: the owner joins and submits the instant-room
#      form, the others join, 20 joins in flight, no history);
#   2. messages: BENCH_RATE msgs/s for BENCH_MSG_SECS into the room, the
#      sender rotating; TTD = send to the last of the N copies (p50, p99);
#      server and component CPU from /proc/PID/task/*/schedstat;
#   3. churn: members reconnect (and, XEP-0045, rejoin) at the rate of each
#      member once per BENCH_CHURN_PERIOD seconds, standing for the talk's
#      10 minutes (BENCH_CHURN_MAX reconnections, spread over the room);
#      bytes the members receive (after login) per member per real hour,
#      and CPU of server + component.
# See bench/README.md ("make bench-muclight").
#
#   BENCH_SIZES          room sizes (default 100,1000,5000; quick 100,1000)
#   BENCH_SYSTEMS        subset of light,light_mc,ejmuc,prosody (default all)
#   BENCH_RATE           room messages/s (default 4)
#   BENCH_MSG_SECS       message phase (default 30; quick 10)
#   BENCH_BODY_BYTES     body size (default 100)
#   BENCH_CHURN_PERIOD   bench seconds per reconnect cycle (default 20; quick 10)
#   BENCH_CHURN_MAX      at most this many reconnections per run (default 250;
#                        quick 100): a sample of the cycle, at the cycle's rate
#                        (N per period), members spread over the room. A
#                        member's bytes per cycle = the room's bytes per
#                        reconnection, so the sample measures them (0: all N)
#   BENCH_MUC_MAX        largest XEP-0045 room tried (default 1000): the joins
#                        alone cost N^2 presence stanzas (5,000: 25 million,
#                        some 20 min on ejabberd and 2 h on Prosody here)
#   BENCH_QUICK=1        smoke run: sizes 100,1000, 10 s of messages, 10 s churn period
#   SIDECAR_BIN, LOADGEN_BIN   defaults target/release/...
#   BENCH_KEEP=1         keep the work dir (/tmp/bench-muclight.*)
# Needs root (ejabberd and Prosody run as their users). Ports 16000-16199.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$HERE/../.." && pwd)
RUN_USER=ejabberd
say() { echo "bench-muclight: $*" >&2; }
die() { echo "bench-muclight: FAILED: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root (ejabberd and Prosody run as their own users)"
. "$repo/tests/ejabberd/lib.sh"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    SIZES=${BENCH_SIZES:-100,1000}; MSG_SECS=${BENCH_MSG_SECS:-10}; PERIOD=${BENCH_CHURN_PERIOD:-10}
else
    SIZES=${BENCH_SIZES:-100,1000,5000}; MSG_SECS=${BENCH_MSG_SECS:-30}; PERIOD=${BENCH_CHURN_PERIOD:-20}
fi
RATE=${BENCH_RATE:-4}
BODY=${BENCH_BODY_BYTES:-100}
CYCLES=1
CHURN_MAX=${BENCH_CHURN_MAX:-250}
[ "$QUICK" = 1 ] && CHURN_MAX=${BENCH_CHURN_MAX:-100}
REAL_PERIOD=600
MUC_MAX=${BENCH_MUC_MAX:-1000}
IFS=, read -r -a SZ <<<"$SIZES"
IFS=, read -r -a SYSTEMS <<<"${BENCH_SYSTEMS:-light,light_mc,ejmuc,prosody}"
MC_INDEX_COMMIT_MS=${BENCH_MC_INDEX_COMMIT_MS:-5000}
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}
LOADGEN=${LOADGEN_BIN:-$repo/target/release/xmpp-accel-loadgen}
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-90}

[ -x "$LOADGEN" ] || die "$LOADGEN missing: cargo build --release -p xmpp-accel-loadgen"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: cargo build --release -p xmpp-accel-sidecar"
ensure_packages ejabberd prosody openssl iproute2 curl
ensure_packaged_service_stopped

# one socket per session in the loadgen and in the server (fd hard limit here: 20,000)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for s in "${SZ[@]}"; do
    [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((s + 500)) ] ||
        die "ulimit -n $(ulimit -n) is too low for a $s-member room"
done

tmp=$(mktemp -d /tmp/bench-muclight.XXXXXX)
node="xmppaccel-mlbench-$$-$RANDOM@localhost"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
secret=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
wrapper_pid="" beam_pid="" sidecar_pid="" prosody_pid="" lg_pid=""
ejd_ctl_args

stop_all() {
    stop_pids "$lg_pid"; lg_pid=""
    stop_pids "$sidecar_pid"; sidecar_pid=""
    stop_pids "$prosody_pid"; prosody_pid=""
    ejd_stop
}
cleanup() {
    local rc=$?
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" != 0 ]; then
        ejd_log_tails
        for f in sidecar.log prosody.log; do
            [ -s "$tmp/logs/$f" ] && { echo "---- tail of $f ----" >&2; tail -n 30 "$tmp/logs/$f" >&2; }
        done
    fi
    stop_all
    ejd_kill_leftovers
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/spool" "$tmp/logs" "$tmp/run" "$tmp/cert"
# ECDSA P-256, not a CA (rustls refuses a CA certificate as the server's)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,DNS:conference.localhost,DNS:muclight.localhost" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -keyout "$tmp/cert/key.pem" -out "$tmp/cert/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
cat "$tmp/cert/cert.pem" "$tmp/cert/key.pem" >"$tmp/cert/server.pem"
c2s_port=$(free_port 16000 16049) || die "no free port"
dist_port=$(free_port 16050 16099) || die "no free port"
comp_port=$(free_port 16100 16149) || die "no free port"
metrics_port=$(free_port 16150 16199) || die "no free port"
chmod 711 "$tmp"

# ---------------------------------------------------------------- ejabberd
# start_ejd light|ejmuc N
start_ejd() {
    local kind=$1 n=$2 extra_listen="" mods
    rm -rf "$tmp/spool" && mkdir -p "$tmp/spool"
    ejd_write_ctl_cfg "$cookie" "$dist_port" ""
    echo "ERL_MAX_PORTS=$((n * 2 + 2000))" >>"$tmp/etc/ejabberdctl.cfg"
    if [ "$kind" = light ] || [ "$kind" = light_mc ]; then
        extra_listen=$(ejd_listener ejabberd_service "$comp_port" "max_stanza_size: 16777216" \
            "shaper_rule: none" "hosts:" '  "muclight.localhost":' "    password: \"$secret\"")
        mods=$EJD_PRIVILEGE_MODULE
        # light_mc: XEP-0033 on multicast.localhost; the component is a
        # "remote" sender to mod_multicast (not one of its hosts): 20
        # addresses a stanza unless raised
        if [ "$kind" = light_mc ]; then
            mods="$mods
  mod_multicast:
    limits:
      remote:
        message: infinite
      local:
        message: infinite"
        fi
    else
        # every limit above the largest room; history off (joiners also ask
        # for none); max_users_presence: above it ejabberd stops broadcasting
        # occupants' presence (its own overload guard), not XEP-0045's behaviour
        mods="  mod_muc:
    host: conference.localhost
    access_create: all
    max_users: 20000
    max_users_admin_threshold: 20000
    max_users_presence: 20000
    max_user_conferences: 100
    history_size: 0
    min_message_interval: 0
    min_presence_interval: 0
    room_shaper: none
    user_message_shaper: none
    user_presence_shaper: none
    default_room_options:
      max_users: 20000
      mam: false
      persistent: false"
    fi
    EJD_LOGLEVEL=warning EJD_AUTH="auth_method: anonymous
anonymous_protocol: login_anon
allow_multiple_connections: true" ejd_write_config "$(ejd_listener ejabberd_c2s "$c2s_port" "starttls_required: true" \
        "max_stanza_size: 16777216" "shaper: none" "backlog: 4096" "access: c2s")${extra_listen:+
$extra_listen}" "$mods" "max_fsm_queue: 10000000"
    chown -R "$RUN_USER:$RUN_USER" "$tmp/etc" "$tmp/spool" "$tmp/logs" "$tmp/run" "$tmp/cert" "$tmp/contrib"
    # as $RUN_USER through setpriv, not su (su's pam_limits would put the
    # open-files limit back to 1,024)
    EJD_SETPRIV=1 ejd_start "$START_TIMEOUT"
    ejd_check_loopback >/dev/null
}

start_sidecar() { # [mc]
    local mc=""
    [ "${1:-}" = mc ] && mc="multicast = \"multicast.localhost\"
multicast_max_addresses = 100000
index_commit_ms = $MC_INDEX_COMMIT_MS"
    rm -rf "$tmp/component" && mkdir -p "$tmp/component"
    cat >"$tmp/sidecar.toml" <<EOF
[metrics]
address = "127.0.0.1:$metrics_port"

[component]
server = "127.0.0.1:$comp_port"
domain = "muclight.localhost"
secret = "$secret"
storage = "$tmp/component/rooms.sqlite3"
index = "$tmp/component/index"
max_stanza_size = 16777216
$mc

[component.muclight]
max_occupants = 0
rooms_per_user = 0
EOF
    NO_COLOR=1 "$SIDECAR" --config "$tmp/sidecar.toml" >>"$tmp/logs/sidecar.log" 2>&1 &
    sidecar_pid=$!
    local i
    for ((i = 0; i < 300; i++)); do
        curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | grep -q '^component_connected 1' && return 0
        alive "$sidecar_pid" || die "the sidecar exited"
        sleep 0.1
    done
    die "the component did not connect in 30 s"
}

# ---------------------------------------------------------------- Prosody
# Accounts: internal_plain's files written directly (data/localhost/accounts/
# uI.dat), milliseconds for 5,000 users where prosodyctl register takes
# about a second each.
start_prosody() { # N
    local n=$1 p="$tmp/prosody" i
    rm -rf "$p" && mkdir -p "$p/data/localhost/accounts"
    cp "$tmp/cert/cert.pem" "$tmp/cert/key.pem" "$p/"
    for ((i = 0; i < n; i++)); do
        printf 'return {\n\t["password"] = "pw";\n};\n' >"$p/data/localhost/accounts/u$i.dat"
    done
    cat >"$p/prosody.cfg.lua" <<PROSODY
pidfile = "$p/prosody.pid"
data_path = "$p/data"
interfaces = { "127.0.0.1" }
c2s_ports = { $c2s_port }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
log = { { levels = { min = "warn" }, to = "console" } }
daemonize = false
c2s_require_encryption = true
authentication = "internal_plain"
ssl = { certificate = "$p/cert.pem", key = "$p/key.pem" }
modules_enabled = { "saslauth", "tls", "disco", "posix" }
modules_disabled = { "s2s" }
VirtualHost "localhost"
Component "conference.localhost" "muc"
    -- no lock on new rooms, no history kept or sent (joiners ask for none too)
    muc_room_locking = false
    muc_room_default_history_length = 0
    max_history_messages = 0
    muc_tombstones = false
    muc_room_cache_size = 1000
PROSODY
    chown -R prosody:prosody "$p"
    # setpriv execs prosody: $! is Prosody's own pid
    setpriv --reuid=prosody --regid=prosody --init-groups -- \
        prosody --config "$p/prosody.cfg.lua" -F >>"$tmp/logs/prosody.log" 2>&1 &
    prosody_pid=$!
    for ((i = 0; i < 300; i++)); do
        ss -Hltnp "sport = :$c2s_port" | grep -q "pid=$prosody_pid," && return 0
        alive "$prosody_pid" || die "prosody exited (log: $(tail -n 5 "$tmp/logs/prosody.log"))"
        sleep 0.1
    done
    die "prosody not listening on $c2s_port"
}

declare -A R
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

# run_one SYSTEM N
run_one() {
    local sys=$1 n=$2 room pids out="$tmp/lg-$1-$2.out" sysarg=muc
    say "$sys, $n members: start ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
    case $sys in
    light)
        start_ejd light "$n"; start_sidecar
        room=bench@muclight.localhost; sysarg=muclight; pids="server=$beam_pid,comp=$sidecar_pid" ;;
    light_mc)
        start_ejd light_mc "$n"; start_sidecar mc
        room=bench@muclight.localhost; sysarg=muclight; pids="server=$beam_pid,comp=$sidecar_pid" ;;
    ejmuc)
        start_ejd ejmuc "$n"
        room=bench@conference.localhost; pids="server=$beam_pid" ;;
    prosody)
        start_prosody "$n"
        room=bench@conference.localhost; pids="server=$prosody_pid" ;;
    esac
    local rc=0
    timeout 3600 "$LOADGEN" room --addr "127.0.0.1:$c2s_port" --ca "$tmp/cert/cert.pem" --sessions "$n" \
        --ramp 100 --user-prefix u --password pw --system "$sysarg" --room "$room" \
        --rate "$RATE" --msg-secs "$MSG_SECS" --body-bytes "$BODY" --churn-period "$PERIOD" \
        --churn-cycles "$CYCLES" --churn-max "$CHURN_MAX" --churn-real-secs "$REAL_PERIOD" --cpu-pids "$pids" \
        --join-concurrency 20 --wait-secs 1500 --drain-secs 30 --timeout-secs 60 --max-secs 3500 \
        >"$out" 2>"$tmp/lg-$sys-$n.err" &
    lg_pid=$!
    wait "$lg_pid" || rc=$?
    lg_pid=""
    local l
    while read -r l; do say "$sys, $n: $l"; done <"$out"
    if [ "$rc" != 0 ] || ! grep -q '^DONE' "$out"; then
        say "$sys, $n members: the loadgen failed (exit $rc): $(tail -n 3 "$tmp/lg-$sys-$n.err" | tr '\n' ' ')"
        R[$sys,$n,status]="failed"
    else
        R[$sys,$n,status]=ok
    fi
    local m c r i
    r=$(grep '^READY' "$out" || true); m=$(grep '^MSG' "$out" || true); c=$(grep '^CHURN' "$out" || true)
    R[$sys,$n,setup_s]=$(kv "$r" setup_secs)
    i=$(grep '^IDLE' "$out" || true)
    for k in server comp; do
        R[$sys,$n,idle_$k]=$(awk -v c="$(kv "$i" "cpu_${k}_ms")" -v s="$(kv "$i" secs)" 'BEGIN { if (c == "" || s + 0 == 0) print "NA"; else printf "%.1f", c / s }')
    done
    for k in sent complete incomplete ttd_p50_ms ttd_p99_ms ttd_max_ms copy_p50_ms first_p50_ms cpu_server_ms cpu_comp_ms; do
        R[$sys,$n,$k]=$(kv "$m" "$k")
    done
    for k in done failed secs room_bytes_per_member_hour login_bytes_per_member_hour cpu_ms_per_reconnect cpu_pct_core_real; do
        R[$sys,$n,ch_$k]=$(kv "$c" "$k")
    done
    R[$sys,$n,threads]=$(kv "$m" comp_threads)
    R[$sys,$n,ch_cpu_server_ms]=$(kv "$c" cpu_server_ms)
    R[$sys,$n,ch_cpu_comp_ms]=$(kv "$c" cpu_comp_ms)
    if { [ "$sys" = light ] || [ "$sys" = light_mc ]; } && [ -n "$m" ]; then
        local met
        met=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | grep -E '^component_(broadcasts|members|rooms)' | tr '\n' ' ' || true)
        say "$sys, $n: component metrics: $met"
    fi
    stop_all
}

say "ejabberd $(dpkg-query -W -f='${Version}' ejabberd), prosody $(dpkg-query -W -f='${Version}' prosody), sizes $SIZES, $RATE msgs/s for ${MSG_SECS}s, ${BODY}-byte bodies, churn period ${PERIOD}s = ${REAL_PERIOD}s real (x$((REAL_PERIOD / PERIOD))), at most $CHURN_MAX reconnections per run, ulimit -n $(ulimit -n)"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average at start: $LOAD0 ($(nproc) cores)"
for n in "${SZ[@]}"; do
    for sys in "${SYSTEMS[@]}"; do
        case $sys in light | light_mc | ejmuc | prosody) ;; *) die "BENCH_SYSTEMS: unknown system $sys" ;; esac
        if [ "$sys" != light ] && [ "$sys" != light_mc ] && [ "$n" -gt "$MUC_MAX" ]; then
            R[$sys,$n,status]="not run (BENCH_MUC_MAX=$MUC_MAX)"
            continue
        fi
        run_one "$sys" "$n"
    done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
v() { local x=${R[$1]:-}; echo "${x:-NA}"; }
desc() {
    case $1 in
    light) echo "MUC Light (ours)+ejabberd" ;;
    light_mc) echo "MUC Light+ejd multicast" ;;
    ejmuc) echo "ejabberd mod_muc" ;;
    prosody) echo "Prosody mod_muc" ;;
    esac
}
# us per delivered copy: CPU ms * 1000 / (messages * members)
per_copy() { awk -v c="$1" -v s="$2" -v n="$3" 'BEGIN { if (c == "NA" || s == "NA" || c == "" || s + 0 == 0) print "NA"; else printf "%.2f", c * 1000 / (s * n) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || a == "" || b == "" || b + 0 == 0) print "NA"; else printf "%.3g", a / b }'; }
echo
echo "load average: start $LOAD0, end $LOAD1 ($(nproc) cores); STARTTLS (TLS 1.3), SASL PLAIN; one room per run, fresh server each run"
echo
echo "Messages: $RATE msgs/s for ${MSG_SECS}s into the room, ${BODY}-byte bodies; TTD = send -> the last of the N copies (sender's echo included); p99 is nearest-rank over $((RATE * MSG_SECS)) messages"
echo "cpu us/copy = process CPU during the phase / (messages x members); srv = ejabberd or Prosody, comp = our component"
echo "idle ms/s = CPU ms per second with the room quiet (3 s before the phase): the fixed part inside the per-copy figures"
echo "first_p50 = median over messages of the FIRST copy's latency (send -> through the server (and component) -> one member); ttd - first = the fan-out"
printf '%-26s %6s %8s %6s %9s %9s %9s %10s %10s %12s %13s %12s %12s\n' system members setup_s incompl ttd_p50 ttd_p99 ttd_max copy_p50 first_p50 srv_us/copy comp_us/copy srv_idle_ms/s comp_idle_ms/s
for n in "${SZ[@]}"; do
    for sys in "${SYSTEMS[@]}"; do
        st=$(v "$sys,$n,status")
        if [ "$st" != ok ] && [ "$(v "$sys,$n,sent")" = NA ]; then
            printf '%-26s %6s %s\n' "$(desc "$sys")" "$n" "$st"; continue
        fi
        printf '%-26s %6s %8s %6s %9s %9s %9s %10s %10s %12s %13s %12s %12s\n' "$(desc "$sys")" "$n" "$(v "$sys,$n,setup_s")" \
            "$(v "$sys,$n,incomplete")" "$(v "$sys,$n,ttd_p50_ms")" "$(v "$sys,$n,ttd_p99_ms")" "$(v "$sys,$n,ttd_max_ms")" \
            "$(v "$sys,$n,copy_p50_ms")" "$(v "$sys,$n,first_p50_ms")" "$(per_copy "$(v "$sys,$n,cpu_server_ms")" "$(v "$sys,$n,sent")" "$n")" \
            "$(per_copy "$(v "$sys,$n,cpu_comp_ms")" "$(v "$sys,$n,sent")" "$n")" \
            "$(v "$sys,$n,idle_server")" "$(v "$sys,$n,idle_comp")"
    done
done
echo
echo "Churn: each member reconnects once per ${PERIOD}s of bench time = every ${REAL_PERIOD}s real (time scale x$((REAL_PERIOD / PERIOD))); min(N, $CHURN_MAX) reconnections at that rate, spread over the room"
echo "room B/member/h = bytes the members receive after their logins (presence, room notices) per reconnection = per member per cycle, x6 per real hour; login B = the login exchange (same on all systems)"
echo "cpu = server + component during the phase; %core real = N reconnections' CPU spread over the real ${REAL_PERIOD}s"
printf '%-26s %6s %6s %6s %8s %16s %14s %12s %12s %11s\n' system members done failed secs room_B/member/h login_B/mbr/h cpu_ms/recon srv+comp_ms %core_real
for n in "${SZ[@]}"; do
    for sys in "${SYSTEMS[@]}"; do
        [ "$(v "$sys,$n,ch_done")" = NA ] && { printf '%-26s %6s %s\n' "$(desc "$sys")" "$n" "$(v "$sys,$n,status")"; continue; }
        tot=$(awk -v a="$(v "$sys,$n,ch_cpu_server_ms")" -v b="$(v "$sys,$n,ch_cpu_comp_ms")" 'BEGIN { printf "%.0f", a + (b == "NA" ? 0 : b) }')
        printf '%-26s %6s %6s %6s %8s %16s %14s %12s %12s %11s\n' "$(desc "$sys")" "$n" "$(v "$sys,$n,ch_done")" \
            "$(v "$sys,$n,ch_failed")" "$(v "$sys,$n,ch_secs")" "$(v "$sys,$n,ch_room_bytes_per_member_hour")" \
            "$(v "$sys,$n,ch_login_bytes_per_member_hour")" "$(v "$sys,$n,ch_cpu_ms_per_reconnect")" "$tot" \
            "$(v "$sys,$n,ch_cpu_pct_core_real")"
    done
done
echo
K=1000
echo "At $K members (ratios ours / theirs: lower is better for ours):"
for x in ejmuc prosody; do
    echo "  vs $(desc $x): ttd p50 $(ratio "$(v "light,$K,ttd_p50_ms")" "$(v "$x,$K,ttd_p50_ms")"), ttd p99 $(ratio "$(v "light,$K,ttd_p99_ms")" "$(v "$x,$K,ttd_p99_ms")"), churn room bytes $(ratio "$(v "light,$K,ch_room_bytes_per_member_hour")" "$(v "$x,$K,ch_room_bytes_per_member_hour")"), churn cpu/reconnect $(ratio "$(v "light,$K,ch_cpu_ms_per_reconnect")" "$(v "$x,$K,ch_cpu_ms_per_reconnect")")"
done
echo "  where the MUC Light time goes (message phase, us per copy): ejabberd $(per_copy "$(v "light,$K,cpu_server_ms")" "$(v "light,$K,sent")" $K), component $(per_copy "$(v "light,$K,cpu_comp_ms")" "$(v "light,$K,sent")" $K); ejabberd's own mod_muc: $(per_copy "$(v "ejmuc,$K,cpu_server_ms")" "$(v "ejmuc,$K,sent")" $K)"
echo "  latency (p50, ms): first copy $(v "light,$K,first_p50_ms") (ejabberd mod_muc $(v "ejmuc,$K,first_p50_ms"), Prosody $(v "prosody,$K,first_p50_ms")), last copy $(v "light,$K,ttd_p50_ms") (ejabberd mod_muc $(v "ejmuc,$K,ttd_p50_ms"), Prosody $(v "prosody,$K,ttd_p50_ms"))"
for n in "${SZ[@]}"; do
    [ "$(v "light,$n,threads")" = NA ] || echo "  component CPU by thread at $n members (ms in the message phase): $(v "light,$n,threads")"
    [ "$(v "light_mc,$n,threads")" = NA ] || echo "  multicast (light_mc): component CPU by thread at $n members (ms in the message phase): $(v "light_mc,$n,threads")"
done
echo "  multicast (light_mc) at $K members: ttd p50 $(v "light_mc,$K,ttd_p50_ms") ms (light $(v "light,$K,ttd_p50_ms"), ejabberd mod_muc $(v "ejmuc,$K,ttd_p50_ms")), p99 $(v "light_mc,$K,ttd_p99_ms") ms;" \
    "us per copy: ejabberd $(per_copy "$(v "light_mc,$K,cpu_server_ms")" "$(v "light_mc,$K,sent")" $K), component $(per_copy "$(v "light_mc,$K,cpu_comp_ms")" "$(v "light_mc,$K,sent")" $K)"
# the per-broadcast fixed part (storage commit, index) apart: the slope
# between the smallest room and the 1,000-member one
if [ "$(v "light,${SZ[0]},cpu_comp_ms")" != NA ] && [ "$(v "light,$K,cpu_comp_ms")" != NA ] && [ "${SZ[0]}" != $K ]; then
    echo "  component CPU per broadcast: $(awk -v c="$(v "light,${SZ[0]},cpu_comp_ms")" -v s="$(v "light,${SZ[0]},sent")" 'BEGIN { printf "%.2f", c / s }') ms at ${SZ[0]} members," \
        "$(awk -v c="$(v "light,$K,cpu_comp_ms")" -v s="$(v "light,$K,sent")" 'BEGIN { printf "%.2f", c / s }') ms at $K;" \
        "marginal per member $(awk -v a="$(v "light,${SZ[0]},cpu_comp_ms")" -v sa="$(v "light,${SZ[0]},sent")" -v b="$(v "light,$K,cpu_comp_ms")" -v sb="$(v "light,$K,sent")" -v na="${SZ[0]}" -v nb=$K \
            'BEGIN { printf "%.2f", (b / sb - a / sa) * 1000 / (nb - na) }') us"
fi
echo "summary: ttd1000_p50_ms=$(v "light,$K,ttd_p50_ms")" \
    "ttd1000_vs_ejabberd_muc=$(ratio "$(v "light,$K,ttd_p50_ms")" "$(v "ejmuc,$K,ttd_p50_ms")")" \
    "ttd1000_vs_prosody_muc=$(ratio "$(v "light,$K,ttd_p50_ms")" "$(v "prosody,$K,ttd_p50_ms")")" \
    "churn_bytes_vs_ejabberd_muc=$(ratio "$(v "light,$K,ch_room_bytes_per_member_hour")" "$(v "ejmuc,$K,ch_room_bytes_per_member_hour")")" \
    "cpu_us_per_member=$(per_copy "$(v "light,$K,cpu_comp_ms")" "$(v "light,$K,sent")" $K)" \
    "mc_ttd1000_p50_ms=$(v "light_mc,$K,ttd_p50_ms")" \
    "mc_ttd1000_vs_ejabberd_muc=$(ratio "$(v "light_mc,$K,ttd_p50_ms")" "$(v "ejmuc,$K,ttd_p50_ms")")" \
    "mc_cpu_us_per_member=$(per_copy "$(v "light_mc,$K,cpu_comp_ms")" "$(v "light_mc,$K,sent")" $K)"
