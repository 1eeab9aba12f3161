#!/usr/bin/env bash
# make bench-scale: 1, 2 and 3 sidecar component instances on one
# PostgreSQL (Debian's, default durability: fsync and synchronous_commit on).
#   load: bench/scale/driver.py plays the XMPP server's side of XEP-0114 for
#     all instances (no ejabberd in the measure), ROOMS rooms of two members,
#     a closed loop of WINDOW messages in flight per instance; a message is
#     done when its first fanned-out copy is back. Per run: messages/s,
#     CPU % of each instance, of PostgreSQL (postmaster and children) and of
#     the driver, archive write latency (the instances' transaction time of
#     archiving stanzas) and index lag (archived -> searchable on each
#     instance, every instance indexing everyone's messages) p50/p99.
#   tail: three instances tail rows written straight into the archive at
#     TAIL_RATE rows/s (1000-row transactions every 100 ms, from psql) for
#     TAIL_SECS: index lag p50/p99 per message on every instance.
# Each load run is repeated REPEAT times (median and spread printed). Ends
# with `summary: msgs_per_s_1=N msgs_per_s_3=N archive_p99_ms=T index_lag_p99_ms=T`
# (archive p99: 3 instances; index lag p99: the tail phase). No time is
# asserted. Ports 16400-16599, a throwaway dir, stopped by pid. Root.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}
ROOMS=${ROOMS:-100}
WINDOW=${WINDOW:-64}
SECS=${SECS:-10}
REPEAT=${REPEAT:-2}
TAIL_RATE=${TAIL_RATE:-10000}
TAIL_SECS=${TAIL_SECS:-10}
# PG_SYNC_COMMIT=off: the server acknowledges commits before their WAL is
# flushed (to see what the flush costs; never for real archives)
PG_SYNC_COMMIT=${PG_SYNC_COMMIT:-on}

say() { echo "bench-scale: $*"; }
die() { echo "bench-scale: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: make sidecar"
. "$repo/tests/ejabberd/lib.sh"
ensure_packages postgresql python3 curl

tmp=$(mktemp -d /tmp/xmpp-accel-bench-scale.XXXXXX)
pg_pid="" drv_pid="" psql_pid=""
declare -a sc_pid=()
cleanup() {
    local rc=$? p
    set +e
    trap - EXIT
    stop_pids -t 10 "$drv_pid" "$psql_pid" "${sc_pid[@]}"
    pg_stop
    if [ "$rc" != 0 ]; then
        for f in "$tmp"/*.log; do [ -s "$f" ] && { echo "---- tail of $f ----" >&2; tail -n 20 "$f" >&2; }; done
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "machine: $(nproc) cores; $(uptime)"
pg_port=$(free_port 16550 16599) || die "no free port"
chmod 711 "$tmp"
pg_start postgres "$tmp/pg" "$pg_port" "$tmp/postgres.log" -c max_connections=100 -c synchronous_commit="$PG_SYNC_COMMIT"
psql() { "$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }
say "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') (fsync on, synchronous_commit $PG_SYNC_COMMIT), pid $pg_pid"

write_cfg() { # n comp_port
    local n=$1 port=$2 m
    m=$(free_port $((16500 + n * 10)) $((16509 + n * 10))) || die "no free port"
    mkdir -p "$tmp/i$n"
    rm -rf "$tmp/i$n/index"
    cat >"$tmp/i$n/sidecar.toml" <<EOF
[metrics]
address = "127.0.0.1:$m"

[component]
server = "127.0.0.1:$port"
domain = "muclight.bench"
secret = "bench"
storage = "postgres"
postgres = "host=127.0.0.1 port=$pg_port user=postgres dbname=xa_bench"
index = "$tmp/i$n/index"
reconnect_max_secs = 1

[component.muclight]
max_occupants = 10
EOF
    echo "127.0.0.1:$m"
}
start_instances() { # count comp_port -> sets sc_pid, maddrs
    local count=$1 port=$2 n
    sc_pid=() maddrs=()
    for ((n = 0; n < count; n++)); do
        maddrs[$n]=$(write_cfg "$n" "$port")
        NO_COLOR=1 RUST_LOG=warn "$SIDECAR" --config "$tmp/i$n/sidecar.toml" >>"$tmp/sidecar$n.log" 2>&1 &
        sc_pid[$n]=$!
    done
    for ((n = 0; n < count; n++)); do
        for ((i = 0; i < 300; i++)); do
            curl -fsS "http://${maddrs[$n]}/metrics" >/dev/null 2>&1 && break
            alive "${sc_pid[$n]}" || die "instance $n exited"
            sleep 0.1
        done
    done
}
stop_instances() {
    local p
    for p in "${sc_pid[@]}"; do kill -TERM "$p"; done
    for p in "${sc_pid[@]}"; do wait_gone "$p" 20 || kill -KILL "$p"; wait "$p" 2>/dev/null || true; done
    sc_pid=()
}
fresh_db() {
    psql -c "DROP DATABASE IF EXISTS xa_bench" -c "CREATE DATABASE xa_bench" >/dev/null
}
med() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "na"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}}'; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }

declare -A rates
for count in 1 2 3; do
    for ((rep = 1; rep <= REPEAT; rep++)); do
        fresh_db
        port=$(free_port 16480 16499) || die "no free port"
        # the instances retry their link (every second at most) until the driver listens
        start_instances "$count" "$port"
        pids=$(IFS=,; echo "${sc_pid[*]}")
        mlist=$(IFS=,; echo "${maddrs[*]}")
        python3 "$repo/bench/scale/driver.py" --port "$port" --instances "$count" --rooms "$ROOMS" \
            --window "$WINDOW" --secs "$SECS" --pg-pid "$pg_pid" --pids "$pids" --metrics "$mlist" \
            >"$tmp/driver.out" 2>"$tmp/driver.log" &
        drv_pid=$!
        wait "$drv_pid" || { drv_pid=""; die "driver (instances=$count)"; }
        drv_pid=""
        line=$(grep '^RESULT' "$tmp/driver.out") || die "no RESULT"
        say "instances=$count run $rep: ${line#RESULT }"
        echo "$line" >>"$tmp/load.$count"
        stop_instances
    done
    r=$(while read -r l; do echo "$l" | field msgs_per_s; done <"$tmp/load.$count")
    rates[$count]=$(echo "$r" | med)
    say "instances=$count: msgs/s median ${rates[$count]} (runs: $(echo $r | tr '\n' ' '))"
done

# archive p99 of the three-instance runs (median over runs)
arch_p99=$(while read -r l; do echo "$l" | field archive_p99_ms; done <"$tmp/load.3" | med)

# ---------------------------------------------------------------- tail
fresh_db
start_instances 3 1   # port 1: no server; the instances retry the link and tail the archive anyway
for ((i = 0; i < 100; i++)); do
    psql -d xa_bench -Atc "SELECT to_regclass('xa_archives') IS NOT NULL" 2>/dev/null | grep -q t && break
    sleep 0.1
done
psql -d xa_bench -c "INSERT INTO xa_archives (room) VALUES ('tail@muclight.bench')" >/dev/null
batches=$((TAIL_RATE * TAIL_SECS / 1000))
pids=$(IFS=,; echo "${sc_pid[*]}")
mlist=$(IFS=,; echo "${maddrs[*]}")
rm -f "$tmp/ready"
python3 "$repo/bench/scale/driver.py" --tail-only --secs "$((TAIL_SECS + 2))" --pg-pid "$pg_pid" --pids "$pids" \
    --metrics "$mlist" --ready-file "$tmp/ready" >"$tmp/tail.out" 2>"$tmp/tail.log" &
drv_pid=$!
for ((i = 0; i < 100; i++)); do [ -s "$tmp/ready" ] && break; sleep 0.1; done
t0=$(date +%s.%N)
psql -d xa_bench >"$tmp/psql.log" 2>&1 <<SQL &
DO \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
    a bigint := (SELECT min(id) FROM xa_archives);
BEGIN
    FOR i IN 1..$batches LOOP
        INSERT INTO xa_archive (archive_id, mam_id, sender, body, stanza)
            SELECT a, xa_next_mam_id(), 'tail@bench', 'tail w' || i || 'n' || g, '\\x'::bytea
            FROM generate_series(1, 1000) AS g;
        COMMIT;
        PERFORM pg_sleep(greatest(0, extract(epoch FROM (t0 + i * interval '100 ms' - clock_timestamp()))));
    END LOOP;
END
\$\$;
SQL
psql_pid=$!
wait "$psql_pid" || die "the archive writer failed: $(tail -n 3 "$tmp/psql.log")"
psql_pid=""
t1=$(date +%s.%N)
wait "$drv_pid" || die "tail driver"
drv_pid=""
written=$(psql -d xa_bench -Atc "SELECT count(*) FROM xa_archive")
wrate=$(awk -v n="$written" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
tline=$(grep '^RESULT' "$tmp/tail.out") || die "no tail RESULT"
say "tail: $written rows written at $wrate rows/s; ${tline#RESULT }"
for n in 0 1 2; do
    say "tail: instance $n indexed $(curl -fsS "http://${maddrs[$n]}/metrics" | awk '$1 == "component_tail_messages_total" {print $2}') messages"
done
lag_p99=$(echo "$tline" | field index_lag_p99_ms)
idx_kb=$(du -sk "$tmp/i0/index" | awk '{print $1}')
db_bytes=$(psql -d xa_bench -Atc "SELECT pg_total_relation_size('xa_archive')")
rss=$(for p in "${sc_pid[@]}"; do awk '/^VmRSS/ {printf "%d ", $2 / 1024}' "/proc/$p/status"; done)
say "footprint after the tail phase ($written messages of ~20-byte bodies, one room): index $((idx_kb * 1024 / written)) bytes/message, archive table with its indexes $((db_bytes / written)) bytes/message, instance RSS MB: $rss"
stop_instances
say "load after: $(uptime)"
echo "summary: msgs_per_s_1=${rates[1]} msgs_per_s_3=${rates[3]} archive_p99_ms=$arch_p99 index_lag_p99_ms=$lag_p99 msgs_per_s_2=${rates[2]} tail_rows_per_s=$wrate"
