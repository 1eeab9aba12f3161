#!/usr/bin/env bash
# End to end: the sidecar's MUC Light component (XEP-0114) on Debian's
# ejabberd (23.01), with slixmpp clients.
#   ejabberd: c2s with STARTTLS, an ejabberd_service listener for
#     muclight.localhost, mod_privilege granting the component presence
#     (managed_entity: XEP-0356), so it learns members' online resources;
#   the sidecar: [component] only (no edge listeners), SQLite storage and
#     the full-text index in the test's dir.
# The scenario is tests/sidecar/component.py. Then the sidecar is stopped
# with SIGTERM (must exit 0), restarted on the same storage with the index
# removed (it must rebuild it from the archive), and the archive searched
# again (tests/sidecar/component.py after-restart), while carol, online since
# before the restart, must still get room messages (hold). Last, kill -9 while a
# client floods the room, restart: every message echoed before the kill must
# be found by full-text search (flood, verify-crash). Then (ejabberd only) the
# sidecar again with `multicast = "multicast.localhost"` (ejabberd's
# mod_multicast, XEP-0033) and 2 addresses a stanza: each member's resource
# gets each message once, as without (component.py multicast).
# Everything runs on 127.0.0.1, ports 16000-16199, in a throwaway dir, stopped
# by pid. Needs root and the sidecar built (cargo build --release -p
# xmpp-accel-sidecar; the Makefile does it). KEEP_TMP=1 keeps the dir.
# COMPONENT_STORAGE=postgres runs it all on PostgreSQL storage instead of
# SQLite: Debian's postgresql started here (initdb as the postgres user, a
# port in 16600-16799, a database per server), stopped by pid.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
here=$repo/tests/sidecar
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-60}
RUN_USER=ejabberd
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}

say() { echo "sidecar-component: $*"; }
die() { echo "sidecar-component: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: cargo build --release -p xmpp-accel-sidecar"
. "$repo/tests/ejabberd/lib.sh"
. "$repo/tests/prosody/lib.sh"
ensure_packages ejabberd python3-venv openssl iproute2
ensure_packaged_service_stopped
ensure_venv
say "ejabberd $(dpkg-query -W -f='${Version}' ejabberd), slixmpp $SLIXMPP_VERSION"

tmp=$(mktemp -d /tmp/xmpp-accel-sidecar-component.XXXXXX)
node="xmppaccel-comp-$$-$RANDOM@localhost"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
secret=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
wrapper_pid="" beam_pid="" sidecar_pid="" py_pid="" hold_pid="" prosody_pid="" pg_pid=""
ejd_ctl_args

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" != 0 ]; then
        ejd_log_tails
        for f in sidecar.log prosody.log postgres.log; do
            [ -s "$tmp/logs/$f" ] && { echo "---- tail of $f ----" >&2; tail -n 40 "$tmp/logs/$f" >&2; }
        done
    fi
    stop_pids -t 10 "$py_pid" "$hold_pid" "$sidecar_pid" "$prosody_pid"
    pg_stop
    ejd_stop
    ejd_kill_leftovers
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/spool" "$tmp/logs" "$tmp/component"
ejd_make_cert

# ---------------------------------------------------------------- storage
if [ "${COMPONENT_STORAGE:-sqlite}" = postgres ]; then
    ensure_packages postgresql
    pg_port=$(free_port 16600 16799) || die "no free port"
    chmod 711 "$tmp"
    pg_start postgres "$tmp/pg" "$pg_port" "$tmp/logs/postgres.log"
    for db in xa_ejabberd xa_prosody; do
        "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" || die "createdb $db"
    done
    storage_cfg="storage = \"postgres\"
postgres = \"host=127.0.0.1 port=$pg_port user=postgres dbname=xa_ejabberd\""
    say "storage: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), pid $pg_pid, 127.0.0.1:$pg_port"
else
    storage_cfg="storage = \"$tmp/component/rooms.sqlite3\""
    say "storage: SQLite"
fi

# ---------------------------------------------------------------- ejabberd
c2s_port=$(free_port 16000 16049) || die "no free port"
dist_port=$(free_port 16050 16099) || die "no free port"
comp_port=$(free_port 16100 16149) || die "no free port"
metrics_port=$(free_port 16150 16199) || die "no free port"
ejd_write_ctl_cfg "$cookie" "$dist_port" ""
ejd_write_config "$(ejd_c2s_listener "$c2s_port" "starttls_required: true")
$(ejd_service_listener "$comp_port" muclight.localhost "$secret")" \
    "$EJD_BASE_MODULES
$EJD_PRIVILEGE_MODULE
  mod_multicast: {}"
chown -R "$RUN_USER:$RUN_USER" "$tmp/etc" "$tmp/spool" "$tmp/logs" "$tmp/cert" "$tmp/run" "$tmp/contrib"
chmod 711 "$tmp"
ejd_start "$START_TIMEOUT"
ejd_check_loopback
for u in alice bob carol dave; do ctl register "$u" localhost "pw-$u-$cookie" >/dev/null || die "register $u"; done
say "ejabberd: pid $beam_pid, c2s 127.0.0.1:$c2s_port, component port 127.0.0.1:$comp_port"

# ---------------------------------------------------------------- sidecar
cat >"$tmp/sidecar.toml" <<EOF
[metrics]
address = "127.0.0.1:$metrics_port"

[component]
server = "127.0.0.1:$comp_port"
domain = "muclight.localhost"
secret = "$secret"
$storage_cfg
index = "$tmp/component/index"
keepalive_secs = 5
max_body_size = 4096
mam_max_page = 50

[component.muclight]
max_occupants = 10
EOF
"$SIDECAR" --config "$tmp/sidecar.toml" --check-config || die "--check-config refused the test's config"

start_sidecar() {
    NO_COLOR=1 "$SIDECAR" --config "$tmp/sidecar.toml" >>"$tmp/logs/sidecar.log" 2>&1 &
    sidecar_pid=$!
    local i
    for ((i = 0; i < 200; i++)); do
        curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | grep -q '^component_connected 1' && return 0
        alive "$sidecar_pid" || die "the sidecar exited"
        sleep 0.1
    done
    die "the component did not connect in 20 s"
}

stop_sidecar() {
    kill -TERM "$sidecar_pid"
    local rc=0
    wait_gone "$sidecar_pid" 15 || die "the sidecar did not stop on SIGTERM in 15 s"
    wait "$sidecar_pid" || rc=$?
    sidecar_pid=""
    [ "$rc" = 0 ] || die "the sidecar exited $rc on SIGTERM"
}

start_sidecar
say "sidecar: pid $sidecar_pid, component muclight.localhost, metrics $metrics_port"

export XMPP_HOST=127.0.0.1 XMPP_PORT=$c2s_port XMPP_DOMAIN=localhost XMPP_MUCLIGHT=muclight.localhost \
    XMPP_CAFILE="$tmp/cert/cert.pem" METRICS="127.0.0.1:$metrics_port" \
    XMPP_PASS_A="pw-alice-$cookie" XMPP_PASS_B="pw-bob-$cookie" XMPP_PASS_C="pw-carol-$cookie" \
    XMPP_PASS_D="pw-dave-$cookie"

rc=0
timeout 600 "$VENV/bin/python" "$here/component.py" main &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "scenario failed"

# ---------------------------------------------------------------- restart
timeout 300 "$VENV/bin/python" "$here/component.py" hold "$tmp/hold.ready" &
hold_pid=$!
for ((i = 0; i < 300; i++)); do [ -s "$tmp/hold.ready" ] && break; alive "$hold_pid" || break; sleep 0.1; done
[ -s "$tmp/hold.ready" ] || die "carol did not log in"
stop_sidecar
say "SIGTERM: the sidecar stopped cleanly; removing the index, restarting"
rm -rf "$tmp/component/index"
start_sidecar
sed 's/\x1b\[[0-9;]*m//g' "$tmp/logs/sidecar.log" | grep -q "caught up with the archive messages=[1-9]" ||
    die "the restarted sidecar did not rebuild the index from the archive"
timeout 300 "$VENV/bin/python" "$here/component.py" after-restart &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "after-restart scenario failed"
wait "$hold_pid" || rc=$?
hold_pid=""
[ "$rc" = 0 ] || die "a member online across the restart missed a message"

# ---------------------------------------------------------------- kill -9
say "crash safety: kill -9 while alice floods the room"
timeout 120 "$VENV/bin/python" "$here/component.py" flood "$tmp/echoed.txt" 5 &
py_pid=$!
sleep 3
kill -KILL "$sidecar_pid"
wait "$sidecar_pid" 2>/dev/null || true
sidecar_pid=""
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "flood failed"
start_sidecar
timeout 300 "$VENV/bin/python" "$here/component.py" verify-crash "$tmp/echoed.txt" &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "crash-safety check failed"
stop_sidecar

# ---------------------------------------------------------------- multicast
# ejabberd's mod_multicast (default limits: 20 addresses from a component,
# a "remote" sender); chunks of 2 here so that a room stanza takes several
cp "$tmp/sidecar.toml" "$tmp/sidecar-plain.toml"
sed -i 's/^mam_max_page = 50$/mam_max_page = 50\nmulticast = "multicast.localhost"\nmulticast_max_addresses = 2\nindex_commit_ms = 5000/' "$tmp/sidecar.toml"
grep -q '^multicast = ' "$tmp/sidecar.toml" || die "multicast config not written"
start_sidecar
timeout 300 "$VENV/bin/python" "$here/component.py" multicast &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "multicast scenario failed"
! grep -q "multicast service refused" "$tmp/logs/sidecar.log" || die "the multicast service refused a stanza"
stop_sidecar
cp "$tmp/sidecar-plain.toml" "$tmp/sidecar.toml"
say "ejabberd: passed"

# ---------------------------------------------------------------- Prosody
# The same scenario on Prosody 0.12 with mod_privilege from prosody-modules
# (XEP-0356 privilege:2, presence managed_entity), a second sidecar on its
# own storage. SKIP_PROSODY=1 skips it.
if [ "${SKIP_PROSODY:-0}" != 1 ]; then
    ensure_packages prosody prosody-modules
    mkdir -p "$tmp/prosody/data" "$tmp/component-prosody"
    cp "$tmp/cert/cert.pem" "$tmp/cert/key.pem" "$tmp/prosody/"
    p_c2s=$(free_port $((c2s_port + 1)) 16049) || die "no free port"
    p_comp=$(free_port $((comp_port + 1)) 16149) || die "no free port"
    p_metrics=$(free_port $((metrics_port + 1)) 16199) || die "no free port"
    {
        prosody_config_head "$p_c2s" "$p_comp"
        cat <<PROSODY
c2s_require_encryption = true
ssl = { certificate = "$tmp/prosody/cert.pem", key = "$tmp/prosody/key.pem" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "posix" }
modules_disabled = { "s2s" }
VirtualHost "localhost"
    modules_enabled = { "privilege" }
    privileged_entities = { ["muclight.localhost"] = { presence = "managed_entity" } }
Component "muclight.localhost"
    component_secret = "$secret"
    -- mod_privilege hears of the component's connection on its own host
    modules_enabled = { "privilege" }
PROSODY
    } >"$tmp/prosody/prosody.cfg.lua"
    prosody_register "$cookie" alice bob carol dave
    prosody_start "$p_comp"
    say "Prosody: pid $prosody_pid, c2s 127.0.0.1:$p_c2s, component port 127.0.0.1:$p_comp"
    sed -e "s|127.0.0.1:$metrics_port|127.0.0.1:$p_metrics|" -e "s|127.0.0.1:$comp_port|127.0.0.1:$p_comp|" \
        -e "s|$tmp/component/|$tmp/component-prosody/|" -e "s|dbname=xa_ejabberd|dbname=xa_prosody|" \
        "$tmp/sidecar.toml" >"$tmp/sidecar-prosody.toml"
    cp "$tmp/sidecar-prosody.toml" "$tmp/sidecar.toml"
    metrics_port=$p_metrics
    start_sidecar
    XMPP_PORT=$p_c2s METRICS="127.0.0.1:$p_metrics" timeout 600 "$VENV/bin/python" "$here/component.py" main &
    py_pid=$!
    wait "$py_pid" || rc=$?
    py_pid=""
    [ "$rc" = 0 ] || die "scenario failed on Prosody"
    stop_sidecar
    say "Prosody: passed"
fi
echo "---- sidecar log (last 10 lines) ----"
tail -n 10 "$tmp/logs/sidecar.log"
say "passed"
