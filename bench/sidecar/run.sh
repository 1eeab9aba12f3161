#!/usr/bin/env bash
# bench-sidecar: four TLS paths in front of one real ejabberd (Debian's 23.01),
# driven by our load generator (bench/sidecar/loadgen) over 127.0.0.1:
#   a  ejabberd terminates TLS itself, Debian's fast_tls (starttls_required)
#   b  ejabberd terminates TLS itself, our fast_tls drop-in (EJABBERD_EXTRA_PA)
#   c  xmpp-proxy 1.0 in front (PROXY v1) of a plaintext use_proxy_protocol listener
#   d  our sidecar in front (PROXY v2), mimalloc (the default build)
#   d_sys  the same sidecar built with --no-default-features (system allocator)
# Per path: RSS per idle connection (edge, and edge + ejabberd beam) at each
# checkpoint (default 1,000 and 10,000 sessions), messages at a fixed total rate
# (throughput, p50/p99 send-to-receipt latency, edge CPU per MB), and edge CPU
# per full TLS 1.3 handshake (ECDSA P-256, RSA-2048). See bench/README.md.
#
#   BENCH_SESSIONS     sessions at the last checkpoint (default 10000)
#   BENCH_CHECKPOINTS  earlier checkpoints, comma-separated (default 1000)
#   BENCH_RATE         messages/s in total during the message phase (default 500)
#   BENCH_MSG_SECS     length of the message phase (default 20)
#   BENCH_BODY_BYTES   message body size (default 1000)
#   BENCH_HANDSHAKES   handshakes per timed batch (default 600); 3 batches per cert
#   BENCH_PATHS        comma-separated subset of a,b,c,d,d_sys (default: all)
#   BENCH_QUICK=1      smoke run: 300 sessions (checkpoint 100), 5 s of messages, 100 handshakes
#   XMPP_PROXY_BIN     a built xmpp-proxy 1.0 (AGPL: built outside this tree, see
#                      bench/README.md); unset or missing: path c is skipped
#   SIDECAR_BIN, SIDECAR_SYSALLOC_BIN   the two sidecar builds (defaults:
#                      target/release/xmpp-accel-sidecar, and
#                      target/bench-sidecar-sysalloc/release/xmpp-accel-sidecar)
#   LOADGEN_BIN        default target/release/xmpp-accel-loadgen
#   SIDECAR_PROXY_OUT  the sidecar's PROXY header to ejabberd: v2 (default) or v1
#   BENCH_KEEP=1       keep the work dir (/tmp/bench-sidecar.*)
# Needs root (ejabberd runs as its own user) and the builds (make bench-sidecar
# does them; path b needs `make build`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$HERE/../.." && pwd)
RUN_USER=ejabberd
say() { echo "bench-sidecar: $*" >&2; }
die() { echo "bench-sidecar: FAILED: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root (ejabberd runs as its own user)"
. "$repo/tests/ejabberd/lib.sh"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    N=${BENCH_SESSIONS:-300}; CPS=${BENCH_CHECKPOINTS:-100}; RATE=${BENCH_RATE:-200}
    MSG_SECS=${BENCH_MSG_SECS:-5}; HS=${BENCH_HANDSHAKES:-100}
else
    N=${BENCH_SESSIONS:-10000}; CPS=${BENCH_CHECKPOINTS:-1000}; RATE=${BENCH_RATE:-500}
    MSG_SECS=${BENCH_MSG_SECS:-20}; HS=${BENCH_HANDSHAKES:-600}
fi
HS_ROUNDS=3
BODY=${BENCH_BODY_BYTES:-1000}
IFS=, read -r -a PATHS <<<"${BENCH_PATHS:-a,b,c,d,d_sys}"
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}
SIDECAR_SYS=${SIDECAR_SYSALLOC_BIN:-$repo/target/bench-sidecar-sysalloc/release/xmpp-accel-sidecar}
LOADGEN=${LOADGEN_BIN:-$repo/target/release/xmpp-accel-loadgen}
XPROXY=${XMPP_PROXY_BIN:-}
CLK=$(getconf CLK_TCK)
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-90}

[ -x "$LOADGEN" ] || die "$LOADGEN missing: cargo build --release -p xmpp-accel-loadgen"
want() { local x; for x in "${PATHS[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
ensure_packages ejabberd erlang-p1-tls openssl iproute2
ensure_packaged_service_stopped

skip=()
# Edge binaries are checked when their path's turn comes.
edge_missing() {
    case $1 in
    c) [ -n "$XPROXY" ] && [ -x "$XPROXY" ] && return 1
       say "path c SKIPPED: XMPP_PROXY_BIN=${XPROXY:-(unset)} is not an executable xmpp-proxy 1.0 (build it outside this tree, see bench/README.md)" ;;
    d) [ -x "$SIDECAR" ] && return 1
       say "path d SKIPPED: $SIDECAR missing (cargo build --release -p xmpp-accel-sidecar)" ;;
    d_sys) [ -x "$SIDECAR_SYS" ] && return 1
       say "path d_sys SKIPPED: $SIDECAR_SYS missing (CARGO_TARGET_DIR=target/bench-sidecar-sysalloc cargo build --release -p xmpp-accel-sidecar --no-default-features)" ;;
    *) return 1 ;;
    esac
    return 0
}
lib=$repo/erlang/_build/default/lib
if want b && { [ ! -f "$lib/fast_tls/ebin/fast_tls.beam" ] || [ ! -f "$lib/xmpp_accel/priv/xmpp_accel_nif.so" ]; }; then
    say "path b SKIPPED: our fast_tls is not built (make build)"
    skip+=(b)
fi
skipped() { local x; for x in "${skip[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

# 10,000 sessions: the loadgen holds N sockets, an edge 2N, ejabberd N.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# An edge holds two sockets per session (client and backend): with a hard
# limit it cannot raise (a container), the run is capped to what fits.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((2 * N + 200)) ]; then
    cap=$((($(ulimit -n) - 200) / 2))
    say "WARNING: ulimit -n is $(ulimit -n) (hard limit $(ulimit -Hn), cannot raise it): an edge needs 2 descriptors per session; BENCH_SESSIONS $N capped to $cap"
    N=$cap
fi

tmp=$(mktemp -d /tmp/bench-sidecar.XXXXXX)
node="xmppaccel-bench-$$-$RANDOM@localhost"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
wrapper_pid="" beam_pid="" edge_pid="" lg_pid=""
ejd_ctl_args

stop_edge() {
    if [ -n "$edge_pid" ]; then
        alive "$edge_pid" && kill -TERM "$edge_pid" 2>/dev/null
        wait_gone "$edge_pid" 10 || kill -KILL "$edge_pid" 2>/dev/null || true
        wait "$edge_pid" 2>/dev/null || true
    fi
    edge_pid=""
}
cleanup() {
    local rc=$?
    set +e
    trap - EXIT
    trap '' INT TERM
    [ "$rc" != 0 ] && ejd_log_tails
    if [ -n "$lg_pid" ] && alive "$lg_pid"; then kill -TERM "$lg_pid"; wait_gone "$lg_pid" 5 || kill -KILL "$lg_pid"; fi
    stop_edge
    ejd_stop
    ejd_kill_leftovers
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/spool" "$tmp/logs" "$tmp/run" "$tmp/etc" "$tmp/stage"
# ---------------------------------------------------------------- certificates
for k in ec rsa; do
    mkdir -p "$tmp/$k/localhost"
    if [ $k = ec ]; then alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); else alg=(-newkey rsa:2048); fi
    openssl req -x509 "${alg[@]}" -nodes -days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" \
        -keyout "$tmp/$k/localhost/privkey.pem" -out "$tmp/$k/localhost/fullchain.pem" >/dev/null 2>&1 ||
        die "openssl could not make the $k certificate"
    cat "$tmp/$k/localhost/fullchain.pem" "$tmp/$k/localhost/privkey.pem" >"$tmp/$k/server.pem"
    cat "$tmp/$k/localhost/fullchain.pem" >>"$tmp/ca.pem"
done
# our fast_tls/fast_xml, readable by the ejabberd user (as tests/ejabberd_dropin.sh)
if want b && ! skipped b; then
    for app in xmpp_accel fast_xml fast_tls; do
        mkdir -p "$tmp/stage/$app"
        cp -rL "$lib/$app/ebin" "$tmp/stage/$app/"
        [ -d "$lib/$app/priv" ] && cp -rL "$lib/$app/priv" "$tmp/stage/$app/"
    done
fi
c2s_port=$(free_port 16100 16199) || die "no free port"
dist_port=$(free_port 16200 16299) || die "no free port"
edge_port=$(free_port 16300 16399) || die "no free port"
metrics_port=$(free_port $((edge_port + 1)) 16399) || die "no free port"
chown -R "$RUN_USER:$RUN_USER" "$tmp"
chmod 711 "$tmp"

# ---------------------------------------------------------------- ejabberd
# start_ejd tls|proxy CERT(ec|rsa) [our]
start_ejd() {
    local mode=$1 cert=$2 pa=""
    [ "${3:-}" = our ] && pa=" -pa $tmp/stage/xmpp_accel/ebin -pa $tmp/stage/fast_tls/ebin -pa $tmp/stage/fast_xml/ebin"
    rm -rf "$tmp/spool" && mkdir -p "$tmp/spool"
    ejd_write_ctl_cfg "$cookie" "$dist_port" "$pa"
    echo "ERL_MAX_PORTS=$((N * 2 + 1000))" >>"$tmp/etc/ejabberdctl.cfg"
    local l
    if [ "$mode" = tls ]; then
        l="starttls_required: true"
    else
        l="use_proxy_protocol: true"
    fi
    EJD_LOGLEVEL=warning EJD_CERTFILE="$tmp/$cert/server.pem" EJD_AUTH="auth_method: anonymous
anonymous_protocol: login_anon
allow_multiple_connections: true" ejd_write_config \
        "$(ejd_c2s_listener "$c2s_port" "backlog: 1024" "$l")" "" "$EJD_C2S_PROTOCOL_OPTIONS"
    chown -R "$RUN_USER:$RUN_USER" "$tmp/etc" "$tmp/spool" "$tmp/logs" "$tmp/run"
    chmod 600 "$tmp/ec/server.pem" "$tmp/rsa/server.pem"
    EJD_SETPRIV=1 ejd_start "$START_TIMEOUT"
    ejd_check_loopback >/dev/null
    local lim
    lim=$(awk '/^Max open files/ {print $4}' "/proc/$beam_pid/limits")
    [ "$lim" = unlimited ] || [ "$lim" -ge $((N + 200)) ] || die "the ejabberd node has $lim file descriptors, $N sessions need more"
}

# start_edge c|d|d_sys CERT(ec|rsa)
start_edge() {
    local kind=$1 cert=$2 bin
    case $kind in
    c)
        cat >"$tmp/xmpp-proxy.toml" <<EOF
listen = [ "127.0.0.1:$edge_port" ]
c2s_target = "127.0.0.1:$c2s_port"
s2s_target = "127.0.0.1:$c2s_port"
proxy = true
max_stanza_size_bytes = 262_144
tls_key = "$tmp/$cert/localhost/privkey.pem"
tls_cert = "$tmp/$cert/localhost/fullchain.pem"
EOF
        "$XPROXY" "$tmp/xmpp-proxy.toml" >>"$tmp/logs/edge-c.log" 2>&1 &
        edge_pid=$!
        ;;
    d | d_sys)
        bin=$SIDECAR
        [ "$kind" = d_sys ] && bin=$SIDECAR_SYS
        cat >"$tmp/sidecar.toml" <<EOF
[metrics]
address = "127.0.0.1:$metrics_port"

[tls]
cert_dir = "$tmp/$cert"
default_domain = "localhost"

[shutdown]
drain_timeout_secs = 1

[[listener]]
name = "c2s"
kind = "c2s"
address = "127.0.0.1:$edge_port"
tls = "starttls"
backend = "127.0.0.1:$c2s_port"
proxy_out = "${SIDECAR_PROXY_OUT:-v2}"
EOF
        "$bin" --config "$tmp/sidecar.toml" >>"$tmp/logs/edge-$kind.log" 2>&1 &
        edge_pid=$!
        ;;
    esac
    local i
    for ((i = 0; i < 100; i++)); do
        ss -Hltnp "sport = :$edge_port" | grep -q "pid=$edge_pid," && return 0
        alive "$edge_pid" || die "edge $kind exited at start (log: $(tail -n 5 "$tmp/logs/edge-$kind.log"))"
        sleep 0.1
    done
    die "edge $kind not listening on $edge_port"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# loadgen handshakes K CONC PORT -> prints "ok secs"
handshakes() {
    local out
    out=$(timeout 900 "$LOADGEN" handshakes --addr "127.0.0.1:$3" --ca "$tmp/ca.pem" \
        --handshakes "$1" --hs-concurrency "$2" --timeout-secs 30 --max-secs 800) || die "loadgen handshakes failed"
    local f
    f=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$out")
    [ "$f" = 0 ] || die "$f of $1 handshakes failed: $out"
    echo "$out"
}

declare -A R
# hs_batches PATH CERT EDGEPID PORT
hs_batches() {
    local p=$1 c=$2 pid=$3 port=$4 r t0 t1 v=()
    handshakes 20 4 "$port" >/dev/null
    for ((r = 0; r < HS_ROUNDS; r++)); do
        t0=$(cpu_ticks "$pid")
        handshakes "$HS" 8 "$port" >/dev/null
        t1=$(cpu_ticks "$pid")
        v+=("$(awk -v d=$((t1 - t0)) -v k="$CLK" -v n="$HS" 'BEGIN {printf "%.3f", d * 1000 / k / n}')")
    done
    R[$p,hs_$c]=$(printf '%s\n' "${v[@]}" | sort -g | sed -n 2p)
    R[$p,hs_${c}_spread]="$(printf '%s\n' "${v[@]}" | sort -g | head -1)-$(printf '%s\n' "${v[@]}" | sort -g | tail -1)"
}

# wait_line FILE PATTERN COUNT SECONDS: until FILE holds COUNT lines matching PATTERN
wait_line() {
    local i
    for ((i = 0; i < $4 * 10; i++)); do
        [ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] 2>/dev/null && return 0
        alive "$lg_pid" || { sleep 0.2; [ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] 2>/dev/null && return 0; return 1; }
        sleep 0.1
    done
    return 1
}

# run_path PATH
run_path() {
    local p=$1 port=$c2s_port epid cps=() k
    say "path $p: ejabberd start ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
    case $p in
    a) start_ejd tls ec ;;
    b) start_ejd tls ec our ;;
    *) start_ejd proxy ec; start_edge "$p" ec; port=$edge_port ;;
    esac
    epid=${edge_pid:-$beam_pid}
    say "path $p: beam $beam_pid, edge pid $epid, port $port"
    handshakes 50 4 "$port" >/dev/null
    # which fast_tls NIF the node loaded
    if [ "$p" = a ] && grep -q xmpp_accel_nif "/proc/$beam_pid/maps"; then die "path a loaded our NIF"; fi
    if [ "$p" = b ] && ! grep -q "$tmp/stage/xmpp_accel/priv/xmpp_accel_nif.so" "/proc/$beam_pid/maps"; then
        die "path b: our NIF is not loaded in the node"
    fi
    if [ "$p" = b ] && grep -q 'p1_tls.*fast_tls' "/proc/$beam_pid/maps"; then die "path b loaded Debian's fast_tls NIF"; fi
    sleep 2
    local e0 b0 lg_out="$tmp/lg-$p.out" go="$tmp/go-$p"
    sleep 3
    e0=$(rss_kb "$epid"); b0=$(rss_kb "$beam_pid")
    IFS=, read -r -a cps <<<"$CPS"
    timeout 1800 "$LOADGEN" sessions --addr "127.0.0.1:$port" --ca "$tmp/ca.pem" --sessions "$N" \
        --checkpoints "$CPS" --ramp 200 --go-file "$go" --wait-secs 300 --rate "$RATE" --msg-secs "$MSG_SECS" \
        --body-bytes "$BODY" --timeout-secs 60 --max-secs 1700 >"$lg_out" 2>"$tmp/lg-$p.err" &
    lg_pid=$!
    local n=0 line e1 b1 c=0 ok
    for k in "${cps[@]}" "$N"; do
        [ "$k" -lt "$N" ] || [ "$k" = "$N" ] || continue
        c=$((c + 1))
        wait_line "$lg_out" '^READY' "$c" 1500 || die "path $p: no READY $c from the loadgen ($(tail -n 3 "$tmp/lg-$p.err"))"
        sleep 1
        line=$(grep '^READY' "$lg_out" | sed -n "${c}p")
        ok=$(sed -n 's/.*n=\([0-9]*\).*/\1/p' <<<"$line")
        e1=$(rss_kb "$epid"); b1=$(rss_kb "$beam_pid")
        R[$p,n$c]=$ok
        R[$p,failed$c]=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$line")
        R[$p,secs$c]=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$line")
        R[$p,edge_kb$c]=$(awk -v a="$e0" -v b="$e1" -v n="$ok" 'BEGIN {printf "%.1f", (b - a) / n}')
        if [ "$epid" = "$beam_pid" ]; then
            R[$p,path_kb$c]=${R[$p,edge_kb$c]}
        else
            R[$p,path_kb$c]=$(awk -v a="$e0" -v b="$e1" -v c="$b0" -v d="$b1" -v n="$ok" 'BEGIN {printf "%.1f", (b - a + d - c) / n}')
        fi
        say "path $p: $line: edge RSS $e0 -> $e1 kB, beam $b0 -> $b1 kB"
        [ "$ok" -gt 0 ] || die "path $p: no session logged in ($(head -n 5 "$tmp/lg-$p.err"))"
        if [ "$k" = "$N" ]; then
            R[$p,et0]=$(cpu_ticks "$epid"); R[$p,bt0]=$(cpu_ticks "$beam_pid")
        fi
        touch "$go"
        [ "$k" = "$N" ] && break
    done
    R[$p,checkpoints]=$c
    wait_line "$lg_out" '^MSG' 1 $((MSG_SECS + 120)) || die "path $p: no MSG line ($(tail -n 3 "$tmp/lg-$p.err"))"
    local et1 bt1 m
    et1=$(cpu_ticks "$epid"); bt1=$(cpu_ticks "$beam_pid")
    m=$(grep '^MSG' "$lg_out")
    say "path $p: $m"
    local kv
    for kv in sent received rate p50_ms p99_ms max_ms bytes_out bytes_in; do
        R[$p,$kv]=$(sed -n "s/.* $kv=\([0-9.a-zNA]*\).*/\1/p" <<<" $m")
    done
    local mb
    mb=$(awk -v a="${R[$p,bytes_out]}" -v b="${R[$p,bytes_in]}" 'BEGIN {print (a + b) / 1e6}')
    R[$p,mb]=$(printf '%.1f' "$mb")
    R[$p,edge_ms_mb]=$(awk -v d=$((et1 - R[$p,et0])) -v k="$CLK" -v mb="$mb" 'BEGIN {printf "%.1f", d * 1000 / k / mb}')
    if [ "$epid" = "$beam_pid" ]; then
        R[$p,path_ms_mb]=${R[$p,edge_ms_mb]}
    else
        R[$p,path_ms_mb]=$(awk -v d=$((et1 - R[$p,et0] + bt1 - R[$p,bt0])) -v k="$CLK" -v mb="$mb" 'BEGIN {printf "%.1f", d * 1000 / k / mb}')
    fi
    wait_line "$lg_out" '^DONE' 1 60 || say "path $p: the loadgen did not say DONE"
    wait_gone "$lg_pid" 30 || { kill -TERM "$lg_pid" 2>/dev/null; wait_gone "$lg_pid" 5 || kill -KILL "$lg_pid" 2>/dev/null; }
    wait "$lg_pid" 2>/dev/null || true
    lg_pid=""
    sleep 2
    hs_batches "$p" ec "$epid" "$port"
    # RSA-2048: the same path with the other certificate
    case $p in
    a) ejd_stop; start_ejd tls rsa; epid=$beam_pid ;;
    b) ejd_stop; start_ejd tls rsa our; epid=$beam_pid ;;
    *) stop_edge; start_edge "$p" rsa; epid=$edge_pid ;;
    esac
    hs_batches "$p" rsa "$epid" "$port"
    say "path $p: hs ms ecdsa ${R[$p,hs_ec]} (${R[$p,hs_ec_spread]}) rsa ${R[$p,hs_rsa]} (${R[$p,hs_rsa_spread]})"
    stop_edge
    ejd_stop
    R[$p,done]=1
}

say "ejabberd $(dpkg-query -W -f='${Version}' ejabberd), fast_tls $(dpkg-query -W -f='${Version}' erlang-p1-tls), sessions $N (checkpoints $CPS), rate $RATE/s for ${MSG_SECS}s, $HS_ROUNDS x $HS handshakes, ulimit -n $(ulimit -n)"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average at start: $LOAD0 ($(nproc) cores)"
for p in "${PATHS[@]}"; do
    case $p in a | b | c | d | d_sys) ;; *) die "BENCH_PATHS: unknown path $p" ;; esac
    skipped "$p" && continue
    edge_missing "$p" && continue
    run_path "$p"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
desc() {
    case $1 in
    a) echo "ejabberd+fast_tls(Debian)" ;;
    b) echo "ejabberd+fast_tls(ours)" ;;
    c) echo "xmpp-proxy 1.0+ejabberd" ;;
    d) echo "sidecar(mimalloc)+ejabberd" ;;
    d_sys) echo "sidecar(system)+ejabberd" ;;
    esac
}
v() { echo "${R[$1]:-NA}"; }
echo
echo "load average: start $LOAD0, end $LOAD1 ($(nproc) cores); TLS 1.3, STARTTLS, SASL PLAIN; KB = 1024 bytes, MB = 10^6 bytes"
echo
echo "Idle sessions: RSS per connection (KB), (RSS after - RSS before) / sessions"
printf '%-6s %-28s %7s %7s %12s %12s %9s\n' path what sessions failed edge_kb/conn path_kb/conn login_s
for p in "${PATHS[@]}"; do
    [ "${R[$p,done]:-}" = 1 ] || { printf '%-6s %-28s %s\n' "$p" "$(desc "$p")" "not run"; continue; }
    for ((c = 1; c <= R[$p,checkpoints]; c++)); do
        printf '%-6s %-28s %7s %7s %12s %12s %9s\n' "$p" "$(desc "$p")" "$(v "$p,n$c")" "$(v "$p,failed$c")" \
            "$(v "$p,edge_kb$c")" "$(v "$p,path_kb$c")" "$(v "$p,secs$c")"
    done
done
echo
echo "Handshakes: edge CPU per full TLS 1.3 handshake (ms; median of $HS_ROUNDS batches of $HS, min-max), STARTTLS through <stream:features/>"
printf '%-6s %-28s %10s %14s %10s %14s\n' path what ecdsa_ms spread rsa_ms spread
for p in "${PATHS[@]}"; do
    [ "${R[$p,done]:-}" = 1 ] || continue
    printf '%-6s %-28s %10s %14s %10s %14s\n' "$p" "$(desc "$p")" "$(v "$p,hs_ec")" "$(v "$p,hs_ec_spread")" \
        "$(v "$p,hs_rsa")" "$(v "$p,hs_rsa_spread")"
done
echo
echo "Messages: $RATE/s in total for ${MSG_SECS}s among the sessions, ${BODY}-byte bodies; latency send -> receipt; MB = plaintext both ways; path = edge + beam"
printf '%-6s %-28s %7s %8s %8s %8s %8s %8s %7s %11s %11s\n' path what sent received msg/s p50_ms p99_ms max_ms MB edge_ms/MB path_ms/MB
for p in "${PATHS[@]}"; do
    [ "${R[$p,done]:-}" = 1 ] || continue
    printf '%-6s %-28s %7s %8s %8s %8s %8s %8s %7s %11s %11s\n' "$p" "$(desc "$p")" "$(v "$p,sent")" "$(v "$p,received")" \
        "$(v "$p,rate")" "$(v "$p,p50_ms")" "$(v "$p,p99_ms")" "$(v "$p,max_ms")" "$(v "$p,mb")" "$(v "$p,edge_ms_mb")" "$(v "$p,path_ms_mb")"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || a == "" || b == "" || b + 0 == 0) print "NA"; else printf "%.2f", a / b }'; }
diffv() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || a == "" || b == "") print "NA"; else printf "%.3f", a - b }'; }
last() { echo "${R[$1,checkpoints]:-0}"; }
if [ "${R[d,done]:-}" = 1 ] && [ "${R[d_sys,done]:-}" = 1 ]; then
    ld=$(last d); ls=$(last d_sys)
    echo "allocator: mimalloc / system: idle edge KB/conn $(ratio "${R[d,edge_kb$ld]}" "${R[d_sys,edge_kb$ls]}")," \
        "hs ecdsa $(ratio "${R[d,hs_ec]}" "${R[d_sys,hs_ec]}"), hs rsa $(ratio "${R[d,hs_rsa]}" "${R[d_sys,hs_rsa]}")," \
        "edge ms/MB $(ratio "${R[d,edge_ms_mb]}" "${R[d_sys,edge_ms_mb]}"), p99 $(ratio "${R[d,p99_ms]}" "${R[d_sys,p99_ms]}") (below 1.00: mimalloc better)"
fi
ld=$(last d); lc=$(last c); la=$(last a)
idle=NA; [ "${R[d,done]:-}" = 1 ] && idle=${R[d,edge_kb$ld]}
echo "summary: idle_kb_per_conn=$idle" \
    "idle_vs_xmpp_proxy=$(ratio "$idle" "$(v "c,edge_kb$lc")")" \
    "path_mem_vs_ejabberd_tls=$(ratio "$(v "d,path_kb$ld")" "$(v "a,path_kb$la")")" \
    "hs_cpu_vs_xmpp_proxy=$(ratio "$(v d,hs_ec)" "$(v c,hs_ec)")" \
    "fwd_cpu_per_mb_vs_xmpp_proxy=$(ratio "$(v d,edge_ms_mb)" "$(v c,edge_ms_mb)")" \
    "p99_added_ms=$(diffv "$(v d,p99_ms)" "$(v a,p99_ms)")"
