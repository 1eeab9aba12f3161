#!/usr/bin/env bash
# The main job (make run): the whole product on real input, in a throwaway
# setup on 127.0.0.1.
#   ejabberd (Debian's 23.01) on our drop-ins: fast_xml, fast_tls and
#     xmpp_accel at the head of the node's code path (as
#     tests/ejabberd_dropin.sh does it); a plaintext c2s listener with
#     use_proxy_protocol (behind the edge), its own STARTTLS c2s listener
#     (TLS by our fast_tls), an ejabberd_service port for the component and
#     mod_privilege (XEP-0356 presence);
#   one sidecar process, one TOML: the edge (c2s STARTTLS and direct TLS ->
#     ejabberd's PROXY listener, PROXY v2) and the MUC Light component
#     (embedded SQLite storage and full-text index);
#   tools/run_demo.py: clients log in through the edge (and one directly),
#     a MUC Light room talks with the message bodies of the XEP examples
#     (../shared/corpus/xep-stanzas.jsonl, else built-in lines), full-text
#     search over the room archive; it prints what happened and a selection
#     of the sidecar's /metrics.
# Ports 16800-16999; everything it starts is stopped by pid on exit, and the
# dir removed (KEEP_TMP=1 keeps it). Needs root (installs what is missing,
# runs ejabberd as user ejabberd), `make build` and `make sidecar` done (the
# Makefile does both). Bounded: RUN_TIMEOUT seconds for the clients.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-90}
RUN_TIMEOUT=${RUN_TIMEOUT:-240}
RUN_USER=ejabberd
SIDECAR=${SIDECAR_BIN:-$repo/target/release/xmpp-accel-sidecar}
lib=$repo/erlang/_build/default/lib
t0=$SECONDS

say() { echo "run: $*"; }
die() { echo "run: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs ejabberd and runs it as user $RUN_USER); make run-replay needs no root"
[ -x "$SIDECAR" ] || die "$SIDECAR missing: make sidecar"
for app in xmpp_accel fast_xml fast_tls; do
    [ -d "$lib/$app/ebin" ] || die "$lib/$app missing: make build"
done
. "$repo/tests/ejabberd/lib.sh"
ensure_packages ejabberd python3-venv openssl iproute2 procps curl
ensure_packaged_service_stopped
ensure_venv

tmp=$(mktemp -d /tmp/xmpp-accel-run.XXXXXX)
node="xmppaccel-run-$$-$RANDOM@localhost"
cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
secret=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
wrapper_pid="" beam_pid="" sidecar_pid="" py_pid=""
ejd_ctl_args

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" != 0 ]; then
        ejd_log_tails
        [ -s "$tmp/logs/sidecar.log" ] && { echo "---- tail of sidecar.log ----" >&2; tail -n 30 "$tmp/logs/sidecar.log" >&2; }
    fi
    stop_pids -t 10 "$py_pid" "$sidecar_pid"
    ejd_stop
    ejd_kill_leftovers
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/spool" "$tmp/logs" "$tmp/component" "$tmp/certs/localhost" "$tmp/probe"

# ---------------------------------------------------------------- drop-ins
# Our applications, staged where the ejabberd user can read them.
for app in xmpp_accel fast_xml fast_tls; do
    mkdir -p "$tmp/lib/$app"
    cp -rL "$lib/$app/ebin" "$tmp/lib/$app/"
    if [ -d "$lib/$app/priv" ]; then cp -rL "$lib/$app/priv" "$tmp/lib/$app/"; fi
done
chmod -R a+rX "$tmp/lib"
# erl -pa: the last one given ends up first; fast_xml heads the path.
pa_opts=" -pa $tmp/lib/xmpp_accel/ebin -pa $tmp/lib/fast_tls/ebin -pa $tmp/lib/fast_xml/ebin"

# One self-signed certificate for "localhost": ejabberd's (server.pem) and
# the edge's (Let's Encrypt layout); the clients trust exactly it.
ejd_make_cert
cp "$tmp/cert/cert.pem" "$tmp/certs/localhost/fullchain.pem"
cp "$tmp/cert/key.pem" "$tmp/certs/localhost/privkey.pem"
chmod 600 "$tmp/certs/localhost/privkey.pem"

# ---------------------------------------------------------------- ejabberd
proxy_port=$(free_port 16800 16819) || die "no free port in 16800-16819"
tls_port=$(free_port 16820 16839) || die "no free port in 16820-16839"
dist_port=$(free_port 16840 16859) || die "no free port in 16840-16859"
comp_port=$(free_port 16860 16879) || die "no free port in 16860-16879"
edge_port=$(free_port 16880 16899) || die "no free port in 16880-16899"
edge_tls_port=$(free_port 16900 16919) || die "no free port in 16900-16919"
metrics_port=$(free_port 16920 16939) || die "no free port in 16920-16939"
c2s_port=$proxy_port # what ejd_start waits for
ejd_write_ctl_cfg "$cookie" "$dist_port" "$pa_opts"
EJD_LOGLEVEL=warning ejd_write_config \
    "$(ejd_c2s_listener "$proxy_port" "use_proxy_protocol: true")
$(ejd_c2s_listener "$tls_port" "starttls_required: true")
$(ejd_service_listener "$comp_port" muclight.localhost "$secret")" \
    "$EJD_BASE_MODULES
$EJD_PRIVILEGE_MODULE" \
    "$EJD_C2S_PROTOCOL_OPTIONS"
chown -R "$RUN_USER:$RUN_USER" "$tmp/etc" "$tmp/spool" "$tmp/logs" "$tmp/cert" "$tmp/run" "$tmp/contrib"
chmod 711 "$tmp"
chmod 600 "$tmp/cert/key.pem" "$tmp/cert/server.pem"
ejd_start "$START_TIMEOUT"
ejd_check_loopback >/dev/null
users=(juliet romeo nurse mercutio)
for u in "${users[@]}"; do ctl register "$u" localhost "pw-$u-$cookie" >/dev/null || die "register $u"; done
printf '#!/bin/sh\nexec timeout 60 ejabberdctl %s "$@"\n' "$(printf '%q ' "${ctl_args[@]}")" >"$tmp/ejdctl"
chmod +x "$tmp/ejdctl"

# Which fast_xml / fast_tls / NIF the node runs: asked over distribution.
probe() { # what: which | loaded
    EJD_NODE="$node" STAGE="$tmp/lib/" timeout 60 erl -sname "probe-$$-$RANDOM@localhost" -setcookie "$cookie" \
        -hidden -noshell -noinput -start_epmd false -erl_epmd_port "$dist_port" -dist_listen false \
        -pa "$tmp/probe" -run run_demo_probe main "$1"
}
cat >"$tmp/probe/run_demo_probe.erl" <<'EOF'
-module(run_demo_probe).
-export([main/1]).
main([What]) ->
    N = list_to_atom(os:getenv("EJD_NODE")),
    Stage = os:getenv("STAGE"),
    pong = net_adm:ping(N),
    Where = fun(M) ->
                    F = case What of
                            "which" -> rpc:call(N, code, which, [M]);
                            "loaded" -> case rpc:call(N, code, is_loaded, [M]) of
                                            {file, F0} -> F0;
                                            false -> "not loaded"
                                        end
                        end,
                    case is_list(F) andalso lists:prefix(Stage, F) of
                        true -> {ok, filename:dirname(filename:dirname(lists:nthtail(length(Stage), F)))};
                        false -> {bad, M, F}
                    end
            end,
    Mods = [fxml_stream, fast_tls, xmpp_accel_nif],
    Rs = [Where(M) || M <- Mods],
    {ok, Vsn} = rpc:call(N, application, get_key, [ejabberd, vsn]),
    case [R || {bad, _, _} = R <- Rs] of
        [] -> io:format("~s~n", [Vsn]), halt(0);
        Bad -> [io:format("~s: ~s~n", [M, F]) || {bad, M, F} <- Bad], halt(1)
    end.
EOF
erlc -o "$tmp/probe" "$tmp/probe/run_demo_probe.erl"
ejd_vsn=$(probe which) || die "the node does not run our modules: $ejd_vsn"
say "ejabberd $ejd_vsn (Debian's) on our fast_xml, fast_tls and xmpp_accel NIF (code path head: $tmp/lib), up in $((SECONDS - t0)) s"
say "  c2s 127.0.0.1:$proxy_port (PROXY protocol, no TLS: behind the edge), c2s 127.0.0.1:$tls_port (STARTTLS by our fast_tls), component port 127.0.0.1:$comp_port"

# ---------------------------------------------------------------- sidecar
cat >"$tmp/sidecar.toml" <<EOF
[metrics]
address = "127.0.0.1:$metrics_port"

[tls]
cert_dir = "$tmp/certs"
default_domain = "localhost"

[shutdown]
drain_timeout_secs = 2

[[listener]]
name = "edge_starttls"
kind = "c2s"
address = "127.0.0.1:$edge_port"
tls = "starttls"
backend = "127.0.0.1:$proxy_port"
proxy_out = "v2"

[[listener]]
name = "edge_direct_tls"
kind = "c2s"
address = "127.0.0.1:$edge_tls_port"
tls = "direct"
backend = "127.0.0.1:$proxy_port"
proxy_out = "v2"

[component]
server = "127.0.0.1:$comp_port"
domain = "muclight.localhost"
secret = "$secret"
storage = "$tmp/component/rooms.sqlite3"
index = "$tmp/component/index"

[component.muclight]
max_occupants = 50
EOF
"$SIDECAR" --config "$tmp/sidecar.toml" --check-config >/dev/null || die "--check-config refused $tmp/sidecar.toml"
NO_COLOR=1 "$SIDECAR" --config "$tmp/sidecar.toml" >>"$tmp/logs/sidecar.log" 2>&1 &
sidecar_pid=$!
for ((i = 0; i < 200; i++)); do
    curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | grep -q '^component_connected 1' && break
    alive "$sidecar_pid" || die "the sidecar exited"
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | grep -q '^component_connected 1' ||
    die "the component did not connect in 20 s"
say "sidecar pid $sidecar_pid, one config ($tmp/sidecar.toml):"
say "  edge c2s STARTTLS 127.0.0.1:$edge_port and direct TLS 127.0.0.1:$edge_tls_port -> ejabberd 127.0.0.1:$proxy_port (PROXY v2)"
say "  component muclight.localhost -> ejabberd 127.0.0.1:$comp_port (MUC Light, SQLite storage, full-text index)"

# ---------------------------------------------------------------- clients
rc=0
XMPP_DOMAIN=localhost XMPP_MUCLIGHT=muclight.localhost XMPP_CAFILE="$tmp/cert/cert.pem" \
EDGE_STARTTLS="127.0.0.1:$edge_port" EDGE_DIRECT_TLS="127.0.0.1:$edge_tls_port" \
EJD_STARTTLS="127.0.0.1:$tls_port" METRICS="127.0.0.1:$metrics_port" EJD_CTL="$tmp/ejdctl" \
PASSWORDS="$(for u in "${users[@]}"; do printf '%s=pw-%s-%s ' "$u" "$u" "$cookie"; done)" \
XEP_CORPUS="${XEP_CORPUS:-$repo/../shared/corpus/xep-stanzas.jsonl}" \
    timeout "$RUN_TIMEOUT" "$VENV/bin/python" "$repo/tools/run_demo.py" &
py_pid=$!
wait "$py_pid" || rc=$?
py_pid=""
[ "$rc" = 0 ] || die "the scenario failed (exit $rc)"
probe loaded >/dev/null || die "after the run, the node had not loaded our modules"

# ---------------------------------------------------------------- stop
kill -TERM "$sidecar_pid"
src=0
wait_gone "$sidecar_pid" 15 || die "the sidecar did not stop on SIGTERM in 15 s"
wait "$sidecar_pid" || src=$?
sidecar_pid=""
[ "$src" = 0 ] || die "the sidecar exited $src on SIGTERM"
ejd_stop
say "stopped: sidecar (SIGTERM, exit 0), ejabberd; $((SECONDS - t0)) s in all"
