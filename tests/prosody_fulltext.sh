#!/usr/bin/env bash
# End to end: full-text MAM search on Debian's Prosody 0.12 through our module
# (prosody/mod_xmpp_accel_fulltext.lua) and the sidecar's index API ([index]).
# Prosody (SQLite storage, mod_mam) and the sidecar run on 127.0.0.1 in a
# throwaway dir and are stopped by pid; the scenario is tests/prosody/fulltext.py
# (slixmpp, from the shared venv):
#   1. seed 60 messages; every full-text query (four field names, with `with`,
#      time range, ids, after-id/before-id, RSM paging both ways, flip-page)
#      gives what a naive filter of the archive gives; bad queries get MAM's
#      error stanzas;
#   2. the sidecar stops, 20 more messages are archived (not indexed), the
#      sidecar and Prosody restart: the module catches up on load;
#   3. the index is removed, the sidecar starts on an empty one, and
#      `prosodyctl shell "xmpp_accel_fulltext:backfill('localhost')"` fills it;
#      `reindex('localhost', 'alice')` feeds alice's archive again (no
#      duplicates).
# Needs root (installs Debian packages on first use, runs Prosody as its user)
# and the sidecar built (cargo build --release -p xmpp-accel-sidecar; the
# Makefile does it). Ports from 16400-16599. KEEP_TMP=1 keeps the dir.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
here=$repo/tests/prosody
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}

say() { echo "prosody-fulltext: $*"; }
die() { echo "prosody-fulltext: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: cargo build --release -p xmpp-accel-sidecar"
. "$repo/tests/ejabberd/lib.sh"
. "$repo/tests/prosody/lib.sh"
ensure_packages prosody lua-dbi-sqlite3 python3-venv iproute2 curl
ensure_venv
say "prosody $(dpkg-query -W -f='${Version}' prosody), slixmpp $SLIXMPP_VERSION"

tmp=$(mktemp -d /tmp/xmpp-accel-prosody-fulltext.XXXXXX)
chmod 755 "$tmp"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
token="token-$cookie"
prosody_pid="" sidecar_pid=""

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" != 0 ]; then
        for f in sidecar.log prosody.log; do
            [ -s "$tmp/logs/$f" ] && { echo "---- tail of $f ----" >&2; tail -n 40 "$tmp/logs/$f" >&2; }
        done
    fi
    stop_pids "$prosody_pid"
    stop_pids "$sidecar_pid"
    # a Prosody of this run that we lost track of (its own pid file)
    p=$(cat "$tmp/prosody/prosody.pid" 2>/dev/null || true)
    if [ -n "$p" ] && alive "$p" && grep -qF "$tmp/prosody/" "/proc/$p/cmdline" 2>/dev/null; then
        stop_pids "$p"
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/logs" "$tmp/prosody/data" "$tmp/index"

# ---------------------------------------------------------------- sidecar
index_port=$(free_port 16450 16499) || die "no free port"
metrics_port=$(free_port 16500 16549) || die "no free port"
cat >"$tmp/sidecar.toml" <<EOT
[metrics]
address = "127.0.0.1:$metrics_port"

[index]
address = "127.0.0.1:$index_port"
directory = "$tmp/index/db"
token = "$token"
commit_interval_ms = 100
EOT
"$SIDECAR" --config "$tmp/sidecar.toml" --check-config >/dev/null || die "sidecar config refused"

start_sidecar() {
    "$SIDECAR" --config "$tmp/sidecar.toml" >>"$tmp/logs/sidecar.log" 2>&1 &
    sidecar_pid=$!
    for ((i = 0; i < 100; i++)); do
        ss -Hltnp "sport = :$index_port" | grep -q "pid=$sidecar_pid," && return 0
        alive "$sidecar_pid" || die "the sidecar exited"
        sleep 0.1
    done
    die "the index API is not listening on $index_port"
}

# ---------------------------------------------------------------- Prosody
prosody_port=$(free_port 16400 16449) || die "no free port"
{
    prosody_config_head "$prosody_port"
    cat <<EOT
plugin_paths = { "$repo/prosody" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }
archive_expires_after = "never"
max_archive_query_results = 50
modules_enabled = { "roster", "saslauth", "disco", "ping", "posix", "mam", "admin_shell" }
modules_disabled = { "tls", "s2s" }
xmpp_accel_fulltext_url = "http://127.0.0.1:$index_port"
xmpp_accel_fulltext_token = "$token"
VirtualHost "localhost"
modules_enabled = { "xmpp_accel_fulltext" }
EOT
} >"$tmp/prosody/prosody.cfg.lua"
prosody_register "$cookie" alice bob carol

start_prosody() { prosody_start "$prosody_port"; }

scenario() { # phase args...
    XMPP_PORT=$prosody_port XMPP_PASS_A="pw-alice-$cookie" XMPP_PASS_B="pw-bob-$cookie" \
        XMPP_PASS_C="pw-carol-$cookie" "$VENV/bin/python" "$here/fulltext.py" "$@" | tee -a "$tmp/scenario.out"
    [ "${PIPESTATUS[0]}" = 0 ] || die "phase $1 failed"
}

start_sidecar
say "sidecar: pid $sidecar_pid, index API 127.0.0.1:$index_port"
# the API itself: token and bad requests (the sidecar's unit tests have the rest)
api() { # expected_status method path [body] [token]
    local got
    got=$(curl -s -o "$tmp/api.out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer ${5-$token}" \
        -H 'Content-Type: application/json' --data-binary "${4-}" "http://127.0.0.1:$index_port$3") || true
    [ "$got" = "$1" ] || die "$2 $3: status $got, expected $1: $(cat "$tmp/api.out")"
    say "index API: $2 $3 -> $got $(head -c 120 "$tmp/api.out")"
}
api 401 POST /v1/search '{"archive_id": 1}' "wrong-token-wrong-token"
api 400 POST /v1/search '{"archive_id": "one"}'
api 400 POST /v1/index '{"messages": [{"archive_id": 1}]}'
api 404 POST /v1/nothing ''
api 200 GET "/v1/last_indexed_id?archive_id=1"
start_prosody
say "Prosody: pid $prosody_pid, c2s 127.0.0.1:$prosody_port, module from $repo/prosody"
if ss -Hltunp | grep -E "pid=($prosody_pid|$sidecar_pid)," | awk '{print $5}' | grep -vq '^127\.0\.0\.1:'; then
    die "something listens beyond 127.0.0.1"
fi

# ---------------------------------------------------------------- 1. live
scenario seed one 60
scenario wait one 60
XMPP_EXPECT_COUNT=60 scenario check
scenario errors

# ---------------------------------------------------------------- 2. catch-up
say "stopping the sidecar (pid $sidecar_pid); 20 messages archived meanwhile"
stop_pids "$sidecar_pid"
scenario seed two 20
grep -q "could not index" "$tmp/logs/prosody.log" || die "the module did not notice the sidecar was down"
start_sidecar
say "restarting Prosody (pid $prosody_pid): it catches up on load"
stop_pids "$prosody_pid"
start_prosody
scenario wait two 20
XMPP_EXPECT_COUNT=80 scenario check

# ---------------------------------------------------------------- 3. back-fill
say "the index removed; the sidecar starts on an empty one"
stop_pids "$sidecar_pid"
rm -rf "$tmp/index/db"
start_sidecar
out=$(cd "$tmp/prosody" && as_prosody timeout 120 prosodyctl --config "$tmp/prosody/prosody.cfg.lua" \
    shell "xmpp_accel_fulltext:backfill('localhost')" 2>&1) || die "prosodyctl shell backfill: $out"
result=$(echo "$out" | grep -E '^(Result|OK|Error):' || true)
echo "$result" | grep -q "message(s) of 3 user(s)" || die "back-fill said: $out"
say "back-fill: $result"
scenario wait two 20
XMPP_EXPECT_COUNT=80 scenario check
out=$(cd "$tmp/prosody" && as_prosody timeout 120 prosodyctl --config "$tmp/prosody/prosody.cfg.lua" \
    shell "xmpp_accel_fulltext:reindex('localhost', 'alice')" 2>&1) || die "prosodyctl shell reindex: $out"
result=$(echo "$out" | grep -E '^(Result|OK|Error):' || true)
echo "$result" | grep -q "80 message(s) of 1 user(s)" || die "reindex of alice said: $out"
say "reindex of alice: $result"
XMPP_EXPECT_COUNT=80 scenario check

passed=$(grep -c '^ok: ' "$tmp/scenario.out" || true)
failed=$(grep -c '^FAILED: ' "$tmp/scenario.out" || true)
say "summary: passed=$passed failed=$failed"
[ "$failed" = 0 ] || die "$failed step(s) failed"
say "all passed"
