#!/usr/bin/env bash
# End to end: several sidecar component instances on one domain and one
# PostgreSQL (issue 12 §2, §4), on Debian's ejabberd 23.01 and postgresql.
#   ejabberd: one ejabberd_service listener for muclight.localhost; each
#     instance opens its own connection with the same secret, and ejabberd
#     picks one connection per stanza (its balancing of several routes of
#     one domain: random per stanza unless `domain_balancing` says
#     otherwise, see README "Several component instances"); mod_privilege
#     gives each user's presence to ONE of the connections, so instances
#     share members' online resources through PostgreSQL (LISTEN/NOTIFY).
#   PostgreSQL: initdb as postgres in the test's dir, 127.0.0.1, stopped by pid.
# Phases (tests/sidecar/scale.py):
#   1. two instances: concurrent affiliation changes on one room from both,
#      one message flow split across both, searches on either see it all;
#   2. a third instance; alice floods the room; one instance is killed -9
#      mid-flow: the flow goes on through the others once ejabberd drops the
#      dead connection; no echoed message is lost or duplicated in the
#      archive (checked in PostgreSQL and by search); the killed instance
#      restarts, catches up, and its searches see everything.
# Ports 16400-16599, a throwaway dir, everything stopped by pid. Needs root
# and the sidecar built (the Makefile does it). KEEP_TMP=1 keeps the dir.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
here=$repo/tests/sidecar
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-60}
RUN_USER=ejabberd
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}
FLOOD_SECS=${FLOOD_SECS:-8}

say() { echo "sidecar-scale: $*"; }
die() { echo "sidecar-scale: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: cargo build --release -p xmpp-accel-sidecar"
. "$repo/tests/ejabberd/lib.sh"
ensure_packages ejabberd python3-venv openssl iproute2 postgresql curl
ensure_packaged_service_stopped
ensure_venv
say "ejabberd $(dpkg-query -W -f='${Version}' ejabberd), slixmpp $SLIXMPP_VERSION"

tmp=$(mktemp -d /tmp/xmpp-accel-sidecar-scale.XXXXXX)
node="xmppaccel-scale-$$-$RANDOM@localhost"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
secret=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
wrapper_pid="" beam_pid="" py_pid="" pg_pid=""
declare -a sc_pid=("" "" "")
ejd_ctl_args

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" != 0 ]; then
        ejd_log_tails
        for f in sidecar0.log sidecar1.log sidecar2.log postgres.log; do
            [ -s "$tmp/logs/$f" ] && { echo "---- tail of $f ----" >&2; tail -n 30 "$tmp/logs/$f" >&2; }
        done
    fi
    stop_pids -t 10 "$py_pid" "${sc_pid[@]}"
    pg_stop
    ejd_stop
    ejd_kill_leftovers
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/spool" "$tmp/logs"
ejd_make_cert

# ---------------------------------------------------------------- PostgreSQL
pg_port=$(free_port 16550 16599) || die "no free port"
chmod 711 "$tmp"
pg_start postgres "$tmp/pg" "$pg_port" "$tmp/logs/postgres.log" -c fsync=off
psql() { "$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }
psql -c "CREATE DATABASE xa_scale" || die "createdb"
say "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), pid $pg_pid, 127.0.0.1:$pg_port"

# ---------------------------------------------------------------- ejabberd
c2s_port=$(free_port 16400 16449) || die "no free port"
dist_port=$(free_port 16450 16479) || die "no free port"
comp_port=$(free_port 16480 16499) || die "no free port"
ejd_write_ctl_cfg "$cookie" "$dist_port" ""
ejd_write_config "$(ejd_c2s_listener "$c2s_port" "starttls_required: true")
$(ejd_service_listener "$comp_port" muclight.localhost "$secret")" \
    "$EJD_BASE_MODULES
$EJD_PRIVILEGE_MODULE"
chown -R "$RUN_USER:$RUN_USER" "$tmp/etc" "$tmp/spool" "$tmp/logs" "$tmp/cert" "$tmp/run" "$tmp/contrib"
ejd_start "$START_TIMEOUT"
ejd_check_loopback
for u in alice bob; do ctl register "$u" localhost "pw-$u-$cookie" >/dev/null || die "register $u"; done
say "ejabberd: pid $beam_pid, c2s 127.0.0.1:$c2s_port, component port 127.0.0.1:$comp_port"

# ---------------------------------------------------------------- instances
declare -a mport=()
for n in 0 1 2; do
    mport[$n]=$(free_port $((16500 + n * 10)) $((16509 + n * 10))) || die "no free port"
    mkdir -p "$tmp/i$n"
    cat >"$tmp/i$n/sidecar.toml" <<EOF
[metrics]
address = "127.0.0.1:${mport[$n]}"

[component]
server = "127.0.0.1:$comp_port"
domain = "muclight.localhost"
secret = "$secret"
storage = "postgres"
postgres = "host=127.0.0.1 port=$pg_port user=postgres dbname=xa_scale"
index = "$tmp/i$n/index"
keepalive_secs = 5
reconnect_max_secs = 2

[component.muclight]
max_occupants = 50
all_can_invite = true
EOF
done
"$SIDECAR" --config "$tmp/i0/sidecar.toml" --check-config || die "--check-config refused the test's config"

start_instance() { # n
    local n=$1 i
    NO_COLOR=1 "$SIDECAR" --config "$tmp/i$n/sidecar.toml" >>"$tmp/logs/sidecar$n.log" 2>&1 &
    sc_pid[$n]=$!
    for ((i = 0; i < 300; i++)); do
        curl -fsS "http://127.0.0.1:${mport[$n]}/metrics" 2>/dev/null | grep -q '^component_connected 1' && return 0
        alive "${sc_pid[$n]}" || die "instance $n exited"
        sleep 0.1
    done
    die "instance $n did not connect in 30 s"
}
metric() { # n name
    curl -fsS "http://127.0.0.1:${mport[$1]}/metrics" | awk -v k="$2" '$1 == k {print $2}'
}

start_instance 0
start_instance 1
say "instances 0 and 1: pids ${sc_pid[0]} ${sc_pid[1]}"

export XMPP_HOST=127.0.0.1 XMPP_PORT=$c2s_port XMPP_DOMAIN=localhost XMPP_MUCLIGHT=muclight.localhost \
    XMPP_CAFILE="$tmp/cert/cert.pem" XMPP_PASS_A="pw-alice-$cookie" XMPP_PASS_B="pw-bob-$cookie" \
    XMPP_PASS_C=unused XMPP_PASS_D=unused SCALE_ROOM_FILE="$tmp/room.txt" \
    METRICS_ALL="127.0.0.1:${mport[0]},127.0.0.1:${mport[1]}"
rc=0
timeout 300 "$VENV/bin/python" "$here/scale.py" two &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "two instances"

# ---------------------------------------------------------------- failover
start_instance 2
say "instance 2: pid ${sc_pid[2]}; alice floods for $FLOOD_SECS s, instance 1 is killed -9 after 4 s"
timeout 120 "$VENV/bin/python" "$here/scale.py" flood "$tmp/echoed.txt" "$FLOOD_SECS" &
py_pid=$!
sleep 4
before_kill=$(wc -l <"$tmp/echoed.txt")
kill -KILL "${sc_pid[1]}"
wait "${sc_pid[1]}" 2>/dev/null || true
sc_pid[1]=""
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "flood"
echoed=$(wc -l <"$tmp/echoed.txt")
after_kill=$((echoed - before_kill))
say "echoed: $before_kill before the kill, $after_kill after"
[ "$after_kill" -gt 50 ] || die "the flow did not go on through the other instances ($after_kill echoes after the kill)"
# the archive itself: every echoed body once, no body twice
psql -d xa_scale -At -c "SELECT body FROM xa_archive WHERE body LIKE 'flood zulu%'" | sort >"$tmp/archived.txt"
dups=$(uniq -d "$tmp/archived.txt" | wc -l)
missing=$(sort "$tmp/echoed.txt" | comm -23 - <(sort -u "$tmp/archived.txt") | wc -l)
archived=$(wc -l <"$tmp/archived.txt")
say "archive: $archived flood messages, $dups duplicated, $missing echoed but missing"
[ "$dups" = 0 ] || die "$dups messages archived twice"
[ "$missing" = 0 ] || die "$missing echoed messages not archived"

start_instance 1
sed 's/\x1b\[[0-9;]*m//g' "$tmp/logs/sidecar1.log" | grep "caught up with the archive" | tail -n 1 |
    sed 's/^/sidecar-scale: restarted instance 1: /'
export METRICS_ALL="127.0.0.1:${mport[0]},127.0.0.1:${mport[1]},127.0.0.1:${mport[2]}" FLOOD_ARCHIVED=$archived
timeout 300 "$VENV/bin/python" "$here/scale.py" verify "$tmp/echoed.txt" &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "verify"
for n in 0 1 2; do
    say "instance $n: indexed by its tailer (catch-up included): $(metric $n component_tail_messages_total) messages"
done
for n in 0 1 2; do
    kill -TERM "${sc_pid[$n]}"
    wait_gone "${sc_pid[$n]}" 15 || die "instance $n did not stop on SIGTERM"
    r=0
    wait "${sc_pid[$n]}" || r=$?
    sc_pid[$n]=""
    [ "$r" = 0 ] || die "instance $n exited $r on SIGTERM"
done
say "passed"
