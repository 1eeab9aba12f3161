#!/usr/bin/env bash
# make bench-mam-servers: full-text MAM search of one user's archive through
# real servers (issue 13 section 5). Four systems, one after the other, on
# the same generated archive (bench/mam_servers/bench.py gen):
#   (a) ejabberd 23.01 (Debian) on SQLite + our module (mod_mam db_type
#       xmpp_accel + mod_xmpp_accel_fulltext), catch-up from SQL at start;
#   (b) ejabberd 23.01 on MariaDB (mysql.sql schema, its FULLTEXT index):
#       mod_mam's withtext is MATCH (txt) AGAINST (...);
#   (c) Prosody 0.12 (Debian, SQLite store) + prosody/mod_xmpp_accel_fulltext.lua
#       over the sidecar's index API, catch-up on load;
#   (d) Prosody 0.12 as it is: the client pages through the archive over MAM
#       (max 50: Prosody's default max_archive_query_results) and filters.
# The archive rows are inserted straight into each server's SQL table, in the
# row format the server itself wrote for two real messages (the template
# step). Query latency is measured by one client (bench.py's asyncio client),
# the same for every system: from writing the IQ to its <fin/>.
# Env: BENCH_QUICK=1 (10,000 messages, 3 queries per class, 1 repeat, 2 scan
# queries), BENCH_MESSAGES, BENCH_PER_CLASS, BENCH_REPEATS, BENCH_SCAN_QUERIES,
# KEEP_TMP=1. Needs root (apt, runs the servers as their users), make build
# and the sidecar (the Makefile target builds both). Ports 16200-16399 on
# 127.0.0.1; everything in a throwaway dir, stopped by pid.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/bench/mam_servers
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-90}
RUN_USER=ejabberd

say() { echo "bench-mam-servers: $*"; }
die() { echo "bench-mam-servers: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and runs the servers as their users)"
. "$repo/tests/ejabberd/lib.sh"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    N=${BENCH_MESSAGES:-10000} PER_CLASS=${BENCH_PER_CLASS:-3} REPEATS=${BENCH_REPEATS:-1}
    SCAN_Q=${BENCH_SCAN_QUERIES:-2}
else
    N=${BENCH_MESSAGES:-100000} PER_CLASS=${BENCH_PER_CLASS:-15} REPEATS=${BENCH_REPEATS:-3}
    SCAN_Q=${BENCH_SCAN_QUERIES:-5}
fi

lib=$repo/erlang/_build/default/lib/xmpp_accel
[ -d "$lib/ebin" ] && ls "$lib"/priv/*.so >/dev/null 2>&1 || die "run make build first"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: make sidecar"
ensure_packages ejabberd erlang-p1-sqlite3 sqlite3 erlang-p1-mysql mariadb-server mariadb-client \
    prosody lua-dbi-sqlite3 python3-venv iproute2
ensure_packaged_service_stopped
ensure_venv
PY=$VENV/bin/python
say "ejabberd $(dpkg-query -W -f='${Version}' ejabberd), mariadb-server $(dpkg-query -W -f='${Version}' mariadb-server), erlang-p1-mysql $(dpkg-query -W -f='${Version}' erlang-p1-mysql), prosody $(dpkg-query -W -f='${Version}' prosody), $(nproc) cores"

work=$(mktemp -d /tmp/xmpp-accel-bench-mam-servers.XXXXXX)
chmod 755 "$work"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
PASS_A="pw-alice-$cookie" PASS_B="pw-bob-$cookie"
tmp="" node="" wrapper_pid="" beam_pid="" my_pid="" prosody_pid="" sidecar_pid=""
ejd_nodes=()

cleanup() {
    local rc=$? n
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" != 0 ]; then
        [ -n "$tmp" ] && ejd_log_tails
        for f in "$work"/logs/*.log; do
            [ -s "$f" ] && { echo "---- tail of $f ----" >&2; tail -n 30 "$f" >&2; }
        done
    fi
    for n in "${!EJD[@]}"; do ejd_use "$n"; ejd_stop; done
    ejd_stop
    for n in "${ejd_nodes[@]}"; do node=$n; ejd_kill_leftovers; done
    stop_pids -t 30 "$prosody_pid" "$sidecar_pid" "$my_pid"
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work/logs" "$work/data" "$work/results"
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
note() { say "$*"; echo "$*" >>"$work/results/phases.txt"; }
load() { echo "load: $(uptime | sed 's/.*load average: //')"; }

# ---------------------------------------------------------------- data
t=$SECONDS
"$PY" "$here/bench.py" gen "$N" "$work/data" "$PER_CLASS"
say "data in $((SECONDS - t))s"

# ---------------------------------------------------------------- ejabberd
# The -pa directory: the xmpp_accel application with our two modules in its ebin.
mkdir -p "$work/lib/xmpp_accel"
cp -rL "$lib/ebin" "$lib/priv" "$work/lib/xmpp_accel/"
bash "$repo/erlang/ejabberd/build.sh" "$work/lib/xmpp_accel/ebin" >/dev/null
chmod -R a+rX "$work/lib"

ejd_write_config() { # sql_config mam_db_type extra_modules
    cat >"$tmp/etc/ejabberd.yml" <<EOF
hosts:
  - localhost
loglevel: info
log_rotate_count: 0
$1
listen:
  -
    port: $c2s_port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
auth_method: internal
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_disco: {}
  mod_roster: {}
  mod_mam:
    db_type: $2
    default: always
    assume_mam_usage: true
$3
EOF
    chown -R "$RUN_USER:$RUN_USER" "$tmp"
    chmod 700 "$tmp"
}

# A fresh instance dir for ejabberd (sets tmp, node, c2s_port, ctl_args).
ejd_instance() { # name
    tmp=$work/$1
    node="xmppaccel-bms-$1-$$-$RANDOM@localhost"
    ejd_nodes+=("$node")
    mkdir -p "$tmp/spool" "$tmp/logs" "$tmp/index"
    c2s_port=$(free_port 16380 16399) || die "no free port in 16380-16399"
    local dist_port
    dist_port=$(free_port 16360 16379) || die "no free port in 16360-16379"
    ejd_ctl_args
    ejd_write_ctl_cfg "$cookie" "$dist_port" " -pa $work/lib/xmpp_accel/ebin"
}

ejd_users() {
    ctl register alice localhost "$PASS_A" >/dev/null || die "register alice"
    ctl register bob localhost "$PASS_B" >/dev/null || die "register bob"
}

# The rows the server wrote for the template's two messages -> template json.
make_template() { # kind(ejabberd|prosody) rows.json out.json
    "$PY" - "$@" <<'EOF'
import json, sys
kind, rows_path, out = sys.argv[1:4]
rows = json.load(open(rows_path))
def mk(s, key=None, ts=None):
    if ts is not None:
        s = s.replace(str(ts), "__TS__")
    s = s.replace("TEMPLATE OUT", "__BODY__").replace("TEMPLATE IN", "__BODY__")
    s = s.replace("'tplout'", "'__ID__'").replace("'tplin'", "'__ID__'")
    s = s.replace('"tplout"', '"__ID__"').replace('"tplin"', '"__ID__"')
    if key:
        s = s.replace(key, "__KEY__")
    s = s.replace("bob@localhost/pc", "__PEER_FULL__").replace("alice@localhost/bench", "__ME_FULL__")
    return s.replace("bob@localhost", "__PEER__")
out_row = [r for r in rows if "TEMPLATE OUT" in r["xml"]]
in_row = [r for r in rows if "TEMPLATE IN" in r["xml"]]
assert len(out_row) == 1 and len(in_row) == 1, f"expected one row each way, got {rows}"
o, i = out_row[0], in_row[0]
t = {"out_xml": mk(o["xml"], o.get("key"), o.get("timestamp")),
     "in_xml": mk(i["xml"], i.get("key"), i.get("timestamp")), "rows": rows}
if kind == "ejabberd":
    t["cols"] = ["username", "timestamp", "peer", "bare_peer", "xml", "txt", "kind", "nick"]
    t["peer_out"], t["peer_in"] = mk(o["peer"]), mk(i["peer"])
    assert o["kind"] == "chat" and i["kind"] == "chat" and o["txt"] == "TEMPLATE OUT"
else:
    t.update(host=o["host"], store=o["store"], type=o["type"],
             when_int=isinstance(o["when"], int))
    assert o["with"] == "bob@localhost" and i["with"] == "bob@localhost", rows
json.dump(t, open(out, "w"), indent=1)
print("template:", json.dumps({"out": t["out_xml"], "in": t["in_xml"]}))
EOF
}

sqlite_json() { # db query -> rows as json objects
    "$PY" - "$@" <<'EOF'
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1]); con.row_factory = sqlite3.Row
print(json.dumps([dict(r) for r in con.execute(sys.argv[2])]))
EOF
}

query() { # [--scan] [--repeats R] [--only I,J] SYSTEM@PORT@FIELD@OUT...
    load
    "$PY" "$here/bench.py" query 127.0.0.1 "$PASS_A" "$work/data" "$@" || die "queries failed: $*"
}
FT="{urn:xmpp:fulltext:0}fulltext"

# Two ejabberd instances run at once: their variables (tmp, node, c2s_port,
# beam_pid, wrapper_pid) saved by name.
declare -A EJD
ejd_save() { EJD[$1]="$tmp|$node|$c2s_port|$beam_pid|$wrapper_pid"; }
ejd_use() { IFS='|' read -r tmp node c2s_port beam_pid wrapper_pid <<<"${EJD[$1]}"; ejd_ctl_args; }

catch_up_line() { # nth: waits for the nth mod_xmpp_accel_fulltext catch-up line
    local deadline=$((SECONDS + 1800)) line
    while :; do
        line=$(grep -a 'full-text catch-up for localhost' "$tmp/logs/ejabberd.log" 2>/dev/null | sed -n "$1p")
        [ -n "$line" ] && break
        [ "$SECONDS" -lt "$deadline" ] || die "no catch-up line"
        sleep 0.2
    done
    echo "$line" | grep -q "done:" || die "catch-up failed: $line"
    echo "$line" | sed 's/.*xmpp_accel full-text/full-text/'
}

# ------------------------------------ (a) ejabberd + our module, SQLite
say "(a) ejabberd + our module on SQLite"
ejd_instance ejd_a
db=$tmp/spool/archive.db
sqlite3 "$db" </usr/share/ejabberd/sql/lite.sql
sql_sqlite="sql_type: sqlite
sql_database: \"$db\""
ours="  mod_xmpp_accel_fulltext:
    index_dir: \"$tmp/index\"
    commit_interval: 100
    catch_up_margin: 0"
ejd_write_config "$sql_sqlite" xmpp_accel "$ours"
ejd_start "$START_TIMEOUT"
ejd_check_loopback
ejd_users
catch_up_line 1 >/dev/null
"$PY" "$here/bench.py" template 127.0.0.1 "$c2s_port" "$PASS_A" "$PASS_B" || die "template messages"
sqlite_json "$db" "SELECT username, timestamp, peer, bare_peer, xml, txt, kind, nick FROM archive WHERE username='alice'" \
    >"$work/data/ejd_rows.json"
ejd_stop
make_template ejabberd "$work/data/ejd_rows.json" "$work/data/ejd_template.json"
t=$(date +%s%N)
"$PY" "$here/bench.py" load-ejabberd-sqlite "$db" "$work/data" "$work/data/ejd_template.json"
sqlite3 "$db" "DELETE FROM archive WHERE username != 'alice';"
chown "$RUN_USER:$RUN_USER" "$db"
note "(a) $(sqlite3 "$db" 'SELECT count(*) FROM archive') rows inserted into SQLite in $(since "$t")s"
rm -rf "$tmp/index" && mkdir -p "$tmp/index" && chown "$RUN_USER:$RUN_USER" "$tmp/index"
ejd_start "$START_TIMEOUT"
note "(a) $(catch_up_line 2)"
port_a=$c2s_port
ejd_save a

# ------------------------------------ (b) ejabberd on MariaDB FULLTEXT
say "(b) ejabberd on MariaDB"
mdb=$work/mariadb
mkdir -p "$mdb"
chown mysql:mysql "$mdb"
mariadb-install-db --no-defaults --user=mysql --datadir="$mdb/data" --auth-root-authentication-method=socket \
    --skip-test-db >"$work/logs/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
my_port=$(free_port 16280 16299) || die "no free port in 16280-16299"
mariadbd --no-defaults --user=mysql --datadir="$mdb/data" --bind-address=127.0.0.1 --port="$my_port" \
    --socket="$mdb/mysql.sock" --pid-file="$mdb/mysql.pid" --skip-log-bin --log-error="$mdb/mariadb.log" \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4 \
    >>"$mdb/console.log" 2>&1 &
my_pid=$!
for ((i = 0; i < 300; i++)); do
    mariadb --no-defaults --socket="$mdb/mysql.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    alive "$my_pid" || die "mariadbd exited"
    sleep 0.2
done
my() { mariadb --no-defaults --socket="$mdb/mysql.sock" -uroot "$@"; }
my -e "CREATE DATABASE ejabberd CHARACTER SET utf8mb4; CREATE USER 'ejabberd'@'127.0.0.1' IDENTIFIED BY '$cookie'; GRANT ALL ON ejabberd.* TO 'ejabberd'@'127.0.0.1';" ||
    die "mariadb: create database"
my ejabberd </usr/share/ejabberd/sql/mysql.sql || die "mariadb: mysql.sql"
say "(b) MariaDB $(my -N -e 'SELECT VERSION()') on 127.0.0.1:$my_port (pid $my_pid), schema mysql.sql (FULLTEXT i_text on archive.txt)"
t=$(date +%s%N)
"$PY" "$here/bench.py" load-ejabberd-mysql "$work/data" "$work/data/ejd_template.json" | my ejabberd ||
    die "mariadb: load"
note "(b) $(my -N ejabberd -e 'SELECT count(*) FROM archive') rows inserted into MariaDB (FULLTEXT index on) in $(since "$t")s"
ejd_instance ejd_b
sql_my="sql_type: mysql
sql_server: \"127.0.0.1\"
sql_port: $my_port
sql_database: \"ejabberd\"
sql_username: \"ejabberd\"
sql_password: \"$cookie\""
ejd_write_config "$sql_my" sql ""
ejd_start "$START_TIMEOUT"
ejd_users
ejd_save b
# (a) and (b) asked in turn, query by query; plain mod_mam knows the
# full-text field by ejabberd's own name only (withtext)
query --repeats "$REPEATS" "ejabberd_ours@$port_a@$FT@$work/results/ejabberd_ours.json" \
    "ejabberd_mariadb@$c2s_port@withtext@$work/results/ejabberd_mariadb.json"
for e in a b; do ejd_use $e; ejd_stop; ejd_save $e; done
stop_pids -t 30 "$my_pid"
my_pid=""
tmp=""

# ------------------------------------ (c) Prosody + our module, (d) Prosody as is
say "(c)/(d) Prosody"
pd=$work/prosody
mkdir -p "$pd/data" "$work/index"
token="token-$cookie"
index_port=$(free_port 16300 16319) || die "no free port"
metrics_port=$(free_port 16320 16339) || die "no free port"
prosody_port=$(free_port 16340 16359) || die "no free port"
cat >"$work/sidecar.toml" <<EOT
[metrics]
address = "127.0.0.1:$metrics_port"

[index]
address = "127.0.0.1:$index_port"
directory = "$work/index/db"
token = "$token"
commit_interval_ms = 100
EOT
prosody_config() { # with_module(0|1)
    local mods=""
    [ "$1" = 1 ] && mods='modules_enabled = { "xmpp_accel_fulltext" }'
    cat >"$pd/prosody.cfg.lua" <<EOT
pidfile = "$pd/prosody.pid"
data_path = "$pd/data"
plugin_paths = { "$repo/prosody" }
interfaces = { "127.0.0.1" }
c2s_ports = { $prosody_port }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
log = { { levels = { min = "info" }, to = "console" } }
daemonize = false
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }
archive_expires_after = "never"
modules_enabled = { "roster", "saslauth", "disco", "posix", "mam", "admin_shell" }
modules_disabled = { "tls", "s2s" }
xmpp_accel_fulltext_url = "http://127.0.0.1:$index_port"
xmpp_accel_fulltext_token = "$token"
VirtualHost "localhost"
$mods
EOT
    chown -R prosody:prosody "$pd"
}
start_prosody() {
    rm -f "$pd/prosody.pid"
    setpriv --reuid=prosody --regid=prosody --init-groups -- \
        prosody --config "$pd/prosody.cfg.lua" -F >>"$work/logs/prosody.log" 2>&1 &
    prosody_pid=$!
    for ((i = 0; i < 300; i++)); do
        ss -Hltnp "sport = :$prosody_port" | grep -q "pid=$prosody_pid," && return 0
        alive "$prosody_pid" || die "prosody exited"
        sleep 0.1
    done
    die "prosody not listening on $prosody_port"
}
prosody_config 0
for u in alice:$PASS_A bob:$PASS_B; do
    setpriv --reuid=prosody --regid=prosody --init-groups -- prosodyctl --config "$pd/prosody.cfg.lua" \
        register "${u%%:*}" localhost "${u#*:}" >>"$work/logs/prosody.log" 2>&1 || die "prosodyctl register"
done
start_prosody
"$PY" "$here/bench.py" template 127.0.0.1 "$prosody_port" "$PASS_A" "$PASS_B" || die "template messages"
stop_pids -t 30 "$prosody_pid"
prosody_pid=""
pdb=$pd/data/prosody.sqlite
sqlite_json "$pdb" "SELECT host, user, store, key, \"when\", \"with\", type, value AS xml FROM prosodyarchive WHERE user='alice' AND store='archive'" \
    >"$work/data/prosody_rows.json"
make_template prosody "$work/data/prosody_rows.json" "$work/data/prosody_template.json"
t=$(date +%s%N)
"$PY" "$here/bench.py" load-prosody "$pdb" "$work/data" "$work/data/prosody_template.json"
chown prosody:prosody "$pdb"
note "(c) $(sqlite3 "$pdb" "SELECT count(*) FROM prosodyarchive WHERE store='archive'") rows inserted into prosodyarchive in $(since "$t")s"

# (d) first: Prosody without our module, the client scans
start_prosody
all=$("$PY" -c "import json; print(len(json.load(open('$work/data/queries.json'))))")
only=$("$PY" -c "n=$all; k=$SCAN_Q; print(','.join(str(i * n // k) for i in range(k)))")
say "(d) client scan on queries $only"
query --scan --only "$only" "prosody_scan@$prosody_port@-@$work/results/prosody_scan.json"
stop_pids -t 30 "$prosody_pid"
prosody_pid=""

# (c) the sidecar, Prosody with our module: catch-up on load
"$SIDECAR" --config "$work/sidecar.toml" --check-config >/dev/null || die "sidecar config refused"
"$SIDECAR" --config "$work/sidecar.toml" >>"$work/logs/sidecar.log" 2>&1 &
sidecar_pid=$!
for ((i = 0; i < 100; i++)); do
    ss -Hltnp "sport = :$index_port" | grep -q "pid=$sidecar_pid," && break
    alive "$sidecar_pid" || die "the sidecar exited"
    sleep 0.1
done
prosody_config 1
before=$(grep -c "back-fill done" "$work/logs/prosody.log" || true)
t=$(date +%s%N)
start_prosody
deadline=$((SECONDS + 1800))
until [ "$(grep -c "back-fill done" "$work/logs/prosody.log" || true)" -gt "$before" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "no back-fill line"
    alive "$prosody_pid" || die "prosody exited"
    sleep 0.2
done
note "(c) catch-up on load: $(grep "back-fill done" "$work/logs/prosody.log" | tail -n 1 | sed 's/.*back-fill done/back-fill done/') in $(since "$t")s from the start of Prosody"
sleep 0.5  # one commit interval and more
query --repeats "$REPEATS" "prosody_ours@$prosody_port@$FT@$work/results/prosody_ours.json"
stop_pids -t 30 "$prosody_pid"
prosody_pid=""
stop_pids -t 30 "$sidecar_pid"
sidecar_pid=""

# ---------------------------------------------------------------- report
echo
cat "$work/results/phases.txt"
load
"$PY" "$here/bench.py" report "$work/data" "$work"/results/{ejabberd_ours,ejabberd_mariadb,prosody_ours,prosody_scan}.json
