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
START_TIMEOUT=${EJABBERD_START_TIMEOUT:-60}
RUN_USER=ejabberd

say() { echo "ejabberd-e2e: $*"; }
die() { echo "ejabberd-e2e: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and runs ejabberd as user $RUN_USER)"

# shared with tests/ejabberd_fulltext.sh: packages, venv, ports, processes,
# the instance's ctl config, start and stop
. "$here/lib.sh"

# ejabberd pulls in erlang-base (erl, erlc), erlang-p1-xml, erlang-p1-tls
ensure_packages ejabberd python3-venv openssl iproute2
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

ejd_ctl_args

cleanup() {
    local rc=$?
    set +e
    trap - EXIT
    trap '' INT TERM  # a second signal must not cut the cleanup short
    [ "$rc" != 0 ] && ejd_log_tails
    if alive "$session_pid"; then
        kill -TERM "$session_pid" 2>/dev/null
        wait_gone "$session_pid" 5 || kill -KILL "$session_pid" 2>/dev/null
    fi
    ejd_stop
    ejd_kill_leftovers
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
ejd_make_cert
ejd_write_ctl_cfg "$cookie" "$dist_port" "$pa_opts"

ejd_write_config "$(ejd_c2s_listener "$c2s_port" "starttls_required: true")" \
"$EJD_BASE_MODULES
  mod_offline: {}
  mod_mam:
    db_type: mnesia
    default: always
    assume_mam_usage: true
$EJD_MUC_MODULE" \
"$EJD_C2S_PROTOCOL_OPTIONS
disable_sasl_mechanisms:
  - \"digest-md5\"
  - \"X-OAUTH2\""

cp "$here/ejabberd_probe.erl" "$tmp/probe/"
erlc -o "$tmp/probe" "$tmp/probe/ejabberd_probe.erl"
chown -R "$RUN_USER:$RUN_USER" "$tmp"
chmod 700 "$tmp"
chmod 600 "$tmp/cert/key.pem" "$tmp/cert/server.pem"

say "instance $tmp: node $node, c2s 127.0.0.1:$c2s_port (starttls_required), distribution 127.0.0.1:$dist_port (no epmd)"
[ -n "$extra_pa" ] && say "EJABBERD_EXTRA_PA -> erl$pa_opts (code path head: $extra_pa)"

ejd_start "$START_TIMEOUT"
say "ejabberd up in $((SECONDS - t0))s: beam pid $beam_pid (ejabberdctl pid $wrapper_pid)"

# Nothing of ours may listen beyond loopback.
ejd_check_loopback

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
